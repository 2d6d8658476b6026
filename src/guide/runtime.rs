//! The runtime: one pool of threads for every graph.
//!
//! - **One pool for every graph.** [`Runtime::new(n)`](crate::Runtime::new)
//!   starts `n` threads once; every graph computed on the runtime shares
//!   them, and an idle thread takes work from any graph that has some.
//!
//! - **At most `n` tasks at once**, however many threads call `compute` or
//!   `spawn`, and with graphs computed inside tasks: size a pool for memory,
//!   a GPU, licences or a connection limit, and it holds. The thread that
//!   calls [`compute`](crate::Runtime::compute) takes one of the `n` places
//!   if one is free and then runs its graph's first task itself (and more
//!   while it finds work), so a small graph finishes without waiting for a
//!   thread to wake up (about 1 µs for three tasks); otherwise it waits for
//!   a place. A task that waits for another graph
//!   (a nested `compute`, [`Handle::wait`](crate::Handle::wait), or a wait of
//!   its own wrapped in [`blocking`](crate::blocking)) gives its place up
//!   while it waits and takes one again before it goes on, so no
//!   arrangement of waits deadlocks. A task that blocks in its own code
//!   without `blocking` keeps its place.
//!
//! - **Async tasks.** A `#[delayed] async fn` is a task like any other:
//!   typed edges, `&T` and by-value parameters, `?` on its `Result`, names
//!   with loop indices in errors, observers and progress. When it is ready
//!   its future is built and polled on a pool thread (one of the `n`
//!   places, as any task); while it is pending it holds no thread and no
//!   place, and its waker puts it back as work. So 1,000 tasks each waiting
//!   50 ms for a timer take about 50 ms on two threads, not 25 s.
//!   [`max_in_flight(k)`](crate::RuntimeBuilder::max_in_flight) bounds the
//!   async tasks started and not finished (default 1024), as a connection
//!   pool needs; the others wait as work, holding no thread. A loop that
//!   calls an async task runs node by node (no fused form), with the same
//!   results. Futures that need no reactor (channels, hand-written timers,
//!   most of `futures`) work as they are; with the `tokio` feature, futures
//!   are polled inside a tokio runtime's context, the one given to
//!   [`RuntimeBuilder::tokio`](crate::RuntimeBuilder) or else the one
//!   current where `compute` is called, so `tokio::time::sleep` and
//!   `tokio::net` work in tasks. Cancellation, a timeout or another task's
//!   failure drops every pending future exactly once.
//!
//! - **Settings.** [`Runtime::builder()`](crate::Runtime::builder) also sets
//!   thread names, stack size and how much storage the runtime keeps between
//!   computes; it turns fused loops off
//!   ([`fuse_loops(false)`](crate::RuntimeBuilder::fuse_loops)) and
//!   attaches progress bars, observers, the dashboard and `tracing` (see
//!   [`seeing`](super::seeing)).
//!
//! - **A default runtime.** [`g.compute()`](crate::Graph::compute) runs a
//!   graph on a default runtime with one thread per core, and
//!   [`g.compute_async().await`](crate::Graph::compute_async) awaits it
//!   there from async code.
//!
//! - **Shutdown.** Dropping a `Runtime` waits for every graph still running
//!   on it, spawned ones included (cancel them first to leave quickly, see
//!   [`background`](super::background)), then stops its threads: none
//!   outlives it, and handles still return.
//!
//! - **Limits.** A runtime has at most
//!   [`Runtime::MAX_THREADS`](crate::Runtime::MAX_THREADS) (4096) threads;
//!   `Runtime::new(100_000)` is [`Error::TooManyThreads`](crate::Error::TooManyThreads).
//!   The other limits are in [`failures`](super::failures#limits).
//!
//! ```
//! use taskdag::{delayed, graph, Graph, Runtime};
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
//! let rt = Runtime::builder()
//!     .threads(2)
//!     .thread_name("worker")
//!     .stack_size(4 << 20)
//!     .build()?;
//! assert_eq!(rt.threads(), 2);
//!
//! // Two threads computing on the same runtime at once.
//! std::thread::scope(|s| {
//!     let a = s.spawn(|| rt.compute(graph! { add(inc(1), inc(2)) }));
//!     let b = s.spawn(|| rt.compute(graph! { inc(41) }));
//!     assert_eq!(a.join().unwrap().unwrap(), 5);
//!     assert_eq!(b.join().unwrap().unwrap(), 42);
//! });
//!
//! // The default runtime, one thread per core.
//! assert_eq!(graph! { inc(1) }.compute()?, 2);
//! assert!(Runtime::new(100_000).is_err());
//! # Ok::<(), taskdag::Error>(())
//! ```
//!
//! An async task whose future is woken by a thread of its own (any
//! executor-agnostic future works the same way):
//!
//! ```
//! use std::future::Future;
//! use std::sync::{Arc, Mutex};
//! use std::task::{Poll, Waker};
//! use taskdag::{delayed, graph, Runtime};
//!
//! /// A reply computed elsewhere: the task holds no pool thread meanwhile.
//! #[delayed]
//! async fn ask(x: u64) -> u64 {
//!     reply(move || x * 2).await
//! }
//!
//! #[delayed]
//! fn add(a: u64, b: &u64) -> u64 {
//!     a + b
//! }
//!
//! /// `f()` on a thread of its own, as a future.
//! fn reply(f: impl FnOnce() -> u64 + Send + 'static) -> impl Future<Output = u64> + Send {
//!     let cell = Arc::new(Mutex::new((None::<u64>, None::<Waker>)));
//!     let theirs = Arc::clone(&cell);
//!     std::thread::spawn(move || {
//!         let v = f();
//!         let mut g = theirs.lock().unwrap();
//!         g.0 = Some(v);
//!         if let Some(w) = g.1.take() {
//!             w.wake();
//!         }
//!     });
//!     std::future::poll_fn(move |cx| {
//!         let mut g = cell.lock().unwrap();
//!         match g.0.take() {
//!             Some(v) => Poll::Ready(v),
//!             None => {
//!                 g.1 = Some(cx.waker().clone());
//!                 Poll::Pending
//!             }
//!         }
//!     })
//! }
//!
//! let rt = Runtime::builder().threads(2).max_in_flight(8).build()?;
//! let v = rt.compute(graph! {
//!     let mut v = Vec::new();
//!     for i in 0..20 {
//!         let a = ask(i);
//!         v.push(add(a, &a));
//!     }
//!     v
//! })?;
//! assert_eq!(v.iter().sum::<u64>(), (0..20).map(|i| 4 * i).sum::<u64>());
//! # Ok::<(), taskdag::Error>(())
//! ```
