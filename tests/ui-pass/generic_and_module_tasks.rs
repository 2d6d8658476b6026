//! Generic `#[delayed]` functions, types with lifetimes in their signature,
//! and tasks called through module paths keep compiling with the
//! signature checks `#[delayed]` adds.
use std::sync::Arc;
use taskdag::{delayed, graph, Runtime};

mod ops {
    use taskdag::delayed;

    #[delayed]
    pub fn twice<T: Clone + Send + Sync>(x: T) -> (T, T) {
        (x.clone(), x)
    }
}

#[delayed]
fn shared(n: usize) -> Arc<Vec<i64>> {
    Arc::new((0..n as i64).collect())
}
#[delayed]
fn total(v: &Arc<Vec<i64>>, words: &'static str) -> i64 {
    v.iter().sum::<i64>() + words.len() as i64
}
#[delayed]
fn longest<'a>(a: &'a str, b: &str) -> usize {
    a.len().max(b.len())
}

pub fn main() {
    let rt = Runtime::new(2).unwrap();
    let z = rt
        .compute(graph! {
            let v = shared(4);
            let t = total(v, "ab");
            let p = ops::twice(t);
            (p, longest("abc", "de"))
        })
        .unwrap();
    assert_eq!(z, ((8, 8), 3));
}
