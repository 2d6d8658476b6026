use taskdag::{delayed, graph, Runtime};

#[delayed]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(inc(i));
        }
        tree_reduce(v, add)
    });
}
