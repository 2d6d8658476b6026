//! The call-site vocabulary: what `graph!` writes down about the code it
//! compiles, before anything runs. A [`FamilyInfo`] names one call site, a
//! [`LoopIndex`] a node's loop iterations, and a [`Template`] the whole graph
//! as written. Every other layer of the runtime speaks of tasks in these
//! terms; this module imports nothing of the runtime but its errors.

mod task;
pub(crate) mod template;

pub(crate) use task::write_iteration;
pub use task::{LoopVar, TaskInfo};
pub use template::{Fused, Link, LoopSite, Site, Template};

/// A call site of a `graph!`: the function as written, where the call is
/// and the loops around it. `graph!` makes one `'static` record per call
/// site; observers see tasks by it. Two records are equal when they name the
/// same call site.
///
/// ```
/// use taskdag::{FamilyInfo, LoopVar};
///
/// static SITE: FamilyInfo = FamilyInfo::new("check", "src/main.rs", 12, 17)
///     .with_loops(&[LoopVar::new("i", "0..n"), LoopVar::new("j", "0..m")]);
/// assert_eq!(SITE.task(&[1, 3]).name(), "check[i=1, j=3]");
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FamilyInfo {
    /// The function as written, e.g. `inc` or `math::inc`.
    pub name: &'static str,
    /// The call site's file.
    pub file: &'static str,
    /// The call site's line.
    pub line: u32,
    /// The call site's column.
    pub column: u32,
    /// The loops around the call site, outermost first (none unless set
    /// with [`with_loops`](Self::with_loops)).
    pub loops: &'static [LoopVar],
    /// Whether the call site is a `tree_reduce`'s combining function (set
    /// with [`with_tree_reduce`](Self::with_tree_reduce)).
    pub tree_reduce: bool,
}

impl FamilyInfo {
    /// A call site, outside loops.
    pub const fn new(name: &'static str, file: &'static str, line: u32, column: u32) -> Self {
        FamilyInfo {
            name,
            file,
            line,
            column,
            loops: &[],
            tree_reduce: false,
        }
    }

    /// This call site inside loops `loops`, outermost first: they name its
    /// tasks' iterations in error messages ([`TaskInfo::name`]).
    pub const fn with_loops(self, loops: &'static [LoopVar]) -> Self {
        FamilyInfo { loops, ..self }
    }

    /// This call site as a `tree_reduce`'s combining function: its tasks'
    /// last two indices are the tree level and the position in it.
    pub const fn with_tree_reduce(self) -> Self {
        FamilyInfo {
            tree_reduce: true,
            ..self
        }
    }

    /// The name of the task at loop indices `at`, e.g. `inc[i=3]` (see
    /// [`TaskInfo::name`]).
    pub(crate) fn task_name(&self, at: &[u32]) -> String {
        let mut s = String::new();
        // Writing to a `String` does not fail.
        let _ = self.write_name(&mut s, at);
        s
    }

    /// Writes the name of the task at loop indices `at` (see
    /// [`TaskInfo::name`]).
    pub(crate) fn write_name(&self, out: &mut dyn std::fmt::Write, at: &[u32]) -> std::fmt::Result {
        task::write_name(out, self.name, self.loops, self.tree_reduce, at)
    }

    /// The labels people see for the call sites `sites` of one run, in their
    /// order: the function's name where no other call site of the run has it
    /// (`inc`), else the name and the call site's line (`add @ src/main.rs:14`),
    /// and its column too where another call site of that name shares the line
    /// (`add @ src/main.rs:14:9`). A site listed twice gets the same label.
    ///
    /// Progress bars, the dashboard, the performance report and
    /// [`FamilyProgress::label`](crate::FamilyProgress::label) all name call
    /// sites by this, so that they agree.
    ///
    /// ```
    /// use taskdag::FamilyInfo;
    ///
    /// static INC: FamilyInfo = FamilyInfo::new("inc", "src/main.rs", 12, 17);
    /// static A: FamilyInfo = FamilyInfo::new("add", "src/main.rs", 14, 9);
    /// static B: FamilyInfo = FamilyInfo::new("add", "src/main.rs", 15, 9);
    /// assert_eq!(
    ///     FamilyInfo::labels(&[&INC, &A, &B]),
    ///     ["inc", "add @ src/main.rs:14", "add @ src/main.rs:15"]
    /// );
    /// ```
    pub fn labels(sites: &[&FamilyInfo]) -> Vec<String> {
        sites
            .iter()
            .map(|s| {
                let others = || {
                    sites
                        .iter()
                        .filter(move |o| o.name == s.name && !same(o, s))
                };
                if others().next().is_none() {
                    s.name.to_owned()
                } else if others().any(|o| o.file == s.file && o.line == s.line) {
                    format!("{} @ {}:{}:{}", s.name, s.file, s.line, s.column)
                } else {
                    format!("{} @ {}:{}", s.name, s.file, s.line)
                }
            })
            .collect()
    }

    /// The description of the task at loop indices `indices`.
    pub fn task(&'static self, indices: &[u32]) -> TaskInfo {
        TaskInfo {
            site: self,
            indices: indices.to_vec(),
        }
    }
}

/// Whether `a` and `b` name the same call site (the same record, or two
/// records of the same function at the same place).
fn same(a: &FamilyInfo, b: &FamilyInfo) -> bool {
    std::ptr::eq(a, b) || (a.name, a.file, a.line, a.column) == (b.name, b.file, b.line, b.column)
}

/// Loop iteration numbers of a node.
pub trait LoopIndex: Copy + Send + Sync + PartialEq {
    /// The numbers, outermost loop first.
    fn as_slice(&self) -> &[u32];
    /// These indices with the innermost one advanced by `k`.
    fn advanced(self, k: u32) -> Self;
}

impl<const N: usize> LoopIndex for [u32; N] {
    #[inline(always)]
    fn as_slice(&self) -> &[u32] {
        self
    }
    #[inline(always)]
    fn advanced(mut self, k: u32) -> Self {
        if let Some(last) = self.last_mut() {
            *last = last.wrapping_add(k);
        }
        self
    }
}
