use taskdag::{delayed, graph, Runtime};
#[delayed]
fn inc(x: i64) -> i64 { x + 1 }
#[delayed]
fn add(x: i64, y: i64) -> i64 { x + y }

#[test]
fn closure() {
    let rt = Runtime::new(2).unwrap();
    let s = rt.compute(graph! {
        let twice = |a| inc(inc(a));
        let x = inc(1);
        twice(x)
    }).unwrap();
    assert_eq!(s, 4);
}

#[test]
fn adapters() {
    let rt = Runtime::new(2).unwrap();
    let s = rt.compute(graph! {
        let level: Vec<_> = (0..8).map(|i| inc(i)).collect();
        let mut next = Vec::new();
        for (a, b) in level.iter().zip(level.iter().skip(1)).step_by(2) {
            next.push(add(*a, *b));
        }
        let mut w = Vec::new();
        for p in level.windows(2) {
            w.push(add(p[0], p[1]));
        }
        for x in level.iter().rev() {
            w.push(inc(*x));
        }
        (tree_reduce(next, add), tree_reduce(w, add))
    }).unwrap();
    assert_eq!(s.0, 36);
}
