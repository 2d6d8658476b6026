//! Wavefronts fused in tiles: which ones the macro can prove safe.
//!
//! A wavefront fills a vector declared empty just before it, row after row
//! (`tiles.rs` reads its index expressions as polynomials):
//!
//! ```text
//! let mut grid = Vec::new();
//! for r in 0..rows {
//!     for c in 0..w {
//!         let cell = if r == 0 || c == 0 {
//!             leaf(r, c)
//!         } else {
//!             add(grid[(r - 1) * w + c], grid[r * w + c - 1])
//!         };
//!         grid.push(cell);
//!     }
//! }
//! ```
//!
//! It runs fused (`Loop::wave` in the runtime: tiles of rows × columns, each
//! waiting for the tile above and the tile to its left) when every read of
//! the grid is *above and to the left* of the cell being made: `up` rows
//! and `left` columns back with `up, left >= 0`, not both 0, and the
//! conditions of the `if`s around the read guarantee `r >= up` and
//! `c >= left`, so that the index as written is that cell
//! (`grid[r * w + c - 1]` at `c = 0` is the end of the row above: not to
//! the left). The
//! conditions are read as bounds: `r == 0 || c == 0` false gives `r >= 1`
//! and `c >= 1`; `r > 1 && c >= 2` true gives `r >= 2`, `c >= 2`; anything
//! else gives nothing. The cell's body may hold `let`s of task calls,
//! reads and `if` expressions, plain local code, and the one push at its
//! end; anything else (a `match`, a read of another lazy value, a read to
//! the right in the row above) runs node by node.

use proc_macro2::TokenStream;
use syn::{BinOp, Expr, Ident, Lit, Pat, UnOp};

use super::ir::*;
use super::tiles::{jumps, pat_ident, rows_and_columns, Poly};

/// A wavefront run fused.
pub(crate) struct WavePlan<'a> {
    /// The top-level `for` over rows.
    pub stmt: usize,
    pub grid: &'a Ident,
    pub rpat: &'a Pat,
    pub rrange: &'a Expr,
    pub cpat: &'a Pat,
    pub crange: &'a Expr,
    /// The statements of one cell, the push last.
    pub cells: &'a [Stmt],
    /// The cell's position `r * w + c`, and the width `w`, as polynomials.
    at: Poly,
    width: Poly,
    /// The families the cells call.
    pub fams: Vec<FamId>,
    pub span: proc_macro2::Span,
}

impl WavePlan<'_> {
    /// How many rows up and columns left of the cell a read `grid[index]`
    /// is (checked by the plan: both at least 0, not both 0).
    pub(crate) fn back(&self, index: &Expr) -> (u64, u64) {
        let d = Poly::of(index)
            .and_then(|p| self.at.add(&p.scale(-1)?))
            .and_then(|d| rows_and_columns(&d, &self.width))
            .expect("a read the plan checked");
        (d.0 as u64, d.1 as u64)
    }
}

impl WavePlan<'_> {
    /// The tasks each cell runs, as observers count them: the call sites
    /// every cell runs (one task each, as node by node), and how many more
    /// tasks a cell runs at call sites an `if` chooses between, counted at
    /// the loop's own site (per `if`, its branch with the most calls).
    pub(crate) fn cell_tasks(&self) -> (Vec<FamId>, u32) {
        let mut each = Vec::new();
        let chosen = stmts_tasks(self.cells, &mut Some(&mut each));
        (each, chosen)
    }
}

/// The tasks of `stmts`: call sites run every time go to `each` (when
/// given); the count returned is of the calls inside `if`s.
fn stmts_tasks(stmts: &[Stmt], each: &mut Option<&mut Vec<FamId>>) -> u32 {
    let mut n = 0;
    for st in stmts {
        if let Stmt::Let { value, .. } | Stmt::Push { value, .. } = st {
            n += value_tasks(value, each);
        }
    }
    n
}

fn value_tasks(v: &Value, each: &mut Option<&mut Vec<FamId>>) -> u32 {
    match v {
        Value::Call { fam, args } => {
            let own = match each {
                Some(e) => {
                    e.push(*fam);
                    0
                }
                None => 1,
            };
            let inner: u32 = args
                .iter()
                .map(|a| match a {
                    Arg::Lazy(v) => value_tasks(v, each),
                    Arg::Plain(_) => 0,
                })
                .sum();
            own + inner
        }
        Value::If { then, els, .. } => {
            // Every call under an `if` counts (the branch taken decides
            // the call site): the branch with the most.
            let br =
                |b: &Branch| stmts_tasks(&b.stmts, &mut None) + value_tasks(&b.tail, &mut None);
            br(then).max(br(els))
        }
        _ => 0,
    }
}

/// The wavefronts among the top-level statements that run fused.
pub(crate) fn wave_plans(g: &Graph) -> Vec<WavePlan<'_>> {
    (1..g.stmts.len()).filter_map(|k| wave_plan(g, k)).collect()
}

fn wave_plan(g: &Graph, stmt: usize) -> Option<WavePlan<'_>> {
    let Stmt::VecLocal { pat, .. } = &g.stmts[stmt - 1] else {
        return None;
    };
    let grid = pat_ident(pat)?;
    let Stmt::For {
        label: None,
        pat: rpat,
        iter: rrange,
        body,
        ..
    } = &g.stmts[stmt]
    else {
        return None;
    };
    let [Stmt::For {
        label: None,
        pat: cpat,
        iter: crange,
        body: cells,
        ..
    }] = &body[..]
    else {
        return None;
    };
    let (r, c) = (pat_ident(rpat)?, pat_ident(cpat)?);
    // Both ranges `0..end`: a cell's position is `r * end + c`.
    let end = |e: &Expr| match strip(e) {
        Expr::Range(rg) if matches!(rg.limits, syn::RangeLimits::HalfOpen(_)) => {
            match rg.start.as_deref().map(Poly::of) {
                Some(Some(p)) if p == Poly::default() => rg.end.as_deref().cloned(),
                _ => None,
            }
        }
        _ => None,
    };
    end(rrange)?;
    let cols = end(crange)?;
    if width_terms(&cols)? != 1 {
        return None;
    }
    let width = Poly::of(&cols)?;
    let at = Poly::name(r).mul(&width)?.add(&Poly::name(c))?;
    // The ranges are evaluated once: the columns' may not depend on the
    // row; neither reads the grid.
    let (rt, ct) = (quote::quote!(#rrange), quote::quote!(#crange));
    let mentions = super::lower::tokens_mention;
    if mentions(&ct, &r.to_string()) || [&rt, &ct].iter().any(|t| mentions(t, &grid.to_string())) {
        return None;
    }
    let (Stmt::Push { vec, .. }, _) = cells.split_last()? else {
        return None;
    };
    if vec != grid {
        return None;
    }
    let mut ck = Check {
        g,
        grid,
        r,
        c,
        at: &at,
        width: &width,
        // Names the width's polynomial uses may not be bound again.
        reserved: width
            .0
            .keys()
            .flatten()
            .cloned()
            .chain([r.to_string(), c.to_string(), grid.to_string()])
            .collect(),
        fams: Vec::new(),
        free: Vec::new(),
        bound: vec![r.to_string(), c.to_string()],
        reads: 0,
    };
    let cell_ok = ck.stmts(
        cells,
        Bounds::default(),
        &mut Vec::new(),
        &mut Vec::new(),
        true,
    );
    // A nest that reads none of its cells is an ordinary fused loop.
    if !cell_ok || ck.reads == 0 {
        return None;
    }
    // The fused cells borrow the plain names they read until the graph
    // runs: nothing after the loop may change them.
    let (mut free, bound, fams) = (ck.free, ck.bound, ck.fams);
    free.retain(|f| !bound.contains(f));
    if !free.is_empty()
        && g.stmts[stmt + 1..]
            .iter()
            .any(|s| super::lower::changes(s, &free, &[]))
    {
        return None;
    }
    Some(WavePlan {
        stmt,
        grid,
        rpat,
        rrange,
        cpat,
        crange,
        cells,
        at,
        width,
        fams,
        span: super::lower::span_of(rrange),
    })
}

/// Lower bounds on the row and the column where code runs.
#[derive(Clone, Copy, Default)]
struct Bounds {
    r: i64,
    c: i64,
}

impl Bounds {
    fn both(self, o: Bounds) -> Bounds {
        Bounds {
            r: self.r.max(o.r),
            c: self.c.max(o.c),
        }
    }
    fn either(self, o: Bounds) -> Bounds {
        Bounds {
            r: self.r.min(o.r),
            c: self.c.min(o.c),
        }
    }
}

struct Check<'a, 'g> {
    g: &'g Graph,
    grid: &'a Ident,
    r: &'a Ident,
    c: &'a Ident,
    at: &'a Poly,
    width: &'a Poly,
    reserved: Vec<String>,
    fams: Vec<FamId>,
    /// Names plain code in the cells reads, and names the cells bind.
    free: Vec<String>,
    bound: Vec<String>,
    /// Reads of the grid.
    reads: usize,
}

impl Check<'_, '_> {
    /// A statement list of a cell (`top`: the cell's own, the push last)
    /// or of a branch; `locals`: the lazy values bound so far, `plain`: the
    /// plain names.
    fn stmts(
        &mut self,
        stmts: &[Stmt],
        b: Bounds,
        locals: &mut Vec<Ident>,
        plain: &mut Vec<String>,
        top: bool,
    ) -> bool {
        for (k, st) in stmts.iter().enumerate() {
            let ok = match st {
                Stmt::Let {
                    mutability: None,
                    name,
                    value,
                    vec: false,
                    ..
                } => {
                    let ok =
                        !self.reserved.contains(&name.to_string()) && self.value(value, b, locals);
                    locals.push(name.clone());
                    self.bound.push(name.to_string());
                    ok
                }
                Stmt::Plain(ts) => {
                    let mut names = Vec::new();
                    super::lower::bound_names(ts, &mut names);
                    let ok = super::lower::plain_is_local(ts, plain)
                        && !jumps(ts)
                        && !self.mentions_grid(ts)
                        && !names.iter().any(|n| self.reserved.contains(n));
                    super::lower::free_idents(ts, &mut self.free);
                    plain.extend(names.iter().cloned());
                    self.bound.extend(names);
                    ok
                }
                Stmt::Push { vec, value, .. } => {
                    top && k + 1 == stmts.len() && vec == self.grid && self.value(value, b, locals)
                }
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn mentions_grid(&self, ts: &TokenStream) -> bool {
        super::lower::tokens_mention(ts, &self.grid.to_string())
    }

    fn plain(&mut self, e: &Expr) -> bool {
        let ts = quote::quote!(#e);
        super::lower::free_idents(&ts, &mut self.free);
        !self.mentions_grid(&ts)
    }

    fn value(&mut self, v: &Value, b: Bounds, locals: &[Ident]) -> bool {
        match v {
            Value::Call { fam, args } => {
                let f = &self.g.families[*fam];
                if f.depth != 2 || f.reduce || f.params.len() != args.len() {
                    return false;
                }
                self.fams.push(*fam);
                args.iter().all(|a| match a {
                    Arg::Plain(e) => self.plain(e),
                    Arg::Lazy(v) => self.value(v, b, locals),
                })
            }
            Value::Var { name, .. } => locals.contains(name),
            Value::Index {
                name,
                row: None,
                index,
                ..
            } if name == self.grid => {
                if !self.plain(index) {
                    return false;
                }
                self.reads += 1;
                let back = Poly::of(index)
                    .and_then(|p| self.at.add(&p.scale(-1)?))
                    .and_then(|d| rows_and_columns(&d, self.width));
                matches!(back, Some((up, left))
                    if up >= 0 && left >= 0 && (up, left) != (0, 0) && b.r >= up && b.c >= left)
            }
            Value::If { cond, then, els } => {
                if !self.plain(cond) {
                    return false;
                }
                let t = b.both(self.bounds(cond, true));
                let e = b.both(self.bounds(cond, false));
                self.branch(then, t, locals) && self.branch(els, e, locals)
            }
            _ => false,
        }
    }

    fn branch(&mut self, br: &Branch, b: Bounds, locals: &[Ident]) -> bool {
        let mut locals = locals.to_vec();
        self.stmts(&br.stmts, b, &mut locals, &mut Vec::new(), false)
            && self.value(&br.tail, b, &locals)
    }

    /// What `cond` being `truth` says about the row and the column.
    fn bounds(&self, cond: &Expr, truth: bool) -> Bounds {
        match strip(cond) {
            Expr::Unary(u) if matches!(u.op, UnOp::Not(_)) => self.bounds(&u.expr, !truth),
            Expr::Binary(x) if matches!(x.op, BinOp::Or(_) | BinOp::And(_)) => {
                let (l, r) = (self.bounds(&x.left, truth), self.bounds(&x.right, truth));
                // `a || b` true, `a && b` false: one of them holds.
                match matches!(x.op, BinOp::Or(_)) == truth {
                    true => l.either(r),
                    false => l.both(r),
                }
            }
            Expr::Binary(x) => {
                let (var, k, op) = match (
                    self.var(&x.left),
                    lit(&x.right),
                    self.var(&x.right),
                    lit(&x.left),
                ) {
                    (Some(v), Some(k), _, _) => (v, k, x.op),
                    // `k < v` is `v > k`.
                    (_, _, Some(v), Some(k)) => match mirror(x.op) {
                        Some(op) => (v, k, op),
                        None => return Bounds::default(),
                    },
                    _ => return Bounds::default(),
                };
                let nonzero = i64::from(k == 0);
                let lo = match (op, truth) {
                    (BinOp::Eq(_), true) | (BinOp::Ne(_), false) => k,
                    (BinOp::Eq(_), false) | (BinOp::Ne(_), true) => nonzero,
                    (BinOp::Lt(_), false) | (BinOp::Ge(_), true) => k,
                    (BinOp::Le(_), false) | (BinOp::Gt(_), true) => k.saturating_add(1),
                    _ => 0,
                };
                match var {
                    0 => Bounds { r: lo, c: 0 },
                    _ => Bounds { r: 0, c: lo },
                }
            }
            _ => Bounds::default(),
        }
    }

    /// 0 for the row variable, 1 for the column's.
    fn var(&self, e: &Expr) -> Option<u8> {
        match strip(e) {
            Expr::Path(p) if p.qself.is_none() && p.path.is_ident(self.r) => Some(0),
            Expr::Path(p) if p.qself.is_none() && p.path.is_ident(self.c) => Some(1),
            _ => None,
        }
    }
}

/// How many terms the width's polynomial has (a name or a literal: one).
fn width_terms(e: &Expr) -> Option<usize> {
    Poly::of(e).map(|p| p.0.len())
}

fn lit(e: &Expr) -> Option<i64> {
    match strip(e) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i64>().ok(),
        _ => None,
    }
}

/// `a op b` as `b op' a`.
fn mirror(op: BinOp) -> Option<BinOp> {
    use syn::token;
    Some(match op {
        BinOp::Eq(_) | BinOp::Ne(_) => op,
        BinOp::Lt(_) => BinOp::Gt(token::Gt::default()),
        BinOp::Le(_) => BinOp::Ge(token::Ge::default()),
        BinOp::Gt(_) => BinOp::Lt(token::Lt::default()),
        BinOp::Ge(_) => BinOp::Le(token::Le::default()),
        _ => return None,
    })
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip(&p.expr),
        Expr::Group(g) => strip(&g.expr),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    /// Whether the graph's wavefront runs fused.
    fn fused(input: proc_macro2::TokenStream) -> bool {
        let cx = crate::diag::Ctxt::new();
        let stmts = super::super::parse::parse(input).unwrap();
        let g = super::super::analyze::analyze(&stmts, proc_macro2::Span::call_site(), &cx);
        let errors = cx.into_tokens().to_string();
        assert!(errors.is_empty(), "{errors}");
        !super::wave_plans(&g.expect("an analysed graph")).is_empty()
    }

    /// The wavefront with `cell` as its cells' statements.
    fn wave(cell: proc_macro2::TokenStream) -> bool {
        fused(quote! {
            let mut grid = Vec::new();
            for r in 0..n {
                for c in 0..w {
                    #cell
                }
            }
            grid
        })
    }

    /// The fused wavefront's `cell_tasks`, by function name.
    fn cell_tasks(cell: proc_macro2::TokenStream) -> (Vec<String>, u32) {
        let input = quote! {
            let mut grid = Vec::new();
            for r in 0..n {
                for c in 0..w {
                    #cell
                }
            }
            grid
        };
        let cx = crate::diag::Ctxt::new();
        let stmts = super::super::parse::parse(input).unwrap();
        let g = super::super::analyze::analyze(&stmts, proc_macro2::Span::call_site(), &cx)
            .expect("an analysed graph");
        let plans = super::wave_plans(&g);
        let (each, chosen) = plans[0].cell_tasks();
        let names = each.iter().map(|&f| g.families[f].name.clone()).collect();
        (names, chosen)
    }

    #[test]
    fn a_cells_tasks_every_cell_runs_per_site_those_an_if_chooses_per_cell() {
        // Only chosen: one per cell.
        assert_eq!(
            cell_tasks(quote! {
                let cell = if r == 0 || c == 0 {
                    leaf(r, c)
                } else {
                    add(grid[(r - 1) * w + c], grid[r * w + c - 1])
                };
                grid.push(cell);
            }),
            (vec![], 1)
        );
        // Calls outside the `if` (one nested in another's arguments) count
        // per site; a branch of two calls against one of none counts two.
        assert_eq!(
            cell_tasks(quote! {
                let k = leaf(r, c);
                let x = if r > 0 && c > 0 {
                    let up = add(grid[(r - 1) * w + c], k);
                    add(up, grid[r * w + c - 1])
                } else {
                    k
                };
                grid.push(mix(x, leaf(c, r), k));
            }),
            (
                vec!["leaf".to_owned(), "mix".to_owned(), "leaf".to_owned()],
                2
            )
        );
    }

    #[test]
    fn reads_above_and_left_under_their_guards_are_fused() {
        assert!(wave(quote! {
            let cell = if r == 0 || c == 0 {
                leaf(r, c)
            } else {
                add(grid[(r - 1) * w + c], grid[r * w + c - 1])
            };
            grid.push(cell);
        }));
        // Conditions the other way round, negated, nested; a diagonal.
        assert!(wave(quote! {
            let x = if !(r >= 1) {
                leaf(r, c)
            } else if 0 < c {
                let up = grid[w * (r - 1) + c - 1];
                add(up, grid[(r - 1) * w + c])
            } else {
                inc(grid[(r - 1) * w + c])
            };
            grid.push(x);
        }));
        // Plain code and a literal width.
        assert!(fused(quote! {
            let mut grid = Vec::new();
            for r in 0..n {
                for c in 0..8 {
                    let k = r * 8 + c;
                    let cell = if r > 1 && c != 0 {
                        add(grid[(r - 2) * 8 + c], grid[r * 8 + c - 9])
                    } else {
                        leaf(k, c)
                    };
                    grid.push(cell);
                }
            }
            grid
        }));
    }

    #[test]
    fn reads_that_may_leave_the_cells_above_and_left_are_not() {
        for cell in [
            // No guard: `c - 1` at `c = 0` reads the end of the row above.
            quote! {
                let cell = if r == 0 { leaf(r, c) } else {
                    add(grid[(r - 1) * w + c], grid[r * w + c - 1])
                };
                grid.push(cell);
            },
            // A guard that says nothing (`||` with an unknown).
            quote! {
                let cell = if r > 0 && (c > 0 || ok(c)) {
                    add(grid[(r - 1) * w + c], grid[r * w + c - 1])
                } else { leaf(r, c) };
                grid.push(cell);
            },
            // Up and to the right.
            quote! {
                let cell = if r > 0 { inc(grid[(r - 1) * w + c + 1]) } else { leaf(r, c) };
                grid.push(cell);
            },
            // Not a constant distance.
            quote! {
                let cell = if r > 0 { inc(grid[(r - 1) * c]) } else { leaf(r, c) };
                grid.push(cell);
            },
            // The cell itself, and a read two rows up guarded by one.
            quote! {
                let cell = if r > 0 { inc(grid[r * w + c]) } else { leaf(r, c) };
                grid.push(cell);
            },
            quote! {
                let cell = if r > 0 { inc(grid[(r - 2) * w + c]) } else { leaf(r, c) };
                grid.push(cell);
            },
            // A `match`, a shadowed row, plain code that jumps.
            quote! {
                let cell = match r { 0 => leaf(r, c), _ => inc(grid[(r - 1) * w + c]) };
                grid.push(cell);
            },
            quote! {
                let r = r + 1;
                let cell = if r > 1 { inc(grid[(r - 1) * w + c]) } else { leaf(r, c) };
                grid.push(cell);
            },
            quote! {
                if c == 3 { continue; }
                let cell = if r > 0 { inc(grid[(r - 1) * w + c]) } else { leaf(r, c) };
                grid.push(cell);
            },
        ] {
            assert!(!wave(cell.clone()), "{cell}");
        }
        // No read of the grid: an ordinary nest (`lower.rs` fuses it).
        assert!(!wave(quote!(grid.push(leaf(r, c));)));
        // Columns that depend on the row (a triangle), a range not from 0.
        for (rows, cols) in [
            (quote!(0..n), quote!(0..r + 1)),
            (quote!(1..n), quote!(0..w)),
        ] {
            assert!(!fused(quote! {
                let mut grid = Vec::new();
                for r in #rows {
                    for c in #cols {
                        let cell = if r > 0 && c > 0 {
                            add(grid[(r - 1) * w + c], grid[r * w + c - 1])
                        } else { leaf(r, c) };
                        grid.push(cell);
                    }
                }
                grid
            }));
        }
    }
}
