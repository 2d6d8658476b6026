//! Task families: one per call site in a `graph!` whose nodes run node by
//! node. A family keeps, per node, only its plain arguments (and the vectors
//! it gathers); its lazy inputs are runs of producer nodes (`RunList`), its
//! loop indices runs too, and its outputs a typed array of cells.

use std::cell::UnsafeCell;
use std::marker::PhantomData;

use crate::cache::{Cache, RawBuf};
use crate::error::{Error, LoopVar, TaskInfo};
use crate::exec::{Core, Cx, ErasedFamily, Kind, Ran, RunList};
use crate::graph::build_error;
use crate::sync::AtomicU32;
use crate::value::pass::InputSet;
use crate::value::{Brand, Lazy, NodeId, Piece};

/// A call site of a `graph!`: the function as written, where the call is
/// and the loops around it. `graph!` makes one `'static` record per call
/// site; observers see tasks by it. Two records are equal when they name the
/// same call site.
///
/// ```
/// use taskgraph::{FamilyInfo, LoopVar};
///
/// static SITE: FamilyInfo = FamilyInfo::new("check", "src/main.rs", 12, 17)
///     .with_loops(&[LoopVar::new("i", "0..n"), LoopVar::new("j", "0..m")]);
/// assert_eq!(SITE.task(&[1, 3]).name(), "check[i=1, j=3]");
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FamilyInfo {
    /// The function as written, e.g. `inc` or `math::inc`.
    pub name: &'static str,
    /// The call site's file.
    pub file: &'static str,
    /// The call site's line.
    pub line: u32,
    /// The call site's column.
    pub column: u32,
    /// The loops around the call site, outermost first (none unless set
    /// with [`with_loops`](Self::with_loops)).
    pub loops: &'static [LoopVar],
    /// Whether the call site is a `tree_reduce`'s combining function (set
    /// with [`with_tree_reduce`](Self::with_tree_reduce)).
    pub tree_reduce: bool,
}

impl FamilyInfo {
    /// A call site, outside loops.
    pub const fn new(name: &'static str, file: &'static str, line: u32, column: u32) -> Self {
        FamilyInfo {
            name,
            file,
            line,
            column,
            loops: &[],
            tree_reduce: false,
        }
    }

    /// This call site inside loops `loops`, outermost first: they name its
    /// tasks' iterations in error messages ([`TaskInfo::name`]).
    pub const fn with_loops(self, loops: &'static [LoopVar]) -> Self {
        FamilyInfo { loops, ..self }
    }

    /// This call site as a `tree_reduce`'s combining function: its tasks'
    /// last two indices are the tree level and the position in it.
    pub const fn with_tree_reduce(self) -> Self {
        FamilyInfo {
            tree_reduce: true,
            ..self
        }
    }

    /// The name of the task at loop indices `at`, e.g. `inc[i=3]` (see
    /// [`TaskInfo::name`]).
    pub(crate) fn task_name(&self, at: &[u32]) -> String {
        let mut s = String::new();
        // Writing to a `String` does not fail.
        let _ = crate::error::write_name(&mut s, self.name, self.loops, self.tree_reduce, at);
        s
    }

    /// The description of the task at loop indices `indices`.
    pub fn task(&'static self, indices: &[u32]) -> TaskInfo {
        TaskInfo {
            function: self.name,
            file: self.file,
            line: self.line,
            column: self.column,
            indices: indices.to_vec(),
            loops: self.loops,
            tree_reduce: self.tree_reduce,
        }
    }
}

/// Loop iteration numbers of a node.
pub trait LoopIndex: Copy + Send + Sync + PartialEq {
    /// The numbers, outermost loop first.
    fn as_slice(&self) -> &[u32];
    /// These indices with the innermost one advanced by `k`.
    fn advanced(self, k: u32) -> Self;
}

impl<const N: usize> LoopIndex for [u32; N] {
    #[inline(always)]
    fn as_slice(&self) -> &[u32] {
        self
    }
    #[inline(always)]
    fn advanced(mut self, k: u32) -> Self {
        if let Some(last) = self.last_mut() {
            *last = last.wrapping_add(k);
        }
        self
    }
}

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
    values: UnsafeCell<Option<RawBuf>>,
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
            values: UnsafeCell::new(None),
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
    /// A family holds at most `u32::MAX - 3` nodes; beyond, or when memory
    /// for the node cannot be had, building the graph stops and `compute`
    /// returns [`Error::GraphTooLarge`] or [`Error::OutOfMemory`].
    ///
    /// [`Error::GraphTooLarge`]: crate::Error::GraphTooLarge
    /// [`Error::OutOfMemory`]: crate::Error::OutOfMemory
    #[inline]
    pub fn push(&mut self, at: L, args: A, inputs: I) -> Lazy<'g, T> {
        let idx = self.recs.len();
        if idx >= (u32::MAX - 3) as usize {
            too_many(self.core.info);
        }
        if idx == self.recs.capacity() {
            grow(&mut self.recs);
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
        Lazy::new(NodeId::new(c.id, idx))
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
    pub fn bind<F>(&self, body: F) -> Bound<'_, 'g, A, I, L, T, F>
    where
        F: Fn(A, I, &Cx<'_, 'g>) -> T + Sync,
    {
        Bound { fam: self, body }
    }
}

#[cold]
#[inline(never)]
fn too_many(info: &FamilyInfo) -> ! {
    build_error(Error::GraphTooLarge {
        message: format!(
            "`{}` at {}:{} makes more than {} nodes",
            info.name,
            info.file,
            info.line,
            u32::MAX - 3
        ),
    })
}

/// Doubles the records' room, or stops building the graph if there is no
/// memory for it.
#[cold]
#[inline(never)]
fn grow<R>(recs: &mut Vec<R>) {
    let more = recs.capacity().max(4);
    if recs.try_reserve(more).is_err() {
        build_error(Error::OutOfMemory {
            bytes: more.saturating_mul(std::mem::size_of::<R>()),
        });
    }
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
    F: Fn(A, I, &Cx<'_, 'g>) -> T + Sync,
{
    fn core(&self) -> &Core {
        &self.fam.core
    }
    fn value_type(&self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }
    fn for_each_gather(&self, f: &mut dyn FnMut(u32, Piece)) {
        if !I::GATHERS {
            return;
        }
        for (i, r) in self.fam.recs.iter().enumerate() {
            // SAFETY: called before the run starts, single-threaded; the
            // record is only read.
            if let Some((_, s)) = unsafe { &*r.get() } {
                I::gathers(s, &mut |p| f(i as u32, p));
            }
        }
    }
    fn prepare(&self, cache: &Cache, _: *const AtomicU32) -> *mut u8 {
        let buf = cache.take_raw::<T>(self.fam.recs.len());
        let p = buf.ptr();
        // SAFETY: before the run, single-threaded.
        unsafe { *self.fam.values.get() = Some(buf) };
        p
    }
    #[inline]
    fn run(&self, idx: u32, cx: &Cx<'_, 'g>) -> Ran {
        let fam = self.fam;
        // SAFETY: the scheduler runs each node once, on one thread, and
        // nothing else touches its record during the run.
        let (args, stored) = match unsafe { (*fam.recs[idx as usize].get()).take() } {
            Some(r) => r,
            None => ran_twice(),
        };
        let inputs = I::rebuild(stored, &fam.core.runs, idx);
        let id = NodeId::new(fam.core.id, idx);
        let out = cx.node(id, || (self.body)(args, inputs, cx));
        // SAFETY: this thread runs the producer; its consumers become ready
        // only after this returns and the executor tells them.
        unsafe { cx.slot_of::<T>(id).write_raw(out) };
        Ran::Done
    }
    fn publish(&self, idx: u32, uses: u32, cx: &Cx<'_, 'g>) {
        // SAFETY: the node has run (its value is written) and its consumers
        // are told only after this.
        unsafe {
            cx.slot_of::<T>(NodeId::new(self.fam.core.id, idx))
                .publish(uses)
        }
    }
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize {
        let c = &self.fam.core;
        // SAFETY: the run is over; no other thread touches the family, whose
        // cells hold `T`s.
        unsafe { cx.teardown_cells::<T>(&self.fam.values, c.id, c.len, cache, live) }
    }
}

impl<'g, A, I: InputSet<'g>, L, T, F> crate::part::ValueOf for Bound<'_, 'g, A, I, L, T, F> {
    type Value = T;
}
