use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let n = 3;
    let _ = rt.compute(graph! {
        let mut x = inc(0);
        while n > 0 {
            x = inc(x);
        }
        x
    });
}
