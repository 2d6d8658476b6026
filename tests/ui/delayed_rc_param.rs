use taskdag::delayed;

use std::rc::Rc;

#[delayed]
fn count(v: Rc<Vec<i64>>) -> usize {
    v.len()
}

fn main() {}
