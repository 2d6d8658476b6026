use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn word(n: usize) -> String {
    "w".repeat(n)
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let x = inc(1);
        while x > 0 {}
        let s = word(x);
        (x, s)
    });
}
