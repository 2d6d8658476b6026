//! Allocations per `compute` depend on the graph's call sites and the pool's
//! threads, never on the number of nodes: counted with a counting global
//! allocator, held to bounds set by the call sites and the threads (the
//! exact count is partly decided by stealing: see the test).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use taskdag::{delayed, graph, Runtime};

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

/// A 3-point stencil of `w` cells with its two boundary cells, `steps`
/// steps: fused step after step. Returns the sum of the last step.
fn stencil(rt: &Runtime, w: usize, steps: usize) -> (i64, usize) {
    let before = ALLOCS.load(Ordering::SeqCst);
    let v = rt
        .compute(graph! {
            let mut cur: Vec<_> = (0..w as i64).map(|i| inc(i)).collect();
            for _ in 0..steps {
                let mut next = Vec::new();
                next.push(inc(cur[0]));
                for i in 1..w - 1 {
                    next.push(add(add(cur[i - 1], cur[i]), cur[i + 1]) % 1_000_003);
                }
                next.push(dec(cur[w - 1]));
                cur = next;
            }
            cur
        })
        .unwrap();
    let n = ALLOCS.load(Ordering::SeqCst) - before;
    (v.iter().sum(), n)
}

fn stencil_expected(w: usize, steps: usize) -> i64 {
    let mut cur: Vec<i64> = (0..w as i64).map(|i| i + 1).collect();
    for _ in 0..steps {
        let mut next = vec![cur[0] + 1];
        for i in 1..w - 1 {
            next.push((cur[i - 1] + cur[i] + cur[i + 1]) % 1_000_003);
        }
        next.push(cur[w - 1] - 1);
        cur = next;
    }
    cur.iter().sum()
}

/// An `n × n` wavefront (fused in tiles): the first row and column
/// `inc`, every other cell the sum of the cells above and to its left.
fn wavefront(rt: &Runtime, n: usize) -> (i64, usize) {
    let before = ALLOCS.load(Ordering::SeqCst);
    let v = rt
        .compute(graph! {
            let mut grid = Vec::new();
            for r in 0..n {
                for c in 0..n {
                    let cell = if r == 0 || c == 0 {
                        inc((r + c) as i64)
                    } else {
                        add(grid[(r - 1) * n + c], grid[r * n + c - 1]) % 1_000_003
                    };
                    grid.push(cell);
                }
            }
            grid[n * n - 1]
        })
        .unwrap();
    (v, ALLOCS.load(Ordering::SeqCst) - before)
}

fn wavefront_expected(n: usize) -> i64 {
    let mut g = vec![0i64; n * n];
    for r in 0..n {
        for c in 0..n {
            g[r * n + c] = if r == 0 || c == 0 {
                (r + c) as i64 + 1
            } else {
                (g[(r - 1) * n + c] + g[r * n + c - 1]) % 1_000_003
            };
        }
    }
    g[n * n - 1]
}

/// What [`measure`] found on one runtime: (result, allocations) for each
/// graph at its small and its large size.
struct Counts {
    tutorial: [(i64, usize); 2],
    mixed: [(i64, usize); 2],
    chain: [(i64, usize); 2],
    stencil: [(i64, usize); 2],
    wavefront: [(i64, usize); 2],
}

/// Warms `rt` up at the largest sizes (the runtime keeps that storage), then
/// counts the allocations of each graph at a small and a large size.
fn measure(rt: &Runtime) -> Counts {
    tutorial(rt, 65_536);
    mixed(rt, 65_536);
    chain(rt, 100_000);
    stencil(rt, 1000, 100);
    wavefront(rt, 300);
    Counts {
        tutorial: [tutorial(rt, 1024), tutorial(rt, 65_536)],
        mixed: [mixed(rt, 1024), mixed(rt, 65_536)],
        chain: [chain(rt, 1_000), chain(rt, 100_000)],
        stencil: [stencil(rt, 64, 16), stencil(rt, 1000, 100)],
        wavefront: [wavefront(rt, 32), wavefront(rt, 300)],
    }
}

/// Checks one runtime's counts against bounds that depend on the call
/// sites and the threads only: one allocation per node would exceed them
/// a thousandfold at 65,536 iterations, and even at 1,024. (No two counts
/// are asserted equal: see the test.)
fn check(c: &Counts, threads: usize, fuse: bool) {
    let [(small, a_small), (large, a_large)] = c.tutorial;
    assert_eq!(small, (0..1024).map(|i| 2 * i + 1).sum::<i64>());
    assert_eq!(large, (0..65_536).map(|i| 2 * i + 1).sum::<i64>());
    // A few per call site and per thread: far below one per node.
    for a in [a_small, a_large] {
        assert!(
            a < 32 + 4 * threads,
            "{threads} threads, fused {fuse}: {a_small} allocations for 1,024 iterations, {a_large} for 65,536"
        );
    }

    let [(m_small, b_small), (m_large, b_large)] = c.mixed;
    assert_eq!(
        (m_small, m_large),
        (mixed_expected(1024), mixed_expected(65_536))
    );
    for b in [b_small, b_large] {
        assert!(
            b < 64 + 8 * threads,
            "{threads} threads, fused {fuse}: mixed graph allocations {b_small} and {b_large}"
        );
    }

    // A chain has one item in flight at a time, and the fewest allocations.
    let [(c_small, c_a), (c_large, c_b)] = c.chain;
    assert_eq!((c_small, c_large), (1_001, 100_001));
    for c in [c_a, c_b] {
        assert!(
            c < 16 + 2 * threads,
            "{threads} threads, fused {fuse}: chain allocations {c_a} and {c_b}"
        );
    }

    // A stencil fused step after step: its two buffers, not one per value.
    let [(s_small, s_a), (s_large, s_b)] = c.stencil;
    assert_eq!(
        (s_small, s_large),
        (stencil_expected(64, 16), stencil_expected(1000, 100))
    );
    if fuse {
        for s in [s_a, s_b] {
            assert!(
                s < 32 + 4 * threads,
                "{threads} threads, fused {fuse}: stencil allocations {s_a} and {s_b}"
            );
        }
    }

    // A wavefront fused in tiles: its tiles' counters, not one per cell.
    let [(w_small, w_a), (w_large, w_b)] = c.wavefront;
    assert_eq!(
        (w_small, w_large),
        (wavefront_expected(32), wavefront_expected(300))
    );
    if fuse {
        for w in [w_a, w_b] {
            assert!(
                w < 32 + 4 * threads,
                "{threads} threads, fused {fuse}: wavefront allocations {w_a} and {w_b}"
            );
        }
    }
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
    // The counts of a small and a large graph are not asserted equal:
    // stealing decides part of them. The work queues are crossbeam's deques
    // (and its injector); a deque allocates when a push finds its buffer
    // full (it doubles) and when a pop leaves it a quarter full (it halves,
    // down to 64 slots), and the injector takes a block per 63 items. Which
    // deque an item passes through, and so how full each gets, depends on
    // who runs the item that makes it ready, that is on when the others
    // steal. Even a one-thread pool has two participants (the calling
    // thread takes part through an external deque), and on a loaded machine
    // the counts were seen to differ: 5 allocations for 1,024 iterations
    // and 13 for 65,536 (one thread, called from outside), 32 and 33 (the
    // mixed graph), 9 and 10 (a chain on two threads); a compute nested in
    // a task of a one-thread pool differed too.
    for (rt, &(threads, fuse)) in runtimes.iter().zip(&configs) {
        check(&measure(rt), threads, fuse);
    }
}
