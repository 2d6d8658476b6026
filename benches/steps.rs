//! Fused step loops (and the `while` tree) on 1 and 2 threads: against the
//! plain loop, and does a second thread help?
//!
//! 1-D stencils written as step loops (`for t { let mut next = ..;
//! ..; cur = next; }`), which run fused in tiles:
//!
//! - **zero work**: `next.push(add(add(cur[i - 1], cur[i]), cur[i + 1]))`,
//!   W = T = 1,000 (the suite's `stencil-1d` row), ns per task;
//! - **one slow value a step**: W = 64, T = 20, the value next to the left
//!   end sleeps 1 ms on even steps and the one next to the right end on odd
//!   steps, everything else zero work. Sleeping, so the machine's load
//!   barely matters. With a barrier after every step this takes 20 ms on
//!   any number of threads; with tiles that wait only for their neighbours
//!   the two ends run a step apart, one thread sleeping at each: 10 ms on 2;
//! - **every value busy or asleep**: the zero-work stencil's shape with
//!   every inner value spinning 1 µs (W = 1,000, T = 100; spinning
//!   threads share the machine with whatever else runs) or sleeping 50 µs
//!   (W = 32, T = 32; whatever the load): the tiles' parallelism;
//! - **the wide stencil**: the zero-work one with W = 100 000, T = 100;
//! - **the wavefront**: `grid[r * N + c] = add(grid[(r - 1) * N + c],
//!   grid[r * N + c - 1])` with leaves on the first row and column (the
//!   suite's `wavefront` row), N = 1,024 and 2,048, which runs fused in
//!   tiles of rows × columns; and the same at N = 24 with every inner cell
//!   sleeping 50 µs (the tiles' parallelism, whatever the machine's load);
//! - **the `while` tree**: the tutorial's pairwise `while level.len() > 1`
//!   loop over N = 65 536 leaves (the suite's `while-tree` row), which runs
//!   as a fused `tree_reduce`; and the same loop labelled, which is left as
//!   written and runs node by node (what every `while` tree did before).
//!
//! - **the critical path**: a chain of 20 tasks written between two loops
//!   of 20 independent tasks (summed), every task asleep 1 ms: on 2
//!   threads about 31 ms if the chain starts at once (one thread runs it
//!   while the other takes the loops), 40 or more if it waits behind them.
//!
//! Each cell: the best and the median of `runs` computes, 1 and 2 threads
//! and the plain loop alternating; the ratio 2T / 1T is of the bests (the median is what the
//! other processes on a shared machine leave). `cargo bench --bench steps`;
//! `-- --smoke` runs tiny sizes (`tests/bench_smoke.rs`); `-- --filter
//! TEXT` only the rows whose label contains `TEXT`.

use std::cell::LazyCell;
use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Runtime};

#[delayed]
fn leaf(x: u64) -> u64 {
    x
}
#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}
#[delayed]
fn add(x: u64, y: u64) -> u64 {
    x.wrapping_add(y)
}
/// `x + y`, after a nap of `nap` if value `i` of step `t` is the slow one
/// (next to the left end on even steps, the right end on odd ones).
#[delayed]
fn slow(x: u64, y: u64, t: usize, i: usize, w: usize, nap: Duration) -> u64 {
    let even = t.is_multiple_of(2);
    if (even && i == 1) || (!even && i == w - 2) {
        std::thread::sleep(nap);
    }
    x.wrapping_add(y)
}

fn zero(rt: &Runtime, w: usize, steps: usize) -> Vec<u64> {
    rt.compute(graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            next.push(inc(cur[0]));
            for i in 1..w - 1 {
                next.push(add(add(cur[i - 1], cur[i]), cur[i + 1]));
            }
            next.push(inc(cur[w - 1]));
            cur = next;
        }
        cur
    })
    .expect("the stencil runs")
}

fn zero_seq(w: usize, steps: usize) -> Vec<u64> {
    let mut cur: Vec<u64> = (0..w as u64).collect();
    for _ in 0..steps {
        let mut next = vec![cur[0] + 1];
        next.extend((1..w - 1).map(|i| cur[i - 1].wrapping_add(cur[i]).wrapping_add(cur[i + 1])));
        next.push(cur[w - 1] + 1);
        cur = next;
    }
    cur
}

/// The zero-work stencil as a plain loop: two buffers, swapped (as the
/// suite's sequential column).
fn zero_plain(w: usize, steps: usize) -> Vec<u64> {
    let mut cur: Vec<u64> = (0..w as u64).collect();
    let mut next = vec![0; w];
    for _ in 0..steps {
        next[0] = cur[0] + 1;
        for i in 1..w - 1 {
            next[i] = cur[i - 1].wrapping_add(cur[i]).wrapping_add(cur[i + 1]);
        }
        next[w - 1] = cur[w - 1] + 1;
        std::mem::swap(&mut cur, &mut next);
    }
    cur
}

#[delayed]
fn doze(x: u64, nap: Duration) -> u64 {
    std::thread::sleep(nap);
    x.wrapping_add(1)
}

/// A chain of `chain` tasks written between two loops of `bulk`
/// independent ones (summed), every task asleep `nap`: the chain is the
/// critical path.
fn chain_and_bulk(rt: &Runtime, chain: usize, bulk: u64, nap: Duration) -> u64 {
    rt.compute(graph! {
        let v: Vec<_> = (0..bulk).map(|i| doze(i, nap)).collect();
        let mut a = doze(0, nap);
        for _ in 1..chain {
            a = doze(a, nap);
        }
        let u: Vec<_> = (0..bulk).map(|i| doze(i, nap)).collect();
        add(add(a, tree_reduce(v, add)), tree_reduce(u, add))
    })
    .expect("chain and bulk")
}

fn uneven(rt: &Runtime, w: usize, steps: usize, nap: Duration) -> Vec<u64> {
    rt.compute(graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
        for t in 0..steps {
            let mut next = Vec::new();
            next.push(inc(cur[0]));
            for i in 1..w - 1 {
                next.push(slow(cur[i - 1], cur[i + 1], t, i, w, nap));
            }
            next.push(inc(cur[w - 1]));
            cur = next;
        }
        cur
    })
    .expect("the stencil runs")
}

/// `x + y + z`, after spinning `spin` (or sleeping `nap`).
#[delayed]
fn busy(x: u64, y: u64, z: u64, spin: Duration, nap: Duration) -> u64 {
    work(spin, nap);
    x.wrapping_add(y).wrapping_add(z)
}

fn work(spin: Duration, nap: Duration) {
    if !nap.is_zero() {
        std::thread::sleep(nap);
    }
    let start = Instant::now();
    while start.elapsed() < spin {
        std::hint::spin_loop();
    }
}

/// The zero-work stencil's shape with every inner value busy (`spin`) or
/// asleep (`nap`).
fn working(rt: &Runtime, w: usize, steps: usize, spin: Duration, nap: Duration) -> Vec<u64> {
    rt.compute(graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            next.push(inc(cur[0]));
            for i in 1..w - 1 {
                next.push(busy(cur[i - 1], cur[i], cur[i + 1], spin, nap));
            }
            next.push(inc(cur[w - 1]));
            cur = next;
        }
        cur
    })
    .expect("the stencil runs")
}

/// The same as a plain loop.
fn working_plain(w: usize, steps: usize, spin: Duration, nap: Duration) -> Vec<u64> {
    let mut cur: Vec<u64> = (0..w as u64).collect();
    let mut next = vec![0; w];
    for _ in 0..steps {
        next[0] = cur[0] + 1;
        for i in 1..w - 1 {
            work(spin, nap);
            next[i] = cur[i - 1].wrapping_add(cur[i]).wrapping_add(cur[i + 1]);
        }
        next[w - 1] = cur[w - 1] + 1;
        std::mem::swap(&mut cur, &mut next);
    }
    cur
}

fn uneven_seq(w: usize, steps: usize) -> Vec<u64> {
    let mut cur: Vec<u64> = (0..w as u64).collect();
    for _ in 0..steps {
        let mut next = vec![cur[0] + 1];
        next.extend((1..w - 1).map(|i| cur[i - 1].wrapping_add(cur[i + 1])));
        next.push(cur[w - 1] + 1);
        cur = next;
    }
    cur
}

/// The tutorial's `while` tree over `n` leaves: pairs summed round after
/// round, an odd last value moving up (a `tree_reduce`, fused).
fn while_tree(rt: &Runtime, n: u64) -> u64 {
    rt.compute(graph! {
        let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
        while level.len() > 1 {
            let mut next = Vec::new();
            for i in (0..level.len()).step_by(2) {
                if i + 1 < level.len() {
                    next.push(add(level[i], level[i + 1]));
                } else {
                    next.push(level[i]);
                }
            }
            level = next;
        }
        level[0]
    })
    .expect("the tree runs")
}

/// `while_tree` labelled: left as written, node by node.
fn while_tree_written(rt: &Runtime, n: u64) -> u64 {
    rt.compute(graph! {
        let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
        'written: while level.len() > 1 {
            let mut next = Vec::new();
            for i in (0..level.len()).step_by(2) {
                if i + 1 < level.len() {
                    next.push(add(level[i], level[i + 1]));
                } else {
                    next.push(level[i]);
                }
            }
            level = next;
            continue 'written;
        }
        level[0]
    })
    .expect("the tree runs")
}

/// The same in plain Rust, in place (as the suite's sequential column).
fn while_tree_plain(n: u64) -> u64 {
    let mut v: Vec<u64> = (0..n).collect();
    while v.len() > 1 {
        let (len, mut w, mut i) = (v.len(), 0, 0);
        while i + 1 < len {
            v[w] = v[i].wrapping_add(v[i + 1]);
            w += 1;
            i += 2;
        }
        if i < len {
            v[w] = v[i];
            w += 1;
        }
        v.truncate(w);
    }
    v[0]
}

/// The suite's wavefront: `n × n` cells, leaves on the first row and
/// column, every other cell the sum of the cells above and to its left.
fn wavefront(rt: &Runtime, n: usize) -> u64 {
    rt.compute(graph! {
        let mut grid = Vec::new();
        for r in 0..n {
            for c in 0..n {
                let cell = if r == 0 || c == 0 {
                    leaf((r * n + c) as u64)
                } else {
                    add(grid[(r - 1) * n + c], grid[r * n + c - 1])
                };
                grid.push(cell);
            }
        }
        grid[n * n - 1]
    })
    .expect("wavefront")
}

/// The wavefront with every inner cell sleeping `nap`: the schedule's
/// parallelism, whatever the machine's load.
fn wavefront_sleeping(rt: &Runtime, n: usize, nap: Duration) -> u64 {
    rt.compute(graph! {
        let mut grid = Vec::new();
        for r in 0..n {
            for c in 0..n {
                let cell = if r == 0 || c == 0 {
                    leaf((r * n + c) as u64)
                } else {
                    napping(grid[(r - 1) * n + c], grid[r * n + c - 1], nap)
                };
                grid.push(cell);
            }
        }
        grid[n * n - 1]
    })
    .expect("wavefront")
}

#[delayed]
fn napping(x: u64, y: u64, nap: Duration) -> u64 {
    std::thread::sleep(nap);
    x.wrapping_add(y)
}

/// The same in plain Rust (the suite's sequential variant).
fn wavefront_plain(n: usize) -> u64 {
    let mut grid = vec![0u64; n * n];
    for r in 0..n {
        for c in 0..n {
            grid[r * n + c] = if r == 0 || c == 0 {
                (r * n + c) as u64
            } else {
                grid[(r - 1) * n + c].wrapping_add(grid[r * n + c - 1])
            };
        }
    }
    grid[n * n - 1]
}

/// Best and median of `v`.
fn stats(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

/// Times `f` on 1 and 2 threads and `plain` (the same loop in plain Rust),
/// alternating, `runs` times each; prints a row in units of `unit` (the
/// time divided by `per`).
fn row(label: &str, unit: &str, per: f64, runs: usize, f: &dyn Fn(&Runtime), plain: &dyn Fn()) {
    let rts = [1, 2].map(|n| Runtime::new(n).expect("runtime"));
    let mut t = [Vec::new(), Vec::new()];
    let mut p = Vec::new();
    // Once untimed: computes the row's expected answer (kept lazy, so a
    // filtered run does not compute the others') and warms the caches.
    plain();
    for _ in 0..runs {
        for (rt, t) in rts.iter().zip(&mut t) {
            let start = Instant::now();
            f(rt);
            t.push(start.elapsed().as_secs_f64() / per);
        }
        let start = Instant::now();
        plain();
        p.push(start.elapsed().as_secs_f64() / per);
    }
    let [(b1, m1), (b2, m2)] = t.map(|mut v| stats(&mut v));
    let (bp, _) = stats(&mut p);
    println!(
        "| {label} | {b1:.2} {unit} | {m1:.2} {unit} | {b2:.2} {unit} | {m2:.2} {unit} | {:.2} | {bp:.3} {unit} | {:.1}× |",
        b2 / b1,
        b1 / bp
    );
}

/// Runs the benchmark; `args` are the command-line arguments.
pub fn run(args: &[String]) {
    let smoke = args.iter().any(|a| a == "--smoke")
        || std::env::var("TASKGRAPH_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let (n, runs, nap) = if smoke {
        (32, 2, Duration::from_micros(50))
    } else {
        (1000, 60, Duration::from_millis(1))
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("# Fused step loops and the while tree on 1 and 2 threads\n");
    println!("Load average at start: {load}; {runs} runs of each.\n");
    println!(
        "| stencil | best 1T | median 1T | best 2T | median 2T | 2T / 1T (best) | plain loop (best) | 1T / plain (best) |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    let filter = args
        .iter()
        .position(|a| a == "--filter")
        .and_then(|i| args.get(i + 1).cloned());
    let row =
        |label: &str, unit: &str, per: f64, runs: usize, f: &dyn Fn(&Runtime), plain: &dyn Fn()| {
            if filter.as_deref().is_none_or(|x| label.contains(x)) {
                row(label, unit, per, runs, f, plain)
            }
        };
    for g in if smoke { [16, 24] } else { [1024, 2048] } {
        let want = LazyCell::new(|| wavefront_plain(g));
        row(
            &format!("wavefront, zero work, N = {g}"),
            "ns/task",
            (g * g) as f64 * 1e-9,
            runs,
            &|rt: &Runtime| assert_eq!(wavefront(rt, g), *want, "wavefront"),
            &|| assert_eq!(wavefront_plain(std::hint::black_box(g)), *want),
        );
    }
    let g = if smoke { 6 } else { 24 };
    let want = LazyCell::new(|| wavefront_plain(g));
    row(
        &format!("wavefront, cells sleeping {nap:?} / 20, N = {g}"),
        "ms",
        1e-3,
        runs.min(7),
        &|rt: &Runtime| assert_eq!(wavefront_sleeping(rt, g, nap / 20), *want, "wavefront"),
        &|| {
            let mut grid = vec![0u64; g * g];
            for r in 0..g {
                for c in 0..g {
                    grid[r * g + c] = if r == 0 || c == 0 {
                        (r * g + c) as u64
                    } else {
                        std::thread::sleep(nap / 20);
                        grid[(r - 1) * g + c].wrapping_add(grid[r * g + c - 1])
                    };
                }
            }
            assert_eq!(grid[g * g - 1], *want);
        },
    );
    let want = LazyCell::new(|| zero_seq(n, n));
    let tasks = (n + n * (2 * (n - 2) + 2)) as f64;
    let zero_row = |rt: &Runtime| assert_eq!(zero(rt, n, n), *want, "zero-work stencil");
    row(
        &format!("zero work, W = T = {n}"),
        "ns/task",
        tasks * 1e-9,
        runs,
        &zero_row,
        &|| assert_eq!(zero_plain(std::hint::black_box(n), n), *want),
    );
    // The same number of tasks in wider steps: a step is 100 times the
    // work, the hand-offs between tiles the same.
    let (w, steps) = (n * 100, (n / 10).max(2));
    let want = LazyCell::new(|| zero_seq(w, steps));
    let tasks = (w + steps * (2 * (w - 2) + 2)) as f64;
    row(
        &format!("zero work, W = {w}, T = {steps}"),
        "ns/task",
        tasks * 1e-9,
        runs,
        &|rt: &Runtime| assert_eq!(zero(rt, w, steps), *want, "wide stencil"),
        &|| assert_eq!(zero_plain(std::hint::black_box(w), steps), *want),
    );
    for (w, steps, spin, nap) in [
        (n, n / 10, Duration::from_micros(1), Duration::ZERO),
        (32, 32, Duration::ZERO, nap / 20),
    ] {
        let (w, steps) = if smoke { (w.min(32), 4) } else { (w, steps) };
        let want = LazyCell::new(|| zero_seq(w, steps));
        let what = if nap.is_zero() {
            format!("busy {spin:?}")
        } else {
            format!("sleeping {nap:?}")
        };
        row(
            &format!("every value {what}, W = {w}, T = {steps}"),
            "ms",
            1e-3,
            runs.min(7),
            &|rt: &Runtime| assert_eq!(working(rt, w, steps, spin, nap), *want, "busy stencil"),
            &|| assert_eq!(working_plain(w, steps, spin, nap), *want),
        );
    }
    let m = if smoke { 100 } else { 65_536 };
    let want = LazyCell::new(|| while_tree_plain(m));
    row(
        &format!("while-loop tree, N = {m}"),
        "ns/task",
        (2 * m - 1) as f64 * 1e-9,
        runs,
        &|rt: &Runtime| assert_eq!(while_tree(rt, m), *want, "while tree"),
        &|| assert_eq!(while_tree_plain(std::hint::black_box(m)), *want),
    );
    row(
        &format!("while-loop tree as written (node by node), N = {m}"),
        "ns/task",
        (2 * m - 1) as f64 * 1e-9,
        runs.min(15),
        &|rt: &Runtime| assert_eq!(while_tree_written(rt, m), *want, "while tree"),
        &|| assert_eq!(while_tree_plain(std::hint::black_box(m)), *want),
    );
    let (w, steps) = (64, 20);
    let want = LazyCell::new(|| uneven_seq(w, steps));
    let uneven_row = |rt: &Runtime| assert_eq!(uneven(rt, w, steps, nap), *want, "uneven stencil");
    row(
        &format!("one slow value a step ({nap:?}), W = {w}, T = {steps}"),
        "ms",
        1e-3,
        runs.min(7),
        &uneven_row,
        &|| {
            let mut cur: Vec<u64> = (0..w as u64).collect();
            for t in 0..steps {
                let mut next = vec![cur[0] + 1];
                let even = t.is_multiple_of(2);
                next.extend((1..w - 1).map(|i| {
                    if (even && i == 1) || (!even && i == w - 2) {
                        std::thread::sleep(nap);
                    }
                    cur[i - 1].wrapping_add(cur[i + 1])
                }));
                next.push(cur[w - 1] + 1);
                cur = next;
            }
            assert_eq!(cur, *want);
        },
    );
    let (chain, bulk) = (20, 20);
    let want = chain as u64 + 2 * (1..=bulk).sum::<u64>();
    row(
        &format!(
            "critical path: a chain of {chain} tasks between 2 × {bulk} others, each asleep {nap:?}"
        ),
        "ms",
        1e-3,
        runs.min(7),
        &|rt: &Runtime| assert_eq!(chain_and_bulk(rt, chain, bulk, nap), want, "chain"),
        &|| {
            let mut a = 0u64;
            for _ in 0..chain {
                std::thread::sleep(nap);
                a += 1;
            }
            let s: u64 = (0..2 * bulk)
                .map(|i| {
                    std::thread::sleep(nap);
                    i % bulk + 1
                })
                .sum();
            assert_eq!(a + s, want);
        },
    );
    println!();
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args);
}
