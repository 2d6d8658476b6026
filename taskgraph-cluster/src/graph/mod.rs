//! A `graph!` on a dask cluster: [`Dask::spawn`] and [`Dask::compute`].
//!
//! The client serialises the graph's inputs, builds the graph from them
//! (read back from their own bytes, as a worker will) without running a
//! task, and cuts it into blocks (`cut.rs`); each block is one dask job that
//! a block runner runs: *this program*, started once per busy thread of a
//! worker (the executable is sent to every worker once, cached by its hash).
//! There [`Dask::worker_entry`], first in `main`, finds the graph's function
//! in the same executable (`worker.rs`), builds the graph from the inputs
//! in the graph's header (kept in dask's scheduler while the graph runs,
//! fetched once by each worker that runs its blocks), checks that its shape is the
//! client's, runs only its block on a local runtime, hands the values other
//! blocks need back, and waits for the next block, which it runs on the
//! same instance if it belongs to the same graph. Values between blocks
//! are bytes (serde, postcard) in dask's memory, in a versioned envelope
//! (`format.rs`) that refuses bytes of another version.

mod codec;
mod cut;
mod format;
mod worker;

use std::borrow::Cow;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use taskgraph_runtime::part::{self, Codec, Instance, NodeId, Part, Plan};
use taskgraph_runtime::{Error, FamilyInfo, Graph, Runtime};

use codec::codec_of;
pub use codec::{CodecOf, Crossing, Inputs, Values};
pub(crate) use worker::{enter, in_block, refuse_in_block};

use crate::dask::Inner;
use crate::remote::RemoteError;
use crate::submission::SubState;
use crate::{ClusterError, Dask, Job, JobGraph, JobRun, ProgramRef, Progress};

/// The environment variable that makes this program a block runner: the
/// graph of the block it was started for, for messages. The blocks come
/// through pipes (`worker.rs`).
pub(crate) const BLOCK: &str = "TASKGRAPH_BLOCK";

/// The environment variable in which the driver tells a block runner the
/// hash of the program file it runs.
pub(crate) const PROGRAM_HASH: &str = "TASKGRAPH_PROGRAM_HASH";

/// The environment variable that gives a block runner its pipes, `R,W`
/// (`worker.rs`).
pub(crate) const RUNNER_FDS: &str = "TASKGRAPH_RUNNER_FDS";

/// The marker before a block's error report on its standard error.
pub(crate) const ERROR_MARK: &str = "@taskgraph-block-error@ ";

/// How many blocks per thread of the cluster a loop inside another loop is
/// cut into by default (an outermost loop is cut guided, down to blocks of
/// this size: `cut::Sizing::chunks`): enough that equal blocks end about
/// together on any number of threads, and that workers added mid-run find
/// blocks to take.
const BLOCKS_PER_THREAD: usize = 16;

/// The numbers this process gives the graphs it sends.
static SEQUENCE: AtomicU64 = AtomicU64::new(1);

/// Which graph a block belongs to: fixed by the client when it sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GraphId {
    /// The call site of `spawn` or `compute`, `file:line:column`.
    pub(crate) site: String,
    /// The number the client gave it (1 for its first graph).
    pub(crate) number: u64,
    /// The type of the graph and of its inputs.
    pub(crate) graph_type: String,
    pub(crate) input_type: String,
}

impl std::fmt::Display for GraphId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "graph #{} sent at {}", self.number, self.site)
    }
}

/// A failure, as a block reports it (serialised, on standard error).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    /// A task panicked: its family, loop indices, message.
    Panicked {
        family: u32,
        indices: Vec<u32>,
        message: String,
        others: usize,
    },
    /// A task returned `Err`: its family, loop indices, the error.
    Failed {
        family: u32,
        indices: Vec<u32>,
        error: RemoteError,
        others: usize,
    },
    /// The graph was cancelled.
    Cancelled,
    /// Any other error, as text.
    Other { message: String },
}

impl Report {
    /// The report of `e`, naming tasks by their family among `infos`.
    pub(crate) fn of(e: &Error, infos: &[&'static FamilyInfo]) -> Report {
        let family = |t: &taskgraph_runtime::TaskInfo| {
            infos.iter().position(|i| {
                i.name == t.function()
                    && i.file == t.file()
                    && i.line == t.line()
                    && i.column == t.column()
            })
        };
        match e {
            Error::TaskPanicked {
                task,
                message,
                others,
                ..
            } => match family(task) {
                Some(f) => Report::Panicked {
                    family: f as u32,
                    indices: task.indices.clone(),
                    message: message.clone(),
                    others: *others,
                },
                None => Report::Other {
                    message: e.to_string(),
                },
            },
            Error::TaskFailed {
                task,
                source,
                error_type,
                others,
                ..
            } => match family(task) {
                Some(f) => Report::Failed {
                    family: f as u32,
                    indices: task.indices.clone(),
                    error: RemoteError::of(&**source).with_type_name(error_type),
                    others: *others,
                },
                None => Report::Other {
                    message: e.to_string(),
                },
            },
            Error::Cluster { message, .. } => Report::Other {
                message: message.clone(),
            },
            Error::Cancelled => Report::Cancelled,
            e => Report::Other {
                message: e.to_string(),
            },
        }
    }

    /// The error this report stands for, naming tasks by `infos`.
    pub(crate) fn error(&self, infos: &[&'static FamilyInfo]) -> Error {
        match self {
            Report::Panicked {
                family,
                indices,
                message,
                others,
            } => match infos.get(*family as usize) {
                Some(info) => part::task_panicked(info.task(indices), message.clone(), *others),
                None => Error::cluster(format!("a task panicked: {message}")),
            },
            Report::Failed {
                family,
                indices,
                error,
                others,
            } => match infos.get(*family as usize) {
                Some(info) => part::task_failed(info.task(indices), error.clone(), *others),
                None => Error::cluster(format!("a task failed: {error}")),
            },
            Report::Cancelled => Error::Cancelled,
            Report::Other { message } => Error::cluster(message.clone()),
        }
    }
}

/// What every block of a graph needs, the same for all of them: sent once
/// per graph as a dask value that every block depends on, so dask moves it
/// to each worker once (postcard, in a versioned envelope: `format.rs`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Header {
    /// Which graph.
    pub(crate) id: GraphId,
    /// The SHA-256 of the client's program file, which the block must run.
    pub(crate) program: String,
    /// The block runner's entry for this graph's types and the graph's
    /// function, as offsets from this crate's anchor function in the
    /// program (`worker.rs`).
    pub(crate) entry: i64,
    pub(crate) build: i64,
    /// The graph's inputs, postcard.
    pub(crate) inputs: Vec<u8>,
    /// The client's graph, to compare with the block's.
    pub(crate) shape: Shape,
}

/// What a block's job receives as its own input (postcard, in a versioned
/// envelope: `format.rs`), besides its graph's [`Header`] and the outputs
/// of the blocks it depends on.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Spec {
    pub(crate) name: String,
    /// The nodes to run: `(family, lo, hi)`.
    pub(crate) run: Vec<(u32, u32, u32)>,
    /// The nodes whose values the block sends on, in order.
    pub(crate) collect: Vec<(u32, u32)>,
    /// Per dependency, in order: the values taken from its output, as
    /// `(position, node)`.
    pub(crate) takes: Vec<Vec<(u32, (u32, u32))>>,
}

/// A graph's shape: each family's call site, size and kind, and a
/// fingerprint of its edges and output. A block compares the graph it
/// built with the client's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Shape {
    /// Per family: function name, `file:line:column`, nodes, whether a task.
    pub(crate) families: Vec<(String, String, u32, bool)>,
    /// [`Instance::fingerprint`]: its cost is that of the families' runs of
    /// edges, not of the edges, since every block computes it.
    pub(crate) edges: u64,
}

pub(crate) fn shape(inst: &Instance) -> Shape {
    let families = (0..inst.families())
        .map(|f| {
            let i = inst.family_info(f);
            (
                i.name.to_owned(),
                format!("{}:{}:{}", i.file, i.line, i.column),
                inst.family_len(f),
                inst.is_task_family(f),
            )
        })
        .collect();
    Shape {
        families,
        edges: inst.fingerprint(),
    }
}

impl Shape {
    /// What differs between the graph `here` and the client's (`self`), if
    /// anything.
    pub(crate) fn difference(&self, here: &Shape) -> Option<String> {
        if self.families.len() != here.families.len() {
            return Some(format!(
                "it has {} call sites here but {} in the client",
                here.families.len(),
                self.families.len()
            ));
        }
        for (c, h) in self.families.iter().zip(&here.families) {
            if (&c.0, &c.1) != (&h.0, &h.1) {
                return Some(format!(
                    "`{}` at {} here is `{}` at {} in the client",
                    h.0, h.1, c.0, c.1
                ));
            }
            if c.2 != h.2 || c.3 != h.3 {
                return Some(format!(
                    "`{}` at {} has {} nodes here but {} in the client",
                    h.0, h.1, h.2, c.2
                ));
            }
        }
        if self.edges != here.edges {
            return Some(
                "the edges between its tasks, or the nodes its output names, differ".to_owned(),
            );
        }
        None
    }
}

fn infos(inst: &Instance) -> Vec<&'static FamilyInfo> {
    (0..inst.families()).map(|f| inst.family_info(f)).collect()
}

/// The values of blocks' outputs: one byte string per collected node, in a
/// versioned envelope (`format.rs`).
pub(crate) fn encode_outputs(values: &[Vec<u8>]) -> Vec<u8> {
    format::encode(values).expect("a list of byte strings serialises")
}

pub(crate) fn decode_outputs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    format::decode(bytes, "a block's output").map_err(Error::cluster)
}

/// A graph ready to send: its identity, its inputs' bytes, where its block
/// runner's entry and function are, and the codec of its values.
struct Ticket {
    id: GraphId,
    inputs: Vec<u8>,
    entry: i64,
    build: i64,
    codec: &'static dyn Codec,
}

/// Serialises `inputs`, builds the graph from their bytes read back (as a
/// block will) and names it; fails, before anything is sent, if a value of
/// the graph cannot travel between machines.
fn prepare<I: Inputs, G: Graph>(
    site: &'static Location<'static>,
    inputs: I,
    build: fn(I) -> G,
) -> Result<(Ticket, G), Error> {
    worker::check_entered()?;
    let input_type = std::any::type_name::<I>();
    let bytes = postcard::to_allocvec(&inputs).map_err(|e| {
        Error::cluster(format!(
            "the inputs of a graph sent to a cluster, of type {input_type}, could not be \
             serialised: {e}"
        ))
    })?;
    drop(inputs);
    let inputs: I = codec::read_inputs(&bytes)?;
    let id = GraphId {
        site: format!("{}:{}:{}", site.file(), site.line(), site.column()),
        number: SEQUENCE.fetch_add(1, Ordering::Relaxed),
        graph_type: std::any::type_name::<G>().to_owned(),
        input_type: input_type.to_owned(),
    };
    let graph = build(inputs);
    let ticket = Ticket {
        id,
        inputs: bytes,
        entry: worker::offset(worker::entry::<I, G> as worker::Entry as usize),
        build: worker::offset(build as usize),
        codec: codec_of(&graph)?,
    };
    Ok((ticket, graph))
}

impl Dask {
    /// Sends the graph `build(inputs)` to the cluster and returns at once;
    /// the graph runs in the background. [`GraphHandle::wait`] returns the
    /// same value (or the same [`Error`]) as [`Runtime::compute`] would.
    ///
    /// `inputs` are serialised here and travel with the graph; `build` is a
    /// function, or a closure that captures nothing (the compiler refuses
    /// one that captures, naming the variable: make it an input). The graph
    /// is built here from the inputs (its plain code runs, no task) and cut
    /// into blocks, each one dask task named after its functions and loop
    /// iterations (`inc_dec_add[0..32]`), so dask's dashboard groups them
    /// by function. A block runs *this program* on a worker, which must call
    /// [`Dask::worker_entry`] first in `main` (see
    /// [`Dask`](crate::Dask#graphs)). Block sizes: [`Dask::set_block_size`].
    ///
    /// Every task's value must be `Serialize + DeserializeOwned` (see
    /// [`Crossing`]): a graph with a value that is not fails with
    /// [`Error::Cluster`] naming the graph's value types, before anything
    /// is sent. The inputs must be too (see [`Inputs`]): inputs that are
    /// not do not compile here.
    ///
    /// ```no_run
    /// use taskdag::cluster::Dask;
    /// use taskdag::{delayed, graph};
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
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     Dask::worker_entry();
    ///     let cluster = Dask::local(2, 2)?;
    ///     println!("dashboard: {}", cluster.dashboard_link());
    ///     let h = cluster.spawn(256, |n| {
    ///         graph! {
    ///             let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
    ///             tree_reduce(zs, add)
    ///         }
    ///     });
    ///     cluster.add_workers(2)?; // they take blocks at once
    ///     assert_eq!(h.wait()?, (1..=256).sum::<i64>());
    ///     Ok(())
    /// }
    /// ```
    #[track_caller]
    pub fn spawn<I, G>(&self, inputs: I, build: fn(I) -> G) -> GraphHandle<G::Output>
    where
        I: Inputs + Send + 'static,
        G: Graph + 'static,
        G::Output: Send + 'static,
    {
        let site = Location::caller();
        let status = Arc::new(Status::default());
        let dask = self.inner.clone();
        let watching = status.clone();
        let thread = std::thread::Builder::new()
            .name("taskgraph-cluster-graph".to_owned())
            .spawn(move || {
                let (ticket, graph) = prepare(site, inputs, build)?;
                Sender {
                    dask,
                    ticket,
                    status: watching,
                }
                .run(graph)
            });
        GraphHandle {
            run: match thread {
                Ok(t) => HandleRun::Thread(t),
                Err(e) => HandleRun::Ready(Err(Error::cluster(format!(
                    "cannot start a thread to watch the graph: {e}"
                )))),
            },
            status,
        }
    }

    /// Runs the graph `build(inputs)` on the cluster and waits for its
    /// output: as [`Dask::spawn`] then [`GraphHandle::wait`], on this
    /// thread.
    ///
    /// # Errors
    /// As [`Runtime::compute`]: the first task's failure (function, loop
    /// indices, call site, message; a task's `Err` as a
    /// [`RemoteError`](crate::RemoteError)) as on one machine; and
    /// [`Error::Cluster`] when the cluster could not run it, when
    /// [`Dask::worker_entry`] was not called, or when a worker built a graph
    /// of another shape from the same inputs.
    #[track_caller]
    pub fn compute<I: Inputs, G: Graph>(
        &self,
        inputs: I,
        build: fn(I) -> G,
    ) -> Result<G::Output, Error> {
        let (ticket, graph) = prepare(Location::caller(), inputs, build)?;
        Sender {
            dask: self.inner.clone(),
            ticket,
            status: Arc::new(Status::default()),
        }
        .run(graph)
    }

    /// Sets how many iterations of a loop go into one block: `None` (the
    /// default) chooses from the cluster's threads when the graph is sent,
    /// in powers of two (so a `tree_reduce` over the loop pairs inside
    /// blocks). An outermost loop is cut *guided*, as OpenMP's schedule of
    /// that name: each block about a `4 × threads`-th of the iterations
    /// still left, so blocks shrink towards the loop's end and the threads
    /// run out of work together, and workers that join while the graph runs
    /// find small blocks to take; a loop inside another gets equal blocks,
    /// about sixteen per thread. Larger blocks go first (each block's dask
    /// priority is the most work on a chain of blocks from it to the
    /// graph's end).
    ///
    /// A block is one dask task and a round trip to a block runner on a
    /// worker, a millisecond or more; make each carry enough work (≥ 10 ms)
    /// for the cluster to pay off. Applies to graphs sent after the call.
    pub fn set_block_size(&self, iterations: Option<u32>) {
        self.inner
            .block_size
            .store(iterations.unwrap_or(0), Ordering::Relaxed);
    }
}

/// Where a sent graph stands, shared with its handle.
#[derive(Default)]
struct Status {
    /// Set by [`GraphHandle::cancel`]; the sender looks at it before it
    /// submits and after it has published `state`.
    cancelled: AtomicBool,
    state: Mutex<Option<Arc<SubState>>>,
    blocks: Mutex<Vec<String>>,
    runs: Mutex<Option<Vec<JobRun>>>,
}

impl Status {
    fn progress(&self) -> Progress {
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(s) => s.progress(),
            None => Progress {
                total: 0,
                done: 0,
                failed: 0,
                finished: false,
            },
        }
    }

    fn runs(&self) -> Vec<JobRun> {
        if let Some(runs) = &*self.runs.lock().unwrap_or_else(PoisonError::into_inner) {
            return runs.clone();
        }
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(s) => s.runs(),
            None => Vec::new(),
        }
    }
}

/// A graph running on a cluster, made by [`Dask::spawn`].
///
/// Dropping it detaches: the graph still runs to its end, and its values
/// are dropped. [`cancel`](GraphHandle::cancel) stops it.
pub struct GraphHandle<T> {
    run: HandleRun<T>,
    status: Arc<Status>,
}

enum HandleRun<T> {
    Thread(JoinHandle<Result<T, Error>>),
    Ready(Result<T, Error>),
}

/// What [`GraphHandle::wait_report`] returns.
#[derive(Debug)]
pub struct GraphReport<T> {
    /// The graph's output.
    pub value: T,
    /// Each block's name, by job index (as [`JobRun::job`] numbers them).
    pub blocks: Vec<String>,
    /// Every run of every block: which worker, when, for how long. A block
    /// runs more than once when a worker holding its output died.
    pub runs: Vec<JobRun>,
}

impl<T> GraphHandle<T> {
    /// Blocks until the graph has run; returns its output.
    ///
    /// # Errors
    /// As [`Dask::compute`].
    pub fn wait(self) -> Result<T, Error> {
        self.wait_report().map(|r| r.value)
    }

    /// Like [`wait`](GraphHandle::wait), and also says which worker ran
    /// which block.
    ///
    /// # Errors
    /// As [`Dask::compute`].
    pub fn wait_report(self) -> Result<GraphReport<T>, Error> {
        let value = match self.run {
            HandleRun::Thread(t) => match t.join() {
                Ok(r) => r?,
                Err(p) => std::panic::resume_unwind(p),
            },
            HandleRun::Ready(r) => r?,
        };
        Ok(GraphReport {
            value,
            blocks: self
                .status
                .blocks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            runs: self.status.runs(),
        })
    }

    /// Whether the graph has ended (its output or error is ready).
    pub fn is_finished(&self) -> bool {
        match &self.run {
            HandleRun::Thread(t) => t.is_finished(),
            HandleRun::Ready(_) => true,
        }
    }

    /// How many blocks have run so far, of how many (zero of zero until
    /// the graph is cut and sent). Costs a lock.
    pub fn progress(&self) -> Progress {
        self.status.progress()
    }

    /// Cancels the graph, as [`Handle::cancel`](taskgraph_runtime::Handle::cancel)
    /// does on one machine: blocks not started never start, running ones
    /// are stopped (their processes killed), and [`wait`](GraphHandle::wait)
    /// returns [`Error::Cancelled`]. Returns without waiting; cancelling a
    /// graph that has ended does nothing.
    pub fn cancel(&self) {
        self.status.cancelled.store(true, Ordering::SeqCst);
        let state = self
            .status
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(state) = state {
            state.cancel();
        }
    }

    /// The block runs reported so far.
    pub fn runs(&self) -> Vec<JobRun> {
        self.status.runs()
    }

    /// Each block's name, by job index, once the graph is sent.
    pub fn blocks(&self) -> Vec<String> {
        self.status
            .blocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<T> std::fmt::Debug for GraphHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphHandle")
            .field("progress", &self.progress())
            .finish()
    }
}

/// Sends one graph and waits for it (the driver's side).
struct Sender {
    dask: Arc<Inner>,
    ticket: Ticket,
    status: Arc<Status>,
}

impl Sender {
    fn run<G: Graph>(self, graph: G) -> Result<G::Output, Error> {
        let rt = driver_runtime()?;
        let part = Driving {
            sender: &self,
            codec: self.ticket.codec,
            result: OnceLock::new(),
            infos: OnceLock::new(),
        };
        graph.__part(rt, &part).and_then(|v| {
            v.ok_or_else(|| Error::cluster("taskgraph internal error: the output was not taken"))
        })
    }

    /// Cuts the graph, sends its blocks, waits; the output nodes' values.
    fn send(
        &self,
        inst: &Instance,
        infos: &[&'static FamilyInfo],
    ) -> Result<Vec<(NodeId, Vec<u8>)>, Error> {
        let cluster = |e: ClusterError| Error::cluster(e.to_string());
        if let Some(f) = (0..inst.families()).find(|&f| inst.is_source_family(f)) {
            let i = inst.family_info(f);
            return Err(Error::cluster(format!(
                "`{}` at {}:{} reads values this process holds (a spawned graph's Handle \
                 or a Vec given to tree_reduce), which a cluster's workers do not have: \
                 compute this graph on a local Runtime, or pass the values as a plain \
                 input the graph turns into tasks",
                i.name, i.file, i.line
            )));
        }
        let program = self.dask.this_program().map_err(cluster)?;
        let ticket = &self.ticket;
        let threads = self.dask.threads().map_err(cluster)?;
        let sizing = cut::Sizing {
            block_size: self.dask.block_size.load(Ordering::Relaxed),
            threads: threads.max(1) as u32,
        };
        let cut = cut::cut(inst, sizing);
        let shape = shape(inst);
        let header = Header {
            id: ticket.id.clone(),
            program: program.hash.clone(),
            entry: ticket.entry,
            build: ticket.build,
            inputs: ticket.inputs.clone(),
            shape,
        };
        let mut jobs = JobGraph::new();
        jobs.header = Some(format::encode(&header).expect("a graph's header serialises"));
        for b in &cut.blocks {
            let spec = Spec {
                name: b.name.clone(),
                run: b.run.iter().map(|r| (r.family, r.lo, r.hi)).collect(),
                collect: b.collect.iter().map(|n| (n.family(), n.index())).collect(),
                takes: b
                    .deps
                    .iter()
                    .map(|(_, list)| {
                        list.iter()
                            .map(|(pos, n)| (*pos, (n.family(), n.index())))
                            .collect()
                    })
                    .collect(),
            };
            let input = format::encode(&spec).expect("a block's specification serialises");
            jobs.push(
                Job::new(b.name.clone(), &program)
                    .env(BLOCK, ticket.id.to_string())
                    .served()
                    .weight(b.run.iter().map(|r| u64::from(r.hi - r.lo)).sum())
                    .width(b.width)
                    .queued(b.tree)
                    .deps(b.deps.iter().map(|(d, _)| *d))
                    .input(input),
            );
        }
        let mut wanted: Vec<usize> = cut.outputs.iter().map(|o| o.1).collect();
        wanted.sort_unstable();
        wanted.dedup();
        for &b in &wanted {
            jobs.output(b);
        }
        *self
            .status
            .blocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            cut.blocks.iter().map(|b| b.name.clone()).collect();
        if self.status.cancelled.load(Ordering::SeqCst) {
            return Err(Error::Cancelled);
        }
        let submission = self.dask.submit(jobs).map_err(cluster)?;
        *self
            .status
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(submission.state());
        // A cancel that came before `state` was there.
        if self.status.cancelled.load(Ordering::SeqCst) {
            submission.state().cancel();
        }
        let report = submission.wait_report();
        let report = match report {
            Ok(r) => r,
            Err(ClusterError::JobFailed {
                key, code, stderr, ..
            }) => return Err(block_error(&key, code, &stderr, infos)),
            Err(ClusterError::Cancelled) => return Err(Error::Cancelled),
            Err(e) => return Err(cluster(e)),
        };
        *self
            .status
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(report.runs);
        let mut outputs: Vec<Vec<Vec<u8>>> = Vec::with_capacity(wanted.len());
        for bytes in &report.outputs {
            outputs.push(decode_outputs(bytes)?);
        }
        cut.outputs
            .iter()
            .map(|&(n, b, pos)| {
                let k = wanted.binary_search(&b).expect("asked for");
                outputs[k]
                    .get_mut(pos as usize)
                    .map(|v| (n, std::mem::take(v)))
                    .ok_or_else(|| Error::cluster("a block sent fewer values than it should"))
            })
            .collect()
    }
}

/// The error a failed block reports on its standard error, or what it
/// printed.
fn block_error(key: &str, code: i32, stderr: &[u8], infos: &[&'static FamilyInfo]) -> Error {
    let text = String::from_utf8_lossy(stderr);
    if let Some(at) = text.rfind(ERROR_MARK) {
        let line = text[at + ERROR_MARK.len()..].lines().next().unwrap_or("");
        if let Ok(report) = serde_json::from_str::<Report>(line) {
            return report.error(infos);
        }
    }
    let how = if code < 0 {
        format!("was killed by signal {}", -code)
    } else {
        format!("exited with code {code}")
    };
    let tail: String = {
        let t = text.trim_end();
        let start = t.len().saturating_sub(2000);
        let start = (start..t.len())
            .find(|&i| t.is_char_boundary(i))
            .unwrap_or(t.len());
        t[start..].to_owned()
    };
    Error::cluster(format!(
        "block `{key}` {how} without reporting a task's failure; its standard error ends:\n{tail}"
    ))
}

/// The runtime that takes a graph's output apart here (no task runs on it).
fn driver_runtime() -> Result<&'static Runtime, Error> {
    static RT: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = Runtime::new(1)?;
    Ok(RT.get_or_init(|| rt))
}

/// The driver's side of the part run: the plan sends the blocks and waits
/// for them; the run then only takes the output apart.
struct Driving<'s> {
    sender: &'s Sender,
    codec: &'static dyn Codec,
    result: OnceLock<Vec<(NodeId, Vec<u8>)>>,
    infos: OnceLock<Vec<&'static FamilyInfo>>,
}

impl Part for Driving<'_> {
    fn plan<'p>(&'p self, graph: &Instance) -> Result<Plan<'p>, Error> {
        let infos = self.infos.get_or_init(|| infos(graph));
        let values = self.sender.send(graph, infos)?;
        let values = self.result.get_or_init(|| values);
        Ok(Plan {
            run: Vec::new(),
            inject: values
                .iter()
                .map(|(n, b)| (*n, Cow::Borrowed(&b[..])))
                .collect(),
            collect: Vec::new(),
            take_outputs: true,
        })
    }

    fn codec(&self) -> &dyn Codec {
        self.codec
    }

    fn produced(&self, _: usize, _: Vec<u8>) {}
}

impl Inner {
    /// This program, registered with the cluster once.
    fn this_program(&self) -> Result<ProgramRef, ClusterError> {
        if let Some(p) = self.this_program.get() {
            return Ok(p.clone());
        }
        let exe = std::env::current_exe().map_err(|e| ClusterError::Dask {
            message: format!("cannot find this program's executable: {e}"),
        })?;
        // Blocks find functions in the executable by their offsets: the file
        // must be the code this process runs, not a newer build.
        let modified = std::fs::metadata(&exe).and_then(|m| m.modified());
        if let (Ok(modified), Some(started)) = (modified, worker::started()) {
            if modified > started {
                return Err(ClusterError::Dask {
                    message: format!(
                        "this program's executable {} changed since the program started \
                         (rebuilt?): its blocks must run the code this process runs; start \
                         the program again",
                        exe.display()
                    ),
                });
            }
        }
        let p = self.program(&exe)?;
        Ok(self.this_program.get_or_init(|| p).clone())
    }
}
