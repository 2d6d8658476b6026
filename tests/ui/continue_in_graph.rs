use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut v = Vec::new();
        for i in 0..3 {
            continue;
            v.push(inc(i));
        }
        v
    });
}
