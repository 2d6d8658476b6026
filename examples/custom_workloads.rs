//! dask's "Custom Workloads with dask.delayed" tutorial, end to end, in Rust.
//!
//! ```text
//! cargo run --release --example custom_workloads [-- --scale SECONDS]
//! ```
//!
//! `inc`, `dec` and `add` each sleep a random time, uniform in
//! `[0, 2 * scale]` (mean `scale`), to stand in for real work. The sleeps come
//! from a small xorshift generator with a fixed seed, reseeded before each run
//! so that a sequential run and its graph draw the same sleeps.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Graph, Runtime};

/// Mean sleep per task when `--scale` is not given, in seconds.
const DEFAULT_SCALE: f64 = 0.002;
/// Threads in the tutorial's `Client(threads_per_worker=4, n_workers=1)`.
const THREADS: usize = 4;
/// Iterations of the tutorial's for loop.
const N: i64 = 256;

// ---------------------------------------------------------------------------
// Random sleeps: xorshift64 over one shared atomic state.

const SEED: u64 = 0x2545_F491_4F6C_DD1D;
static RNG: AtomicU64 = AtomicU64::new(SEED);
/// The mean sleep, in nanoseconds.
static SCALE_NS: AtomicU64 = AtomicU64::new(0);
/// How many task bodies have run (to show that building a graph runs none).
static CALLS: AtomicU64 = AtomicU64::new(0);

fn xorshift(mut s: u64) -> u64 {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    s
}

/// Maps one generator state to a sleep, uniform in `[0, 2 * scale]`.
fn sleep_of(state: u64) -> Duration {
    let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
    Duration::from_nanos((2.0 * unit * SCALE_NS.load(Relaxed) as f64) as u64)
}

/// Restarts the sequence of sleeps.
fn reseed() {
    RNG.store(SEED, Relaxed);
}

/// The next `n` sleeps that the tasks will draw after `reseed()`, without drawing them.
fn upcoming(n: usize) -> Vec<Duration> {
    let mut s = SEED;
    (0..n)
        .map(|_| {
            s = xorshift(s);
            sleep_of(s)
        })
        .collect()
}

/// The stand-in for real work: sleep for the next random duration.
fn work() {
    CALLS.fetch_add(1, Relaxed);
    let prev = RNG
        .fetch_update(Relaxed, Relaxed, |s| Some(xorshift(s)))
        .unwrap_or_else(|s| s);
    let d = sleep_of(xorshift(prev));
    if !d.is_zero() {
        thread::sleep(d);
    }
}

// ---------------------------------------------------------------------------
// The tutorial's functions. `#[delayed]` leaves them callable as usual.

#[delayed]
fn inc(x: i64) -> i64 {
    work();
    x + 1
}

#[delayed]
fn dec(x: i64) -> i64 {
    work();
    x - 1
}

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    work();
    x + y
}

/// A graph is a value: a function can build it and return it, uncomputed.
fn tutorial_graph(a: i64, b: i64) -> impl taskdag::Graph<Output = i64> {
    graph! {
        let x = inc(a);
        let y = dec(b);
        add(x, y)
    }
}

// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let scale = match parse_scale(std::env::args().skip(1)) {
        Ok(Some(s)) => s,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    SCALE_NS.store((scale * 1e9) as u64, Relaxed);
    match run(scale) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: custom_workloads [--scale SECONDS]\n\n  \
    --scale SECONDS   mean sleep per task (uniform in [0, 2*SECONDS]); default 0.002";

/// `Ok(None)` asks for the usage text.
fn parse_scale(mut args: impl Iterator<Item = String>) -> Result<Option<f64>, String> {
    let mut scale = DEFAULT_SCALE;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--scale" => args.next().ok_or("`--scale` needs a value in seconds")?,
            _ => match arg.strip_prefix("--scale=") {
                Some(v) => v.to_owned(),
                None => return Err(format!("unknown argument `{arg}`")),
            },
        };
        scale = value
            .parse()
            .map_err(|_| format!("`--scale {value}`: expected a number of seconds"))?;
        if !(0.0..=10.0).contains(&scale) {
            return Err(format!("`--scale {value}`: expected 0 to 10 seconds"));
        }
    }
    Ok(Some(scale))
}

/// `1.2 ms`; `3.4 µs` below a millisecond; `56 ns` below a microsecond.
fn ms(d: Duration) -> String {
    if d < Duration::from_micros(1) {
        format!("{} ns", d.as_nanos())
    } else if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

fn sum(ds: &[Duration]) -> Duration {
    ds.iter().sum()
}

fn run(scale: f64) -> Result<(), taskdag::Error> {
    println!(
        "Custom workloads with taskgraph: each task sleeps uniformly in [0, {:.1}] ms (mean {:.1} ms).\n",
        2e3 * scale,
        1e3 * scale
    );

    // -- 1 ------------------------------------------------------------------
    println!("1. Sequential code: call inc(1), dec(2) and add(x, y) one after the other.");
    reseed();
    let t = Instant::now();
    let x = inc(1);
    let y = dec(2);
    let z = add(x, y);
    let sequential = t.elapsed();
    assert_eq!(z, 3);
    let d = upcoming(3);
    println!(
        "   z = {z} in {}: the three sleeps add up ({} + {} + {} = {}).",
        ms(sequential),
        ms(d[0]),
        ms(d[1]),
        ms(d[2]),
        ms(sum(&d))
    );
    println!(
        "   inc(1) and dec(2) do not depend on each other: they could run at the same time.\n"
    );

    // -- 2 ------------------------------------------------------------------
    println!(
        "2. The same code inside `graph!`: the calls become nodes of a graph; nothing runs yet."
    );
    let calls = CALLS.load(Relaxed);
    let t = Instant::now();
    let g = graph! {
        let x = inc(1);
        let y = dec(2);
        add(x, y)
    };
    let built = t.elapsed();
    assert_eq!(
        CALLS.load(Relaxed),
        calls,
        "building a graph must not run a task"
    );
    println!(
        "   built in {} with 0 tasks run: the graph is a value (a closure) until it is computed.\n",
        ms(built)
    );

    // -- 3 ------------------------------------------------------------------
    println!(
        "3. Compute it on a runtime of {THREADS} threads (dask's Client(threads_per_worker=4))."
    );
    let rt = Runtime::new(THREADS)?;
    reseed();
    let t = Instant::now();
    let z = rt.compute(g)?;
    let parallel = t.elapsed();
    assert_eq!(z, 3);
    println!(
        "   z = {z} in {} instead of {}: inc and dec ran in parallel, so the time is about",
        ms(parallel),
        ms(sequential)
    );
    println!(
        "   max({}, {}) + {} = {}: two sleeps instead of three.",
        ms(d[0]),
        ms(d[1]),
        ms(d[2]),
        ms(d[0].max(d[1]) + d[2])
    );
    println!("   A function can return a graph, as `impl taskdag::Graph<Output = i64>`, and");
    println!("   g.compute() runs it on the default runtime (one thread per core, started on first use):");
    reseed();
    let t = Instant::now();
    let z = tutorial_graph(1, 2).compute()?;
    assert_eq!(z, 3);
    println!("   z = {z} in {}.\n", ms(t.elapsed()));

    // -- 4 ------------------------------------------------------------------
    let tasks = 3 * N as usize + (N as usize - 1);
    println!("4. The for loop: {N} times x = inc(i); y = dec(x); z = add(x, y); zs.push(z),");
    println!("   then add up all of zs: {tasks} tasks.");
    let expected: i64 = (0..N).map(|i| 2 * i + 1).sum();
    reseed();
    let t = Instant::now();
    let mut zs = Vec::new();
    for i in 0..N {
        let x = inc(i);
        let y = dec(x);
        let z = add(x, y);
        zs.push(z);
    }
    let total = zs.iter().copied().reduce(add).expect("N > 0");
    let sequential = t.elapsed();
    assert_eq!(total, expected);
    println!("   sequentially: total = {total} in {}.", ms(sequential));

    let n = N;
    reseed();
    let t = Instant::now();
    let total = rt.compute(graph! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
    })?;
    let parallel = t.elapsed();
    assert_eq!(total, expected);
    let work = sum(&upcoming(tasks));
    println!(
        "   as a graph:   total = {total} in {}: a speed-up of {:.2}x on {THREADS} threads.",
        ms(parallel),
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );
    println!(
        "   The same sleeps add up to {}, so {THREADS} threads need at least {}.",
        ms(work),
        ms(work / THREADS as u32)
    );
    println!("   Each call site in the loop is one family of nodes with {N} instances;");
    println!("   tree_reduce(zs, add) adds neighbours, then neighbours of neighbours.\n");
    see_the_computation(&rt, n)
        .map_err(|e| {
            eprintln!("   (could not write the pictures: {e})");
            e
        })
        .ok();

    // -- 5 ------------------------------------------------------------------
    println!("5. Tree summation: keep the {N} values in memory (dask.persist), then sum them");
    println!("   by adding neighbours, then neighbours of neighbours, until one value is left.");
    reseed();
    let t = Instant::now();
    // `zs = dask.persist(*zs)`: the loop starts in the background, and
    // `spawn` returns at once with a handle to it.
    let loop_handle = rt.spawn(graph! {
        let zs: Vec<_> = (0..n).map(|i| {
            let x = inc(i);
            let y = dec(x);
            add(x, y)
        }).collect();
        zs
    });
    // The tree summation is built on the running loop without waiting for
    // it: its adds start when the loop's values are there, and hold no
    // thread until then. Meanwhile this thread shows the loop's progress,
    // as dask's progress bar would.
    let running = &loop_handle;
    let early_sum = thread::scope(|s| {
        let summing = s.spawn(|| rt.compute(graph! { tree_reduce(running, add) }));
        let mut shown = 0;
        while !running.is_finished() {
            let p = running.progress();
            if p.done >= shown + p.total / 4 && p.total > 0 {
                println!(
                    "   persisting: {p} tasks done ({:.0}%)",
                    100.0 * p.fraction()
                );
                shown = p.done;
            }
            thread::sleep(Duration::from_millis(1));
        }
        summing.join().expect("the summing thread panicked")
    })?;
    let done = loop_handle.progress();
    let zs: Vec<i64> = loop_handle.wait()?;
    assert_eq!(zs, (0..N).map(|i| 2 * i + 1).collect::<Vec<_>>());
    assert_eq!(early_sum, expected);
    println!(
        "   persisted {} values ({done} tasks) and summed them with a graph built on the",
        zs.len()
    );
    println!(
        "   running loop, tree_reduce(&handle, add): sum = {early_sum}, both in {}.",
        ms(t.elapsed())
    );

    // The tutorial's while loop, as ordinary (eager, sequential) Rust.
    reseed();
    let t = Instant::now();
    let mut level = zs.clone();
    let mut depth = 0;
    while level.len() > 1 {
        let mut next = Vec::new();
        for i in (0..level.len()).step_by(2) {
            let lazy = match level.get(i + 1) {
                Some(&right) => add(level[i], right), // add neighbours
                None => level[i],                     // an odd one out moves up
            };
            next.push(lazy);
        }
        level = next; // swap the old list for the new
        depth += 1;
    }
    let sequential = t.elapsed();
    let sequential_sum = level[0];
    assert_eq!(sequential_sum, zs.iter().sum::<i64>());
    println!(
        "   the tutorial's while loop, sequentially: sum = {sequential_sum} in {} ({} adds, {depth} levels).",
        ms(sequential),
        zs.len() - 1
    );

    // The notebook's last cell: the same while loop as a graph, over the
    // persisted values. `zs = dask.persist(*zs)` is a spawned graph; read
    // inside `graph!` it is a vector of lazy values whose length is plain, so
    // the loop's shape (how many levels, who pairs with whom) is known while
    // each `add` is a task. `&persisted_zs` borrows the handle.
    let persisted_zs = rt.spawn(graph! {
        let zs: Vec<_> = (0..n).map(|i| {
            let x = inc(i);
            let y = dec(x);
            add(x, y)
        }).collect();
        zs
    });
    while !persisted_zs.is_finished() {
        thread::sleep(Duration::from_millis(1));
    }
    reseed();
    let t = Instant::now();
    let tree_sum = rt.compute(graph! {
        let mut l = &persisted_zs;
        while l.len() > 1 {
            let mut new_l = Vec::new();
            for i in (0..l.len()).step_by(2) {
                if i + 1 < l.len() {
                    new_l.push(add(l[i], l[i + 1])); // add neighbours
                } else {
                    new_l.push(l[i]); // an odd one out moves up
                }
            }
            l = new_l; // swap the old list for the new
        }
        l[0]
    })?;
    let parallel = t.elapsed();
    assert_eq!(tree_sum, sequential_sum);
    assert_eq!(tree_sum, expected);
    println!(
        "   the same while loop inside graph!:       sum = {tree_sum} in {}: a speed-up of {:.2}x.",
        ms(parallel),
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );

    // The library's own tree: tree_reduce pairs v[0] with v[1], v[2] with v[3], ...
    reseed();
    let t = Instant::now();
    let reduced = rt.compute(graph! { tree_reduce(&persisted_zs, add) })?;
    assert_eq!(reduced, sequential_sum);
    println!(
        "   or tree_reduce(&persisted_zs, add):        sum = {reduced} in {}.",
        ms(t.elapsed())
    );
    // Both graphs borrowed the handle: the persisted values are still there.
    assert_eq!(persisted_zs.wait()?, zs);
    println!(
        "   The adds of one level run in parallel; only the top levels are narrower than the pool."
    );
    println!("\nAll results match the sequential reference.");
    Ok(())
}

// ---------------------------------------------------------------------------
// Seeing the computation (dask's `visualize`, `progress`, the dashboard's task
// stream and `performance_report`): one helper, called after part 4.

/// The tutorial's loop as a graph value, to look at and then compute.
fn tutorial_loop(n: i64) -> impl Graph<Output = i64> {
    graph! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
    }
}

/// Draws the loop's graph, runs it with progress bars while recording the
/// task stream, and writes the trace and the performance report.
fn see_the_computation(rt: &Runtime, n: i64) -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;
    use taskdag::progress::ProgressBars;
    use taskdag::stream::TaskStream;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/custom_workloads");
    std::fs::create_dir_all(&dir)?;
    println!(
        "4b. See the computation (dask's visualize, progress, task stream, performance_report)."
    );
    let small = tutorial_loop(8);
    small
        .view()
        .left_right()
        .visualize(dir.join("graph-8.svg"))?;
    let g = tutorial_loop(n);
    println!(
        "   {}",
        g.tasks()?.to_string().trim_end().replace('\n', "\n   ")
    );
    g.visualize(dir.join("graph.svg"))?;
    g.view().template().visualize(dir.join("template.svg"))?;
    println!("   Drawn without running a task, no Graphviz needed:");
    println!(
        "     {}  (8 iterations, one node per task)",
        dir.join("graph-8.svg").display()
    );
    println!(
        "     {}  ({n} iterations: one node per call site past 500 tasks)",
        dir.join("graph.svg").display()
    );
    println!(
        "     {}  (the compile-time template)",
        dir.join("template.svg").display()
    );

    let bars = Arc::new(ProgressBars::new());
    let stream = Arc::new(TaskStream::new());
    let watching = (rt.observe(bars.clone()), rt.observe(stream.clone()));
    reseed();
    let total = rt.compute(g)?;
    drop(watching);
    assert_eq!(total, (0..n).map(|i| 2 * i + 1).sum::<i64>());
    for b in bars.last() {
        println!("   progress: {:>4} {}/{}", b.name, b.done, b.total);
    }
    stream.write_chrome_trace(dir.join("trace.json"))?;
    stream.write_report(dir.join("report.html"))?;
    let spans = stream.spans();
    let tasks = stream.tasks().len();
    println!(
        "   The task stream of that run ({tasks} tasks one by one, and {} blocks of the fused loop):",
        spans.len() - tasks
    );
    println!(
        "     {}  (open it in ui.perfetto.dev or chrome://tracing)",
        dir.join("trace.json").display()
    );
    println!(
        "     {}  (the performance report: open it in a browser)\n",
        dir.join("report.html").display()
    );
    Ok(())
}
