use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn pair(x: i64) -> (i64, i64) {
    (x, x)
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let (a, b) = pair(1);
        inc(a)
    });
}
