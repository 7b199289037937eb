//! `httpd_proto::parse_range` on arbitrary values, sizes and range limits: the ranges it
//! returns are sorted, disjoint, inside the representation and never more bytes than it.
//!
//! The checks live in `crates/httpd-proto/tests/fuzz_inputs/checks.rs`, shared with the
//! `cargo test` replay of the seeds kept in
//! `crates/httpd-proto/tests/fuzz_inputs/seeds/range_parser/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../../crates/httpd-proto/tests/fuzz_inputs/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::range_parser(data));
