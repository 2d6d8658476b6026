//! Prints what a job costs on a 2-worker LocalCluster: per job (200
//! independent jobs), per dependency level (a chain of 50), and starting
//! workers. Numbers only: wall-clock time is never asserted.

mod common;

// The measurement is the example's, so both report the same thing.
#[path = "../examples/overhead.rs"]
#[allow(dead_code)]
mod overhead;

use std::path::Path;
use std::time::Instant;

#[test]
fn overhead_per_job_and_per_dependency_level() {
    let started = Instant::now();
    let Some(dask) = common::cluster(2, 1) else {
        return;
    };
    common::say(&format!(
        "overhead: LocalCluster of 2 workers x 1 thread (distributed {}) up in {:.2} s",
        dask.distributed_version(),
        started.elapsed().as_secs_f64()
    ));
    let measured = overhead::measure(&dask, Path::new(common::TESTJOB), 200, 50).unwrap();
    for line in measured.lines() {
        common::say(&format!("overhead: {line}"));
    }
    let started = Instant::now();
    dask.add_workers(1).unwrap();
    common::say(&format!(
        "overhead: one more worker: {:.2} s",
        started.elapsed().as_secs_f64()
    ));
}
