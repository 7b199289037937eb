//! `Cache-Control` values per file extension (RFC 9111 section 5.2.2), and, for the
//! web preset, per file name: a content-hashed asset name such as `app.3f9a1c2b.js`
//! never changes its bytes, so it may be cached for a year without revalidation
//! (RFC 8246 `immutable`).

/// The default `Cache-Control` of files other than HTML: one hour in any cache.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=3600";

/// The default `Cache-Control` of HTML pages: cache, but revalidate before each use.
pub const HTML_CACHE_CONTROL: &str = "no-cache";

/// The `Cache-Control` of content-hashed asset names in the web preset
/// ([`CachePolicy::web`]): a year in any cache, never revalidated (RFC 8246).
pub const IMMUTABLE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The fewest characters a content hash in a file name has ([`is_content_hashed`]).
pub const MIN_HASH_CHARS: usize = 8;

/// The most characters a content hash in a file name has ([`is_content_hashed`]):
/// enough for a SHA-256 in hex.
pub const MAX_HASH_CHARS: usize = 64;

/// Which `Cache-Control` value to send for a file, chosen by its extension.
///
/// Values come from the operator, not from clients, and are sent as given; the
/// response writer drops control bytes, so a value cannot split the head.
///
/// # Examples
/// ```
/// use httpd_files::CachePolicy;
///
/// let mut policy = CachePolicy::default();
/// policy.set("woff2", "public, max-age=31536000, immutable");
/// assert_eq!(policy.for_extension(Some("HTML")), "no-cache");
/// assert_eq!(policy.for_extension(Some("woff2")), "public, max-age=31536000, immutable");
/// assert_eq!(policy.for_extension(None), "public, max-age=3600");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    /// Lowercased extensions without a dot, with their values; later entries replace
    /// earlier ones in place, so each extension appears once.
    by_extension: Vec<(String, String)>,
    /// The value for extensions without an entry, and for names without one.
    fallback: String,
    /// The value for content-hashed names without an entry for their extension
    /// ([`for_name`](Self::for_name)); `None`: such names are not treated apart.
    hashed: Option<String>,
}

impl CachePolicy {
    /// Creates a policy that sends `fallback` for every file, with no per-extension
    /// entries (not even HTML's; see [`Default`](#impl-Default-for-CachePolicy)).
    pub fn new(fallback: &str) -> CachePolicy {
        CachePolicy {
            by_extension: Vec::new(),
            fallback: fallback.to_string(),
            hashed: None,
        }
    }

    /// Creates the web preset's policy: the [default](#impl-Default-for-CachePolicy)
    /// (`no-cache` for `html` and `htm`, else `public, max-age=3600`), plus
    /// [`IMMUTABLE_CACHE_CONTROL`] for content-hashed names ([`is_content_hashed`])
    /// whose extension has no entry; ask it with [`for_name`](Self::for_name).
    ///
    /// Precedence, highest first: an entry for the extension (the operator's
    /// `--cache-control EXT=VALUE`, or the built-in `html`/`htm` one, so a page is
    /// never immutable), then the hashed-name value, then the fallback (the
    /// operator's `*=VALUE` replaces only the fallback).
    ///
    /// # Examples
    /// ```
    /// use httpd_files::CachePolicy;
    ///
    /// let mut policy = CachePolicy::web();
    /// assert_eq!(policy.for_name("app.3f9a1c2b.js"), "public, max-age=31536000, immutable");
    /// assert_eq!(policy.for_name("chunk-BxY7_k2Q.css"), "public, max-age=31536000, immutable");
    /// assert_eq!(policy.for_name("jquery-3.7.1.min.js"), "public, max-age=3600");
    /// assert_eq!(policy.for_name("index.html"), "no-cache");
    /// // An operator's entry for the extension always wins.
    /// policy.set("js", "no-store");
    /// assert_eq!(policy.for_name("app.3f9a1c2b.js"), "no-store");
    /// assert_eq!(policy.for_name("chunk-BxY7_k2Q.css"), "public, max-age=31536000, immutable");
    /// ```
    pub fn web() -> CachePolicy {
        let mut policy = CachePolicy::default();
        policy.set_hashed(Some(IMMUTABLE_CACHE_CONTROL));
        policy
    }

    /// Sets the value sent for files with extension `ext` (case-insensitive, with or
    /// without a leading dot), replacing any earlier value for it.
    pub fn set(&mut self, ext: &str, value: &str) -> &mut CachePolicy {
        let ext = normalize(ext);
        match self
            .by_extension
            .iter_mut()
            .find(|(known, _)| *known == ext)
        {
            Some((_, old)) => *old = value.to_string(),
            None => self.by_extension.push((ext, value.to_string())),
        }
        self
    }

    /// Sets the value sent for files whose extension has no entry of its own.
    pub fn set_fallback(&mut self, value: &str) -> &mut CachePolicy {
        self.fallback = value.to_string();
        self
    }

    /// Sets the value sent by [`for_name`](Self::for_name) for content-hashed names
    /// whose extension has no entry; `None` treats them like any other name.
    pub fn set_hashed(&mut self, value: Option<&str>) -> &mut CachePolicy {
        self.hashed = value.map(str::to_string);
        self
    }

    /// Returns the value for a file named `file_name` (its last path segment, as
    /// [`SafePath::file_name`](httpd_security::SafePath::file_name) gives it; for a
    /// directory's index, `index.html`): the entry for its extension if there is one,
    /// else the hashed-name value if one is set and the name
    /// [is content-hashed](is_content_hashed), else the fallback.
    ///
    /// Without a hashed-name value (as in [`Default`](#impl-Default-for-CachePolicy)),
    /// this is [`for_extension`](Self::for_extension) of the name's extension.
    pub fn for_name(&self, file_name: &str) -> &str {
        let ext = file_name.rfind('.').map(|dot| &file_name[dot + 1..]);
        self.for_file(ext, is_content_hashed(file_name))
    }

    /// Returns the value for a file with extension `ext` whose name
    /// [is content-hashed](is_content_hashed) or not, as [`for_name`](Self::for_name)
    /// does for its name: for a server that learnt both facts earlier (while it still
    /// had the name) and chooses the value later without the name.
    ///
    /// # Examples
    /// ```
    /// use httpd_files::{CachePolicy, is_content_hashed};
    ///
    /// let policy = CachePolicy::web();
    /// let hashed = is_content_hashed("app.3f9a1c2b.js");
    /// assert_eq!(policy.for_file(Some("js"), hashed), policy.for_name("app.3f9a1c2b.js"));
    /// assert_eq!(policy.for_file(Some("html"), true), "no-cache");
    /// // Without a hashed-name value, only the extension counts.
    /// assert_eq!(CachePolicy::default().for_file(Some("js"), true), "public, max-age=3600");
    /// ```
    pub fn for_file(&self, ext: Option<&str>, is_hashed: bool) -> &str {
        if let Some(ext) = ext {
            if let Some((_, value)) = self
                .by_extension
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(ext))
            {
                return value;
            }
        }
        match &self.hashed {
            Some(value) if is_hashed => value,
            _ => &self.fallback,
        }
    }

    /// Returns the value for a file with extension `ext` (case-insensitive, as
    /// [`StaticFile::extension`](crate::StaticFile::extension) gives it), or the
    /// fallback when it has no entry or the name has no extension.
    pub fn for_extension(&self, ext: Option<&str>) -> &str {
        let Some(ext) = ext else {
            return &self.fallback;
        };
        let ext = ext.strip_prefix('.').unwrap_or(ext);
        self.by_extension
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(ext))
            .map_or(&self.fallback, |(_, value)| value)
    }
}

impl Default for CachePolicy {
    /// `html` and `htm` pages get [`no-cache`](HTML_CACHE_CONTROL), so a changed page
    /// is seen at once; every other file gets
    /// [`public, max-age=3600`](DEFAULT_CACHE_CONTROL).
    fn default() -> CachePolicy {
        let mut policy = CachePolicy::new(DEFAULT_CACHE_CONTROL);
        policy
            .set("html", HTML_CACHE_CONTROL)
            .set("htm", HTML_CACHE_CONTROL);
        policy
    }
}

/// Tells whether `file_name` looks like a content-hashed asset name, whose bytes never
/// change under that name, as bundlers write them: `app.3f9a1c2b.js` (webpack,
/// Parcel), `chunk-BxY7_k2Q.css` (Vite/Rollup), `main-5NJCJQRG.js` (esbuild, Angular),
/// `main.3f9a1c2b4d5e6f70.js` (Angular's older builder, Trunk).
///
/// The pattern: the name has an extension, and right before it a *hash segment* that
/// follows a `.` or `-` (or, for hex and base32, makes up the whole stem) and is one of
///
/// - **hex**: [`MIN_HASH_CHARS`] to [`MAX_HASH_CHARS`] lowercase hex digits, at least
///   one a digit and one a letter (`3f9a1c2b`);
/// - **base32** (esbuild): exactly 8 characters of `A-Z 2-7`, at least one a digit
///   (`5NJCJQRG` has one: `5`);
/// - **base64url** (Rollup): [`MIN_HASH_CHARS`] to [`MAX_HASH_CHARS`] characters of
///   `A-Z a-z 0-9 _` with at least one uppercase letter, one lowercase letter and one
///   digit (`BxY7_k2Q`).
///
/// In a segment shorter than 16 characters, a run of four letters (hex) or four
/// lowercase letters (base64url) reads as a word, not a hash: `menu-cafe2024.pdf`,
/// `gallery-MyPhoto1.jpg`. One more extension after the hashed one is allowed, for
/// source maps and sidecars: `app.3f9a1c2b.js.map`.
///
/// The rule errs towards "not hashed": a false positive lets browsers keep a changed
/// file for a year, a false negative only costs a revalidation. So hashes without a
/// digit (about one in four of Rollup's), Rollup hashes holding a `-` (about one in
/// eight; a dash there cannot be told from a separator: `invoice-ACME-0012.pdf`),
/// all-digit segments (dates, versions: `report-20240101.pdf`) and lowercase words
/// with digits (`app-v2beta10.js`) are not recognised.
///
/// # Examples
/// ```
/// use httpd_files::is_content_hashed;
///
/// assert!(is_content_hashed("app.3f9a1c2b.js"));
/// assert!(is_content_hashed("chunk-BxY7_k2Q.css"));
/// assert!(is_content_hashed("index-4c7d5e2f.mjs"));
/// assert!(!is_content_hashed("jquery-3.7.1.min.js"));
/// assert!(!is_content_hashed("font-awesome.css"));
/// assert!(!is_content_hashed("2024-report.pdf"));
/// ```
pub fn is_content_hashed(file_name: &str) -> bool {
    let Some(dot) = file_name.rfind('.') else {
        return false;
    };
    let (stem, ext) = (&file_name[..dot], &file_name[dot + 1..]);
    if !is_extension(ext) {
        return false;
    }
    if ends_with_hash(stem) {
        return true;
    }
    // `app.3f9a1c2b.js.map`: one inner extension.
    match stem.rfind('.') {
        Some(dot) if is_extension(&stem[dot + 1..]) => ends_with_hash(&stem[..dot]),
        _ => false,
    }
}

/// Tells whether `ext` looks like a file extension: 1 to 12 ASCII letters and digits,
/// at least one a letter (so `1` in `jquery-3.7.1` is not one).
fn is_extension(ext: &str) -> bool {
    (1..=12).contains(&ext.len())
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && ext.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Tells whether `stem` ends with a hash segment (see [`is_content_hashed`]).
fn ends_with_hash(stem: &str) -> bool {
    match stem.rfind(['.', '-']) {
        // Something precedes the separator: `app.HASH`, `chunk-HASH`.
        Some(at) if at > 0 => {
            let segment = &stem[at + 1..];
            is_hex_hash(segment) || is_base32_hash(segment) || is_base64_hash(segment)
        }
        Some(_) => false,
        // The whole stem: only the unmistakable alphabets.
        None => is_hex_hash(stem) || is_base32_hash(stem),
    }
}

/// Lowercase hex with a digit and a letter, and no word-like run of letters.
fn is_hex_hash(s: &str) -> bool {
    let b = s.as_bytes();
    (MIN_HASH_CHARS..=MAX_HASH_CHARS).contains(&b.len())
        && b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().any(u8::is_ascii_lowercase)
        && (b.len() >= 16 || longest_run(b, u8::is_ascii_lowercase) < 4)
}

/// esbuild's 8 characters of RFC 4648 base32, with a digit.
fn is_base32_hash(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == MIN_HASH_CHARS
        && b.iter().all(|c| matches!(c, b'A'..=b'Z' | b'2'..=b'7'))
        && b.iter().any(u8::is_ascii_digit)
}

/// base64url without `-`, mixing upper- and lowercase letters and digits, and no
/// word-like run of lowercase letters.
fn is_base64_hash(s: &str) -> bool {
    let b = s.as_bytes();
    (MIN_HASH_CHARS..=MAX_HASH_CHARS).contains(&b.len())
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && (b.len() >= 16 || longest_run(b, u8::is_ascii_lowercase) < 4)
}

/// The length of the longest run of bytes of `b` for which `class` holds.
fn longest_run(b: &[u8], class: fn(&u8) -> bool) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in b {
        run = if class(c) { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// Lowercases `ext` and drops one leading dot.
fn normalize(ext: &str) -> String {
    ext.strip_prefix('.').unwrap_or(ext).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_revalidate_html_and_cache_the_rest_for_an_hour() {
        let policy = CachePolicy::default();
        let cases: &[(Option<&str>, &str)] = &[
            (Some("html"), "no-cache"),
            (Some("HTML"), "no-cache"),
            (Some("htm"), "no-cache"),
            (Some("css"), "public, max-age=3600"),
            (Some("png"), "public, max-age=3600"),
            (Some(""), "public, max-age=3600"),
            (None, "public, max-age=3600"),
            (Some("xhtml"), "public, max-age=3600"),
        ];
        for &(ext, expected) in cases {
            assert_eq!(policy.for_extension(ext), expected, "{ext:?}");
        }
    }

    #[test]
    fn entries_are_case_insensitive_and_replace_earlier_ones() {
        let mut policy = CachePolicy::new("no-store");
        policy
            .set("CSS", "max-age=60")
            .set(".css", "max-age=120")
            .set("js", "max-age=30")
            .set("HTML", "no-cache");
        let cases: &[(Option<&str>, &str)] = &[
            (Some("css"), "max-age=120"),
            (Some("Css"), "max-age=120"),
            (Some(".css"), "max-age=120"),
            (Some("js"), "max-age=30"),
            (Some("html"), "no-cache"),
            (Some("png"), "no-store"),
            (None, "no-store"),
        ];
        for &(ext, expected) in cases {
            assert_eq!(policy.for_extension(ext), expected, "{ext:?}");
        }
        policy.set_fallback("private");
        assert_eq!(policy.for_extension(Some("png")), "private");
        assert_eq!(policy.by_extension.len(), 3, "one entry per extension");
    }

    #[test]
    fn content_hashed_names_are_recognised() {
        let cases: &[(&str, bool)] = &[
            // Bundlers' names.
            ("app.3f9a1c2b.js", true),
            ("chunk-BxY7_k2Q.css", true),
            ("index-4c7d5e2f.mjs", true),
            ("main.3f9a1c2b4d5e6f70.js", true),
            ("main-5NJCJQRG.js", true),
            ("chunk-ABCD2345.js", true),
            ("vendor~main.0a1b2c3d.js", true),
            ("app.3f9a1c2b.js.map", true),
            ("app.3f9a1c2b.css.gz", true),
            ("3f9a1c2b4d5e6f708192.js", true),
            ("5NJCJQRG.js", true),
            ("logo.5d41402abc4b2a76b9719d911017c592.png", true),
            ("font-Ab12Cd34.woff2", true),
            ("index-Dq_9hKz0xLmN.js", true),
            ("abcdef0123456789abcd.js", true),
            // Names with versions, words, dates, photos.
            ("jquery-3.7.1.min.js", false),
            ("jquery-3.7.1.js", false),
            ("font-awesome.css", false),
            ("font-awesome.min.css", false),
            ("2024-report.pdf", false),
            ("report-20240101.pdf", false),
            ("app-v2beta10.js", false),
            ("bootstrap.bundle.min.js", false),
            ("MyComponent.js", false),
            ("app-BigTable.js", false),
            ("gallery-MyPhoto1.jpg", false),
            ("case-iPhone12.png", false),
            ("menu-cafe2024.pdf", false),
            ("trip-DSC01234.jpg", false),
            ("holiday-IMG_1234.jpg", false),
            ("IMG_1234.jpg", false),
            ("Img_1234.jpg", false),
            ("invoice-ACME-0012.pdf", false),
            ("index-B-4xYz_1.js", false),
            ("index.html", false),
            ("README", false),
            ("3f9a1c2b", false),
            (".3f9a1c2b", false),
            ("-3f9a1c2b.js", false),
            (".3f9a1c2b.js", false),
            ("app.3f9a1c2b.", false),
            ("app.3f9a1c2.js", false),
            ("app.3f9a1c2b-x.js", false),
            ("app.deadbeef.js", false),
            ("app.12345678.js", false),
            ("app.ABCDEFGH.js", false),
            ("app.ABCD2348.js", false),
            ("app.3f9a1c2g.js", false),
            ("app.3f9a 1c2b.js", false),
            ("app.3f9a1c2b.min.1", false),
            ("x.café1234AB.js", false),
        ];
        for &(name, expected) in cases {
            assert_eq!(is_content_hashed(name), expected, "{name}");
        }
        let long = format!("app.{}.js", "a1".repeat(MAX_HASH_CHARS / 2 + 1));
        assert!(!is_content_hashed(&long));
        let longest = format!("app.{}.js", "a1".repeat(MAX_HASH_CHARS / 2));
        assert!(is_content_hashed(&longest));
    }

    #[test]
    fn web_policy_makes_hashed_names_immutable_unless_an_entry_says_otherwise() {
        let mut policy = CachePolicy::web();
        let cases: &[(&str, &str)] = &[
            ("app.3f9a1c2b.js", IMMUTABLE_CACHE_CONTROL),
            ("chunk-BxY7_k2Q.CSS", IMMUTABLE_CACHE_CONTROL),
            ("app.js", DEFAULT_CACHE_CONTROL),
            ("logo.png", DEFAULT_CACHE_CONTROL),
            ("README", DEFAULT_CACHE_CONTROL),
            ("index.html", HTML_CACHE_CONTROL),
            ("page.3f9a1c2b.html", HTML_CACHE_CONTROL),
            ("page.3f9a1c2b.HTM", HTML_CACHE_CONTROL),
        ];
        for &(name, expected) in cases {
            assert_eq!(policy.for_name(name), expected, "{name}");
        }
        policy
            .set("js", "no-store")
            .set_fallback("max-age=60")
            .set("html", "max-age=5");
        let cases: &[(&str, &str)] = &[
            ("app.3f9a1c2b.js", "no-store"),
            ("app.js", "no-store"),
            ("chunk-BxY7_k2Q.css", IMMUTABLE_CACHE_CONTROL),
            ("logo.png", "max-age=60"),
            ("page.3f9a1c2b.html", "max-age=5"),
        ];
        for &(name, expected) in cases {
            assert_eq!(policy.for_name(name), expected, "{name}");
        }
        policy.set_hashed(None);
        assert_eq!(policy.for_name("chunk-BxY7_k2Q.css"), "max-age=60");
    }

    #[test]
    fn default_policy_does_not_treat_hashed_names_apart() {
        let policy = CachePolicy::default();
        for name in ["app.3f9a1c2b.js", "chunk-BxY7_k2Q.css", "a.png", "noext"] {
            let ext = name.rfind('.').map(|dot| &name[dot + 1..]);
            assert_eq!(policy.for_name(name), policy.for_extension(ext), "{name}");
        }
        assert_eq!(policy.for_name("index.html"), HTML_CACHE_CONTROL);
    }
}
