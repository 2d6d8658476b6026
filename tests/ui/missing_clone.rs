use taskdag::{delayed, graph, Runtime};

struct Matrix(Vec<f64>);

#[delayed]
fn load() -> Matrix {
    Matrix(vec![1.0])
}
#[delayed]
fn trace(m: Matrix) -> f64 {
    m.0[0]
}
#[delayed]
fn add(a: f64, b: f64) -> f64 {
    a + b
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let m = load();
        add(trace(m), trace(m))
    });
}
