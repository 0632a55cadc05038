// SPDX-License-Identifier: GPL-2.0-or-later
//! Raw disks and NTFS volumes: find Windows and its hives without mounting
//! anything. Everything here opens devices and images read-only; the one
//! writable path is [`crate::storage::extent::ExtentStore`], opened by the
//! edit engine after its preflight checks.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::partition::{self, Partition, Table, TableKind};
use crate::format::regf::log::find_log_files;
use crate::storage::device::{self, Device};
use crate::storage::extent::ExtentReader;
use crate::storage::ntfs::{FileLocation, Volume, VolumeFacts};
use crate::storage::os;
use crate::util::buf::Buf;

/// Directory of the hives inside a Windows volume.
pub const CONFIG_DIR: &str = r"Windows\System32\config";
/// BitLocker's boot-sector OEM id.
const BITLOCKER_OEM: &[u8; 8] = b"-FVE-FS-";
/// NTFS boot-sector OEM id.
const NTFS_OEM: &[u8; 8] = b"NTFS    ";
/// exFAT boot sector file system name (offset 3).
const EXFAT_OEM: &[u8; 8] = b"EXFAT   ";
/// ReFS boot sector file system name (offset 3).
const REFS_OEM: &[u8; 8] = b"ReFS\0\0\0\0";
/// FAT32 `BS_FilSysType` at offset 82, FAT12/16 at offset 54 (Microsoft FAT
/// specification, boot sector): "FAT32   ", "FAT16   ", "FAT12   ".
const FAT32_TYPE_AT: usize = 82;
const FAT16_TYPE_AT: usize = 54;

/// A disk, partition or image, opened read-only. Every read goes through
/// its [`Device`]: whole sectors, aligned.
pub struct Disk {
    path: PathBuf,
    dev: Device,
    size: u64,
    /// Logical sector size.
    pub sector_size: u32,
    /// Whether the OS (or, for a device the OS says nothing about, a GPT
    /// header or NTFS boot sector on it) gave `sector_size`, rather than
    /// it being assumed (an image file).
    sector_size_exact: bool,
    /// What told `size`, when the OS did not (a device it says nothing
    /// about).
    size_from: Option<device::LenFrom>,
    /// NTFS metadata pages read so far, shared by the volumes opened here.
    meta: Arc<crate::storage::ntfs::MetaCache>,
    /// The partition table, once read.
    table: std::sync::OnceLock<Table>,
    /// NTFS volumes opened here and not in use, by partition (start,
    /// length): a second look into a volume (SAM and SECURITY after
    /// SYSTEM, the BCD store) does not parse its boot sector and 128 KiB
    /// upcase table again.
    volumes: std::sync::Mutex<Vec<((u64, u64), Volume)>>,
}

/// Opens the source `path` read-only, after refusing what cannot hold a
/// disk, volume or hive (a FIFO would block the open itself; see
/// [`crate::storage::os::check_source_type`]). A path the OS gives no
/// metadata for (a Windows raw device) is opened as it is.
pub fn open_source(path: &Path) -> Result<File> {
    if let Ok(meta) = std::fs::metadata(path) {
        crate::storage::os::check_source_type(&meta, path)?;
    }
    File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))
}

impl Disk {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_source(path)?;
        Self::over(path, file, false)
    }

    /// Opens `path` read-only with the OS page cache bypassed
    /// ([`os::open_direct`]): every read is of whole
    /// [`os::DIRECT_ALIGN`] units (or the sector size, if larger). The
    /// error when the OS or the file system under an image refuses that.
    pub fn open_direct(path: &Path) -> Result<Self> {
        let file = os::open_direct(path)
            .map_err(|e| Error::io(format!("opening {} for direct reads", path.display()), e))?;
        Self::over(path, file, true)
    }

    fn over(path: &Path, file: File, direct: bool) -> Result<Self> {
        let ctx = |what: &str| format!("{what} {}", path.display());
        let file = Arc::new(file);
        let os_size = os::size_of(&file).ok().filter(|&n| n > 0);
        let sector = os::logical_sector_size(path);
        let device = os::is_block_device(path);
        let (size, sector_size, exact, size_from) = match (os_size, sector) {
            (Some(n), Some(s)) => (n, s, true, None),
            // An image file: any alignment is valid, 512 serves.
            (Some(n), None) if !device => (n, device::MIN_SECTOR, false, None),
            // A device the OS says nothing about: ask the disk itself.
            _ => {
                let probe = Device::from_file(file.clone(), device::PROBE_SECTOR, os_size)
                    .map_err(|e| Error::io(ctx("opening"), e))?;
                from_content(&probe, path, os_size)?
            }
        };
        let unit = if direct {
            sector_size.max(os::DIRECT_ALIGN)
        } else {
            sector_size
        };
        let dev =
            Device::from_file(file, unit, Some(size)).map_err(|e| Error::io(ctx("opening"), e))?;
        Ok(Disk {
            path: path.to_path_buf(),
            dev,
            size,
            sector_size,
            sector_size_exact: exact,
            size_from,
            meta: crate::storage::ntfs::MetaCache::new(),
            table: std::sync::OnceLock::new(),
            volumes: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The path given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// What told [`Disk::size`] when the OS did not give it (the partition
    /// table or a boot sector); `None` when the OS did.
    pub fn size_inferred(&self) -> Option<device::LenFrom> {
        self.size_from
    }

    /// Reads `len` bytes at `off` (bounded by the disk size).
    pub fn read(&self, off: u64, len: usize) -> Result<Vec<u8>> {
        if off.checked_add(len as u64).is_none_or(|e| e > self.size) {
            return Err(Error::Truncated {
                what: "disk read",
                offset: off,
                needed: len as u64,
                len: self.size,
            });
        }
        let mut buf = vec![0u8; len];
        self.dev.read_exact_at(&mut buf, off).map_err(|e| {
            Error::io(
                format!("reading {} at byte offset {off:#x}", self.path.display()),
                e,
            )
        })?;
        Ok(buf)
    }

    /// The partition table (read once per open disk).
    pub fn table(&self) -> Result<Table> {
        if let Some(t) = self.table.get() {
            return Ok(t.clone());
        }
        let t = partition::parse(
            &mut |o, l| self.read(o, l),
            self.size,
            self.sector_size,
            self.sector_size_exact,
        )
        .map_err(|e| e.in_file(&self.path))?;
        Ok(self.table.get_or_init(|| t).clone())
    }

    /// The read-only device (a clone sharing the handle).
    pub fn device(&self) -> Device {
        self.dev.clone()
    }

    /// A device over `file`, a write handle on the same path, with this
    /// disk's sector size and length.
    pub fn device_over(&self, file: Arc<File>) -> Result<Device> {
        Device::from_file(file, self.dev.sector(), Some(self.size))
            .map_err(|e| Error::io(format!("opening {}", self.path.display()), e))
    }
}

/// Sector size and length of a device the OS says nothing about (a Windows
/// `\\.\PhysicalDriveN`, whose handle has no size), from its first
/// sectors (and, for an MBR, its partitions' boot sectors:
/// [`device::device_geometry`]), read through `probe`, a device aligned
/// for any sector size in use. The OS's length, when it gave one, wins
/// over the content's; otherwise what told it is returned too.
fn from_content(
    probe: &Device,
    path: &Path,
    os_size: Option<u64>,
) -> Result<(u64, u32, bool, Option<device::LenFrom>)> {
    let mut head = vec![0u8; device::GEOMETRY_HEAD];
    let n = probe
        .read_at(&mut head, 0)
        .map_err(|e| Error::io(format!("reading {} at byte offset 0", path.display()), e))?;
    let mut read = |at: u64, buf: &mut [u8]| probe.read_exact_at(buf, at).is_ok();
    let g = device::device_geometry(&head[..n], &mut read).ok_or_else(|| Error::Unsupported {
        what: "device geometry",
        offset: 0,
        detail: format!(
            "{}: the OS gives neither its size nor its sector size, and it starts with no GPT, MBR or NTFS \
             boot sector to take them from",
            path.display()
        ),
    })?;
    let (size, from) = match (os_size, g.len) {
        (Some(n), _) => (n, None),
        (None, Some(n)) => (n, Some(g.len_from)),
        (None, None) => {
            return Err(Error::Unsupported {
                what: "device size",
                offset: 0,
                detail: format!(
                    "{}: neither the OS nor its partition table gives its size",
                    path.display()
                ),
            })
        }
    };
    Ok((size, g.sector, g.sector_known, from))
}

/// What a partition holds.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PartitionSummary {
    /// The partition.
    pub partition: Partition,
    /// "ntfs", "bitlocker", "fat" (an EFI system partition), "exfat",
    /// "refs", "none" (an all-zero first sector, e.g. the MSR) or "other".
    pub filesystem: FileSystem,
    /// NTFS facts when readable.
    pub volume: Option<VolumeFacts>,
    /// Whether `Windows\System32\config\SYSTEM` exists on it.
    pub has_windows: bool,
    /// An error met while reading it.
    pub error: Option<String>,
}

/// A Windows installation on a disk.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct WindowsVolume {
    /// The disk or image.
    pub disk: PathBuf,
    /// Partition table kind.
    pub table: TableKind,
    /// The partition.
    pub partition: Partition,
    /// Volume facts.
    pub volume: VolumeFacts,
    /// The SYSTEM hive.
    pub system: FileLocation,
    /// Its logs.
    pub system_logs: Vec<FileLocation>,
    /// The SOFTWARE hive.
    pub software: Option<FileLocation>,
    /// Its logs.
    pub software_logs: Vec<FileLocation>,
    /// `hiberfil.sys` header signature when it holds an active image
    /// (hibernation or Fast Startup).
    pub hibernation: Option<String>,
}

/// What a partition's first sector says it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileSystem {
    /// NTFS boot sector.
    Ntfs,
    /// A BitLocker-encrypted volume.
    Bitlocker,
    /// exFAT.
    Exfat,
    /// ReFS.
    Refs,
    /// FAT12/16/32 (an EFI system partition).
    Fat,
    /// All zeros (nothing formatted, or an MSR).
    None,
    /// Anything else, or unreadable.
    Other,
}

impl FileSystem {
    /// The name in reports ("ntfs", "bitlocker", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FileSystem::Ntfs => "ntfs",
            FileSystem::Bitlocker => "bitlocker",
            FileSystem::Exfat => "exfat",
            FileSystem::Refs => "refs",
            FileSystem::Fat => "fat",
            FileSystem::None => "none",
            FileSystem::Other => "other",
        }
    }
}

impl PartialEq<&str> for FileSystem {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for FileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the first sector of `p` says it holds.
pub fn filesystem_of(disk: &Disk, p: &Partition) -> FileSystem {
    let Ok(b) = disk.meta.head(disk.device(), (p.start, p.length), 512) else {
        return FileSystem::Other;
    };
    let oem = &b[3..11];
    let fat = |at: usize| b[at..at + 3] == *b"FAT" && b[510..512] == [0x55, 0xAA];
    if oem == NTFS_OEM {
        FileSystem::Ntfs
    } else if oem == BITLOCKER_OEM {
        FileSystem::Bitlocker
    } else if oem == EXFAT_OEM {
        FileSystem::Exfat
    } else if oem == REFS_OEM {
        FileSystem::Refs
    } else if fat(FAT32_TYPE_AT) || fat(FAT16_TYPE_AT) {
        FileSystem::Fat
    } else if b.iter().all(|&x| x == 0) {
        FileSystem::None
    } else {
        FileSystem::Other
    }
}

fn hive_with_logs(
    vol: &mut Volume,
    listing: &[String],
    name: &str,
) -> Result<Option<(FileLocation, Vec<FileLocation>)>> {
    let Some(real) = listing.iter().find(|n| n.eq_ignore_ascii_case(name)) else {
        return Ok(None);
    };
    let path = format!(r"{CONFIG_DIR}\{real}");
    let Some(rec) = vol.find(&path)? else {
        return Ok(None);
    };
    let hive = vol.locate(rec, &path)?;
    let mut logs = Vec::new();
    for (_, log) in find_log_files(listing, real).iter() {
        let lp = format!(r"{CONFIG_DIR}\{log}");
        if let Some(r) = vol.find(&lp)? {
            logs.push(vol.locate(r, &lp)?);
        }
    }
    Ok(Some((hive, logs)))
}

/// Reads the file at `path` (backslash-separated, case-insensitive) from
/// the NTFS volume on `p`, if it is there: at most `max` bytes, else an
/// error naming it. Compressed or encrypted files are refused.
pub fn read_ntfs_file(disk: &Disk, p: &Partition, path: &str, max: u64) -> Result<Option<Vec<u8>>> {
    let mut vol = open_volume(disk, p).map_err(|e| e.in_file(&disk.path))?;
    let Some(rec) = vol.find(path)? else {
        return Ok(None);
    };
    let loc = vol.locate(rec, path)?;
    if loc.size > max {
        return Err(Error::Invalid {
            what: "file",
            offset: p.start,
            detail: format!("{path} is {} bytes, more than the {max} expected", loc.size),
        });
    }
    Ok(Some(read_file_bytes(disk, &loc)?))
}

/// Active-hibernation check: the first bytes of `hiberfil.sys`.
pub fn hibernation_of(disk: &Disk, vol: &mut Volume) -> Result<Option<String>> {
    let Some(rec) = vol.find("hiberfil.sys")? else {
        return Ok(None);
    };
    let loc = vol.locate(rec, "hiberfil.sys")?;
    let head = match loc.extents.first() {
        Some(e) if e.file_offset == 0 => disk.read(e.device_offset, 8.min(e.length as usize))?,
        _ => return Ok(None), // empty, sparse or resident: no image
    };
    Ok(active_hibernation(&head))
}

/// The signature at the start of a `hiberfil.sys` when it holds an active
/// image ("HIBR", "WAKE" or "RSTR", any case: Windows hibernated or used
/// Fast Startup and would resume from it), `None` otherwise.
pub fn active_hibernation(head: &[u8]) -> Option<String> {
    let sig = String::from_utf8_lossy(&head[..4.min(head.len())]).to_string();
    matches!(sig.to_ascii_uppercase().as_str(), "HIBR" | "WAKE" | "RSTR").then_some(sig)
}

/// An NTFS volume of a disk, opened once: given back to the disk's cache
/// when dropped, for the next look into the same partition.
struct OpenVolume<'d> {
    disk: &'d Disk,
    at: (u64, u64),
    vol: Option<Volume>,
}

impl std::ops::Deref for OpenVolume<'_> {
    type Target = Volume;
    fn deref(&self) -> &Volume {
        self.vol
            .as_ref()
            .expect("an open volume is held until dropped")
    }
}

impl std::ops::DerefMut for OpenVolume<'_> {
    fn deref_mut(&mut self) -> &mut Volume {
        self.vol
            .as_mut()
            .expect("an open volume is held until dropped")
    }
}

impl Drop for OpenVolume<'_> {
    fn drop(&mut self) {
        if let (Some(v), Ok(mut cache)) = (self.vol.take(), self.disk.volumes.lock()) {
            cache.push((self.at, v));
        }
    }
}

fn open_volume<'d>(disk: &'d Disk, p: &Partition) -> Result<OpenVolume<'d>> {
    let at = (p.start, p.length);
    let cached = disk.volumes.lock().ok().and_then(|mut cache| {
        let i = cache.iter().position(|(k, _)| *k == at)?;
        Some(cache.swap_remove(i).1)
    });
    let vol = match cached {
        Some(v) => v,
        None => Volume::open_cached(disk.device(), p.start, p.length, disk.meta.clone())?,
    };
    Ok(OpenVolume {
        disk,
        at,
        vol: Some(vol),
    })
}

/// Which partition holds Windows, for an operator who named another one.
fn windows_hint(disk: &Disk, parts: &[PartitionSummary]) -> String {
    let wins: Vec<String> = parts
        .iter()
        .filter(|s| s.has_windows)
        .map(|s| s.partition.number.to_string())
        .collect();
    match wins.as_slice() {
        [] => format!(
            "no partition of {} holds Windows (`ntrescue locate` lists the disks)",
            disk.path.display()
        ),
        [one] => format!("Windows is on partition {one} (--partition {one})"),
        many => format!("Windows is on partitions {}", many.join(", ")),
    }
}

/// Looks at every partition.
pub fn scan(disk: &Disk) -> Result<(Table, Vec<PartitionSummary>)> {
    let table = disk.table()?;
    let mut out = Vec::new();
    for p in &table.partitions {
        let fs = filesystem_of(disk, p);
        let mut s = PartitionSummary {
            partition: p.clone(),
            filesystem: fs,
            volume: None,
            has_windows: false,
            error: None,
        };
        if fs == FileSystem::Ntfs {
            match open_volume(disk, p).and_then(|mut v| {
                Ok((
                    v.facts()?,
                    v.find(&format!(r"{CONFIG_DIR}\SYSTEM"))?.is_some(),
                ))
            }) {
                Ok((facts, win)) => {
                    s.volume = Some(facts);
                    s.has_windows = win;
                }
                Err(e) => s.error = Some(e.to_string()),
            }
        }
        out.push(s);
    }
    Ok((table, out))
}

/// Why no partition of `disk` holds Windows: BitLocker volumes are named,
/// and so is every partition that could not be read (it may be the one).
fn no_windows(disk: &Disk, parts: &[PartitionSummary]) -> Error {
    let locked: Vec<String> = parts
        .iter()
        .filter(|s| s.filesystem == FileSystem::Bitlocker)
        .map(|s| format!("partition {}", s.partition.number))
        .collect();
    if !locked.is_empty() {
        return Error::refused(
            crate::error::Code::Bitlocker,
            format!(
                "{} is BitLocker-encrypted ({}): unlock it first (e.g. dislocker) and give the unlocked volume",
                disk.path.display(),
                locked.join(", ")
            ),
        );
    }
    let unread: String = parts
        .iter()
        .filter_map(|s| Some((s.partition.number, s.error.as_deref()?)))
        .map(|(n, e)| format!(" (partition {n} could not be read: {e})"))
        .collect();
    Error::NotFound(format!(
        "no partition of {} holds {CONFIG_DIR}\\SYSTEM{unread}: is this the Windows disk? \
         `ntrescue locate` lists the disks and which partition holds Windows",
        disk.path.display()
    ))
}

/// Finds the Windows installation: the partition `partition` (1-based), or
/// the only partition holding `Windows\System32\config\SYSTEM`. Several
/// candidates without `partition` are refused with the list; BitLocker
/// volumes are named.
pub fn find_windows(disk: &Disk, partition: Option<u32>) -> Result<WindowsVolume> {
    let (table, parts) = scan(disk)?;
    let chosen = match partition {
        Some(n) => {
            let s = parts
                .iter()
                .find(|s| s.partition.number == n)
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "{} has no partition {n}; {}",
                        disk.path.display(),
                        windows_hint(disk, &parts)
                    ))
                })?;
            if !matches!(s.filesystem, FileSystem::Ntfs | FileSystem::Bitlocker) {
                return Err(Error::NotFound(format!(
                    "partition {n} of {} holds {}, not NTFS; {}",
                    disk.path.display(),
                    s.filesystem,
                    windows_hint(disk, &parts)
                )));
            }
            s
        }
        None => {
            let wins: Vec<&PartitionSummary> = parts.iter().filter(|s| s.has_windows).collect();
            match wins.as_slice() {
                [one] => *one,
                [] => return Err(no_windows(disk, &parts)),
                many => {
                    let list: Vec<String> = many
                        .iter()
                        .map(|s| {
                            format!(
                                "partition {} ({} bytes at {:#x})",
                                s.partition.number, s.partition.length, s.partition.start
                            )
                        })
                        .collect();
                    return Err(Error::refused(
                        crate::error::Code::PartitionAmbiguous,
                        format!(
                            "several partitions hold Windows: {}; choose one with --partition N",
                            list.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    if chosen.filesystem == FileSystem::Bitlocker {
        return Err(Error::refused(crate::error::Code::Bitlocker, format!(
            "partition {} is BitLocker-encrypted: unlock it first (e.g. dislocker) and give the unlocked volume",
            chosen.partition.number
        )));
    }
    let mut vol = open_volume(disk, &chosen.partition).map_err(|e| e.in_file(&disk.path))?;
    let in_disk = |e: Error| e.in_file(&disk.path);
    let facts = vol.facts().map_err(in_disk)?;
    let listing = vol.list(CONFIG_DIR).map_err(in_disk)?;
    let Some((system, system_logs)) =
        hive_with_logs(&mut vol, &listing, "SYSTEM").map_err(in_disk)?
    else {
        return Err(Error::NotFound(format!(
            "partition {} of {} has no {CONFIG_DIR}\\SYSTEM; {}",
            chosen.partition.number,
            disk.path.display(),
            windows_hint(disk, &parts)
        )));
    };
    let (software, software_logs) =
        match hive_with_logs(&mut vol, &listing, "SOFTWARE").map_err(in_disk)? {
            Some((h, l)) => (Some(h), l),
            None => (None, Vec::new()),
        };
    let hib = hibernation_of(disk, &mut vol)?;
    Ok(WindowsVolume {
        disk: disk.path.clone(),
        table: table.kind,
        partition: chosen.partition.clone(),
        volume: facts,
        system,
        system_logs,
        software,
        software_logs,
        hibernation: hib,
    })
}

/// Another hive of the Windows volume on `partition` (`SAM`, `SECURITY`),
/// with its logs; `None` when the volume has no such file.
pub fn config_hive(disk: &Disk, partition: &Partition, name: &str) -> Result<Option<HiveFiles>> {
    Ok(config_hives(disk, partition, &[name])?.pop().flatten())
}

/// A hive file of a volume and its logs.
pub type HiveFiles = (FileLocation, Vec<FileLocation>);

/// [`config_hive`] for each of `names`, the volume opened once.
pub fn config_hives(
    disk: &Disk,
    partition: &Partition,
    names: &[&str],
) -> Result<Vec<Option<HiveFiles>>> {
    let mut vol = open_volume(disk, partition).map_err(|e| e.in_file(&disk.path))?;
    let listing = vol.list(CONFIG_DIR)?;
    names
        .iter()
        .map(|name| hive_with_logs(&mut vol, &listing, name))
        .collect()
}

/// Largest file [`volume_file`] reads (a security template is a few KiB).
pub const SMALL_FILE_MAX: u64 = 1 << 20;

/// The bytes of a small file of the volume on `partition` (`path`
/// backslash-separated, case-insensitive); `None` when it is not there. A
/// file over [`SMALL_FILE_MAX`] is refused.
pub fn volume_file(disk: &Disk, partition: &Partition, path: &str) -> Result<Option<Vec<u8>>> {
    let mut vol = open_volume(disk, partition).map_err(|e| e.in_file(&disk.path))?;
    let Some(rec) = vol.find(path)? else {
        return Ok(None);
    };
    let loc = vol.locate(rec, path)?;
    if loc.size > SMALL_FILE_MAX {
        return Err(Error::Unsupported {
            what: "volume file",
            offset: 0,
            detail: format!(
                "{path} holds {} bytes, over the {SMALL_FILE_MAX} read for it",
                loc.size
            ),
        });
    }
    Ok(Some(read_file_bytes(disk, &loc)?))
}

/// Why the raw read path cannot give a file's logical bytes, if so:
/// NTFS-compressed or EFS-encrypted data is not what its clusters hold.
pub fn unreadable_reason(loc: &FileLocation) -> Option<String> {
    let what = if loc.encrypted {
        "EFS-encrypted"
    } else if loc.compressed {
        "NTFS-compressed"
    } else {
        return None;
    };
    Some(format!(
        "{} is {what}; ntrescue reads it only through a mount (mount the volume and give the mounted path)",
        loc.path
    ))
}

/// Reads a file by its extents (zeros for holes), hashing it on the way. A
/// resident file (a tiny or empty log) is the copy taken when it was
/// located. Compressed and encrypted files are refused.
pub fn read_file(disk: &Disk, loc: &FileLocation) -> Result<(Buf, String)> {
    let (data, sha) = read_file_with(disk, loc, true)?;
    Ok((data, sha.unwrap_or_default()))
}

/// [`read_file`] without the hash: for re-reads that are compared byte for
/// byte with bytes already hashed (before and after a write).
pub fn read_file_bytes(disk: &Disk, loc: &FileLocation) -> Result<Vec<u8>> {
    Ok(read_file_with(disk, loc, false)?.0.into_vec())
}

/// Compares a file's current bytes with `want` as [`read_file`] would read
/// them: the first differing offset (or `None`) and the SHA-256 of the
/// whole file as read. With `direct` (the same
/// disk opened around the page cache, as `loc` was located) the `written`
/// ranges are read through it in whole units first; the whole file is
/// compared through `cached`, a chunk at a time. A resident file is the
/// copy taken when it was located.
pub fn read_back(
    direct: Option<&Disk>,
    cached: &Disk,
    loc: &FileLocation,
    want: &[u8],
    written: &[std::ops::Range<u64>],
) -> Result<(Option<u64>, String)> {
    use crate::storage::readback::{compare_units, direct_units, first_of};
    if let Some(why) = unreadable_reason(loc) {
        return Err(Error::Refused(why));
    }
    let ctx = |e| Error::io(format!("reading back {}", loc.path), e);
    let first = match direct {
        Some(d) if !loc.resident => {
            let units = direct_units(written, u64::from(d.dev.sector()), loc.size);
            compare_units(&units, want, |at, buf| {
                ExtentReader::new(&d.dev, &loc.extents, loc.size)
                    .starting_at(at)
                    .read_exact(buf)
            })
            .map_err(ctx)?
        }
        _ => None,
    };
    let whole = match direct {
        Some(d) if loc.resident => FileReader::open(d, loc)?,
        _ => FileReader::open(cached, loc)?,
    };
    let (whole, sha) = crate::storage::readback::compare_hashing(whole, want).map_err(ctx)?;
    Ok((first_of(first, whole), sha))
}

/// A located file's bytes in order: a resident file's copy, or its extents
/// read from the disk (zeros for holes).
enum FileReader<'a> {
    Resident(std::io::Cursor<&'a [u8]>),
    Extents(ExtentReader<'a>),
}

impl<'a> FileReader<'a> {
    fn open(disk: &'a Disk, loc: &'a FileLocation) -> Result<Self> {
        if !loc.resident {
            return Ok(FileReader::Extents(ExtentReader::new(
                &disk.dev,
                &loc.extents,
                loc.size,
            )));
        }
        let data = loc
            .resident_data
            .as_deref()
            .ok_or_else(|| Error::Unsupported {
                what: "resident file",
                offset: 0,
                detail: format!(
                    "{}: its resident data was not read when it was located",
                    loc.path
                ),
            })?;
        if data.len() as u64 != loc.size {
            return Err(Error::Invalid {
                what: "resident $DATA",
                offset: 0,
                detail: format!(
                    "{}: {} bytes, but the attribute says {}",
                    loc.path,
                    data.len(),
                    loc.size
                ),
            });
        }
        Ok(FileReader::Resident(std::io::Cursor::new(data)))
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            FileReader::Resident(c) => c.read(buf),
            FileReader::Extents(r) => r.read(buf),
        }
    }
}

fn read_file_with(disk: &Disk, loc: &FileLocation, hash: bool) -> Result<(Buf, Option<String>)> {
    if let Some(why) = unreadable_reason(loc) {
        return Err(Error::Refused(why));
    }
    crate::format::regf::base_block::check_registry_file_size(loc.size, &loc.path)?;
    let mut r = FileReader::open(disk, loc)?;
    if hash {
        let (data, sha) = crate::util::digest::read_hashed(r, loc.size, &loc.path)?;
        return Ok((data, Some(sha)));
    }
    let len = usize::try_from(loc.size).map_err(|_| Error::Unsupported {
        what: "file size",
        offset: 0,
        detail: format!("{} is too large for this platform", loc.path),
    })?;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)
        .map_err(|e| Error::io(format!("reading {}", loc.path), e))?;
    Ok((data.into(), None))
}

/// The start of a source, read through the aligned device path before the
/// source is opened as a disk or a hive: what it is (an evidence or
/// virtual-disk container, a blank disk, a disk or volume, or a hive
/// file). Every read is of whole sectors of at least
/// [`device::PROBE_SECTOR`] bytes, valid on any disk in use, so that no
/// disk, partition or image is read except through a [`Device`] (a source
/// found to be a hive file is then read as a regular file).
pub struct SourceHead {
    path: PathBuf,
    dev: Device,
    block: bool,
    /// The first [`HEAD_LEN`] bytes (fewer when the source is shorter).
    head: Vec<u8>,
}

/// Bytes of a source [`SourceHead`] reads first: one probe unit, holding
/// every signature looked at (containers at 0, boot sectors' OEM ids at 3,
/// the MBR's boot signature at 510).
const HEAD_LEN: usize = device::PROBE_SECTOR as usize;

/// How much of a source [`SourceHead::is_blank`] looks at: 1 MiB, where a
/// partition table and the first partition's boot sector (aligned at 1 MiB
/// by every current partitioning tool) or a volume's boot sector would be.
const BLANK_PROBE: u64 = 1 << 20;

/// Step of [`SourceHead::is_blank`]'s reads past the head.
const BLANK_STEP: usize = 64 << 10;

impl SourceHead {
    /// Opens `path` read-only and reads its first sectors.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_source(path)?;
        let file = Arc::new(file);
        let block = os::is_block_device(path);
        // A device whose size the OS does not give is read to its end.
        let len = os::size_of(&file).ok().filter(|&n| n > 0 || !block);
        let unit = os::logical_sector_size(path)
            .unwrap_or(device::PROBE_SECTOR)
            .max(device::PROBE_SECTOR);
        let ctx = |e| Error::io(format!("reading {} at byte offset 0", path.display()), e);
        let dev = Device::from_file(file, unit, len).map_err(ctx)?;
        let mut head = vec![0u8; HEAD_LEN];
        let n = dev.read_at(&mut head, 0).map_err(ctx)?;
        head.truncate(n);
        Ok(SourceHead {
            path: path.to_path_buf(),
            dev,
            block,
            head,
        })
    }

    /// The first bytes read (up to 4 KiB).
    pub fn bytes(&self) -> &[u8] {
        &self.head
    }

    /// The forensic evidence container (EWF, AFF) the source is, if any.
    pub fn evidence(&self) -> Option<crate::format::evidence::Evidence> {
        crate::format::evidence::evidence_format(&self.head)
    }

    /// An evidence container refused, naming the command that exposes it
    /// raw (read-only); `None` for anything else.
    pub fn evidence_refusal(&self) -> Option<Error> {
        let ev = self.evidence()?;
        let shown = self.path.display().to_string();
        Some(Error::Unsupported {
            what: "evidence image format",
            offset: 0,
            detail: format!(
                "{shown} is {}, not a raw image: expose it raw, read-only, with `{}`; {}",
                ev.what,
                ev.command_for(&shown),
                ev.then
            ),
        })
    }

    /// When the source is a virtual-disk container (qcow2, VHDX, sparse
    /// VMDK, dynamic VHD) rather than a raw image, what it is. A fixed VHD
    /// is a raw image with a footer and needs nothing.
    pub fn container(&self) -> Option<&'static str> {
        if self.block {
            return None;
        }
        CONTAINERS
            .iter()
            .find(|(sig, _)| self.head.starts_with(sig))
            .map(|(_, what)| *what)
    }

    /// Whether the source looks like a disk or volume rather than a hive
    /// file: a block device, or a file starting with an MBR/GPT (boot
    /// signature at byte 510) or an NTFS or BitLocker boot sector. Anything
    /// else is treated as a hive file (and reported as "not a registry
    /// hive" if it is not one).
    pub fn is_disk(&self) -> bool {
        if self.block {
            return true;
        }
        let h = &self.head;
        if h.len() < device::MIN_SECTOR as usize || h.starts_with(b"regf") {
            return false;
        }
        h[510..512] == [0x55, 0xAA] || h[3..11] == *NTFS_OEM || h[3..11] == *BITLOCKER_OEM
    }

    /// Whether the first MiB of the source (all of it when shorter) is
    /// zeros: an empty disk, e.g. a cloud volume not attached yet or not
    /// yet restored from its snapshot. A source with a partition table or
    /// a boot sector is told by its head alone; `false` when a read fails.
    pub fn is_blank(&self) -> bool {
        if self.head.iter().any(|&b| b != 0) {
            return false;
        }
        if self.head.len() < HEAD_LEN {
            return true;
        }
        let mut buf = vec![0u8; BLANK_STEP];
        let mut at = HEAD_LEN as u64;
        while at < BLANK_PROBE {
            match self.dev.read_at(&mut buf, at) {
                Ok(0) => break,
                Ok(k) if buf[..k].iter().any(|&b| b != 0) => return false,
                Ok(k) => at += k as u64,
                Err(_) => return false,
            }
        }
        true
    }
}

/// Virtual-disk container formats, by the signature at byte 0: their
/// sectors are not stored in order, so they must be converted (or attached
/// read-only) first.
const CONTAINERS: [(&[u8], &str); 5] = [
    (b"QFI\xfb", "a qcow2 virtual disk"),
    (b"vhdxfile", "a VHDX virtual disk"),
    (b"KDMV", "a VMDK (sparse) virtual disk"),
    (b"conectix", "a dynamic VHD virtual disk"),
    (b"# Disk DescriptorFile", "a VMDK descriptor"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The first sector names the file system: NTFS, BitLocker, FAT32 and
    /// FAT16 (by `BS_FilSysType`), exFAT, ReFS, all zeros, or other.
    #[test]
    fn file_systems_are_told_by_their_boot_sector() {
        // (bytes placed in the first sector at their offsets, expected name)
        type Case<'a> = (&'a [(usize, &'a [u8])], &'a str);
        let cases: [Case; 9] = [
            (&[(3, NTFS_OEM)], "ntfs"),
            (&[(3, BITLOCKER_OEM)], "bitlocker"),
            (
                &[(3, b"MSDOS5.0"), (82, b"FAT32   "), (510, &[0x55, 0xAA])],
                "fat",
            ),
            (
                &[(3, b"mkfs.fat"), (54, b"FAT16   "), (510, &[0x55, 0xAA])],
                "fat",
            ),
            (&[(3, b"MSDOS5.0"), (82, b"FAT32   ")], "other"),
            (&[(3, EXFAT_OEM)], "exfat"),
            (&[(3, REFS_OEM)], "refs"),
            (&[], "none"),
            (&[(0, &[0xEB])], "other"),
        ];
        let t = tempfile::tempdir().unwrap();
        for (i, (fields, want)) in cases.iter().enumerate() {
            let mut img = vec![0u8; 4096];
            for (at, bytes) in fields.iter() {
                img[*at..*at + bytes.len()].copy_from_slice(bytes);
            }
            let path = t.path().join(format!("{i}.img"));
            std::fs::write(&path, &img).unwrap();
            let disk = Disk::open(&path).unwrap();
            let p = Partition {
                number: 1,
                start: 0,
                length: 4096,
                type_id: String::new(),
                type_name: "",
                name: String::new(),
            };
            assert_eq!(filesystem_of(&disk, &p), *want, "case {i}");
        }
    }

    /// A disk as bytes in memory.
    struct Mem(Vec<u8>);

    impl device::BlockIo for Mem {
        fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
            let at = usize::try_from(at).unwrap_or(usize::MAX).min(self.0.len());
            let n = buf.len().min(self.0.len() - at);
            buf[..n].copy_from_slice(&self.0[at..at + n]);
            Ok(n)
        }

        fn write_at(&self, _: &[u8], _: u64) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::PermissionDenied.into())
        }

        fn sync(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A device the OS says nothing about (a Windows `\\.\PhysicalDriveN`)
    /// holding an MBR whose one NTFS partition starts at 4096-byte LBA 256
    /// and spans 1000 sectors: read through a checker that refuses
    /// anything but whole 4096-byte units, its sector size comes from the
    /// NTFS boot sector, its length from the MBR, and hashing it says the
    /// length was inferred (`source-length-inferred`). A length the OS gives
    /// wins and is not flagged.
    #[test]
    fn a_device_without_os_geometry_is_measured_by_its_content() {
        let mut d = vec![0u8; 256 * 4096 + 4096];
        d[446 + 4] = 0x07;
        d[446 + 8..446 + 12].copy_from_slice(&256u32.to_le_bytes());
        d[446 + 12..446 + 16].copy_from_slice(&1000u32.to_le_bytes());
        d[510] = 0x55;
        d[511] = 0xAA;
        let b = 256 * 4096;
        d[b + 3..b + 11].copy_from_slice(NTFS_OEM);
        d[b + 11..b + 13].copy_from_slice(&4096u16.to_le_bytes());
        d[b + 0x1C..b + 0x20].copy_from_slice(&256u32.to_le_bytes());
        d[b + 0x28..b + 0x30].copy_from_slice(&999u64.to_le_bytes());
        let strict = device::StrictIo::new(Mem(d), 4096).unwrap();
        let probe = Device::new(Arc::new(strict), 4096, None).unwrap();
        let path = Path::new(r"\\.\PhysicalDrive2");
        let (size, sector, known, from) = from_content(&probe, path, None).unwrap();
        assert_eq!(
            (size, sector, known, from),
            (1256 * 4096, 4096, true, Some(device::LenFrom::Mbr))
        );
        let w = crate::storage::source::length_warning(path, size, from).unwrap();
        assert_eq!(w.code, crate::error::Code::SourceLengthInferred);
        assert!(
            w.message
                .contains(&format!("the {} bytes hashed", 1256 * 4096))
                && w.message.contains("MBR partition: a lower bound")
                && w.message.contains("PhysicalDrive2"),
            "{}",
            w.message
        );
        let (size, _, _, from) = from_content(&probe, path, Some(5 << 20)).unwrap();
        assert_eq!((size, from), (5 << 20, None));
        assert!(crate::storage::source::length_warning(path, size, from).is_none());
    }
}
