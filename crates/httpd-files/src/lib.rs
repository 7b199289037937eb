//! Static files and JSON uploads under a document root.
//!
//! This crate does the filesystem half of the server: a [`DocRoot`] holds the document
//! root open (and opens it again when a deployment replaces it); the [`Root`] a
//! request takes from it opens files ([`StaticFile`], streamed in constant memory),
//! tells files from directories ([`Root::probe`]) and lists directories
//! ([`Root::list_dir`]; rendered sorted as HTML or JSON by [`Listing`]; archived as a
//! tar download by [`TarSteps`]), each for a [`SafePath`](httpd_security::SafePath);
//! [`UploadStore`] receives `POST /upload` bodies and publishes each valid JSON
//! document under a unique name. It runs on Linux.
//!
//! Invariants:
//!
//! - Only a [`SafePath`](httpd_security::SafePath) can be looked at, so the path
//!   already lies under the root lexically. Every operation then resolves it beneath
//!   the root's descriptor: one `openat2(RESOLVE_BENEATH)`, or where the kernel cannot
//!   decide, a walk of one `O_NOFOLLOW` open per component that reads each link itself
//!   (no check-then-open race). A link that leads out of the root is `Forbidden`
//!   whatever the operation, so no answer (no redirect, no listing, no 404 against a
//!   403) tells what lies outside; a link that stays inside is followed. Only regular
//!   files are served (a FIFO or a device is refused without blocking).
//! - [`Root::open_cached`] is [`Root::open`] with a [`FileCache`] of small files: an
//!   unchanged cached file costs one `statx` and is served from memory, and only under
//!   the root directory it was read beneath.
//! - Size and date come from the open handle, and [`StaticFile::send_to`] sends
//!   exactly that many bytes or fails; a body is never padded or silently cut short.
//! - An upload is visible under its final `upload_YYYYMMDD_HHMMSS_XXXX.json` name only
//!   once it is complete, valid JSON and synced; a failed or abandoned upload leaves no
//!   file behind. Its temporary file is locked while it is written, so another process
//!   sharing the directory never removes it ([`UploadStore::remove_stale_temps`]).
//!
//! Content types follow the seed server: HTML is shown inline, every other file is an
//! `application/octet-stream` download with a `Content-Disposition`
//! ([`attachment_disposition`]). [`media_type_for`] maps extensions to real media types
//! for when the server wants them, and [`MediaTypes`] is the web preset's table (a
//! website's types, operator overrides, and which are shown inline).
//!
//! [`plan_file`] decides the answer to a GET or HEAD of a file in one call: the
//! representation (identity, a fresh `name.br`/`name.gz` sidecar, gzip in memory or
//! while sent), the entity-tag, the preconditions (304, 412) and the range (206,
//! multipart, 416); with `may_block` false it never touches the disk beyond the open
//! file and says when it would have to ([`FilePlan`], [`PlanOptions`]). It is made of
//! building blocks for full HTTP file semantics (RFC 9110 sections 13 and 14), which a
//! server may also combine itself:
//!
//! - [`Validators`]: a strong `ETag` per content coding and `Last-Modified`; with
//!   `--etag content`, the tag is computed from the bytes ([`ContentTags`]) and set with
//!   [`Validators::with_content_tag`]. [`evaluate`] applies `If-Match`, `If-None-Match`, `If-Modified-Since`,
//!   `If-Unmodified-Since` and `If-Range` in the RFC's order.
//! - [`StaticFile::send_range_to`] sends one byte range;
//!   [`Multipart`] lays out a `multipart/byteranges` body of known length.
//! - [`CachePolicy`] picks `Cache-Control` per extension, and in the web preset
//!   ([`CachePolicy::web`]) marks content-hashed names ([`is_content_hashed`]) immutable.
//! - [`is_compressible_ext`], [`find_precompressed`] (`name.gz`, `name.br`) and
//!   [`gzip_stream`] (on the fly) provide content codings.
//!
//! # Example
//!
//! ```no_run
//! use std::io::Write;
//! use std::path::Path;
//!
//! use httpd_files::{DocRoot, Kind, UploadStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = Path::new("resources");
//! let doc_root = DocRoot::open(root)?;
//!
//! // Serve a file, from the tree the root path names now.
//! let files = doc_root.current();
//! let path = httpd_security::resolve_path(root, "/logo.png")?;
//! assert_eq!(files.probe(&path)?, Kind::File);
//! let mut file = files.open(&path)?;
//! assert_eq!(file.content_type(), "application/octet-stream");
//! assert_eq!(file.content_disposition(), Some(r#"attachment; filename="logo.png""#));
//! let mut body = Vec::new();
//! file.send_to(&mut body)?;
//! assert_eq!(body.len() as u64, file.len());
//!
//! // Store an upload.
//! let store = UploadStore::new(&root.join("uploads"), "/uploads");
//! store.remove_stale_temps()?;
//! let mut pending = store.begin()?;
//! pending.write_all(br#"{"name": "test", "value": 123}"#)?;
//! let stored = pending.commit()?;
//! println!("created {}", stored.url_path());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod beneath;
mod cache;
mod conditional;
mod content_tag;
mod encoding;
mod error;
mod file_cache;
mod gzip;
mod identity;
mod listing;
mod media;
mod multipart;
mod planner;
mod random;
mod root;
mod static_file;
mod tag;
mod tar;
#[cfg(test)]
mod test_util;
mod upload;
mod validators;

pub use crate::cache::{
    CachePolicy, DEFAULT_CACHE_CONTROL, HTML_CACHE_CONTROL, IMMUTABLE_CACHE_CONTROL,
    MAX_HASH_CHARS, MIN_HASH_CHARS, is_content_hashed,
};
pub use crate::conditional::{Conditions, Precondition, evaluate};
pub use crate::content_tag::{ContentTags, DEFAULT_MAX_CONTENT_TAGS};
pub use crate::encoding::{
    find_precompressed, is_compressible, is_compressible_ext, sidecar_suffix,
};
pub use crate::error::{ErrorKind, ServeError};
pub use crate::file_cache::{FileCache, FileCacheStats, MAX_KEY_BYTES, MIN_ENTRY_CHARGE};
pub use crate::gzip::{GZIP_LEVEL, GzipSteps, gzip_stream};
pub use crate::identity::FileIdentity;
pub use crate::listing::{
    APPLICATION_JSON, Listing, ListingFormat, ListingQuery, SortKey, SortOrder, render_html,
    render_json, sort_entries,
};
pub use crate::media::{
    MAX_EXTENSION_BYTES, MAX_MEDIA_TYPE_BYTES, MediaTypeError, MediaTypes, is_inline_type,
};
pub use crate::multipart::{Multipart, Piece};
pub use crate::planner::{
    FilePlan, FileQuery, GZIP_IN_MEMORY_MAX_BYTES, PlanError, PlanOptions, PlannedBody, plan_file,
};
pub use crate::root::{DirEntry, DocRoot, Kind, ROOT_RECHECK, Root};
pub use crate::static_file::{
    INDEX_FILE, OCTET_STREAM, SEND_BUFFER_BYTES, StaticFile, TEXT_HTML, attachment_disposition,
    media_type_for,
};
pub use crate::tag::ContentTag;
pub use crate::tar::{
    MAX_ARCHIVE_DEPTH, MAX_ARCHIVE_PATH_BYTES, MAX_ENTRIES_PER_STEP, ROOT_ARCHIVE_NAME, TarSteps,
    UPLOADS_DIR,
};
pub use crate::upload::{PendingUpload, StoredUpload, TEMP_PREFIX, TEMP_SUFFIX, UploadStore};
pub use crate::validators::Validators;
