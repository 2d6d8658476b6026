use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let p = true;
    let _ = rt.compute(graph! {
        let x = if p { inc(1) } else { 2 };
        x
    });
}
