// A misspelled task in a module: rustc's unresolved import, with its
// suggestion of the function meant, in the user's terms.
use taskdag::{graph, Runtime};

mod ops {
    use taskdag::delayed;

    #[delayed]
    pub fn double(x: i64) -> i64 {
        2 * x
    }
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        ops::doubel(1)
    });
}
