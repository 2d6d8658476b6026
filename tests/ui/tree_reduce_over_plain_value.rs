use taskdag::{delayed, graph, Runtime};

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let total = 10_i64;
    let _ = rt.compute(graph! {
        tree_reduce(total, add)
    });
}
