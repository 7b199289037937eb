//! Directory listings for people and for programs: the order of the entries, the query
//! that chooses it (`?sort=size&order=desc&format=json`), and the HTML and JSON bodies.
//!
//! The producers ([`sort_entries`], [`render_html`], [`render_json`],
//! [`Listing::render`]) are pure functions of the entries; [`Listing::read`] is the one
//! that reads a directory, through [`Root::list_dir`], which already leaves out
//! dot-files and links that lead out of the root.
//!
//! Order: directories always come first, then files, as nginx's `autoindex` and
//! Caddy's `browse` show them; the key and the direction apply within each group.
//! Names compare case-insensitively, then byte-wise, so the order is total and the
//! same on every run; entries equal by size or date are ordered by name. Descending
//! is the exact reverse of ascending within each group.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use httpd_security::SafePath;
use serde::Serialize;

use crate::error::ServeError;
use crate::root::{DirEntry, Root};
use crate::static_file::TEXT_HTML;

/// The `Content-Type` of a JSON listing.
pub const APPLICATION_JSON: &str = "application/json";

/// What a listing is sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SortKey {
    /// The name (`sort=name`, the default).
    #[default]
    Name,
    /// The size in bytes (`sort=size`); directories count as 0.
    Size,
    /// The modification time (`sort=mtime`); an unknown time sorts as the oldest.
    Modified,
}

/// Which way a listing is sorted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SortOrder {
    /// Smallest, oldest or first in the alphabet first (`order=asc`, the default).
    #[default]
    Ascending,
    /// The reverse (`order=desc`).
    Descending,
}

/// The body a listing is rendered as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListingFormat {
    /// An HTML page (the default; `format=html`).
    #[default]
    Html,
    /// A JSON array (`format=json`), see [`render_json`].
    Json,
}

/// How a listing was asked for: from the query string of the request.
///
/// # Examples
/// ```
/// use httpd_files::{ListingFormat, ListingQuery, SortKey, SortOrder};
///
/// let query = ListingQuery::parse("sort=size&order=desc&format=json&utm_source=x");
/// assert_eq!(query.sort, SortKey::Size);
/// assert_eq!(query.order, SortOrder::Descending);
/// assert_eq!(query.format, ListingFormat::Json);
/// // Bad values fall back to the defaults.
/// assert_eq!(ListingQuery::parse("sort=colour&order=up"), ListingQuery::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListingQuery {
    /// The sort key; default [`SortKey::Name`].
    pub sort: SortKey,
    /// The sort direction; default [`SortOrder::Ascending`].
    pub order: SortOrder,
    /// The body format; default [`ListingFormat::Html`].
    pub format: ListingFormat,
}

impl ListingQuery {
    /// Reads `sort=name|size|mtime`, `order=asc|desc` and `format=html|json` from a raw
    /// query string (the part after `?`, without it).
    ///
    /// Keys and values are percent-decoded (and `+` is a space, as in forms); values
    /// compare case-insensitively. Unknown keys are ignored; a missing or unknown value
    /// leaves that field at its default; when a key is repeated, the last one counts.
    /// Never fails: whatever the client sends, a listing can be made.
    pub fn parse(query: &str) -> ListingQuery {
        let mut parsed = ListingQuery::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (percent_decode(key), percent_decode(value));
            let value = value.to_ascii_lowercase();
            match key.as_slice() {
                b"sort" => {
                    parsed.sort = match value.as_slice() {
                        b"size" => SortKey::Size,
                        b"mtime" => SortKey::Modified,
                        _ => SortKey::Name,
                    }
                }
                b"order" => {
                    parsed.order = match value.as_slice() {
                        b"desc" => SortOrder::Descending,
                        _ => SortOrder::Ascending,
                    }
                }
                b"format" => {
                    parsed.format = match value.as_slice() {
                        b"json" => ListingFormat::Json,
                        _ => ListingFormat::Html,
                    }
                }
                _ => {}
            }
        }
        parsed
    }
}

/// A rendered listing: its `Content-Type` and body.
///
/// # Examples
/// ```
/// use httpd_files::{DirEntry, Listing, ListingQuery};
///
/// let mut entries = vec![
///     DirEntry { name: "b.txt".into(), is_dir: false, size: 2048, modified: None },
///     DirEntry { name: "a".into(), is_dir: true, size: 0, modified: None },
/// ];
/// let json = Listing::render("/docs/", &mut entries, &ListingQuery::parse("format=json"));
/// assert_eq!(json.content_type(), "application/json");
/// assert_eq!(
///     json.body(),
///     br#"[{"name":"a","type":"dir","size":0,"mtime":null},{"name":"b.txt","type":"file","size":2048,"mtime":null}]"#
/// );
/// let html = Listing::render("/docs/", &mut entries, &ListingQuery::default());
/// assert_eq!(html.content_type(), "text/html; charset=utf-8");
/// assert!(String::from_utf8_lossy(html.body()).contains("2.0 KiB"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    content_type: &'static str,
    body: Vec<u8>,
}

impl Listing {
    /// Sorts `entries` as `query` asks ([`sort_entries`]) and renders them in its
    /// format: [`render_html`] with `url_path` as the title, or [`render_json`].
    pub fn render(url_path: &str, entries: &mut [DirEntry], query: &ListingQuery) -> Listing {
        sort_entries(entries, query.sort, query.order);
        match query.format {
            ListingFormat::Json => Listing {
                content_type: APPLICATION_JSON,
                body: render_json(entries),
            },
            ListingFormat::Html => Listing {
                content_type: TEXT_HTML,
                body: render_html(url_path, entries, query).into_bytes(),
            },
        }
    }

    /// Lists the directory `dir` beneath `root` ([`Root::list_dir`]: no dot-files, no
    /// links leading out of the root) and [renders](Self::render) it, titled with
    /// `dir`'s path (`/docs/`).
    ///
    /// # Errors
    /// As [`Root::list_dir`].
    ///
    /// # Examples
    /// ```no_run
    /// use std::path::Path;
    ///
    /// use httpd_files::{Listing, ListingQuery, Root};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let root = Root::at(Path::new("resources"))?;
    /// let dir = httpd_security::resolve_path(Path::new("resources"), "/uploads/")?;
    /// let listing = Listing::read(&root, &dir, &ListingQuery::parse("sort=mtime&order=desc"))?;
    /// assert_eq!(listing.content_type(), "text/html; charset=utf-8");
    /// # Ok(())
    /// # }
    /// ```
    pub fn read(root: &Root, dir: &SafePath, query: &ListingQuery) -> Result<Listing, ServeError> {
        let mut entries = root.list_dir(dir)?;
        let relative = dir.relative().trim_end_matches('/');
        let url_path = if relative.is_empty() {
            "/".to_string()
        } else {
            format!("/{relative}/")
        };
        Ok(Listing::render(&url_path, &mut entries, query))
    }

    /// Returns the `Content-Type` of the body: [`TEXT_HTML`] or [`APPLICATION_JSON`].
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// Returns the body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Returns the body, consuming the listing.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// Sorts `entries` by `key` in `order`, directories first.
///
/// Directories always come before files, as nginx's `autoindex` and Caddy's `browse`
/// show them; the key and the direction apply within each group. Names compare
/// case-insensitively, then byte-wise, so the order is total and the same on every
/// run; entries equal by size or date are ordered by name. Descending is the exact
/// reverse of ascending within each group. Directories count as size 0; an unknown
/// modification time sorts as the oldest.
pub fn sort_entries(entries: &mut [DirEntry], key: SortKey, order: SortOrder) {
    entries.sort_by(|a, b| {
        let within = match key {
            SortKey::Name => Ordering::Equal,
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Modified => a.modified.cmp(&b.modified),
        }
        .then_with(|| compare_names(&a.name, &b.name));
        let within = match order {
            SortOrder::Ascending => within,
            SortOrder::Descending => within.reverse(),
        };
        b.is_dir.cmp(&a.is_dir).then(within)
    });
}

/// Renders `entries`, in their order, as a JSON array:
/// `[{"name":"a.txt","type":"file","size":5,"mtime":"2024-01-02T03:04:05Z"}]`.
///
/// `type` is `"file"` or `"dir"`; `size` is in bytes (0 for a directory); `mtime` is
/// the modification time in RFC 3339 UTC to the second, or `null` when unknown or
/// outside the years 1970 to 9999. Names are JSON strings, escaped as JSON requires.
pub fn render_json(entries: &[DirEntry]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Entry<'a> {
        name: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        size: u64,
        mtime: Option<String>,
    }
    let entries: Vec<Entry<'_>> = entries
        .iter()
        .map(|e| Entry {
            name: &e.name,
            kind: if e.is_dir { "dir" } else { "file" },
            size: e.size,
            mtime: e.modified.and_then(rfc3339),
        })
        .collect();
    serde_json::to_vec(&entries).expect("strings and numbers always serialize")
}

/// Renders `entries`, in their order, as an HTML page titled `Index of URL_PATH`.
///
/// Each name is HTML-escaped (a file named `<img src=x onerror=alert(1)>.png` shows
/// as that text) and linked relatively (`./NAME`, `./DIR/`) with every byte but the
/// RFC 3986 unreserved ones percent-encoded. A table shows the size (human-readable,
/// binary units: `1.2 KiB`; `-` for a directory) and the modification time (UTC). The
/// column headers link to the same listing sorted by that column (`?sort=size&order=asc`);
/// the current column's link reverses the order and is marked with an arrow. Below
/// `/`, a first row links to the parent (`../`). The page has no script and no inline
/// style, so a strict `Content-Security-Policy` does not break it.
pub fn render_html(url_path: &str, entries: &[DirEntry], query: &ListingQuery) -> String {
    let title = format!("Index of {}", html_escape(url_path));
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\n<body><h1>{title}</h1>\n<table>\n<thead><tr>"
    );
    for (key, label) in [
        (SortKey::Name, "Name"),
        (SortKey::Size, "Size"),
        (SortKey::Modified, "Modified"),
    ] {
        let current = query.sort == key;
        let next = match (current, query.order) {
            (true, SortOrder::Ascending) => "desc",
            _ => "asc",
        };
        let arrow = match (current, query.order) {
            (false, _) => "",
            (true, SortOrder::Ascending) => " &#9650;",
            (true, SortOrder::Descending) => " &#9660;",
        };
        let _ = write!(
            page,
            "<th><a href=\"?sort={}&amp;order={next}\">{label}</a>{arrow}</th>",
            key_name(key)
        );
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    if url_path != "/" {
        page.push_str("<tr><td><a href=\"../\">../</a></td><td>-</td><td></td></tr>\n");
    }
    for entry in entries {
        let slash = if entry.is_dir { "/" } else { "" };
        let size = if entry.is_dir {
            "-".to_string()
        } else {
            human_size(entry.size)
        };
        let (datetime, shown) = match entry.modified.and_then(rfc3339) {
            Some(stamp) => {
                // `2024-01-02T03:04:05Z` is shown as `2024-01-02 03:04`.
                let shown = stamp.get(..16).unwrap_or(&stamp).replacen('T', " ", 1);
                (stamp, shown)
            }
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            page,
            "<tr><td><a href=\"./{}{slash}\">{}{slash}</a></td><td>{size}</td>\
             <td><time datetime=\"{datetime}\">{shown}</time></td></tr>",
            percent_encode(&entry.name),
            html_escape(&entry.name),
        );
    }
    page.push_str("</tbody>\n</table>\n</body></html>\n");
    page
}

/// The query value of a sort key.
fn key_name(key: SortKey) -> &'static str {
    match key {
        SortKey::Name => "name",
        SortKey::Size => "size",
        SortKey::Modified => "mtime",
    }
}

/// Compares names case-insensitively (ASCII), then byte-wise.
fn compare_names(a: &str, b: &str) -> Ordering {
    let folded = a
        .bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    folded.then_with(|| a.cmp(b))
}

/// Formats `t` as RFC 3339 UTC to the second, or `None` outside what it can express
/// (before 1970, after 9999), where humantime would panic or fail.
fn rfc3339(t: SystemTime) -> Option<String> {
    /// The first second of the year 10000.
    const YEAR_10000_SECS: u64 = 253_402_300_800;
    let since = t.duration_since(UNIX_EPOCH).ok()?;
    (since.as_secs() < YEAR_10000_SECS).then(|| humantime::format_rfc3339_seconds(t).to_string())
}

/// Formats a size in bytes with binary units: `512 B`, `1.2 KiB`, `3.0 MiB`, rounded
/// to one decimal (half up).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let bytes = u128::from(bytes);
    let mut unit = 1024u128;
    let mut unit_idx = 0;
    loop {
        let tenths = (bytes * 10 + unit / 2) / unit;
        // `1023.96 KiB` would show as `1024.0 KiB`: use the next unit instead.
        if tenths < 10 * 1024 || unit_idx == UNITS.len() - 1 {
            return format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit_idx]);
        }
        unit *= 1024;
        unit_idx += 1;
    }
}

/// Escapes the five HTML-significant characters.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes every byte but the RFC 3986 unreserved ones
/// (`ALPHA / DIGIT / "-" / "." / "_" / "~"`).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (a space in form encoding); a `%` not followed by two
/// hex digits is kept as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
        match bytes[i] {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    // Two hex digits make at most 255.
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::time::Duration;

    use httpd_security::resolve_path;

    use super::*;
    use crate::test_util::TempDir;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn file(name: &str, size: u64, modified: Option<SystemTime>) -> DirEntry {
        DirEntry {
            name: name.to_string(),
            is_dir: false,
            size,
            modified,
        }
    }

    fn dir(name: &str, modified: Option<SystemTime>) -> DirEntry {
        DirEntry {
            name: name.to_string(),
            is_dir: true,
            size: 0,
            modified,
        }
    }

    fn names(entries: &[DirEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    fn sample() -> Vec<DirEntry> {
        vec![
            file("b.txt", 300, at(30)),
            dir("zeta", at(10)),
            file("A.txt", 100, None),
            file("a.txt", 300, at(20)),
            dir("Alpha", at(40)),
            file("c.bin", 50, at(50)),
        ]
    }

    #[test]
    fn entries_sort_by_each_key_both_ways_with_directories_first() {
        let cases: &[(SortKey, SortOrder, &[&str])] = &[
            (
                SortKey::Name,
                SortOrder::Ascending,
                &["Alpha", "zeta", "A.txt", "a.txt", "b.txt", "c.bin"],
            ),
            (
                SortKey::Name,
                SortOrder::Descending,
                &["zeta", "Alpha", "c.bin", "b.txt", "a.txt", "A.txt"],
            ),
            (
                SortKey::Size,
                SortOrder::Ascending,
                &["Alpha", "zeta", "c.bin", "A.txt", "a.txt", "b.txt"],
            ),
            (
                SortKey::Size,
                SortOrder::Descending,
                &["zeta", "Alpha", "b.txt", "a.txt", "A.txt", "c.bin"],
            ),
            (
                SortKey::Modified,
                SortOrder::Ascending,
                &["zeta", "Alpha", "A.txt", "a.txt", "b.txt", "c.bin"],
            ),
            (
                SortKey::Modified,
                SortOrder::Descending,
                &["Alpha", "zeta", "c.bin", "b.txt", "a.txt", "A.txt"],
            ),
        ];
        for &(key, order, expected) in cases {
            let mut entries = sample();
            sort_entries(&mut entries, key, order);
            assert_eq!(names(&entries), expected, "{key:?} {order:?}");
        }
    }

    #[test]
    fn queries_are_decoded_and_bad_values_fall_back_to_defaults() {
        use ListingFormat::{Html, Json};
        use SortKey::{Modified, Name, Size};
        use SortOrder::{Ascending, Descending};
        let cases: &[(&str, (SortKey, SortOrder, ListingFormat))] = &[
            ("", (Name, Ascending, Html)),
            ("sort=size", (Size, Ascending, Html)),
            ("sort=mtime&order=desc", (Modified, Descending, Html)),
            ("format=json", (Name, Ascending, Json)),
            ("SORT=size", (Name, Ascending, Html)),
            ("sort=SIZE&order=DESC&format=JSON", (Size, Descending, Json)),
            ("%73ort=%73ize&order=%64esc", (Size, Descending, Html)),
            ("sort=size%26order%3Ddesc", (Name, Ascending, Html)),
            ("sort=size+&order=desc", (Name, Descending, Html)),
            ("sort=colour&order=up&format=xml", (Name, Ascending, Html)),
            ("sort=size&sort=mtime", (Modified, Ascending, Html)),
            ("sort=size&sort=bogus", (Name, Ascending, Html)),
            ("utm_source=x&sort=size&&=&order", (Size, Ascending, Html)),
            ("sort=%zz&order=%", (Name, Ascending, Html)),
            ("sort=%E2%82&format=json%00", (Name, Ascending, Html)),
        ];
        for &(raw, (sort, order, format)) in cases {
            let expected = ListingQuery {
                sort,
                order,
                format,
            };
            assert_eq!(ListingQuery::parse(raw), expected, "{raw:?}");
        }
        assert_eq!(percent_decode("a%41%4a+%"), b"aAJ %");
        assert_eq!(percent_decode("%e2%82%ac%2"), b"\xe2\x82\xac%2");
    }

    #[test]
    fn json_lists_name_type_size_and_rfc3339_time() {
        let entries = [
            dir("sub", at(1_700_000_000)),
            file("a \"quoted\"\n.txt", 1234, at(0)),
            file(
                "before-1970",
                1,
                UNIX_EPOCH.checked_sub(Duration::from_secs(5)),
            ),
            file("year-10000", 2, at(253_402_300_800)),
            file("last-second", 3, at(253_402_300_799)),
            file("unknown", 4, None),
        ];
        let body = render_json(&entries);
        let parsed: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        let expected = serde_json::json!([
            {"name": "sub", "type": "dir", "size": 0, "mtime": "2023-11-14T22:13:20Z"},
            {"name": "a \"quoted\"\n.txt", "type": "file", "size": 1234,
             "mtime": "1970-01-01T00:00:00Z"},
            {"name": "before-1970", "type": "file", "size": 1, "mtime": null},
            {"name": "year-10000", "type": "file", "size": 2, "mtime": null},
            {"name": "last-second", "type": "file", "size": 3, "mtime": "9999-12-31T23:59:59Z"},
            {"name": "unknown", "type": "file", "size": 4, "mtime": null},
        ]);
        assert_eq!(parsed, expected);
        assert_eq!(render_json(&[]), b"[]");
    }

    #[test]
    fn html_escapes_names_and_encodes_links() {
        let entries = [
            file("<img src=x onerror=alert(1)>.png", 5, None),
            dir("a b&c", None),
            file("café ü?#.txt", 1, None),
            file("x\"onmouseover=\"y", 1, None),
        ];
        let page = render_html("/<script>/", &entries, &ListingQuery::default());
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("<title>Index of /&lt;script&gt;/</title>"));
        let rows = [
            "<a href=\"./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.png\">\
             &lt;img src=x onerror=alert(1)&gt;.png</a>",
            "<a href=\"./a%20b%26c/\">a b&amp;c/</a>",
            "<a href=\"./caf%C3%A9%20%C3%BC%3F%23.txt\">café ü?#.txt</a>",
            "<a href=\"./x%22onmouseover%3D%22y\">x&quot;onmouseover=&quot;y</a>",
        ];
        for row in rows {
            assert!(page.contains(row), "{row} missing from\n{page}");
        }
        assert!(!page.contains("<script"), "no script");
        assert!(!page.contains("style"), "no inline style");
    }

    #[test]
    fn html_shows_sizes_dates_parent_and_sort_links() {
        let entries = [
            dir("sub", at(1_700_000_000)),
            file("a.bin", 1234, at(1_700_000_000)),
            file("b.bin", 5, None),
        ];
        let page = render_html("/docs/", &entries, &ListingQuery::default());
        let expected = [
            "<tr><td><a href=\"../\">../</a></td>",
            "<td>1.2 KiB</td>",
            "<td>5 B</td>",
            "<td>-</td>",
            "<time datetime=\"2023-11-14T22:13:20Z\">2023-11-14 22:13</time>",
            "<th><a href=\"?sort=name&amp;order=desc\">Name</a> &#9650;</th>",
            "<th><a href=\"?sort=size&amp;order=asc\">Size</a></th>",
            "<th><a href=\"?sort=mtime&amp;order=asc\">Modified</a></th>",
        ];
        for part in expected {
            assert!(page.contains(part), "{part} missing from\n{page}");
        }
        // Entries keep the order given.
        let sub = page.find("./sub/").unwrap();
        let a = page.find("./a.bin").unwrap();
        let b = page.find("./b.bin").unwrap();
        assert!(sub < a && a < b);

        let sorted = ListingQuery::parse("sort=size&order=desc");
        let page = render_html("/", &entries, &sorted);
        assert!(!page.contains("../"), "no parent above the root");
        assert!(page.contains("<th><a href=\"?sort=size&amp;order=asc\">Size</a> &#9660;</th>"));
        assert!(page.contains("<th><a href=\"?sort=name&amp;order=asc\">Name</a></th>"));
    }

    #[test]
    fn human_sizes_use_binary_units_with_one_decimal() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1, "1 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1234, "1.2 KiB"),
            (1280, "1.3 KiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (1024 * 1024 - 52, "1023.9 KiB"),
            (3 << 20, "3.0 MiB"),
            (5 << 30, "5.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for &(bytes, expected) in cases {
            assert_eq!(human_size(bytes), expected, "{bytes}");
        }
    }

    #[test]
    fn read_lists_a_directory_through_the_root() {
        let base = TempDir::new();
        base.write("docs/big.txt", &[b'x'; 2000]);
        base.write("docs/small.txt", b"x");
        base.write("docs/.secret", b"x");
        base.mkdir("docs/sub");
        let old = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        File::options()
            .write(true)
            .open(base.path().join("docs/big.txt"))
            .and_then(|f| f.set_modified(old))
            .unwrap();
        let root = Root::at(base.path()).unwrap();
        let path = resolve_path(base.path(), "/docs/").unwrap();

        let query = ListingQuery::parse("sort=size&order=desc&format=json");
        let listing = Listing::read(&root, &path, &query).unwrap();
        assert_eq!(listing.content_type(), APPLICATION_JSON);
        let parsed: serde_json::Value = serde_json::from_slice(listing.body()).unwrap();
        let shown: Vec<(&str, &str, u64)> = parsed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap(),
                    e["type"].as_str().unwrap(),
                    e["size"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("sub", "dir", 0),
                ("big.txt", "file", 2000),
                ("small.txt", "file", 1)
            ]
        );
        assert_eq!(parsed[1]["mtime"], "2001-09-09T01:46:40Z");

        let html = Listing::read(&root, &path, &ListingQuery::default()).unwrap();
        assert_eq!(html.content_type(), TEXT_HTML);
        let page = String::from_utf8(html.into_body()).unwrap();
        assert!(page.contains("<title>Index of /docs/</title>"));
        assert!(!page.contains("secret"));
        let top = Listing::read(
            &root,
            &resolve_path(base.path(), "/").unwrap(),
            &ListingQuery::default(),
        )
        .unwrap();
        assert!(String::from_utf8_lossy(top.body()).contains("<title>Index of /</title>"));
        fs::remove_dir_all(base.path().join("docs")).unwrap();
        assert!(Listing::read(&root, &path, &query).is_err());
    }
}
