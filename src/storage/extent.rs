// SPDX-License-Identifier: GPL-2.0-or-later
//! Writing a file that lives inside a raw NTFS volume, without a file
//! system driver: the hive file's byte ranges are mapped through its data
//! runs (extents) to absolute device offsets, and only the sectors that
//! contain changed bytes are rewritten (read-modify-write of whole logical
//! sectors, as block devices require: [`Device`]). NTFS metadata is never touched: the
//! file keeps its size, clusters, timestamps and security descriptor.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::storage::device::Device;
use crate::storage::readback::{ReadBack, ReadPath};
use crate::storage::store::HiveStore;

/// One contiguous piece of a file on the device.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Extent {
    /// Offset in the file.
    pub file_offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// Absolute offset on the device (disk or image).
    pub device_offset: u64,
}

/// Checks that extent `e` of file `name` lies inside the device range
/// `start .. start + len` (its volume), with no sum overflowing: a corrupt
/// data run must never make a read or a write land outside the volume.
pub fn check_within(e: &Extent, start: u64, len: u64, name: &str) -> Result<()> {
    let end = start.checked_add(len);
    let e_end = e.device_offset.checked_add(e.length);
    let f_end = e.file_offset.checked_add(e.length);
    match (end, e_end, f_end) {
        (Some(end), Some(e_end), Some(_)) if e.device_offset >= start && e_end <= end => Ok(()),
        _ => Err(Error::Invalid {
            what: "data run",
            offset: e.device_offset,
            detail: format!(
                "{name}: {} bytes at device byte {:#x} (file byte {:#x}) lie outside the volume \
                 {start:#x}..{:#x}",
                e.length,
                e.device_offset,
                e.file_offset,
                start.saturating_add(len)
            ),
        }),
    }
}

/// Checks every extent of `extents` with [`check_within`].
pub fn check_all_within(extents: &[Extent], start: u64, len: u64, name: &str) -> Result<()> {
    extents
        .iter()
        .try_for_each(|e| check_within(e, start, len, name))
}

/// Whether file byte `pos` lies in extent `e` (no overflow on a hostile
/// extent: one that reaches past the end of the address space holds
/// everything from its start).
fn holds(e: &Extent, pos: u64) -> bool {
    e.file_offset <= pos
        && e.file_offset
            .checked_add(e.length)
            .is_none_or(|end| pos < end)
}

/// Maps `len` bytes at file offset `off` to device ranges. Every byte must be
/// covered by an allocated extent (sparse holes, bytes past the valid data
/// length, compressed or resident data have no extents and are refused here).
pub fn map(extents: &[Extent], off: u64, len: u64) -> Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    let mut pos = off;
    let end = off
        .checked_add(len)
        .ok_or_else(|| Error::Refused("range overflows".into()))?;
    while pos < end {
        let e = extents
            .iter()
            .find(|e| holds(e, pos))
            .ok_or_else(|| {
                Error::refused(crate::error::Code::UnwritableFile, format!(
                    "file byte {pos:#x} has no allocated cluster on the device (sparse, compressed or resident data): \
                     it cannot be written in place; use a mounted path instead"
                ))
            })?;
        let take = e
            .file_offset
            .saturating_add(e.length)
            .min(end)
            .saturating_sub(pos);
        let dev = e
            .device_offset
            .checked_add(pos - e.file_offset)
            .filter(|d| d.checked_add(take).is_some())
            .ok_or_else(|| {
                Error::Refused(format!("file byte {pos:#x} maps past the device's end"))
            })?;
        out.push((dev, take));
        pos += take;
    }
    Ok(out)
}

/// Reads a file back independently of the write handle and compares it
/// with the given bytes (the given ranges were written).
pub type Recheck = Box<dyn Fn(&[u8], &[Range<u64>]) -> Result<ReadBack>>;

/// A hive file inside a raw volume, opened for writing.
pub struct ExtentStore {
    /// Shares its handle with other stores on the same device (one
    /// exclusive open per device and process:
    /// [`crate::storage::os::open_for_write`]).
    device: Device,
    name: String,
    extents: Vec<Extent>,
    file_size: u64,
    /// How to compare the file with given bytes independently of this
    /// handle: re-open the device and locate the file through NTFS again.
    recheck: Option<Recheck>,
    /// Whether anything has been written through this handle.
    written: bool,
}

impl ExtentStore {
    /// Wraps a device already opened for writing (the caller runs the
    /// preflight checks and opens it exclusively).
    pub fn new(device: Device, name: String, extents: Vec<Extent>, file_size: u64) -> Self {
        ExtentStore {
            device,
            name,
            extents,
            file_size,
            recheck: None,
            written: false,
        }
    }

    /// Refuses the store unless every extent lies inside the device range
    /// `start .. start + len` (the partition holding the file): for extents
    /// that did not come from [`crate::storage::ntfs::Volume::locate`]
    /// (which checks them), such as those a backup manifest records.
    pub fn within(self, start: u64, len: u64) -> Result<Self> {
        check_all_within(&self.extents, start, len, &self.name)?;
        Ok(self)
    }

    /// After the first write, compares the file with `recheck` (a fresh open
    /// of the device and a new lookup through NTFS) instead of through this
    /// handle's extents.
    pub fn with_recheck(mut self, recheck: Recheck) -> Self {
        self.recheck = Some(recheck);
        self
    }

    /// The extents.
    pub fn extents(&self) -> &[Extent] {
        &self.extents
    }
}

impl HiveStore for ExtentStore {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.written = true;
        let mut done = 0usize;
        for (dev, len) in map(&self.extents, offset, data.len() as u64)? {
            let piece = &data[done..done + len as usize];
            // Whole logical sectors around the piece: read-modify-write.
            self.device.write_all_at(piece, dev).map_err(|e| {
                Error::io(
                    format!("writing {} at device byte offset {dev:#x}", self.name),
                    e,
                )
            })?;
            done += len as usize;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.device
            .sync()
            .map_err(|e| Error::io(format!("flushing the device of {}", self.name), e))
    }

    fn differs_from(&mut self, want: &[u8]) -> Result<Option<u64>> {
        // Once written, the file is read back independently (a fresh open
        // and lookup); before, through the extents just located.
        if let (true, Some(r)) = (self.written, &self.recheck) {
            return Ok(r(want, &[])?.differs_at);
        }
        let reader = ExtentReader::new(&self.device, &self.extents, self.file_size);
        crate::storage::store::first_difference(reader, want)
            .map_err(|e| Error::io(format!("reading back {}", self.name), e))
    }

    fn read_back(&mut self, want: &[u8], written: &[Range<u64>]) -> Result<ReadBack> {
        if let Some(r) = &self.recheck {
            return r(want, written);
        }
        // No independent way back (a store made without a recheck): through
        // this handle's extents.
        let reader = ExtentReader::new(&self.device, &self.extents, self.file_size);
        let (differs_at, sha256) = crate::storage::readback::compare_hashing(reader, want)
            .map_err(|e| Error::io(format!("reading back {}", self.name), e))?;
        Ok(ReadBack {
            differs_at,
            sha256,
            path: ReadPath::Cached {
                why: "read through the write handle's extents".into(),
            },
        })
    }
}

/// A file's bytes in order, read from `file` through its extents (zeros
/// where no extent maps: a hole).
pub struct ExtentReader<'a> {
    file: &'a Device,
    extents: &'a [Extent],
    pos: u64,
    size: u64,
}

impl<'a> ExtentReader<'a> {
    /// Reads the `size`-byte file mapped by `extents` on `file`.
    pub fn new(file: &'a Device, extents: &'a [Extent], size: u64) -> Self {
        ExtentReader {
            file,
            extents,
            pos: 0,
            size,
        }
    }

    /// The same reader, reading on from byte `pos` of the file.
    pub fn starting_at(mut self, pos: u64) -> Self {
        self.pos = pos;
        self
    }
}

impl std::io::Read for ExtentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size {
            return Ok(0);
        }
        let max = ((self.size - self.pos) as usize).min(buf.len());
        let pos = self.pos;
        let n = match self.extents.iter().find(|e| holds(e, pos)) {
            Some(e) => {
                let left = e.file_offset.saturating_add(e.length) - pos;
                let n = usize::try_from(left).map_or(max, |l| max.min(l));
                let at = e
                    .device_offset
                    .checked_add(pos - e.file_offset)
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "an extent maps past the device's end",
                        )
                    })?;
                self.file.read_exact_at(&mut buf[..n], at)?;
                n
            }
            None => {
                let next = self
                    .extents
                    .iter()
                    .map(|e| e.file_offset)
                    .filter(|&o| o > pos)
                    .min()
                    .unwrap_or(self.size);
                let n = max.min((next - pos) as usize);
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A device over `f`, checked to see only whole aligned 512-byte sectors.
    fn dev(f: std::fs::File) -> Device {
        let strict = crate::storage::device::StrictIo::new(f, 512).unwrap();
        Device::new(std::sync::Arc::new(strict), 512, None).unwrap()
    }

    fn ext(f: u64, l: u64, d: u64) -> Extent {
        Extent {
            file_offset: f,
            length: l,
            device_offset: d,
        }
    }

    /// Extents outside the volume, or whose sums overflow, are errors;
    /// mapping and reading through hostile extents never panic.
    #[test]
    fn extents_outside_the_volume_are_refused() {
        let vol = (1 << 20, 1 << 20);
        check_within(&ext(0, 4096, 1 << 20), vol.0, vol.1, "f").unwrap();
        check_within(&ext(0, 4096, (2 << 20) - 4096), vol.0, vol.1, "f").unwrap();
        for e in [
            ext(0, 4096, (1 << 20) - 512),
            ext(0, 4096, (2 << 20) - 4095),
            ext(0, u64::MAX, 1 << 20),
            ext(u64::MAX, 2, 1 << 20),
            ext(0, 1, u64::MAX),
        ] {
            let err = check_within(&e, vol.0, vol.1, "f").unwrap_err();
            assert!(err.to_string().contains("outside the volume"), "{err}");
        }
        assert!(check_all_within(&[ext(0, 1, 1 << 20), ext(1, 1, 0)], vol.0, vol.1, "f").is_err());
        let store = |e: Vec<Extent>| {
            ExtentStore::new(dev(tempfile::tempfile().unwrap()), "f".into(), e, 4096)
        };
        assert!(store(vec![ext(0, 4096, 1 << 20)])
            .within(vol.0, vol.1)
            .is_ok());
        assert!(store(vec![ext(0, 4096, 0)]).within(vol.0, vol.1).is_err());
        // Overflowing extents map to an error, not a panic.
        assert!(map(&[ext(0, u64::MAX, u64::MAX - 10)], 100, 10).is_err());
        assert!(map(&[ext(u64::MAX - 1, u64::MAX, 0)], u64::MAX - 1, 1).is_ok());
        let f = dev(tempfile::tempfile().unwrap());
        let e = [ext(0, u64::MAX, u64::MAX - 1)];
        let mut r = ExtentReader::new(&f, &e, 4096);
        let mut buf = [0u8; 16];
        assert!(std::io::Read::read(&mut r, &mut buf).is_err());
    }

    #[test]
    fn maps_across_extents_and_refuses_holes() {
        let e = [ext(0, 4096, 8192), ext(4096, 4096, 40960)];
        assert_eq!(
            map(&e, 4090, 10).unwrap(),
            vec![(8192 + 4090, 6), (40960, 4)]
        );
        assert!(map(&e, 8190, 4).is_err());
    }

    /// Writes land in the right device sectors, whole sectors are rewritten
    /// and every other byte of the device is unchanged.
    #[test]
    fn writes_only_the_touched_sectors() {
        let mut f = tempfile::tempfile().unwrap();
        let img: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&img).unwrap();
        let extents = vec![ext(0, 4096, 16384), ext(4096, 4096, 4096)];
        let mut s = ExtentStore::new(dev(f.try_clone().unwrap()), "t".into(), extents, 8192);
        s.write_at(4094, &[0xAA, 0xBB, 0xCC, 0xDD]).unwrap();
        s.sync().unwrap();
        let mut now = Vec::new();
        use std::io::{Read, Seek};
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut now).unwrap();
        let diff: Vec<usize> = (0..img.len()).filter(|&i| img[i] != now[i]).collect();
        assert_eq!(diff, vec![4096, 4097, 16384 + 4094, 16384 + 4095]);
        let mut want = img[16384..16384 + 4096].to_vec();
        want.extend_from_slice(&img[4096..8192]);
        want[4094..4098].copy_from_slice(&[0xAA, 0xBB, 0xCC, 0xDD]);
        assert_eq!(s.differs_from(&want).unwrap(), None);
        want[5000] ^= 1;
        assert_eq!(s.differs_from(&want).unwrap(), Some(5000));
    }
}
