use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut v: Vec<_> = (0..3).map(|i| inc(i)).collect();
        v[1] = 7;
        v[1]
    });
}
