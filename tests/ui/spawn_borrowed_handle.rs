use taskdag::{delayed, graph, Runtime};

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let h = rt.spawn(graph! {
        let v: Vec<_> = (0..4).map(|i| add(i, 1)).collect();
        v
    });
    let _ = rt.spawn(graph! { tree_reduce(&h, add) });
}
