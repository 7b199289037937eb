//! The identity of one version of a file: which inode it is and when it last changed.

use std::fs::Metadata;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which file a handle or a path leads to, and which version of it: device, inode,
/// size, modification time and status-change time (ctime), both to the nanosecond.
///
/// Two equal identities mean the same inode, unchanged in between, as far as the
/// filesystem's timestamps can tell: every write changes mtime and ctime, and
/// `chmod`, `chown`, `link`, `unlink`, `rename` and `utimes` change ctime, which no
/// user can set. So an identity keys what is derived from a file's bytes
/// ([`FileCache`](crate::FileCache) entries, [`ContentTags`](crate::ContentTags)).
/// Within one tick of the kernel's coarse clock (a few milliseconds) a second change
/// can keep the same ctime; [`is_settled`](Self::is_settled) tells whether that can
/// still happen.
///
/// Get a file's from [`StaticFile::identity`](crate::StaticFile::identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileIdentity {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, i64),
    pub(crate) ctime: (i64, i64),
}

impl FileIdentity {
    /// Takes the identity from a file's metadata.
    pub fn from_metadata(meta: &Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Tells whether the file's status last changed at least `window` before `now`,
    /// so that any later change gets another ctime (as Git's index treats "racily
    /// clean" entries). A ctime in the future or that cannot be expressed is not
    /// settled.
    pub fn is_settled(&self, window: Duration, now: SystemTime) -> bool {
        let (secs, nanos) = self.ctime;
        let ctime = u64::try_from(secs)
            .ok()
            .zip(u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000))
            .and_then(|(secs, nanos)| UNIX_EPOCH.checked_add(Duration::new(secs, nanos)));
        match ctime.and_then(|ctime| now.duration_since(ctime).ok()) {
            Some(age) => age >= window,
            None => false,
        }
    }

    /// Takes the identity from a `statx` result, or `None` when it is not a regular
    /// file or a field is missing.
    pub(crate) fn from_statx(stx: &rustix::fs::Statx) -> Option<FileIdentity> {
        use rustix::fs::{FileType, RawMode, StatxFlags};
        let needed = StatxFlags::TYPE
            | StatxFlags::INO
            | StatxFlags::SIZE
            | StatxFlags::MTIME
            | StatxFlags::CTIME;
        if !StatxFlags::from_bits_retain(stx.stx_mask).contains(needed)
            || FileType::from_raw_mode(RawMode::from(stx.stx_mode)) != FileType::RegularFile
        {
            return None;
        }
        Some(FileIdentity {
            dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
            ino: stx.stx_ino,
            size: stx.stx_size,
            mtime: (stx.stx_mtime.tv_sec, i64::from(stx.stx_mtime.tv_nsec)),
            ctime: (stx.stx_ctime.tv_sec, i64::from(stx.stx_ctime.tv_nsec)),
        })
    }

    /// Looks `relative` up with one `statx` relative to `root`'s descriptor,
    /// following links; `None` on any error.
    pub(crate) fn of_path(root: &crate::Root, relative: &str) -> Option<FileIdentity> {
        use rustix::fs::{AtFlags, StatxFlags};
        let stx = rustix::fs::statx(
            root.fd(),
            relative,
            AtFlags::STATX_SYNC_AS_STAT,
            StatxFlags::BASIC_STATS,
        )
        .ok()?;
        FileIdentity::from_statx(&stx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed_at(secs: i64, nanos: i64) -> FileIdentity {
        FileIdentity {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (0, 0),
            ctime: (secs, nanos),
        }
    }

    #[test]
    fn settled_once_the_window_has_passed_since_the_last_change() {
        let now = UNIX_EPOCH + Duration::new(1000, 500);
        let window = Duration::from_secs(2);
        let cases: &[(FileIdentity, bool)] = &[
            (changed_at(998, 500), true),
            (changed_at(10, 0), true),
            (changed_at(998, 501), false),
            (changed_at(1000, 500), false),
            (changed_at(2000, 0), false),
            (changed_at(-5, 0), false),
            (changed_at(998, 1_000_000_000), false),
            (changed_at(998, -1), false),
        ];
        for &(identity, settled) in cases {
            assert_eq!(identity.is_settled(window, now), settled, "{identity:?}");
        }
        assert!(changed_at(1000, 500).is_settled(Duration::ZERO, now));
    }
}
