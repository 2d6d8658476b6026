use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn sum(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut v = Vec::new();
        for i in 0..3 {
            let x = inc(i);
            v.push(x);
            break x;
        }
        sum(v)
    });
}
