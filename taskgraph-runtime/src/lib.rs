//! The runtime of [taskgraph](https://docs.rs/taskgraph): a fixed thread pool
//! that runs the task graphs `graph!` compiles.
//!
//! Use it through the `taskgraph` crate. Everything under `__private` is for
//! the code the macros generate and may change without notice.
#![deny(missing_docs)]

mod cache;
#[cfg(feature = "dashboard")]
mod dashboard;
mod error;
mod exec;
mod family;
mod graph;
mod loops;
pub mod observe;
pub mod part;
pub mod progress;
mod range;
mod report;
mod runtime;
mod scope;
mod source;
mod spawn;
pub mod stream;
mod sync;
mod tree;
mod value;
pub mod view;

pub use error::{Error, TaskInfo};
pub use exec::progress::{FamilyProgress, Progress};
pub use exec::task::cancelled;
pub use family::FamilyInfo;
pub use graph::Graph;
pub use runtime::{Runtime, RuntimeBuilder};
pub use spawn::Handle;
pub use view::View;

/// Items the generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::cache::Cache;
    pub use crate::error::Error;
    pub use crate::exec::task::{fail, Tally};
    pub use crate::exec::{Block, Cx, ErasedFamily, Kind, Ran, RunList};
    pub use crate::family::{Bound, Family, FamilyInfo, LoopIndex};
    pub use crate::graph::{placeholder, GraphFn, Outputs};
    pub use crate::loops::{Chain, Each, Elements, FnLeaf, Leaf, Loop, LoopKind, Reduce, VecLeaf};
    pub use crate::part::{typed, Parts, ValueOf, Witness};
    pub use crate::range::{FusedRange, FusedStep, Product};
    pub use crate::scope::Scope;
    pub use crate::source::{
        BorrowedValues, Feed, IntoLazy, IntoLazyVec, OwnedValues, Source, SpawnedOutput,
    };
    pub use crate::tree::{tree_reduce, tree_reduce_nodes};
    pub use crate::value::pass::{
        delayed, expect_borrow, take, task_output, task_param, task_ref_param, Borrow, Borrowed,
        BorrowsArgument, ByRef, ByValue, Delayed, Fallible, Gathered, Input, InputSet, Lent,
        NotDelayed, Owned, SharedBorrow, SharedInput, TaskOutput, TaskParam, TaskRefParam,
        Unreachable,
    };
    pub use crate::value::{Lazy, LazyVec, NodeId, Piece};
    pub use crate::view::template::{Fused, Link, LoopSite, Site, Template};
    pub use core::result::Result::{Err, Ok};

    /// Stands in for a part of a graph that has a compile error (reported
    /// by `graph!`), so that rustc checks the rest; never called.
    pub fn mistaken<T>() -> T {
        unreachable!("a `graph!` with compile errors cannot run")
    }

    /// The error of a fused `tree_reduce` over an empty range.
    #[cold]
    pub fn empty_reduce(info: &'static FamilyInfo, at: &[u32]) -> crate::Error {
        crate::Error::EmptyReduce { at: info.task(at) }
    }
}
