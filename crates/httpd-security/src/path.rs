//! Request-target paths: percent-decoding and the lexical checks that turn a target
//! into a [`SafePath`].
//!
//! The rules are the seed server's `safe_path`, applied to the path decoded exactly
//! once, plus a few stricter ones (encoded slashes, control bytes, empty segments,
//! Windows drive letters) that the seed only got right by accident of its platform.
//! Everything here is lexical: links are followed, and checked, by httpd-files.

use std::path::{Path, PathBuf};

use crate::PolicyError;

/// A path proven to lie under the document root; only this crate can build one.
///
/// A `SafePath` comes from [`resolve_path`] or [`SafePath::join`]. Its relative part
/// is a `/`-separated list of non-empty segments, none of which is `.` or holds `..`,
/// a backslash, a control character or a Windows drive prefix, so joining it to the
/// root can only name something at or below the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafePath {
    root: PathBuf,
    /// `root` with every segment of `relative` pushed in turn.
    full: PathBuf,
    /// The decoded path without its leading `/`; ends in `/` in directory form.
    relative: String,
}

impl SafePath {
    /// Returns the full filesystem path (root joined with the relative path).
    ///
    /// A directory-form path has no trailing separator here; ask
    /// [`is_dir_form`](SafePath::is_dir_form) instead.
    pub fn as_path(&self) -> &Path {
        &self.full
    }

    /// Returns the root this path was resolved under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the decoded path relative to the root, `/`-separated, without a leading
    /// slash; `""` for the root itself. A target ending in `/` keeps its trailing slash.
    pub fn relative(&self) -> &str {
        &self.relative
    }

    /// Returns the last segment, or `None` for the root or a path ending in `/`.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_dir_form() {
            return None;
        }
        self.relative.rsplit('/').next()
    }

    /// Returns the extension of the last segment: the text after its last dot.
    ///
    /// The extension keeps its case, so compare it case-insensitively. It is `None`
    /// when there is no last segment or the name has no dot. Like the seed server,
    /// and unlike [`Path::extension`], a dot-file such as `.env` has the extension
    /// `env`, and a name ending in a dot has the extension `""`.
    pub fn extension(&self) -> Option<&str> {
        let name = self.file_name()?;
        let dot = name.rfind('.')?;
        Some(&name[dot + 1..])
    }

    /// Tells whether the target named a directory (the root or a path ending in `/`).
    pub fn is_dir_form(&self) -> bool {
        self.relative.is_empty() || self.relative.ends_with('/')
    }

    /// Tells whether any segment starts with a dot, such as `.env` or `.git/config`.
    ///
    /// Dot-files are not refused by [`resolve_path`]; whoever serves files decides
    /// what to do with them.
    pub fn is_hidden(&self) -> bool {
        self.relative
            .split('/')
            .any(|segment| segment.starts_with('.'))
    }

    /// Appends one plain segment (such as `index.html`) to a directory-form path.
    ///
    /// `name` is used as is, not percent-decoded. Joining to a path that is not in
    /// directory form treats its last segment as a directory all the same, so the
    /// result still lies under the root.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Traversal`] if `name` is empty or `.`, or holds `..`, `/`, `\`,
    /// a control character or a Windows drive prefix such as `c:`, the same segment
    /// rules [`resolve_path`] applies.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    ///
    /// let dir = httpd_security::resolve_path(Path::new("/srv/www"), "/docs/")?;
    /// let index = dir.join("index.html")?;
    /// assert_eq!(index.relative(), "docs/index.html");
    /// assert_eq!(index.as_path(), Path::new("/srv/www/docs/index.html"));
    /// assert!(dir.join("../secret").is_err());
    /// # Ok::<(), httpd_security::PolicyError>(())
    /// ```
    pub fn join(&self, name: &str) -> Result<SafePath, PolicyError> {
        if name.contains('/') {
            return Err(PolicyError::Traversal);
        }
        check_segment(name)?;
        let mut relative = String::with_capacity(self.relative.len() + 1 + name.len());
        relative.push_str(&self.relative);
        if !relative.is_empty() && !relative.ends_with('/') {
            relative.push('/');
        }
        relative.push_str(name);
        Ok(SafePath {
            root: self.root.clone(),
            full: self.full.join(name),
            relative,
        })
    }
}

/// Resolves the path part of a request target (still percent-encoded, starting with `/`)
/// under `root`, decoding it exactly once.
///
/// The decoded path is refused as [`PolicyError::Traversal`] when it:
///
/// - does not start with `/` (a `\etc` or `*` target is an escape attempt, not a
///   path);
/// - held an encoded slash `%2F`: a slash inside a segment is never a separator;
/// - contains `..` anywhere, even inside a name such as `a..b` (the seed's rule);
/// - contains `./`, so no segment is `.` or ends in a dot before a slash (the seed's
///   rule), or is `.` at the end;
/// - contains `//` anywhere, not only at the start (an empty segment names nothing);
/// - contains a backslash, NUL or any other control character (C0, DEL or C1);
/// - has a segment that starts like a Windows drive, a letter then `:` (`c:`,
///   `C:foo`); other colons are ordinary name bytes.
///
/// A malformed escape (`%`, `%4`, `%zz`) or decoded bytes that are not UTF-8 (such as
/// the overlong `%c0%ae`) are [`PolicyError::BadEncoding`]. Percent signs produced by
/// the decoding are literal: `%252e` becomes a file named `%2e`, not a dot, because the
/// path is never decoded twice (the seed decodes once too). Dot-files are allowed
/// here; see [`SafePath::is_hidden`].
///
/// When several rules are broken, the first found wins: malformed escapes and `%2F`
/// while decoding, left to right, then the byte rules above, then UTF-8, then the
/// per-segment rules. So `/..%zz` is `BadEncoding` but `/..%c0` is `Traversal`.
///
/// # Errors
///
/// `Traversal` for anything that could leave the root, `BadEncoding` for bad escapes
/// or non-UTF-8 names.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// use httpd_security::{PolicyError, resolve_path};
///
/// let root = Path::new("/srv/www");
/// let page = resolve_path(root, "/a/my%20page.html")?;
/// assert_eq!(page.relative(), "a/my page.html");
/// assert_eq!(page.as_path(), Path::new("/srv/www/a/my page.html"));
///
/// assert_eq!(resolve_path(root, "/%2e%2e/etc/passwd"), Err(PolicyError::Traversal));
/// assert_eq!(resolve_path(root, "/100%"), Err(PolicyError::BadEncoding));
/// # Ok::<(), PolicyError>(())
/// ```
pub fn resolve_path(root: &Path, raw_path: &str) -> Result<SafePath, PolicyError> {
    let mut path = SafePath {
        root: PathBuf::new(),
        full: PathBuf::new(),
        relative: String::new(),
    };
    path.resolve(root, raw_path)?;
    Ok(path)
}

impl SafePath {
    /// An empty path to [`resolve`](SafePath::resolve) into; it names the root itself
    /// (in directory form) until then.
    pub fn empty(root: &Path) -> SafePath {
        SafePath {
            root: root.to_path_buf(),
            full: root.to_path_buf(),
            relative: String::new(),
        }
    }

    /// Resolves `raw_path` under `root` as [`resolve_path`] does, into this value,
    /// reusing its buffers: a server that keeps one `SafePath` per thread resolves
    /// request after request without allocating.
    ///
    /// # Errors
    /// As [`resolve_path`]; `self` is then left naming some path under `root`.
    pub fn resolve(&mut self, root: &Path, raw_path: &str) -> Result<(), PolicyError> {
        let Some(rest) = raw_path.strip_prefix('/') else {
            return Err(PolicyError::Traversal);
        };
        let mut decoded = std::mem::take(&mut self.relative).into_bytes();
        decoded.clear();
        percent_decode_into(rest.as_bytes(), &mut decoded)?;
        check_decoded_bytes(&decoded)?;
        self.relative = String::from_utf8(decoded).map_err(|_| PolicyError::BadEncoding)?;
        if self.root.as_os_str() != root.as_os_str() {
            self.root.as_mut_os_string().clear();
            self.root.push(root);
        }
        self.full.as_mut_os_string().clear();
        self.full.push(root);
        // In directory form the text after the last `/` is empty; it names the
        // directory itself and is not a segment.
        let body = self.relative.strip_suffix('/').unwrap_or(&self.relative);
        if !body.is_empty() {
            for segment in body.split('/') {
                check_segment(segment)?;
                self.full.push(segment);
            }
        }
        Ok(())
    }
}

/// Decodes every `%XX` escape of `raw` once; other bytes are copied.
///
/// An escape that decodes to `/` is refused at once, since after decoding it could no
/// longer be told from a separator.
fn percent_decode_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), PolicyError> {
    let mut idx = 0;
    while idx < raw.len() {
        let byte = raw[idx];
        if byte != b'%' {
            out.push(byte);
            idx += 1;
            continue;
        }
        let hi = raw.get(idx + 1).copied().and_then(hex_value);
        let lo = raw.get(idx + 2).copied().and_then(hex_value);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err(PolicyError::BadEncoding);
        };
        let decoded = hi << 4 | lo;
        if decoded == b'/' {
            return Err(PolicyError::Traversal);
        }
        out.push(decoded);
        idx += 3;
    }
    Ok(())
}

/// Returns the value of one hex digit, either case.
fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Applies the seed's substring rules to the decoded path (without its leading `/`).
///
/// These run on bytes, before the UTF-8 check, so an escape attempt is reported as
/// one even when the rest of the path is badly encoded.
fn check_decoded_bytes(decoded: &[u8]) -> Result<(), PolicyError> {
    // The leading `/` was stripped, so a path that began with `//` now begins with `/`.
    if decoded.first() == Some(&b'/') {
        return Err(PolicyError::Traversal);
    }
    for pair in decoded.windows(2) {
        if matches!(pair, b".." | b"./" | b"//") {
            return Err(PolicyError::Traversal);
        }
    }
    if decoded.iter().any(|&b| b == b'\\' || b.is_ascii_control()) {
        return Err(PolicyError::Traversal);
    }
    Ok(())
}

/// Checks one decoded, non-separator segment of a path.
fn check_segment(segment: &str) -> Result<(), PolicyError> {
    let bytes = segment.as_bytes();
    let refused = bytes.is_empty()
        || segment == "."
        || segment.contains("..")
        || segment.contains('\\')
        || segment.chars().any(char::is_control)
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':');
    if refused {
        Err(PolicyError::Traversal)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Component;

    use super::*;

    const ROOT: &str = "/srv/www";

    fn resolve(raw: &str) -> Result<SafePath, PolicyError> {
        resolve_path(Path::new(ROOT), raw)
    }

    #[test]
    fn resolving_into_a_reused_path_gives_what_resolve_path_gives() {
        let root = Path::new(ROOT);
        let mut reused = SafePath::empty(root);
        let targets = TRAVERSAL_CORPUS.iter().map(|(t, _)| *t).chain([
            "/a/b.html",
            "/",
            "/dir/",
            "/%C3%BC.txt",
            "/x%20y",
        ]);
        for target in targets {
            let fresh = resolve_path(root, target);
            let again = reused.resolve(root, target).map(|()| reused.clone());
            assert_eq!(again, fresh, "{target}");
        }
        // Another root in between.
        reused.resolve(Path::new("/other"), "/a.txt").unwrap();
        assert_eq!(reused.as_path(), Path::new("/other/a.txt"));
        assert_eq!(reused.root(), Path::new("/other"));
    }

    /// Normalises `path` lexically, one component at a time; `None` if a `..` would
    /// climb above the start.
    fn normalise(path: &Path) -> Option<PathBuf> {
        let mut out = PathBuf::new();
        for component in path.components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return None;
                    }
                }
                other => out.push(other),
            }
        }
        Some(out)
    }

    /// Attack targets, each with what it must give: refused (and why), or the
    /// relative path it resolves to, which must stay under the root.
    const TRAVERSAL_CORPUS: &[(&str, Result<&str, PolicyError>)] = &[
        ("/../etc/passwd", Err(PolicyError::Traversal)),
        ("/../../sensitive.txt", Err(PolicyError::Traversal)),
        ("//etc/hosts", Err(PolicyError::Traversal)),
        (
            "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            Err(PolicyError::Traversal),
        ),
        ("/....//....//etc/passwd", Err(PolicyError::Traversal)),
        ("/./././../config", Err(PolicyError::Traversal)),
        ("/%2e%2e/etc/passwd", Err(PolicyError::Traversal)),
        ("/%2E%2e/etc/passwd", Err(PolicyError::Traversal)),
        ("/%2e%2E%2Fetc", Err(PolicyError::Traversal)),
        ("/..%2fetc/passwd", Err(PolicyError::Traversal)),
        ("/..%2Fetc/passwd", Err(PolicyError::Traversal)),
        ("/.%2e/etc/passwd", Err(PolicyError::Traversal)),
        ("/%2e./etc/passwd", Err(PolicyError::Traversal)),
        ("/%2e", Err(PolicyError::Traversal)),
        ("/.", Err(PolicyError::Traversal)),
        ("/a/.", Err(PolicyError::Traversal)),
        ("/a/..", Err(PolicyError::Traversal)),
        ("/a/%2e%2e", Err(PolicyError::Traversal)),
        ("/a%2fb", Err(PolicyError::Traversal)),
        ("/a%2Fb", Err(PolicyError::Traversal)),
        ("/%2f", Err(PolicyError::Traversal)),
        ("/%2fetc/passwd", Err(PolicyError::Traversal)),
        ("/..%5c..%5cwindows", Err(PolicyError::Traversal)),
        ("/%5c", Err(PolicyError::Traversal)),
        ("/a%5Cb", Err(PolicyError::Traversal)),
        ("/\\etc\\passwd", Err(PolicyError::Traversal)),
        ("\\etc", Err(PolicyError::Traversal)),
        ("/a\\b", Err(PolicyError::Traversal)),
        ("/a//b", Err(PolicyError::Traversal)),
        ("/a/", Ok("a/")),
        ("///", Err(PolicyError::Traversal)),
        ("//", Err(PolicyError::Traversal)),
        ("/index.html%00.txt", Err(PolicyError::Traversal)),
        ("/%00", Err(PolicyError::Traversal)),
        ("/a%0d%0aSet-Cookie:x", Err(PolicyError::Traversal)),
        ("/%7f", Err(PolicyError::Traversal)),
        ("/%c2%85", Err(PolicyError::Traversal)),
        ("/%c0%ae%c0%ae/etc/passwd", Err(PolicyError::BadEncoding)),
        ("/%c0%ae%c0%ae%c0%af", Err(PolicyError::BadEncoding)),
        ("/%e0%80%ae%e0%80%ae/", Err(PolicyError::BadEncoding)),
        ("/%252e%252e/etc/passwd", Ok("%2e%2e/etc/passwd")),
        ("/%252e%252e%252fetc", Ok("%2e%2e%2fetc")),
        ("/%25%32%65%25%32%65/", Ok("%2e%2e/")),
        ("/static../x", Err(PolicyError::Traversal)),
        ("/static/..", Err(PolicyError::Traversal)),
        ("/x/c:/windows/win.ini", Err(PolicyError::Traversal)),
        ("/C:%5cwindows", Err(PolicyError::Traversal)),
        ("/c:", Err(PolicyError::Traversal)),
        ("/..;/etc/passwd", Err(PolicyError::Traversal)),
        ("/.%2e%2f.%2e%2fetc", Err(PolicyError::Traversal)),
        ("/%2e%2e%5c%2e%2e%5c", Err(PolicyError::Traversal)),
        ("/a/./b", Err(PolicyError::Traversal)),
        ("/a/b/../../../etc/passwd", Err(PolicyError::Traversal)),
        ("/%", Err(PolicyError::BadEncoding)),
        ("/%4", Err(PolicyError::BadEncoding)),
        ("/%zz", Err(PolicyError::BadEncoding)),
        ("/%%32%65", Err(PolicyError::BadEncoding)),
        ("", Err(PolicyError::Traversal)),
        ("etc/passwd", Err(PolicyError::Traversal)),
        ("*", Err(PolicyError::Traversal)),
        ("http://evil.example/", Err(PolicyError::Traversal)),
        ("/.git/config", Ok(".git/config")),
        ("/..", Err(PolicyError::Traversal)),
        ("/...", Err(PolicyError::Traversal)),
        ("/.../", Err(PolicyError::Traversal)),
    ];

    #[test]
    fn traversal_corpus_never_leaves_the_root() {
        let root = Path::new(ROOT);
        for (raw, expected) in TRAVERSAL_CORPUS {
            let got = resolve(raw);
            assert_eq!(
                got.as_ref().map(SafePath::relative).map_err(|e| *e),
                *expected,
                "{raw:?}"
            );
            let Ok(safe) = got else { continue };
            let full = safe.as_path();
            assert!(
                !full.components().any(|c| c == Component::ParentDir),
                "{raw:?} resolved to {full:?} with a `..` component"
            );
            let normal = normalise(full).expect("no `..` component, so it cannot climb");
            assert!(
                normal.starts_with(root),
                "{raw:?} resolved to {full:?}, outside {ROOT}"
            );
            assert!(!safe.relative().contains(".."), "{raw:?}");
        }
    }

    #[test]
    fn rejects_the_seed_examples() {
        let cases = [
            "/../etc/passwd",
            "/../../sensitive.txt",
            "//etc/hosts",
            "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/....//....//etc/passwd",
            "/./././../config",
        ];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_encoded_dot_dot() {
        let cases = [
            "/%2e%2e/etc/passwd",
            "/%2E%2e/etc/passwd",
            "/%2E%2E",
            "/.%2e/x",
            "/%2e./x",
            "/a/%2e%2e",
        ];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_encoded_slash() {
        let cases = ["/a%2fb", "/a%2Fb", "/%2f", "/..%2fetc", "/x/%2F/y"];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_backslashes_raw_and_encoded() {
        let cases = ["/a\\b", "/\\etc", "/%5c", "/a%5Cb", "/..%5c..%5cwindows"];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_targets_not_starting_with_slash() {
        let cases = ["", "\\etc", "etc/passwd", "*", "http://a/", "%2fetc"];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_repeated_slashes_anywhere() {
        let cases = ["//", "///", "//etc/hosts", "/a//b", "/a/b//", "/a%2f/b"];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_nul_and_control_bytes() {
        let cases = [
            "/%00",
            "/index.html%00.txt",
            "/a%0d%0aSet-Cookie:x",
            "/a%09b",
            "/%1b[31m",
            "/%7f",
            "/a\tb",
            // U+0085, a C1 control, is valid UTF-8 but still a control character.
            "/%c2%85",
        ];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_dot_dot_inside_names_like_the_seed() {
        let cases = ["/static../x", "/a..b.html", "/...", "/x/...."];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_dot_segments_and_names_ending_in_dot_before_slash() {
        let cases = ["/.", "/./", "/a/.", "/a/./b", "/a./b", "/%2e"];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn rejects_windows_drive_segments() {
        let cases = [
            "/x/c:/windows/win.ini",
            "/c:",
            "/C:foo",
            "/d:%5c",
            "/a/Z:",
            "/a/b:c.txt",
        ];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::Traversal), "{raw:?}");
        }
    }

    #[test]
    fn allows_colons_that_are_not_drive_prefixes() {
        let cases = [("/a/bc:d.txt", "a/bc:d.txt"), ("/12:00.txt", "12:00.txt")];
        for (raw, relative) in cases {
            assert_eq!(resolve(raw).unwrap().relative(), relative, "{raw:?}");
        }
    }

    #[test]
    fn rejects_malformed_escapes_as_bad_encoding() {
        let cases = ["/%", "/%4", "/%zz", "/a%g0", "/%%32%65", "/100%", "/%2"];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::BadEncoding), "{raw:?}");
        }
    }

    #[test]
    fn rejects_invalid_utf8_and_overlong_encodings() {
        let cases = [
            "/%c0%ae%c0%ae/etc/passwd",
            "/%c0%af",
            "/%e0%80%ae",
            "/%ff",
            "/caf%e9.html",
            "/%ed%a0%80",
        ];
        for raw in cases {
            assert_eq!(resolve(raw), Err(PolicyError::BadEncoding), "{raw:?}");
        }
    }

    #[test]
    fn reports_the_first_broken_rule() {
        let cases = [
            ("/..%c0", PolicyError::Traversal),
            ("/%00%ff", PolicyError::Traversal),
            ("/..%zz", PolicyError::BadEncoding),
            ("/%2f%zz", PolicyError::Traversal),
            ("/%zz%2f", PolicyError::BadEncoding),
            ("/%ff/c:", PolicyError::BadEncoding),
        ];
        for (raw, expected) in cases {
            assert_eq!(resolve(raw), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn decodes_exactly_once() {
        let cases = [
            ("/%252e%252e/etc/passwd", "%2e%2e/etc/passwd"),
            ("/%2541.txt", "%41.txt"),
            ("/%25", "%"),
        ];
        for (raw, relative) in cases {
            let safe = resolve(raw).unwrap();
            assert_eq!(safe.relative(), relative, "{raw:?}");
            assert!(safe.as_path().starts_with(ROOT));
        }
    }

    #[test]
    fn resolves_valid_paths() {
        // (raw, relative, full, dir form)
        let cases = [
            ("/", "", "/srv/www", true),
            ("/index.html", "index.html", "/srv/www/index.html", false),
            ("/a/b.html", "a/b.html", "/srv/www/a/b.html", false),
            ("/dir/", "dir/", "/srv/www/dir", true),
            ("/a/b/c/", "a/b/c/", "/srv/www/a/b/c", true),
            (
                "/my%20page.html",
                "my page.html",
                "/srv/www/my page.html",
                false,
            ),
            ("/a+b.txt", "a+b.txt", "/srv/www/a+b.txt", false),
            ("/%41%42c.TXT", "ABc.TXT", "/srv/www/ABc.TXT", false),
            ("/caf%C3%A9.html", "café.html", "/srv/www/café.html", false),
            ("/日本/語.txt", "日本/語.txt", "/srv/www/日本/語.txt", false),
            ("/%E6%97%A5%E6%9C%AC/", "日本/", "/srv/www/日本", true),
            ("/file.", "file.", "/srv/www/file.", false),
            ("/.env", ".env", "/srv/www/.env", false),
            (
                "/.well-known/x",
                ".well-known/x",
                "/srv/www/.well-known/x",
                false,
            ),
            ("/a~b-c_d.txt", "a~b-c_d.txt", "/srv/www/a~b-c_d.txt", false),
        ];
        for (raw, relative, full, dir_form) in cases {
            let safe = resolve(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(safe.relative(), relative, "{raw:?}");
            assert_eq!(safe.as_path(), Path::new(full), "{raw:?}");
            assert_eq!(safe.is_dir_form(), dir_form, "{raw:?}");
            assert_eq!(safe.root(), Path::new(ROOT), "{raw:?}");
        }
    }

    #[test]
    fn full_path_is_root_joined_segment_by_segment() {
        let safe = resolve("/a/b.html").unwrap();
        assert_eq!(
            safe.as_path(),
            Path::new(ROOT).join("a").join("b.html").as_path()
        );
    }

    #[test]
    fn resolves_under_a_relative_root() {
        let safe = resolve_path(Path::new("resources"), "/logo.png").unwrap();
        assert_eq!(safe.as_path(), Path::new("resources/logo.png"));
        assert_eq!(safe.root(), Path::new("resources"));
    }

    #[test]
    fn file_name_and_extension() {
        // (raw, file name, extension)
        let cases = [
            ("/", None, None),
            ("/dir/", None, None),
            ("/index.html", Some("index.html"), Some("html")),
            ("/a/INDEX.HTML", Some("INDEX.HTML"), Some("HTML")),
            ("/archive.tar.gz", Some("archive.tar.gz"), Some("gz")),
            ("/README", Some("README"), None),
            ("/.env", Some(".env"), Some("env")),
            ("/file.", Some("file."), Some("")),
            ("/d.x/readme", Some("readme"), None),
        ];
        for (raw, name, ext) in cases {
            let safe = resolve(raw).unwrap();
            assert_eq!(safe.file_name(), name, "{raw:?}");
            assert_eq!(safe.extension(), ext, "{raw:?}");
        }
    }

    #[test]
    fn is_hidden_when_any_segment_starts_with_a_dot() {
        let cases = [
            ("/", false),
            ("/index.html", false),
            ("/.env", true),
            ("/.git/config", true),
            ("/a/.hidden/", true),
            ("/a/b.c/d", false),
        ];
        for (raw, hidden) in cases {
            assert_eq!(resolve(raw).unwrap().is_hidden(), hidden, "{raw:?}");
        }
    }

    #[test]
    fn join_appends_index_to_directory_form() {
        let cases = [
            ("/", "index.html", "index.html", "/srv/www/index.html"),
            (
                "/dir/",
                "index.html",
                "dir/index.html",
                "/srv/www/dir/index.html",
            ),
            ("/a/b/", "x y.txt", "a/b/x y.txt", "/srv/www/a/b/x y.txt"),
            ("/file", "child", "file/child", "/srv/www/file/child"),
        ];
        for (raw, name, relative, full) in cases {
            let joined = resolve(raw).unwrap().join(name).unwrap();
            assert_eq!(joined.relative(), relative, "{raw:?} + {name:?}");
            assert_eq!(joined.as_path(), Path::new(full), "{raw:?} + {name:?}");
            assert!(!joined.is_dir_form());
            assert_eq!(joined.file_name(), Some(name));
        }
    }

    #[test]
    fn join_rejects_unsafe_names() {
        let dir = resolve("/dir/").unwrap();
        let cases = [
            "", ".", "..", "a/b", "/etc", "a\\b", "a\0b", "..hidden", "a..", "c:", "x\n",
        ];
        for name in cases {
            assert_eq!(dir.join(name), Err(PolicyError::Traversal), "{name:?}");
        }
    }

    #[test]
    fn join_keeps_the_result_under_the_root() {
        let dir = resolve("/").unwrap();
        let joined = dir.join(".htaccess").unwrap();
        assert!(joined.as_path().starts_with(ROOT));
        assert!(joined.is_hidden());
    }
}
