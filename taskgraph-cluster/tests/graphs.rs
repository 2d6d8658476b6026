//! `graph!`s on a real dask LocalCluster on loopback, against the same
//! graphs on a local `Runtime`.
//!
//! This test has its own `main` (`harness = false`): each scenario runs in
//! a process of its own (`graphs --scenario NAME`), because the cluster's
//! workers run that same program, with the same arguments, for each block
//! of the scenario's graph. With no `python3` the scenarios are skipped
//! with one line saying so.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use taskdag::cluster::{ClusterError, Dask, GraphHandle};
use taskdag::{delayed, graph, Error, Graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn dec(x: i64) -> i64 {
    x - 1
}

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

/// `inc`, sleeping `ms` first.
#[delayed]
fn slow_inc(x: i64, ms: u64) -> i64 {
    thread::sleep(Duration::from_millis(ms));
    x + 1
}

/// `inc`, once the file `gate` exists (the test opens it).
#[delayed]
fn gated_inc(x: i64, gate: &str) -> i64 {
    while !std::path::Path::new(gate).exists() {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(50));
    x + 1
}

#[delayed]
fn check(x: i64) -> i64 {
    assert!(x != 37, "{x} is unlucky");
    x
}

#[delayed]
fn parse(x: i64) -> Result<i64, String> {
    if x == 5 {
        Err(format!("cannot parse item {x}"))
    } else {
        Ok(x)
    }
}

/// A value of the user's own type, crossing blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Cell {
    heat: f64,
    label: String,
}

#[delayed]
fn seed(i: u64) -> Cell {
    Cell {
        heat: i as f64,
        label: format!("c{i}"),
    }
}

#[delayed]
fn blend(l: &Cell, c: &Cell, r: &Cell) -> Cell {
    Cell {
        heat: (l.heat + 2.0 * c.heat + r.heat) / 4.0,
        label: c.label.clone(),
    }
}

/// The tutorial's loop and tree summation.
fn tutorial(n: i64) -> impl Graph<Output = i64> + Clone {
    graph! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
    }
}

/// A 3-point stencil over a ring of `w` cells, `steps` time steps.
fn stencil(w: usize, steps: usize) -> impl Graph<Output = Vec<Cell>> + Clone {
    graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| seed(i)).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            for i in 0..w {
                let l = if i == 0 { cur[w - 1] } else { cur[i - 1] };
                let r = if i + 1 == w { cur[0] } else { cur[i + 1] };
                next.push(blend(l, cur[i], r));
            }
            cur = next;
        }
        cur
    }
}

/// `n` sleeping tasks of `ms` each, summed.
fn sleepy(n: i64, ms: u64) -> impl Graph<Output = i64> + Clone {
    graph! {
        let xs: Vec<_> = (0..n).map(|i| slow_inc(i, ms)).collect();
        tree_reduce(xs, add)
    }
}

/// A value that is not `Serialize`: fine locally, refused by a cluster.
#[derive(Clone, Debug)]
struct Reading(i64);

#[delayed]
fn reading(i: i64) -> Reading {
    Reading(i)
}

#[delayed]
fn reading_value(r: &Reading) -> i64 {
    r.0
}

fn local<G: Graph>(g: G) -> Result<G::Output, Error> {
    Runtime::new(2).unwrap().compute(g)
}

fn cluster(workers: usize, threads: usize) -> Dask {
    Dask::local(workers, threads).expect("start a LocalCluster")
}

// ---------------------------------------------------------------------------
// Scenarios: each one a process; the workers run it again for each block.

fn tutorial_on_two_workers() {
    let dask = cluster(2, 2);
    // Blocking, on a graph that borrows.
    let n = 8;
    assert_eq!(dask.compute(tutorial(n)).unwrap(), 64);
    let h = dask.spawn(tutorial(256));
    let report = h.wait_report().unwrap();
    assert_eq!(report.value, local(tutorial(256)).unwrap());
    assert_eq!(report.value, (0..256).map(|i| 2 * i + 1).sum::<i64>());
    // Blocks are named after their functions, so the dashboard groups them.
    assert!(
        report.blocks.iter().any(|b| b.starts_with("inc_dec_add[")),
        "{:?}",
        report.blocks
    );
    assert!(report.blocks.len() > 2, "{:?}", report.blocks);
    // The same `impl Graph` is looked at like any other.
    assert!(tutorial(n).to_dot().unwrap().contains("inc[i=3]"));
    // A value that cannot travel: an error that names its type, before
    // anything is sent.
    let e = dask
        .compute(graph! {
            let r = reading(2);
            reading_value(r)
        })
        .unwrap_err();
    let Error::Cluster { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(
        message.contains("graphs::Reading") && message.contains("serde::Serialize"),
        "{message}"
    );
    let workers: std::collections::BTreeSet<&str> =
        report.runs.iter().map(|r| r.worker.as_str()).collect();
    println!(
        "{} blocks: {:?}; ran on {} workers",
        report.blocks.len(),
        report.blocks,
        workers.len()
    );
}

fn stencil_on_two_workers() {
    let dask = cluster(2, 2);
    dask.set_block_size(Some(8));
    let (w, steps) = (32, 6);
    let got = dask.spawn(stencil(w, steps)).wait_report().unwrap();
    assert_eq!(got.value, local(stencil(w, steps)).unwrap());
    assert_eq!(got.value.len(), w);
    println!("{} blocks", got.blocks.len());
    assert_eq!(got.blocks.len(), w / 8 * (steps + 1));
}

/// The file that the gated tasks wait for: the same path in every process
/// of a scenario (the workers inherit the environment).
fn gate() -> String {
    std::env::var("TASKGRAPH_TEST_GATE").unwrap_or_else(|_| {
        let dir = std::env::temp_dir().join("taskgraph-cluster-gate");
        dir.to_string_lossy().into_owned()
    })
}

fn a_worker_added_mid_run_takes_blocks() {
    // Made by this process only (the workers run all code up to `spawn`
    // again, so that code must not touch the gate).
    let gate = gate();
    let dask = cluster(1, 1);
    dask.set_block_size(Some(1));
    let n = 12;
    let g = {
        let gate = gate.clone();
        graph! {
            let xs: Vec<_> = (0..n).map(|i| gated_inc(i, &gate)).collect();
            tree_reduce(xs, add)
        }
    };
    let h = dask.spawn(g);
    // No block can end before the gate opens: the worker joins mid-run.
    let joined = dask.add_workers(1).unwrap();
    assert_eq!(joined.len(), 1);
    assert_eq!(h.progress().done, 0);
    std::fs::write(&gate, b"open").unwrap();
    let report = h.wait_report().unwrap();
    std::fs::remove_file(&gate).unwrap();
    assert_eq!(report.value, local(sleepy(n, 0)).unwrap());
    let per_worker = per_worker(&report);
    println!("blocks per worker: {per_worker:?}");
    let on_new = per_worker
        .get(joined[0].address.as_str())
        .copied()
        .unwrap_or(0);
    assert!(on_new >= 1, "the new worker ran no block: {per_worker:?}");
}

fn a_worker_killed_mid_run_loses_nothing() {
    let dask = cluster(2, 1);
    // The default cut: four blocks of two iterations, and the rest of the
    // reduction in one block that reads them all at the end.
    let h = dask.spawn(sleepy(8, 400));
    wait_for("a first block", &h, |h| !h.runs().is_empty());
    // That worker holds the finished block's value, which the reduction
    // has not read yet, and runs its next block.
    let first = h.runs()[0].clone();
    let victim = dask
        .workers()
        .unwrap()
        .into_iter()
        .find(|w| w.address == first.worker)
        .expect("the worker of the first block");
    let killed = Command::new("kill")
        .args(["-KILL", &victim.pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert!(h.progress().done < 8, "the graph ended before the kill");
    let report = h.wait_report().unwrap();
    assert_eq!(report.value, local(sleepy(8, 0)).unwrap());
    let again = report
        .runs
        .iter()
        .filter(|r| r.job == first.job && r.worker != victim.address)
        .count();
    assert!(
        again >= 1,
        "block {} did not run again after its worker died: {:?}",
        first.job,
        report.runs
    );
    println!(
        "killed {} (pid {}); blocks per worker: {:?}",
        victim.address,
        victim.pid,
        per_worker(&report)
    );
}

fn a_failing_task_is_the_same_error() {
    let dask = cluster(2, 1);
    let g = || {
        graph! {
            let mut zs = Vec::new();
            for i in 0..64 {
                zs.push(check(inc(i)));
            }
            tree_reduce(zs, add)
        }
    };
    let err = dask.spawn(g()).wait().unwrap_err();
    let want = local(g()).unwrap_err();
    let (
        Error::TaskPanicked {
            task: got_task,
            message: got_message,
            ..
        },
        Error::TaskPanicked { task, message, .. },
    ) = (&err, &want)
    else {
        panic!("{err} / {want}")
    };
    assert_eq!(got_task, task);
    assert_eq!(got_message, message);
    assert_eq!(task.function(), "check");
    assert_eq!(task.indices, [36]);
    assert_eq!(message, "37 is unlucky");
    // The name survives the trip back from the worker.
    assert_eq!(got_task.name(), "check[i=36]");
    assert!(
        err.to_string().starts_with("task `check[i=36]` at ")
            && err.to_string().ends_with(" panicked: 37 is unlucky"),
        "{err}"
    );
    println!("{err}");

    let g = || {
        graph! {
            let xs: Vec<_> = (0..8).map(|i| inc(parse(i)?)).collect();
            tree_reduce(xs, add)
        }
    };
    let err = dask.compute(g()).unwrap_err();
    let want = local(g()).unwrap_err();
    let (Error::TaskFailed { task: got, .. }, Error::TaskFailed { task, .. }) = (&err, &want)
    else {
        panic!("{err} / {want}")
    };
    assert_eq!(got, task);
    assert_eq!(got.function(), "parse");
    assert_eq!(got.indices, [5]);
    assert!(
        err.to_string().starts_with("task `parse[i=5]` at "),
        "{err}"
    );
    assert!(err.to_string().contains("cannot parse item 5"), "{err}");
    println!("{err}");
}

fn graphs_that_build_on_earlier_graphs() {
    let dask = cluster(2, 1);
    // The blocks of the second graph run this program again, which sends
    // the first graph again: it gets its value without running it.
    let first = dask.compute(tutorial(32)).unwrap();
    let second = dask
        .spawn(graph! {
            let zs: Vec<_> = (0..first % 97).map(|i| inc(i)).collect();
            tree_reduce(zs, add)
        })
        .wait()
        .unwrap();
    let m = first % 97;
    assert_eq!(second, (1..=m).sum::<i64>());
    let failed = dask.compute(graph! { check(inc(36)) });
    assert!(matches!(failed, Err(Error::TaskPanicked { .. })));
    // A program that goes on after an error sends the same graphs again.
    let third = dask
        .compute(graph! { add(inc(first), dec(second)) })
        .unwrap();
    assert_eq!(third, first + second);
}

fn cancel_stops_the_graph_and_the_cluster_goes_on() {
    let dask = cluster(2, 1);
    let h = dask.spawn(sleepy(8, 5_000));
    // Once it is sent (in a block's process its end is already known).
    wait_for("the graph to be sent", &h, |h| {
        h.is_finished() || h.progress().total > 0
    });
    h.cancel();
    h.cancel(); // again: nothing more happens
    match h.wait() {
        Err(Error::Cancelled) => {}
        other => panic!("a cancelled graph gave {other:?}"),
    }
    // Its blocks are stopped, and the next graph runs as usual.
    let started = Instant::now();
    assert_eq!(
        dask.compute(tutorial(16)).unwrap(),
        local(tutorial(16)).unwrap()
    );
    println!(
        "after the cancel, the next graph took {:.2} s (the cancelled blocks slept 5 s each)",
        started.elapsed().as_secs_f64()
    );
}

fn wait_for<T>(what: &str, h: &GraphHandle<T>, done: impl Fn(&GraphHandle<T>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(h) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn per_worker<T>(report: &taskdag::cluster::GraphReport<T>) -> BTreeMap<&str, usize> {
    let mut count = BTreeMap::new();
    for run in &report.runs {
        *count.entry(run.worker.as_str()).or_default() += 1;
    }
    count
}

const SCENARIOS: &[(&str, fn())] = &[
    ("tutorial_on_two_workers", tutorial_on_two_workers),
    ("stencil_on_two_workers", stencil_on_two_workers),
    (
        "a_failing_task_is_the_same_error",
        a_failing_task_is_the_same_error,
    ),
    (
        "graphs_that_build_on_earlier_graphs",
        graphs_that_build_on_earlier_graphs,
    ),
    (
        "a_worker_added_mid_run_takes_blocks",
        a_worker_added_mid_run_takes_blocks,
    ),
    (
        "a_worker_killed_mid_run_loses_nothing",
        a_worker_killed_mid_run_loses_nothing,
    ),
    (
        "cancel_stops_the_graph_and_the_cluster_goes_on",
        cancel_stops_the_graph_and_the_cluster_goes_on,
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--scenario") {
        let name = args.get(i + 1).map(String::as_str).unwrap_or("");
        match SCENARIOS.iter().find(|s| s.0 == name) {
            Some((_, run)) => {
                run();
                return ExitCode::SUCCESS;
            }
            None => panic!("no scenario {name:?}"),
        }
    }
    // Filters as libtest takes them: names containing any free argument.
    let filters: Vec<&str> = args[1..]
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let chosen: Vec<&(&str, fn())> = SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.0.contains(f)))
        .collect();
    match taskdag::cluster::python::interpreter() {
        Ok(_) => {}
        Err(e @ (ClusterError::PythonNotFound | ClusterError::PackageIndexUnreachable { .. })) => {
            println!(
                "skipping the cluster graph tests: {}",
                e.to_string().lines().next().unwrap_or_default()
            );
            println!(
                "\ntest result: ok. 0 passed; 0 failed; {} ignored",
                chosen.len()
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => panic!("cannot set up Python for dask: {e}"),
    }
    println!("\nrunning {} tests", chosen.len());
    let me = std::env::current_exe().expect("this test's executable");
    let (mut passed, mut failed) = (0, 0);
    let started = Instant::now();
    for (name, _) in chosen {
        let t = Instant::now();
        let gate = std::env::temp_dir().join(format!(
            "taskgraph-cluster-gate-{}-{name}",
            std::process::id()
        ));
        let out = Command::new(&me)
            .args(["--scenario", name])
            .env("TASKGRAPH_TEST_GATE", &gate)
            .output()
            .expect("run a scenario");
        let secs = t.elapsed().as_secs_f64();
        if out.status.success() {
            passed += 1;
            println!("test {name} ... ok ({secs:.1} s)");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                println!("    {line}");
            }
        } else {
            failed += 1;
            println!("test {name} ... FAILED ({secs:.1} s)");
            println!(
                "---- {name} stdout ----\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
            println!(
                "---- {name} stderr ----\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
