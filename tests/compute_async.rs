//! Graphs awaited from async code: `Runtime::compute_async` and
//! `handle.await`. Results are checked against sequential references, on a
//! minimal hand-written executor (which counts polls and wake-ups: no busy
//! polling) and on tokio's two runtime flavours; the executor's thread is
//! shown free while a graph runs by a graph that can only finish if another
//! task on that thread runs; dropping the future cancels (counted tasks and
//! values, never the clock).

use std::future::{Future, IntoFuture};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Computing, Error, Graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

/// A waker that counts its wake-ups and unparks the thread that waits.
struct Flag {
    woken: AtomicUsize,
    thread: Thread,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.woken.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag {
        woken: AtomicUsize::new(0),
        thread: std::thread::current(),
    });
    (f.clone(), Waker::from(f))
}

/// A minimal executor: polls `fut` on this thread, parks until its waker
/// is called. Returns the output, the number of polls and of wake-ups.
fn block_on<F: Future>(fut: F) -> (F::Output, usize, usize) {
    let (flag, waker) = flag();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let mut polls = 0;
    loop {
        let seen = flag.woken.load(Ordering::SeqCst);
        polls += 1;
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return (v, polls, flag.woken.load(Ordering::SeqCst));
        }
        // Park until woken (a spurious unpark parks again).
        while flag.woken.load(Ordering::SeqCst) == seen {
            std::thread::park();
        }
    }
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

fn tutorial(n: i64) -> impl Graph<Output = (i64, Vec<i64>)> + Send + 'static {
    graph! {
        let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
        let total = tree_reduce(zs, add);
        let v: Vec<_> = (0..n).map(|i| add(inc(i), i)).collect();
        (total, v)
    }
}

fn tutorial_sequential(n: i64) -> (i64, Vec<i64>) {
    (
        (0..n).map(|i| i + 1).sum(),
        (0..n).map(|i| 2 * i + 1).collect(),
    )
}

#[test]
fn computing_is_send_sync_and_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<Computing<Vec<i64>>>();
}

/// The hand-written executor gets `compute`'s result; it polls once before
/// the run ends and once after the one wake-up: never in a loop.
#[test]
fn compute_async_returns_the_sequential_result_on_any_executor() {
    for threads in [1, 2, 4] {
        for rt in runtimes(threads) {
            for n in [1, 7, 300] {
                let (r, polls, wakes) = block_on(rt.compute_async(tutorial(n)));
                assert_eq!(r.unwrap(), tutorial_sequential(n));
                assert!(wakes <= 1, "woken {wakes} times");
                assert_eq!(polls, 1 + wakes, "{polls} polls for {wakes} wake-ups");
                assert_eq!(rt.compute(tutorial(n)).unwrap(), tutorial_sequential(n));
            }
        }
    }
}

/// A small graph and a handle, awaited on the hand-written executor (the
/// test Miri runs).
#[test]
fn a_small_graph_awaited() {
    let rt = Runtime::new(2).unwrap();
    let (r, polls, wakes) = block_on(rt.compute_async(tutorial(5)));
    assert_eq!(r.unwrap(), tutorial_sequential(5));
    assert_eq!(polls, 1 + wakes);
    let (r, _, _) = block_on(rt.spawn(graph! { add(inc(1), inc(2)) }).into_future());
    assert_eq!(r.unwrap(), 5);
}

/// A graph awaited, pending (its first poll built and seeded the run on
/// this thread, which then went on without it), then dropped mid-run: the
/// drop returns while its tasks may still run (they wait for a release
/// that comes after it: a drop that waited for them would hang), the run
/// is cancelled, its teardown happens on the pool once they end, every
/// value it made is dropped exactly once, and the runtime goes on (the
/// test Miri runs for a run that moved between threads while pending).
#[test]
fn a_small_graph_awaited_then_dropped_mid_run() {
    static LIVE: AtomicI64 = AtomicI64::new(0);
    static MADE: AtomicUsize = AtomicUsize::new(0);
    struct Counted(i64);
    impl Drop for Counted {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    #[delayed]
    fn make(i: i64) -> Counted {
        LIVE.fetch_add(1, Ordering::SeqCst);
        MADE.fetch_add(1, Ordering::SeqCst);
        Counted(i)
    }
    #[delayed]
    fn held(c: &Counted, release: &Arc<AtomicBool>) -> i64 {
        while !release.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        c.0
    }
    let rt = Runtime::new(2).unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&release);
    let mut fut = rt.compute_async(graph! {
        let a = make(1);
        let b = make(2);
        add(held(&a, &r), held(&b, &r))
    });
    let (_, waker) = flag();
    assert!(Pin::new(&mut fut)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    while MADE.load(Ordering::SeqCst) < 2 {
        std::thread::yield_now();
    }
    let h = fut.handle().unwrap().clone();
    drop(fut);
    release.store(true, Ordering::SeqCst);
    assert!(matches!(h.wait(), Err(Error::Cancelled)));
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every value dropped once");
    let (r, _, _) = block_on(rt.compute_async(graph! { add(inc(1), inc(2)) }));
    assert_eq!(r.unwrap(), 5);
}

/// Graphs awaited one after another start no thread: the pool's own
/// work items build and finish them. (The runtime's threads are counted by
/// name, so other tests running meanwhile do not count.)
#[cfg(target_os = "linux")]
#[test]
fn graphs_awaited_one_after_another_start_no_thread() {
    fn threads_named(prefix: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with(prefix))
            .count()
    }
    let rt = Runtime::builder()
        .threads(2)
        .thread_name("awaitone")
        .build()
        .unwrap();
    let mut most = 0;
    for n in 1..=200 {
        let (r, _, _) = block_on(rt.compute_async(tutorial(n % 7 + 1)));
        assert_eq!(r.unwrap(), tutorial_sequential(n % 7 + 1));
        let h = rt.spawn(tutorial(n % 5 + 1));
        assert_eq!(h.wait().unwrap(), tutorial_sequential(n % 5 + 1));
        most = most.max(threads_named("awaitone"));
    }
    assert_eq!(most, 2, "the pool's 2 threads, and no other");
}

/// `Graph::compute_async` awaits a graph on the default runtime: the
/// sequential result, a task's panic as `compute` reports it.
#[test]
fn a_graph_awaited_on_the_default_runtime() {
    for n in [1, 7, 300] {
        let (r, polls, wakes) = block_on(tutorial(n).compute_async());
        assert_eq!(r.unwrap(), tutorial_sequential(n));
        assert_eq!(polls, 1 + wakes);
        assert_eq!(tutorial(n).compute().unwrap(), tutorial_sequential(n));
    }
    #[delayed]
    fn boom(x: i64) -> i64 {
        assert!(x < 0, "boom at {x}");
        x
    }
    let (r, _, _) = block_on(graph! { boom(add(1, 2)) }.compute_async());
    match r {
        Err(Error::TaskPanicked { task, message, .. }) => {
            assert_eq!(
                (task.name().as_str(), message.as_str()),
                ("boom", "boom at 3")
            );
        }
        other => panic!("expected the task's panic, got {other:?}"),
    }
}

/// Spawns and awaits from several threads at once, with pauses of a few
/// tens of microseconds, so that graphs find the pool busy, spinning or
/// parked: every graph finishes with its own result, and the runtime drops
/// (after its last graph) at the end.
#[test]
fn graphs_handed_to_the_pool_from_several_threads_lose_none() {
    for threads in [1, 2] {
        let rt = Runtime::new(threads).unwrap();
        std::thread::scope(|s| {
            for t in 0..4i64 {
                let rt = &rt;
                s.spawn(move || {
                    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ t as u64;
                    for k in 0..150i64 {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        let pause = state % 250;
                        if pause > 50 {
                            std::thread::sleep(Duration::from_micros(pause));
                        }
                        let n = (k + t) % 5 + 1;
                        let r = if k % 2 == 0 {
                            rt.spawn(tutorial(n)).wait()
                        } else {
                            block_on(rt.compute_async(tutorial(n))).0
                        };
                        assert_eq!(r.unwrap(), tutorial_sequential(n), "thread {t}, graph {k}");
                    }
                });
            }
        });
        drop(rt);
    }
}

/// A run that ends before the first poll needs no wake-up at all.
#[test]
fn a_finished_graph_is_ready_at_the_first_poll() {
    let rt = Runtime::new(2).unwrap();
    let fut = rt.compute_async(graph! { add(inc(1), inc(2)) });
    let h = fut.handle().unwrap().clone();
    while !h.is_finished() {
        std::thread::yield_now();
    }
    let (r, polls, wakes) = block_on(fut);
    assert_eq!((r.unwrap(), polls, wakes), (5, 1, 0));
}

/// Polled with one waker, then with another (the task moved): only the
/// last one is woken, once.
#[test]
fn only_the_last_waker_is_woken() {
    let rt = Runtime::new(2).unwrap();
    let release = Arc::new(AtomicBool::new(false));
    #[delayed]
    fn gate(release: &Arc<AtomicBool>) -> i64 {
        while !release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_micros(200));
        }
        42
    }
    let r = Arc::clone(&release);
    let mut fut = rt.compute_async(graph! { gate(&r) });
    let (a, wa) = flag();
    let (b, wb) = flag();
    assert!(Pin::new(&mut fut)
        .poll(&mut Context::from_waker(&wa))
        .is_pending());
    assert!(Pin::new(&mut fut)
        .poll(&mut Context::from_waker(&wb))
        .is_pending());
    release.store(true, Ordering::SeqCst);
    while b.woken.load(Ordering::SeqCst) == 0 {
        std::thread::park();
    }
    let Poll::Ready(v) = Pin::new(&mut fut).poll(&mut Context::from_waker(&wb)) else {
        panic!("woken, yet not ready");
    };
    assert_eq!(v.unwrap(), 42);
    assert_eq!(
        a.woken.load(Ordering::SeqCst),
        0,
        "a replaced waker was woken"
    );
    assert_eq!(b.woken.load(Ordering::SeqCst), 1);
}

/// Errors come back as `compute` returns them: a panicking task, a task's
/// `Err`, a cancellation through the future's handle.
#[test]
fn errors_are_those_of_compute() {
    #[delayed]
    fn fragile(i: i64) -> i64 {
        assert!(i != 3, "cannot handle {i}");
        i
    }
    #[delayed]
    fn parse(s: String) -> Result<i64, std::num::ParseIntError> {
        s.parse()
    }
    let rt = Runtime::new(2).unwrap();
    let (r, _, _) = block_on(rt.compute_async(graph! {
        let v: Vec<_> = (0..5).map(|i| fragile(i)).collect();
        tree_reduce(v, add)
    }));
    let Err(Error::TaskPanicked { task, message, .. }) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (task.name().as_str(), message.as_str()),
        ("fragile[i=3]", "cannot handle 3")
    );

    let words = vec!["1".to_owned(), "x".to_owned()];
    let (r, _, _) = block_on(rt.compute_async(graph! {
        let mut v = Vec::new();
        for s in &words {
            v.push(parse(s.clone())?);
        }
        tree_reduce(v, add)
    }));
    let Err(Error::TaskFailed { task, .. }) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (task.function(), task.indices.as_slice()),
        ("parse", &[1][..])
    );

    let release = Arc::new(AtomicBool::new(false));
    #[delayed]
    fn held(release: &Arc<AtomicBool>) -> i64 {
        while !release.load(Ordering::SeqCst) && !taskdag::cancelled() {
            std::thread::sleep(Duration::from_micros(200));
        }
        1
    }
    let r2 = Arc::clone(&release);
    let fut = rt.compute_async(graph! { inc(held(&r2)) });
    fut.handle().unwrap().cancel();
    let (r, _, _) = block_on(fut);
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(block_on(rt.compute_async(graph! { inc(1) })).0.unwrap(), 2);
}

/// Dropping the future before it is ready cancels the graph: the task
/// running at the drop finishes, no later one starts, every value is
/// dropped, and the runtime is idle and usable right after.
#[test]
fn dropping_the_future_cancels_the_graph() {
    #[derive(Debug)]
    struct Tracked(i64, Arc<AtomicI64>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.fetch_sub(1, Ordering::SeqCst);
        }
    }
    #[delayed]
    fn step(x: Tracked, started: &Arc<AtomicUsize>) -> Tracked {
        started.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1));
        x.1.fetch_add(1, Ordering::SeqCst);
        Tracked(x.0 + 1, Arc::clone(&x.1))
    }
    #[delayed]
    fn first(live: &Arc<AtomicI64>) -> Tracked {
        live.fetch_add(1, Ordering::SeqCst);
        Tracked(0, Arc::clone(live))
    }
    for (rt, fused) in runtimes(1).into_iter().zip([true, false]) {
        let live = Arc::new(AtomicI64::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let (l, s) = (Arc::clone(&live), Arc::clone(&started));
        let mut fut = rt.compute_async(graph! {
            let mut x = first(&l);
            for _ in 0..10_000 {
                x = step(x, &s);
            }
            x
        });
        let (_, waker) = flag();
        assert!(Pin::new(&mut fut)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        while started.load(Ordering::SeqCst) < 3 {
            std::thread::yield_now();
        }
        let h = fut.handle().unwrap().clone();
        drop(fut);
        // One thread runs the chain's steps one after another: node by
        // node, at most the one running when the future was dropped
        // finishes after it; fused, the chain looks for a stop between
        // stretches of 256 steps.
        let at_drop = started.load(Ordering::SeqCst);
        assert!(matches!(h.wait(), Err(Error::Cancelled)));
        let after = started.load(Ordering::SeqCst);
        let slack = if fused { 256 } else { 1 };
        assert!(
            after <= at_drop + slack,
            "{at_drop} started at the drop, {after} after (fused: {fused})"
        );
        assert_eq!(live.load(Ordering::SeqCst), 0, "every value dropped");
        assert_eq!(rt.compute(graph! { inc(41) }).unwrap(), 42);
    }
}

/// A graph whose task waits for another task of the executor's one
/// thread: it finishes only because awaiting it leaves the thread free.
#[tokio::test(flavor = "current_thread")]
async fn awaiting_leaves_the_executor_thread_free() {
    #[delayed]
    fn wait_for(released: &Arc<AtomicBool>) -> i64 {
        let start = Instant::now();
        while !released.load(Ordering::SeqCst) {
            if start.elapsed() > Duration::from_secs(30) {
                return -1; // the executor's thread never ran the releaser
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        7
    }
    let rt = Runtime::new(2).unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&released);
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        r.store(true, Ordering::SeqCst);
    });
    let r = Arc::clone(&released);
    assert_eq!(
        rt.compute_async(graph! { inc(wait_for(&r)) })
            .await
            .unwrap(),
        8
    );
    releaser.await.unwrap();
    // A handle awaits the same way.
    let h = rt.spawn(tutorial(50));
    assert_eq!(h.await.unwrap(), tutorial_sequential(50));
}

/// Many graphs awaited at once from the tasks of a multi-threaded tokio
/// runtime, each with its own result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_graphs_awaited_at_once_on_a_multi_threaded_runtime() {
    let rt = Arc::new(Runtime::new(2).unwrap());
    let tasks: Vec<_> = (1..=40)
        .map(|n| {
            let rt = Arc::clone(&rt);
            tokio::spawn(async move {
                let spawned = rt.spawn(tutorial(n + 1)).await;
                let computed = rt.compute_async(tutorial(n)).await;
                (n, spawned.unwrap(), computed.unwrap())
            })
        })
        .collect();
    for t in tasks {
        let (n, spawned, computed) = t.await.unwrap();
        assert_eq!(spawned, tutorial_sequential(n + 1));
        assert_eq!(computed, tutorial_sequential(n));
    }
}

/// A timeout around the future drops it: the graph is cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokio_timeout_cancels_the_graph() {
    #[delayed]
    fn slow(i: i64, started: &Arc<AtomicUsize>) -> i64 {
        started.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        i
    }
    let rt = Runtime::new(2).unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&started);
    let n = 5_000;
    let fut = rt.compute_async(graph! {
        let v: Vec<_> = (0..n).map(|i| slow(i, &s)).collect();
        tree_reduce(v, add)
    });
    let h = fut.handle().unwrap().clone();
    let r = tokio::time::timeout(Duration::from_millis(20), fut).await;
    assert!(
        r.is_err(),
        "5000 tasks of 2 ms on 2 threads took under 20 ms"
    );
    assert!(matches!(h.await, Err(Error::Cancelled)));
    let ran = started.load(Ordering::SeqCst);
    assert!(ran < n as usize, "cancelled, yet all {ran} tasks started");
}

/// Awaiting a handle and dropping that future detaches the run, as
/// dropping the handle does: it finishes.
#[test]
fn dropping_an_awaited_handle_detaches_the_run() {
    let rt = Runtime::new(2).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    #[delayed]
    fn count(i: i64, done: &Arc<AtomicUsize>) -> i64 {
        std::thread::sleep(Duration::from_micros(100));
        done.fetch_add(1, Ordering::SeqCst);
        i
    }
    let d = Arc::clone(&done);
    let h = rt.spawn(graph! {
        let v: Vec<_> = (0..100).map(|i| count(i, &d)).collect();
        tree_reduce(v, add)
    });
    let other = h.clone();
    let mut fut = h.into_future();
    let (_, waker) = flag();
    let _ = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
    drop(fut);
    assert_eq!(other.wait().unwrap(), (0..100).sum::<i64>());
    assert_eq!(done.load(Ordering::SeqCst), 100);
}

/// Awaited from a tokio task, a graph's async tasks use that tokio
/// runtime (its timers here) with no `RuntimeBuilder::tokio`: the graph
/// is built where the caller's runtime is current.
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_tasks_of_an_awaited_graph_use_the_callers_tokio_runtime() {
    #[delayed]
    async fn later(i: i64) -> i64 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        i * 3
    }
    let rt = Runtime::new(2).unwrap();
    let v = rt
        .compute_async(graph! {
            let v: Vec<_> = (0..20).map(|i| inc(later(i))).collect();
            tree_reduce(v, add)
        })
        .await
        .unwrap();
    assert_eq!(v, (0..20).map(|i| i * 3 + 1).sum::<i64>());
    let h = rt.spawn(graph! { later(5) });
    assert_eq!(h.await.unwrap(), 15);
}

/// Dropping the future of a graph whose async tasks are pending (on
/// futures that never complete) cancels it: each pending future is
/// dropped once, and the graph ends at once.
#[test]
fn dropping_the_future_drops_the_pending_async_tasks() {
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    #[delayed]
    async fn forever(i: i64) -> i64 {
        let _guard = Counted(&DROPPED);
        STARTED.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
        i
    }
    let rt = Runtime::new(2).unwrap();
    let mut fut = rt.compute_async(graph! {
        let v: Vec<_> = (0..10).map(|i| inc(forever(i))).collect();
        tree_reduce(v, add)
    });
    let (_, waker) = flag();
    assert!(Pin::new(&mut fut)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let start = Instant::now();
    while STARTED.load(Ordering::SeqCst) < 10 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the tasks never started"
        );
        std::thread::yield_now();
    }
    let h = fut.handle().unwrap().clone();
    drop(fut);
    assert!(matches!(h.wait(), Err(Error::Cancelled)));
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        10,
        "each pending future dropped once"
    );
    assert_eq!(rt.compute(graph! { inc(1) }).unwrap(), 2);
}
