//! Several parts of one graph on one instance (`Part::next`), as a block
//! runner runs consecutive blocks of a graph: the graph is built once, each
//! part runs only its nodes, values cross between parts as bytes, and the
//! result equals the sequential one.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use taskdag::{delayed, graph, Graph, Runtime};
use taskgraph_runtime::part::{Codec, Instance, NodeId, NodeRange, Part, Plan};
use taskgraph_runtime::Error;

/// How many times the graph's plain code ran.
static BUILT: AtomicUsize = AtomicUsize::new(0);
/// How many times each task ran, by name.
static INCS: AtomicUsize = AtomicUsize::new(0);
static DOUBLES: AtomicUsize = AtomicUsize::new(0);

#[delayed]
fn inc(x: i64) -> i64 {
    INCS.fetch_add(1, Ordering::Relaxed);
    x + 1
}

#[delayed]
fn double(x: i64) -> i64 {
    DOUBLES.fetch_add(1, Ordering::Relaxed);
    2 * x
}

#[delayed]
fn total(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

/// Plain code of the graph: runs where the graph is instantiated.
fn counted(n: i64) -> i64 {
    BUILT.fetch_add(1, Ordering::Relaxed);
    n
}

fn doubled(n: i64) -> impl Graph<Output = i64> {
    graph! {
        let mut v = Vec::new();
        for i in 0..counted(n) {
            let a = inc(i);
            v.push(double(a));
        }
        total(v)
    }
}

/// Runs `chunks` parts of `chunk` iterations each (`inc` and `double`),
/// then one part of `total` with every `double` injected.
struct Parts {
    codec: &'static dyn Codec,
    chunk: u32,
    chunks: u32,
    /// Parts planned so far.
    planned: AtomicUsize,
    /// The bytes of each `double`, then of `total`.
    doubles: Mutex<Vec<Vec<u8>>>,
    produced: Mutex<Vec<Option<Vec<u8>>>>,
    total: Mutex<Option<Vec<u8>>>,
}

fn family(graph: &Instance, name: &str) -> u32 {
    (0..graph.families())
        .find(|&f| graph.family_info(f).name == name && graph.family_len(f) > 0)
        .unwrap_or_else(|| panic!("no family {name}"))
}

impl Part for Parts {
    fn plan<'s>(&'s self, graph: &Instance) -> Result<Plan<'s>, Error> {
        let k = self.planned.fetch_add(1, Ordering::SeqCst) as u32;
        let (inc, double, total) = (
            family(graph, "inc"),
            family(graph, "double"),
            family(graph, "total"),
        );
        if k < self.chunks {
            let (lo, hi) = (k * self.chunk, (k + 1) * self.chunk);
            *self.produced.lock().unwrap() = vec![None; self.chunk as usize];
            return Ok(Plan {
                run: vec![
                    NodeRange {
                        family: inc,
                        lo,
                        hi,
                    },
                    NodeRange {
                        family: double,
                        lo,
                        hi,
                    },
                ],
                inject: Vec::new(),
                collect: (lo..hi).map(|i| NodeId::new(double, i)).collect(),
                take_outputs: false,
            });
        }
        let doubles = self.doubles.lock().unwrap().clone();
        Ok(Plan {
            run: vec![NodeRange {
                family: total,
                lo: 0,
                hi: 1,
            }],
            inject: doubles
                .into_iter()
                .enumerate()
                .map(|(i, b)| (NodeId::new(double, i as u32), Cow::Owned(b)))
                .collect(),
            collect: vec![NodeId::new(total, 0)],
            take_outputs: false,
        })
    }

    fn codec(&self) -> &dyn Codec {
        self.codec
    }

    fn produced(&self, position: usize, bytes: Vec<u8>) {
        if self.planned.load(Ordering::SeqCst) as u32 > self.chunks {
            *self.total.lock().unwrap() = Some(bytes);
        } else {
            self.produced.lock().unwrap()[position] = Some(bytes);
        }
    }

    fn next(&self) -> bool {
        let made = std::mem::take(&mut *self.produced.lock().unwrap());
        let mut doubles = self.doubles.lock().unwrap();
        for v in made {
            doubles.push(v.expect("a part made every value it collects"));
        }
        (self.planned.load(Ordering::SeqCst) as u32) <= self.chunks
    }
}

#[test]
fn parts_of_one_instance_run_each_node_once_and_pass_values_as_bytes() {
    let (n, chunk) = (64i64, 16u32);
    let g = doubled(n);
    let parts = Parts {
        codec: g.__codec().expect("i64 values travel"),
        chunk,
        chunks: n as u32 / chunk,
        planned: AtomicUsize::new(0),
        doubles: Mutex::new(Vec::new()),
        produced: Mutex::new(Vec::new()),
        total: Mutex::new(None),
    };
    let rt = Runtime::new(2).unwrap();
    assert!(g.__part(&rt, &parts).unwrap().is_none());
    // One instance: the graph's plain code ran once, five parts ran on it.
    assert_eq!(BUILT.load(Ordering::Relaxed), 1);
    assert_eq!(parts.planned.load(Ordering::SeqCst), 5);
    assert_eq!(INCS.load(Ordering::Relaxed), n as usize);
    assert_eq!(DOUBLES.load(Ordering::Relaxed), n as usize);
    let doubles = parts.doubles.lock().unwrap();
    let values: Vec<i64> = doubles
        .iter()
        .map(|b| postcard::from_bytes(b).unwrap())
        .collect();
    assert_eq!(values, (0..n).map(|i| 2 * (i + 1)).collect::<Vec<_>>());
    let total: i64 = postcard::from_bytes(parts.total.lock().unwrap().as_ref().unwrap()).unwrap();
    assert_eq!(total, (0..n).map(|i| 2 * (i + 1)).sum::<i64>());
}
