//! An image filter by tiles: a stencil over tiles, step after step, each
//! tile reading its four neighbours' edges from the step before.
//!
//! ```text
//! cargo run --release --example image_tiles [-- --big] [--threads N]
//! ```
//!
//! Smooths a 2,048 x 2,048 grey image (4,096 x 4,096 with `--big`) with 40
//! steps of a five-point kernel (each pixel becomes `(4 c + n + s + e + w) /
//! 8`, the image's border clamped), cut into 256 x 256 tiles. A tile's step
//! is one task that borrows the tile and its four neighbours of the step
//! before (`&tiles[up]`, ...), so the graph is a stencil of 64 tiles x 40
//! steps, built by indexing a vector of lazy values. The result is
//! compared, pixel for pixel, with the whole image filtered by one plain
//! loop, and written as PGM files under `target/image_tiles/`.

use std::path::Path;
use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Runtime};

/// A grey image, row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// `w * h` pixels, row by row, in `[0, 1]`.
    pub px: Vec<f32>,
}

/// A rectangle of an image: its place and its pixels.
#[derive(Clone, Debug)]
pub struct Tile {
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    px: Vec<f32>,
}

/// The kernel, one pixel: the same arithmetic in the tiles and in the
/// whole-image reference, so that both give the same bits.
#[inline(always)]
fn kernel(c: f32, n: f32, s: f32, e: f32, w: f32) -> f32 {
    (4.0 * c + n + s + e + w) * 0.125
}

impl Image {
    /// A test picture: smooth waves, sharp rings and noise.
    pub fn generate(w: usize, h: usize) -> Image {
        let mut px = Vec::with_capacity(w * h);
        let mut state = 0x1234_5678_u32;
        for y in 0..h {
            for x in 0..w {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                let waves = 0.5 + 0.25 * (12.0 * fx).sin() * (9.0 * fy).cos();
                let (dx, dy) = (fx - 0.5, fy - 0.5);
                let band = ((dx * dx + dy * dy).sqrt() * 40.0) as u32;
                let ring = if band.is_multiple_of(2) { 0.2 } else { 0.0 };
                let noise = (state >> 8) as f32 / (1u32 << 24) as f32 * 0.2;
                px.push((waves + ring + noise).min(1.0));
            }
        }
        Image { w, h, px }
    }

    /// `steps` steps of the kernel over the whole image, the plain way.
    pub fn smoothed(&self, steps: usize) -> Image {
        let (w, h) = (self.w, self.h);
        let mut cur = self.px.clone();
        let mut next = vec![0.0; w * h];
        for _ in 0..steps {
            for y in 0..h {
                let (yn, ys) = (y.saturating_sub(1), (y + 1).min(h - 1));
                for x in 0..w {
                    let (xw, xe) = (x.saturating_sub(1), (x + 1).min(w - 1));
                    next[y * w + x] = kernel(
                        cur[y * w + x],
                        cur[yn * w + x],
                        cur[ys * w + x],
                        cur[y * w + xe],
                        cur[y * w + xw],
                    );
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        Image { w, h, px: cur }
    }

    /// Writes the image as a binary PGM file.
    pub fn write_pgm(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = format!("P5\n{} {}\n255\n", self.w, self.h).into_bytes();
        bytes.extend(
            self.px
                .iter()
                .map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() as u8),
        );
        std::fs::write(path, bytes)
    }
}

/// Tile number `t` of `image` cut into tiles of `size` x `size` pixels
/// (smaller at the right and bottom edges).
#[delayed]
pub fn cut(image: &Image, size: usize, t: usize) -> Tile {
    let cols = image.w.div_ceil(size);
    let (x0, y0) = ((t % cols) * size, (t / cols) * size);
    let (w, h) = (size.min(image.w - x0), size.min(image.h - y0));
    let mut px = Vec::with_capacity(w * h);
    for y in y0..y0 + h {
        px.extend_from_slice(&image.px[y * image.w + x0..][..w]);
    }
    Tile { x0, y0, w, h, px }
}

/// One step of the kernel over tile `c`, reading the edges of its
/// neighbours; a neighbour that is `c` itself (at the image's border)
/// means the border is clamped.
#[delayed]
pub fn step(c: &Tile, up: &Tile, down: &Tile, left: &Tile, right: &Tile) -> Tile {
    let (w, h) = (c.w, c.h);
    // The rows and columns just outside the tile.
    let above: Vec<f32> = if up.y0 < c.y0 {
        up.px[(up.h - 1) * up.w..].to_vec()
    } else {
        c.px[..w].to_vec()
    };
    let below: Vec<f32> = if down.y0 > c.y0 {
        down.px[..down.w].to_vec()
    } else {
        c.px[(h - 1) * w..].to_vec()
    };
    let west: Vec<f32> = (0..h)
        .map(|y| {
            if left.x0 < c.x0 {
                left.px[y * left.w + left.w - 1]
            } else {
                c.px[y * w]
            }
        })
        .collect();
    let east: Vec<f32> = (0..h)
        .map(|y| {
            if right.x0 > c.x0 {
                right.px[y * right.w]
            } else {
                c.px[y * w + w - 1]
            }
        })
        .collect();
    let mut px = vec![0.0; w * h];
    for y in 0..h {
        let row = &c.px[y * w..][..w];
        let north = if y == 0 {
            &above[..]
        } else {
            &c.px[(y - 1) * w..][..w]
        };
        let south = if y + 1 == h {
            &below[..]
        } else {
            &c.px[(y + 1) * w..][..w]
        };
        let out = &mut px[y * w..][..w];
        for x in 0..w {
            let e = if x + 1 == w { east[y] } else { row[x + 1] };
            let wv = if x == 0 { west[y] } else { row[x - 1] };
            out[x] = kernel(row[x], north[x], south[x], e, wv);
        }
    }
    Tile { px, ..*c }
}

/// The tiles put back together.
#[delayed]
pub fn assemble(tiles: &[Tile], w: usize, h: usize) -> Image {
    let mut px = vec![0.0; w * h];
    for t in tiles {
        for y in 0..t.h {
            px[(t.y0 + y) * w + t.x0..][..t.w].copy_from_slice(&t.px[y * t.w..][..t.w]);
        }
    }
    Image { w, h, px }
}

/// The filter as a graph: a task per tile and step, each borrowing its
/// tile and the four around it from the step before.
pub fn parallel(
    rt: &Runtime,
    image: &Image,
    size: usize,
    steps: usize,
) -> Result<Image, taskdag::Error> {
    let (cols, rows) = (image.w.div_ceil(size), image.h.div_ceil(size));
    rt.compute(graph! {
        let mut tiles: Vec<_> = (0..rows * cols).map(|t| cut(image, size, t)).collect();
        for _ in 0..steps {
            let mut next = Vec::new();
            for ty in 0..rows {
                for tx in 0..cols {
                    let c = ty * cols + tx;
                    let up = if ty == 0 { c } else { c - cols };
                    let down = if ty + 1 == rows { c } else { c + cols };
                    let left = if tx == 0 { c } else { c - 1 };
                    let right = if tx + 1 == cols { c } else { c + 1 };
                    next.push(step(&tiles[c], &tiles[up], &tiles[down], &tiles[left], &tiles[right]));
                }
            }
            tiles = next;
        }
        assemble(&tiles, image.w, image.h)
    })
}

// ---------------------------------------------------------------------------

fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

const USAGE: &str = "usage: image_tiles [--big] [--threads N]\n\n  \
    --big         a 4,096 x 4,096 image instead of 2,048 x 2,048\n  \
    --threads N   threads of the runtime (default: one per core)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut big = false;
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--big" => big = true,
            "--threads" => threads = Some(args.next().ok_or(USAGE)?.parse()?),
            _ => return Err(USAGE.into()),
        }
    }
    let (side, size, steps) = (if big { 4_096 } else { 2_048 }, 256, 40);
    let image = Image::generate(side, side);
    let rt = match threads {
        Some(n) => Runtime::new(n)?,
        None => Runtime::builder().build()?,
    };
    let (want, seq) = timed(|| image.smoothed(steps));
    let (got, par) = timed(|| parallel(&rt, &image, size, steps));
    let got = got?;
    if got != want {
        return Err("the tiled image differs from the whole-image filter".into());
    }
    let tiles = side.div_ceil(size).pow(2);
    println!(
        "{side} x {side} pixels, {tiles} tiles of {size} x {size}, {steps} steps: {} tasks",
        tiles * (steps + 1) + 1
    );
    println!(
        "sequential {:.3} s, taskgraph {:.3} s on {} threads: {:.2}x, the same pixels",
        seq.as_secs_f64(),
        par.as_secs_f64(),
        rt.threads(),
        seq.as_secs_f64() / par.as_secs_f64()
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/image_tiles");
    std::fs::create_dir_all(&dir)?;
    image.write_pgm(&dir.join("input.pgm"))?;
    got.write_pgm(&dir.join("smoothed.pgm"))?;
    println!("wrote target/image_tiles/input.pgm and smoothed.pgm");
    Ok(())
}
