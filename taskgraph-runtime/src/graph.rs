//! The `Graph` trait that every `graph!` value implements, and how a graph's
//! final expression becomes its output.

use std::cell::Cell;
use std::marker::PhantomData;

use crate::error::Error;
use crate::exec::{run_graph, Cx, SlotRef, Topology};
use crate::family::{ErasedFamily, Scope};
use crate::pool::Runtime;
use crate::slot::{take_final, Lazy, TaskId};

/// A task graph, as built by `graph!`: computing it yields `Output`.
///
/// A graph is a value: nothing runs until it is given to
/// [`Runtime::compute`] (or [`Graph::compute`]), which consumes it. A function
/// can return `impl Graph<Output = T>`.
pub trait Graph {
    /// The value of the graph's final expression: one output, a tuple of
    /// outputs, or a `Vec` of outputs.
    type Output;

    #[doc(hidden)]
    fn __run(self, runtime: &Runtime) -> Result<Self::Output, Error>;

    /// Computes the graph on the default runtime: one thread per available
    /// core, started on first use and shared by the whole process.
    ///
    /// # Errors
    /// As [`Runtime::compute`].
    fn compute(self) -> Result<Self::Output, Error>
    where
        Self: Sized,
    {
        crate::pool::default_runtime()?.compute(self)
    }
}

/// The graph a `graph!` expands to: a closure that instantiates the graph and
/// runs it.
#[doc(hidden)]
pub struct GraphFn<F, O> {
    f: F,
    _out: PhantomData<fn() -> O>,
}

impl<F, O> GraphFn<F, O>
where
    F: for<'g> FnOnce(Scope<'g>) -> Result<O, Error>,
{
    /// Wraps the generated closure.
    pub fn new(f: F) -> Self {
        GraphFn {
            f,
            _out: PhantomData,
        }
    }
}

impl<F, O> Graph for GraphFn<F, O>
where
    F: for<'g> FnOnce(Scope<'g>) -> Result<O, Error>,
{
    type Output = O;

    fn __run(self, runtime: &Runtime) -> Result<O, Error> {
        let ids = Cell::new(0);
        (self.f)(Scope::new(&ids, runtime))
    }
}

impl<'g> Scope<'g> {
    /// Fixes the signature of the generated `match` that runs one node.
    #[inline(always)]
    pub fn dispatcher<D: Fn(TaskId, &Cx<'g>) + Sync>(&self, d: D) -> D {
        d
    }

    /// Seals the families, runs every node, and moves the final outputs out.
    ///
    /// `fams` must list every family this scope made, in order; `dispatch`
    /// runs one node (the generated `match` over families).
    ///
    /// # Errors
    /// The first task failure; see [`Error`].
    pub fn execute<O, D>(
        &self,
        fams: &[&dyn ErasedFamily<'g>],
        outs: O,
        dispatch: &D,
    ) -> Result<O::Value, Error>
    where
        O: Outputs<'g>,
        D: Fn(TaskId, &Cx<'g>) + Sync,
    {
        assert!(
            fams.len() == self.families() as usize
                && fams.iter().enumerate().all(|(i, f)| f.id() == i as u32),
            "taskgraph internal error: families listed out of order"
        );
        let table: Vec<SlotRef> = fams.iter().map(|f| f.seal()).collect();
        let topo = Topology::build(fams, &outs);
        let cx = Cx::new(&table, &topo);
        run_graph(&self.runtime.pool, &topo, &cx, fams, dispatch)?;
        outs.take(&cx)
    }
}

/// What a graph's final expression may be: a lazy value, a `Vec` of them, or
/// a tuple of these.
#[diagnostic::on_unimplemented(
    message = "the final expression of `graph!` must be a lazy value, a tuple of them, or a `Vec` of them",
    note = "end the graph with the result of a `#[delayed]` call, e.g. `add(x, y)` or `(x, y)`"
)]
pub trait Outputs<'g> {
    /// The computed value.
    type Value;
    /// Calls `f` with every node referenced.
    fn for_each(&self, f: &mut dyn FnMut(TaskId));
    /// Moves the computed values out after a successful run.
    #[doc(hidden)]
    fn take(self, cx: &Cx<'g>) -> Result<Self::Value, Error>;
}

impl<'g, T: Send + Sync> Outputs<'g> for Lazy<'g, T> {
    type Value = T;
    fn for_each(&self, f: &mut dyn FnMut(TaskId)) {
        f(self.id)
    }
    fn take(self, cx: &Cx<'g>) -> Result<T, Error> {
        take_final(cx.slot(self)).ok_or(Error::DuplicateOutput)
    }
}

impl<'g, T: Send + Sync> Outputs<'g> for Vec<Lazy<'g, T>> {
    type Value = Vec<T>;
    fn for_each(&self, f: &mut dyn FnMut(TaskId)) {
        for l in self {
            f(l.id)
        }
    }
    fn take(self, cx: &Cx<'g>) -> Result<Vec<T>, Error> {
        self.into_iter().map(|l| l.take(cx)).collect()
    }
}

macro_rules! output_tuples {
    ($( ( $($n:ident),+ ) )*) => {$(
        impl<'g, $($n: Outputs<'g>),+> Outputs<'g> for ($($n,)+) {
            type Value = ($($n::Value,)+);
            #[allow(non_snake_case)]
            fn for_each(&self, f: &mut dyn FnMut(TaskId)) {
                let ($($n,)+) = self;
                $( $n.for_each(f); )+
            }
            #[allow(non_snake_case)]
            fn take(self, cx: &Cx<'g>) -> Result<Self::Value, Error> {
                let ($($n,)+) = self;
                Ok(($($n.take(cx)?,)+))
            }
        }
    )*};
}
output_tuples! {
    (A) (A, B) (A, B, C) (A, B, C, D) (A, B, C, D, E) (A, B, C, D, E, F)
    (A, B, C, D, E, F, G) (A, B, C, D, E, F, G, H) (A, B, C, D, E, F, G, H, I)
    (A, B, C, D, E, F, G, H, I, J) (A, B, C, D, E, F, G, H, I, J, K)
    (A, B, C, D, E, F, G, H, I, J, K, L)
}

type PlaceholderFn<O> = for<'g> fn(Scope<'g>) -> Result<O, Error>;

/// What `graph!` expands to after reporting a compile error: a graph of any
/// output type, so the error does not cascade. It is never run.
#[doc(hidden)]
pub fn placeholder<O>() -> GraphFn<PlaceholderFn<O>, O> {
    GraphFn::new(|_| unreachable!("a `graph!` with compile errors cannot run"))
}
