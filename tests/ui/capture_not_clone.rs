// A `graph!` capturing a value that is not `Clone`: a graph runs its plain
// code on a copy of its captures to be looked at.
use taskdag::{delayed, graph, Runtime};

struct Config {
    scale: u64,
}

impl Config {
    fn scale(&self) -> u64 {
        self.scale
    }
}

#[delayed]
fn scaled(x: u64, scale: u64) -> u64 {
    x * scale
}

fn main() {
    let config = Config { scale: 3 };
    let rt = Runtime::new(2).unwrap();
    let g = graph! {
        scaled(2, config.scale())
    };
    let _ = rt.compute(g);
}
