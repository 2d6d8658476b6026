//! One `cargo test` run asks the package index once. When a test binary
//! finds it unreachable, the binaries after it in the same run (children of
//! the same `cargo` process, within ten minutes) skip at once with the same
//! line, instead of each making the virtual environment again and waiting
//! out pip's retries (half a minute each).

use std::path::PathBuf;
use std::time::Duration;

use taskgraph_cluster::python::{cargo_target_venv, VENV_DIR};

/// How long a run's "unreachable" holds.
const FOR: Duration = Duration::from_secs(600);

/// `taskgraph-venv.unreachable` beside the virtual environment: the parent
/// process's id, then the line the binary skipped with.
fn marker() -> PathBuf {
    cargo_target_venv().with_file_name(format!("{VENV_DIR}.unreachable"))
}

/// The process that runs this test binary: `cargo test`.
fn this_run() -> Option<String> {
    #[cfg(unix)]
    return Some(std::os::unix::process::parent_id().to_string());
    #[cfg(not(unix))]
    None
}

/// The line an earlier binary of this run skipped with, if it found the
/// package index unreachable.
pub fn earlier() -> Option<String> {
    let path = marker();
    let age = std::fs::metadata(&path)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .ok()?;
    let text = std::fs::read_to_string(&path).ok()?;
    let (run, line) = text.split_once('\n')?;
    (age < FOR && run == this_run()?).then(|| line.to_owned())
}

/// Remembers for the rest of this run that the package index is
/// unreachable, and the line to skip with.
pub fn remember(line: &str) {
    if let Some(run) = this_run() {
        let _ = std::fs::write(marker(), format!("{run}\n{line}"));
    }
}
