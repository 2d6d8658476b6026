//! What is submitted: programs, jobs and the DAG of jobs.

use std::collections::HashSet;

use crate::ClusterError;

/// A program that every worker of a cluster has, or gets when it joins.
///
/// Made by [`Dask::program`](crate::Dask::program), which sends the file's
/// bytes to the cluster once; cheap to clone. Workers keep it under their
/// local directory, named by the SHA-256 of its content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProgramRef {
    pub(crate) hash: String,
    pub(crate) name: String,
    pub(crate) bytes: u64,
}

impl ProgramRef {
    /// The SHA-256 of the program's bytes, in lower-case hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The file name the program runs under on a worker (its name here).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program's size in bytes: what each worker received once.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    /// Whether the program file is empty (it cannot run then).
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }
}

/// One job: run `program` with `args` and `env`; its standard input is
/// `input` and the outputs of `deps` (see [`frame`](crate::frame)); its
/// standard output is its output.
///
/// The program inherits the worker's environment, with `env` added, and the
/// worker's working directory. Its standard error is returned only if it
/// fails.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's name: unique in its graph, shown in dask's dashboard. dask
    /// groups tasks by [`group`](Job::group), the part of the key before its
    /// first character that is not a letter, digit or `_`, so
    /// `inc[0..64]` and `inc[64..128]` are two tasks of the group `inc`.
    pub key: String,
    /// The program to run.
    pub program: ProgramRef,
    /// Its arguments (not including the program name).
    pub args: Vec<String>,
    /// Environment variables set for it, on top of the worker's.
    pub env: Vec<(String, String)>,
    /// The jobs whose outputs it reads, as indices of earlier jobs in the
    /// same [`JobGraph`]; the order is the order of the frames on stdin.
    pub deps: Vec<usize>,
    /// Extra bytes: the first frame of its standard input.
    pub input: Vec<u8>,
    /// Whether the framed input and the output go through files instead of
    /// standard input and output (see [`Job::through_files`]).
    pub files: bool,
    /// Whether a long-lived block runner of the program runs it (graphs'
    /// blocks, `graph/worker.rs`) instead of a process of its own.
    pub(crate) served: bool,
    /// Its share of the graph's work, in the scheduler's priorities (a
    /// block: its node count); 1 unless set.
    pub(crate) weight: u64,
    /// How many threads it can keep busy (a block: its node count over the
    /// longest chain of its nodes); 1 unless set.
    pub(crate) width: u32,
    /// Whether its dask task waits in the scheduler's queue with the
    /// graph's leaf blocks, by priority, while every worker is busy, rather
    /// than going to a worker as soon as its inputs are there (a
    /// `tree_reduce`'s combining block).
    pub(crate) queued: bool,
}

impl Job {
    /// A job with no arguments, environment, dependencies or input.
    pub fn new(key: impl Into<String>, program: &ProgramRef) -> Job {
        Job {
            key: key.into(),
            program: program.clone(),
            args: Vec::new(),
            env: Vec::new(),
            deps: Vec::new(),
            input: Vec::new(),
            files: false,
            served: false,
            weight: 1,
            width: 1,
            queued: false,
        }
    }

    /// Runs the job on a long-lived block runner of the program (a graph's
    /// block, see `graph/worker.rs`).
    pub(crate) fn served(mut self) -> Job {
        self.served = true;
        self
    }

    /// Sets its share of the graph's work (at least 1): a job's dask
    /// priority is the largest total weight on a chain of jobs from it to
    /// the graph's end, so the longest remaining path runs first.
    pub(crate) fn weight(mut self, weight: u64) -> Job {
        self.weight = weight.max(1);
        self
    }

    /// Sets how many threads it can keep busy (at least 1): a block's
    /// worker lends it no more idle threads than that.
    pub(crate) fn width(mut self, width: u32) -> Job {
        self.width = width.max(1);
        self
    }

    /// Makes it wait in the scheduler's queue, by priority, while every
    /// worker is busy (see the field of that name).
    pub(crate) fn queued(mut self, queued: bool) -> Job {
        self.queued = queued;
        self
    }

    /// Passes the framed input in a file named by the environment variable
    /// `TASKGRAPH_JOB_INPUT`, and takes the output from the file named by
    /// `TASKGRAPH_JOB_OUTPUT` (which the program creates), instead of
    /// standard input and output: the program's standard input is then
    /// empty and whatever it prints on standard output is not its output
    /// (it is kept with standard error if the job fails). Both files live
    /// in the worker's local directory and are removed when the job ends.
    pub fn through_files(mut self) -> Job {
        self.files = true;
        self
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Job {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Job
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the program.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Job {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Adds a dependency: the job at index `job` of the same graph.
    pub fn dep(mut self, job: usize) -> Job {
        self.deps.push(job);
        self
    }

    /// Adds dependencies, in order.
    pub fn deps(mut self, jobs: impl IntoIterator<Item = usize>) -> Job {
        self.deps.extend(jobs);
        self
    }

    /// Sets the job's own input bytes (frame 0 of its standard input).
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Job {
        self.input = bytes.into();
        self
    }

    /// The group dask shows this job under: the key up to its first
    /// character that is not an ASCII letter, digit or `_` (`"job"` if that is
    /// empty).
    pub fn group(&self) -> &str {
        let end = self
            .key
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.key.len());
        match &self.key[..end] {
            "" => "job",
            group => group,
        }
    }
}

/// A DAG of jobs, built in topological order: a job may depend only on jobs
/// pushed before it, so the graph has no cycles by construction.
///
/// All jobs run; [`output`](JobGraph::output) chooses whose outputs come back
/// to this process. Other outputs stay in the workers' memory only as long as a
/// dependent job still needs them.
#[derive(Debug, Clone, Default)]
pub struct JobGraph {
    pub(crate) jobs: Vec<Job>,
    pub(crate) outputs: Vec<usize>,
    /// Bytes every served job (a `graph!`'s block) reads before its
    /// dependencies' outputs: one dask value that all of them depend on,
    /// so that it reaches each worker once.
    pub(crate) header: Option<Vec<u8>>,
}

impl JobGraph {
    /// An empty graph.
    pub fn new() -> JobGraph {
        JobGraph::default()
    }

    /// Adds a job and returns its index, which later jobs name in `deps`.
    /// The graph is checked by [`Dask::submit`](crate::Dask::submit).
    pub fn push(&mut self, job: Job) -> usize {
        self.jobs.push(job);
        self.jobs.len() - 1
    }

    /// Asks for the output of job `job`: [`Submission::wait`] returns the
    /// outputs in the order of these calls.
    ///
    /// [`Submission::wait`]: crate::Submission::wait
    pub fn output(&mut self, job: usize) -> &mut JobGraph {
        self.outputs.push(job);
        self
    }

    /// The jobs, in the order they were pushed.
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// The jobs whose outputs are asked for, in order.
    pub fn outputs(&self) -> &[usize] {
        &self.outputs
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether the graph has no jobs.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Checks that every dependency names an earlier job, that keys are
    /// unique and non-empty, and that every output names a job.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let mut keys = HashSet::with_capacity(self.jobs.len());
        for (index, job) in self.jobs.iter().enumerate() {
            if job.key.is_empty() {
                return Err(ClusterError::InvalidGraph(format!(
                    "job #{index} has an empty key"
                )));
            }
            if !keys.insert(job.key.as_str()) {
                return Err(ClusterError::InvalidGraph(format!(
                    "two jobs have the key `{}` (the second is #{index}); keys must be unique",
                    job.key
                )));
            }
            if let Some(&dep) = job.deps.iter().find(|&&dep| dep >= index) {
                return Err(ClusterError::InvalidGraph(format!(
                    "job `{}` (#{index}) depends on #{dep}, which is not an earlier job; \
                     push dependencies first",
                    job.key
                )));
            }
        }
        if let Some(&out) = self.outputs.iter().find(|&&o| o >= self.jobs.len()) {
            return Err(ClusterError::InvalidGraph(format!(
                "output #{out} is not a job (the graph has {} jobs)",
                self.jobs.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> ProgramRef {
        ProgramRef {
            hash: "0".repeat(64),
            name: "p".into(),
            bytes: 1,
        }
    }

    #[test]
    fn groups() {
        let p = program();
        assert_eq!(Job::new("inc[0..64]", &p).group(), "inc");
        assert_eq!(Job::new("total", &p).group(), "total");
        assert_eq!(Job::new("load_file-3", &p).group(), "load_file");
        assert_eq!(Job::new("[0..3]", &p).group(), "job");
    }

    #[test]
    fn validation() {
        let p = program();
        let mut g = JobGraph::new();
        let a = g.push(Job::new("a", &p));
        g.push(Job::new("b", &p).dep(a));
        g.output(1);
        assert!(g.validate().is_ok());

        let mut forward = g.clone();
        forward.jobs[0].deps.push(1);
        assert!(
            matches!(forward.validate(), Err(ClusterError::InvalidGraph(m)) if m.contains("not an earlier job"))
        );

        let mut twice = g.clone();
        twice.push(Job::new("a", &p));
        assert!(
            matches!(twice.validate(), Err(ClusterError::InvalidGraph(m)) if m.contains("unique"))
        );

        let mut bad_output = g.clone();
        bad_output.output(7);
        assert!(bad_output.validate().is_err());
    }
}
