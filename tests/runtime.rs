//! The runtime contract: errors, panics, reuse, concurrency, parallelism and
//! memory (values dropped by their last consumer, nothing leaked).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use taskdag::{delayed, graph, Error, Runtime};

mod common;
use common::{max_concurrent, sleep_logged, Spans};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
#[delayed]
fn fragile(i: i64, j: i64) -> i64 {
    if i == 2 && j == 3 {
        panic!("cannot handle {i}/{j}");
    }
    i * j
}

#[test]
fn zero_threads_is_an_error_that_says_so() {
    let e = Runtime::new(0).unwrap_err();
    assert!(matches!(e, Error::ZeroThreads));
    assert_eq!(
        e.to_string(),
        "a runtime needs at least one thread: use `Runtime::new(1)` or more"
    );
    assert!(matches!(
        Runtime::builder().threads(0).build(),
        Err(Error::ZeroThreads)
    ));
}

#[test]
fn builder_settings() {
    let rt = Runtime::builder()
        .threads(3)
        .thread_name("worker")
        .stack_size(1 << 20)
        .build()
        .unwrap();
    assert_eq!(rt.threads(), 3);
    assert_eq!(rt.compute(graph! { inc(1) }).unwrap(), 2);
}

fn panicking_graph(rt: &Runtime) -> Result<i64, Error> {
    rt.compute(graph! {
        let mut parts = Vec::new();
        for i in 0..4 {
            for j in 0..5 {
                parts.push(fragile(i, j));
            }
        }
        tree_reduce(parts, add)
    })
}

#[test]
fn a_panicking_task_names_function_indices_and_message() {
    let rt = Runtime::new(2).unwrap();
    let e = panicking_graph(&rt).unwrap_err();
    let Error::TaskPanicked { task, message, .. } = &e else {
        panic!("unexpected error {e:?}")
    };
    assert_eq!(task.function(), "fragile");
    assert_eq!(task.indices, vec![2, 3]);
    assert!(task.file().ends_with("runtime.rs"), "{}", task.file());
    let expected = include_str!("runtime.rs")
        .lines()
        .position(|l| l.trim() == "parts.push(fragile(i, j));")
        .unwrap()
        + 1;
    assert_eq!(task.line() as usize, expected);
    assert_eq!(task.column(), 28, "the column of `fragile`");
    assert_eq!(message, "cannot handle 2/3");
    assert_eq!(task.name(), "fragile[i=2, j=3]");
    assert_eq!(
        e.to_string(),
        format!(
            "task `fragile[i=2, j=3]` at {}:{expected}:28 panicked: cannot handle 2/3",
            task.file()
        )
    );
}

#[delayed]
fn picky(x: i64) -> i64 {
    if x == 13 {
        panic!("unlucky {x}");
    }
    x
}
#[delayed]
fn picky_add(x: i64, y: i64) -> i64 {
    if x + y == 58 {
        panic!("{x} + {y}");
    }
    x + y
}

/// `file:line:column` of the first `name` on the source line that
/// reads `line`, in this file.
fn site(line: &str, name: &str) -> String {
    let src = include_str!("runtime.rs");
    let (n, text) = src
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim() == line)
        .unwrap_or_else(|| panic!("no line `{line}`"));
    let column = text.find(name).unwrap() + 1;
    format!("tests/runtime.rs:{}:{column}", n + 1)
}

#[test]
fn a_failing_task_is_named_by_its_loop_variables() {
    let rt = Runtime::new(2).unwrap();
    fn message<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
        r.unwrap_err().to_string()
    }

    // Nested loops over `0..`: the variables with their values.
    let e = message(rt.compute(graph! {
        let mut v = Vec::new();
        for i in 0..4 {
            for j in 0..4 {
                v.push(picky(4 * i + j));
            }
        }
        v
    }));
    let at = site("v.push(picky(4 * i + j));", "picky");
    assert_eq!(
        e,
        format!("task `picky[i=3, j=1]` at {at} panicked: unlucky 13")
    );

    // A `tree_reduce` node: the tree level and the position in it (after
    // the loops around it, if any). Leaves 1..=16: level 0 adds 1+2, ..,
    // 15+16; level 1 adds 3+7, 11+15, 19+23 and 27+31 = 58.
    let e = message(rt.compute(graph! {
        let leaves: Vec<_> = (0..16).map(|j| inc(j)).collect();
        tree_reduce(leaves, picky_add)
    }));
    let at = site("tree_reduce(leaves, picky_add)", "picky_add");
    assert_eq!(
        e,
        format!("task `picky_add[level=1, pos=3]` at {at} panicked: 27 + 31")
    );

    // A one-name pattern whose iteration number is not its value: `z#k`,
    // the k-th value counting from 0.
    let e = message(rt.compute(graph! {
        let mut v = Vec::new();
        for &z in [3i64, 8, 13, 21].iter() {
            v.push(picky(z));
        }
        v
    }));
    let at = site("v.push(picky(z));", "picky");
    assert_eq!(e, format!("task `picky[z#2]` at {at} panicked: unlucky 13"));

    // A pattern that is not one name, and a `while`: `#k`, the k-th
    // iteration.
    let e = message(rt.compute(graph! {
        let mut v = Vec::new();
        for (k, x) in [5i64, 12, 7].iter().enumerate() {
            v.push(picky(*x + k as i64));
        }
        v
    }));
    let at = site("v.push(picky(*x + k as i64));", "picky");
    assert_eq!(e, format!("task `picky[#1]` at {at} panicked: unlucky 13"));
    let e = message(rt.compute(graph! {
        let mut v = Vec::new();
        let mut n = 10;
        while n < 20 {
            v.push(picky(n));
            n += 1;
        }
        v
    }));
    let at = site("v.push(picky(n));", "picky");
    assert_eq!(e, format!("task `picky[#3]` at {at} panicked: unlucky 13"));
}

#[test]
fn the_runtime_keeps_working_after_a_panic() {
    let rt = Runtime::new(2).unwrap();
    for _ in 0..20 {
        assert!(panicking_graph(&rt).is_err());
        let ok = rt
            .compute(graph! {
                let v: Vec<_> = (0..100).map(|i| inc(i)).collect();
                tree_reduce(v, add)
            })
            .unwrap();
        assert_eq!(ok, (1..=100).sum::<i64>());
    }
    // Every thread is still there: four sleeping tasks overlap on 2 threads pairwise.
    assert_eq!(max_overlap(&rt, 2, Duration::from_millis(100)), 2);
}

#[test]
fn empty_tree_reduce_is_an_error_not_a_hang() {
    let rt = Runtime::new(2).unwrap();
    let n = 0;
    let e = rt
        .compute(graph! {
            let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
            tree_reduce(v, add)
        })
        .unwrap_err();
    let Error::EmptyReduce { at } = &e else {
        panic!("unexpected error {e:?}")
    };
    assert_eq!(at.function(), "add");
    assert!(e.to_string().contains("was given an empty vector"), "{e}");
}

static SHARED: OnceLock<Runtime> = OnceLock::new();

#[delayed]
fn nested(x: i64) -> i64 {
    // A task that computes a graph on the runtime it runs on.
    let rt = SHARED.get().unwrap();
    rt.compute(graph! {
        let v: Vec<_> = (0..x).map(|i| inc(i)).collect();
        let w = (0..x).map(|i| add(inc(i), i)).collect();
        (tree_reduce(v, add), tree_reduce(w, add))
    })
    .map(|(a, b)| a + b)
    .unwrap()
}

#[test]
fn tasks_can_compute_graphs_on_the_same_runtime() {
    let rt = SHARED.get_or_init(|| Runtime::new(2).unwrap());
    for _ in 0..20 {
        let got = rt
            .compute(graph! {
                let v: Vec<_> = (1..40).map(|k| nested(k)).collect();
                tree_reduce(v, add)
            })
            .unwrap();
        let inner = |x: i64| (1..=x).sum::<i64>() + (0..x).map(|i| 2 * i + 1).sum::<i64>();
        assert_eq!(got, (1..40).map(inner).sum::<i64>());
    }
}

#[test]
fn runtime_is_send_sync_and_computes_from_several_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Runtime>();
    let rt = Arc::new(Runtime::new(2).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let rt = Arc::clone(&rt);
            std::thread::spawn(move || {
                for k in 0..25 {
                    let n = 50 + t * 10 + k;
                    let got = rt
                        .compute(graph! {
                            let v: Vec<_> = (0..n).map(|i| add(inc(i), i)).collect();
                            tree_reduce(v, add)
                        })
                        .unwrap();
                    assert_eq!(got, (0..n).map(|i| 2 * i + 1).sum::<i64>());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[delayed]
fn nap(log: &Spans, d: Duration) -> u8 {
    sleep_logged(log, d);
    1
}

#[delayed]
fn count(v: Vec<u8>) -> usize {
    v.len()
}

/// Runs `2 * threads` independent sleeping tasks and returns how many were
/// ever running at the same moment.
fn max_overlap(rt: &Runtime, threads: usize, d: Duration) -> usize {
    let log: Spans = Arc::default();
    let n = 2 * threads;
    let log2 = Arc::clone(&log);
    let done = rt
        .compute(graph! {
            let v: Vec<_> = (0..n).map(|_| nap(&log2, d)).collect();
            count(v)
        })
        .unwrap();
    assert_eq!(done, n);
    max_concurrent(&log)
}

#[test]
fn independent_tasks_overlap() {
    let rt = Runtime::new(4).unwrap();
    assert_eq!(max_overlap(&rt, 4, Duration::from_millis(150)), 4);
}

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A large value that counts how many of its kind are alive.
struct Big(Vec<u8>);

impl Clone for Big {
    fn clone(&self) -> Big {
        let live = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(live, Ordering::SeqCst);
        Big(self.0.clone())
    }
}

impl Big {
    fn new(fill: u8) -> Big {
        let live = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(live, Ordering::SeqCst);
        Big(vec![fill; 1 << 16])
    }
}
impl Drop for Big {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[delayed]
fn make(fill: u8) -> Big {
    Big::new(fill)
}
#[delayed]
fn step(b: Big) -> Big {
    Big::new(b.0[0].wrapping_add(1))
}
#[delayed]
fn checksum(b: &Big) -> u64 {
    b.0.iter().map(|&x| x as u64).sum()
}
#[delayed]
fn explode(b: &Big) -> u64 {
    panic!("boom at {}", b.0[0])
}

static MEMORY_TESTS: Mutex<()> = Mutex::new(());

#[test]
fn a_pipeline_of_large_values_keeps_few_alive() {
    let _g = MEMORY_TESTS.lock().unwrap();
    let rt = Runtime::new(2).unwrap();
    PEAK.store(0, Ordering::SeqCst);
    let (sums, last) = rt
        .compute(graph! {
            let mut sums = Vec::new();
            let mut b = make(0);
            for _ in 0..200 {
                b = step(b);
                sums.push(checksum(b));
            }
            (sums, checksum(b))
        })
        .unwrap();
    assert_eq!(sums.len(), 200);
    assert_eq!(sums[9], 10 * (1 << 16));
    assert_eq!(last, 200 * (1 << 16));
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every value was dropped");
    let peak = PEAK.load(Ordering::SeqCst);
    assert!(peak <= 4, "at most a few values alive at once, saw {peak}");
}

#[test]
fn a_failed_run_drops_every_value() {
    let _g = MEMORY_TESTS.lock().unwrap();
    // Under Miri (`.ci/run`) fewer values: each is 64 KiB, filled and summed.
    let n: u8 = if cfg!(miri) { 10 } else { 50 };
    let rt = Runtime::new(2).unwrap();
    let e = rt
        .compute(graph! {
            let bs: Vec<_> = (0..n).map(|i| make(i)).collect();
            let mut sums = Vec::new();
            for k in 0..n {
                sums.push(checksum(make(k)));
            }
            (bs, explode(make(7)), sums)
        })
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::TaskPanicked { .. }));
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

/// Not `Clone`: every value may have only one consumer.
struct Token(u64);

#[delayed]
fn token(x: u64) -> Token {
    Token(x)
}
#[delayed]
fn bump(t: Token, by: u64) -> Token {
    Token(t.0 + by)
}
#[delayed]
fn peek(t: &Token) -> u64 {
    t.0
}
#[delayed]
fn open(t: Token) -> u64 {
    t.0
}

#[test]
fn values_without_clone_flow_through_single_consumers() {
    let rt = Runtime::new(2).unwrap();
    let (a, b, c) = rt
        .compute(graph! {
            let t = token(1);
            let u = bump(t, 10);
            let mut chain = token(0);
            for i in 0..100 {
                chain = bump(chain, i);
            }
            let shared = token(5);
            let p1 = peek(shared);
            let p2 = peek(shared);
            (open(u), open(chain), add_u64(p1, p2))
        })
        .unwrap();
    assert_eq!((a, b, c), (11, (0..100).sum::<u64>(), 10));
}

#[delayed]
fn add_u64(a: u64, b: u64) -> u64 {
    a + b
}

#[test]
fn heavy_tasks_in_a_short_loop_all_overlap() {
    // Two iterations with two independent tasks each, on four threads: all
    // four must run at once, however the scheduler groups light work.
    let rt = Runtime::new(4).unwrap();
    let log: Spans = Arc::default();
    let log2 = Arc::clone(&log);
    let d = Duration::from_millis(150);
    let done = rt
        .compute(graph! {
            let mut v = Vec::new();
            for _ in 0..2 {
                let a = nap(&log2, d);
                let b = nap(&log2, d);
                v.push(a);
                v.push(b);
            }
            count(v)
        })
        .unwrap();
    assert_eq!(done, 4);
    assert_eq!(max_concurrent(&log), 4);
}

#[delayed]
fn total(v: &[i64]) -> i64 {
    v.iter().sum()
}
#[delayed]
fn owned_total(v: Vec<i64>) -> i64 {
    v.iter().map(|x| x * 3).sum()
}

/// Steps whose every task reads the whole step before (by reference, and
/// the last one by value): consecutive tasks gathering the same values share
/// one rule and its group counter, node by node on two threads.
/// A runtime of `threads` threads that runs every loop node by node.
fn node_by_node(threads: usize) -> Runtime {
    Runtime::builder()
        .threads(threads)
        .fuse_loops(false)
        .build()
        .unwrap()
}

#[test]
fn tasks_gathering_the_same_values_each_get_all_of_them() {
    let rt = node_by_node(2);
    let (w, steps) = (4usize, 3);
    let got = rt
        .compute(graph! {
            let mut cur: Vec<_> = (0..w as i64).map(|i| inc(i)).collect();
            for _ in 0..steps {
                let mut next = Vec::new();
                for _ in 0..w - 1 {
                    next.push(total(&cur[..]));
                }
                next.push(owned_total(cur[..].to_vec()));
                cur = next;
            }
            cur
        })
        .unwrap();
    let mut want: Vec<i64> = (1..=w as i64).collect();
    for _ in 0..steps {
        let s: i64 = want.iter().sum();
        want = vec![s; w - 1];
        want.push(3 * s);
    }
    assert_eq!(got, want);
}

/// Values counted alive: made, cloned and dropped (`lent_values_*`).
static LENT_LIVE: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
struct Lendable(i64);

impl Lendable {
    fn new(x: i64) -> Self {
        LENT_LIVE.fetch_add(1, Ordering::SeqCst);
        Lendable(x)
    }
}
impl Clone for Lendable {
    fn clone(&self) -> Self {
        Lendable::new(self.0)
    }
}
impl Drop for Lendable {
    fn drop(&mut self) {
        LENT_LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[delayed]
fn lendable(x: i64) -> Lendable {
    Lendable::new(x)
}
#[delayed]
fn lendable_neg(x: i64) -> Lendable {
    Lendable::new(-x)
}
#[delayed]
fn lent_sum(v: &[Lendable], k: i64) -> Lendable {
    Lendable::new(v.iter().map(|x| x.0 * k).sum())
}
#[delayed]
fn lent_picky(v: &[Lendable], k: i64) -> i64 {
    assert!(k != 3, "picky at {k}");
    v.iter().map(|x| x.0).sum()
}
#[delayed]
fn lent_len(v: &[Lendable]) -> i64 {
    v.len() as i64
}
#[delayed]
fn int_of(x: i64) -> i64 {
    x
}
#[delayed]
fn neg_twice(x: i64) -> i64 {
    -2 * x
}
#[delayed]
fn int_sum(v: &[i64]) -> i64 {
    v.iter().sum()
}

/// A `&[T]` parameter reads a gathered vector where its values lie (one
/// call site's run of values, read by one task or by several), or gathered
/// into a `Vec` (values of two call sites interleaved); results against
/// sequential Rust, every value dropped exactly once, whether the run
/// succeeds or a reader fails, fused or not, on 1, 2 and 4 threads.
#[test]
fn lent_values_are_read_where_they_lie_and_dropped_once() {
    let (w, steps) = (6i64, 4);
    let mut want: Vec<i64> = (0..w).collect();
    for _ in 0..steps {
        let s: i64 = want.iter().sum();
        want = (1..=w).map(|k| s * k).collect();
    }
    let want_sum: i64 = want.iter().sum();
    // Under Miri (`.ci/run`): 1 and 2 threads.
    let threads: &[usize] = if cfg!(miri) { &[1, 2] } else { &[1, 2, 4] };
    for &threads in threads {
        for fuse in [false, true] {
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .build()
                .unwrap();
            let got = rt
                .compute(graph! {
                    // Every task of a step reads the whole step before.
                    let mut cur: Vec<_> = (0..w).map(|i| lendable(i)).collect();
                    for _ in 0..steps {
                        let mut next = Vec::new();
                        for k in 1..=w {
                            next.push(lent_sum(&cur[..], k));
                        }
                        cur = next;
                    }
                    // One reader of a vector: its only use.
                    let once = lent_sum(&cur[..], 1);
                    // Two call sites interleaved: gathered, not lent.
                    let mut both = Vec::new();
                    for i in 0..w {
                        both.push(lendable(i));
                        both.push(lendable_neg(i));
                    }
                    // Scattered values of one call site (an FFT butterfly's
                    // `v[i - s], v[i], v[i + s]`), read by two tasks, and
                    // values of two call sites read by one: gathered into
                    // the thread's reused buffer.
                    let leaves: Vec<_> = (0..w).map(|i| lendable(i)).collect();
                    let mut fly = Vec::new();
                    for i in (0..w as usize).step_by(2) {
                        fly.push(leaves[i]);
                    }
                    let flies = (lent_sum(&fly[..], 1), lent_sum(&fly[..], 2));
                    let mut lone = Vec::new();
                    for i in 0..3 {
                        lone.push(lendable(i));
                        lone.push(lendable_neg(i));
                    }
                    let lone = lent_sum(&lone[..], 1);
                    // Another type of the same size: the buffer passes on.
                    let mut ints = Vec::new();
                    for i in 0..w {
                        ints.push(int_of(i));
                        ints.push(neg_twice(i));
                    }
                    let ints = int_sum(&ints[..]);
                    (
                        (once, lent_sum(&both[..], 1), lent_len(&both[..])),
                        (flies, lone, ints),
                    )
                })
                .unwrap();
            let (got, (flies, lone, ints)) = got;
            assert_eq!(
                (got.0 .0, got.1 .0, got.2),
                (want_sum, 0, 2 * w),
                "{threads} threads, fused {fuse}"
            );
            let evens: i64 = (0..w).step_by(2).sum();
            assert_eq!(
                (flies.0 .0, flies.1 .0, lone.0, ints),
                (evens, 2 * evens, 0, -(0..w).sum::<i64>()),
                "{threads} threads, fused {fuse}"
            );
            drop((flies, lone));
            drop(got);
            assert_eq!(LENT_LIVE.load(Ordering::SeqCst), 0, "{threads} threads");
            let e = rt
                .compute(graph! {
                    let cur: Vec<_> = (0..w).map(|i| lendable(i)).collect();
                    let mut out = Vec::new();
                    for k in 0..w {
                        out.push(lent_picky(&cur[..], k));
                    }
                    out
                })
                .unwrap_err();
            assert!(
                matches!(&e, Error::TaskPanicked { message, .. } if message.contains("picky at 3")),
                "{e}"
            );
            assert_eq!(
                LENT_LIVE.load(Ordering::SeqCst),
                0,
                "{threads} threads, failed"
            );
        }
    }
}

/// One butterfly: the values of `p - s`, `p` and `p + s` (those within
/// `0..w`), weighted by their position.
fn butterfly(v: &[i64], p: usize, s: usize, w: usize) -> i64 {
    let mut want = Vec::new();
    if p >= s {
        want.push(1);
    }
    want.push(3);
    if p + s < w {
        want.push(7);
    }
    assert_eq!(v.len(), want.len(), "point {p}, stride {s}");
    v.iter().zip(want).fold(p as i64, |a, (x, k)| {
        a.wrapping_mul(31).wrapping_add(x.wrapping_mul(k))
    })
}

#[delayed]
fn fly(v: &[i64], p: usize, s: usize, w: usize) -> i64 {
    butterfly(v, p, s, w)
}

/// FFT-like steps node by node: every task gathers a few scattered values
/// of the step before (strided edges, one per position, built from the
/// gathers; values gathered into a reused buffer), against sequential
/// Rust, on 1, 2 and 4 threads, with widths that make both few and many
/// rules (sorted by keys when many).
#[test]
fn butterflies_gather_scattered_values_node_by_node() {
    for (w, steps) in [(4usize, 9usize), (16, 40), (64, 12)] {
        let levels = w.trailing_zeros() as usize;
        let stride = |t: usize| 1usize << (t % levels);
        let mut want: Vec<i64> = (0..w as i64).collect();
        for t in 0..steps {
            let s = stride(t);
            want = (0..w)
                .map(|p| {
                    let mut v = Vec::new();
                    if p >= s {
                        v.push(want[p - s]);
                    }
                    v.push(want[p]);
                    if p + s < w {
                        v.push(want[p + s]);
                    }
                    butterfly(&v, p, s, w)
                })
                .collect();
        }
        for threads in [1, 2, 4] {
            let rt = node_by_node(threads);
            let got = rt
                .compute(graph! {
                    let mut cur: Vec<_> = (0..w).map(|p| int_of(p as i64)).collect();
                    for t in 0..steps {
                        let s = 1usize << (t % levels);
                        let mut next = Vec::new();
                        for p in 0..w {
                            let mut ins = Vec::new();
                            if p >= s {
                                ins.push(cur[p - s]);
                            }
                            ins.push(cur[p]);
                            if p + s < w {
                                ins.push(cur[p + s]);
                            }
                            next.push(fly(&ins[..], p, s, w));
                        }
                        cur = next;
                    }
                    cur
                })
                .unwrap();
            assert_eq!(got, want, "width {w}, {threads} threads");
        }
    }
}

/// What a reader of a whole step computes from it and one more value.
fn mix(v: &[i64], e: i64) -> i64 {
    v.iter().fold(e, |a, &b| {
        (a.wrapping_mul(31).wrapping_add(b)).rem_euclid(1_000_003)
    })
}

#[delayed]
fn mixed(v: &[i64], e: i64) -> i64 {
    mix(v, e)
}

#[delayed]
fn plus_one(x: i64) -> i64 {
    x + 1
}

/// Every task of a step reads the whole step before (one gather rule with
/// a group counter: its readers are made ready together, and those ready
/// at once run as one range of nodes) and one value made from its right
/// neighbour (so some readers are not ready when the group is, which cuts
/// the range), against sequential Rust on 1 to 8 threads, with widths that
/// give families few and many rules.
#[test]
fn readers_of_a_whole_step_made_ready_together_run_node_by_node() {
    for (w, steps) in [(3usize, 20usize), (24, 30)] {
        let mut want: Vec<i64> = (0..w as i64).collect();
        for _ in 0..steps {
            want = (0..w).map(|j| mix(&want, want[(j + 1) % w] + 1)).collect();
        }
        for threads in [1, 2, 3, 8] {
            let rt = node_by_node(threads);
            let got = rt
                .compute(graph! {
                    let mut cur: Vec<_> = (0..w).map(|p| int_of(p as i64)).collect();
                    for _ in 0..steps {
                        let mut next = Vec::new();
                        for j in 0..w {
                            let e = plus_one(cur[(j + 1) % w]);
                            next.push(mixed(&cur[..], e));
                        }
                        cur = next;
                    }
                    cur
                })
                .unwrap();
            assert_eq!(got, want, "width {w}, {threads} threads");
        }
    }
}

/// Every value the grouped-readers test makes (by a task or a clone), by
/// number: how many times it was dropped.
static LEDGER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// A value whose drops are counted in `LEDGER`.
struct Ledgered {
    v: i64,
    id: usize,
}

impl Ledgered {
    fn new(v: i64) -> Self {
        let mut l = LEDGER.lock().unwrap();
        l.push(0);
        Ledgered { v, id: l.len() - 1 }
    }
}
impl Clone for Ledgered {
    fn clone(&self) -> Self {
        Ledgered::new(self.v)
    }
}
impl Drop for Ledgered {
    fn drop(&mut self) {
        LEDGER.lock().unwrap()[self.id] += 1;
        // A value read after its drop reads this (and the results differ).
        // SAFETY: `self.v` is a valid, aligned `i64` of this value.
        unsafe { std::ptr::write_volatile(&mut self.v, i64::MIN) };
    }
}

fn values(v: &[Ledgered]) -> Vec<i64> {
    v.iter().map(|x| x.v).collect()
}
#[delayed]
fn ledgered(x: i64) -> Ledgered {
    Ledgered::new(x)
}
#[delayed]
fn led_mix(v: &[Ledgered], e: i64) -> Ledgered {
    Ledgered::new(mix(&values(v), e))
}
#[delayed]
fn led_owned(v: Vec<Ledgered>, e: i64) -> Ledgered {
    Ledgered::new(mix(&values(&v), e + 1))
}
#[delayed]
fn led_twice(a: &[Ledgered], b: &[Ledgered], e: i64) -> Ledgered {
    Ledgered::new((mix(&values(a), e) + mix(&values(b), e + 2)) % 1_000_003)
}
#[delayed]
fn led_with(v: &[Ledgered], x: &Ledgered) -> Ledgered {
    Ledgered::new(mix(&values(v), x.v + 3))
}

/// Many tasks reading the whole step before, each borrowing it (`&[T]`),
/// taking it by value (`Vec<T>`, cloned), reading it twice, or reading it
/// and one of its values besides: their uses are released once a group of
/// readers for the whole range where they can be, else one a value. Every
/// value made (or cloned) is dropped exactly once, and the results equal
/// sequential Rust's, on 1, 2, 3 and 8 threads, with widths below and above
/// the least gather that is read in groups. Odd steps read a vector of
/// four call sites' values (several pieces).
#[test]
fn grouped_readers_drop_every_value_once() {
    // Under Miri (`.ci/run`): one small width, 1 and 2 threads.
    let (cases, threads): (&[(usize, usize)], &[usize]) = if cfg!(miri) {
        (&[(8, 3)], &[1, 2])
    } else {
        (&[(8, 6), (32, 8), (44, 5)], &[1, 2, 3, 8])
    };
    for &(w, steps) in cases {
        let q = w / 4;
        let mut want: Vec<i64> = (0..w as i64).collect();
        for t in 0..steps {
            let cur = &want;
            want = if t % 2 == 0 {
                let mut next = Vec::new();
                next.extend((0..q).map(|j| mix(cur, j as i64)));
                next.extend((0..q).map(|j| mix(cur, j as i64 + 1)));
                next.extend(
                    (0..q).map(|j| (mix(cur, j as i64) + mix(cur, j as i64 + 2)) % 1_000_003),
                );
                next.extend((0..w - 3 * q).map(|j| mix(cur, cur[j] + 3)));
                next
            } else {
                (0..w).map(|j| mix(cur, j as i64)).collect()
            };
        }
        for &threads in threads {
            LEDGER.lock().unwrap().clear();
            let rt = node_by_node(threads);
            let got = rt
                .compute(graph! {
                    let mut cur: Vec<_> = (0..w).map(|p| ledgered(p as i64)).collect();
                    for t in 0..steps {
                        let mut next = Vec::new();
                        if t % 2 == 0 {
                            for j in 0..q {
                                next.push(led_mix(&cur[..], j as i64));
                            }
                            for j in 0..q {
                                next.push(led_owned(cur[..].to_vec(), j as i64));
                            }
                            for j in 0..q {
                                next.push(led_twice(&cur[..], &cur[..], j as i64));
                            }
                            for j in 0..w - 3 * q {
                                next.push(led_with(&cur[..], &cur[j]));
                            }
                        } else {
                            for j in 0..w {
                                next.push(led_mix(&cur[..], j as i64));
                            }
                        }
                        cur = next;
                    }
                    cur
                })
                .unwrap();
            assert_eq!(values(&got), want, "width {w}, {threads} threads");
            drop(got);
            drop(rt);
            let l = LEDGER.lock().unwrap();
            assert!(l.len() > w * steps, "width {w}: {} values", l.len());
            for (id, &n) in l.iter().enumerate() {
                assert_eq!(
                    n, 1,
                    "value {id} dropped {n} times (width {w}, {threads} threads)"
                );
            }
        }
    }
}

/// A task argument that borrows a plain value.
#[derive(Clone)]
struct Words<'a>(&'a Line);

/// A plain value of the graph's body; marks itself dropped.
struct Line(String, Arc<AtomicUsize>);

impl Drop for Line {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts the words of the line, and whether it was already dropped.
#[delayed]
fn words(w: Words<'_>, dropped: Arc<AtomicUsize>) -> (usize, usize) {
    (
        w.0 .0.split_whitespace().count(),
        dropped.load(Ordering::SeqCst),
    )
}

/// A plain value declared in the graph's body lives until its run ends
/// (computed or spawned), so tasks may borrow it through their arguments;
/// a loop's own locals may not (`tests/ui/borrow_local_dropped_before_run.rs`).
#[test]
fn tasks_borrow_plain_values_of_the_graphs_body() {
    for threads in [1, 3] {
        let rt = Runtime::new(threads).unwrap();
        for spawned in [false, true] {
            let dropped = Arc::new(AtomicUsize::new(0));
            let d = dropped.clone();
            let g = graph! {
                let line = Line("a graph borrows its body's values".to_string(), d.clone());
                let mut counts = Vec::new();
                for _ in 0..4 {
                    counts.push(words(Words(&line), d.clone()));
                }
                counts
            };
            let got = if spawned {
                rt.spawn(g).wait()
            } else {
                rt.compute(g)
            };
            assert_eq!(got.unwrap(), vec![(6, 0); 4], "{threads} threads");
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                1,
                "dropped once, after the run"
            );
        }
    }
}
