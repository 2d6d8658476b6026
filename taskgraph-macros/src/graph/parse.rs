//! Syntax: reading the body of `graph!` and recognising the shapes the
//! language gives meaning to. Nothing here knows which names are lazy.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{Expr, ExprClosure, Ident, Pat, Path, Type};

/// The statements of `graph! { ... }`.
pub(crate) fn parse(input: TokenStream) -> syn::Result<Vec<syn::Stmt>> {
    syn::Block::parse_within.parse2(input)
}

/// Whether a call of `path` is a task call: a free function named in
/// lower case (`inc`, `math::inc`, `crate::ops::add::<T>`), as opposed to a
/// constructor or associated function (`Some`, `Vec::new`, `String::from`) or
/// a standard-library function (`std::cmp::max`).
pub(crate) fn is_task_path(path: &Path) -> bool {
    let Some(last) = path.segments.last() else {
        return false;
    };
    if !starts_lower(&last.ident) {
        return false;
    }
    let mut prefix = path.segments.iter().rev().skip(1);
    if let Some(first) = path.segments.first() {
        if path.segments.len() > 1
            && matches!(first.ident.to_string().as_str(), "std" | "core" | "alloc")
        {
            return false;
        }
    }
    prefix.all(|s| {
        let n = s.ident.to_string();
        matches!(n.as_str(), "crate" | "self" | "super") || starts_lower(&s.ident)
    })
}

/// Whether a name starts in lower case, as variables and functions do.
pub(crate) fn starts_lower(i: &Ident) -> bool {
    let s = i.to_string();
    let s = s.strip_prefix("r#").unwrap_or(&s);
    s.starts_with(|c: char| c.is_lowercase() || c == '_')
}

/// `tree_reduce(v, f)` or `taskdag::tree_reduce(v, f)`.
pub(crate) fn is_tree_reduce(path: &Path) -> bool {
    let n = path.segments.len();
    path.segments
        .last()
        .is_some_and(|s| s.ident == "tree_reduce")
        && (n == 1 || (n == 2 && path.segments[0].ident == "taskdag"))
}

/// `Vec::new()`, `Vec::with_capacity(n)`, `vec![]`.
pub(crate) fn is_vec_new(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => {
                let segs: Vec<String> = p
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect();
                let tail: Vec<&str> = segs.iter().rev().take(2).map(String::as_str).collect();
                tail.len() == 2 && tail[1] == "Vec" && matches!(tail[0], "new" | "with_capacity")
            }
            _ => false,
        },
        Expr::Macro(m) => m.mac.path.is_ident("vec") && m.mac.tokens.is_empty(),
        _ => false,
    }
}

/// `recv.map(|pat| body).collect()` (with or without a turbofish on `collect`).
pub(crate) fn as_map_collect(e: &Expr) -> Option<(&Expr, &ExprClosure)> {
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
    let Expr::Closure(c) = &map.args[0] else {
        return None;
    };
    if c.inputs.len() != 1 {
        return None;
    }
    Some((&map.receiver, c))
}

/// `x`, `mut x`, `x: T` as a `let` pattern.
pub(crate) fn simple_binding(
    pat: &Pat,
) -> Option<(Option<syn::Token![mut]>, &Ident, Option<&Type>)> {
    match pat {
        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
            Some((pi.mutability, &pi.ident, None))
        }
        Pat::Type(pt) => match simple_binding(&pt.pat)? {
            (m, i, None) => Some((m, i, Some(&*pt.ty))),
            _ => None,
        },
        _ => None,
    }
}

/// The single identifier an expression consists of, if any.
pub(crate) fn as_ident(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
        Expr::Paren(p) => as_ident(&p.expr),
        Expr::Group(g) => as_ident(&g.expr),
        _ => None,
    }
}

/// Every identifier a pattern binds.
pub(crate) fn pat_idents(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p.ident.clone());
            if let Some((_, s)) = &p.subpat {
                pat_idents(s, out);
            }
        }
        Pat::Type(p) => pat_idents(&p.pat, out),
        Pat::Tuple(p) => p.elems.iter().for_each(|p| pat_idents(p, out)),
        Pat::TupleStruct(p) => p.elems.iter().for_each(|p| pat_idents(p, out)),
        Pat::Struct(p) => p.fields.iter().for_each(|f| pat_idents(&f.pat, out)),
        Pat::Slice(p) => p.elems.iter().for_each(|p| pat_idents(p, out)),
        Pat::Reference(p) => pat_idents(&p.pat, out),
        Pat::Or(p) => p.cases.iter().for_each(|p| pat_idents(p, out)),
        Pat::Paren(p) => pat_idents(&p.pat, out),
        _ => {}
    }
}

/// The path without generic arguments on any segment.
pub(crate) fn strip_generics(path: &Path) -> Path {
    let mut p = path.clone();
    for s in &mut p.segments {
        s.arguments = syn::PathArguments::None;
    }
    p
}

/// The variable a place expression (`n`, `n.x`, `n[i]`, `(n)`) belongs to;
/// `None` through a dereference or a call.
pub(crate) fn place_root(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Field(f) => place_root(&f.base),
        Expr::Index(i) => place_root(&i.expr),
        Expr::Paren(p) => place_root(&p.expr),
        Expr::Group(g) => place_root(&g.expr),
        e => as_ident(e),
    }
}
