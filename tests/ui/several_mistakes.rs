use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let n = 3;
    let mut count = 0;
    let _ = rt.compute(graph! {
        let x = inc(1);
        let y = x + 1;
        while n > 0 {}
        count += 1;
        inc(&x)
    });
}
