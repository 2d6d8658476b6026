//! [`Dask`]: a connection to a dask scheduler.

use std::path::{Path, PathBuf};
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
/// [`Dask::spawn`] and [`Dask::compute`] run a `graph!` on the cluster. They
/// take the graph as a function and its inputs, `dask.compute(n,
/// tutorial)`: the inputs are serialised here and travel with the graph,
/// and each block of it runs in *this program*, started on a worker (the
/// executable is sent to every worker once, cached there by its hash, so
/// no shared file system is needed). There the program must become a block
/// runner before any of its own code runs: its `main` calls
/// [`Dask::worker_entry`] first.
///
/// ```no_run
/// use taskdag::cluster::Dask;
/// use taskdag::{delayed, graph, Graph};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
/// #[delayed]
/// fn add(x: i64, y: i64) -> i64 {
///     x + y
/// }
///
/// fn tutorial(n: i64) -> impl Graph<Output = i64> {
///     graph! {
///         let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
///         tree_reduce(zs, add)
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     Dask::worker_entry(); // on a worker: runs blocks, never returns
///     let n: i64 = std::env::var("N")?.parse()?; // only here: n travels
///     let dask = Dask::local(2, 2)?;
///     let total = dask.compute(n, tutorial)?;
///     assert_eq!(total, (1..=n).sum::<i64>());
///     Ok(())
/// }
/// ```
///
/// So a graph for a cluster:
///
/// - is a function of its inputs alone: `fn(I) -> G`, a function or a
///   closure that captures nothing (a closure that captures a variable does
///   not compile, and the compiler names the variable: pass it as an
///   input). The inputs `I` are `serde::Serialize + Deserialize`
///   ([`Inputs`](crate::Inputs)); the function runs here and again on the
///   workers with the same inputs (read back from their bytes on both
///   sides), so it must not read anything else that may differ between
///   machines (the environment, files, the clock). If it builds a graph of
///   another shape on a worker, the block fails with an error that names
///   the graph and what differs, never a wrong value;
/// - gives every task's value `serde::Serialize` and `Deserialize` (the
///   call returns an [`Error::Cluster`](taskgraph_runtime::Error::Cluster)
///   naming the graph's value types otherwise, before anything is sent;
///   see [`Crossing`](crate::Crossing)).
///
/// A graph is named by where it was sent from (`spawn` or `compute`'s call
/// site), the number this process gave it, and its type; graphs sent from
/// several threads at once are told apart by these, not by their order.
pub struct Dask {
    pub(crate) inner: Arc<Inner>,
}

/// What a [`Dask`] shares with the graphs it runs in the background.
pub(crate) struct Inner {
    driver: Arc<Driver>,
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
    /// Finds Python as the [`python`](crate::python) module says; installs
    /// nothing (see [`Dask::builder`] to opt into a managed virtual
    /// environment). Starting takes a few seconds: each worker is a new
    /// Python process. Fails with [`ClusterError::PythonNotFound`] if there
    /// is no Python at all, and with [`ClusterError::DistributedMissing`],
    /// which says the command to run, if it cannot `import distributed`.
    pub fn local(workers: usize, threads_per_worker: usize) -> Result<Dask, ClusterError> {
        Dask::builder().local(workers, threads_per_worker)
    }

    /// Connects to a running scheduler, e.g. `"tcp://10.0.0.5:8786"`, waiting
    /// up to 30 s for it to answer. Finds Python as [`Dask::local`] does.
    pub fn connect(address: &str) -> Result<Dask, ClusterError> {
        Dask::builder().connect(address)
    }

    /// How to find Python, for [`DaskBuilder::local`] and
    /// [`DaskBuilder::connect`].
    pub fn builder() -> DaskBuilder {
        DaskBuilder {
            python: Python::Found,
        }
    }

    /// Decides what this process is, before any of the program's own code
    /// runs: call it first in `main` of every program that sends graphs to
    /// a cluster.
    ///
    /// In the program as you start it, it returns at once. On a worker,
    /// where [`Dask::spawn`] and [`Dask::compute`] start this program to run
    /// blocks of a graph, it runs them (it reads the graph's inputs and the
    /// values each block needs from dask, builds the graph from the inputs
    /// once for the blocks of it that come in a row, runs each block's
    /// tasks, hands their values to dask) and exits when its worker closes:
    /// nothing of `main` after it runs there, so side effects before
    /// a graph (files, prints, a database) happen once, in this process.
    ///
    /// Forgetting it is an error, never a silent re-run: `spawn` and
    /// `compute` refuse to send a graph from a program that did not call
    /// it, and a block runner that reaches `Dask::local` or `Dask::connect`
    /// without it fails its block, saying so.
    ///
    /// See [`Dask`](Dask#graphs) for a whole program.
    pub fn worker_entry() {
        crate::graph::enter();
    }

    fn start(python: PathBuf, op: &str, fields: Value) -> Result<Dask, ClusterError> {
        let driver = Driver::start(python)?;
        let started: Started = driver.request(op, fields, &[])?.parse()?;
        Ok(Dask {
            inner: Arc::new(Inner {
                driver: Arc::new(driver),
                dashboard: started.dashboard,
                scheduler: started.scheduler,
                version: started.version,
                next_sub: AtomicU64::new(1),
                block_size: AtomicU32::new(0),
                this_program: OnceLock::new(),
            }),
        })
    }

    /// The address of dask's dashboard (its `/status` page): progress, the
    /// task stream and the graph, with each task shown by its job's key.
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
    pub fn add_workers(&self, n: usize) -> Result<Vec<WorkerInfo>, ClusterError> {
        let workers: Workers = self
            .inner
            .driver
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
        self.inner.driver.shutdown();
    }
}

impl Inner {
    pub(crate) fn driver(&self) -> Result<&Arc<Driver>, ClusterError> {
        Ok(&self.driver)
    }

    pub(crate) fn workers(&self) -> Result<Vec<WorkerInfo>, ClusterError> {
        let workers: Workers = self.driver.request("workers", json!({}), &[])?.parse()?;
        Ok(workers.workers)
    }

    /// The cluster's threads, in all: as the driver last told them (it
    /// follows workers joining and leaving, so a graph sent asks nobody),
    /// else one question to it.
    pub(crate) fn threads(&self) -> Result<usize, ClusterError> {
        #[derive(serde::Deserialize)]
        struct Threads {
            threads: usize,
        }
        let driver = self.driver()?;
        if let Some(n) = driver.threads() {
            return Ok(n);
        }
        let t: Threads = driver.request("threads", json!({}), &[])?.parse()?;
        Ok(t.threads)
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
                    "serve": job.served,
                    "weight": job.weight,
                    "width": job.width,
                    "queue": job.queued,
                })
            })
            .collect();
        let mut inputs: Vec<&[u8]> = graph.jobs.iter().map(|job| &job.input[..]).collect();
        // The served jobs' header, if any, is the blob after the jobs' inputs.
        inputs.extend(graph.header.as_deref());
        let state = Arc::new(SubState::new(graph.jobs.len()));
        driver.register(id, state.clone())?;
        let reply = driver.request(
            "submit",
            json!({
                "sub": id,
                "jobs": jobs,
                "outputs": graph.outputs,
                "header": graph.header.is_some(),
            }),
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
        self.inner.driver.shutdown();
    }
}

/// Where [`Dask::builder`]'s Python comes from.
enum Python {
    /// As the [`python`](crate::python) module says.
    Found,
    /// This interpreter.
    At(PathBuf),
    /// A virtual environment taskgraph makes and manages in this directory.
    Managed(PathBuf),
}

/// How [`Dask::local`] or [`Dask::connect`] finds Python: [`Dask::builder`].
#[derive(Debug)]
pub struct DaskBuilder {
    python: Python,
}

impl std::fmt::Debug for Python {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Python::Found => f.write_str("found"),
            Python::At(p) => write!(f, "at {}", p.display()),
            Python::Managed(p) => write!(f, "managed in {}", p.display()),
        }
    }
}

impl DaskBuilder {
    /// Runs the driver with this Python interpreter, which must be able to
    /// `import distributed`.
    pub fn python(mut self, interpreter: impl Into<PathBuf>) -> DaskBuilder {
        self.python = Python::At(interpreter.into());
        self
    }

    /// Opts into a virtual environment that taskgraph makes in `dir` (with
    /// `python3 -m venv`) and installs [`PINNED`](crate::python::PINNED)
    /// into with pip, the first time: about 15 s, and it needs the Python
    /// package index. Later runs find it ready. `TASKGRAPH_PYTHON`, if set,
    /// still comes first.
    pub fn managed_venv(mut self, dir: impl Into<PathBuf>) -> DaskBuilder {
        self.python = Python::Managed(dir.into());
        self
    }

    /// [`Dask::local`], with this Python.
    pub fn local(self, workers: usize, threads_per_worker: usize) -> Result<Dask, ClusterError> {
        if threads_per_worker == 0 {
            return Err(ClusterError::Dask {
                message: "a worker needs at least one thread".into(),
            });
        }
        crate::graph::refuse_in_block("Dask::local");
        Dask::start(
            self.interpreter()?,
            "start_local",
            json!({ "workers": workers, "threads": threads_per_worker }),
        )
    }

    /// [`Dask::connect`], with this Python.
    pub fn connect(self, address: &str) -> Result<Dask, ClusterError> {
        crate::graph::refuse_in_block("Dask::connect");
        Dask::start(
            self.interpreter()?,
            "connect",
            json!({ "address": address }),
        )
    }

    fn interpreter(&self) -> Result<PathBuf, ClusterError> {
        let set = std::env::var_os("TASKGRAPH_PYTHON").filter(|p| !p.is_empty());
        match &self.python {
            Python::At(p) => Ok(p.clone()),
            Python::Managed(_) if set.is_some() => python::interpreter(),
            Python::Managed(dir) => python::managed_venv(dir),
            Python::Found => python::interpreter(),
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
