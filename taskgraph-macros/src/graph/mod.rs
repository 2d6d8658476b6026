//! `graph!`: parse → analyse (applying the rules of `check.rs`) → lower →
//! expand.

mod analyze;
mod check;
mod expand;
mod ir;
mod lower;
mod parse;
mod tiles;
mod wave;
mod whiletree;

use proc_macro2::TokenStream;
use quote::quote;

use crate::diag::Ctxt;

/// Expands `graph! { ... }` into one block that starts with `first` (the
/// version check). On errors, emits them all plus a placeholder graph so
/// that one mistake does not cascade into unrelated ones.
pub(crate) fn expand(input: TokenStream, first: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let end = input
        .clone()
        .into_iter()
        .last()
        .map(|t| t.span())
        .unwrap_or_else(proc_macro2::Span::call_site);
    let graph = parse::parse(input)
        .map_err(|e| cx.push(e))
        .ok()
        .and_then(|mut stmts| {
            whiletree::rewrite(&mut stmts);
            // A loop that never ends is reported alone: what the analysis
            // would say about its variables follows from it.
            let endless = check::endless_loops(&stmts);
            if endless.is_empty() {
                analyze::analyze(&stmts, end, &cx)
            } else {
                endless.into_iter().for_each(|e| cx.push(e));
                None
            }
        });
    // With mistakes, the graph is still expanded when it can be (the
    // mistaken parts as placeholders), so rustc reports its own errors in
    // the same compile.
    let e = cx.into_tokens();
    match graph {
        Some(g) => {
            let x = expand::expand(&g, &lower::lower(&g));
            quote!({ #first #e #x })
        }
        None => {
            let p = expand::placeholder();
            quote!({ #first #e #p })
        }
    }
}

#[cfg(test)]
mod tests;
