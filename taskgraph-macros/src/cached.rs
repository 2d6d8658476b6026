//! `#[delayed(cache)]`: the function's body, wrapped so that a call on a
//! runtime with a result cache loads its result when it is stored.
//!
//! The key's domain names the function (module path and name), a hash of
//! its tokens (attributes, signature and body: any edit makes new keys), and
//! the optional `version`; the runtime adds each parameter's type and value
//! and the output type. Parameters must be plain names (they are hashed by
//! name before the body runs), and the types in the signature must be
//! `Serialize` (parameters) and `Serialize + DeserializeOwned` (the output;
//! for a `Result`, its `Ok` type): the calls that need them are spanned at
//! the types, so that rustc's error points at the signature.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::diag::Ctxt;
use crate::paths;

/// What the attribute asked for.
#[derive(Default)]
pub(crate) struct Options {
    /// `cache` was given (at this span).
    pub(crate) cache: Option<Span>,
    /// `version = "..."`.
    pub(crate) version: Option<String>,
}

/// Parses `cache` or `cache, version = "2"`; anything else is an error.
pub(crate) fn parse(attr: TokenStream, cx: &Ctxt) -> Options {
    let mut o = Options::default();
    if attr.is_empty() {
        return o;
    }
    let usage = "\n\n= help: write `#[delayed]`, `#[delayed(cache)]` or `#[delayed(cache, version = \"2\")]`; \
                 other settings belong to the `Runtime`";
    let parser = syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated;
    let metas = match syn::parse::Parser::parse2(parser, attr.clone()) {
        Ok(m) => m,
        Err(_) => {
            cx.push(syn::Error::new_spanned(
                &attr,
                format!("`#[delayed]` does not understand these arguments{usage}"),
            ));
            return o;
        }
    };
    for m in metas {
        match &m {
            syn::Meta::Path(p) if p.is_ident("cache") => o.cache = Some(p.span()),
            syn::Meta::NameValue(nv) if nv.path.is_ident("version") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => o.version = Some(s.value()),
                other => cx.push(syn::Error::new_spanned(
                    other,
                    "`version` takes a string: `version = \"2\"`",
                )),
            },
            other => cx.push(syn::Error::new_spanned(
                other,
                format!(
                    "`#[delayed]` does not take `{}`{usage}",
                    other.to_token_stream()
                ),
            )),
        }
    }
    if let (None, Some(_)) = (o.cache, &o.version) {
        cx.push(syn::Error::new_spanned(
            &attr,
            "`version` is a setting of the result cache\n\n= help: write `#[delayed(cache, version = \"...\")]`",
        ));
    }
    o
}

/// 128-bit FNV-1a of the function's tokens, as hex: stable across builds
/// of the same source.
fn code_hash(f: &ItemFn) -> String {
    let text = f.to_token_stream().to_string();
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in text.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("{h:032x}")
}

/// `f` with its body wrapped in the cache's lookup, and the checks of its
/// signature's types. `None` (errors pushed) if it cannot be cached.
pub(crate) fn wrap(f: &ItemFn, o: &Options, cx: &Ctxt) -> Option<(ItemFn, TokenStream)> {
    let cache_span = o.cache?;
    let mut names = Vec::new();
    let mut ok = true;
    for arg in &f.sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                cx.push(syn::Error::new_spanned(
                    r,
                    "`#[delayed(cache)]` is for free functions, not methods\n\n\
                     = help: make it a free function taking the value as a parameter",
                ));
                ok = false;
            }
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                    names.push(p.ident.clone())
                }
                other => {
                    cx.push(syn::Error::new_spanned(
                        other,
                        "a `#[delayed(cache)]` function's parameters must be plain names: they are hashed into the result's key\n\n\
                         = help: take the value as `name: Type` and destructure it in the body",
                    ));
                    ok = false;
                }
            },
        }
    }
    if !ok {
        return None;
    }
    let domain = format!(
        "{}@{}#{}",
        f.sig.ident,
        code_hash(f),
        o.version.as_deref().unwrap_or("")
    );
    let results = |name: &str, span: Span| {
        let m = paths::private("results", span);
        let n = syn::Ident::new(name, span);
        quote_spanned!(span=> #m::#n)
    };
    let key = paths::temp("__tg_key", cache_span);
    let k = paths::temp("__tg_k", cache_span);
    // Each parameter's `Serialize` is required at its type (the referent of
    // a `&T`), the output's at the output type: that is where rustc says
    // what is missing.
    let args = f.sig.inputs.iter().zip(&names).map(|(arg, name)| {
        let FnArg::Typed(pt) = arg else {
            unreachable!("receivers were refused")
        };
        let (ty, value) = match peel(&pt.ty) {
            Type::Reference(r) => (&*r.elem, quote!(#name)),
            t => (t, quote!(&#name)),
        };
        let arg = results("arg", ty.span());
        quote_spanned!(ty.span()=> #arg::<#ty>(#k, #value);)
    });
    let (output, out_span, ok_type) = match &f.sig.output {
        ReturnType::Default => (quote!(()), cache_span, None),
        ReturnType::Type(_, ty) => (ty.to_token_stream(), ty.span(), result_ok(ty)),
    };
    let finish = match ok_type {
        Some(ok) => {
            let finish = results("finish_result", ok.span());
            quote_spanned!(ok.span()=> #finish::<#ok, _>)
        }
        None => {
            let finish = results("finish", out_span);
            quote_spanned!(out_span=> #finish::<#output>)
        }
    };
    let begin = results("begin", cache_span);
    let block = &f.block;
    let body: syn::Block = syn::parse_quote_spanned! {cache_span=> {
        let mut #key = #begin(::core::concat!(::core::module_path!(), "::", #domain));
        if let ::core::option::Option::Some(#k) = &mut #key {
            #(#args)*
        }
        #finish(#key, move || -> #output #block)
    }};
    let mut wrapped = f.clone();
    wrapped.block = Box::new(body);
    Some((wrapped, enabled(cache_span)))
}

/// `T` of a return type written `Result<T, ..>` (any path ending in
/// `Result`, so `io::Result<T>` too).
fn result_ok(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = peel(ty) else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(a) = &last.arguments else {
        return None;
    };
    match a.args.first()? {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => peel(&p.elem),
        Type::Group(g) => peel(&g.elem),
        t => t,
    }
}

/// Compiles only where the runtime has its `cache` feature; says so
/// otherwise.
fn enabled(span: Span) -> TokenStream {
    let m = paths::private("results", span);
    quote_spanned!(span=> const _: () = #m::enabled::<()>();)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain_of(attr: &str, f: &str) -> String {
        let cx = Ctxt::new();
        let o = parse(attr.parse().unwrap(), &cx);
        let f: ItemFn = syn::parse_str(f).unwrap();
        let (wrapped, _) = wrap(&f, &o, &cx).expect("cacheable");
        assert!(cx.into_tokens().is_empty());
        // The domain is the one string literal of the wrapped body.
        let body = wrapped.block.to_token_stream().to_string();
        let start = body.find("\"inc@").expect("the domain") + 1;
        body[start..start + body[start..].find('"').unwrap()].to_owned()
    }

    #[test]
    fn the_domain_changes_with_the_code_and_the_version_only() {
        let f = "fn inc(x: u64) -> u64 { x + 1 }";
        let base = domain_of("cache", f);
        assert!(base.starts_with("inc@") && base.ends_with('#'), "{base}");
        // Layout and comments are not tokens.
        assert_eq!(
            domain_of("cache", "fn inc(x: u64)->u64{\n  // one more\n  x+1 }"),
            base
        );
        // An edit of the body or of the signature is a new domain.
        assert_ne!(domain_of("cache", "fn inc(x: u64) -> u64 { x + 2 }"), base);
        assert_ne!(
            domain_of("cache", "fn inc(x: u32) -> u64 { x as u64 + 1 }"),
            base
        );
        // So is a version, and each version its own.
        let v2 = domain_of("cache, version = \"2\"", f);
        assert_eq!(v2, format!("{}2", base));
        assert_ne!(domain_of("cache, version = \"3\"", f), v2);
    }

    fn errors(attr: &str, f: &str) -> String {
        let cx = Ctxt::new();
        let o = parse(attr.parse().unwrap(), &cx);
        let f: ItemFn = syn::parse_str(f).unwrap();
        let _ = wrap(&f, &o, &cx);
        cx.into_tokens().to_string()
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(errors("", "fn f() {}"), "");
        assert!(errors("threads = 2", "fn f() {}").contains("does not take `threads = 2`"));
        assert!(errors("cache, version = 2", "fn f() {}").contains("`version` takes a string"));
        assert!(errors("version = \"2\"", "fn f() {}").contains("setting of the result cache"));
        assert!(errors("cache", "fn f((a, b): (u8, u8)) -> u8 { a + b }")
            .contains("parameters must be plain names"));
        assert!(errors("cache", "fn f(self) -> u8 { 1 }").contains("free functions, not methods"));
    }

    #[test]
    fn result_functions_store_their_ok_type() {
        let ty: Type = syn::parse_str("std::io::Result<Vec<u8>>").unwrap();
        assert_eq!(
            result_ok(&ty).unwrap().to_token_stream().to_string(),
            "Vec < u8 >"
        );
        let ty: Type = syn::parse_str("Result<u8, String>").unwrap();
        assert_eq!(result_ok(&ty).unwrap().to_token_stream().to_string(), "u8");
        let ty: Type = syn::parse_str("Vec<u8>").unwrap();
        assert!(result_ok(&ty).is_none());
    }
}
