//! `Cache-Control` values per file extension (RFC 9111 section 5.2.2).

/// The default `Cache-Control` of files other than HTML: one hour in any cache.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=3600";

/// The default `Cache-Control` of HTML pages: cache, but revalidate before each use.
pub const HTML_CACHE_CONTROL: &str = "no-cache";

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
}

impl CachePolicy {
    /// Creates a policy that sends `fallback` for every file, with no per-extension
    /// entries (not even HTML's; see [`Default`](#impl-Default-for-CachePolicy)).
    pub fn new(fallback: &str) -> CachePolicy {
        CachePolicy {
            by_extension: Vec::new(),
            fallback: fallback.to_string(),
        }
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
}
