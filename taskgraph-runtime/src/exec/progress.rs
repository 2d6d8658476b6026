//! Progress: how many tasks of a run have finished, failed, and exist.
//!
//! Nothing is counted per task. A node run node by node is done when its
//! value state has left `NOT_RUN` (`../value/slot.rs`), so a snapshot reads
//! the states of the task families: O(nodes), a fraction of a nanosecond per
//! node (0.2 ns measured on 200,000 nodes), and only when someone asks. A
//! fused loop counts the iterations its blocks have run, once per probe of
//! its work (`loops.rs`: every leaf while the work is heavy, every few
//! thousand while it is light, and when a block ends); a snapshot turns them
//! into tasks with what the loop was told of its body (`Loop::tasks`).
//! Failures are counted where they are recorded.

use crate::site::{FamilyInfo, TaskInfo};

/// How far a run has got: tasks finished, tasks in the graph, tasks
/// failed, and its use of the result cache. A snapshot, read without
/// stopping the run.
///
/// `done` counts tasks that have returned; a fused loop's count is brought
/// up to date every few thousand iterations while its tasks are light
/// (every iteration while they are heavy), so it may lag a little behind.
/// After a successful run `done == total`; after a failure or a
/// cancellation `done < total` and the tasks that never started are in
/// neither `done` nor `failed`.
///
/// `cache_hits` and `cache_misses` count the run's calls of
/// `#[delayed(cache)]` functions on a runtime with a result cache
/// ([`RuntimeBuilder::cache`](crate::RuntimeBuilder)): loaded from the
/// cache, and computed (then stored). They are counted per run, so a
/// family's [`FamilyProgress::progress`] leaves them zero.
///
/// ```
/// use taskdag::Progress;
///
/// let p = Progress { done: 37, total: 256, failed: 1, ..Progress::default() };
/// assert_eq!(p.to_string(), "37/256 (1 failed)");
/// let q = Progress { done: 15, total: 15, cache_hits: 12, cache_misses: 3, ..p };
/// assert_eq!(q.to_string(), "15/15 (1 failed; cache: 12 loaded, 3 computed)");
/// assert!((p.fraction() - 37.0 / 256.0).abs() < 1e-12);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Progress {
    /// Tasks that have finished.
    pub done: u64,
    /// Tasks in the graph.
    pub total: u64,
    /// Tasks that panicked or returned `Err`.
    pub failed: u64,
    /// Cached calls whose result was loaded from the result cache.
    pub cache_hits: u64,
    /// Cached calls that were computed (and their results stored).
    pub cache_misses: u64,
}

impl Progress {
    /// The fraction of tasks finished, from 0 to 1 (1 for an empty graph).
    ///
    /// ```
    /// use taskdag::Progress;
    ///
    /// let p = Progress { done: 1, total: 4, ..Progress::default() };
    /// assert_eq!(p.fraction(), 0.25);
    /// assert_eq!(Progress::default().fraction(), 1.0);
    /// ```
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        }
    }
}

impl std::fmt::Display for Progress {
    /// `done/total`, the failures if there are any, and the cache's use if
    /// it was used: `37/256 (1 failed)`, `15/15 (cache: 12 loaded, 3
    /// computed)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.done, self.total)?;
        let cached = self.cache_hits > 0 || self.cache_misses > 0;
        match (self.failed > 0, cached) {
            (false, false) => return Ok(()),
            (true, false) => write!(f, " ({} failed", self.failed)?,
            (false, true) => write!(f, " (")?,
            (true, true) => write!(f, " ({} failed; ", self.failed)?,
        }
        if cached {
            write!(
                f,
                "cache: {} loaded, {} computed",
                self.cache_hits, self.cache_misses
            )?;
        }
        write!(f, ")")
    }
}

/// The progress of one family: the tasks of one call site in the graph
/// (`inc(x)` inside a loop is one family of as many tasks as iterations).
/// See [`Handle::progress_by_family`](crate::Handle::progress_by_family)
/// for an example.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FamilyProgress {
    /// The function as written at the call site, e.g. `inc`.
    pub function: &'static str,
    /// The call site's file.
    pub file: &'static str,
    /// The call site's line (1-based).
    pub line: u32,
    /// The call site's column (1-based).
    pub column: u32,
    /// The family's tasks.
    pub progress: Progress,
    /// What people call it in this run (see [`label`](Self::label)).
    label: String,
}

impl FamilyProgress {
    fn new(info: &'static FamilyInfo) -> Self {
        FamilyProgress {
            function: info.name,
            file: info.file,
            line: info.line,
            column: info.column,
            progress: Progress::default(),
            label: String::new(),
        }
    }

    /// The call site as progress bars and the dashboard name it: the
    /// function (`inc`), or where another call site of the run has the same
    /// name, the function and the line (`add @ src/main.rs:14`); see
    /// [`FamilyInfo::labels`].
    pub fn label(&self) -> &str {
        &self.label
    }

    fn info(&self) -> FamilyInfo {
        FamilyInfo::new(self.function, self.file, self.line, self.column)
    }

    fn is(&self, t: &TaskInfo) -> bool {
        (self.function, self.file, self.line, self.column)
            == (t.function(), t.file(), t.line(), t.column())
    }
}

/// The progress of a run, per family, in the graph's order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) families: Vec<FamilyProgress>,
    /// Failures that belong to no family (a spawned graph read that failed).
    pub(crate) unattributed: u64,
    /// The run's cached calls loaded and computed.
    pub(crate) cache_hits: u64,
    pub(crate) cache_misses: u64,
}

impl Snapshot {
    /// Adds `done` of `total` tasks to the family of call site `info`.
    pub(crate) fn add(&mut self, info: &'static FamilyInfo, done: u64, total: u64) {
        let row = match self.families.iter().position(|r| {
            (r.function, r.file, r.line, r.column) == (info.name, info.file, info.line, info.column)
        }) {
            Some(i) => &mut self.families[i],
            None => {
                self.families.push(FamilyProgress::new(info));
                self.families.last_mut().expect("just pushed")
            }
        };
        row.progress.total += total;
        row.progress.done += done.min(total);
    }

    /// Counts a failed task.
    pub(crate) fn failed(&mut self, task: Option<&TaskInfo>) {
        match task.and_then(|t| self.families.iter_mut().find(|r| r.is(t))) {
            Some(r) => r.progress.failed += 1,
            None => self.unattributed += 1,
        }
    }

    /// Drops the families that have no task in this run (the node-by-node
    /// form of a loop that ran fused, and the reverse). Labels are made
    /// only when asked for ([`Snapshot::labelled`]): a spawned run takes a
    /// snapshot when it is built and when it ends, and most are never read
    /// per family.
    pub(crate) fn prune(&mut self) {
        self.families
            .retain(|r| r.progress.total > 0 || r.progress.failed > 0);
    }

    /// The families, labelled ([`FamilyInfo::labels`]).
    pub(crate) fn labelled(mut self) -> Vec<FamilyProgress> {
        let infos: Vec<FamilyInfo> = self.families.iter().map(FamilyProgress::info).collect();
        let refs: Vec<&FamilyInfo> = infos.iter().collect();
        for (r, l) in self.families.iter_mut().zip(FamilyInfo::labels(&refs)) {
            r.label = l;
        }
        self.families
    }

    /// The whole run.
    pub(crate) fn total(&self) -> Progress {
        let mut p = Progress {
            failed: self.unattributed,
            cache_hits: self.cache_hits,
            cache_misses: self.cache_misses,
            ..Progress::default()
        };
        for r in &self.families {
            p.done += r.progress.done;
            p.total += r.progress.total;
            p.failed += r.progress.failed;
        }
        p
    }
}
