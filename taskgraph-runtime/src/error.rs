//! The errors a graph run can end with.

use std::fmt;
use std::time::Duration;

/// Where a task sits in the graph: the `#[delayed]` function, the call site and
/// the loop iterations it belongs to.
///
/// `indices` holds one zero-based iteration number per enclosing `for` loop (or
/// `.map(..)` closure), outermost first. A node made by `tree_reduce` ends with
/// two extra numbers: the tree level (0 for the leaves' parents) and the
/// position within that level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The function as written at the call site, e.g. `inc` or `math::inc`.
    pub function: &'static str,
    /// The source file of the call site.
    pub file: &'static str,
    /// The line of the call site (1-based).
    pub line: u32,
    /// The column of the call site (1-based).
    pub column: u32,
    /// Loop iteration numbers, outermost first.
    pub indices: Vec<u32>,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` at {}:{}:{}",
            self.function, self.file, self.line, self.column
        )?;
        if !self.indices.is_empty() {
            write!(f, ", loop iteration {:?}", self.indices)?;
        }
        Ok(())
    }
}

/// Everything that can stop a graph from producing its output.
///
/// A failed run never loses a thread and never poisons the [`Runtime`]: the
/// same runtime can compute the next graph right away.
///
/// [`Runtime`]: crate::Runtime
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `Runtime::new(0)` or a builder with zero threads.
    ZeroThreads,
    /// The operating system refused to start the pool's threads.
    ThreadPool(String),
    /// A task panicked. The graph stopped; tasks that had not started were not
    /// run, and every value already produced was dropped.
    #[non_exhaustive]
    TaskPanicked {
        /// The task that panicked.
        task: TaskInfo,
        /// The panic message (`"<non-string panic payload>"` if it was not a string).
        message: String,
        /// How many other tasks failed in the same run, after this one.
        others: usize,
    },
    /// A task returned `Err` through `?` (`let y = parse(x)?;` in `graph!`).
    /// The graph stopped as for a panic; [`source`] is the task's error, and
    /// can be downcast to its type:
    ///
    /// ```
    /// use taskgraph::{delayed, graph, Error, Runtime};
    ///
    /// #[derive(Debug)]
    /// struct Negative(i64);
    /// impl std::fmt::Display for Negative {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         write!(f, "{} is negative", self.0)
    ///     }
    /// }
    /// impl std::error::Error for Negative {}
    ///
    /// #[delayed]
    /// fn check(x: i64) -> Result<i64, Negative> {
    ///     if x < 0 { Err(Negative(x)) } else { Ok(x) }
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let err = rt.compute(graph! { check(-3)? }).unwrap_err();
    /// let Error::TaskFailed { task, source, .. } = &err else { panic!("{err}") };
    /// assert_eq!(task.function, "check");
    /// assert_eq!(source.downcast_ref::<Negative>().map(|n| n.0), Some(-3));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// [`source`]: std::error::Error::source
    #[non_exhaustive]
    TaskFailed {
        /// The task that returned `Err`.
        task: TaskInfo,
        /// The error it returned (a `String` or `&str` error becomes one
        /// whose message is that text).
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
        /// How many other tasks failed in the same run, after this one.
        others: usize,
    },
    /// An index into a vector of lazy values was out of range
    /// (`v[i]` with `i >= v.len()`), found when the graph was built, before
    /// any task ran.
    #[non_exhaustive]
    IndexOutOfRange {
        /// The vector's name as written.
        vector: &'static str,
        /// The index.
        index: usize,
        /// The vector's length.
        len: usize,
        /// Where the indexing is written (`file:line:column`).
        at: &'static str,
    },
    /// `tree_reduce` was given an empty vector, which has no value to return.
    EmptyReduce {
        /// The `tree_reduce` call site; `function` is the reducing function.
        at: TaskInfo,
    },
    /// One lazy value appears more than once in the graph's final expression
    /// (for instance twice in a returned vector), and outputs are moved out.
    DuplicateOutput,
    /// A graph sent to a cluster could not run there for a reason that is
    /// no task's failure: the cluster is unreachable, a block's process
    /// died without a report, a value could not be serialised, or the
    /// graph built on a worker differs from the one sent. `message` says
    /// which, and what to do.
    #[non_exhaustive]
    Cluster {
        /// What went wrong.
        message: String,
    },
    /// The dashboard (`RuntimeBuilder::dashboard`) could not listen at its
    /// address.
    Dashboard {
        /// The address asked for.
        address: String,
        /// What the system said.
        message: String,
    },
    /// The run was cancelled ([`Handle::cancel`]) before it finished. Tasks
    /// that were running finished; no other task started, and every value
    /// already produced was dropped.
    ///
    /// [`Handle::cancel`]: crate::Handle::cancel
    Cancelled,
    /// The run did not finish within the time given to
    /// [`Runtime::compute_timeout`], and was cancelled.
    ///
    /// [`Runtime::compute_timeout`]: crate::Runtime::compute_timeout
    #[non_exhaustive]
    TimedOut {
        /// The time the run was given.
        limit: Duration,
    },
    /// The graph reads the outputs of a spawned graph ([`Handle`]) that did
    /// not produce them: it failed or was cancelled, or its outputs were
    /// already taken.
    ///
    /// [`Handle`]: crate::Handle
    #[non_exhaustive]
    InputFailed {
        /// Why the spawned graph has no outputs to give (its own error).
        message: String,
    },
    /// More threads were asked for than a runtime supports.
    #[non_exhaustive]
    TooManyThreads {
        /// The number asked for.
        requested: usize,
        /// The most a runtime may have ([`Runtime::MAX_THREADS`]).
        ///
        /// [`Runtime::MAX_THREADS`]: crate::Runtime::MAX_THREADS
        max: usize,
    },
    /// The graph has more nodes than the runtime can number (a family, a
    /// fused loop or the whole graph beyond `u32::MAX - 2`), found while it
    /// was built, before any task ran.
    #[non_exhaustive]
    GraphTooLarge {
        /// What is too large, and where.
        message: String,
    },
    /// Memory for the graph's storage could not be allocated while it was
    /// built, before any task ran.
    #[non_exhaustive]
    OutOfMemory {
        /// The size of the allocation that failed, in bytes.
        bytes: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroThreads => {
                f.write_str("a runtime needs at least one thread: use `Runtime::new(1)` or more")
            }
            Error::ThreadPool(e) => write!(f, "could not start the runtime's threads: {e}"),
            Error::TaskPanicked {
                task,
                message,
                others,
            } => {
                write!(f, "task {task} panicked: {message}")?;
                match others {
                    0 => Ok(()),
                    1 => f.write_str(" (and 1 other task failed)"),
                    n => write!(f, " (and {n} other tasks failed)"),
                }
            }
            Error::TaskFailed {
                task,
                source,
                others,
            } => {
                write!(f, "task {task} returned an error: {source}")?;
                match others {
                    0 => Ok(()),
                    1 => f.write_str(" (and 1 other task failed)"),
                    n => write!(f, " (and {n} other tasks failed)"),
                }
            }
            Error::IndexOutOfRange {
                vector,
                index,
                len,
                at,
            } => write!(
                f,
                "index {index} is out of range for `{vector}` of length {len} at {at}; \
                 no task ran (check the index against `{vector}.len()`)"
            ),
            Error::EmptyReduce { at } => write!(
                f,
                "`tree_reduce` with `{}` at {}:{}:{} was given an empty vector; \
                 there is no value to return (check the vector's length before `graph!`)",
                at.function, at.file, at.line, at.column
            ),
            Error::DuplicateOutput => f.write_str(
                "the same lazy value appears twice in the graph's output; \
                 return it once, or clone it in a `#[delayed]` function",
            ),
            Error::Cluster { message } => {
                write!(f, "the cluster could not run the graph: {message}")
            }
            Error::Dashboard { address, message } => write!(
                f,
                "the dashboard cannot listen at {address}: {message}; \
                 give `dashboard` another address, such as \"127.0.0.1:0\" for any free port"
            ),
            Error::Cancelled => f.write_str(
                "the graph was cancelled before it finished; \
                 no task started after the cancellation and every value was dropped",
            ),
            Error::TimedOut { limit } => write!(
                f,
                "the graph did not finish within {limit:?} and was cancelled; \
                 give it more time, or make its tasks check `taskgraph::cancelled()`"
            ),
            Error::InputFailed { message } => write!(
                f,
                "the graph reads the outputs of a spawned graph that has none to give: {message}"
            ),
            Error::TooManyThreads { requested, max } => write!(
                f,
                "a runtime of {requested} threads was asked for, and the most is {max}; \
                 use fewer threads (one per core is usually best)"
            ),
            Error::GraphTooLarge { message } => write!(
                f,
                "the graph is too large: {message}; split the work into several graphs"
            ),
            Error::OutOfMemory { bytes } => write!(
                f,
                "could not allocate {bytes} bytes for the graph's storage; \
                 no task ran (use fewer nodes or smaller outputs)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::TaskFailed { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

impl Error {
    /// An [`Error::Cluster`] with `message`.
    pub fn cluster(message: impl Into<String>) -> Error {
        Error::Cluster {
            message: message.into(),
        }
    }

    /// The task that failed, for an error about one task.
    pub(crate) fn task(&self) -> Option<&TaskInfo> {
        match self {
            Error::TaskPanicked { task, .. } | Error::TaskFailed { task, .. } => Some(task),
            _ => None,
        }
    }

    /// This error, counting `n` failures more than it does.
    pub(crate) fn with_more(self, n: usize) -> Self {
        match self.others() {
            Some(k) if n > 0 => self.with_others(k + n),
            _ => self,
        }
    }

    /// How many other failures this error counts, if it counts them.
    fn others(&self) -> Option<usize> {
        match self {
            Error::TaskPanicked { others, .. } | Error::TaskFailed { others, .. } => Some(*others),
            _ => None,
        }
    }

    /// This error, counting `n` more failures of the same run.
    pub(crate) fn with_others(mut self, n: usize) -> Self {
        if let Error::TaskPanicked { others, .. } | Error::TaskFailed { others, .. } = &mut self {
            *others = n;
        }
        self
    }
}
