//! Finding a Python that can import `distributed`, or making one.
//!
//! In order:
//! 1. `TASKGRAPH_PYTHON`, if set, is used as it is.
//! 2. The virtual environment `taskgraph-venv` in the cargo target directory,
//!    if an earlier run finished installing it.
//! 3. `python3` from `PATH`, if it can `import distributed`.
//! 4. Otherwise that virtual environment is created with `python3 -m venv` and
//!    [`PINNED`] is installed into it with pip (about 15 s, once per target
//!    directory). A lock file next to it makes concurrent test processes wait
//!    for the first one instead of racing it. If pip cannot reach the package
//!    index, that is [`ClusterError::PackageIndexUnreachable`] (the tests
//!    skip on it, as they do without Python); any other failure is
//!    [`ClusterError::Setup`].
//!
//! In a block of a graph (the program run again on a worker, see
//! [`Dask`](crate::Dask#graphs)) step 4 is skipped: a worker's directory is
//! not a target directory, and a block must not spend seconds installing.
//!
//! The target directory is the nearest ancestor of the running executable
//! that holds cargo's `CACHEDIR.TAG` (tests, examples and binaries all live
//! under it), else `CARGO_TARGET_DIR`, else `target` in the working directory.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::ClusterError;

/// What goes into a new virtual environment: versions known to work with
/// Python 3.11 (bokeh serves the dashboard). If pip cannot install these, the
/// newest versions pip finds for the interpreter are installed instead.
pub const PINNED: &[&str] = &["distributed==2026.8.0", "bokeh==3.9.2"];

/// The name of the virtual environment's directory in the target directory.
pub const VENV_DIR: &str = "taskgraph-venv";

const READY_MARKER: &str = "taskgraph-ready";

/// The Python interpreter the driver runs with: found, or made as described
/// in the [module docs](self), once per process (later calls return the
/// first answer). A set-up script may call it to make the virtual environment
/// ahead of the tests.
///
/// Fails with [`ClusterError::PythonNotFound`] when there is no `python3`,
/// with [`ClusterError::PackageIndexUnreachable`] when pip cannot reach the
/// package index, and with [`ClusterError::Setup`] when creating the
/// environment fails otherwise.
pub fn interpreter() -> Result<PathBuf, ClusterError> {
    static FOUND: OnceLock<Result<PathBuf, Failure>> = OnceLock::new();
    match FOUND.get_or_init(|| find().map_err(|e| Failure::of(&e))) {
        Ok(path) => Ok(path.clone()),
        Err(e) => Err(e.error()),
    }
}

/// A cached failure: `ClusterError` is not `Clone`.
enum Failure {
    NoPython,
    Offline(String),
    Setup(String),
}

impl Failure {
    fn of(e: &ClusterError) -> Failure {
        match e {
            ClusterError::PythonNotFound => Failure::NoPython,
            ClusterError::PackageIndexUnreachable { message } => Failure::Offline(message.clone()),
            ClusterError::Setup { message } => Failure::Setup(message.clone()),
            other => Failure::Setup(other.to_string()),
        }
    }

    fn error(&self) -> ClusterError {
        match self {
            Failure::NoPython => ClusterError::PythonNotFound,
            Failure::Offline(message) => ClusterError::PackageIndexUnreachable {
                message: message.clone(),
            },
            Failure::Setup(message) => ClusterError::Setup {
                message: message.clone(),
            },
        }
    }
}

fn find() -> Result<PathBuf, ClusterError> {
    if let Some(python) = std::env::var_os("TASKGRAPH_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(python));
    }
    let venv = target_dir().join(VENV_DIR);
    if is_ready(&venv) {
        return Ok(venv_python(&venv));
    }
    match has_distributed(Path::new("python3")) {
        Ok(Some(path)) => return Ok(path),
        Ok(None) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ClusterError::PythonNotFound),
        Err(e) => {
            return Err(ClusterError::Setup {
                message: format!("cannot run python3: {e}"),
            })
        }
    }
    if crate::graph::in_block() {
        return Err(ClusterError::Setup {
            message: "no Python with `distributed` here, and this process runs a block of a \
                      graph on a worker, where none is installed: set TASKGRAPH_PYTHON, or \
                      look for Python only outside blocks"
                .to_owned(),
        });
    }
    create_venv(&venv)?;
    Ok(venv_python(&venv))
}

/// `Some(sys.executable)` if `python` can import distributed.
fn has_distributed(python: &Path) -> io::Result<Option<PathBuf>> {
    let out = Command::new(python)
        .args(["-c", "import sys, distributed; print(sys.executable)"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((out.status.success() && !path.is_empty()).then(|| PathBuf::from(path)))
}

/// The cargo target directory this executable was built in.
pub(crate) fn target_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe
            .ancestors()
            .skip(1)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        {
            return dir.to_path_buf();
        }
    }
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| OsString::from("target"));
    let dir = PathBuf::from(dir);
    if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir().unwrap_or_default().join(dir)
    }
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn is_ready(venv: &Path) -> bool {
    venv_python(venv).exists() && venv.join(READY_MARKER).is_file()
}

fn create_venv(venv: &Path) -> Result<(), ClusterError> {
    let setup = |message: String| ClusterError::Setup { message };
    let parent = venv.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .map_err(|e| setup(format!("cannot create {}: {e}", parent.display())))?;
    let lock_path = parent.join(format!("{VENV_DIR}.lock"));
    let lock = File::create(&lock_path)
        .map_err(|e| setup(format!("cannot create {}: {e}", lock_path.display())))?;
    // Held until `lock` is dropped; another process blocks here until the
    // first one has finished (or failed), then finds the environment ready.
    lock.lock()
        .map_err(|e| setup(format!("cannot lock {}: {e}", lock_path.display())))?;
    if is_ready(venv) {
        return Ok(());
    }
    let _ = writeln!(
        io::stderr(),
        "taskgraph-cluster: installing dask.distributed into {} (once; about 15 s)",
        venv.display()
    );
    if venv.exists() {
        fs::remove_dir_all(venv)
            .map_err(|e| setup(format!("cannot remove a broken {}: {e}", venv.display())))?;
    }
    match Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(venv)
        .stdin(Stdio::null())
        .output()
    {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ClusterError::PythonNotFound),
        Err(e) => return Err(setup(format!("cannot run python3 -m venv: {e}"))),
        Ok(out) => check(&out, "python3 -m venv")?,
    }
    let pip = |packages: &[&str]| {
        Command::new(venv_python(venv))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .args(packages)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| setup(format!("cannot run pip: {e}")))
    };
    let out = pip(PINNED)?;
    if !out.status.success() && is_offline(&out) {
        // Trying other versions would fail the same way, only slower.
        let _ = fs::remove_dir_all(venv);
        return Err(ClusterError::PackageIndexUnreachable {
            message: failed(&out, "pip install"),
        });
    }
    if !out.status.success() {
        let _ = writeln!(
            io::stderr(),
            "taskgraph-cluster: pip could not install {}; trying the newest compatible versions",
            PINNED.join(" ")
        );
        check(
            &pip(&["distributed", "bokeh"])?,
            "pip install distributed bokeh",
        )?;
    }
    fs::write(venv.join(READY_MARKER), PINNED.join("\n")).map_err(|e| {
        setup(format!(
            "cannot write the marker in {}: {e}",
            venv.display()
        ))
    })?;
    Ok(())
}

fn check(out: &Output, what: &str) -> Result<(), ClusterError> {
    if out.status.success() {
        return Ok(());
    }
    Err(ClusterError::Setup {
        message: failed(out, what),
    })
}

/// What `what` printed when it failed: its exit status and output's tail.
fn failed(out: &Output, what: &str) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    format!("`{what}` failed ({}):\n{}", out.status, tail(&text, 4000))
}

/// Whether pip's output says it failed because the package index could not
/// be reached (no network, no DNS, a refusing proxy), as opposed to any
/// other failure, which stays a [`ClusterError::Setup`].
fn is_offline(out: &Output) -> bool {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    is_offline_text(&text)
}

fn is_offline_text(text: &str) -> bool {
    const SIGNS: &[&str] = &[
        "NewConnectionError",
        "Failed to establish a new connection",
        "Temporary failure in name resolution",
        "Name or service not known",
        "nodename nor servname provided",
        "getaddrinfo failed",
        "Network is unreachable",
        "No route to host",
        "ConnectTimeoutError",
        "ProxyError",
        "Could not fetch URL",
    ];
    SIGNS.iter().any(|sign| text.contains(sign))
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub(crate) fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::is_offline_text;

    #[test]
    fn offline_pip_is_told_from_other_failures() {
        // What pip 24 prints without network.
        let offline = "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, \
            status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.\
            connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: \
            [Errno -3] Temporary failure in name resolution')': /simple/distributed/\n\
            ERROR: Could not find a version that satisfies the requirement distributed==2026.8.0 \
            (from versions: none)\nERROR: No matching distribution found for distributed==2026.8.0";
        assert!(is_offline_text(offline));
        // A version that does not exist, with the index reachable: not offline.
        let missing = "ERROR: Could not find a version that satisfies the requirement \
            distributed==0.0.0 (from versions: 1.0, 2.0)\nERROR: No matching distribution found \
            for distributed==0.0.0";
        assert!(!is_offline_text(missing));
        assert!(!is_offline_text("error: externally-managed-environment"));
    }
}
