//! The same graphs on a dask.distributed cluster (the `cluster` feature).
//!
//! With the `cluster` feature, the same graph runs on a
//! [dask.distributed](https://distributed.dask.org) cluster, and workers can
//! be added while it runs, as in the tutorial's `client.cluster.start_worker`.
//! The API is the `taskdag::cluster` module (built with the feature).
//! A function returning `impl Graph<Output = T>` returns a graph for a
//! cluster as for a local runtime:
//!
//! ```rust,no_run
//! # #[cfg(feature = "cluster")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use taskdag::cluster::Dask;
//! use taskdag::{delayed, graph, Graph};
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
//! fn tutorial(n: i64) -> impl Graph<Output = i64> {
//!     graph! {
//!         let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
//!         tree_reduce(zs, add)
//!     }
//! }
//!
//! let cluster = Dask::local(2, 2)?;        // a LocalCluster: 2 workers x 2 threads
//! // or Dask::connect("tcp://scheduler:8786")? for a running scheduler
//! println!("dashboard: {}", cluster.dashboard_link());
//! let h = cluster.spawn(tutorial(256));    // the same graph function
//! cluster.add_workers(2)?;                 // they take blocks at once
//! let total = h.wait()?;                   // the same value, or the same Error
//! assert_eq!(total, (1..=256).sum::<i64>());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "cluster"))]
//! # fn main() {}
//! ```
//!
//! - **How it runs.** The graph is instantiated here (no task runs) and cut
//!   into blocks: ranges of loop iterations through the whole loop body, the
//!   tree reductions, the lone tasks. Each block is one dask task, named after
//!   its functions and iterations (`inc_dec_add[0..31]`), so dask's dashboard
//!   groups them by family. A block runs *your program* again on a worker (the
//!   executable travels through dask once per worker, no shared file system),
//!   which reaches the same `spawn` call, runs only its block on a local
//!   runtime, and hands the values other blocks need to dask as bytes. A task
//!   that panics or returns `Err` on a worker comes back as the same `Error`
//!   (function, loop indices, call site, message); a worker killed mid-run
//!   loses nothing, dask runs its blocks again.
//! - **What it asks of the program.** Every task's value is
//!   `serde::Serialize + Deserialize` (otherwise `spawn` and `compute`
//!   return an `Error::Cluster` that names the graph's value types before
//!   anything is sent; local runs ask for neither). The code
//!   before the call must do the same every time with the same arguments: it
//!   runs again for each block.
//! - **When it pays off.** A block costs a few milliseconds (a dask task and
//!   a process start): blocks should carry 100 ms of work or more.
//!   `Dask::set_block_size` sets the iterations per block; by default each
//!   loop is cut into about two blocks per thread of the cluster.
//! - **Starting a cluster by hand**: `pip install distributed`, then
//!   `dask scheduler` on one machine and `dask worker tcp://scheduler:8786` on
//!   each of the others; `Dask::connect("tcp://scheduler:8786")` joins it.
//!   `Dask::local` finds a Python with `distributed`, or makes a virtual
//!   environment under `target/` the first time (about 15 s); see
//!   `taskgraph-cluster/README.md`.
//!
//! Not yet: graphs that read a spawned `Handle` or a plain `Vec` given to
//! `tree_reduce` (they hold values only this process has) cannot run on a
//! cluster.
