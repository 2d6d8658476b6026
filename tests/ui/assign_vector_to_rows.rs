use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut rows = Vec::new();
        let row: Vec<_> = (0..3).map(|i| inc(i)).collect();
        rows.push(row);
        let flat: Vec<_> = (0..3).map(|i| inc(i)).collect();
        rows = flat;
        rows[0][0]
    });
}
