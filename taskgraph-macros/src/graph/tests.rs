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
