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
//! The runtime knows no encoding: a [`Codec`] made from the graph's value
//! types (the [`Parts::Values`] that `graph!` writes) turns cells into
//! bytes and back. `taskgraph-cluster` implements both sides with serde.

use std::marker::PhantomData;

use crate::error::{Error, TaskInfo};
use crate::graph::Graph;
use crate::runtime::Runtime;
pub use crate::value::NodeId;
pub use crate::view::Instance;

/// Consecutive nodes `lo..hi` of family `family`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeRange {
    /// The family's number, in the order the graph makes them.
    pub family: u32,
    /// The first node.
    pub lo: u32,
    /// One past the last node.
    pub hi: u32,
}

/// What a part run does: see the [module docs](self).
#[derive(Debug, Default)]
pub struct Plan<'a> {
    /// The nodes to run.
    pub run: Vec<NodeRange>,
    /// Values made elsewhere, encoded by the [`Codec`]. None of these nodes
    /// is in `run`.
    pub inject: Vec<(NodeId, &'a [u8])>,
    /// Nodes of `run` whose values go elsewhere: [`Part::produced`] gets
    /// each one's bytes, with its position in this list.
    pub collect: Vec<NodeId>,
    /// Whether the run ends by taking the graph's output (every output node
    /// is then in `run` or `inject`).
    pub take_outputs: bool,
}

/// Turns the values in a graph's cells into bytes and back.
///
/// # Safety
/// An implementation must read and write, for family `family`, values of
/// exactly the type it names in [`Codec::type_name`] for that family; the
/// runtime compares that name with the family's own value type before it
/// calls the other methods.
pub unsafe trait Codec: Sync {
    /// The value type of family `family` (`std::any::type_name`), or `None`
    /// if the family's values are never sent (a fused loop's bookkeeping).
    fn type_name(&self, family: u32) -> Option<&'static str>;

    /// Appends the encoding of node `index`'s value to `out`.
    ///
    /// # Safety
    /// `cells` is family `family`'s cell array and node `index`'s cell holds
    /// a value, which no thread changes meanwhile.
    unsafe fn encode(
        &self,
        family: u32,
        cells: *const u8,
        index: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), String>;

    /// Decodes `bytes` into node `index`'s cell; on `Err` the cell is left
    /// empty.
    ///
    /// # Safety
    /// `cells` is family `family`'s cell array, node `index`'s cell is empty
    /// and no other thread accesses it.
    unsafe fn decode(
        &self,
        family: u32,
        cells: *mut u8,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), String>;
}

/// The other side of a part run: decides the [`Plan`] once the graph is
/// instantiated, and receives the values it sends away.
pub trait Part: Sync {
    /// Called with the instantiated graph (every loop node by node); no
    /// task has run yet. An `Err` ends the run with it.
    fn plan<'s>(&'s self, graph: &Instance) -> Result<Plan<'s>, Error>;
    /// The codec of the graph's values.
    fn codec(&self) -> &dyn Codec;
    /// The bytes of `Plan::collect[position]`, just produced. Called from
    /// the thread that ran the node.
    fn produced(&self, position: usize, bytes: Vec<u8>);
}

/// A graph that can run in parts: every `graph!`. `Values` lists the value
/// type of each of its families, in order, as nested pairs ending in `()`
/// (a family whose values are never sent, a fused loop or its output
/// elements, has `()`: in a part run loops run node by node, so these
/// families are empty).
#[doc(hidden)]
pub trait Parts: Graph {
    /// `(T0, (T1, (.., ())))`: family `i`'s value type at depth `i`.
    type Values;

    /// Instantiates the graph and runs the part `part` plans on `runtime`;
    /// returns the output if the plan takes it.
    fn __part(self, runtime: &Runtime, part: &dyn Part) -> Result<Option<Self::Output>, Error>;
}

/// What one entry of the family table of `graph!` holds: its value type.
#[doc(hidden)]
pub trait ValueOf {
    /// The family's value type.
    type Value;
}

/// The family table of a `graph!` as nested pairs of references.
#[doc(hidden)]
pub trait Witness {
    /// The value types, as nested pairs ending in `()`.
    type Values;
}

impl Witness for () {
    type Values = ();
}

impl<H: ValueOf, R: Witness> Witness for (&H, R) {
    type Values = (H::Value, R::Values);
}

/// A graph's output together with its families' value types, as the
/// closure of a `graph!` returns it.
#[doc(hidden)]
pub struct Typed<O, V>(pub(crate) O, PhantomData<fn() -> V>);

/// Attaches the value types of the family table `families` to a graph's
/// result (generated code).
#[doc(hidden)]
#[inline(always)]
pub fn typed<O, W: Witness>(
    r: Result<O, Error>,
    families: W,
) -> Result<Typed<O, W::Values>, Error> {
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
/// tasks that returned `Err` elsewhere: the source is the error's message.
pub fn task_failed(task: TaskInfo, message: String, others: usize) -> Error {
    Error::TaskFailed {
        task,
        source: message.into(),
        others,
    }
}

/// A part run as the executor sees it (crate-private; see `exec/`).
pub(crate) struct PartCtl<'r> {
    pub(crate) part: &'r dyn Part,
    pub(crate) codec: &'r dyn Codec,
    pub(crate) inject: Vec<(NodeId, &'r [u8])>,
    /// Per global node number: its position in `Plan::collect`, or
    /// [`NOT_COLLECTED`].
    pub(crate) collect_at: Vec<u32>,
    pub(crate) take_outputs: bool,
}

/// A node that no other process needs.
pub(crate) const NOT_COLLECTED: u32 = u32::MAX;

/// Added to the dependency counter of every node a part does not run: it
/// cannot count down to zero, since no node has this many inputs.
pub(crate) const OUT_OF_PART: u32 = 1 << 31;
