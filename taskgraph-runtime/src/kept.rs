//! What a `Scope` owns for its graph's body: the families, fused loops and
//! elements it makes, which the body reaches through `&mut` references, and
//! each fused loop's iterations (its kind), which the loop reaches through a
//! reference (`Loop::set`).
//!
//! The body then has nothing of theirs to drop: not at its end, not on the
//! path that unwinds from each call it makes, not in its future's drop.
//! (Before LLVM, a graph's body of 10 call sites is a quarter smaller, with
//! 34 landing pads instead of 55, and its future's drop a third of its
//! size: `benches/README.md`, "Compile time".)
//!
//! They live in one chunk of memory, taken from the runtime's storage cache
//! when the graph runs on a runtime and given back after, so a repeated
//! compute allocates nothing for them; a value that does not fit in the
//! chunk (or needs a larger alignment) is boxed. Each value has a header in
//! front of it, and the headers form a list, last made first: the order in
//! which they are dropped.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::Cell;
use std::mem::{align_of, size_of};
use std::ptr;

use crate::exec::cache::{Cache, RawBuf};

/// The chunk's size in 16-byte cells: room for the families of most graphs
/// (a family takes about 200 bytes).
const CELLS: usize = 256;

/// The chunk's cells: their alignment is the most a value placed in the
/// chunk may need.
type ChunkCell = u128;

/// In front of each value: the one made before it, how to drop it, and
/// whether it is boxed (the layout to free).
struct Header {
    prev: *mut Header,
    /// Drops the value behind this header.
    drop: unsafe fn(*mut Header),
    /// The entry's layout if it is on the heap, not in the chunk.
    heap: Option<Layout>,
}

/// A value with its header in front.
#[repr(C)]
struct Entry<T> {
    head: Header,
    value: T,
}

/// Values owned until this is dropped (see the module's docs).
pub(crate) struct Kept<'c> {
    /// Where the chunk comes from and goes back to, if anywhere.
    cache: Option<&'c Cache>,
    /// The chunk, once a value has needed it.
    chunk: Cell<Option<ptr::NonNull<u8>>>,
    /// The chunk as the cache handed it out (given back on drop).
    buf: Cell<Option<RawBuf>>,
    /// Bytes of the chunk in use.
    used: Cell<usize>,
    /// The last value's header.
    last: Cell<*mut Header>,
}

// SAFETY: `Kept` owns values of `Send` types only (`keep`'s bound), and its
// chunk, which is plain memory; it reaches them by raw pointer only when it
// drops them. The `&mut` references `keep` lends are checked by the
// compiler as any other.
unsafe impl Send for Kept<'_> {}

impl<'c> Kept<'c> {
    /// Nothing kept yet; the chunk, when needed, comes from `cache`.
    pub(crate) fn new(cache: Option<&'c Cache>) -> Self {
        Kept {
            cache,
            chunk: Cell::new(None),
            buf: Cell::new(None),
            used: Cell::new(0),
            last: Cell::new(ptr::null_mut()),
        }
    }

    /// Moves `v` into storage owned until `self` is dropped, and lends it
    /// for as long as `self` is borrowed. (Only the move and the drop are
    /// compiled once per type.)
    #[inline(always)]
    #[allow(clippy::mut_from_ref)] // Each call lends a value of its own.
    pub(crate) fn keep<T: Send>(&self, v: T) -> &mut T {
        /// Drops the value of the entry behind `h`.
        ///
        /// # Safety
        /// `h` heads a live `Entry<T>`, whose value is dropped once.
        unsafe fn drop_value<T>(h: *mut Header) {
            // SAFETY: as the caller promises.
            unsafe { ptr::drop_in_place(&raw mut (*h.cast::<Entry<T>>()).value) }
        }
        let e = self
            .place(Layout::new::<Entry<T>>(), drop_value::<T>)
            .cast::<Entry<T>>();
        // SAFETY: `place` gave room for an `Entry<T>` at `e`, its header
        // written; the value, written here, is owned by `self` until it is
        // dropped, which the borrow of `self` this reference lives for
        // cannot outlast; no other reference to it is made.
        unsafe {
            let p = &raw mut (*e).value;
            p.write(v);
            &mut *p
        }
    }

    /// Room for an entry of `layout`, in the chunk if it fits there, else
    /// on the heap, with its header written (dropped by `drop`) and put at
    /// the list's head (out of line: compiled once, not once per type).
    /// Aborts if there is no memory for it.
    #[inline(never)]
    fn place(&self, layout: Layout, drop: unsafe fn(*mut Header)) -> *mut Header {
        let mut at = match layout.align() <= align_of::<ChunkCell>() {
            true => self.room(layout),
            false => ptr::null_mut(),
        };
        let mut heap = None;
        if at.is_null() {
            // SAFETY: an entry has a non-zero size (its header).
            at = unsafe { alloc(layout) };
            if at.is_null() {
                handle_alloc_error(layout);
            }
            heap = Some(layout);
        }
        let h = at.cast::<Header>();
        let prev = self.last.replace(h);
        // SAFETY: `at` has room for the entry, aligned for it and so for its
        // header (its first field).
        unsafe { h.write(Header { prev, drop, heap }) };
        h
    }

    /// `layout.size()` unused bytes of the chunk aligned to `layout.align()`
    /// (at most the chunk's), marked used; null if they do not fit or the
    /// chunk cannot be had.
    fn room(&self, layout: Layout) -> *mut u8 {
        let base = match self.chunk.get() {
            Some(p) => p,
            None => {
                let buf = match self.cache {
                    Some(c) => c.take_raw::<ChunkCell>(CELLS).ok(),
                    None => RawBuf::new::<ChunkCell>(CELLS),
                };
                let Some(buf) = buf else {
                    return ptr::null_mut();
                };
                let Some(p) = ptr::NonNull::new(buf.ptr()) else {
                    return ptr::null_mut();
                };
                self.buf.set(Some(buf));
                self.chunk.set(Some(p));
                p
            }
        };
        let start = self.used.get().next_multiple_of(layout.align());
        match start.checked_add(layout.size()) {
            Some(end) if end <= CELLS * size_of::<ChunkCell>() => {
                self.used.set(end);
                // SAFETY: `start < end <=` the chunk's size.
                unsafe { base.as_ptr().add(start) }
            }
            _ => ptr::null_mut(),
        }
    }
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        /// Gives the chunk back to the cache once the values are dropped,
        /// also when one of their drops panics.
        struct GiveBack<'k, 'c>(&'k Kept<'c>);
        impl Drop for GiveBack<'_, '_> {
            fn drop(&mut self) {
                if let (Some(buf), Some(cache)) = (self.0.buf.take(), self.0.cache) {
                    cache.give_raw(buf);
                }
            }
        }
        let back = GiveBack(self);
        // SAFETY: every header in the list heads a live entry whose header
        // `place` wrote; each is dropped once, the list being walked once;
        // their loans ended with the borrow of `self`. `drop_all` drops them
        // all before it returns or its unwinding leaves it, so the chunk
        // holds no live value when `back` gives it to the cache.
        unsafe { drop_all(back.0.last.replace(ptr::null_mut()), None) };
    }
}

/// Frees the heap entry `free` (its value already dropped), if any, then
/// drops (and frees) the entries of the list from `h` on. If a drop panics,
/// the rest are dropped still, while it unwinds (as a body's own locals
/// would be).
///
/// # Safety
/// `free` is an entry `place` allocated on the heap, whose value has been
/// dropped; each header of the list heads a live entry, dropped once.
unsafe fn drop_all(mut h: *mut Header, free: Option<(*mut Header, Layout)>) {
    /// On unwinding, frees the entry whose value's drop panicked and drops
    /// the entries left.
    struct Rest(*mut Header, Option<(*mut Header, Layout)>);
    impl Drop for Rest {
        fn drop(&mut self) {
            // SAFETY: as `drop_all`'s caller promised.
            unsafe { drop_all(self.0, self.1) }
        }
    }
    if let Some((p, layout)) = free {
        // SAFETY: allocated by `place` with this layout (the caller's promise).
        unsafe { dealloc(p.cast(), layout) };
    }
    while !h.is_null() {
        // SAFETY: `h` heads a live entry (the caller's promise).
        let Header { prev, drop, heap } = unsafe { ptr::read(h) };
        let rest = Rest(prev, heap.map(|l| (h, l)));
        // SAFETY: as above; this is its value's one drop.
        unsafe { drop(h) };
        std::mem::forget(rest);
        if let Some(layout) = heap {
            // SAFETY: `place` allocated it with this layout; its value is
            // dropped.
            unsafe { dealloc(h.cast(), layout) };
        }
        h = prev;
    }
}

#[cfg(test)]
mod tests {
    use super::{Kept, CELLS};
    use crate::exec::cache::Cache;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::{Arc, Mutex};

    /// Records its number when dropped; panics there if told to.
    struct Noted(u32, Arc<Mutex<Vec<u32>>>, bool);

    impl Drop for Noted {
        fn drop(&mut self) {
            self.1.lock().unwrap().push(self.0);
            if self.2 {
                panic!("drop of {}", self.0);
            }
        }
    }

    /// A value larger than the chunk, and one aligned beyond it: boxed.
    #[repr(align(64))]
    struct Wide(u8);

    /// What is kept is lent mutably, and dropped with the keeper, last made
    /// first, whether it lies in the chunk or is boxed; a drop that panics
    /// leaves the others dropped still; the chunk goes back to the cache,
    /// after a panicking drop too.
    #[test]
    fn kept_values_drop_last_made_first_even_after_a_panic() {
        let cache = Cache::new(1 << 20);
        for (cached, panics) in [(true, false), (true, true), (false, false)] {
            let log = Arc::new(Mutex::new(Vec::new()));
            let kept = Kept::new(cached.then_some(&cache));
            for k in 0..4 {
                let v = kept.keep(Noted(10, log.clone(), k == 1 && panics));
                v.0 = k;
                if k == 1 {
                    let big = kept.keep([7u8; CELLS * 16 + 1]);
                    big[CELLS * 16] = 8;
                    assert_eq!(big[CELLS * 16], 8);
                    let wide = kept.keep(Wide(3));
                    assert_eq!((std::ptr::from_mut(wide) as usize % 64, wide.0), (0, 3));
                }
            }
            let r = catch_unwind(AssertUnwindSafe(|| drop(kept)));
            assert_eq!(r.is_err(), panics);
            assert_eq!(*log.lock().unwrap(), [3, 2, 1, 0]);
            // The chunk is back in the cache, after a panicking drop too.
            assert_eq!(cache.raw_held(), 1);
        }
        // The chunk came back: the next keeper takes it again.
        let kept = Kept::new(Some(&cache));
        let first = std::ptr::from_mut(kept.keep(1u64)) as usize;
        drop(kept);
        let kept = Kept::new(Some(&cache));
        assert_eq!(std::ptr::from_mut(kept.keep(2u64)) as usize, first);
    }
}
