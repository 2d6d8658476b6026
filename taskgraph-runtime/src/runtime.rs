//! The `Runtime`: a fixed pool of threads shared by every graph, and its
//! settings.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::Error;
use crate::exec::cache::Cache;
use crate::exec::control::Control;
use crate::exec::part::Codec;
use crate::exec::registry::Registry;
use crate::plan::Part;
use crate::scope::Host;
use crate::spawn::{Body, Handle, Live, Timer};
use crate::view::{Describe, Instance, Svg, Tasks, Template, ViewError, Viewer};

/// A task graph, as built by `graph!`: computing it yields `Output`.
///
/// A graph is a value: nothing runs until it is given to
/// [`Runtime::compute`](crate::Runtime::compute) (or [`Graph::compute`]),
/// which consumes it, or to [`Runtime::spawn`](crate::Runtime::spawn). It
/// can be looked at first without running a task ([`Graph::to_dot`],
/// [`Graph::visualize`], [`Graph::view`], [`Graph::tasks`]), and with the
/// `cluster` feature the function that returns it is sent to a dask cluster
/// with its inputs (`Dask::spawn(inputs, graph_fn)`). This one type
/// does all of it: a function returns `impl Graph<Output = T>`, and a graph
/// chosen at run time is a `Box<dyn Graph<Output = T> + Send>`, which is a
/// graph too.
///
/// What a `graph!` captures must be `Clone` (looking at a graph runs its
/// plain code on a copy of its captures; computing it moves them), so
/// every graph is `Clone`: clone it to compute it again.
///
/// One function, every use (on a cluster too: `dask.spawn(256, tutorial)`,
/// see the cluster guide):
///
/// ```
/// use taskdag::{delayed, graph, Graph, Runtime};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 { x + 1 }
/// #[delayed]
/// fn add(x: i64, y: i64) -> i64 { x + y }
///
/// fn tutorial(n: i64) -> impl Graph<Output = i64> {
///     graph! {
///         let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
///         tree_reduce(zs, add)
///     }
/// }
///
/// let rt = Runtime::new(2)?;
/// assert_eq!(rt.compute(tutorial(4))?, 10); // compute
/// assert_eq!(rt.spawn(tutorial(4)).wait()?, 10); // in the background
/// let g = tutorial(4); // look at it, then compute it
/// assert_eq!(g.tasks()?.total, 7);
/// assert!(g.to_dot()?.contains("inc[i=3]"));
/// assert!(g.template_dot().contains("(0..n).map(|i| ..)"));
/// let svg = g.visualize(std::env::temp_dir().join("taskgraph-tutorial.svg"))?;
/// assert!(svg.as_str().contains("inc"));
/// assert_eq!(g.compute()?, 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// ```
/// use taskdag::{delayed, graph, Graph, Runtime};
///
/// #[delayed]
/// fn inc(x: u64) -> u64 { x + 1 }
/// #[delayed]
/// fn double(x: u64) -> u64 { 2 * x }
///
/// let rt = Runtime::new(2)?;
/// for fast in [false, true] {
///     // Two different graphs, one type.
///     let g: Box<dyn Graph<Output = u64> + Send> = if fast {
///         Box::new(graph! { double(20) })
///     } else {
///         Box::new(graph! { inc(inc(38)) })
///     };
///     assert_eq!(rt.compute(g)?, 40);
/// }
/// let n = 3;
/// let g = graph! { inc(n) };
/// assert_eq!(rt.compute(g.clone())?, 4);
/// assert_eq!(rt.compute(g)?, 4);
/// # Ok::<(), taskdag::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a task graph",
    label = "expected a graph",
    note = "build a graph with `taskdag::graph!`, or return one from a function as `impl taskdag::Graph<Output = T>`"
)]
pub trait Graph {
    /// The value of the graph's final expression: one output, a tuple of
    /// outputs, or a `Vec` of outputs.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Graph};
    ///
    /// #[delayed]
    /// fn inc(x: u64) -> u64 { x + 1 }
    /// #[delayed]
    /// fn name(x: u64) -> String { format!("n{x}") }
    ///
    /// // A tuple of lazy values is a tuple of outputs.
    /// fn both(x: u64) -> impl Graph<Output = (u64, String)> {
    ///     graph! { (inc(x), name(x)) }
    /// }
    /// assert_eq!(both(1).compute()?, (2, "n1".to_owned()));
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    type Output;

    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn __run(self, host: &Host, ctl: Option<&Control>) -> Result<Self::Output, Error>;

    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn __run_boxed(
        self: Box<Self>,
        host: &Host,
        ctl: Option<&Control>,
    ) -> Result<Self::Output, Error>;

    /// The graph's body, mapped to its output, to be polled as a future
    /// (`compute_async`): it borrows `host` and `ctl` for `'h`.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn __start<'h>(self, host: &'h Host, ctl: &'h Control) -> Body<'h, Self::Output>
    where
        Self: Sized + 'h;

    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn __start_boxed<'h>(
        self: Box<Self>,
        host: &'h Host,
        ctl: &'h Control,
    ) -> Body<'h, Self::Output>
    where
        Self: 'h;

    /// Instantiates the graph and runs the part `part` plans on `runtime`;
    /// returns the output if the plan takes it (what a cluster runs).
    #[doc(hidden)]
    fn __part(self, runtime: &Runtime, part: &dyn Part) -> Result<Option<Self::Output>, Error>
    where
        Self: Sized;

    #[doc(hidden)]
    fn __part_boxed(
        self: Box<Self>,
        runtime: &Runtime,
        part: &dyn Part,
    ) -> Result<Option<Self::Output>, Error>;

    /// The codec of the graph's task values, for a cluster; or, when some
    /// of them cannot be serialized, the names of the value types.
    #[doc(hidden)]
    fn __codec(&self) -> Result<&'static dyn Codec, &'static str>;

    /// Instantiates the graph without running a task: its plain code runs
    /// on a copy of its captures (every loop recorded node by node), and
    /// the nodes and edges are kept. Cost: as the instantiation of a
    /// compute without fusion, a record per node, freed before this
    /// returns. Computing the graph afterwards works as if it had not been
    /// looked at.
    ///
    /// # Errors
    /// What instantiating the graph returns (e.g. [`Error::EmptyReduce`]).
    fn instantiate(&self) -> Result<Instance, Error>;

    /// The graph's compile-time template, written by `graph!`.
    fn template(&self) -> Option<&'static Template>;

    /// Computes the graph on the default runtime: one thread per available
    /// core, started on first use and shared by the whole process.
    ///
    /// # Errors
    /// As [`Runtime::compute`](crate::Runtime::compute).
    ///
    /// ```
    /// use taskdag::{delayed, graph, Graph};
    ///
    /// #[delayed]
    /// fn inc(x: u64) -> u64 { x + 1 }
    ///
    /// assert_eq!(graph! { inc(inc(1)) }.compute()?, 3);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    fn compute(self) -> Result<Self::Output, Error>
    where
        Self: Sized,
    {
        default_runtime()?.compute(self)
    }

    /// Computes the graph on the default runtime (as
    /// [`compute`](Graph::compute) does) from async code:
    /// `g.compute_async().await` is
    /// [`Runtime::compute_async`](crate::Runtime::compute_async) on that
    /// runtime. It does not block the thread that awaits it, and dropping
    /// the future cancels the graph.
    ///
    /// # Errors
    /// As [`Runtime::compute_async`](crate::Runtime::compute_async);
    /// [`Error::ThreadPool`] if the default runtime could not be started.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Graph};
    ///
    /// #[delayed]
    /// fn inc(x: u64) -> u64 { x + 1 }
    ///
    /// async fn two_more(x: u64) -> Result<u64, taskdag::Error> {
    ///     graph! { inc(inc(x)) }.compute_async().await
    /// }
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
    ///
    /// // Any executor (tokio, smol, ...); here a minimal one.
    /// assert_eq!(block_on(two_more(1))?, 3);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    fn compute_async(self) -> crate::spawn::Computing<Self::Output>
    where
        Self: Sized + Send + 'static,
        Self::Output: Send + 'static,
    {
        match default_runtime() {
            Ok(rt) => rt.compute_async(self),
            Err(e) => crate::spawn::Computing::failed(e),
        }
    }

    /// A viewer with settings (direction, collapsing, template).
    fn view(&self) -> Viewer<'_>
    where
        Self: Sized,
    {
        Viewer::new(self)
    }

    /// How many tasks the graph runs, per call site.
    ///
    /// # Errors
    /// As [`Graph::instantiate`].
    fn tasks(&self) -> Result<Tasks, Error> {
        Ok(self.instantiate()?.tasks())
    }

    /// The graph in Graphviz's DOT language, top to bottom: one node per
    /// task, labelled like `inc[i=3]`, or one per call site past
    /// [`DEFAULT_COLLAPSE`](crate::view::DEFAULT_COLLAPSE) tasks.
    ///
    /// # Errors
    /// As [`Graph::instantiate`].
    fn to_dot(&self) -> Result<String, Error>
    where
        Self: Sized,
    {
        self.view().to_dot()
    }

    /// The compile-time template in DOT: one node per call site, loops as
    /// clusters labelled with what they iterate over, edges labelled with
    /// index maps (`x[i]`, `zs[all i]`).
    fn template_dot(&self) -> String
    where
        Self: Sized,
    {
        self.view()
            .template()
            .to_dot()
            .expect("a template needs no instantiation")
    }

    /// Draws the graph as SVG (no Graphviz needed) and writes it to `path`;
    /// a path ending in `.png` writes PNG (with the `png` feature), `.dot`
    /// writes DOT. Returns the SVG, which displays itself in an evcxr
    /// notebook.
    ///
    /// # Errors
    /// [`ViewError::Graph`] if the graph cannot be instantiated,
    /// [`ViewError::Io`] if the file cannot be written,
    /// [`ViewError::Format`] for another extension (or `.png` without the
    /// `png` feature).
    fn visualize(&self, path: impl AsRef<Path>) -> Result<Svg, ViewError>
    where
        Self: Sized,
    {
        self.view().visualize(path)
    }

    /// The graph as SVG; in an evcxr notebook, it displays itself.
    ///
    /// # Errors
    /// As [`Graph::instantiate`].
    fn to_svg(&self) -> Result<Svg, Error>
    where
        Self: Sized,
    {
        self.view().to_svg()
    }
}

impl<G: Graph + ?Sized> Describe for G {
    fn describe(&self) -> Result<Instance, Error> {
        self.instantiate()
    }

    fn described_template(&self) -> Option<&'static Template> {
        self.template()
    }
}

impl<G: Graph + ?Sized> Graph for Box<G> {
    type Output = G::Output;

    #[allow(private_interfaces)]
    fn __run(self, host: &Host, ctl: Option<&Control>) -> Result<G::Output, Error> {
        self.__run_boxed(host, ctl)
    }

    #[allow(private_interfaces)]
    fn __run_boxed(
        self: Box<Self>,
        host: &Host,
        ctl: Option<&Control>,
    ) -> Result<G::Output, Error> {
        (*self).__run_boxed(host, ctl)
    }

    #[allow(private_interfaces)]
    fn __start<'h>(self, host: &'h Host, ctl: &'h Control) -> Body<'h, G::Output>
    where
        Self: 'h,
    {
        self.__start_boxed(host, ctl)
    }

    #[allow(private_interfaces)]
    fn __start_boxed<'h>(self: Box<Self>, host: &'h Host, ctl: &'h Control) -> Body<'h, G::Output>
    where
        Self: 'h,
    {
        (*self).__start_boxed(host, ctl)
    }

    fn __part(self, runtime: &Runtime, part: &dyn Part) -> Result<Option<G::Output>, Error> {
        self.__part_boxed(runtime, part)
    }

    fn __part_boxed(
        self: Box<Self>,
        runtime: &Runtime,
        part: &dyn Part,
    ) -> Result<Option<G::Output>, Error> {
        (*self).__part_boxed(runtime, part)
    }

    fn __codec(&self) -> Result<&'static dyn Codec, &'static str> {
        (**self).__codec()
    }

    fn instantiate(&self) -> Result<Instance, Error> {
        (**self).instantiate()
    }

    fn template(&self) -> Option<&'static Template> {
        (**self).template()
    }
}

/// A fixed pool of threads that computes graphs.
///
/// The threads are started once, by [`Runtime::new`] or
/// [`RuntimeBuilder::build`], and serve every graph computed on this
/// runtime: an idle thread takes work from any graph that has some, so
/// several `compute` calls at once, and tasks that compute graphs of their
/// own, share the threads without waiting on each other.
///
/// At most `threads` tasks run at once. The thread that calls [`compute`]
/// runs tasks of its graph itself whenever it can (so a small graph costs no
/// hand-off between threads), counted among the `threads`. `Runtime` is
/// `Send + Sync`.
///
/// Dropping the runtime waits for every graph still running on it,
/// including spawned graphs whose [`Handle`] was dropped, then stops its
/// threads; no thread of the runtime outlives it. (Cancel spawned graphs
/// first, with [`Handle::cancel`], for a quick exit.) A [`Handle`] still
/// returns its graph's output after its runtime is gone.
///
/// ```
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let rt = Runtime::new(2)?;
/// // Two threads computing graphs on the one pool at once.
/// let (a, b) = std::thread::scope(|s| {
///     let a = s.spawn(|| rt.compute(graph! { square(3) }));
///     let b = s.spawn(|| rt.compute(graph! { square(4) }));
///     (a.join().unwrap(), b.join().unwrap())
/// });
/// assert_eq!((a?, b?), (9, 16));
/// # Ok::<(), taskdag::Error>(())
/// ```
///
/// [`compute`]: Runtime::compute
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

/// What a runtime's graphs share: the pool, the storage cache, the
/// settings, and the threads that drive spawned graphs. Spawned graphs hold
/// it while they run.
pub struct Inner {
    /// What its graphs run on: the pool, the storage cache, the settings
    /// and the observers.
    pub(crate) host: Host,
    #[cfg(feature = "dashboard")]
    dashboard: Option<std::sync::Arc<crate::dashboard::Dashboard>>,
    /// The spawned and awaited graphs' bodies not yet returned.
    pub(crate) bodies: Arc<Live>,
    pub(crate) timer: Timer,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("threads", &self.threads())
            .field("fuse_loops", &self.inner.fuse)
            .finish()
    }
}

impl Runtime {
    /// The most threads a runtime may have; more is
    /// [`Error::TooManyThreads`].
    ///
    /// ```
    /// use taskdag::{Error, Runtime};
    ///
    /// let r = Runtime::new(Runtime::MAX_THREADS + 1);
    /// assert!(matches!(r, Err(Error::TooManyThreads { .. })));
    /// ```
    pub const MAX_THREADS: usize = 4096;

    /// Starts a runtime with `threads` threads.
    ///
    /// At most `threads` tasks run at once, however many threads call
    /// [`compute`](Runtime::compute) and however many graphs are
    /// [`spawn`](Runtime::spawn)ed: a caller runs its graph's tasks itself
    /// only while it holds one of the `threads` places (taken if one is
    /// free when it calls: then it runs the graph's first task itself, and
    /// a small graph on an idle runtime runs on the calling thread), and
    /// otherwise waits for the pool. The threads start asleep and sleep
    /// while idle: a runtime of [`Runtime::MAX_THREADS`] starts about as
    /// fast as as many plain threads, and costs no CPU while idle. A task
    /// that waits for another graph gives its place up meanwhile and takes
    /// one again before it goes on: a nested `compute`
    /// (which runs the inner graph's work meanwhile), [`Handle::wait`], a
    /// `compute` on another runtime, and any wait wrapped in
    /// [`blocking`](crate::blocking). A task that blocks in its own code
    /// without `blocking` keeps its place.
    ///
    /// [`Handle::wait`]: crate::Handle::wait
    ///
    /// # Errors
    /// [`Error::ZeroThreads`] for `0`; [`Error::TooManyThreads`] beyond
    /// [`Runtime::MAX_THREADS`]; [`Error::ThreadPool`] if the operating
    /// system refuses to start the threads (then none is left running).
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    ///
    /// let rt = Runtime::new(4)?;
    /// assert_eq!(rt.threads(), 4);
    /// assert_eq!(rt.compute(graph! { inc(inc(1)) })?, 3);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn new(threads: usize) -> Result<Runtime, Error> {
        Runtime::builder().threads(threads).build()
    }

    /// A builder for the other settings (thread names, stack size, ...).
    ///
    /// ```
    /// use taskdag::Runtime;
    ///
    /// let rt = Runtime::builder().threads(2).thread_name("solver").build()?;
    /// assert_eq!(rt.threads(), 2);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The number of threads in the pool: at most this many tasks run at
    /// once.
    ///
    /// ```
    /// use taskdag::Runtime;
    ///
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// assert_eq!(Runtime::builder().build()?.threads(), cores);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.inner.reg.threads()
    }

    /// Runs `graph` to completion and returns its output. The calling thread
    /// takes part: it runs tasks itself, and the pool's threads join as soon
    /// as there is work to share.
    ///
    /// Cost: the graph's instantiation (its plain code, a record per node of
    /// the loops that do not run fused), then each task once. Allocations
    /// depend on the number of call sites and threads, not on the number of
    /// nodes, and storage is reused from one compute to the next.
    ///
    /// # Errors
    /// [`Error::TaskPanicked`] names the first task that panicked, with its
    /// message; no further task starts, every value produced so far is
    /// dropped, and the runtime stays usable. [`Error::EmptyReduce`] for a
    /// `tree_reduce` over an empty vector. [`Error::GraphTooLarge`] and
    /// [`Error::OutOfMemory`] when the graph cannot be stored (see the
    /// limits in the `taskdag` crate's `guide::failures`).
    /// [`Error::InputFailed`] when the graph reads a spawned graph that
    /// failed.
    ///
    /// A task may itself call `compute` on the same runtime: it runs the
    /// inner graph's tasks (and any others) while it waits.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// #[delayed]
    /// fn load(i: u32) -> Vec<u32> {
    ///     (0..i).collect()
    /// }
    /// #[delayed]
    /// fn sum(v: &Vec<u32>) -> u32 {
    ///     v.iter().sum()
    /// }
    /// #[delayed]
    /// fn add(a: u32, b: u32) -> u32 {
    ///     a + b
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let total = rt.compute(graph! {
    ///     let sums: Vec<_> = (0..10).map(|i| sum(load(i))).collect();
    ///     tree_reduce(sums, add)
    /// })?;
    /// assert_eq!(total, (0..10u32).map(|i| i * i.saturating_sub(1) / 2).sum::<u32>());
    ///
    /// // An empty reduction has no value: an error, and the runtime goes on.
    /// let none: Vec<u32> = Vec::new();
    /// let r = rt.compute(graph! { tree_reduce(none, add) });
    /// assert!(matches!(r, Err(Error::EmptyReduce { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn compute<G: Graph>(&self, graph: G) -> Result<G::Output, Error> {
        graph.__run(&self.inner, None)
    }

    /// As [`compute`](Runtime::compute), but cancels the graph if it has
    /// not finished after `limit`: tasks already running finish (a long
    /// task can stop early by checking [`cancelled`](crate::cancelled)),
    /// no other starts, and every value produced is dropped.
    ///
    /// Costs one allocation and a timer entry (a thread of the runtime,
    /// started on first use, waits for the earliest deadline).
    ///
    /// # Errors
    /// [`Error::TimedOut`] if the time ran out first; otherwise as
    /// [`compute`](Runtime::compute).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// #[delayed]
    /// fn slow(i: u64) -> u64 {
    ///     // A long task that stops early once its graph is cancelled.
    ///     while !taskdag::cancelled() {
    ///         std::thread::sleep(Duration::from_millis(1));
    ///     }
    ///     i
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let r = rt.compute_timeout(graph! { slow(1) }, Duration::from_millis(20));
    /// assert!(matches!(r, Err(Error::TimedOut { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn compute_timeout<G: Graph>(&self, graph: G, limit: Duration) -> Result<G::Output, Error> {
        let ctl = Arc::new(Control::new());
        let entry = self.inner.timer.add(limit, &ctl);
        let r = graph.__run(&self.inner, Some(&ctl));
        self.inner.timer.remove(entry);
        r
    }

    /// Starts computing `graph` in the background (dask's `persist`) and
    /// returns at once with a [`Handle`] to wait for its output, poll its
    /// progress or cancel it. The graph runs on the runtime's pool like any
    /// other (a thread of the pool instantiates it, as a work item, so the
    /// caller is free); a later graph can read its outputs before they
    /// exist (see [`Handle`]).
    ///
    /// Dropping the handle detaches the run: it still finishes, and its
    /// output is dropped.
    ///
    /// Cost: a hand-off to the pool and two allocations, beyond the graph's
    /// own cost (a few tens of microseconds for `spawn` and `wait`
    /// together). A spawned graph holds no thread while it runs: its
    /// graph is built, and its run torn down at the end, by work items of
    /// the pool, so any number of graphs may be in flight.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let n = 100;
    /// let squares = rt.spawn(graph! {
    ///     let v: Vec<_> = (0..n).map(|i| square(i)).collect();
    ///     v
    /// });
    /// // ... other work while it runs ...
    /// let p = squares.progress();
    /// assert!(p.done <= p.total);
    /// assert_eq!(squares.wait()?.iter().sum::<u64>(), (0..n).map(|i| i * i).sum::<u64>());
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn spawn<G>(&self, graph: G) -> Handle<G::Output>
    where
        G: Graph + Send + 'static,
        G::Output: Send + 'static,
    {
        crate::spawn::spawn(
            &self.inner.reg,
            &self.inner.bodies,
            Arc::clone(&self.inner),
            // The tokio runtime current here is the spawned graph's too:
            // its body is polled inside that context (`RuntimeBuilder::tokio`).
            #[cfg(feature = "tokio")]
            tokio::runtime::Handle::try_current().ok(),
            |ctl, inner| graph.__start(&inner.host, ctl),
        )
    }

    /// Runs `graph` on the pool and returns a future of its output, for
    /// async code: `rt.compute_async(g).await` returns what
    /// [`compute`](Runtime::compute) would, without blocking the thread
    /// that awaits it (a tokio worker, say, goes on with its other tasks).
    ///
    /// The graph starts at once, in this call: the calling thread builds
    /// it (its plain code runs there, as it would in `compute`) and starts
    /// its run, but runs none of its tasks: a task may block, or wait for
    /// something that this very thread's executor is to do. The pool runs
    /// them; when the last one ends, a work item of the pool tears the run
    /// down and stores the output. The future resolves then: the end wakes
    /// the awaiting task once, through its [`Waker`](std::task::Waker), so
    /// any executor works and nothing polls in a loop. Dropping the future
    /// before it is ready cancels the graph as [`Handle::cancel`] does, and
    /// never blocks: tasks already running finish, no other starts, and
    /// every value produced is dropped by the pool once the last of them
    /// has ended. To let a graph go on regardless, await a handle instead:
    /// `rt.spawn(g).await` (dropping that future detaches the run).
    ///
    /// Cost: as `spawn` plus one lock per pending poll, and two hand-offs
    /// between threads (the calling thread's to the pool, the pool's back
    /// to the awaiting task's executor). A graph awaited holds no thread
    /// while it runs: thousands may be awaited at once.
    ///
    /// # Errors
    /// As [`compute`](Runtime::compute); [`Error::Cancelled`] if the graph
    /// was cancelled through [`Computing::handle`].
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
    /// async fn total(rt: &Runtime, n: i64) -> Result<i64, taskdag::Error> {
    ///     rt.compute_async(graph! {
    ///         let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
    ///         tree_reduce(zs, add)
    ///     })
    ///     .await
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// // Any executor; here a minimal one, so the example needs no crate.
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
    /// assert_eq!(block_on(total(&rt, 100))?, 5050);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    ///
    /// [`Computing`]: crate::Computing
    /// [`Computing::handle`]: crate::Computing::handle
    pub fn compute_async<G>(&self, graph: G) -> crate::spawn::Computing<G::Output>
    where
        G: Graph + Send + 'static,
        G::Output: Send + 'static,
    {
        crate::spawn::compute_async(
            &self.inner.reg,
            &self.inner.bodies,
            Arc::clone(&self.inner),
            |ctl, inner| graph.__start(&inner.host, ctl),
        )
    }

    /// Attaches `observer` to every run that starts on this runtime until
    /// the returned guard is dropped (see [`Observer`]).
    ///
    /// Cost: each run looks at the runtime's observers once, when it
    /// starts; while any is attached, each task reads the clock twice and
    /// calls every observer twice.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskdag::stream::TaskStream;
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    ///
    /// let rt = Runtime::builder().threads(2).fuse_loops(false).build()?;
    /// let stream = Arc::new(TaskStream::new());
    /// {
    ///     let _watching = rt.observe(stream.clone());
    ///     rt.compute(graph! {
    ///         let v: Vec<_> = (0..5).map(|i| inc(i)).collect();
    ///         v
    ///     })?;
    /// }
    /// rt.compute(graph! { inc(0) })?; // not recorded: the guard is gone
    /// assert_eq!(stream.tasks().len(), 5);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    ///
    /// [`Observer`]: crate::observe::Observer
    pub fn observe(
        &self,
        observer: std::sync::Arc<dyn crate::observe::Observer>,
    ) -> crate::observe::Observing<'_> {
        let key = self.inner.observers.attach(observer);
        crate::observe::Observing {
            reg: &self.inner.observers,
            key,
        }
    }

    /// The address of the dashboard's page, if the runtime serves one
    /// (see [`RuntimeBuilder::dashboard`]).
    ///
    /// ```
    /// use taskdag::Runtime;
    ///
    /// let rt = Runtime::builder().dashboard("127.0.0.1:0").build()?;
    /// assert!(rt.dashboard_url().unwrap().starts_with("http://127.0.0.1:"));
    /// assert_eq!(Runtime::new(1)?.dashboard_url(), None);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    #[cfg(feature = "dashboard")]
    pub fn dashboard_url(&self) -> Option<&str> {
        self.inner.dashboard.as_ref().map(|d| d.url())
    }

    /// The runtime's result cache ([`RuntimeBuilder::cache`]), if it has
    /// one: its [`stats`](crate::cache::Cache::stats), its
    /// [`clear`](crate::cache::Cache::clear).
    ///
    /// ```
    /// use taskdag::Runtime;
    ///
    /// let dir = std::env::temp_dir().join(format!("taskgraph-doc-cache-{}", std::process::id()));
    /// let rt = Runtime::builder().threads(1).cache(&dir).build()?;
    /// assert_eq!(rt.cache().unwrap().stats().hits, 0);
    /// assert!(Runtime::new(1)?.cache().is_none());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    #[cfg(feature = "cache")]
    pub fn cache(&self) -> Option<&crate::cache::Cache> {
        self.inner.reg.results.get()?.downcast_ref()
    }

    /// Runs `f`, recording every task of every run that starts on this
    /// runtime meanwhile, and writes the performance report to `path` (like
    /// dask's `performance_report` context manager): see
    /// [`TaskStream::report`](crate::stream::TaskStream::report).
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
    /// let path = std::env::temp_dir().join("taskgraph-doc-report.html");
    /// let xs = rt
    ///     .performance_report(&path, |rt| {
    ///         rt.compute(graph! {
    ///             let xs: Vec<_> = (0..10).map(|i| inc(i)).collect();
    ///             xs
    ///         })
    ///     })
    ///     .expect("the report is written")?;
    /// assert_eq!(xs.len(), 10);
    /// assert!(std::fs::read_to_string(&path)?.contains("Where time went"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// If the report cannot be written; `f`'s result is lost then.
    pub fn performance_report<R>(
        &self,
        path: impl AsRef<std::path::Path>,
        f: impl FnOnce(&Runtime) -> R,
    ) -> std::io::Result<R> {
        let stream = std::sync::Arc::new(crate::stream::TaskStream::new());
        let watching = self.observe(stream.clone());
        let r = f(self);
        drop(watching);
        stream.write_report(path)?;
        Ok(r)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Spawned graphs need the pool: wait for them first.
        self.inner.bodies.shutdown();
        self.inner.timer.shutdown();
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()));
        self.inner.reg.stop(handles);
    }
}

/// The default bound on the storage a runtime keeps between computes.
const DEFAULT_CACHE: usize = 256 << 20;

/// Settings for a [`Runtime`], in the style of `rayon::ThreadPoolBuilder`:
/// chained setters, then a fallible [`build`](RuntimeBuilder::build).
///
/// ```
/// use taskdag::Runtime;
///
/// let rt = Runtime::builder()
///     .threads(2)
///     .thread_name("sim")
///     .stack_size(4 << 20)
///     .storage_cache(16 << 20)
///     .build()?;
/// assert_eq!(rt.threads(), 2);
/// # Ok::<(), taskdag::Error>(())
/// ```
pub struct RuntimeBuilder {
    threads: Option<usize>,
    name: Option<String>,
    stack_size: Option<usize>,
    unfused: bool,
    cache: usize,
    observers: Vec<std::sync::Arc<dyn crate::observe::Observer>>,
    progress: bool,
    #[cfg(feature = "tracing")]
    tracing: bool,
    #[cfg(feature = "dashboard")]
    dashboard: Option<String>,
    #[cfg(feature = "cache")]
    results: Option<(std::path::PathBuf, u64)>,
    max_in_flight: usize,
    #[cfg(feature = "tokio")]
    tokio: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("threads", &self.threads)
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .field("fuse_loops", &!self.unfused)
            .field("storage_cache", &self.cache)
            .field("observers", &self.observers.len())
            .field("progress", &self.progress)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            threads: None,
            name: None,
            stack_size: None,
            unfused: false,
            cache: DEFAULT_CACHE,
            observers: Vec::new(),
            progress: false,
            #[cfg(feature = "tracing")]
            tracing: false,
            #[cfg(feature = "dashboard")]
            dashboard: None,
            #[cfg(feature = "cache")]
            results: None,
            max_in_flight: crate::exec::registry::DEFAULT_MAX_IN_FLIGHT,
            #[cfg(feature = "tokio")]
            tokio: None,
        }
    }
}

impl RuntimeBuilder {
    /// The number of threads (default: the number of available cores);
    /// `0` and more than [`Runtime::MAX_THREADS`] are errors of
    /// [`build`](RuntimeBuilder::build).
    ///
    /// ```
    /// use taskdag::{Error, Runtime};
    ///
    /// assert_eq!(Runtime::builder().threads(3).build()?.threads(), 3);
    /// assert!(matches!(Runtime::builder().threads(0).build(), Err(Error::ZeroThreads)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// A name prefix for the threads (default `taskgraph`); thread `i` is
    /// named `{prefix}-{i}`.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn where_am_i(_x: u32) -> String {
    ///     std::thread::current().name().unwrap_or("").to_owned()
    /// }
    ///
    /// let rt = Runtime::builder().threads(2).thread_name("worker").build()?;
    /// let names = rt.compute(graph! {
    ///     let v: Vec<_> = (0..50).map(|i| where_am_i(i)).collect();
    ///     v
    /// })?;
    /// // The calling thread takes part too; the pool's are `worker-0` and `worker-1`.
    /// assert!(names.iter().all(|n| n.starts_with("worker-") || n == "main"));
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.name = Some(prefix.into());
        self
    }

    /// The stack size of each thread, in bytes (default: Rust's default),
    /// for tasks that recurse deeply or keep large arrays on the stack.
    ///
    /// ```
    /// use taskdag::Runtime;
    ///
    /// let rt = Runtime::builder().stack_size(16 << 20).build()?;
    /// # let _ = rt;
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Whether loops that allow it run fused (default `true`).
    ///
    /// A loop whose iterations each are a chain of tasks (each reading the
    /// previous one), over a range, runs as blocks of plain iterations,
    /// wherever it sits in the graph, split over the threads only when
    /// another thread wants work; `tree_reduce` over such a loop is computed
    /// inside the blocks. Results, task errors and the reduction tree are the
    /// same either way; with `false`, every task runs node by node (useful to
    /// measure the difference).
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn inc(x: u64) -> u64 {
    ///     x + 1
    /// }
    /// #[delayed]
    /// fn add(a: u64, b: u64) -> u64 {
    ///     a + b
    /// }
    ///
    /// let sum = |rt: &Runtime| {
    ///     rt.compute(graph! {
    ///         let mut v = Vec::new();
    ///         for i in 0..1000 {
    ///             v.push(inc(i));
    ///         }
    ///         tree_reduce(v, add)
    ///     })
    /// };
    /// let fused = Runtime::new(2)?;
    /// let nodes = Runtime::builder().threads(2).fuse_loops(false).build()?;
    /// assert_eq!(sum(&fused)?, sum(&nodes)?);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn fuse_loops(mut self, fuse: bool) -> Self {
        self.unfused = !fuse;
        self
    }

    /// At most `n` async tasks (`#[delayed] async fn`) in flight at once:
    /// started and not finished, whether being polled or waiting, over
    /// every graph of the runtime (as a database pool or a rate limit
    /// needs). An async task beyond it waits, as ready work that holds no
    /// thread, until another finishes. Default: 1024. `0` is taken as 1.
    ///
    /// The pool's own limit still holds: at most `threads` tasks, async or
    /// not, run (are polled) at once.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// async fn query(id: u64) -> u64 {
    ///     id * 2 // a database call, at most 4 at once
    /// }
    ///
    /// let rt = Runtime::builder().threads(2).max_in_flight(4).build()?;
    /// let v = rt.compute(graph! {
    ///     let mut v = Vec::new();
    ///     for i in 0..100 {
    ///         v.push(query(i));
    ///     }
    ///     v
    /// })?;
    /// assert_eq!(v.iter().sum::<u64>(), 9900);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Polls async tasks inside this tokio runtime's context (its
    /// `Handle::enter`), so that `tokio::time::sleep`, `tokio::net` and the
    /// libraries built on them work in `#[delayed] async fn` tasks. Without
    /// it, a graph computed (or spawned) where a tokio runtime is current
    /// (`Handle::try_current`) uses that one; with neither, async tasks
    /// still run, with executor-agnostic futures. Feature `tokio`.
    ///
    /// The futures are polled on this runtime's threads, not tokio's:
    /// tokio only drives their timers and I/O.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// async fn wait(ms: u64) -> u64 {
    ///     tokio::time::sleep(Duration::from_millis(ms)).await;
    ///     ms
    /// }
    ///
    /// let tokio = tokio::runtime::Builder::new_multi_thread()
    ///     .enable_time()
    ///     .build()
    ///     .unwrap();
    /// let rt = Runtime::builder().threads(2).tokio(tokio.handle().clone()).build()?;
    /// assert_eq!(rt.compute(graph! { wait(5) })?, 5);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio(mut self, handle: tokio::runtime::Handle) -> Self {
        self.tokio = Some(handle);
        self
    }

    /// The most bytes of run storage the runtime keeps between computes
    /// (default 256 MiB); `0` keeps none. Kept storage makes the next
    /// compute of a graph of the same size allocate nothing; a runtime that
    /// computes one huge graph and then small ones may keep less.
    ///
    /// ```
    /// use taskdag::Runtime;
    ///
    /// let rt = Runtime::builder().storage_cache(0).build()?;
    /// # let _ = rt;
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn storage_cache(mut self, bytes: usize) -> Self {
        self.cache = bytes;
        self
    }

    /// Keeps the results of `#[delayed(cache)]` functions in directory
    /// `dir` (created if needed), shared by every run of the runtime and by
    /// later processes: a call whose result is stored is loaded instead of
    /// run. At most `limit` bytes are kept ([`cache_limit`], default
    /// 10 GiB); past it, the entries used longest ago are removed. See the
    /// guide, `taskdag::guide::caching`.
    ///
    /// A directory that cannot be created or read leaves the runtime
    /// without a cache, with one warning on standard error; one that cannot
    /// be written is read from, and nothing is stored (one warning).
    ///
    /// [`cache_limit`]: RuntimeBuilder::cache_limit
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed(cache)]
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// let dir = std::env::temp_dir().join(format!("taskgraph-doc-cache-b-{}", std::process::id()));
    /// let rt = Runtime::builder().threads(2).cache(&dir).build()?;
    /// assert_eq!(rt.compute(graph! { square(12) })?, 144);
    /// assert_eq!(rt.compute(graph! { square(12) })?, 144);
    /// let stats = rt.cache().unwrap().stats();
    /// assert_eq!((stats.hits, stats.misses), (1, 1));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    #[cfg(feature = "cache")]
    pub fn cache(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        let limit = self
            .results
            .take()
            .map_or(crate::cache::DEFAULT_LIMIT, |r| r.1);
        self.results = Some((dir.as_ref().to_path_buf(), limit));
        self
    }

    /// The most bytes the result cache ([`cache`](RuntimeBuilder::cache))
    /// keeps (default 10 GiB); without `cache`, no effect.
    ///
    /// ```
    /// use taskdag::Runtime;
    ///
    /// let dir = std::env::temp_dir().join(format!("taskgraph-doc-cache-c-{}", std::process::id()));
    /// let rt = Runtime::builder().cache(&dir).cache_limit(1 << 20).build()?;
    /// assert_eq!(rt.cache().unwrap().limit(), 1 << 20);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    #[cfg(feature = "cache")]
    pub fn cache_limit(mut self, bytes: u64) -> Self {
        let dir = self.results.take().map_or_else(Default::default, |r| r.0);
        self.results = Some((dir, bytes));
        self
    }

    /// Attaches `observer` to every run of the runtime, for its life (see
    /// [`Runtime::observe`] to attach one for a while).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskdag::stream::TaskStream;
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    ///
    /// let stream = Arc::new(TaskStream::new());
    /// let rt = Runtime::builder().threads(2).observer(stream.clone()).build()?;
    /// rt.compute(graph! { inc(inc(0)) })?;
    /// assert_eq!(stream.tasks().len(), 2);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn observer(mut self, observer: std::sync::Arc<dyn crate::observe::Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Shows a progress bar per call site on the terminal while graphs run
    /// (default `false`), like dask's `progress()`: see
    /// [`ProgressBars`](crate::progress::ProgressBars). Nothing is drawn when
    /// standard error is not a terminal.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    ///
    /// let rt = Runtime::builder().progress_bars(true).build()?;
    /// let v = rt.compute(graph! {
    ///     let v: Vec<_> = (0..100).map(|i| inc(i)).collect();
    ///     v
    /// })?;
    /// assert_eq!(v.len(), 100);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn progress_bars(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Opens a `tracing` span per run, per task and per block of a fused
    /// loop (feature `tracing`; default `false`), so that the subscriber
    /// your application installs sees the task stream, and events emitted
    /// inside tasks belong to their task's span: see
    /// [`trace::Spans`](crate::trace::Spans), the observer this attaches.
    ///
    /// Cost: what the subscriber costs per span, plus two clock reads per
    /// task, as any observer.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn inc(x: i64) -> i64 {
    ///     tracing::info!(x, "inside the task's span");
    ///     x + 1
    /// }
    ///
    /// tracing_subscriber::fmt().with_writer(std::io::sink).init();
    /// let rt = Runtime::builder().threads(2).tracing(true).build()?;
    /// assert_eq!(rt.compute(graph! { inc(inc(0)) })?, 2);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    #[cfg(feature = "tracing")]
    pub fn tracing(mut self, on: bool) -> Self {
        self.tracing = on;
        self
    }

    /// Serves a live dashboard at `address` (feature `dashboard`): a page
    /// with per-call-site progress, the task stream and the graph coloured
    /// by state, updating while graphs run, like dask's `/status` and
    /// `/graph`. It prints its link on standard error when the runtime
    /// starts ([`Runtime::dashboard_url`] tells it too). Use a loopback
    /// address (`127.0.0.1:8787`; port `0` picks a free one) unless the
    /// page should be reachable from elsewhere: it has no authentication.
    ///
    /// Cost: every task updates the dashboard's state under one lock.
    ///
    /// ```
    /// use taskdag::Runtime;
    ///
    /// let rt = Runtime::builder().dashboard("127.0.0.1:0").build()?;
    /// println!("watch the runs at {}", rt.dashboard_url().unwrap());
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    #[cfg(feature = "dashboard")]
    pub fn dashboard(mut self, address: impl Into<String>) -> Self {
        self.dashboard = Some(address.into());
        self
    }

    /// Starts the runtime.
    ///
    /// # Errors
    /// As [`Runtime::new`]; with a dashboard, [`Error::Dashboard`] if its
    /// address cannot be bound.
    ///
    /// ```
    /// use taskdag::{Error, Runtime};
    ///
    /// let rt = Runtime::builder().threads(2).build()?;
    /// assert_eq!(rt.threads(), 2);
    /// let too_many = Runtime::builder().threads(Runtime::MAX_THREADS * 2).build();
    /// assert!(matches!(too_many, Err(Error::TooManyThreads { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn build(self) -> Result<Runtime, Error> {
        let threads = match self.threads {
            Some(0) => return Err(Error::ZeroThreads),
            Some(n) if n > Runtime::MAX_THREADS => {
                return Err(Error::TooManyThreads {
                    requested: n,
                    max: Runtime::MAX_THREADS,
                })
            }
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(Runtime::MAX_THREADS),
        };
        let prefix = self.name.unwrap_or_else(|| "taskgraph".to_owned());
        let (reg, handles) = Registry::start(threads, &prefix, self.stack_size)
            .map_err(|e| Error::ThreadPool(e.to_string()))?;
        reg.in_flight
            .max
            .store(self.max_in_flight, std::sync::atomic::Ordering::Relaxed);
        #[cfg(feature = "tokio")]
        if let Some(h) = self.tokio {
            let _ = reg.tokio.set(h);
        }
        let inner = Inner {
            host: Host {
                reg,
                cache: Cache::new(self.cache),
                fuse: !self.unfused,
                observers: Default::default(),
            },
            #[cfg(feature = "dashboard")]
            dashboard: None,
            bodies: Arc::default(),
            timer: Timer::new(format!("{prefix}-timer")),
        };
        for o in self.observers {
            inner.observers.attach(o);
        }
        #[cfg(feature = "cache")]
        if let Some((dir, limit)) = self.results.filter(|r| !r.0.as_os_str().is_empty()) {
            match crate::cache::Cache::open(&dir) {
                Ok(c) => {
                    let c: Arc<dyn std::any::Any + Send + Sync> = Arc::new(c.with_limit(limit));
                    let _ = inner.reg.results.set(c);
                }
                Err(e) => eprintln!(
                    "warning: the result cache in {} cannot be opened ({e}); \
                     this runtime runs without one. Give `cache` a directory it can create and read.",
                    dir.display()
                ),
            }
        }
        if self.progress {
            inner
                .observers
                .attach(std::sync::Arc::new(crate::progress::ProgressBars::new()));
        }
        #[cfg(feature = "tracing")]
        if self.tracing {
            inner
                .observers
                .attach(std::sync::Arc::new(crate::trace::Spans::new()));
        }
        #[cfg(feature = "dashboard")]
        let mut inner = inner;
        #[cfg(feature = "dashboard")]
        if let Some(address) = self.dashboard {
            let d = crate::dashboard::Dashboard::start(&address)
                .map_err(|message| Error::Dashboard { address, message })?;
            inner.observers.attach(d.clone());
            inner.dashboard = Some(d);
        }
        Ok(Runtime {
            inner: Arc::new(inner),
            handles: Mutex::new(handles),
        })
    }
}

pub(crate) fn default_runtime() -> Result<&'static Runtime, Error> {
    static DEFAULT: OnceLock<Result<Runtime, String>> = OnceLock::new();
    match DEFAULT.get_or_init(|| Runtime::builder().build().map_err(|e| e.to_string())) {
        Ok(rt) => Ok(rt),
        Err(e) => Err(Error::ThreadPool(e.clone())),
    }
}

impl std::ops::Deref for Inner {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}
