//! A spawned graph's outputs as a source of a later graph (`../source.rs`):
//! a [`Handle`] (moved out) or a reference to one (cloned), as a vector of
//! lazy values or as one.

use super::Handle;
use crate::error::Error;
use crate::exec::finish::{Ended, Wake};
use crate::source::{Feed, IntoLazy, VectorSource};

/// A spawned graph's output, owned (moved out) or borrowed (cloned), as a
/// vector (`VEC`) or as one value.
pub struct SpawnedOutput<H, const VEC: bool>(H);

fn failed(message: String) -> Error {
    Error::InputFailed { message }
}

/// The output of a spawned graph, moved out.
fn take_output<T>(h: &Handle<T>) -> Result<T, Error> {
    match h.s.out.take() {
        Ended::Result(Ok(v)) => Ok(v),
        Ended::Result(Err(e)) => Err(match e {
            Error::InputFailed { .. } => e,
            e => failed(e.to_string()),
        }),
        Ended::Panic(p) => Err(failed(format!(
            "it panicked outside any task: {}",
            crate::exec::task::panic_message(&*p)
        ))),
    }
}

macro_rules! spawned_wait {
    () => {
        fn ready(&self) -> bool {
            self.0.is_finished()
        }
        fn subscribe(&self, wake: Wake) -> Option<u64> {
            self.0.s.out.subscribe(wake)
        }
        fn unsubscribe(&self, id: u64) -> bool {
            self.0.s.out.unsubscribe(id)
        }
    };
}

impl<T: Send + Sync> Feed<T> for SpawnedOutput<Handle<Vec<T>>, true> {
    fn count(&self) -> Result<usize, Error> {
        self.0.output_len()
    }
    spawned_wait!();
    fn fill(&self, put: &mut dyn FnMut(T)) -> Result<(), Error> {
        take_output(&self.0)?.into_iter().for_each(put);
        Ok(())
    }
}

impl<T: Clone + Send + Sync> Feed<T> for SpawnedOutput<&Handle<Vec<T>>, true> {
    fn count(&self) -> Result<usize, Error> {
        self.0.output_len()
    }
    spawned_wait!();
    fn fill(&self, put: &mut dyn FnMut(T)) -> Result<(), Error> {
        self.0.s.out.with(|r| match r {
            Ok(v) => {
                v.iter().cloned().for_each(put);
                Ok(())
            }
            Err(m) => Err(failed(m)),
        })
    }
}

impl<T: Send + Sync> Feed<T> for SpawnedOutput<Handle<T>, false> {
    fn count(&self) -> Result<usize, Error> {
        Ok(1)
    }
    spawned_wait!();
    fn fill(&self, put: &mut dyn FnMut(T)) -> Result<(), Error> {
        put(take_output(&self.0)?);
        Ok(())
    }
}

impl<T: Clone + Send + Sync> Feed<T> for SpawnedOutput<&Handle<T>, false> {
    fn count(&self) -> Result<usize, Error> {
        Ok(1)
    }
    spawned_wait!();
    fn fill(&self, put: &mut dyn FnMut(T)) -> Result<(), Error> {
        self.0.s.out.with(|r| match r {
            Ok(v) => {
                put(v.clone());
                Ok(())
            }
            Err(m) => Err(failed(m)),
        })
    }
}

impl<T: Send + Sync> VectorSource for Handle<Vec<T>> {
    type Item = T;
    type Feed = SpawnedOutput<Handle<Vec<T>>, true>;
    fn into_feed(self) -> Self::Feed {
        SpawnedOutput(self)
    }
}

impl<'a, T: Clone + Send + Sync> VectorSource for &'a Handle<Vec<T>> {
    type Item = T;
    type Feed = SpawnedOutput<&'a Handle<Vec<T>>, true>;
    fn into_feed(self) -> Self::Feed {
        SpawnedOutput(self)
    }
}

impl<T: Send + Sync> IntoLazy for Handle<T> {
    type Item = T;
    type Feed = SpawnedOutput<Handle<T>, false>;
    fn into_feed(self) -> Self::Feed {
        SpawnedOutput(self)
    }
}

impl<'a, T: Clone + Send + Sync> IntoLazy for &'a Handle<T> {
    type Item = T;
    type Feed = SpawnedOutput<&'a Handle<T>, false>;
    fn into_feed(self) -> Self::Feed {
        SpawnedOutput(self)
    }
}

/// A captured value read as plain data inside `graph!` (`x[i]`, `x.len()`,
/// `for a in &x`): for a [`Handle`] its own `check` is chosen, whose
/// [`HandleRead`] bound reports that mistake at the user's token; for
/// anything else the
/// method of `PlainReadOk` is, and does nothing.
pub struct PlainRead<'a, T: ?Sized>(pub &'a T);

/// Inside `graph!`, a spawned graph's [`Handle`] is not a vector: its
/// values do not exist until its graph runs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the output of a spawned graph: its `Handle` cannot be read as plain data inside `graph!`",
    label = "a `Handle`, read here as if it were its values",
    note = "inside `graph!`, read it as a vector of lazy values with `tree_reduce(&h, f)`, or bind it first and assign to the variable in the graph (`let mut l = &h; .. l = next;` or `l[i] = f(l[i]);`)",
    note = "or wait for its values before the graph (`let values = h.wait()?;`) and capture those"
)]
pub trait HandleRead {}

impl<T> PlainRead<'_, Handle<T>> {
    /// Reports the mistake (see [`HandleRead`]).
    #[inline(always)]
    pub fn check(&self)
    where
        T: HandleRead,
    {
    }
}

impl<T> PlainRead<'_, &Handle<T>> {
    /// Reports the mistake (see [`HandleRead`]).
    #[inline(always)]
    pub fn check(&self)
    where
        T: HandleRead,
    {
    }
}

/// The check of any other captured value: nothing to report.
#[doc(hidden)]
pub trait PlainReadOk {
    /// Does nothing.
    #[inline(always)]
    fn check(&self) {}
}

impl<T: ?Sized> PlainReadOk for PlainRead<'_, T> {}
