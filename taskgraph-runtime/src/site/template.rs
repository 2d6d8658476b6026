//! The compile-time description of a graph: what `graph!` knows before any
//! plain code runs. One entry per call site, per loop and per edge between
//! call sites; `graph!` writes it as a `static` beside the graph, so it
//! costs nothing at run time.

use crate::site::FamilyInfo;

/// A graph as written: its call sites, loops and edges, with the source
/// text of loop ranges and index maps. Made by `graph!`; read it through
/// [`Graph::template_dot`](crate::Graph::template_dot) or
/// [`Viewer::template`](crate::view::Viewer::template).
#[derive(Debug)]
pub struct Template {
    /// The file of the `graph!`.
    pub file: &'static str,
    /// One per call site (a `#[delayed]` call or a `tree_reduce`), in
    /// source order.
    pub sites: &'static [Site],
    /// One per `for` loop or `.map(..)` closure, outer loops first.
    pub loops: &'static [LoopSite],
    /// The edges between call sites.
    pub edges: &'static [Link],
    /// The call sites whose values are the graph's output.
    pub outputs: &'static [u32],
    /// The loops that may run fused, and the call sites each runs.
    pub fused: &'static [Fused],
}

/// One call site of a template.
#[derive(Debug)]
pub struct Site {
    /// The function as written.
    pub name: &'static str,
    /// Its line.
    pub line: u32,
    /// Its column.
    pub column: u32,
    /// The innermost loop around it (an index into [`Template::loops`]).
    pub parent: Option<u32>,
    /// Whether it is the combining function of a `tree_reduce`; the text is
    /// the reduced vector.
    pub reduce: Option<&'static str>,
}

impl Site {
    /// The call site of `name` at `line`:`column`, outside loops (the
    /// short form `graph!` emits).
    pub const fn at(name: &'static str, line: u32, column: u32) -> Site {
        Site {
            name,
            line,
            column,
            parent: None,
            reduce: None,
        }
    }

    /// This call site, inside loop `parent`.
    pub const fn in_loop(self, parent: u32) -> Site {
        Site {
            parent: Some(parent),
            ..self
        }
    }

    /// This call site, the combining function of a `tree_reduce` of `v`.
    pub const fn reduces(self, v: &'static str) -> Site {
        Site {
            reduce: Some(v),
            ..self
        }
    }
}

/// One loop of a template.
#[derive(Debug)]
pub struct LoopSite {
    /// The loop's pattern (`i`, `(r, c)`, `&z`).
    pub pattern: &'static str,
    /// What it iterates over, as written (`0..n`): its trip count.
    pub iter: &'static str,
    /// `for` or `map`.
    pub kind: &'static str,
    /// The line of its range.
    pub line: u32,
    /// The column of its range.
    pub column: u32,
    /// The enclosing loop.
    pub parent: Option<u32>,
}

impl LoopSite {
    /// A `kind` loop with pattern `pattern` over `iter`, its range at
    /// `line`:`column`, outside other loops.
    pub const fn at(
        pattern: &'static str,
        iter: &'static str,
        kind: &'static str,
        line: u32,
        column: u32,
    ) -> LoopSite {
        LoopSite {
            pattern,
            iter,
            kind,
            line,
            column,
            parent: None,
        }
    }

    /// This loop inside loop `parent`.
    pub const fn in_loop(self, parent: u32) -> LoopSite {
        LoopSite {
            parent: Some(parent),
            ..self
        }
    }
}

/// An edge of a template: every node of call site `to` reads nodes of call
/// site `from` as `label` says.
#[derive(Debug)]
pub struct Link {
    /// The producing call site.
    pub from: u32,
    /// The consuming call site.
    pub to: u32,
    /// The value and its index map, as source text: `x[i]` (the same
    /// iteration), `s[t-1]` (the previous one), `zs[all i]` (every
    /// iteration, gathered), `x` (made outside the loop, read by every
    /// iteration).
    pub label: &'static str,
}

impl Link {
    /// The edge from call site `from` to `to`, labelled `label`.
    pub const fn new(from: u32, to: u32, label: &'static str) -> Link {
        Link { from, to, label }
    }
}

/// A loop that runs as blocks of fused iterations when fusion is on.
#[derive(Debug)]
pub struct Fused {
    /// Where the loop's range is (its fused family's call site).
    pub line: u32,
    /// Its column.
    pub column: u32,
    /// Call sites that run once per iteration (of a step loop: once per
    /// value its inner loop pushes).
    pub each: &'static [u32],
    /// The `tree_reduce` computed inside its blocks (one fewer task than
    /// iterations).
    pub reduce: Option<u32>,
    /// A wavefront's tasks per cell at call sites an `if` in the cell
    /// chooses between (which one runs depends on the branch taken):
    /// counted at the loop's own call site, per `if` as many as its branch
    /// with the most calls. 0 for other loops.
    pub chosen: u32,
    /// A step loop's values pushed before its inner loop, each step: the
    /// call sites each one runs.
    pub before: &'static [&'static [u32]],
    /// Those pushed after its inner loop.
    pub after: &'static [&'static [u32]],
}

impl Fused {
    /// The loop whose range is at `line`:`column`, running call sites
    /// `each` once per iteration.
    pub const fn at(line: u32, column: u32, each: &'static [u32]) -> Fused {
        Fused {
            line,
            column,
            each,
            reduce: None,
            chosen: 0,
            before: &[],
            after: &[],
        }
    }

    /// This wavefront running `n` tasks per cell at call sites an `if`
    /// chooses between ([`Fused::chosen`]).
    pub const fn chosen(self, n: u32) -> Fused {
        Fused { chosen: n, ..self }
    }

    /// This loop computing the `tree_reduce` of call site `site` in its blocks.
    pub const fn reduces(self, site: u32) -> Fused {
        Fused {
            reduce: Some(site),
            ..self
        }
    }
}

impl Template {
    /// The fused loop whose family has call site `site`.
    pub(crate) fn fused_at(
        &'static self,
        site: &FamilyInfo,
    ) -> Option<(&'static Self, &'static Fused)> {
        self.fused
            .iter()
            .find(|f| f.line == site.line && f.column == site.column && site.name == "loop")
            .map(|f| (self, f))
    }

    /// The run's record of call site `i`, among `sites` (the run's
    /// families' call sites).
    pub(crate) fn site(
        &self,
        mut sites: impl Iterator<Item = &'static FamilyInfo>,
        i: u32,
    ) -> &'static FamilyInfo {
        let s = &self.sites[i as usize];
        sites
            .find(|f| f.line == s.line && f.column == s.column && f.name == s.name)
            .unwrap_or_else(|| unknown_site(s))
    }

    /// The call site a run's family stands for, if it is one of this
    /// template's.
    pub(crate) fn site_of(&self, info: &FamilyInfo) -> Option<usize> {
        self.sites
            .iter()
            .position(|s| s.line == info.line && s.column == info.column && s.name == info.name)
    }

    /// The loops around call site `i`, outermost first.
    pub(crate) fn loops_of(&self, i: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let mut l = self.sites[i].parent;
        while let Some(k) = l {
            out.push(k);
            l = self.loops[k as usize].parent;
        }
        out.reverse();
        out
    }
}

#[cold]
fn unknown_site(s: &Site) -> &'static FamilyInfo {
    // Not reached for a template and a run of the same graph; leaks one
    // record otherwise.
    Box::leak(Box::new(FamilyInfo::new(s.name, "", s.line, s.column)))
}
