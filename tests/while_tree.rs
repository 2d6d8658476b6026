//! The pairwise `while` tree (`while level.len() > 1 { .. pairs .. }`) runs
//! as the `tree_reduce` it is: the same values (the same pairs, for a
//! combine that is neither commutative nor associative), the same task
//! names and indices in errors, fused or not, as the loop run as written
//! (a labelled loop is left as written). Fused, the tree is computed in the
//! blocks of the loop that makes its leaves, which leaves `level` as the
//! `while` loop does: empty, or its one value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use taskdag::observe::{FamilyKind, Observer, RunStarted};
use taskdag::{delayed, graph, Error, Runtime};

#[delayed]
fn leaf(i: u64) -> u64 {
    i * 7 + 1
}

/// The left operand `mix` panics at (`u64::MAX`: none). Only
/// `a_panic_in_the_while_tree_names_the_round_and_pair` sets it.
static BAD: AtomicU64 = AtomicU64::new(u64::MAX);

/// Neither commutative nor associative; panics when its left operand is
/// `BAD`.
#[delayed]
fn mix(a: u64, b: u64) -> u64 {
    if a == BAD.load(Ordering::Relaxed) {
        panic!("bad left operand {a}");
    }
    a.wrapping_mul(31).wrapping_add(b) % 1_000_003
}

/// `mix` that never panics.
#[delayed]
fn mix_ok(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b) % 1_000_003
}

/// The rounds as written, sequentially: the values of every level.
fn levels(n: u64) -> Vec<Vec<u64>> {
    let mut level: Vec<u64> = (0..n).map(|i| i * 7 + 1).collect();
    let mut all = vec![level.clone()];
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [a, b] => a.wrapping_mul(31).wrapping_add(*b) % 1_000_003,
                [a] => *a,
                _ => unreachable!(),
            })
            .collect();
        all.push(level.clone());
    }
    all
}

/// The tree as `step_by(2)` with a guard (rewritten), the same loop
/// labelled (run as written), with `chunks(2)` (rewritten), and over leaves
/// pushed by a `for` loop (rewritten), combining with `$f`.
macro_rules! runs {
    ($rt:expr, $n:expr, $f:ident) => {{
        let (rt, n): (&Runtime, u64) = ($rt, $n);
        [
            rt.compute(graph! {
                let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
                while level.len() > 1 {
                    let mut next = Vec::new();
                    for i in (0..level.len()).step_by(2) {
                        if i + 1 < level.len() {
                            next.push($f(level[i], level[i + 1]));
                        } else {
                            next.push(level[i]);
                        }
                    }
                    level = next;
                }
                level
            }),
            rt.compute(graph! {
                let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
                'written: while level.len() > 1 {
                    let mut next = Vec::new();
                    for i in (0..level.len()).step_by(2) {
                        if i + 1 < level.len() {
                            next.push($f(level[i], level[i + 1]));
                        } else {
                            next.push(level[i]);
                        }
                    }
                    level = next;
                    continue 'written;
                }
                level
            }),
            rt.compute(graph! {
                let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
                while level.len() > 1 {
                    let mut next = Vec::new();
                    for pair in level.chunks(2) {
                        if pair.len() == 2 {
                            next.push($f(pair[0], pair[1]));
                        } else {
                            next.push(pair[0]);
                        }
                    }
                    level = next;
                }
                level
            }),
            rt.compute(graph! {
                let mut level = Vec::new();
                for i in 0..n {
                    level.push(leaf(i));
                }
                while level.len() > 1 {
                    let mut next = Vec::new();
                    for i in (0..level.len()).step_by(2) {
                        if i + 1 < level.len() {
                            next.push($f(level[i], level[i + 1]));
                        } else {
                            next.push(level[i]);
                        }
                    }
                    level = next;
                }
                level
            }),
        ]
    }};
}

/// Whether each form of `runs!` is rewritten (the labelled loop is not).
const REWRITTEN: [bool; 4] = [true, false, true, true];

fn runtimes() -> impl Iterator<Item = Runtime> {
    [1, 2, 3, 5, 8].into_iter().flat_map(|threads| {
        [true, false].map(|f| {
            Runtime::builder()
                .threads(threads)
                .fuse_loops(f)
                .build()
                .unwrap()
        })
    })
}

#[test]
fn the_pairwise_while_tree_matches_sequential_on_any_length() {
    for rt in runtimes() {
        for n in (0..=70).chain([255, 256, 257, 1000, 4097]) {
            let want = levels(n).pop().unwrap();
            for (k, got) in runs!(&rt, n, mix_ok).into_iter().enumerate() {
                assert_eq!(got.unwrap(), want, "form {k}, n = {n}");
            }
        }
    }
}

#[test]
fn a_panic_in_the_while_tree_names_the_round_and_pair() {
    let n = 1000;
    let all = levels(n);
    // The left operand of pair `j` of round `k`, for a few pairs.
    for (k, j) in [(0usize, 0usize), (0, 499), (3, 17), (6, 3), (9, 0)] {
        let bad = all[k][2 * j];
        let lefts = all.iter().flat_map(|l| l.chunks_exact(2).map(|p| p[0]));
        assert_eq!(
            lefts.filter(|&a| a == bad).count(),
            1,
            "{bad} is one pair's only"
        );
        BAD.store(bad, Ordering::Relaxed);
        let mut seen = vec![Vec::new(); REWRITTEN.len()];
        for rt in runtimes() {
            for (form, got) in runs!(&rt, n, mix).into_iter().enumerate() {
                let e = got.unwrap_err();
                let Error::TaskPanicked { task, message, .. } = &e else {
                    panic!("{e:?}")
                };
                assert_eq!(
                    (task.function(), task.indices.clone(), message.clone()),
                    (
                        "mix",
                        vec![k as u32, j as u32],
                        format!("bad left operand {bad}")
                    ),
                    "form {form}"
                );
                seen[form].push(e.to_string());
            }
        }
        // The same message on any number of threads, fused or not.
        for s in &seen {
            assert!(s.iter().all(|m| *m == s[0]), "{s:?}");
        }
        // Rewritten, a task is named as a `tree_reduce`'s, with the indices
        // the loop gives it.
        for (s, rewritten) in seen.iter().zip(REWRITTEN) {
            let name = match rewritten {
                true => format!("`mix[level={k}, pos={j}]`"),
                false => format!("`mix[#{k}, i#{j}]`"),
            };
            assert!(s[0].contains(&name), "{}", s[0]);
        }
    }
    BAD.store(u64::MAX, Ordering::Relaxed);
}

/// The notebook's loop, without a guard (an odd length fails at
/// `level[i + 1]`), rewritten and as written (labelled).
fn unguarded(rt: &Runtime, n: u64) -> [Result<Vec<u64>, Error>; 2] {
    [
        rt.compute(graph! {
            let mut l: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            while l.len() > 1 {
                let mut new_l = Vec::new();
                for i in (0..l.len()).step_by(2) {
                    new_l.push(mix_ok(l[i], l[i + 1]));
                }
                l = new_l;
            }
            l
        }),
        rt.compute(graph! {
            let mut l: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            'written: while l.len() > 1 {
                let mut new_l = Vec::new();
                for i in (0..l.len()).step_by(2) {
                    new_l.push(mix_ok(l[i], l[i + 1]));
                }
                l = new_l;
                continue 'written;
            }
            l
        }),
    ]
}

#[test]
fn the_unguarded_tree_is_a_tree_on_powers_of_two_and_fails_as_written_otherwise() {
    for rt in runtimes() {
        for n in (0..=40).chain([1024, 1000]) {
            let [got, written] = unguarded(&rt, n);
            if n.is_power_of_two() {
                let (got, written) = (got.unwrap(), written.unwrap());
                assert_eq!(got, levels(n).pop().unwrap(), "n = {n}");
                assert_eq!(written, got, "n = {n}");
            } else if n > 1 {
                let (got, written) = (got.unwrap_err(), written.unwrap_err());
                // The first round of odd length reads `l[i + 1]` past its end.
                let odd = (n >> n.trailing_zeros()) as usize;
                for e in [&got, &written] {
                    let Error::IndexOutOfRange {
                        vector,
                        index,
                        len,
                        at,
                        ..
                    } = e
                    else {
                        panic!("n = {n}: {e}")
                    };
                    assert_eq!((*vector, *index, *len), ("l", odd, odd), "n = {n}");
                    // At the `l[i + 1]` of each graph: the same file and
                    // column, not the same line.
                    let (file, column) = at.split_once(':').unwrap();
                    assert_eq!(file, file!());
                    assert_eq!(column.rsplit_once(':').unwrap().1, "45", "{at}");
                }
                assert_eq!(
                    got.to_string().replace(char::is_numeric, ""),
                    written.to_string().replace(char::is_numeric, ""),
                    "n = {n}"
                );
            } else {
                let (got, written) = (got.unwrap(), written.unwrap());
                assert_eq!(got, (0..n).map(|i| i * 7 + 1).collect::<Vec<_>>());
                assert_eq!(written, got);
            }
        }
    }
}

/// A fused loop: the call sites each iteration runs, and the `tree_reduce`
/// computed in its blocks.
type FusedLoop = (Vec<&'static str>, Option<&'static str>);

/// Per run: its fused loops, and the tasks it plans per call site.
#[derive(Default)]
struct Loops {
    fused: Mutex<Vec<Vec<FusedLoop>>>,
    planned: Mutex<Vec<Vec<(&'static str, u64)>>>,
}

impl Observer for Loops {
    fn run_started(&self, run: &RunStarted<'_>) {
        // `fused_sites` lists every loop family in order, also those that
        // did not run fused (no node).
        let ran = run
            .families
            .iter()
            .filter(|f| f.kind == FamilyKind::Loop)
            .map(|f| f.nodes > 0);
        let fused = run
            .fused_sites()
            .into_iter()
            .zip(ran)
            .filter(|l| l.1)
            .map(|(f, _)| {
                let each = f.each.iter().map(|s| s.name).collect();
                (each, f.reduce.map(|r| r.name))
            });
        self.fused.lock().unwrap().push(fused.collect());
        let mut planned: Vec<_> = run
            .planned()
            .iter()
            .filter(|p| p.tasks > 0)
            .map(|p| (p.site.name, p.tasks))
            .collect();
        planned.sort();
        self.planned.lock().unwrap().push(planned);
    }
}

#[test]
fn fused_the_tree_is_computed_in_the_blocks_that_make_its_leaves() {
    for threads in [1, 2] {
        for fuse in [true, false] {
            let seen = Arc::new(Loops::default());
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .observer(seen.clone())
                .build()
                .unwrap();
            let lengths = [0u64, 1, 2, 3, 5, 64, 1000];
            for n in lengths {
                for got in runs!(&rt, n, mix_ok) {
                    assert_eq!(got.unwrap(), levels(n).pop().unwrap(), "n = {n}");
                }
            }
            drop(rt);
            let fused = seen.fused.lock().unwrap();
            let planned = seen.planned.lock().unwrap();
            assert_eq!(fused.len(), lengths.len() * REWRITTEN.len());
            for (k, (loops, planned)) in fused.iter().zip(planned.iter()).enumerate() {
                let n = lengths[k / REWRITTEN.len()];
                let rewritten = REWRITTEN[k % REWRITTEN.len()];
                // The same tasks whichever way it runs: n leaves, n - 1
                // combines.
                let want = [("leaf", n), ("mix_ok", n.saturating_sub(1))];
                let want: Vec<_> = want.into_iter().filter(|w| w.1 > 0).collect();
                assert_eq!(*planned, want, "n = {n}, run {k}");
                if n < 2 {
                    continue;
                }
                let want: Vec<FusedLoop> = match (fuse, rewritten) {
                    // One loop: the leaves and their tree.
                    (true, true) => vec![(vec!["leaf"], Some("mix_ok"))],
                    // The leaves' loop; the rounds node by node.
                    (true, false) => vec![(vec!["leaf"], None)],
                    (false, _) => vec![],
                };
                assert_eq!(*loops, want, "n = {n}, run {k}, fused {fuse}");
            }
        }
    }
}

#[test]
fn fused_the_unguarded_tree_is_computed_in_the_blocks_that_make_its_leaves() {
    for fuse in [true, false] {
        let seen = Arc::new(Loops::default());
        let rt = Runtime::builder()
            .threads(2)
            .fuse_loops(fuse)
            .observer(seen.clone())
            .build()
            .unwrap();
        let lengths = [0u64, 1, 2, 4, 64, 1024];
        for n in lengths {
            for got in unguarded(&rt, n) {
                assert_eq!(got.unwrap(), levels(n).pop().unwrap(), "n = {n}");
            }
        }
        // A length that fails is checked before any round is made.
        let [got, _] = unguarded(&rt, 96);
        assert!(matches!(
            got,
            Err(Error::IndexOutOfRange {
                index: 3,
                len: 3,
                ..
            })
        ));
        drop(rt);
        let fused = seen.fused.lock().unwrap();
        assert_eq!(fused.len(), 2 * lengths.len(), "no run for n = 96");
        for (k, loops) in fused.iter().enumerate() {
            let n = lengths[k / 2];
            if n < 2 {
                continue;
            }
            let want: Vec<FusedLoop> = match (fuse, k % 2 == 0) {
                (true, true) => vec![(vec!["leaf"], Some("mix_ok"))],
                (true, false) => vec![(vec!["leaf"], None)],
                (false, _) => vec![],
            };
            assert_eq!(*loops, want, "n = {n}, run {k}, fused {fuse}");
        }
    }
}
