//! Stress: many graphs, small and large, with failing tasks sprinkled in, on
//! more threads than cores, from several threads at once. Every run must end
//! (no hang), succeed or fail as expected, and give the sequential result.

use std::sync::Arc;

use taskgraph::{delayed, graph, Error, Runtime};

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
                            assert_eq!(task.function, "leaf");
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
