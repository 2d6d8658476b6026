//! The fused form of a wavefront (`graph/wave.rs`): one loop node that fills
//! the grid in tiles (`Loop::wave`), a row of a tile at a time by a closure
//! of plain code, each cell written in place as an element of the grid.
//!
//! The node-by-node form stays, chosen at run time when fusion is off, when
//! the grid is empty (no rows or columns) or when the vector is not empty
//! before the loop.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::Ident;

use super::{info_ident, strip_parens, Ctx};
use crate::graph::ir::*;
use crate::graph::wave::WavePlan;
use crate::paths::{private, temp};

pub(super) fn loop_ident(p: usize) -> Ident {
    temp(&format!("__tg_wl{p}"), Span::call_site())
}

pub(super) fn elem_ident(p: usize) -> Ident {
    temp(&format!("__tg_we{p}"), Span::call_site())
}

fn t(name: &str) -> Ident {
    temp(name, Span::call_site())
}

impl Ctx<'_> {
    /// A wavefront: its fused form, or the node-by-node one.
    pub(super) fn wave_stmt(&self, p: usize, plan: &WavePlan<'_>, s: &Stmt) -> TokenStream {
        let node = self.stmt(s);
        let (scope, cx) = (&self.scope, &self.cx);
        let fr = private("FusedRange", Span::call_site());
        let cx_ty = private("Cx", Span::call_site());
        let grid_ty = private("Grid", Span::call_site());
        let stopped = private("Stopped", Span::call_site());
        let (l, e) = (loop_ident(p), elem_ident(p));
        let kept = temp(&format!("__tg_wk{p}"), Span::call_site());
        let (wr, wc) = (
            temp(&format!("__tg_wr{p}"), Span::call_site()),
            temp(&format!("__tg_wc{p}"), Span::call_site()),
        );
        let (rr, cc, c0, c1, gr) = (
            t("__tg_r"),
            t("__tg_c"),
            t("__tg_c0"),
            t("__tg_c1"),
            t("__tg_g"),
        );
        let (rrange, crange) = (strip_parens(plan.rrange), strip_parens(plan.crange));
        let (rpat, cpat) = (plan.rpat, plan.cpat);
        let grid = plan.grid;
        let w = Wave {
            cx: self,
            plan,
            at: quote!([#rr, #cc]),
        };
        let (pushed, first) = plan.cells.split_last().expect("a push");
        let Stmt::Push { value, .. } = pushed else {
            unreachable!("the plan ends in a push")
        };
        let body = w.stmts(first);
        let value = w.value(value, true);
        let fusable = self.fusable(plan.fams.iter().copied());
        // For progress, the tasks a cell runs as the template counts them
        // (`cell_tasks`): the sites every cell runs once each, those an
        // `if` chooses at the loop's own site.
        let hint = {
            let (each, chosen) = plan.cell_tasks();
            let body = each.iter().map(|&f| {
                let info = info_ident(self.g, f);
                quote!((#info, 1))
            });
            match chosen as usize {
                0 => quote!(#l.step_tasks(1, &[#(#body),*]);),
                k => quote! {
                    let __tg_own = #l.info();
                    #l.step_tasks(1, &[#(#body,)* (__tg_own, #k)]);
                },
            }
        };
        quote! {
            let #kept = if #scope.fusion() #fusable && #grid.len() == 0 {
                ::core::option::Option::Some((#rrange, #crange))
            } else {
                ::core::option::Option::None
            };
            let __tg_go = match &#kept {
                ::core::option::Option::Some((__tg_a, __tg_b)) => {
                    let (__tg_n, __tg_m) = (#fr::fused_len(__tg_a), #fr::fused_len(__tg_b));
                    __tg_n > 0 && __tg_m > 0 && __tg_n.checked_mul(__tg_m).is_some()
                }
                ::core::option::Option::None => false,
            };
            // Kept until the graph runs: the fused closure borrows them.
            let #wr;
            let #wc;
            if __tg_go {
                let ::core::option::Option::Some((__tg_a, __tg_b)) = #kept else {
                    ::core::unreachable!()
                };
                #wr = __tg_a;
                #wc = __tg_b;
                let (__tg_n, __tg_m) = (#fr::fused_len(&#wr), #fr::fused_len(&#wc));
                let __tg_v = #e.make(__tg_n * __tg_m)?;
                #hint
                let _ = #l.wave(
                    __tg_n,
                    __tg_m,
                    &#e,
                    |#rr: u32, #c0: u32, #c1: u32, #gr: &#grid_ty<'_, _>, #cx: &#cx_ty<'_, '_>| {
                        // Copies in registers, not read again through
                        // the closure's borrows after each cell's store.
                        let __tg_rows = ::core::clone::Clone::clone(&#wr);
                        let __tg_cols = ::core::clone::Clone::clone(&#wc);
                        #[allow(unused_variables)]
                        let #rpat = #fr::fused_at(&__tg_rows, #rr as usize);
                        for #cc in #c0..#c1 {
                            #[allow(unused_variables)]
                            let #cpat = #fr::fused_at(&__tg_cols, #cc as usize);
                            let __tg_x: ::core::result::Result<_, #stopped> = {
                                #body
                                ::core::result::Result::Ok(#value)
                            };
                            #gr.put(#cc, __tg_x?);
                        }
                        ::core::result::Result::Ok(())
                    },
                )?;
                #grid = __tg_v;
            } else {
                #node
            }
        }
    }
}

/// The code of a wavefront's cells.
struct Wave<'c, 'a, 'p> {
    cx: &'c Ctx<'a>,
    plan: &'c WavePlan<'p>,
    /// The task's loop indices (row, column).
    at: TokenStream,
}

impl Wave<'_, '_, '_> {
    /// `let`s and plain statements (the plan allows no others here).
    fn stmts(&self, stmts: &[Stmt]) -> TokenStream {
        let mut out = TokenStream::new();
        for st in stmts {
            match st {
                Stmt::Plain(ts) => out.extend(ts.clone()),
                Stmt::Let {
                    name, ty, value, ..
                } => {
                    let v = self.value(value, false);
                    let ty = ty.as_ref().map(|t| quote!(: #t));
                    out.extend(quote!(let #name #ty = #v;));
                }
                _ => unreachable!("the plan allows lets and plain code"),
            }
        }
        out
    }

    /// The read of a cell above and to the left: a reference.
    fn read(&self, index: &syn::Expr, span: Span) -> TokenStream {
        let (up, left) = self.plan.back(index);
        let (up, left) = (up as usize, left as usize);
        let (g, c, ix) = (t("__tg_g"), t("__tg_c"), t("__tg_ix"));
        quote_spanned!(span=> #g.get(#c, { let #ix: usize = #index; #ix }, #up, #left))
    }

    /// An owned value; `moved`: a local may be moved (its last use).
    fn value(&self, v: &Value, moved: bool) -> TokenStream {
        match v {
            Value::Call { fam, args } => {
                let f = &self.cx.g.families[*fam];
                let mut temps = Vec::new();
                let mut vals = Vec::new();
                for (i, (a, prm)) in args.iter().zip(&f.params).enumerate() {
                    let tv = Ident::new(&format!("__tg_v{i}"), prm.span);
                    let m = Ident::new(&format!("__tg_m{i}"), prm.span);
                    let mode = self.cx.mode(*fam, i, prm.span);
                    match a {
                        Arg::Plain(e) => {
                            temps.push(quote!(let #tv = #e;));
                            vals.push(tv.to_token_stream());
                            continue;
                        }
                        Arg::Lazy(Value::Var { name, .. }) => temps.push(
                            quote_spanned!(prm.span=> let #m = #mode; let #tv = #m.share(&#name);),
                        ),
                        Arg::Lazy(Value::Index { index, span, .. }) => {
                            let r = self.read(index, *span);
                            temps.push(
                                quote_spanned!(prm.span=> let #m = #mode; let #tv = #m.share(#r);),
                            );
                        }
                        Arg::Lazy(v) => {
                            let x = self.value(v, false);
                            temps.push(
                                quote_spanned!(prm.span=> let #m = #mode; let #tv = #m.take(#x);),
                            );
                        }
                    }
                    vals.push(quote_spanned!(prm.span=> #tv.arg()));
                }
                let name = Ident::new("__tg_w", f.span);
                let task = self
                    .cx
                    .fused_task(*fam, &name, None, &temps, &vals, &self.at);
                quote!({ #task #name })
            }
            Value::Var { name, .. } if moved => name.to_token_stream(),
            Value::Var { name, .. } => quote!(::core::clone::Clone::clone(&#name)),
            Value::Index { index, span, .. } => {
                let r = self.read(index, *span);
                quote!(::core::clone::Clone::clone(#r))
            }
            Value::If { cond, then, els } => {
                let br = |b: &Branch| {
                    let s = self.stmts(&b.stmts);
                    let v = self.value(&b.tail, false);
                    quote!({ #s #v })
                };
                let (t, e) = (br(then), br(els));
                quote!(if #cond #t else #e)
            }
            _ => unreachable!("the plan allows calls, locals, reads and ifs"),
        }
    }
}
