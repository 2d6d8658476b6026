//! The Python driver process and the protocol spoken with it.
//!
//! One JSON object per line each way; a line may be followed by raw bytes
//! (its `blobs` field lists their lengths). Requests carry `id` and `op`;
//! answers carry `re` and `ok`; unprompted messages carry `ev`. The protocol is
//! described in full at the top of `driver.py`.
//!
//! One thread reads the driver's stdout and routes each message: answers to
//! the thread waiting in [`Driver::request`], events to their submission's
//! state. Another keeps the tail of its stderr for error messages.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::submission::SubState;
use crate::ClusterError;

const SCRIPT: &str = include_str!("driver.py");

/// Lines of the driver's stderr kept for error messages.
const STDERR_LINES: usize = 60;

/// How long closing waits for the driver to stop its cluster before killing it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A message from the driver: its JSON fields and the bytes that followed it.
pub(crate) struct Message {
    pub fields: Map<String, Value>,
    pub blobs: Vec<Vec<u8>>,
}

impl Message {
    /// Reads the fields as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ClusterError> {
        T::deserialize(Value::Object(self.fields.clone())).map_err(|e| ClusterError::Driver {
            message: format!("unexpected message {:?}: {e}", self.fields),
            stderr: String::new(),
        })
    }
}

type Reply = Result<Message, ClusterError>;

#[derive(Default)]
struct Routes {
    pending: HashMap<u64, mpsc::Sender<Reply>>,
    subs: HashMap<u64, Arc<SubState>>,
    /// Set once the driver's stdout has ended: why it is gone.
    gone: Option<String>,
}

struct Shared {
    routes: Mutex<Routes>,
    stderr: Mutex<VecDeque<String>>,
    /// The cluster's threads, in all, as the driver last said (its
    /// `threads` event: at start and whenever a worker joins or leaves);
    /// [`UNKNOWN`] before it said.
    threads: AtomicU64,
}

/// [`Shared::threads`] before the driver has said.
const UNKNOWN: u64 = u64::MAX;

impl Shared {
    fn routes(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn driver_error(&self, message: impl Into<String>) -> ClusterError {
        ClusterError::Driver {
            message: message.into(),
            stderr: self.stderr_tail(),
        }
    }
}

/// How many driver script directories this process has named.
static SCRIPT_DIRS: AtomicU64 = AtomicU64::new(0);

/// The running driver process.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Option<Child>>,
    next_id: AtomicU64,
    script: PathBuf,
}

impl Driver {
    /// Writes the script to a temporary file and starts it with `python`.
    pub fn start(python: PathBuf) -> Result<Driver, ClusterError> {
        let fail = |message: String| ClusterError::Driver {
            message,
            stderr: String::new(),
        };
        // A directory of our own (creating it fails if the name is taken), so
        // nobody else's file or link is written through. A name can be taken
        // by a directory an earlier process with the same id left behind
        // (killed before it cleaned up): then the next name is tried.
        let mut tries = 0;
        let dir = loop {
            let dir = std::env::temp_dir().join(format!(
                "taskgraph-cluster-{}-{}",
                std::process::id(),
                SCRIPT_DIRS.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 64 => {
                    tries += 1;
                }
                Err(e) => {
                    return Err(fail(format!("cannot create {}: {e}", dir.display())));
                }
            }
        };
        let script = dir.join("driver.py");
        std::fs::write(&script, SCRIPT).map_err(|e| {
            remove_script(&script);
            fail(format!("cannot write {}: {e}", script.display()))
        })?;
        let spawned = Command::new(&python)
            .arg("-u")
            .arg(&script)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                remove_script(&script);
                return Err(fail(format!("cannot start {}: {e}", python.display())));
            }
        };
        let shared = Arc::new(Shared {
            routes: Mutex::new(Routes::default()),
            stderr: Mutex::new(VecDeque::new()),
            threads: AtomicU64::new(UNKNOWN),
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let stdin = child.stdin.take();
        {
            let shared = shared.clone();
            thread::Builder::new()
                .name("taskgraph-dask-stderr".into())
                .spawn(move || keep_stderr(stderr, &shared))
                .map_err(|e| fail(format!("cannot start a thread: {e}")))?;
        }
        {
            let shared = shared.clone();
            thread::Builder::new()
                .name("taskgraph-dask-reader".into())
                .spawn(move || read_messages(stdout, &shared))
                .map_err(|e| fail(format!("cannot start a thread: {e}")))?;
        }
        Ok(Driver {
            shared,
            stdin: Mutex::new(stdin),
            child: Mutex::new(Some(child)),
            next_id: AtomicU64::new(1),
            script,
        })
    }

    /// Sends a request and waits for its answer. `fields` must be a JSON
    /// object; `blobs` follow the line.
    pub fn request(&self, op: &str, fields: Value, blobs: &[&[u8]]) -> Reply {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        {
            let mut routes = self.shared.routes();
            if let Some(why) = &routes.gone {
                return Err(self.shared.driver_error(why.clone()));
            }
            routes.pending.insert(id, tx);
        }
        if let Err(e) = self.send(id, op, fields, blobs) {
            self.shared.routes().pending.remove(&id);
            return Err(self
                .shared
                .driver_error(format!("cannot write to the driver: {e}")));
        }
        match rx.recv() {
            Ok(reply) => reply,
            Err(_) => Err(self.shared.driver_error("the driver exited")),
        }
    }

    /// Sends a request whose answer nobody waits for.
    pub fn notify(&self, op: &str, fields: Value) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.send(id, op, fields, &[]);
    }

    /// The cluster's threads, in all, as the driver last told them
    /// unprompted (it follows workers joining and leaving); `None` if it
    /// has not yet.
    pub fn threads(&self) -> Option<usize> {
        match self.shared.threads.load(Ordering::Relaxed) {
            UNKNOWN => None,
            n => Some(n as usize),
        }
    }

    /// Routes the events of submission `sub` to `state` until it is done.
    pub fn register(&self, sub: u64, state: Arc<SubState>) -> Result<(), ClusterError> {
        let mut routes = self.shared.routes();
        if let Some(why) = &routes.gone {
            return Err(self.shared.driver_error(why.clone()));
        }
        routes.subs.insert(sub, state);
        Ok(())
    }

    /// Stops routing events to submission `sub`.
    pub fn unregister(&self, sub: u64) {
        self.shared.routes().subs.remove(&sub);
    }

    fn send(&self, id: u64, op: &str, fields: Value, blobs: &[&[u8]]) -> io::Result<()> {
        let mut object = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        object.insert("id".into(), id.into());
        object.insert("op".into(), op.into());
        if !blobs.is_empty() {
            let lens = blobs.iter().map(|b| Value::from(b.len())).collect();
            object.insert("blobs".into(), Value::Array(lens));
        }
        let mut line = serde_json::to_vec(&Value::Object(object))?;
        line.push(b'\n');
        let mut stdin = self.stdin.lock().unwrap_or_else(PoisonError::into_inner);
        let stdin = stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the driver is closed"))?;
        stdin.write_all(&line)?;
        for blob in blobs {
            stdin.write_all(blob)?;
        }
        stdin.flush()
    }

    /// Asks the driver to close its client and cluster, waits for it to exit
    /// (killing it after [`CLOSE_TIMEOUT`]). Idempotent.
    pub fn shutdown(&self) {
        let Some(mut child) = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let _ = self.send(0, "close", Value::Object(Map::new()), &[]);
        // End of input is what the driver waits for when it is busy.
        drop(
            self.stdin
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
            }
        }
        remove_script(&self.script);
    }
}

/// Removes the driver script and its directory. The driver does the same when
/// it exits, in case this process is killed first.
fn remove_script(script: &Path) {
    let _ = std::fs::remove_file(script);
    if let Some(dir) = script.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn keep_stderr(stderr: impl Read, shared: &Shared) {
    let echo = std::env::var_os("TASKGRAPH_CLUSTER_LOG").is_some_and(|v| !v.is_empty());
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if echo {
            let _ = writeln!(io::stderr(), "[dask] {line}");
        }
        let mut lines = shared.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == STDERR_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

fn read_messages(stdout: impl Read, shared: &Shared) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let why = loop {
        match read_message(&mut reader) {
            Ok(Some(message)) => route(message, shared),
            Ok(None) => break "the driver exited".to_owned(),
            Err(e) => break format!("broken driver protocol: {e}"),
        }
    };
    // Give the stderr thread a moment to take the driver's last words.
    thread::sleep(Duration::from_millis(50));
    let (pending, subs) = {
        let mut routes = shared.routes();
        routes.gone = Some(why.clone());
        (
            std::mem::take(&mut routes.pending),
            std::mem::take(&mut routes.subs),
        )
    };
    for (_, tx) in pending {
        let _ = tx.send(Err(shared.driver_error(why.clone())));
    }
    for (_, state) in subs {
        state.finish(Err(shared.driver_error(why.clone())));
    }
}

fn read_message(reader: &mut impl BufRead) -> io::Result<Option<Message>> {
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    let fields: Map<String, Value> = serde_json::from_slice(&line)?;
    let mut blobs = Vec::new();
    if let Some(Value::Array(lens)) = fields.get("blobs") {
        for len in lens {
            let len = len
                .as_u64()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad blob length"))?;
            let mut blob = vec![0; len as usize];
            reader.read_exact(&mut blob)?;
            blobs.push(blob);
        }
    }
    Ok(Some(Message { fields, blobs }))
}

fn route(message: Message, shared: &Shared) {
    if let Some(id) = message.fields.get("re").and_then(Value::as_u64) {
        if let Some(tx) = shared.routes().pending.remove(&id) {
            let reply = if message.fields.get("ok") == Some(&Value::Bool(true)) {
                Ok(message)
            } else {
                let text = message.fields.get("error").and_then(Value::as_str);
                Err(ClusterError::Dask {
                    message: text.unwrap_or("unknown error").to_owned(),
                })
            };
            let _ = tx.send(reply);
        }
        return;
    }
    let sub = message.fields.get("sub").and_then(Value::as_u64);
    match (message.fields.get("ev").and_then(Value::as_str), sub) {
        (Some("run"), Some(sub)) => {
            let state = shared.routes().subs.get(&sub).cloned();
            if let Some(state) = state {
                state.record_run(&message);
            }
        }
        (Some("threads"), _) => {
            if let Some(n) = message.fields.get("threads").and_then(Value::as_u64) {
                shared.threads.store(n.min(UNKNOWN - 1), Ordering::Relaxed);
            }
        }
        (Some("done"), Some(sub)) => {
            let state = shared.routes().subs.remove(&sub);
            if let Some(state) = state {
                state.finish_with(message);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory left behind by an earlier process with the same id
    /// (killed before it cleaned up) is skipped, not an error, and left as
    /// it was.
    #[test]
    fn a_stale_script_directory_is_skipped() {
        let next = SCRIPT_DIRS.load(Ordering::Relaxed);
        let stale: Vec<PathBuf> = (next..next + 2)
            .map(|n| {
                std::env::temp_dir().join(format!("taskgraph-cluster-{}-{n}", std::process::id()))
            })
            .collect();
        for dir in &stale {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("driver.py"), "stale").unwrap();
        }
        let missing = std::env::temp_dir().join("taskgraph-no-such-dir/python");
        let message = match Driver::start(missing) {
            Err(ClusterError::Driver { message, .. }) => message,
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("a missing interpreter started"),
        };
        assert!(message.starts_with("cannot start "), "{message}");
        let third = std::env::temp_dir().join(format!(
            "taskgraph-cluster-{}-{}",
            std::process::id(),
            next + 2
        ));
        assert!(!third.exists(), "the new directory was not removed");
        for dir in &stale {
            assert_eq!(
                std::fs::read_to_string(dir.join("driver.py")).unwrap(),
                "stale"
            );
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
