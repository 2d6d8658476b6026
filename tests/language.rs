//! The language inside `graph!`, each construct checked against the same code
//! run sequentially.

use taskdag::{delayed, graph, Graph, Runtime};

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
fn mul(x: i64, y: i64) -> i64 {
    x * y
}
#[delayed]
fn sum(v: Vec<i64>) -> i64 {
    v.iter().sum()
}
#[delayed]
fn sum_slice(v: &[i64]) -> i64 {
    v.iter().sum()
}
#[delayed]
fn concat(a: String, b: String) -> String {
    a + &b
}
#[delayed]
fn word(i: usize) -> String {
    format!("w{i}")
}
#[delayed]
fn len_of(s: &str) -> usize {
    s.len()
}
#[delayed]
fn scaled(v: &[f64], k: f64) -> Vec<f64> {
    v.iter().map(|x| x * k).collect()
}
#[delayed]
fn ramp(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}
#[delayed]
fn total(v: Vec<f64>) -> f64 {
    v.iter().sum()
}
#[delayed]
fn pair<T: Clone>(a: T, b: T) -> (T, T) {
    (a, b)
}
#[delayed]
fn first<T: Clone>(p: (T, T)) -> T {
    p.0
}

mod math {
    use taskdag::delayed;

    #[delayed]
    pub fn square(x: i64) -> i64 {
        x * x
    }

    pub mod deep {
        use taskdag::delayed;

        #[delayed]
        pub fn neg(x: i64) -> i64 {
            -x
        }
    }
}

fn rt() -> Runtime {
    Runtime::new(4).unwrap()
}

#[test]
fn delayed_functions_stay_callable() {
    assert_eq!(inc(1), 2);
    assert_eq!(add(2, 3), 5);
    assert_eq!(math::square(4), 16);
    assert_eq!(pair(1, 2), (1, 2));
}

#[test]
fn small_graph() {
    let z = rt()
        .compute(graph! {
            let x = inc(1);
            let y = dec(2);
            add(x, y)
        })
        .unwrap();
    assert_eq!(z, 3);
}

#[test]
fn nested_calls_and_plain_arguments() {
    let k = 10;
    let z = rt()
        .compute(graph! {
            let base = 3 * k;
            add(inc(base), dec(k + 2))
        })
        .unwrap();
    assert_eq!(z, (3 * 10 + 1) + (12 - 1));
}

#[test]
fn tutorial_loop_with_tree_reduce() {
    let n = 256;
    let total = rt()
        .compute(graph! {
            let mut zs = Vec::new();
            for i in 0..n {
                let x = inc(i);
                let y = dec(x);
                let z = add(x, y);
                zs.push(z);
            }
            tree_reduce(zs, add)
        })
        .unwrap();
    assert_eq!(total, (0..256).map(|i| 2 * i + 1).sum::<i64>());
}

#[test]
fn chain_through_reassignment() {
    let steps = 1000;
    let s = rt()
        .compute(graph! {
            let mut s = inc(0);
            for t in 0..steps {
                s = add(s, t);
            }
            s
        })
        .unwrap();
    assert_eq!(s, 1 + (0..1000).sum::<i64>());
}

#[test]
fn nested_loops_step_by_and_captured_vec() {
    let weights: Vec<i64> = vec![3, 1, 4, 1, 5];
    let out = rt()
        .compute(graph! {
            let mut acc = Vec::new();
            for i in (0..10).step_by(3) {
                for w in weights.iter() {
                    acc.push(mul(i, *w));
                }
            }
            sum(acc)
        })
        .unwrap();
    let expected: i64 = (0..10)
        .step_by(3)
        .flat_map(|i| [3, 1, 4, 1, 5].map(|w| i * w))
        .sum();
    assert_eq!(out, expected);
}

#[test]
fn inner_loop_bound_depends_on_outer_variable() {
    let n = 12;
    let out = rt()
        .compute(graph! {
            let mut rows = Vec::new();
            for i in 0..n {
                let mut r = inc(0);
                for j in 0..i {
                    r = add(r, j);
                }
                rows.push(r);
            }
            rows
        })
        .unwrap();
    let expected: Vec<i64> = (0..12).map(|i| 1 + (0..i).sum::<i64>()).collect();
    assert_eq!(out, expected);
}

#[test]
fn map_collect_and_gathers() {
    let n = 100;
    let (a, b, c) = rt()
        .compute(graph! {
            let xs: Vec<_> = (0..n).map(|i| inc(i)).collect();
            let ys = (0..n).map(|i| { let d = dec(i); mul(d, 2) }).collect();
            (sum(xs), sum_slice(ys), tree_reduce(xs, add))
        })
        .unwrap();
    assert_eq!(a, (1..=100).sum::<i64>());
    assert_eq!(b, (0..100).map(|i| (i - 1) * 2).sum::<i64>());
    assert_eq!(c, a);
}

#[test]
fn vector_as_final_expression() {
    let v = rt()
        .compute(graph! {
            let v: Vec<_> = (0..5).map(|i| math::square(i)).collect();
            v
        })
        .unwrap();
    assert_eq!(v, vec![0, 1, 4, 9, 16]);
}

#[test]
fn tree_reduce_keeps_left_to_right_order() {
    for n in [1usize, 2, 3, 5, 8, 13, 100] {
        let s = rt()
            .compute(graph! {
                let ws: Vec<_> = (0..n).map(|i| word(i)).collect();
                tree_reduce(ws, concat)
            })
            .unwrap();
        let expected: String = (0..n).map(|i| format!("w{i}")).collect();
        assert_eq!(s, expected, "n = {n}");
    }
}

#[test]
fn non_copy_values_move_clone_and_borrow() {
    let (lens, tot, v) = rt()
        .compute(graph! {
            let s = word(7);
            let l1 = len_of(s);
            let l2 = len_of(s);
            let joined = concat(s, s);
            let r = ramp(4);
            let a = scaled(r, 2.0);
            let b = scaled(r, 3.0);
            (add_usize(l1, l2), add_f64(total(a), total(b)), concat(joined, word(1)))
        })
        .unwrap();
    assert_eq!(lens, 4);
    assert_eq!(tot, 12.0 + 18.0);
    assert_eq!(v, "w7w7w1");
}

#[delayed]
fn add_f64(a: f64, b: f64) -> f64 {
    a + b
}

#[delayed]
fn add_usize(a: usize, b: usize) -> usize {
    a + b
}

#[test]
fn generic_delayed_functions_and_paths() {
    let (p, q) = rt()
        .compute(graph! {
            let p = pair(math::square(3), math::deep::neg(2));
            let q = pair::<String>(word(1), word(2));
            (first(p), first(q))
        })
        .unwrap();
    assert_eq!(p, 9);
    assert_eq!(q, "w1");
}

fn generic_graph<T: Clone + Send + Sync + 'static>(a: T, b: T) -> impl Graph<Output = (T, T)> {
    graph! {
        pair(a, b)
    }
}

#[test]
fn graph_inside_a_generic_function() {
    let rt = rt();
    assert_eq!(rt.compute(generic_graph(1u8, 2u8)).unwrap(), (1, 2));
    assert_eq!(
        rt.compute(generic_graph("a".to_string(), "b".to_string()))
            .unwrap(),
        ("a".into(), "b".into())
    );
}

fn tutorial(n: i64) -> impl Graph<Output = i64> {
    graph! {
        let zs: Vec<_> = (0..n).map(|i| add(inc(i), dec(i))).collect();
        tree_reduce(zs, add)
    }
}

#[test]
fn graph_returned_from_a_function_and_default_runtime() {
    assert_eq!(
        tutorial(10).compute().unwrap(),
        (0..10).map(|i| 2 * i).sum::<i64>()
    );
    assert_eq!(rt().compute(tutorial(1)).unwrap(), 0);
}

#[test]
fn shadowing_between_lazy_and_plain_names() {
    let z = rt()
        .compute(graph! {
            let x = inc(1);
            let y = add(x, 1);
            let x = 5;
            let y2 = add(y, x);
            let x = inc(y2);
            x
        })
        .unwrap();
    assert_eq!(z, ((1 + 1) + 1) + 5 + 1);
}

#[test]
fn side_effect_nodes_run() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static HITS: AtomicUsize = AtomicUsize::new(0);
    #[delayed]
    fn hit(x: i64) -> i64 {
        HITS.fetch_add(1, Ordering::SeqCst);
        x
    }
    let out = rt()
        .compute(graph! {
            for i in 0..10 {
                hit(i);
            }
            inc(0)
        })
        .unwrap();
    assert_eq!(out, 1);
    assert_eq!(HITS.load(Ordering::SeqCst), 10);
}

#[test]
fn typed_let_annotations() {
    let z = rt()
        .compute(graph! {
            let x: i64 = inc(1);
            let mut v: Vec<i64> = Vec::new();
            v.push(x);
            v.push(dec(x));
            sum(v)
        })
        .unwrap();
    assert_eq!(z, 2 + 1);
}

/// Runtimes on 1 and 2 threads, fused and node by node.
fn each_runtime() -> impl Iterator<Item = Runtime> {
    [(1, true), (1, false), (2, true), (2, false)]
        .into_iter()
        .map(|(n, fuse)| {
            Runtime::builder()
                .threads(n)
                .fuse_loops(fuse)
                .build()
                .unwrap()
        })
}

#[test]
fn value_returned_twice_is_cloned() {
    for rt in each_runtime() {
        let (a, b) = rt.compute(graph! { let x = inc(1); (x, x) }).unwrap();
        assert_eq!((a, b), (2, 2));

        // Also consumed by a task, and returned three times.
        let out = rt
            .compute(graph! {
                let x = inc(1);
                let y = inc(x);
                (x, y, x, x)
            })
            .unwrap();
        assert_eq!(out, (2, 3, 2, 2));

        // A non-`Copy` value.
        let w = rt
            .compute(graph! {
                let s = word(3);
                let n = len_of(&s);
                (s, n, s)
            })
            .unwrap();
        assert_eq!(w, ("w3".to_string(), 2, "w3".to_string()));

        // A vector returned twice, with its elements consumed too.
        let n = 5;
        let (v, t, u) = rt
            .compute(graph! {
                let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
                let t = sum(v.clone());
                (v, t, v)
            })
            .unwrap();
        let plain: Vec<i64> = (0..n).map(|i| i + 1).collect();
        assert_eq!(v, plain);
        assert_eq!(u, plain);
        assert_eq!(t, plain.iter().sum::<i64>());

        // A vector built by pushes, returned twice inside a nested tuple.
        let (v, (u, s)) = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..4 {
                    v.push(dec(i));
                }
                let s = sum(v.clone());
                (v, (v, s))
            })
            .unwrap();
        assert_eq!(v, vec![-1, 0, 1, 2]);
        assert_eq!(u, v);
        assert_eq!(s, 2);
    }
}

#[test]
fn plain_values_in_the_output_tuple() {
    for rt in each_runtime() {
        let n = 6;
        let (m, len, v) = rt
            .compute(graph! {
                let v: Vec<_> = (0..n).map(|i| inc(i)).collect();
                (n, v.len(), v)
            })
            .unwrap();
        let plain: Vec<i64> = (0..n).map(|i| i + 1).collect();
        assert_eq!((m, len, v), (6, 6, plain.clone()));

        // Plain values of other types, a lazy value consumed by a task and
        // returned, a value returned twice, and a nested tuple.
        let name = String::from("run");
        let out = rt
            .compute(graph! {
                let x = inc(1);
                let y = add(x, 10);
                let mut hits = 0;
                for i in 0..3 {
                    if i % 2 == 0 {
                        hits += 1;
                    }
                }
                (name, x, (hits, y), x, "end")
            })
            .unwrap();
        assert_eq!(out, ("run".to_string(), 2, (2, 12), 2, "end"));
    }
}
