//! Snapshots of the expansion, pretty-printed: the wiring `graph!` generates
//! for the tutorial's graphs. Review changes with `cargo insta review`.

use proc_macro2::TokenStream;
use quote::quote;

fn pretty(tokens: TokenStream) -> String {
    let expanded = super::expand(tokens);
    let file: syn::File = syn::parse_quote! {
        fn expansion() {
            let _ = #expanded;
        }
    };
    prettyplease::unparse(&file)
}

#[test]
fn small_graph() {
    insta::assert_snapshot!(pretty(quote! {
        let x = inc(1);
        let y = dec(2);
        add(x, y)
    }));
}

#[test]
fn tutorial_loop() {
    insta::assert_snapshot!(pretty(quote! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
    }));
}

#[test]
fn chain_map_and_gather() {
    insta::assert_snapshot!(pretty(quote! {
        let mut s = init();
        for t in 0..steps {
            s = step(s, t);
        }
        let v: Vec<_> = (0..n).map(|i| score(&data, i)).collect();
        (s, total(v))
    }));
}

#[test]
fn errors_are_collected_not_expanded() {
    let out = super::expand(quote! {
        let x = inc(1);
        let y = x + 1;
        while y > 0 {}
        x.len()
    })
    .to_string();
    assert_eq!(out.matches("compile_error").count(), 3, "{out}");
    assert!(out.contains("`x` is a lazy value"), "{out}");
    assert!(out.contains("`while` is not supported"), "{out}");
    assert!(out.contains("placeholder"), "{out}");
}

#[test]
fn task_paths() {
    use super::parse::is_task_path;
    let yes = [
        quote!(inc),
        quote!(math::inc),
        quote!(crate::ops::add::<T>),
        quote!(self::f),
        quote!(super::g),
    ];
    let no = [
        quote!(Some),
        quote!(Vec::new),
        quote!(String::from),
        quote!(std::cmp::max),
        quote!(Point),
    ];
    for p in yes {
        assert!(is_task_path(&syn::parse2(p.clone()).unwrap()), "{p}");
    }
    for p in no {
        assert!(!is_task_path(&syn::parse2(p.clone()).unwrap()), "{p}");
    }
}

/// Which graphs run fused: the shapes `fuse.rs` recognises, and look-alikes
/// that must run node by node (fusing them would lose parallelism or order).
#[test]
fn fusion_plans() {
    fn fused(tokens: TokenStream) -> bool {
        let stmts = super::parse::parse(tokens).unwrap();
        let g = super::analyze::analyze(&stmts, proc_macro2::Span::call_site())
            .unwrap_or_else(|_| panic!("analysis failed"));
        super::fuse::plan(&g).is_some()
    }
    // The tutorial's loop; a map-collect into a gather; the output itself; a chain.
    assert!(fused(quote! {
        let mut zs = Vec::new();
        for i in 0..n { let x = inc(i); let y = dec(x); let z = add(x, y); zs.push(z); }
        tree_reduce(zs, add)
    }));
    assert!(fused(
        quote! { let v: Vec<_> = (0..n).map(|i| gen(i)).collect(); sum(v) }
    ));
    assert!(fused(
        quote! { let k = n * 2; let v: Vec<_> = (1..=k).map(|i| tag(leaf(i))).collect(); v }
    ));
    assert!(fused(
        quote! { let mut s = start(0); for i in 0..n { s = step(s, i); } s }
    ));
    // Independent tasks in one iteration: fusing would run them one after the other.
    assert!(!fused(
        quote! { let v: Vec<_> = (0..n).map(|i| add(inc(i), dec(i))).collect(); tree_reduce(v, add) }
    ));
    assert!(!fused(quote! {
        let mut v = Vec::new();
        for i in 0..n { let a = nap(i); let b = nap(i); v.push(a); v.push(b); }
        count(v)
    }));
    // Not a range, a nested loop, more work after the loop.
    assert!(!fused(
        quote! { let v: Vec<_> = items.iter().map(|i| gen(*i)).collect(); sum(v) }
    ));
    assert!(!fused(quote! {
        let mut v = Vec::new();
        for i in 0..n { for j in 0..m { v.push(gen(j)); } }
        sum(v)
    }));
    assert!(!fused(
        quote! { let v: Vec<_> = (0..n).map(|i| gen(i)).collect(); let t = sum(v); inc(t) }
    ));
}
