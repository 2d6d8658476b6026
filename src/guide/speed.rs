//! Speed: what taskgraph costs on top of the tasks.
//!
//! The numbers on this page come from the benchmark suite in `benches/`
//! (`cargo bench --bench suite`); `benches/README.md` in the repository has
//! the shapes, the method and the full tables, measured against a plain
//! loop and hand-written rayon.
//!
//! - **Loops run fused, wherever they are.** A loop whose iterations each
//!   are a chain of tasks (each reads the one before) over a range, with
//!   tasks before and after it, beside other loops, or as a rectangular nest
//!   (`for r in 0..h { for c in 0..w { .. } }`), runs as blocks of plain
//!   iterations, split over the threads only when another thread wants work;
//!   a `tree_reduce` of what it pushes is computed inside the blocks. On the
//!   tutorial's loop that costs less than the plain sequential loop; heavy
//!   tasks still spread over every thread, and results, errors and the
//!   reduction tree are the same as node by node
//!   ([`Runtime::builder().fuse_loops(false)`](crate::RuntimeBuilder::fuse_loops)
//!   turns it off).
//!
//! - **Step loops run fused, in tiles.** A top-level
//!   `for t in range { let mut next = Vec::new(); ..; cur = next; }` whose
//!   inner loop (`for i in a..b`) is straight-line (task calls, plain
//!   `let`s, one push onto `next`) and reads `cur` only at the loop variable
//!   plus or minus a constant, written so (`cur[i - 1]`, `cur[i]`,
//!   `cur[i + 1]`; `cur[i - 2 + 1]` could underflow on the way), with boundary
//!   pushes before and after it, runs as one fused loop: each step's values
//!   cut into tiles (two a thread; the whole step on one thread), a
//!   tile of the next step starting as soon as the tiles within its reach
//!   are done, with no barrier between steps; on several threads, where
//!   the reach is narrow enough, tiles span several steps (trapezoids,
//!   in diamonds that keep every thread busy in every phase), so
//!   neighbouring threads meet once every few dozen or hundred steps, not
//!   at every step. Inside a tile the inner
//!   loop's values are a plain loop over slices of the step before (the
//!   cells a run reads are checked once, not at every read): the zero-work
//!   1-D stencil runs at about 1.2-1.3× the plain Rust loop on one thread.
//!   The reach is read from the index expressions at compile time and
//!   checked against the widths when the graph is built; where it cannot be
//!   (`cur[(i + w - 1) % w]`, an `if` in the body, an inner loop over
//!   `(a..b).step_by(k)`) the loop runs node by node.
//!
//! - **The pairwise `while` tree runs as a `tree_reduce`.** A top-level
//!   `while level.len() > 1 { let mut next = Vec::new(); for i in
//!   (0..level.len()).step_by(2) { .. next.push(f(level[i], level[i + 1])) ..
//!   } level = next; }` (or over `level.chunks(2)`) is the tree
//!   `tree_reduce` builds. Right after the loop (or `.collect()`) that makes
//!   `level`, it is computed in that loop's fused blocks, as a `tree_reduce`
//!   of the collected values is, without writing the leaves out: about 1.3×
//!   the plain loop on one thread at zero work (N = 65 536), against about
//!   120× node by node. Anywhere else it runs as a fused `tree_reduce` of
//!   the vector, about 6×.
//!
//! - **Wavefronts run in tiles.** A vector declared empty and filled row
//!   after row (`for r in 0..n { for c in 0..w { let cell = if r == 0 || c
//!   == 0 { leaf(..) } else { f(grid[(r - 1) * w + c], grid[r * w + c - 1])
//!   }; grid.push(cell); } }`) runs fused when every read is above and to
//!   the left of the cell, which the macro reads from the indices and the
//!   `if` conditions around them: tiles of rows × columns, each waiting for
//!   the tile above and the one to its left, rows of plain code inside.
//!   About 2× the plain loop on one thread at zero work (N = 1 024). A read
//!   the conditions do not keep above and left (`grid[r * w + c - 1]`
//!   without `c > 0`: at `c = 0` it is the end of the row above) runs node
//!   by node.
//!
//! - **Everything else runs node by node**, about 20-35 ns and 5 bytes of
//!   scheduler memory per task. Other loops that `if`, `while`, other
//!   indexing or expression tasks appear in are not fused yet: a ring
//!   stencil written with `v[(i + w - 1) % w]` costs 100-200 ns per task at
//!   zero work, against under 1 ns for a fused loop.
//!
//! - **No per-task allocation.** Running a node allocates nothing, boxes
//!   nothing and hashes nothing; the allocations of a `compute` depend on the
//!   number of call sites and threads, not on the number of tasks, and the
//!   scheduler's storage is reused from one compute to the next.
//!
//! - **Fixed costs.** A small graph finishes without waiting for a thread to
//!   wake up, because the thread that calls `compute` runs its tasks (about
//!   1.5 µs for three tasks); `spawn` plus `wait` costs a few tens of
//!   microseconds more than `compute` (two hand-offs between threads).
//!   Progress reads the nodes' states when asked (a fraction of a nanosecond
//!   per node).
//!   With no observer attached a run takes one branch per task on a
//!   run-level flag.
//!
//! Fused or not, the results are the same:
//!
//! ```
//! use taskdag::{delayed, graph, Graph, Runtime};
//!
//! #[delayed]
//! fn inc(x: i64) -> i64 {
//!     x + 1
//! }
//! #[delayed]
//! fn dec(x: i64) -> i64 {
//!     x - 1
//! }
//! #[delayed]
//! fn add(x: i64, y: i64) -> i64 {
//!     x + y
//! }
//!
//! fn tutorial(n: i64) -> impl Graph<Output = i64> {
//!     graph! {
//!         let mut zs = Vec::new();
//!         for i in 0..n {
//!             let x = inc(i);
//!             let y = dec(x);
//!             zs.push(add(x, y));
//!         }
//!         tree_reduce(zs, add)
//!     }
//! }
//!
//! let fused = Runtime::new(2)?;
//! let nodes = Runtime::builder().threads(2).fuse_loops(false).build()?;
//! assert_eq!(fused.compute(tutorial(10_000))?, nodes.compute(tutorial(10_000))?);
//! # Ok::<(), taskdag::Error>(())
//! ```
