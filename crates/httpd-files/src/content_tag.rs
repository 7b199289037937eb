//! Entity-tags from a file's bytes (`--etag content`): a 128-bit hash of the contents,
//! computed once per file version and kept in a bounded cache keyed by the file's
//! [`FileIdentity`].
//!
//! The hash is SipHash-2-4 with 128-bit output (J.-P. Aumasson and D. J. Bernstein,
//! "SipHash: a fast short-input PRF", INDOCRYPT 2012; the 128-bit variant is the
//! reference implementation's `outlen = 16` mode, checked here against its published
//! test vectors), under a fixed key, so a tag depends on the bytes alone: the same on
//! every restart and every server of a fleet. It runs at about 1 to 2 GB/s, and a
//! file is hashed once per version. It is not meant to resist someone who crafts
//! collisions on purpose: only the site's operator puts files in the root.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;

use crate::identity::FileIdentity;
use crate::static_file::StaticFile;

/// How many tags [`ContentTags::default`] keeps (each entry takes about 80 bytes).
pub const DEFAULT_MAX_CONTENT_TAGS: usize = 65_536;

/// A file whose status changed more recently than this may change again within the
/// same timestamp tick, unseen; its tag is computed but not kept.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// The SipHash key: fixed, so that tags are the same in every process.
const KEY: [u8; 16] = *b"httpd content v1";

/// How many bytes [`ContentTags::compute`] reads at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// A strong entity-tag computed from a file's bytes: `"c-<32 hex digits>"`.
///
/// # Examples
/// ```
/// use httpd_files::ContentTag;
///
/// let tag = ContentTag::of_bytes(b"hello");
/// assert_eq!(tag, ContentTag::of_bytes(b"hello"));
/// assert_ne!(tag, ContentTag::of_bytes(b"hellp"));
/// let etag = tag.to_etag();
/// assert!(etag.starts_with("\"c-") && etag.ends_with('"'));
/// assert_eq!(etag.len(), 2 + 2 + 32);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentTag([u8; 16]);

impl ContentTag {
    /// Computes the tag of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> ContentTag {
        let mut hasher = SipHasher128::new(&KEY);
        hasher.write(bytes);
        ContentTag(hasher.finish())
    }

    /// Returns the 128-bit hash.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Returns the quoted strong entity-tag, `"c-<32 lowercase hex digits>"`, as the
    /// `ETag` field carries it (RFC 9110 section 8.8.3).
    pub fn to_etag(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ContentTag {
    /// Writes the quoted entity-tag, `"c-<32 hex digits>"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"c-")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str("\"")
    }
}

impl fmt::Debug for ContentTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentTag({self})")
    }
}

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
                let mut hasher = SipHasher128::new(&KEY);
                let chunk = usize::try_from(file.len())
                    .map_or(READ_CHUNK_BYTES, |len| len.clamp(1, READ_CHUNK_BYTES));
                let mut buf = vec![0u8; chunk];
                let mut offset = 0;
                while offset < file.len() {
                    let n = file.read_at(offset, &mut buf)?;
                    hasher.write(&buf[..n]);
                    offset += n as u64;
                }
                ContentTag(hasher.finish())
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

/// SipHash-2-4 with 128-bit output, fed incrementally.
///
/// Per the reference implementation (`siphash.c`, `outlen == 16`): `v1 ^= 0xee` at
/// the start, `v2 ^= 0xee` before the first finalization, then `v1 ^= 0xdd` and four
/// more rounds for the second 64-bit half; each half is written little-endian.
struct SipHasher128 {
    v: [u64; 4],
    /// Bytes not yet making up a whole 8-byte word.
    tail: [u8; 8],
    tail_len: usize,
    /// Total bytes written; only its low byte enters the hash.
    len: u64,
}

impl SipHasher128 {
    fn new(key: &[u8; 16]) -> SipHasher128 {
        let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
        SipHasher128 {
            v: [
                0x736f_6d65_7073_6575 ^ k0,
                0x646f_7261_6e64_6f6d ^ k1 ^ 0xee,
                0x6c79_6765_6e65_7261 ^ k0,
                0x7465_6462_7974_6573 ^ k1,
            ],
            tail: [0; 8],
            tail_len: 0,
            len: 0,
        }
    }

    fn write(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 8 {
                return;
            }
            self.compress(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.compress(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.round();
        self.v[0] ^= m;
    }

    fn finish(mut self) -> [u8; 16] {
        let mut last = [0u8; 8];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        // The message length modulo 256 goes in the top byte.
        last[7] = self.len as u8;
        self.compress(u64::from_le_bytes(last));
        self.v[2] ^= 0xee;
        for _ in 0..4 {
            self.round();
        }
        let low = self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3];
        self.v[1] ^= 0xdd;
        for _ in 0..4 {
            self.round();
        }
        let high = self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3];
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&low.to_le_bytes());
        out[8..].copy_from_slice(&high.to_le_bytes());
        out
    }

    fn round(&mut self) {
        let [v0, v1, v2, v3] = &mut self.v;
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::time::UNIX_EPOCH;

    use httpd_security::resolve_path;

    use super::*;
    use crate::root::Root;
    use crate::test_util::{TempDir, wait_for_a_later_ctime};
    use crate::{FileCache, Validators};

    /// SipHash-2-4-128 of the messages `00`, `00 01`, ... under the key `00 01 .. 0f`:
    /// `vectors_sip128` of the reference implementation's `vectors.h`, by length.
    const REFERENCE: &[(usize, &str)] = &[
        (0, "a3817f04ba25a8e66df67214c7550293"),
        (1, "da87c1d86b99af44347659119b22fc45"),
        (2, "8177228da4a45dc7fca38bdef60affe4"),
        (3, "9c70b60c5267a94e5f33b6b02985ed51"),
        (4, "f88164c12d9c8faf7d0f6e7c7bcd5579"),
        (5, "1368875980776f8854527a07690e9627"),
        (6, "14eeca338b208613485ea0308fd7a15e"),
        (7, "a1f1ebbed8dbc153c0b84aa61ff08239"),
        (8, "3b62a9ba6258f5610f83e264f31497b4"),
        (9, "264499060ad9baabc47f8b02bb6d71ed"),
        (10, "00110dc378146956c95447d3f3d0fbba"),
        (11, "0151c568386b6677a2b4dc6f81e5dc18"),
        (12, "d626b266905ef35882634df68532c125"),
        (13, "9869e247e9c08b10d029934fc4b952f7"),
        (14, "31fcefac66d7de9c7ec7485fe4494902"),
        (15, "5493e99933b0a8117e08ec0f97cfc3d9"),
        (16, "6ee2a4ca67b054bbfd3315bf85230577"),
        (63, "5150d1772f50834a503e069a973fbd7c"),
    ];

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn reference_key() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn siphash_matches_the_reference_vectors() {
        let message: Vec<u8> = (0..64u8).collect();
        for &(len, expected) in REFERENCE {
            let mut hasher = SipHasher128::new(&reference_key());
            hasher.write(&message[..len]);
            assert_eq!(hex(&hasher.finish()), expected, "length {len}");
        }
    }

    #[test]
    fn feeding_in_pieces_gives_the_one_shot_hash() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        let mut one = SipHasher128::new(&KEY);
        one.write(&data);
        let expected = one.finish();
        for pieces in [
            [1, 7, 9, 16, 3, 100],
            [8, 8, 8, 1, 1, 1],
            [5, 3, 13, 64, 2, 200],
        ] {
            let mut hasher = SipHasher128::new(&KEY);
            let (mut at, mut i) = (0, 0);
            while at < data.len() {
                let take = pieces[i % pieces.len()].min(data.len() - at);
                hasher.write(&data[at..at + take]);
                at += take;
                i += 1;
            }
            assert_eq!(hasher.finish(), expected, "{pieces:?}");
        }
    }

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

    #[test]
    fn validators_carry_the_content_tag_through_codings() {
        let tag = ContentTag([0xab; 16]);
        let hex = "ab".repeat(16);
        assert_eq!(tag.to_etag(), format!("\"c-{hex}\""));
        let modified = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let validators = Validators::new(5, Some(modified), 9).with_content_tag(&tag);
        assert_eq!(validators.etag(), format!("\"c-{hex}\""));
        assert_eq!(
            validators.etag_for(httpd_proto::Coding::Gzip),
            format!("\"c-{hex}-gz\"")
        );
        assert_eq!(validators.last_modified(), Some(modified));
        // The conditional-request logic works with it unchanged.
        let conditions = crate::Conditions {
            if_none_match: Some(validators.etag().as_bytes()),
            ..Default::default()
        };
        assert_eq!(
            crate::evaluate(true, &conditions, validators.etag(), None),
            crate::Precondition::NotModified
        );
    }
}
