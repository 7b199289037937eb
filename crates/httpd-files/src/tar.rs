//! Folder downloads as tar archives, produced a bounded step at a time in bounded
//! memory, for a sender that owns a nonblocking socket (like [`GzipSteps`]).
//!
//! The rules (format, what is archived, a file changing meanwhile, the memory bound)
//! are documented on [`TarSteps`].
//!
//! [`GzipSteps`]: crate::GzipSteps

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use httpd_security::SafePath;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

use crate::error::{ErrorKind, ServeError, open_error};
use crate::root::Root;

/// The most directory levels, the archived directory included, that an archive
/// descends; deeper directories are skipped (logged at `warn`). Also the most
/// directories a [`TarSteps`] holds open at once.
pub const MAX_ARCHIVE_DEPTH: usize = 32;

/// The longest path, in bytes, an archive entry may have (the Linux `PATH_MAX`);
/// longer ones are skipped (logged at `warn`).
pub const MAX_ARCHIVE_PATH_BYTES: usize = 4096;

/// The most directory entries one [`TarSteps::step`] looks at, so that a directory
/// full of skipped names cannot hold a worker for long.
pub const MAX_ENTRIES_PER_STEP: usize = 256;

/// The name of the document root's directory that is never archived: it holds
/// uploads, which are not part of the site.
pub const UPLOADS_DIR: &str = "uploads";

/// The top folder of the archive of the document root itself.
pub const ROOT_ARCHIVE_NAME: &str = "site";

/// A tar block.
const BLOCK: usize = 512;

/// The largest value of an 11-digit octal field (size, mtime): 8 GiB - 1.
const MAX_OCTAL_11: u64 = 0o777_7777_7777;

/// A directory as a tar archive, produced by [`step`](Self::step) in bounded parts.
///
/// Every entry's path starts with the archive's top folder: the directory's own name
/// (`docs/` for `/docs/`), or [`ROOT_ARCHIVE_NAME`] for the document root.
///
/// # Format
///
/// POSIX ustar (POSIX.1-2001 `pax` interchange format): one 512-byte header per entry,
/// the file's bytes padded with zeros to a multiple of 512, and two zero blocks at the
/// end. A path that fits neither the 100-byte `name` field nor a split at a `/` into
/// the 155-byte `prefix` and `name` fields, and a size of 8 GiB or more (beyond 11
/// octal digits), are carried by a pax extended header (typeflag `x`) with `path=` and
/// `size=` records before the entry's own header. GNU tar, bsdtar, Python's `tarfile`,
/// 7-Zip and every browser-side library read it.
///
/// Each entry is written with fixed permissions (0644 for files, 0755 for
/// directories: no set-id bit, no owner, nothing readable only by the server), owner 0
/// and the modification time of the file (clamped to 1970..2242, ustar's range).
///
/// # What is archived
///
/// The walk starts at a directory beneath a [`Root`] and reads every level itself,
/// opening each entry relative to its parent's descriptor with `O_NOFOLLOW`: no
/// symbolic link is followed or archived (a link inside the root is skipped too,
/// so a link can never lead the walk out of the root), and only regular files and
/// directories are taken (FIFOs, sockets and devices are skipped without being opened).
/// Skipped as well: names starting with a dot (so `.git/`, `.env` and upload
/// temporaries `.upload-*`), names that are not UTF-8, the top-level `uploads/` of the
/// document root, entries that cannot be opened (logged at `debug`), directories deeper
/// than [`MAX_ARCHIVE_DEPTH`] and paths longer than [`MAX_ARCHIVE_PATH_BYTES`] (logged
/// at `warn`). Entries come in the order the filesystem lists them.
///
/// # A file that changes while it is archived
///
/// A file's header announces the size it had when it was opened, and exactly that
/// many bytes follow, so the archive stays well-formed whatever happens: a file that
/// shrank is padded with zeros to its announced size, and a file that grew is cut at
/// it; either is logged at `warn`. The bytes are those read at each moment (as `tar`
/// itself does), so a file rewritten meanwhile may mix old and new contents.
///
/// # Memory
///
/// The walk keeps one open directory per level (at most [`MAX_ARCHIVE_DEPTH`], each an
/// open descriptor and the kernel-entry buffer `rustix` reads it with, which never
/// grows past about 25 KiB), the current path (at most [`MAX_ARCHIVE_PATH_BYTES`]),
/// the header being written (at most two blocks and a pax record of that path) and the
/// open file. It never collects a list of paths, so a tree of any size needs at most
/// about `MAX_ARCHIVE_DEPTH * 25 KiB` plus 10 KiB, and a flat tree a few KiB. Each
/// [`step`](Self::step) appends at most its `max_bytes` (at least 512) to the
/// caller's buffer and looks at no more than [`MAX_ENTRIES_PER_STEP`] directory
/// entries.
///
/// # Examples
/// ```no_run
/// use std::path::Path;
///
/// use httpd_files::{Root, TarSteps, attachment_disposition};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let root = Root::at(Path::new("resources"))?;
/// let dir = httpd_security::resolve_path(Path::new("resources"), "/images/")?;
/// let mut archive = TarSteps::new(&root, &dir)?;
/// assert_eq!(archive.file_name(), "images.tar");
/// println!("Content-Disposition: {}", attachment_disposition(archive.file_name()));
/// let mut body = Vec::new();
/// // On a worker: one bounded part at a time, each handed to the poller to send.
/// while !archive.step(64 * 1024, &mut body)? {}
/// assert_eq!(body.len() % 512, 0);
/// # Ok(())
/// # }
/// ```
pub struct TarSteps {
    /// The open directories from the archived one down to the one being read.
    stack: Vec<Frame>,
    /// The archive path of the directory being read, ending in `/`.
    path: String,
    /// Whether the archived directory is the document root, where [`UPLOADS_DIR`] is
    /// skipped.
    at_doc_root: bool,
    /// Header bytes (and padding, and the end blocks) still to append.
    pending: Vec<u8>,
    /// How much of `pending` was appended already.
    pending_at: usize,
    /// The file whose bytes follow the header just written.
    file: Option<FileData>,
    /// The end-of-archive blocks are in `pending`.
    trailer_queued: bool,
    /// `<top>.tar`.
    file_name: String,
}

/// One open directory of the walk.
struct Frame {
    dir: Dir,
    /// The length of [`TarSteps::path`] while this directory is read.
    path_len: usize,
}

/// The file being archived.
struct FileData {
    file: File,
    /// The size announced in its header: exactly this many bytes are written.
    size: u64,
    /// The next byte to write.
    offset: u64,
    /// Its archive path, for the log.
    path: String,
    /// The file ended before `size` (logged once).
    shrank: bool,
}

impl TarSteps {
    /// Starts the archive of the directory `dir` beneath `root`.
    ///
    /// The directory is opened now (beneath the root, as [`Root::list_dir`] does), so
    /// the errors of the request come from here; the entries are read by the steps.
    ///
    /// # Errors
    /// `NotFound` when `dir` names nothing or a file, or is hidden (a segment starts
    /// with a dot); `Forbidden` for the document root's [`UPLOADS_DIR`] or anything
    /// in it, for a link leading out of the root, and for a directory that may not be
    /// read; `Io` for other failures.
    pub fn new(root: &Root, dir: &SafePath) -> Result<TarSteps, ServeError> {
        let full = dir.as_path();
        let relative = dir.relative().trim_end_matches('/');
        if dir.is_hidden() {
            return Err(ServeError::new(full, ErrorKind::NotFound));
        }
        if relative.split('/').next() == Some(UPLOADS_DIR) {
            return Err(ServeError::new(full, ErrorKind::Forbidden));
        }
        let fail = |e: rustix::io::Errno| open_error(full, e.into());
        let fd = root
            .open_fd(
                relative,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            )
            .map_err(fail)?;
        let stat = rustix::fs::fstat(&fd).map_err(fail)?;
        let dir = Dir::new(fd).map_err(fail)?;
        let top = match relative.rsplit('/').next() {
            Some(name) if !name.is_empty() => name,
            _ => ROOT_ARCHIVE_NAME,
        };
        let path = format!("{top}/");
        let mut pending = Vec::with_capacity(2 * BLOCK);
        write_header(&mut pending, &path, EntryType::Dir, 0, stat.st_mtime);
        Ok(TarSteps {
            stack: vec![Frame {
                dir,
                path_len: path.len(),
            }],
            file_name: format!("{top}.tar"),
            path,
            at_doc_root: relative.is_empty(),
            pending,
            pending_at: 0,
            file: None,
            trailer_queued: false,
        })
    }

    /// Returns the archive's download name: `<top folder>.tar`, such as `docs.tar`.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Appends the next part of the archive to `out`, at most `max_bytes` bytes (at
    /// least 512 are allowed), and returns true once the whole archive, end blocks
    /// included, has been appended.
    ///
    /// A step may append nothing and still return false (it looked at
    /// [`MAX_ENTRIES_PER_STEP`] entries that were all skipped); call it again. After
    /// true, further calls append nothing and return true.
    ///
    /// # Errors
    /// The `io::Error` of reading a directory being walked or a file being archived
    /// (a file that cannot be opened is skipped instead). The archive is then
    /// incomplete: the response must be cut off, so the client sees a truncated
    /// download rather than a well-formed archive missing files.
    pub fn step(&mut self, max_bytes: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        let budget = max_bytes.max(BLOCK);
        let mut written = 0;
        let mut examined = 0;
        loop {
            if self.pending_at < self.pending.len() {
                if written == budget {
                    return Ok(false);
                }
                let take = (self.pending.len() - self.pending_at).min(budget - written);
                out.extend_from_slice(&self.pending[self.pending_at..self.pending_at + take]);
                self.pending_at += take;
                written += take;
                continue;
            }
            if let Some(data) = &mut self.file {
                if data.offset < data.size {
                    if written == budget {
                        return Ok(false);
                    }
                    written += data.append(budget - written, out)?;
                    continue;
                }
                data.check_unchanged();
                let padding = padding_for(data.size);
                self.file = None;
                self.queue(&[0; BLOCK][..padding]);
                continue;
            }
            if self.stack.is_empty() {
                if self.trailer_queued {
                    return Ok(true);
                }
                self.trailer_queued = true;
                self.queue(&[0; 2 * BLOCK]);
                continue;
            }
            if examined == MAX_ENTRIES_PER_STEP {
                return Ok(false);
            }
            examined += 1;
            self.next_entry()?;
        }
    }

    /// Replaces the drained pending bytes with `bytes`.
    fn queue(&mut self, bytes: &[u8]) {
        self.pending.clear();
        self.pending.extend_from_slice(bytes);
        self.pending_at = 0;
    }

    /// Reads the next entry of the innermost open directory and queues its header
    /// (and opens its file, or enters it), or leaves the directory at its end.
    fn next_entry(&mut self) -> io::Result<()> {
        let depth = self.stack.len();
        let Some(frame) = self.stack.last_mut() else {
            return Ok(());
        };
        let entry = match frame.dir.read() {
            Some(entry) => entry?,
            None => {
                self.stack.pop();
                let parent_len = self.stack.last().map_or(0, |f| f.path_len);
                self.path.truncate(parent_len);
                return Ok(());
            }
        };
        let Ok(name) = entry.file_name().to_str() else {
            log::debug!("not archiving a name that is not UTF-8 in {:?}", self.path);
            return Ok(());
        };
        if name.starts_with('.') || (self.at_doc_root && depth == 1 && name == UPLOADS_DIR) {
            return Ok(());
        }
        let parent = frame.dir.fd()?;
        let mut file_type = entry.file_type();
        if file_type == FileType::Unknown {
            // Some filesystems do not fill in the type: ask, without following links.
            file_type = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => FileType::from_raw_mode(stat.st_mode),
                Err(_) => return Ok(()),
            };
        }
        let is_dir = match file_type {
            FileType::RegularFile => false,
            FileType::Directory => true,
            // Links (even to inside the root), FIFOs, sockets and devices.
            _ => return Ok(()),
        };
        let entry_path = format!("{}{name}{}", self.path, if is_dir { "/" } else { "" });
        if entry_path.len() > MAX_ARCHIVE_PATH_BYTES {
            log::warn!(
                "not archiving {entry_path:?}: path longer than {MAX_ARCHIVE_PATH_BYTES} bytes"
            );
            return Ok(());
        }
        if is_dir && depth >= MAX_ARCHIVE_DEPTH {
            log::warn!("not archiving {entry_path:?}: deeper than {MAX_ARCHIVE_DEPTH} levels");
            return Ok(());
        }
        let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
        flags |= if is_dir {
            OFlags::DIRECTORY
        } else {
            // Never blocks, even if a FIFO was swapped in since the type was read.
            OFlags::NONBLOCK
        };
        let opened = rustix::fs::openat(parent, name, flags, Mode::empty())
            .and_then(|fd| rustix::fs::fstat(&fd).map(|stat| (fd, stat)));
        let (fd, stat) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                log::debug!("not archiving {entry_path:?}: {e}");
                return Ok(());
            }
        };
        let opened_type = FileType::from_raw_mode(stat.st_mode);
        if opened_type != file_type {
            log::debug!("not archiving {entry_path:?}: it changed type");
            return Ok(());
        }
        self.pending.clear();
        self.pending_at = 0;
        if is_dir {
            write_header(
                &mut self.pending,
                &entry_path,
                EntryType::Dir,
                0,
                stat.st_mtime,
            );
            let dir = Dir::new(fd)?;
            self.path = entry_path;
            self.stack.push(Frame {
                dir,
                path_len: self.path.len(),
            });
        } else {
            let size = u64::try_from(stat.st_size).unwrap_or(0);
            write_header(
                &mut self.pending,
                &entry_path,
                EntryType::File,
                size,
                stat.st_mtime,
            );
            self.file = Some(FileData {
                file: File::from(fd),
                size,
                offset: 0,
                path: entry_path,
                shrank: false,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for TarSteps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TarSteps")
            .field("file_name", &self.file_name)
            .field("path", &self.path)
            .field("depth", &self.stack.len())
            .field(
                "file",
                &self.file.as_ref().map(|d| (&d.path, d.offset, d.size)),
            )
            .field(
                "done",
                &(self.trailer_queued && self.pending_at == self.pending.len()),
            )
            .finish()
    }
}

impl FileData {
    /// Appends up to `max` more of the file's announced bytes to `out` and returns how
    /// many; past the file's end, zeros.
    fn append(&mut self, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let want = usize::try_from(self.size - self.offset).map_or(max, |left| left.min(max));
        let start = out.len();
        // Zeros: what stands for bytes of a file that shrank.
        out.resize(start + want, 0);
        if self.shrank {
            self.offset += want as u64;
            return Ok(want);
        }
        loop {
            match self.file.read_at(&mut out[start..], self.offset) {
                Ok(0) => {
                    log::warn!(
                        "{:?} shrank to {} bytes while archived; padded with zeros to the {} announced",
                        self.path,
                        self.offset,
                        self.size
                    );
                    self.shrank = true;
                    self.offset += want as u64;
                    return Ok(want);
                }
                Ok(n) => {
                    out.truncate(start + n);
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
    }

    /// Logs a file that grew past its announced size meanwhile (its archived bytes were
    /// cut at that size).
    fn check_unchanged(&self) {
        if self.shrank {
            return;
        }
        if let Ok(meta) = self.file.metadata() {
            if meta.len() > self.size {
                log::warn!(
                    "{:?} grew to {} bytes while archived; cut at the {} announced",
                    self.path,
                    meta.len(),
                    self.size
                );
            }
        }
    }
}

/// The kind of a tar entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryType {
    File,
    Dir,
}

/// How many zero bytes follow `size` bytes of data to fill the last block.
fn padding_for(size: u64) -> usize {
    // The remainder is below 512.
    let rest = usize::try_from(size % BLOCK as u64).unwrap_or(0);
    (BLOCK - rest) % BLOCK
}

/// Appends the header of an entry at `path` (a directory's ends in `/`) to `out`: a
/// pax extended header first when the path or the size does not fit ustar's fields,
/// then the ustar header.
fn write_header(out: &mut Vec<u8>, path: &str, kind: EntryType, size: u64, mtime: i64) {
    let split = split_path(path);
    let mut records = String::new();
    if split.is_none() {
        pax_record(&mut records, "path", path);
    }
    if size > MAX_OCTAL_11 {
        pax_record(&mut records, "size", &size.to_string());
    }
    if !records.is_empty() {
        let block = ustar_block("././@PaxHeader", "", b'x', 0o644, records.len() as u64, 0);
        out.extend_from_slice(&block);
        out.extend_from_slice(records.as_bytes());
        out.resize(out.len() + padding_for(records.len() as u64), 0);
    }
    // Without a split, the pax path counts; the ustar name keeps a truncated form.
    let (prefix, name) = split.unwrap_or(("", truncate(path, 100)));
    let (typeflag, mode) = match kind {
        EntryType::File => (b'0', 0o644),
        EntryType::Dir => (b'5', 0o755),
    };
    let mtime = u64::try_from(mtime).unwrap_or(0).min(MAX_OCTAL_11);
    let size = if size > MAX_OCTAL_11 { 0 } else { size };
    out.extend_from_slice(&ustar_block(name, prefix, typeflag, mode, size, mtime));
}

/// Splits `path` into ustar's `prefix` (at most 155 bytes) and `name` (1 to 100
/// bytes) at a `/`; `("", path)` when it fits `name` whole; `None` when no split fits.
fn split_path(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The shortest prefix whose rest fits; a directory's own trailing `/` stays in
    // the name.
    let body = path.strip_suffix('/').unwrap_or(path);
    body.match_indices('/')
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .find(|(_, name)| name.len() <= 100)
        .filter(|(prefix, name)| prefix.len() <= 155 && !name.is_empty() && *name != "/")
}

/// Returns the longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends the pax record `"LEN KEY=VALUE\n"`, whose `LEN` counts the whole record,
/// itself included (POSIX.1-2001 `pax`, "extended header").
fn pax_record(records: &mut String, key: &str, value: &str) {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + rest.to_string().len();
    if len.to_string().len() + rest != len {
        len += 1;
    }
    // Writing to a String cannot fail.
    let _ = writeln!(records, "{len} {key}={value}");
}

/// Builds one ustar header block.
///
/// Fields (offset, size): name (0, 100), mode (100, 8), uid (108, 8), gid (116, 8),
/// size (124, 12), mtime (136, 12), chksum (148, 8), typeflag (156, 1), linkname
/// (157, 100), magic (257, 6) `ustar\0`, version (263, 2) `00`, uname (265, 32),
/// gname (297, 32), devmajor (329, 8), devminor (337, 8), prefix (345, 155).
/// Numbers are zero-padded octal ending in NUL; the checksum is the sum of all header
/// bytes with the checksum field counted as spaces.
fn ustar_block(
    name: &str,
    prefix: &str,
    typeflag: u8,
    mode: u32,
    size: u64,
    mtime: u64,
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    put(&mut h[0..100], name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[148..156].fill(b' ');
    h[156] = typeflag;
    put(&mut h[257..263], b"ustar\0");
    put(&mut h[263..265], b"00");
    put(&mut h[345..500], prefix.as_bytes());
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h[155] = b' ';
    h
}

/// Copies `value` into the start of `field`, cut to its length.
fn put(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Writes `value` as zero-padded octal filling all of `field` but a final NUL; the
/// callers keep values within the field.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let mut v = value;
    for i in (0..digits).rev() {
        field[i] = b'0' + (v & 7) as u8;
        v >>= 3;
    }
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs::{self, OpenOptions};
    use std::io::Write;
    use std::path::Path;
    use std::process::{Command, Stdio};

    use httpd_security::resolve_path;

    use super::*;
    use crate::test_util::TempDir;

    /// Runs every step of the archive of `raw_dir` with `max_bytes`, checking each
    /// step's bound, and returns the archive.
    fn archive(base: &TempDir, raw_dir: &str, max_bytes: usize) -> Vec<u8> {
        let mut steps = open(base, raw_dir).expect("archive opens");
        run(&mut steps, max_bytes)
    }

    fn open(base: &TempDir, raw_dir: &str) -> Result<TarSteps, ServeError> {
        let root = Root::at(base.path()).unwrap();
        TarSteps::new(&root, &resolve_path(base.path(), raw_dir).unwrap())
    }

    fn run(steps: &mut TarSteps, max_bytes: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let before = out.len();
            let done = steps.step(max_bytes, &mut out).expect("step");
            let produced = out.len() - before;
            assert!(
                produced <= max_bytes.max(BLOCK),
                "a step of {max_bytes} produced {produced}"
            );
            assert!(produced <= max_bytes + 1024);
            if done {
                break;
            }
        }
        let mut again = Vec::new();
        assert!(steps.step(max_bytes, &mut again).unwrap(), "stays done");
        assert!(again.is_empty());
        assert_eq!(out.len() % BLOCK, 0);
        assert!(out.ends_with(&[0; 2 * BLOCK]));
        out
    }

    /// Extracts `tar` with the system's `tar -x` into a new directory.
    fn extract(tar: &[u8]) -> TempDir {
        let dest = TempDir::new();
        let mut child = Command::new("tar")
            .args(["-x", "-f", "-", "-C"])
            .arg(dest.path())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tar runs");
        child.stdin.take().unwrap().write_all(tar).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "tar -x failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        dest
    }

    /// Every entry below `dir`, relative to it: `Some(bytes)` for a file, `None` for
    /// a directory (its path ends in `/`). Links are not followed.
    fn tree(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
        fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
            for entry in fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                let kind = entry.file_type().unwrap();
                let path = format!("{rel}{name}");
                if kind.is_dir() {
                    out.insert(format!("{path}/"), None);
                    walk(&entry.path(), &format!("{path}/"), out);
                } else {
                    out.insert(path, Some(fs::read(entry.path()).unwrap()));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, "", &mut out);
        out
    }

    /// A name of `n` bytes.
    fn long(n: usize, c: char) -> String {
        c.to_string().repeat(n)
    }

    #[test]
    fn a_tree_round_trips_through_system_tar() {
        let base = TempDir::new();
        let outside = TempDir::new();
        outside.write("secret.txt", b"secret");
        let patterned: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut expected = BTreeMap::new();
        let files: Vec<(String, Vec<u8>)> = vec![
            ("index.html".into(), b"<h1>hi</h1>".to_vec()),
            ("empty.txt".into(), Vec::new()),
            ("a/511.bin".into(), vec![1; 511]),
            ("a/512.bin".into(), vec![2; 512]),
            ("a/513.bin".into(), vec![3; 513]),
            ("a/b/c/big.bin".into(), patterned),
            ("a/uploads/kept.json".into(), b"{}".to_vec()),
            (
                "caf\u{e9} \u{1f600}/na\u{ef}ve & <x>.txt".into(),
                b"unicode".to_vec(),
            ),
            // Over 100 bytes, split into prefix and name.
            (
                format!("{}/{}/f.txt", long(60, 'p'), long(60, 'q')),
                b"split".to_vec(),
            ),
            // A single name over 100 bytes: a pax path.
            (format!("deep/{}.txt", long(150, 'n')), b"pax name".to_vec()),
            // Over 255 bytes: a pax path.
            (
                format!(
                    "{}/{}/{}/g.txt",
                    long(100, 'x'),
                    long(100, 'y'),
                    long(100, 'z')
                ),
                b"pax long".to_vec(),
            ),
        ];
        for (rel, contents) in &files {
            base.write(rel, contents);
            expected.insert(format!("site/{rel}"), Some(contents.clone()));
        }
        base.mkdir("empty-dir");
        // Skipped: dot-files, upload temporaries, the top-level uploads, links, FIFOs.
        base.write(".env", b"x");
        base.write(".git/config", b"x");
        base.write("a/.hidden", b"x");
        base.write(".upload-123.tmp", b"x");
        base.write("uploads/upload_1.json", b"{}");
        base.symlink(outside.path().join("secret.txt"), "leak.txt");
        base.symlink(outside.path(), "leakdir");
        base.symlink("index.html", "alias.html");
        base.symlink("a", "a-alias");
        base.mkfifo("a/pipe");
        for dir in [
            "site/",
            "site/a/",
            "site/a/b/",
            "site/a/b/c/",
            "site/a/uploads/",
            "site/caf\u{e9} \u{1f600}/",
            "site/empty-dir/",
            "site/deep/",
        ] {
            expected.insert(dir.to_string(), None);
        }
        let p = format!("site/{}/", long(60, 'p'));
        expected.insert(p.clone(), None);
        expected.insert(format!("{p}{}/", long(60, 'q')), None);
        let x = format!("site/{}/", long(100, 'x'));
        let y = format!("{x}{}/", long(100, 'y'));
        expected.insert(x, None);
        expected.insert(y.clone(), None);
        expected.insert(format!("{y}{}/", long(100, 'z')), None);

        for max_bytes in [1, 1000, 64 * 1024] {
            let tar = archive(&base, "/", max_bytes);
            let got = tree(extract(&tar).path());
            assert!(
                got == expected,
                "{max_bytes}: {:#?}",
                got.keys().collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_subdirectory_is_archived_under_its_own_name() {
        let base = TempDir::new();
        base.write("docs/guide/intro.md", b"# intro");
        base.write("docs/uploads/x.json", b"{}");
        base.write("other.txt", b"not in the archive");
        let mut steps = open(&base, "/docs/").unwrap();
        assert_eq!(steps.file_name(), "docs.tar");
        let got = tree(extract(&run(&mut steps, 4096)).path());
        let keys: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "docs/",
                "docs/guide/",
                "docs/guide/intro.md",
                "docs/uploads/",
                "docs/uploads/x.json"
            ]
        );
        assert_eq!(got["docs/guide/intro.md"].as_deref(), Some(&b"# intro"[..]));
        assert_eq!(open(&base, "/").unwrap().file_name(), "site.tar");
    }

    #[test]
    fn refused_directories_are_errors_before_any_byte() {
        let base = TempDir::new();
        let outside = TempDir::new();
        base.write("uploads/a.json", b"{}");
        base.write("file.txt", b"x");
        base.write(".git/config", b"x");
        base.symlink(outside.path(), "out");
        let cases: &[(&str, ErrorKind)] = &[
            ("/uploads/", ErrorKind::Forbidden),
            ("/uploads/sub/", ErrorKind::Forbidden),
            ("/out/", ErrorKind::Forbidden),
            ("/missing/", ErrorKind::NotFound),
            ("/file.txt/", ErrorKind::NotFound),
            ("/.git/", ErrorKind::NotFound),
        ];
        for &(raw, kind) in cases {
            let got = open(&base, raw).map(|_| ()).map_err(|e| e.kind());
            assert_eq!(got, Err(kind), "{raw}");
        }
    }

    #[test]
    fn thousands_of_files_round_trip_in_small_steps() {
        let base = TempDir::new();
        let mut expected = BTreeMap::new();
        expected.insert("site/".to_string(), None);
        for d in 0..30 {
            let dir = format!("d{d:02}");
            expected.insert(format!("site/{dir}/"), None);
            for f in 0..100 {
                let rel = format!("{dir}/f{f:03}.txt");
                let contents = format!("{rel}\n").repeat(f % 7).into_bytes();
                base.write(&rel, &contents);
                expected.insert(format!("site/{rel}"), Some(contents));
            }
        }
        let tar = archive(&base, "/", 1500);
        let got = tree(extract(&tar).path());
        assert_eq!(got.len(), 3031);
        assert!(got == expected, "trees differ");
    }

    #[test]
    fn directories_deeper_than_the_limit_are_skipped() {
        let base = TempDir::new();
        let deep: Vec<&str> = vec!["d"; MAX_ARCHIVE_DEPTH + 3];
        base.write(&format!("{}/f.txt", deep.join("/")), b"deep");
        base.write("top.txt", b"top");
        let got = tree(extract(&archive(&base, "/", 1 << 16)).path());
        let deepest = got.keys().map(|k| k.matches('/').count()).max().unwrap();
        // `site/` is level 1: `site/d/.../d/` holds MAX_ARCHIVE_DEPTH levels.
        assert_eq!(deepest, MAX_ARCHIVE_DEPTH);
        assert!(got.keys().all(|k| !k.ends_with("f.txt")));
        assert!(got.contains_key("site/top.txt"));
    }

    #[test]
    fn a_step_looks_at_a_bounded_number_of_entries() {
        let base = TempDir::new();
        for i in 0..3 * MAX_ENTRIES_PER_STEP {
            base.write(&format!(".hidden{i}"), b"");
        }
        let mut steps = open(&base, "/").unwrap();
        let mut out = Vec::new();
        let mut calls = 1;
        while !steps.step(1 << 20, &mut out).unwrap() {
            calls += 1;
        }
        assert!(calls >= 3, "{calls} calls");
        assert_eq!(out.len(), 3 * BLOCK, "the top folder and the end blocks");
    }

    #[test]
    fn a_file_that_shrinks_or_grows_keeps_its_announced_size() {
        let base = TempDir::new();
        let original: Vec<u8> = (0..100_000u32).map(|i| (i % 250) as u8 + 1).collect();
        let path = base.write("one/data.bin", &original);
        // The folder header, the file header and the first 1024 bytes.
        let mut steps = open(&base, "/one/").unwrap();
        let mut tar = Vec::new();
        assert!(!steps.step(2048, &mut tar).unwrap());
        assert_eq!(tar.len(), 2048);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(10_000))
            .unwrap();
        tar.extend(run(&mut steps, 4096));
        let got = tree(extract(&tar).path());
        let data = got["one/data.bin"].as_ref().unwrap();
        assert_eq!(data.len(), original.len(), "padded to the announced size");
        assert_eq!(data[..10_000], original[..10_000]);
        assert!(data[10_000..].iter().all(|&b| b == 0));

        fs::write(&path, &original[..5000]).unwrap();
        let mut steps = open(&base, "/one/").unwrap();
        let mut tar = Vec::new();
        assert!(!steps.step(2048, &mut tar).unwrap());
        OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&[9; 20_000]))
            .unwrap();
        tar.extend(run(&mut steps, 4096));
        let got = tree(extract(&tar).path());
        assert_eq!(
            got["one/data.bin"].as_deref(),
            Some(&original[..5000]),
            "cut at the announced size"
        );
    }

    #[test]
    fn headers_are_valid_ustar_with_pax_where_needed() {
        let mut out = Vec::new();
        write_header(&mut out, "site/a.txt", EntryType::File, 1234, 1_700_000_000);
        assert_eq!(out.len(), BLOCK);
        assert_eq!(&out[0..11], b"site/a.txt\0");
        assert_eq!(&out[100..108], b"0000644\0");
        assert_eq!(&out[124..136], b"00000002322\0");
        assert_eq!(&out[136..148], b"14524770400\0");
        assert_eq!(out[156], b'0');
        assert_eq!(&out[257..265], b"ustar\x0000");
        let stored = std::str::from_utf8(&out[148..154]).unwrap();
        let mut blank = out.clone();
        blank[148..156].fill(b' ');
        let sum: u32 = blank.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        assert_eq!(&out[154..156], b"\0 ");

        // Sizes past 11 octal digits go in a pax record; times are clamped.
        let mut out = Vec::new();
        let huge = 9 << 30;
        write_header(&mut out, "site/huge.bin", EntryType::File, huge, -5);
        assert_eq!(out.len(), 3 * BLOCK);
        assert_eq!(out[156], b'x');
        let records = std::str::from_utf8(&out[BLOCK..BLOCK + 20]).unwrap();
        assert!(records.starts_with("19 size=9663676416\n\0"), "{records:?}");
        assert_eq!(&out[2 * BLOCK..2 * BLOCK + 13], b"site/huge.bin");
        assert_eq!(&out[2 * BLOCK + 136..2 * BLOCK + 148], b"00000000000\0");
        let mut out = Vec::new();
        write_header(&mut out, "d/", EntryType::Dir, 0, i64::MAX);
        assert_eq!(&out[136..148], b"77777777777\0");
        assert_eq!(&out[100..108], b"0000755\0");
        assert_eq!(out[156], b'5');
    }

    #[test]
    fn pax_records_count_their_own_length() {
        for value_len in [
            0, 1, 85, 86, 87, 88, 95, 96, 97, 98, 990, 995, 996, 997, 5000,
        ] {
            let mut records = String::new();
            pax_record(&mut records, "path", &long(value_len, 'v'));
            let (len, _) = records.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), records.len(), "{value_len}");
        }
    }

    #[test]
    fn long_paths_are_split_at_a_slash_or_left_to_pax() {
        let p155 = long(155, 'p');
        let n100 = long(100, 'n');
        let cases: Vec<(String, Option<(String, String)>)> = vec![
            ("a/b".into(), Some(("".into(), "a/b".into()))),
            (n100.clone(), Some(("".into(), n100.clone()))),
            (format!("{p155}/{n100}"), Some((p155.clone(), n100.clone()))),
            (
                format!("{p155}/{}/", long(99, 'n')),
                Some((p155.clone(), format!("{}/", long(99, 'n')))),
            ),
            (format!("{p155}p/{n100}"), None),
            (format!("{p155}/{n100}n"), None),
            (long(101, 'n'), None),
            (format!("{}/", long(100, 'n')), None),
        ];
        for (path, expected) in cases {
            let got = split_path(&path).map(|(p, n)| (p.to_string(), n.to_string()));
            assert_eq!(got, expected, "{path}");
        }
        assert_eq!(truncate("aé", 2), "a");
    }

    #[test]
    fn tar_steps_can_move_to_another_thread() {
        fn is_send<T: Send>() {}
        is_send::<TarSteps>();
    }
}
