//! The benchmark suite: taskgraph against the physical limit (a
//! plain sequential loop), the indirect-call floor (`&dyn Fn` in topological
//! order) and hand-written rayon, on the same graph shapes, in one process.
//!
//! `cargo bench --bench suite` prints every table as Markdown.
//! `cargo bench --bench suite -- --smoke` (or `TASKGRAPH_BENCH_SMOKE=1`) runs
//! tiny sizes in seconds; `tests/bench_smoke.rs` runs that mode under
//! `cargo test`. `-- --filter SUBSTRING` keeps only the rows whose label
//! contains it (e.g. `seed 65536`, or `extras` for the tables after the first
//! two); `-- --only tg1` (or `tg_all`, `nodes1`, `nodes_all`, `seq`, `dyn`,
//! `ray1`, `ray_all`) runs just that variant of the kept rows for a few
//! seconds each and prints no numbers: for `perf record`.
//!
//! taskgraph runs twice: on default runtimes, where the graphs of these
//! shapes run fused (as loops), and on runtimes built with
//! `fuse_loops(false)`, where every graph runs node by node as graphs that
//! fusion does not recognise do.
//!
//! Times are per task: the time of one whole run divided by the graph's number
//! of tasks. A run of taskgraph is `rt.compute(graph! { .. })`: instantiate,
//! run and drop. Every run's result is checked against the sequential one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use taskdag::{delayed, graph, Runtime};

// ---------------------------------------------------------------------------
// Counting allocator: exact allocation counts and live/peak heap bytes.

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Bytes requested by allocations (a growing `realloc` counts its growth).
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    #[inline]
    fn grew(by: usize) {
        BYTES.fetch_add(by, Relaxed);
        let now = LIVE.fetch_add(by, Relaxed) + by;
        PEAK.fetch_max(now, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        Counting::grew(layout.size());
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        Counting::grew(layout.size());
        // SAFETY: forwarded contract of `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        if new_size >= layout.size() {
            Counting::grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        // SAFETY: forwarded contract of `GlobalAlloc::realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (including reallocations) made while `f` runs, and the peak of
/// live heap bytes above the level at the start.
fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, u64, usize) {
    let live0 = LIVE.load(Relaxed);
    PEAK.store(live0, Relaxed);
    let a0 = ALLOCS.load(Relaxed);
    let r = f();
    let allocs = ALLOCS.load(Relaxed) - a0;
    let peak = PEAK.load(Relaxed).saturating_sub(live0);
    (r, allocs, peak)
}

// ---------------------------------------------------------------------------
// The tasks. `zero`: one integer operation each. `busy`: the same values after
// about 1 µs of spinning (calibrated at start-up).

/// Spin iterations that take about 1 µs; set by `calibrate_spin`.
static SPIN: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn spin(seed: u64) -> u64 {
    let mut h = seed | 1;
    for _ in 0..SPIN.load(Relaxed) {
        h = black_box(h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
    }
    h
}

fn calibrate_spin() -> Duration {
    SPIN.store(10_000, Relaxed);
    let mut best = Duration::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        black_box(spin(black_box(7)));
        best = best.min(t.elapsed());
    }
    let per_iter = best.as_secs_f64() / 10_000.0;
    SPIN.store(((1e-6 / per_iter).round() as u64).max(1), Relaxed);
    let mut v: Vec<f64> = (0..1000)
        .map(|i| {
            let t = Instant::now();
            black_box(spin(i));
            t.elapsed().as_nanos() as f64
        })
        .collect();
    Duration::from_nanos(Stat::of(std::mem::take(&mut v)).median as u64)
}

const LCG: u64 = 6364136223846793005;

macro_rules! task_fns {
    ($m:ident, $work:ident) => {
        mod $m {
            use super::*;

            #[delayed]
            pub fn inc(x: u64) -> u64 {
                $work(x);
                x + 1
            }
            #[delayed]
            pub fn dec(x: u64) -> u64 {
                $work(x);
                x - 1
            }
            #[delayed]
            pub fn add(x: u64, y: u64) -> u64 {
                $work(x);
                x.wrapping_add(y)
            }
            /// The chain's step: one multiply-add (an LCG step), which no
            /// compiler folds into a closed form, unlike `a + 1`.
            #[delayed]
            pub fn step(a: u64) -> u64 {
                $work(a);
                a.wrapping_mul(LCG).wrapping_add(1)
            }
            #[delayed]
            pub fn leaf(i: u64) -> u64 {
                $work(i);
                i.wrapping_mul(3)
            }
            #[delayed]
            pub fn gen(i: u64) -> u64 {
                $work(i);
                i ^ 0x5555
            }
            #[delayed]
            pub fn sum(v: &[u64]) -> u64 {
                $work(v.len() as u64);
                v.iter().fold(0u64, |a, &b| a.wrapping_add(b))
            }
        }
    };
}
#[inline(always)]
fn no_work(_: u64) {}
#[inline(always)]
fn spin_work(x: u64) {
    black_box(spin(x));
}
task_fns!(zero, no_work);
task_fns!(busy, spin_work);

/// The operations of the shapes, so one baseline serves direct calls, calls
/// through `&dyn Fn`, zero work and busy work.
trait Ops: Sync {
    fn inc(&self, x: u64) -> u64;
    fn dec(&self, x: u64) -> u64;
    fn add(&self, x: u64, y: u64) -> u64;
    fn step(&self, a: u64) -> u64;
    fn leaf(&self, i: u64) -> u64;
    fn gen(&self, i: u64) -> u64;
    fn sum(&self, v: &[u64]) -> u64;
}

macro_rules! direct_ops {
    ($t:ident, $m:ident) => {
        struct $t;
        impl Ops for $t {
            #[inline(always)]
            fn inc(&self, x: u64) -> u64 {
                $m::inc(x)
            }
            #[inline(always)]
            fn dec(&self, x: u64) -> u64 {
                $m::dec(x)
            }
            #[inline(always)]
            fn add(&self, x: u64, y: u64) -> u64 {
                $m::add(x, y)
            }
            #[inline(always)]
            fn step(&self, a: u64) -> u64 {
                $m::step(a)
            }
            #[inline(always)]
            fn leaf(&self, i: u64) -> u64 {
                $m::leaf(i)
            }
            #[inline(always)]
            fn gen(&self, i: u64) -> u64 {
                $m::gen(i)
            }
            #[inline(always)]
            fn sum(&self, v: &[u64]) -> u64 {
                $m::sum(v)
            }
        }
    };
}
direct_ops!(Zero, zero);
direct_ops!(Busy, busy);

type Un<'a> = &'a (dyn Fn(u64) -> u64 + Sync);
type Bin<'a> = &'a (dyn Fn(u64, u64) -> u64 + Sync);

/// The same functions behind `&dyn Fn`, hidden from the optimiser by
/// `black_box` so every task is one indirect call.
struct Dyn<'a> {
    inc: Un<'a>,
    dec: Un<'a>,
    add: Bin<'a>,
    step: Un<'a>,
    leaf: Un<'a>,
    gen: Un<'a>,
    sum: &'a (dyn Fn(&[u64]) -> u64 + Sync),
}

macro_rules! dyn_ops {
    ($m:ident) => {
        Dyn {
            inc: black_box::<Un<'_>>(&$m::inc),
            dec: black_box::<Un<'_>>(&$m::dec),
            add: black_box::<Bin<'_>>(&$m::add),
            step: black_box::<Un<'_>>(&$m::step),
            leaf: black_box::<Un<'_>>(&$m::leaf),
            gen: black_box::<Un<'_>>(&$m::gen),
            sum: black_box::<&(dyn Fn(&[u64]) -> u64 + Sync)>(&$m::sum),
        }
    };
}

impl Ops for Dyn<'_> {
    fn inc(&self, x: u64) -> u64 {
        (self.inc)(x)
    }
    fn dec(&self, x: u64) -> u64 {
        (self.dec)(x)
    }
    fn add(&self, x: u64, y: u64) -> u64 {
        (self.add)(x, y)
    }
    fn step(&self, a: u64) -> u64 {
        (self.step)(a)
    }
    fn leaf(&self, i: u64) -> u64 {
        (self.leaf)(i)
    }
    fn gen(&self, i: u64) -> u64 {
        (self.gen)(i)
    }
    fn sum(&self, v: &[u64]) -> u64 {
        (self.sum)(v)
    }
}

// ---------------------------------------------------------------------------
// The shapes, four ways each.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// for i < n: x = inc(i), y = dec(x), z = add(x, y); tree_reduce(zs, add).
    Seed,
    /// a = step(0); n times a = step(a).
    Chain,
    /// tree_reduce over n = 2^D leaves.
    Tree,
    /// n independent gen(i), then sum(&[..]) of all of them.
    FanJoin,
    /// The seed with one task before the loop and one after the reduction.
    Around,
    /// Two seed loops of n/2, their reductions joined.
    TwoLoops,
    /// A rectangular nest of 256 rows of n/256 leaves, feeding tree_reduce.
    Nested,
    /// One loop of n gen(i), read by a gathering sum and by tree_reduce.
    GatherReduce,
    /// A 1-D 3-point stencil over a ring of STENCIL_W cells, n time steps:
    /// `next[i] = add(add(cur[i - 1], cur[i]), cur[i + 1])`.
    Stencil,
    /// A 1-D 3-point stencil of n cells with two boundary cells, n steps:
    /// `next.push(add(add(cur[i - 1], cur[i]), cur[i + 1]))` for
    /// `i in 1..n - 1`, `inc(cur[0])` and `inc(cur[n - 1])` at the ends.
    Stencil1d,
    /// An n × n wavefront: cell (r, c) adds the cells above and to the left.
    Wavefront,
    /// The tutorial's `while` loop summing n leaves pairwise.
    WhileTree,
}

/// The stencil's width (cells per time step).
const STENCIL_W: u64 = 1024;

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Seed => "seed",
            Shape::Chain => "chain",
            Shape::Tree => "tree",
            Shape::FanJoin => "fan-join",
            Shape::Around => "seed+around",
            Shape::TwoLoops => "two-loops",
            Shape::Nested => "nested",
            Shape::GatherReduce => "gather+reduce",
            Shape::Stencil => "stencil",
            Shape::Stencil1d => "stencil-1d",
            Shape::Wavefront => "wavefront",
            Shape::WhileTree => "while-tree",
        }
    }
    fn tasks(self, n: u64) -> u64 {
        match self {
            Shape::Seed => 4 * n - 1,
            Shape::Chain => n + 1,
            Shape::Tree => 2 * n - 1,
            Shape::FanJoin => n + 1,
            Shape::Around => 4 * n + 1,
            Shape::TwoLoops => 4 * n - 1,
            Shape::Nested => 2 * n - 1,
            Shape::GatherReduce => 2 * n,
            Shape::Stencil => STENCIL_W + 2 * STENCIL_W * n,
            Shape::Stencil1d => n + n * (2 * (n - 2) + 2),
            Shape::Wavefront => n * n,
            Shape::WhileTree => 2 * n - 1,
        }
    }
}

/// Pairwise reduction in place, pairing as `tree_reduce` does.
fn reduce_in_place(o: &impl Ops, v: &mut Vec<u64>) -> u64 {
    while v.len() > 1 {
        let n = v.len();
        let mut w = 0;
        let mut i = 0;
        while i + 1 < n {
            v[w] = o.add(v[i], v[i + 1]);
            w += 1;
            i += 2;
        }
        if i < n {
            v[w] = v[i];
            w += 1;
        }
        v.truncate(w);
    }
    v[0]
}

/// The sequential program: with `Zero`/`Busy` the physical limit, with `Dyn`
/// the indirect-call floor.
fn sequential(o: &impl Ops, shape: Shape, n: u64) -> u64 {
    match shape {
        Shape::Seed => {
            let mut zs = Vec::with_capacity(n as usize);
            for i in 0..n {
                let x = o.inc(i);
                let y = o.dec(x);
                zs.push(o.add(x, y));
            }
            reduce_in_place(o, &mut zs)
        }
        Shape::Chain => {
            let mut a = o.step(0);
            for _ in 0..n {
                a = o.step(a);
            }
            a
        }
        Shape::Tree => {
            let mut v: Vec<u64> = (0..n).map(|i| o.leaf(i)).collect();
            reduce_in_place(o, &mut v)
        }
        Shape::FanJoin => {
            let v: Vec<u64> = (0..n).map(|i| o.gen(i)).collect();
            o.sum(&v)
        }
        Shape::Around => {
            let k = o.inc(0);
            let t = sequential(o, Shape::Seed, n);
            o.add(t, k)
        }
        Shape::TwoLoops => {
            let a = sequential(o, Shape::Seed, n / 2);
            let b = sequential(o, Shape::Seed, n / 2);
            o.add(a, b)
        }
        Shape::Nested => {
            let cols = n / 256;
            let mut v = Vec::with_capacity(n as usize);
            for r in 0..256 {
                for c in 0..cols {
                    v.push(o.leaf(r * cols + c));
                }
            }
            reduce_in_place(o, &mut v)
        }
        Shape::GatherReduce => {
            let mut v: Vec<u64> = (0..n).map(|i| o.gen(i)).collect();
            let s = o.sum(&v);
            let r = reduce_in_place(o, &mut v);
            o.add(s, r)
        }
        Shape::Stencil => {
            let w = STENCIL_W as usize;
            let mut cur: Vec<u64> = (0..STENCIL_W).map(|i| o.leaf(i)).collect();
            let mut next = vec![0; w];
            for _ in 0..n {
                for i in 0..w {
                    let (l, r) = (cur[(i + w - 1) % w], cur[(i + 1) % w]);
                    next[i] = o.add(o.add(l, cur[i]), r);
                }
                std::mem::swap(&mut cur, &mut next);
            }
            cur.iter().fold(0, |a, &b| a.wrapping_add(b))
        }
        Shape::Stencil1d => {
            let w = n as usize;
            let mut cur: Vec<u64> = (0..n).map(|i| o.leaf(i)).collect();
            let mut next = vec![0; w];
            for _ in 0..n {
                next[0] = o.inc(cur[0]);
                for i in 1..w - 1 {
                    next[i] = o.add(o.add(cur[i - 1], cur[i]), cur[i + 1]);
                }
                next[w - 1] = o.inc(cur[w - 1]);
                std::mem::swap(&mut cur, &mut next);
            }
            cur.iter().fold(0, |a, &b| a.wrapping_add(b))
        }
        Shape::Wavefront => {
            let g = n as usize;
            let mut grid = vec![0u64; g * g];
            for r in 0..g {
                for c in 0..g {
                    grid[r * g + c] = if r == 0 || c == 0 {
                        o.leaf((r * g + c) as u64)
                    } else {
                        o.add(grid[(r - 1) * g + c], grid[r * g + c - 1])
                    };
                }
            }
            grid[g * g - 1]
        }
        Shape::WhileTree => {
            let mut v: Vec<u64> = (0..n).map(|i| o.leaf(i)).collect();
            reduce_in_place(o, &mut v)
        }
    }
}

/// One `rayon::join` per inner node of the reduction tree, no grain size.
fn join_reduce(o: &impl Ops, s: &[u64]) -> u64 {
    if s.len() == 1 {
        return s[0];
    }
    let (l, r) = s.split_at(s.len() / 2);
    let (a, b) = rayon::join(|| join_reduce(o, l), || join_reduce(o, r));
    o.add(a, b)
}

fn join_tree(o: &impl Ops, lo: u64, hi: u64) -> u64 {
    if hi - lo == 1 {
        return o.leaf(lo);
    }
    let mid = lo + (hi - lo) / 2;
    let (a, b) = rayon::join(|| join_tree(o, lo, mid), || join_tree(o, mid, hi));
    o.add(a, b)
}

/// Hand-written rayon: `par_iter` for the independent part, `join` for trees.
/// `None` for the chain, which has no parallelism to hand to rayon.
fn with_rayon(o: &impl Ops, shape: Shape, n: u64) -> Option<u64> {
    Some(match shape {
        Shape::Seed => {
            let zs: Vec<u64> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let x = o.inc(i);
                    let y = o.dec(x);
                    o.add(x, y)
                })
                .collect();
            join_reduce(o, &zs)
        }
        Shape::Chain => return None,
        Shape::Tree => join_tree(o, 0, n),
        Shape::FanJoin => {
            let v: Vec<u64> = (0..n).into_par_iter().map(|i| o.gen(i)).collect();
            o.sum(&v)
        }
        Shape::Stencil => {
            let w = STENCIL_W as usize;
            let mut cur: Vec<u64> = (0..STENCIL_W).into_par_iter().map(|i| o.leaf(i)).collect();
            for _ in 0..n {
                cur = (0..w)
                    .into_par_iter()
                    .map(|i| {
                        let (l, r) = (cur[(i + w - 1) % w], cur[(i + 1) % w]);
                        o.add(o.add(l, cur[i]), r)
                    })
                    .collect();
            }
            cur.iter().fold(0, |a, &b| a.wrapping_add(b))
        }
        Shape::Stencil1d => {
            let w = n as usize;
            let mut cur: Vec<u64> = (0..n).into_par_iter().map(|i| o.leaf(i)).collect();
            for _ in 0..n {
                cur = (0..w)
                    .into_par_iter()
                    .map(|i| {
                        if i == 0 || i == w - 1 {
                            o.inc(cur[i])
                        } else {
                            o.add(o.add(cur[i - 1], cur[i]), cur[i + 1])
                        }
                    })
                    .collect();
            }
            cur.iter().fold(0, |a, &b| a.wrapping_add(b))
        }
        Shape::Wavefront => {
            // One parallel step per anti-diagonal.
            let g = n as usize;
            let mut grid = vec![0u64; g * g];
            for d in 0..2 * g - 1 {
                let lo = d.saturating_sub(g - 1);
                let hi = d.min(g - 1);
                let cells: Vec<u64> = (lo..=hi)
                    .into_par_iter()
                    .map(|r| {
                        let c = d - r;
                        if r == 0 || c == 0 {
                            o.leaf((r * g + c) as u64)
                        } else {
                            o.add(grid[(r - 1) * g + c], grid[r * g + c - 1])
                        }
                    })
                    .collect();
                for (k, r) in (lo..=hi).enumerate() {
                    grid[r * g + d - r] = cells[k];
                }
            }
            grid[g * g - 1]
        }
        Shape::WhileTree => {
            let v: Vec<u64> = (0..n).into_par_iter().map(|i| o.leaf(i)).collect();
            join_reduce(o, &v)
        }
        Shape::Around | Shape::TwoLoops | Shape::Nested | Shape::GatherReduce => return None,
    })
}

macro_rules! with_taskgraph {
    ($m:ident, $rt:expr, $shape:expr, $n:ident) => {{
        let rt: &Runtime = $rt;
        let $n: u64 = $n;
        let r = match $shape {
            Shape::Seed => rt.compute(graph! {
                let mut zs = Vec::new();
                for i in 0..$n {
                    let x = $m::inc(i);
                    let y = $m::dec(x);
                    let z = $m::add(x, y);
                    zs.push(z);
                }
                tree_reduce(zs, $m::add)
            }),
            Shape::Chain => rt.compute(graph! {
                let mut a = $m::step(0);
                for _ in 0..$n {
                    a = $m::step(a);
                }
                a
            }),
            Shape::Tree => rt.compute(graph! {
                let leaves: Vec<_> = (0..$n).map(|i| $m::leaf(i)).collect();
                tree_reduce(leaves, $m::add)
            }),
            Shape::FanJoin => rt.compute(graph! {
                let v: Vec<_> = (0..$n).map(|i| $m::gen(i)).collect();
                $m::sum(v)
            }),
            Shape::Around => rt.compute(graph! {
                let k = $m::inc(0);
                let mut zs = Vec::new();
                for i in 0..$n {
                    let x = $m::inc(i);
                    let y = $m::dec(x);
                    let z = $m::add(x, y);
                    zs.push(z);
                }
                let t = tree_reduce(zs, $m::add);
                $m::add(t, k)
            }),
            Shape::TwoLoops => {
                let h = $n / 2;
                rt.compute(graph! {
                    let mut a = Vec::new();
                    for i in 0..h {
                        let x = $m::inc(i);
                        let y = $m::dec(x);
                        a.push($m::add(x, y));
                    }
                    let mut b = Vec::new();
                    for i in 0..h {
                        let x = $m::inc(i);
                        let y = $m::dec(x);
                        b.push($m::add(x, y));
                    }
                    $m::add(tree_reduce(a, $m::add), tree_reduce(b, $m::add))
                })
            }
            Shape::Nested => {
                let cols = $n / 256;
                rt.compute(graph! {
                    let mut v = Vec::new();
                    for r in 0..256u64 {
                        for c in 0..cols {
                            v.push($m::leaf(r * cols + c));
                        }
                    }
                    tree_reduce(v, $m::add)
                })
            }
            Shape::GatherReduce => rt.compute(graph! {
                let v: Vec<_> = (0..$n).map(|i| $m::gen(i)).collect();
                $m::add($m::sum(v), tree_reduce(v, $m::add))
            }),
            Shape::Stencil => {
                let w = STENCIL_W as usize;
                rt.compute(graph! {
                    let mut cur: Vec<_> = (0..STENCIL_W).map(|i| $m::leaf(i)).collect();
                    for _ in 0..$n {
                        let mut next = Vec::new();
                        for i in 0..w {
                            let l = cur[(i + w - 1) % w];
                            let r = cur[(i + 1) % w];
                            next.push($m::add($m::add(l, cur[i]), r));
                        }
                        cur = next;
                    }
                    cur
                })
                .map(|v| v.iter().fold(0, |a: u64, &b| a.wrapping_add(b)))
            }
            Shape::Stencil1d => {
                let w = $n as usize;
                rt.compute(graph! {
                    let mut cur: Vec<_> = (0..$n).map(|i| $m::leaf(i)).collect();
                    for _ in 0..$n {
                        let mut next = Vec::new();
                        next.push($m::inc(cur[0]));
                        for i in 1..w - 1 {
                            next.push($m::add($m::add(cur[i - 1], cur[i]), cur[i + 1]));
                        }
                        next.push($m::inc(cur[w - 1]));
                        cur = next;
                    }
                    cur
                })
                .map(|v| v.iter().fold(0, |a: u64, &b| a.wrapping_add(b)))
            }
            Shape::Wavefront => {
                let g = $n as usize;
                rt.compute(graph! {
                    let mut grid = Vec::new();
                    for r in 0..g {
                        for c in 0..g {
                            let cell = if r == 0 || c == 0 {
                                $m::leaf((r * g + c) as u64)
                            } else {
                                $m::add(grid[(r - 1) * g + c], grid[r * g + c - 1])
                            };
                            grid.push(cell);
                        }
                    }
                    grid[g * g - 1]
                })
            }
            Shape::WhileTree => rt.compute(graph! {
                let mut level: Vec<_> = (0..$n).map(|i| $m::leaf(i)).collect();
                while level.len() > 1 {
                    let mut next = Vec::new();
                    for i in (0..level.len()).step_by(2) {
                        if i + 1 < level.len() {
                            next.push($m::add(level[i], level[i + 1]));
                        } else {
                            next.push(level[i]);
                        }
                    }
                    level = next;
                }
                level[0]
            }),
        };
        r.expect("taskgraph run failed")
    }};
}

fn taskgraph_zero(rt: &Runtime, shape: Shape, n: u64) -> u64 {
    with_taskgraph!(zero, rt, shape, n)
}

fn taskgraph_busy(rt: &Runtime, shape: Shape, n: u64) -> u64 {
    with_taskgraph!(busy, rt, shape, n)
}

// ---------------------------------------------------------------------------
// Timing.

struct Settings {
    smoke: bool,
    filter: Option<String>,
    /// Profiling mode: run only this variant (`tg1`, `tg_all`, `nodes1`,
    /// `nodes_all`, `seq`, `dyn`, `ray1`, `ray_all`) of each row for a few
    /// seconds, print no numbers.
    only: Option<String>,
    /// Minimum wall time spent on one row (all its variants).
    budget: Duration,
    min_rounds: usize,
    max_rounds: usize,
    /// A sample repeats a fast variant until it takes at least this long.
    min_sample: Duration,
}

impl Settings {
    fn keep(&self, label: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| label.contains(f))
    }
}

/// Median and quartiles of one variant, in ns per task.
#[derive(Clone, Copy)]
struct Stat {
    min: f64,
    median: f64,
    q1: f64,
    q3: f64,
}

impl Stat {
    fn of(mut v: Vec<f64>) -> Stat {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Stat {
            min: v[0],
            median: q(0.5),
            q1: q(0.25),
            q3: q(0.75),
        }
    }
    /// Half the interquartile range, relative to the median.
    fn spread(&self) -> f64 {
        (self.q3 - self.q1) / 2.0 / self.median
    }
    fn cell(&self) -> String {
        format!("{} ±{:.0}%", fmt_ns(self.median), 100.0 * self.spread())
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0}")
    } else if ns >= 10.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.2}")
    }
}

/// A shape and its size `N`.
type Row = (Shape, u64);

type Variant<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Runs the variants round-robin (one sample of each per round, so slow drift
/// of the machine affects all alike) and returns ns per task for each.
fn measure(s: &Settings, tasks: u64, variants: &mut [Variant<'_>]) -> (Vec<Stat>, usize) {
    // Warm up once and size each variant's sample.
    let reps: Vec<u32> = variants
        .iter_mut()
        .map(|(_, f)| {
            let t = Instant::now();
            f();
            let once = t.elapsed().max(Duration::from_nanos(1));
            (s.min_sample.as_nanos() / once.as_nanos()).clamp(1, 10_000) as u32
        })
        .collect();
    let mut samples = vec![Vec::new(); variants.len()];
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < s.max_rounds && (rounds < s.min_rounds || start.elapsed() < s.budget) {
        for ((_, f), (k, out)) in variants.iter_mut().zip(reps.iter().zip(&mut samples)) {
            let t = Instant::now();
            for _ in 0..*k {
                f();
            }
            out.push(t.elapsed().as_nanos() as f64 / f64::from(*k) / tasks as f64);
        }
        rounds += 1;
    }
    (samples.into_iter().map(Stat::of).collect(), rounds)
}

struct Pools {
    /// The default runtimes: graphs whose shape allows it run fused.
    tg1: Runtime,
    tg_all: Runtime,
    /// `fuse_loops(false)`: every graph runs node by node.
    nodes1: Runtime,
    nodes_all: Runtime,
    ray1: rayon::ThreadPool,
    ray_all: rayon::ThreadPool,
    all: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Zero,
    Busy,
}

fn check(what: &str, shape: Shape, n: u64, got: u64, want: u64) {
    assert_eq!(
        got,
        want,
        "{what} computed a wrong result for {} n={n}",
        shape.name()
    );
}

/// One row of a table: every variant of one shape and size.
fn row(s: &Settings, p: &Pools, work: Work, shape: Shape, n: u64) -> Option<String> {
    let label = format!("{} {n}", shape.name());
    if !s.keep(&label) {
        return None;
    }
    let tasks = shape.tasks(n);
    let want = sequential(&Zero, shape, n);
    let dz = dyn_ops!(zero);
    let db = dyn_ops!(busy);
    let tg = |rt: &Runtime| match work {
        Work::Zero => taskgraph_zero(rt, shape, n),
        Work::Busy => taskgraph_busy(rt, shape, n),
    };
    let seq = || match work {
        Work::Zero => sequential(&Zero, shape, black_box(n)),
        Work::Busy => sequential(&Busy, shape, black_box(n)),
    };
    let dyn_ = || match work {
        Work::Zero => sequential(&dz, shape, black_box(n)),
        Work::Busy => sequential(&db, shape, black_box(n)),
    };
    let ray = |pool: &rayon::ThreadPool| {
        pool.install(|| match work {
            Work::Zero => with_rayon(&Zero, shape, n),
            Work::Busy => with_rayon(&Busy, shape, n),
        })
    };
    let has_rayon = with_rayon(&Zero, shape, 2).is_some();
    let mut v: Vec<Variant<'_>> = vec![
        (
            "tg1",
            Box::new(|| check("taskgraph", shape, n, tg(&p.tg1), want)),
        ),
        (
            "tg_all",
            Box::new(|| check("taskgraph", shape, n, tg(&p.tg_all), want)),
        ),
        (
            "nodes1",
            Box::new(|| check("taskgraph unfused", shape, n, tg(&p.nodes1), want)),
        ),
        (
            "nodes_all",
            Box::new(|| check("taskgraph unfused", shape, n, tg(&p.nodes_all), want)),
        ),
        (
            "seq",
            Box::new(|| check("sequential", shape, n, seq(), want)),
        ),
        ("dyn", Box::new(|| check("&dyn Fn", shape, n, dyn_(), want))),
    ];
    if has_rayon {
        v.push((
            "ray1",
            Box::new(|| check("rayon", shape, n, ray(&p.ray1).unwrap_or(want), want)),
        ));
        v.push((
            "ray_all",
            Box::new(|| check("rayon", shape, n, ray(&p.ray_all).unwrap_or(want), want)),
        ));
    }
    if let Some(only) = &s.only {
        // Profiling mode: run one variant for the row's budget and report nothing.
        let (_, f) = v
            .iter_mut()
            .find(|(name, _)| name == only)
            .expect("unknown variant for --only");
        let start = Instant::now();
        while start.elapsed() < s.budget.max(Duration::from_secs(5)) {
            f();
        }
        return None;
    }
    let (st, rounds) = measure(s, tasks, &mut v);
    let (tg1, tg_all, nodes1, nodes_all, seq, dyn_, ray1, ray_all) = (0, 1, 2, 3, 4, 5, 6, 7);
    let na = "n/a".to_owned();
    let cell = |i: usize| {
        if i < st.len() {
            st[i].cell()
        } else {
            na.clone()
        }
    };
    let ratio = |a: usize, b: usize| {
        if b < st.len() {
            format!("{:.1}×", st[a].median / st[b].median)
        } else {
            na.clone()
        }
    };
    let cols = [
        shape.name().to_owned(),
        n.to_string(),
        tasks.to_string(),
        cell(tg1),
        fmt_ns(st[tg1].min),
        cell(tg_all),
        cell(nodes1),
        cell(nodes_all),
        cell(seq),
        cell(dyn_),
        cell(ray1),
        cell(ray_all),
        ratio(tg1, seq),
        ratio(tg1, dyn_),
        ratio(tg1, ray1),
        ratio(tg_all, ray_all),
        ratio(nodes1, seq),
        ratio(nodes1, ray1),
        rounds.to_string(),
    ];
    Some(format!("| {} |", cols.join(" | ")))
}

fn table(s: &Settings, p: &Pools, work: Work, rows: &[Row]) {
    let a = p.all;
    println!(
        "| shape | N | tasks | taskgraph 1T | (best) | taskgraph {a}T | node by node 1T | node by node {a}T \
         | sequential | &dyn Fn | rayon 1T | rayon {a}T | tg/seq 1T | tg/dyn 1T | tg/rayon 1T | tg/rayon {a}T \
         | nodes/seq 1T | nodes/rayon 1T | runs |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for &(shape, n) in rows {
        if let Some(r) = row(s, p, work, shape, n) {
            println!("{r}");
        }
    }
    println!();
}

// ---------------------------------------------------------------------------
// Extras: allocations, peak memory, fixed cost, makespan.

fn allocations(p: &Pools, sizes: &[u64]) {
    println!(
        "| seed N | tasks | mode | threads | allocations per compute | bytes allocated | peak live bytes \
         | peak live bytes per task | rayon: allocations, peak live bytes per task |"
    );
    println!("|--:|--:|---|--:|--:|--:|--:|--:|--:|");
    for &n in sizes {
        let tasks = Shape::Seed.tasks(n);
        let want = sequential(&Zero, Shape::Seed, n);
        for (mode, threads, rt, pool) in [
            ("fused", 1, &p.tg1, &p.ray1),
            ("fused", p.all, &p.tg_all, &p.ray_all),
            ("node by node", 1, &p.nodes1, &p.ray1),
            ("node by node", p.all, &p.nodes_all, &p.ray_all),
        ] {
            // Warm up, so first-use allocations of the pools are not counted.
            check(
                "taskgraph",
                Shape::Seed,
                n,
                taskgraph_zero(rt, Shape::Seed, n),
                want,
            );
            let b0 = BYTES.load(Relaxed);
            let (got, allocs, peak) = count_allocs(|| taskgraph_zero(rt, Shape::Seed, n));
            let bytes = BYTES.load(Relaxed) - b0;
            check("taskgraph", Shape::Seed, n, got, want);
            let _ = pool.install(|| with_rayon(&Zero, Shape::Seed, n));
            let (got, rallocs, rpeak) =
                count_allocs(|| pool.install(|| with_rayon(&Zero, Shape::Seed, n)));
            check("rayon", Shape::Seed, n, got.unwrap_or(want), want);
            println!(
                "| {n} | {tasks} | {mode} | {threads} | {allocs} | {bytes} | {peak} | {:.1} | {rallocs}, {:.1} |",
                peak as f64 / tasks as f64,
                rpeak as f64 / tasks as f64
            );
        }
    }
    println!();
}

/// Times each call of `f` separately; returns the median, p25, p75 and p99 in µs.
fn time_each(runs: usize, f: &mut dyn FnMut()) -> [f64; 4] {
    for _ in 0..runs / 10 {
        f();
    }
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] / 1000.0;
    [q(0.5), q(0.25), q(0.75), q(0.99)]
}

fn fixed_cost(s: &Settings, p: &Pools) {
    let runs = if s.smoke { 200 } else { 20_000 };
    println!("| graph | threads | median | p25 | p75 | p99 | runs |");
    println!("|---|--:|--:|--:|--:|--:|--:|");
    let line = |what: &str, threads: usize, q: [f64; 4]| {
        println!(
            "| {what} | {threads} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {runs} |",
            q[0], q[1], q[2], q[3]
        );
    };
    for (threads, rt) in [(1, &p.tg1), (p.all, &p.tg_all)] {
        let q = time_each(runs, &mut || {
            // Plain inputs are computed outside: inside `graph!` a call of a
            // lower-case function reads as a task call.
            let (a, b) = (black_box(1u64), black_box(2u64));
            let z = rt
                .compute(graph! {
                    let x = zero::inc(a);
                    let y = zero::dec(b);
                    zero::add(x, y)
                })
                .expect("3-task graph failed");
            assert_eq!(z, 3);
        });
        line("taskgraph: `inc`, `dec`, `add` (3 tasks)", threads, q);
    }
    for (threads, rt) in [(1, &p.tg1), (p.all, &p.tg_all)] {
        let q = time_each(runs, &mut || {
            let (a, b) = (black_box(1u64), black_box(2u64));
            let h = rt.spawn(graph! {
                let x = zero::inc(a);
                let y = zero::dec(b);
                zero::add(x, y)
            });
            assert_eq!(h.wait().expect("3-task graph failed"), 3);
        });
        line("taskgraph: `spawn` + `wait` of the same graph", threads, q);
    }
    for (threads, pool) in [(1, &p.ray1), (p.all, &p.ray_all)] {
        let q = time_each(runs, &mut || {
            let z = pool.install(|| {
                let (x, y) = rayon::join(|| zero::inc(black_box(1)), || zero::dec(black_box(2)));
                zero::add(x, y)
            });
            assert_eq!(z, 3);
        });
        line(
            "rayon (reference): `install` + `join(inc, dec)` + `add`",
            threads,
            q,
        );
    }
    println!();
}

/// `rt.compute_async(g).await` of the 3-task graph, from a tokio task,
/// against `rt.compute(g)` called in the same task (which blocks its
/// thread for the graph's time) and against what async code would write
/// without `compute_async` to keep its thread free,
/// `tokio::task::spawn_blocking(move || rt.compute(g)).await`; blocks of
/// each in turn, so that drift affects all alike. On a current-thread tokio
/// runtime (`block_on`) and inside a task spawned on a multi-threaded one.
fn awaited(s: &Settings, p: &Pools) {
    use std::sync::Arc;
    let runs = if s.smoke { 200 } else { 20_000 };
    fn three(rt: &Runtime) {
        let (a, b) = (black_box(1u64), black_box(2u64));
        let z = rt
            .compute(graph! {
                let x = zero::inc(a);
                let y = zero::dec(b);
                zero::add(x, y)
            })
            .expect("3-task graph failed");
        assert_eq!(z, 3);
    }
    async fn three_async(rt: &Runtime) {
        let (a, b) = (black_box(1u64), black_box(2u64));
        let z = rt
            .compute_async(graph! {
                let x = zero::inc(a);
                let y = zero::dec(b);
                zero::add(x, y)
            })
            .await
            .expect("3-task graph failed");
        assert_eq!(z, 3);
    }
    async fn three_blocking(rt: &Arc<Runtime>) {
        let rt = Arc::clone(rt);
        tokio::task::spawn_blocking(move || three(&rt))
            .await
            .expect("3-task graph failed");
    }
    /// Medians in µs of `compute`, `compute_async` and `spawn_blocking`.
    async fn all(rt: Arc<Runtime>, runs: usize) -> [f64; 3] {
        for _ in 0..runs / 10 {
            three(&rt);
            three_async(&rt).await;
            three_blocking(&rt).await;
        }
        // In blocks of `BLOCK` calls of one kind, the kinds in turn: drift
        // affects all alike, and no call pays for the state the call of
        // another kind before it left (pool threads still awake and
        // holding the run tokens make the next `compute` hand its graph
        // to them, and a faster `compute_async` leaves more of them).
        const BLOCK: usize = 20;
        let mut v = [(); 3].map(|_| Vec::with_capacity(runs));
        for _ in 0..runs.div_ceil(BLOCK) {
            for _ in 0..BLOCK {
                let t = Instant::now();
                three(&rt);
                v[0].push(t.elapsed().as_nanos() as f64 / 1000.0);
            }
            for _ in 0..BLOCK {
                let t = Instant::now();
                three_async(&rt).await;
                v[1].push(t.elapsed().as_nanos() as f64 / 1000.0);
            }
            for _ in 0..BLOCK {
                let t = Instant::now();
                three_blocking(&rt).await;
                v[2].push(t.elapsed().as_nanos() as f64 / 1000.0);
            }
        }
        let runs = v[0].len();
        v.map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[runs / 2]
        })
    }
    println!(
        "| tokio runtime | threads | `compute` | `compute_async(..).await` | `spawn_blocking(compute)` | async / compute | async / spawn_blocking |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|");
    let line = |what: &str, threads: usize, [c, a, b]: [f64; 3]| {
        println!(
            "| {what} | {threads} | {c:.2} µs | {a:.2} µs | {b:.2} µs | {:.2} | {:.2} |",
            a / c,
            a / b
        );
    };
    // Runtimes of their own: a task spawned on tokio holds its runtime.
    for threads in [1, p.all] {
        let rt = Arc::new(Runtime::new(threads).expect("runtime"));
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        let r = current.block_on(all(Arc::clone(&rt), runs));
        line("current-thread (`block_on`)", threads, r);
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("tokio runtime");
        let task = multi.spawn(all(Arc::clone(&rt), runs));
        let r = multi.block_on(task).expect("tokio task");
        line("multi-thread (2 workers, in a spawned task)", threads, r);
    }
    println!();
}

/// What observers cost per task: none attached (the hook is one branch on
/// a run-level flag), an observer that does nothing (two clock reads and
/// two calls per task), and the task stream (which also records each task).
fn observers(s: &Settings, p: &Pools) {
    use taskdag::observe::Observer;
    use taskdag::stream::TaskStream;
    struct Nothing;
    impl Observer for Nothing {}
    let n = if s.smoke { 256 } else { 65536 };
    println!("## Observers (seed {n}, zero work, 1 thread): ns per task\n");
    println!("| runtime | none attached | an empty observer | the task stream | runs |");
    println!("|---|--:|--:|--:|--:|");
    for (name, rt) in [("fused", &p.tg1), ("node by node", &p.nodes1)] {
        let tasks = Shape::Seed.tasks(n);
        let nothing: std::sync::Arc<dyn Observer> = std::sync::Arc::new(Nothing);
        let stream = std::sync::Arc::new(TaskStream::new());
        let want = sequential(&Zero, Shape::Seed, n);
        let mut variants: Vec<Variant<'_>> = vec![
            (
                "none",
                Box::new(|| {
                    check(
                        "none",
                        Shape::Seed,
                        n,
                        taskgraph_zero(rt, Shape::Seed, n),
                        want,
                    )
                }),
            ),
            (
                "empty",
                Box::new(|| {
                    let _w = rt.observe(nothing.clone());
                    check(
                        "empty",
                        Shape::Seed,
                        n,
                        taskgraph_zero(rt, Shape::Seed, n),
                        want,
                    )
                }),
            ),
            (
                "stream",
                Box::new(|| {
                    let _w = rt.observe(stream.clone());
                    check(
                        "stream",
                        Shape::Seed,
                        n,
                        taskgraph_zero(rt, Shape::Seed, n),
                        want,
                    );
                    stream.clear();
                }),
            ),
        ];
        let (st, rounds) = measure(s, tasks, &mut variants);
        println!(
            "| {name} | {} | {} | {} | {rounds} |",
            st[0].cell(),
            st[1].cell(),
            st[2].cell()
        );
    }
    println!();
}

/// A value of the sleeping workload, carrying the length of the longest chain
/// of measured sleeps that led to it.
#[derive(Clone, Copy)]
struct Timed {
    v: u64,
    path_ns: u64,
}

static SLEPT_NS: AtomicU64 = AtomicU64::new(0);
static SLEEP_SEED: AtomicU64 = AtomicU64::new(0);
/// Upper end of the uniform sleep, in ns (2 ms: mean 1 ms).
static SLEEP_MAX_NS: AtomicU64 = AtomicU64::new(2_000_000);

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Sleeps uniformly in [0, 2 ms), records how long it really slept.
fn nap(tag: u64, key: u64) -> u64 {
    let r = splitmix(SLEEP_SEED.load(Relaxed) ^ tag.wrapping_mul(LCG) ^ splitmix(key));
    let d = Duration::from_nanos(r % SLEEP_MAX_NS.load(Relaxed));
    let t = Instant::now();
    std::thread::sleep(d);
    let slept = t.elapsed().as_nanos() as u64;
    SLEPT_NS.fetch_add(slept, Relaxed);
    slept
}

#[delayed]
fn sleepy_inc(i: u64) -> Timed {
    let s = nap(1, i);
    Timed {
        v: i + 1,
        path_ns: s,
    }
}
#[delayed]
fn sleepy_dec(x: Timed) -> Timed {
    let s = nap(2, x.v);
    Timed {
        v: x.v - 1,
        path_ns: x.path_ns + s,
    }
}
#[delayed]
fn sleepy_add(x: Timed, y: Timed) -> Timed {
    let s = nap(3, x.v ^ y.v.rotate_left(32));
    Timed {
        v: x.v + y.v,
        path_ns: x.path_ns.max(y.path_ns) + s,
    }
}

fn makespan(s: &Settings) {
    let threads = 4;
    let (n, reps) = if s.smoke { (16u64, 1) } else { (256u64, 7) };
    let tasks = Shape::Seed.tasks(n);
    let want = sequential(&Zero, Shape::Seed, n);
    println!(
        "| mode | run | tasks | makespan | total sleep | critical path \
         | bound max(total/{threads}, path) | efficiency |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    let mut summary = Vec::new();
    for (mode, fuse) in [("fused", true), ("node by node", false)] {
        let rt = Runtime::builder()
            .threads(threads)
            .fuse_loops(fuse)
            .build()
            .expect("runtime");
        let mut eff = Vec::new();
        for rep in 0..reps {
            SLEEP_SEED.store(splitmix(rep), Relaxed);
            SLEPT_NS.store(0, Relaxed);
            let t = Instant::now();
            let out = rt
                .compute(graph! {
                    let mut zs = Vec::new();
                    for i in 0..n {
                        let x = sleepy_inc(i);
                        let y = sleepy_dec(x);
                        let z = sleepy_add(x, y);
                        zs.push(z);
                    }
                    tree_reduce(zs, sleepy_add)
                })
                .expect("sleeping graph failed");
            let span = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(out.v, want, "sleeping workload computed a wrong result");
            let total = SLEPT_NS.load(Relaxed) as f64 / 1e6;
            let path = out.path_ns as f64 / 1e6;
            let bound = (total / threads as f64).max(path);
            eff.push(bound / span);
            println!(
                "| {mode} | {} | {tasks} | {span:.1} ms | {total:.1} ms | {path:.1} ms | {bound:.1} ms | {:.1}% |",
                rep + 1,
                100.0 * bound / span
            );
        }
        summary.push((mode, Stat::of(eff)));
    }
    println!();
    for (mode, st) in summary {
        println!(
            "Median efficiency, {mode}, over {reps} runs: **{:.1}%** (quartiles {:.1}%–{:.1}%).\n",
            100.0 * st.median,
            100.0 * st.q1,
            100.0 * st.q3
        );
    }
}

// ---------------------------------------------------------------------------

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "rustc (unknown version)".to_owned());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let profile = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "optimized build"
    };
    format!(
        "{threads} hardware threads (nproc), {cpu}; {rustc}; {profile}; load average at start {}",
        loadavg()
    )
}

/// The 1-minute load average: other processes on this machine skew every number.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Runs the suite; `args` are the command-line arguments after the program name.
pub fn run(args: &[String]) {
    let smoke = args.iter().any(|a| a == "--smoke")
        || std::env::var("TASKGRAPH_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let (filter, only) = (value("--filter"), value("--only"));
    let s = Settings {
        smoke,
        filter,
        only,
        budget: if smoke {
            Duration::ZERO
        } else {
            Duration::from_millis(2500)
        },
        min_rounds: if smoke { 2 } else { 9 },
        max_rounds: if smoke { 2 } else { 300 },
        min_sample: if smoke {
            Duration::from_micros(20)
        } else {
            Duration::from_micros(200)
        },
    };
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let unfused = |n: usize| {
        Runtime::builder()
            .threads(n)
            .fuse_loops(false)
            .build()
            .expect("runtime")
    };
    let pool = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("rayon pool")
    };
    let p = Pools {
        tg1: Runtime::new(1).expect("runtime"),
        tg_all: Runtime::new(all).expect("runtime"),
        nodes1: unfused(1),
        nodes_all: unfused(all),
        ray1: pool(1),
        ray_all: pool(all),
        all,
    };
    let spin = calibrate_spin();
    println!(
        "# taskgraph benchmark suite{}\n",
        if smoke {
            " (smoke mode: tiny sizes, 2 runs)"
        } else {
            ""
        }
    );
    println!("Machine: {}.\n", machine());
    println!(
        "Cells: median ns per task over `runs` rounds, ± half the interquartile range. \
         (best): the fastest round of taskgraph 1T. taskgraph: default runtimes (these shapes run fused); \
         node by node: runtimes built with `fuse_loops(false)`. Ratios are of medians. \
         1T / {all}T: pools of 1 and {all} threads. seq: the plain loop (the physical limit); \
         dyn: the same functions through `&dyn Fn` in topological order (the indirect-call floor); \
         rayon: `par_iter` for independent tasks, one `join` per inner tree node.\n"
    );

    let (zero_rows, busy_rows): (Vec<Row>, Vec<Row>) = if smoke {
        (
            vec![
                (Shape::Seed, 64),
                (Shape::Chain, 1000),
                (Shape::Tree, 1 << 8),
                (Shape::FanJoin, 1000),
                (Shape::Around, 64),
                (Shape::TwoLoops, 64),
                (Shape::Nested, 512),
                (Shape::GatherReduce, 64),
                (Shape::Stencil, 2),
                (Shape::Stencil1d, 16),
                (Shape::Wavefront, 16),
                (Shape::WhileTree, 100),
            ],
            vec![
                (Shape::Seed, 16),
                (Shape::Chain, 50),
                (Shape::Tree, 1 << 5),
                (Shape::FanJoin, 50),
                (Shape::Stencil, 1),
                (Shape::Stencil1d, 8),
                (Shape::Wavefront, 8),
                (Shape::WhileTree, 50),
            ],
        )
    } else {
        (
            vec![
                (Shape::Seed, 256),
                (Shape::Seed, 4096),
                (Shape::Seed, 65536),
                (Shape::Seed, 1 << 20),
                (Shape::Chain, 100_000),
                (Shape::Chain, 1_000_000),
                (Shape::Tree, 1 << 16),
                (Shape::Tree, 1 << 20),
                (Shape::FanJoin, 100_000),
                (Shape::FanJoin, 1_000_000),
                (Shape::Around, 65536),
                (Shape::TwoLoops, 65536),
                (Shape::Nested, 65536),
                (Shape::GatherReduce, 65536),
                (Shape::Stencil, 1000),
                (Shape::Stencil1d, 1000),
                (Shape::Wavefront, 256),
                (Shape::Wavefront, 1024),
                (Shape::WhileTree, 65536),
            ],
            vec![
                (Shape::Seed, 256),
                (Shape::Seed, 4096),
                (Shape::Chain, 10_000),
                (Shape::Tree, 1 << 12),
                (Shape::FanJoin, 10_000),
                (Shape::Stencil, 10),
                (Shape::Stencil1d, 100),
                (Shape::Wavefront, 100),
                (Shape::WhileTree, 4096),
            ],
        )
    };
    println!("## Zero-work tasks (one integer operation each)\n");
    table(&s, &p, Work::Zero, &zero_rows);
    println!("## Busy tasks (about 1 µs of work each: one call of `spin` measured {spin:?})\n");
    table(&s, &p, Work::Busy, &busy_rows);

    if s.keep("observers") && s.only.is_none() {
        observers(&s, &p);
    }
    if s.keep("result cache") && s.only.is_none() {
        println!("## The result cache (`#[delayed(cache)]`, files in the target directory)\n");
        result_cache(&s, &p);
    }
    if s.filter.as_deref() == Some("awaited") && s.only.is_none() {
        println!("## Awaiting a tiny graph from a tokio task (`compute_async`)\n");
        awaited(&s, &p);
        return;
    }
    if !s.keep("extras") || s.only.is_some() {
        return;
    }
    println!("## Heap allocations per compute (seed, zero work; counting global allocator)\n");
    allocations(&p, if smoke { &[256, 1024] } else { &[1024, 65536] });
    println!("## Fixed cost of one compute on a tiny graph\n");
    fixed_cost(&s, &p);
    println!("## Awaiting a tiny graph from a tokio task (`compute_async`)\n");
    awaited(&s, &p);
    if smoke {
        SLEEP_MAX_NS.store(200_000, Relaxed);
    }
    println!(
        "## Makespan with sleeping tasks (the tutorial's workload, sleeps uniform in [0, {} µs))\n",
        SLEEP_MAX_NS.load(Relaxed) / 1000
    );
    makespan(&s);
    println!("## Async tasks waiting for timers (`#[delayed] async fn`)\n");
    async_timers(&s);
    println!("Load average at the end: {}.", loadavg());
}

// ---------------------------------------------------------------------------
// Async tasks: many tasks each waiting for a timer, on a small pool.

/// One thread that wakes futures at their deadlines: an executor-agnostic
/// timer (no reactor), shared by every [`Timer`].
struct Timers {
    due: std::sync::Mutex<Vec<(Instant, std::task::Waker)>>,
    changed: std::sync::Condvar,
}

fn timers() -> &'static Timers {
    static T: std::sync::OnceLock<&'static Timers> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let t: &'static Timers = Box::leak(Box::new(Timers {
            due: std::sync::Mutex::new(Vec::new()),
            changed: std::sync::Condvar::new(),
        }));
        std::thread::spawn(move || {
            let mut due = t.due.lock().unwrap();
            loop {
                let now = Instant::now();
                let mut k = 0;
                while k < due.len() {
                    if due[k].0 <= now {
                        due.swap_remove(k).1.wake();
                    } else {
                        k += 1;
                    }
                }
                due = match due.iter().map(|d| d.0).min() {
                    Some(next) => t.changed.wait_timeout(due, next - now).unwrap().0,
                    None => t.changed.wait(due).unwrap(),
                };
            }
        });
        t
    })
}

/// Ready at its deadline.
struct Timer(Instant);

impl std::future::Future for Timer {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if Instant::now() >= self.0 {
            return std::task::Poll::Ready(());
        }
        let t = timers();
        t.due.lock().unwrap().push((self.0, cx.waker().clone()));
        t.changed.notify_one();
        std::task::Poll::Pending
    }
}

#[delayed]
async fn after(us: u64, i: u64) -> u64 {
    Timer(Instant::now() + Duration::from_micros(us)).await;
    i
}

/// `n` async tasks each waiting `d` for a timer on a 2-thread pool,
/// against one such task in the same run: the ratio is how much longer
/// than one timer the many take (target: at most 1.5).
fn async_timers(s: &Settings) {
    let (n, d_us, reps) = if s.smoke {
        (100u64, 5_000u64, 2)
    } else {
        (1000, 50_000, 7)
    };
    let rt = Runtime::new(2).expect("runtime");
    let run = |n: u64| {
        let t = Instant::now();
        let v = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..n {
                    v.push(after(d_us, i));
                }
                v
            })
            .expect("async graph failed");
        assert_eq!(
            v,
            (0..n).collect::<Vec<u64>>(),
            "async tasks computed a wrong result"
        );
        t.elapsed().as_secs_f64() * 1e3
    };
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        one.push(run(1));
        many.push(run(n));
    }
    let (one, many) = (Stat::of(one), Stat::of(many));
    println!("| tasks | threads | timer | median wall time | ratio to one task |");
    println!("|--:|--:|--:|--:|--:|");
    println!(
        "| 1 | 2 | {} ms | {:.1} ms | 1.00 |",
        d_us / 1000,
        one.median
    );
    println!(
        "| {n} | 2 | {} ms | {:.1} ms | **{:.2}** |\n",
        d_us / 1000,
        many.median,
        many.median / one.median
    );
    println!(
        "Medians of {reps} runs each; a task waiting holds no thread, so {n} timers on 2 threads \
         take about one timer's time (blocking tasks would take {n} × {} ms / 2).\n",
        d_us / 1000
    );
}

/// Cached steps for [`result_cache`]: small values, and a pipeline whose
/// `summarise` is costly.
mod cached {
    use taskdag::delayed;

    #[delayed(cache)]
    pub fn inc(x: u64) -> u64 {
        x + 1
    }

    #[delayed]
    pub fn inc_plain(x: u64) -> u64 {
        x + 1
    }

    #[delayed(cache)]
    pub fn load(file: u64) -> Vec<u64> {
        (0..2000)
            .map(|i| super::splitmix(file * 4096 + i) % 1000)
            .collect()
    }

    #[delayed(cache)]
    pub fn clean(v: &[u64]) -> Vec<u64> {
        v.iter().copied().filter(|x| x % 7 != 0).collect()
    }

    /// About 1 ms of work.
    #[delayed(cache)]
    pub fn summarise(v: &[u64]) -> (u64, u64) {
        let mut h = 0u64;
        for _ in 0..super::SUMMARISE_ROUNDS.load(std::sync::atomic::Ordering::Relaxed) {
            for x in v {
                h = super::splitmix(h ^ x);
            }
        }
        (v.iter().sum(), h)
    }
}

static SUMMARISE_ROUNDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(100);

/// The result cache: the fixed cost of a compute on a runtime with a cache
/// but no cached function (against one without), the cost per cached task
/// with a small value (misses: compute and store; hits: load), and a
/// load/clean/summarise pipeline run twice.
fn result_cache(s: &Settings, p: &Pools) {
    // One directory per process: two runs at once (the test suite run
    // twice on a busy machine) must not read each other's entries.
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let threads = p.all;
    let with_cache = |name: &str| {
        Runtime::builder()
            .threads(threads)
            .cache(root.join(name))
            .build()
            .expect("runtime")
    };
    // 1. No cached function: the 3-task graph on both, alternating.
    let cached_rt = with_cache("none");
    let runs = if s.smoke { 200 } else { 20_000 };
    let three = |rt: &Runtime| {
        let (a, b) = (black_box(1u64), black_box(2u64));
        let z = rt
            .compute(graph! {
                let x = zero::inc(a);
                let y = zero::dec(b);
                zero::add(x, y)
            })
            .expect("3-task graph failed");
        assert_eq!(z, 3);
    };
    // Alternating one compute without and one with, so that the machine's
    // drift affects both alike.
    for _ in 0..runs / 10 {
        three(&p.tg_all);
        three(&cached_rt);
    }
    let mut off = Vec::with_capacity(runs);
    let mut on = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        three(&p.tg_all);
        off.push(t.elapsed().as_nanos() as f64 / 1000.0);
        let t = Instant::now();
        three(&cached_rt);
        on.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    off.sort_by(f64::total_cmp);
    on.sort_by(f64::total_cmp);
    let (m_off, m_on) = (off[runs / 2], on[runs / 2]);
    println!("| measurement | value |\n|---|--:|");
    println!(
        "| 3-task graph, no cached function, {threads} threads: median without a cache / with one | {m_off:.2} µs / {m_on:.2} µs (ratio {:.3}) |",
        m_on / m_off
    );
    // 2. A cached function on a runtime without a cache: one thread-local
    // read per call, against the same function uncached (fused loop, 1
    // thread).
    let k = if s.smoke { 256u64 } else { 65536 };
    let loop_of = |cached: bool| {
        let rt = &p.tg1;
        let v = if cached {
            rt.compute(graph! {
                let v: Vec<_> = (0..k).map(|i| cached::inc(i)).collect();
                v
            })
        } else {
            rt.compute(graph! {
                let v: Vec<_> = (0..k).map(|i| cached::inc_plain(i)).collect();
                v
            })
        }
        .expect("graph failed");
        assert_eq!(v.len() as u64, k);
    };
    let loops = if s.smoke { 5 } else { 200 };
    let mut plain_ns = Vec::new();
    let mut off_ns = Vec::new();
    for _ in 0..loops {
        let t = Instant::now();
        loop_of(false);
        plain_ns.push(t.elapsed().as_nanos() as f64 / k as f64);
        let t = Instant::now();
        loop_of(true);
        off_ns.push(t.elapsed().as_nanos() as f64 / k as f64);
    }
    plain_ns.sort_by(f64::total_cmp);
    off_ns.sort_by(f64::total_cmp);
    println!(
        "| {k} tasks in a fused loop, 1 thread, runtime without a cache, per task: plain `#[delayed]` / `#[delayed(cache)]` | {:.2} ns / {:.2} ns |",
        plain_ns[loops / 2],
        off_ns[loops / 2]
    );
    // 3. Per cached task, small value: 1,000 tasks.
    let n = if s.smoke { 50u64 } else { 1000 };
    let many = |rt: &Runtime, cached: bool| {
        let t = Instant::now();
        let v = if cached {
            rt.compute(graph! {
                let v: Vec<_> = (0..n).map(|i| cached::inc(i)).collect();
                v
            })
        } else {
            rt.compute(graph! {
                let v: Vec<_> = (0..n).map(|i| cached::inc_plain(i)).collect();
                v
            })
        }
        .expect("graph failed");
        assert_eq!(v.len() as u64, n);
        t.elapsed().as_nanos() as f64 / n as f64 / 1000.0
    };
    let reps = if s.smoke { 1 } else { 7 };
    let mut plain = Vec::new();
    let mut miss = Vec::new();
    let mut hit = Vec::new();
    for r in 0..reps {
        let rt = with_cache(&format!("small-{r}"));
        plain.push(many(&rt, false));
        miss.push(many(&rt, true));
        hit.push(many(&rt, true));
    }
    for v in [&mut plain, &mut miss, &mut hit] {
        v.sort_by(f64::total_cmp);
    }
    let mid = reps / 2;
    println!(
        "| {n} tasks of a `u64`, per task: uncached / cached miss (compute + store) / cached hit (load) | {:.2} µs / {:.1} µs / {:.1} µs |",
        plain[mid], miss[mid], hit[mid]
    );
    // 4. load -> clean -> summarise (about 1 ms) for each of 200 files.
    let files = if s.smoke { 8u64 } else { 200 };
    if s.smoke {
        SUMMARISE_ROUNDS.store(1, Relaxed);
    }
    let rt = with_cache("pipeline");
    let pipeline = |rt: &Runtime| {
        let t = Instant::now();
        let out = rt
            .compute(graph! {
                let mut out = Vec::new();
                for f in 0..files {
                    let raw = cached::load(f);
                    let c = cached::clean(&raw);
                    out.push(cached::summarise(&c));
                }
                out
            })
            .expect("pipeline failed");
        (out, t.elapsed())
    };
    let (first, t1) = pipeline(&rt);
    let (second, t2) = pipeline(&rt);
    assert_eq!(first, second);
    let stats = rt.cache().expect("a cache").stats();
    assert_eq!(stats.hits, 3 * files);
    println!(
        "| pipeline of {files} files (load 2,000 numbers, clean, summarise ~1 ms), {threads} threads: first run / second run | {:.1} ms / {:.1} ms ({:.0}x; {} entries, {} KiB) |",
        t1.as_secs_f64() * 1e3,
        t2.as_secs_f64() * 1e3,
        t1.as_secs_f64() / t2.as_secs_f64(),
        stats.entries,
        stats.bytes / 1024
    );
    println!();
    let _ = std::fs::remove_dir_all(&root);
}

/// What `--help` prints.
#[allow(dead_code)]
const USAGE: &str = "\
usage: cargo bench --bench suite -- [--smoke] [--filter SUBSTRING] [--only VARIANT]
  --smoke             tiny sizes, a few seconds (also TASKGRAPH_BENCH_SMOKE=1)
  --filter SUBSTRING  only the rows whose label contains it (e.g. `seed 65536`, `extras`)
  --only VARIANT      run one variant of the kept rows for a few seconds, print no
                      numbers (for `perf record`): tg1, tg_all, nodes1, nodes_all,
                      seq, dyn, ray1, ray_all";

/// The arguments `main` does not know, if any (`--bench`, which `cargo
/// bench` passes, is known).
#[allow(dead_code)]
fn unknown_argument(args: &[String]) -> Option<&str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" | "--smoke" => {}
            "--filter" | "--only" => {
                it.next();
            }
            other => return Some(other),
        }
    }
    None
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    if let Some(a) = unknown_argument(&args) {
        eprintln!("suite: unknown argument `{a}`\n{USAGE}");
        std::process::exit(2);
    }
    run(&args);
}
