//! Running a sealed graph: the topology (counters and successor lists in flat
//! arrays), the context tasks read their inputs through, and the scheduler.
//! The protocol is described in `README.md` beside this file.

mod door;
mod sched;
mod sleep;

use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;

use crate::family::ErasedFamily;
use crate::graph::Outputs;
use crate::slot::{Brand, Lazy, Slot, TaskId};

pub(crate) use sched::{in_worker, panic_message, run_graph};

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
/// Node `(f, i)` has the global number `g = base[f] + i`. Its successors are
/// `succ[off[g + 1]..off[g + 2]]`, one entry per edge (a consumer reading it
/// twice appears twice), plus one [`FINAL`] entry per reference from the
/// graph's final expression; so that slice's length is the output's number
/// of uses. (`off` is shifted by one because it is filled by counting down.)
pub(crate) struct Topology {
    base: Box<[u32]>,
    pub(crate) pending: Box<[AtomicU32]>,
    off: Box<[u32]>,
    succ: Box<[TaskId]>,
}

/// The topology while it is built; families add their edges to it.
#[doc(hidden)]
pub struct Edges {
    base: Box<[u32]>,
    pending: Box<[AtomicU32]>,
    off: Vec<u32>,
    succ: Vec<TaskId>,
}

impl Edges {
    #[inline(always)]
    fn global(&self, t: TaskId) -> usize {
        (self.base[t.fam as usize] + t.idx) as usize
    }

    /// Counts one use of `producer`'s output.
    #[inline(always)]
    pub(crate) fn count(&mut self, producer: TaskId) {
        let g = self.global(producer);
        self.off[g + 1] += 1;
    }

    /// Sets how many inputs node `(fam, idx)` waits for.
    #[inline(always)]
    pub(crate) fn set_pending(&mut self, fam: u32, idx: usize, n: u32) {
        let c = (self.base[fam as usize] as usize) + idx;
        *self.pending[c].get_mut() = n;
    }

    /// Records node `consumer` as a successor of `producer`.
    #[inline(always)]
    pub(crate) fn fill(&mut self, producer: TaskId, consumer: TaskId) {
        let g = self.global(producer);
        let pos = self.off[g + 1] - 1;
        self.off[g + 1] = pos;
        self.succ[pos as usize] = consumer;
    }
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
        let n = total as usize;
        let mut e = Edges {
            base: base.into_boxed_slice(),
            pending: (0..n).map(|_| AtomicU32::new(0)).collect(),
            off: vec![0u32; n + 2],
            succ: Vec::new(),
        };
        // Count uses per producer in off[g + 1] and inputs per consumer.
        for f in fams {
            f.count_edges(&mut e);
        }
        outs.for_each(&mut |p| e.count(p));
        // Prefix sums: off[g + 1] becomes the end of g's successors.
        for g in 1..=n {
            e.off[g] += e.off[g - 1];
        }
        e.off[n + 1] = e.off[n];
        e.succ = vec![FINAL; e.off[n] as usize];
        // Filling counts each off[g + 1] down to the start of g's successors.
        for f in fams {
            f.fill_edges(&mut e);
        }
        outs.for_each(&mut |p| e.fill(p, FINAL));
        Topology {
            base: e.base,
            pending: e.pending,
            off: e.off.into_boxed_slice(),
            succ: e.succ.into_boxed_slice(),
        }
    }

    #[inline(always)]
    pub(crate) fn global(&self, t: TaskId) -> usize {
        (self.base[t.fam as usize] + t.idx) as usize
    }

    #[inline(always)]
    pub(crate) fn successors(&self, t: TaskId) -> &[TaskId] {
        let g = self.global(t);
        &self.succ[self.off[g + 1] as usize..self.off[g + 2] as usize]
    }

    #[inline(always)]
    pub(crate) fn uses(&self, t: TaskId) -> u32 {
        let g = self.global(t);
        self.off[g + 2] - self.off[g + 1]
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
