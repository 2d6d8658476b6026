//! What a job costs on dask: per job, per dependency level, and what starting
//! workers costs, on a LocalCluster on this machine.
//!
//! ```sh
//! cargo run --release --example overhead -- [INDEPENDENT [CHAIN [WORKERS [THREADS]]]]
//! ```
//!
//! Defaults: 1000 independent jobs, a chain of 100, 2 workers of 1 thread.
//! The jobs are this program itself, run again on the workers with
//! `TASKGRAPH_OVERHEAD_JOB` set: each reads its framed input, adds the
//! numbers and writes the sum, so nearly all of the time measured is
//! overhead: dask's scheduling, moving bytes, and starting a process.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use taskgraph_cluster::{frame, ClusterError, Dask, Job, JobGraph};

/// Set in a job's environment: run as a job instead of measuring.
const JOB_MODE: &str = "TASKGRAPH_OVERHEAD_JOB";

/// The measured costs.
#[derive(Debug)]
pub struct Overhead {
    /// The program's size and the time `Dask::program` took to hash it and
    /// send it to every worker.
    pub upload: (u64, Duration),
    /// One run of the program on this machine, without dask: the floor.
    pub local_run: Duration,
    /// Submit and wait for one job (median of 5).
    pub one_job: Duration,
    /// Threads in the cluster.
    pub threads: usize,
    /// Independent jobs, and the wall time for all of them.
    pub independent: (usize, Duration),
    /// Jobs in a chain (each reads the previous one), and the wall time.
    pub chain: (usize, Duration),
}

impl Overhead {
    /// One line per measurement.
    pub fn lines(&self) -> Vec<String> {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (n, wall) = self.independent;
        let (levels, chain) = self.chain;
        vec![
            format!(
                "program upload ({:.1} MB, every worker): {:.0} ms",
                self.upload.0 as f64 / 1e6,
                ms(self.upload.1)
            ),
            format!("one run of the program, no dask: {:.2} ms", ms(self.local_run)),
            format!("one job, submit to result: {:.1} ms", ms(self.one_job)),
            format!(
                "{n} independent jobs: {:.0} ms = {:.2} ms per job ({:.2} ms of a thread per job, {} threads)",
                ms(wall),
                ms(wall) / n as f64,
                ms(wall) * self.threads as f64 / n as f64,
                self.threads
            ),
            format!(
                "chain of {levels}: {:.0} ms = {:.2} ms per dependency level",
                ms(chain),
                ms(chain) / levels as f64
            ),
        ]
    }
}

/// Measures `program` (a job that sums its framed i64 inputs) on `dask`.
pub fn measure(
    dask: &Dask,
    program: &Path,
    independent: usize,
    chain: usize,
) -> Result<Overhead, ClusterError> {
    let started = Instant::now();
    let sum = dask.program(program)?;
    let upload = (sum.len(), started.elapsed());
    let job = |key: String| Job::new(key, &sum).env(JOB_MODE, "1");
    let local_run = run_locally(program, 20);

    // Warm up: the first jobs on a worker pay for imports.
    let threads: usize = dask.workers()?.iter().map(|w| w.threads).sum();
    let mut warm = JobGraph::new();
    for i in 0..threads * 4 {
        warm.push(job(format!("warm[{i}]")));
    }
    dask.submit(warm)?.wait()?;

    let mut singles = Vec::new();
    for i in 0..5 {
        let mut g = JobGraph::new();
        let only = g.push(job(format!("one[{i}]")).input(7i64.to_le_bytes()));
        g.output(only);
        let started = Instant::now();
        let out = dask.submit(g)?.wait()?;
        singles.push(started.elapsed());
        assert_eq!(out[0], 7i64.to_le_bytes());
    }
    singles.sort();

    let mut g = JobGraph::new();
    for i in 0..independent {
        let id = g.push(job(format!("leaf[{i}]")).input((i as i64).to_le_bytes()));
        g.output(id);
    }
    let started = Instant::now();
    let outs = dask.submit(g)?.wait()?;
    let independent = (independent, started.elapsed());
    assert!(outs
        .iter()
        .enumerate()
        .all(|(i, out)| out[..] == (i as i64).to_le_bytes()));

    let mut g = JobGraph::new();
    let mut last = g.push(job("link[0]".into()).input(1i64.to_le_bytes()));
    for i in 1..chain {
        last = g.push(
            job(format!("link[{i}]"))
                .input(1i64.to_le_bytes())
                .dep(last),
        );
    }
    g.output(last);
    let started = Instant::now();
    let out = dask.submit(g)?.wait()?;
    let chain = (chain, started.elapsed());
    assert_eq!(out[0], (chain.0 as i64).to_le_bytes());

    Ok(Overhead {
        upload,
        local_run,
        one_job: singles[singles.len() / 2],
        threads,
        independent,
        chain,
    })
}

/// The mean time of `reps` runs of `program` here, fed a framed input.
fn run_locally(program: &Path, reps: u32) -> Duration {
    let input = frame::encode(&[&1i64.to_le_bytes()]);
    let started = Instant::now();
    for _ in 0..reps {
        let mut child = Command::new(program)
            .env(JOB_MODE, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the program");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(&input)
            .expect("feed the program");
        let out = child.wait_with_output().expect("wait for the program");
        assert!(out.status.success());
    }
    started.elapsed() / reps
}

/// Job mode: sum the framed inputs as i64s.
fn job() {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .expect("read stdin");
    let frames = frame::decode(&bytes).expect("a framed job input");
    let sum: i64 = std::iter::once(frames.input)
        .chain(frames.deps)
        .map(|f| f.try_into().map(i64::from_le_bytes).unwrap_or(0))
        .sum();
    std::io::stdout()
        .write_all(&sum.to_le_bytes())
        .expect("write stdout");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os(JOB_MODE).is_some() {
        job();
        return Ok(());
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("arguments are numbers"))
        .collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (independent, chain, workers, threads) = (arg(0, 1000), arg(1, 100), arg(2, 2), arg(3, 1));

    let started = Instant::now();
    // Opts into a virtual environment with `distributed` under the target
    // directory (made the first time); `TASKGRAPH_PYTHON` comes first.
    let dask = Dask::builder()
        .managed_venv(taskgraph_cluster::python::cargo_target_venv())
        .local(workers, threads)?;
    println!(
        "LocalCluster of {workers} workers x {threads} threads (distributed {}) up in {:.2} s",
        dask.distributed_version(),
        started.elapsed().as_secs_f64()
    );
    let overhead = measure(&dask, &std::env::current_exe()?, independent, chain)?;
    for line in overhead.lines() {
        println!("{line}");
    }
    let started = Instant::now();
    dask.add_workers(1)?;
    println!("one more worker: {:.2} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    dask.close();
    println!(
        "closing the cluster: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
