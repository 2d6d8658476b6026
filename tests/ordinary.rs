//! Ordinary Rust at the edges of the language, each shape checked against
//! the same code run sequentially, node by node and fused, on 1 and 2
//! threads: a spawned graph's outputs read as a vector of lazy values and
//! summed by a `while` loop, in-place updates `v[i] = f(v[i], v[k])`,
//! vectors of vectors, closures over lazy values, and loops through
//! iterator adaptors.

use taskdag::{delayed, graph, Graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
/// Not commutative: an edge read the wrong way round changes the result.
#[delayed]
fn mix(a: i64, b: i64) -> i64 {
    a.wrapping_mul(31).wrapping_add(b) % 1_000_003
}
#[delayed]
fn sum(v: &[i64]) -> i64 {
    v.iter().sum()
}

/// Node by node and fused, on 1 and 2 threads.
fn runtimes() -> Vec<Runtime> {
    let mut rts = Vec::new();
    for threads in [1, 2] {
        for fuse in [false, true] {
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .build()
                .unwrap();
            rts.push(rt);
        }
    }
    rts
}

/// The notebook's while loop, sequentially.
fn pairwise_sum(mut l: Vec<i64>) -> i64 {
    while l.len() > 1 {
        let mut new_l = Vec::new();
        for i in (0..l.len()).step_by(2) {
            if i + 1 < l.len() {
                new_l.push(add(l[i], l[i + 1]));
            } else {
                new_l.push(l[i]);
            }
        }
        l = new_l;
    }
    l[0]
}

#[test]
fn the_notebooks_last_cell_sums_a_persisted_vector_with_its_while_loop() {
    for rt in runtimes() {
        for n in [1, 2, 7, 256] {
            let zs = rt.spawn(graph! {
                let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
                zs
            });
            // `let mut l = &zs;`: `zs` is borrowed, its values cloned.
            let total = rt
                .compute(graph! {
                    let mut l = &zs;
                    while l.len() > 1 {
                        let mut new_l = Vec::new();
                        for i in (0..l.len()).step_by(2) {
                            if i + 1 < l.len() {
                                new_l.push(add(l[i], l[i + 1]));
                            } else {
                                new_l.push(l[i]);
                            }
                        }
                        l = new_l;
                    }
                    l[0]
                })
                .unwrap();
            let want = pairwise_sum((0..n).map(inc).collect());
            assert_eq!(total, want);
            // `tree_reduce(&zs, add)` borrows `zs` too.
            let tree = rt.compute(graph! { tree_reduce(&zs, add) }).unwrap();
            assert_eq!(tree, want);
            // An in-place prefix sum over the persisted values.
            let last = rt
                .compute(graph! {
                    let mut v = &zs;
                    for i in 1..v.len() {
                        v[i] = add(v[i], v[i - 1]);
                    }
                    v[v.len() - 1]
                })
                .unwrap();
            assert_eq!(last, (0..n).map(inc).sum::<i64>());
            assert_eq!(zs.wait().unwrap(), (0..n).map(inc).collect::<Vec<_>>());
        }
    }
}

#[test]
fn a_captured_handle_or_vec_reassigned_in_the_graph_is_a_vector_of_lazy_values() {
    for rt in runtimes() {
        // `zs` itself: moved into the graph, as a `move` closure would.
        let zs = rt.spawn(graph! {
            let zs: Vec<_> = (0..9).map(|i| inc(i)).collect();
            zs
        });
        let total = rt
            .compute(graph! {
                while zs.len() > 1 {
                    let mut next = Vec::new();
                    for pair in zs.chunks(2) {
                        if pair.len() == 2 {
                            next.push(mix(pair[0], pair[1]));
                        } else {
                            next.push(pair[0]);
                        }
                    }
                    zs = next;
                }
                zs[0]
            })
            .unwrap();
        let mut l: Vec<i64> = (0..9).map(inc).collect();
        while l.len() > 1 {
            l = l
                .chunks(2)
                .map(|p| if p.len() == 2 { mix(p[0], p[1]) } else { p[0] })
                .collect();
        }
        assert_eq!(total, l[0]);
        // A plain `Vec` read the same way: its values become lazy values.
        let data: Vec<i64> = (10..26).collect();
        let mut level = data.clone();
        let total = rt
            .compute(graph! {
                let mut level = data;
                while level.len() > 1 {
                    let mut next = Vec::new();
                    for (a, b) in level.iter().zip(level.iter().skip(1)).step_by(2) {
                        next.push(mix(*a, *b));
                    }
                    level = next;
                }
                level[0]
            })
            .unwrap();
        while level.len() > 1 {
            level = level
                .iter()
                .zip(level.iter().skip(1))
                .step_by(2)
                .map(|(a, b)| mix(*a, *b))
                .collect();
        }
        assert_eq!(total, level[0]);
    }
}

#[test]
fn in_place_updates_of_a_vector_of_lazy_values() {
    let n = 40usize;
    // Sequentially: a prefix sum, then a stencil sweep, then a butterfly.
    let mut v: Vec<i64> = (0..n as i64).map(inc).collect();
    for i in 1..n {
        v[i] = add(v[i], v[i - 1]);
    }
    for t in 0..3 {
        for i in 1..n - 1 {
            v[i] = mix(v[i - 1], v[i + 1] + t);
        }
    }
    let mut k = 1;
    while k < n {
        for i in (0..n).step_by(2 * k) {
            if i + k < n {
                v[i] = mix(v[i], v[i + k]);
            }
        }
        k *= 2;
    }
    let want = (v[0], v[n - 1], sum(&v));
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let mut v: Vec<_> = (0..n as i64).map(|i| inc(i)).collect();
                for i in 1..n {
                    v[i] = add(v[i], v[i - 1]);
                }
                for t in 0..3 {
                    for i in 1..n - 1 {
                        v[i] = mix(v[i - 1], v[i + 1] + t);
                    }
                }
                let mut k = 1;
                while k < n {
                    for i in (0..n).step_by(2 * k) {
                        if i + k < n {
                            v[i] = mix(v[i], v[i + k]);
                        }
                    }
                    k *= 2;
                }
                (v[0], v[n - 1], sum(&v))
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn an_in_place_update_out_of_range_is_an_error_naming_the_vector() {
    let rt = Runtime::new(1).unwrap();
    let err = rt
        .compute(graph! {
            let mut v: Vec<_> = (0..3).map(|i| inc(i)).collect();
            v[3] = inc(0);
            v[0]
        })
        .unwrap_err();
    match err {
        taskdag::Error::IndexOutOfRange {
            vector, index, len, ..
        } => {
            assert_eq!((vector, index, len), ("v", 3, 3));
        }
        e => panic!("{e}"),
    }
}

#[test]
fn vectors_of_vectors_of_lazy_values() {
    let (rows_n, w) = (6usize, 5usize);
    let mut rows: Vec<Vec<i64>> = Vec::new();
    rows.push((0..w as i64).map(inc).collect());
    for r in 1..rows_n {
        let mut row = Vec::new();
        for c in 0..w {
            let left = if c > 0 { rows[r - 1][c - 1] } else { 0 };
            row.push(mix(rows[r - 1][c], left));
        }
        rows.push(row);
    }
    for r in 1..rows_n {
        rows[r][0] = add(rows[r][0], rows[r - 1][w - 1]);
    }
    let want = (rows[rows_n - 1][w - 1], sum(&rows[2]), rows[3][0]);
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let mut rows = Vec::new();
                let first: Vec<_> = (0..w as i64).map(|c| inc(c)).collect();
                rows.push(first);
                for r in 1..rows_n {
                    let mut row = Vec::new();
                    for c in 0..w {
                        let left = if c > 0 { rows[r - 1][c - 1] } else { inc(-1) };
                        row.push(mix(rows[r - 1][c], left));
                    }
                    rows.push(row);
                }
                for r in 1..rows.len() {
                    rows[r][0] = add(rows[r][0], rows[r - 1][rows[r - 1].len() - 1]);
                }
                (rows[rows_n - 1][w - 1], sum(&rows[2]), rows[3][0])
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn closures_over_lazy_values_are_inlined() {
    let twice_seq = |a| inc(inc(a));
    let both_seq = |a, b| twice_seq(add(a, b));
    let v: Vec<i64> = (0..6).map(twice_seq).collect();
    let w: Vec<i64> = (0..6).map(|i| both_seq(v[i], i as i64)).collect();
    let want = (w.iter().copied().reduce(add).unwrap(), twice_seq(3));
    for rt in runtimes() {
        let g = graph! {
            let twice = |a| inc(inc(a));
            let both = |a: i64, b| {
                let s = add(a, b);
                twice(s)
            };
            let v: Vec<_> = (0..6).map(twice).collect();
            let w: Vec<_> = (0..6).map(|i| both(v[i], i as i64)).collect();
            (tree_reduce(w, add), twice(3))
        };
        // Each call of a closure is its body's tasks, as written.
        assert_eq!(g.tasks().unwrap().of("inc"), 2 * 6 + 2 * 6 + 2);
        assert_eq!(rt.compute(g).unwrap(), want);
    }
}

#[test]
fn loops_through_iterator_adaptors_over_a_lazy_vector() {
    let level: Vec<i64> = (0..9).map(inc).collect();
    let mut pairs = Vec::new();
    for (a, b) in level.iter().zip(level.iter().skip(1)).step_by(2) {
        pairs.push(mix(*a, *b));
    }
    let mut windows = Vec::new();
    for w in level.windows(3) {
        windows.push(mix(mix(w[0], w[1]), w[2]));
    }
    let mut back = Vec::new();
    for (i, x) in level.iter().rev().enumerate().skip(1).take(5) {
        back.push(mix(*x, i as i64));
    }
    let want = (sum(&pairs), sum(&windows), sum(&back));
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let level: Vec<_> = (0..9).map(|i| inc(i)).collect();
                let mut pairs = Vec::new();
                for (a, b) in level.iter().zip(level.iter().skip(1)).step_by(2) {
                    pairs.push(mix(*a, *b));
                }
                let mut windows = Vec::new();
                for w in level.windows(3) {
                    windows.push(mix(mix(w[0], w[1]), w[2]));
                }
                let back: Vec<_> = level
                    .iter()
                    .rev()
                    .enumerate()
                    .skip(1)
                    .take(5)
                    .map(|(i, x)| mix(x, i as i64))
                    .collect();
                (sum(&pairs), sum(&windows), sum(&back))
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn tree_reduce_inside_loops_over_rows_and_slices() {
    let (n, w) = (5usize, 4usize);
    let grid: Vec<i64> = (0..(n * w) as i64).map(inc).collect();
    let rows_seq: Vec<Vec<i64>> = grid.chunks(w).map(|r| r.to_vec()).collect();
    let mut want = Vec::new();
    for r in 0..n {
        // A tree over four values: (0 1) (2 3).
        let tree = |v: &[i64]| mix(mix(v[0], v[1]), mix(v[2], v[3]));
        let (a, b) = (tree(&rows_seq[r]), tree(&grid[r * w..(r + 1) * w]));
        want.push(add(a, b));
    }
    let want = sum(&want);
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let mut grid = Vec::new();
                for i in 0..(n * w) as i64 {
                    grid.push(inc(i));
                }
                let mut rows = Vec::new();
                for r in 0..n {
                    rows.push(&grid[r * w..(r + 1) * w]);
                }
                let mut sums = Vec::new();
                for r in 0..n {
                    let a = tree_reduce(&rows[r], mix);
                    let b = tree_reduce(&grid[r * w..(r + 1) * w], mix);
                    sums.push(add(a, b));
                }
                sum(&sums)
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn in_place_updates_after_a_fused_loop() {
    let n = 64i64;
    let mut v: Vec<i64> = (0..n).map(inc).collect();
    for i in 1..n as usize {
        v[i] = mix(v[i - 1], v[i]);
    }
    let want = (
        v[n as usize - 1],
        sum(&v),
        v.iter().copied().reduce(add).unwrap(),
    );
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..n {
                    v.push(inc(i));
                }
                for i in 1..v.len() {
                    v[i] = mix(v[i - 1], v[i]);
                }
                (v[v.len() - 1], sum(&v), tree_reduce(v, add))
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn loops_over_the_rows_of_a_vector_of_vectors() {
    let rows_seq: Vec<Vec<i64>> = (0..4)
        .map(|r| (0..3).map(|c| inc(10 * r + c)).collect())
        .collect();
    let want: Vec<i64> = rows_seq
        .iter()
        .rev()
        .enumerate()
        .map(|(i, row)| mix(sum(row), mix(row[0], i as i64)))
        .collect();
    let want = sum(&want);
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let mut rows = Vec::new();
                for r in 0..4 {
                    let row: Vec<_> = (0..3).map(|c| inc(10 * r + c)).collect();
                    rows.push(row);
                }
                let mut out = Vec::new();
                for (i, row) in rows.iter().rev().enumerate() {
                    out.push(mix(sum(&row), mix(row[0], i as i64)));
                }
                sum(&out)
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn a_closure_may_capture_lazy_values_and_call_closures() {
    let want = inc(inc(2) + inc(1)) * 2;
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let x = inc(1);
                let next = |k: i64| inc(k) + x;
                let again = |k| next(k) * 2;
                again(inc(2))
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn graphs_with_in_place_updates_and_rows_can_be_drawn() {
    let n = 4usize;
    let g = graph! {
        let mut v: Vec<_> = (0..n as i64).map(|i| inc(i)).collect();
        for i in 1..n {
            v[i] = add(v[i], v[i - 1]);
        }
        let mut rows = Vec::new();
        rows.push(&v[..]);
        rows[0][0] = mix(rows[0][1], v[n - 1]);
        sum(&rows[0])
    };
    let t = g.tasks().unwrap();
    assert_eq!(
        (t.of("inc"), t.of("add"), t.of("mix"), t.of("sum")),
        (4, 3, 1, 1)
    );
    // The template labels each edge with the index it reads.
    let template = g.template_dot();
    for label in ["v[i]", "v[i - 1]", "rows[0][1]", "v[n - 1]", "rows[0]"] {
        assert!(template.contains(label), "{label}: {template}");
    }
    let dot = g.to_dot().unwrap();
    assert!(dot.contains("mix"), "{dot}");
    assert_eq!(Runtime::new(2).unwrap().compute(g).unwrap(), {
        let mut v: Vec<i64> = (0..n as i64).map(inc).collect();
        for i in 1..n {
            v[i] = add(v[i], v[i - 1]);
        }
        v[0] = mix(v[1], v[n - 1]);
        sum(&v)
    });
}

#[test]
fn rows_collected_from_nested_maps() {
    let (h, w) = (4i64, 3i64);
    let grid_seq: Vec<Vec<i64>> = (0..h)
        .map(|r| (0..w).map(|c| inc(10 * r + c)).collect())
        .collect();
    let want: i64 = (1..h as usize)
        .map(|r| mix(grid_seq[r][0], grid_seq[r - 1][w as usize - 1]))
        .sum();
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let grid: Vec<Vec<_>> = (0..h).map(|r| (0..w).map(|c| inc(10 * r + c)).collect()).collect();
                let mut out = Vec::new();
                for r in 1..grid.len() {
                    out.push(mix(grid[r][0], grid[r - 1][grid[r - 1].len() - 1]));
                }
                sum(&out)
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

/// Order-sensitive, so a row gathered out of order changes the result.
#[delayed]
fn digest(v: Vec<i64>) -> i64 {
    v.into_iter().fold(7, mix)
}
#[delayed]
fn digest_slice(v: &[i64]) -> i64 {
    v.iter().copied().fold(7, mix)
}

#[test]
fn rows_passed_whole_to_tasks() {
    let (h, w) = (3i64, 5i64);
    let rows_seq: Vec<Vec<i64>> = (0..h)
        .map(|r| (0..w).map(|c| inc(10 * r + c)).collect())
        .collect();
    let want: Vec<(i64, i64, i64)> = rows_seq
        .iter()
        .map(|row| (digest(row.clone()), digest_slice(row), digest(row.clone())))
        .collect();
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let rows: Vec<Vec<_>> = (0..h).map(|r| (0..w).map(|c| inc(10 * r + c)).collect()).collect();
                let mut out = Vec::new();
                for r in 0..rows.len() {
                    // By value (a clone), borrowed, and taken.
                    let a = digest(rows[r].clone());
                    let b = digest_slice(&rows[r]);
                    let c = digest(rows[r]);
                    out.push((a, b, c));
                }
                out
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn tree_reduce_with_a_closure_that_calls_a_binary_task() {
    let v_seq: Vec<i64> = (0..8).map(inc).collect();
    // The pairwise tree over eight values, then over the four sums.
    let tree4 = |v: &[i64]| mix(mix(v[0], v[1]), mix(v[2], v[3]));
    let tree8 = |v: &[i64]| mix(tree4(&v[..4]), tree4(&v[4..]));
    let parts: Vec<i64> = (0..2).map(|k| tree4(&v_seq[4 * k..4 * k + 4])).collect();
    let want = (tree8(&v_seq), mix(parts[0], parts[1]), tree8(&v_seq));
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let v: Vec<_> = (0..8).map(|i| inc(i)).collect();
                let f = |a, b| mix(a, b);
                let mut parts = Vec::new();
                for k in 0..2 {
                    parts.push(tree_reduce(&v[4 * k..4 * k + 4], f));
                }
                let whole = tree_reduce(&v, |x, y| { mix(x, y) });
                (whole, tree_reduce(parts, f), tree_reduce(v, f))
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

/// Associated functions marked one by one, neither taking `self` nor
/// naming `Self`: called as `Ops::f(..)` inside `graph!`.
struct Ops;

impl Ops {
    #[delayed]
    fn double(x: i64) -> i64 {
        2 * x
    }

    #[delayed]
    pub fn weave(v: Vec<i64>, by: i64) -> i64 {
        v.into_iter().fold(by, mix)
    }
}

#[test]
fn associated_functions_marked_delayed_one_by_one() {
    let v_seq: Vec<i64> = (0..6).map(|i| Ops::double(inc(i))).collect();
    let want = (Ops::weave(v_seq.clone(), 3), Ops::double(v_seq[2]));
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..6 {
                    let y = inc(i);
                    v.push(Ops::double(y));
                }
                let x = Ops::double(v[2]);
                (Ops::weave(v, 3), x)
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn expressions_read_elements_of_rows() {
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let mut rows = Vec::new();
                for r in 0..3 {
                    let row: Vec<_> = (0..3).map(|c| inc(10 * r + c)).collect();
                    rows.push(row);
                }
                let x = rows[2][1] * 2 + rows[0][0];
                rows[1][2] = x - 1;
                let y = rows[1][2];
                (x, rows[1][2], format!("{y}"))
            })
            .unwrap();
        assert_eq!(got, (22 * 2 + 1, 44, "44".to_string()));
    }
}

#[test]
// The sequential reference is written as the graph is, index by index.
#[allow(clippy::needless_range_loop)]
fn rows_reassigned_step_after_step() {
    let (h, w, steps) = (4usize, 5usize, 3);
    let mut grid: Vec<Vec<i64>> = (0..h)
        .map(|r| (0..w).map(|c| inc((r * w + c) as i64)).collect())
        .collect();
    for t in 0..steps {
        let mut next = Vec::new();
        for r in 0..h {
            let mut row = Vec::new();
            for c in 0..w {
                let up = grid[(r + h - 1) % h][c];
                row.push(mix(grid[r][c], up + t));
            }
            next.push(row);
        }
        grid = next;
    }
    let want: Vec<i64> = grid.iter().map(|r| sum(r)).collect();
    for rt in runtimes() {
        let got = rt
            .compute(graph! {
                let mut grid: Vec<Vec<_>> = (0..h)
                    .map(|r| (0..w).map(|c| inc((r * w + c) as i64)).collect())
                    .collect();
                for t in 0..steps {
                    let mut next = Vec::new();
                    for r in 0..h {
                        let mut row = Vec::new();
                        for c in 0..w {
                            row.push(mix(grid[r][c], grid[(r + h - 1) % h][c] + t));
                        }
                        next.push(row);
                    }
                    grid = next;
                }
                let sums: Vec<_> = (0..h).map(|r| sum(&grid[r])).collect();
                sums
            })
            .unwrap();
        assert_eq!(got, want);
    }
}

/// Not `Clone`: an output that is the same node as another cannot be
/// cloned for it.
#[derive(Debug, PartialEq)]
struct Unique(i64);

#[delayed]
fn unique(x: i64) -> Unique {
    Unique(x)
}

#[test]
fn outputs_found_to_be_one_node_when_the_graph_is_built_are_cloned() {
    for rt in runtimes() {
        for n in [1i64, 2, 5] {
            // One value: `l[0]` and its reduction are the same node.
            let got = rt
                .compute(graph! {
                    let l: Vec<_> = (0..n).map(|i| inc(i)).collect();
                    (l[0], tree_reduce(&l, add))
                })
                .unwrap();
            assert_eq!(got, (1, (0..n).map(inc).sum::<i64>()));
        }
        for (i, j) in [(0usize, 0usize), (0, 2), (3, 3), (2, 1)] {
            let got = rt
                .compute(graph! {
                    let v: Vec<_> = (0..4).map(|k| inc(k)).collect();
                    (v[j], v[i], add(v[i], v[j]), v[i])
                })
                .unwrap();
            let (a, b) = (inc(i as i64), inc(j as i64));
            assert_eq!(got, (b, a, a + b, a));
            // A vector holding one node twice.
            let got = rt
                .compute(graph! {
                    let v: Vec<_> = (0..4).map(|k| inc(k)).collect();
                    let mut w = Vec::new();
                    w.push(v[i]);
                    w.push(v[j]);
                    w
                })
                .unwrap();
            assert_eq!(got, vec![a, b]);
        }
    }
}

#[test]
fn outputs_found_to_be_one_node_that_cannot_be_cloned_are_an_error() {
    for rt in runtimes() {
        for (i, j) in [(0usize, 1usize), (1, 1)] {
            let got = rt.compute(graph! {
                let v: Vec<_> = (0..2).map(|k| unique(k)).collect();
                (v[i], v[j])
            });
            if i == j {
                assert!(matches!(got, Err(taskdag::Error::DuplicateOutput)));
            } else {
                assert_eq!(got.unwrap(), (Unique(i as i64), Unique(j as i64)));
            }
        }
        // Outputs that cannot be one node need no `Clone`.
        let got = rt
            .compute(graph! {
                let a = unique(1);
                let b = unique(2);
                let mut w = Vec::new();
                w.push(unique(3));
                (a, (b, w), unique(4))
            })
            .unwrap();
        assert_eq!(got, (Unique(1), (Unique(2), vec![Unique(3)]), Unique(4)));
    }
}
