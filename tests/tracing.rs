//! The `tracing` feature: a span per run, per node-by-node task and per
//! fused block, seen by a subscriber set for a scope on the computing
//! thread; events inside tasks belong to their task's (or block's) span;
//! failures are recorded; every span is closed when `compute` returns.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use taskdag::{delayed, graph, Error, Runtime};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as the subscriber saw it.
#[derive(Clone, Debug, Default)]
struct SpanRec {
    name: &'static str,
    parent: Option<u64>,
    fields: HashMap<&'static str, String>,
    closed: bool,
}

/// An event and the span it was emitted in.
#[derive(Clone, Debug)]
struct EventRec {
    span: Option<u64>,
    fields: HashMap<&'static str, String>,
}

#[derive(Default)]
struct Seen {
    spans: HashMap<u64, SpanRec>,
    events: Vec<EventRec>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Seen>>);

struct Fields<'a>(&'a mut HashMap<&'static str, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = if attrs.is_root() {
            None
        } else if let Some(p) = attrs.parent() {
            Some(p.into_u64())
        } else {
            ctx.current_span().id().map(Id::into_u64)
        };
        let mut rec = SpanRec {
            name: attrs.metadata().name(),
            parent,
            ..Default::default()
        };
        attrs.record(&mut Fields(&mut rec.fields));
        self.0.lock().unwrap().spans.insert(id.into_u64(), rec);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        let rec = seen.spans.get_mut(&id.into_u64()).unwrap();
        values.record(&mut Fields(&mut rec.fields));
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = ctx.event_span(event).map(|s| s.id().into_u64());
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .events
            .push(EventRec { span, fields });
    }
    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        seen.spans.get_mut(&id.into_u64()).unwrap().closed = true;
    }
}

/// Runs `f` with a recording subscriber current on this thread only.
fn recorded<R>(f: impl FnOnce() -> R) -> (R, Seen) {
    let rec = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(rec.clone());
    let r = tracing::subscriber::with_default(subscriber, f);
    let seen = std::mem::take(&mut *rec.0.lock().unwrap());
    (r, seen)
}

impl Seen {
    fn named(&self, name: &str) -> Vec<(u64, &SpanRec)> {
        let mut v: Vec<_> = self
            .spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(&id, s)| (id, s))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    fn all_closed(&self) -> bool {
        self.spans.values().all(|s| s.closed)
    }
}

#[delayed]
fn inc(x: u64) -> u64 {
    tracing::info!(x, "inc");
    x + 1
}
#[delayed]
fn add(x: u64, y: u64) -> u64 {
    x + y
}
#[delayed]
fn check(x: u64) -> u64 {
    assert!(x != 500, "five hundred");
    x
}

fn runtime() -> Runtime {
    Runtime::builder().threads(2).tracing(true).build().unwrap()
}

#[test]
fn node_by_node_tasks_have_a_span_each_under_their_run() {
    let rt = runtime();
    let (v, seen) = recorded(|| {
        rt.compute(graph! {
            let mut v = Vec::new();
            for i in 0..6 {
                if i % 2 == 0 {
                    v.push(inc(i));
                }
            }
            let last = add(v[0], v[2]);
            (v, last)
        })
        .unwrap()
    });
    assert_eq!(v, (vec![1, 3, 5], 1 + 5));
    let runs = seen.named("run");
    assert_eq!(runs.len(), 1);
    let run = runs[0].0;
    let tasks = seen.named("task");
    let mut incs: Vec<&str> = tasks
        .iter()
        .filter(|(_, t)| t.fields["function"] == "inc")
        .map(|(_, t)| t.fields["indices"].as_str())
        .collect();
    incs.sort();
    assert_eq!(incs, ["[0]", "[2]", "[4]"]);
    assert_eq!(tasks.len(), 4, "{tasks:?}");
    for (_, t) in &tasks {
        assert_eq!(t.parent, Some(run));
        assert!(!t.fields.contains_key("failed"));
        assert_eq!(t.fields["file"], file!());
    }
    // Each task's event is in its own span: `inc(i)` at loop iteration `[i]`.
    assert_eq!(seen.events.len(), 3);
    for e in &seen.events {
        let span = &seen.spans[&e.span.expect("an event inside a span")];
        assert_eq!(span.name, "task");
        assert_eq!(span.fields["indices"], format!("[{}]", e.fields["x"]));
    }
    assert!(seen.all_closed());
}

#[test]
fn a_fused_loop_is_seen_as_blocks_that_cover_its_iterations() {
    let rt = runtime();
    let n = 1000u64;
    let (total, seen) = recorded(|| {
        rt.compute(graph! {
            let mut zs = Vec::new();
            for i in 0..n {
                zs.push(inc(i));
            }
            tree_reduce(zs, add)
        })
        .unwrap()
    });
    assert_eq!(total, (1..=n).sum::<u64>());
    let run = seen.named("run")[0].0;
    let blocks = seen.named("block");
    assert!(!blocks.is_empty());
    let mut ranges: Vec<(u64, u64)> = blocks
        .iter()
        .map(|(_, b)| {
            assert_eq!(b.parent, Some(run));
            assert_eq!(b.fields["function"], "loop");
            (
                b.fields["lo"].parse().unwrap(),
                b.fields["hi"].parse().unwrap(),
            )
        })
        .collect();
    ranges.sort();
    // The blocks' final ranges tile the loop: no iteration twice or missing.
    let mut at = 0;
    for (lo, hi) in ranges {
        assert_eq!(lo, at);
        assert!(hi > lo);
        at = hi;
    }
    assert_eq!(at, n);
    // No span per fused task; each task's event is in the block that ran it.
    assert!(seen.named("task").is_empty());
    assert_eq!(seen.events.len(), n as usize);
    for e in &seen.events {
        let b = &seen.spans[&e.span.unwrap()];
        let x: u64 = e.fields["x"].parse().unwrap();
        let (lo, hi): (u64, u64) = (
            b.fields["lo"].parse().unwrap(),
            b.fields["hi"].parse().unwrap(),
        );
        assert!(lo <= x && x < hi, "{x} outside {lo}..{hi}");
    }
    assert!(seen.all_closed());
}

#[test]
fn failures_are_recorded_and_every_span_is_closed() {
    for fuse in [true, false] {
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .tracing(true)
            .build()
            .unwrap();
        let (r, seen) = recorded(|| {
            rt.compute(graph! {
                let mut zs = Vec::new();
                for i in 0..2000 {
                    zs.push(check(i));
                }
                tree_reduce(zs, add)
            })
        });
        assert!(matches!(r, Err(Error::TaskPanicked { .. })), "{r:?}");
        let (_, run) = seen.named("run")[0];
        assert_eq!(run.fields["failed"], "true");
        let what = if fuse { "block" } else { "task" };
        let failed: Vec<_> = seen
            .named(what)
            .into_iter()
            .filter(|(_, s)| s.fields.get("failed").is_some_and(|f| f == "true"))
            .collect();
        assert!(!failed.is_empty(), "fused {fuse}: no failed {what}");
        assert!(seen.all_closed(), "fused {fuse}");
        // The runtime keeps working, and its spans stay balanced.
        let (v, seen) = recorded(|| rt.compute(graph! { inc(1) }).unwrap());
        assert_eq!(v, 2);
        assert!(seen.all_closed());
    }
}

#[delayed]
fn inner(k: u64) -> u64 {
    let rt = RT.get().unwrap();
    rt.compute(graph! {
        let mut v = Vec::new();
        for i in 0..3 {
            if i != 1 {
                v.push(inc(k + i));
            }
        }
        tree_reduce(v, add)
    })
    .unwrap()
}

static RT: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();

#[test]
fn a_graph_computed_inside_a_task_is_a_run_inside_that_task() {
    let rt = RT.get_or_init(runtime);
    let (v, seen) = recorded(|| {
        rt.compute(graph! {
            let mut v = Vec::new();
            for k in 0..4 {
                if k % 2 == 1 {
                    v.push(inner(10 * k));
                }
            }
            v
        })
        .unwrap()
    });
    assert_eq!(v, [11 + 13, 31 + 33]);
    let runs = seen.named("run");
    assert_eq!(runs.len(), 3);
    let outer = runs.iter().find(|(_, r)| r.parent.is_none()).unwrap().0;
    for (_, r) in runs.iter().filter(|(_, r)| r.parent.is_some()) {
        let parent = &seen.spans[&r.parent.unwrap()];
        assert_eq!(parent.name, "task");
        assert_eq!(parent.fields["function"], "inner");
        assert_eq!(parent.parent, Some(outer));
    }
    assert!(seen.all_closed());
}
