//! A door for helpers that join a run living on the caller's stack.
//!
//! The caller runs a graph itself and asks pool threads to help (with
//! `'static` jobs, so it need not wait for them to start). A helper may only
//! touch the run between a successful `enter` and its `leave`; the caller
//! closes the door when the run is over and waits until everyone inside has
//! left. A helper that arrives late finds the door closed and touches
//! nothing but the door itself, which is reference-counted.

use crate::sync::{AtomicUsize, Ordering};

/// Low bit: closed. The rest: helpers inside, in units of [`ONE`].
const CLOSED: usize = 1;
const ONE: usize = 2;

pub(crate) struct Door {
    state: AtomicUsize,
}

impl Door {
    pub(crate) fn new() -> Self {
        Door {
            state: AtomicUsize::new(0),
        }
    }

    /// Enters if the door is still open. `Acquire` on success: the helper
    /// sees everything the caller did before publishing the run.
    pub(crate) fn enter(&self) -> bool {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & CLOSED != 0 {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(s, s + ONE, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Leaves; `Release` publishes everything the helper did inside.
    pub(crate) fn leave(&self) {
        self.state.fetch_sub(ONE, Ordering::Release);
    }

    /// Closes the door and waits until every helper inside has left.
    /// Afterwards nobody can be inside, and everything helpers did inside
    /// happened before this returns (`Acquire` on the final read).
    pub(crate) fn close_and_wait(&self) {
        let mut s = self.state.fetch_or(CLOSED, Ordering::AcqRel) | CLOSED;
        let mut spins = 0u32;
        while s != CLOSED {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                crate::sync::yield_now();
            }
            s = self.state.load(Ordering::Acquire);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::Door;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    /// A helper either works on the run entirely before the caller frees it,
    /// or never touches it (loom checks the data accesses).
    #[test]
    fn helpers_never_outlive_the_run() {
        loom::model(|| {
            let door = Arc::new(Door::new());
            let run = Arc::new(UnsafeCell::new(0u32));
            let helper = {
                let (door, run) = (Arc::clone(&door), Arc::clone(&run));
                loom::thread::spawn(move || {
                    if door.enter() {
                        // SAFETY (model): only while inside.
                        run.with_mut(|r| unsafe { *r += 1 });
                        door.leave();
                    }
                })
            };
            door.close_and_wait();
            // The caller now owns the run again: no helper can race this.
            let seen = run.with_mut(|r| unsafe { *r });
            assert!(seen <= 1);
            helper.join().unwrap();
        });
    }
}
