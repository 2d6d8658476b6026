//! `#[delayed]`: keeps the function as it is and adds a hidden companion item
//! of the same name (in the type namespace) that tells `graph!` how each
//! parameter is passed: by value or by reference.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn, ReturnType, Type};

use crate::paths;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new_spanned(
            &attr,
            "`#[delayed]` takes no arguments",
        ));
    }
    let item: Item = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(e) => {
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
    };
    let f = match item {
        Item::Fn(f) => f,
        other => {
            let what = describe(&other);
            let span = item_keyword_span(&other);
            errors.push(syn::Error::new(
                span,
                format!(
                    "`#[delayed]` goes on a function, not on {what}\n\n\
                     = help: write `#[delayed] fn name(args) -> Output {{ ... }}`"
                ),
            ));
            let e = combine(errors);
            return quote!(#e #other);
        }
    };
    check_signature(&f, &mut errors);
    let companion = companion(&f);
    let e = combine(errors);
    quote!(#e #f #companion)
}

fn combine(errors: Vec<syn::Error>) -> TokenStream {
    errors.into_iter().map(|e| e.to_compile_error()).collect()
}

fn describe(item: &Item) -> &'static str {
    match item {
        Item::Struct(_) => "a struct",
        Item::Enum(_) => "an enum",
        Item::Impl(_) => "an `impl` block",
        Item::Trait(_) => "a trait",
        Item::Mod(_) => "a module",
        Item::Const(_) => "a constant",
        Item::Static(_) => "a static",
        Item::Type(_) => "a type alias",
        Item::Use(_) => "a `use` item",
        Item::ForeignMod(_) => "an `extern` block",
        _ => "this item",
    }
}

fn item_keyword_span(item: &Item) -> proc_macro2::Span {
    match item {
        Item::Struct(i) => i.struct_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Trait(i) => i.trait_token.span,
        Item::Mod(i) => i.mod_token.span,
        Item::Const(i) => i.const_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Use(i) => i.use_token.span,
        other => other.span(),
    }
}

/// Rejects what cannot be a task, one error per mistake.
fn check_signature(f: &ItemFn, errors: &mut Vec<syn::Error>) {
    let sig = &f.sig;
    if let Some(t) = &sig.asyncness {
        errors.push(syn::Error::new(
            t.span,
            "`#[delayed]` functions cannot be `async` yet: tasks run to completion on the pool's threads\n\n\
             = help: make it a plain `fn`, blocking inside if needed",
        ));
    }
    if let Some(t) = &sig.unsafety {
        errors.push(syn::Error::new(
            t.span,
            "`#[delayed]` functions cannot be `unsafe`: the graph calls them with no place to uphold their contract\n\n\
             = help: make the function safe and keep the `unsafe` block inside it",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "`#[delayed]` functions cannot be `extern`: tasks are ordinary Rust functions\n\n\
             = help: wrap the foreign function in a plain `fn` and mark that `#[delayed]`",
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            v,
            "`#[delayed]` functions cannot be variadic",
        ));
    }
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => errors.push(syn::Error::new_spanned(
                r,
                "`#[delayed]` cannot take `self`: a task is a free function\n\n\
                 = help: take the value as an ordinary parameter in a free `fn`",
            )),
            FnArg::Typed(pt) => check_param_type(&pt.ty, errors),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if let Type::Reference(r) = &**ty {
            errors.push(syn::Error::new_spanned(
                r,
                "a `#[delayed]` function cannot return a reference: a task's output must own its data\n\n\
                 = help: return an owned value, e.g. `String` instead of `&str`",
            ));
        }
    }
}

fn check_param_type(ty: &Type, errors: &mut Vec<syn::Error>) {
    match ty {
        Type::ImplTrait(t) => errors.push(syn::Error::new_spanned(
            t,
            "`impl Trait` parameters are not supported in `#[delayed]` functions\n\n\
             = help: use a named generic parameter: `fn f<T: Trait>(x: T)`",
        )),
        Type::Reference(r) if r.mutability.is_some() => errors.push(syn::Error::new_spanned(
            r,
            "`#[delayed]` parameters cannot be `&mut`: a task may not mutate another task's output\n\n\
             = help: take the value by value (`T`) and return the changed value",
        )),
        Type::Paren(p) => check_param_type(&p.elem, errors),
        Type::Group(g) => check_param_type(&g.elem, errors),
        _ => {}
    }
}

/// `struct name {}` (type namespace only, so it sits beside `fn name`) with one
/// constant per parameter: `ByRef` for `&T` parameters, `ByValue` otherwise.
fn companion(f: &ItemFn) -> TokenStream {
    let vis = &f.vis;
    let name = &f.sig.ident;
    let modes = f.sig.inputs.iter().enumerate().map(|(i, arg)| {
        let span = arg.span();
        let c = paths::param_mode(i, name.span());
        let by_ref = matches!(arg, FnArg::Typed(pt) if is_ref(&pt.ty));
        let mode = paths::private(if by_ref { "ByRef" } else { "ByValue" }, span);
        quote_spanned!(span=> #[doc(hidden)] pub const #c: #mode = #mode;)
    });
    let doc = format!(
        "Companion of the `#[delayed]` function `{}`, used by `graph!`.",
        name
    );
    let name_tokens = name.to_token_stream();
    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name_tokens {}
        #[allow(dead_code)]
        impl #name_tokens {
            #(#modes)*
        }
    }
}

fn is_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(_) => true,
        Type::Paren(p) => is_ref(&p.elem),
        Type::Group(g) => is_ref(&g.elem),
        _ => false,
    }
}
