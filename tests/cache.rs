//! The result cache (`#[delayed(cache)]`, `Runtime::builder().cache(dir)`):
//! results against an uncached run, and counts of what ran. A second run
//! loads every cached result; an edit recomputes only what changed; a bad
//! entry, an unwritable directory, a process killed with `kill -9` and two
//! processes sharing a directory all still give the right result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressDrawTarget;
use serde::{Deserialize, Serialize};
use taskdag::progress::ProgressBars;
use taskdag::stream::TaskStream;
use taskdag::{delayed, graph, Runtime};

/// A fresh directory for one test (removed first if a run before left it).
fn dir(name: &str) -> PathBuf {
    // Per process: two `cargo test` runs at once in one checkout must not
    // share (and remove) each other's caches.
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cache-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The entry files in a cache directory.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if d.file_name() == "tmp" {
            continue;
        }
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            out.push(f.path());
        }
    }
    out.sort();
    out
}

// Counters: each test uses its own functions, so tests running at once do
// not count each other's calls.

static LOADS: AtomicUsize = AtomicUsize::new(0);
static CLEANS: AtomicUsize = AtomicUsize::new(0);
static SUMMARIES: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Summary {
    file: u32,
    count: usize,
    mean: f64,
    max: i64,
}

#[delayed(cache)]
fn load(file: u32) -> Vec<i64> {
    LOADS.fetch_add(1, Ordering::Relaxed);
    (0..50)
        .map(|i| ((file as i64 * 7919 + i * 104_729) % 1000) - 300)
        .collect()
}

#[delayed(cache)]
fn clean(raw: &[i64]) -> Vec<i64> {
    CLEANS.fetch_add(1, Ordering::Relaxed);
    raw.iter().copied().filter(|v| *v >= 0).collect()
}

#[delayed(cache)]
fn summarise(file: u32, v: &Vec<i64>) -> Summary {
    SUMMARIES.fetch_add(1, Ordering::Relaxed);
    Summary {
        file,
        count: v.len(),
        mean: v.iter().sum::<i64>() as f64 / v.len().max(1) as f64,
        max: v.iter().copied().max().unwrap_or(0),
    }
}

fn reference(files: u32) -> Vec<Summary> {
    (0..files)
        .map(|f| {
            let raw: Vec<i64> = (0..50)
                .map(|i| ((f as i64 * 7919 + i * 104_729) % 1000) - 300)
                .collect();
            let v: Vec<i64> = raw.into_iter().filter(|v| *v >= 0).collect();
            Summary {
                file: f,
                count: v.len(),
                mean: v.iter().sum::<i64>() as f64 / v.len().max(1) as f64,
                max: v.iter().copied().max().unwrap_or(0),
            }
        })
        .collect()
}

fn counts() -> [usize; 3] {
    [&LOADS, &CLEANS, &SUMMARIES].map(|c| c.swap(0, Ordering::Relaxed))
}

fn pipeline(rt: &Runtime, files: u32) -> Vec<Summary> {
    rt.compute(graph! {
        let mut out = Vec::new();
        for f in 0..files {
            let raw = load(f);
            let c = clean(&raw);
            out.push(summarise(f, &c));
        }
        out
    })
    .unwrap()
}

#[test]
fn a_second_run_loads_every_cached_result_and_an_edit_recomputes_what_follows_it() {
    let d = dir("second-run");
    let stream = Arc::new(TaskStream::new());
    for fuse in [true, false] {
        let _ = std::fs::remove_dir_all(&d);
        counts();
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .cache(&d)
            .build()
            .unwrap();
        assert_eq!(pipeline(&rt, 40), reference(40));
        assert_eq!(counts(), [40, 40, 40]);
        assert_eq!(entries(&d).len(), 120);
        let s = rt.cache().unwrap().stats();
        assert_eq!((s.hits, s.misses, s.stored, s.entries), (0, 120, 120, 120));
        drop(rt);

        // A new runtime, as a new process would open it.
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .cache(&d)
            .observer(stream.clone())
            .build()
            .unwrap();
        stream.clear();
        assert_eq!(pipeline(&rt, 40), reference(40));
        assert_eq!(counts(), [0, 0, 0], "nothing runs again");
        let s = rt.cache().unwrap().stats();
        assert_eq!((s.hits, s.misses, s.stored), (120, 0, 0));
        // The task stream shows the hits: per task node by node, per block
        // when the loop is fused.
        let hits: u64 = stream.spans().iter().map(|s| u64::from(s.cache.hits)).sum();
        assert_eq!(hits, 120);
        assert!(stream.spans().iter().all(|s| s.cache.misses == 0));
        if !fuse {
            assert_eq!(stream.tasks().len(), 120);
            assert!(stream.tasks().iter().all(|t| t.cache.is_hit()));
            let stats = stream.stats();
            assert_eq!(stats.len(), 3);
            assert!(stats.iter().all(|s| (s.count, s.cache_hits) == (40, 40)));
            assert!(stream.report("cached").contains("40 (40 from the cache)"));
            assert_eq!(
                stream.chrome_trace().matches("\"cname\":\"good\"").count(),
                120
            );
        }

        // More files: only the new ones run; progress bars count both.
        let bars = Arc::new(ProgressBars::with_target(ProgressDrawTarget::hidden()));
        let watching = rt.observe(bars.clone());
        assert_eq!(pipeline(&rt, 50), reference(50));
        drop(watching);
        assert_eq!(counts(), [10, 10, 10]);
        assert_eq!((bars.cache_use().hits, bars.cache_use().misses), (120, 30));
    }
}

static PARSES: AtomicUsize = AtomicUsize::new(0);
static SQUARES: AtomicUsize = AtomicUsize::new(0);

#[delayed(cache)]
fn parse(i: u32) -> u64 {
    PARSES.fetch_add(1, Ordering::Relaxed);
    u64::from(i) * 3
}

/// The step "before the edit".
mod before {
    use super::*;
    #[delayed(cache)]
    pub fn scale(x: u64) -> u64 {
        x + 1
    }
}

/// The same step edited: version 2 gives other values for odd inputs.
mod after {
    use super::*;
    #[delayed(cache, version = "2")]
    pub fn scale(x: u64) -> u64 {
        if x % 2 == 1 {
            x + 2
        } else {
            x + 1
        }
    }
}

#[delayed(cache)]
fn square(x: u64) -> u64 {
    SQUARES.fetch_add(1, Ordering::Relaxed);
    x * x
}

#[test]
fn an_edited_function_recomputes_itself_and_the_consumers_of_values_that_changed() {
    let d = dir("edit");
    let rt = Runtime::builder().threads(2).cache(&d).build().unwrap();
    let v1 = rt
        .compute(graph! {
            let xs: Vec<_> = (0..20u32).map(|i| square(before::scale(parse(i)))).collect();
            xs
        })
        .unwrap();
    let want1: Vec<u64> = (0..20u64).map(|i| (i * 3 + 1).pow(2)).collect();
    assert_eq!(v1, want1);
    assert_eq!(PARSES.swap(0, Ordering::Relaxed), 20);
    assert_eq!(SQUARES.swap(0, Ordering::Relaxed), 20);
    let v2 = rt
        .compute(graph! {
            let xs: Vec<_> = (0..20u32).map(|i| square(after::scale(parse(i)))).collect();
            xs
        })
        .unwrap();
    let want2: Vec<u64> = (0..20u64)
        .map(|i| {
            if i * 3 % 2 == 1 {
                (i * 3 + 2).pow(2)
            } else {
                (i * 3 + 1).pow(2)
            }
        })
        .collect();
    assert_eq!(v2, want2);
    // Upstream of the edit: loaded. The edited step: all 20 run (new keys).
    // Downstream: only where its input changed (the 10 odd ones).
    assert_eq!(PARSES.swap(0, Ordering::Relaxed), 0);
    assert_eq!(SQUARES.swap(0, Ordering::Relaxed), 10);
    let s = rt.cache().unwrap().stats();
    assert_eq!((s.hits, s.misses), (20 + 10, 60 + 20 + 10));
}

static FLIPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Row {
    id: u32,
    name: String,
    values: Vec<f64>,
}

#[delayed(cache)]
fn row(id: u32) -> Row {
    FLIPS.fetch_add(1, Ordering::Relaxed);
    Row {
        id,
        name: format!("row {id}"),
        values: (0..id).map(|k| f64::from(k) / 3.0).collect(),
    }
}

fn rows(rt: &Runtime) -> Vec<Row> {
    rt.compute(graph! {
        let rs: Vec<_> = (0..30u32).map(|i| row(i)).collect();
        rs
    })
    .unwrap()
}

fn want_rows() -> Vec<Row> {
    (0..30u32)
        .map(|id| Row {
            id,
            name: format!("row {id}"),
            values: (0..id).map(|k| f64::from(k) / 3.0).collect(),
        })
        .collect()
}

#[test]
fn corrupt_truncated_and_older_entries_are_recomputed() {
    let d = dir("corrupt");
    let rt = Runtime::builder().threads(2).cache(&d).build().unwrap();
    assert_eq!(rows(&rt), want_rows());
    assert_eq!(FLIPS.swap(0, Ordering::Relaxed), 30);
    let files = entries(&d);
    assert_eq!(files.len(), 30);
    // Damage 9 entries three ways: flipped bytes, cut short, older format.
    for (k, f) in files.iter().take(9).enumerate() {
        let mut b = std::fs::read(f).unwrap();
        match k % 3 {
            0 => {
                let mid = b.len() / 2;
                b[mid] ^= 0xff;
            }
            1 => b.truncate(b.len() - 5),
            _ => b[7] = 0,
        }
        std::fs::write(f, b).unwrap();
    }
    let rt = Runtime::builder().threads(2).cache(&d).build().unwrap();
    assert_eq!(rows(&rt), want_rows());
    assert_eq!(FLIPS.swap(0, Ordering::Relaxed), 9);
    let s = rt.cache().unwrap().stats();
    assert_eq!((s.hits, s.misses, s.rejected, s.stored), (21, 9, 9, 9));
    // Repaired: a third run loads all.
    assert_eq!(rows(&rt), want_rows());
    assert_eq!(FLIPS.swap(0, Ordering::Relaxed), 0);
}

static UNWRITABLE: AtomicUsize = AtomicUsize::new(0);

#[delayed(cache)]
fn cube(x: u64) -> u64 {
    UNWRITABLE.fetch_add(1, Ordering::Relaxed);
    x * x * x
}

#[test]
fn a_directory_that_cannot_be_written_or_created_leaves_the_results_right() {
    let want: Vec<u64> = (0..10u64).map(|x| x * x * x).collect();
    let run = |rt: &Runtime| {
        rt.compute(graph! {
            let v: Vec<_> = (0..10u64).map(|x| cube(x)).collect();
            v
        })
        .unwrap()
    };
    // Entries cannot be written (where temporary files go is a file; the
    // tests may run as root, whom permissions do not stop).
    let d = dir("unwritable");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("tmp"), b"not a directory").unwrap();
    let rt = Runtime::builder().threads(2).cache(&d).build().unwrap();
    assert_eq!(run(&rt), want);
    assert_eq!(run(&rt), want);
    assert_eq!(UNWRITABLE.swap(0, Ordering::Relaxed), 20);
    assert_eq!(rt.cache().unwrap().stats().stored, 0);
    // A directory that cannot be created (its parent is a file): no cache.
    let rt = Runtime::builder()
        .threads(2)
        .cache(d.join("tmp").join("below"))
        .build()
        .unwrap();
    assert!(rt.cache().is_none());
    assert_eq!(run(&rt), want);
    assert_eq!(UNWRITABLE.swap(0, Ordering::Relaxed), 10);
}

static CHAIN: AtomicUsize = AtomicUsize::new(0);

#[delayed(cache)]
fn step(x: u64, k: u32) -> u64 {
    CHAIN.fetch_add(1, Ordering::Relaxed);
    let y = x
        .wrapping_mul(6364136223846793005)
        .wrapping_add(u64::from(k));
    y ^ (y >> 29)
}

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

#[test]
fn fused_loops_with_cached_calls_give_the_uncached_results() {
    let run = |rt: &Runtime| {
        rt.compute(graph! {
            let mut acc = step(1, 0);
            let mut parts = Vec::new();
            for k in 0..64u32 {
                let a = step(7, k);
                parts.push(step(a, 1));
            }
            for k in 1..16u32 {
                acc = step(acc, k);
            }
            let total = tree_reduce(parts, add);
            (total, acc)
        })
        .unwrap()
    };
    let plain = Runtime::builder().threads(2).build().unwrap();
    let want = run(&plain);
    assert_eq!(CHAIN.swap(0, Ordering::Relaxed), 64 * 2 + 16);
    for fuse in [true, false] {
        let d = dir(&format!("fused-{fuse}"));
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .cache(&d)
            .build()
            .unwrap();
        assert_eq!(run(&rt), want);
        assert_eq!(CHAIN.swap(0, Ordering::Relaxed), 64 * 2 + 16);
        assert_eq!(run(&rt), want);
        assert_eq!(CHAIN.swap(0, Ordering::Relaxed), 0);
    }
}

#[delayed(cache)]
fn twice(x: u64) -> u64 {
    2 * x
}

#[test]
fn a_spawned_run_reports_its_cache_use_in_its_progress() {
    let run = |rt: &Runtime| {
        let h = rt.spawn(graph! {
            let mut parts = Vec::new();
            for k in 0..40u64 {
                let a = twice(k);
                parts.push(add(a, 1));
            }
            let extra = twice(1000);
            let total = tree_reduce(parts, add);
            add(total, extra)
        });
        let want = (0..40u64).map(|k| 2 * k + 1).sum::<u64>() + 2000;
        while !h.is_finished() {
            std::thread::yield_now();
        }
        let p = h.progress();
        assert_eq!(h.wait().unwrap(), want);
        p
    };
    let plain = Runtime::new(2).unwrap();
    let p = run(&plain);
    assert_eq!((p.cache_hits, p.cache_misses), (0, 0), "{p:?}");
    assert_eq!(p.to_string(), format!("{0}/{0}", p.total));
    for fuse in [true, false] {
        let d = dir(&format!("progress-{fuse}"));
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .cache(&d)
            .build()
            .unwrap();
        let first = run(&rt);
        assert_eq!((first.cache_hits, first.cache_misses), (0, 41), "{first:?}");
        let second = run(&rt);
        assert_eq!(
            (second.cache_hits, second.cache_misses),
            (41, 0),
            "{second:?}"
        );
        assert_eq!(
            second.to_string(),
            format!("{0}/{0} (cache: 41 loaded, 0 computed)", second.total)
        );
    }
}

// Child processes: the test binary runs itself with `TASKGRAPH_CACHE_CHILD`
// set, and only the test named runs a pipeline then.

static SLOW: AtomicUsize = AtomicUsize::new(0);

/// Held by a test while it counts `slow` calls in this process: the two
/// tests below run at once and share `SLOW`.
static SLOW_COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A slow cached step, so that a run can be killed half-way.
#[delayed(cache)]
fn slow(i: u32) -> u64 {
    SLOW.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(
        std::env::var("TASKGRAPH_CACHE_SLEEP_MS").map_or(0, |s| s.parse().unwrap()),
    ));
    u64::from(i).pow(3) % 1009
}

const SLOW_TASKS: u32 = 60;

fn slow_graph(rt: &Runtime) -> u64 {
    rt.compute(graph! {
        let v: Vec<_> = (0..SLOW_TASKS).map(|i| slow(i)).collect();
        let total: u64 = v.iter().sum();
        total
    })
    .unwrap()
}

fn slow_reference() -> u64 {
    (0..u64::from(SLOW_TASKS)).map(|i| i.pow(3) % 1009).sum()
}

/// Not a test of its own: the pipeline a child process runs.
#[test]
fn child_pipeline() {
    let Ok(d) = std::env::var("TASKGRAPH_CACHE_CHILD") else {
        return;
    };
    let rt = Runtime::builder().threads(2).cache(&d).build().unwrap();
    let total = slow_graph(&rt);
    println!("total={total} ran={}", SLOW.load(Ordering::Relaxed));
}

fn child(d: &Path, sleep_ms: u64) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "child_pipeline",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env("TASKGRAPH_CACHE_CHILD", d)
    .env("TASKGRAPH_CACHE_SLEEP_MS", sleep_ms.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    c
}

#[test]
fn a_run_killed_with_kill_9_resumes_with_only_the_unfinished_tasks() {
    let d = dir("kill");
    let mut c = child(&d, 40).spawn().unwrap();
    // Wait until some results are stored, then kill it mid-way.
    let t0 = Instant::now();
    while entries(&d).len() < 10 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the child stores nothing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-9", &c.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = c.wait().unwrap();
    assert!(!exit.success(), "killed, not finished");
    let stored = entries(&d).len();
    assert!(
        (10..SLOW_TASKS as usize).contains(&stored),
        "{stored} stored"
    );
    // The re-run: here, in this process, counting the calls.
    let rt = Runtime::builder().threads(2).cache(&d).build().unwrap();
    let _counting = SLOW_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    SLOW.store(0, Ordering::Relaxed);
    assert_eq!(slow_graph(&rt), slow_reference());
    assert_eq!(SLOW.load(Ordering::Relaxed), SLOW_TASKS as usize - stored);
    let s = rt.cache().unwrap().stats();
    assert_eq!(s.hits as usize, stored, "every stored result was whole");
    assert_eq!(s.rejected, 0);
}

#[test]
fn two_processes_sharing_a_directory_both_get_the_right_result() {
    let d = dir("two");
    let kids: Vec<_> = (0..2).map(|_| child(&d, 2).spawn().unwrap()).collect();
    let mut ran = 0;
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        // The harness prints `test child_pipeline ... ` before it.
        let line = text.lines().find_map(|l| l.split_once("total=")).unwrap().1;
        let line = format!("total={line}");
        let kv: BTreeMap<&str, u64> = line
            .split_whitespace()
            .take(2)
            .map(|p| p.split_once('=').unwrap())
            .map(|(k, v)| (k, v.parse().unwrap()))
            .collect();
        assert_eq!(kv["total"], slow_reference());
        ran += kv["ran"];
    }
    // Each computed what it did not find: at least every task once, at
    // most twice.
    assert!((u64::from(SLOW_TASKS)..=2 * u64::from(SLOW_TASKS)).contains(&ran));
    assert_eq!(entries(&d).len(), SLOW_TASKS as usize);
    let rt = Runtime::builder().threads(2).cache(&d).build().unwrap();
    let _counting = SLOW_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    SLOW.store(0, Ordering::Relaxed);
    assert_eq!(slow_graph(&rt), slow_reference());
    assert_eq!(SLOW.load(Ordering::Relaxed), 0);
    assert_eq!(rt.cache().unwrap().stats().rejected, 0);
}

#[delayed(cache)]
fn digest(k: u32, salt: u32) -> Vec<u64> {
    (0..64)
        .map(|i| u64::from(k ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 32))
        .collect()
}

fn digest_ref(k: u32, salt: u32) -> Vec<u64> {
    (0..64)
        .map(|i| u64::from(k ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 32))
        .collect()
}

#[test]
fn many_threads_and_two_runtimes_storing_the_same_keys_at_once_agree() {
    let d = dir("stress");
    for round in 0..3u32 {
        // Two runtimes (two `Cache`s, as two processes would have) on one
        // directory, computing overlapping keys at the same time.
        let a = Runtime::builder()
            .threads(4)
            .fuse_loops(false)
            .cache(&d)
            .build()
            .unwrap();
        let b = Runtime::builder().threads(4).cache(&d).build().unwrap();
        let run = |rt: &Runtime| {
            rt.compute(graph! {
                let v: Vec<_> = (0..400u32).map(|i| digest(i % 37, round)).collect();
                v
            })
            .unwrap()
        };
        let (va, vb) = std::thread::scope(|s| {
            let ha = s.spawn(|| run(&a));
            let hb = s.spawn(|| run(&b));
            (ha.join().unwrap(), hb.join().unwrap())
        });
        let want: Vec<Vec<u64>> = (0..400u32).map(|i| digest_ref(i % 37, round)).collect();
        assert_eq!(va, want);
        assert_eq!(vb, want);
        for rt in [&a, &b] {
            assert_eq!(rt.cache().unwrap().stats().rejected, 0);
        }
    }
    assert_eq!(entries(&d).len(), 3 * 37);
}
