//! Looking at graphs without running them: tasks, DOT, templates, SVG.

use taskgraph::{delayed, graph, Runtime, View};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn dec(x: i64) -> i64 {
    x - 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

#[test]
fn scratch0() {
    let g = graph! { inc(1) };
    println!("{}", g.to_dot().unwrap());
}

#[test]
fn scratch() {
    let n = 4;
    let g = graph! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
    };
    println!("{}", g.tasks().unwrap());
    println!("{}", g.to_dot().unwrap());
    println!("{}", g.template_dot());
    println!("{}", g.view().collapse().to_dot().unwrap());
    assert_eq!(Runtime::new(2).unwrap().compute(g).unwrap(), 16);
}
