use taskdag::delayed;

use std::rc::Rc;

#[delayed]
fn load(n: usize) -> Rc<Vec<f64>> {
    Rc::new(vec![0.0; n])
}

fn main() {}
