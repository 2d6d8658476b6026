//! Loops and maps over a vector of lazy values: the element is lazy.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn square(x: &i64) -> i64 {
    x * x
}
#[delayed]
fn sum(v: &[i64]) -> i64 {
    v.iter().sum()
}

pub fn main() {
    let rt = Runtime::new(2).unwrap();
    let z = rt
        .compute(graph! {
            let v: Vec<_> = (0..4).map(|i| inc(i)).collect();
            let mut a = Vec::new();
            for x in v.iter() {
                a.push(square(x));
            }
            let mut b = Vec::new();
            for &x in &v {
                b.push(inc(x));
            }
            let c: Vec<_> = v.iter().copied().map(|x| inc(x)).collect();
            let n = v.len();
            (sum(a), sum(b), sum(c), inc(n as i64))
        })
        .unwrap();
    assert_eq!(z, (1 + 4 + 9 + 16, 2 + 3 + 4 + 5, 2 + 3 + 4 + 5, 5));
}
