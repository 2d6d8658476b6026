//! Plain Rust between the tasks runs as written when the graph is built:
//! `if` and `match` expressions, loops, blocks, `?` and `return` inside
//! closures, structs, macros, mutation of variables bound inside the graph,
//! plain functions called inside a block, closures called like functions,
//! a vector filled with plain values and passed to a task.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn total(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

fn double(x: i64) -> i64 {
    2 * x
}

struct Point {
    x: i64,
    y: i64,
}

pub fn main() {
    let rt = Runtime::new(2).unwrap();
    let n = 4;
    let text = "7";
    let z = rt
        .compute(graph! {
            let k = if n > 2 { 1 } else { 2 };
            let m = match n {
                0 => 0,
                _ => n * 2,
            };
            let mut count = 0;
            for _ in 0..n {
                count += 1;
            }
            let j = {
                let mut j = 0;
                while j < 3 {
                    j += 1;
                }
                j
            };
            let parsed = (|| -> Result<i64, std::num::ParseIntError> { Ok(text.parse::<i64>()? + 1) })();
            let first_even = (0..10).find(|i| {
                if i % 2 == 0 {
                    return *i > 0;
                }
                false
            });
            let twice = |a: i64| a * 2;
            let t = twice(3);
            let d = { double(t) };
            let p = Point { x: k, y: m + d - 12 };
            let label = format!("{}-{}", p.x, p.y);
            let mut n = n;
            n += 1;
            let mut plain = Vec::new();
            for i in 0..3 {
                plain.push(i);
            }
            plain.extend([10, 20]);
            let mut late;
            late = 3;
            late += label.len() as i64;
            (inc(count), inc(parsed.unwrap()), inc(first_even.unwrap()), inc(n), inc(late), inc(j), total(plain))
        })
        .unwrap();
    assert_eq!(z, (5, 9, 3, 6, 7, 4, 33));
}
