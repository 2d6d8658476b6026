#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// Lets the macros' `::taskgraph::...` paths resolve inside this crate's own tests.
extern crate self as taskgraph;

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
/// Not allowed, each with a compile error that says why: `async`, `unsafe`,
/// `extern` or variadic functions, `&mut self` and `&mut` parameters,
/// `impl Trait` parameters, and `#[delayed]` on anything but a function or
/// an `impl` block. On an `impl` block (or a method) it checks the
/// signatures; methods are then called inside `graph!` as expressions on
/// lazy values (`s.mean()`), each an anonymous task.
///
/// ```
/// use taskgraph::{delayed, graph, Runtime};
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
/// # Ok::<(), taskgraph::Error>(())
/// ```
#[doc(inline)]
pub use taskgraph_macros::delayed;

/// Builds a task graph from ordinary Rust; nothing runs until it is computed.
///
/// # The language
///
/// The body of `graph! { ... }` is ordinary Rust, run once when the graph
/// is computed (*instantiated*). What it computes falls in two kinds:
///
/// - **Lazy values** exist only when the graph runs. A call of a
///   `#[delayed]` function makes one (a *task*); so does an expression that
///   reads lazy values (`x * 2`, `p.mean`, `s.len()`, `format!("{a}-{b}")`,
///   `Stats { n, mean }`, `vec![x, y]`, `(a, b)`, `String::from(x)`,
///   `obj.method(x)`): it becomes an anonymous task named by its source text
///   in errors (``task `x * 2` at src/main.rs:12:17``). `f(x)?` on a task
///   returning `Result<T, E>` is the `T`; an `Err` stops the graph like a
///   panic and `compute` returns [`Error::TaskFailed`] with the `E` as its
///   source.
/// - **Plain values** are everything else: numbers, ranges, captured data
///   (moved in, as by a `move` closure: capture a borrow, `let r = &data;`,
///   to share it), and the *decisions* that give the graph its shape.
///
/// The one rule: **the shape depends only on plain values.** A lazy value
/// may not decide anything: an `if`/`while`/`match` condition, a loop
/// bound, an index, a `break` with a value, `return`. Each of these is a
/// compile error at the token, saying what to write instead. Everything that
/// only *computes with* lazy values is a task.
///
/// What may appear:
///
/// - `let x = f(a, b);`, nested calls (`add(inc(1), dec(2))`), `let (a, b) =
///   split(x);` (each part its own task; the whole value must be `Clone` if
///   several parts are bound), reassignment in loops (`s = step(s);`,
///   `s += inc(i);`);
/// - `if`/`else`, `match`, `while`, `while let`, `loop`, `break`, `continue`
///   (labels too) and blocks, on plain values, inside and outside loops;
///   `let x = if p { inc(a) } else { dec(a) };` picks which task gives `x`;
/// - vectors of lazy values: `let mut v = Vec::new(); ... v.push(x);`,
///   `let v: Vec<_> = iter.map(|i| f(i)).collect();` (or `.map(f)`),
///   reassigned whole (`level = next;`); `v[i]` with any plain index (an
///   index out of range is [`Error::IndexOutOfRange`] when the graph is
///   built, before any task runs), `v.first().unwrap()`,
///   `v.last().unwrap()`, `&v[a..b]`, `v.len()` and `v.is_empty()` (plain);
///   `for x in v.iter()`, `.enumerate()`, `.zip(..)` (with a lazy or plain
///   side), `v.chunks(k)` (each chunk a vector of lazy values);
/// - a `Vec<T>` or `&[T]` parameter *gathers* a vector of lazy values; a
///   `&T` parameter borrows its argument (`len(&s)` or `len(s)`); a `T`
///   parameter takes it (moved if it is the value's only consumer, cloned
///   otherwise, so `T: Clone` is then required);
/// - `tree_reduce(v, f)` reduces a vector with a binary `#[delayed]`
///   function in a pairwise tree, keeping left-to-right order (an empty
///   vector is [`Error::EmptyReduce`] at run time); `v` may also be a plain
///   `Vec<T>` or `&[T]`, or a spawned graph's [`Handle`] (or a reference to
///   one), read without a task per element and, for a handle, without
///   waiting for the spawned graph first;
/// - the final expression is the output: a lazy value, a tuple of them, or a
///   `Vec` of them (a value returned twice is a compile error).
///
/// A call of a free function by a lower-case path (`inc(x)`,
/// `math::inc(x)`) is a task, and must be `#[delayed]`; inside an
/// expression, a call whose arguments are all plain is an ordinary call.
/// Methods and associated functions (`s.mean()`, `Series::of(v)`) are
/// called inside expression tasks; `#[delayed]` on an `impl` block checks
/// their signatures like a task's.
///
/// How it runs: every call site is a *family* of nodes, one per loop
/// iteration. A top-level loop whose iterations depend only on themselves
/// (and on values made before it) also runs *fused*: its iterations run as
/// blocks of straight-line code, the tasks of one iteration in order, at the
/// speed of a plain loop. The other statements (`if`, `while`, indexing,
/// expression tasks outside fused loops) run node by node, at tens of
/// nanoseconds per task.
///
/// Every mistake the macros catch, and its message, is in [the
/// compile-error catalogue](crate#what-the-compiler-catches) (one
/// `tests/ui` case each).
///
/// The value is an [`impl Graph`](Graph); compute it with
/// [`Runtime::compute`] or [`Graph::compute`].
///
/// ```
/// use taskgraph::{delayed, graph, Graph, Runtime};
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
/// # Ok::<(), taskgraph::Error>(())
/// ```
#[doc(inline)]
pub use taskgraph_macros::graph;

pub use taskgraph_runtime::{
    blocking, cancelled, Error, FamilyInfo, FamilyProgress, Graph, Handle, LoopVar, Progress,
    Runtime, RuntimeBuilder, TaskInfo, View,
};

pub use taskgraph_runtime::{observe, progress, stream, trace, view};

/// The same graphs on a [dask.distributed](https://distributed.dask.org)
/// cluster, with workers added while they run (the `cluster` feature).
///
/// [`Dask::local`](cluster::Dask::local) starts a `LocalCluster`,
/// [`Dask::connect`](cluster::Dask::connect) joins a running scheduler;
/// [`Dask::spawn`](cluster::Dask::spawn) sends a `graph!` and returns a
/// handle whose `wait` gives what [`Runtime::compute`] would. See the
/// README's "Beyond one machine" for when it pays off and what it asks of
/// the program.
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
/// - [`SharedInput`](contract::SharedInput): a value that goes by value to
///   several tasks is cloned for all but the last, so it must be `Clone`.
/// - [`Fallible`](contract::Fallible): `?` after a task call needs the task
///   to return `Result`.
/// - [`BorrowsArgument`](contract::BorrowsArgument): `f(&x)` needs `f`'s
///   parameter to be a reference.
/// - [`Lazy`](contract::Lazy) and [`LazyVec`](contract::LazyVec): a lazy
///   value, and a vector of them, while the graph is built;
///   [`ByValue`](contract::ByValue) and [`ByRef`](contract::ByRef): how a
///   parameter receives its argument.
pub mod contract {
    pub use taskgraph_runtime::__private::{
        delayed, expect_borrow, task_output, task_param, task_ref_param, BorrowsArgument, ByRef,
        ByValue, Delayed, Fallible, Input, Lazy, LazyVec, SharedBorrow, SharedInput, TaskOutput,
        TaskParam, TaskRefParam,
    };
}

#[doc(hidden)]
pub mod __private {
    pub use taskgraph_runtime::__private::*;
}
