//! The fixed thread pool every graph runs on.

use std::sync::OnceLock;

use crate::error::Error;
use crate::graph::Graph;

/// A fixed pool of threads that computes graphs.
///
/// The threads are started once, by [`Runtime::new`] or
/// [`RuntimeBuilder::build`], and reused by every graph; idle threads park.
/// A graph run node by node uses the thread that calls [`compute`] as one of
/// its `n` workers, and `n - 1` pool threads join as soon as there is work to
/// share, so a small graph costs no hand-off between threads. A fused graph
/// runs on the pool's threads, or on the calling thread when it cannot use
/// more than one (a loop-carried chain, or a pool of one thread). `Runtime` is `Send + Sync`: several threads
/// may call [`compute`] at once, and a task may call it too.
///
/// [`compute`]: Runtime::compute
pub struct Runtime {
    pub(crate) pool: rayon::ThreadPool,
    pub(crate) fuse: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("threads", &self.threads())
            .finish()
    }
}

impl Runtime {
    /// Starts a runtime with `threads` threads.
    ///
    /// # Errors
    /// [`Error::ZeroThreads`] for `0`; [`Error::ThreadPool`] if the operating
    /// system refuses to start the threads.
    pub fn new(threads: usize) -> Result<Runtime, Error> {
        Runtime::builder().threads(threads).build()
    }

    /// A builder for the other settings (thread names, stack size).
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The number of threads in the pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `graph` to completion on this runtime's threads and returns its
    /// output. The calling thread takes part: it runs tasks itself, and the
    /// pool's other threads join as soon as there is work to share.
    ///
    /// Cost: the graph's instantiation (its plain code, one record per node),
    /// then each node once. Allocations depend on the number of call sites and
    /// threads, not on the number of nodes.
    ///
    /// # Errors
    /// [`Error::TaskPanicked`] names the first task that panicked, with its
    /// message; no further task starts, every value produced so far is
    /// dropped, and the runtime stays usable. [`Error::EmptyReduce`] for a
    /// `tree_reduce` over an empty vector.
    ///
    /// A task may itself call `compute` on the same runtime: the thread that
    /// calls `compute` always runs the graph's tasks itself, so an inner graph
    /// completes even when every other thread is busy.
    pub fn compute<G: Graph>(&self, graph: G) -> Result<G::Output, Error> {
        graph.__run(self)
    }
}

/// Settings for a [`Runtime`], in the style of `rayon::ThreadPoolBuilder`.
#[derive(Debug, Default)]
pub struct RuntimeBuilder {
    threads: Option<usize>,
    name: Option<String>,
    stack_size: Option<usize>,
    unfused: bool,
}

impl RuntimeBuilder {
    /// The number of threads (default: the number of available cores).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// A name prefix for the threads (default `taskgraph`); thread `i` is
    /// named `{prefix}-{i}`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.name = Some(prefix.into());
        self
    }

    /// The stack size of each thread, in bytes (default: Rust's default).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Whether graphs whose shape allows it run as fused loops (default
    /// `true`).
    ///
    /// A graph that is one loop of independent iterations, each a chain of
    /// tasks, feeding `tree_reduce`, a gathering task or the output (or a
    /// single loop-carried chain), can run without recording its nodes: the
    /// iterations run as plain loops, split over the threads only when
    /// another thread wants work. Results, task errors and the reduction
    /// tree are the same either way; with `false`, every graph runs node by
    /// node (useful to measure the difference).
    pub fn fuse_loops(mut self, fuse: bool) -> Self {
        self.unfused = !fuse;
        self
    }

    /// Starts the runtime.
    ///
    /// # Errors
    /// As [`Runtime::new`].
    pub fn build(self) -> Result<Runtime, Error> {
        let threads = match self.threads {
            Some(0) => return Err(Error::ZeroThreads),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let prefix = self.name.unwrap_or_else(|| "taskgraph".to_owned());
        let mut b = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{prefix}-{i}"));
        if let Some(s) = self.stack_size {
            b = b.stack_size(s);
        }
        let pool = b.build().map_err(|e| Error::ThreadPool(e.to_string()))?;
        // Wait until every thread has started, so that the first graphs do
        // not race the threads' own start-up.
        pool.broadcast(|_| ());
        Ok(Runtime {
            pool,
            fuse: !self.unfused,
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
