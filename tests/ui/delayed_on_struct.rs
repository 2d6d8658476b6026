use taskdag::delayed;

#[delayed]
struct Point {
    x: i64,
}

fn main() {}
