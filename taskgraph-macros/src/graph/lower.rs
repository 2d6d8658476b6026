//! Lowering: how each part of the graph runs. Every call site is a task
//! family (node by node); a top-level loop whose iterations keep their
//! edges to themselves also gets a fused form, chosen at run time by
//! `RuntimeBuilder::fuse_loops`: its iterations run as blocks, each a chain
//! of tasks in order, with the pushes onto outer vectors as the loop's
//! output elements and a later `tree_reduce` over its one pushed vector
//! computed inside the blocks (also the pairwise `while` tree right after
//! it, which `whiletree.rs` writes as a `tree_reduce`).
//!
//! A loop is fused when
//!
//! - it is a top-level `for` over a range (`a..b`, `a..=b`, `(a..b).step_by(k)`)
//!   or `let v: Vec<_> = range.map(|pat| ..).collect();`;
//! - its body is plain statements that change nothing outside the body,
//!   task calls in a chain (each reads the one before; a call nested in an
//!   argument counts as the call before), pushes of those values onto
//!   vectors made before the loop (at most one per vector and iteration),
//!   and reads of lazy values made before the loop;
//! - or it is a loop-carried chain, `s = f(.., s, ..)` (calls nested in it
//!   allowed), with `s`'s value consumed by nothing else.
//!
//! Within an iteration the tasks depend on each other in sequence, so
//! running them in order on one thread loses no parallelism; iterations are
//! split over the pool by the runtime.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::format_ident;
use syn::{Expr, Ident, Pat, Type};

use super::ir::*;

/// A lazy argument of a link, or a plain one.
pub(crate) enum LinkArg<'a> {
    Plain(&'a Expr),
    /// A value of this iteration; `last`: its last use in the iteration.
    Local {
        name: Ident,
        last: bool,
    },
    /// A lazy value made before the loop (the loop holds it).
    Outer {
        name: Ident,
    },
}

/// One task of an iteration: `let name = fam(args);`.
pub(crate) struct Link<'a> {
    pub name: Ident,
    pub ty: Option<&'a Type>,
    pub fam: FamId,
    pub args: Vec<LinkArg<'a>>,
}

/// What an iteration does, in order.
pub(crate) enum Event<'a> {
    Plain(&'a TokenStream),
    Link(Link<'a>),
    /// `vec.push(name)`: element output `out` (an index into `Plan::outs`),
    /// or the reduction's leaf.
    Push {
        out: Out,
        name: Ident,
        last: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Out {
    Element(usize),
    Leaf,
}

/// A vector the loop pushes onto, kept as the loop's output elements.
pub(crate) struct ElementOut<'a> {
    pub vec: &'a Ident,
    pub var: VarId,
}

pub(crate) enum PlanKind<'a> {
    /// `for pat in range { .. }`.
    For,
    /// `let name: ty = range.map(|pat| ..).collect();`
    Collect {
        name: &'a Ident,
        ty: Option<&'a Type>,
    },
    /// `for pat in range { s = f(.., s, ..); }`
    Chain { var: &'a Ident },
}

/// The pairwise `while` tree (`whiletree.rs`) over a loop's vector, right
/// after the loop: fused, the loop leaves the vector holding the tree's one
/// value (nothing when it made no element) instead of the leaves, and the
/// tree's `if v.len() > 1` then finds nothing left to do.
pub(crate) struct WhileTree<'a> {
    pub vec: &'a Ident,
    /// An unguarded tree's check of the length, `unpaired(v.len(), name,
    /// at)`: made on the loop's length before the tree.
    pub check: Option<syn::ExprCall>,
}

/// The fused form of one top-level statement.
pub(crate) struct Plan<'a> {
    pub stmt: usize,
    pub kind: PlanKind<'a>,
    pub range: &'a Expr,
    pub pat: &'a Pat,
    /// A rectangular inner loop flattened into this one: its range and
    /// pattern (iteration `k` is `(k / inner_len, k % inner_len)`).
    pub inner: Option<(&'a Expr, &'a Pat)>,
    pub events: Vec<Event<'a>>,
    pub outs: Vec<ElementOut<'a>>,
    /// The `tree_reduce` family computed inside the blocks.
    pub reduce: Option<FamId>,
    /// The reduction is the pairwise `while` tree's, right after the loop.
    pub while_tree: Option<WhileTree<'a>>,
    pub held: Vec<Ident>,
    pub span: Span,
}

/// How the whole graph is lowered.
pub(crate) struct Lowering<'a> {
    pub plans: Vec<Plan<'a>>,
    /// Step loops fused step by step (`tiles.rs`).
    pub steps: Vec<super::tiles::StepsPlan<'a>>,
    /// Wavefronts fused in tiles (`wave.rs`).
    pub waves: Vec<super::wave::WavePlan<'a>>,
    pub passing: Passing,
}

impl Lowering<'_> {
    /// The step plan (and its number) of top-level statement `stmt`.
    pub(crate) fn steps_of(&self, stmt: usize) -> Option<(usize, &super::tiles::StepsPlan<'_>)> {
        self.steps.iter().enumerate().find(|(_, p)| p.stmt == stmt)
    }

    /// The wavefront plan (and its number) of top-level statement `stmt`.
    pub(crate) fn wave_of(&self, stmt: usize) -> Option<(usize, &super::wave::WavePlan<'_>)> {
        self.waves.iter().enumerate().find(|(_, p)| p.stmt == stmt)
    }

    pub(crate) fn plan_of(&self, stmt: usize) -> Option<(usize, &Plan<'_>)> {
        self.plans.iter().enumerate().find(|(_, p)| p.stmt == stmt)
    }

    /// The plan whose blocks compute the `tree_reduce` of family `fam`.
    pub(crate) fn absorbing(&self, fam: FamId) -> Option<usize> {
        self.plans.iter().position(|p| p.reduce == Some(fam))
    }
}

pub(crate) fn lower(g: &Graph) -> Lowering<'_> {
    let waves = super::wave::wave_plans(g);
    let mut plans = Vec::new();
    for (i, s) in g.stmts.iter().enumerate() {
        if waves.iter().any(|w| w.stmt == i) {
            continue;
        }
        if let Some(p) = plan_stmt(g, i, s) {
            plans.push(p);
        }
    }
    Lowering {
        plans,
        steps: super::tiles::steps_plans(g),
        waves,
        passing: passing(g),
    }
}

fn plan_stmt<'a>(g: &'a Graph, i: usize, s: &'a Stmt) -> Option<Plan<'a>> {
    match s {
        Stmt::For {
            label: None,
            pat,
            iter,
            body,
            ..
        } => {
            let range = as_range(iter)?;
            let span = span_of(iter);
            if let Some(p) = chain_plan(g, i, range, pat, body, span) {
                return Some(p);
            }
            // `for r in a { for c in b { .. } }` with `b` independent of `r`:
            // one loop over the pairs.
            let (inner, body) = match &body[..] {
                [Stmt::For {
                    label: None,
                    pat: ipat,
                    iter: iiter,
                    body: ibody,
                    ..
                }] => {
                    let irange = as_range(iiter)?;
                    let mut outer = Vec::new();
                    super::parse::pat_idents(pat, &mut outer);
                    let ts = quote::quote!(#irange);
                    if outer.iter().any(|o| tokens_mention(&ts, &o.to_string())) {
                        return None;
                    }
                    (Some((irange, ipat)), &ibody[..])
                }
                _ => (None, &body[..]),
            };
            let mut b = Body::new(g);
            for st in body {
                b.stmt(st)?;
            }
            let mut plan = b.finish(i, PlanKind::For, range, pat, span)?;
            plan.inner = inner;
            if let Some((f, alone, check)) = absorb(g, i, &plan) {
                plan.reduce = Some(f);
                plan.while_tree = check.map(|check| WhileTree {
                    vec: plan.outs[0].vec,
                    check,
                });
                leaf_from_push(&mut plan, alone);
            }
            pure_after(g, i, &plan).then_some(plan)
        }
        Stmt::Let {
            name,
            ty,
            value:
                Value::Collect {
                    recv,
                    pat,
                    stmts,
                    tail,
                    span,
                    ..
                },
            vec: true,
            ..
        } => {
            let range = as_range(recv)?;
            let mut b = Body::new(g);
            for st in stmts {
                b.stmt(st)?;
            }
            b.tail(tail, name)?;
            let mut plan = b.finish(
                i,
                PlanKind::Collect {
                    name,
                    ty: ty.as_ref(),
                },
                range,
                pat,
                *span,
            )?;
            if let Some((f, alone)) = reduce_of(g, i, name) {
                plan.reduce = Some(f);
                leaf_from_push(&mut plan, alone);
            } else if let Some((f, check)) =
                while_tree_of(g, i, name).filter(|_| plan.outs.len() == 1)
            {
                plan.reduce = Some(f);
                plan.while_tree = Some(WhileTree { vec: name, check });
                leaf_from_push(&mut plan, true);
            }
            pure_after(g, i, &plan).then_some(plan)
        }
        _ => None,
    }
}

pub(crate) fn span_of(e: &Expr) -> Span {
    use syn::spanned::Spanned;
    e.span()
}

/// `a..b`, `a..=b` or `(a..b).step_by(k)`.
pub(crate) fn as_range(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::Paren(p) => as_range(&p.expr).map(|_| e),
        Expr::Range(r) if r.start.is_some() && r.end.is_some() => Some(e),
        Expr::MethodCall(m) if m.method == "step_by" && m.args.len() == 1 => {
            match strip(&m.receiver) {
                Expr::Range(r)
                    if r.start.is_some()
                        && r.end.is_some()
                        && matches!(r.limits, syn::RangeLimits::HalfOpen(_)) =>
                {
                    Some(e)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip(&p.expr),
        Expr::Group(g) => strip(&g.expr),
        e => e,
    }
}

/// Builds an iteration's events.
struct Body<'a> {
    g: &'a Graph,
    events: Vec<Event<'a>>,
    outs: Vec<ElementOut<'a>>,
    held: Vec<Ident>,
    /// Lazy names of this iteration (links).
    locals: Vec<Ident>,
    /// Plain names bound in the body.
    plain_locals: Vec<String>,
    anon: usize,
    /// The last link, which the next one must read.
    last_link: Option<Ident>,
    links: usize,
}

impl<'a> Body<'a> {
    fn new(g: &'a Graph) -> Self {
        Body {
            g,
            events: Vec::new(),
            outs: Vec::new(),
            held: Vec::new(),
            locals: Vec::new(),
            plain_locals: Vec::new(),
            anon: 0,
            last_link: None,
            links: 0,
        }
    }

    fn stmt(&mut self, s: &'a Stmt) -> Option<()> {
        match s {
            Stmt::Plain(ts) => {
                if !plain_is_local(ts, &self.plain_locals) || jumps(ts) {
                    return None;
                }
                bound_names(ts, &mut self.plain_locals);
                self.events.push(Event::Plain(ts));
            }
            Stmt::Let {
                mutability: None,
                name,
                ty,
                value: Value::Call { fam, args },
                vec: false,
            } => {
                self.call(*fam, args, Some(name.clone()), ty.as_ref())?;
            }
            Stmt::Push {
                vec,
                var,
                method,
                value,
            } => {
                if method != "push" || self.g.vars[*var].depth != 0 {
                    return None;
                }
                if self.outs.iter().any(|o| o.var == *var) {
                    return None;
                }
                let name = match value {
                    Value::Var { name, .. } if self.locals.contains(name) => name.clone(),
                    Value::Call { fam, args } => self.call(*fam, args, None, None)?,
                    _ => return None,
                };
                self.outs.push(ElementOut { vec, var: *var });
                self.events.push(Event::Push {
                    out: Out::Element(self.outs.len() - 1),
                    name,
                    last: false,
                });
            }
            Stmt::Eval(Value::Call { fam, args }) => {
                self.call(*fam, args, None, None)?;
            }
            _ => return None,
        }
        Some(())
    }

    /// The value a `.map` closure ends with: the collected element.
    fn tail(&mut self, v: &'a Value, vec: &'a Ident) -> Option<()> {
        let name = match v {
            Value::Var { name, .. } if self.locals.contains(name) => name.clone(),
            Value::Call { fam, args } => self.call(*fam, args, None, None)?,
            _ => return None,
        };
        self.outs.push(ElementOut {
            vec,
            var: usize::MAX,
        });
        self.events.push(Event::Push {
            out: Out::Element(self.outs.len() - 1),
            name,
            last: false,
        });
        Some(())
    }

    /// Adds the links of one call (its nested calls first); returns the name
    /// its value is bound to.
    fn call(
        &mut self,
        fam: FamId,
        args: &'a [Arg],
        name: Option<Ident>,
        ty: Option<&'a Type>,
    ) -> Option<Ident> {
        if self.g.families[fam].params.len() != args.len() {
            return None;
        }
        let mut out = Vec::new();
        let mut reads_prev = false;
        let mut reads_local = false;
        for a in args {
            out.push(match a {
                Arg::Plain(e) => LinkArg::Plain(e),
                Arg::Lazy(Value::Var { name, use_ }) => {
                    if self.locals.contains(name) {
                        reads_local = true;
                        reads_prev |= self.last_link.as_ref() == Some(name);
                        LinkArg::Local {
                            name: name.clone(),
                            last: false,
                        }
                    } else {
                        let var = &self.g.vars[self.g.uses[*use_].var];
                        if var.kind != VarKind::Lazy || var.depth != 0 || var.assigned > 0 {
                            return None;
                        }
                        if !self.held.contains(name) {
                            self.held.push(name.clone());
                        }
                        LinkArg::Outer { name: name.clone() }
                    }
                }
                Arg::Lazy(Value::Call {
                    fam: inner,
                    args: inner_args,
                }) => {
                    let n = self.call(*inner, inner_args, None, None)?;
                    reads_local = true;
                    reads_prev |= self.last_link.as_ref() == Some(&n);
                    LinkArg::Local {
                        name: n,
                        last: false,
                    }
                }
                Arg::Lazy(_) => return None,
            });
        }
        // A chain: every task but the first reads the one before it.
        if self.links > 0 && !reads_prev {
            return None;
        }
        if self.links == 0 && reads_local {
            return None;
        }
        let name = name.unwrap_or_else(|| {
            self.anon += 1;
            format_ident!("__tg_n{}", self.anon, span = self.g.families[fam].span)
        });
        self.locals.push(name.clone());
        self.last_link = Some(name.clone());
        self.links += 1;
        self.events.push(Event::Link(Link {
            name: name.clone(),
            ty,
            fam,
            args: out,
        }));
        Some(name)
    }

    fn finish(
        mut self,
        stmt: usize,
        kind: PlanKind<'a>,
        range: &'a Expr,
        pat: &'a Pat,
        span: Span,
    ) -> Option<Plan<'a>> {
        if self.links == 0 {
            return None;
        }
        mark_last_uses(&mut self.events);
        Some(Plan {
            stmt,
            kind,
            range,
            pat,
            inner: None,
            events: self.events,
            outs: self.outs,
            reduce: None,
            while_tree: None,
            held: self.held,
            span,
        })
    }
}

/// Sets `last` on every local use that no later event repeats.
fn mark_last_uses(events: &mut [Event<'_>]) {
    let mut seen: Vec<Ident> = Vec::new();
    for e in events.iter_mut().rev() {
        match e {
            Event::Push { name, last, .. } => {
                *last = !seen.contains(name);
                seen.push(name.clone());
            }
            Event::Link(l) => {
                for a in l.args.iter_mut().rev() {
                    if let LinkArg::Local { name, last } = a {
                        *last = !seen.contains(name);
                        seen.push(name.clone());
                    }
                }
            }
            Event::Plain(_) => {}
        }
    }
}

/// `for pat in range { s = f(.., s, ..); }` with `s` consumed by nothing else.
fn chain_plan<'a>(
    g: &'a Graph,
    i: usize,
    range: &'a Expr,
    pat: &'a Pat,
    body: &'a [Stmt],
    span: Span,
) -> Option<Plan<'a>> {
    let [Stmt::Assign {
        name,
        value: Value::Call { fam, args },
    }] = body
    else {
        return None;
    };
    // Where `s` was made: a top-level `let mut s = <lazy>;` before the loop.
    let def = g.stmts[..i].iter().rev().find_map(|s| match s {
        Stmt::Let {
            mutability: Some(_),
            name: n,
            vec: false,
            ..
        } if n == name => Some(()),
        _ => None,
    });
    def?;
    // Its self-update: the only use of `s` in the step, and every node of
    // the chain has this one consumer.
    let mut self_use = None;
    visit_vars(args, &mut |n, u| {
        if n == name {
            self_use = Some(match self_use {
                None => Some(u),
                Some(_) => None,
            });
        }
    });
    let u = self_use.flatten()?;
    let var = &g.vars[g.uses[u].var];
    if !var.used_once(u, &g.uses) || var.assigned != 1 {
        return None;
    }
    let mut b = Body::new(g);
    b.locals.push(name.clone());
    b.last_link = Some(name.clone());
    b.links = 1;
    b.call(*fam, args, None, None)?;
    b.links -= 1;
    let mut plan = b.finish(i, PlanKind::Chain { var: name }, range, pat, span)?;
    plan.held.retain(|h| h != name);
    pure_after(g, i, &plan).then_some(plan)
}

fn visit_vars(args: &[Arg], f: &mut impl FnMut(&Ident, UseId)) {
    for a in args {
        match a {
            Arg::Lazy(Value::Var { name, use_ }) => f(name, *use_),
            Arg::Lazy(Value::Call { args, .. }) => visit_vars(args, f),
            _ => {}
        }
    }
}

/// The reduced vector's pushes become the leaf: moved when the vector has
/// no other reader (it is then not kept), else a clone (the elements are
/// kept for the others, who then read them alone).
fn leaf_from_push(plan: &mut Plan<'_>, alone: bool) {
    if alone {
        for e in &mut plan.events {
            if let Event::Push { out, .. } = e {
                if *out == Out::Element(0) {
                    *out = Out::Leaf;
                }
            }
        }
        plan.outs.clear();
        return;
    }
    let k = plan
        .events
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::Push {
                    out: Out::Element(0),
                    ..
                }
            )
        })
        .expect("the pushed vector");
    let Event::Push { name, .. } = &plan.events[k] else {
        unreachable!()
    };
    let leaf = Event::Push {
        out: Out::Leaf,
        name: name.clone(),
        last: false,
    };
    plan.events.insert(k, leaf);
    mark_last_uses(&mut plan.events);
}

/// The `tree_reduce` that the loop at `i` computes inside its blocks (and
/// whether the vector has no other reader, and, for the pairwise `while`
/// tree's, its check): its one pushed vector, declared empty before the
/// loop and filled only by it.
#[allow(clippy::type_complexity)]
fn absorb(
    g: &Graph,
    i: usize,
    plan: &Plan<'_>,
) -> Option<(FamId, bool, Option<Option<syn::ExprCall>>)> {
    if plan.outs.len() != 1 {
        return None;
    }
    let out = &plan.outs[0];
    let decl = g.stmts[..i]
        .iter()
        .position(|s| matches!(s, Stmt::VecLocal { var, .. } if *var == out.var))?;
    // Nothing between the declaration and the loop touches it.
    let name = out.vec.to_string();
    if g.stmts[decl + 1..i].iter().any(|s| mentions(s, &name)) {
        return None;
    }
    match reduce_of(g, i, out.vec) {
        Some((f, alone)) => Some((f, alone, None)),
        None => while_tree_of(g, i, out.vec).map(|(f, check)| (f, true, Some(check))),
    }
}

/// The pairwise `while` tree over `v` as `whiletree.rs` writes it, right
/// after statement `i`:
///
/// ```text
/// if v.len() > 1 {
///     let top = tree_reduce(v, f);
///     let mut next = Vec::new();
///     next.push(top);
///     v = next;
/// }
/// ```
///
/// (or, unguarded, with `unpaired(v.len(), name, at)?;` first): its
/// `tree_reduce` family and that check. Whatever the length, `v` is
/// afterwards what the loop that made it leaves when its blocks compute the
/// reduction and push its one value (none for no element: a one-element
/// `v` is its own reduction): so the loop computes it, `v`'s leaves are not
/// kept, and the `if` finds `v` of length at most 1. Nothing else reads `v`
/// in between, and after the `if` `v` is an ordinary vector.
fn while_tree_of(g: &Graph, i: usize, v: &Ident) -> Option<(FamId, Option<syn::ExprCall>)> {
    let Some(Stmt::If {
        cond,
        then,
        els: None,
    }) = g.stmts.get(i + 1)
    else {
        return None;
    };
    if !super::whiletree::is_len_above_one(cond, v) {
        return None;
    }
    let (check, then) = match &then[..] {
        [Stmt::Plain(ts), rest @ ..] => (Some(unpaired_check(ts, v)?), rest),
        rest => (None, rest),
    };
    let [Stmt::Let {
        name: top,
        value: Value::Reduce { fam, vec: reduced },
        vec: false,
        ..
    }, Stmt::VecLocal { pat, .. }, Stmt::Push {
        vec: next,
        method,
        value: Value::Var { name: pushed, .. },
        ..
    }, Stmt::AssignVec {
        name: assigned,
        value: Value::VecVar { name: from, .. },
    }] = then
    else {
        return None;
    };
    let reads_v = matches!(&**reduced, Value::VecVar { name, .. } if name == v);
    let made = matches!(pat, Pat::Ident(p) if p.ident == *next && p.subpat.is_none());
    let f = &g.families[*fam];
    (reads_v
        && made
        && method == "push"
        && pushed == top
        && assigned == v
        && from == next
        && next != v
        && f.reduce
        && f.depth == 0)
        .then_some((*fam, check))
}

/// `::taskdag::__private::WhileTree::unpaired(v.len(), name, at)?;`, the
/// check `whiletree.rs` puts before an unguarded tree: the call.
fn unpaired_check(ts: &TokenStream, v: &Ident) -> Option<syn::ExprCall> {
    let syn::Stmt::Expr(Expr::Try(t), Some(_)) = syn::parse2(ts.clone()).ok()? else {
        return None;
    };
    match &*t.expr {
        Expr::Call(call)
            if super::whiletree::is_unpaired(&t.expr)
                && super::whiletree::is_len_of(&call.args[0], v) =>
        {
            Some(call.clone())
        }
        _ => None,
    }
}

/// The family of the one top-level `tree_reduce(v, f)` after statement `i`,
/// if nothing after it adds to `v`, and whether `v` is mentioned nowhere
/// else.
fn reduce_of(g: &Graph, i: usize, v: &Ident) -> Option<(FamId, bool)> {
    let name = v.to_string();
    let mut found = None;
    let mut others = 0;
    let mut look = |val: &Value| {
        find_reduces(val, &name, &mut |f| {
            found = Some(match found {
                None => Some(f),
                Some(_) => None,
            })
        })
    };
    for s in &g.stmts[i + 1..] {
        match s {
            Stmt::Let { value, .. } | Stmt::Assign { value, .. } | Stmt::Eval(value) => {
                look(value);
                others += mentions_value_outside_reduce(value, &name);
            }
            Stmt::Push { value, vec, .. } => {
                look(value);
                others += mentions_value_outside_reduce(value, &name) + (vec == v) as usize;
            }
            s => others += mentions(s, &name) as usize,
        }
    }
    look(&g.tail);
    others += mentions_value_outside_reduce(&g.tail, &name);
    let grows = g.stmts[i + 1..].iter().any(|s| adds_to(s, &name));
    match found {
        Some(Some(f)) if g.families[f].depth == 0 && !grows => Some((f, others == 0)),
        _ => None,
    }
}

/// Whether a statement pushes onto (or otherwise changes) vector `name`.
fn adds_to(s: &Stmt, name: &str) -> bool {
    match s {
        Stmt::Push { vec, .. } | Stmt::SetIndex { name: vec, .. } => vec == name,
        Stmt::Plain(_) => changes(s, &[name.to_string()], &[]),
        Stmt::Assign { name: n, .. } | Stmt::AssignVec { name: n, .. } => n == name,
        s => s.children().into_iter().any(|s| adds_to(s, name)),
    }
}

fn find_reduces(v: &Value, name: &str, f: &mut impl FnMut(FamId)) {
    match v {
        Value::Reduce { fam, vec } => {
            if matches!(&**vec, Value::VecVar { name: n, .. } if n == name) {
                f(*fam)
            } else {
                find_reduces(vec, name, f)
            }
        }
        Value::Call { .. } | Value::Tuple(_) => {
            for v in v.parts().1 {
                find_reduces(v, name, f)
            }
        }
        _ => {}
    }
}

/// Mentions of `name` in a value other than as the vector of a `tree_reduce`.
fn mentions_value_outside_reduce(v: &Value, name: &str) -> usize {
    match v {
        Value::Reduce { vec, .. } => match &**vec {
            Value::VecVar { name: n, .. } if n == name => 0,
            v => mentions_value_outside_reduce(v, name),
        },
        v => {
            let (stmts, values, ts) = v.parts();
            v.var_name().is_some_and(|n| n == name) as usize
                + tokens_mention(&ts, name) as usize
                + stmts.into_iter().filter(|s| mentions(s, name)).count()
                + values
                    .into_iter()
                    .map(|v| mentions_value_outside_reduce(v, name))
                    .sum::<usize>()
        }
    }
}

/// Whether a statement mentions `name` anywhere.
fn mentions(s: &Stmt, name: &str) -> bool {
    let own = match s {
        Stmt::Let { name: n, .. }
        | Stmt::Assign { name: n, .. }
        | Stmt::AssignVec { name: n, .. }
        | Stmt::SetIndex { name: n, .. }
        | Stmt::Push { vec: n, .. } => n == name,
        _ => false,
    };
    own || tokens_mention(&s.plain_tokens(), name)
        || s.values()
            .into_iter()
            .any(|v| mentions_value_outside_reduce(v, name) > 0)
        || s.children().into_iter().any(|s| mentions(s, name))
}

pub(crate) fn tokens_mention(ts: &TokenStream, name: &str) -> bool {
    ts.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => tokens_mention(&g.stream(), name),
        TokenTree::Literal(l) => {
            // `format!("{name}")` captures by name.
            let s = l.to_string();
            s.starts_with('"') && s.contains(&format!("{{{name}"))
        }
        TokenTree::Punct(_) => false,
    })
}

/// Whether plain code may leave the loop body (`break`, `continue`,
/// `return`): a fused iteration is a closure, which they cannot leave.
pub(crate) fn jumps(ts: &TokenStream) -> bool {
    ts.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "break" || i == "continue" || i == "return",
        TokenTree::Group(g) => jumps(&g.stream()),
        _ => false,
    })
}

/// Plain code of a fused body may only change names it binds itself.
pub(crate) fn plain_is_local(ts: &TokenStream, locals: &[String]) -> bool {
    let Ok(stmts) = syn::parse::Parser::parse2(syn::Block::parse_within, ts.clone()) else {
        return false;
    };
    let mut v = Mutation {
        locals: locals.to_vec(),
        watch: None,
        found: false,
    };
    for s in &stmts {
        syn::visit::Visit::visit_stmt(&mut v, s);
    }
    !v.found
}

/// Adds the names a plain statement binds.
pub(crate) fn bound_names(ts: &TokenStream, out: &mut Vec<String>) {
    if let Ok(stmts) = syn::parse::Parser::parse2(syn::Block::parse_within, ts.clone()) {
        for s in &stmts {
            if let syn::Stmt::Local(l) = s {
                let mut names = Vec::new();
                super::parse::pat_idents(&l.pat, &mut names);
                out.extend(names.iter().map(|n| n.to_string()));
            }
        }
    }
}

/// Methods that only read their receiver.
const READ_ONLY: &[&str] = &[
    "len",
    "is_empty",
    "get",
    "iter",
    "contains",
    "contains_key",
    "clone",
    "as_str",
    "as_slice",
    "as_ref",
    "to_string",
    "to_owned",
    "first",
    "last",
    "keys",
    "values",
    "starts_with",
    "ends_with",
    "chars",
    "bytes",
    "lines",
    "split",
    "trim",
    "min",
    "max",
    "abs",
    "pow",
    "sqrt",
    "powi",
    "powf",
    "sin",
    "cos",
    "exp",
    "ln",
    "floor",
    "ceil",
    "round",
    "wrapping_add",
    "wrapping_mul",
    "wrapping_sub",
    "checked_add",
    "checked_sub",
    "checked_mul",
    "saturating_sub",
    "saturating_add",
    "count_ones",
    "leading_zeros",
    "trailing_zeros",
    "rotate_left",
    "rotate_right",
    "to_vec",
    "copied",
    "cloned",
    "windows",
    "chunks",
    "map",
    "unwrap",
    "expect",
    "eq",
    "cmp",
    "partial_cmp",
    "hash",
    "borrow",
    "deref",
    "into_iter",
    "step_by",
    "rev",
    "zip",
    "enumerate",
    "sum",
    "product",
    "collect",
    "filter",
    "fold",
    "any",
    "all",
    "position",
    "find",
    "skip",
    "take",
];

/// Finds a change (an assignment, `&mut`, or a method that may take
/// `&mut self`) of a name not bound in the checked code, or, with `watch`,
/// of one of those names.
struct Mutation {
    locals: Vec<String>,
    watch: Option<Vec<String>>,
    found: bool,
}

impl Mutation {
    fn outer(&self, e: &Expr) -> bool {
        super::parse::place_root(e).is_some_and(|i| {
            let n = i.to_string();
            !self.locals.contains(&n) && self.watch.as_ref().is_none_or(|w| w.contains(&n))
        })
    }
}

impl<'ast> syn::visit::Visit<'ast> for Mutation {
    fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
        self.found |= self.outer(&a.left);
        syn::visit::visit_expr_assign(self, a);
    }
    fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
        use syn::BinOp::*;
        if matches!(
            b.op,
            AddAssign(_)
                | SubAssign(_)
                | MulAssign(_)
                | DivAssign(_)
                | RemAssign(_)
                | BitXorAssign(_)
                | BitAndAssign(_)
                | BitOrAssign(_)
                | ShlAssign(_)
                | ShrAssign(_)
        ) {
            self.found |= self.outer(&b.left);
        }
        syn::visit::visit_expr_binary(self, b);
    }
    fn visit_expr_reference(&mut self, r: &'ast syn::ExprReference) {
        if r.mutability.is_some() {
            self.found |= self.outer(&r.expr);
        }
        syn::visit::visit_expr_reference(self, r);
    }
    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        if !READ_ONLY.contains(&m.method.to_string().as_str()) && self.outer(&m.receiver) {
            self.found = true;
        }
        syn::visit::visit_expr_method_call(self, m);
    }
    fn visit_local(&mut self, l: &'ast syn::Local) {
        syn::visit::visit_local(self, l);
        let mut names = Vec::new();
        super::parse::pat_idents(&l.pat, &mut names);
        self.locals.extend(names.iter().map(|n| n.to_string()));
    }
    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        let n = self.locals.len();
        for p in &c.inputs {
            let mut names = Vec::new();
            super::parse::pat_idents(p, &mut names);
            self.locals.extend(names.iter().map(|n| n.to_string()));
        }
        syn::visit::visit_expr_closure(self, c);
        self.locals.truncate(n);
    }
    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        let n = self.locals.len();
        let mut names = Vec::new();
        super::parse::pat_idents(&f.pat, &mut names);
        self.locals.extend(names.iter().map(|n| n.to_string()));
        syn::visit::visit_expr_for_loop(self, f);
        self.locals.truncate(n);
    }
}

/// The plain names a fused body reads stay borrowed until the graph runs:
/// code after the loop must not change them.
fn pure_after(g: &Graph, i: usize, plan: &Plan<'_>) -> bool {
    let mut free = Vec::new();
    let mut bound: Vec<String> = Vec::new();
    let mut names = Vec::new();
    super::parse::pat_idents(plan.pat, &mut names);
    bound.extend(names.iter().map(|n| n.to_string()));
    for e in &plan.events {
        match e {
            Event::Plain(ts) => {
                free_idents(ts, &mut free);
                bound_names(ts, &mut bound);
            }
            Event::Link(l) => {
                for a in &l.args {
                    if let LinkArg::Plain(e) = a {
                        free_idents(&quote::quote!(#e), &mut free);
                    }
                }
            }
            Event::Push { .. } => {}
        }
    }
    free.retain(|f| !bound.contains(f));
    if free.is_empty() {
        return true;
    }
    let locals: Vec<String> = Vec::new();
    for s in &g.stmts[i + 1..] {
        if changes(s, &free, &locals) {
            return false;
        }
    }
    true
}

/// Names that look like variables in plain tokens (not methods, fields,
/// macros or path segments).
pub(crate) fn free_idents(ts: &TokenStream, out: &mut Vec<String>) {
    let toks: Vec<TokenTree> = ts.clone().into_iter().collect();
    for (k, t) in toks.iter().enumerate() {
        match t {
            TokenTree::Ident(i) => {
                let s = i.to_string();
                let prev_dot = k > 0
                    && matches!(&toks[k - 1], TokenTree::Punct(p) if p.as_char() == '.' || p.as_char() == ':');
                let next_bang = matches!(toks.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!' || p.as_char() == ':');
                if !prev_dot && !next_bang && super::parse::starts_lower(i) && !is_keyword(&s) {
                    out.push(s);
                }
            }
            TokenTree::Group(g) => free_idents(&g.stream(), out),
            _ => {}
        }
    }
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "let"
            | "mut"
            | "if"
            | "else"
            | "for"
            | "in"
            | "while"
            | "loop"
            | "match"
            | "return"
            | "break"
            | "continue"
            | "as"
            | "ref"
            | "move"
            | "true"
            | "false"
            | "self"
            | "fn"
            | "struct"
            | "enum"
            | "use"
            | "mod"
            | "pub"
            | "impl"
            | "where"
            | "unsafe"
            | "const"
            | "static"
            | "type"
            | "crate"
            | "super"
            | "dyn"
    )
}

/// Whether statement `s` may change (assign, `&mut`, mutate through a
/// method) one of `names`.
pub(crate) fn changes(s: &Stmt, names: &[String], locals: &[String]) -> bool {
    let check = |ts: &TokenStream| {
        let Ok(stmts) = syn::parse::Parser::parse2(syn::Block::parse_within, ts.clone()) else {
            return true;
        };
        let mut v = Mutation {
            locals: locals.to_vec(),
            watch: Some(names.to_vec()),
            found: false,
        };
        for st in &stmts {
            syn::visit::Visit::visit_stmt(&mut v, st);
        }
        v.found
    };
    let cond = match s {
        Stmt::Plain(ts) => return check(ts),
        Stmt::If { cond, .. } | Stmt::While { cond, .. } => check(&quote::quote!(#cond;)),
        Stmt::Match { expr, .. } => check(&quote::quote!(#expr;)),
        _ => false,
    };
    cond || s.children().into_iter().any(|s| changes(s, names, locals))
}

// ---------------------------------------------------------------------------
// How each lazy argument is passed: the one move-or-share rule.

/// How a lazy argument reaches its task, decided at compile time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pass {
    /// The value's only consumer: moved, no count.
    Once,
    /// One of consumers that run one after another, not the last: cloned
    /// (or borrowed) without touching the count.
    Peek,
    /// The last of such consumers: moved.
    Last,
}

/// The passing of every use (`None`: consumers in no known order, moved by
/// the last and cloned by the others, counted at run time), and per family the inputs implied by others
/// (an input whose producer is an ancestor of another input's: the node
/// need not wait for it separately).
pub(crate) struct Passing {
    pub by_use: Vec<Option<Pass>>,
    pub implied: Vec<u32>,
}

/// Finds, for each lazy variable whose consumers all sit in its own block
/// and run one after another (each reads, directly or not, the one before),
/// the static passing: the earlier consumers peek, the last one takes, and
/// the later consumers' edges from the variable are implied.
pub(crate) fn passing(g: &Graph) -> Passing {
    // reads[f]: the families whose outputs family `f` reads directly.
    let mut reads: Vec<Vec<FamId>> = vec![Vec::new(); g.families.len()];
    fn walk_value(g: &Graph, v: &Value, reads: &mut [Vec<FamId>]) {
        if let Value::Call { fam, args } = v {
            for a in args {
                match a {
                    Arg::Lazy(Value::Call { fam: inner, .. }) => reads[*fam].push(*inner),
                    Arg::Lazy(Value::Var { use_, .. }) => {
                        let var = &g.vars[g.uses[*use_].var];
                        if let (0, false, Some(p)) = (var.assigned, var.aliased, var.producer) {
                            reads[*fam].push(p);
                        }
                    }
                    _ => {}
                }
            }
        }
        let (stmts, values, _) = v.parts();
        for s in stmts {
            walk_stmt(g, s, reads);
        }
        for v in values {
            walk_value(g, v, reads);
        }
    }
    fn walk_stmt(g: &Graph, s: &Stmt, reads: &mut [Vec<FamId>]) {
        for v in s.values() {
            walk_value(g, v, reads);
        }
        for c in s.children() {
            walk_stmt(g, c, reads);
        }
    }
    for s in &g.stmts {
        walk_stmt(g, s, &mut reads);
    }
    walk_value(g, &g.tail, &mut reads);

    // Whether `b` reads `a`'s output, directly or not, within `a`'s block.
    let descends = |b: FamId, a: FamId| -> bool {
        let block = g.families[a].block;
        let mut stack = vec![b];
        let mut seen = vec![false; g.families.len()];
        while let Some(f) = stack.pop() {
            for &p in &reads[f] {
                if p == a {
                    return true;
                }
                if !seen[p] && g.families[p].block == block {
                    seen[p] = true;
                    stack.push(p);
                }
            }
        }
        false
    };

    let mut by_use = vec![None; g.uses.len()];
    let mut implied = vec![0u32; g.families.len()];
    for var in &g.vars {
        if var.kind != VarKind::Lazy
            || var.assigned > 0
            || var.aliased
            || var.producer.is_none()
            || g.jumps.get(var.block).copied().unwrap_or(true)
        {
            // Consumers in no known order, or a block a `break` or
            // `continue` may leave before every consumer is made.
            continue;
        }
        let mut consumers: Vec<(FamId, usize, UseId)> = Vec::new();
        let mut ok = !var.use_ids.is_empty();
        for &u in &var.use_ids {
            let use_ = &g.uses[u];
            match use_.consumer {
                Some((f, k))
                    if use_.block == var.block
                        && !use_.tail
                        && g.families[f].block == var.block
                        && !consumers.iter().any(|c| c.0 == f) =>
                {
                    consumers.push((f, k, u))
                }
                _ => ok = false,
            }
        }
        if !ok {
            continue;
        }
        // Order by how many of the others each descends from; a chain has
        // 0, 1, 2, ... and each descends from the one before.
        let fams: Vec<FamId> = consumers.iter().map(|c| c.0).collect();
        consumers.sort_by_key(|c| {
            fams.iter()
                .filter(|&&d| d != c.0 && descends(c.0, d))
                .count()
        });
        let chain = consumers.windows(2).all(|w| descends(w[1].0, w[0].0));
        if !chain {
            continue;
        }
        let n = consumers.len();
        for (i, &(f, k, u)) in consumers.iter().enumerate() {
            by_use[u] = Some(match (n, i + 1 == n) {
                (1, _) => Pass::Once,
                (_, true) => Pass::Last,
                _ => Pass::Peek,
            });
            if i > 0 {
                // Position `k` among the call's lazy arguments.
                let slot = g.families[f].params[..k]
                    .iter()
                    .filter(|p| matches!(p.kind, ParamKind::Lazy { .. }))
                    .count();
                implied[f] |= 1 << slot;
            }
        }
    }
    Passing { by_use, implied }
}
