//! GET and HEAD of files: representation choice (identity, precompressed sidecar, gzip
//! on the fly), validators and conditional requests (RFC 9110 section 13), byte ranges
//! (RFC 9110 section 14), directory redirects, indexes and optional listings.
//!
//! The same rules run in two places. On the poller, [`route_cached`] answers from the
//! file cache alone (one `statx`, no open) or says that the disk is needed; a worker
//! then runs [`serve`], which may open, stat, read sidecars, list directories and
//! compress. Which of the two answers is decided once, before any byte is written.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use httpd_files::{
    CachePolicy, Conditions, GzipSteps, Kind, Multipart, Precondition, Root, StaticFile,
    is_compressible_ext,
};
use httpd_proto::{ByteRange, Coding, Method, RangeRequest, Request, Version};
use httpd_security::SafePath;

use crate::Context;
use crate::error::Failure;
use crate::out::Stream;
use crate::response::{self, Finish, Response};

/// Files up to this size are gzipped into memory, so the response has a
/// `Content-Length` (and HEAD and HTTP/1.0 clients get the same representation);
/// larger ones are compressed while they are sent, chunked.
const GZIP_IN_MEMORY_MAX_BYTES: u64 = 1024 * 1024;

/// File-serving options; each field documents its default.
#[derive(Clone, Debug)]
pub struct FileOptions {
    /// `Cache-Control` per extension; default `no-cache` for html, else
    /// `public, max-age=3600`.
    pub cache: CachePolicy,
    /// Compress compressible files with gzip when the client accepts it; default true.
    pub gzip: bool,
    /// Serve `name.br` / `name.gz` beside `name` when present and fresh; default true.
    pub precompressed: bool,
    /// Most ranges one request may ask for before the Range header is ignored;
    /// default [`httpd_proto::DEFAULT_MAX_RANGES`].
    pub max_ranges: usize,
    /// Serve png, jpg and jpeg inline with their real media types instead of the seed's
    /// `application/octet-stream` downloads; default false.
    pub inline_images: bool,
    /// List a directory that has no `index.html`; default false.
    pub listing: bool,
}

impl Default for FileOptions {
    fn default() -> FileOptions {
        FileOptions {
            cache: CachePolicy::default(),
            gzip: true,
            precompressed: true,
            max_ranges: httpd_proto::DEFAULT_MAX_RANGES,
            inline_images: false,
            listing: false,
        }
    }
}

/// What one file request is, borrowed from the parsed request.
pub(crate) struct FileRequest<'a> {
    pub(crate) request: &'a Request<'a, 'a>,
    pub(crate) method: Method,
    /// The still-encoded path, for redirects.
    pub(crate) raw_path: &'a str,
    pub(crate) query: Option<&'a str>,
}

impl FileRequest<'_> {
    /// A list-valued field, its lines joined with `, ` (RFC 9110 section 5.3).
    fn list(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        let mut values = self.request.headers_named(name);
        let first = values.next()?;
        let Some(second) = values.next() else {
            return Some(Cow::Borrowed(first));
        };
        let mut all = first.to_vec();
        for value in std::iter::once(second).chain(values) {
            all.extend_from_slice(b", ");
            all.extend_from_slice(value);
        }
        Some(Cow::Owned(all))
    }
}

/// A file answer, decided; its head is written from the file's own description.
#[derive(Debug)]
pub(crate) struct FileAnswer {
    status: u16,
    file: StaticFile,
    /// The entity-tag of a coded representation; the file's own otherwise.
    coded_etag: Option<String>,
    coding: Coding,
    /// `Vary: Accept-Encoding`.
    negotiable: bool,
    content_type: Cow<'static, str>,
    /// Send the file's `Content-Disposition`.
    attachment: bool,
    content_range: Option<String>,
    body: FileBody,
}

#[derive(Debug)]
enum FileBody {
    /// 304: no body.
    None,
    /// The whole file.
    Whole,
    /// One range (206).
    Range(ByteRange),
    /// Several ranges (206).
    Multipart(Multipart),
    /// A gzip representation made in memory.
    Bytes(Vec<u8>),
    /// A gzip representation made while sending, chunked.
    Gzip,
}

impl FileAnswer {
    /// The status code.
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// Tells whether the body is html (which gets the html security headers).
    pub(crate) fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
    }

    /// Reads a small body (the whole file, or its one range) into memory; runs on a
    /// worker, which may block on the disk.
    fn read_small_body(&mut self) -> Result<(), Failure> {
        if self.file.cached_bytes().is_some() {
            return Ok(());
        }
        let (start, len) = match self.body {
            FileBody::Whole => (0, self.file.len()),
            FileBody::Range(r) => (r.start, r.len()),
            _ => return Ok(()),
        };
        if len > READ_ON_WORKER_MAX_BYTES {
            return Ok(());
        }
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        let mut filled = 0;
        while filled < bytes.len() {
            match self
                .file
                .read_at(start + filled as u64, &mut bytes[filled..])
            {
                Ok(n) => filled += n,
                Err(e) => {
                    log::warn!("cannot read {} bytes of a file: {e}", bytes.len());
                    return Err(Failure::Files(httpd_files::ErrorKind::Io));
                }
            }
        }
        self.body = FileBody::Bytes(bytes);
        Ok(())
    }

    /// Writes the head after what `buf` holds and, when it is in memory, the body;
    /// returns the buffer, what remains to stream, and the body length announced (the
    /// bytes sent, for a chunked body, are counted by the stream).
    pub(crate) fn write(
        self,
        buf: Vec<u8>,
        finish: &Finish<'_>,
        cache: &CachePolicy,
    ) -> (Vec<u8>, Option<Stream>, u64) {
        let FileAnswer {
            status,
            file,
            coded_etag,
            coding,
            negotiable,
            content_type,
            attachment,
            content_range,
            body,
        } = self;
        let validators = file.validators();
        let mut head = response::begin(status, buf);
        head.header("ETag", coded_etag.as_deref().unwrap_or(validators.etag()));
        match validators.last_modified_text() {
            Some(text) => {
                head.header("Last-Modified", text);
            }
            None => {
                if let Some(text) = validators.last_modified_http() {
                    head.header("Last-Modified", &text);
                }
            }
        }
        head.header("Cache-Control", cache.for_extension(file.extension()));
        response::write_vary(
            &mut head,
            negotiable.then_some("Accept-Encoding"),
            finish.vary_origin,
        );
        if status == 304 {
            return (finish.end(head, status, None), None, 0);
        }
        head.header("Content-Type", &content_type);
        if attachment {
            if let Some(d) = file.content_disposition() {
                head.header("Content-Disposition", d);
            }
        }
        if coding != Coding::Identity {
            head.header("Content-Encoding", coding.as_str());
        }
        head.header("Accept-Ranges", "bytes");
        if let Some(range) = &content_range {
            head.header("Content-Range", range);
        }
        let send = !finish.head_only;
        match body {
            FileBody::None => (finish.end(head, status, None), None, 0),
            FileBody::Whole => {
                let len = file.len();
                let mut buf = finish.end(head, status, Some(len));
                if !send {
                    return (buf, None, 0);
                }
                if let Some(bytes) = file.cached_bytes() {
                    buf.extend_from_slice(bytes);
                    return (buf, None, len);
                }
                (buf, Some(Stream::file(file, 0, len)), len)
            }
            FileBody::Range(range) => {
                let mut buf = finish.end(head, status, Some(range.len()));
                if !send {
                    return (buf, None, 0);
                }
                if let Some(bytes) = file.cached_bytes() {
                    let slice = usize::try_from(range.start)
                        .ok()
                        .zip(usize::try_from(range.end).ok())
                        .and_then(|(s, e)| bytes.get(s..=e));
                    if let Some(slice) = slice {
                        buf.extend_from_slice(slice);
                        return (buf, None, range.len());
                    }
                }
                let end = range.start + range.len();
                (buf, Some(Stream::file(file, range.start, end)), range.len())
            }
            FileBody::Multipart(parts) => {
                let len = parts.content_length();
                let buf = finish.end(head, status, Some(len));
                if !send {
                    return (buf, None, 0);
                }
                (buf, Some(Stream::pieces(file, parts.pieces())), len)
            }
            FileBody::Bytes(bytes) => {
                let len = bytes.len() as u64;
                let mut buf = finish.end(head, status, Some(len));
                if send {
                    buf.extend_from_slice(&bytes);
                }
                (buf, None, if send { len } else { 0 })
            }
            FileBody::Gzip => {
                let buf = finish.end(head, status, None);
                if !send {
                    return (buf, None, 0);
                }
                (buf, Some(Stream::gzip(Box::new(GzipSteps::new(file)))), 0)
            }
        }
    }
}

/// What the poller can do with a file request.
#[derive(Debug)]
pub(crate) enum Route {
    /// Answer now, from the file cache.
    Answer(FileAnswer),
    /// Answer with this simple response now (a refusal decided without the disk).
    Refuse(Failure),
    /// The disk is needed: a worker runs [`serve`].
    Disk,
}

/// Decides a file request on the poller, without touching the disk beyond the file
/// cache's one `statx`.
pub(crate) fn route_cached(req: &FileRequest<'_>, resolved: &SafePath, ctx: &Context) -> Route {
    let opts = &ctx.files;
    if resolved.is_dir_form() && opts.listing {
        // Whether the index exists decides between it and a listing: the disk's.
        return Route::Disk;
    }
    let may_be_dir = !resolved.is_dir_form() && !resolved.is_hidden();
    let index;
    let file_path = if resolved.is_dir_form() {
        match resolved.join(httpd_files::INDEX_FILE) {
            Ok(path) => {
                index = path;
                &index
            }
            Err(e) => return Route::Refuse(Failure::Policy(e)),
        }
    } else {
        resolved
    };
    if let Err(refused) = ctx.types.check(file_path) {
        // A directory without an allowed extension is redirected: only the disk knows.
        return if may_be_dir {
            Route::Disk
        } else {
            Route::Refuse(Failure::Policy(refused))
        };
    }
    if file_path.is_hidden() {
        return Route::Refuse(Failure::Files(httpd_files::ErrorKind::NotFound));
    }
    let root = ctx.doc_root.current();
    let Some(file) = root.from_cache(file_path, &ctx.file_cache) else {
        return Route::Disk;
    };
    match respond(req, file, file_path, &root, ctx, false) {
        Ok(Some(answer)) => Route::Answer(answer),
        Ok(None) => Route::Disk,
        Err(failure) => Route::Refuse(failure),
    }
}

/// What a worker's file job produced.
#[derive(Debug)]
pub(crate) enum Served {
    /// A file answer.
    File(FileAnswer),
    /// A redirect or a listing.
    Simple(Response),
}

/// Answers a GET or HEAD for `resolved`; runs on a worker (it may block on the disk).
///
/// # Errors
/// The failure to answer with.
pub(crate) fn serve(
    req: &FileRequest<'_>,
    resolved: SafePath,
    ctx: &Context,
) -> Result<Served, Failure> {
    let opts = &ctx.files;
    // One tree for the whole request, even if a deployment swaps the root meanwhile.
    let root = ctx.doc_root.current();
    // `/dir` -> `/dir/`: the raw path is validated and starts with exactly one '/'.
    let redirect = || {
        let mut location = format!("{}/", req.raw_path);
        if let Some(q) = req.query {
            location.push('?');
            location.push_str(q);
        }
        Served::Simple(Response::error(301).with("Location", location))
    };
    let may_be_dir = !resolved.is_dir_form() && !resolved.is_hidden();
    let file_path = if resolved.is_dir_form() {
        let index = resolved
            .join(httpd_files::INDEX_FILE)
            .map_err(Failure::Policy)?;
        if opts.listing && !resolved.is_hidden() && is_missing(&root, &index) {
            return list_directory(&root, &resolved).map(Served::Simple);
        }
        index
    } else {
        resolved
    };
    if let Err(refused) = ctx.types.check(&file_path) {
        // Directories rarely have an allowed extension: only then look at the disk.
        if may_be_dir {
            match root.probe(&file_path) {
                Ok(Kind::Dir) => return Ok(redirect()),
                // A link out of the root: 403, as for files, whatever lies behind it.
                Err(e) if e.kind() == httpd_files::ErrorKind::Forbidden => {
                    return Err(Failure::Files(e.kind()));
                }
                _ => {}
            }
        }
        return Err(Failure::Policy(refused));
    }
    if file_path.is_hidden() {
        // Dot-files are never served, whatever their extension.
        return Err(Failure::Files(httpd_files::ErrorKind::NotFound));
    }
    let file = match root.open_cached(&file_path, &ctx.file_cache) {
        Ok(file) => file,
        // A directory named like a file (`/docs.html/`): redirect it too.
        Err(e) if may_be_dir && e.kind() == httpd_files::ErrorKind::IsDirectory => {
            return Ok(redirect());
        }
        Err(e) => {
            if e.kind() == httpd_files::ErrorKind::Io {
                log::warn!("cannot serve: {e}");
            }
            return Err(Failure::Files(e.kind()));
        }
    };
    match respond(req, file, &file_path, &root, ctx, true)? {
        Some(mut answer) => {
            if req.method != Method::Head {
                answer.read_small_body()?;
            }
            Ok(Served::File(answer))
        }
        // With the disk allowed every answer can be made.
        None => Err(Failure::Files(httpd_files::ErrorKind::Io)),
    }
}

/// Bodies up to this size are read by the worker that opened the file, so the poller
/// writes them from memory: a cold file's disk read never stalls the poller, and the
/// answer is queued whole at once.
const READ_ON_WORKER_MAX_BYTES: u64 = 64 * 1024;

/// Chooses the representation, evaluates the preconditions and the range, and
/// describes the answer. Without `disk`, gives up (`Ok(None)`) where a sidecar would
/// have to be looked for or the file compressed.
fn respond(
    req: &FileRequest<'_>,
    file: StaticFile,
    file_path: &SafePath,
    root: &Root,
    ctx: &Context,
    disk: bool,
) -> Result<Option<FileAnswer>, Failure> {
    let opts = &ctx.files;
    let mut file = file;
    let ext = file.extension();
    let (content_type, attachment) = media(ext, opts);
    let negotiable = is_compressible_ext(ext) && (opts.gzip || opts.precompressed);
    let range_header = req.request.header("range");
    let wants_range = req.method == Method::Get && range_header.is_some();

    // Choose the representation. A range always applies to the identity one.
    let mut coding = Coding::Identity;
    let mut on_the_fly = false;
    if negotiable && !wants_range {
        let accept_header = req.list("accept-encoding");
        let accept = httpd_proto::parse_accept_encoding(accept_header.as_deref());
        let wants_coded = (opts.precompressed && accept.accepts(Coding::Brotli))
            || ((opts.precompressed || opts.gzip) && accept.accepts(Coding::Gzip));
        if wants_coded && !disk {
            return Ok(None);
        }
        if wants_coded {
            let sidecar = |c: Coding| {
                (opts.precompressed && accept.accepts(c))
                    .then(|| root.find_precompressed(file_path, file.modified(), c))
                    .flatten()
            };
            let mut br = sidecar(Coding::Brotli);
            let mut gz = sidecar(Coding::Gzip);
            let gzip_fly = opts.gzip
                && (file.len() <= GZIP_IN_MEMORY_MAX_BYTES
                    || req.request.version == Version::Http11);
            let mut available = Vec::with_capacity(3);
            if br.is_some() {
                available.push(Coding::Brotli);
            }
            if gz.is_some() || gzip_fly {
                available.push(Coding::Gzip);
            }
            available.push(Coding::Identity);
            coding = accept.preferred(&available).unwrap_or(Coding::Identity);
            match coding {
                Coding::Brotli => file = br.take().unwrap_or(file),
                Coding::Gzip => match gz.take() {
                    Some(sidecar) => file = sidecar,
                    None => on_the_fly = true,
                },
                _ => coding = Coding::Identity,
            }
        }
    }

    let validators = file.validators();
    let coded_etag = (coding != Coding::Identity).then(|| validators.etag_for(coding));
    let etag = coded_etag.as_deref().unwrap_or(validators.etag());
    let last_modified = validators.last_modified();
    let if_match = req.list("if-match");
    let if_none_match = req.list("if-none-match");
    let conditions = Conditions {
        if_match: if_match.as_deref(),
        if_none_match: if_none_match.as_deref(),
        if_modified_since: req.request.header("if-modified-since"),
        if_unmodified_since: req.request.header("if-unmodified-since"),
        if_range: req.request.header("if-range"),
    };
    let get_or_head = matches!(req.method, Method::Get | Method::Head);
    let precondition = httpd_files::evaluate(
        get_or_head,
        &conditions,
        etag,
        last_modified.filter(|t| *t <= SystemTime::now()),
    );
    let mut answer = FileAnswer {
        status: 200,
        file,
        coded_etag,
        coding,
        negotiable,
        content_type,
        attachment,
        content_range: None,
        body: FileBody::Whole,
    };
    let use_range = match precondition {
        Precondition::NotModified => {
            answer.status = 304;
            answer.body = FileBody::None;
            return Ok(Some(answer));
        }
        Precondition::Failed => return Err(Failure::PreconditionFailed),
        Precondition::Proceed { use_range } => use_range,
    };
    if answer.attachment {
        log::debug!(
            "Starting binary file transfer: {:?} ({} bytes)",
            file_path.relative(),
            answer.file.len()
        );
    }
    let range = match (range_header, wants_range && use_range) {
        (Some(value), true) => httpd_proto::parse_range(value, answer.file.len(), opts.max_ranges),
        _ => RangeRequest::Ignore,
    };
    match range {
        RangeRequest::Ignore if on_the_fly => {
            if answer.file.len() <= GZIP_IN_MEMORY_MAX_BYTES {
                let mut file = answer.file;
                let mut out = Vec::with_capacity(usize::try_from(file.len() / 3).unwrap_or(0) + 64);
                httpd_files::gzip_stream(&mut file, &mut out).map_err(|e| {
                    log::warn!("gzip failed: {e}");
                    Failure::Files(httpd_files::ErrorKind::Io)
                })?;
                log::debug!(
                    "gzipped {:?}: {} -> {} bytes",
                    file_path.relative(),
                    file.len(),
                    out.len()
                );
                answer.file = file;
                answer.body = FileBody::Bytes(out);
            } else {
                answer.body = FileBody::Gzip;
            }
        }
        RangeRequest::Ignore => {}
        RangeRequest::Unsatisfiable => return Err(Failure::RangeNotSatisfiable(answer.file.len())),
        RangeRequest::Ranges(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            answer.status = 206;
            answer.content_range = Some(r.content_range(answer.file.len()));
            answer.body = FileBody::Range(r);
        }
        RangeRequest::Ranges(ranges) => {
            answer.status = 206;
            let parts = Multipart::new(&ranges, &answer.content_type, answer.file.len());
            answer.content_type = Cow::Owned(parts.content_type_header());
            answer.body = FileBody::Multipart(parts);
        }
    }
    Ok(Some(answer))
}

/// Returns the `Content-Type` and whether to send the `Content-Disposition`.
fn media(ext: Option<&str>, opts: &FileOptions) -> (Cow<'static, str>, bool) {
    let ext = ext.unwrap_or("");
    match ext {
        // The seed's download types keep their octet-stream attachments by default.
        "txt" => (Cow::Borrowed(httpd_files::OCTET_STREAM), true),
        "png" | "jpg" | "jpeg" if !opts.inline_images => {
            (Cow::Borrowed(httpd_files::OCTET_STREAM), true)
        }
        "html" => (Cow::Borrowed(httpd_files::TEXT_HTML), false),
        // Everything else the operator allowed is served inline with its real type.
        other => (Cow::Borrowed(httpd_files::media_type_for(other)), false),
    }
}

/// Tells whether `path` names nothing beneath `root`; a link leaving the root or an
/// unreadable entry is not "missing" (it answers 403 instead of a listing).
fn is_missing(root: &Root, path: &SafePath) -> bool {
    root.probe(path)
        .is_err_and(|e| e.kind() == httpd_files::ErrorKind::NotFound)
}

/// Renders an HTML listing of a directory: names escaped, links percent-encoded,
/// dot-files left out (and links out of the root, see [`Root::list_dir`]).
fn list_directory(root: &Root, dir: &SafePath) -> Result<Response, Failure> {
    let entries = root.list_dir(dir).map_err(|e| Failure::Files(e.kind()))?;
    let title = format!("Index of /{}", html_escape(dir.relative()));
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>\n<ul>\n"
    );
    for entry in entries {
        let slash = if entry.is_dir { "/" } else { "" };
        let _ = writeln!(
            page,
            "<li><a href=\"./{}{slash}\">{}{slash}</a></li>",
            percent_encode(&entry.name),
            html_escape(&entry.name)
        );
    }
    page.push_str("</ul></body></html>\n");
    let mut response = Response::new(200)
        .with("Content-Type", httpd_files::TEXT_HTML)
        .with("Cache-Control", "no-cache");
    response.body = page.into_bytes();
    Ok(response)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved bytes.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_names_are_escaped_and_links_encoded() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(percent_encode("a b/ü?.txt"), "a%20b%2F%C3%BC%3F.txt");
    }
}
