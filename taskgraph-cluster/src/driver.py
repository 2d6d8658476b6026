"""The dask side of taskgraph-cluster.

The Rust crate writes this file to a temporary directory and runs it with a
Python that can import `distributed`. It owns one `distributed.Client` and
talks to the Rust process over its standard input and output:

* every message is one JSON object on one line;
* a message may carry raw byte strings ("blobs"): its `blobs` field lists
  their lengths and the bytes follow the line, back to back;
* requests from Rust carry an `id` and an `op`; the answer carries `re` (that
  id) and `ok`, and `error` when `ok` is false;
* unprompted messages carry `ev`: `run` when a job finished on a worker,
  `done` when a submission ended (its outputs as blobs, or an error).

Requests (answer fields after the arrow):

  start_local {workers, threads}        -> {dashboard, scheduler, version}
  connect {address}                     -> the same
  program {path}                        -> {hash, name, bytes}
  workers {}                            -> {workers: [{address, pid, name, threads}]}
  threads {}                            -> {threads: the workers' threads, in all, as last
                                           known (the `threads` event says the same)}
  add_workers {n}                       -> {workers: the ones that joined}
  submit {sub, jobs: [{key, group, hash, name, args, env, deps, files, serve, weight, width, queue}], outputs, header}
         + one blob per job, its input, then with header the served jobs' header
                                        -> {keys: each job's dask key, as text}
  cancel {sub}                          -> {}
  close {}                              (no answer)

Events:

  run {sub, job, worker, pid, start, stop, ok, exe, ahead}
                                                      a job's program exited
                                                      (workers report runs in
                                                      batches, at most one per
                                                      20 ms: a run may come
                                                      after its job's result;
                                                      ahead: a block run ahead
                                                      of its task)
  done {sub, ok: true} + one blob per output          the submission succeeded
  done {sub, ok: false, error: {kind: "job", key, job, code}} + stderr blob
  done {sub, ok: false, error: {kind: "dask", message}}
  threads {threads}                                   the cluster's threads, in all,
                                                      at start and when a worker
                                                      joins or leaves
  closed {}                                           the driver is exiting

`close` or the end of input closes the client, the cluster and any worker
this driver started, then the driver deletes this file and exits.

Nothing in the top level of this module runs the driver: worker processes that
`multiprocessing` spawns import it under another name.
"""

import concurrent.futures
import errno
import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
import traceback
import uuid

MAGIC = b"TGJ\x01"
PLUGIN_PREFIX = "taskgraph-program-"


# ---------------------------------------------------------------------------
# What runs on a worker. These functions and classes are sent to the workers
# by value (cloudpickle pickles what `__main__` defines), so a worker needs
# nothing but `distributed`.
# ---------------------------------------------------------------------------


class JobFailed(Exception):
    """A job's program exited non-zero or was killed by a signal.

    args: (key, job index, return code, stderr bytes); a negative return code
    is minus the signal number, as in `subprocess`.
    """

    def __str__(self):
        key, job, code, stderr = self.args
        tail = stderr[-2000:].decode("utf-8", "replace")
        return f"job {key!r} (#{job}) exited with {code}: {tail}"


def frame(parts):
    """The job's standard input: MAGIC, u32 count, then (u64 length, bytes) per part."""
    out = [MAGIC, struct.pack("<I", len(parts))]
    for part in parts:
        out.append(struct.pack("<Q", len(part)))
        out.append(part)
    return b"".join(out)


def program_path(local_directory, digest, name):
    return os.path.join(local_directory, "taskgraph-programs", digest, name)


def install_program(local_directory, digest, name, data):
    """Write the program under the worker's directory, once per content hash."""
    path = program_path(local_directory, digest, name)
    try:
        if os.path.getsize(path) == len(data):
            return path
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


def _plugin_base(name):
    """dask's plugin class `name` (`WorkerPlugin`, `SchedulerPlugin`), or
    `object` on a dask too old to have it."""
    try:
        from distributed.diagnostics import plugin

        return getattr(plugin, name)
    except (ImportError, AttributeError):  # pragma: no cover - very old distributed
        return object


class ProgramPlugin(_plugin_base("WorkerPlugin")):
    """Installs one program on every worker, including workers that join later."""

    def __init__(self, digest, name, data):
        self.digest = digest
        self.name = name
        self.data = data

    def setup(self, worker):
        install_program(worker.local_directory, self.digest, self.name, self.data)

    def teardown(self, worker):
        # The worker is closing: its jobs' programs and runners go with it.
        for proc in list(worker.__dict__.get("_taskgraph_running", ())):
            if proc.poll() is None:
                proc.kill()
        for runner in list(worker.__dict__.get("_taskgraph_runners", ())):
            runner.close()


def start_program(argv, env):
    for attempt in range(6):
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except OSError as e:
            # A file just written can be busy for an instant if another thread
            # forked while it was open for writing.
            if e.errno == errno.ETXTBSY and attempt < 5:
                time.sleep(0.01 * 2**attempt)
                continue
            raise


def communicate(worker, proc, stdin):
    """Feed stdin, collect stdout and stderr; kill the program if dask cancels its task."""
    from distributed.worker import thread_state

    key = getattr(thread_state, "key", None)
    data = stdin
    while True:
        try:
            return proc.communicate(data, timeout=0.25)
        except subprocess.TimeoutExpired:
            data = None
        ts = worker.state.tasks.get(key) if key is not None else None
        if key is not None and (ts is None or ts.state in ("cancelled", "released")):
            proc.kill()
            proc.communicate()
            raise RuntimeError(f"task {key!r} was cancelled")


class Runner:
    """A long-lived block runner: the program, started with
    TASKGRAPH_RUNNER_FDS="R,W", reads requests from fd R and answers on fd W.

    A request is a u64 length, a u32 count of threads the block may use
    (`lend`), and the job's framed input; an answer is a
    status byte (0: the block's outputs follow, 1: its failure report, JSON,
    follows) and a u64 length and the bytes. The program's own standard
    output and error go to a file, whose tail is reported if it dies.
    """

    def __init__(self, path, env, directory):
        import tempfile

        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        fd, self.log = tempfile.mkstemp(prefix="taskgraph-runner-", suffix=".log", dir=directory)
        env = dict(env)
        env["TASKGRAPH_RUNNER_FDS"] = f"{req_r},{rep_w}"
        try:
            for attempt in range(6):
                try:
                    self.proc = subprocess.Popen(
                        [path],
                        stdin=subprocess.DEVNULL,
                        stdout=fd,
                        stderr=fd,
                        env=env,
                        pass_fds=(req_r, rep_w),
                    )
                    break
                except OSError as e:
                    if e.errno == errno.ETXTBSY and attempt < 5:
                        time.sleep(0.01 * 2**attempt)
                        continue
                    raise
        finally:
            os.close(req_r)
            os.close(rep_w)
            os.close(fd)
        self.path = path
        # The key of the last graph header sent to it (`serve_job`).
        self.header = None

    def close(self):
        for fd in (self.req_w, self.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        try:
            os.remove(self.log)
        except OSError:
            pass

    def stderr(self):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-8000:]
        except OSError:
            return b""

    def read_exactly(self, n, cancelled):
        import select

        chunks = []
        while n > 0:
            ready, _, _ = select.select([self.rep_r], [], [], 0.25)
            if not ready:
                if cancelled():
                    return None
                continue
            chunk = os.read(self.rep_r, min(n, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def run(self, request, cancelled, threads=1):
        """(status, bytes), or None if cancelled; EOFError if it died."""
        data = struct.pack("<QI", len(request), threads) + request
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.req_w, view)
            except BrokenPipeError:
                raise EOFError from None
            view = view[n:]
        head = self.read_exactly(9, cancelled)
        if head is None:
            return None
        status, n = struct.unpack("<BQ", head)
        body = self.read_exactly(n, cancelled)
        if body is None:
            return None
        return status, body


def runner_lock(worker):
    """The lock of a worker's runners, running ahead and lent threads; a
    condition, notified when lent threads come back (`give_back`)."""
    return worker.__dict__.setdefault("_taskgraph_runner_lock", threading.Condition())


def serve_job(worker, spec, deps, path=None):
    """Run one block on an idle long-lived runner of its program (or a new one).

    The task of a graph's block carries only the block's index and where
    its graph's header is (`Driver.submit`): the job's own fields and the
    graph's (its program, environment, event topic) come from the header,
    which this worker fetches once per graph (`graph_header`). A block this
    worker already ran ahead of dask (`look_ahead`) is not run again: its
    task takes that run's answer.
    """
    from distributed.worker import thread_state

    lock = runner_lock(worker)
    key = getattr(thread_state, "key", None)

    def cancelled():
        ts = worker.state.tasks.get(key) if key is not None else None
        return key is not None and (ts is None or ts.state in ("cancelled", "released"))

    entry = None
    if spec.get("header"):
        entry = graph_header(worker, spec, cancelled)
        spec = entry.spec(spec["job"])
        path = installed_program(worker, spec)
    mark = (spec.get("header"), spec["job"])
    ahead = take_ahead(worker, mark)
    if ahead is not None:
        with lock:
            ahead_state(worker)["waiting"] += 1
        try:
            while not ahead.done.wait(0.25):
                if cancelled():
                    raise RuntimeError(f"task {key!r} was cancelled")
        finally:
            with lock:
                ahead_state(worker)["waiting"] -= 1
        if ahead.answer is not None:
            status, body = ahead.answer
            log_run(worker, spec, path, ahead.start, ahead.stop, status == 0, True, ahead.threads)
            if status != 0:
                raise JobFailed(spec["key"], spec["job"], 3, b"\n@taskgraph-block-error@ " + body)
            return body
        # The runner died or the run was stopped: run the block here.
        with lock:
            ahead_state(worker)["serving"].add(mark)
    try:
        return serve_here(worker, spec, path, entry, deps, cancelled)
    finally:
        with lock:
            ahead_state(worker)["serving"].discard(mark)


def serve_here(worker, spec, path, entry, deps, cancelled):
    """`serve_job` for a block that was not run ahead; `entry` is its
    graph's `HeaderEntry`, if it has one."""
    from distributed.worker import thread_state

    lock = runner_lock(worker)
    key = getattr(thread_state, "key", None)
    with lock:
        # A thread lent to a running block is not this task's: it waits for
        # it, so that the worker runs no more at once than it has threads.
        state = ahead_state(worker)
        ws = worker.state
        while state["lent"] and (
            len(ws.executing) - state["waiting"] + state["running"] + state["lent"] > ws.nthreads
        ):
            lock.wait(0.25)
            if cancelled():
                raise RuntimeError(f"task {key!r} was cancelled")
        idle = worker.__dict__.setdefault("_taskgraph_idle", {}).setdefault(path, [])
        every = worker.__dict__.setdefault("_taskgraph_runners", set())
        runner = idle.pop() if idle else None
        if runner is None:
            env = dict(os.environ)
            env.update(spec["env"])
            env["TASKGRAPH_PROGRAM_HASH"] = spec["hash"]
            runner = Runner(path, env, worker.local_directory)
            every.add(runner)

    if entry is not None:
        # The header goes to a runner once: it keeps the last one it read,
        # and an empty frame stands for it.
        if runner.header == spec["header"]:
            header = b""
        else:
            header = entry.data
            runner.header = spec["header"]
        deps = (header, *deps)
    graph = spec.get("header")
    if spec.get("tail"):
        mark_tail(graph, worker)
    threads = lend(worker, graph, spec.get("width", 1), key, False)
    start = time.time()
    try:
        answer = runner.run(frame([spec["input"], *deps]), cancelled, threads)
    except EOFError:
        answer = "died"
    finally:
        give_back(worker, graph, threads, time.time() - start)
    stop = time.time()
    if answer is None or answer == "died":
        code = runner.proc.poll()
        if code is None:
            runner.proc.kill()
            code = runner.proc.wait()
        err = runner.stderr()
        with lock:
            every.discard(runner)
        runner.close()
        log_run(worker, spec, path, start, stop, False, threads=threads)
        if answer is None:
            raise RuntimeError(f"task {key!r} was cancelled")
        raise JobFailed(spec["key"], spec["job"], code, err)
    status, body = answer
    if status != 0 or stop - start < AHEAD_MIN_SECONDS or not look_ahead(worker, spec, entry, runner, body, path):
        with lock:
            idle.append(runner)
    log_run(worker, spec, path, start, stop, status == 0, threads=threads)
    if status != 0:
        raise JobFailed(spec["key"], spec["job"], 3, b"\n@taskgraph-block-error@ " + body)
    return body


# ---------------------------------------------------------------------------
# Graph headers. A graph's header (the Rust side's bytes: the graph's
# inputs, shape and offsets), its plan of blocks (each block's input,
# name, width, inputs and dependents) and what its blocks' specs share
# (their program, environment, submission and event topic) are kept in the
# scheduler, in its task metadata under the key of one of the graph's
# outputs, so that the scheduler drops them when it forgets that task
# (`Driver.submit`). The first block of a graph on a worker fetches them
# from there (one round trip to the scheduler) and the worker keeps them
# until the driver says the graph stopped (`forget_header`); blocks of the
# graph that start meanwhile wait for that fetch. Before, the header was a
# dask task that every block depended on: it ran on a worker before any
# block could start, and the other workers fetched it from that one. A
# block's task carries only its index and the header's name and place.
# ---------------------------------------------------------------------------

# Where in a graph's output's task metadata its header is.
HEADER_FIELD = "taskgraph-header"

# How many graphs' headers a worker keeps at most: the driver tells it when
# a graph stops, and this bounds what a lost message would leave.
HEADERS_KEPT = 16


class HeaderEntry:
    """A graph's header on a worker: `data` (the Rust side's bytes),
    `plan` (`{job: (dask key, input, inputs by job, dependents by job,
    width, program)}`, its served blocks) and `common` (what every block's
    spec shares: `programs`, a list of `{hash, name, args, env}` that `program`
    indexes, and the submission's `sub`, `topic`, `tail` and header) once
    `ready`, unless fetching it failed (`error`); `stopped` once the graph
    ended or was cancelled, which stops its blocks run ahead."""

    __slots__ = ("ready", "data", "plan", "common", "error", "stopped")

    def __init__(self):
        self.ready = threading.Event()
        self.data = None
        self.plan = None
        self.common = None
        self.error = None
        self.stopped = False

    def spec(self, job):
        """The full spec of block `job`: the fields that the task of a job
        outside a graph carries."""
        common = self.common
        key, data, _, _, width, program = self.plan[job]
        return {
            **common["programs"][program],
            "sub": common["sub"],
            "topic": common["topic"],
            "tail": common["tail"],
            "header": common["header"],
            "job": job,
            "key": key[1],
            "input": data,
            "width": width,
            "serve": True,
        }


def graph_header(worker, spec, cancelled):
    """The `HeaderEntry` of the block's graph: fetched from the scheduler
    by the graph's first block on this worker, waited for by the others."""
    from distributed.utils import sync

    name = spec["header"]
    lock = runner_lock(worker)
    with lock:
        entries = worker.__dict__.setdefault("_taskgraph_headers", {})
        entry = entries.get(name)
        fetch = entry is None
        if fetch:
            entry = entries[name] = HeaderEntry()
            while len(entries) > HEADERS_KEPT:
                entries.pop(next(iter(entries))).stopped = True
    if not fetch:
        while not entry.ready.wait(0.25):
            if cancelled():
                raise RuntimeError(f"the task of block #{spec['job']} was cancelled")
        if entry.error is not None:
            raise RuntimeError(f"graph {name!r}: fetching its header failed: {entry.error}")
        return entry
    try:
        blob = sync(worker.loop, worker.scheduler.get_metadata, keys=list(spec["header_at"]), default=None)
        if blob is None:
            raise RuntimeError(
                f"graph {name!r}: its header is not in the scheduler (the graph ended, or "
                "the client that sent it left)"
            )
        entry.data, entry.plan, entry.common = pickle.loads(blob)
    except BaseException as e:
        entry.error = e
        with lock:
            # The graph's next block here asks again.
            if entries.get(name) is entry:
                del entries[name]
        raise
    finally:
        entry.ready.set()
    return entry


def forget_header(name, dask_worker):
    """Graph `name` stopped (`client.run`, from `Driver.submit`): its header
    goes, and its blocks run ahead stop."""
    with runner_lock(dask_worker):
        entry = dask_worker.__dict__.get("_taskgraph_headers", {}).pop(name, None)
        if entry is not None:
            entry.stopped = True


# ---------------------------------------------------------------------------
# Running ahead. When a block ends, the blocks that depend on it and whose
# other inputs are all on this worker already can run at once, on the same
# runner, without waiting for dask to hear of the end and send their tasks
# (a scheduler round trip, 5 to 20 ms each, along every chain of blocks: the
# top of a `tree_reduce`, a chain of steps). Their tasks, when dask sends
# them here (it places a task where its inputs are), take the answer; one
# that dask sends elsewhere runs there as usual, and the answer here is
# dropped. Only while the worker has a thread free of dask's tasks.
# ---------------------------------------------------------------------------

# Only after a block that ran this long: below it, dask's round trip is
# most of the hop between blocks, and running the next one ahead gains
# little and takes a processor from the worker and the scheduler (a chain
# of zero-work blocks took 15% longer per link).
AHEAD_MIN_SECONDS = 0.005

# An answer run ahead that no task took is dropped after this many seconds.
AHEAD_KEEP_SECONDS = 60.0


class Ahead:
    """A block run ahead of its task (`look_ahead`)."""

    def __init__(self):
        self.done = threading.Event()
        self.answer = None  # (status, bytes); None if the runner died or it was stopped
        self.start = 0.0
        self.stop = 0.0
        self.threads = 1
        self.born = time.monotonic()


def ahead_state(worker):
    """What this worker runs ahead: `blocks` maps (graph, job) to an `Ahead`;
    `serving` holds the (graph, job) of blocks whose tasks run here now;
    `running` counts the threads that run blocks ahead; `waiting` the tasks
    that wait on such a run (their dask thread does no work meanwhile);
    `lent` the threads lent to running blocks (`lend`); `long` the graphs
    whose last block here ran AHEAD_MIN_SECONDS or more, and `tail` those
    in their tail (`mark_tail`), most recent last."""
    return worker.__dict__.setdefault(
        "_taskgraph_ahead",
        {"blocks": {}, "serving": set(), "running": 0, "waiting": 0, "lent": 0, "long": {}, "tail": {}},
    )


# ---------------------------------------------------------------------------
# Lending threads. In a graph's tail, when no more of its blocks are left
# to finish than the cluster has threads (the driver counts the run reports
# and tells the workers, `mark_tail`), a block runs on its own thread and,
# while nothing waits to run on its worker, on those that no task, run
# ahead or other block holds there, up to as many as its nodes can keep
# busy (its `width`): the last leaf blocks and the top of a tree run with
# threads idle otherwise. Those it is lent count as busy until it ends; a
# task that dask sends there meanwhile waits for them (`serve_here`), so
# that the worker never runs more at once than it has threads. Earlier in
# a graph, lending took threads that the scheduler was about to fill, and
# the tasks it sent waited. Only for a graph whose last block here ran
# AHEAD_MIN_SECONDS or more: a block runner builds the graph anew for a
# block given another number of threads than the one before (a graph of
# many short blocks would pay that each time).
# ---------------------------------------------------------------------------

# How many graphs a worker remembers as having long blocks.
LONG_GRAPHS = 16


def lend(worker, graph, width, own, ahead):
    """The threads a block of `graph` that can keep `width` busy, starting
    now on this worker, may use: at least 1, its own, which is the thread
    of the dask task `own` (the block's, or for a block run ahead, the task
    whose runner it took, if that task still runs) or, if `ahead`, that of
    the run ahead. Reserves those beyond its own."""
    lock = runner_lock(worker)
    with lock:
        state = ahead_state(worker)
        ws = worker.state
        if (
            width <= 1
            or graph is None
            or graph not in state["long"]
            or graph not in state["tail"]
            or getattr(ws, "ready", None)
        ):
            return 1
        busy = len(ws.executing) - state["waiting"] + state["running"] + state["lent"]
        ts = ws.tasks.get(own) if own is not None else None
        if ts is not None and ts in ws.executing:
            busy -= 1
        if ahead:
            busy -= 1
        threads = max(1, min(ws.nthreads - busy, ws.nthreads, width))
        state["lent"] += threads - 1
        return threads


def mark_tail(graph, dask_worker):
    """Graph `graph` is in its tail (`client.run`, from `Driver.on_event`)."""
    with runner_lock(dask_worker):
        tail = ahead_state(dask_worker)["tail"]
        tail[graph] = True
        while len(tail) > LONG_GRAPHS:
            del tail[next(iter(tail))]


def give_back(worker, graph, threads, seconds):
    """A block of `graph` that was given `threads` ran `seconds`."""
    lock = runner_lock(worker)
    with lock:
        state = ahead_state(worker)
        state["lent"] -= threads - 1
        if threads > 1:
            lock.notify_all()
        if graph is None:
            return
        long = state["long"]
        long.pop(graph, None)
        if seconds >= AHEAD_MIN_SECONDS:
            long[graph] = True
            while len(long) > LONG_GRAPHS:
                del long[next(iter(long))]


def take_ahead(worker, mark):
    """The run ahead of the block `mark` (now its task's), or None; a task
    that finds none is marked as serving, so that none starts."""
    lock = runner_lock(worker)
    with lock:
        state = ahead_state(worker)
        now = time.monotonic()
        blocks = state["blocks"]
        for m in [m for m, a in blocks.items() if a.done.is_set() and now - a.born > AHEAD_KEEP_SECONDS]:
            del blocks[m]
        ahead = state["blocks"].pop(mark, None)
        if ahead is None:
            state["serving"].add(mark)
        return ahead


def look_ahead(worker, spec, entry, runner, body, path):
    """After block `spec["job"]` answered `body` on `runner`: if a block that
    depends on it can run now (`pick_ahead`), run it and those after it on
    `runner` in a thread of its own, which gives the runner back. Returns
    whether it took the runner."""
    if entry is None or not entry.plan:
        return False
    plan = entry.plan
    graph = spec["header"]
    made = {spec["job"]: body}
    try:
        picked = pick_ahead(worker, plan, graph, spec["job"], made, 1)
    except Exception:  # noqa: BLE001 - running ahead is never the block's failure
        traceback.print_exc()
        return False
    if picked is None:
        return False
    thread = threading.Thread(
        target=run_ahead,
        args=(worker, entry, graph, runner, made, picked, path),
        daemon=True,
    )
    thread.start()
    return True


def pick_ahead(worker, plan, graph, job, made, mine):
    """A block that depends on `job` whose inputs are all here (in the
    worker's memory, in `made`, or run ahead), that no task runs here and
    none ran ahead, while a thread is free: `mine` is how many of the busy
    threads counted are the caller's. Reserves it: (job, its `Ahead`)."""
    lock = runner_lock(worker)
    with lock:
        state = ahead_state(worker)
        ws = worker.state
        if getattr(ws, "ready", None):
            return None
        busy = len(ws.executing) - state["waiting"] + state["running"] + state["lent"] - mine
        if busy >= ws.nthreads:
            return None
        for b in plan[job][3]:
            mark = (graph, b)
            if b not in plan or mark in state["blocks"] or mark in state["serving"]:
                continue
            ts = ws.tasks.get(plan[b][0])
            if ts is not None and ts.state in ("memory", "fetch", "flight", "executing"):
                continue
            if all(have_output(worker, state, plan, graph, d, made) for d in plan[b][2]):
                ahead = Ahead()
                state["blocks"][mark] = ahead
                state["running"] += 1
                return b, ahead
        return None


def have_output(worker, state, plan, graph, job, made):
    if job in made:
        return True
    if plan[job][0] in worker.data:
        return True
    ahead = state["blocks"].get((graph, job))
    return ahead is not None and ahead.done.is_set() and ahead.answer is not None and not ahead.answer[0]


def output_of(worker, state, plan, graph, job, made):
    if job in made:
        return made[job]
    try:
        return worker.data[plan[job][0]]
    except KeyError:
        pass
    ahead = state["blocks"].get((graph, job))
    return ahead.answer[1]


def run_ahead(worker, entry, graph, runner, made, picked, path):
    """Runs the picked block on `runner`, then the next one `pick_ahead`
    finds after it, and so on; gives the runner back (or closes it if it
    died or was stopped)."""
    lock = runner_lock(worker)
    state = ahead_state(worker)
    plan = entry.plan

    def stopped():
        # The graph ended or was cancelled (`forget_header`).
        return entry.stopped

    # The task of the block that ended, whose runner this took.
    origin = plan[next(iter(made))][0]
    alive = True
    while picked is not None:
        job, ahead = picked
        try:
            try:
                with lock:
                    inputs = [output_of(worker, state, plan, graph, d, made) for d in plan[job][2]]
            except (KeyError, AttributeError, TypeError):
                inputs = None  # an input left this worker meanwhile
            if inputs is not None and not stopped():
                threads = ahead.threads = lend(worker, graph, plan[job][4], origin, True)
                ahead.start = time.time()
                try:
                    ahead.answer = runner.run(frame([plan[job][1], b"", *inputs]), stopped, threads)
                except EOFError:
                    ahead.answer = None
                finally:
                    give_back(worker, graph, threads, time.time() - ahead.start)
                ahead.stop = time.time()
                alive = ahead.answer is not None
        finally:
            with lock:
                state["running"] -= 1
                if ahead.answer is None:
                    # Nothing to take: its task runs the block as usual.
                    state["blocks"].pop((graph, job), None)
            ahead.done.set()
        if not alive:
            break
        if ahead.answer is None or ahead.answer[0] != 0 or ahead.stop - ahead.start < AHEAD_MIN_SECONDS:
            picked = None
            break
        # Its answer is also in its `Ahead` until its task takes it, and in
        # the worker's memory once that task has ended.
        made = {job: ahead.answer[1]}
        origin = None
        try:
            picked = pick_ahead(worker, plan, graph, job, made, 0)
        except Exception:  # noqa: BLE001 - the runner goes back all the same
            traceback.print_exc()
            picked = None
    with lock:
        if alive:
            worker.__dict__.setdefault("_taskgraph_idle", {}).setdefault(path, []).append(runner)
        else:
            worker.__dict__.setdefault("_taskgraph_runners", set()).discard(runner)
    if not alive:
        runner.close()


def installed_program(worker, spec):
    """Where the job's program is on this worker (`ProgramPlugin`)."""
    path = program_path(worker.local_directory, spec["hash"], spec["name"])
    if not os.path.exists(path):
        raise RuntimeError(
            f"job {spec['key']!r}: program {spec['name']} ({spec['hash'][:16]}) is not "
            f"installed on worker {worker.address}"
        )
    return path


# Runs that end within this many seconds of a worker's last report go
# together in its next one.
RUN_BATCH_SECONDS = 0.02


def log_run(worker, spec, path, start, stop, ok, ahead=False, threads=1):
    """Tell the driver, through dask's event log, that a job ran.

    A worker reports at once when it has not reported for
    RUN_BATCH_SECONDS, else gathers the runs until then and reports them
    in one event: each event is a message for the worker, the scheduler and
    the client, and one per job made short jobs' results wait behind them.
    """
    record = {
        "sub": spec["sub"],
        "job": spec["job"],
        "worker": worker.address,
        "pid": os.getpid(),
        "start": start,
        "stop": stop,
        "ok": ok,
        "exe": path,
        "ahead": ahead,
        "threads": threads,
    }
    topic = spec["topic"]
    lock = worker.__dict__.setdefault("_taskgraph_log_lock", threading.Lock())
    with lock:
        logs = worker.__dict__.setdefault("_taskgraph_logs", {})
        state = logs.setdefault(topic, {"runs": [], "last": 0.0, "armed": False})
        state["runs"].append(record)
        if state["armed"]:
            return
        wait = state["last"] + RUN_BATCH_SECONDS - time.monotonic()
        if wait > 0:
            state["armed"] = True
            # On the worker's event loop: a timer thread a batch cost the
            # task's thread the wait for that thread to start (a fifth of a
            # zero-work block's time on a busy machine).
            loop = worker.loop
            loop.add_callback(loop.call_later, wait, flush_runs, worker, topic)
            return
    flush_runs(worker, topic)


def flush_runs(worker, topic):
    """Report the runs `log_run` gathered for `topic` in one event."""
    with worker.__dict__["_taskgraph_log_lock"]:
        state = worker.__dict__["_taskgraph_logs"][topic]
        runs, state["runs"] = state["runs"], []
        state["armed"] = False
        state["last"] = time.monotonic()
    if runs:
        worker.log_event(topic, {"runs": runs})


def flush_all_runs(topic, dask_worker):
    """The runs a worker still gathers for `topic`, taken from its batch
    (`client.run`): the driver gets them in the answer, not through the
    event log."""
    lock = dask_worker.__dict__.setdefault("_taskgraph_log_lock", threading.Lock())
    with lock:
        state = dask_worker.__dict__.get("_taskgraph_logs", {}).get(topic)
        if state is None:
            return []
        runs, state["runs"] = state["runs"], []
        return runs


# How long a graph's end waits, after asking the workers for their last
# reports, for those that are still missing: they were lost if a worker
# died between running a block and reporting it.
REPORT_GRACE_SECONDS = 0.5


def run_job(spec, *deps):
    """Run one job: frame its input and its dependencies' outputs, run, return stdout."""
    from distributed import get_worker

    worker = get_worker()
    if spec.get("header"):
        # A block of a graph: its spec names only the block and the graph,
        # whose header holds the rest (`graph_header`).
        return serve_job(worker, spec, deps)
    path = installed_program(worker, spec)
    if spec.get("serve"):
        return serve_job(worker, spec, deps, path)
    env = dict(os.environ)
    env.update(spec["env"])
    # The program tells by this that it runs the file it was sent as.
    env["TASKGRAPH_PROGRAM_HASH"] = spec["hash"]
    stdin = frame([spec["input"], *deps])
    files = None
    if spec.get("files"):
        # The input in a file, the output from a file: the program's own
        # stdin and stdout stay free for whatever it prints.
        import tempfile

        files = tempfile.mkdtemp(prefix="taskgraph-job-", dir=worker.local_directory)
        with open(os.path.join(files, "input"), "wb") as f:
            f.write(stdin)
        env["TASKGRAPH_JOB_INPUT"] = os.path.join(files, "input")
        env["TASKGRAPH_JOB_OUTPUT"] = os.path.join(files, "output")
        stdin = b""
    start = time.time()
    try:
        proc = start_program([path, *spec["args"]], env)
    except OSError as e:
        raise RuntimeError(f"job {spec['key']!r} could not start {path}: {e}") from None
    running = worker.__dict__.setdefault("_taskgraph_running", set())
    running.add(proc)
    try:
        out, err = communicate(worker, proc, stdin)
        if files is not None:
            if proc.returncode == 0:
                with open(os.path.join(files, "output"), "rb") as f:
                    out = f.read()
            else:
                err = out + err
    finally:
        running.discard(proc)
        if files is not None:
            import shutil

            shutil.rmtree(files, ignore_errors=True)
    stop = time.time()
    ok = proc.returncode == 0
    log_run(worker, spec, path, start, stop, ok)
    if not ok:
        raise JobFailed(spec["key"], spec["job"], proc.returncode, err)
    return out


class ClusterWatch(_plugin_base("SchedulerPlugin")):
    """On the scheduler: tells the driver how many threads the cluster has
    whenever a worker joins or leaves (an event on the driver's topic), so
    that a graph sent asks nobody."""

    def __init__(self, topic):
        self.topic = topic

    def start(self, scheduler):
        self.report(scheduler, None)

    def add_worker(self, scheduler, worker):
        self.report(scheduler, None)

    def remove_worker(self, scheduler, worker, **kwargs):
        self.report(scheduler, worker)

    def report(self, scheduler, gone):
        threads = sum(int(ws.nthreads) for a, ws in scheduler.workers.items() if a != gone)
        scheduler.log_event(self.topic, {"threads": threads})


class WorkerCode(_plugin_base("WorkerPlugin")):
    """Installs `run_job` (and, through it, everything above that runs on a
    worker) on every worker once, including workers that join later: a
    plugin is sent once per worker, a task's function with every task."""

    def __init__(self, key):
        self.key = key
        self.run_job = run_job
        self.dispatch = (DISPATCH_MODULE, DISPATCH_SOURCE)

    def setup(self, worker):
        install_dispatch(*self.dispatch)
        worker.__dict__.setdefault("_taskgraph_code", {})[self.key] = self.run_job


# The function of every task, `RunJob`, lives in a module of its own that
# the driver, the scheduler and every worker make from this source
# (`install_dispatch`), so that dask pickles a task's function by reference
# (the module's name and the class's, about a hundred bytes) and not by value.
# Anything defined in this file is `__main__` to pickle, which cloudpickle
# sends by value: the class alone was 2.6 kB that the scheduler pickled
# (about 0.45 ms) and the worker unpickled (about 0.2 ms) for every block.
DISPATCH_SOURCE = """
class RunJob:
    \"\"\"The function of every task: the `run_job` that `WorkerCode`
    installed on the worker, under `key`.\"\"\"

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __call__(self, spec, *deps):
        from distributed import get_worker

        worker = get_worker()
        code = worker.__dict__.get("_taskgraph_code", {}).get(self.key)
        if code is None:
            raise RuntimeError(
                f"job {spec.get('key', spec.get('job'))!r}: taskgraph-cluster's worker code is not installed on "
                f"worker {worker.address} (its plugin did not run there)"
            )
        return code(spec, *deps)

    def __reduce__(self):
        return (RunJob, (self.key,))

    def __dask_tokenize__(self):
        # Tokenizing a callable otherwise means pickling it, once per task.
        return "taskgraph-cluster.run_job." + self.key

    def __repr__(self):
        return "run_job"
"""

# The module's name: another source (another version of this driver, on a
# scheduler shared with it) gets another module.
DISPATCH_MODULE = "_taskgraph_cluster_dispatch_" + hashlib.sha256(DISPATCH_SOURCE.encode()).hexdigest()[:16]


def install_dispatch(name, source):
    """Makes the module `name` from `source` in this process, once; returns
    it. Runs in the driver, on the scheduler (`install_dispatch_there`) and
    on every worker (`WorkerCode`)."""
    import types

    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name)
        exec(compile(source, f"<{name}>", "exec"), module.__dict__)
        module = sys.modules.setdefault(name, module)
    return module


def install_dispatch_there(name, source, dask_scheduler=None):
    """`install_dispatch` on the scheduler (`client.run_on_scheduler`), which
    unpickles every graph: a scheduler of another process than the driver's
    needs the module too."""
    install_dispatch(name, source)


# ---------------------------------------------------------------------------
# The driver proper: runs only in the process the Rust side started.
# ---------------------------------------------------------------------------


class Out:
    """The protocol stream, shared by every thread of the driver."""

    def __init__(self, stream):
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, msg, blobs=()):
        blobs = [bytes(b) for b in blobs]
        if blobs:
            msg["blobs"] = [len(b) for b in blobs]
        line = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        with self.lock:
            self.stream.write(line)
            for b in blobs:
                self.stream.write(b)
            self.stream.flush()

    def send_many(self, msgs):
        """Sends messages without blobs, in one write."""
        lines = b"".join(json.dumps(m, separators=(",", ":")).encode() + b"\n" for m in msgs)
        if lines:
            with self.lock:
                self.stream.write(lines)
                self.stream.flush()


def scheduler_workers(client):
    try:
        return client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # older distributed: no n_workers, returns all
        return client.scheduler_info()["workers"]


def worker_list(client, only=None, info=None):
    """The workers `info` (the scheduler's, asked now if not given) lists,
    only those in `only` if given."""
    if info is None:
        info = scheduler_workers(client)
    if only is not None:
        info = {a: w for a, w in info.items() if a in only}
    # The scheduler does not know process ids; ask the workers.
    pids = client.run(os.getpid, workers=list(info), on_error="return") if info else {}
    workers = []
    for address, w in sorted(info.items()):
        pid = pids.get(address)
        workers.append(
            {
                "address": address,
                "pid": pid if isinstance(pid, int) else 0,
                "name": str(w.get("name", "")),
                "threads": int(w.get("nthreads") or 0),
            }
        )
    return workers


def task_spec():
    """dask's graph specification: `Task`, `TaskRef` and `DataNode` (dask 2024.12
    and later), or an error that says to upgrade."""
    try:
        from dask._task_spec import DataNode, Task, TaskRef
    except ImportError:
        import dask

        raise RuntimeError(
            f"dask {dask.__version__} is too old for taskgraph-cluster, which builds its "
            "graphs with dask's task specification (dask._task_spec, dask 2024.12 and "
            f"later): upgrade it with `{sys.executable} -m pip install --upgrade distributed`"
        ) from None
    return Task, TaskRef, DataNode


def build_task(run, key, spec, dep_keys, queued=False):
    """A job as a dask task: `run(spec, *outputs of dep_keys)`, `run` a `RunJob`. The spec is
    data (a `DataNode`: dask neither looks inside it nor runs it).

    A `queued` job waits in the scheduler's queue of root tasks (dask's
    `data_producer` mark), ordered by priority with the graph's leaf
    blocks, when every worker is busy; otherwise dask sends a task whose
    inputs are ready to a worker at once, where it takes a thread before
    the leaf blocks still queued."""
    Task, TaskRef, DataNode = task_spec()
    args = (key, run, DataNode(None, spec), *[TaskRef(k) for k in dep_keys])
    if queued:
        try:
            return Task(*args, _data_producer=True)
        except TypeError:  # a dask before the mark: sent at once, as any other
            pass
    return Task(*args)


def graph_expr(dsk, token):
    """The graph `dsk` as `client.get` takes it, named by `token`.

    Given a dict, `client.get` wraps it in dask's `LLGExpr`, whose name is a
    deterministic token of the whole graph: every task's arguments
    tokenized, its spec's fields one by one (200 blocks, on a busy
    machine: `client.get` took 59 to 134 ms, 3 to 17 ms without the
    token). A submission's keys are its own already
    (`Driver.submit`), so the driver's token and the submission's number
    name the expression. A dask without `LLGExpr` gets the dict."""
    try:
        from dask._expr import LLGExpr

        return LLGExpr(dsk, _determ_token=f"taskgraph-{token}")
    except (ImportError, TypeError):
        return dsk


def chain_lengths(deps, weights):
    """For each job (whose `deps` are earlier jobs), the largest total weight
    of a chain of jobs from it to one nothing depends on, itself included."""
    length = list(weights)
    for i in range(len(deps) - 1, -1, -1):
        for d in deps[i]:
            if length[d] < weights[d] + length[i]:
                length[d] = weights[d] + length[i]
    return length


class Priority:
    """dask's `priority` annotation of a graph's tasks: higher runs first.
    Keys it does not know get 0."""

    def __init__(self, by_key):
        self.by_key = by_key

    def __call__(self, key):
        return self.by_key.get(key, 0)


class Submission:
    def __init__(self, sub, njobs, futures, outputs):
        self.sub = sub
        self.njobs = njobs
        self.futures = futures  # job index -> future, for the jobs dask must keep
        self.outputs = outputs
        self.seen = set()  # jobs with a successful run event
        self.seen_all = threading.Event()
        self.cancelled = False
        self.header = None  # the graph header's name, for a graph's blocks
        self.tail = False  # whether the workers were told it is in its tail


class Driver:
    def __init__(self, out):
        self.out = out
        self.client = None
        self.cluster = None
        self.threads = 1
        # The cluster's threads: a graph is in its tail when no more of its
        # blocks are left than this (`on_event`). `ClusterWatch` tells them
        # when a worker joins or leaves (`watching`), and the driver passes
        # them on to the Rust side (a `threads` event).
        self.known_threads = 0
        self.watching = False
        self.token = uuid.uuid4().hex[:12]
        self.topic = "taskgraph-" + self.token
        self.run_job = install_dispatch(DISPATCH_MODULE, DISPATCH_SOURCE).RunJob(self.token)
        self.programs = {}  # sha256 -> name, registered by this driver
        self.subs = {}
        self.lock = threading.Lock()
        # Held while a program is registered: graphs sent from several
        # threads at once ask for the same program at once, and registering
        # its plugin twice would replace it, whose teardown closes the
        # runners that are serving blocks.
        self.program_lock = threading.Lock()
        self.spawned = []  # `dask worker` processes started for connect()
        self.closing = False
        # Work done beside a graph's submission (its header stored in the
        # scheduler while its tasks are made).
        self.background = concurrent.futures.ThreadPoolExecutor(max_workers=2)

    # -- start --------------------------------------------------------------

    def start_local(self, msg, blobs):
        import dask
        from distributed import Client, LocalCluster

        self.threads = int(msg["threads"])
        # Worker processes forked from a server that has imported distributed
        # once, instead of new interpreters that each import it: workers added
        # while a graph runs join in a few tenths of a second rather than one
        # to three seconds, and the cluster starts about twice as fast. They
        # inherit this process's environment, as spawned ones do.
        dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
        # The scheduler's `worker-saturation` stays dask's default (1.1), as
        # dask.delayed has it: a worker of 2 threads holds a third task, so
        # it does not wait for the scheduler between tasks (at 1.0, the
        # tutorial of examples/versus_dask.rs took 20% longer on dask.delayed).
        self.cluster = LocalCluster(
            n_workers=int(msg["workers"]),
            threads_per_worker=self.threads,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
        self.client = Client(self.cluster)
        return self.started()

    def connect(self, msg, blobs):
        from distributed import Client

        self.client = Client(msg["address"], timeout=msg.get("timeout", "30s"))
        return self.started()

    def started(self):
        task_spec()  # a dask too old to take its graphs fails here, not at a submit
        # The tasks' function, by reference (`DISPATCH_SOURCE`), and the
        # workers' code, once per worker (`WorkerCode`).
        self.client.run_on_scheduler(install_dispatch_there, DISPATCH_MODULE, DISPATCH_SOURCE)
        self.client.register_plugin(WorkerCode(self.token), name="taskgraph-code-" + self.token)
        self.client.subscribe_topic(self.topic, self.on_event)
        # The cluster's threads, known here and on the Rust side from now on
        # (`on_event`): counted now, then told by `ClusterWatch`.
        threads = sum(int(w.get("nthreads") or 0) for w in scheduler_workers(self.client).values())
        with self.lock:
            self.known_threads = threads
        self.out.send({"ev": "threads", "threads": threads})
        try:
            self.client.register_plugin(
                ClusterWatch(self.topic), name="taskgraph-watch-" + self.token
            )
            self.watching = True
        except Exception:  # noqa: BLE001 - a scheduler that takes no plugins
            traceback.print_exc()
        import distributed

        return {
            "dashboard": self.client.dashboard_link,
            "scheduler": self.client.scheduler.address,
            "version": distributed.__version__,
        }

    # -- cluster ------------------------------------------------------------

    def workers(self, msg, blobs):
        return {"workers": worker_list(self.client)}

    def threads(self, msg, blobs):
        """The cluster's threads: as `ClusterWatch` last told, else from the
        scheduler (no worker is asked)."""
        if not self.watching:
            self.known_threads = sum(
                int(w.get("nthreads") or 0) for w in scheduler_workers(self.client).values()
            )
        return {"threads": self.known_threads}

    def add_workers(self, msg, blobs):
        n = int(msg["n"])
        before = set(scheduler_workers(self.client))
        if self.cluster is not None:
            self.cluster.scale(len(self.cluster.worker_spec) + n)
        else:
            threads = self.threads
            counts = [w["threads"] for w in worker_list(self.client) if w["threads"]]
            if counts:
                threads = max(set(counts), key=counts.count)
            for _ in range(n):
                self.spawned.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "distributed.cli.dask_worker",
                            self.client.scheduler.address,
                            "--nthreads",
                            str(threads),
                            "--nworkers",
                            "1",
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=sys.stderr,
                    )
                )
        deadline = time.time() + float(msg.get("timeout", 120))
        while True:
            # One snapshot for both the check and the answer: a second
            # question to the scheduler could miss a worker this one saw.
            info = scheduler_workers(self.client)
            new = set(info) - before
            if len(new) >= n:
                # The threads as this answer counts them, before any graph
                # sent after it is cut (`ClusterWatch` tells them too, maybe
                # later than this answer).
                threads = sum(int(w.get("nthreads") or 0) for w in info.values())
                with self.lock:
                    self.known_threads = threads
                self.out.send({"ev": "threads", "threads": threads})
                return {"workers": worker_list(self.client, only=new, info=info)}
            if time.time() > deadline:
                raise TimeoutError(f"{len(new)} of {n} new workers joined in time")
            time.sleep(0.05)

    def program(self, msg, blobs):
        path = msg["path"]
        with open(path, "rb") as f:
            data = f.read()
        digest = hashlib.sha256(data).hexdigest()
        name = os.path.basename(path) or "program"
        with self.program_lock:
            with self.lock:
                known = self.programs.get(digest) == name
            if not known:
                plugin = PLUGIN_PREFIX + digest[:32] + "-" + name
                there = self.client.run_on_scheduler(_has_worker_plugin, name=plugin)
                if not there:
                    self.client.register_plugin(ProgramPlugin(digest, name, data), name=plugin)
                with self.lock:
                    self.programs[digest] = name
        return {"hash": digest, "name": name, "bytes": len(data)}

    # -- submissions --------------------------------------------------------

    def submit(self, msg, blobs):
        from distributed import as_completed

        sub = int(msg["sub"])
        jobs = msg["jobs"]
        token = hashlib.sha1(f"{self.token}-{sub}".encode()).hexdigest()[:8]
        keys = [(f"{j['group']}-{token}", j["key"]) for j in jobs]
        dsk = {}
        outputs = [int(o) for o in msg["outputs"]]
        has_dependents = {d for j in jobs for d in j["deps"]}
        wanted = sorted(set(outputs) | (set(range(len(jobs))) - has_dependents))
        header = None
        if msg.get("header") and jobs:
            # The graph's header, with each served job's dask key, input,
            # inputs and dependents (by index), from which a worker runs a
            # block ahead of its task (`look_ahead`), goes to the scheduler
            # (`graph_header`), in the metadata of a task the client holds
            # to the graph's end, so that the scheduler drops it with that
            # task. It is stored while the graph's tasks are made, and
            # before they are sent.
            header = f"graph-{token}"
            header_at = (keys[wanted[0]], HEADER_FIELD)
            dependents = [[] for _ in jobs]
            for i, j in enumerate(jobs):
                for d in j["deps"]:
                    if i not in dependents[d]:
                        dependents[d].append(i)
            # What the served jobs' specs share goes with it once, not with
            # every task: their programs (hash, name, environment) and the
            # submission's fields.
            programs, program_of = [], {}
            plan = {}
            for i, j in enumerate(jobs):
                if not j.get("serve"):
                    continue
                program = {"hash": j["hash"], "name": j["name"], "args": j["args"], "env": dict(j["env"])}
                seen = json.dumps(program, sort_keys=True)
                if seen not in program_of:
                    program_of[seen] = len(programs)
                    programs.append(program)
                width = int(j.get("width", 1))
                plan[i] = (keys[i], blobs[i], list(j["deps"]), dependents[i], width, program_of[seen])
            common = {
                "programs": programs,
                "sub": sub,
                "topic": self.topic,
                "tail": len(jobs) <= self.known_threads,
                "header": header,
            }
            blob = pickle.dumps((blobs[len(jobs)], plan, common), protocol=pickle.HIGHEST_PROTOCOL)
            store = self.background.submit(self.client.set_metadata, list(header_at), blob)
        for i, j in enumerate(jobs):
            deps = [keys[d] for d in j["deps"]]
            if header is not None and j.get("serve"):
                # A block of a graph: the rest of its spec is in the graph's
                # header, which its worker reads from the scheduler once
                # (`graph_header`), so a task is its index and the header's
                # place.
                spec = {"job": i, "header": header, "header_at": header_at}
                dsk[keys[i]] = build_task(self.run_job, keys[i], spec, deps, bool(j.get("queue")))
                continue
            spec = {
                "sub": sub,
                "job": i,
                "key": j["key"],
                "hash": j["hash"],
                "name": j["name"],
                "args": j["args"],
                "env": dict(j["env"]),
                "input": blobs[i],
                "files": bool(j.get("files")),
                "serve": bool(j.get("serve")),
                "width": int(j.get("width", 1)),
                "topic": self.topic,
            }
            dsk[keys[i]] = build_task(self.run_job, keys[i], spec, deps, bool(j.get("queue")))
        state = Submission(sub, len(jobs), {}, outputs)
        if header is not None:
            state.header = header
            # A graph of no more blocks than the cluster has threads is in
            # its tail from the start: its blocks say so (`serve_here`).
            state.tail = len(jobs) <= self.known_threads
        with self.lock:
            self.subs[sub] = state
        if not jobs:
            state.seen_all.set()
        import dask

        # dask orders ready tasks to save memory, not to finish sooner: a
        # leaf block that joins a tree near its top can wait behind the
        # other leaves and then leave a chain of blocks on one thread while
        # the others idle. Each job's priority is the heaviest chain of jobs
        # from it to the end of the graph (a block weighs its node count),
        # so the longest remaining path goes first; ties keep dask's order.
        priorities = chain_lengths([j["deps"] for j in jobs], [j.get("weight", 1) for j in jobs])
        by_key = {keys[i]: p for i, p in enumerate(priorities)}
        if header is not None:
            store.result()  # in the scheduler before any block asks for it
        with dask.annotate(priority=Priority(by_key)):
            futures = self.client.get(graph_expr(dsk, f"{self.token}-{sub}"), [keys[i] for i in wanted], sync=False)
        state.futures = dict(zip(wanted, futures))
        self.out.send({"re": msg["id"], "ok": True, "keys": [str(k) for k in keys]})

        try:
            for future in as_completed(futures):
                if state.cancelled:
                    return
                if future.status == "error":
                    self.send_failure(sub, future)
                    return
                if future.status == "cancelled":
                    raise RuntimeError("the submission's tasks were cancelled")
            # Workers report runs in batches, up to RUN_BATCH_SECONDS after
            # the run, so the last reports may come after the results: those
            # still in a batch are taken from the workers at once (a round
            # trip, shorter than the batch's wait), while the values are
            # fetched; those of a worker that died before it sent them are
            # not waited for long.
            flush = None
            if not state.seen_all.is_set():
                flush = threading.Thread(target=self.flush_reports, daemon=True)
                flush.start()
            values = self.client.gather([state.futures[i] for i in outputs])
            if flush is not None:
                flush.join()
                state.seen_all.wait(REPORT_GRACE_SECONDS)
            self.out.send({"ev": "done", "sub": sub, "ok": True}, values)
        except Exception as e:  # noqa: BLE001 - every failure goes to Rust
            traceback.print_exc()
            self.out.send({"ev": "done", "sub": sub, "ok": False, "error": describe(e)})
        finally:
            if not state.cancelled:
                self.client.cancel(futures)
            with self.lock:
                self.subs.pop(sub, None)
            if header is not None:
                # The workers drop the header and stop its blocks run ahead
                # (the scheduler drops it with the task it is kept in).
                threading.Thread(target=self.drop_header, args=(header,), daemon=True).start()

    def drop_header(self, header):
        try:
            self.client.run(forget_header, header, on_error="ignore")
        except Exception:  # noqa: BLE001 - the header is not the result
            if not self.closing:
                traceback.print_exc()

    def flush_reports(self):
        """Takes the run reports the workers still gather from them."""
        try:
            pending = self.client.run(flush_all_runs, self.topic, on_error="ignore")
            for runs in pending.values():
                if isinstance(runs, list) and runs:
                    self.on_event((None, {"runs": runs}))
        except Exception:  # noqa: BLE001 - the reports are not the result
            traceback.print_exc()

    def send_failure(self, sub, future):
        exc = future.exception()
        if type(exc).__name__ == "JobFailed" and len(exc.args) == 4:
            key, job, code, stderr = exc.args
            self.out.send(
                {
                    "ev": "done",
                    "sub": sub,
                    "ok": False,
                    "error": {"kind": "job", "key": key, "job": job, "code": code},
                },
                [stderr],
            )
        else:
            self.out.send({"ev": "done", "sub": sub, "ok": False, "error": describe(exc)})

    def cancel(self, msg, blobs):
        with self.lock:
            state = self.subs.pop(int(msg["sub"]), None)
        if state is not None:
            state.cancelled = True
            self.client.cancel(list(state.futures.values()))
        return {}

    def on_event(self, event):
        _, msg = event
        if "threads" in msg:
            with self.lock:
                self.known_threads = int(msg["threads"])
            self.out.send({"ev": "threads", "threads": int(msg["threads"])})
            return
        runs = msg.get("runs", ())
        tails = []
        with self.lock:
            for run in runs:
                state = self.subs.get(run.get("sub"))
                if state is not None and run.get("ok"):
                    state.seen.add(run["job"])
                    if len(state.seen) == state.njobs:
                        state.seen_all.set()
                    elif (
                        state.header is not None
                        and not state.tail
                        and state.njobs - len(state.seen) <= self.known_threads
                    ):
                        state.tail = True
                        tails.append(state.header)
        self.out.send_many([{"ev": "run", **run} for run in runs])
        for graph in tails:
            # Workers may lend idle threads to its blocks now (`lend`).
            threading.Thread(target=self.tell_tail, args=(graph,), daemon=True).start()

    def tell_tail(self, graph):
        try:
            self.client.run(mark_tail, graph, on_error="ignore")
        except Exception:  # noqa: BLE001 - lending threads is never the result
            traceback.print_exc()

    # -- end ----------------------------------------------------------------

    def close(self):
        self.closing = True
        self.background.shutdown(wait=False)
        if self.watching and self.cluster is None:
            # A scheduler that outlives this client keeps no plugin of it.
            try:
                self.client.unregister_scheduler_plugin("taskgraph-watch-" + self.token)
            except Exception:  # noqa: BLE001 - closing anyway
                traceback.print_exc()
        for closer in (self.client, self.cluster):
            if closer is not None:
                try:
                    closer.close()
                except Exception:  # noqa: BLE001 - closing anyway
                    traceback.print_exc()
        for proc in self.spawned:
            proc.terminate()
        for proc in self.spawned:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _has_worker_plugin(dask_scheduler, name):
    return name in dask_scheduler.worker_plugins


def describe(exc):
    return {"kind": "dask", "message": f"{type(exc).__name__}: {exc}"}


OPS = {
    "start_local": Driver.start_local,
    "connect": Driver.connect,
    "workers": Driver.workers,
    "threads": Driver.threads,
    "add_workers": Driver.add_workers,
    "program": Driver.program,
    "submit": Driver.submit,
    "cancel": Driver.cancel,
}


def handle(driver, msg, blobs):
    try:
        answer = OPS[msg["op"]](driver, msg, blobs)
    except Exception as e:  # noqa: BLE001 - every failure goes to Rust
        traceback.print_exc()
        driver.out.send({"re": msg["id"], "ok": False, "error": f"{type(e).__name__}: {e}"})
        return
    if answer is not None:
        driver.out.send({"re": msg["id"], "ok": True, **answer})


def main():
    # The protocol owns the original stdout; anything else that prints (a
    # library, a child process) goes to stderr.
    out = Out(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    driver = Driver(out)
    try:
        while True:
            line = stdin.readline()
            if not line:
                break
            msg = json.loads(line)
            blobs = [stdin.read(n) for n in msg.get("blobs", [])]
            if msg["op"] == "close":
                break
            if msg["op"] in ("start_local", "connect"):
                handle(driver, msg, blobs)  # everything else needs the client
            else:
                threading.Thread(target=handle, args=(driver, msg, blobs), daemon=True).start()
    finally:
        driver.close()
        remove_script()
        out.send({"ev": "closed"})


def remove_script():
    """Delete this file and its directory, which the Rust side made for it."""
    path = os.path.abspath(__file__)
    folder = os.path.dirname(path)
    if os.path.basename(path) == "driver.py" and os.path.basename(folder).startswith(
        "taskgraph-cluster-"
    ):
        try:
            os.remove(path)
            os.rmdir(folder)
        except OSError:
            pass


if __name__ == "__main__":
    main()
