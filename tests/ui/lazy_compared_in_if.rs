// A lazy value compared in an `if`: the shape cannot depend on it.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let x = inc(1);
        let y = if x > 3 { inc(x) } else { inc(0) };
        y
    });
}
