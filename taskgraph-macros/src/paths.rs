//! The one place that spells the paths generated code uses.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;

/// `::taskgraph::__private::NAME`, with call-site-independent hygiene.
pub(crate) fn private(name: &str, span: Span) -> TokenStream {
    let name = syn::Ident::new(name, span);
    quote_spanned!(span=> ::taskgraph::__private::#name)
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
