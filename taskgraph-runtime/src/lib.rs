//! The runtime of [taskgraph](https://docs.rs/taskgraph): a fixed thread pool
//! that runs the task graphs `graph!` compiles.
//!
//! Use it through the `taskgraph` crate. Everything under `__private` is for
//! the code the macros generate and may change without notice.
#![deny(missing_docs)]

mod error;
mod exec;
mod family;
mod fused;
mod graph;
mod pool;
mod reduce;
mod slot;
mod sync;

pub use error::{Error, TaskInfo};
pub use graph::Graph;
pub use pool::{Runtime, RuntimeBuilder};

/// Items the generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::exec::{Cx, Edges};
    pub use crate::family::{ErasedFamily, Family, FamilyInfo, LoopIndex, Scope};
    pub use crate::fused::{Fused, FusedRange, FusedStep};
    pub use crate::graph::{placeholder, GraphFn, Outputs};
    pub use crate::reduce::tree_reduce;
    pub use crate::slot::{
        delayed, task_output, task_param, task_ref_param, Borrow, Borrowed, ByRef, ByValue,
        Delayed, Gathered, Input, InputSet, Lazy, Lent, NotDelayed, Owned, SharedInput, TaskId,
        TaskOutput, TaskParam, TaskRefParam, Unreachable,
    };
    pub use core::result::Result::{Err, Ok};

    /// The error of a fused `tree_reduce` over an empty range.
    #[cold]
    pub fn empty_reduce(info: &'static FamilyInfo) -> crate::Error {
        crate::Error::EmptyReduce { at: info.task(&[]) }
    }

    /// The `match` over families reached a number no family has.
    #[cold]
    pub fn unknown_family() -> ! {
        panic!("taskgraph internal error: unknown family")
    }
}
