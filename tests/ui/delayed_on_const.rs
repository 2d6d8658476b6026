use taskdag::delayed;

#[delayed]
const LIMIT: i64 = 10;

fn main() {}
