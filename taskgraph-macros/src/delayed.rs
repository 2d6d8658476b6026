//! `#[delayed]`: keeps the function as it is and adds a hidden companion item
//! of the same name (in the type namespace) that tells `graph!` how each
//! parameter is passed: by value or by reference.
//!
//! It also rejects signatures that cannot be a task (one error per mistake,
//! the function still emitted so its callers do not cascade), and asserts
//! that the signature's types can cross threads, so that an `Rc` output is
//! reported on the signature rather than deep inside some `graph!`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn, ReturnType, Type};

use crate::diag::Ctxt;
use crate::paths;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let opts = crate::cached::parse(attr, &cx);
    let item: Item = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(e) => {
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
    };
    let f = match item {
        Item::Fn(f) => f,
        Item::Impl(i) => {
            if let Some(span) = opts.cache {
                cx.push(syn::Error::new(span, CACHE_ON_FREE_FN));
            }
            // Methods and associated functions: `graph!` calls them as
            // expressions on lazy values (`s.mean()`, `Stats::of(v)`), so
            // they need no companion; their signatures are checked here.
            for it in &i.items {
                if let syn::ImplItem::Fn(f) = it {
                    check_sig(&f.sig, &cx);
                    refuse_async_method(&f.sig, &cx);
                }
            }
            let e = cx.into_tokens();
            return quote!(#e #i);
        }
        other => {
            let what = describe(&other);
            let span = item_keyword_span(&other);
            cx.push(syn::Error::new(
                span,
                format!(
                    "`#[delayed]` goes on a function, not on {what}\n\n\
                     = help: write `#[delayed] fn name(args) -> Output {{ ... }}`"
                ),
            ));
            let e = cx.into_tokens();
            return quote!(#e #other);
        }
    };
    check_signature(&f, &cx);
    if matches!(f.sig.inputs.first(), Some(FnArg::Receiver(_)))
        || mentions_self(&f)
        || crate::site::inside_impl(&f.sig.ident)
    {
        // A method, or an associated function (it names `Self`, or is
        // written in an `impl`): the companion and checks would be items
        // inside an `impl`, where only functions, constants and types may
        // go. `graph!` calls these as expressions (`s.mean()`,
        // `Stats::of(v)`) and needs no companion.
        if let Some(span) = opts.cache {
            cx.push(syn::Error::new(span, CACHE_ON_FREE_FN));
        }
        refuse_async_method(&f.sig, &cx);
        let e = cx.into_tokens();
        return quote!(#e #f);
    }
    let mut opts = opts;
    if let (Some(span), Some(_)) = (opts.cache, &f.sig.asyncness) {
        cx.push(syn::Error::new(span, CACHE_ON_ASYNC_FN));
        opts.cache = None;
    }
    let companion = companion(&f);
    let threads = thread_checks(&f);
    let version = crate::paths::version_check();
    // `#[delayed(cache)]`: the body wrapped in the cache's lookup.
    let (f, cached) = match crate::cached::wrap(&f, &opts, &cx) {
        Some((wrapped, checks)) => (wrapped, checks),
        None => (f, TokenStream::new()),
    };
    let e = cx.into_tokens();
    quote!(#e #f #companion #threads #version #cached)
}

/// Whether `f` names `Self` (in its signature, or its body outside items
/// nested there): then it is inside an `impl` block.
fn mentions_self(f: &ItemFn) -> bool {
    fn tokens(ts: TokenStream) -> bool {
        ts.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "Self",
            proc_macro2::TokenTree::Group(g) => tokens(g.stream()),
            _ => false,
        })
    }
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_ident(&mut self, i: &'ast syn::Ident) {
            self.0 |= i == "Self";
        }
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            self.0 |= tokens(m.tokens.clone());
        }
        // `Self` in a nested `impl` is that impl's.
        fn visit_item(&mut self, _: &'ast Item) {}
    }
    let mut f_ = Finder(false);
    syn::visit::Visit::visit_signature(&mut f_, &f.sig);
    syn::visit::Visit::visit_block(&mut f_, &f.block);
    f_.0
}

const CACHE_ON_ASYNC_FN: &str = "`#[delayed(cache)]` cannot go on an `async fn`: the cache stores what a plain function returns\n\n\
     = help: remove `cache`, or cache a plain `#[delayed(cache)] fn` that takes this task's output as a parameter";

/// `graph!` calls methods as plain expressions: an `async` one would be a
/// future, not a value.
fn refuse_async_method(sig: &syn::Signature, cx: &Ctxt) {
    if let Some(t) = &sig.asyncness {
        cx.push(syn::Error::new(
            t.span,
            "a `#[delayed]` method cannot be `async`: `graph!` calls methods as plain expressions\n\n\
             = help: make it a free `#[delayed] async fn` that takes the value as a parameter",
        ));
    }
}

const CACHE_ON_FREE_FN: &str = "`#[delayed(cache)]` goes on a free function\n\n\
     = help: cache a free function that takes the value as a parameter";

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
fn check_signature(f: &ItemFn, cx: &Ctxt) {
    check_sig(&f.sig, cx);
}

/// The rules every `#[delayed]` signature follows, free function or method.
fn check_sig(sig: &syn::Signature, cx: &Ctxt) {
    if let Some(t) = &sig.unsafety {
        cx.push(syn::Error::new(
            t.span,
            "`#[delayed]` functions cannot be `unsafe`: the graph calls them with no place to uphold their contract\n\n\
             = help: make the function safe and keep the `unsafe` block inside it",
        ));
    }
    if let Some(abi) = &sig.abi {
        cx.push(syn::Error::new_spanned(
            abi,
            "`#[delayed]` functions cannot be `extern`: tasks are ordinary Rust functions\n\n\
             = help: wrap the foreign function in a plain `fn` and mark that `#[delayed]`",
        ));
    }
    if let Some(v) = &sig.variadic {
        cx.push(syn::Error::new_spanned(
            v,
            "`#[delayed]` functions cannot be variadic: a task has a fixed list of parameters\n\n\
             = help: take the values as one `Vec<T>` or `&[T]` parameter",
        ));
    }
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) if r.mutability.is_some() && r.reference.is_some() => {
                cx.push(syn::Error::new_spanned(
                    r,
                    "a `#[delayed]` method cannot take `&mut self`: its receiver is a lazy value that other tasks may read too\n\n\
                     = help: take `&self` or `self` and return the changed value",
                ))
            }
            FnArg::Receiver(_) => {}
            FnArg::Typed(pt) => check_param_type(&pt.ty, cx),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if let Type::Reference(r) = &**ty {
            cx.push(syn::Error::new_spanned(
                r,
                "a `#[delayed]` function cannot return a reference: a task's output must own its data\n\n\
                 = help: return an owned value, e.g. `String` instead of `&str`",
            ));
        }
    }
}

fn check_param_type(ty: &Type, cx: &Ctxt) {
    match ty {
        Type::ImplTrait(t) => cx.push(syn::Error::new_spanned(
            t,
            "`impl Trait` parameters are not supported in `#[delayed]` functions\n\n\
             = help: use a named generic parameter: `fn f<T: Trait>(x: T)`",
        )),
        Type::Reference(r) if r.mutability.is_some() => cx.push(syn::Error::new_spanned(
            r,
            "`#[delayed]` parameters cannot be `&mut`: a task may not mutate another task's output\n\n\
             = help: take the value by value (`T`) and return the changed value",
        )),
        Type::Paren(p) => check_param_type(&p.elem, cx),
        Type::Group(g) => check_param_type(&g.elem, cx),
        _ => {}
    }
}

/// `struct name {}` (type namespace only, so it sits beside `fn name`) with one
/// constant per parameter: `BySlice` for `&[T]` parameters (a gathered
/// vector is lent where its values lie), `ByRef` for other `&T` parameters,
/// `ByValue` otherwise.
fn companion(f: &ItemFn) -> TokenStream {
    let vis = &f.vis;
    let name = &f.sig.ident;
    let modes = f.sig.inputs.iter().enumerate().map(|(i, arg)| {
        let span = arg.span();
        let c = paths::param_mode(i, name.span());
        let mode = match arg {
            FnArg::Typed(pt) if is_slice_ref(&pt.ty) => "BySlice",
            FnArg::Typed(pt) if is_ref(&pt.ty) => "ByRef",
            _ => "ByValue",
        };
        let mode = paths::private(mode, span);
        quote_spanned!(span=> #[doc(hidden)] pub const #c: #mode = #mode;)
    });
    let doc = format!(
        "Companion of the `#[delayed]` function `{}`, used by `graph!`.",
        name
    );
    let name_tokens = name.to_token_stream();
    let delayed = paths::private("Delayed", name.span());
    // `tree_reduce` calls its function with two arguments: a function of
    // two is a `ReduceFunction`; one of fewer gets stand-in modes for the
    // missing ones, so that `tree_reduce(v, inc)` is that error (and
    // rustc's argument count), not a missing constant.
    let n = f.sig.inputs.len();
    // `tree_reduce` combines values in fused blocks too: its function is
    // a plain one.
    let is_async = f.sig.asyncness.is_some();
    let reduce = (n == 2 && !is_async).then(|| {
        let r = paths::private("ReduceFunction", name.span());
        quote!(#[diagnostic::do_not_recommend] impl #r for #name_tokens {})
    });
    let missing = (n..2).map(|i| {
        let c = paths::param_mode(i, name.span());
        let mode = paths::private("NotDelayed", name.span());
        quote!(#[doc(hidden)] pub const #c: #mode = #mode;)
    });
    let kind = paths::private(if is_async { "AsyncTask" } else { "SyncTask" }, name.span());
    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name_tokens {}
        #[allow(dead_code)]
        impl #name_tokens {
            #(#modes)*
            #(#missing)*
            #[doc(hidden)]
            pub const __TG_KIND: #kind = #kind;
        }
        #[diagnostic::do_not_recommend]
        impl #delayed for #name_tokens {}
        #reduce
    }
}

/// Whether `ty` is `&[T]`.
fn is_slice_ref(ty: &Type) -> bool {
    fn is_slice(ty: &Type) -> bool {
        match ty {
            Type::Slice(_) => true,
            Type::Paren(p) => is_slice(&p.elem),
            Type::Group(g) => is_slice(&g.elem),
            _ => false,
        }
    }
    match ty {
        Type::Reference(r) => is_slice(&r.elem),
        Type::Paren(p) => is_slice_ref(&p.elem),
        Type::Group(g) => is_slice_ref(&g.elem),
        _ => false,
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

/// Asserts that the types in the signature can cross threads, each check
/// spanned at the user's type so the error lands on the signature: the
/// output must be `Send + Sync`, a by-value parameter `Send`, the referent of
/// a `&T` parameter `Sync`. Types that mention the function's generic
/// parameters are left to the call sites.
fn thread_checks(f: &ItemFn) -> TokenStream {
    let generics: Vec<String> = f
        .sig
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            syn::GenericParam::Type(t) => Some(t.ident.to_string()),
            syn::GenericParam::Const(c) => Some(c.ident.to_string()),
            syn::GenericParam::Lifetime(_) => None,
        })
        .collect();
    let mut checks = Vec::new();
    if let ReturnType::Type(_, ty) = &f.sig.output {
        if !is_ref(ty) {
            checks.extend(thread_check("task_output", ty, &generics));
        }
    }
    for arg in &f.sig.inputs {
        let FnArg::Typed(pt) = arg else { continue };
        match peel(&pt.ty) {
            Type::Reference(r) if r.mutability.is_none() => {
                checks.extend(thread_check("task_ref_param", &r.elem, &generics));
            }
            Type::Reference(_) => {}
            ty => checks.extend(thread_check("task_param", ty, &generics)),
        }
    }
    if checks.is_empty() {
        return TokenStream::new();
    }
    quote! {
        const _: () = {
            #(#checks)*
        };
    }
}

fn thread_check(check: &str, ty: &Type, generics: &[String]) -> Option<TokenStream> {
    if !concrete(ty, generics) {
        return None;
    }
    let f = paths::private(check, ty.span());
    let ty = erase_lifetimes(ty.to_token_stream());
    Some(quote_spanned!(ty_span(&ty)=> let _ = #f::<#ty>;))
}

fn ty_span(ty: &TokenStream) -> proc_macro2::Span {
    ty.clone()
        .into_iter()
        .next()
        .map_or_else(proc_macro2::Span::call_site, |t| t.span())
}

/// Whether `ty` names only concrete types: no generic parameter of the
/// function, no `Self`, no `impl Trait`, no macro, no higher-ranked lifetimes.
fn concrete(ty: &Type, generics: &[String]) -> bool {
    use syn::visit::Visit;
    struct V<'a> {
        generics: &'a [String],
        ok: bool,
    }
    impl<'ast> Visit<'ast> for V<'_> {
        fn visit_path(&mut self, p: &'ast syn::Path) {
            if let Some(first) = p.segments.first() {
                let n = first.ident.to_string();
                if n == "Self" || (p.leading_colon.is_none() && self.generics.contains(&n)) {
                    self.ok = false;
                }
            }
            syn::visit::visit_path(self, p);
        }
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.ok = false;
        }
        fn visit_type_macro(&mut self, _: &'ast syn::TypeMacro) {
            self.ok = false;
        }
        fn visit_type_infer(&mut self, _: &'ast syn::TypeInfer) {
            self.ok = false;
        }
        fn visit_bound_lifetimes(&mut self, _: &'ast syn::BoundLifetimes) {
            self.ok = false;
        }
    }
    let mut v = V { generics, ok: true };
    v.visit_type(ty);
    v.ok
}

/// `'a` → `'_`: the checks sit outside the function, where its named
/// lifetimes are not in scope; whether a type is `Send` does not depend on them.
fn erase_lifetimes(ts: TokenStream) -> TokenStream {
    use proc_macro2::TokenTree;
    let mut out = Vec::new();
    let mut after_quote = false;
    for tt in ts {
        let tt = match tt {
            TokenTree::Group(g) => {
                let mut n = proc_macro2::Group::new(g.delimiter(), erase_lifetimes(g.stream()));
                n.set_span(g.span());
                TokenTree::Group(n)
            }
            TokenTree::Ident(i) if after_quote && i != "static" => {
                TokenTree::Ident(syn::Ident::new("_", i.span()))
            }
            other => other,
        };
        after_quote = matches!(&tt, TokenTree::Punct(p) if p.as_char() == '\'');
        out.push(tt);
    }
    out.into_iter().collect()
}

fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => peel(&p.elem),
        Type::Group(g) => peel(&g.elem),
        t => t,
    }
}
