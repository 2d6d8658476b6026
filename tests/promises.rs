//! Promises of the README and the guide checked at their edges: the thread
//! limit for graphs awaited from async code, clones made for several
//! consumers by value, no task starting after a failure (computed, spawned
//! and awaited), several failures at once, a deadline on one thread, the
//! awaiting thread running no task, empty inputs read from another graph,
//! and one thread more than a runtime may have. Each result is checked
//! against a sequential reference.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskdag::{delayed, graph, Error, Graph, Handle, Runtime};

#[path = "common/meter.rs"]
mod meter;
use meter::{nap, sum, Meter};

/// A runtime of `threads` threads, its loops fused or not.
fn runtime(threads: usize, fuse: bool) -> Runtime {
    Runtime::builder()
        .threads(threads)
        .fuse_loops(fuse)
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------
// At most `n` tasks at once, with graphs awaited from async code.

fn naps(m: Arc<Meter>, lo: u64, n: u64) -> impl Graph<Output = u64> + Send + 'static {
    graph! {
        let v: Vec<_> = (lo..lo + n).map(|i| nap(&m, i)).collect();
        sum(v)
    }
}

fn want(lo: u64, n: u64) -> u64 {
    (lo..lo + n).map(|i| i * 2).sum()
}

/// Six graphs awaited at once from one async task, two handles awaited
/// beside them and a thread calling `compute` meanwhile: never more than
/// `n` tasks at once, on one thread as on three, fused or not.
#[test]
fn awaited_graphs_never_run_more_than_n_tasks() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for threads in 1..=3 {
        for fuse in [true, false] {
            let rt = runtime(threads, fuse);
            let m = Arc::new(Meter::default());
            std::thread::scope(|s| {
                let (rtr, mr) = (&rt, &m);
                let caller = s.spawn(move || rtr.compute(naps(Arc::clone(mr), 1000, 8)));
                let awaited = tokio.block_on(async {
                    let graphs =
                        (0..6u64).map(|g| rt.compute_async(naps(Arc::clone(&m), g * 100, 8)));
                    let handles =
                        (6..8u64).map(|g| rt.spawn(naps(Arc::clone(&m), g * 100, 8)).into_future());
                    let a = futures::future::join_all(graphs).await;
                    let b = futures::future::join_all(handles).await;
                    (a, b)
                });
                assert_eq!(caller.join().unwrap().unwrap(), want(1000, 8));
                let (a, b) = awaited;
                for (g, r) in a.into_iter().chain(b).enumerate() {
                    assert_eq!(r.unwrap(), want(g as u64 * 100, 8));
                }
            });
            assert!(
                m.max() <= threads,
                "{threads} threads (fused {fuse}) ran {} tasks at once",
                m.max()
            );
            // At least two ran at once where there was room: the meter
            // counts what it should.
            if threads > 1 {
                assert!(m.max() > 1, "{threads} threads, fused {fuse}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Several consumers by value: one clone fewer than consumers, or as many;
// none for one.

/// A value that counts its clones and how many of it are alive.
struct Counted {
    v: u64,
    clones: Arc<AtomicUsize>,
    live: Arc<AtomicI64>,
}

impl Counted {
    fn new(v: u64, clones: &Arc<AtomicUsize>, live: &Arc<AtomicI64>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Counted {
            v,
            clones: Arc::clone(clones),
            live: Arc::clone(live),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Counted::new(self.v, &self.clones, &self.live)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

#[delayed]
fn make(i: u64, clones: &Arc<AtomicUsize>, live: &Arc<AtomicI64>) -> Counted {
    Counted::new(i, clones, live)
}

#[delayed]
fn take(c: Counted, k: u64) -> u64 {
    c.v * 10 + k
}

#[delayed]
fn total(v: &[u64]) -> u64 {
    v.iter().sum()
}

fn runtimes() -> Vec<(usize, bool, Runtime)> {
    let mut all = Vec::new();
    for threads in [1, 2, 4] {
        for fuse in [true, false] {
            let rt = runtime(threads, fuse);
            all.push((threads, fuse, rt));
        }
    }
    all
}

/// `k` consumers by value make `k - 1` or `k` clones: the last reader gets
/// the value itself unless another reader still holds it (on several
/// threads two consumers may make their clones at once, and then both
/// clone). On one thread, with no borrower, exactly `k - 1`; one consumer
/// is always moved. At the top level and in a loop (fused or not); every
/// value is dropped.
#[test]
fn k_consumers_by_value_make_k_minus_one_or_k_clones() {
    for (threads, fuse, rt) in runtimes() {
        let clones = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(AtomicI64::new(0));
        let (cr, lr) = (&clones, &live);

        // One consumer: moved.
        let one = rt.compute(graph! { take(make(7, cr, lr), 1) }).unwrap();
        assert_eq!(one, 71);
        assert_eq!(clones.load(Ordering::SeqCst), 0, "{threads} threads");

        // Three consumers at the top level: two clones.
        let three = rt
            .compute(graph! {
                let c = make(5, cr, lr);
                let a = take(c, 1);
                let b = take(c, 2);
                let d = take(c, 3);
                (a, b, d)
            })
            .unwrap();
        assert_eq!(three, (51, 52, 53));
        let made = clones.load(Ordering::SeqCst);
        if threads == 1 {
            assert_eq!(made, 2, "{threads} threads, fused {fuse}");
        } else {
            assert!(
                (2..=3).contains(&made),
                "{threads} threads, fused {fuse}: {made}"
            );
        }

        // Three consumers in each of 500 iterations: 1,000 clones.
        clones.store(0, Ordering::SeqCst);
        let n = 500u64;
        let looped = rt
            .compute(graph! {
                let mut out = Vec::new();
                for i in 0..n {
                    let c = make(i, cr, lr);
                    let a = take(c, 1);
                    let b = take(c, 2);
                    let d = take(c, 3);
                    out.push(a);
                    out.push(b);
                    out.push(d);
                }
                total(&out)
            })
            .unwrap();
        let seq: u64 = (0..n).map(|i| 3 * (i * 10) + 6).sum();
        assert_eq!(looped, seq, "{threads} threads, fused {fuse}");
        let made = clones.load(Ordering::SeqCst);
        if threads == 1 {
            assert_eq!(made, 2 * n as usize, "{threads} threads, fused {fuse}");
        } else {
            assert!(
                (2 * n as usize..=3 * n as usize).contains(&made),
                "{threads} threads, fused {fuse}: {made}"
            );
        }
        assert_eq!(
            live.load(Ordering::SeqCst),
            0,
            "{threads} threads, fused {fuse}"
        );
    }
}

// ---------------------------------------------------------------------------
// No task starts after a failure.

/// Counts the tasks that start once `failed` is set, and fails at `bad`.
#[delayed]
fn watch(
    i: u64,
    bad: u64,
    failed: &Arc<AtomicBool>,
    late: &Arc<AtomicUsize>,
) -> Result<u64, String> {
    if failed.load(Ordering::SeqCst) {
        late.fetch_add(1, Ordering::SeqCst);
    }
    if i == bad {
        failed.store(true, Ordering::SeqCst);
        return Err(format!("item {i} is bad"));
    }
    Ok(i)
}

/// Panics at `bad`, counting the tasks that start after it.
#[delayed]
fn watch_panic(i: u64, bad: u64, failed: &Arc<AtomicBool>, late: &Arc<AtomicUsize>) -> u64 {
    if failed.load(Ordering::SeqCst) {
        late.fetch_add(1, Ordering::SeqCst);
    }
    if i == bad {
        failed.store(true, Ordering::SeqCst);
        panic!("item {i} is bad");
    }
    i
}

#[delayed]
fn plus(a: u64, b: u64) -> u64 {
    a + b
}

fn watched(
    n: u64,
    bad: u64,
    panics: bool,
    failed: Arc<AtomicBool>,
    late: Arc<AtomicUsize>,
) -> impl Graph<Output = u64> + Send + 'static {
    graph! {
        let mut v = Vec::new();
        for i in 0..n {
            let x = if panics {
                watch_panic(i, bad, &failed, &late)
            } else {
                watch(i, bad, &failed, &late)?
            };
            v.push(x);
        }
        tree_reduce(v, plus)
    }
}

/// On one thread, once a task has failed (an `Err` or a panic) no other
/// task starts, whether the graph is computed, spawned or awaited, fused
/// or not; the error names the failing task; on two threads the error is
/// the same.
#[test]
fn no_task_starts_after_a_failure() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let n = 2000u64;
    for threads in [1, 2] {
        for fuse in [true, false] {
            let rt = runtime(threads, fuse);
            for panics in [false, true] {
                for how in ["compute", "spawn", "await"] {
                    for bad in [0, 37, n - 1] {
                        let failed = Arc::new(AtomicBool::new(false));
                        let late = Arc::new(AtomicUsize::new(0));
                        let g = watched(n, bad, panics, Arc::clone(&failed), Arc::clone(&late));
                        let r = match how {
                            "compute" => rt.compute(g),
                            "spawn" => rt.spawn(g).wait(),
                            _ => tokio.block_on(rt.compute_async(g)),
                        };
                        let what = format!(
                            "{threads} threads, fused {fuse}, panics {panics}, {how}, bad {bad}"
                        );
                        let task = match &r {
                            Err(Error::TaskFailed { task, source, .. }) if !panics => {
                                assert_eq!(
                                    source.to_string(),
                                    format!("item {bad} is bad"),
                                    "{what}"
                                );
                                task.name()
                            }
                            Err(Error::TaskPanicked { task, message, .. }) if panics => {
                                assert_eq!(message, &format!("item {bad} is bad"), "{what}");
                                task.name()
                            }
                            other => panic!("{what}: {other:?}"),
                        };
                        let name = if panics { "watch_panic" } else { "watch" };
                        assert_eq!(task, format!("{name}[i={bad}]"), "{what}");
                        if threads == 1 {
                            assert_eq!(late.load(Ordering::SeqCst), 0, "{what}");
                        }
                    }
                }
            }
            // And the runtime keeps working.
            let ok = rt
                .compute(watched(
                    n,
                    n,
                    false,
                    Arc::new(AtomicBool::new(false)),
                    Arc::new(AtomicUsize::new(0)),
                ))
                .unwrap();
            assert_eq!(ok, (0..n).sum::<u64>());
        }
    }
}

// ---------------------------------------------------------------------------
// Empty inputs read from another graph.

#[delayed]
fn add(x: u64, y: u64) -> u64 {
    x + y
}

#[delayed]
fn square(x: u64) -> u64 {
    x * x
}

/// A spawned graph's empty vector given to `tree_reduce` (moved in or
/// borrowed) and an empty plain `Vec` are `Error::EmptyReduce`, as an empty
/// vector of lazy values is; a non-empty one of one element is that
/// element.
#[test]
fn tree_reduce_of_an_empty_vector_read_from_elsewhere_is_empty_reduce() {
    for (threads, fuse, rt) in runtimes() {
        let what = format!("{threads} threads, fused {fuse}");
        for len in [0u64, 1, 2, 7] {
            let spawned = || -> Handle<Vec<u64>> {
                rt.spawn(graph! {
                    let v: Vec<_> = (0..len).map(|i| square(i)).collect();
                    v
                })
            };
            let seq = (0..len).map(|i| i * i).sum::<u64>();
            let h = spawned();
            let borrowed = rt.compute(graph! { tree_reduce(&h, add) });
            let moved = rt.compute(graph! { tree_reduce(h, add) });
            let plain: Vec<u64> = (0..len).map(|i| i * i).collect();
            let from_vec = rt.compute(graph! { tree_reduce(plain, add) });
            for (how, r) in [
                ("borrowed", borrowed),
                ("moved", moved),
                ("plain", from_vec),
            ] {
                if len == 0 {
                    match r {
                        Err(Error::EmptyReduce { at }) => {
                            assert_eq!(at.function(), "add", "{what} {how}")
                        }
                        other => panic!("{what} {how}: {other:?}"),
                    }
                } else {
                    assert_eq!(r.unwrap(), seq, "{what} {how} len {len}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The largest runtime.

/// A runtime of exactly `Runtime::MAX_THREADS` threads starts (its
/// threads asleep: they look at nothing until work wakes them), computes
/// graphs fused and not, computes one spawned from it, and drops (every
/// thread joined) in a second or so on a small machine.
#[test]
fn a_runtime_of_max_threads_computes_and_drops() {
    let n = 100u64;
    let want: u64 = (1..=n).sum();
    for fuse in [false, true] {
        let rt = runtime(Runtime::MAX_THREADS, fuse);
        let got = rt
            .compute(graph! {
                let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
                tree_reduce(v, add)
            })
            .unwrap();
        assert_eq!(got, want, "fused {fuse}");
        let h = rt.spawn(graph! {
            let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
            tree_reduce(v, add)
        });
        assert_eq!(h.wait().unwrap(), want, "spawned, fused {fuse}");
        drop(rt);
    }
}

/// One thread more than `Runtime::MAX_THREADS` is `Error::TooManyThreads`
/// naming both numbers, from `new` and from the builder.
#[test]
fn one_thread_more_than_max_threads_is_an_error() {
    let max = Runtime::MAX_THREADS;
    assert_eq!(max, 4096);
    for r in [
        Runtime::new(max + 1),
        Runtime::builder().threads(max + 1).build(),
    ] {
        match r {
            Err(Error::TooManyThreads {
                requested, max: m, ..
            }) => {
                assert_eq!((requested, m), (max + 1, max));
            }
            other => panic!("{other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Several failures: the first is reported, the others counted.

/// Waits (at most 10 s) until `n` tasks have arrived, so that all of them
/// run at once, then fails.
#[delayed]
fn fail_together(i: u64, n: usize, arrived: &Arc<AtomicUsize>) -> Result<u64, String> {
    arrived.fetch_add(1, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while arrived.load(Ordering::SeqCst) < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(format!("item {i} failed"))
}

/// `k` tasks running at once on `k` threads all fail: the error is one of
/// them and counts the `k - 1` others, fused or not.
#[test]
fn several_failures_report_the_first_and_count_the_others() {
    for k in [2usize, 3] {
        for fuse in [true, false] {
            let rt = runtime(k, fuse);
            let arrived = Arc::new(AtomicUsize::new(0));
            let a = &arrived;
            let r = rt.compute(graph! {
                let mut v = Vec::new();
                for i in 0..k as u64 {
                    v.push(fail_together(i, k, a)?);
                }
                v
            });
            let what = format!("{k} threads, fused {fuse}");
            assert_eq!(arrived.load(Ordering::SeqCst), k, "{what}");
            match r {
                Err(Error::TaskFailed {
                    task,
                    source,
                    others,
                    ..
                }) => {
                    let i: u64 = task.name()["fail_together[i=".len()..]
                        .trim_end_matches(']')
                        .parse()
                        .unwrap();
                    assert!(i < k as u64, "{what}: {}", task.name());
                    assert_eq!(source.to_string(), format!("item {i} failed"), "{what}");
                    assert_eq!(others, k - 1, "{what}");
                }
                other => panic!("{what}: {other:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A deadline on one thread.

/// Works until cancelled (or 10 s at most).
#[delayed]
fn spin(x: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !taskdag::cancelled() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    x
}

/// On a runtime of one thread, whose one place the long task holds (it may
/// run on the calling thread itself), `compute_timeout` still times out
/// and the task sees the cancellation; so does `cancel` on a handle.
#[test]
fn a_deadline_and_a_cancel_reach_the_only_running_task() {
    for fuse in [true, false] {
        let rt = runtime(1, fuse);
        let t0 = std::time::Instant::now();
        let r = rt.compute_timeout(graph! { spin(1) }, Duration::from_millis(20));
        assert!(matches!(r, Err(Error::TimedOut { .. })), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        let t0 = std::time::Instant::now();
        let r = rt.compute_timeout(
            graph! {
                let v: Vec<_> = (0..4u64).map(|i| spin(i)).collect();
                v
            },
            Duration::from_millis(20),
        );
        assert!(matches!(r, Err(Error::TimedOut { .. })), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        let h = rt.spawn(graph! { spin(2) });
        std::thread::sleep(Duration::from_millis(10));
        h.cancel();
        assert!(matches!(h.wait(), Err(Error::Cancelled)));
        assert_eq!(rt.compute(graph! { inc(41) }).unwrap(), 42);
    }
}

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

// ---------------------------------------------------------------------------
// Who runs the tasks: the thread that calls `compute` while a place is
// free, never the thread that awaits the graph.

/// The thread that runs it.
#[delayed]
fn whose(i: u64) -> (u64, std::thread::ThreadId) {
    (i, std::thread::current().id())
}

/// A graph awaited with `compute_async` runs none of its tasks on the
/// awaiting thread, however many there are, on one thread as on several,
/// fused or not; the values come back in order.
#[test]
fn the_awaiting_thread_runs_no_task() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let me = std::thread::current().id();
    for threads in [1, 2] {
        for fuse in [true, false] {
            let rt = runtime(threads, fuse);
            let what = format!("{threads} threads, fused {fuse}");
            let n = 200u64;
            let all = tokio
                .block_on(rt.compute_async(graph! {
                    let v: Vec<_> = (0..n).map(|i| whose(i)).collect();
                    v
                }))
                .unwrap();
            let order: Vec<u64> = all.iter().map(|&(i, _)| i).collect();
            assert_eq!(order, (0..n).collect::<Vec<_>>(), "{what}");
            assert!(all.iter().all(|&(_, t)| t != me), "{what}");
        }
    }
}

/// The thread that calls `compute` runs tasks of its graph itself when one
/// of the `n` places is free (here: the runtime is idle), however many
/// pool threads could take them, on one thread as on four, fused or not,
/// every time (it runs the first task itself before any pool thread can
/// take it); the values come back in order.
#[test]
fn the_calling_thread_runs_tasks_while_a_place_is_free() {
    let me = std::thread::current().id();
    for threads in [1, 2, 4] {
        for fuse in [true, false] {
            let rt = runtime(threads, fuse);
            for round in 0..50 {
                let what = format!("{threads} threads, fused {fuse}, round {round}");
                let n = 64u64;
                let all = rt
                    .compute(graph! {
                        let v: Vec<_> = (0..n).map(|i| whose(i)).collect();
                        v
                    })
                    .unwrap();
                let order: Vec<u64> = all.iter().map(|&(i, _)| i).collect();
                assert_eq!(order, (0..n).collect::<Vec<_>>(), "{what}");
                assert!(
                    all.iter().any(|&(_, t)| t == me),
                    "{what}: the pool ran every task"
                );
            }
        }
    }
}
