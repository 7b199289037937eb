//! Media types for the web preset: a built-in table of the types a website uses, plus
//! the operator's overrides (`--type EXT=MEDIA`), and which types a browser is given
//! to show inline rather than to download.
//!
//! The seed's behaviour ([`media_type_for`](crate::media_type_for), HTML inline and
//! everything else an `application/octet-stream` download) is left as it is; this
//! table is only consulted by a server that opts in. A name is never sniffed: an
//! extension the table does not know is an `application/octet-stream` download.

use std::fmt;

use crate::static_file::{OCTET_STREAM, TEXT_HTML};

/// The built-in table: extension (lowercase, no dot) and media type.
///
/// Text types carry `; charset=utf-8`; JavaScript is `text/javascript` (RFC 9239
/// section 6); JSON and its relatives are UTF-8 by definition (RFC 8259 section 8.1)
/// and carry no charset.
const WEB_TYPES: &[(&str, &str)] = &[
    // Documents and code.
    ("html", TEXT_HTML),
    ("htm", TEXT_HTML),
    ("xhtml", "application/xhtml+xml"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("cjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("jsonld", "application/ld+json"),
    ("map", "application/json"),
    ("webmanifest", "application/manifest+json"),
    ("xml", "application/xml"),
    ("rss", "application/rss+xml"),
    ("atom", "application/atom+xml"),
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("pdf", "application/pdf"),
    // Images.
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("apng", "image/apng"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/vnd.microsoft.icon"),
    ("bmp", "image/bmp"),
    // Fonts (RFC 8081).
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    // Audio and video.
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("ogv", "video/ogg"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("flac", "audio/flac"),
    ("m4a", "audio/mp4"),
    // Archives: downloads.
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("tar", "application/x-tar"),
];

/// The most bytes an extension given to [`MediaTypes::set`] may have.
pub const MAX_EXTENSION_BYTES: usize = 32;

/// The most bytes a media type given to [`MediaTypes::set`] may have.
pub const MAX_MEDIA_TYPE_BYTES: usize = 256;

/// The media types of the web preset: the built-in table plus operator overrides.
///
/// [`lookup`](Self::lookup) answers the media type of an extension (an override
/// first, then the table, case-insensitively), and [`is_inline`](Self::is_inline)
/// whether a browser should show it (text, images, audio, video, fonts, JSON, XML,
/// JavaScript, WebAssembly, PDF) or save it (archives, `application/octet-stream` and
/// every other type). An unknown extension has no type: the server sends it as an
/// [`application/octet-stream`](OCTET_STREAM) download, never sniffed.
///
/// Overrides are validated ([`set`](Self::set), [`set_from_arg`](Self::set_from_arg)),
/// so a type can never carry a control byte into a response head.
///
/// # Examples
/// ```
/// use httpd_files::MediaTypes;
///
/// let mut types = MediaTypes::default();
/// assert_eq!(types.lookup("JS"), Some("text/javascript; charset=utf-8"));
/// assert_eq!(types.lookup("exe"), None);
/// assert_eq!(types.content_type(Some("exe")), "application/octet-stream");
/// assert!(types.is_inline(Some("png")));
/// assert!(!types.is_inline(Some("zip")));
///
/// types.set_from_arg("glb=model/gltf-binary")?;
/// types.set_from_arg("txt=text/plain; charset=iso-8859-1")?;
/// assert_eq!(types.lookup("glb"), Some("model/gltf-binary"));
/// assert_eq!(types.lookup("txt"), Some("text/plain; charset=iso-8859-1"));
/// assert!(types.set_from_arg("bad=text/plain\r\nX: y").is_err());
/// # Ok::<(), httpd_files::MediaTypeError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaTypes {
    /// Lowercased extensions without a dot and their media types, in the order set;
    /// a later override of the same extension replaces the earlier one in place.
    overrides: Vec<(String, String)>,
}

/// Why an operator's media type override was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaTypeError {
    /// The argument has no `=` between extension and media type.
    MissingEquals,
    /// The extension is empty, too long, or holds a byte other than an ASCII letter,
    /// digit, `-`, `_` or `+` (one leading dot is allowed and dropped).
    BadExtension,
    /// The media type is not `type/subtype` with optional `; name=value` parameters
    /// (RFC 9110 section 8.3.1), is too long, or holds a control or non-ASCII byte.
    BadMediaType,
}

impl fmt::Display for MediaTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaTypeError::MissingEquals => "expected EXT=MEDIA-TYPE",
            MediaTypeError::BadExtension => "invalid file extension",
            MediaTypeError::BadMediaType => "invalid media type",
        })
    }
}

impl std::error::Error for MediaTypeError {}

impl MediaTypes {
    /// Sets the media type of extension `ext` (case-insensitive, with or without a
    /// leading dot), replacing the built-in one and any earlier override.
    ///
    /// `media_type` is trimmed of spaces and tabs and kept as written otherwise.
    ///
    /// # Errors
    /// [`MediaTypeError::BadExtension`] or [`MediaTypeError::BadMediaType`] when
    /// either is not valid; nothing is changed then.
    pub fn set(&mut self, ext: &str, media_type: &str) -> Result<&mut MediaTypes, MediaTypeError> {
        let ext = ext.strip_prefix('.').unwrap_or(ext);
        if ext.is_empty()
            || ext.len() > MAX_EXTENSION_BYTES
            || !ext
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+'))
        {
            return Err(MediaTypeError::BadExtension);
        }
        let media_type = media_type.trim_matches([' ', '\t']);
        if media_type.len() > MAX_MEDIA_TYPE_BYTES || !is_valid_media_type(media_type.as_bytes()) {
            return Err(MediaTypeError::BadMediaType);
        }
        let ext = ext.to_ascii_lowercase();
        match self.overrides.iter_mut().find(|(known, _)| *known == ext) {
            Some((_, old)) => *old = media_type.to_string(),
            None => self.overrides.push((ext, media_type.to_string())),
        }
        Ok(self)
    }

    /// Sets an override from an operator's `EXT=MEDIA-TYPE` argument, as
    /// [`set`](Self::set) does; the split is at the first `=`.
    ///
    /// # Errors
    /// [`MediaTypeError::MissingEquals`] without an `=`; otherwise as
    /// [`set`](Self::set).
    pub fn set_from_arg(&mut self, arg: &str) -> Result<&mut MediaTypes, MediaTypeError> {
        let (ext, media_type) = arg.split_once('=').ok_or(MediaTypeError::MissingEquals)?;
        self.set(ext, media_type)
    }

    /// Returns the media type of extension `ext` (case-insensitive, without the dot):
    /// the operator's override if there is one, else the built-in table's, else
    /// `None`.
    pub fn lookup(&self, ext: &str) -> Option<&str> {
        if let Some((_, media_type)) = self
            .overrides
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(ext))
        {
            return Some(media_type);
        }
        WEB_TYPES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(ext))
            .map(|&(_, media_type)| media_type)
    }

    /// Returns the operator's override for extension `ext` (case-insensitive, without
    /// the dot), or `None` when the operator set none, whatever the built-in table
    /// holds: for a server that keeps its own rules unless the operator asked for a
    /// type.
    ///
    /// # Examples
    /// ```
    /// use httpd_files::MediaTypes;
    ///
    /// let mut types = MediaTypes::default();
    /// types.set("txt", "text/plain; charset=utf-8")?;
    /// assert_eq!(types.override_of("TXT"), Some("text/plain; charset=utf-8"));
    /// assert_eq!(types.override_of("css"), None);
    /// assert!(types.lookup("css").is_some());
    /// # Ok::<(), httpd_files::MediaTypeError>(())
    /// ```
    pub fn override_of(&self, ext: &str) -> Option<&str> {
        self.overrides
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(ext))
            .map(|(_, media_type)| media_type.as_str())
    }

    /// Tells whether the operator set any override.
    pub fn has_overrides(&self) -> bool {
        !self.overrides.is_empty()
    }

    /// Returns the built-in table's media type for extension `ext`
    /// (case-insensitive, without the dot), ignoring overrides: a `'static` value a
    /// response can carry without copying it.
    ///
    /// # Examples
    /// ```
    /// use httpd_files::MediaTypes;
    ///
    /// assert_eq!(MediaTypes::built_in("woff2"), Some("font/woff2"));
    /// assert_eq!(MediaTypes::built_in("exe"), None);
    /// ```
    pub fn built_in(ext: &str) -> Option<&'static str> {
        WEB_TYPES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(ext))
            .map(|&(_, media_type)| media_type)
    }

    /// Returns the overrides in the order they were set: lowercased extension and
    /// media type.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, &str)> {
        self.overrides.iter().map(|(e, t)| (e.as_str(), t.as_str()))
    }

    /// Returns the `Content-Type` to send for a file with extension `ext` (as
    /// [`StaticFile::extension`](crate::StaticFile::extension) gives it):
    /// [`lookup`](Self::lookup)'s answer, or [`application/octet-stream`](OCTET_STREAM)
    /// for an unknown extension or a name without one.
    pub fn content_type(&self, ext: Option<&str>) -> &str {
        ext.and_then(|ext| self.lookup(ext)).unwrap_or(OCTET_STREAM)
    }

    /// Tells whether a file with extension `ext` is shown inline, that is whether its
    /// [`content_type`](Self::content_type) is ([`is_inline_type`]); otherwise the
    /// server sends it with an
    /// [`attachment_disposition`](crate::attachment_disposition).
    pub fn is_inline(&self, ext: Option<&str>) -> bool {
        is_inline_type(self.content_type(ext))
    }
}

/// Tells whether a response of media type `media_type` is meant to be shown by the
/// browser rather than saved: `text/*`, `image/*`, `audio/*`, `video/*`, `font/*`,
/// JSON, XML (and every `+json` / `+xml` type), JavaScript, WebAssembly and PDF.
/// Archives, `application/octet-stream` and any other type are downloads. Parameters
/// and case are ignored.
///
/// # Examples
/// ```
/// use httpd_files::is_inline_type;
///
/// assert!(is_inline_type("text/css; charset=utf-8"));
/// assert!(is_inline_type("application/manifest+json"));
/// assert!(!is_inline_type("application/zip"));
/// assert!(!is_inline_type("application/octet-stream"));
/// ```
pub fn is_inline_type(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if matches!(kind, "text" | "image" | "audio" | "video" | "font") {
        return true;
    }
    kind == "application"
        && (subtype.ends_with("+json")
            || subtype.ends_with("+xml")
            || matches!(
                subtype,
                "json" | "xml" | "javascript" | "wasm" | "pdf" | "ecmascript"
            ))
}

/// Tells whether `s` is a media type (RFC 9110 section 8.3.1) in ASCII:
///
/// ```text
/// media-type = type "/" subtype parameters
/// parameters = *( OWS ";" OWS [ parameter ] )
/// parameter  = parameter-name "=" parameter-value
/// parameter-value = ( token / quoted-string )
/// ```
///
/// Quoted strings may hold spaces, tabs and visible ASCII; no control byte (other
/// than a tab inside quotes) and no byte above 0x7e is accepted anywhere.
fn is_valid_media_type(s: &[u8]) -> bool {
    let mut at = 0;
    let token = |at: &mut usize| {
        let start = *at;
        while *at < s.len() && httpd_proto::is_tchar(s[*at]) {
            *at += 1;
        }
        *at > start
    };
    let ows = |at: &mut usize| {
        while *at < s.len() && matches!(s[*at], b' ' | b'\t') {
            *at += 1;
        }
    };
    if !token(&mut at) || s.get(at) != Some(&b'/') {
        return false;
    }
    at += 1;
    if !token(&mut at) {
        return false;
    }
    loop {
        ows(&mut at);
        if at == s.len() {
            return true;
        }
        if s[at] != b';' {
            return false;
        }
        at += 1;
        ows(&mut at);
        if at == s.len() || s[at] == b';' {
            // An empty parameter is allowed by the grammar.
            continue;
        }
        if !token(&mut at) || s.get(at) != Some(&b'=') {
            return false;
        }
        at += 1;
        if s.get(at) == Some(&b'"') {
            at += 1;
            loop {
                match s.get(at) {
                    Some(b'"') => {
                        at += 1;
                        break;
                    }
                    Some(b'\\') => match s.get(at + 1) {
                        Some(&c) if c == b'\t' || (b' '..=b'~').contains(&c) => at += 2,
                        _ => return false,
                    },
                    Some(&c) if c == b'\t' || (b' '..=b'~').contains(&c) => at += 1,
                    _ => return false,
                }
            }
        } else if !token(&mut at) {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::static_file::media_type_for;

    #[test]
    fn the_table_gives_every_web_type() {
        let types = MediaTypes::default();
        let cases: &[(&str, &str)] = &[
            ("html", "text/html; charset=utf-8"),
            ("HTM", "text/html; charset=utf-8"),
            ("css", "text/css; charset=utf-8"),
            ("js", "text/javascript; charset=utf-8"),
            ("mjs", "text/javascript; charset=utf-8"),
            ("json", "application/json"),
            ("map", "application/json"),
            ("webmanifest", "application/manifest+json"),
            ("xml", "application/xml"),
            ("txt", "text/plain; charset=utf-8"),
            ("md", "text/markdown; charset=utf-8"),
            ("csv", "text/csv; charset=utf-8"),
            ("svg", "image/svg+xml"),
            ("png", "image/png"),
            ("jpg", "image/jpeg"),
            ("JPEG", "image/jpeg"),
            ("gif", "image/gif"),
            ("webp", "image/webp"),
            ("avif", "image/avif"),
            ("ico", "image/vnd.microsoft.icon"),
            ("bmp", "image/bmp"),
            ("woff", "font/woff"),
            ("woff2", "font/woff2"),
            ("ttf", "font/ttf"),
            ("otf", "font/otf"),
            ("wasm", "application/wasm"),
            ("pdf", "application/pdf"),
            ("mp4", "video/mp4"),
            ("webm", "video/webm"),
            ("ogg", "audio/ogg"),
            ("mp3", "audio/mpeg"),
            ("wav", "audio/wav"),
            ("m4a", "audio/mp4"),
            ("zip", "application/zip"),
            ("gz", "application/gzip"),
            ("tar", "application/x-tar"),
        ];
        for &(ext, expected) in cases {
            assert_eq!(types.lookup(ext), Some(expected), "{ext}");
            assert_eq!(types.content_type(Some(ext)), expected, "{ext}");
            assert!(is_valid_media_type(expected.as_bytes()), "{expected}");
        }
    }

    #[test]
    fn every_built_in_type_is_valid_and_each_extension_appears_once() {
        for (i, (ext, media_type)) in WEB_TYPES.iter().enumerate() {
            assert!(is_valid_media_type(media_type.as_bytes()), "{media_type}");
            assert_eq!(*ext, ext.to_ascii_lowercase());
            assert!(
                WEB_TYPES[i + 1..].iter().all(|(other, _)| other != ext),
                "{ext} twice"
            );
        }
    }

    #[test]
    fn unknown_extensions_are_octet_stream_downloads() {
        let types = MediaTypes::default();
        for ext in [Some("exe"), Some(""), Some("tar.gz"), Some("php"), None] {
            if let Some(ext) = ext {
                assert_eq!(types.lookup(ext), None, "{ext}");
            }
            assert_eq!(types.content_type(ext), OCTET_STREAM, "{ext:?}");
            assert!(!types.is_inline(ext), "{ext:?}");
        }
    }

    #[test]
    fn inline_types_are_shown_and_archives_downloaded() {
        let types = MediaTypes::default();
        for ext in [
            "html",
            "css",
            "js",
            "json",
            "map",
            "webmanifest",
            "xml",
            "txt",
            "md",
            "csv",
            "svg",
            "png",
            "avif",
            "ico",
            "woff2",
            "ttf",
            "wasm",
            "pdf",
            "mp4",
            "ogg",
            "m4a",
        ] {
            assert!(types.is_inline(Some(ext)), "{ext}");
        }
        for ext in ["zip", "gz", "tgz", "tar", "bin"] {
            assert!(!types.is_inline(Some(ext)), "{ext}");
        }
        let cases: &[(&str, bool)] = &[
            ("Text/Plain; charset=utf-8", true),
            ("application/ld+json", true),
            ("application/rss+xml", true),
            ("application/JavaScript", true),
            ("application/x-tar", false),
            ("application/x-sh", false),
            ("model/gltf-binary", false),
            ("", false),
            ("text", false),
        ];
        for &(media_type, inline) in cases {
            assert_eq!(is_inline_type(media_type), inline, "{media_type}");
        }
    }

    #[test]
    fn overrides_replace_the_table_case_insensitively() {
        let mut types = MediaTypes::default();
        types
            .set(".JS", "application/javascript")
            .unwrap()
            .set("glb", "model/gltf-binary")
            .unwrap()
            .set("GLB", "  model/gltf-binary; x=1 ")
            .unwrap();
        assert_eq!(types.lookup("js"), Some("application/javascript"));
        assert_eq!(types.lookup("mjs"), Some("text/javascript; charset=utf-8"));
        assert_eq!(types.lookup("Glb"), Some("model/gltf-binary; x=1"));
        assert_eq!(types.overrides.len(), 2, "one entry per extension");
        assert!(!types.is_inline(Some("glb")));
        types.set_from_arg("x3d=model/x3d+xml").unwrap();
        assert_eq!(types.lookup("x3d"), Some("model/x3d+xml"));
    }

    #[test]
    fn invalid_overrides_are_refused_and_change_nothing() {
        let long_ext = "e".repeat(MAX_EXTENSION_BYTES + 1);
        let long_type = format!("text/{}", "x".repeat(MAX_MEDIA_TYPE_BYTES));
        let cases: &[(&str, MediaTypeError)] = &[
            ("css", MediaTypeError::MissingEquals),
            ("=text/css", MediaTypeError::BadExtension),
            (".=text/css", MediaTypeError::BadExtension),
            ("c/s=text/css", MediaTypeError::BadExtension),
            ("a.b=text/css", MediaTypeError::BadExtension),
            ("cs s=text/css", MediaTypeError::BadExtension),
            ("é=text/css", MediaTypeError::BadExtension),
            ("css=", MediaTypeError::BadMediaType),
            ("css=text", MediaTypeError::BadMediaType),
            ("css=text/", MediaTypeError::BadMediaType),
            ("css=/css", MediaTypeError::BadMediaType),
            ("css=text/css/x", MediaTypeError::BadMediaType),
            ("css=te xt/css", MediaTypeError::BadMediaType),
            (
                "css=text/css\r\nSet-Cookie: a=b",
                MediaTypeError::BadMediaType,
            ),
            ("css=text/css\0", MediaTypeError::BadMediaType),
            ("css=text/css; charset", MediaTypeError::BadMediaType),
            ("css=text/css; charset=", MediaTypeError::BadMediaType),
            (
                "css=text/css; charset=\"utf-8",
                MediaTypeError::BadMediaType,
            ),
            ("css=text/css; a=\"\x07\"", MediaTypeError::BadMediaType),
            ("css=text/css; a=\"\\\n\"", MediaTypeError::BadMediaType),
            ("css=text/cßs", MediaTypeError::BadMediaType),
            ("css=text/css x", MediaTypeError::BadMediaType),
        ];
        let mut types = MediaTypes::default();
        for &(arg, expected) in cases {
            assert_eq!(
                types.set_from_arg(arg).map(|_| ()),
                Err(expected),
                "{arg:?}"
            );
        }
        for (ext, media_type) in [(long_ext.as_str(), "text/css"), ("css", &long_type)] {
            assert!(types.set(ext, media_type).is_err());
        }
        assert_eq!(types, MediaTypes::default());
        assert_eq!(types.lookup("css"), Some("text/css; charset=utf-8"));
    }

    #[test]
    fn valid_media_types_with_parameters_are_accepted() {
        for media_type in [
            "text/plain",
            "text/plain;charset=utf-8",
            "text/plain ; charset=utf-8 ; format=flowed",
            "text/plain; charset=\"utf-8\"",
            "text/plain; title=\"a \\\"b\\\" c\"",
            "application/vnd.api+json",
            "text/plain;",
            "text/plain; ;a=b",
        ] {
            assert!(is_valid_media_type(media_type.as_bytes()), "{media_type}");
        }
    }

    #[test]
    fn the_seed_types_do_not_change() {
        // The default mode keeps its own function and answers, whatever the web table.
        let cases: &[(&str, &str)] = &[
            ("xml", OCTET_STREAM),
            ("ttf", OCTET_STREAM),
            ("md", OCTET_STREAM),
            ("zip", OCTET_STREAM),
            ("html", TEXT_HTML),
            ("png", "image/png"),
        ];
        for &(ext, expected) in cases {
            assert_eq!(media_type_for(ext), expected, "{ext}");
        }
    }
}
