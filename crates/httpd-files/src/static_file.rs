//! Opening a file under the document root and describing it for a response.
//!
//! This module owns the last filesystem checks before a byte is served: the path
//! already lies under the root lexically (it is a [`SafePath`]), and here it is opened
//! beneath the root's descriptor ([`Root`]), so that no symbolic link leads out of the
//! root, the target must be a regular file (never a FIFO or a device, which could block
//! a worker), and the size and date reported come from the very handle the body is read
//! from.

use std::fmt::Write as _;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use httpd_proto::ByteRange;
use httpd_security::SafePath;

use crate::error::{ErrorKind, ServeError, open_error};
use crate::identity::FileIdentity;
use crate::root::Root;
use crate::validators::Validators;

/// The file served for a directory-form path (`/` or `/docs/`).
pub const INDEX_FILE: &str = "index.html";

/// Size of the buffer [`StaticFile::send_to`] copies through, in bytes (64 KiB).
pub const SEND_BUFFER_BYTES: usize = 64 * 1024;

/// The `Content-Type` of HTML pages, which the seed shows inline.
pub const TEXT_HTML: &str = "text/html; charset=utf-8";

/// The `Content-Type` of every other file, which the seed offers as a download.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// An open regular file ready to be sent.
///
/// The body comes from the open file, or, for a file served from a
/// [`FileCache`](crate::FileCache) hit, from the cached bytes; every method works the same for both.
#[derive(Debug)]
pub struct StaticFile {
    body: Body,
    /// Shared with the cache entry on a hit, so a hit formats and allocates nothing.
    info: Arc<FileInfo>,
}

/// Where the bytes of a [`StaticFile`] come from.
pub(crate) enum Body {
    /// The open file, read (or sent) at the moment of sending.
    File(File),
    /// The complete contents, taken from the [`FileCache`](crate::FileCache); exactly `len` bytes.
    Bytes(Arc<[u8]>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::File(file) => f.debug_tuple("File").field(file).finish(),
            Body::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// What a response says about a file, all taken from one metadata snapshot.
#[derive(Debug)]
pub(crate) struct FileInfo {
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) content_type: &'static str,
    pub(crate) attachment: Option<String>,
    /// The requested name's extension, lowercased; for a sidecar opened with
    /// `open_sibling` it is still the original's.
    pub(crate) extension: Option<String>,
    /// Computed from the same metadata as `len` and `modified`.
    pub(crate) validators: Validators,
    /// From the same metadata too.
    pub(crate) identity: FileIdentity,
}

impl StaticFile {
    /// Opens `path` for serving; a directory-form path serves its `index.html`.
    ///
    /// The file is opened read-only, beneath the directory `path` was resolved under
    /// ([`SafePath::root`]), which is opened for this call: a link inside the root to
    /// a file inside the root is served, while a link (or a link on the way) to
    /// anything outside is refused. Only regular files are served. Size and
    /// modification time come from the open handle. A server should hold a
    /// [`DocRoot`](crate::DocRoot) and call [`Root::open`] instead, which opens no
    /// root per call and sees a replaced root.
    ///
    /// The content type follows the seed: `html` (any case) is
    /// [`text/html; charset=utf-8`](TEXT_HTML) shown inline; every other extension is
    /// [`application/octet-stream`](OCTET_STREAM) with an
    /// [`attachment_disposition`] naming the file.
    ///
    /// # Errors
    /// `NotFound` when the file (or a directory's `index.html`) does not exist,
    /// `IsDirectory` when a non-directory-form path names a directory, `Forbidden` for a
    /// permission error, a link leaving the root or a file that is not a regular file,
    /// `Io` for any other failure (the `io::Error` is the source).
    pub fn open(path: &SafePath) -> Result<StaticFile, ServeError> {
        StaticFile::open_in(&open_root(path)?, path)
    }

    /// Opens `path` beneath `root`; see [`open`](Self::open).
    pub(crate) fn open_in(root: &Root, path: &SafePath) -> Result<StaticFile, ServeError> {
        let target = file_target(path)?;
        let target = target.as_ref();
        StaticFile::open_as(root, target, target.relative(), target.as_path())
    }

    /// Builds a file from its parts; the cache uses it for hits and misses.
    pub(crate) fn from_parts(body: Body, info: Arc<FileInfo>) -> StaticFile {
        StaticFile { body, info }
    }

    /// Opens, beneath `root`, the file named like `path`'s file with `suffix` appended
    /// (`a.css` and `.gz` give `a.css.gz`), with every check of [`open`](Self::open),
    /// but describes it as `path`'s file: content type and disposition are those of the
    /// original name. A directory-form path stands for its `index.html`.
    ///
    /// `suffix` must look like an extension: a dot then ASCII letters and digits.
    pub(crate) fn open_sibling(
        root: &Root,
        path: &SafePath,
        suffix: &str,
    ) -> Result<StaticFile, ServeError> {
        let target = file_target(path)?;
        let target = target.as_ref();
        let full = target.as_path();
        let plain_suffix = suffix
            .strip_prefix('.')
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let Some(name) = full.file_name().filter(|_| plain_suffix) else {
            return Err(ServeError::new(full, ErrorKind::Forbidden));
        };
        let mut sibling_name = name.to_os_string();
        sibling_name.push(suffix);
        let sibling = full.with_file_name(sibling_name);
        let relative = format!("{}{suffix}", target.relative());
        StaticFile::open_as(root, target, &relative, &sibling)
    }

    /// Opens `relative` beneath `root` and describes it with `target`'s name; `full` is
    /// its path, for errors.
    pub(crate) fn open_as(
        root: &Root,
        target: &SafePath,
        relative: &str,
        full: &Path,
    ) -> Result<StaticFile, ServeError> {
        let (file, meta) = open_checked(root, relative, full)?;
        Ok(StaticFile {
            body: Body::File(file),
            info: Arc::new(describe(target, full, &meta)),
        })
    }

    /// Returns the file's size in bytes, taken when it was opened.
    pub fn len(&self) -> u64 {
        self.info.len
    }

    /// Tells whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.info.len == 0
    }

    /// Returns the modification time, if the filesystem reports one.
    pub fn modified(&self) -> Option<SystemTime> {
        self.info.modified
    }

    /// Returns the `Content-Type` value: `text/html; charset=utf-8` for html, else
    /// `application/octet-stream`.
    pub fn content_type(&self) -> &'static str {
        self.info.content_type
    }

    /// Returns the `Content-Disposition` value for downloads
    /// (`attachment; filename="NAME"`), or `None` for pages shown inline.
    pub fn content_disposition(&self) -> Option<&str> {
        self.info.attachment.as_deref()
    }

    /// Copies exactly [`len`](Self::len) bytes to `out` in constant memory.
    ///
    /// Reading starts at the beginning of the file on every call, through a buffer of
    /// at most [`SEND_BUFFER_BYTES`]. Bytes appended after the file was opened are not
    /// sent: the `Content-Length` already announced [`len`](Self::len).
    ///
    /// # Errors
    /// The `io::Error` of a read or write; `UnexpectedEof` if the file shrank. The body
    /// is never padded, so after an error part of it may already be written and the
    /// caller must close the connection.
    pub fn send_to(&mut self, out: &mut dyn io::Write) -> io::Result<u64> {
        self.copy_span(0, self.info.len, out)
    }

    /// Copies exactly the bytes of `range` to `out` in constant memory.
    ///
    /// Like [`send_to`](Self::send_to), reading goes through a buffer of at most
    /// [`SEND_BUFFER_BYTES`] and the length is the one announced: `range.len()`.
    /// Offsets are `u64` throughout, so ranges past 4 GiB work.
    ///
    /// # Errors
    /// `InvalidInput` if `range` is empty or ends at or past [`len`](Self::len)
    /// (nothing is written then); otherwise as [`send_to`](Self::send_to), including
    /// `UnexpectedEof` if the file shrank.
    ///
    /// # Examples
    /// ```no_run
    /// use std::path::Path;
    ///
    /// use httpd_files::StaticFile;
    /// use httpd_proto::ByteRange;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = httpd_security::resolve_path(Path::new("resources"), "/index.html")?;
    /// let mut file = StaticFile::open(&path)?;
    /// let mut out = Vec::new();
    /// file.send_range_to(&mut out, ByteRange { start: 0, end: 9 })?;
    /// assert_eq!(out.len(), 10);
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_range_to(&mut self, out: &mut dyn io::Write, range: ByteRange) -> io::Result<u64> {
        if range.is_empty() || range.end >= self.info.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "range {}-{} is not inside a file of {} bytes",
                    range.start, range.end, self.info.len
                ),
            ));
        }
        self.copy_span(range.start, range.len(), out)
    }

    /// Returns the file's validators (`ETag`, `Last-Modified`), computed from the
    /// metadata of the open handle.
    pub fn validators(&self) -> &Validators {
        &self.info.validators
    }

    /// Returns the identity of the file version opened (device, inode, size, mtime,
    /// ctime), taken from the same metadata as [`len`](Self::len): the key of its
    /// [`ContentTags`](crate::ContentTags) entry. For a [`FileCache`](crate::FileCache) hit it is the
    /// cached version's, which the hit checked against the file on disk.
    pub fn identity(&self) -> FileIdentity {
        self.info.identity
    }

    /// Returns the identity of the open handle as it is now (one `fstat`), or, for
    /// bytes from the [`FileCache`](crate::FileCache), of the version they are; `None` if it cannot be
    /// read.
    pub(crate) fn current_identity(&self) -> Option<FileIdentity> {
        match &self.body {
            Body::File(file) => file
                .metadata()
                .ok()
                .map(|m| FileIdentity::from_metadata(&m)),
            Body::Bytes(_) => Some(self.info.identity),
        }
    }

    /// Returns the extension of the name that was asked for, lowercased, or `None`
    /// when it has none. For a directory-form path it is that of `index.html`; for a
    /// precompressed sidecar it is the original's (`css` for `a.css.gz`).
    pub fn extension(&self) -> Option<&str> {
        self.info.extension.as_deref()
    }

    /// Sends exactly [`len`](Self::len) bytes to the socket `out` with `sendfile(2)`:
    /// the bytes go from the page cache to the socket without passing through user
    /// memory. `out` must be in blocking mode; its send timeout bounds each call.
    /// A file served from a [`FileCache`](crate::FileCache) hit has its bytes in memory already; they
    /// are written with `write(2)` under the same rules.
    ///
    /// # Errors
    /// The `io::Error` of `sendfile` (`WouldBlock` when the send timeout passed);
    /// `UnexpectedEof` if the file shrank.
    pub fn sendfile_to(&mut self, out: BorrowedFd<'_>) -> io::Result<u64> {
        self.sendfile_span(out, 0, self.info.len)
    }

    /// Sends one byte range to the socket `out` with `sendfile(2)`.
    ///
    /// # Errors
    /// `InvalidInput` for a range outside the file, else as
    /// [`sendfile_to`](Self::sendfile_to).
    pub fn sendfile_range_to(&mut self, out: BorrowedFd<'_>, range: ByteRange) -> io::Result<u64> {
        if range.is_empty() || range.end >= self.info.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "range is not inside the file",
            ));
        }
        self.sendfile_span(out, range.start, range.len())
    }

    fn sendfile_span(&mut self, out: BorrowedFd<'_>, start: u64, len: u64) -> io::Result<u64> {
        /// Linux moves at most about 2 GiB per call.
        const MAX_PER_CALL: u64 = 1 << 30;
        let file = match &self.body {
            Body::File(file) => file,
            Body::Bytes(bytes) => return write_span(out, bytes, start, len),
        };
        let mut offset = start;
        let end = start + len;
        while offset < end {
            let want = usize::try_from((end - offset).min(MAX_PER_CALL)).unwrap_or(1 << 20);
            match rustix::fs::sendfile(out, file, Some(&mut offset), want) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("file ended {} bytes before its opened length", end - offset),
                    ));
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(len)
    }

    /// Sends at most `max` bytes from `offset` to the socket `out` with one
    /// `sendfile(2)` call and returns how many went, for a caller that owns a
    /// nonblocking socket and resumes on writability. A file served from a
    /// [`FileCache`](crate::FileCache) hit writes from memory instead.
    ///
    /// # Errors
    /// `WouldBlock` when the socket takes nothing now; `UnexpectedEof` when the file
    /// ended before `offset + 1` (it shrank after it was opened); `InvalidInput` when
    /// `offset` is at or past [`len`](Self::len).
    pub fn sendfile_at(&self, out: BorrowedFd<'_>, offset: u64, max: usize) -> io::Result<usize> {
        if offset >= self.info.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "offset is not inside the file",
            ));
        }
        let max = usize::try_from(self.info.len - offset).map_or(max, |left| left.min(max));
        let file = match &self.body {
            Body::File(file) => file,
            Body::Bytes(bytes) => {
                let rest = span(bytes, offset, max as u64)?;
                return loop {
                    match rustix::io::write(out, rest) {
                        Ok(n) => break Ok(n),
                        Err(rustix::io::Errno::INTR) => {}
                        Err(e) => break Err(e.into()),
                    }
                };
            }
        };
        let mut at = offset;
        loop {
            match rustix::fs::sendfile(out, file, Some(&mut at), max) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ended before its opened length",
                    ));
                }
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads bytes from `offset` into `buf` with one positioned read (no seek) and
    /// returns how many were read, at most up to [`len`](Self::len).
    ///
    /// # Errors
    /// `UnexpectedEof` when the file ended before its opened length; the `io::Error`
    /// of the read otherwise.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.info.len.saturating_sub(offset);
        let want = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
        if want == 0 {
            return Ok(0);
        }
        match &self.body {
            Body::Bytes(bytes) => {
                buf[..want].copy_from_slice(span(bytes, offset, want as u64)?);
                Ok(want)
            }
            Body::File(file) => loop {
                match file.read_at(&mut buf[..want], offset) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file ended before its opened length",
                        ));
                    }
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            },
        }
    }

    /// Returns the whole contents when they are in memory (a [`FileCache`](crate::FileCache) hit).
    pub fn cached_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Bytes(bytes) => Some(bytes),
            Body::File(_) => None,
        }
    }

    /// Copies `len` bytes starting at `start` to `out`.
    fn copy_span(&mut self, start: u64, len: u64, out: &mut dyn io::Write) -> io::Result<u64> {
        use std::os::unix::fs::FileExt;
        let file = match &self.body {
            Body::File(file) => file,
            Body::Bytes(bytes) => {
                out.write_all(span(bytes, start, len)?)?;
                return Ok(len);
            }
        };
        let buf_len =
            usize::try_from(len).map_or(SEND_BUFFER_BYTES, |len| len.min(SEND_BUFFER_BYTES));
        let mut buf = vec![0u8; buf_len];
        let mut offset = start;
        let end = start + len;
        while offset < end {
            let want = usize::try_from(end - offset).map_or(buf.len(), |r| r.min(buf.len()));
            // Positioned reads: no seek, and the file's own offset is never relied on.
            let n = match file.read_at(&mut buf[..want], offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("file ended {} bytes before its opened length", end - offset),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.write_all(&buf[..n])?;
            offset += n as u64;
        }
        Ok(len)
    }
}

/// Returns `len` bytes of `bytes` from `start`; the callers checked the span against
/// the file's length, which is the length of `bytes`, so the error cannot happen.
fn span(bytes: &[u8], start: u64, len: u64) -> io::Result<&[u8]> {
    usize::try_from(start)
        .ok()
        .zip(usize::try_from(len).ok())
        .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "span is outside the bytes"))
}

/// Writes `len` bytes of `bytes` from `start` to `out` with blocking `write(2)` calls,
/// the in-memory counterpart of `sendfile`: `out` must be in blocking mode and its
/// send timeout bounds each call (`WouldBlock` when it passed).
fn write_span(out: BorrowedFd<'_>, bytes: &[u8], start: u64, len: u64) -> io::Result<u64> {
    let mut rest = span(bytes, start, len)?;
    while !rest.is_empty() {
        match rustix::io::write(out, rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(len)
}

/// Returns the `Content-Disposition` value offering `file_name` as a download.
///
/// The quoted `filename` parameter (RFC 6266 section 4.3) is plain ASCII: `"` and `\`
/// are escaped with a backslash, control characters are dropped and each non-ASCII
/// character becomes `_`. When the name is not ASCII, the exact name follows as
/// `filename*=UTF-8''…` percent-encoded per RFC 8187 section 3.2.1, which current
/// browsers prefer. The result never holds CR, LF or other control bytes, so it is safe
/// as a header value.
///
/// # Examples
/// ```
/// use httpd_files::attachment_disposition;
///
/// assert_eq!(attachment_disposition("logo.png"), r#"attachment; filename="logo.png""#);
/// assert_eq!(
///     attachment_disposition("café.txt"),
///     r#"attachment; filename="caf_.txt"; filename*=UTF-8''caf%C3%A9.txt"#
/// );
/// ```
pub fn attachment_disposition(file_name: &str) -> String {
    let mut fallback = String::with_capacity(file_name.len());
    let mut is_ascii = true;
    for c in file_name.chars().filter(|c| !c.is_control()) {
        match c {
            '"' | '\\' => {
                fallback.push('\\');
                fallback.push(c);
            }
            c if c.is_ascii() => fallback.push(c),
            _ => {
                is_ascii = false;
                fallback.push('_');
            }
        }
    }
    let mut value = format!("attachment; filename=\"{fallback}\"");
    if !is_ascii {
        value.push_str("; filename*=UTF-8''");
        let mut utf8 = [0u8; 4];
        for c in file_name.chars().filter(|c| !c.is_control()) {
            for &b in c.encode_utf8(&mut utf8).as_bytes() {
                if is_attr_char(b) {
                    value.push(char::from(b));
                } else {
                    // Writing to a String cannot fail.
                    let _ = write!(value, "%{b:02X}");
                }
            }
        }
    }
    value
}

/// Returns the media type usually served for a file extension (case-insensitive), or
/// `application/octet-stream` for an unknown one.
///
/// [`StaticFile`] does not use this yet: the seed sends every non-HTML file as a
/// download. It is here for a server that wants real types (`text/css`, `image/png`,
/// ...). Text types carry `; charset=utf-8`.
///
/// # Examples
/// ```
/// use httpd_files::media_type_for;
///
/// assert_eq!(media_type_for("PNG"), "image/png");
/// assert_eq!(media_type_for("css"), "text/css; charset=utf-8");
/// assert_eq!(media_type_for("exe"), "application/octet-stream");
/// ```
pub fn media_type_for(ext: &str) -> &'static str {
    const TYPES: &[(&str, &str)] = &[
        ("html", TEXT_HTML),
        ("htm", TEXT_HTML),
        ("css", "text/css; charset=utf-8"),
        ("js", "text/javascript; charset=utf-8"),
        ("mjs", "text/javascript; charset=utf-8"),
        ("txt", "text/plain; charset=utf-8"),
        ("json", "application/json"),
        ("svg", "image/svg+xml"),
        ("wasm", "application/wasm"),
        ("woff", "font/woff"),
        ("woff2", "font/woff2"),
        ("pdf", "application/pdf"),
        ("mp4", "video/mp4"),
        ("webp", "image/webp"),
        ("ico", "image/vnd.microsoft.icon"),
        ("gif", "image/gif"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
    ];
    TYPES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(ext))
        .map_or(OCTET_STREAM, |&(_, media_type)| media_type)
}

impl Root {
    /// Opens `path` for serving beneath this root; a directory-form path serves its
    /// `index.html`. See [`StaticFile::open`] for the rules and errors.
    ///
    /// # Errors
    /// As [`StaticFile::open`].
    pub fn open(&self, path: &SafePath) -> Result<StaticFile, ServeError> {
        StaticFile::open_in(self, path)
    }
}

/// The file `path` names: itself, or for a directory-form path its `index.html`.
pub(crate) fn file_target(path: &SafePath) -> Result<std::borrow::Cow<'_, SafePath>, ServeError> {
    if path.is_dir_form() {
        join_index(path).map(std::borrow::Cow::Owned)
    } else {
        Ok(std::borrow::Cow::Borrowed(path))
    }
}

/// Returns the `index.html` path of a directory-form path.
fn join_index(path: &SafePath) -> Result<SafePath, ServeError> {
    path.join(INDEX_FILE)
        .map_err(|e| ServeError::with_source(path.as_path(), ErrorKind::Io, io::Error::other(e)))
}

/// Opens the directory `path` was resolved under, for the path-based conveniences.
pub(crate) fn open_root(path: &SafePath) -> Result<Root, ServeError> {
    Root::at(path.root()).map_err(|e| open_error(path.root(), e))
}

/// Returns the inode number, which tells apart files of equal size and date.
fn inode(meta: &Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

/// Opens `relative` beneath `root` as a regular file to serve; returns it with its
/// metadata. `full` names it in errors.
pub(crate) fn open_checked(
    root: &Root,
    relative: &str,
    full: &Path,
) -> Result<(File, Metadata), ServeError> {
    let file = root
        .open_file(relative)
        .map_err(|e| open_error(full, e.into()))?;
    let meta = file.metadata().map_err(|e| open_error(full, e))?;
    if meta.is_dir() {
        return Err(ServeError::new(full, ErrorKind::IsDirectory));
    }
    if !meta.is_file() {
        return Err(ServeError::new(full, ErrorKind::Forbidden));
    }
    Ok((file, meta))
}

/// Describes the file opened at `full` with `target`'s name and `meta`'s size, date
/// and inode.
pub(crate) fn describe(target: &SafePath, full: &Path, meta: &Metadata) -> FileInfo {
    let name = target.file_name().map_or_else(
        || {
            full.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        },
        str::to_string,
    );
    let (content_type, attachment) = match target.extension() {
        Some(ext) if ext.eq_ignore_ascii_case("html") => (TEXT_HTML, None),
        _ => (OCTET_STREAM, Some(attachment_disposition(&name))),
    };
    let modified = meta.modified().ok();
    FileInfo {
        len: meta.len(),
        modified,
        content_type,
        attachment,
        extension: target.extension().map(str::to_ascii_lowercase),
        validators: Validators::new(meta.len(), modified, inode(meta)),
        identity: FileIdentity::from_metadata(meta),
    }
}

/// Tells whether `b` may appear unencoded in an RFC 8187 `value-chars`:
/// `attr-char = ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" /
/// "`" / "|" / "~"`.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use httpd_security::resolve_path;

    use super::*;
    use crate::test_util::{TempDir, as_unprivileged, skip, through_socket};

    fn open(root: &TempDir, raw: &str) -> Result<StaticFile, ServeError> {
        let safe = resolve_path(root.path(), raw).expect("test paths are safe");
        StaticFile::open(&safe)
    }

    fn kind_of(result: Result<StaticFile, ServeError>) -> Option<ErrorKind> {
        result.err().map(|e| e.kind())
    }

    #[test]
    fn sendfile_moves_whole_files_and_ranges_to_a_socket() {
        let root = TempDir::new();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        root.write("big.txt", &data);
        let mut file = open(&root, "/big.txt").unwrap();
        let (sent, got) = through_socket(|fd| file.sendfile_to(fd));
        assert_eq!(sent.unwrap(), data.len() as u64);
        assert!(got == data);
        let range = ByteRange {
            start: 1_000_000,
            end: 1_000_099,
        };
        let (sent, got) = through_socket(|fd| file.sendfile_range_to(fd, range));
        assert_eq!(sent.unwrap(), 100);
        assert_eq!(got, &data[1_000_000..1_000_100]);
        let outside = ByteRange {
            start: 10,
            end: 3_000_000,
        };
        let (sent, _) = through_socket(|fd| file.sendfile_range_to(fd, outside));
        assert_eq!(sent.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn sendfile_reports_a_file_that_shrank() {
        let root = TempDir::new();
        let path = root.write("shrinks.txt", &[7u8; 10_000]);
        let mut file = open(&root, "/shrinks.txt").unwrap();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(100)
            .unwrap();
        let (sent, got) = through_socket(|fd| file.sendfile_to(fd));
        assert_eq!(sent.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(got.len(), 100);
    }

    #[test]
    fn relative_links_resolve_beneath_the_root_only() {
        let base = TempDir::new();
        base.write("outside/secret.txt", b"secret");
        base.write("root/inside.txt", b"inside");
        base.mkdir("root/sub");
        let root_dir = base.path().join("root");
        // Relative links, which openat2's RESOLVE_BENEATH judges on the fast path.
        symlink("../outside/secret.txt", root_dir.join("leak.txt")).unwrap();
        symlink("../inside.txt", root_dir.join("sub/alias.txt")).unwrap();
        let open_in = |raw: &str| {
            let safe = resolve_path(&root_dir, raw).expect("test paths are safe");
            StaticFile::open(&safe)
        };
        assert_eq!(kind_of(open_in("/leak.txt")), Some(ErrorKind::Forbidden));
        let mut alias = open_in("/sub/alias.txt").unwrap();
        let mut got = Vec::new();
        alias.send_to(&mut got).unwrap();
        assert_eq!(got, b"inside");
        assert_eq!(kind_of(open_in("/sub")), Some(ErrorKind::IsDirectory));
        assert_eq!(kind_of(open_in("/missing.txt")), Some(ErrorKind::NotFound));
    }

    #[test]
    fn content_types_and_dispositions_follow_the_seed() {
        let root = TempDir::new();
        let table: &[(&str, &str, Option<&str>)] = &[
            ("index.html", TEXT_HTML, None),
            ("PAGE.HTML", TEXT_HTML, None),
            (
                "notes.txt",
                OCTET_STREAM,
                Some(r#"attachment; filename="notes.txt""#),
            ),
            (
                "logo.png",
                OCTET_STREAM,
                Some(r#"attachment; filename="logo.png""#),
            ),
            (
                "photo.jpg",
                OCTET_STREAM,
                Some(r#"attachment; filename="photo.jpg""#),
            ),
            (
                "BIG.JPEG",
                OCTET_STREAM,
                Some(r#"attachment; filename="BIG.JPEG""#),
            ),
            (
                "data.bin",
                OCTET_STREAM,
                Some(r#"attachment; filename="data.bin""#),
            ),
        ];
        for (name, content_type, disposition) in table {
            root.write(name, b"x");
            let file = open(&root, &format!("/{name}")).expect(name);
            assert_eq!(file.content_type(), *content_type, "{name}");
            assert_eq!(file.content_disposition(), *disposition, "{name}");
        }
    }

    #[test]
    fn disposition_escapes_quotes_backslashes_and_drops_controls() {
        let table: &[(&str, &str)] = &[
            ("plain.txt", r#"attachment; filename="plain.txt""#),
            (
                r#"say "hi".txt"#,
                r#"attachment; filename="say \"hi\".txt""#,
            ),
            (
                r"back\slash.png",
                r#"attachment; filename="back\\slash.png""#,
            ),
            (
                "evil\r\nSet-Cookie: a=b.txt",
                r#"attachment; filename="evilSet-Cookie: a=b.txt""#,
            ),
            ("tab\tdel\u{7f}.jpg", r#"attachment; filename="tabdel.jpg""#),
        ];
        for (name, expected) in table {
            assert_eq!(attachment_disposition(name), *expected, "{name:?}");
        }
    }

    #[test]
    fn disposition_adds_utf8_filename_for_unicode_names() {
        let table: &[(&str, &str)] = &[
            (
                "résumé.txt",
                r#"attachment; filename="r_sum_.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"#,
            ),
            (
                "日本.png",
                r#"attachment; filename="__.png"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.png"#,
            ),
            (
                "a \"b\" ü.jpg",
                r#"attachment; filename="a \"b\" _.jpg"; filename*=UTF-8''a%20%22b%22%20%C3%BC.jpg"#,
            ),
        ];
        for (name, expected) in table {
            let value = attachment_disposition(name);
            assert_eq!(value, *expected, "{name:?}");
            assert!(value.is_ascii());
        }
    }

    #[test]
    fn unicode_file_on_disk_gets_both_filename_forms() {
        let root = TempDir::new();
        root.write("café.txt", b"x");
        let file = open(&root, "/caf%C3%A9.txt").expect("open unicode name");
        assert_eq!(
            file.content_disposition(),
            Some(r#"attachment; filename="caf_.txt"; filename*=UTF-8''caf%C3%A9.txt"#)
        );
    }

    #[test]
    fn media_types_cover_common_extensions() {
        let table: &[(&str, &str)] = &[
            ("css", "text/css; charset=utf-8"),
            ("JS", "text/javascript; charset=utf-8"),
            ("svg", "image/svg+xml"),
            ("json", "application/json"),
            ("wasm", "application/wasm"),
            ("woff2", "font/woff2"),
            ("pdf", "application/pdf"),
            ("mp4", "video/mp4"),
            ("webp", "image/webp"),
            ("ico", "image/vnd.microsoft.icon"),
            ("gif", "image/gif"),
            ("txt", "text/plain; charset=utf-8"),
            ("png", "image/png"),
            ("Jpeg", "image/jpeg"),
            ("jpg", "image/jpeg"),
            ("html", TEXT_HTML),
            ("", OCTET_STREAM),
            ("tar.gz", OCTET_STREAM),
        ];
        for (ext, expected) in table {
            assert_eq!(media_type_for(ext), *expected, "{ext:?}");
        }
    }

    #[test]
    fn directory_form_serves_index_html() {
        let root = TempDir::new();
        root.write("index.html", b"<h1>home</h1>");
        root.write("docs/index.html", b"<h1>docs</h1>");
        for (raw, body) in [("/", &b"<h1>home</h1>"[..]), ("/docs/", b"<h1>docs</h1>")] {
            let mut file = open(&root, raw).expect(raw);
            assert_eq!(file.content_type(), TEXT_HTML);
            assert_eq!(file.content_disposition(), None);
            assert_eq!(file.len(), body.len() as u64);
            let mut out = Vec::new();
            file.send_to(&mut out).expect("send");
            assert_eq!(out, body);
        }
    }

    #[test]
    fn directory_form_without_index_is_not_found() {
        let root = TempDir::new();
        root.mkdir("empty");
        assert_eq!(kind_of(open(&root, "/empty/")), Some(ErrorKind::NotFound));
    }

    #[test]
    fn missing_files_are_not_found() {
        let root = TempDir::new();
        root.write("file.txt", b"x");
        for raw in ["/nope.txt", "/no/such/dir.html", "/file.txt/below.txt"] {
            assert_eq!(
                kind_of(open(&root, raw)),
                Some(ErrorKind::NotFound),
                "{raw}"
            );
        }
    }

    #[test]
    fn directory_without_trailing_slash_is_a_directory() {
        let root = TempDir::new();
        root.write("docs/index.html", b"x");
        assert_eq!(kind_of(open(&root, "/docs")), Some(ErrorKind::IsDirectory));
    }

    #[test]
    fn size_and_date_come_from_the_file() {
        let root = TempDir::new();
        let path = root.write("a.txt", b"hello");
        let file = open(&root, "/a.txt").expect("open");
        assert_eq!(file.len(), 5);
        assert!(!file.is_empty());
        let expected = fs::metadata(path).and_then(|m| m.modified()).ok();
        assert_eq!(file.modified(), expected);

        root.write("empty.txt", b"");
        let mut empty = open(&root, "/empty.txt").expect("open empty");
        assert!(empty.is_empty());
        let mut out = Vec::new();
        assert_eq!(empty.send_to(&mut out).expect("send empty"), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn symlink_inside_root_to_file_inside_is_served() {
        let root = TempDir::new();
        root.write("real/data.txt", b"inside");
        symlink(
            root.path().join("real/data.txt"),
            root.path().join("link.txt"),
        )
        .unwrap();
        symlink("real", root.path().join("alias")).unwrap();
        for (raw, name) in [("/link.txt", "link.txt"), ("/alias/data.txt", "data.txt")] {
            let mut file = open(&root, raw).expect(raw);
            let mut out = Vec::new();
            file.send_to(&mut out).unwrap();
            assert_eq!(out, b"inside", "{raw}");
            let expected = format!("attachment; filename=\"{name}\"");
            assert_eq!(file.content_disposition(), Some(expected.as_str()));
        }
    }

    #[test]
    fn symlink_to_file_outside_root_is_forbidden() {
        let outside = TempDir::new();
        let secret = outside.write("secret.txt", b"secret");
        let root = TempDir::new();
        symlink(&secret, root.path().join("leak.txt")).unwrap();
        assert_eq!(
            kind_of(open(&root, "/leak.txt")),
            Some(ErrorKind::Forbidden)
        );
    }

    #[test]
    fn symlinked_directory_pointing_outside_is_forbidden() {
        let outside = TempDir::new();
        outside.write("secret.txt", b"secret");
        outside.write("index.html", b"secret page");
        let root = TempDir::new();
        symlink(outside.path(), root.path().join("out")).unwrap();
        assert_eq!(
            kind_of(open(&root, "/out/secret.txt")),
            Some(ErrorKind::Forbidden)
        );
        assert_eq!(kind_of(open(&root, "/out/")), Some(ErrorKind::Forbidden));
        // A missing name behind the link never opens anything outside.
        let missing = kind_of(open(&root, "/out/missing.txt"));
        assert!(
            matches!(missing, Some(ErrorKind::Forbidden | ErrorKind::NotFound)),
            "{missing:?}"
        );
    }

    #[test]
    fn symlink_loop_is_refused() {
        let root = TempDir::new();
        symlink("b.txt", root.path().join("a.txt")).unwrap();
        symlink("a.txt", root.path().join("b.txt")).unwrap();
        let got = kind_of(open(&root, "/a.txt"));
        assert!(
            matches!(got, Some(ErrorKind::Forbidden | ErrorKind::NotFound)),
            "{got:?}"
        );
    }

    #[test]
    fn fifo_is_forbidden_without_blocking() {
        let root = TempDir::new();
        root.mkfifo("pipe.txt");
        let safe = resolve_path(root.path(), "/pipe.txt").unwrap();
        let (tx, rx) = mpsc::channel();
        // If open blocked on the FIFO this thread would hang; the test fails on the
        // timeout instead, and the process exit reaps the thread.
        thread::spawn(move || {
            let _ = tx.send(StaticFile::open(&safe).err().map(|e| e.kind()));
        });
        let got = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("open returned without blocking");
        assert_eq!(got, Some(ErrorKind::Forbidden));
    }

    #[test]
    fn unreadable_file_is_forbidden() {
        use std::os::unix::fs::PermissionsExt;

        let root = TempDir::new();
        let path = root.write("locked.txt", b"x");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        let safe = resolve_path(root.path(), "/locked.txt").unwrap();
        // Root (as CI runs) reads any file: check as an unprivileged user.
        let got = as_unprivileged(move || {
            let denied =
                File::open(&path).is_err_and(|e| e.kind() == io::ErrorKind::PermissionDenied);
            denied.then(|| kind_of(StaticFile::open(&safe)))
        });
        match got.flatten() {
            Some(kind) => assert_eq!(kind, Some(ErrorKind::Forbidden)),
            None => skip(
                "unreadable_file_is_forbidden",
                "no unprivileged identity to test a mode-000 file with",
            ),
        }
    }

    #[test]
    fn send_to_copies_exact_bytes_of_a_large_file() {
        let root = TempDir::new();
        let contents: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 31 % 251) as u8).collect();
        root.write("big.png", &contents);
        let mut file = open(&root, "/big.png").expect("open");
        assert_eq!(file.len(), contents.len() as u64);
        let mut out = Vec::new();
        assert_eq!(file.send_to(&mut out).expect("send"), contents.len() as u64);
        assert!(out == contents, "body differs");

        // A second call starts over from the beginning.
        let mut again = Vec::new();
        file.send_to(&mut again).expect("send again");
        assert!(again == contents, "second body differs");
    }

    #[test]
    fn send_to_reports_a_file_truncated_after_open() {
        let root = TempDir::new();
        let path = root.write("shrink.txt", &[7u8; 200_000]);
        let mut file = open(&root, "/shrink.txt").expect("open");
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(1000))
            .unwrap();
        let mut out = Vec::new();
        let err = file.send_to(&mut out).expect_err("file shrank");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(out.len(), 1000, "no padding, only the bytes that exist");
    }

    #[test]
    fn send_to_ignores_bytes_appended_after_open() {
        let root = TempDir::new();
        let path = root.write("grow.txt", b"12345");
        let mut file = open(&root, "/grow.txt").expect("open");
        fs::write(&path, b"1234567890").unwrap();
        let mut out = Vec::new();
        assert_eq!(file.send_to(&mut out).unwrap(), 5);
        assert_eq!(out, b"12345");
    }

    #[test]
    fn send_range_to_copies_exactly_the_range() {
        let root = TempDir::new();
        root.write("digits.txt", b"0123456789");
        let mut file = open(&root, "/digits.txt").expect("open");
        let cases: &[(u64, u64, &[u8])] = &[
            (0, 0, b"0"),
            (0, 9, b"0123456789"),
            (3, 5, b"345"),
            (9, 9, b"9"),
        ];
        for &(start, end, expected) in cases {
            let mut out = Vec::new();
            let n = file
                .send_range_to(&mut out, ByteRange { start, end })
                .expect("in range");
            assert_eq!(out, expected, "{start}-{end}");
            assert_eq!(n, expected.len() as u64);
        }
    }

    #[test]
    fn send_range_to_refuses_ranges_outside_the_file() {
        let root = TempDir::new();
        root.write("digits.txt", b"0123456789");
        let mut file = open(&root, "/digits.txt").expect("open");
        for (start, end) in [
            (0, 10),
            (10, 10),
            (5, 4),
            (0, u64::MAX),
            (u64::MAX, u64::MAX),
        ] {
            let mut out = Vec::new();
            let err = file
                .send_range_to(&mut out, ByteRange { start, end })
                .expect_err("outside");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{start}-{end}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn send_range_to_reports_a_file_truncated_after_open() {
        let root = TempDir::new();
        let path = root.write("shrink.txt", &[7u8; 200_000]);
        let mut file = open(&root, "/shrink.txt").expect("open");
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(150_000))
            .unwrap();
        let mut out = Vec::new();
        let range = ByteRange {
            start: 100_000,
            end: 199_999,
        };
        let err = file.send_range_to(&mut out, range).expect_err("shrank");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(out.len(), 50_000, "no padding");
    }

    #[test]
    fn ranges_across_four_gib_read_the_right_bytes_of_a_sparse_file() {
        use std::os::unix::fs::FileExt;

        const FOUR_GIB: u64 = 4 << 30;
        let root = TempDir::new();
        let path = root.path().join("huge.bin");
        let huge = File::create(&path).unwrap();
        // Sparse: no disk blocks are used for the holes.
        if let Err(e) = huge.set_len(5 << 30) {
            let reason = format!("the temp filesystem refuses a 5 GiB file: {e}");
            return skip(
                "ranges_across_four_gib_read_the_right_bytes_of_a_sparse_file",
                &reason,
            );
        }
        huge.write_all_at(b"ABCDEFGH", FOUR_GIB - 4).unwrap();
        huge.write_all_at(b"END", (5 << 30) - 3).unwrap();
        drop(huge);

        let mut file = open(&root, "/huge.bin").expect("open");
        assert_eq!(file.len(), 5 << 30);
        let cases: &[(u64, u64, &[u8])] = &[
            (FOUR_GIB - 4, FOUR_GIB + 3, b"ABCDEFGH"),
            (FOUR_GIB, FOUR_GIB + 1, b"EF"),
            (FOUR_GIB - 6, FOUR_GIB - 3, b"\0\0AB"),
            ((5 << 30) - 3, (5 << 30) - 1, b"END"),
        ];
        for &(start, end, expected) in cases {
            let mut out = Vec::new();
            file.send_range_to(&mut out, ByteRange { start, end })
                .expect("read");
            assert_eq!(out, expected, "{start}-{end}");
        }

        // The parser and the multipart writer agree across the boundary.
        let httpd_proto::RangeRequest::Ranges(ranges) =
            httpd_proto::parse_range(b"bytes=4294967292-4294967295,-3", file.len(), 16)
        else {
            panic!("ranges expected");
        };
        let body =
            crate::Multipart::with_boundary(&ranges, "application/octet-stream", file.len(), "B");
        let mut out = Vec::new();
        let n = body.write_to(&mut file, &mut out).expect("multipart");
        assert_eq!(n, body.content_length());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Content-Range: bytes 4294967292-4294967295/5368709120\r\n\r\nABCD\r\n")
        );
        assert!(
            text.contains("Content-Range: bytes 5368709117-5368709119/5368709120\r\n\r\nEND\r\n")
        );
    }

    #[test]
    fn validators_and_extension_come_from_the_open_file() {
        use std::os::unix::fs::MetadataExt;

        let root = TempDir::new();
        let path = root.write("Page.HTML", b"<p>x</p>");
        root.write("index.html", b"home");
        root.write("noext", b"x");
        let file = open(&root, "/Page.HTML").expect("open");
        let meta = fs::metadata(&path).unwrap();
        let expected = Validators::new(8, meta.modified().ok(), meta.ino());
        assert_eq!(file.validators(), &expected);
        assert_eq!(file.extension(), Some("html"));
        assert_eq!(open(&root, "/").expect("index").extension(), Some("html"));
        assert_eq!(open(&root, "/noext").expect("noext").extension(), None);
    }

    #[test]
    fn open_sibling_checks_the_suffix() {
        let root = TempDir::new();
        root.write("a.txt", b"x");
        root.write("a.txt.gz", b"gz");
        let safe = resolve_path(root.path(), "/a.txt").unwrap();
        let dir = Root::at(root.path()).unwrap();
        assert_eq!(
            StaticFile::open_sibling(&dir, &safe, ".gz")
                .expect("sibling")
                .len(),
            2
        );
        for bad in ["", ".", "gz", "./x", "/../a", ".g/z", ".gz\0"] {
            assert_eq!(
                kind_of(StaticFile::open_sibling(&dir, &safe, bad)),
                Some(ErrorKind::Forbidden),
                "{bad:?}"
            );
        }
    }
}
