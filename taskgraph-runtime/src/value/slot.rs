//! One node's output while a graph runs: the value, written once by its
//! producer, and its state, the consumers that have not released it yet.
//!
//! Values live in their family's typed array; states live in the run's flat
//! array of `u32`s (one per node, reused across computes). The protocol:
//!
//! - before the node runs its state is [`NOT_RUN`]; an element of a fused
//!   loop's output is [`WRITTEN`] between the block that wrote it and the
//!   end of its loop;
//! - the producer writes the value, then sets the state to its number of
//!   uses (consumers plus references from the graph's output) before any
//!   consumer is made ready; with no use the value is dropped at once;
//! - a borrowing consumer reads, then releases its use; a by-value consumer
//!   moves the value out if it holds the last use, else clones and releases;
//!   the release that takes the state to zero drops the value.
//!
//! So after a run (finished or stopped) a value is alive exactly when its
//! state is neither 0 nor [`NOT_RUN`], and tearing down drops those.

use std::mem::MaybeUninit;

use crate::sync::{fence, AtomicU32, Ordering};

/// The state of a node that has not produced its output.
pub(crate) const NOT_RUN: u32 = u32::MAX;
/// The state of a fused loop's output element that is written but whose loop
/// has not finished.
pub(crate) const WRITTEN: u32 = u32::MAX - 1;

/// Access to one node's value and state.
pub(crate) struct Slot<'a, T> {
    value: *mut MaybeUninit<T>,
    state: &'a AtomicU32,
}

impl<'a, T> Slot<'a, T> {
    /// # Safety
    /// `value` points at the node's value cell, which outlives `'a`, and
    /// `state` is the same node's state.
    #[inline(always)]
    pub(crate) unsafe fn new(value: *mut MaybeUninit<T>, state: &'a AtomicU32) -> Self {
        Slot { value, state }
    }

    /// Writes a node's output; the executor then sets its uses
    /// ([`Slot::publish`]) before telling any consumer.
    ///
    /// # Safety
    /// Called once, by the thread running the producer, before any consumer
    /// of this slot has been made ready.
    #[inline(always)]
    pub(crate) unsafe fn write_raw(&self, value: T) {
        // SAFETY: by the caller's contract nobody else accesses the cell.
        unsafe { (*self.value).write(value) };
    }

    /// Writes a fused loop's element; its uses are set when the loop ends.
    ///
    /// # Safety
    /// Called once per element, by the block that computes it.
    #[inline(always)]
    pub(crate) unsafe fn write(&self, value: T) {
        // SAFETY: by the caller's contract nobody else accesses the cell.
        unsafe { (*self.value).write(value) };
        self.state.store(WRITTEN, Ordering::Relaxed);
    }

    /// Sets the uses of a written value (or drops it if it has none).
    ///
    /// # Safety
    /// The value is written, and no consumer is ready yet.
    #[inline]
    pub(crate) unsafe fn publish(&self, uses: u32) {
        if uses == 0 {
            // Dead first: if the value's `Drop` panics, nobody drops it again.
            self.state.store(0, Ordering::Relaxed);
            // SAFETY: written and not shared with anyone.
            unsafe { (*self.value).assume_init_drop() };
        } else {
            self.state.store(uses, Ordering::Relaxed);
        }
    }

    /// Shared access for a consumer that holds one of the uses.
    ///
    /// # Safety
    /// The caller holds an unreleased use, so the value is present and no
    /// one takes it until that use is released.
    #[inline(always)]
    pub(crate) unsafe fn get(&self) -> &'a T {
        // SAFETY: see the function's contract.
        unsafe { (*self.value).assume_init_ref() }
    }

    /// Releases one use; the last release drops the value.
    ///
    /// # Safety
    /// The caller holds an unreleased use and no longer uses references from
    /// `get`.
    #[inline]
    pub(crate) unsafe fn release(&self) {
        if self.state.fetch_sub(1, Ordering::Release) == 1 {
            fence(Ordering::Acquire);
            // SAFETY: ours was the last use: no other reference exists.
            unsafe { (*self.value).assume_init_drop() };
        }
    }

    /// Moves the value out for its only consumer.
    ///
    /// # Safety
    /// The caller holds the one and only use.
    #[inline(always)]
    pub(crate) unsafe fn take_once(&self) -> T {
        debug_assert_eq!(self.state.load(Ordering::Relaxed), 1);
        self.state.store(0, Ordering::Relaxed);
        // SAFETY: the only use: nobody else reads the value.
        unsafe { (*self.value).assume_init_read() }
    }

    /// Moves the value out for the last of consumers that never release it
    /// (they run one after another, in an order the macro proved).
    ///
    /// # Safety
    /// Every other consumer has run, and none will read the value again.
    #[inline(always)]
    pub(crate) unsafe fn take_static(&self) -> T {
        self.state.store(0, Ordering::Relaxed);
        // SAFETY: by the caller's contract nobody else reads the value.
        unsafe { (*self.value).assume_init_read() }
    }

    /// Moves the value out if the caller's use is the only one left.
    ///
    /// # Safety
    /// The caller holds an unreleased use.
    #[inline]
    pub(crate) unsafe fn take_last(&self) -> Option<T> {
        if self.state.load(Ordering::Acquire) == 1 {
            self.state.store(0, Ordering::Relaxed);
            // SAFETY: ours is the only use left, all others released (Acquire above).
            Some(unsafe { (*self.value).assume_init_read() })
        } else {
            None
        }
    }

    /// Moves the value out if the caller holds the last use, else clones it
    /// and releases the use.
    ///
    /// # Safety
    /// The caller holds an unreleased use.
    #[inline]
    pub(crate) unsafe fn take_or_clone(&self) -> T
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

    /// Whether the slot holds a value.
    pub(crate) fn alive(&self) -> bool {
        let s = self.state.load(Ordering::Acquire);
        s != 0 && s != NOT_RUN
    }

    /// Drops the value if it is alive; used when a run is torn down. The
    /// state is reset first, so a `Drop` that panics is not run again.
    ///
    /// # Safety
    /// The run is over: no thread accesses the slot concurrently.
    pub(crate) unsafe fn teardown(&self) {
        let s = self.state.load(Ordering::Acquire);
        self.state.store(0, Ordering::Relaxed);
        if s != 0 && s != NOT_RUN {
            // SAFETY: alive per the protocol (module docs), and not shared.
            unsafe { (*self.value).assume_init_drop() };
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! The value cell is plain memory reached through a raw pointer (as in
    //! the runtime), so loom checks the state protocol (its atomics and the
    //! drop counts), not accesses to the cell itself.
    use super::Slot;
    use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
    use loom::sync::Arc;
    use std::mem::MaybeUninit;

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

    /// A value cell and its state, shared by the model's threads.
    struct Cell {
        value: *mut MaybeUninit<Counted>,
        state: AtomicU32,
    }
    // SAFETY (model): the cell is accessed under the slot protocol under test.
    unsafe impl Sync for Cell {}
    // SAFETY (model): as above.
    unsafe impl Send for Cell {}
    impl Drop for Cell {
        fn drop(&mut self) {
            // SAFETY: allocated by `Box::into_raw` in `cell`; nothing lives in it.
            drop(unsafe { Box::from_raw(self.value) });
        }
    }

    fn cell() -> Arc<Cell> {
        Arc::new(Cell {
            value: Box::into_raw(Box::new(MaybeUninit::uninit())),
            state: AtomicU32::new(super::NOT_RUN),
        })
    }

    fn slot(c: &Cell) -> Slot<'_, Counted> {
        // SAFETY: the cell outlives the slot.
        unsafe { Slot::new(c.value, &c.state) }
    }

    /// One consumer borrows while another takes by value: the value is moved
    /// or cloned, read intact, and dropped exactly once per copy.
    #[test]
    fn borrow_and_take_race() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let cell = cell();
            // SAFETY: no consumer exists yet.
            unsafe {
                let s = slot(&cell);
                s.write_raw(Counted(7, Arc::clone(&drops)));
                s.publish(2);
            }
            let c2 = Arc::clone(&cell);
            let borrower = loom::thread::spawn(move || {
                let s = slot(&c2);
                // SAFETY: this thread holds one of the two uses.
                let v = unsafe { s.get() }.0;
                // SAFETY: `v` is a copy; the borrow has ended.
                unsafe { s.release() };
                v
            });
            // SAFETY: this thread holds the other use.
            let taken = unsafe { slot(&cell).take_or_clone() };
            assert_eq!(taken.0, 7);
            assert_eq!(borrower.join().unwrap(), 7);
            let moved = drops.load(Ordering::SeqCst) == 0;
            drop(taken);
            // Moved: one value, one drop. Cloned: the clone and the original.
            assert_eq!(drops.load(Ordering::SeqCst), if moved { 1 } else { 2 });
        });
    }

    /// Two by-value consumers: the original is moved into one of them, or,
    /// when both check before either releases, both clone and the last
    /// release drops the original: never dropped twice, never lost.
    #[test]
    fn two_takers() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let cell = cell();
            // SAFETY: no consumer exists yet.
            unsafe {
                let s = slot(&cell);
                s.write_raw(Counted(3, Arc::clone(&drops)));
                s.publish(2);
            }
            let c2 = Arc::clone(&cell);
            // SAFETY: each thread holds one use.
            let t = loom::thread::spawn(move || unsafe { slot(&c2).take_or_clone() });
            // SAFETY: as above.
            let a = unsafe { slot(&cell).take_or_clone() };
            let b = t.join().unwrap();
            assert_eq!((a.0, b.0), (3, 3));
            let before = drops.load(Ordering::SeqCst);
            drop((a, b));
            // Before: 0 if one was moved, 1 if both cloned (original dropped).
            assert!(before <= 1);
            assert_eq!(drops.load(Ordering::SeqCst), 2 + before);
            // Nothing is left for a teardown to drop.
            // SAFETY: both consumers are done.
            unsafe { slot(&cell).teardown() };
            assert_eq!(drops.load(Ordering::SeqCst), 2 + before);
        });
    }
}
