//! Observers: what a run tells whoever watches it.
//!
//! An [`Observer`] attached to a runtime ([`Runtime::observe`],
//! [`RuntimeBuilder::observer`]) hears of every run of that runtime: when it
//! starts (its families and how many tasks each will run), every task's
//! start and end (thread, call site, loop indices, time), every block of a
//! fused loop (its iteration range), and the end of the run. Progress bars,
//! the task stream, the performance report and the dashboard are observers.
//!
//! Events come from the one place a task runs (`exec/task.rs`), so node by
//! node and fused tasks are seen alike. A run looks at its observers once,
//! when it starts: with none attached, a task costs one predictable branch
//! more; with some, two clock reads and the observers' own work.
//!
//! [`Runtime::observe`]: crate::Runtime::observe
//! [`RuntimeBuilder::observer`]: crate::RuntimeBuilder::observer

// Not `crate::sync`: these number observers and runs (a `static` among
// them, which loom's atomics cannot be), they are no part of a protocol the
// loom models check.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::Error;
use crate::site::FamilyInfo;
use crate::site::Template;

/// Watches the runs of a runtime. Every method has an empty default, so an
/// observer implements only what it needs.
///
/// Methods are called on the threads that run the tasks, while they run
/// them: they should be quick, and must not block on the run they observe.
/// A panic in an observer is a panic of the task it was called for.
///
/// A task that runs node by node is heard as a task; the tasks of a fused
/// loop are heard as blocks of iterations ([`Observer::block_finished`],
/// with [`RunStarted::fused_sites`] telling which call sites a block runs),
/// so that observing costs a fused loop nothing per task.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use taskdag::observe::{BlockEvent, Observer, TaskEvent};
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
///
/// #[derive(Default)]
/// struct Count(AtomicU64);
/// impl Observer for Count {
///     fn task_finished(&self, _: &TaskEvent<'_>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn block_finished(&self, b: &BlockEvent) {
///         // The loop below has one task per iteration.
///         self.0.fetch_add(u64::from(b.hi - b.lo), Ordering::Relaxed);
///     }
/// }
///
/// let rt = Runtime::new(2)?;
/// let count = Arc::new(Count::default());
/// let watching = rt.observe(count.clone());
/// rt.compute(graph! {
///     let xs: Vec<_> = (0..10).map(|i| inc(i)).collect();
///     let y = inc(7);
///     (xs, y)
/// })?;
/// drop(watching);
/// assert_eq!(count.0.load(Ordering::Relaxed), 11);
/// # Ok::<(), taskdag::Error>(())
/// ```
pub trait Observer: Send + Sync {
    /// A run starts: its families and what each will run.
    fn run_started(&self, _run: &RunStarted<'_>) {}
    /// A task that runs node by node starts on `task.thread`.
    fn task_started(&self, _task: &TaskEvent<'_>) {}
    /// A task ended (returned, or unwound if `task.failed`); `task.end` is set.
    fn task_finished(&self, _task: &TaskEvent<'_>) {}
    /// A block of a fused loop starts; `block.hi` is where it may go.
    fn block_started(&self, _block: &BlockEvent) {}
    /// A block of a fused loop ended, having run iterations `lo..hi`.
    fn block_finished(&self, _block: &BlockEvent) {}
    /// A block of a fused loop was unwound before it finished: a task in it
    /// panicked or failed, or its run was stopped. `block` is as at its
    /// start (`lo..hi` is the most it could have run), with `end` set; the
    /// failure itself is reported with the run's end.
    fn block_unwound(&self, _block: &BlockEvent) {}
    /// A run ended (after its last task; before `compute` returns).
    fn run_finished(&self, _run: &RunFinished<'_>) {}
}

/// Nanoseconds since the first time anything in this process asked (the
/// clock of every event).
///
/// On x86-64 this reads the time-stamp counter (about 10 ns, where a
/// virtual machine's `clock_gettime` can take ten times as long),
/// calibrated against [`Instant`] over a millisecond on first use;
/// elsewhere (and under Miri, which does not run `rdtsc`) it is [`Instant`].
///
/// [`Instant`]: std::time::Instant
pub fn now_ns() -> u64 {
    clock::now()
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod clock {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    fn ticks() -> u64 {
        // SAFETY: `rdtsc` reads a counter; it has no preconditions.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }

    /// The counter at the epoch, and nanoseconds per tick.
    #[cold]
    fn calibrate() -> (u64, f64) {
        let (i0, t0) = (Instant::now(), ticks());
        while i0.elapsed() < Duration::from_millis(1) {
            std::hint::spin_loop();
        }
        let (ns, t1) = (i0.elapsed().as_nanos() as f64, ticks());
        let per_tick = if t1 > t0 { ns / (t1 - t0) as f64 } else { 1.0 };
        (t0, per_tick)
    }

    #[inline]
    pub(super) fn now() -> u64 {
        static CAL: OnceLock<(u64, f64)> = OnceLock::new();
        let (t0, per_tick) = *CAL.get_or_init(calibrate);
        (ticks().saturating_sub(t0) as f64 * per_tick) as u64
    }
}

#[cfg(any(not(target_arch = "x86_64"), miri))]
mod clock {
    use std::sync::OnceLock;
    use std::time::Instant;

    #[inline]
    pub(super) fn now() -> u64 {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// One task, as an observer sees it.
#[derive(Clone, Copy, Debug)]
pub struct TaskEvent<'a> {
    /// The run it belongs to (numbered per process, from 1).
    pub run: u64,
    /// The participant running it: pool thread `0..threads`, or a thread
    /// that called `compute` (`threads` and up, `usize::MAX` for a caller
    /// beyond the 64 the runtime keeps deques for).
    pub thread: usize,
    /// Its call site: function, file, line, column.
    pub site: &'static FamilyInfo,
    /// Its loop iteration numbers, outermost first (a `tree_reduce` node
    /// ends with its level and position).
    pub indices: &'a [u32],
    /// When it started, in [`now_ns`] time.
    pub start: u64,
    /// When it ended ([`Observer::task_finished`] only; 0 before).
    pub end: u64,
    /// Whether it panicked or failed ([`Observer::task_finished`] only).
    pub failed: bool,
    /// Its use of the result cache ([`Observer::task_finished`] only): a
    /// hit is a task whose result was loaded instead of computed.
    pub cache: CacheUse,
}

/// What a task or a block did with the result cache (`#[delayed(cache)]`
/// functions, on a runtime with a cache; the `cache` feature): how many of
/// its cached calls found their result stored (hits) and how many computed
/// and stored it (misses). Both are 0 for a task that is not cached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CacheUse {
    /// Cached calls whose result was loaded.
    pub hits: u32,
    /// Cached calls that computed their result (and stored it).
    pub misses: u32,
}

impl CacheUse {
    /// Whether this was a cache hit: some cached call was loaded and none
    /// computed.
    pub fn is_hit(&self) -> bool {
        self.hits > 0 && self.misses == 0
    }
}

thread_local! {
    /// This thread's cached calls since it last took the count.
    static CACHE_USE: std::cell::Cell<CacheUse> = const {
        std::cell::Cell::new(CacheUse { hits: 0, misses: 0 })
    };
}

/// Counts a cached call on this thread (the result cache calls it; the
/// task or block running it reports the count if observed).
#[cfg_attr(not(feature = "cache"), allow(dead_code))]
pub(crate) fn note_cache(hit: bool) {
    CACHE_USE.with(|c| {
        let mut u = c.get();
        if hit {
            u.hits = u.hits.wrapping_add(1);
        } else {
            u.misses = u.misses.wrapping_add(1);
        }
        c.set(u);
    });
}

/// This thread's cached calls since the last take (zeroed).
pub(crate) fn take_cache_use() -> CacheUse {
    CACHE_USE.with(|c| c.replace(CacheUse::default()))
}

/// A block of iterations of a fused loop, run by one thread in one go.
#[derive(Clone, Copy, Debug)]
pub struct BlockEvent {
    /// The run it belongs to.
    pub run: u64,
    /// The participant running it (as [`TaskEvent::thread`]).
    pub thread: usize,
    /// The loop (named `loop`, at its range) or the `tree_reduce` it computes.
    pub site: &'static FamilyInfo,
    /// The first iteration.
    pub lo: u32,
    /// One past the last iteration: at the start, the most the block may
    /// run (it may give the rest away); at the end, what it ran.
    pub hi: u32,
    /// When it started, in [`now_ns`] time.
    pub start: u64,
    /// When it ended ([`Observer::block_finished`] only; 0 before).
    pub end: u64,
    /// Its tasks' use of the result cache ([`Observer::block_finished`]
    /// only).
    pub cache: CacheUse,
}

/// What kind of work a family of a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FamilyKind {
    /// Its nodes run node by node, one task each.
    Tasks,
    /// A fused loop: one node running `iterations` iterations in blocks.
    Loop,
    /// The values a fused loop pushes onto a vector (no tasks of its own).
    Elements,
    /// Values from outside the graph (a plain vector, a spawned graph's
    /// output) brought in by one work item, no task per element.
    Source,
}

/// One family of a starting run.
#[derive(Clone, Copy, Debug)]
pub struct FamilySummary {
    /// Its call site (for a fused loop: `loop` at its range).
    pub site: &'static FamilyInfo,
    /// What kind of work it is.
    pub kind: FamilyKind,
    /// How many nodes it has (a fused loop has one, or none if it does not
    /// run fused).
    pub nodes: u32,
    /// For a fused loop: how many iterations it runs.
    pub iterations: u32,
    /// For a fused step loop: how many values each step makes (its
    /// iterations are its steps' values, one step after another); 0 for
    /// other families.
    pub width: u32,
}

/// A run that starts.
#[derive(Debug)]
pub struct RunStarted<'a> {
    /// Its number (per process, from 1).
    pub run: u64,
    /// When, in [`now_ns`] time.
    pub time: u64,
    /// How many threads the pool has.
    pub threads: usize,
    /// Its families, numbered as the run numbers them.
    pub families: &'a [FamilySummary],
    /// The compile-time description of its graph.
    pub template: Option<&'static Template>,
}

/// The call sites one fused loop's blocks run ([`RunStarted::fused_sites`]).
#[derive(Clone, Debug)]
pub struct FusedSites {
    /// The loop, as its blocks' [`BlockEvent::site`] names it.
    pub block: &'static FamilyInfo,
    /// Call sites run once per iteration.
    pub each: Vec<&'static FamilyInfo>,
    /// The `tree_reduce` computed in the blocks, if any.
    pub reduce: Option<&'static FamilyInfo>,
    /// A wavefront's tasks per cell whose call site an `if` in the cell
    /// chooses: counted at [`block`](FusedSites::block), since the branch
    /// a cell takes is not known outside it (per `if`, as many as its
    /// branch with the most calls); 0 for other loops. The call sites every
    /// cell runs are in `each`, counted as node by node counts them.
    pub chosen: u32,
    /// A step loop's values per step; 0 for other loops.
    pub width: u32,
    /// A step loop's values pushed before its inner loop, each step: the
    /// call sites each one runs (`each` runs once per other value).
    pub before: Vec<Vec<&'static FamilyInfo>>,
    /// Those pushed after its inner loop.
    pub after: Vec<Vec<&'static FamilyInfo>>,
}

impl FusedSites {
    /// Calls `add(site, tasks)` with the tasks that iterations `lo..hi` of
    /// the loop (a [`BlockEvent`]'s) run at each call site.
    pub fn block_tasks(&self, lo: u32, hi: u32, mut add: impl FnMut(&'static FamilyInfo, u64)) {
        let (lo, hi, w) = (u64::from(lo), u64::from(hi), u64::from(self.width));
        let (b, a) = (self.before.len() as u64, self.after.len() as u64);
        // How many of the values `lo..hi` sit at places `p..q` of their step.
        let at = |p: u64, q: u64| {
            let below = |x: u64| x / w * (q - p) + (x % w).clamp(p, q) - p;
            below(hi) - below(lo)
        };
        let inner = match self.before.len() + self.after.len() {
            0 => hi - lo,
            _ if w < b + a => 0,
            _ => at(b, w - a),
        };
        for &s in &self.each {
            add(s, inner);
        }
        if w >= b + a {
            let places = (0..b).chain(w - a..w);
            for (sites, p) in self.before.iter().chain(&self.after).zip(places) {
                let n = at(p, p + 1);
                for &s in sites {
                    add(s, n);
                }
            }
        }
        if self.chosen > 0 {
            add(self.block, (hi - lo) * u64::from(self.chosen));
        }
        if let Some(r) = self.reduce {
            add(r, (hi - lo).saturating_sub(1));
        }
    }
}

/// Tasks a run will run at one call site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The call site.
    pub site: &'static FamilyInfo,
    /// How many tasks.
    pub tasks: u64,
}

impl RunStarted<'_> {
    /// For each fused loop of the run (named by its family's call site), the
    /// call sites its blocks run: each once per iteration, and the
    /// `tree_reduce` it computes (one task fewer than iterations); a step
    /// loop's boundary values once per step; a wavefront's calls that an
    /// `if` chooses between at the loop itself ([`FusedSites::chosen`]).
    /// Observers count a fused
    /// block's tasks from this ([`FusedSites::block_tasks`]): inside blocks, tasks
    /// are not reported one by one, so that a fused loop costs nothing more
    /// when it is observed.
    pub fn fused_sites(&self) -> Vec<FusedSites> {
        let mut out = Vec::new();
        for f in self.families {
            if f.kind != FamilyKind::Loop {
                continue;
            }
            out.push(self.fused_of(f));
        }
        out
    }

    /// The call sites the blocks of fused loop `f` run.
    fn fused_of(&self, f: &FamilySummary) -> FusedSites {
        match self.template.and_then(|t| t.fused_at(f.site)) {
            Some((t, plan)) => {
                let site = |m: &u32| t.site(self.families.iter().map(|f| f.site), *m);
                let sites = |els: &[&[u32]]| -> Vec<Vec<_>> {
                    els.iter().map(|e| e.iter().map(site).collect()).collect()
                };
                FusedSites {
                    block: f.site,
                    each: plan.each.iter().map(site).collect(),
                    reduce: plan.reduce.as_ref().map(site),
                    chosen: plan.chosen,
                    width: f.width,
                    before: sites(plan.before),
                    after: sites(plan.after),
                }
            }
            None => FusedSites {
                block: f.site,
                each: Vec::new(),
                reduce: Some(f.site),
                chosen: 0,
                width: 0,
                before: Vec::new(),
                after: Vec::new(),
            },
        }
    }

    /// How many tasks the run will run per call site, in the order the call
    /// sites appear in the graph: a node-by-node family runs one per node;
    /// a fused loop runs each call site of its body once per iteration
    /// (and its `tree_reduce` one fewer), as the graph's template tells.
    /// Cost: linear in the number of families and call sites.
    pub fn planned(&self) -> Vec<Planned> {
        let mut out: Vec<Planned> = Vec::new();
        let mut add = |site: &'static FamilyInfo, n: u64| match out
            .iter_mut()
            .find(|p| same_site(p.site, site))
        {
            Some(p) => p.tasks += n,
            None => out.push(Planned { site, tasks: n }),
        };
        for f in self.families {
            match f.kind {
                FamilyKind::Tasks => add(f.site, u64::from(f.nodes)),
                // A `tree_reduce` of a vector made before it has no template
                // entry: its site, one fewer task than iterations.
                FamilyKind::Loop if f.nodes > 0 => {
                    self.fused_of(f).block_tasks(0, f.iterations, &mut add);
                }
                _ => {}
            }
        }
        out
    }
}

/// Whether two call-site records name the same call site.
pub(crate) fn same_site(a: &FamilyInfo, b: &FamilyInfo) -> bool {
    std::ptr::eq(a, b)
        || (a.line == b.line && a.column == b.column && a.name == b.name && a.file == b.file)
}

/// A run that ended.
#[derive(Debug)]
pub struct RunFinished<'a> {
    /// Its number.
    pub run: u64,
    /// When, in [`now_ns`] time.
    pub time: u64,
    /// The error it ends with, if it failed.
    pub error: Option<&'a Error>,
    /// Whether plain code of the graph panicked (the caller of `compute`
    /// gets the panic back).
    pub panicked: bool,
}

// ---------------------------------------------------------------------------
// The runtime's observers.

/// The observers of a runtime, as one run sees them (a snapshot taken when
/// the run starts).
pub(crate) struct Observers {
    list: Vec<(u64, Arc<dyn Observer>)>,
}

impl Observers {
    #[inline]
    pub(crate) fn each(&self, mut f: impl FnMut(&dyn Observer)) {
        for (_, o) in &self.list {
            f(&**o)
        }
    }
}

/// Where a runtime keeps its observers: replaced whole when one is attached
/// or detached, so that a run only clones an `Arc` to see them.
#[derive(Default)]
pub(crate) struct Registry {
    current: Mutex<Option<Arc<Observers>>>,
    next: AtomicU64,
}

impl Registry {
    /// The observers a run starting now reports to.
    pub(crate) fn snapshot(&self) -> Option<Arc<Observers>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn attach(&self, o: Arc<dyn Observer>) -> u64 {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = cur.as_ref().map(|c| c.list.clone()).unwrap_or_default();
        list.push((key, o));
        *cur = Some(Arc::new(Observers { list }));
        key
    }

    pub(crate) fn detach(&self, key: u64) {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = cur.as_ref().map(|c| c.list.clone()).unwrap_or_default();
        list.retain(|(k, _)| *k != key);
        *cur = (!list.is_empty()).then(|| Arc::new(Observers { list }));
    }
}

/// An observer attached by [`Runtime::observe`]: it hears of every run that
/// starts until this is dropped (a run already started keeps reporting to
/// it until it ends).
///
/// [`Runtime::observe`]: crate::Runtime::observe
#[must_use = "the observer is detached when this is dropped"]
pub struct Observing<'rt> {
    pub(crate) reg: &'rt Registry,
    pub(crate) key: u64,
}

impl Observing<'_> {
    /// Keeps the observer attached for the runtime's life.
    pub fn forever(self) {
        std::mem::forget(self)
    }
}

impl Drop for Observing<'_> {
    fn drop(&mut self) {
        self.reg.detach(self.key)
    }
}

impl std::fmt::Debug for Observing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observing").field("key", &self.key).finish()
    }
}

/// Numbers runs across the process.
pub(crate) fn next_run() -> u64 {
    static RUNS: AtomicU64 = AtomicU64::new(1);
    RUNS.fetch_add(1, Ordering::Relaxed)
}
