//! The command line: usage errors, help, version, runtime errors.

use std::process::Command;

fn httpd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    for args in [
        &["notaport"][..],
        &["--threads", "0"],
        &["--frobnicate"],
        &["1", "2", "3", "4"],
    ] {
        let out = httpd(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("Usage: httpd"), "{stderr}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let out = httpd(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--max-body"));
    let out = httpd(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("httpd "));
}

#[test]
fn missing_root_exits_1_with_cause() {
    let out = httpd(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        "/nonexistent/httpd-root",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("document root"), "{stderr}");
    assert!(stderr.contains("caused by"), "{stderr}");
}

#[test]
fn busy_port_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let root = crate::util::Dir::docroot();
    let out = httpd(&["--listen", &addr, "--root", root.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
}
