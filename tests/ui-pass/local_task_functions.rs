//! `#[delayed]` functions defined inside the function that builds the
//! graph, and inside the graph itself, as doctests and small programs do.
use taskdag::{delayed, graph, Runtime};

pub fn main() {
    #[delayed]
    fn inc(x: i64) -> i64 {
        x + 1
    }

    let rt = Runtime::new(2).unwrap();
    let z = rt
        .compute(graph! {
            #[delayed]
            fn twice(x: i64) -> i64 {
                2 * x
            }
            let x = inc(1);
            twice(x)
        })
        .unwrap();
    assert_eq!(z, 4);
}
