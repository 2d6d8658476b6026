//! The graph a `graph!` expands to: [`GraphFn`], which implements
//! [`Graph`]: to compute or spawn it, to look at it, and to run it in parts
//! on a cluster.

use std::marker::PhantomData;

use crate::error::Error;
use crate::exec::control::Control;
use crate::exec::part::Codec;
use crate::part::{Part, Typed};
use crate::runtime::{Graph, Runtime};
use crate::scope::{now, GraphBody, Halt, Host, Mode, Scope, Within};
use crate::spawn::Body;
use crate::view::{Instance, Template};

/// The graph a `graph!` expands to: a closure that instantiates the graph and
/// runs it. `V` lists its families' value types (see `part.rs`).
#[doc(hidden)]
pub struct GraphFn<F, O, V = ()> {
    f: F,
    copy: fn(&F) -> F,
    template: Option<&'static Template>,
    codec: Result<&'static dyn Codec, &'static str>,
    _out: PhantomData<fn() -> (O, V)>,
}

/// Every graph can be cloned: its captures are `Clone` ([`captures`]).
impl<F, O, V> Clone for GraphFn<F, O, V> {
    fn clone(&self) -> Self {
        GraphFn {
            f: (self.copy)(&self.f),
            copy: self.copy,
            template: self.template,
            codec: self.codec,
            _out: PhantomData,
        }
    }
}

/// What a `graph!` captures must be `Clone`: looking at a graph runs its
/// plain code on a copy of what it captured. The error says so at the
/// `graph!`; derive or implement `Clone` for the captured value, or capture
/// a reference to it (`let r = &value;` before the `graph!`).
#[diagnostic::on_unimplemented(
    message = "a value captured by `graph!` is not `Clone`",
    label = "this graph captures a value that is not `Clone`",
    note = "a graph runs its plain code on a copy of its captures to be looked at (`to_dot`, `visualize`), so each must be `Clone`",
    note = "derive or implement `Clone` for it, or capture a reference: `let r = &value;` before the `graph!`, then use `r` inside"
)]
pub trait Captures: Clone {}

#[diagnostic::do_not_recommend]
impl<F: Clone> Captures for F {}

/// Checks that what `graph` (the closure `graph!` writes) captures is
/// `Clone`, and returns how to copy it.
pub fn captures<F: Captures>(graph: &F) -> fn(&F) -> F {
    let _ = graph;
    F::clone
}

impl<'a, F, O, V> GraphFn<F, O, V>
where
    F: for<'g> FnOnce(Scope<'g>, Within<'g, 'a>) -> GraphBody<'g, Result<Typed<O, V>, Halt>>,
{
    /// Wraps the generated closure and its copier ([`captures`]).
    pub fn new(f: F, copy: fn(&F) -> F) -> Self {
        GraphFn {
            f,
            copy,
            template: None,
            codec: Err(""),
            _out: PhantomData,
        }
    }

    /// Attaches the compile-time description `graph!` wrote.
    pub fn with_template(mut self, template: &'static Template) -> Self {
        self.template = Some(template);
        self
    }

    /// Attaches the codec of the graph's values (`Err`: the names of its
    /// value types, some of which cannot be serialized).
    pub fn with_codec(mut self, codec: Result<&'static dyn Codec, &'static str>) -> Self {
        self.codec = codec;
        self
    }
}

impl<'a, F, O, V> Graph for GraphFn<F, O, V>
where
    F: for<'g> FnOnce(Scope<'g>, Within<'g, 'a>) -> GraphBody<'g, Result<Typed<O, V>, Halt>>,
{
    type Output = O;

    #[allow(private_interfaces)]
    fn __run(self, host: &Host, ctl: Option<&Control>) -> Result<O, Error> {
        let (f, template) = (self.f, self.template);
        // A limit met while the graph is built (too many nodes, no memory)
        // is an `Err` the generated code returns with `?`.
        now(f(Scope::new(Mode::Run(host), template, ctl), Within::new()))
            .map(|t| t.0)
            .map_err(Halt::failed)
    }

    #[allow(private_interfaces)]
    fn __run_boxed(self: Box<Self>, host: &Host, ctl: Option<&Control>) -> Result<O, Error> {
        (*self).__run(host, ctl)
    }

    #[allow(private_interfaces)]
    fn __start<'h>(self, host: &'h Host, ctl: &'h Control) -> Body<'h, O>
    where
        Self: 'h,
    {
        let (f, template) = (self.f, self.template);
        let body = f(
            Scope::new(Mode::Run(host), template, Some(ctl)),
            Within::new(),
        );
        // SAFETY: only the lifetime changes, from the call's to `'h`. What
        // the body borrows: the host and the control, for `'h`; what the
        // closure captured, moved into it, which outlives `'h` since the
        // closure does (`Self: 'h`); its own frame, on the heap.
        let body: GraphBody<'h, Result<Typed<O, V>, Halt>> = unsafe { std::mem::transmute(body) };
        Box::pin(async move { body.await.map(|t| t.0).map_err(Halt::failed) })
    }

    #[allow(private_interfaces)]
    fn __start_boxed<'h>(self: Box<Self>, host: &'h Host, ctl: &'h Control) -> Body<'h, O>
    where
        Self: 'h,
    {
        (*self).__start(host, ctl)
    }

    fn __part(self, runtime: &Runtime, part: &dyn Part) -> Result<Option<O>, Error> {
        let (f, template) = (self.f, self.template);
        let mode = Mode::Part(&runtime.inner.host, part);
        match now(f(Scope::new(mode, template, None), Within::new())) {
            Ok(t) => Ok(Some(t.0)),
            Err(Halt::PartDone) => Ok(None),
            Err(h) => Err(h.failed()),
        }
    }

    fn __part_boxed(
        self: Box<Self>,
        runtime: &Runtime,
        part: &dyn Part,
    ) -> Result<Option<O>, Error> {
        (*self).__part(runtime, part)
    }

    fn __codec(&self) -> Result<&'static dyn Codec, &'static str> {
        self.codec
    }

    /// Runs the plain code of a copy of the closure (its captures cloned),
    /// recording the nodes; the graph itself is left as it was.
    fn instantiate(&self) -> Result<Instance, Error> {
        let f = (self.copy)(&self.f);
        match now(f(
            Scope::new(Mode::Describe, self.template, None),
            Within::new(),
        )) {
            Err(Halt::Described(inst)) => Ok(inst),
            Err(h) => Err(h.failed()),
            Ok(_) => unreachable!("taskgraph internal error: a described graph ran"),
        }
    }

    fn template(&self) -> Option<&'static Template> {
        self.template
    }
}

type PlaceholderFn<O> =
    for<'g> fn(Scope<'g>, Within<'g, 'static>) -> GraphBody<'g, Result<Typed<O, ()>, Halt>>;

/// What `graph!` expands to after reporting a compile error: a graph of any
/// output type, so the error does not cascade. It is never run.
#[doc(hidden)]
pub fn placeholder<O>() -> GraphFn<PlaceholderFn<O>, O> {
    GraphFn::new(
        |_, _| unreachable!("a `graph!` with compile errors cannot run"),
        |f| *f,
    )
}

/// The value types `V` of a graph, for the generated code to ask whether
/// they can travel to a cluster: `(&&codec_probe(&g)).__tg_codec()` is the
/// cluster's codec where they all can (a method of `taskgraph-cluster`,
/// found first), else [`NoCodec::__tg_codec`]'s `Err` with their names.
#[doc(hidden)]
pub struct CodecProbe<V>(PhantomData<fn() -> V>);

/// The [`CodecProbe`] of `graph`'s value types.
#[doc(hidden)]
pub fn codec_probe<F, O, V>(graph: &GraphFn<F, O, V>) -> CodecProbe<V> {
    let _ = graph;
    CodecProbe(PhantomData)
}

/// The probe's answer when the value types cannot be serialized (or the
/// `cluster` feature is off).
#[doc(hidden)]
pub trait NoCodec {
    /// `Err`: the value types, by name.
    fn __tg_codec(&self) -> Result<&'static dyn Codec, &'static str>;
}

impl<V> NoCodec for CodecProbe<V> {
    fn __tg_codec(&self) -> Result<&'static dyn Codec, &'static str> {
        Err(std::any::type_name::<V>())
    }
}
