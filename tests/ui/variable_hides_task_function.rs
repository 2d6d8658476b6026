use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
#[delayed]
fn sum(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let v: Vec<_> = (0..3).map(|i| inc(i)).collect();
        let total = sum(v);
        let sum = 4;
        add(total, sum)
    });
}
