//! `ChunkedDecoder` on arbitrary bytes split at arbitrary points, and `encode_chunk`
//! round trips.
//!
//! The first byte picks the split pattern; the rest is the body. However the body is
//! split, the decoder must give the same payload, stop at the same byte and fail with
//! the same error as when it gets the body in one piece.
#![no_main]

use httpd_proto::{ChunkError, ChunkedDecoder, LAST_CHUNK, encode_chunk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});

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
