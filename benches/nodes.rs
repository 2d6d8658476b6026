//! Node by node: what a task and an edge cost when nothing is fused.
//!
//! Every graph runs on `Runtime::builder().threads(1).fuse_loops(false)`,
//! with zero-work tasks, so the time is the scheduler's:
//!
//! - **seed** (the tutorial graph, `x = inc(i); y = dec(x); add(x, y)`, then
//!   `tree_reduce`), N = 65 536: ns per task.
//! - **edges**: W = 64 values a step, T steps; every task of a step reads
//!   either one value of the step before (`inc(cur[i])`) or all W of them
//!   (`sum(&cur[..])`). The difference per task, divided by the W − 1 extra
//!   edges, is the cost of an edge.
//!
//! `cargo bench --bench nodes` prints the table (medians of 31 rounds, the
//! graphs alternating, each sample about 20 ms of computes, ± half the
//! interquartile range); `-- --smoke` runs tiny sizes once. `-- --count SHAPE K` runs only `SHAPE` (`seed`, `one`, `all`),
//! once to warm up and then K times, printing nothing: under
//! `valgrind --tool=callgrind`, the difference between K = 11 and K = 1
//! divided by 10 runs is the instructions of one compute, exactly.

use std::hint::black_box;
use std::time::Instant;

use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn dec(x: u64) -> u64 {
    x - 1
}

#[delayed]
fn add(x: u64, y: u64) -> u64 {
    x.wrapping_add(y)
}

#[delayed]
fn leaf(i: u64) -> u64 {
    i.wrapping_mul(3)
}

#[delayed]
fn sum(v: &[u64]) -> u64 {
    v.iter().fold(0u64, |a, &b| a.wrapping_add(b))
}

/// The graphs measured.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    Seed,
    /// W values a step, each reading one value of the step before.
    One,
    /// W values a step, each reading all W values of the step before.
    All,
}

const W: u64 = 64;

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Seed => "seed",
            Shape::One => "one",
            Shape::All => "all",
        }
    }

    fn tasks(self, n: u64) -> u64 {
        match self {
            Shape::Seed => 4 * n - 1,
            Shape::One | Shape::All => W * (n + 1) + 1,
        }
    }

    fn edges(self, n: u64) -> u64 {
        match self {
            // dec reads x; add reads x and y; the reduction 2 per inner node.
            Shape::Seed => 3 * n + 2 * (n - 1),
            Shape::One => W * n + W,
            Shape::All => W * W * n + W,
        }
    }

    /// One compute on `rt`, checked against the sequential result.
    fn run(self, rt: &Runtime, n: u64) -> u64 {
        let got = match self {
            Shape::Seed => rt.compute(graph! {
                let mut zs = Vec::new();
                for i in 0..n {
                    let x = inc(i);
                    let y = dec(x);
                    zs.push(add(x, y));
                }
                tree_reduce(zs, add)
            }),
            Shape::One => rt.compute(graph! {
                let mut cur: Vec<_> = (0..W).map(|i| leaf(i)).collect();
                for _ in 0..n {
                    let mut next = Vec::new();
                    for i in 0..W as usize {
                        next.push(inc(cur[i]));
                    }
                    cur = next;
                }
                sum(&cur[..])
            }),
            Shape::All => rt.compute(graph! {
                let mut cur: Vec<_> = (0..W).map(|i| leaf(i)).collect();
                for _ in 0..n {
                    let mut next = Vec::new();
                    for _ in 0..W {
                        next.push(sum(&cur[..]));
                    }
                    cur = next;
                }
                sum(&cur[..])
            }),
        }
        .expect("compute");
        assert_eq!(got, self.sequential(n), "{} {n}", self.name());
        got
    }

    fn sequential(self, n: u64) -> u64 {
        match self {
            Shape::Seed => {
                let mut v: Vec<u64> = (0..n).map(|i| (i + 1).wrapping_add(i)).collect();
                while v.len() > 1 {
                    let odd = v.len() % 2;
                    let mut w: Vec<u64> =
                        v.chunks_exact(2).map(|p| p[0].wrapping_add(p[1])).collect();
                    if odd == 1 {
                        w.push(*v.last().expect("odd"));
                    }
                    v = w;
                }
                v[0]
            }
            Shape::One => (0..W).map(|i| i * 3 + n).fold(0, u64::wrapping_add),
            Shape::All => {
                let mut cur: Vec<u64> = (0..W).map(|i| i * 3).collect();
                for _ in 0..n {
                    let s = cur.iter().fold(0u64, |a, &b| a.wrapping_add(b));
                    cur = vec![s; W as usize];
                }
                cur.iter().fold(0u64, |a, &b| a.wrapping_add(b))
            }
        }
    }

    fn size(self, smoke: bool) -> u64 {
        match (self, smoke) {
            (Shape::Seed, false) => 65_536,
            (_, false) => 1_000,
            (Shape::Seed, true) => 64,
            (_, true) => 4,
        }
    }
}

fn median_iqr(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
    let m = q(0.5);
    (m, (q(0.75) - q(0.25)) / 2.0 / m * 100.0)
}

/// Runs the benchmark; `args` are the command-line arguments.
pub fn run(args: &[String]) {
    let smoke = args.iter().any(|a| a == "--smoke")
        || std::env::var("TASKGRAPH_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let rt = Runtime::builder()
        .threads(1)
        .fuse_loops(false)
        .build()
        .expect("runtime");
    let shapes = [Shape::Seed, Shape::One, Shape::All];
    if let Some(k) = args.iter().position(|a| a == "--count") {
        let shape = shapes
            .into_iter()
            .find(|s| args.get(k + 1).map(String::as_str) == Some(s.name()))
            .expect("--count seed|one|all K");
        let times: u64 = args
            .get(k + 2)
            .and_then(|s| s.parse().ok())
            .expect("--count SHAPE K");
        let n = shape.size(smoke);
        for _ in 0..=times {
            black_box(shape.run(&rt, n));
        }
        return;
    }
    let rounds = if smoke { 1 } else { 31 };
    // Computes per sample: enough for about 20 ms (one in smoke mode).
    let reps: Vec<u32> = shapes
        .iter()
        .map(|s| {
            let t = Instant::now();
            black_box(s.run(&rt, s.size(smoke)));
            let one = t.elapsed().as_secs_f64();
            if smoke {
                1
            } else {
                (0.02 / one).clamp(1.0, 1000.0) as u32
            }
        })
        .collect();
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); shapes.len()];
    for _ in 0..rounds {
        for ((s, out), &k) in shapes.iter().zip(&mut ns).zip(&reps) {
            let n = s.size(smoke);
            let t = Instant::now();
            for _ in 0..k {
                black_box(s.run(&rt, n));
            }
            out.push(t.elapsed().as_nanos() as f64 / (k as f64 * s.tasks(n) as f64));
        }
    }
    println!("| graph | N | tasks | edges | node by node 1T, ns/task |");
    println!("|---|--:|--:|--:|--:|");
    let mut med = Vec::new();
    for (s, v) in shapes.iter().zip(&mut ns) {
        let n = s.size(smoke);
        let (m, iqr) = median_iqr(v);
        med.push(m);
        println!(
            "| {} | {n} | {} | {} | {m:.1} ±{iqr:.0}% |",
            s.name(),
            s.tasks(n),
            s.edges(n)
        );
    }
    println!(
        "\nPer edge: ({:.1} - {:.1}) / {} = {:.2} ns.",
        med[2],
        med[1],
        W - 1,
        (med[2] - med[1]) / (W - 1) as f64
    );
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args);
}
