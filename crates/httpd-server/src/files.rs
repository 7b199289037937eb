//! GET and HEAD of files: the server's policies around httpd-files' planner
//! ([`plan_file`]: representation, validators and conditional requests, byte ranges):
//! media types and downloads, `Cache-Control`, directory redirects, indexes, optional
//! listings (HTML or JSON) and folder downloads (tar), and the site features: the web
//! preset, the fallback page of a single-page application, content ETags.
//!
//! The same rules run in two places. On the poller, [`route_cached`] answers from the
//! file cache alone (one `statx`, no open) or says that the disk is needed; a worker
//! then runs [`serve`], which may open, stat, read sidecars, hash contents, list
//! directories and compress. Which of the two answers is decided once, before any
//! byte is written.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use httpd_files::{
    CachePolicy, Conditions, ContentTags, DocRoot, FilePlan, FileQuery, GzipSteps, Kind, Listing,
    ListingFormat, ListingQuery, MediaTypes, PlanError, PlanOptions, PlannedBody, Root, StaticFile,
    TarSteps, is_compressible, is_compressible_ext, is_content_hashed, plan_file,
};
use httpd_proto::{Coding, Method, Request, Version};
use httpd_security::{SafePath, TypePolicy};

use crate::Context;
use crate::error::Failure;
use crate::out::Stream;
use crate::response::{self, Finish, Response};
use crate::site::{self, ErrorPages, EtagMode, SitePathError};

/// The `Content-Type` of a folder download.
const TAR_MEDIA_TYPE: &str = "application/x-tar";

/// File-serving options; each field documents its default.
#[derive(Clone, Debug)]
pub struct FileOptions {
    /// `Cache-Control` per extension (and, with [`CachePolicy::web`], for
    /// content-hashed names); default `no-cache` for html, else
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
    /// List a directory that has no `index.html` (as HTML, or JSON for `?format=json`
    /// or an `Accept` that asks for it), and archive a directory as a tar download
    /// for `GET /dir/?download=tar`; default false.
    pub listing: bool,
    /// The web preset: every extension may be served, with the media type of
    /// [`MediaTypes`] (inline when [`MediaTypes::is_inline`], else a download), and an
    /// unknown extension (or none) as an `application/octet-stream` download, never
    /// sniffed. Dot-files and everything under `uploads/` keep the seed's rules
    /// (`Config::types`, downloads). Pair it with [`CachePolicy::web`]. Default false.
    pub web: bool,
    /// The operator's media types (`--type EXT=MEDIA`), in either mode: each such
    /// extension is served with its type (inline when the type is one a browser
    /// shows), overriding the web preset's table and the seed's downloads; the
    /// extension must also be allowed by `Config::types` outside the web preset.
    /// Default none.
    pub media_types: MediaTypes,
    /// The page of a single-page application (`--fallback /index.html`): a GET or
    /// HEAD of a path that does not exist, whose last segment has no extension, from a
    /// client that accepts `text/html`, gets this file with status 200. Default `None`.
    pub fallback: Option<String>,
    /// Custom error pages: a status (400 to 599) and the URL path of the file of the
    /// root sent, with that status, instead of the built-in page; default none.
    pub error_pages: Vec<(u16, String)>,
    /// How entity-tags are made; default [`EtagMode::Default`].
    pub etag: EtagMode,
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
            web: false,
            media_types: MediaTypes::default(),
            fallback: None,
            error_pages: Vec::new(),
            etag: EtagMode::Default,
        }
    }
}

/// The file options in force, with what the server built from them at start-up.
#[derive(Debug)]
pub(crate) struct Files {
    pub(crate) gzip: bool,
    pub(crate) precompressed: bool,
    pub(crate) max_ranges: usize,
    pub(crate) inline_images: bool,
    pub(crate) listing: bool,
    pub(crate) web: bool,
    pub(crate) media_types: MediaTypes,
    /// The fallback page, resolved under the root.
    pub(crate) fallback: Option<SafePath>,
    /// A warning was logged because the fallback page could not be opened; cleared
    /// once it opens again, so each outage is reported once.
    fallback_warned: AtomicBool,
    /// `Some` with `--etag content`: the tags known so far.
    pub(crate) content_tags: Option<ContentTags>,
    /// What answers consult while they are written: `Cache-Control` and the error
    /// pages held in memory.
    pub(crate) answers: AnswerPolicy,
}

/// What answers consult while they are written on the poller: the `Cache-Control`
/// policy of file answers, and the custom error pages held in memory.
#[derive(Debug)]
pub(crate) struct AnswerPolicy {
    pub(crate) policy: CachePolicy,
    pub(crate) error_pages: ErrorPages,
}

impl Files {
    /// Builds the options in force from `opts`, for the canonical `root` served
    /// through `doc_root`; reads nothing.
    ///
    /// # Errors
    /// A fallback or error-page path that is refused, with why.
    pub(crate) fn new(
        opts: FileOptions,
        types: &TypePolicy,
        root: &Path,
        doc_root: Arc<DocRoot>,
    ) -> Result<Files, (String, SitePathError)> {
        let FileOptions {
            cache,
            gzip,
            precompressed,
            max_ranges,
            inline_images,
            listing,
            web,
            media_types,
            fallback,
            error_pages,
            etag,
        } = opts;
        let mut files = Files {
            gzip,
            precompressed,
            max_ranges,
            inline_images,
            listing,
            web,
            media_types,
            fallback: None,
            fallback_warned: AtomicBool::new(false),
            content_tags: (etag == EtagMode::Content).then(ContentTags::default),
            answers: AnswerPolicy {
                policy: cache,
                error_pages: ErrorPages::new(Arc::clone(&doc_root), root, &[])?,
            },
        };
        if let Some(path) = fallback {
            files.fallback =
                Some(site::resolve_site_path(root, &path).map_err(|e| (path.clone(), e))?);
        }
        let pages: Vec<_> = error_pages
            .into_iter()
            .map(|(status, path)| {
                let ext = path
                    .rsplit_once('.')
                    .map(|(_, ext)| ext.to_ascii_lowercase());
                let under_uploads = is_under_uploads(path.trim_start_matches('/'));
                let (content_type, _) = files.media(ext.as_deref(), under_uploads, types);
                (status, path, content_type)
            })
            .collect();
        files.answers.error_pages = ErrorPages::new(doc_root, root, &pages)?;
        Ok(files)
    }

    /// Tells whether `path` (a file's, not directory-form) may be served: every path
    /// in the web preset but those under `uploads/`, which keep `types` as everything
    /// does outside the preset.
    fn allows(&self, types: &TypePolicy, path: &SafePath) -> bool {
        if self.web && !is_under_uploads(path.relative()) {
            return true;
        }
        types.check(path).is_ok()
    }

    /// Returns the `Content-Type` of a file with extension `ext` (lowercase, as
    /// [`StaticFile::extension`] gives it), and whether to send it as a download (with
    /// its `Content-Disposition`).
    fn media(
        &self,
        ext: Option<&str>,
        under_uploads: bool,
        types: &TypePolicy,
    ) -> (Cow<'static, str>, bool) {
        let ext = ext.unwrap_or("");
        if let Some(media_type) = self.media_types.override_of(ext) {
            let inline = httpd_files::is_inline_type(media_type);
            return (Cow::Owned(media_type.to_string()), !inline);
        }
        if self.web && !under_uploads {
            return match MediaTypes::built_in(ext) {
                Some(media_type) => (
                    Cow::Borrowed(media_type),
                    !httpd_files::is_inline_type(media_type),
                ),
                // `--serve-type` names a type a browser shows; the table does not know it.
                None if !ext.is_empty() && types.allows(Some(ext)) => {
                    (Cow::Borrowed(httpd_files::media_type_for(ext)), false)
                }
                None => (Cow::Borrowed(httpd_files::OCTET_STREAM), true),
            };
        }
        match ext {
            // The seed's download types keep their octet-stream attachments by default.
            "txt" => (Cow::Borrowed(httpd_files::OCTET_STREAM), true),
            "png" | "jpg" | "jpeg" if !self.inline_images => {
                (Cow::Borrowed(httpd_files::OCTET_STREAM), true)
            }
            "html" => (Cow::Borrowed(httpd_files::TEXT_HTML), false),
            // Everything else the operator allowed is served inline with its real type.
            other => (Cow::Borrowed(httpd_files::media_type_for(other)), false),
        }
    }
}

/// Tells whether the root-relative `relative` path lies under the root's `uploads/`.
fn is_under_uploads(relative: &str) -> bool {
    relative
        .strip_prefix(httpd_files::UPLOADS_DIR)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Tells whether a query string asks for a folder download: it holds `download=tar`.
pub(crate) fn asks_for_tar(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|pair| pair == "download=tar"))
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
    /// What httpd-files decided: status, representation, validators, body.
    plan: FilePlan,
    /// `Vary: Accept`: the answer is the fallback page, which depends on it.
    vary_accept: bool,
    /// The name is content-hashed (for the web preset's `Cache-Control`).
    hashed: bool,
    content_type: Cow<'static, str>,
    /// Send the file's `Content-Disposition`.
    attachment: bool,
}

impl FileAnswer {
    /// The status code.
    pub(crate) fn status(&self) -> u16 {
        self.plan.status
    }

    /// Tells whether the body is html (which gets the html security headers).
    pub(crate) fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
    }

    /// Reads a small body (the whole file, or its one range) into memory; runs on a
    /// worker, which may block on the disk.
    fn read_small_body(&mut self) -> Result<(), Failure> {
        self.plan.load_body(READ_ON_WORKER_MAX_BYTES).map_err(|e| {
            log::warn!("cannot read a file's body: {e}");
            Failure::Files(httpd_files::ErrorKind::Io)
        })
    }

    /// Writes the head after what `buf` holds and, when it is in memory, the body;
    /// returns the buffer, what remains to stream, and the body length announced (the
    /// bytes sent, for a chunked body, are counted by the stream).
    pub(crate) fn write(
        self,
        buf: Vec<u8>,
        finish: &Finish<'_>,
        answers: &AnswerPolicy,
    ) -> (Vec<u8>, Option<Stream>, u64) {
        let FileAnswer {
            plan,
            vary_accept,
            hashed,
            content_type,
            attachment,
        } = self;
        let FilePlan {
            status,
            file,
            etag,
            coding,
            negotiable,
            content_range,
            body,
        } = plan;
        let validators = file.validators();
        let mut head = response::begin(status, buf);
        head.header("ETag", etag.as_deref().unwrap_or(validators.etag()));
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
        head.header(
            "Cache-Control",
            answers.policy.for_file(file.extension(), hashed),
        );
        let vary = match (vary_accept, negotiable) {
            (true, true) => Some("Accept, Accept-Encoding"),
            (true, false) => Some("Accept"),
            (false, true) => Some("Accept-Encoding"),
            (false, false) => None,
        };
        response::write_vary(&mut head, vary, finish.vary_origin);
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
            PlannedBody::None => (finish.end(head, status, None), None, 0),
            PlannedBody::Whole => {
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
            PlannedBody::Range(range) => {
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
            PlannedBody::Multipart(parts) => {
                let len = parts.content_length();
                let buf = finish.end(head, status, Some(len));
                if !send {
                    return (buf, None, 0);
                }
                (buf, Some(Stream::pieces(file, parts.pieces())), len)
            }
            PlannedBody::Bytes(bytes) => {
                let len = bytes.len() as u64;
                let mut buf = finish.end(head, status, Some(len));
                if send {
                    buf.extend_from_slice(&bytes);
                }
                (buf, None, if send { len } else { 0 })
            }
            PlannedBody::Gzip => {
                let buf = finish.end(head, status, None);
                if !send {
                    return (buf, None, 0);
                }
                (buf, Some(Stream::gzip(GzipSteps::new(file))), 0)
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
    if !opts.allows(&ctx.types, file_path) {
        // A directory without an allowed extension is redirected, and a path that
        // does not exist may get the fallback page: only the disk knows.
        return if may_be_dir {
            Route::Disk
        } else {
            Route::Refuse(Failure::Policy(
                httpd_security::PolicyError::UnsupportedType,
            ))
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
    /// A redirect, a listing, a tar download, or a custom error page.
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
    // For `/dir/`: the directory, while `file_path` is its index.
    let mut dir = None;
    let file_path = if resolved.is_dir_form() {
        if opts.listing && !resolved.is_hidden() && asks_for_tar(req.query) {
            return tar(req, &root, &resolved).map(Served::Simple);
        }
        let index = resolved
            .join(httpd_files::INDEX_FILE)
            .map_err(Failure::Policy)?;
        if opts.listing && !resolved.is_hidden() && is_missing(&root, &index) {
            if is_missing(&root, &resolved) {
                if let Some(served) = fallback(req, &resolved, &root, ctx)? {
                    return Ok(served);
                }
            }
            return list_directory(req, &root, &resolved).map(Served::Simple);
        }
        dir = Some(resolved);
        index
    } else {
        resolved
    };
    if !opts.allows(&ctx.types, &file_path) {
        // Directories rarely have an allowed extension: only then look at the disk.
        if may_be_dir {
            match root.probe(&file_path) {
                Ok(Kind::Dir) => return Ok(redirect()),
                // A link out of the root: 403, as for files, whatever lies behind it.
                Err(e) if e.kind() == httpd_files::ErrorKind::Forbidden => {
                    return Err(Failure::Files(e.kind()));
                }
                Err(e) if e.kind() == httpd_files::ErrorKind::NotFound => {
                    if let Some(served) = fallback(req, &file_path, &root, ctx)? {
                        return Ok(served);
                    }
                }
                _ => {}
            }
        }
        return Err(Failure::Policy(
            httpd_security::PolicyError::UnsupportedType,
        ));
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
        Err(e) if e.kind() == httpd_files::ErrorKind::NotFound => {
            // `/app/route` (the web preset allows it), or `/app/` when the directory
            // itself is missing (an existing one without an index stays 404).
            let missing = match &dir {
                None => Some(&file_path),
                Some(dir) => is_missing(&root, dir).then_some(dir),
            };
            if let Some(missing) = missing {
                if let Some(served) = fallback(req, missing, &root, ctx)? {
                    return Ok(served);
                }
            }
            return Err(Failure::Files(e.kind()));
        }
        Err(e) => {
            if e.kind() == httpd_files::ErrorKind::Io {
                log::warn!("cannot serve: {e}");
            }
            return Err(Failure::Files(e.kind()));
        }
    };
    serve_file(req, file, &file_path, &root, ctx, false)
}

/// Answers with the open `file` at `file_path`, on a worker; `vary_accept` marks the
/// fallback page.
fn serve_file(
    req: &FileRequest<'_>,
    file: StaticFile,
    file_path: &SafePath,
    root: &Root,
    ctx: &Context,
    vary_accept: bool,
) -> Result<Served, Failure> {
    match respond(req, file, file_path, root, ctx, true)? {
        Some(mut answer) => {
            answer.vary_accept = vary_accept;
            if req.method != Method::Head {
                answer.read_small_body()?;
            }
            Ok(Served::File(answer))
        }
        // With the disk allowed every answer can be made.
        None => Err(Failure::Files(httpd_files::ErrorKind::Io)),
    }
}

/// Serves the fallback page for `missing` (a path found not to exist), if the
/// request qualifies: there is a fallback page, the request is a GET or HEAD whose
/// path's last segment has no extension (`/app/settings`, `/app/`: a missing asset
/// such as `/app.missing.js` stays 404, so a broken deploy is not masked by HTML
/// served as JavaScript), not a dot-file, not under `uploads/`, from a client that
/// accepts `text/html` ([`site::accepts_html`]). The page goes through the same
/// rules as a request for it. `Ok(None)` when the request does not qualify; a
/// request that qualifies but whose `Accept` refuses html gets its 404 (and custom
/// page) here, with `Vary: Accept`.
fn fallback(
    req: &FileRequest<'_>,
    missing: &SafePath,
    root: &Root,
    ctx: &Context,
) -> Result<Option<Served>, Failure> {
    let Some(page) = &ctx.files.fallback else {
        return Ok(None);
    };
    let qualifies = matches!(req.method, Method::Get | Method::Head)
        && missing.extension().is_none()
        && !missing.is_hidden()
        && !is_under_uploads(missing.relative());
    if !qualifies {
        return Ok(None);
    }
    if !site::accepts_html(req.request.header("accept")) {
        // Another `Accept` would get the page: say so, so that a cache does not hand
        // this 404 to a browser.
        let mut response = Response::for_failure(&Failure::Files(httpd_files::ErrorKind::NotFound))
            .with("Vary", "Accept");
        ctx.files.answers.error_pages.fill_from_disk(&mut response);
        return Ok(Some(Served::Simple(response)));
    }
    if !ctx.files.allows(&ctx.types, page) {
        return Err(Failure::Policy(
            httpd_security::PolicyError::UnsupportedType,
        ));
    }
    log::debug!(
        "fallback page {:?} for missing {:?}",
        page.relative(),
        missing.relative()
    );
    let warned = &ctx.files.fallback_warned;
    let file = root.open_cached(page, &ctx.file_cache).map_err(|e| {
        if !warned.swap(true, Ordering::Relaxed) {
            log::warn!("the fallback page cannot be served: {e}");
        }
        Failure::Files(e.kind())
    })?;
    warned.store(false, Ordering::Relaxed);
    serve_file(req, file, page, root, ctx, true).map(Some)
}

/// Bodies up to this size are read by the worker that opened the file, so the poller
/// writes them from memory: a cold file's disk read never stalls the poller, and the
/// answer is queued whole at once.
const READ_ON_WORKER_MAX_BYTES: u64 = 64 * 1024;

/// Describes the answer with `file` at `file_path`: the server's media type and
/// caching rules, and httpd-files' plan ([`plan_file`]: representation, validators,
/// preconditions, range). Without `disk`, gives up (`Ok(None)`) where a sidecar would
/// have to be looked for, the file compressed or its content tag computed.
fn respond(
    req: &FileRequest<'_>,
    file: StaticFile,
    file_path: &SafePath,
    root: &Root,
    ctx: &Context,
    disk: bool,
) -> Result<Option<FileAnswer>, Failure> {
    let opts = &ctx.files;
    let ext = file.extension();
    let (mut content_type, attachment) =
        opts.media(ext, is_under_uploads(file_path.relative()), &ctx.types);
    let compressible = if opts.web {
        is_compressible(&content_type)
    } else {
        is_compressible_ext(ext)
    };
    let hashed = opts.web && file_path.file_name().is_some_and(is_content_hashed);
    let accept_encoding = req.list("accept-encoding");
    let if_match = req.list("if-match");
    let if_none_match = req.list("if-none-match");
    let query = FileQuery {
        get: req.method == Method::Get,
        chunked_ok: req.request.version == Version::Http11,
        accept_encoding: accept_encoding.as_deref(),
        range: req.request.header("range"),
        conditions: Conditions {
            if_match: if_match.as_deref(),
            if_none_match: if_none_match.as_deref(),
            if_modified_since: req.request.header("if-modified-since"),
            if_unmodified_since: req.request.header("if-unmodified-since"),
            if_range: req.request.header("if-range"),
        },
    };
    let plan_opts = PlanOptions {
        gzip: opts.gzip,
        precompressed: opts.precompressed,
        max_ranges: opts.max_ranges,
        compressible,
        content_tags: opts.content_tags.as_ref(),
        may_block: disk,
    };
    let plan = match plan_file(&query, file, file_path, root, &content_type, &plan_opts) {
        Ok(Some(plan)) => plan,
        Ok(None) => return Ok(None),
        Err(PlanError::PreconditionFailed) => return Err(Failure::PreconditionFailed),
        Err(PlanError::RangeNotSatisfiable(len)) => {
            return Err(Failure::RangeNotSatisfiable(len));
        }
        Err(PlanError::Io(e)) => {
            log::warn!("cannot serve {:?}: {e}", file_path.relative());
            return Err(Failure::Files(httpd_files::ErrorKind::Io));
        }
    };
    if let PlannedBody::Multipart(parts) = &plan.body {
        content_type = Cow::Owned(parts.content_type_header());
    }
    if attachment && plan.status != 304 {
        log::debug!(
            "Starting binary file transfer: {:?} ({} bytes)",
            file_path.relative(),
            plan.file.len()
        );
    }
    Ok(Some(FileAnswer {
        plan,
        vary_accept: false,
        hashed,
        content_type,
        attachment,
    }))
}

/// Tells whether `path` names nothing beneath `root`; a link leaving the root or an
/// unreadable entry is not "missing" (it answers 403 instead of a listing).
fn is_missing(root: &Root, path: &SafePath) -> bool {
    root.probe(path)
        .is_err_and(|e| e.kind() == httpd_files::ErrorKind::NotFound)
}

/// Lists a directory with [`Listing`]: sorted as `?sort=&order=` ask, HTML (names
/// escaped, links percent-encoded) or JSON (`?format=json`, or without a `format` an
/// `Accept` that prefers `application/json`, [`site::prefers_json`]); dot-files and
/// links out of the root are left out ([`Root::list_dir`]).
fn list_directory(req: &FileRequest<'_>, root: &Root, dir: &SafePath) -> Result<Response, Failure> {
    let query = req.query.unwrap_or("");
    let mut asked = ListingQuery::parse(query);
    let format_given = query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("format"));
    if !format_given && site::prefers_json(req.request.header("accept")) {
        asked.format = ListingFormat::Json;
    }
    let listing = Listing::read(root, dir, &asked).map_err(|e| Failure::Files(e.kind()))?;
    let mut response = Response::new(200)
        .with("Content-Type", listing.content_type())
        .with("Cache-Control", "no-cache")
        .with("Vary", "Accept");
    response.body = listing.into_body();
    Ok(response)
}

/// Starts the tar download of the directory `dir`: its head now (the directory is
/// opened here, so a missing or forbidden one is answered as such), the archive a
/// step at a time on workers while it is sent ([`TarSteps`]: regular files and
/// directories under the root only, no links, no dot-files, not `uploads/`).
fn tar(req: &FileRequest<'_>, root: &Root, dir: &SafePath) -> Result<Response, Failure> {
    let steps = TarSteps::new(root, dir).map_err(|e| Failure::Files(e.kind()))?;
    log::debug!("tar download of {:?}", dir.relative());
    let mut response = Response::new(200)
        .with("Content-Type", TAR_MEDIA_TYPE)
        .with(
            "Content-Disposition",
            httpd_files::attachment_disposition(steps.file_name()),
        )
        .with("Cache-Control", "no-cache");
    // HTTP/1.1 gets chunks; HTTP/1.0 the bytes until the close its exchange was
    // planned with (in `plan::decide`). A HEAD answer writes the same head and
    // drops the stream.
    let chunked = req.request.version == Version::Http11;
    response.stream = Some(Stream::tar(steps, chunked));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_downloads_are_asked_by_an_exact_pair() {
        assert!(asks_for_tar(Some("download=tar")));
        assert!(asks_for_tar(Some("sort=size&download=tar")));
        assert!(!asks_for_tar(Some("download=tarball")));
        assert!(!asks_for_tar(Some("xdownload=tar")));
        assert!(!asks_for_tar(None));
    }

    #[test]
    fn uploads_are_the_top_level_folder_only() {
        assert!(is_under_uploads("uploads"));
        assert!(is_under_uploads("uploads/a.json"));
        assert!(!is_under_uploads("uploadsx/a.json"));
        assert!(!is_under_uploads("docs/uploads/a.json"));
    }
}
