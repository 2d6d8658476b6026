//! The one error type of the crate.

use std::fmt;

/// Everything that can go wrong between this process and the cluster.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError {
    /// There is no `python3` on `PATH` (and `TASKGRAPH_PYTHON` is not set,
    /// or names no program), so neither a Python with `distributed` nor a
    /// virtual environment for it can be had.
    PythonNotFound,
    /// The Python found (see [`python`](crate::python)) cannot `import
    /// distributed`; the message says the command that installs it.
    DistributedMissing {
        /// The interpreter that was tried.
        python: String,
    },
    /// pip could not reach the Python package index to install `distributed`
    /// into a managed virtual environment (no network, a proxy, DNS): a problem
    /// of the machine, not of taskgraph; `message` ends with the tail of
    /// pip's output. Set `TASKGRAPH_PYTHON` to a Python that can `import
    /// distributed`, or retry with network access.
    PackageIndexUnreachable {
        /// What failed, and pip's output.
        message: String,
    },
    /// Creating the virtual environment or installing `distributed` into it
    /// failed; `message` ends with the tail of the failing command's output.
    Setup {
        /// What failed, and the command's output.
        message: String,
    },
    /// The Python driver process could not be started, broke the protocol, or
    /// exited; `stderr` is the tail of what it printed.
    Driver {
        /// What went wrong.
        message: String,
        /// The last lines the driver (and the cluster it started) printed.
        stderr: String,
    },
    /// dask reported an error that is not a job's own failure: the scheduler
    /// is unreachable, a worker died too often (`KilledWorker`), a program
    /// file cannot be read, a request timed out.
    Dask {
        /// dask's message (`ExceptionType: text`).
        message: String,
    },
    /// A job's program exited non-zero or was killed by a signal. Jobs that
    /// depend on it did not run; the rest of the submission was cancelled.
    JobFailed {
        /// The failing job's [`key`](crate::Job::key).
        key: String,
        /// The failing job's index in its [`JobGraph`](crate::JobGraph).
        job: usize,
        /// The exit code, or minus the signal number if a signal killed it.
        code: i32,
        /// Everything the program wrote to its standard error.
        stderr: Vec<u8>,
    },
    /// The [`JobGraph`](crate::JobGraph) is malformed: a dependency that is
    /// not an earlier job, a repeated key, an unknown output.
    InvalidGraph(String),
    /// The submission was cancelled before it finished.
    Cancelled,
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::PythonNotFound => f.write_str(
                "taskgraph-cluster needs Python 3 with `distributed`: no `python3` on \
                 PATH (or set TASKGRAPH_PYTHON to a Python that can `import distributed`)",
            ),
            ClusterError::DistributedMissing { python } => write!(
                f,
                "`{python}` cannot `import distributed`: install it with `{python} -m pip \
                 install {}`, or set TASKGRAPH_PYTHON to a Python that has it, or let \
                 taskgraph make a virtual environment with it in a directory you choose: \
                 `Dask::builder().managed_venv(DIR)`",
                crate::python::PINNED.join(" ")
            ),
            ClusterError::Setup { message } => {
                write!(f, "setting up Python for dask failed: {message}")
            }
            ClusterError::PackageIndexUnreachable { message } => write!(
                f,
                "cannot install dask.distributed: the Python package index is unreachable \
                 (set TASKGRAPH_PYTHON to a Python that can `import distributed`, or retry \
                 with network access)\n{message}"
            ),
            ClusterError::Driver { message, stderr } => {
                write!(f, "the dask driver process failed: {message}")?;
                if !stderr.is_empty() {
                    write!(f, "\n--- driver stderr (tail) ---\n{stderr}")?;
                }
                Ok(())
            }
            ClusterError::Dask { message } => write!(f, "dask: {message}"),
            ClusterError::JobFailed {
                key, code, stderr, ..
            } => {
                if *code < 0 {
                    write!(f, "job `{key}` was killed by signal {}", -code)?;
                } else {
                    write!(f, "job `{key}` exited with code {code}")?;
                }
                let stderr = String::from_utf8_lossy(stderr);
                let stderr = stderr.trim_end();
                if !stderr.is_empty() {
                    write!(f, ": {stderr}")?;
                }
                Ok(())
            }
            ClusterError::InvalidGraph(message) => write!(f, "invalid job graph: {message}"),
            ClusterError::Cancelled => f.write_str("the submission was cancelled"),
        }
    }
}

impl std::error::Error for ClusterError {}
