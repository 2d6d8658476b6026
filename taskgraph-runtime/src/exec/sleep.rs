//! Parking idle workers without losing a wake-up.

use crate::sync::{fence, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

/// Idle pool threads, and owners of runs waiting for them to end, park
/// here. A participant that pushes work, frees a token for waiting work,
/// or finishes a run an owner waits for, wakes them.
///
/// The protocol is Dekker-style: a sleeper increments `sleepers` and then
/// re-checks for work while holding `state`'s lock; a waker publishes work,
/// then (after a `SeqCst` fence) reads `sleepers`, and if anyone may be asleep
/// bumps an epoch under the lock and notifies. Either the sleeper's re-check
/// sees the work, or the waker sees the sleeper and its notification cannot
/// fall between the re-check and the wait (both hold the lock).
///
/// Pool threads and owners wait on two condition variables with an epoch
/// each, so a wake-up reaches only those it is meant for: work wakes one
/// pool thread (an owner only when no pool thread sleeps), the end of a run
/// wakes the owners and no pool thread. On a runtime of thousands of
/// threads, waking them all at the end of every run (each then looking
/// through every deque for work) took seconds of CPU a run.
///
/// A pool thread starts asleep: it is counted from the start
/// ([`Sleep::with_pool`]) and its first wait ([`Sleep::sleep_from_start`])
/// ends only at a wake-up, so thousands of threads starting at once look
/// at nothing (a new pool has no work: nobody could push any before the
/// runtime was returned).
pub(crate) struct Sleep {
    /// Threads asleep or about to be (pool threads and owners).
    sleepers: AtomicUsize,
    /// Of those, owners ([`Sleep::sleep_owner`]).
    owners: AtomicUsize,
    state: Mutex<State>,
    /// Pool threads wait here, until `State::pool_epoch` changes.
    pool_cv: Condvar,
    /// Owners wait here, until `State::owner_epoch` changes.
    owner_cv: Condvar,
    /// How many waits ended, pool threads' and owners' (tests count them
    /// exactly: an idle pool wakes nobody, the end of a run no pool thread).
    #[cfg(test)]
    pub(crate) woken: [std::sync::atomic::AtomicUsize; 2],
    /// How many waits began.
    #[cfg(test)]
    waits: std::sync::atomic::AtomicUsize,
}

/// What the lock guards.
struct State {
    /// Bumped by every wake-up meant for pool threads.
    pool_epoch: u64,
    /// Bumped by every wake-up meant for owners.
    owner_epoch: u64,
}

impl State {
    /// The epoch of wake-ups meant for `kind`.
    fn epoch(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Pool => self.pool_epoch,
            Kind::Owner => self.owner_epoch,
        }
    }
}

/// Who sleeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pool,
    Owner,
}

impl Sleep {
    /// A sleep with no sleeper.
    pub(crate) fn new() -> Self {
        Sleep::with_pool(0)
    }

    /// A sleep whose `threads` pool threads are asleep from the start: each
    /// begins with [`Sleep::sleep_from_start`].
    pub(crate) fn with_pool(threads: usize) -> Self {
        Sleep {
            sleepers: AtomicUsize::new(threads),
            owners: AtomicUsize::new(0),
            state: Mutex::new(State {
                pool_epoch: 0,
                owner_epoch: 0,
            }),
            pool_cv: Condvar::new(),
            owner_cv: Condvar::new(),
            #[cfg(test)]
            woken: Default::default(),
            #[cfg(test)]
            waits: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many threads wait now (or were woken and have not yet taken
    /// the lock back): read under the lock, which a sleeper holds from its
    /// count until it waits.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn waiting(&self) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let _s = self.lock();
        self.waits.load(Relaxed) - self.woken[0].load(Relaxed) - self.woken[1].load(Relaxed)
    }

    /// How many threads are asleep or about to be.
    #[inline(always)]
    pub(crate) fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::Relaxed)
    }

    /// Called after publishing one new unit of work: wakes a pool thread,
    /// or an owner if no pool thread sleeps.
    #[inline]
    pub(crate) fn wake_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.notify_one();
        }
    }

    #[cold]
    fn notify_one(&self) {
        let mut s = self.lock();
        // The pool threads asleep: the sleepers that are not owners (both
        // counts change only under the lock). A pool thread counted but
        // not yet waiting (starting, or woken and not gone) sees the new
        // epoch when it looks: it takes the work, as a waiting one would.
        if self.sleepers.load(Ordering::Relaxed) > self.owners.load(Ordering::Relaxed) {
            s.pool_epoch = s.pool_epoch.wrapping_add(1);
            self.pool_cv.notify_one();
        } else {
            s.owner_epoch = s.owner_epoch.wrapping_add(1);
            self.owner_cv.notify_one();
        }
    }

    /// After setting something owners wait for (a run's latch, a spawned
    /// graph's end): wakes every owner asleep here, and no pool thread.
    #[inline]
    pub(crate) fn wake_owners(&self) {
        fence(Ordering::SeqCst);
        if self.owners.load(Ordering::SeqCst) > 0 {
            let mut s = self.lock();
            s.owner_epoch = s.owner_epoch.wrapping_add(1);
            self.owner_cv.notify_all();
        }
    }

    /// Wakes every sleeper: on shutdown.
    pub(crate) fn wake_all(&self) {
        fence(Ordering::SeqCst);
        let mut s = self.lock();
        s.pool_epoch = s.pool_epoch.wrapping_add(1);
        s.owner_epoch = s.owner_epoch.wrapping_add(1);
        self.pool_cv.notify_all();
        self.owner_cv.notify_all();
    }

    /// A pool thread parks until woken, unless `ready()` (work or exit)
    /// already holds.
    #[cold]
    pub(crate) fn sleep(&self, ready: impl Fn() -> bool) {
        let s = self.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let s = self.wait_unless(s, Kind::Pool, ready);
        self.leave(s, Kind::Pool);
    }

    /// A new pool thread's first sleep (it was counted asleep by
    /// [`Sleep::with_pool`]): it waits for the first wake-up meant for pool
    /// threads, or, if one came before it got here, looks (`ready()`) and
    /// sleeps as [`Sleep::sleep`] does.
    #[cold]
    pub(crate) fn sleep_from_start(&self, ready: impl Fn() -> bool) {
        let s = self.lock();
        let s = match s.pool_epoch {
            0 => self.wait(s, Kind::Pool, 0),
            _ => self.wait_unless(s, Kind::Pool, ready),
        };
        self.leave(s, Kind::Pool);
    }

    /// An owner of a run (or a thread waiting for another graph) parks
    /// until woken, unless `ready()` already holds: by
    /// [`Sleep::wake_owners`], or by work when no pool thread sleeps.
    #[cold]
    pub(crate) fn sleep_owner(&self, ready: impl Fn() -> bool) {
        let s = self.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        self.owners.fetch_add(1, Ordering::SeqCst);
        let s = self.wait_unless(s, Kind::Owner, ready);
        self.leave(s, Kind::Owner);
    }

    /// A sleeper counted under the lock `s` waits for a wake-up meant for
    /// `kind`, unless `ready()` already holds. Either `ready` (after the
    /// fence) sees what a waker set, or the waker (after its fence) sees
    /// the sleeper counted and takes the lock after it waits.
    fn wait_unless<'s>(
        &'s self,
        s: MutexGuard<'s, State>,
        kind: Kind,
        ready: impl Fn() -> bool,
    ) -> MutexGuard<'s, State> {
        fence(Ordering::SeqCst);
        if ready() {
            return s;
        }
        let start = s.epoch(kind);
        self.wait(s, kind, start)
    }

    /// Waits until the epoch of `kind` is no longer `start`.
    fn wait<'s>(
        &'s self,
        mut s: MutexGuard<'s, State>,
        kind: Kind,
        start: u64,
    ) -> MutexGuard<'s, State> {
        let cv = match kind {
            Kind::Pool => &self.pool_cv,
            Kind::Owner => &self.owner_cv,
        };
        #[cfg(test)]
        self.waits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        while s.epoch(kind) == start {
            s = cv.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        #[cfg(test)]
        self.woken[kind as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        s
    }

    /// A sleeper of `kind` goes, its counts lowered under the lock `_s`
    /// (held until this returns).
    fn leave(&self, _s: MutexGuard<'_, State>, kind: Kind) {
        if kind == Kind::Owner {
            self.owners.fetch_sub(1, Ordering::SeqCst);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::Sleep;
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::Arc;

    /// Work published just as a worker goes to sleep is never missed: the
    /// sleeper either sees the work or is woken (loom reports a deadlock
    /// otherwise).
    #[test]
    fn no_lost_wake_up() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new());
            let work = Arc::new(AtomicBool::new(false));
            let (s2, w2) = (Arc::clone(&sleep), Arc::clone(&work));
            let pusher = loom::thread::spawn(move || {
                w2.store(true, Ordering::Relaxed);
                s2.wake_one();
            });
            sleep.sleep(|| work.load(Ordering::Relaxed));
            pusher.join().unwrap();
        });
    }

    /// A pool thread counted asleep from its start misses no work
    /// published before or while it first parks (it fails with a first
    /// wait that ignores a wake-up made before it arrived).
    #[test]
    fn a_new_pool_thread_misses_no_wake_up() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::with_pool(1));
            let work = Arc::new(AtomicBool::new(false));
            let (s2, w2) = (Arc::clone(&sleep), Arc::clone(&work));
            let thread = loom::thread::spawn(move || {
                s2.sleep_from_start(|| w2.load(Ordering::Relaxed));
                assert!(w2.load(Ordering::Relaxed), "woken for nothing");
            });
            work.store(true, Ordering::Relaxed);
            sleep.wake_one();
            thread.join().unwrap();
        });
    }

    /// Work wakes an owner when no pool thread sleeps (an owner may be the
    /// only one left to run it).
    #[test]
    fn work_wakes_an_owner_when_no_pool_thread_sleeps() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new());
            let work = Arc::new(AtomicBool::new(false));
            let (s2, w2) = (Arc::clone(&sleep), Arc::clone(&work));
            let pusher = loom::thread::spawn(move || {
                w2.store(true, Ordering::Relaxed);
                s2.wake_one();
            });
            sleep.sleep_owner(|| work.load(Ordering::Relaxed));
            pusher.join().unwrap();
        });
    }

    /// The end of a run wakes its owner and no pool thread: the pool
    /// thread sleeps on until `wake_all` (the model's shutdown).
    #[test]
    fn the_end_of_a_run_wakes_owners_only() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new());
            let latch = Arc::new(AtomicBool::new(false));
            let exit = Arc::new(AtomicBool::new(false));
            let (s2, e2) = (Arc::clone(&sleep), Arc::clone(&exit));
            let pool = loom::thread::spawn(move || {
                s2.sleep(|| e2.load(Ordering::SeqCst));
                assert!(e2.load(Ordering::SeqCst), "woken by the end of a run");
            });
            let (s3, l3) = (Arc::clone(&sleep), Arc::clone(&latch));
            let owner = loom::thread::spawn(move || {
                s3.sleep_owner(|| l3.load(Ordering::Acquire));
                assert!(l3.load(Ordering::Acquire));
            });
            latch.store(true, Ordering::Release);
            sleep.wake_owners();
            owner.join().unwrap();
            exit.store(true, Ordering::SeqCst);
            sleep.wake_all();
            pool.join().unwrap();
        });
    }

    /// `wake_all` releases every sleeper.
    #[test]
    fn wake_all_releases_everyone() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new());
            let done = Arc::new(AtomicBool::new(false));
            let sleepers: Vec<_> = (0..2)
                .map(|_| {
                    let (s, d) = (Arc::clone(&sleep), Arc::clone(&done));
                    loom::thread::spawn(move || s.sleep(|| d.load(Ordering::Relaxed)))
                })
                .collect();
            done.store(true, Ordering::Relaxed);
            sleep.wake_all();
            for t in sleepers {
                t.join().unwrap();
            }
        });
    }
}
