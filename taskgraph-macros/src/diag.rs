//! One diagnostics context for both macros (serde's `Ctxt`): mistakes are
//! collected as values, every one is reported in one compile, and the macro
//! still emits code of the right shape so that one mistake does not cascade.
//! Messages have one shape: what is wrong, in the user's syntax, then a
//! `help` line saying what to write instead.

use std::cell::RefCell;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// The mistakes found in one macro invocation.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt::default()
    }

    /// Records a mistake.
    pub(crate) fn push(&self, e: syn::Error) {
        self.errors.borrow_mut().push(e);
    }

    /// Records several.
    pub(crate) fn extend(&self, es: impl IntoIterator<Item = syn::Error>) {
        self.errors.borrow_mut().extend(es);
    }

    /// Every mistake as `compile_error!`s.
    pub(crate) fn into_tokens(self) -> TokenStream {
        self.errors
            .into_inner()
            .into_iter()
            .map(|e| e.to_compile_error())
            .collect()
    }
}

/// Formats an error with a `help` line, in the style of rustc's own.
pub(crate) fn error(
    span: Span,
    msg: impl std::fmt::Display,
    help: impl std::fmt::Display,
) -> syn::Error {
    syn::Error::new(span, format!("{msg}\n\n= help: {help}"))
}

/// As [`error`], spanning every token of `tokens` (first to last on stable).
pub(crate) fn error_spanned(
    tokens: impl ToTokens,
    msg: impl std::fmt::Display,
    help: impl std::fmt::Display,
) -> syn::Error {
    syn::Error::new_spanned(tokens, format!("{msg}\n\n= help: {help}"))
}
