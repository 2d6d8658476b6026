//! Control flow, indexing and expressions inside `graph!`, against sequential code.

use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn add(x: u64, y: u64) -> u64 {
    x + y
}

#[test]
fn tutorial_while_loop_tree() {
    let rt = Runtime::new(2).unwrap();
    for n in [1u64, 2, 3, 5, 8, 13] {
        let got = rt
            .compute(graph! {
                let mut level = Vec::new();
                for i in 0..n {
                    level.push(inc(i));
                }
                while level.len() > 1 {
                    let mut next = Vec::new();
                    for i in (0..level.len()).step_by(2) {
                        if i + 1 < level.len() {
                            next.push(add(level[i], level[i + 1]));
                        } else {
                            next.push(level[i]);
                        }
                    }
                    level = next;
                }
                level[0]
            })
            .unwrap();
        assert_eq!(got, (1..=n).sum::<u64>(), "n = {n}");
    }
}

#[delayed]
fn dec(x: u64) -> u64 {
    x - 1
}

#[delayed]
fn double(x: u64) -> u64 {
    2 * x
}

#[delayed]
fn total(v: &[u64]) -> u64 {
    v.iter().sum()
}

#[delayed]
fn word(i: u64) -> String {
    format!("w{i}")
}

#[delayed]
fn len_of(s: &str) -> usize {
    s.len()
}

#[delayed]
fn split(x: u64) -> (u64, u64) {
    (x / 10, x % 10)
}

#[delayed]
fn parse(s: String) -> Result<u64, std::num::ParseIntError> {
    s.parse()
}

#[derive(Clone, Debug, PartialEq)]
struct Stats {
    n: u64,
    mean: f64,
}

#[test]
fn if_else_chooses_calls_and_values() {
    let rt = Runtime::new(2).unwrap();
    for clean in [false, true] {
        for k in 0..4u64 {
            let got = rt
                .compute(graph! {
                    let mut d = inc(k);
                    if clean {
                        d = double(d);
                    }
                    let x = if k % 2 == 0 { inc(d) } else if k == 1 { dec(d) } else { d };
                    let y = match k {
                        0 => double(x),
                        1 | 2 => inc(x),
                        _ => x,
                    };
                    add(x, y)
                })
                .unwrap();
            let mut d = k + 1;
            if clean {
                d *= 2;
            }
            let x = if k % 2 == 0 {
                d + 1
            } else if k == 1 {
                d - 1
            } else {
                d
            };
            let y = match k {
                0 => 2 * x,
                1 | 2 => x + 1,
                _ => x,
            };
            assert_eq!(got, x + y, "clean = {clean}, k = {k}");
        }
    }
}

#[test]
fn loop_break_continue_and_while_let() {
    let rt = Runtime::new(2).unwrap();
    let got = rt
        .compute(graph! {
            let mut v = Vec::new();
            let mut i = 0u64;
            loop {
                i += 1;
                if i.is_multiple_of(3) {
                    continue;
                }
                if i > 10 {
                    break;
                }
                v.push(inc(i));
            }
            let mut stack = vec![1u64, 2, 3];
            while let Some(top) = stack.pop() {
                v.push(double(top));
            }
            'outer: for a in 0..4u64 {
                for b in 0..4u64 {
                    if b > a {
                        continue 'outer;
                    }
                    if a == 3 {
                        break 'outer;
                    }
                    v.push(add(a, b));
                }
            }
            total(&v)
        })
        .unwrap();
    let mut want = 0;
    for i in 1..=10u64 {
        if i % 3 != 0 {
            want += i + 1;
        }
    }
    want += 2 * (1 + 2 + 3);
    for a in 0..3u64 {
        for b in 0..=a {
            want += a + b;
        }
    }
    assert_eq!(got, want);
}

#[test]
fn expressions_on_lazy_values_are_tasks() {
    let rt = Runtime::new(2).unwrap();
    let scale = 3u64;
    let (a, b, s, st, v, t) = rt
        .compute(graph! {
            let x = inc(1);
            let y = x * 2 + scale;
            let w = word(7);
            let n = w.len();
            let label = format!("{w}-{}", y);
            let st = Stats { n: x, mean: y as f64 / 2.0 };
            let both = vec![x, y];
            let pair = (x, y);
            let t = add(pair.0, pair.1);
            (y, n, label, st, both, t)
        })
        .unwrap();
    assert_eq!(a, 2 * 2 + 3);
    assert_eq!(b, 2);
    assert_eq!(s, "w7-7");
    assert_eq!(st, Stats { n: 2, mean: 3.5 });
    assert_eq!(v, vec![2, 7]);
    assert_eq!(t, 9);
}

#[test]
fn compound_assignment_on_lazy_values() {
    let rt = Runtime::new(2).unwrap();
    let got = rt
        .compute(graph! {
            let mut s = inc(0);
            for i in 0..10u64 {
                s += inc(i);
            }
            s *= 2;
            s
        })
        .unwrap();
    assert_eq!(got, 2 * (1 + (1..=10).sum::<u64>()));
}

#[test]
fn destructuring_binds_each_part() {
    let rt = Runtime::new(2).unwrap();
    let got = rt
        .compute(graph! {
            let (tens, ones) = split(inc(41));
            let Stats { n, mean: _ } = graph_stats(tens);
            add(add(tens, ones), n)
        })
        .unwrap();
    assert_eq!(got, 4 + 2 + 4);
}

#[delayed]
fn graph_stats(n: u64) -> Stats {
    Stats { n, mean: 0.0 }
}

#[test]
fn borrows_as_rust_spells_them() {
    let rt = Runtime::new(2).unwrap();
    let got = rt
        .compute(graph! {
            let s = word(12);
            let zs: Vec<_> = (0..4).map(|i| inc(i)).collect();
            let l = len_of(&s);
            let t = total(&zs);
            let part = total(&zs[1..3]);
            let k = inc(*&t);
            (l, t, part, k)
        })
        .unwrap();
    assert_eq!(got, (3, 10, 5, 11));
}

#[test]
fn question_mark_fails_the_graph_with_the_error() {
    let rt = Runtime::new(2).unwrap();
    let ok = rt
        .compute(graph! {
            let n = parse(word(5).replace('w', ""))?;
            inc(n)
        })
        .unwrap();
    assert_eq!(ok, 6);
    let inputs = vec!["1".to_string(), "x".to_string(), "3".to_string()];
    let err = rt
        .compute(graph! {
            let mut v = Vec::new();
            for s in &inputs {
                v.push(parse(s.clone())?);
            }
            total(&v)
        })
        .unwrap_err();
    let taskdag::Error::TaskFailed { task, source, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(task.function(), "parse");
    assert_eq!(task.indices, [1]);
    assert!(source.downcast_ref::<std::num::ParseIntError>().is_some());
    assert!(std::error::Error::source(&err).is_some());
    assert!(
        err.to_string().contains("returned an error: invalid digit"),
        "{err}"
    );
}

#[test]
fn an_index_out_of_range_is_an_error_before_any_task_runs() {
    let rt = Runtime::new(2).unwrap();
    let err = rt
        .compute(graph! {
            let v: Vec<_> = (0..3).map(|i| inc(i)).collect();
            let k = v.len() + 1;
            inc(v[k])
        })
        .unwrap_err();
    let taskdag::Error::IndexOutOfRange {
        vector,
        index,
        len,
        at,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*vector, *index, *len), ("v", 4, 3));
    assert!(at.starts_with("tests/control.rs:"), "{at}");
    assert!(
        err.to_string()
            .contains("index 4 is out of range for `v` of length 3"),
        "{err}"
    );
}

#[test]
fn stencil_over_time_steps_matches_sequential() {
    let rt = Runtime::new(2).unwrap();
    let (w, steps) = (16usize, 10usize);
    let got = rt
        .compute(graph! {
            let mut cur: Vec<_> = (0..w as u64).map(|i| inc(i)).collect();
            for _ in 0..steps {
                let mut next = Vec::new();
                for i in 0..w {
                    let l = if i == 0 { cur[w - 1] } else { cur[i - 1] };
                    let r = if i + 1 == w { cur[0] } else { cur[i + 1] };
                    next.push(add(add(l, cur[i]), r) % 1000);
                }
                cur = next;
            }
            cur
        })
        .unwrap();
    let mut cur: Vec<u64> = (0..w as u64).map(|i| i + 1).collect();
    for _ in 0..steps {
        cur = (0..w)
            .map(|i| (cur[(i + w - 1) % w] + cur[i] + cur[(i + 1) % w]) % 1000)
            .collect();
    }
    assert_eq!(got, cur);
}

#[test]
fn wavefront_matches_sequential() {
    let rt = Runtime::new(2).unwrap();
    let g = 7usize;
    let got = rt
        .compute(graph! {
            let mut grid = Vec::new();
            for r in 0..g {
                for c in 0..g {
                    let cell = if r == 0 || c == 0 {
                        inc((r + c) as u64)
                    } else {
                        add(grid[(r - 1) * g + c], grid[r * g + c - 1]) % 1_000_007
                    };
                    grid.push(cell);
                }
            }
            grid[g * g - 1]
        })
        .unwrap();
    let mut grid = vec![0u64; g * g];
    for r in 0..g {
        for c in 0..g {
            grid[r * g + c] = if r == 0 || c == 0 {
                (r + c) as u64 + 1
            } else {
                (grid[(r - 1) * g + c] + grid[r * g + c - 1]) % 1_000_007
            };
        }
    }
    assert_eq!(got, grid[g * g - 1]);
}

#[test]
fn first_and_last_of_a_lazy_vector() {
    let rt = Runtime::new(2).unwrap();
    let got = rt
        .compute(graph! {
            let v: Vec<_> = (0..5).map(|i| double(i)).collect();
            let a = v.first().unwrap();
            let b = *v.last().unwrap();
            let c = v.last().copied().unwrap() + 1;
            (add(a, b), c)
        })
        .unwrap();
    assert_eq!(got, (8, 9));
    let err = rt
        .compute(graph! {
            let v: Vec<_> = (0..0).map(|i| double(i)).collect();
            inc(v.last().unwrap())
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            taskdag::Error::IndexOutOfRange {
                index: 0,
                len: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[delayed]
fn load(p: &str) -> usize {
    p.len()
}

#[delayed]
fn sum_sizes(v: &[usize]) -> usize {
    v.iter().sum()
}

#[test]
fn iterator_style() {
    let rt = Runtime::new(2).unwrap();
    let files = ["a".to_string(), "bb".to_string(), "ccc".to_string()];
    let got = rt
        .compute(graph! {
            let sizes: Vec<_> = files.iter().map(|f| load(f)).collect();
            let again: Vec<_> = files.iter().map(String::as_str).map(load).collect();
            let xs: Vec<_> = (0..4).map(inc).collect();
            let ys: Vec<_> = (0..4).map(|i| double(i)).collect();
            let sums: Vec<_> = xs.iter().zip(ys.iter()).map(|(x, y)| add(x, y)).collect();
            let scaled: Vec<_> = xs.iter().enumerate().map(|(i, x)| add(x, i as u64)).collect();
            let with_plain: Vec<_> = xs.iter().zip(10..).map(|(x, k)| add(x, k)).collect();
            let mut parts = Vec::new();
            for c in sums.chunks(3) {
                parts.push(total(c));
            }
            let mut first = Vec::new();
            for (i, f) in files.iter().enumerate() {
                if i > 0 {
                    first.push(load(f));
                }
            }
            (sum_sizes(&sizes), sum_sizes(&again), sums, scaled, with_plain, parts, sum_sizes(&first))
        })
        .unwrap();
    assert_eq!(got.0, 6);
    assert_eq!(got.1, 6);
    assert_eq!(got.2, vec![1, 4, 7, 10]);
    assert_eq!(got.3, vec![1, 3, 5, 7]);
    assert_eq!(got.4, vec![11, 13, 15, 17]);
    assert_eq!(got.5, vec![12, 10]);
    assert_eq!(got.6, 5);
}

#[test]
fn borrows_from_captured_data() {
    let rt = Runtime::new(2).unwrap();
    let files = vec!["a".to_string(), "bb".to_string()];
    let got = rt
        .compute(graph! {
            let k = load(&files[0]);
            let mut v = Vec::new();
            for p in &files {
                v.push(load(p));
            }
            (sum_sizes(&v), k)
        })
        .unwrap();
    assert_eq!(got, (3, 1));
}

#[derive(Clone, Debug, PartialEq)]
struct Series(Vec<f64>);

#[delayed]
impl Series {
    fn of(n: usize) -> Series {
        Series((0..n).map(|i| i as f64).collect())
    }
    fn mean(&self) -> f64 {
        self.0.iter().sum::<f64>() / self.0.len() as f64
    }
    fn scaled(self, k: f64) -> Series {
        Series(self.0.into_iter().map(|x| x * k).collect())
    }
}

#[delayed]
fn series(n: usize) -> Series {
    Series::of(n)
}

#[test]
fn methods_and_associated_functions() {
    let rt = Runtime::new(2).unwrap();
    let got = rt
        .compute(graph! {
            let s = series(5);
            let m = s.mean();
            let t = Series::of(3).scaled(m);
            let u = s.clone().scaled(m);
            (m, t, u.mean(), Series::mean(&s))
        })
        .unwrap();
    assert_eq!(got.0, 2.0);
    assert_eq!(got.1, Series(vec![0.0, 2.0, 4.0]));
    assert_eq!(got.2, 4.0);
    assert_eq!(got.3, 2.0);
}

#[test]
fn the_same_value_twice_in_the_output_through_a_copy() {
    let rt = Runtime::new(2).unwrap();
    let got = rt
        .compute(graph! {
            let x = word(1);
            let copy = x.clone();
            (x, copy)
        })
        .unwrap();
    assert_eq!(got, ("w1".to_string(), "w1".to_string()));
}

/// A `tree_reduce` inside a loop reduces that iteration's vector: its
/// nodes follow the trees of the earlier iterations in the family (they
/// once named the first iteration's nodes again).
#[test]
fn tree_reduce_inside_a_loop_reduces_each_iterations_vector() {
    for fuse in [true, false] {
        for threads in [1, 2] {
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .build()
                .unwrap();
            for rows in [1u64, 3, 6] {
                // Rows of different lengths (1, 2, 3, ...: odd and even
                // trees, and one of a single element).
                let per_row: Vec<u64> = (0..rows)
                    .map(|i| (0..=i).map(|j| 100 * i + j + 1).sum())
                    .collect();
                let sums = rt
                    .compute(graph! {
                        let mut sums = Vec::new();
                        for i in 0..rows {
                            let leaves: Vec<_> = (0..=i).map(|j| inc(100 * i + j)).collect();
                            sums.push(tree_reduce(leaves, add));
                        }
                        sums
                    })
                    .unwrap();
                assert_eq!(sums, per_row, "fuse {fuse}, {threads} threads");
                let total = rt
                    .compute(graph! {
                        let mut sums = Vec::new();
                        for i in 0..rows {
                            let mut leaves = Vec::new();
                            for j in 0..=i {
                                leaves.push(inc(100 * i + j));
                            }
                            let s = tree_reduce(leaves, add);
                            sums.push(inc(s));
                        }
                        tree_reduce(sums, add)
                    })
                    .unwrap();
                assert_eq!(total, per_row.iter().map(|s| s + 1).sum::<u64>());
            }
        }
    }
}

/// How many times a `Model` was cloned.
static MODEL_CLONES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A captured model used by a `&self` method task; it counts its clones.
#[derive(Debug)]
struct Model {
    scale: i64,
}

impl Clone for Model {
    fn clone(&self) -> Self {
        MODEL_CLONES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Model { scale: self.scale }
    }
}

#[delayed]
impl Model {
    fn apply(&self, x: i64) -> i64 {
        self.scale * x
    }
}

#[delayed]
fn plus_one(x: i64) -> i64 {
    x + 1
}

/// `model.apply(x)` borrows the captured `model`: computing the graph
/// clones it never (a graph clones its captures only to be looked at).
#[test]
fn a_method_task_borrows_its_captured_receiver() {
    use std::sync::atomic::Ordering::SeqCst;
    let n = 20;
    let want: Vec<i64> = (0..n).map(|i| 3 * (i + 1)).collect();
    for threads in [1, 2] {
        let rt = Runtime::new(threads).unwrap();
        let model = Model { scale: 3 };
        let before = MODEL_CLONES.load(SeqCst);
        // Node by node (a lone call) ...
        let one = rt
            .compute(graph! {
                let x = plus_one(4);
                model.apply(x)
            })
            .unwrap();
        assert_eq!(one, 15);
        // ... and in a loop, which runs fused.
        let model = Model { scale: 3 };
        let all = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..n {
                    let x = plus_one(i);
                    v.push(model.apply(x));
                }
                v
            })
            .unwrap();
        assert_eq!(all, want);
        assert_eq!(
            MODEL_CLONES.load(SeqCst),
            before,
            "no clone of the receiver"
        );
    }
}

/// `(v[0], v[0])`: the same element twice in the output is a clone, as
/// `(x, x)` is; a plain value may sit beside them.
#[test]
fn the_same_element_twice_in_the_output() {
    for threads in [1, 2] {
        let rt = Runtime::new(threads).unwrap();
        let n = 4;
        let got = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..n {
                    v.push(word(i));
                }
                (v[0], v[0], n, v[3])
            })
            .unwrap();
        assert_eq!(
            got,
            ("w0".to_string(), "w0".to_string(), 4, "w3".to_string())
        );
    }
}
