//! Request heads: `HeadScanner`, `parse_request`, `Request::framing` and the accessors
//! on arbitrary bytes.
//!
//! Besides "never panics", it checks the promises the server relies on: the scanner
//! gives the same answer however the buffer grew, the scanner and the parser agree on
//! where a valid head ends, a prefix of the input never gives a different answer than
//! the whole (only `Partial`), and whatever parses is well formed.
#![no_main]

use httpd_proto::{
    Framing, HeadScanner, Header, MAX_HEADERS, ParseError, Request, Status, Version,
    parse_content_length, parse_request,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole_scan = HeadScanner::default().scan(data);
    check_resumed_scan(data, whole_scan);

    let mut slots = [Header::EMPTY; MAX_HEADERS];
    let whole = parse_request(data, &mut slots);
    let whole_outcome = outcome(&whole);
    if let Ok(Status::Complete((request, used))) = whole {
        assert!(used <= data.len());
        // The scanner stops at the same blank line, so the server never hands the parser
        // a head cut short or one that runs into the body.
        assert_eq!(whole_scan, Ok(Status::Complete(used)));
        check_request(&request);
    }

    // A prefix is incomplete or already settled the same way as the whole input.
    for cut in cut_points(data) {
        let mut slots = [Header::EMPTY; MAX_HEADERS];
        let part = outcome(&parse_request(&data[..cut], &mut slots));
        assert!(
            part == Ok(None) || part == whole_outcome,
            "prefix of {cut} bytes: {part:?}, whole: {whole_outcome:?}"
        );
    }

    // Fewer slots than headers is `TooManyHeaders`; enough slots change nothing.
    let n_slots = usize::from(data.first().copied().unwrap_or(0) % 8);
    let mut few = vec![Header::EMPTY; n_slots];
    let small = outcome(&parse_request(data, &mut few));
    match whole_outcome {
        Ok(Some((_, n_headers))) if n_headers <= n_slots => assert_eq!(small, whole_outcome),
        Ok(Some(_)) => assert_eq!(small, Err(ParseError::TooManyHeaders)),
        _ => {}
    }
});

/// `parse_request`'s result reduced to a comparable value: `Ok(None)` for `Partial`,
/// else the head's length and header count, or the error.
type Outcome = Result<Option<(usize, usize)>, ParseError>;

fn outcome(result: &Result<Status<(Request<'_, '_>, usize)>, ParseError>) -> Outcome {
    match result {
        Ok(Status::Complete((request, used))) => Ok(Some((*used, request.headers.len()))),
        Ok(Status::Partial) => Ok(None),
        Err(e) => Err(*e),
    }
}

/// Up to three prefix lengths chosen by the input itself.
fn cut_points(data: &[u8]) -> Vec<usize> {
    let Some((&first, _)) = data.split_first() else {
        return Vec::new();
    };
    let last = data.last().copied().unwrap_or(0);
    let len = data.len();
    vec![
        len * usize::from(first) / 256,
        len * usize::from(last) / 256,
        len.saturating_sub(1),
    ]
}

/// Scans `data` in two reads (split where the input says) and checks that the second
/// read agrees with a single scan of the whole buffer.
fn check_resumed_scan(data: &[u8], whole: Result<Status<usize>, ParseError>) {
    let cut = cut_points(data).first().copied().unwrap_or(0);
    let mut scanner = HeadScanner::default();
    let first = scanner.scan(&data[..cut]);
    match first {
        Ok(Status::Partial) => assert_eq!(scanner.scan(data), whole),
        // A head or a bare LF found in the prefix is found in the whole buffer too.
        settled => assert_eq!(settled, whole),
    }
}

/// Checks what must hold for any head `parse_request` accepted.
fn check_request(request: &Request<'_, '_>) {
    assert!(!request.method.is_empty());
    assert!(request.method.bytes().all(|b| b.is_ascii_graphic()));
    assert!(!request.target.is_empty());
    assert!(request.target.bytes().all(|b| b.is_ascii_graphic()));
    assert!(request.headers.len() <= MAX_HEADERS);
    for header in request.headers {
        assert!(!header.name.is_empty());
        assert!(
            header
                .name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b':')
        );
        assert!(!header.value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)));
        assert_eq!(
            request.header(header.name),
            request.headers_named(header.name).next()
        );
    }
    match request.query() {
        Some(query) => assert_eq!(format!("{}?{query}", request.path()), request.target),
        None => assert_eq!(request.path(), request.target),
    }
    let _ = (
        request.method_kind(),
        request.expects_continue(),
        request.version.as_str(),
    );
    if request.headers_named("connection").next().is_none() {
        assert_eq!(
            request.wants_keep_alive(),
            request.version == Version::Http11
        );
    }
    match request.framing() {
        Ok(Framing::Length(n)) => {
            assert!(request.header("transfer-encoding").is_none());
            for value in request.headers_named("content-length") {
                for element in value.split(|&b| b == b',') {
                    assert_eq!(parse_content_length(trim(element)), Ok(n));
                }
            }
        }
        Ok(Framing::Chunked) => {
            assert!(request.header("content-length").is_none());
            assert_eq!(request.version, Version::Http11);
        }
        Ok(Framing::None) => {
            assert!(request.header("content-length").is_none());
            assert!(request.header("transfer-encoding").is_none());
        }
        Err(_) => {}
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}
