use taskdag::delayed;

#[delayed]
extern "C" fn callback(x: i64) -> i64 {
    x
}

fn main() {}
