//! Step loops (`for t in .. { let mut next = Vec::new(); .. cur = next; }`)
//! whose reads of the step before have a reach run fused, step after step:
//! they must behave exactly like the same graphs run node by node (values,
//! errors naming the task's loop indices), and like sequential Rust.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use taskdag::observe::{BlockEvent, FusedSites, Observer, RunStarted, TaskEvent};
use taskdag::FamilyInfo;
use taskdag::{delayed, graph, Error, Runtime};

#[delayed]
fn leaf(i: u64) -> u64 {
    i * 7 + 1
}
#[delayed]
fn mix(a: u64, b: u64, c: u64) -> u64 {
    a.wrapping_mul(31)
        .wrapping_add(b.wrapping_mul(17))
        .wrapping_add(c)
        % 1_000_003
}
#[delayed]
fn edge(a: u64) -> u64 {
    a + 1
}
#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
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
fn checked(a: u64, t: usize, i: usize, bad: (usize, usize)) -> Result<u64, Bad> {
    if (t, i) == bad {
        Err(Bad)
    } else {
        Ok(a + 1)
    }
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

/// The 3-point stencil with its two boundary cells, sequentially.
fn stencil_seq(w: usize, steps: usize) -> Vec<u64> {
    let mut cur: Vec<u64> = (0..w as u64).map(|i| i * 7 + 1).collect();
    for _ in 0..steps {
        let mut next = vec![cur[0] + 1];
        for i in 1..w - 1 {
            next.push(
                cur[i - 1]
                    .wrapping_mul(31)
                    .wrapping_add(cur[i].wrapping_mul(17))
                    .wrapping_add(cur[i + 1])
                    % 1_000_003,
            );
        }
        next.push(cur[w - 1] + 1);
        cur = next;
    }
    cur
}

fn stencil(rt: &Runtime, w: usize, steps: usize) -> Vec<u64> {
    rt.compute(graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            next.push(edge(cur[0]));
            for i in 1..w - 1 {
                next.push(mix(cur[i - 1], cur[i], cur[i + 1]));
            }
            next.push(edge(cur[w - 1]));
            cur = next;
        }
        cur
    })
    .unwrap()
}

#[test]
fn the_stencil_matches_sequential_fused_or_not() {
    for threads in [1, 2, 3] {
        for rt in runtimes(threads) {
            for (w, steps) in [(3, 1), (3, 0), (5, 4), (64, 33), (1000, 20)] {
                assert_eq!(stencil(&rt, w, steps), stencil_seq(w, steps), "{w} {steps}");
            }
        }
    }
}

/// Reads through `let`s, a wider reach on one side, a value pushed as it is.
fn lopsided(rt: &Runtime, w: usize, steps: usize) -> Vec<u64> {
    rt.compute(graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
        for t in 0..steps {
            let mut next = Vec::new();
            next.push(cur[0]);
            next.push(cur[1]);
            for i in 2..w - 1 {
                let far = cur[i - 2];
                let x = add(far, cur[i + 1]);
                let y = add(x, t as u64);
                next.push(add(x, y));
            }
            next.push(cur[w - 1]);
            cur = next;
        }
        cur
    })
    .unwrap()
}

fn lopsided_seq(w: usize, steps: usize) -> Vec<u64> {
    let mut cur: Vec<u64> = (0..w as u64).map(|i| i * 7 + 1).collect();
    for t in 0..steps {
        let mut next = vec![cur[0], cur[1]];
        for i in 2..w - 1 {
            let x = cur[i - 2].wrapping_add(cur[i + 1]);
            next.push(x.wrapping_add(x.wrapping_add(t as u64)));
        }
        next.push(cur[w - 1]);
        cur = next;
    }
    cur
}

#[test]
fn reads_through_lets_and_plain_values_of_the_step() {
    for rt in runtimes(2) {
        for (w, steps) in [(4, 3), (17, 9)] {
            assert_eq!(lopsided(&rt, w, steps), lopsided_seq(w, steps));
        }
    }
}

#[test]
fn a_failure_inside_a_step_names_its_task_fused_or_not() {
    let mut messages = Vec::new();
    // Fused on 1 thread: one tile a step, its inner values a run of plain
    // code; on 5 and 8 threads: tiles of 5 and 4 values, the failing one
    // among tiles of other steps running at once.
    for rt in [1, 2, 3, 5, 8].into_iter().flat_map(runtimes) {
        let (w, steps, bad) = (50usize, 6usize, (4usize, 23usize));
        let e = rt
            .compute(graph! {
                let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
                for t in 0..steps {
                    let mut next = Vec::new();
                    for i in 0..w {
                        next.push(checked(cur[i], t, i, bad)?);
                    }
                    cur = next;
                }
                cur
            })
            .unwrap_err();
        messages.push(e.to_string());
        let Error::TaskFailed { task, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (task.function(), task.indices.clone()),
            ("checked", vec![4, 23])
        );
    }
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");
}

#[test]
fn a_read_out_of_range_is_reported_as_node_by_node_does() {
    let mut messages = Vec::new();
    for rt in runtimes(2) {
        let w = 8usize;
        let e = rt
            .compute(graph! {
                let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
                for _ in 0..3 {
                    let mut next = Vec::new();
                    for i in 0..w {
                        next.push(add(cur[i], cur[i + 1]));
                    }
                    cur = next;
                }
                cur
            })
            .unwrap_err();
        messages.push(e.to_string());
    }
    assert_eq!(messages[0], messages[1]);
    assert!(messages[0].contains("out of range"), "{}", messages[0]);
}

/// `cur[i - 2 + 1]` is `cur[i - 1]` as a polynomial, but `i - 2` underflows
/// at `i = 1`: the fused form must not run what the written index rejects.
fn underflowing(rt: &Runtime) -> String {
    let w = 6usize;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.compute(graph! {
            let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
            for _ in 0..2 {
                let mut next = Vec::new();
                next.push(edge(cur[0]));
                for i in 1..w {
                    next.push(add(cur[i - 2 + 1], cur[i]));
                }
                cur = next;
            }
            cur
        })
    }));
    match r {
        Ok(Ok(v)) => format!("ran: {v:?}"),
        Ok(Err(e)) => format!("error: {e}"),
        Err(p) => match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
            (Some(m), _) => format!("panic: {m}"),
            (_, Some(m)) => format!("panic: {m}"),
            _ => "panic".to_string(),
        },
    }
}

#[test]
fn an_index_that_underflows_as_written_is_not_fused_into_one_that_does_not() {
    let [fused, off] = runtimes(2);
    let (got, want) = (underflowing(&fused), underflowing(&off));
    assert_eq!(got, want);
    assert!(!want.starts_with("ran"), "{want}");
}

/// A step loop with boundary values: two `edge`s, and a plain read.
fn bounded(w: usize, steps: usize) -> impl taskdag::Graph<Output = Vec<u64>> {
    graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            next.push(edge(cur[0]));
            next.push(cur[1]);
            for i in 2..w - 1 {
                next.push(mix(cur[i - 2], cur[i], cur[i + 1]));
            }
            next.push(edge(cur[w - 1]));
            cur = next;
        }
        cur
    }
}

/// `bounded`'s tasks per call site, sorted.
fn bounded_tasks(w: usize, steps: usize) -> Vec<(&'static str, u64)> {
    let (w, s) = (w as u64, steps as u64);
    // Two call sites of `edge`, one value a step each.
    vec![("edge", s), ("edge", s), ("leaf", w), ("mix", s * (w - 3))]
}

#[test]
fn progress_counts_the_tasks_of_a_step_with_boundary_values_as_node_by_node_does() {
    let (w, steps) = (12usize, 4usize);
    let mut seen = Vec::new();
    for rt in runtimes(2) {
        let h = rt.spawn(bounded(w, steps));
        while !h.is_finished() {
            std::thread::yield_now();
        }
        let fams: Vec<_> = h
            .progress_by_family()
            .iter()
            .map(|f| (f.function, f.progress.done, f.progress.total))
            .collect();
        let p = h.progress();
        assert_eq!(h.wait().unwrap().len(), w);
        seen.push((fams, p.done, p.total));
    }
    let want = bounded_tasks(w, steps);
    assert_eq!(seen[1].1, want.iter().map(|s| s.1).sum::<u64>());
    assert_eq!(seen[0], seen[1]);
    let mut fams = seen[0].0.clone();
    fams.sort();
    let want: Vec<_> = want.into_iter().map(|(f, n)| (f, n, n)).collect();
    assert_eq!(fams, want);
}

/// Per call site: the tasks the run plans, and those its tasks and blocks
/// report done.
#[derive(Default)]
struct Sites {
    planned: Mutex<Vec<(&'static str, u64)>>,
    fused: Mutex<Vec<FusedSites>>,
    done: Mutex<Vec<(&'static FamilyInfo, u64)>>,
    tasks: AtomicU64,
}

impl Sites {
    fn add(&self, site: &'static FamilyInfo, n: u64) {
        let mut done = self.done.lock().unwrap();
        match done.iter_mut().find(|(s, _)| std::ptr::eq(*s, site)) {
            Some(d) => d.1 += n,
            None => done.push((site, n)),
        }
    }
    fn done(&self) -> Vec<(&'static str, u64)> {
        let mut d: Vec<_> = self
            .done
            .lock()
            .unwrap()
            .iter()
            .map(|(s, n)| (s.name, *n))
            .collect();
        d.sort();
        d
    }
}

impl Observer for Sites {
    fn run_started(&self, run: &RunStarted<'_>) {
        let mut p: Vec<_> = run
            .planned()
            .iter()
            .map(|p| (p.site.name, p.tasks))
            .collect();
        p.sort();
        *self.planned.lock().unwrap() = p;
        *self.fused.lock().unwrap() = run.fused_sites();
    }
    fn task_finished(&self, t: &TaskEvent<'_>) {
        self.tasks.fetch_add(1, Ordering::Relaxed);
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

#[test]
fn observers_see_a_fused_step_loops_call_sites_as_node_by_node() {
    let (w, steps) = (40usize, 5usize);
    for threads in [1, 2] {
        let mut runs = Vec::new();
        for fuse in [true, false] {
            let c = Arc::new(Sites::default());
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .observer(c.clone())
                .build()
                .unwrap();
            assert_eq!(rt.compute(bounded(w, steps)).unwrap().len(), w);
            // Fused, only blocks run; node by node, every task is seen.
            let tasks = c.tasks.load(Ordering::Relaxed);
            assert_eq!(tasks == 0, fuse, "{tasks}");
            let planned = c.planned.lock().unwrap().clone();
            runs.push((planned, c.done()));
        }
        let want = bounded_tasks(w, steps);
        assert_eq!(runs[0], (want.clone(), want.clone()));
        assert_eq!(runs[1], (want.clone(), want));
    }
}

/// A stencil reading `lo` cells back and `hi` ahead, with boundary cells
/// `edge(cur[j])` for `j` in `pre` and `edge(cur[w - j])` for `j` in `post`.
macro_rules! reach {
    ($rt:expr, $w:expr, $steps:expr, $lo:literal, $hi:literal, [$($pre:literal),*], [$($post:literal),*]) => {{
        let (w, steps): (usize, usize) = ($w, $steps);
        let got = $rt
            .compute(graph! {
                let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
                for _ in 0..steps {
                    let mut next = Vec::new();
                    $( next.push(edge(cur[$pre])); )*
                    for i in $lo..w - $hi {
                        next.push(mix(cur[i - $lo], cur[i], cur[i + $hi]));
                    }
                    $( next.push(edge(cur[w - $post])); )*
                    cur = next;
                }
                cur
            })
            .unwrap();
        let mut cur: Vec<u64> = (0..w as u64).map(|i| i * 7 + 1).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            $( next.push(cur[$pre] + 1); )*
            for i in $lo..w - $hi {
                next.push(
                    cur[i - $lo]
                        .wrapping_mul(31)
                        .wrapping_add(cur[i].wrapping_mul(17))
                        .wrapping_add(cur[i + $hi])
                        % 1_000_003,
                );
            }
            $( next.push(cur[w - $post] + 1); )*
            cur = next;
        }
        (got, cur)
    }};
}

/// Small stencils that run as trapezoids of several phases on 2 and 3
/// threads (tiles of 4 to 6 values, phases of 2 or 3 steps), for Miri.
#[test]
fn small_trapezoids() {
    for threads in [2, 3] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        for (w, steps) in [(17, 7), (24, 5)] {
            assert_eq!(
                stencil(&rt, w, steps),
                stencil_seq(w, steps),
                "{threads} {w} {steps}"
            );
            let (got, want) = reach!(rt, w, steps, 0, 2, [], [2, 1]);
            assert_eq!(got, want, "{threads} {w} {steps}");
        }
    }
}

/// CPU time (clock ticks) used so far by this process's threads whose
/// name starts with `prefix`.
#[cfg(target_os = "linux")]
fn cpu_ticks_of_threads(prefix: &str) -> u64 {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        // `pid (name) state ...`: utime and stime are the 12th and 13th
        // fields after the name.
        let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    ticks
}

/// Pieces of trapezoids keep idle threads looking for the next piece
/// rather than parked while the loop runs; once it has ended the pool's
/// threads park: an idle runtime uses no CPU.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_pool_does_not_spin_after_trapezoids() {
    let rt = Runtime::builder()
        .threads(2)
        .thread_name("tg-idle")
        .build()
        .unwrap();
    for _ in 0..20 {
        assert_eq!(stencil(&rt, 400, 60), stencil_seq(400, 60));
    }
    std::thread::sleep(std::time::Duration::from_millis(10));
    let before = cpu_ticks_of_threads("tg-idle");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let used = cpu_ticks_of_threads("tg-idle") - before;
    // A thread spinning through the wait would be on a CPU at most of the
    // 30 ticks (of 10 ms) it lasts.
    assert!(
        used <= 3,
        "the idle pool used {used} ticks of CPU in 300 ms"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Wide enough and long enough to run as trapezoids of several phases
    /// on several threads (phases of up to `width / (4 * threads * reach)`
    /// steps), the width and the steps no multiples of the tiles'.
    #[test]
    fn long_stencils_match_sequential_in_phases_of_trapezoids(
        case in 0usize..4,
        w in 12usize..400,
        steps in 2usize..90,
        threads in 1usize..=8,
    ) {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        let (got, want) = match case {
            0 => reach!(rt, w, steps, 1, 1, [0], [1]),
            1 => reach!(rt, w, steps, 2, 1, [0, 1], [1]),
            2 => reach!(rt, w, steps, 0, 2, [], [2, 1]),
            _ => reach!(rt, w, steps, 3, 3, [0, 1, 2], [3, 2, 1]),
        };
        prop_assert_eq!(got, want);
    }

    #[test]
    fn stencils_of_any_reach_match_sequential_and_node_by_node(
        case in 0usize..4,
        extra in 1usize..70,
        steps in 0usize..12,
        threads in 1usize..=8,
    ) {
        for rt in runtimes(threads) {
            let (got, want) = match case {
                0 => reach!(rt, 2 + extra, steps, 1, 1, [0], [1]),
                1 => reach!(rt, 3 + extra, steps, 2, 1, [0, 1], [1]),
                2 => reach!(rt, 2 + extra, steps, 0, 2, [], [2, 1]),
                _ => reach!(rt, 6 + extra, steps, 3, 3, [0, 1, 2], [3, 2, 1]),
            };
            prop_assert_eq!(got, want);
        }
    }
}

/// On `n` threads a step of `w` values runs as tiles of `w / (2n)` values
/// (rounded up): with 8 threads, 7 and 13 values make tiles of one value
/// and 31 of two, narrower than a reach of 3; the widths here are not
/// multiples of the tile, so the last tile is shorter. Every tile waits only for the tiles
/// of the step before within its reach (and those reading its cells).
#[test]
fn tiles_narrower_than_the_reach_and_widths_not_a_multiple_of_the_tile() {
    for threads in [2, 3, 5, 8] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        for w in [7, 13, 31, 50, 203] {
            for steps in [1, 2, 7] {
                let (got, want) = reach!(rt, w, steps, 3, 3, [0, 1, 2], [3, 2, 1]);
                assert_eq!(got, want, "{threads} threads, {w} wide, {steps} steps");
                let (got, want) = reach!(rt, w, steps, 0, 2, [], [2, 1]);
                assert_eq!(got, want, "{threads} threads, {w} wide, {steps} steps");
            }
        }
    }
}

/// Each value naps `nap` microseconds: threads go hungry, and the steps of
/// a trapezoid split between them (each half waits for the whole step
/// before the next).
#[delayed]
fn napping(a: u64, b: u64, c: u64, nap: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_micros(nap));
    a.wrapping_mul(31)
        .wrapping_add(b.wrapping_mul(17))
        .wrapping_add(c)
        % 1_000_003
}

#[test]
fn trapezoids_split_between_hungry_threads_and_match_sequential() {
    let (w, steps) = (61usize, 23usize);
    let want = stencil_seq(w, steps);
    for threads in [2, 3, 4, 8] {
        let c = Arc::new(Counts::default());
        let rt = Runtime::builder()
            .threads(threads)
            .observer(c.clone())
            .build()
            .unwrap();
        let got = rt
            .compute(graph! {
                let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
                for _ in 0..steps {
                    let mut next = Vec::new();
                    next.push(edge(cur[0]));
                    for i in 1..w - 1 {
                        next.push(napping(cur[i - 1], cur[i], cur[i + 1], 20));
                    }
                    next.push(edge(cur[w - 1]));
                    cur = next;
                }
                cur
            })
            .unwrap();
        assert_eq!(got, want, "{threads} threads");
        // Every value of every step in exactly one block; no task node by
        // node.
        assert_eq!(c.values.load(Ordering::Relaxed), (w + w * steps) as u64);
        assert_eq!(c.tasks.load(Ordering::Relaxed), 0);
    }
}

/// A failure in a later phase of trapezoids: the same task named, fused
/// or not, on any number of threads. On 2 threads the 130 steps run in
/// phases of 50 (half-tiles of 50 values): the failures fall in each
/// phase, in inverted pieces, in the uprights above them (the second half
/// of a diamond) and at both edges.
#[test]
fn a_failure_in_a_later_phase_names_its_task_fused_or_not() {
    let mut messages = Vec::new();
    let (w, steps) = (203usize, 130usize);
    for threads in [1, 2, 3, 8] {
        for rt in runtimes(threads) {
            let bads = [
                (37usize, 150usize),
                (0, 0),
                (39, 202),
                (21, 51),
                (77, 101),
                (99, 150),
                (120, 1),
                (129, 202),
            ];
            for bad in bads {
                let e = rt
                    .compute(graph! {
                        let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
                        for t in 0..steps {
                            let mut next = Vec::new();
                            next.push(checked(cur[0], t, 0, bad)?);
                            for i in 1..w - 1 {
                                let x = add(cur[i - 1], cur[i + 1]);
                                next.push(checked(x, t, i, bad)?);
                            }
                            next.push(checked(cur[w - 1], t, w - 1, bad)?);
                            cur = next;
                        }
                        cur
                    })
                    .unwrap_err();
                messages.push((bad, e.to_string()));
                let Error::TaskFailed { task, .. } = &e else {
                    panic!("{e:?}")
                };
                // Boundary values are named by the step alone, the inner
                // loop's by the step and their index in it.
                let mut at = vec![bad.0 as u32];
                if bad.1 > 0 && bad.1 < w - 1 {
                    at.push(bad.1 as u32 - 1);
                }
                assert_eq!(
                    (task.function(), task.indices.clone()),
                    ("checked", at),
                    "{threads} threads, {bad:?}"
                );
            }
        }
    }
    for (bad, m) in &messages {
        assert_eq!(m, &messages.iter().find(|x| x.0 == *bad).unwrap().1);
    }
}

/// Values made by `napped` (only `a_cancelled_run_of_trapezoids_stops`
/// calls it).
static NAPPED: AtomicU64 = AtomicU64::new(0);

/// `mix`, counted, after a nap.
#[delayed]
fn napped(a: u64, b: u64, c: u64) -> u64 {
    NAPPED.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_micros(5));
    a.wrapping_mul(31)
        .wrapping_add(b.wrapping_mul(17))
        .wrapping_add(c)
        % 1_000_003
}

/// A run of trapezoids cancelled in its second phase or later stops: no
/// value is made once `wait` returns, fewer than all were made, and the
/// runtime computes the next stencil as before.
#[test]
fn a_cancelled_run_of_trapezoids_stops() {
    let (w, steps) = (122usize, 200usize);
    for threads in [2, 3, 8] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        NAPPED.store(0, Ordering::SeqCst);
        let h = rt.spawn(graph! {
            let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
            for _ in 0..steps {
                let mut next = Vec::new();
                next.push(edge(cur[0]));
                for i in 1..w - 1 {
                    next.push(napped(cur[i - 1], cur[i], cur[i + 1]));
                }
                next.push(edge(cur[w - 1]));
                cur = next;
            }
            cur
        });
        // Past the first phase (at most 30 steps on 2 threads).
        while NAPPED.load(Ordering::SeqCst) < (35 * (w - 2)) as u64 && !h.is_finished() {
            std::thread::yield_now();
        }
        h.cancel();
        assert!(
            matches!(h.wait(), Err(Error::Cancelled)),
            "{threads} threads"
        );
        let made = NAPPED.load(Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(NAPPED.load(Ordering::SeqCst), made, "{threads} threads");
        assert!(made < (steps * (w - 2)) as u64, "{threads} threads: {made}");
        assert_eq!(stencil(&rt, w, 60), stencil_seq(w, 60), "{threads} threads");
    }
}

#[derive(Default)]
struct Counts {
    tasks: AtomicU64,
    blocks: AtomicU64,
    values: AtomicU64,
}

impl Observer for Counts {
    fn task_finished(&self, _: &TaskEvent<'_>) {
        self.tasks.fetch_add(1, Ordering::Relaxed);
    }
    fn block_finished(&self, b: &BlockEvent) {
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.values
            .fetch_add(u64::from(b.hi - b.lo), Ordering::Relaxed);
    }
}

/// The ring stencil's reads (`(i + w - 1) % w`) have no reach.
fn ring(rt: &Runtime, w: usize, steps: usize) -> Vec<u64> {
    rt.compute(graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            for i in 0..w {
                let l = cur[(i + w - 1) % w];
                next.push(mix(l, cur[i], cur[(i + 1) % w]));
            }
            cur = next;
        }
        cur
    })
    .unwrap()
}

#[test]
fn observers_see_the_steps_as_blocks_and_the_rest_as_tasks() {
    let (w, steps) = (40usize, 5usize);
    for threads in [1, 2] {
        let c = Arc::new(Counts::default());
        let rt = Runtime::builder()
            .threads(threads)
            .observer(c.clone())
            .build()
            .unwrap();
        assert_eq!(stencil(&rt, w, steps), stencil_seq(w, steps));
        // The leaves (a fused loop of their own) and every value of every
        // step run in blocks: no task runs node by node.
        assert_eq!(c.tasks.load(Ordering::Relaxed), 0);
        assert_eq!(c.values.load(Ordering::Relaxed), (w + w * steps) as u64);
        assert!(c.blocks.load(Ordering::Relaxed) >= steps as u64);
        // Without a reach: the steps node by node, every task seen.
        let got = ring(&rt, w, steps);
        assert_eq!(c.tasks.load(Ordering::Relaxed), (w * steps) as u64);
        let fused_off = Runtime::builder().fuse_loops(false).build().unwrap();
        assert_eq!(got, ring(&fused_off, w, steps));
    }
}

#[delayed]
fn cell(i: u64) -> String {
    format!("{i}")
}
#[delayed]
fn grow(l: &str, c: &str, r: &str, t: usize, i: usize) -> String {
    if (t, i) == (3, 17) {
        panic!("no 17 at 3");
    }
    format!("{}", (l.len() + c.len() + r.len()) % 10)
}

#[test]
fn a_panic_inside_a_step_names_its_task_fused_or_not() {
    let mut messages = Vec::new();
    for rt in runtimes(2) {
        let w = 30usize;
        let run = |steps: usize| {
            rt.compute(graph! {
                let mut cur: Vec<_> = (0..w as u64).map(|i| cell(i)).collect();
                for t in 0..steps {
                    let mut next = Vec::new();
                    next.push(cur[0]);
                    for i in 1..w - 1 {
                        next.push(grow(&cur[i - 1], &cur[i], &cur[i + 1], t, i - 1));
                    }
                    next.push(cur[w - 1]);
                    cur = next;
                }
                cur
            })
        };
        let e = run(6).unwrap_err();
        messages.push(e.to_string());
        let Error::TaskPanicked { task, message, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (task.function(), task.indices.clone(), message.as_str()),
            ("grow", vec![3, 17], "no 17 at 3")
        );
        // Before step 3 nothing fails: values borrowed (`&str`), cells
        // pushed as they are.
        let ok = run(3).unwrap();
        assert_eq!(ok.len(), w);
        assert_eq!((ok[0].as_str(), ok[w - 1].as_str()), ("0", "29"));
    }
    assert_eq!(messages[0], messages[1]);
}

#[test]
fn plain_code_reading_the_state_runs_node_by_node() {
    let mut got = Vec::new();
    for rt in runtimes(2) {
        let w = 6usize;
        got.push(
            rt.compute(graph! {
                let mut cur: Vec<_> = (0..w as u64).map(|i| leaf(i)).collect();
                for _ in 0..3 {
                    let mut next = Vec::new();
                    for i in 0..w {
                        let n = cur.len() as u64;
                        next.push(add(cur[i], n));
                    }
                    cur = next;
                }
                cur
            })
            .unwrap(),
        );
    }
    let want: Vec<u64> = (0..6u64).map(|i| i * 7 + 1 + 18).collect();
    assert_eq!(got, [want.clone(), want]);
}

/// Values alive: made by `counted`, cloned, dropped.
static LIVE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

#[derive(Debug, PartialEq)]
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
    Counted::new(i * 7 + 1)
}
#[delayed]
fn combine(
    a: Counted,
    b: Counted,
    t: usize,
    i: usize,
    bad: (usize, usize),
) -> Result<Counted, Bad> {
    if (t, i) == bad {
        return Err(Bad);
    }
    Ok(Counted::new(
        a.0.wrapping_mul(31).wrapping_add(b.0) % 1_000_003,
    ))
}

/// Owned values through a fused stencil whose inner loop fails at `bad`
/// (a step past the last: none fails): returns the result, the failing
/// task's indices, and how many values are still alive once the run is
/// over and its result dropped.
fn owned(
    rt: &Runtime,
    w: usize,
    steps: usize,
    bad: (usize, usize),
) -> (Option<Vec<u64>>, Option<Vec<u32>>, i64) {
    let r = rt.compute(graph! {
        let mut cur: Vec<_> = (0..w as u64).map(|i| counted(i)).collect();
        for t in 0..steps {
            let mut next = Vec::new();
            next.push(cur[0]);
            for i in 1..w {
                next.push(combine(cur[i - 1], cur[i], t, i, bad)?);
            }
            cur = next;
        }
        cur
    });
    let (v, at) = match r {
        Ok(v) => (Some(v.iter().map(|c| c.0).collect()), None),
        Err(Error::TaskFailed { task, .. }) => (None, Some(task.indices.clone())),
        Err(e) => panic!("{e:?}"),
    };
    (v, at, LIVE.load(Ordering::SeqCst))
}

/// Every value a fused step loop makes or clones is dropped exactly once,
/// whether the run finishes or a task inside a tile fails (on 1 to 8
/// threads, the failure in the first, a middle and the last step), and the
/// results and the failing task are node by node's.
#[test]
fn owned_values_are_dropped_once_whether_the_steps_finish_or_fail() {
    let (w, steps) = (40usize, 5usize);
    let want: Vec<u64> = {
        let mut cur: Vec<u64> = (0..w as u64).map(|i| i * 7 + 1).collect();
        for _ in 0..steps {
            let mut next = vec![cur[0]];
            next.extend(
                (1..w).map(|i| cur[i - 1].wrapping_mul(31).wrapping_add(cur[i]) % 1_000_003),
            );
            cur = next;
        }
        cur
    };
    for threads in [1, 2, 3, 5, 8] {
        for rt in runtimes(threads) {
            assert_eq!(
                owned(&rt, w, steps, (steps, 0)),
                (Some(want.clone()), None, 0)
            );
            for bad in [(0, 1), (2, 17), (steps - 1, w - 1)] {
                let at = vec![bad.0 as u32, bad.1 as u32 - 1];
                assert_eq!(
                    owned(&rt, w, steps, bad),
                    (None, Some(at), 0),
                    "{threads} threads, {bad:?}"
                );
            }
        }
    }
}
