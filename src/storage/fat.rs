// SPDX-License-Identifier: GPL-2.0-or-later
//! Reading one file from a FAT volume (the EFI system partition) inside a
//! disk, through the `fatfs` crate, strictly read-only: the volume is seen
//! through [`ReadOnlyPart`], whose every write fails, so nothing the
//! library does can change the disk.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::{Error, Result};
use crate::format::partition::Partition;
use crate::storage::disk::Disk;
use crate::util::guard::contain;

/// A partition of a disk as a seekable byte stream that refuses writes.
struct ReadOnlyPart<'a> {
    disk: &'a Disk,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for ReadOnlyPart<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let at = self
            .start
            .checked_add(self.pos)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset overflows"))?;
        let bytes = self
            .disk
            .read(at, n)
            .map_err(|e| io::Error::other(e.to_string()))?;
        buf[..n].copy_from_slice(&bytes);
        self.pos += n as u64;
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
    let io = ReadOnlyPart {
        disk,
        start: p.start,
        len: p.length,
        pos: 0,
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
