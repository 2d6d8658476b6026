use taskdag::{delayed, graph, Runtime};

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let values: Vec<i64> = (0..10).collect();
    let _ = rt.compute(graph! {
        let mut sums = Vec::new();
        for _ in 0..3 {
            sums.push(tree_reduce(&values, add));
        }
        sums
    });
}
