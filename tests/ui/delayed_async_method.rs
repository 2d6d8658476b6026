use taskdag::delayed;

struct Client;

#[delayed]
impl Client {
    async fn get(&self, x: i64) -> i64 {
        x
    }
}

fn main() {}
