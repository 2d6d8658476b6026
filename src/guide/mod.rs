//! Guides: how taskgraph behaves, one topic a page.
//!
//! The crate's front page is the tutorial; these pages are the reference
//! behind it. Each example on them is a doctest that runs.
//!
//! - [`language`]: what may be written inside `graph!`, and what becomes a task.
//! - [`values`]: how values travel along the edges: moved, borrowed, cloned,
//!   dropped early.
//! - [`runtime`]: the pool every graph shares, its settings, and shutdown.
//! - [`failures`]: panics, `Err` through `?`, cancellation, timeouts and limits.
//! - [`background`]: spawned graphs, their handles, graphs awaited from
//!   async code, and graphs that read them.
//! - [`seeing`]: pictures of a graph, progress bars, the task stream, the
//!   performance report, the dashboard and `tracing`.
//! - [`compile_errors`]: what the compiler catches, and how it says so.
//! - [`speed`]: what taskgraph costs on top of the tasks.
//! - [`cluster`]: the same graphs on a dask.distributed cluster.
#![cfg_attr(
    feature = "cache",
    doc = "- [`caching`]: results kept on disk, reused by later runs and after a crash (the `cache` feature)."
)]

pub mod background;
#[cfg(feature = "cache")]
pub mod caching;
pub mod cluster;
pub mod compile_errors;
pub mod failures;
pub mod language;
pub mod runtime;
pub mod seeing;
pub mod speed;
pub mod values;
