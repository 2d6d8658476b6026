//! Parking idle workers without losing a wake-up.

use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Idle workers park here. A worker that pushes work or finishes the graph
/// wakes them.
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

    /// Called after publishing one new unit of work.
    #[inline]
    pub(crate) fn wake_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.notify(false);
        }
    }

    /// Called when the graph finished or stopped: everyone must leave.
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
