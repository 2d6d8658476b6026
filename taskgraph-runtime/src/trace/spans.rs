//! The `tracing` observer (see the module above).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;

use tracing::dispatcher::{self, DefaultGuard, Dispatch};
use tracing::field::Empty;
use tracing::span::EnteredSpan;
use tracing::Span;

use crate::observe::{BlockEvent, Observer, RunFinished, RunStarted, TaskEvent};
use crate::site::FamilyInfo;

/// An observer that opens a `tracing` span per run, task and fused block
/// (see the [module](super)).
///
/// The subscriber that sees a run's spans is the one current on the thread
/// that computes (or spawns) the graph, even one set for a scope with
/// `tracing::subscriber::with_default`: while a task runs, its thread makes
/// that subscriber its default, so the task's own events reach it too.
///
/// ```
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn inc(x: u64) -> u64 {
///     tracing::info!(x, "inside a task"); // an event in the task's span
///     x + 1
/// }
///
/// // Any subscriber: here tracing-subscriber's `fmt`, which prints each
/// // event with its spans: `run{run=1 threads=2}:task{function="inc"
/// // indices=[2] ..}: inside a task x=2`.
/// let subscriber = tracing_subscriber::fmt().with_test_writer().finish();
/// tracing::subscriber::with_default(subscriber, || {
///     // The same as `.observer(Arc::new(taskdag::trace::Spans::new()))`.
///     let rt = Runtime::builder().threads(2).tracing(true).build()?;
///     let v = rt.compute(graph! {
///         let mut v = Vec::new();
///         for i in 0..4 {
///             if i % 2 == 0 {
///                 v.push(inc(i)); // a loop with `if` runs node by node
///             }
///         }
///         v
///     })?;
///     assert_eq!(v, [1, 3]);
///     Ok::<(), taskdag::Error>(())
/// })?;
/// # Ok::<(), taskdag::Error>(())
/// ```
///
/// One `Spans` may watch several runtimes; it holds the spans of the runs
/// in progress.
#[derive(Default)]
pub struct Spans {
    /// Every run in progress, by run number: its span, and the subscriber
    /// that was current where it started.
    runs: Mutex<HashMap<u64, (Span, Dispatch)>>,
}

impl std::fmt::Debug for Spans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner()).len();
        f.debug_struct("Spans").field("runs", &runs).finish()
    }
}

/// What a span on a thread's stack was opened for: finishing events are
/// matched against it (tasks and blocks end on the thread they started on,
/// innermost first, since a task that computes a graph of its own runs
/// other tasks inside itself).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    run: u64,
    site: *const FamilyInfo,
    block: bool,
}

/// A span a thread has entered for a task or block it runs, and the
/// subscriber it made current meanwhile (the one of the task's run).
struct Entered {
    key: Key,
    span: EnteredSpan,
    _subscriber: DefaultGuard,
}

thread_local! {
    /// The spans this thread has entered for tasks and blocks it runs,
    /// innermost last.
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

impl Spans {
    /// An observer with no run in progress, to attach to a runtime.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskdag::trace::Spans;
    /// use taskdag::{delayed, graph, Runtime};
    ///
    /// #[delayed]
    /// fn two() -> u8 {
    ///     2
    /// }
    ///
    /// let rt = Runtime::new(2)?;
    /// let watching = rt.observe(Arc::new(Spans::new())); // for a while
    /// assert_eq!(rt.compute(graph! { two() })?, 2);
    /// drop(watching);
    /// # Ok::<(), taskdag::Error>(())
    /// ```
    pub fn new() -> Spans {
        Spans::default()
    }

    /// Makes run `run`'s subscriber current on this thread, then opens and
    /// enters the span `make` makes as a child of the run's span, for the
    /// task or block `key`. The subscriber stays current while the task
    /// runs, so that its events reach the subscriber of whoever computed
    /// the graph, even one set for a scope (`tracing::subscriber::with_default`)
    /// on another thread.
    fn enter(&self, key: Key, make: impl FnOnce(&Span) -> Span) {
        let run = {
            let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
            runs.get(&key.run).cloned()
        };
        let (parent, subscriber) = match run {
            Some((span, dispatch)) => (span, dispatcher::set_default(&dispatch)),
            None => (
                Span::none(),
                dispatcher::get_default(dispatcher::set_default),
            ),
        };
        let span = make(&parent).entered();
        ENTERED.with(|s| {
            s.borrow_mut().push(Entered {
                key,
                span,
                _subscriber: subscriber,
            })
        });
    }

    /// Leaves the span entered for `key` on this thread (and any entered
    /// after it whose end was never heard), recording `failed`; `finish`
    /// records more before the span is left.
    fn leave(key: Key, failed: bool, finish: impl FnOnce(&Span)) {
        let left = ENTERED.with(|s| {
            let mut s = s.borrow_mut();
            let at = s.iter().rposition(|e| e.key == key)?;
            Some(s.split_off(at))
        });
        // Outside the borrow: exiting calls into the subscriber. Innermost
        // first, so that each thread-default guard restores the one before.
        let Some(mut left) = left else { return };
        while left.len() > 1 {
            drop(left.pop());
        }
        if let Some(e) = left.pop() {
            if failed {
                e.span.record("failed", true);
            }
            finish(&e.span);
        }
    }
}

impl Observer for Spans {
    fn run_started(&self, run: &RunStarted<'_>) {
        let span = tracing::info_span!(
            target: "taskgraph",
            "run",
            run = run.run,
            threads = run.threads,
            failed = Empty,
        );
        let dispatch = dispatcher::get_default(Dispatch::clone);
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.insert(run.run, (span, dispatch));
    }

    fn task_started(&self, t: &TaskEvent<'_>) {
        let key = Key {
            run: t.run,
            site: t.site,
            block: false,
        };
        self.enter(key, |parent| {
            tracing::info_span!(
                target: "taskgraph",
                parent: parent,
                "task",
                function = t.site.name,
                indices = ?t.indices,
                file = t.site.file,
                line = t.site.line,
                column = t.site.column,
                run = t.run,
                thread = t.thread,
                failed = Empty,
            )
        });
    }

    fn task_finished(&self, t: &TaskEvent<'_>) {
        let key = Key {
            run: t.run,
            site: t.site,
            block: false,
        };
        Spans::leave(key, t.failed, |_| {});
    }

    fn block_started(&self, b: &BlockEvent) {
        let key = Key {
            run: b.run,
            site: b.site,
            block: true,
        };
        self.enter(key, |parent| {
            tracing::info_span!(
                target: "taskgraph",
                parent: parent,
                "block",
                function = b.site.name,
                lo = b.lo,
                hi = b.hi,
                file = b.site.file,
                line = b.site.line,
                run = b.run,
                thread = b.thread,
                failed = Empty,
            )
        });
    }

    fn block_finished(&self, b: &BlockEvent) {
        let key = Key {
            run: b.run,
            site: b.site,
            block: true,
        };
        // The block may have given iterations away: `hi` is what it ran.
        Spans::leave(key, false, |span| {
            span.record("hi", b.hi);
        });
    }

    fn block_unwound(&self, b: &BlockEvent) {
        let key = Key {
            run: b.run,
            site: b.site,
            block: true,
        };
        Spans::leave(key, true, |_| {});
    }

    fn run_finished(&self, run: &RunFinished<'_>) {
        let span = self
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run.run);
        if let Some((span, _)) = span {
            if run.error.is_some() || run.panicked {
                span.record("failed", true);
            }
        }
    }
}
