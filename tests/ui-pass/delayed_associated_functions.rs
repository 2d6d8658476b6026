//! `#[delayed]` on functions inside an `impl` block, one by one: a method
//! and an associated function that names `Self` get their signatures
//! checked and add nothing to the `impl`; `graph!` calls them as
//! expressions on lazy values.

use taskdag::{delayed, graph, Runtime};

#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    n: usize,
    sum: f64,
}

impl Stats {
    #[delayed]
    fn of(v: Vec<f64>) -> Self {
        Stats {
            n: v.len(),
            sum: v.iter().sum(),
        }
    }

    #[delayed]
    fn mean(&self) -> f64 {
        self.sum / self.n as f64
    }
}

#[delayed]
fn load(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

pub fn main() {
    let rt = Runtime::new(2).unwrap();
    let got = rt
        .compute(graph! {
            let v = load(5);
            let s = Stats::of(v);
            s.mean()
        })
        .unwrap();
    assert_eq!(got, Stats::of(load(5)).mean());
}
