//! Inputs the fuzz targets in `fuzz/` found worth keeping, replayed with the same checks
//! on every `cargo test`: boundary bytes (a final CR, `HTTP/1.3` before its next byte,
//! leading empty lines), heads cut anywhere, and chunked bodies split anywhere.
//!
//! The checks are those of `fuzz/fuzz_targets/{head_parser,chunked_decoder,range_parser}.rs`:
//! a prefix of the input never answers differently from the whole (only `Partial`), a
//! scan resumed after any split agrees with one scan, the scanner and the parser agree
//! on where a head ends, too few header slots give `TooManyHeaders`, a chunked body
//! decodes the same however it is split, and ranges stay sorted, disjoint and in bounds.

use httpd_proto::{
    ChunkError, ChunkedDecoder, HeadScanner, Header, LAST_CHUNK, MAX_HEADERS, ParseError,
    RangeRequest, Status, encode_chunk, parse_range,
};

/// Heads and head fragments at the parser's decision points.
const HEADS: &[&[u8]] = &[
    b"GET / HTTP/1.3",
    b"GET / HTTP/1.3\r",
    b"GET / HTTP/1.32\r\n\r\n",
    b"GET / HTTP/1.1\r",
    b"GET / HTTP/1.1\r\n\r",
    b"GET / HTTP/1.1\r\n\r\r\n",
    b"GET / HTTP/1.1\r\n\r\n\n",
    b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\n",
    b"\r\n\r\n\r\n\r\n\r",
    b"\r\n\r\n\r\n\r\n\r\n",
    b"\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"\n",
    b"\r\r\n",
    b"GET /\r\n\r\n",
    b"GET \r\n\r\n",
    b"G\r\n\r\n",
    b" \r\n\r\n",
    b"GET / HTTP/1.1\r\n:\r\n\r\n",
    b"GET / HTTP/1.1\r\nA\r\n\r\n",
    b"GET / HTTP/1.1\r\nA:\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: \xff\x80\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: b\r\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: b\r\n \r\n\r\n",
    b"GET / HTTP/1.1\r\nA: b\r\nB: c\r\nC: d\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1, 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
    b"POST /u HTTP/1.1\r\nContent-Length: 007\r\nContent-Length: 7, 7\r\n\r\nbody...",
    b"OPTIONS * HTTP/1.1\r\nTransfer-Encoding: x, chunked\r\n\r\n",
];

/// Chunked bodies at the decoder's decision points.
const BODIES: &[&[u8]] = &[
    b"",
    b"\r\n",
    b"0\r\n\r\n",
    b"0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"0\r\n\r",
    b"0\r\nA:\r\n\r\n",
    b"0\r\nA:b\r\nB: c \r\n\r\n",
    b"1;\r\na\r\n0\r\n\r\n",
    b"1\t\t;x=\"y\"\r\na\r\n0\r\nA:b\r\n\r\n",
    b"1\r\n\r\r\n0\r\n\r\n",
    b"00000000000000000000000000000000\r\n\r\n",
    b"000000000000000000000000000000001\r\na\r\n0\r\n\r\n",
    b"FFFFFFFFFFFFFFFF\r\nabc",
    b"10000000000000000\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloX",
    b"5 \r\nhello\r\n0\r\n\r\n",
];

/// `Range` values at the range parser's decision points.
const RANGES: &[&[u8]] = &[
    b"bytes=0-0,1-1,2-2",
    b"bytes=0-0,-1",
    b"bytes=5-,0-",
    b"bytes=-0",
    b"bytes=-18446744073709551615",
    b"bytes=18446744073709551615-",
    b"bytes=0-18446744073709551616",
    b"bytes=,,,0-1,,",
    b"bytes= 1-2 , 4-5 ",
    b"Bytes=1-2",
    b"bytes=2-1",
    b"bytes=1 -2",
    b"bytes",
    b"=0-1",
];

#[test]
fn heads_answer_the_same_at_every_prefix_and_split() {
    for &input in HEADS {
        let shown = input.escape_ascii().to_string();
        let whole = parse(input, MAX_HEADERS);
        let whole_scan = HeadScanner::default().scan(input);
        if let Ok(Some((used, _))) = whole {
            assert_eq!(whole_scan, Ok(Status::Complete(used)), "{shown}");
        }
        for cut in 0..input.len() {
            let part = parse(&input[..cut], MAX_HEADERS);
            assert!(
                part == Ok(None) || part == whole,
                "{shown}: prefix {cut} gave {part:?}, whole {whole:?}"
            );
            let mut scanner = HeadScanner::default();
            match scanner.scan(&input[..cut]) {
                Ok(Status::Partial) => {
                    assert_eq!(scanner.scan(input), whole_scan, "{shown} resumed at {cut}");
                }
                settled => assert_eq!(settled, whole_scan, "{shown} settled at {cut}"),
            }
        }
        for n_slots in 0..4 {
            let small = parse(input, n_slots);
            match whole {
                Ok(Some((_, n_headers))) if n_headers <= n_slots => assert_eq!(small, whole),
                Ok(Some(_)) => assert_eq!(small, Err(ParseError::TooManyHeaders), "{shown}"),
                _ => {}
            }
        }
    }
}

#[test]
fn chunked_bodies_decode_the_same_however_split() {
    for &body in BODIES {
        let shown = body.escape_ascii().to_string();
        let whole = decode(body, &[body.len().max(1)]);
        for steps in [&[1][..], &[2], &[3, 1, 4], &[7, 1]] {
            assert_eq!(decode(body, steps), whole, "{shown} in steps of {steps:?}");
        }
        let mut encoded = Vec::new();
        for piece in body.chunks(3) {
            encode_chunk(piece, &mut encoded);
        }
        encoded.extend_from_slice(LAST_CHUNK);
        assert_eq!(
            decode(&encoded, &[1, 5]),
            Ok((body.to_vec(), encoded.len(), true)),
            "{shown} encoded"
        );
    }
}

#[test]
fn ranges_stay_sorted_disjoint_and_in_bounds() {
    for &value in RANGES {
        for size in [0, 1, 2, 3, 10, u64::MAX] {
            for max_ranges in [0, 1, 2, 16] {
                let RangeRequest::Ranges(ranges) = parse_range(value, size, max_ranges) else {
                    continue;
                };
                let shown = format!("{} size {size} max {max_ranges}", value.escape_ascii());
                assert!(!ranges.is_empty() && ranges.len() <= max_ranges, "{shown}");
                let mut total = 0u64;
                for (i, range) in ranges.iter().enumerate() {
                    assert!(range.start <= range.end && range.end < size, "{shown}");
                    if i > 0 {
                        assert!(range.start > ranges[i - 1].end + 1, "{shown}");
                    }
                    total += range.len();
                }
                assert!(total <= size, "{shown}");
            }
        }
    }
}

/// `parse_request` with `n_slots` slots, reduced to `Ok(None)` for `Partial`, the head's
/// length and header count, or the error.
fn parse(buf: &[u8], n_slots: usize) -> Result<Option<(usize, usize)>, ParseError> {
    let mut slots = vec![Header::EMPTY; n_slots];
    httpd_proto::parse_request(buf, &mut slots).map(|status| match status {
        Status::Complete((request, used)) => Some((used, request.headers.len())),
        Status::Partial => None,
    })
}

/// Decodes `body` fed in pieces whose lengths cycle through `steps`, keeping unused
/// bytes like a server's read buffer.
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
        used_total += used;
        buf.drain(..used);
    }
    Ok((payload, used_total, decoder.is_done()))
}
