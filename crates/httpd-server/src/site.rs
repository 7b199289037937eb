//! What a website needs beyond serving files one by one: custom error pages, the
//! fallback page of a single-page application, content-based entity-tags, and the
//! media ranges of `Accept` that the fallback and listings negotiate on.
//!
//! Custom error pages ([`ErrorPages`]) are read from the document root through a
//! small [`FileCache`] of their own, so a page is read once and then revalidated by
//! one `statx` per use, as any cached file is. The poller serves a page that cache
//! holds unchanged ([`ErrorPages::fill_from_memory`]); any other page is read by a
//! worker ([`ErrorPages::fill_from_disk`]). A page that cannot be read is replaced by the
//! built-in one, with one warning.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use httpd_files::{DocRoot, FileCache, StaticFile};
use httpd_security::SafePath;

use crate::response::{Page, Response};

/// How file answers' entity-tags are made (`--etag`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EtagMode {
    /// From size, modification time and inode (`"SIZE-MTIME-INODE"`), known from one
    /// `stat`: the default.
    #[default]
    Default,
    /// From the file's bytes (`"c-<128-bit hash>"`, [`httpd_files::ContentTags`]): the
    /// same on every server of a fleet and after a copy that changes dates. Each file
    /// version is hashed once, by a worker; the poller answers only when the tag is
    /// known already.
    Content,
}

impl EtagMode {
    /// Reads `default` or `content` (any case).
    pub fn from_name(name: &str) -> Option<EtagMode> {
        if name.eq_ignore_ascii_case("default") {
            Some(EtagMode::Default)
        } else if name.eq_ignore_ascii_case("content") {
            Some(EtagMode::Content)
        } else {
            None
        }
    }

    /// Returns the name [`from_name`](Self::from_name) reads.
    pub fn name(self) -> &'static str {
        match self {
            EtagMode::Default => "default",
            EtagMode::Content => "content",
        }
    }
}

/// The largest custom error page read, in bytes: a larger one is replaced by the
/// built-in page (with a warning).
pub const ERROR_PAGE_MAX_BYTES: u64 = 1024 * 1024;

/// The largest custom error page held in memory, in bytes: a larger one is read by a
/// worker for each answer that uses it.
pub const ERROR_PAGE_CACHE_BYTES: u64 = 64 * 1024;

/// How long after a failed read the poller answers with the built-in page without
/// asking a worker to read the custom one again.
const RETRY_AFTER_FAILURE_MS: u64 = 1000;

/// Why a path the operator gave for a file of the root (`--fallback`,
/// `--error-page`) is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SitePathError {
    /// It does not start with `/`.
    NotAbsolute,
    /// It leaves the root, or holds an encoding the request policy refuses.
    Unsafe,
    /// It names a directory (ends with `/`).
    Directory,
    /// A segment starts with a dot: such files are never served.
    Hidden,
}

impl fmt::Display for SitePathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SitePathError::NotAbsolute => "path must start with /",
            SitePathError::Unsafe => "path leaves the root or is badly encoded",
            SitePathError::Directory => "path names a directory, not a file",
            SitePathError::Hidden => "path names a dot-file, which is never served",
        })
    }
}

impl std::error::Error for SitePathError {}

/// Checks a URL path the operator gave for a file of the document root (such as
/// `/index.html` or `/errors/404.html`): absolute, beneath the root, a file (not
/// ending in `/`), and no segment starting with a dot. The same rules as a request
/// for that path, so the file is one a client could be served.
///
/// # Errors
/// Why the path is refused.
///
/// # Examples
/// ```
/// use httpd_server::{SitePathError, check_site_path};
///
/// assert_eq!(check_site_path("/index.html"), Ok(()));
/// assert_eq!(check_site_path("index.html"), Err(SitePathError::NotAbsolute));
/// assert_eq!(check_site_path("/../etc/passwd"), Err(SitePathError::Unsafe));
/// assert_eq!(check_site_path("/app/"), Err(SitePathError::Directory));
/// assert_eq!(check_site_path("/.secret.html"), Err(SitePathError::Hidden));
/// ```
pub fn check_site_path(path: &str) -> Result<(), SitePathError> {
    resolve_site_path(Path::new("/"), path).map(|_| ())
}

/// Resolves `path` under `root` with the request policy; see [`check_site_path`].
pub(crate) fn resolve_site_path(root: &Path, path: &str) -> Result<SafePath, SitePathError> {
    if !path.starts_with('/') {
        return Err(SitePathError::NotAbsolute);
    }
    let resolved = httpd_security::resolve_path(root, path).map_err(|_| SitePathError::Unsafe)?;
    if resolved.is_dir_form() {
        return Err(SitePathError::Directory);
    }
    if resolved.is_hidden() {
        return Err(SitePathError::Hidden);
    }
    Ok(resolved)
}

/// The custom error pages (`--error-page STATUS=/PATH`), read from the root.
pub(crate) struct ErrorPages {
    doc_root: Arc<DocRoot>,
    /// Sorted by status, one per status.
    pages: Vec<ErrorPage>,
    /// The pages' bytes: read once, revalidated by one `statx` per use.
    cache: FileCache,
    /// The zero of the `retry_at_ms` clocks.
    epoch: Instant,
}

struct ErrorPage {
    status: u16,
    url_path: String,
    path: SafePath,
    content_type: Cow<'static, str>,
    /// A warning was logged for the page's last failure; cleared once it is read.
    warned: AtomicBool,
    /// After a failure: until this many milliseconds after `epoch`, the poller
    /// answers with the built-in page without asking a worker.
    retry_at_ms: AtomicU64,
}

/// What the poller can do with an error answer's page.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageLookup {
    /// The custom page replaced the built-in one.
    Replaced,
    /// The built-in page stays: there is no custom page, or it just failed.
    BuiltIn,
    /// The custom page must be read by a worker ([`ErrorPages::fill_from_disk`]).
    Disk,
}

impl ErrorPages {
    /// Resolves each page (`status`, URL path, `Content-Type`) under `root`; reads
    /// nothing.
    ///
    /// # Errors
    /// The first path that is refused, with why.
    pub(crate) fn new(
        doc_root: Arc<DocRoot>,
        root: &Path,
        pages: &[(u16, String, Cow<'static, str>)],
    ) -> Result<ErrorPages, (String, SitePathError)> {
        let mut resolved = Vec::with_capacity(pages.len());
        for (status, url_path, content_type) in pages {
            let path = resolve_site_path(root, url_path).map_err(|e| (url_path.clone(), e))?;
            resolved.retain(|p: &ErrorPage| p.status != *status);
            resolved.push(ErrorPage {
                status: *status,
                url_path: url_path.clone(),
                path,
                content_type: content_type.clone(),
                warned: AtomicBool::new(false),
                retry_at_ms: AtomicU64::new(0),
            });
        }
        resolved.sort_by_key(|p| p.status);
        let n_pages = u64::try_from(resolved.len()).unwrap_or(u64::MAX);
        Ok(ErrorPages {
            doc_root,
            cache: FileCache::new(
                n_pages.saturating_mul(ERROR_PAGE_CACHE_BYTES),
                ERROR_PAGE_CACHE_BYTES,
            ),
            pages: resolved,
            epoch: Instant::now(),
        })
    }

    /// Tells whether `status` has a custom page.
    pub(crate) fn has(&self, status: u16) -> bool {
        self.page(status).is_some()
    }

    /// Reads every page once, at start-up, so that the poller can serve those the page
    /// cache keeps; warns about each page that cannot be read.
    pub(crate) fn preload(&self) {
        for page in &self.pages {
            let mut probe = Response::error(page.status);
            self.read_into(page, &mut probe);
        }
    }

    /// Replaces the built-in page of `response` with its custom page if the page
    /// cache holds it unchanged: at most one `statx`, no open. Runs on the poller.
    pub(crate) fn fill_from_memory(&self, response: &mut Response) -> PageLookup {
        if response.page != Page::BuiltIn {
            return PageLookup::BuiltIn;
        }
        let Some(page) = self.page(response.status) else {
            return PageLookup::BuiltIn;
        };
        let root = self.doc_root.current();
        if let Some(file) = root.from_cache(&page.path, &self.cache) {
            if let Some(bytes) = file.cached_bytes() {
                replace(response, page, bytes.to_vec());
                return PageLookup::Replaced;
            }
        }
        if page.retry_at_ms.load(Ordering::Relaxed) > self.now_ms() {
            // It failed a moment ago: no job for every error until it is fixed.
            response.page = Page::Final;
            return PageLookup::BuiltIn;
        }
        PageLookup::Disk
    }

    /// Replaces the built-in page of `response` with its custom page, reading the
    /// page from the disk if need be; keeps the built-in page (and warns once) when
    /// the page cannot be read. Runs on a worker.
    pub(crate) fn fill_from_disk(&self, response: &mut Response) {
        if response.page != Page::BuiltIn {
            return;
        }
        if let Some(page) = self.page(response.status) {
            self.read_into(page, response);
        }
    }

    fn page(&self, status: u16) -> Option<&ErrorPage> {
        self.pages
            .binary_search_by_key(&status, |p| p.status)
            .ok()
            .map(|i| &self.pages[i])
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Reads `page` (through the page cache) into `response`, or warns once.
    fn read_into(&self, page: &ErrorPage, response: &mut Response) {
        let root = self.doc_root.current();
        let read = root
            .open_cached(&page.path, &self.cache)
            .map_err(|e| e.to_string())
            .and_then(|file| read_page(&file));
        match read {
            Ok(bytes) => {
                page.retry_at_ms.store(0, Ordering::Relaxed);
                if page.warned.swap(false, Ordering::Relaxed) {
                    log::info!(
                        "error page {} for {} is readable again",
                        page.url_path,
                        page.status
                    );
                }
                replace(response, page, bytes);
            }
            Err(why) => {
                page.retry_at_ms.store(
                    self.now_ms().saturating_add(RETRY_AFTER_FAILURE_MS),
                    Ordering::Relaxed,
                );
                if !page.warned.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "error page {} for {} cannot be served ({why}); using the built-in page",
                        page.url_path,
                        page.status
                    );
                }
                response.page = Page::Final;
            }
        }
    }
}

impl fmt::Debug for ErrorPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pages: Vec<(u16, &str)> = self
            .pages
            .iter()
            .map(|p| (p.status, p.url_path.as_str()))
            .collect();
        f.debug_struct("ErrorPages").field("pages", &pages).finish()
    }
}

/// Puts `page`'s bytes and type into `response` in place of the built-in page; the
/// other headers (`Allow`, `Retry-After`, ...) stay.
fn replace(response: &mut Response, page: &ErrorPage, bytes: Vec<u8>) {
    response.body = bytes;
    response.headers.retain(|(name, _)| *name != "Content-Type");
    response
        .headers
        .push(("Content-Type", page.content_type.clone()));
    response.page = Page::Custom;
}

/// The whole of a page no larger than [`ERROR_PAGE_MAX_BYTES`].
fn read_page(file: &StaticFile) -> Result<Vec<u8>, String> {
    if let Some(bytes) = file.cached_bytes() {
        return Ok(bytes.to_vec());
    }
    if file.len() > ERROR_PAGE_MAX_BYTES {
        return Err(format!("larger than {ERROR_PAGE_MAX_BYTES} bytes"));
    }
    let mut bytes = vec![0u8; usize::try_from(file.len()).unwrap_or(0)];
    let mut filled = 0;
    while filled < bytes.len() {
        match file.read_at(filled as u64, &mut bytes[filled..]) {
            Ok(0) => return Err("the file shrank while it was read".to_string()),
            Ok(n) => filled += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(bytes)
}

/// The quality (0 to 1000) `accept` gives the media type `kind/subtype`, from its
/// most specific matching range (`text/html` before `text/*` before `*/*`, RFC 9110
/// section 12.5.1); `None` when no range matches. `q` values are read to three
/// decimals; media-type parameters other than `q` are ignored.
fn accept_quality(accept: &[u8], kind: &str, subtype: &str) -> Option<u16> {
    let mut best: Option<(u8, u16)> = None;
    for range in accept.split(|&b| b == b',') {
        let mut params = range.split(|&b| b == b';');
        let media = params.next().unwrap_or_default().trim_ascii();
        let Some(slash) = media.iter().position(|&b| b == b'/') else {
            continue;
        };
        let (k, s) = (&media[..slash], &media[slash + 1..]);
        let specificity = if k == b"*" && s == b"*" {
            1
        } else if k.eq_ignore_ascii_case(kind.as_bytes()) && s == b"*" {
            2
        } else if k.eq_ignore_ascii_case(kind.as_bytes())
            && s.eq_ignore_ascii_case(subtype.as_bytes())
        {
            3
        } else {
            continue;
        };
        let mut q = 1000;
        for param in params {
            let param = param.trim_ascii();
            if let Some(value) = param
                .strip_prefix(b"q=")
                .or_else(|| param.strip_prefix(b"Q="))
            {
                q = parse_q(value).unwrap_or(0);
            }
        }
        if best.is_none_or(|(spec, _)| specificity > spec) {
            best = Some((specificity, q));
        }
    }
    best.map(|(_, q)| q)
}

/// Reads a `qvalue` (`0`, `0.5`, `1.000`; RFC 9110 section 12.4.2) as thousandths.
fn parse_q(value: &[u8]) -> Option<u16> {
    let (whole, fraction) = match value.iter().position(|&b| b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &b""[..]),
    };
    if whole.len() != 1 || fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut q = match whole[0] {
        b'0' => 0u16,
        b'1' => 1000,
        _ => return None,
    };
    let mut scale = 100;
    for &d in fraction {
        q += u16::from(d - b'0') * scale;
        scale /= 10;
    }
    (q <= 1000).then_some(q)
}

/// Tells whether a client with this `Accept` field takes an HTML page: the field is
/// missing or empty, or its most specific range matching `text/html` (`text/html`,
/// `text/*` or `*/*`) has a quality above 0.
pub(crate) fn accepts_html(accept: Option<&[u8]>) -> bool {
    match accept {
        None => true,
        Some(value) if value.trim_ascii().is_empty() => true,
        Some(value) => accept_quality(value, "text", "html").is_some_and(|q| q > 0),
    }
}

/// Tells whether a client with this `Accept` field asks for JSON rather than HTML:
/// it names `application/json` itself (a wildcard does not count) with a quality
/// above 0 and above that of `text/html`.
pub(crate) fn prefers_json(accept: Option<&[u8]>) -> bool {
    let Some(value) = accept else {
        return false;
    };
    let named = value
        .split(|&b| b == b',')
        .filter_map(|r| r.split(|&b| b == b';').next())
        .any(|m| m.trim_ascii().eq_ignore_ascii_case(b"application/json"));
    if !named {
        return false;
    }
    let json = accept_quality(value, "application", "json").unwrap_or(0);
    let html = accept_quality(value, "text", "html").unwrap_or(0);
    json > 0 && json > html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_accepted_by_the_most_specific_range() {
        let cases: &[(Option<&[u8]>, bool)] = &[
            (None, true),
            (Some(b""), true),
            (Some(b"text/html"), true),
            (
                Some(b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                true,
            ),
            (Some(b"*/*"), true),
            (Some(b"text/*"), true),
            (Some(b"application/json"), false),
            (Some(b"image/avif,image/webp,*/*;q=0.8"), true),
            (Some(b"image/webp,image/*"), false),
            (Some(b"text/html;q=0, */*"), false),
            (Some(b"*/*;q=0"), false),
            (Some(b"TEXT/HTML; Q=0.5"), true),
            (Some(b"text/html;q=2"), false),
        ];
        for &(accept, expected) in cases {
            assert_eq!(
                accepts_html(accept),
                expected,
                "{:?}",
                accept.map(|a| a.escape_ascii().to_string())
            );
        }
    }

    #[test]
    fn json_is_preferred_only_when_named_above_html() {
        let cases: &[(Option<&[u8]>, bool)] = &[
            (None, false),
            (Some(b"application/json"), true),
            (Some(b"application/json, text/plain"), true),
            (Some(b"text/html, application/json"), false),
            (Some(b"text/html;q=0.5, application/json"), true),
            (Some(b"*/*"), false),
            (Some(b"application/*"), false),
            (Some(b"application/json;q=0"), false),
            (
                Some(b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                false,
            ),
        ];
        for &(accept, expected) in cases {
            assert_eq!(
                prefers_json(accept),
                expected,
                "{:?}",
                accept.map(|a| a.escape_ascii().to_string())
            );
        }
    }

    #[test]
    fn quality_values_are_thousandths() {
        assert_eq!(parse_q(b"1"), Some(1000));
        assert_eq!(parse_q(b"0.8"), Some(800));
        assert_eq!(parse_q(b"0.125"), Some(125));
        assert_eq!(parse_q(b"1.000"), Some(1000));
        assert_eq!(parse_q(b"1.5"), None);
        assert_eq!(parse_q(b"0.1234"), None);
        assert_eq!(parse_q(b"x"), None);
    }

    #[test]
    fn site_paths_follow_the_request_policy() {
        assert_eq!(check_site_path("/errors/404.html"), Ok(()));
        assert_eq!(
            check_site_path("/%2e%2e/x.html"),
            Err(SitePathError::Unsafe)
        );
        assert_eq!(check_site_path(""), Err(SitePathError::NotAbsolute));
        assert_eq!(check_site_path("/"), Err(SitePathError::Directory));
        assert_eq!(check_site_path("/a/.git/x"), Err(SitePathError::Hidden));
    }
}
