use std::rc::Rc;
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    // The graph's plain code holds `shared` until the graph has run: it
    // must be `Send`, even for `compute`.
    let _ = rt.compute(graph! {
        let shared = Rc::new(1);
        inc(*shared)
    });
}
