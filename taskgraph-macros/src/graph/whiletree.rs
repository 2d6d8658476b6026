//! The pairwise `while` tree, recognised and written as the `tree_reduce` it
//! is.
//!
//! ```text
//! while level.len() > 1 {
//!     let mut next = Vec::new();
//!     for i in (0..level.len()).step_by(2) {
//!         if i + 1 < level.len() {
//!             next.push(add(level[i], level[i + 1]));
//!         } else {
//!             next.push(level[i]);
//!         }
//!     }
//!     level = next;
//! }
//! ```
//!
//! (or `for pair in level.chunks(2)` with `if pair.len() == 2`, `pair[0]`,
//! `pair[1]`) combines elements 0 and 1, 2 and 3, .. in each round, an odd
//! last element moving up unchanged: exactly `tree_reduce`'s tree, whose
//! combine at level `k`, position `j` is task `[k, j]`, the indices the
//! `while` loop's round `k` and the `for` loop's iteration `j` give it. So a
//! top-level loop of this shape is replaced, before anything else reads the
//! graph, by
//!
//! ```text
//! if level.len() > 1 {
//!     let __tg_top = tree_reduce(level, |a, b| add(a, b));
//!     let mut next = Vec::new();
//!     next.push(__tg_top);
//!     level = next;
//! }
//! ```
//!
//! which runs as a fused reduction (or node by node, the same tree, with
//! `fuse_loops(false)`): the same values and the same tasks as the loop,
//! without a node per task; a task is named as a `tree_reduce`'s
//! (`add[level=k, pos=j]`, where the loop names it `add[#k, i#j]`), with the
//! same indices. Right after the loop or `.collect()` that makes `level`,
//! `lower.rs` (`while_tree_of`) computes the tree in that loop's fused
//! blocks, which leave `level` empty or holding the tree's one value, so
//! that this `if` finds nothing to do.
//!
//! The notebook's loop without the guard (`next.push(f(level[i],
//! level[i + 1]))` alone) pairs the same way while the length is a power of
//! two; otherwise the first round of odd length `l` fails reading
//! `level[l]`. It becomes the same tree with
//! `::taskdag::__private::WhileTree::unpaired(level.len(), "level", at)?;`
//! first, which gives that error (with the place `at` of `level[i + 1]`)
//! before any round is made, as the loop as written fails before any task
//! runs. Anything else (another combine, a `?`, more statements, a labelled
//! loop, a loop inside another) is left as written.

use syn::{parse_quote, BinOp, Expr, ExprCall, Ident, Lit, Stmt};

use super::parse::{as_ident, is_task_path, is_vec_new};

/// Rewrites the top-level pairwise `while` trees among `stmts`.
pub(crate) fn rewrite(stmts: &mut [Stmt]) {
    for s in stmts {
        if let Some(new) = as_tree(s) {
            *s = new;
        }
    }
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip(&p.expr),
        Expr::Group(g) => strip(&g.expr),
        e => e,
    }
}

/// `name.method()` with no arguments: `name`.
fn method_of<'a>(e: &'a Expr, method: &str) -> Option<&'a Ident> {
    match strip(e) {
        Expr::MethodCall(m) if m.method == method && m.args.is_empty() && m.turbofish.is_none() => {
            as_ident(strip(&m.receiver))
        }
        _ => None,
    }
}

fn int(e: &Expr) -> Option<u64> {
    match strip(e) {
        Expr::Lit(l) => match &l.lit {
            Lit::Int(i) if i.suffix().is_empty() => i.base10_parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// `v.len() > 1`: the condition of the rewritten tree, which
/// `lower.rs` looks for after the loop that makes `v`.
pub(crate) fn is_len_above_one(e: &Expr, v: &Ident) -> bool {
    binary(e, |o| matches!(o, BinOp::Gt(_)))
        .is_some_and(|(l, r)| method_of(l, "len") == Some(v) && int(r) == Some(1))
}

/// `::taskdag::__private::WhileTree::unpaired(..)` with three arguments:
/// the check before an unguarded tree (the one `?` that `graph!` allows in
/// plain code, as only this rewrite writes it).
pub(crate) fn is_unpaired(e: &Expr) -> bool {
    let Expr::Call(call) = strip(e) else {
        return false;
    };
    let Expr::Path(p) = strip(&call.func) else {
        return false;
    };
    let path = p.path.segments.iter().map(|s| s.ident.to_string());
    p.path.leading_colon.is_some()
        && path.eq(["taskdag", "__private", "WhileTree", "unpaired"])
        && call.args.len() == 3
}

/// `v.len()`.
pub(crate) fn is_len_of(e: &Expr, v: &Ident) -> bool {
    method_of(e, "len") == Some(v)
}

/// `a OP b`.
fn binary(e: &Expr, op: fn(&BinOp) -> bool) -> Option<(&Expr, &Expr)> {
    match strip(e) {
        Expr::Binary(b) if op(&b.op) => Some((&b.left, &b.right)),
        _ => None,
    }
}

/// `v[k]` for a literal `k`, or `v[i]` / `v[i + 1]` for the loop variable:
/// `(v, offset)`.
fn index(e: &Expr, var: Option<&Ident>) -> Option<(Ident, u64)> {
    let Expr::Index(ix) = strip(e) else {
        return None;
    };
    let v = as_ident(strip(&ix.expr))?.clone();
    let at = strip(&ix.index);
    match var {
        None => Some((v, int(at)?)),
        Some(var) => {
            if as_ident(at) == Some(var) {
                return Some((v, 0));
            }
            let (a, b) = binary(at, |o| matches!(o, BinOp::Add(_)))?;
            (as_ident(strip(a)) == Some(var) && int(b) == Some(1)).then_some((v, 1))
        }
    }
}

/// `next.push(x)`: `x`.
fn push_of<'a>(s: &'a Stmt, next: &Ident) -> Option<&'a Expr> {
    let Stmt::Expr(e, Some(_)) = s else {
        return None;
    };
    match strip(e) {
        Expr::MethodCall(m)
            if m.method == "push"
                && m.args.len() == 1
                && as_ident(strip(&m.receiver)) == Some(next) =>
        {
            Some(&m.args[0])
        }
        _ => None,
    }
}

/// The one statement of a block.
fn single(b: &syn::Block) -> Option<&Stmt> {
    match b.stmts.as_slice() {
        [s] => Some(s),
        _ => None,
    }
}

/// `f(v[a], v[b])`, a task call reading the two elements `(a, b)` of `v`
/// (literals, or offsets from `var`).
fn combine<'a>(e: &'a Expr, v: &Ident, var: Option<&Ident>) -> Option<(&'a ExprCall, u64, u64)> {
    let Expr::Call(call) = strip(e) else {
        return None;
    };
    let Expr::Path(p) = strip(&call.func) else {
        return None;
    };
    if !is_task_path(&p.path) || call.args.len() != 2 {
        return None;
    }
    let (v0, a) = index(&call.args[0], var)?;
    let (v1, b) = index(&call.args[1], var)?;
    (v0 == *v && v1 == *v).then_some((call, a, b))
}

fn as_tree(s: &Stmt) -> Option<Stmt> {
    let Stmt::Expr(Expr::While(w), _) = s else {
        return None;
    };
    if w.label.is_some() || !w.attrs.is_empty() {
        return None;
    }
    // `level.len() > 1`
    let (l, r) = binary(&w.cond, |o| matches!(o, BinOp::Gt(_)))?;
    let level = method_of(l, "len")?;
    if int(r) != Some(1) {
        return None;
    }
    let [Stmt::Local(local), Stmt::Expr(Expr::ForLoop(f), _), Stmt::Expr(assign, Some(_))] =
        w.body.stmts.as_slice()
    else {
        return None;
    };
    // `let mut next = Vec::new();`
    let syn::Pat::Ident(p) = &local.pat else {
        return None;
    };
    let next = &p.ident;
    let init = local.init.as_ref()?;
    if p.mutability.is_none() || p.by_ref.is_some() || p.subpat.is_some() || init.diverge.is_some()
    {
        return None;
    }
    if !is_vec_new(&init.expr) || next == level {
        return None;
    }
    // `level = next;`
    let Expr::Assign(a) = strip(assign) else {
        return None;
    };
    if as_ident(strip(&a.left)) != Some(level) || as_ident(strip(&a.right)) != Some(next) {
        return None;
    }
    if f.label.is_some() {
        return None;
    }
    let syn::Pat::Ident(var) = &*f.pat else {
        return None;
    };
    if var.by_ref.is_some() || var.mutability.is_some() || var.subpat.is_some() {
        return None;
    }
    let var = &var.ident;
    if var == level || var == next {
        return None;
    }
    // Without a guard (the notebook's loop: `next.push(f(level[i],
    // level[i + 1]))` alone), an odd length fails at `level[i + 1]`: the
    // tree for a power of two, the loop as written for any other length.
    if let Some(pair) = push_of(single(&f.body)?, next) {
        if !is_step_by_two(&f.expr, level) {
            return None;
        }
        let (call, a, b) = combine(pair, level, Some(var))?;
        if (a, b) != (0, 1) {
            return None;
        }
        // The loop as written fails at `level[i + 1]` in the first round of
        // odd length: the tree checks the length first, and fails there with
        // the same error.
        let at = super::expand::location(syn::spanned::Spanned::span(&call.args[1]));
        let name = level.to_string();
        let tree_check = crate::paths::private("WhileTree", proc_macro2::Span::call_site());
        let mut tree = tree_of(level, next, call);
        tree.stmts.insert(
            0,
            parse_quote!(#tree_check::unpaired(#level.len(), #name, #at)?;),
        );
        let cond = &w.cond;
        return Some(parse_quote!(if #cond #tree));
    }
    // The `for` loop: its pairs, and the element read alone.
    let Expr::If(branch) = (match single(&f.body)? {
        Stmt::Expr(e, _) => strip(e),
        _ => return None,
    }) else {
        return None;
    };
    let (_, els) = branch.else_branch.as_ref()?;
    let Expr::Block(els) = strip(els) else {
        return None;
    };
    let pair = push_of(single(&branch.then_branch)?, next)?;
    let odd = push_of(single(&els.block)?, next)?;
    let call = match strip(&f.expr) {
        // `for i in (0..level.len()).step_by(2)`, `if i + 1 < level.len()`
        _ if is_step_by_two(&f.expr, level) => {
            let (l, r) = binary(&branch.cond, |o| matches!(o, BinOp::Lt(_)))?;
            if index_sum(l, var) != Some(1) || method_of(r, "len") != Some(level) {
                return None;
            }
            if index(odd, Some(var))? != (level.clone(), 0) {
                return None;
            }
            let (call, a, b) = combine(pair, level, Some(var))?;
            ((a, b) == (0, 1)).then_some(call)?
        }
        // `for pair in level.chunks(2)`, `if pair.len() == 2`
        Expr::MethodCall(m) if m.method == "chunks" && m.args.len() == 1 => {
            if int(&m.args[0]) != Some(2) || as_ident(strip(&m.receiver)) != Some(level) {
                return None;
            }
            let (l, r) = binary(&branch.cond, |o| matches!(o, BinOp::Eq(_)))?;
            if method_of(l, "len") != Some(var) || int(r) != Some(2) {
                return None;
            }
            if index(odd, None)? != (var.clone(), 0) {
                return None;
            }
            let (call, a, b) = combine(pair, var, None)?;
            ((a, b) == (0, 1)).then_some(call)?
        }
        _ => return None,
    };
    let tree = tree_of(level, next, call);
    let cond = &w.cond;
    Some(parse_quote!(if #cond #tree))
}

/// `(0..level.len()).step_by(2)`.
fn is_step_by_two(e: &Expr, level: &Ident) -> bool {
    let Expr::MethodCall(m) = strip(e) else {
        return false;
    };
    if m.method != "step_by" || m.args.len() != 1 || int(&m.args[0]) != Some(2) {
        return false;
    }
    let Expr::Range(range) = strip(&m.receiver) else {
        return false;
    };
    let (Some(lo), Some(hi)) = (&range.start, &range.end) else {
        return false;
    };
    int(lo) == Some(0)
        && method_of(hi, "len") == Some(level)
        && matches!(range.limits, syn::RangeLimits::HalfOpen(_))
}

/// The block that replaces the loop: `level` becomes the one value
/// `tree_reduce(&level, |a, b| f(a, b))`, in a vector named `next`.
fn tree_of(level: &Ident, next: &Ident, call: &ExprCall) -> syn::Block {
    let span = proc_macro2::Span::call_site();
    let (x, y, top) = (
        Ident::new("__tg_a", span),
        Ident::new("__tg_b", span),
        Ident::new("__tg_top", span),
    );
    // The call keeps its tokens (and so its call site); only its arguments
    // change.
    let mut call = call.clone();
    call.args = parse_quote!(#x, #y);
    parse_quote!({
        let #top = tree_reduce(#level, |#x, #y| #call);
        let mut #next = Vec::new();
        #next.push(#top);
        #level = #next;
    })
}

/// `var + k`: `k`.
fn index_sum(e: &Expr, var: &Ident) -> Option<u64> {
    let (a, b) = binary(e, |o| matches!(o, BinOp::Add(_)))?;
    (as_ident(strip(a)) == Some(var)).then(|| int(b))?
}
