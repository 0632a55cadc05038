// SPDX-License-Identifier: GPL-2.0-or-later
//! Whether the running OS uses a volume that a raw write would change: the
//! preflight check behind every write to a disk, partition or image.
//!
//! - Linux: [`crate::storage::os::mount_check`] (mounts, loop devices,
//!   holders of the device or of any partition of it).
//! - Windows: a volume with a drive letter is online and mounted, so a raw
//!   write is refused when the target volume is one of them: the NTFS
//!   serial number in the boot sector of every drive letter's volume
//!   (`\\.\C:` .. `\\.\Z:`) is compared with the target's; a `\\.\X:`
//!   target is a drive letter's volume itself (an image file attached as a
//!   virtual disk shows its volume under a drive letter too). Windows
//!   itself refuses a write through `\\.\PhysicalDriveN` into a volume that
//!   is mounted and not locked (since Windows Vista), so a volume mounted
//!   without a drive letter fails at the first write, before anything
//!   changes. docs/windows.md says how to take the disk offline.

use std::path::Path;

/// NTFS boot sector: OEM id at 3, volume serial number at 0x48 (u64).
const NTFS_OEM: &[u8; 8] = b"NTFS    ";
const NTFS_SERIAL: usize = 0x48;

/// The volume serial number in an NTFS boot sector, `None` for anything
/// else.
pub fn ntfs_serial(boot: &[u8]) -> Option<u64> {
    if boot.get(3..11) != Some(NTFS_OEM) {
        return None;
    }
    Some(u64::from_le_bytes(
        boot.get(NTFS_SERIAL..NTFS_SERIAL + 8)?.try_into().ok()?,
    ))
}

/// The drive letters (as `X:\`) whose volume's boot sector in `volumes`
/// (letter, first bytes) holds the NTFS serial `serial`.
pub fn letters_with_serial(serial: u64, volumes: &[(char, Vec<u8>)]) -> Vec<String> {
    volumes
        .iter()
        .filter(|(_, boot)| ntfs_serial(boot) == Some(serial))
        .map(|(l, _)| format!(r"{l}:\"))
        .collect()
}

/// What uses the NTFS volume with serial `serial` on `device` (a disk,
/// partition, volume or image): mount points, holders, drive letters.
/// Empty when nothing does; `Err(why)` when that cannot be known.
pub fn volume_users(device: &Path, serial: u64) -> std::result::Result<Vec<String>, String> {
    #[cfg(windows)]
    {
        windows_users(device, serial)
    }
    #[cfg(not(windows))]
    {
        let _ = serial;
        crate::storage::os::mount_check(device)
    }
}

/// The NTFS serial of the running Windows' system volume (`SystemDrive`,
/// `C:` when unset), read from `\\.\X:` through the aligned device path;
/// `None` elsewhere or when it cannot be read.
pub fn host_system_serial() -> Option<u64> {
    #[cfg(windows)]
    {
        let drive = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".into());
        let letter = system_letter(&drive)?;
        letter_volumes()
            .into_iter()
            .find(|(l, _)| *l == letter)
            .and_then(|(_, boot)| ntfs_serial(&boot))
    }
    #[cfg(not(windows))]
    {
        None
    }
}

/// The drive letter of a `SystemDrive` value (`C:`, `c:\`).
pub fn system_letter(drive: &str) -> Option<char> {
    let mut c = drive.trim().chars();
    let l = c.next()?.to_ascii_uppercase();
    (l.is_ascii_alphabetic() && c.next() == Some(':')).then_some(l)
}

/// Whether a disk whose NTFS volumes have `serials` holds the running
/// Windows (`host`: the serial of its system volume, when known): the
/// helper's own system disk, never a rescue candidate.
pub fn is_host_disk(serials: &[u64], host: Option<u64>) -> bool {
    host.is_some_and(|h| serials.contains(&h))
}

#[cfg(windows)]
fn windows_users(device: &Path, serial: u64) -> std::result::Result<Vec<String>, String> {
    let mut out = match crate::storage::os::mount_check(device) {
        Ok(v) => v,
        // A raw disk: its volumes are matched by serial below.
        Err(_) if crate::storage::os::is_block_device(device) => Vec::new(),
        Err(e) => return Err(e),
    };
    out.extend(letters_with_serial(serial, &letter_volumes()));
    Ok(out)
}

/// The first sector of every drive letter's volume that can be read
/// (`\\.\X:`, through the aligned device path). A letter whose volume
/// cannot be opened (no medium, not NTFS-readable, access denied) is left
/// out: Windows still refuses raw writes into it while it is mounted.
#[cfg(windows)]
fn letter_volumes() -> Vec<(char, Vec<u8>)> {
    use crate::storage::device::{Device, PROBE_SECTOR};
    let mut out = Vec::new();
    for l in 'A'..='Z' {
        if std::fs::metadata(format!(r"{l}:\")).is_err() {
            continue;
        }
        let Ok(f) = std::fs::File::open(format!(r"\\.\{l}:")) else {
            continue;
        };
        let Ok(dev) = Device::from_file(std::sync::Arc::new(f), PROBE_SECTOR, None) else {
            continue;
        };
        let mut head = vec![0u8; PROBE_SECTOR as usize];
        if dev.read_at(&mut head, 0).is_ok_and(|n| n >= 512) {
            out.push((l, head));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(oem: &[u8; 8], serial: u64) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[3..11].copy_from_slice(oem);
        b[0x48..0x50].copy_from_slice(&serial.to_le_bytes());
        b
    }

    /// Only the NTFS volume with the target's serial counts as mounted.
    #[test]
    fn the_target_volume_is_found_by_its_serial() {
        let vols = vec![
            ('C', boot(NTFS_OEM, 0x1111)),
            ('E', boot(b"EXFAT   ", 0x2222)),
            ('F', boot(NTFS_OEM, 0x2222)),
            ('G', vec![0u8; 20]),
        ];
        assert_eq!(letters_with_serial(0x2222, &vols), vec![r"F:\".to_string()]);
        assert!(letters_with_serial(0x3333, &vols).is_empty());
        assert_eq!(ntfs_serial(&boot(NTFS_OEM, 7)), Some(7));
        assert_eq!(ntfs_serial(&[0u8; 40]), None);
    }

    /// The disk holding the system volume's serial is the host's; no
    /// serial known (not Windows, or unreadable) marks nothing.
    #[test]
    fn the_host_disk_is_found_by_the_system_volume_serial() {
        assert!(is_host_disk(&[0x10, 0xC0FFEE], Some(0xC0FFEE)));
        assert!(!is_host_disk(&[0x10, 0x20], Some(0xC0FFEE)));
        assert!(!is_host_disk(&[0xC0FFEE], None));
        assert!(!is_host_disk(&[], Some(0xC0FFEE)));
        assert_eq!(system_letter("C:"), Some('C'));
        assert_eq!(system_letter(r"d:\"), Some('D'));
        assert_eq!(system_letter("C"), None);
        assert_eq!(system_letter("1:"), None);
        assert_eq!(system_letter(""), None);
        if !cfg!(windows) {
            assert_eq!(host_system_serial(), None);
        }
    }

    #[test]
    fn volume_paths_name_their_letter() {
        use crate::storage::os::volume_letter;
        assert_eq!(volume_letter(Path::new(r"\\.\f:")), Some('F'));
        assert_eq!(volume_letter(Path::new(r"\\.\F:\")), Some('F'));
        assert_eq!(volume_letter(Path::new(r"\\.\PhysicalDrive1")), None);
        assert_eq!(volume_letter(Path::new(r"F:\disk.img")), None);
        assert_eq!(volume_letter(Path::new("/dev/sdb")), None);
    }
}
