use taskdag::{delayed, graph, Runtime};

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let both = |a, b| add(a, b);
        both(1)
    });
}
