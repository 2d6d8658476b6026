//! Spans for [`tracing`](https://docs.rs/tracing) subscribers (feature
//! `tracing`): the task stream as your application's own traces.
//!
//! [`Spans`] is an [`Observer`]: attached to a runtime
//! ([`RuntimeBuilder::tracing`], [`RuntimeBuilder::observer`] or
//! [`Runtime::observe`]), it opens a span per run, per task that runs node
//! by node and per block of a fused loop, all with target `taskgraph` at
//! level `INFO`:
//!
//! | span    | fields |
//! | ------- | ------ |
//! | `run`   | `run` (its number), `threads`, `failed` (recorded at the end) |
//! | `task`  | `function`, `indices` (loop iterations, e.g. `[3, 7]`), `file`, `line`, `column`, `run`, `thread`, `failed` |
//! | `block` | `function` (`loop`, or the `tree_reduce`'s function), `lo`, `hi` (the iterations it ran), `file`, `line`, `run`, `thread`, `failed` |
//!
//! A task's or block's span is a child of its run's span, and is entered
//! on the thread that runs it for as long as it runs, so events your tasks
//! emit (`tracing::info!` inside a `#[delayed]` function) belong to it. The
//! run's span is a child of whatever span was current where the graph was
//! computed or spawned. A fused loop's tasks have no span each (that is
//! what makes the loop cheap): their events belong to their block's span.
//!
//! Cost: with a subscriber that records spans, what the subscriber costs
//! per span (typically hundreds of nanoseconds), plus a lookup of the run's
//! span under a lock; with none, or with `taskgraph` spans filtered out,
//! about what any observer costs (see `benches/README.md`).
//!
//! Without the feature this module is empty.
//!
//! [`Observer`]: crate::observe::Observer
//! [`RuntimeBuilder::observer`]: crate::RuntimeBuilder::observer
//! [`Runtime::observe`]: crate::Runtime::observe
// Built without the feature, the documentation links to the items it would
// have on docs.rs, which builds it with every feature.
#![cfg_attr(
    feature = "tracing",
    doc = "[`Spans`]: Spans\n[`RuntimeBuilder::tracing`]: crate::RuntimeBuilder::tracing"
)]
#![cfg_attr(
    not(feature = "tracing"),
    doc = "[`Spans`]: https://docs.rs/taskdag/latest/taskdag/trace/struct.Spans.html\n\
           [`RuntimeBuilder::tracing`]: \
           https://docs.rs/taskdag/latest/taskdag/struct.RuntimeBuilder.html#method.tracing"
)]

#[cfg(feature = "tracing")]
mod spans;
#[cfg(feature = "tracing")]
pub use spans::Spans;
