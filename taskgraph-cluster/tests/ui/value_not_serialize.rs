// A task's value without `Serialize`: fine on a local runtime, an error
// where the graph is sent to a cluster.
use taskdag::cluster::Dask;
use taskdag::{delayed, graph, Runtime};

#[derive(Clone, Debug)]
struct Reading {
    value: f64,
}

#[delayed]
fn load(i: u32) -> Reading {
    Reading { value: f64::from(i) }
}

#[delayed]
fn total(readings: Vec<Reading>) -> f64 {
    readings.iter().map(|r| r.value).sum()
}

fn main() {
    Dask::worker_entry();
    let rt = Runtime::new(2).unwrap();
    let local = rt
        .compute(graph! {
            let rs: Vec<_> = (0..10).map(|i| load(i)).collect();
            total(rs)
        })
        .unwrap();
    let cluster = Dask::local(2, 1).unwrap();
    let remote = cluster
        .compute(10, |n: u32| {
            graph! {
                let rs: Vec<_> = (0..n).map(|i| load(i)).collect();
                total(rs)
            }
        })
        .unwrap();
    assert_eq!(local, remote);
}
