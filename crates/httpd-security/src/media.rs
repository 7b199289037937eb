//! Which files may be served (by extension) and which uploads may be stored (by
//! media type).

use crate::{PolicyError, SafePath};

/// The file extensions that may be served.
///
/// Extensions are stored lowercased without a leading dot and compared
/// case-insensitively, so `INDEX.HTML` passes the default policy.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// use httpd_security::{PolicyError, TypePolicy, resolve_path};
///
/// let root = Path::new("/srv/www");
/// let types = TypePolicy::default();
/// assert_eq!(types.check(&resolve_path(root, "/INDEX.HTML")?), Ok(()));
/// assert_eq!(types.check(&resolve_path(root, "/script.php")?), Err(PolicyError::UnsupportedType));
///
/// let css = TypePolicy::from_extensions(&["css", ".JS"]);
/// assert!(css.allows(Some("js")));
/// assert!(!css.allows(Some("html")));
/// # Ok::<(), PolicyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypePolicy {
    /// Lowercase, without a leading dot, never empty, no duplicates.
    extensions: Vec<String>,
}

impl Default for TypePolicy {
    /// The seed's allowlist: `html`, `txt`, `png`, `jpg`, `jpeg`.
    fn default() -> TypePolicy {
        TypePolicy::from_extensions(&["html", "txt", "png", "jpg", "jpeg"])
    }
}

impl TypePolicy {
    /// Builds a policy that allows exactly `extensions`.
    ///
    /// Each extension may be given with or without a leading dot and in any case;
    /// empty ones are skipped, so an empty list allows nothing.
    pub fn from_extensions(extensions: &[&str]) -> TypePolicy {
        let mut policy = TypePolicy {
            extensions: Vec::with_capacity(extensions.len()),
        };
        for ext in extensions {
            policy.allow_extension(ext);
        }
        policy
    }

    /// Also allows files with extension `ext` (leading dot optional, any case).
    ///
    /// An empty `ext` is ignored: a name without an extension is never served.
    pub fn allow_extension(&mut self, ext: &str) -> &mut TypePolicy {
        let ext = ext.trim();
        let ext = ext.strip_prefix('.').unwrap_or(ext).to_ascii_lowercase();
        if !ext.is_empty() && !self.extensions.contains(&ext) {
            self.extensions.push(ext);
        }
        self
    }

    /// Returns the allowed extensions, lowercased, in the order they were added.
    pub fn extensions(&self) -> impl Iterator<Item = &str> {
        self.extensions.iter().map(String::as_str)
    }

    /// Tells whether a file with extension `ext` may be served (case-insensitive).
    ///
    /// `None` (no extension) is never allowed.
    pub fn allows(&self, ext: Option<&str>) -> bool {
        match ext {
            Some(ext) => self.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)),
            None => false,
        }
    }

    /// Checks the extension of `path`'s last segment.
    ///
    /// The extension is [`SafePath::extension`]: as in the seed, `.env` has the
    /// extension `env`. A directory-form path has no last segment and is refused;
    /// join the index file name first.
    ///
    /// # Errors
    ///
    /// `UnsupportedType` when it is not on the list, or there is none.
    pub fn check(&self, path: &SafePath) -> Result<(), PolicyError> {
        if self.allows(path.extension()) {
            Ok(())
        } else {
            Err(PolicyError::UnsupportedType)
        }
    }
}

/// Checks an upload's `Content-Type`: `application/json`, parameters allowed.
///
/// ```text
/// media-type = type "/" subtype parameters     ; RFC 9110 section 8.3.1
/// parameters = *( OWS ";" OWS [ parameter ] )
/// ```
///
/// The type and subtype compare case-insensitively and may be surrounded by spaces
/// or tabs; whatever follows the first `;` is not examined, so
/// `application/json; charset=utf-8` passes.
///
/// # Errors
///
/// `UnsupportedUploadType` for a missing or different media type, including
/// look-alikes such as `application/jsonx` or `application/json-seq`.
///
/// # Examples
///
/// ```
/// use httpd_security::{PolicyError, check_upload_type};
///
/// assert_eq!(check_upload_type(Some(b"Application/JSON; charset=utf-8")), Ok(()));
/// assert_eq!(check_upload_type(Some(b"text/html")), Err(PolicyError::UnsupportedUploadType));
/// assert_eq!(check_upload_type(None), Err(PolicyError::UnsupportedUploadType));
/// ```
pub fn check_upload_type(value: Option<&[u8]>) -> Result<(), PolicyError> {
    let Some(value) = value else {
        return Err(PolicyError::UnsupportedUploadType);
    };
    let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    let media_type = value[..end].trim_ascii();
    if media_type.eq_ignore_ascii_case(b"application/json") {
        Ok(())
    } else {
        Err(PolicyError::UnsupportedUploadType)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::resolve_path;

    fn check_default(raw: &str) -> Result<(), PolicyError> {
        let path = resolve_path(Path::new("/srv/www"), raw).unwrap();
        TypePolicy::default().check(&path)
    }

    #[test]
    fn default_policy_serves_the_seed_types() {
        let cases = [
            "/index.html",
            "/photo.jpg",
            "/photo.jpeg",
            "/logo.png",
            "/sample.txt",
            "/INDEX.HTML",
            "/Photo.JpG",
            "/a/b/c.tar.txt",
            "/my%20file.txt",
        ];
        for raw in cases {
            assert_eq!(check_default(raw), Ok(()), "{raw:?}");
        }
    }

    #[test]
    fn default_policy_refuses_everything_else() {
        let cases = [
            "/script.php",
            "/server.py",
            "/.env",
            "/run.sh",
            "/app.exe",
            "/app.js",
            "/README",
            "/file.",
            "/index.html.bak",
            "/page.htm",
            "/",
            "/dir/",
            "/html",
        ];
        for raw in cases {
            assert_eq!(
                check_default(raw),
                Err(PolicyError::UnsupportedType),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn dot_file_named_like_an_allowed_extension_passes_the_type_check() {
        // The seed looks only at the text after the last dot; hiding dot-files is
        // the caller's job (`SafePath::is_hidden`).
        assert_eq!(check_default("/.html"), Ok(()));
    }

    #[test]
    fn allows_is_case_insensitive_and_refuses_none() {
        let policy = TypePolicy::default();
        let cases = [
            (Some("html"), true),
            (Some("HTML"), true),
            (Some("Jpeg"), true),
            (Some("gif"), false),
            (Some(""), false),
            (None, false),
        ];
        for (ext, allowed) in cases {
            assert_eq!(policy.allows(ext), allowed, "{ext:?}");
        }
    }

    #[test]
    fn from_extensions_normalises_its_input() {
        let policy = TypePolicy::from_extensions(&["CSS", ".js", "", " .", "css", "Svg "]);
        assert_eq!(
            policy.extensions().collect::<Vec<_>>(),
            ["css", "js", "svg"]
        );
        assert!(policy.allows(Some("JS")));
        assert!(!policy.allows(Some("html")));
    }

    #[test]
    fn empty_policy_allows_nothing() {
        let policy = TypePolicy::from_extensions(&[]);
        assert!(!policy.allows(Some("html")));
        assert_eq!(policy.extensions().count(), 0);
    }

    #[test]
    fn allow_extension_adds_to_the_default() {
        let mut policy = TypePolicy::default();
        policy.allow_extension("css").allow_extension(".ICO");
        let path = resolve_path(Path::new("/r"), "/favicon.ico").unwrap();
        assert_eq!(policy.check(&path), Ok(()));
        assert_eq!(
            policy.extensions().collect::<Vec<_>>(),
            ["html", "txt", "png", "jpg", "jpeg", "css", "ico"]
        );
    }

    #[test]
    fn upload_type_accepts_json_with_parameters() {
        let cases: &[&[u8]] = &[
            b"application/json",
            b"APPLICATION/JSON",
            b"Application/Json",
            b"application/json; charset=utf-8",
            b"application/json;charset=UTF-8",
            b"application/json ; charset=utf-8",
            b"  application/json\t",
            b"application/json;",
        ];
        for value in cases {
            assert_eq!(
                check_upload_type(Some(value)),
                Ok(()),
                "{}",
                value.escape_ascii()
            );
        }
    }

    #[test]
    fn upload_type_refuses_other_media_types() {
        let cases: &[Option<&[u8]>] = &[
            None,
            Some(b""),
            Some(b" "),
            Some(b"text/html"),
            Some(b"text/plain"),
            Some(b"multipart/form-data; boundary=x"),
            Some(b"multipart/form-data"),
            Some(b"application/jsonx"),
            Some(b"application/json-seq"),
            Some(b"application/x-json"),
            Some(b"application/ld+json"),
            Some(b"application/json, text/html"),
            Some(b"application / json"),
            Some(b"application/"),
            Some(b"json"),
            Some(b";application/json"),
            Some(b"application/json\xff"),
        ];
        for value in cases {
            assert_eq!(
                check_upload_type(*value),
                Err(PolicyError::UnsupportedUploadType),
                "{:?}",
                value.map(|v| v.escape_ascii().to_string())
            );
        }
    }
}
