//! Stress: many graphs, small and large, with failing tasks sprinkled in, on
//! more threads than cores, from several threads at once. Every run must end
//! (no hang), succeed or fail as expected, and give the sequential result.

use std::sync::Arc;

use taskdag::{delayed, graph, Error, Runtime};

#[delayed]
fn leaf(i: u64, fail_at: u64) -> u64 {
    if i == fail_at {
        panic!("leaf {i} fails");
    }
    i * 3 + 1
}
#[delayed]
fn pair(a: u64, b: u64) -> u64 {
    a.wrapping_mul(7).wrapping_add(b)
}
#[delayed]
fn gather(v: &[u64]) -> u64 {
    v.iter().sum()
}

fn expected(n: u64) -> u64 {
    (0..n)
        .map(|i| i * 3 + 1)
        .map(|x| x.wrapping_mul(7).wrapping_add(x))
        .sum()
}

#[test]
fn many_graphs_from_many_threads() {
    // The failing leaves are expected: keep their panic messages out of the log.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let expected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("leaf "));
        if !expected {
            default(info);
        }
    }));
    let rt = Arc::new(Runtime::new(6).unwrap());
    let callers: Vec<_> = (0..3u64)
        .map(|t| {
            let rt = Arc::clone(&rt);
            std::thread::spawn(move || {
                let mut x = t + 1;
                for round in 0..60u64 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let n = 1 + (x >> 33) % 300;
                    // One run in four has a failing leaf.
                    let fail_at = if round % 4 == 0 {
                        (x >> 13) % n
                    } else {
                        u64::MAX
                    };
                    let got = rt.compute(graph! {
                        let mut v = Vec::new();
                        for i in 0..n {
                            let a = leaf(i, fail_at);
                            v.push(pair(a, a));
                        }
                        gather(v)
                    });
                    match got {
                        Ok(sum) => {
                            assert_eq!(fail_at, u64::MAX);
                            assert_eq!(sum, expected(n));
                        }
                        Err(Error::TaskPanicked { task, message, .. }) => {
                            assert_eq!(task.function(), "leaf");
                            assert_eq!(task.indices, vec![fail_at as u32]);
                            assert_eq!(message, format!("leaf {fail_at} fails"));
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
}

#[path = "common/faults.rs"]
mod plan;

/// Ten thousand small graphs with faults and cancellations, computed and
/// spawned from four threads at once on two runtimes (fused and node by
/// node), several in flight per thread: each gives its sequential result or
/// a planned error, no value is leaked or dropped twice, and both runtimes
/// still work afterwards.
#[test]
fn ten_thousand_graphs_with_faults_and_cancellations() {
    use plan::{check, faulty_graph, quiet_injected_panics, sequential, How, Plan, Site};
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
    quiet_injected_panics();
    let rts = Arc::new([
        Runtime::builder().threads(4).build().unwrap(),
        Runtime::builder()
            .threads(3)
            .fuse_loops(false)
            .build()
            .unwrap(),
    ]);
    let live = Arc::new(AtomicI64::new(0));
    const PER_THREAD: u64 = 2500;
    let callers: Vec<_> = (0..4u64)
        .map(|t| {
            let (rts, live) = (Arc::clone(&rts), Arc::clone(&live));
            std::thread::spawn(move || {
                let mut x = 0x2545_F491_4F6C_DD1D ^ (t + 1);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let mut in_flight = Vec::new();
                let mut outcomes = [0usize; 2];
                for k in 0..PER_THREAD {
                    let (n, m) = (1 + next() % 12, next() % 12);
                    let mut faults = Vec::new();
                    if next() % 4 == 0 {
                        let site =
                            [Site::Leaf, Site::Step, Site::Chain, Site::Total][next() as usize % 4];
                        let how = if next() % 2 == 0 {
                            How::Panic
                        } else {
                            How::Err
                        };
                        let i = match site {
                            Site::Chain if m == 0 => continue,
                            Site::Chain => next() % m,
                            Site::Total => 0,
                            _ => next() % n,
                        };
                        faults.push((site, i, how));
                    }
                    let plan = Arc::new(Plan {
                        faults,
                        nap_permille: 0,
                        seed: next(),
                        started: AtomicUsize::new(0),
                        live: Arc::clone(&live),
                    });
                    let rt = &rts[(k % 2) as usize];
                    let g = faulty_graph(n, m, Arc::clone(&plan));
                    match next() % 4 {
                        // Computed on this thread.
                        0 | 1 => {
                            let r = rt.compute(g);
                            check(&r, &plan, n, m, false);
                            outcomes[usize::from(r.is_ok())] += 1;
                        }
                        // Spawned, maybe cancelled, waited for later.
                        _ => {
                            let h = rt.spawn(g);
                            let cancel = next() % 3 == 0;
                            if cancel {
                                h.cancel();
                            }
                            in_flight.push((h, plan, n, m, cancel));
                        }
                    }
                    if in_flight.len() >= 4 || k + 1 == PER_THREAD {
                        for (h, plan, n, m, cancel) in in_flight.drain(..) {
                            let r = h.wait();
                            check(&r, &plan, n, m, cancel);
                            outcomes[usize::from(r.is_ok())] += 1;
                        }
                    }
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = [0usize; 2];
    for c in callers {
        let o = c.join().unwrap();
        outcomes[0] += o[0];
        outcomes[1] += o[1];
    }
    // Nearly every graph ran (a few plans were skipped): both outcomes seen.
    assert!(outcomes[0] + outcomes[1] > 9_000, "{outcomes:?}");
    assert!(outcomes[0] > 1000 && outcomes[1] > 1000, "{outcomes:?}");
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "a value leaked or was dropped twice"
    );
    for rt in rts.iter() {
        let ok = Arc::new(Plan {
            faults: Vec::new(),
            nap_permille: 0,
            seed: 1,
            started: AtomicUsize::new(0),
            live: Arc::clone(&live),
        });
        assert_eq!(
            rt.compute(faulty_graph(5, 5, ok)).unwrap(),
            sequential(5, 5)
        );
    }
}
