//! The scheduler: one worker loop per pool thread for the duration of a run.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_deque::{Steal, Stealer, Worker};

use super::door::Door;
use super::sleep::Sleep;
use super::{Cx, Topology, FINAL};
use crate::error::Error;
use crate::family::ErasedFamily;
use crate::slot::TaskId;

/// A unit of work in a deque: one ready node, or a range of source nodes of
/// one family (nodes without lazy inputs), split in halves as it is taken.
#[derive(Clone, Copy, Debug)]
enum Item {
    Task(TaskId),
    Range { fam: u32, lo: u32, hi: u32 },
}

/// How many rounds an idle worker tries to steal before it parks.
const SPIN_ROUNDS: u32 = 64;

struct Run<'r, 'g, D> {
    topo: &'r Topology,
    cx: &'r Cx<'g>,
    fams: &'r [&'r dyn ErasedFamily<'g>],
    dispatch: &'r D,
    workers: Vec<Mutex<Option<Worker<Item>>>>,
    stealers: Vec<Stealer<Item>>,
    /// Nodes not yet run. Workers count locally and subtract when they run
    /// out of local work; reaching zero ends the run.
    remaining: AtomicUsize,
    /// Set once: the run is complete.
    done: AtomicBool,
    /// Set once: a task failed; no new task starts.
    stop: AtomicBool,
    /// Workers currently looking for work; a worker running a range splits
    /// it while this is non-zero.
    hungry: AtomicUsize,
    error: Mutex<Option<Error>>,
    sleep: Sleep,
    pool: &'r rayon::ThreadPool,
    /// Pool threads help through this door; see `door.rs`.
    door: Arc<Door>,
    /// Set once the pool's threads have been asked to help.
    called: AtomicBool,
}

/// Runs every node of a sealed graph; returns the first task error.
///
/// The calling thread is worker 0 and runs the graph itself; as soon as
/// there is work to share, the pool's other threads are asked to join as
/// workers `1..threads` (so at most `threads` run tasks at once). A graph
/// that is over before they arrive never waits for them.
pub(crate) fn run_graph<'g, D>(
    pool: &rayon::ThreadPool,
    topo: &Topology,
    cx: &Cx<'g>,
    fams: &[&dyn ErasedFamily<'g>],
    dispatch: &D,
) -> Result<(), Error>
where
    D: Fn(TaskId, &Cx<'g>) + Sync,
{
    if topo.len() == 0 {
        return Ok(());
    }
    let threads = pool.current_num_threads();
    let workers: Vec<Worker<Item>> = (0..threads).map(|_| Worker::new_lifo()).collect();
    let stealers = workers.iter().map(Worker::stealer).collect();
    let mut seeded_range_len = 0;
    // Seed: consecutive source nodes of each family become one range.
    for (f, fam) in fams.iter().enumerate() {
        let (start, end) = topo.family_range(f);
        let mut lo = None;
        for g in start..=end {
            let source = g < end && topo.pending[g as usize].load(Ordering::Relaxed) == 0;
            match (source, lo) {
                (true, None) => lo = Some(g),
                (false, Some(l)) => {
                    seeded_range_len = seeded_range_len.max(g - l);
                    workers[0].push(Item::Range {
                        fam: fam.id(),
                        lo: l - start,
                        hi: g - start,
                    });
                    lo = None;
                }
                _ => {}
            }
        }
    }
    // More than the caller takes first: the others can start right away.
    let share =
        workers[0].len() > 1 || topo.len() > 1 && workers[0].len() == 1 && seeded_range_len > 1;
    let run = Run {
        topo,
        cx,
        fams,
        dispatch,
        workers: workers.into_iter().map(|w| Mutex::new(Some(w))).collect(),
        stealers,
        remaining: AtomicUsize::new(topo.len()),
        done: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        hungry: AtomicUsize::new(0),
        error: Mutex::new(None),
        sleep: Sleep::new(),
        pool,
        door: Arc::new(Door::new()),
        called: AtomicBool::new(false),
    };
    if share {
        run.offer();
    }
    run.worker(0);
    run.door.close_and_wait();
    match run.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

impl<'g, D> Run<'_, 'g, D>
where
    D: Fn(TaskId, &Cx<'g>) + Sync,
{
    fn worker(&self, me: usize) {
        let _worker = InWorker::enter();
        let Some(local) = self.workers[me]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let mut ran = 0usize;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let item = match local.pop() {
                Some(i) => Some(i),
                None => {
                    self.flush(&mut ran);
                    self.steal(me)
                }
            };
            match item {
                Some(Item::Task(t)) => self.run_from(t, &local, &mut ran),
                Some(Item::Range {
                    fam,
                    mut lo,
                    mut hi,
                }) => {
                    // First cut the range into about one piece per thread,
                    // so every thread starts at once even if the first task
                    // is long. Then run it in order on this thread, giving
                    // away the upper half whenever another worker is out of
                    // work: light tasks cost no deque traffic, heavy ones
                    // still spread over every thread.
                    let piece = ((hi - lo) / self.stealers.len() as u32).max(1);
                    while hi - lo > piece {
                        let mid = lo + (hi - lo).div_ceil(2);
                        local.push(Item::Range { fam, lo: mid, hi });
                        self.offer();
                        hi = mid;
                    }
                    while lo < hi {
                        if hi - lo > 1 && self.hungry.load(Ordering::Relaxed) > 0 {
                            let mid = lo + (hi - lo).div_ceil(2);
                            local.push(Item::Range { fam, lo: mid, hi });
                            self.offer();
                            hi = mid;
                        }
                        self.run_from(TaskId { fam, idx: lo }, &local, &mut ran);
                        lo += 1;
                        if self.stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
                None => {
                    if self.finished() {
                        break;
                    }
                    self.idle();
                }
            }
        }
        self.flush(&mut ran);
    }

    /// Runs `t`, then keeps running the one successor each task makes ready
    /// on this thread; further ready successors go to the local deque.
    #[inline]
    fn run_from(&self, t: TaskId, local: &Worker<Item>, ran: &mut usize) {
        let mut next = Some(t);
        while let Some(t) = next {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let r = catch_unwind(AssertUnwindSafe(|| (self.dispatch)(t, self.cx)));
            *ran += 1;
            if let Err(payload) = r {
                self.fail(t, payload);
                return;
            }
            next = None;
            for &s in self.topo.successors(t) {
                if s == FINAL {
                    continue;
                }
                // AcqRel: Release publishes this task's output to whoever runs
                // `s`; the thread that takes the counter to zero Acquires every
                // producer's output (a release sequence of RMWs).
                let p = &self.topo.pending[self.topo.global(s)];
                if p.fetch_sub(1, Ordering::AcqRel) == 1 {
                    match next {
                        None => next = Some(s),
                        Some(n) => {
                            // Keep the earlier node (in loop order) on this
                            // thread, as a sequential run would: its inputs
                            // are released sooner, so memory stays low.
                            let (run, push) = if (s.idx, s.fam) < (n.idx, n.fam) {
                                (s, n)
                            } else {
                                (n, s)
                            };
                            next = Some(run);
                            local.push(Item::Task(push));
                            self.offer();
                        }
                    }
                }
            }
        }
    }

    /// New work is in a deque: ask the pool's threads to help the first
    /// time, wake a sleeping helper afterwards.
    #[inline]
    fn offer(&self) {
        if self.called.load(Ordering::Relaxed) || self.called.swap(true, Ordering::AcqRel) {
            self.sleep.wake_one();
        } else {
            self.call_helpers();
        }
    }

    #[cold]
    fn call_helpers(&self) {
        let entry: unsafe fn(usize, usize) = helper_entry::<D>;
        let run = self as *const Self as usize;
        for me in 1..self.workers.len() {
            let door = Arc::clone(&self.door);
            self.pool.spawn(move || {
                if door.enter() {
                    let _leave = Leave(&door);
                    // SAFETY: inside the door, the run is alive: the caller
                    // closes the door and waits for us before dropping it.
                    unsafe { entry(run, me) };
                }
            });
        }
    }

    fn flush(&self, ran: &mut usize) {
        if *ran == 0 {
            return;
        }
        let n = std::mem::take(ran);
        if self.remaining.fetch_sub(n, Ordering::AcqRel) == n {
            self.done.store(true, Ordering::Release);
            self.sleep.wake_all();
        }
    }

    fn finished(&self) -> bool {
        self.done.load(Ordering::Acquire) || self.stop.load(Ordering::Acquire)
    }

    fn steal(&self, me: usize) -> Option<Item> {
        let n = self.stealers.len();
        loop {
            let mut retry = false;
            for k in 1..n {
                match self.stealers[(me + k) % n].steal() {
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

    fn has_work(&self) -> bool {
        self.stealers.iter().any(|s| !s.is_empty())
    }

    #[cold]
    fn idle(&self) {
        self.hungry.fetch_add(1, Ordering::SeqCst);
        let mut found = false;
        for _ in 0..SPIN_ROUNDS {
            if self.has_work() || self.finished() {
                found = true;
                break;
            }
            std::hint::spin_loop();
        }
        if !found {
            self.sleep.sleep(|| self.has_work() || self.finished());
        }
        self.hungry.fetch_sub(1, Ordering::SeqCst);
    }

    #[cold]
    fn internal_failure(&self, payload: &(dyn Any + Send)) {
        let message = format!("taskgraph internal error: {}", panic_message(payload));
        let task = crate::error::TaskInfo {
            function: "<scheduler>",
            file: file!(),
            line: line!(),
            column: 0,
            indices: Vec::new(),
        };
        let mut e = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none() {
            *e = Some(Error::TaskPanicked { task, message });
        }
        drop(e);
        self.stop.store(true, Ordering::Release);
        self.sleep.wake_all();
    }

    #[cold]
    fn fail(&self, t: TaskId, payload: Box<dyn Any + Send>) {
        let message = panic_message(&*payload);
        let task = self.fams[t.fam as usize].describe(t.idx);
        {
            let mut e = self.error.lock().unwrap_or_else(|p| p.into_inner());
            if e.is_none() {
                *e = Some(Error::TaskPanicked { task, message });
            }
        }
        // Drop the payload here, inside the worker: its destructor could panic.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        self.stop.store(true, Ordering::Release);
        self.sleep.wake_all();
    }
}

thread_local! {
    /// How many worker loops this thread is inside (a task can compute a
    /// graph, whose worker loop then runs inside the task's).
    static WORKER_LOOPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Marks the current thread as running a worker loop while alive.
struct InWorker;

impl InWorker {
    fn enter() -> Self {
        WORKER_LOOPS.with(|w| w.set(w.get() + 1));
        InWorker
    }
}

impl Drop for InWorker {
    fn drop(&mut self) {
        WORKER_LOOPS.with(|w| w.set(w.get() - 1));
    }
}

/// Whether the current thread is running a task of a node-by-node graph.
pub(crate) fn in_worker() -> bool {
    WORKER_LOOPS.with(|w| w.get() > 0)
}

/// Leaves the door even if the worker loop unwinds.
struct Leave<'a>(&'a Door);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A helper's worker loop.
///
/// # Safety
/// `run` is the address of a live `Run<'_, 'g, D>`, and the calling helper
/// is inside its door.
unsafe fn helper_entry<'r, 'g: 'r, D>(run: usize, me: usize)
where
    D: Fn(TaskId, &Cx<'g>) + Sync + 'r,
{
    // SAFETY: by the function's contract.
    let run = unsafe { &*(run as *const Run<'r, 'g, D>) };
    // A panic outside a task would be a bug of ours; keep it from aborting
    // the pool and end the run with it.
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| run.worker(me))) {
        run.internal_failure(&*p);
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
