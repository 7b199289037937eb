//! Request heads: `HeadScanner`, `parse_request`, `Request::framing` and the accessors
//! on arbitrary bytes.
//!
//! Besides "never panics", it checks the promises the server relies on: the scanner
//! gives the same answer however the buffer grew, the scanner and the parser agree on
//! where a valid head ends, a prefix of the input never gives a different answer than
//! the whole (only `Partial`), and whatever parses is well formed.
//!
//! The checks live in `crates/httpd-proto/tests/fuzz_inputs/checks.rs`, shared with the
//! `cargo test` replay of the seeds kept in
//! `crates/httpd-proto/tests/fuzz_inputs/seeds/head_parser/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../../crates/httpd-proto/tests/fuzz_inputs/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::head_parser(data, checks::Cuts::Few));
