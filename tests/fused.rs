//! Fused graphs (one loop of chained tasks feeding a reduction, a gathering
//! task or the output; or one loop-carried chain) must behave exactly like
//! the same graphs run node by node: same values, same reduction tree, same
//! errors, and heavy tasks still spread over the threads.

use std::sync::Arc;
use std::time::Duration;

use taskdag::{delayed, graph, Error, Runtime};

mod common;
use common::{max_concurrent, sleep_logged, Spans};

#[delayed]
fn leaf(i: u32) -> String {
    format!("{i}")
}
#[delayed]
fn tag(s: String) -> String {
    s + "'"
}
/// Shows the tree's shape: not associative.
#[delayed]
fn join(a: String, b: String) -> String {
    format!("({a} {b})")
}
#[delayed]
fn count(v: &[String]) -> usize {
    v.iter().map(String::len).sum()
}
#[delayed]
fn step(s: u64, i: u64) -> u64 {
    s.wrapping_mul(6364136223846793005).wrapping_add(i)
}
#[delayed]
fn start(x: u64) -> u64 {
    x
}
#[delayed]
fn fragile(i: i64) -> i64 {
    if i == 77 {
        panic!("no 77");
    }
    i
}
#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn runtimes(threads: usize) -> [Runtime; 2] {
    [true, false].map(|f| {
        Runtime::builder()
            .threads(threads)
            .fuse_loops(f)
            .build()
            .unwrap()
    })
}

#[test]
fn the_reduction_tree_is_the_same_fused_or_not() {
    // Under Miri (`.ci/run`'s miri step) the sizes that reach every tree
    // shape (a leaf, an odd split, a spine) without its slowness.
    let (threads_all, sizes): (&[usize], &[u32]) = if cfg!(miri) {
        (&[1, 2], &[1, 2, 3, 5, 11, 64])
    } else {
        (&[1, 2, 4], &[1, 2, 3, 5, 8, 11, 64, 100, 1000])
    };
    for &threads in threads_all {
        let [fused, nodes] = runtimes(threads);
        for &n in sizes {
            let g = |rt: &Runtime| {
                rt.compute(graph! {
                    let mut parts = Vec::new();
                    for i in 0..n {
                        let s = leaf(i);
                        let t = tag(s);
                        parts.push(t);
                    }
                    tree_reduce(parts, join)
                })
                .unwrap()
            };
            let (a, b) = (g(&fused), g(&nodes));
            assert_eq!(a, b, "n = {n}, {threads} threads");
        }
    }
}

#[delayed]
fn cheap(i: u64) -> u64 {
    i ^ 0x5bd1
}
/// Neither associative nor commutative: the value depends on the tree.
#[delayed]
fn mix(a: u64, b: u64) -> u64 {
    a.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ b
}

/// The pairwise tree over `v`, as `tree_reduce` defines it.
fn pairwise(mut v: Vec<u64>) -> u64 {
    while v.len() > 1 {
        v = v
            .chunks(2)
            .map(|p| if p.len() == 2 { mix(p[0], p[1]) } else { p[0] })
            .collect();
    }
    v[0]
}

/// Light leaves, enough of them that a block's chunks grow to their
/// largest (runs of 8 leaves, several a chunk) and blocks split off
/// unaligned ends: the same tree as the sequential one.
#[test]
fn light_leaves_in_long_blocks_keep_the_tree() {
    let sizes: &[u64] = if cfg!(miri) { &[200] } else { &[5_000, 20_011] };
    for threads in [1, 2] {
        let [fused, nodes] = runtimes(threads);
        for &n in sizes {
            let want = pairwise((0..n).map(|i| i ^ 0x5bd1).collect());
            for rt in [&fused, &nodes] {
                let got = rt
                    .compute(graph! {
                        let mut v = Vec::new();
                        for i in 0..n {
                            v.push(cheap(i));
                        }
                        tree_reduce(v, mix)
                    })
                    .unwrap();
                assert_eq!(got, want, "n = {n}, {threads} threads");
            }
        }
    }
}

#[test]
fn map_collect_gather_and_output() {
    let [fused, nodes] = runtimes(2);
    for rt in [&fused, &nodes] {
        let v = rt
            .compute(graph! { let v: Vec<_> = (3..=9).map(|i| tag(leaf(i))).collect(); v })
            .unwrap();
        assert_eq!(v, (3..=9).map(|i| format!("{i}'")).collect::<Vec<_>>());
        let n = if cfg!(miri) { 100 } else { 500 };
        let c = rt
            .compute(graph! {
                let v: Vec<_> = (0..n).map(|i| leaf(i)).collect();
                count(v)
            })
            .unwrap();
        assert_eq!(c, (0..n).map(|i: u32| i.to_string().len()).sum::<usize>());
        let empty = rt
            .compute(graph! { let v: Vec<_> = (0..0).map(|i| leaf(i)).collect(); count(v) })
            .unwrap();
        assert_eq!(empty, 0);
    }
}

#[test]
fn loop_carried_chain() {
    let [fused, nodes] = runtimes(2);
    let run = |rt: &Runtime, n: u64| {
        rt.compute(graph! {
            let mut s = start(7);
            for i in 0..n {
                s = step(s, i);
            }
            s
        })
        .unwrap()
    };
    let sizes: &[u64] = if cfg!(miri) {
        &[0, 1, 10, 300]
    } else {
        &[0, 1, 10, 10_000]
    };
    for &n in sizes {
        let expected = (0..n).fold(7u64, |s, i| {
            s.wrapping_mul(6364136223846793005).wrapping_add(i)
        });
        assert_eq!(run(&fused, n), expected);
        assert_eq!(run(&nodes, n), expected);
    }
}

#[test]
fn errors_are_the_same_fused_or_not() {
    let [fused, nodes] = runtimes(2);
    let mut messages = Vec::new();
    for rt in [&fused, &nodes] {
        let e = rt
            .compute(graph! {
                let v: Vec<_> = (0..200).map(|i| fragile(i)).collect();
                tree_reduce(v, add)
            })
            .unwrap_err();
        messages.push(e.to_string());
        let Error::TaskPanicked { task, message, .. } = e else {
            panic!()
        };
        assert_eq!(
            (task.function(), task.indices, message.as_str()),
            ("fragile", vec![77], "no 77")
        );
        let n = 0;
        let e = rt
            .compute(graph! {
                let v: Vec<_> = (0..n).map(|i| fragile(i)).collect();
                tree_reduce(v, add)
            })
            .unwrap_err();
        assert!(matches!(e, Error::EmptyReduce { .. }));
        // The runtime keeps working.
        let ok = rt.compute(
            graph! { let v: Vec<_> = (0..10).map(|i| fragile(i)).collect(); tree_reduce(v, add) },
        );
        assert_eq!(ok.unwrap(), 45);
    }
    assert_eq!(messages[0], messages[1]);
}

#[delayed]
fn nap(log: &Spans, i: u32) -> u32 {
    sleep_logged(log, Duration::from_millis(100));
    i
}
#[delayed]
fn plus(a: u32, b: u32) -> u32 {
    a + b
}

#[test]
fn heavy_fused_iterations_spread_over_all_threads() {
    let rt = Runtime::new(4).unwrap();
    let log: Spans = Arc::default();
    let l2 = Arc::clone(&log);
    let total = rt
        .compute(graph! {
            let v: Vec<_> = (0..8).map(|i| nap(&l2, i)).collect();
            tree_reduce(v, plus)
        })
        .unwrap();
    assert_eq!(total, 28);
    assert_eq!(max_concurrent(&log), 4);
}
