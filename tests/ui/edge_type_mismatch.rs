use taskdag::{delayed, graph, Runtime};

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
#[delayed]
fn name() -> String {
    "x".to_string()
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let x = add(1, 2);
        let s = name();
        add(x, s)
    });
}
