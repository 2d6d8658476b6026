// A `loop` with no `break` never ends, and neither would the graph.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut x = inc(0);
        loop {
            x = inc(x);
        }
        x
    });
}
