//! Property tests over random graph shapes: tasks around loops, several
//! loops, nested loops (rectangular and triangular), chains, reductions and
//! gathers, with sizes drawn at random (zero included), on 1, 2, 4 and 8
//! threads, fused and node by node, each against the same functions called
//! sequentially.

use std::sync::OnceLock;

use proptest::prelude::*;
use taskdag::{delayed, graph, Error, Runtime};

/// Affine maps `x -> a * x + b`: composition is associative but not
/// commutative, so any change of order or tree shape changes the result.
type Map = (u64, u64);

#[delayed]
fn lift(i: u64) -> Map {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, i ^ 0x5555)
}
#[delayed]
fn twist(m: Map) -> Map {
    (m.0.rotate_left(7) | 1, m.1.wrapping_add(m.0))
}
#[delayed]
fn compose(p: Map, q: Map) -> Map {
    (
        p.0.wrapping_mul(q.0),
        p.1.wrapping_mul(q.0).wrapping_add(q.1),
    )
}
#[delayed]
fn scale(m: Map, by: &Map) -> Map {
    compose(m, *by)
}
#[delayed]
fn digest(v: &[Map]) -> u64 {
    v.iter().fold(7, |h, m| {
        h.wrapping_mul(1_000_003) ^ m.0 ^ m.1.rotate_left(13)
    })
}
#[delayed]
fn fold(h: u64, m: Map) -> u64 {
    h.wrapping_mul(31) ^ m.0 ^ m.1
}
#[delayed]
fn cell(r: u64, c: u64) -> Map {
    lift(r * 1000 + c)
}

fn runtime(threads: usize, fuse: bool) -> &'static Runtime {
    static RTS: [OnceLock<Runtime>; 8] = [const { OnceLock::new() }; 8];
    let k = threads.trailing_zeros() as usize * 2 + fuse as usize;
    RTS[k].get_or_init(|| {
        Runtime::builder()
            .threads(threads)
            .fuse_loops(fuse)
            .build()
            .unwrap()
    })
}

/// The pairwise reduction of `tree_reduce`, sequentially.
fn pairwise(mut v: Vec<Map>) -> Option<Map> {
    while v.len() > 1 {
        let mut next = Vec::new();
        let mut it = v.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => compose(a, b),
                None => a,
            });
        }
        v = next;
    }
    v.pop()
}

#[derive(Clone, Debug)]
struct Sizes {
    a: u64,
    b: u64,
    rows: u64,
    cols: u64,
    chain: u64,
}

fn sizes() -> impl Strategy<Value = Sizes> {
    (1u64..60, 0u64..60, 0u64..9, 1u64..9, 0u64..40).prop_map(|(a, b, rows, cols, chain)| Sizes {
        a,
        b,
        rows,
        cols,
        chain,
    })
}

/// Shape 1: a task before a loop, a second loop reading a value made before
/// it, their reductions joined by a task after them, and a gather of the
/// second loop.
fn around(rt: &Runtime, s: &Sizes) -> Result<(Map, u64), Error> {
    let (a, b) = (s.a, s.b);
    rt.compute(graph! {
        let k = lift(a + b);
        let mut xs = Vec::new();
        for i in 0..a {
            let x = lift(i);
            let y = twist(x);
            xs.push(compose(x, y));
        }
        let ys: Vec<_> = (0..b).map(|i| scale(twist(lift(i)), k)).collect();
        let t = tree_reduce(xs, compose);
        let d = digest(ys);
        (compose(t, k), d)
    })
}

fn around_seq(s: &Sizes) -> Option<(Map, u64)> {
    let k = lift(s.a + s.b);
    let xs: Vec<Map> = (0..s.a).map(|i| compose(lift(i), twist(lift(i)))).collect();
    let ys: Vec<Map> = (0..s.b).map(|i| scale(twist(lift(i)), &k)).collect();
    Some((compose(pairwise(xs)?, k), digest(&ys)))
}

/// Shape 2: a rectangular nest feeding `tree_reduce`, a triangular nest
/// (node by node) gathered, and a vector read by a gather and a reduction.
fn nests(rt: &Runtime, s: &Sizes) -> Result<(Map, u64, (u64, Map)), Error> {
    let (rows, cols, a) = (s.rows, s.cols, s.a);
    rt.compute(graph! {
        let mut grid = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                grid.push(cell(r, c));
            }
        }
        let mut tri = Vec::new();
        for r in 0..rows {
            for c in 0..r {
                tri.push(cell(r, c));
            }
        }
        let v: Vec<_> = (0..a).map(|i| twist(lift(i))).collect();
        (tree_reduce(grid, compose), digest(tri), (digest(v), tree_reduce(v, compose)))
    })
}

fn nests_seq(s: &Sizes) -> Option<(Map, u64, (u64, Map))> {
    let grid: Vec<Map> = (0..s.rows)
        .flat_map(|r| (0..s.cols).map(move |c| cell(r, c)))
        .collect();
    let tri: Vec<Map> = (0..s.rows)
        .flat_map(|r| (0..r).map(move |c| cell(r, c)))
        .collect();
    let v: Vec<Map> = (0..s.a).map(|i| twist(lift(i))).collect();
    Some((pairwise(grid)?, digest(&tri), (digest(&v), pairwise(v)?)))
}

/// Shape 3: a chain in the middle of other work, whose result a loop reads,
/// and a chain fed by a reduction.
fn chains(rt: &Runtime, s: &Sizes) -> Result<(u64, Map), Error> {
    let (chain, a) = (s.chain, s.a);
    rt.compute(graph! {
        let start = lift(chain);
        let mut m = twist(start);
        for i in 0..chain {
            m = scale(m, start);
            let _ = i;
        }
        let v: Vec<_> = (0..a).map(|i| scale(lift(i), m)).collect();
        let r = tree_reduce(v, compose);
        let mut h = fold(0, r);
        for i in 0..chain {
            h = fold(h, lift(i));
        }
        (h, m)
    })
}

fn chains_seq(s: &Sizes) -> Option<(u64, Map)> {
    let start = lift(s.chain);
    let mut m = twist(start);
    for _ in 0..s.chain {
        m = scale(m, &start);
    }
    let v: Vec<Map> = (0..s.a).map(|i| scale(lift(i), &m)).collect();
    let mut h = fold(0, pairwise(v)?);
    for i in 0..s.chain {
        h = fold(h, lift(i));
    }
    Some((h, m))
}

fn check<T: PartialEq + std::fmt::Debug>(
    got: Result<T, Error>,
    want: Option<T>,
    what: &str,
) -> Result<(), TestCaseError> {
    match (got, want) {
        (Ok(g), Some(w)) => prop_assert_eq!(g, w, "{}", what),
        (Err(Error::EmptyReduce { .. }), None) => {}
        (g, w) => prop_assert!(
            false,
            "{}: got {:?}, want {:?}",
            what,
            g.map(|_| ()),
            w.is_some()
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_shapes_match_sequential_code(
        s in sizes(),
        threads in prop::sample::select(vec![1usize, 2, 4, 8]),
    ) {
        for fuse in [true, false] {
            let rt = runtime(threads, fuse);
            let what = format!("{threads} threads, fused {fuse}, {s:?}");
            check(around(rt, &s), around_seq(&s), &what)?;
            check(nests(rt, &s), nests_seq(&s), &what)?;
            check(chains(rt, &s), chains_seq(&s), &what)?;
        }
    }
}
