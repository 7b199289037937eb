//! A cache of small files' contents, so that serving a small unchanged file costs
//! one `statx(2)` instead of `openat2` + `fstat` + `pread` + `close`.
//!
//! [`StaticFile::open_cached`](crate::StaticFile::open_cached) uses it. An entry is
//! keyed by the full path of the file and holds the file's complete bytes, its
//! identity — device, inode, size, modification time and status-change time (ctime),
//! both to the nanosecond — and the description a response needs (size, date,
//! validators, content type, disposition, extension), so a hit rebuilds the
//! [`StaticFile`] without formatting or allocating.
//!
//! # Lookup
//!
//! For a path it holds, the cache makes one `statx` relative to the descriptor of the
//! request's [`Root`], the one the checked open uses, following links. If that names a
//! regular file whose identity equals the entry's, the entry's bytes are served.
//! Anything else — an error, another type, any field different — falls back to the
//! full checked open of [`StaticFile::open`](crate::StaticFile::open), which then
//! applies every rule (`403` for a link leaving the root, `404` for a missing file,
//! ...), and the stale entry is replaced or removed.
//!
//! # Why a hit is safe
//!
//! An entry is only ever filled through the checked open (`openat2` with
//! `RESOLVE_BENEATH`, or the canonicalising fallback), so its bytes were legitimately
//! reachable under the root when it was filled. A hit returns those bytes only when
//! the path now leads to that same inode (device and inode number) with the same size,
//! mtime and ctime. Every write changes mtime; `chmod`, `chown`, `link`, `unlink`,
//! `rename` and `utimes` change ctime. So a hit only ever returns the bytes of an
//! inode that was served legitimately and is unchanged since: a later symlink swap,
//! a rename out of the root or a permission change cannot make a hit serve anything
//! that was not already servable, because any of them either leads the path to another
//! inode or changes the inode's ctime, and the lookup falls back to the checked open.
//! Timestamps have a granularity; at worst, a change within one clock tick of the
//! previous one, on a kernel without fine-grained timestamps, goes unseen, and what is
//! then served are still bytes that were legitimately servable at that moment.
//! An entry also remembers the root directory (device and inode) it was checked
//! beneath and is used under that directory only: once a deployment replaces the
//! document root ([`DocRoot`](crate::DocRoot)), no entry of the old tree is served,
//! not even one whose inode the new tree shares.
//!
//! # Filling: the "racily clean" rule
//!
//! After a miss, a regular file no larger than the per-file limit is read into the
//! cache only if its mtime is at least two seconds in the past, as Git does for its
//! index: a write in progress always moves mtime to "now", so an old mtime means no
//! write started in the last two seconds. The file is read whole with positioned
//! reads, its metadata is taken again, and the entry is kept only if the identity is
//! unchanged and exactly the announced number of bytes was read. A file written
//! recently is served from disk until it has been quiet for two seconds.
//!
//! # Budget and eviction
//!
//! The cached contents never exceed the byte budget; each entry counts as at least
//! [`MIN_ENTRY_CHARGE`] bytes, so empty files cannot grow the map without bound.
//! Eviction is "second chance": a hit sets the entry's `used` flag; when an insert
//! would exceed the budget, every entry not used since the previous sweep is removed
//! and the flag of the others is cleared. If there is still no room, the new file is
//! not cached.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

use httpd_security::SafePath;

use crate::error::ServeError;
use crate::identity::FileIdentity;
use crate::root::Root;
use crate::static_file::{
    Body, FileInfo, StaticFile, describe, file_target, open_checked, open_root,
};

/// Each entry counts as at least this many bytes against the budget.
pub const MIN_ENTRY_CHARGE: u64 = 256;

/// Files whose full path is longer than this are not cached: the key is then never
/// bigger than the entry's charge, so keys add at most the budget again.
pub const MAX_KEY_BYTES: usize = 256;

/// A file whose mtime is more recent than this may still be being written and is
/// not cached.
const RACY_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// A cache of small files' contents shared by every thread of a server.
///
/// An entry holds a file's complete bytes and its identity (device, inode, size,
/// mtime and ctime to the nanosecond). A lookup makes one `statx` of the path and
/// serves the bytes only if the path still leads to that same, unchanged inode;
/// anything else falls back to the fully checked open. Since entries are only filled
/// through the checked open, a hit can only return bytes that were legitimately
/// servable and have not changed since; a symlink swap, a rename out of the root or
/// a `chmod` changes the inode reached or its ctime and is caught.
///
/// Only regular files of at most `max_file_bytes` whose mtime is at least two
/// seconds old are cached (a file written recently may still be being written). The
/// contents never exceed `max_total_bytes`, each entry counting as at least
/// [`MIN_ENTRY_CHARGE`]; when an insert would exceed it, a second-chance sweep
/// evicts every entry without a hit since the previous sweep.
///
/// Lookups take a read lock only; inserts and removals take the write lock. Build one with
/// [`FileCache::new`] and pass it to [`Root::open_cached`](crate::Root::open_cached) or
/// [`StaticFile::open_cached`](crate::StaticFile::open_cached).
///
/// # Examples
/// ```no_run
/// use std::path::Path;
///
/// use httpd_files::{FileCache, StaticFile};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = FileCache::new(64 << 20, 64 << 10);
/// let path = httpd_security::resolve_path(Path::new("resources"), "/index.html")?;
/// let mut file = StaticFile::open_cached(&path, &cache)?;
/// let mut body = Vec::new();
/// file.send_to(&mut body)?;
/// println!("{:?}", cache.stats());
/// # Ok(())
/// # }
/// ```
pub struct FileCache {
    /// `None` when disabled: lookups then cost nothing and nothing is counted.
    shared: Option<Shared>,
}

/// The state of an enabled cache.
struct Shared {
    max_total_bytes: u64,
    max_file_bytes: u64,
    table: RwLock<Table>,
    counters: Counters,
}

/// The entries and the bytes they are charged, changed under the write lock only.
struct Table {
    /// Keyed by the full path's bytes: hashing and comparing a `Path` goes component
    /// by component, which costs more than the rest of a hit.
    entries: HashMap<Box<[u8]>, Arc<Entry>>,
    /// The sum of the entries' `charge`; never above `max_total_bytes`.
    charged: u64,
}

/// Plain counters behind [`FileCache::stats`].
#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    evictions: AtomicU64,
    entries: AtomicU64,
    bytes: AtomicU64,
}

/// One cached file.
struct Entry {
    /// Device and inode of the root directory the file was opened beneath: after the
    /// root is replaced (a deployment swapping trees), no entry of the old tree is
    /// served.
    root_id: (u64, u64),
    /// The complete contents: exactly `info.len` bytes.
    bytes: Arc<[u8]>,
    /// What a response says about the file; shared with every hit.
    info: Arc<FileInfo>,
    /// The file as it was when read; a hit needs the same.
    identity: FileIdentity,
    /// Set by a hit, cleared by an eviction sweep.
    used: AtomicBool,
    /// What the entry counts against the budget.
    charge: u64,
}

/// Counters of a [`FileCache`], as returned by [`FileCache::stats`].
///
/// Each counter is read on its own (relaxed), so a snapshot taken while other threads
/// work may be slightly inconsistent between fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCacheStats {
    /// Opens answered from the cache.
    pub hits: u64,
    /// Opens of an enabled cache that fell back to a real open (no entry, or the
    /// entry no longer matched the file).
    pub misses: u64,
    /// Entries added.
    pub inserts: u64,
    /// Entries removed by an eviction sweep to make room (not counting entries
    /// replaced or removed because their file changed).
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes charged against the budget now: the sum of the entries' sizes, each
    /// counted as at least [`MIN_ENTRY_CHARGE`].
    pub bytes: u64,
}

impl FileCache {
    /// Creates a cache holding at most `max_total_bytes` of file contents, caching
    /// only files of at most `max_file_bytes`.
    ///
    /// A budget below [`MIN_ENTRY_CHARGE`] could hold nothing and gives a
    /// [disabled](Self::disabled) cache.
    pub fn new(max_total_bytes: u64, max_file_bytes: u64) -> FileCache {
        if max_total_bytes < MIN_ENTRY_CHARGE {
            return FileCache::disabled();
        }
        FileCache {
            shared: Some(Shared {
                max_total_bytes,
                max_file_bytes,
                table: RwLock::new(Table {
                    entries: HashMap::new(),
                    charged: 0,
                }),
                counters: Counters::default(),
            }),
        }
    }

    /// Creates a cache that caches nothing:
    /// [`StaticFile::open_cached`](crate::StaticFile::open_cached) then behaves like
    /// [`StaticFile::open`](crate::StaticFile::open), and its statistics stay zero.
    pub fn disabled() -> FileCache {
        FileCache { shared: None }
    }

    /// Tells whether this cache may hold files (it is not [disabled](Self::disabled)).
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Returns the current counters; all zero for a disabled cache.
    pub fn stats(&self) -> FileCacheStats {
        let Some(shared) = &self.shared else {
            return FileCacheStats::default();
        };
        let c = &shared.counters;
        FileCacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            inserts: c.inserts.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            entries: c.entries.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }
}

impl Default for FileCache {
    /// A [disabled](FileCache::disabled) cache.
    fn default() -> FileCache {
        FileCache::disabled()
    }
}

impl fmt::Debug for FileCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shared {
            None => f.write_str("FileCache(disabled)"),
            Some(shared) => f
                .debug_struct("FileCache")
                .field("max_total_bytes", &shared.max_total_bytes)
                .field("max_file_bytes", &shared.max_file_bytes)
                .field("stats", &self.stats())
                .finish(),
        }
    }
}

impl Shared {
    /// Returns the entry for `full`, under the read lock only.
    fn get(&self, full: &Path) -> Option<Arc<Entry>> {
        self.table.read().entries.get(key(full)).cloned()
    }

    /// Adds `entry` for `full`, replacing any entry there, if the budget has room
    /// (after a second-chance sweep if need be).
    fn insert(&self, full: &Path, entry: Entry) {
        let charge = entry.charge;
        let mut guard = self.table.write();
        let Table { entries, charged } = &mut *guard;
        if let Some(old) = entries.remove(key(full)) {
            *charged -= old.charge;
        }
        if *charged + charge > self.max_total_bytes {
            let mut evicted = 0;
            entries.retain(|_, e| {
                if e.used.swap(false, Ordering::Relaxed) {
                    true
                } else {
                    *charged -= e.charge;
                    evicted += 1;
                    false
                }
            });
            self.counters
                .evictions
                .fetch_add(evicted, Ordering::Relaxed);
        }
        if *charged + charge <= self.max_total_bytes {
            entries.insert(key(full).into(), Arc::new(entry));
            *charged += charge;
            self.counters.inserts.fetch_add(1, Ordering::Relaxed);
        }
        self.publish(entries.len(), *charged);
    }

    /// Removes the entry for `full` if it is still `stale` (not a newer one).
    fn remove(&self, full: &Path, stale: &Arc<Entry>) {
        let mut guard = self.table.write();
        let Table { entries, charged } = &mut *guard;
        if entries
            .get(key(full))
            .is_some_and(|e| Arc::ptr_eq(e, stale))
        {
            entries.remove(key(full));
            *charged -= stale.charge;
            self.publish(entries.len(), *charged);
        }
    }

    /// Updates the `entries` and `bytes` counters; called under the write lock.
    fn publish(&self, entries: usize, charged: u64) {
        let entries = u64::try_from(entries).unwrap_or(u64::MAX);
        self.counters.entries.store(entries, Ordering::Relaxed);
        self.counters.bytes.store(charged, Ordering::Relaxed);
    }
}

/// The bytes of a path, for keys and byte-wise comparisons.
fn key(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes()
}

impl StaticFile {
    /// Opens `path` like [`open`](Self::open), answering from `cache` when it can.
    ///
    /// The result is exactly what [`open`](Self::open) would give: same errors, same
    /// content type, disposition, extension, size, date and validators, and the same
    /// bytes. A path the cache holds costs one `statx(2)` and no open: the cached
    /// bytes are served if the file is still the very same, unchanged inode under the
    /// same root directory (see [`FileCache`] for the rules and why this is safe).
    /// Otherwise the file is opened with every check of [`open`](Self::open) and,
    /// when it is small and has not been modified for a while, its contents are added
    /// to the cache. Like [`open`](Self::open) this opens the root for the call;
    /// [`Root::open_cached`] does not.
    ///
    /// With [`FileCache::disabled`], this is [`open`](Self::open).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_cached(path: &SafePath, cache: &FileCache) -> Result<StaticFile, ServeError> {
        open_root(path)?.open_cached(path, cache)
    }
}

impl Root {
    /// Opens `path` beneath this root like [`open`](Self::open), answering from
    /// `cache` when it can. See [`StaticFile::open_cached`].
    ///
    /// # Errors
    /// As [`StaticFile::open`].
    pub fn open_cached(
        &self,
        path: &SafePath,
        cache: &FileCache,
    ) -> Result<StaticFile, ServeError> {
        let target = file_target(path)?;
        open_cached(self, target.as_ref(), cache)
    }

    /// Returns `path`'s file from `cache` when the cache holds it unchanged beneath
    /// this root, at the cost of one `statx` and without opening anything; `None`
    /// when it does not (a miss is not counted: the caller then uses
    /// [`open_cached`](Self::open_cached), typically on a thread that may block on the
    /// disk). A hit is exactly what [`open_cached`](Self::open_cached) would return.
    pub fn from_cache(&self, path: &SafePath, cache: &FileCache) -> Option<StaticFile> {
        let target = file_target(path).ok()?;
        lookup(self, target.as_ref(), cache)
    }
}

/// Opens `target` (never directory-form) beneath `root` through `cache`; see
/// [`StaticFile::open_cached`].
fn open_cached(
    root: &Root,
    target: &SafePath,
    cache: &FileCache,
) -> Result<StaticFile, ServeError> {
    let full = target.as_path();
    let relative = target.relative();
    let Some(shared) = &cache.shared else {
        return StaticFile::open_as(root, target, relative, full);
    };
    let stale = shared.get(full);
    if let Some(entry) = &stale {
        if entry.root_id == root.id()
            && FileIdentity::of_path(root, relative) == Some(entry.identity)
        {
            entry.used.store(true, Ordering::Relaxed);
            shared.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(StaticFile::from_parts(
                Body::Bytes(Arc::clone(&entry.bytes)),
                Arc::clone(&entry.info),
            ));
        }
    }
    shared.counters.misses.fetch_add(1, Ordering::Relaxed);

    let (file, meta) = match open_checked(root, relative, full) {
        Ok(opened) => opened,
        Err(e) => {
            if let Some(stale) = &stale {
                shared.remove(full, stale);
            }
            return Err(e);
        }
    };
    let info = Arc::new(describe(target, full, &meta));
    let cacheable = key(full).len() <= MAX_KEY_BYTES;
    match read_if_cacheable(shared, &file, &meta).filter(|_| cacheable) {
        Some((bytes, identity)) => shared.insert(
            full,
            Entry {
                root_id: root.id(),
                bytes,
                info: Arc::clone(&info),
                identity,
                used: AtomicBool::new(false),
                charge: meta.len().max(MIN_ENTRY_CHARGE),
            },
        ),
        None => {
            if let Some(stale) = &stale {
                shared.remove(full, stale);
            }
        }
    }
    Ok(StaticFile::from_parts(Body::File(file), info))
}

/// Returns `target`'s cached file if `cache` holds it and it is unchanged under
/// `root` (one `statx`, no open); `None` otherwise, with nothing opened or counted.
fn lookup(root: &Root, target: &SafePath, cache: &FileCache) -> Option<StaticFile> {
    let shared = cache.shared.as_ref()?;
    let entry = shared.get(target.as_path())?;
    if entry.root_id != root.id()
        || FileIdentity::of_path(root, target.relative()) != Some(entry.identity)
    {
        return None;
    }
    entry.used.store(true, Ordering::Relaxed);
    shared.counters.hits.fetch_add(1, Ordering::Relaxed);
    Some(StaticFile::from_parts(
        Body::Bytes(Arc::clone(&entry.bytes)),
        Arc::clone(&entry.info),
    ))
}

/// Reads the whole of `file` if it may be cached: a regular file within the size
/// limits, quiet for [`RACY_WINDOW`], and the same before and after the read.
fn read_if_cacheable(
    shared: &Shared,
    file: &std::fs::File,
    meta: &std::fs::Metadata,
) -> Option<(Arc<[u8]>, FileIdentity)> {
    use std::os::unix::fs::FileExt;

    let len = meta.len();
    if !meta.is_file()
        || len > shared.max_file_bytes
        || len.max(MIN_ENTRY_CHARGE) > shared.max_total_bytes
    {
        return None;
    }
    let age = std::time::SystemTime::now()
        .duration_since(meta.modified().ok()?)
        .ok()?;
    if age < RACY_WINDOW {
        return None;
    }
    let before = FileIdentity::from_metadata(meta);
    let mut bytes = vec![0u8; usize::try_from(len).ok()?];
    // Positioned reads; fails with `UnexpectedEof` if the file shrank meanwhile.
    file.read_exact_at(&mut bytes, 0).ok()?;
    let after = FileIdentity::from_metadata(&file.metadata().ok()?);
    (after == before).then(|| (Arc::from(bytes), before))
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::io;
    use std::os::unix::fs::{MetadataExt, symlink};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, SystemTime};

    use httpd_proto::ByteRange;
    use httpd_security::resolve_path;

    use super::*;
    use crate::test_util::{TempDir, through_socket, wait_for_a_later_ctime};
    use crate::{ErrorKind, ServeError, StaticFile, gzip_stream};

    /// Sets `path`'s mtime an hour (plus `extra` seconds) into the past, so that it is
    /// cacheable at once.
    fn age_by(path: &Path, extra: u64) {
        let past = SystemTime::now() - Duration::from_secs(3600 + extra);
        File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(past))
            .expect("set mtime");
    }

    fn write_old(root: &TempDir, rel: &str, contents: &[u8]) -> PathBuf {
        let path = root.write(rel, contents);
        age_by(&path, 0);
        path
    }

    fn open_in(root: &Path, raw: &str, cache: &FileCache) -> Result<StaticFile, ServeError> {
        let safe = resolve_path(root, raw).expect("test paths are safe");
        StaticFile::open_cached(&safe, cache)
    }

    fn open_c(root: &TempDir, raw: &str, cache: &FileCache) -> Result<StaticFile, ServeError> {
        open_in(root.path(), raw, cache)
    }

    fn body(file: &mut StaticFile) -> Vec<u8> {
        let mut out = Vec::new();
        let n = file.send_to(&mut out).expect("send");
        assert_eq!(n, out.len() as u64);
        out
    }

    fn read_c(root: &TempDir, raw: &str, cache: &FileCache) -> Vec<u8> {
        body(&mut open_c(root, raw, cache).expect(raw))
    }

    fn kind_of(result: Result<StaticFile, ServeError>) -> Option<ErrorKind> {
        result.err().map(|e| e.kind())
    }

    fn is_from_memory(file: &StaticFile) -> bool {
        format!("{file:?}").contains("Bytes(")
    }

    fn small() -> FileCache {
        FileCache::new(1 << 20, 64 << 10)
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn second_open_of_an_old_small_file_is_a_hit_with_identical_bytes() {
        let root = TempDir::new();
        let data = pattern(1024, 7);
        write_old(&root, "page.txt", &data);
        let cache = small();

        let mut first = open_c(&root, "/page.txt", &cache).unwrap();
        assert!(!is_from_memory(&first), "a miss serves from the file");
        assert_eq!(body(&mut first), data);
        let after_fill = cache.stats();
        assert_eq!(
            after_fill,
            FileCacheStats {
                hits: 0,
                misses: 1,
                inserts: 1,
                evictions: 0,
                entries: 1,
                bytes: 1024,
            }
        );

        let mut hit = open_c(&root, "/page.txt", &cache).unwrap();
        assert_eq!(cache.stats().hits, 1);
        assert_eq!(cache.stats().misses, 1);
        assert!(is_from_memory(&hit));
        assert_eq!(body(&mut hit), data);
        assert_eq!(body(&mut hit), data, "a second send starts over");

        let (sent, got) = through_socket(|fd| hit.sendfile_to(fd));
        assert_eq!(sent.unwrap(), 1024);
        assert_eq!(got, data);
        let range = ByteRange {
            start: 100,
            end: 299,
        };
        let (sent, got) = through_socket(|fd| hit.sendfile_range_to(fd, range));
        assert_eq!(sent.unwrap(), 200);
        assert_eq!(got, &data[100..300]);
        for (start, end) in [(0, 0), (0, 1023), (1023, 1023), (5, 9)] {
            let mut out = Vec::new();
            let n = hit
                .send_range_to(&mut out, ByteRange { start, end })
                .unwrap();
            assert_eq!(n, end - start + 1);
            assert_eq!(out, &data[start as usize..=end as usize]);
        }
        for (start, end) in [(0, 1024), (1024, 1024), (9, 5), (0, u64::MAX)] {
            let range = ByteRange { start, end };
            let mut out = Vec::new();
            let err = hit.send_range_to(&mut out, range).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{start}-{end}");
            assert!(out.is_empty());
            let (sent, got) = through_socket(|fd| hit.sendfile_range_to(fd, range));
            assert_eq!(sent.unwrap_err().kind(), io::ErrorKind::InvalidInput);
            assert!(got.is_empty());
        }
        let mut compressed = Vec::new();
        let n = gzip_stream(&mut hit, &mut compressed).unwrap();
        assert_eq!(n, compressed.len() as u64);
        let mut plain = Vec::new();
        io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&compressed[..]),
            &mut plain,
        )
        .unwrap();
        assert_eq!(plain, data);
        assert_eq!(cache.stats().hits, 1, "sending does not look anything up");
    }

    #[test]
    fn a_hit_describes_the_file_exactly_as_open_does() {
        let root = TempDir::new();
        write_old(&root, "Logo.PNG", b"png bytes");
        write_old(&root, "docs/index.html", b"<h1>docs</h1>");
        write_old(&root, "empty", b"");
        let cache = small();
        for raw in ["/Logo.PNG", "/docs/", "/empty"] {
            let safe = resolve_path(root.path(), raw).unwrap();
            let mut plain = StaticFile::open(&safe).unwrap();
            open_c(&root, raw, &cache).unwrap();
            let mut hit = open_c(&root, raw, &cache).unwrap();
            assert!(is_from_memory(&hit), "{raw}");
            assert_eq!(hit.len(), plain.len(), "{raw}");
            assert_eq!(hit.is_empty(), plain.is_empty(), "{raw}");
            assert_eq!(hit.modified(), plain.modified(), "{raw}");
            assert_eq!(hit.content_type(), plain.content_type(), "{raw}");
            assert_eq!(
                hit.content_disposition(),
                plain.content_disposition(),
                "{raw}"
            );
            assert_eq!(hit.validators(), plain.validators(), "{raw}");
            assert_eq!(hit.extension(), plain.extension(), "{raw}");
            assert_eq!(body(&mut hit), body(&mut plain), "{raw}");
        }
        assert_eq!(cache.stats().hits, 3);
        let index = open_c(&root, "/docs/", &cache).unwrap();
        assert_eq!(index.content_type(), crate::TEXT_HTML);
        assert_eq!(index.content_disposition(), None);
    }

    #[test]
    fn rewritten_content_is_served_new_and_not_cached_while_recent() {
        let root = TempDir::new();
        let path = write_old(&root, "a.txt", b"first version");
        let cache = small();
        assert_eq!(read_c(&root, "/a.txt", &cache), b"first version");
        assert_eq!(read_c(&root, "/a.txt", &cache), b"first version");
        assert_eq!(cache.stats().hits, 1);

        // Same size: only mtime and ctime tell.
        fs::write(&path, b"FIRST VERSION").unwrap();
        assert_eq!(read_c(&root, "/a.txt", &cache), b"FIRST VERSION");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 2, 1));
        assert_eq!((stats.entries, stats.bytes), (0, 0), "stale entry removed");
        assert_eq!(read_c(&root, "/a.txt", &cache), b"FIRST VERSION");
        assert_eq!(cache.stats().inserts, 1, "recent mtime: not cached");

        // Back to old: cached again, then a different size.
        age_by(&path, 0);
        assert_eq!(read_c(&root, "/a.txt", &cache), b"FIRST VERSION");
        assert_eq!(cache.stats().inserts, 2);
        assert_eq!(read_c(&root, "/a.txt", &cache), b"FIRST VERSION");
        assert_eq!(cache.stats().hits, 2);
        fs::write(&path, b"second, longer version").unwrap();
        assert_eq!(read_c(&root, "/a.txt", &cache), b"second, longer version");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.inserts, stats.entries), (2, 2, 0));
    }

    #[test]
    fn a_file_changed_back_to_its_old_mtime_is_still_a_miss() {
        // Same size, mtime restored to exactly the cached value: ctime still differs.
        let root = TempDir::new();
        let path = write_old(&root, "a.txt", b"aaaa");
        let cache = small();
        read_c(&root, "/a.txt", &cache);
        let old = fs::metadata(&path).unwrap();
        wait_for_a_later_ctime(&path);
        fs::write(&path, b"bbbb").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old.modified().unwrap())
            .unwrap();
        let new = fs::metadata(&path).unwrap();
        assert_eq!(new.mtime_nsec(), old.mtime_nsec());
        assert_ne!(
            (new.ctime(), new.ctime_nsec()),
            (old.ctime(), old.ctime_nsec())
        );
        assert_eq!(read_c(&root, "/a.txt", &cache), b"bbbb");
        assert_eq!(cache.stats().hits, 0);
    }

    #[test]
    fn replacement_by_rename_serves_the_new_bytes() {
        let root = TempDir::new();
        let path = write_old(&root, "a.css", b"old old old");
        let cache = small();
        read_c(&root, "/a.css", &cache);
        assert_eq!(read_c(&root, "/a.css", &cache), b"old old old");
        assert_eq!(cache.stats().hits, 1);

        // Same size and same (old) mtime as the original: only the inode differs.
        let tmp = root.write("a.css.tmp", b"new new new");
        File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(fs::metadata(&path).unwrap().modified().unwrap())
            .unwrap();
        fs::rename(&tmp, &path).unwrap();
        assert_eq!(read_c(&root, "/a.css", &cache), b"new new new");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 2, 2));
        assert_eq!(stats.entries, 1, "the new file replaced the old entry");
        assert_eq!(read_c(&root, "/a.css", &cache), b"new new new");
        assert_eq!(cache.stats().hits, 2);
    }

    #[test]
    fn a_deleted_file_is_not_found_and_its_entry_goes() {
        let root = TempDir::new();
        let path = write_old(&root, "gone.txt", b"here today");
        let cache = small();
        read_c(&root, "/gone.txt", &cache);
        assert_eq!(cache.stats().entries, 1);
        fs::remove_file(&path).unwrap();
        assert_eq!(
            kind_of(open_c(&root, "/gone.txt", &cache)),
            Some(ErrorKind::NotFound)
        );
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes, stats.hits), (0, 0, 0));
    }

    #[test]
    fn a_symlink_swapped_in_to_outside_the_root_is_forbidden() {
        let outside = TempDir::new();
        let secret = write_old(&outside, "secret.txt", b"the secret");
        let root = TempDir::new();
        let path = write_old(&root, "a.txt", b"public bytes");
        write_old(&root, "b.txt", b"public bytes");
        let cache = small();
        for raw in ["/a.txt", "/b.txt"] {
            read_c(&root, raw, &cache);
            assert_eq!(read_c(&root, raw, &cache), b"public bytes");
        }
        assert_eq!(cache.stats().hits, 2);

        // An absolute link (the slow, canonicalising path refuses it).
        fs::remove_file(&path).unwrap();
        symlink(&secret, &path).unwrap();
        assert_eq!(
            kind_of(open_c(&root, "/a.txt", &cache)),
            Some(ErrorKind::Forbidden)
        );
        // A relative link (openat2's RESOLVE_BENEATH refuses it).
        let b = root.path().join("b.txt");
        fs::remove_file(&b).unwrap();
        let up = format!(
            "../{}/secret.txt",
            outside.path().file_name().unwrap().display()
        );
        symlink(up, &b).unwrap();
        assert_eq!(
            kind_of(open_c(&root, "/b.txt", &cache)),
            Some(ErrorKind::Forbidden)
        );
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.entries), (2, 0));
    }

    #[test]
    fn the_cached_inode_moved_out_of_the_root_is_forbidden() {
        let outside = TempDir::new();
        let root = TempDir::new();
        let path = write_old(&root, "a.txt", b"was public");
        let cache = small();
        read_c(&root, "/a.txt", &cache);
        let before = fs::metadata(&path).unwrap();
        wait_for_a_later_ctime(&path);
        let moved = outside.path().join("a.txt");
        fs::rename(&path, &moved).unwrap();
        symlink(&moved, &path).unwrap();
        let after = fs::metadata(&moved).unwrap();
        assert_eq!(after.ino(), before.ino());
        assert_ne!(
            (after.ctime(), after.ctime_nsec()),
            (before.ctime(), before.ctime_nsec())
        );
        assert_eq!(
            kind_of(open_c(&root, "/a.txt", &cache)),
            Some(ErrorKind::Forbidden)
        );
        assert_eq!(cache.stats().entries, 0);
    }

    #[test]
    fn an_entry_is_used_for_its_own_root_only() {
        // `pub` is a link to a directory outside `base`: as a root of its own it
        // serves, but under `base` it is a link leaving the root.
        let elsewhere = TempDir::new();
        write_old(&elsewhere, "x.txt", b"elsewhere");
        let base = TempDir::new();
        symlink(elsewhere.path(), base.path().join("pub")).unwrap();
        let inner_root = base.path().join("pub");
        let cache = small();
        assert_eq!(
            body(&mut open_in(&inner_root, "/x.txt", &cache).unwrap()),
            b"elsewhere"
        );
        assert_eq!(cache.stats().inserts, 1);
        assert_eq!(
            kind_of(open_in(base.path(), "/pub/x.txt", &cache)),
            Some(ErrorKind::Forbidden)
        );
        assert_eq!(cache.stats().hits, 0);
    }

    #[test]
    fn errors_are_those_of_open() {
        let outside = TempDir::new();
        let secret = write_old(&outside, "secret.txt", b"secret");
        let root = TempDir::new();
        write_old(&root, "docs/index.html", b"x");
        root.mkdir("empty");
        symlink(&secret, root.path().join("leak.txt")).unwrap();
        let cache = small();
        for (raw, kind) in [
            ("/missing.txt", ErrorKind::NotFound),
            ("/docs", ErrorKind::IsDirectory),
            ("/empty/", ErrorKind::NotFound),
            ("/docs/index.html/x", ErrorKind::NotFound),
            ("/leak.txt", ErrorKind::Forbidden),
        ] {
            let safe = resolve_path(root.path(), raw).unwrap();
            assert_eq!(kind_of(StaticFile::open(&safe)), Some(kind), "{raw}");
            for _ in 0..2 {
                assert_eq!(kind_of(open_c(&root, raw, &cache)), Some(kind), "{raw}");
            }
        }
        assert_eq!(cache.stats().inserts, 0);
    }

    #[test]
    fn a_file_that_changed_since_its_metadata_is_not_read_in() {
        let root = TempDir::new();
        let path = write_old(&root, "a.txt", b"0123456789");
        let cache = small();
        let shared = cache.shared.as_ref().unwrap();
        let file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        let (bytes, identity) = read_if_cacheable(shared, &file, &meta).expect("cacheable");
        assert_eq!(&bytes[..], b"0123456789");
        assert_eq!(identity, FileIdentity::from_metadata(&meta));

        // Grown (and aged again) after `meta` was taken: the first 10 bytes still
        // read in full, but the file is no longer the one described.
        fs::write(&path, b"0123456789 and more").unwrap();
        age_by(&path, 0);
        assert!(read_if_cacheable(shared, &file, &meta).is_none());
        // Shrunk: fewer bytes than announced.
        fs::write(&path, b"01234").unwrap();
        age_by(&path, 0);
        let meta = file.metadata().unwrap();
        fs::write(&path, b"012").unwrap();
        assert!(read_if_cacheable(shared, &file, &meta).is_none());
    }

    #[test]
    fn a_recently_modified_file_is_not_cached() {
        let root = TempDir::new();
        root.write("fresh.txt", b"just written");
        let cache = small();
        for _ in 0..3 {
            assert_eq!(read_c(&root, "/fresh.txt", &cache), b"just written");
        }
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.inserts), (0, 3, 0));

        // An mtime in the future is not "quiet" either.
        let future = root.write("future.txt", b"x");
        File::options()
            .write(true)
            .open(&future)
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(3600))
            .unwrap();
        read_c(&root, "/future.txt", &cache);
        read_c(&root, "/future.txt", &cache);
        assert_eq!(cache.stats().inserts, 0);
    }

    #[test]
    fn files_above_the_per_file_limit_are_not_cached() {
        let root = TempDir::new();
        write_old(&root, "big.bin", &pattern(101, 1));
        write_old(&root, "fits.bin", &pattern(100, 2));
        let cache = FileCache::new(10_000, 100);
        for _ in 0..2 {
            assert_eq!(read_c(&root, "/big.bin", &cache), pattern(101, 1));
            assert_eq!(read_c(&root, "/fits.bin", &cache), pattern(100, 2));
        }
        let stats = cache.stats();
        assert_eq!((stats.inserts, stats.hits, stats.misses), (1, 1, 3));
        assert_eq!(stats.bytes, MIN_ENTRY_CHARGE, "100 bytes count as 256");
    }

    #[test]
    fn second_chance_eviction_keeps_used_entries_and_the_budget() {
        let root = TempDir::new();
        for name in ["a", "b", "c", "d", "e"] {
            write_old(&root, name, &[name.as_bytes()[0]; 1000]);
        }
        let cache = FileCache::new(3000, 1000);
        for name in ["/a", "/b", "/c"] {
            read_c(&root, name, &cache);
        }
        assert_eq!(cache.stats().bytes, 3000);
        // a and b are used; c is not.
        read_c(&root, "/a", &cache);
        read_c(&root, "/b", &cache);
        assert_eq!(cache.stats().hits, 2);

        // d does not fit: the sweep evicts c only.
        read_c(&root, "/d", &cache);
        let stats = cache.stats();
        assert_eq!((stats.evictions, stats.inserts, stats.entries), (1, 4, 3));
        assert_eq!(stats.bytes, 3000);
        read_c(&root, "/a", &cache);
        read_c(&root, "/b", &cache);
        read_c(&root, "/d", &cache);
        assert_eq!(cache.stats().hits, 5, "a, b and d survived");
        assert_eq!(read_c(&root, "/c", &cache), [b'c'; 1000]);
        assert_eq!(cache.stats().hits, 5, "c was evicted");

        // The c miss swept: a, b and d lost their flag, none was evicted (all used),
        // and c found no room.
        let stats = cache.stats();
        assert_eq!((stats.evictions, stats.inserts), (1, 4));
        // Now a, b, d are unused: the next insert evicts all three.
        read_c(&root, "/e", &cache);
        let stats = cache.stats();
        assert_eq!((stats.evictions, stats.inserts, stats.entries), (4, 5, 1));
        assert_eq!(stats.bytes, 1000);
        read_c(&root, "/e", &cache);
        assert_eq!(cache.stats().hits, 6);
    }

    #[test]
    fn the_budget_is_never_exceeded() {
        let root = TempDir::new();
        let cache = FileCache::new(5000, 1500);
        for i in 0..40 {
            let len = 100 + i * 37;
            write_old(&root, &format!("f{i}"), &pattern(len, i as u8));
        }
        for round in 0..3 {
            for i in 0..40 {
                let len = 100 + i * 37;
                let raw = format!("/f{i}");
                assert_eq!(read_c(&root, &raw, &cache), pattern(len, i as u8));
                if i % 3 == round {
                    read_c(&root, &raw, &cache);
                }
                assert!(cache.stats().bytes <= 5000, "{:?}", cache.stats());
            }
        }
        let stats = cache.stats();
        assert!(stats.evictions > 0, "{stats:?}");
        assert!(stats.hits > 0, "{stats:?}");
        assert!(stats.entries > 0 && stats.bytes <= 5000, "{stats:?}");
    }

    #[test]
    fn files_with_very_long_paths_are_not_cached() {
        let root = TempDir::new();
        // Longer than the limit altogether, each name within NAME_MAX.
        let long = vec!["d".repeat(100); MAX_KEY_BYTES / 100 + 1].join("/");
        write_old(&root, &format!("{long}/x"), b"deep");
        write_old(&root, "short", b"near");
        let cache = FileCache::new(1 << 20, 1024);
        for _ in 0..2 {
            assert_eq!(read_c(&root, &format!("/{long}/x"), &cache), b"deep");
        }
        assert_eq!(cache.stats().inserts, 0, "{:?}", cache.stats());
        for _ in 0..2 {
            assert_eq!(read_c(&root, "/short", &cache), b"near");
        }
        assert_eq!((cache.stats().inserts, cache.stats().hits), (1, 1));
    }

    #[test]
    fn empty_files_count_against_the_budget() {
        let root = TempDir::new();
        for i in 0..10 {
            write_old(&root, &format!("e{i}"), b"");
        }
        let cache = FileCache::new(1024, 1024);
        for i in 0..10 {
            assert!(read_c(&root, &format!("/e{i}"), &cache).is_empty());
        }
        // Four fit; each sweep then evicts the unused ones.
        let stats = cache.stats();
        assert_eq!((stats.inserts, stats.evictions), (10, 8), "{stats:?}");
        assert_eq!(stats.bytes, stats.entries * MIN_ENTRY_CHARGE, "{stats:?}");
        assert!(stats.bytes <= 1024, "{stats:?}");
    }

    #[test]
    fn a_disabled_cache_never_inserts() {
        let root = TempDir::new();
        write_old(&root, "a.txt", b"old and small");
        for cache in [
            FileCache::disabled(),
            FileCache::default(),
            FileCache::new(MIN_ENTRY_CHARGE - 1, 100),
        ] {
            assert!(!cache.is_enabled());
            for _ in 0..3 {
                let mut file = open_c(&root, "/a.txt", &cache).unwrap();
                assert!(!is_from_memory(&file));
                assert_eq!(body(&mut file), b"old and small");
            }
            assert_eq!(cache.stats(), FileCacheStats::default());
        }
        assert!(small().is_enabled());
        assert!(format!("{:?}", FileCache::disabled()).contains("disabled"));
    }

    #[test]
    fn concurrent_readers_see_whole_versions_only() {
        const LEN: usize = 4096;
        const VERSIONS: u8 = 40;
        let root = Arc::new(TempDir::new());
        write_old(&root, "hot.txt", &[b'A'; LEN]);
        for i in 0..8 {
            write_old(&root, &format!("cold{i}.txt"), &pattern(1000 + i, i as u8));
        }
        let cache = Arc::new(FileCache::new(1 << 20, 64 << 10));
        let stop = Arc::new(AtomicBool::new(false));
        // Reads done by all readers; the writer lets some happen between versions.
        let n_reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));

        let writer = {
            let root = Arc::clone(&root);
            let stop = Arc::clone(&stop);
            let n_reads = Arc::clone(&n_reads);
            thread::spawn(move || {
                for v in 1..VERSIONS {
                    // Every other version is old (cacheable), the others recent.
                    let tmp = root.write(&format!("hot.tmp{v}"), &[b'A' + v; LEN]);
                    if v % 2 == 0 {
                        age_by(&tmp, u64::from(v));
                    }
                    fs::rename(&tmp, root.path().join("hot.txt")).unwrap();
                    let seen = n_reads.load(Ordering::Relaxed);
                    // Bounded, so a reader that panicked cannot hang the test.
                    let give_up = std::time::Instant::now() + Duration::from_secs(5);
                    while n_reads.load(Ordering::Relaxed) < seen + 6
                        && std::time::Instant::now() < give_up
                    {
                        thread::yield_now();
                    }
                }
                stop.store(true, Ordering::Relaxed);
            })
        };
        let readers: Vec<_> = (0..6)
            .map(|t| {
                let root = Arc::clone(&root);
                let cache = Arc::clone(&cache);
                let stop = Arc::clone(&stop);
                let n_reads = Arc::clone(&n_reads);
                thread::spawn(move || {
                    let mut reads = 0;
                    while !stop.load(Ordering::Relaxed) || reads < 50 {
                        let got = read_c(&root, "/hot.txt", &cache);
                        assert_eq!(got.len(), LEN);
                        let first = got[0];
                        assert!((b'A'..b'A' + VERSIONS).contains(&first));
                        assert!(got.iter().all(|&b| b == first), "mixed versions");
                        let i = (reads + t) % 8;
                        let cold = read_c(&root, &format!("/cold{i}.txt"), &cache);
                        assert_eq!(cold, pattern(1000 + i, i as u8));
                        reads += 1;
                        n_reads.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for reader in readers {
            reader.join().unwrap();
        }
        let last = [b'A' + VERSIONS - 1; LEN];
        assert_eq!(read_c(&root, "/hot.txt", &cache), last);
        assert_eq!(read_c(&root, "/hot.txt", &cache), last);
        let stats = cache.stats();
        assert!(stats.hits > 0 && stats.inserts > 8, "{stats:?}");
    }
}
