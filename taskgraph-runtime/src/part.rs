//! Running a part of a graph: what a cluster needs of the runtime.
//!
//! A graph sent to a cluster is cut into blocks of nodes; each block runs in
//! some process that instantiates the same graph from the same plain
//! inputs. A *part run* is an ordinary run of the one scheduler
//! (`exec/`), restricted by a [`Plan`]:
//!
//! - only the nodes of [`Plan::run`] run (the others' dependency counters
//!   start out of reach, so they never become ready);
//! - the values of [`Plan::inject`] were made elsewhere: they are decoded
//!   into their producers' cells before any task starts, as if produced,
//!   with as many uses as the part has consumers of them;
//! - the values of [`Plan::collect`] go elsewhere: each is encoded the
//!   moment it is produced, before any consumer can take it;
//! - the graph's output is taken only if [`Plan::take_outputs`] says so.
//!
//! Every edge is counted in a part run (none is implied by another, since
//! the producer of the other may be elsewhere), and whatever a part leaves
//! alive is dropped when it ends. Loops run node by node.
//!
//! One instance can run several parts: after a part that took no output,
//! [`Part::next`] says whether another plan follows on the same instance
//! (the graph's plain code ran once, its nodes were recorded once), so a
//! process running many blocks of one graph builds it once, not per block.
//! What a part costs beyond its own nodes is then the per-run set-up
//! (counters, cells and their teardown, a pass over every node) rather
//! than building the graph.
//!
//! The runtime knows no encoding: a [`Codec`] made from the graph's value
//! types (the `V` of the `GraphFn` that `graph!` writes) turns cells into
//! bytes and back; a graph hands it over through the hidden methods of
//! [`Graph`](crate::Graph). `taskgraph-cluster` implements both sides with
//! serde.

use std::marker::PhantomData;

use crate::error::Error;
pub use crate::exec::part::{Codec, NodeRange};
pub use crate::plan::{Part, Plan};
use crate::scope::Halt;
use crate::site::TaskInfo;
pub use crate::value::NodeId;
use crate::value::ValueOf;
pub use crate::view::instance::Instance;

/// The family table of a `graph!`: tuples of up to 11 references to its
/// families and the rest of the table (another such tuple, or `()`).
#[doc(hidden)]
pub trait Witness {
    /// The value types, as nested pairs ending in `()`.
    type Values;
}

impl Witness for () {
    type Values = ();
}

/// `(&f0, .., &fk, rest)`, for k < 11: the same as `(&f0, (.., (&fk, rest)))`.
macro_rules! witness {
    ($($h:ident)+) => {
        impl<$($h: ValueOf,)+ R: Witness> Witness for ($(&$h,)+ R) {
            type Values = witness!(@values R; $($h)+);
        }
    };
    (@values $r:ident; $h:ident $($t:ident)*) => {
        ($h::Value, witness!(@values $r; $($t)*))
    };
    (@values $r:ident;) => {
        $r::Values
    };
}

witness!(H0);
witness!(H0 H1);
witness!(H0 H1 H2);
witness!(H0 H1 H2 H3);
witness!(H0 H1 H2 H3 H4);
witness!(H0 H1 H2 H3 H4 H5);
witness!(H0 H1 H2 H3 H4 H5 H6);
witness!(H0 H1 H2 H3 H4 H5 H6 H7);
witness!(H0 H1 H2 H3 H4 H5 H6 H7 H8);
witness!(H0 H1 H2 H3 H4 H5 H6 H7 H8 H9);
witness!(H0 H1 H2 H3 H4 H5 H6 H7 H8 H9 H10);

/// A graph's output together with its families' value types, as the
/// closure of a `graph!` returns it.
#[doc(hidden)]
pub struct Typed<O, V>(pub(crate) O, PhantomData<fn() -> V>);

/// Attaches the value types of the family table `families` to a graph's
/// result (generated code).
#[doc(hidden)]
#[inline(always)]
pub fn typed<O, W: Witness>(r: Result<O, Halt>, families: W) -> Result<Typed<O, W::Values>, Halt> {
    let _ = families;
    r.map(|o| Typed(o, PhantomData))
}

/// Rebuilds, in the process that sent a graph away, the error of one of
/// its tasks that panicked elsewhere.
pub fn task_panicked(task: TaskInfo, message: String, others: usize) -> Error {
    Error::TaskPanicked {
        task,
        message,
        others,
    }
}

/// Rebuilds, in the process that sent a graph away, the error of one of its
/// tasks that returned `Err` elsewhere: `source` stands for that error (its
/// message, or a type that carries what crossed), and is the error's
/// `error_type`.
pub fn task_failed<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    task: TaskInfo,
    source: E,
    others: usize,
) -> Error {
    Error::TaskFailed {
        task,
        source: source.into(),
        error_type: std::any::type_name::<E>(),
        others,
    }
}
