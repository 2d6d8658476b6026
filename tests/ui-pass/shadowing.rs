//! A name goes from lazy to plain and back; each use sees the binding in scope.
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
            let y = add(x, 1);
            let x = 5;
            let y2 = add(y, x + 1);
            let x = inc(y2);
            x
        })
        .unwrap();
    assert_eq!(z, (2 + 1) + 6 + 1);

    // A loop variable shadows a lazy name inside the loop only.
    let z = rt
        .compute(graph! {
            let i = inc(100);
            let mut v = Vec::new();
            for i in 0..3 {
                v.push(inc(i * 2));
            }
            (add(i, 0), v)
        })
        .unwrap();
    assert_eq!(z, (101, vec![1, 3, 5]));

    // A lazy name inside a loop body shadows a plain one only there.
    let k = 10;
    let z = rt
        .compute(graph! {
            let mut v = Vec::new();
            for i in 0..2 {
                let k = inc(i);
                v.push(k);
            }
            v.push(inc(k));
            v
        })
        .unwrap();
    assert_eq!(z, vec![1, 2, 11]);
}
