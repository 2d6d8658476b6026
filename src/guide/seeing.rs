//! Seeing the computation: pictures, progress bars, the task stream, the
//! performance report, the dashboard and `tracing`.
//!
//! Every picture named below comes from a real run and lies in the
//! repository's `docs/` folder; `bash docs/pictures.sh` regenerates them
//! (`examples/pictures.rs`, then two headless-Chromium screenshots).
//! `cargo run --release --example custom_workloads` writes the same views of
//! the tutorial's loop to `target/custom_workloads/`.
//!
//! # The graph, without running it
//!
//! Every graph can be looked at with the methods of [`Graph`](crate::Graph)
//! (its plain code runs on a copy of its captures, no task runs), then
//! computed, as dask's `z.visualize()` then `z.compute()`:
//!
//! ```
//! use taskdag::{delayed, graph, Graph};
//! # #[delayed] fn inc(x: i64) -> i64 { x + 1 }
//! # #[delayed] fn dec(x: i64) -> i64 { x - 1 }
//! # #[delayed] fn add(x: i64, y: i64) -> i64 { x + y }
//! let n = 8;
//! let g = graph! {
//!     let mut zs = Vec::new();
//!     for i in 0..n {
//!         let x = inc(i);
//!         let y = dec(x);
//!         zs.push(add(x, y));
//!     }
//!     tree_reduce(zs, add)
//! };
//! assert_eq!(g.tasks()?.total, 31);                 // per call site too
//! let dot = g.to_dot()?;                            // one node per task: `inc[i=3]`
//! let svg = g.view().left_right().visualize(std::env::temp_dir().join("graph.svg"))?;
//! let template = g.template_dot();                  // known at compile time
//! assert_eq!(g.compute()?, 64);                     // looking ran no task
//! # let _ = (dot, svg, template);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - `to_dot()` is Graphviz DOT; `visualize(path)` lays the graph out and
//!   draws SVG in pure Rust (no Graphviz), `.png` with the `png` feature,
//!   `.dot` as DOT, and returns the SVG, which displays itself in an evcxr
//!   notebook. Loop iterations are boxes, nested loops nested, a
//!   `tree_reduce` a box of its own (`docs/graph.svg`: the tutorial's loop
//!   for 8 iterations, one node per task).
//! - Past 500 tasks (`view().collapse_above(n)`, `.expand()`) the picture
//!   has one node per call site with its task count, so a million tasks stay
//!   a small picture (`docs/million.svg`: the tutorial's loop with
//!   `n = 1_000_000`, 22 lines of DOT).
//! - The template (`template_dot()`, `view().template()`, `docs/template.svg`)
//!   is what `graph!` knows at compile time: one node per call site, loops as
//!   boxes labelled with what they iterate over, edges labelled with index
//!   maps (`x[i]`, `zs[all i]`, `s[t-1]` for a value carried to the next
//!   iteration).
//!
//! See [`Graph`](crate::Graph) and the [`view`](crate::view) module.
//!
//! # Progress bars
//!
//! [`Runtime::builder().progress_bars(true)`](crate::RuntimeBuilder::progress_bars)
//! (or `rt.observe(Arc::new(ProgressBars::new()))` for a while, see
//! [`progress::ProgressBars`](crate::progress::ProgressBars)) draws one
//! indicatif bar per call site on standard error, and nothing when it is not
//! a terminal:
//!
//! ```text
//! inc [========================================]     256/256     0s
//! dec [========================================]     256/256     0s
//! add [========================================]     256/256     0s
//! add [======================>                 ]     140/255     0s
//! ```
//!
//! # Task stream
//!
//! An `Arc<`[`TaskStream`](crate::stream::TaskStream)`>` attached with
//! [`rt.observe(..)`](crate::Runtime::observe) records every task (thread,
//! call site, loop indices, start, end) and every block of a fused loop with
//! its iteration range;
//! [`write_chrome_trace(path)`](crate::stream::TaskStream::write_chrome_trace)
//! writes Chrome trace-event JSON, one track per pool thread, that Perfetto
//! and `chrome://tracing` open. With no observer attached a run takes one
//! branch per task on a run-level flag; see `benches/README.md` for what
//! observers cost.
//!
//! # Performance report
//!
//! [`rt.performance_report("report.html", |rt| ..)`](crate::Runtime::performance_report)
//! (or [`stream.write_report(path)`](crate::stream::TaskStream::write_report))
//! writes one self-contained HTML file, like dask's `performance_report`:
//! per call site the count, total, mean and longest duration and share of
//! the time, the task stream per thread, and the graph's template coloured by
//! where the time went (`docs/report.png`: a report of the tutorial's loop).
//!
//! ```
//! use std::sync::Arc;
//! use taskdag::stream::TaskStream;
//! use taskdag::{delayed, graph, Runtime};
//!
//! #[delayed]
//! fn inc(x: i64) -> i64 {
//!     x + 1
//! }
//!
//! let rt = Runtime::new(2)?;
//! let stream = Arc::new(TaskStream::new());
//! {
//!     let _watching = rt.observe(stream.clone()); // until dropped
//!     rt.compute(graph! {
//!         let xs: Vec<_> = (0..10).map(|i| inc(i)).collect();
//!         xs
//!     })?;
//! }
//! let dir = std::env::temp_dir();
//! stream.write_chrome_trace(dir.join("taskgraph-guide-trace.json"))?;
//! stream.write_report(dir.join("taskgraph-guide-report.html"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Live dashboard
//!
//! With the `dashboard` feature, `Runtime::builder().dashboard("127.0.0.1:8787")`
//! serves a page (it prints its link) with per-call-site progress, the latest
//! tasks per thread and the template graph coloured by state, updating while
//! graphs run, like dask's `/status` and `/graph` pages (`docs/dashboard.png`:
//! the dashboard during a run). It listens where you tell it: keep it on
//! loopback unless others should see it. Its test drives headless Chromium
//! (Debian's `chromium`):
//!
//! ```sh
//! cargo test --features dashboard --test dashboard
//! ```
//!
//! # Tracing
//!
//! With the `tracing` feature, `Runtime::builder().tracing(true)` opens a
//! [`tracing`](https://docs.rs/tracing) span per run, per task run node by
//! node (`function`, `indices`, call site, thread) and per block of a fused
//! loop (its iteration range), so the subscriber your application already
//! installs sees the task stream, and events emitted inside a task belong to
//! its span ([`trace`](crate::trace)).
