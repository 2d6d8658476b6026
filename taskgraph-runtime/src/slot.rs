//! Typed output slots, lazy handles, and how a task receives its inputs:
//! moved, cloned or borrowed, with each output dropped by its last consumer.

use crate::sync::{fence, AtomicU32, Ordering};
use std::cell::UnsafeCell;
use std::marker::PhantomData;

use crate::exec::Cx;

/// Invariant lifetime that ties lazy handles and families to one graph run.
pub(crate) type Brand<'g> = PhantomData<fn(&'g ()) -> &'g ()>;

/// Identifies one node: its family (call site) and its index within the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    pub(crate) fam: u32,
    pub(crate) idx: u32,
}

impl TaskId {
    /// The family (call site) number, in the order the macro numbered them.
    #[inline(always)]
    pub fn family(self) -> u32 {
        self.fam
    }
    /// The node's index within its family.
    #[inline(always)]
    pub fn index(self) -> u32 {
        self.idx
    }
}

/// A lazy value while a graph is instantiated: the future output of one node.
///
/// Only a `Family` of the same graph (the brand `'g`) makes these, so the
/// family number always names a family whose outputs are `T`.
pub struct Lazy<'g, T> {
    pub(crate) id: TaskId,
    _brand: Brand<'g>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Lazy<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Lazy<'_, T> {}

impl<T> Lazy<'_, T> {
    pub(crate) fn new(id: TaskId) -> Self {
        Lazy {
            id,
            _brand: PhantomData,
            _t: PhantomData,
        }
    }
}

/// One node's output. Written once by its producer; read by its consumers,
/// the last of which moves it out or drops it.
pub(crate) struct Slot<T> {
    value: UnsafeCell<Option<T>>,
    /// Consumers (and final-output references) that have not yet released the
    /// value. Set by the producer before any consumer is made ready; only
    /// decremented afterwards. The decrement that reaches zero owns the value.
    remaining: AtomicU32,
}

// SAFETY: the value is written once by the producer before any consumer can
// see it (published by the Release/Acquire pair on the consumer's pending
// counter), then shared read-only (`T: Sync`) until the consumer whose
// decrement of `remaining` reaches zero takes or drops it (`T: Send`).
unsafe impl<T: Send + Sync> Sync for Slot<T> {}

impl<T> Slot<T> {
    pub(crate) fn empty() -> Self {
        Slot {
            value: UnsafeCell::new(None),
            remaining: AtomicU32::new(0),
        }
    }

    /// Stores the producer's output for `uses` consumers; with none it is
    /// dropped at once.
    ///
    /// # Safety
    /// Called once, by the thread running the producer, before any consumer
    /// of this slot has been made ready.
    #[inline]
    pub(crate) unsafe fn put(&self, value: T, uses: u32) {
        if uses == 0 {
            drop(value);
            return;
        }
        self.remaining.store(uses, Ordering::Relaxed);
        // SAFETY: by the caller's contract nobody else accesses the cell yet.
        unsafe { *self.value.get() = Some(value) };
    }

    /// Shared access for a consumer that holds one of the `remaining` uses.
    ///
    /// # Safety
    /// The caller holds an unreleased use, so the value is present and no one
    /// takes it until that use is released.
    #[inline]
    unsafe fn get(&self) -> &T {
        // SAFETY: see the function's contract.
        match unsafe { &*self.value.get() } {
            Some(v) => v,
            None => missing_value(),
        }
    }

    /// Releases one use; the last release drops the value.
    ///
    /// # Safety
    /// The caller holds an unreleased use and no longer uses references from `get`.
    #[inline]
    unsafe fn release(&self) {
        if self.remaining.fetch_sub(1, Ordering::Release) == 1 {
            fence(Ordering::Acquire);
            // SAFETY: ours was the last use: no other reference exists.
            unsafe { *self.value.get() = None };
        }
    }

    /// Moves the value out; the caller's use must be the only one left.
    ///
    /// # Safety
    /// The caller holds an unreleased use.
    #[inline]
    unsafe fn take_last(&self) -> Option<T> {
        if self.remaining.load(Ordering::Acquire) == 1 {
            self.remaining.store(0, Ordering::Relaxed);
            // SAFETY: ours is the only use left, all others released (Acquire above).
            unsafe { (*self.value.get()).take() }
        } else {
            None
        }
    }

    /// Moves the value out if the caller holds the last use, else clones it and
    /// releases the use.
    ///
    /// # Safety
    /// The caller holds an unreleased use.
    #[inline]
    unsafe fn take_or_clone(&self) -> T
    where
        T: Clone,
    {
        // SAFETY: forwarded contract.
        if let Some(v) = unsafe { self.take_last() } {
            return v;
        }
        // SAFETY: we still hold a use, so the value is present.
        let v = unsafe { self.get() }.clone();
        // SAFETY: the clone no longer borrows the slot.
        unsafe { self.release() };
        v
    }
}

#[cold]
#[inline(never)]
fn missing_value() -> ! {
    panic!("taskgraph internal error: a task's input was read after it was released")
}

#[cold]
#[inline(never)]
fn not_last() -> ! {
    panic!("taskgraph internal error: an input consumed once had other consumers")
}

/// An input of a node: one lazy value, or a vector of them (a gather).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a lazy value",
    note = "a task's lazy arguments are results of `#[delayed]` calls or vectors of them"
)]
pub trait Input<'g>: Send {
    /// What the task receives by value.
    type Value;
    /// Calls `f` with every node this input reads.
    fn for_each<F: FnMut(TaskId)>(&self, f: &mut F);
    /// Moves the value(s) out; used where the macro proved a single consumer.
    #[doc(hidden)]
    fn take_once(self, cx: &Cx<'g>) -> Self::Value;
}

/// An input whose value may be cloned when several tasks consume it by value.
#[diagnostic::on_unimplemented(
    message = "a lazy value that goes by value to several tasks must implement `Clone`",
    label = "this value goes by value to more than one task",
    note = "give the parameters type `&T` to share one value, derive or implement `Clone`, or wrap the value in `std::sync::Arc`"
)]
pub trait SharedInput<'g>: Input<'g> {
    /// Moves the value out for the last consumer, clones it for the others.
    #[doc(hidden)]
    fn take_shared(self, cx: &Cx<'g>) -> Self::Value;
}

impl<'g, T: Send + Sync> Input<'g> for Lazy<'g, T> {
    type Value = T;
    #[inline(always)]
    fn for_each<F: FnMut(TaskId)>(&self, f: &mut F) {
        f(self.id)
    }
    #[inline]
    fn take_once(self, cx: &Cx<'g>) -> T {
        let slot = cx.slot(self);
        // SAFETY: the consumer holds one use of each input until released.
        match unsafe { slot.take_last() } {
            Some(v) => v,
            None => not_last(),
        }
    }
}

#[diagnostic::do_not_recommend]
impl<'g, T: Send + Sync + Clone> SharedInput<'g> for Lazy<'g, T> {
    #[inline]
    fn take_shared(self, cx: &Cx<'g>) -> T {
        // SAFETY: the consumer holds one use of each input until released.
        unsafe { cx.slot(self).take_or_clone() }
    }
}

impl<'g, T: Send + Sync + Clone> Input<'g> for Vec<Lazy<'g, T>> {
    type Value = Vec<T>;
    #[inline]
    fn for_each<F: FnMut(TaskId)>(&self, f: &mut F) {
        for l in self {
            f(l.id)
        }
    }
    fn take_once(self, cx: &Cx<'g>) -> Vec<T> {
        self.take_shared(cx)
    }
}

#[diagnostic::do_not_recommend]
impl<'g, T: Send + Sync + Clone> SharedInput<'g> for Vec<Lazy<'g, T>> {
    fn take_shared(self, cx: &Cx<'g>) -> Vec<T> {
        // SAFETY: the consumer holds one use per element until released.
        self.into_iter()
            .map(|l| unsafe { cx.slot(l).take_or_clone() })
            .collect()
    }
}

/// The inputs of one node: a tuple of [`Input`]s.
pub trait InputSet<'g>: Send {
    /// Calls `f` with every node these inputs read, in argument order.
    fn for_each<F: FnMut(TaskId)>(&self, f: &mut F);
}

macro_rules! input_sets {
    ($( ( $($n:ident),* ) )*) => {$(
        impl<'g, $($n: Input<'g>),*> InputSet<'g> for ($($n,)*) {
            #[allow(unused_variables, non_snake_case)]
            #[inline(always)]
            fn for_each<FF: FnMut(TaskId)>(&self, f: &mut FF) {
                let ($($n,)*) = self;
                $( $n.for_each(f); )*
            }
        }
    )*};
}
input_sets! {
    () (A) (A, B) (A, B, C) (A, B, C, D) (A, B, C, D, E) (A, B, C, D, E, F)
    (A, B, C, D, E, F, G) (A, B, C, D, E, F, G, H) (A, B, C, D, E, F, G, H, I)
    (A, B, C, D, E, F, G, H, I, J) (A, B, C, D, E, F, G, H, I, J, K)
    (A, B, C, D, E, F, G, H, I, J, K, L)
}

/// Parameter passing mode of a `#[delayed]` parameter written `T` (by value).
#[derive(Clone, Copy, Debug)]
pub struct ByValue;

/// Parameter passing mode of a `#[delayed]` parameter written `&T` (borrowed).
#[derive(Clone, Copy, Debug)]
pub struct ByRef;

impl ByValue {
    /// Receives an input consumed by this task alone.
    #[inline(always)]
    pub fn once<'g, I: Input<'g>>(self, input: I, cx: &Cx<'g>) -> Owned<I::Value> {
        Owned(input.take_once(cx))
    }
    /// Receives an input that other tasks consume too: moved if last, else cloned.
    #[inline(always)]
    pub fn shared<'g, I: SharedInput<'g>>(self, input: I, cx: &Cx<'g>) -> Owned<I::Value> {
        Owned(input.take_shared(cx))
    }
}

// Marker traits that exist only to word compile errors in taskgraph's terms:
// `#[delayed]` checks its signature's types against them. With
// `#[diagnostic::do_not_recommend]` on the blanket impls, rustc reports the
// marker trait (and its message) instead of the bounds it stands for.

/// The output type of a `#[delayed]` function: it is moved to the thread of
/// the task that consumes it and may be borrowed by several tasks at once.
#[diagnostic::on_unimplemented(
    message = "the output of a `#[delayed]` function must be `Send + Sync`, and `{Self}` is not",
    label = "this type cannot cross threads",
    note = "a task's output is moved to the thread of the task that consumes it, and borrowed by several tasks at once",
    note = "use `Arc` instead of `Rc`, and `Mutex` or `RwLock` instead of `Cell` or `RefCell`"
)]
pub trait TaskOutput: Send + Sync {}
#[diagnostic::do_not_recommend]
impl<T: Send + Sync + ?Sized> TaskOutput for T {}

/// The type of a by-value parameter of a `#[delayed]` function: its argument
/// is moved to the pool thread that runs the task.
#[diagnostic::on_unimplemented(
    message = "a parameter of a `#[delayed]` function must be `Send`, and `{Self}` is not",
    label = "this type cannot cross threads",
    note = "a task's arguments are moved to the pool thread that runs it",
    note = "use `Arc` instead of `Rc`"
)]
pub trait TaskParam: Send {}
#[diagnostic::do_not_recommend]
impl<T: Send + ?Sized> TaskParam for T {}

/// The referent of a `&T` parameter of a `#[delayed]` function: tasks on
/// several threads may borrow it at once.
#[diagnostic::on_unimplemented(
    message = "a `&T` parameter of a `#[delayed]` function needs `T: Sync`, and `{Self}` is not `Sync`",
    label = "this type cannot be shared between threads",
    note = "tasks on several threads may borrow the same value at once",
    note = "use `Arc` instead of `Rc`, and `Mutex` or `RwLock` instead of `Cell` or `RefCell`"
)]
pub trait TaskRefParam: Sync {}
#[diagnostic::do_not_recommend]
impl<T: Sync + ?Sized> TaskRefParam for T {}

/// Implemented by the companion `#[delayed]` adds beside each function. A
/// task call of any other function resolves to a stand-in that lacks it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[delayed]` function",
    label = "called as a task here",
    note = "inside `graph!`, a call of a function whose name starts in lower case is a task: mark the function `#[delayed]`, or compute its value before `graph!` or in a block `{{ ... }}`"
)]
pub trait Delayed {}

/// Checked by `graph!` for every function it calls as a task.
pub const fn delayed<T: Delayed + ?Sized>() {}

/// The parameter modes of a stand-in for a function that is not `#[delayed]`:
/// that error is already reported, and these keep others from following it.
#[derive(Clone, Copy, Debug)]
pub struct NotDelayed;

impl NotDelayed {
    /// Accepts any input.
    pub fn once<I, C>(self, _: I, _: C) -> Unreachable {
        Unreachable
    }
    /// Accepts any input.
    pub fn shared<I, C>(self, _: I, _: C) -> Unreachable {
        Unreachable
    }
    /// Accepts any value.
    pub fn take<T>(self, _: T) -> Unreachable {
        Unreachable
    }
    /// Accepts any value.
    pub fn share<T>(self, _: &T) -> Unreachable {
        Unreachable
    }
}

/// An argument of any type, in code that cannot compile anyway.
#[derive(Debug)]
pub struct Unreachable;

impl Unreachable {
    /// Never returns.
    pub fn arg<T>(&self) -> T {
        unreachable!("a graph calling a function that is not `#[delayed]` does not compile")
    }
}

/// Checked by `#[delayed]` on its return type.
pub const fn task_output<T: TaskOutput + ?Sized>() {}
/// Checked by `#[delayed]` on each by-value parameter type.
pub const fn task_param<T: TaskParam + ?Sized>() {}
/// Checked by `#[delayed]` on the referent of each `&T` parameter type.
pub const fn task_ref_param<T: TaskRefParam + ?Sized>() {}

impl ByValue {
    /// A fused run hands over a value it owns (its last use).
    #[inline(always)]
    pub fn take<T>(self, v: T) -> Owned<T> {
        Owned(v)
    }
    /// A fused run hands over a copy of a value that is used again later.
    #[inline(always)]
    pub fn share<T: Clone>(self, v: &T) -> Owned<T> {
        Owned(v.clone())
    }
}

impl ByRef {
    /// A fused run lends a value it owns (its last use); dropped after the call.
    #[inline(always)]
    pub fn take<T>(self, v: T) -> Gathered<T> {
        Gathered(v)
    }
    /// A fused run lends a value that is used again later.
    #[inline(always)]
    pub fn share<T>(self, v: &T) -> Lent<'_, T> {
        Lent(v)
    }
}

/// A borrow handed to a `&T` parameter by a fused run.
pub struct Lent<'a, T>(&'a T);

impl<T> Lent<'_, T> {
    /// The borrowed value.
    #[inline(always)]
    pub fn arg(&self) -> &T {
        self.0
    }
}

impl ByRef {
    /// Borrows an input; the borrow is released when the task returns.
    #[inline(always)]
    pub fn once<'c, 'g, B: Borrow<'c, 'g>>(self, input: B, cx: &'c Cx<'g>) -> B::Guard {
        input.borrow(cx)
    }
    /// Same as [`ByRef::once`]: borrowing never needs `Clone` for one value.
    #[inline(always)]
    pub fn shared<'c, 'g, B: Borrow<'c, 'g>>(self, input: B, cx: &'c Cx<'g>) -> B::Guard {
        input.borrow(cx)
    }
}

/// An input that a `&T` parameter can borrow.
pub trait Borrow<'c, 'g>: Input<'g> {
    /// Holds the borrow for the duration of the call.
    type Guard;
    /// Starts the borrow.
    #[doc(hidden)]
    fn borrow(self, cx: &'c Cx<'g>) -> Self::Guard;
}

impl<'c, 'g, T: Send + Sync + 'c> Borrow<'c, 'g> for Lazy<'g, T> {
    type Guard = Borrowed<'c, T>;
    #[inline]
    fn borrow(self, cx: &'c Cx<'g>) -> Borrowed<'c, T> {
        Borrowed {
            slot: cx.slot(self),
        }
    }
}

impl<'c, 'g, T: Send + Sync + Clone + 'c> Borrow<'c, 'g> for Vec<Lazy<'g, T>> {
    type Guard = Gathered<Vec<T>>;
    fn borrow(self, cx: &'c Cx<'g>) -> Gathered<Vec<T>> {
        Gathered(self.take_shared(cx))
    }
}

/// A value handed to a task by value; `.arg()` gives it to the call.
pub struct Owned<V>(V);

impl<V> Owned<V> {
    /// The value, for a by-value parameter.
    #[inline(always)]
    pub fn arg(self) -> V {
        self.0
    }
}

/// A gathered vector lent to a `&[T]` or `&Vec<T>` parameter.
pub struct Gathered<V>(V);

impl<V> Gathered<V> {
    /// A borrow of the gathered values.
    #[inline(always)]
    pub fn arg(&self) -> &V {
        &self.0
    }
}

/// A borrowed input; released (and dropped if last) when the guard goes.
pub struct Borrowed<'c, T> {
    slot: &'c Slot<T>,
}

impl<T> Borrowed<'_, T> {
    /// The borrowed value, for a `&T` parameter.
    #[inline(always)]
    pub fn arg(&self) -> &T {
        // SAFETY: the guard holds one use until it is dropped.
        unsafe { self.slot.get() }
    }
}

impl<T> Drop for Borrowed<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard held one use; references from `arg` borrow the
        // guard, so none outlives this drop.
        unsafe { self.slot.release() }
    }
}

pub(crate) fn take_final<T>(slot: &Slot<T>) -> Option<T> {
    // SAFETY: the run has finished; each final reference holds one use.
    unsafe { slot.take_last() }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::Slot;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    /// Counts drops, to check that the last consumer drops the value once.
    struct Counted(u32, Arc<AtomicUsize>);
    impl Clone for Counted {
        fn clone(&self) -> Self {
            Counted(self.0, Arc::clone(&self.1))
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// One consumer borrows while another takes by value: the value is
    /// moved or cloned, read intact, and dropped exactly once per copy.
    #[test]
    fn borrow_and_take_race() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let slot = Arc::new(Slot::empty());
            // SAFETY: no consumer exists yet.
            unsafe { slot.put(Counted(7, Arc::clone(&drops)), 2) };
            let s2 = Arc::clone(&slot);
            let borrower = loom::thread::spawn(move || {
                // SAFETY: this thread holds one of the two uses.
                let v = unsafe { s2.get() }.0;
                // SAFETY: `v` is a copy; the borrow has ended.
                unsafe { s2.release() };
                v
            });
            // SAFETY: this thread holds the other use.
            let taken = unsafe { slot.take_or_clone() };
            assert_eq!(taken.0, 7);
            assert_eq!(borrower.join().unwrap(), 7);
            let moved = drops.load(Ordering::SeqCst) == 0;
            drop(taken);
            drop(slot);
            // Moved: one value, one drop. Cloned: the clone and the original.
            assert_eq!(drops.load(Ordering::SeqCst), if moved { 1 } else { 2 });
        });
    }

    /// Two by-value consumers: the original is moved into one of them, or,
    /// when both check before either releases, both clone and the last
    /// release drops the original — never dropped twice, never lost.
    #[test]
    fn two_takers() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let slot = Arc::new(Slot::empty());
            // SAFETY: no consumer exists yet.
            unsafe { slot.put(Counted(3, Arc::clone(&drops)), 2) };
            let s2 = Arc::clone(&slot);
            // SAFETY: each thread holds one use.
            let t = loom::thread::spawn(move || unsafe { s2.take_or_clone() });
            // SAFETY: as above.
            let a = unsafe { slot.take_or_clone() };
            let b = t.join().unwrap();
            assert_eq!((a.0, b.0), (3, 3));
            let before = drops.load(Ordering::SeqCst);
            drop((a, b));
            drop(slot);
            // Before: 0 if one was moved, 1 if both cloned (original dropped).
            assert!(before <= 1);
            assert_eq!(drops.load(Ordering::SeqCst), 2 + before);
        });
    }
}
