//! Property tests: graphs whose shape comes from random plain data, on 1, 2,
//! 4 and 8 threads, against the same functions called sequentially.

use std::sync::OnceLock;

use proptest::prelude::*;
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn seed(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555
}
#[delayed]
fn mix(s: u64, j: u64) -> u64 {
    (s ^ j).wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(17)
}
/// The affine map `x -> a * x + b` for a row's value.
#[delayed]
fn lift(s: &u64) -> (u64, u64) {
    (s | 1, s >> 7)
}
/// Composition of affine maps (first `p`, then `q`): associative but not
/// commutative, so the tree must keep left-to-right order.
#[delayed]
fn compose(p: (u64, u64), q: (u64, u64)) -> (u64, u64) {
    (
        p.0.wrapping_mul(q.0),
        p.1.wrapping_mul(q.0).wrapping_add(q.1),
    )
}
#[delayed]
fn digest(v: &[u64]) -> u64 {
    v.iter().fold(7, |h, x| h.wrapping_mul(1_000_003) ^ x)
}
#[delayed]
fn label(s: &u64) -> String {
    format!("{:x}", s % 4096)
}
#[delayed]
fn join(a: String, b: String) -> String {
    a + "," + &b
}

fn runtime(threads: usize) -> &'static Runtime {
    static RTS: [OnceLock<Runtime>; 4] = [const { OnceLock::new() }; 4];
    let k = threads.trailing_zeros() as usize;
    RTS[k].get_or_init(|| Runtime::new(threads).unwrap())
}

/// The same program, run eagerly.
fn sequential(sizes: &[usize], repeats: &[usize]) -> ((u64, u64), u64, String) {
    let mut rows = Vec::new();
    let mut picked = Vec::new();
    for (i, len) in sizes.iter().enumerate() {
        let mut s = seed(i as u64);
        for j in 0..*len {
            s = mix(s, j as u64);
        }
        rows.push(s);
        for _ in 0..repeats[i] {
            picked.push(s);
        }
    }
    let labels: Vec<String> = rows.iter().map(label).collect();
    let h = rows.iter().map(lift).reduce(compose).unwrap();
    let l = labels.into_iter().reduce(join).unwrap();
    (h, digest(&picked), l)
}

fn parallel(rt: &Runtime, sizes: Vec<usize>, repeats: Vec<usize>) -> ((u64, u64), u64, String) {
    rt.compute(graph! {
        let mut rows = Vec::new();
        let mut picked = Vec::new();
        for (i, len) in sizes.iter().enumerate() {
            let mut s = seed(i as u64);
            for j in 0..*len {
                s = mix(s, j as u64);
            }
            rows.push(s);
            for _ in 0..repeats[i] {
                picked.push(s);
            }
        }
        let labels: Vec<_> = rows.iter().map(|r| label(r)).collect();
        let maps: Vec<_> = rows.iter().map(|r| lift(r)).collect();
        (tree_reduce(maps, compose), digest(picked), tree_reduce(labels, join))
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_shapes_match_the_sequential_run(
        sizes in prop::collection::vec(0usize..40, 1..60),
        repeat_seed in any::<u64>(),
        threads in prop::sample::select(vec![1usize, 2, 4, 8]),
    ) {
        let repeats: Vec<usize> = (0..sizes.len()).map(|i| ((repeat_seed >> (i % 60)) & 3) as usize).collect();
        let expected = sequential(&sizes, &repeats);
        let got = parallel(runtime(threads), sizes, repeats);
        prop_assert_eq!(got, expected);
    }
}

#[delayed]
fn show(i: u32) -> String {
    format!("{i}")
}
/// Shows the shape of the reduction tree.
#[delayed]
fn pair(a: String, b: String) -> String {
    format!("({a} {b})")
}

fn unfused(threads: usize) -> &'static Runtime {
    static RTS: [OnceLock<Runtime>; 4] = [const { OnceLock::new() }; 4];
    let k = threads.trailing_zeros() as usize;
    RTS[k].get_or_init(|| {
        Runtime::builder()
            .threads(threads)
            .fuse_loops(false)
            .build()
            .unwrap()
    })
}

/// The pairwise tree of `tree_reduce`, level by level, sequentially.
fn pairwise(mut v: Vec<String>) -> String {
    while v.len() > 1 {
        let mut next = Vec::new();
        let mut it = v.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => format!("({a} {b})"),
                None => a,
            });
        }
        v = next;
    }
    v.pop().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fused_and_node_by_node_build_the_same_tree(
        n in 1u32..300,
        threads in prop::sample::select(vec![1usize, 2, 4, 8]),
    ) {
        let run = |rt: &Runtime| rt.compute(graph! {
            let v: Vec<_> = (0..n).map(|i| show(i)).collect();
            tree_reduce(v, pair)
        }).unwrap();
        let expected = pairwise((0..n).map(|i| i.to_string()).collect());
        prop_assert_eq!(run(runtime(threads)), expected.clone());
        prop_assert_eq!(run(unfused(threads)), expected);
    }
}

#[delayed]
fn shout(i: u32) -> String {
    format!("{i}!")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// A reduction over a vector of several pieces (runs of values from two
    /// call sites, of random lengths, so that pairs straddle their bounds):
    /// node by node, its levels are added a run of pairs at a time where
    /// the pairs are consecutive nodes, one pair at a time elsewhere.
    #[test]
    fn a_tree_over_pieces_of_two_call_sites_matches_the_sequential_tree(
        chunks in prop::collection::vec((any::<bool>(), 0u32..9), 1..12),
        threads in prop::sample::select(vec![1usize, 2, 4, 8]),
    ) {
        prop_assume!(chunks.iter().any(|&(_, len)| len > 0));
        let run = |rt: &Runtime, chunks: &[(bool, u32)]| rt.compute(graph! {
            let mut v = Vec::new();
            for (k, &(loud, len)) in chunks.iter().enumerate() {
                for j in 0..len {
                    let i = 100 * k as u32 + j;
                    if loud {
                        v.push(shout(i));
                    } else {
                        v.push(show(i));
                    }
                }
            }
            tree_reduce(v, pair)
        }).unwrap();
        let leaves = chunks
            .iter()
            .enumerate()
            .flat_map(|(k, &(loud, len))| {
                (0..len).map(move |j| {
                    let i = 100 * k as u32 + j;
                    if loud { format!("{i}!") } else { i.to_string() }
                })
            })
            .collect();
        let expected = pairwise(leaves);
        prop_assert_eq!(run(unfused(threads), &chunks), expected.clone());
        prop_assert_eq!(run(runtime(threads), &chunks), expected);
    }

    /// A reduction per iteration of a loop, then one over their results,
    /// with rows of random lengths: each row's tree is its own.
    #[test]
    fn a_tree_reduce_per_loop_iteration_matches_the_sequential_trees(
        lens in prop::collection::vec(1u32..30, 1..20),
        threads in prop::sample::select(vec![1usize, 2, 4, 8]),
    ) {
        let run = |rt: &Runtime, lens: &[u32]| rt.compute(graph! {
            let mut rows = Vec::new();
            for (i, len) in lens.iter().enumerate() {
                let v: Vec<_> = (0..*len).map(|j| show(1000 * i as u32 + j)).collect();
                rows.push(tree_reduce(v, pair));
            }
            tree_reduce(rows, pair)
        }).unwrap();
        let expected = pairwise(
            lens.iter()
                .enumerate()
                .map(|(i, len)| pairwise((0..*len).map(|j| (1000 * i as u32 + j).to_string()).collect()))
                .collect(),
        );
        prop_assert_eq!(run(runtime(threads), &lens), expected.clone());
        prop_assert_eq!(run(unfused(threads), &lens), expected);
    }
}

/// One step of a random program over a vector of lazy values `v` and rows
/// of them, interpreted inside `graph!` by a loop over the steps (the
/// program is plain data, so it gives the graph its shape).
#[derive(Clone, Copy, Debug)]
enum Step {
    /// `v[i] = mix(v[i], v[k])`: an in-place update.
    Update(usize, usize),
    /// `rows.push(&v[..])`: a copy of `v` as a new row.
    Push,
    /// `rows[r][c] = mix(rows[r][c], v[k])`.
    RowUpdate(usize, usize, usize),
    /// `sums.push(tree_reduce(&rows[r], mix))` (or over `v`).
    Reduce(usize),
    /// `v[i] = twice(v[i], v[k])`, `twice` a closure over lazy values.
    Closure(usize, usize),
    /// `sums.push(tree_reduce(&rows[r], f))` (or over `v`), `f` a closure
    /// named without a call.
    ReduceWith(usize),
    /// `sums.push(digest(&rows[r]))` (or of `v`): a row passed whole.
    Digest(usize),
    /// `sums.push(mix(*a, *b))` for each pair of
    /// `v.iter().zip(v.iter().skip(1)).step_by(2)`.
    Pairs,
    /// `v` becomes the sums of its pairs, by a `while` loop: shorter.
    Halve,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(i, k)| Step::Update(i, k)),
        Just(Step::Push),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(r, c, k)| Step::RowUpdate(r, c, k)),
        any::<usize>().prop_map(Step::Reduce),
        (any::<usize>(), any::<usize>()).prop_map(|(i, k)| Step::Closure(i, k)),
        any::<usize>().prop_map(Step::ReduceWith),
        any::<usize>().prop_map(Step::Digest),
        Just(Step::Pairs),
        Just(Step::Halve),
    ]
}

/// The closure the programs call, sequentially.
fn twice(a: u64, b: u64) -> u64 {
    mix(mix(a, b), b)
}

/// `tree_reduce`'s pairwise tree with `mix`, sequentially.
fn tree(v: &[u64]) -> u64 {
    let mut l = v.to_vec();
    while l.len() > 1 {
        l = l
            .chunks(2)
            .map(|p| if p.len() == 2 { mix(p[0], p[1]) } else { p[0] })
            .collect();
    }
    l[0]
}

/// The program run eagerly: the persisted values, the steps, then the
/// notebook's `while` loop over what is left.
fn run_steps_sequentially(n: u64, steps: &[Step]) -> (u64, u64) {
    let mut v: Vec<u64> = (0..n).map(seed).collect();
    let mut rows: Vec<Vec<u64>> = Vec::new();
    let mut sums = Vec::new();
    for s in steps {
        match *s {
            Step::Update(i, k) => {
                let (i, k) = (i % v.len(), k % v.len());
                v[i] = mix(v[i], v[k]);
            }
            Step::Push => rows.push(v.clone()),
            Step::RowUpdate(r, c, k) => {
                if !rows.is_empty() {
                    let r = r % rows.len();
                    let (c, k) = (c % rows[r].len(), k % v.len());
                    rows[r][c] = mix(rows[r][c], v[k]);
                }
            }
            Step::Reduce(r) | Step::ReduceWith(r) => {
                if rows.is_empty() {
                    sums.push(tree(&v));
                } else {
                    sums.push(tree(&rows[r % rows.len()]));
                }
            }
            Step::Closure(i, k) => {
                let (i, k) = (i % v.len(), k % v.len());
                v[i] = twice(v[i], v[k]);
            }
            Step::Digest(r) => {
                if rows.is_empty() {
                    sums.push(digest(&v));
                } else {
                    sums.push(digest(&rows[r % rows.len()]));
                }
            }
            Step::Pairs => {
                for (a, b) in v.iter().zip(v.iter().skip(1)).step_by(2) {
                    sums.push(mix(*a, *b));
                }
            }
            Step::Halve => {
                let mut new_v = Vec::new();
                let mut k = 0;
                while k + 1 < v.len() {
                    new_v.push(mix(v[k], v[k + 1]));
                    k += 2;
                }
                if k < v.len() {
                    new_v.push(v[k]);
                }
                v = new_v;
            }
        }
    }
    sums.push(tree(&v));
    let mut l = v;
    while l.len() > 1 {
        let mut new_l = Vec::new();
        for i in (0..l.len()).step_by(2) {
            if i + 1 < l.len() {
                new_l.push(mix(l[i], l[i + 1]));
            } else {
                new_l.push(l[i]);
            }
        }
        l = new_l;
    }
    (l[0], tree(&sums))
}

fn run_steps(rt: &Runtime, n: u64, steps: &[Step]) -> (u64, u64) {
    let zs = rt.spawn(graph! {
        let zs: Vec<_> = (0..n).map(|i| seed(i)).collect();
        zs
    });
    rt.compute(graph! {
        let mut v = &zs;
        let mut rows = Vec::new();
        let mut sums = Vec::new();
        let twice = |a, b| mix(mix(a, b), b);
        let f = |a, b| mix(a, b);
        for s in steps.iter() {
            match *s {
                Step::Update(i, k) => {
                    let (i, k) = (i % v.len(), k % v.len());
                    v[i] = mix(v[i], v[k]);
                }
                Step::Push => rows.push(&v[..]),
                Step::RowUpdate(r, c, k) => {
                    if !rows.is_empty() {
                        let r = r % rows.len();
                        let (c, k) = (c % rows[r].len(), k % v.len());
                        rows[r][c] = mix(rows[r][c], v[k]);
                    }
                }
                Step::Reduce(r) => {
                    if rows.is_empty() {
                        sums.push(tree_reduce(&v[..], mix));
                    } else {
                        sums.push(tree_reduce(&rows[r % rows.len()], mix));
                    }
                }
                Step::Closure(i, k) => {
                    let (i, k) = (i % v.len(), k % v.len());
                    v[i] = twice(v[i], v[k]);
                }
                Step::ReduceWith(r) => {
                    if rows.is_empty() {
                        sums.push(tree_reduce(&v[..], f));
                    } else {
                        sums.push(tree_reduce(&rows[r % rows.len()], f));
                    }
                }
                Step::Digest(r) => {
                    if rows.is_empty() {
                        sums.push(digest(&v[..]));
                    } else {
                        sums.push(digest(&rows[r % rows.len()]));
                    }
                }
                Step::Pairs => {
                    for (a, b) in v.iter().zip(v.iter().skip(1)).step_by(2) {
                        sums.push(mix(*a, *b));
                    }
                }
                Step::Halve => {
                    let mut new_v = Vec::new();
                    let mut k = 0;
                    while k + 1 < v.len() {
                        new_v.push(mix(v[k], v[k + 1]));
                        k += 2;
                    }
                    if k < v.len() {
                        new_v.push(v[k]);
                    }
                    v = new_v;
                }
            }
        }
        sums.push(tree_reduce(&v[..], mix));
        let mut l = &v[..];
        while l.len() > 1 {
            let mut new_l = Vec::new();
            for i in (0..l.len()).step_by(2) {
                if i + 1 < l.len() {
                    new_l.push(mix(l[i], l[i + 1]));
                } else {
                    new_l.push(l[i]);
                }
            }
            l = new_l;
        }
        (l[0], tree_reduce(sums, mix))
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random programs of in-place updates, rows of a vector of vectors
    /// (indexed, updated, reduced and passed whole), `tree_reduce` inside
    /// a loop (with a function or a closure), closures, iterator adaptors,
    /// and `while` loops over the persisted values (halving them, and the
    /// notebook's at the end), fused and node by node, against the same
    /// program run sequentially.
    #[test]
    fn random_programs_of_updates_rows_and_reductions_match_the_sequential_run(
        n in 1u64..40,
        steps in prop::collection::vec(step(), 0..40),
        threads in prop::sample::select(vec![1usize, 2, 4]),
    ) {
        let expected = run_steps_sequentially(n, &steps);
        prop_assert_eq!(run_steps(runtime(threads), n, &steps), expected);
        prop_assert_eq!(run_steps(unfused(threads), n, &steps), expected);
    }
}

/// Takes its gathered values by value: every reader but the last gets
/// clones.
#[delayed]
fn owned_digest(v: Vec<u64>) -> u64 {
    v.iter().fold(11, |h, x| h.wrapping_mul(1_000_033) ^ x)
}

/// Each step's tasks gather ranges of the step before, chosen by `ranges`
/// (one `(lo, len, by_value)` a task): runs of consecutive tasks that read
/// the same range share one producer-side rule, others do not.
fn gathers(rt: &Runtime, w: usize, ranges: &[Vec<(usize, usize, bool)>]) -> Vec<u64> {
    rt.compute(graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| seed(i)).collect();
        for step in ranges {
            let mut next = Vec::new();
            for &(lo, len, by_value) in step {
                let (lo, hi) = (lo % w, (lo % w + len).min(w));
                if by_value {
                    next.push(owned_digest(cur[lo..hi].to_vec()));
                } else {
                    next.push(digest(&cur[lo..hi]));
                }
            }
            while next.len() < w {
                next.push(seed(next.len() as u64));
            }
            cur = next;
        }
        cur
    })
    .unwrap()
}

fn gathers_sequentially(w: usize, ranges: &[Vec<(usize, usize, bool)>]) -> Vec<u64> {
    let mut cur: Vec<u64> = (0..w as u64).map(seed).collect();
    for step in ranges {
        let mut next = Vec::new();
        for &(lo, len, by_value) in step {
            let (lo, hi) = (lo % w, (lo % w + len).min(w));
            next.push(match by_value {
                true => owned_digest(cur[lo..hi].to_vec()),
                false => digest(&cur[lo..hi]),
            });
        }
        while next.len() < w {
            next.push(seed(next.len() as u64));
        }
        cur = next;
    }
    cur
}

/// A step's gathers: runs of tasks reading the same range.
fn gather_step() -> impl Strategy<Value = Vec<(usize, usize, bool)>> {
    prop::collection::vec((0usize..12, 0usize..12, any::<bool>(), 1usize..5), 0..6).prop_map(
        |runs| {
            runs.into_iter()
                .flat_map(|(lo, len, by_value, n)| std::iter::repeat_n((lo, len, by_value), n))
                .collect()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Tasks gathering ranges (`&cur[lo..hi]`, and `cur[lo..hi].to_vec()` by
    /// value), many of them the same range one after another, fused and
    /// node by node, against the same program run sequentially.
    #[test]
    fn tasks_gathering_the_same_ranges_match_the_sequential_run(
        w in 1usize..12,
        ranges in prop::collection::vec(gather_step(), 0..6),
        threads in prop::sample::select(vec![1usize, 2, 4]),
    ) {
        let expected = gathers_sequentially(w, &ranges);
        prop_assert_eq!(gathers(runtime(threads), w, &ranges), expected.clone());
        prop_assert_eq!(gathers(unfused(threads), w, &ranges), expected);
    }
}
