//! The configuration file (`--config`) and `--check-config`, through the real binary.

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::util::{Dir, TestServer};

/// The documented example shipped with the crate.
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/httpd.example.json");

fn httpd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `httpd --check-config ARGS`, expects exit 0, and returns the printed JSON text.
fn check_text(args: &[&str]) -> String {
    let mut all = vec!["--check-config"];
    all.extend_from_slice(args);
    let out = httpd(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check(args: &[&str]) -> Value {
    serde_json::from_str(&check_text(args)).unwrap()
}

/// Writes `text` as a configuration file in `dir`; returns its path.
fn config_file(dir: &Dir, name: &str, text: &str) -> String {
    dir.write(name, text.as_bytes());
    dir.path().join(name).to_str().unwrap().to_string()
}

#[test]
fn the_example_file_is_valid_complete_and_mostly_defaults() {
    let example = check(&["--config", EXAMPLE]);
    let defaults = check(&[]);
    let (example, defaults) = (example.as_object().unwrap(), defaults.as_object().unwrap());
    // Every key is in the example...
    let keys: Vec<&String> = example.keys().collect();
    assert_eq!(keys, defaults.keys().collect::<Vec<_>>());
    let written: Value = serde_json::from_str(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap();
    let written_keys: Vec<&String> = written.as_object().unwrap().keys().collect();
    assert_eq!(written_keys, keys);
    // ...and only the illustrative ones differ from the defaults (keys sorted here).
    let differing: Vec<&str> = keys
        .iter()
        .filter(|k| example[k.as_str()] != defaults[k.as_str()])
        .map(|k| k.as_str())
        .collect();
    assert_eq!(differing, ["cache_control", "serve_types"]);
}

#[test]
fn check_config_prints_a_valid_config_file() {
    let dir = Dir::new();
    let first = config_file(
        &dir,
        "first.json",
        r#"{
            "listen": ["127.0.0.1:0", "[::1]:0"], "threads": 3, "max_body": "1M",
            "idle_timeout": 90, "csp": null, "security_headers": {"X-Test": "yes"},
            "cache_control": {"png": "no-store"}, "rate_limit": 20
        }"#,
    );
    let printed = check_text(&["--config", &first]);
    let value: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(value["listen"], json!(["127.0.0.1:0", "[::1]:0"]));
    assert_eq!(value["threads"], json!(3));
    assert_eq!(value["max_body"], json!(1024 * 1024));
    assert_eq!(value["idle_timeout"], json!("1m 30s"));
    assert_eq!(value["csp"], Value::Null);
    assert_eq!(value["security_headers"], json!({"X-Test": "yes"}));
    assert_eq!(value["cache_control"]["png"], json!("no-store"));
    assert_eq!(value["cache_control"]["html"], json!("no-cache"));
    assert_eq!(value["rate_limit"], json!(20));
    // The output, read back as a configuration file, prints itself.
    let second = config_file(&dir, "second.json", &printed);
    assert_eq!(check_text(&["--config", &second]), printed);
}

#[test]
fn flags_override_the_file_whatever_their_order() {
    let dir = Dir::new();
    let file = config_file(
        &dir,
        "httpd.json",
        r#"{"threads": 3, "serve_types": ["css"], "gzip": false, "max_head": 4096,
            "csp": null, "listen": ["127.0.0.1:0"]}"#,
    );
    let flags = [
        "--threads",
        "5",
        "--serve-type",
        "svg",
        "--gzip",
        "--csp",
        "default-src 'none'",
        "9000",
    ];
    let mut before: Vec<&str> = vec!["--config", &file];
    before.extend_from_slice(&flags);
    let mut after: Vec<&str> = flags.to_vec();
    after.extend_from_slice(&["--config", &file]);
    for args in [before, after] {
        let v = check(&args);
        assert_eq!(v["threads"], json!(5), "{args:?}");
        assert_eq!(v["serve_types"], json!(["svg"]), "{args:?}");
        assert_eq!(v["gzip"], json!(true), "{args:?}");
        assert_eq!(v["csp"], json!("default-src 'none'"), "{args:?}");
        // Positionals override the file too; keys no flag names keep the file's value.
        assert_eq!(v["listen"], json!(["127.0.0.1:9000"]), "{args:?}");
        assert_eq!(v["max_head"], json!(4096), "{args:?}");
    }
}

#[test]
fn bad_files_exit_2_naming_the_key() {
    let dir = Dir::new();
    let cases = [
        (r#"{"bogus": 1}"#, "bogus"),
        (r#"{"threads": 0}"#, "threads"),
        (r#"{"threads": "many"}"#, "threads"),
        (r#"{"gzip": "yes"}"#, "gzip"),
        (r#"{"idle_timeout": "soon"}"#, "idle_timeout"),
        (r#"{"max_body": -1}"#, "max_body"),
        (r#"{"listen": []}"#, "listen"),
        (r#"{"security_headers": {"X-A": 1}}"#, "security_headers"),
        (
            r#"{"trusted_proxies": ["proxy.example"]}"#,
            "trusted_proxies",
        ),
        (r#"{"threads": 3"#, "line 1"),
    ];
    for (i, (text, needle)) in cases.into_iter().enumerate() {
        let file = config_file(&dir, &format!("bad{i}.json"), text);
        for check_only in [true, false] {
            // Were the file valid, serving would stop at the missing root (exit 1).
            let mut args = vec!["--config", file.as_str(), "--root", "/nonexistent/root"];
            if check_only {
                args.push("--check-config");
            }
            let out = httpd(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
            assert!(stderr.contains(needle), "{text}: {stderr}");
            assert!(stderr.contains(&file), "{text}: {stderr}");
            assert!(out.stdout.is_empty(), "{text}");
        }
    }
    let out = httpd(&["--check-config", "--config", "/nonexistent/httpd.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/httpd.json"));
    let out = httpd(&["--check-config", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}

#[test]
fn the_server_runs_with_a_config_file() {
    let dir = Dir::new();
    let file = config_file(
        &dir,
        "httpd.json",
        r#"{"threads": 2, "serve_types": ["css"], "security_headers": {"X-Test": "yes"},
            "cache_control": {"css": "max-age=60"}, "csp": null}"#,
    );
    let root = Dir::docroot();
    root.write("site.css", b"body{}");
    // The harness's own --listen and --root flags override the file's.
    let server = TestServer::start_in(root, &["--config", &file]);
    let r = server.get("/site.css");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-test"), Some("yes"));
    assert_eq!(r.header("x-frame-options"), None);
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    let r = server.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-security-policy"), None);
    assert!(server.wait_for_log("Thread pool size: 2"));
}
