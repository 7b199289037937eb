//! Content codings for files: which media types are worth compressing, and
//! precompressed sidecars (`name.gz`, `name.br`) served in place of a file.
//!
//! A sidecar is only used when it is a regular file under the root (links are checked
//! like any served file) and not older than the file it stands for, so a stale
//! sidecar left behind by a deployment is never served.

use std::time::SystemTime;

use httpd_proto::Coding;
use httpd_security::SafePath;

use crate::error::ErrorKind;
use crate::root::Root;
use crate::static_file::{StaticFile, media_type_for};

/// Tells whether a response of media type `content_type` is worth compressing.
///
/// Text and text-like formats are: `text/*`, JSON, JavaScript, XML (and every
/// `+json` / `+xml` type, such as SVG), WebAssembly, and uncompressed fonts (`ttf`,
/// `otf`). Formats that are already compressed (images such as PNG, JPEG, GIF, WebP;
/// archives; `woff`/`woff2`; audio and video), `application/octet-stream` and
/// unknown types are not. Parameters (`; charset=utf-8`) and case are ignored.
///
/// # Examples
/// ```
/// use httpd_files::is_compressible;
///
/// assert!(is_compressible("text/css; charset=utf-8"));
/// assert!(is_compressible("image/svg+xml"));
/// assert!(!is_compressible("image/png"));
/// assert!(!is_compressible("application/octet-stream"));
/// ```
pub fn is_compressible(content_type: &str) -> bool {
    // Compared without allocating: this runs for every file response.
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if kind.eq_ignore_ascii_case("text") {
        return true;
    }
    let ends_with = |suffix: &str| {
        subtype.len() >= suffix.len()
            && subtype.as_bytes()[subtype.len() - suffix.len()..]
                .eq_ignore_ascii_case(suffix.as_bytes())
    };
    if ends_with("+json") || ends_with("+xml") {
        return true;
    }
    [
        "application/json",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/xml",
        "application/wasm",
        "font/ttf",
        "font/otf",
    ]
    .iter()
    .any(|known| essence.eq_ignore_ascii_case(known))
}

/// Tells whether a file with extension `ext` is worth compressing, judged by the
/// extension's real media type ([`media_type_for`]), not by the `Content-Type` it
/// is sent with: `notes.txt` is compressible even though the seed sends it as
/// `application/octet-stream`. A name without an extension is not.
///
/// # Examples
/// ```
/// use httpd_files::is_compressible_ext;
///
/// assert!(is_compressible_ext(Some("txt")));
/// assert!(is_compressible_ext(Some("JS")));
/// assert!(!is_compressible_ext(Some("png")));
/// assert!(!is_compressible_ext(None));
/// ```
pub fn is_compressible_ext(ext: Option<&str>) -> bool {
    ext.is_some_and(|ext| is_compressible(media_type_for(ext)))
}

/// Returns the file-name suffix of a precompressed sidecar for `coding`: `.gz` for
/// gzip, `.br` for Brotli, `None` for identity.
pub fn sidecar_suffix(coding: Coding) -> Option<&'static str> {
    match coding {
        Coding::Gzip => Some(".gz"),
        Coding::Brotli => Some(".br"),
        _ => None,
    }
}

/// Opens the precompressed sidecar of `path` for `coding` (`a.css.gz` for `a.css`
/// and gzip), if there is a usable one.
///
/// `path` is the path of the original file (a directory-form path stands for its
/// `index.html`), and `file_modified` the original's modification time, as
/// [`StaticFile::modified`] gives it. The sidecar is used only when:
///
/// - it opens with all the checks of [`StaticFile::open`]: a regular file whose
///   links do not leave the root;
/// - both modification times are known and the sidecar's is not older than the
///   original's.
///
/// The returned file is described as the original: its
/// [`content_type`](StaticFile::content_type),
/// [`content_disposition`](StaticFile::content_disposition) and
/// [`extension`](StaticFile::extension) are the original's, while its length, date
/// and [`validators`](StaticFile::validators) are the sidecar's own (send
/// `validators().etag_for(coding)` as its `ETag`).
///
/// Returns `None` for [`Coding::Identity`], and whenever the sidecar is missing or
/// not usable; a refused sidecar (outside the root, not a regular file) is logged at
/// `debug`.
///
/// This opens the root `path` was resolved under for the call; a server holding a
/// [`DocRoot`](crate::DocRoot) calls [`Root::find_precompressed`] instead, so that the
/// sidecar comes from the same tree as the file.
pub fn find_precompressed(
    path: &SafePath,
    file_modified: Option<SystemTime>,
    coding: Coding,
) -> Option<StaticFile> {
    sidecar_suffix(coding)?;
    let root = match Root::at(path.root()) {
        Ok(root) => root,
        Err(err) => {
            log::debug!("ignoring precompressed sidecars: {err}");
            return None;
        }
    };
    find_precompressed_in(&root, path, file_modified, coding)
}

impl Root {
    /// Opens the precompressed sidecar of `path` for `coding` beneath this root, if
    /// there is a usable one. See [`find_precompressed`].
    pub fn find_precompressed(
        &self,
        path: &SafePath,
        file_modified: Option<SystemTime>,
        coding: Coding,
    ) -> Option<StaticFile> {
        find_precompressed_in(self, path, file_modified, coding)
    }
}

/// [`find_precompressed`] beneath `root`.
fn find_precompressed_in(
    root: &Root,
    path: &SafePath,
    file_modified: Option<SystemTime>,
    coding: Coding,
) -> Option<StaticFile> {
    let suffix = sidecar_suffix(coding)?;
    let original_modified = file_modified?;
    let sidecar = match StaticFile::open_sibling(root, path, suffix) {
        Ok(sidecar) => sidecar,
        Err(err) => {
            if err.kind() != ErrorKind::NotFound {
                log::debug!("ignoring precompressed sidecar: {err}");
            }
            return None;
        }
    };
    let sidecar_modified = sidecar.modified()?;
    if sidecar_modified < original_modified {
        log::debug!(
            "ignoring precompressed sidecar older than its file: {:?}{suffix}",
            path.relative()
        );
        return None;
    }
    Some(sidecar)
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    use httpd_security::resolve_path;

    use super::*;
    use crate::static_file::{OCTET_STREAM, TEXT_HTML};
    use crate::test_util::TempDir;

    fn set_mtime(path: &std::path::Path, t: SystemTime) {
        File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(t))
            .expect("set mtime");
    }

    #[test]
    fn compressible_media_types() {
        let cases: &[(&str, bool)] = &[
            ("text/html; charset=utf-8", true),
            ("text/plain", true),
            ("TEXT/CSS", true),
            ("text/javascript; charset=utf-8", true),
            ("application/json", true),
            ("application/ld+json", true),
            ("application/javascript", true),
            ("application/xml", true),
            ("application/atom+xml; charset=utf-8", true),
            ("image/svg+xml", true),
            ("application/wasm", true),
            ("font/ttf", true),
            ("image/png", false),
            ("image/jpeg", false),
            ("image/gif", false),
            ("image/webp", false),
            ("image/vnd.microsoft.icon", false),
            ("application/gzip", false),
            ("application/zip", false),
            ("application/pdf", false),
            ("font/woff", false),
            ("font/woff2", false),
            ("video/mp4", false),
            ("application/octet-stream", false),
            ("", false),
            ("text", false),
            ("garbage/;;", false),
        ];
        for &(content_type, expected) in cases {
            assert_eq!(is_compressible(content_type), expected, "{content_type:?}");
        }
    }

    #[test]
    fn compressibility_follows_the_real_media_type_of_the_extension() {
        let cases: &[(Option<&str>, bool)] = &[
            (Some("txt"), true),
            (Some("html"), true),
            (Some("HTM"), true),
            (Some("css"), true),
            (Some("js"), true),
            (Some("mjs"), true),
            (Some("json"), true),
            (Some("svg"), true),
            (Some("wasm"), true),
            (Some("png"), false),
            (Some("jpg"), false),
            (Some("gif"), false),
            (Some("webp"), false),
            (Some("woff2"), false),
            (Some("mp4"), false),
            (Some("gz"), false),
            (Some("zip"), false),
            (Some("exe"), false),
            (Some(""), false),
            (None, false),
        ];
        for &(ext, expected) in cases {
            assert_eq!(is_compressible_ext(ext), expected, "{ext:?}");
        }
    }

    #[test]
    fn fresh_sidecars_are_served_as_the_original() {
        let root = TempDir::new();
        let original = root.write("docs/notes.txt", b"plain text");
        let gz = root.write("docs/notes.txt.gz", b"gzip bytes");
        let br = root.write("docs/notes.txt.br", b"br");
        let index = root.write("index.html", b"<h1>home</h1>");
        let index_gz = root.write("index.html.gz", b"gzipped home");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for p in [&original, &gz, &br, &index, &index_gz] {
            set_mtime(p, t);
        }

        let path = resolve_path(root.path(), "/docs/notes.txt").unwrap();
        let mut sidecar = find_precompressed(&path, Some(t), Coding::Gzip).expect("gz");
        assert_eq!(sidecar.len(), 10);
        assert_eq!(sidecar.content_type(), OCTET_STREAM);
        assert_eq!(
            sidecar.content_disposition(),
            Some(r#"attachment; filename="notes.txt""#)
        );
        assert_eq!(sidecar.extension(), Some("txt"));
        let mut body = Vec::new();
        sidecar.send_to(&mut body).unwrap();
        assert_eq!(body, b"gzip bytes");

        let brotli = find_precompressed(&path, Some(t), Coding::Brotli).expect("br");
        assert_eq!(brotli.len(), 2);
        assert_ne!(brotli.validators().etag(), sidecar.validators().etag());
        assert!(find_precompressed(&path, Some(t), Coding::Identity).is_none());

        let home = resolve_path(root.path(), "/").unwrap();
        let home_gz = find_precompressed(&home, Some(t), Coding::Gzip).expect("index gz");
        assert_eq!(home_gz.content_type(), TEXT_HTML);
        assert_eq!(home_gz.content_disposition(), None);
        assert_eq!(home_gz.len(), 12);
    }

    #[test]
    fn stale_missing_or_unverifiable_sidecars_are_ignored() {
        let root = TempDir::new();
        let original = root.write("a.css", b"body{}");
        let gz = root.write("a.css.gz", b"old");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        set_mtime(&original, t);
        set_mtime(&gz, t - Duration::from_secs(1));
        let path = resolve_path(root.path(), "/a.css").unwrap();
        assert!(
            find_precompressed(&path, Some(t), Coding::Gzip).is_none(),
            "older"
        );
        assert!(
            find_precompressed(&path, Some(t), Coding::Brotli).is_none(),
            "missing"
        );
        assert!(
            find_precompressed(&path, None, Coding::Gzip).is_none(),
            "no date"
        );

        // Newer than the original is fine.
        set_mtime(&gz, t + Duration::from_secs(1));
        assert!(
            find_precompressed(&path, Some(t), Coding::Gzip).is_some(),
            "newer"
        );
    }

    #[test]
    fn sidecars_that_are_not_regular_files_under_the_root_are_ignored() {
        let outside = TempDir::new();
        let secret = outside.write("secret.gz", b"secret");
        let root = TempDir::new();
        root.write("leak.txt", b"x");
        root.write("dir.txt", b"x");
        root.write("inside.txt", b"x");
        root.write("real.gz", b"linked inside");
        symlink(&secret, root.path().join("leak.txt.gz")).unwrap();
        fs::create_dir(root.path().join("dir.txt.gz")).unwrap();
        symlink(
            root.path().join("real.gz"),
            root.path().join("inside.txt.gz"),
        )
        .unwrap();
        let far_past = SystemTime::UNIX_EPOCH;

        for (raw, usable) in [
            ("/leak.txt", false),
            ("/dir.txt", false),
            ("/inside.txt", true),
        ] {
            let path = resolve_path(root.path(), raw).unwrap();
            let found = find_precompressed(&path, Some(far_past), Coding::Gzip);
            assert_eq!(found.is_some(), usable, "{raw}");
        }
    }

    #[test]
    fn sidecar_suffixes() {
        assert_eq!(sidecar_suffix(Coding::Gzip), Some(".gz"));
        assert_eq!(sidecar_suffix(Coding::Brotli), Some(".br"));
        assert_eq!(sidecar_suffix(Coding::Identity), None);
    }
}
