//! Rules that make a graph's shape independent of task results: lazy values
//! may not appear in plain code, captured variables are not mutated, and
//! constructs the language does not support yet are reported where they are
//! written. Every message has the same shape: what is wrong, in the user's
//! syntax, then a `help` line saying what to write instead.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::Visit;
use syn::{Expr, Ident};

use super::ir::VarKind;
use super::parse;

pub(crate) use crate::diag::{error, error_spanned};

/// "`X` is not supported inside `graph!` yet".
pub(crate) fn unsupported(span: Span, what: &str, help: &str) -> syn::Error {
    error(
        span,
        format!("{what} is not supported inside `graph!` yet"),
        help,
    )
}

/// As [`unsupported`], spanning every token of `tokens`.
pub(crate) fn unsupported_spanned(tokens: impl ToTokens, what: &str, help: &str) -> syn::Error {
    error_spanned(
        tokens,
        format!("{what} is not supported inside `graph!` yet"),
        help,
    )
}

/// A path as the user wrote it, for messages: `String :: from` → `String::from`.
pub(crate) fn show(tokens: impl ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}

/// What a name refers to at a point of the graph.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Name {
    /// A lazy variable (or a vector being filled with lazy values).
    Lazy(VarKind),
    /// A plain variable bound inside `graph!`.
    Inside,
    /// Not bound inside `graph!`: captured from the enclosing scope (or an
    /// item, or not defined at all).
    Outside,
}

/// Where a lazy variable was used in plain code: decides the message.
#[derive(Clone, Debug)]
pub(crate) enum Ctx {
    Plain,
    Operand(String),
    Deref,
    Method(String),
    MethodArg(String),
    Macro(String),
    Field(String),
    Index,
    Indexed,
    Cast,
    Struct,
    Tuple,
    Array,
    VecMacro,
    Closure,
    Borrow,
    Cond(&'static str),
    LoopBound,
    Return,
    Break,
    Assign,
}

impl Ctx {
    /// The end of "`x` is a lazy value: ..., so it cannot ___".
    fn what(&self) -> String {
        match self {
            Ctx::Plain => "be used in plain code".into(),
            Ctx::Operand(op) => format!("be an operand of `{op}`"),
            Ctx::Deref => "be dereferenced with `*`".into(),
            Ctx::Method(m) => format!("have `.{m}()` called on it"),
            Ctx::MethodArg(m) => format!("be an argument of `.{m}()`"),
            Ctx::Macro(m) => format!("be used in `{m}!`"),
            Ctx::Field(f) => format!("have its field `.{f}` read"),
            Ctx::Index => "be used as an index".into(),
            Ctx::Indexed => "be indexed".into(),
            Ctx::Cast => "be converted with `as`".into(),
            Ctx::Struct => "be stored in a struct".into(),
            Ctx::Tuple => "be stored in a tuple".into(),
            Ctx::Array => "be stored in an array".into(),
            Ctx::VecMacro => "be stored with `vec![..]`".into(),
            Ctx::Closure => "be captured by a closure".into(),
            Ctx::Borrow => "be borrowed with `&`".into(),
            Ctx::Cond(kw) => {
                let a = if kw.starts_with('i') { "an" } else { "a" };
                format!("decide {a} `{kw}`; the graph's shape cannot depend on a task's result")
            }
            Ctx::LoopBound => {
                "bound a loop; the graph's shape cannot depend on a task's result".into()
            }
            Ctx::Return => "leave `graph!` with `return`".into(),
            Ctx::Break => "leave a loop with `break`".into(),
            Ctx::Assign => "be assigned to a plain variable".into(),
        }
    }

    /// The `help` line for a lazy variable `x` used here.
    fn help(&self, x: &Ident) -> String {
        match self {
            Ctx::Cond(_) | Ctx::LoopBound => format!(
                "decide with plain values known before the graph runs, or inside a `#[delayed]` function that takes `{x}`"
            ),
            Ctx::Struct => format!("build the struct inside a `#[delayed]` function that takes `{x}`"),
            Ctx::Tuple | Ctx::Array | Ctx::VecMacro => format!(
                "keep lazy values in variables, or collect them in a vector: `let mut v = Vec::new(); v.push({x});`"
            ),
            Ctx::Closure => format!(
                "bind the closure with `let f = |..| ..;` and call it (it is inlined where it is called), or call `#[delayed]` functions with `{x}` directly"
            ),
            Ctx::Borrow => format!(
                "pass `{x}` itself: a `#[delayed]` parameter of type `&T` borrows its argument"
            ),
            Ctx::Return => format!(
                "the graph's result is its final expression: end `graph!` with `{x}`, without `return`"
            ),
            Ctx::Break => format!(
                "push `{x}` onto a vector declared before the loop, and pass the vector on"
            ),
            Ctx::Assign => format!("bind it to a new name instead: `let y = {x};`"),
            Ctx::Deref => format!(
                "write `{x}` without `*`: a lazy value, or an element of a vector of them, is passed to `#[delayed]` functions as it is"
            ),
            Ctx::Method(m) if m == "clone" => format!(
                "pass `{x}` to each `#[delayed]` function that needs it: each receives a clone (`T`) or a borrow (`&T`)"
            ),
            _ => format!("do this work in a `#[delayed]` function and call it with `{x}`"),
        }
    }
}

/// The error for a lazy variable used where a plain value is needed.
pub(crate) fn lazy_use(name: &Ident, kind: VarKind, ctx: &Ctx) -> syn::Error {
    match kind {
        VarKind::LazyVec => error(
            name.span(),
            format!(
                "`{name}` is a vector of lazy values: they exist only when the graph runs, so it cannot {}",
                ctx.what()
            ),
            format!(
                "pass `{name}` to a `#[delayed]` function that takes `Vec<T>` or `&[T]`; \
                 only `{name}.len()` and `{name}.is_empty()` are plain"
            ),
        ),
        _ => error(
            name.span(),
            format!(
                "`{name}` is a lazy value: it exists only when the graph runs, so it cannot {}",
                ctx.what()
            ),
            ctx.help(name),
        ),
    }
}

/// A lazy value passed to a function that is not `#[delayed]`.
pub(crate) fn not_delayed(callee: impl ToTokens) -> syn::Error {
    let name = show(&callee);
    error_spanned(
        callee,
        format!("`{name}` is not a `#[delayed]` function, so it cannot take a lazy value"),
        "only `#[delayed]` functions take lazy values: do this work in a `#[delayed]` function and call that",
    )
}

/// Indexing a vector of lazy values (`v[i]`).
pub(crate) fn lazy_index(brackets: Span) -> syn::Error {
    unsupported(
        brackets,
        "indexing a vector of lazy values",
        "pass the whole vector to a `#[delayed]` function, or keep the values in separate variables",
    )
}

/// `n += 1` on a variable captured from outside `graph!`.
pub(crate) fn captured_mutation(name: &Ident) -> syn::Error {
    error(
        name.span(),
        format!("`{name}` is captured from outside `graph!`, so it cannot be changed inside it"),
        format!(
            "`graph!` captures outer variables like a `move` closure; to change a copy, \
             bind one inside first: `let mut {name} = {name};`"
        ),
    )
}

/// `break`, `continue`, `return` at the level of the graph's statements.
pub(crate) fn control_flow(tokens: impl ToTokens, what: &str) -> syn::Error {
    let help = if what == "`return`" {
        "the graph's result is its final expression: end `graph!` with it, without `return`"
    } else {
        "loop over exactly the values you need, e.g. `for i in 0..k` or `.take(k)`"
    };
    unsupported_spanned(tokens, what, help)
}

/// Checks plain code (an expression or statement the graph runs as written
/// when it is instantiated): finds lazy variables, mutations of captured
/// variables, and unsupported constructs.
pub(crate) struct PlainCode<'a> {
    lookup: &'a dyn Fn(&Ident) -> Name,
    /// Names bound inside the plain code itself (closure parameters, `let`s
    /// in blocks, patterns), innermost last.
    shadowed: Vec<HashSet<String>>,
    /// A context that overrides the local one for a whole subtree (the
    /// condition of an `if`, a closure body).
    sub: Option<Ctx>,
    closures: usize,
    loops: usize,
    pub errors: Vec<syn::Error>,
    /// Captured variables read as plain data (`x[i]`, `x.len()`,
    /// `x.iter()`): checked not to be a spawned graph's `Handle`.
    pub reads: Vec<Ident>,
}

impl<'a> PlainCode<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&Ident) -> Name) -> Self {
        PlainCode {
            lookup,
            shadowed: vec![HashSet::new()],
            sub: None,
            closures: 0,
            loops: 0,
            errors: Vec::new(),
            reads: Vec::new(),
        }
    }

    /// Code inside `loops` loops of the graph, where `break` and
    /// `continue` may go.
    pub(crate) fn in_loops(mut self, loops: usize) -> Self {
        self.loops = loops;
        self
    }

    /// Checks `e` with every lazy variable in it reported in context `ctx`.
    pub(crate) fn expr_in(&mut self, e: &Expr, ctx: Ctx) {
        let old = self.sub.replace(ctx);
        self.visit_expr(e);
        self.sub = old;
    }

    fn is_shadowed(&self, i: &Ident) -> bool {
        let n = i.to_string();
        self.shadowed.iter().any(|s| s.contains(&n))
    }

    fn lazy(&self, i: &Ident) -> Option<VarKind> {
        if self.is_shadowed(i) {
            return None;
        }
        match (self.lookup)(i) {
            Name::Lazy(k) if k != VarKind::VecCandidate => Some(k),
            _ => None,
        }
    }

    fn bind_pat(&mut self, pat: &syn::Pat) {
        let mut names = Vec::new();
        parse::pat_idents(pat, &mut names);
        if let Some(top) = self.shadowed.last_mut() {
            top.extend(names.iter().map(|i| i.to_string()));
        }
    }

    fn name(&mut self, i: &Ident, ctx: Ctx) {
        if let Some(k) = self.lazy(i) {
            let ctx = self.sub.clone().unwrap_or(ctx);
            self.errors.push(lazy_use(i, k, &ctx));
        }
    }

    /// A direct operand: a lazy variable here is reported with `ctx`.
    fn operand(&mut self, e: &Expr, ctx: Ctx) {
        match parse::as_ident(e) {
            Some(i) => self.name(i, ctx),
            None => self.visit_expr(e),
        }
    }

    fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        self.shadowed.push(HashSet::new());
        f(self);
        self.shadowed.pop();
    }

    /// `x` in `x[i]`, `x.len()`, ...: a captured variable read as data.
    pub(crate) fn read_captured(&mut self, e: &Expr) {
        if let Some(i) = parse::as_ident(e) {
            if !self.is_shadowed(i) && parse::starts_lower(i) && (self.lookup)(i) == Name::Outside {
                self.reads.push(i.clone());
            }
        }
    }

    /// `place = ..` or `place op= ..`: a captured variable may not change.
    fn assigned(&mut self, place: &Expr) {
        if let Some(root) = parse::place_root(place) {
            if !self.is_shadowed(root)
                && parse::starts_lower(root)
                && (self.lookup)(root) == Name::Outside
            {
                self.errors.push(captured_mutation(root));
            }
        }
    }

    fn tokens(&mut self, ts: &TokenStream, ctx: &Ctx) {
        for tt in ts.clone() {
            match tt {
                TokenTree::Ident(i) => self.name(&i, ctx.clone()),
                TokenTree::Group(g) => self.tokens(&g.stream(), ctx),
                TokenTree::Literal(l) => self.format_args(&l, ctx),
                TokenTree::Punct(_) => {}
            }
        }
    }

    /// `format!("{x}")`: names captured inside a string literal.
    fn format_args(&mut self, lit: &proc_macro2::Literal, ctx: &Ctx) {
        let Ok(syn::Lit::Str(s)) = syn::parse_str::<syn::Lit>(&lit.to_string()) else {
            return;
        };
        let v = s.value();
        let mut rest = v.as_str();
        while let Some(open) = rest.find('{') {
            rest = &rest[open + 1..];
            if rest.starts_with('{') {
                rest = &rest[1..];
                continue;
            }
            let end = rest.find(['}', ':']).unwrap_or(rest.len());
            let name = &rest[..end];
            if let Ok(i) = syn::parse_str::<Ident>(name) {
                self.name(&Ident::new(&i.to_string(), lit.span()), ctx.clone());
            }
        }
    }
}

impl<'ast> Visit<'ast> for PlainCode<'_> {
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if let Some(i) = p.path.get_ident() {
            self.name(i, Ctx::Plain);
        }
    }

    fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
        let op = b.op.to_token_stream().to_string();
        if op.len() >= 2 && op.ends_with('=') && !matches!(op.as_str(), "==" | "!=" | "<=" | ">=") {
            self.assigned(&b.left);
        }
        self.operand(&b.left, Ctx::Operand(op.clone()));
        self.operand(&b.right, Ctx::Operand(op));
    }

    fn visit_expr_unary(&mut self, u: &'ast syn::ExprUnary) {
        let ctx = match u.op {
            syn::UnOp::Deref(_) => Ctx::Deref,
            op => Ctx::Operand(op.to_token_stream().to_string()),
        };
        self.operand(&u.expr, ctx);
    }

    fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
        self.assigned(&a.left);
        self.operand(&a.left, Ctx::Assign);
        self.operand(&a.right, Ctx::Assign);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let name = m.method.to_string();
        if matches!(
            name.as_str(),
            "len"
                | "is_empty"
                | "iter"
                | "to_vec"
                | "first"
                | "last"
                | "get"
                | "windows"
                | "chunks"
        ) {
            self.read_captured(&m.receiver);
        }
        let plain_len = (name == "len" || name == "is_empty") && m.args.is_empty();
        // `v.len()`, `rows.len()` and `rows[r].len()` are plain.
        let vec_recv = match &*m.receiver {
            Expr::Index(i) if !matches!(&*i.index, Expr::Range(_)) => {
                parse::as_ident(&i.expr).is_some_and(|v| self.lazy(v) == Some(VarKind::Rows))
            }
            r => parse::as_ident(r)
                .is_some_and(|i| matches!(self.lazy(i), Some(VarKind::LazyVec | VarKind::Rows))),
        };
        if plain_len && vec_recv {
            if let Expr::Index(i) = &*m.receiver {
                self.operand(&i.index, Ctx::Index);
            }
        }
        if !(plain_len && vec_recv) {
            self.operand(&m.receiver, Ctx::Method(name.clone()));
        }
        for a in &m.args {
            self.operand(a, Ctx::MethodArg(name.clone()));
        }
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        let callee = match &*c.func {
            Expr::Path(p) if p.qself.is_none() => Some(&p.path),
            _ => None,
        };
        let lazy_arg = c
            .args
            .iter()
            .filter_map(parse::as_ident)
            .any(|i| self.lazy(i).is_some());
        match callee {
            Some(path) if lazy_arg && self.sub.is_none() => {
                let local = path
                    .get_ident()
                    .is_some_and(|i| self.is_shadowed(i) || (self.lookup)(i) != Name::Outside);
                if (parse::is_task_path(path) && !local) || parse::is_tree_reduce(path) {
                    self.errors.push(unsupported_spanned(
                        c,
                        "a task call inside a plain expression",
                        "bind the task's result first, e.g. `let y = f(x);`, and use `y`",
                    ));
                } else {
                    self.errors.push(not_delayed(path));
                }
                for a in &c.args {
                    if parse::as_ident(a).is_none() {
                        self.visit_expr(a);
                    }
                }
            }
            _ => {
                self.visit_expr(&c.func);
                for a in &c.args {
                    self.operand(a, Ctx::Plain);
                }
            }
        }
    }

    fn visit_expr_field(&mut self, f: &'ast syn::ExprField) {
        let member = match &f.member {
            syn::Member::Named(i) => i.to_string(),
            syn::Member::Unnamed(i) => i.index.to_string(),
        };
        self.operand(&f.base, Ctx::Field(member));
    }

    fn visit_expr_index(&mut self, i: &'ast syn::ExprIndex) {
        self.read_captured(&i.expr);
        match parse::as_ident(&i.expr) {
            Some(v) if self.lazy(v) == Some(VarKind::LazyVec) && self.sub.is_none() => {
                self.errors.push(lazy_index(i.bracket_token.span.join()));
            }
            _ => self.operand(&i.expr, Ctx::Indexed),
        }
        self.operand(&i.index, Ctx::Index);
    }

    fn visit_expr_cast(&mut self, c: &'ast syn::ExprCast) {
        self.operand(&c.expr, Ctx::Cast);
    }

    fn visit_expr_struct(&mut self, s: &'ast syn::ExprStruct) {
        for f in &s.fields {
            self.operand(&f.expr, Ctx::Struct);
        }
        if let Some(rest) = &s.rest {
            self.operand(rest, Ctx::Struct);
        }
    }

    fn visit_expr_tuple(&mut self, t: &'ast syn::ExprTuple) {
        for e in &t.elems {
            self.operand(e, Ctx::Tuple);
        }
    }

    fn visit_expr_array(&mut self, a: &'ast syn::ExprArray) {
        for e in &a.elems {
            self.operand(e, Ctx::Array);
        }
    }

    fn visit_expr_repeat(&mut self, r: &'ast syn::ExprRepeat) {
        self.operand(&r.expr, Ctx::Array);
        self.visit_expr(&r.len);
    }

    fn visit_expr_reference(&mut self, r: &'ast syn::ExprReference) {
        self.operand(&r.expr, Ctx::Borrow);
    }

    fn visit_expr_if(&mut self, i: &'ast syn::ExprIf) {
        let kw = if matches!(*i.cond, Expr::Let(_)) {
            "if let"
        } else {
            "if"
        };
        self.scoped(|me| {
            let old = me.sub.replace(Ctx::Cond(kw));
            me.visit_expr(&i.cond);
            me.sub = old;
            me.visit_block(&i.then_branch);
        });
        if let Some((_, e)) = &i.else_branch {
            self.visit_expr(e);
        }
    }

    fn visit_expr_let(&mut self, l: &'ast syn::ExprLet) {
        self.visit_expr(&l.expr);
        self.bind_pat(&l.pat);
    }

    fn visit_expr_match(&mut self, m: &'ast syn::ExprMatch) {
        let old = self.sub.replace(Ctx::Cond("match"));
        self.visit_expr(&m.expr);
        self.sub = old;
        for arm in &m.arms {
            self.scoped(|me| {
                me.bind_pat(&arm.pat);
                if let Some((_, g)) = &arm.guard {
                    me.visit_expr(g);
                }
                me.visit_expr(&arm.body);
            });
        }
    }

    fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
        self.scoped(|me| {
            let kw = if matches!(*w.cond, Expr::Let(_)) {
                "while let"
            } else {
                "while"
            };
            let old = me.sub.replace(Ctx::Cond(kw));
            me.visit_expr(&w.cond);
            me.sub = old;
            me.loops += 1;
            me.visit_block(&w.body);
            me.loops -= 1;
        });
    }

    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        let old = self.sub.replace(Ctx::LoopBound);
        self.visit_expr(&f.expr);
        self.sub = old;
        self.scoped(|me| {
            me.bind_pat(&f.pat);
            me.loops += 1;
            me.visit_block(&f.body);
            me.loops -= 1;
        });
    }

    fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
        self.loops += 1;
        self.visit_block(&l.body);
        self.loops -= 1;
    }

    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        self.scoped(|me| {
            for p in &c.inputs {
                me.bind_pat(p);
            }
            let old = me.sub.replace(Ctx::Closure);
            let loops = std::mem::replace(&mut me.loops, 0);
            me.closures += 1;
            me.visit_expr(&c.body);
            me.closures -= 1;
            me.loops = loops;
            me.sub = old;
        });
    }

    fn visit_expr_async(&mut self, a: &'ast syn::ExprAsync) {
        self.errors.push(unsupported(
            a.async_token.span,
            "an `async` block",
            "call a `#[delayed]` function that blocks instead",
        ));
    }

    fn visit_expr_return(&mut self, r: &'ast syn::ExprReturn) {
        if self.closures > 0 {
            if let Some(e) = &r.expr {
                self.visit_expr(e);
            }
            return;
        }
        match r.expr.as_deref().and_then(parse::as_ident) {
            Some(i) if self.lazy(i).is_some() => self.name(i, Ctx::Return),
            _ => {
                self.errors.push(control_flow(r.return_token, "`return`"));
                if let Some(e) = &r.expr {
                    self.visit_expr(e);
                }
            }
        }
    }

    fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
        if self.closures == 0 && self.loops == 0 {
            match b.expr.as_deref().and_then(parse::as_ident) {
                Some(i) if self.lazy(i).is_some() => return self.name(i, Ctx::Break),
                _ => self.errors.push(control_flow(
                    {
                        let (t, l) = (b.break_token, &b.label);
                        quote::quote!(#t #l)
                    },
                    if b.label.is_some() {
                        "a labeled `break`"
                    } else {
                        "`break`"
                    },
                )),
            }
        }
        if let Some(e) = &b.expr {
            self.operand(e, Ctx::Break);
        }
    }

    fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
        if self.closures == 0 && self.loops == 0 {
            self.errors.push(control_flow(
                {
                    let (t, l) = (c.continue_token, &c.label);
                    quote::quote!(#t #l)
                },
                if c.label.is_some() {
                    "a labeled `continue`"
                } else {
                    "`continue`"
                },
            ));
        }
    }

    fn visit_expr_try(&mut self, t: &'ast syn::ExprTry) {
        // The length check `whiletree.rs` puts before an unguarded tree.
        if self.closures == 0 && !super::whiletree::is_unpaired(&t.expr) {
            self.errors.push(unsupported(
                t.question_token.span,
                "`?`",
                "handle the error before `graph!`, or inside a `#[delayed]` function",
            ));
        }
        self.visit_expr(&t.expr);
    }

    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.scoped(|me| {
            for s in &b.stmts {
                me.visit_stmt(s);
            }
        });
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
            if let Some((_, e)) = &init.diverge {
                self.visit_expr(e);
            }
        }
        self.bind_pat(&l.pat);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {
        // Items cannot see the graph's variables.
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        let name = m
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let ctx = if name == "vec" {
            Ctx::VecMacro
        } else {
            Ctx::Macro(name)
        };
        self.tokens(&m.tokens, &ctx);
    }
}

/// Every `loop { .. }` in the graph with no `break` that leaves it: it
/// would never end, and the graph would never be built.
pub(crate) fn endless_loops(stmts: &[syn::Stmt]) -> Vec<syn::Error> {
    let mut f = EndlessLoops { errors: Vec::new() };
    for s in stmts {
        f.visit_stmt(s);
    }
    f.errors
}

struct EndlessLoops {
    errors: Vec<syn::Error>,
}

impl<'ast> Visit<'ast> for EndlessLoops {
    fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
        let mut b = Breaks {
            label: l.label.as_ref().map(|l| l.name.ident.to_string()),
            depth: 0,
            found: false,
        };
        b.visit_block(&l.body);
        if !b.found {
            self.errors.push(error(
                l.loop_token.span,
                "this `loop` has no `break`, so it never ends, and the graph would never be built",
                "leave it with `break` when a plain condition holds (`if k == n { break; }`), or loop a known number of times with `for k in 0..n`",
            ));
        }
        syn::visit::visit_expr_loop(self, l);
    }
    // A closure's loops are its own plain code.
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// Finds a `break` that leaves the loop being checked: unlabelled outside
/// any inner loop, or naming its label.
struct Breaks {
    label: Option<String>,
    depth: usize,
    found: bool,
}

impl Breaks {
    fn inner(&mut self, f: impl FnOnce(&mut Self)) {
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }
}

impl<'ast> Visit<'ast> for Breaks {
    fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
        match &b.label {
            None if self.depth == 0 => self.found = true,
            Some(l) if self.label.as_deref() == Some(&l.ident.to_string()) => self.found = true,
            _ => {}
        }
        syn::visit::visit_expr_break(self, b);
    }
    fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
        self.inner(|me| syn::visit::visit_expr_loop(me, l));
    }
    fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
        self.visit_expr(&w.cond);
        self.inner(|me| me.visit_block(&w.body));
    }
    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        self.inner(|me| me.visit_block(&f.body));
    }
    // A `break` in a closure or an item leaves nothing here.
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}
