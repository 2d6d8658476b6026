//! Async tasks: a node whose task is a future (`#[delayed] async fn`).
//!
//! When the node is ready its future is built (its inputs moved or lent
//! in, as for any task) and put once on the heap, in an `Arc`'d
//! [`Slot`]: a [`Header`] (the state word, and what a wake-up needs) and
//! the future. The node's work item polls it. `Ready` is the node's output,
//! stored and completed as a plain task's. `Pending` ends the work item:
//! no thread and no token waits for the future. The run counts one more
//! unit of `active` for it (*parked*), so the run cannot end while it
//! waits; the future's [`Waker`] turns the parked unit into a work item
//! (`Job::Poll`) pushed to the pool's injector, which wakes a sleeping
//! thread, and that item polls the future again, with a token like any
//! other item.
//!
//! The state word (`IDLE`, `SCHEDULED`, `RUNNING`, `NOTIFIED`, `DONE`) says
//! who may touch the future:
//! - `RUNNING`: the thread polling it. A wake-up meanwhile makes it
//!   `NOTIFIED`, and the poller pushes the item again after a `Pending`.
//! - `IDLE`: parked; a wake-up (`IDLE -> SCHEDULED`) pushes the item.
//! - `SCHEDULED`: the item is queued; it polls (`-> RUNNING`), or, if the
//!   run has stopped, drops the future (`-> DONE`) on its pool thread.
//! - `DONE`: finished or dropped; wake-ups do nothing. Wakers may outlive
//!   the run (a timer still holding one): they only look at the state word.
//!
//! A stop wakes every future that went `Pending` (the run keeps their
//! wakers, `Run::futures`), so each is dropped by its own work item. A
//! stop and a poller that parks meet as in Dekker's protocol: the stopper
//! sets `stop` (`SeqCst`) and then wakes; the poller stores `IDLE`
//! (`SeqCst`), then reads `stop`, and if set wakes itself. One of them sees
//! the other, and the state word lets exactly one wake-up push the item
//! (loom models below: `a_wake_meets_a_stop`,
//! `a_stop_reaches_a_future_never_woken`). Every future is dropped
//! exactly once, before the unit that kept its run alive is released.

use std::cell::UnsafeCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::registry::{Registry, WorkerCtx};
use super::task::TaskError;
use super::{exec_item, Cx, Item, Job, Run};
use crate::sync::{fence, AtomicBool, AtomicU8, Ordering};
use crate::value::NodeId;

/// Parked: waiting for a wake-up; holds one unit of its run's `active`.
pub(crate) const IDLE: u8 = 0;
/// A work item that polls the future is queued.
pub(crate) const SCHEDULED: u8 = 1;
/// Being polled.
pub(crate) const RUNNING: u8 = 2;
/// Woken while being polled: polled again after this poll.
pub(crate) const NOTIFIED: u8 = 3;
/// Finished or dropped.
pub(crate) const DONE: u8 = 4;

/// What a wake-up needs, whatever the future's type: the state word and the
/// work item it pushes.
pub struct Header {
    pub(crate) state: AtomicU8,
    /// The node whose task this is.
    pub(crate) node: NodeId,
    /// The run of the item a wake-up pushes (`Job::Poll` of this header),
    /// and its trampoline. The run is alive while the state is `IDLE`,
    /// `SCHEDULED`, `RUNNING` or `NOTIFIED`: the future holds a unit of its
    /// `active` items then.
    run: *const (),
    exec: unsafe fn(*const (), Job, &WorkerCtx<'_>),
    /// The pool the item goes to: alive as long as the run is.
    reg: *const Registry,
    /// When the task started, for observers.
    pub(crate) start: u64,
}

impl Header {
    /// A wake-up: pushes the item if the future is parked, marks it
    /// `NOTIFIED` if it is being polled, else does nothing. `slot` is this
    /// header's slot, as a pointer to the whole of it (the item's job
    /// names it, and a poll reads the future through it).
    pub(crate) fn wake(&self, slot: *const Header) {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let to = match s {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self
                .state
                .compare_exchange(s, to, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if s == IDLE => {
                    // SAFETY: the state was `IDLE`, so the future holds a
                    // unit of its run's `active` items (now the item's):
                    // the run, and the runtime's registry, are alive.
                    WorkerCtx::push_from_outside(unsafe { &*self.reg }, self.item(slot));
                    return;
                }
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// The work item that polls this future (`slot`: as in `wake`).
    pub(crate) fn item(&self, slot: *const Header) -> Item {
        Item {
            run: self.run,
            exec: self.exec,
            job: Job::Poll(slot),
        }
    }

    /// After a `Pending`: parks the future (`RUNNING -> IDLE`), the caller
    /// having counted the parked unit. Returns what to do next.
    pub(crate) fn park(&self, stop: &AtomicBool) -> Parked {
        match self
            .state
            .compare_exchange(RUNNING, IDLE, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => {
                // Dekker with the stopper (module docs): either its wake-up
                // sees `IDLE`, or this sees `stop` (and the caller wakes).
                fence(Ordering::SeqCst);
                if stop.load(Ordering::SeqCst) {
                    Parked::Stopped
                } else {
                    Parked::Waiting
                }
            }
            Err(_) => {
                // `NOTIFIED`: woken during the poll; poll again later.
                self.state.store(SCHEDULED, Ordering::Release);
                Parked::Again
            }
        }
    }
}

/// What a poller does after [`Header::park`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Parked: a wake-up (or a stop) takes it from here.
    Waiting,
    /// Parked, and the run has stopped: the caller wakes the future, so
    /// that its item drops it.
    Stopped,
    /// Woken meanwhile: push the item again (with the parked unit).
    Again,
}

/// An async task's slot: the header, then the future. One allocation per
/// task; the family keeps a reference until its run is torn down, each
/// waker another.
#[repr(C)]
pub(crate) struct Slot<F> {
    pub(crate) hdr: Header,
    fut: UnsafeCell<Option<F>>,
}

// SAFETY: the future is touched only by the thread the state word lets in
// (module docs), one at a time; `F: Send` moves it between threads. The
// header's pointers name the run and registry, both `Sync`.
unsafe impl<F: Send> Send for Slot<F> {}
// SAFETY: as above.
unsafe impl<F: Send> Sync for Slot<F> {}

impl<F: Future> Slot<F> {
    /// A slot for `fut`, the task of `node` of `run`, being polled
    /// (`RUNNING`) by the caller.
    fn new(fut: F, node: NodeId, run: &Run<'_, '_>, start: u64) -> Arc<Self> {
        let exec: unsafe fn(*const (), Job, &WorkerCtx<'_>) = exec_item::<Run<'_, '_>>;
        Arc::new(Slot {
            hdr: Header {
                state: AtomicU8::new(RUNNING),
                node,
                run: run as *const Run<'_, '_> as *const (),
                exec,
                reg: run.reg,
                start,
            },
            fut: UnsafeCell::new(Some(fut)),
        })
    }

    /// Polls the future once, catching a panic.
    ///
    /// # Safety
    /// The caller moved the state to `RUNNING`, and `this` stays alive.
    unsafe fn poll(this: &Arc<Self>) -> std::thread::Result<Poll<F::Output>> {
        let waker = waker(this);
        let mut cx = Context::from_waker(&waker);
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: only the `RUNNING` thread touches the future; it is
            // never moved out of the slot (pinned in the `Arc`) until it is
            // dropped in place by `Slot::drop_future`.
            let fut = unsafe { &mut *this.fut.get() };
            match fut.as_mut() {
                // SAFETY: as above: pinned in place in the slot.
                Some(f) => unsafe { Pin::new_unchecked(f) }.poll(&mut cx),
                None => unreachable!("taskgraph internal error: a finished future polled"),
            }
        }))
    }

    /// Drops the future (finished, failed or abandoned), catching a panic
    /// of its `Drop`.
    ///
    /// # Safety
    /// The caller holds the future: it moved the state to `DONE` from a
    /// state it owned (`RUNNING`, `SCHEDULED` or `IDLE`).
    unsafe fn drop_future(&self) -> std::thread::Result<()> {
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the caller's contract; `set None` drops it in place.
            unsafe { *self.fut.get() = None };
        }))
    }
}

/// The waker of `slot`: an `Arc` reference to the slot, with a vtable for
/// its type.
fn waker<F: Future>(slot: &Arc<Slot<F>>) -> Waker {
    let raw = RawWaker::new(
        Arc::into_raw(Arc::clone(slot)) as *const (),
        &Vtable::<F>::VTABLE,
    );
    // SAFETY: the vtable's functions keep the `RawWaker` contract: they
    // clone and drop the `Arc` reference the data pointer is, and waking
    // is thread-safe (`Header::wake`).
    unsafe { Waker::from_raw(raw) }
}

struct Vtable<F>(std::marker::PhantomData<F>);

impl<F: Future> Vtable<F> {
    const VTABLE: RawWakerVTable =
        RawWakerVTable::new(Self::clone, Self::wake, Self::wake_by_ref, Self::drop);

    unsafe fn clone(p: *const ()) -> RawWaker {
        // SAFETY: `p` is an `Arc<Slot<F>>` reference (`waker`).
        unsafe { Arc::increment_strong_count(p as *const Slot<F>) };
        RawWaker::new(p, &Self::VTABLE)
    }

    unsafe fn wake(p: *const ()) {
        // SAFETY: as in `clone`; this consumes the reference.
        unsafe {
            Self::wake_by_ref(p);
            Self::drop(p);
        }
    }

    unsafe fn wake_by_ref(p: *const ()) {
        // SAFETY: as in `clone`: the slot is alive while the reference is.
        let hdr = unsafe { &(*(p as *const Slot<F>)).hdr };
        // `p` addresses the whole slot (`repr(C)`: the header first).
        hdr.wake(p as *const Header);
    }

    unsafe fn drop(p: *const ()) {
        // SAFETY: as in `clone`. The last reference may go after the run
        // has ended: by then the future was dropped (`DONE`), so only the
        // header and an empty `Option` are freed.
        unsafe { Arc::decrement_strong_count(p as *const Slot<F>) };
    }
}

// ---------------------------------------------------------------------------
// Running an async task (the typed half is `AsyncBound` in `../family.rs`).

impl<'g> Cx<'_, 'g> {
    /// Lets async node `id` start now if the bound on tasks in flight
    /// allows; else queues a `Job::Start` item for it (counted in the
    /// run's `active`), and the caller's item ends.
    pub(crate) fn admit(&self, id: NodeId) -> bool {
        let run = self.run;
        run.reg.in_flight.admit(|| run.later_item(Job::Start(id)))
    }

    /// Starts async node `id` (admitted): builds its future with `make`
    /// (which takes the node's inputs), puts it on the heap and polls it.
    /// Returns its output if it is ready at once; `None` if it went
    /// `Pending` (its waker takes it from here) or failed (recorded).
    pub(crate) fn start_future<T, F>(&self, id: NodeId, make: impl FnOnce() -> F) -> Option<T>
    where
        F: Future<Output = Result<T, TaskError>> + Send,
    {
        let start = self.async_started(id);
        let fut = match catch_unwind(AssertUnwindSafe(make)) {
            Ok(f) => f,
            Err(p) => {
                self.run.leave_in_flight(self.w);
                self.async_panicked(id, start, p);
                return None;
            }
        };
        let slot = Slot::new(fut, id, self.run, start);
        self.poll_slot(&slot, true)
    }

    /// Polls the future of the slot `hdr` heads again (a `Job::Poll`), or
    /// drops it if the run has stopped.
    ///
    /// # Safety
    /// `hdr` addresses a whole `Slot<F>` of this run (as `Header::wake`
    /// makes them), whose state is `SCHEDULED`.
    pub(crate) unsafe fn resume_future<T, F>(&self, hdr: *const Header) -> Option<T>
    where
        F: Future<Output = Result<T, TaskError>> + Send,
    {
        // SAFETY: the caller's contract; the run keeps a reference to the
        // slot (a waker in `Run::futures`) until it is torn down, so this
        // borrowed one is never dropped.
        let slot = std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(hdr as *const Slot<F>) });
        let h = &slot.hdr;
        if self.stopped() {
            h.state.store(DONE, Ordering::Release);
            // SAFETY: `SCHEDULED` was ours; now `DONE`.
            let dropped = unsafe { slot.drop_future() };
            self.run.leave_in_flight(self.w);
            match dropped {
                Ok(()) => self.async_finished(h.node, h.start, true),
                Err(p) => self.async_panicked(h.node, h.start, p),
            }
            return None;
        }
        h.state.store(RUNNING, Ordering::Release);
        self.poll_slot(&slot, false)
    }

    /// Polls `slot` (`RUNNING`, held by this thread); `first`: its first
    /// poll.
    fn poll_slot<T, F>(&self, slot: &Arc<Slot<F>>, first: bool) -> Option<T>
    where
        F: Future<Output = Result<T, TaskError>> + Send,
    {
        let h = &slot.hdr;
        // The whole slot, for the work items that poll it again.
        let whole = Arc::as_ptr(slot) as *const Header;
        let polled = {
            let _reactor = self.run.enter_reactor();
            // SAFETY: the state is `RUNNING`, held by this thread.
            unsafe { Slot::poll(slot) }
        };
        match polled {
            Ok(Poll::Pending) => {
                if first {
                    self.run.keep_waker(waker(slot));
                }
                self.run.count_parked();
                match h.park(&self.run.state.flags.stop) {
                    Parked::Waiting => {}
                    Parked::Stopped => h.wake(whole),
                    // The parked unit goes with the item.
                    Parked::Again => self.w.push(h.item(whole)),
                }
                None
            }
            Ok(Poll::Ready(out)) => {
                h.state.store(DONE, Ordering::Release);
                // The future is dropped before the node completes, as a
                // plain task's borrowed inputs are released when it returns.
                // SAFETY: `RUNNING` was ours; now `DONE`.
                let dropped = unsafe { slot.drop_future() };
                self.run.leave_in_flight(self.w);
                if let Err(p) = dropped {
                    drop(out);
                    self.async_panicked(h.node, h.start, p);
                    return None;
                }
                match out {
                    Ok(v) => {
                        self.async_finished(h.node, h.start, false);
                        Some(v)
                    }
                    Err(e) => {
                        let _ = self.node_failed(h.node, h.start, e);
                        None
                    }
                }
            }
            Err(p) => {
                h.state.store(DONE, Ordering::Release);
                // SAFETY: as above.
                if let Err(again) = unsafe { slot.drop_future() } {
                    super::task::drop_payload(again);
                }
                self.run.leave_in_flight(self.w);
                self.async_panicked(h.node, h.start, p);
                None
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! A wake-up, a stop and the poller parking a future, as `Run`'s poll
    //! path does (`exec/mod.rs`, `Run::poll_async`): every future is
    //! dropped exactly once, and the run's `active` count (the parked unit
    //! and the items) ends at zero, whatever the order.
    use super::{Header, Parked, DONE, RUNNING, SCHEDULED};
    use crate::exec::registry::WorkerCtx;
    use crate::exec::Job;
    use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
    use crate::value::NodeId;
    use loom::sync::Arc;

    unsafe fn nothing(_: *const (), _: Job, _: &WorkerCtx<'_>) {}

    struct World {
        hdr: Header,
        stop: AtomicBool,
        active: AtomicUsize,
        drops: AtomicUsize,
        /// Items pushed by a wake-up (the model's injector).
        pushed: AtomicUsize,
        /// Whether the run keeps the future's waker (`Run::futures`, a
        /// list under a lock): a stop wakes only the futures kept there.
        kept: loom::sync::Mutex<bool>,
    }

    // SAFETY: the header's pointers are never followed in the model.
    unsafe impl Send for World {}
    // SAFETY: as above.
    unsafe impl Sync for World {}

    fn world() -> Arc<World> {
        Arc::new(World {
            hdr: Header {
                state: AtomicU8::new(RUNNING),
                node: NodeId::new(0, 0),
                run: std::ptr::null(),
                exec: nothing,
                reg: std::ptr::null(),
                start: 0,
            },
            stop: AtomicBool::new(false),
            // The poller's own item.
            active: AtomicUsize::new(1),
            drops: AtomicUsize::new(0),
            pushed: AtomicUsize::new(0),
            kept: loom::sync::Mutex::new(false),
        })
    }

    fn release(w: &World) {
        assert!(
            w.active.fetch_sub(1, Ordering::AcqRel) > 0,
            "released twice"
        );
    }

    /// `Header::wake` without the registry: the push is counted.
    fn wake(w: &World) {
        let h = &w.hdr;
        let mut s = h.state.load(Ordering::Acquire);
        loop {
            let to = match s {
                super::IDLE => SCHEDULED,
                RUNNING => super::NOTIFIED,
                _ => return,
            };
            match h
                .state
                .compare_exchange(s, to, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if s == super::IDLE => {
                    w.pushed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// The poller after its first `Pending`: keeps the waker with the run,
    /// counts the parked unit, parks, and ends its own item.
    fn poller(w: &World) {
        *w.kept.lock().unwrap() = true;
        w.active.fetch_add(1, Ordering::Relaxed);
        match w.hdr.park(&w.stop) {
            Parked::Waiting => {}
            Parked::Stopped => wake(w),
            Parked::Again => {
                w.pushed.fetch_add(1, Ordering::SeqCst);
            }
        }
        release(w);
    }

    /// The stopper: `Run::stop_with`, which wakes every future the run
    /// keeps (one still in its first poll is not kept yet: its poller sees
    /// the stop when it parks).
    fn stopper(w: &World) {
        w.stop.store(true, Ordering::SeqCst);
        if *w.kept.lock().unwrap() {
            wake(w);
        }
    }

    /// A pushed item, run on a stopped run: drops the future.
    fn run_pushed(w: &World) {
        assert!(w.stop.load(Ordering::SeqCst));
        if w.hdr
            .state
            .compare_exchange(SCHEDULED, DONE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            w.drops.fetch_add(1, Ordering::SeqCst);
        }
        release(w);
    }

    /// A poll that returns `Pending` meets a wake-up (a timer thread) and a
    /// cancel: the future is scheduled once more and dropped exactly once,
    /// by that item; every unit is released.
    #[test]
    fn a_wake_meets_a_stop() {
        loom::model(|| {
            let w = world();
            let waker = {
                let w = Arc::clone(&w);
                loom::thread::spawn(move || wake(&w))
            };
            let stop = {
                let w = Arc::clone(&w);
                loom::thread::spawn(move || stopper(&w))
            };
            poller(&w);
            waker.join().unwrap();
            stop.join().unwrap();
            // A pushed item runs later (the run is stopped by now).
            let pushed = w.pushed.load(Ordering::SeqCst);
            assert_eq!(pushed, 1, "the stopped future is scheduled once");
            run_pushed(&w);
            assert_eq!(w.drops.load(Ordering::SeqCst), 1, "dropped once");
            assert_eq!(w.active.load(Ordering::SeqCst), 0, "a unit was kept");
            assert_eq!(w.hdr.state.load(Ordering::SeqCst), DONE);
        });
    }

    /// A future nothing will ever wake (`std::future::pending`), parked
    /// while the run stops, perhaps before the run keeps its waker: it is
    /// scheduled once and dropped once all the same, and no unit is kept.
    #[test]
    fn a_stop_reaches_a_future_never_woken() {
        loom::model(|| {
            let w = world();
            let stop = {
                let w = Arc::clone(&w);
                loom::thread::spawn(move || stopper(&w))
            };
            poller(&w);
            stop.join().unwrap();
            assert_eq!(w.pushed.load(Ordering::SeqCst), 1, "the stop was missed");
            run_pushed(&w);
            assert_eq!(w.drops.load(Ordering::SeqCst), 1, "dropped once");
            assert_eq!(w.active.load(Ordering::SeqCst), 0, "a unit was kept");
        });
    }

    /// Without a stop, a wake-up during the poll or after it schedules the
    /// future exactly once, and the parked unit goes with the item.
    #[test]
    fn a_wake_during_the_poll_is_not_lost() {
        loom::model(|| {
            let w = world();
            let waker = {
                let w = Arc::clone(&w);
                loom::thread::spawn(move || wake(&w))
            };
            poller(&w);
            waker.join().unwrap();
            assert_eq!(w.pushed.load(Ordering::SeqCst), 1, "scheduled once");
            assert_eq!(w.hdr.state.load(Ordering::SeqCst), SCHEDULED);
            assert_eq!(w.active.load(Ordering::SeqCst), 1, "the item's unit");
        });
    }
}
