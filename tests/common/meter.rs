//! Counting how many tasks run at once, and the most that ever did (the
//! thread limit's tests: `limit.rs`, `promises.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskdag::delayed;

/// How many tasks run now, and the most that ever did.
#[derive(Default)]
pub struct Meter {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Meter {
    /// A task starts.
    pub fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }
    /// A task ends.
    pub fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    /// The most that ever ran at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// Counts itself in `m` while it sleeps 2 ms; returns `2 i`.
#[delayed]
pub fn nap(m: &Arc<Meter>, i: u64) -> u64 {
    m.enter();
    std::thread::sleep(Duration::from_millis(2));
    m.leave();
    i * 2
}

/// The sum of `v`.
#[delayed]
pub fn sum(v: Vec<u64>) -> u64 {
    v.iter().sum()
}
