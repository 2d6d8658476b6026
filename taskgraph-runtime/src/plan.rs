//! The cluster's side of a part run, as instantiation calls it: the
//! [`Part`] decides the [`Plan`] once the graph is instantiated and receives
//! the values the run sends away (see `part.rs` for the whole picture).
//! Declared here, below `scope.rs`, which calls it.

use std::borrow::Cow;

use crate::error::Error;
use crate::exec::part::{Codec, NodeRange};
use crate::value::NodeId;
use crate::view::instance::Instance;

/// What a part run does: see the [`part`](crate::part) module's docs.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    /// The nodes to run.
    pub run: Vec<NodeRange>,
    /// Values made elsewhere, encoded by the [`Codec`]. None of these nodes
    /// is in `run`. Borrowed from the [`Part`], or handed over with the plan
    /// (bytes that belong to this part only).
    pub inject: Vec<(NodeId, Cow<'a, [u8]>)>,
    /// Nodes of `run` whose values go elsewhere: [`Part::produced`] gets
    /// each one's bytes, with its position in this list.
    pub collect: Vec<NodeId>,
    /// Whether the run ends by taking the graph's output (every output node
    /// is then in `run` or `inject`).
    pub take_outputs: bool,
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
    /// Called after a part that took no output ran without failing: `true`
    /// runs another part of the same instance (`plan` is called again, with
    /// the same graph), so the graph is built once for many parts; `false`
    /// (the default) ends the run. A node's task runs at most once per
    /// instance: a later plan must not run a node an earlier one ran.
    fn next(&self) -> bool {
        false
    }
}
