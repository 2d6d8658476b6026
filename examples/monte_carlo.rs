//! A Monte-Carlo estimate with a seed per iteration: π from random points
//! in the unit square, in batches that run in parallel and give the same
//! estimate as a sequential run, bit for bit.
//!
//! ```text
//! cargo run --release --example monte_carlo [-- --big] [--threads N]
//! ```
//!
//! Each of 256 batches (4,096 with `--big`) draws 400,000 points from its
//! own random stream, seeded from the run's seed and the batch's number,
//! and counts those inside the quarter circle; `tree_reduce` adds the
//! counts. Since a batch's points depend only on its number, neither the
//! number of threads nor the order batches run in changes the result.

use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Runtime};

/// The counts of some batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// Points drawn.
    pub points: u64,
    /// Points inside the quarter circle.
    pub inside: u64,
}

impl Count {
    /// The estimate of π.
    pub fn pi(&self) -> f64 {
        4.0 * self.inside as f64 / self.points as f64
    }

    /// The standard error of the estimate.
    pub fn std_error(&self) -> f64 {
        let p = self.inside as f64 / self.points as f64;
        4.0 * (p * (1.0 - p) / self.points as f64).sqrt()
    }
}

/// splitmix64: a small, fast generator whose streams, seeded apart, are
/// independent enough for this purpose.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The seed of batch `batch`'s stream: the run's seed and the batch number,
/// mixed, so that neighbouring batches get unrelated streams.
pub fn batch_seed(seed: u64, batch: u64) -> u64 {
    SplitMix(seed ^ batch.wrapping_mul(0xD1B5_4A32_D192_ED03)).next()
}

/// Draws `points` points from batch `batch`'s stream and counts those
/// inside the quarter circle.
#[delayed]
pub fn sample(seed: u64, batch: u64, points: u64) -> Count {
    let mut rng = SplitMix(batch_seed(seed, batch));
    let mut inside = 0;
    for _ in 0..points {
        let (x, y) = (rng.unit(), rng.unit());
        inside += u64::from(x * x + y * y < 1.0);
    }
    Count { points, inside }
}

/// Two counts as one.
#[delayed]
pub fn add(a: Count, b: Count) -> Count {
    Count {
        points: a.points + b.points,
        inside: a.inside + b.inside,
    }
}

/// The estimate as a graph: one task per batch, added up pairwise (the
/// loop runs as fused blocks, split over the threads).
pub fn parallel(
    rt: &Runtime,
    seed: u64,
    batches: u64,
    points: u64,
) -> Result<Count, taskdag::Error> {
    rt.compute(graph! {
        let mut counts = Vec::new();
        for b in 0..batches {
            counts.push(sample(seed, b, points));
        }
        tree_reduce(counts, add)
    })
}

/// The same batches, one after the other.
pub fn sequential(seed: u64, batches: u64, points: u64) -> Count {
    (0..batches).map(|b| sample(seed, b, points)).fold(
        Count {
            points: 0,
            inside: 0,
        },
        add,
    )
}

// ---------------------------------------------------------------------------

fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

const USAGE: &str = "usage: monte_carlo [--big] [--threads N]\n\n  \
    --big         4,096 batches instead of 256\n  \
    --threads N   threads of the runtime (default: one per core)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut big = false;
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--big" => big = true,
            "--threads" => threads = Some(args.next().ok_or(USAGE)?.parse()?),
            _ => return Err(USAGE.into()),
        }
    }
    let (seed, batches, points) = (2024, if big { 4_096 } else { 256 }, 400_000);
    let rt = match threads {
        Some(n) => Runtime::new(n)?,
        None => Runtime::builder().build()?,
    };
    let (want, seq) = timed(|| sequential(seed, batches, points));
    let (got, par) = timed(|| parallel(&rt, seed, batches, points));
    let got = got?;
    if got != want {
        return Err("the graph's count differs from the sequential one".into());
    }
    println!(
        "{} points in {batches} batches: pi = {:.6} +- {:.6} (off by {:.6})",
        got.points,
        got.pi(),
        got.std_error(),
        (got.pi() - std::f64::consts::PI).abs()
    );
    println!(
        "sequential {:.3} s, taskgraph {:.3} s on {} threads: {:.2}x, the same count",
        seq.as_secs_f64(),
        par.as_secs_f64(),
        rt.threads(),
        seq.as_secs_f64() / par.as_secs_f64()
    );
    Ok(())
}
