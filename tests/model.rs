//! The one execution model: loops run fused wherever they sit in a graph
//! (tasks before and after them, other loops beside them, nested loops),
//! with the same values, reduction trees and errors as node by node, and
//! every graph shares one pool of threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use taskdag::{delayed, graph, Error, Runtime};

mod common;
use common::{max_concurrent, sleep_logged, Spans};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn dec(x: i64) -> i64 {
    x - 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
#[delayed]
fn sum(v: &[i64]) -> i64 {
    v.iter().sum()
}
#[delayed]
fn leaf(r: u32, c: u32) -> String {
    format!("{r}.{c}")
}
/// Shows the tree's shape: not associative.
#[delayed]
fn pair(a: String, b: String) -> String {
    format!("({a} {b})")
}
#[delayed]
fn fragile(i: i64) -> i64 {
    if i == 37 {
        panic!("no 37");
    }
    i
}

/// Fused and node-by-node runtimes of every size the tests use.
fn runtimes() -> &'static [(usize, bool, Runtime)] {
    static RTS: OnceLock<Vec<(usize, bool, Runtime)>> = OnceLock::new();
    RTS.get_or_init(|| {
        let mut v = Vec::new();
        for threads in [1, 2, 4, 8] {
            for fuse in [true, false] {
                let rt = Runtime::builder()
                    .threads(threads)
                    .fuse_loops(fuse)
                    .build()
                    .unwrap();
                v.push((threads, fuse, rt));
            }
        }
        v
    })
}

/// The pairwise tree of `tree_reduce`, level by level, sequentially.
fn pairwise(mut v: Vec<String>) -> String {
    while v.len() > 1 {
        let mut next = Vec::new();
        let mut it = v.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => format!("({a} {b})"),
                None => a,
            });
        }
        v = next;
    }
    v.pop().unwrap()
}

#[test]
fn tasks_before_and_after_a_loop() {
    for (threads, fuse, rt) in runtimes() {
        for n in [0i64, 1, 2, 7, 100, 1000] {
            let got = rt.compute(graph! {
                let k = inc(0);
                let mut zs = Vec::new();
                for i in 0..n {
                    let x = inc(i);
                    let y = dec(x);
                    let z = add(x, y);
                    zs.push(z);
                }
                let t = tree_reduce(zs, add);
                add(t, k)
            });
            if n == 0 {
                assert!(matches!(got, Err(Error::EmptyReduce { .. })), "{got:?}");
                continue;
            }
            let want = (0..n).map(|i| 2 * i + 1).sum::<i64>() + 1;
            assert_eq!(got.unwrap(), want, "n {n}, {threads} threads, fused {fuse}");
        }
    }
}

#[test]
fn two_loops_joined_and_a_loop_read_twice() {
    for (threads, fuse, rt) in runtimes() {
        let n = 500i64;
        let (joined, gathered, reduced) = rt
            .compute(graph! {
                let a: Vec<_> = (0..n).map(|i| inc(i)).collect();
                let b: Vec<_> = (0..n).map(|i| dec(inc(i))).collect();
                let ws: Vec<_> = (0..n).map(|i| add(inc(i), 0)).collect();
                (add(tree_reduce(a, add), tree_reduce(b, add)), sum(ws), tree_reduce(ws, add))
            })
            .unwrap();
        let s: i64 = (0..n).sum();
        assert_eq!(joined, (s + n) + s, "{threads} threads, fused {fuse}");
        assert_eq!((gathered, reduced), (s + n, s + n));
    }
}

#[test]
fn a_nested_loop_feeds_the_exact_reduction_tree() {
    for (threads, fuse, rt) in runtimes() {
        for (rows, cols) in [(1u32, 1u32), (3, 5), (8, 8), (13, 7)] {
            let got = rt
                .compute(graph! {
                    let mut v = Vec::new();
                    for r in 0..rows {
                        for c in 0..cols {
                            v.push(leaf(r, c));
                        }
                    }
                    tree_reduce(v, pair)
                })
                .unwrap();
            let want = pairwise(
                (0..rows)
                    .flat_map(|r| (0..cols).map(move |c| format!("{r}.{c}")))
                    .collect(),
            );
            assert_eq!(got, want, "{rows}x{cols}, {threads} threads, fused {fuse}");
        }
    }
}

#[delayed]
fn start(x: i64) -> i64 {
    x * 3
}
#[delayed]
fn step(s: i64, i: i64) -> i64 {
    s.wrapping_mul(31).wrapping_add(i)
}
#[delayed]
fn scale(x: i64, w: &i64) -> i64 {
    x * w
}

#[test]
fn a_chain_and_a_loop_reading_an_earlier_value() {
    for (threads, fuse, rt) in runtimes() {
        let n = 300i64;
        let (s, v) = rt
            .compute(graph! {
                let k = inc(4);
                let mut s = start(k);
                for i in 0..n {
                    s = step(s, i);
                }
                let w = inc(1);
                let v: Vec<_> = (0..n).step_by(3).map(|i| scale(inc(i), w)).collect();
                (add(s, 1), sum(v))
            })
            .unwrap();
        let want_s = (0..n).fold(15i64, |s, i| s.wrapping_mul(31).wrapping_add(i)) + 1;
        let want_v: i64 = (0..n).step_by(3).map(|i| (i + 1) * 2).sum();
        assert_eq!((s, v), (want_s, want_v), "{threads} threads, fused {fuse}");
    }
}

#[test]
fn errors_name_the_same_task_either_way() {
    let mut seen = Vec::new();
    for (_, _, rt) in runtimes() {
        let e = rt
            .compute(graph! {
                let k = inc(0);
                let v: Vec<_> = (0..100).map(|i| inc(fragile(i))).collect();
                add(tree_reduce(v, add), k)
            })
            .unwrap_err();
        let Error::TaskPanicked { task, message, .. } = &e else {
            panic!("unexpected error {e:?}")
        };
        assert_eq!(
            (task.function(), &task.indices[..], &message[..]),
            ("fragile", &[37][..], "no 37")
        );
        seen.push(e.to_string());
        // The runtime keeps working.
        let ok = rt.compute(graph! {
            let v: Vec<_> = (0..10).map(|i| fragile(i)).collect();
            tree_reduce(v, add)
        });
        assert_eq!(ok.unwrap(), 45);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

static CLONES: AtomicUsize = AtomicUsize::new(0);

/// Counts its clones.
struct Data(Vec<u8>);
impl Clone for Data {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, Ordering::SeqCst);
        Data(self.0.clone())
    }
}
/// Not `Clone` at all.
struct Summary(usize);

#[delayed]
fn load(i: u64) -> Data {
    Data(vec![i as u8; 1000])
}
#[delayed]
fn clean(d: Data) -> Data {
    Data(d.0.into_iter().map(|b| b / 2).collect())
}
#[delayed]
fn summarize(d: Data) -> Summary {
    Summary(d.0.iter().map(|&b| b as usize).sum())
}
#[delayed]
fn count(v: Vec<Summary>) -> usize {
    v.iter().map(|s| s.0).sum()
}

/// Values with one consumer move, however deep the call is nested and
/// whichever way the loop runs; a type that is not `Clone` compiles.
#[test]
fn nested_calls_move_their_values() {
    for (threads, fuse, rt) in runtimes() {
        CLONES.store(0, Ordering::SeqCst);
        let n = 100u64;
        let total = rt
            .compute(graph! {
                let v: Vec<_> = (0..n).map(|i| summarize(clean(load(i)))).collect();
                count(v)
            })
            .unwrap();
        assert_eq!(total, (0..100usize).map(|i| (i / 2) * 1000).sum::<usize>());
        assert_eq!(
            CLONES.load(Ordering::SeqCst),
            0,
            "{threads} threads, fused {fuse}"
        );
    }
}

#[delayed]
fn nap(log: &Spans, i: u32) -> u32 {
    sleep_logged(log, Duration::from_millis(100));
    i
}
#[delayed]
fn plus(a: u32, b: u32) -> u32 {
    a + b
}

/// A fused loop next to other work still spreads heavy tasks over every
/// thread.
#[test]
fn a_fused_loop_among_other_tasks_uses_every_thread() {
    let rt = Runtime::new(4).unwrap();
    let log: Spans = Arc::default();
    let l = Arc::clone(&log);
    let total = rt
        .compute(graph! {
            let a = nap(&l, 100);
            let v: Vec<_> = (0..8).map(|i| nap(&l, i)).collect();
            let b = nap(&l, 200);
            plus(plus(tree_reduce(v, plus), a), b)
        })
        .unwrap();
    assert_eq!(total, 28 + 300);
    assert_eq!(max_concurrent(&log), 4);
}

/// A panic in plain code that runs inside a fused loop is the caller's
/// panic, as it is when the loop runs node by node (then it happens while
/// the graph is instantiated).
#[test]
fn a_panic_in_plain_loop_code_reaches_the_caller() {
    for (threads, fuse, rt) in runtimes() {
        let n = 10usize;
        let table = [1i64; 5];
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.compute(graph! {
                let v: Vec<_> = (0..n).map(|i| { let x = table[i]; inc(x) }).collect();
                sum(v)
            })
        }));
        assert!(r.is_err(), "{threads} threads, fused {fuse}");
        // And the runtime keeps working.
        assert_eq!(rt.compute(graph! { inc(1) }).unwrap(), 2);
    }
}

#[delayed]
fn wait_for(rx: &Arc<std::sync::Mutex<mpsc::Receiver<i64>>>) -> i64 {
    // The wait lends the task's place among the runtime's running tasks.
    taskdag::blocking(|| {
        rx.lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30))
            .expect("the other graph never finished")
    })
}

/// Every task of one graph blocks until another thread's graph is computed:
/// that graph still runs (the blocked tasks lend their tokens through
/// `taskdag::blocking`, and its caller takes one), so neither starves.
#[test]
fn tasks_waiting_for_another_compute_do_not_starve_it() {
    let rt = Arc::new(Runtime::new(2).unwrap());
    let (tx, rx) = mpsc::channel();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let rt2 = Arc::clone(&rt);
    let blocked = std::thread::spawn(move || {
        let (a, b) = (Arc::clone(&rx), Arc::clone(&rx));
        rt2.compute(graph! {
            let x = wait_for(&a);
            let y = wait_for(&b);
            add(x, y)
        })
    });
    std::thread::sleep(Duration::from_millis(100));
    for k in 0..2 {
        let v = rt
            .compute(graph! {
                let v: Vec<_> = (0..50).map(|i| add(inc(i), dec(i))).collect();
                sum(v)
            })
            .unwrap();
        tx.send(v + k).unwrap();
    }
    let got = blocked.join().unwrap().unwrap();
    let one: i64 = (0..50).map(|i| 2 * i).sum();
    assert_eq!(got, 2 * one + 1);
}

/// Several threads compute at once, graphs of both kinds nested in tasks.
#[test]
fn many_callers_share_the_pool() {
    static RT: OnceLock<Runtime> = OnceLock::new();
    #[delayed]
    fn inner(n: i64) -> i64 {
        RT.get()
            .unwrap()
            .compute(graph! {
                let k = inc(0);
                let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
                add(tree_reduce(v, add), k)
            })
            .unwrap()
    }
    let rt = RT.get_or_init(|| Runtime::new(3).unwrap());
    let callers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for round in 1..40i64 {
                    let n = round + t;
                    let got = rt
                        .compute(graph! {
                            let v: Vec<_> = (1..=n).map(|k| inner(k)).collect();
                            sum(v)
                        })
                        .unwrap();
                    let want: i64 = (1..=n).map(|k| (1..=k).sum::<i64>() + 1).sum();
                    assert_eq!(got, want);
                }
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
}
