use std::time::Duration;
use taskgraph::{delayed, graph, Runtime};
#[delayed]
fn nap(i: i64) -> i64 { std::thread::sleep(Duration::from_millis(1)); i }
#[delayed]
fn add(a: i64, b: i64) -> i64 { a + b }
fn main() {
    for fuse in [true, false] {
    let rt = Runtime::builder().threads(2).fuse_loops(fuse).build().unwrap();
    let n = 40i64;
    let zs = rt.spawn(graph! { let v: Vec<_> = (0..n).map(|i| nap(i)).collect(); v });
    let zr = &zs;
    let r = rt.compute(graph! { tree_reduce(zr, add) });
    println!("{:?}", r);
    let r = rt.compute(graph! { tree_reduce(zs, add) });
    println!("{:?}", r);
    let plain: Vec<i64> = (0..10).collect();
    println!("{:?}", rt.compute(graph! { tree_reduce(plain, add) }));
    let zs = rt.spawn(graph! { let v: Vec<_> = (0..n).map(|i| nap(i)).collect(); v });
    zs.cancel();
    println!("{:?}", rt.compute(graph! { tree_reduce(zs, add) }));
    }
}
