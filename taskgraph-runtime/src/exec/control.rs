//! How the world outside a run reaches it: cancellation (a [`Handle`]'s
//! `cancel`, a deadline) and progress.
//!
//! A run lives on the stack of the thread that drives it, so nothing
//! outside may hold a pointer to it. A [`Control`] is what outsiders hold
//! instead: the run registers itself there when it starts (`begin`) and
//! withdraws when it is over, before it is torn down (`end`), both under
//! the control's lock. Whoever wants to stop it or read its progress takes
//! the same lock and reaches the run only if it is registered, so the run
//! is alive for as long as it is used. A stop asked for before the run
//! started is kept and applied when it registers; one asked for after it
//! withdrew does nothing (the run has finished).
//!
//! [`Handle`]: crate::Handle

use std::time::Duration;

use super::progress::Snapshot;
use crate::sync::{Condvar, Mutex};

/// Why a run stopped (`RunState::why`): set once, by the first stop.
pub(crate) const GOING: u8 = 0;
/// A task failed.
pub(crate) const FAILED: u8 = 1;
/// [`Control::request_stop`] from a handle.
pub(crate) const CANCELLED: u8 = 2;
/// [`Control::request_stop`] from a deadline.
pub(crate) const TIMED_OUT: u8 = 3;

/// What an outsider may ask of a registered run.
pub(crate) enum Op<'a> {
    /// Stop for this reason (`CANCELLED` or `TIMED_OUT`).
    Stop(u8),
    /// Count what has run so far.
    Snapshot(&'a mut Snapshot),
}

/// A registered run: its address, and the function that applies an [`Op`]
/// to a run of its type (a type parameter, so the pointer names no
/// lifetime; see `exec_item` in `mod.rs`).
#[derive(Clone, Copy)]
pub(crate) struct LiveRun {
    pub(crate) ptr: *const (),
    pub(crate) apply: unsafe fn(*const (), Op<'_>),
}

/// Where a run stands, as outsiders see it.
struct State {
    live: Option<LiveRun>,
    /// A stop asked for (`CANCELLED`, `TIMED_OUT`), or `GOING`.
    stop: u8,
    /// The deadline's duration, for the error.
    limit: Option<Duration>,
    /// The progress of the run when it ended (before it started: none).
    last: Snapshot,
    /// The progress of the graph once built, before its run starts: all
    /// its tasks, none done.
    planned: Snapshot,
    /// Set once the graph is built: the length of its output if that is a
    /// vector of lazy values.
    shape: Option<Option<usize>>,
    /// The run is over (or never started).
    ended: bool,
}

/// The outside's handle on one run (see the module docs).
pub(crate) struct Control {
    state: Mutex<State>,
    /// Signalled when the graph is built and when its run ends.
    changed: Condvar,
}

// SAFETY: the registered pointer is only dereferenced under the lock while
// the run is registered, that is alive (module docs); the run is `Sync`.
unsafe impl Send for Control {}
// SAFETY: as above.
unsafe impl Sync for Control {}

impl Control {
    pub(crate) fn new() -> Self {
        Control {
            state: Mutex::new(State {
                live: None,
                stop: GOING,
                limit: None,
                last: Snapshot::default(),
                planned: Snapshot::default(),
                shape: None,
                ended: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the run to stop: now if it runs, when it starts if it has not.
    /// The first request wins; after the run ended this does nothing.
    /// Returns whether this request stops the run (now, or when it starts).
    pub(crate) fn request_stop(&self, reason: u8, limit: Option<Duration>) -> bool {
        let mut s = self.lock();
        if s.stop != GOING || s.ended {
            return false;
        }
        s.stop = reason;
        s.limit = limit;
        if let Some(live) = s.live {
            // SAFETY: registered, so alive until it withdraws under this lock.
            unsafe { (live.apply)(live.ptr, Op::Stop(reason)) };
        }
        true
    }

    /// The stop asked for so far (`GOING` if none).
    pub(crate) fn stop_requested(&self) -> u8 {
        self.lock().stop
    }

    /// The duration of the deadline that stopped the run.
    pub(crate) fn limit(&self) -> Duration {
        self.lock().limit.unwrap_or_default()
    }

    /// Registers a run that is about to start; returns the stop asked for
    /// already (`GOING` if none), which the run applies before it seeds.
    ///
    /// # Safety
    /// `live` stays valid until [`Control::end`].
    pub(crate) unsafe fn begin(&self, live: LiveRun) -> u8 {
        let mut s = self.lock();
        s.live = Some(live);
        s.stop
    }

    /// The run is over: takes its last snapshot and withdraws it. Called by
    /// its owner before the run is torn down.
    pub(crate) fn end(&self) {
        let mut s = self.lock();
        if let Some(live) = s.live.take() {
            let mut snap = Snapshot::default();
            // SAFETY: still registered.
            unsafe { (live.apply)(live.ptr, Op::Snapshot(&mut snap)) };
            s.last = snap;
        }
        s.ended = true;
        drop(s);
        self.changed.notify_all();
    }

    /// The graph was built; its output is a vector of `len` lazy values, or
    /// (`None`) something else; `planned` is its progress before any task
    /// ran, what [`snapshot`](Self::snapshot) answers until the run starts.
    pub(crate) fn built(&self, len: Option<usize>, planned: Snapshot) {
        let mut s = self.lock();
        s.shape = Some(len);
        s.planned = planned;
        drop(s);
        self.changed.notify_all();
    }

    /// Whether the graph is built or its run is over.
    pub(crate) fn is_built(&self) -> bool {
        let s = self.lock();
        s.shape.is_some() || s.ended
    }

    /// Waits until the graph is built (or its run is over without having
    /// been built) and returns its output's length if it is a vector of
    /// lazy values.
    pub(crate) fn wait_built(&self) -> Option<usize> {
        let mut s = self.lock();
        while s.shape.is_none() && !s.ended {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.shape.flatten()
    }

    /// What has run so far, per family (the last count once it ended; all
    /// tasks, none done, between the graph's build and its run's start;
    /// nothing before the build).
    pub(crate) fn snapshot(&self) -> Snapshot {
        let s = self.lock();
        match s.live {
            Some(live) => {
                let mut snap = Snapshot::default();
                // SAFETY: registered, so alive while we hold the lock.
                unsafe { (live.apply)(live.ptr, Op::Snapshot(&mut snap)) };
                snap
            }
            None if !s.ended => s.planned.clone(),
            None => s.last.clone(),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! A cancellation and a progress read meeting a run's start and end.
    use super::{Control, LiveRun, Op, CANCELLED, GOING};
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::Arc;

    /// Stands for a run: alive between `begin` and `end`.
    struct Fake {
        alive: AtomicBool,
        saw_stop: AtomicBool,
    }

    unsafe fn apply(p: *const (), op: Op<'_>) {
        // SAFETY: `p` is the model's `Fake`, which outlives the model.
        let f = unsafe { &*(p as *const Fake) };
        assert!(
            f.alive.load(Ordering::SeqCst),
            "a run reached after it ended"
        );
        if let Op::Stop(_) = op {
            f.saw_stop.store(true, Ordering::SeqCst);
        }
    }

    /// A stop that reports it took effect reaches the run (while it runs,
    /// or when it starts); one that does not never reaches it; no request
    /// reaches the run outside its life.
    #[test]
    fn a_stop_reaches_the_run_or_comes_too_late() {
        loom::model(|| {
            let ctl = Arc::new(Control::new());
            let fake = Arc::new(Fake {
                alive: AtomicBool::new(false),
                saw_stop: AtomicBool::new(false),
            });
            let (c, f) = (Arc::clone(&ctl), Arc::clone(&fake));
            let run = loom::thread::spawn(move || {
                f.alive.store(true, Ordering::SeqCst);
                let live = LiveRun {
                    ptr: Arc::as_ptr(&f) as *const (),
                    apply,
                };
                // SAFETY: `end` is called while `f` is alive.
                if unsafe { c.begin(live) } != GOING {
                    f.saw_stop.store(true, Ordering::SeqCst);
                }
                c.end();
                f.alive.store(false, Ordering::SeqCst);
            });
            let stopped = ctl.request_stop(CANCELLED, None);
            let _ = ctl.snapshot();
            run.join().unwrap();
            assert_eq!(stopped, fake.saw_stop.load(Ordering::SeqCst));
        });
    }
}
