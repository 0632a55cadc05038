// SPDX-License-Identifier: GPL-2.0-or-later
//! Where a hive file's bytes live, opened for writing: the [`HiveStore`]
//! trait the write protocol works through, and [`FileStore`], a regular file
//! written in place. The raw-volume store is [`crate::storage::extent::ExtentStore`].

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage::access::WriteAccess;
use crate::storage::readback::ReadBack;

/// Where a hive file's bytes live, opened for writing.
pub trait HiveStore {
    /// Human description (path, or device + file).
    fn describe(&self) -> String;
    /// Writes `data` at byte `offset` of the hive file.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Flushes everything written so far to stable storage.
    fn sync(&mut self) -> Result<()>;
    /// Reads the hive file back from the storage and compares it with
    /// `want`: the first byte offset where they differ (the shorter length
    /// when only the lengths differ), `None` when they are equal. Reads a
    /// chunk at a time, so no second copy of the hive is held.
    fn differs_from(&mut self, want: &[u8]) -> Result<Option<u64>>;
    /// The post-write read-back: reads the file again independently of the
    /// write handle and compares it with `want`, the `written` byte ranges
    /// bypassing the OS page cache where the OS allows
    /// ([`crate::storage::readback`]).
    fn read_back(&mut self, want: &[u8], written: &[Range<u64>]) -> Result<ReadBack>;
    /// Changes the file's length (growth is zero-filled). Stores that cannot
    /// resize (a file inside a raw NTFS volume) refuse.
    fn set_len(&mut self, len: u64) -> Result<()> {
        Err(Error::refused(
            crate::error::Code::UnwritableFile,
            format!(
            "{} would have to change size to {len:#x} bytes, which this target cannot do in place; \
             use a mounted path instead",
            self.describe()
        ),
        ))
    }
}

impl FileStore {
    /// Creates `path` (it must not exist) for writing: a transaction log
    /// beside a hive that has none.
    pub fn create(_: &WriteAccess, path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(FileStore {
            path: path.to_path_buf(),
            file,
        })
    }
}

impl HiveStore for FileStore {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let ctx = || format!("writing {} at byte offset {offset:#x}", self.path.display());
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.write_all(data))
            .map_err(|e| Error::io(ctx(), e))
    }

    fn sync(&mut self) -> Result<()> {
        self.file
            .sync_all()
            .map_err(|e| Error::io(format!("flushing {}", self.path.display()), e))
    }

    fn set_len(&mut self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| {
            Error::io(
                format!("resizing {} to {len:#x} bytes", self.path.display()),
                e,
            )
        })
    }

    fn differs_from(&mut self, want: &[u8]) -> Result<Option<u64>> {
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| first_difference(&mut self.file, want))
            .map_err(|e| Error::io(format!("reading back {}", self.path.display()), e))
    }

    fn read_back(&mut self, want: &[u8], written: &[Range<u64>]) -> Result<ReadBack> {
        crate::storage::readback::file(&self.path, want, written)
    }
}

/// A regular file (a hive file, or a file on a mounted volume), written in
/// place: same inode, so an NTFS file keeps its security descriptor.
pub struct FileStore {
    path: PathBuf,
    file: File,
}

impl FileStore {
    /// Opens `path` for in-place writing (never truncates or creates).
    /// A read-only file or file system is a refusal, not an error.
    pub fn open(_: &WriteAccess, path: &Path) -> Result<Self> {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => Ok(FileStore {
                path: path.to_path_buf(),
                file,
            }),
            Err(e)
                if crate::storage::os::open_failure(&e)
                    == crate::storage::os::OpenFailure::ReadOnly =>
            {
                Err(Error::refused(
                    crate::error::Code::ReadOnlyTarget,
                    format!(
                        "{} cannot be opened for writing ({e}): the target is read-only",
                        path.display()
                    ),
                ))
            }
            Err(e) => Err(Error::io(
                format!("opening {} for writing", path.display()),
                e,
            )),
        }
    }
}

/// Chunk size of [`first_difference`].
const COMPARE_CHUNK: usize = 1 << 20;

/// Reads `src` to its end, comparing with `want` a chunk at a time: the
/// first offset where they differ (the shorter length when one is a prefix
/// of the other), or `None` when they are equal.
pub fn first_difference(mut src: impl Read, want: &[u8]) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0u8; COMPARE_CHUNK.min(want.len()).max(1)];
    let mut pos = 0usize;
    loop {
        let n = crate::util::bytes::read_full(&mut src, &mut buf)?;
        if n == 0 {
            return Ok((pos != want.len()).then_some(pos as u64));
        }
        if let Some(at) = crate::util::bytes::chunk_mismatch(want, pos, &buf[..n]) {
            return Ok(Some(at));
        }
        pos += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal, a byte changed (also past the first chunk), shorter, longer.
    #[test]
    fn first_difference_finds_the_offset() {
        let want: Vec<u8> = (0..3 * COMPARE_CHUNK as u32 + 5).map(|i| i as u8).collect();
        assert_eq!(first_difference(&want[..], &want).unwrap(), None);
        for at in [0, 7, COMPARE_CHUNK + 3, want.len() - 1] {
            let mut got = want.clone();
            got[at] ^= 0x55;
            assert_eq!(first_difference(&got[..], &want).unwrap(), Some(at as u64));
        }
        let short = &want[..COMPARE_CHUNK + 1];
        assert_eq!(
            first_difference(short, &want).unwrap(),
            Some(short.len() as u64)
        );
        let mut long = want.clone();
        long.push(0);
        assert_eq!(
            first_difference(&long[..], &want).unwrap(),
            Some(want.len() as u64)
        );
        assert_eq!(first_difference(&[][..], &[]).unwrap(), None);
    }
}
