use taskdag::delayed;

#[delayed(threads = 2)]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {}
