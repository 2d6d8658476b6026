//! IR → tokens. Assumes a valid IR.
//!
//! The graph becomes one closure. Its first half is the user's code with each
//! task call replaced by `family.push(..)`, which records a node and returns a
//! handle; it runs once, when the graph is computed (instantiation). Its
//! second half is the `match` that runs one node of any family, and the call
//! that hands both to the runtime. Code size is linear in call sites.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::{GenericArgument, Ident, PathArguments, Type};

use super::ir::*;
use crate::paths::{self, private, temp};

struct Ctx<'a> {
    g: &'a Graph,
    cx: Ident,
}

pub(crate) fn expand(g: &Graph) -> TokenStream {
    let span = Span::call_site();
    let scope = temp("__tg_scope", span);
    let c = Ctx {
        g,
        cx: temp("__tg_cx", span),
    };
    let fam_decls = g.families.iter().enumerate().map(|(i, f)| {
        let name = fam_ident(g, i);
        let fname = &f.name;
        let info = private("FamilyInfo", f.span);
        let (line, column) = line_column(f.span);
        quote_spanned! {f.span=>
            let mut #name = #scope.family(&#info {
                name: #fname,
                file: ::core::file!(),
                line: #line,
                column: #column,
            });
        }
    });
    let stmts = g.stmts.iter().map(|s| c.stmt(s));
    let tail = c.value(&g.tail);
    let out = temp("__tg_out", span);
    let run = temp("__tg_run", span);
    let t = temp("__tg_t", span);
    let cxi = &c.cx;
    let arms = g.families.iter().enumerate().map(|(i, f)| c.arm(i, f, &t));
    let unknown = private("unknown_family", span);
    let fams = temp("__tg_fams", span);
    let fam_refs = (0..g.families.len()).map(|i| {
        let f = fam_ident(g, i);
        quote_spanned!(g.families[i].span=> &#f)
    });
    let n = g.families.len();
    let erased = private("ErasedFamily", span);
    let graph_fn = private("GraphFn", span);
    let (probe, prelude) = (&g.probe, &g.prelude);
    // Spanned at the final expression: if the graph has a type error that
    // makes the fused branch disagree with this one, rustc says so there.
    let execute = quote_spanned!(tail_span(g)=> #scope.execute(&#fams, #out, &#run));
    let nodes = quote! {
        #(#fam_decls)*
        #(#stmts)*
        let #out = #tail;
        let #run = #scope.dispatcher(|#t, #cxi| match #t.family() {
            #(#arms)*
            _ => #unknown(),
        });
        let #fams: [&dyn #erased<'_>; #n] = [#(#fam_refs),*];
        #execute
    };
    let body = match super::fuse::plan(g) {
        Some(plan) => {
            let fused = super::fuse::expand(g, &plan, &scope, |s| c.stmt(s));
            quote! {
                if #scope.fusion() {
                    #fused
                }
                #nodes
            }
        }
        None => nodes,
    };
    // The blocks are spanned at the final expression too: their type is the
    // graph's output type.
    let inner = quote_spanned!(tail_span(g)=> { #prelude #body });
    let outer = quote_spanned!(tail_span(g)=> { #probe #inner });
    quote! {
        #graph_fn::new(move |#scope| #outer)
    }
}

/// The tokens of the graph's final expression, for errors about its type.
fn tail_span(g: &Graph) -> Span {
    match &g.tail {
        Value::Call { fam, .. } | Value::Reduce { fam, .. } => g.families[*fam].span,
        Value::Var { name, .. } | Value::VecVar { name, .. } => name.span(),
        Value::Collect { span, .. } => *span,
        Value::Tuple(_) | Value::Error => Span::call_site(),
    }
}

/// The error placeholder: a graph of the right shape that never runs.
pub(crate) fn placeholder() -> TokenStream {
    let p = private("placeholder", Span::call_site());
    quote!(#p())
}

/// The variable holding family `i`, located at its call so that errors about
/// the family's types (say, an output that is not `Send`) point there.
fn fam_ident(g: &Graph, i: usize) -> Ident {
    temp(&format!("__tg_f{i}"), g.families[i].span)
}

fn loop_ident(d: usize) -> Ident {
    temp(&format!("__tg_l{d}"), Span::call_site())
}

/// The call site's line and column when the compiler can tell them, else
/// those of the `graph!` invocation.
pub(crate) fn line_column(span: Span) -> (TokenStream, TokenStream) {
    if proc_macro_available() {
        let s = span.unwrap();
        let (l, c) = (s.line() as u32, s.column() as u32);
        (quote!(#l), quote!(#c))
    } else {
        (quote!(::core::line!()), quote!(::core::column!()))
    }
}

fn proc_macro_available() -> bool {
    // `proc_macro::is_available` is only true inside a running proc macro;
    // unit tests of the expansion run outside one.
    std::panic::catch_unwind(proc_macro::is_available).unwrap_or(false)
}

impl Ctx<'_> {
    fn once(&self, once: Once) -> bool {
        match once {
            Once::Yes => true,
            Once::No => false,
            Once::Use(u) => self.g.vars[self.g.uses[u].var].used_once(u, &self.g.uses),
        }
    }

    fn loop_index(&self, depth: usize, span: Span) -> TokenStream {
        let ls = (0..depth).map(loop_ident);
        quote_spanned!(span=> [#(#ls as u32),*])
    }

    fn stmt(&self, s: &Stmt) -> TokenStream {
        match s {
            Stmt::Plain(ts) => ts.clone(),
            Stmt::VecLocal {
                attrs,
                pat,
                ty,
                init,
                var,
            } => {
                let lazy = self.g.vars[*var].kind == VarKind::LazyVec;
                let ty = ty.as_ref().map(|t| {
                    let t = if lazy {
                        lazy_vec_type(t)
                    } else {
                        t.to_token_stream()
                    };
                    quote!(: #t)
                });
                let pat = match pat {
                    syn::Pat::Type(pt) => pt.pat.to_token_stream(),
                    p => p.to_token_stream(),
                };
                quote!(#attrs let #pat #ty = #init;)
            }
            Stmt::Let {
                mutability,
                name,
                ty,
                value,
                vec,
            } => {
                let ty = ty.as_ref().map(|t| {
                    let t = if *vec { lazy_vec_type(t) } else { lazy_type(t) };
                    quote!(: #t)
                });
                let v = self.value(value);
                quote!(let #mutability #name #ty = #v;)
            }
            Stmt::Assign { name, value } => {
                let v = self.value(value);
                quote!(#name = #v;)
            }
            Stmt::Push { vec, method, value } => {
                let v = self.value(value);
                quote!(#vec.#method(#v);)
            }
            Stmt::Eval(value) => {
                let v = self.value(value);
                quote!(let _ = #v;)
            }
            Stmt::For {
                label,
                pat,
                iter,
                body,
                depth,
                reserve,
            } => {
                let it = temp("__tg_it", Span::call_site());
                let n = temp("__tg_n", Span::call_site());
                let l = loop_ident(depth - 1);
                let reserves = self.reserves(reserve, &n);
                let body = body.iter().map(|s| self.stmt(s));
                let iter = strip_parens(iter);
                quote! {
                    {
                        let #it = ::core::iter::IntoIterator::into_iter(#iter);
                        let #n = ::core::iter::Iterator::size_hint(&#it).0;
                        #reserves
                        #label for (#l, #pat) in ::core::iter::Iterator::enumerate(#it) {
                            #(#body)*
                        }
                    }
                }
            }
        }
    }

    fn reserves(&self, r: &Reserve, n: &Ident) -> TokenStream {
        let fams = r.families.iter().map(|f| fam_ident(self.g, *f));
        let vecs = &r.vecs;
        quote! {
            #( #fams.reserve(#n); )*
            #( #vecs.reserve(#n); )*
        }
    }

    fn value(&self, v: &Value) -> TokenStream {
        match v {
            Value::Call { fam, args } => {
                let f = &self.g.families[*fam];
                let name = fam_ident(self.g, *fam);
                let mut temps = Vec::new();
                let mut plain = Vec::new();
                let mut lazy = Vec::new();
                for (i, (a, p)) in args.iter().zip(&f.params).enumerate() {
                    let t = temp(&format!("__tg_v{i}"), p.span);
                    let e = match a {
                        Arg::Plain(e) => {
                            plain.push(t.clone());
                            e.to_token_stream()
                        }
                        Arg::Lazy(v) => {
                            lazy.push(t.clone());
                            self.value(v)
                        }
                    };
                    temps.push(quote!(let #t = #e;));
                }
                let at = self.loop_index(f.depth, f.span);
                quote_spanned! {f.span=>
                    {
                        #(#temps)*
                        #name.push(#at, (#(#plain,)*), (#(#lazy,)*))
                    }
                }
            }
            Value::Var { name, .. } => name.to_token_stream(),
            Value::VecVar { name, use_ } => {
                let u = &self.g.uses[*use_];
                if u.tail && self.g.vars[u.var].refs == 1 {
                    name.to_token_stream()
                } else {
                    quote!(::core::clone::Clone::clone(&#name))
                }
            }
            Value::Reduce { fam, vec } => {
                let f = &self.g.families[*fam];
                let name = fam_ident(self.g, *fam);
                let v = self.value(vec);
                let reduce = private("tree_reduce", f.span);
                let (lv, lp) = (temp("__tg_lv", f.span), temp("__tg_lp", f.span));
                let ls = (0..f.depth).map(loop_ident);
                quote_spanned! {f.span=>
                    #reduce(&mut #name, #v, |#lv: u32, #lp: u32| [#(#ls as u32,)* #lv, #lp])?
                }
            }
            Value::Collect {
                recv,
                pat,
                stmts,
                tail,
                depth: d,
                reserve,
                span,
            } => {
                let it = temp("__tg_it", *span);
                let n = temp("__tg_n", *span);
                let counter = temp(&format!("__tg_c{}", d - 1), *span);
                let l = loop_ident(d - 1);
                let reserves = self.reserves(reserve, &n);
                let body = stmts.iter().map(|s| self.stmt(s));
                let tail = self.value(tail);
                let recv = strip_parens(recv);
                quote_spanned! {*span=>
                    {
                        let mut #counter: usize = 0;
                        let #it = ::core::iter::IntoIterator::into_iter(#recv);
                        let #n = ::core::iter::Iterator::size_hint(&#it).0;
                        #reserves
                        ::core::iter::Iterator::collect::<::std::vec::Vec<_>>(
                            ::core::iter::Iterator::map(#it, |#pat| {
                                let #l = #counter;
                                #counter += 1;
                                #(#body)*
                                #tail
                            }),
                        )
                    }
                }
            }
            Value::Tuple(vs) => {
                let vs = vs.iter().map(|v| self.value(v));
                quote!((#(#vs,)*))
            }
            Value::Error => quote!(::core::unreachable!()),
        }
    }

    /// `i => family.run(index, cx, |(plain..), (lazy..)| callee(args..)),`
    fn arm(&self, i: usize, f: &Family, t: &Ident) -> TokenStream {
        let name = fam_ident(self.g, i);
        let cx = &self.cx;
        let mut plain = Vec::new();
        let mut lazy = Vec::new();
        let mut modes = Vec::new();
        let mut args = Vec::new();
        for (k, p) in f.params.iter().enumerate() {
            match p.kind {
                ParamKind::Plain { slot } => {
                    let a = temp(&format!("__tg_a{slot}"), p.span);
                    plain.push(a.clone());
                    args.push(a.to_token_stream());
                }
                ParamKind::Lazy { slot, once } => {
                    let a = Ident::new(&format!("__tg_i{slot}"), p.span);
                    lazy.push(a.clone());
                    // The companion constant is named at the function (a
                    // function that is not `#[delayed]` is reported there);
                    // the argument itself is all at the user's argument, so
                    // type errors point at it.
                    let companion = &f.companion;
                    let mode = paths::param_mode(k, p.span);
                    let m = Ident::new(&format!("__tg_m{k}"), p.span);
                    modes.push(quote!(let #m = <#companion>::#mode;));
                    let method =
                        Ident::new(if self.once(once) { "once" } else { "shared" }, p.span);
                    let cx = temp(&cx.to_string(), p.span);
                    args.push(quote_spanned!(p.span=> #m.#method(#a, #cx).arg()));
                }
            }
        }
        let callee = &f.callee;
        let idx = i as u32;
        let call = quote_spanned!(f.span=> #callee(#(#args),*));
        let (t_at, cx_at) = (temp(&t.to_string(), f.span), temp(&cx.to_string(), f.span));
        let run = quote_spanned! {f.span=>
            #name.run(#t_at.index(), #cx_at, |(#(#plain,)*), (#(#lazy,)*)| {
                #(#modes)*
                #call
            })
        };
        quote! {
            #idx => #run,
        }
    }
}

/// `(e)` → `e`, so that passing it to a function does not trip `unused_parens`.
fn strip_parens(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Paren(p) => strip_parens(&p.expr),
        e => e,
    }
}

/// `T` → `Lazy<'_, T>` for a lazy variable's annotation.
fn lazy_type(t: &Type) -> TokenStream {
    let lazy = private("Lazy", Span::call_site());
    quote!(#lazy<'_, #t>)
}

/// `Vec<T>` → `Vec<Lazy<'_, T>>`; other annotations are kept.
fn lazy_vec_type(t: &Type) -> TokenStream {
    if let Type::Path(p) = t {
        if let Some(last) = p.path.segments.last() {
            if last.ident == "Vec" {
                if let PathArguments::AngleBracketed(a) = &last.arguments {
                    if let Some(GenericArgument::Type(elem)) = a.args.first() {
                        let lazy = private("Lazy", Span::call_site());
                        return quote!(::std::vec::Vec<#lazy<'_, #elem>>);
                    }
                }
            }
        }
    }
    t.to_token_stream()
}
