//! The answer to a GET or HEAD of one file, decided before any of it is written:
//! which representation (identity, a precompressed sidecar, gzip on the fly), which
//! validators, what the preconditions say (RFC 9110 section 13) and which bytes a
//! `Range` asks for (section 14).
//!
//! [`plan_file`] runs the same rules on a thread that must not block (`may_block`
//! false: it gives up, with `Ok(None)`, where a sidecar would have to be looked for,
//! the file compressed or its content tag computed) and on one that may.

use std::io;
use std::time::SystemTime;

use httpd_proto::{ByteRange, Coding, RangeRequest};
use httpd_security::SafePath;

use crate::conditional::{Conditions, Precondition, evaluate};
use crate::content_tag::ContentTags;
use crate::gzip::gzip_stream;
use crate::multipart::Multipart;
use crate::root::Root;
use crate::static_file::StaticFile;

/// Files up to this size are gzipped into memory, so the answer has a
/// `Content-Length` (and HEAD and HTTP/1.0 clients get the same representation);
/// larger ones are compressed while they are sent, chunked, which needs HTTP/1.1.
pub const GZIP_IN_MEMORY_MAX_BYTES: u64 = 1024 * 1024;

/// What a GET or HEAD of a file asks for, from its header fields. A list-valued field
/// sent on several lines is passed joined with `", "` (RFC 9110 section 5.3).
#[derive(Clone, Copy, Debug, Default)]
pub struct FileQuery<'a> {
    /// GET (ranges apply); false for HEAD.
    pub get: bool,
    /// The answer may be chunked (HTTP/1.1), so a large file can be gzipped while sent.
    pub chunked_ok: bool,
    /// The `Accept-Encoding` value.
    pub accept_encoding: Option<&'a [u8]>,
    /// The `Range` value.
    pub range: Option<&'a [u8]>,
    /// The conditional header fields.
    pub conditions: Conditions<'a>,
}

/// How a server serves files.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions<'a> {
    /// Compress on the fly with gzip when the client takes it.
    pub gzip: bool,
    /// Serve `name.br` / `name.gz` beside `name` when present and fresh.
    pub precompressed: bool,
    /// Most ranges one request may ask for before `Range` is ignored.
    pub max_ranges: usize,
    /// The file's type is worth compressing (the server decides: by extension or by
    /// media type).
    pub compressible: bool,
    /// With content entity-tags, the tags known so far ([`ContentTags`]).
    pub content_tags: Option<&'a ContentTags>,
    /// The caller may block on the disk: look for sidecars, compress, hash.
    pub may_block: bool,
}

/// Why a file cannot be answered with its contents.
#[derive(Debug)]
pub enum PlanError {
    /// A precondition failed: 412.
    PreconditionFailed,
    /// No range asked for can be satisfied: 416, with the file's length for
    /// `Content-Range: bytes */LEN`.
    RangeNotSatisfiable(u64),
    /// Reading the file (to compress or hash it) failed: 500.
    Io(io::Error),
}

/// The body a [`FilePlan`] sends.
#[derive(Debug)]
pub enum PlannedBody {
    /// None (304).
    None,
    /// The whole file.
    Whole,
    /// One range (206).
    Range(ByteRange),
    /// Several ranges (206), as `multipart/byteranges`.
    Multipart(Multipart),
    /// A representation made in memory: a gzip of the file, or bytes read by
    /// [`FilePlan::load_body`].
    Bytes(Vec<u8>),
    /// The file gzipped while sent (chunked).
    Gzip,
}

/// A file answer, decided.
#[derive(Debug)]
pub struct FilePlan {
    /// 200, 206 or 304.
    pub status: u16,
    /// The file whose bytes are sent: the one asked for or its sidecar.
    pub file: StaticFile,
    /// The entity-tag to send when it is not the file's own: a coded
    /// representation's, or a content tag.
    pub etag: Option<String>,
    /// The content coding of the body.
    pub coding: Coding,
    /// The answer depends on `Accept-Encoding` (`Vary: Accept-Encoding`).
    pub negotiable: bool,
    /// The `Content-Range` of a single range.
    pub content_range: Option<String>,
    /// The body.
    pub body: PlannedBody,
}

impl FilePlan {
    /// The entity-tag to send.
    pub fn etag(&self) -> &str {
        self.etag
            .as_deref()
            .unwrap_or_else(|| self.file.validators().etag())
    }

    /// Reads the body into memory when it is the whole file or one range of at most
    /// `max_bytes` and not in memory already: then the thread that sends it never
    /// waits for the disk. Blocks on the disk.
    ///
    /// # Errors
    /// The read's error; the plan is unchanged then.
    pub fn load_body(&mut self, max_bytes: u64) -> io::Result<()> {
        if self.file.cached_bytes().is_some() {
            return Ok(());
        }
        let (start, len) = match self.body {
            PlannedBody::Whole => (0, self.file.len()),
            PlannedBody::Range(r) => (r.start, r.len()),
            _ => return Ok(()),
        };
        if len > max_bytes {
            return Ok(());
        }
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        let mut filled = 0;
        while filled < bytes.len() {
            match self
                .file
                .read_at(start + filled as u64, &mut bytes[filled..])?
            {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => filled += n,
            }
        }
        self.body = PlannedBody::Bytes(bytes);
        Ok(())
    }
}

/// Plans the answer to `query` for `file`, found at `path` beneath `root`, whose
/// `Content-Type` is `content_type` (the parts of a multipart body carry it).
///
/// A range always applies to the identity representation. Without
/// [`may_block`](PlanOptions::may_block), returns `Ok(None)` where the disk is needed.
///
/// # Errors
/// See [`PlanError`].
pub fn plan_file(
    query: &FileQuery<'_>,
    file: StaticFile,
    path: &SafePath,
    root: &Root,
    content_type: &str,
    opts: &PlanOptions<'_>,
) -> Result<Option<FilePlan>, PlanError> {
    let mut file = file;
    let negotiable = opts.compressible && (opts.gzip || opts.precompressed);
    let wants_range = query.get && query.range.is_some();

    // Choose the representation.
    let mut coding = Coding::Identity;
    let mut on_the_fly = false;
    if negotiable && !wants_range {
        let accept = httpd_proto::parse_accept_encoding(query.accept_encoding);
        let wants_coded = (opts.precompressed && accept.accepts(Coding::Brotli))
            || ((opts.precompressed || opts.gzip) && accept.accepts(Coding::Gzip));
        if wants_coded && !opts.may_block {
            return Ok(None);
        }
        if wants_coded {
            let sidecar = |c: Coding| {
                (opts.precompressed && accept.accepts(c))
                    .then(|| root.find_precompressed(path, file.modified(), c))
                    .flatten()
            };
            let mut br = sidecar(Coding::Brotli);
            let mut gz = sidecar(Coding::Gzip);
            let gzip_fly =
                opts.gzip && (file.len() <= GZIP_IN_MEMORY_MAX_BYTES || query.chunked_ok);
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

    // With content tags, the tag of the bytes chosen (the sidecar's own for a
    // sidecar): known already, or computed here where blocking is allowed.
    let content_validators = match opts.content_tags {
        None => None,
        Some(tags) => {
            let tag = match tags.cached(&file.identity()) {
                Some(tag) => tag,
                None if !opts.may_block => return Ok(None),
                None => tags.compute(&file).map_err(PlanError::Io)?,
            };
            Some(file.validators().with_content_tag(&tag))
        }
    };
    let validators = content_validators
        .as_ref()
        .unwrap_or_else(|| file.validators());
    let etag = match (coding, &content_validators) {
        (Coding::Identity, None) => None,
        (Coding::Identity, Some(v)) => Some(v.etag().to_string()),
        (coding, _) => Some(validators.etag_for(coding)),
    };
    // A date in the future is no validator (RFC 9110 section 8.8.2.1).
    let last_modified = validators
        .last_modified()
        .filter(|t| *t <= SystemTime::now());
    let precondition = evaluate(
        true,
        &query.conditions,
        etag.as_deref().unwrap_or(validators.etag()),
        last_modified,
    );
    let mut plan = FilePlan {
        status: 200,
        file,
        etag,
        coding,
        negotiable,
        content_range: None,
        body: PlannedBody::Whole,
    };
    let use_range = match precondition {
        Precondition::NotModified => {
            plan.status = 304;
            plan.body = PlannedBody::None;
            return Ok(Some(plan));
        }
        Precondition::Failed => return Err(PlanError::PreconditionFailed),
        Precondition::Proceed { use_range } => use_range,
    };
    let len = plan.file.len();
    let range = match query.range {
        Some(value) if wants_range && use_range => {
            httpd_proto::parse_range(value, len, opts.max_ranges)
        }
        _ => RangeRequest::Ignore,
    };
    match range {
        RangeRequest::Ignore if on_the_fly => {
            if len <= GZIP_IN_MEMORY_MAX_BYTES {
                let mut out = Vec::with_capacity(usize::try_from(len / 3).unwrap_or(0) + 64);
                gzip_stream(&mut plan.file, &mut out).map_err(PlanError::Io)?;
                log::debug!(
                    "gzipped {:?}: {len} -> {} bytes",
                    path.relative(),
                    out.len()
                );
                plan.body = PlannedBody::Bytes(out);
            } else {
                plan.body = PlannedBody::Gzip;
            }
        }
        RangeRequest::Ignore => {}
        RangeRequest::Unsatisfiable => return Err(PlanError::RangeNotSatisfiable(len)),
        RangeRequest::Ranges(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            plan.status = 206;
            plan.content_range = Some(r.content_range(len));
            plan.body = PlannedBody::Range(r);
        }
        RangeRequest::Ranges(ranges) => {
            plan.status = 206;
            plan.body = PlannedBody::Multipart(Multipart::new(&ranges, content_type, len));
        }
    }
    Ok(Some(plan))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Read;
    use std::time::{Duration, UNIX_EPOCH};

    use flate2::read::GzDecoder;
    use httpd_security::resolve_path;

    use super::*;
    use crate::test_util::TempDir;

    const TEXT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz, compressible compressible";

    fn at(dir: &TempDir, rel: &str, contents: &[u8], secs: u64) {
        let path = dir.write(rel, contents);
        File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_secs(secs)))
            .unwrap();
    }

    fn site() -> TempDir {
        let dir = TempDir::new();
        at(&dir, "a.css", TEXT, 1_000_000_000);
        dir
    }

    fn opts() -> PlanOptions<'static> {
        PlanOptions {
            gzip: true,
            precompressed: true,
            max_ranges: 4,
            compressible: true,
            content_tags: None,
            may_block: true,
        }
    }

    fn plan(
        dir: &TempDir,
        query: &FileQuery<'_>,
        opts: &PlanOptions<'_>,
    ) -> Result<Option<FilePlan>, PlanError> {
        let root = Root::at(dir.path()).unwrap();
        let path = resolve_path(dir.path(), "/a.css").unwrap();
        let file = root.open(&path).unwrap();
        plan_file(query, file, &path, &root, "text/css", opts)
    }

    fn get() -> FileQuery<'static> {
        FileQuery {
            get: true,
            chunked_ok: true,
            ..FileQuery::default()
        }
    }

    fn body(plan: &mut FilePlan) -> Vec<u8> {
        plan.load_body(u64::MAX).unwrap();
        match &plan.body {
            PlannedBody::Bytes(bytes) => bytes.clone(),
            other => panic!("not in memory: {other:?}"),
        }
    }

    #[test]
    fn a_plain_get_is_the_whole_file_with_its_own_tag() {
        let dir = site();
        let mut p = plan(&dir, &get(), &opts()).unwrap().unwrap();
        assert_eq!(p.status, 200);
        assert_eq!(p.coding, Coding::Identity);
        assert!(p.negotiable);
        assert_eq!(p.etag(), p.file.validators().etag());
        assert!(matches!(p.body, PlannedBody::Whole));
        assert_eq!(body(&mut p), TEXT);
    }

    #[test]
    fn gzip_on_the_fly_needs_a_thread_that_may_block() {
        let dir = site();
        let query = FileQuery {
            accept_encoding: Some(b"gzip"),
            ..get()
        };
        let poller = PlanOptions {
            may_block: false,
            ..opts()
        };
        assert!(plan(&dir, &query, &poller).unwrap().is_none());
        let p = plan(&dir, &query, &opts()).unwrap().unwrap();
        assert_eq!(p.coding, Coding::Gzip);
        assert!(p.etag().ends_with("-gz\""), "{}", p.etag());
        let PlannedBody::Bytes(gz) = &p.body else {
            panic!("{:?}", p.body);
        };
        let mut plain = Vec::new();
        GzDecoder::new(&gz[..]).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, TEXT);
        // Not worth compressing, or gzip off: the identity, even on the poller.
        for opts in [
            PlanOptions {
                compressible: false,
                ..poller
            },
            PlanOptions {
                gzip: false,
                precompressed: false,
                ..poller
            },
        ] {
            let p = plan(&dir, &query, &opts).unwrap().unwrap();
            assert_eq!(p.coding, Coding::Identity);
        }
    }

    #[test]
    fn a_fresh_sidecar_is_preferred_and_a_stale_one_ignored() {
        let dir = site();
        at(&dir, "a.css.br", b"brotli bytes", 1_000_000_001);
        let query = FileQuery {
            accept_encoding: Some(b"gzip, br"),
            ..get()
        };
        let mut p = plan(&dir, &query, &opts()).unwrap().unwrap();
        assert_eq!(p.coding, Coding::Brotli);
        assert_eq!(body(&mut p), b"brotli bytes");
        at(&dir, "a.css.br", b"brotli bytes", 999_999_999);
        let p = plan(&dir, &query, &opts()).unwrap().unwrap();
        assert_eq!(p.coding, Coding::Gzip, "made on the fly instead");
    }

    #[test]
    fn a_large_file_is_gzipped_while_sent_only_when_chunks_are_possible() {
        let dir = TempDir::new();
        let big: Vec<u8> = TEXT
            .iter()
            .copied()
            .cycle()
            .take(GZIP_IN_MEMORY_MAX_BYTES as usize + 1)
            .collect();
        at(&dir, "a.css", &big, 1_000_000_000);
        let query = FileQuery {
            accept_encoding: Some(b"gzip"),
            ..get()
        };
        let p = plan(&dir, &query, &opts()).unwrap().unwrap();
        assert!(matches!(p.body, PlannedBody::Gzip), "{:?}", p.body);
        let http10 = FileQuery {
            chunked_ok: false,
            ..query
        };
        let p = plan(&dir, &http10, &opts()).unwrap().unwrap();
        assert_eq!(p.coding, Coding::Identity);
        assert!(matches!(p.body, PlannedBody::Whole));
    }

    #[test]
    fn ranges_apply_to_the_identity_and_only_to_get() {
        let dir = site();
        let one = FileQuery {
            range: Some(b"bytes=10-19"),
            accept_encoding: Some(b"gzip"),
            ..get()
        };
        let mut p = plan(&dir, &one, &opts()).unwrap().unwrap();
        assert_eq!(p.status, 206);
        assert_eq!(p.coding, Coding::Identity);
        let len = TEXT.len();
        assert_eq!(
            p.content_range.as_deref(),
            Some(&*format!("bytes 10-19/{len}"))
        );
        assert_eq!(body(&mut p), &TEXT[10..20]);
        let two = FileQuery {
            range: Some(b"bytes=0-1,5-6"),
            ..get()
        };
        let p = plan(&dir, &two, &opts()).unwrap().unwrap();
        assert_eq!(p.status, 206);
        let PlannedBody::Multipart(parts) = &p.body else {
            panic!("{:?}", p.body);
        };
        assert!(
            parts
                .content_type_header()
                .starts_with("multipart/byteranges")
        );
        let beyond = FileQuery {
            range: Some(b"bytes=1000-"),
            ..get()
        };
        assert!(matches!(
            plan(&dir, &beyond, &opts()),
            Err(PlanError::RangeNotSatisfiable(n)) if n == len as u64
        ));
        let head = FileQuery { get: false, ..one };
        let p = plan(&dir, &head, &opts()).unwrap().unwrap();
        assert_eq!(p.status, 200);
        // A stale If-Range: the whole file.
        let stale = FileQuery {
            conditions: Conditions {
                if_range: Some(b"\"other\""),
                ..Conditions::default()
            },
            ..one
        };
        let p = plan(&dir, &stale, &opts()).unwrap().unwrap();
        assert_eq!(p.status, 200);
    }

    #[test]
    fn preconditions_give_304_and_412() {
        let dir = site();
        let tag = plan(&dir, &get(), &opts())
            .unwrap()
            .unwrap()
            .etag()
            .to_string();
        let cached = FileQuery {
            conditions: Conditions {
                if_none_match: Some(tag.as_bytes()),
                ..Conditions::default()
            },
            ..get()
        };
        let p = plan(&dir, &cached, &opts()).unwrap().unwrap();
        assert_eq!(p.status, 304);
        assert!(matches!(p.body, PlannedBody::None));
        let changed = FileQuery {
            conditions: Conditions {
                if_match: Some(b"\"something-else\""),
                ..Conditions::default()
            },
            ..get()
        };
        assert!(matches!(
            plan(&dir, &changed, &opts()),
            Err(PlanError::PreconditionFailed)
        ));
    }

    #[test]
    fn content_tags_are_computed_only_where_blocking_is_allowed() {
        let dir = site();
        let tags = ContentTags::new(16);
        let poller = PlanOptions {
            content_tags: Some(&tags),
            may_block: false,
            ..opts()
        };
        assert!(plan(&dir, &get(), &poller).unwrap().is_none());
        let worker = PlanOptions {
            may_block: true,
            ..poller
        };
        let p = plan(&dir, &get(), &worker).unwrap().unwrap();
        assert_eq!(p.etag(), crate::ContentTag::of_bytes(TEXT).to_etag());
    }

    #[test]
    fn load_body_leaves_large_bodies_to_be_streamed() {
        let dir = site();
        let mut p = plan(&dir, &get(), &opts()).unwrap().unwrap();
        p.load_body(8).unwrap();
        assert!(matches!(p.body, PlannedBody::Whole));
    }
}
