//! The hostile-request corpus (`tests/fixtures/requests.json` in this crate)
//! through httpd-proto alone, the way httpd-server drives it.
//!
//! Each row's bytes go through [`HeadScanner::scan`], the 8192-byte head limit, then
//! [`parse_request`] with [`MAX_HEADERS`] slots, [`Request::framing`](httpd_proto::Request::framing)
//! and, for chunked framing, a [`ChunkedDecoder`] over the bytes after the head. The
//! row's `parser` field names the verdict this must reach:
//!
//! | `parser`             | verdict                                          | status it implies |
//! |----------------------|--------------------------------------------------|-------------------|
//! | `ok`                 | accepted (a chunked body decodes without error)  | none              |
//! | `limit`              | head longer than 8192 bytes                      | 414 or 431        |
//! | a [`ParseError`] name | that error from the scanner, parser or framing   | 505 for `UnsupportedVersion`, 501 for `UnsupportedTransferCoding`, 431 for `TooManyHeaders`, else 400 |
//! | `chunk:` + a [`ChunkError`] name | that error from the chunked decoder  | 400               |
//!
//! The implied status must be the row's `status`: this mirrors `Failure::status` in
//! httpd-server. Rows with `known_bug` are skipped with a `KNOWN: name` line.

use std::collections::BTreeSet;

use httpd_proto::{
    ChunkError, ChunkedDecoder, Framing, HeadScanner, Header, MAX_HEADERS, ParseError, Status,
    parse_request,
};
use serde_json::Value;

/// The corpus, compiled in so that editing it rebuilds the test.
const CORPUS: &str = include_str!("fixtures/requests.json");

/// httpd's default `--max-head` (`httpd_security::DEFAULT_MAX_HEAD_BYTES`); httpd-proto
/// leaves bounding the head to its caller, as the server does with this value.
const MAX_HEAD_BYTES: usize = 8192;

/// Heads up to this size are also parsed at every prefix (quadratic, so bounded).
const PREFIX_CHECK_MAX_BYTES: usize = 2048;

/// Every `ParseError` variant; each must be named by some row.
const PARSE_ERRORS: &[ParseError] = &[
    ParseError::BadRequestLine,
    ParseError::BadMethod,
    ParseError::BadTarget,
    ParseError::BadVersion,
    ParseError::UnsupportedVersion,
    ParseError::BadLineEnding,
    ParseError::BadHeaderName,
    ParseError::FramingLookalike,
    ParseError::BadHeaderValue,
    ParseError::ObsoleteFold,
    ParseError::TooManyHeaders,
    ParseError::BadContentLength,
    ParseError::ConflictingLength,
    ParseError::UnsupportedTransferCoding,
    ParseError::BadTransferEncoding,
];

/// Every `ChunkError` variant; each must be named by some row.
const CHUNK_ERRORS: &[ChunkError] = &[
    ChunkError::BadDigit,
    ChunkError::TooLarge,
    ChunkError::BadLineEnding,
    ChunkError::MissingCrlf,
    ChunkError::LineTooLong,
    ChunkError::BadTrailer,
    ChunkError::BadExtension,
];

/// What httpd-proto makes of a row's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Head and framing accepted; a chunked body (if any) has no error so far.
    Accepted,
    /// The head is over the head limit.
    TooLarge,
    /// The scanner, the parser or `framing()` failed.
    Parse(ParseError),
    /// The chunked body failed.
    Chunk(ChunkError),
}

impl Verdict {
    /// Reads a row's `parser` field.
    fn from_field(field: &str) -> Option<Verdict> {
        match field {
            "ok" => return Some(Verdict::Accepted),
            "limit" => return Some(Verdict::TooLarge),
            _ => {}
        }
        if let Some(name) = field.strip_prefix("chunk:") {
            return CHUNK_ERRORS
                .iter()
                .find(|e| format!("{e:?}") == name)
                .map(|&e| Verdict::Chunk(e));
        }
        PARSE_ERRORS
            .iter()
            .find(|e| format!("{e:?}") == field)
            .map(|&e| Verdict::Parse(e))
    }

    /// Tells whether a server that reached this verdict may answer `status`.
    fn allows_status(self, status: u16) -> bool {
        match self {
            Verdict::Accepted => true,
            Verdict::TooLarge => status == 414 || status == 431,
            Verdict::Parse(ParseError::UnsupportedVersion) => status == 505,
            Verdict::Parse(ParseError::UnsupportedTransferCoding) => status == 501,
            Verdict::Parse(ParseError::TooManyHeaders) => status == 431,
            Verdict::Parse(_) | Verdict::Chunk(_) => status == 400,
        }
    }
}

/// The outcome of running one row through the pipeline.
#[derive(Debug)]
struct Judged {
    verdict: Verdict,
    /// The head's length, once the scanner found it within the limit.
    head_len: Option<usize>,
    /// The framing, once `framing()` accepted it.
    framing: Option<Framing>,
    /// For a chunked body: input bytes used and whether the last chunk was seen.
    chunked: Option<(usize, bool)>,
}

/// One row of the corpus.
struct Row {
    name: String,
    raw: Vec<u8>,
    status: u16,
    close: bool,
    parser: String,
    known_bug: bool,
}

#[test]
fn every_row_gets_the_verdict_it_names() {
    let mut failures = Vec::new();
    for row in rows() {
        if row.known_bug {
            println!(
                "KNOWN: {} (parser says {:?})",
                row.name,
                judge(&row.raw).verdict
            );
            continue;
        }
        let Some(expected) = Verdict::from_field(&row.parser) else {
            failures.push(format!(
                "{}: unknown parser class {:?}",
                row.name, row.parser
            ));
            continue;
        };
        if !expected.allows_status(row.status) {
            failures.push(format!(
                "{}: parser {:?} cannot lead to status {}",
                row.name, row.parser, row.status
            ));
        }
        let judged = judge(&row.raw);
        if judged.verdict != expected {
            failures.push(format!(
                "{}: got {:?}, the row says {:?}",
                row.name, judged.verdict, row.parser
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_names_every_error_variant() {
    let named: BTreeSet<String> = rows()
        .into_iter()
        .filter(|row| !row.known_bug)
        .map(|row| row.parser)
        .collect();
    let missing: Vec<String> = PARSE_ERRORS
        .iter()
        .map(|e| format!("{e:?}"))
        .chain(CHUNK_ERRORS.iter().map(|e| format!("chunk:{e:?}")))
        .filter(|name| !named.contains(name))
        .collect();
    assert!(missing.is_empty(), "no row exercises {missing:?}");
}

#[test]
fn heads_give_the_same_answer_at_every_prefix() {
    for row in rows() {
        let raw = row.raw.as_slice();
        // The scanner, fed one byte more each time, stops where a whole-buffer scan does.
        let whole = HeadScanner::default().scan(raw);
        let mut scanner = HeadScanner::default();
        let mut first = Ok(Status::Partial);
        for end in 1..=raw.len() {
            first = scanner.scan(&raw[..end]);
            if first != Ok(Status::Partial) {
                break;
            }
        }
        assert_eq!(first, whole, "{}: byte-by-byte scan", row.name);

        // Every strict prefix of a head is Partial or already fails as the head does.
        let Ok(Status::Complete(head_len)) = whole else {
            continue;
        };
        if head_len > PREFIX_CHECK_MAX_BYTES {
            continue;
        }
        let full = parse_outcome(&raw[..head_len]);
        for end in 0..head_len {
            let part = parse_outcome(&raw[..end]);
            assert!(
                part == Ok(None) || part == full,
                "{}: prefix of {end} bytes gave {part:?}, the head gave {full:?}",
                row.name
            );
        }
    }
}

#[test]
fn chunked_bodies_decode_the_same_however_split() {
    for row in rows() {
        let judged = judge(&row.raw);
        let (Some(head_len), Some(Framing::Chunked)) = (judged.head_len, judged.framing) else {
            continue;
        };
        let body = &row.raw[head_len..];
        let whole = decode(body, body.len());
        for step in [1, 2, 3, 7] {
            assert_eq!(decode(body, step), whole, "{} in steps of {step}", row.name);
        }
    }
}

#[test]
fn keep_alive_rows_are_framed_exactly() {
    // A row that keeps the connection must hold exactly one request, or the integration
    // test's follow-up request would be read as the rest of its body.
    for row in rows().into_iter().filter(|r| !r.close && !r.known_bug) {
        let judged = judge(&row.raw);
        let head_len = judged
            .head_len
            .unwrap_or_else(|| panic!("{}: keep-alive row without a head", row.name));
        let rest = row.raw.len() - head_len;
        match judged.framing {
            Some(Framing::None) => assert_eq!(rest, 0, "{}: bytes after the head", row.name),
            Some(Framing::Length(n)) => {
                assert_eq!(rest as u64, n, "{}: body length", row.name);
            }
            Some(Framing::Chunked) => {
                assert_eq!(
                    judged.chunked,
                    Some((rest, true)),
                    "{}: chunked body",
                    row.name
                );
            }
            None => panic!("{}: keep-alive row with bad framing", row.name),
        }
    }
}

/// Runs `raw` through the pipeline httpd-server uses.
fn judge(raw: &[u8]) -> Judged {
    let mut judged = Judged {
        verdict: Verdict::Accepted,
        head_len: None,
        framing: None,
        chunked: None,
    };
    let head_len = match HeadScanner::default().scan(raw) {
        Err(e) => {
            judged.verdict = Verdict::Parse(e);
            return judged;
        }
        Ok(Status::Complete(n)) if n <= MAX_HEAD_BYTES => n,
        Ok(Status::Complete(_)) => {
            judged.verdict = Verdict::TooLarge;
            return judged;
        }
        Ok(Status::Partial) => {
            // The server waits for more unless the buffer is already over the limit.
            assert!(
                raw.len() > MAX_HEAD_BYTES,
                "an incomplete head is not a row"
            );
            judged.verdict = Verdict::TooLarge;
            return judged;
        }
    };
    judged.head_len = Some(head_len);
    let mut slots = [Header::EMPTY; MAX_HEADERS];
    let request = match parse_request(&raw[..head_len], &mut slots) {
        Ok(Status::Complete((request, used))) => {
            assert_eq!(
                used, head_len,
                "the scanner and the parser disagree on the head"
            );
            request
        }
        Ok(Status::Partial) => panic!("the scanner found a head the parser finds incomplete"),
        Err(e) => {
            judged.verdict = Verdict::Parse(e);
            return judged;
        }
    };
    exercise_accessors(&request);
    let framing = match request.framing() {
        Ok(framing) => framing,
        Err(e) => {
            judged.verdict = Verdict::Parse(e);
            return judged;
        }
    };
    judged.framing = Some(framing);
    if framing == Framing::Chunked {
        let mut decoder = ChunkedDecoder::default();
        let mut payload = Vec::new();
        match decoder.decode(&raw[head_len..], &mut payload) {
            Ok(used) => judged.chunked = Some((used, decoder.is_done())),
            Err(e) => judged.verdict = Verdict::Chunk(e),
        }
    }
    judged
}

/// Calls every accessor a server uses and checks what holds for any parsed head.
fn exercise_accessors(request: &httpd_proto::Request<'_, '_>) {
    let target = request.target;
    match request.query() {
        Some(query) => assert_eq!(format!("{}?{query}", request.path()), target),
        None => assert_eq!(request.path(), target),
    }
    assert!(request.headers.len() <= MAX_HEADERS);
    for header in request.headers {
        assert_eq!(
            request.headers_named(header.name).next(),
            request.header(header.name)
        );
    }
    let _ = (
        request.method_kind(),
        request.wants_keep_alive(),
        request.expects_continue(),
        request.version.as_str(),
    );
}

/// `parse_request` reduced to a comparable value: `Ok(None)` for `Partial`, else the
/// head's length or the error.
fn parse_outcome(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut slots = [Header::EMPTY; MAX_HEADERS];
    parse_request(buf, &mut slots).map(|status| match status {
        Status::Complete((_, used)) => Some(used),
        Status::Partial => None,
    })
}

/// Decodes `body` fed in pieces of `step` bytes, buffering unused bytes like the server.
/// Returns the payload, the bytes used and whether the body ended, or the first error.
fn decode(body: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
    let mut decoder = ChunkedDecoder::default();
    let mut payload = Vec::new();
    let mut buf = Vec::new();
    let mut used_total = 0;
    for piece in body.chunks(step.max(1)) {
        if decoder.is_done() {
            break;
        }
        buf.extend_from_slice(piece);
        let used = decoder.decode(&buf, &mut payload)?;
        used_total += used;
        buf.drain(..used);
    }
    Ok((payload, used_total, decoder.is_done()))
}

/// Reads the corpus.
fn rows() -> Vec<Row> {
    let all: Vec<Value> = serde_json::from_str(CORPUS).expect("requests.json is valid JSON");
    all.iter().map(row).collect()
}

fn row(value: &Value) -> Row {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let name = text("name").expect("each row has a name");
    let raw = match (text("raw"), text("raw_hex")) {
        (Some(raw), None) => raw.into_bytes(),
        (None, Some(hex)) => decode_hex(&hex).unwrap_or_else(|| panic!("{name}: bad raw_hex")),
        _ => panic!("{name}: needs exactly one of raw and raw_hex"),
    };
    let status = value
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or_else(|| panic!("{name}: status must be a status code"));
    let close = value
        .get("close")
        .and_then(Value::as_bool)
        .unwrap_or_else(|| panic!("{name}: close must be a boolean"));
    let parser = text("parser").unwrap_or_else(|| panic!("{name}: parser is required"));
    Row {
        known_bug: value.get("known_bug").is_some(),
        name,
        raw,
        status,
        close,
        parser,
    }
}

/// Decodes lowercase or uppercase hex, two digits a byte.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match *pair {
            [hi, lo] => Some(digit(hi)? << 4 | digit(lo)?),
            _ => None,
        })
        .collect()
}
