//! `#[delayed] async fn` tasks: results against a sequential run, the
//! thread limit and the in-flight limit, failures, cancellation.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use taskdag::{delayed, graph, Error, Runtime};

/// Runs `fut`, counting how many such futures are being polled at once
/// (`now`) and the most ever (`high`).
struct Probe<'a, F> {
    fut: Pin<Box<F>>,
    now: &'a AtomicUsize,
    high: &'a AtomicUsize,
}

impl<F: Future> Future for Probe<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.high.fetch_max(n, Ordering::SeqCst);
        // Long enough for other threads to poll at the same time.
        std::thread::sleep(Duration::from_micros(200));
        let r = self.fut.as_mut().poll(cx);
        self.now.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

/// Whether a timer has fired, and the waker to call when it does.
type Fired = Arc<Mutex<(bool, Option<Waker>)>>;

/// A future ready after `d`, woken by a plain thread: no reactor needed.
struct Timer {
    d: Duration,
    shared: Option<Fired>,
}

fn sleep(d: Duration) -> Timer {
    Timer { d, shared: None }
}

impl Future for Timer {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let d = self.d;
        let shared = self.shared.get_or_insert_with(|| {
            let s = Arc::new(Mutex::new((false, None::<Waker>)));
            let t = Arc::clone(&s);
            std::thread::spawn(move || {
                std::thread::sleep(d);
                let mut g = t.lock().unwrap();
                g.0 = true;
                if let Some(w) = g.1.take() {
                    w.wake();
                }
            });
            s
        });
        let mut g = shared.lock().unwrap();
        if g.0 {
            Poll::Ready(())
        } else {
            g.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[delayed]
async fn fetch(i: u64) -> u64 {
    sleep(Duration::from_millis(1 + i % 3)).await;
    i * 10
}

#[delayed]
fn add(a: u64, b: &u64) -> u64 {
    a + b
}

#[delayed]
async fn scale(x: &u64, k: u64) -> u64 {
    sleep(Duration::from_millis(1)).await;
    x * k
}

fn sequential(n: u64) -> u64 {
    (0..n).map(|i| i * 10 * 3 + i * 10).sum()
}

#[test]
fn results_match_a_sequential_run() {
    for threads in [1, 2, 4] {
        let rt = Runtime::new(threads).unwrap();
        let n = 40u64;
        let total = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..n {
                    let f = fetch(i);
                    let s = scale(&f, 3);
                    v.push(add(s, &f));
                }
                v
            })
            .unwrap();
        assert_eq!(
            total.iter().sum::<u64>(),
            sequential(n),
            "{threads} threads"
        );
    }
}

#[delayed]
fn double(x: u64) -> u64 {
    x * 2
}

#[delayed]
fn plus(a: u64, b: u64) -> u64 {
    a + b
}

/// A loop calling an async task has no fused form: with fusion on (the
/// default) or off, and reduced with `tree_reduce`, the results are the
/// same as sequential ones, and observers see every task one by one (no
/// fused block), each async one from its start to its end.
#[test]
fn loops_calling_async_tasks_run_node_by_node() {
    let n = 100u64;
    let expect: u64 = (0..n).map(|i| i * 10 * 2).sum();
    for fuse in [true, false] {
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .build()
            .unwrap();
        let stream = Arc::new(taskdag::stream::TaskStream::new());
        let _watching = rt.observe(stream.clone());
        let got = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..n {
                    v.push(double(fetch(i)));
                }
                tree_reduce(v, plus)
            })
            .unwrap();
        assert_eq!(got, expect, "fuse_loops({fuse})");
        let tasks = stream.tasks();
        let count = |name: &str| tasks.iter().filter(|t| t.site.name == name).count();
        assert_eq!(
            (count("fetch"), count("double"), count("plus")),
            (n as usize, n as usize, n as usize - 1),
            "fuse_loops({fuse})"
        );
        assert_eq!(stream.spans().len(), tasks.len(), "no fused block");
        // An async task's span covers its wait (at least 1 ms).
        assert!(tasks
            .iter()
            .filter(|t| t.site.name == "fetch")
            .all(|t| t.end - t.start >= 1_000_000));
    }
}

static POLLING: AtomicUsize = AtomicUsize::new(0);
static POLLING_HIGH: AtomicUsize = AtomicUsize::new(0);
static FLYING: AtomicUsize = AtomicUsize::new(0);
static FLYING_HIGH: AtomicUsize = AtomicUsize::new(0);

#[delayed]
async fn limited(i: u64) -> u64 {
    let n = FLYING.fetch_add(1, Ordering::SeqCst) + 1;
    FLYING_HIGH.fetch_max(n, Ordering::SeqCst);
    Probe {
        fut: Box::pin(sleep(Duration::from_millis(2))),
        now: &POLLING,
        high: &POLLING_HIGH,
    }
    .await;
    FLYING.fetch_sub(1, Ordering::SeqCst);
    i
}

/// At most `threads` tasks are polled at once, and at most
/// `max_in_flight` async tasks are started and not finished.
#[test]
fn the_thread_limit_and_the_in_flight_limit_hold() {
    let rt = Runtime::builder()
        .threads(2)
        .max_in_flight(5)
        .build()
        .unwrap();
    let v = rt
        .compute(graph! {
            let mut v = Vec::new();
            for i in 0..60 {
                v.push(limited(i));
            }
            v
        })
        .unwrap();
    assert_eq!(v, (0..60).collect::<Vec<u64>>());
    let polls = POLLING_HIGH.load(Ordering::SeqCst);
    let flying = FLYING_HIGH.load(Ordering::SeqCst);
    assert!(polls <= 2, "{polls} polls at once on 2 threads");
    assert!(flying <= 5, "{flying} tasks in flight, at most 5 allowed");
    // The bound was reached: the tasks did wait for each other.
    assert_eq!(flying, 5);
}

#[delayed]
async fn timer(ms: u64, i: u64) -> u64 {
    sleep(Duration::from_millis(ms)).await;
    i
}

/// 1,000 tasks each waiting for a 50 ms timer on a 2-thread pool: none
/// holds a thread while it waits (the time it takes is measured in
/// `benches/suite.rs`).
#[test]
fn a_thousand_timers_on_two_threads() {
    let rt = Runtime::new(2).unwrap();
    let v = rt
        .compute(graph! {
            let mut v = Vec::new();
            for i in 0..1000 {
                v.push(timer(50, i));
            }
            v
        })
        .unwrap();
    assert_eq!(v, (0..1000).collect::<Vec<u64>>());
}

#[delayed]
async fn boom(i: u64) -> u64 {
    sleep(Duration::from_millis(1)).await;
    if i == 3 {
        panic!("boom at {i}");
    }
    i
}

/// A future that panics is the failure of its task, named with its loop
/// index.
#[test]
fn a_panicking_future_names_its_task() {
    let rt = Runtime::new(2).unwrap();
    let e = rt
        .compute(graph! {
            let mut v = Vec::new();
            for i in 0..8 {
                v.push(boom(i));
            }
            v
        })
        .unwrap_err();
    match &e {
        Error::TaskPanicked { task, message, .. } => {
            assert_eq!(message, "boom at 3");
            assert_eq!(task.function(), "boom");
            assert_eq!(task.indices, vec![3]);
        }
        other => panic!("expected a panic of `boom`, got {other:?}"),
    }
}

#[delayed]
async fn parse(s: String) -> Result<u64, std::num::ParseIntError> {
    sleep(Duration::from_millis(1)).await;
    s.parse()
}

/// `?` on an async task's `Result`: the first `Err` is the graph's error.
#[test]
fn question_mark_on_an_async_task() {
    let rt = Runtime::new(2).unwrap();
    let ok = rt
        .compute(graph! {
            let a = parse("20".to_string())?;
            let b = parse("22".to_string())?;
            plus(a, b)
        })
        .unwrap();
    assert_eq!(ok, 42);
    let e = rt
        .compute(graph! {
            let a = parse("20".to_string())?;
            let b = parse("x".to_string())?;
            plus(a, b)
        })
        .unwrap_err();
    match &e {
        Error::TaskFailed { task, source, .. } => {
            assert_eq!(task.function(), "parse");
            assert_eq!(source.to_string(), "invalid digit found in string");
        }
        other => panic!("expected `parse` to fail, got {other:?}"),
    }
}

/// `$name(i)`: an async task that never completes, counting in `$counts`
/// the futures made and dropped (each test its own, as tests run at once).
macro_rules! hanging {
    ($name:ident, $counts:ident) => {
        static $counts: Counts = Counts::new();

        #[delayed]
        async fn $name(i: u64) -> u64 {
            let _c = Counted(&$counts);
            $counts.started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
            i
        }
    };
}

struct Counts {
    started: AtomicUsize,
    dropped: AtomicUsize,
}

impl Counts {
    const fn new() -> Self {
        Counts {
            started: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
        }
    }
    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

struct Counted(&'static Counts);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

hanging!(forever, FOREVER);
hanging!(forever_b, FOREVER_B);
hanging!(forever_c, FOREVER_C);

/// Cancelling a graph whose futures never complete drops each of them
/// exactly once, and the run ends; `compute_timeout` stops them too.
#[test]
fn cancel_and_timeout_drop_every_pending_future_once() {
    let rt = Runtime::new(2).unwrap();
    let h = rt.spawn(graph! {
        let mut v = Vec::new();
        for i in 0..50 {
            v.push(forever(i));
        }
        v
    });
    while FOREVER.started() < 50 {
        std::thread::sleep(Duration::from_millis(1));
    }
    h.cancel();
    assert!(matches!(h.wait(), Err(Error::Cancelled)));
    assert_eq!(FOREVER.dropped(), 50);

    let e = rt
        .compute_timeout(
            graph! {
                let mut v = Vec::new();
                for i in 0..10 {
                    v.push(forever(i));
                }
                v
            },
            Duration::from_millis(200),
        )
        .unwrap_err();
    assert!(matches!(e, Error::TimedOut { .. }), "{e:?}");
    // On a busy machine not every future may have started before the
    // timeout; each one that did is dropped exactly once.
    let started = FOREVER.started();
    assert!(started > 50, "no future started within the timeout");
    assert_eq!(FOREVER.dropped(), started);
}

/// Fails once `forever_b` has started.
#[delayed]
async fn fail_later() -> Result<u64, String> {
    while FOREVER_B.started() == 0 {
        sleep(Duration::from_millis(1)).await;
    }
    Err("no".to_string())
}

/// Another task's failure stops the run: the pending future is dropped.
#[test]
fn a_failure_drops_the_pending_futures() {
    let rt = Runtime::new(2).unwrap();
    let e = rt
        .compute(graph! {
            let a = fail_later()?;
            let b = forever_b(1);
            plus(a, b)
        })
        .unwrap_err();
    assert!(matches!(e, Error::TaskFailed { .. }), "{e:?}");
    assert_eq!((FOREVER_B.started(), FOREVER_B.dropped()), (1, 1));
}

#[cfg(feature = "tokio")]
mod with_tokio {
    use super::*;

    #[delayed]
    async fn tokio_sleep(ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    /// `RuntimeBuilder::tokio`: tasks use tokio's timers.
    #[test]
    fn a_named_tokio_runtime() {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let rt = Runtime::builder()
            .threads(2)
            .tokio(tokio.handle().clone())
            .build()
            .unwrap();
        let v = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..20 {
                    v.push(tokio_sleep(i));
                }
                v
            })
            .unwrap();
        assert_eq!(v, (0..20).collect::<Vec<u64>>());
    }

    /// Without one named, the tokio runtime current where the graph is
    /// computed.
    #[test]
    fn the_current_tokio_runtime() {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let rt = Runtime::new(2).unwrap();
        let _enter = tokio.enter();
        assert_eq!(rt.compute(graph! { tokio_sleep(3) }).unwrap(), 3);
        // A spawned graph: the one current where it was spawned.
        let h = rt.spawn(graph! { tokio_sleep(4) });
        assert_eq!(h.wait().unwrap(), 4);
    }
}

/// Pending once, waking itself during its own poll (a task that yields).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[delayed]
async fn yielding(x: &u64, k: u64) -> u64 {
    YieldOnce(false).await;
    x + k
}

#[delayed]
async fn yielding_sum(v: &[u64], k: u64) -> u64 {
    YieldOnce(false).await;
    v.iter().sum::<u64>() * k
}

/// A small graph for Miri: a future woken during its poll, one woken by
/// another thread, a borrowed input held by a pending future (a value, and
/// a gathered vector lent to a `&[T]` parameter, read by two tasks or by
/// one), and a cancelled one dropped.
#[test]
fn a_small_async_graph() {
    let rt = Runtime::new(2).unwrap();
    let v = rt
        .compute(graph! {
            let a = timer(1, 5);
            let b = yielding(&a, 1);
            let c = yielding(&a, 2);
            let xs: Vec<_> = (0..3u64).map(|i| plus(i, 1)).collect();
            let ys: Vec<_> = (0..2u64).map(|i| plus(i, 0)).collect();
            let s = plus(yielding_sum(&xs[..], 1), yielding_sum(&xs[..], 2));
            (plus(b, c), s, yielding_sum(&ys[..], 3))
        })
        .unwrap();
    assert_eq!(v, (13, 6 + 12, 3));
    let h = rt.spawn(graph! { forever_c(1) });
    while FOREVER_C.started() == 0 {
        std::thread::yield_now();
    }
    h.cancel();
    assert!(matches!(h.wait(), Err(Error::Cancelled)));
    assert_eq!((FOREVER_C.started(), FOREVER_C.dropped()), (1, 1));
}

#[delayed]
fn leaf(i: u64) -> u64 {
    i
}

#[delayed]
async fn mix3(a: &u64, b: &u64, c: &u64) -> u64 {
    YieldOnce(false).await;
    (a + 2 * b + c) % 1_000_003
}

#[delayed]
fn edge(x: u64) -> u64 {
    x
}

/// A step loop (a stencil) whose body calls an async task runs node by
/// node, fused or not, with the sequential result.
#[test]
fn a_step_loop_calling_an_async_task() {
    let (w, steps) = (16usize, 5);
    let mut want: Vec<u64> = (0..w as u64).collect();
    for _ in 0..steps {
        let mut next = vec![want[0]];
        for i in 1..w - 1 {
            next.push((want[i - 1] + 2 * want[i] + want[i + 1]) % 1_000_003);
        }
        next.push(want[w - 1]);
        want = next;
    }
    for fuse in [true, false] {
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .build()
            .unwrap();
        let got = rt
            .compute(graph! {
                let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
                for _ in 0..steps {
                    let mut next = Vec::new();
                    next.push(edge(cur[0]));
                    for i in 1..w - 1 {
                        next.push(mix3(&cur[i - 1], &cur[i], &cur[i + 1]));
                    }
                    next.push(edge(cur[w - 1]));
                    cur = next;
                }
                cur
            })
            .unwrap();
        assert_eq!(got, want, "fuse_loops({fuse})");
    }
}

hanging!(forever_d, FOREVER_D);

static RACE_STARTED: AtomicUsize = AtomicUsize::new(0);
static RACE_DROPPED: AtomicUsize = AtomicUsize::new(0);

struct RaceGuard;

impl Drop for RaceGuard {
    fn drop(&mut self) {
        RACE_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits for timers woken from other threads, yielding between them.
#[delayed]
async fn racing(i: u64) -> u64 {
    let _g = RaceGuard;
    RACE_STARTED.fetch_add(1, Ordering::SeqCst);
    for k in 0..3 {
        sleep(Duration::from_micros(100 * ((i + k) % 5))).await;
        YieldOnce(false).await;
    }
    i
}

/// Stress: cancels that race with wake-ups from timer threads and with
/// polls in progress, at varying moments. Every run ends (cancelled or
/// finished, with the right result), and every future made is dropped
/// exactly once.
#[test]
fn cancels_racing_with_wake_ups() {
    let rt = Runtime::builder()
        .threads(2)
        .max_in_flight(16)
        .build()
        .unwrap();
    for round in 0..60u64 {
        let h = rt.spawn(graph! {
            let mut v = Vec::new();
            for i in 0..40 {
                v.push(racing(i));
            }
            v.push(forever_d(round));
            v
        });
        std::thread::sleep(Duration::from_micros(50 * (round % 20)));
        h.cancel();
        assert!(matches!(h.wait(), Err(Error::Cancelled)));
        assert_eq!(
            RACE_DROPPED.load(Ordering::SeqCst),
            RACE_STARTED.load(Ordering::SeqCst),
            "round {round}"
        );
        assert_eq!(FOREVER_D.dropped(), FOREVER_D.started(), "round {round}");
    }
}

static SHARED_NOW: AtomicUsize = AtomicUsize::new(0);
static SHARED_HIGH: AtomicUsize = AtomicUsize::new(0);

#[delayed]
async fn counted_wait(i: u64) -> u64 {
    let n = SHARED_NOW.fetch_add(1, Ordering::SeqCst) + 1;
    SHARED_HIGH.fetch_max(n, Ordering::SeqCst);
    sleep(Duration::from_millis(1)).await;
    SHARED_NOW.fetch_sub(1, Ordering::SeqCst);
    i
}

/// The in-flight bound is the runtime's: two spawned graphs and a compute
/// share it, and the tasks queued behind it by one graph are started by
/// another's finishing tasks.
#[test]
fn the_in_flight_bound_is_shared_by_every_graph() {
    let rt = Runtime::builder()
        .threads(2)
        .max_in_flight(3)
        .build()
        .unwrap();
    let spawn = |k: u64| {
        rt.spawn(graph! {
            let mut v = Vec::new();
            for i in 0..30 {
                v.push(counted_wait(i + k));
            }
            v
        })
    };
    let (a, b) = (spawn(0), spawn(100));
    let c = rt
        .compute(graph! {
            let mut v = Vec::new();
            for i in 0..30 {
                v.push(counted_wait(i + 200));
            }
            v
        })
        .unwrap();
    assert_eq!(a.wait().unwrap(), (0..30).collect::<Vec<u64>>());
    assert_eq!(b.wait().unwrap(), (100..130).collect::<Vec<u64>>());
    assert_eq!(c, (200..230).collect::<Vec<u64>>());
    let high = SHARED_HIGH.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&high),
        "{high} in flight, at most 3 allowed"
    );
}
