use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let v: Vec<_> = (0..4).map(|i| inc(i)).collect();
        tree_reduce(v, inc)
    });
}
