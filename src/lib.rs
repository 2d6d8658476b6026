#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// Lets the macros' `::taskdag::...` paths resolve inside this crate's own tests.
extern crate self as taskdag;

/// Marks a function as a task that `graph!` can call.
///
/// The function stays an ordinary function, callable eagerly. Inside
/// `graph!`, a call to it becomes a node of the graph instead of running.
///
/// A task's parameters decide how it receives its lazy arguments: a `T`
/// parameter takes the value (moved if this is its only consumer, otherwise
/// cloned, so `T: Clone` is then required), a `&T` parameter borrows it, and a
/// `Vec<T>` or `&[T]` parameter gathers a vector of lazy values. Outputs must
/// own their data (no `-> &str`) and cross threads (`Send + Sync`).
///
/// An `async fn` is a task too: its future is polled on the pool and holds
/// no thread while it waits (guide [`runtime`](crate::guide::runtime)). It
/// cannot combine values in `tree_reduce`, be cached (`#[delayed(cache)]`)
/// or be a method.
///
/// Not allowed, each with a compile error that says why: `unsafe`,
/// `extern` or variadic functions, `async` methods, `&mut self` and `&mut`
/// parameters, `impl Trait` parameters, and `#[delayed]` on anything but a
/// function or an `impl` block. On an `impl` block (or a method or
/// associated function in one) it checks the signatures; these are then
/// called inside `graph!` as expressions on lazy values (`s.mean()`,
/// `Stats::of(v)`), each an anonymous task.
///
/// ```
/// use taskdag::{delayed, graph, Runtime};
///
/// #[delayed]
/// fn words(text: &str) -> Vec<String> {
///     text.split_whitespace().map(str::to_owned).collect()
/// }
///
/// #[delayed]
/// fn count(words: &Vec<String>) -> usize {
///     words.len()
/// }
///
/// assert_eq!(count(&words("still a plain function")), 4);
///
/// let rt = Runtime::new(2)?;
/// let text = "the graph borrows this";
/// let n = rt.compute(graph! {
///     let w = words(text);
///     count(w)
/// })?;
/// assert_eq!(n, 4);
/// # Ok::<(), taskdag::Error>(())
/// ```
#[doc(inline)]
pub use taskgraph_macros::delayed;

/// Builds a task graph from ordinary Rust; nothing runs until it is computed.
///
/// The body of `graph! { ... }` is ordinary Rust, run once when the graph
/// is computed (*instantiated*). A call of a `#[delayed]` function, and an
/// expression that reads lazy values (`x * 2`, `format!("{a}-{b}")`), is a
/// *task*: a lazy value that exists only when the graph runs. Everything
/// else is plain: numbers, ranges, captured data (moved in, as by a `move`
/// closure), and the decisions that give the graph its shape.
///
/// The one rule: **the shape depends only on plain values.** A lazy value
/// may not decide an `if`/`while`/`match` condition, a loop bound, an index,
/// a `break` with a value or a `return`; each is a compile error at the
/// token, saying what to write instead. `let`s, loops, `if`/`match` on plain
/// values, vectors of lazy values (and vectors of them), `v[i]`, in-place
/// updates `v[i] = f(v[i], v[k])`, closures, a spawned graph's outputs read
/// as a vector of lazy values, `tree_reduce(v, f)` (`f` a binary task or a
/// closure calling one) and `f(x)?` are all
/// allowed: [`guide::language`] lists what may appear, and
/// [`guide::compile_errors`] every mistake the macros catch (one `tests/ui`
/// case each).
///
/// How it runs: every call site is a *family* of nodes, one per loop
/// iteration; loops whose iterations are chains of tasks run *fused*, as
/// blocks of straight-line code at the speed of a plain loop, and the rest
/// runs node by node, at tens of nanoseconds per task ([`guide::speed`]).
///
/// The value is an [`impl Graph`](Graph): compute it with
/// [`Runtime::compute`] or [`Graph::compute`], spawn it with
/// [`Runtime::spawn`], look at it with [`Graph::to_dot`] or
/// [`Graph::visualize`], or send the function that returns it to a cluster
/// (`Dask::spawn(inputs, graph_fn)`). What it captures (moved in, as by a
/// `move` closure) must be `Clone`: it is looked at on a copy.
///
/// ```
/// use taskdag::{delayed, graph, Graph, Runtime};
///
/// #[delayed]
/// fn load(i: u64) -> Vec<u64> {
///     (0..i).collect()
/// }
/// #[delayed]
/// fn total(v: &Vec<u64>) -> u64 {
///     v.iter().sum()
/// }
/// #[delayed]
/// fn add(a: u64, b: u64) -> u64 {
///     a + b
/// }
///
/// fn pipeline(files: u64) -> impl Graph<Output = u64> {
///     graph! {
///         let sums: Vec<_> = (0..files).map(|i| total(load(i))).collect();
///         tree_reduce(sums, add)
///     }
/// }
///
/// let rt = Runtime::new(2)?;
/// assert_eq!(rt.compute(pipeline(5))?, 0 + 0 + 1 + 3 + 6);
/// # Ok::<(), taskdag::Error>(())
/// ```
#[doc(inline)]
pub use taskgraph_macros::graph;

pub use taskgraph_runtime::{
    blocking, cancelled, Computing, Error, FamilyInfo, FamilyProgress, Graph, Handle, LoopVar,
    Progress, Runtime, RuntimeBuilder, TaskInfo,
};

pub use taskgraph_runtime::{observe, progress, stream, trace, view};

#[cfg(feature = "cache")]
pub use taskgraph_runtime::cache;

pub mod guide;

/// The same graphs on a [dask.distributed](https://distributed.dask.org)
/// cluster, with workers added while they run (the `cluster` feature).
///
/// [`Dask::local`](cluster::Dask::local) starts a `LocalCluster`,
/// [`Dask::connect`](cluster::Dask::connect) joins a running scheduler;
/// [`Dask::spawn`](cluster::Dask::spawn) sends a graph, as a function that
/// returns it and that function's inputs, and returns a handle whose
/// `wait` gives what [`Runtime::compute`] would. See
/// [`guide::cluster`] for when it pays off and what it asks of the program.
#[cfg(feature = "cluster")]
pub mod cluster {
    #[doc(inline)]
    pub use taskgraph_cluster::*;
}

/// The contracts behind `#[delayed]` and `graph!`: the traits and types that
/// compiler messages name when a graph does not type-check.
///
/// Nothing here is called or implemented by hand; each item says what its
/// error means and what to write instead:
///
/// - [`Delayed`](contract::Delayed): a task call names a function without
///   `#[delayed]`. Put `#[delayed]` on it.
/// - [`TaskParam`](contract::TaskParam), [`TaskRefParam`](contract::TaskRefParam),
///   [`TaskOutput`](contract::TaskOutput): values that cross threads must be
///   `Send` (and `Sync` when borrowed or shared); `Rc` and `RefCell` are not.
/// - [`SharedInput`](contract::SharedInput) (checked by
///   [`ByValue::shared_input`](contract::ByValue::shared_input)): a value that
///   goes by value to several tasks is cloned for each but its last reader,
///   so it must be `Clone`.
/// - [`Fallible`](contract::Fallible): `?` after a task call needs the task
///   to return `Result`; [`TaskErrorType`](contract::TaskErrorType): its
///   error type must be a `std::error::Error + Send + Sync` (or `String`).
/// - [`ReduceFunction`](contract::ReduceFunction): `tree_reduce(v, f)`
///   needs `f` to be a `#[delayed]` function of two arguments.
/// - [`RepeatedOutput`](contract::RepeatedOutput): a lazy value returned
///   more than once (`(x, x)`, `(v[0], v[0])`) is cloned for all but one
///   output, so it must be `Clone`.
/// - [`Captures`](contract::Captures): what a `graph!` captures must be
///   `Clone` (a graph is looked at on a copy of it); capture a reference
///   otherwise.
/// - [`BorrowsArgument`](contract::BorrowsArgument): `f(&x)` needs `f`'s
///   parameter to be a reference.
/// - [`HandleRead`](contract::HandleRead), through
///   [`PlainRead`](contract::PlainRead): a spawned graph's `Handle` read
///   inside `graph!` as if it were its values (`h[i]`, `h.len()`,
///   `for x in &h`). Read it with `tree_reduce(&h, f)`, through a variable
///   the graph assigns (`let mut l = &h;`), or wait for it first.
/// - [`VectorSource`](contract::VectorSource), through
///   [`vector_source`](contract::vector_source): what `tree_reduce` (or a
///   variable read as a vector of lazy values) reads must be a vector of
///   lazy values, a `Vec<T>` or `&[T]`, or a spawned graph's `Handle`.
/// - [`Lazy`](contract::Lazy) and [`LazyVec`](contract::LazyVec): a lazy
///   value, and a vector of them, while the graph is built;
///   [`ByValue`](contract::ByValue), [`ByRef`](contract::ByRef) and
///   [`BySlice`](contract::BySlice): how a parameter receives its argument.
/// - [`SyncTask`](contract::SyncTask): how the call of a plain (not
///   `async`) `#[delayed]` function is finished; `?` on it needs the
///   function to return a `Result` ([`Fallible`](contract::Fallible)).
pub mod contract {
    pub use taskgraph_runtime::__private::{
        again, captures, delayed, expect_borrow, lift, reduce_function, task_output, task_param,
        task_ref_param, vector_source, BorrowsArgument, ByRef, BySlice, ByValue, Captures, Delayed,
        Fallible, HandleRead, Input, Lazy, LazyVec, PlainRead, ReduceFunction, RepeatedOutput,
        SharedBorrow, SharedInput, SyncTask, TaskErrorType, TaskOutput, TaskParam, TaskRefParam,
        VectorSource,
    };
}

#[doc(hidden)]
pub mod __private {
    pub use taskgraph_runtime::__private::*;

    /// The codec of a graph whose values can travel to a cluster.
    #[cfg(feature = "cluster")]
    pub use taskgraph_cluster::__private::CodecOf;

    /// Without the `cluster` feature no graph has a codec.
    #[cfg(not(feature = "cluster"))]
    pub trait CodecOf {}
}
