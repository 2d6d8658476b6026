use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

struct Point {
    x: i64,
    y: i64,
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let x = inc(1);
        let p = Point { x, y: 2 };
        inc(p.y)
    });
}
