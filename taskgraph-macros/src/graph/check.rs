//! Rules that make a graph's shape independent of task results: lazy values
//! may not appear in plain code, and constructs the language does not
//! support yet are reported where they are written.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::visit::Visit;
use syn::{Expr, Ident};

use super::ir::VarKind;

/// Formats an error with a `help` line, in the style of rustc's own.
pub(crate) fn error(
    span: Span,
    msg: impl std::fmt::Display,
    help: impl std::fmt::Display,
) -> syn::Error {
    syn::Error::new(span, format!("{msg}\n\n= help: {help}"))
}

/// "`X` is not supported inside `graph!` yet".
pub(crate) fn unsupported(span: Span, what: &str, help: &str) -> syn::Error {
    error(
        span,
        format!("{what} is not supported inside `graph!` yet"),
        help,
    )
}

/// The error for a lazy variable used where a plain value is needed.
pub(crate) fn lazy_in_plain(name: &Ident, kind: VarKind) -> syn::Error {
    match kind {
        VarKind::LazyVec => error(
            name.span(),
            format!(
                "`{name}` is a vector of lazy values, so it cannot be used in plain code; \
                 only `{name}.len()` and `{name}.is_empty()` are plain"
            ),
            format!("pass `{name}` to a `#[delayed]` function that takes `Vec<T>` or `&[T]`"),
        ),
        _ => error(
            name.span(),
            format!(
                "`{name}` is a lazy value: it exists only when the graph runs, \
                 so it cannot be used in plain code"
            ),
            format!("do this work in a `#[delayed]` function and call it with `{name}`"),
        ),
    }
}

/// Finds lazy variables used in a plain expression, statement or macro.
pub(crate) struct LazyUses<'a> {
    lookup: &'a dyn Fn(&Ident) -> Option<VarKind>,
    shadowed: Vec<HashSet<String>>,
    pub found: Vec<(Ident, VarKind)>,
}

impl<'a> LazyUses<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&Ident) -> Option<VarKind>) -> Self {
        LazyUses {
            lookup,
            shadowed: Vec::new(),
            found: Vec::new(),
        }
    }

    fn check(&mut self, i: &Ident) {
        if self.shadowed.iter().any(|s| s.contains(&i.to_string())) {
            return;
        }
        if let Some(k) = (self.lookup)(i) {
            if k != VarKind::VecCandidate {
                self.found.push((i.clone(), k));
            }
        }
    }

    fn tokens(&mut self, ts: &TokenStream) {
        for tt in ts.clone() {
            match tt {
                TokenTree::Ident(i) => self.check(&i),
                TokenTree::Group(g) => self.tokens(&g.stream()),
                TokenTree::Literal(l) => self.format_args(&l),
                TokenTree::Punct(_) => {}
            }
        }
    }

    /// `format!("{x}")`: names captured inside a string literal.
    fn format_args(&mut self, lit: &proc_macro2::Literal) {
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
                self.check(&Ident::new(&i.to_string(), lit.span()));
            }
        }
    }
}

impl<'ast> Visit<'ast> for LazyUses<'_> {
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if let Some(i) = p.path.get_ident() {
            self.check(i);
        }
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let plain_len = (m.method == "len" || m.method == "is_empty") && m.args.is_empty();
        if plain_len {
            if let Some(i) = super::parse::as_ident(&m.receiver) {
                if (self.lookup)(i) == Some(VarKind::LazyVec) {
                    return;
                }
            }
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        let mut names = Vec::new();
        for p in &c.inputs {
            super::parse::pat_idents(p, &mut names);
        }
        self.shadowed
            .push(names.iter().map(|i| i.to_string()).collect());
        self.visit_expr(&c.body);
        self.shadowed.pop();
    }

    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.shadowed.push(HashSet::new());
        for s in &b.stmts {
            self.visit_stmt(s);
        }
        self.shadowed.pop();
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
            if let Some((_, e)) = &init.diverge {
                self.visit_expr(e);
            }
        }
        let mut names = Vec::new();
        super::parse::pat_idents(&l.pat, &mut names);
        if let Some(top) = self.shadowed.last_mut() {
            top.extend(names.iter().map(|i| i.to_string()));
        }
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(&m.tokens);
    }
}

/// Lazy variables used in `e`.
pub(crate) fn lazy_uses_in_expr(
    e: &Expr,
    lookup: &dyn Fn(&Ident) -> Option<VarKind>,
) -> Vec<(Ident, VarKind)> {
    let mut v = LazyUses::new(lookup);
    v.visit_expr(e);
    v.found
}
