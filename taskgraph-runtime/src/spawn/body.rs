//! A graph's body as a work item of the pool: how a spawned or awaited
//! graph is polled, with no thread of its own.
//!
//! The body (the future the closure `graph!` writes returns, mapped to the
//! graph's output) lives in a [`BodyTask`], shared through an `Arc` by the
//! work items that poll it and by its [`Waker`]s. Its first poll builds the
//! graph and seeds its run (on the pool for `Runtime::spawn`, on the
//! calling thread for `compute_async`, which runs no task there); a poll
//! that finds nothing it may run keeps the task's waker in the run
//! (`OwnerWaker`, `exec/finish.rs`) and returns `Pending`. The run's end,
//! or a stop, wakes it: the wake-up pushes a work item (`Job::Body`), and
//! a pool thread polls the body again with its token, as it would an async
//! task's future (`exec/future.rs`). The poll that finds the run over tears
//! it down (its values dropped there), takes its outputs, and the body is
//! `Ready`: the result goes to the handle's cell (`Finish`), which wakes
//! whoever awaits it. A cancel stops the run and wakes the body the same
//! way, so its teardown happens in a work item too: nobody blocks for it.
//!
//! The state word ([`Sched`]: `IDLE`, `SCHEDULED`, `RUNNING`, `NOTIFIED`,
//! `DONE`) says who may touch the body, as `exec/future.rs`'s does for a
//! task's future:
//! - `RUNNING`: the thread polling it. A wake-up meanwhile makes it
//!   `NOTIFIED`, and the poller pushes the item after its `Pending`.
//! - `IDLE`: pending; a wake-up (`IDLE -> SCHEDULED`) pushes the item.
//! - `SCHEDULED`: the item is queued (the one that pushed it owns it).
//! - `DONE`: the body returned; wake-ups do nothing. Wakers may outlive it
//!   (the run keeps one in its owner slot until the slot is closed): they
//!   hold the `Arc` and look only at the state word.
//!
//! So at most one thread polls the body, a wake-up is never lost (one that
//! comes while it is being polled is seen when the poll parks it), and the
//! body is polled again exactly once per wake-up that found it pending
//! (loom models below: a wake-up from the run's end, one from a cancel and
//! the poller's `Pending`, in every order).
//!
//! Each poll queued is also put in the handle's `queued` slot, and a
//! thread outside the pool blocked in `Handle::wait` is woken for it: the
//! item and that thread both try to take it, and whichever comes second
//! leaves it alone. So a graph whose polls wait behind long tasks holding
//! every pool thread (a cancelled one, say, whose teardown is all that is
//! left) is finished by the thread that waits for it; that thread, outside
//! the pool, runs none of its tasks (`Park::Yield`).
//!
//! The runtime counts the bodies that have not returned ([`Live`]):
//! dropping it waits for them (they need the pool) before it stops its
//! threads.

use std::cell::UnsafeCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use super::Spawned;
use crate::error::Error;
use crate::exec::control::CANCELLED;
use crate::exec::finish::Ended;
use crate::exec::registry::WorkerCtx;
use crate::exec::{Item, Job};
use crate::sync::{AtomicU8, Ordering};

/// A graph's body with its output mapped (`Graph::__start`).
pub(crate) type Body<'h, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'h>>;

/// Pending: the run keeps the waker; nobody touches the body.
const IDLE: u8 = 0;
/// A work item that polls the body is queued.
const SCHEDULED: u8 = 1;
/// Being polled.
const RUNNING: u8 = 2;
/// Woken while being polled: polled again after this poll.
const NOTIFIED: u8 = 3;
/// The body returned.
const DONE: u8 = 4;

/// The state word of a body (module docs).
pub(crate) struct Sched {
    state: AtomicU8,
}

impl Sched {
    /// Being polled by its creator (`compute_async`'s first poll).
    pub(crate) fn running() -> Self {
        Sched {
            state: AtomicU8::new(RUNNING),
        }
    }

    /// Its first item is about to be pushed (`Runtime::spawn`).
    pub(crate) fn scheduled() -> Self {
        Sched {
            state: AtomicU8::new(SCHEDULED),
        }
    }

    /// A wake-up: true if the body was pending, and the caller pushes its
    /// item (`IDLE -> SCHEDULED`); a body being polled is marked
    /// `NOTIFIED`; one queued or done is left alone.
    pub(crate) fn wake(&self) -> bool {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let to = match s {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return false,
            };
            match self
                .state
                .compare_exchange(s, to, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return s == IDLE,
                Err(now) => s = now,
            }
        }
    }

    /// The queued item starts polling (`SCHEDULED -> RUNNING`): only its
    /// owner touches the state in `SCHEDULED`.
    pub(crate) fn start(&self) {
        debug_assert_eq!(self.state.load(Ordering::Relaxed), SCHEDULED);
        self.state.store(RUNNING, Ordering::Release);
    }

    /// After a `Pending`: parks the body (`RUNNING -> IDLE`: false), or,
    /// woken during the poll, queues it again (`NOTIFIED -> SCHEDULED`:
    /// true, and the caller pushes the item). After `false` the caller
    /// must not touch the body: a wake-up may hand it to another thread.
    pub(crate) fn park(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => false,
            Err(now) => {
                debug_assert_eq!(now, NOTIFIED);
                self.state.store(SCHEDULED, Ordering::Release);
                true
            }
        }
    }

    /// The body returned (`RUNNING -> DONE`): later wake-ups do nothing.
    pub(crate) fn done(&self) {
        self.state.store(DONE, Ordering::Release);
    }
}

/// A body and what it borrows besides its control: dropped in this order.
struct Owned<T, K> {
    body: Body<'static, T>,
    /// The runtime (its host and pool), which the body borrows: held, and
    /// dropped after it.
    _keep: Arc<K>,
    /// Whether the body has been polled (a spawned graph cancelled before
    /// its first poll is never built).
    polled: bool,
}

/// A graph's body run as the pool's work items (module docs).
pub(crate) struct BodyTask<T, K> {
    sched: Sched,
    /// Touched only by the thread the state word lets in (`RUNNING`, or
    /// the pusher of a `SCHEDULED` item), one at a time; `None` once done.
    owned: UnsafeCell<Option<Owned<T, K>>>,
    /// The run's control (the body borrows it) and its result cell.
    s: Arc<Spawned<T>>,
    /// The runtime's count of bodies not yet returned.
    live: Arc<Live>,
    /// The tokio runtime a spawned graph is built in (the one current
    /// where `spawn` was called), entered around each poll.
    #[cfg(feature = "tokio")]
    reactor: Option<tokio::runtime::Handle>,
}

// SAFETY: the body is `Send` (its type says so) and touched by one thread
// at a time, the one the state word lets in (module docs); `K` is
// `Send + Sync`; the rest is `Sync`.
unsafe impl<T: Send, K: Send + Sync> Sync for BodyTask<T, K> {}
// SAFETY: as above.
unsafe impl<T: Send, K: Send + Sync> Send for BodyTask<T, K> {}

impl<T: Send + 'static, K: Send + Sync + 'static> BodyTask<T, K> {
    /// A task for `body`, which borrows `s`'s control and `keep` (see
    /// [`erase`]).
    fn new(
        sched: Sched,
        body: Body<'static, T>,
        keep: Arc<K>,
        s: Arc<Spawned<T>>,
        live: Arc<Live>,
        #[cfg(feature = "tokio")] reactor: Option<tokio::runtime::Handle>,
    ) -> Arc<Self> {
        Arc::new(BodyTask {
            sched,
            owned: UnsafeCell::new(Some(Owned {
                body,
                _keep: keep,
                polled: false,
            })),
            s,
            live,
            #[cfg(feature = "tokio")]
            reactor,
        })
    }

    /// Pushes the item that polls this body (the caller moved the state
    /// to `SCHEDULED`): onto this thread's deque if it takes part in the
    /// body's pool (a run's last item waking it: the same thread polls it
    /// next), else to the pool's injector, which wakes a thread.
    fn push(self: Arc<Self>) {
        let reg = Arc::clone(&self.s.reg);
        // The poll is claimed by the item or by a thread waiting for the
        // result outside the pool (`Handle::wait`), whichever comes first.
        let s = Arc::clone(&self.s);
        let claim: Arc<dyn Queued> = self.clone();
        *s.queued.lock().unwrap_or_else(|p| p.into_inner()) = Some(claim);
        s.out.nudge();
        let exec: unsafe fn(*const (), Job, &WorkerCtx<'_>) = poll_item::<T, K>;
        let item = Item {
            run: Arc::into_raw(self).cast(),
            exec,
            job: Job::Body,
        };
        WorkerCtx::current(|cur| match cur {
            // No thread is woken for it: a wake-up for an item this thread
            // takes next costs the other threads a futex round for nothing.
            // (A task that cancels an awaited graph wakes it mid-task: then
            // the poll waits for the task's end, or for a thread of the
            // pool that steals it, or for a thread blocked in `wait`.)
            Some(w) if std::ptr::eq(w.reg, &*reg) => w.push_own(item),
            _ => WorkerCtx::push_from_outside(&reg, item),
        });
    }

    /// Polls the body once (the state is `RUNNING`, held by this thread);
    /// parks it after `Pending`, or publishes what it returned.
    fn poll(self: &Arc<Self>) {
        // SAFETY: `RUNNING` is ours: nobody else touches `owned`.
        let owned = unsafe { &mut *self.owned.get() };
        let o = owned
            .as_mut()
            .expect("taskgraph internal error: a graph's body polled after it returned");
        if !o.polled && self.s.ctl.stop_requested() == CANCELLED {
            // Cancelled before it was built (by a deadline, say): never
            // built.
            return self.end(Ended::Result(Err(Error::Cancelled)));
        }
        let first = !std::mem::replace(&mut o.polled, true);
        let waker = Waker::from(Arc::clone(self));
        let mut cx = Context::from_waker(&waker);
        let polled = {
            #[cfg(feature = "tokio")]
            let _entered = self.reactor.as_ref().map(|h| h.enter());
            catch_unwind(AssertUnwindSafe(|| {
                crate::scope::poll_yielding(o.body.as_mut(), &mut cx)
            }))
        };
        drop(waker);
        if first {
            // The graph is built (or failed to be): threads of the pool
            // waiting for that (`Handle::wait_built`) look again.
            self.s.wake_helpers();
        }
        let ended = match polled {
            Ok(Poll::Pending) => {
                if self.sched.park() {
                    Arc::clone(self).push();
                }
                return;
            }
            Ok(Poll::Ready(r)) => Ended::Result(r),
            Err(p) => Ended::Panic(p),
        };
        self.end(ended);
    }

    /// The body returned (or was never built): marks it done, drops it
    /// and what it borrows, publishes `ended` and counts it out.
    fn end(&self, ended: Ended<T>) {
        self.sched.done();
        // SAFETY: `DONE`, set by the holder of `RUNNING`: nobody else
        // touches `owned` any more.
        let owned = unsafe { (*self.owned.get()).take() };
        // The body first (it borrows the runtime that `keep` holds). Its
        // run is over (a poll that unwound mid-run is an internal error:
        // `Execute`'s drop then waits for the run's last items); what its
        // frame still holds is dropped here, and a `Drop` that panics
        // loses nothing else.
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(owned))) {
            crate::exec::task::drop_payload(p);
        }
        self.s.finish(ended);
        self.live.leave();
    }
}

impl<T: Send + 'static, K: Send + Sync + 'static> Wake for BodyTask<T, K> {
    fn wake(self: Arc<Self>) {
        if self.sched.wake() {
            self.push();
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.sched.wake() {
            Arc::clone(self).push();
        }
    }
}

/// The trampoline of a `Job::Body` item: polls the body it names.
///
/// # Safety
/// `task` is an `Arc<BodyTask<T, K>>` reference turned into a pointer by
/// [`BodyTask::push`] (this consumes it), whose state is `SCHEDULED`.
unsafe fn poll_item<T: Send + 'static, K: Send + Sync + 'static>(
    task: *const (),
    _: Job,
    _: &WorkerCtx<'_>,
) {
    // SAFETY: the function's contract.
    let task = unsafe { Arc::from_raw(task as *const BodyTask<T, K>) };
    let claimed = task
        .s
        .queued
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    // A thread waiting for the result claimed this poll first and ran it
    // (`Handle::wait`): nothing is left to do here.
    if let Some(task) = claimed {
        task.poll_claimed();
    }
}

/// A queued poll of a body, as a thread that claims it runs it.
pub(crate) trait Queued: Send + Sync {
    /// Polls the body: the caller took it from `Spawned::queued`.
    fn poll_claimed(self: Arc<Self>);
}

impl<T: Send + 'static, K: Send + Sync + 'static> Queued for BodyTask<T, K> {
    fn poll_claimed(self: Arc<Self>) {
        self.sched.start();
        self.poll();
    }
}

/// A body whose borrows are no longer tracked by the compiler.
///
/// # Safety
/// `body` borrows only a run's control and the value a `keep` holds, both
/// in `Arc`s (their addresses do not change when the `Arc`s move) that
/// the [`BodyTask`] made with it holds, and drops only after the body.
unsafe fn erase<T>(body: Body<'_, T>) -> Body<'static, T> {
    // SAFETY: only the lifetime changes (the function's contract).
    unsafe { std::mem::transmute::<Body<'_, T>, Body<'static, T>>(body) }
}

/// Starts `body` (which borrows `s`'s control and `keep`) as a spawned
/// graph: its first poll is a work item of the pool.
pub(crate) fn start_spawned<T, K>(
    s: &Arc<Spawned<T>>,
    live: &Arc<Live>,
    keep: Arc<K>,
    #[cfg(feature = "tokio")] reactor: Option<tokio::runtime::Handle>,
    body: impl for<'c> FnOnce(&'c super::Control, &'c K) -> Body<'c, T>,
) where
    T: Send + 'static,
    K: Send + Sync + 'static,
{
    let task = body_task(
        s,
        live,
        keep,
        Sched::scheduled(),
        #[cfg(feature = "tokio")]
        reactor,
        body,
    );
    if let Some(task) = task {
        task.push();
    }
}

/// Starts `body` (which borrows `s`'s control and `keep`) as an awaited
/// graph: its first poll happens here, on the calling thread, which builds
/// the graph and seeds its run but runs none of its tasks
/// (`exec/drive.rs`); later polls are work items of the pool.
pub(crate) fn start_awaited<T, K>(
    s: &Arc<Spawned<T>>,
    live: &Arc<Live>,
    keep: Arc<K>,
    body: impl for<'c> FnOnce(&'c super::Control, &'c K) -> Body<'c, T>,
) where
    T: Send + 'static,
    K: Send + Sync + 'static,
{
    let task = body_task(
        s,
        live,
        keep,
        Sched::running(),
        // The first poll is here, where the caller's runtime is current
        // (the run keeps it for its async tasks).
        #[cfg(feature = "tokio")]
        None,
        body,
    );
    if let Some(task) = task {
        task.poll();
    }
}

/// The work item of `body`, in state `sched`; `None` (and `s` finished
/// with the error) when the runtime takes no more bodies.
fn body_task<T, K>(
    s: &Arc<Spawned<T>>,
    live: &Arc<Live>,
    keep: Arc<K>,
    sched: Sched,
    #[cfg(feature = "tokio")] reactor: Option<tokio::runtime::Handle>,
    body: impl for<'c> FnOnce(&'c super::Control, &'c K) -> Body<'c, T>,
) -> Option<Arc<BodyTask<T, K>>>
where
    T: Send + 'static,
    K: Send + Sync + 'static,
{
    if let Err(e) = live.enter() {
        s.finish(Ended::Result(Err(e)));
        return None;
    }
    // SAFETY: the body borrows only `s.ctl` and `*keep`, which the task
    // holds.
    let b = unsafe { erase(body(&s.ctl, &keep)) };
    Some(BodyTask::new(
        sched,
        b,
        keep,
        Arc::clone(s),
        Arc::clone(live),
        #[cfg(feature = "tokio")]
        reactor,
    ))
}

/// The bodies of a runtime that have not returned: dropping the runtime
/// waits for them, then takes no more.
#[derive(Default)]
pub(crate) struct Live {
    state: Mutex<(usize, bool)>,
    idle: Condvar,
}

impl Live {
    /// Counts a body in, unless the runtime is shutting down.
    fn enter(&self) -> Result<(), Error> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.1 {
            return Err(Error::ThreadPool(
                "the runtime is shutting down and takes no new graphs".to_owned(),
            ));
        }
        s.0 += 1;
        Ok(())
    }

    /// Counts a body out (it returned and was dropped).
    fn leave(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 -= 1;
        if s.0 == 0 {
            self.idle.notify_all();
        }
    }

    /// Waits until every body has returned, then takes no more.
    pub(crate) fn shutdown(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while s.0 > 0 {
            s = self.idle.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.1 = true;
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! A body pending in its run, woken by the run's end and by a cancel
    //! while its poller parks it, with the real [`Sched`] and the run's
    //! real owner slot (`OwnerWaker`): at most one thread polls it at a
    //! time, it is polled again after every wake-up that found it pending
    //! and never after it returned, returns exactly once, and no item is
    //! left queued.
    use super::Sched;
    use crate::exec::finish::OwnerWaker;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex};
    use std::task::Waker;

    /// What the model's body and its run share.
    struct World {
        sched: Sched,
        /// The run's owner slot (`Run::state.owner`).
        owner: OwnerWaker,
        /// The run's latch, set by its last item.
        latch: AtomicBool,
        /// The run's stop flag, set by a cancel.
        stop: AtomicBool,
        /// Items pushed and not yet run (the model's deque).
        queue: Mutex<usize>,
        /// Threads polling the body now (at most one).
        polling: AtomicUsize,
        /// Times the body returned.
        returned: AtomicUsize,
    }

    /// The body's waker: `Wake for BodyTask` with a counted push.
    struct Wk(Arc<World>);
    impl std::task::Wake for Wk {
        fn wake(self: std::sync::Arc<Self>) {
            if self.0.sched.wake() {
                *self.0.queue.lock().unwrap() += 1;
            }
        }
    }

    /// One poll of the body, as `Execute::poll` and `drive` make it: done
    /// if the latch is set; else it keeps the waker in the owner slot and
    /// is pending, or, the slot closed (the last item took the waker),
    /// waits for the latch (set within a few instructions) and is done.
    /// Then `BodyTask::poll`'s end: parks it, or counts the return.
    fn poll(w: &Arc<World>, waker: &Waker) {
        assert_eq!(
            w.polling.fetch_add(1, Ordering::SeqCst),
            0,
            "polled twice at once"
        );
        let ready = if w.latch.load(Ordering::Acquire) {
            true
        } else if !w.owner.set(waker) {
            while !w.latch.load(Ordering::Acquire) {
                loom::thread::yield_now();
            }
            true
        } else {
            // `drive`: a stop seen after the waker was kept is no reason to
            // wait (the model's run has no items of its own to end).
            let _ = w.stop.load(Ordering::SeqCst);
            false
        };
        w.polling.fetch_sub(1, Ordering::SeqCst);
        if ready {
            w.returned.fetch_add(1, Ordering::SeqCst);
            w.sched.done();
        } else if w.sched.park() {
            *w.queue.lock().unwrap() += 1;
        }
    }

    /// Runs one queued item if there is one: `poll_item`.
    fn run_queued(w: &Arc<World>, waker: &Waker) -> bool {
        {
            let mut q = w.queue.lock().unwrap();
            if *q == 0 {
                return false;
            }
            *q -= 1;
        }
        w.sched.start();
        poll(w, waker);
        true
    }

    fn world(sched: Sched) -> (Arc<World>, Waker) {
        let w = Arc::new(World {
            sched,
            owner: OwnerWaker::new(),
            latch: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            queue: Mutex::new(0),
            polling: AtomicUsize::new(0),
            returned: AtomicUsize::new(0),
        });
        let waker = Waker::from(std::sync::Arc::new(Wk(Arc::clone(&w))));
        (w, waker)
    }

    /// Runs what is queued until nothing is (after the racing threads
    /// have ended: nothing wakes the body any more).
    fn drain(w: &Arc<World>, waker: &Waker) {
        while run_queued(w, waker) {}
    }

    /// The run's last item: closes the owner slot, sets the latch, wakes
    /// what it took (`Run::finish_items`).
    fn last_item(w: &Arc<World>) -> loom::thread::JoinHandle<()> {
        let w = Arc::clone(w);
        loom::thread::spawn(move || {
            let taken = w.owner.close();
            w.latch.store(true, Ordering::Release);
            if let Some(k) = taken {
                k.wake();
            }
        })
    }

    /// A cancel: sets the stop, wakes a kept waker (`Run::stop_with`).
    fn cancel(w: &Arc<World>) -> loom::thread::JoinHandle<()> {
        let w = Arc::clone(w);
        loom::thread::spawn(move || {
            w.stop.store(true, Ordering::SeqCst);
            w.owner.wake();
        })
    }

    /// The first poll (pending unless the run already ended) races the
    /// run's last item and a cancel, and a pool thread runs one item they
    /// may have queued meanwhile (`poll_item`), perhaps while the first
    /// poll still runs; what is left queued runs afterwards. The body
    /// returns exactly once, never polled by two threads at once, and once
    /// all is quiet nothing is queued and a late wake-up does nothing.
    /// What it guards against: `park` ignoring `NOTIFIED` (a wake-up
    /// during the poll lost, the body never returning) and a wake-up
    /// pushing from `RUNNING` too (two pollers at once).
    #[test]
    fn the_end_and_a_cancel_wake_a_pending_body_once_each() {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(2);
        model.check(|| {
            let (w, waker) = world(Sched::running());
            let end = last_item(&w);
            let stop = cancel(&w);
            let pool = {
                let (w, waker) = (Arc::clone(&w), waker.clone());
                loom::thread::spawn(move || {
                    run_queued(&w, &waker);
                })
            };
            // The first poll, on the caller (`compute_async`).
            poll(&w, &waker);
            end.join().unwrap();
            stop.join().unwrap();
            pool.join().unwrap();
            drain(&w, &waker);
            assert_eq!(w.returned.load(Ordering::SeqCst), 1, "returned once");
            assert_eq!(*w.queue.lock().unwrap(), 0, "an item left queued");
            // A late wake-up (a waker kept elsewhere) does nothing.
            waker.wake_by_ref();
            assert_eq!(*w.queue.lock().unwrap(), 0, "woken after it returned");
        });
    }

    /// A spawned body: its first poll is a queued item, run while the
    /// run's last item and a cancel may come before the body is polled at
    /// all (nothing kept: nothing woken) or after. Still one return and
    /// nothing left queued.
    #[test]
    fn a_queued_body_meets_the_end_of_its_run() {
        loom::model(|| {
            let (w, waker) = world(Sched::scheduled());
            // `start_spawned` pushes the first item.
            *w.queue.lock().unwrap() += 1;
            let end = last_item(&w);
            let stop = cancel(&w);
            assert!(run_queued(&w, &waker), "the first item");
            end.join().unwrap();
            stop.join().unwrap();
            drain(&w, &waker);
            assert_eq!(w.returned.load(Ordering::SeqCst), 1);
            assert_eq!(*w.queue.lock().unwrap(), 0);
        });
    }
}
