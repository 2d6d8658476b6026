//! The language inside `graph!`: ordinary Rust, with one rule.
//!
//! The body of [`graph! { ... }`](crate::graph) is ordinary Rust, run once
//! when the graph is computed (*instantiated*). What it computes falls in
//! two kinds:
//!
//! - **Lazy values** exist only when the graph runs. A call of a
//!   `#[delayed]` function makes one (a *task*); so does an expression that
//!   reads lazy values (`x * 2`, `p.mean`, `s.len()`, `format!("{a}-{b}")`,
//!   `Stats { n, mean }`, `vec![x, y]`, `(a, b)`, `String::from(x)`,
//!   `obj.method(x)`): it becomes an anonymous task named by its source text
//!   in errors (``task `x * 2` at src/main.rs:12:17``). `f(x)?` on a task
//!   returning `Result<T, E>` is the `T`; an `Err` stops the graph at the
//!   first `Err`, and `compute` returns [`Error::TaskFailed`], whose
//!   `source()` is your error (see [`failures`](super::failures)).
//! - **Plain values** are everything else: numbers, ranges, captured data
//!   (moved in, as by a `move` closure: capture a borrow, `let r = &data;`,
//!   to share it), and the *decisions* that give the graph its shape.
//!
//! # The shape is plain
//!
//! The graph's shape may depend on plain values (loop bounds, conditions,
//! indices, a vector's length), never on a task's result. A lazy value may
//! not decide anything: an `if`/`while`/`match` condition, a loop bound, an
//! index, a `break` with a value, `return`. Each of these is a compile error
//! at the token that says what to write instead
//! ([what the compiler catches](super::compile_errors)). Everything that only
//! *computes with* lazy values is a task.
//!
//! # What may appear
//!
//! - `let x = f(a, b);`, nested calls (`add(inc(1), dec(2))`), `let (a, b) =
//!   split(x);` (each part its own task; the whole value must be `Clone` if
//!   several parts are bound), reassignment in loops (`s = step(s);`,
//!   `s += f(i);`);
//! - `if`/`else`, `match`, `while`, `while let`, `loop`, `break`, `continue`
//!   (labels too) and blocks, on plain values, inside and outside loops;
//!   `let x = if p { inc(a) } else { dec(a) };` picks which task gives `x`;
//! - vectors of lazy values: `let mut v = Vec::new(); ... v.push(x);`,
//!   `let v: Vec<_> = iter.map(|i| f(i)).collect();` (or `.map(f)`),
//!   reassigned whole (`level = next;`); `v[i]` with any plain index (an
//!   index out of range is [`Error::IndexOutOfRange`], naming the vector,
//!   the index and the line, when the graph is built, before any task runs),
//!   `v.first().unwrap()`, `v.last().unwrap()`, `&v[a..b]`, `v.len()` and
//!   `v.is_empty()` (plain); `for x in v.iter()`, `.enumerate()`, `.zip(..)`
//!   (with a lazy or plain side), `.skip(n)`, `.step_by(k)`, `.take(n)`,
//!   `.rev()` (plain arguments: the length is plain, so these are too),
//!   `v.chunks(k)` and `v.windows(k)` (each a vector of lazy values), in
//!   `for` loops and in `.map(..).collect()`;
//! - in-place updates, `v[i] = f(v[i], v[k]);` with any plain index (the
//!   shape of in-place algorithms): element `i` becomes the new lazy value,
//!   the other elements stay; out of range is [`Error::IndexOutOfRange`]
//!   when the graph is built;
//! - vectors of vectors of lazy values: `rows.push(row)` (a vector of lazy
//!   values) or `let grid: Vec<Vec<_>> = (0..h).map(|r| (0..w).map(|c|
//!   f(r, c)).collect()).collect();`, `rows[r]` (a row: a vector of lazy
//!   values), `rows[r][c]`,
//!   `rows[r][c] = f(..);`, `rows.len()` and `rows[r].len()` (plain),
//!   `for row in rows.iter()`, `grid = next;` (step after step), a row
//!   passed whole to a task (`f(rows[r])`, `f(rows[r].clone())`,
//!   `f(&rows[r])`, gathered as for any vector of lazy values); a vector
//!   of vectors cannot be used whole otherwise (passed to a task, returned,
//!   or read inside a macro such as `format!`): pass its rows, bind an
//!   element with `let` first;
//! - closures over lazy values, `let twice = |a| inc(inc(a)); twice(x)`,
//!   also as `.map(twice)`: a closure is ordinary code, inlined where it is
//!   called, so each call makes its body's tasks (names in the body are
//!   looked up where it is called). A closure that computes no lazy value
//!   stays a plain closure: called on lazy values, it runs inside an
//!   expression task; given to `tree_reduce`, see below;
//! - a `Vec<T>` or `&[T]` parameter *gathers* a vector of lazy values; a
//!   `&T` parameter borrows its argument (`len(&s)` or `len(s)`); a `T`
//!   parameter takes it (see [`values`](super::values));
//! - `tree_reduce(v, f)` reduces a vector with a binary `#[delayed]`
//!   function in a pairwise tree, keeping left-to-right order (an empty
//!   vector is [`Error::EmptyReduce`] at run time), also inside loops; `f`
//!   may be a closure that calls one such function on its two arguments,
//!   `|a, b| add(a, b)` (named, `let f = ..;`, or written in place), any
//!   other closure is a compile error that says so; `v`
//!   may be a row `rows[r]` or a slice `&v[a..b]`, or a plain `Vec<T>` or
//!   `&[T]`, or a spawned graph's [`Handle`] (`&h` borrows it and clones its
//!   values, `h` moves it in), read without a task per element (see
//!   [`background`](super::background));
//! - a spawned graph's outputs (dask's persisted values) as a vector of lazy
//!   values: a variable bound at the top of `graph!` to a plain value
//!   (`let mut l = &zs;`, or a captured `zs` itself, or a plain `Vec<T>`)
//!   that the graph later assigns a vector of lazy values (`l = new_l;`) or
//!   a lazy element (`l[i] = f(l[i]);`) is read as one, once, where it is
//!   bound; its length is plain. Bound
//!   inside a loop or block, that is a compile error that says to move it;
//!   never reassigned, it stays plain (read it with `tree_reduce(&zs, f)`).
//!   A `Handle` is not its values: read directly as data inside `graph!`
//!   (`zs[3]`, `zs.len()`, `zs.iter()`, `for z in &zs`), it is a compile
//!   error at `zs` that says to read it one of these ways, or to wait for
//!   its values before the graph (`let values = zs.wait()?;`);
//! - the final expression is the output: a lazy value, a tuple of them, or a
//!   `Vec` of them. A variable returned more than once (`(x, x)`, `(v, t, v)`)
//!   gives clones for its second and later occurrences, so its type must be
//!   `Clone` (a compile error at the second occurrence otherwise). Outputs
//!   that turn out to be the same value only when the graph is built
//!   (`(v[i], v[j])` with `i == j`, or `(l[0], tree_reduce(&l, f))` over one
//!   value) are cloned the same way when their type is `Clone`, and are
//!   `Error::DuplicateOutput` when it is not. The
//!   elements of a tuple may also be plain values (`(n, v.len(), v)`): they
//!   are computed when the graph is instantiated and returned as they are;
//!   a final expression with no lazy value at all is a compile error.
//!
//! The tutorial's `while len(L) > 1` tree summation runs as written, over
//! values made in the graph or over persisted ones (see below and
//! `examples/custom_workloads.rs`). Its pairwise form (pairs `level[i]`,
//! `level[i + 1]` for `i` in `(0..level.len()).step_by(2)`, or
//! `level.chunks(2)`, an odd last value pushed as it is) is the tree
//! `tree_reduce` builds, and runs as one: the same values and task indices,
//! without a node per task; a task is then named `add[level=k, pos=j]`
//! (labelling the loop, `'l: while ..`, keeps it as written):
//!
//! ```
//! use taskdag::{delayed, graph, Runtime};
//!
//! #[delayed]
//! fn inc(x: i64) -> i64 {
//!     x + 1
//! }
//! #[delayed]
//! fn add(x: i64, y: i64) -> i64 {
//!     x + y
//! }
//! #[delayed]
//! fn checked(x: i64) -> Result<i64, String> {
//!     if x < 0 { Err(format!("{x} is negative")) } else { Ok(x) }
//! }
//!
//! let rt = Runtime::new(2)?;
//! let (total, first, label) = rt.compute(graph! {
//!     let mut level = Vec::new();
//!     for i in 1..6 {
//!         let x = checked(i)?;
//!         // A plain condition picks which tasks exist.
//!         let y = if i % 2 == 1 { inc(x) } else { x * 10 };
//!         level.push(y);
//!     }
//!     let first = level[0];
//!     while level.len() > 1 {
//!         let mut next = Vec::new();
//!         for pair in level.chunks(2) {
//!             if pair.len() == 2 {
//!                 next.push(add(pair[0], pair[1]));
//!             } else {
//!                 next.push(pair[0]);
//!             }
//!         }
//!         level = next;
//!     }
//!     let total = level[0];
//!     // An expression on lazy values is a task of its own.
//!     let label = format!("{first}/{total}");
//!     (total, first, label)
//! })?;
//! assert_eq!(total, 2 + 20 + 4 + 40 + 6);
//! assert_eq!(first, 2);
//! assert_eq!(label, "2/72");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The notebook's last cell, over the persisted values, and an in-place
//! update:
//!
//! ```
//! use taskdag::{delayed, graph, Runtime};
//!
//! #[delayed]
//! fn inc(x: i64) -> i64 {
//!     x + 1
//! }
//! #[delayed]
//! fn add(x: i64, y: i64) -> i64 {
//!     x + y
//! }
//!
//! let rt = Runtime::new(2)?;
//! // `dask.persist`: the values are computed in the background.
//! let zs = rt.spawn(graph! {
//!     let zs: Vec<_> = (0..8).map(|i| inc(i)).collect();
//!     zs
//! });
//! let total = rt.compute(graph! {
//!     let mut l = &zs; // a vector of lazy values: `l` is reassigned one below
//!     while l.len() > 1 {
//!         let mut new_l = Vec::new();
//!         for i in (0..l.len()).step_by(2) {
//!             new_l.push(add(l[i], l[i + 1]));
//!         }
//!         l = new_l;
//!     }
//!     l[0]
//! })?;
//! assert_eq!(total, 36);
//! // A prefix sum in place.
//! let prefix = rt.compute(graph! {
//!     let mut v = &zs;
//!     for i in 1..v.len() {
//!         v[i] = add(v[i], v[i - 1]);
//!     }
//!     v[7]
//! })?;
//! assert_eq!(prefix, 36);
//! // `&zs` borrowed the handle: its values are still there.
//! assert_eq!(zs.wait()?.len(), 8);
//! # Ok::<(), taskdag::Error>(())
//! ```
//!
//! # Lower-case calls are tasks
//!
//! Inside `graph!`, a call to a free function whose name starts in lower case
//! (`inc(x)`, `ops::add(x, y)`) is a task call and names a `#[delayed]`
//! function; `Vec::new()`, `Some(x)` and `std::` paths stay plain, and inside
//! an expression a call with only plain arguments is an ordinary call.
//! Methods and associated functions (`s.mean()`, `Series::of(v)`) run inside
//! expression tasks; `#[delayed]` on an `impl` block, or on each of its
//! functions, checks their signatures like a task's. (Inside an `impl`, the
//! attribute tells an associated function from a free one by reading the
//! source file around its name, where the compiler gives its location.)
//!
//! # Graphs are values
//!
//! A function can return `impl Graph<Output = T>`; a graph chosen at run
//! time is a `Box<dyn Graph<Output = T> + Send>`. The one type computes,
//! spawns, draws (`to_dot`, `visualize`) and, with the `cluster` feature,
//! goes to a cluster. What a graph captures must be `Clone` (it is drawn
//! from a copy), so every graph can be cloned and computed again.
//!
//! ```
//! use taskdag::{delayed, graph, Graph, Runtime};
//!
//! #[delayed]
//! fn inc(x: i64) -> i64 {
//!     x + 1
//! }
//! #[delayed]
//! fn add(x: i64, y: i64) -> i64 {
//!     x + y
//! }
//!
//! fn sum_of_incs(n: i64) -> impl Graph<Output = i64> + Clone {
//!     graph! {
//!         let zs: Vec<_> = (0..n).map(|i| inc(i)).collect();
//!         tree_reduce(zs, add)
//!     }
//! }
//!
//! let rt = Runtime::new(2)?;
//! let g = sum_of_incs(4);
//! assert_eq!(rt.compute(g.clone())?, 10);
//! assert_eq!(rt.compute(g)?, 10);
//!
//! let big = true;
//! let chosen: Box<dyn Graph<Output = i64> + Send> = if big {
//!     Box::new(sum_of_incs(100))
//! } else {
//!     Box::new(graph! { inc(0) })
//! };
//! assert_eq!(rt.compute(chosen)?, 5050);
//! # Ok::<(), taskdag::Error>(())
//! ```
//!
//! # How it runs
//!
//! Every call site is a *family* of nodes, one per loop iteration. Loops
//! whose iterations each are a chain of tasks also run *fused*, as blocks of
//! straight-line code at the speed of a plain loop; the other statements
//! (`if`, `while`, indexing, in-place updates, vectors of vectors,
//! expression tasks outside fused loops) run node by node, at tens of
//! nanoseconds per task ([`speed`](super::speed)).
//!
//! [`Error::TaskFailed`]: crate::Error::TaskFailed
//! [`Error::IndexOutOfRange`]: crate::Error::IndexOutOfRange
//! [`Error::EmptyReduce`]: crate::Error::EmptyReduce
//! [`Handle`]: crate::Handle
