use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let n = 3;
    let _ = rt.compute(graph! {
        let x = inc(1);
        (n, n + 1)
    });
}
