//! Values while a graph is instantiated and while it runs: node ids, lazy
//! handles, vectors of them, the output slots nodes write, and how a task
//! receives its inputs (`pass.rs`).

pub(crate) mod slot;

use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// Invariant lifetime that ties lazy handles and families to one graph run.
pub(crate) type Brand<'g> = PhantomData<fn(&'g ()) -> &'g ()>;

/// Identifies one node: its family (call site) and its index in the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    pub(crate) fam: u32,
    pub(crate) idx: u32,
}

impl NodeId {
    /// Node `idx` of family `fam`.
    pub const fn new(fam: u32, idx: u32) -> Self {
        NodeId { fam, idx }
    }
    /// The family (call site) number, in the order the graph made them.
    #[inline(always)]
    pub fn family(self) -> u32 {
        self.fam
    }
    /// The node's index within its family.
    #[inline(always)]
    pub fn index(self) -> u32 {
        self.idx
    }
}

/// A lazy value while a graph is instantiated: the future output of one node.
///
/// Only a family of the same graph (the brand `'g`) makes these, so the
/// family number always names a family whose outputs are `T`.
pub struct Lazy<'g, T> {
    pub(crate) id: NodeId,
    _brand: Brand<'g>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Lazy<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Lazy<'_, T> {}

impl<T> std::fmt::Debug for Lazy<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lazy({}:{})", self.id.fam, self.id.idx)
    }
}

impl<T> Lazy<'_, T> {
    pub(crate) fn new(id: NodeId) -> Self {
        Lazy {
            id,
            _brand: PhantomData,
            _t: PhantomData,
        }
    }
}

/// Consecutive elements `start..start + len` of one family, at position
/// `offset` of the vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub(crate) fam: u32,
    pub(crate) start: u32,
    pub(crate) len: u32,
    pub(crate) offset: usize,
}

/// A vector's pieces, the first [`INLINE_PIECES`] kept inline: a vector of
/// one run (values pushed in loop order, a sub-slice of one such run), or a
/// gather of a few scattered values (an FFT butterfly's three), allocates
/// nothing.
#[derive(Clone, Copy)]
struct Inline {
    /// How many of `p` are written.
    n: u8,
    p: [MaybeUninit<Piece>; INLINE_PIECES],
}

#[derive(Clone)]
enum Pieces {
    /// Up to `INLINE_PIECES` pieces.
    Inline(Inline),
    /// Every piece, once there are more than fit inline.
    Heap(Vec<Piece>),
}

/// How many pieces a vector keeps without allocating.
const INLINE_PIECES: usize = 3;

impl Inline {
    #[inline(always)]
    fn as_slice(&self) -> &[Piece] {
        // SAFETY: the first `n` pieces are written (`Pieces::push`), and a
        // `MaybeUninit<Piece>` has the layout of a `Piece`.
        unsafe { std::slice::from_raw_parts(self.p.as_ptr().cast(), self.n as usize) }
    }

    /// The only piece, if there is exactly one.
    #[inline(always)]
    fn only(&self) -> Option<&Piece> {
        // SAFETY: with `n == 1` the first piece is written.
        (self.n == 1).then(|| unsafe { self.p[0].assume_init_ref() })
    }
}

impl Default for Pieces {
    #[inline]
    fn default() -> Self {
        Pieces::Inline(Inline {
            n: 0,
            p: [MaybeUninit::uninit(); INLINE_PIECES],
        })
    }
}

impl Pieces {
    /// The pieces of a vector of one run.
    #[inline(always)]
    fn one(p: Piece) -> Self {
        let mut rest = [MaybeUninit::uninit(); INLINE_PIECES];
        rest[0].write(p);
        Pieces::Inline(Inline { n: 1, p: rest })
    }

    #[inline]
    fn last_mut(&mut self) -> Option<&mut Piece> {
        match self {
            Pieces::Inline(i) => match i.n.checked_sub(1) {
                // SAFETY: the first `n` pieces are written.
                Some(k) => Some(unsafe { i.p[k as usize].assume_init_mut() }),
                None => None,
            },
            Pieces::Heap(v) => v.last_mut(),
        }
    }

    /// Every piece in a `Vec`, for edits in the middle (`LazyVec::set`).
    fn as_vec(&mut self) -> &mut Vec<Piece> {
        if let Pieces::Inline(i) = self {
            *self = Pieces::Heap(i.as_slice().to_vec());
        }
        match self {
            Pieces::Heap(v) => v,
            Pieces::Inline(_) => unreachable!("made a `Vec` just above"),
        }
    }

    #[inline]
    fn push(&mut self, piece: Piece) {
        match self {
            Pieces::Inline(i) if (i.n as usize) < INLINE_PIECES => {
                i.p[i.n as usize].write(piece);
                i.n += 1;
            }
            Pieces::Inline(i) => {
                let mut v = Vec::with_capacity(2 * INLINE_PIECES);
                v.extend_from_slice(i.as_slice());
                v.push(piece);
                *self = Pieces::Heap(v);
            }
            Pieces::Heap(v) => v.push(piece),
        }
    }
}

impl std::ops::Deref for Pieces {
    type Target = [Piece];
    #[inline]
    fn deref(&self) -> &[Piece] {
        match self {
            Pieces::Inline(i) => i.as_slice(),
            Pieces::Heap(v) => v,
        }
    }
}

/// A vector of lazy values, as `Vec::new()` and `.collect()` make inside
/// `graph!`.
///
/// It stores runs of consecutive nodes of one family, not one handle per
/// element: values pushed in loop order (one per iteration) take no room per
/// element, whether the loop is recorded node by node or runs fused. Its
/// length is a plain value.
pub struct LazyVec<'g, T> {
    pieces: Pieces,
    len: usize,
    _brand: Brand<'g>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for LazyVec<'_, T> {
    fn clone(&self) -> Self {
        LazyVec {
            pieces: self.pieces.clone(),
            len: self.len,
            _brand: PhantomData,
            _t: PhantomData,
        }
    }
}

impl<T> Default for LazyVec<'_, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for LazyVec<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyVec")
            .field("len", &self.len)
            .field("pieces", &self.pieces.len())
            .finish()
    }
}

impl<'g, T> LazyVec<'g, T> {
    /// An empty vector.
    pub fn new() -> Self {
        LazyVec {
            pieces: Pieces::default(),
            len: 0,
            _brand: PhantomData,
            _t: PhantomData,
        }
    }

    /// Appends a lazy value.
    #[inline]
    pub fn push(&mut self, v: Lazy<'g, T>) {
        // Usually the next node of the last run (a loop pushing its outputs).
        if let Some(last) = self.pieces.last_mut() {
            if last.fam == v.id.fam && last.start.checked_add(last.len) == Some(v.id.idx) {
                last.len += 1;
                self.len += 1;
                return;
            }
        }
        self.push_run(v.id.fam, v.id.idx, 1);
    }

    /// Appends `len` consecutive nodes of family `fam` from `start`.
    pub(crate) fn push_run(&mut self, fam: u32, start: u32, len: u32) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.pieces.last_mut() {
            if last.fam == fam && last.start.checked_add(last.len) == Some(start) {
                last.len += len;
                self.len += len as usize;
                return;
            }
        }
        self.pieces.push(Piece {
            fam,
            start,
            len,
            offset: self.len,
        });
        self.len += len as usize;
    }

    /// Appends every element of `other`, in order.
    pub fn extend_from(&mut self, other: &LazyVec<'g, T>) {
        for p in other.pieces.iter() {
            self.push_run(p.fam, p.start, p.len);
        }
    }

    /// The number of elements: a plain value.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vector has no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reserves room; a no-op kept so that code written for `Vec` compiles.
    #[inline]
    pub fn reserve(&mut self, _additional: usize) {}

    /// Element `i`, if there is one.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Lazy<'g, T>> {
        if i >= self.len {
            return None;
        }
        if let Pieces::Inline(inline) = &self.pieces {
            if let Some(p) = inline.only() {
                return Some(Lazy::new(NodeId::new(p.fam, p.start + i as u32)));
            }
        }
        let k = self.pieces.partition_point(|p| p.offset <= i) - 1;
        let p = &self.pieces[k];
        Some(Lazy::new(NodeId::new(
            p.fam,
            p.start + (i - p.offset) as u32,
        )))
    }

    /// The last element, if any.
    pub fn last(&self) -> Option<Lazy<'g, T>> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    /// The elements in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Lazy<'g, T>> + DoubleEndedIterator + '_ {
        self.pieces
            .iter()
            .flat_map(|p| (p.start..p.start + p.len).map(move |i| Lazy::new(NodeId::new(p.fam, i))))
            .collect_len(self.len)
    }

    /// `v[i]` in `graph!`: element `i`, or [`Error::IndexOutOfRange`]
    /// naming the vector `name` and the place `at` (`file:line:column`).
    ///
    /// [`Error::IndexOutOfRange`]: crate::Error::IndexOutOfRange
    #[inline]
    pub fn at(
        &self,
        i: usize,
        name: &'static str,
        at: &'static str,
    ) -> Result<Lazy<'g, T>, crate::Error> {
        match self.get(i) {
            Some(x) => Ok(x),
            None => Err(self.out_of_range(i, name, at)),
        }
    }

    /// `v[i] = x;` in `graph!`: element `i` becomes `x`, or
    /// [`Error::IndexOutOfRange`] as for [`LazyVec::at`]. The vector's other
    /// elements keep their runs: an update splits at most one run in three.
    ///
    /// [`Error::IndexOutOfRange`]: crate::Error::IndexOutOfRange
    pub fn set(
        &mut self,
        i: usize,
        x: Lazy<'g, T>,
        name: &'static str,
        at: &'static str,
    ) -> Result<(), crate::Error> {
        if i >= self.len {
            return Err(self.out_of_range(i, name, at));
        }
        let k = self.pieces.partition_point(|p| p.offset <= i) - 1;
        let p = self.pieces[k];
        let d = (i - p.offset) as u32;
        if p.fam == x.id.fam && p.start + d == x.id.idx {
            return Ok(());
        }
        let mut mid = Vec::with_capacity(3);
        if d > 0 {
            mid.push(Piece { len: d, ..p });
        }
        mid.push(Piece {
            fam: x.id.fam,
            start: x.id.idx,
            len: 1,
            offset: i,
        });
        if d + 1 < p.len {
            mid.push(Piece {
                fam: p.fam,
                start: p.start + d + 1,
                len: p.len - d - 1,
                offset: i + 1,
            });
        }
        let added = mid.len();
        let pieces = self.pieces.as_vec();
        pieces.splice(k..=k, mid);
        // Rejoin runs: a loop updating `v[i]` in order with consecutive
        // nodes of one family leaves one run, not one per element.
        let mut j = k.saturating_sub(1);
        let mut end = (k + added).min(pieces.len() - 1);
        while j < end {
            let (a, b) = (pieces[j], pieces[j + 1]);
            if a.fam == b.fam && a.start.checked_add(a.len) == Some(b.start) {
                pieces[j].len += b.len;
                pieces.remove(j + 1);
                end -= 1;
            } else {
                j += 1;
            }
        }
        Ok(())
    }

    /// `&v[range]` in `graph!`: the elements of `range`, or
    /// [`Error::IndexOutOfRange`] as for [`LazyVec::at`].
    ///
    /// [`Error::IndexOutOfRange`]: crate::Error::IndexOutOfRange
    #[inline]
    pub fn slice(
        &self,
        range: impl std::ops::RangeBounds<usize>,
        name: &'static str,
        at: &'static str,
    ) -> Result<LazyVec<'g, T>, crate::Error> {
        use std::ops::Bound;
        let lo = match range.start_bound() {
            Bound::Included(&a) => a,
            Bound::Excluded(&a) => a.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(&b) => b.saturating_add(1),
            Bound::Excluded(&b) => b,
            Bound::Unbounded => self.len,
        };
        if hi > self.len {
            return Err(self.out_of_range(hi.max(1) - 1, name, at));
        }
        if lo > hi {
            return Err(self.out_of_range(lo, name, at));
        }
        if let Pieces::Inline(inline) = &self.pieces {
            if let Some(p) = inline.only() {
                // One run (the usual case): its sub-run, or nothing.
                let mut out = LazyVec::new();
                if lo < hi {
                    out.pieces = Pieces::one(Piece {
                        fam: p.fam,
                        start: p.start + lo as u32,
                        len: (hi - lo) as u32,
                        offset: 0,
                    });
                    out.len = hi - lo;
                }
                return Ok(out);
            }
        }
        let mut out = LazyVec::new();
        for p in self.pieces.iter() {
            let (a, b) = (p.offset.max(lo), (p.offset + p.len as usize).min(hi));
            if a < b {
                out.push_run(p.fam, p.start + (a - p.offset) as u32, (b - a) as u32);
            }
        }
        Ok(out)
    }

    /// `v.chunks(k)` in `graph!`: consecutive pieces of `k` elements (the
    /// last may be shorter), each a vector of lazy values.
    ///
    /// # Panics
    /// If `k` is 0, as [`slice::chunks`] does.
    pub fn chunks(
        &self,
        k: usize,
    ) -> impl ExactSizeIterator<Item = LazyVec<'g, T>> + DoubleEndedIterator + '_ {
        assert!(k != 0, "chunk size must be non-zero");
        let n = self.len.div_ceil(k);
        (0..n)
            .map(move |c| {
                let (lo, hi) = (c * k, ((c + 1) * k).min(self.len));
                let mut out = LazyVec::new();
                for p in self.pieces.iter() {
                    let (a, b) = (p.offset.max(lo), (p.offset + p.len as usize).min(hi));
                    if a < b {
                        out.push_run(p.fam, p.start + (a - p.offset) as u32, (b - a) as u32);
                    }
                }
                out
            })
            .collect_len(n)
    }

    /// `v.windows(k)` in `graph!`: every run of `k` consecutive elements,
    /// each a vector of lazy values (none if `k` is more than the length).
    ///
    /// # Panics
    /// If `k` is 0, as [`slice::windows`] does.
    pub fn windows(
        &self,
        k: usize,
    ) -> impl ExactSizeIterator<Item = LazyVec<'g, T>> + DoubleEndedIterator + '_ {
        assert!(k != 0, "window size must be non-zero");
        let n = (self.len + 1).saturating_sub(k);
        (0..n)
            .map(move |w| {
                let mut out = LazyVec::new();
                for p in self.pieces.iter() {
                    let (a, b) = (p.offset.max(w), (p.offset + p.len as usize).min(w + k));
                    if a < b {
                        out.push_run(p.fam, p.start + (a - p.offset) as u32, (b - a) as u32);
                    }
                }
                out
            })
            .collect_len(n)
    }

    #[cold]
    fn out_of_range(&self, index: usize, vector: &'static str, at: &'static str) -> crate::Error {
        crate::Error::IndexOutOfRange {
            vector,
            index,
            len: self.len,
            at,
        }
    }

    pub(crate) fn pieces(&self) -> &[Piece] {
        &self.pieces
    }
}

impl<'g, T> FromIterator<Lazy<'g, T>> for LazyVec<'g, T> {
    fn from_iter<I: IntoIterator<Item = Lazy<'g, T>>>(iter: I) -> Self {
        let mut v = LazyVec::new();
        for x in iter {
            v.push(x);
        }
        v
    }
}

/// `rows[r]` in `graph!` on a vector of vectors of lazy values: row `r`, or
/// [`Error::IndexOutOfRange`] naming the vector `name` and the place `at`.
///
/// [`Error::IndexOutOfRange`]: crate::Error::IndexOutOfRange
#[inline]
pub fn row<'a, 'g, T>(
    rows: &'a [LazyVec<'g, T>],
    r: usize,
    name: &'static str,
    at: &'static str,
) -> Result<&'a LazyVec<'g, T>, crate::Error> {
    rows.get(r).ok_or(crate::Error::IndexOutOfRange {
        vector: name,
        index: r,
        len: rows.len(),
        at,
    })
}

/// `rows[r][c] = x;` in `graph!`: row `r` to update, as [`row`].
#[inline]
pub fn row_mut<'a, 'g, T>(
    rows: &'a mut [LazyVec<'g, T>],
    r: usize,
    name: &'static str,
    at: &'static str,
) -> Result<&'a mut LazyVec<'g, T>, crate::Error> {
    let len = rows.len();
    rows.get_mut(r).ok_or(crate::Error::IndexOutOfRange {
        vector: name,
        index: r,
        len,
        at,
    })
}

/// An iterator whose length is known up front.
pub(crate) struct WithLen<I> {
    inner: I,
    left: usize,
}

impl<I: Iterator> Iterator for WithLen<I> {
    type Item = I::Item;
    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        let x = self.inner.next();
        if x.is_some() {
            self.left -= 1;
        }
        x
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}
impl<I: Iterator> ExactSizeIterator for WithLen<I> {}
impl<I: DoubleEndedIterator> DoubleEndedIterator for WithLen<I> {
    #[inline]
    fn next_back(&mut self) -> Option<I::Item> {
        let x = self.inner.next_back();
        if x.is_some() {
            self.left -= 1;
        }
        x
    }
}

trait CollectLen: Iterator + Sized {
    fn collect_len(self, left: usize) -> WithLen<Self> {
        WithLen { inner: self, left }
    }
}
impl<I: Iterator> CollectLen for I {}

/// What one entry of the family table of `graph!` holds: its value type
/// (read by a cluster's part runs, `../part.rs`).
#[doc(hidden)]
pub trait ValueOf {
    /// The family's value type.
    type Value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_in_order_make_one_piece() {
        let mut v: LazyVec<'_, u8> = LazyVec::new();
        for i in 0..10 {
            v.push(Lazy::new(NodeId::new(3, i)));
        }
        v.push(Lazy::new(NodeId::new(4, 0)));
        v.push(Lazy::new(NodeId::new(3, 20)));
        assert_eq!(v.pieces().len(), 3);
        assert_eq!(v.len(), 12);
        assert_eq!(v.get(9).unwrap().id, NodeId::new(3, 9));
        assert_eq!(v.get(10).unwrap().id, NodeId::new(4, 0));
        assert_eq!(v.get(11).unwrap().id, NodeId::new(3, 20));
        assert!(v.get(12).is_none());
        let ids: Vec<_> = v.iter().map(|l| l.id.idx).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 20]);
        assert_eq!(v.iter().len(), 12);
        let s = v.slice(8..11, "v", "here").unwrap();
        let ids: Vec<_> = s.iter().map(|l| (l.id.fam, l.id.idx)).collect();
        assert_eq!(ids, [(3, 8), (3, 9), (4, 0)]);
        assert_eq!(v.slice(.., "v", "here").unwrap().len(), 12);
        assert!(v.slice(3..13, "v", "here").is_err());
        let lens: Vec<_> = v.chunks(5).map(|c| c.len()).collect();
        assert_eq!(lens, [5, 5, 2]);
        let ids: Vec<_> = v
            .chunks(5)
            .nth(1)
            .unwrap()
            .iter()
            .map(|l| l.id.idx)
            .collect();
        assert_eq!(ids, [5, 6, 7, 8, 9]);
        let windows: Vec<Vec<_>> = v
            .windows(3)
            .map(|w| w.iter().map(|l| (l.id.fam, l.id.idx)).collect())
            .collect();
        assert_eq!(windows.len(), 10);
        assert_eq!(windows[8], [(3, 8), (3, 9), (4, 0)]);
        assert_eq!(windows[9], [(3, 9), (4, 0), (3, 20)]);
        assert_eq!(v.windows(13).len(), 0);
        let back: Vec<_> = v.iter().rev().map(|l| l.id.idx).collect();
        assert_eq!(back, [20, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        let mut w = v.clone();
        w.set(5, Lazy::new(NodeId::new(7, 1)), "w", "here").unwrap();
        w.set(0, Lazy::new(NodeId::new(7, 2)), "w", "here").unwrap();
        w.set(11, Lazy::new(NodeId::new(7, 3)), "w", "here")
            .unwrap();
        w.set(6, Lazy::new(NodeId::new(3, 6)), "w", "here").unwrap();
        let ids: Vec<_> = w.iter().map(|l| (l.id.fam, l.id.idx)).collect();
        let mut want: Vec<_> = v.iter().map(|l| (l.id.fam, l.id.idx)).collect();
        (want[5], want[0], want[11]) = ((7, 1), (7, 2), (7, 3));
        assert_eq!(ids, want);
        assert_eq!(w.len(), 12);
        assert_eq!(w.get(5).unwrap().id, NodeId::new(7, 1));
        assert_eq!(w.get(11).unwrap().id, NodeId::new(7, 3));
        assert!(w
            .set(12, Lazy::new(NodeId::new(7, 4)), "w", "here")
            .is_err());
        // Updates in order with consecutive nodes rejoin into one run.
        let mut u: LazyVec<'_, u8> = (0..10).map(|i| Lazy::new(NodeId::new(1, i))).collect();
        for i in 1..10 {
            u.set(i, Lazy::new(NodeId::new(2, 100 + i as u32)), "u", "here")
                .unwrap();
        }
        assert_eq!(u.pieces().len(), 2);
        assert_eq!(u.pieces()[1].offset, 1);
        let ids: Vec<_> = u.iter().map(|l| (l.id.fam, l.id.idx)).collect();
        let want: Vec<_> = std::iter::once((1, 0))
            .chain((1..10).map(|i| (2, 100 + i)))
            .collect();
        assert_eq!(ids, want);
        assert!(matches!(
            v.at(12, "v", "f.rs:1:2"),
            Err(crate::Error::IndexOutOfRange {
                index: 12,
                len: 12,
                ..
            })
        ));
    }

    #[test]
    fn a_few_runs_stay_inline_and_more_spill() {
        let mut v: LazyVec<'_, u8> = LazyVec::new();
        assert!(v.pieces().is_empty());
        v.push_run(2, 5, 4);
        v.push(Lazy::new(NodeId::new(2, 9)));
        // One run: inline, no allocation.
        assert!(matches!(v.pieces, Pieces::Inline(Inline { n: 1, .. })));
        assert_eq!(
            v.pieces(),
            [Piece {
                fam: 2,
                start: 5,
                len: 5,
                offset: 0
            }]
        );
        let s = v.slice(1..3, "v", "here").unwrap();
        assert!(matches!(s.pieces, Pieces::Inline(Inline { n: 1, .. })));
        assert_eq!(
            s.pieces(),
            [Piece {
                fam: 2,
                start: 6,
                len: 2,
                offset: 0
            }]
        );
        // Three runs stay inline (a gather of three scattered values).
        v.push(Lazy::new(NodeId::new(7, 0)));
        v.push(Lazy::new(NodeId::new(2, 0)));
        assert!(matches!(v.pieces, Pieces::Inline(Inline { n: 3, .. })));
        assert_eq!(
            v.pieces(),
            [
                Piece {
                    fam: 2,
                    start: 5,
                    len: 5,
                    offset: 0
                },
                Piece {
                    fam: 7,
                    start: 0,
                    len: 1,
                    offset: 5
                },
                Piece {
                    fam: 2,
                    start: 0,
                    len: 1,
                    offset: 6
                },
            ]
        );
        // The last piece still grows in place.
        v.push(Lazy::new(NodeId::new(2, 1)));
        assert_eq!(v.pieces().len(), 3);
        let ids: Vec<_> = v.clone().iter().map(|l| (l.id.fam, l.id.idx)).collect();
        assert_eq!(
            ids,
            [
                (2, 5),
                (2, 6),
                (2, 7),
                (2, 8),
                (2, 9),
                (7, 0),
                (2, 0),
                (2, 1)
            ]
        );
        assert_eq!(v.get(6).unwrap().id, NodeId::new(2, 0));
        // A fourth run spills every piece into a `Vec`, in order.
        v.push(Lazy::new(NodeId::new(9, 4)));
        assert!(matches!(&v.pieces, Pieces::Heap(h) if h.len() == 4));
        assert_eq!(
            v.pieces()[3],
            Piece {
                fam: 9,
                start: 4,
                len: 1,
                offset: 8
            }
        );
        assert_eq!(v.get(2).unwrap().id, NodeId::new(2, 7));
        assert_eq!(v.get(7).unwrap().id, NodeId::new(2, 1));
        assert_eq!(v.get(8).unwrap().id, NodeId::new(9, 4));
        // Replacing an element in the middle of an inline vector.
        let mut u: LazyVec<'_, u8> = LazyVec::new();
        u.push_run(1, 0, 3);
        u.set(1, Lazy::new(NodeId::new(4, 4)), "u", "here").unwrap();
        let ids: Vec<_> = u.iter().map(|l| (l.id.fam, l.id.idx)).collect();
        assert_eq!(ids, [(1, 0), (4, 4), (1, 2)]);
    }
}
