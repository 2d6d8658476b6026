//! Shared by the integration tests: one cluster at a time, the test job, and
//! output that shows without `--nocapture`.

#![allow(dead_code)] // each test file uses a part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use taskgraph_cluster::{ClusterError, Dask, ProgramRef};

pub mod offline;

/// The test job binary: sums its framed input (see src/bin/testjob.rs).
pub const TESTJOB: &str = env!("CARGO_BIN_EXE_taskgraph-cluster-testjob");

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A local cluster that no other test of this binary runs beside: the machine
/// has few cores and clusters are processes.
pub struct Cluster {
    pub dask: Dask,
    _turn: MutexGuard<'static, ()>,
}

impl Deref for Cluster {
    type Target = Dask;
    fn deref(&self) -> &Dask {
        &self.dask
    }
}

/// The tests' way to start a cluster: `TASKGRAPH_PYTHON` if set, else a
/// virtual environment under the cargo target directory that the tests
/// make the first time (they opt into it; a program is never given one
/// unasked).
pub fn builder() -> taskgraph_cluster::DaskBuilder {
    Dask::builder().managed_venv(taskgraph_cluster::python::cargo_target_venv())
}

/// Starts a local cluster of `workers` x `threads`, or says why not (one
/// line, once) and returns None when there is no Python at all, or when
/// `distributed` must be installed and the package index cannot be
/// reached (asked once per `cargo test` run: see `offline`). Any other
/// failure fails the test.
pub fn cluster(workers: usize, threads: usize) -> Option<Cluster> {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    static SAID: Once = Once::new();
    let skip = |line: &str| SAID.call_once(|| say(&format!("skipping the dask tests: {line}")));
    if let Some(line) = offline::earlier() {
        skip(&line);
        return None;
    }
    match builder().local(workers, threads) {
        Ok(dask) => Some(Cluster { dask, _turn: turn }),
        Err(e @ (ClusterError::PythonNotFound | ClusterError::PackageIndexUnreachable { .. })) => {
            let line = first_line(&e);
            if matches!(e, ClusterError::PackageIndexUnreachable { .. }) {
                offline::remember(&line);
            }
            skip(&line);
            None
        }
        Err(e) => panic!("cannot start a local dask cluster: {e}"),
    }
}

/// The first line of `e`: a skip is one line, whatever pip printed.
fn first_line(e: &ClusterError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

/// The test job, registered with the cluster.
pub fn testjob(dask: &Dask) -> ProgramRef {
    dask.program(TESTJOB).expect("register the test job")
}

/// An i64 as a job input or output.
pub fn bytes(n: i64) -> Vec<u8> {
    n.to_le_bytes().to_vec()
}

/// A job output read back as an i64.
pub fn num(output: &[u8]) -> i64 {
    i64::from_le_bytes(output.try_into().expect("an 8-byte output"))
}

/// Writes a line to stderr directly: the test harness captures `println!`
/// and `eprintln!`, not writes to the stream itself.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// GET `url` (plain http on loopback); returns the status code and the body.
pub fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// address");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host).expect("connect to the dashboard");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read the page");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
