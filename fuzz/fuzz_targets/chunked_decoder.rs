//! `ChunkedDecoder` on arbitrary bytes split at arbitrary points, and `encode_chunk`
//! round trips.
//!
//! The first byte picks the split pattern; the rest is the body. However the body is
//! split, the decoder must give the same payload, stop at the same byte and fail with
//! the same error as when it gets the body in one piece.
//!
//! The checks live in `crates/httpd-proto/tests/fuzz_inputs/checks.rs`, shared with the
//! `cargo test` replay of the seeds kept in
//! `crates/httpd-proto/tests/fuzz_inputs/seeds/chunked_decoder/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../../crates/httpd-proto/tests/fuzz_inputs/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::chunked_decoder(data));
