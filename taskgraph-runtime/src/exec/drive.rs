//! Taking part in a run until it is over: what the thread that owns a run
//! (a caller of `compute`, a task computing a nested graph) does until its
//! last item ends, or, for an owner that polls its run as a future (an
//! awaited or spawned graph's body, `../spawn/body.rs`), until it finds
//! nothing it may run.

use std::task::Waker;

use super::registry::WorkerCtx;
use super::Run;
use crate::sync::Ordering;

/// How an owner waits when it finds nothing it may run.
#[derive(Clone, Copy)]
pub(crate) enum Park<'a> {
    /// It sleeps with the pool (a caller of `compute`, a task computing a
    /// nested graph), and [`drive`] returns once the run ends.
    Block,
    /// It returns: the waker, kept in the run (`OwnerWaker`), is woken by
    /// the run's end (or a stop), and the owner calls [`drive`] again (a
    /// body polled as a future returns `Pending` meanwhile, and a work item
    /// of the pool polls it again: `../spawn/body.rs`).
    Yield(&'a Waker),
}

/// Takes part in `run` until it ends (`true`), or, with [`Park::Yield`],
/// until it finds nothing it may run (`false`: the waker is kept, and the
/// run's end or a stop wakes it). `first`: this call starts the run (seeds
/// it and releases the owner's hold); later calls go on with it.
///
/// A caller of `compute` runs work only while it holds a token: it keeps
/// the one it took, if one was free, while it finds work, then gives it
/// back and sleeps with the pool until a token is free for work, or the
/// run ends. A task computing a nested graph helps with any work with its
/// own token, lends it while there is none, and takes one again before its
/// task goes on. A pool thread polling a body (holding its token) runs
/// the items of its own deque, then returns (`Park::Yield`).
pub(crate) fn drive(run: &Run<'_, '_>, w: &WorkerCtx<'_>, first: bool, park: Park<'_>) -> bool {
    let inside_task = w.has_token();
    let prev = w.set_waiting(&run.state.latch);
    // An async poller outside the pool runs no task: a task may block (or
    // wait for the very executor thread that polls), and it would block
    // that thread with it. It builds and seeds the run, then leaves the
    // tasks to the pool.
    if matches!(park, Park::Block) {
        w.take_token();
    }
    if first {
        // With a token, the owner keeps one seed and runs it itself: the
        // pool's threads, woken by the other seeds, could otherwise take
        // every task before it looks (a caller of `compute` runs tasks of
        // its graph while a place is free: `tests/promises.rs`).
        let kept = run.seed(w, w.has_token());
        // SAFETY: releases the owner's hold, counted at creation; `run`
        // stays alive (it is ours) until the latch is set and we return
        // (the kept item, counted, keeps it going until it is executed).
        unsafe { Run::finish_item(run) };
        if let Some(item) = kept {
            w.execute(item);
        }
    }
    let done = || run.state.latch.load(Ordering::Acquire);
    if inside_task {
        let over = match park {
            Park::Block => {
                w.help_until(&done);
                true
            }
            Park::Yield(waker) => yield_inside_task(run, w, waker),
        };
        w.set_waiting(prev);
        return over;
    }
    let reg = w.reg;
    let may_run = || reg.has_work();
    while !done() {
        if w.has_token() {
            if let Some(item) = w.find() {
                w.execute(item);
                continue;
            }
            // Looks a little longer, then gives the token back (taking it
            // again for work that arrives meanwhile).
            w.work_while_possible(&done);
            continue;
        }
        // No token: never run a task without one (at most `threads` run at
        // once). Sleep until the run ends, or a token is free for work we
        // may run.
        let stopped = || run.state.flags.stop.load(Ordering::SeqCst);
        if let Park::Yield(waker) = park {
            // A stopped run's items in our deque are ended here (the deque
            // is given back when the poll returns).
            if stopped() && end_own_stopped_item(run, w) {
                continue;
            }
            if !run.state.owner.set(waker) {
                // The last item took the waker: the latch follows.
                wait_for_latch(&done);
                break;
            }
            // A stop before the waker was kept did not wake it: look again.
            if stopped() && w.has_local_work() {
                continue;
            }
            // Pending: the pool's threads run what is left (our deque's
            // items stay stealable once the slot is given back), and the
            // run's end wakes the waker.
            w.set_waiting(prev);
            w.release_token();
            reg.notify_left();
            return false;
        }
        reg.sleep_owner(|| {
            done() || (stopped() && w.has_local_work()) || (reg.token_free() && may_run())
        });
        if done() {
            break;
        }
        // A stopped run's items start no task (`Run::execute` returns at
        // once): end them without a token, or a cancelled run would wait
        // for tasks of other graphs that hold every token.
        if stopped() && end_own_stopped_item(run, w) {
            continue;
        }
        if may_run() && w.take_token() {
            continue;
        }
    }
    w.set_waiting(prev);
    w.release_token();
    // Work of other graphs left in our deque (handed back when our run
    // ended), or pushed while we held the token, must not wait for us; with
    // none, no sleeper is woken (`announce_left`).
    reg.notify_left();
    true
}

/// Ends one item of our deque without a token if `run` is stopped (its
/// items start no task); hands another run's item to the pool. False if
/// the deque is empty.
fn end_own_stopped_item(run: &Run<'_, '_>, w: &WorkerCtx<'_>) -> bool {
    let Some(item) = w.pop_local() else {
        return false;
    };
    if std::ptr::eq(item.run, (run as *const Run<'_, '_>).cast()) {
        w.execute(item);
    } else {
        WorkerCtx::push_from_outside(w.reg, item);
    }
    true
}

/// A pool thread polling a body as a future (holding its token: a body's
/// work item, or a task polling a nested graph's): runs the items of its
/// own deque, then keeps the waker and returns false rather than wait;
/// true once the run is over.
fn yield_inside_task(run: &Run<'_, '_>, w: &WorkerCtx<'_>, waker: &Waker) -> bool {
    let done = || run.state.latch.load(Ordering::Acquire);
    loop {
        if done() {
            return true;
        }
        if let Some(item) = w.pop_local() {
            w.execute(item);
            continue;
        }
        if !run.state.owner.set(waker) {
            wait_for_latch(&done);
            return true;
        }
        if run.state.flags.stop.load(Ordering::SeqCst) && w.has_local_work() {
            continue;
        }
        return false;
    }
}

/// The run's last item has taken the owner's waker and sets the latch
/// next: wait for it (a few instructions, unless that thread is
/// descheduled meanwhile).
fn wait_for_latch(done: &dyn Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}
