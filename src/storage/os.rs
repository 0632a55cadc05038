// SPDX-License-Identifier: GPL-2.0-or-later
//! The operating-system specific pieces, in one place: positioned reads
//! and writes (used only below [`crate::storage::device::Device`], the one
//! sector-aligned path to a device's bytes), block-device facts, "is it
//! mounted?" (Linux; Windows: [`crate::storage::host`]), exclusive opens
//! and the list of local disks (Linux and Windows). Elsewhere conservative
//! fallbacks apply (a device is assumed mounted-unknown and the operator is
//! told).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use crate::storage::access::WriteAccess;

/// Reads up to `buf.len()` bytes at absolute offset `at`.
pub fn read_at(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(f, buf, at)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(f, buf, at)
    }
}

/// Writes up to `buf.len()` bytes at absolute offset `at`.
pub fn write_at(f: &File, buf: &[u8], at: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_at(f, buf, at)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_write(f, buf, at)
    }
}

/// Why opening a device or image for writing failed, as far as the
/// operator needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenFailure {
    /// The device, image or file system is read-only (or not ours to write).
    ReadOnly,
    /// Something else holds it open exclusively.
    Busy,
    /// The OS denies this user access (EACCES): not root.
    PermissionDenied,
    /// Any other I/O error.
    Other,
}

/// Classifies an error from [`open_for_write`].
pub fn open_failure(e: &std::io::Error) -> OpenFailure {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EACCES) {
        return OpenFailure::PermissionDenied;
    }
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        return OpenFailure::ReadOnly;
    }
    #[cfg(target_os = "linux")]
    {
        // EPERM, EROFS; EBUSY (O_EXCL on a mounted or held block device).
        match e.raw_os_error() {
            Some(1) | Some(30) => return OpenFailure::ReadOnly,
            Some(16) => return OpenFailure::Busy,
            _ => {}
        }
    }
    #[cfg(windows)]
    {
        // ERROR_WRITE_PROTECT; ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION.
        match e.raw_os_error() {
            Some(19) => return OpenFailure::ReadOnly,
            Some(32) | Some(33) => return OpenFailure::Busy,
            _ => {}
        }
    }
    OpenFailure::Other
}

/// Whether `path` is a block device.
pub fn is_block_device(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().starts_with(r"\\.\")
    }
}

/// Size of a file or block device in bytes (seeking to the end works for both).
pub fn size_of(f: &File) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut g = f.try_clone()?;
    g.seek(SeekFrom::End(0))
}

/// glibc's 64-bit `dev_t` layout (sys/sysmacros.h, `__SYSMACROS_DEFINE_*`):
/// major bits 0-11 at bit 8 and bits 12-31 at bit 32; minor bits 0-7 at
/// bit 0 and bits 8-31 at bit 12. The old 8-bit split (`major << 8 |
/// minor`) is wrong for majors over 255 and minors over 255 (NVMe
/// partitions past the 15th, device-mapper, loop devices past 255).
const DEV_MAJOR_LOW: u64 = 0xfff;
const DEV_MAJOR_LOW_SHIFT: u32 = 8;
const DEV_MAJOR_HIGH: u64 = 0xffff_f000;
const DEV_MAJOR_HIGH_SHIFT: u32 = 32;
const DEV_MINOR_LOW: u64 = 0xff;
const DEV_MINOR_HIGH: u64 = 0xffff_ff00;
const DEV_MINOR_HIGH_SHIFT: u32 = 12;

/// (major, minor) of a `dev_t` (glibc `gnu_dev_major`/`gnu_dev_minor`).
pub fn dev_split(dev: u64) -> (u64, u64) {
    let major = ((dev >> DEV_MAJOR_LOW_SHIFT) & DEV_MAJOR_LOW)
        | ((dev >> DEV_MAJOR_HIGH_SHIFT) & DEV_MAJOR_HIGH);
    let minor = (dev & DEV_MINOR_LOW) | ((dev >> DEV_MINOR_HIGH_SHIFT) & DEV_MINOR_HIGH);
    (major, minor)
}

/// The `dev_t` of (major, minor) (glibc `gnu_dev_makedev`).
pub fn dev_join(major: u64, minor: u64) -> u64 {
    ((major & DEV_MAJOR_LOW) << DEV_MAJOR_LOW_SHIFT)
        | ((major & DEV_MAJOR_HIGH) << DEV_MAJOR_HIGH_SHIFT)
        | (minor & DEV_MINOR_LOW)
        | ((minor & DEV_MINOR_HIGH) << DEV_MINOR_HIGH_SHIFT)
}

#[cfg(target_os = "linux")]
fn dev_numbers(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some(dev_split(std::fs::metadata(path).ok()?.rdev()))
}

/// The sysfs directory of a block device (`/sys/dev/block/M:m`, resolved).
#[cfg(target_os = "linux")]
fn sysfs_dir(path: &Path) -> Option<PathBuf> {
    if !is_block_device(path) {
        return None;
    }
    let (maj, min) = dev_numbers(path)?;
    std::fs::canonicalize(format!("/sys/dev/block/{maj}:{min}")).ok()
}

/// The sysfs directory that has the `queue/` of `dir`'s device: the device
/// itself, or for a partition (`partition` file present) its parent disk.
#[cfg(target_os = "linux")]
fn queue_owner(dir: &Path) -> Option<&Path> {
    if dir.join("partition").exists() {
        dir.parent()
    } else {
        Some(dir)
    }
}

/// Logical sector size of a block device, or `None` for a file or when the
/// OS does not say (callers then assume 512). A partition has no queue of
/// its own: its disk's is used.
pub fn logical_sector_size(path: &Path) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        if let Some(dir) = sysfs_dir(path) {
            if let Some(v) = queue_owner(&dir)
                .and_then(|d| std::fs::read_to_string(d.join("queue/logical_block_size")).ok())
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|v| v.is_power_of_two() && *v >= 512)
            {
                return Some(v);
            }
        }
    }
    let _ = path;
    None
}

/// Refuses what is neither a regular file, a directory nor a block device
/// (a FIFO would block the first read for ever, a character device such as
/// `/dev/zero` never ends), before anything opens it.
pub fn check_source_type(meta: &std::fs::Metadata, input: &Path) -> crate::error::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        let what = if t.is_fifo() {
            Some("a FIFO (named pipe)")
        } else if t.is_char_device() {
            Some("a character device")
        } else if t.is_socket() {
            Some("a socket")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(crate::error::Error::Unsupported {
                what: "source",
                offset: 0,
                detail: format!(
                    "{} is {what}: give a disk (block device or image), a partition, \
                     a hive file or a directory; `ntrescue locate` lists the disks",
                    input.display()
                ),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (meta, input);
    Ok(())
}

/// Refuses a write target that is read-only by its permissions or by the
/// block layer, which `open(O_RDWR)` does not catch for root: a regular
/// file without any write permission bit, or a block device whose
/// `/sys/class/block/<name>/ro` is 1 (`losetup -r`, `blockdev --setro`, a
/// write-protected disk). A partition of a read-only disk is read-only too.
pub fn refuse_if_read_only(path: &Path) -> crate::error::Result<()> {
    use crate::error::Error;
    // Windows gives no file metadata for a raw device (`\\.\PhysicalDriveN`):
    // a write-protected one fails to open for writing (ERROR_WRITE_PROTECT).
    #[cfg(windows)]
    if is_block_device(path) {
        return Ok(());
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("examining {}", path.display()), e))?;
    if meta.is_file() && meta.permissions().readonly() {
        return Err(Error::refused(crate::error::Code::ReadOnlyTarget, format!(
            "{} is read-only (no write permission bits): make it writable (chmod u+w) if you mean to repair it",
            path.display()
        )));
    }
    #[cfg(target_os = "linux")]
    if let Some(dir) = sysfs_dir(path) {
        let ro = |d: &Path| std::fs::read_to_string(d.join("ro")).is_ok_and(|s| s.trim() == "1");
        if ro(&dir) || (dir.join("partition").exists() && dir.parent().is_some_and(ro)) {
            return Err(Error::refused(crate::error::Code::ReadOnlyTarget, format!(
                "{} is a read-only block device (sysfs ro = 1): make it writable first (e.g. blockdev --setrw, \
                 or attach the image without losetup -r) if you mean to repair it",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn parse_dev(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Everything stacked on the block device whose sysfs directory is `dir`:
/// its partitions (subdirectories with a `partition` file) and, recursively,
/// the devices holding it or them (`holders/`: device-mapper, kpartx, md).
/// Appends (device number, name, is a holder) triples, `dir`'s own device
/// first.
#[cfg(target_os = "linux")]
fn stacked_on(dir: &Path, holder: bool, out: &mut Vec<((u64, u64), String, bool)>, depth: usize) {
    let Some(dev) = std::fs::read_to_string(dir.join("dev"))
        .ok()
        .and_then(|d| parse_dev(&d))
    else {
        return;
    };
    if out.iter().any(|(d, _, _)| *d == dev) || depth > 16 {
        return;
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.push((dev, name, holder));
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.join("partition").exists() {
                stacked_on(&p, holder, out, depth + 1);
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("holders")) {
        for e in rd.flatten() {
            if let Ok(h) = std::fs::canonicalize(e.path()) {
                stacked_on(&h, true, out, depth + 1);
            }
        }
    }
}

/// Mount points using `path` (the device, any partition of it, or — for an
/// image file — a loop device backed by it or a partition of that loop
/// device), and devices stacked on any of them (device-mapper, kpartx),
/// named "held by /dev/NAME". Linux: `/proc/self/mountinfo` matched by
/// major:minor and by source path, plus sysfs for loop backing files,
/// partitions and holders.
///
/// When the mount state cannot be read (no `/proc/self/mountinfo`, or an OS
/// where this check is not implemented) the list holds one entry starting
/// with "unknown", so it is never mistaken for "not mounted"; writers use
/// [`mount_check`] and refuse.
pub fn mounts_of(path: &Path) -> Vec<String> {
    mount_check(path).unwrap_or_else(|why| vec![format!("unknown: {why}")])
}

/// A procfs file, whose size the kernel gives as 0: read with room for a
/// typical one from the start, not grown from a few bytes read by read.
#[cfg(target_os = "linux")]
fn read_proc(path: &str) -> std::io::Result<String> {
    let mut text = String::with_capacity(16 << 10);
    std::io::Read::read_to_string(&mut File::open(path)?, &mut text)?;
    Ok(text)
}

/// [`mounts_of`], with `Err(why)` when the mount state cannot be known.
pub fn mount_check(path: &Path) -> std::result::Result<Vec<String>, String> {
    #[cfg(target_os = "linux")]
    {
        let info = read_proc("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo ({e})"))?;
        let mut devs: Vec<((u64, u64), String, bool)> = Vec::new();
        if let Some(dir) = sysfs_dir(path) {
            stacked_on(&dir, false, &mut devs, 0);
        }
        // Loop devices backed by this file (an image attached with losetup).
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Ok(rd) = std::fs::read_dir("/sys/block") {
            let loops = rd
                .flatten()
                .filter(|e| e.file_name().as_encoded_bytes().starts_with(b"loop"));
            for e in loops {
                let back = e.path().join("loop/backing_file");
                if std::fs::read_to_string(&back).is_ok_and(|b| Path::new(b.trim()) == canon) {
                    if let Ok(dir) = std::fs::canonicalize(e.path()) {
                        stacked_on(&dir, false, &mut devs, 0);
                    }
                }
            }
        }
        let dev_paths: Vec<PathBuf> = devs
            .iter()
            .map(|(_, n, _)| PathBuf::from("/dev").join(n))
            .collect();
        let mut out = Vec::new();
        for line in info.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 10 {
                continue;
            }
            let Some(dev) = parse_dev(f[2]) else {
                continue;
            };
            // Source field (after " - "): fuse mounts of the image file
            // itself, or fuseblk mounts naming the device.
            let sep = f.iter().position(|x| *x == "-").unwrap_or(f.len());
            let source = Path::new(f.get(sep + 2).copied().unwrap_or(""));
            if devs.iter().any(|(d, _, _)| *d == dev)
                || source == canon
                || dev_paths.iter().any(|p| p == source)
            {
                out.push(f[4].to_string());
            }
        }
        // A device built on top (dm/kpartx) holds it even when not mounted.
        for (_, name, holder) in &devs {
            if *holder {
                out.push(format!("held by /dev/{name}"));
            }
        }
        out.dedup();
        Ok(out)
    }
    #[cfg(windows)]
    {
        windows_mount_check(path)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = path;
        Err("the mount-state check is implemented for Linux and Windows only".into())
    }
}

/// Windows: a `\\.\X:` volume is mounted (it has a drive letter). Windows
/// does not mount a raw image file (an attached virtual disk's volume gets
/// a drive letter, which the serial check finds). Which volumes of a raw
/// disk (`\\.\PhysicalDriveN`) are mounted is known only per volume, by its
/// serial number ([`crate::storage::host::volume_users`]): `Err` here.
#[cfg(windows)]
fn windows_mount_check(path: &Path) -> std::result::Result<Vec<String>, String> {
    if let Some(l) = volume_letter(path) {
        return Ok(vec![format!(r"{l}:\")]);
    }
    if is_block_device(path) {
        return Err(
            "a raw disk's volumes are matched with the drive letters' volumes when writing".into(),
        );
    }
    Ok(Vec::new())
}

/// The drive letter of a `\\.\X:` volume path, if it is one.
pub fn volume_letter(path: &Path) -> Option<char> {
    let s = path.to_str()?;
    let rest = s.strip_prefix(r"\\.\").or_else(|| s.strip_prefix("//./"))?;
    let rest = rest.strip_suffix(['\\', '/']).unwrap_or(rest);
    match rest.as_bytes() {
        [l, b':'] if l.is_ascii_alphabetic() => Some(char::from(l.to_ascii_uppercase())),
        _ => None,
    }
}

/// Opens `path` for writing; a block device with `O_EXCL` so that the open
/// fails while anything (a mount, another tool) holds it.
///
/// Within this process a block device is opened exclusively once: every
/// caller gets the same handle for as long as any of them keeps it (a
/// second `O_EXCL` open by the same process fails with `EBUSY`, so editing
/// SYSTEM and SOFTWARE on one disk needs the shared handle). Files are
/// opened afresh each time.
pub fn open_for_write(_: &WriteAccess, path: &Path) -> std::io::Result<Arc<File>> {
    if !is_block_device(path) {
        return std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(Arc::new);
    }
    let key = std::fs::canonicalize(path)?;
    let mut open = EXCLUSIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    open.retain(|_, w| w.strong_count() > 0);
    if let Some(f) = open.get(&key).and_then(Weak::upgrade) {
        return Ok(f);
    }
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_EXCL on a block device: an exclusive open (open(2)); the
        // value differs between architectures, so it comes from libc.
        o.custom_flags(libc::O_EXCL);
    }
    let f = Arc::new(o.open(&key)?);
    open.insert(key, Arc::downgrade(&f));
    Ok(f)
}

/// The exclusive block-device handles this process holds, by canonical path.
static EXCLUSIVE: Mutex<BTreeMap<PathBuf, Weak<File>>> = Mutex::new(BTreeMap::new());

/// Local block devices: on Linux `/sys/block`, skipping loop/ram devices
/// that hold nothing and the disk that holds this machine's root file
/// system; on Windows `\\.\PhysicalDrive0` .. `31`.
pub fn block_devices() -> Vec<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        let root_dev = std::fs::metadata("/").ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.dev()
        });
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir("/sys/block") else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("ram") || name.starts_with("zram") {
                continue;
            }
            let size: u64 = std::fs::read_to_string(e.path().join("size"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            if size == 0 {
                continue;
            }
            let dev = PathBuf::from("/dev").join(&name);
            let holds_root = root_dev.is_some_and(|r| {
                mounts_of(&dev).iter().any(|m| m == "/")
                    || dev_numbers(&dev).is_some_and(|(a, b)| dev_join(a, b) == r)
            });
            if !holds_root {
                out.push(dev);
            }
        }
        out.sort();
        out
    }
    #[cfg(windows)]
    {
        windows_disks()
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        Vec::new()
    }
}

/// Windows numbers its disks `\\.\PhysicalDrive0`, `1`, ...: the ones probed.
#[cfg(windows)]
const PHYSICAL_DRIVES: u32 = 32;

/// `\\.\PhysicalDrive0` .. `31` that exist: those that open, and those that
/// exist but need an administrator (locate then says why it cannot read
/// them).
#[cfg(windows)]
fn windows_disks() -> Vec<PathBuf> {
    (0..PHYSICAL_DRIVES)
        .map(|n| PathBuf::from(format!(r"\\.\PhysicalDrive{n}")))
        .filter(|p| match File::open(p) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
        })
        .collect()
}

/// Whether two paths are on the same file system (device). Used to keep the
/// default backup directory off the volume being repaired.
pub fn same_filesystem(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // Compare drive prefixes (`D:`).
        let root = |p: &Path| {
            std::path::absolute(p)
                .ok()
                .and_then(|p| p.components().next().map(|c| c.as_os_str().to_owned()))
        };
        root(a) == root(b)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A synthetic sysfs: loop0 with partition loop0p1, and dm-0 built on
    /// the partition (as kpartx or a dm linear table would). Everything on
    /// top is found, and only dm-0 counts as a holder.
    #[test]
    fn partitions_and_holders_are_stacked_on_the_device() {
        let t = tempfile::tempdir().unwrap();
        let b = t.path().join("devices/virtual/block");
        let lp = b.join("loop0/loop0p1");
        std::fs::create_dir_all(lp.join("holders")).unwrap();
        std::fs::create_dir_all(b.join("loop0/holders")).unwrap();
        std::fs::create_dir_all(b.join("loop0/queue")).unwrap();
        std::fs::create_dir_all(b.join("dm-0/holders")).unwrap();
        std::fs::write(b.join("loop0/dev"), "7:0\n").unwrap();
        std::fs::write(lp.join("dev"), "259:0\n").unwrap();
        std::fs::write(lp.join("partition"), "1\n").unwrap();
        std::fs::write(b.join("dm-0/dev"), "253:0\n").unwrap();
        std::os::unix::fs::symlink("../../../dm-0", lp.join("holders/dm-0")).unwrap();
        let mut out = Vec::new();
        stacked_on(&b.join("loop0"), false, &mut out, 0);
        out.sort();
        assert_eq!(
            out,
            vec![
                ((7, 0), "loop0".to_string(), false),
                ((253, 0), "dm-0".to_string(), true),
                ((259, 0), "loop0p1".to_string(), false),
            ]
        );
        // The partition's queue is its disk's.
        assert_eq!(queue_owner(&lp), Some(b.join("loop0").as_path()));
        assert_eq!(
            queue_owner(&b.join("loop0")),
            Some(b.join("loop0").as_path())
        );
    }

    /// The glibc layout, checked against libc's own macros and against
    /// numbers the old 8-bit split got wrong (major 259 is blkext, NVMe
    /// partitions; minors over 255 are loop devices and dm targets).
    #[test]
    fn device_numbers_use_the_glibc_layout() {
        for (major, minor) in [
            (8u32, 1u32),
            (259, 0),
            (259, 17),
            (7, 300),
            (253, 70000),
            (4095, 0xfffff),
        ] {
            let dev = libc::makedev(major, minor);
            assert_eq!(dev_join(u64::from(major), u64::from(minor)), dev);
            assert_eq!(dev_split(dev), (u64::from(major), u64::from(minor)));
            assert_eq!(
                (u64::from(libc::major(dev)), u64::from(libc::minor(dev))),
                dev_split(dev)
            );
        }
        // 7:300 (loop device 300) is not 7 << 8 | 300 (the old encoding).
        assert_ne!(dev_join(7, 300), (7 << 8) | 300);
    }
}

/// Alignment of buffers, offsets and lengths for reads through a handle
/// from [`open_direct`]: Linux `O_DIRECT` wants the logical block size of
/// the device under the file (512 or 4096), Windows `FILE_FLAG_NO_BUFFERING`
/// the volume sector size; 4096 is a multiple of both.
pub const DIRECT_ALIGN: u32 = 4096;

/// Opens `path` read-only for reads that bypass the OS page cache: Linux
/// `O_DIRECT` (open(2)), Windows `FILE_FLAG_NO_BUFFERING` (CreateFile,
/// "File Buffering"). Every read through it must be whole
/// [`DIRECT_ALIGN`] units into an aligned buffer (a
/// [`crate::storage::device::Device`] does that). Fails where the OS or
/// the file system has no such reads (tmpfs, some FUSE file systems:
/// `EINVAL`; other systems: `Unsupported`).
pub fn open_direct(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_DIRECT);
        o.open(path)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        /// winbase.h `FILE_FLAG_NO_BUFFERING`.
        const FILE_FLAG_NO_BUFFERING: u32 = 0x2000_0000;
        o.custom_flags(FILE_FLAG_NO_BUFFERING);
        o.open(path)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (o, path);
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "no page-cache bypass on this OS",
        ))
    }
}
