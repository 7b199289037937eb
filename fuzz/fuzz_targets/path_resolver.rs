//! `httpd_security::resolve_path` on arbitrary text: whatever it accepts must stay
//! under the root, lexically, and be made only of plain segments.
//!
//! The checks live in `crates/httpd-security/tests/fuzz_inputs/checks.rs`, shared with
//! the `cargo test` replay of the seeds kept in
//! `crates/httpd-security/tests/fuzz_inputs/seeds/path_resolver/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/httpd-security/tests/fuzz_inputs/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::path_resolver(data));
