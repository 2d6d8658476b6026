//! What the compiler catches, and how it says so.
//!
//! A graph that cannot work does not compile, and the error is at your token,
//! says what is wrong in the terms you wrote, and what to write instead. Each
//! mistake has its own test in `tests/ui`, with the compiler's exact output
//! beside it; three of them:
//!
//! ```text
//! error: `x` is a lazy value: it exists only when the graph runs, so it cannot bound a loop; the graph's shape cannot depend on a task's result
//!
//!        = help: decide with plain values known before the graph runs, or inside a `#[delayed]` function that takes `x`
//!   --> tests/ui/lazy_loop_bound.rs:13:21
//!    |
//! 13 |         for i in 0..x {
//!    |                     ^
//! ```
//!
//! ```text
//! error[E0277]: a lazy value that goes by value to several tasks must implement `Clone`
//!   --> tests/ui/missing_clone.rs:22:19
//!    |
//! 22 |         add(trace(m), trace(m))
//!    |                   ^ this value goes by value to more than one task
//!    |
//! help: the trait `SharedInput` is not implemented for `Matrix`
//!   --> tests/ui/missing_clone.rs:3:1
//!    |
//!  3 | struct Matrix(Vec<f64>);
//!    | ^^^^^^^^^^^^^
//!    = note: give the parameters type `&T` to share one value, derive or implement `Clone`, or wrap the value in `std::sync::Arc`
//! ```
//!
//! ```text
//! error[E0277]: the output of a `#[delayed]` function must be `Send + Sync`, and `Rc<Vec<f64>>` is not
//!  --> tests/ui/delayed_rc_output.rs:6:22
//!   |
//! 6 | fn load(n: usize) -> Rc<Vec<f64>> {
//!   |                      ^^^^^^^^^^^^ this type cannot cross threads
//!   |
//!   = help: the trait `TaskOutput` is not implemented for `Rc<Vec<f64>>`
//!   = note: a task's output is moved to the thread of the task that consumes it, and borrowed by several tasks at once
//!   = note: use `Arc` instead of `Rc`, and `Mutex` or `RwLock` instead of `Cell` or `RefCell`
//! ```
//!
//! The catalogue also covers lazy values deciding an `if`, `while` or
//! `match`, bounding a loop or indexing a vector; branches that give a lazy
//! value on one side and a plain one on the other; `&x` for a by-value
//! parameter; `?` on a task that does not return `Result`, or whose error
//! type is not a `std::error::Error + Send + Sync`; a value (or the same
//! element `v[0]`) returned twice whose type is not `Clone`; calls of
//! functions that are not `#[delayed]`; a `loop` with no `break`; a
//! captured value that is not `Clone` (a graph is looked at on a copy of
//! its captures); a plain value held until the graph has run that is not
//! `Send` (rustc's own `future cannot be sent between threads safely`,
//! naming it); lazy values escaping
//! through `return` and `break`; captured variables changed inside `graph!`;
//! signatures that cannot be tasks (`unsafe`, `&mut self`, `&mut`
//! parameters, `-> &T`, an `async` method, `#[delayed(cache)]` on an
//! `async fn`, ...); and `tree_reduce` misuse (a function that does not
//! take two arguments, or is `async`, is named as such, followed by
//! rustc's own count of the arguments). Several independent
//! mistakes are all reported in one compile, together with rustc's own type
//! errors for the rest of the graph (`tests/ui/macro_and_type_errors_together.rs`).
//! The shapes of ordinary Rust have theirs too: a plain value assigned to
//! an element of a vector of lazy values (`v[i] = 7;`), a vector of vectors
//! used whole or given a single value, a value from outside the graph bound
//! inside a loop and then assigned a vector of lazy values, a closure called
//! with the wrong number of arguments, a closure given to `tree_reduce`
//! that is not one binary task call, a graph that borrows a `Handle`
//! (`&h`) given to `spawn`, and a `Handle` read as if it were its values
//! (`h[i]`, `h.len()`, `for x in &h`).
//! Messages name the traits behind the checks
//! ([`taskdag::contract`](crate::contract)) only where rustc does, never
//! the macro's internals.
//!
//! The first of the three above, as a doctest that must fail to compile:
//!
//! ```compile_fail
//! use taskdag::{delayed, graph, Runtime};
//!
//! #[delayed]
//! fn count(n: u64) -> u64 {
//!     n
//! }
//! #[delayed]
//! fn inc(x: u64) -> u64 {
//!     x + 1
//! }
//!
//! let rt = Runtime::new(1).unwrap();
//! rt.compute(graph! {
//!     let x = count(3);
//!     let mut v = Vec::new();
//!     for i in 0..x { // `x` is lazy: it cannot bound a loop
//!         v.push(inc(i));
//!     }
//!     v
//! });
//! ```
//!
//! Not yet: a misspelled task name is rustc's unresolved import; inside a
//! module path (`ops::doubel`) rustc suggests the function meant
//! (`ops::double`), a bare name (`incc`) gets no suggestion. After the
//! error for a `Handle` read as data, rustc's own errors for the same
//! expression follow.
