//! The hostile-request corpus (`crates/httpd-proto/tests/fixtures/requests.json`,
//! described in the `README.md` beside it) against one live server: every row on a fresh
//! connection, checking the status, the connection's fate and that nothing is reflected.

use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};

use serde_json::Value;

use crate::util::{Client, Response, TestServer};

/// The corpus, compiled in so that editing it rebuilds the test.
const CORPUS: &str = include_str!("../../crates/httpd-proto/tests/fixtures/requests.json");

/// The flags the corpus was written for (see the fixtures README).
const FLAGS: &[&str] = &["--allowed-host", "[::1]:8080", "--max-body", "4096"];

/// The request sent after a `close: false` row to prove the connection still works.
const FOLLOW_UP: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// The fields a row may have.
const FIELDS: &[&str] = &[
    "name",
    "raw",
    "raw_hex",
    "status",
    "close",
    "parser",
    "body_must_not_contain",
    "known_bug",
    "note",
];

/// One row of the corpus.
struct Row {
    name: String,
    raw: Vec<u8>,
    status: u16,
    close: bool,
    known_bug: Option<String>,
    body_must_not_contain: Option<String>,
}

#[test]
fn corpus_is_well_formed() {
    let rows = rows();
    assert!(rows.len() >= 150, "only {} rows", rows.len());
    let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    let n_names = names.len();
    names.dedup();
    assert_eq!(names.len(), n_names, "row names must be unique");
    let n_valid = rows
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .count();
    let n_keep_alive = rows.iter().filter(|r| !r.close).count();
    assert!(n_valid >= 40, "only {n_valid} valid rows");
    assert!(n_keep_alive >= 40, "only {n_keep_alive} keep-alive rows");
}

#[test]
fn every_row_gets_its_status_and_connection_fate() {
    let server = TestServer::start(FLAGS);
    let mut failures = Vec::new();
    for row in rows() {
        if let Some(bug) = &row.known_bug {
            let answer = first_status(&server, &row.raw);
            println!(
                "KNOWN: {} (expected {} {}, server says {answer}): {bug}",
                row.name,
                row.status,
                if row.close { "close" } else { "keep-alive" },
            );
            continue;
        }
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| check_row(&server, &row)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{}: {why}", row.name)),
            Err(_) => failures.push(format!("{}: the client panicked (see above)", row.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Sends one row and checks everything the row promises.
fn check_row(server: &TestServer, row: &Row) -> Result<(), String> {
    let mut client = server.connect();
    client.write(&row.raw);
    let head_only = row.raw.starts_with(b"HEAD ");
    let mut response = client.read_response(head_only);
    while response.status < 200 {
        response = client.read_response(head_only);
    }
    if response.status != row.status {
        return Err(format!(
            "status {}, expected {}",
            response.status, row.status
        ));
    }
    if let Some(needle) = &row.body_must_not_contain {
        if reflects(&response, needle) {
            return Err(format!("response reflects {needle:?}"));
        }
    }
    let connection = response.header("connection").unwrap_or("(none)");
    if row.close {
        if !connection.eq_ignore_ascii_case("close") {
            return Err(format!("Connection: {connection}, expected close"));
        }
        if !client.is_closed_by_server() {
            return Err("the server kept the connection open".to_string());
        }
    } else {
        if !connection.eq_ignore_ascii_case("keep-alive") {
            return Err(format!("Connection: {connection}, expected keep-alive"));
        }
        client.write(FOLLOW_UP);
        let next = client.response();
        if next.status != 200 {
            return Err(format!("follow-up request got {}", next.status));
        }
    }
    Ok(())
}

/// Tells whether `needle` appears in the body or in any header line of `response`.
fn reflects(response: &Response, needle: &str) -> bool {
    let in_body = response
        .body
        .windows(needle.len())
        .any(|w| w == needle.as_bytes());
    let in_head = response
        .all
        .iter()
        .any(|(name, value)| name.contains(needle) || value.contains(needle));
    in_body || in_head
}

/// Sends `raw` and describes the first final response's status and `Connection`
/// header, leniently, for known bugs.
fn first_status(server: &TestServer, raw: &[u8]) -> String {
    let Client { mut stream, .. } = server.connect();
    if stream.write_all(raw).is_err() {
        return "nothing (write failed)".to_string();
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            // Interim responses are not what the row is about.
            if head.starts_with("HTTP/1.1 1") {
                buf.drain(..end + 4);
                continue;
            }
            let status = head.split(' ').nth(1).unwrap_or("a malformed status line");
            let connection = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("connection"))
                .map_or("(no Connection)", |(_, value)| value.trim());
            return format!("{status} {connection}");
        }
        match stream.read(&mut chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => return "nothing (closed)".to_string(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads and validates the corpus.
fn rows() -> Vec<Row> {
    let all: Vec<Value> = serde_json::from_str(CORPUS).expect("requests.json is valid JSON");
    all.iter().map(row).collect()
}

fn row(value: &Value) -> Row {
    let object = value.as_object().expect("each row is an object");
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .expect("each row has a name")
        .to_string();
    for key in object.keys() {
        assert!(
            FIELDS.contains(&key.as_str()),
            "{name}: unknown field {key}"
        );
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
    let raw = match (text("raw"), text("raw_hex")) {
        (Some(raw), None) => raw.into_bytes(),
        (None, Some(hex)) => decode_hex(&hex).unwrap_or_else(|| panic!("{name}: bad raw_hex")),
        _ => panic!("{name}: needs exactly one of raw and raw_hex"),
    };
    let status = object
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..600).contains(s))
        .unwrap_or_else(|| panic!("{name}: status must be a status code"));
    let close = object
        .get("close")
        .and_then(Value::as_bool)
        .unwrap_or_else(|| panic!("{name}: close must be a boolean"));
    assert!(text("parser").is_some(), "{name}: parser is required");
    Row {
        name,
        raw,
        status,
        close,
        known_bug: text("known_bug"),
        body_must_not_contain: text("body_must_not_contain"),
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
