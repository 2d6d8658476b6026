//! The result cache's hook (the `cache` feature): what a `#[delayed(cache)]`
//! function's body calls.
//!
//! The macro wraps the function's body: [`begin`] finds the cache of the
//! runtime whose task is running on this thread (none outside a runtime, or
//! on a runtime without a cache: then nothing else happens and the body
//! runs as written), the function's parameters are added to the key, and
//! [`finish`] loads the result or runs the body and stores what it returns.
//! The scheduler is not involved: a cached call is the same whether it runs
//! node by node or inside a fused loop, and costs nothing where no cache is
//! configured beyond one thread-local read.
//!
//! A key hashes the function's identity and code (module path, name, a hash
//! of its tokens, its `version`), its output type, and each parameter's type
//! and serialised value: a hash of the inputs' contents, not a chain of the
//! producers' keys, so an upstream function edited without changing its
//! output leaves its consumers' entries valid.

use std::sync::Arc;

use taskgraph_cache::{Cache, KeyHasher};

use crate::exec::registry::WorkerCtx;
use crate::observe;

pub use taskgraph_cache::serde::{de::DeserializeOwned, Serialize};

/// The key of a cached call being built, and the cache it is for.
pub struct CallKey {
    cache: Arc<Cache>,
    key: KeyHasher,
    /// A parameter failed to serialise: the call is not cached.
    broken: bool,
}

/// The cache of the runtime running this thread's task, if it has one.
pub(crate) fn current() -> Option<Arc<Cache>> {
    WorkerCtx::current(|w| {
        let any = w?.reg.results.get()?.clone();
        any.downcast::<Cache>().ok()
    })
}

/// Starts the key of a call of the function `domain` names (its path, code
/// hash and version), if this thread runs a task of a runtime with a cache.
#[inline]
pub fn begin(domain: &'static str) -> Option<CallKey> {
    let cache = current()?;
    Some(CallKey {
        cache,
        key: KeyHasher::new(domain),
        broken: false,
    })
}

/// Adds a parameter to the key (a free function, so that the macro can
/// place an unsatisfied `Serialize` at the parameter's type).
pub fn arg<T: Serialize + ?Sized>(k: &mut CallKey, v: &T) {
    if k.key.value(v).is_err() {
        k.broken = true;
    }
}

impl CallKey {
    /// The cache and the key, for output type `T`; `None` if a parameter
    /// could not be serialised.
    fn finish<T>(mut self) -> Option<(Arc<Cache>, taskgraph_cache::Key)> {
        if self.broken {
            return None;
        }
        self.key.str(std::any::type_name::<T>());
        Some((self.cache, self.key.finish()))
    }
}

/// Counts a cached call, loaded (`hit`) or computed: for the task's or
/// block's observers, and for the run's progress.
fn note_cache(hit: bool) {
    observe::note_cache(hit);
    WorkerCtx::current(|w| {
        if let Some(w) = w {
            w.count_cache_use(hit);
        }
    });
}

/// The result of a cached call: loaded if stored, else `f()`, stored.
#[inline]
pub fn finish<T: Serialize + DeserializeOwned>(k: Option<CallKey>, f: impl FnOnce() -> T) -> T {
    let Some((cache, key)) = k.and_then(CallKey::finish::<T>) else {
        return f();
    };
    if let Some(v) = cache.load::<T>(&key) {
        note_cache(true);
        return v;
    }
    note_cache(false);
    let v = f();
    cache.store(&key, &v);
    v
}

/// As [`finish`], for a function returning `Result`: only an `Ok` value is
/// stored (an error may be passing: it is returned, and the next run tries
/// again).
#[inline]
pub fn finish_result<T: Serialize + DeserializeOwned, E>(
    k: Option<CallKey>,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let Some((cache, key)) = k.and_then(CallKey::finish::<T>) else {
        return f();
    };
    if let Some(v) = cache.load::<T>(&key) {
        note_cache(true);
        return Ok(v);
    }
    note_cache(false);
    let r = f();
    if let Ok(v) = &r {
        cache.store(&key, v);
    }
    r
}
