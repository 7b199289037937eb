//! `browser/site_renders`: a small real website, `xtask/fixtures/site/` (made by
//! `xtask/fixtures/make_site.py`), served with `--web --fallback /index.html
//! --error-page 404=/404.html`, and rendered by headless Chromium with its script
//! really running.
//!
//! The site is what a bundler writes: `index.html` naming content-hashed assets
//! (`app.<hash>.css`, `app.<hash>.js` and its source map, a WOFF2 font, a WebP, an
//! SVG, a WebAssembly module). First the scenario checks over HTTP what the browser
//! relies on: each asset's media type (Chromium enforces them for scripts and styles
//! under `X-Content-Type-Options: nosniff`, and `instantiateStreaming` needs
//! `application/wasm`), `Cache-Control` (immutable for hashed names, `no-cache` for
//! the page), the fallback page for a deep link and the custom 404 page for a
//! missing asset.
//!
//! Then Chromium loads the page. Its script waits for the load event, checks the
//! font (`document.fonts`: the face is loaded and matches), both images
//! (`naturalWidth`), instantiates the module and calls `add(2, 40)`, writes one line
//! per check into `<pre id="result">` and turns the status bar green only if every
//! check passed. `--dump-dom` gives the lines, which must be exactly the expected
//! ones. A 1280x900 screenshot (`target/e2e/browser-site.png`) is decoded and sampled:
//! the green status bar (the script ran to its end), the stylesheet's background,
//! the font's "O" (a solid square in the site's font, a ring in any fallback font,
//! so its centre is coloured only when the font is used), the WebP's blue and the
//! SVG's orange.

use std::fs;
use std::io::Read;
use std::path::Path;

use super::browser::chromium_run;
use super::checks::LOG_WAIT;
use super::promtool::debian_tool;
use super::scenarios::Outcome;
use super::{Ctx, skip};
use crate::common::server::httpd_args;
use crate::common::{client, copy_dir};

/// The flags the site is served with.
const FLAGS: &[&str] = &[
    "--web",
    "--fallback",
    "/index.html",
    "--error-page",
    "404=/404.html",
];

/// The lines the page's script must write, in order.
const EXPECTED: &[&str] = &[
    "script ran",
    "font loaded",
    "webp 200x150",
    "svg 150x150",
    "wasm 42",
];

/// Points of the screenshot and the colour each must have (within [`TOLERANCE`]),
/// as `xtask/fixtures/make_site.py` lays the page out.
const SAMPLES: &[(&str, u32, u32, [u8; 3])] = &[
    (
        "the status bar the script turns green",
        640,
        30,
        [0x1a, 0x98, 0x50],
    ),
    ("the stylesheet's background", 1000, 600, [0xf4, 0xf1, 0xea]),
    ("the site font's square O", 100, 148, [0x7b, 0x32, 0x94]),
    ("the WebP", 400, 175, [33, 102, 172]),
    ("the SVG", 635, 175, [0xfd, 0xae, 0x61]),
];

/// How far each channel of a sampled pixel may be from the expected colour.
const TOLERANCE: u8 = 6;

pub fn site_renders(ctx: &Ctx) -> Outcome {
    let chromium = debian_tool(ctx, "chromium", "chromium", &[])
        .map_err(|why| skip(&format!("chromium missing: {why}")))?;
    let fixture = ctx.paths.workspace.join("xtask/fixtures/site");
    let root = ctx.run_dir.join("site").join("root");
    copy_dir(&fixture, &root).map_err(|e| format!("copy {}: {e}", fixture.display()))?;
    fs::create_dir_all(root.join("uploads")).map_err(|e| format!("create uploads: {e}"))?;
    let srv = ctx.spawn("site", &httpd_args(&root, "debug", FLAGS), root.clone())?;

    check_http(srv.addr, &root)?;

    let profiles = ctx.run_dir.join("site").join("profiles");
    let url = format!("http://127.0.0.1:{}/", srv.port());
    let common = ["--virtual-time-budget=10000", "--window-size=1280,900"];
    let dom = chromium_run(
        &chromium,
        &profiles.join("dom"),
        &ctx.paths.e2e_dir.join("browser-site-dom.chromium.log"),
        &[common[0], common[1], "--dump-dom", &url],
    )?;
    let dom_path = ctx.paths.e2e_dir.join("browser-site.dom.html");
    fs::write(&dom_path, &dom).map_err(|e| format!("write {}: {e}", dom_path.display()))?;
    let lines = result_lines(&dom).map_err(|e| format!("{e} (DOM in {})", dom_path.display()))?;
    ensure!(
        lines == EXPECTED,
        "the page's script reported {lines:?}, not {EXPECTED:?} (DOM in {})",
        dom_path.display()
    );

    let shot = ctx.paths.e2e_dir.join("browser-site.png");
    let _ = fs::remove_file(&shot);
    chromium_run(
        &chromium,
        &profiles.join("shot"),
        &ctx.paths.e2e_dir.join("browser-site-shot.chromium.log"),
        &[
            common[0],
            common[1],
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    )?;
    let bytes = fs::read(&shot).map_err(|e| format!("read {}: {e}", shot.display()))?;
    let image = Png::decode(&bytes).map_err(|e| format!("{}: {e}", shot.display()))?;
    ensure!(
        (image.width, image.height) == (1280, 900),
        "{} is {}x{}, not 1280x900",
        shot.display(),
        image.width,
        image.height
    );
    for &(what, x, y, expected) in SAMPLES {
        let seen = image.rgb(x, y).ok_or("pixel outside the image")?;
        let close = seen
            .iter()
            .zip(expected)
            .all(|(&s, e)| s.abs_diff(e) <= TOLERANCE);
        ensure!(
            close,
            "{what} at ({x}, {y}) is {seen:02x?}, not {expected:02x?} ({})",
            shot.display()
        );
    }
    for asset in ["site.", "add.", "photo.", "logo.", "app."] {
        let needle = format!("\"GET /assets/{asset}");
        ensure!(
            srv.access_contains(&needle, LOG_WAIT),
            "the browser never asked for {asset}* ({})",
            srv.access_path.display()
        );
    }
    Ok(())
}

/// Checks the media types, caching, fallback and error page the browser relies on.
fn check_http(addr: std::net::SocketAddr, root: &Path) -> Outcome {
    let get = |target: &str| {
        client::exchange(addr, &client::get(target, "localhost", "")).map(|(_, r)| r)
    };
    let assets = fs::read_dir(root.join("assets"))
        .map_err(|e| format!("list assets: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let mut n_assets = 0;
    for name in assets {
        let media_type = match name.rsplit('.').next().unwrap_or("") {
            "css" => "text/css; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            "map" => "application/json",
            "woff2" => "font/woff2",
            "webp" => "image/webp",
            "svg" => "image/svg+xml",
            "wasm" => "application/wasm",
            other => return Err(format!("unexpected asset type {other} ({name})")),
        };
        let r = get(&format!("/assets/{name}"))?;
        ensure!(r.status == 200, "/assets/{name}: {}", r.summary());
        ensure!(
            r.header("content-type") == Some(media_type),
            "/assets/{name}: Content-Type {:?}, not {media_type}",
            r.header("content-type")
        );
        ensure!(
            r.header("cache-control") == Some("public, max-age=31536000, immutable"),
            "/assets/{name} is hashed but has Cache-Control {:?}",
            r.header("cache-control")
        );
        ensure!(
            r.header("content-disposition").is_none(),
            "/assets/{name} is sent as a download"
        );
        n_assets += 1;
    }
    ensure!(n_assets == 7, "{n_assets} assets, not 7");
    let index = fs::read(root.join("index.html")).map_err(|e| format!("read index: {e}"))?;
    let page = get("/")?;
    ensure!(
        page.status == 200 && page.body == index,
        "/: {}",
        page.summary()
    );
    ensure!(
        page.header("cache-control") == Some("no-cache"),
        "/ has Cache-Control {:?}",
        page.header("cache-control")
    );
    let deep = get("/account/settings")?;
    ensure!(
        deep.status == 200 && deep.body == index,
        "a deep link did not get the fallback page: {}",
        deep.summary()
    );
    let not_found = fs::read(root.join("404.html")).map_err(|e| format!("read 404: {e}"))?;
    let missing = get("/assets/app.0123abcd.js")?;
    ensure!(
        missing.status == 404 && missing.body == not_found,
        "a missing asset did not get the custom 404 page: {}",
        missing.summary()
    );
    Ok(())
}

/// The lines of `<pre id="result" ... data-done="yes">` in a dumped DOM.
fn result_lines(dom: &str) -> Result<Vec<String>, String> {
    let start = dom
        .find("<pre id=\"result\"")
        .ok_or("no <pre id=\"result\"> in the dumped DOM")?;
    let rest = &dom[start..];
    let open_end = rest.find('>').ok_or("unterminated <pre> tag")?;
    let body = &rest[open_end + 1..];
    let body = &body[..body.find("</pre>").ok_or("no </pre>")?];
    ensure!(
        rest[..open_end].contains("data-done=\"yes\""),
        "the page's script did not finish: {:?} {body:?}",
        &rest[..open_end]
    );
    Ok(body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// A decoded PNG: 8-bit RGB or RGBA, not interlaced (what Chromium writes).
struct Png {
    width: u32,
    height: u32,
    /// Bytes per pixel: 3 or 4.
    channels: usize,
    /// The unfiltered rows, one after the other.
    pixels: Vec<u8>,
}

impl Png {
    /// Decodes `bytes` (PNG specification, sections 5, 7.2 and 9).
    fn decode(bytes: &[u8]) -> Result<Png, String> {
        let body = bytes
            .strip_prefix(b"\x89PNG\r\n\x1a\n")
            .ok_or("not a PNG")?;
        let mut at = 0;
        let mut header = None;
        let mut data = Vec::new();
        while at + 8 <= body.len() {
            let len = u32::from_be_bytes(body[at..at + 4].try_into().map_err(|_| "bad chunk")?);
            let len = usize::try_from(len).map_err(|_| "bad chunk length")?;
            let kind = &body[at + 4..at + 8];
            let content = body
                .get(at + 8..at + 8 + len)
                .ok_or("a chunk runs past the end")?;
            match kind {
                b"IHDR" => header = Some(content.to_vec()),
                b"IDAT" => data.extend_from_slice(content),
                b"IEND" => break,
                _ => {}
            }
            at += 12 + len;
        }
        let header = header.ok_or("no IHDR")?;
        ensure!(header.len() == 13, "IHDR of {} bytes", header.len());
        let be32 =
            |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let (width, height) = (be32(0), be32(4));
        let (depth, colour, interlace) = (header[8], header[9], header[12]);
        let channels = match (depth, colour, interlace) {
            (8, 2, 0) => 3,
            (8, 6, 0) => 4,
            _ => {
                return Err(format!(
                    "unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}"
                ));
            }
        };
        let stride = usize::try_from(width).map_err(|_| "too wide")? * channels;
        let rows = usize::try_from(height).map_err(|_| "too tall")?;
        let mut raw = Vec::with_capacity((stride + 1) * rows);
        flate2::read::ZlibDecoder::new(&data[..])
            .take(((stride + 1) * rows) as u64)
            .read_to_end(&mut raw)
            .map_err(|e| format!("inflate: {e}"))?;
        ensure!(
            raw.len() == (stride + 1) * rows,
            "{} bytes of image data",
            raw.len()
        );
        let mut pixels = vec![0u8; stride * rows];
        for y in 0..rows {
            let filter = raw[y * (stride + 1)];
            let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
            for x in 0..stride {
                let a = if x >= channels {
                    pixels[y * stride + x - channels]
                } else {
                    0
                };
                let b = if y > 0 {
                    pixels[(y - 1) * stride + x]
                } else {
                    0
                };
                let c = if x >= channels && y > 0 {
                    pixels[(y - 1) * stride + x - channels]
                } else {
                    0
                };
                let predicted = match filter {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    4 => paeth(a, b, c),
                    other => return Err(format!("unknown row filter {other}")),
                };
                pixels[y * stride + x] = line[x].wrapping_add(predicted);
            }
        }
        Ok(Png {
            width,
            height,
            channels,
            pixels,
        })
    }

    /// The colour at (`x`, `y`), without alpha.
    fn rgb(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let stride = self.width as usize * self.channels;
        let at = y as usize * stride + x as usize * self.channels;
        Some([self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]])
    }
}

/// The Paeth predictor (PNG specification, section 9.4).
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (ia, ib, ic) = (i16::from(a), i16::from(b), i16::from(c));
    let p = ia + ib - ic;
    let (pa, pb, pc) = ((p - ia).abs(), (p - ib).abs(), (p - ic).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Encodes RGB rows as a PNG with the given filter byte on each row.
    fn encode(width: u32, rows: &[Vec<u8>], filter: u8) -> Vec<u8> {
        let mut raw = Vec::new();
        for row in rows {
            raw.push(filter);
            raw.extend_from_slice(row);
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw).unwrap();
        let data = z.finish().unwrap();
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], content: &[u8]| {
            png.extend_from_slice(&(content.len() as u32).to_be_bytes());
            png.extend_from_slice(kind);
            png.extend_from_slice(content);
            png.extend_from_slice(&[0; 4]); // CRC, not checked
        };
        let mut header = width.to_be_bytes().to_vec();
        header.extend_from_slice(&(rows.len() as u32).to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(b"IHDR", &header);
        chunk(b"IDAT", &data);
        chunk(b"IEND", &[]);
        png
    }

    #[test]
    fn png_rows_are_unfiltered() {
        // Filter 0: the bytes as they are.
        let png = encode(2, &[vec![1, 2, 3, 4, 5, 6], vec![7, 8, 9, 10, 11, 12]], 0);
        let image = Png::decode(&png).unwrap();
        assert_eq!(image.rgb(1, 1), Some([10, 11, 12]));
        assert_eq!(image.rgb(2, 0), None);
        // Filter 1 (Sub): each byte adds the one a pixel to the left.
        let png = encode(2, &[vec![10, 20, 30, 1, 1, 1]], 1);
        assert_eq!(Png::decode(&png).unwrap().rgb(1, 0), Some([11, 21, 31]));
        // Filter 2 (Up): each byte adds the one above.
        let png = encode(1, &[vec![5, 6, 7], vec![1, 2, 3]], 2);
        assert_eq!(Png::decode(&png).unwrap().rgb(0, 1), Some([6, 8, 10]));
        assert!(Png::decode(b"GIF89a").is_err());
    }

    #[test]
    fn the_paeth_predictor_picks_the_nearest_neighbour() {
        assert_eq!(paeth(10, 20, 10), 20);
        assert_eq!(paeth(20, 10, 10), 20);
        assert_eq!(paeth(5, 5, 5), 5);
    }

    #[test]
    fn result_lines_need_a_finished_script() {
        let dom = "<pre id=\"result\" data-done=\"yes\">script ran\nwasm 42</pre>";
        assert_eq!(result_lines(dom).unwrap(), ["script ran", "wasm 42"]);
        assert!(result_lines("<pre id=\"result\">pending</pre>").is_err());
        assert!(result_lines("<html></html>").is_err());
    }
}
