use taskdag::{graph, Runtime};

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {});
}
