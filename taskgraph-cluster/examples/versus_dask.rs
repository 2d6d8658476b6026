//! The same workloads as `graph!`s on a dask LocalCluster and as
//! dask.delayed graphs (`versus_dask.py`) on an identical LocalCluster:
//! makespan efficiency with sleeping tasks, overhead per block and per
//! dependency level.
//!
//! ```sh
//! cargo run --release -p taskgraph-cluster --example versus_dask -- \
//!     [WORKERS [THREADS [N [SLEEP_MS [BLOCKS [LEVELS [ROUNDS]]]]]]]
//! ```
//!
//! Defaults: 2 workers of 1 thread, N = 64, 10 ms of sleep per task, 200
//! independent blocks, a chain of 100 + 1, 3 rounds of each.
//!
//! - **tutorial**: `for i < N: a = inc(i); b = dec(i); c = add(a, b)`, then
//!   `tree_reduce(cs, add)`: 4N − 1 tasks, each sleeping SLEEP_MS. Makespan
//!   efficiency = (tasks × SLEEP_MS) / (wall × threads of the cluster); the
//!   ideal is that of the best schedule of the same tasks on those threads
//!   with no overhead at all. taskgraph runs it with its default blocks
//!   (about sixteen per thread per loop) and with one block per iteration.
//! - **per block**: BLOCKS independent zero-work `bump(i)`, one block each
//!   (`set_block_size(Some(1))`); dask: as many zero-work delayed tasks.
//!   Wall time / BLOCKS.
//! - **per level**: `x = bump(0)`, then LEVELS times `x = bump(x)`, one block
//!   per iteration; dask: the same chain of delayed tasks. Wall time /
//!   (LEVELS + 1).
//!
//! - **per block of a large graph** (taskgraph only): BLOCKS blocks of
//!   1000 zero-work `bump(i)` each, summed by a `tree_reduce`; wall time /
//!   blocks, against the per block above: what a block costs that grows
//!   with the size of the whole graph rather than of the block.
//! - **workers added**: on a new cluster of the same shape, the tutorial
//!   with default blocks, then again with WORKERS more workers added right
//!   after `spawn`: the second wall over the first, per round (taskgraph
//!   only).
//!
//! With `VERSUS_DASK_TIMELINE` set, each tutorial run's blocks are printed
//! on standard error (start, stop, worker, block), to see how dask
//! scheduled them.
//!
//! Every result is compared with the sequential one. Both sides' clusters
//! run at once, with the same dask settings, and each round of taskgraph
//! is followed by one of dask.delayed (the Python side waits for a line
//! naming the workload), so that both see the same load; each row's ratio
//! is of the medians. This program is also the blocks' program: `main` calls
//! `Dask::worker_entry` first, so on a worker it runs blocks and nothing
//! else.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use taskdag::cluster::Dask;
use taskdag::{delayed, graph, Graph};

/// The dask.delayed side, run with the Python that taskgraph-cluster uses.
const SCRIPT: &str = include_str!("versus_dask.py");

/// The tutorial tasks' sleep, in ms: an input of the tutorial's graph,
/// which sets it where the graph is built (here, and in each block runner).
static SLEEP_MS: AtomicU64 = AtomicU64::new(0);

#[delayed]
fn inc(x: i64) -> i64 {
    nap();
    x + 1
}

#[delayed]
fn dec(x: i64) -> i64 {
    nap();
    x - 1
}

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    nap();
    x + y
}

/// With `VERSUS_DASK_TIMELINE` set: each tutorial run's blocks on standard
/// error, by start, as `start_s stop_s worker block`, with `×N` after a
/// block that ran on N threads and `ahead` after one run ahead.
fn timeline(blocks: &[String], runs: &[taskdag::cluster::JobRun]) {
    let Some(first) = runs.iter().map(|r| r.start).min() else {
        return;
    };
    let mut lines: Vec<(f64, String)> = runs
        .iter()
        .map(|r| {
            let start = r
                .start
                .duration_since(first)
                .unwrap_or_default()
                .as_secs_f64();
            let stop = start + r.duration.as_secs_f64();
            (
                start,
                format!(
                    "{start:.3} {stop:.3} {} {}{}{}",
                    r.worker,
                    blocks[r.job],
                    if r.threads > 1 {
                        format!(" ×{}", r.threads)
                    } else {
                        String::new()
                    },
                    if r.ahead { " ahead" } else { "" }
                ),
            )
        })
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    eprintln!("timeline of {} blocks:", lines.len());
    for (_, line) in lines {
        eprintln!("  {line}");
    }
}

/// With `VERSUS_DASK_TIMELINE` set: where a run of independent blocks
/// spent its time, on standard error: from `spawn` to the first block's
/// start on a worker, from there to the last block's end, and from there
/// to the result.
fn spans(sent: std::time::SystemTime, runs: &[taskdag::cluster::JobRun]) {
    let now = std::time::SystemTime::now();
    let (Some(first), Some(last)) = (
        runs.iter().map(|r| r.start).min(),
        runs.iter().map(|r| r.start + r.duration).max(),
    ) else {
        return;
    };
    let ms = |a: std::time::SystemTime, b: std::time::SystemTime| {
        b.duration_since(a).unwrap_or_default().as_secs_f64() * 1e3
    };
    eprintln!(
        "independent blocks: spawn to first start {:.1} ms, first start to last stop {:.1} ms \
         ({} blocks), last stop to result {:.1} ms",
        ms(sent, first),
        ms(first, last),
        runs.len(),
        ms(last, now)
    );
}

/// The zero-work task of the overhead measurements.
#[delayed]
fn bump(x: i64) -> i64 {
    x + 1
}

fn nap() {
    let ms = SLEEP_MS.load(Ordering::Relaxed);
    if ms > 0 {
        thread::sleep(Duration::from_millis(ms));
    }
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub workers: usize,
    pub threads: usize,
    /// Iterations of the tutorial's loop.
    pub n: i64,
    /// Sleep of every tutorial task.
    pub sleep_ms: u64,
    /// Independent zero-work blocks.
    pub blocks: i64,
    /// Links of the chain after its first task.
    pub levels: usize,
    /// Timed runs of each workload.
    pub rounds: usize,
}

impl Config {
    /// From `[WORKERS [THREADS [N [SLEEP_MS [BLOCKS [LEVELS [ROUNDS]]]]]]]`.
    pub fn from_args(args: &[String]) -> Config {
        let arg = |i: usize, default: u64| {
            args.get(i)
                .map_or(default, |a| a.parse().expect("arguments are numbers"))
        };
        Config {
            workers: arg(0, 2) as usize,
            threads: arg(1, 1) as usize,
            n: arg(2, 64) as i64,
            sleep_ms: arg(3, 10),
            blocks: arg(4, 200) as i64,
            levels: arg(5, 100) as usize,
            rounds: arg(6, 3).max(1) as usize,
        }
    }

    fn total_threads(&self) -> usize {
        self.workers * self.threads
    }

    /// Tasks of the tutorial.
    fn tutorial_tasks(&self) -> usize {
        (4 * self.n - 1).max(0) as usize
    }
}

/// Wall times in seconds, one per round, and the cluster's start-up.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub startup: f64,
    pub tutorial: Vec<f64>,
    /// taskgraph only: the tutorial with one block per loop iteration.
    pub tutorial_fine: Vec<f64>,
    /// taskgraph only: the tutorial's blocks, by default and one per
    /// iteration.
    pub tutorial_blocks: (usize, usize),
    /// taskgraph only: the tutorial with default blocks on a new cluster
    /// of the same shape, with as many workers again added right after
    /// `spawn`.
    pub tutorial_added: Vec<f64>,
    /// taskgraph only: the same on the same new cluster just before, with
    /// no workers added.
    pub tutorial_unadded: Vec<f64>,
    pub independent: Vec<f64>,
    /// taskgraph only: BLOCKS blocks of [`LARGE_BLOCK`] zero-work tasks,
    /// and how many blocks that made.
    pub independent_large: Vec<f64>,
    pub large_blocks: usize,
    /// taskgraph only: the mean time a block ran on its worker (from the
    /// request to its block runner to the answer), one per round, with
    /// one-task blocks and in the large graph.
    pub block_run: Vec<f64>,
    pub large_block_run: Vec<f64>,
    pub chain: Vec<f64>,
}

/// Zero-work tasks per block in the large graph.
const LARGE_BLOCK: i64 = 1000;

/// Both sides' measurements.
#[derive(Debug, Clone)]
pub struct Measured {
    pub config: Config,
    pub distributed: String,
    pub taskgraph: Side,
    pub dask: Side,
}

/// The tutorial: `4n - 1` tasks sleeping `sleep_ms` each.
fn tutorial((n, sleep_ms): (i64, u64)) -> impl Graph<Output = i64> + Send + 'static {
    SLEEP_MS.store(sleep_ms, Ordering::Relaxed);
    graph! {
        let mut cs = Vec::new();
        for i in 0..n {
            let a = inc(i);
            let b = dec(i);
            cs.push(add(a, b));
        }
        tree_reduce(cs, add)
    }
}

/// The results every run is checked against.
fn tutorial_reference(n: i64) -> i64 {
    (0..n).map(|i| (i + 1) + (i - 1)).sum()
}

/// Runs both sides. Panics if a result differs from the sequential one.
pub fn run(config: Config) -> Result<Measured, Box<dyn std::error::Error>> {
    let Config {
        n,
        sleep_ms,
        blocks,
        levels,
        rounds,
        ..
    } = config;
    let mut tg = Side::default();
    let started = Instant::now();
    let dask = Dask::builder()
        .python(python()?)
        .local(config.workers, config.threads)?;
    tg.startup = started.elapsed().as_secs_f64();
    let distributed = dask.distributed_version().to_owned();

    let independent = |count: i64| {
        SLEEP_MS.store(0, Ordering::Relaxed);
        graph! {
            let mut xs = Vec::new();
            for i in 0..count {
                xs.push(bump(i));
            }
            xs
        }
    };
    let large = |count: i64| {
        SLEEP_MS.store(0, Ordering::Relaxed);
        graph! {
            let mut xs = Vec::new();
            for i in 0..count {
                xs.push(bump(i));
            }
            tree_reduce(xs, add)
        }
    };
    let chain = |levels: usize| {
        SLEEP_MS.store(0, Ordering::Relaxed);
        graph! {
            let mut x = bump(0);
            for _ in 0..levels {
                x = bump(x);
            }
            x
        }
    };
    let timed = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        f();
        started.elapsed().as_secs_f64()
    };

    // Warm up: every worker fetches the program, the first jobs pay for
    // imports.
    dask.set_block_size(Some(1));
    let warm = 4 * config.total_threads() as i64;
    assert_eq!(
        dask.compute(warm, independent)?,
        (1..=warm).collect::<Vec<_>>()
    );

    // The dask.delayed side's cluster, up and warm; from here on, each
    // round of taskgraph is followed by one of dask.delayed, so that both
    // see the same load.
    let mut py = PySide::start(&config)?;
    let mut dk = Side {
        startup: py.startup,
        ..Side::default()
    };
    let mut dask_round = |name: &str, walls: &mut Vec<f64>, want: &[i64]| {
        let (wall, result) = py.round(name).expect("versus_dask.py answers");
        assert_eq!(result, want, "dask.delayed's {name}");
        walls.push(wall);
    };
    let tutorial_round = |walls: &mut Vec<f64>| {
        let started = Instant::now();
        let report = dask.spawn((n, sleep_ms), tutorial).wait_report().unwrap();
        walls.push(started.elapsed().as_secs_f64());
        assert_eq!(report.value, tutorial_reference(n));
        if std::env::var_os("VERSUS_DASK_TIMELINE").is_some() {
            timeline(&report.blocks, &report.runs);
        }
        report.blocks.len()
    };
    for _ in 0..rounds {
        dask.set_block_size(None);
        tg.tutorial_blocks.0 = tutorial_round(&mut tg.tutorial);
        dask_round("tutorial", &mut dk.tutorial, &[tutorial_reference(n)]);
        dask.set_block_size(Some(1));
        tg.tutorial_blocks.1 = tutorial_round(&mut tg.tutorial_fine);
    }
    let want: Vec<i64> = (1..=blocks).collect();
    let mean_run = |runs: &[taskdag::cluster::JobRun]| {
        runs.iter().map(|r| r.duration.as_secs_f64()).sum::<f64>() / runs.len().max(1) as f64
    };
    for _ in 0..rounds {
        tg.independent.push(timed(&mut || {
            let sent = std::time::SystemTime::now();
            let report = dask.spawn(blocks, independent).wait_report().unwrap();
            assert_eq!(report.value, want);
            tg.block_run.push(mean_run(&report.runs));
            if std::env::var_os("VERSUS_DASK_TIMELINE").is_some() {
                spans(sent, &report.runs);
            }
        }));
        dask_round("independent", &mut dk.independent, &want);
    }
    dask.set_block_size(Some(LARGE_BLOCK as u32));
    let count = blocks * LARGE_BLOCK;
    for _ in 0..rounds {
        tg.independent_large.push(timed(&mut || {
            let report = dask.spawn(count, large).wait_report().unwrap();
            assert_eq!(report.value, count * (count + 1) / 2);
            tg.large_blocks = report.blocks.len();
            tg.large_block_run.push(mean_run(&report.runs));
        }));
    }
    dask.set_block_size(Some(1));
    for _ in 0..rounds {
        tg.chain.push(timed(&mut || {
            assert_eq!(dask.compute(levels, chain).unwrap(), levels as i64 + 1);
        }));
        dask_round("chain", &mut dk.chain, &[levels as i64 + 1]);
    }
    dask.close();
    drop(py);
    // Workers that join mid-run: a new cluster per round, the tutorial
    // once as it is, then once with as many workers again added right
    // after `spawn`.
    for _ in 0..rounds {
        let dask = Dask::builder()
            .python(python()?)
            .local(config.workers, config.threads)?;
        dask.compute(warm, independent)?; // the first runners start
        tg.tutorial_unadded.push(timed(&mut || {
            let report = dask.spawn((n, sleep_ms), tutorial).wait_report().unwrap();
            assert_eq!(report.value, tutorial_reference(n));
        }));
        tg.tutorial_added.push(timed(&mut || {
            let h = dask.spawn((n, sleep_ms), tutorial);
            dask.add_workers(config.workers).unwrap();
            let joined = std::time::SystemTime::now();
            let report = h.wait_report().unwrap();
            assert_eq!(report.value, tutorial_reference(n));
            if std::env::var_os("VERSUS_DASK_TIMELINE").is_some() {
                if let Some(first) = report.runs.iter().map(|r| r.start).min() {
                    let at = joined.duration_since(first).unwrap_or_default();
                    eprintln!(
                        "{} workers joined at {:.3} s",
                        config.workers,
                        at.as_secs_f64()
                    );
                }
                timeline(&report.blocks, &report.runs);
            }
        }));
        dask.close();
    }

    Ok(Measured {
        config,
        distributed,
        taskgraph: tg,
        dask: dk,
    })
}

/// The Python of both sides: `TASKGRAPH_PYTHON`, else a virtual
/// environment this example makes in the cargo target directory.
fn python() -> Result<std::path::PathBuf, taskdag::cluster::ClusterError> {
    use taskdag::cluster::python;
    match std::env::var_os("TASKGRAPH_PYTHON").filter(|p| !p.is_empty()) {
        Some(_) => python::interpreter(),
        None => python::managed_venv(&python::cargo_target_venv()),
    }
}

/// The dask.delayed side: `versus_dask.py` running its own LocalCluster,
/// asked for one round at a time.
struct PySide {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    script: std::path::PathBuf,
    distributed: String,
    startup: f64,
}

impl PySide {
    /// Starts `versus_dask.py`: its cluster is up and warm when this returns.
    fn start(config: &Config) -> Result<PySide, Box<dyn std::error::Error>> {
        use std::process::Stdio;
        let python = python()?;
        let script =
            std::env::temp_dir().join(format!("taskgraph-versus-dask-{}.py", std::process::id()));
        std::fs::File::create(&script)?.write_all(SCRIPT.as_bytes())?;
        let mut child = Command::new(python)
            .arg(&script)
            .args(
                [
                    config.workers as u64,
                    config.threads as u64,
                    config.n as u64,
                    config.sleep_ms,
                    config.blocks as u64,
                    config.levels as u64,
                ]
                .map(|a| a.to_string()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut side = PySide {
            child,
            stdin,
            stdout,
            script,
            distributed: String::new(),
            startup: f64::NAN,
        };
        let v = side.read()?;
        side.distributed = v["version"].as_str().unwrap_or("?").to_owned();
        side.startup = v["startup"].as_f64().unwrap_or(f64::NAN);
        Ok(side)
    }

    /// The next line of JSON the script prints.
    fn read(&mut self) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        use std::io::BufRead;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(format!(
                "versus_dask.py exited ({}) without answering",
                self.child.wait()?
            )
            .into());
        }
        Ok(serde_json::from_str(&line)
            .map_err(|e| format!("versus_dask.py printed {line:?}: {e}"))?)
    }

    /// One round of `name`: its wall time and result.
    fn round(&mut self, name: &str) -> Result<(f64, Vec<i64>), Box<dyn std::error::Error>> {
        let stdin = self.stdin.as_mut().expect("open until dropped");
        writeln!(stdin, "{name}")?;
        stdin.flush()?;
        let v = self.read()?;
        let result = v["result"]
            .as_array()
            .map(|a| a.iter().filter_map(|w| w.as_i64()).collect())
            .unwrap_or_default();
        Ok((v["wall"].as_f64().unwrap_or(f64::NAN), result))
    }
}

impl Drop for PySide {
    fn drop(&mut self) {
        // End of input: the script closes its cluster and exits.
        drop(self.stdin.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.script);
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The fewest steps in which `threads` threads run the tutorial's tasks if
/// each takes one step and nothing else costs anything: Hu's schedule
/// (highest level first), optimal for a DAG that is an in-tree, as this one
/// is (every task has one consumer).
pub fn ideal_steps(n: usize, threads: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // Tasks as consumer links: inc(i), dec(i) -> add(i); then pairwise.
    let mut consumer: Vec<Option<usize>> = Vec::new();
    let mut cs = Vec::new();
    for _ in 0..n {
        let c = consumer.len() + 2;
        consumer.extend([Some(c), Some(c), None]);
        cs.push(c);
    }
    while cs.len() > 1 {
        let mut next = Vec::new();
        for pair in cs.chunks(2) {
            if let [x, y] = *pair {
                let s = consumer.len();
                consumer.push(None);
                consumer[x] = Some(s);
                consumer[y] = Some(s);
                next.push(s);
            } else {
                next.push(pair[0]);
            }
        }
        cs = next;
    }
    let tasks = consumer.len();
    let mut level = vec![0usize; tasks];
    // Consumers come after producers: levels from the root down.
    for t in (0..tasks).rev() {
        level[t] = consumer[t].map_or(1, |c| level[c] + 1);
    }
    let mut waiting = vec![0usize; tasks];
    for c in consumer.iter().flatten() {
        waiting[*c] += 1;
    }
    let mut ready: Vec<usize> = (0..tasks).filter(|&t| waiting[t] == 0).collect();
    let (mut done, mut steps) = (0, 0);
    while done < tasks {
        ready.sort_by_key(|&t| std::cmp::Reverse(level[t]));
        let now: Vec<usize> = ready.drain(..threads.min(ready.len())).collect();
        for t in now {
            done += 1;
            if let Some(c) = consumer[t] {
                waiting[c] -= 1;
                if waiting[c] == 0 {
                    ready.push(c);
                }
            }
        }
        steps += 1;
    }
    steps
}

impl Measured {
    /// The report: a line of set-up, then a Markdown table.
    pub fn lines(&self) -> Vec<String> {
        let c = &self.config;
        let p = c.total_threads() as f64;
        let tasks = c.tutorial_tasks();
        let work = tasks as f64 * c.sleep_ms as f64 / 1e3;
        let ideal = tasks as f64 / (p * ideal_steps(c.n as usize, c.total_threads()) as f64);
        let eff = |walls: &[f64]| work / (median(walls) * p);
        let (tg, dk) = (&self.taskgraph, &self.dask);
        let ms = |s: f64| s * 1e3;
        let row = |what: &str, t: f64, d: f64, unit: &str, prec: usize| {
            format!(
                "| {what} | {t:.prec$}{unit} | {d:.prec$}{unit} | {:.2} |",
                t / d
            )
        };
        let mut lines = vec![
            format!(
                "LocalCluster of {} workers x {} threads (distributed {}); tutorial N = {} \
                 ({tasks} tasks x {} ms = {work:.2} s of sleep); medians of {} rounds",
                c.workers, c.threads, self.distributed, c.n, c.sleep_ms, c.rounds
            ),
            String::new(),
            "| measurement | taskgraph on dask | dask.delayed | taskgraph / dask |".into(),
            "|---|--:|--:|--:|".into(),
            row(
                "tutorial wall, default blocks",
                median(&tg.tutorial),
                median(&dk.tutorial),
                " s",
                2,
            ),
            row(
                "makespan efficiency, default blocks",
                eff(&tg.tutorial),
                eff(&dk.tutorial),
                "",
                2,
            ),
            row(
                "tutorial wall, one block per iteration",
                median(&tg.tutorial_fine),
                median(&dk.tutorial),
                " s",
                2,
            ),
            row(
                "makespan efficiency, one block per iteration",
                eff(&tg.tutorial_fine),
                eff(&dk.tutorial),
                "",
                2,
            ),
            row(
                &format!("per block / task ({} independent, zero work)", c.blocks),
                ms(median(&tg.independent)) / c.blocks as f64,
                ms(median(&dk.independent)) / c.blocks as f64,
                " ms",
                2,
            ),
            row(
                &format!("per dependency level (chain of {})", c.levels + 1),
                ms(median(&tg.chain)) / (c.levels + 1) as f64,
                ms(median(&dk.chain)) / (c.levels + 1) as f64,
                " ms",
                2,
            ),
            row("cluster start-up", tg.startup, dk.startup, " s", 2),
            String::new(),
            format!("ideal makespan efficiency (no overhead, best schedule): {ideal:.3}"),
            format!(
                "tutorial with {} workers added right after spawn: {:.2} s, {:.2} of the {:.2} s without \
                 on the same new cluster just before (median of the rounds' ratios)",
                c.workers,
                median(&tg.tutorial_added),
                median(
                    &tg.tutorial_added
                        .iter()
                        .zip(&tg.tutorial_unadded)
                        .map(|(a, u)| a / u)
                        .collect::<Vec<_>>()
                ),
                median(&tg.tutorial_unadded)
            ),
            format!(
                "per block of a graph of {} zero-work tasks ({} blocks): {:.2} ms, {:.2} times the per block of {} one-task blocks",
                c.blocks * LARGE_BLOCK,
                tg.large_blocks,
                ms(median(&tg.independent_large)) / tg.large_blocks.max(1) as f64,
                (median(&tg.independent_large) / tg.large_blocks.max(1) as f64)
                    / (median(&tg.independent) / c.blocks as f64),
                c.blocks
            ),
            format!(
                "a block's run on its worker: {:.2} ms of a one-task block, {:.2} ms of a block of {LARGE_BLOCK} in the large graph",
                ms(median(&tg.block_run)),
                ms(median(&tg.large_block_run)),
            ),
            format!(
                "taskgraph's tutorial blocks: {} by default, {} with one per iteration (dask.delayed: {tasks} tasks)",
                tg.tutorial_blocks.0, tg.tutorial_blocks.1
            ),
        ];
        let all = |name: &str, v: &[f64]| {
            let v: Vec<String> = v.iter().map(|w| format!("{w:.3}")).collect();
            format!("{name}: {} s", v.join(", "))
        };
        lines.push(all(
            "taskgraph tutorial walls, workers added",
            &tg.tutorial_added,
        ));
        lines.push(all(
            "taskgraph tutorial walls, new cluster, none added",
            &tg.tutorial_unadded,
        ));
        lines.push(all("taskgraph tutorial walls", &tg.tutorial));
        lines.push(all(
            "taskgraph tutorial walls, one block per iteration",
            &tg.tutorial_fine,
        ));
        lines.push(all("dask.delayed tutorial walls", &dk.tutorial));
        lines.push(all("taskgraph independent walls", &tg.independent));
        lines.push(all("dask.delayed independent walls", &dk.independent));
        lines.push(all(
            "taskgraph independent walls, large graph",
            &tg.independent_large,
        ));
        lines.push(all("taskgraph chain walls", &tg.chain));
        lines.push(all("dask.delayed chain walls", &dk.chain));
        lines
    }
}

#[allow(dead_code)] // the test includes this file as a module
fn main() -> Result<(), Box<dyn std::error::Error>> {
    Dask::worker_entry();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let measured = run(Config::from_args(&args))?;
    for line in measured.lines() {
        println!("{line}");
    }
    Ok(())
}
