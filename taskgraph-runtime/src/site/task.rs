//! The naming of tasks: a task is a call site ([`FamilyInfo`]) and its loop
//! iterations; [`TaskInfo`] names one in errors, and [`write_name`] and
//! [`write_iteration`] are the one way tasks and iterations read.

use std::fmt;

use super::FamilyInfo;

/// Where a task sits in the graph: the `#[delayed]` function, the call site and
/// the loop iterations it belongs to.
///
/// `indices` holds one zero-based iteration number per enclosing `for` loop (or
/// `.map(..)` closure, `while` or `loop`), outermost first. A node made by
/// `tree_reduce` ends with two extra numbers: the tree level (0 for the
/// leaves' parents) and the position within that level.
///
/// The message ([`Display`](fmt::Display)) names the task by its
/// [`name`](TaskInfo::name), its loop variables with their iterations, then
/// the call site: `` `check[i=1, j=3]` at src/main.rs:12:17 ``. See
/// [`TaskInfo::name`] for how each loop reads.
///
/// ```
/// use taskdag::{delayed, graph, Error, Runtime};
///
/// #[delayed]
/// fn check(x: u32) -> u32 {
///     assert!(x != 7, "seven");
///     x
/// }
///
/// let rt = Runtime::new(2)?;
/// let err = rt
///     .compute(graph! {
///         let mut v = Vec::new();
///         for i in 0..4 {
///             for j in 0..4 {
///                 v.push(check(4 * i + j));
///             }
///         }
///         v
///     })
///     .unwrap_err();
/// let Error::TaskPanicked { task, .. } = &err else { panic!("{err}") };
/// assert_eq!((task.function(), task.indices.as_slice()), ("check", &[1, 3][..]));
/// assert_eq!(task.name(), "check[i=1, j=3]");
/// assert!(task.to_string().starts_with("`check[i=1, j=3]` at "));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The call site: the function as written, where it is, and the loops
    /// around it (the same record the graph's observers see).
    pub site: &'static FamilyInfo,
    /// Loop iteration numbers, outermost first.
    pub indices: Vec<u32>,
}

impl TaskInfo {
    /// The function as written at the call site, e.g. `inc` or `math::inc`.
    pub fn function(&self) -> &'static str {
        self.site.name
    }

    /// The source file of the call site.
    pub fn file(&self) -> &'static str {
        self.site.file
    }

    /// The line of the call site (1-based).
    pub fn line(&self) -> u32 {
        self.site.line
    }

    /// The column of the call site (1-based).
    pub fn column(&self) -> u32 {
        self.site.column
    }

    /// The loops around the call site, outermost first, as written (empty
    /// when the call site was not made by `graph!`): they name the
    /// `indices` in the message.
    pub fn loops(&self) -> &'static [LoopVar] {
        self.site.loops
    }

    /// Whether the call site is the combining function of a `tree_reduce`,
    /// whose last two `indices` are the tree level and the position.
    pub fn tree_reduce(&self) -> bool {
        self.site.tree_reduce
    }

    /// The task's name: the function, then its loop iterations in brackets
    /// (just the function outside loops).
    ///
    /// Each loop reads as
    /// - `i=3` when its pattern is one name and it counts from zero
    ///   (`for i in 0..n`, `0..=n`): the value of `i` is 3;
    /// - `i#3` when its pattern is one name (`i`, `&z`, `mut x`) but the
    ///   iteration number is not its value (`for x in xs.iter()`,
    ///   `for i in (1..n).step_by(2)`): the fourth value of `i`, counting
    ///   from `#0`;
    /// - `#3` when the pattern is not one name (`(r, c)` from
    ///   `.enumerate()` or `.zip(..)`, `while` and `loop`): the fourth
    ///   iteration.
    ///
    /// A `tree_reduce` node adds `level=1, pos=3`: the tree level (0 for
    /// the leaves' parents) and the position within the level. Numbers
    /// without a loop to name them (a hand-made [`FamilyInfo`]) read as
    /// they are: `h[3]`.
    ///
    /// ```
    /// use taskdag::TaskInfo;
    ///
    /// static SITE: taskdag::FamilyInfo =
    ///     taskdag::FamilyInfo::new("add", "src/main.rs", 9, 13)
    ///         .with_loops(&[taskdag::LoopVar::new("i", "0..n")])
    ///         .with_tree_reduce();
    /// let task: TaskInfo = SITE.task(&[2, 1, 3]);
    /// assert_eq!(task.name(), "add[i=2, level=1, pos=3]");
    /// assert_eq!(task.to_string(), "`add[i=2, level=1, pos=3]` at src/main.rs:9:13");
    /// ```
    ///
    pub fn name(&self) -> String {
        let mut s = String::new();
        // Writing to a `String` does not fail.
        let _ = self.site.write_name(&mut s, &self.indices);
        s
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`")?;
        self.site.write_name(f, &self.indices)?;
        write!(f, "` at {}:{}:{}", self.file(), self.line(), self.column())
    }
}

/// A loop around a call site, as the source writes it: its pattern and what
/// it iterates over. `graph!` records them; they name a task's iterations
/// (see [`TaskInfo::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoopVar {
    /// The loop's pattern: `i`, `&z`, `(r, c)`; `_` for `while` and `loop`.
    pub pattern: &'static str,
    /// What it iterates over, as written: `0..n`, `xs.iter()`; the
    /// condition of a `while`.
    pub iter: &'static str,
}

impl LoopVar {
    /// A loop with pattern `pattern` over `iter`.
    pub const fn new(pattern: &'static str, iter: &'static str) -> Self {
        LoopVar { pattern, iter }
    }
}

/// The name of a loop variable: `i` for `i`, `&z` and `mut i`; `None` for a
/// pattern that is not one name (`(a, b)`, `_`).
fn var_name(pattern: &str) -> Option<&str> {
    let p = pattern.trim_start_matches('&').trim();
    let p = p.strip_prefix("mut ").unwrap_or(p).trim();
    (!p.is_empty() && p != "_" && p.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(p)
}

/// Iteration `k` of the loop with pattern `pattern` over `iter`: `i=3` when
/// the loop counts from zero, so that the iteration number is the value;
/// `i#3` (the fourth value of `i`) for another one-name pattern; `#3`
/// otherwise. Error messages and pictures of graphs both name iterations
/// this way.
pub(crate) fn write_iteration(
    out: &mut dyn fmt::Write,
    pattern: &str,
    iter: &str,
    k: u32,
) -> fmt::Result {
    let counts = iter.trim_start_matches('(').starts_with("0..") && !iter.contains("step_by");
    match var_name(pattern) {
        Some(v) if counts => write!(out, "{v}={k}"),
        Some(v) => write!(out, "{v}#{k}"),
        None => write!(out, "#{k}"),
    }
}

/// `inc[i=3]`, `check[i=1, j=3]`, `add[i=2, level=1, pos=3]` (a
/// `tree_reduce` node), `inc` outside loops: task `name` at `at` in
/// `loops`. Indices past the loops read as plain numbers.
pub(crate) fn write_name(
    out: &mut dyn fmt::Write,
    name: &str,
    loops: &[LoopVar],
    tree_reduce: bool,
    at: &[u32],
) -> fmt::Result {
    out.write_str(name)?;
    if at.is_empty() {
        return Ok(());
    }
    out.write_str("[")?;
    let named = at.len().min(loops.len());
    for (d, (&k, l)) in at.iter().zip(loops).enumerate() {
        if d > 0 {
            out.write_str(", ")?;
        }
        write_iteration(out, l.pattern, l.iter, k)?;
    }
    let rest = &at[named..];
    if tree_reduce && rest.len() == 2 {
        if named > 0 {
            out.write_str(", ")?;
        }
        write!(out, "level={}, pos={}", rest[0], rest[1])?;
    } else {
        for (d, k) in rest.iter().enumerate() {
            if named + d > 0 {
                out.write_str(", ")?;
            }
            write!(out, "{k}")?;
        }
    }
    out.write_str("]")
}
