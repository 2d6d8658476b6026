//! [`Dask`]: a connection to a dask scheduler.

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::driver::Driver;
use crate::submission::SubState;
use crate::{python, ClusterError, JobGraph, ProgramRef, Submission};

/// A connection to a dask.distributed scheduler, through a Python driver
/// process that owns a `distributed.Client` (and, for [`Dask::local`], the
/// cluster).
///
/// Every method is a round trip to that process (about a millisecond) plus
/// whatever dask does. `Dask` is `Send + Sync`: submissions, worker queries
/// and [`add_workers`](Dask::add_workers) may run from several threads at
/// once. Dropping it closes the client (and a local cluster, with its
/// workers); submissions still running then fail with
/// [`ClusterError::Driver`].
///
/// # Graphs
///
/// [`Dask::spawn`] and [`Dask::compute`] run a `graph!` on the cluster by
/// running *this program* again on the workers, once per block: the
/// executable is sent to every worker once (cached there by its hash, so no
/// shared file system is needed), started with the same command-line
/// arguments and an environment that names the block. Its `main` runs as
/// usual up to the same `spawn` or `compute` call; there it instantiates
/// the graph, runs only its block on a local runtime, hands the values
/// other blocks need to dask, and exits. So the program must:
///
/// - reach the same call with the same plain inputs: the graph's shape
///   (loop bounds, conditions, indices) must not depend on the clock,
///   random numbers without a fixed seed, or files only this machine has
///   (a block whose graph differs in shape fails with an error that says
///   so, rather than compute something else);
/// - keep what it does before the call cheap and repeatable: it runs again
///   for each block (printing is fine; a block's output does not go to
///   standard output);
/// - give every task's value `serde::Serialize` and `Deserialize` (a
///   an error from the call otherwise, see [`Crossing`](crate::Crossing)).
///
/// Graphs the program sends earlier are not run again in a block: their
/// handles give the same values or errors there as they did here.
pub struct Dask {
    pub(crate) inner: Arc<Inner>,
}

/// What a [`Dask`] shares with the graphs it runs in the background.
pub(crate) struct Inner {
    /// `None` in a block's process (see `graph/worker.rs`): no cluster there.
    driver: Option<Arc<Driver>>,
    dashboard: String,
    scheduler: String,
    version: String,
    next_sub: AtomicU64,
    /// Loop iterations per block; 0: chosen from the loop sizes and workers.
    pub(crate) block_size: AtomicU32,
    /// This program, once registered (`graph/`).
    pub(crate) this_program: OnceLock<ProgramRef>,
}

/// A worker of the cluster, as the scheduler knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub struct WorkerInfo {
    /// Its address, e.g. `tcp://127.0.0.1:40123`; [`JobRun::worker`] uses the
    /// same spelling.
    ///
    /// [`JobRun::worker`]: crate::JobRun::worker
    pub address: String,
    /// The process id of the worker process (not of its nanny), on its host.
    pub pid: u32,
    /// Its name in the cluster.
    pub name: String,
    /// How many jobs it runs at once.
    pub threads: usize,
}

#[derive(Deserialize)]
struct Started {
    dashboard: String,
    scheduler: String,
    version: String,
}

#[derive(Deserialize)]
struct Workers {
    workers: Vec<WorkerInfo>,
}

#[derive(Deserialize)]
struct Program {
    hash: String,
    name: String,
    bytes: u64,
}

#[derive(Deserialize)]
struct Submitted {
    keys: Vec<String>,
}

impl Dask {
    /// Starts a `distributed.LocalCluster` of `workers` worker processes with
    /// `threads_per_worker` threads each, on 127.0.0.1, with its dashboard on
    /// a free port.
    ///
    /// Finds or installs Python and `distributed` first (see the
    /// [`python`](crate::python) module: the first call in a target directory
    /// may take about 15 s to install). Starting takes a few seconds: each
    /// worker is a new Python process. Fails with
    /// [`ClusterError::PythonNotFound`] if there is no Python at all, and
    /// with [`ClusterError::PackageIndexUnreachable`] if `distributed` must
    /// be installed and pip cannot reach the package index.
    pub fn local(workers: usize, threads_per_worker: usize) -> Result<Dask, ClusterError> {
        if threads_per_worker == 0 {
            return Err(ClusterError::Dask {
                message: "a worker needs at least one thread".into(),
            });
        }
        if crate::graph::in_block() {
            return Ok(Dask::in_block());
        }
        Dask::start(
            "start_local",
            json!({ "workers": workers, "threads": threads_per_worker }),
        )
    }

    /// Connects to a running scheduler, e.g. `"tcp://10.0.0.5:8786"`, waiting
    /// up to 30 s for it to answer.
    pub fn connect(address: &str) -> Result<Dask, ClusterError> {
        if crate::graph::in_block() {
            return Ok(Dask::in_block());
        }
        Dask::start("connect", json!({ "address": address }))
    }

    fn start(op: &str, fields: Value) -> Result<Dask, ClusterError> {
        let driver = Driver::start(python::interpreter()?)?;
        let started: Started = driver.request(op, fields, &[])?.parse()?;
        Ok(Dask {
            inner: Arc::new(Inner {
                driver: Some(Arc::new(driver)),
                dashboard: started.dashboard,
                scheduler: started.scheduler,
                version: started.version,
                next_sub: AtomicU64::new(1),
                block_size: AtomicU32::new(0),
                this_program: OnceLock::new(),
            }),
        })
    }

    /// The stand-in for a cluster in a block's process: the program runs
    /// its `main` up to the graph it was started for, where it runs its
    /// block and exits; nothing there needs a cluster.
    fn in_block() -> Dask {
        Dask {
            inner: Arc::new(Inner {
                driver: None,
                dashboard: String::new(),
                scheduler: String::new(),
                version: String::new(),
                next_sub: AtomicU64::new(1),
                block_size: AtomicU32::new(0),
                this_program: OnceLock::new(),
            }),
        }
    }

    /// The address of dask's dashboard (its `/status` page): progress, the
    /// task stream and the graph, with each task shown by its job's key.
    /// Empty in a block's process.
    pub fn dashboard_link(&self) -> String {
        self.inner.dashboard.clone()
    }

    /// The scheduler's address, for [`Dask::connect`] from another process or
    /// for `dask worker ADDRESS` on another machine.
    pub fn scheduler_address(&self) -> String {
        self.inner.scheduler.clone()
    }

    /// The version of `distributed` the driver runs.
    pub fn distributed_version(&self) -> &str {
        &self.inner.version
    }

    /// Makes the program at `path` (a file on this machine) available on every
    /// worker, present and future, and returns a handle for [`Job`]s.
    ///
    /// The driver reads the file and registers a dask worker plugin that
    /// carries its bytes: each worker writes it once to its local directory,
    /// under the SHA-256 of its content, marks it executable, and workers
    /// that join later get it when they join. No file system is shared. The
    /// scheduler keeps the bytes for as long as it runs. Calling this again
    /// for the same content costs reading and hashing the file only.
    ///
    /// [`Job`]: crate::Job
    pub fn program(&self, path: impl AsRef<Path>) -> Result<ProgramRef, ClusterError> {
        self.inner.program(path.as_ref())
    }

    /// The workers connected to the scheduler now, sorted by address.
    pub fn workers(&self) -> Result<Vec<WorkerInfo>, ClusterError> {
        self.inner.workers()
    }

    /// Adds `n` workers and waits (up to 2 minutes) until they have joined;
    /// returns the workers that joined meanwhile. Works while submissions
    /// run: new workers take queued jobs at once (and running ones by work
    /// stealing).
    ///
    /// With [`Dask::local`] the local cluster grows; with [`Dask::connect`]
    /// `n` `dask worker` processes start on this machine, connected to the
    /// scheduler, with as many threads as most existing workers have (one if
    /// there are none), and stop when this `Dask` is dropped.
    ///
    /// In a block's process this does nothing and returns no worker.
    pub fn add_workers(&self, n: usize) -> Result<Vec<WorkerInfo>, ClusterError> {
        let Some(driver) = &self.inner.driver else {
            return Ok(Vec::new());
        };
        let workers: Workers = driver
            .request("add_workers", json!({ "n": n }), &[])?
            .parse()?;
        Ok(workers.workers)
    }

    /// Submits a graph and returns at once; the jobs run in the background.
    ///
    /// Each job becomes one dask task whose dependencies are its `deps`; its
    /// input bytes travel with the graph to the scheduler. Fails with
    /// [`ClusterError::InvalidGraph`] if [`JobGraph::validate`] does.
    pub fn submit(&self, graph: JobGraph) -> Result<Submission, ClusterError> {
        self.inner.submit(graph)
    }

    /// Closes the client and, for [`Dask::local`], the cluster and its
    /// workers, waiting up to 30 s. Dropping does the same.
    pub fn close(self) {
        if let Some(driver) = &self.inner.driver {
            driver.shutdown();
        }
    }
}

impl Inner {
    pub(crate) fn driver(&self) -> Result<&Arc<Driver>, ClusterError> {
        self.driver.as_ref().ok_or_else(|| ClusterError::Dask {
            message: "this process runs one block of a graph for a cluster: \
                      it has no cluster of its own"
                .into(),
        })
    }

    /// In a block's process: no worker.
    pub(crate) fn workers(&self) -> Result<Vec<WorkerInfo>, ClusterError> {
        let Some(driver) = &self.driver else {
            return Ok(Vec::new());
        };
        let workers: Workers = driver.request("workers", json!({}), &[])?.parse()?;
        Ok(workers.workers)
    }

    pub(crate) fn program(&self, path: &Path) -> Result<ProgramRef, ClusterError> {
        let path = path.canonicalize().map_err(|e| ClusterError::Dask {
            message: format!("cannot read the program {}: {e}", path.display()),
        })?;
        let program: Program = self
            .driver()?
            .request("program", json!({ "path": path.to_string_lossy() }), &[])?
            .parse()?;
        Ok(ProgramRef {
            hash: program.hash,
            name: program.name,
            bytes: program.bytes,
        })
    }

    pub(crate) fn submit(&self, graph: JobGraph) -> Result<Submission, ClusterError> {
        let driver = self.driver()?;
        graph.validate()?;
        let id = self.next_sub.fetch_add(1, Ordering::Relaxed);
        let jobs: Vec<Value> = graph
            .jobs
            .iter()
            .map(|job| {
                json!({
                    "key": job.key,
                    "group": job.group(),
                    "hash": job.program.hash,
                    "name": job.program.name,
                    "args": job.args,
                    "env": job.env,
                    "deps": job.deps,
                    "files": job.files,
                })
            })
            .collect();
        let inputs: Vec<&[u8]> = graph.jobs.iter().map(|job| &job.input[..]).collect();
        let state = Arc::new(SubState::new(graph.jobs.len()));
        driver.register(id, state.clone())?;
        let reply = driver.request(
            "submit",
            json!({ "sub": id, "jobs": jobs, "outputs": graph.outputs }),
            &inputs,
        );
        let submitted: Submitted = match reply.and_then(|message| message.parse()) {
            Ok(submitted) => submitted,
            Err(e) => {
                driver.unregister(id);
                return Err(e);
            }
        };
        Ok(Submission {
            id,
            driver: driver.clone(),
            state,
            task_keys: submitted.keys,
            dashboard: self.dashboard.clone(),
        })
    }
}

impl Drop for Dask {
    fn drop(&mut self) {
        if let Some(driver) = &self.inner.driver {
            driver.shutdown();
        }
    }
}

impl std::fmt::Debug for Dask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dask")
            .field("scheduler", &self.inner.scheduler)
            .field("dashboard", &self.inner.dashboard)
            .finish()
    }
}
