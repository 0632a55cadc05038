// SPDX-License-Identifier: GPL-2.0-or-later
//! The operating-system specific pieces, in one place: positioned reads,
//! block-device facts, "is it mounted?", and exclusive opens. Linux is the
//! tested platform; elsewhere conservative fallbacks apply (a device is
//! assumed mounted-unknown and the operator is told).

use std::fs::File;
use std::path::{Path, PathBuf};

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

/// Reads exactly `buf.len()` bytes at `at`.
pub fn read_exact_at(f: &File, mut buf: &mut [u8], mut at: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = read_at(f, buf, at)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        at += n as u64;
    }
    Ok(())
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

#[cfg(target_os = "linux")]
fn dev_numbers(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata(path).ok()?.rdev();
    // Linux encoding of dev_t (glibc gnu_dev_major/minor).
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    Some((major, minor))
}

/// Logical sector size of a block device (512 when unknown or a file).
pub fn logical_sector_size(path: &Path) -> u32 {
    #[cfg(target_os = "linux")]
    {
        if let Some((maj, min)) = dev_numbers(path) {
            let p = format!("/sys/dev/block/{maj}:{min}/queue/logical_block_size");
            if let Some(v) = std::fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return v;
            }
        }
    }
    let _ = path;
    512
}

/// Mount points using `path` (the device, any partition of it, or — for an
/// image file — a loop device backed by it). Linux: `/proc/self/mountinfo`
/// matched by major:minor, plus loop backing files.
pub fn mounts_of(path: &Path) -> Vec<String> {
    #[cfg(target_os = "linux")]
    {
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return Vec::new();
        };
        let mut devs: Vec<(u64, u64)> = Vec::new();
        if let Some((maj, min)) = dev_numbers(path).filter(|_| is_block_device(path)) {
            devs.push((maj, min));
            // Partitions of this disk: /sys/dev/block/M:m/<name>N/dev.
            if let Ok(rd) = std::fs::read_dir(format!("/sys/dev/block/{maj}:{min}")) {
                for e in rd.flatten() {
                    if let Ok(d) = std::fs::read_to_string(e.path().join("dev")) {
                        if let Some((a, b)) = d.trim().split_once(':') {
                            if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                                devs.push((a, b));
                            }
                        }
                    }
                }
            }
        }
        // Loop devices backed by this file (an image attached with losetup).
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Ok(rd) = std::fs::read_dir("/sys/block") {
            for e in rd.flatten() {
                let back = e.path().join("loop/backing_file");
                if std::fs::read_to_string(&back).is_ok_and(|b| Path::new(b.trim()) == canon) {
                    if let Some(d) = dev_numbers(&PathBuf::from("/dev").join(e.file_name())) {
                        devs.push(d);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for line in info.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 10 {
                continue;
            }
            let (maj, min) = f[2].split_once(':').unwrap_or(("", ""));
            let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
                continue;
            };
            // Source field (after " - "): fuse mounts of the image file itself.
            let sep = f.iter().position(|x| *x == "-").unwrap_or(f.len());
            let source = f.get(sep + 2).copied().unwrap_or("");
            if devs.contains(&(maj, min)) || Path::new(source) == canon {
                out.push(f[4].to_string());
            }
        }
        out
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        Vec::new()
    }
}

/// Opens `path` for writing; a block device with `O_EXCL` so that the open
/// fails while anything (a mount, another tool) holds it.
pub fn open_for_write(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true);
    #[cfg(target_os = "linux")]
    if is_block_device(path) {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(0o200); // O_EXCL: exclusive open of a block device.
    }
    o.open(path)
}

/// Local block devices (`/sys/block`), skipping loop/ram devices that hold
/// nothing and the disk that holds this machine's root file system.
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
                    || dev_numbers(&dev).is_some_and(|(a, b)| (a << 8 | b) == r)
            });
            if !holds_root {
                out.push(dev);
            }
        }
        out.sort();
        out
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
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
