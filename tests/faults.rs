//! Fault injection: random graphs whose tasks panic or return `Err` at
//! random places and times, on 1 to 8 threads, fused and node by node, some
//! runs cancelled while they run. Every run returns the sequential result
//! or the error of one of the tasks made to fail (or `Cancelled`); every
//! value made is dropped exactly once (a type counts its live values); the
//! runtime stays usable. `tests/stress.rs` runs many of these at once.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use taskdag::{delayed, graph, Error, Handle, Runtime};

#[path = "common/faults.rs"]
mod plan;
use plan::{check, faulty_graph, quiet_injected_panics, sequential, How, Plan, Site};

fn runtime(threads: usize, fuse: bool) -> &'static Runtime {
    static RTS: OnceLock<Vec<Runtime>> = OnceLock::new();
    let rts = RTS.get_or_init(|| {
        (1..=8)
            .flat_map(|t| {
                [true, false].map(|f| Runtime::builder().threads(t).fuse_loops(f).build().unwrap())
            })
            .collect()
    });
    &rts[(threads - 1) * 2 + usize::from(!fuse)]
}

fn fault() -> impl Strategy<Value = (Site, u64, How)> {
    (
        prop_oneof![
            Just(Site::Leaf),
            Just(Site::Step),
            Just(Site::Chain),
            Just(Site::Total),
            Just(Site::Combine),
        ],
        0u64..40,
        prop_oneof![Just(How::Panic), Just(How::Err)],
    )
        .prop_map(|(site, i, how)| match site {
            // The gather is one task; a combine's fault is a panic.
            Site::Total => (site, 0, how),
            Site::Combine => (site, i, How::Panic),
            _ => (site, i, how),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn faults_give_one_planned_error_and_lose_nothing(
        n in 1u64..40,
        m in 0u64..40,
        threads in 1usize..=8,
        fuse in any::<bool>(),
        faults in prop::collection::vec(fault(), 0..4),
        nap_permille in prop_oneof![Just(0u64), 0u64..300],
        cancel_after in prop_oneof![Just(None), (0usize..60).prop_map(Some)],
        seed in any::<u64>(),
    ) {
        quiet_injected_panics();
        // Faults only where the graph has tasks.
        let faults: Vec<_> = faults
            .into_iter()
            .filter(|&(s, i, _)| match s {
                Site::Leaf | Site::Step => i < n,
                Site::Chain => i < m,
                Site::Total => true,
                // A combine runs only with two leaves or more.
                Site::Combine => i < n && n > 1,
            })
            .collect();
        let live = Arc::new(AtomicI64::new(0));
        let plan = Arc::new(Plan {
            faults,
            nap_permille,
            seed,
            started: AtomicUsize::new(0),
            live: Arc::clone(&live),
        });
        let rt = runtime(threads, fuse);
        let g = faulty_graph(n, m, Arc::clone(&plan));
        let r = match cancel_after {
            None => rt.compute(g),
            Some(k) => {
                let h: Handle<_> = rt.spawn(g);
                while plan.started.load(Ordering::SeqCst) < k && !h.is_finished() {
                    std::thread::yield_now();
                }
                h.cancel();
                h.wait()
            }
        };
        check(&r, &plan, n, m, cancel_after.is_some());
        drop(r);
        prop_assert_eq!(live.load(Ordering::SeqCst), 0, "a value leaked or was dropped twice");
        // The runtime is still whole.
        let ok = Arc::new(Plan {
            faults: Vec::new(),
            nap_permille: 0,
            seed,
            started: AtomicUsize::new(0),
            live: Arc::clone(&live),
        });
        prop_assert_eq!(rt.compute(faulty_graph(3, 2, ok)).unwrap(), sequential(3, 2));
        prop_assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}

// ---------------------------------------------------------------------------
// Values whose `Drop` panics, dropped by the runtime.

/// Counts drops; panics in `Drop` when told to.
struct Fragile {
    id: u32,
    panics: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Fragile {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("injected panic in the drop of {}", self.id);
        }
    }
}

#[delayed]
fn fragile(id: u32, panics: bool, made: &Arc<AtomicUsize>, drops: &Arc<AtomicUsize>) -> Fragile {
    made.fetch_add(1, Ordering::SeqCst);
    Fragile {
        id,
        panics,
        drops: Arc::clone(drops),
    }
}
#[delayed]
fn boom(_after: u32) -> u32 {
    panic!("injected panic boom")
}
#[delayed]
fn hold(f: &Fragile, x: u32) -> u32 {
    f.id + x
}
#[delayed]
fn peek(f: &Fragile) -> u32 {
    f.id
}
#[delayed]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

/// Values alive when another task fails are dropped by the teardown; their
/// `Drop`s that panic are caught, counted, and every value is still
/// dropped exactly once.
#[test]
fn panicking_drops_in_the_teardown_are_counted_and_nothing_is_lost() {
    quiet_injected_panics();
    for fuse in [true, false] {
        for threads in [1, 3] {
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .thread_name("faultpool")
                .build()
                .unwrap();
            let (made, drops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let (m, d) = (Arc::clone(&made), Arc::clone(&drops));
            let e = rt
                .compute(graph! {
                    let mut seen = Vec::new();
                    let mut v = Vec::new();
                    for i in 0..8u32 {
                        let f = fragile(i, i % 2 == 0, &m, &d);
                        seen.push(peek(&f));
                        v.push(f);
                    }
                    // `boom` fails once every value was made, while they
                    // still wait for `hold`.
                    let b = boom(tree_reduce(seen, add));
                    let mut held = Vec::new();
                    for i in 0..8 {
                        held.push(hold(&v[i], b));
                    }
                    tree_reduce(held, add)
                })
                .unwrap_err();
            let Error::TaskPanicked {
                task,
                message,
                others,
                ..
            } = &e
            else {
                panic!("{e}")
            };
            assert_eq!(
                (task.function(), message.as_str()),
                ("boom", "injected panic boom")
            );
            // The four values whose drop panicked, all made before `boom`
            // failed and dropped in the teardown.
            assert_eq!(*others, 4, "{e}");
            assert_eq!(made.load(Ordering::SeqCst), 8);
            assert_eq!(drops.load(Ordering::SeqCst), 8);
            let (m, d) = (Arc::clone(&made), Arc::clone(&drops));
            assert_eq!(
                rt.compute(graph! { peek(fragile(9, false, &m, &d)) })
                    .unwrap(),
                9
            );
            assert_eq!(drops.load(Ordering::SeqCst), 9);
            // No thread of the pool was lost to the panics (each names
            // itself when it starts, so wait for the names).
            #[cfg(target_os = "linux")]
            {
                let start = std::time::Instant::now();
                while threads_named("faultpool") != threads {
                    assert!(
                        start.elapsed() < std::time::Duration::from_secs(30),
                        "{} pool threads, not {threads}",
                        threads_named("faultpool")
                    );
                    std::thread::yield_now();
                }
            }
            drop(rt);
        }
    }
}

/// The threads of this process whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// A value whose `Drop` panics when its last reader releases it fails the
/// run as a failure of that reader; it is dropped once.
#[test]
fn a_panicking_drop_after_the_last_read_fails_the_reader() {
    quiet_injected_panics();
    for fuse in [true, false] {
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .build()
            .unwrap();
        let (made, drops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (m, d) = (Arc::clone(&made), Arc::clone(&drops));
        let e = rt
            .compute(graph! {
                let f = fragile(1, true, &m, &d);
                peek(&f)
            })
            .unwrap_err();
        let Error::TaskPanicked { task, message, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(task.function(), "peek");
        assert_eq!(message, "injected panic in the drop of 1");
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
