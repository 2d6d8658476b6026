//! A block runner: the program, started by the driver on a worker with
//! `TASKGRAPH_BLOCK` set, becomes one in [`Dask::worker_entry`] before any of
//! its own code runs. It lives as long as its worker: it reads blocks from
//! the pipe named by `TASKGRAPH_RUNNER_FDS` (`R,W`: a `u64` length and the
//! job's framed input), runs each, and answers on the other (a status byte,
//! 0 for the block's outputs or 1 for its failure report as JSON, then a
//! `u64` length and the bytes). The driver keeps one such runner per
//! concurrently running block of a worker, and starts a new one only when
//! all are busy or one died.
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

use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use taskgraph_runtime::part::{Codec, Instance, NodeId, NodeRange, Part, Plan};
use taskgraph_runtime::{Error, FamilyInfo, Graph, Runtime};

use super::codec::{codec_of, read_inputs};
use super::format;
use super::{decode_outputs, encode_outputs, infos, shape, Inputs, Report, Spec};
use super::{BLOCK, ERROR_MARK, PROGRAM_HASH, RUNNER_FDS};
use crate::frame;

/// The exit code of a block that reported a failure on standard error.
const FAILED: i32 = 3;

/// The block runner's entry for one graph's types: the block's values, in
/// the order of `Spec::collect`, or its failure.
pub(crate) type Entry = fn(&Job) -> Result<Vec<Vec<u8>>, Report>;

/// The block this process was started for.
pub(crate) struct Job {
    spec: Spec,
    /// The outputs of the blocks it depends on, in order.
    deps: Vec<Vec<Vec<u8>>>,
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

fn read_job(bytes: &[u8]) -> Result<Job, String> {
    let frames = frame::decode(bytes).map_err(|e| format!("the block's input: {e}"))?;
    let spec: Spec = format::decode(frames.input, "the block's specification")?;
    let mut deps = Vec::with_capacity(frames.deps.len());
    for d in frames.deps {
        deps.push(decode_outputs(d).map_err(|e| e.to_string())?);
    }
    if deps.len() != spec.takes.len() {
        return Err(format!(
            "the block has {} inputs but reads {}",
            deps.len(),
            spec.takes.len()
        ));
    }
    let here = std::env::var(PROGRAM_HASH).map_err(|_| {
        format!(
            "{PROGRAM_HASH} is not set: this program was started as a block runner ({BLOCK} \
             is set) by something other than taskgraph-cluster"
        )
    })?;
    if here != spec.program {
        return Err(format!(
            "block `{}` of {} was sent by the program {} but runs in the program {}: a block \
             runs only in the client's own executable",
            spec.name,
            spec.id,
            short(&spec.program),
            short(&here)
        ));
    }
    Ok(Job { spec, deps })
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
    let (mut requests, answers) =
        unsafe { (std::fs::File::from_raw_fd(r), std::fs::File::from_raw_fd(w)) };
    let mut answers = std::io::BufWriter::new(answers);
    loop {
        let mut len = [0; 8];
        if requests.read_exact(&mut len).is_err() {
            // The driver closed the pipe (its worker is closing or died).
            std::process::exit(0)
        }
        let mut request = vec![0; u64::from_le_bytes(len) as usize];
        if requests.read_exact(&mut request).is_err() {
            std::process::exit(0)
        }
        let (status, body) = match block(&request) {
            Ok(values) => (0u8, encode_outputs(&values)),
            Err(report) => (1u8, serde_json::to_vec(&report).unwrap_or_default()),
        };
        let sent = answers
            .write_all(&[status])
            .and_then(|()| answers.write_all(&(body.len() as u64).to_le_bytes()))
            .and_then(|()| answers.write_all(&body))
            .and_then(|()| answers.flush());
        if sent.is_err() {
            std::process::exit(0)
        }
    }
}

/// Runs one block: its values, or its failure.
fn block(request: &[u8]) -> Result<Vec<Vec<u8>>, Report> {
    let job = read_job(request).map_err(|message| Report::Other { message })?;
    // SAFETY: `spec.entry` is the offset of `entry::<I, G>`, an `Entry`, from
    // `anchor` in the client's executable (`prepare`), and this process runs
    // that executable: the driver ran the file of the client's program hash
    // and told us that hash, which `read_job` checked against the spec's.
    // The same file, loaded anywhere, keeps its functions' offsets.
    let entry: Entry = unsafe { std::mem::transmute::<usize, Entry>(address(job.spec.entry)) };
    // A task's panic is the runtime's to report; this catches one in the
    // graph's own function, so that the runner lives on.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry(&job))) {
        Ok(r) => r,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            Err(Report::Other {
                message: format!(
                    "{}: the graph's function panicked on a worker, building block `{}`: \
                     {message}",
                    job.spec.id, job.spec.name
                ),
            })
        }
    }
}

/// The block runner for graphs of type `G` built from inputs `I`: builds
/// the graph from the block's inputs and runs the block.
pub(crate) fn entry<I: Inputs, G: Graph>(job: &Job) -> Result<Vec<Vec<u8>>, Report> {
    let spec = &job.spec;
    let other = |message: String| Report::Other { message };
    if spec.id.graph_type != std::any::type_name::<G>()
        || spec.id.input_type != std::any::type_name::<I>()
    {
        return Err(other(format!(
            "taskgraph internal error: block `{}` of {} reached the entry for graphs of type \
             {} from {}",
            spec.name,
            spec.id,
            std::any::type_name::<G>(),
            std::any::type_name::<I>()
        )));
    }
    // SAFETY: `spec.build` is the offset from `anchor` of the `fn(I) -> G`
    // that the client passed with these very `I` and `G` (`prepare` took
    // both offsets together), in this same executable (see `run`).
    let build = unsafe { std::mem::transmute::<usize, fn(I) -> G>(address(spec.build)) };
    let inputs: I = read_inputs(&spec.inputs).map_err(|e| other(e.to_string()))?;
    let graph = build(inputs);
    let codec = codec_of(&graph).map_err(|e| other(e.to_string()))?;
    let part = Block {
        job,
        codec,
        values: Mutex::new(vec![None; spec.collect.len()]),
        infos: OnceLock::new(),
    };
    let r = match block_runtime() {
        Ok(rt) => graph.__part(rt, &part),
        Err(e) => Err(e),
    };
    let infos = part.infos.get().map(Vec::as_slice).unwrap_or(&[]);
    match r {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(other(
                "taskgraph internal error: a block took the graph's output".into(),
            ))
        }
        Err(e) => return Err(Report::of(&e, infos)),
    }
    let values = part
        .values
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::with_capacity(values.len());
    for (k, v) in values.into_iter().enumerate() {
        match v {
            Some(v) => out.push(v),
            None => {
                return Err(other(format!(
                    "taskgraph internal error: block `{}` did not make node {:?}",
                    spec.name, spec.collect[k]
                )))
            }
        }
    }
    Ok(out)
}

fn block_runtime() -> Result<&'static Runtime, Error> {
    static RT: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = Runtime::new(1)?;
    Ok(RT.get_or_init(|| rt))
}

/// A block's part: its nodes, the values it is given, the values it sends.
struct Block<'j> {
    job: &'j Job,
    codec: &'static dyn Codec,
    values: Mutex<Vec<Option<Vec<u8>>>>,
    infos: OnceLock<Vec<&'static FamilyInfo>>,
}

impl Part for Block<'_> {
    fn plan<'s>(&'s self, graph: &Instance) -> Result<Plan<'s>, Error> {
        self.infos.get_or_init(|| infos(graph));
        let spec = &self.job.spec;
        if let Some(what) = spec.shape.difference(&shape(graph)) {
            return Err(Error::cluster(format!(
                "{}: block `{}` built a graph of another shape on a worker than the client \
                 did from the same inputs: {what}. A graph's function must build it from its \
                 inputs alone (nothing read from the environment, files, the clock or \
                 randomness that may differ between machines): pass such values as inputs",
                spec.id, spec.name
            )));
        }
        let mut inject = Vec::new();
        for (d, list) in spec.takes.iter().enumerate() {
            for &(pos, (f, i)) in list {
                let bytes = self.job.deps[d].get(pos as usize).ok_or_else(|| {
                    Error::cluster("a block's input holds fewer values than it should")
                })?;
                inject.push((NodeId::new(f, i), &bytes[..]));
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
        self.codec
    }

    fn produced(&self, position: usize, bytes: Vec<u8>) {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)[position] = Some(bytes);
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
