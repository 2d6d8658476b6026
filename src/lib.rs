#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// Lets the macros' `::taskgraph::...` paths resolve inside this crate's own tests.
extern crate self as taskgraph;

pub use taskgraph_macros::{delayed, graph};
pub use taskgraph_runtime::{Error, Graph, Runtime, RuntimeBuilder, TaskInfo};

#[doc(hidden)]
pub mod __private {
    pub use taskgraph_runtime::__private::*;
}
