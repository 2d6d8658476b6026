//! Names and meaning: which variables are lazy, which calls are tasks, how
//! many times each lazy value is read. Turns `syn` statements into the IR.

use proc_macro2::Span;
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, ExprCall, ExprClosure, Ident, Path};

use super::check::{self, error, error_spanned, unsupported, Ctx, Name, PlainCode};
use super::ir::*;
use super::parse;
use crate::diag::Ctxt;

mod control;
mod exprs;
mod iters;

enum Binding {
    Var(VarId),
    /// A plain name; `Some` for a top-level `let x = <plain>;`, which
    /// becomes a vector of lazy values read from its plain value if the
    /// graph later assigns one to `x` (see [`Promote`]).
    Plain(Option<Promote>),
    /// `let f = |a| g(a);` whose body computes lazy values: inlined where
    /// it is called (index into `Analyzer::closures`).
    Closure(usize),
}

/// A plain value read as a vector of lazy values (a `Source`) because the
/// graph assigns a vector of lazy values to its name: `let mut l = &zs;
/// while .. { l = next; }`, or `zs = next;` with `zs` captured. Found in
/// one pass of analysis and applied in the next.
#[derive(Clone, PartialEq, Eq)]
enum Promote {
    /// The `let` at this address of the (unchanging) syntax tree.
    Let(usize),
    /// A variable captured from outside `graph!`: read once at the top.
    Captured(String),
}

pub(crate) struct Analyzer {
    scopes: Vec<Vec<(String, Binding)>>,
    /// The current block (0: the graph's top level; each loop body its own).
    block: usize,
    blocks: usize,
    vars: Vec<Var>,
    uses: Vec<Use>,
    families: Vec<Family>,
    depth: usize,
    frames: Vec<Reserve>,
    in_tail: bool,
    /// `Vec::new()`s that received plain values: plain vectors for good.
    plain_vecs: Vec<VarId>,
    /// Enclosing loops of graph code (`for`, `while`, `loop`; not `.map`
    /// closures): where `break` and `continue` may go.
    loops: usize,
    /// Per block: whether a `break` or `continue` may leave it early.
    jumps: Vec<bool>,
    /// The blocks open at this point, outermost first.
    open: Vec<usize>,
    /// Hidden names made so far (destructured values).
    hidden: usize,
    /// Names a closure being looked at binds: plain while it is looked at.
    masked: std::cell::RefCell<Vec<String>>,
    /// A mistake dropped plain code: the graph is not expanded at all.
    unexpandable: bool,
    /// How many `Value::Source`s so far.
    sources: usize,
    /// Closures over lazy values, inlined where they are called.
    closures: Vec<ExprClosure>,
    /// Plain values this pass reads as vectors of lazy values.
    promoted: Vec<Promote>,
    /// Plain values found to need that: analysis starts again with them.
    promote: Vec<Promote>,
    /// Sources written `&h`, `h` captured: borrowed outside the graph.
    borrowed: Vec<(usize, Expr)>,
    /// Captured variables read as plain data (see `Graph::plain_reads`).
    plain_reads: Vec<Ident>,
    /// The analysed statements and final value.
    done: Option<(Vec<Stmt>, Value)>,
    pub errors: Vec<syn::Error>,
}

/// Analyses a whole `graph!` body, reporting mistakes to `cx`; `None` if
/// there were any. `end` is where a missing final expression is reported.
pub(crate) fn analyze(stmts_in: &[syn::Stmt], end: Span, cx: &Ctxt) -> Option<Graph> {
    let mut promoted = Vec::new();
    loop {
        let mut a = analyze_with(stmts_in, end, promoted.clone());
        // Each pass either finds nothing new or adds a name: this ends.
        let new: Vec<Promote> = a
            .promote
            .drain(..)
            .filter(|p| !promoted.contains(p))
            .collect();
        if new.is_empty() {
            return finish(a, cx);
        }
        for p in new {
            if !promoted.contains(&p) {
                promoted.push(p);
            }
        }
    }
}

fn analyze_with(stmts_in: &[syn::Stmt], end: Span, promoted: Vec<Promote>) -> Analyzer {
    let mut a = Analyzer {
        scopes: vec![Vec::new()],
        block: 0,
        blocks: 1,
        vars: Vec::new(),
        uses: Vec::new(),
        families: Vec::new(),
        depth: 0,
        frames: Vec::new(),
        in_tail: false,
        plain_vecs: Vec::new(),
        loops: 0,
        jumps: vec![false],
        open: vec![0],
        hidden: 0,
        masked: Default::default(),
        unexpandable: false,
        sources: 0,
        closures: Vec::new(),
        promoted,
        promote: Vec::new(),
        done: None,
        borrowed: Vec::new(),
        plain_reads: Vec::new(),
        errors: Vec::new(),
    };
    let mut top = Vec::new();
    for p in a.promoted.clone() {
        if let Promote::Captured(n) = p {
            a.captured_source(&Ident::new(&n, Span::call_site()), &mut top);
        }
    }
    let (stmts, tail) = a.block(stmts_in, true);
    top.extend(stmts);
    let stmts = top;
    let tail = match tail {
        Some(e) => {
            a.in_tail = true;
            a.tail(e)
        }
        None if ends_in_return(stmts_in) => Value::Error,
        None => {
            let span = stmts_end(end);
            a.errors.push(error(
                span,
                "`graph!` must end with an expression: the lazy value (or tuple or `Vec` of them) the graph computes",
                "end the graph with a value and no semicolon, e.g. `add(x, y)` or `(x, y)`",
            ));
            Value::Error
        }
    };
    a.done = Some((stmts, tail));
    a
}

fn finish(mut a: Analyzer, cx: &Ctxt) -> Option<Graph> {
    let (stmts, tail) = a.done.take().expect("an analysed graph");
    let failed = !a.errors.is_empty();
    cx.extend(a.errors);
    if failed && (a.unexpandable || !tail_is_usable(&tail)) {
        return None;
    }
    Some(Graph {
        stmts,
        tail,
        families: a.families,
        vars: a.vars,
        uses: a.uses,
        jumps: a.jumps,
        sources: a.sources,
        borrowed: a.borrowed,
        plain_reads: a.plain_reads,
    })
}

/// Whether a graph with mistakes can still be expanded for rustc to check
/// the rest: its final value must exist (so that its type is known).
fn tail_is_usable(tail: &Value) -> bool {
    match tail {
        Value::Error => false,
        Value::Tuple(vs) => vs.iter().all(tail_is_usable),
        _ => true,
    }
}

fn stmts_end(end: Span) -> Span {
    end
}

/// `...; return x;`: already reported, and the reason there is no final
/// expression.
fn ends_in_return(stmts: &[syn::Stmt]) -> bool {
    matches!(stmts.last(), Some(syn::Stmt::Expr(Expr::Return(_), _)))
}

impl Analyzer {
    fn lookup(&self, name: &Ident) -> Option<VarId> {
        let n = name.to_string();
        if self.masked.borrow().contains(&n) {
            return None;
        }
        for scope in self.scopes.iter().rev() {
            for (k, b) in scope.iter().rev() {
                if *k == n {
                    return match b {
                        Binding::Var(v) => Some(*v),
                        Binding::Plain(_) | Binding::Closure(_) => None,
                    };
                }
            }
        }
        None
    }

    fn kind_of(&self, name: &Ident) -> Option<VarKind> {
        self.lookup(name).map(|v| self.vars[v].kind)
    }

    /// What `name` refers to here: lazy, plain and bound inside the graph, or
    /// from outside it.
    fn name_of(&self, name: &Ident) -> Name {
        let n = name.to_string();
        if self.masked.borrow().contains(&n) {
            return Name::Inside;
        }
        for scope in self.scopes.iter().rev() {
            for (k, b) in scope.iter().rev() {
                if *k == n {
                    return match b {
                        Binding::Var(v) if self.plain_vecs.contains(v) => Name::Inside,
                        Binding::Var(v) => Name::Lazy(self.vars[*v].kind),
                        Binding::Plain(_) | Binding::Closure(_) => Name::Inside,
                    };
                }
            }
        }
        Name::Outside
    }

    fn bind(&mut self, name: &Ident, b: Binding) {
        self.scopes
            .last_mut()
            .expect("a scope")
            .push((name.to_string(), b));
    }

    fn bind_plain_pat(&mut self, pat: &syn::Pat) {
        let mut names = Vec::new();
        parse::pat_idents(pat, &mut names);
        for n in names {
            self.bind(&n, Binding::Plain(None));
        }
    }

    fn new_var(&mut self, kind: VarKind) -> VarId {
        self.vars.push(Var {
            kind,
            depth: self.depth,
            block: self.block,
            producer: None,
            refs: 0,
            aliased: false,
            assigned: 0,
            self_updates: Vec::new(),
            use_ids: Vec::new(),
            pushed: Vec::new(),
            borrowed_elems: false,
        });
        self.vars.len() - 1
    }

    fn use_var(&mut self, var: VarId) -> UseId {
        let id = self.uses.len();
        self.vars[var].refs += 1;
        self.vars[var].use_ids.push(id);
        self.uses.push(Use {
            var,
            depth: self.depth,
            block: self.block,
            tail: self.in_tail,
            consumer: None,
        });
        id
    }

    fn check_plain_expr(&mut self, e: &Expr) {
        self.check_plain_in(e, None);
    }

    /// Checks plain code; with `ctx`, every lazy variable in `e` is reported
    /// in that context. Returns how many errors were found.
    fn check_plain_in(&mut self, e: &Expr, ctx: Option<Ctx>) -> usize {
        use syn::visit::Visit;
        let (found, reads) = {
            let lookup = |i: &Ident| self.name_of(i);
            let mut v = PlainCode::new(&lookup).in_loops(self.loops);
            match ctx {
                Some(c) => v.expr_in(e, c),
                None => v.visit_expr(e),
            }
            (v.errors, v.reads)
        };
        let n = found.len();
        self.errors.extend(found);
        self.plain_reads(reads);
        n
    }

    /// Captured variables read as plain data: each checked once.
    fn plain_reads(&mut self, reads: Vec<Ident>) {
        for i in reads {
            if !self.plain_reads.contains(&i) {
                self.plain_reads.push(i);
            }
        }
    }

    fn check_plain_stmt(&mut self, s: &syn::Stmt) {
        use syn::visit::Visit;
        let (found, reads) = {
            let lookup = |i: &Ident| self.name_of(i);
            let mut v = PlainCode::new(&lookup).in_loops(self.loops);
            v.visit_stmt(s);
            (v.errors, v.reads)
        };
        self.errors.extend(found);
        self.plain_reads(reads);
    }

    /// A statement list; with `want_tail`, a final expression without a
    /// semicolon is returned separately.
    fn block<'s>(
        &mut self,
        stmts: &'s [syn::Stmt],
        want_tail: bool,
    ) -> (Vec<Stmt>, Option<&'s Expr>) {
        let mut out = Vec::new();
        let mut tail = None;
        for (i, s) in stmts.iter().enumerate() {
            let last = i + 1 == stmts.len();
            if let syn::Stmt::Expr(e, None) = s {
                if last && want_tail && !matches!(e, Expr::ForLoop(_)) {
                    tail = Some(e);
                    continue;
                }
            }
            self.stmt(s, &mut out);
        }
        (out, tail)
    }

    fn stmt(&mut self, s: &syn::Stmt, out: &mut Vec<Stmt>) {
        let (errors, len) = (self.errors.len(), out.len());
        self.stmt_inner(s, out);
        if self.errors.len() > errors {
            // A mistaken statement is not expanded (rustc would report it
            // again); a `let` keeps its name, bound to a placeholder.
            let kept: Vec<Stmt> = out
                .drain(len..)
                .filter_map(|st| match st {
                    Stmt::Let {
                        mutability,
                        name,
                        ty,
                        vec,
                        ..
                    } => Some(Stmt::Let {
                        mutability,
                        name,
                        ty,
                        value: Value::Error,
                        vec,
                    }),
                    v @ Stmt::VecLocal { .. } => Some(v),
                    Stmt::Plain(_) => {
                        // Plain code may bind names used later: without it
                        // the expansion would only add errors.
                        self.unexpandable = true;
                        None
                    }
                    _ => None,
                })
                .collect();
            out.extend(kept);
        }
    }

    fn stmt_inner(&mut self, s: &syn::Stmt, out: &mut Vec<Stmt>) {
        match s {
            syn::Stmt::Local(l) => self.local(l, s, out),
            syn::Stmt::Expr(e, _) => self.expr_stmt(e, s, out),
            syn::Stmt::Item(_) => out.push(Stmt::Plain(s.to_token_stream())),
            syn::Stmt::Macro(m) => {
                let e = Expr::Macro(syn::ExprMacro {
                    attrs: m.attrs.clone(),
                    mac: m.mac.clone(),
                });
                if self.mentions_lazy(&e) {
                    let v = self.expr_task(&e);
                    out.push(Stmt::Eval(v));
                } else {
                    self.check_plain_stmt(s);
                    out.push(Stmt::Plain(s.to_token_stream()));
                }
            }
        }
    }

    fn local(&mut self, l: &syn::Local, s: &syn::Stmt, out: &mut Vec<Stmt>) {
        if let (Some(init), Some((_, name, None))) = (&l.init, parse::simple_binding(&l.pat)) {
            if let (None, Expr::Closure(c)) = (&init.diverge, strip_paren(&init.expr)) {
                if c.asyncness.is_none() && self.closure_looks_lazy(c) {
                    // Ordinary code: inlined where it is called.
                    self.closures.push(c.clone());
                    self.bind(name, Binding::Closure(self.closures.len() - 1));
                    return;
                }
            }
        }
        let promote = Promote::Let(l as *const syn::Local as usize);
        if let (Some(init), Some((m, name, ty))) = (&l.init, parse::simple_binding(&l.pat)) {
            // (A promotion found in an earlier pass may have made the value
            // lazy already, `let l = &v[..];` with `v` promoted itself.)
            if init.diverge.is_none()
                && self.promoted.contains(&promote)
                && !self.looks_lazy(&init.expr)
            {
                let value = self.source(&init.expr);
                self.source_let(m, name, ty.cloned(), value, out);
                return;
            }
        }
        if let Some(init) = &l.init {
            if let (None, Some((m, name, ty))) = (&init.diverge, parse::simple_binding(&l.pat)) {
                if let Some(value) = self.value(&init.expr, false) {
                    let vec = self.is_vec_value(&value);
                    // An alias: both names read one node, so neither is "used once".
                    self.alias_tails(&value);
                    // `.map(|r| (..).map(..).collect()).collect()`: rows.
                    let rows =
                        matches!(&value, Value::Collect { tail, .. } if self.is_vec_value(tail));
                    let var = self.new_var(match (rows, vec) {
                        (true, _) => VarKind::Rows,
                        (false, true) => VarKind::LazyVec,
                        (false, false) => VarKind::Lazy,
                    });
                    if !matches!(
                        value,
                        Value::Call { .. } | Value::Reduce { .. } | Value::Collect { .. }
                    ) {
                        self.vars[var].aliased = true;
                    }
                    if vec && !matches!(value, Value::Collect { .. }) {
                        self.vars[var].borrowed_elems = true;
                    }
                    if let Value::Call { fam, .. } = &value {
                        self.vars[var].producer = Some(*fam);
                    }
                    if let Value::Collect { tail, .. } = &value {
                        match &**tail {
                            Value::Var { use_, .. } => {
                                let pushed = self.uses[*use_].var;
                                self.vars[var].pushed.push(pushed);
                            }
                            Value::Call { .. } | Value::Reduce { .. } | Value::Error => {}
                            _ => self.vars[var].borrowed_elems = true,
                        }
                    }
                    self.bind(name, Binding::Var(var));
                    out.push(Stmt::Let {
                        mutability: m,
                        name: name.clone(),
                        // `Vec<Vec<_>>`: the rows' type is the expansion's.
                        ty: if rows { None } else { ty.cloned() },
                        value,
                        vec,
                    });
                    return;
                }
                if parse::is_vec_new(&init.expr) {
                    self.check_plain_expr(&init.expr);
                    let var = self.new_var(VarKind::VecCandidate);
                    self.bind(name, Binding::Var(var));
                    let attrs = l.attrs.iter().map(|a| a.to_token_stream()).collect();
                    out.push(Stmt::VecLocal {
                        attrs,
                        pat: l.pat.clone(),
                        ty: ty.cloned(),
                        init: (*init.expr).clone(),
                        var,
                    });
                    return;
                }
            } else if init.diverge.is_none() && self.looks_lazy(&init.expr) {
                self.destructure(l, &init.expr, out);
                return;
            } else if self.looks_lazy(&init.expr) {
                self.errors.push(error_spanned(
                    &l.pat,
                    "a lazy value cannot be matched with `let .. else`: its parts exist only when the graph runs",
                    "bind it to a name and match it inside a `#[delayed]` function",
                ));
                self.bind_plain_pat(&l.pat);
                return;
            }
        }
        self.check_plain_stmt(s);
        match (&l.init, parse::simple_binding(&l.pat)) {
            (Some(init), Some((_, name, _)))
                if init.diverge.is_none() && self.depth == 0 && self.loops == 0 =>
            {
                self.bind(name, Binding::Plain(Some(promote)));
            }
            _ => self.bind_plain_pat(&l.pat),
        }
        out.push(Stmt::Plain(s.to_token_stream()));
    }

    /// `let name = <source>;`: a vector of lazy values read from a plain one.
    fn source_let(
        &mut self,
        m: Option<syn::Token![mut]>,
        name: &Ident,
        ty: Option<syn::Type>,
        value: Value,
        out: &mut Vec<Stmt>,
    ) {
        let var = self.new_var(VarKind::LazyVec);
        // Its elements may be read again (a `&Handle` is cloned from).
        self.vars[var].borrowed_elems = true;
        self.bind(name, Binding::Var(var));
        out.push(Stmt::Let {
            mutability: m,
            name: name.clone(),
            ty,
            value,
            vec: true,
        });
    }

    /// A captured variable the graph assigns a vector of lazy values to:
    /// read (moved) as one at the top, `let mut zs = <zs as lazy values>;`.
    fn captured_source(&mut self, name: &Ident, out: &mut Vec<Stmt>) {
        let e: Expr = syn::parse_quote!(#name);
        let value = self.source(&e);
        self.source_let(Some(Default::default()), name, None, value, out);
    }

    /// The promotion a plain name would take, if it is a candidate.
    fn promotion(&self, name: &Ident) -> Option<Promote> {
        let n = name.to_string();
        for scope in self.scopes.iter().rev() {
            for (k, b) in scope.iter().rev() {
                if *k == n {
                    return match b {
                        Binding::Plain(p) => p.clone(),
                        Binding::Var(_) | Binding::Closure(_) => None,
                    };
                }
            }
        }
        Some(Promote::Captured(n))
    }

    /// Whether `e` is, as written, a vector of lazy values.
    fn names_lazy_vec(&self, e: &Expr) -> bool {
        match strip_paren(e) {
            Expr::Reference(r) => self.names_lazy_vec(&r.expr),
            Expr::Index(i) => {
                matches!(&*i.index, Expr::Range(_))
                    && parse::as_ident(&i.expr).and_then(|n| self.kind_of(n))
                        == Some(VarKind::LazyVec)
            }
            e => {
                parse::as_ident(e).and_then(|n| self.kind_of(n)) == Some(VarKind::LazyVec)
                    || parse::as_map_collect(e).is_some_and(|(_, c)| self.closure_looks_lazy(c))
            }
        }
    }

    fn expr_stmt(&mut self, e: &Expr, s: &syn::Stmt, out: &mut Vec<Stmt>) {
        match e {
            Expr::ForLoop(f) => {
                let over = self.lazy_iter(&f.expr);
                match &over {
                    Some(src) => self.check_src(src),
                    None => {
                        self.check_plain_in(&f.expr, Some(Ctx::LoopBound));
                        // `for x in &v` / `for x in v`: `v` read as data.
                        let over = match strip_paren(&f.expr) {
                            Expr::Reference(r) => &*r.expr,
                            e => e,
                        };
                        let reads = {
                            let lookup = |i: &Ident| self.name_of(i);
                            let mut v = PlainCode::new(&lookup);
                            v.read_captured(over);
                            v.reads
                        };
                        self.plain_reads(reads);
                    }
                }
                if let Some(a) = f.attrs.first() {
                    self.errors.push(unsupported(
                        a.span(),
                        "an attribute on a `for` loop",
                        "remove the attribute",
                    ));
                }
                let saved = self.enter(true);
                let (pat, iter) = match &over {
                    Some(src) => (self.bind_src_pat(&f.pat, src), src.iter()),
                    None => {
                        self.bind_plain_pat(&f.pat);
                        ((*f.pat).clone(), (*f.expr).clone())
                    }
                };
                let (body, _) = self.block(&f.body.stmts, false);
                let reserve = self.leave(saved);
                out.push(Stmt::For {
                    label: f.label.clone(),
                    pat,
                    iter,
                    body,
                    depth: self.depth + 1,
                    reserve,
                });
            }
            Expr::While(w) => self.while_stmt(w, out),
            Expr::Loop(l) => self.loop_stmt(l, out),
            Expr::If(i) => self.if_stmt(i, out),
            Expr::Match(m) => self.match_stmt(m, out),
            Expr::Block(b) if b.label.is_none() => self.block_stmt(b, out),
            Expr::Break(_) | Expr::Continue(_) => {
                if self.loops > 0 {
                    self.jump();
                }
                self.check_plain_stmt(s);
                out.push(Stmt::Plain(s.to_token_stream()));
            }
            Expr::Binary(b) if compound_op(&b.op).is_some() && self.lazy_target(&b.left) => {
                let op = compound_op(&b.op).expect("a compound assignment");
                let (left, right) = (&b.left, &b.right);
                let a: syn::ExprAssign = syn::parse_quote_spanned! {b.span()=>
                    #left = #left #op (#right)
                };
                self.assign(&a, s, out);
            }
            Expr::Unsafe(u) => self.errors.push(unsupported(
                u.unsafe_token.span,
                "an `unsafe` block",
                "keep the `unsafe` code inside a `#[delayed]` function, or before `graph!`",
            )),
            Expr::Const(c) => self.errors.push(unsupported(
                c.const_token.span,
                "a `const` block",
                "compute the constant before `graph!`",
            )),
            Expr::Assign(a) => self.assign(a, s, out),
            Expr::MethodCall(m) if m.method == "push" && m.args.len() == 1 => self.push(m, s, out),
            _ => match self.value(e, false) {
                Some(v) => out.push(Stmt::Eval(v)),
                None => {
                    if let Expr::MethodCall(m) = e {
                        // `v.extend(..)`, `v.insert(..)`: a plain vector.
                        if let Some(var) = parse::as_ident(&m.receiver).and_then(|i| self.lookup(i))
                        {
                            self.plain_vec(var);
                        }
                    }
                    self.check_plain_stmt(s);
                    out.push(Stmt::Plain(s.to_token_stream()));
                }
            },
        }
    }

    fn assign(&mut self, a: &syn::ExprAssign, s: &syn::Stmt, out: &mut Vec<Stmt>) {
        if let Expr::Index(i) = strip_paren(&a.left) {
            if self.indexes_lazy_vec(&a.left) {
                self.set_index(i, &a.right, out);
                return;
            }
            // `v[i] = f(..);` on a plain value bound at the top (`let mut v
            // = &zs;`, or a captured `zs`): read as lazy values, next pass.
            if let Some(name) = parse::as_ident(&i.expr) {
                if !matches!(&*i.index, Expr::Range(_)) && self.looks_lazy(&a.right) {
                    if let Some(p) = self.promotion(name) {
                        if !self.promoted.contains(&p) && self.lookup(name).is_none() {
                            self.promote.push(p);
                            return;
                        }
                    }
                }
            }
        }
        let Some(name) = parse::as_ident(&a.left) else {
            self.check_plain_stmt(s);
            out.push(Stmt::Plain(s.to_token_stream()));
            return;
        };
        let first_use = self.uses.len();
        match self.name_of(name) {
            Name::Lazy(VarKind::Lazy) => {
                let var = self.lookup(name).expect("a lazy variable");
                match self.value(&a.right, false) {
                    Some(value) => {
                        self.vars[var].assigned += 1;
                        if let Value::Var { use_, .. } = &value {
                            let src = self.uses[*use_].var;
                            self.vars[src].aliased = true;
                            self.vars[var].aliased = true;
                        }
                        let own: Vec<UseId> = (first_use..self.uses.len())
                            .filter(|&u| self.uses[u].var == var)
                            .collect();
                        if let [only] = own[..] {
                            self.vars[var].self_updates.push(only);
                        }
                        out.push(Stmt::Assign {
                            name: name.clone(),
                            value,
                        });
                    }
                    None => {
                        self.check_plain_expr(&a.right);
                        self.errors.push(error_spanned(
                            &a.right,
                            format!("`{name}` holds a lazy value, so it can only be assigned another lazy value"),
                            format!("assign the result of a `#[delayed]` call, e.g. `{name} = step({name});`, or bind the plain value to a new name with `let`"),
                        ));
                    }
                }
            }
            Name::Lazy(VarKind::LazyVec) => {
                let var = self.lookup(name).expect("a lazy vector");
                match self.value(&a.right, true) {
                    Some(value) if self.is_vec_value(&value) => {
                        self.alias_tails(&value);
                        self.vars[var].aliased = true;
                        self.vars[var].borrowed_elems = true;
                        self.vars[var].assigned += 1;
                        out.push(Stmt::AssignVec {
                            name: name.clone(),
                            value,
                        });
                    }
                    Some(Value::Error) => {}
                    _ => self.errors.push(error_spanned(
                        &a.right,
                        format!("`{name}` is a vector of lazy values, so it can only be assigned another one"),
                        format!("assign a vector of lazy values, e.g. `{name} = next;`"),
                    )),
                }
            }
            Name::Lazy(VarKind::Rows) => {
                // `grid = next;`: rows for rows, a plain move of the `Vec`.
                let rhs = parse::as_ident(&a.right).and_then(|i| self.lookup(i).map(|v| (i, v)));
                match rhs {
                    Some((_, v)) if self.vars[v].kind == VarKind::Rows => {
                        let var = self.lookup(name).expect("rows");
                        let _ = self.use_var(v);
                        self.vars[var].assigned += 1;
                        out.push(Stmt::Plain(s.to_token_stream()));
                    }
                    _ => self.errors.push(error_spanned(
                        &a.right,
                        format!("`{name}` is a vector of vectors of lazy values, so it can only be assigned another one"),
                        format!("assign a variable that holds rows, e.g. `{name} = next;` after `next.push(row);`"),
                    )),
                }
            }
            Name::Outside | Name::Inside if self.names_lazy_vec(&a.right) => {
                match self.promotion(name) {
                    // Read as a vector of lazy values in the next pass.
                    Some(p) if !self.promoted.contains(&p) => self.promote.push(p),
                    _ => self.errors.push(error(
                        name.span(),
                        format!("`{name}` holds a plain value, so it cannot be assigned a vector of lazy values"),
                        format!("a value from outside the graph is read as lazy values once, at the top of `graph!`: move `let mut {name} = ...;` there, before any loop or block"),
                    )),
                }
            }
            Name::Outside if parse::starts_lower(name) => {
                self.errors.push(check::captured_mutation(name));
                self.check_plain_expr(&a.right);
            }
            Name::Inside if self.looks_lazy(&a.right) => {
                self.errors.push(error(
                    name.span(),
                    format!("`{name}` holds a plain value, so it cannot be assigned a lazy value"),
                    format!("bind the lazy value where it is computed: `let {name} = ...;`"),
                ));
            }
            _ => {
                self.check_plain_stmt(s);
                out.push(Stmt::Plain(s.to_token_stream()));
            }
        }
    }

    /// `v[index] = value;` on a vector of lazy values: an in-place update.
    fn set_index(&mut self, i: &syn::ExprIndex, right: &Expr, out: &mut Vec<Stmt>) {
        let (name, var, row) = match self.rows_index(&i.expr) {
            Some((name, var, row)) => (name, var, Some(row)),
            None => {
                let name = parse::as_ident(&i.expr).expect("an indexed vector");
                (name, self.lookup(name).expect("a lazy vector"), None)
            }
        };
        // The value first: `v[i] = f(v[i])` reads the element it replaces.
        let value = match self.value(right, false) {
            Some(v) if self.is_vec_value(&v) => {
                self.errors.push(error_spanned(
                    right,
                    format!(
                        "`{name}[..]` is one lazy value, so it cannot be assigned a vector of them"
                    ),
                    "assign one lazy value, e.g. `v[i] = f(v[i]);`",
                ));
                return;
            }
            Some(v) => v,
            None => {
                self.check_plain_expr(right);
                self.errors.push(error_spanned(
                    right,
                    format!("`{name}` is a vector of lazy values, so an element can only be assigned a lazy value"),
                    format!("assign the result of a `#[delayed]` call, e.g. `{name}[i] = step({name}[i]);`"),
                ));
                return;
            }
        };
        let row_errors = row.map_or(0, |r| self.check_plain_in(r, Some(Ctx::Index)));
        if self.check_plain_in(&i.index, Some(Ctx::Index)) + row_errors > 0 {
            return;
        }
        self.vars[var].kind = if row.is_some() {
            VarKind::Rows
        } else {
            VarKind::LazyVec
        };
        // Its elements are no longer only the values pushed onto it, and
        // the update counts as a use (the vector is then not "used once").
        self.vars[var].borrowed_elems = true;
        self.vars[var].assigned += 1;
        let _ = self.use_var(var);
        self.alias_tails(&value);
        if let Value::Var { use_, .. } = &value {
            let src = self.uses[*use_].var;
            self.vars[src].aliased = true;
        }
        out.push(Stmt::SetIndex {
            name: name.clone(),
            row: row.cloned(),
            index: (*i.index).clone(),
            value,
            span: i.span(),
        });
    }

    fn push(&mut self, m: &syn::ExprMethodCall, s: &syn::Stmt, out: &mut Vec<Stmt>) {
        if let Some(recv) = parse::as_ident(&m.receiver) {
            if self.name_of(recv) == Name::Outside && self.looks_lazy(&m.args[0]) {
                self.errors.push(error(
                    recv.span(),
                    format!("`{recv}` is declared outside `graph!`, so lazy values cannot be pushed onto it"),
                    format!("declare the vector inside `graph!`: `let mut {recv} = Vec::new();`"),
                ));
                return;
            }
        }
        let target = parse::as_ident(&m.receiver).and_then(|i| self.lookup(i).map(|v| (i, v)));
        let Some((name, var)) = target.filter(|(_, v)| self.vars[*v].kind != VarKind::Lazy) else {
            self.check_plain_stmt(s);
            out.push(Stmt::Plain(s.to_token_stream()));
            return;
        };
        match self.value(&m.args[0], false) {
            Some(_) if self.plain_vecs.contains(&var) => self.errors.push(error_spanned(
                &m.args[0],
                format!("`{name}` holds plain values, so lazy values cannot be pushed onto it"),
                format!("collect the lazy values in a vector of their own: `let mut {name}_lazy = Vec::new();`"),
            )),
            Some(value) if self.is_vec_value(&value) => {
                // `rows.push(row)`: a vector of vectors of lazy values.
                if self.vars[var].kind == VarKind::LazyVec {
                    self.errors.push(error_spanned(
                        &m.args[0],
                        format!("`{name}` holds lazy values, so a vector of them cannot be pushed onto it"),
                        format!("keep the rows in a vector of their own: `let mut {name}_rows = Vec::new();`"),
                    ));
                    return;
                }
                self.vars[var].kind = VarKind::Rows;
                self.alias_tails(&value);
                self.push_onto(out, var, name, &m.method, value);
            }
            Some(_) if self.vars[var].kind == VarKind::Rows => self.errors.push(error_spanned(
                &m.args[0],
                format!("`{name}` holds vectors of lazy values, so one lazy value cannot be pushed onto it"),
                format!("build the row as a vector of lazy values first, then push it: `{name}.push(row);`"),
            )),
            Some(value) => {
                self.vars[var].kind = VarKind::LazyVec;
                match &value {
                    Value::Var { use_, .. } => {
                        let pushed = self.uses[*use_].var;
                        self.vars[var].pushed.push(pushed);
                    }
                    Value::Call { .. } | Value::Reduce { .. } | Value::Error => {}
                    _ => self.vars[var].borrowed_elems = true,
                }
                self.push_onto(out, var, name, &m.method, value);
            }
            None if self.vars[var].kind == VarKind::LazyVec => self.errors.push(error_spanned(
                &m.args[0],
                format!("`{name}` holds lazy values, so only lazy values can be pushed onto it"),
                "push the result of a `#[delayed]` call, or use a separate vector for plain values",
            )),
            None => {
                self.plain_vec(var);
                self.check_plain_stmt(s);
                out.push(Stmt::Plain(s.to_token_stream()));
            }
        }
    }

    /// A `Vec::new()` that plain code fills: it stays a plain vector.
    fn plain_vec(&mut self, var: VarId) {
        if self.vars[var].kind == VarKind::VecCandidate && !self.plain_vecs.contains(&var) {
            self.plain_vecs.push(var);
        }
    }

    /// Whether calling `path` runs a task: a lower-case function path that
    /// is not a variable of the graph (a closure bound inside is plain).
    fn is_task_call(&self, path: &Path) -> bool {
        parse::is_task_path(path)
            && !path
                .get_ident()
                .is_some_and(|i| self.name_of(i) != Name::Outside)
    }

    /// Whether `e` would be a lazy value, without analysing it.
    fn looks_lazy(&self, e: &Expr) -> bool {
        match e {
            Expr::Paren(p) => self.looks_lazy(&p.expr),
            Expr::Group(g) => self.looks_lazy(&g.expr),
            Expr::Call(c) if self.closure_of(&c.func).is_some() => true,
            Expr::Call(c) => match &*c.func {
                Expr::Path(p) if p.qself.is_none() => {
                    parse::is_tree_reduce(&p.path)
                        || self.is_task_call(&p.path)
                        || self.is_lazy_expr(e)
                }
                _ => self.is_lazy_expr(e),
            },
            Expr::Path(_) => parse::as_ident(e)
                .and_then(|i| self.kind_of(i))
                .is_some_and(|k| k != VarKind::VecCandidate),
            Expr::MethodCall(_) => {
                parse::as_map_collect(e).is_some_and(|(_, c)| self.closure_looks_lazy(c))
                    || iters::map_path_to_closure(e).is_some_and(|d| self.looks_lazy(&d))
                    || self.is_lazy_expr(e)
            }
            Expr::Try(t) => self.looks_lazy(&t.expr),
            Expr::Reference(r) => self.looks_lazy(&r.expr),
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => self.looks_lazy(&u.expr),
            Expr::If(_) | Expr::Match(_) | Expr::Block(_) => self.branches_look_lazy(e),
            e => self.is_lazy_expr(e),
        }
    }

    /// Whether a value is a vector of lazy values.
    fn is_vec_value(&self, v: &Value) -> bool {
        match v {
            Value::Collect { .. }
            | Value::VecVar { .. }
            | Value::Slice { .. }
            | Value::Row { .. } => true,
            Value::If { then, .. } => self.is_vec_value(&then.tail),
            Value::Match { arms, .. } => arms.first().is_some_and(|a| self.is_vec_value(&a.2.tail)),
            _ => false,
        }
    }

    /// The variables whose nodes `v` may be (the tails of its branches): they
    /// get another name, so none of them is "used once".
    /// `name.push(value)` onto `var`: recorded in the current loop frame
    /// when `var` was declared outside it, then emitted.
    fn push_onto(
        &mut self,
        out: &mut Vec<Stmt>,
        var: usize,
        name: &Ident,
        method: &Ident,
        value: Value,
    ) {
        if self.vars[var].depth < self.depth {
            if let Some(f) = self.frames.last_mut() {
                if !f.vecs.iter().any(|v| v == name) {
                    f.vecs.push(name.clone());
                }
            }
        }
        out.push(Stmt::Push {
            vec: name.clone(),
            var,
            method: method.clone(),
            value,
        });
    }

    fn alias_tails(&mut self, v: &Value) {
        match v {
            Value::Var { use_, .. } | Value::VecVar { use_, .. } | Value::Slice { use_, .. } => {
                let src = self.uses[*use_].var;
                self.vars[src].aliased = true;
            }
            Value::If { then, els, .. } => {
                self.alias_tails(&then.tail);
                self.alias_tails(&els.tail);
            }
            Value::Match { arms, .. } => {
                for a in arms {
                    self.alias_tails(&a.2.tail);
                }
            }
            _ => {}
        }
    }

    /// Whether `e` names a lazy variable (the target of `x += ..`).
    fn lazy_target(&self, e: &Expr) -> bool {
        parse::as_ident(e).is_some_and(|i| self.kind_of(i) == Some(VarKind::Lazy))
    }

    /// Whether a `.map(..)` closure ends in a lazy value (its parameters
    /// are plain inside it, whatever they shadow).
    fn closure_looks_lazy(&self, c: &ExprClosure) -> bool {
        let mut names = Vec::new();
        for p in &c.inputs {
            parse::pat_idents(p, &mut names);
        }
        let n = names.len();
        self.masked
            .borrow_mut()
            .extend(names.iter().map(|i| i.to_string()));
        let r = self.body_looks_lazy(&c.body);
        let mut m = self.masked.borrow_mut();
        let keep = m.len() - n;
        m.truncate(keep);
        r
    }

    fn body_looks_lazy(&self, body: &Expr) -> bool {
        match body {
            Expr::Block(b) => match b.block.stmts.last() {
                Some(syn::Stmt::Expr(e, None)) => {
                    self.looks_lazy(e)
                        || parse::as_ident(e).is_some_and(|i| {
                            b.block.stmts.iter().any(|s| match s {
                                syn::Stmt::Local(l) => {
                                    parse::simple_binding(&l.pat).is_some_and(|(_, n, _)| n == i)
                                        && l.init
                                            .as_ref()
                                            .is_some_and(|init| self.looks_lazy(&init.expr))
                                }
                                _ => false,
                            })
                        })
                }
                _ => false,
            },
            e => self.looks_lazy(e),
        }
    }

    /// The lazy value `e` denotes, analysed; `None` if `e` is plain. With
    /// `gather`, a vector not yet known to be lazy counts as a lazy vector.
    fn value(&mut self, e: &Expr, gather: bool) -> Option<Value> {
        match e {
            Expr::Paren(p) => self.value(&p.expr, gather),
            Expr::Group(g) => self.value(&g.expr, gather),
            Expr::Call(c) if self.closure_of(&c.func).is_some() => {
                let k = self.closure_of(&c.func).expect("a closure");
                Some(self.inline_call(k, c))
            }
            Expr::Call(c) => {
                let Expr::Path(p) = &*c.func else { return None };
                if p.qself.is_some() {
                    return None;
                }
                if parse::is_tree_reduce(&p.path) {
                    Some(self.reduce(c))
                } else if self.is_task_call(&p.path) {
                    Some(self.call(c, &p.path))
                } else if self.is_lazy_expr(e) {
                    Some(self.expr_task(e))
                } else {
                    None
                }
            }
            Expr::Path(_) => {
                let name = parse::as_ident(e)?;
                let var = self.lookup(name)?;
                match self.vars[var].kind {
                    VarKind::Lazy => Some(Value::Var {
                        name: name.clone(),
                        use_: self.use_var(var),
                    }),
                    VarKind::LazyVec => Some(Value::VecVar {
                        name: name.clone(),
                        use_: self.use_var(var),
                    }),
                    VarKind::VecCandidate if gather && !self.plain_vecs.contains(&var) => {
                        self.vars[var].kind = VarKind::LazyVec;
                        Some(Value::VecVar {
                            name: name.clone(),
                            use_: self.use_var(var),
                        })
                    }
                    VarKind::VecCandidate => None,
                    VarKind::Rows => {
                        self.errors.push(error(
                            name.span(),
                            format!("`{name}` is a vector of vectors of lazy values: it can be indexed (`{name}[r]`, `{name}[r][c]`) but not used whole"),
                            format!("pass its rows one at a time (`{name}[r]`), or keep the values in one flat vector"),
                        ));
                        Some(Value::Error)
                    }
                }
            }
            Expr::MethodCall(_) => {
                if let Some(v) = self.end_value(e) {
                    return Some(v);
                }
                if let Some(desugared) = iters::map_path_to_closure(e) {
                    if self.looks_lazy(&desugared) {
                        return self.value(&desugared, gather);
                    }
                }
                if let Some((recv, closure)) = parse::as_map_collect(e) {
                    if self.closure_looks_lazy(closure) {
                        return Some(self.collect(recv, closure, e.span()));
                    }
                }
                self.is_lazy_expr(e).then(|| self.expr_task(e))
            }
            Expr::Try(t) if self.looks_lazy(&t.expr) => Some(self.try_value(t)),
            Expr::If(i) if self.branches_look_lazy(e) => Some(self.if_value(i)),
            Expr::Match(m) if self.branches_look_lazy(e) => Some(self.match_value(m)),
            Expr::Index(i) if self.looks_lazy(&i.expr) || self.indexes_lazy_vec(e) => {
                match self.index_value(i) {
                    Some(v) => Some(v),
                    None if matches!(&*i.index, Expr::Range(_)) => {
                        self.errors.push(error_spanned(
                        e,
                        "a slice of a vector of lazy values is borrowed: write `&v[a..b]`",
                        "pass `&v[a..b]` to a `#[delayed]` function that takes `&[T]` or `Vec<T>`",
                    ));
                        Some(Value::Error)
                    }
                    None => Some(self.expr_task(e)),
                }
            }
            Expr::Reference(r) if r.mutability.is_none() && self.looks_lazy(&r.expr) => {
                // `&v[a..b]` is part of a lazy vector; `&x` is `x` (a
                // `#[delayed]` parameter `&T` borrows, a `T` one takes).
                if let Expr::Index(i) = strip_paren(&r.expr) {
                    if let Some(v) = self.slice_value(i) {
                        return Some(v);
                    }
                }
                self.value(&r.expr, gather)
            }
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) && self.looks_lazy(&u.expr) => {
                // `*x` on an element of a lazy vector: the element itself.
                self.value(&u.expr, gather)
            }
            Expr::Reference(r) if self.looks_lazy(&r.expr) => {
                let inner = &r.expr;
                let what = match parse::as_ident(inner) {
                    Some(i) => format!("`{i}` is a lazy value: it exists only when the graph runs, so it cannot be borrowed with `&`"),
                    None => "a lazy value exists only when the graph runs, so it cannot be borrowed with `&`".to_string(),
                };
                self.errors.push(error_spanned(
                    r,
                    what,
                    format!(
                        "pass `{}` itself: a `#[delayed]` parameter of type `&T` borrows its argument",
                        check::show(inner)
                    ),
                ));
                Some(Value::Error)
            }
            e if self.is_lazy_expr(e) => Some(self.expr_task(e)),
            _ => None,
        }
    }

    /// The closure a call's function names, if it is one to inline.
    fn closure_of(&self, func: &Expr) -> Option<usize> {
        let Expr::Path(p) = func else { return None };
        let n = p.path.get_ident()?.to_string();
        if p.qself.is_some() || self.masked.borrow().contains(&n) {
            return None;
        }
        for scope in self.scopes.iter().rev() {
            for (k, b) in scope.iter().rev() {
                if *k == n {
                    return match b {
                        Binding::Closure(c) => Some(*c),
                        _ => None,
                    };
                }
            }
        }
        None
    }

    /// `f(a, b)` with `f` a closure over lazy values: its body, inlined as
    /// `match () { () => { let p = a; let q = b; body } }` (the arguments
    /// bound to hidden names first, so that a parameter named like another
    /// argument does not capture it).
    fn inline_call(&mut self, k: usize, call: &ExprCall) -> Value {
        let c = self.closures[k].clone();
        if c.inputs.len() != call.args.len() {
            self.errors.push(error_spanned(
                call,
                format!(
                    "this closure takes {} but {} given",
                    count(c.inputs.len(), "argument"),
                    match call.args.len() {
                        1 => "1 was".to_string(),
                        n => format!("{n} were"),
                    }
                ),
                "call it with one argument per parameter: inside `graph!` a closure over lazy values is inlined where it is called",
            ));
            return Value::Error;
        }
        let mut stmts: Vec<syn::Stmt> = Vec::new();
        let mut hidden = Vec::new();
        for a in &call.args {
            let h = Ident::new(&format!("__tg_arg{}", self.hidden), Span::mixed_site());
            self.hidden += 1;
            stmts.push(syn::parse_quote!(let #h = #a;));
            hidden.push(h);
        }
        for (p, h) in c.inputs.iter().zip(&hidden) {
            stmts.push(syn::parse_quote!(let #p = #h;));
        }
        match &*c.body {
            Expr::Block(b) if b.label.is_none() => stmts.extend(b.block.stmts.iter().cloned()),
            e => stmts.push(syn::Stmt::Expr(e.clone(), None)),
        }
        let m: syn::ExprMatch = syn::parse_quote_spanned! {call.span()=>
            match () { () => { #(#stmts)* } }
        };
        self.match_value(&m)
    }

    fn call(&mut self, c: &ExprCall, path: &Path) -> Value {
        let mut params = Vec::new();
        let mut args = Vec::new();
        let (mut plain, mut lazy) = (0, 0);
        for a in &c.args {
            if let Some(v) = self.value(a, true) {
                let once = match &v {
                    Value::Var { use_, .. } => Once::Use(*use_),
                    Value::Call { .. } | Value::Reduce { .. } | Value::Error => Once::Yes,
                    Value::VecVar { use_, .. } => Once::Vec(*use_),
                    _ => Once::No,
                };
                params.push(Param {
                    span: a.span(),
                    kind: ParamKind::Lazy { slot: lazy, once },
                    borrowed: matches!(strip_paren(a), Expr::Reference(r) if r.mutability.is_none()),
                });
                lazy += 1;
                args.push(Arg::Lazy(v));
            } else {
                self.check_plain_expr(a);
                params.push(Param {
                    span: a.span(),
                    kind: ParamKind::Plain { slot: plain },
                    borrowed: false,
                });
                plain += 1;
                args.push(Arg::Plain(a.clone()));
            }
        }
        let fam = self.new_family(path, c.span(), params);
        for (k, a) in args.iter().enumerate() {
            if let Arg::Lazy(Value::Var { use_, .. }) = a {
                self.uses[*use_].consumer = Some((fam, k));
            }
        }
        if let Some(f) = self.frames.last_mut() {
            f.families.push(fam);
        }
        Value::Call { fam, args }
    }

    fn new_family(&mut self, path: &Path, span: Span, params: Vec<Param>) -> FamId {
        self.families.push(Family {
            callee: path.clone(),
            companion: parse::strip_generics(path),
            name: quote!(#path).to_string().replace(' ', ""),
            span,
            depth: self.depth,
            block: self.block,
            params,
            reduce: false,
            expr: None,
            fallible: false,
        });
        self.families.len() - 1
    }

    /// A plain vector where a vector of lazy values is expected (a `Vec<T>`,
    /// a slice, a spawned graph's `Handle`): read as lazy values when the
    /// graph is built (`Source::read`, whose trait bound reports a type that
    /// is none of these).
    fn source(&mut self, e: &Expr) -> Value {
        self.check_plain_expr(e);
        if self.depth > 0 || self.loops > 0 {
            self.errors.push(error_spanned(
                e,
                "`tree_reduce` inside a loop must reduce a vector of lazy values made in the graph; a vector from outside the graph is read once",
                "reduce it before the loop: `let total = tree_reduce(values, f);`",
            ));
            return Value::Error;
        }
        self.sources += 1;
        // `&h` with `h` captured: borrowed by the graph, not moved into it.
        if let Expr::Reference(r) = strip_paren(e) {
            if let Some(n) = parse::as_ident(&r.expr) {
                if r.mutability.is_none() && self.name_of(n) == Name::Outside {
                    self.borrowed.push((self.sources - 1, e.clone()));
                }
            }
        }
        Value::Source {
            expr: e.clone(),
            index: self.sources - 1,
        }
    }

    fn reduce(&mut self, c: &ExprCall) -> Value {
        if c.args.len() != 2 {
            self.errors.push(error(
                c.paren_token.span.join(),
                format!("`tree_reduce` takes 2 arguments, a vector of lazy values and a function; {} given", c.args.len()),
                "write `tree_reduce(values, f)` with `f` a binary `#[delayed]` function",
            ));
            return Value::Error;
        }
        let vec = match self.value(&c.args[0], true) {
            Some(
                v @ (Value::VecVar { .. }
                | Value::Collect { .. }
                | Value::Row { .. }
                | Value::Slice { .. }),
            ) => v,
            Some(Value::Error) => Value::Error,
            None => self.source(&c.args[0]),
            _ => {
                self.errors.push(error_spanned(
                    &c.args[0],
                    "the first argument of `tree_reduce` must be a vector of lazy values",
                    "collect the values first: `let v: Vec<_> = (0..n).map(|i| f(i)).collect();`",
                ));
                Value::Error
            }
        };
        let closure = match strip_paren(&c.args[1]) {
            Expr::Closure(cl) => Some(cl.clone()),
            e => self.closure_of(e).map(|k| self.closures[k].clone()),
        };
        if let Some(cl) = closure {
            return match self.reducing_closure(&cl) {
                Some(f) => self.reduce_with(vec, &f),
                None => {
                    self.errors.push(error_spanned(
                        &c.args[1],
                        "a closure given to `tree_reduce` must call one binary `#[delayed]` function with its two arguments in order, as `|a, b| add(a, b)` does",
                        "name the function, `tree_reduce(values, add)`, or write one that combines two values: `#[delayed] fn f(a: T, b: T) -> T`",
                    ));
                    Value::Error
                }
            };
        }
        let f = match &c.args[1] {
            Expr::Path(p) if p.qself.is_none() && self.is_task_call(&p.path) => p.path.clone(),
            other => {
                self.errors.push(error_spanned(
                    other,
                    "the second argument of `tree_reduce` must name a binary `#[delayed]` function",
                    "write its name, e.g. `tree_reduce(values, add)`",
                ));
                return Value::Error;
            }
        };
        self.reduce_with(vec, &f)
    }

    /// The `#[delayed]` function a closure given to `tree_reduce` calls:
    /// `|a, b| add(a, b)` (or `add(&a, &b)`, or in a block) is `add`.
    fn reducing_closure(&self, c: &ExprClosure) -> Option<Path> {
        if c.inputs.len() != 2 || c.asyncness.is_some() {
            return None;
        }
        let params: Vec<&Ident> = c
            .inputs
            .iter()
            .map(|p| parse::simple_binding(p).map(|(_, i, _)| i))
            .collect::<Option<_>>()?;
        let mut body = strip_paren(&c.body);
        while let Expr::Block(b) = body {
            match b.block.stmts.as_slice() {
                [syn::Stmt::Expr(e, None)] if b.label.is_none() => body = strip_paren(e),
                _ => return None,
            }
        }
        let Expr::Call(call) = body else { return None };
        let Expr::Path(p) = &*call.func else {
            return None;
        };
        if p.qself.is_some() || !parse::is_task_path(&p.path) || call.args.len() != 2 {
            return None;
        }
        // The function's name must mean the function here too, not one of
        // the closure's parameters or a graph variable.
        if p.path.get_ident().is_some_and(|i| params.contains(&i)) || !self.is_task_call(&p.path) {
            return None;
        }
        let arg = |e: &Expr| match strip_paren(e) {
            Expr::Reference(r) if r.mutability.is_none() => parse::as_ident(&r.expr).cloned(),
            e => parse::as_ident(e).cloned(),
        };
        (arg(&call.args[0]).as_ref() == Some(params[0])
            && arg(&call.args[1]).as_ref() == Some(params[1]))
        .then(|| p.path.clone())
    }

    fn reduce_with(&mut self, vec: Value, f: &Path) -> Value {
        let span = f.span();
        let params = (0..2)
            .map(|slot| Param {
                span,
                kind: ParamKind::Lazy {
                    slot,
                    once: Once::No,
                },
                borrowed: false,
            })
            .collect();
        let fam = self.new_family(f, span, params);
        self.families[fam].reduce = true;
        Value::Reduce {
            fam,
            vec: Box::new(vec),
        }
    }

    fn collect(&mut self, recv: &Expr, closure: &ExprClosure, span: Span) -> Value {
        let over = self.lazy_iter(recv);
        match &over {
            Some(src) => self.check_src(src),
            None => self.check_plain_expr(recv),
        }
        let saved = self.enter(true);
        // A closure body: `break` and `continue` cannot leave it.
        let loops = std::mem::replace(&mut self.loops, 0);
        let (pat, recv) = match &over {
            Some(src) => (self.bind_src_pat(&closure.inputs[0], src), src.iter()),
            None => {
                self.bind_plain_pat(&closure.inputs[0]);
                (closure.inputs[0].clone(), recv.clone())
            }
        };
        let (stmts, tail) = match &*closure.body {
            Expr::Block(b) if b.label.is_none() => self.block(&b.block.stmts, true),
            e => (Vec::new(), Some(e)),
        };
        let tail = match tail.map(|t| (t, self.value(t, false))) {
            Some((_, Some(v))) => v,
            Some((t, None)) => {
                self.errors.push(error_spanned(
                    t,
                    "the closure of `.map(..).collect()` must end with a lazy value",
                    "end it with a `#[delayed]` call",
                ));
                Value::Error
            }
            None => Value::Error,
        };
        self.loops = loops;
        let reserve = self.leave(saved);
        Value::Collect {
            recv,
            pat,
            stmts,
            tail: Box::new(tail),
            depth: self.depth + 1,
            reserve,
            span,
        }
    }

    /// A lazy variable returned again (`(x, x)`): outputs are moved out, so
    /// the second and later occurrences are clones (the type must be
    /// `Clone`, checked by the runtime's `again` at this occurrence).
    fn returned_again(&self, v: &Value) -> bool {
        let (Value::Var { use_, .. } | Value::VecVar { use_, .. }) = v else {
            return false;
        };
        let var = self.uses[*use_].var;
        self.vars[var]
            .use_ids
            .iter()
            .any(|&u| u != *use_ && self.uses[u].tail)
    }

    /// The final expression. Elements of a tuple may be plain (returned as
    /// they are), as long as the whole has at least one lazy value.
    fn tail(&mut self, e: &Expr) -> Value {
        let mut v = self.tail_part(e, false);
        if matches!(v, Value::Tuple(_)) && !has_lazy(&v) {
            self.plain_tail_errors(&v);
            return Value::Error;
        }
        repeated_elements(&mut v, &mut Vec::new());
        v
    }

    fn plain_tail_errors(&mut self, v: &Value) {
        match v {
            Value::Tuple(vs) => vs.iter().for_each(|v| self.plain_tail_errors(v)),
            Value::PlainOutput(e) => self.errors.push(plain_tail_error(e)),
            _ => {}
        }
    }

    fn tail_part(&mut self, e: &Expr, in_tuple: bool) -> Value {
        match e {
            Expr::Paren(p) => self.tail_part(&p.expr, in_tuple),
            Expr::Tuple(t) if !t.elems.is_empty() => {
                Value::Tuple(t.elems.iter().map(|e| self.tail_part(e, true)).collect())
            }
            _ => match self.value(e, true) {
                Some(v) if self.returned_again(&v) => Value::Again(Box::new(v)),
                Some(v) => v,
                None if self.check_plain_in(e, None) > 0 => Value::Error,
                None if in_tuple => Value::PlainOutput(e.clone()),
                None => {
                    self.errors.push(plain_tail_error(e));
                    Value::Error
                }
            },
        }
    }
}

/// `1 argument`, `2 arguments`.
fn count(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

fn plain_tail_error(e: &Expr) -> syn::Error {
    error_spanned(
        e,
        "the final expression of `graph!` must be a lazy value, a tuple of them, or a `Vec` of them; this one is plain",
        "end the graph with the result of a `#[delayed]` call, e.g. `add(x, y)`; plain values can be computed outside `graph!`",
    )
}

/// `(v[0], v[0])`: the second and later occurrences of the same element
/// (the same vector, the same index tokens) in the final expression are
/// returned again, as clones, like a variable returned twice.
fn repeated_elements(v: &mut Value, seen: &mut Vec<(String, String)>) {
    match v {
        Value::Tuple(vs) => vs.iter_mut().for_each(|v| repeated_elements(v, seen)),
        Value::Index { name, index, .. } => {
            let key = (name.to_string(), index.to_token_stream().to_string());
            if seen.contains(&key) {
                let first = std::mem::replace(v, Value::Error);
                *v = Value::Again(Box::new(first));
            } else {
                seen.push(key);
            }
        }
        _ => {}
    }
}

/// Whether a final expression holds a lazy value (or a mistaken one).
fn has_lazy(v: &Value) -> bool {
    match v {
        Value::Tuple(vs) => vs.iter().any(has_lazy),
        Value::PlainOutput(_) => false,
        _ => true,
    }
}

/// `+=` → `+`, and so on; `None` for other operators.
fn compound_op(op: &syn::BinOp) -> Option<proc_macro2::TokenStream> {
    use syn::BinOp::*;
    Some(match op {
        AddAssign(_) => quote!(+),
        SubAssign(_) => quote!(-),
        MulAssign(_) => quote!(*),
        DivAssign(_) => quote!(/),
        RemAssign(_) => quote!(%),
        BitXorAssign(_) => quote!(^),
        BitAndAssign(_) => quote!(&),
        BitOrAssign(_) => quote!(|),
        ShlAssign(_) => quote!(<<),
        ShrAssign(_) => quote!(>>),
        _ => return None,
    })
}

fn strip_paren(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_paren(&p.expr),
        Expr::Group(g) => strip_paren(&g.expr),
        e => e,
    }
}
