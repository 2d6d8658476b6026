//! Graphs computed from inside tasks, from several threads at once: every
//! combination of node-by-node and fused, outer and inner, must finish.

use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use taskdag::{delayed, graph, Runtime};

static RT: OnceLock<Runtime> = OnceLock::new();

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}
#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a + b
}
/// A task that computes a fused graph on the runtime it runs on.
#[delayed]
fn inner_fused(n: u64) -> u64 {
    let rt = RT.get().unwrap();
    rt.compute(graph! {
        let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
        tree_reduce(v, add)
    })
    .unwrap()
}
/// A task that computes a node-by-node graph on the runtime it runs on.
#[delayed]
fn inner_nodes(n: u64) -> u64 {
    let rt = RT.get().unwrap();
    rt.compute(graph! {
        let a: Vec<_> = (0..n).map(|i| inc(i)).collect();
        let b: Vec<_> = (0..n).map(|i| inc(i)).collect();
        (tree_reduce(a, add), tree_reduce(b, add))
    })
    .map(|(a, b)| a + b)
    .unwrap()
}

fn sum_inc(n: u64) -> u64 {
    (1..=n).sum()
}

/// Two pool threads, three callers: a caller's task that computed a fused
/// graph used to wait for the pool while both pool threads were parked
/// helping graphs that waited for such tasks.
#[test]
fn nested_graphs_from_several_threads_finish() {
    let rt = RT.get_or_init(|| Runtime::new(2).unwrap());
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for round in 0..100u64 {
                    let n = 20 + t + round;
                    // Outer node by node (two independent tasks), inner fused.
                    let (a, b) = rt
                        .compute(graph! {
                            let x = inner_fused(n);
                            let y = inner_fused(n + 1);
                            (x, y)
                        })
                        .unwrap();
                    assert_eq!((a, b), (sum_inc(n), sum_inc(n + 1)));
                    // Outer fused, inner node by node.
                    let s = rt
                        .compute(graph! {
                            let v: Vec<_> = (1..n).map(|k| inner_nodes(k)).collect();
                            tree_reduce(v, add)
                        })
                        .unwrap();
                    assert_eq!(s, (1..n).map(|k| 2 * sum_inc(k)).sum::<u64>());
                }
                tx.send(()).unwrap();
            })
        })
        .collect();
    drop(tx);
    for _ in 0..3 {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("nested graphs deadlocked");
    }
    for t in threads {
        t.join().unwrap();
    }
}
