//! The one place that spells the paths generated code uses.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;

/// `::taskdag::__private::NAME`, with call-site-independent hygiene.
pub(crate) fn private(name: &str, span: Span) -> TokenStream {
    let name = syn::Ident::new(name, span);
    quote_spanned!(span=> ::taskdag::__private::#name)
}

/// `const _: () = ::taskdag::__private::check_version::<MacrosVersion<..>>();`
/// with this crate's version: it compiles only against a runtime of the
/// same version, and says so otherwise (the runtime's `SameVersion`).
pub(crate) fn version_check() -> TokenStream {
    let number = |s: &str| {
        let n: u64 = s.parse().expect("a version number");
        proc_macro2::Literal::u64_unsuffixed(n)
    };
    let major = number(env!("CARGO_PKG_VERSION_MAJOR"));
    let minor = number(env!("CARGO_PKG_VERSION_MINOR"));
    let patch = number(env!("CARGO_PKG_VERSION_PATCH"));
    let span = Span::call_site();
    let check = private("check_version", span);
    let version = private("MacrosVersion", span);
    quote_spanned!(span=> const _: () = #check::<#version<#major, #minor, #patch>>();)
}

/// A name for a macro temporary: invisible to user code (mixed-site
/// hygiene), but reported at `span` if rustc complains about it.
pub(crate) fn temp(name: &str, span: Span) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site().located_at(span))
}

/// Name of the companion constant describing parameter `i` of a `#[delayed]` fn.
pub(crate) fn param_mode(i: usize, span: Span) -> syn::Ident {
    syn::Ident::new(&format!("__TG_P{i}"), span)
}
