//! The errors a graph run can end with.

use std::fmt;
use std::time::Duration;

use crate::site::TaskInfo;

/// Everything that can stop a graph from producing its output.
///
/// A failed run never loses a thread and never poisons the [`Runtime`]: the
/// same runtime can compute the next graph right away. Each variant says when
/// it happens and what to do; the message ([`Display`](fmt::Display)) says it
/// too, naming the task, call site and loop iterations where there is one.
///
/// `Error` is `Send + Sync + 'static` and implements [`std::error::Error`],
/// with the task's own error as [`source`](std::error::Error::source) for
/// [`Error::TaskFailed`], so `?` turns it into `anyhow::Error`,
/// `eyre::Report` or `Box<dyn std::error::Error>`:
///
/// ```
/// use anyhow::Context;
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn parse(s: &str) -> Result<i64, std::num::ParseIntError> {
///     s.trim().parse()
/// }
///
/// #[delayed]
/// fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// fn main() -> anyhow::Result<()> {
///     let rt = Runtime::new(2)?;
///     let total = rt.compute(graph! { add(parse(" 40")?, parse("2")?) })?;
///     assert_eq!(total, 42);
///
///     // A task's `Err` stops the graph; its error is the source.
///     let err = rt
///         .compute(graph! { add(parse("40")?, parse("two")?) })
///         .context("adding the numbers")
///         .unwrap_err();
///     let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
///     assert_eq!(chain[0], "adding the numbers");
///     assert!(chain[1].contains("task `parse` at "));
///     assert_eq!(chain[2], "invalid digit found in string");
///     assert!(err.root_cause().downcast_ref::<std::num::ParseIntError>().is_some());
///     Ok(())
/// }
/// ```
///
/// [`Runtime`]: crate::Runtime
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `Runtime::new(0)` or a builder with zero threads: ask for one or
    /// more (or leave the builder's default, one per core).
    ///
    /// ```
    /// use taskdag::{Error, Runtime};
    ///
    /// assert!(matches!(Runtime::new(0), Err(Error::ZeroThreads)));
    /// ```
    ZeroThreads,
    /// The operating system refused to start the pool's threads (the
    /// message is its reason), as [`std::thread::Builder::spawn`] can fail
    /// when a process has too many threads or too little memory. No thread
    /// of the runtime is left running. Ask for fewer threads or a smaller
    /// [`stack_size`](crate::RuntimeBuilder::stack_size), or fail.
    ///
    /// ```
    /// use taskdag::{Error, Runtime};
    ///
    /// let rt = match Runtime::builder().stack_size(1 << 20).build() {
    ///     Err(Error::ThreadPool(why)) => {
    ///         eprintln!("{why}; trying with one thread");
    ///         Runtime::new(1)?
    ///     }
    ///     other => other?,
    /// };
    /// # let _ = rt;
    /// # Ok::<(), Error>(())
    /// ```
    ThreadPool(String),
    /// A task panicked. The graph stopped; tasks that had not started were not
    /// run, and every value already produced was dropped. The runtime is
    /// ready for the next graph: fix the task, or treat the panic as the
    /// failure of this input. `task` says which task and iteration it was.
    ///
    /// In a program built with `panic = "abort"` a panic cannot be caught:
    /// the process prints the panic's message and ends, as Rust says it
    /// must, and this variant never comes back. Every other variant does,
    /// since the runtime carries them as values (a task's `Err` is
    /// [`Error::TaskFailed`] there too).
    ///
    /// ```
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// #[delayed]
    /// fn inverse(x: i64) -> i64 {
    ///     assert!(x != 0, "no inverse of zero");
    ///     100 / x
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let err = rt
    ///     .compute(graph! {
    ///         let v: Vec<_> = (-2..3).map(|x| inverse(x)).collect();
    ///         v
    ///     })
    ///     .unwrap_err();
    /// let Error::TaskPanicked { task, message, .. } = &err else { panic!("{err}") };
    /// assert_eq!(task.indices, [2]);
    /// assert_eq!(message, "no inverse of zero");
    /// // The runtime keeps working.
    /// assert_eq!(rt.compute(graph! { inverse(5) })?, 20);
    /// # Ok::<(), Error>(())
    /// ```
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
    /// The graph stopped as for a panic (the error travels as a value, so
    /// this holds under `panic = "abort"` too); [`source`] is the task's
    /// error, and
    /// can be downcast to its type to decide what to do (report the bad
    /// input, skip it and compute again without it, ...):
    ///
    /// ```
    /// use taskdag::{delayed, graph, Error, Runtime};
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
    /// assert_eq!(task.function(), "check");
    /// assert_eq!(source.downcast_ref::<Negative>().map(|n| n.0), Some(-3));
    /// let Error::TaskFailed { error_type, .. } = &err else { unreachable!() };
    /// assert!(error_type.ends_with("::Negative"));
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
        /// The type of the error the task returned, as
        /// [`std::any::type_name`] names it (`alloc::string::String` for a
        /// `String`): what crosses to another machine when `source` itself
        /// cannot.
        error_type: &'static str,
        /// How many other tasks failed in the same run, after this one.
        others: usize,
    },
    /// An index into a vector of lazy values was out of range
    /// (`v[i]` with `i >= v.len()`), found when the graph was built, before
    /// any task ran. The graph's plain code has a bug: check the index
    /// against `v.len()` (which is plain) where it is computed.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// #[delayed]
    /// fn add(a: u32, b: u32) -> u32 {
    ///     a + b
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let err = rt
    ///     .compute(graph! {
    ///         let v: Vec<_> = (0..3).map(|i| add(i, 1)).collect();
    ///         let mut w = Vec::new();
    ///         for i in 0..3 {
    ///             w.push(add(v[i], v[i + 1])); // reads v[3] at the end
    ///         }
    ///         w
    ///     })
    ///     .unwrap_err();
    /// let Error::IndexOutOfRange { vector, index, len, .. } = err else { panic!("{err}") };
    /// assert_eq!((vector, index, len), ("v", 3, 3));
    /// # Ok::<(), Error>(())
    /// ```
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
    /// Check the vector's length before `graph!`, or add a neutral element
    /// (`v.push(zero())`) when an empty input has an answer.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// #[delayed]
    /// fn add(a: u32, b: u32) -> u32 {
    ///     a + b
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let none: Vec<u32> = Vec::new();
    /// let r = rt.compute(graph! {
    ///     let v: Vec<_> = none.iter().map(|&x| add(x, 1)).collect();
    ///     tree_reduce(v, add)
    /// });
    /// assert!(matches!(r, Err(Error::EmptyReduce { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    EmptyReduce {
        /// The `tree_reduce` call site; its `function()` is the reducing function.
        at: TaskInfo,
    },
    /// One lazy value appears more than once in the graph's final expression
    /// (for instance twice in a returned vector, or as `(v[i], v[j])` with
    /// `i == j`), and its type is not `Clone`: outputs are moved out, so
    /// only one of them can have it. Return it once, wrap the type in
    /// `std::sync::Arc`, or derive `Clone` for it: a value of a `Clone` type
    /// that turns out to be returned twice is cloned for the other output.
    /// (The same variable written twice in the final expression, `(x, x)`,
    /// is a compile error if its type is not `Clone`; this is the case the
    /// compiler cannot see.)
    ///
    /// ```
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// /// Not `Clone`.
    /// struct Token(u32);
    ///
    /// #[delayed]
    /// fn token(x: u32) -> Token {
    ///     Token(x)
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let (i, j) = (1, 1);
    /// let r = rt.compute(graph! {
    ///     let v: Vec<_> = (0..3).map(|k| token(k)).collect();
    ///     (v[i], v[j])
    /// });
    /// assert!(matches!(r, Err(Error::DuplicateOutput)));
    /// # Ok::<(), Error>(())
    /// ```
    DuplicateOutput,
    /// A graph sent to a cluster could not run there for a reason that is
    /// no task's failure: the cluster is unreachable, a block's process
    /// died without a report, a value could not be serialised, or the
    /// graph built on a worker differs from the one sent. `message` says
    /// which, and what to do: check the cluster and its workers, or run
    /// the graph on a local [`Runtime`](crate::Runtime).
    ///
    /// ```
    /// use taskdag::Error;
    ///
    /// fn explain(r: Result<i64, Error>) -> String {
    ///     match r {
    ///         Ok(v) => format!("{v}"),
    ///         Err(Error::Cluster { message, .. }) => format!("the cluster could not run it: {message}"),
    ///         Err(e) => format!("{e}"),
    ///     }
    /// }
    /// assert_eq!(explain(Ok(3)), "3");
    /// ```
    #[non_exhaustive]
    Cluster {
        /// What went wrong.
        message: String,
    },
    /// The dashboard (`RuntimeBuilder::dashboard`, feature `dashboard`)
    /// could not listen at its address, when the runtime was built: the
    /// address is taken or not this machine's. Give another address, such
    /// as `"127.0.0.1:0"` for any free port, or build the runtime without
    /// the dashboard.
    ///
    /// ```
    /// use taskdag::{Error, Runtime};
    ///
    /// fn start(builder: taskdag::RuntimeBuilder) -> Result<Runtime, Error> {
    ///     match builder.build() {
    ///         Err(Error::Dashboard { address, message }) => {
    ///             eprintln!("no dashboard at {address} ({message})");
    ///             Runtime::builder().build()
    ///         }
    ///         other => other,
    ///     }
    /// }
    /// # let _ = start(Runtime::builder().threads(1))?;
    /// # Ok::<(), Error>(())
    /// ```
    Dashboard {
        /// The address asked for.
        address: String,
        /// What the system said.
        message: String,
    },
    /// The run was cancelled ([`Handle::cancel`]) before it finished. Tasks
    /// that were running finished; no other task started, and every value
    /// already produced was dropped. It is what was asked for: nothing to
    /// fix.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// #[delayed]
    /// fn slow(i: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(2));
    ///     i
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let h = rt.spawn(graph! {
    ///     let v: Vec<_> = (0..1000).map(|i| slow(i)).collect();
    ///     v
    /// });
    /// h.cancel();
    /// assert!(matches!(h.wait(), Err(Error::Cancelled)));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// [`Handle::cancel`]: crate::Handle::cancel
    Cancelled,
    /// The run did not finish within the time given to
    /// [`Runtime::compute_timeout`], and was cancelled (as for
    /// [`Error::Cancelled`]). Give it more time, or less work; a long task
    /// that checks [`cancelled`](crate::cancelled) lets the run stop
    /// sooner. See [`Runtime::compute_timeout`] for an example.
    ///
    /// [`Runtime::compute_timeout`]: crate::Runtime::compute_timeout
    #[non_exhaustive]
    TimedOut {
        /// The time the run was given.
        limit: Duration,
    },
    /// The graph reads the outputs of a spawned graph ([`Handle`]) that did
    /// not produce them: it failed or was cancelled, or its outputs were
    /// already taken. `message` is the spawned graph's own error; its
    /// handle's `wait` returns that error itself.
    ///
    /// ```
    /// use taskdag::{delayed, graph, Error, Runtime};
    ///
    /// #[delayed]
    /// fn leaf(i: u64) -> u64 {
    ///     assert!(i != 3, "bad leaf");
    ///     i
    /// }
    /// #[delayed]
    /// fn add(a: u64, b: u64) -> u64 {
    ///     a + b
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let leaves = rt.spawn(graph! {
    ///     let v: Vec<_> = (0..8).map(|i| leaf(i)).collect();
    ///     v
    /// });
    /// let shared = &leaves; // read, not taken: the handle stays here
    /// let r = rt.compute(graph! { tree_reduce(shared, add) });
    /// let Err(Error::InputFailed { message, .. }) = r else { panic!("{r:?}") };
    /// assert!(message.contains("bad leaf"));
    /// assert!(matches!(leaves.wait(), Err(Error::TaskPanicked { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// [`Handle`]: crate::Handle
    #[non_exhaustive]
    InputFailed {
        /// Why the spawned graph has no outputs to give (its own error).
        message: String,
    },
    /// More threads were asked for than a runtime supports. Ask for fewer:
    /// one per core is usually best, and the builder's default.
    ///
    /// ```
    /// use taskdag::{Error, Runtime};
    ///
    /// let r = Runtime::new(100_000);
    /// assert!(matches!(r, Err(Error::TooManyThreads { requested: 100_000, .. })));
    /// ```
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
    /// fused loop or the whole graph of more than `u32::MAX - 3`), found while it
    /// was built, before any task ran. Split the work into several graphs
    /// (compute them one after the other, or [`spawn`](crate::Runtime::spawn)
    /// the first and read its [`Handle`](crate::Handle) in the next), or
    /// make each task do more.
    ///
    /// ```
    /// # use taskdag::{delayed, graph, Error, Runtime};
    /// # #[delayed] fn leaf(i: u64) -> u64 { i }
    /// # #[delayed] fn add(a: u64, b: u64) -> u64 { a + b }
    /// // Too many leaves for one graph: sums of chunks, then their sum.
    /// fn total(rt: &Runtime, n: u64, chunk: u64) -> Result<u64, Error> {
    ///     let mut sums = Vec::new();
    ///     for lo in (0..n).step_by(chunk as usize) {
    ///         let hi = n.min(lo + chunk);
    ///         sums.push(rt.compute(graph! {
    ///             let v: Vec<_> = (lo..hi).map(|i| leaf(i)).collect();
    ///             tree_reduce(v, add)
    ///         })?);
    ///     }
    ///     rt.compute(graph! { tree_reduce(sums, add) })
    /// }
    /// let rt = Runtime::new(2)?;
    /// assert_eq!(total(&rt, 1000, 300)?, 999 * 1000 / 2);
    /// # Ok::<(), Error>(())
    /// ```
    #[non_exhaustive]
    GraphTooLarge {
        /// What is too large, and where.
        message: String,
    },
    /// Memory for the graph's storage (the nodes' records and output
    /// cells) could not be allocated while it was built, before any task
    /// ran. Memory a task allocates itself is not covered: Rust aborts on
    /// that. Make the graph smaller, as for [`Error::GraphTooLarge`], or
    /// free memory first; the runtime is unharmed.
    ///
    /// ```
    /// use taskdag::Error;
    ///
    /// fn explain(e: &Error) -> String {
    ///     match e {
    ///         Error::OutOfMemory { bytes, .. } => format!("the graph needs {bytes} bytes more"),
    ///         other => other.to_string(),
    ///     }
    /// }
    /// assert!(explain(&Error::ZeroThreads).contains("at least one thread"));
    /// ```
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
                ..
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
                at.function(),
                at.file(),
                at.line(),
                at.column()
            ),
            Error::DuplicateOutput => f.write_str(
                "the same lazy value appears twice in the graph's output and its type is not `Clone`; \
                 return it once, or make its type `Clone` (or wrap it in `Arc`)",
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
                 give it more time, or make its tasks check `taskdag::cancelled()`"
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
