//! Resolving a relative path beneath a directory descriptor without ever leaving it.
//!
//! Every filesystem operation on a served path (opening a file, telling a file from a
//! directory, listing a directory) starts here, relative to the descriptor of the
//! document root, never from a path string the kernel would resolve on its own.
//!
//! The fast way is one `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: the
//! kernel refuses any step (a `..`, a link) that would leave the root. Where it cannot
//! decide (no `openat2` on this kernel or under this seccomp filter, a rename racing a
//! `..`, or an absolute link, which `RESOLVE_BENEATH` always refuses even when it
//! names a place inside the root) the path is walked here instead:
//!
//! - one component at a time, each opened with `O_NOFOLLOW` relative to the descriptor
//!   of the directory before it, so the kernel never follows a link for us;
//! - a link met on the way is read with `readlinkat(2)` and its text resolved by the
//!   same rules: a relative target from the link's directory, an absolute target only
//!   when it names a place under the root's canonical path (and then from the root's
//!   descriptor), at most [`MAX_LINK_HOPS`] links per path;
//! - `..` goes back to the descriptor of the directory walked through before, and
//!   `..` at the root is refused as leaving it.
//!
//! There is no check-then-open window: whatever a concurrent writer swaps in between
//! two steps, the next step is taken from a descriptor already proven to be beneath
//! the root, and a link's text is only ever resolved by these rules. A refused escape
//! is [`Errno::XDEV`], as `openat2` reports it; too many links is [`Errno::LOOP`].
//!
//! What a walk (or `openat2`) cannot prevent: someone who can rename directories both
//! inside the root and outside it can move a directory out of the root while a path
//! through it is being resolved. The walk then finishes inside the moved directory,
//! as the kernel's own `RESOLVE_BENEATH` would for a path without `..`. Whoever can do
//! that can as well move outside files into the root, so it opens nothing new.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Most symbolic links one resolution may follow, as the kernel's own `MAXSYMLINKS`.
pub(crate) const MAX_LINK_HOPS: usize = 40;

/// Set once `openat2` answered `ENOSYS`: every later resolution walks at once.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `relative` (`/`-separated, as [`SafePath::relative`] gives it; `""` is the
/// root itself) beneath the directory `root` with `flags`, following links only while
/// they stay beneath it.
///
/// `canonical` is the root's canonical path: an absolute link is followed when it
/// names a place under it. `O_CLOEXEC` is always added. With `O_PATH` in `flags` the
/// final object is opened as a path descriptor (no permission needed to read it).
///
/// # Errors
/// [`Errno::XDEV`] when a `..` or a link leads out of the root, [`Errno::LOOP`] after
/// [`MAX_LINK_HOPS`] links, else the error of the failing system call (`NOENT`,
/// `NOTDIR`, `ACCES`, ...).
///
/// [`SafePath::relative`]: httpd_security::SafePath::relative
pub(crate) fn open_beneath(
    root: BorrowedFd<'_>,
    canonical: &Path,
    relative: &str,
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC;
    if kernel_may_resolve() {
        let path = match relative.trim_end_matches('/') {
            "" => ".",
            trimmed => trimmed,
        };
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(root, path, flags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            // An escape, or an absolute link that may well stay inside: the walk decides.
            // `AGAIN`: a rename raced a `..` (the kernel asks us to retry).
            // `PERM`: a seccomp filter refusing the call, as some container runtimes do.
            Err(Errno::XDEV | Errno::AGAIN | Errno::PERM) => {}
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            Err(e) => return Err(e),
        }
    }
    walk(root, canonical, relative.as_bytes(), flags)
}

/// Tells whether `openat2` may be tried; tests can force the walk (`walk_only`).
fn kernel_may_resolve() -> bool {
    #[cfg(test)]
    if tests::FORCE_WALK.with(std::cell::Cell::get) {
        return false;
    }
    !NO_OPENAT2.load(Ordering::Relaxed)
}

/// Resolves `relative` beneath `root` one component at a time; see the module docs.
fn walk(
    root: BorrowedFd<'_>,
    canonical: &Path,
    relative: &[u8],
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    // The directories walked through below the root, innermost last: `..` pops one,
    // and the root itself is never on it, so `..` there is an escape.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    // The components still to resolve, the next one last, so that a link's target
    // can be pushed in front of what followed the link.
    let mut pending: Vec<Vec<u8>> = Vec::new();
    push_components(&mut pending, relative);
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        if name == b".." {
            dirs.pop().ok_or(Errno::XDEV)?;
            continue;
        }
        let dir = dirs.last().map_or(root, AsFd::as_fd);
        let is_last = pending.is_empty();
        let step_flags = if is_last {
            flags | OFlags::NOFOLLOW
        } else {
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
        };
        hook(&name);
        let opened = rustix::fs::openat(dir, name.as_slice(), step_flags, Mode::empty());
        let failure = match opened {
            // With `O_PATH | O_NOFOLLOW` a link is opened as itself.
            Ok(fd) if is_last && flags.contains(OFlags::PATH) && is_link(&fd)? => Errno::LOOP,
            Ok(fd) if is_last => return Ok(fd),
            Ok(fd) => {
                dirs.push(fd);
                continue;
            }
            // `O_NOFOLLOW` refuses a link with `LOOP`, or `NOTDIR` with `O_DIRECTORY`.
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => e,
            Err(e) => return Err(e),
        };
        hook(&name);
        let target = match rustix::fs::readlinkat(dir, name.as_slice(), Vec::new()) {
            Ok(target) => target.into_bytes(),
            // Not a link after all: the open's own error stands.
            Err(Errno::INVAL) => return Err(failure),
            Err(e) => return Err(e),
        };
        hops += 1;
        if hops > MAX_LINK_HOPS {
            return Err(Errno::LOOP);
        }
        if target.is_empty() {
            return Err(Errno::NOENT);
        }
        if target.starts_with(b"/") {
            let inside = Path::new(OsStr::from_bytes(&target))
                .strip_prefix(canonical)
                .map_err(|_| Errno::XDEV)?;
            dirs.clear();
            push_components(&mut pending, inside.as_os_str().as_bytes());
        } else {
            push_components(&mut pending, &target);
        }
    }
    // Every component was `.` or `..` (or there were none): open the directory reached.
    let dir = dirs.last().map_or(root, AsFd::as_fd);
    hook(b".");
    rustix::fs::openat(dir, ".", flags, Mode::empty())
}

/// Pushes the components of `path` onto `pending` so that the first is popped first;
/// empty components and `.` are dropped.
fn push_components(pending: &mut Vec<Vec<u8>>, path: &[u8]) {
    let start = pending.len();
    pending.extend(
        path.split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .map(<[u8]>::to_vec),
    );
    pending[start..].reverse();
}

/// Tells whether `fd` (opened with `O_PATH | O_NOFOLLOW`) is a symbolic link.
fn is_link(fd: &OwnedFd) -> rustix::io::Result<bool> {
    let stat = rustix::fs::fstat(fd)?;
    Ok(FileType::from_raw_mode(stat.st_mode) == FileType::Symlink)
}

/// Runs the test hook, if a test installed one, before a walk's system call on `name`.
#[cfg(test)]
fn hook(name: &[u8]) {
    tests::HOOK.with(|hook| {
        if let Some(f) = hook.borrow_mut().as_mut() {
            f(name);
        }
    });
}

#[cfg(not(test))]
#[inline(always)]
fn hook(_name: &[u8]) {}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::{Cell, RefCell};
    use std::fs;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::test_util::TempDir;

    /// A test's callback, run before each system call of a walk.
    type Hook = Box<dyn FnMut(&[u8])>;

    thread_local! {
        /// When set, [`open_beneath`] never tries `openat2` on this thread.
        pub(crate) static FORCE_WALK: Cell<bool> = const { Cell::new(false) };
        /// Called with the component name before each system call of a walk.
        pub(crate) static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Runs `f` with `openat2` turned off on this thread, so every resolution walks.
    pub(crate) fn walk_only<T>(f: impl FnOnce() -> T) -> T {
        FORCE_WALK.with(|c| c.set(true));
        let out = f();
        FORCE_WALK.with(|c| c.set(false));
        out
    }

    /// Runs `f` with `hook` called before each system call of a walk.
    fn with_hook<T>(hook: impl FnMut(&[u8]) + 'static, f: impl FnOnce() -> T) -> T {
        HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
        let out = f();
        HOOK.with(|h| *h.borrow_mut() = None);
        out
    }

    fn root_fd(root: &TempDir) -> OwnedFd {
        rustix::fs::open(
            root.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap()
    }

    /// Opens `rel` under `root` for reading and returns its bytes, or the error.
    fn read(root: &TempDir, rel: &str) -> Result<Vec<u8>, Errno> {
        let dir = root_fd(root);
        let canonical = fs::canonicalize(root.path()).unwrap();
        let fd = open_beneath(dir.as_fd(), &canonical, rel, OFlags::RDONLY)?;
        let mut bytes = Vec::new();
        fs::File::from(fd).read_to_end(&mut bytes).unwrap();
        Ok(bytes)
    }

    /// A root with links of every kind, and a secret outside it.
    fn fixture() -> (TempDir, TempDir) {
        let outside = TempDir::new();
        outside.write("secret.txt", b"secret");
        outside.write("dir/secret.txt", b"secret");
        let root = TempDir::new();
        root.write("a/b/file.txt", b"file");
        root.write("top.txt", b"top");
        let r = root.path();
        let out = outside.path();
        symlink("b/file.txt", r.join("a/rel.txt")).unwrap();
        symlink("../top.txt", r.join("a/up.txt")).unwrap();
        symlink(r.join("a/b/file.txt"), r.join("abs_in.txt")).unwrap();
        symlink(r.join("a"), r.join("abs_dir")).unwrap();
        symlink("a/b", r.join("dirlink")).unwrap();
        symlink(out.join("secret.txt"), r.join("abs_out.txt")).unwrap();
        symlink(out.join("dir"), r.join("abs_out_dir")).unwrap();
        let depth = r.components().count();
        let up = "../".repeat(depth);
        let rel_out = format!("{up}{}", out.join("secret.txt").display());
        symlink(rel_out, r.join("rel_out.txt")).unwrap();
        symlink("..", r.join("parent")).unwrap();
        symlink(format!("{}/../x", r.display()), r.join("abs_dotdot")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        symlink("missing.txt", r.join("dangling.txt")).unwrap();
        (root, outside)
    }

    /// (relative path, expected bytes or error) for [`fixture`].
    const CASES: &[(&str, Result<&[u8], Errno>)] = &[
        ("top.txt", Ok(b"top")),
        ("a/b/file.txt", Ok(b"file")),
        ("a/rel.txt", Ok(b"file")),
        ("a/up.txt", Ok(b"top")),
        ("abs_in.txt", Ok(b"file")),
        ("abs_dir/b/file.txt", Ok(b"file")),
        ("abs_dir/up.txt", Ok(b"top")),
        ("dirlink/file.txt", Ok(b"file")),
        ("abs_out.txt", Err(Errno::XDEV)),
        ("abs_out_dir/secret.txt", Err(Errno::XDEV)),
        ("abs_out_dir/missing.txt", Err(Errno::XDEV)),
        ("rel_out.txt", Err(Errno::XDEV)),
        ("parent/top.txt", Err(Errno::XDEV)),
        ("abs_dotdot", Err(Errno::XDEV)),
        ("loop1", Err(Errno::LOOP)),
        ("dangling.txt", Err(Errno::NOENT)),
        ("missing.txt", Err(Errno::NOENT)),
        ("top.txt/x", Err(Errno::NOTDIR)),
    ];

    #[test]
    fn the_walk_follows_links_inside_and_refuses_links_out() {
        let (root, _outside) = fixture();
        walk_only(|| {
            for (rel, expected) in CASES {
                let got = read(&root, rel);
                assert_eq!(got.as_deref(), expected.as_deref(), "{rel}");
            }
        });
    }

    #[test]
    fn openat2_and_the_walk_agree() {
        let (root, _outside) = fixture();
        for (rel, expected) in CASES {
            let got = read(&root, rel);
            assert_eq!(got.as_deref(), expected.as_deref(), "{rel}");
        }
    }

    #[test]
    fn the_root_itself_and_directories_open_as_directories() {
        let (root, _outside) = fixture();
        let dir = root_fd(&root);
        let canonical = fs::canonicalize(root.path()).unwrap();
        for force in [false, true] {
            FORCE_WALK.with(|c| c.set(force));
            for rel in ["", "a/", "a/b", "dirlink/", "a/b/..", "abs_dir"] {
                let fd = open_beneath(dir.as_fd(), &canonical, rel, OFlags::PATH)
                    .unwrap_or_else(|e| panic!("{rel}: {e}"));
                let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd).unwrap().st_mode);
                assert_eq!(kind, FileType::Directory, "{rel} walk={force}");
            }
            // `O_PATH` still follows a link beneath the root to its target.
            let fd = open_beneath(dir.as_fd(), &canonical, "a/rel.txt", OFlags::PATH).unwrap();
            let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd).unwrap().st_mode);
            assert_eq!(kind, FileType::RegularFile, "walk={force}");
            let out = open_beneath(dir.as_fd(), &canonical, "abs_out_dir", OFlags::PATH);
            assert_eq!(out.err(), Some(Errno::XDEV), "walk={force}");
        }
        FORCE_WALK.with(|c| c.set(false));
    }

    #[test]
    fn a_chain_of_links_is_bounded() {
        let root = TempDir::new();
        root.write("end.txt", b"end");
        symlink("end.txt", root.path().join("l0")).unwrap();
        for i in 1..=MAX_LINK_HOPS {
            symlink(format!("l{}", i - 1), root.path().join(format!("l{i}"))).unwrap();
        }
        walk_only(|| {
            let last_ok = format!("l{}", MAX_LINK_HOPS - 1);
            assert_eq!(read(&root, &last_ok).as_deref(), Ok(&b"end"[..]));
            let one_more = format!("l{MAX_LINK_HOPS}");
            assert_eq!(read(&root, &one_more), Err(Errno::LOOP));
        });
    }

    /// Swaps `rel` under `root` between the real thing and a link to the same name
    /// under `outside`, keeping the real one aside under `rel.in`.
    fn toggle(root: &Path, outside: &Path, rel: &str, to_outside: bool) {
        let (real, aside) = (root.join(rel), root.join(format!("{rel}.in")));
        if to_outside {
            fs::rename(&real, &aside).unwrap();
            symlink(outside.join(rel), &real).unwrap();
        } else {
            fs::remove_file(&real).unwrap();
            fs::rename(&aside, &real).unwrap();
        }
    }

    /// The attack on a check-then-open fallback: a local user who can write to the root
    /// swaps a directory or a file for a link to the outside and back, between the
    /// steps of the resolution. Here the swaps happen before the walk's system calls,
    /// deterministically, in every pattern over its first six calls.
    #[test]
    fn links_swapped_between_the_steps_of_a_walk_never_lead_outside() {
        for swapped in ["d", "d/f.txt"] {
            for pattern in 0u32..64 {
                let outside = TempDir::new();
                outside.write("d/f.txt", b"secret");
                let root = TempDir::new();
                root.write("d/f.txt", b"public");
                let (r, out) = (root.path().to_path_buf(), outside.path().to_path_buf());
                let mut calls = 0;
                let mut is_outside = false;
                let got = with_hook(
                    move |_name| {
                        if pattern & (1 << calls) != 0 {
                            is_outside = !is_outside;
                            toggle(&r, &out, swapped, is_outside);
                        }
                        calls += 1;
                    },
                    || walk_only(|| read(&root, "d/f.txt")),
                );
                let allowed = match &got {
                    Ok(bytes) => bytes == b"public",
                    // A swap may also make a step meet the wrong type of file.
                    Err(e) => {
                        matches!(*e, Errno::XDEV | Errno::NOENT | Errno::NOTDIR | Errno::LOOP)
                    }
                };
                assert!(
                    allowed,
                    "{swapped} swapped in pattern {pattern:06b}: {got:?}"
                );
            }
        }
    }
}
