use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut v = Vec::new();
        'rows: for i in 0..3 {
            for j in 0..3 {
                v.push(inc(i * j));
                break 'rows;
            }
        }
        v
    });
}
