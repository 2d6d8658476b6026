use taskdag::{delayed, graph, Runtime};

/// A task argument that borrows a plain value.
#[derive(Clone)]
struct Words<'a>(&'a str);

#[delayed]
fn count(w: Words<'_>) -> usize {
    w.0.split_whitespace().count()
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let mut counts = Vec::new();
        for i in 0..3 {
            // Dropped at the end of each iteration, before any task runs.
            let line = format!("line {i}");
            counts.push(count(Words(&line)));
        }
        counts
    });
}
