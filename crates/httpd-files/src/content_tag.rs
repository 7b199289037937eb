//! Entity-tags from a file's bytes (`--etag content`): a 128-bit hash of the contents,
//! computed once per file version and kept in a bounded cache keyed by the file's
//! [`FileIdentity`].
//!
//! The tag itself, and the hash it is made of, are [`ContentTag`]'s (module `tag`).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;

use crate::identity::FileIdentity;
use crate::static_file::StaticFile;
use crate::tag::ContentTag;

/// How many tags [`ContentTags::default`] keeps (each entry takes about 80 bytes).
pub const DEFAULT_MAX_CONTENT_TAGS: usize = 65_536;

/// A file whose status changed more recently than this may change again within the
/// same timestamp tick, unseen; its tag is computed but not kept.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// How many bytes [`ContentTags::compute`] reads at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Content tags of files, computed once per file version, shared by every thread.
///
/// Entries are keyed by [`FileIdentity`] (device, inode, size, mtime, ctime), so a
/// changed file, even one given back its old size and mtime, is a new key and gets a
/// new tag, and the stale entry is never used again. A tag is kept only when the
/// file's status has not changed for two seconds (a change within the same timestamp
/// tick would not be seen, as the [`FileCache`](crate::FileCache) does for its
/// contents); a file changed more recently is hashed on each
/// [`compute`](Self::compute).
///
/// The poller asks [`cached`](Self::cached) (a read lock and a hash lookup, no I/O);
/// on a miss, a worker calls [`compute`](Self::compute), which reads the whole file.
/// At most `max_entries` tags are kept: when full, a "second chance" sweep drops
/// every tag not asked for since the previous sweep, or all of them if each was.
///
/// # Examples
/// ```no_run
/// use std::path::Path;
///
/// use httpd_files::{ContentTags, Root};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tags = ContentTags::default();
/// let root = Root::at(Path::new("resources"))?;
/// let file = root.open(&httpd_security::resolve_path(Path::new("resources"), "/index.html")?)?;
/// // On the poller: answer from the cache, or hand the request to a worker.
/// let tag = match tags.cached(&file.identity()) {
///     Some(tag) => tag,
///     // On a worker (reads the whole file).
///     None => tags.compute(&file)?,
/// };
/// // The conditional-request logic is unchanged: it sees the content tag.
/// let validators = file.validators().with_content_tag(&tag);
/// assert_eq!(validators.etag(), tag.to_etag());
/// # Ok(())
/// # }
/// ```
pub struct ContentTags {
    max_entries: usize,
    /// How long a file's status must have been unchanged for its tag to be kept.
    racy_window: Duration,
    entries: RwLock<HashMap<FileIdentity, Slot>>,
}

/// One kept tag.
struct Slot {
    tag: ContentTag,
    /// Set by a lookup, cleared by an eviction sweep.
    used: AtomicBool,
}

impl ContentTags {
    /// Creates a cache keeping at most `max_entries` tags (0 keeps none: every
    /// [`compute`](Self::compute) hashes the file).
    pub fn new(max_entries: usize) -> ContentTags {
        ContentTags {
            max_entries,
            racy_window: RACY_WINDOW,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Returns the tag kept for the file version `identity`, without blocking on
    /// anything but a read lock; `None` when it must be [computed](Self::compute).
    pub fn cached(&self, identity: &FileIdentity) -> Option<ContentTag> {
        let entries = self.entries.read();
        let slot = entries.get(identity)?;
        slot.used.store(true, Ordering::Relaxed);
        Some(slot.tag)
    }

    /// Returns the tag of `file`'s bytes: the kept one, or one computed now by
    /// reading the whole file (exactly its opened [`len`](StaticFile::len)), which
    /// blocks on the disk: call it on a worker.
    ///
    /// The tag is kept under [`file.identity()`](StaticFile::identity) when the file
    /// did not change while it was read (its handle's identity is the same after)
    /// and its status has been unchanged for two seconds. A file changed meanwhile
    /// gets the tag of the bytes read, not kept.
    ///
    /// # Errors
    /// The `io::Error` of a read, `UnexpectedEof` if the file shrank.
    pub fn compute(&self, file: &StaticFile) -> io::Result<ContentTag> {
        let identity = file.identity();
        if let Some(tag) = self.cached(&identity) {
            return Ok(tag);
        }
        let tag = match file.cached_bytes() {
            Some(bytes) => ContentTag::of_bytes(bytes),
            None => {
                let mut hasher = ContentTag::hasher();
                let chunk = usize::try_from(file.len())
                    .map_or(READ_CHUNK_BYTES, |len| len.clamp(1, READ_CHUNK_BYTES));
                let mut buf = vec![0u8; chunk];
                let mut offset = 0;
                while offset < file.len() {
                    let n = file.read_at(offset, &mut buf)?;
                    hasher.write(&buf[..n]);
                    offset += n as u64;
                }
                hasher.finish_tag()
            }
        };
        let unchanged = file.current_identity() == Some(identity);
        if unchanged && identity.is_settled(self.racy_window, SystemTime::now()) {
            self.insert(identity, tag);
        }
        Ok(tag)
    }

    /// Returns how many tags are kept.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// Tells whether no tag is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps `tag` for `identity`, making room first if full.
    fn insert(&self, identity: FileIdentity, tag: ContentTag) {
        if self.max_entries == 0 {
            return;
        }
        let mut entries = self.entries.write();
        if entries.len() >= self.max_entries && !entries.contains_key(&identity) {
            entries.retain(|_, slot| slot.used.swap(false, Ordering::Relaxed));
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(
            identity,
            Slot {
                tag,
                used: AtomicBool::new(false),
            },
        );
    }
}

impl Default for ContentTags {
    /// Keeps at most [`DEFAULT_MAX_CONTENT_TAGS`] tags.
    fn default() -> ContentTags {
        ContentTags::new(DEFAULT_MAX_CONTENT_TAGS)
    }
}

impl fmt::Debug for ContentTags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentTags")
            .field("max_entries", &self.max_entries)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::time::UNIX_EPOCH;

    use httpd_security::resolve_path;

    use super::*;
    use crate::FileCache;
    use crate::root::Root;
    use crate::test_util::{TempDir, wait_for_a_later_ctime};

    /// `TempDir` file `rel` with `contents` and an mtime of 1 s after the epoch.
    fn write_at_one_second(dir: &TempDir, rel: &str, contents: &[u8]) {
        let path = dir.write(rel, contents);
        File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_secs(1)))
            .unwrap();
    }

    fn open(dir: &TempDir, raw: &str) -> StaticFile {
        let root = Root::at(dir.path()).unwrap();
        root.open(&resolve_path(dir.path(), raw).unwrap()).unwrap()
    }

    /// A cache that keeps tags of files changed just now, as if two seconds had
    /// passed.
    fn settled_cache() -> ContentTags {
        let mut tags = ContentTags::new(100);
        tags.racy_window = Duration::ZERO;
        tags
    }

    #[test]
    fn tags_follow_the_bytes_not_the_metadata() {
        let dir = TempDir::new();
        write_at_one_second(&dir, "a.txt", b"aaaa");
        write_at_one_second(&dir, "b.txt", b"bbbb");
        write_at_one_second(&dir, "copy-of-a.txt", b"aaaa");
        let tags = settled_cache();
        let (a, b, copy) = (
            open(&dir, "/a.txt"),
            open(&dir, "/b.txt"),
            open(&dir, "/copy-of-a.txt"),
        );
        assert_eq!(a.len(), b.len());
        assert_eq!(a.modified(), b.modified());
        let tag_a = tags.compute(&a).unwrap();
        assert_ne!(tag_a, tags.compute(&b).unwrap(), "same size and mtime");
        assert_eq!(
            tag_a,
            tags.compute(&copy).unwrap(),
            "same bytes, other inode"
        );
        assert_eq!(tag_a, ContentTag::of_bytes(b"aaaa"));
        assert_eq!(tags.len(), 3);
    }

    #[test]
    fn a_tag_is_computed_once_per_version_and_anew_after_a_change() {
        let dir = TempDir::new();
        write_at_one_second(&dir, "page.html", b"version 1");
        let tags = settled_cache();
        let first = open(&dir, "/page.html");
        assert_eq!(tags.cached(&first.identity()), None);
        let tag1 = tags.compute(&first).unwrap();
        assert_eq!(tags.cached(&first.identity()), Some(tag1));
        assert_eq!(
            tags.cached(&open(&dir, "/page.html").identity()),
            Some(tag1)
        );

        // Same size, same mtime, same inode: only the ctime tells.
        wait_for_a_later_ctime(&dir.path().join("page.html"));
        write_at_one_second(&dir, "page.html", b"version 2");
        let second = open(&dir, "/page.html");
        assert_eq!(second.modified(), first.modified());
        assert_eq!(tags.cached(&second.identity()), None);
        let tag2 = tags.compute(&second).unwrap();
        assert_ne!(tag1, tag2);
        assert_eq!(tag2, ContentTag::of_bytes(b"version 2"));
        assert_eq!(tags.cached(&second.identity()), Some(tag2));
    }

    #[test]
    fn recently_changed_files_are_hashed_but_not_kept() {
        let dir = TempDir::new();
        dir.write("new.txt", b"just written");
        let tags = ContentTags::default();
        let file = open(&dir, "/new.txt");
        assert_eq!(
            tags.compute(&file).unwrap(),
            ContentTag::of_bytes(b"just written")
        );
        assert_eq!(tags.cached(&file.identity()), None);
        assert!(tags.is_empty());
    }

    #[test]
    fn a_file_changed_while_hashed_is_not_kept() {
        let dir = TempDir::new();
        let path = dir.write("a.bin", &[1; 300_000]);
        let tags = settled_cache();
        let file = open(&dir, "/a.bin");
        wait_for_a_later_ctime(&path);
        fs::write(&path, [2; 300_000]).unwrap();
        tags.compute(&file).unwrap();
        assert_eq!(tags.cached(&file.identity()), None);
    }

    #[test]
    fn cached_file_bytes_and_large_files_hash_like_their_contents() {
        let dir = TempDir::new();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        write_at_one_second(&dir, "big.bin", &big);
        write_at_one_second(&dir, "empty.txt", b"");
        let tags = settled_cache();
        assert_eq!(
            tags.compute(&open(&dir, "/big.bin")).unwrap(),
            ContentTag::of_bytes(&big)
        );
        assert_eq!(
            tags.compute(&open(&dir, "/empty.txt")).unwrap(),
            ContentTag::of_bytes(b"")
        );
        // A file served from the file cache: the same tag from the bytes in memory.
        let cache = FileCache::new(1 << 20, 1 << 20);
        let root = Root::at(dir.path()).unwrap();
        let path = resolve_path(dir.path(), "/big.bin").unwrap();
        root.open_cached(&path, &cache).unwrap();
        let hit = root.from_cache(&path, &cache).expect("a cache hit");
        assert!(hit.cached_bytes().is_some());
        assert_eq!(
            ContentTags::new(10).compute(&hit).unwrap(),
            ContentTag::of_bytes(&big)
        );
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let tags = ContentTags::new(4);
        let identity = |ino| FileIdentity {
            dev: 1,
            ino,
            size: 1,
            mtime: (1, 0),
            ctime: (1, 0),
        };
        for ino in 0..4 {
            tags.insert(identity(ino), ContentTag::of_bytes(&ino.to_le_bytes()));
        }
        // Asked for since: kept by the sweep.
        assert!(tags.cached(&identity(0)).is_some());
        tags.insert(identity(10), ContentTag::of_bytes(b"x"));
        assert_eq!(tags.len(), 2);
        assert!(tags.cached(&identity(0)).is_some());
        assert!(tags.cached(&identity(10)).is_some());
        for ino in 20..100 {
            tags.insert(identity(ino), ContentTag::of_bytes(b"y"));
            assert!(tags.len() <= 4);
        }
        let none = ContentTags::new(0);
        none.insert(identity(1), ContentTag::of_bytes(b"z"));
        assert!(none.is_empty());
    }
}
