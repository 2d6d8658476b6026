//! Fused execution: when a whole graph is one loop of independent iterations
//! (each a chain of tasks) feeding `tree_reduce`, a gathering task or the
//! output — or one loop-carried chain — the macro emits it as plain loops over
//! the iterations, with no node records, counters or queues. The iterations
//! are split lazily over the pool: a range forks (`rayon::join`) only while
//! the split budget lasts or when another thread has taken this thread's
//! offered work, so light tasks cost about a function call and heavy tasks
//! still spread over every thread.
//!
//! Every split happens at a power-of-two boundary, so a reduction combines
//! exactly the pairs the node-by-node `tree_reduce` would (the same result for
//! floating point too), and outputs stay in iteration order.

use std::any::Any;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::family::{FamilyInfo, LoopIndex, Scope};

/// The payload used to unwind the other iterations once a task failed.
struct Stopped;

/// Shared state of one fused run: the first failure, and the stop flag.
pub struct Fused {
    threads: usize,
    stop: AtomicBool,
    failure: Mutex<Option<Error>>,
}

impl Fused {
    /// Runs one task: `f` is the call of the `#[delayed]` function. A panic
    /// is recorded with the task's function, call site and loop indices, and
    /// stops the run.
    #[inline(always)]
    pub fn call<R, L: LoopIndex>(
        &self,
        info: &'static FamilyInfo,
        at: L,
        f: impl FnOnce() -> R,
    ) -> R {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(payload) => self.fail(info, at.as_slice(), payload),
        }
    }

    #[cold]
    #[inline(never)]
    fn fail(&self, info: &'static FamilyInfo, at: &[u32], payload: Box<dyn Any + Send>) -> ! {
        if !payload.is::<Stopped>() {
            let message = crate::exec::panic_message(&*payload);
            let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if f.is_none() {
                *f = Some(Error::TaskPanicked {
                    task: info.task(at),
                    message,
                });
            }
            drop(f);
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        }
        self.stop.store(true, Ordering::Relaxed);
        resume_unwind(Box::new(Stopped))
    }

    #[inline(always)]
    fn check(&self) {
        if self.stop.load(Ordering::Relaxed) {
            stopped();
        }
    }

    /// `n` iterations, in order, as a `Vec` (one allocation).
    pub fn map<T: Send>(&self, n: usize, leaf: impl Fn(usize) -> T + Sync) -> Vec<T> {
        let user_leaf = &leaf;
        let mut out: Vec<T> = Vec::with_capacity(n);
        if n > 0 {
            let base = SendPtr(out.spare_capacity_mut().as_mut_ptr());
            let leaf = |k: usize| {
                let v = user_leaf(k);
                // SAFETY: `k < n` indexes the spare capacity, and every
                // index is written exactly once (the ranges are disjoint).
                unsafe { (*base.0.add(k)).write(v) };
                Written {
                    base,
                    lo: k,
                    hi: k + 1,
                    _t: PhantomData,
                }
            };
            let merge = |mut a: Written<T>, b: Written<T>, _: u32, _: u32| {
                debug_assert_eq!(a.hi, b.lo);
                a.hi = b.hi;
                std::mem::forget(b);
                a
            };
            // A small block is a plain loop over its elements, with one guard
            // that owns those written so far if a task panics.
            let block = |lo: usize, hi: usize, _: usize| {
                let mut done = Written {
                    base,
                    lo,
                    hi: lo,
                    _t: PhantomData,
                };
                for k in lo..hi {
                    let v = user_leaf(k);
                    // SAFETY: as in `leaf`.
                    unsafe { (*base.0.add(k)).write(v) };
                    done.hi = k + 1;
                }
                done
            };
            let all = self.drive(0, n, n.next_power_of_two(), &leaf, &merge, &block);
            debug_assert_eq!((all.lo, all.hi), (0, n));
            std::mem::forget(all);
            // SAFETY: all `n` elements were written (the guard covered 0..n).
            unsafe { out.set_len(n) };
        }
        out
    }

    /// Reduces `n >= 1` iterations in the pairwise tree of `tree_reduce`:
    /// `combine(a, b, level, position)`.
    pub fn reduce<T: Send>(
        &self,
        n: usize,
        leaf: impl Fn(usize) -> T + Sync,
        combine: impl Fn(T, T, u32, u32) -> T + Sync,
    ) -> T {
        assert!(
            n > 0,
            "taskgraph internal error: fused reduction of nothing"
        );
        let block = |lo: usize, hi: usize, size: usize| small(lo, hi, size, &leaf, &combine);
        self.drive(0, n, n.next_power_of_two(), &leaf, &combine, &block)
    }

    fn drive<R: Send>(
        &self,
        lo: usize,
        hi: usize,
        size: usize,
        leaf: &(impl Fn(usize) -> R + Sync),
        merge: &(impl Fn(R, R, u32, u32) -> R + Sync),
        block: &(impl Fn(usize, usize, usize) -> R + Sync),
    ) -> R {
        // One thread: nobody to share with, so never fork (and never need
        // to be on a pool thread, see `Scope::fused`).
        let split = Split {
            budget: if self.threads > 1 { self.threads } else { 0 },
            threads: self.threads,
        };
        self.node(
            lo,
            hi,
            size,
            split,
            false,
            &mut Probe::new(),
            leaf,
            merge,
            block,
        )
    }

    /// The subtree `[lo, hi)` of an aligned block of `size` leaves.
    #[allow(clippy::too_many_arguments)]
    fn node<R: Send>(
        &self,
        lo: usize,
        hi: usize,
        size: usize,
        mut split: Split,
        migrated: bool,
        probe: &mut Probe,
        leaf: &(impl Fn(usize) -> R + Sync),
        merge: &(impl Fn(R, R, u32, u32) -> R + Sync),
        block: &(impl Fn(usize, usize, usize) -> R + Sync),
    ) -> R {
        if hi - lo == 1 {
            self.check();
            return leaf(lo);
        }
        if size <= SMALL && split.budget == 0 && !migrated && (self.threads == 1 || probe.light()) {
            // A small aligned block of light tasks that nobody is waiting
            // for: straight-line code.
            self.check();
            return block(lo, hi, size);
        }
        let half = size / 2;
        let mid = lo + half;
        if hi <= mid {
            return self.node(lo, hi, half, split, migrated, probe, leaf, merge, block);
        }
        let level = size.trailing_zeros() - 1;
        let pos = (lo / size) as u32;
        if split.try_split(migrated) || (self.threads > 1 && probe.should_fork()) {
            // The halves keep what the probe learnt about the work's weight.
            let (pa, pb) = (probe.child(), probe.child());
            let (a, b) = rayon::join_context(
                |c| {
                    self.node(
                        lo,
                        mid,
                        half,
                        split,
                        c.migrated(),
                        &mut { pa },
                        leaf,
                        merge,
                        block,
                    )
                },
                |c| {
                    self.node(
                        mid,
                        hi,
                        half,
                        split,
                        c.migrated(),
                        &mut { pb },
                        leaf,
                        merge,
                        block,
                    )
                },
            );
            merge(a, b, level, pos)
        } else {
            let a = self.node(lo, mid, half, split, false, probe, leaf, merge, block);
            let b = self.node(mid, hi, half, split, false, probe, leaf, merge, block);
            merge(a, b, level, pos)
        }
    }
}

/// Blocks of at most this many leaves run without recursion or split checks.
const SMALL: usize = 16;

/// The aligned block `[lo, hi)` of `size <= SMALL` leaves, in the same tree.
#[inline(always)]
fn small<R>(
    lo: usize,
    hi: usize,
    size: usize,
    leaf: &impl Fn(usize) -> R,
    merge: &impl Fn(R, R, u32, u32) -> R,
) -> R {
    #[inline(always)]
    fn two<R>(
        lo: usize,
        hi: usize,
        leaf: &impl Fn(usize) -> R,
        merge: &impl Fn(R, R, u32, u32) -> R,
    ) -> R {
        if hi - lo == 1 {
            leaf(lo)
        } else {
            let a = leaf(lo);
            let b = leaf(lo + 1);
            merge(a, b, 0, (lo / 2) as u32)
        }
    }
    #[inline(always)]
    fn four<R>(
        lo: usize,
        hi: usize,
        leaf: &impl Fn(usize) -> R,
        merge: &impl Fn(R, R, u32, u32) -> R,
    ) -> R {
        if hi - lo <= 2 {
            two(lo, hi, leaf, merge)
        } else {
            let a = two(lo, lo + 2, leaf, merge);
            let b = two(lo + 2, hi, leaf, merge);
            merge(a, b, 1, (lo / 4) as u32)
        }
    }
    #[inline(always)]
    fn eight<R>(
        lo: usize,
        hi: usize,
        leaf: &impl Fn(usize) -> R,
        merge: &impl Fn(R, R, u32, u32) -> R,
    ) -> R {
        if hi - lo <= 4 {
            four(lo, hi, leaf, merge)
        } else {
            let a = four(lo, lo + 4, leaf, merge);
            let b = four(lo + 4, hi, leaf, merge);
            merge(a, b, 2, (lo / 8) as u32)
        }
    }
    match size {
        1 => leaf(lo),
        2 => two(lo, hi, leaf, merge),
        4 => four(lo, hi, leaf, merge),
        8 => eight(lo, hi, leaf, merge),
        _ => {
            debug_assert_eq!(size, SMALL);
            if hi - lo <= 8 {
                eight(lo, hi, leaf, merge)
            } else {
                let a = eight(lo, lo + 8, leaf, merge);
                let b = eight(lo + 8, hi, leaf, merge);
                merge(a, b, 3, (lo / 16) as u32)
            }
        }
    }
}

#[cold]
#[inline(never)]
fn stopped() -> ! {
    resume_unwind(Box::new(Stopped))
}

/// rayon's adaptive split budget: about one piece per thread to start, and
/// more whenever a piece was stolen (a sign that threads are hungry).
#[derive(Clone, Copy)]
struct Split {
    budget: usize,
    threads: usize,
}

impl Split {
    #[inline]
    fn try_split(&mut self, migrated: bool) -> bool {
        if migrated {
            self.budget = self.threads.max(self.budget / 2);
            true
        } else if self.budget > 0 {
            self.budget /= 2;
            true
        } else {
            false
        }
    }
}

/// Decides, while a piece runs sequentially, whether to offer half of the
/// rest to other threads: when this thread's offered work has been taken
/// (its rayon deque is empty). Light work checks rarely (the stride doubles
/// while checks come fast); heavy work checks at every node.
struct Probe {
    countdown: u32,
    stride: u32,
    last: Option<Instant>,
}

/// Below this time between checks, the stride grows.
const PROBE_FAST: Duration = Duration::from_micros(20);
const PROBE_MAX_STRIDE: u32 = 1 << 12;

impl Probe {
    fn new() -> Self {
        Probe {
            countdown: 1,
            stride: 1,
            last: None,
        }
    }

    /// A probe for one half of a fork: same stride, fresh countdown.
    fn child(&self) -> Self {
        Probe {
            countdown: self.stride,
            stride: self.stride,
            last: self.last,
        }
    }

    /// Whether recent work was light: checks kept coming fast.
    #[inline(always)]
    fn light(&self) -> bool {
        self.stride >= 64
    }

    #[inline(always)]
    fn should_fork(&mut self) -> bool {
        self.countdown -= 1;
        if self.countdown > 0 {
            return false;
        }
        self.check()
    }

    #[cold]
    fn check(&mut self) -> bool {
        let now = Instant::now();
        if let Some(last) = self.last {
            if now - last < PROBE_FAST {
                self.stride = (self.stride * 2).min(PROBE_MAX_STRIDE);
            } else {
                self.stride = 1;
            }
        }
        self.last = Some(now);
        self.countdown = self.stride;
        rayon_core::current_thread_has_pending_tasks() == Some(false)
    }
}

struct SendPtr<T>(*mut MaybeUninit<T>);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: the pointer is only used to write disjoint elements, each from the
// one thread that computes it; `T: Send` lets the values cross threads.
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above; sharing the base pointer gives no access by itself.
unsafe impl<T: Send> Sync for SendPtr<T> {}

/// Elements `lo..hi` of the output, written; dropped if the run unwinds.
struct Written<T> {
    base: SendPtr<T>,
    lo: usize,
    hi: usize,
    _t: PhantomData<T>,
}

// SAFETY: the guard owns the written elements `lo..hi` (`T: Send`).
unsafe impl<T: Send> Send for Written<T> {}

impl<T> Drop for Written<T> {
    fn drop(&mut self) {
        for k in self.lo..self.hi {
            // SAFETY: the guard covers exactly the initialised elements
            // `lo..hi`, owned by nobody else (merged guards are forgotten).
            unsafe { (*self.base.0.add(k)).assume_init_drop() };
        }
    }
}

impl<'g> Scope<'g> {
    /// Whether this runtime runs fusable graphs fused (see
    /// `RuntimeBuilder::fuse_loops`).
    pub fn fusion(&self) -> bool {
        self.runtime.fuse
    }

    /// Runs a fused graph on the pool (on the calling thread if the pool has
    /// one thread) and returns its output, or the first task failure.
    ///
    /// # Errors
    /// [`Error::TaskPanicked`] naming the first task that panicked.
    pub fn fused<R: Send>(&self, body: impl FnOnce(&Fused) -> R + Send) -> Result<R, Error> {
        // A task of a node-by-node graph running on the calling thread (not
        // a pool thread) must not wait for the pool: the pool's threads may
        // all be helping graphs that wait for this very task. It runs the
        // fused graph itself, without forking.
        let nested = self.runtime.pool.current_thread_index().is_none() && crate::exec::in_worker();
        let threads = if nested {
            1
        } else {
            self.runtime.pool.current_num_threads()
        };
        self.fused_on(threads, body)
    }

    /// Runs a fused graph that has no parallelism (a loop-carried chain) on
    /// the calling thread.
    ///
    /// # Errors
    /// As [`Scope::fused`].
    pub fn fused_sequential<R: Send>(
        &self,
        body: impl FnOnce(&Fused) -> R + Send,
    ) -> Result<R, Error> {
        self.fused_on(1, body)
    }

    fn fused_on<R: Send>(
        &self,
        threads: usize,
        body: impl FnOnce(&Fused) -> R + Send,
    ) -> Result<R, Error> {
        let fx = Fused {
            threads,
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
        };
        let run = || catch_unwind(AssertUnwindSafe(|| body(&fx)));
        // With one thread a fused run never forks, so the calling thread can
        // run it without handing it to the pool and waiting for the hand-back;
        // with more, `rayon::join` needs a pool thread.
        let r = if fx.threads == 1 {
            run()
        } else {
            self.runtime.pool.install(run)
        };
        match r {
            Ok(v) => Ok(v),
            Err(payload) => match fx.failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(e) => {
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                    Err(e)
                }
                None => resume_unwind(payload),
            },
        }
    }
}

/// A range a fused loop can split: its length, and its `k`-th element.
#[diagnostic::on_unimplemented(
    message = "a fused loop runs over an integer or `char` range, not `{Self}`",
    note = "this is a taskgraph bug if it appears: please report it"
)]
pub trait FusedRange {
    /// The loop variable's type.
    type Item;
    /// The number of iterations.
    fn fused_len(&self) -> usize;
    /// The loop variable of iteration `k < fused_len()`.
    fn fused_at(&self, k: usize) -> Self::Item;
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
    }
}
