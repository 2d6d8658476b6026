use taskdag::{delayed, graph, Runtime};
#[delayed]
fn inc(x: i64) -> i64 { x + 1 }
#[delayed]
fn add(x: i64, y: i64) -> i64 { x + y }

#[test]
fn nested() {
    let rt = Runtime::new(2).unwrap();
    let s = rt.compute(graph! {
        let mut rows = Vec::new();
        let first: Vec<_> = (0..4).map(|c| inc(c)).collect();
        rows.push(first);
        for r in 1..3 {
            let mut row = Vec::new();
            for c in 0..4 {
                row.push(add(rows[r - 1][c], rows[r - 1][(c + 1) % 4]));
            }
            rows.push(row);
        }
        rows[2][0]
    }).unwrap();
    assert_eq!(s, 8);
}

