// SPDX-License-Identifier: GPL-2.0-or-later
//! What the operator points ntrescue at, and where the hives are in it.
//!
//! Accepted sources (auto-detected):
//! - a hive file (`.../SYSTEM`): its `.LOG`/`.LOG1`/`.LOG2` are looked up
//!   beside it case-insensitively, and a `SOFTWARE` hive beside it is read too;
//! - a directory: the root of a mounted Windows volume (an ntfs-3g mount or
//!   `D:\`), where `Windows\System32\config\SYSTEM` is resolved
//!   case-insensitively, or a `config` directory itself.
//!
//! Everything here opens files read-only.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use std::io::Read;

use crate::error::{Error, Result};
use crate::format::regf::base_block::check_registry_file_size;
use crate::util::buf::Buf;
use crate::util::digest::{read_hashed, HashAlg, Hashes, MultiHasher};

/// The kind of source, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A bare hive file.
    HiveFile,
    /// A directory tree (mounted Windows volume or config directory).
    MountedTree,
    /// A whole disk (block device or image) with a partition table.
    Disk,
    /// A single NTFS volume (partition device or image), no table.
    Volume,
}

/// A file to read: a regular file, or a file inside a raw NTFS volume.
#[derive(Clone, Debug)]
pub enum FileRef {
    /// A regular file.
    Path(PathBuf),
    /// A file inside a raw NTFS volume.
    Ntfs {
        /// The disk or image.
        disk: PathBuf,
        /// The partition holding the volume.
        partition: crate::format::partition::Partition,
        /// The volume's serial number.
        serial: u64,
        /// The file's location (boxed: it is much larger than a path).
        loc: Box<crate::storage::ntfs::FileLocation>,
    },
}

impl FileRef {
    /// A name for messages: the path, or `disk:pN:\\path\\in\\volume`.
    pub fn display(&self) -> PathBuf {
        match self {
            FileRef::Path(p) => p.clone(),
            FileRef::Ntfs {
                disk,
                partition,
                loc,
                ..
            } => PathBuf::from(format!(
                "{}:p{}:\\{}",
                disk.display(),
                partition.number,
                loc.path
            )),
        }
    }

    /// The file's own name (`SYSTEM.LOG1`).
    pub fn name(&self) -> String {
        match self {
            FileRef::Path(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            FileRef::Ntfs { loc, .. } => {
                loc.path.rsplit('\\').next().unwrap_or_default().to_string()
            }
        }
    }

    /// Where to write it back.
    pub fn target(&self) -> crate::storage::target::TargetInfo {
        match self {
            FileRef::Path(p) => crate::storage::target::TargetInfo::File {
                path: crate::storage::source::absolute(p),
            },
            FileRef::Ntfs {
                disk,
                partition,
                serial,
                loc,
            } => crate::storage::target::TargetInfo::Ntfs {
                device: crate::storage::source::absolute(disk),
                partition: partition.number,
                partition_offset: partition.start,
                partition_length: partition.length,
                volume_serial: *serial,
                path: loc.path.clone(),
                mft_record: loc.mft_record,
                size: loc.size,
                extents: loc.extents.clone(),
            },
        }
    }
}

/// A hive and the transaction logs found beside it.
#[derive(Clone, Debug)]
pub struct HivePaths {
    /// The primary hive file.
    pub primary: FileRef,
    /// `.LOG`, `.LOG1`, `.LOG2` (whichever exist), in that order.
    pub logs: Vec<FileRef>,
}

/// Where the hives of a source are.
#[derive(Clone, Debug)]
pub struct Located {
    /// Kind of source.
    pub kind: SourceKind,
    /// The path the operator gave.
    pub input: PathBuf,
    /// The SYSTEM hive (or the hive file given).
    pub system: HivePaths,
    /// The SOFTWARE hive, when present.
    pub software: Option<HivePaths>,
    /// For disk and volume sources: the Windows volume found.
    pub windows: Option<crate::storage::disk::WindowsVolume>,
    /// For disk and volume sources: the disk as opened to locate Windows,
    /// read-only, with its partition table and NTFS metadata cache, for the
    /// reads that follow (other hives of the volume, the BCD store), so
    /// that nothing located is read twice.
    pub disk: Option<SharedDisk>,
}

/// A read-only [`crate::storage::disk::Disk`] shared by the reads of one
/// source.
#[derive(Clone)]
pub struct SharedDisk(pub std::sync::Arc<crate::storage::disk::Disk>);

impl std::fmt::Debug for SharedDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedDisk").field(&self.0.path()).finish()
    }
}

impl Located {
    /// The disk at `path`, read-only: the one opened to locate Windows when
    /// it is that disk (its partition table and NTFS metadata already
    /// read), else opened now.
    pub fn open_disk(&self, path: &Path) -> Result<std::sync::Arc<crate::storage::disk::Disk>> {
        match &self.disk {
            Some(d) if d.0.path() == path => Ok(d.0.clone()),
            _ => Ok(std::sync::Arc::new(crate::storage::disk::Disk::open(path)?)),
        }
    }
}

/// A file read into memory, with its hash.
#[derive(Clone, Debug)]
pub struct LoadedFile {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Its own file name.
    pub name: String,
    /// Where it lives, for writing back.
    pub origin: FileRef,
    /// Its bytes.
    pub bytes: Buf,
    /// SHA-256 of `bytes`, lower-case hex.
    pub sha256: String,
}

impl LoadedFile {
    /// Reads a file (opened read-only), hashing it while it is read.
    pub fn read(r: &FileRef) -> Result<Self> {
        let path = r.display();
        let (bytes, sha256) = match r {
            FileRef::Path(p) => {
                let ctx = |e| Error::io(format!("reading {}", p.display()), e);
                let meta = fs::metadata(p).map_err(ctx)?;
                crate::storage::os::check_source_type(&meta, p)?;
                check_registry_file_size(meta.len(), &p.display().to_string())?;
                let f = fs::File::open(p).map_err(ctx)?;
                let len = f.metadata().map_err(ctx)?.len();
                check_registry_file_size(len, &p.display().to_string())?;
                check_extent(p, &f, len)?;
                read_hashed(f, len, &p.display().to_string())?
            }
            // A resident file's bytes were taken when it was located.
            FileRef::Ntfs { disk, loc, .. } => {
                crate::storage::disk::read_file(&crate::storage::disk::Disk::open(disk)?, loc)?
            }
        };
        Ok(LoadedFile {
            path,
            name: r.name(),
            origin: r.clone(),
            bytes,
            sha256,
        })
    }
}

/// A hive and its logs, read into memory.
#[derive(Clone, Debug)]
pub struct LoadedHive {
    /// The primary file.
    pub primary: LoadedFile,
    /// Its logs.
    pub logs: Vec<LoadedFile>,
}

impl LoadedHive {
    /// Reads a hive and its logs.
    pub fn read(paths: &HivePaths) -> Result<Self> {
        if let FileRef::Path(p) = &paths.primary {
            refuse_if_not_regf(p)?;
        }
        Ok(LoadedHive {
            primary: LoadedFile::read(&paths.primary)?,
            logs: paths
                .logs
                .iter()
                .map(LoadedFile::read)
                .collect::<Result<_>>()?,
        })
    }
}

/// A hive whose primary is read on demand ([`crate::storage::lazy`]); its
/// logs are small and read whole.
pub struct LazyHive {
    /// Where the primary was read from (for messages).
    pub path: PathBuf,
    /// Where it lives.
    pub origin: FileRef,
    /// Its length in bytes.
    pub size: u64,
    /// The primary's pages (shared with the replayed view of a dirty hive).
    pub image: std::rc::Rc<crate::storage::lazy::LazyImage>,
    /// Its logs: read whole and hashed beside a dirty primary (they are
    /// replayed), found but not read beside a clean one.
    pub logs: Vec<LogFile>,
}

/// A transaction log beside a hive read on demand.
#[derive(Clone, Debug)]
pub enum LogFile {
    /// Read whole and hashed: the primary is dirty (or its base block
    /// unreadable), so the log may be replayed.
    Read(LoadedFile),
    /// Found, not read: beside a clean primary, which Windows loads without
    /// its logs (a clean hive's log entries are never applied), so nothing
    /// reported depends on them. `--verify` reads and hashes them.
    Unread {
        /// Where it is (for messages).
        path: PathBuf,
        /// Where it lives.
        origin: FileRef,
        /// Its length in bytes.
        size: u64,
    },
}

impl LogFile {
    /// Notes a log without reading it: its length only.
    fn unread(r: &FileRef) -> Result<Self> {
        let size = match r {
            FileRef::Path(p) => fs::metadata(p)
                .map_err(|e| Error::io(format!("reading {}", p.display()), e))?
                .len(),
            FileRef::Ntfs { loc, .. } => loc.size,
        };
        Ok(LogFile::Unread {
            path: r.display(),
            origin: r.clone(),
            size,
        })
    }

    /// Its bytes, when it was read.
    pub fn read(&self) -> Option<&LoadedFile> {
        match self {
            LogFile::Read(f) => Some(f),
            LogFile::Unread { .. } => None,
        }
    }
}

impl LazyHive {
    /// Opens a hive for reading on demand: nothing of the primary is read
    /// here but its first bytes (a file that is not `regf` is refused).
    /// A file inside a raw volume that the extent path cannot read page by
    /// page (resident, sparse, compressed, encrypted) is read whole.
    pub fn open(paths: &HivePaths) -> Result<Self> {
        use crate::storage::lazy::{ExtentPages, FilePages, LazyImage, PageRead};
        let path = paths.primary.display();
        let (src, size): (Box<dyn PageRead>, u64) = match &paths.primary {
            FileRef::Path(p) => {
                refuse_if_not_regf(p)?;
                let ctx = |e| Error::io(format!("reading {}", p.display()), e);
                let meta = fs::metadata(p).map_err(ctx)?;
                crate::storage::os::check_source_type(&meta, p)?;
                let pages = FilePages::open(p)?;
                let len = crate::storage::os::size_of(pages.file()).map_err(ctx)?;
                check_registry_file_size(len, &p.display().to_string())?;
                check_extent(p, pages.file(), len)?;
                (Box::new(pages), len)
            }
            FileRef::Ntfs { disk, loc, .. } if page_readable(loc) => {
                check_registry_file_size(loc.size, &loc.path)?;
                let name = path.display().to_string();
                (
                    Box::new(ExtentPages::open(disk, loc.extents.clone(), name)?),
                    loc.size,
                )
            }
            other => {
                let f = LoadedFile::read(other)?;
                let len = f.bytes.len() as u64;
                (Box::new(crate::storage::lazy::MemPages(f.bytes)), len)
            }
        };
        let len = usize::try_from(size).map_err(|_| Error::Unsupported {
            what: "file size",
            offset: 0,
            detail: format!("{} is too large for this platform", path.display()),
        })?;
        use crate::format::regf::cell::HiveBytes;
        let image = LazyImage::new(src, len, path.display().to_string());
        // Clean by its base block: the logs are not read. Dirty, or a base
        // block that does not parse (reconciling reports why): read whole.
        let clean = image
            .range(0, crate::format::regf::base_block::BASE_BLOCK_SIZE.min(len))
            .ok()
            .and_then(|head| crate::format::regf::base_block::BaseBlock::parse(head).ok())
            .is_some_and(|bb| !bb.is_dirty());
        let logs = paths
            .logs
            .iter()
            .map(|l| match clean {
                true => LogFile::unread(l),
                false => LoadedFile::read(l).map(LogFile::Read),
            })
            .collect::<Result<_>>()?;
        Ok(LazyHive {
            image: std::rc::Rc::new(image),
            path,
            origin: paths.primary.clone(),
            size,
            logs,
        })
    }
}

impl LazyHive {
    /// What has been read of the primary (pages, bytes, reads) and of the
    /// logs (whole, one read each).
    pub fn stats(&self) -> crate::storage::lazy::ReadStats {
        let read: Vec<&LoadedFile> = self.logs.iter().filter_map(LogFile::read).collect();
        self.image.stats() + logs_stats(read.iter().copied())
    }
}

impl LoadedHive {
    /// What was read: every byte of the primary and the logs.
    pub fn stats(&self) -> crate::storage::lazy::ReadStats {
        logs_stats(std::iter::once(&self.primary).chain(&self.logs))
    }
}

/// Files read whole: one read each (a page count rounded up).
fn logs_stats<'a>(files: impl Iterator<Item = &'a LoadedFile>) -> crate::storage::lazy::ReadStats {
    let page = crate::storage::lazy::PAGE as u64;
    files
        .map(|f| crate::storage::lazy::ReadStats {
            pages: (f.bytes.len() as u64).div_ceil(page),
            bytes: f.bytes.len() as u64,
            reads: 1,
        })
        .fold(Default::default(), |a, b| a + b)
}

/// Whether a file inside a raw volume can be read page by page through its
/// extents: every byte allocated, none past the valid data length, stored
/// as is.
fn page_readable(loc: &crate::storage::ntfs::FileLocation) -> bool {
    !loc.resident
        && !loc.compressed
        && !loc.encrypted
        && !loc.sparse
        && loc.valid_length >= loc.size
        && crate::storage::extent::map(&loc.extents, 0, loc.size).is_ok()
}

/// A primary hive starts with `regf`: a file that does not is refused
/// after reading its first bytes, not after reading all of it.
/// Bytes a primary may hold past its base block's extent (4096 bytes + the
/// hive bins size, regf specification, "Base block", offset 40) before it
/// is refused unread: real primaries carry some hundreds of KiB of slack
/// past their bins at most (504 KiB in the corpus), and a dirty one's bins
/// grow by what its logs replay.
pub const PRIMARY_SLACK_MAX: u64 = 64 << 20;
/// Refuses, before reading it, a primary (a file starting with `regf`)
/// much larger than its own base block says: an apparent size over twice
/// the declared extent plus [`PRIMARY_SLACK_MAX`] (a sparse file, or one
/// with gigabytes appended). Reads only the first 4096 bytes. (A file's
/// allocated size cannot tell holes apart from a compressing file system,
/// so the apparent size against the base block decides.)
fn check_extent(p: &Path, f: &fs::File, len: u64) -> Result<()> {
    use crate::format::regf::base_block::{BASE_BLOCK_SIZE, OFF_HIVE_BINS_SIZE, SIGNATURE};
    let name = p.display().to_string();
    let mut head = vec![0u8; BASE_BLOCK_SIZE];
    let n = crate::storage::os::read_at(f, &mut head, 0)
        .map_err(|e| Error::io(format!("reading {name} at byte offset 0"), e))?;
    // On Windows a positioned read (`seek_read`) also moves the file's
    // cursor, and the caller reads the file sequentially from its start.
    {
        use std::io::{Seek, SeekFrom};
        let mut cursor = f;
        cursor
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(format!("reading {name} at byte offset 0"), e))?;
    }
    if n < OFF_HIVE_BINS_SIZE + 4 || head[..4] != SIGNATURE[..] {
        return Ok(());
    }
    let bins = crate::util::bytes::u32_at(&head, 0, OFF_HIVE_BINS_SIZE, "hive bins size")?;
    let declared = BASE_BLOCK_SIZE as u64 + u64::from(bins);
    let limit = declared.saturating_mul(2).saturating_add(PRIMARY_SLACK_MAX);
    if len > limit {
        return Err(Error::Unsupported {
            what: "hive file size",
            offset: OFF_HIVE_BINS_SIZE as u64,
            detail: format!(
                "{name} is {len} bytes, but its base block declares {declared} (4096 + hive bins \
                 size {bins}): more than {limit} bytes is not a hive file; refused without \
                 reading it"
            ),
        });
    }
    Ok(())
}

fn refuse_if_not_regf(p: &Path) -> Result<()> {
    let ctx = |e| Error::io(format!("reading {}", p.display()), e);
    let mut head = Vec::with_capacity(4);
    fs::File::open(p)
        .map_err(ctx)?
        .take(4)
        .read_to_end(&mut head)
        .map_err(ctx)?;
    if head.len() == 4 && head != crate::format::regf::base_block::SIGNATURE {
        return Err(Error::NotRegf { found: head }.in_file(p));
    }
    Ok(())
}

/// Whether `path` names a file in a `Windows\System32\config` directory
/// (any case): a hive given by its path inside a Windows volume's tree.
pub fn in_windows_config(path: &Path) -> bool {
    let parts: Vec<String> = std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_ascii_lowercase())
        .collect();
    parts.len() >= 4 && parts[parts.len() - 4..parts.len() - 1] == ["windows", "system32", "config"]
}

/// For a hive file inside a Windows tree (`<root>/Windows/System32/config/NAME`),
/// the signature of an active hibernation image in `<root>/hiberfil.sys`
/// ([`crate::storage::disk::active_hibernation`]). `None` when the file is absent,
/// empty or inactive, or the hive is not inside a Windows tree.
pub fn hibernation_beside(hive: &Path) -> Option<String> {
    if !in_windows_config(hive) {
        return None;
    }
    let root = hive.parent()?.parent()?.parent()?.parent()?;
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    let hib = find_ci(root, "hiberfil.sys").ok()??;
    let mut head = [0u8; 4];
    std::io::Read::read_exact(&mut fs::File::open(hib).ok()?, &mut head).ok()?;
    crate::storage::disk::active_hibernation(&head)
}

/// Names of the entries of `dir` (UTF-8 names only: a name that is not
/// UTF-8 cannot match the ASCII names looked for). A missing directory
/// lists nothing.
fn listing(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        if let Ok(n) = entry.file_name().into_string() {
            names.push(n);
        }
    }
    Ok(names)
}

/// Finds the entry of `dir` whose name equals `name` ignoring case: the
/// exact spelling if it exists, else the first case-insensitive match in
/// sorted order (never the directory's listing order).
pub fn find_ci(dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    let exact = dir.join(name);
    if exact.exists() {
        return Ok(Some(exact));
    }
    Ok(listing(dir)?
        .into_iter()
        .filter(|n| n.eq_ignore_ascii_case(name))
        .min()
        .map(|n| dir.join(n)))
}

/// Log files of `primary`: `<name>.LOG`, `.LOG1`, `.LOG2` (in that order),
/// chosen by the same rule as on a raw NTFS volume
/// ([`crate::format::regf::log::find_log_files`]): exact spellings first (upper-,
/// then lower-case extension, with the hive name as given, in lower and in
/// upper case), then any case-insensitive match in sorted order. Windows
/// writes upper case; copies and case-sensitive mounts may not, and may even
/// hold two spellings of one log.
pub fn find_logs(primary: &Path) -> Result<Vec<PathBuf>> {
    let dir = match primary.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = primary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let found = crate::format::regf::log::find_log_files(&listing(dir)?, &name);
    Ok([found.log, found.log1, found.log2]
        .into_iter()
        .flatten()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect())
}

fn hive_paths(primary: PathBuf) -> Result<HivePaths> {
    let logs = find_logs(&primary)?
        .into_iter()
        .map(FileRef::Path)
        .collect();
    Ok(HivePaths {
        primary: FileRef::Path(primary),
        logs,
    })
}

fn ntfs_paths(
    disk: &Path,
    w: &crate::storage::disk::WindowsVolume,
    hive: &crate::storage::ntfs::FileLocation,
    logs: &[crate::storage::ntfs::FileLocation],
) -> HivePaths {
    let r = |loc: &crate::storage::ntfs::FileLocation| FileRef::Ntfs {
        disk: disk.to_path_buf(),
        partition: w.partition.clone(),
        serial: w.volume.serial,
        loc: Box::new(loc.clone()),
    };
    HivePaths {
        primary: r(hive),
        logs: logs.iter().map(r).collect(),
    }
}

/// A disk or volume source: finds Windows on it (partition `partition`, or
/// the only one holding Windows) without mounting anything.
pub fn locate_disk(input: &Path, partition: Option<u32>) -> Result<Located> {
    let disk = crate::storage::disk::Disk::open(input)?;
    if let Err(e) = disk.table() {
        if !matches!(e, Error::Io { .. }) {
            return Err(Error::NotFound(format!(
                "{e}: no partition table or NTFS volume there: wrong device? \
                 `ntrescue locate` lists the disks and which partition holds Windows"
            )));
        }
    }
    let w = crate::storage::disk::find_windows(&disk, partition)?;
    let kind = if w.table == crate::format::partition::TableKind::None {
        SourceKind::Volume
    } else {
        SourceKind::Disk
    };
    let system = ntfs_paths(input, &w, &w.system, &w.system_logs);
    let software = w
        .software
        .as_ref()
        .map(|s| ntfs_paths(input, &w, s, &w.software_logs));
    Ok(Located {
        kind,
        input: input.to_path_buf(),
        system,
        software,
        windows: Some(w),
        disk: Some(SharedDisk(std::sync::Arc::new(disk))),
    })
}

/// Detects what `input` is and where its hives are.
pub fn locate(input: &Path) -> Result<Located> {
    locate_with(input, None)
}

/// [`locate`], choosing partition `partition` of a disk.
pub fn locate_with(input: &Path, partition: Option<u32>) -> Result<Located> {
    // Windows gives no file metadata for a raw device (`\\.\PhysicalDriveN`).
    if cfg!(windows) && crate::storage::os::is_block_device(input) {
        return locate_disk(input, partition);
    }
    let meta = fs::metadata(input).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound && input.starts_with("/dev") {
            " (is it the right device? `ntrescue locate` lists the disks)"
        } else {
            ""
        };
        Error::io(format!("opening {}{hint}", input.display()), e)
    })?;
    crate::storage::os::check_source_type(&meta, input)?;
    let no_partitions = |what: &str| match partition {
        Some(n) => Err(Error::Usage(format!(
            "--partition {n}: {} is {what}, which has no partitions; --partition chooses one \
             partition of a whole disk",
            input.display()
        ))),
        None => Ok(()),
    };
    if meta.is_dir() {
        no_partitions("a directory")?;
        return locate_tree(input);
    }
    // What the source is, from its first sectors, read through the aligned
    // device path (a disk, partition or image is never read otherwise; a
    // hive file is then read as a regular file).
    let head = crate::storage::disk::SourceHead::open(input)?;
    // An EWF (E01) or AFF evidence image is not a raw disk: refused, naming
    // the command that exposes it raw (read-only).
    if let Some(e) = head.evidence_refusal() {
        return Err(e);
    }
    if head.is_blank() {
        return Err(Error::NotFound(format!(
            "{} is empty (its first MiB is all zeros: no partition table, no file system): \
             is the volume attached, and is it the right one? `ntrescue locate` lists the disks",
            input.display()
        )));
    }
    if head.is_disk() {
        drop(head);
        return locate_disk(input, partition);
    }
    if let Some(what) = head.container() {
        return Err(Error::Unsupported {
            what: "disk image format",
            offset: 0,
            detail: format!(
                "{} is {what}, not a raw image: convert it (qemu-img convert -O raw {} disk.raw) \
                 or attach it read-only (qemu-nbd --read-only -c /dev/nbd0 ...) and give the raw image or device",
                input.display(),
                input.display()
            ),
        });
    }
    no_partitions("a hive file")?;
    let primary = input.to_path_buf();
    let mut software = None;
    let is_system = primary
        .file_name()
        .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("SYSTEM"));
    if is_system {
        if let Some(dir) = primary.parent() {
            if let Some(sw) = find_ci(dir, "SOFTWARE")?.filter(|p| p.is_file()) {
                software = Some(hive_paths(sw)?);
            }
        }
    }
    Ok(Located {
        kind: SourceKind::HiveFile,
        input: input.to_path_buf(),
        system: hive_paths(primary)?,
        software,
        windows: None,
        disk: None,
    })
}

fn locate_tree(root: &Path) -> Result<Located> {
    // A config directory given directly, or the root of a Windows volume.
    let config = if find_ci(root, "SYSTEM")?.is_some_and(|p| p.is_file()) {
        Some(root.to_path_buf())
    } else {
        let mut dir = Some(root.to_path_buf());
        for part in ["Windows", "System32", "config"] {
            dir = match dir {
                Some(d) => find_ci(&d, part)?.filter(|p| p.is_dir()),
                None => None,
            };
        }
        dir
    };
    let Some(config) = config else {
        return Err(Error::NotFound(format!(
            "{} has no Windows\\System32\\config directory (is this the Windows volume?)",
            root.display()
        )));
    };
    let Some(system) = find_ci(&config, "SYSTEM")?.filter(|p| p.is_file()) else {
        return Err(Error::NotFound(format!(
            "{} exists but holds no SYSTEM hive",
            config.display()
        )));
    };
    let software = match find_ci(&config, "SOFTWARE")?.filter(|p| p.is_file()) {
        Some(p) => Some(hive_paths(p)?),
        None => None,
    };
    Ok(Located {
        kind: SourceKind::MountedTree,
        input: root.to_path_buf(),
        system: hive_paths(system)?,
        software,
        windows: None,
        disk: None,
    })
}

/// Another hive of the same Windows installation as `located`'s SYSTEM
/// (`SAM`, `SECURITY`, `SOFTWARE`): beside it in its directory, or in the
/// same NTFS volume's `config` directory. `None` when there is none.
pub fn sibling_hive(located: &Located, name: &str) -> Result<Option<HivePaths>> {
    Ok(sibling_hives(located, &[name])?.pop().flatten())
}

/// [`sibling_hive`] for each of `names` (on a raw disk, the volume opened
/// once, through the disk opened to locate Windows).
pub fn sibling_hives(located: &Located, names: &[&str]) -> Result<Vec<Option<HivePaths>>> {
    match &located.system.primary {
        FileRef::Path(p) => {
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            names
                .iter()
                .map(|name| match find_ci(dir, name)?.filter(|p| p.is_file()) {
                    Some(f) => Ok(Some(hive_paths(f)?)),
                    None => Ok(None),
                })
                .collect()
        }
        FileRef::Ntfs {
            disk, partition, ..
        } => {
            let Some(w) = &located.windows else {
                return Ok(vec![None; names.len()]);
            };
            let d = located.open_disk(disk)?;
            Ok(crate::storage::disk::config_hives(&d, partition, names)?
                .into_iter()
                .map(|found| found.map(|(h, logs)| ntfs_paths(disk, w, &h, &logs)))
                .collect())
        }
    }
}

/// SHA-256 of a whole file or device, reading 4 MiB at a time; `progress`
/// is called with (bytes done, total).
pub fn hash_source(path: &std::path::Path, progress: &mut dyn FnMut(u64, u64)) -> Result<String> {
    let (h, _) = hash_source_with(path, &[HashAlg::Sha256], progress)?;
    Ok(h.sha256.unwrap_or_default())
}

/// The digests in `algs` of a whole file or device, read once through its
/// aligned [`Device`](crate::storage::device::Device), 4 MiB at a time;
/// `progress` is called with (bytes done, total). With them, the warning
/// [`length_warning`] gives when the OS did not say the length hashed. A
/// directory (a mounted tree) has no single byte stream to hash: refused.
pub fn hash_source_with(
    path: &std::path::Path,
    algs: &[HashAlg],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Hashes, Option<crate::error::Warning>)> {
    if path.is_dir() {
        return Err(Error::Refused(format!(
            "{} is a directory: a mounted tree has no single image to hash; hash the device or \
             image it was mounted from",
            path.display()
        )));
    }
    // Through the one aligned device path: a raw Windows disk takes whole
    // sectors only, and its length comes from the OS or its partition table.
    let disk = crate::storage::disk::Disk::open(path)?;
    let (dev, total) = (disk.device(), disk.size());
    let mut h = MultiHasher::new(algs);
    let mut buf = vec![0u8; 4 << 20];
    let mut done = 0u64;
    while done < total {
        let want = usize::try_from(total - done).map_or(buf.len(), |l| l.min(buf.len()));
        dev.read_exact_at(&mut buf[..want], done).map_err(|e| {
            Error::io(
                format!("reading {} at byte offset {done:#x}", path.display()),
                e,
            )
        })?;
        h.update(&buf[..want]);
        done += want as u64;
        progress(done, total);
    }
    Ok((
        h.finish(),
        length_warning(path, total, disk.size_inferred()),
    ))
}

/// The warning `source-length-inferred` for a source hashed to a length
/// the OS did not give (a Windows `\\.\PhysicalDriveN`): `total` bytes, as
/// `from` (the partition table or a boot sector) told them. `None` when
/// the OS gave the length (`from` is `None`).
pub fn length_warning(
    path: &Path,
    total: u64,
    from: Option<crate::storage::device::LenFrom>,
) -> Option<crate::error::Warning> {
    let from = from?;
    Some(crate::error::Warning::new(
        crate::error::Code::SourceLengthInferred,
        format!(
            "--hash-source: the OS gives no length for {}; the {total} bytes hashed are the \
             length told by {}",
            path.display(),
            from.describe()
        ),
    ))
}

/// Absolute form of a path (for the manifest), without resolving links.
pub fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_config_paths_are_recognised_in_any_case() {
        assert!(in_windows_config(Path::new(
            "/mnt/win/Windows/System32/config/SYSTEM"
        )));
        assert!(in_windows_config(Path::new(
            "/mnt/WINDOWS/system32/CONFIG/software"
        )));
        assert!(!in_windows_config(Path::new("/case/SYSTEM")));
        assert!(!in_windows_config(Path::new("/x/System32/config/SYSTEM")));
        assert!(!in_windows_config(Path::new("config/SYSTEM")));
    }

    #[test]
    fn finds_logs_and_tree_case_insensitively() {
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("WINDOWS/system32/Config");
        fs::create_dir_all(&cfg).unwrap();
        for f in ["system", "system.log1", "SYSTEM.LOG2", "Software"] {
            fs::write(cfg.join(f), b"x").unwrap();
        }
        let l = locate(t.path()).unwrap();
        assert_eq!(l.kind, SourceKind::MountedTree);
        assert_eq!(l.system.primary.name(), "system");
        let logs: Vec<_> = l.system.logs.iter().map(|p| p.name()).collect();
        assert_eq!(logs, ["system.log1", "SYSTEM.LOG2"]);
        assert!(l.software.is_some());
    }

    /// Two spellings of one log: the choice follows the raw-NTFS rule
    /// (exact spellings first), not the directory's listing order.
    #[test]
    fn log_choice_prefers_exact_spellings_like_the_ntfs_path() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for f in [
            "SYSTEM",
            "SYSTEM.LOG1",
            "system.log1",
            "System",
            "SyStEm.LoG2",
        ] {
            fs::write(d.join(f), b"x").unwrap();
        }
        // Many more case variants of SYSTEM.LOG1, so that listing order
        // cannot pick the expected one by luck.
        let base: Vec<char> = "system.log1".chars().collect();
        for mask in (1u32..2048).step_by(37) {
            let v: String = base
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if mask & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        *c
                    }
                })
                .collect();
            fs::write(d.join(v), b"x").unwrap();
        }
        let names = |primary: &str| -> Vec<String> {
            find_logs(&d.join(primary))
                .unwrap()
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        let listing = listing(d).unwrap();
        for primary in ["SYSTEM", "System"] {
            let want = crate::format::regf::log::find_log_files(&listing, primary);
            let want: Vec<String> = [want.log, want.log1, want.log2]
                .into_iter()
                .flatten()
                .collect();
            assert_eq!(names(primary), want, "{primary}");
        }
        assert_eq!(names("SYSTEM"), ["SYSTEM.LOG1", "SyStEm.LoG2"]);
        // "System": no System.LOG1 / system.LOG1, so SYSTEM.LOG1 (the
        // upper-case spelling) wins over system.log1 and the others.
        assert_eq!(names("System"), ["SYSTEM.LOG1", "SyStEm.LoG2"]);
        // Only case variants of the hive name are found, deterministically.
        assert_eq!(
            find_ci(d, "sYsTeM.lOg2").unwrap(),
            Some(d.join("SyStEm.LoG2"))
        );
    }

    #[test]
    fn tree_without_system_is_not_found() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("Windows/System32/config")).unwrap();
        let e = locate(t.path()).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::NotFound);
        let e = locate(&t.path().join("Windows")).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::NotFound);
    }
}
