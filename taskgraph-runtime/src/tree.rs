//! `tree_reduce`: the pairwise reduction tree, numbered once for both kinds
//! of work.
//!
//! Level 0 combines elements 0 and 1, 2 and 3, and so on; an odd last
//! element moves up unchanged. Seen over aligned blocks this is the binary
//! tree whose node of `2s` leaves starting at `a` (a multiple of `2s`)
//! combines its halves; a half that is empty (past the end) leaves the other
//! half unchanged. The combine at that node is task `[.., level, position]`
//! with `level = log2(s)` and `position = a / 2s` ([`merge_label`]), whether
//! it is a node of a node-by-node family or a merge inside a fused block, so
//! both give the same result for floating point, the same order for
//! non-commutative functions, and the same loop indices in errors.

use crate::exec::task::Stopped;

/// The loop indices' last two numbers of the combine whose left operand is
/// the aligned block of `left` leaves starting at `start`.
#[inline(always)]
pub(crate) fn merge_label(start: u32, left: u32) -> (u32, u32) {
    (left.trailing_zeros(), start / (2 * left))
}

/// Blocks of at most this many leaves run as straight-line code: enough to
/// let the compiler overlap the iterations of light tasks, few enough that a
/// loop's body is not copied more than this many times.
pub(crate) const SMALL: u32 = 8;

/// The aligned block of `SMALL` leaves at `lo`, as straight-line code:
/// each leaf and merge written once per position, in the tree's order.
/// (A block clipped by the end of the range goes leaf by leaf through
/// [`Acc::push`], which merges the same pairs; one shape here keeps a
/// loop's body copied `SMALL` times, not once per shape.)
#[inline(always)]
#[allow(clippy::question_mark)] // `match`, not `?`: fewer calls to compile per loop.
pub(crate) fn small<R>(
    lo: u32,
    leaf: &impl Fn(u32) -> Result<R, Stopped>,
    merge: &impl Fn(R, R, u32, u32) -> Result<R, Stopped>,
) -> Result<R, Stopped> {
    // `match`, not `?`: this is each loop's own code, and `?` is two more
    // calls (and their unwinding paths) for the compiler to inline away.
    #[inline(always)]
    fn two<R>(
        lo: u32,
        leaf: &impl Fn(u32) -> Result<R, Stopped>,
        merge: &impl Fn(R, R, u32, u32) -> Result<R, Stopped>,
    ) -> Result<R, Stopped> {
        let a = match leaf(lo) {
            Ok(a) => a,
            Err(e) => return Err(e),
        };
        let b = match leaf(lo + 1) {
            Ok(b) => b,
            Err(e) => return Err(e),
        };
        merge(a, b, 0, lo / 2)
    }
    #[inline(always)]
    fn four<R>(
        lo: u32,
        leaf: &impl Fn(u32) -> Result<R, Stopped>,
        merge: &impl Fn(R, R, u32, u32) -> Result<R, Stopped>,
    ) -> Result<R, Stopped> {
        let a = match two(lo, leaf, merge) {
            Ok(a) => a,
            Err(e) => return Err(e),
        };
        let b = match two(lo + 2, leaf, merge) {
            Ok(b) => b,
            Err(e) => return Err(e),
        };
        merge(a, b, 1, lo / 4)
    }
    const _: () = assert!(SMALL == 8);
    let a = match four(lo, leaf, merge) {
        Ok(a) => a,
        Err(e) => return Err(e),
    };
    let b = match four(lo + 4, leaf, merge) {
        Ok(b) => b,
        Err(e) => return Err(e),
    };
    merge(a, b, 2, lo / 8)
}

/// The partial results of a block being reduced left to right: aligned
/// blocks with strictly decreasing sizes, bottom to top, covering the
/// processed prefix (its binary decomposition). Equal-sized neighbours are
/// merged as soon as they meet, so merges happen exactly at the tree's nodes.
pub(crate) struct Acc<R> {
    items: [std::mem::MaybeUninit<(R, u32, u32)>; 34],
    first: usize,
    len: usize,
}

impl<R> Acc<R> {
    pub(crate) fn new() -> Self {
        Acc {
            items: [const { std::mem::MaybeUninit::uninit() }; 34],
            first: 0,
            len: 0,
        }
    }

    fn pop(&mut self) -> Option<(R, u32, u32)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: entries `first..first + len` are initialised; this one
        // leaves that range.
        Some(unsafe { self.items[self.first + self.len].assume_init_read() })
    }

    /// Removes the bottom entry.
    pub(crate) fn pop_bottom(&mut self) -> Option<(R, u32, u32)> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: as in `pop`.
        let x = unsafe { self.items[self.first].assume_init_read() };
        self.first += 1;
        self.len -= 1;
        Some(x)
    }

    /// Adds the block of `size` leaves at `start`, merging equal neighbours.
    /// (A fused loop's blocks call this from code compiled once per value
    /// type, `merge` reaching the loop's own combine through a pointer.)
    #[inline]
    pub(crate) fn push(
        &mut self,
        mut v: R,
        mut start: u32,
        mut size: u32,
        merge: &impl Fn(R, R, u32, u32) -> Result<R, Stopped>,
    ) -> Result<(), Stopped> {
        while let Some((a, a_start)) = self.take_equal(size) {
            let (lv, lp) = merge_label(a_start, size);
            v = merge(a, v, lv, lp)?;
            start = a_start;
            size *= 2;
        }
        self.put(v, start, size);
        Ok(())
    }

    /// Removes the top entry if it is a block of `size` leaves: its value
    /// and start.
    #[inline]
    fn take_equal(&mut self, size: u32) -> Option<(R, u32)> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: the top entry is initialised.
        let top_size = unsafe { self.items[self.first + self.len - 1].assume_init_ref() }.2;
        if top_size != size {
            return None;
        }
        self.pop().map(|(a, a_start, _)| (a, a_start))
    }

    /// Adds `v`, the block of `size` leaves at `start`, on top.
    #[inline]
    fn put(&mut self, v: R, start: u32, size: u32) {
        if self.first + self.len == self.items.len() {
            // Keep room at the top: move the entries down.
            let base = self.items.as_mut_ptr();
            // SAFETY: both ranges lie inside `items`; the entries move, so
            // each stays initialised exactly once.
            unsafe { std::ptr::copy(base.add(self.first), base, self.len) };
            self.first = 0;
        }
        self.items[self.first + self.len].write((v, start, size));
        self.len += 1;
    }

    /// Merges what is left, top down: the block's result. Once per block,
    /// so `merge` is called through a pointer, and a loop's code need not
    /// have a copy of this of its own.
    #[inline(never)]
    pub(crate) fn finish(
        mut self,
        merge: &dyn Fn(R, R, u32, u32) -> Result<R, Stopped>,
    ) -> Result<Option<R>, Stopped> {
        let Some((mut v, _, _)) = self.pop() else {
            return Ok(None);
        };
        while let Some((a, a_start, a_size)) = self.pop() {
            let (lv, lp) = merge_label(a_start, a_size);
            v = merge(a, v, lv, lp)?;
        }
        Ok(Some(v))
    }
}

impl<R> Drop for Acc<R> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// The largest aligned suffix `m..hi` of a block's range that can be given
/// away while leaves `..cur` are done: a right child on the block's right
/// spine. `lo..lo + size` is the block's aligned range (`hi` within it).
/// Returns `(m, z)`: the suffix starts at `m` and is the right half of the
/// spine node of `2z` leaves.
#[inline]
pub(crate) fn spine_split(lo: u32, size: u32, hi: u32, cur: u32) -> Option<(u32, u32)> {
    let room = lo + size - cur;
    let cap = (size / 2).min(room);
    if cap == 0 {
        return None;
    }
    let z = 1u32 << (31 - cap.leading_zeros());
    let m = lo + size - z;
    (m < hi && m >= cur).then_some((m, z))
}

/// The smallest aligned size that holds `n` leaves.
#[inline]
pub(crate) fn tree_size(n: u32) -> u32 {
    n.max(1).next_power_of_two()
}

/// The elements of the levels of a pairwise tree over `n` values, found
/// arithmetically: element `e` of level `l >= 1` is reduce node
/// `off[l] + e`, or the odd one out of the level below moved up.
pub(crate) struct Levels {
    pub(crate) n: [u32; 34],
    off: [u32; 34],
    pub(crate) count: usize,
}

impl Levels {
    pub(crate) fn new(n0: u32) -> Self {
        let mut n = [0; 34];
        let mut off = [0; 34];
        n[0] = n0;
        let mut count = 1;
        let mut total = 0;
        while n[count - 1] > 1 {
            off[count] = total;
            total += n[count - 1] / 2;
            n[count] = n[count - 1].div_ceil(2);
            count += 1;
        }
        Levels { n, off, count }
    }

    /// `Err(e)`: element `e` of level 0; `Ok(i)`: reduce node `i`.
    pub(crate) fn elem(&self, mut l: usize, mut e: u32) -> Result<u32, u32> {
        loop {
            if l == 0 {
                return Err(e);
            }
            let half = self.n[l - 1] / 2;
            if e < half {
                return Ok(self.off[l] + e);
            }
            e = self.n[l - 1] - 1;
            l -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arithmetic levels name the same nodes as building each level.
    #[test]
    fn levels_match_a_level_by_level_build() {
        // Fewer under Miri (plain arithmetic, slow there): still every
        // shape of the first levels.
        let top = if cfg!(miri) { 40 } else { 200 };
        for n in 1..top {
            let levels = Levels::new(n);
            // Build level by level with explicit vectors of (is_node, index).
            let mut level: Vec<Result<u32, u32>> = (0..n).map(Err).collect();
            let mut next_node = 0;
            let mut l = 0;
            while level.len() > 1 {
                for (e, x) in level.iter().enumerate() {
                    assert_eq!(levels.elem(l, e as u32), *x, "n {n} level {l} elem {e}");
                }
                let mut up = Vec::new();
                let mut i = 0;
                while i + 1 < level.len() {
                    up.push(Ok(next_node));
                    next_node += 1;
                    i += 2;
                }
                if i < level.len() {
                    up.push(level[i]);
                }
                level = up;
                l += 1;
            }
            assert_eq!(levels.count, l + 1);
            assert_eq!(levels.elem(l, 0), level[0]);
        }
    }

    /// A run of `SMALL` leaves merges the same pairs, with the same labels,
    /// as pushing its leaves one by one; a failing leaf or merge stops it.
    #[test]
    fn a_run_of_small_merges_as_the_tree_does() {
        let merge = |a: String, b: String, lv: u32, lp: u32| Ok(format!("({a} {b})@{lv}.{lp}"));
        for lo in [0, 8, 64, 800] {
            let leaf = |k: u32| Ok(format!("{k}"));
            let mut acc = Acc::new();
            for k in lo..lo + SMALL {
                acc.push(format!("{k}"), k, 1, &merge).unwrap();
            }
            let want = acc.finish(&merge).unwrap().unwrap();
            assert_eq!(small(lo, &leaf, &merge).unwrap(), want, "lo = {lo}");
        }
        for bad in 0..SMALL {
            let leaf = |k: u32| match k == bad {
                true => Err(Stopped),
                false => Ok(format!("{k}")),
            };
            assert_eq!(small(0, &leaf, &merge), Err(Stopped));
        }
        let leaf = |k: u32| Ok(format!("{k}"));
        let stop_at_top = |a: String, b: String, lv: u32, lp: u32| match lv {
            2 => Err(Stopped),
            _ => merge(a, b, lv, lp),
        };
        assert_eq!(small(0, &leaf, &stop_at_top), Err(Stopped));
    }

    /// Splitting a block anywhere on its spine and reducing the parts gives
    /// the same labels as reducing it in one go.
    #[test]
    fn spine_splits_keep_the_tree() {
        fn labels(lo: u32, hi: u32, size: u32, out: &mut Vec<String>) -> String {
            // Reference: the aligned tree, clipped.
            if hi - lo == 1 {
                return format!("{lo}");
            }
            let mid = lo + size / 2;
            if mid >= hi {
                return labels(lo, hi, size / 2, out);
            }
            let a = labels(lo, mid, size / 2, out);
            let b = labels(mid, hi, size / 2, out);
            let (lv, lp) = merge_label(lo, size / 2);
            out.push(format!("{lv}.{lp}"));
            format!("({a} {b})")
        }
        let top = if cfg!(miri) { 24 } else { 70 };
        for n in 1..top {
            let size = tree_size(n);
            let mut want = Vec::new();
            let whole = labels(0, n, size, &mut want);
            // Accumulate left to right, one leaf at a time.
            let mut got = Vec::new();
            let merge = |a: String, b: String, lv: u32, lp: u32| {
                let _ = (lv, lp);
                Ok(format!("({a} {b})"))
            };
            let mut acc = Acc::new();
            for k in 0..n {
                acc.push(format!("{k}"), k, 1, &merge).unwrap();
            }
            got.push(acc.finish(&merge).unwrap().unwrap());
            assert_eq!(got[0], whole, "n = {n}");
            for cur in 0..n {
                if let Some((m, z)) = spine_split(0, size, n, cur) {
                    assert!(
                        m >= cur && m < n && m % z == 0 && (m / z) % 2 == 1,
                        "n {n} cur {cur}"
                    );
                }
            }
        }
    }
}
