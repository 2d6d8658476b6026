//! What the executor needs of a part run (a cluster's block, `../part.rs`):
//! which nodes it runs, the values it injects and collects, and a codec.
//! Declared here, so the scheduler imports nothing above it; `part.rs`
//! fills it in from the cluster's `Plan`.

use crate::value::NodeId;

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

/// A part run as the executor sees it.
pub(crate) struct PartCtl<'r> {
    /// Receives the bytes of `Plan::collect[position]` (`Part::produced`).
    pub(crate) produced: &'r (dyn Fn(usize, Vec<u8>) + Sync),
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
