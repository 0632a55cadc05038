// SPDX-License-Identifier: GPL-2.0-or-later
//! One writer at a time: an exclusive advisory lock (`flock`) on every file
//! a fix may write — the hive file, or the disk or image that holds a raw
//! volume — held from before the hive is read until the read-back is done.
//! A second ntrescue run on the same target is refused at once (or waits
//! with `--wait`), so two runs never both write and neither mistakes the
//! other's write for damage. Block devices are also opened with `O_EXCL`
//! for the write itself (`storage::os`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::storage::source::FileRef;

/// How often a waiting run tries the lock again.
const RETRY: Duration = Duration::from_millis(100);

/// Held locks; dropping it releases them.
#[derive(Debug)]
pub struct TargetLock {
    _files: Vec<File>,
    /// The paths locked, for reports.
    pub paths: Vec<PathBuf>,
}

/// The file a write to `r` goes through: the hive file itself, or the disk
/// or image holding the raw volume.
pub fn lock_path(r: &FileRef) -> &Path {
    match r {
        FileRef::Path(p) => p,
        FileRef::Ntfs { disk, .. } => disk,
    }
}

/// Locks every path in `paths` (duplicates once), waiting up to `wait` for
/// a lock another process holds; refused when it is still held.
pub fn lock(paths: &[&Path], wait: Option<Duration>) -> Result<TargetLock> {
    let mut unique: Vec<PathBuf> = Vec::new();
    for p in paths {
        if !unique.iter().any(|u| u == p) {
            unique.push(p.to_path_buf());
        }
    }
    let mut files = Vec::new();
    for p in &unique {
        let f = File::open(p)
            .map_err(|e| Error::io(format!("opening {} to lock it", p.display()), e))?;
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            match f.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if deadline.is_some_and(|d| Instant::now() < d) {
                        std::thread::sleep(RETRY);
                        continue;
                    }
                    return Err(Error::refused(crate::error::Code::Locked, format!(
                        "another process (another ntrescue run?) holds the lock on {}; nothing \
                         written. Run again once it has finished, or add --wait SECONDS to wait for it",
                        p.display()
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", p.display()), e))
                }
            }
        }
        files.push(f);
    }
    Ok(TargetLock {
        _files: files,
        paths: unique,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second lock on the same file is refused at once, waits with a
    /// timeout, and is granted once the first is released.
    #[test]
    fn second_lock_is_refused_then_granted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("SYSTEM");
        std::fs::write(&p, b"x").unwrap();
        let first = lock(&[&p], None).unwrap();
        let e = lock(&[&p], None).unwrap_err();
        assert!(e.to_string().contains("holds the lock"), "{e}");
        let t = Instant::now();
        assert!(lock(&[&p], Some(Duration::from_millis(300))).is_err());
        assert!(t.elapsed() >= Duration::from_millis(300));
        drop(first);
        let again = lock(&[&p, &p], None).unwrap();
        assert_eq!(again.paths.len(), 1);
    }
}
