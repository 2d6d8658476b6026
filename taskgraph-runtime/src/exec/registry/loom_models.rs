//! Loom models of the pool's handshakes: tokens, work and sleepers (the
//! protocol of `give_back`, `announce` and a pool thread's sleep), tokens
//! lent by a waiting task and taken again (`give`, `acquire`), and the end
//! of a run (the last item sets the latch and wakes the owner asleep with
//! the pool).
//!
//! The deques are not loom-aware, so work is modelled by a counter; the
//! functions under test are the runtime's own.

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;

use super::{announce, announce_left, give_back, Tokens};
use crate::exec::sleep::Sleep;

struct Pool {
    tokens: Tokens,
    sleep: Sleep,
    work: AtomicUsize,
    done: AtomicUsize,
}

impl Pool {
    fn new(tokens: usize) -> Arc<Self> {
        Arc::new(Pool {
            tokens: Tokens::new(tokens),
            sleep: Sleep::new(),
            work: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        })
    }
    fn has_work(&self) -> bool {
        self.work.load(Ordering::SeqCst) > 0
    }
    /// Runs one unit of work if there is one.
    fn run_one(&self) -> bool {
        let mut n = self.work.load(Ordering::SeqCst);
        while n > 0 {
            match self
                .work
                .compare_exchange(n, n - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    self.done.fetch_add(1, Ordering::SeqCst);
                    return true;
                }
                Err(now) => n = now,
            }
        }
        false
    }
    /// A pool thread: with a token it runs work until none is left, gives
    /// the token back (taking it again if work arrived), and sleeps until a
    /// token and work are there; it stops after `units` units in all.
    fn pool_thread(&self, units: usize, mut token: bool) {
        while self.done.load(Ordering::SeqCst) < units {
            if token || self.tokens.take() {
                while self.run_one() {}
                token = give_back(&self.tokens, || self.has_work());
                if token {
                    continue;
                }
            }
            if self.done.load(Ordering::SeqCst) >= units {
                break;
            }
            self.sleep.sleep(|| {
                self.done.load(Ordering::SeqCst) >= units
                    || (self.tokens.available() && self.has_work())
            });
        }
    }
    /// Publishes one unit of work (pushes it and announces it).
    fn push(&self) {
        self.work.fetch_add(1, Ordering::SeqCst);
        announce(&self.tokens, &self.sleep);
    }
}

/// A pool thread gives its token back just as another thread pushes work:
/// the work is never stranded (loom reports a deadlock if the pool thread
/// sleeps with work and a free token nobody looks at).
#[test]
fn work_pushed_while_the_token_is_given_back_runs() {
    loom::model(|| {
        let pool = Pool::new(1);
        assert!(pool.tokens.take());
        let p2 = Arc::clone(&pool);
        let worker = loom::thread::spawn(move || p2.pool_thread(1, true));
        pool.push();
        worker.join().unwrap();
        assert_eq!(pool.done.load(Ordering::SeqCst), 1);
        assert!(pool.tokens.available());
    });
}

/// A caller holds the only token while it pushes (so nobody is woken), then
/// gives the token back and announces again as it leaves: the sleeping pool
/// thread wakes and runs the work.
#[test]
fn a_caller_leaving_work_behind_wakes_the_pool() {
    loom::model(|| {
        let pool = Pool::new(1);
        let p2 = Arc::clone(&pool);
        let worker = loom::thread::spawn(move || p2.pool_thread(1, false));
        let took = pool.tokens.take();
        pool.push();
        if took {
            pool.tokens.give();
        }
        announce(&pool.tokens, &pool.sleep);
        worker.join().unwrap();
        assert_eq!(pool.done.load(Ordering::SeqCst), 1);
    });
}

/// A caller holds the only token while another thread pushes work (whose
/// announcement finds no free token, so wakes nobody); the caller gives the
/// token back and leaves with `announce_left`, which wakes a sleeper only
/// if it sees work: the pushed unit is never stranded (loom reports a
/// deadlock), whichever order the push and the leaving take.
#[test]
fn a_caller_leaving_wakes_the_pool_only_for_work_and_never_strands_it() {
    loom::model(|| {
        let pool = Pool::new(1);
        assert!(pool.tokens.take());
        let p2 = Arc::clone(&pool);
        // A sleeping pool thread: it runs the unit once it takes a token.
        // (Its check reads the token and the work one after the other, so
        // it may see both and still find the token taken: it sleeps again.)
        let worker = loom::thread::spawn(move || loop {
            p2.sleep.sleep(|| p2.tokens.available() && p2.has_work());
            if p2.tokens.take() {
                assert!(p2.run_one(), "woken with no work");
                break;
            }
        });
        let p3 = Arc::clone(&pool);
        let pusher = loom::thread::spawn(move || p3.push());
        pool.tokens.give();
        announce_left(&pool.tokens, &pool.sleep, || pool.has_work());
        pusher.join().unwrap();
        worker.join().unwrap();
        assert_eq!(pool.done.load(Ordering::SeqCst), 1);
    });
}

/// A caller that leaves no work behind wakes no sleeper: the pool thread
/// stays asleep until `wake_all` (the model's shutdown) releases it.
#[test]
fn a_caller_leaving_no_work_wakes_nobody() {
    loom::model(|| {
        let pool = Pool::new(1);
        let woken = Arc::new(AtomicBool::new(false));
        let (p2, w2) = (Arc::clone(&pool), Arc::clone(&woken));
        let worker = loom::thread::spawn(move || {
            p2.sleep
                .sleep(|| w2.load(Ordering::SeqCst) || p2.has_work());
            w2.load(Ordering::SeqCst)
        });
        assert!(pool.tokens.take());
        pool.tokens.give();
        announce_left(&pool.tokens, &pool.sleep, || pool.has_work());
        woken.store(true, Ordering::SeqCst);
        pool.sleep.wake_all();
        assert!(worker.join().unwrap(), "a sleeper woke with nothing to do");
    });
}

/// The end of a run: the owner's hold and a worker's item both end; the one
/// that ends last sets the latch and wakes the owner, which sleeps with the
/// pool (`sleep_owner`, `wake_owners`). Everything the worker did to the run
/// before it ended its item happens before the owner frees the run (loom
/// checks the accesses to the cell standing for the run), and the owner is
/// never left asleep (loom reports a deadlock).
#[test]
fn the_last_item_wakes_the_owner() {
    loom::model(|| {
        let pool = Pool::new(1);
        let active = Arc::new(AtomicUsize::new(2));
        let latch = Arc::new(AtomicBool::new(false));
        let run = Arc::new(loom::cell::UnsafeCell::new(0u32));
        let finish = {
            let (active, latch, pool) =
                (Arc::clone(&active), Arc::clone(&latch), Arc::clone(&pool));
            move || {
                if active.fetch_sub(1, Ordering::AcqRel) == 1 {
                    latch.store(true, Ordering::Release);
                    pool.sleep.wake_owners();
                }
            }
        };
        let (f2, r2) = (finish.clone(), Arc::clone(&run));
        let worker = loom::thread::spawn(move || {
            // SAFETY (model): the worker's item touches the run before ending.
            r2.with_mut(|r| unsafe { *r += 1 });
            f2();
        });
        finish();
        while !latch.load(Ordering::Acquire) {
            pool.sleep.sleep_owner(|| latch.load(Ordering::Acquire));
        }
        // The owner now frees the run: no access may race with this.
        // SAFETY (model): see above.
        let seen = run.with_mut(|r| unsafe { *r });
        assert_eq!(seen, 1);
        worker.join().unwrap();
    });
}

/// A task lends the only token while it waits, and takes one again before
/// it goes on; meanwhile another participant takes the token for a while.
/// Never do both hold it, and neither is left waiting (`give` wakes the
/// one in `acquire`).
#[test]
fn a_lent_token_is_taken_again() {
    loom::model(|| {
        let pool = Pool::new(1);
        let holding = Arc::new(AtomicUsize::new(0));
        assert!(pool.tokens.take());
        let (p2, h2) = (Arc::clone(&pool), Arc::clone(&holding));
        let other = loom::thread::spawn(move || {
            p2.tokens.acquire();
            assert_eq!(h2.fetch_add(1, Ordering::SeqCst), 0);
            h2.fetch_sub(1, Ordering::SeqCst);
            p2.tokens.give();
        });
        // The task lends its token ...
        assert_eq!(holding.fetch_add(1, Ordering::SeqCst), 0);
        holding.fetch_sub(1, Ordering::SeqCst);
        pool.tokens.give();
        // ... and resumes with one.
        pool.tokens.acquire();
        assert_eq!(holding.fetch_add(1, Ordering::SeqCst), 0);
        holding.fetch_sub(1, Ordering::SeqCst);
        pool.tokens.give();
        other.join().unwrap();
        assert!(pool.tokens.available());
    });
}

/// A caller's work waits in its deque while the only token is held by a
/// task that then lends it (give it back and announce): the caller, asleep
/// with the pool for a free token and work it may run, wakes, takes the
/// token and runs the work (loom reports a deadlock if it is left asleep).
#[test]
fn a_lent_token_wakes_a_caller_with_work() {
    loom::model(|| {
        let pool = Pool::new(1);
        assert!(pool.tokens.take());
        // Pushed while no token was free: nobody was woken.
        pool.push();
        let p2 = Arc::clone(&pool);
        let caller = loom::thread::spawn(move || loop {
            if p2.tokens.take() {
                let ran = p2.run_one();
                p2.tokens.give();
                if ran {
                    return;
                }
            }
            p2.sleep
                .sleep_owner(|| p2.tokens.available() && p2.has_work());
        });
        // The task lends its token (`WorkerCtx::lend_token`).
        pool.tokens.give();
        announce(&pool.tokens, &pool.sleep);
        caller.join().unwrap();
        assert_eq!(pool.done.load(Ordering::SeqCst), 1);
    });
}
