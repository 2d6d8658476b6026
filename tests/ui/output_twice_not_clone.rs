use taskdag::{delayed, graph, Runtime};

struct Matrix(Vec<f64>);

#[delayed]
fn load() -> Matrix {
    Matrix(vec![1.0])
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let m = load();
        (m, m)
    });
}
