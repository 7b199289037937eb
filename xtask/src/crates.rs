//! `cargo xtask crates`: checks that each reusable crate stands alone, as a user who
//! downloads it from a registry would get it.
//!
//! For each crate in [`CRATES`] it runs `cargo package` (which verifies that the
//! packaged crate builds), unpacks the `.crate` file into a fresh temporary directory
//! outside the workspace (so no workspace manifest, fixture or sibling crate can be
//! reached), and there runs `cargo test` (unit, integration and doc tests, with every
//! feature set in [`CRATES`]) and `cargo doc --no-deps` with `RUSTDOCFLAGS=-D warnings`.
//! Builds share `target/crates-check/`, apart from the workspace's own builds.
//!
//! Prints a line per crate (`ok   NAME` or `FAIL NAME: step`) and `N passed, N failed`;
//! exits 1 when a crate failed. Each step's output is kept in
//! `target/crates-check/NAME.log`.

use std::env;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::common;

/// The reusable crates, each with the extra `cargo test` flag sets to run besides the
/// default features.
const CRATES: &[(&str, &[&[&str]])] = &[
    ("httpd-proto", &[]),
    ("httpd-pool", &[&["--no-default-features"]]),
];

/// Runs the check; `args` are the arguments after `crates` (a crate name keeps only
/// that crate).
pub fn run(args: &[String]) -> ExitCode {
    let wanted: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Some(unknown) = wanted.iter().find(|w| !CRATES.iter().any(|(n, _)| n == *w)) {
        eprintln!("crates: unknown crate {unknown}; the reusable crates are {CRATES:?}");
        return ExitCode::from(2);
    }
    let workspace = common::workspace_dir();
    let target = common::target_dir(&workspace);
    let check_dir = target.join("crates-check");
    if let Err(e) = fs::create_dir_all(&check_dir) {
        eprintln!("crates: create {}: {e}", check_dir.display());
        return ExitCode::FAILURE;
    }
    let cargo = env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let (mut n_passed, mut n_failed) = (0, 0);
    for &(name, feature_sets) in CRATES {
        if !wanted.is_empty() && !wanted.contains(&name) {
            continue;
        }
        let ctx = Ctx {
            cargo: &cargo,
            workspace: &workspace,
            target: &target,
            check_dir: &check_dir,
        };
        match ctx.check(name, feature_sets) {
            Ok(()) => {
                println!("ok   {name}");
                n_passed += 1;
            }
            Err(why) => {
                println!("FAIL {name}: {why}");
                n_failed += 1;
            }
        }
    }
    println!("{n_passed} passed, {n_failed} failed");
    if n_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Where things are.
struct Ctx<'a> {
    /// The cargo that runs this task.
    cargo: &'a Path,
    /// The workspace root.
    workspace: &'a Path,
    /// The workspace's target directory, where `cargo package` writes `.crate` files.
    target: &'a Path,
    /// `target/crates-check/`: the unpacked crates' shared target directory, and logs.
    check_dir: &'a Path,
}

impl Ctx<'_> {
    /// Packages, unpacks, tests and documents one crate.
    fn check(&self, name: &str, feature_sets: &[&[&str]]) -> Result<(), String> {
        let log_path = self.check_dir.join(format!("{name}.log"));
        let mut log =
            File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let in_log = |why: String| format!("{why} (see {})", log_path.display());

        let mut package = self.cargo_command();
        package
            .current_dir(self.workspace)
            .args(["package", "--allow-dirty", "-p", name]);
        run_step(&mut package, &mut log, "cargo package").map_err(in_log)?;

        let crate_file = self.crate_file(name)?;
        let unpacked = unpack(&crate_file, &mut log).map_err(in_log)?;
        let result = self.test_unpacked(&unpacked, feature_sets, &mut log);
        // The temporary copy goes whatever the outcome; the log keeps what happened.
        let _ = fs::remove_dir_all(unpacked.parent().unwrap_or(&unpacked));
        result.map_err(in_log)
    }

    /// Runs `cargo test` (each feature set) and `cargo doc` in the unpacked crate.
    fn test_unpacked(
        &self,
        dir: &Path,
        feature_sets: &[&[&str]],
        log: &mut File,
    ) -> Result<(), String> {
        let default: &[&str] = &[];
        for &flags in std::iter::once(&default).chain(feature_sets) {
            let mut test = self.cargo_command();
            test.current_dir(dir).arg("test").args(flags);
            run_step(&mut test, log, &format!("cargo test {}", flags.join(" ")))?;
        }
        // A documentation build left from an earlier run can be reused without running
        // rustdoc again, which would hide a new warning; start from none.
        let _ = fs::remove_dir_all(self.check_dir.join("target").join("doc"));
        let mut doc = self.cargo_command();
        doc.current_dir(dir)
            .args(["doc", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings");
        run_step(&mut doc, log, "cargo doc")
    }

    /// A cargo command that builds into `target/crates-check/`.
    fn cargo_command(&self) -> Command {
        let mut command = Command::new(self.cargo);
        command.env("CARGO_TARGET_DIR", self.check_dir.join("target"));
        command
    }

    /// Finds the `.crate` file `cargo package` wrote for `name`.
    fn crate_file(&self, name: &str) -> Result<PathBuf, String> {
        // `cargo package` writes to the target directory it was given.
        let package_dir = self.check_dir.join("target").join("package");
        let fallback = self.target.join("package");
        for dir in [package_dir, fallback] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let file = p.file_name().and_then(|f| f.to_str()).unwrap_or_default();
                    file.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|version| {
                            version.ends_with(".crate")
                                && version.starts_with(|c: char| c.is_ascii_digit())
                        })
                })
                .collect();
            // The newest version, should several be there.
            found.sort_by_key(|p| fs::metadata(p).and_then(|m| m.modified()).ok());
            if let Some(path) = found.pop() {
                return Ok(path);
            }
        }
        Err(format!("no {name}-*.crate after cargo package"))
    }
}

/// Unpacks `crate_file` (a gzipped tarball) into a new temporary directory outside the
/// workspace; returns the crate's directory inside it.
fn unpack(crate_file: &Path, log: &mut File) -> Result<PathBuf, String> {
    let stem = crate_file
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_suffix(".crate"))
        .ok_or_else(|| format!("odd crate file name {}", crate_file.display()))?;
    let temp = env::temp_dir().join(format!("httpd-crates-check-{}-{stem}", std::process::id()));
    let _ = fs::remove_dir_all(&temp);
    fs::create_dir_all(&temp).map_err(|e| format!("create {}: {e}", temp.display()))?;
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg(crate_file).arg("-C").arg(&temp);
    run_step(&mut tar, log, "tar -xzf")?;
    let dir = temp.join(stem);
    if dir.join("Cargo.toml").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{} holds no {stem}/Cargo.toml",
            crate_file.display()
        ))
    }
}

/// Runs `command` to completion with its output appended to `log`.
fn run_step(command: &mut Command, log: &mut File, step: &str) -> Result<(), String> {
    let _ = writeln!(log, "\n== {step}: {command:?}");
    let out = log.try_clone().map_err(|e| format!("{step}: log: {e}"))?;
    let err = log.try_clone().map_err(|e| format!("{step}: log: {e}"))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| format!("{step}: cannot run: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}
