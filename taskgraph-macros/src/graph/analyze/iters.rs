//! Loops and `.map(..)` over vectors of lazy values: `v`, `v.iter()`,
//! `v.iter().enumerate()`, `a.iter().zip(b)` (either side may be plain),
//! `v.chunks(k)`, `v.windows(k)`, and the adaptors that keep the items
//! (`.skip(n)`, `.step_by(k)`, `.take(n)`, `.rev()`) with plain arguments:
//! the length of a lazy vector is plain, so all of these are. The loop
//! variables bound to elements are lazy; a chunk or window is a vector of
//! lazy values; indices and plain sides stay plain.

use syn::{Expr, Ident, Pat};

use super::super::check::{error_spanned, Ctx};
use super::super::ir::*;
use super::super::parse;
use super::{Analyzer, Binding};

/// Where a loop's items come from.
pub(super) enum Src {
    /// The elements of a lazy vector.
    Elems(Ident),
    /// `v.chunks(k)` or `v.windows(k)` (the method).
    Chunks(Ident, Ident, Expr),
    /// The rows of a vector of vectors of lazy values.
    Rows(Ident),
    /// `.skip(n)`, `.step_by(k)`, `.take(n)`, `.rev()`: the same items,
    /// fewer or in another order (the method and its plain arguments).
    Adapt(Box<Src>, Ident, Vec<Expr>),
    /// `.enumerate()`.
    Enumerate(Box<Src>),
    /// `.zip(..)`.
    Zip(Box<Src>, Box<Src>),
    /// A plain iterator.
    Plain(Expr),
}

impl Src {
    fn lazy(&self) -> bool {
        match self {
            Src::Elems(_) | Src::Chunks(..) | Src::Rows(_) => true,
            Src::Enumerate(s) | Src::Adapt(s, ..) => s.lazy(),
            Src::Zip(a, b) => a.lazy() || b.lazy(),
            Src::Plain(_) => false,
        }
    }

    /// The iterator the generated code loops over.
    pub(super) fn iter(&self) -> Expr {
        match self {
            Src::Elems(v) => syn::parse_quote!(#v.iter()),
            Src::Chunks(v, m, k) => syn::parse_quote!(#v.#m(#k)),
            Src::Rows(v) => syn::parse_quote!(#v.iter().cloned()),
            Src::Adapt(s, m, args) => {
                let s = s.iter();
                syn::parse_quote!(::core::iter::Iterator::#m(#s #(, #args)*))
            }
            Src::Enumerate(s) => {
                let s = s.iter();
                syn::parse_quote!(::core::iter::Iterator::enumerate(#s))
            }
            Src::Zip(a, b) => {
                let (a, b) = (a.iter(), b.iter());
                syn::parse_quote!(::core::iter::Iterator::zip(#a, #b))
            }
            Src::Plain(e) => e.clone(),
        }
    }
}

impl Analyzer {
    /// What `e` iterates over, if any of it is lazy.
    pub(super) fn lazy_iter(&self, e: &Expr) -> Option<Src> {
        let s = self.src(e);
        s.lazy().then_some(s)
    }

    fn src(&self, e: &Expr) -> Src {
        match e {
            Expr::Paren(p) => self.src(&p.expr),
            Expr::Reference(r) if r.mutability.is_none() => match self.src(&r.expr) {
                Src::Plain(_) => Src::Plain(e.clone()),
                s => s,
            },
            Expr::MethodCall(m) if m.args.is_empty() && is_pass_through(&m.method) => {
                match self.src(&m.receiver) {
                    Src::Plain(_) => Src::Plain(e.clone()),
                    s => s,
                }
            }
            Expr::MethodCall(m) if m.args.is_empty() && m.method == "enumerate" => {
                match self.src(&m.receiver) {
                    Src::Plain(_) => Src::Plain(e.clone()),
                    s => Src::Enumerate(Box::new(s)),
                }
            }
            Expr::MethodCall(m) if m.args.len() == 1 && m.method == "zip" => {
                let (a, b) = (self.src(&m.receiver), self.src(&m.args[0]));
                if a.lazy() || b.lazy() {
                    Src::Zip(Box::new(a), Box::new(b))
                } else {
                    Src::Plain(e.clone())
                }
            }
            Expr::MethodCall(m) if is_adaptor(&m.method, m.args.len()) => {
                match self.src(&m.receiver) {
                    Src::Plain(_) => Src::Plain(e.clone()),
                    s => Src::Adapt(
                        Box::new(s),
                        m.method.clone(),
                        m.args.iter().cloned().collect(),
                    ),
                }
            }
            Expr::MethodCall(m)
                if m.args.len() == 1 && (m.method == "chunks" || m.method == "windows") =>
            {
                match parse::as_ident(&m.receiver) {
                    Some(v) if self.kind_of(v) == Some(VarKind::LazyVec) => {
                        Src::Chunks(v.clone(), m.method.clone(), m.args[0].clone())
                    }
                    _ => Src::Plain(e.clone()),
                }
            }
            _ => match parse::as_ident(e) {
                Some(v) if self.kind_of(v) == Some(VarKind::LazyVec) => Src::Elems(v.clone()),
                Some(v) if self.kind_of(v) == Some(VarKind::Rows) => Src::Rows(v.clone()),
                _ => Src::Plain(e.clone()),
            },
        }
    }

    /// Checks the plain parts of a loop's source.
    pub(super) fn check_src(&mut self, s: &Src) {
        match s {
            Src::Elems(_) | Src::Rows(_) => {}
            Src::Chunks(_, _, k) => {
                self.check_plain_in(k, Some(Ctx::LoopBound));
            }
            Src::Adapt(s, _, args) => {
                self.check_src(s);
                for a in args {
                    self.check_plain_in(a, Some(Ctx::LoopBound));
                }
            }
            Src::Enumerate(s) => self.check_src(s),
            Src::Zip(a, b) => {
                self.check_src(a);
                self.check_src(b);
            }
            Src::Plain(e) => {
                self.check_plain_in(e, Some(Ctx::LoopBound));
            }
        }
    }

    /// Binds a loop pattern to the items of `s`; returns the pattern the
    /// generated loop uses.
    pub(super) fn bind_src_pat(&mut self, pat: &Pat, s: &Src) -> Pat {
        match s {
            Src::Elems(_) => self.bind_element(pat),
            Src::Adapt(s, ..) => self.bind_src_pat(pat, s),
            Src::Chunks(..) | Src::Rows(_) => match parse::simple_binding(strip_ref(pat)) {
                Some((_, name, None)) => {
                    let var = self.new_var(VarKind::LazyVec);
                    self.vars[var].aliased = true;
                    self.vars[var].borrowed_elems = true;
                    self.bind(name, Binding::Var(var));
                    syn::parse_quote!(#name)
                }
                _ => self.pattern_error(
                    pat,
                    "a chunk or window of a vector of lazy values can only be bound to a name",
                ),
            },
            Src::Enumerate(inner) => match strip_ref(pat) {
                Pat::Tuple(t) if t.elems.len() == 2 => {
                    self.bind_plain_pat(&t.elems[0]);
                    let i = &t.elems[0];
                    let x = self.bind_src_pat(&t.elems[1], inner);
                    syn::parse_quote!((#i, #x))
                }
                _ => self.pattern_error(
                    pat,
                    "the items of `.enumerate()` are pairs: bind them as `(i, x)`",
                ),
            },
            Src::Zip(a, b) => match strip_ref(pat) {
                Pat::Tuple(t) if t.elems.len() == 2 => {
                    let x = self.bind_src_pat(&t.elems[0], a);
                    let y = self.bind_src_pat(&t.elems[1], b);
                    syn::parse_quote!((#x, #y))
                }
                _ => self.pattern_error(
                    pat,
                    "the items of `.zip(..)` are pairs: bind them as `(x, y)`",
                ),
            },
            Src::Plain(_) => {
                self.bind_plain_pat(pat);
                pat.clone()
            }
        }
    }

    fn pattern_error(&mut self, pat: &Pat, what: &str) -> Pat {
        self.errors.push(error_spanned(
            pat,
            what,
            "write `for x in v.iter()`, `for (i, x) in v.iter().enumerate()` or `for (x, y) in a.iter().zip(b.iter())`",
        ));
        self.bind_plain_pat(pat);
        pat.clone()
    }

    /// Binds the element pattern of a loop over a lazy vector: `x` or `&x`.
    pub(super) fn bind_element(&mut self, pat: &Pat) -> Pat {
        match parse::simple_binding(strip_ref(pat)) {
            Some((_, name, None)) => {
                let var = self.new_var(VarKind::Lazy);
                // The vector holds the same node: never "used once".
                self.vars[var].aliased = true;
                self.bind(name, Binding::Var(var));
                syn::parse_quote!(#name)
            }
            _ => self.pattern_error(
                pat,
                "the elements of a vector of lazy values can only be bound to a name",
            ),
        }
    }
}

/// Adaptors that keep the items and take plain arguments: `.skip(n)`,
/// `.step_by(k)`, `.take(n)`, `.rev()`.
fn is_adaptor(m: &Ident, args: usize) -> bool {
    (args == 1 && (m == "skip" || m == "step_by" || m == "take")) || (args == 0 && m == "rev")
}

/// Adaptors that keep the items: `iter`, `into_iter`, `copied`, `cloned`.
fn is_pass_through(m: &Ident) -> bool {
    ["iter", "into_iter", "copied", "cloned"]
        .iter()
        .any(|n| m == n)
}

fn strip_ref(p: &Pat) -> &Pat {
    match p {
        Pat::Reference(r) => &r.pat,
        Pat::Paren(p) => strip_ref(&p.pat),
        p => p,
    }
}

/// `recv.map(f).collect()` with `f` a path: `recv.map(|x| f(x)).collect()`.
pub(super) fn map_path_to_closure(e: &Expr) -> Option<Expr> {
    let Expr::MethodCall(collect) = e else {
        return None;
    };
    if collect.method != "collect" || !collect.args.is_empty() {
        return None;
    }
    let Expr::MethodCall(map) = &*collect.receiver else {
        return None;
    };
    if map.method != "map" || map.args.len() != 1 {
        return None;
    }
    let Expr::Path(f) = &map.args[0] else {
        return None;
    };
    let recv = &map.receiver;
    let turbofish = &collect.turbofish;
    let x = Ident::new("__tg_item", proc_macro2::Span::mixed_site());
    Some(syn::parse_quote!(#recv.map(|#x| #f(#x)).collect #turbofish ()))
}
