use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let mut results = Vec::new();
    let _ = rt.compute(graph! {
        for i in 0..3 {
            results.push(inc(i));
        }
        inc(0)
    });
}
