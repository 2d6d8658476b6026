//! Indexed loops: the reach of a step loop's reads, derived from its index
//! expressions at compile time.
//!
//! A *step loop* rebuilds a vector of lazy values from the one before, step
//! after step:
//!
//! ```text
//! for t in 0..steps {              // or `while level.len() > 1`
//!     let mut next = Vec::new();
//!     next.push(edge(cur[0]));     // pushes before and after the inner loop
//!     for i in 1..w - 1 {          // `a..b` or `(a..b).step_by(k)`
//!         next.push(f(cur[i - 1], cur[i], cur[i + 1]));
//!     }
//!     next.push(edge(cur[w - 1]));
//!     cur = next;
//! }
//! ```
//!
//! Iteration `i` of the inner loop reads `cur[i + k]` for a few constant
//! offsets `k`: its *reach*. A tile of iterations `a..b` of one step then
//! needs exactly the elements `a - back .. b + ahead` of the step before,
//! which is what lets a tile wait for the tiles that cover that range rather
//! than for the whole previous step. An index that is not the loop variable
//! plus a constant (`(i + w - 1) % w`, `2 * i`, `idx[i]`) has no reach:
//! such a loop stays node by node.
//!
//! Index expressions are read as polynomials with integer coefficients over
//! the names they mention (`(r - 1) * w + c` is `r·w - w + c`), so that
//! offsets are found by subtraction whatever the form the user wrote. A
//! fused step loop asks more of its inner reads: an index written `i`,
//! `i + k` or `i - k`, whose only intermediate value is the index itself
//! (`i - 2 + 1` underflows at `i = 1` where `i - 1` does not).
//!
//! A step loop whose inner body is straight-line (task calls, reads of the
//! state, plain `let`s, one push) and whose every read has a reach gets a
//! [`StepsPlan`]: the expansion runs it as one fused loop (`Steps` in the
//! runtime) and tells it, for each value of a step, the cells of the step
//! before it reads (the loop variable widened by the reach, or a boundary
//! value's fixed indices). The runtime cuts each step into tiles, and a
//! tile waits only for the tiles of the step before that cover its reads
//! (and those that read its cells), not for the whole step. Wavefronts
//! (a grid filled row after row from the cells above and to the left) are
//! recognised here and fused in tiles by `wave.rs`.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::format_ident;
use syn::{BinOp, Expr, Ident, Lit, Pat, Type, UnOp};

use super::ir::*;

/// A polynomial with integer coefficients over names: each key is a sorted
/// product of names (empty for the constant term), each value its nonzero
/// coefficient.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Poly(pub(super) BTreeMap<Vec<String>, i64>);

impl Poly {
    fn constant(c: i64) -> Self {
        let mut m = BTreeMap::new();
        if c != 0 {
            m.insert(Vec::new(), c);
        }
        Poly(m)
    }

    pub(super) fn name(n: &Ident) -> Self {
        Poly(BTreeMap::from([(vec![n.to_string()], 1)]))
    }

    /// The polynomial an index expression computes, if it is one: integer
    /// literals, names, `+`, `-`, `*`, parentheses and `as` casts. Anything
    /// else (`%`, `/`, calls, fields, indexing) is `None`. Overflowing
    /// coefficients are `None` too.
    pub(crate) fn of(e: &Expr) -> Option<Self> {
        match e {
            Expr::Paren(p) => Poly::of(&p.expr),
            Expr::Group(g) => Poly::of(&g.expr),
            Expr::Cast(c) => Poly::of(&c.expr),
            Expr::Lit(l) => match &l.lit {
                Lit::Int(i) => i.base10_parse::<i64>().ok().map(Poly::constant),
                _ => None,
            },
            Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(Poly::name),
            Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => Poly::of(&u.expr)?.scale(-1),
            Expr::Binary(b) => {
                let (l, r) = (Poly::of(&b.left)?, Poly::of(&b.right)?);
                match b.op {
                    BinOp::Add(_) => l.add(&r),
                    BinOp::Sub(_) => l.add(&r.scale(-1)?),
                    BinOp::Mul(_) => l.mul(&r),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    pub(super) fn scale(&self, k: i64) -> Option<Self> {
        let mut out = BTreeMap::new();
        for (m, c) in &self.0 {
            out.insert(m.clone(), c.checked_mul(k)?);
        }
        Some(Poly(out))
    }

    pub(super) fn add(&self, o: &Poly) -> Option<Self> {
        let mut out = self.0.clone();
        for (m, c) in &o.0 {
            let e = out.entry(m.clone()).or_insert(0);
            *e = e.checked_add(*c)?;
            if *e == 0 {
                out.remove(m);
            }
        }
        Some(Poly(out))
    }

    pub(super) fn mul(&self, o: &Poly) -> Option<Self> {
        let mut out = Poly::default();
        for (m1, c1) in &self.0 {
            for (m2, c2) in &o.0 {
                let mut m: Vec<String> = m1.iter().chain(m2).cloned().collect();
                m.sort();
                let term = Poly(BTreeMap::from([(m, c1.checked_mul(*c2)?)]));
                out = out.add(&term)?;
            }
        }
        Some(out)
    }

    /// `self - o`, if it is a constant.
    pub(crate) fn offset_from(&self, o: &Poly) -> Option<i64> {
        let d = self.add(&o.scale(-1)?)?;
        match d.0.len() {
            0 => Some(0),
            1 => d.0.get(&Vec::new()).copied(),
            _ => None,
        }
    }
}

/// How far one iteration's reads reach from its loop variable: iteration
/// `i` reads elements `i - back ..= i + ahead` of the step before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reach {
    pub back: u64,
    pub ahead: u64,
}

impl Reach {
    /// The reach of these constant offsets (at least one).
    fn of(offsets: &[i64]) -> Option<Reach> {
        let lo = *offsets.iter().min()?;
        let hi = *offsets.iter().max()?;
        Some(Reach {
            back: lo.min(0).unsigned_abs(),
            ahead: hi.max(0).unsigned_abs(),
        })
    }
}

/// A step loop found at a top-level statement.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StepLoop {
    /// The top-level statement (a `for` or `while`).
    pub stmt: usize,
    /// The vector rebuilt each step (`cur`).
    pub state: String,
    /// The vector each step builds (`next`).
    pub next: String,
    /// The inner loop's variable (`i`).
    pub var: String,
    /// The inner loop's step (`k` in `(a..b).step_by(k)`, else 1).
    pub stride: u64,
    /// Each read of the state inside the inner loop: its offset from the
    /// loop variable, `None` where the index is not the variable plus a
    /// constant.
    pub offsets: Vec<Option<i64>>,
    /// The reach, if every read has a constant offset.
    pub reach: Option<Reach>,
    /// Pushes onto `next` before and after the inner loop (its boundary
    /// elements).
    pub before: u32,
    pub after: u32,
    /// Whether every iteration of the inner loop pushes exactly one element,
    /// on every path through it: then iteration `i` makes element
    /// `before + (i - start) / stride` of `next`.
    pub one_push: bool,
}

/// The step loops among the graph's top-level statements.
#[cfg(test)]
pub(crate) fn step_loops(g: &Graph) -> Vec<StepLoop> {
    g.stmts
        .iter()
        .enumerate()
        .filter_map(|(k, s)| step_loop(k, s))
        .collect()
}

fn step_loop(stmt: usize, s: &Stmt) -> Option<StepLoop> {
    let body = match s {
        Stmt::For { body, .. } | Stmt::While { body, .. } => body,
        _ => return None,
    };
    // `cur = next;` ends the step.
    let (
        Stmt::AssignVec {
            name: state,
            value: Value::VecVar { name: next, .. },
        },
        rest,
    ) = body.split_last()?
    else {
        return None;
    };
    // `let mut next = Vec::new();` begins it.
    let (Stmt::VecLocal { pat, .. }, rest) = rest.split_first()? else {
        return None;
    };
    if pat_ident(pat)? != next {
        return None;
    }
    // One inner loop; the other statements push onto `next`.
    let mut inner = None;
    let (mut before, mut after) = (0, 0);
    for st in rest {
        match st {
            Stmt::Push { vec, .. } if vec == next => match inner {
                None => before += 1,
                Some(_) => after += 1,
            },
            Stmt::For {
                label: None,
                pat,
                iter,
                body,
                ..
            } if inner.is_none() => inner = Some((pat, iter, body)),
            _ => return None,
        }
    }
    let (pat, iter, inner_body) = inner?;
    let var = pat_ident(pat)?;
    let stride = stride_of(iter)?;
    let mut reads = Vec::new();
    for st in inner_body {
        if !reads_state(st, state, next, &mut reads) {
            return None;
        }
    }
    let at = Poly::name(var);
    let offsets: Vec<Option<i64>> = reads
        .iter()
        .map(|e| Poly::of(e).and_then(|p| p.offset_from(&at)))
        .collect();
    let reach = offsets
        .iter()
        .copied()
        .collect::<Option<Vec<i64>>>()
        .and_then(|o| Reach::of(&o));
    Some(StepLoop {
        stmt,
        state: state.to_string(),
        next: next.to_string(),
        var: var.to_string(),
        stride,
        offsets,
        reach,
        before,
        after,
        one_push: pushes(inner_body, next) == Some(1),
    })
}

/// How many elements a statement list pushes onto `next`, if it is the
/// same on every path through it (`None` where a plain statement may jump
/// out, `break`, `continue`, `return`, or where branches differ).
fn pushes(stmts: &[Stmt], next: &Ident) -> Option<u32> {
    let mut n = 0;
    for s in stmts {
        n += match s {
            Stmt::Push { vec, .. } if vec == next => 1,
            Stmt::Push { .. } | Stmt::Let { .. } | Stmt::Eval(_) => 0,
            Stmt::Plain(ts) => match jumps(ts) {
                true => return None,
                false => 0,
            },
            Stmt::Block(b) => pushes(b, next)?,
            Stmt::If { then, els, .. } => {
                let t = pushes(then, next)?;
                let e = match els {
                    Some(e) => pushes(e, next)?,
                    None => 0,
                };
                (t == e).then_some(t)?
            }
            Stmt::Match { arms, .. } => {
                let mut each = arms.iter().map(|a| pushes(&a.body, next));
                let first = each.next()??;
                each.all(|k| k == Some(first)).then_some(first)?
            }
            _ => return None,
        };
    }
    Some(n)
}

/// Whether plain code may leave the loop body early.
pub(super) fn jumps(ts: &proc_macro2::TokenStream) -> bool {
    use proc_macro2::TokenTree;
    ts.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "break" || i == "continue" || i == "return",
        TokenTree::Group(g) => jumps(&g.stream()),
        _ => false,
    })
}

/// A wavefront: `for r in 0..rows { for c in 0..cols { .. v.push(x); } }`
/// filling `v`, declared empty just before, row after row, one element per
/// iteration, each iteration reading earlier elements of `v` itself.
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Wavefront {
    /// The top-level `for` over rows.
    pub stmt: usize,
    pub vec: String,
    /// Per read of `v`: how far back it reads from the cell's own position
    /// `r * cols + c`, as whole rows and columns (`v[(r - 1) * cols + c]`
    /// is `(1, 0)`, `v[r * cols + c - 1]` is `(0, 1)`; with a literal
    /// `cols` the distance is split as `rows * cols + columns`, columns
    /// below `cols`); `None` where the distance is not constant in rows and
    /// columns.
    pub back: Vec<Option<(i64, i64)>>,
}

/// The wavefronts among the graph's top-level statements.
#[cfg(test)]
pub(crate) fn wavefronts(g: &Graph) -> Vec<Wavefront> {
    g.stmts
        .iter()
        .enumerate()
        .skip(1)
        .filter_map(|(k, s)| wavefront(k, &g.stmts[k - 1], s))
        .collect()
}

#[cfg(test)]
fn wavefront(stmt: usize, decl: &Stmt, s: &Stmt) -> Option<Wavefront> {
    let Stmt::VecLocal { pat, .. } = decl else {
        return None;
    };
    let vec = pat_ident(pat)?;
    let Stmt::For {
        label: None,
        pat: rpat,
        iter: riter,
        body,
        ..
    } = s
    else {
        return None;
    };
    let [Stmt::For {
        label: None,
        pat: cpat,
        iter: citer,
        body: cells,
        ..
    }] = &body[..]
    else {
        return None;
    };
    let (r, c) = (pat_ident(rpat)?, pat_ident(cpat)?);
    // Both ranges from 0; the number of columns a name or a literal, so
    // that an offset in it reads as rows.
    let zero_to = |e: &Expr| match e {
        Expr::Range(rg) if matches!(rg.limits, syn::RangeLimits::HalfOpen(_)) => {
            match (rg.start.as_deref().map(Poly::of), rg.end.as_deref()) {
                (Some(Some(p)), Some(end)) if p == Poly::default() => Some(end.clone()),
                _ => None,
            }
        }
        _ => None,
    };
    zero_to(riter)?;
    let cols = zero_to(citer)?;
    let width = Poly::of(&cols)?;
    if width.0.len() != 1 {
        return None;
    }
    if pushes(cells, vec) != Some(1) {
        return None;
    }
    let mut reads = Vec::new();
    for st in cells {
        // Reads and writes are checked as a step loop's are, `v` being
        // both the vector read and the one pushed onto.
        if !reads_state(st, vec, vec, &mut reads) {
            return None;
        }
    }
    let at = Poly::name(r).mul(&width)?.add(&Poly::name(c))?;
    let back = reads
        .iter()
        .map(|e| rows_and_columns(&at.add(&Poly::of(e)?.scale(-1)?)?, &width))
        .collect();
    Some(Wavefront {
        stmt,
        vec: vec.to_string(),
        back,
    })
}

/// `d = rows * width + columns` with `rows`, `columns` constants, if it is
/// (for a literal width, the rows are as many whole widths as `d` holds).
pub(super) fn rows_and_columns(d: &Poly, width: &Poly) -> Option<(i64, i64)> {
    let (key, w) = width.0.iter().next()?;
    if key.is_empty() {
        let d = d.offset_from(&Poly::default())?;
        return Some((d.div_euclid(*w), d.rem_euclid(*w)));
    }
    let rows_times_w = d.0.get(key).copied().unwrap_or(0);
    if rows_times_w % w != 0 {
        return None;
    }
    let rows = rows_times_w / w;
    let rest = d.add(&width.scale(-rows)?)?;
    Some((rows, rest.offset_from(&Poly::default())?))
}

pub(super) fn pat_ident(p: &Pat) -> Option<&Ident> {
    match p {
        Pat::Ident(i) if i.subpat.is_none() => Some(&i.ident),
        Pat::Type(t) => pat_ident(&t.pat),
        _ => None,
    }
}

/// The step of `a..b` (1) or `(a..b).step_by(k)` (`k`, a positive literal).
fn stride_of(e: &Expr) -> Option<u64> {
    match e {
        Expr::Paren(p) => stride_of(&p.expr),
        Expr::Group(g) => stride_of(&g.expr),
        Expr::Range(r) if r.start.is_some() && r.end.is_some() => Some(1),
        Expr::MethodCall(m) if m.method == "step_by" && m.args.len() == 1 => {
            stride_of(&m.receiver)?;
            match &m.args[0] {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(i), ..
                }) => i.base10_parse::<u64>().ok().filter(|&k| k > 0),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Collects the index expressions of `state[..]` reads in an inner-loop
/// statement; `false` if the statement does something a step loop may not:
/// a write other than a push onto `next`, a nested loop, a row read.
fn reads_state<'a>(s: &'a Stmt, state: &Ident, next: &Ident, out: &mut Vec<&'a Expr>) -> bool {
    let own = match s {
        Stmt::Plain(_) | Stmt::Eval(_) => true,
        Stmt::Let { name, .. } => name != state && name != next,
        Stmt::Push { vec, .. } => vec == next,
        Stmt::If { .. } | Stmt::Match { .. } | Stmt::Block(_) => true,
        _ => false,
    };
    own && s.values().into_iter().all(|v| value_reads(v, state, out))
        && s.children()
            .into_iter()
            .all(|c| reads_state(c, state, next, out))
}

fn value_reads<'a>(v: &'a Value, state: &Ident, out: &mut Vec<&'a Expr>) -> bool {
    match v {
        Value::Index {
            name,
            row: None,
            index,
            ..
        } => {
            if name == state {
                out.push(index);
            }
            true
        }
        // The whole state (or a slice or row of it) read at once: every
        // element, no reach.
        Value::VecVar { name, .. } | Value::Slice { name, .. } | Value::Row { name, .. }
            if name == state =>
        {
            false
        }
        Value::Index { row: Some(_), .. } | Value::Collect { .. } => false,
        _ => {
            let (stmts, values, _) = v.parts();
            stmts.is_empty() && values.into_iter().all(|v| value_reads(v, state, out))
        }
    }
}

/// Where a read of the state takes its element.
#[derive(Clone, Copy)]
pub(crate) enum Read {
    /// `cur[i + k]` in the inner loop.
    At(i64),
    /// `cur[e]` outside it, `e` the same every step: evaluated once, when
    /// the graph is built (number `n` of the plan's `fixed`).
    Fixed(usize),
}

/// A lazy argument, or a plain one.
pub(crate) enum SArg<'a> {
    Plain(&'a Expr),
    /// A value made earlier in the same element; `last`: its last use.
    Local {
        name: Ident,
        last: bool,
    },
    /// An element of the step before, read directly or through a `let`.
    Read(Read),
}

/// One task: `let name = fam(args);`.
pub(crate) struct SLink<'a> {
    pub name: Ident,
    pub ty: Option<&'a Type>,
    pub fam: FamId,
    pub args: Vec<SArg<'a>>,
}

pub(crate) enum SEvent<'a> {
    Plain(&'a TokenStream),
    Link(SLink<'a>),
}

/// How one element of a step is made: `events`, then `value` is pushed.
pub(crate) struct Element<'a> {
    pub events: Vec<SEvent<'a>>,
    pub value: SArg<'a>,
}

impl Element<'_> {
    /// The fixed reads (numbers in the plan's `fixed`) this element makes.
    pub(crate) fn fixed_reads(&self) -> Vec<usize> {
        let args = self.events.iter().flat_map(|ev| match ev {
            SEvent::Link(l) => l.args.as_slice(),
            SEvent::Plain(_) => &[],
        });
        args.chain(std::iter::once(&self.value))
            .filter_map(|a| match a {
                SArg::Read(Read::Fixed(n)) => Some(*n),
                _ => None,
            })
            .collect()
    }
}

/// A step loop run fused, step after step.
pub(crate) struct StepsPlan<'a> {
    pub stmt: usize,
    pub state: &'a Ident,
    pub tpat: &'a Pat,
    pub trange: &'a Expr,
    pub ipat: &'a Pat,
    pub irange: &'a Expr,
    /// The elements pushed before the inner loop, one iteration's, and
    /// those pushed after it.
    pub before: Vec<Element<'a>>,
    pub inner: Element<'a>,
    pub after: Vec<Element<'a>>,
    /// The smallest and largest offset of the inner loop's reads.
    pub reach: Option<(i64, i64)>,
    /// The index expressions of the reads outside the inner loop.
    pub fixed: Vec<&'a Expr>,
    pub span: proc_macro2::Span,
}

/// The step loops among the top-level statements that run fused.
pub(crate) fn steps_plans(g: &Graph) -> Vec<StepsPlan<'_>> {
    g.stmts
        .iter()
        .enumerate()
        .filter_map(|(k, s)| steps_plan(g, k, s))
        .collect()
}

fn steps_plan<'a>(g: &'a Graph, stmt: usize, s: &'a Stmt) -> Option<StepsPlan<'a>> {
    let found = step_loop(stmt, s)?;
    found.reach?;
    let Stmt::For {
        label: None,
        pat: tpat,
        iter: trange,
        body,
        ..
    } = s
    else {
        return None;
    };
    let trange = super::lower::as_range(trange)?;
    let state = match body.last()? {
        Stmt::AssignVec { name, .. } => name,
        _ => return None,
    };
    let mut b = Builder {
        g,
        state,
        next: body.iter().find_map(|s| match s {
            Stmt::VecLocal { pat, .. } => pat_ident(pat),
            _ => None,
        })?,
        outer: Vec::new(),
        fixed: Vec::new(),
        reach: None,
    };
    super::parse::pat_idents(tpat, &mut b.outer);
    let (mut before, mut after, mut inner) = (Vec::new(), Vec::new(), None);
    for st in &body[1..body.len() - 1] {
        match st {
            Stmt::Push { value, .. } => {
                let e = b.element(&[], value, 1, None)?;
                match inner {
                    None => before.push(e),
                    Some(_) => after.push(e),
                }
            }
            Stmt::For {
                pat, iter, body, ..
            } => {
                let var = pat_ident(pat)?;
                let range = super::lower::as_range(iter)?;
                // A run of the inner loop's values reads contiguous cells
                // (`expand/steps.rs`): a range of step one, not `step_by`.
                if !matches!(strip_parens(range), Expr::Range(_)) {
                    return None;
                }
                // The inner range is evaluated once: the same every step.
                let ts = quote::quote!(#range);
                let mut names = b.outer.clone();
                names.push(state.clone());
                if names
                    .iter()
                    .any(|n| super::lower::tokens_mention(&ts, &n.to_string()))
                {
                    return None;
                }
                let (Stmt::Push { value, .. }, rest) = body.split_last()? else {
                    return None;
                };
                inner = Some((pat, range, b.element(rest, value, 2, Some(var))?));
            }
            _ => return None,
        }
    }
    let (ipat, irange, inner) = inner?;
    let plan = StepsPlan {
        stmt,
        state,
        tpat,
        trange,
        ipat,
        irange,
        before,
        inner,
        after,
        reach: b.reach,
        fixed: b.fixed,
        span: super::lower::span_of(trange),
    };
    plain_kept(g, stmt, &plan).then_some(plan)
}

/// The plain names the fused steps read stay borrowed until the graph
/// runs: nothing after the loop may change them.
fn plain_kept(g: &Graph, stmt: usize, p: &StepsPlan<'_>) -> bool {
    let mut free = Vec::new();
    let mut bound: Vec<String> = Vec::new();
    let mut names = Vec::new();
    super::parse::pat_idents(p.tpat, &mut names);
    super::parse::pat_idents(p.ipat, &mut names);
    bound.extend(names.iter().map(|n| n.to_string()));
    let mut add = |ts: TokenStream| super::lower::free_idents(&ts, &mut free);
    let irange = p.irange;
    add(quote::quote!(#irange));
    for e in p.before.iter().chain([&p.inner]).chain(&p.after) {
        for ev in &e.events {
            match ev {
                SEvent::Plain(ts) => {
                    add((*ts).clone());
                    super::lower::bound_names(ts, &mut bound);
                }
                SEvent::Link(l) => {
                    for a in &l.args {
                        if let SArg::Plain(x) = a {
                            add(quote::quote!(#x));
                        }
                    }
                }
            }
        }
    }
    free.retain(|f| !bound.contains(f));
    free.is_empty()
        || !g.stmts[stmt + 1..]
            .iter()
            .any(|s| super::lower::changes(s, &free, &[]))
}

struct Builder<'a> {
    g: &'a Graph,
    state: &'a Ident,
    next: &'a Ident,
    /// The step loop's own names (`t`): a boundary read may not use them.
    outer: Vec<Ident>,
    fixed: Vec<&'a Expr>,
    reach: Option<(i64, i64)>,
}

/// The values an element's events made so far, and the reads bound by
/// `let`s (`let l = cur[i - 1];`).
struct Names {
    locals: Vec<Ident>,
    reads: Vec<(Ident, Read)>,
    anon: usize,
}

impl<'a> Builder<'a> {
    /// One element: the statements before its push, then the pushed value;
    /// its tasks sit at loop depth `depth`, `var` is the inner loop's.
    fn element(
        &mut self,
        stmts: &'a [Stmt],
        value: &'a Value,
        depth: usize,
        var: Option<&Ident>,
    ) -> Option<Element<'a>> {
        let mut n = Names {
            locals: Vec::new(),
            reads: Vec::new(),
            anon: 0,
        };
        let mut events = Vec::new();
        let mut plain_locals = Vec::new();
        for st in stmts {
            match st {
                Stmt::Plain(ts) => {
                    if !super::lower::plain_is_local(ts, &plain_locals)
                        || jumps(ts)
                        || self.mentions_vectors(ts)
                    {
                        return None;
                    }
                    super::lower::bound_names(ts, &mut plain_locals);
                    events.push(SEvent::Plain(ts));
                }
                Stmt::Let {
                    mutability: None,
                    name,
                    ty,
                    value,
                    vec: false,
                } => match value {
                    Value::Call { fam, args } => {
                        self.call(
                            *fam,
                            args,
                            Some(name.clone()),
                            ty.as_ref(),
                            depth,
                            var,
                            &mut n,
                            &mut events,
                        )?;
                    }
                    v => {
                        let r = self.read(v, var, &n)?;
                        n.reads.push((name.clone(), r));
                    }
                },
                _ => return None,
            }
        }
        let value = self.arg(value, depth, var, &mut n, &mut events)?;
        let mut e = Element { events, value };
        mark_last(&mut e);
        Some(e)
    }

    /// Whether plain code names the state or the vector being built.
    fn mentions_vectors(&self, ts: &TokenStream) -> bool {
        [self.state, self.next]
            .iter()
            .any(|n| super::lower::tokens_mention(ts, &n.to_string()))
    }

    /// A read of the state (or a name bound to one).
    fn read(&mut self, v: &'a Value, var: Option<&Ident>, n: &Names) -> Option<Read> {
        match v {
            Value::Index {
                name,
                row: None,
                index,
                ..
            } if name == self.state => match var {
                Some(var) => {
                    let k = written_offset(index, var)?;
                    let (lo, hi) = self.reach.unwrap_or((k, k));
                    self.reach = Some((lo.min(k), hi.max(k)));
                    Some(Read::At(k))
                }
                None => {
                    let ts = quote::quote!(#index);
                    let mut names = self.outer.clone();
                    names.push(self.state.clone());
                    names.push(self.next.clone());
                    if names
                        .iter()
                        .any(|o| super::lower::tokens_mention(&ts, &o.to_string()))
                    {
                        return None;
                    }
                    self.fixed.push(index);
                    Some(Read::Fixed(self.fixed.len() - 1))
                }
            },
            Value::Var { name, .. } => n
                .reads
                .iter()
                .rev()
                .find(|(r, _)| r == name)
                .map(|(_, r)| *r),
            _ => None,
        }
    }

    fn arg(
        &mut self,
        v: &'a Value,
        depth: usize,
        var: Option<&Ident>,
        n: &mut Names,
        events: &mut Vec<SEvent<'a>>,
    ) -> Option<SArg<'a>> {
        match v {
            Value::Var { name, .. } if n.locals.contains(name) => Some(SArg::Local {
                name: name.clone(),
                last: false,
            }),
            Value::Call { fam, args } => {
                let name = self.call(*fam, args, None, None, depth, var, n, events)?;
                Some(SArg::Local { name, last: false })
            }
            v => self.read(v, var, n).map(SArg::Read),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        fam: FamId,
        args: &'a [Arg],
        name: Option<Ident>,
        ty: Option<&'a Type>,
        depth: usize,
        var: Option<&Ident>,
        n: &mut Names,
        events: &mut Vec<SEvent<'a>>,
    ) -> Option<Ident> {
        let f = &self.g.families[fam];
        if f.depth != depth || f.reduce || f.params.len() != args.len() {
            return None;
        }
        let mut out = Vec::new();
        for a in args {
            out.push(match a {
                // The fused steps own `cur`: plain code may not read it.
                Arg::Plain(e) if self.mentions_vectors(&quote::quote!(#e)) => return None,
                Arg::Plain(e) => SArg::Plain(e),
                Arg::Lazy(v) => self.arg(v, depth, var, n, events)?,
            });
        }
        let name = name.unwrap_or_else(|| {
            n.anon += 1;
            format_ident!("__tg_n{}", n.anon, span = f.span)
        });
        // A name bound again hides the read of the same name.
        n.reads.retain(|(r, _)| *r != name);
        n.locals.push(name.clone());
        events.push(SEvent::Link(SLink {
            name: name.clone(),
            ty,
            fam,
            args: out,
        }));
        Some(name)
    }
}

/// The offset `k` of an inner read's index written `var`, `var + k`,
/// `k + var` or `var - k` (in parentheses, or cast to `usize`): the index
/// is then its only intermediate value, which the fused form checks in
/// range before it runs. Another form of the same polynomial (`i - 2 + 1`)
/// may overflow on the way (`i - 2` at `i = 1`) where node by node then
/// panics or reports it: such a read has no reach, and the loop stays node
/// by node.
fn written_offset(e: &Expr, var: &Ident) -> Option<i64> {
    fn bare(e: &Expr) -> &Expr {
        match e {
            Expr::Paren(p) => bare(&p.expr),
            Expr::Group(g) => bare(&g.expr),
            e => e,
        }
    }
    fn outer(e: &Expr) -> &Expr {
        match bare(e) {
            Expr::Cast(c) if matches!(&*c.ty, Type::Path(t) if t.path.is_ident("usize")) => {
                outer(&c.expr)
            }
            e => e,
        }
    }
    let is_var =
        |e: &Expr| matches!(bare(e), Expr::Path(p) if p.qself.is_none() && p.path.is_ident(var));
    let lit = |e: &Expr| match bare(e) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i64>().ok(),
        _ => None,
    };
    match outer(e) {
        e if is_var(e) => Some(0),
        Expr::Binary(b) => match b.op {
            BinOp::Add(_) if is_var(&b.left) => lit(&b.right),
            BinOp::Add(_) if is_var(&b.right) => lit(&b.left),
            BinOp::Sub(_) if is_var(&b.left) => lit(&b.right)?.checked_neg(),
            _ => None,
        },
        _ => None,
    }
}

/// Sets `last` on every local use that no later one repeats.
fn mark_last(e: &mut Element<'_>) {
    let mut seen: Vec<Ident> = Vec::new();
    let mut mark = |a: &mut SArg<'_>| {
        if let SArg::Local { name, last } = a {
            *last = !seen.contains(name);
            seen.push(name.clone());
        }
    };
    mark(&mut e.value);
    for ev in e.events.iter_mut().rev() {
        if let SEvent::Link(l) = ev {
            for a in l.args.iter_mut().rev() {
                mark(a);
            }
        }
    }
}

fn strip_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Group(g) => strip_parens(&g.expr),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn poly(e: proc_macro2::TokenStream) -> Option<Poly> {
        Poly::of(&syn::parse2(e).unwrap())
    }

    fn loops(input: proc_macro2::TokenStream) -> Vec<StepLoop> {
        let cx = crate::diag::Ctxt::new();
        let stmts = super::super::parse::parse(input).unwrap();
        let end = proc_macro2::Span::call_site();
        let g = super::super::analyze::analyze(&stmts, end, &cx);
        let errors = cx.into_tokens().to_string();
        assert!(errors.is_empty(), "{errors}");
        step_loops(&g.expect("an analysed graph"))
    }

    #[test]
    fn index_expressions_are_polynomials() {
        let i = poly(quote!(i)).unwrap();
        assert_eq!(poly(quote!(i - 1)).unwrap().offset_from(&i), Some(-1));
        assert_eq!(
            poly(quote!((i + 2) as usize)).unwrap().offset_from(&i),
            Some(2)
        );
        assert_eq!(poly(quote!(1 + i - 1)).unwrap().offset_from(&i), Some(0));
        // The wavefront: the row above and the cell to the left.
        let at = poly(quote!(r * w + c)).unwrap();
        assert_eq!(
            poly(quote!((r - 1) * w + c)).unwrap().offset_from(&at),
            None
        );
        assert_eq!(
            poly(quote!((r - 1) * w + c)).unwrap(),
            at.add(&poly(quote!(-w)).unwrap()).unwrap()
        );
        assert_eq!(
            poly(quote!(w * r + c - 1)).unwrap().offset_from(&at),
            Some(-1)
        );
        // Not affine: no polynomial, or not the variable plus a constant.
        assert_eq!(poly(quote!((i + w - 1) % w)), None);
        assert_eq!(poly(quote!(idx[i])), None);
        assert_eq!(poly(quote!(2 * i)).unwrap().offset_from(&i), None);
        assert_eq!(poly(quote!(i - j)).unwrap().offset_from(&i), None);
        assert_eq!(poly(quote!(9223372036854775807 * 2)), None);
    }

    #[test]
    fn fused_reads_are_written_as_the_variable_plus_or_minus_a_constant() {
        let i = format_ident!("i");
        let at = |e: proc_macro2::TokenStream| written_offset(&syn::parse2(e).unwrap(), &i);
        assert_eq!(at(quote!(i)), Some(0));
        assert_eq!(at(quote!((i - 2))), Some(-2));
        assert_eq!(at(quote!(3 + i)), Some(3));
        assert_eq!(at(quote!((i + 1) as usize)), Some(1));
        // The same polynomials, with intermediates of their own.
        assert_eq!(at(quote!(i - 2 + 1)), None);
        assert_eq!(at(quote!(1 + i - 1)), None);
        assert_eq!(at(quote!((i as u8 + 1) as usize)), None);
        assert_eq!(at(quote!((i + 1) as u8)), None);
        assert_eq!(at(quote!(2 - i)), None);
    }

    #[test]
    fn the_stencil_reaches_one_cell_each_way() {
        let found = loops(quote! {
            let mut cur: Vec<_> = (0..w).map(|i| leaf(i)).collect();
            for t in 0..steps {
                let mut next = Vec::new();
                next.push(edge(cur[0]));
                for i in 1..w - 1 {
                    next.push(f(cur[i - 1], cur[i], cur[i + 1]));
                }
                next.push(edge(cur[w - 1]));
                cur = next;
            }
            cur
        });
        assert_eq!(
            found,
            vec![StepLoop {
                stmt: 1,
                state: "cur".into(),
                next: "next".into(),
                var: "i".into(),
                stride: 1,
                offsets: vec![Some(-1), Some(0), Some(1)],
                reach: Some(Reach { back: 1, ahead: 1 }),
                before: 1,
                after: 1,
                one_push: true,
            }]
        );
    }

    #[test]
    fn a_wider_stencil_through_lets_and_branches() {
        let found = loops(quote! {
            let mut cur: Vec<_> = (0..w).map(|i| leaf(i)).collect();
            for _ in 0..steps {
                let mut next = Vec::new();
                for i in 2..w - 3 {
                    let l = cur[i - 2];
                    let x = if i % 2 == 0 { cur[i + 3] } else { cur[i] };
                    next.push(add(l, x));
                }
                cur = next;
            }
            cur
        });
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offsets, vec![Some(-2), Some(3), Some(0)]);
        assert_eq!(found[0].reach, Some(Reach { back: 2, ahead: 3 }));
    }

    #[test]
    fn the_pairwise_tree_reaches_one_ahead_by_twos() {
        let found = loops(quote! {
            let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            while level.len() > 1 {
                let mut next = Vec::new();
                for i in (0..level.len()).step_by(2) {
                    if i + 1 < level.len() {
                        next.push(add(level[i], level[i + 1]));
                    } else {
                        next.push(level[i]);
                    }
                }
                level = next;
            }
            level[0]
        });
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].stride, 2);
        assert_eq!(found[0].offsets, vec![Some(0), Some(1), Some(0)]);
        assert_eq!(found[0].reach, Some(Reach { back: 0, ahead: 1 }));
        assert!(found[0].one_push);
        assert_eq!((found[0].before, found[0].after), (0, 0));
    }

    #[test]
    fn pushes_must_be_one_per_iteration_on_every_path() {
        let one_push = |body: proc_macro2::TokenStream| {
            let found = loops(quote! {
                let mut cur: Vec<_> = (0..w).map(|i| leaf(i)).collect();
                for _ in 0..steps {
                    let mut next = Vec::new();
                    for i in 1..w - 1 { #body }
                    cur = next;
                }
                cur
            });
            assert_eq!(found.len(), 1);
            found[0].one_push
        };
        assert!(one_push(quote!(next.push(inc(cur[i]));)));
        assert!(one_push(quote! {
            match i % 3 {
                0 => next.push(inc(cur[i])),
                _ => { let x = cur[i - 1]; next.push(x); }
            }
        }));
        assert!(!one_push(quote!(if i > 2 {
            next.push(inc(cur[i]));
        })));
        assert!(!one_push(
            quote!(next.push(inc(cur[i])); next.push(cur[i]);)
        ));
        assert!(!one_push(quote! {
            if i == 3 { continue; }
            next.push(inc(cur[i]));
        }));
    }

    #[test]
    fn the_wavefront_reads_the_row_above_and_the_cell_to_the_left() {
        let g = |input| {
            let cx = crate::diag::Ctxt::new();
            let stmts = super::super::parse::parse(input).unwrap();
            let g = super::super::analyze::analyze(&stmts, proc_macro2::Span::call_site(), &cx);
            assert!(cx.into_tokens().is_empty());
            wavefronts(&g.unwrap())
        };
        let found = g(quote! {
            let mut grid = Vec::new();
            for r in 0..n {
                for c in 0..w {
                    let cell = if r == 0 || c == 0 {
                        leaf((r * w + c) as u64)
                    } else {
                        add(grid[(r - 1) * w + c], grid[r * w + c - 1])
                    };
                    grid.push(cell);
                }
            }
            grid[n * w - 1]
        });
        assert_eq!(
            found,
            vec![Wavefront {
                stmt: 1,
                vec: "grid".into(),
                back: vec![Some((1, 0)), Some((0, 1))],
            }]
        );
        // A literal width; a diagonal; an index that is no cell.
        let found = g(quote! {
            let mut grid = Vec::new();
            for r in 0..n {
                for c in 0..8 {
                    let cell = if r < 2 || c == 0 {
                        leaf(c)
                    } else {
                        add(grid[(r - 1) * 8 + c - 1], grid[r * 8 + c - 16])
                    };
                    let far = if r > 0 { grid[(r * 8 + c) / 2] } else { cell };
                    grid.push(add(cell, far));
                }
            }
            grid[0]
        });
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].back, vec![Some((1, 1)), Some((2, 0)), None]);
    }

    #[test]
    fn a_ring_has_no_reach() {
        let found = loops(quote! {
            let mut cur: Vec<_> = (0..w).map(|i| leaf(i)).collect();
            for _ in 0..steps {
                let mut next = Vec::new();
                for i in 0..w {
                    let l = cur[(i + w - 1) % w];
                    next.push(add(l, cur[i]));
                }
                cur = next;
            }
            cur
        });
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offsets, vec![None, Some(0)]);
        assert_eq!(found[0].reach, None);
    }

    #[test]
    fn other_loops_are_not_step_loops() {
        // The whole state read at once, a write to it, a second inner loop.
        for input in [
            quote! {
                let mut cur: Vec<_> = (0..w).map(|i| leaf(i)).collect();
                for _ in 0..steps {
                    let mut next = Vec::new();
                    for i in 0..w { next.push(total(cur)); }
                    cur = next;
                }
                cur
            },
            quote! {
                let mut cur: Vec<_> = (0..w).map(|i| leaf(i)).collect();
                for _ in 0..steps {
                    let mut next = Vec::new();
                    for i in 1..w { cur[i] = inc(cur[i - 1]); next.push(cur[i]); }
                    cur = next;
                }
                cur
            },
            quote! {
                let mut cur: Vec<_> = (0..w).map(|i| leaf(i)).collect();
                for _ in 0..steps {
                    let mut next = Vec::new();
                    for i in 0..w { next.push(inc(cur[i])); }
                    for i in 0..w { next.push(inc(cur[i])); }
                    cur = next;
                }
                cur
            },
        ] {
            assert_eq!(loops(input), Vec::new());
        }
    }
}
