//! Background runs: `spawn` and its `Handle` (wait, poll, progress,
//! cancel, detach), deadlines, graphs that read spawned graphs' outputs,
//! shutdown and limits. Results are checked against sequential references,
//! values are counted (none leaked, none dropped twice), and parallel
//! behaviour is judged with sleeping or blocking tasks, never by the clock.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Error, Handle, Progress, Runtime};

/// A value that counts how many of its kind are alive.
#[derive(Debug)]
struct Tracked {
    v: i64,
    live: Arc<AtomicI64>,
}

impl Tracked {
    fn new(v: i64, live: &Arc<AtomicI64>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            v,
            live: Arc::clone(live),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.v, &self.live)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

#[delayed]
fn make(i: i64, live: &Arc<AtomicI64>) -> Tracked {
    Tracked::new(i, live)
}
#[delayed]
fn nap_make(i: i64, ms: u64, live: &Arc<AtomicI64>) -> Tracked {
    std::thread::sleep(Duration::from_millis(ms));
    Tracked::new(i, live)
}
#[delayed]
fn join(a: Tracked, b: Tracked) -> Tracked {
    Tracked::new(a.v + b.v, &a.live)
}
#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
#[delayed]
fn nap(i: i64, ms: u64) -> i64 {
    std::thread::sleep(Duration::from_millis(ms));
    i
}

fn runtimes(threads: usize) -> [Runtime; 2] {
    [true, false].map(|fuse| {
        Runtime::builder()
            .threads(threads)
            .fuse_loops(fuse)
            .build()
            .unwrap()
    })
}

/// Waits for `h` while checking that its progress only grows and stays
/// within its total; returns the output and the progress at the end.
fn wait_watching<T>(h: Handle<T>) -> (Result<T, Error>, Progress) {
    let mut last = Progress::default();
    loop {
        if h.is_finished() {
            let end = h.progress();
            return (h.wait(), end);
        }
        let p = h.progress();
        assert!(p.done <= p.total, "{p:?}");
        assert!(
            p.done >= last.done,
            "progress went back: {last:?} then {p:?}"
        );
        last = p;
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn progress_knows_the_total_as_soon_as_spawn_returns() {
    for rt in runtimes(2) {
        let n = 40;
        let h = rt.spawn(graph! {
            let v: Vec<_> = (0..n).map(|i| nap(i, 1)).collect();
            tree_reduce(v, add)
        });
        let p = h.progress();
        assert_eq!(p.total, 2 * n as u64 - 1, "{p:?}");
        assert!(p.done <= p.total && p.failed == 0, "{p:?}");
        let fams = h.progress_by_family();
        let labels: Vec<&str> = fams.iter().map(|f| f.label()).collect();
        assert_eq!(labels, ["nap", "add"]);
        while !h.is_finished() {
            std::thread::yield_now();
        }
        // A finished handle answers as before: every task done.
        let p = h.progress();
        assert_eq!((p.done, p.total), (2 * n as u64 - 1, 2 * n as u64 - 1));
        assert_eq!(h.wait().unwrap(), (0..n).sum::<i64>());
    }
}

#[test]
fn a_handle_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Handle<Vec<String>>>();
    check::<Handle<i64>>();
}

#[test]
fn spawn_returns_the_sequential_result_and_counts_every_task() {
    for rt in runtimes(2) {
        let live = Arc::new(AtomicI64::new(0));
        let n = 40;
        let l = Arc::clone(&live);
        let h = rt.spawn(graph! {
            let v: Vec<_> = (0..n).map(|i| nap_make(i, 1, &l)).collect();
            tree_reduce(v, join)
        });
        let (r, end) = wait_watching(h);
        assert_eq!(r.unwrap().v, (0..n).sum::<i64>());
        assert_eq!(live.load(Ordering::SeqCst), 0);
        // Every task counted once: n leaves and n - 1 combines. (`end` is
        // zero if the run finished while `wait_timeout` waited.)
        let all = 2 * n as u64 - 1;
        assert!(
            end == Progress::default()
                || end
                    == Progress {
                        done: all,
                        total: all,
                        ..Progress::default()
                    },
            "{end:?}"
        );
    }
}

#[test]
fn progress_at_the_end_is_complete_and_per_family() {
    for rt in runtimes(2) {
        let n = 30;
        let h = rt.spawn(graph! {
            let mut zs = Vec::new();
            for i in 0..n {
                let x = inc(i);
                let y = inc(x);
                zs.push(add(x, y));
            }
            tree_reduce(zs, add)
        });
        while !h.is_finished() {
            std::thread::yield_now();
        }
        let p = h.progress();
        assert_eq!(
            p,
            Progress {
                done: 4 * n as u64 - 1,
                total: 4 * n as u64 - 1,
                ..Progress::default()
            }
        );
        let fams = h.progress_by_family();
        let by_name: Vec<_> = fams
            .iter()
            .map(|f| (f.function, f.progress.done, f.progress.total))
            .collect();
        let n = n as u64;
        assert_eq!(
            by_name,
            [
                ("inc", n, n),
                ("inc", n, n),
                ("add", n, n),
                ("add", n - 1, n - 1)
            ]
        );
        assert!(fams.iter().all(|f| f.file.ends_with("spawn.rs")));
        // Two call sites of one function are told apart by their line.
        let labels: Vec<&str> = fams.iter().map(|f| f.label()).collect();
        assert_eq!(
            labels,
            [
                "inc @ tests/spawn.rs:166",
                "inc @ tests/spawn.rs:167",
                "add @ tests/spawn.rs:168",
                "add @ tests/spawn.rs:170"
            ]
        );
        assert_eq!(
            h.wait().unwrap(),
            (0..n as i64).map(|i| 2 * i + 3).sum::<i64>()
        );
    }
}

#[test]
fn try_wait_gives_the_handle_back_until_the_output_is_there() {
    let rt = Runtime::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    #[delayed]
    fn gate(rx: &Mutex<std::sync::mpsc::Receiver<()>>) -> i64 {
        rx.lock().unwrap().recv().unwrap();
        7
    }
    let rx = Arc::new(rx);
    let r2 = Arc::clone(&rx);
    let mut h = rt.spawn(graph! { inc(gate(&r2)) });
    for _ in 0..3 {
        h = h.try_wait().unwrap_err();
        h = h.wait_timeout(Duration::from_millis(1)).unwrap_err();
        assert!(!h.is_finished());
    }
    tx.send(()).unwrap();
    let out = loop {
        match h.try_wait() {
            Ok(out) => break out,
            Err(back) => h = back,
        }
    };
    assert_eq!(out.unwrap(), 8);
}

/// Cancelling stops new tasks, lets running ones finish and drops every
/// value; a finished run cannot be cancelled.
#[test]
fn cancel_stops_the_run_and_drops_every_value() {
    for rt in runtimes(3) {
        let live = Arc::new(AtomicI64::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        #[delayed]
        fn slow(i: i64, started: &Arc<AtomicUsize>, live: &Arc<AtomicI64>) -> Tracked {
            started.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(3));
            Tracked::new(i, live)
        }
        let n = 200;
        let (l, s) = (Arc::clone(&live), Arc::clone(&started));
        let h = rt.spawn(graph! {
            let v: Vec<_> = (0..n).map(|i| slow(i, &s, &l)).collect();
            tree_reduce(v, join)
        });
        while started.load(Ordering::SeqCst) < 6 {
            std::thread::yield_now();
        }
        h.cancel();
        h.cancel(); // twice is once
        let p_before = h.progress();
        assert!(matches!(h.wait(), Err(Error::Cancelled)));
        assert_eq!(live.load(Ordering::SeqCst), 0, "every value dropped");
        let ran = started.load(Ordering::SeqCst);
        assert!(ran < n as usize, "cancelled, yet all {ran} tasks started");
        assert!(p_before.done < p_before.total || p_before.total == 0);
        // The runtime keeps working.
        assert_eq!(rt.compute(graph! { add(inc(1), inc(2)) }).unwrap(), 5);
    }
}

#[test]
fn cancelling_a_finished_run_does_nothing() {
    let rt = Runtime::new(2).unwrap();
    let h = rt.spawn(graph! { add(inc(1), inc(2)) });
    while !h.is_finished() {
        std::thread::yield_now();
    }
    h.cancel();
    assert_eq!(h.wait().unwrap(), 5);
}

#[test]
fn a_cancel_before_the_graph_starts_or_at_any_time_is_clean() {
    let rt = Runtime::new(2).unwrap();
    let live = Arc::new(AtomicI64::new(0));
    for k in 0..200u64 {
        let l = Arc::clone(&live);
        let h = rt.spawn(graph! {
            let v: Vec<_> = (0..20).map(|i| make(i, &l)).collect();
            tree_reduce(v, join)
        });
        for _ in 0..(k % 7) * 50 {
            std::hint::spin_loop();
        }
        h.cancel();
        match h.wait() {
            Ok(t) => assert_eq!(t.v, 190),
            Err(Error::Cancelled) => {}
            Err(e) => panic!("unexpected {e}"),
        }
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn a_long_task_sees_the_cancellation_and_returns_early() {
    let rt = Runtime::new(2).unwrap();
    #[delayed]
    fn until_cancelled(started: &Arc<AtomicBool>, seen: &Arc<AtomicBool>) -> i64 {
        started.store(true, Ordering::SeqCst);
        while !taskdag::cancelled() {
            std::thread::sleep(Duration::from_millis(1));
        }
        seen.store(true, Ordering::SeqCst);
        0
    }
    let started = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicBool::new(false));
    let (s, n) = (Arc::clone(&started), Arc::clone(&seen));
    let h = rt.spawn(graph! { inc(until_cancelled(&s, &n)) });
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    assert!(!h.is_finished());
    h.cancel();
    assert!(matches!(h.wait(), Err(Error::Cancelled)));
    assert!(seen.load(Ordering::SeqCst));
    assert!(!taskdag::cancelled(), "outside a task");
}

#[test]
fn compute_timeout_cancels_a_late_graph_and_leaves_a_quick_one_alone() {
    for rt in runtimes(2) {
        let live = Arc::new(AtomicI64::new(0));
        let l = Arc::clone(&live);
        let r = rt.compute_timeout(
            graph! {
                let v: Vec<_> = (0..1000).map(|i| nap_make(i, 2, &l)).collect();
                tree_reduce(v, join)
            },
            Duration::from_millis(10),
        );
        let Err(e @ Error::TimedOut { limit, .. }) = r else {
            panic!("expected a timeout, got {r:?}")
        };
        assert_eq!(limit, Duration::from_millis(10));
        assert!(e.to_string().contains("did not finish within 10ms"), "{e}");
        assert_eq!(live.load(Ordering::SeqCst), 0);
        let quick = rt.compute_timeout(graph! { add(inc(1), inc(2)) }, Duration::from_secs(60));
        assert_eq!(quick.unwrap(), 5);
    }
}

#[test]
fn a_detached_run_finishes_and_drops_its_values() {
    let live = Arc::new(AtomicI64::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    #[delayed]
    fn counted(i: i64, ran: &Arc<AtomicUsize>, live: &Arc<AtomicI64>) -> Tracked {
        std::thread::sleep(Duration::from_millis(1));
        ran.fetch_add(1, Ordering::SeqCst);
        Tracked::new(i, live)
    }
    let rt = Runtime::new(2).unwrap();
    let (l, r) = (Arc::clone(&live), Arc::clone(&ran));
    drop(rt.spawn(graph! {
        let v: Vec<_> = (0..50).map(|i| counted(i, &r, &l)).collect();
        tree_reduce(v, join)
    }));
    // Dropping the runtime waits for its spawned graphs.
    drop(rt);
    assert_eq!(ran.load(Ordering::SeqCst), 50);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

/// The threads of the current process whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[test]
fn dropping_the_runtime_waits_for_its_graphs_and_no_thread_outlives_it() {
    let rt = Runtime::builder()
        .threads(3)
        .thread_name("shutdn")
        .build()
        .unwrap();
    let n = 30;
    let handles: Vec<_> = (0..4)
        .map(|k| {
            rt.spawn(graph! {
                let v: Vec<_> = (0..n).map(|i| nap(i + k, 1)).collect();
                tree_reduce(v, add)
            })
        })
        .collect();
    let timed = Runtime::builder()
        .threads(1)
        .thread_name("shutdt")
        .build()
        .unwrap();
    assert_eq!(
        timed
            .compute_timeout(graph! { inc(1) }, Duration::from_secs(60))
            .unwrap(),
        2
    );
    // The pool's threads name themselves when they start; without them the
    // check after the drop would prove nothing.
    #[cfg(target_os = "linux")]
    {
        let start = Instant::now();
        while threads_named("shutdn") < 3 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "threads never named"
            );
            std::thread::yield_now();
        }
    }
    drop(rt);
    drop(timed);
    // A joined thread leaves `/proc` a moment after `join` returns (the
    // kernel wakes the joiner before it reaps the thread): allow for that
    // moment, not for a thread that is still running.
    #[cfg(target_os = "linux")]
    {
        let start = Instant::now();
        while threads_named("shutdn") + threads_named("shutdt") > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "threads outlived their runtime: {} shutdn, {} shutdt",
                threads_named("shutdn"),
                threads_named("shutdt")
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Every handle still returns after its runtime is gone.
    for (k, h) in handles.into_iter().enumerate() {
        assert!(h.is_finished());
        assert_eq!(h.wait().unwrap(), (0..n).map(|i| i + k as i64).sum::<i64>());
    }
}

#[test]
fn a_task_may_wait_for_a_spawned_graph_without_starving_it() {
    // One thread: the waiting task runs the spawned graph's tasks itself.
    let rt = Arc::new(Runtime::new(1).unwrap());
    #[delayed]
    fn wait_for(rt: &Arc<Runtime>, n: i64) -> i64 {
        let h = rt.spawn(graph! {
            let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
            tree_reduce(v, add)
        });
        h.wait().unwrap()
    }
    let r = Arc::clone(&rt);
    let got = rt.compute(graph! {
        let v: Vec<_> = (0..4).map(|k| wait_for(&r, 10 + k)).collect();
        tree_reduce(v, add)
    });
    let expected: i64 = (0..4).map(|k| (1..=10 + k).sum::<i64>()).sum();
    assert_eq!(got.unwrap(), expected);
}

// ---------------------------------------------------------------------------
// Graphs that build on spawned graphs.

/// The tutorial's persist step: the tree summation is built on the loop's
/// handle while the loop runs, and gives the same sum.
#[test]
fn tree_reduce_reads_a_running_graph() {
    for rt in runtimes(2) {
        let n = 64;
        let zs = rt.spawn(graph! {
            let zs: Vec<_> = (0..n).map(|i| {
                let x = nap(i, 1);
                add(x, inc(x))
            }).collect();
            zs
        });
        let total = rt.compute(graph! { tree_reduce(zs, add) }).unwrap();
        assert_eq!(total, (0..n).map(|i| 2 * i + 1).sum::<i64>());
    }
}

#[test]
fn several_graphs_read_one_handle_by_reference() {
    for rt in runtimes(2) {
        let live = Arc::new(AtomicI64::new(0));
        let l = Arc::clone(&live);
        let zs = rt.spawn(graph! {
            let v: Vec<_> = (0..16).map(|i| nap_make(i, 1, &l)).collect();
            v
        });
        let r = &zs;
        let a = rt.compute(graph! { tree_reduce(r, join) }).unwrap();
        let b = rt.compute(graph! { tree_reduce(r, join) }).unwrap();
        assert_eq!((a.v, b.v), (120, 120));
        drop((a, b));
        // The clones are dropped; the handle's own values wait for it.
        assert_eq!(live.load(Ordering::SeqCst), 16);
        assert_eq!(zs.wait().unwrap().len(), 16);
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn a_plain_vec_feeds_tree_reduce_without_a_task_per_element() {
    for rt in runtimes(2) {
        let live = Arc::new(AtomicI64::new(0));
        let values: Vec<Tracked> = (0..100).map(|i| Tracked::new(i, &live)).collect();
        let borrowed: Vec<i64> = (0..100).collect();
        let slice = &borrowed[10..];
        assert_eq!(
            rt.compute(graph! { tree_reduce(slice, add) }).unwrap(),
            (10..100).sum::<i64>()
        );
        // Spawned, to read its task count: only the 99 combines are tasks.
        let h = rt.spawn(graph! { tree_reduce(values, join) });
        while !h.is_finished() {
            std::thread::yield_now();
        }
        assert_eq!(h.progress().total, 99);
        assert_eq!(h.wait().unwrap().v, (0..100).sum::<i64>());
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}

/// The graph that reads a running graph does not hold a thread while it
/// waits: on one thread, the spawned graph's task waits for a task of the
/// reading graph, which must run meanwhile (the waiting task lends its
/// place through `taskdag::blocking`).
#[test]
fn a_graph_waiting_for_a_spawned_one_holds_no_thread() {
    for rt in runtimes(1) {
        let released = Arc::new(AtomicBool::new(false));
        #[delayed]
        fn held(i: i64, released: &Arc<AtomicBool>) -> i64 {
            // A wait the runtime cannot see: it lends the task's place, or
            // the one thread's only token would wait for itself.
            taskdag::blocking(|| {
                let start = Instant::now();
                while !released.load(Ordering::SeqCst) {
                    assert!(start.elapsed() < Duration::from_secs(30), "deadlock");
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            i
        }
        #[delayed]
        fn release(released: &Arc<AtomicBool>) -> i64 {
            released.store(true, Ordering::SeqCst);
            100
        }
        let r = Arc::clone(&released);
        let zs = rt.spawn(graph! {
            let v: Vec<_> = (0..4).map(|i| held(i, &r)).collect();
            v
        });
        let r = Arc::clone(&released);
        let got = rt
            .compute(graph! {
                let sum = tree_reduce(zs, add);
                add(sum, release(&r))
            })
            .unwrap();
        assert_eq!(got, 106);
    }
}

#[test]
fn reading_a_failed_or_cancelled_graph_is_an_error_that_says_why() {
    for rt in runtimes(2) {
        #[delayed]
        fn boom(i: i64) -> i64 {
            if i == 3 {
                panic!("boom at {i}");
            }
            i
        }
        let zs = rt.spawn(graph! {
            let v: Vec<_> = (0..8).map(|i| boom(i)).collect();
            v
        });
        let e = rt.compute(graph! { tree_reduce(zs, add) }).unwrap_err();
        let Error::InputFailed { message, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(
            message.contains("task `boom[i=3]` at ") && message.contains("boom at 3"),
            "{message}"
        );
        assert!(e
            .to_string()
            .starts_with("the graph reads the outputs of a spawned graph"));

        let zs = rt.spawn(graph! {
            let v: Vec<_> = (0..200).map(|i| nap(i, 2)).collect();
            v
        });
        zs.cancel();
        let e = rt.compute(graph! { tree_reduce(zs, add) }).unwrap_err();
        assert!(
            matches!(&e, Error::InputFailed { message, .. } if message.contains("cancelled")),
            "{e}"
        );
    }
}

/// Cancelling the reading graph does not wait for the graph it reads.
#[test]
fn a_cancelled_reader_does_not_wait_for_what_it_reads() {
    let rt = Runtime::new(2).unwrap();
    let released = Arc::new(AtomicBool::new(false));
    #[delayed]
    fn blocked(released: &Arc<AtomicBool>) -> Vec<i64> {
        while !released.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        vec![1, 2, 3]
    }
    let r = Arc::clone(&released);
    let upstream = rt.spawn(graph! { blocked(&r) });
    let reading = rt.spawn(graph! { tree_reduce(upstream, add) });
    // The reader's length waits for the upstream (its output is one task's
    // vector), so release, then cancel a reader that waits on a fresh one.
    released.store(true, Ordering::SeqCst);
    assert_eq!(reading.wait().unwrap(), 6);

    released.store(false, Ordering::SeqCst);
    let r = Arc::clone(&released);
    let upstream = rt.spawn(graph! {
        let v: Vec<_> = (0..3).map(|i| held_until(i, &r)).collect();
        v
    });
    #[delayed]
    fn held_until(i: i64, released: &Arc<AtomicBool>) -> i64 {
        while !released.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        i
    }
    let reading = rt.spawn(graph! { tree_reduce(upstream, add) });
    std::thread::sleep(Duration::from_millis(5));
    reading.cancel();
    assert!(matches!(reading.wait(), Err(Error::Cancelled)));
    released.store(true, Ordering::SeqCst);
}

// ---------------------------------------------------------------------------
// Limits.

#[test]
fn absurd_thread_counts_are_an_error() {
    let e = Runtime::new(100_000).unwrap_err();
    assert!(matches!(
        e,
        Error::TooManyThreads {
            requested: 100_000,
            max: Runtime::MAX_THREADS,
            ..
        }
    ));
    assert!(e.to_string().contains("use fewer threads"), "{e}");
}

#[test]
fn a_loop_beyond_the_index_type_is_an_error_before_any_task_runs() {
    let rt = Runtime::new(2).unwrap();
    let n = 1u64 << 32;
    let e = rt
        .compute(graph! {
            let v: Vec<_> = (0..n).map(|i| inc(i as i64)).collect();
            tree_reduce(v, add)
        })
        .unwrap_err();
    assert!(
        matches!(&e, Error::GraphTooLarge { message, .. } if message.contains("iterations")),
        "{e}"
    );
    assert_eq!(rt.compute(graph! { inc(1) }).unwrap(), 2);
}

#[test]
fn storage_that_cannot_be_allocated_is_an_error() {
    // 2^36 bytes per output, 2^14 outputs: 2^50 bytes, beyond any machine.
    #[delayed]
    fn huge(_i: u64) -> [u8; 1 << 36] {
        unreachable!("never runs: the graph cannot be stored")
    }
    #[delayed]
    fn first(v: &[[u8; 1 << 36]]) -> u8 {
        v[0][0]
    }
    for rt in runtimes(2) {
        let e = rt
            .compute(graph! {
                let v: Vec<_> = (0..1u64 << 14).map(|i| huge(i)).collect();
                first(v)
            })
            .unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
        assert!(e.to_string().contains("no task ran"), "{e}");
        assert_eq!(rt.compute(graph! { inc(1) }).unwrap(), 2);
    }
}

/// A spawned graph's one output read as one lazy value, moved in or (by
/// reference) cloned: the API the generated code calls (`Source::read_one`),
/// written out here as `graph!` would.
#[test]
fn a_spawned_scalar_is_read_as_one_lazy_value() {
    use taskdag::__private::{body, boxed, typed, ErasedFamily, FamilyInfo, GraphFn};
    static H: FamilyInfo = FamilyInfo::new("h", file!(), line!(), column!());
    for rt in runtimes(2) {
        let live = Arc::new(AtomicI64::new(0));
        let l = Arc::clone(&live);
        let h = rt.spawn(graph! { join(nap_make(20, 2, &l), make(22, &l)) });
        let r = &h;
        let borrowed = rt
            .compute(GraphFn::new(
                body(move |scope, _| {
                    boxed(async move {
                        let mut s = scope.source();
                        let x = s.read_one(&H, r)?;
                        typed(scope.execute(&[&s as &dyn ErasedFamily<'_>], x).await, ())
                    })
                }),
                Clone::clone,
            ))
            .unwrap();
        assert_eq!(borrowed.v, 42);
        let owned = rt
            .compute(GraphFn::new(
                body(move |scope, _| {
                    boxed(async move {
                        let mut s = scope.source();
                        let x = s.read_one(&H, h)?;
                        typed(scope.execute(&[&s as &dyn ErasedFamily<'_>], x).await, ())
                    })
                }),
                Clone::clone,
            ))
            .unwrap();
        assert_eq!(owned.v, 42);
        drop((borrowed, owned));
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}
