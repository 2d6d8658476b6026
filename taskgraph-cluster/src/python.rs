//! Finding a Python that can import `distributed`; making one only when
//! asked to.
//!
//! [`Dask::local`](crate::Dask::local) and [`Dask::connect`](crate::Dask::connect)
//! look, in order, at:
//! 1. `TASKGRAPH_PYTHON`, if set;
//! 2. `python3` on `PATH`.
//!
//! The one found must be able to `import distributed`; if it cannot, they
//! fail with [`ClusterError::DistributedMissing`], whose message is the one
//! command that installs it. Nothing is installed behind the program's back.
//!
//! A program may instead opt into a virtual environment that taskgraph makes
//! and manages in a directory it names,
//! [`Dask::builder().managed_venv(dir)`](crate::DaskBuilder::managed_venv):
//! created with `python3 -m venv` and [`PINNED`] installed into it with pip
//! the first time (about 15 s; a lock file beside it makes concurrent
//! processes wait for the first one). If pip cannot reach the package index,
//! that is [`ClusterError::PackageIndexUnreachable`]; any other failure is
//! [`ClusterError::Setup`]. The tests and examples of this crate use one
//! under the cargo target directory ([`cargo_target_venv`]).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, PoisonError};

use crate::ClusterError;

/// What goes into a managed virtual environment: versions known to work with
/// Python 3.11 (bokeh serves the dashboard). If pip cannot install these, the
/// newest versions pip finds for the interpreter are installed instead.
pub const PINNED: &[&str] = &["distributed==2026.8.0", "bokeh==3.9.2"];

/// The name of the virtual environment's directory that the tests and
/// examples use in the cargo target directory ([`cargo_target_venv`]).
pub const VENV_DIR: &str = "taskgraph-venv";

const READY_MARKER: &str = "taskgraph-ready";

/// The Python interpreter found as the [module docs](self) say: one that can
/// `import distributed`, or an error that says what to install.
///
/// Fails with [`ClusterError::PythonNotFound`] when there is no `python3`
/// (and no `TASKGRAPH_PYTHON`), and with [`ClusterError::DistributedMissing`]
/// when the one found cannot `import distributed`.
pub fn interpreter() -> Result<PathBuf, ClusterError> {
    match std::env::var_os("TASKGRAPH_PYTHON").filter(|p| !p.is_empty()) {
        Some(python) => usable(Path::new(&python)),
        None => usable(Path::new("python3")),
    }
}

/// The Python of the virtual environment `dir`, made and given [`PINNED`]
/// if it is not ready yet (the opt-in of
/// [`DaskBuilder::managed_venv`](crate::DaskBuilder::managed_venv)).
///
/// Fails with [`ClusterError::PythonNotFound`] when there is no `python3` to
/// make it with, with [`ClusterError::PackageIndexUnreachable`] when pip
/// cannot reach the package index, and with [`ClusterError::Setup`] when
/// making it fails otherwise.
pub fn managed_venv(dir: &Path) -> Result<PathBuf, ClusterError> {
    // One maker per process; the lock file orders processes.
    static MAKING: Mutex<()> = Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(PoisonError::into_inner);
    if !is_ready(dir) {
        create_venv(dir)?;
    }
    Ok(venv_python(dir))
}

/// `taskgraph-venv` in the cargo target directory of the running
/// executable: the nearest ancestor of the executable that holds cargo's
/// `CACHEDIR.TAG`, else `CARGO_TARGET_DIR`, else `target` in the working
/// directory. What this crate's tests and examples pass to
/// [`managed_venv`].
pub fn cargo_target_venv() -> PathBuf {
    target_dir().join(VENV_DIR)
}

/// `python` if it can import distributed, else the error that says how to
/// get it.
fn usable(python: &Path) -> Result<PathBuf, ClusterError> {
    match has_distributed(python) {
        Ok(Some(path)) => Ok(path),
        Ok(None) => Err(ClusterError::DistributedMissing {
            python: python.to_string_lossy().into_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ClusterError::PythonNotFound),
        Err(e) => Err(ClusterError::Setup {
            message: format!("cannot run {}: {e}", python.display()),
        }),
    }
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
fn target_dir() -> PathBuf {
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
    let name = venv.file_name().unwrap_or_default().to_string_lossy();
    fs::create_dir_all(parent)
        .map_err(|e| setup(format!("cannot create {}: {e}", parent.display())))?;
    let lock_path = parent.join(format!("{name}.lock"));
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
    use super::{is_offline_text, usable};
    use crate::ClusterError;

    #[test]
    fn a_python_without_distributed_is_an_error_with_the_command() {
        // A stand-in interpreter that cannot import anything.
        let dir = std::env::temp_dir().join(format!("taskgraph-nopython-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let python = dir.join("python3");
        std::fs::write(&python, "#!/bin/sh\nexit 1\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = usable(&python).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(e, ClusterError::DistributedMissing { .. }), "{e}");
        let p = python.display();
        assert_eq!(
            e.to_string(),
            format!(
                "`{p}` cannot `import distributed`: install it with `{p} -m pip install \
                 distributed==2026.8.0 bokeh==3.9.2`, or set TASKGRAPH_PYTHON to a Python \
                 that has it, or let taskgraph make a virtual environment with it in a \
                 directory you choose: `Dask::builder().managed_venv(DIR)`"
            )
        );
        let e = usable(&dir.join("no-such-python")).unwrap_err();
        assert!(matches!(e, ClusterError::PythonNotFound), "{e}");
    }

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
