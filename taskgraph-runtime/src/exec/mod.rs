//! Running a sealed graph: one scheduler for both kinds of work. A work item
//! is a node (or a range of source nodes) of a task family, run node by
//! node with dependency counters, or a block of iterations of a fused loop.
//! The protocol is described in `README.md` beside this file.

pub(crate) mod cache;
pub(crate) mod control;
mod drive;
pub(crate) mod finish;
pub(crate) mod future;
pub(crate) mod part;
pub(crate) mod progress;
pub(crate) mod registry;
pub(crate) mod rule;
pub(crate) mod sleep;
pub(crate) mod task;
mod topology;

pub(crate) use drive::{drive, Park};
pub use topology::RunList;
pub(crate) use topology::{InRun, Topology, GROUP_READ_MIN};

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use crate::error::Error;
use crate::exec::cache::Cache;
use crate::site::{FamilyInfo, TaskInfo};
use crate::sync::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use crate::value::slot::{Slot, NOT_RUN};
use crate::value::{Lazy, NodeId, Piece};
use control::{Control, LiveRun, Op, CANCELLED, FAILED, GOING, TIMED_OUT};
use part::{PartCtl, NOT_COLLECTED};
use progress::Snapshot;
use registry::{Registry, RunFlags, WorkerCtx};
use rule::{Rule, RuleKind};
use topology::SCAN_RULES;

use task::Marker;

/// The consumer family number that stands for the graph's output.
pub(crate) const FINAL: u32 = u32::MAX;
/// The parent of a fused loop's whole range: the loop node itself.
pub(crate) const ROOT: u32 = u32::MAX;

// ---------------------------------------------------------------------------
// The executor's interface to families.

/// What kind of work a family's nodes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Each node is one task, run node by node.
    Tasks,
    /// Each node is a fused loop, run as blocks of iterations.
    Loop,
    /// The output elements of a fused loop, produced when the loop ends.
    Elements,
    /// Values from outside the graph, produced together by one work item
    /// when they are there (`source.rs`).
    Source,
}

/// What running a node did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ran {
    /// The node's output is stored: its consumers can be told.
    Done,
    /// A loop node whose last block will finish it elsewhere.
    Pending,
    /// The run stopped (this node's task failed, or another's did, or the
    /// run was cancelled): nothing is stored, and the work item ends.
    Stopped,
}

/// A block of iterations of a fused loop: `lo..hi`, inside the aligned
/// subtree of `size` leaves that starts at `lo`, reporting to join `parent`
/// (`ROOT`: the loop itself).
#[derive(Clone, Copy, Debug)]
pub struct Block {
    pub(crate) fam: u32,
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) size: u32,
    pub(crate) parent: u32,
}

/// What the executor reads about a family: plain data, one type for every
/// family of every graph, so none of it is compiled again per call site.
#[derive(Debug)]
pub struct Core {
    pub(crate) id: u32,
    pub(crate) kind: Kind,
    pub(crate) info: &'static FamilyInfo,
    /// How many nodes the family holds.
    pub(crate) len: u32,
    /// How many single lazy inputs each node waits for.
    pub(crate) singles: u32,
    /// The inputs a node does not wait for (bit `j`: input `j`): their
    /// producers are ancestors of another input's.
    pub(crate) implied: u32,
    /// The runs of each input.
    pub(crate) runs: Vec<RunList>,
    /// The loop indices of each node.
    pub(crate) at: AtRuns,
    /// The element families a loop completes when it ends.
    pub(crate) elements: Vec<u32>,
    /// A fused loop's number of iterations (for observers).
    pub(crate) iterations: u32,
    /// A fused step loop's values per step (for observers); 0 for others.
    pub(crate) width: u32,
    /// Whether the family could not take another node while the graph was
    /// built (the first such failure); the graph then does not run.
    pub(crate) full: Full,
}

/// Why a family could not take another node while the graph was built
/// (`Family::push`): the graph's code goes on to its end without it, and
/// the graph fails with [`Core::failure`] before any task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// The family took every node it was given.
    No,
    /// More nodes than a family can number ([`Error::GraphTooLarge`]).
    TooManyNodes,
    /// No memory for more records ([`Error::OutOfMemory`]).
    OutOfMemory { bytes: usize },
}

impl Core {
    pub(crate) fn new(id: u32, kind: Kind, info: &'static FamilyInfo) -> Self {
        Core {
            id,
            kind,
            info,
            len: 0,
            singles: 0,
            implied: 0,
            runs: Vec::new(),
            at: AtRuns::default(),
            elements: Vec::new(),
            iterations: 0,
            width: 0,
            full: Full::No,
        }
    }

    /// The error of a family that could not take another node while the
    /// graph was built ([`Full`]), if any.
    #[cold]
    pub(crate) fn failure(&self) -> Option<Error> {
        let info = self.info;
        match self.full {
            Full::No => None,
            Full::TooManyNodes => Some(Error::GraphTooLarge {
                message: format!(
                    "`{}` at {}:{} makes more than {} nodes",
                    info.name,
                    info.file,
                    info.line,
                    u32::MAX - 3
                ),
            }),
            Full::OutOfMemory { bytes } => Some(Error::OutOfMemory { bytes }),
        }
    }

    /// Describes node `idx` for error reports.
    pub(crate) fn describe(&self, idx: u32) -> TaskInfo {
        self.info.task(&self.at.get(idx))
    }
}

/// Loop indices of consecutive nodes, as runs: within a run the innermost
/// index counts up by one per node. Stored flat: each run is its first node
/// and its indices.
#[derive(Clone, Debug, Default)]
pub(crate) struct AtRuns {
    depth: usize,
    flat: Vec<u32>,
}

impl AtRuns {
    /// Makes room for `runs` more runs of `depth` indices.
    pub(crate) fn reserve(&mut self, runs: usize, depth: usize) {
        self.flat.reserve(runs * (depth + 1));
    }

    /// Records the indices of node `node` (the next one).
    #[inline]
    pub(crate) fn add(&mut self, node: u32, at: &[u32]) {
        let d = at.len();
        if let Some(last) = self.flat.len().checked_sub(d + 1) {
            let run = &self.flat[last..];
            let (n0, a0) = (run[0], &run[1..]);
            let k = node - n0;
            let same = d == self.depth
                && a0[..d.saturating_sub(1)] == at[..d.saturating_sub(1)]
                && (d == 0 || a0[d - 1].wrapping_add(k) == at[d - 1]);
            if same {
                return;
            }
        }
        self.depth = d;
        self.flat.push(node);
        self.flat.extend_from_slice(at);
    }

    /// Calls `f` with the indices of node `node`, without allocating when
    /// they are at most 8 deep (for observers).
    pub(crate) fn with<R>(&self, node: u32, f: impl FnOnce(&[u32]) -> R) -> R {
        if self.depth > 8 {
            return f(&self.get(node));
        }
        let mut at = [0u32; 8];
        let d = self.depth;
        if let Some(run) = self.run_of(node) {
            at[..d].copy_from_slice(&run[1..]);
            if let Some(last) = at[..d].last_mut() {
                *last = last.wrapping_add(node - run[0]);
            }
            return f(&at[..d]);
        }
        f(&[])
    }

    /// The run holding node `node`: its first node, then its indices.
    fn run_of(&self, node: u32) -> Option<&[u32]> {
        let w = self.depth + 1;
        let runs = self.flat.len() / w;
        if runs == 0 {
            return None;
        }
        // The last run starting at or before `node`.
        let (mut lo, mut hi) = (0, runs);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.flat[mid * w] <= node {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(&self.flat[lo * w..lo * w + w])
    }

    /// The indices of node `node`.
    pub(crate) fn get(&self, node: u32) -> Vec<u32> {
        let Some(run) = self.run_of(node) else {
            return Vec::new();
        };
        let mut at = run[1..].to_vec();
        if let Some(last) = at.last_mut() {
            *last = last.wrapping_add(node - run[0]);
        }
        at
    }
}

/// The defaults of `ErasedFamily`'s methods that only some kinds of family
/// implement: one function, not a panic written out in every family's copy
/// of each default (the defaults are generic over the family).
#[cold]
#[inline(never)]
fn not_this_family(what: &str) -> ! {
    unreachable!("taskgraph internal error: {what}")
}

/// What the executor needs of a family beyond its `Core`: the parts that
/// depend on its types. The families of `graph!` (task families, fused
/// loops, loop outputs) implement it.
pub trait ErasedFamily<'g>: Sync {
    /// The family's plain data.
    fn core(&self) -> &Core;
    /// The type of the values in the family's cells (`std::any::type_name`),
    /// for families whose values a part run may send (`../part.rs`).
    fn value_type(&self) -> Option<&'static str> {
        None
    }
    /// Calls `f(node, piece)` for each piece of each gather.
    fn for_each_gather(&self, f: &mut dyn FnMut(u32, Piece));
    /// Allocates the output cells; returns their base address. `states`
    /// addresses the family's node states, for families that keep it.
    fn prepare(&self, cache: &Cache, states: *const AtomicU32) -> Result<*mut u8, Error>;
    /// Runs node `idx`: a task, or a fused loop's first block.
    fn run(&self, idx: u32, cx: &Cx<'_, 'g>) -> Ran;
    /// Starts async node `idx` once the bound on async tasks in flight let
    /// it (`Job::Start`, which only an async family's `run` queues). Not a
    /// call of `run` by default: that would copy each family's `run` into
    /// a second function of every graph's machine code.
    fn start(&self, _idx: u32, _cx: &Cx<'_, 'g>) -> Ran {
        not_this_family("a start queued for a family that is not async")
    }
    /// Polls node `idx`'s future again (`Job::Poll`, pushed by its waker;
    /// `future.rs`), or drops it if the run has stopped.
    ///
    /// # Safety
    /// `hdr` addresses the slot of node `idx`'s future, of this run, whose
    /// state is `SCHEDULED` (as the item a waker pushes names it).
    unsafe fn resume(&self, _idx: u32, _hdr: *const future::Header, _cx: &Cx<'_, 'g>) -> Ran {
        not_this_family("a future polled in a family that is not async")
    }
    /// Runs a block split off a fused loop.
    fn run_block(&self, _b: Block, _cx: &Cx<'_, 'g>) -> Ran {
        not_this_family("a block of a family that is not a loop")
    }
    /// Sets the uses of node `idx`'s written output.
    fn publish(&self, idx: u32, uses: u32, cx: &Cx<'_, 'g>);
    /// Sets the same uses for nodes `lo..hi` (element families only).
    fn publish_range(&self, _lo: u32, _hi: u32, _uses: u32, _cx: &Cx<'_, 'g>) {
        not_this_family("a range published outside a loop's elements")
    }
    /// Drops the written outputs of nodes `lo..hi`, which nobody reads, at
    /// once if dropping them cannot panic (their type has no drop glue);
    /// false if they must be dropped one by one.
    fn drop_range(&self, _lo: u32, _hi: u32, _cx: &Cx<'_, 'g>) -> bool {
        false
    }
    /// Drops whatever the run left alive and returns storage to the cache.
    /// After a run that succeeded (`live` false) every value was consumed,
    /// so there is nothing to drop (checked in debug builds). Returns how
    /// many `Drop`s panicked (caught; everything else is still dropped).
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize;
    /// Adds the tasks of a fused loop to a progress snapshot (`finished`:
    /// the loop has ended): `add(call site, done, total)`.
    fn count_tasks(&self, _finished: bool, _add: &mut dyn FnMut(&'static FamilyInfo, u64, u64)) {}
    /// For a family waiting for something outside the run (a spawned
    /// graph's outputs): stops waiting, if it still was; true if so, and
    /// then the caller ends the work item the wait stood for.
    fn abandon_wait(&self) -> bool {
        false
    }
}

/// A family's output cells: the buffer its nodes' values live in during a
/// run, taken from the cache before it and given back after it, and the
/// steps of `ErasedFamily` on them, written once for every kind of family
/// (tasks, fused loops, loop elements, sources). The value type `T` is
/// named by each call rather than by the type: a fused loop's type names
/// its output type only through its kind, without a bound to name it by.
pub(crate) struct Cells(std::cell::UnsafeCell<Option<crate::exec::cache::RawBuf>>);

impl Cells {
    /// No cells yet (they are taken by `prepare`).
    pub(crate) const fn new() -> Self {
        Cells(std::cell::UnsafeCell::new(None))
    }

    /// `ErasedFamily::prepare`: takes cells for `len` values of `T` from
    /// `cache`; returns their address.
    ///
    /// # Safety
    /// Before the run, on the one thread that prepares it: nothing else
    /// touches these cells.
    pub(crate) unsafe fn prepare<T>(&self, cache: &Cache, len: usize) -> Result<*mut u8, Error> {
        let buf = cache.take_raw::<T>(len)?;
        let p = buf.ptr();
        // SAFETY: the caller's contract: nothing else touches the cells.
        unsafe { *self.0.get() = Some(buf) };
        Ok(p)
    }

    /// `ErasedFamily::publish`: sets the uses of node `idx`'s written
    /// output, in family `fam` whose outputs are `T`.
    ///
    /// # Safety
    /// As [`Slot::publish`]: the node's value is written, and its
    /// consumers are told only after this.
    #[inline]
    pub(crate) unsafe fn publish<T>(&self, fam: u32, idx: u32, uses: u32, cx: &Cx<'_, '_>) {
        // SAFETY: the caller's contract.
        unsafe { cx.slot_of::<T>(NodeId::new(fam, idx)).publish(uses) }
    }

    /// `ErasedFamily::publish_range`: the same uses for the written
    /// outputs of nodes `lo..hi` of family `fam`, whose outputs are `T`.
    ///
    /// # Safety
    /// As [`Slot::publish`], for each of these nodes.
    pub(crate) unsafe fn publish_range<T>(
        &self,
        fam: u32,
        lo: u32,
        hi: u32,
        uses: u32,
        cx: &Cx<'_, '_>,
    ) {
        let s = cx.slots::<T>(fam, lo, hi - lo);
        for k in 0..s.len() {
            // SAFETY: the caller's contract, node by node.
            unsafe { s.get(k).publish(uses) }
        }
    }

    /// `ErasedFamily::teardown`: drops the values of the family's nodes
    /// still alive in the cells and gives the buffer back to `cache`.
    /// Returns how many `Drop`s panicked.
    ///
    /// # Safety
    /// The run is over, no other thread touches the cells, and they hold
    /// the `T` outputs of the family of `core`.
    pub(crate) unsafe fn teardown<T>(
        &self,
        core: &Core,
        cache: &Cache,
        live: bool,
        cx: &Cx<'_, '_>,
    ) -> usize {
        // SAFETY: the caller's contract: nobody else touches the cells.
        let Some(buf) = (unsafe { (*self.0.get()).take() }) else {
            return 0;
        };
        let panics = cx.slots::<T>(core.id, 0, core.len).teardown(live);
        cache.give_raw(buf);
        panics
    }
}

/// The progress of a graph built and not yet started: every task of the
/// families `fams`, none done (what a run's snapshot reads before its first
/// task).
pub(crate) fn planned(fams: &[&dyn ErasedFamily<'_>]) -> progress::Snapshot {
    let mut out = progress::Snapshot::default();
    out.families.reserve(fams.len());
    for f in fams {
        let c = f.core();
        match c.kind {
            Kind::Tasks => out.add(c.info, 0, u64::from(c.len)),
            Kind::Loop if c.len > 0 => {
                f.count_tasks(false, &mut |info, _, total| out.add(info, 0, total));
            }
            _ => {}
        }
    }
    out.prune();
    out
}

// ---------------------------------------------------------------------------
// Work items.

/// What a work item does.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Job {
    Node(NodeId),
    /// Ready nodes `lo..hi` of a task family: its source nodes, or
    /// consumers made ready together (`Run::ready_run`).
    Range {
        fam: u32,
        lo: u32,
        hi: u32,
    },
    Block(Block),
    /// Polls an async task's future again (`future.rs`): its slot's header.
    Poll(*const future::Header),
    /// Starts an async node, admitted by the bound on tasks in flight.
    Start(NodeId),
    /// Polls a spawned or awaited graph's body (`../spawn/body.rs`): an
    /// item of no run, whose trampoline ignores its job.
    Body,
}

/// A unit of work in a deque, naming its run.
pub(crate) struct Item {
    pub(crate) run: *const (),
    pub(crate) exec: unsafe fn(*const (), Job, &WorkerCtx<'_>),
    pub(crate) job: Job,
}

// SAFETY: an item is a pointer to a run, which is `Sync`, plus plain data;
// the run outlives every item that names it (see `Run::finish_item`).
unsafe impl Send for Item {}

/// Executes one item of a run of type `R` (a `Run<'r, 'g>`; a type
/// parameter, so that a pointer to this function names no lifetime).
///
/// # Safety
/// `run` is the address of a live `R` that counted this item in its
/// `active` items.
unsafe fn exec_item<R: Exec>(run: *const (), job: Job, w: &WorkerCtx<'_>) {
    // SAFETY: by the function's contract.
    let run = unsafe { &*(run as *const R) };
    run.execute(job, w);
    // SAFETY: this item was counted; nothing touches `run` afterwards.
    unsafe { R::finish(run) };
}

/// Applies an outsider's request to a registered run of type `R` (see
/// `control.rs`).
///
/// # Safety
/// `run` is the address of a live `R`, registered with its control.
unsafe fn apply_op<R: Exec>(run: *const (), op: Op<'_>) {
    // SAFETY: by the function's contract.
    let run = unsafe { &*(run as *const R) };
    run.apply(op);
}

/// A run, as the item and control trampolines see it.
trait Exec {
    fn execute(&self, job: Job, w: &WorkerCtx<'_>);
    /// # Safety
    /// As [`Run::finish_item`].
    unsafe fn finish(this: *const Self);
    fn apply(&self, op: Op<'_>);
}

impl Exec for Run<'_, '_> {
    fn execute(&self, job: Job, w: &WorkerCtx<'_>) {
        Run::execute(self, job, w)
    }
    unsafe fn finish(this: *const Self) {
        // SAFETY: forwarded contract.
        unsafe { Run::finish_item(this) }
    }
    fn apply(&self, op: Op<'_>) {
        match op {
            Op::Stop(reason) => self.stop_with(reason),
            Op::Snapshot(out) => self.snapshot(out),
        }
    }
}

// ---------------------------------------------------------------------------
// A run.

/// Shared state of one run: the outcome and who waits for it.
pub(crate) struct RunState {
    /// Items pushed and not yet finished, plus the owner's hold while it
    /// seeds, plus one per wait for something outside the run. Reaching
    /// zero ends the run.
    active: AtomicUsize,
    /// The stop flag (set once: a task failed, or the run was cancelled;
    /// no task starts) and the run's cache counts.
    pub(crate) flags: RunFlags,
    /// Why the run stopped: the first of `FAILED`, `CANCELLED`,
    /// `TIMED_OUT` (`control.rs`), or `GOING`.
    why: AtomicU8,
    failure: Mutex<Failures>,
    /// How many failures happened after the first.
    more: AtomicUsize,

    /// A panic outside any task (plain code in a fused loop's body), raised
    /// again in the caller of `compute`.
    plain_panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Set once, last: the run is over.
    pub(crate) latch: AtomicBool,
    /// The owner's waker when it is an async poller that returned
    /// `Pending` (`drive.rs`): taken by the last item before the latch.
    pub(crate) owner: finish::OwnerWaker,
    pub(crate) threads: u32,
}

/// The failures of a run: the first (reported), and every failed task (for
/// progress).
#[derive(Default)]
struct Failures {
    first: Option<Error>,
    tasks: Vec<Option<TaskInfo>>,
}

/// A graph being run: its families, topology and state.
pub(crate) struct Run<'r, 'g> {
    pub(crate) fams: &'r [&'r dyn ErasedFamily<'g>],
    pub(crate) topo: Topology,
    pub(crate) state: RunState,
    /// Who watches the run, and its number for them (see `task.rs`).
    pub(crate) watch: Watch,
    /// What a part run injects and collects (`../part.rs`); `None` for a
    /// whole graph.
    pub(crate) part: Option<&'r PartCtl<'r>>,
    pub(crate) reg: &'r Registry,
    /// The outside's handle on the run (spawned and deadline runs).
    pub(crate) ctl: Option<&'r Control>,
    /// The wakers of the async tasks that went `Pending`: a stop wakes
    /// them, so that each future is dropped by its own work item
    /// (`future.rs`). Each keeps its task's slot alive until the run is
    /// torn down, so a `Job::Poll` item always finds it.
    futures: Mutex<Vec<std::task::Waker>>,
    /// The tokio runtime async tasks are polled in: the builder's, else
    /// the one current where the graph was computed.
    #[cfg(feature = "tokio")]
    reactor: Option<tokio::runtime::Handle>,
}

/// What [`Run::enter_reactor`] holds without the `tokio` feature: nothing.
#[cfg(not(feature = "tokio"))]
pub(crate) struct NoReactor;

/// A run's observers, taken once when it starts: `None` costs a task one
/// branch (`Cx::observed`).
pub(crate) struct Watch {
    pub(crate) observers: Option<std::sync::Arc<crate::observe::Observers>>,
    pub(crate) id: u64,
}

// SAFETY: the raw value pointers address families' output cells, which are
// accessed under the slot protocol (`value/slot.rs`); everything else is
// `Sync`.
unsafe impl Sync for Run<'_, '_> {}

impl<'r, 'g> Run<'r, 'g> {
    pub(crate) fn new(
        fams: &'r [&'r dyn ErasedFamily<'g>],
        topo: Topology,
        reg: &'r Registry,
        watch: Watch,
        part: Option<&'r PartCtl<'r>>,
        ctl: Option<&'r Control>,
    ) -> Self {
        Run {
            fams,
            topo,
            watch,
            part,
            reg,
            ctl,
            futures: Mutex::new(Vec::new()),
            #[cfg(feature = "tokio")]
            reactor: reg
                .tokio
                .get()
                .cloned()
                .or_else(|| tokio::runtime::Handle::try_current().ok()),
            state: RunState {
                active: AtomicUsize::new(1),
                flags: RunFlags::default(),
                why: AtomicU8::new(GOING),
                failure: Mutex::new(Failures::default()),
                more: AtomicUsize::new(0),

                plain_panic: Mutex::new(None),
                latch: AtomicBool::new(false),
                owner: finish::OwnerWaker::new(),
                threads: reg.threads() as u32,
            },
        }
    }

    /// Registers the run with its control, if it has one, and applies a
    /// stop asked for before it started.
    ///
    /// # Safety
    /// The caller calls [`Run::withdraw`] before the run is moved or torn
    /// down.
    pub(crate) unsafe fn register(&self) {
        let Some(ctl) = self.ctl else { return };
        let apply: unsafe fn(*const (), Op<'_>) = apply_op::<Self>;
        let live = LiveRun {
            ptr: self as *const Self as *const (),
            apply,
        };
        // SAFETY: forwarded contract.
        let asked = unsafe { ctl.begin(live) };
        if asked != GOING {
            self.stop_with(asked);
        }
    }

    /// Withdraws the run from its control (after its last item, before the
    /// teardown), leaving its final progress there.
    pub(crate) fn withdraw(&self) {
        if let Some(ctl) = self.ctl {
            ctl.end();
        }
    }

    /// Stops the run for `reason` (the first reason is kept): no task
    /// starts any more, and waits for things outside the run are abandoned.
    #[cold]
    pub(crate) fn stop_with(&self, reason: u8) {
        let _ = self
            .state
            .why
            .compare_exchange(GOING, reason, Ordering::AcqRel, Ordering::Acquire);
        self.state.flags.stop.store(true, Ordering::SeqCst);
        // An owner asleep without a token ends its stopped run's items
        // itself (they start no task): wake it before the run may end;
        // so does an owner that polls the run and returned `Pending`.
        self.reg.wake_owners();
        self.state.owner.wake();
        self.abandon_waits();
    }

    /// Ends the waits of families waiting for something outside the run,
    /// so that a stopped run does not wait for it (`source.rs`: each
    /// source is marked, whether it waits yet or not). Wakes every parked
    /// future, so that its item drops it (`future.rs`), and takes the
    /// async tasks waiting for a place in flight out of the queue.
    fn abandon_waits(&self) {
        let wakers = self.futures.lock().unwrap_or_else(|p| p.into_inner());
        for w in wakers.iter() {
            w.wake_by_ref();
        }
        drop(wakers);
        let mut n = self
            .reg
            .in_flight
            .withdraw(self as *const Self as *const ());
        if self.topo.sources {
            n += self.fams.iter().filter(|f| f.abandon_wait()).count();
        }
        if n > 0 {
            // SAFETY: each abandoned wait held one unit of `active`; the run
            // is not touched after this.
            unsafe { Run::finish_items(self, n) };
        }
    }

    /// What has run so far, per family.
    pub(crate) fn snapshot(&self, out: &mut Snapshot) {
        out.families.reserve(self.fams.len());
        for (i, f) in self.fams.iter().enumerate() {
            let c = f.core();
            let m = &self.topo.meta[i];
            match c.kind {
                Kind::Tasks => {
                    let lo = m.base as usize;
                    let states = &self.topo.states[lo..lo + m.len as usize];
                    let done = states
                        .iter()
                        .filter(|s| s.load(Ordering::Relaxed) != NOT_RUN)
                        .count();
                    out.add(c.info, done as u64, u64::from(m.len));
                }
                Kind::Loop if m.len > 0 => {
                    let finished =
                        self.topo.states[m.base as usize].load(Ordering::Relaxed) != NOT_RUN;
                    f.count_tasks(finished, &mut |info, done, total| {
                        out.add(info, done, total)
                    });
                }
                _ => {}
            }
        }
        let failures = self.state.failure.lock().unwrap_or_else(|p| p.into_inner());
        for t in &failures.tasks {
            out.failed(t.as_ref());
        }
        drop(failures);
        out.cache_hits = self.state.flags.cache_hits.load(Ordering::Relaxed);
        out.cache_misses = self.state.flags.cache_misses.load(Ordering::Relaxed);
        out.prune();
    }

    /// Pushes the source nodes of every family; with `keep`, returns the
    /// last seed as an item (counted, not pushed) for the caller to run
    /// itself (the one it would pop first), so that no pool thread woken by
    /// the other seeds can take every task from it.
    ///
    /// Every source is found before the first is pushed: once a seed runs
    /// (on another thread), counters change, and a node it makes ready must
    /// not look like a source.
    pub(crate) fn seed(&self, w: &WorkerCtx<'_>, keep: bool) -> Option<Item> {
        let mut seeds: Vec<Job> = Vec::new();
        for f in self.fams {
            let c = f.core();
            let len = c.len;
            if len == 0 || c.kind == Kind::Elements || c.singles > 0 {
                continue;
            }
            if c.kind == Kind::Source {
                seeds.push(Job::Block(Block {
                    fam: c.id,
                    lo: 0,
                    hi: len,
                    size: 0,
                    parent: ROOT,
                }));
                continue;
            }
            let id = c.id;
            if c.kind == Kind::Tasks && c.runs.is_empty() && self.part.is_none() {
                // No inputs at all: every node is a source, with no
                // counter to read (a part run may have added `OUT_OF_PART`).
                seeds.push(Job::Range {
                    fam: id,
                    lo: 0,
                    hi: len,
                });
                continue;
            }
            // Runs of nodes with nothing to wait for (a gather may wait).
            let mut lo = None;
            for i in 0..=len {
                let source = i < len && self.topo.pending_now(NodeId::new(id, i)) == 0;
                match (source, lo) {
                    (true, None) => lo = Some(i),
                    (false, Some(l)) => {
                        seeds.push(Job::Range {
                            fam: id,
                            lo: l,
                            hi: i,
                        });
                        lo = None;
                    }
                    _ => {}
                }
            }
        }
        if let Some(part) = self.part {
            if !self.inject(part, w) {
                return None;
            }
        }
        let kept = if keep { seeds.pop() } else { None };
        for s in seeds {
            self.push(s, w);
        }
        kept.map(|job| self.item(job))
    }

    /// A part run's values made elsewhere: each is decoded into its cell
    /// with the uses this part has of it (every one is written before any
    /// consumer is told, since a consumer may read several), then its
    /// consumers are told. Returns false if one could not be decoded (the
    /// run has failed then).
    #[cold]
    #[inline(never)]
    fn inject(&self, part: &PartCtl<'_>, w: &WorkerCtx<'_>) -> bool {
        let cx = Cx::new(self, w);
        let mut written = Vec::with_capacity(part.inject.len());
        for &(n, bytes) in &part.inject {
            let Some(m) = self.topo.meta.get(n.fam as usize) else {
                self.fail(Error::cluster(format!(
                    "a value for family {}, which does not exist",
                    n.fam
                )));
                return false;
            };
            if n.idx >= m.len || m.kind != Kind::Tasks || self.topo.in_part(n) {
                self.fail(Error::cluster(format!(
                    "a value for node {} of family {}, which this part cannot take",
                    n.idx, n.fam
                )));
                return false;
            }
            let mut uses = 0;
            self.topo.for_each_rule(n, |r| {
                uses += match r.kind {
                    _ if r.c_fam == FINAL => u32::from(part.take_outputs),
                    RuleKind::Strided => {
                        let c = NodeId::new(r.c_fam, r.strided_consumer(n.idx));
                        u32::from(self.topo.in_part(c))
                    }
                    RuleKind::Gather | RuleKind::Broadcast => (r.c0..r.c0 + r.step)
                        .filter(|&c| self.topo.in_part(NodeId::new(r.c_fam, c)))
                        .count()
                        as u32,
                }
            });
            if uses == 0 {
                continue;
            }
            // SAFETY: no task of the run has started; the cell is empty
            // (the node is not in the part, so nothing writes it) and the
            // codec's type for the family is the family's value type
            // (checked before the run, `scope.rs`).
            if let Err(e) = unsafe { part.codec.decode(n.fam, m.values, n.idx, bytes) } {
                let task = self.fams[n.fam as usize].core().describe(n.idx);
                self.fail(Error::cluster(format!(
                    "the value of task {task} could not be decoded: {e}"
                )));
                return false;
            }
            self.topo.states[self.topo.global(n)].store(uses, Ordering::Relaxed);
            written.push(n);
        }
        let mut next = None;
        for n in written {
            self.topo
                .for_each_rule(n, |r| self.notify(r, n.idx, 1, &cx, &mut next));
        }
        if let Some(n) = next {
            self.push(Job::Node(n), w);
        }
        true
    }

    /// A part run's node `p` has written its value: if another process
    /// needs it, it is encoded now, before any consumer can take it.
    #[cold]
    #[inline(never)]
    fn collect(&self, part: &PartCtl<'_>, p: NodeId) {
        let pos = part.collect_at[self.topo.global(p)];
        if pos == NOT_COLLECTED {
            return;
        }
        let m = &self.topo.meta[p.fam as usize];
        let mut bytes = Vec::new();
        // SAFETY: the node has just written its value, on this thread, and
        // no consumer has been told; the codec's type is the family's.
        match unsafe { part.codec.encode(p.fam, m.values, p.idx, &mut bytes) } {
            Ok(()) => (part.produced)(pos as usize, bytes),
            Err(e) => {
                let task = self.fams[p.fam as usize].core().describe(p.idx);
                self.fail(Error::cluster(format!(
                    "the value of task {task} could not be encoded: {e}"
                )));
            }
        }
    }

    /// Pushes a work item of this run.
    #[inline]
    pub(crate) fn push(&self, job: Job, w: &WorkerCtx<'_>) {
        w.push(self.item(job));
    }

    /// A work item of this run, counted in its active items: to be pushed,
    /// or executed by whoever made it.
    #[inline]
    fn item(&self, job: Job) -> Item {
        self.state.active.fetch_add(1, Ordering::Relaxed);
        let exec: unsafe fn(*const (), Job, &WorkerCtx<'_>) = exec_item::<Self>;
        Item {
            run: self as *const Self as *const (),
            exec,
            job,
        }
    }

    /// Ends one item (or the owner's hold); the last one ends the run.
    ///
    /// # Safety
    /// The caller accounted for one unit of `active`, and does not touch the
    /// run afterwards (the owner may free it as soon as the latch is set).
    pub(crate) unsafe fn finish_item(this: *const Self) {
        // SAFETY: forwarded contract.
        unsafe { Run::finish_items(this, 1) }
    }

    /// Ends `n` items at once (as [`Run::finish_item`]).
    ///
    /// # Safety
    /// The caller accounted for `n` units of `active`, and does not touch
    /// the run afterwards.
    pub(crate) unsafe fn finish_items(this: *const Self, n: usize) {
        // SAFETY: alive until the latch below is set.
        let (s, reg) = unsafe { (&(*this).state, (*this).reg) };
        if s.active.fetch_sub(n, Ordering::AcqRel) != n {
            return;
        }
        // An owner that polls the run (async) and returned `Pending` left
        // its waker: taken now, since the run may be gone once the latch
        // is set, and woken after it.
        let waker = s.owner.close();
        s.latch.store(true, Ordering::Release);
        // From here on the run may be gone (the registry is the runtime's).
        // Its owner, if it sleeps, sleeps with the pool.
        reg.wake_owners();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Counts one more item that something outside the run will push
    /// later (see `source.rs`), and returns it.
    pub(crate) fn later_item(&self, job: Job) -> Item {
        self.state.active.fetch_add(1, Ordering::Relaxed);
        let exec: unsafe fn(*const (), Job, &WorkerCtx<'_>) = exec_item::<Self>;
        Item {
            run: self as *const Self as *const (),
            exec,
            job,
        }
    }

    fn execute(&self, job: Job, w: &WorkerCtx<'_>) {
        if self.state.flags.stop.load(Ordering::Relaxed) {
            match job {
                // A future is dropped by its item (`future.rs`).
                Job::Poll(_) => {}
                // An admitted task that will not start gives its place.
                Job::Start(_) => return self.leave_in_flight(w),
                _ => return,
            }
        }
        let prev = w.enter_run(&self.state.flags);
        self.execute_job(job, w);
        w.leave_run(prev);
    }

    fn execute_job(&self, job: Job, w: &WorkerCtx<'_>) {
        let cx = Cx::new(self, w);
        match job {
            Job::Node(n) => self.run_chain(n, &cx),
            Job::Poll(h) => {
                // SAFETY: the run keeps the slot alive (`Run::futures`).
                let n = unsafe { (*h).node };
                let f = self.fams[n.fam as usize];
                // SAFETY: a `Job::Poll` is pushed only by its slot's waker
                // or poller, after moving the state to `SCHEDULED`.
                self.then_chain(n, &cx, || unsafe { f.resume(n.idx, h, &cx) });
            }
            Job::Start(n) => {
                let f = self.fams[n.fam as usize];
                self.then_chain(n, &cx, || f.start(n.idx, &cx));
            }
            Job::Range { fam, lo, hi } => self.run_range(fam, lo, hi, &cx),
            Job::Body => unreachable!("taskgraph internal error: a body's item named a run"),
            Job::Block(b) => {
                let f = self.fams[b.fam as usize];
                if self.guarded(&cx, || f.run_block(b, &cx)) == Some(Ran::Done) {
                    let next = if f.core().kind == Kind::Source {
                        let mut next = None;
                        self.complete_elements(b.fam, &cx, &mut next);
                        next
                    } else {
                        self.complete(NodeId::new(b.fam, 0), &cx)
                    };
                    if let Some(n) = next {
                        self.run_chain(n, &cx);
                    }
                }
            }
        }
    }

    /// Runs `f`, catching a panic: the task's `cx` marks (recorded as the
    /// run's failure), or plain code's (kept for the caller). Failures that
    /// are not panics come back as [`Ran::Stopped`], not through here.
    #[inline]
    fn guarded(&self, cx: &Cx<'_, 'g>, f: impl FnOnce() -> Ran) -> Option<Ran> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(p) => {
                task::caught(cx, p);
                None
            }
        }
    }

    /// A panic of plain code running at run time (a fused loop's body):
    /// the caller of `compute` raises it again.
    #[cold]
    pub(crate) fn plain_panicked(&self, payload: Box<dyn Any + Send>) {
        let mut slot = self
            .state
            .plain_panic
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(payload);
        }
        drop(slot);
        self.stop_with(FAILED);
    }

    /// Runs `f` (node `n`'s task, started or resumed); if it stored the
    /// node's output, completes the node and runs the chain it starts.
    fn then_chain(&self, n: NodeId, cx: &Cx<'_, 'g>, f: impl FnOnce() -> Ran) {
        if self.guarded(cx, f) != Some(Ran::Done) {
            return;
        }
        if let Some(next) = self.complete(n, cx) {
            self.run_chain(next, cx);
        }
    }

    /// An async task finished (or will not start): its place in flight goes
    /// to the oldest one waiting for it, which may be another graph's: it
    /// goes to the injector, not to this thread's deque.
    pub(crate) fn leave_in_flight(&self, _w: &WorkerCtx<'_>) {
        if let Some(item) = self.reg.in_flight.leave() {
            WorkerCtx::push_from_outside(self.reg, item);
        }
    }

    /// Counts the unit a parked future holds (`future.rs`).
    pub(crate) fn count_parked(&self) {
        self.state.active.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps the waker of a future that went `Pending` (see `futures`).
    pub(crate) fn keep_waker(&self, w: std::task::Waker) {
        self.futures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }

    /// Enters the run's tokio runtime while an async task is polled, if it
    /// has one.
    #[cfg(feature = "tokio")]
    pub(crate) fn enter_reactor(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.reactor.as_ref().map(|h| h.enter())
    }

    /// Without the `tokio` feature there is nothing to enter.
    #[cfg(not(feature = "tokio"))]
    #[inline(always)]
    pub(crate) fn enter_reactor(&self) -> NoReactor {
        NoReactor
    }

    /// Runs node `n`, then keeps running the one successor each node makes
    /// ready on this thread; further ready successors are pushed.
    fn run_chain(&self, mut n: NodeId, cx: &Cx<'_, 'g>) {
        loop {
            if self.state.flags.stop.load(Ordering::Relaxed) {
                return;
            }
            let f = self.fams[n.fam as usize];
            if self.guarded(cx, || f.run(n.idx, cx)) != Some(Ran::Done) {
                return;
            }
            match self.complete(n, cx) {
                Some(next) if cx.w.should_yield() => {
                    self.push(Job::Node(next), cx.w);
                    return;
                }
                Some(next) => n = next,
                None => return,
            }
        }
    }

    /// Ready nodes `lo..hi` of one family: first cut into about one piece
    /// per thread, so that every thread starts at once even if the first
    /// task is long; then run in order, giving the upper half away whenever
    /// another thread could take it (the cuts of fused loop blocks too:
    /// see "Cutting a range among threads" below). A range given away is
    /// cut again when it starts.
    fn run_range(&self, fam: u32, mut lo: u32, hi: u32, cx: &Cx<'_, 'g>) {
        let give = |lo: u32, hi: u32| self.push(Job::Range { fam, lo, hi }, cx.w);
        let mut hi = first_cut(lo, hi, cx.first_piece(hi - lo), give);
        while lo < hi {
            // Every node is a task of its own: look at every node, and never
            // split in advance (the work is not known to be heavy).
            if cx.give_away(hi - lo, false) {
                hi = halve(lo, hi, give);
            }
            self.run_chain(NodeId::new(fam, lo), cx);
            lo += 1;
            if self.state.flags.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    /// Node `p` has stored its output: tells its consumers, and for a loop
    /// node also those of its output elements. Returns one ready consumer to
    /// run next on this thread (the earliest in loop order, as a sequential
    /// run would: its inputs are released sooner, so memory stays low); the
    /// others are pushed.
    #[inline(always)]
    pub(crate) fn complete(&self, p: NodeId, cx: &Cx<'_, 'g>) -> Option<NodeId> {
        let m = &self.topo.meta[p.fam as usize];
        if !m.plain {
            return self.complete_general(p, cx);
        }
        debug_assert!(self.part.is_none(), "a part run's families are not plain");
        // A task family with a few rules, outside a part run: one pass
        // over them finds the covering ones, which give the uses (set before
        // any consumer is told) and, where they tell, the consumers.
        // Where a node's rules depend only on its parity, the pass was made
        // once (`Meta::alt_len`).
        let rules = &self.topo.rules[m.rules_lo as usize..m.rules_hi as usize];
        let (mut uses, mut tell) = (0, 0u32);
        if p.idx.wrapping_sub(m.alt_lo) < m.alt_len {
            let k = (p.idx & 1) as usize;
            (uses, tell) = (m.alt_uses[k], u32::from(m.alt_tell[k]));
        } else {
            for (k, r) in rules.iter().enumerate() {
                if r.covers_masked(p.idx) {
                    uses += r.uses();
                    tell |= u32::from(r.tells()) << k;
                }
            }
        }
        let mut next = None;
        if uses > 0 {
            self.topo.states[(m.base + p.idx) as usize].store(uses, Ordering::Relaxed);
        } else {
            self.publish(p, 0, cx);
        }
        while tell != 0 {
            let r = &rules[tell.trailing_zeros() as usize];
            tell &= tell - 1;
            match r.kind {
                RuleKind::Strided => {
                    let c = r.c0 + ((p.idx - r.lo) >> r.shift);
                    self.ready(r, c, 1, cx, &mut next)
                }
                _ => self.tell_range(r, 1, cx, &mut next),
            }
        }
        next
    }

    /// [`Run::complete`] for a part run, a fused loop, and a family with
    /// many rules (searched, not scanned).
    #[inline(never)]
    fn complete_general(&self, p: NodeId, cx: &Cx<'_, 'g>) -> Option<NodeId> {
        if let Some(part) = self.part {
            self.collect(part, p);
        }
        let m = &self.topo.meta[p.fam as usize];
        if m.ivals_hi > m.ivals_lo {
            return self.complete_indexed(p, cx);
        }
        let mut next = None;
        if m.kind == Kind::Loop {
            for &e in &self.fams[p.fam as usize].core().elements {
                self.complete_elements(e, cx, &mut next);
            }
        }
        let rules = &self.topo.rules[m.rules_lo as usize..m.rules_hi as usize];
        if rules.len() > SCAN_RULES {
            // One search finds the covering rules (usually a few): they give
            // the uses, then the consumers to tell.
            let mut found: [Option<&Rule>; 8] = [None; 8];
            let (mut n, mut uses) = (0, 0);
            self.topo.for_each_rule(p, |r| {
                uses += r.uses();
                if let Some(slot) = found.get_mut(n) {
                    *slot = Some(r);
                }
                n += 1;
            });
            self.publish(p, uses, cx);
            if n <= found.len() {
                for r in found[..n].iter().flatten() {
                    self.notify(r, p.idx, 1, cx, &mut next);
                }
            } else {
                self.topo
                    .for_each_rule(p, |r| self.notify(r, p.idx, 1, cx, &mut next));
            }
            return next;
        }
        // The uses must be set before the first consumer is told.
        let mut uses = 0;
        for r in rules {
            if r.covers(p.idx) {
                uses += r.uses();
            }
        }
        if uses > 0 && m.kind == Kind::Tasks {
            self.topo.states[(m.base + p.idx) as usize].store(uses, Ordering::Relaxed);
        } else {
            self.publish(p, uses, cx);
        }
        for r in rules {
            if r.notify && r.covers(p.idx) {
                self.notify(r, p.idx, 1, cx, &mut next);
            }
        }
        next
    }

    /// [`Run::complete`] for a task family with many rules and an interval
    /// index (`Topology::ivals`, outside part runs): the few rules listed
    /// for the node's interval are tested, in one pass that gives its uses
    /// and the rules whose consumers it tells, as a plain family's.
    #[inline]
    fn complete_indexed(&self, p: NodeId, cx: &Cx<'_, 'g>) -> Option<NodeId> {
        let list = self.topo.indexed_rules(p.fam, p.idx);
        let rules = &self.topo.rules;
        let (mut uses, mut tell) = (0, 0u32);
        for (j, &k) in list.iter().enumerate() {
            let r = &rules[k as usize];
            if r.covers(p.idx) {
                uses += r.uses();
                tell |= u32::from(r.tells()) << j;
            }
        }
        let mut next = None;
        if uses > 0 {
            let m = &self.topo.meta[p.fam as usize];
            self.topo.states[(m.base + p.idx) as usize].store(uses, Ordering::Relaxed);
        } else {
            self.publish(p, 0, cx);
        }
        while tell != 0 {
            let r = &rules[list[tell.trailing_zeros() as usize] as usize];
            tell &= tell - 1;
            self.notify(r, p.idx, 1, cx, &mut next);
        }
        next
    }

    /// A fused loop ended (or a source has its values): its output elements
    /// get their uses, then their consumers are told.
    fn complete_elements(&self, e: u32, cx: &Cx<'_, 'g>, next: &mut Option<NodeId>) {
        let f = self.fams[e as usize];
        let n = f.core().len;
        let m = &self.topo.meta[e as usize];
        let rules = &self.topo.rules[m.rules_lo as usize..m.rules_hi as usize];
        // Usually every reader reads the whole vector: then every element has
        // the same uses, set in one pass.
        let whole =
            |r: &Rule| r.lo == 0 && r.hi >= n && (r.kind != RuleKind::Strided || r.step == 1);
        if rules.iter().all(whole) {
            let uses = rules.iter().map(|r| r.uses()).sum();
            if uses > 0 {
                f.publish_range(0, n, uses, cx);
            } else {
                // Nobody reads them: dropped now, a panicking `Drop` caught.
                for i in 0..n {
                    self.publish(NodeId::new(e, i), 0, cx);
                }
            }
        } else {
            // Between the bounds of the rules every element has the same
            // rules: a run that none reads (a wavefront's grid, of which one
            // cell is read) is dropped at once where it can be. Swept over
            // the rules' bounds in order (`covering`: how many rules are
            // open).
            let mut bounds: Vec<(u32, i32)> = rules
                .iter()
                .flat_map(|r| [(r.lo.min(n), 1), (r.hi.min(n), -1)])
                .collect();
            bounds.push((n, 0));
            bounds.sort_unstable();
            let (mut i, mut covering) = (0, 0);
            for (b, d) in bounds {
                if b > i {
                    if covering > 0 || !f.drop_range(i, b, cx) {
                        for k in i..b {
                            let uses = self.topo.uses(NodeId::new(e, k));
                            self.publish(NodeId::new(e, k), uses, cx);
                        }
                    }
                    i = b;
                }
                covering += d;
            }
        }
        for r in &self.topo.rules[m.rules_lo as usize..m.rules_hi as usize] {
            match r.kind {
                RuleKind::Gather => self.notify(r, r.lo, r.hi - r.lo, cx, next),
                _ => {
                    for i in r.lo..r.hi.min(n) {
                        if r.covers(i) {
                            self.notify(r, i, 1, cx, next);
                        }
                    }
                }
            }
        }
    }

    /// Sets the uses of node `p`'s output. With none, the value is dropped
    /// here: a `Drop` that panics fails the run as a failure of the task
    /// that made the value (or of its loop), instead of unwinding out of the
    /// executor.
    #[inline]
    fn publish(&self, p: NodeId, uses: u32, cx: &Cx<'_, 'g>) {
        let f = self.fams[p.fam as usize];
        if uses > 0 {
            return f.publish(p.idx, uses, cx);
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
            cx.on_behalf_of(p, || f.publish(p.idx, 0, cx));
        })) {
            task::caught(cx, payload);
        }
    }

    /// Tells the consumers rule `r` gives producer `p` that `count` of their
    /// inputs are ready.
    #[inline(always)]
    fn notify(&self, r: &Rule, p: u32, count: u32, cx: &Cx<'_, 'g>, next: &mut Option<NodeId>) {
        if !r.tells() {
            return;
        }
        match r.kind {
            RuleKind::Strided => self.ready(r, r.strided_consumer(p), count, cx, next),
            RuleKind::Gather | RuleKind::Broadcast => self.tell_range(r, count, cx, next),
        }
    }

    /// Tells consumer `c` of strided rule `r` that `count` of its inputs
    /// are ready (the rule knows whether its family counts them, and where).
    #[inline(always)]
    fn ready(&self, r: &Rule, c: u32, count: u32, cx: &Cx<'_, 'g>, next: &mut Option<NodeId>) {
        // AcqRel: Release publishes the producer's output to whoever runs
        // `c`; the thread that takes the counter to zero Acquires every
        // producer's output (a release sequence of RMWs). A node with one
        // input needs no counter: this is its only notification, and the
        // hand-over (this thread, or a deque push and steal) publishes it.
        debug_assert_eq!(r.counted, !self.topo.meta[r.c_fam as usize].single);
        debug_assert_eq!(r.c_base, self.topo.meta[r.c_fam as usize].base);
        if r.counted
            && self.topo.pending[(r.c_base + c) as usize].fetch_sub(count, Ordering::AcqRel)
                != count
        {
            return;
        }
        let c = NodeId::new(r.c_fam, c);
        match *next {
            None => *next = Some(c),
            Some(n) => self.second_ready(c, n, cx, next),
        }
    }

    /// Tells the consumers of a gather or broadcast rule `r` that `count`
    /// more of its producers are done. A gather with a group counter tells
    /// them only when the last producer is: all of the range at once.
    #[inline(always)]
    fn tell_range(&self, r: &Rule, count: u32, cx: &Cx<'_, 'g>, next: &mut Option<NodeId>) {
        if r.group == rule::NO_GROUP {
            // One consumer (a gather read by one task) is told as a
            // strided rule's, inline.
            if r.step == 1 {
                return self.ready(r, r.c0, count, cx, next);
            }
            return self.ready_range(r.c_fam, r.c0, r.step, count, cx, next);
        }
        // AcqRel, as the consumers' counters: Release publishes this
        // producer's output, and the thread that takes the group to zero
        // Acquires every producer's (a release sequence of RMWs), then
        // publishes them on through the consumers' counters.
        if self.topo.groups[r.group as usize].fetch_sub(count, Ordering::AcqRel) == count {
            self.ready_range(r.c_fam, r.c0, r.step, r.hi - r.lo, cx, next)
        }
    }

    /// [`Run::ready`] for consumers `c0..c0 + n` of family `fam`, each told
    /// that `count` of its inputs are ready: their family is looked up once,
    /// and each run of consecutive consumers made ready is handed on at
    /// once ([`Run::ready_run`]). Out of line: inlined, it made the hot loop
    /// of every node's completion (`run_chain`) dearer by about 10
    /// instructions, whether or not it had such rules.
    #[inline(never)]
    fn ready_range(
        &self,
        fam: u32,
        c0: u32,
        n: u32,
        count: u32,
        cx: &Cx<'_, 'g>,
        next: &mut Option<NodeId>,
    ) {
        let m = &self.topo.meta[fam as usize];
        if m.single {
            // One input each: this is their only notification (as `ready`).
            if n > 0 {
                self.ready_run(fam, c0, c0 + n, cx, next);
            }
            return;
        }
        let b = (m.base + c0) as usize;
        // The first of the consumers made ready since the last one that was
        // not.
        let mut run = None;
        for (c, p) in (c0..).zip(&self.topo.pending[b..b + n as usize]) {
            // AcqRel: as in `ready`.
            if p.fetch_sub(count, Ordering::AcqRel) == count {
                run = run.or(Some(c));
            } else if let Some(lo) = run.take() {
                self.ready_run(fam, lo, c, cx, next);
            }
        }
        if let Some(lo) = run {
            self.ready_run(fam, lo, c0 + n, cx, next);
        }
    }

    /// Consumers `lo..hi` of family `fam` (at least one) are ready: the
    /// first is kept to run next (or pushed, as [`Run::second_ready`]
    /// decides), the others pushed as one range of nodes, which a thread
    /// runs in order, giving its upper half away when another thread is
    /// hungry (`run_range`), instead of one deque item each (a gather read
    /// by a whole step).
    /// Inlined into `ready_range`, which is out of line.
    #[inline(always)]
    fn ready_run(&self, fam: u32, lo: u32, hi: u32, cx: &Cx<'_, 'g>, next: &mut Option<NodeId>) {
        let c = NodeId::new(fam, lo);
        match *next {
            None => *next = Some(c),
            Some(k) => self.second_ready(c, k, cx, next),
        }
        match hi - lo {
            0 | 1 => {}
            2 => self.push(Job::Node(NodeId::new(fam, lo + 1)), cx.w),
            _ => self.push(
                Job::Range {
                    fam,
                    lo: lo + 1,
                    hi,
                },
                cx.w,
            ),
        }
    }

    /// A second consumer `c` is ready while `n` is kept to run next: the
    /// earlier in loop order is kept, the other pushed.
    #[inline(never)]
    fn second_ready(&self, c: NodeId, n: NodeId, cx: &Cx<'_, 'g>, next: &mut Option<NodeId>) {
        let (keep, push) = if (c.idx, c.fam) < (n.idx, n.fam) {
            (c, n)
        } else {
            (n, c)
        };
        *next = Some(keep);
        self.push(Job::Node(push), cx.w);
    }

    /// Records a task failure; the first is reported, the others counted.
    #[cold]
    pub(crate) fn fail(&self, e: Error) {
        let mut f = self.state.failure.lock().unwrap_or_else(|p| p.into_inner());
        f.tasks.push(e.task().cloned());
        if f.first.is_none() {
            f.first = Some(e);
        } else {
            self.state.more.fetch_add(1, Ordering::Relaxed);
        }
        drop(f);
        self.stop_with(FAILED);
    }

    /// The run's outcome, once it is over: the first failure (with how many
    /// more there were), or a panic of plain code to raise again.
    pub(crate) fn outcome(&self) -> Result<(), Outcome> {
        if let Some(p) = self
            .state
            .plain_panic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(Outcome::Panic(p));
        }
        match self.state.why.load(Ordering::Acquire) {
            GOING => Ok(()),
            CANCELLED => Err(Outcome::Failed(Error::Cancelled)),
            TIMED_OUT => Err(Outcome::Failed(Error::TimedOut {
                limit: self.ctl.map_or(std::time::Duration::ZERO, |c| c.limit()),
            })),
            _ => {
                let first = self
                    .state
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .first
                    .take();
                let e = first.expect("taskgraph internal error: a failed run without a failure");
                Err(Outcome::Failed(
                    e.with_others(self.state.more.load(Ordering::Relaxed)),
                ))
            }
        }
    }
}

/// The slots of a range of nodes of one family.
pub(crate) struct Slots<'r, T> {
    values: *mut std::mem::MaybeUninit<T>,
    states: &'r [AtomicU32],
}

// A copy addresses the same slots (whatever `T` is).
impl<T> Clone for Slots<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Slots<'_, T> {}

impl<'r, T> Slots<'r, T> {
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    /// Drops the live values of the range (see `Slot::teardown`); after a
    /// run that succeeded (`live` false) there are none. Returns how many
    /// `Drop`s panicked (each caught; the others are still dropped).
    pub(crate) fn teardown(&self, live: bool) -> usize {
        if (!live || !std::mem::needs_drop::<T>()) && !cfg!(debug_assertions) {
            return 0;
        }
        let mut panics = 0;
        let mut k = 0;
        while k < self.len() {
            let r = catch_unwind(AssertUnwindSafe(|| {
                while k < self.len() {
                    let s = self.get(k);
                    k += 1;
                    debug_assert!(
                        live || !s.alive(),
                        "taskgraph internal error: a value outlived its run"
                    );
                    // SAFETY: the run is over; drops only live values.
                    unsafe { s.teardown() };
                }
            }));
            if let Err(p) = r {
                panics += 1;
                task::drop_payload(p);
            }
        }
        panics
    }

    /// The range's values, lent where they lie.
    ///
    /// # Safety
    /// Every value of the range is written, and the caller holds a use of
    /// each for as long as it keeps the slice (so none is moved out or
    /// dropped meanwhile).
    #[inline(always)]
    pub(crate) unsafe fn values(&self) -> &'r [T] {
        // SAFETY: the range's cells are consecutive `MaybeUninit<T>`s of one
        // buffer, alive for the run, each initialised (the caller's
        // contract); other threads only read them while this use is held.
        unsafe { std::slice::from_raw_parts(self.values as *const T, self.len()) }
    }

    /// Slot `k` of the range.
    #[inline(always)]
    pub(crate) fn get(&self, k: usize) -> Slot<'r, T> {
        let state = &self.states[k];
        // SAFETY: `values` points at the range's first cell of a family
        // whose cells are `T` (as `Cx::slot_of`), and `k` is within the
        // range (the state index above is checked).
        unsafe { Slot::new(self.values.add(k), state) }
    }
}

/// How a run that did not succeed ended.
pub(crate) enum Outcome {
    Failed(Error),
    Panic(Box<dyn Any + Send>),
}

// ---------------------------------------------------------------------------
// What a task sees.

/// What a running task sees of its graph: where its inputs are, how many
/// consumers its output has, and the run it reports failures to.
pub struct Cx<'r, 'g> {
    pub(crate) run: &'r Run<'r, 'g>,
    pub(crate) w: &'r WorkerCtx<'r>,
    /// The task this thread runs now (see `task.rs`).
    mark: Marker,
    /// The run's observers, if any (see `task.rs`).
    observers: Option<&'r crate::observe::Observers>,
}

impl<'r, 'g> Cx<'r, 'g> {
    pub(crate) fn new(run: &'r Run<'r, 'g>, w: &'r WorkerCtx<'r>) -> Self {
        Cx {
            run,
            w,
            mark: Marker::new(),
            observers: run.watch.observers.as_deref(),
        }
    }

    /// The reader counter of `piece`'s group of readers, if they release
    /// their uses together (`Topology::reader_group`); else each reader
    /// holds one use of each value.
    #[inline(always)]
    pub(crate) fn reader_group(&self, piece: &Piece) -> Option<&'r AtomicU32> {
        self.run.topo.reader_group(piece)
    }

    /// The slot behind a lazy handle of this graph.
    #[inline(always)]
    pub(crate) fn slot<T>(&self, l: Lazy<'g, T>) -> Slot<'r, T> {
        self.slot_of(l.id)
    }

    /// The slot of node `id`, whose outputs are `T`.
    #[inline(always)]
    pub(crate) fn slot_of<T>(&self, id: NodeId) -> Slot<'r, T> {
        let m = &self.run.topo.meta[id.fam as usize];
        assert!(
            id.idx < m.len,
            "taskgraph internal error: node out of range"
        );
        let base = m.values as *mut std::mem::MaybeUninit<T>;
        let g = (m.base + id.idx) as usize;
        debug_assert!(g < self.run.topo.states.len());
        // SAFETY: the family's nodes `0..m.len` are states `m.base..m.base +
        // m.len` (`Topology::build`), and `id.idx < m.len` is checked above.
        let state = unsafe { self.run.topo.states.get_unchecked(g) };
        // SAFETY: handles to `T` values are made only by the family numbered
        // `id.fam` of this graph (the brand `'g`), whose cells are `T`; the
        // index is in bounds; `values` is that family's cell array, alive for
        // the run.
        unsafe { Slot::new(base.add(id.idx as usize), state) }
    }

    /// The slots of nodes `start..start + len` of family `fam` (whose
    /// outputs are `T`), found once for the whole range.
    #[inline]
    pub(crate) fn slots<T>(&self, fam: u32, start: u32, len: u32) -> Slots<'r, T> {
        let m = &self.run.topo.meta[fam as usize];
        assert!(
            start.checked_add(len).is_some_and(|e| e <= m.len),
            "taskgraph internal error: nodes out of range"
        );
        let b = (m.base + start) as usize;
        Slots {
            values: (m.values as *mut std::mem::MaybeUninit<T>).wrapping_add(start as usize),
            states: &self.run.topo.states[b..b + len as usize],
        }
    }

    /// Whether the run has stopped (a failure or a cancellation).
    #[inline(always)]
    pub(crate) fn stopped(&self) -> bool {
        self.run.state.flags.stop.load(Ordering::Relaxed)
    }

    /// The number of threads the run may use.
    pub(crate) fn threads(&self) -> u32 {
        self.run.state.threads
    }
}

// ---------------------------------------------------------------------------
// Cutting a range among threads.
//
// A range of source nodes (`Run::run_range`) and a fused loop's block of
// iterations (`../loops.rs`, `Each` and `Reduce`) are cut by the same two
// decisions, made here: the first cut of a range that starts on every
// thread at once (`Cx::first_piece`: about one piece per thread, so that
// every thread starts at once even if the first item is long), and while a
// piece runs, whether to give part of it away now (`Cx::give_away`).
//
// Where they cut, and how often they ask, differs on purpose:
// - a source range and an `Each` block halve what is left (`first_cut`,
//   `halve`); a `Reduce` block cuts only at aligned boundaries (its first
//   cut at `lo + size / 2`, later ones at `tree::spine_split`), so that the
//   numbering of the reduction tree's nodes does not depend on the cuts;
// - a source range asks at every node (each node is a task of its own, run
//   with its chain of consumers) and never cuts in advance; a loop block asks
//   once per chunk of iterations (`Probe` in `loops.rs` sizes the chunks, so
//   light iterations pay nothing per iteration) and keeps heavy work cut in
//   advance (`heavy`), as rayon does;
// - a source range given away is cut again when it starts; a loop makes its
//   first cut only in its first block (`first`).

impl Cx<'_, '_> {
    /// The size of the pieces a range of `n` items is first cut into: about
    /// one per thread.
    #[inline]
    pub(crate) fn first_piece(&self, n: u32) -> u32 {
        n.div_ceil(self.threads()).max(1)
    }

    /// Whether a thread with `left` items of its piece still to run should
    /// give part of them away now: another thread could take it, or this
    /// thread must hand back another graph's work, or the work is `heavy`
    /// (then the rest stays cut in advance; a piece nobody takes comes back
    /// to this thread).
    #[inline(always)]
    pub(crate) fn give_away(&self, left: u32, heavy: bool) -> bool {
        left > 1 && (heavy || self.w.hungry() || self.w.should_yield())
    }
}

/// Gives away the upper half of `cur..hi` (`give(mid, hi)`); returns `mid`,
/// the end of the half kept.
#[inline]
pub(crate) fn halve(cur: u32, hi: u32, give: impl FnOnce(u32, u32)) -> u32 {
    let mid = cur + (hi - cur).div_ceil(2);
    give(mid, hi);
    mid
}

/// The first cut of `lo..hi` into pieces of about `piece` items: gives the
/// upper half away while more than `piece` is left; returns the end of the
/// piece kept, `lo..end`.
#[inline]
pub(crate) fn first_cut(lo: u32, mut hi: u32, piece: u32, mut give: impl FnMut(u32, u32)) -> u32 {
    while hi - lo > piece {
        hi = halve(lo, hi, &mut give);
    }
    hi
}
