//! The one place a task runs, for both kinds of work.
//!
//! A node of a task family and a task inside a fused block both run through
//! [`Cx::task`] (or [`Cx::node`]). A task's outcome is a value: the body the
//! macro generates returns `Result<T, TaskError>` (an `Err` is what `?` on a
//! `#[delayed]` function's `Result` gives), and `Cx::task` turns an `Err`
//! into the run's recorded failure, naming the task, and hands back
//! [`Stopped`], which the generated code and the executor return with, up
//! to the work item's end. No failure travels as an unwind, so a program
//! built with `panic = "abort"` gets [`Error::TaskFailed`] as any other.
//!
//! Only a panic unwinds. It is caught at the work item's boundary
//! (`Run::guarded`); a guard marks in the `Cx` which task it was, while the
//! task's frame still exists, so the panic becomes the failure of that task
//! (function, call site, loop indices, message), or, when no task is
//! marked, a panic of plain code in a fused loop's body, which the caller of
//! `compute` gets back as its own panic. Nothing runs per task when no task
//! fails, and a task that cannot panic has no landing pad at all.
//!
//! After a failure the run stops: other work items return [`Stopped`] at
//! their next check, dropping whatever they hold.

use std::any::Any;
use std::cell::Cell;

use super::Cx;
use crate::error::Error;
use crate::site::{FamilyInfo, LoopIndex, TaskInfo};
use crate::sync::{AtomicU32, Ordering};
use crate::value::NodeId;

/// The run has stopped, and why was recorded where it happened (a task's
/// `Err` or panic, a cancellation, a deadline): work returns this, as a
/// value, to the end of its work item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped;

/// The error a task returned (through `?` in `graph!`), on its way to the
/// run's record: [`Cx::try_task`] (and a family's node) turn it into
/// [`Error::TaskFailed`] naming the task.
pub struct TaskError(
    Box<dyn std::error::Error + Send + Sync + 'static>,
    /// The type the task returned in its `Err` (`Error::TaskFailed::error_type`).
    &'static str,
);

impl TaskError {
    /// Boxes `e` as a task's failure.
    #[cold]
    #[inline(never)]
    pub fn new<E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>>(e: E) -> Self {
        TaskError(e.into(), std::any::type_name::<E>())
    }
}

/// The error type of a task called with `?`: its `Err` becomes the
/// graph's [`Error::TaskFailed`](crate::Error::TaskFailed), whose source is
/// a `Box<dyn std::error::Error + Send + Sync>`, so it must convert into
/// one (any `std::error::Error + Send + Sync`, `String`, `&str`).
#[diagnostic::on_unimplemented(
    message = "`?` needs the task's error type to implement `std::error::Error + Send + Sync`, and `{Self}` does not",
    label = "this task's `Err({Self})` cannot become the graph's error",
    note = "a task's `Err` becomes `taskdag::Error::TaskFailed`, which holds it as a `Box<dyn std::error::Error + Send + Sync>`",
    note = "implement `std::fmt::Display` and `std::error::Error` for `{Self}`, or return `Result<T, String>`"
)]
pub trait TaskErrorType: Into<Box<dyn std::error::Error + Send + Sync + 'static>> {}

#[diagnostic::do_not_recommend]
impl<E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>> TaskErrorType for E {}

/// A task's result as the executor takes it: what `?` on a task call does
/// with the `Result` the `#[delayed]` function returned.
#[inline(always)]
pub fn lift<T, E: TaskErrorType>(r: Result<T, E>) -> Result<T, TaskError> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => Err(TaskError::new(e)),
    }
}

/// The task a thread runs now.
#[derive(Clone, Copy)]
pub(crate) enum Mark {
    /// Plain code (or the executor itself).
    None,
    /// Node `idx` of a task family.
    Node(NodeId),
    /// A task inside a fused block: its call site and loop indices. Fused
    /// loops are top-level loops, so a task there has at most two indices
    /// (`[k]`, a flattened nest's `[row, column]`, a reduction's `[level,
    /// position]`).
    Task(&'static FamilyInfo, [u32; 2], u8),
}

/// The mark of the thread running a work item.
pub(crate) struct Marker(Cell<Mark>);

impl Marker {
    pub(crate) fn new() -> Self {
        Marker(Cell::new(Mark::None))
    }

    pub(crate) fn get(&self) -> Mark {
        self.0.get()
    }
}

/// Marks the task it guards while the task unwinds (a panic), and does
/// nothing otherwise: it is forgotten when the task returns. A task that
/// cannot unwind costs nothing at all.
struct Unwinding<'a, 'r, 'g, L: LoopIndex> {
    cx: &'a Cx<'r, 'g>,
    info: Option<&'static FamilyInfo>,
    node: NodeId,
    at: L,
}

impl<L: LoopIndex> Drop for Unwinding<'_, '_, '_, L> {
    #[cold]
    fn drop(&mut self) {
        // Observers hear of node-by-node tasks only (`NodeUnwinding`).
        mark_failed(&self.cx.mark, self.info, self.node, self.at.as_slice());
    }
}

/// [`Unwinding`] for a node-by-node task: the node names the task (its
/// family's site and loop indices), and observers hear of its end. Three
/// words written per node, not a fused task's six.
struct NodeUnwinding<'a, 'r, 'g> {
    cx: &'a Cx<'r, 'g>,
    node: NodeId,
    /// When the task started, if observed.
    start: u64,
}

impl Drop for NodeUnwinding<'_, '_, '_> {
    #[cold]
    fn drop(&mut self) {
        mark_failed(&self.cx.mark, None, self.node, &[]);
        if self.cx.observed() {
            self.cx.observe_end(None, self.node, &[], self.start, true);
        }
    }
}

#[cold]
#[inline(never)]
fn mark_failed(mark: &Marker, info: Option<&'static FamilyInfo>, node: NodeId, at: &[u32]) {
    // Only the innermost task is marked (the first guard to unwind).
    if !matches!(mark.get(), Mark::None) {
        return;
    }
    mark.0.set(match info {
        Some(info) => {
            let n = at.len().min(2);
            let mut a = [0; 2];
            a[..n].copy_from_slice(&at[..n]);
            Mark::Task(info, a, n as u8)
        }
        None => Mark::Node(node),
    });
}

impl<'g> Cx<'_, 'g> {
    /// Runs the task of call site `info` at loop indices `at`: `f` calls the
    /// `#[delayed]` function. If it panics, the run fails with this task.
    #[inline(always)]
    pub fn task<R, L: LoopIndex>(
        &self,
        info: &'static FamilyInfo,
        at: L,
        f: impl FnOnce() -> R,
    ) -> R {
        // A task inside a fused block: observers see the block (its
        // iterations), not each task, so the block stays straight-line code.
        let guard = Unwinding {
            cx: self,
            info: Some(info),
            node: NodeId::new(0, 0),
            at,
        };
        let r = f();
        std::mem::forget(guard);
        r
    }

    /// Runs a task whose `#[delayed]` function returns `Result` and is
    /// called with `?`: as [`Cx::task`], and an `Err` fails the run with
    /// this task (the error comes back as [`Stopped`]).
    #[inline(always)]
    pub fn try_task<R, L: LoopIndex>(
        &self,
        info: &'static FamilyInfo,
        at: L,
        f: impl FnOnce() -> Result<R, TaskError>,
    ) -> Result<R, Stopped> {
        match self.task(info, at, f) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.fused_failed(info, at.as_slice(), e)),
        }
    }

    /// Runs the task of node `id` (a task family's): as [`Cx::task`].
    #[inline(always)]
    pub(crate) fn node<R>(
        &self,
        id: NodeId,
        f: impl FnOnce() -> Result<R, TaskError>,
    ) -> Result<R, Stopped> {
        let start = match self.observed() {
            true => self.observe_start(None, id, &[]),
            false => 0,
        };
        let guard = NodeUnwinding {
            cx: self,
            node: id,
            start,
        };
        let r = f();
        std::mem::forget(guard);
        match r {
            Ok(v) => {
                if self.observed() {
                    self.observe_end(None, id, &[], start, false);
                }
                Ok(v)
            }
            Err(e) => Err(self.node_failed(id, start, e)),
        }
    }

    /// Node `id`'s task returned an error: observers hear of its end, and
    /// the run fails with it.
    #[cold]
    #[inline(never)]
    pub(crate) fn node_failed(&self, id: NodeId, start: u64, e: TaskError) -> Stopped {
        if self.observed() {
            self.observe_end(None, id, &[], start, true);
        }
        let task = self.run.fams[id.fam as usize].core().describe(id.idx);
        self.task_failed(task, e)
    }

    /// Async node `id` starts (`future.rs`): observers hear of it; returns
    /// the time, kept until it ends.
    #[inline]
    pub(crate) fn async_started(&self, id: NodeId) -> u64 {
        match self.observed() {
            true => self.observe_start(None, id, &[]),
            false => 0,
        }
    }

    /// Async node `id`, started at `start`, ended (`failed`: dropped
    /// unfinished, or failed).
    #[inline]
    pub(crate) fn async_finished(&self, id: NodeId, start: u64, failed: bool) {
        if self.observed() {
            self.observe_end(None, id, &[], start, failed);
        }
    }

    /// Async node `id`'s future panicked (while it was built, polled or
    /// dropped): the run fails with it, naming the task.
    #[cold]
    #[inline(never)]
    pub(crate) fn async_panicked(&self, id: NodeId, start: u64, payload: Box<dyn Any + Send>) {
        self.async_finished(id, start, true);
        let task = self.run.fams[id.fam as usize].core().describe(id.idx);
        let message = panic_message(&*payload);
        drop_payload(payload);
        self.run.fail(Error::TaskPanicked {
            task,
            message,
            others: 0,
        });
    }

    /// The task of call site `info` at loop indices `at` (in a fused
    /// block) returned an error: the run fails with it.
    #[cold]
    #[inline(never)]
    fn fused_failed(&self, info: &'static FamilyInfo, at: &[u32], e: TaskError) -> Stopped {
        self.task_failed(info.task(at), e)
    }

    /// Records that `task` returned an error: the run fails with it.
    fn task_failed(&self, task: TaskInfo, e: TaskError) -> Stopped {
        self.run.fail(Error::TaskFailed {
            task,
            source: e.0,
            error_type: e.1,
            others: 0,
        });
        Stopped
    }

    /// Runs `f` on behalf of node `id` (dropping its unused value, bringing
    /// in outside values): a panic fails the run as that node's, and
    /// observers hear nothing (it is not a task).
    #[inline]
    pub(crate) fn on_behalf_of<R>(&self, id: NodeId, f: impl FnOnce() -> R) -> R {
        let guard = Unwinding {
            cx: self,
            info: None,
            node: id,
            at: [],
        };
        let r = f();
        std::mem::forget(guard);
        r
    }

    fn mark(&self) -> &Marker {
        &self.mark
    }

    /// [`Stopped`] if the run has stopped: the work item ends.
    #[inline(always)]
    pub(crate) fn check(&self) -> Result<(), Stopped> {
        match self.stopped() {
            true => Err(Stopped),
            false => Ok(()),
        }
    }

    /// The task the mark names, for an error report.
    pub(crate) fn marked(&self, mark: Mark) -> Option<TaskInfo> {
        match mark {
            Mark::None => None,
            Mark::Node(id) => Some(self.run.fams[id.fam as usize].core().describe(id.idx)),
            Mark::Task(info, at, n) => Some(info.task(&at[..n as usize])),
        }
    }
}

/// What a caught panic was: a task's (recorded as the run's failure), or
/// plain code's.
#[cold]
pub(crate) fn caught(cx: &Cx<'_, '_>, payload: Box<dyn Any + Send>) {
    match cx.marked(cx.mark().get()) {
        Some(task) => {
            let message = panic_message(&*payload);
            cx.run.fail(Error::TaskPanicked {
                task,
                message,
                others: 0,
            });
            // Drop the payload here, inside the worker: its destructor
            // could panic too.
            drop_payload(payload);
        }
        None => cx.run.plain_panicked(payload),
    }
}

/// Drops a panic payload whose destructor may panic too.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)))
    {
        // A payload whose drop panics with a payload whose drop panics:
        // leak the second rather than unwind out of the runtime.
        std::mem::forget(again);
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

// ---------------------------------------------------------------------------
// Observers (`../observe.rs`): the events of a task and of a fused block.
// Nothing here runs unless the run has observers; the check is one load and
// a branch on the run's `Cx`.

use crate::observe::{now_ns, take_cache_use, BlockEvent, CacheUse, TaskEvent};

impl<'r, 'g> Cx<'r, 'g> {
    /// Whether the run has observers.
    #[inline(always)]
    pub(crate) fn observed(&self) -> bool {
        self.observers.is_some()
    }

    /// The call site and loop indices of a task: `info` and `at` for a
    /// fused task, node `id`'s family otherwise.
    fn with_site<R>(
        &self,
        info: Option<&'static FamilyInfo>,
        id: NodeId,
        at: &[u32],
        f: impl FnOnce(&'static FamilyInfo, &[u32]) -> R,
    ) -> R {
        match info {
            Some(info) => f(info, at),
            None => {
                let core = self.run.fams[id.fam as usize].core();
                core.at.with(id.idx, |at| f(core.info, at))
            }
        }
    }

    /// Tells the observers a task starts; returns the time.
    #[cold]
    #[inline(never)]
    fn observe_start(&self, info: Option<&'static FamilyInfo>, id: NodeId, at: &[u32]) -> u64 {
        let Some(obs) = self.observers else { return 0 };
        let start = now_ns();
        take_cache_use();
        self.with_site(info, id, at, |site, indices| {
            let ev = TaskEvent {
                run: self.run.watch.id,
                thread: self.w.index(),
                site,
                indices,
                start,
                end: 0,
                failed: false,
                cache: CacheUse::default(),
            };
            obs.each(|o| o.task_started(&ev));
        });
        start
    }

    /// Tells the observers a task ended.
    #[cold]
    #[inline(never)]
    fn observe_end(
        &self,
        info: Option<&'static FamilyInfo>,
        id: NodeId,
        at: &[u32],
        start: u64,
        failed: bool,
    ) {
        let Some(obs) = self.observers else { return };
        let end = now_ns();
        let cache = take_cache_use();
        self.with_site(info, id, at, |site, indices| {
            let ev = TaskEvent {
                run: self.run.watch.id,
                thread: self.w.index(),
                site,
                indices,
                start,
                end,
                failed,
                cache,
            };
            obs.each(|o| o.task_finished(&ev));
        });
    }

    /// A block of fused loop `fam` starts, to run at most iterations
    /// `lo..hi`. The watch it returns reports the block's end: give it to
    /// [`Cx::block_finished`]; if the block unwinds instead (a task in it
    /// failed, or the run stopped), dropping it reports that.
    #[inline(always)]
    pub(crate) fn block_started(&self, fam: u32, lo: u32, hi: u32) -> BlockWatch<'_, 'r, 'g> {
        let start = if self.observed() {
            self.observe_block(fam, lo, hi, BlockEnd::Start)
        } else {
            0
        };
        BlockWatch {
            cx: self,
            fam,
            lo,
            hi,
            start,
        }
    }

    /// The block `watch` reports on ran iterations `lo..hi`.
    #[inline(always)]
    pub(crate) fn block_finished(&self, watch: BlockWatch<'_, 'r, 'g>, lo: u32, hi: u32) {
        let (fam, start) = (watch.fam, watch.start);
        std::mem::forget(watch);
        if self.observed() {
            self.observe_block(fam, lo, hi, BlockEnd::Finished(start));
        }
    }

    /// Reports a block's start, end or unwinding; returns the time.
    #[cold]
    #[inline(never)]
    fn observe_block(&self, fam: u32, lo: u32, hi: u32, at: BlockEnd) -> u64 {
        let Some(obs) = self.observers else { return 0 };
        let now = now_ns();
        let mut ev = BlockEvent {
            run: self.run.watch.id,
            thread: self.w.index(),
            site: self.run.fams[fam as usize].core().info,
            lo,
            hi,
            start: now,
            end: 0,
            cache: take_cache_use(),
        };
        match at {
            BlockEnd::Start => {
                ev.cache = CacheUse::default();
                obs.each(|o| o.block_started(&ev))
            }
            BlockEnd::Finished(start) => {
                ev.start = start;
                ev.end = now;
                obs.each(|o| o.block_finished(&ev));
            }
            BlockEnd::Unwound(start) => {
                ev.start = start;
                ev.end = now;
                obs.each(|o| o.block_unwound(&ev));
            }
        }
        now
    }
}

/// What [`Cx::observe_block`] reports.
#[derive(Clone, Copy)]
enum BlockEnd {
    Start,
    /// The block that started at this time finished.
    Finished(u64),
    /// The block that started at this time unwound.
    Unwound(u64),
}

/// A fused block being run, from [`Cx::block_started`]: handed back to
/// [`Cx::block_finished`] when the block ends, or dropped while it unwinds,
/// which tells the observers (so that one that entered something at the
/// block's start, such as a `tracing` span, can leave it). Forgotten on the
/// way out, it costs nothing when the block does not unwind.
pub(crate) struct BlockWatch<'a, 'r, 'g> {
    cx: &'a Cx<'r, 'g>,
    fam: u32,
    lo: u32,
    hi: u32,
    start: u64,
}

impl Drop for BlockWatch<'_, '_, '_> {
    #[cold]
    fn drop(&mut self) {
        if self.cx.observed() {
            let (fam, lo, hi, start) = (self.fam, self.lo, self.hi, self.start);
            self.cx.observe_block(fam, lo, hi, BlockEnd::Unwound(start));
        }
    }
}

// ---------------------------------------------------------------------------
// Progress of fused blocks.

/// The iterations a fused block has run: counted in a local, published to
/// its loop's counter at the block's probe points and when it ends (or
/// unwinds), so a light loop touches the shared counter every few thousand
/// iterations, never per task. Tasks run node by node are not counted at
/// all (see `progress.rs`).
pub struct Tally<'a> {
    to: &'a AtomicU32,
    n: u32,
}

impl<'a> Tally<'a> {
    pub(crate) fn new(to: &'a AtomicU32) -> Self {
        Tally { to, n: 0 }
    }

    /// Counts `k` more iterations.
    #[inline(always)]
    pub(crate) fn add(&mut self, k: u32) {
        self.n += k;
    }

    /// Publishes what was counted.
    #[inline]
    pub(crate) fn publish(&mut self) {
        if self.n > 0 {
            self.to.fetch_add(self.n, Ordering::Relaxed);
            self.n = 0;
        }
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        self.publish();
    }
}

// ---------------------------------------------------------------------------
// Cancellation, as a task sees it.

/// Whether the graph of the task running on this thread has stopped: it was
/// cancelled ([`Handle::cancel`]), its deadline passed
/// ([`Runtime::compute_timeout`]), or another of its tasks failed. A long
/// task can check it now and then and return early: its result will not be
/// used. `false` outside a task.
///
/// Cost: a thread-local read and a load, a few nanoseconds.
///
/// ```
/// use std::time::Duration;
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn search(limit: u64) -> u64 {
///     let mut best = 0;
///     for i in 0..limit {
///         if i % 1024 == 0 && taskdag::cancelled() {
///             break; // nobody will read the result
///         }
///         best = best.max(i % 7919);
///     }
///     best
/// }
///
/// assert!(!taskdag::cancelled()); // not inside a task
/// let rt = Runtime::new(2)?;
/// let h = rt.spawn(graph! { search(u64::MAX) });
/// std::thread::sleep(Duration::from_millis(5));
/// h.cancel();
/// assert!(matches!(h.wait(), Err(taskdag::Error::Cancelled)));
/// # Ok::<(), taskdag::Error>(())
/// ```
///
/// [`Handle::cancel`]: crate::Handle::cancel
/// [`Runtime::compute_timeout`]: crate::Runtime::compute_timeout
pub fn cancelled() -> bool {
    super::registry::WorkerCtx::current(|w| w.is_some_and(|w| w.run_stopped()))
}

/// Runs `f`, a wait for something another graph makes, without holding
/// the current task's place among the `n` tasks a runtime runs at once:
/// the place is lent while `f` runs and taken again (waiting for a free
/// one if need be) before the task goes on. Outside a task it just calls
/// `f`.
///
/// A runtime's own waits already do this (`compute` and
/// [`Handle::wait`] inside a task); wrap in it a wait the runtime cannot
/// see, such as a channel fed by a graph another thread computes on the
/// same runtime, which could otherwise wait forever for a place held by
/// the waiting tasks themselves.
///
/// ```
/// use std::sync::{mpsc, Mutex};
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn receive(rx: &Mutex<mpsc::Receiver<u64>>) -> u64 {
///     taskdag::blocking(|| rx.lock().unwrap().recv().unwrap())
/// }
/// #[delayed]
/// fn two() -> u64 {
///     2
/// }
///
/// let rt = Runtime::new(1)?;
/// let (tx, rx) = mpsc::channel();
/// // A graph captures copies: of a reference to the receiver.
/// let rx = &Mutex::new(rx);
/// std::thread::scope(|s| {
///     let waiting = s.spawn(|| rt.compute(graph! { receive(rx) }));
///     // Runs even while the pool's only thread waits in `receive`.
///     tx.send(rt.compute(graph! { two() })?).unwrap();
///     assert_eq!(waiting.join().unwrap()?, 2);
///     Ok::<(), taskdag::Error>(())
/// })?;
/// # Ok::<(), taskdag::Error>(())
/// ```
///
/// [`Handle::wait`]: crate::Handle::wait
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    super::registry::lending(f)
}
