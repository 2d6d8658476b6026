//! Results kept on disk: a second run, or a run after a crash, computes only
//! what it has not computed before (the `cache` feature).
//!
//! Mark the functions whose results are worth keeping with
//! `#[delayed(cache)]`, and give the runtime a directory:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use taskdag::{delayed, graph, Runtime};
//!
//! #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
//! struct Summary {
//!     n: usize,
//!     total: u64,
//! }
//!
//! #[delayed(cache)]
//! fn load(file: u32) -> Vec<u64> {
//!     (0..1000).map(|i| (i * u64::from(file)) % 97).collect()
//! }
//!
//! #[delayed(cache)]
//! fn summarise(v: &[u64]) -> Summary {
//!     Summary { n: v.len(), total: v.iter().sum() }
//! }
//!
//! let dir = std::env::temp_dir().join(format!("taskgraph-guide-cache-{}", std::process::id()));
//! let rt = Runtime::builder().cache(&dir).build()?;
//! let run = || {
//!     rt.compute(graph! {
//!         let mut out = Vec::new();
//!         for f in 0..8 {
//!             let v = load(f);
//!             out.push(summarise(&v));
//!         }
//!         out
//!     })
//! };
//! let first = run()?;
//! let second = run()?; // every result loaded, nothing runs
//! assert_eq!(first, second);
//! let stats = rt.cache().unwrap().stats();
//! assert_eq!((stats.misses, stats.hits), (16, 16));
//! rt.cache().unwrap().clear()?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A function without `cache` runs every time; a runtime without `cache`
//! runs every function as written (the check is one thread-local read per
//! cached call). Without the `cache` feature nothing of this is compiled
//! in, and `#[delayed(cache)]` is a compile error saying to turn it on.
//!
//! # What a result's key is
//!
//! A cached call's key is a BLAKE3 hash of:
//!
//! - the function: its module path and name, a hash of its tokens
//!   (attributes, signature, body: editing `clean` gives `clean` new keys),
//!   and its `version` if it has one: `#[delayed(cache, version = "2")]`
//!   is for changes the tokens do not show (a function it calls, a file it
//!   reads, a type whose definition changed);
//! - the output type's name;
//! - each parameter's type name and value, serialised with postcard.
//!
//! Inputs enter the key by their *contents*, not by the keys of the tasks
//! that made them: an edited upstream function recomputes its consumers
//! only where its output changed, and a lazy input is hashed once per
//! consumer (for large values, the cost is a postcard serialisation and a
//! BLAKE3 pass over it; both run at gigabytes a second). Parameters must
//! therefore be `Serialize`, and the output `Serialize + DeserializeOwned`
//! (for a function returning `Result<T, E>`, `T`; an `Err` is never
//! stored, so the next run tries again). A type that is not is a compile
//! error at the signature:
//!
//! ```compile_fail
//! use taskdag::delayed;
//!
//! struct Opaque(u32);
//!
//! #[delayed(cache)]
//! fn wrap(x: u32) -> Opaque { // error: `Opaque: Serialize` is not satisfied
//!     Opaque(x)
//! }
//! ```
//!
//! Parameters are hashed by name before the body runs, so they are plain
//! names (`x: T`, not patterns), and `cache` goes on free functions only.
//!
//! A function is cached by its parameters alone: one that reads what is not
//! among them (a file by its path, the clock, an environment variable)
//! would return what it read the first time. Cache the step that takes the
//! file's *contents* (`clean(text)`, not `load(path)`), or give it what
//! identifies the state (the file's modification time) as a parameter.
//!
//! # What is stored, and what can go wrong
//!
//! One file per result, under a folder named by the key's first two hex
//! digits, written to `tmp/` and renamed into place: a result is stored
//! whole or not at all, so a run killed with `kill -9` (or out of memory)
//! leaves every finished result usable, and the next run computes only the
//! rest. Each file carries the format's version, a fingerprint of the value's
//! type (name, size, alignment), its key, and a BLAKE3 checksum of all of
//! it. A file that fails any check (flipped bytes, cut short, an older
//! format, another type) is a miss: it is removed and the task computed
//! again; it is never decoded into a wrong value. A type whose definition
//! changed but whose name and size did not is not seen by the fingerprint
//! (postcard usually fails to decode it, which is a miss, but not always):
//! bump the `version` of the functions that return it.
//!
//! Two processes may share a directory: each sees whole entries or none,
//! and may compute a key the other is computing (duplicate work, never a
//! torn value). A directory that cannot be written (read-only, full) is
//! read from, with one warning on standard error and nothing stored; one
//! that cannot be created leaves the runtime without a cache, with one
//! warning. Writes are not synced to disk one by one: a power loss may cost
//! the last results (their checksums then fail, and they are recomputed).
//!
//! The cache keeps at most 10 GiB ([`RuntimeBuilder::cache_limit`]); past
//! it, the entries used longest ago (a hit refreshes an entry's modification
//! time) are removed until it holds nine tenths of the limit.
//! [`Cache::stats`] gives this process's hits, misses, stores and rejected
//! entries, and the bytes and entries on disk; [`Cache::clear`] removes
//! every entry.
//!
//! # Seeing what was reused
//!
//! Observers hear of it: [`TaskEvent::cache`] (a node-by-node task) and
//! [`BlockEvent::cache`] (the cached calls of a fused block) count hits and
//! misses, so a run's counts are the sum over its events. The task stream
//! keeps them ([`Span::cache`], [`SiteStats::cache_hits`]), the Chrome trace
//! draws hits in green with their counts in the arguments, and the
//! performance report draws loaded tasks in grey and counts them per call
//! site (`12 (12 from the cache)`). A spawned run's
//! [`progress()`](crate::Handle::progress) counts its cached calls loaded
//! and computed ([`Progress::cache_hits`], [`Progress::cache_misses`];
//! displayed as `15/15 (cache: 12 loaded, 3 computed)`), and the progress
//! bars show them on a line of their own.
//!
//! Fused loops cache per call, as node-by-node tasks do: the results are
//! the same either way, and so are the entries.
//!
//! [`RuntimeBuilder::cache_limit`]: crate::RuntimeBuilder::cache_limit
//! [`Cache::stats`]: crate::cache::Cache::stats
//! [`Cache::clear`]: crate::cache::Cache::clear
//! [`TaskEvent::cache`]: crate::observe::TaskEvent::cache
//! [`BlockEvent::cache`]: crate::observe::BlockEvent::cache
//! [`Span::cache`]: crate::stream::Span::cache
//! [`SiteStats::cache_hits`]: crate::stream::SiteStats::cache_hits
//! [`Progress::cache_hits`]: crate::Progress::cache_hits
//! [`Progress::cache_misses`]: crate::Progress::cache_misses
