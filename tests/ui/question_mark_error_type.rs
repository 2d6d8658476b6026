// `?` on a task whose error type is not an error: it must implement
// `std::error::Error` to be carried in the graph's `Error`.
use taskdag::{delayed, graph, Runtime};

#[derive(Debug)]
struct Bad;

#[delayed]
fn parse(x: i64) -> Result<i64, Bad> {
    if x > 0 { Ok(x) } else { Err(Bad) }
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let x = parse(1)?;
        x
    });
}
