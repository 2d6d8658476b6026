//! Procedural macros for [taskgraph](https://docs.rs/taskdag): `#[delayed]`
//! and `graph!`. Use them through the `taskdag` crate, which documents them.
//!
//! Each entry point converts its tokens and calls one function; all logic
//! lives in ordinary, unit-tested modules.

use proc_macro::TokenStream;

mod cached;
mod delayed;
mod diag;
mod graph;
mod paths;
mod site;

// Documented where `taskdag` re-exports it: rustdoc appends an inlined
// item's own documentation to the re-export's, so any text here would show
// twice over in the documentation users read.
#[allow(missing_docs)]
#[proc_macro_attribute]
pub fn delayed(attr: TokenStream, item: TokenStream) -> TokenStream {
    delayed::expand(attr.into(), item.into()).into()
}

// Documented where `taskdag` re-exports it, as `delayed`.
#[allow(missing_docs)]
#[proc_macro]
pub fn graph(input: TokenStream) -> TokenStream {
    graph::expand(input.into(), paths::version_check()).into()
}
