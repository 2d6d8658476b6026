//! `graph!`s on a real dask LocalCluster on loopback (and on a scheduler and
//! workers started by hand, each in a directory of its own), against the
//! same graphs on a local `Runtime`.
//!
//! This test has its own `main` (`harness = false`), which calls
//! `Dask::worker_entry` first: the cluster's workers start this program to
//! run the blocks of the graphs. Each scenario runs in a process of its own
//! (`graphs --scenario NAME`), with a cluster of its own. With no `python3`
//! (or no package index to install `distributed` from) the scenarios are
//! skipped with one line saying so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use taskdag::cluster::{ClusterError, Dask, GraphHandle, RemoteError};
use taskdag::{delayed, graph, Error, Graph, Runtime, TaskInfo};

#[path = "common/offline.rs"]
mod offline;

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

/// An error with a source.
#[derive(Debug)]
struct ReadItem(i64, std::num::ParseIntError);

impl std::fmt::Display for ReadItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read item {}", self.0)
    }
}

impl std::error::Error for ReadItem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.1)
    }
}

#[delayed]
fn read_item(x: i64) -> Result<i64, ReadItem> {
    format!("{x}x").parse::<i64>().map_err(|e| ReadItem(x, e))
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

/// A future that asks to be polled again once before it is ready: an
/// async task that really is pending once, with no reactor needed.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// `inc` as an async task.
#[delayed]
async fn async_inc(x: i64) -> i64 {
    YieldOnce(false).await;
    x + 1
}

/// The tutorial with an async task in its loop.
fn async_tutorial(n: i64) -> impl Graph<Output = i64> + Clone {
    graph! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = async_inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
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
fn stencil((w, steps): (usize, usize)) -> impl Graph<Output = Vec<Cell>> + Clone {
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
fn sleepy((n, ms): (i64, u64)) -> impl Graph<Output = i64> + Clone {
    graph! {
        let xs: Vec<_> = (0..n).map(|i| slow_inc(i, ms)).collect();
        tree_reduce(xs, add)
    }
}

/// `sleepy`, with odd iterations sleeping twice as long: a block of one
/// even iteration ends before its neighbour in the reduction, an odd one.
fn uneven((n, ms): (i64, u64)) -> impl Graph<Output = i64> + Clone {
    graph! {
        let xs: Vec<_> = (0..n).map(|i| slow_inc(i, ms * (1 + (i % 2) as u64))).collect();
        tree_reduce(xs, add)
    }
}

/// A chain of `n` steps after `inc(x)`, each checked (`check` panics at
/// 37) and sleeping 10 ms (a block is run ahead only after one that ran
/// 5 ms or more): with `set_block_size(Some(1))`, a block per step.
fn chain((x, n): (i64, usize)) -> impl Graph<Output = i64> + Clone {
    graph! {
        let mut x = slow_inc(x, 10);
        for _ in 0..n {
            x = check(slow_inc(x, 10));
        }
        x
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

/// `TASKGRAPH_PYTHON`, else the virtual environment the tests make under
/// the target directory.
fn builder() -> taskdag::cluster::DaskBuilder {
    Dask::builder().managed_venv(taskdag::cluster::python::cargo_target_venv())
}

/// The Python `builder` uses.
fn python() -> Result<PathBuf, ClusterError> {
    match std::env::var_os("TASKGRAPH_PYTHON").filter(|p| !p.is_empty()) {
        Some(_) => taskdag::cluster::python::interpreter(),
        None => {
            taskdag::cluster::python::managed_venv(&taskdag::cluster::python::cargo_target_venv())
        }
    }
}

fn cluster(workers: usize, threads: usize) -> Dask {
    builder()
        .local(workers, threads)
        .expect("start a LocalCluster")
}

// ---------------------------------------------------------------------------
// Scenarios: each one a process with a cluster of its own.

fn tutorial_on_two_workers() {
    let dask = cluster(2, 2);
    let n = 8;
    assert_eq!(dask.compute(n, tutorial).unwrap(), 64);
    let h = dask.spawn(256, tutorial);
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
        .compute(2, |i| {
            graph! {
                let r = reading(i);
                reading_value(r)
            }
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

fn async_tasks_on_two_workers() {
    let dask = cluster(2, 1);
    let n = 64;
    let got = dask.compute(n, async_tutorial).unwrap();
    assert_eq!(got, local(async_tutorial(n)).unwrap());
    assert_eq!(got, (0..n).map(|i| 2 * i + 1).sum::<i64>());
}

fn stencil_on_two_workers() {
    let dask = cluster(2, 2);
    dask.set_block_size(Some(8));
    let (w, steps) = (32, 6);
    let got = dask.spawn((w, steps), stencil).wait_report().unwrap();
    assert_eq!(got.value, local(stencil((w, steps))).unwrap());
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
    let gate = gate();
    let dask = cluster(1, 1);
    dask.set_block_size(Some(1));
    let n = 12;
    let h = dask.spawn((n, gate.clone()), |(n, gate)| {
        graph! {
            let xs: Vec<_> = (0..n).map(|i| gated_inc(i, &gate)).collect();
            tree_reduce(xs, add)
        }
    });
    // No block can end before the gate opens: the worker joins mid-run.
    let joined = dask.add_workers(1).unwrap();
    assert_eq!(joined.len(), 1);
    assert_eq!(h.progress().done, 0);
    std::fs::write(&gate, b"open").unwrap();
    let report = h.wait_report().unwrap();
    std::fs::remove_file(&gate).unwrap();
    assert_eq!(report.value, local(sleepy((n, 0))).unwrap());
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
    // The first block to end is one of an even iteration (400 ms), whose
    // neighbour in the reduction (800 ms) has not ended: no block reads
    // its value yet. With equal sleeps, the first blocks of both workers
    // can end within a millisecond, and dask may copy the value to the
    // other worker for their reduction before the kill.
    let h = dask.spawn((8, 400), uneven);
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
    assert_eq!(report.value, local(uneven((8, 0))).unwrap());
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

/// Every block of `report` ran once, successfully; how many of them ran
/// ahead of their task.
fn ran_once<T>(report: &taskdag::cluster::GraphReport<T>) -> usize {
    let mut jobs: Vec<usize> = report.runs.iter().map(|r| r.job).collect();
    jobs.sort_unstable();
    assert_eq!(
        jobs,
        (0..report.blocks.len()).collect::<Vec<_>>(),
        "{:?}",
        report.runs
    );
    assert!(report.runs.iter().all(|r| r.ok), "{:?}", report.runs);
    report.runs.iter().filter(|r| r.ahead).count()
}

/// On one worker of one thread, a block whose inputs are all there runs
/// right after the block it depends on, before dask sends its task: the
/// results, and the errors, are the local run's.
/// Asserts that the cluster's error and the local one are both a panic of
/// the same task with the same message; returns the cluster's task and
/// message.
fn same_panic<'e>(err: &'e Error, want: &Error) -> (&'e TaskInfo, &'e str) {
    let (
        Error::TaskPanicked {
            task: got_task,
            message: got_message,
            ..
        },
        Error::TaskPanicked { task, message, .. },
    ) = (err, want)
    else {
        panic!("{err} / {want}")
    };
    assert_eq!((got_task, got_message), (task, message));
    (got_task, got_message)
}

fn blocks_run_ahead_give_the_local_result() {
    let dask = cluster(1, 1);
    dask.set_block_size(Some(1));
    let report = dask.spawn((0, 12), chain).wait_report().unwrap();
    assert_eq!(report.value, local(chain((0, 12))).unwrap());
    assert_eq!(report.value, 13);
    assert_eq!(report.blocks.len(), 13);
    let chain_ahead = ran_once(&report);
    // The first block has no block before it; each later one can run
    // ahead.
    assert!(
        chain_ahead >= 1 && !report.runs.iter().any(|r| r.job == 0 && r.ahead),
        "{:?}",
        report.runs
    );
    // A tree_reduce: each combining block reads two earlier ones.
    let report = dask.spawn((32, 10), sleepy).wait_report().unwrap();
    assert_eq!(report.value, local(sleepy((32, 10))).unwrap());
    let tree_ahead = ran_once(&report);
    // A block run ahead that fails: the same error as here, once.
    let err = dask.compute((30, 12), chain).unwrap_err();
    let want = local(chain((30, 12))).unwrap_err();
    let (_, message) = same_panic(&err, &want);
    assert_eq!(message, "37 is unlucky");
    // The cluster goes on.
    assert_eq!(dask.compute((0, 3), chain).unwrap(), 4);
    println!(
        "ran ahead: {chain_ahead} of 13 blocks of a chain, {tree_ahead} of {} of a tree",
        report.blocks.len()
    );
}

fn a_failing_task_is_the_same_error() {
    let dask = cluster(2, 1);
    let g = |n: i64| {
        graph! {
            let mut zs = Vec::new();
            for i in 0..n {
                zs.push(check(inc(i)));
            }
            tree_reduce(zs, add)
        }
    };
    let err = dask.spawn(64, g).wait().unwrap_err();
    let want = local(g(64)).unwrap_err();
    let (task, message) = same_panic(&err, &want);
    assert_eq!(task.function(), "check");
    assert_eq!(task.indices, [36]);
    assert_eq!(message, "37 is unlucky");
    // The name survives the trip back from the worker.
    assert_eq!(task.name(), "check[i=36]");
    assert!(
        err.to_string().starts_with("task `check[i=36]` at ")
            && err.to_string().ends_with(" panicked: 37 is unlucky"),
        "{err}"
    );
    println!("{err}");

    let g = |n: i64| {
        graph! {
            let xs: Vec<_> = (0..n).map(|i| inc(parse(i)?)).collect();
            tree_reduce(xs, add)
        }
    };
    let err = dask.compute(8, g).unwrap_err();
    let want = local(g(8)).unwrap_err();
    let (
        Error::TaskFailed {
            task: got,
            source: got_source,
            ..
        },
        Error::TaskFailed { task, source, .. },
    ) = (&err, &want)
    else {
        panic!("{err} / {want}")
    };
    // The error's texts cross; its source downcasts to `RemoteError`.
    let remote = got_source
        .downcast_ref::<RemoteError>()
        .expect("a RemoteError");
    assert_eq!(remote.to_string(), source.to_string());
    assert_eq!(remote.message(), "cannot parse item 5");
    // Its type crosses by name: the `E` of `parse`'s `Result<i64, E>`.
    assert_eq!(remote.type_name(), Some("alloc::string::String"));
    let Error::TaskFailed { error_type, .. } = &want else {
        unreachable!()
    };
    assert_eq!(remote.type_name(), Some(*error_type));
    assert_eq!(got, task);
    assert_eq!(got.function(), "parse");
    assert_eq!(got.indices, [5]);
    assert!(
        err.to_string().starts_with("task `parse[i=5]` at "),
        "{err}"
    );
    assert!(err.to_string().contains("cannot parse item 5"), "{err}");
    println!("{err}");

    // An error with a source chain: every link's text, and its Debug.
    let err = dask
        .compute(7, |n: i64| graph! { inc(read_item(n)?) })
        .unwrap_err();
    let Error::TaskFailed { source, .. } = &err else {
        panic!("{err}")
    };
    let remote = source.downcast_ref::<RemoteError>().expect("a RemoteError");
    let here = read_item(7).unwrap_err();
    assert_eq!(remote.to_string(), here.to_string());
    assert_eq!(remote.debug(), format!("{here:?}"));
    assert_eq!(remote.type_name(), Some("graphs::ReadItem"));
    assert_eq!(
        remote.chain(),
        ["cannot read item 7", "invalid digit found in string"]
    );
    let inner = std::error::Error::source(remote).expect("its source");
    assert_eq!(inner.to_string(), "invalid digit found in string");
    let inner = inner.downcast_ref::<RemoteError>().expect("a RemoteError");
    // A link of the chain is a `dyn Error`: its type is not known.
    assert_eq!(inner.type_name(), None);
}

/// The thread a task ran on, after sleeping `ms`.
#[delayed]
fn slow_thread(x: i64, ms: u64) -> (i64, String) {
    thread::sleep(Duration::from_millis(ms));
    let name = thread::current().name().unwrap_or_default().to_owned();
    (x + 1, format!("{name} {:?}", thread::current().id()))
}

/// One task, then `n` that read it and sleep 40 ms each, in one block with
/// `set_block_size(Some(n))`.
fn fan((x, n): (i64, i64)) -> impl Graph<Output = Vec<(i64, String)>> + Clone {
    graph! {
        let a = slow_inc(x, 20);
        (0..n).map(|_| slow_thread(a, 40)).collect::<Vec<_>>()
    }
}

/// `n` tasks of 5 ms, and beside them one task sleeping `ms`, then
/// `fan`'s `n` tasks that read it: three blocks with
/// `set_block_size(Some(n))`.
fn late_fan(
    (x, n, ms): (i64, i64, u64),
) -> impl Graph<Output = (Vec<i64>, Vec<(i64, String)>)> + Clone {
    graph! {
        let xs: Vec<_> = (0..n).map(|i| slow_inc(i, 5)).collect();
        let c = slow_inc(x, ms);
        let ys: Vec<_> = (0..n).map(|_| slow_thread(c, 40)).collect();
        (xs, ys)
    }
}

/// On one worker of two threads, the second block of a chain runs while
/// the other thread is idle: it is lent that thread, and its tasks run on
/// both (a runtime of two threads in the block runner). A graph of two
/// blocks is in its tail from the start; one of three from when two are
/// left (the driver tells the workers, from the run reports).
fn an_idle_thread_goes_to_the_running_block() {
    let dask = cluster(1, 2);
    dask.set_block_size(Some(4));
    let report = dask.spawn((5, 4), fan).wait_report().unwrap();
    let want = local(fan((5, 4))).unwrap();
    let values = |v: &[(i64, String)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
    assert_eq!(values(&report.value), values(&want));
    assert_eq!(values(&report.value), vec![7; 4]);
    assert_eq!(report.blocks.len(), 2, "{:?}", report.blocks);
    ran_once(&report);
    let second = report.runs.iter().find(|r| r.job == 1).unwrap();
    assert_eq!(second.threads, 2, "{:?}", report.runs);
    // The first ran on one thread: the other was its worker's only other.
    assert_eq!(
        report.runs.iter().find(|r| r.job == 0).unwrap().threads,
        1,
        "{:?}",
        report.runs
    );
    let threads: std::collections::BTreeSet<&str> =
        report.value.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(threads.len(), 2, "{threads:?}");
    println!(
        "the second block ran on {} threads ({}ahead), in {:.0} ms (4 tasks of 40 ms)",
        second.threads,
        if second.ahead { "" } else { "not " },
        second.duration.as_secs_f64() * 1e3
    );
    // The 5 ms tasks end first: two blocks are left, one of which runs
    // 300 ms, meanwhile the workers hear of the tail, and the last block
    // is lent the idle thread.
    let report = dask.spawn((5, 4, 300), late_fan).wait_report().unwrap();
    let want = local(late_fan((5, 4, 300))).unwrap();
    assert_eq!(report.value.0, want.0);
    assert_eq!(values(&report.value.1), values(&want.1));
    assert_eq!(values(&report.value.1), vec![7; 4]);
    assert_eq!(report.blocks.len(), 3, "{:?}", report.blocks);
    ran_once(&report);
    let last = report.runs.iter().find(|r| r.job == 2).unwrap();
    assert_eq!(last.threads, 2, "{:?} {:?}", report.blocks, report.runs);
    assert!(
        report.runs.iter().all(|r| r.job == 2 || r.threads == 1),
        "{:?}",
        report.runs
    );
}

fn graphs_that_build_on_earlier_graphs() {
    let dask = cluster(2, 1);
    // The first graph's value is an input of the second.
    let first = dask.compute(32, tutorial).unwrap();
    let second = dask
        .spawn(first % 97, |m| {
            graph! {
                let zs: Vec<_> = (0..m).map(|i| inc(i)).collect();
                tree_reduce(zs, add)
            }
        })
        .wait()
        .unwrap();
    let m = first % 97;
    assert_eq!(second, (1..=m).sum::<i64>());
    let failed = dask.compute(36, |x: i64| graph! { check(inc(x)) });
    assert!(matches!(failed, Err(Error::TaskPanicked { .. })));
    let third = dask
        .compute((first, second), |(a, b): (i64, i64)| {
            graph! { add(inc(a), dec(b)) }
        })
        .unwrap();
    assert_eq!(third, first + second);
}

fn graphs_from_several_threads_at_once() {
    let dask = cluster(2, 1);
    // Sent in whatever order the threads get there: each block finds its
    // own graph by the name the client gave it, not by order.
    let got: Vec<i64> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let dask = &dask;
                s.spawn(move || dask.compute(8 + k, tutorial).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let want: Vec<i64> = (0..4).map(|k| local(tutorial(8 + k)).unwrap()).collect();
    assert_eq!(got, want);
}

/// The value only the client has: the scenario's process got it from the
/// harness and removed it from its environment before starting the
/// cluster, whose workers inherit the rest.
const HIDDEN: &str = "TASKGRAPH_TEST_HIDDEN";

#[delayed]
fn env_here(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn a_hidden_input_gives_the_clients_result() {
    let hidden: i64 = std::env::var(HIDDEN).unwrap().parse().unwrap();
    std::env::remove_var(HIDDEN);
    let dask = cluster(2, 1);
    dask.set_block_size(Some(2));
    let got = dask
        .compute((hidden, HIDDEN.to_owned()), |(k, name)| {
            graph! {
                let xs: Vec<_> = (0..k).map(|i| inc(i)).collect();
                (tree_reduce(xs, add), env_here(&name))
            }
        })
        .unwrap();
    // The workers do not have it, and the result is the client's.
    assert_eq!(got.1, None);
    assert_eq!(got.0, (1..=hidden).sum::<i64>());
    assert_eq!(got.0, local(tutorial_sum(hidden)).unwrap());
    println!("hidden input {hidden}: {} on the cluster", got.0);
}

#[delayed]
fn cwd_here(x: i64) -> (i64, String) {
    let dir = std::env::current_dir().expect("the working directory");
    (x, dir.to_string_lossy().into_owned())
}

/// The processes of a cluster started by hand, each in a temporary
/// directory of its own; stopped (and the directories removed) when
/// dropped.
struct ByHand {
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
}

impl ByHand {
    /// Starts `dask scheduler` in one new temporary directory, then
    /// `workers` times `dask worker` (one thread, no nanny) in a new one
    /// each, all without the variable `HIDDEN`; returns once the scheduler
    /// has written its address.
    fn start(python: &Path, workers: usize) -> (ByHand, String) {
        let mut hand = ByHand {
            dirs: Vec::new(),
            children: Vec::new(),
        };
        let dir = hand.dir("scheduler");
        let file = dir.join("scheduler.json");
        let scheduler = hand.spawn(python, &dir, "distributed.cli.dask_scheduler", |c| {
            c.args(["--host", "127.0.0.1", "--port", "0", "--no-dashboard"])
                .arg("--scheduler-file")
                .arg(&file);
        });
        let address = loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if let Some(a) = v["address"].as_str() {
                    break a.to_owned();
                }
            }
            let exited = hand.children[scheduler]
                .try_wait()
                .expect("the scheduler's status");
            assert!(exited.is_none(), "the scheduler exited: {exited:?}");
            thread::sleep(Duration::from_millis(50));
        };
        for k in 0..workers {
            let dir = hand.dir(&format!("worker-{k}"));
            hand.spawn(python, &dir, "distributed.cli.dask_worker", |c| {
                c.arg(&address)
                    .args(["--nthreads", "1", "--no-nanny", "--no-dashboard"])
                    .arg("--local-directory")
                    .arg(dir.join("local"));
            });
        }
        (hand, address)
    }

    fn dir(&mut self, name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("taskgraph-by-hand-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let dir = dir.canonicalize().expect("its canonical path");
        self.dirs.push(dir.clone());
        dir
    }

    fn spawn(
        &mut self,
        python: &Path,
        dir: &Path,
        module: &str,
        args: impl FnOnce(&mut Command),
    ) -> usize {
        let mut c = Command::new(python);
        c.args(["-m", module])
            .current_dir(dir)
            .env_remove(HIDDEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).expect("a log file"));
        args(&mut c);
        self.children
            .push(c.spawn().unwrap_or_else(|e| panic!("start {module}: {e}")));
        self.children.len() - 1
    }
}

impl Drop for ByHand {
    fn drop(&mut self) {
        // Workers first (they close their block runners), then the
        // scheduler: SIGTERM, and SIGKILL after 10 s.
        for child in self.children.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn a_cluster_started_by_hand_gives_the_clients_result() {
    // Only this process has the variable: the scheduler and the workers
    // start without it, each in a directory of its own.
    let hidden: i64 = std::env::var(HIDDEN).unwrap().parse().unwrap();
    let python = python().expect("the tests' Python");
    let (hand, address) = ByHand::start(&python, 2);
    let dask = builder()
        .connect(&address)
        .expect("connect to the scheduler");
    let deadline = Instant::now() + Duration::from_secs(120);
    while dask.workers().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the workers did not join");
        thread::sleep(Duration::from_millis(50));
    }
    dask.set_block_size(Some(4));
    let got = dask
        .compute((hidden, HIDDEN.to_owned()), |(k, name)| {
            graph! {
                let xs: Vec<_> = (0..k).map(|i| inc(i)).collect();
                (tree_reduce(xs, add), env_here(&name), cwd_here(k))
            }
        })
        .unwrap();
    assert_eq!(got.0, (1..=hidden).sum::<i64>());
    assert_eq!(got.0, local(tutorial_sum(hidden)).unwrap());
    // The tasks ran where the variable is not, in a worker's directory.
    assert_eq!(got.1, None);
    assert_eq!(got.2 .0, hidden);
    let here = std::env::current_dir().unwrap();
    let ran_in = Path::new(&got.2 .1);
    assert_ne!(ran_in, here);
    assert!(
        hand.dirs[1..].iter().any(|d| ran_in == d),
        "ran in {}, not in a worker's directory: {:?}",
        ran_in.display(),
        hand.dirs
    );
    dask.close();
    drop(hand);
    println!(
        "hidden input {hidden}: {} on a scheduler and 2 workers started by hand",
        got.0
    );
}

fn tutorial_sum(k: i64) -> impl Graph<Output = i64> {
    graph! {
        let xs: Vec<_> = (0..k).map(|i| inc(i)).collect();
        tree_reduce(xs, add)
    }
}

fn a_graph_that_reads_the_environment_is_refused() {
    std::env::remove_var(HIDDEN);
    let dask = cluster(2, 1);
    // Only the client has it now: the workers started without it.
    std::env::set_var(HIDDEN, "9");
    let err = dask
        .compute((), |()| {
            let k = std::env::var(HIDDEN).map_or(3, |v| v.parse().unwrap());
            tutorial_sum(k)
        })
        .unwrap_err();
    let Error::Cluster { message, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        message.starts_with(&format!("graph #1 sent at {}:", file!())),
        "{message}"
    );
    assert!(
        message.contains("built a graph of another shape on a worker than the client did"),
        "{message}"
    );
    assert!(
        message.contains("has 3 nodes here but 9 in the client"),
        "{message}"
    );
    println!("{err}");
}

/// The file the side-effects scenario appends to, from the harness.
const LOG: &str = "TASKGRAPH_TEST_LOG";

fn side_effects_before_the_graph_run_once() {
    let log = std::env::var(LOG).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    std::io::Write::write_all(&mut f, b"before the graph\n").unwrap();
    drop(f);
    let dask = cluster(2, 1);
    dask.set_block_size(Some(1));
    let report = dask.spawn(16, tutorial).wait_report().unwrap();
    assert_eq!(report.value, local(tutorial(16)).unwrap());
    assert!(report.runs.len() >= 16, "{} block runs", report.runs.len());
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    assert_eq!(text, "before the graph\n");
    println!(
        "{} block runs; the code before the graph ran once",
        report.runs.len()
    );
}

fn cancel_stops_the_graph_and_the_cluster_goes_on() {
    let dask = cluster(2, 1);
    let h = dask.spawn((8, 5_000), sleepy);
    // Once it is sent (or, were it refused, once it has ended).
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
        dask.compute(16, tutorial).unwrap(),
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
    ("async_tasks_on_two_workers", async_tasks_on_two_workers),
    (
        "a_failing_task_is_the_same_error",
        a_failing_task_is_the_same_error,
    ),
    (
        "blocks_run_ahead_give_the_local_result",
        blocks_run_ahead_give_the_local_result,
    ),
    (
        "an_idle_thread_goes_to_the_running_block",
        an_idle_thread_goes_to_the_running_block,
    ),
    (
        "graphs_that_build_on_earlier_graphs",
        graphs_that_build_on_earlier_graphs,
    ),
    (
        "graphs_from_several_threads_at_once",
        graphs_from_several_threads_at_once,
    ),
    (
        "a_hidden_input_gives_the_clients_result",
        a_hidden_input_gives_the_clients_result,
    ),
    (
        "a_cluster_started_by_hand_gives_the_clients_result",
        a_cluster_started_by_hand_gives_the_clients_result,
    ),
    (
        "a_graph_that_reads_the_environment_is_refused",
        a_graph_that_reads_the_environment_is_refused,
    ),
    (
        "side_effects_before_the_graph_run_once",
        side_effects_before_the_graph_run_once,
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

/// Why the scenarios cannot run, in one line: no Python, or no package
/// index to install `distributed` from (asked once per `cargo test` run:
/// see `offline`). Any other failure to set up Python fails the test.
fn skip_line() -> Option<String> {
    if std::env::var_os("TASKGRAPH_PYTHON").is_none_or(|p| p.is_empty()) {
        if let Some(line) = offline::earlier() {
            return Some(line);
        }
    }
    let python = python();
    let line = |e: &ClusterError| e.to_string().lines().next().unwrap_or_default().to_owned();
    match python {
        Ok(_) => None,
        Err(e @ ClusterError::PythonNotFound) => Some(line(&e)),
        Err(e @ ClusterError::PackageIndexUnreachable { .. }) => {
            offline::remember(&line(&e));
            Some(line(&e))
        }
        Err(e) => panic!("cannot set up Python for dask: {e}"),
    }
}

fn main() -> ExitCode {
    Dask::worker_entry();
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
    if let Some(line) = skip_line() {
        println!("skipping the cluster graph tests: {line}");
        println!(
            "\ntest result: ok. 0 passed; 0 failed; {} ignored",
            chosen.len()
        );
        return ExitCode::SUCCESS;
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
            .env(HIDDEN, "41")
            .env(LOG, gate.with_extension("log"))
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
