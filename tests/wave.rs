//! Wavefronts (a grid filled row after row, each cell from the cells above
//! and to its left) run fused in tiles: they must behave exactly like the
//! same graphs run node by node (values, errors naming the task's row and
//! column, panics, cancellation) and like sequential Rust, on any number of
//! threads; a read the macro cannot prove to be above and to the left runs
//! node by node.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use taskdag::observe::{BlockEvent, FusedSites, Observer, RunStarted, TaskEvent};
use taskdag::FamilyInfo;
use taskdag::{delayed, graph, Error, Runtime};

#[delayed]
fn leaf(i: u64) -> u64 {
    i * 7 + 1
}
#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b) % 1_000_003
}
#[delayed]
fn mix(a: u64, b: u64, c: u64) -> u64 {
    a.wrapping_mul(31)
        .wrapping_add(b.wrapping_mul(17))
        .wrapping_add(c)
        % 1_000_003
}
#[derive(Debug)]
struct Bad;
impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bad cell")
    }
}
impl std::error::Error for Bad {}
#[delayed]
fn checked(a: u64, b: u64, r: usize, c: usize, bad: (usize, usize)) -> Result<u64, Bad> {
    if (r, c) == bad {
        Err(Bad)
    } else {
        Ok((a + b) % 1_000_003)
    }
}
#[delayed]
fn picky(a: u64, b: u64, r: usize, c: usize, bad: (usize, usize)) -> u64 {
    assert!((r, c) != bad, "unlucky cell");
    (a + b) % 1_000_003
}

fn runtimes(threads: usize) -> [Runtime; 2] {
    [true, false].map(|f| {
        Runtime::builder()
            .threads(threads)
            .fuse_loops(f)
            .build()
            .unwrap()
    })
}

const THREADS: [usize; 5] = [1, 2, 3, 5, 8];

/// The suite's wavefront: the first row and column are leaves, every other
/// cell adds the cell above and the cell to its left.
fn wave(rt: &Runtime, n: usize, w: usize) -> Vec<u64> {
    rt.compute(graph! {
        let mut grid = Vec::new();
        for r in 0..n {
            for c in 0..w {
                let cell = if r == 0 || c == 0 {
                    leaf((r * w + c) as u64)
                } else {
                    add(grid[(r - 1) * w + c], grid[r * w + c - 1])
                };
                grid.push(cell);
            }
        }
        grid
    })
    .unwrap()
}

fn wave_seq(n: usize, w: usize) -> Vec<u64> {
    let mut grid = vec![0u64; n * w];
    for r in 0..n {
        for c in 0..w {
            grid[r * w + c] = if r == 0 || c == 0 {
                (r * w + c) as u64 * 7 + 1
            } else {
                (grid[(r - 1) * w + c] + grid[r * w + c - 1]) % 1_000_003
            };
        }
    }
    grid
}

#[test]
fn the_wavefront_matches_sequential_fused_or_not() {
    for threads in THREADS {
        for rt in runtimes(threads) {
            for (n, w) in [
                (1, 1),
                (1, 9),
                (9, 1),
                (2, 2),
                (7, 7),
                (13, 40),
                (40, 13),
                (64, 64),
                (100, 37),
            ] {
                assert_eq!(wave(&rt, n, w), wave_seq(n, w), "{threads}: {n} x {w}");
            }
        }
    }
}

/// Small enough for Miri (`.ci/run`): a wave on 1 and 3 threads (tiles of
/// one to three cells), and one that fails in a tile.
#[test]
fn small_waves() {
    for threads in [1, 3] {
        let [fused, _] = runtimes(threads);
        assert_eq!(wave(&fused, 4, 5), wave_seq(4, 5));
        let e = failing(&fused, 4, 4, (2, 3));
        assert!(matches!(e, Error::TaskFailed { .. }), "{e:?}");
    }
}

/// A literal width, a diagonal read, a read two rows up, `let`s of reads,
/// conditions written the other way round, and a plain value.
fn diagonal(rt: &Runtime, n: usize) -> Vec<u64> {
    rt.compute(graph! {
        let mut grid = Vec::new();
        for r in 0..n {
            for c in 0..8 {
                let k = (r + c) as u64;
                let cell = if 2 > r || 1 > c {
                    leaf(k)
                } else {
                    let up = grid[(r - 2) * 8 + c];
                    let x = mix(grid[(r - 1) * 8 + c - 1], up, k);
                    add(x, grid[r * 8 + c - 1])
                };
                grid.push(cell);
            }
        }
        grid
    })
    .unwrap()
}

fn diagonal_seq(n: usize) -> Vec<u64> {
    let mut grid = vec![0u64; n * 8];
    for r in 0..n {
        for c in 0..8 {
            let k = (r + c) as u64;
            grid[r * 8 + c] = if 2 > r || c < 1 {
                k * 7 + 1
            } else {
                let x =
                    (grid[(r - 1) * 8 + c - 1] * 31 + grid[(r - 2) * 8 + c] * 17 + k) % 1_000_003;
                (x + grid[r * 8 + c - 1]) % 1_000_003
            };
        }
    }
    grid
}

#[test]
fn diagonal_and_distant_reads_with_a_literal_width() {
    for threads in THREADS {
        for rt in runtimes(threads) {
            for n in [1, 2, 3, 30, 77] {
                assert_eq!(diagonal(&rt, n), diagonal_seq(n), "{threads}: {n}");
            }
        }
    }
}

/// `grid[r * w + c - 1]` at `c = 0` is the end of the row above, not a
/// cell to the left: the guard says only `r > 0`, so this runs node by
/// node, and gives what sequential Rust gives.
fn wrapping(rt: &Runtime, n: usize, w: usize) -> Vec<u64> {
    rt.compute(graph! {
        let mut grid = Vec::new();
        for r in 0..n {
            for c in 0..w {
                let cell = if r == 0 {
                    leaf(c as u64)
                } else {
                    add(grid[(r - 1) * w + c], grid[r * w + c - 1])
                };
                grid.push(cell);
            }
        }
        grid
    })
    .unwrap()
}

#[test]
fn a_read_that_wraps_to_the_row_above_runs_as_written() {
    let (n, w) = (9, 6);
    let mut want = vec![0u64; n * w];
    for k in 0..n * w {
        want[k] = if k < w {
            k as u64 * 7 + 1
        } else {
            (want[k - w] + want[k - 1]) % 1_000_003
        };
    }
    for threads in [1, 2, 5] {
        for rt in runtimes(threads) {
            assert_eq!(wrapping(&rt, n, w), want, "{threads}");
        }
    }
}

fn failing(rt: &Runtime, n: usize, w: usize, bad: (usize, usize)) -> Error {
    rt.compute(graph! {
        let mut grid = Vec::new();
        for r in 0..n {
            for c in 0..w {
                let cell = if r == 0 || c == 0 {
                    leaf(c as u64)
                } else {
                    checked(grid[(r - 1) * w + c], grid[r * w + c - 1], r, c, bad)?
                };
                grid.push(cell);
            }
        }
        grid[n * w - 1]
    })
    .unwrap_err()
}

#[test]
fn a_failure_inside_a_tile_names_its_task_fused_or_not() {
    let mut messages = Vec::new();
    for rt in THREADS.into_iter().flat_map(runtimes) {
        for bad in [(1, 1), (17, 30), (39, 39)] {
            let e = failing(&rt, 40, 40, bad);
            let Error::TaskFailed { task, .. } = &e else {
                panic!("{e:?}")
            };
            assert_eq!(
                (task.function(), task.indices.clone()),
                ("checked", vec![bad.0 as u32, bad.1 as u32])
            );
            messages.push((bad, e.to_string()));
        }
    }
    for (bad, m) in &messages {
        let first = &messages.iter().find(|(b, _)| b == bad).unwrap().1;
        assert_eq!(m, first);
    }
}

#[test]
fn a_panic_inside_a_tile_names_its_task_fused_or_not() {
    let mut messages = Vec::new();
    for rt in THREADS.into_iter().flat_map(runtimes) {
        let (n, w, bad) = (30usize, 50usize, (21usize, 44usize));
        let e = rt
            .compute(graph! {
                let mut grid = Vec::new();
                for r in 0..n {
                    for c in 0..w {
                        let cell = if r == 0 || c == 0 {
                            leaf(c as u64)
                        } else {
                            picky(grid[(r - 1) * w + c], grid[r * w + c - 1], r, c, bad)
                        };
                        grid.push(cell);
                    }
                }
                grid[n * w - 1]
            })
            .unwrap_err();
        messages.push(e.to_string());
        let Error::TaskPanicked { task, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(task.indices, vec![21, 44]);
    }
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");
    assert!(messages[0].contains("unlucky cell"), "{}", messages[0]);
}

/// Owned values: every cell made is dropped exactly once, whether the run
/// finishes or fails in a tile.
static LIVE: AtomicU64 = AtomicU64::new(0);

struct Counted(u64);

impl Counted {
    fn new(x: u64) -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Counted(x)
    }
}
impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(self.0)
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[delayed]
fn counted(i: u64) -> Counted {
    Counted::new(i)
}
#[delayed]
fn join(a: &Counted, b: &Counted, r: usize, c: usize, bad: (usize, usize)) -> Result<Counted, Bad> {
    if (r, c) == bad {
        return Err(Bad);
    }
    Ok(Counted::new((a.0 + b.0) % 1_000_003))
}

#[test]
fn owned_values_are_dropped_once_whether_the_wave_finishes_or_fails() {
    for rt in [1, 2, 3, 8].into_iter().flat_map(runtimes) {
        for bad in [(usize::MAX, 0), (20, 3)] {
            let (n, w) = (25usize, 19usize);
            let got = rt.compute(graph! {
                let mut grid = Vec::new();
                for r in 0..n {
                    for c in 0..w {
                        let cell = if r == 0 || c == 0 {
                            counted((r + c) as u64)
                        } else {
                            join(grid[(r - 1) * w + c], grid[r * w + c - 1], r, c, bad)?
                        };
                        grid.push(cell);
                    }
                }
                grid[n * w - 1]
            });
            match bad.0 {
                usize::MAX => {
                    let want = {
                        let mut g = vec![0u64; n * w];
                        for r in 0..n {
                            for c in 0..w {
                                g[r * w + c] = if r == 0 || c == 0 {
                                    (r + c) as u64
                                } else {
                                    (g[(r - 1) * w + c] + g[r * w + c - 1]) % 1_000_003
                                };
                            }
                        }
                        g[n * w - 1]
                    };
                    assert_eq!(got.as_ref().map(|x| x.0).ok(), Some(want));
                }
                _ => assert!(got.is_err()),
            }
            drop(got);
            assert_eq!(LIVE.load(Ordering::SeqCst), 0, "{bad:?}");
        }
    }
}

#[delayed]
fn slow(a: u64, b: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(200));
    a + b
}

#[test]
fn a_timeout_stops_the_tiles() {
    for rt in [1, 2, 4].into_iter().flat_map(runtimes) {
        let n = 60usize;
        let started = std::time::Instant::now();
        let r = rt.compute_timeout(
            graph! {
                let mut grid = Vec::new();
                for r in 0..n {
                    for c in 0..n {
                        let cell = if r == 0 || c == 0 {
                            leaf(c as u64)
                        } else {
                            slow(grid[(r - 1) * n + c], grid[r * n + c - 1])
                        };
                        grid.push(cell);
                    }
                }
                grid[n * n - 1]
            },
            Duration::from_millis(30),
        );
        // 3,481 slow cells take 0.7 s on one thread: stopped long before.
        assert!(matches!(r, Err(Error::TimedOut { .. })), "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}

/// Cells made by `counted_slow` (only `a_cancelled_wavefront_stops` calls it).
static SLOW_CELLS: AtomicU64 = AtomicU64::new(0);

/// `add`, counted, after a nap.
#[delayed]
fn counted_slow(a: u64, b: u64) -> u64 {
    SLOW_CELLS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_micros(20));
    (a + b) % 1_000_003
}

/// A spawned wavefront cancelled mid-run stops, fused or not: no cell is
/// made once `wait` returns, fewer than all were made, and the runtime
/// computes the next wavefront as before.
#[test]
fn a_cancelled_wavefront_stops() {
    let n = 80usize;
    let cells = ((n - 1) * (n - 1)) as u64;
    for rt in [1, 2, 3, 8].into_iter().flat_map(runtimes) {
        SLOW_CELLS.store(0, Ordering::SeqCst);
        let h = rt.spawn(graph! {
            let mut grid = Vec::new();
            for r in 0..n {
                for c in 0..n {
                    let cell = if r == 0 || c == 0 {
                        leaf(c as u64)
                    } else {
                        counted_slow(grid[(r - 1) * n + c], grid[r * n + c - 1])
                    };
                    grid.push(cell);
                }
            }
            grid[n * n - 1]
        });
        // Past the first tiles: a few hundred cells made.
        while SLOW_CELLS.load(Ordering::SeqCst) < 300 && !h.is_finished() {
            std::thread::yield_now();
        }
        h.cancel();
        let threads = rt.threads();
        assert!(
            matches!(h.wait(), Err(Error::Cancelled)),
            "{threads} threads"
        );
        let made = SLOW_CELLS.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(SLOW_CELLS.load(Ordering::SeqCst), made, "{threads} threads");
        assert!(made < cells, "{threads} threads: {made} of {cells}");
        assert_eq!(wave(&rt, 17, 23), wave_seq(17, 23), "{threads} threads");
    }
}

/// Collects the iterations of every block a run reports.
#[derive(Default)]
struct Blocks(Mutex<Vec<(u32, u32)>>, AtomicU64);

impl Observer for Blocks {
    fn task_finished(&self, _: &TaskEvent<'_>) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
    fn block_finished(&self, b: &BlockEvent) {
        self.0.lock().unwrap().push((b.lo, b.hi));
    }
}

/// Runs `f` on an observed runtime of `threads` threads (fusion on):
/// its result, the tasks reported one by one, the blocks reported.
fn observed<T>(threads: usize, f: impl Fn(&Runtime) -> T) -> (T, u64, Vec<(u32, u32)>) {
    let obs = Arc::new(Blocks::default());
    let rt = Runtime::builder()
        .threads(threads)
        .observer(obs.clone())
        .build()
        .unwrap();
    let out = f(&rt);
    let blocks = obs.0.lock().unwrap().clone();
    (out, obs.1.load(Ordering::Relaxed), blocks)
}

#[test]
fn what_runs_fused_and_what_runs_node_by_node() {
    // Fused: no task reported one by one.
    let (v, tasks, blocks) = observed(2, |rt| diagonal(rt, 20));
    assert_eq!((v, tasks), (diagonal_seq(20), 0));
    assert!(!blocks.is_empty());
    // The read that wraps: every task, node by node.
    let (_, tasks, blocks) = observed(2, |rt| wrapping(rt, 9, 6));
    assert_eq!((tasks, blocks.len()), (54, 0));
}

#[test]
fn observers_see_every_cell_once_in_blocks() {
    for threads in [1, 3] {
        let obs = Arc::new(Blocks::default());
        let rt = Runtime::builder()
            .threads(threads)
            .observer(obs.clone())
            .build()
            .unwrap();
        let (n, w) = (33, 20);
        assert_eq!(wave(&rt, n, w), wave_seq(n, w));
        let mut seen = obs.0.lock().unwrap().clone();
        seen.sort_unstable();
        let mut at = 0;
        for (lo, hi) in seen {
            assert_eq!(lo, at, "{threads}");
            at = hi;
        }
        assert_eq!(at as usize, n * w);
        // Node by node would report 660 tasks; fused, none one by one.
        assert_eq!(obs.1.load(Ordering::Relaxed), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn wavefronts_of_any_size_match_sequential_and_node_by_node(
        n in 1usize..40,
        w in 1usize..40,
        threads in 1usize..=8,
    ) {
        let [fused, off] = runtimes(threads);
        let want = wave_seq(n, w);
        prop_assert_eq!(wave(&fused, n, w), want.clone());
        prop_assert_eq!(wave(&off, n, w), want);
    }
}

/// Per call site: the tasks the run plans (`RunStarted::planned`), and
/// those its tasks and blocks report done (`FusedSites::block_tasks`).
#[derive(Default)]
struct Sites {
    planned: Mutex<Vec<(&'static str, u64)>>,
    fused: Mutex<Vec<FusedSites>>,
    done: Mutex<Vec<(&'static str, u64)>>,
}

impl Sites {
    fn add(&self, site: &'static FamilyInfo, n: u64) {
        let mut done = self.done.lock().unwrap();
        match done.iter_mut().find(|(s, _)| *s == site.name) {
            Some(d) => d.1 += n,
            None => done.push((site.name, n)),
        }
    }
}

impl Observer for Sites {
    fn run_started(&self, run: &RunStarted<'_>) {
        // Call sites that run only fused plan no tasks of their own.
        let p = run
            .planned()
            .iter()
            .filter(|p| p.tasks > 0)
            .map(|p| (p.site.name, p.tasks))
            .collect();
        *self.planned.lock().unwrap() = p;
        *self.fused.lock().unwrap() = run.fused_sites();
    }
    fn task_finished(&self, t: &TaskEvent<'_>) {
        self.add(t.site, 1);
    }
    fn block_finished(&self, b: &BlockEvent) {
        let fused = self.fused.lock().unwrap();
        let f = fused
            .iter()
            .find(|f| std::ptr::eq(f.block, b.site))
            .unwrap();
        f.block_tasks(b.lo, b.hi, |s, n| self.add(s, n));
    }
}

/// A wavefront whose cells run `leaf` unconditionally and `add` or `mix`
/// as an `if` chooses.
fn keyed(rt: &Runtime, n: usize, w: usize) -> taskdag::Handle<Vec<u64>> {
    rt.spawn(graph! {
        let mut grid = Vec::new();
        for r in 0..n {
            for c in 0..w {
                let k = leaf((r * w + c) as u64);
                let cell = if r == 0 || c == 0 {
                    add(k, k)
                } else {
                    mix(grid[(r - 1) * w + c], grid[r * w + c - 1], k)
                };
                grid.push(cell);
            }
        }
        grid
    })
}

fn keyed_seq(n: usize, w: usize) -> Vec<u64> {
    let mut grid = vec![0u64; n * w];
    for r in 0..n {
        for c in 0..w {
            let k = (r * w + c) as u64 * 7 + 1;
            grid[r * w + c] = if r == 0 || c == 0 {
                (k + k) % 1_000_003
            } else {
                (grid[(r - 1) * w + c] * 31 + grid[r * w + c - 1] * 17 + k) % 1_000_003
            };
        }
    }
    grid
}

/// Observers count a fused wavefront's tasks as node by node does: a call
/// site every cell runs, per site; the calls an `if` chooses between (the
/// branch a cell takes is not known outside it), one per cell at the loop.
/// The same counts in the planned tasks, the blocks' tasks and the
/// handle's progress, and the same totals as node by node.
#[test]
fn observers_count_a_fused_wavefronts_tasks_as_node_by_node() {
    let (n, w) = (21usize, 17usize);
    let cells = (n * w) as u64;
    let edge = (n + w - 1) as u64;
    let inner = ((n - 1) * (w - 1)) as u64;
    for threads in [1, 3] {
        for fuse in [true, false] {
            let obs = Arc::new(Sites::default());
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .observer(obs.clone())
                .build()
                .unwrap();
            let h = keyed(&rt, n, w);
            while !h.is_finished() {
                std::thread::yield_now();
            }
            let mut progress: Vec<_> = h
                .progress_by_family()
                .iter()
                .map(|f| (f.function, f.progress.done, f.progress.total))
                .collect();
            progress.sort();
            let total = h.progress();
            assert_eq!(h.wait().unwrap(), keyed_seq(n, w));
            let mut planned = obs.planned.lock().unwrap().clone();
            planned.sort();
            let mut done = obs.done.lock().unwrap().clone();
            done.sort();
            // Node by node: every call site on its own; fused: `leaf` on
            // its own, `add` and `mix` one per cell at the loop.
            let want = match fuse {
                true => vec![("leaf", cells), ("loop", cells)],
                false => vec![("add", edge), ("leaf", cells), ("mix", inner)],
            };
            assert_eq!(planned, want, "{threads} threads, fused {fuse}");
            assert_eq!(done, want, "{threads} threads, fused {fuse}");
            let want: Vec<_> = want.iter().map(|&(f, k)| (f, k, k)).collect();
            assert_eq!(progress, want, "{threads} threads, fused {fuse}");
            assert_eq!((total.done, total.total), (2 * cells, 2 * cells));
        }
        // The wave whose every call is chosen by its `if`: the same totals.
        for fuse in [true, false] {
            let obs = Arc::new(Sites::default());
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .observer(obs.clone())
                .build()
                .unwrap();
            assert_eq!(wave(&rt, n, w), wave_seq(n, w));
            let sum =
                |v: &Mutex<Vec<(&str, u64)>>| v.lock().unwrap().iter().map(|s| s.1).sum::<u64>();
            assert_eq!(
                (sum(&obs.planned), sum(&obs.done)),
                (cells, cells),
                "fused {fuse}"
            );
        }
    }
}
