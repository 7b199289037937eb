//! `browser/images_decode`: a real browser, Debian's headless
//! Chromium, loads every page of `resources/` from the server.
//!
//! The server runs with its default options, which send no
//! `Content-Security-Policy` on the docroot's pages, so an ordinary site's inline
//! scripts and styles run: the check is a page written into the docroot
//! (`check.html`) whose script and style are both inline. The style must apply
//! (the script checks a computed style and sets `data-style="applied"`), and the
//! script opens each page in an iframe (`X-Frame-Options: SAMEORIGIN` allows
//! it), waits for the frame's load event (which waits for every image), and
//! writes one line per `<img>`, `PAGE SRC NATURAL_WIDTH NATURAL_HEIGHT STATE`,
//! into `<pre id="result">`; STATE is `decoded` when the image is complete
//! and the browser decoded a size from it (`naturalWidth > 0`), else
//! `broken`. Chromium's `--dump-dom` prints that DOM. Every `<img>` of every
//! page (read from the HTML here) must be listed as `decoded`, with the width
//! and height that the image file's own header gives. (`img.decode()` is not
//! used: its promise settles off the virtual clock that `--dump-dom
//! --virtual-time-budget` runs on, so it may not have settled at the dump.)
//!
//! Each page is also saved as a 1280x900 screenshot,
//! `target/e2e/browser-PAGE.png`, for a person to look at. Chromium runs
//! with a fresh profile under this run's directory. When Chromium is missing
//! (and cannot be installed with apt-get), the scenario is skipped.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::checks::LOG_WAIT;
use super::promtool::debian_tool;
use super::scenarios::Outcome;
use super::{Ctx, collect, skip, wait_bounded};

/// How long one Chromium run may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// Flags of every Chromium run: headless, no sandbox (root in a container),
/// and nothing that reaches beyond loopback.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
];

/// The checker page; `{PAGES}` becomes the space-separated page names.
const CHECK_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>image check</title>
  <style>#result { white-space: pre-wrap; }</style>
</head>
<body>
  <pre id="result" data-pages="{PAGES}">pending</pre>
  <script>{SCRIPT}</script>
</body>
</html>
"#;

/// The checker script (see the module documentation).
const CHECK_JS: &str = r#""use strict";
// Opens every page of data-pages in a same-origin iframe and, once the frame
// has loaded (its load event waits for every image to load or fail), writes
// one line per image into #result.
const out = document.getElementById("result");
// The inline <style> above must have applied, as the inline script is running.
out.dataset.style =
  getComputedStyle(out).whiteSpace === "pre-wrap" ? "applied" : "blocked";

function loadFrame(page) {
  return new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.width = "1280";
    frame.height = "900";
    frame.addEventListener("load", () => resolve(frame), { once: true });
    frame.src = page;
    document.body.appendChild(frame);
  });
}

async function checkPage(page) {
  const frame = await loadFrame(page);
  const doc = frame.contentDocument;
  if (!doc) {
    return [page + " - 0 0 no-document"];
  }
  const lines = Array.from(doc.images).map((img) => {
    const state = img.complete && img.naturalWidth > 0 ? "decoded" : "broken";
    return [page, img.getAttribute("src"), img.naturalWidth, img.naturalHeight, state].join(" ");
  });
  if (lines.length === 0) {
    lines.push(page + " - 0 0 no-images");
  }
  return lines;
}

async function main() {
  const lines = [];
  for (const page of out.dataset.pages.split(" ")) {
    try {
      lines.push(...(await checkPage(page)));
    } catch (e) {
      lines.push(page + " - 0 0 error:" + String(e).replace(/\s+/g, "_"));
    }
  }
  out.textContent = lines.join("\n");
  out.dataset.done = "yes";
}

main();
"#;

/// One image as the browser reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    page: String,
    src: String,
    width: u32,
    height: u32,
    state: String,
}

impl Seen {
    /// The line the check script writes for this image.
    fn line(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.page, self.src, self.width, self.height, self.state
        )
    }
}

pub fn images_decode(ctx: &Ctx) -> Outcome {
    let chromium = debian_tool(ctx, "chromium", "chromium", &[])
        .map_err(|why| skip(&format!("chromium missing: {why}")))?;
    let pages = html_pages(&ctx.paths.resources)?;
    ensure!(
        !pages.is_empty(),
        "no .html page in {}",
        ctx.paths.resources.display()
    );
    // Default options: the inline script and style must run under them.
    let srv = ctx.start("browser", &[])?;
    let write = |name: &str, text: &str| {
        let path = srv.root.join(name);
        fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))
    };
    write(
        "check.html",
        &CHECK_HTML
            .replace("{PAGES}", &pages.join(" "))
            .replace("{SCRIPT}", CHECK_JS),
    )?;

    let mut expected = Vec::new();
    for page in &pages {
        let html = fs::read_to_string(srv.root.join(page))
            .map_err(|e| format!("read {page} from the docroot: {e}"))?;
        for src in img_sources(&html) {
            let bytes =
                fs::read(srv.root.join(&src)).map_err(|e| format!("{page}: image {src}: {e}"))?;
            let (width, height) = image_size(&bytes)
                .ok_or_else(|| format!("{page}: cannot read the size of {src}"))?;
            expected.push(Seen {
                page: page.clone(),
                src,
                width,
                height,
                state: "decoded".to_string(),
            });
        }
    }

    let profiles = ctx.run_dir.join("browser").join("profiles");
    let base = format!("http://127.0.0.1:{}", srv.port());
    let dom = chromium_run(
        &chromium,
        &profiles.join("check"),
        &ctx.paths.e2e_dir.join("browser-check.chromium.log"),
        &[
            "--dump-dom",
            "--virtual-time-budget=5000",
            &format!("{base}/check.html"),
        ],
    )?;
    let dom_path = ctx.paths.e2e_dir.join("browser-check.dom.html");
    fs::write(&dom_path, &dom).map_err(|e| format!("write {}: {e}", dom_path.display()))?;
    let seen = parse_result(&dom).map_err(|e| format!("{e} (DOM in {})", dom_path.display()))?;
    let wrong: Vec<String> = seen
        .iter()
        .filter(|s| !expected.contains(s))
        .map(Seen::line)
        .collect();
    let missing: Vec<String> = expected
        .iter()
        .filter(|e| !seen.contains(e))
        .map(Seen::line)
        .collect();
    ensure!(
        seen == expected,
        "the browser reported {wrong:?} instead of {missing:?} (DOM in {})",
        dom_path.display()
    );

    for page in &pages {
        let stem = page.trim_end_matches(".html");
        let shot = ctx.paths.e2e_dir.join(format!("browser-{stem}.png"));
        let _ = fs::remove_file(&shot);
        chromium_run(
            &chromium,
            &profiles.join(stem),
            &ctx.paths
                .e2e_dir
                .join(format!("browser-{stem}.chromium.log")),
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1280,900",
                &format!("{base}/{page}"),
            ],
        )?;
        let bytes = fs::read(&shot).map_err(|e| format!("screenshot of {page}: {e}"))?;
        ensure!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && image_size(&bytes) == Some((1280, 900)),
            "screenshot {} is not a 1280x900 PNG",
            shot.display()
        );
    }
    for src in expected.iter().map(|s| &s.src) {
        let needle = format!("\"GET /{src} HTTP/1.1\" 200");
        ensure!(
            srv.access_contains(&needle, LOG_WAIT),
            "{} lacks {needle:?}",
            srv.access_path.display()
        );
    }
    Ok(())
}

/// Runs Chromium with the common flags, a fresh profile and `args`; its
/// stderr goes to `log`. Returns its stdout.
pub(super) fn chromium_run(
    chromium: &Path,
    profile: &Path,
    log: &Path,
    args: &[&str],
) -> Result<String, String> {
    fs::create_dir_all(profile).map_err(|e| format!("create {}: {e}", profile.display()))?;
    let log_file = File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let mut child = Command::new(chromium)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", chromium.display()))?;
    let stdout = collect(child.stdout.take());
    let status = wait_bounded(&mut child, CHROMIUM_TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = stdout.join().unwrap_or_default();
    let status = status
        .ok_or_else(|| format!("chromium {args:?} still running after {CHROMIUM_TIMEOUT:?}"))?;
    ensure!(
        status.success(),
        "chromium {args:?}: exit {status} (stderr in {})",
        log.display()
    );
    Ok(stdout)
}

/// Lists the `.html` files of `dir` (not below it), sorted.
fn html_pages(dir: &Path) -> Result<Vec<String>, String> {
    let mut pages: Vec<String> = fs::read_dir(dir)
        .map_err(|e| format!("list {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    pages.sort();
    Ok(pages)
}

/// Returns the `src` of every `<img>` of `html`, in order (double-quoted
/// attributes, as the pages of `resources/` write them).
fn img_sources(html: &str) -> Vec<String> {
    html.split("<img")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            let value = tag.split(" src=\"").nth(1)?;
            Some(value[..value.find('"')?].to_string())
        })
        .collect()
}

/// Reads the pixel size from a PNG (`IHDR`) or JPEG (`SOFn`) header.
fn image_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| {
        Some(u32::from(u16::from_be_bytes([
            *bytes.get(i)?,
            *bytes.get(i + 1)?,
        ])))
    };
    let be32 = |i: usize| Some(u32::from_be_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // Walk the marker segments: FF xx, then a 2-byte length that counts itself.
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        let len = usize::try_from(be16(i + 2)?).ok()?;
        let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            return Some((be16(i + 7)?, be16(i + 5)?));
        }
        i += 2 + len;
    }
    None
}

/// Parses the lines of `<pre id="result" ... data-done="yes">` in a dumped DOM.
fn parse_result(dom: &str) -> Result<Vec<Seen>, String> {
    let start = dom
        .find("<pre id=\"result\"")
        .ok_or("no <pre id=\"result\"> in the dumped DOM")?;
    let rest = &dom[start..];
    let open_end = rest.find('>').ok_or("unterminated <pre> tag")?;
    ensure!(
        rest[..open_end].contains("data-done=\"yes\""),
        "the inline script did not run to its end: {:?}",
        &rest[..open_end]
    );
    ensure!(
        rest[..open_end].contains("data-style=\"applied\""),
        "the inline style did not apply: {:?}",
        &rest[..open_end]
    );
    let body = &rest[open_end + 1..];
    let body = &body[..body.find("</pre>").ok_or("no </pre>")?];
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let number = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| format!("bad number in result line {line:?}"))
            };
            ensure!(f.len() == 5, "result line {line:?} has not 5 fields");
            Ok(Seen {
                page: f[0].to_string(),
                src: f[1].to_string(),
                width: number(f[2])?,
                height: number(f[3])?,
                state: f[4].to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn img_sources_are_read_in_order() {
        let html = r#"<p><img src="a.png" alt="x"> <img alt="y" width="3" src="b.jpg"><img></p>"#;
        assert_eq!(img_sources(html), ["a.png", "b.jpg"]);
    }

    #[test]
    fn image_sizes_from_png_and_jpeg_headers() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&[0, 0, 0, 160, 0, 0, 0, 90]);
        assert_eq!(image_size(&png), Some((160, 90)));
        // SOI, an APP0 segment of 4 bytes, then SOF0 with height 480, width 640.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 17, 8, 0x01, 0xE0, 0x02, 0x80,
        ];
        assert_eq!(image_size(&jpeg), Some((640, 480)));
        assert_eq!(image_size(b"GIF89a"), None);
    }

    #[test]
    fn result_lines_are_parsed_only_when_done() {
        let dom = "<body><pre id=\"result\" data-pages=\"a.html\" data-style=\"applied\" \
                   data-done=\"yes\">\
                   a.html logo.png 160 160 decoded\na.html x.jpg 0 0 undecodable</pre>";
        let seen = parse_result(dom).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            (seen[0].width, seen[1].state.as_str()),
            (160, "undecodable")
        );
        assert!(parse_result("<pre id=\"result\" data-pages=\"a\">pending</pre>").is_err());
        // The script ran but the inline style was blocked.
        let blocked = dom.replace("applied", "blocked");
        assert!(parse_result(&blocked).is_err());
        assert!(parse_result("<html></html>").is_err());
    }
}
