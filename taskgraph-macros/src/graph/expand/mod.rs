//! IR + lowering → tokens. Assumes a valid IR.
//!
//! The graph becomes one closure: the user's code with each task call
//! replaced by `family.push(..)` (which records a node and returns a handle)
//! runs once, when the graph is computed (instantiation); a fused loop's
//! statement is emitted twice, as that code and as a block closure, and
//! `scope.fusion()` picks one at run time. Then each family's task body is
//! bound (the generated call of the `#[delayed]` function) and the families
//! go to the runtime. Code size is linear in call sites.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::{GenericArgument, Ident, PathArguments, Type};

use super::ir::*;
use super::lower::{Event, LinkArg, Lowering, Out, Pass, Plan, PlanKind};
use crate::paths::{self, private, temp};

mod callees;
mod steps;
mod template;
mod wave;

struct Ctx<'a> {
    g: &'a Graph,
    low: &'a Lowering<'a>,
    /// Per family: the callee and companion, as the code names them.
    paths: Vec<(syn::Path, syn::Path)>,
    cx: Ident,
    scope: Ident,
}

pub(crate) fn expand(g: &Graph, low: &Lowering<'_>) -> TokenStream {
    let span = Span::call_site();
    let callees::Callees {
        probe,
        prelude,
        paths,
    } = callees::callees(&g.families);
    let c = Ctx {
        g,
        low,
        paths,
        cx: temp("__tg_cx", span),
        scope: temp("__tg_scope", span),
    };
    let scope = &c.scope;
    // Families, in the order the scope numbers them; the table lists them
    // in the same order.
    let mut decls = Vec::new();
    let mut table = Vec::new();
    let walk = template::walk(g);
    // Every call site's `FamilyInfo`, in one static array.
    let infos_ident = Ident::new("__TG_I", Span::mixed_site());
    let info_alias = Ident::new("__TgI", Span::mixed_site());
    let mut infos = Vec::new();
    for (i, f) in g.families.iter().enumerate() {
        let name = fam_ident(g, i);
        let info = info_ident(g, i);
        let fname = &f.name;
        let (line, column) = line_column(f.span);
        let loops = walk.site_loops(i);
        infos.push(quote!(#info_alias::new(#fname, ::core::file!(), #line, #column)#loops));
        decls.push(quote_spanned! {f.span=>
            let #name = #scope.family(#info);
        });
        let mask = low.passing.implied[i];
        if mask != 0 {
            decls.push(quote_spanned!(f.span=> #name.imply(#mask);));
        }
        table.push(quote_spanned!(f.span=> &#name));
        if is_top_reduce(g, low, i) {
            let u = reduce_loop_ident(g, i);
            decls.push(quote_spanned!(f.span=> let #u = #scope.loop_family(#info);));
            table.push(quote_spanned!(f.span=> &*#u));
        }
    }
    for (p, plan) in low.plans.iter().enumerate() {
        let l = plan_ident(p);
        let info = plan_info(&mut infos, plan.span, "loop");
        decls.push(quote!(let #l = #scope.loop_family(#info);));
        table.push(quote!(&*#l));
        for (j, o) in plan.outs.iter().enumerate() {
            let e = elem_ident(p, j);
            let info = plan_info(&mut infos, o.vec.span(), &o.vec.to_string());
            decls.push(quote!(let #e = #scope.elements(#info);));
            table.push(quote!(&*#e));
        }
    }
    for (p, plan) in low.steps.iter().enumerate() {
        let (l, e) = (steps::loop_ident(p), steps::elem_ident(p));
        let info = plan_info(&mut infos, plan.span, "loop");
        decls.push(quote!(let #l = #scope.loop_family(#info);));
        table.push(quote!(&*#l));
        let st = plan.state;
        let info = plan_info(&mut infos, st.span(), &st.to_string());
        decls.push(quote!(let #e = #scope.elements(#info);));
        table.push(quote!(&*#e));
    }
    for (p, plan) in low.waves.iter().enumerate() {
        let (l, e) = (wave::loop_ident(p), wave::elem_ident(p));
        let info = plan_info(&mut infos, plan.span, "loop");
        decls.push(quote!(let #l = #scope.loop_family(#info);));
        table.push(quote!(&*#l));
        let grid = plan.grid;
        let info = plan_info(&mut infos, grid.span(), &grid.to_string());
        decls.push(quote!(let #e = #scope.elements(#info);));
        table.push(quote!(&*#e));
    }
    // Sources of values from outside the graph, numbered after the rest.
    for k in 0..g.sources {
        let src = source_ident(k);
        decls.push(quote!(let mut #src = #scope.source();));
        table.push(quote!(&#src));
    }
    let stmts = g.stmts.iter().enumerate().map(|(i, s)| c.top_stmt(i, s));
    let tail = c.value(&g.tail);
    let out = temp("__tg_out", span);
    // After the bodies, which fix the families' value types: whether an
    // output is `Clone` is asked of a known type. One lazy value alone is
    // one node: nothing to clone it for.
    let outputs = match &g.tail {
        Value::Call { .. } | Value::Reduce { .. } | Value::Var { .. } | Value::Index { .. } => {
            TokenStream::new()
        }
        t => {
            let (pat, e) = outputs(t, &mut 0);
            quote!(let #pat = #out; let #out = #e;)
        }
    };
    let bodies = g.families.iter().enumerate().map(|(i, f)| c.body(i, f));
    // Bound families replace the bare ones in the table.
    let table = table.into_iter().enumerate().map(|(k, t)| {
        if let Some(i) = table_family(g, low, k) {
            let b = bound_ident(g, i);
            quote_spanned!(g.families[i].span=> &#b)
        } else {
            t
        }
    });
    let table: Vec<TokenStream> = table.collect();
    let graph_fn = private("GraphFn", span);
    let typed = private("typed", span);
    // The families' value types, for a cluster's codec: `GraphFn`'s last
    // type parameter. Tuples of up to 11 families and the rest
    // (`(&f0, &f1, .., (&f11, .., ()))`), which the runtime's `Witness`
    // reads as nested pairs.
    let witness = table
        .chunks(11)
        .rev()
        .fold(quote!(()), |rest, chunk| quote!((#(#chunk,)* #rest)));
    // Spanned at the final expression: its type is the graph's output type.
    // `execute` takes `&[&dyn ErasedFamily]`: each entry coerces to it.
    let execute = quote_spanned!(tail_span(g)=>
        #typed(#scope.execute(&[#(#table),*], #out).await, #witness));
    let infos = (!infos.is_empty()).then(|| {
        let (n, info_ty) = (infos.len(), private("FamilyInfo", span));
        let loop_vars = walk.loop_vars();
        quote! {
            use #info_ty as #info_alias;
            #loop_vars
            static #infos_ident: [#info_ty; #n] = [#(#infos),*];
        }
    });
    let reads = plain_reads(g);
    let inner = quote_spanned!(tail_span(g)=> {
        #prelude
        #infos
        #reads
        #(#decls)*
        #(#stmts)*
        let #out = #tail;
        #(#bodies)*
        #outputs
        #execute
    });
    let outer = quote_spanned!(tail_span(g)=> { #probe #inner });
    let template = template::template(g, low, &walk);
    // The closure is bound before `GraphFn::new` sees it, so that its kind
    // is inferred from its body (a graph is looked at by running a clone).
    let closure = temp("__tg_graph", span);
    let scope_ty = private("Scope", span);
    let (body, boxed) = (private("body", span), private("boxed", span));
    // Whether the graph's value types can travel to a cluster is asked
    // here, where they are known: the cluster's codec if they can, else
    // their names for the error `Dask::spawn` returns.
    let (graph, codec) = (temp("__tg_g", span), temp("__tg_codec", span));
    let (copy, captures) = (temp("__tg_copy", span), private("captures", span));
    let probe = private("codec_probe", span);
    // The user's own `&h`, so that a borrow error points at it.
    let borrows = g.borrowed.iter().map(|(k, e)| {
        let b = borrowed_ident(*k);
        quote!(let #b = #e;)
    });
    // The statements of the block `graph::expand` makes.
    quote! {
        #(#borrows)*
        let #closure = #body(move |#scope: #scope_ty<'_>, _| #boxed(async move #outer));
        let #copy = #captures(&#closure);
        let #graph = #graph_fn::new(#closure, #copy).with_template(#template);
        #[allow(unused_imports)]
        use ::taskdag::__private::{NoCodec as _, CodecOf as _};
        let #codec = (&&#probe(&#graph)).__tg_codec();
        #graph.with_codec(#codec)
    }
}

/// The final expression's outputs, as a pattern binding its lazy leaves
/// and the expression that gives them back, each lazy output (an element of
/// the tuple, or the whole) cloned for another output that turns out to be
/// the same node when its type is `Clone` (`OutputByClone`), else moved.
fn outputs(v: &Value, n: &mut usize) -> (TokenStream, TokenStream) {
    match v {
        Value::Tuple(vs) => {
            let (pats, es): (Vec<_>, Vec<_>) = vs.iter().map(|v| outputs(v, n)).unzip();
            (quote!((#(#pats,)*)), quote!((#(#es,)*)))
        }
        _ => {
            let o = temp(&format!("__tg_o{n}"), Span::call_site());
            *n += 1;
            // A value returned again is already cloned; a task called here
            // is a node of its own.
            if matches!(
                v,
                Value::Again(_) | Value::PlainOutput(_) | Value::Error | Value::Call { .. }
            ) {
                return (quote!(#o), quote!(#o));
            }
            let (by_clone, by_move) = (
                private("OutputByClone", Span::call_site()),
                private("OutputByMove", Span::call_site()),
            );
            let e = quote! {{
                #[allow(unused_imports)]
                use #by_clone as _;
                #[allow(unused_imports)]
                use #by_move as _;
                (&#o).__tg_output_kind().wrap(#o)
            }};
            (quote!(#o), e)
        }
    }
}

/// Whether family `i` is a `tree_reduce` at the top level (not inside a
/// loop) that no fused loop computes: it gets a fused loop of its own.
fn is_top_reduce(g: &Graph, low: &Lowering<'_>, i: usize) -> bool {
    g.families[i].reduce && g.families[i].depth == 0 && low.absorbing(i).is_none()
}

/// Table position `k` → the task family there, if it is one.
fn table_family(g: &Graph, low: &Lowering<'_>, k: usize) -> Option<usize> {
    let mut pos = 0;
    for i in 0..g.families.len() {
        if pos == k {
            return Some(i);
        }
        pos += 1;
        if is_top_reduce(g, low, i) {
            if pos == k {
                return None;
            }
            pos += 1;
        }
    }
    None
}

/// `x[i]`, `x.len()`, `for a in &x` with `x` captured: a check, at `x`,
/// that `x` is not a spawned graph's `Handle` (which is not its values).
fn plain_reads(g: &Graph) -> TokenStream {
    if g.plain_reads.is_empty() {
        return TokenStream::new();
    }
    let ok = private("PlainReadOk", Span::call_site());
    let checks = g.plain_reads.iter().map(|x| {
        let read = private("PlainRead", x.span());
        quote_spanned!(x.span()=> #read(&#x).check();)
    });
    quote!({
        #[allow(unused_imports)]
        use #ok as _;
        #(#checks)*
    })
}

/// The reference to the captured value of source `k`, when it is written
/// `&h`: made before the graph's closure, which captures the reference.
fn borrowed_ident(k: usize) -> Ident {
    Ident::new(&format!("__tg_borrowed{k}"), Span::mixed_site())
}

/// The family of source `k` (`Value::Source`).
fn source_ident(k: usize) -> Ident {
    Ident::new(&format!("__tg_src{k}"), Span::mixed_site())
}

/// The tokens of the graph's final expression, for errors about its type.
fn tail_span(g: &Graph) -> Span {
    match &g.tail {
        Value::Call { fam, .. } | Value::Reduce { fam, .. } => g.families[*fam].span,
        Value::Var { name, .. } | Value::VecVar { name, .. } => name.span(),
        Value::Collect { span, .. }
        | Value::Index { span, .. }
        | Value::Row { span, .. }
        | Value::Slice { span, .. } => *span,
        Value::Source { expr, .. } => syn::spanned::Spanned::span(expr),
        Value::If { .. }
        | Value::Match { .. }
        | Value::Tuple(_)
        | Value::Again(_)
        | Value::PlainOutput(_)
        | Value::Error => Span::call_site(),
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
/// Call site `i`'s `&'static FamilyInfo`, from the graph's array of them.
fn info_ident(g: &Graph, i: usize) -> TokenStream {
    let infos = Ident::new("__TG_I", Span::mixed_site().located_at(g.families[i].span));
    let i = proc_macro2::Literal::usize_unsuffixed(i);
    quote!(&#infos[#i])
}
fn bound_ident(g: &Graph, i: usize) -> Ident {
    temp(&format!("__tg_b{i}"), g.families[i].span)
}
fn reduce_loop_ident(g: &Graph, i: usize) -> Ident {
    temp(&format!("__tg_u{i}"), g.families[i].span)
}
fn plan_ident(p: usize) -> Ident {
    temp(&format!("__tg_p{p}"), Span::call_site())
}
fn elem_ident(p: usize, j: usize) -> Ident {
    temp(&format!("__tg_e{p}_{j}"), Span::call_site())
}
fn range_ident(p: usize) -> Ident {
    temp(&format!("__tg_rg{p}"), Span::call_site())
}
fn held_ident(p: usize, j: usize) -> Ident {
    temp(&format!("__tg_h{p}_{j}"), Span::call_site())
}
fn reduced_ident(p: usize) -> Ident {
    temp(&format!("__tg_r{p}"), Span::call_site())
}
fn loop_ident(d: usize) -> Ident {
    temp(&format!("__tg_l{d}"), Span::call_site())
}

/// The `FamilyInfo` of a fused loop or its output elements, added to the
/// graph's array of them; returns `&__TG_I[k]`.
fn plan_info(infos: &mut Vec<TokenStream>, span: Span, name: &str) -> TokenStream {
    let (line, column) = line_column(span);
    let k = proc_macro2::Literal::usize_unsuffixed(infos.len());
    let alias = Ident::new("__TgI", Span::mixed_site());
    let array = Ident::new("__TG_I", Span::mixed_site());
    infos.push(quote!(#alias::new(#name, ::core::file!(), #line, #column)));
    quote!(&#array[#k])
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

/// `"file:line:column"` of `span`, as a `&'static str`.
pub(crate) fn location(span: Span) -> TokenStream {
    let (line, column) = line_column(span);
    quote!(::core::concat!(::core::file!(), ":", #line, ":", #column))
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
            Once::Vec(u) => {
                self.g.vars[self.g.uses[u].var].vec_used_once(u, &self.g.uses, &self.g.vars)
            }
        }
    }

    fn loop_index(&self, depth: usize, span: Span) -> TokenStream {
        let ls = (0..depth).map(loop_ident);
        quote_spanned!(span=> [#(#ls as u32),*])
    }

    /// A top-level statement: its fused and node-by-node forms, or just the
    /// latter.
    fn top_stmt(&self, i: usize, s: &Stmt) -> TokenStream {
        if let Some((p, plan)) = self.low.steps_of(i) {
            return self.steps_stmt(p, plan, s);
        }
        if let Some((p, plan)) = self.low.wave_of(i) {
            return self.wave_stmt(p, plan, s);
        }
        let Some((p, plan)) = self.low.plan_of(i) else {
            return self.stmt(s);
        };
        let scope = &self.scope;
        let rg = range_ident(p);
        let range = match plan.inner {
            Some((inner, _)) => {
                let outer = strip_parens(plan.range);
                let inner = strip_parens(inner);
                let product = private("Product", Span::call_site());
                quote!(#product::new(#outer, #inner))
            }
            None => strip_parens(plan.range).to_token_stream(),
        };
        let holds: Vec<_> = (0..plan.held.len()).map(|j| held_ident(p, j)).collect();
        let l = plan_ident(p);
        let held = &plan.held;
        let fr = private("FusedRange", Span::call_site());
        let len = temp("__tg_len", Span::call_site());
        let prologue = quote! {
            #rg = #range;
            #( #holds = #l.hold(#held); )*
            let #len = #fr::fused_len(&#rg);
        };
        let decl = quote! {
            let #rg;
            #( let #holds; )*
        };
        let node = self.stmt(s);
        match &plan.kind {
            PlanKind::For => {
                let fused = self.fused_loop(p, plan, &len);
                let extend = plan.outs.iter().enumerate().map(|(j, o)| {
                    let e = elem_ident(p, j);
                    let v = o.vec;
                    quote!(#v.extend_from(&#e.make(#len)?);)
                });
                let r = plan.reduce.map(|_| {
                    let r = reduced_ident(p);
                    quote!(let mut #r = ::core::option::Option::None;)
                });
                let top = self.while_top(p, plan.while_tree.as_ref().map(|t| t.vec));
                let fusable = self.plan_fusable(plan);
                quote! {
                    #decl
                    #r
                    if #scope.fusion() #fusable {
                        #prologue
                        #(#extend)*
                        #fused
                        #top
                    } else {
                        #node
                    }
                }
            }
            PlanKind::Collect { name, ty } => {
                let fused = self.fused_loop(p, plan, &len);
                let Stmt::Let {
                    value, mutability, ..
                } = s
                else {
                    unreachable!("a collect plan is a `let`")
                };
                let node_value = self.value(value);
                let lazy_vec = private("LazyVec", Span::call_site());
                let ty = ty.map(|t| {
                    let t = lazy_vec_type(t);
                    quote!(: #t)
                });
                let r = plan.reduce.map(|_| {
                    let r = reduced_ident(p);
                    quote!(let mut #r = ::core::option::Option::None;)
                });
                let result = if plan.outs.is_empty() {
                    quote!(#lazy_vec::new())
                } else {
                    let e = elem_ident(p, 0);
                    quote!(#e.make(#len)?)
                };
                let fusable = self.plan_fusable(plan);
                let v = temp("__tg_v", Span::call_site());
                let (m, top) = match self.while_top(p, plan.while_tree.as_ref().map(|_| &v)) {
                    t if t.is_empty() => (None, t),
                    t => (Some(quote!(mut)), t),
                };
                quote! {
                    #decl
                    #r
                    let #mutability #name #ty = if #scope.fusion() #fusable {
                        #prologue
                        let #m #v = #result;
                        #fused
                        #top
                        #v
                    } else {
                        #node_value
                    };
                }
            }
            PlanKind::Chain { var } => {
                let cx = &self.cx;
                let k = temp("__tg_k", Span::call_site());
                let pat = plan.pat;
                let body = self.events(p, plan, &k);
                let take = private("take", Span::call_site());
                let init = temp("__tg_init", Span::call_site());
                let cx_ty = private("Cx", Span::call_site());
                let ret = match plan.events.iter().rev().find_map(|e| match e {
                    Event::Link(l) => Some(&l.name),
                    _ => None,
                }) {
                    Some(n) => n.to_token_stream(),
                    None => var.to_token_stream(),
                };
                let hint = self.tasks_hint(p, plan);
                let fusable = self.plan_fusable(plan);
                quote! {
                    #decl
                    if #scope.fusion() #fusable {
                        #prologue
                        #hint
                        let #init = #l.take(#var);
                        #var = #l.chain(
                            #len,
                            move |#cx: &#cx_ty<'_, '_>| #take(#init, #cx),
                            |#k: u32, #var, #cx: &#cx_ty<'_, '_>| {
                                let #pat = #fr::fused_at(&#rg, #k as usize);
                                #body
                                ::core::result::Result::Ok(#ret)
                            },
                        )?;
                    } else {
                        #node
                    }
                }
            }
        }
    }

    /// `let pat = range[k];` (a pair for a flattened nest).
    fn bind_iteration(&self, p: usize, plan: &Plan<'_>, k: &Ident) -> TokenStream {
        let rg = range_ident(p);
        let fr = private("FusedRange", Span::call_site());
        let pat = plan.pat;
        match plan.inner {
            Some((_, ipat)) => quote!(let (#pat, #ipat) = #fr::fused_at(&#rg, #k as usize);),
            None => quote!(let #pat = #fr::fused_at(&#rg, #k as usize);),
        }
    }

    /// The loop indices of iteration `k`, as the node-by-node code numbers them.
    fn iteration_at(&self, p: usize, plan: &Plan<'_>, k: &Ident) -> TokenStream {
        match plan.inner {
            Some(_) => {
                let rg = range_ident(p);
                quote!(#rg.at(#k))
            }
            None => quote!([#k]),
        }
    }

    /// `&& const { kind.fusable() } ..` for the tasks `fams` a fused form
    /// would call: a loop that calls an async task runs node by node,
    /// decided at compile time from the functions' companions.
    pub(super) fn fusable(&self, fams: impl Iterator<Item = FamId>) -> TokenStream {
        let mut seen = Vec::new();
        let mut out = TokenStream::new();
        for i in fams {
            if self.g.families[i].expr.is_some() {
                continue;
            }
            let companion = &self.paths[i].1;
            let key = companion.to_token_stream().to_string();
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            out.extend(quote!(&& const { <#companion>::__TG_KIND.fusable() }));
        }
        out
    }

    /// [`Ctx::fusable`] for the calls of loop plan `plan`.
    fn plan_fusable(&self, plan: &Plan<'_>) -> TokenStream {
        let links = plan.events.iter().filter_map(|e| match e {
            Event::Link(link) => Some(link.fam),
            _ => None,
        });
        self.fusable(links.chain(plan.reduce))
    }

    /// The kind of task family `fam` runs (`SyncTask` or `AsyncTask`): its
    /// companion's, or a plain task for an expression.
    fn kind(&self, fam: FamId) -> TokenStream {
        let f = &self.g.families[fam];
        if f.expr.is_some() {
            return private("SyncTask", f.span);
        }
        let companion = &self.paths[fam].1;
        quote_spanned!(f.span=> <#companion>::__TG_KIND)
    }

    /// Tells fused loop `p` which tasks each iteration runs, for progress:
    /// `loop.tasks(&[infos of the body's calls], Some(combine's info))`.
    fn tasks_hint(&self, p: usize, plan: &Plan<'_>) -> TokenStream {
        let l = plan_ident(p);
        let body = plan.events.iter().filter_map(|e| match e {
            Event::Link(link) => Some(info_ident(self.g, link.fam)),
            _ => None,
        });
        let combine = match plan.reduce {
            Some(f) => {
                let i = info_ident(self.g, f);
                quote!(::core::option::Option::Some(#i))
            }
            None => quote!(::core::option::Option::None),
        };
        quote!(#l.tasks(&[#(#body),*], #combine);)
    }

    /// For the pairwise `while` tree's loop (`Plan::while_tree`): its
    /// vector `v` gets the tree's one value, if the loop made any element
    /// (`v.push(r)`), as the tree's `if v.len() > 1` would leave it.
    fn while_top(&self, p: usize, v: Option<&Ident>) -> TokenStream {
        let Some(v) = v else {
            return TokenStream::new();
        };
        let r = reduced_ident(p);
        let x = temp("__tg_x", Span::call_site());
        quote! {
            if let ::core::option::Option::Some(#x) = #r.take() {
                #v.push(#x);
            }
        }
    }

    /// The fused form of an `each` or `reduce` loop.
    fn fused_loop(&self, p: usize, plan: &Plan<'_>, len: &Ident) -> TokenStream {
        let hint = self.tasks_hint(p, plan);
        let fused = self.fused_loop_body(p, plan, len);
        quote!(#hint #fused)
    }

    fn fused_loop_body(&self, p: usize, plan: &Plan<'_>, len: &Ident) -> TokenStream {
        let cx = &self.cx;
        let l = plan_ident(p);
        let k = temp("__tg_k", Span::call_site());
        let cx_ty = private("Cx", Span::call_site());
        let body = self.events(p, plan, &k);
        let bind = self.bind_iteration(p, plan, &k);
        let elems = (0..plan.outs.len()).map(|j| {
            let e = elem_ident(p, j);
            quote!(#e.id())
        });
        let elems = quote!(&[#(#elems),*]);
        match plan.reduce {
            Some(f) => {
                let leaf = temp("__tg_leaf", Span::call_site());
                let r = reduced_ident(p);
                let fam = &self.g.families[f];
                let info = info_ident(self.g, f);
                let nonempty = private("nonempty_reduce", Span::call_site());
                let combine = self.combine(f);
                let _ = fam;
                let reduce = quote! {
                    #r = ::core::option::Option::Some(#l.reduce(
                        #len,
                        |#k: u32, #cx: &#cx_ty<'_, '_>| {
                            #bind
                            #body
                            ::core::result::Result::Ok(#leaf)
                        },
                        #combine,
                        #elems,
                    )?);
                };
                // The `while` tree's loop leaves an empty vector empty; any
                // other reduction fails on it.
                if let Some(tree) = &plan.while_tree {
                    // An unguarded tree's check, on the loop's length.
                    let check = tree.check.as_ref().map(|c| {
                        let mut c = c.clone();
                        c.args[0] = syn::parse_quote!(#len);
                        quote!(#c?;)
                    });
                    quote!(#check if #len > 0 { #reduce })
                } else {
                    quote! {
                        #nonempty(#len, #info, &[])?;
                        #reduce
                    }
                }
            }
            None => quote! {
                let _ = #l.each(
                    #len,
                    |#k: u32, #cx: &#cx_ty<'_, '_>| {
                        #bind
                        #body
                        ::core::result::Result::Ok(())
                    },
                    #elems,
                )?;
            },
        }
    }

    /// The fused combine of `tree_reduce` family `f`:
    /// `|a, b, level, position, cx| f(a, b)` as the task at those indices.
    fn combine(&self, f: FamId) -> TokenStream {
        let fam = &self.g.families[f];
        let sp = fam.span;
        let cx = temp(&self.cx.to_string(), sp);
        let cx_ty = private("Cx", sp);
        let (a, b, lv, lp) = (
            temp("__tg_ra", sp),
            temp("__tg_rb", sp),
            temp("__tg_lv", sp),
            temp("__tg_lp", sp),
        );
        let (v0, v1) = (Ident::new("__tg_v0", sp), Ident::new("__tg_v1", sp));
        let m0 = self.mode(f, 0, sp);
        let m1 = self.mode(f, 1, sp);
        let info = info_ident(self.g, f);
        let callee = &self.paths[f].0;
        let ls = (0..fam.depth).map(loop_ident);
        let kind = self.kind(f);
        let call = quote_spanned!(sp=> #kind.inline(#callee(#v0.arg(), #v1.arg())));
        quote_spanned! {sp=>
            |#a, #b, #lv: u32, #lp: u32, #cx: &#cx_ty<'_, '_>| {
                let #v0 = #m0.take(#a);
                let #v1 = #m1.take(#b);
                #cx.task(#info, [#(#ls as u32,)* #lv, #lp], move || #call)
            }
        }
    }

    /// One task inside a fused block, bound to `name`: its arguments'
    /// statements (`temps`), then the call on `vals` through `Cx::task` (or
    /// `Cx::try_task` for `?`), named with the indices `at`.
    pub(super) fn fused_task(
        &self,
        fam: FamId,
        name: &Ident,
        ty: Option<&Type>,
        temps: &[TokenStream],
        vals: &[TokenStream],
        at: &TokenStream,
    ) -> TokenStream {
        let cx = &self.cx;
        let info = info_ident(self.g, fam);
        let call = self.call_tokens(fam, vals);
        let ty = ty.map(|t| quote!(: #t));
        let task = match self.g.families[fam].fallible {
            true => quote!(#cx.try_task(#info, #at, move || #call)?),
            false => quote!(#cx.task(#info, #at, move || #call)),
        };
        quote! {
            let #name #ty = {
                #(#temps)*
                #task
            };
        }
    }

    /// `companion::__TG_Pi`, named at the function; an expression's
    /// parameters are taken by value.
    fn mode(&self, fam: FamId, i: usize, span: Span) -> TokenStream {
        if self.g.families[fam].expr.is_some() {
            return private("ByValue", span);
        }
        let companion = &self.paths[fam].1;
        let mode = paths::param_mode(i, span);
        quote!(<#companion>::#mode)
    }

    /// The statements of one fused iteration.
    fn events(&self, p: usize, plan: &Plan<'_>, k: &Ident) -> TokenStream {
        let cx = &self.cx;
        let mut out = TokenStream::new();
        for e in &plan.events {
            match e {
                Event::Plain(ts) => out.extend((*ts).clone()),
                Event::Link(link) => {
                    let f = &self.g.families[link.fam];
                    let mut temps = Vec::new();
                    let mut vals = Vec::new();
                    for (i, (a, prm)) in link.args.iter().zip(&f.params).enumerate() {
                        // Spanned at the argument with the user's hygiene, as in
                        // the node-by-node code, so a type error is reported
                        // once, there.
                        let t = Ident::new(&format!("__tg_v{i}"), prm.span);
                        match a {
                            LinkArg::Plain(e) => {
                                temps.push(quote!(let #t = #e;));
                                vals.push(t.to_token_stream());
                            }
                            LinkArg::Local { name, last } => {
                                let mode = self.mode(link.fam, i, prm.span);
                                let take = if *last {
                                    quote_spanned!(prm.span=> (#mode).take(#name))
                                } else {
                                    quote_spanned!(prm.span=> (#mode).share(&#name))
                                };
                                temps.push(quote!(let #t = #take;));
                                vals.push(quote_spanned!(prm.span=> #t.arg()));
                            }
                            LinkArg::Outer { name } => {
                                let j = plan.held.iter().position(|h| h == name).expect("held");
                                let h = held_ident(p, j);
                                let mode = self.mode(link.fam, i, prm.span);
                                let cxa = temp(&cx.to_string(), prm.span);
                                temps.push(
                                    quote_spanned!(prm.span=> let #t = (#mode).outer(#h, #cxa);),
                                );
                                vals.push(quote_spanned!(prm.span=> #t.arg()));
                            }
                        }
                    }
                    let at = self.iteration_at(p, plan, k);
                    out.extend(self.fused_task(link.fam, &link.name, link.ty, &temps, &vals, &at));
                }
                Event::Push { out: o, name, last } => {
                    let v = if *last {
                        name.to_token_stream()
                    } else {
                        quote!(::core::clone::Clone::clone(&#name))
                    };
                    match o {
                        Out::Element(j) => {
                            let e = elem_ident(p, *j);
                            out.extend(quote!(#e.write(#k, #v, #cx);));
                        }
                        Out::Leaf => {
                            let leaf = temp("__tg_leaf", Span::call_site());
                            out.extend(quote!(let #leaf = #v;));
                        }
                    }
                }
            }
        }
        out
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
                let kind = self.g.vars[*var].kind;
                if kind == VarKind::Rows {
                    // A plain `Vec` of vectors of lazy values.
                    let pat = match pat {
                        syn::Pat::Type(pt) => pt.pat.to_token_stream(),
                        p => p.to_token_stream(),
                    };
                    return quote!(#attrs let #pat = ::std::vec::Vec::new(););
                }
                let lazy = kind == VarKind::LazyVec;
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
                let init = if lazy {
                    let lv = private("LazyVec", Span::call_site());
                    quote!(#lv::new())
                } else {
                    init.to_token_stream()
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
            Stmt::Assign { name, value } | Stmt::AssignVec { name, value } => {
                let v = self.value(value);
                quote!(#name = #v;)
            }
            Stmt::If { cond, then, els } => {
                let then = then.iter().map(|s| self.stmt(s));
                let els = els.as_ref().map(|b| {
                    let b = b.iter().map(|s| self.stmt(s));
                    quote!(else { #(#b)* })
                });
                quote!(if #cond { #(#then)* } #els)
            }
            Stmt::Match { expr, arms } => {
                let arms = arms.iter().map(|a| {
                    let pat = &a.pat;
                    let guard = a.guard.as_ref().map(|g| quote!(if #g));
                    let body = a.body.iter().map(|s| self.stmt(s));
                    quote!(#pat #guard => { #(#body)* })
                });
                quote!(match #expr { #(#arms)* })
            }
            Stmt::While {
                label,
                cond,
                body,
                depth,
            } => {
                let c = temp(&format!("__tg_c{}", depth - 1), Span::call_site());
                let l = loop_ident(depth - 1);
                let body = body.iter().map(|s| self.stmt(s));
                quote! {
                    {
                        let mut #c: usize = 0;
                        #label while #cond {
                            let #l = #c;
                            #c += 1;
                            #(#body)*
                        }
                    }
                }
            }
            Stmt::Loop { label, body, depth } => {
                let c = temp(&format!("__tg_c{}", depth - 1), Span::call_site());
                let l = loop_ident(depth - 1);
                let body = body.iter().map(|s| self.stmt(s));
                quote! {
                    {
                        let mut #c: usize = 0;
                        #label loop {
                            let #l = #c;
                            #c += 1;
                            #(#body)*
                        }
                    }
                }
            }
            Stmt::Block(body) => {
                let body = body.iter().map(|s| self.stmt(s));
                quote!({ #(#body)* })
            }
            Stmt::Push {
                vec, method, value, ..
            } => {
                let v = self.value(value);
                quote!(#vec.#method(#v);)
            }
            Stmt::Eval(value) => {
                let v = self.value(value);
                quote!(let _ = #v;)
            }
            Stmt::SetIndex {
                name,
                row,
                index,
                value,
                span,
            } => {
                // The value first: `v[i] = f(v[i])` reads the old element.
                let v = self.value(value);
                let x = temp("__tg_x", Span::call_site());
                let (text, at) = (name.to_string(), location(*span));
                match row {
                    None => {
                        quote_spanned!(*span=> { let #x = #v; #name.set(#index, #x, #text, #at)?; })
                    }
                    Some(r) => {
                        let row_mut = private("row_mut", *span);
                        let inner = format!("{name}[{}]", template::compact(r.to_token_stream()));
                        quote_spanned!(*span=> {
                            let #x = #v;
                            #row_mut(&mut #name, #r, #text, #at)?.set(#index, #x, #inner, #at)?;
                        })
                    }
                }
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
        quote! {
            #( #fams.reserve(#n); )*
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
                // Arguments that are plain expressions or lazy variables go
                // straight into the call: reading a variable has no effect,
                // so the plain ones still run in the order written. A nested
                // call (it adds nodes) is bound first, in order.
                let simple = args
                    .iter()
                    .all(|a| matches!(a, Arg::Plain(_) | Arg::Lazy(Value::Var { .. })));
                if simple {
                    let (mut plain, mut lazy) = (Vec::new(), Vec::new());
                    for a in args {
                        match a {
                            Arg::Plain(e) => plain.push(e.to_token_stream()),
                            Arg::Lazy(v) => lazy.push(self.value(v)),
                        }
                    }
                    return quote_spanned! {f.span=>
                        #name.push(#at, (#(#plain,)*), (#(#lazy,)*))
                    };
                }
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
                let (lv, lp) = (temp("__tg_lv", f.span), temp("__tg_lp", f.span));
                let ls = (0..f.depth).map(loop_ident);
                let at = quote_spanned!(f.span=> |#lv: u32, #lp: u32| [#(#ls as u32,)* #lv, #lp]);
                let absorbed = self.low.absorbing(*fam);
                let nodes = if f.depth == 0 && absorbed.is_none() {
                    let reduce = private("tree_reduce", f.span);
                    let u = reduce_loop_ident(self.g, *fam);
                    let scope = &self.scope;
                    let combine = self.combine(*fam);
                    quote_spanned! {f.span=>
                        #reduce(#scope.fusion(), #name, #u, #v, #at, #combine)?
                    }
                } else {
                    let reduce = private("tree_reduce_nodes", f.span);
                    quote_spanned! {f.span=>
                        #reduce(#name, #v, #at)?
                    }
                };
                match absorbed {
                    // The `while` tree's `if` is reached only when its loop
                    // ran node by node (fused, it leaves one value or none).
                    Some(p) if self.low.plans[p].while_tree.is_none() => {
                        let r = reduced_ident(p);
                        let x = temp("__tg_x", f.span);
                        quote_spanned! {f.span=>
                            match #r {
                                ::core::option::Option::Some(#x) => #x,
                                ::core::option::Option::None => #nodes,
                            }
                        }
                    }
                    _ => nodes,
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
                let lazy_vec = private("LazyVec", *span);
                // Rows (each element a vector of lazy values): a `Vec` of them.
                let collected = match &**tail {
                    Value::Collect { .. }
                    | Value::VecVar { .. }
                    | Value::Slice { .. }
                    | Value::Row { .. } => quote!(::std::vec::Vec<#lazy_vec<'_, _>>),
                    _ => quote!(#lazy_vec<'_, _>),
                };
                let body = stmts.iter().map(|s| self.stmt(s));
                let tail = self.value(tail);
                let recv = strip_parens(recv);
                let error_ty = private("Error", *span);
                quote_spanned! {*span=>
                    {
                        let mut #counter: usize = 0;
                        let #it = ::core::iter::IntoIterator::into_iter(#recv);
                        let #n = ::core::iter::Iterator::size_hint(&#it).0;
                        #reserves
                        ::core::iter::Iterator::collect::<
                            ::core::result::Result<#collected, #error_ty>,
                        >(
                            ::core::iter::Iterator::map(#it, |#pat| {
                                let #l = #counter;
                                #counter += 1;
                                #(#body)*
                                ::core::result::Result::Ok(#tail)
                            }),
                        )?
                    }
                }
            }
            Value::Tuple(vs) => {
                let vs = vs.iter().map(|v| self.value(v));
                quote!((#(#vs,)*))
            }
            Value::Again(v) => {
                // At the macro, with the value at the user's token: the
                // error names the value's type.
                let again = private("again", Span::call_site());
                let inner = self.value(v);
                quote!(#again(#inner))
            }
            Value::PlainOutput(e) => {
                let sp = syn::spanned::Spanned::span(e);
                let plain = private("PlainOutput", sp);
                quote_spanned!(sp=> #plain(#e))
            }
            Value::If { cond, then, els } => {
                let (t, e) = (self.branch(then), self.branch(els));
                quote!(if #cond { #t } else { #e })
            }
            Value::Match { expr, arms } => {
                let arms = arms.iter().map(|(pat, guard, b)| {
                    let guard = guard.as_ref().map(|g| quote!(if #g));
                    let b = self.branch(b);
                    quote!(#pat #guard => { #b })
                });
                quote!(match #expr { #(#arms)* })
            }
            Value::Index {
                name,
                row: None,
                index,
                span,
            } => {
                let (text, at) = (name.to_string(), location(*span));
                quote_spanned!(*span=> #name.at(#index, #text, #at)?)
            }
            Value::Index {
                name,
                row: Some(r),
                index,
                span,
            } => {
                let (text, at) = (name.to_string(), location(*span));
                let row = private("row", *span);
                let inner = format!("{name}[{}]", template::compact(r.to_token_stream()));
                quote_spanned!(*span=> #row(&#name, #r, #text, #at)?.at(#index, #inner, #at)?)
            }
            Value::Row { name, index, span } => {
                let (text, at) = (name.to_string(), location(*span));
                let row = private("row", *span);
                quote_spanned!(*span=> ::core::clone::Clone::clone(#row(&#name, #index, #text, #at)?))
            }
            Value::Slice {
                name, range, span, ..
            } => {
                let (text, at) = (name.to_string(), location(*span));
                quote_spanned!(*span=> #name.slice(#range, #text, #at)?)
            }
            Value::Source { expr, index } => {
                let sp = syn::spanned::Spanned::span(expr);
                let src = source_ident(*index);
                let read = match self.g.borrowed.iter().any(|(k, _)| k == index) {
                    true => borrowed_ident(*index).to_token_stream(),
                    false => expr.to_token_stream(),
                };
                let info_ty = private("FamilyInfo", sp);
                let name = quote!(#expr).to_string();
                let (line, column) = line_column(sp);
                // Checked first, so that a value that is not a vector is
                // one error naming its type.
                let check = private("vector_source", sp);
                let checked = quote_spanned!(sp=> #check(#read));
                quote_spanned! {sp=>
                    #src.read(
                        &const { #info_ty::new(#name, ::core::file!(), #line, #column) },
                        #checked,
                    )?
                }
            }
            Value::Error => {
                let p = private("mistaken", Span::call_site());
                quote!(#p())
            }
        }
    }

    /// A branch's statements and final value.
    fn branch(&self, b: &Branch) -> TokenStream {
        let stmts = b.stmts.iter().map(|s| self.stmt(s));
        let tail = self.value(&b.tail);
        quote!(#(#stmts)* #tail)
    }

    /// The call a node of family `fam` makes with arguments `args`: the
    /// `#[delayed]` function, or an expression's body with its parameters
    /// bound to the names it reads. A call with `?` is the task's outcome, a
    /// `Result<T, TaskError>` (its `Err` becomes the task's failure, a
    /// value: nothing unwinds), run by `try_task`/`try_bind` instead of
    /// `task`/`bind`. Both kinds of work use this.
    fn call_tokens(&self, fam: FamId, args: &[TokenStream]) -> TokenStream {
        let f = &self.g.families[fam];
        let raw = self.raw_call(fam, args);
        let call = match f.expr {
            // An expression is a plain task.
            Some(_) => raw,
            None => {
                let kind = self.kind(fam);
                quote_spanned!(f.span=> #kind.inline(#raw))
            }
        };
        if !f.fallible {
            return call;
        }
        let lift = private("lift", f.span);
        let fallible = private("Fallible", f.span);
        quote_spanned!(f.span=> #lift(#fallible::into_result(#call)))
    }

    /// The call itself: the `#[delayed]` function (its future, if it is
    /// async), or an expression's body.
    fn raw_call(&self, fam: FamId, args: &[TokenStream]) -> TokenStream {
        let f = &self.g.families[fam];
        match &f.expr {
            None => {
                let callee = &self.paths[fam].0;
                quote_spanned!(f.span=> #callee(#(#args),*))
            }
            Some(x) => {
                let names = &x.names;
                let e = &x.expr;
                quote_spanned! {f.span=>
                    {
                        #(
                            #[allow(unused_variables, unused_mut)]
                            let #names = #args;
                        )*
                        #e
                    }
                }
            }
        }
    }

    /// `let b = family.bind(|(plain..), (lazy..), cx| callee(args..));`
    fn body(&self, i: usize, f: &Family) -> TokenStream {
        let name = fam_ident(self.g, i);
        let bound = bound_ident(self.g, i);
        let cx = &self.cx;
        let mut plain = Vec::new();
        let mut lazy = Vec::new();
        let mut modes = Vec::new();
        let mut args = Vec::new();
        let mut guards = Vec::new();
        let kind = temp("__tg_kind", f.span);
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
                    let mode = self.mode(i, k, p.span);
                    if p.borrowed {
                        let check = private("expect_borrow", p.span);
                        modes.push(quote_spanned!(p.span=> #check(&(#mode));));
                    }
                    let pass = match once {
                        Once::Use(u) => self.low.passing.by_use[u],
                        _ => None,
                    };
                    let method = match pass {
                        Some(Pass::Once) => "once",
                        Some(Pass::Peek) => "peek",
                        Some(Pass::Last) => "last",
                        None if self.once(once) => "once",
                        None => "shared",
                    };
                    if method == "shared" {
                        // By value, the value must be `Clone`: checked
                        // first, with the call at the macro and the argument
                        // at the user's token, so that the error names the
                        // value's type.
                        let at = quote_spanned!(p.span=> &#a);
                        modes.push(quote!((#mode).shared_input(#at);));
                    }
                    let method = Ident::new(method, p.span);
                    let cx = temp(&cx.to_string(), p.span);
                    if p.borrowed && f.expr.is_none() {
                        // A borrow guard, held until the call ends (for an
                        // async task, by its future).
                        let h = temp(&format!("__tg_h{k}"), p.span);
                        modes.push(
                            quote_spanned!(p.span=> let #h = #kind.hold((#mode).#method(#a, #cx));),
                        );
                        args.push(quote_spanned!(p.span=> #h.arg()));
                        guards.push(h);
                    } else {
                        // In parentheses at the argument: a type error spans
                        // the whole method chain, which then starts there.
                        args.push(quote_spanned!(p.span=> (#mode).#method(#a, #cx).arg()));
                    }
                }
            }
        }
        let bind = match f.fallible {
            true => Ident::new("try_bind", f.span),
            false => Ident::new("bind", f.span),
        };
        let cx_at = temp(&cx.to_string(), f.span);
        // A body that reads lazy inputs is inlined into the function
        // pointer's shim (`BodyFn`) before LLVM sees it: one function per
        // call site to optimise instead of two. (A body of plain arguments
        // alone is small either way.)
        let inline = match lazy.is_empty() {
            true => TokenStream::new(),
            false => quote!(#[inline(always)]),
        };
        if f.expr.is_some() {
            // An expression: a plain task, bound as it is.
            let call = self.call_tokens(i, &args);
            let body = match modes.is_empty() {
                true => call,
                false => quote!({ #(#modes)* #call }),
            };
            return quote_spanned! {f.span=>
                let #bound = #name.#bind(#inline |(#(#plain,)*), (#(#lazy,)*), #cx_at| #body);
            };
        }
        // A `#[delayed]` function: bound by its kind (plain or async). Its
        // borrow guards are dropped after the call (for an async task, with
        // its future), and `?` lifts its result (for an async task, its
        // future's output): both through the kind, named once in a local.
        let raw = self.raw_call(i, &args);
        let kind_of = self.kind(i);
        if guards.is_empty() && !f.fallible {
            // (Its checks, if any: `shared_input`.)
            let body = match modes.is_empty() {
                true => raw,
                false => quote!({ #(#modes)* #raw }),
            };
            return quote_spanned! {f.span=>
                let #bound = #kind_of.#bind(&#name, #inline |(#(#plain,)*), (#(#lazy,)*), #cx_at| #body);
            };
        }
        let finish = match f.fallible {
            true => Ident::new("try_finish", f.span),
            false => Ident::new("finish", f.span),
        };
        let call = quote_spanned!(f.span=> #kind.#finish(#raw, (#(#guards,)*)));
        // The kind is named inside the body: a body captures nothing (it is
        // a function pointer, `BodyFn`).
        quote_spanned! {f.span=>
            let #bound = #kind_of.#bind(&#name, #inline |(#(#plain,)*), (#(#lazy,)*), #cx_at| {
                let #kind = #kind_of;
                #(#modes)*
                #call
            });
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

/// `Vec<T>` → `LazyVec<'_, T>`; other annotations are kept.
fn lazy_vec_type(t: &Type) -> TokenStream {
    if let Type::Path(p) = t {
        if let Some(last) = p.path.segments.last() {
            if last.ident == "Vec" {
                if let PathArguments::AngleBracketed(a) = &last.arguments {
                    if let Some(GenericArgument::Type(elem)) = a.args.first() {
                        let lazy = private("LazyVec", Span::call_site());
                        return quote!(#lazy<'_, #elem>);
                    }
                }
            }
        }
    }
    t.to_token_stream()
}
