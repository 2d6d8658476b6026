// A graph function that captures a variable: it would not travel with the
// graph, so it does not compile; the compiler names the variable.
use taskdag::cluster::Dask;
use taskdag::{delayed, graph};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    Dask::worker_entry();
    let offset: i64 = std::env::var("OFFSET").unwrap().parse().unwrap();
    let cluster = Dask::local(2, 1).unwrap();
    let x = cluster.compute(1, |x: i64| graph! { inc(x + offset) }).unwrap();
    assert_eq!(x, 2 + offset);
}
