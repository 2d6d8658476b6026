use taskdag::delayed;

#[delayed]
fn scale(v: &mut Vec<f64>) -> usize {
    v.len()
}

fn main() {}
