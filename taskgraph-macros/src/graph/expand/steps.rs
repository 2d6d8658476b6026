//! The fused form of a step loop (`tiles.rs`): one loop node that runs the
//! steps in tiles (`Loop::steps`), element `k` of step `t` made by a closure
//! from the step before, whose cells it reads are given by another closure
//! (the runtime's tiles wait for the tiles that made them).
//!
//! The node-by-node form stays, chosen at run time when fusion is off or
//! when what the plan assumes does not hold for these values: no steps, a
//! state of another width, a read out of range (node by node reports it).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::Ident;

use super::{info_ident, strip_parens, Ctx};
use crate::graph::ir::*;
use crate::graph::tiles::{Element, Read, SArg, SEvent, StepsPlan};
use crate::paths::{private, temp};

pub(super) fn loop_ident(p: usize) -> Ident {
    temp(&format!("__tg_sl{p}"), Span::call_site())
}

pub(super) fn elem_ident(p: usize) -> Ident {
    temp(&format!("__tg_se{p}"), Span::call_site())
}

fn t(name: &str, p: usize) -> Ident {
    temp(&format!("{name}{p}"), Span::call_site())
}

/// The name a simple pattern binds (`i`, `mut i`, `i: usize`).
fn pat_name(p: &syn::Pat) -> Option<&Ident> {
    match p {
        syn::Pat::Ident(i) => Some(&i.ident),
        syn::Pat::Type(t) => pat_name(&t.pat),
        _ => None,
    }
}

impl Ctx<'_> {
    /// A step loop: its fused form, or the node-by-node one.
    pub(super) fn steps_stmt(&self, p: usize, plan: &StepsPlan<'_>, s: &Stmt) -> TokenStream {
        let node = self.stmt(s);
        let (scope, cx) = (&self.scope, &self.cx);
        let fr = private("FusedRange", Span::call_site());
        let cx_ty = private("Cx", Span::call_site());
        let prev_ty = private("Prev", Span::call_site());
        let (l, e) = (loop_ident(p), elem_ident(p));
        let (trg, irg) = (t("__tg_str", p), t("__tg_sir", p));
        let (slen, ilen, w) = (t("__tg_sn", p), t("__tg_si", p), t("__tg_sw", p));
        let (tk, kk, ck, prev) = (
            temp("__tg_t", Span::call_site()),
            temp("__tg_k", Span::call_site()),
            temp("__tg_c", Span::call_site()),
            temp("__tg_prev", Span::call_site()),
        );
        let fixed: Vec<Ident> = (0..plan.fixed.len())
            .map(|j| temp(&format!("__tg_sx{p}_{j}"), Span::call_site()))
            .collect();
        let fixed_e = &plan.fixed;
        let fixed_tmp: Vec<Ident> = (0..plan.fixed.len())
            .map(|j| temp(&format!("__tg_sy{j}"), Span::call_site()))
            .collect();
        let (trange, irange) = (strip_parens(plan.trange), strip_parens(plan.irange));
        let before = plan.before.len();
        let after = plan.after.len();
        let state = plan.state;
        let (tpat, ipat) = (plan.tpat, plan.ipat);
        let var = pat_name(ipat).expect("a simple pattern");
        // `by` is `&` where the ranges are values, nothing where they are
        // references.
        let reach_ok = |by: &TokenStream| match plan.reach {
            Some((lo, hi)) => quote! {
                (#ilen == 0 || {
                    let __tg_a = #fr::fused_at(#by #irg, 0) as i64;
                    let __tg_b = #fr::fused_at(#by #irg, #ilen - 1) as i64;
                    __tg_a + (#lo) >= 0 && __tg_b + (#hi) < #w as i64
                })
            },
            None => quote!(true),
        };
        let read = |r: &Read| -> TokenStream {
            let at = match r {
                Read::At(k) => quote!((#var as i64 + (#k)) as usize),
                Read::Fixed(j) => {
                    let x = &fixed[*j];
                    quote!(#x)
                }
            };
            quote!(#prev.get(#at))
        };
        let boundary = |els: &[Element<'_>]| -> TokenStream {
            let arms = els.iter().enumerate().map(|(j, el)| {
                let j = j as u32;
                let body = self.element(el, &quote!([#tk]), &read);
                quote!(#j => { #body })
            });
            quote! {
                #[allow(unreachable_patterns)]
                match __tg_j { #(#arms)* _ => ::core::unreachable!() }
            }
        };
        // The cells of the step before each value reads (inclusive), which
        // its tile waits for: a boundary value's fixed indices, an inner
        // value's loop variable widened by the reach.
        let fixed_reads = |els: &[Element<'_>]| -> TokenStream {
            let arms = els.iter().enumerate().map(|(j, el)| {
                let j = j as u32;
                let xs: Vec<&Ident> = el.fixed_reads().into_iter().map(|n| &fixed[n]).collect();
                let r = match xs.split_first() {
                    None => quote!(::core::option::Option::None),
                    Some((first, rest)) => quote! {
                        ::core::option::Option::Some((
                            #first #( .min(#rest) )*,
                            #first #( .max(#rest) )*,
                        ))
                    },
                };
                quote!(#j => #r,)
            });
            quote! {
                #[allow(unreachable_patterns)]
                match __tg_j { #(#arms)* _ => ::core::option::Option::None }
            }
        };
        let (pre_reads, post_reads) = (fixed_reads(&plan.before), fixed_reads(&plan.after));
        let inner_reads = match plan.reach {
            Some((lo, hi)) => quote! {
                let __tg_i = #fr::fused_at(&#irg, #ck as usize) as i64;
                ::core::option::Option::Some((
                    (__tg_i + (#lo)) as usize,
                    (__tg_i + (#hi)) as usize,
                ))
            },
            None => quote!(::core::option::Option::None),
        };
        let pre = boundary(&plan.before);
        let post = boundary(&plan.after);
        // The inner loop's values `c0..c0 + n` of a step, a run of plain
        // code: the cells they read (the loop variable widened by the
        // reach) are checked once, as one window of the step before, and
        // each offset `k` is a slice of it as long as the run, read at
        // `d`, the value's place in the run.
        let offsets = inner_offsets(&plan.inner);
        let win = |k: i64| temp(&format!("__tg_r{}", k - offsets[0]), Span::call_site());
        let (dk, out) = (
            temp("__tg_d", Span::call_site()),
            temp("__tg_out", Span::call_site()),
        );
        let inner = self.element(&plan.inner, &quote!([#tk, #ck]), &|r: &Read| match r {
            Read::At(k) => {
                let x = win(*k);
                quote!(&#x[#dk])
            }
            Read::Fixed(_) => read(r),
        });
        let windows = match (offsets.first(), offsets.last()) {
            (Some(&lo), Some(&hi)) => {
                let slices = offsets.iter().map(|&k| {
                    let (x, off) = (win(k), (k - lo) as usize);
                    quote!(let #x = &__tg_win[#off..][..__tg_n];)
                });
                let span = (hi - lo) as usize;
                quote! {
                    let __tg_i0 = #fr::fused_at(&#irg, __tg_c0 as usize) as i64;
                    let __tg_win = #prev.window((__tg_i0 + (#lo)) as usize, __tg_n + #span);
                    #(#slices)*
                }
            }
            _ => TokenStream::new(),
        };
        let stopped = private("Stopped", Span::call_site());
        let (b32, i_end) = (before as u32, quote!(#before + #ilen));
        // Progress counts each step's tasks as node by node does: the inner
        // loop's once per iteration, the boundary values' once each.
        let hint = {
            let links = |el: &Element<'_>, k: TokenStream| {
                el.events
                    .iter()
                    .filter_map(|ev| match ev {
                        SEvent::Link(link) => Some(info_ident(self.g, link.fam)),
                        SEvent::Plain(_) => None,
                    })
                    .map(move |info| quote!((#info, #k)))
                    .collect::<Vec<_>>()
            };
            let mut body = links(&plan.inner, quote!(#ilen));
            for el in plan.before.iter().chain(&plan.after) {
                body.extend(links(el, quote!(1)));
            }
            quote!(#l.step_tasks(#w, &[#(#body),*]);)
        };
        // The ranges and fixed indices, evaluated once (node by node
        // evaluates them again if the plan's assumptions fail), kept for
        // the run: the fused closure borrows them.
        let kept = t("__tg_sp", p);
        let sizes = |by: &TokenStream| {
            quote! {
                #slen = #fr::fused_len(#by #trg);
                #ilen = #fr::fused_len(#by #irg);
                #w = #before + #ilen + #after;
            }
        };
        let (by_ref, by_val) = (TokenStream::new(), quote!(&));
        let (sizes_ref, sizes_val, reach_ref) = (sizes(&by_ref), sizes(&by_val), reach_ok(&by_ref));
        let fusable = {
            let mut fams = Vec::new();
            for el in std::iter::once(&plan.inner)
                .chain(&plan.before)
                .chain(&plan.after)
            {
                for ev in &el.events {
                    if let SEvent::Link(link) = ev {
                        fams.push(link.fam);
                    }
                }
            }
            self.fusable(fams.into_iter())
        };
        quote! {
            let #kept = if #scope.fusion() #fusable {
                let __tg_tr = #trange;
                if #fr::fused_len(&__tg_tr) > 0 {
                    ::core::option::Option::Some((__tg_tr, #irange, #(#fixed_e,)*))
                } else {
                    ::core::option::Option::None
                }
            } else {
                ::core::option::Option::None
            };
            let __tg_go = match &#kept {
                ::core::option::Option::Some((#trg, #irg, #(#fixed,)*)) => {
                    let (#slen, #ilen, #w): (usize, usize, usize);
                    #sizes_ref
                    let _ = #slen;
                    #w > 0 && #state.len() == #w #( && *#fixed < #w )* && #reach_ref
                }
                ::core::option::Option::None => false,
            };
            // Kept until the graph runs: the fused closure borrows them.
            let #trg;
            let #irg;
            #( let #fixed; )*
            let (#slen, #ilen, #w): (usize, usize, usize);
            if __tg_go {
                let ::core::option::Option::Some((__tg_a, __tg_b, #(#fixed_tmp,)*)) = #kept else {
                    ::core::unreachable!()
                };
                #trg = __tg_a;
                #irg = __tg_b;
                #( #fixed = #fixed_tmp; )*
                #sizes_val
                #hint
                let __tg_v = #e.make(#w)?;
                let _ = #l.steps(
                    #slen,
                    #state,
                    #w,
                    |#kk: u32| -> ::core::option::Option<(usize, usize)> {
                        if (#kk as usize) < #before {
                            let __tg_j = #kk;
                            #pre_reads
                        } else if (#kk as usize) < #i_end {
                            let #ck = #kk - #b32;
                            #inner_reads
                        } else {
                            let __tg_j = #kk - (#i_end) as u32;
                            #post_reads
                        }
                    },
                    |#tk: u32, #kk: u32, #prev: #prev_ty<'_, _>, #cx: &#cx_ty<'_, '_>| {
                        #[allow(unused_variables)]
                        let #tpat = #fr::fused_at(&#trg, #tk as usize);
                        if (#kk as usize) < #before {
                            let __tg_j = #kk;
                            #pre
                        } else {
                            let __tg_j = #kk - (#i_end) as u32;
                            #post
                        }
                    },
                    #before..#i_end,
                    |#tk: u32, __tg_c0: u32, #prev: #prev_ty<'_, _>, #out: &mut [_], #cx: &#cx_ty<'_, '_>| {
                        #[allow(unused_variables)]
                        let #tpat = #fr::fused_at(&#trg, #tk as usize);
                        let __tg_n = #out.len();
                        let _ = (#prev, #cx);
                        #windows
                        for (#dk, __tg_cell) in #out.iter_mut().enumerate() {
                            let #ck = __tg_c0 + #dk as u32;
                            let #ipat = #fr::fused_at(&#irg, #ck as usize);
                            let _ = (#ck, #var);
                            let __tg_x: ::core::result::Result<_, #stopped> = { #inner };
                            *__tg_cell = __tg_x?;
                        }
                        ::core::result::Result::Ok(())
                    },
                    |#kk: u32, __tg_x, #cx: &#cx_ty<'_, '_>| #e.write(#kk, __tg_x, #cx),
                    #e.id(),
                )?;
                #state = __tg_v;
            } else {
                #node
            }
        }
    }

    /// The code of one element: its tasks in order, then `Ok(value)`.
    fn element(
        &self,
        el: &Element<'_>,
        at: &TokenStream,
        read: &dyn Fn(&Read) -> TokenStream,
    ) -> TokenStream {
        let mut out = TokenStream::new();
        for ev in &el.events {
            match ev {
                SEvent::Plain(ts) => out.extend((*ts).clone()),
                SEvent::Link(link) => {
                    let f = &self.g.families[link.fam];
                    let mut temps = Vec::new();
                    let mut vals = Vec::new();
                    for (i, (a, prm)) in link.args.iter().zip(&f.params).enumerate() {
                        let tv = Ident::new(&format!("__tg_v{i}"), prm.span);
                        let m = Ident::new(&format!("__tg_m{i}"), prm.span);
                        let mode = self.mode(link.fam, i, prm.span);
                        match a {
                            SArg::Plain(e) => {
                                temps.push(quote!(let #tv = #e;));
                                vals.push(tv.to_token_stream());
                                continue;
                            }
                            SArg::Local { name, last: true } => temps.push(
                                quote_spanned!(prm.span=> let #m = #mode; let #tv = #m.take(#name);),
                            ),
                            SArg::Local { name, last: false } => temps.push(
                                quote_spanned!(prm.span=> let #m = #mode; let #tv = #m.share(&#name);),
                            ),
                            SArg::Read(r) => {
                                let r = read(r);
                                temps.push(
                                    quote_spanned!(prm.span=> let #m = #mode; let #tv = #m.share(#r);),
                                );
                            }
                        }
                        vals.push(quote_spanned!(prm.span=> #tv.arg()));
                    }
                    out.extend(self.fused_task(link.fam, &link.name, link.ty, &temps, &vals, at));
                }
            }
        }
        let value = match &el.value {
            SArg::Local { name, last: true } => name.to_token_stream(),
            SArg::Local { name, last: false } => quote!(::core::clone::Clone::clone(&#name)),
            SArg::Read(r) => {
                let r = read(r);
                quote!(::core::clone::Clone::clone(#r))
            }
            SArg::Plain(_) => unreachable!("a pushed value is lazy"),
        };
        out.extend(quote!(::core::result::Result::Ok(#value)));
        out
    }
}

/// The offsets `k` of the inner loop's reads `cur[i + k]`, sorted, once
/// each.
fn inner_offsets(el: &Element<'_>) -> Vec<i64> {
    let args = el.events.iter().flat_map(|ev| match ev {
        SEvent::Link(l) => l.args.as_slice(),
        SEvent::Plain(_) => &[],
    });
    let mut ks: Vec<i64> = args
        .chain(std::iter::once(&el.value))
        .filter_map(|a| match a {
            SArg::Read(Read::At(k)) => Some(*k),
            _ => None,
        })
        .collect();
    ks.sort_unstable();
    ks.dedup();
    ks
}
