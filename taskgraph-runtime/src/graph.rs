//! The `Graph` trait that every `graph!` value implements, and how a graph's
//! final expression becomes its output.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::error::Error;
use crate::exec::control::Control;
use crate::exec::Cx;
use crate::part::{Part, Parts, Typed};
use crate::runtime::{Inner, Runtime};
use crate::scope::{Mode, Scope};
use crate::value::{Lazy, LazyVec, Piece};
use crate::view::{Instance, Template, View};

/// A task graph, as built by `graph!`: computing it yields `Output`.
///
/// A graph is a value: nothing runs until it is given to
/// [`Runtime::compute`](crate::Runtime::compute) (or [`Graph::compute`]),
/// which consumes it, or to [`Runtime::spawn`](crate::Runtime::spawn). A function
/// can return `impl Graph<Output = T>`; a graph chosen at run time is a
/// `Box<dyn Graph<Output = T> + Send>`, which is a graph too. A graph whose
/// captured variables are all `Clone` is `Clone`: clone it to compute it
/// again.
///
/// ```
/// use taskgraph::{delayed, graph, Graph, Runtime};
///
/// #[delayed]
/// fn inc(x: u64) -> u64 { x + 1 }
/// #[delayed]
/// fn double(x: u64) -> u64 { 2 * x }
///
/// let rt = Runtime::new(2)?;
/// for fast in [false, true] {
///     // Two different graphs, one type.
///     let g: Box<dyn Graph<Output = u64> + Send> = if fast {
///         Box::new(graph! { double(20) })
///     } else {
///         Box::new(graph! { inc(inc(38)) })
///     };
///     assert_eq!(rt.compute(g)?, 40);
/// }
/// let n = 3;
/// let g = graph! { inc(n) };
/// assert_eq!(rt.compute(g.clone())?, 4);
/// assert_eq!(rt.compute(g)?, 4);
/// # Ok::<(), taskgraph::Error>(())
/// ```
pub trait Graph {
    /// The value of the graph's final expression: one output, a tuple of
    /// outputs, or a `Vec` of outputs.
    ///
    /// ```
    /// use taskgraph::{delayed, graph, Graph};
    ///
    /// #[delayed]
    /// fn inc(x: u64) -> u64 { x + 1 }
    /// #[delayed]
    /// fn name(x: u64) -> String { format!("n{x}") }
    ///
    /// // A tuple of lazy values is a tuple of outputs.
    /// fn both(x: u64) -> impl Graph<Output = (u64, String)> {
    ///     graph! { (inc(x), name(x)) }
    /// }
    /// assert_eq!(both(1).compute()?, (2, "n1".to_owned()));
    /// # Ok::<(), taskgraph::Error>(())
    /// ```
    type Output;

    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn __run(self, runtime: &Inner, ctl: Option<&Control>) -> Result<Self::Output, Error>;

    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn __run_boxed(
        self: Box<Self>,
        runtime: &Inner,
        ctl: Option<&Control>,
    ) -> Result<Self::Output, Error>;

    /// Computes the graph on the default runtime: one thread per available
    /// core, started on first use and shared by the whole process.
    ///
    /// # Errors
    /// As [`Runtime::compute`](crate::Runtime::compute).
    ///
    /// ```
    /// use taskgraph::{delayed, graph, Graph};
    ///
    /// #[delayed]
    /// fn inc(x: u64) -> u64 { x + 1 }
    ///
    /// assert_eq!(graph! { inc(inc(1)) }.compute()?, 3);
    /// # Ok::<(), taskgraph::Error>(())
    /// ```
    fn compute(self) -> Result<Self::Output, Error>
    where
        Self: Sized,
    {
        crate::runtime::default_runtime()?.compute(self)
    }
}

impl<G: Graph + ?Sized> Graph for Box<G> {
    type Output = G::Output;

    #[allow(private_interfaces)]
    fn __run(self, runtime: &Inner, ctl: Option<&Control>) -> Result<G::Output, Error> {
        self.__run_boxed(runtime, ctl)
    }

    #[allow(private_interfaces)]
    fn __run_boxed(
        self: Box<Self>,
        runtime: &Inner,
        ctl: Option<&Control>,
    ) -> Result<G::Output, Error> {
        (*self).__run_boxed(runtime, ctl)
    }
}

/// The graph a `graph!` expands to: a closure that instantiates the graph and
/// runs it. `V` lists its families' value types (see `part.rs`).
#[doc(hidden)]
pub struct GraphFn<F, O, V = ()> {
    f: F,
    template: Option<&'static Template>,
    _out: PhantomData<fn() -> (O, V)>,
}

impl<F: Clone, O, V> Clone for GraphFn<F, O, V> {
    fn clone(&self) -> Self {
        GraphFn {
            f: self.f.clone(),
            template: self.template,
            _out: PhantomData,
        }
    }
}

impl<F, O, V> GraphFn<F, O, V>
where
    F: for<'g> FnOnce(Scope<'g>) -> Result<Typed<O, V>, Error>,
{
    /// Wraps the generated closure.
    pub fn new(f: F) -> Self {
        GraphFn {
            f,
            template: None,
            _out: PhantomData,
        }
    }

    /// Attaches the compile-time description `graph!` wrote.
    pub fn with_template(mut self, template: &'static Template) -> Self {
        self.template = Some(template);
        self
    }
}

impl<F, O, V> Graph for GraphFn<F, O, V>
where
    F: for<'g> FnOnce(Scope<'g>) -> Result<Typed<O, V>, Error>,
{
    type Output = O;

    #[allow(private_interfaces)]
    fn __run(self, runtime: &Inner, ctl: Option<&Control>) -> Result<O, Error> {
        let ids = Cell::new(0);
        let (f, template) = (self.f, self.template);
        // A limit met while the graph is built (too many nodes, no memory)
        // unwinds out of the generated code with a `BuildError`.
        let scope = || Scope::new(&ids, Mode::Run(runtime), template, ctl);
        match catch_unwind(AssertUnwindSafe(|| f(scope()))) {
            Ok(r) => r.map(|t| t.0),
            Err(p) => match p.downcast::<BuildError>() {
                Ok(e) => Err(e.0),
                Err(p) => resume_unwind(p),
            },
        }
    }

    #[allow(private_interfaces)]
    fn __run_boxed(self: Box<Self>, runtime: &Inner, ctl: Option<&Control>) -> Result<O, Error> {
        (*self).__run(runtime, ctl)
    }
}

impl<F, O, V> Parts for GraphFn<F, O, V>
where
    F: for<'g> FnOnce(Scope<'g>) -> Result<Typed<O, V>, Error>,
{
    type Values = V;

    fn __part(self, runtime: &Runtime, part: &dyn Part) -> Result<Option<O>, Error> {
        let ids = Cell::new(0);
        let ran = Cell::new(false);
        let (f, template) = (self.f, self.template);
        let scope = || Scope::new(&ids, Mode::Part(&runtime.inner, part, &ran), template, None);
        // As in `__run`: a limit met while the graph is built unwinds with
        // a `BuildError`.
        let r = match catch_unwind(AssertUnwindSafe(|| f(scope()))) {
            Ok(r) => r,
            Err(p) => match p.downcast::<BuildError>() {
                Ok(e) => Err(e.0),
                Err(p) => resume_unwind(p),
            },
        };
        match r {
            Ok(t) => Ok(Some(t.0)),
            Err(_) if ran.get() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A graph whose closure can be called more than once (it only copies or
/// borrows what it captures) can be instantiated to be looked at, then
/// computed.
impl<F, O, V> View for GraphFn<F, O, V>
where
    F: for<'g> Fn(Scope<'g>) -> Result<Typed<O, V>, Error>,
{
    fn instantiate(&self) -> Result<Instance, Error> {
        let ids = Cell::new(0);
        let sink = RefCell::new(None);
        let r = (self.f)(Scope::new(&ids, Mode::Describe(&sink), self.template, None));
        // The closure's result is only the reason it stopped: the
        // description is in the sink if it got as far as running.
        match (sink.into_inner(), r) {
            (Some(inst), _) => Ok(inst),
            (None, Err(e)) => Err(e),
            (None, Ok(_)) => unreachable!("taskgraph internal error: a described graph ran"),
        }
    }

    fn template(&self) -> Option<&'static Template> {
        self.template
    }
}

/// The payload with which building a graph stops at a limit (see
/// [`build_error`]).
pub(crate) struct BuildError(pub(crate) Error);

/// Stops building the graph: `compute` returns `e`, and everything built so
/// far is dropped. Called only while a graph is built.
#[cold]
#[inline(never)]
pub(crate) fn build_error(e: Error) -> ! {
    resume_unwind(Box::new(BuildError(e)))
}

/// What a graph's final expression may be: a lazy value, a vector of them,
/// or a tuple of these.
#[diagnostic::on_unimplemented(
    message = "the final expression of `graph!` must be a lazy value, a tuple of them, or a `Vec` of them",
    note = "end the graph with the result of a `#[delayed]` call, e.g. `add(x, y)` or `(x, y)`"
)]
pub trait Outputs<'g> {
    /// The computed value.
    type Value;
    /// Calls `f` with every piece of nodes referenced.
    #[doc(hidden)]
    fn for_each(&self, f: &mut dyn FnMut(Piece));
    /// The length of the output if it is one vector of lazy values (known
    /// before the graph runs).
    #[doc(hidden)]
    fn len_hint(&self) -> Option<usize> {
        None
    }
    /// Moves the computed values out after a successful run.
    #[doc(hidden)]
    fn take(self, cx: &Cx<'_, 'g>) -> Result<Self::Value, Error>;
}

impl<'g, T: Send + Sync> Outputs<'g> for Lazy<'g, T> {
    type Value = T;
    fn for_each(&self, f: &mut dyn FnMut(Piece)) {
        f(Piece {
            fam: self.id.fam,
            start: self.id.idx,
            len: 1,
            offset: 0,
        })
    }
    fn take(self, cx: &Cx<'_, 'g>) -> Result<T, Error> {
        // SAFETY: the run has finished; each output reference holds one use.
        unsafe { cx.slot(self).take_last() }.ok_or(Error::DuplicateOutput)
    }
}

impl<'g, T: Send + Sync> Outputs<'g> for LazyVec<'g, T> {
    type Value = Vec<T>;
    fn for_each(&self, f: &mut dyn FnMut(Piece)) {
        for p in self.pieces() {
            f(*p)
        }
    }
    fn len_hint(&self) -> Option<usize> {
        Some(self.len())
    }
    fn take(self, cx: &Cx<'_, 'g>) -> Result<Vec<T>, Error> {
        self.iter().map(|l| l.take(cx)).collect()
    }
}

macro_rules! output_tuples {
    ($( ( $($n:ident),+ ) )*) => {$(
        impl<'g, $($n: Outputs<'g>),+> Outputs<'g> for ($($n,)+) {
            type Value = ($($n::Value,)+);
            #[allow(non_snake_case)]
            fn for_each(&self, f: &mut dyn FnMut(Piece)) {
                let ($($n,)+) = self;
                $( $n.for_each(f); )+
            }
            #[allow(non_snake_case)]
            fn take(self, cx: &Cx<'_, 'g>) -> Result<Self::Value, Error> {
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

type PlaceholderFn<O> = for<'g> fn(Scope<'g>) -> Result<Typed<O, ()>, Error>;

/// What `graph!` expands to after reporting a compile error: a graph of any
/// output type, so the error does not cascade. It is never run.
#[doc(hidden)]
pub fn placeholder<O>() -> GraphFn<PlaceholderFn<O>, O> {
    GraphFn::new(|_| unreachable!("a `graph!` with compile errors cannot run"))
}
