//! The shared pool: worker threads, their deques, the run tokens and the
//! worker loop every thread runs, whichever graph its work belongs to.
//!
//! Every participant owns a slot with a LIFO deque that the others steal
//! from: the pool's threads own slots `0..threads` for their whole life, and
//! a thread that calls `compute` from outside the pool claims one of the
//! external slots for the duration of the call. A work item names its run,
//! so an idle thread takes work from any graph that has some.
//!
//! At most `threads` participants run items at once: running needs one of
//! `threads` *tokens*. A pool thread takes a token when it finds work and
//! gives it back when it finds none; the caller of `compute` takes one to run
//! its own graph (its first task it runs itself), so a small graph runs on
//! the calling thread with no hand-off; a caller with no token sleeps until
//! one is free
//! for work it may run, or its run ends. A task that waits for another graph
//! lends its token meanwhile and takes one again before it goes on
//! ([`WorkerCtx::help_until`], [`WorkerCtx::lend`]), so at most `threads`
//! tasks run at once, whoever calls. Pool threads start asleep and are
//! woken by work only (`sleep.rs`). The protocol between tokens, work and
//! sleepers is in `README.md`.

use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use super::sleep::Sleep;
use super::Item;
use crate::sync::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[cfg(all(test, loom))]
mod loom_models;

/// How many external callers can own a deque at once; more callers push
/// their work to the shared injector instead.
const EXTERNAL_SLOTS: usize = 64;
/// How many rounds an idle participant looks for work before giving up
/// (and again after each such batch while the pool is hot: `HOT_SPIN_NS`),
/// at most: a round looks at every deque, so a large pool makes fewer
/// rounds (`SPIN_LOOKS` deques looked at in all, at least one round).
const SPIN_ROUNDS: usize = 64;
/// How many deques an idle participant looks at before giving up: 64
/// rounds over 64 deques. A pool of 4,096 threads making 64 rounds over
/// every deque each time one of them ran out of work spent over a second
/// of CPU on 1,000 tiny tasks.
const SPIN_LOOKS: usize = 64 * 64;
/// How long an idle participant keeps looking for work, instead of
/// parking, after a fused loop that hands pieces between threads said more
/// will come ([`Registry::keep_hot`]): longer than a light piece takes, so
/// the next one finds its thread awake rather than waiting for a wake-up,
/// and short enough that a long piece leaves its idle threads parked.
const HOT_SPIN_NS: u64 = 50_000;

/// The run tokens: at most this many participants run work at once.
pub(crate) struct Tokens {
    free: AtomicUsize,
    /// Threads that lent their token while their task waited, now waiting
    /// for one to resume it ([`Tokens::acquire`]); every `give` wakes one.
    resume: Sleep,
}

impl Tokens {
    pub(crate) fn new(n: usize) -> Self {
        Tokens {
            free: AtomicUsize::new(n),
            resume: Sleep::new(),
        }
    }

    /// Takes a token if one is free.
    pub(crate) fn take(&self) -> bool {
        let mut n = self.free.load(Ordering::SeqCst);
        while n > 0 {
            match self
                .free
                .compare_exchange_weak(n, n - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
        false
    }

    /// Gives a token back, waking a thread waiting to resume its task if
    /// there is one (Dekker-style with [`Tokens::acquire`]: it counts itself
    /// before it looks for a free token, `give` frees one before it looks
    /// for a waiter, so one of them sees the other).
    pub(crate) fn give(&self) {
        self.free.fetch_add(1, Ordering::SeqCst);
        self.resume.wake_one();
    }

    /// Takes a token, waiting until one is free: a task that lent its token
    /// resumes only with one. A waiter that a `give` wakes but another
    /// thread beats to the token waits for that thread's `give`.
    pub(crate) fn acquire(&self) {
        while !self.take() {
            self.resume.sleep(|| self.available());
        }
    }

    #[inline(always)]
    pub(crate) fn available(&self) -> bool {
        self.free.load(Ordering::SeqCst) > 0
    }

    #[inline(always)]
    fn available_relaxed(&self) -> bool {
        self.free.load(Ordering::Relaxed) > 0
    }
}

/// After finding no work, a token holder gives its token back and looks
/// once more: work pushed meanwhile was announced either before the token
/// was free (then this look sees it) or after (then the announcement wakes
/// a sleeper). Returns whether it took a token again for such work.
pub(crate) fn give_back(tokens: &Tokens, has_work: impl Fn() -> bool) -> bool {
    tokens.give();
    fence(Ordering::SeqCst);
    has_work() && tokens.take()
}

/// A caller leaving its run, after it gave its token back: wakes a
/// sleeper for work it leaves behind (or that was pushed while it held
/// the token, when no sleeper was woken for want of a token), and only for
/// that: a sleeper woken for nothing takes the freed token and looks around
/// with it, just when the next caller of `compute` wants it. The same
/// handshake as [`give_back`]: the token was freed (`SeqCst`), then this
/// fence and the look; a pusher publishes, then [`announce`] fences and
/// looks at the tokens; one of the two sees the other.
pub(crate) fn announce_left(tokens: &Tokens, sleep: &Sleep, has_work: impl Fn() -> bool) {
    fence(Ordering::SeqCst);
    if has_work() {
        announce(tokens, sleep);
    }
}

/// After publishing work: wakes a sleeping pool thread if a free token could
/// run it (see [`give_back`] for the other half of the handshake).
pub(crate) fn announce(tokens: &Tokens, sleep: &Sleep) {
    fence(Ordering::SeqCst);
    if tokens.available() {
        sleep.wake_one();
    }
}

/// A participant's deque, and the handle others steal through.
struct Slot {
    local: Mutex<Option<Worker<Item>>>,
    stealer: Stealer<Item>,
}

pub(crate) struct Registry {
    slots: Box<[Slot]>,
    threads: usize,
    /// External slots not claimed, as indices into `slots`.
    free_external: Mutex<Vec<usize>>,
    /// Stealing scans `slots[..scan]`: the pool's slots and every external
    /// slot claimed so far.
    scan: AtomicUsize,
    /// Work pushed by callers that found no free external slot.
    injector: Injector<Item>,
    /// The run tokens (see the module docs).
    tokens: Tokens,
    /// Token holders currently looking for work: a running block or range
    /// gives work away while this is non-zero.
    idle: AtomicUsize,
    pub(crate) sleep: Sleep,
    /// Until when (nanoseconds after `clock`) an idle participant keeps
    /// looking for work instead of parking (see [`Registry::keep_hot`]); 0
    /// when no loop asked.
    hot_until: AtomicU64,
    clock: std::time::Instant,
    shutdown: AtomicBool,
    /// The runtime's result cache, if it has one (`crate::results`): found
    /// by a task through the participant running it.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) results: std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>,
    /// Async tasks started and not finished, bounded (`InFlight`).
    pub(crate) in_flight: InFlight,
    /// The tokio runtime async tasks are polled in, if the builder named
    /// one (`RuntimeBuilder::tokio`).
    #[cfg(feature = "tokio")]
    pub(crate) tokio: std::sync::OnceLock<tokio::runtime::Handle>,
}

/// The bound on async tasks in flight (started, not finished), shared by
/// every graph of a runtime (`RuntimeBuilder::max_in_flight`): an async
/// task that would pass it waits as a work item in `waiting`, holding no
/// thread, and the end of another async task starts it.
pub(crate) struct InFlight {
    /// The bound (set once, before any graph runs).
    pub(crate) max: AtomicUsize,
    /// How many are in flight, and the tasks waiting to start.
    state: Mutex<(usize, std::collections::VecDeque<Item>)>,
}

/// The default of `RuntimeBuilder::max_in_flight`.
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

impl InFlight {
    fn new() -> Self {
        InFlight {
            max: AtomicUsize::new(DEFAULT_MAX_IN_FLIGHT),
            state: Mutex::new((0, std::collections::VecDeque::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, std::collections::VecDeque<Item>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets one more async task start, if the bound allows; else queues
    /// the item `later()` makes (which starts it once admitted) and
    /// returns false.
    pub(crate) fn admit(&self, later: impl FnOnce() -> Item) -> bool {
        let max = self.max.load(Ordering::Relaxed);
        let mut s = self.lock();
        if s.0 < max {
            s.0 += 1;
            return true;
        }
        s.1.push_back(later());
        false
    }

    /// An async task finished: the oldest waiting one takes its place
    /// (returned, admitted, for the caller to push).
    pub(crate) fn leave(&self) -> Option<Item> {
        let mut s = self.lock();
        match s.1.pop_front() {
            Some(item) => Some(item),
            None => {
                s.0 -= 1;
                None
            }
        }
    }

    /// Takes the waiting items of run `run` out of the queue (a stopped
    /// run does not wait for a place); returns how many.
    pub(crate) fn withdraw(&self, run: *const ()) -> usize {
        let mut s = self.lock();
        let before = s.1.len();
        s.1.retain(|i| !std::ptr::eq(i.run, run));
        before - s.1.len()
    }
}

impl Registry {
    /// Starts `threads` pool threads.
    pub(crate) fn start(
        threads: usize,
        name: &str,
        stack_size: Option<usize>,
    ) -> std::io::Result<(Arc<Registry>, Vec<JoinHandle<()>>)> {
        let slots: Box<[Slot]> = (0..threads + EXTERNAL_SLOTS)
            .map(|_| {
                let w = Worker::new_lifo();
                Slot {
                    stealer: w.stealer(),
                    local: Mutex::new(Some(w)),
                }
            })
            .collect();
        let reg = Arc::new(Registry {
            slots,
            threads,
            free_external: Mutex::new((threads..threads + EXTERNAL_SLOTS).rev().collect()),
            scan: AtomicUsize::new(threads),
            injector: Injector::new(),
            tokens: Tokens::new(threads),
            idle: AtomicUsize::new(0),
            // Every pool thread starts asleep (`main_loop`).
            sleep: Sleep::with_pool(threads),
            hot_until: AtomicU64::new(0),
            clock: std::time::Instant::now(),
            shutdown: AtomicBool::new(false),
            results: std::sync::OnceLock::new(),
            in_flight: InFlight::new(),
            #[cfg(feature = "tokio")]
            tokio: std::sync::OnceLock::new(),
        });
        let mut handles = Vec::with_capacity(threads);
        for me in 0..threads {
            let r = Arc::clone(&reg);
            let mut b = std::thread::Builder::new().name(format!("{name}-{me}"));
            if let Some(s) = stack_size {
                b = b.stack_size(s);
            }
            match b.spawn(move || r.main_loop(me)) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    reg.stop(handles);
                    return Err(e);
                }
            }
        }
        Ok((reg, handles))
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Asks every pool thread to leave and waits for them.
    pub(crate) fn stop(&self, handles: Vec<JoinHandle<()>>) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.sleep.wake_all();
        for h in handles {
            let _ = h.join();
        }
    }

    /// A pool thread's life.
    fn main_loop(&self, me: usize) {
        let local = self.slots[me]
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("a pool slot is owned by its thread");
        let w = WorkerCtx {
            reg: self,
            me,
            local,
            token: Cell::new(false),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (me as u64 + 1)),
            waiting: Cell::new(std::ptr::null()),
            running: Cell::new(std::ptr::null()),
        };
        let _current = w.enter();
        let ready =
            || self.shutdown.load(Ordering::SeqCst) || (self.tokens.available() && self.has_work());
        // Counted asleep since `start`: a new thread looks at nothing until
        // work wakes it.
        self.sleep.sleep_from_start(ready);
        loop {
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
            if w.take_token() {
                w.work_while_possible(&|| self.shutdown.load(Ordering::Relaxed));
            }
            self.sleep.sleep(ready);
        }
    }

    /// Claims a deque for a thread outside the pool, if one is free.
    pub(crate) fn claim_external(&self) -> Option<(usize, Worker<Item>)> {
        let me = self
            .free_external
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()?;
        self.scan.fetch_max(me + 1, Ordering::SeqCst);
        let w = self.slots[me]
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("a free external slot holds its deque");
        Some((me, w))
    }

    /// Gives an external deque back (it is empty: its owner waited until its
    /// own run ended, and the run's items were all taken).
    pub(crate) fn release_external(&self, me: usize, w: Worker<Item>) {
        *self.slots[me]
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(w);
        self.free_external
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(me);
    }

    /// New work is visible: wake a sleeping thread if one could run it.
    #[inline]
    pub(crate) fn notify_work(&self) {
        announce(&self.tokens, &self.sleep);
    }

    /// A caller gave its token back and leaves its run: wakes a
    /// sleeper if work is waiting (see [`announce_left`]).
    #[inline]
    pub(crate) fn notify_left(&self) {
        announce_left(&self.tokens, &self.sleep, || self.has_work());
    }

    /// Whether a token is free.
    #[inline]
    pub(crate) fn token_free(&self) -> bool {
        self.tokens.available()
    }

    /// Sleeps with the pool as the owner of a run (a caller with no token,
    /// or a task waiting in a nested run) until `ready()`: the end of a
    /// run wakes the owners asleep ([`Registry::wake_owners`]), and work
    /// wakes one if no pool thread sleeps.
    #[cold]
    pub(crate) fn sleep_owner(&self, ready: impl Fn() -> bool) {
        // `Sleep::sleep_owner` counts us, then fences (`SeqCst`) before it
        // calls `ready`, which reads the latch: either it sees the latch
        // set, or `wake_owners` sees us.
        self.sleep.sleep_owner(ready);
    }

    /// A run's latch was just set: wake its owner if it sleeps with the
    /// pool (no pool thread is woken).
    #[inline]
    pub(crate) fn wake_owners(&self) {
        self.sleep.wake_owners();
    }

    /// Whether any deque or the injector holds work (may race with pushes;
    /// the sleep protocol makes up for it).
    pub(crate) fn has_work(&self) -> bool {
        !self.injector.is_empty()
            || self.slots[..self.scan.load(Ordering::SeqCst)]
                .iter()
                .any(|s| !s.stealer.is_empty())
    }

    /// A fused loop that hands pieces between threads (trapezoids, a
    /// wavefront's tiles) will make more ready soon: idle participants keep
    /// looking for work for [`HOT_SPIN_NS`] from now instead of parking, so
    /// the next piece finds a thread awake (a futex wake-up takes longer
    /// than a light piece). A hint only: nothing waits for it, and it
    /// expires by itself (a loop that stops early never cools it).
    #[inline]
    pub(crate) fn keep_hot(&self) {
        let until = self.now_ns() + HOT_SPIN_NS;
        self.hot_until.store(until, Ordering::Relaxed);
    }

    /// The loop that asked [`Registry::keep_hot`] has ended: idle threads
    /// park at once (an idle runtime does not spin).
    #[inline]
    pub(crate) fn cool(&self) {
        self.hot_until.store(0, Ordering::Relaxed);
    }

    /// Whether idle participants should keep looking for work: until the
    /// time [`Registry::keep_hot`] set.
    #[inline]
    fn hot(&self) -> bool {
        let until = self.hot_until.load(Ordering::Relaxed);
        until != 0 && self.now_ns() < until
    }

    fn now_ns(&self) -> u64 {
        // 584 years of nanoseconds fit in a `u64`; never 0 once a loop runs
        // (the clock started with the pool).
        self.clock.elapsed().as_nanos() as u64 + 1
    }

    /// Whether some token holder is looking for work, or a sleeping thread
    /// could take a free token: then running work should be split.
    #[inline(always)]
    pub(crate) fn hungry(&self) -> bool {
        self.idle.load(Ordering::Relaxed) > 0
            || (self.tokens.available_relaxed() && self.sleep.sleepers() > 0)
    }
}

/// A lent token, taken again when this drops (even while unwinding: the
/// thread goes on as a participant that holds one).
pub(crate) struct Lent<'w, 'a> {
    w: &'w WorkerCtx<'a>,
    lent: bool,
}

impl Drop for Lent<'_, '_> {
    fn drop(&mut self) {
        if self.lent {
            self.w.acquire_token();
        }
    }
}

/// Runs `f`, a wait this thread does not help with, with the current
/// participant's token lent (see [`WorkerCtx::lend`]).
pub(crate) fn lending<R>(f: impl FnOnce() -> R) -> R {
    WorkerCtx::current(|cur| match cur {
        Some(w) if w.has_token() => {
            let _back = w.lend();
            f()
        }
        _ => f(),
    })
}

/// What a thread running one of a run's work items may read or count
/// (through [`WorkerCtx`]): the run's stop flag and its uses of the result
/// cache.
#[derive(Default)]
pub(crate) struct RunFlags {
    /// Set once: a task failed (or the run was cancelled); no task starts.
    pub(crate) stop: AtomicBool,
    /// Cached calls whose result was loaded from the result cache.
    pub(crate) cache_hits: AtomicU64,
    /// Cached calls computed (and stored).
    pub(crate) cache_misses: AtomicU64,
}

thread_local! {
    /// The participant this thread is, while it is one.
    static CURRENT: Cell<*const WorkerCtx<'static>> = const { Cell::new(std::ptr::null()) };
}

/// A thread taking part in running graphs: a pool thread for its life, or a
/// caller of `compute` for the duration of the call.
pub(crate) struct WorkerCtx<'a> {
    pub(crate) reg: &'a Registry,
    me: usize,
    local: Worker<Item>,
    /// Whether this participant holds a run token.
    token: Cell<bool>,
    rng: Cell<u64>,
    /// The latch of the innermost `compute` this thread is waiting in; work
    /// of other graphs is handed back once it is set.
    waiting: Cell<*const AtomicBool>,
    /// The flags of the run whose work item this thread runs now (for
    /// `taskdag::cancelled` and the run's cache counts), or null.
    running: Cell<*const RunFlags>,
}

/// Restores the previous participant when dropped.
pub(crate) struct Entered(*const WorkerCtx<'static>);

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

impl<'a> WorkerCtx<'a> {
    /// A participant for a thread outside the pool, with a claimed deque.
    pub(crate) fn external(reg: &'a Registry, me: usize, local: Worker<Item>) -> Self {
        WorkerCtx {
            reg,
            me,
            local,
            token: Cell::new(false),
            rng: Cell::new(0x2545_F491_4F6C_DD1D ^ (me as u64 + 1)),
            waiting: Cell::new(std::ptr::null()),
            running: Cell::new(std::ptr::null()),
        }
    }

    /// A participant for a thread outside the pool when every external slot
    /// is taken: its work goes to the shared injector.
    pub(crate) fn unregistered(reg: &'a Registry) -> Self {
        WorkerCtx {
            reg,
            me: usize::MAX,
            local: Worker::new_lifo(),
            token: Cell::new(false),
            rng: Cell::new(0x5851_F42D_4C95_7F2D),
            waiting: Cell::new(std::ptr::null()),
            running: Cell::new(std::ptr::null()),
        }
    }

    /// The participant's number: pool threads `0..threads`, callers above,
    /// `usize::MAX` for a caller without a deque.
    pub(crate) fn index(&self) -> usize {
        self.me
    }

    /// Gives the deque back (see [`Registry::release_external`]).
    pub(crate) fn into_deque(self) -> (usize, Worker<Item>) {
        (self.me, self.local)
    }

    /// Makes this the current thread's participant until the guard drops.
    pub(crate) fn enter(&self) -> Entered {
        let prev = CURRENT.with(|c| c.replace((self as *const Self).cast()));
        Entered(prev)
    }

    /// The participant the current thread is, if any.
    ///
    /// The reference is valid while the thread stays inside the call that
    /// entered it: callers use it only within that dynamic extent.
    pub(crate) fn current<R>(f: impl FnOnce(Option<&WorkerCtx<'_>>) -> R) -> R {
        let p = CURRENT.with(|c| c.get());
        // SAFETY: `CURRENT` points at a participant living on this thread's
        // stack further up (set by `enter`, restored when that returns), so
        // it outlives this call.
        f(unsafe { p.as_ref() })
    }

    pub(crate) fn has_token(&self) -> bool {
        self.token.get()
    }

    /// Takes a run token if one is free.
    pub(crate) fn take_token(&self) -> bool {
        if self.token.get() {
            return true;
        }
        let took = self.reg.tokens.take();
        self.token.set(took);
        took
    }

    /// Gives the run token back.
    pub(crate) fn release_token(&self) {
        if self.token.replace(false) {
            self.reg.tokens.give();
        }
    }

    /// Waits for a token (a task resuming after it lent its own).
    pub(crate) fn acquire_token(&self) {
        if !self.token.get() {
            self.reg.tokens.acquire();
            self.token.set(true);
        }
    }

    /// Gives the token back while this thread's task waits, and announces
    /// work that may wait for it; returns whether it held one.
    pub(crate) fn lend_token(&self) -> bool {
        if !self.token.replace(false) {
            return false;
        }
        self.reg.tokens.give();
        self.reg.notify_work();
        true
    }

    /// Lends this thread's token (if it holds one: it runs a task) until
    /// the guard drops, which waits for a token again: around a wait for
    /// another graph that this thread does not help with.
    pub(crate) fn lend(&self) -> Lent<'_, 'a> {
        Lent {
            w: self,
            lent: self.lend_token(),
        }
    }

    /// Inside a task (holding a token), waits until `done()`: runs any
    /// work with the token meanwhile (one item at a time, so the task and
    /// the work it runs count as one), lends the token while there is none,
    /// and takes a token again before it returns, for the task to go on.
    pub(crate) fn help_until(&self, done: &dyn Fn() -> bool) {
        let reg = self.reg;
        while !done() {
            if self.has_token() {
                if let Some(item) = self.find() {
                    self.execute(item);
                    continue;
                }
                self.lend_token();
                continue;
            }
            reg.sleep_owner(|| done() || (reg.token_free() && reg.has_work()));
            if !done() && reg.has_work() {
                self.take_token();
            }
        }
        self.acquire_token();
    }

    /// Whether this participant's own deque holds work.
    pub(crate) fn has_local_work(&self) -> bool {
        !self.local.is_empty()
    }

    /// Gives the token back after finding no work; true if it took one
    /// again for work that arrived meanwhile (see [`give_back`]).
    fn give_back_token(&self) -> bool {
        if !self.token.replace(false) {
            return false;
        }
        let again = give_back(&self.reg.tokens, || self.reg.has_work());
        self.token.set(again);
        again
    }

    /// Pops this participant's own newest item (never another's).
    #[inline]
    pub(crate) fn pop_local(&self) -> Option<Item> {
        self.local.pop()
    }

    /// Pushes a work item onto this participant's deque.
    #[inline]
    pub(crate) fn push(&self, item: Item) {
        if self.me == usize::MAX {
            self.reg.injector.push(item);
        } else {
            self.local.push(item);
        }
        self.reg.notify_work();
    }

    /// Pushes an item that this participant runs next itself (a graph's
    /// body woken by the run's last item, `../spawn/body.rs`): a pool
    /// thread puts it on its own deque and wakes nobody (it pops it as soon
    /// as its current item ends); anyone else pushes as [`push`] does.
    ///
    /// [`push`]: WorkerCtx::push
    #[inline]
    pub(crate) fn push_own(&self, item: Item) {
        if self.me < self.reg.threads() {
            self.local.push(item);
        } else {
            self.push(item);
        }
    }

    /// Whether running work should be split: someone could take it.
    #[inline(always)]
    pub(crate) fn hungry(&self) -> bool {
        self.reg.hungry()
    }

    /// Whether this thread should hand back work of other graphs: the
    /// `compute` it waits in has finished.
    #[inline(always)]
    pub(crate) fn should_yield(&self) -> bool {
        let w = self.waiting.get();
        // SAFETY: `waiting` points at the latch of a run this thread is
        // waiting in, alive until that wait returns (which resets it).
        !w.is_null() && unsafe { (*w).load(Ordering::Acquire) }
    }

    /// Notes that this thread runs a work item of the run whose flags are
    /// `run`; returns the previous one, for [`WorkerCtx::leave_run`].
    #[inline(always)]
    pub(crate) fn enter_run(&self, run: *const RunFlags) -> *const RunFlags {
        self.running.replace(run)
    }

    /// The work item has ended: back to the run of `prev`.
    #[inline(always)]
    pub(crate) fn leave_run(&self, prev: *const RunFlags) {
        self.running.set(prev);
    }

    /// The flags of the run whose work item this thread runs, if any.
    fn run_flags(&self) -> Option<&RunFlags> {
        let r = self.running.get();
        // SAFETY: `running` points at the flags of a run whose item this
        // thread is executing (set by `enter_run`, reset when it ends), so
        // the run is alive while this participant is borrowed.
        unsafe { r.as_ref() }
    }

    /// Whether the run whose work item this thread runs has stopped.
    pub(crate) fn run_stopped(&self) -> bool {
        self.run_flags()
            .is_some_and(|r| r.stop.load(Ordering::Relaxed))
    }

    /// Counts a cached call, loaded (`hit`) or computed, for the run whose
    /// work item this thread runs.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn count_cache_use(&self, hit: bool) {
        if let Some(r) = self.run_flags() {
            let c = if hit { &r.cache_hits } else { &r.cache_misses };
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Pushes an item from outside any participant (a spawned graph that
    /// finished, for the runs that wait for it).
    pub(crate) fn push_from_outside(reg: &Registry, item: Item) {
        reg.injector.push(item);
        reg.notify_work();
    }

    /// Sets the latch the innermost wait watches; returns the previous one.
    pub(crate) fn set_waiting(&self, latch: *const AtomicBool) -> *const AtomicBool {
        self.waiting.replace(latch)
    }

    fn next_rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    /// The next item to run: our own newest, else stolen.
    #[inline]
    pub(crate) fn find(&self) -> Option<Item> {
        self.local.pop().or_else(|| self.steal())
    }

    fn steal(&self) -> Option<Item> {
        let reg = self.reg;
        loop {
            let mut retry = false;
            let from_injector = if self.me == usize::MAX {
                reg.injector.steal()
            } else {
                reg.injector.steal_batch_and_pop(&self.local)
            };
            match from_injector {
                Steal::Success(i) => return Some(i),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let n = reg.scan.load(Ordering::Acquire);
            let start = (self.next_rand() % n as u64) as usize;
            for k in 0..n {
                let v = (start + k) % n;
                // An empty deque is skipped without a steal, which pins
                // crossbeam's epoch: every so many pins look at every
                // thread that ever pinned, a pool's worth of threads.
                if v == self.me || reg.slots[v].stealer.is_empty() {
                    continue;
                }
                match reg.slots[v].stealer.steal() {
                    Steal::Success(i) => return Some(i),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Runs one item.
    #[inline]
    pub(crate) fn execute(&self, item: Item) {
        // SAFETY: an item's run is alive until every item that names it has
        // been executed (see `Run` in `mod.rs`).
        unsafe { (item.exec)(item.run, item.job, self) }
    }

    /// With a token: runs work until none is found for a while, or `stop()`;
    /// then gives the token back, unless work arrived meanwhile.
    pub(crate) fn work_while_possible(&self, stop: &dyn Fn() -> bool) {
        loop {
            while let Some(item) = self.find() {
                self.execute(item);
                if stop() {
                    self.release_token();
                    return;
                }
            }
            if self.spin(stop) {
                continue;
            }
            if !stop() && self.give_back_token() {
                continue;
            }
            self.release_token();
            return;
        }
    }

    /// Looks for work a little longer (while a loop keeps the pool hot,
    /// until that ends: [`Registry::keep_hot`]), counted as idle; true if
    /// some appeared.
    #[cold]
    fn spin(&self, stop: &dyn Fn() -> bool) -> bool {
        let reg = self.reg;
        reg.idle.fetch_add(1, Ordering::SeqCst);
        let mut found = false;
        let rounds = spin_rounds(reg.scan.load(Ordering::Relaxed));
        'look: loop {
            for _ in 0..rounds {
                if reg.has_work() {
                    found = true;
                    break 'look;
                }
                if stop() {
                    break 'look;
                }
                std::hint::spin_loop();
            }
            if !reg.hot() {
                break;
            }
        }
        reg.idle.fetch_sub(1, Ordering::SeqCst);
        found
    }
}

/// How many rounds an idle participant looks through `deques` deques
/// before it gives up ([`SPIN_ROUNDS`], fewer on a large pool).
fn spin_rounds(deques: usize) -> usize {
    (SPIN_LOOKS / deques.max(1)).clamp(1, SPIN_ROUNDS)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{spin_rounds, Registry, WorkerCtx, HOT_SPIN_NS, SPIN_ROUNDS};
    use crate::exec::{Item, Job};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// How many waits of pool threads and of owners have ended.
    fn woken(reg: &Registry) -> [usize; 2] {
        let w = &reg.sleep.woken;
        [w[0].load(Ordering::Relaxed), w[1].load(Ordering::Relaxed)]
    }

    /// Waits until `n` threads wait in the pool's sleep.
    fn until_asleep(reg: &Registry, n: usize) {
        while reg.sleep.waiting() != n {
            std::thread::yield_now();
        }
    }

    static RAN: AtomicUsize = AtomicUsize::new(0);

    /// A work item of no run that counts itself in `RAN`.
    ///
    /// # Safety
    /// None needed: it touches no run.
    unsafe fn count(_: *const (), _: Job, _: &WorkerCtx<'_>) {
        RAN.fetch_add(1, Ordering::SeqCst);
    }

    /// A new pool of many threads starts asleep and stays so while idle
    /// (no wait ends: no thread looks for work, so none spins); one unit
    /// of work wakes exactly one thread, which runs it and sleeps again;
    /// the end of a run an owner waits for wakes that owner and no pool
    /// thread. Counted exactly (each ended wait), no clock involved but
    /// the idle pause.
    #[test]
    fn idle_threads_sleep_and_wake_ups_reach_only_whom_they_are_for() {
        let threads = if cfg!(miri) { 8 } else { 512 };
        let (reg, handles) = Registry::start(threads, "wake-ups", None).unwrap();
        until_asleep(&reg, threads);
        assert_eq!(reg.sleep.sleepers(), threads);
        std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 50 }));
        assert_eq!(woken(&reg), [0, 0], "an idle pool wakes nobody");

        let before = RAN.load(Ordering::SeqCst);
        let item = Item {
            run: std::ptr::null(),
            exec: count,
            job: Job::Body,
        };
        WorkerCtx::push_from_outside(&reg, item);
        while RAN.load(Ordering::SeqCst) == before {
            std::thread::yield_now();
        }
        until_asleep(&reg, threads);
        assert_eq!(woken(&reg), [1, 0], "one unit of work wakes one thread");

        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let owner = s.spawn(|| reg.sleep_owner(|| done.load(Ordering::SeqCst)));
            until_asleep(&reg, threads + 1);
            done.store(true, Ordering::SeqCst);
            reg.wake_owners();
            owner.join().unwrap();
        });
        assert_eq!(woken(&reg), [1, 1], "the end of a run wakes its owner only");
        reg.stop(handles);
        assert_eq!(woken(&reg), [1 + threads, 1], "shutdown wakes every thread");
    }

    /// An idle participant looks at `SPIN_ROUNDS` × 64 deques at most
    /// (at least one round), whatever the pool's size.
    #[test]
    fn spinning_is_bounded_by_deques_looked_at() {
        assert_eq!(spin_rounds(3), SPIN_ROUNDS);
        assert_eq!(spin_rounds(64), SPIN_ROUNDS);
        assert_eq!(spin_rounds(128), SPIN_ROUNDS / 2);
        assert_eq!(spin_rounds(4096 + 64), 1);
        assert_eq!(spin_rounds(0), SPIN_ROUNDS);
    }

    /// `keep_hot` keeps idle threads looking for [`HOT_SPIN_NS`] at most,
    /// `cool` ends it at once, and a pool nobody asked is cold.
    #[test]
    fn the_hot_hint_expires_and_cools() {
        let (reg, handles) = Registry::start(1, "hot-hint", None).unwrap();
        assert!(!reg.hot(), "a new pool spins for nobody");
        // Not `hot()` right after: a preempted test (or Miri's clock) may
        // see the hint expire first.
        let before = reg.now_ns();
        reg.keep_hot();
        let until = reg.hot_until.load(crate::sync::Ordering::Relaxed);
        assert!(until >= before + HOT_SPIN_NS && until <= reg.now_ns() + HOT_SPIN_NS);
        reg.cool();
        assert!(!reg.hot(), "cooled at the end of the loop");
        reg.keep_hot();
        std::thread::sleep(Duration::from_nanos(2 * HOT_SPIN_NS));
        assert!(!reg.hot(), "a hint nobody renews expires");
        reg.stop(handles);
    }
}
