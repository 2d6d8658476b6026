//! Whether a graph's values can travel between machines is known where the
//! graph is written: every `graph!` is an ordinary `Graph`, and one whose
//! task values are all `Serialize + Deserialize` carries their codec, so a
//! function returning `impl Graph<Output = T>` can be sent to a cluster.
//! A graph with a value that cannot travel names the value types instead:
//! `Dask::spawn` and `Dask::compute` return that as an `Error::Cluster`
//! before anything is sent (see `codec_of`).

use serde::{Deserialize, Serialize};
use taskdag::{delayed, graph, Graph, Runtime};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Travels(u32);

#[derive(Clone, Debug, PartialEq)]
struct Stays(u32);

#[delayed]
fn travels(i: u32) -> Travels {
    Travels(i)
}

#[delayed]
fn stays(i: u32) -> Stays {
    Stays(i)
}

#[delayed]
fn sum_travels(v: Vec<Travels>) -> u32 {
    v.iter().map(|t| t.0).sum()
}

#[delayed]
fn sum_stays(v: Vec<Stays>) -> u32 {
    v.iter().map(|t| t.0).sum()
}

fn sendable(n: u32) -> impl Graph<Output = u32> {
    graph! {
        let v: Vec<_> = (0..n).map(|i| travels(i)).collect();
        sum_travels(v)
    }
}

fn local_only(n: u32) -> impl Graph<Output = u32> {
    graph! {
        let mut v = Vec::new();
        for i in 0..n {
            v.push(stays(i));
        }
        sum_stays(v)
    }
}

#[test]
fn a_graph_of_serde_values_carries_their_codec() {
    let g = sendable(4);
    let codec = g.__codec().expect("every value is Serialize + Deserialize");
    assert!(
        (0..4).any(|f| codec.type_name(f).is_some_and(|t| t.ends_with("Travels"))),
        "the codec knows the family of `travels`"
    );
    assert_eq!(Runtime::new(2).unwrap().compute(g).unwrap(), 6);
}

#[test]
fn a_graph_with_a_value_that_cannot_travel_names_it() {
    let g = local_only(4);
    let types = g.__codec().err().expect("`Stays` is not Serialize");
    assert!(types.contains("Stays"), "{types}");
    // Still an ordinary graph on one machine.
    assert_eq!(Runtime::new(2).unwrap().compute(g).unwrap(), 6);
}
