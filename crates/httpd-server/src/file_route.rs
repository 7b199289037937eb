//! GET and HEAD of files: representation choice (identity, precompressed sidecar, gzip
//! on the fly), validators and conditional requests (RFC 9110 section 13), byte ranges
//! (RFC 9110 section 14), directory redirects, indexes and optional listings.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use httpd_files::{
    CachePolicy, Conditions, Kind, Multipart, Precondition, Root, StaticFile, is_compressible_ext,
};
use httpd_proto::{Coding, Method, RangeRequest, Request, Version};
use httpd_security::SafePath;

use crate::error::Failure;
use crate::reply::{Body, Reply};

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

/// The request headers that shape a file response, copied out of the read buffer.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileHeaders {
    range: Option<Vec<u8>>,
    accept_encoding: Option<Vec<u8>>,
    if_match: Option<Vec<u8>>,
    if_none_match: Option<Vec<u8>>,
    if_modified_since: Option<Vec<u8>>,
    if_unmodified_since: Option<Vec<u8>>,
    if_range: Option<Vec<u8>>,
}

impl FileHeaders {
    pub(crate) fn from_request(request: &Request<'_, '_>) -> FileHeaders {
        let take = |name: &str| request.header(name).map(<[u8]>::to_vec);
        FileHeaders {
            range: take("range"),
            accept_encoding: joined(request, "accept-encoding"),
            if_match: joined(request, "if-match"),
            if_none_match: joined(request, "if-none-match"),
            if_modified_since: take("if-modified-since"),
            if_unmodified_since: take("if-unmodified-since"),
            if_range: take("if-range"),
        }
    }

    fn conditions(&self) -> Conditions<'_> {
        Conditions {
            if_match: self.if_match.as_deref(),
            if_none_match: self.if_none_match.as_deref(),
            if_modified_since: self.if_modified_since.as_deref(),
            if_unmodified_since: self.if_unmodified_since.as_deref(),
            if_range: self.if_range.as_deref(),
        }
    }
}

/// List-valued fields may be split over several lines (RFC 9110 section 5.3).
fn joined(request: &Request<'_, '_>, name: &str) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for value in request.headers_named(name) {
        match &mut out {
            None => out = Some(value.to_vec()),
            Some(all) => {
                all.extend_from_slice(b", ");
                all.extend_from_slice(value);
            }
        }
    }
    out
}

/// What one file request needs from the exchange.
pub(crate) struct FileRequest<'a> {
    pub(crate) method: Method,
    pub(crate) version: Version,
    /// The still-encoded path, for redirects.
    pub(crate) raw_path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a FileHeaders,
    pub(crate) worker: &'a str,
}

/// Answers a GET or HEAD for `resolved`.
pub(crate) fn serve(
    req: &FileRequest<'_>,
    resolved: SafePath,
    ctx: &crate::Context,
) -> Result<Reply, Failure> {
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
        Reply::error(301).with("Location", location)
    };
    let may_be_dir = !resolved.is_dir_form() && !resolved.is_hidden();
    let file_path = if resolved.is_dir_form() {
        let index = resolved
            .join(httpd_files::INDEX_FILE)
            .map_err(Failure::Policy)?;
        if opts.listing && !resolved.is_hidden() && is_missing(&root, &index) {
            return list_directory(&root, &resolved);
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
    let mut file = match root.open_cached(&file_path, &ctx.file_cache) {
        Ok(file) => file,
        // A directory named like a file (`/docs.html/`): redirect it too.
        Err(e) if may_be_dir && e.kind() == httpd_files::ErrorKind::IsDirectory => {
            return Ok(redirect());
        }
        Err(e) => {
            if e.kind() == httpd_files::ErrorKind::Io {
                log::warn!("[{}] cannot serve: {e}", req.worker);
            }
            return Err(Failure::Files(e.kind()));
        }
    };
    let ext = file.extension().map(str::to_string);
    let (content_type, disposition) = media(&file, ext.as_deref(), opts);
    let negotiable = is_compressible_ext(ext.as_deref()) && (opts.gzip || opts.precompressed);
    let wants_range = req.method == Method::Get && req.headers.range.is_some();

    // Choose the representation. A range always applies to the identity one.
    let mut coding = Coding::Identity;
    let mut on_the_fly = false;
    if negotiable && !wants_range {
        let accept = httpd_proto::parse_accept_encoding(req.headers.accept_encoding.as_deref());
        let sidecar = |c: Coding| {
            (opts.precompressed && accept.accepts(c))
                .then(|| root.find_precompressed(&file_path, file.modified(), c))
                .flatten()
        };
        let mut br = sidecar(Coding::Brotli);
        let mut gz = sidecar(Coding::Gzip);
        let gzip_fly =
            opts.gzip && (file.len() <= GZIP_IN_MEMORY_MAX_BYTES || req.version == Version::Http11);
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

    let validators = file.validators();
    let etag = if coding == Coding::Identity {
        validators.etag().to_string()
    } else {
        validators.etag_for(coding)
    };
    let last_modified = validators.last_modified();
    let last_modified_http = validators.last_modified_http();
    let cache_control = opts.cache.for_extension(ext.as_deref()).to_string();

    let mut headers: Vec<(&'static str, Cow<'static, str>)> = Vec::with_capacity(12);
    headers.push(("ETag", Cow::Owned(etag.clone())));
    if let Some(date) = last_modified_http {
        headers.push(("Last-Modified", Cow::Owned(date)));
    }
    headers.push(("Cache-Control", Cow::Owned(cache_control)));
    if negotiable {
        headers.push(("Vary", Cow::Borrowed("Accept-Encoding")));
    }

    let get_or_head = matches!(req.method, Method::Get | Method::Head);
    let use_range = match httpd_files::evaluate(
        get_or_head,
        &req.headers.conditions(),
        &etag,
        last_modified.filter(|t| *t <= SystemTime::now()),
    ) {
        Precondition::NotModified => {
            let mut reply = Reply::new(304);
            reply.headers = headers;
            return Ok(reply);
        }
        Precondition::Failed => return Err(Failure::PreconditionFailed),
        Precondition::Proceed { use_range } => use_range,
    };

    headers.push(("Content-Type", content_type.clone()));
    if let Some(d) = disposition {
        headers.push(("Content-Disposition", Cow::Owned(d)));
    }
    if coding != Coding::Identity {
        headers.push(("Content-Encoding", Cow::Borrowed(coding.as_str())));
    }
    headers.push(("Accept-Ranges", Cow::Borrowed("bytes")));
    if file.content_disposition().is_some() {
        log::debug!(
            "[{}] Starting binary file transfer: {:?} ({} bytes)",
            req.worker,
            file_path.relative(),
            file.len()
        );
    }

    let range = match (&req.headers.range, wants_range && use_range) {
        (Some(value), true) => httpd_proto::parse_range(value, file.len(), opts.max_ranges),
        _ => RangeRequest::Ignore,
    };
    let mut reply = Reply::new(200);
    match range {
        RangeRequest::Ignore => {
            reply.body = if on_the_fly {
                gzip_body(file)?
            } else {
                Body::File(file)
            };
        }
        RangeRequest::Unsatisfiable => {
            let mut reply = Reply::error(416);
            reply.headers.push((
                "Content-Range",
                Cow::Owned(httpd_proto::unsatisfied_content_range(file.len())),
            ));
            return Ok(reply);
        }
        RangeRequest::Ranges(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            reply.status = 206;
            headers.push(("Content-Range", Cow::Owned(r.content_range(file.len()))));
            reply.body = Body::Range(file, r);
        }
        RangeRequest::Ranges(ranges) => {
            reply.status = 206;
            let parts = Multipart::new(&ranges, &content_type, file.len());
            for (name, value) in headers.iter_mut() {
                if *name == "Content-Type" {
                    *value = Cow::Owned(parts.content_type_header());
                }
            }
            reply.body = Body::Multipart(file, parts);
        }
    }
    reply.headers = headers;
    Ok(reply)
}

/// Returns the `Content-Type` and `Content-Disposition` for `file`.
fn media(
    file: &StaticFile,
    ext: Option<&str>,
    opts: &FileOptions,
) -> (Cow<'static, str>, Option<String>) {
    let ext = ext.unwrap_or("");
    let (content_type, disposition) = match ext {
        // The seed's download types keep their octet-stream attachments by default.
        "txt" => (file.content_type(), file.content_disposition()),
        "png" | "jpg" | "jpeg" if !opts.inline_images => {
            (file.content_type(), file.content_disposition())
        }
        "html" => (file.content_type(), None),
        // Everything else the operator allowed is served inline with its real type.
        other => (httpd_files::media_type_for(other), None),
    };
    (Cow::Borrowed(content_type), disposition.map(str::to_string))
}

fn gzip_body(mut file: StaticFile) -> Result<Body, Failure> {
    if file.len() > GZIP_IN_MEMORY_MAX_BYTES {
        return Ok(Body::Gzip(file));
    }
    let mut out = Vec::with_capacity(usize::try_from(file.len() / 3).unwrap_or(0) + 64);
    httpd_files::gzip_stream(&mut file, &mut out).map_err(|e| {
        log::warn!("gzip failed: {e}");
        Failure::Files(httpd_files::ErrorKind::Io)
    })?;
    Ok(Body::Bytes(out))
}

/// Tells whether `path` names nothing beneath `root`; a link leaving the root or an
/// unreadable entry is not "missing" (it answers 403 instead of a listing).
fn is_missing(root: &Root, path: &SafePath) -> bool {
    root.probe(path)
        .is_err_and(|e| e.kind() == httpd_files::ErrorKind::NotFound)
}

/// Renders an HTML listing of a directory: names escaped, links percent-encoded,
/// dot-files left out (and links out of the root, see [`Root::list_dir`]).
fn list_directory(root: &Root, dir: &SafePath) -> Result<Reply, Failure> {
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
    let mut reply = Reply::new(200)
        .with("Content-Type", httpd_files::TEXT_HTML)
        .with("Cache-Control", "no-cache");
    reply.body = Body::Bytes(page.into_bytes());
    Ok(reply)
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
