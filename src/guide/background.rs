//! Background runs (dask's `persist`), graphs awaited from async code, and
//! graphs that read them.
//!
//! # Spawn and a `Handle`
//!
//! [`rt.spawn(g)`](crate::Runtime::spawn) starts a graph and returns a
//! [`Handle`] at once:
//!
//! - [`wait()`](crate::Handle::wait), [`try_wait()`](crate::Handle::try_wait)
//!   and [`wait_timeout(d)`](crate::Handle::wait_timeout) (the last two give
//!   the handle back if it is still running),
//!   [`is_finished()`](crate::Handle::is_finished),
//!   [`cancel()`](crate::Handle::cancel) (see
//!   [`failures`](super::failures#cancellation-and-timeouts));
//! - [`progress()`](crate::Handle::progress) (`Progress { done, total,
//!   failed, .. }`, with the run's use of the result cache), also per call
//!   site with
//!   [`progress_by_family()`](crate::Handle::progress_by_family). Nothing is
//!   counted per task: progress reads the nodes' states when asked (a
//!   fraction of a nanosecond per node), and fused loops publish their
//!   counts every few thousand light iterations.
//!
//! Dropping a `Handle` detaches the run, which still finishes and drops its
//! values; a handle is `Send + Sync`. `spawn` plus `wait` costs a few tens
//! of microseconds more than `compute` (two hand-offs between threads). A
//! spawned graph holds no thread while it runs: the pool's own threads
//! build it and, at its end, tear its run down, so any number may be in
//! flight.
//! Progress and cancellation need `spawn` (or `compute_timeout`): `compute`
//! has neither.
//!
//! ```
//! use std::time::Duration;
//! use taskdag::{delayed, graph, Progress, Runtime};
//!
//! #[delayed]
//! fn inc(x: i64) -> i64 {
//!     x + 1
//! }
//! #[delayed]
//! fn add(x: i64, y: i64) -> i64 {
//!     x + y
//! }
//!
//! let rt = Runtime::new(2)?;
//! let h = rt.spawn(graph! {
//!     let zs: Vec<_> = (0..100).map(|i| inc(i)).collect();
//!     tree_reduce(zs, add)
//! });
//! let Progress { done, total, failed, .. } = h.progress(); // 0/199 up to 199/199
//! assert!(done <= total && total == 199 && failed == 0);
//! match h.wait_timeout(Duration::from_secs(10)) {
//!     Ok(result) => assert_eq!(result?, 5050),
//!     Err(still_running) => still_running.cancel(), // the handle, given back
//! }
//! # Ok::<(), taskdag::Error>(())
//! ```
//!
//! # Awaiting a graph from async code
//!
//! A service that wants a graph's output inside an `async fn` (a tokio
//! task, say) must not call `compute` there: that blocks the executor's
//! thread, and every other task on it, for the graph's whole run. Await it
//! instead:
//!
//! - [`rt.compute_async(g).await`](crate::Runtime::compute_async) returns
//!   what `compute` would. The graph is built and started in the call, on
//!   the calling thread; its tasks run on the pool (never on the awaiting
//!   thread: a task may block), and
//!   the awaiting task is woken once, through its `Waker`, when the run
//!   ends, so any executor works (tokio, smol, a hand-written `block_on`)
//!   and nothing polls in a loop. Dropping the future before it is ready
//!   (a `select!` that took another branch, a timeout) cancels the graph as
//!   [`cancel()`](crate::Handle::cancel) does; the drop never blocks (the
//!   pool drops the graph's values once its running tasks have ended).
//! - `rt.spawn(g).await`: a [`Handle`] is
//!   [`IntoFuture`](std::future::IntoFuture); dropping that future detaches the run,
//!   as dropping the handle does. Both futures are
//!   [`Computing`](crate::Computing), whose `handle()` reads progress and
//!   cancels while it is awaited.
//!
//! A graph awaited (or spawned) where a tokio runtime is current polls its
//! `#[delayed] async fn` tasks in that runtime's context (feature `tokio`),
//! so they can use its timers and sockets: see the `async_crawler` example.
//! The library itself depends on no executor. Awaiting costs two hand-offs
//! between threads (12-28 µs for a tiny graph on a loaded 2-core machine,
//! against 1.2-1.9 µs for its `compute`),
//! plus a lock per pending poll: about what
//! `tokio::task::spawn_blocking(move || rt.compute(g))` costs, without a
//! blocking-pool thread held for the graph's run (see `benches/README.md`).
//! No thread waits for a graph awaited (or spawned): 500 awaited at once
//! leave the process with the pool's threads and the executor's. On the
//! default runtime, `g.compute_async().await`
//! ([`Graph::compute_async`](crate::Graph::compute_async)) does the same.
//!
//! ```
//! use std::time::Duration;
//! use taskdag::{delayed, graph, Error, Runtime};
//!
//! #[delayed]
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//! #[delayed]
//! fn add(x: u64, y: u64) -> u64 {
//!     x + y
//! }
//! #[delayed]
//! fn slow(i: u64) -> u64 {
//!     std::thread::sleep(Duration::from_millis(2));
//!     i
//! }
//!
//! async fn sum_of_squares(rt: &Runtime, n: u64) -> Result<u64, Error> {
//!     rt.compute_async(graph! {
//!         let v: Vec<_> = (0..n).map(|i| square(i)).collect();
//!         tree_reduce(v, add)
//!     })
//!     .await
//! }
//!
//! let rt = Runtime::new(2)?;
//! let tokio = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! tokio.block_on(async {
//!     assert_eq!(sum_of_squares(&rt, 10).await?, 285);
//!     // A handle awaits the same way.
//!     assert_eq!(rt.spawn(graph! { add(square(3), square(4)) }).await?, 25);
//!     // A timeout drops the future: the graph is cancelled.
//!     let long = rt.compute_async(graph! {
//!         let v: Vec<_> = (0..10_000).map(|i| slow(i)).collect();
//!         tree_reduce(v, add)
//!     });
//!     let h = long.handle().unwrap().clone();
//!     assert!(tokio::time::timeout(Duration::from_millis(20), long).await.is_err());
//!     assert!(matches!(h.await, Err(Error::Cancelled)));
//!     Ok::<(), Error>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Graphs on running graphs
//!
//! `tree_reduce(zs, add)` takes, besides a vector of lazy values, a spawned
//! graph's `Handle<Vec<T>>` (its output is moved in) or a reference to one:
//! `tree_reduce(&zs, add)` borrows `zs` and clones the values, so several
//! graphs can read it and `zs.wait()` still works after (a graph that
//! borrows cannot be spawned, which needs `'static`: move the handle in). A
//! `Vec<T>` or a `&[T]` is read the same way: no identity task per element.
//! The same values are a vector of lazy values, whose length is plain, when
//! a variable bound to them at the top of `graph!` is later assigned one
//! (dask's notebook: `let mut l = &zs; while l.len() > 1 { ..; l = new_l;
//! }`, see [`language`](super::language)). The later graph is built without
//! waiting for the spawned one; only the tasks that read its outputs wait,
//! and they hold no thread while they do. If the spawned graph fails or is
//! cancelled, the reader fails with
//! [`Error::InputFailed`](crate::Error::InputFailed).
//!
//! ```
//! use taskdag::{delayed, graph, Runtime};
//!
//! #[delayed]
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//! #[delayed]
//! fn add(x: u64, y: u64) -> u64 {
//!     x + y
//! }
//! #[delayed]
//! fn max(x: u64, y: u64) -> u64 {
//!     x.max(y)
//! }
//!
//! let rt = Runtime::new(2)?;
//! let squares = rt.spawn(graph! {
//!     let v: Vec<_> = (1..=10).map(|i| square(i)).collect();
//!     v
//! });
//! // Built without waiting: only the reading tasks wait for `squares`.
//! let r = &squares; // by reference: cloned, so several graphs can read it
//! let biggest = rt.compute(graph! { tree_reduce(r, max) })?;
//! let again = rt.compute(graph! { tree_reduce(&squares, add) })?; // borrowed
//! let sum = rt.compute(graph! { tree_reduce(squares, add) })?; // moved in
//! assert_eq!((biggest, again, sum), (100, 385, 385));
//! # Ok::<(), taskdag::Error>(())
//! ```
//!
//! Not yet: reading a spawned graph's output element by element as it is
//! produced (a `Handle`'s outputs are there when the spawned graph has
//! finished), and a `Handle` used directly as an argument of a task or an
//! index (`f(h)`, `sum(zs)`, `zs[3]` without a variable that is reassigned
//! lazy values): read it with `tree_reduce`, through such a variable, or
//! with `wait()`.
//!
//! [`Handle`]: crate::Handle
