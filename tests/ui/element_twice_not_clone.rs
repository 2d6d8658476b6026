// The same element of a vector returned twice: the second is a clone, so
// the element type must be `Clone`.
use taskdag::{delayed, graph, Runtime};

struct Matrix(Vec<f64>);

#[delayed]
fn load(i: u64) -> Matrix {
    Matrix(vec![i as f64])
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(load(i));
        }
        (v[0], v[0])
    });
}
