//! The document root: a directory opened once and opened again when it is replaced,
//! and every path operation the server needs, each resolved beneath it.
//!
//! A [`DocRoot`] holds the root *as configured* (`/srv/current`, a link, is kept as
//! such) and a descriptor of the directory it named when last checked. At most every
//! [`ROOT_RECHECK`] a request stats the configured path again (one `stat(2)`,
//! following links); when the device or inode differ from the held descriptor's, the
//! path is opened again and later requests are served from the new tree. So both
//! atomic deployments are seen within that interval: a link flipped
//! (`ln -sfn releases/42 current.tmp && mv -T current.tmp current`) and a directory
//! renamed over (`mv site site.old && mv site.new site`). While the path cannot be
//! opened (between the two `mv`), the tree opened before keeps being served.
//!
//! A request takes one [`Root`] with [`DocRoot::current`] and does all its work
//! through it, so it sees one tree from start to end even when a swap lands in the
//! middle. Each operation of a [`Root`] ([`open`](Root::open),
//! [`open_cached`](Root::open_cached), [`probe`](Root::probe),
//! [`list_dir`](Root::list_dir), [`find_precompressed`](Root::find_precompressed))
//! resolves its path beneath the root's descriptor (see `beneath.rs`): a link that
//! leads out of the root is [`Forbidden`](ErrorKind::Forbidden), whatever the
//! operation, so no answer tells what lies outside.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use httpd_security::SafePath;
use parking_lot::RwLock;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::beneath::open_beneath;
use crate::error::{ErrorKind, ServeError, open_error};

/// How often, at most, [`DocRoot::current`] checks whether the configured root path
/// now names another directory (100 ms).
pub const ROOT_RECHECK: Duration = Duration::from_millis(100);

/// The document root as configured, re-opened when the directory it names is
/// replaced.
///
/// It keeps the path as given (`/srv/current`, a link, stays a link) and a descriptor
/// of the directory it named when last checked. At most every [`ROOT_RECHECK`],
/// [`current`](Self::current) stats the path again (one `stat(2)`, following links);
/// when device or inode differ from the held directory's, the path is opened again and
/// later requests are served from the new tree. Both atomic deployments are thus seen
/// within that interval: a link flipped (`ln -sfn releases/42 current`, done as
/// `ln -s` + `mv -T`) and a directory renamed over (`mv site site.old && mv site.new
/// site`). While the path cannot be opened (between the two `mv`), the tree held keeps
/// being served.
///
/// A request takes one [`Root`] from [`current`](Self::current) and does all its work
/// through it, so it sees one tree from start to end even when a swap lands meanwhile.
///
/// # Examples
/// ```no_run
/// use std::path::Path;
///
/// use httpd_files::{DocRoot, Kind};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let doc_root = DocRoot::open(Path::new("/srv/current"))?;
/// // One snapshot per request.
/// let root = doc_root.current();
/// let path = httpd_security::resolve_path(Path::new("/srv/current"), "/docs")?;
/// assert_eq!(root.probe(&path)?, Kind::Dir);
/// # Ok(())
/// # }
/// ```
pub struct DocRoot {
    /// The path as configured, never canonicalised, so a link in it is followed
    /// anew at every check.
    path: PathBuf,
    recheck: Duration,
    /// The directory the path named at the last check.
    current: RwLock<Root>,
    /// The origin of `next_check_ms`.
    epoch: Instant,
    /// Milliseconds after `epoch` from which the next call to `current` checks.
    next_check_ms: AtomicU64,
    /// Set while the path cannot be opened, so that this is logged once, not at
    /// every check.
    unreachable: AtomicBool,
}

/// What a path names, from [`Root::probe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// One entry of a directory listing, from [`Root::list_dir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name, never starting with a dot.
    pub name: String,
    /// Whether it is a directory (else it is a regular file).
    pub is_dir: bool,
    /// The file's size in bytes; 0 for a directory.
    pub size: u64,
    /// The modification time, if it can be expressed.
    pub modified: Option<SystemTime>,
}

/// One document root directory, held open: what a request works under.
///
/// Cloning is cheap (a reference count). Get one from [`DocRoot::current`], or open
/// one for a fixed directory with [`Root::at`].
#[derive(Clone)]
pub struct Root {
    dir: Arc<RootDir>,
}

/// The open root directory and what identifies it.
struct RootDir {
    fd: OwnedFd,
    /// The directory's canonical path when it was opened: an absolute link is followed
    /// only when it names a place under it.
    canonical: PathBuf,
    /// Device and inode of `fd`.
    id: (u64, u64),
}

impl DocRoot {
    /// Opens the directory `path` names (following links) and keeps `path` itself to
    /// check it again at most every [`ROOT_RECHECK`].
    ///
    /// # Errors
    /// The `io::Error` of opening `path` as a directory.
    pub fn open(path: &Path) -> io::Result<DocRoot> {
        DocRoot::open_with_recheck(path, ROOT_RECHECK)
    }

    /// Like [`open`](Self::open), checking `path` again at most every `recheck`
    /// (`Duration::ZERO`: at every [`current`](Self::current)).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_recheck(path: &Path, recheck: Duration) -> io::Result<DocRoot> {
        let root = Root::at(path)?;
        Ok(DocRoot {
            path: path.to_path_buf(),
            recheck,
            current: RwLock::new(root),
            epoch: Instant::now(),
            next_check_ms: AtomicU64::new(0),
            unreachable: AtomicBool::new(false),
        })
    }

    /// Returns the root path as configured.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the root to serve a request from: the directory the configured path
    /// names, as checked at most [`ROOT_RECHECK`] ago.
    ///
    /// The first call after the interval stats the path (one system call) and, if it
    /// names another directory than the one held, opens that one; concurrent calls
    /// meanwhile get the one held. If the path cannot be opened, the directory held is
    /// kept (logged once at `warn`).
    pub fn current(&self) -> Root {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let due_ms = self.next_check_ms.load(Ordering::Relaxed);
        if now_ms >= due_ms {
            let interval_ms = u64::try_from(self.recheck.as_millis()).unwrap_or(u64::MAX);
            let next_ms = now_ms.saturating_add(interval_ms);
            // One caller checks; the others go on with the root held.
            let won = self
                .next_check_ms
                .compare_exchange(due_ms, next_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
            if won {
                self.check();
            }
        }
        self.current.read().clone()
    }

    /// Opens the configured path again if it names another directory now.
    fn check(&self) {
        let held = self.current.read().clone();
        let named = rustix::fs::stat(&self.path).map(|st| (st.st_dev, st.st_ino));
        let opened = match named {
            Ok(id) if id == held.dir.id => {
                self.unreachable.store(false, Ordering::Relaxed);
                return;
            }
            Ok(_) => Root::at(&self.path),
            Err(e) => Err(e.into()),
        };
        match opened {
            Ok(root) => {
                log::info!(
                    "document root {:?} replaced: now serving {:?}",
                    self.path,
                    root.path()
                );
                self.unreachable.store(false, Ordering::Relaxed);
                *self.current.write() = root;
            }
            Err(e) => {
                if !self.unreachable.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "document root {:?} cannot be opened ({e}); still serving {:?}",
                        self.path,
                        held.path()
                    );
                }
            }
        }
    }
}

impl fmt::Debug for DocRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocRoot")
            .field("path", &self.path)
            .field("current", &*self.current.read())
            .finish()
    }
}

impl Root {
    /// Opens the directory at `path` (following links) as a root.
    ///
    /// # Errors
    /// The `io::Error` of opening `path` as a directory.
    pub fn at(path: &Path) -> io::Result<Root> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty())?;
        let stat = rustix::fs::fstat(&fd)?;
        let canonical = canonical_path(&fd, path)?;
        Ok(Root {
            dir: Arc::new(RootDir {
                fd,
                canonical,
                id: (stat.st_dev, stat.st_ino),
            }),
        })
    }

    /// Returns the root directory's canonical path when it was opened.
    pub fn path(&self) -> &Path {
        &self.dir.canonical
    }

    /// Tells what `path` names: a regular file or a directory, after following links
    /// beneath the root. A directory-form path names the directory itself, not its
    /// index, and only a directory.
    ///
    /// # Errors
    /// `NotFound` when nothing is there (or a component is not a directory, or a
    /// directory-form path names a file),
    /// `Forbidden` when a link leads out of the root, when a directory on the way may
    /// not be searched, or when it names something else (a FIFO, a device, a
    /// socket); `Io` for other failures.
    ///
    /// # Examples
    /// ```no_run
    /// use std::path::Path;
    ///
    /// use httpd_files::{ErrorKind, Kind, Root};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let root = Root::at(Path::new("resources"))?;
    /// let dir = httpd_security::resolve_path(Path::new("resources"), "/uploads")?;
    /// assert_eq!(root.probe(&dir)?, Kind::Dir);
    /// let missing = httpd_security::resolve_path(Path::new("resources"), "/nope")?;
    /// assert_eq!(root.probe(&missing).unwrap_err().kind(), ErrorKind::NotFound);
    /// # Ok(())
    /// # }
    /// ```
    pub fn probe(&self, path: &SafePath) -> Result<Kind, ServeError> {
        let full = path.as_path();
        let flags = if path.is_dir_form() {
            OFlags::PATH | OFlags::DIRECTORY
        } else {
            OFlags::PATH
        };
        let fd = self
            .open_fd(path.relative(), flags)
            .map_err(|e| open_error(full, e.into()))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| open_error(full, e.into()))?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Ok(Kind::File),
            FileType::Directory => Ok(Kind::Dir),
            _ => Err(ServeError::new(full, ErrorKind::Forbidden)),
        }
    }

    /// Lists the directory `path` names, sorted by name.
    ///
    /// Left out: names starting with a dot (never served), names that are not UTF-8
    /// (no request can name them), and entries that are neither regular files nor
    /// directories. A link is shown as what it leads to when that lies beneath the
    /// root; a link that leads out of the root, dangles or loops is left out, and its
    /// target is never looked at beyond the root's edge, so the listing tells nothing
    /// about what lies outside.
    ///
    /// # Errors
    /// As [`probe`](Self::probe); `NotFound` also when `path` names a file.
    pub fn list_dir(&self, path: &SafePath) -> Result<Vec<DirEntry>, ServeError> {
        let full = path.as_path();
        let fail = |e: rustix::io::Errno| open_error(full, e.into());
        let relative = path.relative().trim_end_matches('/');
        let fd = self
            .open_fd(relative, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(fail)?;
        let mut dir = rustix::fs::Dir::new(fd).map_err(fail)?;
        let mut entries = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(fail)?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let dir_fd = dir.fd().map_err(fail)?;
            // The entry may vanish meanwhile; it is then not listed.
            let Ok(mut stat) = rustix::fs::statat(dir_fd, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
                let linked = if relative.is_empty() {
                    name.to_string()
                } else {
                    format!("{relative}/{name}")
                };
                let target = self
                    .open_fd(&linked, OFlags::PATH)
                    .and_then(rustix::fs::fstat);
                match target {
                    Ok(target) => stat = target,
                    Err(e) => {
                        log::debug!("not listing {linked:?}: {e}");
                        continue;
                    }
                }
            }
            let is_dir = match FileType::from_raw_mode(stat.st_mode) {
                FileType::RegularFile => false,
                FileType::Directory => true,
                _ => continue,
            };
            entries.push(DirEntry {
                name: name.to_string(),
                is_dir,
                size: if is_dir {
                    0
                } else {
                    u64::try_from(stat.st_size).unwrap_or(0)
                },
                modified: system_time(stat.st_mtime, stat.st_mtime_nsec),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Opens `relative` beneath the root with `flags`.
    pub(crate) fn open_fd(&self, relative: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        open_beneath(self.dir.fd.as_fd(), &self.dir.canonical, relative, flags)
    }

    /// Opens `relative` beneath the root as a file to read, without blocking on a FIFO.
    pub(crate) fn open_file(&self, relative: &str) -> rustix::io::Result<File> {
        // Non-blocking mode does not change reads of a regular file.
        self.open_fd(relative, OFlags::RDONLY | OFlags::NONBLOCK)
            .map(File::from)
    }

    /// Returns the root directory's descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.dir.fd.as_fd()
    }

    /// Returns the device and inode of the root directory.
    pub(crate) fn id(&self) -> (u64, u64) {
        self.dir.id
    }
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Root")
            .field("path", &self.dir.canonical)
            .field("fd", &self.dir.fd.as_raw_fd())
            .finish()
    }
}

/// Returns the canonical path of the directory open as `fd`, which `path` named.
fn canonical_path(fd: &OwnedFd, path: &Path) -> io::Result<PathBuf> {
    // The kernel's name for the very directory opened: canonicalising `path` again
    // could meet another directory swapped in meanwhile.
    let proc = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    match std::fs::read_link(proc) {
        Ok(name) if name.is_absolute() => Ok(name),
        _ => std::fs::canonicalize(path),
    }
}

/// Converts a `stat` time to a `SystemTime`; `None` if it cannot be expressed.
fn system_time(secs: i64, nanos: impl TryInto<u32>) -> Option<SystemTime> {
    let nanos = nanos.try_into().ok().filter(|n| *n < 1_000_000_000)?;
    match u64::try_from(secs) {
        Ok(secs) => UNIX_EPOCH.checked_add(Duration::new(secs, nanos)),
        Err(_) => UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
            .checked_add(Duration::new(0, nanos)),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use httpd_security::resolve_path;

    use super::*;
    use crate::FileCache;
    use crate::beneath::tests::walk_only;
    use crate::test_util::TempDir;

    /// Runs `f` once with `openat2` and once with the fallback walk.
    fn both_ways(mut f: impl FnMut(&str)) {
        f("openat2");
        walk_only(|| f("walk"));
    }

    fn safe(root: &Path, raw: &str) -> SafePath {
        resolve_path(root, raw).expect("test paths are safe")
    }

    fn read(root: &Root, base: &Path, raw: &str) -> Result<Vec<u8>, ErrorKind> {
        let mut file = root.open(&safe(base, raw)).map_err(|e| e.kind())?;
        let mut out = Vec::new();
        file.send_to(&mut out).expect("send");
        Ok(out)
    }

    /// A root with files, directories, links of every kind and a FIFO, and the
    /// directory outside it that some links lead to.
    fn fixture() -> (TempDir, TempDir) {
        let outside = TempDir::new();
        outside.write("ssl/openssl.cnf", b"outside");
        outside.mkdir("ssl/private");
        let root = TempDir::new();
        root.write("a.txt", b"alpha");
        root.write("dir/b.txt", b"beta!");
        root.mkdir("dir/sub");
        root.write("dir/.hidden.txt", b"x");
        root.write("empty/.keep", b"");
        root.symlink(outside.path(), "etclink");
        root.symlink(outside.path().join("ssl/openssl.cnf"), "dir/out.txt");
        root.symlink("../a.txt", "dir/in.txt");
        root.symlink("sub", "dir/sublink");
        root.symlink(root.path().join("dir"), "abs_in");
        root.symlink("nowhere", "dir/dangling");
        root.symlink("../..", "dir/up");
        root.mkfifo("dir/pipe");
        (root, outside)
    }

    #[test]
    fn probe_tells_files_from_directories_beneath_the_root_only() {
        let (base, _outside) = fixture();
        let root = Root::at(base.path()).unwrap();
        let cases: &[(&str, Result<Kind, ErrorKind>)] = &[
            ("/", Ok(Kind::Dir)),
            ("/a.txt", Ok(Kind::File)),
            ("/dir", Ok(Kind::Dir)),
            ("/dir/", Ok(Kind::Dir)),
            ("/dir/in.txt", Ok(Kind::File)),
            ("/dir/sublink", Ok(Kind::Dir)),
            ("/abs_in/sub/", Ok(Kind::Dir)),
            ("/missing", Err(ErrorKind::NotFound)),
            ("/a.txt/x", Err(ErrorKind::NotFound)),
            ("/a.txt/", Err(ErrorKind::NotFound)),
            ("/dir/in.txt/", Err(ErrorKind::NotFound)),
            ("/dir/sublink/", Ok(Kind::Dir)),
            ("/dir/dangling", Err(ErrorKind::NotFound)),
            ("/dir/pipe", Err(ErrorKind::Forbidden)),
            // Whatever lies behind a link out of the root, the answer is the same.
            ("/etclink", Err(ErrorKind::Forbidden)),
            ("/etclink/", Err(ErrorKind::Forbidden)),
            ("/etclink/ssl", Err(ErrorKind::Forbidden)),
            ("/etclink/ssl/private/", Err(ErrorKind::Forbidden)),
            ("/etclink/no/such/thing", Err(ErrorKind::Forbidden)),
            ("/dir/out.txt", Err(ErrorKind::Forbidden)),
            ("/dir/up", Err(ErrorKind::Forbidden)),
        ];
        both_ways(|how| {
            for (raw, expected) in cases {
                let got = root.probe(&safe(base.path(), raw)).map_err(|e| e.kind());
                assert_eq!(got, *expected, "{raw} ({how})");
            }
        });
    }

    #[test]
    fn list_dir_shows_what_lies_beneath_the_root_only() {
        let (base, _outside) = fixture();
        let root = Root::at(base.path()).unwrap();
        both_ways(|how| {
            let entries = root.list_dir(&safe(base.path(), "/dir/")).unwrap();
            let shown: Vec<(&str, bool, u64)> = entries
                .iter()
                .map(|e| (e.name.as_str(), e.is_dir, e.size))
                .collect();
            // Hidden, outside, dangling, escaping and FIFO entries are left out;
            // links inside are shown as what they lead to.
            assert_eq!(
                shown,
                [
                    ("b.txt", false, 5),
                    ("in.txt", false, 5),
                    ("sub", true, 0),
                    ("sublink", true, 0),
                ],
                "{how}"
            );
            let b = fs::metadata(base.path().join("dir/b.txt")).unwrap();
            assert_eq!(entries[0].modified, b.modified().ok(), "{how}");

            let top: Vec<String> = root
                .list_dir(&safe(base.path(), "/"))
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(top, ["a.txt", "abs_in", "dir", "empty"], "{how}");
            assert!(
                root.list_dir(&safe(base.path(), "/empty/"))
                    .unwrap()
                    .is_empty()
            );
            for (raw, kind) in [
                ("/etclink/", ErrorKind::Forbidden),
                ("/etclink/ssl/", ErrorKind::Forbidden),
                ("/dir/up/", ErrorKind::Forbidden),
                ("/a.txt/", ErrorKind::NotFound),
                ("/missing/", ErrorKind::NotFound),
            ] {
                let got = root.list_dir(&safe(base.path(), raw)).map(|_| ());
                assert_eq!(got.map_err(|e| e.kind()), Err(kind), "{raw} ({how})");
            }
        });
    }

    #[test]
    fn files_open_beneath_the_root_either_way() {
        let (base, _outside) = fixture();
        let root = Root::at(base.path()).unwrap();
        both_ways(|how| {
            let cases: &[(&str, Result<&[u8], ErrorKind>)] = &[
                ("/a.txt", Ok(b"alpha")),
                ("/dir/in.txt", Ok(b"alpha")),
                ("/abs_in/b.txt", Ok(b"beta!")),
                ("/dir/out.txt", Err(ErrorKind::Forbidden)),
                ("/etclink/ssl/openssl.cnf", Err(ErrorKind::Forbidden)),
                ("/dir/pipe", Err(ErrorKind::Forbidden)),
                ("/dir", Err(ErrorKind::IsDirectory)),
                ("/dir/", Err(ErrorKind::NotFound)),
            ];
            for (raw, expected) in cases {
                let got = read(&root, base.path(), raw);
                assert_eq!(got.as_deref().map_err(|e| *e), *expected, "{raw} ({how})");
            }
        });
    }

    /// Two releases and a `current` link to the first, as deployment tools lay them out.
    fn releases() -> TempDir {
        let base = TempDir::new();
        base.write("releases/1/index.html", b"release 1");
        base.write("releases/1/only-in-1.txt", b"old");
        base.write("releases/2/index.html", b"release 2");
        base.write("releases/2/only-in-2.txt", b"new");
        base.symlink("releases/1", "current");
        base
    }

    /// Points `link` at `target` atomically, as `ln -sfn` followed by `mv -T` does.
    fn flip(base: &TempDir, target: &str, link: &str) {
        base.symlink(target, "flip.tmp");
        fs::rename(base.path().join("flip.tmp"), base.path().join(link)).unwrap();
    }

    #[test]
    fn a_flipped_root_link_is_followed() {
        let base = releases();
        let configured = base.path().join("current");
        let doc_root = DocRoot::open_with_recheck(&configured, Duration::ZERO).unwrap();
        let before = doc_root.current();
        assert_eq!(read(&before, &configured, "/").unwrap(), b"release 1");

        flip(&base, "releases/2", "current");
        let after = doc_root.current();
        assert_eq!(read(&after, &configured, "/").unwrap(), b"release 2");
        assert_eq!(read(&after, &configured, "/only-in-2.txt").unwrap(), b"new");
        assert_eq!(
            read(&after, &configured, "/only-in-1.txt"),
            Err(ErrorKind::NotFound)
        );
        assert_eq!(
            after.path(),
            fs::canonicalize(base.path().join("releases/2")).unwrap()
        );
        assert_eq!(doc_root.path(), configured);

        // A request that took its root before the flip keeps that tree to its end.
        assert_eq!(
            read(&before, &configured, "/only-in-1.txt").unwrap(),
            b"old"
        );
        // The old tree gone, the new one is served on.
        fs::remove_dir_all(base.path().join("releases/1")).unwrap();
        assert_eq!(
            read(&doc_root.current(), &configured, "/").unwrap(),
            b"release 2"
        );
    }

    #[test]
    fn a_root_renamed_over_is_followed_and_a_missing_one_keeps_the_old_tree() {
        let base = TempDir::new();
        base.write("site/index.html", b"old site");
        base.write("site.new/index.html", b"new site");
        let configured = base.path().join("site");
        let doc_root = DocRoot::open_with_recheck(&configured, Duration::ZERO).unwrap();
        assert_eq!(
            read(&doc_root.current(), &configured, "/").unwrap(),
            b"old site"
        );

        // Between the two renames the path names nothing: the tree held is kept.
        fs::rename(&configured, base.path().join("site.old")).unwrap();
        assert_eq!(
            read(&doc_root.current(), &configured, "/").unwrap(),
            b"old site"
        );
        fs::rename(base.path().join("site.new"), &configured).unwrap();
        assert_eq!(
            read(&doc_root.current(), &configured, "/").unwrap(),
            b"new site"
        );
        fs::remove_dir_all(base.path().join("site.old")).unwrap();
        assert_eq!(
            read(&doc_root.current(), &configured, "/").unwrap(),
            b"new site"
        );
    }

    #[test]
    fn the_root_path_is_checked_at_most_once_per_interval() {
        let base = releases();
        let configured = base.path().join("current");
        let doc_root = DocRoot::open_with_recheck(&configured, Duration::from_secs(3600)).unwrap();
        // The first call checks (and finds the root opened); the next hour, none does.
        assert_eq!(
            read(&doc_root.current(), &configured, "/").unwrap(),
            b"release 1"
        );
        flip(&base, "releases/2", "current");
        assert_eq!(
            read(&doc_root.current(), &configured, "/").unwrap(),
            b"release 1"
        );
    }

    #[test]
    fn cache_entries_of_a_replaced_root_are_not_served() {
        let base = TempDir::new();
        let one = base.write("releases/1/page.html", b"same bytes");
        let past = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&one)
            .and_then(|f| f.set_modified(past))
            .unwrap();
        // The next release shares the file's inode, as `cp -al` or `rsync
        // --link-dest` make it.
        fs::create_dir_all(base.path().join("releases/2")).unwrap();
        fs::hard_link(&one, base.path().join("releases/2/page.html")).unwrap();
        base.symlink("releases/1", "current");
        let configured = base.path().join("current");
        let doc_root = DocRoot::open_with_recheck(&configured, Duration::ZERO).unwrap();
        let cache = FileCache::new(1 << 20, 1 << 16);
        let page = safe(&configured, "/page.html");
        for _ in 0..2 {
            doc_root.current().open_cached(&page, &cache).unwrap();
        }
        assert_eq!((cache.stats().inserts, cache.stats().hits), (1, 1));

        flip(&base, "releases/2", "current");
        doc_root.current().open_cached(&page, &cache).unwrap();
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2), "{stats:?}");
    }
}
