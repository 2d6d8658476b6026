//! Task families: one per call site in a `graph!` whose nodes run node by
//! node. A family keeps, per node, only its plain arguments (and the vectors
//! it gathers); its lazy inputs are runs of producer nodes (`RunList`), its
//! loop indices runs too, and its outputs a typed array of cells.

use std::cell::UnsafeCell;
use std::marker::PhantomData;

use crate::error::Error;
use crate::exec::cache::Cache;
use crate::exec::task::TaskError;
use crate::exec::{Cells, Core, Cx, ErasedFamily, Kind, Ran, RunList};
use crate::pass::InputSet;
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
pub struct Family<'g, A, I: InputSet<'g>, L, T> {
    core: Core,
    recs: Vec<Record<A, I::Stored>>,
    values: Cells,
    _brand: Brand<'g>,
    _t: PhantomData<fn() -> (L, T)>,
}

// SAFETY: during a run, a node's record is accessed only by the single thread
// that runs the node (it becomes ready exactly once), so moving `A` and the
// stored inputs out needs only `Send`; runs and indices are only read; the
// value cells are accessed under the slot protocol (`T: Send + Sync`).
unsafe impl<'g, A: Send, I: InputSet<'g>, L: Sync, T: Send + Sync> Sync for Family<'g, A, I, L, T> {}

impl<'g, A, I: InputSet<'g>, L: LoopIndex, T> Family<'g, A, I, L, T> {
    pub(crate) fn new(id: u32, info: &'static FamilyInfo) -> Self {
        let mut core = Core::new(id, Kind::Tasks, info);
        core.singles = I::SINGLES;
        Family {
            core,
            recs: Vec::new(),
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
    #[inline]
    pub fn reserve(&mut self, n: usize) {
        self.recs.reserve(n);
    }

    /// Reserves room for `runs` runs of loop indices, `depth` deep.
    pub(crate) fn reserve_indices(&mut self, runs: usize, depth: usize) {
        self.core.at.reserve(runs, depth);
    }

    /// Adds one node and returns the handle of its future output.
    ///
    /// # Errors
    /// A family holds at most `u32::MAX - 3` nodes; beyond, or when memory
    /// for the node cannot be had, [`Error::GraphTooLarge`] or
    /// [`Error::OutOfMemory`]: the generated code returns it (`?`), so
    /// building the graph stops and `compute` returns it.
    ///
    /// [`Error::GraphTooLarge`]: crate::Error::GraphTooLarge
    /// [`Error::OutOfMemory`]: crate::Error::OutOfMemory
    #[inline]
    pub fn push(&mut self, at: L, args: A, inputs: I) -> Result<Lazy<'g, T>, Error> {
        let idx = self.recs.len();
        if idx >= (u32::MAX - 3) as usize {
            return Err(too_many(self.core.info));
        }
        if idx == self.recs.capacity() {
            grow(&mut self.recs)?;
        }
        let idx = idx as u32;
        let c = &mut self.core;
        if c.runs.len() < I::LEN {
            c.runs.resize_with(I::LEN, RunList::default);
        }
        let stored = inputs.record(idx, &mut c.runs);
        self.recs.push(UnsafeCell::new(Some((args, stored))));
        c.at.add(idx, at.as_slice());
        c.len = idx + 1;
        Ok(Lazy::new(NodeId::new(c.id, idx)))
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
    #[inline(always)]
    pub fn bind<F>(&self, body: F) -> Bound<'_, 'g, A, I, L, T, Plain<F>>
    where
        F: Fn(A, I, &Cx<'_, 'g>) -> T + Sync,
    {
        Bound {
            fam: self,
            body: Plain(body),
        }
    }

    /// Attaches the body of a task called with `?`: its `Err` fails the
    /// run with this task.
    #[inline(always)]
    pub fn try_bind<F>(&self, body: F) -> Bound<'_, 'g, A, I, L, T, Try<F>>
    where
        F: Fn(A, I, &Cx<'_, 'g>) -> Result<T, TaskError> + Sync,
    {
        Bound {
            fam: self,
            body: Try(body),
        }
    }
}

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

#[cold]
#[inline(never)]
fn too_many(info: &FamilyInfo) -> Error {
    Error::GraphTooLarge {
        message: format!(
            "`{}` at {}:{} makes more than {} nodes",
            info.name,
            info.file,
            info.line,
            u32::MAX - 3
        ),
    }
}

/// Doubles the records' room, or fails with [`Error::OutOfMemory`] if there
/// is no memory for it.
#[cold]
#[inline(never)]
fn grow<R>(recs: &mut Vec<R>) -> Result<(), Error> {
    let more = recs.capacity().max(4);
    recs.try_reserve(more).map_err(|_| Error::OutOfMemory {
        bytes: more.saturating_mul(std::mem::size_of::<R>()),
    })
}
#[cold]
#[inline(never)]
fn ran_twice() -> ! {
    panic!("taskgraph internal error: a node ran twice")
}

/// A family with its task body, as the run sees it.
pub struct Bound<'f, 'g, A, I: InputSet<'g>, L, T, F> {
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
// family's types only, not over the body (each call site's own closure), so
// call sites of the same types share one copy.
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

    /// Takes node `idx`'s arguments and inputs, to run it.
    #[inline(never)]
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
