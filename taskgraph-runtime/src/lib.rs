//! The runtime of [taskgraph](https://docs.rs/taskdag): a fixed thread pool
//! that runs the task graphs `graph!` compiles.
//!
//! Use it through the `taskdag` crate. Everything under `__private` is for
//! the code the macros generate and may change without notice.
#![deny(missing_docs)]

#[cfg(feature = "dashboard")]
mod dashboard;
mod error;
mod exec;
mod family;
mod graph;
mod kept;
mod loops;
pub mod observe;
mod outputs;
pub mod part;
mod pass;
mod plan;
pub mod progress;
mod range;
mod reduce;
mod report;
#[cfg(feature = "cache")]
mod results;
mod runtime;
mod scope;
mod site;
mod source;
mod spawn;
pub mod stream;
mod sync;
pub mod trace;
mod tree;
mod value;
pub mod view;

/// The persistent result cache (the `cache` feature): see
/// [`RuntimeBuilder::cache`] and the guide, `taskdag::guide::caching`.
#[cfg(feature = "cache")]
pub mod cache {
    pub use taskgraph_cache::{Cache, Fingerprint, Key, KeyHasher, Stats, DEFAULT_LIMIT};
}

pub use error::Error;
pub use exec::progress::{FamilyProgress, Progress};
pub use exec::task::{blocking, cancelled};
pub use runtime::Graph;
pub use runtime::{Runtime, RuntimeBuilder};
pub use site::FamilyInfo;
pub use site::{LoopVar, TaskInfo};
pub use spawn::{Computing, Handle};

/// Items the generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::error::Error;
    pub use crate::exec::cache::Cache;
    pub use crate::exec::task::{lift, Stopped, Tally, TaskError, TaskErrorType};
    /// What a `#[delayed(cache)]` function's body calls.
    pub mod results {
        #[cfg(feature = "cache")]
        pub use crate::results::*;

        /// Implemented only when the runtime has its `cache` feature.
        #[diagnostic::on_unimplemented(
            message = "`#[delayed(cache)]` needs the `cache` feature of `taskdag`",
            label = "the result cache is not compiled in",
            note = "turn it on in Cargo.toml: `taskdag = {{ version = \"0.1\", features = [\"cache\"] }}`"
        )]
        pub trait CacheFeature {}
        #[cfg(feature = "cache")]
        impl CacheFeature for () {}

        /// Compiles only where the runtime has its `cache` feature.
        pub const fn enabled<T: CacheFeature>() {}

        // Without the feature: the same names, so that the one error is
        // the one above.
        #[cfg(not(feature = "cache"))]
        pub use self::off::*;
        #[cfg(not(feature = "cache"))]
        mod off {
            /// No key: there is no cache.
            pub enum CallKey {}
            /// Never called.
            pub fn arg<T: ?Sized>(k: &mut CallKey, _: &T) {
                match *k {}
            }
            /// No cache: `None`.
            pub fn begin(_: &'static str) -> Option<CallKey> {
                None
            }
            /// Runs `f`.
            pub fn finish<T>(_: Option<CallKey>, f: impl FnOnce() -> T) -> T {
                f()
            }
            /// Runs `f`.
            pub fn finish_result<T, E>(
                _: Option<CallKey>,
                f: impl FnOnce() -> Result<T, E>,
            ) -> Result<T, E> {
                f()
            }
        }
    }
    pub use crate::exec::future::Header as AsyncHeader;
    pub use crate::exec::{Block, Cx, ErasedFamily, Kind, Ran, RunList};
    pub use crate::family::{
        AsyncBody, AsyncBound, AsyncPlain, AsyncTask, AsyncTry, Body, BodyFn, Bound, Family,
        Finish, Infallible, Keep, Lift, Plain, StandIn, SyncTask, Then, Try,
    };
    pub use crate::graph::{
        captures, codec_probe, placeholder, Captures, CodecProbe, GraphFn, NoCodec,
    };
    pub use crate::loops::{
        Chain, Each, Elements, FnLeaf, Grid, Leaf, Loop, LoopKind, Prev, Reduce, Steps, VecLeaf,
        Wave,
    };
    pub use crate::outputs::{
        again, Again, CloneTag, MoveTag, OutputByClone, OutputByMove, Outputs, PlainOutput,
        RepeatedOutput, TakeAgain,
    };
    pub use crate::part::{typed, Witness};
    pub use crate::pass::{
        delayed, expect_borrow, reduce_function, take, task_output, task_param, task_ref_param,
        Borrow, Borrowed, BorrowsArgument, ByRef, BySlice, ByValue, Delayed, Fallible, Gathered,
        Held, HeldSlice, Hold, Input, InputSet, LendSlice, LendSliceShared, Lending, Lent,
        NotDelayed, Owned, ReduceFunction, SharedBorrow, SharedInput, Stores, TakeShared,
        TaskOutput, TaskParam, TaskRefParam, Unreachable,
    };
    pub use crate::range::{FusedRange, FusedStep, Product};
    pub use crate::reduce::{
        nonempty as nonempty_reduce, tree_reduce, tree_reduce_nodes, WhileTree,
    };
    pub use crate::scope::{body, boxed, GraphBody, Halt, Scope, Within};
    pub use crate::site::LoopVar;
    pub use crate::site::{FamilyInfo, LoopIndex};
    pub use crate::site::{Fused, Link, LoopSite, Site, Template};
    pub use crate::source::{
        vector_source, BorrowedValues, Checked, Feed, IntoLazy, OwnedValues, Source, VectorSource,
    };
    pub use crate::spawn::{HandleRead, PlainRead, PlainReadOk, SpawnedOutput};
    pub use crate::value::ValueOf;
    pub use crate::value::{row, row_mut, Lazy, LazyVec, NodeId, Piece};

    /// Stands in for a part of a graph that has a compile error (reported
    /// by `graph!`), so that rustc checks the rest; never called.
    pub fn mistaken<T>() -> T {
        unreachable!("a `graph!` with compile errors cannot run")
    }

    /// The version of `taskgraph-macros` that generated a piece of code, as
    /// the macros write it: `check_version::<MacrosVersion<0, 1, 0>>()`.
    pub struct MacrosVersion<const MAJOR: u64, const MINOR: u64, const PATCH: u64>;

    /// Implemented only for this runtime's own version: generated code
    /// calls [`check_version`] with its macros' version, so that macros and
    /// a runtime of different versions (whose private interface may differ)
    /// fail to compile with this message rather than with an obscure one.
    #[diagnostic::on_unimplemented(
        message = "`taskgraph-macros` and `taskgraph-runtime` are not of the same version: this code was generated by `taskgraph-macros` {Self}",
        label = "generated by a `taskgraph-macros` of another version than `taskgraph-runtime`",
        note = "depend on `taskdag` alone, which pins both crates to its own version, or give `taskgraph-macros` and `taskgraph-runtime` the same version"
    )]
    pub trait SameVersion {}

    impl SameVersion for MacrosVersion<{ version::MAJOR }, { version::MINOR }, { version::PATCH }> {}

    /// Compiles only when the macros that generated the call are of this
    /// runtime's version (see [`SameVersion`]).
    pub const fn check_version<V: SameVersion>() {}

    mod version {
        pub(super) const MAJOR: u64 = number(env!("CARGO_PKG_VERSION_MAJOR"));
        pub(super) const MINOR: u64 = number(env!("CARGO_PKG_VERSION_MINOR"));
        pub(super) const PATCH: u64 = number(env!("CARGO_PKG_VERSION_PATCH"));

        const fn number(s: &str) -> u64 {
            let (b, mut i, mut n) = (s.as_bytes(), 0, 0);
            while i < b.len() {
                n = n * 10 + (b[i] - b'0') as u64;
                i += 1;
            }
            n
        }
    }
}
