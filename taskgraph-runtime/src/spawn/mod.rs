//! Running graphs in the background: [`Runtime::spawn`] and its
//! [`Handle`], awaited graphs ([`Computing`]), and deadlines.
//!
//! A spawned or awaited graph's body (the future the closure `graph!`
//! makes returns, holding its families) is polled by the pool's own work
//! items, never by a thread of its own (`body.rs`): a spawned graph is
//! built by a pool thread, an awaited one by the thread that calls
//! `compute_async`; the run's end (or a cancel) wakes the body, and a pool
//! thread polls it again to tear the run down and store the result in the
//! handle's cell (`Finish`). Tasks run on the pool, shared with every
//! other graph, so any number of graphs in flight costs no thread.
//!
//! [`Runtime::spawn`]: crate::Runtime::spawn

mod body;
mod feed;

pub use feed::{HandleRead, PlainRead, PlainReadOk, SpawnedOutput};

pub(crate) use body::{Body, Live};

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::exec::control::{Control, CANCELLED, TIMED_OUT};
use crate::exec::finish::{Ended, Finish};
use crate::exec::progress::{FamilyProgress, Progress};
use crate::exec::registry::{Registry, WorkerCtx};
use crate::sync::{AtomicUsize, Ordering};

/// A graph running in the background, from [`Runtime::spawn`] (dask's
/// `persist`): wait for its output, poll its progress, cancel it, or give
/// its outputs to later graphs before they exist.
///
/// - [`wait`](Handle::wait) blocks until the output is there (a thread of
///   the pool that waits runs other work meanwhile);
///   [`try_wait`](Handle::try_wait) and [`wait_timeout`](Handle::wait_timeout)
///   return the output if it is ready and give the handle back otherwise.
/// - [`progress`](Handle::progress) counts tasks done, in the graph and
///   failed; [`progress_by_family`](Handle::progress_by_family) per call
///   site.
/// - [`cancel`](Handle::cancel) stops the run: running tasks finish, no
///   other starts, every value produced is dropped, and `wait` returns
///   [`Error::Cancelled`].
/// - In async code, `handle.await` returns what `wait` would without
///   blocking the executor's thread (a `Handle` is [`IntoFuture`]; see
///   [`Runtime::compute_async`] for a future that cancels when dropped).
/// - A later graph reads a handle's outputs before they exist:
///   `tree_reduce(handle, f)` inside `graph!` takes a `Handle<Vec<T>>` (its
///   output moved in) or a reference to one (cloned, so several graphs can
///   read it). Only the tasks that read the outputs wait, and they hold no
///   thread while they do.
///
/// ```
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
/// #[delayed]
/// fn add(x: i64, y: i64) -> i64 {
///     x + y
/// }
///
/// let rt = Runtime::new(2)?;
/// let n = 100;
/// // dask's `zs = persist(*zs)`: the loop runs in the background ...
/// let zs = rt.spawn(graph! {
///     let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
///     zs
/// });
/// // ... and the sum is built on it while it runs.
/// let zs = &zs;
/// let total = rt.compute(graph! { tree_reduce(zs, add) })?;
/// assert_eq!(total, (1..=n).sum::<i64>());
/// assert_eq!(zs.progress().done, n as u64);
/// # Ok::<(), taskdag::Error>(())
/// ```
///
/// Dropping a handle detaches the run, as dropping a
/// [`std::thread::JoinHandle`] detaches its thread: the run still finishes,
/// and its output is dropped. A handle is `Send + Sync` (for `T: Send`), and
/// still returns after its runtime was dropped (the runtime waits for its
/// spawned graphs).
///
/// [`Runtime::spawn`]: crate::Runtime::spawn
/// [`Runtime::compute_async`]: crate::Runtime::compute_async
pub struct Handle<T> {
    pub(crate) s: Arc<Spawned<T>>,
}

/// A clone is another handle on the same run: its progress, its
/// cancellation and its output. The output goes to whichever takes it
/// first (`wait`, or a graph that owns a handle and moves the outputs in);
/// `wait` on another clone afterwards returns [`Error::InputFailed`] saying
/// so, while graphs that read a reference to a handle clone the outputs
/// and can all read them. A `graph!` that captures a handle holds it as
/// such a clone while it is looked at (`to_dot`), and takes nothing.
///
/// ```
/// use taskdag::{delayed, graph, Error, Runtime};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 { x + 1 }
///
/// let rt = Runtime::new(2)?;
/// let h = rt.spawn(graph! { inc(1) });
/// let other = h.clone();
/// assert_eq!(h.wait()?, 2);
/// assert!(matches!(other.wait(), Err(Error::InputFailed { .. })));
/// # Ok::<(), Error>(())
/// ```
impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle {
            s: Arc::clone(&self.s),
        }
    }
}

/// What a spawned run shares with its handle (and with the graphs that read
/// its outputs).
pub(crate) struct Spawned<T> {
    pub(crate) ctl: Control,
    pub(crate) out: Finish<T>,
    /// The pool the run's tasks run on (a thread of it that waits helps).
    reg: Arc<Registry>,
    /// Threads of that pool waiting in `wait`, asleep with the pool: the
    /// end of the run wakes them.
    helpers: AtomicUsize,
    /// A poll of the graph's body, queued for the pool: whichever of its
    /// item and a thread blocked in `wait` takes it runs it (`body.rs`).
    queued: Mutex<Option<Arc<dyn body::Queued>>>,
}

impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("finished", &self.is_finished())
            .field("progress", &self.s.ctl.snapshot().total())
            .finish()
    }
}

impl<T> Spawned<T> {
    fn finish(&self, ended: Ended<T>) {
        self.ctl.end();
        self.out.finish(ended);
        self.wake_helpers();
    }

    /// Blocks until the run has finished, outside its pool: runs the polls
    /// of its body queued meanwhile that no thread of the pool has taken
    /// (`body.rs`), so that a run whose last steps wait behind long tasks
    /// holding every thread of the pool ends all the same.
    fn wait_claiming(&self) {
        let take = || self.queued.lock().unwrap_or_else(|p| p.into_inner()).take();
        while !self.out.wait_or(&|| {
            self.queued
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
        }) {
            if let Some(poll) = take() {
                poll.poll_claimed();
            }
        }
    }

    /// Wakes the owners asleep with the pool (a helper sleeps as one,
    /// `WorkerCtx::help_until`) if threads of it wait for this run (its
    /// end, or its graph built): called after what they wait for is set.
    /// SeqCst: a helper counts itself before it checks (see
    /// `Handle::block`, `Handle::wait_built`).
    fn wake_helpers(&self) {
        if self.helpers.load(Ordering::SeqCst) > 0 {
            self.reg.sleep.wake_owners();
        }
    }
}

impl<T> Handle<T> {
    /// Waits for the graph to finish and returns its output.
    ///
    /// Called on a thread of the runtime (inside a task), it runs other
    /// work while it waits instead of blocking the thread.
    ///
    /// # Errors
    /// The graph's own error, as [`Runtime::compute`] would return it;
    /// [`Error::Cancelled`] after [`cancel`](Handle::cancel) stopped it.
    /// A panic outside any task (plain code in a loop's body) is raised
    /// again here, as `compute` would.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// #[delayed]
    /// fn check(x: u32) -> u32 {
    ///     assert!(x < 3, "too big");
    ///     x
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let ok = rt.spawn(graph! { check(1) });
    /// let bad = rt.spawn(graph! { check(5) });
    /// assert_eq!(ok.wait()?, 1);
    /// assert!(matches!(bad.wait(), Err(Error::TaskPanicked { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// [`Runtime::compute`]: crate::Runtime::compute
    pub fn wait(self) -> Result<T, Error> {
        self.block();
        self.take()
    }

    /// Returns the output if the graph has finished, else gives the handle
    /// back. Never blocks.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn one() -> u8 {
    ///     1
    /// }
    ///
    /// let rt = Runtime::new(1)?;
    /// let mut h = rt.spawn(graph! { one() });
    /// let out = loop {
    ///     match h.try_wait() {
    ///         Ok(out) => break out?,
    ///         Err(running) => h = running, // do something else meanwhile
    ///     }
    /// };
    /// assert_eq!(out, 1);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Err(self)` if the graph is still running; otherwise as
    /// [`wait`](Handle::wait).
    #[allow(clippy::result_large_err)]
    pub fn try_wait(self) -> Result<Result<T, Error>, Self> {
        if self.is_finished() {
            Ok(self.take())
        } else {
            Err(self)
        }
    }

    /// Waits at most `timeout` for the graph to finish: returns its output
    /// if it did, else gives the handle back.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn nap(ms: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let n = 8;
    /// let mut h = rt.spawn(graph! {
    ///     let v: Vec<_> = (0..n).map(|_| nap(5)).collect();
    ///     v
    /// });
    /// let naps = loop {
    ///     match h.wait_timeout(Duration::from_millis(10)) {
    ///         Ok(out) => break out?,
    ///         Err(running) => {
    ///             println!("{}", running.progress()); // e.g. `4/8`
    ///             h = running;
    ///         }
    ///     }
    /// };
    /// assert_eq!(naps, vec![5; 8]);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Err(self)` if the graph is still running after `timeout`; otherwise
    /// as [`wait`](Handle::wait).
    #[allow(clippy::result_large_err)]
    pub fn wait_timeout(self, timeout: Duration) -> Result<Result<T, Error>, Self> {
        // Inside a task, its place among the running tasks is lent meanwhile.
        if crate::exec::registry::lending(|| self.s.out.wait_for(timeout)) {
            Ok(self.take())
        } else {
            Err(self)
        }
    }

    /// Whether the graph has finished (its output, or its error, is there):
    /// then [`wait`](Handle::wait) returns at once.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn one() -> u8 {
    ///     1
    /// }
    ///
    /// let rt = Runtime::new(1)?;
    /// let h = rt.spawn(graph! { one() });
    /// while !h.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(h.wait()?, 1);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.s.out.is_finished()
    }

    /// Stops the graph: tasks already running finish (a long task can
    /// check [`cancelled`](crate::cancelled) and return early), no other
    /// task starts, every value produced is dropped, and
    /// [`wait`](Handle::wait) returns [`Error::Cancelled`]. Graphs that read
    /// this one's outputs fail with [`Error::InputFailed`].
    ///
    /// Cancelling is a request: if the run has already finished (or
    /// finishes before it sees the request), this does nothing and `wait`
    /// returns the output. Calling it again does nothing more.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// static RAN: AtomicUsize = AtomicUsize::new(0);
    ///
    /// #[delayed]
    /// fn step(i: u64) -> u64 {
    ///     RAN.fetch_add(1, Ordering::Relaxed);
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    ///     i
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let h = rt.spawn(graph! {
    ///     let mut x = step(0);
    ///     for _ in 0..10_000 {
    ///         x = step(x);
    ///     }
    ///     x
    /// });
    /// std::thread::sleep(std::time::Duration::from_millis(5));
    /// h.cancel();
    /// assert!(matches!(h.wait(), Err(Error::Cancelled)));
    /// assert!(RAN.load(Ordering::Relaxed) < 10_000);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn cancel(&self) {
        self.s.ctl.request_stop(CANCELLED, None);
    }

    /// How many of the graph's tasks have finished, how many there are and
    /// how many failed, read while it runs.
    ///
    /// The total is known from the start: while the graph is still being
    /// built (its plain code runs on a thread of the pool right after
    /// `spawn` returns, usually for microseconds), this waits until it is built
    /// (inside a task, lending the task's place meanwhile). A run that
    /// ended before its graph was built (cancelled, or failed while
    /// building) reads `0/0`.
    ///
    /// Cost: no counting per task; reading it looks at the state of every
    /// node run node by node (a fraction of a nanosecond each) and at a
    /// counter per fused loop.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn nap(i: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(1));
    ///     i
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let h = rt.spawn(graph! {
    ///     let v: Vec<_> = (0..40).map(|i| nap(i)).collect();
    ///     v
    /// });
    /// let p = h.progress(); // somewhere between 0/40 and 40/40
    /// assert_eq!(p.total, 40);
    /// assert!(p.done <= p.total && p.failed == 0);
    /// let v = h.wait()?;
    /// assert_eq!(v.len(), 40);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn progress(&self) -> Progress {
        self.wait_built();
        self.s.ctl.snapshot().total()
    }

    /// Waits until the graph is built or its run is over, and returns its
    /// output's length if that is a vector of lazy values. On a thread of
    /// the pool the graph is built on (its first poll may be queued behind
    /// this very thread's work), it runs other work meanwhile, as
    /// [`wait`](Handle::wait) does; elsewhere inside a task it lends the
    /// task's place.
    fn wait_built(&self) -> Option<usize> {
        let s = &*self.s;
        if !s.ctl.is_built() {
            WorkerCtx::current(|cur| match cur {
                Some(w) if std::ptr::eq(w.reg, &*s.reg) && w.has_token() => {
                    // SeqCst, before checking: see `Spawned::wake_helpers`.
                    s.helpers.fetch_add(1, Ordering::SeqCst);
                    w.help_until(&|| s.ctl.is_built());
                    s.helpers.fetch_sub(1, Ordering::SeqCst);
                }
                Some(w) if w.has_token() => {
                    let _back = w.lend();
                    s.ctl.wait_built();
                }
                _ => {
                    s.ctl.wait_built();
                }
            });
        }
        s.ctl.wait_built()
    }

    /// [`progress`](Handle::progress) per family (per call site of a
    /// `#[delayed]` function in the graph), in the order the graph makes
    /// them; call sites with no task in this run are left out. Like
    /// `progress`, this waits for the graph to be built.
    /// [`FamilyProgress::label`] names each as progress bars do (`inc`, or
    /// `add @ src/main.rs:14` where two call sites share a name).
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    /// #[delayed]
    /// fn add(x: i64, y: i64) -> i64 {
    ///     x + y
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let h = rt.spawn(graph! {
    ///     let v: Vec<_> = (0..8).map(|i| inc(i)).collect();
    ///     tree_reduce(v, add)
    /// });
    /// while !h.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// let families = h.progress_by_family();
    /// let counts: Vec<_> = families.iter().map(|f| (f.function, f.progress.total)).collect();
    /// assert_eq!(counts, [("inc", 8), ("add", 7)]);
    /// assert_eq!(h.wait()?, 36);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn progress_by_family(&self) -> Vec<FamilyProgress> {
        self.wait_built();
        self.s.ctl.snapshot().labelled()
    }

    /// Blocks until the run has finished. Inside a task (a thread holding a
    /// token) the token is lent while it waits, and taken again before the
    /// task goes on; on a thread of the pool the run uses, it runs other
    /// work meanwhile, with the token while it has one.
    fn block(&self) {
        if self.is_finished() {
            return;
        }
        let s = &*self.s;
        WorkerCtx::current(|cur| match cur {
            Some(w) if std::ptr::eq(w.reg, &*s.reg) && w.has_token() => {
                // SeqCst, before checking `done`: see `Spawned::finish`.
                s.helpers.fetch_add(1, Ordering::SeqCst);
                w.help_until(&|| s.out.is_finished());
                s.helpers.fetch_sub(1, Ordering::SeqCst);
            }
            Some(w) if w.has_token() => {
                let _back = w.lend();
                s.wait_claiming();
            }
            _ => s.wait_claiming(),
        })
    }

    /// Takes the result of a finished run.
    fn take(self) -> Result<T, Error> {
        match self.s.out.take() {
            Ended::Result(r) => r,
            Ended::Panic(p) => std::panic::resume_unwind(p),
        }
    }
}

/// Awaiting a handle waits for its graph without blocking the executor:
/// `rt.spawn(g).await` is [`wait`](Handle::wait) for async code (see
/// [`Computing`]). Dropping the future before it is ready detaches the
/// run, as dropping the handle does; [`Runtime::compute_async`] gives a
/// future that cancels the graph instead.
///
/// ```
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     struct Unpark(std::thread::Thread);
/// #     impl std::task::Wake for Unpark {
/// #         fn wake(self: std::sync::Arc<Self>) { self.0.unpark() }
/// #     }
/// #     let waker = std::sync::Arc::new(Unpark(std::thread::current())).into();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         match f.as_mut().poll(&mut cx) {
/// #             std::task::Poll::Ready(v) => return v,
/// #             std::task::Poll::Pending => std::thread::park(),
/// #         }
/// #     }
/// # }
/// let rt = Runtime::new(2)?;
/// let h = rt.spawn(graph! { inc(inc(1)) });
/// // In an `async fn` (any executor: tokio, smol, a hand-written one):
/// let three = block_on(async { h.await })?;
/// assert_eq!(three, 3);
/// # Ok::<(), taskdag::Error>(())
/// ```
///
/// [`Runtime::compute_async`]: crate::Runtime::compute_async
impl<T> IntoFuture for Handle<T> {
    type Output = Result<T, Error>;
    type IntoFuture = Computing<T>;

    fn into_future(self) -> Computing<T> {
        Computing::new(self, false)
    }
}

/// A graph's output, awaited: the future of
/// [`Runtime::compute_async`] and of `handle.await` (a [`Handle`] is
/// [`IntoFuture`]). It resolves with what [`Runtime::compute`] would
/// return: the output, or the graph's [`Error`] (a panic outside any task
/// is raised again where it is polled, as `compute` would).
///
/// The graph runs on the runtime's pool whether or not the future is
/// polled; awaiting it holds no thread. A pending poll subscribes the
/// task's [`Waker`](std::task::Waker) in the run's result cell (once: a
/// later poll replaces it there), and the end of the run wakes it once, so
/// it works with any executor and is never polled in a loop. Cost: one
/// lock per pending poll, beyond [`Runtime::spawn`]'s.
///
/// Dropped before it is ready, the future withdraws its waker and, from
/// `compute_async`, cancels the graph as [`Handle::cancel`] does (tasks
/// already running finish, no other starts, every value produced is
/// dropped); from `handle.await`, it detaches the run as dropping the
/// handle does. Polling it again after it returned its output panics.
///
/// [`Runtime::compute`]: crate::Runtime::compute
/// [`Runtime::compute_async`]: crate::Runtime::compute_async
/// [`Runtime::spawn`]: crate::Runtime::spawn
#[must_use = "futures do nothing unless awaited; dropped, this one cancels (compute_async) or detaches (handle.await) its graph"]
pub struct Computing<T> {
    /// The run; `None` once the output was returned, or if it never
    /// started (`failed`).
    h: Option<Handle<T>>,
    /// Why the graph could not start (no runtime), until it is returned.
    failed: Option<Error>,
    /// The waker's subscription in the run's result cell; `0` for none.
    id: u64,
    /// Cancel the run if dropped before it is ready.
    cancel_on_drop: bool,
}

impl<T> Computing<T> {
    pub(crate) fn new(h: Handle<T>, cancel_on_drop: bool) -> Self {
        Computing {
            h: Some(h),
            failed: None,
            id: 0,
            cancel_on_drop,
        }
    }

    /// A future that resolves with `e` at once: the graph could not start.
    pub(crate) fn failed(e: Error) -> Self {
        Computing {
            h: None,
            failed: Some(e),
            id: 0,
            cancel_on_drop: false,
        }
    }

    /// The handle of the run being awaited: its
    /// [`progress`](Handle::progress), [`cancel`](Handle::cancel)
    /// (then the future resolves with [`Error::Cancelled`]). `None` once
    /// the future has returned the output, or when the graph never started
    /// ([`Graph::compute_async`] with no default runtime: the future
    /// resolves with that error).
    ///
    /// [`Graph::compute_async`]: crate::Graph::compute_async
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let fut = rt.compute_async(graph! {
    ///     let v: Vec<_> = (0..10).map(|i| inc(i)).collect();
    ///     v
    /// });
    /// assert_eq!(fut.handle().unwrap().progress().total, 10);
    /// # drop(fut);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn handle(&self) -> Option<&Handle<T>> {
        self.h.as_ref()
    }
}

impl<T> Future for Computing<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        // `Computing` is `Unpin`: nothing in it is pinned.
        let this = &mut *self;
        if let Some(e) = this.failed.take() {
            return Poll::Ready(Err(e));
        }
        let h = this
            .h
            .as_ref()
            .expect("a taskgraph future polled again after it returned its output");
        if !h.s.out.poll_finished(&mut this.id, cx.waker()) {
            return Poll::Pending;
        }
        // The subscription, if any, was taken by the run's end.
        this.id = 0;
        let h = this.h.take().expect("checked above");
        Poll::Ready(h.take())
    }
}

impl<T> Drop for Computing<T> {
    fn drop(&mut self) {
        let Some(h) = self.h.take() else { return };
        if self.id != 0 {
            h.s.out.unsubscribe(self.id);
        }
        if self.cancel_on_drop {
            h.cancel();
        }
    }
}

impl<T> std::fmt::Debug for Computing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Computing")
            .field("handle", &self.h)
            .field("failed", &self.failed)
            .field("cancel_on_drop", &self.cancel_on_drop)
            .finish()
    }
}

impl<T> Handle<Vec<T>> {
    /// The length of the output vector: known as soon as the graph is built
    /// when it ends with a vector of lazy values, else once it has finished.
    pub(crate) fn output_len(&self) -> Result<usize, Error> {
        if let Some(n) = self.wait_built() {
            return Ok(n);
        }
        self.block();
        self.s.out.with(|r| match r {
            Ok(v) => Ok(v.len()),
            Err(message) => Err(Error::InputFailed { message }),
        })
    }
}

/// A new run's shared state: its control and result cell, on `reg`.
fn spawned<T>(reg: &Arc<Registry>) -> Arc<Spawned<T>> {
    Arc::new(Spawned {
        ctl: Control::new(),
        out: Finish::new(),
        reg: Arc::clone(reg),
        helpers: AtomicUsize::new(0),
        queued: Mutex::new(None),
    })
}

/// [`Runtime::spawn`](crate::Runtime::spawn): `body` is called with the
/// run's control and `keep` (the runtime) and returns the graph's body,
/// whose first poll (which builds the graph) is a work item of the pool
/// (`body.rs`); `reactor` is entered around its polls.
pub(crate) fn spawn<T, K>(
    reg: &Arc<Registry>,
    live: &Arc<Live>,
    keep: Arc<K>,
    #[cfg(feature = "tokio")] reactor: Option<tokio::runtime::Handle>,
    body: impl for<'c> FnOnce(&'c Control, &'c K) -> Body<'c, T>,
) -> Handle<T>
where
    T: Send + 'static,
    K: Send + Sync + 'static,
{
    let s = spawned(reg);
    body::start_spawned(
        &s,
        live,
        keep,
        #[cfg(feature = "tokio")]
        reactor,
        body,
    );
    Handle { s }
}

/// [`Runtime::compute_async`](crate::Runtime::compute_async): as
/// [`spawn`], but the body's first poll happens here, on the calling
/// thread: the graph is built and its run seeded here, and the poll
/// returns `Pending` rather than run a task (`exec/drive.rs`,
/// `Park::Yield`). The pool runs the tasks, and a work item of the pool
/// polls the body again when its run ends (`body.rs`).
pub(crate) fn compute_async<T, K>(
    reg: &Arc<Registry>,
    live: &Arc<Live>,
    keep: Arc<K>,
    body: impl for<'c> FnOnce(&'c Control, &'c K) -> Body<'c, T>,
) -> Computing<T>
where
    T: Send + 'static,
    K: Send + Sync + 'static,
{
    let s = spawned(reg);
    body::start_awaited(&s, live, keep, body);
    Computing::new(Handle { s }, true)
}

// ---------------------------------------------------------------------------
// Deadlines.

struct Entry {
    id: u64,
    at: Instant,
    limit: Duration,
    ctl: Weak<Control>,
}

#[derive(Default)]
struct Deadlines {
    entries: Vec<Entry>,
    next_id: u64,
    shutdown: bool,
    thread: Option<JoinHandle<()>>,
}

struct TimerShared {
    d: Mutex<Deadlines>,
    cv: Condvar,
}

/// The runtime's deadlines: a thread, started on first use, stops each run
/// whose time is up.
pub(crate) struct Timer {
    shared: Arc<TimerShared>,
    name: String,
}

impl Timer {
    pub(crate) fn new(name: String) -> Self {
        Timer {
            shared: Arc::new(TimerShared {
                d: Mutex::new(Deadlines::default()),
                cv: Condvar::new(),
            }),
            name,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Deadlines> {
        self.shared.d.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the run of `ctl` when `limit` has passed; returns the entry,
    /// for [`Timer::remove`].
    pub(crate) fn add(&self, limit: Duration, ctl: &Arc<Control>) -> u64 {
        let Some(at) = Instant::now().checked_add(limit) else {
            return 0; // never
        };
        let mut d = self.lock();
        d.next_id += 1;
        let id = d.next_id;
        // The timer thread sleeps until the earliest deadline: wake it only
        // for an earlier one.
        let earliest = d.entries.iter().all(|e| e.at > at);
        d.entries.push(Entry {
            id,
            at,
            limit,
            ctl: Arc::downgrade(ctl),
        });
        if d.thread.is_none() && !d.shutdown {
            let shared = Arc::clone(&self.shared);
            match std::thread::Builder::new()
                .name(self.name.clone())
                .spawn(move || tick(&shared))
            {
                Ok(t) => d.thread = Some(t),
                Err(e) => {
                    // No timer thread: stop the run at once rather than let
                    // it run without its deadline.
                    d.entries.retain(|e| e.id != id);
                    drop(d);
                    let _ = e;
                    ctl.request_stop(TIMED_OUT, Some(limit));
                    return 0;
                }
            }
        }
        drop(d);
        if earliest {
            self.shared.cv.notify_one();
        }
        id
    }

    /// Forgets entry `id` (its run is over).
    pub(crate) fn remove(&self, id: u64) {
        if id != 0 {
            self.lock().entries.retain(|e| e.id != id);
        }
    }

    /// Stops the timer thread and waits for it.
    pub(crate) fn shutdown(&self) {
        let mut d = self.lock();
        d.shutdown = true;
        let t = d.thread.take();
        drop(d);
        self.shared.cv.notify_all();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

/// The timer thread: sleeps until the earliest deadline, stops its run.
fn tick(shared: &TimerShared) {
    let mut d = shared.d.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if d.shutdown {
            return;
        }
        let now = Instant::now();
        let next = d
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.at)
            .map(|(i, e)| (i, e.at));
        match next {
            None => d = shared.cv.wait(d).unwrap_or_else(|p| p.into_inner()),
            Some((i, at)) if at <= now => {
                let e = d.entries.swap_remove(i);
                drop(d);
                if let Some(ctl) = e.ctl.upgrade() {
                    ctl.request_stop(TIMED_OUT, Some(e.limit));
                }
                d = shared.d.lock().unwrap_or_else(|p| p.into_inner());
            }
            Some((_, at)) => {
                d = shared
                    .cv
                    .wait_timeout(d, at - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }
}
