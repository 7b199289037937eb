//! The checks of the fuzz targets in `fuzz/`, shared with `cargo test`.
//!
//! Each `fuzz/fuzz_targets/NAME.rs` includes this file with `#[path]` and calls the
//! function of its name on every input libFuzzer makes; `tests/fuzz_inputs.rs` calls the
//! same functions on the seeds kept in `tests/fuzz_inputs/seeds/NAME/` (and on the local
//! `fuzz/corpus/NAME/` when there is one), so a fuzz finding that is kept as a seed is
//! checked on every `cargo test`, with the very assertions that found it.
//!
//! Every function takes the input in its fuzz target's format and panics when a promise
//! fails. They use only the public API of httpd-proto.

use httpd_proto::{
    ChunkError, ChunkedDecoder, Framing, HeadScanner, Header, LAST_CHUNK, MAX_HEADERS, ParseError,
    RangeRequest, Request, Status, Version, encode_chunk, parse_content_length, parse_range,
    parse_request,
};

/// How many prefixes of a head [`head_parser`] parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cuts {
    /// Three, chosen by the input itself: cheap enough for fuzzing.
    Few,
    /// Every prefix: for replaying kept inputs under `cargo test`.
    All,
}

/// `HeadScanner`, `parse_request`, `Request::framing` and the accessors on `data`.
///
/// Besides "never panics", it checks the promises the server relies on: the scanner
/// gives the same answer however the buffer grew, the scanner and the parser agree on
/// where a valid head ends, a prefix of the input never gives a different answer than
/// the whole (only `Partial`), too few header slots give `TooManyHeaders`, and whatever
/// parses is well formed.
pub fn head_parser(data: &[u8], cuts: Cuts) {
    let whole_scan = HeadScanner::default().scan(data);

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

    let cut_points = match cuts {
        Cuts::Few => few_cut_points(data),
        Cuts::All => (0..data.len()).collect(),
    };
    for cut in cut_points {
        // A prefix is incomplete or already settled the same way as the whole input.
        let mut slots = [Header::EMPTY; MAX_HEADERS];
        let part = outcome(&parse_request(&data[..cut], &mut slots));
        assert!(
            part == Ok(None) || part == whole_outcome,
            "prefix of {cut} bytes: {part:?}, whole: {whole_outcome:?}"
        );
        // A scan resumed after the prefix agrees with one scan of the whole buffer.
        let mut scanner = HeadScanner::default();
        match scanner.scan(&data[..cut]) {
            Ok(Status::Partial) => assert_eq!(scanner.scan(data), whole_scan, "resumed at {cut}"),
            // A head or a bare LF found in the prefix is found in the whole buffer too.
            settled => assert_eq!(settled, whole_scan, "settled at {cut}"),
        }
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
}

/// `ChunkedDecoder` on a body split at arbitrary points, and `encode_chunk` round trips.
///
/// The first byte picks the split pattern; the rest is the body. However the body is
/// split, the decoder must give the same payload, stop at the same byte and fail with
/// the same error as when it gets the body in one piece.
pub fn chunked_decoder(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let whole = decode(body, &[body.len().max(1)]);
    if let Ok((payload, used, _)) = &whole {
        assert!(used <= &body.len());
        assert!(payload.len() <= *used);
    }
    // Piece lengths 1..=8 in a cycle drawn from the seed; then single bytes.
    let steps: Vec<usize> = (0..8)
        .map(|i| 1 + usize::from(seed.rotate_left(i) % 8))
        .collect();
    assert_eq!(decode(body, &steps), whole, "split {steps:?}");
    assert_eq!(decode(body, &[1]), whole, "byte by byte");

    // Whatever the body is, it survives encoding as chunks and decoding.
    let mut encoded = Vec::new();
    for piece in body.chunks(1 + usize::from(seed)) {
        encode_chunk(piece, &mut encoded);
    }
    encoded.extend_from_slice(LAST_CHUNK);
    assert_eq!(
        decode(&encoded, &steps),
        Ok((body.to_vec(), encoded.len(), true))
    );
}

/// `parse_range` on a value, a representation size and a range limit: the ranges it
/// returns are sorted, disjoint, inside the representation and never more bytes than it.
///
/// The input is eight bytes of size (little-endian; even: size = n / 2, odd: a small
/// size, (n / 2) % 20000), one byte of `max_ranges` (modulo 40), then the value.
pub fn range_parser(data: &[u8]) {
    let Some((size_bytes, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Some((&max, value)) = rest.split_first() else {
        return;
    };
    let raw_size = u64::from_le_bytes(*size_bytes);
    let size = if raw_size & 1 == 0 {
        raw_size >> 1
    } else {
        (raw_size >> 1) % 20_000
    };
    let max_ranges = usize::from(max % 40);

    match parse_range(value, size, max_ranges) {
        RangeRequest::Ignore => {}
        RangeRequest::Unsatisfiable => {}
        RangeRequest::Ranges(ranges) => {
            assert!(!ranges.is_empty());
            assert!(ranges.len() <= max_ranges);
            let mut total: u64 = 0;
            for (i, range) in ranges.iter().enumerate() {
                assert!(range.start <= range.end, "{range:?}");
                assert!(range.end < size, "{range:?} size {size}");
                assert!(!range.is_empty());
                assert_eq!(range.len(), range.end - range.start + 1);
                if let Some(prev) = i.checked_sub(1).map(|j| ranges[j]) {
                    // Sorted, and neither overlapping nor touching (those are merged).
                    assert!(range.start > prev.end + 1, "{prev:?} then {range:?}");
                }
                total += range.len();
                let _ = range.content_range(size);
            }
            assert!(total <= size);
        }
    }
}

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
fn few_cut_points(data: &[u8]) -> Vec<usize> {
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
        // Values come trimmed.
        assert!(!header.value.starts_with(b" ") && !header.value.ends_with(b" "));
        assert!(!header.value.starts_with(b"\t") && !header.value.ends_with(b"\t"));
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
            // Every Content-Length value is that one number, never a list.
            for value in request.headers_named("content-length") {
                assert_eq!(parse_content_length(value), Ok(n));
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

/// Decodes `body` fed in pieces whose lengths cycle through `steps`, keeping unused
/// bytes like a server's read buffer. Returns the payload, the bytes used and whether
/// the body ended, or the error.
fn decode(body: &[u8], steps: &[usize]) -> Result<(Vec<u8>, usize, bool), ChunkError> {
    let mut decoder = ChunkedDecoder::default();
    let mut payload = Vec::new();
    let mut buf = Vec::new();
    let mut used_total = 0;
    let mut pos = 0;
    for &step in steps.iter().cycle() {
        if pos >= body.len() || decoder.is_done() {
            break;
        }
        let end = (pos + step).min(body.len());
        buf.extend_from_slice(&body[pos..end]);
        pos = end;
        let used = decoder.decode(&buf, &mut payload)?;
        assert!(used <= buf.len());
        if !decoder.is_done() {
            // Everything is consumed unless the body ended inside the buffer.
            assert_eq!(used, buf.len());
        }
        used_total += used;
        buf.drain(..used);
    }
    // A failed decoder keeps failing; a finished one takes nothing more.
    let mut more = Vec::new();
    if decoder.is_done() {
        assert_eq!(decoder.decode(b"0\r\n\r\n", &mut more), Ok(0));
        assert!(more.is_empty());
    }
    Ok((payload, used_total, decoder.is_done()))
}
