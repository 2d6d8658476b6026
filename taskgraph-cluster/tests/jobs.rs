//! Jobs on a real LocalCluster on loopback: results, failures, the dashboard.

mod common;

use common::{bytes, num, testjob};
use taskgraph_cluster::{Job, JobGraph};

#[test]
fn diamond_sums_dependencies_in_order() {
    let Some(dask) = common::cluster(2, 1) else {
        return;
    };
    let sum = testjob(&dask);
    let mut g = JobGraph::new();
    let a = g.push(Job::new("load[0]", &sum).input(bytes(1)));
    let b = g.push(Job::new("inc[0]", &sum).input(bytes(10)).dep(a));
    let c = g.push(
        Job::new("inc[1]", &sum)
            .input(bytes(100))
            .dep(a)
            .env("EXTRA", "1000")
            .args(["--add-env", "EXTRA"]),
    );
    let d = g.push(Job::new("total", &sum).deps([b, c]));
    g.output(d).output(b);

    let report = dask.submit(g).unwrap().wait_report().unwrap();
    let outputs: Vec<i64> = report.outputs.iter().map(|o| num(o)).collect();
    assert_eq!(outputs, [11 + 1101, 11]);

    let mut ran: Vec<usize> = report.runs.iter().map(|r| r.job).collect();
    ran.sort();
    assert_eq!(ran, [0, 1, 2, 3], "each job ran once: {:?}", report.runs);
    let workers: Vec<String> = dask
        .workers()
        .unwrap()
        .into_iter()
        .map(|w| w.address)
        .collect();
    for run in &report.runs {
        assert!(run.ok);
        assert!(workers.contains(&run.worker), "{run:?} not on {workers:?}");
        // Each worker runs its own copy, named by content hash.
        assert_ne!(run.executable, common::TESTJOB);
        assert!(
            run.executable
                .contains(&format!("taskgraph-programs/{}/", sum.hash())),
            "{run:?}"
        );
    }

    // An empty graph is a submission too.
    assert!(dask
        .submit(JobGraph::new())
        .unwrap()
        .wait()
        .unwrap()
        .is_empty());
}

#[test]
fn failing_job_reports_its_key_and_stderr() {
    let Some(dask) = common::cluster(1, 2) else {
        return;
    };
    let sum = testjob(&dask);
    let mut g = JobGraph::new();
    let a = g.push(Job::new("load[0]", &sum).input(bytes(1)));
    let b = g.push(
        Job::new("inc[3]", &sum)
            .dep(a)
            .args(["--fail", "boom: block 3 broke"]),
    );
    let c = g.push(Job::new("total", &sum).dep(b));
    g.push(Job::new("other[0]", &sum).args(["--sleep-ms", "100"]));
    g.output(c);

    let err = dask.submit(g).unwrap().wait().unwrap_err();
    let text = err.to_string();
    match err {
        taskgraph_cluster::ClusterError::JobFailed {
            key,
            job,
            code,
            stderr,
        } => {
            assert_eq!((key.as_str(), job, code), ("inc[3]", b, 3));
            assert_eq!(
                String::from_utf8_lossy(&stderr).trim(),
                "boom: block 3 broke"
            );
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert_eq!(text, "job `inc[3]` exited with code 3: boom: block 3 broke");

    // The cluster is still fine.
    let mut g = JobGraph::new();
    let a = g.push(Job::new("again", &sum).input(bytes(5)));
    g.output(a);
    assert_eq!(num(&dask.submit(g).unwrap().wait().unwrap()[0]), 5);
}

#[test]
fn dashboard_shows_job_keys() {
    let Some(dask) = common::cluster(1, 1) else {
        return;
    };
    let sum = testjob(&dask);
    let mut g = JobGraph::new();
    let a = g.push(Job::new("inc[0..64]", &sum).args(["--sleep-ms", "4000"]));
    let b = g.push(Job::new("inc[64..128]", &sum).dep(a));
    g.output(b);
    let sub = dask.submit(g).unwrap();
    assert!(sub.task_key(a).starts_with("('inc-"), "{}", sub.task_key(a));
    assert!(
        sub.task_key(b).ends_with(", 'inc[64..128]')"),
        "{}",
        sub.task_key(b)
    );

    let (status, body) = common::http_get(&dask.dashboard_link());
    assert_eq!(status, 200, "the dashboard's status page: {body}");
    for job in [a, b] {
        // The scheduler learns of the graph a moment after `submit` returns.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let (status, body) = loop {
            let (status, body) = common::http_get(&sub.task_link(job));
            if status != 404 || std::time::Instant::now() > deadline {
                break (status, body);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(status, 200, "{}: {body}", sub.task_link(job));
        let key = ["inc[0..64]", "inc[64..128]"][job];
        assert!(body.contains(key), "{key} not on the task page");
    }
    sub.cancel();
}

#[test]
fn connect_to_a_running_scheduler_and_add_workers_there() {
    let Some(dask) = common::cluster(1, 1) else {
        return;
    };
    let other = common::builder()
        .connect(&dask.scheduler_address())
        .unwrap();
    let sum = testjob(&other);
    let joined = other.add_workers(1).unwrap();
    assert_eq!(joined.len(), 1);
    assert_eq!(other.workers().unwrap().len(), 2);

    let mut g = JobGraph::new();
    let leaves: Vec<usize> = (0..6)
        .map(|i| {
            g.push(
                Job::new(format!("step[{i}]"), &sum)
                    .input(bytes(i))
                    .args(["--sleep-ms", "300"]),
            )
        })
        .collect();
    let total = g.push(Job::new("total", &sum).deps(leaves));
    g.output(total);
    let report = other.submit(g).unwrap().wait_report().unwrap();
    assert_eq!(num(&report.outputs[0]), 15);
    assert!(
        report.runs.iter().any(|r| r.worker == joined[0].address),
        "the worker started by connect's add_workers ran nothing: {:?}",
        report.runs
    );
}
