//! A variable named like a task function the graph calls earlier, as plain
//! Rust allows: the later `let sum` does not hide the function `sum`.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
#[delayed]
fn sum(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

pub fn main() {
    let rt = Runtime::new(2).unwrap();
    let z = rt
        .compute(graph! {
            let v: Vec<_> = (0..3).map(|i| inc(i)).collect();
            let total = sum(v);
            let sum = 4;
            let inc = add(total, sum);
            inc
        })
        .unwrap();
    assert_eq!(z, 6 + 4);
}
