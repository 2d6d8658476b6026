//! Task families: one per call site in a `graph!` whose nodes run node by
//! node. A family keeps, per node, only its plain arguments (and the vectors
//! it gathers); its lazy inputs are runs of producer nodes (`RunList`), its
//! loop indices runs too, and its outputs a typed array of cells.

use std::cell::UnsafeCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::Error;
use crate::exec::cache::Cache;
use crate::exec::future::Header;
use crate::exec::task::{lift, TaskError, TaskErrorType};
use crate::exec::{Cells, Core, Cx, ErasedFamily, Full, Kind, Ran, RunList};
use crate::pass::{Fallible, InputSet, NotDelayed, Stores};
use crate::site::{FamilyInfo, LoopIndex};
use crate::sync::AtomicU32;
use crate::value::{Brand, Lazy, NodeId, Piece};

/// A node's record: its plain arguments and stored inputs, taken by the one
/// thread that runs it.
type Record<A, S> = UnsafeCell<Option<(A, S)>>;

/// All nodes of one call site that run node by node.
///
/// Built single-threaded while the graph is instantiated (`push`), then run:
/// each node's record is taken exactly once, by the thread that runs it.
pub struct Family<'g, A, I: Stores, L, T> {
    core: Core,
    recs: Vec<Record<A, I::Stored>>,
    /// How many nodes `recs` holds without growing, at most `MAX_NODES`:
    /// one comparison per pushed node checks both.
    room: usize,
    values: Cells,
    _brand: Brand<'g>,
    _t: PhantomData<fn() -> (L, T)>,
}

// SAFETY: during a run, a node's record is accessed only by the single thread
// that runs the node (it becomes ready exactly once), so moving `A` and the
// stored inputs out needs only `Send`; runs and indices are only read; the
// value cells are accessed under the slot protocol (`T: Send + Sync`).
unsafe impl<A: Send, I: Stores, L: Sync, T: Send + Sync> Sync for Family<'_, A, I, L, T> {}

impl<'g, L: LoopIndex, T: Send + Sync> Family<'g, (), (Lazy<'g, T>, Lazy<'g, T>), L, T> {
    /// Adds `k` nodes at once, the next ones, which combine pairs of
    /// consecutive nodes of one family: node `j` reads `first + 2j` and
    /// `first + 2j + 1`, at the loop indices `at` with the innermost counting
    /// up by one a node (a level of `tree_reduce`). Records what `k` calls of
    /// [`push`](Self::push) would, with two runs and one run of indices
    /// instead of a record, two runs and indices tested per node. `false`
    /// (nothing added) where the family has no room for them all: the
    /// caller then pushes them one at a time, which grows the family or
    /// records why it cannot.
    pub(crate) fn push_pairs(&mut self, at: L, first: NodeId, k: u32) -> bool
    where
        T: Send + Sync,
    {
        let idx = self.recs.len();
        if k == 0 || self.room - idx < k as usize {
            return k == 0;
        }
        let c0 = idx as u32;
        let c = &mut self.core;
        let second = NodeId::new(first.fam, first.idx + 1);
        c.runs[0].add_run(c0, k, first, 2);
        c.runs[1].add_run(c0, k, second, 2);
        self.recs
            .extend((0..k).map(|_| UnsafeCell::new(Some(((), ((), ()))))));
        c.at.add(c0, at.as_slice());
        c.len = c0 + k;
        true
    }
}

impl<'g, A, I: InputSet<'g>, L: LoopIndex, T> Family<'g, A, I, L, T> {
    pub(crate) fn new(id: u32, info: &'static FamilyInfo) -> Self {
        let mut core = Core::new(id, Kind::Tasks, info);
        core.singles = I::SINGLES;
        core.runs.resize_with(I::LEN, RunList::default);
        Family {
            core,
            recs: Vec::new(),
            room: 0,
            values: Cells::new(),
            _brand: PhantomData,
            _t: PhantomData,
        }
    }

    /// Marks inputs (bit `j`: input `j`) that another input's producer
    /// always follows, so the node need not wait for them separately (the
    /// macro proves it: they are ancestors of another input).
    pub fn imply(&mut self, mask: u32) {
        self.core.implied = mask;
        self.core.singles = I::SINGLES - mask.count_ones();
    }

    /// The number of nodes pushed so far.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.core.len
    }

    /// Reserves room for `n` more nodes (the enclosing loop's size hint).
    ///
    /// Only a hint: when the room cannot be had (a loop's range larger than
    /// memory, or than a `Vec` can hold) nothing is reserved, and the pushes
    /// that follow fail the graph as [`push`](Self::push) says, instead of
    /// aborting the process here.
    #[inline]
    pub fn reserve(&mut self, n: usize) {
        // A failed reservation leaves the vector as it was.
        let _ = self.recs.try_reserve(n);
        self.room = self.recs.capacity().min(MAX_NODES);
    }

    /// Reserves room for `runs` runs of loop indices, `depth` deep.
    pub(crate) fn reserve_indices(&mut self, runs: usize, depth: usize) {
        self.core.at.reserve(runs, depth);
    }

    /// Adds one node and returns the handle of its future output.
    ///
    /// A family holds at most `u32::MAX - 3` nodes; beyond, or when memory
    /// for the node cannot be had, the node is not added and the family
    /// records why (the first time): building the graph goes on to the end
    /// of the graph's code, adding nothing more to this family, and the
    /// graph's `execute` fails with [`Error::GraphTooLarge`] or
    /// [`Error::OutOfMemory`] before any task runs. The handle returned then
    /// names no node, and is never run. So the generated code has no exit at
    /// each call site: less code to compile per `graph!`.
    ///
    /// [`Error::GraphTooLarge`]: crate::Error::GraphTooLarge
    /// [`Error::OutOfMemory`]: crate::Error::OutOfMemory
    #[inline]
    // `extern "C"`: it cannot unwind (it has no panic but internal errors,
    // which then abort), so the graph's code that calls it has no unwinding
    // path at each call: less code to compile per `graph!`. The same for the
    // other calls the graph's code makes while it is built (`Scope::family`,
    // `SyncTask::bind`, ...).
    #[allow(improper_ctypes_definitions)]
    pub extern "C" fn push(&mut self, at: L, args: A, inputs: I) -> Lazy<'g, T> {
        let idx = self.recs.len();
        if idx >= self.room && !self.make_room() {
            return Lazy::new(NodeId::new(self.core.id, idx as u32));
        }
        let idx = idx as u32;
        let c = &mut self.core;
        let stored = inputs.record(idx, &mut c.runs);
        self.recs.push(UnsafeCell::new(Some((args, stored))));
        c.at.add(idx, at.as_slice());
        c.len = idx + 1;
        Lazy::new(NodeId::new(c.id, idx))
    }

    /// Why the family could not take a node ([`Core::failure`]), if it
    /// could not: for the runtime's own code, which stops there.
    #[inline]
    pub(crate) fn failure(&self) -> Option<Error> {
        match self.core.full {
            Full::No => None,
            _ => self.core.failure(),
        }
    }

    /// Makes room for the next node ([`grow`]); `false` if there is none,
    /// the family then being full ([`Full`]), for good: once full, it takes
    /// no more nodes.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self) -> bool {
        if self.core.full != Full::No {
            return false;
        }
        match grow(&mut self.recs) {
            Ok(room) => {
                self.room = room;
                true
            }
            Err(full) => {
                self.core.full = full;
                false
            }
        }
    }

    /// The family's call site.
    pub fn info(&self) -> &'static FamilyInfo {
        self.core.info
    }

    /// The family's number within its graph.
    pub fn id(&self) -> u32 {
        self.core.id
    }

    /// Attaches the task's body (the generated call of the `#[delayed]`
    /// function) for the run.
    ///
    /// The body is a function pointer (the generated closure captures
    /// nothing), so that every call site of the same types shares one
    /// [`Bound`] and its run: a release build compiles the node-by-node
    /// machinery once per family type, not once per call site.
    #[inline(always)]
    pub fn bind(&self, body: BodyFn<'g, A, I, T>) -> PlainBound<'_, 'g, A, I, L, T> {
        Bound {
            fam: self,
            body: Plain(body),
        }
    }

    /// Attaches the body of a task called with `?`: its `Err` fails the
    /// run with this task.
    #[inline(always)]
    pub fn try_bind(
        &self,
        body: BodyFn<'g, A, I, Result<T, TaskError>>,
    ) -> TryBound<'_, 'g, A, I, L, T> {
        Bound {
            fam: self,
            body: Try(body),
        }
    }
}

/// A task's body as [`Family::bind`] takes it: the generated call of the
/// `#[delayed]` function, given the node's plain arguments, its inputs and
/// the run.
pub type BodyFn<'g, A, I, T> = for<'a, 'r> fn(A, I, &'a Cx<'r, 'g>) -> T;

/// A family bound to the body of a task that cannot fail but by panicking
/// ([`Family::bind`]).
pub type PlainBound<'f, 'g, A, I, L, T> = Bound<'f, 'g, A, I, L, T, Plain<BodyFn<'g, A, I, T>>>;

/// A family bound to the body of a task called with `?`
/// ([`Family::try_bind`]).
pub type TryBound<'f, 'g, A, I, L, T> =
    Bound<'f, 'g, A, I, L, T, Try<BodyFn<'g, A, I, Result<T, TaskError>>>>;

/// A task body as the run calls it: its outcome is a value.
pub trait Body<'g, A, I, T>: Sync {
    /// Runs the task.
    fn call(&self, args: A, inputs: I, cx: &Cx<'_, 'g>) -> Result<T, TaskError>;
}

/// The body of a task that cannot fail but by panicking.
pub struct Plain<F>(F);

/// The body of a task called with `?`.
pub struct Try<F>(F);

impl<'g, A, I, T, F: Fn(A, I, &Cx<'_, 'g>) -> T + Sync> Body<'g, A, I, T> for Plain<F> {
    #[inline(always)]
    fn call(&self, args: A, inputs: I, cx: &Cx<'_, 'g>) -> Result<T, TaskError> {
        Ok((self.0)(args, inputs, cx))
    }
}

impl<'g, A, I, T, F> Body<'g, A, I, T> for Try<F>
where
    F: Fn(A, I, &Cx<'_, 'g>) -> Result<T, TaskError> + Sync,
{
    #[inline(always)]
    fn call(&self, args: A, inputs: I, cx: &Cx<'_, 'g>) -> Result<T, TaskError> {
        (self.0)(args, inputs, cx)
    }
}

/// The most nodes a family holds.
const MAX_NODES: usize = (u32::MAX - 3) as usize;

/// Makes room for the next record of a family, which holds `recs`: fails
/// with [`Full::TooManyNodes`] beyond `MAX_NODES`, doubles the room when it
/// is full, or fails with [`Full::OutOfMemory`] if there is no memory for
/// it. Returns the new room (`Family::room`).
fn grow<R>(recs: &mut Vec<R>) -> Result<usize, Full> {
    if recs.len() >= MAX_NODES {
        return Err(Full::TooManyNodes);
    }
    if recs.len() == recs.capacity() {
        let more = recs.capacity().max(4);
        recs.try_reserve(more).map_err(|_| Full::OutOfMemory {
            bytes: more.saturating_mul(std::mem::size_of::<R>()),
        })?;
    }
    Ok(recs.capacity().min(MAX_NODES))
}
#[cold]
#[inline(never)]
fn ran_twice() -> ! {
    panic!("taskgraph internal error: a node ran twice")
}

/// A family with its task body, as the run sees it.
pub struct Bound<'f, 'g, A, I: Stores, L, T, F> {
    fam: &'f Family<'g, A, I, L, T>,
    body: F,
}

impl<'g, A, I, L, T, F> ErasedFamily<'g> for Bound<'_, 'g, A, I, L, T, F>
where
    A: Send,
    I: InputSet<'g>,
    L: LoopIndex,
    T: Send + Sync,
    F: Body<'g, A, I, T>,
{
    fn core(&self) -> &Core {
        &self.fam.core
    }
    fn value_type(&self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }
    fn for_each_gather(&self, f: &mut dyn FnMut(u32, Piece)) {
        if I::GATHERS {
            self.fam.for_each_gather(f)
        }
    }
    fn prepare(&self, cache: &Cache, _: *const AtomicU32) -> Result<*mut u8, Error> {
        self.fam.prepare(cache)
    }
    #[inline]
    fn run(&self, idx: u32, cx: &Cx<'_, 'g>) -> Ran {
        let fam = self.fam;
        let (args, inputs) = fam.take(idx);
        let id = NodeId::new(fam.core.id, idx);
        let Ok(out) = cx.node(id, || self.body.call(args, inputs, cx)) else {
            return Ran::Stopped;
        };
        // SAFETY: this thread runs the producer; its consumers become ready
        // only after this returns and the executor tells them.
        unsafe { cx.slot_of::<T>(id).write_raw(out) };
        Ran::Done
    }
    fn publish(&self, idx: u32, uses: u32, cx: &Cx<'_, 'g>) {
        self.fam.publish(idx, uses, cx)
    }
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize {
        self.fam.teardown(cx, cache, live)
    }
}

// What a bound family does apart from running its body: generic over the
// family's types only, so its families of any body share one copy.
impl<'g, A, I, L, T> Family<'g, A, I, L, T>
where
    A: Send,
    I: InputSet<'g>,
    T: Send + Sync,
{
    #[inline(never)]
    fn for_each_gather(&self, f: &mut dyn FnMut(u32, Piece)) {
        for (i, r) in self.recs.iter().enumerate() {
            // SAFETY: called before the run starts, single-threaded; the
            // record is only read.
            if let Some((_, s)) = unsafe { &*r.get() } {
                I::gathers(s, &mut |p| f(i as u32, p));
            }
        }
    }

    #[inline(never)]
    fn prepare(&self, cache: &Cache) -> Result<*mut u8, Error> {
        // SAFETY: before the run, single-threaded.
        unsafe { self.values.prepare::<T>(cache, self.recs.len()) }
    }

    /// Takes node `idx`'s arguments and inputs, to run it: inlined into the
    /// task's run (a call of its own cost about 20 instructions a task).
    #[inline(always)]
    fn take(&self, idx: u32) -> (A, I) {
        // SAFETY: the scheduler runs each node once, on one thread, and
        // nothing else touches its record during the run.
        let (args, stored) = match unsafe { (*self.recs[idx as usize].get()).take() } {
            Some(r) => r,
            None => ran_twice(),
        };
        (args, I::rebuild(stored, &self.core.runs, idx))
    }

    #[inline(never)]
    fn publish(&self, idx: u32, uses: u32, cx: &Cx<'_, 'g>) {
        // SAFETY: the node has run (its value is written) and its consumers
        // are told only after this.
        unsafe { self.values.publish::<T>(self.core.id, idx, uses, cx) }
    }

    #[inline(never)]
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize {
        // SAFETY: the run is over; no other thread touches the family, whose
        // cells hold `T`s.
        unsafe { self.values.teardown::<T>(&self.core, cache, live, cx) }
    }
}

impl<'g, A, I: InputSet<'g>, L, T, F> crate::value::ValueOf for Bound<'_, 'g, A, I, L, T, F> {
    type Value = T;
}

// ---------------------------------------------------------------------------
// Async tasks (`#[delayed] async fn`): the family's node builds a future,
// which the executor polls (`exec/future.rs`).

impl<'g, A, I: InputSet<'g>, L: LoopIndex, T> Family<'g, A, I, L, T> {
    /// Attaches the body of an async task: it builds the task's future
    /// (taking the node's inputs), whose output is the node's.
    #[inline(always)]
    pub fn bind_async<F, Fut>(&self, body: F) -> AsyncBound<'_, 'g, A, I, L, T, AsyncPlain<F, Fut>>
    where
        F: Fn(A, I, &Cx<'_, 'g>) -> Fut + Sync,
        Fut: Future<Output = T> + Send,
    {
        AsyncBound {
            fam: self,
            body: AsyncPlain(body, PhantomData),
        }
    }

    /// Attaches the body of an async task called with `?`: its future's
    /// `Err` fails the run with this task.
    #[inline(always)]
    pub fn try_bind_async<F, Fut>(
        &self,
        body: F,
    ) -> AsyncBound<'_, 'g, A, I, L, T, AsyncTry<F, Fut>>
    where
        F: Fn(A, I, &Cx<'_, 'g>) -> Fut + Sync,
        Fut: Future<Output = Result<T, TaskError>> + Send,
    {
        AsyncBound {
            fam: self,
            body: AsyncTry(body, PhantomData),
        }
    }
}

/// The body of an async task as the run calls it: it builds the future.
pub trait AsyncBody<'g, A, I, T>: Sync {
    /// The task's future; its outcome is a value.
    type Fut: Future<Output = Result<T, TaskError>> + Send;
    /// Builds the future.
    fn call(&self, args: A, inputs: I, cx: &Cx<'_, 'g>) -> Self::Fut;
}

/// The body of an async task that cannot fail but by panicking.
pub struct AsyncPlain<F, Fut>(F, PhantomData<fn() -> Fut>);

/// The body of an async task called with `?`.
pub struct AsyncTry<F, Fut>(F, PhantomData<fn() -> Fut>);

impl<'g, A, I, T, F, Fut> AsyncBody<'g, A, I, T> for AsyncPlain<F, Fut>
where
    F: Fn(A, I, &Cx<'_, 'g>) -> Fut + Sync,
    Fut: Future<Output = T> + Send,
{
    type Fut = Infallible<Fut>;
    #[inline(always)]
    fn call(&self, args: A, inputs: I, cx: &Cx<'_, 'g>) -> Infallible<Fut> {
        Infallible((self.0)(args, inputs, cx))
    }
}

impl<'g, A, I, T, F, Fut> AsyncBody<'g, A, I, T> for AsyncTry<F, Fut>
where
    F: Fn(A, I, &Cx<'_, 'g>) -> Fut + Sync,
    Fut: Future<Output = Result<T, TaskError>> + Send,
{
    type Fut = Fut;
    #[inline(always)]
    fn call(&self, args: A, inputs: I, cx: &Cx<'_, 'g>) -> Fut {
        (self.0)(args, inputs, cx)
    }
}

/// A future whose output is a success.
pub struct Infallible<F>(F);

impl<F: Future> Future for Infallible<F> {
    type Output = Result<F::Output, TaskError>;
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field, never moved out.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }
            .poll(cx)
            .map(Ok)
    }
}

/// A family of async tasks with their body, as the run sees it.
pub struct AsyncBound<'f, 'g, A, I: Stores, L, T, F> {
    fam: &'f Family<'g, A, I, L, T>,
    body: F,
}

impl<'g, A, I, L, T, F> ErasedFamily<'g> for AsyncBound<'_, 'g, A, I, L, T, F>
where
    A: Send,
    I: InputSet<'g>,
    L: LoopIndex,
    T: Send + Sync,
    F: AsyncBody<'g, A, I, T>,
{
    fn core(&self) -> &Core {
        &self.fam.core
    }
    fn value_type(&self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }
    fn for_each_gather(&self, f: &mut dyn FnMut(u32, Piece)) {
        if I::GATHERS {
            self.fam.for_each_gather(f)
        }
    }
    fn prepare(&self, cache: &Cache, _: *const AtomicU32) -> Result<*mut u8, Error> {
        self.fam.prepare(cache)
    }
    fn run(&self, idx: u32, cx: &Cx<'_, 'g>) -> Ran {
        if !cx.admit(NodeId::new(self.fam.core.id, idx)) {
            // Waits for a place in flight, as a queued `Job::Start`.
            return Ran::Pending;
        }
        self.start(idx, cx)
    }
    fn start(&self, idx: u32, cx: &Cx<'_, 'g>) -> Ran {
        let id = NodeId::new(self.fam.core.id, idx);
        let out = cx.start_future(id, || {
            let (args, inputs) = self.fam.take(idx);
            self.body.call(args, inputs, cx)
        });
        self.store(id, out, cx)
    }
    unsafe fn resume(&self, idx: u32, hdr: *const Header, cx: &Cx<'_, 'g>) -> Ran {
        // SAFETY: the caller's contract; a slot of this family holds its
        // body's future type (`start`).
        let out = unsafe { cx.resume_future::<T, F::Fut>(hdr) };
        self.store(NodeId::new(self.fam.core.id, idx), out, cx)
    }
    fn publish(&self, idx: u32, uses: u32, cx: &Cx<'_, 'g>) {
        self.fam.publish(idx, uses, cx)
    }
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize {
        self.fam.teardown(cx, cache, live)
    }
}

impl<'g, A, I: InputSet<'g>, L, T: Send + Sync, F> AsyncBound<'_, 'g, A, I, L, T, F> {
    /// Stores a finished future's output: the node is done.
    #[inline]
    fn store(&self, id: NodeId, out: Option<T>, cx: &Cx<'_, 'g>) -> Ran {
        match out {
            Some(v) => {
                // SAFETY: this thread finished the producer; its consumers
                // become ready only after this returns.
                unsafe { cx.slot_of::<T>(id).write_raw(v) };
                Ran::Done
            }
            None => Ran::Pending,
        }
    }
}

impl<'g, A, I: InputSet<'g>, L, T, F> crate::value::ValueOf for AsyncBound<'_, 'g, A, I, L, T, F> {
    type Value = T;
}

// ---------------------------------------------------------------------------
// The two kinds of task, as `graph!` names them: each `#[delayed]`
// function's companion holds one (`SyncTask` or `AsyncTask`), and the
// generated code calls its methods, so that the same code runs either kind
// (the macro does not see whether a function is `async`).

/// A task that runs to completion when called.
#[derive(Clone, Copy, Debug)]
pub struct SyncTask;

/// The companion items of a stand-in for a function that is not
/// `#[delayed]`, all defaulted, so that a stand-in is a struct and an empty
/// impl: the modes of its first 16 parameters (`graph!` adds the modes of
/// any further ones itself, `STAND_IN_PARAMS` in `taskgraph-macros`) and its kind. The generated
/// code cannot compile anyway; these keep other errors from following the
/// one that says the function is not `#[delayed]`.
pub trait StandIn {
    /// Parameter 0's mode.
    const __TG_P0: NotDelayed = NotDelayed;
    /// Parameter 1's mode.
    const __TG_P1: NotDelayed = NotDelayed;
    /// Parameter 2's mode.
    const __TG_P2: NotDelayed = NotDelayed;
    /// Parameter 3's mode.
    const __TG_P3: NotDelayed = NotDelayed;
    /// Parameter 4's mode.
    const __TG_P4: NotDelayed = NotDelayed;
    /// Parameter 5's mode.
    const __TG_P5: NotDelayed = NotDelayed;
    /// Parameter 6's mode.
    const __TG_P6: NotDelayed = NotDelayed;
    /// Parameter 7's mode.
    const __TG_P7: NotDelayed = NotDelayed;
    /// Parameter 8's mode.
    const __TG_P8: NotDelayed = NotDelayed;
    /// Parameter 9's mode.
    const __TG_P9: NotDelayed = NotDelayed;
    /// Parameter 10's mode.
    const __TG_P10: NotDelayed = NotDelayed;
    /// Parameter 11's mode.
    const __TG_P11: NotDelayed = NotDelayed;
    /// Parameter 12's mode.
    const __TG_P12: NotDelayed = NotDelayed;
    /// Parameter 13's mode.
    const __TG_P13: NotDelayed = NotDelayed;
    /// Parameter 14's mode.
    const __TG_P14: NotDelayed = NotDelayed;
    /// Parameter 15's mode.
    const __TG_P15: NotDelayed = NotDelayed;
    /// The kind of task.
    const __TG_KIND: SyncTask = SyncTask;
}

/// A task that is a future (`#[delayed] async fn`).
#[derive(Clone, Copy, Debug)]
pub struct AsyncTask;

impl SyncTask {
    /// Whether the task may run inside a fused loop's block.
    pub const fn fusable(self) -> bool {
        true
    }
    /// [`Family::bind`].
    #[inline(always)]
    #[allow(improper_ctypes_definitions)] // Cannot unwind: see `Family::push`.
    pub extern "C" fn bind<'f, 'g, A, I: InputSet<'g>, L: LoopIndex, T>(
        self,
        fam: &'f Family<'g, A, I, L, T>,
        body: BodyFn<'g, A, I, T>,
    ) -> PlainBound<'f, 'g, A, I, L, T> {
        fam.bind(body)
    }
    /// [`Family::try_bind`].
    #[inline(always)]
    pub fn try_bind<'f, 'g, A, I: InputSet<'g>, L: LoopIndex, T>(
        self,
        fam: &'f Family<'g, A, I, L, T>,
        body: BodyFn<'g, A, I, Result<T, TaskError>>,
    ) -> TryBound<'f, 'g, A, I, L, T> {
        fam.try_bind(body)
    }
    /// A borrow guard, kept as it is (it lives for the call).
    #[inline(always)]
    pub fn hold<G>(self, g: G) -> G {
        g
    }
    /// The call's result `r`, after which the borrow guards go.
    #[inline(always)]
    pub fn finish<R, G>(self, r: R, guards: G) -> R {
        drop(guards);
        r
    }
    /// The result `r` of a call with `?`, lifted ([`lift`]), after which
    /// the borrow guards go.
    #[inline(always)]
    pub fn try_finish<R, G>(self, r: R, guards: G) -> Result<R::Ok, TaskError>
    where
        R: Fallible,
        R::Err: TaskErrorType,
    {
        drop(guards);
        lift(r.into_result())
    }
    /// The call's result inside a fused block.
    #[inline(always)]
    pub fn inline<R>(self, r: R) -> R {
        r
    }
}

impl AsyncTask {
    /// Whether the task may run inside a fused loop's block: no, a loop
    /// that calls it runs node by node.
    pub const fn fusable(self) -> bool {
        false
    }
    /// [`Family::bind_async`].
    #[inline(always)]
    pub fn bind<'f, 'g, A, I: InputSet<'g>, L: LoopIndex, T, F, Fut>(
        self,
        fam: &'f Family<'g, A, I, L, T>,
        body: F,
    ) -> AsyncBound<'f, 'g, A, I, L, T, AsyncPlain<F, Fut>>
    where
        F: Fn(A, I, &Cx<'_, 'g>) -> Fut + Sync,
        Fut: Future<Output = T> + Send,
    {
        fam.bind_async(body)
    }
    /// [`Family::try_bind_async`].
    #[inline(always)]
    pub fn try_bind<'f, 'g, A, I: InputSet<'g>, L: LoopIndex, T, F, Fut>(
        self,
        fam: &'f Family<'g, A, I, L, T>,
        body: F,
    ) -> AsyncBound<'f, 'g, A, I, L, T, AsyncTry<F, Fut>>
    where
        F: Fn(A, I, &Cx<'_, 'g>) -> Fut + Sync,
        Fut: Future<Output = Result<T, TaskError>> + Send,
    {
        fam.try_bind_async(body)
    }
    /// A borrow guard, turned into one the task's future owns.
    #[inline(always)]
    pub fn hold<G: crate::pass::Hold>(self, g: G) -> G::Held {
        g.hold()
    }
    /// The task's future: the call's future `fut`, whose borrow guards are
    /// dropped after it.
    #[inline(always)]
    pub fn finish<Fut: Future, G>(self, fut: Fut, guards: G) -> Finish<Fut, G, Keep> {
        Finish {
            fut,
            guards,
            _then: PhantomData,
        }
    }
    /// The future of a call with `?`: its output lifted ([`lift`]).
    #[inline(always)]
    pub fn try_finish<Fut, G>(self, fut: Fut, guards: G) -> Finish<Fut, G, Lift>
    where
        Fut: Future,
        Fut::Output: Fallible,
        <Fut::Output as Fallible>::Err: TaskErrorType,
    {
        Finish {
            fut,
            guards,
            _then: PhantomData,
        }
    }
    /// The call inside a fused block: a loop calling an async task never
    /// runs fused (`fusable`), so this only waits for the future on the
    /// current thread, should it ever be called.
    pub fn inline<Fut: Future>(self, fut: Fut) -> Fut::Output {
        block_on(fut)
    }
}

/// An async task's future as `graph!` builds it: the call's future, then
/// what `?` does with its output (`M`: [`Keep`] or [`Lift`]); the borrow
/// guards (`G`) are dropped after the call's future (fields drop in
/// declaration order).
pub struct Finish<Fut, G, M> {
    fut: Fut,
    #[allow(dead_code)]
    guards: G,
    _then: PhantomData<fn() -> M>,
}

/// What [`Finish`] does with its future's output.
pub trait Then<O> {
    /// The task's outcome.
    type Out;
    /// Turns the output into the outcome.
    fn then(o: O) -> Self::Out;
}

/// The output as it is (a call without `?`).
pub struct Keep;

/// The output lifted as `?` on a task call does ([`lift`]).
pub struct Lift;

impl<O> Then<O> for Keep {
    type Out = O;
    #[inline(always)]
    fn then(o: O) -> O {
        o
    }
}

impl<O: Fallible> Then<O> for Lift
where
    O::Err: TaskErrorType,
{
    type Out = Result<O::Ok, TaskError>;
    #[inline(always)]
    fn then(o: O) -> Self::Out {
        lift(o.into_result())
    }
}

impl<Fut: Future, G, M: Then<Fut::Output>> Future for Finish<Fut, G, M> {
    type Output = M::Out;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<M::Out> {
        // SAFETY: `fut` is pinned structurally: never moved out of the
        // pinned `Finish`, dropped in place with it.
        let fut = unsafe { self.map_unchecked_mut(|s| &mut s.fut) };
        fut.poll(cx).map(M::then)
    }
}

/// Waits for `fut` on the current thread.
fn block_on<Fut: Future>(fut: Fut) -> Fut::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{boxed, now, Halt, Mode, Scope};

    static SITE: FamilyInfo = FamilyInfo::new("inc", "src/main.rs", 12, 17);

    fn inc(x: (u64,), _: (), _: &Cx<'_, '_>) -> u64 {
        x.0 + 1
    }

    /// A family that could not grow takes no more nodes, and the graph
    /// fails with its error when it would run, before any task does.
    #[test]
    fn a_full_family_takes_no_more_nodes_and_its_graph_fails_before_running() {
        let r = now(boxed(async {
            let scope = Scope::new(Mode::Describe, None, None);
            let f = scope.family::<(u64,), (), [u32; 0], u64>(&SITE);
            let a = f.push([], (1,), ());
            assert_eq!(f.len(), 1);
            let _ = f.push([], (2,), ());
            assert!(f.failure().is_none());
            assert_eq!(f.len(), 2);
            // As `make_room` leaves a family that it could not grow.
            f.core.full = Full::OutOfMemory { bytes: 96 };
            f.room = f.recs.len();
            let _ = f.push([], (3,), ());
            assert_eq!(f.len(), 2);
            assert!(matches!(
                f.failure(),
                Some(Error::OutOfMemory { bytes: 96 })
            ));
            assert_eq!((f.len(), f.recs.len()), (2, 2));
            let bound = f.bind(inc);
            scope.execute(&[&bound], a).await
        }));
        assert!(
            matches!(r, Err(Halt::Failed(Error::OutOfMemory { bytes: 96 }))),
            "the graph did not fail with the family's error"
        );
    }

    #[test]
    fn a_family_with_too_many_nodes_names_its_call_site() {
        let mut core = Core::new(0, Kind::Tasks, &SITE);
        assert!(core.failure().is_none());
        core.full = Full::TooManyNodes;
        let e = core.failure().expect("an error");
        assert!(matches!(e, Error::GraphTooLarge { .. }));
        assert_eq!(
            e.to_string()
                .lines()
                .next()
                .map(|l| l.contains("`inc` at src/main.rs:12 makes more than 4294967292 nodes")),
            Some(true),
            "{e}"
        );
    }

    /// A size hint larger than a `Vec` can hold reserves nothing (no abort,
    /// no panic), a reasonable one reserves, and the family takes nodes as
    /// before.
    #[test]
    fn a_size_hint_beyond_memory_is_ignored() {
        now(boxed(async {
            let scope = Scope::new(Mode::Describe, None, None);
            let f = scope.family::<(u64,), (), [u32; 0], u64>(&SITE);
            let room = f.room;
            f.reserve(usize::MAX);
            f.reserve(usize::MAX / 2);
            assert_eq!(f.room, room);
            f.reserve(1000);
            assert!(f.room >= 1000, "{}", f.room);
            for i in 0..3 {
                let _ = f.push([], (i,), ());
            }
            assert!(f.failure().is_none());
            assert_eq!(f.len(), 3);
        }));
    }
}
