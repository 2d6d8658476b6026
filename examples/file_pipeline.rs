//! A file pipeline: load → clean → summarise every file, then combine the
//! summaries, with a bad file reported as an error that names it.
//!
//! ```text
//! cargo run --release --example file_pipeline [-- --big] [--threads N]
//! ```
//!
//! Writes 300 CSV files of sensor readings under `target/file_pipeline/`
//! (2,000 with `--big`). Per file, `load` reads it, `clean` parses the
//! lines it can use (skipping comments, blank lines and readings marked
//! `NA`) and `summarise` makes statistics per sensor; `tree_reduce` merges
//! the summaries pairwise. A line that is none of these is an error:
//! `clean(path, text)?` stops the graph, and `compute` returns
//! `Error::TaskFailed`, whose source is this file's `PipelineError`
//! naming the file and the line.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use taskdag::{delayed, graph, Runtime};

/// Sensors per file (`s00` to `s15`).
pub const SENSORS: usize = 16;

/// Why a file could not be used.
#[derive(Debug)]
pub enum PipelineError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A line is neither a reading, a comment nor blank.
    BadLine {
        /// The file.
        path: PathBuf,
        /// Its line number (1-based).
        line: usize,
        /// The line.
        text: String,
    },
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Io { path, .. } => write!(f, "cannot read {}", path.display()),
            PipelineError::BadLine { path, line, text } => write!(
                f,
                "{}:{line}: `{text}` is not `sensor,time,value`",
                path.display()
            ),
        }
    }
}

impl std::error::Error for PipelineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PipelineError::Io { source, .. } => Some(source),
            PipelineError::BadLine { .. } => None,
        }
    }
}

/// One reading: a sensor and its value in thousandths (integers, so that
/// sums are exact and any order of combining gives the same summary).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Reading {
    sensor: u8,
    milli: i64,
}

/// Statistics of one sensor's readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// How many readings.
    pub n: u64,
    /// Their sum, in thousandths.
    pub sum: i64,
    /// The smallest, in thousandths.
    pub min: i64,
    /// The largest, in thousandths.
    pub max: i64,
}

impl Stats {
    const EMPTY: Stats = Stats {
        n: 0,
        sum: 0,
        min: i64::MAX,
        max: i64::MIN,
    };

    fn add(&mut self, milli: i64) {
        self.n += 1;
        self.sum += milli;
        self.min = self.min.min(milli);
        self.max = self.max.max(milli);
    }

    fn merge(self, o: Stats) -> Stats {
        Stats {
            n: self.n + o.n,
            sum: self.sum + o.sum,
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }

    /// The mean value.
    pub fn mean(&self) -> f64 {
        self.sum as f64 / self.n.max(1) as f64 / 1000.0
    }
}

/// Per-sensor statistics of some files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// How many files.
    pub files: u64,
    /// How many lines were skipped (comments, blanks, `NA`).
    pub skipped: u64,
    /// One entry per sensor.
    pub sensors: [Stats; SENSORS],
}

// ---------------------------------------------------------------------------
// The pipeline's steps: ordinary functions, called one after the other by
// `sequential` and as tasks by `parallel`.

/// Reads a file.
#[delayed]
pub fn load(path: &Path) -> Result<String, PipelineError> {
    fs::read_to_string(path).map_err(|source| PipelineError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The readings of a file's text, and how many lines were skipped. Cached
/// (on a runtime with a result cache, `--cache`): its key hashes the text,
/// so an edited file is cleaned again. `load` is not cached: it reads a
/// file by its path, which says nothing of what the file holds now.
#[delayed(cache)]
pub fn clean(path: &Path, text: String) -> Result<(Vec<Reading>, u64), PipelineError> {
    let mut readings = Vec::with_capacity(text.len() / 20);
    let mut skipped = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            skipped += 1;
            continue;
        }
        let bad = || PipelineError::BadLine {
            path: path.to_owned(),
            line: i + 1,
            text: line.to_owned(),
        };
        let mut fields = line.split(',');
        let (Some(sensor), Some(time), Some(value), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        let sensor = sensor
            .strip_prefix('s')
            .and_then(|s| s.parse::<u8>().ok())
            .filter(|&s| usize::from(s) < SENSORS)
            .ok_or_else(bad)?;
        time.parse::<u64>().map_err(|_| bad())?;
        if value == "NA" {
            skipped += 1;
            continue;
        }
        let milli = parse_milli(value).ok_or_else(bad)?;
        readings.push(Reading { sensor, milli });
    }
    Ok((readings, skipped))
}

/// `12.345` or `-0.5` as thousandths.
fn parse_milli(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v = int.parse::<i64>().ok()? * 1000;
    let mut scale = 100;
    for b in frac.bytes() {
        v += i64::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(if neg { -v } else { v })
}

/// Per-sensor statistics of one file's readings (cached, as `clean`).
#[delayed(cache)]
pub fn summarise(cleaned: (Vec<Reading>, u64)) -> Summary {
    let (readings, skipped) = cleaned;
    let mut sensors = [Stats::EMPTY; SENSORS];
    for r in &readings {
        sensors[usize::from(r.sensor)].add(r.milli);
    }
    Summary {
        files: 1,
        skipped,
        sensors,
    }
}

/// Two summaries as one.
#[delayed]
pub fn merge(a: Summary, b: Summary) -> Summary {
    let mut sensors = a.sensors;
    for (s, o) in sensors.iter_mut().zip(b.sensors) {
        *s = s.merge(o);
    }
    Summary {
        files: a.files + b.files,
        skipped: a.skipped + b.skipped,
        sensors,
    }
}

/// The pipeline as a graph: one chain of three tasks per file, then a
/// pairwise merge. Nothing is read before `compute`.
pub fn parallel(rt: &Runtime, paths: &[PathBuf]) -> Result<Summary, taskdag::Error> {
    rt.compute(graph! {
        let mut summaries = Vec::new();
        for path in paths {
            let text = load(path)?;
            let readings = clean(path, text)?;
            summaries.push(summarise(readings));
        }
        tree_reduce(summaries, merge)
    })
}

/// The same steps, one file after the other.
pub fn sequential(paths: &[PathBuf]) -> Result<Summary, PipelineError> {
    let mut total: Option<Summary> = None;
    for path in paths {
        let s = summarise(clean(path, load(path)?)?);
        total = Some(match total {
            Some(t) => merge(t, s),
            None => s,
        });
    }
    Ok(total.expect("at least one file"))
}

// ---------------------------------------------------------------------------
// The data.

/// A small generator (splitmix64), so that the files are the same on every run.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes `files` files of `lines` lines each into `dir` (emptied first)
/// and returns their paths.
pub fn generate(dir: &Path, files: usize, lines: usize) -> io::Result<Vec<PathBuf>> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    let mut paths = Vec::with_capacity(files);
    for f in 0..files {
        let mut text = String::with_capacity(lines * 24);
        text.push_str("# sensor,time,value\n");
        let mut state = mix(f as u64);
        for t in 0..lines {
            state = mix(state);
            let sensor = state % SENSORS as u64;
            match (state >> 8) % 100 {
                0 => text.push('\n'),
                1 => text.push_str("# recalibrated\n"),
                2 | 3 => text.push_str(&format!("s{sensor:02},{t},NA\n")),
                _ => {
                    let milli = ((state >> 16) % 200_000) as i64 - 50_000;
                    let sign = if milli < 0 { "-" } else { "" };
                    let m = milli.unsigned_abs();
                    text.push_str(&format!(
                        "s{sensor:02},{t},{sign}{}.{:03}\n",
                        m / 1000,
                        m % 1000
                    ));
                }
            }
        }
        let path = dir.join(format!("readings-{f:04}.csv"));
        fs::write(&path, text)?;
        paths.push(path);
    }
    Ok(paths)
}

// ---------------------------------------------------------------------------

fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

const USAGE: &str = "usage: file_pipeline [--big] [--threads N] [--cache DIR]\n\n  \
    --big         2,000 files instead of 300\n  \
    --threads N   threads of the runtime (default: one per core)\n  \
    --cache DIR   keep `clean`'s and `summarise`'s results in DIR, and run the graph twice";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut big = false;
    let mut threads = None;
    let mut cache: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--big" => big = true,
            "--threads" => threads = Some(args.next().ok_or(USAGE)?.parse()?),
            "--cache" => cache = Some(args.next().ok_or(USAGE)?.into()),
            _ => return Err(USAGE.into()),
        }
    }
    let files = if big { 2_000 } else { 300 };
    // Relative when run from the package's directory, as `cargo run` is.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = match std::env::current_dir() {
        Ok(cwd) if cwd == root => PathBuf::from("target/file_pipeline"),
        _ => root.join("target/file_pipeline"),
    };
    let (paths, t) = timed(|| generate(&dir, files, 10_000));
    let paths = paths?;
    println!(
        "wrote {files} files of 10,000 lines under target/file_pipeline/ in {:.2} s",
        t.as_secs_f64()
    );

    let mut builder = Runtime::builder();
    if let Some(n) = threads {
        builder = builder.threads(n);
    }
    if let Some(dir) = &cache {
        builder = builder.cache(dir);
    }
    let rt = builder.build()?;
    let (want, seq) = timed(|| sequential(&paths));
    let want = want?;
    let (got, par) = timed(|| parallel(&rt, &paths));
    let got = got?;
    if got != want {
        return Err("the graph's summary differs from the sequential one".into());
    }
    println!("sensor  readings      mean       min       max");
    for (i, s) in got.sensors.iter().enumerate() {
        println!(
            "s{i:02}   {:>9} {:>9.3} {:>9.3} {:>9.3}",
            s.n,
            s.mean(),
            s.min as f64 / 1000.0,
            s.max as f64 / 1000.0
        );
    }
    println!("{} lines skipped (comments, blanks, NA)", got.skipped);
    println!(
        "sequential {:.3} s, taskgraph {:.3} s on {} threads: {:.2}x, same summary",
        seq.as_secs_f64(),
        par.as_secs_f64(),
        rt.threads(),
        seq.as_secs_f64() / par.as_secs_f64()
    );
    if let Some(c) = rt.cache() {
        // Again: `clean` and `summarise` are loaded, only `load` reads.
        let before = c.stats();
        let (again, t2) = timed(|| parallel(&rt, &paths));
        if again? != want {
            return Err("the second run's summary differs".into());
        }
        let after = c.stats();
        println!(
            "result cache in {}: this run {:.3} s, again {:.3} s ({} results loaded, {} computed)",
            c.dir().display(),
            par.as_secs_f64(),
            t2.as_secs_f64(),
            after.hits - before.hits,
            after.misses - before.misses
        );
    }

    // One bad line in one file: the graph stops and says where.
    let bad = &paths[files / 3];
    let mut text = fs::read_to_string(bad)?;
    text.insert_str(text.find('\n').map_or(0, |i| i + 1), "s03;12;oops\n");
    fs::write(bad, text)?;
    match parallel(&rt, &paths) {
        Err(e @ taskdag::Error::TaskFailed { .. }) => {
            let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref());
            let Some(PipelineError::BadLine { line, .. }) = source else {
                return Err(format!("unexpected error: {e}").into());
            };
            println!("with a bad line in one file (line {line}):\n  error: {e}");
        }
        other => return Err(format!("expected a bad-line error, got {other:?}").into()),
    }
    Ok(())
}
