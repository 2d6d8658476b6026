use taskdag::delayed;

struct Counter(i64);

impl Counter {
    #[delayed]
    fn next(&mut self) -> i64 {
        self.0 + 1
    }
}

fn main() {}
