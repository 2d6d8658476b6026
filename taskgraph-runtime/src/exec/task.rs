//! The one place a task runs, for both kinds of work: a node run node by
//! node and a task inside a fused block both call [`Cx::task`] (or
//! [`Cx::call`]). A panic is caught here, recorded with the task's function,
//! call site and loop indices, and the run stops; the caller then unwinds
//! with [`Stopped`] to the work item's boundary, dropping whatever it holds.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::Cx;
use crate::error::{Error, TaskInfo};
use crate::family::{FamilyInfo, LoopIndex};

/// The payload that unwinds a work item after its task's failure was
/// recorded; the executor catches it at the item's boundary.
pub(crate) struct Stopped;

impl<'g> Cx<'_, 'g> {
    /// Runs the task of call site `info` at loop indices `at`: `f` calls the
    /// `#[delayed]` function.
    ///
    /// A panic is recorded as the run's failure and stops it; this then
    /// unwinds to the work item's boundary.
    #[inline(always)]
    pub fn task<R, L: LoopIndex>(
        &self,
        info: &'static FamilyInfo,
        at: L,
        f: impl FnOnce() -> R,
    ) -> R {
        self.call(|| info.task(at.as_slice()), f)
    }

    /// Runs a task described by `who` (called only if it fails).
    #[inline(always)]
    pub fn call<R>(&self, who: impl FnOnce() -> TaskInfo, f: impl FnOnce() -> R) -> R {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(payload) => self.panicked(who, payload),
        }
    }

    #[cold]
    #[inline(never)]
    fn panicked(&self, who: impl FnOnce() -> TaskInfo, payload: Box<dyn Any + Send>) -> ! {
        if !payload.is::<Stopped>() {
            let message = panic_message(&*payload);
            self.run.fail(Error::TaskPanicked {
                task: who(),
                message,
                others: 0,
            });
            // Drop the payload here: its destructor could panic too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        }
        resume_unwind(Box::new(Stopped))
    }

    /// Unwinds the current work item if the run has stopped.
    #[inline(always)]
    pub(crate) fn check(&self) {
        if self.stopped() {
            stop_here();
        }
    }
}

#[cold]
#[inline(never)]
fn stop_here() -> ! {
    resume_unwind(Box::new(Stopped))
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
