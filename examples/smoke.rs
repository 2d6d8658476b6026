use taskgraph::{delayed, graph, Runtime};

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

fn main() -> Result<(), taskgraph::Error> {
    assert_eq!(inc(1), 2);
    let rt = Runtime::new(4)?;
    let z = rt.compute(graph! {
        let x = inc(1);
        let y = dec(2);
        add(x, y)
    })?;
    assert_eq!(z, 3);
    let n = 256;
    let total = rt.compute(graph! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
    })?;
    assert_eq!(total, (0..256).map(|i| 2 * i + 1).sum::<i64>());
    println!("{z} {total}");
    Ok(())
}
