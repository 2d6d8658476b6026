//! The pool at its edges: large thread counts.
//!
//! For each thread count (64, 512 and `Runtime::MAX_THREADS` = 4096):
//!
//! - **start**: wall time of `Runtime::new(n)`, against starting `n` plain
//!   `std::thread`s that wait on a channel (the operating system's share);
//! - **settle**: CPU time of the whole process in the 100 ms after
//!   `Runtime::new` returned (what starting threads do once started);
//! - **idle**: CPU time of the process while the runtime sits idle for a
//!   further second (0 if idle threads park without spinning);
//! - **compute**: wall and CPU time of one compute of 1,000 zero-work
//!   tasks (`x = inc(i)`, then `tree_reduce`), checked against the
//!   sequential sum;
//! - **drop**: wall time of dropping the runtime (every thread joined).
//!
//! `cargo bench --bench pool` prints the table (one run per count: a
//! thread count of 4096 takes seconds); `-- --smoke` runs 4 and 16 threads
//! with shorter waits; `-- --threads N` only that count. CPU time is the
//! process's (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`, Linux; elsewhere
//! the columns read `-`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn add(x: u64, y: u64) -> u64 {
    x.wrapping_add(y)
}

/// CPU time of the whole process so far (every thread), if known.
#[cfg(target_os = "linux")]
fn cpu_time() -> Option<Duration> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable `struct timespec` (two 64-bit fields
    // on the 64-bit Linux targets this is compiled for).
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    (rc == 0 && cfg!(target_pointer_width = "64"))
        .then(|| Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

#[cfg(not(target_os = "linux"))]
fn cpu_time() -> Option<Duration> {
    None
}

/// CPU time spent while `f` runs, and its result.
fn cpu_during<R>(f: impl FnOnce() -> R) -> (Option<Duration>, R) {
    let before = cpu_time();
    let r = f();
    let after = cpu_time();
    (before.zip(after).map(|(b, a)| a.saturating_sub(b)), r)
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.1}", d.as_secs_f64() * 1e3),
    )
}

/// Wall time of starting `n` plain threads that wait on a channel, and of
/// ending them.
fn plain_threads(n: usize) -> (Duration, Duration) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let rx = std::sync::Arc::clone(&rx);
            std::thread::spawn(move || {
                let _ = rx.lock().map(|r| r.recv());
            })
        })
        .collect();
    let start = t0.elapsed();
    let t1 = Instant::now();
    drop(tx);
    for h in hs {
        h.join().expect("plain thread");
    }
    (start, t1.elapsed())
}

/// One compute of `n` zero-work tasks and their pairwise sum.
fn tiny(rt: &Runtime, n: u64) -> u64 {
    let got = rt
        .compute(graph! {
            let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
            tree_reduce(v, add)
        })
        .expect("compute");
    assert_eq!(got, (1..=n).sum::<u64>(), "{n} tasks");
    got
}

/// Runs the benchmark; `args` are the command-line arguments.
pub fn run(args: &[String]) {
    let smoke = args.iter().any(|a| a == "--smoke")
        || std::env::var("TASKGRAPH_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let only: Option<usize> = args
        .iter()
        .position(|a| a == "--threads")
        .map(|k| args[k + 1].parse().expect("--threads N"));
    let counts: Vec<usize> = match (only, smoke) {
        (Some(n), _) => vec![n],
        (None, true) => vec![4, 16],
        (None, false) => vec![64, 512, Runtime::MAX_THREADS],
    };
    let (settle, idle) = if smoke {
        (Duration::from_millis(10), Duration::from_millis(20))
    } else {
        (Duration::from_millis(100), Duration::from_secs(1))
    };
    println!(
        "| threads | start (ms) | plain threads (ms) | settle CPU (ms) | idle CPU (ms / {} ms) \
         | compute 1,000 tasks (ms) | its CPU (ms) | drop (ms) | plain join (ms) |",
        idle.as_millis()
    );
    println!("|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for n in counts {
        let (plain_start, plain_join) = plain_threads(n);
        let t0 = Instant::now();
        let rt = Runtime::new(n).expect("runtime");
        let start = t0.elapsed();
        let (settle_cpu, ()) = cpu_during(|| std::thread::sleep(settle));
        let (idle_cpu, ()) = cpu_during(|| std::thread::sleep(idle));
        let t1 = Instant::now();
        let (compute_cpu, got) = cpu_during(|| tiny(&rt, 1000));
        let compute = t1.elapsed();
        black_box(got);
        let t2 = Instant::now();
        drop(rt);
        let dropped = t2.elapsed();
        let f = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f(start),
            f(plain_start),
            ms(settle_cpu),
            ms(idle_cpu),
            f(compute),
            ms(compute_cpu),
            f(dropped),
            f(plain_join),
        );
    }
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(&args);
}
