//! Lazy variables named like plain functions, including one the graph has
//! just called in plain code; a module whose name the generated code could
//! have taken.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn sum(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

fn scale(x: i64) -> i64 {
    x * 3
}

#[allow(dead_code)]
fn total() -> i64 {
    0
}

mod c0 {
    pub fn one() -> i64 {
        1
    }
}

pub fn main() {
    let rt = Runtime::new(2).unwrap();
    let z = rt
        .compute(graph! {
            let k = 2 * scale(c0::one());
            let scale = inc(k);
            let v: Vec<_> = (0..3).map(|i| inc(i)).collect();
            let total = sum(v);
            (inc(scale), inc(total))
        })
        .unwrap();
    assert_eq!(z, (8, 7));
}
