//! The one place a task runs, for both kinds of work.
//!
//! A node of a task family and a task inside a fused block both run through
//! [`Cx::task`] (or [`Cx::node`]): it marks in the `Cx` which task this
//! thread runs now, runs it, and clears the mark. The work item runs under
//! one `catch_unwind` (`Run::guarded`); a panic it catches is the failure of
//! the marked task (function, call site, loop indices, message), or, when no
//! task is marked, a panic of plain code in a fused loop's body, which the
//! caller of `compute` gets back as its own panic. One landing pad per work
//! item, none per task.
//!
//! After a failure the run stops: other work items unwind with [`Stopped`]
//! at their next check, dropping whatever they hold.

use std::any::Any;
use std::cell::Cell;
use std::panic::resume_unwind;

use super::Cx;
use crate::error::{Error, TaskInfo};
use crate::family::{FamilyInfo, LoopIndex};
use crate::value::NodeId;

/// The payload that unwinds a work item after its task's failure was
/// recorded; the executor catches it at the item's boundary.
pub(crate) struct Stopped;

/// Loop indices kept with the mark: deeper nests keep their outermost.
const MARK_INDICES: usize = 8;

/// The task a thread runs now.
#[derive(Clone, Copy)]
pub(crate) enum Mark {
    /// Plain code (or the executor itself).
    None,
    /// Node `idx` of a task family.
    Node(NodeId),
    /// A task inside a fused block.
    Task {
        info: &'static FamilyInfo,
        at: [u32; MARK_INDICES],
        depth: u8,
    },
}

impl Mark {
    fn task(info: &'static FamilyInfo, indices: &[u32]) -> Mark {
        let mut at = [0; MARK_INDICES];
        let depth = indices.len().min(MARK_INDICES);
        at[..depth].copy_from_slice(&indices[..depth]);
        Mark::Task {
            info,
            at,
            depth: depth as u8,
        }
    }
}

/// The mark of the thread running a work item.
pub(crate) struct Marker(Cell<Mark>);

impl Marker {
    pub(crate) fn new() -> Self {
        Marker(Cell::new(Mark::None))
    }

    pub(crate) fn get(&self) -> Mark {
        self.0.get()
    }
}

impl<'g> Cx<'_, 'g> {
    /// Runs the task of call site `info` at loop indices `at`: `f` calls the
    /// `#[delayed]` function. If it panics, the run fails with this task.
    #[inline(always)]
    pub fn task<R, L: LoopIndex>(
        &self,
        info: &'static FamilyInfo,
        at: L,
        f: impl FnOnce() -> R,
    ) -> R {
        self.mark().0.set(Mark::task(info, at.as_slice()));
        let r = f();
        self.mark().0.set(Mark::None);
        r
    }

    /// Runs the task of node `id` (a task family's): as [`Cx::task`].
    #[inline(always)]
    pub(crate) fn node<R>(&self, id: NodeId, f: impl FnOnce() -> R) -> R {
        self.mark().0.set(Mark::Node(id));
        let r = f();
        self.mark().0.set(Mark::None);
        r
    }

    fn mark(&self) -> &Marker {
        &self.mark
    }

    /// Unwinds the current work item if the run has stopped.
    #[inline(always)]
    pub(crate) fn check(&self) {
        if self.stopped() {
            stop_here();
        }
    }

    /// The task the mark names, for an error report.
    pub(crate) fn marked(&self, mark: Mark) -> Option<TaskInfo> {
        match mark {
            Mark::None => None,
            Mark::Node(id) => Some(self.run.fams[id.fam as usize].core().describe(id.idx)),
            Mark::Task { info, at, depth } => Some(info.task(&at[..depth as usize])),
        }
    }
}

#[cold]
#[inline(never)]
fn stop_here() -> ! {
    resume_unwind(Box::new(Stopped))
}

/// What a caught panic was: a task's (recorded as the run's failure), or
/// plain code's.
#[cold]
pub(crate) fn caught(cx: &Cx<'_, '_>, payload: Box<dyn Any + Send>) {
    if payload.is::<Stopped>() {
        return;
    }
    match cx.marked(cx.mark().get()) {
        Some(task) => {
            let message = panic_message(&*payload);
            cx.run.fail(Error::TaskPanicked {
                task,
                message,
                others: 0,
            });
            // Drop the payload here, inside the worker: its destructor
            // could panic too.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
        }
        None => cx.run.plain_panicked(payload),
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
