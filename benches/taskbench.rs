//! Task Bench (Slaughter et al., SC'20, "Task Bench: A Parameterized
//! Benchmark for Evaluating Parallel Runtime Performance"), written with
//! `graph!` and measured beside serial Rust and rayon in one process.
//!
//! A Task Bench graph has `steps` time steps of `width` points. The task of
//! point `p` at step `t` reads the outputs of some points of step `t - 1`,
//! chosen by the dependence pattern, checks that it received exactly those
//! outputs, in order, runs the compute-bound kernel and outputs its own
//! `(t, p)`. The patterns are re-implemented from the paper's description:
//!
//! | pattern | step `t` reads, of step `t - 1` |
//! |---|---|
//! | no_comm | `p` |
//! | stencil_1d | `p - 1 ..= p + 1`, clipped to the width |
//! | tree | `p / 2`; step `t` has `min(width, 2^t)` points |
//! | fft | `p - 2^d`, `p`, `p + 2^d` (those in range), `d = (t - 1) mod ceil(log2 width)` |
//! | nearest (radix r) | `p - r / 2 ..= p + (r - 1) / 2`, clipped |
//! | all_to_all | every point |
//!
//! The kernel is Task Bench's compute-bound kernel: 64 doubles, each updated
//! `a = a * a + a` per iteration, `2 * 64 * iterations + 64` FLOPs per task
//! as Task Bench counts them.
//!
//! **METG(50%)**, the minimum effective task granularity, is computed as the
//! paper does: each system runs the graph at decreasing kernel iterations
//! (halving); a run's task granularity is `elapsed * cores / tasks` and its
//! efficiency is its FLOP/s over the peak FLOP/s of the kernel on those cores;
//! METG is the smallest granularity whose efficiency is at least 50%,
//! interpolated linearly towards the next (less efficient) point. The peak is
//! measured in the same process: the kernel alone, on as many plain threads as
//! the system uses, with no scheduler at all.
//!
//! `cargo bench --bench taskbench` runs every pattern at width 4 and 64 with
//! 1,000 steps and prints the table; `-- --smoke` (or
//! `TASKGRAPH_BENCH_SMOKE=1`) runs 8 steps and two granularities in a second
//! (`tests/bench_smoke.rs` runs it under `cargo test`); `-- --filter
//! SUBSTRING` keeps the rows whose label (`stencil_1d w=64`) contains it;
//! `-- --nproc N` takes `N` for the number of cores (`available_parallelism`
//! otherwise): the multi-threaded columns and the scaling table use up to
//! `N` threads, so a small machine can run what a large one would (its
//! efficiencies then mean nothing).

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use taskdag::{delayed, graph, Runtime};

/// A dependence pattern of Task Bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    NoComm,
    Stencil1d,
    Tree,
    Fft,
    /// `nearest` with the given radix.
    Nearest(usize),
    AllToAll,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::NoComm => f.write_str("no_comm"),
            Pattern::Stencil1d => f.write_str("stencil_1d"),
            Pattern::Tree => f.write_str("tree"),
            Pattern::Fft => f.write_str("fft"),
            Pattern::Nearest(r) => write!(f, "nearest r={r}"),
            Pattern::AllToAll => f.write_str("all_to_all"),
        }
    }
}

/// The six patterns measured, in the table's order.
pub const PATTERNS: [Pattern; 6] = [
    Pattern::NoComm,
    Pattern::Stencil1d,
    Pattern::Tree,
    Pattern::Fft,
    Pattern::Nearest(5),
    Pattern::AllToAll,
];

/// One Task Bench graph: its pattern, shape and kernel iterations per task.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub pattern: Pattern,
    pub width: usize,
    pub steps: usize,
    pub iterations: u64,
}

/// The points of step `t - 1` a task reads, in increasing order: at most
/// three inclusive ranges.
#[derive(Clone, Copy, Debug)]
pub struct Deps {
    ranges: [(usize, usize); 3],
    len: usize,
}

impl Deps {
    fn one(lo: usize, hi: usize) -> Deps {
        Deps {
            ranges: [(lo, hi), (0, 0), (0, 0)],
            len: 1,
        }
    }

    /// The single contiguous range `lo..hi` (exclusive), if the points are one.
    pub fn contiguous(&self) -> Option<(usize, usize)> {
        (self.len == 1).then(|| (self.ranges[0].0, self.ranges[0].1 + 1))
    }

    /// The points, in increasing order.
    pub fn points(self) -> impl Iterator<Item = usize> {
        self.ranges
            .into_iter()
            .take(self.len)
            .flat_map(|(lo, hi)| lo..=hi)
    }

    /// How many points.
    pub fn count(&self) -> usize {
        self.ranges[..self.len]
            .iter()
            .map(|&(lo, hi)| hi + 1 - lo)
            .sum()
    }
}

impl Spec {
    /// The number of points of step `t`.
    pub fn width_at(&self, t: usize) -> usize {
        match self.pattern {
            Pattern::Tree => self.width.min(1usize << t.min(62)),
            _ => self.width,
        }
    }

    /// The points of step `t - 1` that point `p` of step `t >= 1` reads.
    pub fn deps(&self, t: usize, p: usize) -> Deps {
        let last = self.width - 1;
        match self.pattern {
            Pattern::NoComm => Deps::one(p, p),
            Pattern::Stencil1d => Deps::one(p.saturating_sub(1), (p + 1).min(last)),
            Pattern::Tree => Deps::one(p / 2, p / 2),
            Pattern::Fft => {
                let levels = usize::BITS - (self.width - 1).leading_zeros();
                let levels = (levels as usize).max(1);
                let stride = 1usize << ((t - 1) % levels);
                let mut d = Deps {
                    ranges: [(0, 0); 3],
                    len: 0,
                };
                if p >= stride {
                    d.ranges[d.len] = (p - stride, p - stride);
                    d.len += 1;
                }
                d.ranges[d.len] = (p, p);
                d.len += 1;
                if p + stride <= last {
                    d.ranges[d.len] = (p + stride, p + stride);
                    d.len += 1;
                }
                d
            }
            Pattern::Nearest(r) => Deps::one(p.saturating_sub(r / 2), (p + (r - 1) / 2).min(last)),
            Pattern::AllToAll => Deps::one(0, last),
        }
    }

    /// The number of tasks of the graph.
    pub fn tasks(&self) -> usize {
        (0..self.steps).map(|t| self.width_at(t)).sum()
    }

    /// The number of dependencies of the whole graph.
    pub fn edges(&self) -> usize {
        (1..self.steps)
            .map(|t| {
                (0..self.width_at(t))
                    .map(|p| self.deps(t, p).count())
                    .sum::<usize>()
            })
            .sum()
    }

    /// FLOPs of the whole graph, counted as Task Bench counts them.
    pub fn flops(&self) -> f64 {
        self.tasks() as f64 * (2.0 * 64.0 * self.iterations as f64 + 64.0)
    }

    /// Checks that the task `(t, p)` received exactly the outputs of its
    /// dependencies, in order.
    pub fn check(&self, t: usize, p: usize, inputs: &[Stamp]) -> Result<(), Mismatch> {
        let deps = self.deps(t, p);
        let wrong = || Mismatch {
            t,
            p,
            got: inputs.to_vec(),
        };
        if inputs.len() != deps.count() {
            return Err(wrong());
        }
        for (d, got) in deps.points().zip(inputs) {
            if *got != stamp(t - 1, d) {
                return Err(wrong());
            }
        }
        Ok(())
    }

    /// Runs the task `(t, p)` on its inputs (`t >= 1`): check, kernel, output.
    #[inline]
    pub fn task(&self, t: usize, p: usize, inputs: &[Stamp]) -> Result<Stamp, Mismatch> {
        self.check(t, p, inputs)?;
        kernel(self.iterations);
        Ok(stamp(t, p))
    }

    /// Runs the task `(0, p)`: no inputs.
    #[inline]
    pub fn first(&self, p: usize) -> Stamp {
        kernel(self.iterations);
        stamp(0, p)
    }

    /// Calls `f` with the inputs of task `(t, p)` gathered from `prev` without
    /// allocating (a sub-slice, or a copy of at most three).
    #[inline]
    fn with_inputs<R>(
        &self,
        prev: &[Stamp],
        t: usize,
        p: usize,
        f: impl FnOnce(&[Stamp]) -> R,
    ) -> R {
        let deps = self.deps(t, p);
        match deps.contiguous() {
            Some((lo, hi)) => f(&prev[lo..hi]),
            None => {
                let mut buf = [Stamp::default(); 3];
                let mut n = 0;
                for d in deps.points() {
                    buf[n] = prev[d];
                    n += 1;
                }
                f(&buf[..n])
            }
        }
    }
}

/// A task's output: its step and point (Task Bench's 16-byte output).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub t: u64,
    pub p: u64,
}

fn stamp(t: usize, p: usize) -> Stamp {
    Stamp {
        t: t as u64,
        p: p as u64,
    }
}

/// A task received other inputs than its dependencies' outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub t: usize,
    pub p: usize,
    pub got: Vec<Stamp>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task (step {}, point {}) received the wrong inputs: {:?}",
            self.t, self.p, self.got
        )
    }
}

impl std::error::Error for Mismatch {}

/// Task Bench's compute-bound kernel: `2 * 64 * iterations` FLOPs on 64
/// doubles kept from the optimiser.
#[inline(never)]
pub fn kernel(iterations: u64) {
    let mut a = [0f64; 64];
    for (i, x) in a.iter_mut().enumerate() {
        *x = (i % 4 + 1) as f64;
    }
    let mut a = black_box(a);
    for _ in 0..iterations {
        for x in a.iter_mut() {
            *x = *x * *x + *x;
        }
    }
    black_box(a);
}

// ---------------------------------------------------------------------------
// The three systems.

#[delayed]
fn first(spec: Spec, p: usize) -> Stamp {
    spec.first(p)
}

#[delayed]
fn point(spec: Spec, t: usize, p: usize, inputs: &[Stamp]) -> Result<Stamp, Mismatch> {
    spec.task(t, p, inputs)
}

/// The graph with `graph!`: every task a node, each step a new vector.
///
/// A step reads only the step before, so it builds a new vector with `push`
/// (`cur = next`); a contiguous set of dependencies is a sub-slice
/// `&cur[lo..hi]`, fft's three points a vector of their own.
fn run_graph(rt: &Runtime, spec: Spec) -> Result<Vec<Stamp>, taskdag::Error> {
    rt.compute(graph! {
        let mut cur = Vec::new();
        for p in 0..spec.width_at(0) {
            cur.push(first(spec, p));
        }
        for t in 1..spec.steps {
            let mut next = Vec::new();
            for p in 0..spec.width_at(t) {
                let deps = spec.deps(t, p);
                if let Some((lo, hi)) = deps.contiguous() {
                    next.push(point(spec, t, p, &cur[lo..hi])?);
                } else {
                    let mut ins = Vec::new();
                    for d in deps.points() {
                        ins.push(cur[d]);
                    }
                    next.push(point(spec, t, p, ins)?);
                }
            }
            cur = next;
        }
        cur
    })
}

/// Serial Rust: the same tasks in order, inputs gathered without allocating.
fn run_serial(spec: Spec) -> Result<Vec<Stamp>, Mismatch> {
    let mut cur: Vec<Stamp> = (0..spec.width_at(0)).map(|p| spec.first(p)).collect();
    let mut next = Vec::with_capacity(spec.width);
    for t in 1..spec.steps {
        next.clear();
        for p in 0..spec.width_at(t) {
            next.push(spec.with_inputs(&cur, t, p, |ins| spec.task(t, p, ins))?);
        }
        std::mem::swap(&mut cur, &mut next);
    }
    Ok(cur)
}

/// rayon: one parallel loop per step (a barrier between steps).
fn run_rayon(pool: &rayon::ThreadPool, spec: Spec) -> Result<Vec<Stamp>, Mismatch> {
    pool.install(|| {
        let mut cur: Vec<Stamp> = (0..spec.width_at(0))
            .into_par_iter()
            .map(|p| spec.first(p))
            .collect();
        for t in 1..spec.steps {
            cur = (0..spec.width_at(t))
                .into_par_iter()
                .map(|p| spec.with_inputs(&cur, t, p, |ins| spec.task(t, p, ins)))
                .collect::<Result<_, _>>()?;
        }
        Ok(cur)
    })
}

// ---------------------------------------------------------------------------
// Measurement.

/// A system measured: what runs the graph and on how many cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    Taskgraph(usize),
    Serial,
    Rayon(usize),
}

impl System {
    fn cores(self) -> usize {
        match self {
            System::Taskgraph(n) | System::Rayon(n) => n,
            System::Serial => 1,
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            System::Taskgraph(n) => write!(f, "taskgraph {n}T"),
            System::Serial => f.write_str("serial"),
            System::Rayon(n) => write!(f, "rayon {n}T"),
        }
    }
}

struct Systems {
    runtimes: Vec<Runtime>,
    pools: Vec<rayon::ThreadPool>,
    threads: Vec<usize>,
}

impl Systems {
    fn new(threads: &[usize]) -> Systems {
        Systems {
            runtimes: threads
                .iter()
                .map(|&n| Runtime::new(n).expect("runtime"))
                .collect(),
            pools: threads
                .iter()
                .map(|&n| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .build()
                        .expect("pool")
                })
                .collect(),
            threads: threads.to_vec(),
        }
    }

    fn list(&self) -> Vec<System> {
        let mut v = vec![System::Serial];
        for &n in &self.threads {
            v.push(System::Taskgraph(n));
            v.push(System::Rayon(n));
        }
        v
    }

    /// Runs `spec` once on `system`, checks the last step's outputs and
    /// returns the elapsed time.
    fn run(&self, system: System, spec: Spec) -> Duration {
        let at = |n: usize| self.threads.iter().position(|&m| m == n).unwrap();
        let start = Instant::now();
        let out = match system {
            System::Taskgraph(n) => {
                run_graph(&self.runtimes[at(n)], spec).map_err(|e| e.to_string())
            }
            System::Serial => run_serial(spec).map_err(|e| e.to_string()),
            System::Rayon(n) => run_rayon(&self.pools[at(n)], spec).map_err(|e| e.to_string()),
        };
        let elapsed = start.elapsed();
        let out =
            out.unwrap_or_else(|e| panic!("{system} on {} w={}: {e}", spec.pattern, spec.width));
        let last = spec.steps - 1;
        let want: Vec<Stamp> = (0..spec.width_at(last)).map(|p| stamp(last, p)).collect();
        assert_eq!(
            out, want,
            "{system} on {} w={}: wrong final step",
            spec.pattern, spec.width
        );
        elapsed
    }
}

/// The peak FLOP/s of the kernel alone on `threads` plain threads.
fn peak_flops(threads: usize, iterations: u64, window: Duration) -> f64 {
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let calls: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut n = 0u64;
                        while start.elapsed() < window {
                            kernel(iterations);
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        let flops = calls as f64 * (2.0 * 64.0 * iterations as f64 + 64.0);
        best = best.max(flops / start.elapsed().as_secs_f64());
    }
    best
}

/// One point of an efficiency curve.
#[derive(Clone, Copy, Debug)]
struct Point {
    /// Core-time per task, µs.
    granularity: f64,
    efficiency: f64,
}

/// METG(threshold) of a curve ordered by decreasing iterations, as Task
/// Bench's `chart_metg.py` computes it: the smallest granularity whose
/// efficiency reaches the threshold, interpolated linearly (in efficiency)
/// towards the next point when that point is finer. `None` when no point
/// reaches the threshold or none falls below it.
fn metg(curve: &[Point], threshold: f64) -> Option<f64> {
    if !curve.iter().any(|q| q.efficiency < threshold) {
        return None;
    }
    let (i, above) = curve
        .iter()
        .enumerate()
        .filter(|(_, q)| q.efficiency >= threshold)
        .min_by(|a, b| a.1.granularity.total_cmp(&b.1.granularity))?;
    let next = curve.get(i + 1)?;
    if next.granularity >= above.granularity {
        return Some(above.granularity);
    }
    // Interpolate granularity as a function of efficiency between the two.
    let f = (threshold - next.efficiency) / (above.efficiency - next.efficiency);
    Some(next.granularity + f * (above.granularity - next.granularity))
}

struct Config {
    smoke: bool,
    filter: Option<String>,
    steps: usize,
    widths: Vec<usize>,
    /// The coarsest granularity of a sweep, ns of kernel per task.
    coarsest_ns: f64,
    /// The finest granularity tried, ns of kernel per task.
    finest_ns: f64,
    reps: usize,
    /// Steps and kernel ns per task of the scaling table.
    scaling_steps: usize,
    scaling_ns: f64,
    /// `--only SYSTEM`: run just that system (`serial`, `tg1`, `tg_all`,
    /// `ray1`, `ray_all`) on the kept rows at zero kernel iterations, for
    /// profiling; print nothing.
    only: Option<String>,
    /// `--nproc N`: the number of cores to use, instead of
    /// `available_parallelism`.
    nproc: Option<usize>,
}

fn parse(args: &[String]) -> Config {
    let smoke =
        args.iter().any(|a| a == "--smoke") || std::env::var_os("TASKGRAPH_BENCH_SMOKE").is_some();
    let filter = args
        .iter()
        .position(|a| a == "--filter")
        .and_then(|i| args.get(i + 1).cloned());
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let nproc = args
        .iter()
        .position(|a| a == "--nproc")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--nproc N"));
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--steps N"));
    let mut cfg = if smoke {
        Config {
            smoke,
            filter,
            steps: 8,
            widths: vec![4, 64],
            coarsest_ns: 200.0,
            finest_ns: 100.0,
            reps: 1,
            scaling_steps: 8,
            scaling_ns: 1_000.0,
            only,
            nproc,
        }
    } else {
        Config {
            smoke,
            filter,
            steps: 1000,
            widths: vec![4, 64],
            coarsest_ns: 8_000.0,
            finest_ns: 4.0,
            reps: 5,
            scaling_steps: 200,
            scaling_ns: 10_000.0,
            only,
            nproc,
        }
    };
    if let Some(steps) = steps {
        cfg.steps = steps;
    }
    cfg
}

/// Checks the patterns' dependencies against lists written out by hand and
/// that a task rejects inputs other than its dependencies' outputs.
fn self_test() {
    let spec = |pattern, width| Spec {
        pattern,
        width,
        steps: 4,
        iterations: 0,
    };
    let deps = |s: Spec, t, p| s.deps(t, p).points().collect::<Vec<_>>();
    assert_eq!(deps(spec(Pattern::NoComm, 4), 1, 2), [2]);
    assert_eq!(deps(spec(Pattern::Stencil1d, 4), 1, 0), [0, 1]);
    assert_eq!(deps(spec(Pattern::Stencil1d, 4), 1, 2), [1, 2, 3]);
    assert_eq!(deps(spec(Pattern::Stencil1d, 4), 1, 3), [2, 3]);
    assert_eq!(deps(spec(Pattern::Tree, 4), 1, 1), [0]);
    assert_eq!(deps(spec(Pattern::Tree, 4), 3, 3), [1]);
    assert_eq!(spec(Pattern::Tree, 4).width_at(0), 1);
    assert_eq!(spec(Pattern::Tree, 4).width_at(1), 2);
    assert_eq!(spec(Pattern::Tree, 4).width_at(5), 4);
    assert_eq!(spec(Pattern::Tree, 4).tasks(), 1 + 2 + 4 + 4);
    // fft, width 8: log2 = 3 strides 1, 2, 4, then 1 again.
    assert_eq!(deps(spec(Pattern::Fft, 8), 1, 0), [0, 1]);
    assert_eq!(deps(spec(Pattern::Fft, 8), 1, 5), [4, 5, 6]);
    assert_eq!(deps(spec(Pattern::Fft, 8), 2, 5), [3, 5, 7]);
    assert_eq!(deps(spec(Pattern::Fft, 8), 3, 5), [1, 5]);
    assert_eq!(deps(spec(Pattern::Fft, 8), 4, 7), [6, 7]);
    assert_eq!(deps(spec(Pattern::Fft, 6), 3, 1), [1, 5]);
    assert_eq!(deps(spec(Pattern::Nearest(5), 8), 1, 0), [0, 1, 2]);
    assert_eq!(deps(spec(Pattern::Nearest(5), 8), 1, 4), [2, 3, 4, 5, 6]);
    assert_eq!(deps(spec(Pattern::Nearest(4), 8), 1, 4), [2, 3, 4, 5]);
    assert_eq!(deps(spec(Pattern::Nearest(5), 8), 1, 7), [5, 6, 7]);
    assert_eq!(deps(spec(Pattern::AllToAll, 4), 2, 1), [0, 1, 2, 3]);

    let s = spec(Pattern::Stencil1d, 4);
    let good = [stamp(0, 1), stamp(0, 2), stamp(0, 3)];
    assert_eq!(s.task(1, 2, &good), Ok(stamp(1, 2)));
    for bad in [
        &[stamp(0, 1), stamp(0, 2)][..],
        &[stamp(0, 1), stamp(0, 2), stamp(0, 3), stamp(0, 0)],
        &[stamp(0, 1), stamp(0, 3), stamp(0, 2)],
        &[stamp(0, 1), stamp(1, 2), stamp(0, 3)],
    ] {
        assert_eq!(
            s.task(1, 2, bad),
            Err(Mismatch {
                t: 1,
                p: 2,
                got: bad.to_vec()
            })
        );
    }
    let curve = |e: &[(f64, f64)]| {
        e.iter()
            .map(|&(granularity, efficiency)| Point {
                granularity,
                efficiency,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        metg(&curve(&[(8.0, 0.9), (4.0, 0.7), (2.0, 0.3)]), 0.5),
        Some(3.0)
    );
    assert_eq!(
        metg(&curve(&[(8.0, 0.9), (4.0, 0.5), (2.0, 0.3)]), 0.5),
        Some(4.0)
    );
    assert_eq!(metg(&curve(&[(8.0, 0.9), (4.0, 0.7)]), 0.5), None);
    assert_eq!(metg(&curve(&[(8.0, 0.4), (4.0, 0.2)]), 0.5), None);
}

/// Runs the benchmark with command-line arguments `args` (without the
/// program name) and prints its tables.
pub fn run(args: &[String]) {
    self_test();
    let cfg = parse(args);
    let nproc = cfg
        .nproc
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut threads = vec![1];
    if nproc > 1 {
        threads.push(nproc);
    }
    let systems = Systems::new(&threads);
    let list = systems.list();
    let rows: Vec<Spec> = cfg
        .widths
        .iter()
        .flat_map(|&width| PATTERNS.map(|pattern| (pattern, width)))
        .map(|(pattern, width)| Spec {
            pattern,
            width,
            steps: cfg.steps,
            iterations: 0,
        })
        .filter(|s| {
            let label = format!("{} w={}", s.pattern, s.width);
            cfg.filter
                .as_ref()
                .is_none_or(|f| label.contains(f.as_str()))
        })
        .collect();

    if let Some(only) = &cfg.only {
        let system = match only.as_str() {
            "serial" => System::Serial,
            "tg1" => System::Taskgraph(1),
            "tg_all" => System::Taskgraph(nproc),
            "ray1" => System::Rayon(1),
            "ray_all" => System::Rayon(nproc),
            other => panic!("--only {other}: expected serial, tg1, tg_all, ray1 or ray_all"),
        };
        for &spec in &rows {
            let start = Instant::now();
            let secs = if cfg.smoke { 0 } else { 3 };
            loop {
                systems.run(system, spec);
                if start.elapsed() >= Duration::from_secs(secs) {
                    break;
                }
            }
        }
        return;
    }

    // Zero kernel iterations: what each system costs per task.
    println!(
        "## Task Bench at zero kernel iterations: ns per task (best of {})\n",
        cfg.reps.max(3)
    );
    print!("| pattern | width | tasks | edges |");
    for s in &list {
        print!(" {s} |");
    }
    println!();
    print!("|---|--:|--:|--:|");
    for _ in &list {
        print!("--:|");
    }
    println!();
    for &spec in &rows {
        let cells: Vec<String> = list
            .iter()
            .map(|&system| {
                systems.run(system, spec);
                let best = (0..cfg.reps.max(3))
                    .map(|_| systems.run(system, spec))
                    .min()
                    .unwrap();
                format!("{:.1}", best.as_secs_f64() * 1e9 / spec.tasks() as f64)
            })
            .collect();
        println!(
            "| {} | {} | {} | {} | {} |",
            spec.pattern,
            spec.width,
            spec.tasks(),
            spec.edges(),
            cells.join(" | ")
        );
    }
    println!();

    // The kernel's cost per iteration and its peak on each thread count.
    let calib_iters = if cfg.smoke { 1_000 } else { 100_000 };
    let window = Duration::from_millis(if cfg.smoke { 20 } else { 100 });
    let ns_per_iter = 128.0 / peak_flops(1, calib_iters, window) * 1e9;
    // The peak on each thread count: the best of every measurement of the
    // kernel alone, taken before each row (other load on the machine can
    // only lower a measurement).
    let mut peaks = vec![0f64; threads.len()];
    let measure_peaks = |peaks: &mut Vec<f64>| {
        for (k, &n) in threads.iter().enumerate() {
            peaks[k] = peaks[k].max(peak_flops(n, calib_iters, window));
        }
    };
    let at = |n: usize| threads.iter().position(|&m| m == n).unwrap();

    // Per row and system: (granularity µs, FLOP/s) from coarse to fine.
    let mut curves: Vec<Vec<Vec<(f64, f64)>>> = Vec::new();
    for &base in &rows {
        measure_peaks(&mut peaks);
        let mut row = vec![Vec::new(); list.len()];
        let mut ns = cfg.coarsest_ns;
        while ns >= cfg.finest_ns {
            let iterations = ((ns / ns_per_iter).round() as u64).max(1);
            let spec = Spec { iterations, ..base };
            // Round-robin: each round runs every system once, so a change in
            // the machine's load affects them alike. One round to warm up
            // (storage, pages), then the best of `reps` rounds per system.
            let mut best = vec![Duration::MAX; list.len()];
            for round in 0..=cfg.reps {
                for (k, &system) in list.iter().enumerate() {
                    let t = systems.run(system, spec);
                    if round > 0 {
                        best[k] = best[k].min(t);
                    }
                }
            }
            for (k, &system) in list.iter().enumerate() {
                let secs = best[k].as_secs_f64();
                let cores = system.cores() as f64;
                row[k].push((
                    secs * cores / spec.tasks() as f64 * 1e6,
                    spec.flops() / secs,
                ));
            }
            ns /= 2.0;
        }
        curves.push(row);
    }

    println!("## Task Bench: METG(50%), µs of core time per task\n");
    println!(
        "{} steps; kernel peak {} (ns per kernel iteration on 1 thread: {ns_per_iter:.2}); {} repetitions per point, the best kept.\n",
        cfg.steps,
        threads
            .iter()
            .zip(&peaks)
            .map(|(n, f)| format!("{:.2} GFLOP/s on {n}T", f / 1e9))
            .collect::<Vec<_>>()
            .join(", "),
        cfg.reps,
    );
    print!("| pattern | width | tasks |");
    for s in &list {
        print!(" {s} |");
    }
    println!();
    print!("|---|--:|--:|");
    for _ in &list {
        print!("--:|");
    }
    println!();
    for (base, row) in rows.iter().zip(&curves) {
        let cells: Vec<String> = list
            .iter()
            .zip(row)
            .map(|(system, raw)| {
                let peak = peaks[at(system.cores())];
                let curve: Vec<Point> = raw
                    .iter()
                    .map(|&(granularity, flops)| Point {
                        granularity,
                        efficiency: flops / peak,
                    })
                    .collect();
                match metg(&curve, 0.5) {
                    Some(m) => format!("{m:.2}"),
                    // Every point below 50%: coarser than the coarsest tried.
                    None if curve.iter().all(|q| q.efficiency < 0.5) => {
                        format!("> {:.2}", curve[0].granularity)
                    }
                    // No point below 50%: finer than the finest tried.
                    None => format!("< {:.2}", curve.last().unwrap().granularity),
                }
            })
            .collect();
        println!(
            "| {} | {} | {} | {} |",
            base.pattern,
            base.width,
            base.tasks(),
            cells.join(" | ")
        );
    }
    println!();
    scaling(&cfg, &rows, ns_per_iter, nproc);
}

/// The thread counts of the scaling table: powers of two below `nproc`,
/// then `nproc`.
fn thread_counts(nproc: usize) -> Vec<usize> {
    let mut v: Vec<usize> = std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n < nproc)
        .collect();
    v.push(nproc);
    v
}

/// Parallel efficiency on 1..nproc threads: serial time / (threads × time),
/// the rows of width 64 (or the widest kept) at a coarse granularity.
fn scaling(cfg: &Config, rows: &[Spec], ns_per_iter: f64, nproc: usize) {
    let Some(width) = rows.iter().map(|s| s.width).max() else {
        return;
    };
    let rows: Vec<Spec> = rows
        .iter()
        .filter(|s| s.width == width)
        .map(|&s| Spec {
            steps: cfg.scaling_steps,
            iterations: ((cfg.scaling_ns / ns_per_iter).round() as u64).max(1),
            ..s
        })
        .collect();
    let counts = thread_counts(nproc);
    let systems = Systems::new(&counts);
    // Per row, round-robin over serial and every thread count's systems (a
    // warm-up round, then the best of `reps`): seconds per system.
    let list: Vec<System> = std::iter::once(System::Serial)
        .chain(
            counts
                .iter()
                .flat_map(|&n| [System::Taskgraph(n), System::Rayon(n)]),
        )
        .collect();
    let times: Vec<Vec<f64>> = rows
        .iter()
        .map(|&spec| {
            let mut best = vec![Duration::MAX; list.len()];
            for round in 0..=cfg.reps {
                for (k, &system) in list.iter().enumerate() {
                    let t = systems.run(system, spec);
                    if round > 0 {
                        best[k] = best[k].min(t);
                    }
                }
            }
            best.iter().map(Duration::as_secs_f64).collect()
        })
        .collect();
    let time =
        |row: usize, system: System| times[row][list.iter().position(|&s| s == system).unwrap()];
    println!(
        "## Scaling: efficiency against serial Rust, width {width}, {} steps, {:.0} ns of kernel per task\n",
        cfg.scaling_steps, cfg.scaling_ns
    );
    println!("Each cell: taskgraph / rayon, serial time / (threads × time).\n");
    print!("| threads |");
    for s in &rows {
        print!(" {} |", s.pattern);
    }
    println!();
    print!("|--:|");
    for _ in &rows {
        print!("--:|");
    }
    println!();
    for &n in &counts {
        let cells: Vec<String> = (0..rows.len())
            .map(|row| {
                let t1 = time(row, System::Serial);
                let eff = |system| 100.0 * t1 / (n as f64 * time(row, system));
                format!(
                    "{:.0}% / {:.0}%",
                    eff(System::Taskgraph(n)),
                    eff(System::Rayon(n))
                )
            })
            .collect();
        println!("| {n} | {} |", cells.join(" | "));
    }
    println!();
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args);
}
