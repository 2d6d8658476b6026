use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let mut count = 0;
    let _ = rt.compute(graph! {
        let x = inc(1);
        while x > 0 {}
        for _ in 0..x {}
        count += 1;
        inc(&x)
    });
}
