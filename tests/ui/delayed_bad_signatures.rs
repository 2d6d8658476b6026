use taskgraph::delayed;

#[delayed]
async fn fetch(x: i64) -> i64 {
    x
}

#[delayed]
fn scale(v: &mut Vec<f64>) -> usize {
    v.len()
}

#[delayed]
fn name(s: &String) -> &str {
    s
}

fn main() {}
