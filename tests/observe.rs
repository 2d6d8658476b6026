//! Observers: the task stream as Chrome trace JSON (one event per task),
//! progress per call site, the performance report, attaching and detaching.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::ProgressDrawTarget;
use taskdag::observe::{BlockEvent, Observer, RunFinished, RunStarted, TaskEvent};
use taskdag::progress::ProgressBars;
use taskdag::stream::TaskStream;
use taskdag::{delayed, graph, Graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn dec(x: i64) -> i64 {
    x - 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
#[delayed]
fn check(x: i64) -> i64 {
    assert!(x != 7, "seven");
    x
}

fn tutorial(n: i64) -> impl Graph<Output = i64> {
    graph! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
    }
}

fn runtimes() -> [(Runtime, &'static str); 2] {
    [
        (Runtime::new(2).unwrap(), "fused"),
        (
            Runtime::builder()
                .threads(2)
                .fuse_loops(false)
                .build()
                .unwrap(),
            "node by node",
        ),
    ]
}

#[test]
fn the_trace_has_one_event_per_task_on_named_thread_tracks() {
    for (rt, how) in runtimes() {
        let stream = Arc::new(TaskStream::new());
        let w = rt.observe(stream.clone());
        assert_eq!(rt.compute(tutorial(64)).unwrap(), 64 * 64);
        drop(w);
        let json: serde_json::Value =
            serde_json::from_str(&stream.chrome_trace()).expect("valid JSON");
        let events = json["traceEvents"].as_array().unwrap();
        let tasks: Vec<_> = events.iter().filter(|e| e["cat"] == "task").collect();
        for e in &tasks {
            assert_eq!(e["ph"], "X");
            assert!(e["ts"].as_f64().unwrap() >= 0.0 && e["dur"].as_f64().unwrap() >= 0.0);
        }
        let count = |f: &str| tasks.iter().filter(|e| e["args"]["function"] == f).count();
        if how == "fused" {
            // Inside fused blocks tasks are not reported one by one.
            assert_eq!(tasks.len(), 0, "{how}");
        } else {
            assert_eq!(tasks.len(), 3 * 64 + 63, "{how}");
            assert_eq!(
                (count("inc"), count("dec"), count("add")),
                (64, 64, 127),
                "{how}"
            );
            // Every task of the loop is there once, with its index.
            let mut incs: Vec<i64> = tasks
                .iter()
                .filter(|e| e["args"]["function"] == "inc")
                .map(|e| e["args"]["indices"][0].as_i64().unwrap())
                .collect();
            incs.sort_unstable();
            assert_eq!(incs, (0..64).collect::<Vec<_>>(), "{how}");
        }
        // Each track is named after its thread.
        let names: Vec<&str> = events
            .iter()
            .filter(|e| e["ph"] == "M")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert!(!names.is_empty());
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("pool thread ") || n.starts_with("caller")),
            "{names:?}"
        );
        // Fused loops appear as blocks covering every iteration once.
        let mut covered = vec![0; 64];
        for b in events.iter().filter(|e| e["cat"] == "block") {
            let it = &b["args"]["iterations"];
            for k in it[0].as_u64().unwrap()..it[1].as_u64().unwrap() {
                covered[k as usize] += 1;
            }
        }
        match how {
            "fused" => assert!(covered.iter().all(|&c| c == 1), "{covered:?}"),
            _ => assert!(covered.iter().all(|&c| c == 0)),
        }
    }
}

#[test]
fn stats_count_and_time_every_call_site() {
    let rt = Runtime::builder()
        .threads(2)
        .fuse_loops(false)
        .build()
        .unwrap();
    let stream = Arc::new(TaskStream::new());
    let w = rt.observe(stream.clone());
    rt.compute(tutorial(32)).unwrap();
    drop(w);
    let stats = stream.stats();
    let mut counts: Vec<(&str, u64)> = stats.iter().map(|s| (s.site.name, s.count)).collect();
    counts.sort();
    assert_eq!(counts, [("add", 31), ("add", 32), ("dec", 32), ("inc", 32)]);
    let share: f64 = stats.iter().map(|s| s.share).sum();
    assert!(
        (share - 1.0).abs() < 1e-9 || stats.iter().all(|s| s.total == 0),
        "{share}"
    );
    for s in &stats {
        assert!(s.max <= s.total && s.mean() <= s.max);
    }
}

#[test]
fn progress_counts_every_call_site_fused_or_not() {
    for (rt, how) in runtimes() {
        let bars = Arc::new(ProgressBars::with_target(ProgressDrawTarget::hidden()));
        let w = rt.observe(bars.clone());
        rt.compute(tutorial(256)).unwrap();
        drop(w);
        let last: Vec<(&str, u64, u64)> = bars
            .last()
            .iter()
            .map(|b| (b.name, b.done, b.total))
            .collect();
        assert_eq!(
            last,
            [
                ("inc", 256, 256),
                ("dec", 256, 256),
                ("add", 256, 256),
                ("add", 255, 255)
            ],
            "{how}"
        );
    }
}

#[test]
fn two_call_sites_of_one_function_are_told_apart_by_their_line() {
    for (rt, how) in runtimes() {
        let bars = Arc::new(ProgressBars::with_target(ProgressDrawTarget::hidden()));
        let w = rt.observe(bars.clone());
        rt.compute(tutorial(16)).unwrap();
        drop(w);
        let labels: Vec<String> = bars.last().into_iter().map(|b| b.label).collect();
        assert_eq!(
            labels,
            [
                "inc",
                "dec",
                "add @ tests/observe.rs:37",
                "add @ tests/observe.rs:40"
            ],
            "{how}"
        );
    }
    // The report's per-call-site table names them the same way.
    let rt = Runtime::builder()
        .threads(2)
        .fuse_loops(false)
        .build()
        .unwrap();
    let stream = Arc::new(TaskStream::new());
    let w = rt.observe(stream.clone());
    rt.compute(tutorial(16)).unwrap();
    drop(w);
    let html = stream.report("labels");
    assert!(html.contains(">add @ tests/observe.rs:37<"), "{html}");
    assert!(html.contains(">add @ tests/observe.rs:40<"), "{html}");
    assert!(html.contains(">inc<"), "{html}");
}

#[test]
fn the_report_is_one_html_file_with_every_call_site() {
    let rt = Runtime::builder()
        .threads(2)
        .fuse_loops(false)
        .build()
        .unwrap();
    let path = std::env::temp_dir().join(format!("taskgraph-report-{}.html", std::process::id()));
    let total = rt
        .performance_report(&path, |rt| rt.compute(tutorial(16)))
        .unwrap()
        .unwrap();
    assert_eq!(total, 256);
    let html = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "self-contained"
    );
    assert!(html.contains("1 runs, 63 tasks on 2 threads"), "{html}");
    let rows = html.matches("<tr><td><span class=\"sw\"").count();
    assert_eq!(rows, 4, "one row per call site");
    assert_eq!(html.matches("class=\"task\"").count(), 63);
    assert!(
        html.contains("<div id=\"graph\"><svg"),
        "the template is drawn"
    );
}

#[derive(Default)]
struct Counts {
    runs: AtomicU64,
    started: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
    blocks: AtomicU64,
    errors: AtomicU64,
}

impl Observer for Counts {
    fn run_started(&self, _: &RunStarted<'_>) {
        self.runs.fetch_add(1, Ordering::Relaxed);
    }
    fn task_started(&self, _: &TaskEvent<'_>) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }
    fn task_finished(&self, t: &TaskEvent<'_>) {
        assert!(t.end >= t.start);
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.failed
            .fetch_add(u64::from(t.failed), Ordering::Relaxed);
    }
    fn block_finished(&self, b: &BlockEvent) {
        assert!(b.lo < b.hi && b.end >= b.start);
        self.blocks.fetch_add(1, Ordering::Relaxed);
    }
    fn run_finished(&self, r: &RunFinished<'_>) {
        self.errors
            .fetch_add(u64::from(r.error.is_some()), Ordering::Relaxed);
    }
}

#[test]
fn an_observer_hears_until_it_is_detached() {
    let rt = Runtime::new(2).unwrap();
    let c = Arc::new(Counts::default());
    let w = rt.observe(c.clone());
    rt.compute(tutorial(8)).unwrap();
    drop(w);
    rt.compute(tutorial(8)).unwrap();
    assert_eq!(c.runs.load(Ordering::Relaxed), 1);
    // The graph runs fused: its loop is heard as blocks, not as tasks.
    assert_eq!(c.started.load(Ordering::Relaxed), 0);
    assert!(c.blocks.load(Ordering::Relaxed) >= 1);
    let (rt, _) = runtimes().into_iter().nth(1).unwrap();
    let c = Arc::new(Counts::default());
    let w = rt.observe(c.clone());
    rt.compute(tutorial(8)).unwrap();
    drop(w);
    rt.compute(tutorial(8)).unwrap();
    assert_eq!(c.runs.load(Ordering::Relaxed), 1);
    assert_eq!(c.started.load(Ordering::Relaxed), 31);
    assert_eq!(c.finished.load(Ordering::Relaxed), 31);
    assert_eq!(c.blocks.load(Ordering::Relaxed), 0);
}

#[test]
fn a_failed_task_is_reported_failed() {
    for (rt, how) in runtimes() {
        let c = Arc::new(Counts::default());
        let w = rt.observe(c.clone());
        let r = rt.compute(graph! {
            let xs: Vec<_> = (0..10).map(|i| check(i)).collect();
            xs
        });
        drop(w);
        assert!(r.is_err(), "{how}");
        // A fused task's failure is the run's error; a node's is an event too.
        let failed = if how == "fused" { 0 } else { 1 };
        assert_eq!(c.failed.load(Ordering::Relaxed), failed, "{how}");
        assert_eq!(c.errors.load(Ordering::Relaxed), 1, "{how}");
        assert_eq!(
            c.started.load(Ordering::Relaxed),
            c.finished.load(Ordering::Relaxed),
            "{how}"
        );
    }
}

#[test]
fn a_builder_observer_watches_every_run() {
    let c = Arc::new(Counts::default());
    let rt = Runtime::builder()
        .threads(1)
        .fuse_loops(false)
        .observer(c.clone())
        .build()
        .unwrap();
    rt.compute(tutorial(4)).unwrap();
    rt.compute(tutorial(4)).unwrap();
    assert_eq!(c.runs.load(Ordering::Relaxed), 2);
    assert_eq!(c.finished.load(Ordering::Relaxed), 2 * 15);
}
