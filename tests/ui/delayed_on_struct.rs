use taskgraph::delayed;

#[delayed]
struct Point {
    x: i64,
}

fn main() {}
