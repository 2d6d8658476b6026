//! Graphs in flight cost no thread: 500 graphs awaited at once from the
//! tasks of a tokio runtime, and 500 spawned at once, leave the process
//! with the pool's threads, tokio's and a few more (read from
//! `/proc/self/status`, so Linux only), and each returns its sequential
//! result. A test of its own (one binary, one test): no other test's
//! threads come and go meanwhile.

#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskdag::{delayed, graph, Graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
/// Waits for the gate: every graph stays in flight until all have started.
#[delayed]
fn gated(x: i64, gate: &Arc<AtomicBool>) -> i64 {
    while !gate.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_micros(100));
    }
    x * 3
}

fn graph_of(i: i64, gate: Arc<AtomicBool>) -> impl Graph<Output = i64> + Send + 'static {
    graph! {
        let v: Vec<_> = (0..4).map(|k| inc(i + k)).collect();
        add(gated(i, &gate), tree_reduce(v, add))
    }
}

fn sequential(i: i64) -> i64 {
    i * 3 + (0..4).map(|k| i + k + 1).sum::<i64>()
}

/// The process's threads now.
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .expect("a Threads: line")
        .trim()
        .parse()
        .unwrap()
}

const GRAPHS: i64 = 500;
const POOL: usize = 2;
const TOKIO: usize = 2;
/// Threads beyond the pool's and tokio's that the check allows (none is
/// expected: the runtime's timer thread starts only with a deadline).
const SLACK: usize = 2;

/// Opens a gate when dropped: a failed check unwinds through the
/// runtime's drop, which waits for the gated graphs.
struct Open(Arc<AtomicBool>);
impl Drop for Open {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn graphs_in_flight_hold_no_thread() {
    let before = threads();
    let rt = Arc::new(Runtime::new(POOL).unwrap());
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TOKIO)
        .enable_time()
        .build()
        .unwrap();
    let bound = before + POOL + TOKIO + SLACK;

    // Awaited: 500 tokio tasks each await a graph, all pending at once.
    let gate = Arc::new(AtomicBool::new(false));
    let _open = Open(Arc::clone(&gate));
    let started = Arc::new(AtomicUsize::new(0));
    let most = tokio_rt.block_on(async {
        let tasks: Vec<_> = (0..GRAPHS)
            .map(|i| {
                let (rt, gate, started) =
                    (Arc::clone(&rt), Arc::clone(&gate), Arc::clone(&started));
                tokio::spawn(async move {
                    let fut = rt.compute_async(graph_of(i, gate));
                    started.fetch_add(1, Ordering::SeqCst);
                    (i, fut.await)
                })
            })
            .collect();
        while started.load(Ordering::SeqCst) < GRAPHS as usize {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut most = threads();
        gate.store(true, Ordering::SeqCst);
        for t in tasks {
            let (i, r) = t.await.unwrap();
            assert_eq!(r.unwrap(), sequential(i), "awaited graph {i}");
            most = most.max(threads());
        }
        most
    });
    assert!(
        most <= bound,
        "{most} threads with {GRAPHS} graphs awaited ({before} before, pool {POOL}, tokio {TOKIO})"
    );

    // Spawned: 500 handles from a tokio task, awaited afterwards.
    let gate = Arc::new(AtomicBool::new(false));
    let _open2 = Open(Arc::clone(&gate));
    let most = tokio_rt.block_on(async {
        let handles: Vec<_> = (0..GRAPHS)
            .map(|i| (i, rt.spawn(graph_of(i, Arc::clone(&gate)))))
            .collect();
        let mut most = threads();
        gate.store(true, Ordering::SeqCst);
        for (i, h) in handles {
            assert_eq!(h.await.unwrap(), sequential(i), "spawned graph {i}");
            most = most.max(threads());
        }
        most
    });
    assert!(
        most <= bound,
        "{most} threads with {GRAPHS} graphs spawned ({before} before, pool {POOL}, tokio {TOKIO})"
    );
    drop(tokio_rt);
    drop(rt);
}
