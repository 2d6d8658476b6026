// A closure given to `tree_reduce` that does more than call one binary
// task on its two arguments: the reduction is a tree of one function.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let v: Vec<_> = (0..4).map(|i| inc(i)).collect();
        let f = |a, b| add(inc(a), b);
        tree_reduce(v, f)
    });
}
