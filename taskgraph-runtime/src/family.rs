//! Families: one per call site in a `graph!`, holding every node (instance)
//! of that call site in flat, typed arrays.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::sync::OnceLock;

use crate::error::TaskInfo;
use crate::exec::{Cx, Edges, SlotRef};
use crate::slot::{Brand, InputSet, Lazy, Slot, TaskId};

/// What the macro knows about a call site, as a `'static` constant.
#[derive(Debug)]
pub struct FamilyInfo {
    /// The function as written, e.g. `inc` or `math::inc`.
    pub name: &'static str,
    /// The call site's file.
    pub file: &'static str,
    /// The call site's line.
    pub line: u32,
    /// The call site's column.
    pub column: u32,
}

impl FamilyInfo {
    pub(crate) fn task(&'static self, indices: &[u32]) -> TaskInfo {
        TaskInfo {
            function: self.name,
            file: self.file,
            line: self.line,
            column: self.column,
            indices: indices.to_vec(),
        }
    }
}

struct Instance<A, I, L> {
    /// Plain arguments and lazy inputs; taken by the one thread that runs the node.
    data: UnsafeCell<Option<(A, I)>>,
    /// Loop iteration numbers, for error reports.
    at: L,
}

/// All nodes of one call site: their plain arguments, lazy inputs, and outputs.
///
/// Built single-threaded while the graph is instantiated (`push`), then sealed
/// and run: each node's data is taken exactly once by the thread that runs it.
pub struct Family<'g, A, I, L, T> {
    id: u32,
    pub(crate) info: &'static FamilyInfo,
    insts: Vec<Instance<A, I, L>>,
    slots: OnceLock<Box<[Slot<T>]>>,
    _brand: Brand<'g>,
}

// SAFETY: during a run, a node's `data` is accessed only by the single thread
// the scheduler hands the node to (it becomes ready exactly once), so moving
// `A` and `I` out needs only `Send`; `at` is only read; slots are `Sync` for
// `T: Send + Sync`.
unsafe impl<A: Send, I: Send, L: Sync, T: Send + Sync> Sync for Family<'_, A, I, L, T> {}

/// Loop iteration numbers of a node.
pub trait LoopIndex: Send + Sync {
    /// The numbers, outermost loop first.
    fn as_slice(&self) -> &[u32];
}
impl<const N: usize> LoopIndex for [u32; N] {
    fn as_slice(&self) -> &[u32] {
        self
    }
}

// Building needs no bounds: they are checked where the family runs, so a
// type that cannot cross threads is reported once, at the task's call.
impl<'g, A, I, L, T> Family<'g, A, I, L, T> {
    /// Reserves room for `n` more nodes (the enclosing loop's size hint).
    #[inline]
    pub fn reserve(&mut self, n: usize) {
        self.insts.reserve(n);
    }

    /// Adds one node and returns the handle of its future output.
    ///
    /// # Panics
    /// If the family already holds `u32::MAX` nodes, or was sealed.
    #[inline]
    pub fn push(&mut self, at: L, args: A, inputs: I) -> Lazy<'g, T> {
        let idx = self.insts.len();
        if idx >= u32::MAX as usize || self.slots.get().is_some() {
            too_many(self.info);
        }
        self.insts.push(Instance {
            data: UnsafeCell::new(Some((args, inputs))),
            at,
        });
        Lazy::new(TaskId {
            fam: self.id,
            idx: idx as u32,
        })
    }
}

impl<'g, A: Send, I: InputSet<'g>, L: LoopIndex, T: Send + Sync> Family<'g, A, I, L, T> {
    /// Runs node `idx`: takes its arguments and inputs, calls `body` (the
    /// generated call of the `#[delayed]` function) and stores the output.
    #[inline(always)]
    pub fn run(&self, idx: u32, cx: &Cx<'g>, body: impl FnOnce(A, I) -> T) {
        let inst = &self.insts[idx as usize];
        // SAFETY: the scheduler runs each node once, on one thread, and nothing
        // else touches `data` during the run.
        let (args, inputs) = match unsafe { (*inst.data.get()).take() } {
            Some(d) => d,
            None => ran_twice(),
        };
        let out = body(args, inputs);
        let slot = &self.sealed()[idx as usize];
        let uses = cx.uses(TaskId { fam: self.id, idx });
        // SAFETY: this thread runs the producer; its consumers become ready
        // only after this returns and the scheduler notifies them.
        unsafe { slot.put(out, uses) };
    }

    fn sealed(&self) -> &[Slot<T>] {
        match self.slots.get() {
            Some(s) => s,
            None => not_sealed(),
        }
    }
}

#[cold]
#[inline(never)]
fn too_many(info: &FamilyInfo) -> ! {
    panic!(
        "`{}` at {}:{}: a family holds at most {} nodes, and none may be added once the graph runs",
        info.name,
        info.file,
        info.line,
        u32::MAX - 1
    )
}
#[cold]
#[inline(never)]
fn ran_twice() -> ! {
    panic!("taskgraph internal error: a node ran twice")
}
#[cold]
#[inline(never)]
fn not_sealed() -> ! {
    panic!("taskgraph internal error: a family ran before it was sealed")
}

/// The untyped view of a family that the scheduler needs.
pub trait ErasedFamily<'g>: Sync {
    /// The family's number within its graph.
    fn id(&self) -> u32;
    /// How many nodes it holds.
    fn len(&self) -> usize;
    /// Whether it holds no nodes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Allocates the output slots; no node can be added afterwards.
    fn seal(&self) -> SlotRef;
    /// Counts every node's inputs into the topology being built.
    fn count_edges(&self, e: &mut Edges);
    /// Records every node as a successor of each of its inputs.
    fn fill_edges(&self, e: &mut Edges);
    /// Describes node `idx` for error reports.
    fn describe(&self, idx: u32) -> TaskInfo;
    /// Describes the call site.
    fn info(&self) -> &'static FamilyInfo;
}

impl<'g, A: Send, I: InputSet<'g>, L: LoopIndex, T: Send + Sync> ErasedFamily<'g>
    for Family<'g, A, I, L, T>
{
    fn id(&self) -> u32 {
        self.id
    }
    fn len(&self) -> usize {
        self.insts.len()
    }
    fn seal(&self) -> SlotRef {
        let slots = self
            .slots
            .get_or_init(|| (0..self.insts.len()).map(|_| Slot::empty()).collect());
        SlotRef::new::<T>(slots)
    }
    fn count_edges(&self, e: &mut Edges) {
        for (i, inst) in self.insts.iter().enumerate() {
            // SAFETY: called before the run starts, single-threaded; the data
            // is only read.
            if let Some((_, inputs)) = unsafe { &*inst.data.get() } {
                let mut n = 0;
                inputs.for_each(&mut |t| {
                    e.count(t);
                    n += 1;
                });
                e.set_pending(self.id, i, n);
            }
        }
    }
    fn fill_edges(&self, e: &mut Edges) {
        for (i, inst) in self.insts.iter().enumerate() {
            // SAFETY: as in `count_edges`.
            if let Some((_, inputs)) = unsafe { &*inst.data.get() } {
                let me = TaskId {
                    fam: self.id,
                    idx: i as u32,
                };
                inputs.for_each(&mut |t| e.fill(t, me));
            }
        }
    }
    fn describe(&self, idx: u32) -> TaskInfo {
        self.info.task(self.insts[idx as usize].at.as_slice())
    }
    fn info(&self) -> &'static FamilyInfo {
        self.info
    }
}

/// The graph under construction, handed to the closure a `graph!` expands to.
///
/// It numbers the families and brands every lazy handle with `'g`, so handles
/// can neither leave the graph nor mix with another graph's.
pub struct Scope<'g> {
    pub(crate) next_id: &'g std::cell::Cell<u32>,
    pub(crate) runtime: &'g crate::pool::Runtime,
    _brand: Brand<'g>,
}

impl<'g> Scope<'g> {
    pub(crate) fn new(
        next_id: &'g std::cell::Cell<u32>,
        runtime: &'g crate::pool::Runtime,
    ) -> Self {
        Scope {
            next_id,
            runtime,
            _brand: PhantomData,
        }
    }

    /// Starts a new, empty family for one call site.
    pub fn family<A, I, L, T>(&self, info: &'static FamilyInfo) -> Family<'g, A, I, L, T> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        Family {
            id,
            info,
            insts: Vec::new(),
            slots: OnceLock::new(),
            _brand: PhantomData,
        }
    }

    /// How many families this scope has made.
    pub(crate) fn families(&self) -> u32 {
        self.next_id.get()
    }
}
