//! The ranges a fused loop can iterate over: ones whose length is known and
//! whose `k`-th element can be computed, so blocks can start anywhere.

/// A range a fused loop can split: its length, and its `k`-th element.
pub trait FusedRange {
    /// The loop variable's type.
    type Item;
    /// The number of iterations.
    fn fused_len(&self) -> usize;
    /// The loop variable of iteration `k < fused_len()`.
    fn fused_at(&self, k: usize) -> Self::Item;
}

/// Two nested ranges, the inner independent of the outer: a fused loop over
/// the pairs in the nest's order (`for a in outer { for b in inner { .. } }`).
#[derive(Clone, Debug)]
pub struct Product<A, B> {
    outer: A,
    inner: B,
    inner_len: usize,
}

impl<A: FusedRange, B: FusedRange> Product<A, B> {
    /// The pairs of `outer` and `inner`.
    pub fn new(outer: A, inner: B) -> Self {
        let inner_len = inner.fused_len();
        Product {
            outer,
            inner,
            inner_len,
        }
    }

    /// The loop indices of pair `k`, as two nested loops number them.
    #[inline]
    pub fn at(&self, k: u32) -> [u32; 2] {
        let l = self.inner_len as u32;
        [k / l, k % l]
    }
}

impl<A: FusedRange, B: FusedRange> FusedRange for Product<A, B> {
    type Item = (A::Item, B::Item);
    fn fused_len(&self) -> usize {
        self.outer
            .fused_len()
            .checked_mul(self.inner_len)
            .expect("a nested loop with more iterations than fit in memory")
    }
    #[inline(always)]
    fn fused_at(&self, k: usize) -> Self::Item {
        (
            self.outer.fused_at(k / self.inner_len),
            self.inner.fused_at(k % self.inner_len),
        )
    }
}

/// A type a fused loop can count over: the integers and `char`.
pub trait FusedStep: Copy + PartialOrd {
    /// How many values lie in `start..end` (0 if `end <= start`).
    fn distance(start: Self, end: Self) -> usize;
    /// The value `k` steps after `start` (`k` within the range).
    fn offset(start: Self, k: usize) -> Self;
}

impl<T: FusedStep> FusedRange for std::ops::Range<T> {
    type Item = T;
    #[inline]
    fn fused_len(&self) -> usize {
        T::distance(self.start, self.end)
    }
    #[inline(always)]
    fn fused_at(&self, k: usize) -> T {
        T::offset(self.start, k)
    }
}

impl<T> FusedRange for std::iter::StepBy<std::ops::Range<T>>
where
    std::ops::Range<T>: Iterator<Item = T> + Clone,
{
    type Item = T;
    #[inline]
    fn fused_len(&self) -> usize {
        self.size_hint().0
    }
    #[inline]
    fn fused_at(&self, k: usize) -> T {
        self.clone().nth(k).expect("in range")
    }
}

impl<T: FusedStep> FusedRange for std::ops::RangeInclusive<T> {
    type Item = T;
    #[inline]
    fn fused_len(&self) -> usize {
        if self.is_empty() {
            0
        } else {
            T::distance(*self.start(), *self.end()) + 1
        }
    }
    #[inline(always)]
    fn fused_at(&self, k: usize) -> T {
        T::offset(*self.start(), k)
    }
}

macro_rules! int_steps {
    ($($t:ty),*) => {$(
        impl FusedStep for $t {
            #[inline]
            fn distance(start: $t, end: $t) -> usize {
                if end > start {
                    usize::try_from(end.abs_diff(start)).expect("range too long")
                } else {
                    0
                }
            }
            #[inline(always)]
            fn offset(start: $t, k: usize) -> $t {
                // Wrapping arithmetic is exact here: the result lies in the range.
                start.wrapping_add(k as $t)
            }
        }
    )*};
}
int_steps!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

/// `char`s skip the surrogate gap `0xD800..0xE000`.
fn char_index(c: char) -> u32 {
    let c = c as u32;
    if c >= 0xE000 {
        c - 0x800
    } else {
        c
    }
}

impl FusedStep for char {
    fn distance(start: char, end: char) -> usize {
        char_index(end).saturating_sub(char_index(start)) as usize
    }
    fn offset(start: char, k: usize) -> char {
        let i = char_index(start) + k as u32;
        let c = if i >= 0xD800 { i + 0x800 } else { i };
        char::from_u32(c).expect("in range")
    }
}

#[cfg(test)]
mod tests {
    use super::FusedRange;

    #[test]
    fn ranges_index_like_iteration() {
        let r = -3i8..120;
        assert_eq!(r.fused_len(), r.clone().count());
        assert!((0..r.fused_len()).map(|k| r.fused_at(k)).eq(r.clone()));
        let r = 250u8..=255;
        assert_eq!(r.fused_len(), 6);
        assert!((0..6).map(|k| r.fused_at(k)).eq(r.clone()));
        let r = 'a'..'e';
        assert!((0..r.fused_len()).map(|k| r.fused_at(k)).eq(r.clone()));
        let r = '\u{D7FE}'..='\u{E001}';
        assert_eq!(r.fused_len(), r.clone().count());
        assert!((0..r.fused_len()).map(|k| r.fused_at(k)).eq(r.clone()));
        #[allow(clippy::reversed_empty_ranges)]
        let empty = 5i64..2;
        assert_eq!(empty.fused_len(), 0);
        let s = (3u32..20).step_by(4);
        assert_eq!(s.fused_len(), s.clone().count());
        assert!((0..s.fused_len()).map(|k| s.fused_at(k)).eq(s.clone()));
    }
}
