//! `redbot/no_bad_notes`: runs REDbot, a real HTTP linter (PyPI `redbot`),
//! against pages the server serves, and fails on any note of level BAD.
//!
//! REDbot exits 0 whatever it finds, so the scenario reads its HAR output
//! (`redbot -o har URL`): every entry has `_red_messages`, each with a
//! `level` (`GOOD`, `INFO`, `WARN`, `BAD`) and maybe `subnotes`; a fetch
//! that failed shows as `log._red_error`. A report must show that the page was
//! checked (an entry for its URL, answered 200, with notes), or the scenario
//! fails: an empty report proves nothing. Each HAR is kept in
//! `target/e2e/redbot-NAME.har`, and every note, by level, in
//! `target/e2e/redbot-summary.txt`.
//!
//! REDbot lives in the virtualenv `target/redbot-venv` (`.ci/run` creates
//! it). When it is missing the scenario tries to create it once
//! (`python3 -m venv`, `pip install redbot`); if that fails too the scenario
//! is skipped (`SKIP: redbot missing (redbot/no_bad_notes)`), never passed.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::scenarios::Outcome;
use super::{Ctx, Kind, skip};
use crate::common::run_captured;

/// The pages REDbot checks (on the [`Kind::Files`] server): a label for the
/// log files and the target.
const PAGES: &[(&str, &str)] = &[
    ("html", "/about.html"),
    ("png", "/logo.png"),
    ("txt", "/sample.txt"),
    ("1mib_txt", "/one_mib.txt"),
    ("over_1mib_html_chunked_gzip", "/big.html"),
];

/// How long one REDbot run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How long creating the virtualenv and installing REDbot may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// One note of a REDbot report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Note {
    level: String,
    id: String,
    summary: String,
}

pub fn no_bad_notes(ctx: &Ctx) -> Outcome {
    let redbot = match installed(ctx) {
        Ok(path) => path,
        Err(why) => {
            eprintln!("e2e: redbot/no_bad_notes: {why}");
            return Err(skip("redbot missing"));
        }
    };
    let srv = ctx.server(Kind::Files)?;
    let logs = ctx.paths.e2e_dir.clone();
    let runs: Vec<_> = PAGES
        .iter()
        .map(|&(label, target)| {
            let url = format!("http://127.0.0.1:{}{target}", srv.port());
            let (redbot, har_path) = (redbot.clone(), logs.join(format!("redbot-{label}.har")));
            let handle = thread::spawn(move || lint(&redbot, &url, &har_path));
            (target, handle)
        })
        .collect();
    let mut summary = String::new();
    let mut bad = Vec::new();
    for (target, handle) in runs {
        let notes = handle
            .join()
            .map_err(|_| format!("REDbot thread for {target} panicked"))?
            .map_err(|e| format!("REDbot on {target}: {e}"))?;
        summary.push_str(&format!("{target}\n"));
        for level in ["BAD", "WARN", "INFO", "GOOD"] {
            for note in notes.iter().filter(|n| n.level == level) {
                summary.push_str(&format!(
                    "  {:<4} {}: {}\n",
                    note.level, note.id, note.summary
                ));
                if level == "BAD" {
                    bad.push(format!("{target}: [{}] {}", note.id, note.summary));
                }
            }
        }
    }
    let summary_path = logs.join("redbot-summary.txt");
    fs::write(&summary_path, &summary)
        .map_err(|e| format!("write {}: {e}", summary_path.display()))?;
    ensure!(
        bad.is_empty(),
        "REDbot reports {} BAD note(s): {} (all notes in {})",
        bad.len(),
        bad.join("; "),
        summary_path.display()
    );
    Ok(())
}

/// Runs REDbot on `url`, keeps its HAR in `har_path`, and returns its notes.
fn lint(redbot: &Path, url: &str, har_path: &Path) -> Result<Vec<Note>, String> {
    let mut command = Command::new(redbot);
    command.args(["-o", "har", url]);
    let out = run_captured(command, None, RUN_TIMEOUT)?;
    let _ = fs::write(har_path, &out.stdout);
    ensure!(
        out.status.success(),
        "exit {}; stderr: {}",
        out.status,
        out.stderr.trim()
    );
    notes_of_har(&out.stdout, url)
}

/// Extracts every note (subnotes included) of the one entry of a REDbot HAR,
/// which must be REDbot's check of `url`: an entry for that URL with a 200
/// response and at least one note. A report without one (no entries, another
/// URL, no notes) is an error, never a pass: it shows nothing was checked.
fn notes_of_har(har: &str, url: &str) -> Result<Vec<Note>, String> {
    let json: Value =
        serde_json::from_str(har).map_err(|e| format!("output is not HAR JSON ({e})"))?;
    let log = &json["log"];
    if let Some(error) = log.get("_red_error") {
        return Err(format!("REDbot could not check the URL: {error}"));
    }
    let entries = log["entries"]
        .as_array()
        .filter(|e| !e.is_empty())
        .ok_or("HAR without entries")?;
    let mut notes = Vec::new();
    let mut n_checked = 0;
    for entry in entries {
        let messages = entry["_red_messages"]
            .as_array()
            .ok_or("HAR entry without _red_messages")?;
        collect_notes(messages, &mut notes)?;
        if entry["request"]["url"] == url {
            let status = &entry["response"]["status"];
            ensure!(*status == 200, "REDbot got status {status} for {url}");
            ensure!(!messages.is_empty(), "REDbot has no note on {url}");
            n_checked += 1;
        }
    }
    ensure!(
        n_checked == 1,
        "the HAR has {n_checked} entries for {url} (expected 1)"
    );
    Ok(notes)
}

fn collect_notes(messages: &[Value], out: &mut Vec<Note>) -> Result<(), String> {
    for message in messages {
        let text = |key: &str| {
            message[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("note without {key}: {message}"))
        };
        out.push(Note {
            level: text("level")?.to_ascii_uppercase(),
            id: text("note_id")?,
            summary: text("summary")?,
        });
        if let Some(sub) = message.get("subnotes").and_then(Value::as_array) {
            collect_notes(sub, out)?;
        }
    }
    Ok(())
}

/// Returns the `redbot` executable of `target/redbot-venv`, installing it
/// there first if needed; `Err` says why it cannot be had.
fn installed(ctx: &Ctx) -> Result<PathBuf, String> {
    let venv = ctx.paths.workspace.join("target").join("redbot-venv");
    let redbot = venv.join("bin").join("redbot");
    if redbot.is_file() {
        return Ok(redbot);
    }
    fs::create_dir_all(&ctx.paths.e2e_dir).map_err(|e| format!("create target/e2e: {e}"))?;
    let log_path = ctx.paths.e2e_dir.join("redbot-install.log");
    eprintln!(
        "e2e: installing REDbot into {} (log: {})",
        venv.display(),
        log_path.display()
    );
    let log = File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        let venv_arg = venv.display().to_string();
        crate::common::run_logged(
            Command::new("python3").args(["-m", "venv", &venv_arg]),
            &log,
            INSTALL_TIMEOUT,
        )?;
    }
    crate::common::run_logged(
        Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            "30",
            "redbot",
        ]),
        &log,
        INSTALL_TIMEOUT,
    )?;
    if redbot.is_file() {
        Ok(redbot)
    } else {
        Err(format!("no {} after pip install", redbot.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_read_with_their_subnotes() {
        let har = r#"{"log": {"entries": [{"request": {"url": "http://h/a"},
            "response": {"status": 200}, "_red_messages": [
            {"note_id": "A", "level": "GOOD", "summary": "fine", "subject": "x", "category": "GENERAL"},
            {"note_id": "B", "level": "BAD", "summary": "broken",
             "subnotes": [{"note_id": "C", "level": "WARN", "summary": "detail"}]}
        ]}]}}"#;
        let notes = notes_of_har(har, "http://h/a").unwrap();
        let ids: Vec<(&str, &str)> = notes
            .iter()
            .map(|n| (n.level.as_str(), n.id.as_str()))
            .collect();
        assert_eq!(ids, [("GOOD", "A"), ("BAD", "B"), ("WARN", "C")]);
    }

    #[test]
    fn failed_checks_and_odd_output_are_errors() {
        for har in [
            r#"{"log": {"entries": [], "_red_error": "connection refused"}}"#,
            r#"{"log": {"entries": []}}"#,
            r#"{"log": {"entries": [{}]}}"#,
            r#"{"log": {"entries": [{"_red_messages": [{"level": "BAD"}]}]}}"#,
            "not json",
            // Checked nothing: no notes, another URL, or a failed fetch.
            r#"{"log": {"entries": [{"request": {"url": "http://h/a"},
                "response": {"status": 200}, "_red_messages": []}]}}"#,
            r#"{"log": {"entries": [{"request": {"url": "http://h/b"},
                "response": {"status": 200}, "_red_messages": [
                {"note_id": "A", "level": "GOOD", "summary": "fine"}]}]}}"#,
            r#"{"log": {"entries": [{"request": {"url": "http://h/a"},
                "response": {"status": 404}, "_red_messages": [
                {"note_id": "A", "level": "GOOD", "summary": "fine"}]}]}}"#,
        ] {
            assert!(notes_of_har(har, "http://h/a").is_err(), "{har}");
        }
    }
}
