//! The graph's compile-time template: a `static` description of its call
//! sites, loops and edges (with the source text of loop ranges and index
//! maps), which the runtime draws without running anything, and which
//! observers use to count the tasks of fused loops.
//!
//! The edges come from one walk over the IR that tracks, for each lazy
//! variable, the call sites that may have made its value and the loops they
//! were in; a loop whose body reassigns a variable is walked twice, the
//! second time to see the values carried from one iteration to the next.

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};

use super::super::ir::*;
use super::super::lower::{Event, Lowering};
use super::line_column;
use crate::paths::private;

/// A value's maker, as the walk knows it.
#[derive(Clone)]
struct Prod {
    fam: FamId,
    /// The loops around the call, outermost first.
    loops: Vec<usize>,
    /// When it was made (the walk's counter), to tell values carried from
    /// the previous iteration.
    at: usize,
}

#[derive(Clone)]
enum Binding {
    /// A lazy value: any of these calls may have made it.
    Value(Vec<Prod>),
    /// A vector of lazy values: its elements' makers.
    Vector(Vec<Prod>),
    /// One element of a vector per iteration of the loop over it.
    Element(Vec<Prod>, usize),
}

struct LoopRec {
    pattern: String,
    iter: String,
    kind: &'static str,
    span: Span,
    parent: Option<usize>,
}

pub(crate) struct Walk {
    parents: Vec<Option<usize>>,
    reduces: Vec<Option<String>>,
    loops: Vec<LoopRec>,
    stack: Vec<usize>,
    env: Vec<(String, Binding)>,
    edges: Vec<(FamId, FamId, String)>,
    clock: usize,
    /// While walking a loop body the second time: values made by the first
    /// walk of it are the previous iteration's.
    /// `(first walk's start, second walk's start, loop depth)`.
    carried: Option<(usize, usize, usize)>,
    /// The call sites whose values are the graph's output.
    outputs: Vec<u32>,
}

/// The walk over graph `g`: its loops, and each call site's innermost loop.
pub(crate) fn walk(g: &Graph) -> Walk {
    let mut w = Walk {
        parents: vec![None; g.families.len()],
        reduces: vec![None; g.families.len()],
        loops: Vec::new(),
        stack: Vec::new(),
        env: Vec::new(),
        edges: Vec::new(),
        clock: 0,
        carried: None,
        outputs: Vec::new(),
    };
    w.stmts(&g.stmts);
    w.outputs = w.value(&g.tail).iter().map(|p| p.fam as u32).collect();
    w
}

impl Walk {
    /// `.with_loops(&[..])` for call site `fam` (the loops around it,
    /// outermost first, as `LoopVar`s), then `.with_tree_reduce()` for a
    /// `tree_reduce`; nothing for a call outside loops.
    pub(crate) fn site_loops(&self, fam: FamId) -> TokenStream {
        let mut out = TokenStream::new();
        if let Some(k) = self.parents[fam] {
            let c = loop_vars_ident(k);
            out.extend(quote!(.with_loops(#c)));
        }
        if self.reduces[fam].is_some() {
            out.extend(quote!(.with_tree_reduce()));
        }
        out
    }
}

impl Walk {
    /// `const __TG_Vk: &[LoopVar] = &[..];` for every loop `k`: the loops
    /// around a call site in it, outermost first, as its `FamilyInfo`
    /// names them (`site_loops`).
    pub(crate) fn loop_vars(&self) -> TokenStream {
        let lv = private("LoopVar", Span::call_site());
        let consts = (0..self.loops.len()).map(|k| {
            let mut chain = Vec::new();
            let mut l = Some(k);
            while let Some(j) = l {
                chain.push(&self.loops[j]);
                l = self.loops[j].parent;
            }
            chain.reverse();
            let vars = chain.iter().map(|l| {
                let (pattern, iter) = (&l.pattern, &l.iter);
                quote!(#lv::new(#pattern, #iter))
            });
            let c = loop_vars_ident(k);
            quote!(const #c: &[#lv] = &[#(#vars),*];)
        });
        quote!(#(#consts)*)
    }
}

/// The loop variables around a call site in loop `k` (`Walk::loop_vars`).
fn loop_vars_ident(k: usize) -> proc_macro2::Ident {
    proc_macro2::Ident::new(&format!("__TG_V{k}"), Span::mixed_site())
}

/// `&'static Template` for graph `g` walked as `w`, as an expression.
pub(crate) fn template(g: &Graph, low: &Lowering<'_>, w: &Walk) -> TokenStream {
    let outputs = &w.outputs;

    let lp = private("LoopSite", Span::call_site());
    let fused = private("Fused", Span::call_site());
    let templ = private("Template", Span::call_site());
    let sites = g.families.iter().enumerate().map(|(i, f)| {
        let name = &f.name;
        let (line, column) = line_column(f.span);
        let parent = w.parents[i].map(|k| {
            let k = proc_macro2::Literal::u32_unsuffixed(k as u32);
            quote!(.in_loop(#k))
        });
        let reduce = w.reduces[i].as_ref().map(|v| quote!(.reduces(#v)));
        quote!(__TgS::at(#name, #line, #column) #parent #reduce)
    });
    let loops = w.loops.iter().map(|l| {
        let (pattern, iter, kind) = (&l.pattern, &l.iter, l.kind);
        let (line, column) = line_column(l.span);
        let parent = l.parent.map(|k| {
            let k = proc_macro2::Literal::u32_unsuffixed(k as u32);
            quote!(.in_loop(#k))
        });
        quote!(#lp::at(#pattern, #iter, #kind, #line, #column) #parent)
    });
    let mut seen = Vec::new();
    let edges = w.edges.iter().filter_map(|e| {
        if seen.contains(e) {
            return None;
        }
        seen.push(e.clone());
        let from = proc_macro2::Literal::u32_unsuffixed(e.0 as u32);
        let to = proc_macro2::Literal::u32_unsuffixed(e.1 as u32);
        let label = &e.2;
        Some(quote!(__TgL::new(#from, #to, #label)))
    });
    let plans = low.plans.iter().map(|p| {
        let (line, column) = line_column(p.span);
        let each = p.events.iter().filter_map(|e| match e {
            Event::Link(l) => Some(l.fam as u32),
            _ => None,
        });
        let reduce = p.reduce.map(|f| {
            let f = proc_macro2::Literal::u32_unsuffixed(f as u32);
            quote!(.reduces(#f))
        });
        quote!(#fused::at(#line, #column, &[#(#each),*]) #reduce)
    });
    // Step loops: their inner loop's sites once per value it pushes, each
    // boundary value's once per step.
    let sites_of = |el: &crate::graph::tiles::Element<'_>| {
        let fams = el.events.iter().filter_map(|e| match e {
            crate::graph::tiles::SEvent::Link(l) => Some(l.fam as u32),
            _ => None,
        });
        quote!(&[#(#fams),*])
    };
    let steps = low.steps.iter().map(|p| {
        let (line, column) = line_column(p.span);
        let each = sites_of(&p.inner);
        let before = p.before.iter().map(sites_of);
        let after = p.after.iter().map(sites_of);
        quote!(#fused { line: #line, column: #column, each: #each, reduce: ::core::option::Option::None, chosen: 0, before: &[#(#before),*], after: &[#(#after),*] })
    });
    // Wavefronts: the sites every cell runs once per cell, the tasks an
    // `if` chooses counted at the loop (`Fused::chosen`).
    let waves = low.waves.iter().map(|p| {
        let (line, column) = line_column(p.span);
        let (each, chosen) = p.cell_tasks();
        let each = each.iter().map(|f| *f as u32);
        quote!(#fused::at(#line, #column, &[#(#each),*]).chosen(#chosen))
    });
    // Sites and edges in the short form (one line each in an expansion).
    quote! {{
        #[allow(unused_imports)]
        use ::taskdag::__private::{Site as __TgS, Link as __TgL};
        static __TG_TEMPLATE: #templ = #templ {
            file: ::core::file!(),
            sites: &[#(#sites),*],
            loops: &[#(#loops),*],
            edges: &[#(#edges),*],
            outputs: &[#(#outputs),*],
            fused: &[#(#plans,)* #(#steps,)* #(#waves),*],
        };
        &__TG_TEMPLATE
    }}
}

impl Walk {
    fn tick(&mut self) -> usize {
        self.clock += 1;
        self.clock
    }

    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
    }

    fn bind(&mut self, name: String, b: Binding) {
        self.env.push((name, b));
    }

    fn rebind(&mut self, name: &str, b: Binding) {
        match self.env.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = b,
            None => self.env.push((name.to_owned(), b)),
        }
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::VecLocal { pat, .. } => {
                if let Some(n) = pat_name(pat) {
                    self.bind(n, Binding::Vector(Vec::new()));
                }
            }
            Stmt::Let {
                name, value, vec, ..
            } => {
                let p = self.value(value);
                let b = if *vec || matches!(value, Value::Collect { .. }) {
                    Binding::Vector(p)
                } else {
                    Binding::Value(p)
                };
                self.bind(name.to_string(), b);
            }
            Stmt::Assign { name, value } => {
                let p = self.value(value);
                self.rebind(&name.to_string(), Binding::Value(p));
            }
            Stmt::Push { vec, value, .. }
            | Stmt::SetIndex {
                name: vec, value, ..
            } => {
                let p = self.value(value);
                let name = vec.to_string();
                let mut elems = match self.lookup(&name) {
                    Some(Binding::Vector(e)) => e.clone(),
                    _ => Vec::new(),
                };
                for q in p {
                    if !elems.iter().any(|e| e.fam == q.fam) {
                        elems.push(q);
                    }
                }
                self.rebind(&name, Binding::Vector(elems));
            }
            Stmt::Eval(v) => {
                self.value(v);
            }
            Stmt::For {
                pat, iter, body, ..
            } => {
                let carried = assigns_outer(body);
                self.enter(pat, iter, "for", |w| {
                    let start = w.clock;
                    let mark = w.env.len();
                    w.stmts(body);
                    if carried {
                        // Again, with the values the first walk left in
                        // the variables it reassigned.
                        w.env.truncate(mark);
                        let outer = w.carried.replace((start, w.clock, w.stack.len()));
                        w.stmts(body);
                        w.carried = outer;
                    }
                    w.env.truncate(mark);
                });
            }
            Stmt::AssignVec { name, value } => {
                let p = self.value(value);
                self.rebind(&name.to_string(), Binding::Vector(p));
            }
            // A branch may run or not: its calls and edges are drawn once.
            Stmt::If { .. } | Stmt::Match { .. } | Stmt::Block(_) => {
                for c in s.children() {
                    self.stmt(c);
                }
            }
            Stmt::While { cond, body, .. } => {
                let pat: syn::Pat = syn::parse_quote!(_);
                let carried = assigns_outer(body);
                self.enter(&pat, cond, "while", |w| {
                    let start = w.clock;
                    let mark = w.env.len();
                    w.stmts(body);
                    if carried {
                        w.env.truncate(mark);
                        let outer = w.carried.replace((start, w.clock, w.stack.len()));
                        w.stmts(body);
                        w.carried = outer;
                    }
                    w.env.truncate(mark);
                });
            }
            Stmt::Loop { body, .. } => {
                let pat: syn::Pat = syn::parse_quote!(_);
                let cond: syn::Expr = syn::parse_quote!(true);
                self.enter(&pat, &cond, "loop", |w| {
                    let mark = w.env.len();
                    w.stmts(body);
                    w.env.truncate(mark);
                });
            }
            // Plain code.
            Stmt::Plain(_) => {}
        }
    }

    /// Walks `f` inside a new loop over `iter` with pattern `pat`.
    fn enter(
        &mut self,
        pat: &syn::Pat,
        iter: &syn::Expr,
        kind: &'static str,
        f: impl FnOnce(&mut Self),
    ) {
        use syn::spanned::Spanned;
        let rec = LoopRec {
            pattern: compact(pat.to_token_stream()),
            iter: compact(iter.to_token_stream()),
            kind,
            span: iter.span(),
            parent: self.stack.last().copied(),
        };
        // A loop walked again (the body of a loop that carries a value is
        // walked twice) is the same loop.
        let k = match self.loops.iter().position(|l| {
            (&l.pattern, &l.iter, l.kind, l.parent)
                == (&rec.pattern, &rec.iter, rec.kind, rec.parent)
        }) {
            Some(k) if self.carried.is_some() => k,
            _ => {
                self.loops.push(rec);
                self.loops.len() - 1
            }
        };
        let mark = self.env.len();
        // `for x in v.iter()` over a vector of lazy values: `x` is one element.
        if let Some(v) = vec_iter(iter) {
            if let (Some(Binding::Vector(e)), Some(n)) = (self.lookup(&v).cloned(), pat_name(pat)) {
                self.bind(n, Binding::Element(e, k));
            }
        }
        self.stack.push(k);
        f(self);
        self.stack.pop();
        self.env.truncate(mark);
    }

    /// The makers of a value; records the edges into the calls in it.
    fn value(&mut self, v: &Value) -> Vec<Prod> {
        match v {
            Value::Call { fam, args } => {
                self.parents[*fam] = self.stack.last().copied();
                for a in args {
                    if let Arg::Lazy(v) = a {
                        self.arg(v, *fam);
                    }
                }
                let at = self.tick();
                vec![Prod {
                    fam: *fam,
                    loops: self.stack.clone(),
                    at,
                }]
            }
            Value::Var { name, .. } | Value::VecVar { name, .. } => {
                match self.lookup(&name.to_string()) {
                    Some(Binding::Value(p) | Binding::Vector(p) | Binding::Element(p, _)) => {
                        p.clone()
                    }
                    None => Vec::new(),
                }
            }
            Value::Reduce { fam, vec } => {
                self.parents[*fam] = self.stack.last().copied();
                self.reduces[*fam] = Some(match &**vec {
                    Value::VecVar { name, .. } | Value::Var { name, .. } => name.to_string(),
                    _ => "..".to_owned(),
                });
                self.arg(vec, *fam);
                let at = self.tick();
                vec![Prod {
                    fam: *fam,
                    loops: self.stack.clone(),
                    at,
                }]
            }
            Value::Collect {
                recv,
                pat,
                stmts,
                tail,
                ..
            } => {
                let mut out = Vec::new();
                self.enter(pat, recv, "map", |w| {
                    w.stmts(stmts);
                    out = w.value(tail);
                });
                out
            }
            Value::Tuple(vs) => vs.iter().flat_map(|v| self.value(v)).collect(),
            Value::Again(v) => self.value(v),
            Value::Index { name, .. } | Value::Row { name, .. } | Value::Slice { name, .. } => {
                match self.lookup(&name.to_string()) {
                    Some(Binding::Value(p) | Binding::Vector(p) | Binding::Element(p, _)) => {
                        p.clone()
                    }
                    None => Vec::new(),
                }
            }
            Value::If { .. } | Value::Match { .. } => {
                let (stmts, tails, _) = v.parts();
                for s in stmts {
                    self.stmt(s);
                }
                let mut out: Vec<Prod> = Vec::new();
                for t in tails {
                    for p in self.value(t) {
                        if !out.iter().any(|q| q.fam == p.fam) {
                            out.push(p);
                        }
                    }
                }
                out
            }
            Value::Source { .. } | Value::PlainOutput(_) | Value::Error => Vec::new(),
        }
    }

    /// An argument `v` of call site `to`: an edge from each of its makers.
    fn arg(&mut self, v: &Value, to: FamId) {
        let (name, binding) = match v {
            Value::Var { name, .. } | Value::VecVar { name, .. } => {
                let n = name.to_string();
                let b = self.lookup(&n).cloned();
                (n, b)
            }
            Value::Index {
                name,
                index,
                row: None,
                ..
            }
            | Value::Row { name, index, .. }
            | Value::Slice {
                name, range: index, ..
            } => {
                let prods = self.value(v);
                let label = format!("{name}[{}]", compact(index.to_token_stream()));
                for p in prods {
                    self.edges.push((p.fam, to, label.clone()));
                }
                return;
            }
            Value::Index {
                name,
                index,
                row: Some(r),
                ..
            } => {
                let prods = self.value(v);
                let label = format!(
                    "{name}[{}][{}]",
                    compact(r.to_token_stream()),
                    compact(index.to_token_stream())
                );
                for p in prods {
                    self.edges.push((p.fam, to, label.clone()));
                }
                return;
            }
            v => {
                let p = self.value(v);
                (String::new(), Some(Binding::Value(p)))
            }
        };
        let Some(binding) = binding else { return };
        let (prods, vector, element) = match binding {
            Binding::Value(p) => (p, false, None),
            Binding::Vector(p) => (p, true, None),
            Binding::Element(p, l) => (p, false, Some(l)),
        };
        for p in prods {
            let label = self.label(&name, &p, vector, element);
            self.edges.push((p.fam, to, label));
        }
    }

    /// How consumers here read values that `p` makes: `x[i]`, `x`,
    /// `zs[all i]`, `s[t-1]`, `s[last t]`, `v[j]`.
    fn label(&self, name: &str, p: &Prod, vector: bool, element: Option<usize>) -> String {
        if name.is_empty() {
            return String::new();
        }
        let vars = |ls: &[usize]| -> Vec<String> {
            ls.iter()
                .map(|&l| {
                    let pat = &self.loops[l].pattern;
                    pat.trim_start_matches('&').to_owned()
                })
                .collect()
        };
        if let Some(l) = element {
            return format!("{name}[{}]", vars(&[l]).join(", "));
        }
        let c = &self.stack;
        let common = p.loops.iter().zip(c).take_while(|(a, b)| a == b).count();
        let inner = &p.loops[common..];
        if let Some((start, again, depth)) = self.carried {
            if p.at > start && p.at <= again && p.loops.len() >= depth && common >= depth {
                let mut v = vars(&c[..depth]);
                if let Some(last) = v.last_mut() {
                    *last = format!("{last}-1");
                }
                return format!("{name}[{}]", v.join(", "));
            }
        }
        if vector {
            let mut v = vars(&p.loops[..common]);
            v.extend(vars(inner).into_iter().map(|x| format!("all {x}")));
            return if v.is_empty() {
                format!("{name}[..]")
            } else {
                format!("{name}[{}]", v.join(", "))
            };
        }
        if !inner.is_empty() {
            let mut v = vars(&p.loops[..common]);
            v.extend(vars(inner).into_iter().map(|x| format!("last {x}")));
            return format!("{name}[{}]", v.join(", "));
        }
        if common == 0 {
            return name.to_owned();
        }
        format!("{name}[{}]", vars(&p.loops[..common]).join(", "))
    }
}

/// Whether a loop body reassigns a variable (a value carried across
/// iterations).
fn assigns_outer(body: &[Stmt]) -> bool {
    body.iter().any(|s| match s {
        Stmt::Assign { .. } | Stmt::AssignVec { .. } | Stmt::SetIndex { .. } => true,
        Stmt::For { body, .. } => assigns_outer(body),
        s @ (Stmt::While { .. }
        | Stmt::Loop { .. }
        | Stmt::If { .. }
        | Stmt::Match { .. }
        | Stmt::Block(_)) => s
            .children()
            .into_iter()
            .any(|c| assigns_outer(std::slice::from_ref(c))),
        _ => false,
    })
}

/// The one name a pattern binds, if it binds one.
fn pat_name(p: &syn::Pat) -> Option<String> {
    match p {
        syn::Pat::Ident(i) => Some(i.ident.to_string()),
        syn::Pat::Type(t) => pat_name(&t.pat),
        syn::Pat::Reference(r) => pat_name(&r.pat),
        _ => None,
    }
}

/// `v` for `v.iter()`.
fn vec_iter(e: &syn::Expr) -> Option<String> {
    match e {
        syn::Expr::MethodCall(m) if m.method == "iter" && m.args.is_empty() => match &*m.receiver {
            syn::Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Source text from tokens, spaced as people write it: `0..n`,
/// `(0..n).step_by(2)`, `v.len() - 1`, `(r, c)`.
pub(crate) fn compact(ts: TokenStream) -> String {
    let mut out = String::new();
    write_compact(ts, &mut out);
    out
}

fn write_compact(ts: TokenStream, out: &mut String) {
    // The operator being written (joint punctuation), and the last one.
    let mut op = String::new();
    let mut last_op = String::new();
    let mut prev: Option<TokenTree> = None;
    for t in ts {
        let glued = matches!(
            last_op.as_str(),
            "." | ".." | "..=" | "&" | "!" | "::" | "#"
        );
        let space = match (&prev, &t) {
            (None, _) => false,
            (Some(TokenTree::Punct(_)), _) if !op.is_empty() || glued => false,
            (_, TokenTree::Punct(p)) if matches!(p.as_char(), '.' | ',' | ';' | '?') => false,
            (_, TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint => {
                false
            }
            (_, TokenTree::Group(g)) if g.delimiter() != Delimiter::Brace => {
                !matches!(prev, Some(TokenTree::Ident(_)) | Some(TokenTree::Group(_)))
                    || matches!(&prev, Some(TokenTree::Ident(i)) if is_keyword(&i.to_string()))
            }
            _ => true,
        };
        if space {
            out.push(' ');
        }
        last_op.clear();
        match &t {
            TokenTree::Punct(p) => {
                op.push(p.as_char());
                if p.spacing() == Spacing::Alone {
                    last_op = std::mem::take(&mut op);
                }
            }
            _ => op.clear(),
        }
        match &t {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_compact(g.stream(), out);
                out.push_str(close);
            }
            t => out.push_str(&t.to_string()),
        }
        prev = Some(t);
    }
}

fn is_keyword(s: &str) -> bool {
    matches!(s, "in" | "as" | "mut" | "move" | "if" | "match" | "return")
}

#[cfg(test)]
mod tests {
    use super::compact;
    use quote::quote;

    #[test]
    fn compact_text_reads_like_source() {
        assert_eq!(compact(quote!(0..n)), "0..n");
        assert_eq!(compact(quote!((0..n).step_by(2))), "(0..n).step_by(2)");
        assert_eq!(compact(quote!(0..=v.len() - 1)), "0..=v.len() - 1");
        assert_eq!(compact(quote!((r, c))), "(r, c)");
        assert_eq!(compact(quote!(&z)), "&z");
        assert_eq!(compact(quote!(zs.iter())), "zs.iter()");
        assert_eq!(compact(quote!(std::iter::once(3))), "std::iter::once(3)");
    }
}
