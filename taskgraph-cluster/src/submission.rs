//! A submitted graph: progress, runs, and its outputs.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;

use crate::driver::{Driver, Message};
use crate::ClusterError;

/// How far a submission has got, from the run reports workers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Jobs in the graph.
    pub total: usize,
    /// Jobs that have finished successfully at least once.
    pub done: usize,
    /// Job runs that failed.
    pub failed: usize,
    /// Whether the submission has ended (outputs or an error are ready).
    pub finished: bool,
}

/// One run of a job on a worker, as the worker reported it. A job runs more
/// than once when the worker holding its output died before its dependents
/// had read it: dask runs it again elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    /// The job's index in its graph.
    pub job: usize,
    /// The address of the worker that ran it, as in [`WorkerInfo::address`].
    ///
    /// [`WorkerInfo::address`]: crate::WorkerInfo::address
    pub worker: String,
    /// The process id of that worker.
    pub pid: u32,
    /// When the program started, by the worker's clock.
    pub start: SystemTime,
    /// How long the program ran, from start to exit.
    pub duration: Duration,
    /// Whether it exited with code 0.
    pub ok: bool,
    /// The path the worker ran the program from (its copy, in its local
    /// directory).
    pub executable: String,
    /// Whether the worker ran this block of a graph ahead of its dask task:
    /// right after a block it depends on ended there, with all its inputs
    /// on that worker (see the crate's README, "Blocks run ahead"). Its
    /// task then only took the answer.
    pub ahead: bool,
    /// How many threads the block ran on: 1, or more when its worker had
    /// threads that nothing else held when it started (see the crate's
    /// README, "Idle threads go to running blocks"). 1 for a job that is
    /// not a block.
    pub threads: usize,
}

/// What [`Submission::wait_report`] returns.
#[derive(Debug, Clone)]
pub struct Report {
    /// The outputs of the jobs asked for with [`JobGraph::output`], in that
    /// order.
    ///
    /// [`JobGraph::output`]: crate::JobGraph::output
    pub outputs: Vec<Vec<u8>>,
    /// Every run of every job reported so far, in the order the reports came.
    pub runs: Vec<JobRun>,
}

/// A graph running on the cluster, made by [`Dask::submit`]. It runs whether
/// or not anyone waits; dropping it without waiting cancels it.
///
/// [`Dask::submit`]: crate::Dask::submit
pub struct Submission {
    pub(crate) id: u64,
    pub(crate) driver: Arc<Driver>,
    pub(crate) state: Arc<SubState>,
    pub(crate) task_keys: Vec<String>,
    pub(crate) dashboard: String,
}

impl Submission {
    /// Progress so far. Costs a lock; no round trip to the cluster.
    pub fn progress(&self) -> Progress {
        self.state.progress()
    }

    /// The runs reported so far, in the order the reports came.
    pub fn runs(&self) -> Vec<JobRun> {
        self.state.runs()
    }

    /// The state that the driver's reader updates, shared.
    pub(crate) fn state(&self) -> Arc<SubState> {
        self.state.clone()
    }

    /// The dask key of job `job` (as the dashboard prints it): a tuple of
    /// `"{group}-{token}"`, where the token is unique to this submission, and
    /// the job's key.
    pub fn task_key(&self, job: usize) -> &str {
        &self.task_keys[job]
    }

    /// The dashboard page of job `job`'s task (its state, worker and
    /// dependencies), valid while the submission runs.
    pub fn task_link(&self, job: usize) -> String {
        let base = self.dashboard.trim_end_matches('/');
        let base = base.strip_suffix("/status").unwrap_or(base);
        format!("{base}/info/task/{}.html", url_escape(&self.task_keys[job]))
    }

    /// Blocks until the submission ends; returns the outputs asked for, in the
    /// order of [`JobGraph::output`]. Fails with [`ClusterError::JobFailed`]
    /// when a job fails (the others are cancelled), or with the error that
    /// stopped dask.
    ///
    /// [`JobGraph::output`]: crate::JobGraph::output
    pub fn wait(self) -> Result<Vec<Vec<u8>>, ClusterError> {
        self.wait_report().map(|report| report.outputs)
    }

    /// Like [`wait`](Submission::wait), and also returns every run of every
    /// job: which worker ran what, when, for how long.
    pub fn wait_report(self) -> Result<Report, ClusterError> {
        let mut inner = self.state.lock();
        while inner.result.is_none() {
            inner = self
                .state
                .changed
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
        }
        inner.taken = true;
        let result = inner.result.take().expect("result is set");
        let runs = std::mem::take(&mut inner.runs);
        result.map(|outputs| Report { outputs, runs })
    }

    /// Cancels the submission: jobs not started yet never start; the
    /// outputs of finished ones are dropped. Returns without waiting.
    pub fn cancel(self) {
        // Drop does it.
    }
}

impl Drop for Submission {
    fn drop(&mut self) {
        let finished = {
            let mut inner = self.state.lock();
            let finished = inner.result.is_some() || inner.taken;
            if !finished {
                inner.result = Some(Err(ClusterError::Cancelled));
            }
            finished && !inner.cancelled
        };
        if !finished {
            self.driver.unregister(self.id);
            self.driver.notify("cancel", json!({ "sub": self.id }));
        }
    }
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission")
            .field("id", &self.id)
            .field("progress", &self.progress())
            .finish()
    }
}

/// What the driver's reader thread updates and [`Submission`] reads.
pub(crate) struct SubState {
    inner: Mutex<SubInner>,
    changed: Condvar,
}

struct SubInner {
    /// Per job: has it finished successfully at least once.
    finished_jobs: Vec<bool>,
    done: usize,
    failed: usize,
    runs: Vec<JobRun>,
    result: Option<Result<Vec<Vec<u8>>, ClusterError>>,
    /// The result was taken by `wait`.
    taken: bool,
    /// The result is a cancel asked for by a graph's handle
    /// (`SubState::cancel`): dask still runs the jobs until the
    /// `Submission` is dropped.
    cancelled: bool,
}

#[derive(Deserialize)]
struct RunEvent {
    job: usize,
    worker: String,
    pid: u32,
    start: f64,
    stop: f64,
    ok: bool,
    exe: String,
    /// Absent from drivers that never run a block ahead.
    #[serde(default)]
    ahead: bool,
    /// Absent from drivers that never lend a block threads.
    #[serde(default = "one")]
    threads: usize,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
struct DoneEvent {
    ok: bool,
    #[serde(default)]
    error: Option<ErrorEvent>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum ErrorEvent {
    Job { key: String, job: usize, code: i32 },
    Dask { message: String },
}

impl SubState {
    pub fn new(jobs: usize) -> SubState {
        SubState {
            inner: Mutex::new(SubInner {
                finished_jobs: vec![false; jobs],
                done: 0,
                failed: 0,
                runs: Vec::new(),
                result: None,
                taken: false,
                cancelled: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SubInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn progress(&self) -> Progress {
        let inner = self.lock();
        Progress {
            total: inner.finished_jobs.len(),
            done: inner.done,
            failed: inner.failed,
            finished: inner.result.is_some() || inner.taken,
        }
    }

    pub(crate) fn runs(&self) -> Vec<JobRun> {
        self.lock().runs.clone()
    }

    pub fn record_run(&self, message: &Message) {
        let Ok(run) = message.parse::<RunEvent>() else {
            return;
        };
        let mut inner = self.lock();
        let Some(finished) = inner.finished_jobs.get_mut(run.job) else {
            return;
        };
        if run.ok && !*finished {
            *finished = true;
            inner.done += 1;
        } else if !run.ok {
            inner.failed += 1;
        }
        inner.runs.push(JobRun {
            job: run.job,
            worker: run.worker,
            pid: run.pid,
            start: UNIX_EPOCH + seconds(run.start),
            duration: seconds(run.stop - run.start),
            ok: run.ok,
            executable: run.exe,
            ahead: run.ahead,
            threads: run.threads,
        });
    }

    pub fn finish_with(&self, mut message: Message) {
        let result = match message.parse::<DoneEvent>() {
            Ok(DoneEvent { ok: true, .. }) => Ok(std::mem::take(&mut message.blobs)),
            Ok(DoneEvent {
                error: Some(ErrorEvent::Job { key, job, code }),
                ..
            }) => Err(ClusterError::JobFailed {
                key,
                job,
                code,
                stderr: message.blobs.pop().unwrap_or_default(),
            }),
            Ok(DoneEvent {
                error: Some(ErrorEvent::Dask { message }),
                ..
            }) => Err(ClusterError::Dask { message }),
            Ok(DoneEvent { error: None, .. }) => Err(ClusterError::Dask {
                message: "the submission failed without an error".into(),
            }),
            Err(e) => Err(e),
        };
        self.finish(result);
    }

    /// Ends the submission as cancelled if it has not ended: its waiter
    /// gets [`ClusterError::Cancelled`], and dropping the [`Submission`]
    /// then tells dask to cancel its jobs.
    pub(crate) fn cancel(&self) {
        let mut inner = self.lock();
        if inner.result.is_none() && !inner.taken {
            inner.result = Some(Err(ClusterError::Cancelled));
            inner.cancelled = true;
        }
        drop(inner);
        self.changed.notify_all();
    }

    pub fn finish(&self, result: Result<Vec<Vec<u8>>, ClusterError>) {
        let mut inner = self.lock();
        if inner.result.is_none() && !inner.taken {
            inner.result = Some(result);
        }
        drop(inner);
        self.changed.notify_all();
    }
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
