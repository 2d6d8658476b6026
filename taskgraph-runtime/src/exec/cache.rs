//! Storage a run needs beyond its families' records, kept by the `Runtime`
//! between computes: the topology's `u32` buffers, its buffers of atomic
//! counters, and its rules, the raw
//! buffers that hold the nodes' output cells, and the chunk that holds the
//! families themselves (`kept.rs`). A repeated compute of a graph
//! of the same size takes the same buffers back, so it neither allocates nor
//! touches fresh pages.
//!
//! The cache is bounded: buffers beyond [`Cache::limit`] bytes are freed.

use std::alloc::{alloc, dealloc, Layout};
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::Mutex;

use crate::error::Error;
use crate::exec::rule::Rule;
use crate::sync::AtomicU32;

/// A raw allocation for `n` cells of some `T`, owned by whoever holds it
/// and freed when dropped (it never drops what the cells hold).
pub(crate) struct RawBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        if self.layout.size() > 0 {
            // SAFETY: allocated by `alloc` with this layout (size > 0).
            unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
        }
    }
}

// SAFETY: a `RawBuf` is plain memory; what is stored in it is accessed under
// the rules of its holder (the family's slot protocol).
unsafe impl Send for RawBuf {}
// SAFETY: as above; sharing the address gives no access by itself.
unsafe impl Sync for RawBuf {}

impl RawBuf {
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// A new buffer for `n > 0` cells of `T`, not from a cache; `None` if
    /// the memory cannot be had.
    pub(crate) fn new<T>(n: usize) -> Option<RawBuf> {
        let layout = Layout::array::<MaybeUninit<T>>(n).ok()?;
        if layout.size() == 0 {
            return None;
        }
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc(layout) })?;
        Some(RawBuf { ptr, layout })
    }
}

#[derive(Default)]
struct Inner {
    words: Vec<Vec<u32>>,
    atomics: Vec<Vec<AtomicU32>>,
    rules: Vec<Vec<Rule>>,
    raw: Vec<RawBuf>,
    bytes: usize,
}

/// The smallest cached buffer of `list` with room for `n` elements, taken
/// out of the cache.
fn take_fit<T>(
    c: &mut Inner,
    list: impl FnOnce(&mut Inner) -> &mut Vec<Vec<T>>,
    n: usize,
) -> Option<Vec<T>> {
    let l = list(c);
    let best = l
        .iter()
        .enumerate()
        .filter(|(_, v)| v.capacity() >= n)
        .min_by_key(|(_, v)| v.capacity())
        .map(|(i, _)| i)?;
    let v = l.swap_remove(best);
    c.bytes -= v.capacity() * std::mem::size_of::<T>();
    Some(v)
}

/// An empty vector with room for `n` elements, newly allocated (called
/// while a graph is built: [`Error::OutOfMemory`] if it cannot be had).
fn fresh<T>(n: usize) -> Result<Vec<T>, Error> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory {
        bytes: n.saturating_mul(std::mem::size_of::<T>()),
    })?;
    Ok(v)
}

/// The runtime's cache of run storage (used by generated code only through
/// the families it hands buffers to).
pub struct Cache {
    inner: Mutex<Inner>,
    limit: usize,
}

impl Cache {
    pub(crate) fn new(limit: usize) -> Self {
        Cache {
            inner: Mutex::new(Inner::default()),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty vector with room for `n` words.
    pub(crate) fn take_words(&self, n: usize) -> Result<Vec<u32>, Error> {
        let mut c = self.lock();
        let v = take_fit(&mut c, |c| &mut c.words, n);
        drop(c);
        v.map_or_else(|| fresh(n), Ok)
    }

    pub(crate) fn give_words(&self, v: Vec<u32>) {
        self.give_fit(v, |c| &mut c.words);
    }

    /// An empty vector with room for `n` atomic counters (the topology's
    /// counters: shared by the threads of a run, so atomics in their type).
    pub(crate) fn take_atomics(&self, n: usize) -> Result<Vec<AtomicU32>, Error> {
        let mut c = self.lock();
        let v = take_fit(&mut c, |c| &mut c.atomics, n);
        drop(c);
        v.map_or_else(|| fresh(n), Ok)
    }

    pub(crate) fn give_atomics(&self, v: Vec<AtomicU32>) {
        self.give_fit(v, |c| &mut c.atomics);
    }

    fn give_fit<T>(&self, mut v: Vec<T>, list: impl FnOnce(&mut Inner) -> &mut Vec<Vec<T>>) {
        v.clear();
        let b = v.capacity() * std::mem::size_of::<T>();
        let mut c = self.lock();
        if b > 0 && c.bytes + b <= self.limit {
            c.bytes += b;
            list(&mut c).push(v);
        }
    }

    pub(crate) fn take_rules(&self) -> Vec<Rule> {
        let mut c = self.lock();
        match c.rules.pop() {
            Some(v) => {
                c.bytes -= v.capacity() * std::mem::size_of::<Rule>();
                v
            }
            None => Vec::new(),
        }
    }

    pub(crate) fn give_rules(&self, mut v: Vec<Rule>) {
        v.clear();
        let b = v.capacity() * std::mem::size_of::<Rule>();
        let mut c = self.lock();
        if b > 0 && c.bytes + b <= self.limit {
            c.bytes += b;
            c.rules.push(v);
        }
    }

    /// A buffer for `n` uninitialised cells of `T`.
    ///
    /// Called only while a graph is built: if the memory cannot be had,
    /// [`Error::OutOfMemory`], which stops building the graph.
    pub(crate) fn take_raw<T>(&self, n: usize) -> Result<RawBuf, Error> {
        let Ok(layout) = Layout::array::<MaybeUninit<T>>(n) else {
            return Err(Error::OutOfMemory {
                bytes: n.saturating_mul(std::mem::size_of::<T>()),
            });
        };
        if layout.size() == 0 {
            return Ok(RawBuf {
                ptr: NonNull::<MaybeUninit<T>>::dangling().cast(),
                layout,
            });
        }
        let mut c = self.lock();
        let best = c
            .raw
            .iter()
            .enumerate()
            .filter(|(_, b)| b.layout.align() == layout.align() && b.layout.size() >= layout.size())
            .min_by_key(|(_, b)| b.layout.size())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let b = c.raw.swap_remove(i);
            c.bytes -= b.layout.size();
            return Ok(b);
        }
        drop(c);
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc(layout) };
        match NonNull::new(p) {
            Some(ptr) => Ok(RawBuf { ptr, layout }),
            None => Err(Error::OutOfMemory {
                bytes: layout.size(),
            }),
        }
    }

    /// How many buffers from [`Cache::take_raw`] the cache holds.
    #[cfg(test)]
    pub(crate) fn raw_held(&self) -> usize {
        self.lock().raw.len()
    }

    /// Gives back a buffer from [`Cache::take_raw`]; its cells hold no live
    /// value.
    pub(crate) fn give_raw(&self, b: RawBuf) {
        if b.layout.size() == 0 {
            return;
        }
        let mut c = self.lock();
        if c.bytes + b.layout.size() <= self.limit {
            c.bytes += b.layout.size();
            c.raw.push(b);
        } else {
            drop(c);
            drop(b);
        }
    }
}
