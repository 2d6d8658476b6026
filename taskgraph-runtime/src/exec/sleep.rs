//! Parking idle workers without losing a wake-up.

use crate::sync::{fence, AtomicUsize, Condvar, Mutex, Ordering};

/// Idle pool threads park here. A participant that pushes work, frees a
/// token for waiting work, or finishes a run a pool thread waits for, wakes
/// them.
///
/// The protocol is Dekker-style: a sleeper increments `sleepers` and then
/// re-checks for work while holding `epoch`'s lock; a waker publishes work,
/// then (after a `SeqCst` fence) reads `sleepers`, and if anyone may be asleep
/// bumps `epoch` under the lock and notifies. Either the sleeper's re-check
/// sees the work, or the waker sees the sleeper and its notification cannot
/// fall between the re-check and the wait (both hold the lock).
pub(crate) struct Sleep {
    sleepers: AtomicUsize,
    epoch: Mutex<u64>,
    cv: Condvar,
}

impl Sleep {
    pub(crate) fn new() -> Self {
        Sleep {
            sleepers: AtomicUsize::new(0),
            epoch: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    /// How many threads are asleep or about to be.
    #[inline(always)]
    pub(crate) fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::Relaxed)
    }

    /// Called after publishing one new unit of work.
    #[inline]
    pub(crate) fn wake_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.notify(false);
        }
    }

    /// Wakes every sleeper: on shutdown, or when a run that a pool thread
    /// waits in has finished.
    pub(crate) fn wake_all(&self) {
        fence(Ordering::SeqCst);
        self.notify(true);
    }

    #[cold]
    fn notify(&self, all: bool) {
        let mut e = self.epoch.lock().unwrap_or_else(|p| p.into_inner());
        *e = e.wrapping_add(1);
        if all {
            self.cv.notify_all();
        } else {
            self.cv.notify_one();
        }
    }

    /// Parks until woken, unless `ready()` (work or exit) already holds.
    #[cold]
    pub(crate) fn sleep(&self, ready: impl Fn() -> bool) {
        let mut e = self.epoch.lock().unwrap_or_else(|p| p.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !ready() {
            let start = *e;
            while *e == start {
                e = self.cv.wait(e).unwrap_or_else(|p| p.into_inner());
            }
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
