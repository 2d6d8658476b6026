//! Fused loops: a loop whose iterations keep their edges to themselves runs
//! as blocks of iterations, plain loops with no per-node records, split
//! lazily whenever another thread could take work. A fused loop is one node
//! of the graph (its family has one node): it waits for the values made
//! before it, and its output (a reduction, or nothing) and its output
//! elements (the vectors its iterations push onto) are ready when its last
//! block ends.
//!
//! Splits happen at aligned boundaries of the pairwise tree (`tree.rs`), so
//! a fused reduction combines exactly the pairs a node-by-node `tree_reduce`
//! would; the combine of two blocks runs on the thread that finishes the
//! second (a *join*), never waiting for the other.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::exec::cache::Cache;
use crate::exec::task::{Stopped, Tally};
use crate::exec::{
    first_cut, halve, Block, Cells, Core, Cx, ErasedFamily, Job, Kind, Ran, RunList, ROOT,
};
use crate::kept::Kept;
use crate::site::FamilyInfo;
use crate::sync::{AtomicU32, Ordering};
use crate::tree::{merge_label, small, spine_split, tree_size, Acc, SMALL};
use crate::value::slot::Slot;
use crate::value::{Brand, Lazy, LazyVec, NodeId, Piece};

/// Releases one use of node `id` (a value the loop held), typed.
type Release = unsafe fn(&Cx<'_, '_>, NodeId);

/// # Safety
/// The caller holds an unreleased use of `id`, whose values are `T`.
unsafe fn release<T>(cx: &Cx<'_, '_>, id: NodeId) {
    // SAFETY: forwarded contract; the brand is erased here, the type is not.
    unsafe { cx.slot_of::<T>(id).release() }
}

/// The iterations a fused loop runs, and what they produce.
pub trait LoopKind<'g>: Sync {
    /// The loop's own output: the reduction, the chain's last value, or `()`.
    type Output: Send + Sync;
    /// Allocates per-run storage for `n` iterations on `threads` threads.
    #[doc(hidden)]
    fn prepare(&self, n: u32, threads: u32);
    /// Runs block `b`, counting its iterations in `tally`; returns the
    /// output if this ended the loop.
    #[doc(hidden)]
    fn run_block(
        &self,
        fam: u32,
        b: Block,
        first: bool,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<Self::Output>, Stopped>;
    /// Drops what a stopped run left in per-run storage; returns how many
    /// `Drop`s panicked (caught).
    #[doc(hidden)]
    fn teardown(&self) -> usize;
}

/// A fused loop: one node whose work is `n` iterations, whose output is
/// an `O`. Its iterations (its kind: a reduction, a chain, ...) are kept by
/// the scope beside it and reached through a pointer, so a loop's set-up
/// and scheduling code is compiled once per output type, not once per loop;
/// `'k` is how long what its iterations borrow lives.
pub struct Loop<'g, 'k, O> {
    /// Its runs: one run list per dependency (each one run, node 0).
    core: Core,
    n: u32,
    kind: Option<&'k (dyn LoopKind<'g, Output = O> + 'k)>,
    /// The storage of the scope that lent this loop (`Scope::loop_family`),
    /// where its kind is kept once made.
    kept: NonNull<Kept<'g>>,
    gathers: Vec<Piece>,
    held: Vec<(NodeId, Release)>,
    out: Cells,
    /// Iterations run so far (for progress; see `exec/progress.rs`).
    iters: AtomicU32,
    /// The tasks each iteration runs, if the graph said (`Loop::tasks`).
    tasks: Option<Tasks>,
    _brand: Brand<'g>,
}

/// What each iteration of a fused loop runs, for progress.
struct Tasks {
    /// `k` tasks of each of these call sites per `per` iterations.
    body: Vec<(&'static FamilyInfo, u64)>,
    /// The call site of the reduction's combine: `n - 1` tasks in all.
    combine: Option<&'static FamilyInfo>,
    /// How many iterations run the tasks of `body` once (1, or a step
    /// loop's width).
    per: u64,
}

impl Tasks {
    /// Sets `slot` to `body`'s tasks and `combine`'s (out of line: compiled
    /// once, not once per loop).
    #[inline(never)]
    fn set(
        slot: &mut Option<Self>,
        body: &[&'static FamilyInfo],
        combine: Option<&'static FamilyInfo>,
    ) {
        *slot = Some(Tasks {
            body: body.iter().map(|&b| (b, 1)).collect(),
            combine,
            per: 1,
        });
    }

    /// Sets `slot` to `k` tasks of each call site in `body` per step of
    /// `width` values.
    #[inline(never)]
    fn per_step(slot: &mut Option<Self>, width: usize, body: &[(&'static FamilyInfo, usize)]) {
        *slot = Some(Tasks {
            body: body.iter().map(|&(b, k)| (b, k as u64)).collect(),
            combine: None,
            per: (width as u64).max(1),
        });
    }

    /// The loop's progress (see `ErasedFamily::count_tasks`): `tasks` run
    /// by `n` iterations, of which `iters` have run, or `info`'s own if the
    /// graph did not say.
    #[inline(never)]
    fn count(
        tasks: &Option<Tasks>,
        info: &'static FamilyInfo,
        n: u32,
        iters: &AtomicU32,
        finished: bool,
        add: &mut dyn FnMut(&'static FamilyInfo, u64, u64),
    ) {
        let n = u64::from(n);
        let it = if finished {
            n
        } else {
            u64::from(iters.load(Ordering::Relaxed)).min(n)
        };
        match tasks {
            Some(t) => {
                for &(info, k) in &t.body {
                    // Exact once finished (`n` is a multiple of `per`);
                    // in proportion to the iterations run before.
                    let total = n / t.per * k;
                    add(info, (it * k / t.per).min(total), total);
                }
                if let Some(c) = t.combine {
                    let total = n.saturating_sub(1);
                    let done = if finished {
                        total
                    } else {
                        it.saturating_sub(1)
                    };
                    add(c, done, total);
                }
            }
            None => add(info, it, n),
        }
    }
}

/// Sets up a loop's core for `n` iterations writing the element families
/// `elements`, keeping `n` in `iters`; returns the loop's node. `made`:
/// whether the loop had its kind already (an internal error).
#[inline(never)]
fn set_core(
    core: &mut Core,
    iters: &mut u32,
    n: usize,
    elements: &[u32],
    made: bool,
) -> Result<NodeId, Error> {
    assert!(!made, "taskgraph internal error: a loop node made twice");
    let n = u32::try_from(n)
        .ok()
        .filter(|&n| n < u32::MAX - 2)
        .ok_or_else(|| too_long(core.info))?;
    core.elements.extend_from_slice(elements);
    core.iterations = n;
    core.len = 1;
    core.at.add(0, &[]);
    *iters = n;
    Ok(NodeId::new(core.id, 0))
}

/// Releases the uses a loop `held`: its iterations are all done.
#[inline(never)]
fn release_held(held: &[(NodeId, Release)], cx: &Cx<'_, '_>) {
    for &(id, rel) in held {
        // SAFETY: the loop node held one use of each, and its iterations
        // are all done.
        unsafe { rel(cx, id) };
    }
}

// SAFETY: the kind is `Sync` (its blocks run on several threads); the output
// cell is written once, by the thread that ends the loop, under the slot
// protocol; everything else is read-only during the run. `kept` is only
// used through `&mut self`, while making the loop (`Loop::set`).
unsafe impl<O: Send + Sync> Sync for Loop<'_, '_, O> {}

// SAFETY: the kind is `Sync`, so a reference to it is `Send`; the output
// cells hold `O`s; `kept` is only used through `&mut self`, while the scope
// that owns it is borrowed by whoever holds that (`Loop::set`).
unsafe impl<O: Send> Send for Loop<'_, '_, O> {}

impl<'g, 'k, O> Loop<'g, 'k, O> {
    /// An empty loop whose kind, once made, `kept` keeps: the storage of
    /// the scope that owns the loop.
    pub(crate) fn new(id: u32, info: &'static FamilyInfo, kept: &Kept<'g>) -> Self {
        Loop {
            core: loop_core(id, info),
            n: 0,
            kind: None,
            kept: NonNull::from(kept),
            gathers: Vec::new(),
            held: Vec::new(),
            out: Cells::new(),
            iters: AtomicU32::new(0),
            tasks: None,
            _brand: PhantomData,
        }
    }

    /// Says which tasks each iteration runs, for progress counts: one task
    /// of each call site in `body`, and for a reduction `n - 1` combines of
    /// `combine` in all. Without it, progress counts each iteration as one
    /// task of the loop itself.
    #[inline]
    pub fn tasks(&mut self, body: &[&'static FamilyInfo], combine: Option<&'static FamilyInfo>) {
        Tasks::set(&mut self.tasks, body, combine);
    }

    /// Says which tasks each step of a step loop (`Loop::steps`) of
    /// `width` values runs, for progress counts: `k` tasks of each call
    /// site in `body`. Without it, progress counts each value as one task
    /// of the loop itself. A wavefront (`Loop::wave`) says it per cell
    /// (`width` 1), its calls chosen by an `if` as the loop's own.
    #[inline]
    pub fn step_tasks(&mut self, width: usize, body: &[(&'static FamilyInfo, usize)]) {
        Tasks::per_step(&mut self.tasks, width, body);
    }

    /// The loop's call site.
    pub fn info(&self) -> &'static FamilyInfo {
        self.core.info
    }

    /// The loop waits for `x`, which its iterations read (clone or borrow);
    /// the loop releases it when it ends.
    pub fn hold<T: Send + Sync>(&mut self, x: Lazy<'g, T>) -> Lazy<'g, T> {
        self.dep(x.id);
        self.held.push((x.id, release::<T>));
        x
    }

    /// The loop waits for `x`, which it consumes (a chain's first value).
    pub fn take<T: Send + Sync>(&mut self, x: Lazy<'g, T>) -> Lazy<'g, T> {
        self.dep(x.id);
        x
    }

    /// The loop waits for every element of `v`; iteration `k` consumes
    /// element `k`.
    pub fn take_all<T>(&mut self, v: &LazyVec<'g, T>) {
        self.gathers.extend_from_slice(v.pieces());
    }

    fn dep(&mut self, id: NodeId) {
        let mut r = RunList::default();
        r.add(0, id);
        self.core.runs.push(r);
        self.core.singles += 1;
    }

    /// Makes the loop `n` iterations of `kind`, writing the element
    /// families `elements`: moves `kind` into the scope's storage (all that
    /// is compiled once per loop here) and sets the loop up ([`Loop::made`]).
    #[inline(always)]
    fn set<K>(&mut self, n: usize, kind: K, elements: &[u32]) -> Result<Lazy<'g, O>, Error>
    where
        K: LoopKind<'g, Output = O> + Send + 'k,
    {
        // SAFETY: `kept` is the storage of the scope that lent this loop,
        // and `&mut self` is (part of) that loan (`Scope::loop_family`), so
        // the scope stays borrowed, in place and alive, while this runs;
        // it keeps the kind until it drops, after the loop's runs (which
        // borrow it, `Scope::execute`), and no other reference to its
        // storage is made here. Borrowing it for `'k` is what the kind's
        // own borrows allow (`K: 'k`).
        let kind: &'k K = unsafe { self.kept.as_ref() }.keep(kind);
        self.made(n, kind, elements)
    }

    /// [`Loop::set`]'s part compiled once per output type.
    #[inline(never)]
    fn made(
        &mut self,
        n: usize,
        kind: &'k (dyn LoopKind<'g, Output = O> + 'k),
        elements: &[u32],
    ) -> Result<Lazy<'g, O>, Error> {
        let made = self.kind.replace(kind).is_some();
        match set_core(&mut self.core, &mut self.n, n, elements, made) {
            Ok(id) => Ok(Lazy::new(id)),
            Err(e) => Err(e),
        }
    }
}

/// A loop's `Core`, out of line: `Loop::new` is compiled once per output type.
#[inline(never)]
fn loop_core(id: u32, info: &'static FamilyInfo) -> Core {
    Core::new(id, Kind::Loop, info)
}

#[cold]
#[inline(never)]
fn empty_reduce() -> ! {
    panic!("taskgraph internal error: a fused reduction of nothing")
}

#[cold]
#[inline(never)]
fn too_long(info: &FamilyInfo) -> Error {
    Error::GraphTooLarge {
        message: format!(
            "the loop at {}:{} has more than {} iterations",
            info.file,
            info.line,
            u32::MAX - 3
        ),
    }
}

impl<'g, O: Send + Sync> ErasedFamily<'g> for Loop<'g, '_, O> {
    fn core(&self) -> &Core {
        &self.core
    }
    fn for_each_gather(&self, f: &mut dyn FnMut(u32, Piece)) {
        gathers(&self.gathers, f)
    }
    fn prepare(&self, cache: &Cache, _: *const crate::sync::AtomicU32) -> Result<*mut u8, Error> {
        // SAFETY: before the run, single-threaded.
        unsafe { self.out.prepare::<O>(cache, self.core.len as usize) }
    }
    fn run(&self, _: u32, cx: &Cx<'_, 'g>) -> Ran {
        self.view().run(cx)
    }
    fn run_block(&self, b: Block, cx: &Cx<'_, 'g>) -> Ran {
        self.view().run_block(b, cx)
    }
    fn publish(&self, idx: u32, uses: u32, cx: &Cx<'_, 'g>) {
        // SAFETY: the loop has ended (its output is written) and its
        // consumers are told only after this.
        unsafe { self.out.publish::<O>(self.core.id, idx, uses, cx) }
    }
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize {
        self.view().teardown(cx, cache, live)
    }
    fn count_tasks(&self, finished: bool, add: &mut dyn FnMut(&'static FamilyInfo, u64, u64)) {
        Tasks::count(
            &self.tasks,
            self.core.info,
            self.n,
            &self.iters,
            finished,
            add,
        )
    }
}

impl<'g, O: Send + Sync> Loop<'g, '_, O> {
    /// The loop as its scheduling code sees it.
    #[inline(always)]
    fn view(&self) -> View<'_, 'g, O> {
        View {
            core: &self.core,
            n: self.n,
            held: &self.held,
            out: &self.out,
            iters: &self.iters,
            kind: self.kind,
        }
    }
}

/// The loop's gathers, for `ErasedFamily::for_each_gather`.
#[inline(never)]
fn gathers(gathers: &[Piece], f: &mut dyn FnMut(u32, Piece)) {
    for p in gathers {
        f(0, *p)
    }
}

/// A [`Loop`]'s parts its scheduling code reads ([`Loop::view`]).
struct View<'a, 'g, O> {
    core: &'a Core,
    n: u32,
    held: &'a [(NodeId, Release)],
    out: &'a Cells,
    iters: &'a AtomicU32,
    kind: Option<&'a dyn LoopKind<'g, Output = O>>,
}

impl<'g, O: Send + Sync> View<'_, 'g, O> {
    fn kind(&self) -> &dyn LoopKind<'g, Output = O> {
        match self.kind {
            Some(k) => k,
            None => unreachable!("taskgraph internal error: an empty loop node ran"),
        }
    }

    #[inline(never)]
    fn run(&self, cx: &Cx<'_, 'g>) -> Ran {
        let k = self.kind();
        k.prepare(self.n, cx.threads());
        self.iters.store(0, Ordering::Relaxed);
        let b = Block {
            fam: self.core.id,
            lo: 0,
            hi: self.n,
            size: tree_size(self.n),
            parent: ROOT,
        };
        let mut tally = Tally::new(self.iters);
        match k.run_block(self.core.id, b, true, &mut tally, cx) {
            Ok(Some(out)) => {
                drop(tally);
                self.finish(out, cx);
                Ran::Done
            }
            Ok(None) => Ran::Pending,
            Err(Stopped) => Ran::Stopped,
        }
    }

    #[inline(never)]
    fn run_block(&self, b: Block, cx: &Cx<'_, 'g>) -> Ran {
        let mut tally = Tally::new(self.iters);
        match self
            .kind()
            .run_block(self.core.id, b, false, &mut tally, cx)
        {
            Ok(Some(out)) => {
                self.finish(out, cx);
                Ran::Done
            }
            Ok(None) => Ran::Pending,
            Err(Stopped) => Ran::Stopped,
        }
    }

    #[inline(never)]
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize {
        let mut panics = 0;
        if let Some(k) = self.kind {
            panics += k.teardown();
        }
        // SAFETY: the run is over; the output cells hold `O`s.
        panics += unsafe { self.out.teardown::<O>(self.core, cache, live, cx) };
        panics
    }

    /// The loop's last block ended: store the output, release what it held.
    fn finish(&self, out: O, cx: &Cx<'_, 'g>) {
        release_held(self.held, cx);
        // SAFETY: the loop's consumers become ready only after the
        // executor publishes this.
        unsafe { cx.slot_of::<O>(NodeId::new(self.core.id, 0)).write_raw(out) };
    }
}

// ---------------------------------------------------------------------------
// Splitting.

/// Decides, while a block runs, how many leaves to run before looking again
/// whether to split: light work looks rarely (the chunk and the stride grow
/// while checks come fast), heavy work at every leaf.
struct Probe {
    countdown: u32,
    stride: u32,
    last: Option<Instant>,
    /// The last measured chunk was slow: heavy work, which keeps the rest
    /// of its block split in advance so an idle thread finds some at once.
    heavy: bool,
}

/// Below this time between checks, the stride grows.
const PROBE_FAST: Duration = Duration::from_micros(20);
const PROBE_MAX_STRIDE: u32 = 1 << 12;

impl Probe {
    fn new() -> Self {
        Probe {
            countdown: 1,
            stride: 1,
            last: None,
            heavy: false,
        }
    }

    /// A probe that goes on where an earlier block of the same loop left
    /// off (`hint`, from `Probe::hint`; 0: a fresh probe): a short block
    /// (a tile) need not learn again that the work is light.
    fn resume(hint: u32) -> Self {
        match hint {
            0 => Probe::new(),
            h => Probe {
                countdown: h >> 1,
                stride: h >> 1,
                last: None,
                heavy: h & 1 == 1,
            },
        }
    }

    /// What `resume` starts from.
    fn hint(&self) -> u32 {
        self.stride << 1 | u32::from(self.heavy)
    }

    /// How many leaves the next chunk may hold (a power of two <= SMALL; a
    /// reduction takes `SMALL` as up to [`CHUNK_MAX`]).
    #[inline(always)]
    fn chunk(&self) -> u32 {
        if self.stride >= 64 {
            SMALL
        } else {
            1
        }
    }

    /// Called after each chunk, `n` of the probe's size (a chunk `n` times
    /// the probe's size); true when it measured (a point at which the
    /// block publishes its progress).
    #[inline(always)]
    fn tick_by(&mut self, n: u32) -> bool {
        self.countdown = self.countdown.saturating_sub(n);
        if self.countdown == 0 {
            self.measure();
            true
        } else {
            false
        }
    }

    #[cold]
    fn measure(&mut self) {
        let now = Instant::now();
        if let Some(last) = self.last {
            if now - last < PROBE_FAST {
                self.stride = (self.stride * 2).min(PROBE_MAX_STRIDE);
                self.heavy = false;
            } else {
                self.stride = 1;
                self.heavy = true;
            }
        }
        self.last = Some(now);
        self.countdown = self.stride;
    }
}

/// The size of the aligned chunk starting at `cur` inside the block aligned
/// at `lo` (whose range is `size` long), at most `max`.
#[inline(always)]
fn chunk_at(lo: u32, size: u32, cur: u32, max: u32) -> u32 {
    let align = if cur == lo {
        size
    } else {
        1 << (cur - lo).trailing_zeros()
    };
    align.min(max)
}

// ---------------------------------------------------------------------------
// Reduce: every iteration yields a leaf of the pairwise tree.

/// A leaf of a fused reduction: iteration `k`'s value.
pub trait Leaf<'g, R>: Sync {
    /// Runs iteration `k`.
    fn leaf(&self, k: u32, cx: &Cx<'_, 'g>) -> Result<R, Stopped>;
}

/// The leaves of `tree_reduce` over a vector made before it: element `k`.
pub struct VecLeaf<'g, T> {
    v: LazyVec<'g, T>,
}

impl<'g, T: Send + Sync + Clone> Leaf<'g, T> for VecLeaf<'g, T> {
    #[inline]
    fn leaf(&self, k: u32, cx: &Cx<'_, 'g>) -> Result<T, Stopped> {
        let x = self.v.get(k as usize).expect("in range");
        // SAFETY: the loop holds one use of each element (its gather), and
        // iteration `k` is the only one that consumes element `k`.
        Ok(unsafe { cx.slot(x).take_or_clone() })
    }
}

/// Two blocks' partial results meeting at a node of the tree.
struct Join<R> {
    halves: [UnsafeCell<MaybeUninit<R>>; 2],
    /// `LEFT | RIGHT` as each half arrives; `MERGED` once taken.
    state: AtomicU32,
    /// Where the combined value goes; set by the block that makes the join,
    /// before it pushes the block that will deliver into it.
    parent: AtomicU32,
    /// The left half: `left` leaves from `start`.
    start: AtomicU32,
    left: AtomicU32,
}

const LEFT: u32 = 1;
const RIGHT: u32 = 2;
const MERGED: u32 = 4;

/// The join records of one fused reduction, and the splits of its blocks:
/// generic over the value type only, so a program instantiates them once
/// per reduced type, not once per loop (the leaves and the combine are the
/// loop's own).
struct Joins<R> {
    joins: UnsafeCell<Vec<Join<R>>>,
    next_join: AtomicU32,
}

// SAFETY: a join's halves are written by the two blocks that end below it,
// each exactly once, and read by the one whose arrival completes the pair
// (the `AcqRel` on `state` orders them); the join vector is allocated in
// `prepare`, before any block runs, and only indexed afterwards.
unsafe impl<R: Send> Sync for Joins<R> {}

/// A block's place in its reduction's tree while it runs: its range, the
/// size of the aligned subtree it covers and the join it delivers into.
struct Place {
    lo: u32,
    hi: u32,
    size: u32,
    parent: u32,
}

/// Hands block `lo..hi` (a subtree of `size` leaves delivering into
/// `parent`) of loop `fam` to the run.
fn push_block(cx: &Cx<'_, '_>, fam: u32, lo: u32, hi: u32, size: u32, parent: u32) {
    cx.run.push(
        Job::Block(Block {
            fam,
            lo,
            hi,
            size,
            parent,
        }),
        cx.w,
    )
}

impl<R> Joins<R> {
    fn new() -> Self {
        Joins {
            joins: UnsafeCell::new(Vec::new()),
            next_join: AtomicU32::new(0),
        }
    }

    /// Claims `k` join records, if there are that many left.
    fn claim(&self, k: u32) -> Option<u32> {
        // SAFETY: the vector is not resized during the run.
        let cap = unsafe { (*self.joins.get()).len() } as u32;
        let j = self.next_join.fetch_add(k, Ordering::Relaxed);
        if j.checked_add(k).is_some_and(|e| e <= cap) {
            Some(j)
        } else {
            None
        }
    }

    fn join(&self, j: u32) -> &Join<R> {
        // SAFETY: as in `claim`; `j` was claimed.
        unsafe { &(&*self.joins.get())[j as usize] }
    }

    /// Sets up claimed join `j`. A claimed join is set up only by the block
    /// that claimed it, before it pushes the block that will deliver into
    /// it (the push publishes the set-up to whoever runs that block).
    fn set(&self, j: u32, parent: u32, start: u32, left: u32, filled: Option<R>) {
        let jr = self.join(j);
        jr.parent.store(parent, Ordering::Relaxed);
        jr.start.store(start, Ordering::Relaxed);
        jr.left.store(left, Ordering::Relaxed);
        if let Some(v) = filled {
            // SAFETY: a new join's left half is ours to write; nobody
            // reads it before the right half arrives.
            unsafe { (*jr.halves[0].get()).write(v) };
            jr.state.store(LEFT, Ordering::Release);
        }
    }

    /// Allocates the join records for `n` iterations on `threads` threads.
    #[inline(never)]
    fn prepare(&self, n: u32, threads: u32) {
        let cap = if threads > 1 {
            (4 * n).min(256 * threads).max(64)
        } else {
            0
        };
        // SAFETY: called by `run`, before any block of this loop exists.
        let joins = unsafe { &mut *self.joins.get() };
        joins.clear();
        joins.extend((0..cap).map(|_| Join {
            halves: [
                UnsafeCell::new(MaybeUninit::uninit()),
                UnsafeCell::new(MaybeUninit::uninit()),
            ],
            state: AtomicU32::new(0),
            parent: AtomicU32::new(ROOT),
            start: AtomicU32::new(0),
            left: AtomicU32::new(0),
        }));
        self.next_join.store(0, Ordering::Relaxed);
    }

    /// A new loop starts on every thread at once: cuts about one piece
    /// each off `b` (`exec::first_cut`'s cut, at aligned boundaries).
    #[inline(never)]
    fn first_cut(&self, b: &mut Place, fam: u32, cx: &Cx<'_, '_>) {
        let piece = cx.first_piece(b.hi - b.lo);
        while b.hi - b.lo > piece && b.size > 1 {
            let mid = b.lo + b.size / 2;
            if mid >= b.hi {
                b.size /= 2;
                continue;
            }
            let Some(j) = self.claim(1) else { break };
            self.set(j, b.parent, b.lo, b.size / 2, None);
            push_block(cx, fam, mid, b.hi, b.size / 2, 2 * j + 1);
            b.parent = 2 * j;
            b.hi = mid;
            b.size /= 2;
        }
    }

    /// Gives away the rest of block `b`, which has run up to `cur`, along
    /// the tree's spine: true if it did (`b` is then the part kept).
    #[inline(never)]
    fn spine_cut(
        &self,
        b: &mut Place,
        cur: u32,
        acc: &mut Acc<R>,
        fam: u32,
        cx: &Cx<'_, '_>,
    ) -> bool {
        let Some((m, z)) = spine_split(b.lo, b.size, b.hi, cur) else {
            return false;
        };
        // Spine nodes above the one of 2z leaves: their left halves are done
        // (the bottom entries of `acc`).
        let above = (b.size / (2 * z)).trailing_zeros();
        let Some(j0) = self.claim(above + 1) else {
            return false;
        };
        let (mut st, mut s) = (b.lo, b.size);
        for i in 0..above {
            let (v, vs, vz) = acc.pop_bottom().expect("a finished left half");
            debug_assert_eq!((vs, vz), (st, s / 2));
            self.set(j0 + i, b.parent, st, s / 2, Some(v));
            b.parent = 2 * (j0 + i) + 1;
            st += s / 2;
            s /= 2;
        }
        let jp = j0 + above;
        self.set(jp, b.parent, m - z, z, None);
        push_block(cx, fam, m, b.hi, z, 2 * jp + 1);
        b.parent = 2 * jp;
        b.lo = m - z;
        b.size = z;
        b.hi = m;
        true
    }

    /// Writes `v`, the result of the block below `parent`, into its join:
    /// the join's two halves, its label and the join above it if this
    /// completed the pair, `None` if the other half is still to come.
    #[inline(never)]
    fn arrive(&self, parent: u32, v: R) -> Option<(R, R, (u32, u32), u32)> {
        let j = self.join(parent / 2);
        let side = parent % 2;
        // SAFETY: only the block below this side writes it, once.
        unsafe { (*j.halves[side as usize].get()).write(v) };
        let bit = if side == 0 { LEFT } else { RIGHT };
        let prev = j.state.fetch_or(bit, Ordering::AcqRel);
        if prev & (LEFT | RIGHT) == 0 {
            return None;
        }
        j.state.fetch_or(MERGED, Ordering::Relaxed);
        // SAFETY: both halves are written (the AcqRel above saw the other's
        // arrival) and `MERGED` keeps the teardown off them.
        let (a, b) = unsafe {
            (
                (*j.halves[0].get()).assume_init_read(),
                (*j.halves[1].get()).assume_init_read(),
            )
        };
        let label = merge_label(
            j.start.load(Ordering::Relaxed),
            j.left.load(Ordering::Relaxed),
        );
        Some((a, b, label, j.parent.load(Ordering::Relaxed)))
    }

    #[inline(never)]
    fn teardown(&self) -> usize {
        // SAFETY: the run is over.
        let joins = unsafe { &mut *self.joins.get() };
        let used = (self.next_join.load(Ordering::Relaxed) as usize).min(joins.len());
        let mut panics = 0;
        for j in &joins[..used] {
            let s = j.state.swap(MERGED, Ordering::Acquire);
            if s & MERGED == 0 {
                for (bit, half) in [(LEFT, &j.halves[0]), (RIGHT, &j.halves[1])] {
                    if s & bit != 0 {
                        // SAFETY: written and never taken; `MERGED` (set
                        // above) keeps it from being dropped twice.
                        let r = catch_unwind(AssertUnwindSafe(|| unsafe {
                            (*half.get()).assume_init_drop()
                        }));
                        if let Err(p) = r {
                            panics += 1;
                            crate::exec::task::drop_payload(p);
                        }
                    }
                }
            }
        }
        joins.clear();
        panics
    }
}

/// A fused loop whose iterations are reduced in the pairwise tree.
pub struct Reduce<R, L, C> {
    leaf: L,
    combine: C,
    joins: Joins<R>,
}

/// The most leaves in one chunk of a fused reduction while the work is
/// light (`SMALL` runs of `SMALL`): the block looks whether to split, and
/// the probe ticks, once per chunk.
const CHUNK_MAX: u32 = SMALL * SMALL;

/// [`Reduce::run_block`]'s part that is the loop's own code: a run of
/// `SMALL` leaves as straight-line code, one leaf, and its combine. The rest
/// of a block's run ([`reduce_block`], [`chunks`]: the probe, the splits,
/// the partial results in [`Acc`]) calls these through a pointer, once per
/// run of `SMALL` (or per leaf, where the work is heavy or the block ends)
/// and per merge above a run, so a program compiles it once per value type,
/// not once per loop; the loop's own code has no loop of its own.
trait Leaves<'g, R> {
    /// Runs the aligned `SMALL` leaves from `k` on: their reduction.
    fn small(&self, k: u32, cx: &Cx<'_, 'g>) -> Result<R, Stopped>;

    /// Runs leaf `k`.
    fn leaf(&self, k: u32, cx: &Cx<'_, 'g>) -> Result<R, Stopped>;

    /// The combine at `(level, position)`.
    fn combine(&self, a: R, b: R, lv: u32, lp: u32, cx: &Cx<'_, 'g>) -> R;
}

impl<'g, R, L, C> Leaves<'g, R> for Reduce<R, L, C>
where
    R: Send + Sync,
    L: Leaf<'g, R>,
    C: Fn(R, R, u32, u32, &Cx<'_, 'g>) -> R + Sync,
{
    fn small(&self, k: u32, cx: &Cx<'_, 'g>) -> Result<R, Stopped> {
        small(
            k,
            &|k: u32| self.leaf.leaf(k, cx),
            &|a: R, b: R, lv: u32, lp: u32| Ok((self.combine)(a, b, lv, lp, cx)),
        )
    }

    fn leaf(&self, k: u32, cx: &Cx<'_, 'g>) -> Result<R, Stopped> {
        self.leaf.leaf(k, cx)
    }

    fn combine(&self, a: R, b: R, lv: u32, lp: u32, cx: &Cx<'_, 'g>) -> R {
        (self.combine)(a, b, lv, lp, cx)
    }
}

/// Runs the chunks of block `s` from `cur` on, pushing their results onto
/// `acc`, until the block ends or, before a chunk (but the first unless
/// `ask`), another thread could take part of it ([`Cx::give_away`]);
/// returns where it stopped. A chunk is an aligned node of the tree: its
/// runs of `SMALL` leaves go to the loop's straight-line code, the rest (the
/// block's end, or heavy work) leaf by leaf; the same pairs merge either
/// way.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chunks<'g, R>(
    leaves: &dyn Leaves<'g, R>,
    s: &Place,
    mut cur: u32,
    mut ask: bool,
    acc: &mut Acc<R>,
    probe: &mut Probe,
    tally: &mut Tally<'_>,
    cx: &Cx<'_, 'g>,
) -> Result<u32, Stopped> {
    let merge = |a: R, b: R, lv: u32, lp: u32| Ok(leaves.combine(a, b, lv, lp, cx));
    while cur < s.hi {
        cx.check()?;
        if ask && cx.give_away(s.hi - cur, probe.heavy) {
            return Ok(cur);
        }
        ask = true;
        let max = match probe.chunk() {
            SMALL => CHUNK_MAX,
            c => c,
        };
        let c = chunk_at(s.lo, s.size, cur, max);
        let end = (cur + c).min(s.hi);
        // Runs of `SMALL` while they fit (aligned: `cur` is aligned to `c`),
        // then leaf by leaf.
        let mut k = cur;
        while k < end {
            let (v, n) = if end - k >= SMALL {
                (leaves.small(k, cx)?, SMALL)
            } else {
                (leaves.leaf(k, cx)?, 1)
            };
            acc.push(v, k, n, &merge)?;
            k += n;
        }
        tally.add(end - cur);
        cur = end;
        // The probe counts chunks of its own size.
        if probe.tick_by(c.div_ceil(probe.chunk())) {
            tally.publish();
        }
    }
    Ok(cur)
}

/// Hands `v`, the result of the block below `parent`, up the tree: to the
/// join waiting for it, combining when both halves are there. Returns the
/// root's value if this ended the loop.
fn deliver<R>(
    joins: &Joins<R>,
    mut parent: u32,
    mut v: R,
    combine: &dyn Fn(R, R, u32, u32) -> R,
) -> Option<R> {
    loop {
        if parent == ROOT {
            return Some(v);
        }
        let (a, b, (lv, lp), up) = joins.arrive(parent, v)?;
        v = combine(a, b, lv, lp);
        parent = up;
    }
}

/// Runs block `b` of a reduction whose own code is `leaves`: splits it
/// while it runs, and hands its result up the tree ([`deliver`]).
#[inline(never)]
fn reduce_block<'g, R: Send + Sync>(
    joins: &Joins<R>,
    leaves: &dyn Leaves<'g, R>,
    fam: u32,
    b: Block,
    first: bool,
    tally: &mut Tally<'_>,
    cx: &Cx<'_, 'g>,
) -> Result<Option<R>, Stopped> {
    let started = cx.block_started(fam, b.lo, b.hi);
    let mut s = Place {
        lo: b.lo,
        hi: b.hi,
        size: tree_size(b.hi - b.lo).min(b.size),
        parent: b.parent,
    };
    if first && cx.threads() > 1 {
        joins.first_cut(&mut s, fam, cx);
    }
    let mut acc = Acc::new();
    let mut cur = s.lo;
    let mut probe = Probe::new();
    let mut ask = true;
    while cur < s.hi {
        cur = chunks(leaves, &s, cur, ask, &mut acc, &mut probe, tally, cx)?;
        // Stopped short, another thread could take part of the block: a
        // cut asks again before the next chunk; none runs one first.
        ask = cur < s.hi && joins.spine_cut(&mut s, cur, &mut acc, fam, cx);
    }
    tally.publish();
    cx.block_finished(started, b.lo, s.hi);
    let Some(v) = acc.finish(&|a, b, lv, lp| Ok(leaves.combine(a, b, lv, lp, cx)))? else {
        return Ok(None);
    };
    Ok(deliver(joins, s.parent, v, &|a, b, lv, lp| {
        leaves.combine(a, b, lv, lp, cx)
    }))
}

impl<'g, R, L, C> LoopKind<'g> for Reduce<R, L, C>
where
    R: Send + Sync,
    L: Leaf<'g, R>,
    C: Fn(R, R, u32, u32, &Cx<'_, 'g>) -> R + Sync,
{
    type Output = R;

    fn prepare(&self, n: u32, threads: u32) {
        self.joins.prepare(n, threads);
    }

    fn run_block(
        &self,
        fam: u32,
        b: Block,
        first: bool,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<R>, Stopped> {
        reduce_block(&self.joins, self, fam, b, first, tally, cx)
    }

    fn teardown(&self) -> usize {
        self.joins.teardown()
    }
}

// ---------------------------------------------------------------------------
// Each: iterations whose outputs are pushed (elements) or that only run.

/// A fused loop whose iterations yield nothing but their output elements.
pub struct Each<L> {
    leaf: L,
    remaining: AtomicU32,
}

impl<'g, L: Fn(u32, &Cx<'_, 'g>) -> Result<(), Stopped> + Sync> LoopKind<'g> for Each<L> {
    type Output = ();

    fn prepare(&self, n: u32, _: u32) {
        self.remaining.store(n, Ordering::Relaxed);
    }

    fn run_block(
        &self,
        fam: u32,
        b: Block,
        first: bool,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<()>, Stopped> {
        let (lo, mut hi) = (b.lo, b.hi);
        if hi == lo {
            return Ok((self.remaining.load(Ordering::Acquire) == 0).then_some(()));
        }
        let started = cx.block_started(fam, lo, hi);
        let push = |lo: u32, hi: u32| push_block(cx, fam, lo, hi, 0, ROOT);
        let mut probe = Probe::new();
        hi = run_range(
            lo,
            hi,
            first,
            true,
            1,
            &mut probe,
            tally,
            cx,
            push,
            |a, b| {
                for k in a..b {
                    (self.leaf)(k, cx)?;
                }
                Ok(())
            },
        )?;
        tally.publish();
        cx.block_finished(started, lo, hi);
        let done = hi - lo;
        Ok((self.remaining.fetch_sub(done, Ordering::AcqRel) == done).then_some(()))
    }

    fn teardown(&self) -> usize {
        0
    }
}

// ---------------------------------------------------------------------------
// Chain: a value carried through every iteration, on one thread.

/// A fused loop-carried chain: `s = step(k, s)` for every iteration.
pub struct Chain<I, F> {
    init: I,
    step: F,
}

impl<'g, S, I, F> LoopKind<'g> for Chain<I, F>
where
    S: Send + Sync,
    I: Fn(&Cx<'_, 'g>) -> S + Sync,
    F: Fn(u32, S, &Cx<'_, 'g>) -> Result<S, Stopped> + Sync,
{
    type Output = S;

    fn prepare(&self, _: u32, _: u32) {}

    fn run_block(
        &self,
        fam: u32,
        b: Block,
        _: bool,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<S>, Stopped> {
        let started = cx.block_started(fam, b.lo, b.hi);
        let mut s = (self.init)(cx);
        // Checks for a stop between stretches of 256 steps; each stretch is
        // a plain loop, which the compiler optimises as if written by hand.
        // Progress is published every 16 stretches.
        let mut k = b.lo;
        let mut stretches = 0u32;
        while k < b.hi {
            cx.check()?;
            let end = b.hi.min(k.saturating_add(256));
            for j in k..end {
                s = (self.step)(j, s, cx)?;
            }
            tally.add(end - k);
            k = end;
            stretches += 1;
            if stretches.is_multiple_of(16) {
                tally.publish();
            }
        }
        tally.publish();
        cx.block_finished(started, b.lo, b.hi);
        Ok(Some(s))
    }

    fn teardown(&self) -> usize {
        0
    }
}

// ---------------------------------------------------------------------------
// Steps: a vector rebuilt from the one before, step after step, in tiles.

/// The values of the step before that a block of a step loop may read:
/// cells `lo..lo + len` of the step's input buffer, which no other block writes
/// while this one runs (see `Tiles`). Only these cells are ever referenced,
/// never the buffer as a whole: other cells of it may be written meanwhile
/// by the next step's tiles.
pub struct Prev<'a, T> {
    cells: *const T,
    /// The cells are `lo..lo + len`.
    lo: usize,
    len: usize,
    _p: PhantomData<&'a T>,
}

// Three words, passed by value to each value's closure.
impl<T> Clone for Prev<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Prev<'_, T> {}

impl<'a, T> Prev<'a, T> {
    /// Value `k` of the step before.
    ///
    /// # Panics
    /// If `k` is outside the reach the loop declared for this block (an
    /// internal error: the declared reach is what keeps other tiles off).
    #[inline(always)]
    pub fn get(&self, k: usize) -> &'a T {
        // One comparison: `k < lo` wraps to a large number.
        assert!(
            k.wrapping_sub(self.lo) < self.len,
            "taskgraph internal error: a step read outside its declared reach"
        );
        // SAFETY: `k` is in `lo..lo + len`, cells of the step before that are
        // filled and that no block writes while this one runs (see
        // `Tiles`); the buffer outlives the block.
        unsafe { &*self.cells.add(k) }
    }

    /// Values `first..first + n` of the step before, checked once: a run of
    /// values of the inner loop reads them by constant offsets, as plain
    /// slice reads the compiler can see through.
    ///
    /// # Panics
    /// As `get`, if any of them is outside the declared reach.
    #[inline(always)]
    pub fn window(&self, first: usize, n: usize) -> &'a [T] {
        let off = first.wrapping_sub(self.lo);
        assert!(
            off <= self.len && n <= self.len - off,
            "taskgraph internal error: a step read outside its declared reach"
        );
        // SAFETY: as in `get`, for each of these cells.
        unsafe { std::slice::from_raw_parts(self.cells.add(first), n) }
    }
}

/// How many tiles each thread gets: two let the tiles at the two ends of a
/// step be a step or more apart (so a slow value at one end does not hold
/// up the other), and each tile costs its arrivals and maybe a hand-off: on
/// two threads the zero-work stencil ran best with two a thread (one a
/// thread is a barrier again: two tiles that wait for each other), a
/// stencil with one slow value a step, alternating ends, as well as with
/// four (`benches/README.md`).
const TILES_PER_THREAD: u32 = 2;

/// The tiles of a step loop and their dependencies, set up by `prepare`.
///
/// The `width` values of a step are cut into `count` tiles of `size`
/// values (the last may be shorter). Tile `i` of step `t` reads the cells
/// `read[i]` of buffer `t % 2` and writes its own cells of buffer
/// `(t + 1) % 2`. It may run once every tile of `deps(i)` has finished
/// step `t - 1`, where `deps(i)` is
/// - `i` itself (its cells were last written by its own step `t - 2`),
/// - the tiles whose cells `read[i]` covers (they wrote what it reads, at
///   step `t - 1`: read after write), and
/// - the tiles whose `read` covers `i`'s cells: at step `t - 1` they read
///   buffer `(t - 1) % 2`, which is the buffer `i` now overwrites (write
///   after read; with two buffers a tile of step `t` overwrites what step
///   `t - 1` read, and those readers are exactly these tiles).
///
/// The relation is symmetric (`j` in `deps(i)` iff `i` in `deps(j)`), so
/// neighbouring tiles are never more than one step apart: a tile of step
/// `t + 1` waits for its neighbours' step `t`, which waited for its own
/// step `t - 1`. Hence no two blocks touch the same cell at once, and each
/// tile's arrivals come in step order per parity: `arrived[s % 2]` of tile `i`
/// counts the neighbours that finished a step of parity `(s - 1) % 2`; the
/// arrivals for step `s + 2` need tile `i`'s step `s + 1`, which needs all
/// of those for step `s`. So step `s` (>= 1) of tile `i` is ready exactly
/// when that count reaches `ceil(s / 2) * deps(i).len()`, and the
/// thread whose arrival reaches it starts the tile (the counters never go
/// back; `steps * width < 2^32` bounds them).
struct Tiles {
    size: u32,
    count: u32,
    /// `deps(i)` is `deps[start[i]..start[i + 1]]`, sorted.
    start: Vec<u32>,
    deps: Vec<u32>,
    /// The cells of the step before tile `i` reads (`lo..hi`, maybe empty).
    read: Vec<(u32, u32)>,
    /// Each tile's counters, a cache line each: neighbouring tiles run on
    /// different threads.
    state: Vec<TileState>,
    /// Scratch for building `deps`, kept between runs.
    pairs: Vec<(u32, u32)>,
}

impl Tiles {
    fn new() -> Self {
        Tiles {
            size: 1,
            count: 0,
            start: Vec::new(),
            deps: Vec::new(),
            read: Vec::new(),
            state: Vec::new(),
            pairs: Vec::new(),
        }
    }

    /// The tile size for `width` values on `threads` threads: the whole
    /// step on one thread (no dependencies to count), else
    /// `TILES_PER_THREAD` tiles a thread. A tile's blocks still split when
    /// another thread is hungry, so heavy values spread out however few
    /// tiles there are.
    fn size_for(width: u32, threads: u32) -> u32 {
        if threads <= 1 {
            return width.max(1);
        }
        width
            .div_ceil(threads.saturating_mul(TILES_PER_THREAD))
            .max(1)
    }

    /// Sets up the tiles of `width` values of `size`, value `k` reading the
    /// cells `reads(k)` (inclusive) of the step before.
    #[inline(never)]
    fn prepare(&mut self, width: u32, size: u32, reads: &dyn Fn(u32) -> Option<(usize, usize)>) {
        let count = width.div_ceil(size);
        (self.size, self.count) = (size, count);
        self.read.clear();
        for i in 0..count {
            let (lo, hi) = (i * size, ((i + 1) * size).min(width));
            let mut r: Option<(usize, usize)> = None;
            for k in lo..hi {
                if let Some((a, b)) = reads(k) {
                    r = Some(match r {
                        Some((x, y)) => (x.min(a), y.max(b)),
                        None => (a, b),
                    });
                }
            }
            // Clamped to the buffer (the expansion checked the reads are
            // in range; reading outside `read` panics in `Prev::get`).
            self.read.push(match r {
                Some((a, b)) if a < width as usize && a <= b => {
                    (a as u32, (b.min(width as usize - 1) + 1) as u32)
                }
                _ => (0, 0),
            });
        }
        let pairs = &mut self.pairs;
        pairs.clear();
        for i in 0..count {
            pairs.push((i, i));
            let (a, b) = self.read[i as usize];
            if a < b {
                for j in a / size..=(b - 1) / size {
                    pairs.push((i, j));
                    pairs.push((j, i));
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        self.start.clear();
        self.deps.clear();
        let mut p = 0;
        for i in 0..count {
            self.start.push(self.deps.len() as u32);
            while p < pairs.len() && pairs[p].0 == i {
                self.deps.push(pairs[p].1);
                p += 1;
            }
        }
        self.start.push(self.deps.len() as u32);
        self.state.clear();
        self.state.extend((0..count).map(|_| TileState {
            arrived: [AtomicU32::new(0), AtomicU32::new(0)],
            remaining: AtomicU32::new(0),
        }));
    }

    fn deps(&self, i: u32) -> &[u32] {
        &self.deps[self.start[i as usize] as usize..self.start[i as usize + 1] as usize]
    }

    /// Tile `i`'s values.
    fn range(&self, i: u32, width: u32) -> (u32, u32) {
        (i * self.size, ((i + 1) * self.size).min(width))
    }

    /// Tile `i` finished a step; it arrives for step `s` (the next) of each
    /// tile that depends on it. Calls `ready` with each tile this made
    /// ready, its `remaining` set for the step.
    #[inline]
    fn arrive(&self, i: u32, s: u32, width: u32, mut ready: impl FnMut(u32)) {
        for &m in self.deps(i) {
            let need = s.div_ceil(2) * (self.start[m as usize + 1] - self.start[m as usize]);
            // AcqRel: the arrivals form one release sequence, so the thread
            // that makes the last sees every dependency's writes (read
            // after write) and reads (write after read) of step `s - 1`.
            let st = &self.state[m as usize];
            if st.arrived[(s % 2) as usize].fetch_add(1, Ordering::AcqRel) + 1 == need {
                let (lo, hi) = self.range(m, width);
                // Relaxed: the tile's previous step ended before the
                // arrival above (it is its own dependency); its next blocks
                // start after this (in place, or through the deque).
                st.remaining.store(hi - lo, Ordering::Relaxed);
                ready(m);
            }
        }
    }
}

/// A tile's counters (see `Tiles`).
#[repr(align(64))]
struct TileState {
    /// Arrivals for the steps of each parity.
    arrived: [AtomicU32; 2],
    /// Values of the tile's current step still to make (a tile's blocks
    /// split like an `each` loop's when another thread is hungry).
    remaining: AtomicU32,
}

/// How many diamonds a row of them has per thread when a step loop runs as
/// trapezoids (`Trap`): one makes the phases longest (a diamond is at
/// least `4 * reach` wide, a phase `width / (2 * count * reach)` steps) and
/// the hand-offs fewest; heavy values split between threads inside a
/// piece.
const TRAP_TILES_PER_THREAD: u32 = 1;

/// A step loop whose values read only cells within `reach` of their own,
/// run as trapezoids: the steps are cut into phases of `k` steps and the
/// values into `2 * count` half-tiles of `reach * k` values or more, whose
/// ends are `bounds` (`bounds[m] = m * width / (2 * count)`); in each phase
/// piece `m` (`0..=2 * count`) is centred at `bounds[m]`, so that
/// neighbouring threads meet once a phase, not once a step.
///
/// - Piece `m` is *upright* in phase `p` if `m + p` is odd: at the `s`-th
///   step of the phase (`s` from 1) it makes `bounds[m - 1] + s * reach ..
///   bounds[m + 1] - s * reach` (from 0 at the left edge, to `width` at the
///   right one): what it can make from its own values of the step before.
///   Uprights of one phase never wait for each other.
/// - Piece `m` is *inverted* in phase `p` if `m + p` is even: it makes
///   `bounds[m] - s * reach .. bounds[m] + s * reach` (clipped to the
///   step), the two uprights beside it left out, and waits for both (for
///   the one at the edges).
/// - Piece `m` of phase `p + 1` is then upright and needs only what the
///   inverted piece `m` of phase `p` made and what that piece waited for:
///   the thread that ends the one goes straight on with the other, an
///   inverted piece and the upright above it making one *diamond* of `2k`
///   steps.
///
/// So phases alternate: the uprights of even phases are centred at odd `m`
/// (two half-tiles each), with half inverted pieces growing at both edges;
/// those of odd phases are centred at even `m`, the two at the edges one
/// half-tile wide. With one diamond a thread, every row of diamonds is one
/// diamond's work a thread (in every other row, the two halves at the
/// edges count as one): every thread works in every phase, where tiles
/// that keep their place each phase leave the inverted piece between two
/// of them running alone (a quarter of each phase's work on two threads).
///
/// With every half-tile at least `k * reach` wide no two pieces that may
/// run at once touch the same cell, and two buffers suffice (step `t`
/// reads buffer `t % 2` and writes the other; a block of values `lo..hi`
/// reads `lo - reach..hi + reach`): an inverted piece `m` reads, at most,
/// `bounds[m - 1] - reach .. bounds[m + 1] + reach`, and what else may run
/// meanwhile (uprights of the next phase at `m +- 2`, inverted pieces of
/// this one at `m +- 2`) writes from `bounds[m + 1] + reach` up (the same
/// on the left) or into the other buffer; an upright's step `s + 2`
/// overwrites step `s` only `reach` inside the cells its own step `s + 1`
/// made (`trap_tests::check` checks every case on small loops).
/// Piece `m`'s counter counts arrivals only while it is inverted, and only
/// grows: inverted `m` of phase `p` is ready when its arrivals reach
/// `(p / 2 + 1)` times its neighbours (1 at the edges, else 2).
struct Trap {
    /// Diamonds in a row of them (`count` threads); 0 if the loop runs step
    /// by step (`Tiles`). The pieces are `0..=2 * count`.
    count: u32,
    /// Piece `m` is centred at `bounds[m]`, half-tile `i` is
    /// `bounds[i]..bounds[i + 1]`.
    bounds: Vec<u32>,
    reach: u32,
    /// Steps a phase.
    k: u32,
    /// Each piece's counters.
    state: Vec<TileState>,
}

impl Trap {
    fn new() -> Self {
        Trap {
            count: 0,
            bounds: Vec::new(),
            reach: 0,
            k: 0,
            state: Vec::new(),
        }
    }

    /// Sets up trapezoids for `steps` steps of `width` values on `threads`
    /// threads, value `v` reading `reads(v)`; leaves `count` 0 where they
    /// would not help: one thread, or reads too far for phases of two
    /// steps or more in two diamonds or more.
    #[inline(never)]
    fn prepare(
        &mut self,
        width: u32,
        steps: u32,
        threads: u32,
        reads: &dyn Fn(u32) -> Option<(usize, usize)>,
    ) {
        self.count = 0;
        if threads <= 1 || steps < 2 {
            return;
        }
        let mut reach = 0usize;
        for v in 0..width {
            if let Some((a, b)) = reads(v) {
                let v = v as usize;
                reach = reach.max(v.saturating_sub(a)).max(b.saturating_sub(v));
            }
        }
        let mut count = threads.saturating_mul(TRAP_TILES_PER_THREAD);
        if reach > 0 {
            // Half-tiles at least `2 * reach` wide: phases of two steps or
            // more.
            let most = (width as usize / reach.saturating_mul(4)).min(u32::MAX as usize);
            count = count.min(most as u32);
        }
        if count < 2 {
            return;
        }
        let narrowest = width / (2 * count);
        let k = match reach {
            0 => steps,
            r => (narrowest as usize / r).min(steps as usize) as u32,
        };
        if k < 2 {
            return;
        }
        self.count = count;
        self.reach = reach as u32;
        self.k = k;
        self.bounds.clear();
        self.bounds.extend(
            (0..=2 * count)
                .map(|m| (u64::from(m) * u64::from(width) / u64::from(2 * count)) as u32),
        );
        self.state.clear();
        self.state.extend((0..self.pieces()).map(|_| TileState {
            arrived: [AtomicU32::new(0), AtomicU32::new(0)],
            remaining: AtomicU32::new(0),
        }));
    }

    /// The pieces of a phase.
    fn pieces(&self) -> u32 {
        2 * self.count + 1
    }

    /// Whether piece `q` is upright in phase `p` (else inverted).
    fn upright(q: u32, p: u32) -> bool {
        (q + p) % 2 == 1
    }

    /// Whether piece `q` is at an edge: half the work of the others.
    fn edge(&self, q: u32) -> bool {
        q == 0 || q == 2 * self.count
    }

    /// The values piece `q` makes at step `t` (maybe none).
    #[inline]
    fn range(&self, q: u32, t: u32) -> (u32, u32) {
        let s = (t % self.k + 1) * self.reach;
        let b = &self.bounds;
        let q = q as usize;
        if Trap::upright(q as u32, t / self.k) {
            let lo = if q > 0 { b[q - 1] + s } else { 0 };
            let hi = if q + 1 < b.len() { b[q + 1] - s } else { b[q] };
            (lo, hi.max(lo))
        } else {
            (b[q].saturating_sub(s), (b[q] + s).min(b[b.len() - 1]))
        }
    }

    /// The cells of the step before a block of values `lo..hi` may read.
    fn window(&self, lo: u32, hi: u32, width: u32) -> (u32, u32) {
        (lo.saturating_sub(self.reach), (hi + self.reach).min(width))
    }

    /// Upright `q` finished phase `p`: arrives at the inverted pieces
    /// beside it (same phase); calls `ready` with each it made ready.
    #[inline]
    fn arrive(&self, q: u32, p: u32, mut ready: impl FnMut(u32)) {
        self.arrive_targets(q, p, |m, _| {
            let neighbours = u32::from(m > 0) + u32::from(m < 2 * self.count);
            let need = (p / 2 + 1) * neighbours;
            // AcqRel: the arrivals at a piece form one release sequence,
            // so the thread that makes the last sees every writer's and
            // reader's work of the pieces it waits for (see `Trap`).
            if self.state[m as usize].arrived[0].fetch_add(1, Ordering::AcqRel) + 1 == need {
                ready(m);
            }
        })
    }

    /// The pieces that wait for piece `q` of phase `p`, with their phase:
    /// the inverted ones beside an upright (same phase), or the upright
    /// above an inverted one (next phase; the same thread runs it, no
    /// counter).
    #[inline]
    fn arrive_targets(&self, q: u32, p: u32, mut f: impl FnMut(u32, u32)) {
        if Trap::upright(q, p) {
            if q > 0 {
                f(q - 1, p);
            }
            if q < 2 * self.count {
                f(q + 1, p);
            }
        } else {
            f(q, p + 1);
        }
    }
}

/// A fused step loop (`for t in .. { let mut next = ..; ..; cur = next; }`):
/// `steps` steps, each making `width` values from the values of the step
/// before (`prev`, the loop's input vector for step 0). Values
/// `inner.0..inner.1` are the inner loop's: `block(t, c, prev, out)` makes
/// values `c..c + out.len()` of the inner loop into `out`, a run of plain
/// code; the others (pushed before and after the inner loop) are made one
/// by one, value `k` of step `t` by `step(t, k, prev)`. Value `k` reads the
/// cells `reads(k)` of the step before.
/// The values of a step are cut into tiles, and a tile runs as soon as the
/// tiles of the step before that it depends on are done (see `Tiles`): no
/// barrier between steps. On several threads, where the reach allows,
/// tiles span phases of several steps instead (trapezoids, see `Trap`).
/// The last step's values are the loop's output elements (`write`).
///
/// Iteration `t * width + k` is value `k` of step `t`.
pub struct Steps<'g, T, R, F, B, W> {
    init: LazyVec<'g, T>,
    reads: R,
    step: F,
    block: B,
    inner: (u32, u32),
    write: W,
    steps: u32,
    width: u32,
    /// Step `t` reads `bufs[t % 2]` and writes `bufs[(t + 1) % 2]`. Both
    /// are filled when the first block starts (the input vector and a
    /// clone of it), so every cell always holds a value: a write replaces
    /// (and drops) the value of two steps before, a stopped run drops them
    /// all.
    bufs: [UnsafeCell<Vec<T>>; 2],
    /// The buffers' cells, found once they are filled: blocks reach them
    /// through these, never through a reference to a whole buffer while
    /// another block writes it.
    cells: [std::cell::Cell<*mut T>; 2],
    tiles: UnsafeCell<Tiles>,
    /// The trapezoids, if the loop runs as such (`trap.count > 0`), else
    /// step by step in `tiles`.
    trap: UnsafeCell<Trap>,
    /// Tiles of the last step (or pieces of the last phase) still to
    /// finish.
    last_left: AtomicU32,
    /// Where the probe of the last block stood (`Probe::hint`).
    probe: AtomicU32,
}

/// How many times the probe's chunk a block of a step loop runs between
/// looks at the other threads: its values are runs of plain code
/// (`Steps::block`), not one call each. Heavy values (a chunk of one) are
/// never grouped.
const STEP_CHUNK: u32 = 32;

// SAFETY: `tiles`, the buffers and `cells` are set by `prepare` and by the
// first block, before any other block exists, and only read during the run.
// A block reads the cells its tile's `read` names and writes its own cells;
// `Tiles` says why no other block touches those at the same time and how the
// arrivals order the writes of one step before the reads of the next (and
// the reads before the overwrites two steps on). `T: Send + Sync`: values
// move between threads and are read by several at once.
unsafe impl<T: Send + Sync, R: Sync, F: Sync, B: Sync, W: Sync> Sync for Steps<'_, T, R, F, B, W> {}

// SAFETY: `cells` point into the heap buffers of `bufs`, which move with the
// loop and hold `T: Send` values; the rest is sent as its own types allow.
unsafe impl<T: Send, R: Send, F: Send, B: Send, W: Send> Send for Steps<'_, T, R, F, B, W> {}

impl<'g, T, R, F, B, W> Steps<'g, T, R, F, B, W>
where
    T: Send + Sync + Clone,
    R: Fn(u32) -> Option<(usize, usize)> + Sync,
    F: Fn(u32, u32, Prev<'_, T>, &Cx<'_, 'g>) -> Result<T, Stopped> + Sync,
    B: Fn(u32, u32, Prev<'_, T>, &mut [T], &Cx<'_, 'g>) -> Result<(), Stopped> + Sync,
    W: Fn(u32, T, &Cx<'_, 'g>) + Sync,
{
    /// Fills the buffers: the loop's input vector, and a clone of it (never
    /// read: step 0 overwrites it before step 1 reads it).
    #[inline(never)]
    fn load(&self, cx: &Cx<'_, 'g>) {
        // SAFETY: the first block runs alone (no other block of this loop
        // exists yet), so nothing else refers to the buffers.
        let [b0, b1] = self.bufs.each_ref().map(|b| unsafe { &mut *b.get() });
        for k in 0..self.width as usize {
            let x = self.init.get(k).expect("in range");
            // SAFETY: the loop holds one use of each element (its gather),
            // consumed here, once.
            let x: T = unsafe { cx.slot(x).take_or_clone() };
            b1.push(x.clone());
            b0.push(x);
        }
        for (b, c) in [b0, b1].into_iter().zip(&self.cells) {
            c.set(b.as_mut_ptr());
        }
    }

    fn tiles(&self) -> &Tiles {
        // SAFETY: set by `prepare` before any block exists; read-only after.
        unsafe { &*self.tiles.get() }
    }

    fn trap(&self) -> &Trap {
        // SAFETY: as `tiles`.
        unsafe { &*self.trap.get() }
    }

    /// Runs values `lo..hi` of step `t`, reading cells `rlo..rhi` of the
    /// step before, splitting off work for hungry threads (blocks tagged
    /// `tag`: a piece of `Trap`, else 0); returns how many it ran (its end
    /// may move down).
    #[allow(clippy::too_many_arguments)]
    fn run_step_block(
        &self,
        fam: u32,
        (t, lo, hi): (u32, u32, u32),
        (rlo, rhi): (u32, u32),
        tag: u32,
        split: bool,
        probe: &mut Probe,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<u32, Stopped> {
        let base = t * self.width;
        let started = cx.block_started(fam, base + lo, base + hi);
        let push = |a: u32, b: u32| push_block(cx, fam, base + a, base + b, tag, ROOT);
        let prev = Prev {
            cells: self.cells[(t % 2) as usize].get(),
            lo: rlo as usize,
            len: (rhi - rlo) as usize,
            _p: PhantomData,
        };
        let last = t + 1 == self.steps;
        let out = self.cells[((t + 1) % 2) as usize].get();
        let (ilo, ihi) = self.inner;
        let one = |k: u32| -> Result<(), Stopped> {
            let v = (self.step)(t, k, prev, cx)?;
            // SAFETY: cell `k` (< `width`, the buffer's length) of the
            // step's output is this tile's and this block's alone (see
            // `Tiles`), written through its own pointer; it holds a value
            // (dropped here) and the buffer is not resized during the run.
            unsafe { *out.add(k as usize) = v };
            Ok(())
        };
        // A trapezoid's step splits only heavy work: each split joins again at the end of the step, a
        // hand-off every step that light work cannot pay for; its thread
        // finds other pieces instead.
        let light = self.trap().count == 0;
        let hi = run_range(
            lo,
            hi,
            split,
            light,
            STEP_CHUNK,
            probe,
            tally,
            cx,
            push,
            |a, b| {
                // Values before the inner loop's, the inner loop's, after.
                let p = a.max(ilo).min(b);
                let q = b.min(ihi).max(p);
                for k in a..p {
                    one(k)?;
                }
                if p < q {
                    // SAFETY: cells `p..q` of the step's output are this
                    // block's alone (as in `one`), and hold values.
                    let cells = unsafe {
                        std::slice::from_raw_parts_mut(out.add(p as usize), (q - p) as usize)
                    };
                    (self.block)(t, p - ilo, prev, cells, cx)?;
                }
                for k in q..b {
                    one(k)?;
                }
                if last {
                    for k in a..b {
                        // SAFETY: cell `k` is this block's (as above), just made.
                        let v = unsafe { &*out.add(k as usize) };
                        (self.write)(k, v.clone(), cx);
                    }
                }
                Ok(())
            },
        )?;
        cx.block_finished(started, base + lo, base + hi);
        Ok(hi - lo)
    }
}

/// Runs iterations `lo..hi` with `body` (called on sub-ranges `a..b`), in
/// chunks the probe sizes times `scale`, giving the upper half of what is
/// left away (`give`) when another thread is hungry (if `light`, or the
/// work is heavy), and first cutting about one piece for each thread if
/// `split`; returns the end of the part it ran. Shared by `each` loops (one leaf at a time, `scale` 1) and the
/// blocks of step loops (whose bodies are loops themselves).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn run_range(
    lo: u32,
    mut hi: u32,
    split: bool,
    light: bool,
    scale: u32,
    probe: &mut Probe,
    tally: &mut Tally<'_>,
    cx: &Cx<'_, '_>,
    mut give: impl FnMut(u32, u32),
    mut body: impl FnMut(u32, u32) -> Result<(), Stopped>,
) -> Result<u32, Stopped> {
    if split && cx.threads() > 1 {
        hi = first_cut(lo, hi, cx.first_piece(hi - lo), &mut give);
    }
    let mut cur = lo;
    while cur < hi {
        cx.check()?;
        if cx.give_away(hi - cur, probe.heavy) && (light || probe.heavy || cx.w.should_yield()) {
            hi = halve(cur, hi, &mut give);
        }
        // Heavy work (a chunk of one) is never scaled.
        let c = probe.chunk();
        let end = (cur + if c > 1 { c * scale } else { 1 }).min(hi);
        body(cur, end)?;
        tally.add(end - cur);
        // The probe counts chunks of its own size, as if unscaled.
        let ticks = ((end - cur) / c).max(1);
        cur = end;
        if probe.tick_by(ticks) {
            tally.publish();
        }
    }
    Ok(hi)
}

impl<'g, T, R, F, B, W> LoopKind<'g> for Steps<'g, T, R, F, B, W>
where
    T: Send + Sync + Clone,
    R: Fn(u32) -> Option<(usize, usize)> + Sync,
    F: Fn(u32, u32, Prev<'_, T>, &Cx<'_, 'g>) -> Result<T, Stopped> + Sync,
    B: Fn(u32, u32, Prev<'_, T>, &mut [T], &Cx<'_, 'g>) -> Result<(), Stopped> + Sync,
    W: Fn(u32, T, &Cx<'_, 'g>) + Sync,
{
    type Output = ();

    #[inline(never)]
    fn prepare(&self, _: u32, threads: u32) {
        let w = self.width as usize;
        for (b, c) in self.bufs.iter().zip(&self.cells) {
            // SAFETY: called by `run`, before any block of this loop exists.
            let b = unsafe { &mut *b.get() };
            b.clear();
            b.reserve(w);
            // Set again by `load`, once filled.
            c.set(std::ptr::null_mut());
        }
        // SAFETY: as above.
        let trap = unsafe { &mut *self.trap.get() };
        trap.prepare(self.width, self.steps, threads, &self.reads);
        // SAFETY: as above.
        let tiles = unsafe { &mut *self.tiles.get() };
        let left = if trap.count > 0 {
            trap.pieces()
        } else {
            tiles.prepare(
                self.width,
                Tiles::size_for(self.width, threads),
                &self.reads,
            );
            tiles.count
        };
        self.last_left.store(left, Ordering::Relaxed);
        self.probe.store(0, Ordering::Relaxed);
    }

    fn run_block(
        &self,
        fam: u32,
        b: Block,
        first: bool,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<()>, Stopped> {
        if self.trap().count > 0 {
            return self.run_trap_block(fam, b, first, tally, cx);
        }
        let (w, tiles) = (self.width, self.tiles());
        let push_tile = |t: u32, m: u32| {
            let (lo, hi) = tiles.range(m, w);
            push_block(cx, fam, t * w + lo, t * w + hi, 0, ROOT)
        };
        let (t, tile, lo, hi);
        if first {
            self.load(cx);
            // Every tile of step 0 is ready: tile 0 here, the rest to the
            // deque (the last pushed is taken first here, the first by a
            // thief).
            for m in 0..tiles.count {
                let (a, b) = tiles.range(m, w);
                tiles.state[m as usize]
                    .remaining
                    .store(b - a, Ordering::Relaxed);
            }
            for m in (1..tiles.count).rev() {
                push_tile(0, m);
            }
            (t, tile) = (0, 0);
            (lo, hi) = tiles.range(0, w);
        } else {
            (t, lo) = (b.lo / w, b.lo % w);
            hi = lo + (b.hi - b.lo);
            tile = lo / tiles.size;
        }
        // One tile on several threads: split each step as it starts.
        let split = tiles.count == 1;
        let hint = self.probe.load(Ordering::Relaxed);
        let mut probe = Probe::resume(hint);
        let out = self.run_tiles(fam, (t, tile, lo, hi), split, &mut probe, tally, cx);
        // Written only when it changed: every thread reads it.
        if probe.hint() != hint {
            self.probe.store(probe.hint(), Ordering::Relaxed);
        }
        out
    }

    #[inline(never)]
    fn teardown(&self) -> usize {
        let mut panics = 0;
        for b in &self.bufs {
            // SAFETY: the run is over.
            let b = unsafe { &mut *b.get() };
            while let Some(x) = b.pop() {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(x))) {
                    panics += 1;
                    crate::exec::task::drop_payload(p);
                }
            }
        }
        panics
    }
}

impl<'g, T, R, F, B, W> Steps<'g, T, R, F, B, W>
where
    T: Send + Sync + Clone,
    R: Fn(u32) -> Option<(usize, usize)> + Sync,
    F: Fn(u32, u32, Prev<'_, T>, &Cx<'_, 'g>) -> Result<T, Stopped> + Sync,
    B: Fn(u32, u32, Prev<'_, T>, &mut [T], &Cx<'_, 'g>) -> Result<(), Stopped> + Sync,
    W: Fn(u32, T, &Cx<'_, 'g>) + Sync,
{
    /// Runs block `lo..hi` of tile `tile` of step `t`, then, each time it
    /// ends a tile, one of the tiles that made ready (the others go to the
    /// deque); returns `Some` if it ended the loop.
    fn run_tiles(
        &self,
        fam: u32,
        (mut t, mut tile, mut lo, mut hi): (u32, u32, u32, u32),
        split: bool,
        probe: &mut Probe,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<()>, Stopped> {
        let (w, tiles) = (self.width, self.tiles());
        let push_tile = |t: u32, m: u32| {
            let (lo, hi) = tiles.range(m, w);
            push_block(cx, fam, t * w + lo, t * w + hi, 0, ROOT)
        };
        loop {
            let read = tiles.read[tile as usize];
            let done = self.run_step_block(fam, (t, lo, hi), read, 0, split, probe, tally, cx)?;
            let st = &tiles.state[tile as usize];
            if st.remaining.fetch_sub(done, Ordering::AcqRel) != done {
                return Ok(None);
            }
            // Tile `tile` finished step `t`.
            if t + 1 == self.steps {
                return Ok((self.last_left.fetch_sub(1, Ordering::AcqRel) == 1).then_some(()));
            }
            // The tiles this made ready: one runs here (this tile, if it
            // is one: its values are in this thread's cache), the others
            // go to the deque.
            let mut next = None;
            tiles.arrive(tile, t + 1, w, |m| {
                if next.is_none() {
                    next = Some(m);
                } else if m == tile {
                    push_tile(t + 1, next.replace(m).expect("a ready tile"));
                } else {
                    push_tile(t + 1, m);
                }
            });
            let Some(m) = next else { return Ok(None) };
            (t, tile) = (t + 1, m);
            (lo, hi) = tiles.range(m, w);
        }
    }
}

impl<'g, T, R, F, B, W> Steps<'g, T, R, F, B, W>
where
    T: Send + Sync + Clone,
    R: Fn(u32) -> Option<(usize, usize)> + Sync,
    F: Fn(u32, u32, Prev<'_, T>, &Cx<'_, 'g>) -> Result<T, Stopped> + Sync,
    B: Fn(u32, u32, Prev<'_, T>, &mut [T], &Cx<'_, 'g>) -> Result<(), Stopped> + Sync,
    W: Fn(u32, T, &Cx<'_, 'g>) + Sync,
{
    /// `run_block` for a loop run as trapezoids (`Trap`): the first block
    /// makes every upright of the first phase ready; a block's `size` is
    /// its piece.
    fn run_trap_block(
        &self,
        fam: u32,
        b: Block,
        first: bool,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<()>, Stopped> {
        let (w, tr) = (self.width, self.trap());
        let (t, q, lo, hi);
        if first {
            self.load(cx);
            // The uprights of phase 0: the odd pieces.
            for i in (1..tr.pieces()).step_by(2) {
                let (a, b) = tr.range(i, 0);
                tr.state[i as usize]
                    .remaining
                    .store(b - a, Ordering::Relaxed);
            }
            // Pieces are handed between threads from now on: idle ones
            // keep looking rather than park (`Registry::keep_hot`).
            cx.w.reg.keep_hot();
            // Upright 1 here, the rest to the deque (the last pushed is
            // taken first here, the first by a thief).
            for i in (3..tr.pieces()).step_by(2).rev() {
                let (a, b) = tr.range(i, 0);
                push_block(cx, fam, a, b, i, ROOT);
            }
            (t, q) = (0, 1);
            (lo, hi) = tr.range(1, 0);
        } else {
            (t, lo) = (b.lo / w, b.lo % w);
            hi = lo + (b.hi - b.lo);
            q = b.size;
        }
        let hint = self.probe.load(Ordering::Relaxed);
        let mut probe = Probe::resume(hint);
        // A piece's whole step, not the half of one a thread gave away.
        let whole = (lo, hi) == tr.range(q, t);
        let out = self.run_pieces(fam, (t, q, lo, hi), whole, &mut probe, tally, cx);
        // Written only when it changed: every thread reads it.
        if probe.hint() != hint {
            self.probe.store(probe.hint(), Ordering::Relaxed);
        }
        out
    }

    /// Runs block `lo..hi` of piece `q` at step `t`, then the piece's
    /// later steps of the phase if this block ended the step, then, each
    /// time it ends a piece's phase, the upright above it (an inverted
    /// piece) or one of the inverted pieces it made ready (an upright; the
    /// others go to the deque); returns `Some` if it ended the loop.
    /// `whole`: the block is its piece's whole step.
    #[allow(clippy::too_many_arguments)]
    fn run_pieces(
        &self,
        fam: u32,
        (mut t, mut q, mut lo, mut hi): (u32, u32, u32, u32),
        mut whole: bool,
        probe: &mut Probe,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<()>, Stopped> {
        let (w, tr) = (self.width, self.trap());
        loop {
            if lo < hi {
                let read = tr.window(lo, hi, w);
                let done =
                    self.run_step_block(fam, (t, lo, hi), read, q, false, probe, tally, cx)?;
                // A whole step that gave nothing away ended the step: no
                // other block of it exists to count down with (the common
                // case, light values; an atomic a step saved).
                let alone = whole && done == hi - lo;
                let st = &tr.state[q as usize];
                if !alone && st.remaining.fetch_sub(done, Ordering::AcqRel) != done {
                    return Ok(None);
                }
            }
            whole = true;
            // Piece `q` finished step `t`: on to its next step of the
            // phase, unless the phase ends or the piece's values do (an
            // upright's later steps are narrower still).
            let p = t / tr.k;
            if (t + 1) % tr.k != 0 && t + 1 < self.steps {
                let (a, b) = tr.range(q, t + 1);
                if a < b {
                    // Relaxed: this thread ended step `t` (the `AcqRel`
                    // above saw every other block of it end).
                    tr.state[q as usize]
                        .remaining
                        .store(b - a, Ordering::Relaxed);
                    (t, lo, hi) = (t + 1, a, b);
                    continue;
                }
            }
            // In the last phase, every piece counts down; its uprights
            // still make the inverted pieces ready.
            let last = (p + 1) * tr.k >= self.steps;
            if last && self.last_left.fetch_sub(1, Ordering::AcqRel) == 1 {
                cx.w.reg.cool();
                return Ok(Some(()));
            }
            // A thread left without a piece (its neighbour's is not done)
            // keeps looking for the next rather than park, for as long as
            // a light piece takes (`Registry::keep_hot`, a clock read a
            // piece).
            cx.w.reg.keep_hot();
            if !Trap::upright(q, p) {
                if last {
                    return Ok(None);
                }
                // An inverted piece: the upright above it needs nothing
                // else (its values' neighbours were made by the uprights
                // this piece waited for) and runs here.
                let start = (p + 1) * tr.k;
                let (a, b) = tr.range(q, start);
                // Relaxed: this thread ended the piece's phase.
                tr.state[q as usize]
                    .remaining
                    .store(b - a, Ordering::Relaxed);
                (t, lo, hi) = (start, a, b);
                continue;
            }
            // An upright: the inverted pieces beside it that this made
            // ready. One runs here, an interior one rather than a half at
            // an edge (the other thread then takes the half, not a whole
            // diamond: `Trap`), the others go to the deque.
            let mut next: Option<(u32, u32, u32)> = None;
            let start = p * tr.k;
            tr.arrive(q, p, |m| {
                let (a, b) = tr.range(m, start);
                // Relaxed: the piece's last phase ended before the arrivals
                // that made it ready (`Trap::arrive`); its blocks start
                // after this (in place, or through the deque).
                tr.state[m as usize]
                    .remaining
                    .store(b - a, Ordering::Relaxed);
                let give = match next {
                    Some((n, ..)) if tr.edge(n) && !tr.edge(m) => next.replace((m, a, b)),
                    Some(_) => Some((m, a, b)),
                    None => next.replace((m, a, b)),
                };
                if let Some((g, a, b)) = give {
                    push_block(cx, fam, start * w + a, start * w + b, g, ROOT);
                }
            });
            let Some((m, a, b)) = next else {
                return Ok(None);
            };
            (t, q, lo, hi) = (start, m, a, b);
        }
    }
}

impl<'g, 'k> Loop<'g, 'k, ()> {
    /// Makes this loop `steps` (at least 1) steps from `init` (`width`
    /// values): value `k` of each step reads the values `reads(k)` (an
    /// inclusive range, `None` for none) of the step before; values `inner`
    /// (the inner loop's) are made by `block(t, c, prev, out)`, values
    /// `c..c + out.len()` of the inner loop at once, the others one by one
    /// by `step(t, k, prev)` (`prev.get(j)` or `prev.window(..)` for cells
    /// `j` in that range); `write(k, v)` writes the last step's values to
    /// the element family `elements` (`width` long).
    ///
    /// # Panics
    /// If `steps` or `width` is 0, `init` is not `width` long, or `inner`
    /// is not inside `0..width`.
    #[allow(clippy::too_many_arguments)]
    pub fn steps<T, R, F, B, W>(
        &mut self,
        steps: usize,
        init: LazyVec<'g, T>,
        width: usize,
        reads: R,
        step: F,
        inner: std::ops::Range<usize>,
        block: B,
        write: W,
        elements: u32,
    ) -> Result<Lazy<'g, ()>, Error>
    where
        T: Send + Sync + Clone + 'k,
        R: Fn(u32) -> Option<(usize, usize)> + Sync + Send + 'k,
        F: Fn(u32, u32, Prev<'_, T>, &Cx<'_, 'g>) -> Result<T, Stopped> + Sync + Send + 'k,
        B: Fn(u32, u32, Prev<'_, T>, &mut [T], &Cx<'_, 'g>) -> Result<(), Stopped>
            + Sync
            + Send
            + 'k,
        W: Fn(u32, T, &Cx<'_, 'g>) + Sync + Send + 'k,
    {
        assert!(
            steps > 0
                && width > 0
                && init.len() == width
                && inner.start <= inner.end
                && inner.end <= width,
            "taskgraph internal error: a step loop of no steps or a vector of another width"
        );
        self.take_all(&init);
        self.core.width = width as u32;
        let n = steps.saturating_mul(width);
        let kind = Steps {
            init,
            reads,
            step,
            block,
            inner: (inner.start as u32, inner.end as u32),
            write,
            steps: steps as u32,
            width: width as u32,
            bufs: [UnsafeCell::new(Vec::new()), UnsafeCell::new(Vec::new())],
            cells: [
                std::cell::Cell::new(std::ptr::null_mut()),
                std::cell::Cell::new(std::ptr::null_mut()),
            ],
            tiles: UnsafeCell::new(Tiles::new()),
            trap: UnsafeCell::new(Trap::new()),
            last_left: AtomicU32::new(0),
            probe: AtomicU32::new(0),
        };
        self.set(n, kind, &[elements])
    }
}

// ---------------------------------------------------------------------------
// Wave: a grid filled row after row, each cell reading cells above it and to
// its left, in tiles.

/// The cells of a wavefront that the cell being made may read, and the place
/// it writes: row `row` of the grid, columns `c0..c1` of it (a row of a
/// tile), made in order. A cell may read the cells of rows at or above its
/// own and of columns at or left of its own (not itself): those are done
/// (see `WaveTiles`). Only those cells are ever referenced, never the grid
/// as a whole.
pub struct Grid<'a, T> {
    cells: *mut MaybeUninit<T>,
    cols: usize,
    row: usize,
    /// The next column to write (from `c0`); `c1`, the row's end.
    next: std::cell::Cell<u32>,
    c1: u32,
    /// The cell left of the next one (`row * cols + next - 1`; dangling
    /// at column 0, where nothing reads it), read through this pointer so
    /// that the compiler can see it is the one just written.
    last: std::cell::Cell<*const T>,
    _p: PhantomData<&'a T>,
}

impl<'a, T> Grid<'a, T> {
    /// The cell `up` rows above and `left` columns left of cell `c` of this
    /// row (the cell being made), whose index the graph computed as `idx`:
    /// `graph!` proved they are the same cell (checked in debug builds);
    /// the cell read is the former, so that what is read is always a cell
    /// that is done, whatever the index.
    ///
    /// # Panics
    /// If `c` is not the cell being made, or the cell is not above or left
    /// of it (an internal error).
    #[inline(always)]
    pub fn get(&self, c: u32, idx: usize, up: usize, left: usize) -> &'a T {
        let c = c as usize;
        assert!(
            c == self.next.get() as usize && (up | left) != 0 && up <= self.row && left <= c,
            "taskgraph internal error: a wavefront read outside its tiles"
        );
        let k = (self.row - up) * self.cols + (c - left);
        debug_assert_eq!(idx, k, "taskgraph internal error: a wavefront index");
        let _ = idx;
        let at = match (up, left) {
            // The cell just left of this one (`c >= 1`): written last.
            (0, 1) => self.last.get(),
            // SAFETY: cell `k` is inside the grid (its row and column are).
            _ => unsafe { self.cells.add(k).cast::<T>().cast_const() },
        };
        // SAFETY: cell `k` is at or above this row and at or left of this
        // column, not this cell: made by a tile this one waited for (through
        // the arrivals' release sequence), by an earlier row of this block,
        // or earlier in this row (`next`); see `WaveTiles`. Written cells
        // are not moved or dropped before the loop ends.
        unsafe { &*at }
    }

    /// Writes cell `c` of this row, the next one (its state is set when
    /// the row ends: `Wave::run_tile`).
    ///
    /// # Panics
    /// If `c` is not the next cell of the row (an internal error).
    #[inline(always)]
    pub fn put(&self, c: u32, v: T) {
        assert!(
            c == self.next.get() && c < self.c1,
            "taskgraph internal error: a wavefront cell made out of order"
        );
        let k = self.row * self.cols + c as usize;
        // SAFETY: cell `k` is inside the grid (the row and column are) and
        // this block's alone (see `WaveTiles`), written once.
        let at = unsafe { (*self.cells.add(k)).write(v) };
        self.last.set(at);
        self.next.set(c + 1);
    }
}

/// Marks the cells a row of a tile wrote (`c0..grid.next`) as written, when
/// the row ends, fails or unwinds: the elements' states say which cells
/// hold values (to publish, or to drop after a failure).
struct Written<'a, 'g, T> {
    grid: &'a Grid<'g, T>,
    states: *const AtomicU32,
    c0: u32,
}

impl<T> Drop for Written<'_, '_, T> {
    #[inline]
    fn drop(&mut self) {
        let base = self.grid.row * self.grid.cols;
        for c in self.c0..self.grid.next.get() {
            // SAFETY: the states buffer has one state per cell of the grid
            // and lives for the run; these cells are this block's.
            let state = unsafe { &*self.states.add(base + c as usize) };
            state.store(crate::value::slot::WRITTEN, Ordering::Relaxed);
        }
    }
}

/// The tiles of a wavefront and their counters, set up by `prepare`.
///
/// The `rows x cols` cells are cut into bands of `bh` rows and blocks of
/// `bw` columns: tile `(R, C)` (number `R * tc + C`) waits for the tile
/// above, `(R - 1, C)`, and the tile to its left, `(R, C - 1)`, and
/// through them for every tile above and to the left of it. A cell reads
/// only cells above it and to its left (`Grid::get`), which are in those
/// tiles or earlier in its own (made row by row, left to right), so a tile
/// may run once its two neighbours are done. Each tile's counter starts at
/// the number of those neighbours; the thread whose arrival takes it to
/// zero (AcqRel: it sees both neighbours' writes) runs or hands on the
/// tile. On one thread the grid is one tile: plain row-major code.
struct WaveTiles {
    bh: u32,
    bw: u32,
    tr: u32,
    tc: u32,
    need: Vec<Counter>,
}

/// One tile's counter, a cache line each: neighbouring tiles run on
/// different threads.
#[repr(align(64))]
struct Counter(AtomicU32);

/// How many tiles a row of tiles (and a column) has per thread: a tile
/// waits for two others, so the first tiles run alone (the wave fills
/// the threads after a few tiles) and the work of a grid of `k x k` tiles
/// on `n` threads takes about `max(k * k / n, 2k - 1)` tile times.
const WAVE_TILES_PER_THREAD: u32 = 4;

impl WaveTiles {
    fn new() -> Self {
        WaveTiles {
            bh: 1,
            bw: 1,
            tr: 0,
            tc: 0,
            need: Vec::new(),
        }
    }

    #[inline(never)]
    fn prepare(&mut self, rows: u32, cols: u32, threads: u32) {
        let k = threads.saturating_mul(WAVE_TILES_PER_THREAD);
        (self.bh, self.bw) = match threads {
            0 | 1 => (rows.max(1), cols.max(1)),
            _ => (rows.div_ceil(k).max(1), cols.div_ceil(k).max(1)),
        };
        (self.tr, self.tc) = (rows.div_ceil(self.bh), cols.div_ceil(self.bw));
        self.need.clear();
        for r in 0..self.tr {
            for c in 0..self.tc {
                let n = u32::from(r > 0) + u32::from(c > 0);
                self.need.push(Counter(AtomicU32::new(n)));
            }
        }
    }

    /// One arrival at tile `m`; true if it is now ready.
    #[inline]
    fn arrive(&self, m: u32) -> bool {
        // AcqRel: the two arrivals form a release sequence, so the thread
        // making the last sees both neighbours' cells.
        self.need[m as usize].0.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// A fused wavefront: `rows x cols` cells filled row after row, cell
/// `(r, c)` (iteration and element `r * cols + c`) reading cells above it
/// and to its left (`Grid::get`). `block(r, c0, c1, grid)` makes cells
/// `c0..c1` of row `r` in order, a run of plain code, writing each with
/// `grid.put`. The cells are the loop's output elements, written in place;
/// the grid is cut into tiles (see `WaveTiles`).
pub struct Wave<'e, 'g, T, B> {
    rows: u32,
    cols: u32,
    elements: &'e Elements<'g, T>,
    block: B,
    tiles: UnsafeCell<WaveTiles>,
    /// Tiles still to finish.
    left: AtomicU32,
}

// SAFETY: `tiles` is set by `prepare`, before any block exists, and its
// counters are atomics; each cell is written by the one block of its tile
// and read only by blocks that waited for that tile (see `WaveTiles`).
// `T: Send + Sync`: cells are made on one thread and read on others.
unsafe impl<T: Send + Sync, B: Sync> Sync for Wave<'_, '_, T, B> {}

impl<'g, T, B> Wave<'_, 'g, T, B>
where
    T: Send + Sync,
    B: Fn(u32, u32, u32, &Grid<'_, T>, &Cx<'_, 'g>) -> Result<(), Stopped> + Sync,
{
    fn tiles(&self) -> &WaveTiles {
        // SAFETY: set by `prepare` before any block exists; only its atomics
        // change after.
        unsafe { &*self.tiles.get() }
    }

    /// Runs tile `m`, row by row.
    fn run_tile(
        &self,
        fam: u32,
        m: u32,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<(), Stopped> {
        let t = self.tiles();
        let (tr, tc) = (m / t.tc, m % t.tc);
        let (r0, c0) = (tr * t.bh, tc * t.bw);
        let (r1, c1) = ((r0 + t.bh).min(self.rows), (c0 + t.bw).min(self.cols));
        let (cells, states) = self.elements.at.get();
        for r in r0..r1 {
            cx.check()?;
            let base = r * self.cols;
            let started = cx.block_started(fam, base + c0, base + c1);
            let grid = Grid {
                cells,
                cols: self.cols as usize,
                row: r as usize,
                next: std::cell::Cell::new(c0),
                c1,
                // SAFETY (of the offset): inside the grid's buffer, or one
                // before the first cell's (never read, see `last`).
                last: std::cell::Cell::new(
                    cells
                        .cast::<T>()
                        .cast_const()
                        .wrapping_add((base + c0) as usize)
                        .wrapping_sub(1),
                ),
                _p: PhantomData,
            };
            let written = Written {
                grid: &grid,
                states,
                c0,
            };
            let made = (self.block)(r, c0, c1, &grid, cx);
            drop(written);
            made?;
            assert!(
                grid.next.get() == c1,
                "taskgraph internal error: a wavefront row left cells unmade"
            );
            tally.add(c1 - c0);
            cx.block_finished(started, base + c0, base + c1);
        }
        // Once a tile: the count is shared by the threads.
        tally.publish();
        Ok(())
    }
}

impl<'g, T, B> LoopKind<'g> for Wave<'_, 'g, T, B>
where
    T: Send + Sync,
    B: Fn(u32, u32, u32, &Grid<'_, T>, &Cx<'_, 'g>) -> Result<(), Stopped> + Sync,
{
    type Output = ();

    fn prepare(&self, _: u32, threads: u32) {
        // SAFETY: called by `run`, before any block of this loop exists.
        let tiles = unsafe { &mut *self.tiles.get() };
        tiles.prepare(self.rows, self.cols, threads);
        self.left.store(tiles.tr * tiles.tc, Ordering::Relaxed);
    }

    fn run_block(
        &self,
        fam: u32,
        b: Block,
        first: bool,
        tally: &mut Tally<'_>,
        cx: &Cx<'_, 'g>,
    ) -> Result<Option<()>, Stopped> {
        let t = self.tiles();
        // The first block is tile 0, the only one with nothing to wait for;
        // pushed blocks name their tile in `lo`.
        let mut m = if first { 0 } else { b.lo };
        let hand_off = t.tr * t.tc > 1;
        loop {
            self.run_tile(fam, m, tally, cx)?;
            if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                if hand_off {
                    cx.w.reg.cool();
                }
                return Ok(Some(()));
            }
            // Tiles are handed between threads: one left without a ready
            // tile keeps looking for the next rather than park
            // (`Registry::keep_hot`, a clock read a tile).
            cx.w.reg.keep_hot();
            let (r, c) = (m / t.tc, m % t.tc);
            // The tile to the right runs here (its cells' left neighbours
            // are in this thread's cache), the one below goes to the deque.
            let right = (c + 1 < t.tc && t.arrive(m + 1)).then_some(m + 1);
            let below = (r + 1 < t.tr && t.arrive(m + t.tc)).then_some(m + t.tc);
            m = match (right, below) {
                (Some(a), Some(b)) => {
                    push_block(cx, fam, b, b + 1, 0, ROOT);
                    a
                }
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => return Ok(None),
            };
        }
    }

    fn teardown(&self) -> usize {
        // The cells are the elements' (their family drops them).
        0
    }
}

impl<'g, 'k> Loop<'g, 'k, ()> {
    /// Makes this loop a wavefront of `rows x cols` cells (both at least
    /// 1), written to `elements` (made `rows * cols` long):
    /// `block(r, c0, c1, grid)` makes cells `c0..c1` of row `r`, in order,
    /// each with `grid.put(c, v)`, reading earlier cells with `grid.get`.
    ///
    /// # Errors
    /// [`Error::GraphTooLarge`] beyond `u32::MAX - 3` cells.
    ///
    /// # Panics
    /// If `rows` or `cols` is 0, or `elements` is not `rows * cols` long.
    pub fn wave<'e, T, B>(
        &mut self,
        rows: usize,
        cols: usize,
        elements: &'e Elements<'g, T>,
        block: B,
    ) -> Result<Lazy<'g, ()>, Error>
    where
        'e: 'k,
        T: Send + Sync + 'k,
        B: Fn(u32, u32, u32, &Grid<'_, T>, &Cx<'_, 'g>) -> Result<(), Stopped> + Sync + Send + 'k,
    {
        let n = rows.saturating_mul(cols);
        assert!(
            rows > 0 && cols > 0 && elements.core.len as usize == n,
            "taskgraph internal error: a wavefront of no cells or of other elements"
        );
        let kind = Wave {
            rows: rows as u32,
            cols: cols as u32,
            elements,
            block,
            tiles: UnsafeCell::new(WaveTiles::new()),
            left: AtomicU32::new(0),
        };
        let id = elements.id();
        self.set(n, kind, &[id])
    }
}

// ---------------------------------------------------------------------------
// Making loops (called by the code `graph!` generates).

/// The leaves of a fused loop written in the graph: iteration `k` runs the
/// loop's body.
pub struct FnLeaf<F>(F);

impl<'g, R, F: Fn(u32, &Cx<'_, 'g>) -> Result<R, Stopped> + Sync> Leaf<'g, R> for FnLeaf<F> {
    #[inline(always)]
    fn leaf(&self, k: u32, cx: &Cx<'_, 'g>) -> Result<R, Stopped> {
        (self.0)(k, cx)
    }
}

impl<'g, 'k, R: Send + Sync> Loop<'g, 'k, R> {
    #[inline(always)]
    fn make_reduce<L, C>(
        &mut self,
        n: usize,
        leaf: L,
        combine: C,
        elements: &[u32],
    ) -> Result<Lazy<'g, R>, Error>
    where
        L: Leaf<'g, R> + Send + 'k,
        C: Fn(R, R, u32, u32, &Cx<'_, 'g>) -> R + Sync + Send + 'k,
    {
        if n == 0 {
            empty_reduce();
        }
        self.set(
            n,
            Reduce {
                leaf,
                combine,
                joins: Joins::new(),
            },
            elements,
        )
    }

    /// Makes this loop a reduction of `n` iterations; `leaf(k)` runs one,
    /// `combine(a, b, level, position)` combines two results; the element
    /// families `elements` are the loop's other outputs.
    ///
    /// # Panics
    /// If `n` is 0 (an empty reduction is an error the caller reports).
    pub fn reduce<F, C>(
        &mut self,
        n: usize,
        leaf: F,
        combine: C,
        elements: &[u32],
    ) -> Result<Lazy<'g, R>, Error>
    where
        F: Fn(u32, &Cx<'_, 'g>) -> Result<R, Stopped> + Sync + Send + 'k,
        C: Fn(R, R, u32, u32, &Cx<'_, 'g>) -> R + Sync + Send + 'k,
    {
        self.make_reduce(n, FnLeaf(leaf), combine, elements)
    }

    /// Makes this loop the reduction of `v` (at least two elements).
    pub(crate) fn reduce_vec<C>(
        &mut self,
        v: LazyVec<'g, R>,
        combine: C,
    ) -> Result<Lazy<'g, R>, Error>
    where
        R: Clone,
        C: Fn(R, R, u32, u32, &Cx<'_, 'g>) -> R + Sync + Send + 'k,
    {
        self.take_all(&v);
        // The leaves are values, not tasks: only the combines count.
        let info = self.core.info;
        self.tasks(&[], Some(info));
        let n = v.len();
        self.make_reduce(n, VecLeaf { v }, combine, &[])
    }
}

impl<'g, 'k> Loop<'g, 'k, ()> {
    /// Makes this loop `n` iterations that only write output elements (the
    /// element families `elements`) or run for their effects.
    pub fn each<L>(&mut self, n: usize, leaf: L, elements: &[u32]) -> Result<Lazy<'g, ()>, Error>
    where
        L: Fn(u32, &Cx<'_, 'g>) -> Result<(), Stopped> + Sync + Send + 'k,
    {
        self.set(
            n,
            Each {
                leaf,
                remaining: AtomicU32::new(0),
            },
            elements,
        )
    }
}

impl<'g, 'k, S: Send + Sync> Loop<'g, 'k, S> {
    /// Makes this loop a chain of `n` steps from the value `init` takes.
    pub fn chain<I, F>(&mut self, n: usize, init: I, step: F) -> Result<Lazy<'g, S>, Error>
    where
        I: Fn(&Cx<'_, 'g>) -> S + Sync + Send + 'k,
        F: Fn(u32, S, &Cx<'_, 'g>) -> Result<S, Stopped> + Sync + Send + 'k,
    {
        self.set(n, Chain { init, step }, &[])
    }
}

// ---------------------------------------------------------------------------
// Output elements.

/// The values a fused loop pushes onto one vector: element `k` is written by
/// the iteration that pushes it, and all are ready when the loop ends.
pub struct Elements<'g, T> {
    core: Core,
    cells: Cells,
    /// The cells and the states, found once when the run is prepared.
    at: std::cell::Cell<(*mut MaybeUninit<T>, *const AtomicU32)>,
    _brand: Brand<'g>,
    _t: PhantomData<fn() -> T>,
}

// SAFETY: each cell is written by the one iteration that pushes it, then
// read under the slot protocol (`T: Send + Sync`); `at` is set before the
// run and only read during it.
unsafe impl<T: Send + Sync> Sync for Elements<'_, T> {}

// SAFETY: `at` points into the cells' heap storage (`cells`), which moves
// with the family and holds `T: Send` values.
unsafe impl<T: Send> Send for Elements<'_, T> {}

impl<'g, T> Elements<'g, T> {
    pub(crate) fn new(id: u32, info: &'static FamilyInfo) -> Self {
        Elements {
            core: Core::new(id, Kind::Elements, info),
            cells: Cells::new(),
            at: std::cell::Cell::new((std::ptr::null_mut(), std::ptr::null())),
            _brand: PhantomData,
            _t: PhantomData,
        }
    }

    /// Makes room for `n` elements and returns them as a vector.
    ///
    /// # Errors
    /// [`Error::GraphTooLarge`] beyond `u32::MAX - 3` elements.
    pub fn make(&mut self, n: usize) -> Result<LazyVec<'g, T>, Error> {
        let c = &mut self.core;
        c.len = u32::try_from(n)
            .ok()
            .filter(|&n| n < u32::MAX - 2)
            .ok_or_else(|| too_long(c.info))?;
        c.at = Default::default();
        c.at.add(0, &[0]);
        let mut v = LazyVec::new();
        v.push_run(c.id, 0, c.len);
        Ok(v)
    }

    /// The family number, for the loop that writes the elements.
    pub fn id(&self) -> u32 {
        self.core.id
    }

    /// Writes element `k` (once, from the iteration that pushes it).
    #[inline(always)]
    pub fn write(&self, k: u32, v: T, _: &Cx<'_, 'g>) {
        assert!(
            k < self.core.len,
            "taskgraph internal error: element out of range"
        );
        let (cells, states) = self.at.get();
        // SAFETY: `prepare` set both to this family's `len` cells and states
        // (`k` is in bounds), alive for the run (the topology's states
        // buffer is neither freed nor moved while it runs); each element is
        // written once, by its iteration, before the loop ends and anyone
        // reads it.
        unsafe {
            let state = &*states.add(k as usize);
            Slot::new(cells.add(k as usize), state).write(v)
        }
    }
}

impl<'g, T: Send + Sync> ErasedFamily<'g> for Elements<'g, T> {
    fn core(&self) -> &Core {
        &self.core
    }
    fn for_each_gather(&self, _: &mut dyn FnMut(u32, Piece)) {}
    fn prepare(&self, cache: &Cache, states: *const AtomicU32) -> Result<*mut u8, Error> {
        // SAFETY: before the run, single-threaded.
        let p = unsafe { self.cells.prepare::<T>(cache, self.core.len as usize)? };
        self.at.set((p.cast(), states));
        Ok(p)
    }
    fn run(&self, _: u32, _: &Cx<'_, 'g>) -> Ran {
        unreachable!("taskgraph internal error: loop elements are not run")
    }
    fn publish(&self, idx: u32, uses: u32, cx: &Cx<'_, 'g>) {
        // SAFETY: the loop has ended, so the element is written, and its
        // consumers are told only after this.
        unsafe { self.cells.publish::<T>(self.core.id, idx, uses, cx) }
    }
    fn publish_range(&self, lo: u32, hi: u32, uses: u32, cx: &Cx<'_, 'g>) {
        // SAFETY: as in `publish`.
        unsafe {
            self.cells
                .publish_range::<T>(self.core.id, lo, hi, uses, cx)
        }
    }
    fn drop_range(&self, lo: u32, hi: u32, cx: &Cx<'_, 'g>) -> bool {
        if std::mem::needs_drop::<T>() {
            return false;
        }
        // Dropping them runs nothing, and nothing reads their states again
        // but the teardown's check in debug builds (a release teardown of
        // values without drop glue looks at none; the next run starts from
        // fresh states): cleared there only.
        if cfg!(debug_assertions) {
            // SAFETY: as in `publish`, with no uses: the values are dropped
            // (nothing to run) and their states cleared.
            unsafe { self.cells.publish_range::<T>(self.core.id, lo, hi, 0, cx) };
        }
        true
    }
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize {
        // SAFETY: the run is over; the cells hold `T`s.
        unsafe { self.cells.teardown::<T>(&self.core, cache, live, cx) }
    }
}

impl<O> crate::value::ValueOf for Loop<'_, '_, O> {
    type Value = ();
}

impl<T> crate::value::ValueOf for Elements<'_, T> {
    type Value = ();
}

#[cfg(test)]
mod tests {
    use super::Tiles;

    /// The tiles of `width` values of `size` whose value `k` reads
    /// `k + lo ..= k + hi` (clipped): each tile's dependencies.
    fn deps(width: u32, size: u32, lo: i64, hi: i64) -> Vec<Vec<u32>> {
        let mut t = Tiles::new();
        let w = i64::from(width);
        t.prepare(width, size, &|k| {
            let (a, b) = ((i64::from(k) + lo).max(0), (i64::from(k) + hi).min(w - 1));
            (a <= b).then_some((a as usize, b as usize))
        });
        (0..t.count).map(|i| t.deps(i).to_vec()).collect()
    }

    #[test]
    fn a_tile_depends_on_itself_and_its_neighbours_within_the_reach() {
        // 10 values in tiles of 3 (the last of 1), reach one either side.
        assert_eq!(
            deps(10, 3, -1, 1),
            [vec![0, 1], vec![0, 1, 2], vec![1, 2, 3], vec![2, 3]]
        );
        // No reads: each tile only on itself.
        assert_eq!(deps(5, 2, 1, 0), [vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn a_reach_only_ahead_also_waits_for_the_readers_behind() {
        // Values read `k ..= k + 2`: tile 1 reads tile 2 (read after write)
        // and tile 0 reads tile 1's cells, which tile 1 overwrites two
        // steps on (write after read).
        assert_eq!(
            deps(8, 2, 0, 2),
            [vec![0, 1], vec![0, 1, 2], vec![1, 2, 3], vec![2, 3]]
        );
    }

    #[test]
    fn a_reach_wider_than_a_tile_spans_several_tiles() {
        assert_eq!(
            deps(7, 1, -2, 2),
            [
                vec![0, 1, 2],
                vec![0, 1, 2, 3],
                vec![0, 1, 2, 3, 4],
                vec![1, 2, 3, 4, 5],
                vec![2, 3, 4, 5, 6],
                vec![3, 4, 5, 6],
                vec![4, 5, 6],
            ]
        );
        // One thread: one tile, however wide; several: two a thread.
        assert_eq!(Tiles::size_for(1000, 1), 1000);
        assert_eq!(Tiles::size_for(1000, 2), 250);
        assert_eq!(Tiles::size_for(5, 8), 1);
    }
}

#[cfg(test)]
mod trap_tests {
    use super::Trap;

    /// The trapezoids of `steps` steps of `width` values reading `k -
    /// left ..= k + right` (clipped) on `threads` threads.
    fn trap(width: u32, steps: u32, threads: u32, left: u32, right: u32) -> Trap {
        let mut t = Trap::new();
        t.prepare(width, steps, threads, &|k| {
            let (a, b) = (k.saturating_sub(left), (k + right).min(width - 1));
            Some((a as usize, b as usize))
        });
        t
    }

    /// A piece of one phase, as the schedule's graph sees it.
    #[derive(Clone, Copy, PartialEq, Debug)]
    struct Node {
        piece: u32,
        phase: u32,
    }

    /// Checks the schedule of `t` against the sequential loop it stands
    /// for: every value of every step is made by exactly one piece; a
    /// piece reads each cell of the step before after the piece that wrote
    /// it and before any piece overwrites it (two steps on, same buffer),
    /// and no two pieces the schedule may run at once touch the same cell
    /// of the same buffer with one of them writing it.
    fn check(t: &Trap, width: u32, steps: u32) {
        let (c, k) = (t.pieces(), t.k);
        let phases = steps.div_ceil(k);
        let nodes: Vec<Node> = (0..phases)
            .flat_map(|phase| (0..c).map(move |piece| Node { piece, phase }))
            .collect();
        let id = |n: Node| (n.phase * c + n.piece) as usize;
        // Direct dependencies, from `Trap::arrive_targets`.
        let mut before = vec![vec![false; nodes.len()]; nodes.len()];
        for &n in &nodes {
            t.arrive_targets(n.piece, n.phase, |piece, phase| {
                if phase < phases {
                    before[id(n)][id(Node { piece, phase })] = true;
                }
            });
        }
        // Transitive closure (Warshall's: any order of the middle node).
        for m in 0..nodes.len() {
            let after_m = before[m].clone();
            for row in &mut before {
                if row[m] {
                    for (x, &y) in row.iter_mut().zip(&after_m) {
                        *x |= y;
                    }
                }
            }
        }
        // Who makes each value of each step.
        let mut maker = vec![vec![None; width as usize]; steps as usize];
        for &n in &nodes {
            for s in n.phase * k..((n.phase + 1) * k).min(steps) {
                let (lo, hi) = t.range(n.piece, s);
                for x in lo..hi {
                    let m = &mut maker[s as usize][x as usize];
                    assert_eq!(*m, None, "value {x} of step {s} made twice");
                    *m = Some(n);
                }
            }
        }
        for (s, row) in maker.iter().enumerate() {
            for (x, m) in row.iter().enumerate() {
                assert!(m.is_some(), "value {x} of step {s} never made");
            }
        }
        let ordered = |a: Node, b: Node| a == b || before[id(a)][id(b)] || before[id(b)][id(a)];
        // Each piece's reads: of step `s`'s input (buffer `s % 2`).
        for &n in &nodes {
            for s in n.phase * k..((n.phase + 1) * k).min(steps) {
                let (lo, hi) = t.range(n.piece, s);
                if lo == hi {
                    continue;
                }
                let (rlo, rhi) = t.window(lo, hi, width);
                for x in rlo..rhi {
                    // Written by the maker of step `s - 1`'s value `x`
                    // (the input if `s` is 0): that piece comes first.
                    if s > 0 {
                        let w = maker[s as usize - 1][x as usize].unwrap();
                        assert!(
                            w == n || before[id(w)][id(n)],
                            "{n:?} reads {x} of step {s} before {w:?} made it"
                        );
                    }
                    // Overwritten by the maker of step `s + 1`'s value
                    // `x`: that piece comes after (or is this one, later).
                    if let Some(w) = maker.get(s as usize + 1).map(|r| r[x as usize].unwrap()) {
                        assert!(
                            w == n || before[id(n)][id(w)],
                            "{w:?} overwrites {x} (step {s}) before {n:?} read it"
                        );
                    }
                    // Nothing unordered writes step `s`'s buffer there
                    // either (steps `s - 2`, `s + 2`, ...).
                    for s2 in (s % 2..steps).step_by(2) {
                        if s2 + 1 == s || s2 == s + 1 {
                            continue;
                        }
                        if let Some(w) = s2.checked_sub(1).map(|s1| maker[s1 as usize][x as usize])
                        {
                            let w = w.unwrap();
                            assert!(ordered(n, w), "{n:?} reads {x} while {w:?} may write it");
                        }
                    }
                }
            }
        }
        // Writes of one buffer cell by pieces that may run at once.
        for (s, row) in maker.iter().enumerate() {
            for later in maker.iter().skip(s + 2).step_by(2) {
                for (x, (a, b)) in row.iter().zip(later).enumerate() {
                    let (a, b) = (a.unwrap(), b.unwrap());
                    assert!(ordered(a, b), "{a:?} and {b:?} both write {x}");
                }
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "no unsafe code; thousands of schedules")]
    fn trapezoids_make_every_value_once_in_an_order_the_loop_allows() {
        let mut seen = 0;
        for threads in 2..=5 {
            for width in [8, 13, 30, 64, 101] {
                for steps in [2, 3, 7, 16, 33] {
                    for (left, right) in [(1, 1), (2, 1), (0, 2), (3, 3), (0, 0), (1, 0)] {
                        let t = trap(width, steps, threads, left, right);
                        if t.count == 0 {
                            continue;
                        }
                        seen += 1;
                        assert!(t.k >= 2 && t.count >= 2 && t.count <= threads);
                        check(&t, width, steps);
                    }
                }
            }
        }
        assert!(seen > 300, "{seen}");
    }

    #[test]
    fn trapezoids_need_several_threads_and_a_reach_narrow_enough() {
        // One thread: a tile a step, as before.
        assert_eq!(trap(1000, 1000, 1, 1, 1).count, 0);
        // Two threads: 2 diamonds a row, half-tiles of 250 values, phases
        // of 250 steps.
        let t = trap(1000, 1000, 2, 1, 1);
        assert_eq!((t.count, t.k, t.reach), (2, 250, 1));
        assert_eq!(t.bounds, [0, 250, 500, 750, 1000]);
        // Phase 0: the uprights are the odd pieces, shrinking at both ends
        // (the edges too); the inverted pieces grow from each bound.
        assert_eq!(
            [0, 1, 2, 3, 4].map(|q| t.range(q, 0)),
            [(0, 1), (1, 499), (499, 501), (501, 999), (999, 1000)]
        );
        assert_eq!(t.range(1, 249), (250, 250));
        assert_eq!(t.range(2, 249), (250, 750));
        // Phase 1: the even ones are upright, those at the edges half as
        // wide, shrinking only inwards.
        assert_eq!(
            [0, 1, 2, 3, 4].map(|q| t.range(q, 250)),
            [(0, 249), (249, 251), (251, 749), (749, 751), (751, 1000)]
        );
        assert_eq!(t.range(0, 499), (0, 0));
        assert_eq!(t.range(1, 499), (0, 500));
        // Three: half-tiles of 166 or 167 values.
        let t = trap(1000, 1000, 3, 1, 1);
        assert_eq!((t.count, t.k), (3, 166));
        assert_eq!(t.bounds, [0, 166, 333, 500, 666, 833, 1000]);
        // The reach is the widest side's.
        let t = trap(1000, 1000, 2, 0, 5);
        assert_eq!((t.count, t.k, t.reach), (2, 50, 5));
        // No reach: one phase of every step.
        let t = trap(10, 7, 2, 0, 0);
        assert_eq!((t.count, t.k), (2, 7));
        // Too wide a reach for phases of two steps on two tiles.
        assert_eq!(trap(30, 10, 2, 4, 4).count, 0);
        // Fewer tiles where they would be too narrow.
        assert_eq!(trap(30, 10, 16, 1, 1).count, 7);
        // A single step: nothing to gain.
        assert_eq!(trap(1000, 1, 2, 1, 1).count, 0);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! The per-tile protocol of `Steps::run_block` and `Tiles::arrive`,
    //! written out as it is there, on two tiles of one value each that
    //! depend on each other (a reach of one cell either side), for two
    //! steps: step 0 reads buffer 0 and writes buffer 1, step 1 reads
    //! buffer 1 (read after write) and overwrites buffer 0, which the other
    //! tile read at step 0 (write after read). Each tile that finishes a
    //! step arrives at both tiles' counters (`AcqRel`); the thread whose
    //! arrival completes a tile runs it in place if it is its own, else
    //! hands it to the other thread: the deque's push and steal (a release
    //! and an acquire), written here as a flag.
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicU32, Ordering};
    use loom::sync::Arc;

    /// The arrivals' ordering; the model must fail with `Relaxed`.
    const ARRIVE: Ordering = Ordering::AcqRel;

    struct Steps {
        bufs: [[UnsafeCell<u32>; 2]; 2],
        /// Arrivals for step 1 of each tile (both tiles are its deps).
        arrived: [AtomicU32; 2],
        /// Step 1 of tile `i` handed to thread `i`.
        handed: [AtomicU32; 2],
    }

    /// Value `k` of step `t`, from both values of the step before.
    fn value(s: &Steps, t: usize, k: usize) -> u32 {
        let prev = &s.bufs[t % 2];
        // SAFETY (model): the cells of the step before are complete and no
        // tile writes them until both tiles finished this step.
        let v = prev[0].with(|p| unsafe { *p }) + prev[1].with(|p| unsafe { *p }) + k as u32;
        // SAFETY (model): cell `k` of this step is tile `k`'s alone.
        s.bufs[(t + 1) % 2][k].with_mut(|p| unsafe { *p = v });
        v
    }

    /// Thread `k` runs tile `k` of step 0, arrives at both tiles, then
    /// runs the step-1 tiles it gets: those it made ready (its own in
    /// place; the other, if it made both, handed to the other thread), or
    /// the one handed to it; returns the values of step 1 it made.
    fn thread(s: &Steps, k: usize) -> Vec<(usize, u32)> {
        value(s, 0, k);
        let ready: Vec<usize> = (0..2)
            .filter(|&m| s.arrived[m].fetch_add(1, ARRIVE) + 1 == 2)
            .collect();
        let run = match ready[..] {
            [] => {
                while s.handed[k].load(Ordering::Acquire) == 0 {
                    loom::thread::yield_now();
                }
                k
            }
            [m] => m,
            _ => {
                s.handed[1 - k].store(1, Ordering::Release);
                k
            }
        };
        vec![(run, value(s, 1, run))]
    }

    #[test]
    fn a_tile_waits_for_the_tiles_it_reads_and_those_that_read_it() {
        loom::model(|| {
            let s = Arc::new(Steps {
                bufs: [
                    [UnsafeCell::new(1), UnsafeCell::new(2)],
                    [UnsafeCell::new(0), UnsafeCell::new(0)],
                ],
                arrived: [AtomicU32::new(0), AtomicU32::new(0)],
                handed: [AtomicU32::new(0), AtomicU32::new(0)],
            });
            let other = {
                let s = Arc::clone(&s);
                loom::thread::spawn(move || thread(&s, 1))
            };
            let mut made = thread(&s, 0);
            made.extend(other.join().unwrap());
            made.sort();
            // Step 0: 3 + k; step 1: 3 + 4 + k, each made exactly once.
            assert_eq!(made, [(0, 7), (1, 8)]);
        });
    }
}

#[cfg(all(test, loom))]
mod trap_loom_models {
    //! The arrivals of a step loop run as trapezoids (`Steps::run_pieces`,
    //! `Trap::arrive`), written out as there on two diamonds a row (pieces
    //! 0..=4, a cell each) and two phases: thread `i` runs upright `2i + 1`
    //! of phase 0 (writing its cell), then arrives at the inverted pieces
    //! beside it (`AcqRel`; piece 2 needs both uprights, the edge pieces 0
    //! and 4 one). The thread whose arrival completes an inverted piece
    //! runs it (it reads its neighbours' cells and writes its own) and goes
    //! straight on with the upright above it in phase 1, with no counter
    //! between them: that upright reads its own cell and its neighbours'
    //! (the phase-0 uprights', ordered only through the inverted piece's
    //! arrivals), then arrives at the inverted pieces 1 and 3 of phase 1,
    //! which read the cells of the uprights beside them and overwrite
    //! their own, read in phase 0 by the pieces beside them (write after
    //! read). A thread runs every piece it made ready itself (a hand-off
    //! through the deque is a release and an acquire, as in
    //! `loom_models`). loom checks every read follows its write and
    //! precedes the overwrite; the model fails with `Relaxed`.
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicU32, Ordering};
    use loom::sync::Arc;

    const ARRIVE: Ordering = Ordering::AcqRel;
    const PIECES: usize = 5;

    struct Pieces {
        cells: [UnsafeCell<u32>; PIECES],
        arrived: [AtomicU32; PIECES],
    }

    fn read(s: &Pieces, m: usize) -> u32 {
        // SAFETY (model): loom checks no write of this cell is unordered
        // with this read.
        s.cells[m].with(|c| unsafe { *c })
    }

    fn write(s: &Pieces, m: usize, v: u32) {
        // SAFETY (model): loom checks no access to this cell is unordered
        // with this write.
        s.cells[m].with_mut(|c| unsafe { *c = v });
    }

    /// The pieces beside piece `m`.
    fn beside(m: usize) -> impl Iterator<Item = usize> {
        [m.wrapping_sub(1), m + 1]
            .into_iter()
            .filter(|&n| n < PIECES)
    }

    /// Upright `m` of phase `p` ended: arrives at the inverted pieces
    /// beside it and runs those it completes (after phase 0, with the
    /// upright above each); notes each piece it ran and the value it made.
    fn arrive(s: &Pieces, m: usize, p: u32, made: &mut Vec<(usize, u32, u32)>) {
        for n in beside(m) {
            if s.arrived[n].fetch_add(1, ARRIVE) + 1 != beside(n).count() as u32 {
                continue;
            }
            let v = beside(n).map(|j| read(s, j)).sum();
            write(s, n, v);
            made.push((n, p, v));
            if p == 0 {
                let u = read(s, n) + beside(n).map(|j| read(s, j)).sum::<u32>() + 1;
                write(s, n, u);
                made.push((n, 1, u));
                arrive(s, n, 1, made);
            }
        }
    }

    /// Thread `i`: upright `2i + 1` of phase 0, then whatever its arrivals
    /// make ready.
    fn thread(s: &Pieces, i: usize) -> Vec<(usize, u32, u32)> {
        let m = 2 * i + 1;
        let v = 10 * m as u32;
        write(s, m, v);
        let mut made = vec![(m, 0, v)];
        arrive(s, m, 0, &mut made);
        made
    }

    #[test]
    fn a_diamond_waits_for_the_pieces_below_it_and_beside_it() {
        loom::model(|| {
            let s = Arc::new(Pieces {
                cells: std::array::from_fn(|_| UnsafeCell::new(0)),
                arrived: std::array::from_fn(|_| AtomicU32::new(0)),
            });
            let other = {
                let s = Arc::clone(&s);
                loom::thread::spawn(move || thread(&s, 1))
            };
            let mut made = thread(&s, 0);
            made.extend(other.join().unwrap());
            made.sort();
            // Phase 0: uprights 1 and 3 make 10 and 30, the inverted pieces
            // 0, 2, 4 the sums beside them; phase 1: each upright its own
            // and its neighbours' cells plus one, the inverted pieces 1 and
            // 3 the sums beside them. Each piece runs once a phase.
            assert_eq!(
                made,
                [
                    (0, 0, 10),
                    (0, 1, 21),
                    (1, 0, 10),
                    (1, 1, 102),
                    (2, 0, 40),
                    (2, 1, 81),
                    (3, 0, 30),
                    (3, 1, 142),
                    (4, 0, 30),
                    (4, 1, 61),
                ]
            );
        });
    }
}

#[cfg(all(test, loom))]
mod wave_loom_models {
    //! The arrivals of `Wave::run_block` (`WaveTiles::arrive`), written out
    //! as there on a grid of 2 x 2 tiles of one cell: tile (0, 0) is done;
    //! two threads run tiles (0, 1) and (1, 0), each writing its cell and
    //! arriving at tile (1, 1) (its counter starts at 2, `AcqRel`); the
    //! thread whose arrival takes it to zero runs it, reading both cells
    //! (and the first). loom checks the reads happen after both writes; the
    //! model fails with `Relaxed`.
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicU32, Ordering};
    use loom::sync::Arc;

    const ARRIVE: Ordering = Ordering::AcqRel;

    struct Grid {
        cells: [UnsafeCell<u32>; 4],
        need: AtomicU32,
    }

    /// Thread for tile `m` (1 or 2): makes its cell from cell 0, arrives;
    /// returns cell 3 if it ran tile 3.
    fn tile(g: &Grid, m: usize) -> Option<u32> {
        // SAFETY (model): cell 0 was written before the threads started;
        // cell `m` is this tile's alone.
        let v = g.cells[0].with(|p| unsafe { *p }) + m as u32;
        g.cells[m].with_mut(|p| unsafe { *p = v });
        if g.need.fetch_sub(1, ARRIVE) != 1 {
            return None;
        }
        // SAFETY (model): both neighbours arrived: their cells are done.
        let (a, b) = (
            g.cells[1].with(|p| unsafe { *p }),
            g.cells[2].with(|p| unsafe { *p }),
        );
        g.cells[3].with_mut(|p| unsafe { *p = a + b });
        Some(a + b)
    }

    #[test]
    fn a_tile_runs_after_the_tiles_above_and_left_of_it() {
        loom::model(|| {
            let g = Arc::new(Grid {
                cells: [
                    UnsafeCell::new(10),
                    UnsafeCell::new(0),
                    UnsafeCell::new(0),
                    UnsafeCell::new(0),
                ],
                need: AtomicU32::new(2),
            });
            let h = {
                let g = g.clone();
                loom::thread::spawn(move || tile(&g, 2))
            };
            let a = tile(&g, 1);
            let b = h.join().unwrap();
            // Exactly one of them ran the last tile, with both cells.
            assert_eq!(a.or(b), Some(23));
            assert!(a.is_none() || b.is_none());
        });
    }
}
