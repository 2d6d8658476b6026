//! Running a sealed graph: the topology (counters and successor lists in flat
//! arrays), the context tasks read their inputs through, and the scheduler.
//! The protocol is described in `README.md` beside this file.

mod sched;
mod sleep;

use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;

use crate::family::ErasedFamily;
use crate::graph::Outputs;
use crate::slot::{Brand, Lazy, Slot, TaskId};

pub(crate) use sched::run_graph;

/// Successor entry that stands for "the graph's final output".
pub(crate) const FINAL: TaskId = TaskId {
    fam: u32::MAX,
    idx: 0,
};

/// Untyped pointer to one family's output slots.
#[derive(Clone, Copy)]
pub struct SlotRef {
    ptr: *const (),
    len: usize,
}

impl SlotRef {
    pub(crate) fn new<T>(slots: &[Slot<T>]) -> Self {
        SlotRef {
            ptr: slots.as_ptr().cast(),
            len: slots.len(),
        }
    }
}

/// Dependency counters and successor lists, flat over all nodes of a graph.
///
/// Node `(f, i)` has the global number `base[f] + i`. Its successors are
/// `succ[off[g]..off[g + 1]]`, one entry per edge (a consumer reading it twice
/// appears twice), plus one [`FINAL`] entry per reference from the graph's
/// final expression; so the slice's length is the output's number of uses.
pub(crate) struct Topology {
    base: Box<[u32]>,
    pub(crate) pending: Box<[AtomicU32]>,
    off: Box<[u32]>,
    succ: Box<[TaskId]>,
}

impl Topology {
    pub(crate) fn build<'g>(fams: &[&dyn ErasedFamily<'g>], outs: &impl Outputs<'g>) -> Self {
        let mut base = Vec::with_capacity(fams.len() + 1);
        let mut total: u64 = 0;
        for f in fams {
            base.push(total as u32);
            total += f.len() as u64;
        }
        assert!(
            total < u32::MAX as u64,
            "a graph holds at most {} nodes",
            u32::MAX - 1
        );
        base.push(total as u32);
        let base = base.into_boxed_slice();
        let n = total as usize;
        let global = |t: TaskId| (base[t.fam as usize] + t.idx) as usize;

        let mut pending: Box<[AtomicU32]> = (0..n).map(|_| AtomicU32::new(0)).collect();
        // Count edges per producer in off[g + 1], inputs per consumer in pending.
        let mut off = vec![0u32; n + 1];
        for f in fams {
            let fid = f.id();
            f.for_each_input(&mut |i, p| {
                off[global(p) + 1] += 1;
                *pending[global(TaskId { fam: fid, idx: i })].get_mut() += 1;
            });
        }
        outs.for_each(&mut |p| off[global(p) + 1] += 1);
        for g in 0..n {
            off[g + 1] += off[g];
        }
        let edges = off[n] as usize;
        let mut succ = vec![FINAL; edges].into_boxed_slice();
        let mut cursor: Vec<u32> = off[..n].to_vec();
        for f in fams {
            let fid = f.id();
            f.for_each_input(&mut |i, p| {
                let c = &mut cursor[global(p)];
                succ[*c as usize] = TaskId { fam: fid, idx: i };
                *c += 1;
            });
        }
        // FINAL entries were pre-filled and sit after each node's real edges.
        Topology {
            base,
            pending,
            off: off.into_boxed_slice(),
            succ,
        }
    }

    #[inline(always)]
    pub(crate) fn global(&self, t: TaskId) -> usize {
        (self.base[t.fam as usize] + t.idx) as usize
    }

    #[inline(always)]
    pub(crate) fn successors(&self, t: TaskId) -> &[TaskId] {
        let g = self.global(t);
        &self.succ[self.off[g] as usize..self.off[g + 1] as usize]
    }

    #[inline(always)]
    pub(crate) fn uses(&self, t: TaskId) -> u32 {
        let g = self.global(t);
        self.off[g + 1] - self.off[g]
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn family_range(&self, fam: usize) -> (u32, u32) {
        (self.base[fam], self.base[fam + 1])
    }
}

/// What a running task sees of its graph: where its inputs are and how many
/// consumers its output has.
pub struct Cx<'g> {
    table: *const SlotRef,
    families: usize,
    topo: *const Topology,
    _brand: Brand<'g>,
}

// SAFETY: `Cx` only reads the slot table and topology, which outlive every
// task of the run, and hands out `&Slot<T>` (which is `Sync`).
unsafe impl Sync for Cx<'_> {}

impl<'g> Cx<'g> {
    pub(crate) fn new(table: &[SlotRef], topo: &Topology) -> Self {
        Cx {
            table: table.as_ptr(),
            families: table.len(),
            topo,
            _brand: PhantomData,
        }
    }

    /// The slot behind a lazy handle of this graph.
    #[inline(always)]
    pub(crate) fn slot<T>(&self, l: Lazy<'g, T>) -> &Slot<T> {
        let fam = l.id.fam as usize;
        assert!(
            fam < self.families,
            "taskgraph internal error: unknown family"
        );
        // SAFETY: `table` has `families` entries and lives as long as `self`.
        let r = unsafe { *self.table.add(fam) };
        assert!(
            (l.id.idx as usize) < r.len,
            "taskgraph internal error: node out of range"
        );
        // SAFETY: a `Lazy<'g, T>` is made only by the family numbered `fam` of
        // this graph (the brand `'g`), whose slots are `Slot<T>`; the table
        // entry `fam` points at those slots (`Scope::execute` checks the
        // numbering), and the index is in bounds.
        unsafe { &*r.ptr.cast::<Slot<T>>().add(l.id.idx as usize) }
    }

    #[inline(always)]
    pub(crate) fn uses(&self, t: TaskId) -> u32 {
        // SAFETY: the topology outlives every task of the run.
        unsafe { &*self.topo }.uses(t)
    }
}
