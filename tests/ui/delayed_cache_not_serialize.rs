use taskdag::delayed;

/// Neither `Serialize` nor `Deserialize`.
pub struct Opaque(pub u32);

#[delayed(cache)]
fn wrap(x: u32) -> Opaque {
    Opaque(x)
}

#[delayed(cache)]
fn unwrap(o: &Opaque) -> u32 {
    o.0
}

#[delayed(cache, version = 2)]
fn versioned(x: u32) -> u32 {
    x
}

pub struct Meter(pub u32);

impl Meter {
    #[delayed(cache)]
    pub fn read(&self) -> u32 {
        self.0
    }
}

fn main() {}
