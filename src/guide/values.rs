//! How values travel along the graph's edges.
//!
//! - **Typed edges.** An argument's type is its producer's output type,
//!   checked by rustc; a mismatch is a compile error at your argument.
//!
//! - **Moved, borrowed or cloned.** A lazy value with one consumer is moved
//!   into it; a `&T` parameter borrows it; when several consumers take it by
//!   value, each gets a clone except the value's last reader, which gets the
//!   value itself, so the type must be `Clone` (a compile error otherwise,
//!   see [what the compiler catches](super::compile_errors)). Which reader
//!   is last depends on timing: while a borrower still runs, or another
//!   consumer by value is still making its clone, even the last consumer by
//!   value gets a clone, so `k` consumers by value make `k - 1` or `k`
//!   clones. A `Vec<T>` or `&[T]` parameter gathers a vector of lazy
//!   values; a `&[T]` parameter reads them where they lie, without a copy,
//!   when they are one call site's values in order (`v.push(f(i))` in a
//!   loop), and gets them gathered into a buffer the thread reuses
//!   otherwise.
//!
//! - **Outputs are dropped early.** Each output is dropped as soon as its
//!   last consumer has run, so memory follows the frontier of the
//!   computation, not the size of the graph.
//!
//! - **What a value must be.** A task's output must own its data (no
//!   `-> &str`) and cross threads (`Send + Sync`): it is moved to the thread
//!   of the task that consumes it, and borrowed by several tasks at once. Use
//!   `Arc` instead of `Rc`, and `Mutex` or `RwLock` instead of `Cell` or
//!   `RefCell`.
//!
//! - **Captured data** is moved into the graph, as by a `move` closure;
//!   capture a borrow (`let r = &data;`) to share it.
//!
//! - **Plain values the graph holds** until it has run (its `let`s at the
//!   top level, and what it captures) must be `Send`, even for `compute`:
//!   the graph's code is an `async` block whose state is kept on the heap
//!   while the graph runs, and that state may cross threads. An `Rc` used
//!   only to build the graph is an error (`future cannot be sent between
//!   threads safely`, naming the value); use `Arc`, or drop it in an inner
//!   block before the end.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use taskdag::{delayed, graph, Runtime};
//!
//! static CLONES: AtomicUsize = AtomicUsize::new(0);
//!
//! #[derive(Debug)]
//! struct Matrix(Vec<f64>);
//! impl Clone for Matrix {
//!     fn clone(&self) -> Self {
//!         CLONES.fetch_add(1, Ordering::SeqCst);
//!         Matrix(self.0.clone())
//!     }
//! }
//!
//! #[delayed]
//! fn load(n: usize) -> Matrix {
//!     Matrix(vec![1.0; n])
//! }
//! /// Borrows: any number of these share one `Matrix`.
//! #[delayed]
//! fn norm(m: &Matrix) -> f64 {
//!     m.0.iter().map(|x| x * x).sum::<f64>().sqrt()
//! }
//! /// Takes by value.
//! #[delayed]
//! fn scale(mut m: Matrix, k: f64) -> Matrix {
//!     m.0.iter_mut().for_each(|x| *x *= k);
//!     m
//! }
//! #[delayed]
//! fn total(m: Matrix) -> f64 {
//!     m.0.iter().sum()
//! }
//!
//! let rt = Runtime::new(2)?;
//! let (a, b, c) = rt.compute(graph! {
//!     let m = load(4);
//!     let n = norm(&m); // borrowed
//!     let s = scale(m, 2.0); // by value: one consumer of two by value...
//!     let t = total(m); // ...gets a clone, the last reader the value itself
//!     (n, total(s), t)
//! })?;
//! assert_eq!((a, b, c), (2.0, 8.0, 4.0));
//! // One clone, or two when `norm` still borrowed `m` as the second
//! // consumer by value ran.
//! assert!((1..=2).contains(&CLONES.load(Ordering::SeqCst)));
//! # Ok::<(), taskdag::Error>(())
//! ```
