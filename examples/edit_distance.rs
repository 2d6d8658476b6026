//! A dynamic-programming wavefront: the edit distance of two long strings,
//! computed by blocks of the table, each block as soon as the block above
//! and the block to its left are done.
//!
//! ```text
//! cargo run --release --example edit_distance [-- --big] [--threads N]
//! ```
//!
//! The strings are 20,000 letters of DNA (60,000 with `--big`), the second
//! a copy of the first with one letter in twenty changed, dropped or
//! doubled. The table of `D[i][j]` (the distance between the first `i`
//! letters of one and the first `j` of the other) is cut into blocks of
//! 1,000 x 1,000 cells. A block needs only the bottom row of the block
//! above it and the right column of the block to its left, so its task
//! borrows those two (`&grid[up]`, `&grid[left]`) and gives its own bottom
//! row and right column: the blocks run in anti-diagonal waves, at most
//! `min(rows, columns)` at once. The first row and column of the grid are
//! the table's borders (`D[0][j] = j`, `D[i][0] = i`), tasks of their own.
//! The distance is compared with the plain row-by-row computation.

use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Runtime};

/// The edges of a block of the table, all that the blocks after it read.
#[derive(Clone, Debug, Default)]
pub struct Edges {
    /// The block's last row, from the cell left of the block to its last
    /// column (one more value than the block is wide).
    pub bottom: Vec<u32>,
    /// The block's last column, from its first row to its last.
    pub right: Vec<u32>,
}

/// One cell of the table from its three neighbours: the same arithmetic in
/// the blocks and in the plain computation.
#[inline(always)]
fn cell(diag: u32, up: u32, left: u32, same: bool) -> u32 {
    (diag + u32::from(!same)).min(up + 1).min(left + 1)
}

/// The edges a border block stands for: row 0 of the table above block
/// column `c - 1` (when `r == 0`), column 0 left of block row `r - 1`
/// (when `c == 0`).
#[delayed]
pub fn border(r: usize, c: usize, size: usize, n: usize, m: usize) -> Edges {
    let mut e = Edges::default();
    if r == 0 && c > 0 {
        let j0 = (c - 1) * size;
        e.bottom = (j0..=m.min(j0 + size)).map(|j| j as u32).collect();
    }
    if c == 0 && r > 0 {
        let i0 = (r - 1) * size;
        e.right = (i0 + 1..=n.min(i0 + size)).map(|i| i as u32).collect();
    }
    e
}

/// The block of the table of `a` against `b` whose cells are
/// `D[i0 + 1..][j0 + 1..]`, from the bottom row of the block above (`up`,
/// which gives its width) and the right column of the block to its left
/// (`left`, which gives its height).
#[delayed]
pub fn block(a: &[u8], b: &[u8], i0: usize, j0: usize, up: &Edges, left: &Edges) -> Edges {
    let (rows, cols) = (left.right.len(), up.bottom.len() - 1);
    let (a, b) = (&a[i0..i0 + rows], &b[j0..j0 + cols]);
    let mut prev = up.bottom.clone();
    let mut cur = vec![0; cols + 1];
    let mut right = Vec::with_capacity(rows);
    for (k, &x) in a.iter().enumerate() {
        cur[0] = left.right[k];
        for j in 1..=cols {
            cur[j] = cell(prev[j - 1], prev[j], cur[j - 1], x == b[j - 1]);
        }
        right.push(cur[cols]);
        std::mem::swap(&mut prev, &mut cur);
    }
    Edges {
        bottom: prev,
        right,
    }
}

/// The distance: the last cell of the last block.
#[delayed]
pub fn corner(last: &Edges) -> u32 {
    *last
        .bottom
        .last()
        .expect("a block is at least one cell wide")
}

/// The edit distance as a graph of blocks of `size` x `size` cells.
pub fn parallel(rt: &Runtime, a: &[u8], b: &[u8], size: usize) -> Result<u32, taskdag::Error> {
    let (n, m) = (a.len(), b.len());
    let (rows, cols) = (n.div_ceil(size), m.div_ceil(size));
    rt.compute(graph! {
        // A flat grid of (rows + 1) x (cols + 1) edges: row 0 and column 0
        // are the table's borders, block (r, c) is at (r + 1, c + 1).
        let w = cols + 1;
        let mut grid = Vec::new();
        for r in 0..=rows {
            for c in 0..=cols {
                if r == 0 || c == 0 {
                    grid.push(border(r, c, size, n, m));
                } else {
                    let up = (r - 1) * w + c;
                    let left = r * w + c - 1;
                    grid.push(block(a, b, (r - 1) * size, (c - 1) * size, &grid[up], &grid[left]));
                }
            }
        }
        corner(&grid[rows * w + cols])
    })
}

/// The same table, row by row in one plain loop.
pub fn sequential(a: &[u8], b: &[u8]) -> u32 {
    let mut prev: Vec<u32> = (0..=b.len() as u32).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &x) in a.iter().enumerate() {
        cur[0] = i as u32 + 1;
        for j in 1..=b.len() {
            cur[j] = cell(prev[j - 1], prev[j], cur[j - 1], x == b[j - 1]);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Two related strings: `n` random letters of `ACGT`, and a copy with about
/// one letter in twenty changed, dropped or doubled.
pub fn generate(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let a: Vec<u8> = (0..n)
        .map(|_| b"ACGT"[(next() >> 32) as usize % 4])
        .collect();
    let mut b = Vec::with_capacity(n + n / 20);
    for &x in &a {
        match next() % 60 {
            0 => b.push(b"ACGT"[(next() >> 32) as usize % 4]),
            1 => {}
            2 => b.extend([x, x]),
            _ => b.push(x),
        }
    }
    (a, b)
}

// ---------------------------------------------------------------------------

fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

const USAGE: &str = "usage: edit_distance [--big] [--threads N]\n\n  \
    --big         strings of 60,000 letters instead of 20,000\n  \
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
    let (len, block) = (if big { 60_000 } else { 20_000 }, 1_000);
    let (a, b) = generate(len, 0x5EED);
    let rt = match threads {
        Some(n) => Runtime::new(n)?,
        None => Runtime::builder().build()?,
    };
    let (want, seq) = timed(|| sequential(&a, &b));
    let (got, par) = timed(|| parallel(&rt, &a, &b, block));
    let got = got?;
    if got != want {
        return Err(format!("the blocks give {got}, the plain loop {want}").into());
    }
    let (rows, cols) = (a.len().div_ceil(block), b.len().div_ceil(block));
    println!(
        "strings of {} and {} letters: edit distance {got}; {rows} x {cols} blocks of {block} x {block}",
        a.len(),
        b.len()
    );
    println!(
        "sequential {:.3} s, taskgraph {:.3} s on {} threads: {:.2}x, the same distance",
        seq.as_secs_f64(),
        par.as_secs_f64(),
        rt.threads(),
        seq.as_secs_f64() / par.as_secs_f64()
    );
    Ok(())
}
