// SPDX-License-Identifier: GPL-2.0-or-later
//! Reading one file from a FAT volume (the EFI system partition) inside a
//! disk, through the `fatfs` crate, strictly read-only: the volume is seen
//! through `ReadOnlyPart`, whose every write fails, so nothing the
//! library does can change the disk.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::{Error, Result};
use crate::format::partition::Partition;
use crate::storage::disk::Disk;
use crate::util::guard::contain;

/// Largest FAT directory: 65,536 32-byte entries (Microsoft FAT
/// specification, fatgen103, "FAT Directory Structure": a directory may not
/// grow past 65,536 entries, 2 MiB).
pub const FAT_DIR_MAX: u64 = 65_536 * 32;
/// Reads besides the directories and the file: the boot sector, FSInfo and
/// the FAT entries followed along the chains.
const MOUNT_SLACK: u64 = 1 << 20;
/// Bytes the FAT library reads through at once from the disk (a cache of
/// one block: it reads directory entries 32 bytes at a time).
const BLOCK: u64 = 4096;

/// Bytes the FAT library may read for one lookup of `path` and a file of at
/// most `max` bytes: each directory on the path at most twice its largest
/// size, the file twice, the mount and the FAT entries within the slack,
/// and never more than twice the partition. More is a cluster chain that
/// loops (fatfs follows chains without a visited set, and would read for
/// ever).
pub fn read_budget(path: &str, max: u64, partition_len: u64) -> u64 {
    let dirs = path.split('/').filter(|c| !c.is_empty()).count() as u64;
    let need = dirs
        .saturating_mul(2 * FAT_DIR_MAX)
        .saturating_add(max.saturating_add(1).saturating_mul(2))
        .saturating_add(MOUNT_SLACK);
    need.min(partition_len.saturating_mul(2).saturating_add(MOUNT_SLACK))
}

/// A partition of a disk as a seekable byte stream that refuses writes and
/// stops after `budget` bytes (recording where, in `looped`).
struct ReadOnlyPart<'a> {
    disk: &'a Disk,
    start: u64,
    len: u64,
    pos: u64,
    /// Bytes handed out so far, and the most allowed.
    used: u64,
    budget: u64,
    /// Set to the absolute byte offset of the read past the budget.
    looped: &'a std::cell::Cell<Option<u64>>,
    /// The block at partition offset `block_at`, as last read.
    block_at: u64,
    block: Vec<u8>,
}

impl ReadOnlyPart<'_> {
    fn abs(&self, pos: u64) -> io::Result<u64> {
        self.start
            .checked_add(pos)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset overflows"))
    }
}

impl Read for ReadOnlyPart<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = (buf.len() as u64).min(left);
        if want == 0 {
            return Ok(0);
        }
        if self.used.saturating_add(want) > self.budget {
            let at = self.abs(self.pos)?;
            self.looped.set(Some(at));
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "more than {} bytes read at byte offset {at:#x}: a cluster chain loops",
                    self.budget
                ),
            ));
        }
        let block_at = self.pos / BLOCK * BLOCK;
        if self.block.is_empty() || block_at != self.block_at {
            let n = BLOCK.min(self.len - block_at) as usize;
            let at = self.abs(block_at)?;
            self.block = self
                .disk
                .read(at, n)
                .map_err(|e| io::Error::other(e.to_string()))?;
            self.block_at = block_at;
        }
        let within = (self.pos - block_at) as usize;
        let n = (want as usize).min(self.block.len() - within);
        buf[..n].copy_from_slice(&self.block[within..within + n]);
        self.pos += n as u64;
        self.used += n as u64;
        Ok(n)
    }
}

impl Write for ReadOnlyPart<'_> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the FAT volume is opened read-only",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for ReadOnlyPart<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) if p <= self.len => {
                self.pos = p;
                Ok(p)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the partition",
            )),
        }
    }
}

/// Reads `path` (components separated by `/`, matched case-insensitively
/// as FAT does) from the FAT volume on `p`: `Ok(None)` when the volume or
/// the file is not there; an error when the file is larger than `max`
/// bytes or the volume is damaged (a panic inside the FAT library is
/// contained and reported as damage).
pub fn read_file(disk: &Disk, p: &Partition, path: &str, max: u64) -> Result<Option<Vec<u8>>> {
    let what = format!(
        "FAT volume at byte offset {:#x} of {}",
        p.start,
        disk.path().display()
    );
    let looped = std::cell::Cell::new(None);
    let io = ReadOnlyPart {
        disk,
        start: p.start,
        len: p.length,
        pos: 0,
        used: 0,
        budget: read_budget(path, max, p.length),
        looped: &looped,
        block_at: 0,
        block: Vec::new(),
    };
    let r = contain("the FAT reader", || -> io::Result<Option<Vec<u8>>> {
        let fs = match fatfs::FileSystem::new(io, fatfs::FsOptions::new()) {
            Ok(fs) => fs,
            // Not a FAT volume (or one the library cannot mount).
            Err(_) => return Ok(None),
        };
        let mut f = match fs.root_dir().open_file(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        (&mut f).take(max + 1).read_to_end(&mut out)?;
        if out.len() as u64 > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{path} is larger than {max} bytes"),
            ));
        }
        Ok(Some(out))
    });
    if let Some(at) = looped.get() {
        return Err(Error::Invalid {
            what: "FAT volume",
            offset: at,
            detail: format!(
                "{what}: reading {path} went past {} bytes at byte offset {at:#x}: a cluster chain \
                 loops",
                read_budget(path, max, p.length)
            ),
        });
    }
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::io(format!("reading {path} from the {what}"), e)),
        Err(panic) => Err(Error::Invalid {
            what: "FAT volume",
            offset: p.start,
            detail: format!("{what}: {panic}"),
        }),
    }
}
