use taskdag::delayed;

#[delayed(cache)]
async fn fetch(x: i64) -> i64 {
    x
}

fn main() {}
