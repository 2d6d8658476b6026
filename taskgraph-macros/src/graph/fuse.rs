//! Fusion: recognising graphs that can run as plain loops instead of node by
//! node, and emitting that code. The node-by-node expansion is always emitted
//! too; the runtime picks one (`RuntimeBuilder::fuse_loops`).
//!
//! Recognised shapes (anything else runs node by node):
//!
//! - *map*: plain statements, then one `for pat in a..b` (or `a..=b`) whose
//!   body is a chain of task calls — each call reads the previous call's
//!   output, the first reads none — ending in `v.push(last)` onto a vector
//!   created before the loop; or the same chain as
//!   `let v: Vec<_> = (a..b).map(|pat| ...).collect();`. The graph ends with
//!   `tree_reduce(v, f)`, a task call taking `v` as its only lazy argument,
//!   or `v` itself.
//! - *chain*: plain statements, `let mut s = f(plain..);`, then
//!   `for pat in a..b { s = g(.., s, ..); }`, ending with `s`.
//!
//! Within one iteration the tasks depend on each other in sequence, so
//! running them in order on one thread loses no parallelism; iterations are
//! split over the pool by `Fused` in the runtime.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::{Expr, Ident, Pat, Type};

use super::ir::*;
use crate::paths::{self, private, temp};

/// A fusable graph, borrowed from its IR.
pub(crate) enum Plan<'a> {
    Map {
        before: Vec<&'a Stmt>,
        range: &'a Expr,
        pat: &'a Pat,
        body: Vec<Link<'a>>,
        end: End<'a>,
    },
    Chain {
        before: Vec<&'a Stmt>,
        var: &'a Ident,
        ty: Option<&'a Type>,
        first: (FamId, &'a [Arg]),
        range: &'a Expr,
        pat: &'a Pat,
        step: (FamId, &'a [Arg]),
    },
}

/// One task of an iteration's chain: `let name = fam(args);`. A call nested
/// in another's arguments becomes a link of its own, with a made-up name.
pub(crate) struct Link<'a> {
    name: Option<Ident>,
    ty: Option<&'a Type>,
    fam: FamId,
    args: &'a [Arg],
    /// For each argument, the link (or variable) a lazy one reads.
    inputs: Vec<Option<Ident>>,
}

/// What consumes the loop's values.
pub(crate) enum End<'a> {
    Reduce(FamId),
    Gather { fam: FamId, args: &'a [Arg] },
    Output,
}

/// The plan for `g`, if its shape is one fusion handles.
pub(crate) fn plan(g: &Graph) -> Option<Plan<'_>> {
    let (last, before) = g.stmts.split_last()?;
    if before
        .iter()
        .any(|s| !matches!(s, Stmt::Plain(_) | Stmt::VecLocal { .. } | Stmt::Let { .. }))
    {
        return None;
    }
    match last {
        Stmt::For {
            label: None,
            pat,
            iter,
            body,
            ..
        } => {
            let range = as_range(iter)?;
            if let Some(p) = chain_plan(g, before, range, pat, body) {
                return Some(p);
            }
            let (Stmt::Push { vec, method, value }, lets) = body.split_last()? else {
                return None;
            };
            if method != "push" {
                return None;
            }
            // The vector must be made right here, empty, and filled only by this loop.
            let pos = before.iter().position(
                |s| matches!(s, Stmt::VecLocal { pat, .. } if pat_name(pat) == Some(vec)),
            )?;
            if !before[pos + 1..]
                .iter()
                .all(|s| matches!(s, Stmt::Plain(_)))
                || !plain_before(&before[..pos])
            {
                return None;
            }
            let body = links(g, lets, Some(value))?;
            let end = end(g, vec)?;
            let before = before
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != pos)
                .map(|(_, s)| s)
                .collect();
            Some(Plan::Map {
                before,
                range,
                pat,
                body,
                end,
            })
        }
        Stmt::Let {
            name,
            value:
                Value::Collect {
                    recv,
                    pat,
                    stmts,
                    tail,
                    ..
                },
            vec: true,
            ty,
            ..
        } => {
            if !plain_before(before) || ty.as_ref().is_some_and(|t| !is_vec_infer(t)) {
                return None;
            }
            let range = as_range(recv)?;
            let body = links(g, stmts, Some(tail))?;
            let end = end(g, name)?;
            Some(Plan::Map {
                before: before.iter().collect(),
                range,
                pat,
                body,
                end,
            })
        }
        _ => None,
    }
}

fn plain_before(s: &[Stmt]) -> bool {
    s.iter().all(|s| matches!(s, Stmt::Plain(_)))
}

fn is_vec_infer(t: &Type) -> bool {
    matches!(t, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Vec"))
}

fn pat_name(p: &Pat) -> Option<&Ident> {
    match p {
        Pat::Ident(i) => Some(&i.ident),
        Pat::Type(t) => pat_name(&t.pat),
        _ => None,
    }
}

/// `a..b` or `a..=b`, with both ends.
fn as_range(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::Paren(p) => as_range(&p.expr),
        Expr::Range(r) if r.start.is_some() && r.end.is_some() => Some(e),
        _ => None,
    }
}

fn lazy_vars(args: &[Arg]) -> Option<Vec<&Ident>> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Arg::Plain(_) => {}
            Arg::Lazy(Value::Var { name, .. }) => out.push(name),
            Arg::Lazy(_) => return None,
        }
    }
    Some(out)
}

/// An iteration body: lazy `let`s of calls, each reading the previous one,
/// then the pushed (or collected) value, which must be the last call.
fn links<'a>(g: &'a Graph, lets: &'a [Stmt], pushed: Option<&'a Value>) -> Option<Vec<Link<'a>>> {
    let mut out: Vec<Link<'a>> = Vec::new();
    for s in lets {
        let Stmt::Let {
            mutability: None,
            name,
            ty,
            value: Value::Call { fam, args },
            vec: false,
        } = s
        else {
            return None;
        };
        if out.iter().any(|l| l.name.as_ref() == Some(name)) {
            return None;
        }
        flatten(g, *fam, args, Some(name.clone()), ty.as_ref(), &mut out)?;
    }
    match pushed? {
        Value::Var { name, .. } if out.last().is_some_and(|l| l.name.as_ref() == Some(name)) => {}
        Value::Call { fam, args } => flatten(g, *fam, args, None, None, &mut out)?,
        _ => return None,
    }
    for (k, l) in out.iter().enumerate() {
        let reads: Vec<&Ident> = l.inputs.iter().flatten().collect();
        // Every lazy argument is an earlier link of this iteration...
        if !reads
            .iter()
            .all(|v| out[..k].iter().any(|p| p.name.as_ref() == Some(*v)))
        {
            return None;
        }
        // ...and the previous link is one of them: a chain, no parallelism lost.
        if k > 0 && !reads.iter().any(|v| out[k - 1].name.as_ref() == Some(*v)) {
            return None;
        }
        if g.families[l.fam].params.len() != l.args.len() {
            return None;
        }
    }
    Some(out)
}

/// Adds the links of one call, its nested calls first.
fn flatten<'a>(
    g: &'a Graph,
    fam: FamId,
    args: &'a [Arg],
    name: Option<Ident>,
    ty: Option<&'a Type>,
    out: &mut Vec<Link<'a>>,
) -> Option<()> {
    let mut inputs = Vec::new();
    for a in args {
        match a {
            Arg::Plain(_) => inputs.push(None),
            Arg::Lazy(Value::Var { name, .. }) => inputs.push(Some(name.clone())),
            Arg::Lazy(Value::Call {
                fam: inner,
                args: inner_args,
            }) => {
                let anon = temp(&format!("__tg_n{}", out.len()), g.families[*inner].span);
                flatten(g, *inner, inner_args, Some(anon.clone()), None, out)?;
                inputs.push(Some(anon));
            }
            Arg::Lazy(_) => return None,
        }
    }
    out.push(Link {
        name,
        ty,
        fam,
        args,
        inputs,
    });
    Some(())
}

fn end<'a>(g: &'a Graph, vec: &Ident) -> Option<End<'a>> {
    let is_vec = |v: &Value| matches!(v, Value::VecVar { name, .. } if name == vec);
    match &g.tail {
        Value::Reduce { fam, vec: v } if is_vec(v) => Some(End::Reduce(*fam)),
        Value::VecVar { name, .. } if name == vec => Some(End::Output),
        Value::Call { fam, args } => {
            let mut lazy = args.iter().filter(|a| matches!(a, Arg::Lazy(_)));
            match (lazy.next(), lazy.next()) {
                (Some(Arg::Lazy(v)), None) if is_vec(v) => Some(End::Gather { fam: *fam, args }),
                _ => None,
            }
        }
        _ => None,
    }
}

fn chain_plan<'a>(
    g: &'a Graph,
    before: &'a [Stmt],
    range: &'a Expr,
    pat: &'a Pat,
    body: &'a [Stmt],
) -> Option<Plan<'a>> {
    let [Stmt::Assign {
        name,
        value: Value::Call {
            fam: step,
            args: step_args,
        },
    }] = body
    else {
        return None;
    };
    let (
        Stmt::Let {
            mutability: Some(_),
            name: var,
            ty,
            value:
                Value::Call {
                    fam: first,
                    args: first_args,
                },
            vec: false,
        },
        plain,
    ) = before.split_last()?
    else {
        return None;
    };
    if var != name || !plain_before(plain) {
        return None;
    }
    if !matches!(&g.tail, Value::Var { name, .. } if name == var) {
        return None;
    }
    if !lazy_vars(first_args)?.is_empty() || lazy_vars(step_args)? != [var] {
        return None;
    }
    Some(Plan::Chain {
        before: plain.iter().collect(),
        var,
        ty: ty.as_ref(),
        first: (*first, first_args),
        range,
        pat,
        step: (*step, step_args),
    })
}

/// Emits the fused branch. `plain` emits a plain statement; it is the same
/// code the node-by-node branch uses.
pub(crate) fn expand(
    g: &Graph,
    plan: &Plan<'_>,
    scope: &Ident,
    plain: impl Fn(&Stmt) -> TokenStream,
) -> TokenStream {
    let fx = temp("__tg_fx", Span::call_site());
    let range = temp("__tg_range", Span::call_site());
    let len = temp("__tg_len", Span::call_site());
    let k = temp("__tg_k", Span::call_site());
    let fr = private("FusedRange", Span::call_site());
    let e = Emit { g, fx: &fx };
    match plan {
        Plan::Map {
            before,
            range: r,
            pat,
            body,
            end,
        } => {
            let before = before.iter().map(|s| plain(s));
            let leaf = e.chain(body, &k);
            let leaf = quote! {
                |#k: usize| {
                    let #pat = #fr::fused_at(#range, #k);
                    #leaf
                }
            };
            let run = match end {
                End::Output => quote!(#fx.map(#len, #leaf)),
                End::Reduce(f) => {
                    let (a, b, lv, lp) = (
                        temp("__tg_ra", Span::call_site()),
                        temp("__tg_rb", Span::call_site()),
                        temp("__tg_lv", Span::call_site()),
                        temp("__tg_lp", Span::call_site()),
                    );
                    let fam = &g.families[*f];
                    // The arguments are spanned at the function, like the
                    // node-by-node code's, so a type error reads the same
                    // (and rustc reports it once).
                    let sp = fam.span;
                    let (v0, v1) = (Ident::new("__tg_v0", sp), Ident::new("__tg_v1", sp));
                    let m0 = e.mode(*f, 0, sp);
                    let m1 = e.mode(*f, 1, sp);
                    let info = info(fam);
                    let callee = &fam.callee;
                    let arg0 = quote_spanned!(sp=> #v0.arg());
                    let arg1 = quote_spanned!(sp=> #v1.arg());
                    let call = quote_spanned!(sp=> #callee(#arg0, #arg1));
                    // Every token at the function, so the expression has its span.
                    let fx_at = temp("__tg_fx", sp);
                    let task = quote_spanned!(sp=> #fx_at.call(#info, [#lv, #lp], move || #call));
                    let combine = quote_spanned! {sp=>
                        |#a, #b, #lv: u32, #lp: u32| {
                            let #v0 = #m0.take(#a);
                            let #v1 = #m1.take(#b);
                            #task
                        }
                    };
                    quote!(#fx.reduce(#len, #leaf, #combine))
                }
                End::Gather { fam: f, args } => {
                    let vec = temp("__tg_vec", Span::call_site());
                    let inputs = lazy_inputs(args, || (quote!(#vec), true));
                    let call = e.call(*f, args, quote!([]), &inputs);
                    quote! {{
                        let #vec = #fx.map(#len, #leaf);
                        #call
                    }}
                }
            };
            let empty = match end {
                End::Reduce(f) => {
                    let info = info(&g.families[*f]);
                    let err = private("empty_reduce", Span::call_site());
                    quote!(if #len == 0 { return ::core::result::Result::Err(#err(#info)); })
                }
                _ => quote!(),
            };
            // `return`, spanned at the graph's consumer: if the graph has a
            // type error, this branch's type disagrees at that token, not
            // over the whole macro.
            let at = end_span(g, end);
            let ret = quote_spanned!(at=> return #scope.fused(|#fx| #run););
            quote! {
                #(#before)*
                let #range = &(#r);
                let #len = #fr::fused_len(#range);
                #empty
                #ret
            }
        }
        Plan::Chain {
            before,
            var,
            ty,
            first,
            range: r,
            pat,
            step,
        } => {
            let before = before.iter().map(|s| plain(s));
            let ty = ty.map(|t| quote!(: #t));
            let first = e.call(
                first.0,
                first.1,
                quote!([]),
                &lazy_inputs(first.1, || unreachable!()),
            );
            let inputs = lazy_inputs(step.1, || (var.to_token_stream(), true));
            let step = e.call(step.0, step.1, quote!([#k as u32]), &inputs);
            let at = var.span();
            let ret = quote_spanned!(at=> return);
            quote! {
                #(#before)*
                let #range = &(#r);
                let #len = #fr::fused_len(#range);
                #ret #scope.fused_sequential(|#fx| {
                    let mut #var #ty = #first;
                    for #k in 0..#len {
                        let #pat = #fr::fused_at(#range, #k);
                        #var = #step;
                    }
                    #var
                });
            }
        }
    }
}

/// `input()` for every lazy argument (there is one lazy value in play).
fn lazy_inputs(
    args: &[Arg],
    input: impl Fn() -> (TokenStream, bool),
) -> Vec<Option<(TokenStream, bool)>> {
    args.iter()
        .map(|a| matches!(a, Arg::Lazy(_)).then(&input))
        .collect()
}

/// Where the loop's values are consumed.
fn end_span(g: &Graph, end: &End<'_>) -> Span {
    match end {
        End::Reduce(f) | End::Gather { fam: f, .. } => g.families[*f].span,
        End::Output => match &g.tail {
            Value::VecVar { name, .. } => name.span(),
            _ => Span::call_site(),
        },
    }
}

struct Emit<'a> {
    g: &'a Graph,
    fx: &'a Ident,
}

fn info(f: &Family) -> TokenStream {
    let fname = &f.name;
    let info = private("FamilyInfo", f.span);
    let (line, column) = super::expand::line_column(f.span);
    quote_spanned! {f.span=>
        &#info { name: #fname, file: ::core::file!(), line: #line, column: #column }
    }
}

impl Emit<'_> {
    /// `companion::__TG_Pi`, named at the function, as in the node-by-node code.
    fn mode(&self, fam: FamId, i: usize, span: Span) -> TokenStream {
        let companion = &self.g.families[fam].companion;
        let mode = paths::param_mode(i, span);
        quote!(<#companion>::#mode)
    }

    /// The statements of one iteration, ending with its value.
    fn chain(&self, body: &[Link<'_>], k: &Ident) -> TokenStream {
        let mut out = TokenStream::new();
        for (i, l) in body.iter().enumerate() {
            // A value is moved at its last use in the iteration, shared before.
            let inputs: Vec<_> = l
                .inputs
                .iter()
                .map(|input| {
                    input.as_ref().map(|name| {
                        let last = !body[i + 1..]
                            .iter()
                            .any(|m| m.inputs.iter().flatten().any(|n| n == name));
                        (name.to_token_stream(), last)
                    })
                })
                .collect();
            let call = self.call(l.fam, l.args, quote!([#k as u32]), &inputs);
            match &l.name {
                Some(n) => {
                    let ty = l.ty.map(|t| quote!(: #t));
                    out.extend(quote!(let #n #ty = #call;));
                }
                None => out.extend(call),
            }
        }
        if let Some(Link { name: Some(n), .. }) = body.last() {
            out.extend(n.to_token_stream());
        }
        out
    }

    /// `{ let args..; fx.call(info, at, move || callee(args..)) }`. For each
    /// lazy argument, `inputs` gives the value to pass and whether this is its
    /// last use (then it is moved, else shared).
    fn call(
        &self,
        fam: FamId,
        args: &[Arg],
        at: TokenStream,
        inputs: &[Option<(TokenStream, bool)>],
    ) -> TokenStream {
        let f = &self.g.families[fam];
        let fx = self.fx;
        let mut temps = Vec::new();
        let mut vals = Vec::new();
        for (i, ((a, p), input)) in args.iter().zip(&f.params).zip(inputs).enumerate() {
            // Spanned at the argument with the user's hygiene, as in the
            // node-by-node code, so a type error is reported once, there.
            let t = Ident::new(&format!("__tg_v{i}"), p.span);
            match (a, input) {
                (Arg::Lazy(_), Some((src, moved))) => {
                    let mode = self.mode(fam, i, p.span);
                    let m = Ident::new(&format!("__tg_m{i}"), p.span);
                    let take = if *moved {
                        quote_spanned!(p.span=> #m.take(#src))
                    } else {
                        quote_spanned!(p.span=> #m.share(&#src))
                    };
                    temps.push(quote!(let #m = #mode; let #t = #take;));
                    vals.push(quote_spanned!(p.span=> #t.arg()));
                }
                (Arg::Plain(e), _) => {
                    temps.push(quote!(let #t = #e;));
                    vals.push(t.to_token_stream());
                }
                (Arg::Lazy(_), None) => unreachable!("fusion plans name every lazy input"),
            }
        }
        let info = info(f);
        let callee = &f.callee;
        let call = quote_spanned!(f.span=> #callee(#(#vals),*));
        quote! {{
            #(#temps)*
            #fx.call(#info, #at, move || #call)
        }}
    }
}
