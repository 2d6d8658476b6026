//! A block's process: the program, started by a dask job with
//! `TASKGRAPH_BLOCK_OF` set, runs its `main` up to the graph it was sent
//! for; there it runs its block and exits.
//!
//! The graphs the program sends before that one are not sent again: their
//! outcome came with the block (`Spec::history`), and the handle of each
//! gives the same value or error as it did in the program that sent them.

use std::io::Write;
use std::sync::{Mutex, OnceLock, PoisonError};

use taskgraph_runtime::part::{Codec, Instance, NodeId, NodeRange, Part, Plan};
use taskgraph_runtime::{Error, FamilyInfo, Runtime};

use super::format;
use super::{decode_outputs, encode_outputs, infos, shape, Outcome, Report, Spec};
use super::{BLOCK_OF, ERROR_MARK};
use crate::frame;
use taskgraph_runtime::Graph;

/// The exit code of a block that reported a failure on standard error.
const FAILED: i32 = 3;

/// The block this process was started for.
struct Job {
    graph: u64,
    spec: Spec,
    /// The outputs of the blocks it depends on, in order.
    deps: Vec<Vec<Vec<u8>>>,
    output: std::path::PathBuf,
}

/// Whether this process runs a block of a graph (`TASKGRAPH_BLOCK_OF` is
/// set). A [`Dask`](crate::Dask) made here connects to nothing.
pub(crate) fn in_block() -> bool {
    std::env::var_os(BLOCK_OF).is_some()
}

/// The block's job, read once; exits the process if it cannot be read.
fn job() -> &'static Job {
    static JOB: OnceLock<Job> = OnceLock::new();
    JOB.get_or_init(|| match read_job() {
        Ok(job) => job,
        Err(message) => fail(&Report::Other { message }),
    })
}

fn read_job() -> Result<Job, String> {
    let var = |name: &str| {
        std::env::var_os(name).ok_or_else(|| {
            format!("{name} is not set: this program was started as a block of a graph ({BLOCK_OF} is set) by something other than taskgraph-cluster")
        })
    };
    let graph: u64 = var(BLOCK_OF)?
        .to_string_lossy()
        .parse()
        .map_err(|e| format!("{BLOCK_OF}: {e}"))?;
    let input = std::path::PathBuf::from(var("TASKGRAPH_JOB_INPUT")?);
    let output = std::path::PathBuf::from(var("TASKGRAPH_JOB_OUTPUT")?);
    let bytes = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
    let frames = frame::decode(&bytes).map_err(|e| format!("the block's input: {e}"))?;
    let spec: Spec = format::decode(frames.input, "the block's specification")?;
    let mut deps = Vec::with_capacity(frames.deps.len());
    for d in frames.deps {
        deps.push(decode_outputs(d).map_err(|e| e.to_string())?);
    }
    if deps.len() != spec.inputs.len() {
        return Err(format!(
            "the block has {} inputs but reads {}",
            deps.len(),
            spec.inputs.len()
        ));
    }
    Ok(Job {
        graph,
        spec,
        deps,
        output,
    })
}

/// Reports `report` on standard error and exits.
fn fail(report: &Report) -> ! {
    let line = serde_json::to_string(report).unwrap_or_default();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n{ERROR_MARK}{line}");
    let _ = err.flush();
    std::process::exit(FAILED)
}

/// The graph numbered `number` in this block's process: its outcome if an
/// earlier graph's is known (`None` if not), or, for the block's own graph,
/// its block (this does not return).
pub(crate) fn graph<G: Graph>(
    graph: G,
    codec: &'static dyn Codec,
    number: u64,
) -> Option<Result<G::Output, Error>> {
    let job = job();
    if number == job.graph {
        run_block(graph, codec, job)
    }
    if number > job.graph {
        diverged(number)
    }
    match job.spec.history.get(number as usize) {
        Some(Some(Outcome::Values(values))) => {
            let part = Assembling { values, codec };
            let rt = match block_runtime() {
                Ok(rt) => rt,
                Err(e) => return Some(Err(e)),
            };
            Some(graph.__part(rt, &part).and_then(|v| {
                v.ok_or_else(|| Error::cluster("taskgraph internal error: no output"))
            }))
        }
        Some(Some(Outcome::Failed(report))) => {
            // The names of the earlier graph's call sites: instantiate it.
            let part = Naming {
                infos: OnceLock::new(),
                codec,
            };
            let rt = match block_runtime() {
                Ok(rt) => rt,
                Err(e) => return Some(Err(e)),
            };
            let _ = graph.__part(rt, &part);
            let infos = part.infos.get().map(Vec::as_slice).unwrap_or(&[]);
            Some(Err(report.error(infos)))
        }
        _ => None,
    }
}

/// The program reached a graph past the one its block belongs to: it did
/// not run as it did where it was started.
pub(crate) fn diverged(number: u64) -> ! {
    fail(&Report::Other {
        message: format!(
            "this program, run again for a block of its graph #{} on a worker, \
             sent graph #{number} to the cluster first: the code before a graph is \
             sent must do the same with the same arguments every time (no randomness, \
             clock or environment in it, and nothing it reads may differ between machines)",
            job().graph
        ),
    })
}

/// The program waited for a graph whose end the program that sent this
/// block had not seen.
pub(crate) fn diverged_wait() -> ! {
    fail(&Report::Other {
        message: format!(
            "this program, run again for a block of its graph #{} on a worker, waited for \
             an earlier graph that the program sending the block had not waited for: the \
             code before a graph is sent must do the same every time",
            job().graph
        ),
    })
}

fn block_runtime() -> Result<&'static Runtime, Error> {
    static RT: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = Runtime::new(1)?;
    Ok(RT.get_or_init(|| rt))
}

/// Runs this process's block of `graph`, writes what it sends on, exits.
fn run_block<G: Graph>(graph: G, codec: &'static dyn Codec, job: &Job) -> ! {
    let part = Block {
        job,
        codec,
        values: Mutex::new(vec![None; job.spec.collect.len()]),
        infos: OnceLock::new(),
    };
    let r = match block_runtime() {
        Ok(rt) => graph.__part(rt, &part),
        Err(e) => Err(e),
    };
    let infos = part.infos.get().map(Vec::as_slice).unwrap_or(&[]);
    match r {
        Ok(None) => {}
        Ok(Some(_)) => fail(&Report::Other {
            message: "taskgraph internal error: a block took the graph's output".into(),
        }),
        Err(e) => fail(&Report::of(&e, infos)),
    }
    let values = part
        .values
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::with_capacity(values.len());
    for (k, v) in values.into_iter().enumerate() {
        match v {
            Some(v) => out.push(v),
            None => fail(&Report::Other {
                message: format!(
                    "taskgraph internal error: block `{}` did not make node {:?}",
                    job.spec.name, job.spec.collect[k]
                ),
            }),
        }
    }
    if let Err(e) = std::fs::write(&job.output, encode_outputs(&out)) {
        fail(&Report::Other {
            message: format!("cannot write {}: {e}", job.output.display()),
        })
    }
    std::process::exit(0)
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
        if shape(graph) != spec.shape {
            return Err(Error::cluster(format!(
                "this program, run again on a worker for block `{}`, built a different graph \
                 than the program that sent it: the code before a graph is sent must build it \
                 the same way every time, from the same arguments (no randomness, clock, \
                 environment or files that differ between machines)",
                spec.name
            )));
        }
        let mut inject = Vec::new();
        for (d, list) in spec.inputs.iter().enumerate() {
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

/// An earlier graph's output, from its output nodes' values.
struct Assembling<'a> {
    values: &'a [((u32, u32), Vec<u8>)],
    codec: &'static dyn Codec,
}

impl Part for Assembling<'_> {
    fn plan<'s>(&'s self, _: &Instance) -> Result<Plan<'s>, Error> {
        Ok(Plan {
            run: Vec::new(),
            inject: self
                .values
                .iter()
                .map(|&((f, i), ref b)| (NodeId::new(f, i), &b[..]))
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

/// Instantiates an earlier graph only to learn its call sites.
struct Naming {
    infos: OnceLock<Vec<&'static FamilyInfo>>,
    codec: &'static dyn Codec,
}

impl Part for Naming {
    fn plan<'s>(&'s self, graph: &Instance) -> Result<Plan<'s>, Error> {
        self.infos.get_or_init(|| infos(graph));
        Err(Error::cluster("named"))
    }

    fn codec(&self) -> &dyn Codec {
        self.codec
    }

    fn produced(&self, _: usize, _: Vec<u8>) {}
}
