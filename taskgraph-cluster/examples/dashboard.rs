//! The tutorial's inc/dec/add workload, cut into blocks, on a LocalCluster,
//! slowly enough to watch in dask's dashboard.
//!
//! ```sh
//! cargo run --example dashboard -- [SECONDS_TO_KEEP_THE_DASHBOARD]
//! ```
//!
//! It uses the low-level job interface (`JobGraph`), where each job is a
//! process: the program is its own job, re-run on a worker with
//! `TASKGRAPH_DEMO_JOB` set, reading its framed input and doing one block's
//! work. (A `graph!` sent with `Dask::compute` runs its blocks in
//! long-lived block runners instead.)

use std::io::Write;
use std::thread;
use std::time::Duration;

use taskgraph_cluster::{frame, Dask, Job, JobGraph};

const JOB_MODE: &str = "TASKGRAPH_DEMO_JOB";
const N: i64 = 256;
const BLOCK: i64 = 32;

fn number(bytes: &[u8]) -> i64 {
    bytes.try_into().map(i64::from_le_bytes).unwrap_or(0)
}

/// One block: `inc START` and `dec START` map a block of 32 numbers and sum
/// them; `add` and `total` add their inputs.
fn job() -> Result<(), Box<dyn std::error::Error>> {
    let frames = frame::read_stdin()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let start = number(&frames.input);
    let block = start..start + BLOCK;
    let out = match args.first().map(String::as_str) {
        Some("inc") => block.map(|i| i + 1).sum(),
        Some("dec") => block.map(|i| i - 1).sum(),
        _ => frames.deps.iter().map(|d| number(d)).sum::<i64>(),
    };
    thread::sleep(Duration::from_millis(1000)); // something to watch
    std::io::stdout().write_all(&out.to_le_bytes())?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os(JOB_MODE).is_some() {
        return job();
    }
    let keep: u64 = std::env::args().nth(1).map_or(Ok(0), |s| s.parse())?;
    // Opts into a virtual environment with `distributed` under the target
    // directory (made the first time); `TASKGRAPH_PYTHON` comes first.
    let dask = Dask::builder()
        .managed_venv(taskgraph_cluster::python::cargo_target_venv())
        .local(2, 2)?;
    println!("dashboard: {}", dask.dashboard_link());
    let me = dask.program(std::env::current_exe()?)?;
    let job = |key: String, op: &str| Job::new(key, &me).arg(op).env(JOB_MODE, "1");

    let mut g = JobGraph::new();
    let mut adds = Vec::new();
    for start in (0..N).step_by(BLOCK as usize) {
        let range = format!("[{start}..{}]", start + BLOCK);
        let input = start.to_le_bytes();
        let inc = g.push(job(format!("inc{range}"), "inc").input(input));
        let dec = g.push(job(format!("dec{range}"), "dec").input(input));
        adds.push(g.push(job(format!("add{range}"), "add").deps([inc, dec])));
    }
    let total = g.push(job("total".into(), "add").deps(adds));
    g.output(total);

    let submission = dask.submit(g)?;
    while !submission.progress().finished {
        let p = submission.progress();
        println!("{}/{} jobs done", p.done, p.total);
        thread::sleep(Duration::from_millis(500));
    }
    let report = submission.wait_report()?;
    println!("total = {}", number(&report.outputs[0]));
    assert_eq!(
        number(&report.outputs[0]),
        (0..N).map(|i| 2 * i).sum::<i64>()
    );
    for run in &report.runs {
        println!(
            "job {:2} on {} for {:.0} ms",
            run.job,
            run.worker,
            run.duration.as_secs_f64() * 1e3
        );
    }
    thread::sleep(Duration::from_secs(keep));
    Ok(())
}
