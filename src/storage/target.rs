// SPDX-License-Identifier: GPL-2.0-or-later
//! Where a hive file lives, and the only way to open it for writing.
//!
//! A target is a regular file (a hive file, or a file on a mounted volume)
//! or a file inside a raw NTFS volume, identified by its device, partition,
//! volume serial, MFT record and data runs. [`open_store`] runs the
//! preflight checks and opens the target for writing; it is called only by
//! the edit engine and by restore, never by `inspect` or `locate`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::access::WriteAccess;
use crate::storage::disk::{self, Disk};
use crate::storage::extent::{Extent, ExtentStore};
use crate::storage::ntfs::Volume;
use crate::storage::os;
use crate::storage::readback::{ReadBack, ReadPath};
use crate::storage::store::FileStore;
use crate::storage::store::HiveStore;

/// Where a file lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetInfo {
    /// A regular file.
    File {
        /// Absolute path.
        path: String,
    },
    /// A file inside a raw NTFS volume.
    Ntfs {
        /// The disk, partition or image.
        device: String,
        /// Partition number (1-based; 1 for a bare volume).
        partition: u32,
        /// Absolute byte offset of the volume.
        partition_offset: u64,
        /// Volume length, bytes.
        partition_length: u64,
        /// NTFS volume serial number; in JSON a hex string (`0x` and 16
        /// digits), read from a number too (older manifests).
        #[serde(with = "crate::util::hex64")]
        #[schemars(with = "crate::util::hex64::Hex64")]
        volume_serial: u64,
        /// Path inside the volume.
        path: String,
        /// MFT record number.
        mft_record: u64,
        /// File size, bytes.
        size: u64,
        /// Data runs as absolute device extents.
        extents: Vec<Extent>,
    },
}

impl TargetInfo {
    /// Human name.
    pub fn describe(&self) -> String {
        match self {
            TargetInfo::File { path } => path.clone(),
            TargetInfo::Ntfs {
                device,
                partition,
                path,
                ..
            } => format!("{device} partition {partition}: {path}"),
        }
    }
}

fn volume_on(
    d: Disk,
    device: &str,
    offset: u64,
    length: u64,
    serial: u64,
) -> Result<(Disk, Volume)> {
    let elsewhere = |what: String| {
        Error::refused(crate::error::Code::TargetChanged, format!(
            "{device}: {what}: not the volume this was recorded on (serial {serial:#x} at byte offset {offset:#x}). \
             If the disk was reattached under another name, give it with --target (`ntrescue locate` lists the disks)"
        ))
    };
    let mut v = Volume::open(d.device(), offset, length)
        .map_err(|e| elsewhere(format!("no readable NTFS volume there ({e})")))?;
    let facts = v.facts()?;
    if facts.serial != serial {
        return Err(elsewhere(format!(
            "the NTFS volume at byte offset {offset:#x} has serial {:#x}",
            facts.serial
        )));
    }
    Ok((d, v))
}

/// The fields of a raw-volume target [`relocate`] needs.
struct NtfsTarget<'a> {
    device: &'a str,
    partition_offset: u64,
    partition_length: u64,
    volume_serial: u64,
    path: &'a str,
    mft_record: u64,
    size: u64,
    extents: &'a [Extent],
}

/// A target split by kind, with the fields each kind is reached by.
enum Where<'a> {
    /// A regular file at this path.
    File(&'a str),
    /// A file inside a raw NTFS volume.
    Ntfs(NtfsTarget<'a>),
}

impl<'a> Where<'a> {
    /// Where `t` lives.
    fn of(t: &'a TargetInfo) -> Self {
        match t {
            TargetInfo::File { path } => Where::File(path),
            TargetInfo::Ntfs {
                device,
                partition_offset,
                partition_length,
                volume_serial,
                path,
                mft_record,
                size,
                extents,
                ..
            } => Where::Ntfs(NtfsTarget {
                device,
                partition_offset: *partition_offset,
                partition_length: *partition_length,
                volume_serial: *volume_serial,
                path,
                mft_record: *mft_record,
                size: *size,
                extents,
            }),
        }
    }
}

/// An NTFS target located again: the disk, the volume (serial checked)
/// and the file, which must still have the recorded record, size and runs.
/// A device that now holds something else is refused, never a panic.
fn relocate(t: &NtfsTarget<'_>) -> Result<(Disk, Volume, crate::storage::ntfs::FileLocation)> {
    relocate_on(Disk::open(Path::new(t.device))?, t)
}

/// [`relocate`] on a disk already opened (directly, for a read-back).
fn relocate_on(
    d: Disk,
    t: &NtfsTarget<'_>,
) -> Result<(Disk, Volume, crate::storage::ntfs::FileLocation)> {
    let (d, mut v) = volume_on(
        d,
        t.device,
        t.partition_offset,
        t.partition_length,
        t.volume_serial,
    )?;
    let loc = v.locate(t.mft_record, t.path)?;
    if loc.size != t.size || loc.extents != t.extents {
        return Err(Error::refused(
            crate::error::Code::TargetChanged,
            format!(
                "{}: {} (MFT record {}) no longer has the recorded size and data runs",
                t.device, t.path, t.mft_record
            ),
        ));
    }
    Ok((d, v, loc))
}

/// Reads the target back as it is now (an NTFS target located afresh, as
/// [`read_current`] does) and compares it with `want`, a chunk at a time,
/// bypassing the OS page cache where the OS and the file system allow
/// ([`crate::storage::readback`]).
pub fn read_back_current(
    t: &TargetInfo,
    want: &[u8],
    written: &[std::ops::Range<u64>],
) -> Result<ReadBack> {
    match Where::of(t) {
        Where::Ntfs(n) => {
            let (disk, path) = match direct_disk(n.device, n.partition_offset)? {
                Ok(d) => (d, ReadPath::Direct),
                Err(why) => (Disk::open(Path::new(n.device))?, ReadPath::Cached { why }),
            };
            // Located afresh through the direct handle; the written ranges
            // are read through it, the whole file through the page cache.
            let (d, _, loc) = relocate_on(disk, &n)?;
            let (differs_at, sha256) = match path {
                ReadPath::Direct => {
                    let cached = Disk::open(Path::new(n.device))?;
                    disk::read_back(Some(&d), &cached, &loc, want, written)?
                }
                ReadPath::Cached { .. } => disk::read_back(None, &d, &loc, want, written)?,
            };
            Ok(ReadBack {
                differs_at,
                sha256,
                path,
            })
        }
        Where::File(path) => crate::storage::readback::file(Path::new(path), want, written),
    }
}

/// `device` opened with the page cache bypassed, once a first aligned read
/// (the volume's boot sector) has shown that the OS accepts direct reads
/// of it; else (`Ok(Err(why))`) why not. Any other failure is an error: a
/// failing disk is not read around.
fn direct_disk(device: &str, volume_offset: u64) -> Result<std::result::Result<Disk, String>> {
    let attempt = Disk::open_direct(Path::new(device)).and_then(|d| {
        let at = volume_offset.min(d.size().saturating_sub(1));
        let n = d.size().saturating_sub(at).min(u64::from(os::DIRECT_ALIGN));
        d.read(at, n as usize).map(|_| d)
    });
    match attempt {
        Ok(d) => Ok(Ok(d)),
        Err(e) if crate::storage::readback::is_direct_refusal(&e) => Ok(Err(format!(
            "the device or the file system under it refused a direct read: {e}"
        ))),
        Err(e) => Err(e),
    }
}

/// Re-reads the target's current bytes. For an NTFS target the file is
/// located again and must still have the recorded record, size and runs.
pub fn read_current(t: &TargetInfo) -> Result<Vec<u8>> {
    match Where::of(t) {
        Where::Ntfs(n) => {
            let (d, _, loc) = relocate(&n)?;
            disk::read_file_bytes(&d, &loc)
        }
        Where::File(path) => {
            std::fs::read(path).map_err(|e| Error::io(format!("reading {path}"), e))
        }
    }
}

/// Preflight checks, then opens the target for in-place writing.
///
/// Raw NTFS targets are refused when the device (or a partition of it, or a
/// loop device over the image) is mounted or held open, when the volume is
/// marked dirty, when Windows is hibernated (or used Fast Startup), when the
/// file is resident/compressed/encrypted/sparse, or when the device or image
/// is read-only. Each refusal says what to do.
pub fn open_store(access: &WriteAccess, t: &TargetInfo) -> Result<Box<dyn HiveStore>> {
    match t {
        TargetInfo::File { path } => {
            let path = PathBuf::from(path);
            // Root opens a read-only target without complaint: check the bits.
            os::refuse_if_read_only(&path)?;
            Ok(Box::new(FileStore::open(access, &path)?))
        }
        TargetInfo::Ntfs {
            device,
            volume_serial,
            ..
        } => {
            let Where::Ntfs(ntfs) = Where::of(t) else {
                return Err(Error::Refused(format!("{device}: not a raw-volume target")));
            };
            let dev = Path::new(device);
            os::refuse_if_read_only(dev)?;
            let mounts = crate::storage::host::volume_users(dev, *volume_serial).map_err(|why| {
                Error::refused(crate::error::Code::MountStateUnknown, format!(
                    "{device}: cannot tell whether it is mounted ({why}); ntrescue writes raw volumes only when it \
                     can see that nothing uses them: give the mounted Windows tree instead"
                ))
            })?;
            if !mounts.is_empty() {
                return Err(Error::refused(crate::error::Code::Mounted, format!(
                    "{device} is mounted ({}): unmount it first; ntrescue writes raw volumes only when nothing else uses them",
                    mounts.join(", ")
                )));
            }
            let (d, mut v, loc) = relocate(&ntfs)?;
            let facts = v.facts()?;
            if facts.dirty {
                return Err(Error::refused(crate::error::Code::DirtyVolume, format!(
                    "{device}: the NTFS volume is marked dirty (unclean shutdown): let Windows or chkdsk repair it first"
                )));
            }
            if let Some(sig) = disk::hibernation_of(&d, &mut v)? {
                return Err(Error::refused(crate::error::Code::Hibernated, format!(
                    "{device}: hiberfil.sys holds an active hibernation image ('{sig}'): Windows would resume from it and \
                     discard the edit. Boot Windows and shut it down fully (no Fast Startup), or remove the image first"
                )));
            }
            if let Some(why) = loc.unwritable_reason() {
                return Err(Error::refused(crate::error::Code::UnwritableFile, why));
            }
            let file = os::open_for_write(access, dev).map_err(|e| match os::open_failure(&e) {
                os::OpenFailure::ReadOnly => Error::refused(
                    crate::error::Code::ReadOnlyTarget,
                    format!(
                    "{device} cannot be opened for writing ({e}): the device or image is read-only"
                ),
                ),
                os::OpenFailure::Busy => Error::refused(
                    crate::error::Code::Busy,
                    format!("{device} is busy ({e}): something holds it open"),
                ),
                os::OpenFailure::PermissionDenied => Error::PermissionDenied {
                    context: format!("opening {device} for writing"),
                },
                os::OpenFailure::Other => Error::io(format!("opening {device} for writing"), e),
            })?;
            let name = format!("{device}:{}", loc.path);
            let again = t.clone();
            Ok(Box::new(
                ExtentStore::new(d.device_over(file)?, name, loc.extents, loc.size).with_recheck(
                    Box::new(move |want, written| read_back_current(&again, want, written)),
                ),
            ))
        }
    }
}
