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
/// `extern` or variadic functions, `self` parameters, `impl Trait` parameters,
/// `&mut` parameters, and `#[delayed]` on anything but a function.
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
/// Inside `graph! { ... }`:
///
/// - a call of a `#[delayed]` function is a *node*; its result is a *lazy
///   value*, which can be passed to other `#[delayed]` calls, nested
///   (`add(inc(1), dec(2))`), bound with `let`, or reassigned in a loop
///   (`s = step(s);`, a chain);
/// - everything else is plain Rust, run once when the graph is computed:
///   `let`s, arithmetic, `for` loops over plain iterators (ranges,
///   `step_by`, `.iter()` over captured data; nested loops), captured
///   variables (moved in, as by a `move` closure);
/// - `let mut v = Vec::new(); ... v.push(x);` and
///   `let v: Vec<_> = iter.map(|i| f(i)).collect();` make vectors of lazy
///   values, which a `Vec<T>` or `&[T]` parameter gathers; `for x in v.iter()`
///   loops over one; `v.len()` is plain;
/// - `tree_reduce(v, f)` reduces a vector with a binary `#[delayed]`
///   function in a pairwise tree, keeping left-to-right order (an empty
///   vector is [`Error::EmptyReduce`] at run time); `v` may also be a plain
///   `Vec<T>` or `&[T]`, or a spawned graph's [`Handle`] (or a reference to
///   one), read without a task per element and, for a handle, without
///   waiting for the spawned graph first;
/// - the final expression is the output: a lazy value, a tuple of them, or a
///   `Vec` of them.
///
/// Every free function called by a lower-case path inside `graph!` is taken
/// as a task; compute plain helpers before the graph or inside a block
/// (`let k = { helper(3) };`). The graph's shape may depend on plain values,
/// never on a task's result: a lazy value in plain code (`x + 1`, a loop
/// bound) is a compile error at that token. `if`, `match`, `while`, `loop`,
/// indexing a vector of lazy values, and `?` are not supported yet.
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
    cancelled, Error, FamilyInfo, FamilyProgress, Graph, Handle, Progress, Runtime, RuntimeBuilder,
    TaskInfo, View,
};

pub use taskgraph_runtime::{observe, progress, stream, view};

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
