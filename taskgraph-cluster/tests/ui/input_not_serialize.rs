// A graph's input without `Serialize`: it must travel with the graph.
use taskdag::cluster::Dask;
use taskdag::{delayed, graph};

#[derive(Clone, Debug)]
struct Settings {
    n: u32,
}

#[delayed]
fn load(i: u32) -> f64 {
    f64::from(i)
}

fn main() {
    Dask::worker_entry();
    let cluster = Dask::local(2, 1).unwrap();
    let total = cluster
        .compute(Settings { n: 10 }, |s: Settings| {
            graph! {
                let xs: Vec<_> = (0..s.n).map(|i| load(i)).collect();
                xs
            }
        })
        .unwrap();
    assert_eq!(total.len(), 10);
}
