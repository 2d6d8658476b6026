//! The task stream: every task's start and end, recorded by an observer,
//! exported as Chrome trace-event JSON (Perfetto, `chrome://tracing`) or as
//! a self-contained HTML performance report.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;

use crate::observe::{same_site, BlockEvent, CacheUse, Observer, RunStarted, TaskEvent};
use crate::site::FamilyInfo;
use crate::site::Template;

/// How many loop indices a recorded span keeps (deeper ones are cut).
pub const MAX_INDICES: usize = 6;
/// Spans are recorded in this many shards, one per participant thread.
const SHARDS: usize = 128;

/// What a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// A task.
    Task,
    /// A block of a fused loop (its tasks are spans inside it).
    Block,
}

/// One recorded span: a task, or a block of fused iterations.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// A task or a block.
    pub kind: SpanKind,
    /// The run.
    pub run: u64,
    /// The participant thread (as [`TaskEvent::thread`]).
    pub thread: usize,
    /// The call site (for a block: its loop).
    pub site: &'static FamilyInfo,
    indices: [u32; MAX_INDICES],
    depth: u8,
    /// A block's iterations `lo..hi` (0 for a task).
    pub lo: u32,
    /// One past a block's last iteration.
    pub hi: u32,
    /// Start, in [`now_ns`](crate::observe::now_ns) time.
    pub start: u64,
    /// End, in the same time.
    pub end: u64,
    /// Whether the task panicked or failed.
    pub failed: bool,
    /// Its use of the result cache: a task whose result was loaded
    /// ([`CacheUse::is_hit`]); for a block, its tasks' hits and misses.
    pub cache: CacheUse,
}

impl Span {
    /// A task's loop indices (at most [`MAX_INDICES`]).
    pub fn indices(&self) -> &[u32] {
        &self.indices[..self.depth as usize]
    }

    /// How long it took, in nanoseconds.
    pub fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// `inc[3]`, `loop 0..128`.
    pub fn name(&self) -> String {
        match self.kind {
            SpanKind::Block => format!("{} {}..{}", self.site.name, self.lo, self.hi),
            SpanKind::Task if self.depth == 0 => self.site.name.to_owned(),
            SpanKind::Task => {
                let at: Vec<String> = self.indices().iter().map(|i| i.to_string()).collect();
                format!("{}[{}]", self.site.name, at.join(", "))
            }
        }
    }
}

/// An observer that records every node-by-node task and every fused block
/// of the runs it watches: thread, call site, loop indices (a block's
/// iterations), start and end.
///
/// ```
/// use std::sync::Arc;
/// use taskdag::stream::{SpanKind, TaskStream};
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
///
/// let rt = Runtime::new(2)?;
/// let stream = Arc::new(TaskStream::new());
/// let watching = rt.observe(stream.clone());
/// rt.compute(graph! {
///     let xs: Vec<_> = (0..100).map(|i| inc(i)).collect();
///     let y = inc(7);
///     (xs, y)
/// })?;
/// drop(watching);
/// // The loop ran fused: blocks covering its 100 iterations; `y` a task.
/// let spans = stream.spans();
/// let blocks = spans.iter().filter(|s| s.kind == SpanKind::Block);
/// assert_eq!(blocks.map(|b| b.hi - b.lo).sum::<u32>(), 100);
/// assert_eq!(spans.iter().filter(|s| s.kind == SpanKind::Task).count(), 1);
/// let json = stream.chrome_trace(); // open in Perfetto or chrome://tracing
/// assert!(json.starts_with("{\"traceEvents\":["));
/// # Ok::<(), taskdag::Error>(())
/// ```
///
/// Cost per node-by-node task or fused block: two clock reads and a push
/// onto the running thread's own buffer (an uncontended lock); memory: 64
/// bytes per span.
pub struct TaskStream {
    shards: Box<[Mutex<Vec<Span>>]>,
    runs: Mutex<Vec<RunRecord>>,
}

/// What a stream keeps of each run it saw.
#[derive(Clone, Copy, Debug)]
pub struct RunRecord {
    /// The run.
    pub run: u64,
    /// When it started.
    pub start: u64,
    /// The pool's threads.
    pub threads: usize,
    /// Its graph's template.
    pub template: Option<&'static Template>,
}

impl Default for TaskStream {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TaskStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskStream")
            .field("spans", &self.spans().len())
            .finish()
    }
}

impl TaskStream {
    /// An empty stream.
    pub fn new() -> Self {
        TaskStream {
            shards: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
            runs: Mutex::new(Vec::new()),
        }
    }

    fn push(&self, s: Span) {
        self.shards[s.thread.min(SHARDS - 1)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(s);
    }

    /// Every span recorded, by start time.
    pub fn spans(&self) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        for s in self.shards.iter() {
            out.extend_from_slice(&s.lock().unwrap_or_else(|p| p.into_inner()));
        }
        out.sort_by_key(|s| (s.start, s.kind == SpanKind::Task));
        out
    }

    /// Every task recorded, by start time.
    pub fn tasks(&self) -> Vec<Span> {
        let mut s = self.spans();
        s.retain(|s| s.kind == SpanKind::Task);
        s
    }

    /// The runs seen.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            s.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Per call site: how many tasks, their total, mean and longest
    /// duration, and their share of all task time; longest total first.
    /// Fused blocks are not tasks here: run with
    /// [`fuse_loops(false)`](crate::RuntimeBuilder::fuse_loops) for a
    /// duration per task of a loop.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use taskdag::stream::TaskStream;
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn slow(x: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(2));
    ///     x
    /// }
    /// #[delayed]
    /// fn quick(x: u64) -> u64 {
    ///     x + 1
    /// }
    ///
    /// let rt = Runtime::builder().threads(2).fuse_loops(false).build()?;
    /// let stream = Arc::new(TaskStream::new());
    /// let watching = rt.observe(stream.clone());
    /// rt.compute(graph! {
    ///     let xs: Vec<_> = (0..4).map(|i| slow(i)).collect();
    ///     (xs, quick(1))
    /// })?;
    /// drop(watching);
    /// let stats = stream.stats();
    /// assert_eq!(stats[0].site.name, "slow"); // the most time first
    /// assert_eq!(stats[0].count, 4);
    /// assert!(stats[0].mean() >= 2_000_000);
    /// assert_eq!(stats[1].count, 1);
    /// // The same numbers, and the stream per thread, as one HTML page:
    /// let html = stream.report("two call sites");
    /// assert!(html.contains("slow") && html.contains("quick"));
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn stats(&self) -> Vec<SiteStats> {
        let mut out: Vec<SiteStats> = Vec::new();
        let mut all = 0u64;
        for s in self.tasks() {
            let d = s.duration();
            all += d;
            let st = match out.iter_mut().position(|x| same_site(x.site, s.site)) {
                Some(k) => &mut out[k],
                None => {
                    out.push(SiteStats {
                        site: s.site,
                        count: 0,
                        failed: 0,
                        cache_hits: 0,
                        total: 0,
                        max: 0,
                        share: 0.0,
                    });
                    out.last_mut().expect("pushed")
                }
            };
            st.count += 1;
            st.failed += u64::from(s.failed);
            st.cache_hits += u64::from(s.cache.is_hit());
            st.total += d;
            st.max = st.max.max(d);
        }
        for st in &mut out {
            st.share = if all == 0 {
                0.0
            } else {
                st.total as f64 / all as f64
            };
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.total));
        out
    }

    /// The stream as Chrome trace-event JSON: one complete event (`"ph":
    /// "X"`) per task and per fused block, one track per thread (named
    /// `pool thread N` or `caller N`), times in microseconds from the first
    /// span. Perfetto (ui.perfetto.dev) and `chrome://tracing` open it.
    pub fn chrome_trace(&self) -> String {
        let spans = self.spans();
        let threads = self.runs().iter().map(|r| r.threads).max().unwrap_or(0);
        let t0 = spans.iter().map(|s| s.start).min().unwrap_or(0);
        let mut out = String::with_capacity(64 + 160 * spans.len());
        out.push_str("{\"traceEvents\":[");
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push_str(",\n");
            }
            first = false;
        };
        let mut tids: Vec<usize> = spans.iter().map(|s| s.thread).collect();
        tids.sort_unstable();
        tids.dedup();
        for t in tids {
            sep(&mut out);
            let _ = write!(
                out,
                "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{},\"args\":{{\"name\":\"{}\"}}}}",
                tid(t),
                thread_name(t, threads)
            );
        }
        for s in &spans {
            sep(&mut out);
            let us = |ns: u64| ns as f64 / 1000.0;
            let _ = write!(
                out,
                "{{\"name\":{},\"cat\":\"{}\",\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"pid\":1,\"tid\":{},\"args\":{{\"run\":{},\"at\":{}",
                json_str(&s.name()),
                match s.kind {
                    SpanKind::Task => "task",
                    SpanKind::Block => "block",
                },
                us(s.start - t0),
                us(s.duration()),
                tid(s.thread),
                s.run,
                json_str(&format!("{}:{}:{}", s.site.file, s.site.line, s.site.column)),
            );
            match s.kind {
                SpanKind::Task => {
                    let at: Vec<String> = s.indices().iter().map(|i| i.to_string()).collect();
                    let _ = write!(
                        out,
                        ",\"function\":{},\"indices\":[{}]",
                        json_str(s.site.name),
                        at.join(",")
                    );
                    if s.failed {
                        out.push_str(",\"failed\":true");
                    }
                }
                SpanKind::Block => {
                    let _ = write!(out, ",\"iterations\":[{},{}]", s.lo, s.hi);
                }
            }
            if s.cache != CacheUse::default() {
                let _ = write!(
                    out,
                    ",\"cache_hits\":{},\"cache_misses\":{}",
                    s.cache.hits, s.cache.misses
                );
            }
            out.push('}');
            // A hit is drawn in the viewers' "good" (green) colour.
            if s.cache.is_hit() {
                out.push_str(",\"cname\":\"good\"");
            }
            out.push('}');
        }
        out.push_str("],\"displayTimeUnit\":\"ns\"}\n");
        out
    }

    /// Writes [`TaskStream::chrome_trace`] to `path`.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn write_chrome_trace(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.chrome_trace())
    }
}

/// A thread's track number in a trace (callers without a deque last).
fn tid(t: usize) -> usize {
    t.min(9999)
}

/// `pool thread 0`, `caller 0`.
pub(crate) fn thread_name(t: usize, threads: usize) -> String {
    if t == usize::MAX {
        "caller".to_owned()
    } else if t < threads {
        format!("pool thread {t}")
    } else {
        format!("caller {}", t - threads)
    }
}

/// `s` as a JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The tasks of one call site in a [`TaskStream`].
#[derive(Clone, Copy, Debug)]
pub struct SiteStats {
    /// The call site.
    pub site: &'static FamilyInfo,
    /// Tasks run.
    pub count: u64,
    /// Of which failed.
    pub failed: u64,
    /// Of which were result cache hits (loaded, not computed).
    pub cache_hits: u64,
    /// Their total duration, ns.
    pub total: u64,
    /// The longest, ns.
    pub max: u64,
    /// Their share of all tasks' time, 0 to 1.
    pub share: f64,
}

impl SiteStats {
    /// The mean duration, ns.
    pub fn mean(&self) -> u64 {
        self.total.checked_div(self.count).unwrap_or(0)
    }
}

impl Observer for TaskStream {
    fn run_started(&self, run: &RunStarted<'_>) {
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(RunRecord {
                run: run.run,
                start: run.time,
                threads: run.threads,
                template: run.template,
            });
    }

    fn task_finished(&self, t: &TaskEvent<'_>) {
        let mut indices = [0; MAX_INDICES];
        let depth = t.indices.len().min(MAX_INDICES);
        indices[..depth].copy_from_slice(&t.indices[..depth]);
        self.push(Span {
            kind: SpanKind::Task,
            run: t.run,
            thread: t.thread,
            site: t.site,
            indices,
            depth: depth as u8,
            lo: 0,
            hi: 0,
            start: t.start,
            end: t.end,
            failed: t.failed,
            cache: t.cache,
        });
    }

    fn block_finished(&self, b: &BlockEvent) {
        self.push(Span {
            kind: SpanKind::Block,
            run: b.run,
            thread: b.thread,
            site: b.site,
            indices: [0; MAX_INDICES],
            depth: 0,
            lo: b.lo,
            hi: b.hi,
            start: b.start,
            end: b.end,
            failed: false,
            cache: b.cache,
        });
    }
}
