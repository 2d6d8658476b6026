//! The runtime: one pool of threads for every graph.
//!
//! - **One pool for every graph.** [`Runtime::new(n)`](crate::Runtime::new)
//!   starts `n` threads once; every graph computed on the runtime shares
//!   them, and an idle thread takes work from any graph that has some.
//!
//! - **At most `n` tasks at once**, however many threads call `compute` or
//!   `spawn`, and with graphs computed inside tasks: size a pool for memory,
//!   a GPU, licences or a connection limit, and it holds. The thread that
//!   calls [`compute`](crate::Runtime::compute) runs tasks of its graph
//!   itself while one of the `n` places is free, so a small graph finishes
//!   without waiting for a thread to wake up (about 1 µs for three tasks);
//!   otherwise it waits for a place. A task that waits for another graph
//!   (a nested `compute`, [`Handle::wait`](crate::Handle::wait), or a wait of
//!   its own wrapped in [`blocking`](crate::blocking)) gives its place up
//!   while it waits and takes one again before it goes on, so no
//!   arrangement of waits deadlocks. A task that blocks in its own code
//!   without `blocking` keeps its place.
//!
//! - **Settings.** [`Runtime::builder()`](crate::Runtime::builder) also sets
//!   thread names, stack size and how much storage the runtime keeps between
//!   computes; it turns fused loops off
//!   ([`fuse_loops(false)`](crate::RuntimeBuilder::fuse_loops)) and
//!   attaches progress bars, observers, the dashboard and `tracing` (see
//!   [`seeing`](super::seeing)).
//!
//! - **A default runtime.** [`g.compute()`](crate::Graph::compute) runs a
//!   graph on a default runtime with one thread per core.
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
