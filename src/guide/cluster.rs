//! The same graphs on a dask.distributed cluster (the `cluster` feature).
//!
//! With the `cluster` feature, the same graph runs on a
//! [dask.distributed](https://distributed.dask.org) cluster, and workers can
//! be added while it runs, as in the tutorial's `client.cluster.start_worker`.
//! The API is the `taskdag::cluster` module (built with the feature).
//! A graph for a cluster is a function of its inputs that returns the graph,
//! `fn(I) -> G`: the same function returning `impl Graph<Output = T>` that
//! gives a graph to a local runtime. A whole program:
//!
//! ```rust,no_run
//! # #[cfg(feature = "cluster")]
//! # mod program {
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
//! pub fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // First: on a worker this runs blocks of graphs, then exits.
//!     Dask::worker_entry();
//!     // Only this process gets here: reading the arguments, files or the
//!     // environment, printing, writing files happen once.
//!     let n: i64 = std::env::args().nth(1).unwrap_or("256".into()).parse()?;
//!     let cluster = Dask::local(2, 2)?;    // a LocalCluster: 2 workers x 2 threads
//!     // or Dask::connect("tcp://scheduler:8786")? for a running scheduler
//!     println!("dashboard: {}", cluster.dashboard_link());
//!     let h = cluster.spawn(n, tutorial);  // n travels with the graph
//!     cluster.add_workers(2)?;             // they take blocks at once
//!     let total = h.wait()?;               // the same value, or the same Error
//!     assert_eq!(total, (1..=n).sum::<i64>());
//!     // A closure that captures nothing works too; its inputs are a tuple.
//!     let offset = 10;
//!     let shifted = cluster.compute((n, offset), |(n, offset)| {
//!         graph! {
//!             let zs: Vec<_> = (0..n).map(|i| inc(i + offset)).collect();
//!             tree_reduce(zs, add)
//!         }
//!     })?;
//!     assert_eq!(shifted, total + n * offset);
//!     Ok(())
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! - **How it runs.** The inputs are serialised, and the graph is built
//!   here from them (no task runs) and cut into blocks: ranges of loop
//!   iterations through the whole loop body, the tree reductions, the lone
//!   tasks. Each block is one dask task, named after its functions and
//!   iterations (`inc_dec_add[0..31]`), so dask's dashboard groups them by
//!   family. A block starts *your program* on a worker (the executable
//!   travels through dask once per worker, no shared file system), where
//!   `Dask::worker_entry` builds the same graph from the same inputs, checks
//!   that it has the client's shape, runs only its block on a local runtime,
//!   and hands the values other blocks need to dask as bytes. A task that
//!   panics or returns `Err` on a worker comes back as the same `Error`
//!   (function, loop indices, call site, message; an `Err`'s source is a
//!   `cluster::RemoteError` with its type name, its texts and its source
//!   chain); a worker
//!   killed mid-run loses nothing, dask runs its blocks again.
//! - **What it asks of the program.** `main` calls `Dask::worker_entry()`
//!   first (a graph sent without it is refused). The inputs are
//!   `serde::Serialize + Deserialize` (a compile error at `spawn` or
//!   `compute` names the type otherwise), and so is every task's value
//!   (otherwise `spawn` and `compute` return an `Error::Cluster` that names
//!   the graph's value types, before anything is sent); local runs ask for
//!   neither. The graph's function is a function or a closure that
//!   captures nothing (the compiler names a captured variable: make it an
//!   input), and builds the graph from its inputs alone: one that reads
//!   something else that differs on a worker (an environment variable, a
//!   file) and so builds another graph there fails with an error naming the
//!   graph and what differs, never a wrong value.
//! - **When it pays off.** A block costs about what a dask task costs, a
//!   millisecond or two (a dask task and a round trip to a block runner, a
//!   process per busy worker thread that lives as long as its worker):
//!   blocks should carry 10 ms of work or more. A block runner builds the
//!   whole graph once for the blocks of it that it runs one after another
//!   (7 to 9 ns per node), and each block then sets up its run over the
//!   whole graph (counters and cells, under a nanosecond per node): for
//!   graphs of many millions of nodes, make blocks large so that they are
//!   few.
//!   `Dask::set_block_size` sets the iterations per block; by default an
//!   outermost loop is cut guided (large blocks first, shrinking towards the
//!   loop's end, so the threads run out of work together and workers that
//!   join later find small blocks to take), and a loop inside another into
//!   about sixteen blocks per thread of the cluster. A block whose inputs
//!   are all on the worker where a block it depends on just ended (one
//!   that ran 5 ms or more) runs there at once, before dask sends its task
//!   (the top of a `tree_reduce`, a chain of steps): no scheduler round
//!   trip between them. In a graph's tail (no more blocks left than the
//!   cluster has threads), a block that starts while its worker has idle
//!   threads runs on them too, up to as many as its tasks can keep busy;
//!   the worker never runs more at once than it has threads.
//! - **Python.** `Dask::local` and `Dask::connect` use `TASKGRAPH_PYTHON`,
//!   else `python3`, which must be able to `import distributed`; otherwise
//!   they fail with an error that says the `pip install` command to run.
//!   Nothing is installed unasked: `Dask::builder().managed_venv(dir)` opts
//!   into a virtual environment that taskgraph makes in `dir` (about 15 s,
//!   once). See `taskgraph-cluster/README.md`.
//! - **Starting a cluster by hand**: `pip install distributed`, then
//!   `dask scheduler` on one machine and `dask worker tcp://scheduler:8786` on
//!   each of the others; `Dask::connect("tcp://scheduler:8786")` joins it.
//!
//! Not yet: graphs that read a spawned `Handle` or a plain `Vec` given to
//! `tree_reduce` (they hold values only this process has) cannot run on a
//! cluster.
