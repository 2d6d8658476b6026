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

enum Binding {
    Var(VarId),
    Plain,
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
    /// How many `Value::Source`s so far.
    sources: usize,
    pub errors: Vec<syn::Error>,
}

/// Analyses a whole `graph!` body, reporting mistakes to `cx`; `None` if
/// there were any. `end` is where a missing final expression is reported.
pub(crate) fn analyze(stmts_in: &[syn::Stmt], end: Span, cx: &Ctxt) -> Option<Graph> {
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
        sources: 0,
        errors: Vec::new(),
    };
    let (stmts, tail) = a.block(stmts_in, true);
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
    if !a.errors.is_empty() {
        cx.extend(a.errors);
        return None;
    }
    Some(Graph {
        stmts,
        tail,
        families: a.families,
        vars: a.vars,
        uses: a.uses,
        sources: a.sources,
    })
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
        for scope in self.scopes.iter().rev() {
            for (k, b) in scope.iter().rev() {
                if *k == n {
                    return match b {
                        Binding::Var(v) => Some(*v),
                        Binding::Plain => None,
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
        for scope in self.scopes.iter().rev() {
            for (k, b) in scope.iter().rev() {
                if *k == n {
                    return match b {
                        Binding::Var(v) if self.plain_vecs.contains(v) => Name::Inside,
                        Binding::Var(v) => Name::Lazy(self.vars[*v].kind),
                        Binding::Plain => Name::Inside,
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
            self.bind(&n, Binding::Plain);
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
        let lookup = |i: &Ident| self.name_of(i);
        let mut v = PlainCode::new(&lookup);
        match ctx {
            Some(c) => v.expr_in(e, c),
            None => v.visit_expr(e),
        }
        let found = std::mem::take(&mut v.errors);
        let n = found.len();
        self.errors.extend(found);
        n
    }

    fn check_plain_stmt(&mut self, s: &syn::Stmt) {
        use syn::visit::Visit;
        let lookup = |i: &Ident| self.name_of(i);
        let mut v = PlainCode::new(&lookup);
        v.visit_stmt(s);
        let found = std::mem::take(&mut v.errors);
        self.errors.extend(found);
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
        match s {
            syn::Stmt::Local(l) => self.local(l, s, out),
            syn::Stmt::Expr(e, _) => self.expr_stmt(e, s, out),
            syn::Stmt::Item(_) => out.push(Stmt::Plain(s.to_token_stream())),
            syn::Stmt::Macro(_) => {
                self.check_plain_stmt(s);
                out.push(Stmt::Plain(s.to_token_stream()));
            }
        }
    }

    fn local(&mut self, l: &syn::Local, s: &syn::Stmt, out: &mut Vec<Stmt>) {
        if let Some(init) = &l.init {
            if let (None, Some((m, name, ty))) = (&init.diverge, parse::simple_binding(&l.pat)) {
                if let Some(value) = self.value(&init.expr, false) {
                    let vec = matches!(value, Value::Collect { .. } | Value::VecVar { .. });
                    if let Value::Var { use_, .. } = &value {
                        // An alias: both names read one node, so neither is "used once".
                        let src = self.uses[*use_].var;
                        self.vars[src].aliased = true;
                    }
                    let var = self.new_var(if vec { VarKind::LazyVec } else { VarKind::Lazy });
                    if matches!(value, Value::Var { .. } | Value::VecVar { .. }) {
                        self.vars[var].aliased = true;
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
                        ty: ty.cloned(),
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
            } else if self.looks_lazy(&init.expr) {
                self.errors.push(error_spanned(
                    &l.pat,
                    "a lazy value cannot be destructured or matched: its parts exist only when the graph runs",
                    "bind it to a name (`let pair = f(..);`) and pass it to a `#[delayed]` function that takes it apart",
                ));
                self.bind_plain_pat(&l.pat);
                return;
            }
        }
        self.check_plain_stmt(s);
        self.bind_plain_pat(&l.pat);
        out.push(Stmt::Plain(s.to_token_stream()));
    }

    fn expr_stmt(&mut self, e: &Expr, s: &syn::Stmt, out: &mut Vec<Stmt>) {
        match e {
            Expr::ForLoop(f) => {
                let over = self.lazy_vec_iter(&f.expr);
                if over.is_none() {
                    self.check_plain_in(&f.expr, Some(Ctx::LoopBound));
                }
                if let Some(a) = f.attrs.first() {
                    self.errors.push(unsupported(a.span(), "an attribute on a `for` loop", "remove the attribute"));
                }
                self.depth += 1;
                let outer_block = self.block;
                self.block = self.blocks;
                self.blocks += 1;
                self.frames.push(Reserve::default());
                self.scopes.push(Vec::new());
                let (pat, iter) = match &over {
                    Some(v) => (self.bind_element(&f.pat), syn::parse_quote!(#v.iter())),
                    None => {
                        self.bind_plain_pat(&f.pat);
                        ((*f.pat).clone(), (*f.expr).clone())
                    }
                };
                let (body, _) = self.block(&f.body.stmts, false);
                self.scopes.pop();
                let reserve = self.frames.pop().unwrap_or_default();
                self.depth -= 1;
                self.block = outer_block;
                out.push(Stmt::For {
                    label: f.label.clone(),
                    pat,
                    iter,
                    body,
                    depth: self.depth + 1,
                    reserve,
                });
            }
            Expr::While(w) => {
                let kw = if matches!(*w.cond, Expr::Let(_)) { "while let" } else { "while" };
                if self.check_plain_in(&w.cond, Some(Ctx::Cond(kw))) == 0 {
                    self.errors.push(unsupported(
                        w.while_token.span,
                        &format!("`{kw}`"),
                        "use a `for` loop over a range computed before the loop",
                    ));
                }
            }
            Expr::Loop(l) => self.errors.push(unsupported(
                l.loop_token.span,
                "`loop`",
                "use a `for` loop over a range computed before the loop",
            )),
            Expr::If(i) => {
                let kw = if matches!(*i.cond, Expr::Let(_)) { "if let" } else { "if" };
                if self.check_plain_in(&i.cond, Some(Ctx::Cond(kw))) == 0 {
                    self.errors.push(unsupported(
                        i.if_token.span,
                        &format!("`{kw}`"),
                        "decide before `graph!` which graph to build, or pass the condition to a `#[delayed]` function",
                    ));
                }
            }
            Expr::Match(m) => {
                if self.check_plain_in(&m.expr, Some(Ctx::Cond("match"))) == 0 {
                    self.errors.push(unsupported(
                        m.match_token.span,
                        "`match`",
                        "decide before `graph!` which graph to build, or match inside a `#[delayed]` function",
                    ));
                }
            }
            Expr::Block(b) => self.errors.push(unsupported(
                b.block.brace_token.span.open(),
                "a block",
                "write its statements directly inside `graph!`; a task is a call of a `#[delayed]` function",
            )),
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
                        if let Some(var) = parse::as_ident(&m.receiver).and_then(|i| self.lookup(i)) {
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
            Name::Lazy(VarKind::LazyVec) => self.errors.push(unsupported(
                a.eq_token.span,
                "assigning to a vector of lazy values",
                "build a new vector with `let`",
            )),
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
                    method: m.method.clone(),
                    value,
                });
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
            Expr::Call(c) => match &*c.func {
                Expr::Path(p) if p.qself.is_none() => {
                    parse::is_tree_reduce(&p.path) || self.is_task_call(&p.path)
                }
                _ => false,
            },
            Expr::Path(_) => parse::as_ident(e)
                .and_then(|i| self.kind_of(i))
                .is_some_and(|k| k != VarKind::VecCandidate),
            Expr::MethodCall(_) => {
                parse::as_map_collect(e).is_some_and(|(_, c)| self.body_looks_lazy(&c.body))
            }
            Expr::Try(t) => self.looks_lazy(&t.expr),
            Expr::Reference(r) => self.looks_lazy(&r.expr),
            Expr::Index(i) => self.looks_lazy(&i.expr),
            Expr::Tuple(t) => t.elems.iter().any(|e| self.looks_lazy(e)),
            _ => false,
        }
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
            Expr::Call(c) => {
                let Expr::Path(p) = &*c.func else { return None };
                if p.qself.is_some() {
                    return None;
                }
                if parse::is_tree_reduce(&p.path) {
                    Some(self.reduce(c))
                } else if self.is_task_call(&p.path) {
                    Some(self.call(c, &p.path))
                } else {
                    if c.args.iter().any(|a| self.looks_lazy(a)) {
                        self.errors.push(check::not_delayed(&p.path));
                        return Some(Value::Error);
                    }
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
                }
            }
            Expr::MethodCall(_) => {
                let (recv, closure) = parse::as_map_collect(e)?;
                if !self.body_looks_lazy(&closure.body) {
                    return None;
                }
                Some(self.collect(recv, closure, e.span()))
            }
            Expr::Try(t) if self.looks_lazy(&t.expr) => {
                self.errors.push(unsupported(
                    t.question_token.span,
                    "`?`",
                    "return the `Result` from the task and handle it in the task that consumes it",
                ));
                Some(Value::Error)
            }
            Expr::Index(i) if self.looks_lazy(&i.expr) => {
                self.errors
                    .push(check::lazy_index(i.bracket_token.span.join()));
                Some(Value::Error)
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
            _ => None,
        }
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
                });
                lazy += 1;
                args.push(Arg::Lazy(v));
            } else {
                self.check_plain_expr(a);
                params.push(Param {
                    span: a.span(),
                    kind: ParamKind::Plain { slot: plain },
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
        });
        self.families.len() - 1
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
            Some(v @ (Value::VecVar { .. } | Value::Collect { .. })) => v,
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
        let span = f.span();
        let params = (0..2)
            .map(|slot| Param {
                span,
                kind: ParamKind::Lazy {
                    slot,
                    once: Once::No,
                },
            })
            .collect();
        let fam = self.new_family(&f, span, params);
        self.families[fam].reduce = true;
        Value::Reduce {
            fam,
            vec: Box::new(vec),
        }
    }

    /// A plain vector where a vector of lazy values is expected (a `Vec<T>`,
    /// a slice, a spawned graph's `Handle`): read as lazy values when the
    /// graph is built (`Scope::source_vec`, whose trait bound reports a type
    /// that is none of these).
    fn source(&mut self, e: &Expr) -> Value {
        self.check_plain_expr(e);
        if self.depth > 0 {
            self.errors.push(error_spanned(
                e,
                "`tree_reduce` inside a loop must reduce a vector of lazy values made in the graph; a vector from outside the graph is read once",
                "reduce it before the loop: `let total = tree_reduce(values, f);`",
            ));
            return Value::Error;
        }
        self.sources += 1;
        Value::Source {
            expr: e.clone(),
            index: self.sources - 1,
        }
    }

    fn collect(&mut self, recv: &Expr, closure: &ExprClosure, span: Span) -> Value {
        let over = self.lazy_vec_iter(recv);
        if over.is_none() {
            self.check_plain_expr(recv);
        }
        self.depth += 1;
        let outer_block = self.block;
        self.block = self.blocks;
        self.blocks += 1;
        self.frames.push(Reserve::default());
        self.scopes.push(Vec::new());
        let (pat, recv) = match &over {
            Some(v) => (
                self.bind_element(&closure.inputs[0]),
                syn::parse_quote!(#v.iter()),
            ),
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
        self.scopes.pop();
        let reserve = self.frames.pop().unwrap_or_default();
        self.depth -= 1;
        self.block = outer_block;
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

    /// `v`, `&v`, `v.iter()`, `v.into_iter()` or `v.iter().copied()` over a
    /// vector of lazy values: the loop variable is then lazy.
    fn lazy_vec_iter(&self, e: &Expr) -> Option<Ident> {
        match e {
            Expr::Paren(p) => self.lazy_vec_iter(&p.expr),
            Expr::Reference(r) if r.mutability.is_none() => self.lazy_vec_iter(&r.expr),
            Expr::MethodCall(m)
                if m.args.is_empty()
                    && ["iter", "into_iter", "copied", "cloned"]
                        .iter()
                        .any(|n| m.method == n) =>
            {
                self.lazy_vec_iter(&m.receiver)
            }
            _ => parse::as_ident(e)
                .filter(|i| self.kind_of(i) == Some(VarKind::LazyVec))
                .cloned(),
        }
    }

    /// Binds the element pattern of a loop over a lazy vector: `x` or `&x`.
    fn bind_element(&mut self, pat: &syn::Pat) -> syn::Pat {
        let inner = match pat {
            syn::Pat::Reference(r) => &*r.pat,
            p => p,
        };
        match parse::simple_binding(inner) {
            Some((_, name, None)) => {
                let var = self.new_var(VarKind::Lazy);
                // The vector holds the same node: never "used once".
                self.vars[var].aliased = true;
                self.bind(name, Binding::Var(var));
                syn::Pat::Ident(syn::PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident: name.clone(),
                    subpat: None,
                })
            }
            _ => {
                self.errors.push(error_spanned(
                    pat,
                    "the elements of a vector of lazy values can only be bound to a name",
                    "write `for x in v.iter()` or `.map(|x| ...)`",
                ));
                self.bind_plain_pat(pat);
                pat.clone()
            }
        }
    }

    fn tail(&mut self, e: &Expr) -> Value {
        match e {
            Expr::Paren(p) => self.tail(&p.expr),
            Expr::Tuple(t) if !t.elems.is_empty() => {
                Value::Tuple(t.elems.iter().map(|e| self.tail(e)).collect())
            }
            _ => match self.value(e, true) {
                Some(v) => v,
                None if self.check_plain_in(e, None) > 0 => Value::Error,
                None => {
                    self.errors.push(error_spanned(
                        e,
                        "the final expression of `graph!` must be a lazy value, a tuple of them, or a `Vec` of them; this one is plain",
                        "end the graph with the result of a `#[delayed]` call, e.g. `add(x, y)`; plain values can be computed outside `graph!`",
                    ));
                    Value::Error
                }
            },
        }
    }
}
