use taskgraph::{delayed, graph, Runtime};

#[delayed]
fn word(i: usize) -> String {
    format!("w{i}")
}
#[delayed]
fn len_of(s: &String) -> usize {
    s.len()
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let _ = rt.compute(graph! {
        let s = word(1);
        len_of(&s)
    });
}
