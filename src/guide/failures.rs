//! Failures: panics, `Err` through `?`, cancellation, timeouts and limits.
//!
//! # A panic is an error
//!
//! A panicking task stops the graph and `compute` returns
//! `Err(Error::TaskPanicked { task, message, .. })`
//! ([`Error::TaskPanicked`]), where `task` names the function with its loop
//! variables, then the call site, e.g.
//! ``task `check[i=7]` at src/main.rs:27:33 panicked: boom`` (nested loops:
//! `check[i=1, j=3]`; a `tree_reduce` node: `add[level=1, pos=3]`; see
//! [`TaskInfo::name`] for loops whose pattern is not one name). No thread
//! is lost and the runtime keeps working.
//!
//! # `Err` through `?`
//!
//! `f(x)?` on a task returning `Result` stops the graph at the first `Err`:
//! `compute` returns [`Error::TaskFailed`], whose `source()` is your error
//! (downcast it to its type to decide what to do).
//!
//! ```
//! use taskdag::{delayed, graph, Error, Runtime};
//!
//! #[delayed]
//! fn check(x: i64) -> i64 {
//!     assert!(x != 7, "boom");
//!     x
//! }
//! #[delayed]
//! fn parse(x: i64) -> Result<i64, String> {
//!     if x == 5 { Err(format!("cannot parse item {x}")) } else { Ok(x) }
//! }
//!
//! let rt = Runtime::new(2)?;
//! let err = rt
//!     .compute(graph! {
//!         let xs: Vec<_> = (0..10).map(|i| check(i)).collect();
//!         xs
//!     })
//!     .unwrap_err();
//! let Error::TaskPanicked { task, message, .. } = &err else { panic!("{err}") };
//! assert_eq!(task.name(), "check[i=7]");
//! assert_eq!(message, "boom");
//!
//! let err = rt
//!     .compute(graph! {
//!         let mut ys = Vec::new();
//!         for i in 0..10 {
//!             ys.push(parse(i)?);
//!         }
//!         ys
//!     })
//!     .unwrap_err();
//! let Error::TaskFailed { source, .. } = &err else { panic!("{err}") };
//! assert_eq!(source.to_string(), "cannot parse item 5");
//!
//! // The runtime keeps working.
//! assert_eq!(rt.compute(graph! { check(1) })?, 1);
//! # Ok::<(), Error>(())
//! ```
//!
//! # Failures lose nothing
//!
//! A panic or an `Err` anywhere (a task in a loop, in `tree_reduce`, in a
//! fused block, a value's `Drop` when the runtime drops it) stops the graph:
//! no task starts after it, tasks already running finish, every value
//! already produced is dropped exactly once (a `Drop` that panics is caught
//! and counted), no thread is lost, and the next `compute` works. With
//! several failures the first is reported and the error counts the others
//! (its `others` field).
//!
//! # Failures are values
//!
//! A task's `Err` (through `?`), an error while the graph is built, a
//! cancellation and a deadline travel inside the runtime as values; only a
//! panic unwinds, and it is caught where the work item that ran the task
//! ends. So a program built with `panic = "abort"` still gets
//! [`Error::TaskFailed`] for an `Err` (and every other error on this page);
//! a panicking task there ends the process after printing its message, as
//! Rust says a panic must (`tests/panic-abort`, run by CI).
//!
//! # Cancellation and timeouts
//!
//! [`handle.cancel()`](crate::Handle::cancel) on a spawned graph (see
//! [`background`](super::background)) stops starting tasks, lets running
//! ones finish and drops every value; `wait()` returns [`Error::Cancelled`]
//! (cancelling a finished run does nothing). The future of every pending
//! async task is dropped, exactly once, whether it would ever finish or
//! not. A long task can check
//! [`taskdag::cancelled()`](crate::cancelled) and return early.
//! [`rt.compute_timeout(g, d)`](crate::Runtime::compute_timeout) cancels a
//! graph that has not finished after `d` ([`Error::TimedOut`]). A graph that
//! reads a spawned graph that failed or was cancelled fails with
//! [`Error::InputFailed`].
//!
//! ```
//! use std::time::Duration;
//! use taskdag::{cancelled, delayed, graph, Error, Runtime};
//!
//! /// Works until cancelled, checking now and then.
//! #[delayed]
//! fn spin(x: u64) -> u64 {
//!     while !cancelled() {
//!         std::thread::sleep(Duration::from_millis(1));
//!     }
//!     x
//! }
//!
//! let rt = Runtime::new(2)?;
//! let r = rt.compute_timeout(graph! { spin(1) }, Duration::from_millis(20));
//! assert!(matches!(r, Err(Error::TimedOut { .. })));
//!
//! let h = rt.spawn(graph! { spin(2) });
//! h.cancel();
//! assert!(matches!(h.wait(), Err(Error::Cancelled)));
//! # Ok::<(), Error>(())
//! ```
//!
//! # Limits
//!
//! - A graph holds at most `u32::MAX - 3` nodes (a node is a task run node
//!   by node, a fused loop, or a value of a vector), and a family or a
//!   fused loop as many. Beyond, `compute` returns [`Error::GraphTooLarge`],
//!   before any task runs.
//! - Storage that cannot be allocated while the graph is built (the nodes'
//!   records and output cells) is [`Error::OutOfMemory`], before any task
//!   runs. Memory a task allocates itself follows Rust's rules (an abort).
//!   A call site that cannot take another node takes no more: the graph's
//!   plain code still runs to its end (its loops too), then the graph fails.
//! - A runtime has at most [`Runtime::MAX_THREADS`] (4096) threads;
//!   `Runtime::new(100_000)` is [`Error::TooManyThreads`].
//! - An index out of range (`v[i]` on a vector of lazy values) is
//!   [`Error::IndexOutOfRange`], and a `tree_reduce` of an empty vector
//!   [`Error::EmptyReduce`].
//! - A value whose `Drop` panics while a task that holds it is itself
//!   unwinding aborts the process, as Rust does for any panic during a
//!   panic. A panic in plain code of a fused loop's body (outside the tasks,
//!   e.g. an index out of bounds) is raised again in the caller of
//!   `compute`, as plain Rust would.
//!
//! [`Error::TaskPanicked`]: crate::Error::TaskPanicked
//! [`Error::TaskFailed`]: crate::Error::TaskFailed
//! [`Error::Cancelled`]: crate::Error::Cancelled
//! [`Error::TimedOut`]: crate::Error::TimedOut
//! [`Error::InputFailed`]: crate::Error::InputFailed
//! [`Error::GraphTooLarge`]: crate::Error::GraphTooLarge
//! [`Error::OutOfMemory`]: crate::Error::OutOfMemory
//! [`Error::TooManyThreads`]: crate::Error::TooManyThreads
//! [`Error::IndexOutOfRange`]: crate::Error::IndexOutOfRange
//! [`Error::EmptyReduce`]: crate::Error::EmptyReduce
//! [`Runtime::MAX_THREADS`]: crate::Runtime::MAX_THREADS
//! [`TaskInfo::name`]: crate::TaskInfo::name
