//! Progress bars per call site, like dask's `progress()`, drawn with
//! indicatif on standard error (and not at all when it is not a terminal).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::observe::{
    same_site, BlockEvent, CacheUse, FusedSites, Observer, RunFinished, RunStarted, TaskEvent,
};
use crate::site::FamilyInfo;

/// An observer that draws one progress bar per call site of each run:
/// `inc [=======>    ] 180/256` (two call sites of one function are told
/// apart by their line: `add @ src/main.rs:14`). Turn it on for a runtime with
/// [`RuntimeBuilder::progress_bars`], or attach one for a while:
///
/// ```
/// use std::sync::Arc;
/// use taskdag::progress::ProgressBars;
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
///
/// let rt = Runtime::new(2)?;
/// let bars = Arc::new(ProgressBars::new());
/// let watching = rt.observe(bars.clone());
/// rt.compute(graph! {
///     let xs: Vec<_> = (0..256).map(|i| inc(i)).collect();
///     xs
/// })?;
/// drop(watching);
/// // What the bars showed last: every `inc` done.
/// assert_eq!(bars.last()[0].done, 256);
/// # Ok::<(), taskdag::Error>(())
/// ```
///
/// Cost: per node-by-node task, finding the call site's bar (a read lock and
/// a short scan) and an atomic add; per block of a fused loop, the same for
/// each call site of its body. indicatif redraws at most 20 times a second.
///
/// [`RuntimeBuilder::progress_bars`]: crate::RuntimeBuilder::progress_bars
pub struct ProgressBars {
    multi: MultiProgress,
    runs: RwLock<HashMap<u64, Arc<RunBars>>>,
    last: Mutex<Vec<Bar>>,
    /// The result cache's use by the last run to end.
    last_cache: Mutex<CacheUse>,
}

/// One bar, as [`ProgressBars::last`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// The call site's function.
    pub name: &'static str,
    /// The bar's label: the function, or where another call site of the
    /// run has the same name, the function and the line
    /// (`add @ src/main.rs:14`; see [`FamilyInfo::labels`]).
    pub label: String,
    /// Tasks finished.
    pub done: u64,
    /// Tasks in the run.
    pub total: u64,
}

struct RunBars {
    bars: Vec<(&'static FamilyInfo, ProgressBar)>,
    /// The bars' labels.
    labels: Vec<String>,
    /// Per fused loop: the sites its blocks run.
    fused: Vec<FusedSites>,
    /// Cached calls loaded and computed so far, and the line that shows
    /// them (added at the first cached call).
    cache: Mutex<(CacheUse, Option<ProgressBar>)>,
}

impl RunBars {
    /// Counts cached calls, and shows the count on its own line.
    #[cold]
    fn count_cache(&self, multi: &MultiProgress, u: CacheUse) {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.0.hits += u.hits;
        c.0.misses += u.misses;
        let msg = format!(
            "result cache: {} loaded, {} computed and stored",
            c.0.hits, c.0.misses
        );
        match &c.1 {
            Some(line) => line.set_message(msg),
            None => {
                let line = multi.add(ProgressBar::new(0));
                line.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                line.set_message(msg);
                c.1 = Some(line);
            }
        }
    }

    fn bar_of(&self, site: &FamilyInfo) -> Option<usize> {
        self.bars
            .iter()
            .position(|(s, _)| std::ptr::eq(*s, site))
            .or_else(|| self.bars.iter().position(|(s, _)| same_site(s, site)))
    }
}

impl Default for ProgressBars {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ProgressBars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressBars").finish_non_exhaustive()
    }
}

impl ProgressBars {
    /// Bars on standard error, hidden when it is not a terminal.
    pub fn new() -> Self {
        Self::with_target(ProgressDrawTarget::stderr())
    }

    /// Bars drawn to `target` (for instance `ProgressDrawTarget::hidden()`).
    pub fn with_target(target: ProgressDrawTarget) -> Self {
        ProgressBars {
            multi: MultiProgress::with_draw_target(target),
            runs: RwLock::new(HashMap::new()),
            last: Mutex::new(Vec::new()),
            last_cache: Mutex::new(CacheUse::default()),
        }
    }

    /// The bars of the run that ended last, or of the one running now if
    /// none has ended.
    pub fn last(&self) -> Vec<Bar> {
        let runs = self.runs.read().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = runs.values().next() {
            return r.snapshot();
        }
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The result cache's use (cached calls loaded and computed) by the
    /// run of [`last`](ProgressBars::last), also shown as a line under its
    /// bars (`result cache: 12 loaded, 3 computed and stored`).
    pub fn cache_use(&self) -> CacheUse {
        let runs = self.runs.read().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = runs.values().next() {
            return r.cache.lock().unwrap_or_else(|p| p.into_inner()).0;
        }
        *self.last_cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RunBars {
    fn snapshot(&self) -> Vec<Bar> {
        self.bars
            .iter()
            .zip(&self.labels)
            .map(|((s, b), label)| Bar {
                name: s.name,
                label: label.clone(),
                done: b.position(),
                total: b.length().unwrap_or(0),
            })
            .collect()
    }
}

impl Observer for ProgressBars {
    fn run_started(&self, run: &RunStarted<'_>) {
        let mut planned = run.planned();
        planned.retain(|p| p.tasks > 0);
        let sites: Vec<&FamilyInfo> = planned.iter().map(|p| p.site).collect();
        let labels = FamilyInfo::labels(&sites);
        let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let style = ProgressStyle::with_template(&format!(
            "{{prefix:>{width}}} [{{bar:40.green/white}}] {{pos:>7}}/{{len:7}} {{elapsed}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bars = planned
            .iter()
            .zip(&labels)
            .map(|(p, label)| {
                let b = self.multi.add(ProgressBar::new(p.tasks));
                b.set_style(style.clone());
                b.set_prefix(label.clone());
                (p.site, b)
            })
            .collect();
        let mut r = RunBars {
            bars,
            labels,
            fused: Vec::new(),
            cache: Mutex::new((CacheUse::default(), None)),
        };
        r.fused = run.fused_sites();
        self.runs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run.run, Arc::new(r));
    }

    fn block_finished(&self, block: &BlockEvent) {
        let runs = self.runs.read().unwrap_or_else(|p| p.into_inner());
        let Some(r) = runs.get(&block.run) else {
            return;
        };
        if block.cache != CacheUse::default() {
            r.count_cache(&self.multi, block.cache);
        }
        let Some(f) = r.fused.iter().find(|f| std::ptr::eq(f.block, block.site)) else {
            return;
        };
        // The reduction's combines count only this block's (the ones that
        // join blocks are counted when the run ends).
        f.block_tasks(block.lo, block.hi, |s, n| {
            if let Some(b) = r.bar_of(s) {
                r.bars[b].1.inc(n);
            }
        });
    }

    fn task_finished(&self, task: &TaskEvent<'_>) {
        let runs = self.runs.read().unwrap_or_else(|p| p.into_inner());
        let Some(r) = runs.get(&task.run) else { return };
        if task.cache != CacheUse::default() {
            r.count_cache(&self.multi, task.cache);
        }
        let bar = r
            .bars
            .iter()
            .find(|(s, _)| std::ptr::eq(*s, task.site))
            .or_else(|| r.bars.iter().find(|(s, _)| same_site(s, task.site)));
        if let Some((_, b)) = bar {
            b.inc(1);
        }
    }

    fn run_finished(&self, run: &RunFinished<'_>) {
        let r = self
            .runs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run.run);
        if let Some(r) = r {
            for (_, b) in &r.bars {
                if run.error.is_some() || run.panicked {
                    b.abandon();
                } else {
                    b.finish();
                }
            }
            *self.last.lock().unwrap_or_else(|p| p.into_inner()) = r.snapshot();
            let mut c = r.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(line) = c.1.take() {
                line.finish();
            }
            *self.last_cache.lock().unwrap_or_else(|p| p.into_inner()) = c.0;
        }
    }
}
