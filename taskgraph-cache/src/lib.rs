//! The persistent result cache of taskgraph: results of `#[delayed(cache)]`
//! functions kept on local disk, so that a second run (or a run after a
//! crash) computes only what it has not computed before.
//!
//! A result is one file, named by its [`Key`] (the hash of the function's
//! code and its inputs), written to a temporary file and renamed into place:
//! a reader sees a complete entry or none, whoever was killed while writing
//! it, and two processes sharing a directory at most compute a key twice.
//! Every entry carries its format version, the [`Fingerprint`] of its
//! value's type, its key and a checksum of all of it; an entry that fails
//! any check (torn by a power loss, flipped bytes, written by an older
//! format or for another type) is a miss, removed and computed again. It is
//! never decoded into a wrong value.
//!
//! The cache keeps at most [`Cache::limit`] bytes: past it, the entries
//! used longest ago are removed (a hit marks an entry used by setting its
//! modification time).
//!
//! Plain files rather than an embedded database: each entry is written
//! once and never changed, so a rename is all the transaction needed; any
//! number of processes can share the directory without a lock; a damaged
//! entry costs only itself; and nothing beyond the standard library is
//! needed to read or remove it.
//!
//! ```
//! use taskgraph_cache::{Cache, KeyHasher};
//!
//! let dir = std::env::temp_dir().join(format!("taskgraph-cache-doc-{}", std::process::id()));
//! let cache = Cache::open(&dir)?;
//! let mut k = KeyHasher::new("my_crate::square");
//! k.value(&12u64).unwrap();
//! let key = k.finish();
//! assert_eq!(cache.load::<u64>(&key), None);
//! cache.store(&key, &144u64);
//! assert_eq!(cache.load::<u64>(&key), Some(144));
//! let s = cache.stats();
//! assert_eq!((s.hits, s.misses, s.stored, s.entries), (1, 1, 1, 1));
//! // Another type's view of the same entry is a miss, not a wrong value
//! // (and the entry is removed).
//! assert_eq!(cache.load::<i64>(&key), None);
//! assert_eq!(cache.stats().rejected, 1);
//! cache.store(&key, &144u64);
//! cache.clear()?;
//! assert_eq!(cache.stats().entries, 0);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub use serde;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The format of an entry: the first eight bytes of every file. Entries of
/// any other format are misses.
const MAGIC: &[u8; 8] = b"TGCACHE\x01";
/// Magic, fingerprint, key, payload length.
const HEADER: usize = 8 + 16 + 32 + 8;
/// The checksum at the end.
const TRAILER: usize = 32;
/// Where entries are written before they are renamed into place.
const TMP: &str = "tmp";

/// The number of this process's next temporary file: with the process id,
/// a name no other writer of the directory uses.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);
/// A temporary file this old is left over by a killed process.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// The size bound of a cache opened with [`Cache::open`]: 10 GiB.
pub const DEFAULT_LIMIT: u64 = 10 << 30;

/// The name of a result: a BLAKE3 hash of what it was computed from.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// The key as 64 lowercase hex digits (the entry's file name is the
    /// last 62, under a folder named by the first two).
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", &self.hex()[..16])
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Builds a [`Key`]: a domain (the function's identity and code), then
/// each input in order, serialised with postcard into the hash.
pub struct KeyHasher {
    h: blake3::Hasher,
    buf: Vec<u8>,
}

impl KeyHasher {
    /// Starts a key for `domain`.
    pub fn new(domain: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"taskgraph-cache key 1\0");
        let mut k = KeyHasher { h, buf: Vec::new() };
        k.str(domain);
        k
    }

    /// Adds a string, length-prefixed (so `"ab", "c"` and `"a", "bc"`
    /// differ).
    pub fn str(&mut self, s: &str) {
        self.h.update(&(s.len() as u64).to_le_bytes());
        self.h.update(s.as_bytes());
    }

    /// Adds a value: its type's name, then its postcard bytes.
    ///
    /// # Errors
    /// The value's `Serialize` implementation failed.
    pub fn value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), postcard::Error> {
        self.str(std::any::type_name::<T>());
        self.buf.clear();
        let buf = std::mem::take(&mut self.buf);
        let buf = postcard::to_extend(v, buf)?;
        self.h.update(&(buf.len() as u64).to_le_bytes());
        self.h.update(&buf);
        self.buf = buf;
        Ok(())
    }

    /// The key.
    pub fn finish(&self) -> Key {
        Key(*self.h.finalize().as_bytes())
    }
}

/// What a value's type is taken to be: a hash of its name, size and
/// alignment, stored with each entry. A value stored as one type is a miss
/// when loaded as another.
///
/// A type whose definition changes keeps its name, so a change that keeps
/// the size too (two fields of one type swapped, a field renamed) is not
/// seen here: postcard then usually fails to decode (a miss), but not
/// always. Give the function a new `version` when a cached type changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 16]);

impl Fingerprint {
    /// The fingerprint of `T` by its name alone.
    pub fn of<T: ?Sized>() -> Fingerprint {
        let mut h = blake3::Hasher::new();
        h.update(std::any::type_name::<T>().as_bytes());
        let mut out = [0; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        Fingerprint(out)
    }

    /// The fingerprint of a sized `T`, its size and alignment included.
    pub fn of_sized<T>() -> Fingerprint {
        let mut h = blake3::Hasher::new();
        h.update(&Fingerprint::of::<T>().0);
        h.update(&(std::mem::size_of::<T>() as u64).to_le_bytes());
        h.update(&(std::mem::align_of::<T>() as u64).to_le_bytes());
        let mut out = [0; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        Fingerprint(out)
    }
}

/// A cache's counters: this process's lookups and writes, and what the
/// directory holds as far as this process knows (other processes sharing
/// it add entries it learns of at its next eviction scan).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups that found a good entry.
    pub hits: u64,
    /// Lookups that found none (or a bad one).
    pub misses: u64,
    /// Entries written.
    pub stored: u64,
    /// Bad entries found (and removed): corrupt, truncated, another format
    /// or another type.
    pub rejected: u64,
    /// Bytes of entries on disk.
    pub bytes: u64,
    /// Entries on disk.
    pub entries: u64,
}

/// A directory of results. Cheap to share (`Arc`); every method takes
/// `&self` and is safe to call from many threads and processes at once.
///
/// Nothing here fails a run: a lookup that cannot read is a miss, and a
/// write that cannot be made (read-only directory, full disk) is skipped
/// with one warning on standard error, after which the cache is read-only
/// for this process.
pub struct Cache {
    dir: PathBuf,
    limit: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    stored: AtomicU64,
    rejected: AtomicU64,
    bytes: AtomicU64,
    entries: AtomicU64,
    /// Set once a write failed: no more writes are tried.
    write_failed: AtomicBool,
    evicting: Mutex<()>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("dir", &self.dir)
            .field("limit", &self.limit)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Cache {
    /// Opens (creating it if needed) the cache in directory `dir`, with
    /// the [`DEFAULT_LIMIT`] size bound.
    ///
    /// # Errors
    /// The directory cannot be created or read. An existing directory that
    /// cannot be written opens (its entries are read; nothing is stored).
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Cache> {
        let dir = dir.as_ref().to_path_buf();
        if let Err(e) = fs::create_dir_all(&dir) {
            if !dir.is_dir() {
                return Err(e);
            }
        }
        fs::read_dir(&dir)?;
        let c = Cache {
            dir,
            limit: DEFAULT_LIMIT,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            write_failed: AtomicBool::new(false),
            evicting: Mutex::new(()),
        };
        let (bytes, entries) = c
            .scan(true)
            .iter()
            .fold((0, 0), |(b, n), e| (b + e.len, n + 1));
        c.bytes.store(bytes, Ordering::Relaxed);
        c.entries.store(entries, Ordering::Relaxed);
        Ok(c)
    }

    /// Sets the size bound: past `bytes`, the entries used longest ago are
    /// removed until the cache holds at most nine tenths of it.
    pub fn with_limit(mut self, bytes: u64) -> Cache {
        self.limit = bytes;
        self
    }

    /// The size bound in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `key`'s entry.
    pub fn entry_path(&self, key: &Key) -> PathBuf {
        let h = key.hex();
        self.dir.join(&h[..2]).join(&h[2..])
    }

    /// The value stored under `key`, if there is a good entry for type `T`
    /// (counted as a hit, else as a miss).
    pub fn load<T: DeserializeOwned>(&self, key: &Key) -> Option<T> {
        let v = self
            .load_bytes(key, &Fingerprint::of_sized::<T>())
            .and_then(|b| match postcard::take_from_bytes::<T>(&b) {
                Ok((v, [])) => Some(v),
                _ => {
                    self.reject(key);
                    None
                }
            });
        match v {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        v
    }

    /// Stores `value` under `key` (as type `T`); a value that cannot be
    /// serialised is not stored.
    pub fn store<T: Serialize>(&self, key: &Key, value: &T) {
        if self.write_failed.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(bytes) = postcard::to_allocvec(value) {
            self.store_bytes(key, &Fingerprint::of_sized::<T>(), &bytes);
        }
    }

    /// The payload stored under `key` for fingerprint `fp`, checked; a bad
    /// entry is removed. Not counted in [`Stats::hits`]/[`Stats::misses`].
    pub fn load_bytes(&self, key: &Key, fp: &Fingerprint) -> Option<Vec<u8>> {
        let path = self.entry_path(key);
        let mut f = File::open(&path).ok()?;
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return None;
        }
        match check(&buf, key, fp) {
            Some(range) => {
                // Last use, for eviction; a read-only entry keeps its time.
                let _ = f.set_modified(SystemTime::now());
                buf.truncate(range.end);
                buf.drain(..range.start);
                Some(buf)
            }
            None => {
                self.reject(key);
                None
            }
        }
    }

    /// A bad entry: counted and removed (best effort: another process may
    /// just have replaced it with a good one, which then is computed again).
    #[cold]
    fn reject(&self, key: &Key) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        if let Ok(m) = fs::metadata(self.entry_path(key)) {
            if fs::remove_file(self.entry_path(key)).is_ok() {
                self.forget(m.len());
            }
        }
    }

    fn forget(&self, len: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(len))
            });
        let _ = self
            .entries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Writes `payload` as `key`'s entry for fingerprint `fp`: to a
    /// temporary file, renamed into place.
    pub fn store_bytes(&self, key: &Key, fp: &Fingerprint, payload: &[u8]) {
        if self.write_failed.load(Ordering::Relaxed) {
            return;
        }
        let entry = encode(key, fp, payload);
        match self.write_entry(key, &entry) {
            Ok(()) => {
                self.stored.fetch_add(1, Ordering::Relaxed);
                self.entries.fetch_add(1, Ordering::Relaxed);
                let total = self.bytes.fetch_add(entry.len() as u64, Ordering::Relaxed)
                    + entry.len() as u64;
                if total > self.limit {
                    self.evict();
                }
            }
            Err(e) => {
                if !self.write_failed.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "warning: the result cache in {} cannot be written ({e}); \
                         results are computed but not stored for the rest of this run. \
                         Make the directory writable (or free space) to store them.",
                        self.dir.display()
                    );
                }
            }
        }
    }

    fn write_entry(&self, key: &Key, entry: &[u8]) -> io::Result<()> {
        let h = key.hex();
        let tmp_dir = self.dir.join(TMP);
        fs::create_dir_all(&tmp_dir)?;
        // Unique in the process, not per cache: two caches of one process
        // on one directory (two runtimes) write the same key at once too.
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = tmp_dir.join(format!("{h}.{}.{seq}", std::process::id()));
        let r = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(entry)?;
            drop(f);
            let sub = self.dir.join(&h[..2]);
            fs::create_dir_all(&sub)?;
            fs::rename(&tmp, sub.join(&h[2..]))
        })();
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// Removes the entries used longest ago until the cache holds at most
    /// nine tenths of its limit. One thread of a process evicts at a time.
    #[cold]
    fn evict(&self) {
        let Ok(_one) = self.evicting.try_lock() else {
            return;
        };
        let mut all = self.scan(false);
        all.sort_by_key(|e| e.used);
        let mut total: u64 = all.iter().map(|e| e.len).sum();
        let mut entries = all.len() as u64;
        let target = self.limit / 10 * 9;
        for e in &all {
            if total <= target {
                break;
            }
            if fs::remove_file(&e.path).is_ok() {
                total -= e.len;
                entries -= 1;
            }
        }
        self.bytes.store(total, Ordering::Relaxed);
        self.entries.store(entries, Ordering::Relaxed);
    }

    /// Every entry file, and (with `stale`) removes temporary files left by
    /// killed writers.
    fn scan(&self, stale: bool) -> Vec<Found> {
        let mut out = Vec::new();
        let Ok(dirs) = fs::read_dir(&self.dir) else {
            return out;
        };
        let now = SystemTime::now();
        for d in dirs.flatten() {
            let name = d.file_name();
            let name = name.to_string_lossy();
            if name == TMP {
                if stale {
                    for f in fs::read_dir(d.path()).into_iter().flatten().flatten() {
                        let old = f
                            .metadata()
                            .and_then(|m| m.modified())
                            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TMP);
                        if old {
                            let _ = fs::remove_file(f.path());
                        }
                    }
                }
                continue;
            }
            if name.len() != 2 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            for f in fs::read_dir(d.path()).into_iter().flatten().flatten() {
                if let Ok(m) = f.metadata() {
                    if m.is_file() {
                        out.push(Found {
                            path: f.path(),
                            len: m.len(),
                            used: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        });
                    }
                }
            }
        }
        out
    }

    /// Removes every entry (and temporary file); the counters of lookups
    /// stay.
    ///
    /// # Errors
    /// An entry could not be removed (the others are).
    pub fn clear(&self) -> io::Result<()> {
        let mut first_err = None;
        if let Ok(dirs) = fs::read_dir(&self.dir) {
            for d in dirs.flatten() {
                let name = d.file_name();
                let name = name.to_string_lossy();
                let ours =
                    name == TMP || (name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()));
                if ours {
                    if let Err(e) = fs::remove_dir_all(d.path()) {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        let left = self.scan(false);
        self.bytes
            .store(left.iter().map(|e| e.len).sum(), Ordering::Relaxed);
        self.entries.store(left.len() as u64, Ordering::Relaxed);
        first_err.map_or(Ok(()), Err)
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
        }
    }
}

struct Found {
    path: PathBuf,
    len: u64,
    used: SystemTime,
}

fn encode(key: &Key, fp: &Fingerprint, payload: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(HEADER + payload.len() + TRAILER);
    e.extend_from_slice(MAGIC);
    e.extend_from_slice(&fp.0);
    e.extend_from_slice(&key.0);
    e.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    e.extend_from_slice(payload);
    let sum = blake3::hash(&e);
    e.extend_from_slice(sum.as_bytes());
    e
}

/// Where the payload is in a good entry of `key` and `fp`.
fn check(e: &[u8], key: &Key, fp: &Fingerprint) -> Option<std::ops::Range<usize>> {
    if e.len() < HEADER + TRAILER || &e[..8] != MAGIC {
        return None;
    }
    let len = u64::from_le_bytes(e[56..64].try_into().ok()?);
    if e.len() as u64 != (HEADER + TRAILER) as u64 + len {
        return None;
    }
    let body = e.len() - TRAILER;
    if e[8..24] != fp.0
        || e[24..56] != key.0
        || blake3::hash(&e[..body]).as_bytes()[..] != e[body..]
    {
        return None;
    }
    Some(HEADER..body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tgc-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn key(n: u64) -> Key {
        let mut k = KeyHasher::new("test");
        k.value(&n).unwrap();
        k.finish()
    }

    #[test]
    fn keys_differ_by_domain_value_and_type() {
        let mut a = KeyHasher::new("f");
        a.value(&1u32).unwrap();
        let mut b = KeyHasher::new("g");
        b.value(&1u32).unwrap();
        let mut c = KeyHasher::new("f");
        c.value(&1i32).unwrap();
        let mut d = KeyHasher::new("f");
        d.value(&2u32).unwrap();
        let mut e = KeyHasher::new("f");
        e.value(&1u32).unwrap();
        let ks = [a.finish(), b.finish(), c.finish(), d.finish()];
        for i in 0..4 {
            for j in 0..i {
                assert_ne!(ks[i], ks[j]);
            }
        }
        assert_eq!(ks[0], e.finish());
        // Strings are length-prefixed.
        let mut x = KeyHasher::new("f");
        x.str("ab");
        x.str("c");
        let mut y = KeyHasher::new("f");
        y.str("a");
        y.str("bc");
        assert_ne!(x.finish(), y.finish());
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_a_miss() {
        let dir = temp("flip");
        let c = Cache::open(&dir).unwrap();
        let k = key(1);
        let v: Vec<u32> = (0..20).collect();
        c.store(&k, &v);
        let path = c.entry_path(&k);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x41;
            fs::write(&path, &bad).unwrap();
            assert_eq!(c.load::<Vec<u32>>(&k), None, "byte {i} flipped");
            assert!(!path.exists(), "a bad entry is removed");
        }
        for n in 0..good.len() {
            fs::write(&path, &good[..n]).unwrap();
            assert_eq!(c.load::<Vec<u32>>(&k), None, "cut at {n}");
        }
        fs::write(&path, &good).unwrap();
        assert_eq!(c.load::<Vec<u32>>(&k), Some(v));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn older_format_and_other_types_are_misses() {
        let dir = temp("format");
        let c = Cache::open(&dir).unwrap();
        let k = key(2);
        c.store(&k, &7u64);
        let path = c.entry_path(&k);
        let mut old = fs::read(&path).unwrap();
        old[7] = 0; // format 0
        let body = old.len() - TRAILER;
        let sum = *blake3::hash(&old[..body]).as_bytes();
        old[body..].copy_from_slice(&sum);
        fs::write(&path, &old).unwrap();
        assert_eq!(c.load::<u64>(&k), None);
        c.store(&k, &7u64);
        // Same bytes, another type: a miss, not a value.
        assert_eq!(c.load::<u32>(&k), None);
        c.store(&k, &(1u8, 2u8));
        assert_eq!(c.load::<[u8; 2]>(&k), None);
        // ... and removed.
        assert_eq!(c.load::<(u8, u8)>(&k), None);
        c.store(&k, &(1u8, 2u8));
        assert_eq!(c.load::<(u8, u8)>(&k), Some((1, 2)));
        // An entry copied under another key's name is a miss.
        let k3 = key(3);
        fs::create_dir_all(c.entry_path(&k3).parent().unwrap()).unwrap();
        fs::copy(c.entry_path(&k), c.entry_path(&k3)).unwrap();
        assert_eq!(c.load::<(u8, u8)>(&k3), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn eviction_removes_the_least_recently_used() {
        let dir = temp("evict");
        let c = Cache::open(&dir).unwrap();
        let one = encode(&key(0), &Fingerprint::of_sized::<[u8; 1000]>(), &[0; 1000]).len() as u64;
        let c = c.with_limit(one * 10);
        let t0 = SystemTime::now() - Duration::from_secs(1000);
        for n in 0..10u64 {
            c.store_bytes(&key(n), &Fingerprint::of_sized::<[u8; 1000]>(), &[0; 1000]);
            // Older entries were used longer ago; entry 0 was used last.
            let used = if n == 0 {
                t0 + Duration::from_secs(999)
            } else {
                t0 + Duration::from_secs(n)
            };
            File::options()
                .write(true)
                .open(c.entry_path(&key(n)))
                .unwrap()
                .set_modified(used)
                .unwrap();
        }
        assert_eq!(c.stats().entries, 10);
        c.store_bytes(&key(10), &Fingerprint::of_sized::<[u8; 1000]>(), &[0; 1000]);
        let kept: Vec<u64> = (0..11)
            .filter(|&n| c.entry_path(&key(n)).exists())
            .collect();
        // Down to nine tenths of the limit: the two used longest ago go.
        assert_eq!(kept, vec![0, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(c.stats().entries, 9);
        assert_eq!(c.stats().bytes, 9 * one);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reopened_cache_counts_what_is_there_and_removes_stale_temporaries() {
        let dir = temp("reopen");
        let c = Cache::open(&dir).unwrap();
        c.store(&key(1), &1u8);
        c.store(&key(2), &2u8);
        let stale = dir.join(TMP).join("leftover");
        fs::write(&stale, b"torn").unwrap();
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(SystemTime::now() - 2 * STALE_TMP)
            .unwrap();
        let d = Cache::open(&dir).unwrap();
        assert_eq!(d.stats().entries, 2);
        assert_eq!(d.stats().bytes, c.stats().bytes);
        assert!(!stale.exists());
        assert_eq!(d.load::<u8>(&key(2)), Some(2));
        fs::remove_dir_all(&dir).unwrap();
    }
}
