//! How the generated code names the functions a graph calls.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Ident, Path};

use super::super::check;
use super::super::ir::Family;

/// How many parameter modes the runtime's `StandIn` trait defaults.
const STAND_IN_PARAMS: usize = 16;

/// The functions a graph calls, as its generated code names them.
pub(crate) struct Callees {
    /// Stand-ins for functions that are not `#[delayed]`, emitted first.
    pub probe: TokenStream,
    /// The imports and `#[delayed]` checks, before the graph's statements.
    pub prelude: TokenStream,
    /// Per family: the callee (with its generic arguments) and its companion.
    pub paths: Vec<(Path, Path)>,
}

/// Names every function the graph calls through an alias imported before
/// the graph's statements, and checks that each is `#[delayed]`. Returns the
/// stand-ins (emitted first), the imports and checks (emitted in a block
/// inside, around the graph's statements), and each family's callee and
/// companion as the generated code names them.
///
/// `use {f as __tg_cN, ..};` imports both the function and, for a `#[delayed]`
/// one, its companion. For any other function the alias's type namespace
/// falls back to the stand-in named like it, glob-imported in the enclosing
/// block, so the check fails with "`f` is not a `#[delayed]` function" on
/// the call instead of a name resolution error, and the stand-in's modes
/// keep anything else from failing after it. When `f` does not exist at all,
/// the failed import hides the stand-in: rustc's unresolved-import error is
/// the only one. Calling through the alias also keeps a later `let f = ..;`
/// in the graph from hiding `f`.
pub(crate) fn callees(families: &[Family]) -> Callees {
    let mut seen: Vec<(String, Ident, usize)> = Vec::new();
    // Functions given to `tree_reduce`, checked to take two arguments.
    let mut reducers: Vec<(usize, Span)> = Vec::new();
    let mut imports = Vec::new();
    let mut stand_ins = Vec::new();
    for f in families.iter().filter(|f| f.expr.is_none()) {
        let key = check::show(&f.companion);
        let n = f.params.len();
        if f.reduce {
            // At this call's own function name.
            let at = f.callee.segments.last().expect("a path").ident.span();
            let k = seen.iter().position(|e| e.0 == key).unwrap_or(seen.len());
            reducers.push((k, at));
        }
        if let Some(e) = seen.iter_mut().find(|e| e.0 == key) {
            e.2 = e.2.max(n);
            continue;
        }
        let last = &f.companion.segments.last().expect("a path").ident;
        let alias = Ident::new(&format!("__tg_c{}", seen.len()), last.span());
        let orig = &f.companion;
        imports.push(quote!(#orig as #alias));
        seen.push((key, alias, n));
    }
    for (j, (_, alias, n)) in seen.iter().enumerate() {
        let f = families
            .iter()
            .find(|f| f.expr.is_none() && check::show(&f.companion) == seen[j].0)
            .expect("a family");
        let last = f.companion.segments.last().expect("a path").ident.clone();
        // Private: the glob below must bring the aliases into the graph's
        // scope and nothing else.
        let module = Ident::new(&format!("__tg_s{j}"), Span::call_site());
        let not_delayed = crate::paths::private("NotDelayed", last.span());
        let stand_in_trait = crate::paths::private("StandIn", last.span());
        // Given to `tree_reduce`: its one error is that it is not `#[delayed]`.
        let reduce_impl = reducers.iter().any(|r| r.0 == j).then(|| {
            let reduce_fn = crate::paths::private("ReduceFunction", last.span());
            quote!(#[diagnostic::do_not_recommend] impl #reduce_fn for #last {})
        });
        // `StandIn` defaults the kind and the first modes; any further
        // modes are inherent.
        let extra = (STAND_IN_PARAMS < *n).then(|| {
            let consts = (STAND_IN_PARAMS..*n).map(|k| {
                let c = crate::paths::param_mode(k, last.span());
                quote!(pub const #c: #not_delayed = #not_delayed;)
            });
            quote!(impl #last { #(#consts)* })
        });
        let stand_in = quote::quote_spanned!(last.span()=> pub struct #last {});
        stand_ins.push(quote! {
            mod #module {
                #stand_in
                impl #stand_in_trait for #last {}
                #extra
                #reduce_impl
            }
            pub use self::#module::#last as #alias;
        });
    }
    let checks = seen.iter().map(|(_, alias, _)| {
        let delayed = crate::paths::private("delayed", alias.span());
        // A constant, not a statement: checked when the graph is compiled,
        // no call (and no unwinding path) in the graph's code.
        quote::quote_spanned!(alias.span()=> const _: () = #delayed::<#alias>();)
    });
    let reduce_checks = reducers.iter().map(|&(k, at)| {
        let alias = Ident::new(&format!("__tg_c{k}"), at);
        let check = crate::paths::private("reduce_function", at);
        // A statement, checked with the graph's code: its error (what
        // `tree_reduce` needs) then comes before the call's own.
        quote::quote_spanned!(alias.span()=> #check::<#alias>();)
    });
    let mut paths = Vec::with_capacity(families.len());
    for f in families {
        if f.expr.is_some() {
            // An expression: its body is emitted in place, named by nothing.
            paths.push((f.callee.clone(), f.companion.clone()));
            continue;
        }
        let key = check::show(&f.companion);
        let last = f.callee.segments.last().expect("a path");
        // The same alias, at this call's own function name.
        let alias = Ident::new(
            &seen
                .iter()
                .find(|e| e.0 == key)
                .expect("seen")
                .1
                .to_string(),
            last.ident.span(),
        );
        let args = last.arguments.clone();
        paths.push((
            Path::from(syn::PathSegment {
                ident: alias.clone(),
                arguments: args,
            }),
            Path::from(alias.clone()),
        ));
    }
    let probe = Ident::new("__tg_probe", Span::call_site());
    // In scope through the glob: the stand-ins' items are the trait's.
    let stand_in_trait = crate::paths::private("StandIn", Span::call_site());
    let trait_use = (!stand_ins.is_empty()).then(|| quote!(pub use #stand_in_trait as _;));
    let outer = quote! {
        #[allow(non_camel_case_types, dead_code, unused_imports, unreachable_pub)]
        mod #probe {
            #trait_use
            #(#stand_ins)*
        }
        #[allow(unused_imports)]
        use #probe::*;
    };
    // One `use` of a group: `use {f as __tg_c0, g as __tg_c1};`.
    let imports =
        (!imports.is_empty()).then(|| quote!(#[allow(unused_imports)] use { #(#imports),* };));
    let inner = quote! {
        #imports
        #(#checks)*
        #(#reduce_checks)*
    };
    Callees {
        probe: outer,
        prelude: inner,
        paths,
    }
}
