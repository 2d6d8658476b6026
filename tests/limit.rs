//! At most `n` tasks run at once on `Runtime::new(n)`, however many threads
//! call `compute`, however many graphs are spawned, and across nested
//! computes; tasks that wait for another graph (through `compute`,
//! `Handle::wait` or `taskdag::blocking`) lend their place and still
//! finish. Each task counts itself in a high-water mark while it sleeps a
//! few milliseconds; results are checked.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use taskdag::{delayed, graph, Handle, Runtime};

#[path = "common/meter.rs"]
mod meter;
use meter::{nap, sum, Meter};

fn naps(rt: &Runtime, m: &Arc<Meter>, lo: u64, n: u64) -> u64 {
    rt.compute(graph! {
        let v: Vec<_> = (lo..lo + n).map(|i| nap(m, i)).collect();
        sum(v)
    })
    .unwrap()
}

fn want(lo: u64, n: u64) -> u64 {
    (lo..lo + n).map(|i| i * 2).sum()
}

#[test]
fn callers_never_run_more_than_n_tasks() {
    for threads in 1..=3 {
        for callers in [1u64, 2, 4, 8] {
            let rt = Runtime::new(threads).unwrap();
            let m = Arc::new(Meter::default());
            std::thread::scope(|s| {
                for c in 0..callers {
                    let (rt, m) = (&rt, &m);
                    s.spawn(move || {
                        for round in 0..2 {
                            let lo = c * 100 + round * 10;
                            assert_eq!(naps(rt, m, lo, 8), want(lo, 8));
                        }
                    });
                }
            });
            assert!(
                m.max() <= threads,
                "{callers} callers on {threads} threads ran {} tasks at once",
                m.max()
            );
        }
    }
}

#[test]
fn spawned_graphs_never_run_more_than_n_tasks() {
    for threads in 1..=3 {
        let rt = Runtime::new(threads).unwrap();
        let m = Arc::new(Meter::default());
        let handles: Vec<(u64, Handle<u64>)> = (0..6u64)
            .map(|g| {
                let m = Arc::clone(&m);
                let lo = g * 100;
                let h = rt.spawn(graph! {
                    let v: Vec<_> = (lo..lo + 8).map(|i| nap(&m, i)).collect();
                    sum(v)
                });
                (lo, h)
            })
            .collect();
        // A caller at the same time.
        assert_eq!(naps(&rt, &m, 1000, 8), want(1000, 8));
        for (lo, h) in handles {
            assert_eq!(h.wait().unwrap(), want(lo, 8));
        }
        assert!(
            m.max() <= threads,
            "{threads} threads ran {} tasks at once",
            m.max()
        );
    }
}

/// A task that computes a graph on the same runtime: it counts as running
/// before and after, not while it waits (it lends its place then).
#[delayed]
fn outer(rt: &Arc<Runtime>, m: &Arc<Meter>, i: u64) -> u64 {
    m.enter();
    std::thread::sleep(Duration::from_millis(1));
    m.leave();
    let inner = naps(rt, m, i * 10, 4);
    m.enter();
    std::thread::sleep(Duration::from_millis(1));
    m.leave();
    inner
}

#[test]
fn nested_computes_count_against_the_limit() {
    for threads in 1..=3 {
        let rt = Arc::new(Runtime::new(threads).unwrap());
        let m = Arc::new(Meter::default());
        std::thread::scope(|s| {
            for c in 0..3u64 {
                let (rt, m) = (&rt, &m);
                s.spawn(move || {
                    let got = rt
                        .compute(graph! {
                            let v: Vec<_> = (c * 4..c * 4 + 4).map(|i| outer(rt, m, i)).collect();
                            sum(v)
                        })
                        .unwrap();
                    let w: u64 = (c * 4..c * 4 + 4).map(|i| want(i * 10, 4)).sum();
                    assert_eq!(got, w);
                });
            }
        });
        assert!(
            m.max() <= threads,
            "{threads} threads ran {} tasks at once",
            m.max()
        );
    }
}

/// A task waits for a value another thread sends after its own compute:
/// `taskdag::blocking` lends the task's place, so that compute runs even
/// on a pool of one thread.
#[delayed]
fn recv(rx: &Mutex<mpsc::Receiver<u64>>) -> u64 {
    taskdag::blocking(|| {
        rx.lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20))
            .expect("the other graph never ran")
    })
}

#[test]
fn a_task_blocked_on_another_callers_graph_lets_it_run() {
    for threads in 1..=2 {
        let rt = Runtime::new(threads).unwrap();
        let m = Arc::new(Meter::default());
        let (tx, rx) = mpsc::channel();
        let rx = Mutex::new(rx);
        std::thread::scope(|s| {
            let (rt2, rx) = (&rt, &rx);
            let blocked = s.spawn(move || {
                rt2.compute(graph! {
                    let v: Vec<_> = (0..threads as u64).map(|_| recv(rx)).collect();
                    sum(v)
                })
                .unwrap()
            });
            std::thread::sleep(Duration::from_millis(20));
            let mut sent = 0;
            for k in 0..threads as u64 {
                let v = naps(&rt, &m, k * 10, 6);
                sent += v;
                tx.send(v).unwrap();
            }
            assert_eq!(blocked.join().unwrap(), sent);
        });
        assert!(m.max() <= threads);
    }
}

/// A task spawns a graph on its own runtime and waits for its handle.
#[delayed]
fn spawn_and_wait(rt: &Arc<Runtime>, m: &Arc<Meter>, i: u64) -> u64 {
    let m = Arc::clone(m);
    let h = rt.spawn(graph! {
        let v: Vec<_> = (i..i + 4).map(|k| nap(&m, k)).collect();
        sum(v)
    });
    h.wait().unwrap()
}

#[test]
fn handle_wait_inside_a_task_on_one_thread() {
    for threads in 1..=2 {
        let rt = Arc::new(Runtime::new(threads).unwrap());
        let m = Arc::new(Meter::default());
        let (r, mm) = (&rt, &m);
        let got = rt
            .compute(graph! {
                let v: Vec<_> = (0..3u64).map(|i| spawn_and_wait(r, mm, i * 10)).collect();
                sum(v)
            })
            .unwrap();
        assert_eq!(got, (0..3u64).map(|i| want(i * 10, 4)).sum::<u64>());
        assert!(m.max() <= threads);
    }
}

/// A task of runtime `a` computes on runtime `b` a graph that waits for a
/// graph spawned on `a`: `a`'s only place is lent while the task waits.
#[delayed]
fn across(a: &Arc<Runtime>, b: &Arc<Runtime>, m: &Arc<Meter>, i: u64) -> u64 {
    let m2 = Arc::clone(m);
    let h = a.spawn(graph! {
        let v: Vec<_> = (i..i + 3).map(|k| nap(&m2, k)).collect();
        sum(v)
    });
    let cell = Mutex::new(Some(h));
    // A graph captures copies of what it names: a reference to the cell.
    let cell = &cell;
    b.compute(graph! { take_wait(cell) }).unwrap()
}

#[delayed]
fn take_wait(cell: &Mutex<Option<Handle<u64>>>) -> u64 {
    let h = cell.lock().unwrap().take().unwrap();
    h.wait().unwrap()
}

#[test]
fn a_task_computing_on_another_runtime_lends_its_place() {
    let a = Arc::new(Runtime::new(1).unwrap());
    let b = Arc::new(Runtime::new(1).unwrap());
    let m = Arc::new(Meter::default());
    let (ra, rb, mm) = (&a, &b, &m);
    let got = a
        .compute(graph! {
            let v: Vec<_> = (0..2u64).map(|i| across(ra, rb, mm, i * 10)).collect();
            sum(v)
        })
        .unwrap();
    assert_eq!(got, want(0, 3) + want(10, 3));
    assert!(m.max() <= 1);
}
