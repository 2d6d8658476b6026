//! The synchronisation primitives of the runtime's own protocols, from `std`
//! or, under `--cfg loom`, from loom so the model checker can explore every
//! interleaving (as tokio and crossbeam do).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Calls `f` with the value of an atomic held exclusively (`get_mut`, which
/// loom's atomics offer as `with_mut`): for counters set up before a run,
/// when no other thread can see them, as plain memory operations.
#[inline(always)]
pub(crate) fn with_mut<R>(a: &mut AtomicU32, f: impl FnOnce(&mut u32) -> R) -> R {
    #[cfg(not(loom))]
    {
        f(a.get_mut())
    }
    #[cfg(loom)]
    {
        a.with_mut(f)
    }
}
