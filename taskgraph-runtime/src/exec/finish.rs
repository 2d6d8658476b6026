//! The end of a spawned run, as its handle and its readers see it: a
//! result written once, taken at most once, and the parties waiting for it.
//!
//! States: *running* (no result; readers may subscribe a wake-up), then
//! *finished* (the result is there, or was taken). `finish` is called
//! exactly once, by the thread that drove the run: under the lock it stores
//! the result, sets `finished` and takes the subscribed wake-ups, which it
//! calls after the lock is released. A reader that subscribes either does
//! so before `finish` took the list (then it is woken exactly once) or
//! finds the run finished (then it is not subscribed at all);
//! `unsubscribe` removes a wake-up that has not been taken yet and says
//! whether it did, so each subscribed wake-up is either called or withdrawn,
//! never both (loom model: `wake_or_withdraw_exactly_once`).
//!
//! A future awaiting the result (`spawn::Computing`) subscribes its task's
//! `Waker` the same way, with `poll_finished`: the first poll that finds
//! the run going adds the waker to the list, a later one replaces it in
//! place when the task moved (`Waker::will_wake`), so a future holds one
//! subscription however often it is polled. Either the poll finds the run
//! finished, or `finish` takes the waker and wakes it once; a future
//! dropped while pending withdraws it with `unsubscribe` (loom models:
//! `a_polled_waker_is_woken_once_or_sees_the_end`,
//! `a_dropped_future_withdraws_its_waker_or_is_woken`).
//!
//! Dropping the handle (detaching) drops only its `Arc`: the run keeps its
//! own and finishes; the result is dropped with the last `Arc`.

use std::any::Any;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sync::{AtomicBool, Condvar, Mutex, MutexGuard, Ordering};

/// A wake-up for a reader waiting for the result.
pub(crate) type Wake = Box<dyn FnOnce() + Send>;

/// A subscribed wake-up: a call, or an async task's waker (replaceable
/// in place when the task is polled again with another one).
enum Waiter {
    Call(Wake),
    Task(Waker),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Call(f) => f(),
            Waiter::Task(w) => w.wake(),
        }
    }
}

/// What the run ended with.
pub(crate) enum Ended<T> {
    /// The graph's output, or the error it stopped with.
    Result(Result<T, Error>),
    /// A panic outside any task (plain code of a fused loop's body), raised
    /// again by `wait`, as `compute` would.
    Panic(Box<dyn Any + Send>),
}

struct State<T> {
    ended: Option<Ended<T>>,
    /// A reader moved the result out.
    taken: bool,
    finished: bool,
    waiting: Vec<(u64, Waiter)>,
    next_id: u64,
}

/// The result cell of a spawned run (see the module docs).
pub(crate) struct Finish<T> {
    state: Mutex<State<T>>,
    cv: Condvar,
    /// `finished`, readable without the lock (SeqCst: see `Handle::wait`).
    done: AtomicBool,
}

impl<T> Finish<T> {
    pub(crate) fn new() -> Self {
        Finish {
            state: Mutex::new(State {
                ended: None,
                taken: false,
                finished: false,
                waiting: Vec::new(),
                next_id: 1,
            }),
            cv: Condvar::new(),
            done: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores what the run ended with and wakes every waiter. Called once.
    pub(crate) fn finish(&self, ended: Ended<T>) {
        let mut s = self.lock();
        debug_assert!(!s.finished, "taskgraph internal error: finished twice");
        s.ended = Some(ended);
        s.finished = true;
        let waiting = std::mem::take(&mut s.waiting);
        self.done.store(true, Ordering::SeqCst);
        drop(s);
        self.cv.notify_all();
        for (_, waiter) in waiting {
            waiter.wake();
        }
    }

    /// Whether the run has finished.
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Calls `wake` once the run finishes: returns its id, or `None` (and
    /// drops `wake` uncalled) if the run has finished already.
    pub(crate) fn subscribe(&self, wake: Wake) -> Option<u64> {
        let mut s = self.lock();
        if s.finished {
            return None;
        }
        let id = s.next_id;
        s.next_id += 1;
        s.waiting.push((id, Waiter::Call(wake)));
        Some(id)
    }

    /// For a future's `poll`: true if the run has finished; else `waker`
    /// is subscribed, to be woken once when it finishes. `id` is the
    /// future's subscription, `0` before its first pending poll: set here,
    /// and on a later poll its waker is replaced unless it would wake the
    /// same task. Once this returns true the subscription is gone (taken
    /// by `finish`, or never made); a future dropped while pending
    /// withdraws it with [`unsubscribe`](Finish::unsubscribe).
    pub(crate) fn poll_finished(&self, id: &mut u64, waker: &Waker) -> bool {
        if self.is_finished() {
            return true;
        }
        let mut s = self.lock();
        if s.finished {
            return true;
        }
        if *id != 0 {
            // Still subscribed: only `finish` (which sets `finished`, seen
            // above) and the future itself remove its entry.
            if let Some((_, Waiter::Task(w))) = s.waiting.iter_mut().find(|(i, _)| *i == *id) {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                return false;
            }
            debug_assert!(false, "taskgraph internal error: a lost subscription");
        }
        *id = s.next_id;
        s.next_id += 1;
        s.waiting.push((*id, Waiter::Task(waker.clone())));
        false
    }

    /// Withdraws the wake-up `id`; true if it had not been taken to be
    /// called (it is then dropped uncalled).
    pub(crate) fn unsubscribe(&self, id: u64) -> bool {
        let mut s = self.lock();
        match s.waiting.iter().position(|(i, _)| *i == id) {
            Some(k) => {
                let (_, waiter) = s.waiting.swap_remove(k);
                drop(s);
                drop(waiter);
                true
            }
            None => false,
        }
    }

    /// Blocks until the run finishes (true) or `also()` holds (false).
    /// `also` is checked under the lock: whoever makes it true and then
    /// calls [`nudge`](Finish::nudge) wakes this wait.
    pub(crate) fn wait_or(&self, also: &dyn Fn() -> bool) -> bool {
        let mut s = self.lock();
        loop {
            if s.finished {
                return true;
            }
            if also() {
                return false;
            }
            s = self.cv.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Wakes the threads blocked in `wait_or` to look again.
    pub(crate) fn nudge(&self) {
        drop(self.lock());
        self.cv.notify_all();
    }

    /// Blocks until the run finishes or `d` has passed; true if finished.
    pub(crate) fn wait_for(&self, d: Duration) -> bool {
        let deadline = Instant::now().checked_add(d);
        let mut s = self.lock();
        while !s.finished {
            let left = match deadline {
                Some(t) => t.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return false;
            }
            s = wait_timeout(&self.cv, s, left);
        }
        true
    }

    /// Moves the result out (once the run has finished).
    pub(crate) fn take(&self) -> Ended<T> {
        let mut s = self.lock();
        debug_assert!(s.finished, "taskgraph internal error: taken before the end");
        if s.taken {
            return Ended::Result(Err(already_taken()));
        }
        s.taken = true;
        s.ended
            .take()
            .unwrap_or_else(|| Ended::Result(Err(already_taken())))
    }

    /// Calls `f` with the result, left in place (once the run has finished).
    pub(crate) fn with<R>(&self, f: impl FnOnce(Result<&T, String>) -> R) -> R {
        let s = self.lock();
        match &s.ended {
            Some(Ended::Result(Ok(v))) => f(Ok(v)),
            Some(Ended::Result(Err(e))) => f(Err(e.to_string())),
            Some(Ended::Panic(p)) => f(Err(format!(
                "it panicked outside any task: {}",
                crate::exec::task::panic_message(&**p)
            ))),
            None => f(Err(already_taken().to_string())),
        }
    }
}

fn already_taken() -> Error {
    Error::InputFailed {
        message: "its output was already moved out (by another graph that owns its handle)"
            .to_owned(),
    }
}

/// The waker of a run's owner that is an async poller: a poll that found
/// nothing to run keeps its task's waker here and returns `Pending`
/// (`drive.rs`); the run's last item takes it *before* it sets the latch
/// (after the latch the run may be freed) and wakes it after; a stop wakes
/// it without taking it (the owner ends the stopped run's items).
///
/// States: empty, a waker, or *closed* (the last item took it: the latch
/// follows within a few instructions). A poller's `set` either comes before
/// the close (then the close takes its waker and wakes it once) or finds it
/// closed (then it must not wait for a wake-up, but for the latch).
/// Invariant: a poller that returns `Pending` is woken exactly once by the
/// run's end (loom models: `the_end_wakes_a_pending_owner_once_or_is_seen`,
/// `a_stop_wakes_a_pending_owner`).
pub(crate) struct OwnerWaker {
    slot: Mutex<Owner>,
}

enum Owner {
    Empty,
    Waiting(Waker),
    Closed,
}

impl OwnerWaker {
    pub(crate) fn new() -> Self {
        OwnerWaker {
            slot: Mutex::new(Owner::Empty),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Owner> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `waker` to be woken by the run's end (replacing an earlier
    /// one unless it wakes the same task). False: the run's last item has
    /// already taken the waker, so its latch is about to be set and no
    /// wake-up will come.
    pub(crate) fn set(&self, waker: &Waker) -> bool {
        let mut s = self.lock();
        match &mut *s {
            Owner::Closed => false,
            Owner::Waiting(w) if w.will_wake(waker) => true,
            other => {
                *other = Owner::Waiting(waker.clone());
                true
            }
        }
    }

    /// The run's last item, before it sets the latch: closes the slot and
    /// returns the waker to wake once the latch is set.
    pub(crate) fn close(&self) -> Option<Waker> {
        match std::mem::replace(&mut *self.lock(), Owner::Closed) {
            Owner::Waiting(w) => Some(w),
            Owner::Empty | Owner::Closed => None,
        }
    }

    /// A stop: wakes a pending owner, which keeps its place (it ends the
    /// stopped run's items, and the end wakes it again).
    pub(crate) fn wake(&self) {
        let w = match &*self.lock() {
            Owner::Waiting(w) => Some(w.clone()),
            Owner::Empty | Owner::Closed => None,
        };
        if let Some(w) = w {
            w.wake();
        }
    }
}

#[cfg(not(loom))]
fn wait_timeout<'a, T>(
    cv: &Condvar,
    s: MutexGuard<'a, State<T>>,
    d: Duration,
) -> MutexGuard<'a, State<T>> {
    cv.wait_timeout(s, d).unwrap_or_else(|p| p.into_inner()).0
}

#[cfg(loom)]
fn wait_timeout<'a, T>(
    cv: &Condvar,
    s: MutexGuard<'a, State<T>>,
    _: Duration,
) -> MutexGuard<'a, State<T>> {
    // loom has no timed waits; a model never relies on one expiring.
    cv.wait(s).unwrap_or_else(|p| p.into_inner())
}

#[cfg(all(test, loom))]
mod loom_models {
    //! The handle's state machine: finish against cancel-and-withdraw,
    //! against a reader subscribing, and against the handle being dropped.
    use super::{Ended, Finish};
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    /// Counts live copies of a result.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A reader subscribes while the run finishes, and withdraws (its own
    /// run was stopped) while the finisher may be waking it: the wake-up is
    /// called or withdrawn, exactly once.
    #[test]
    fn wake_or_withdraw_exactly_once() {
        loom::model(|| {
            let f: Arc<Finish<u32>> = Arc::new(Finish::new());
            let woken = Arc::new(AtomicUsize::new(0));
            let f2 = Arc::clone(&f);
            let finisher = loom::thread::spawn(move || f2.finish(Ended::Result(Ok(7))));
            let w = Arc::clone(&woken);
            let id = f.subscribe(Box::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }));
            let withdrawn = id.is_some_and(|id| f.unsubscribe(id));
            finisher.join().unwrap();
            let calls = woken.load(Ordering::SeqCst);
            match id {
                // Subscribed: woken by the finisher, or withdrawn first.
                Some(_) => assert_eq!(calls + usize::from(withdrawn), 1),
                // Finished before the subscription: never woken.
                None => assert_eq!(calls, 0),
            }
            assert!(f.is_finished());
        });
    }

    /// The handle is dropped (detached) while the run finishes, and a
    /// reader takes the result: the result is dropped exactly once, by the
    /// reader or with the last reference.
    #[test]
    fn finish_against_detach_drops_the_result_once() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let f: Arc<Finish<Counted>> = Arc::new(Finish::new());
            let handle = Arc::clone(&f);
            let reader = Arc::clone(&f);
            let d = Arc::clone(&drops);
            let finisher = loom::thread::spawn(move || {
                f.finish(Ended::Result(Ok(Counted(d))));
            });
            let detacher = loom::thread::spawn(move || drop(handle));
            // The reader waits for the end, then takes the result.
            assert!(reader.wait_or(&|| false));
            let taken = reader.take();
            finisher.join().unwrap();
            detacher.join().unwrap();
            assert_eq!(drops.load(Ordering::SeqCst), 0);
            drop(taken);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            // A second take finds nothing to drop again.
            assert!(matches!(reader.take(), Ended::Result(Err(_))));
            drop(reader);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        });
    }

    /// A waker that counts its wake-ups (the counter is loom's, so the
    /// model sees the race on it; the `Arc` only keeps it alive).
    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn counting() -> (std::sync::Arc<Count>, std::task::Waker) {
        let c = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), std::task::Waker::from(c))
    }
    fn woken(c: &Count) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    /// A future is polled while the run finishes, then polled again with
    /// another waker (its task moved to another thread): either a poll sees
    /// the end, or the waker registered last is woken exactly once; a
    /// replaced waker is never woken, and the last poll sees the end.
    #[test]
    fn a_polled_waker_is_woken_once_or_sees_the_end() {
        loom::model(|| {
            let f: Arc<Finish<u32>> = Arc::new(Finish::new());
            let f2 = Arc::clone(&f);
            let finisher = loom::thread::spawn(move || f2.finish(Ended::Result(Ok(7))));
            let (a, wa) = counting();
            let (b, wb) = counting();
            let mut id = 0;
            let first = f.poll_finished(&mut id, &wa);
            let second = !first && f.poll_finished(&mut id, &wb);
            finisher.join().unwrap();
            let (a, b) = (woken(&a), woken(&b));
            match (first, second) {
                // Finished before the first poll: nothing subscribed.
                (true, _) => assert_eq!((a, b), (0, 0)),
                // Finished between the polls: the first waker was woken,
                // and the second poll saw the end.
                (false, true) => assert_eq!((a, b), (1, 0)),
                // Finished after both: the replacing waker, once.
                (false, false) => assert_eq!((a, b), (0, 1)),
            }
            assert!(f.poll_finished(&mut id, &wb));
            assert!(matches!(f.take(), Ended::Result(Ok(7))));
        });
    }

    /// A future polled once is dropped (withdraws its waker) while the run
    /// finishes: the waker is woken or withdrawn, exactly once, and the
    /// list is left empty.
    #[test]
    fn a_dropped_future_withdraws_its_waker_or_is_woken() {
        loom::model(|| {
            let f: Arc<Finish<u32>> = Arc::new(Finish::new());
            let f2 = Arc::clone(&f);
            let finisher = loom::thread::spawn(move || f2.finish(Ended::Result(Ok(7))));
            let (a, wa) = counting();
            let mut id = 0;
            let done = f.poll_finished(&mut id, &wa);
            let withdrawn = !done && f.unsubscribe(id);
            finisher.join().unwrap();
            if done {
                assert_eq!(woken(&a), 0);
            } else {
                assert_eq!(woken(&a) + usize::from(withdrawn), 1);
            }
            assert!(f.lock().waiting.is_empty());
        });
    }

    /// Detached and never read: the result is dropped with the last
    /// reference, whichever thread lets go last.
    #[test]
    fn a_detached_result_is_dropped_with_the_last_reference() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let f: Arc<Finish<Counted>> = Arc::new(Finish::new());
            let run = Arc::clone(&f);
            let d = Arc::clone(&drops);
            let finisher = loom::thread::spawn(move || {
                run.finish(Ended::Result(Ok(Counted(d))));
            });
            drop(f);
            finisher.join().unwrap();
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        });
    }

    /// The run's last item against its owner going `Pending`: the item
    /// closes the owner's slot (taking any waker), sets the latch, then
    /// wakes what it took (`Run::finish_items`); the owner keeps its waker
    /// and returns `Pending` only if the slot was not closed, else it waits
    /// for the latch (`drive.rs`). A pending owner is woken exactly once; one
    /// that found the slot closed sees the latch and is never woken. Fails
    /// if the item sets the latch without closing the slot: the owner that
    /// kept its waker after the item looked is never woken.
    #[test]
    fn the_end_wakes_a_pending_owner_once_or_is_seen() {
        use super::OwnerWaker;
        use loom::sync::atomic::AtomicBool;
        loom::model(|| {
            let owner = Arc::new(OwnerWaker::new());
            let latch = Arc::new(AtomicBool::new(false));
            let (o, l) = (Arc::clone(&owner), Arc::clone(&latch));
            let last_item = loom::thread::spawn(move || {
                let waker = o.close();
                l.store(true, Ordering::Release);
                if let Some(w) = waker {
                    w.wake();
                }
            });
            let (a, wa) = counting();
            let pending = owner.set(&wa);
            if !pending {
                while !latch.load(Ordering::Acquire) {
                    loom::thread::yield_now();
                }
            }
            last_item.join().unwrap();
            assert!(latch.load(Ordering::Acquire));
            assert_eq!(woken(&a), usize::from(pending));
        });
    }

    /// A stop (a cancel) against the owner going `Pending`: the stop sets
    /// the run's flag, then wakes the owner's waker if one is kept
    /// (`Run::stop_with`); the owner keeps its waker, then looks at the
    /// flag (`drive.rs`). Either the owner sees the stop (and ends the
    /// stopped run's items instead of waiting) or the stop wakes it: a
    /// pending owner of a stopped run is never left asleep.
    #[test]
    fn a_stop_wakes_a_pending_owner() {
        use super::OwnerWaker;
        use loom::sync::atomic::AtomicBool;
        loom::model(|| {
            let owner = Arc::new(OwnerWaker::new());
            let stop = Arc::new(AtomicBool::new(false));
            let (o, st) = (Arc::clone(&owner), Arc::clone(&stop));
            let stopper = loom::thread::spawn(move || {
                st.store(true, Ordering::SeqCst);
                o.wake();
            });
            let (a, wa) = counting();
            assert!(owner.set(&wa));
            let saw_stop = stop.load(Ordering::SeqCst);
            stopper.join().unwrap();
            assert!(saw_stop || woken(&a) == 1);
            // The run's end still takes the waker (a stop does not).
            assert!(owner.close().is_some());
        });
    }
}
