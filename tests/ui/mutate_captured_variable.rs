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
    let mut count = 0;
    let _ = rt.compute(graph! {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(inc(i));
            count += 1;
        }
        sum(v)
    });
}
