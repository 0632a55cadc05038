// SPDX-License-Identifier: GPL-2.0-or-later
//! The one path to the bytes of a disk, partition, volume or disk image:
//! every read and write the OS sees is of whole sectors, at a
//! sector-aligned offset, into or out of a sector-aligned buffer.
//!
//! Windows requires exactly that of a raw device handle
//! (`\\.\PhysicalDriveN`, `\\.\X:`: "File Buffering", Alignment and File
//! Access Requirements: offsets and lengths are integer multiples of the
//! volume sector size, buffer addresses aligned to it). Image files accept
//! it too. A request for any other range is widened to whole sectors: a
//! read takes the wanted bytes out of the aligned buffer; a write reads the
//! first and last sector it touches, patches them, and writes the whole
//! sectors back.
//!
//! A device's sector size and length come from the OS when it says
//! (Linux: sysfs and the seek to the end); otherwise from what the disk
//! holds ([`content_geometry`]: the GPT header, the NTFS boot sector, the
//! MBR).

use std::fs::File;
use std::io::{Error as IoError, ErrorKind};
use std::sync::Arc;

/// Positioned I/O on a handle, below a [`Device`]: `read_at` and `write_at`
/// move at most `buf.len()` bytes at absolute byte `at`.
pub trait BlockIo: Send + Sync {
    /// Reads up to `buf.len()` bytes at `at` (fewer at the end).
    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize>;
    /// Writes up to `buf.len()` bytes at `at`.
    fn write_at(&self, buf: &[u8], at: u64) -> std::io::Result<usize>;
    /// Flushes to stable storage.
    fn sync(&self) -> std::io::Result<()>;
}

impl BlockIo for File {
    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        crate::storage::os::read_at(self, buf, at)
    }

    fn write_at(&self, buf: &[u8], at: u64) -> std::io::Result<usize> {
        crate::storage::os::write_at(self, buf, at)
    }

    fn sync(&self) -> std::io::Result<()> {
        self.sync_all()
    }
}

/// The smallest logical sector size (512-byte sectors: MBR, GPT, NTFS).
pub const MIN_SECTOR: u32 = 512;
/// The largest logical sector size accepted (NTFS allows up to 64 KiB per
/// sector in its boot sector's `BytesPerSector`; disks use 512 or 4096).
pub const MAX_SECTOR: u32 = 65536;
/// Alignment used before a device's sector size is known: a multiple of
/// both sizes in use (512-byte and 4Kn disks), so valid on either.
pub const PROBE_SECTOR: u32 = 4096;
/// Largest single I/O (bounds the aligned buffer of one request).
const MAX_IO: usize = 1 << 20;

fn invalid(msg: String) -> IoError {
    IoError::new(ErrorKind::InvalidInput, msg)
}

/// Whether `n` is a usable logical sector size.
pub fn valid_sector(n: u32) -> bool {
    n.is_power_of_two() && (MIN_SECTOR..=MAX_SECTOR).contains(&n)
}

/// A zeroed buffer of `len` bytes whose start is aligned to `align` bytes
/// (a power of two), carved out of a larger allocation. Reading into one
/// aligned to the device's sector size goes straight to the handle (no
/// bounce buffer in [`Device::read_at`]).
pub struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes aligned to `align`.
    pub fn new(len: usize, align: usize) -> std::io::Result<Self> {
        let total = len
            .checked_add(align)
            .ok_or_else(|| invalid(format!("an I/O buffer of {len} bytes is too large")))?;
        let raw = vec![0u8; total];
        let start = raw.as_ptr().align_offset(align);
        if start >= align {
            return Err(invalid(format!("cannot align a buffer to {align} bytes")));
        }
        Ok(AlignedBuf { raw, start, len })
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    /// Its bytes, to fill.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

/// A disk, partition, volume or image, read and written only in whole
/// aligned sectors. Cheap to clone: clones share the OS handle.
#[derive(Clone)]
pub struct Device {
    io: Arc<dyn BlockIo>,
    sector: u32,
    len: Option<u64>,
}

impl Device {
    /// `io` with I/O unit `sector` (a power of two, 512..=65536) and length
    /// `len` in bytes when known (reads stop there, writes may not pass it).
    pub fn new(io: Arc<dyn BlockIo>, sector: u32, len: Option<u64>) -> std::io::Result<Self> {
        if !valid_sector(sector) {
            return Err(invalid(format!("{sector} bytes is not a sector size")));
        }
        Ok(Device { io, sector, len })
    }

    /// A device over an open file or device handle. In debug builds the
    /// test hook `NTRESCUE_STRICT_IO` (see [`strict_hook`]) puts a
    /// [`StrictIo`] between the device and the handle.
    pub fn from_file(file: Arc<File>, sector: u32, len: Option<u64>) -> std::io::Result<Self> {
        match strict_hook() {
            Some((check, align)) => Device::new(
                Arc::new(StrictIo::new(file, check)?.logging(strict_log())),
                align.max(sector),
                len,
            ),
            None => Device::new(file, sector, len),
        }
    }

    /// The I/O unit (logical sector size) in bytes.
    pub fn sector(&self) -> u32 {
        self.sector
    }

    /// Length in bytes, when known.
    pub fn known_len(&self) -> Option<u64> {
        self.len
    }

    /// The same handle with another sector size and length.
    pub fn with_geometry(&self, sector: u32, len: Option<u64>) -> std::io::Result<Self> {
        Device::new(self.io.clone(), sector, len)
    }

    /// The aligned window `start .. end` around `want` bytes at `at`,
    /// checked against overflow.
    fn window(&self, at: u64, want: usize) -> std::io::Result<(u64, u64)> {
        let s = u64::from(self.sector);
        let start = at / s * s;
        let end = at
            .checked_add(want as u64)
            .and_then(|e| e.div_ceil(s).checked_mul(s))
            .ok_or_else(|| invalid(format!("{want} bytes at byte offset {at:#x} overflow")))?;
        Ok((start, end))
    }

    /// Reads whole sectors into `buf` (aligned, a whole number of sectors)
    /// at the aligned offset `at` until it is full or the device ends: the
    /// number of bytes read. A short read that ends mid-sector is the end.
    fn fill(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        let s = self.sector as usize;
        let mut done = 0usize;
        while done < buf.len() && done.is_multiple_of(s) {
            let pos = at
                .checked_add(done as u64)
                .ok_or_else(|| invalid(format!("byte offset {at:#x} + {done} overflows")))?;
            match self.io.read_at(&mut buf[done..], pos) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done.min(buf.len()))
    }

    /// Reads up to `buf.len()` bytes at byte `at` (at most 1 MiB per
    /// call); fewer only at the device's end, 0 past it.
    pub fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        let mut want = buf.len().min(MAX_IO);
        if let Some(len) = self.len {
            let left = len.saturating_sub(at);
            want = usize::try_from(left).map_or(want, |l| want.min(l));
        }
        if want == 0 {
            return Ok(0);
        }
        let s = u64::from(self.sector);
        let direct = at.is_multiple_of(s)
            && (want as u64).is_multiple_of(s)
            && buf.as_ptr().align_offset(self.sector as usize) == 0;
        if direct {
            return self.fill(&mut buf[..want], at);
        }
        let (start, end) = self.window(at, want)?;
        let mut scratch = AlignedBuf::new((end - start) as usize, self.sector as usize)?;
        let got = self.fill(scratch.bytes_mut(), start)?;
        let skip = (at - start) as usize;
        let n = got.saturating_sub(skip).min(want);
        buf[..n].copy_from_slice(&scratch.bytes()[skip..skip + n]);
        Ok(n)
    }

    /// Reads exactly `buf.len()` bytes at byte `at`.
    pub fn read_exact_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = at
                .checked_add(done as u64)
                .ok_or_else(|| invalid(format!("byte offset {at:#x} + {done} overflows")))?;
            match self.read_at(&mut buf[done..], pos)? {
                0 => return Err(ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }

    /// Writes the aligned buffer `buf` (whole sectors) at aligned `at`.
    fn flush_sectors(&self, buf: &[u8], at: u64) -> std::io::Result<()> {
        let s = self.sector as usize;
        let mut done = 0usize;
        while done < buf.len() {
            if !done.is_multiple_of(s) {
                return Err(IoError::new(
                    ErrorKind::WriteZero,
                    format!("a device write at byte offset {at:#x} stopped mid-sector"),
                ));
            }
            let pos = at
                .checked_add(done as u64)
                .ok_or_else(|| invalid(format!("byte offset {at:#x} + {done} overflows")))?;
            match self.io.write_at(&buf[done..], pos) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes at most 1 MiB of `data` at byte `at` as whole sectors: the
    /// partial first and last sectors are read, patched and written back.
    fn write_piece(&self, data: &[u8], at: u64) -> std::io::Result<()> {
        let (start, end) = self.window(at, data.len())?;
        if self.len.is_some_and(|len| end > len) {
            return Err(invalid(format!(
                "a write of {} bytes at byte offset {at:#x} passes the device's end",
                data.len()
            )));
        }
        let s = self.sector as usize;
        let span = (end - start) as usize;
        let mut scratch = AlignedBuf::new(span, s)?;
        let skip = (at - start) as usize;
        let buf = scratch.bytes_mut();
        if skip != 0 {
            self.fill_exact(&mut buf[..s], start)?;
        }
        let tail = span - s;
        if !(skip + data.len()).is_multiple_of(s) && (tail != 0 || skip == 0) {
            self.fill_exact(&mut buf[tail..], start + tail as u64)?;
        }
        buf[skip..skip + data.len()].copy_from_slice(data);
        self.flush_sectors(scratch.bytes(), start)
    }

    fn fill_exact(&self, buf: &mut [u8], at: u64) -> std::io::Result<()> {
        if self.fill(buf, at)? < buf.len() {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Writes all of `data` at byte `at`, whole sectors at a time.
    pub fn write_all_at(&self, data: &[u8], at: u64) -> std::io::Result<()> {
        for (i, piece) in data.chunks(MAX_IO).enumerate() {
            let pos = at
                .checked_add((i * MAX_IO) as u64)
                .ok_or_else(|| invalid(format!("byte offset {at:#x} overflows")))?;
            self.write_piece(piece, pos)?;
        }
        Ok(())
    }

    /// Flushes everything written to stable storage.
    pub fn sync(&self) -> std::io::Result<()> {
        self.io.sync()
    }
}

/// Positioned I/O that refuses what a raw Windows device handle refuses: an
/// offset, length or buffer address that is not a multiple of its sector
/// size. A test instrument: the debug-build hook [`strict_hook`] puts it
/// under every device the binary opens.
pub struct StrictIo<T> {
    inner: T,
    sector: u32,
    log: Option<&'static std::sync::Mutex<File>>,
}

impl<T: BlockIo> StrictIo<T> {
    /// `inner`, checked against sector size `sector`.
    pub fn new(inner: T, sector: u32) -> std::io::Result<Self> {
        if !valid_sector(sector) {
            return Err(invalid(format!("{sector} bytes is not a sector size")));
        }
        Ok(StrictIo {
            inner,
            sector,
            log: None,
        })
    }

    /// The same checker, also appending each request it lets through to
    /// `log` as a line `r|w OFFSET LENGTH` (see [`strict_hook`]).
    pub fn logging(mut self, log: Option<&'static std::sync::Mutex<File>>) -> Self {
        self.log = log;
        self
    }

    fn record(&self, op: char, len: usize, at: u64) -> std::io::Result<()> {
        use std::io::Write;
        match self.log {
            Some(log) => {
                let mut f = log
                    .lock()
                    .map_err(|_| invalid("the I/O log is poisoned".into()))?;
                writeln!(f, "{op} {at} {len}")
            }
            None => Ok(()),
        }
    }

    fn check(&self, what: &str, ptr: *const u8, len: usize, at: u64) -> std::io::Result<()> {
        let s = self.sector as usize;
        if !at.is_multiple_of(s as u64) || !len.is_multiple_of(s) || ptr.align_offset(s) != 0 {
            return Err(invalid(format!(
                "unaligned device {what}: {len} bytes at byte offset {at:#x} \
                 (sector size {s}, buffer {}aligned)",
                if ptr.align_offset(s) == 0 { "" } else { "not " }
            )));
        }
        Ok(())
    }
}

impl<T: BlockIo> BlockIo for StrictIo<T> {
    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        self.check("read", buf.as_ptr(), buf.len(), at)?;
        self.record('r', buf.len(), at)?;
        self.inner.read_at(buf, at)
    }

    fn write_at(&self, buf: &[u8], at: u64) -> std::io::Result<usize> {
        self.check("write", buf.as_ptr(), buf.len(), at)?;
        self.record('w', buf.len(), at)?;
        self.inner.write_at(buf, at)
    }

    fn sync(&self) -> std::io::Result<()> {
        self.inner.sync()
    }
}

impl<T: BlockIo + ?Sized> BlockIo for Arc<T> {
    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        (**self).read_at(buf, at)
    }

    fn write_at(&self, buf: &[u8], at: u64) -> std::io::Result<usize> {
        (**self).write_at(buf, at)
    }

    fn sync(&self) -> std::io::Result<()> {
        (**self).sync()
    }
}

/// Test hook, debug builds only: `NTRESCUE_STRICT_IO=CHECK` puts a
/// [`StrictIo`] checking `CHECK`-byte sectors under every device opened
/// through [`Device::from_file`], and makes the device align to at least
/// `CHECK` bytes, as a raw Windows device would demand;
/// `NTRESCUE_STRICT_IO=CHECK:ALIGN` aligns to `ALIGN` bytes instead (to
/// show that the check catches a device that aligns too little). With it,
/// `NTRESCUE_STRICT_IO_LOG=FILE` appends every request the checker lets
/// through to `FILE` ([`StrictIo::logging`]): a test compares that list
/// with the reads the kernel saw, so a read that bypasses the device path
/// shows.
pub fn strict_hook() -> Option<(u32, u32)> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let v = std::env::var("NTRESCUE_STRICT_IO").ok()?;
    let (check, align) = match v.split_once(':') {
        Some((c, a)) => (c.parse().ok()?, a.parse().ok()?),
        None => {
            let c = v.parse().ok()?;
            (c, c)
        }
    };
    (valid_sector(check) && valid_sector(align)).then_some((check, align))
}

/// The log named by `NTRESCUE_STRICT_IO_LOG` (debug builds with the
/// [`strict_hook`] set), opened once for appending.
fn strict_log() -> Option<&'static std::sync::Mutex<File>> {
    static LOG: std::sync::OnceLock<Option<std::sync::Mutex<File>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var_os("NTRESCUE_STRICT_IO_LOG")?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(std::sync::Mutex::new(f))
    })
    .as_ref()
}

/// A disk's sector size and length as its first sectors tell them, for a
/// device the OS says nothing about (a Windows `\\.\PhysicalDriveN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentGeometry {
    /// Logical sector size.
    pub sector: u32,
    /// Whether `sector` is known (a GPT header or NTFS boot sector said
    /// it) rather than assumed (an MBR counts in sectors of unstated size).
    pub sector_known: bool,
    /// Length in bytes: exact for GPT (the backup header is the last
    /// sector) and a bare NTFS volume (its backup boot sector is the last),
    /// a lower bound for an MBR (the end of its last partition).
    pub len: Option<u64>,
    /// What told `len`.
    pub len_from: LenFrom,
}

/// What told a device's length when the OS did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenFrom {
    /// The GPT header's `AlternateLBA`: the backup header is the last sector.
    Gpt,
    /// A bare NTFS volume's sector count: its backup boot sector is last.
    Ntfs,
    /// The end of the MBR's last partition: a lower bound.
    Mbr,
}

impl LenFrom {
    /// Where the length came from, for the operator.
    pub fn describe(self) -> &'static str {
        match self {
            LenFrom::Gpt => "the GPT header (its backup header is the disk's last sector)",
            LenFrom::Ntfs => {
                "the NTFS boot sector (its backup boot sector is the volume's last sector)"
            }
            LenFrom::Mbr => {
                "the end of the last MBR partition: a lower bound, bytes past it are not counted"
            }
        }
    }
}

/// GPT header signature (UEFI 2.10, 5.3.2 GPT Header, offset 0).
const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
/// GPT header: `AlternateLBA` at byte 32 (UEFI 2.10, table 5-5).
const GPT_ALTERNATE_LBA: usize = 32;
/// NTFS boot sector: OEM id at 3, `BytesPerSector` at 11 (u16), total
/// sectors at 0x28 (u64; the backup boot sector lies just past them).
const NTFS_OEM: &[u8; 8] = b"NTFS    ";
const NTFS_BYTES_PER_SECTOR: usize = 11;
const NTFS_TOTAL_SECTORS: usize = 0x28;
/// MBR: four 16-byte partition entries at 446; the type at +4 (0: unused),
/// LBA start at +8, sector count at +12 (u32 each); the boot signature
/// 55 AA at 510.
const MBR_ENTRIES: usize = 446;
const MBR_ENTRY_LEN: usize = 16;
const MBR_SIGNATURE_AT: usize = 510;

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The geometry told by `head`, the first 8 KiB (or fewer) of a disk or
/// volume: a GPT header at byte 512 or 4096, an NTFS boot sector at 0, or
/// an MBR. `None` when it holds none of them.
pub fn content_geometry(head: &[u8]) -> Option<ContentGeometry> {
    for sector in [512u32, 4096] {
        let at = sector as usize;
        if head.get(at..at + 8) == Some(GPT_SIGNATURE) {
            let len = le_u64(head, at + GPT_ALTERNATE_LBA)
                .and_then(|lba| lba.checked_add(1)?.checked_mul(u64::from(sector)));
            return Some(ContentGeometry {
                sector,
                sector_known: true,
                len,
                len_from: LenFrom::Gpt,
            });
        }
    }
    if head.get(3..11) == Some(NTFS_OEM) {
        let bps = u32::from(u16::from_le_bytes([
            *head.get(NTFS_BYTES_PER_SECTOR)?,
            *head.get(NTFS_BYTES_PER_SECTOR + 1)?,
        ]));
        if !valid_sector(bps) {
            return None;
        }
        let len = le_u64(head, NTFS_TOTAL_SECTORS)
            .and_then(|n| n.checked_add(1)?.checked_mul(u64::from(bps)));
        return Some(ContentGeometry {
            sector: bps,
            sector_known: true,
            len,
            len_from: LenFrom::Ntfs,
        });
    }
    if head.get(MBR_SIGNATURE_AT..MBR_SIGNATURE_AT + 2) != Some(&[0x55, 0xAA][..]) {
        return None;
    }
    let end = mbr_entries(head)
        .filter_map(|(start, count)| start.checked_add(count))
        .max()
        .filter(|&e| e > 0);
    Some(ContentGeometry {
        sector: MIN_SECTOR,
        sector_known: false,
        len: end.and_then(|e| e.checked_mul(u64::from(MIN_SECTOR))),
        len_from: LenFrom::Mbr,
    })
}

/// The MBR's partition entries in use: (start LBA, sector count).
fn mbr_entries(head: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    (0..4).filter_map(move |i| {
        let e = MBR_ENTRIES + i * MBR_ENTRY_LEN;
        let kind = *head.get(e + 4)?;
        let start = u64::from(le_u32(head, e + 8)?);
        let count = u64::from(le_u32(head, e + 12)?);
        (kind != 0 && count > 0).then_some((start, count))
    })
}

/// NTFS boot sector: `HiddenSectors` at 0x1C (u32), the partition's start
/// LBA as Windows and mkntfs write it (0 when not set).
const NTFS_HIDDEN_SECTORS: usize = 0x1C;

/// [`content_geometry`], with an MBR's sector size taken from an NTFS boot
/// sector when one agrees: an MBR counts in sectors of unstated size, so
/// each partition's first sector is read at its start LBA counted in
/// 512-byte and in 4096-byte sectors (`read` fills 512 bytes at a byte
/// offset, `false` when it cannot), and an NTFS boot sector found there
/// gives the size when it is consistent with where it was found: its
/// `BytesPerSector` is that same size, its `HiddenSectors` is 0 or the
/// partition's start, and its sector count fits in the partition. The
/// length stays the end of the last partition, in that size.
pub fn device_geometry(
    head: &[u8],
    read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
) -> Option<ContentGeometry> {
    let g = content_geometry(head)?;
    if g.sector_known || g.len_from != LenFrom::Mbr {
        return Some(g);
    }
    let Some(sector) = mbr_volume_sector(head, read) else {
        return Some(g);
    };
    let end = mbr_entries(head)
        .filter_map(|(start, count)| start.checked_add(count))
        .max();
    Some(ContentGeometry {
        sector,
        sector_known: true,
        len: end.and_then(|e| e.checked_mul(u64::from(sector))),
        len_from: LenFrom::Mbr,
    })
}

/// The sector size an MBR partition's NTFS boot sector agrees with (see
/// [`device_geometry`]).
fn mbr_volume_sector(head: &[u8], read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> Option<u32> {
    let mut boot = [0u8; MIN_SECTOR as usize];
    for sector in [MIN_SECTOR, PROBE_SECTOR] {
        for (start, count) in mbr_entries(head) {
            let Some(at) = start.checked_mul(u64::from(sector)) else {
                continue;
            };
            if start == 0 || !read(at, &mut boot) || boot[3..11] != *NTFS_OEM {
                continue;
            }
            let bps = u32::from(u16::from_le_bytes([
                boot[NTFS_BYTES_PER_SECTOR],
                boot[NTFS_BYTES_PER_SECTOR + 1],
            ]));
            let hidden = le_u32(&boot, NTFS_HIDDEN_SECTORS).map(u64::from);
            let total = le_u64(&boot, NTFS_TOTAL_SECTORS);
            if bps == sector
                && hidden.is_some_and(|h| h == 0 || h == start)
                && total.is_some_and(|t| t > 0 && t <= count)
            {
                return Some(sector);
            }
        }
    }
    None
}

/// Bytes of a disk's start that [`content_geometry`] looks at.
pub const GEOMETRY_HEAD: usize = 8192;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An in-memory device that records every request it is given.
    struct Mem {
        data: Mutex<Vec<u8>>,
        log: Mutex<Vec<(char, u64, usize)>>,
    }

    impl BlockIo for Mem {
        fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
            self.log.lock().unwrap().push(('r', at, buf.len()));
            let d = self.data.lock().unwrap();
            let at = (at as usize).min(d.len());
            let n = buf.len().min(d.len() - at);
            buf[..n].copy_from_slice(&d[at..at + n]);
            Ok(n)
        }

        fn write_at(&self, buf: &[u8], at: u64) -> std::io::Result<usize> {
            self.log.lock().unwrap().push(('w', at, buf.len()));
            let mut d = self.data.lock().unwrap();
            let at = at as usize;
            d[at..at + buf.len()].copy_from_slice(buf);
            Ok(buf.len())
        }

        fn sync(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn mem(len: usize) -> Arc<Mem> {
        Arc::new(Mem {
            data: Mutex::new((0..len).map(|i| (i % 253) as u8).collect()),
            log: Mutex::new(Vec::new()),
        })
    }

    /// Every request reaching the handle is whole aligned sectors, for
    /// reads and writes at any offset and length; the bytes are right; a
    /// write changes only the bytes asked for.
    #[test]
    fn every_request_is_whole_aligned_sectors() {
        for sector in [512u32, 4096] {
            let m = mem(64 << 10);
            let strict = Arc::new(StrictIo::new(m.clone(), sector).unwrap());
            let dev = Device::new(strict, sector, Some(64 << 10)).unwrap();
            let want: Vec<u8> = m.data.lock().unwrap().clone();
            for (at, len) in [
                (0u64, 1usize),
                (1, 511),
                (511, 2),
                (4095, 4098),
                (0, 4096),
                (700, 20000),
            ] {
                let mut buf = vec![0u8; len];
                dev.read_exact_at(&mut buf, at).unwrap();
                assert_eq!(
                    buf,
                    want[at as usize..at as usize + len],
                    "{sector} {at} {len}"
                );
            }
            let mut now = want.clone();
            for (at, len) in [(3u64, 5usize), (510, 4), (4000, 9000), (8192, 4096)] {
                let data: Vec<u8> = (0..len).map(|i| (i as u8) ^ 0x5a).collect();
                dev.write_all_at(&data, at).unwrap();
                now[at as usize..at as usize + len].copy_from_slice(&data);
                assert_eq!(*m.data.lock().unwrap(), now, "{sector} {at} {len}");
            }
            let s = sector as u64;
            for (op, at, len) in m.log.lock().unwrap().iter() {
                assert!(
                    at.is_multiple_of(s) && (*len as u64).is_multiple_of(s),
                    "{op} {len} at {at}"
                );
            }
        }
    }

    /// Past the end a read is short or empty and a write is refused; the
    /// checker refuses unaligned offsets, lengths and buffers.
    #[test]
    fn ends_and_refusals() {
        let m = mem(8192);
        let dev = Device::new(m.clone(), 512, Some(8000)).unwrap();
        let mut buf = vec![0u8; 600];
        assert_eq!(dev.read_at(&mut buf, 7600).unwrap(), 400);
        assert_eq!(dev.read_at(&mut buf, 8000).unwrap(), 0);
        assert!(dev.read_exact_at(&mut buf, 7600).is_err());
        assert!(dev.write_all_at(&[1], 7999).is_err());
        assert!(dev.read_at(&mut buf, u64::MAX - 3).unwrap() == 0);
        let open = Device::new(m.clone(), 512, None).unwrap();
        assert!(open.read_at(&mut buf, u64::MAX - 3).is_err());
        let strict = StrictIo::new(m.clone(), 512).unwrap();
        let mut a = AlignedBuf::new(1024, 512).unwrap();
        assert!(strict.read_at(&mut a.bytes_mut()[..512], 512).is_ok());
        assert!(strict.read_at(&mut a.bytes_mut()[..512], 100).is_err());
        assert!(strict.read_at(&mut a.bytes_mut()[..100], 0).is_err());
        assert!(strict.read_at(&mut a.bytes_mut()[1..513], 0).is_err());
        assert!(strict.write_at(&a.bytes()[..512], 3).is_err());
        assert!(Device::new(m, 1000, None).is_err());
    }

    /// GPT at 512 and 4096 bytes, a bare NTFS volume and an MBR.
    #[test]
    fn geometry_from_the_disk_itself() {
        let mut gpt = vec![0u8; GEOMETRY_HEAD];
        gpt[512..520].copy_from_slice(GPT_SIGNATURE);
        gpt[544..552].copy_from_slice(&2047u64.to_le_bytes());
        let g = content_geometry(&gpt).unwrap();
        assert_eq!(
            (g.sector, g.sector_known, g.len),
            (512, true, Some(1 << 20))
        );
        let mut gpt4k = vec![0u8; GEOMETRY_HEAD];
        gpt4k[510] = 0x55;
        gpt4k[511] = 0xAA;
        gpt4k[4096..4104].copy_from_slice(GPT_SIGNATURE);
        gpt4k[4128..4136].copy_from_slice(&255u64.to_le_bytes());
        assert_eq!(content_geometry(&gpt4k).unwrap().len, Some(1 << 20));
        let mut ntfs = vec![0u8; 512];
        ntfs[3..11].copy_from_slice(NTFS_OEM);
        ntfs[11..13].copy_from_slice(&4096u16.to_le_bytes());
        ntfs[0x28..0x30].copy_from_slice(&255u64.to_le_bytes());
        assert_eq!(
            content_geometry(&ntfs),
            Some(ContentGeometry {
                sector: 4096,
                sector_known: true,
                len: Some(1 << 20),
                len_from: LenFrom::Ntfs,
            })
        );
        ntfs[11..13].copy_from_slice(&1000u16.to_le_bytes());
        assert_eq!(content_geometry(&ntfs), None);
        let mut mbr = vec![0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        mbr[446 + 4] = 0x07;
        mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        mbr[446 + 12..446 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        let g = content_geometry(&mbr).unwrap();
        assert!(!g.sector_known);
        assert_eq!(g.len_from, LenFrom::Mbr);
        assert_eq!(g.len, Some((2048 + u64::from(u32::MAX)) * 512));
        gpt[544..552].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(content_geometry(&gpt).unwrap().len, None);
        assert_eq!(content_geometry(&[0u8; 100]), None);
    }

    /// An MBR disk (one NTFS partition, type 7, at LBA `start` of `count`
    /// sectors) whose volume's boot sector says `bps` bytes per sector and
    /// `hidden` hidden sectors, laid out in `unit`-byte sectors.
    fn mbr_disk(unit: u64, start: u32, count: u32, bps: u16, hidden: u32) -> Vec<u8> {
        let mut d = vec![0u8; (u64::from(start) * unit) as usize + 512];
        d[510] = 0x55;
        d[511] = 0xAA;
        d[446 + 4] = 0x07;
        d[446 + 8..446 + 12].copy_from_slice(&start.to_le_bytes());
        d[446 + 12..446 + 16].copy_from_slice(&count.to_le_bytes());
        let b = (u64::from(start) * unit) as usize;
        d[b + 3..b + 11].copy_from_slice(NTFS_OEM);
        d[b + 11..b + 13].copy_from_slice(&bps.to_le_bytes());
        d[b + 0x1C..b + 0x20].copy_from_slice(&hidden.to_le_bytes());
        d[b + 0x28..b + 0x30].copy_from_slice(&(u64::from(count) - 1).to_le_bytes());
        d
    }

    fn geometry_of(d: &[u8]) -> ContentGeometry {
        let head = &d[..d.len().min(GEOMETRY_HEAD)];
        let mut read = |at: u64, buf: &mut [u8]| {
            let at = at as usize;
            match d.get(at..at + buf.len()) {
                Some(b) => {
                    buf.copy_from_slice(b);
                    true
                }
                None => false,
            }
        };
        device_geometry(head, &mut read).unwrap()
    }

    /// An MBR's sector size comes from its NTFS partition's boot sector
    /// when that agrees with where it was found; the length is the end of
    /// the last partition in that size. A boot sector that disagrees (its
    /// `BytesPerSector`, its hidden sectors, a volume larger than the
    /// partition) leaves the size unknown and assumed 512.
    #[test]
    fn an_mbr_disk_takes_its_sector_size_from_the_ntfs_boot_sector() {
        let g = geometry_of(&mbr_disk(4096, 256, 1000, 4096, 256));
        assert_eq!(
            g,
            ContentGeometry {
                sector: 4096,
                sector_known: true,
                len: Some((256 + 1000) * 4096),
                len_from: LenFrom::Mbr,
            }
        );
        let g = geometry_of(&mbr_disk(512, 2048, 4000, 512, 0));
        assert_eq!(
            (g.sector, g.sector_known, g.len),
            (512, true, Some((2048 + 4000) * 512))
        );
        let unknown = |d: Vec<u8>| {
            let g = geometry_of(&d);
            assert_eq!(
                (g.sector, g.sector_known, g.len_from),
                (512, false, LenFrom::Mbr),
                "{g:?}"
            );
        };
        // BytesPerSector 512 where the volume was found at 4096-byte LBAs.
        unknown(mbr_disk(4096, 256, 1000, 512, 256));
        // Hidden sectors naming another start.
        unknown(mbr_disk(4096, 256, 1000, 4096, 63));
        // A volume larger than its partition.
        let mut d = mbr_disk(4096, 256, 1000, 4096, 256);
        let b = 256 * 4096 + 0x28;
        d[b..b + 8].copy_from_slice(&5000u64.to_le_bytes());
        unknown(d);
        // No volume where the partition starts.
        let mut d = mbr_disk(4096, 256, 1000, 4096, 256);
        d[256 * 4096 + 3] = b'X';
        unknown(d);
    }
}
