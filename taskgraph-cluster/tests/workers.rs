//! Workers joining and dying while a graph runs, on a real LocalCluster.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{bytes, num, testjob};
use taskgraph_cluster::{Job, JobGraph, JobRun, Submission};

/// `n` leaves `step[i]` (output i, after `sleep_ms`) and `total`, their sum.
fn fan_in(sum: &taskgraph_cluster::ProgramRef, n: i64, sleep_ms: u32) -> JobGraph {
    let mut g = JobGraph::new();
    let leaves: Vec<usize> = (0..n)
        .map(|i| {
            g.push(
                Job::new(format!("step[{i}]"), sum)
                    .input(bytes(i))
                    .args(["--sleep-ms", &sleep_ms.to_string()]),
            )
        })
        .collect();
    let total = g.push(Job::new("total", sum).deps(leaves));
    g.output(total);
    g
}

fn wait_for(what: &str, sub: &Submission, done: impl Fn(&[JobRun]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&sub.runs()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn jobs_per_worker(runs: &[JobRun]) -> BTreeMap<&str, usize> {
    let mut count = BTreeMap::new();
    for run in runs {
        *count.entry(run.worker.as_str()).or_default() += 1;
    }
    count
}

#[test]
fn a_worker_added_mid_run_takes_jobs() {
    let Some(dask) = common::cluster(1, 1) else {
        return;
    };
    let sum = testjob(&dask);
    let sub = dask.submit(fan_in(&sum, 20, 300)).unwrap();
    wait_for("a first job", &sub, |runs| !runs.is_empty());
    let started = Instant::now();
    let joined = dask.add_workers(1).unwrap();
    common::say(&format!(
        "added a worker in {:.2} s while jobs ran",
        started.elapsed().as_secs_f64()
    ));
    assert_eq!(joined.len(), 1);
    assert!(
        sub.progress().done < 16,
        "the graph ended before the worker joined"
    );

    let report = sub.wait_report().unwrap();
    assert_eq!(num(&report.outputs[0]), (0..20).sum::<i64>());
    let per_worker = jobs_per_worker(&report.runs);
    common::say(&format!("jobs per worker: {per_worker:?}"));
    let on_new = per_worker
        .get(joined[0].address.as_str())
        .copied()
        .unwrap_or(0);
    assert!(on_new >= 1, "the new worker ran nothing: {per_worker:?}");
}

#[test]
fn a_worker_killed_mid_run_loses_nothing() {
    let Some(dask) = common::cluster(2, 1) else {
        return;
    };
    let sum = testjob(&dask);
    let sub = dask.submit(fan_in(&sum, 8, 300)).unwrap();
    wait_for("a first job", &sub, |runs| !runs.is_empty());
    // That worker holds the finished job's output (nothing has read it yet:
    // `total` waits for all eight) and runs its next job.
    let first = sub.runs()[0].clone();
    let victim = dask
        .workers()
        .unwrap()
        .into_iter()
        .find(|w| w.address == first.worker)
        .expect("the worker that ran the first job");
    assert_eq!(victim.pid, first.pid);
    let killed = Command::new("kill")
        .args(["-KILL", &victim.pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert!(sub.progress().done < 8, "the graph ended before the kill");

    let report = sub.wait_report().unwrap();
    assert_eq!(num(&report.outputs[0]), (0..8).sum::<i64>());
    // The first job ran again elsewhere, since its output died with the worker.
    let again: Vec<&JobRun> = report
        .runs
        .iter()
        .filter(|r| r.job == first.job && r.worker != victim.address)
        .collect();
    assert!(
        !again.is_empty(),
        "job {} was not run again after its worker died: {:?}",
        first.job,
        report.runs
    );
    common::say(&format!(
        "killed {} (pid {}); job runs per worker: {:?}",
        victim.address,
        victim.pid,
        jobs_per_worker(&report.runs)
    ));
    let workers = dask.workers().unwrap();
    assert!(workers.iter().all(|w| w.address != victim.address));
}
