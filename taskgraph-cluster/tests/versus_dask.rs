//! `examples/versus_dask.rs` at small sizes: the tutorial with sleeping
//! tasks, independent blocks and a chain, as `graph!`s on a LocalCluster
//! and as dask.delayed graphs on another. Every result of both is checked
//! against the sequential one; the times are printed, never asserted.
//!
//! Its own `main` (`harness = false`): the cluster's workers start this
//! program to run the blocks of its graphs, and `main` hands them to
//! `Dask::worker_entry` first. With no `python3` or no package index it says
//! so and passes.

// The measurement is the example's, so both report the same thing.
#[path = "../examples/versus_dask.rs"]
#[allow(dead_code)]
mod versus_dask;

#[path = "common/offline.rs"]
mod offline;

use std::process::ExitCode;
use std::time::Instant;

use taskdag::cluster::{ClusterError, Dask};

fn main() -> ExitCode {
    Dask::worker_entry();
    // The best schedule of the tutorial's unit tasks: ceil((4N - 1) / P)
    // steps on few threads, the critical path (inc, add, log2 N adds) on
    // many.
    assert_eq!(versus_dask::ideal_steps(64, 2), 128);
    assert_eq!(versus_dask::ideal_steps(64, 1000), 2 + 6);
    assert_eq!(versus_dask::ideal_steps(1, 1), 3);
    assert_eq!(versus_dask::ideal_steps(5, 2), 10);

    let started = Instant::now();
    // 2 workers x 1 thread; N = 8 with 5 ms sleeps, 20 blocks, a chain of
    // 11, one round each.
    let args = ["2", "1", "8", "5", "20", "10", "1"].map(String::from);
    let skip = |line: &str| {
        println!("skipping versus_dask: {line}");
        println!("\ntest result: ok. 0 passed; 0 failed; 1 ignored");
        ExitCode::SUCCESS
    };
    if std::env::var_os("TASKGRAPH_PYTHON").is_none_or(|p| p.is_empty()) {
        if let Some(line) = offline::earlier() {
            return skip(&line);
        }
    }
    let measured = match versus_dask::run(versus_dask::Config::from_args(&args)) {
        Ok(m) => m,
        Err(e) => match e.downcast_ref::<ClusterError>() {
            Some(
                e @ (ClusterError::PythonNotFound | ClusterError::PackageIndexUnreachable { .. }),
            ) => {
                let line = e.to_string().lines().next().unwrap_or_default().to_owned();
                if matches!(e, ClusterError::PackageIndexUnreachable { .. }) {
                    offline::remember(&line);
                }
                return skip(&line);
            }
            _ => panic!("versus_dask: {e}"),
        },
    };
    println!("\nrunning 1 test");
    println!(
        "test versus_dask ... ok ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    for line in measured.lines() {
        println!("    {line}");
    }
    println!("\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
    ExitCode::SUCCESS
}
