use taskdag::delayed;

#[delayed]
fn name(s: &String) -> &str {
    s
}

fn main() {}
