// A spawned graph's `Handle` read as if it were its values: each way a
// newcomer writes it is one error at the handle, saying what to write.
use taskdag::{delayed, graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let zs = rt.spawn(graph! {
        let zs: Vec<_> = (0..4).map(|i| inc(i)).collect();
        zs
    });
    let h = zs.clone();
    let _ = rt.compute(graph! {
        inc(zs[3])
    });
    let _ = rt.compute(graph! {
        let mut out = Vec::new();
        for i in 0..h.len() {
            out.push(inc(i as i64));
        }
        out
    });
    let r = &zs;
    let _ = rt.compute(graph! {
        let mut out = Vec::new();
        for z in r {
            out.push(inc(*z));
        }
        out
    });
}
