//! Snapshots of the expansion, pretty-printed: the wiring `graph!` generates
//! for the tutorial's graphs. Review changes with `cargo insta review`.

use proc_macro2::TokenStream;
use quote::quote;

fn pretty(tokens: TokenStream) -> String {
    let expanded = super::expand(tokens, TokenStream::new());
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

/// A body that lifts a `?` and holds a borrow guard names its task's kind
/// inside itself: bodies capture nothing (they are function pointers).
#[test]
fn fallible_and_borrowing_bodies() {
    insta::assert_snapshot!(pretty(quote! {
        let x = parse(1)?;
        len(&x)
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
fn errors_are_collected_and_the_rest_expanded() {
    let out = super::expand(
        quote! {
            let x = inc(1);
            let y = x + 1;
            while y > 0 {}
            for _ in 0..x {}
            y
        },
        TokenStream::new(),
    )
    .to_string();
    assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    assert!(out.contains("`y` is a lazy value"), "{out}");
    assert!(out.contains("cannot decide a `while`"), "{out}");
    assert!(out.contains("cannot bound a loop"), "{out}");
    // The mistaken loops are left out; the rest goes to rustc.
    assert!(
        !out.contains("placeholder") && out.contains("execute"),
        "{out}"
    );
    assert!(!out.contains("while y"), "{out}");
    let plain_mistake = super::expand(
        quote! {
            let x = inc(1);
            let n = if x > 0 { 1 } else { 0 };
            inc(n)
        },
        TokenStream::new(),
    )
    .to_string();
    assert!(plain_mistake.contains("placeholder"), "{plain_mistake}");
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

/// Which loops get a fused form: chains of tasks over a range, wherever
/// they sit; and look-alikes that must run node by node (fusing them would
/// lose parallelism or order, or change outer state).
#[test]
fn fusion_plans() {
    /// For each fused loop: its statement index and whether it absorbs a
    /// `tree_reduce`.
    fn plans(tokens: TokenStream) -> Vec<(usize, bool)> {
        let stmts = super::parse::parse(tokens).unwrap();
        let cx = crate::diag::Ctxt::new();
        let g = super::analyze::analyze(&stmts, proc_macro2::Span::call_site(), &cx)
            .unwrap_or_else(|| panic!("analysis failed"));
        super::lower::lower(&g)
            .plans
            .iter()
            .map(|p| (p.stmt, p.reduce.is_some()))
            .collect()
    }
    // The tutorial's loop, with tasks before and after it.
    assert_eq!(
        plans(quote! {
            let k = inc(0);
            let mut zs = Vec::new();
            for i in 0..n { let x = inc(i); let y = dec(x); let z = add(x, y); zs.push(z); }
            let t = tree_reduce(zs, add);
            add(t, k)
        }),
        [(2, true)]
    );
    // Two loops joined; a map into a gather; the output itself; a chain; a
    // loop reading a value made before it; a nested call chain.
    assert_eq!(
        plans(quote! {
            let a: Vec<_> = (0..n).map(|i| inc(i)).collect();
            let b: Vec<_> = (0..n).map(|i| dec(i)).collect();
            add(tree_reduce(a, add), tree_reduce(b, add))
        }),
        [(0, true), (1, true)]
    );
    assert_eq!(
        plans(quote! { let v: Vec<_> = (0..n).map(|i| gen(i)).collect(); let t = sum(v); inc(t) }),
        [(0, false)]
    );
    assert_eq!(
        plans(quote! { let k = n * 2; let v: Vec<_> = (1..=k).map(|i| tag(leaf(i))).collect(); v }),
        [(1, false)]
    );
    assert_eq!(
        plans(quote! { let mut s = start(0); for i in 0..n { s = step(s, i); } s }),
        [(1, false)]
    );
    assert_eq!(
        plans(quote! {
            let w = weight(3);
            let v: Vec<_> = (0..n).step_by(2).map(|i| scale(load(i), w)).collect();
            sum(v)
        }),
        [(1, false)]
    );
    // The vector is also read by a gather: the reduction is still computed
    // in the blocks (from clones), and the elements kept for the gather.
    assert_eq!(
        plans(quote! {
            let v: Vec<_> = (0..n).map(|i| gen(i)).collect();
            (sum(v), tree_reduce(v, add))
        }),
        [(0, true)]
    );
    // Something is added to the vector after the loop: no fused reduction.
    assert_eq!(
        plans(quote! {
            let mut v = Vec::new();
            for i in 0..n { v.push(gen(i)); }
            v.push(gen(n));
            tree_reduce(v, add)
        }),
        [(1, false)]
    );
    // Independent tasks in one iteration: fusing would run them one after the other.
    assert!(plans(
        quote! { let v: Vec<_> = (0..n).map(|i| add(inc(i), dec(i))).collect(); tree_reduce(v, add) }
    )
    .is_empty());
    assert!(plans(quote! {
        let mut v = Vec::new();
        for i in 0..n { let a = nap(i); let b = nap(i); v.push(a); v.push(b); }
        count(v)
    })
    .is_empty());
    // A rectangular nest flattens; a triangular one does not.
    assert_eq!(
        plans(quote! {
            let mut v = Vec::new();
            for i in 0..n { for j in 0..m { v.push(gen(i, j)); } }
            tree_reduce(v, add)
        }),
        [(1, true)]
    );
    assert!(plans(quote! {
        let mut v = Vec::new();
        for i in 0..n { for j in 0..i { v.push(gen(j)); } }
        sum(v)
    })
    .is_empty());
    // Not a range; a chain whose values have other consumers.
    assert!(
        plans(quote! { let v: Vec<_> = items.iter().map(|i| gen(*i)).collect(); sum(v) })
            .is_empty()
    );
    assert!(plans(quote! {
        let mut b = make(0);
        let mut sums = Vec::new();
        for _ in 0..n { b = step(b); sums.push(checksum(b)); }
        (sums, b)
    })
    .is_empty());
    // Plain code that changes outer state, in the body or after the loop on
    // a name the body reads.
    assert!(plans(quote! {
        let mut seen = Vec::new();
        let v: Vec<_> = (0..n).map(|i| { seen.push(i); gen(i) }).collect();
        sum(v)
    })
    .is_empty());
    assert!(plans(quote! {
        let mut scale = 2;
        let v: Vec<_> = (0..n).map(|i| { let j = i * scale; gen(j) }).collect();
        scale += 1;
        sum(v)
    })
    .is_empty());
}

#[test]
fn persisted_while_loop() {
    insta::assert_snapshot!(pretty(quote! {
        let mut l = &zs;
        while l.len() > 1 {
            let mut new_l = Vec::new();
            for i in (0..l.len()).step_by(2) {
                new_l.push(add(l[i], l[i + 1]));
            }
            l = new_l;
        }
        l[0]
    }));
}

#[test]
fn in_place_update_and_rows() {
    insta::assert_snapshot!(pretty(quote! {
        let mut v: Vec<_> = (0..n).map(|i| inc(i)).collect();
        for i in 1..n {
            v[i] = add(v[i], v[i - 1]);
        }
        let mut rows = Vec::new();
        rows.push(v);
        let twice = |a| inc(inc(a));
        rows[0][1] = twice(rows[0][0]);
        rows[0][n - 1]
    }));
}

/// In-place updates keep their index expressions as written, for a later
/// pass to read their affine form (`v[i - 1]`, `grid[(r - 1) * w + c]`).
#[test]
fn in_place_updates_keep_their_indices_as_written() {
    let stmts: Vec<syn::Stmt> = syn::parse_quote! {
        let mut grid: Vec<_> = (0..h * w).map(|k| inc(k)).collect();
        for r in 1..h {
            for c in 0..w {
                grid[r * w + c] = add(grid[(r - 1) * w + c], grid[r * w + c]);
            }
        }
        grid[0]
    };
    let cx = crate::diag::Ctxt::new();
    let g =
        super::analyze::analyze(&stmts, proc_macro2::Span::call_site(), &cx).expect("no mistakes");
    assert!(cx.into_tokens().is_empty());
    let super::ir::Stmt::For { body, .. } = &g.stmts[1] else {
        panic!("a loop")
    };
    let super::ir::Stmt::For { body, .. } = &body[0] else {
        panic!("an inner loop")
    };
    let super::ir::Stmt::SetIndex {
        name,
        row: None,
        index,
        value: super::ir::Value::Call { args, .. },
        ..
    } = &body[0]
    else {
        panic!("an in-place update")
    };
    assert_eq!(name, "grid");
    assert_eq!(quote!(#index).to_string(), "r * w + c");
    let reads: Vec<String> = args
        .iter()
        .map(|a| match a {
            super::ir::Arg::Lazy(super::ir::Value::Index { index, .. }) => {
                quote!(#index).to_string()
            }
            _ => panic!("an indexed read"),
        })
        .collect();
    assert_eq!(reads, ["(r - 1) * w + c", "r * w + c"]);
}

#[test]
fn stencil_step_after_step() {
    insta::assert_snapshot!(pretty(quote! {
        let mut cur: Vec<_> = (0..w).map(|i| leaf(i)).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            next.push(edge(cur[0]));
            for i in 1..w - 1 {
                next.push(mix(cur[i - 1], cur[i], cur[i + 1]));
            }
            next.push(edge(cur[w - 1]));
            cur = next;
        }
        cur
    }));
}

#[test]
fn pairwise_while_tree_is_a_tree_reduce() {
    insta::assert_snapshot!(pretty(quote! {
        let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
        while level.len() > 1 {
            let mut next = Vec::new();
            for i in (0..level.len()).step_by(2) {
                if i + 1 < level.len() {
                    next.push(add(level[i], level[i + 1]));
                } else {
                    next.push(level[i]);
                }
            }
            level = next;
        }
        level[0]
    }));
}

/// The rewritten pairwise `while` tree is computed in the blocks of the
/// loop that makes its leaves only when it follows that loop directly.
#[test]
fn pairwise_while_tree_merges_with_the_loop_before_it() {
    /// For each fused loop: its statement index, whether it absorbs a
    /// `tree_reduce`, and whether that is the `while` tree's.
    fn plans(tokens: TokenStream) -> Vec<(usize, bool, bool)> {
        let mut stmts = super::parse::parse(tokens).unwrap();
        super::whiletree::rewrite(&mut stmts);
        let cx = crate::diag::Ctxt::new();
        let Some(g) = super::analyze::analyze(&stmts, proc_macro2::Span::call_site(), &cx) else {
            panic!("analysis failed: {}", cx.into_tokens())
        };
        super::lower::lower(&g)
            .plans
            .iter()
            .map(|p| (p.stmt, p.reduce.is_some(), p.while_tree.is_some()))
            .collect()
    }
    let tree = quote! {
        while level.len() > 1 {
            let mut next = Vec::new();
            for i in (0..level.len()).step_by(2) {
                if i + 1 < level.len() {
                    next.push(add(level[i], level[i + 1]));
                } else {
                    next.push(level[i]);
                }
            }
            level = next;
        }
    };
    assert_eq!(
        plans(quote! {
            let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            #tree
            level
        }),
        [(0, true, true)]
    );
    assert_eq!(
        plans(quote! {
            let mut level = Vec::new();
            for i in 0..n { level.push(leaf(i)); }
            #tree
            (level.len(), level)
        }),
        [(1, true, true)]
    );
    // Unguarded (the notebook's loop): merged, its length checked first.
    assert_eq!(
        plans(quote! {
            let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            while level.len() > 1 {
                let mut next = Vec::new();
                for i in (0..level.len()).step_by(2) {
                    next.push(add(level[i], level[i + 1]));
                }
                level = next;
            }
            level
        }),
        [(0, true, true)]
    );
    // Read in between: its leaves must exist.
    assert_eq!(
        plans(quote! {
            let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            let first = level[0];
            #tree
            (first, level)
        }),
        [(0, false, false)]
    );
    // Not empty before the loop.
    assert_eq!(
        plans(quote! {
            let mut level = Vec::new();
            level.push(leaf(n));
            for i in 0..n { level.push(leaf(i)); }
            #tree
            level
        }),
        [(2, false, false)]
    );
    // Another vector's tree, written by hand.
    assert_eq!(
        plans(quote! {
            let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            let other: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            if level.len() > 1 {
                let top = tree_reduce(other, add);
                let mut next = Vec::new();
                next.push(top);
                level = next;
            }
            level
        }),
        [(0, false, false), (1, false, false)]
    );
    // The same tree written by hand merges.
    assert_eq!(
        plans(quote! {
            let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
            if level.len() > 1 {
                let top = tree_reduce(level, add);
                let mut next = Vec::new();
                next.push(top);
                level = next;
            }
            level
        }),
        [(0, true, true)]
    );
}

#[test]
fn pairwise_while_tree_over_chunks_is_a_tree_reduce() {
    let out = pretty(quote! {
        let mut level: Vec<_> = (0..n).map(|i| leaf(i)).collect();
        while level.len() > 1 {
            let mut next = Vec::new();
            for pair in level.chunks(2) {
                if pair.len() == 2 {
                    next.push(add(pair[0], pair[1]));
                } else {
                    next.push(pair[0]);
                }
            }
            level = next;
        }
        level[0]
    });
    assert!(out.contains("tree_reduce("), "{out}");
    assert!(!out.contains("while"), "{out}");
}
