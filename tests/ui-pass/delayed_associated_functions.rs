//! `#[delayed]` on functions inside an `impl` block, one by one: a method,
//! an associated function that names `Self` and one that does not get
//! their signatures checked and add nothing to the `impl`; `graph!` calls
//! them as expressions on lazy values. A free function whose body has an `impl`
//! of its own naming `Self` is still a task.

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

    #[delayed]
    pub fn spread(v: &[f64]) -> f64 {
        v.iter().copied().fold(f64::MIN, f64::max) - v.iter().copied().fold(f64::MAX, f64::min)
    }
}

#[delayed]
fn load(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

#[delayed]
fn doubled_sum(v: Vec<f64>) -> f64 {
    struct Twice(f64);
    impl Twice {
        fn of(x: f64) -> Self {
            Twice(2.0 * x)
        }
    }
    Twice::of(v.iter().sum()).0
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
    let spread = rt
        .compute(graph! {
            let v = load(5);
            Stats::spread(&v)
        })
        .unwrap();
    assert_eq!(spread, 4.0);
    let twice = rt
        .compute(graph! {
            let v = load(4);
            doubled_sum(v)
        })
        .unwrap();
    assert_eq!(twice, 12.0);
}
