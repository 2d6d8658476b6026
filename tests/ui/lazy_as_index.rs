use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let table = vec![1, 2, 3];
    let _ = rt.compute(graph! {
        let x = inc(1);
        inc(table[x])
    });
}
