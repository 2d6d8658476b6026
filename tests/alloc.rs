//! Allocations per `compute` depend on the graph's call sites and the pool's
//! threads, never on the number of nodes: counted exactly with a counting
//! global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use taskgraph::{delayed, graph, Runtime};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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

fn tutorial(rt: &Runtime, n: i64) -> (i64, usize) {
    let before = ALLOCS.load(Ordering::SeqCst);
    let total = rt
        .compute(graph! {
            let mut zs = Vec::new();
            for i in 0..n {
                let x = inc(i);
                let y = dec(x);
                let z = add(x, y);
                zs.push(z);
            }
            tree_reduce(zs, add)
        })
        .unwrap();
    (total, ALLOCS.load(Ordering::SeqCst) - before)
}

/// The tutorial's loop with tasks before and after it, next to a second
/// loop, and a loop whose values both a gathering task and `tree_reduce` read.
fn mixed(rt: &Runtime, n: i64) -> (i64, usize) {
    let before = ALLOCS.load(Ordering::SeqCst);
    let total = rt
        .compute(graph! {
            let k = inc(0);
            let mut zs = Vec::new();
            for i in 0..n {
                let x = inc(i);
                let y = dec(x);
                let z = add(x, y);
                zs.push(z);
            }
            let t = tree_reduce(zs, add);
            let ws: Vec<_> = (0..n).map(|i| dec(inc(i))).collect();
            let s = sum(ws);
            let r = tree_reduce(ws, add);
            add(add(t, k), add(s, r))
        })
        .unwrap();
    (total, ALLOCS.load(Ordering::SeqCst) - before)
}

fn mixed_expected(n: i64) -> i64 {
    (0..n).map(|i| 2 * i + 1).sum::<i64>() + 1 + 2 * (0..n).sum::<i64>()
}

#[delayed]
fn sum(v: &[i64]) -> i64 {
    v.iter().sum()
}

fn chain(rt: &Runtime, n: i64) -> (i64, usize) {
    let before = ALLOCS.load(Ordering::SeqCst);
    let s = rt
        .compute(graph! {
            let mut s = inc(0);
            for _ in 0..n {
                s = inc(s);
            }
            s
        })
        .unwrap();
    (s, ALLOCS.load(Ordering::SeqCst) - before)
}

#[test]
fn allocations_per_compute_do_not_grow_with_the_number_of_nodes() {
    // Every runtime is started (and its threads are up) before counting, and
    // none is dropped meanwhile, so no thread starts or exits while counting.
    let configs = [
        (1, true),
        (2, true),
        (4, true),
        (1, false),
        (2, false),
        (4, false),
    ];
    let runtimes: Vec<Runtime> = configs
        .iter()
        .map(|&(t, fuse)| {
            Runtime::builder()
                .threads(t)
                .fuse_loops(fuse)
                .build()
                .unwrap()
        })
        .collect();
    for (rt, &(threads, fuse)) in runtimes.iter().zip(&configs) {
        // Warm up at the largest size: the runtime keeps that storage.
        tutorial(rt, 65_536);
        mixed(rt, 65_536);
        chain(rt, 100_000);
        let (small, a_small) = tutorial(rt, 1024);
        let (large, a_large) = tutorial(rt, 65_536);
        assert_eq!(small, (0..1024).map(|i| 2 * i + 1).sum::<i64>());
        assert_eq!(large, (0..65_536).map(|i| 2 * i + 1).sum::<i64>());
        // On one thread the count is exact. With more, the work queues
        // (crossbeam's deques and injector) take and free buffers as work
        // items pass through them, and how many pass depends on when the
        // other threads steal: a few allocations either way.
        let slack = if threads == 1 { 0 } else { 2 };
        assert!(
            a_small.abs_diff(a_large) <= slack,
            "{threads} threads, fused {fuse}: {a_small} allocations for 1,024 iterations, {a_large} for 65,536"
        );
        // A few per call site and per thread: far below one per node.
        assert!(
            a_large < 32 + 4 * threads,
            "{threads} threads: {a_large} allocations"
        );

        let (m_small, b_small) = mixed(rt, 1024);
        let (m_large, b_large) = mixed(rt, 65_536);
        assert_eq!(
            (m_small, m_large),
            (mixed_expected(1024), mixed_expected(65_536))
        );
        assert!(
            b_small.abs_diff(b_large) <= slack,
            "{threads} threads, fused {fuse}: mixed graph allocations {b_small} and {b_large}"
        );
        assert!(
            b_large < 64 + 8 * threads,
            "{threads} threads: {b_large} allocations"
        );

        let (c_small, c_a) = chain(rt, 1_000);
        let (c_large, c_b) = chain(rt, 100_000);
        assert_eq!((c_small, c_large), (1_001, 100_001));
        assert_eq!(
            c_a, c_b,
            "{threads} threads, fused {fuse}: chain allocations"
        );
    }
}
