//! A block runner: the program, started by the driver on a worker with
//! `TASKGRAPH_BLOCK` set, becomes one in [`Dask::worker_entry`] before any of
//! its own code runs. It lives as long as its worker: it reads blocks from
//! the pipe named by `TASKGRAPH_RUNNER_FDS` (`R,W`: a `u64` length, a `u32`
//! count of threads the block may use, and the job's framed input), runs
//! each, and answers on the other (a status byte,
//! 0 for the block's outputs or 1 for its failure report as JSON, then a
//! `u64` length and the bytes). The driver keeps one such runner per
//! concurrently running block of a worker, and starts a new one only when
//! all are busy or one died. A block runs on a runtime of as many threads
//! as the driver allows it (1 unless its worker lends it idle threads, in
//! a graph's tail): one runtime per count, made when first needed.
//!
//! The block's specification says where, in this very executable, the
//! entry for the graph's types ([`entry`]) and the graph's function are: as
//! offsets from [`anchor`], a function of this crate. The executable is the
//! client's own (the job runs the file the client registered, by its
//! SHA-256, and the driver tells the block that hash, which must be the
//! specification's), so an offset taken in the client is the same
//! function here, wherever the program was loaded.
//!
//! [`Dask::worker_entry`]: crate::Dask::worker_entry

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use taskgraph_runtime::part::{Codec, Instance, NodeId, NodeRange, Part, Plan};
use taskgraph_runtime::{Error, FamilyInfo, Graph, Runtime};

use super::codec::{codec_of, read_inputs};
use super::format;
use super::{decode_outputs, encode_outputs, infos, shape, Header, Inputs, Report, Spec};
use super::{BLOCK, ERROR_MARK, PROGRAM_HASH, RUNNER_FDS};
use crate::frame;

/// The exit code of a block that reported a failure on standard error.
const FAILED: i32 = 3;

/// The block runner's entry for one graph's types: builds the graph and
/// runs `job`, then the blocks of the same graph that follow it on this
/// runner, on the same instance; answers each of them.
pub(crate) type Entry = fn(Job, &mut Server);

/// A block as the runner reads it.
pub(crate) struct Job {
    /// Its graph's header: the same `Arc` for every block of the graph
    /// that this runner reads, until another graph's header comes.
    header: Arc<Header>,
    spec: Spec,
    /// The outputs of the blocks it depends on, in order.
    deps: Vec<Vec<Vec<u8>>>,
    /// How many threads it may use: its own and those of its worker that
    /// no task holds (the driver lends them while the block runs).
    threads: usize,
}

/// The runner's pipes, and what it keeps from one block to the next.
pub(crate) struct Server {
    requests: std::fs::File,
    answers: std::io::BufWriter<std::fs::File>,
    /// The last header read and its bytes: the driver sends a header to a
    /// runner once, and an empty header frame then stands for it.
    header: Option<(Vec<u8>, Arc<Header>)>,
    /// A block read while an instance was kept, for another instance.
    pending: Option<Result<Job, String>>,
}

impl Server {
    /// The next request and the threads it may use; exits when the driver
    /// closed the pipe (its worker is closing or died).
    fn read(&mut self) -> (Vec<u8>, usize) {
        let mut head = [0; 12];
        if self.requests.read_exact(&mut head).is_err() {
            std::process::exit(0)
        }
        let (len, threads) = head.split_at(8);
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
        let threads = u32::from_le_bytes(threads.try_into().expect("4 bytes"));
        let mut request = vec![0; len as usize];
        if self.requests.read_exact(&mut request).is_err() {
            std::process::exit(0)
        }
        (request, (threads as usize).clamp(1, MAX_THREADS))
    }

    /// The next block: one read before, or a new request.
    fn next_job(&mut self) -> Result<Job, String> {
        match self.pending.take() {
            Some(job) => job,
            None => {
                let (request, threads) = self.read();
                self.job(&request, threads)
            }
        }
    }

    /// Answers a block: its values, or its failure. Exits if the driver is
    /// gone.
    fn answer(&mut self, result: Result<Vec<Vec<u8>>, Report>) {
        let (status, body) = match result {
            Ok(values) => (0u8, encode_outputs(&values)),
            Err(report) => (1u8, serde_json::to_vec(&report).unwrap_or_default()),
        };
        let answers = &mut self.answers;
        let sent = answers
            .write_all(&[status])
            .and_then(|()| answers.write_all(&(body.len() as u64).to_le_bytes()))
            .and_then(|()| answers.write_all(&body))
            .and_then(|()| answers.flush());
        if sent.is_err() {
            std::process::exit(0)
        }
    }

    /// Decodes a request: the block's specification, its graph's header
    /// (frame 1, empty for the last one read) and its dependencies' outputs.
    fn job(&mut self, bytes: &[u8], threads: usize) -> Result<Job, String> {
        let frames = frame::decode(bytes).map_err(|e| format!("the block's input: {e}"))?;
        let spec: Spec = format::decode(frames.input, "the block's specification")?;
        let Some((&header, deps)) = frames.deps.split_first() else {
            return Err("a block's input has no header frame (taskgraph internal error)".into());
        };
        let header = match &self.header {
            Some((kept, h)) if header.is_empty() || header == &kept[..] => h.clone(),
            _ if header.is_empty() => {
                return Err(
                    "a block came without its graph's header, which this block runner never \
                     received (taskgraph internal error)"
                        .into(),
                )
            }
            _ => {
                let h: Arc<Header> = Arc::new(format::decode(header, "the graph's header")?);
                self.header = Some((header.to_vec(), h.clone()));
                h
            }
        };
        let mut outputs = Vec::with_capacity(deps.len());
        for d in deps {
            outputs.push(decode_outputs(d).map_err(|e| e.to_string())?);
        }
        if outputs.len() != spec.takes.len() {
            return Err(format!(
                "the block has {} inputs but reads {}",
                outputs.len(),
                spec.takes.len()
            ));
        }
        let here = std::env::var(PROGRAM_HASH).map_err(|_| {
            format!(
                "{PROGRAM_HASH} is not set: this program was started as a block runner \
                 ({BLOCK} is set) by something other than taskgraph-cluster"
            )
        })?;
        if here != header.program {
            return Err(format!(
                "block `{}` of {} was sent by the program {} but runs in the program {}: a \
                 block runs only in the client's own executable",
                spec.name,
                header.id,
                short(&header.program),
                short(&here)
            ));
        }
        Ok(Job {
            header,
            spec,
            deps: outputs,
            threads,
        })
    }
}

/// Whether this process was started as a block runner (`TASKGRAPH_BLOCK`
/// is set).
pub(crate) fn in_block() -> bool {
    std::env::var_os(BLOCK).is_some()
}

/// When [`enter`] ran in the client: `None` if it did not.
static ENTERED: OnceLock<SystemTime> = OnceLock::new();

/// [`Dask::worker_entry`](crate::Dask::worker_entry): returns in a client,
/// runs the block and exits in a block runner.
pub(crate) fn enter() {
    if in_block() {
        run()
    }
    ENTERED.get_or_init(SystemTime::now);
}

/// A client that did not call [`enter`] must not send a graph: its workers
/// would run its `main`.
pub(crate) fn check_entered() -> Result<(), Error> {
    if ENTERED.get().is_some() {
        return Ok(());
    }
    Err(Error::cluster(
        "this program sends a graph to a cluster but did not call \
         `taskdag::cluster::Dask::worker_entry()` first in `main`: its workers start this \
         program to run the graph's blocks, and without that call they would run `main` \
         instead; add it as the first line of `main`",
    ))
}

/// When this process started, as far as the program knows it: when it
/// called `worker_entry`.
pub(crate) fn started() -> Option<SystemTime> {
    ENTERED.get().copied()
}

/// In a block runner, `what` (`Dask::local`) means the program's `main`
/// runs: it did not call `worker_entry` first. Fails the block, saying so.
pub(crate) fn refuse_in_block(what: &str) {
    if in_block() {
        fail(&Report::Other {
            message: format!(
                "this program was started on a worker to run block {} but its `main` \
                 reached `{what}` without calling `taskdag::cluster::Dask::worker_entry()` \
                 first: add that call as the first line of `main`",
                std::env::var(BLOCK).unwrap_or_default()
            ),
        })
    }
}

/// The function the offsets of entries and graph functions count from.
#[inline(never)]
fn anchor() {}

/// `address` as an offset from [`anchor`].
pub(crate) fn offset(address: usize) -> i64 {
    (address as i64).wrapping_sub(anchor as fn() as usize as i64)
}

/// The address at `offset` from [`anchor`].
fn address(offset: i64) -> usize {
    (anchor as fn() as usize as i64).wrapping_add(offset) as usize
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

/// Reports `report` on standard error and exits.
fn fail(report: &Report) -> ! {
    let line = serde_json::to_string(report).unwrap_or_default();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n{ERROR_MARK}{line}");
    let _ = err.flush();
    std::process::exit(FAILED)
}

/// Serves blocks on the pipes the driver gave this process, until the
/// driver closes them; then exits.
fn run() -> ! {
    use std::os::fd::FromRawFd;

    let fds = std::env::var(RUNNER_FDS).unwrap_or_default();
    let parsed = fds
        .split_once(',')
        .and_then(|(r, w)| Some((r.parse::<i32>().ok()?, w.parse::<i32>().ok()?)));
    let Some((r, w)) = parsed else {
        fail(&Report::Other {
            message: format!(
                "{RUNNER_FDS} is {fds:?}, not two file descriptors: this program was started \
                 as a block runner ({BLOCK} is set) by something other than taskgraph-cluster"
            ),
        })
    };
    // SAFETY: the driver passed these two descriptors, the read end of its
    // request pipe and the write end of its answer pipe, to this process
    // alone (`pass_fds`), and nothing else in it uses them.
    let (requests, answers) =
        unsafe { (std::fs::File::from_raw_fd(r), std::fs::File::from_raw_fd(w)) };
    let mut server = Server {
        requests,
        answers: std::io::BufWriter::new(answers),
        header: None,
        pending: None,
    };
    loop {
        match server.next_job() {
            Ok(job) => {
                // SAFETY: `header.entry` is the offset of `entry::<I, G>`, an
                // `Entry`, from `anchor` in the client's executable
                // (`prepare`), and this process runs that executable: the
                // driver ran the file of the client's program hash and told
                // us that hash, which `Server::job` checked against the
                // header's. The same file, loaded anywhere, keeps its
                // functions' offsets.
                let entry: Entry =
                    unsafe { std::mem::transmute::<usize, Entry>(address(job.header.entry)) };
                entry(job, &mut server)
            }
            Err(message) => server.answer(Err(Report::Other { message })),
        }
    }
}

/// The runner for graphs of type `G` built from inputs `I`: builds the
/// graph from the block's inputs once and runs the block, then the blocks
/// of the same graph that come next (their nodes not yet run here) on the
/// same instance; answers each.
pub(crate) fn entry<I: Inputs, G: Graph>(job: Job, server: &mut Server) {
    let header = job.header.clone();
    let other = |message: String| Report::Other { message };
    if header.id.graph_type != std::any::type_name::<G>()
        || header.id.input_type != std::any::type_name::<I>()
    {
        return server.answer(Err(other(format!(
            "taskgraph internal error: block `{}` of {} reached the entry for graphs of type \
             {} from {}",
            job.spec.name,
            header.id,
            std::any::type_name::<G>(),
            std::any::type_name::<I>()
        ))));
    }
    // SAFETY: `header.build` is the offset from `anchor` of the `fn(I) -> G`
    // that the client passed with these very `I` and `G` (`prepare` took
    // both offsets together), in this same executable (see `run`).
    let build = unsafe { std::mem::transmute::<usize, fn(I) -> G>(address(header.build)) };
    let threads = job.threads;
    let part = Block {
        values: Mutex::new(vec![None; job.spec.collect.len()]),
        header,
        threads,
        job: Mutex::new(job),
        server: Mutex::new(server),
        ran: Mutex::new(HashSet::new()),
        checked: OnceLock::new(),
        codec: OnceLock::new(),
        infos: OnceLock::new(),
    };
    // A task's panic is the runtime's to report; this catches one in the
    // graph's own function, so that the runner lives on.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let inputs: I = read_inputs(&part.header.inputs).map_err(|e| other(e.to_string()))?;
        let graph = build(inputs);
        let codec = codec_of(&graph).map_err(|e| other(e.to_string()))?;
        let codec = *part.codec.get_or_init(|| codec);
        let _ = codec;
        let infos = || part.infos.get().map(Vec::as_slice).unwrap_or(&[]);
        match block_runtime(threads).and_then(|rt| graph.__part(rt, &part)) {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(other(
                "taskgraph internal error: a block took the graph's output".into(),
            )),
            Err(e) => Err(Report::of(&e, infos())),
        }
    }));
    let report = match r {
        // Every block that ran was answered (`Block::next`).
        Ok(Ok(())) => return,
        Ok(Err(report)) => report,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            let job = part.job.lock().unwrap_or_else(PoisonError::into_inner);
            other(format!(
                "{}: the graph's function panicked on a worker, building block `{}`: \
                 {message}",
                part.header.id, job.spec.name
            ))
        }
    };
    // The block that failed has not been answered.
    let server = part
        .server
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    server.answer(Err(report));
}

/// The most threads a block runs on.
const MAX_THREADS: usize = 64;

/// The runtime of `threads` threads that blocks allowed that many run on,
/// made the first time one is: a runner keeps one per count it was given
/// (the threads of those not in use sleep).
fn block_runtime(threads: usize) -> Result<&'static Runtime, Error> {
    static RTS: [OnceLock<Runtime>; MAX_THREADS] = [const { OnceLock::new() }; MAX_THREADS];
    let slot = &RTS[threads.clamp(1, MAX_THREADS) - 1];
    if let Some(rt) = slot.get() {
        return Ok(rt);
    }
    let rt = Runtime::new(threads)?;
    Ok(slot.get_or_init(|| rt))
}

/// The part of a kept instance: the block it runs now, the values it is
/// given and sends, and what the instance has run.
struct Block<'s> {
    header: Arc<Header>,
    /// The threads of the runtime this instance runs on: a block allowed
    /// another number starts a new instance.
    threads: usize,
    /// The block being run.
    job: Mutex<Job>,
    values: Mutex<Vec<Option<Vec<u8>>>>,
    server: Mutex<&'s mut Server>,
    /// The first node of each block run on this instance: a node runs at
    /// most once per instance, so a block that comes again (dask runs a
    /// block again when a worker holding its output died) gets a new one.
    ran: Mutex<HashSet<(u32, u32)>>,
    /// Set once the graph's shape was compared with the client's.
    checked: OnceLock<()>,
    codec: OnceLock<&'static dyn Codec>,
    infos: OnceLock<Vec<&'static FamilyInfo>>,
}

impl Block<'_> {
    /// The values of the block just run, in the order of its `collect`.
    fn values(&self) -> Result<Vec<Vec<u8>>, Report> {
        let values =
            std::mem::take(&mut *self.values.lock().unwrap_or_else(PoisonError::into_inner));
        let job = self.job.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::with_capacity(values.len());
        for (k, v) in values.into_iter().enumerate() {
            match v {
                Some(v) => out.push(v),
                None => {
                    return Err(Report::Other {
                        message: format!(
                            "taskgraph internal error: block `{}` did not make node {:?}",
                            job.spec.name, job.spec.collect[k]
                        ),
                    })
                }
            }
        }
        Ok(out)
    }
}

impl Part for Block<'_> {
    fn plan<'p>(&'p self, graph: &Instance) -> Result<Plan<'p>, Error> {
        self.infos.get_or_init(|| infos(graph));
        let mut job = self.job.lock().unwrap_or_else(PoisonError::into_inner);
        let header = &self.header;
        if self.checked.get().is_none() {
            if let Some(what) = header.shape.difference(&shape(graph)) {
                return Err(Error::cluster(format!(
                    "{}: block `{}` built a graph of another shape on a worker than the client \
                     did from the same inputs: {what}. A graph's function must build it from \
                     its inputs alone (nothing read from the environment, files, the clock or \
                     randomness that may differ between machines): pass such values as inputs",
                    header.id, job.spec.name
                )));
            }
            let _ = self.checked.set(());
        }
        if let Some(&(f, lo, _)) = job.spec.run.first() {
            self.ran
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((f, lo));
        }
        *self.values.lock().unwrap_or_else(PoisonError::into_inner) =
            vec![None; job.spec.collect.len()];
        // The values it is given belong to this block alone: they move into
        // the plan.
        let mut deps = std::mem::take(&mut job.deps);
        let spec = &job.spec;
        let mut inject = Vec::new();
        for (d, list) in spec.takes.iter().enumerate() {
            for &(pos, (f, i)) in list {
                let bytes = deps
                    .get_mut(d)
                    .and_then(|out| out.get_mut(pos as usize))
                    .ok_or_else(|| {
                        Error::cluster("a block's input holds fewer values than it should")
                    })?;
                inject.push((NodeId::new(f, i), Cow::Owned(std::mem::take(bytes))));
            }
        }
        Ok(Plan {
            run: spec
                .run
                .iter()
                .map(|&(family, lo, hi)| NodeRange { family, lo, hi })
                .collect(),
            inject,
            collect: spec
                .collect
                .iter()
                .map(|&(f, i)| NodeId::new(f, i))
                .collect(),
            take_outputs: false,
        })
    }

    fn codec(&self) -> &dyn Codec {
        *self.codec.get().expect("set before the graph runs")
    }

    fn produced(&self, position: usize, bytes: Vec<u8>) {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)[position] = Some(bytes);
    }

    /// Answers the block just run, then reads the next: it runs on this
    /// instance if it is of the same graph, may use as many threads, and its
    /// nodes have not run here; otherwise the instance ends and the runner
    /// takes it anew.
    fn next(&self) -> bool {
        let values = self.values();
        let mut server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        server.answer(values);
        let (request, threads) = server.read();
        let job = server.job(&request, threads);
        match job {
            Ok(job)
                if Arc::ptr_eq(&job.header, &self.header)
                    && job.threads == self.threads
                    && !job.spec.run.first().is_some_and(|&(f, lo, _)| {
                        self.ran
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .contains(&(f, lo))
                    }) =>
            {
                *self.job.lock().unwrap_or_else(PoisonError::into_inner) = job;
                true
            }
            job => {
                server.pending = Some(job);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Shape;

    #[test]
    fn a_program_that_did_not_call_worker_entry_sends_no_graph() {
        // This test binary never calls it.
        let e = super::check_entered().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the cluster could not run the graph: this program sends a graph to a cluster but \
             did not call `taskdag::cluster::Dask::worker_entry()` first in `main`: its workers \
             start this program to run the graph's blocks, and without that call they would run \
             `main` instead; add it as the first line of `main`"
        );
    }

    #[test]
    fn offsets_find_the_same_function() {
        fn probe() -> u32 {
            7
        }
        let offset = super::offset(probe as fn() -> u32 as usize);
        // SAFETY: the offset of `probe`, a `fn() -> u32`, in this executable.
        let back = unsafe { std::mem::transmute::<usize, fn() -> u32>(super::address(offset)) };
        assert_eq!(back(), 7);
    }

    #[test]
    fn a_shape_difference_names_the_first_call_site_that_differs() {
        let shape = |n: u32| Shape {
            families: vec![
                ("inc".into(), "src/main.rs:3:9".into(), 4, true),
                ("add".into(), "src/main.rs:4:9".into(), n, true),
            ],
            edges: 1,
        };
        assert_eq!(shape(3).difference(&shape(3)), None);
        assert_eq!(
            shape(9).difference(&shape(3)).unwrap(),
            "`add` at src/main.rs:4:9 has 3 nodes here but 9 in the client"
        );
        let mut fewer = shape(3);
        fewer.families.pop();
        assert_eq!(
            shape(3).difference(&fewer).unwrap(),
            "it has 1 call sites here but 2 in the client"
        );
        let mut edges = shape(3);
        edges.edges = 5;
        assert_eq!(
            shape(3).difference(&edges).unwrap(),
            "the edges between its tasks, or the nodes its output names, differ"
        );
    }
}
