use taskdag::delayed;

#[delayed]
fn total(xs: impl IntoIterator<Item = i64>) -> i64 {
    xs.into_iter().sum()
}

fn main() {}
