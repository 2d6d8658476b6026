//! Expressions on lazy values, indexing, destructuring and `?`.
//!
//! - An expression that reads lazy values (`x * 2`, `p.mean`, `s.len()`,
//!   `format!("{a}-{b}")`, `Stats { n, mean }`, `vec![x, y]`, `(a, b)`)
//!   becomes an anonymous task, named by its source text: its lazy parts
//!   (variables, task calls, elements `v[i]`) are its inputs, passed by
//!   value like any task's, and the plain variables it reads are cloned
//!   into it when the graph is built, except a captured variable that is
//!   the receiver of a method call (`s.apply(x)`), which it borrows.
//! - `v[i]` on a vector of lazy values, with a plain `i`, is one of its
//!   elements, picked (and checked against the length) when the graph is
//!   built; `&v[a..b]` is a vector of some of them.
//! - `let (a, b) = f(x);` binds each part through a task of its own.
//! - `f(x)?` on a task returning `Result<T, E>` is the `T`; an `Err` fails
//!   the graph.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, Ident};

use super::super::check::{error, error_spanned, Ctx, Name};
use super::super::ir::*;
use super::super::parse;
use super::{Analyzer, Binding};

/// What an expression task reads.
enum Part {
    /// A lazy input, bound to `name` inside the task.
    Lazy(Ident, Box<Value>),
    /// A plain value, evaluated when the graph is built and moved into the
    /// task, bound to `name` inside it.
    Plain(Ident, Expr),
}

impl Analyzer {
    /// Whether `e` is an expression that reads lazy values and so becomes a
    /// task of its own.
    pub(super) fn is_lazy_expr(&self, e: &Expr) -> bool {
        matches!(
            e,
            Expr::Binary(_)
                | Expr::Unary(_)
                | Expr::MethodCall(_)
                | Expr::Field(_)
                | Expr::Macro(_)
                | Expr::Struct(_)
                | Expr::Tuple(_)
                | Expr::Array(_)
                | Expr::Cast(_)
                | Expr::Call(_)
                | Expr::Index(_)
                | Expr::Repeat(_)
        ) && self.mentions_lazy(e)
    }

    /// Whether `e` reads a lazy value anywhere (not as the receiver of a
    /// lazy vector's plain `.len()` / `.is_empty()`).
    pub(super) fn mentions_lazy(&self, e: &Expr) -> bool {
        let mut f = Finder {
            a: self,
            shadow: vec![HashSet::new()],
            found: false,
        };
        syn::visit::Visit::visit_expr(&mut f, e);
        f.found
    }

    /// The element `v[index]` of the lazy vector `v`, or `None` if `e` is
    /// not such an indexing.
    pub(super) fn index_value(&mut self, e: &syn::ExprIndex) -> Option<Value> {
        if matches!(&*e.index, Expr::Range(_)) {
            return None;
        }
        if let Some((name, var, row)) = self.rows_index(&e.expr) {
            // `rows[r][c]`: an element of a row.
            self.vars[var].kind = VarKind::Rows;
            if self.check_plain_in(row, Some(Ctx::Index))
                + self.check_plain_in(&e.index, Some(Ctx::Index))
                > 0
            {
                return Some(Value::Error);
            }
            let _ = self.use_var(var);
            return Some(Value::Index {
                name: name.clone(),
                row: Some(row.clone()),
                index: (*e.index).clone(),
                span: e.span(),
            });
        }
        let name = parse::as_ident(&e.expr)?;
        let var = self.lookup(name)?;
        if self.vars[var].kind == VarKind::Rows {
            // `rows[r]`: a row, a vector of lazy values.
            if self.check_plain_in(&e.index, Some(Ctx::Index)) > 0 {
                return Some(Value::Error);
            }
            let _ = self.use_var(var);
            return Some(Value::Row {
                name: name.clone(),
                index: (*e.index).clone(),
                span: e.span(),
            });
        }
        if !self.lazy_vec_or_candidate(var) {
            return None;
        }
        // A `Vec::new()` indexed in a lazy value before anything is pushed
        // onto it (a wavefront reads the cells pushed before): lazy.
        self.vars[var].kind = VarKind::LazyVec;
        if self.check_plain_in(&e.index, Some(Ctx::Index)) > 0 {
            return Some(Value::Error);
        }
        // Counted as a read of the vector (it is then not "used once").
        let _ = self.use_var(var);
        Some(Value::Index {
            name: name.clone(),
            row: None,
            index: (*e.index).clone(),
            span: e.span(),
        })
    }

    /// `rows[r]` with `rows` a vector of vectors of lazy values (or a
    /// `Vec::new()` not known to hold plain values): `rows`, its variable
    /// and `r`.
    pub(super) fn rows_index<'e>(&self, e: &'e Expr) -> Option<(&'e Ident, VarId, &'e Expr)> {
        let Expr::Index(i) = e else { return None };
        if matches!(&*i.index, Expr::Range(_)) {
            return None;
        }
        let name = parse::as_ident(&i.expr)?;
        let var = self.lookup(name)?;
        let rows = match self.vars[var].kind {
            VarKind::Rows => true,
            VarKind::VecCandidate => !self.plain_vecs.contains(&var),
            _ => false,
        };
        rows.then_some((name, var, &*i.index))
    }

    /// Whether `.len()` / `.is_empty()` on `recv` is plain: `recv` is a
    /// vector of lazy values, a vector of them, or a row `rows[r]`.
    pub(super) fn plain_len_receiver(&self, recv: &Expr) -> bool {
        match recv {
            Expr::Index(i) => {
                !matches!(&*i.index, Expr::Range(_))
                    && parse::as_ident(&i.expr).and_then(|n| self.kind_of(n)) == Some(VarKind::Rows)
            }
            e => matches!(
                parse::as_ident(e).and_then(|n| self.kind_of(n)),
                Some(VarKind::LazyVec | VarKind::Rows)
            ),
        }
    }

    /// Whether variable `var` is a lazy vector, or a `Vec::new()` not known
    /// to hold plain values.
    pub(super) fn lazy_vec_or_candidate(&self, var: VarId) -> bool {
        match self.vars[var].kind {
            VarKind::LazyVec | VarKind::Rows => true,
            VarKind::VecCandidate => !self.plain_vecs.contains(&var),
            VarKind::Lazy => false,
        }
    }

    /// Whether `e` indexes a lazy vector (or a `Vec::new()` not known to
    /// hold plain values) with a plain index.
    pub(super) fn indexes_lazy_vec(&self, e: &Expr) -> bool {
        let Expr::Index(i) = e else { return false };
        if self.rows_index(&i.expr).is_some() && !matches!(&*i.index, Expr::Range(_)) {
            return true;
        }
        !matches!(&*i.index, Expr::Range(_))
            && parse::as_ident(&i.expr)
                .and_then(|n| self.lookup(n))
                .is_some_and(|v| self.lazy_vec_or_candidate(v))
    }

    /// `v.first().unwrap()`, `v.last().copied().unwrap()`, `*v.last().unwrap()`
    /// (or `.expect(..)`) on the lazy vector `v`: that element, checked when
    /// the graph is built. A bare `v.first()` is an error that says so.
    pub(super) fn end_value(&mut self, e: &Expr) -> Option<Value> {
        let Expr::MethodCall(m) = e else { return None };
        let (end, unwrapped) = if m.method == "unwrap" || m.method == "expect" {
            let mut inner = &*m.receiver;
            if let Expr::MethodCall(c) = inner {
                if (c.method == "copied" || c.method == "cloned") && c.args.is_empty() {
                    inner = &c.receiver;
                }
            }
            let Expr::MethodCall(end) = inner else {
                return None;
            };
            (end, true)
        } else {
            (m, false)
        };
        if !(end.method == "first" || end.method == "last") || !end.args.is_empty() {
            return None;
        }
        let name = parse::as_ident(&end.receiver)?;
        let var = self.lookup(name)?;
        if self.vars[var].kind != VarKind::LazyVec {
            return None;
        }
        if !unwrapped {
            self.errors.push(error_spanned(
                e,
                format!("`{name}.{}()` of a vector of lazy values would be an `Option` of a lazy value", end.method),
                format!("write `{name}.{}().unwrap()`: an empty `{name}` is then an error when the graph is built", end.method),
            ));
            return Some(Value::Error);
        }
        let _ = self.use_var(var);
        let index: Expr = if end.method == "first" {
            syn::parse_quote!(0)
        } else {
            syn::parse_quote!(#name.len().saturating_sub(1))
        };
        Some(Value::Index {
            name: name.clone(),
            row: None,
            index,
            span: e.span(),
        })
    }

    /// Whether `e` is `v.first().unwrap()` or the like on a lazy vector.
    fn end_value_shape(&self, e: &Expr) -> bool {
        let Expr::MethodCall(m) = e else { return false };
        if m.method != "unwrap" && m.method != "expect" {
            return false;
        }
        let mut inner = &*m.receiver;
        if let Expr::MethodCall(c) = inner {
            if c.method == "copied" || c.method == "cloned" {
                inner = &c.receiver;
            }
        }
        matches!(inner, Expr::MethodCall(end)
            if (end.method == "first" || end.method == "last")
                && parse::as_ident(&end.receiver).is_some_and(|n| self.kind_of(n) == Some(VarKind::LazyVec)))
    }

    /// `&v[range]` on the lazy vector `v`.
    pub(super) fn slice_value(&mut self, e: &syn::ExprIndex) -> Option<Value> {
        let name = parse::as_ident(&e.expr)?;
        if self.kind_of(name) != Some(VarKind::LazyVec) || !matches!(&*e.index, Expr::Range(_)) {
            return None;
        }
        let var = self.lookup(name)?;
        self.check_plain_in(&e.index, Some(Ctx::Index));
        Some(Value::Slice {
            name: name.clone(),
            use_: self.use_var(var),
            range: (*e.index).clone(),
            span: e.span(),
        })
    }

    /// `f(..)?`: the call's task unwraps its `Result`.
    pub(super) fn try_value(&mut self, t: &syn::ExprTry) -> Value {
        match self.value(&t.expr, false) {
            Some(Value::Call { fam, args }) if !self.families[fam].fallible => {
                self.families[fam].fallible = true;
                Value::Call { fam, args }
            }
            Some(Value::Error) => Value::Error,
            _ => {
                self.errors.push(error(
                    t.question_token.span,
                    "`?` applies to the result of a task: write it right after a `#[delayed]` call or an expression on lazy values",
                    "write `f(x)?` where `f` returns `Result<T, E>`; the task's `Err` then stops the graph",
                ));
                Value::Error
            }
        }
    }

    /// An expression on lazy values: an anonymous task.
    pub(super) fn expr_task(&mut self, e: &Expr) -> Value {
        let mut body = e.clone();
        let mut r = Rewriter {
            a: self,
            shadow: vec![HashSet::new()],
            parts: Vec::new(),
            fresh: 0,
        };
        r.visit_expr_mut(&mut body);
        let parts = std::mem::take(&mut r.parts);
        let mut params = Vec::new();
        let mut args = Vec::new();
        let mut names = Vec::new();
        let (mut plain, mut lazy) = (0, 0);
        for p in parts {
            match p {
                Part::Lazy(name, v) => {
                    let v = *v;
                    let once = match &v {
                        Value::Var { use_, .. } => Once::Use(*use_),
                        Value::Call { .. } | Value::Reduce { .. } | Value::Error => Once::Yes,
                        Value::VecVar { use_, .. } => Once::Vec(*use_),
                        _ => Once::No,
                    };
                    params.push(Param {
                        span: name.span(),
                        kind: ParamKind::Lazy { slot: lazy, once },
                        borrowed: false,
                    });
                    lazy += 1;
                    names.push(name);
                    args.push(Arg::Lazy(v));
                }
                Part::Plain(name, x) => {
                    params.push(Param {
                        span: name.span(),
                        kind: ParamKind::Plain { slot: plain },
                        borrowed: false,
                    });
                    plain += 1;
                    names.push(name);
                    args.push(Arg::Plain(x));
                }
            }
        }
        let text = source_text(e);
        let path: syn::Path = syn::parse_quote!(expression);
        let fam = self.new_family(&path, e.span(), params);
        self.families[fam].name = text;
        self.families[fam].expr = Some(ExprTask { expr: body, names });
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

    /// `let (a, b) = f(x);` (any pattern of names): the whole value under a
    /// hidden name, and each name a task that takes its part.
    pub(super) fn destructure(&mut self, l: &syn::Local, init: &Expr, out: &mut Vec<Stmt>) {
        let Some(value) = self.value(init, false) else {
            return;
        };
        let mut names = Vec::new();
        parse::pat_idents(&l.pat, &mut names);
        if !pattern_is_irrefutable_shape(&l.pat) {
            self.errors.push(error_spanned(
                &l.pat,
                "a lazy value can be destructured only by a pattern of names (a tuple, a struct or a tuple struct)",
                "bind it to a name and take it apart in a `#[delayed]` function",
            ));
            return;
        }
        self.hidden += 1;
        let whole = Ident::new(
            &format!("__tg_whole{}", self.hidden),
            Span::mixed_site().located_at(l.pat.span()),
        );
        let var = self.new_var(VarKind::Lazy);
        if let Value::Call { fam, .. } = &value {
            self.vars[var].producer = Some(*fam);
        } else {
            self.vars[var].aliased = true;
        }
        self.bind(&whole, Binding::Var(var));
        out.push(Stmt::Let {
            mutability: None,
            name: whole.clone(),
            ty: None,
            value,
            vec: false,
        });
        let pat = strip_mut(&l.pat);
        for n in names {
            let mutability = pat_mutability(&l.pat, &n);
            let expr: Expr = syn::parse_quote_spanned! {n.span()=>
                {
                    #[allow(unused_variables)]
                    let #pat = #whole;
                    #n
                }
            };
            let use_ = self.use_var(var);
            let params = vec![Param {
                span: n.span(),
                kind: ParamKind::Lazy {
                    slot: 0,
                    once: Once::Use(use_),
                },
                borrowed: false,
            }];
            let path: syn::Path = syn::parse_quote!(destructure);
            let fam = self.new_family(&path, n.span(), params);
            self.families[fam].name = format!("{} of {}", n, source_text(init));
            self.families[fam].expr = Some(ExprTask {
                expr,
                names: vec![whole.clone()],
            });
            self.uses[use_].consumer = Some((fam, 0));
            if let Some(f) = self.frames.last_mut() {
                f.families.push(fam);
            }
            let part = self.new_var(VarKind::Lazy);
            self.vars[part].producer = Some(fam);
            self.bind(&n, Binding::Var(part));
            out.push(Stmt::Let {
                mutability,
                name: n.clone(),
                ty: None,
                value: Value::Call {
                    fam,
                    args: vec![Arg::Lazy(Value::Var {
                        name: whole.clone(),
                        use_,
                    })],
                },
                vec: false,
            });
        }
    }
}

/// Patterns made of names only: tuples, structs, tuple structs, `_`, `..`.
fn pattern_is_irrefutable_shape(p: &syn::Pat) -> bool {
    use syn::Pat;
    match p {
        Pat::Ident(i) => i.subpat.is_none() && i.by_ref.is_none(),
        Pat::Wild(_) | Pat::Rest(_) => true,
        Pat::Tuple(t) => t.elems.iter().all(pattern_is_irrefutable_shape),
        Pat::TupleStruct(t) => t.elems.iter().all(pattern_is_irrefutable_shape),
        Pat::Struct(s) => s
            .fields
            .iter()
            .all(|f| pattern_is_irrefutable_shape(&f.pat)),
        Pat::Type(t) => pattern_is_irrefutable_shape(&t.pat),
        Pat::Paren(p) => pattern_is_irrefutable_shape(&p.pat),
        _ => false,
    }
}

/// The pattern without `mut` on its names (the parts are bound outside).
fn strip_mut(p: &syn::Pat) -> syn::Pat {
    struct Strip;
    impl VisitMut for Strip {
        fn visit_pat_ident_mut(&mut self, i: &mut syn::PatIdent) {
            i.mutability = None;
        }
    }
    let mut p = p.clone();
    Strip.visit_pat_mut(&mut p);
    p
}

fn pat_mutability(p: &syn::Pat, name: &Ident) -> Option<syn::Token![mut]> {
    struct Find<'a>(&'a Ident, Option<syn::Token![mut]>);
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_pat_ident(&mut self, i: &'ast syn::PatIdent) {
            if i.ident == *self.0 {
                self.1 = i.mutability;
            }
        }
    }
    let mut f = Find(name, None);
    syn::visit::Visit::visit_pat(&mut f, p);
    f.1
}

/// The expression as the user wrote it, for error reports.
pub(crate) fn source_text(e: &impl ToTokens) -> String {
    let span = e.to_token_stream().into_iter().next().map(|t| t.span());
    let whole = syn::spanned::Spanned::span(&e.to_token_stream());
    let text = whole
        .source_text()
        .filter(|t| !t.is_empty() && span.is_some());
    text.unwrap_or_else(|| tidy(&e.to_token_stream().to_string()))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s . len ()` → `s.len()`: token text made readable.
fn tidy(s: &str) -> String {
    s.replace(" . ", ".")
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" ,", ",")
        .replace(" !", "!")
        .replace(":: ", "::")
        .replace(" ::", "::")
        .replace("[ ", "[")
        .replace(" ]", "]")
}

/// Whether an identifier names a variable the expression could read.
fn is_var_like(i: &Ident) -> bool {
    parse::starts_lower(i) && !matches!(i.to_string().as_str(), "self" | "crate" | "super")
}

/// Finds lazy values in an expression.
struct Finder<'a> {
    a: &'a Analyzer,
    shadow: Vec<HashSet<String>>,
    found: bool,
}

impl Finder<'_> {
    fn shadowed(&self, i: &Ident) -> bool {
        let n = i.to_string();
        self.shadow.iter().any(|s| s.contains(&n))
    }
    fn lazy(&self, i: &Ident) -> bool {
        !self.shadowed(i)
            && matches!(self.a.name_of(i), Name::Lazy(k) if k != VarKind::VecCandidate)
    }
    /// Whether `f` names a closure over lazy values (inlined when called).
    fn graph_closure(&self, f: &Expr) -> bool {
        parse::as_ident(f).is_some_and(|i| !self.shadowed(i)) && self.a.closure_of(f).is_some()
    }
    fn bind(&mut self, p: &syn::Pat) {
        let mut names = Vec::new();
        parse::pat_idents(p, &mut names);
        if let Some(top) = self.shadow.last_mut() {
            top.extend(names.iter().map(|n| n.to_string()));
        }
    }
    fn tokens(&mut self, ts: &TokenStream) {
        for t in ts.clone() {
            match t {
                TokenTree::Ident(i) => self.found |= self.lazy(&i),
                TokenTree::Group(g) => self.tokens(&g.stream()),
                TokenTree::Literal(l) => {
                    for n in format_names(&l) {
                        self.found |= self.lazy(&n);
                    }
                }
                TokenTree::Punct(_) => {}
            }
        }
    }
}

impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if let Some(i) = p.path.get_ident() {
            self.found |= self.lazy(i);
        }
    }
    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        // A call nested in an expression is a task when its arguments are
        // lazy; with plain ones it is an ordinary call. A closure over lazy
        // values gives one, whatever its arguments.
        if self.graph_closure(&c.func) {
            self.found = true;
            return;
        }
        for a in &c.args {
            self.visit_expr(a);
        }
    }
    fn visit_expr_index(&mut self, i: &'ast syn::ExprIndex) {
        let base_free = parse::as_ident(&i.expr).is_some_and(|n| !self.shadowed(n));
        if base_free && self.a.indexes_lazy_vec(&Expr::Index(i.clone())) {
            self.found = true;
            return;
        }
        syn::visit::visit_expr_index(self, i);
    }
    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let plain_len = (m.method == "len" || m.method == "is_empty") && m.args.is_empty();
        let vec_recv = self.a.plain_len_receiver(&m.receiver)
            && base_ident(&m.receiver).is_some_and(|i| !self.shadowed(i));
        if !(plain_len && vec_recv) {
            self.visit_expr(&m.receiver);
        }
        for a in &m.args {
            self.visit_expr(a);
        }
    }
    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        self.shadow.push(HashSet::new());
        for p in &c.inputs {
            self.bind(p);
        }
        self.visit_expr(&c.body);
        self.shadow.pop();
    }
    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.shadow.push(HashSet::new());
        for s in &b.stmts {
            self.visit_stmt(s);
        }
        self.shadow.pop();
    }
    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
        }
        self.bind(&l.pat);
    }
    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.shadow.push(HashSet::new());
        self.bind(&arm.pat);
        if let Some((_, g)) = &arm.guard {
            self.visit_expr(g);
        }
        self.visit_expr(&arm.body);
        self.shadow.pop();
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(&m.tokens);
    }
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// The names `format!("{a} {b:?}")` captures from a string literal.
fn format_names(lit: &proc_macro2::Literal) -> Vec<Ident> {
    let Ok(syn::Lit::Str(s)) = syn::parse_str::<syn::Lit>(&lit.to_string()) else {
        return Vec::new();
    };
    let v = s.value();
    let mut out = Vec::new();
    let mut rest = v.as_str();
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if rest.starts_with('{') {
            rest = &rest[1..];
            continue;
        }
        let end = rest.find(['}', ':']).unwrap_or(rest.len());
        if let Ok(i) = syn::parse_str::<Ident>(&rest[..end]) {
            out.push(Ident::new(&i.to_string(), lit.span()));
        }
    }
    out
}

/// Rewrites an expression into a task body: its lazy parts and the plain
/// variables it reads become the task's parameters.
struct Rewriter<'a> {
    a: &'a mut Analyzer,
    shadow: Vec<HashSet<String>>,
    parts: Vec<Part>,
    fresh: usize,
}

impl Rewriter<'_> {
    fn shadowed(&self, i: &Ident) -> bool {
        let n = i.to_string();
        self.shadow.iter().any(|s| s.contains(&n))
    }
    fn bind(&mut self, p: &syn::Pat) {
        let mut names = Vec::new();
        parse::pat_idents(p, &mut names);
        if let Some(top) = self.shadow.last_mut() {
            top.extend(names.iter().map(|n| n.to_string()));
        }
    }
    fn has(&self, i: &Ident) -> bool {
        self.parts.iter().any(|p| match p {
            Part::Lazy(n, _) | Part::Plain(n, _) => n == i,
        })
    }
    fn fresh(&mut self, span: Span) -> Ident {
        self.fresh += 1;
        format_ident!(
            "__tg_x{}",
            self.fresh,
            span = Span::mixed_site().located_at(span)
        )
    }
    /// A variable the expression reads, by its own name.
    fn name(&mut self, i: &Ident) {
        if self.shadowed(i) || self.has(i) {
            return;
        }
        match self.a.name_of(i) {
            Name::Lazy(VarKind::VecCandidate) => self.plain(i),
            Name::Lazy(_) => {
                let e: Expr = Expr::Path(syn::ExprPath {
                    attrs: Vec::new(),
                    qself: None,
                    path: i.clone().into(),
                });
                if let Some(v) = self.a.value(&e, false) {
                    self.parts.push(Part::Lazy(i.clone(), Box::new(v)));
                }
            }
            Name::Inside => self.plain(i),
            Name::Outside if is_var_like(i) => self.plain(i),
            Name::Outside => {}
        }
    }
    fn plain(&mut self, i: &Ident) {
        let e: Expr = syn::parse_quote_spanned!(i.span()=> ::core::clone::Clone::clone(&#i));
        self.parts.push(Part::Plain(i.clone(), e));
    }
    /// Replaces `e` (a lazy part that is not a name) with a fresh name.
    fn lazy_part(&mut self, e: &mut Expr, v: Value) {
        let n = self.fresh(e.span());
        self.parts.push(Part::Lazy(n.clone(), Box::new(v)));
        *e = syn::parse_quote!(#n);
    }
    fn tokens(&mut self, ts: &TokenStream) {
        let toks: Vec<TokenTree> = ts.clone().into_iter().collect();
        for (k, t) in toks.iter().enumerate() {
            match t {
                TokenTree::Ident(i) => {
                    let after_dot =
                        k > 0 && matches!(&toks[k - 1], TokenTree::Punct(p) if p.as_char() == '.');
                    let before_path = matches!(toks.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':' || p.as_char() == '!');
                    let named_arg = matches!(toks.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '=')
                        && !matches!(toks.get(k + 2), Some(TokenTree::Punct(p)) if p.as_char() == '=');
                    if !after_dot && !before_path && !named_arg && is_var_like(i) {
                        match self.a.name_of(i) {
                            Name::Outside => {}
                            _ => self.name(i),
                        }
                    }
                }
                TokenTree::Group(g) => self.tokens(&g.stream()),
                TokenTree::Literal(l) => {
                    for n in format_names(l) {
                        if !matches!(self.a.name_of(&n), Name::Outside) {
                            self.name(&n);
                        }
                    }
                }
                TokenTree::Punct(_) => {}
            }
        }
    }
}

impl VisitMut for Rewriter<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Path(p) if p.qself.is_none() => {
                if let Some(i) = p.path.get_ident().cloned() {
                    self.name(&i);
                }
            }
            Expr::Call(c) => {
                let closure = parse::as_ident(&c.func).is_some_and(|i| !self.shadowed(i))
                    && self.a.closure_of(&c.func).is_some();
                if let Expr::Path(p) = &*c.func {
                    if closure
                        || p.qself.is_none()
                            && (parse::is_tree_reduce(&p.path) || self.a.is_task_call(&p.path))
                            && self.a.mentions_lazy(&Expr::Call(c.clone()))
                    {
                        let call = e.clone();
                        if let Some(v) = self.a.value(&call, false) {
                            self.lazy_part(e, v);
                        }
                        return;
                    }
                }
                for a in &mut c.args {
                    self.visit_expr_mut(a);
                }
            }
            Expr::Index(i) => {
                let base_vec = parse::as_ident(&i.expr).is_some_and(|n| !self.shadowed(n))
                    && self.a.indexes_lazy_vec(&Expr::Index(i.clone()));
                if base_vec {
                    let ix = i.clone();
                    if let Some(v) = self.a.index_value(&ix) {
                        self.lazy_part(e, v);
                    }
                    return;
                }
                syn::visit_mut::visit_expr_mut(self, e);
            }
            Expr::MethodCall(_) if self.a.end_value_shape(e) => {
                let x = e.clone();
                if let Some(v) = self.a.end_value(&x) {
                    self.lazy_part(e, v);
                }
            }
            Expr::MethodCall(m)
                if (m.method == "len" || m.method == "is_empty")
                    && m.args.is_empty()
                    && self.a.plain_len_receiver(&m.receiver)
                    && base_ident(&m.receiver).is_some_and(|n| !self.shadowed(n)) =>
            {
                let n = self.fresh(m.span());
                let x = e.clone();
                self.parts.push(Part::Plain(n.clone(), x));
                *e = syn::parse_quote!(#n);
            }
            // `s.apply(a)` on a variable captured from outside the graph:
            // the task borrows `s` (the graph owns it for the whole run),
            // so a `&self` method needs no `Clone`.
            Expr::MethodCall(m)
                if parse::as_ident(&m.receiver).is_some_and(|n| {
                    !self.shadowed(n)
                        && !self.has(n)
                        && is_var_like(n)
                        && matches!(self.a.name_of(n), Name::Outside)
                }) =>
            {
                if let Some(n) = parse::as_ident(&m.receiver).cloned() {
                    let x: Expr = syn::parse_quote_spanned!(n.span()=> &#n);
                    self.parts.push(Part::Plain(n, x));
                }
                for a in &mut m.args {
                    self.visit_expr_mut(a);
                }
            }
            Expr::Closure(c) => {
                self.shadow.push(HashSet::new());
                for p in &c.inputs {
                    self.bind(p);
                }
                self.visit_expr_mut(&mut c.body);
                self.shadow.pop();
            }
            Expr::Macro(m) => {
                let ts = m.mac.tokens.clone();
                self.tokens(&ts);
            }
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }
    fn visit_block_mut(&mut self, b: &mut syn::Block) {
        self.shadow.push(HashSet::new());
        for s in &mut b.stmts {
            self.visit_stmt_mut(s);
        }
        self.shadow.pop();
    }
    fn visit_local_mut(&mut self, l: &mut syn::Local) {
        if let Some(init) = &mut l.init {
            self.visit_expr_mut(&mut init.expr);
        }
        self.bind(&l.pat);
    }
    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        self.shadow.push(HashSet::new());
        self.bind(&arm.pat);
        if let Some((_, g)) = &mut arm.guard {
            self.visit_expr_mut(g);
        }
        self.visit_expr_mut(&mut arm.body);
        self.shadow.pop();
    }
    fn visit_stmt_macro_mut(&mut self, m: &mut syn::StmtMacro) {
        let ts = m.mac.tokens.clone();
        self.tokens(&ts);
    }
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// The variable a receiver names: `v` in `v` and in `v[r]`.
fn base_ident(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Index(i) => parse::as_ident(&i.expr),
        e => parse::as_ident(e),
    }
}
