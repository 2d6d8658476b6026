use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn count(v: Vec<Vec<i64>>) -> usize {
    v.len()
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut rows = Vec::new();
        for r in 0..3 {
            let row: Vec<_> = (0..3).map(|c| inc(r + c)).collect();
            rows.push(row);
        }
        count(rows)
    });
}
