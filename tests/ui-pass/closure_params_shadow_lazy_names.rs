//! Closure parameters (and `let`s inside closures) shadow lazy names: inside
//! the closure the name is plain.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

pub fn main() {
    let rt = Runtime::new(2).unwrap();
    let z = rt
        .compute(graph! {
            let x = inc(1);
            let doubled: Vec<i64> = (0..3).map(|x| x * 2).collect();
            let sum = doubled.iter().fold(0, |acc, x| acc + x);
            let scale = |x: i64| {
                let y = x * 10;
                y + 1
            };
            let ys: Vec<_> = (0..2).map(|x| inc(x)).collect();
            (add(x, sum + scale(1)), ys)
        })
        .unwrap();
    assert_eq!(z, (2 + 6 + 11, vec![1, 2]));
}
