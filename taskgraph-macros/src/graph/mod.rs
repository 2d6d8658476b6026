//! `graph!`: parse → analyse (and check) → lower → expand.

mod analyze;
mod check;
mod expand;
mod ir;
mod lower;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

/// Expands `graph! { ... }`. On errors, emits them all plus a placeholder
/// graph so that one mistake does not cascade into unrelated ones.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let end = input
        .clone()
        .into_iter()
        .last()
        .map(|t| t.span())
        .unwrap_or_else(proc_macro2::Span::call_site);
    let stmts = match parse::parse(input) {
        Ok(s) => s,
        Err(e) => {
            let e = e.to_compile_error();
            let p = expand::placeholder();
            return quote!({ #e #p });
        }
    };
    match analyze::analyze(&stmts, end) {
        Ok(g) => expand::expand(&g, &lower::lower(&g)),
        Err(errors) => {
            let e = errors.into_iter().map(|e| e.to_compile_error());
            let p = expand::placeholder();
            quote!({ #(#e)* #p })
        }
    }
}

#[cfg(test)]
mod tests;
