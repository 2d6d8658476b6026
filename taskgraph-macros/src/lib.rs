//! Procedural macros for [taskgraph](https://docs.rs/taskgraph): `#[delayed]`
//! and `graph!`. Use them through the `taskgraph` crate, which documents them.
//!
//! Each entry point converts its tokens and calls one function; all logic
//! lives in ordinary, unit-tested modules.

use proc_macro::TokenStream;

mod delayed;
mod diag;
mod graph;
mod paths;

/// Marks a function as usable as a task inside `graph!`. See the `taskgraph` crate.
#[proc_macro_attribute]
pub fn delayed(attr: TokenStream, item: TokenStream) -> TokenStream {
    delayed::expand(attr.into(), item.into()).into()
}

/// Compiles ordinary Rust into a static task graph. See the `taskgraph` crate.
#[proc_macro]
pub fn graph(input: TokenStream) -> TokenStream {
    let check = paths::version_check();
    let graph = graph::expand(input.into());
    quote::quote!({ #check #graph }).into()
}
