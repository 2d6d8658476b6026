//! The graph a `graph!` expands to: [`GraphFn`], which implements
//! [`Graph`] (to compute or spawn it), [`View`] (to look at it) and
//! [`Parts`] (to run it in parts on a cluster).

use std::cell::Cell;
use std::marker::PhantomData;

use crate::error::Error;
use crate::exec::control::Control;
use crate::part::{Part, Parts, Typed};
use crate::runtime::{Graph, Runtime};
use crate::scope::{Halt, Host, Mode, Scope};
use crate::view::{Instance, Template, View};

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
    F: for<'g> FnOnce(Scope<'g>) -> Result<Typed<O, V>, Halt>,
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
    F: for<'g> FnOnce(Scope<'g>) -> Result<Typed<O, V>, Halt>,
{
    type Output = O;

    #[allow(private_interfaces)]
    fn __run(self, host: &Host, ctl: Option<&Control>) -> Result<O, Error> {
        let ids = Cell::new(0);
        let (f, template) = (self.f, self.template);
        // A limit met while the graph is built (too many nodes, no memory)
        // is an `Err` the generated code returns with `?`.
        f(Scope::new(&ids, Mode::Run(host), template, ctl))
            .map(|t| t.0)
            .map_err(Halt::failed)
    }

    #[allow(private_interfaces)]
    fn __run_boxed(self: Box<Self>, host: &Host, ctl: Option<&Control>) -> Result<O, Error> {
        (*self).__run(host, ctl)
    }
}

impl<F, O, V> Parts for GraphFn<F, O, V>
where
    F: for<'g> FnOnce(Scope<'g>) -> Result<Typed<O, V>, Halt>,
{
    type Values = V;

    fn __part(self, runtime: &Runtime, part: &dyn Part) -> Result<Option<O>, Error> {
        let ids = Cell::new(0);
        let (f, template) = (self.f, self.template);
        let mode = Mode::Part(&runtime.inner.host, part);
        match f(Scope::new(&ids, mode, template, None)) {
            Ok(t) => Ok(Some(t.0)),
            Err(Halt::PartDone) => Ok(None),
            Err(h) => Err(h.failed()),
        }
    }
}

/// A graph whose closure can be called more than once (it only copies or
/// borrows what it captures) can be instantiated to be looked at, then
/// computed.
impl<F, O, V> View for GraphFn<F, O, V>
where
    F: for<'g> Fn(Scope<'g>) -> Result<Typed<O, V>, Halt>,
{
    fn instantiate(&self) -> Result<Instance, Error> {
        let ids = Cell::new(0);
        match (self.f)(Scope::new(&ids, Mode::Describe, self.template, None)) {
            Err(Halt::Described(inst)) => Ok(inst),
            Err(h) => Err(h.failed()),
            Ok(_) => unreachable!("taskgraph internal error: a described graph ran"),
        }
    }

    fn template(&self) -> Option<&'static Template> {
        self.template
    }
}

type PlaceholderFn<O> = for<'g> fn(Scope<'g>) -> Result<Typed<O, ()>, Halt>;

/// What `graph!` expands to after reporting a compile error: a graph of any
/// output type, so the error does not cascade. It is never run.
#[doc(hidden)]
pub fn placeholder<O>() -> GraphFn<PlaceholderFn<O>, O> {
    GraphFn::new(|_| unreachable!("a `graph!` with compile errors cannot run"))
}
