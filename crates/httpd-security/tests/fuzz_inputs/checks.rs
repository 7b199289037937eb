//! The checks of the `path_resolver` fuzz target in `fuzz/`, shared with `cargo test`.
//!
//! `fuzz/fuzz_targets/path_resolver.rs` includes this file with `#[path]` and calls
//! [`path_resolver`] on every input libFuzzer makes; `tests/fuzz_inputs.rs` calls it on
//! the seeds kept in `tests/fuzz_inputs/seeds/path_resolver/` (and on the local
//! `fuzz/corpus/path_resolver/` when there is one).

use std::path::{Component, Path, PathBuf};

use httpd_security::{SafePath, resolve_path};

/// The docroot every input is resolved under.
const ROOT: &str = "/srv/www";

/// `httpd_security::resolve_path` on arbitrary text: whatever it accepts must stay
/// under the root, lexically, and be made only of plain segments.
pub fn path_resolver(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let root = Path::new(ROOT);
    let Ok(path) = resolve_path(root, raw) else {
        return;
    };
    check_under_root(&path, root);
    let _ = (path.file_name(), path.extension(), path.is_hidden());
    // Joining the index name to a directory stays under the root too.
    if path.is_dir_form() {
        let index = path.join("index.html").expect("index.html is a plain name");
        check_under_root(&index, root);
    }
    // So does joining the target's own last segment, whatever it holds.
    let name = raw.rsplit('/').next().unwrap_or_default();
    if let Ok(joined) = path.join(name) {
        check_under_root(&joined, root);
    }
}

fn check_under_root(path: &SafePath, root: &Path) {
    let full = path.as_path();
    assert_eq!(path.root(), root);
    assert!(full.starts_with(root), "{full:?} is not under {root:?}");
    // Every component after the root is a plain name: no `..`, no `.`, no second root,
    // no Windows prefix, nothing a later join or a lexical clean-up could turn upward.
    let rest = full.strip_prefix(root).expect("checked above");
    for component in rest.components() {
        let Component::Normal(name) = component else {
            panic!("{full:?} has the component {component:?}");
        };
        let name = name.to_str().expect("names come from UTF-8");
        assert!(!name.contains(".."), "{full:?}");
        assert!(!name.contains('\\'), "{full:?}");
        assert!(!name.chars().any(char::is_control), "{full:?}");
        let bytes = name.as_bytes();
        assert!(
            !(bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'),
            "{full:?} has a drive prefix"
        );
    }
    // The lexical normal form agrees: nothing climbs out.
    let mut normal = PathBuf::new();
    for component in full.components() {
        match component {
            Component::ParentDir => assert!(normal.pop() && normal.starts_with(root)),
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    assert!(normal.starts_with(root));
    assert_eq!(normal, full);
    // The relative text is what was pushed, segment by segment.
    let relative = path.relative();
    assert!(!relative.starts_with('/'));
    let body = relative.strip_suffix('/').unwrap_or(relative);
    let rebuilt: PathBuf = if body.is_empty() {
        root.to_path_buf()
    } else {
        body.split('/').fold(root.to_path_buf(), |p, s| p.join(s))
    };
    assert_eq!(rebuilt, full);
}
