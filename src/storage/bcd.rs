// SPDX-License-Identifier: GPL-2.0-or-later
//! Finding the Boot Configuration Data store of a disk: on a GPT disk the
//! EFI system partition (FAT) holds `EFI\Microsoft\Boot\BCD`; on an MBR
//! disk the active NTFS partition (System Reserved, or the Windows volume
//! itself) holds `Boot\BCD`. The store is a registry hive; its logs
//! (`BCD.LOG`, `.LOG1`, `.LOG2`) are read beside it. Read-only.

use crate::error::Result;
use crate::format::partition::Partition;
use crate::storage::disk::{filesystem_of, read_ntfs_file, Disk, FileSystem};
use crate::storage::fat;

/// GPT partition type of the EFI system partition (UEFI spec, 5.3.3).
pub const ESP_TYPE: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// Where Windows keeps the store on the EFI system partition.
pub const ESP_BCD: &str = "EFI/Microsoft/Boot/BCD";
/// Where Windows keeps it on a BIOS system partition.
pub const NTFS_BCD: &str = r"Boot\BCD";
/// Largest store (or log) read: real ones are tens of KiB.
pub const BCD_MAX: u64 = 16 << 20;
/// Log extensions Windows uses for the store.
const LOG_EXTS: [&str; 3] = ["LOG", "LOG1", "LOG2"];

/// A BCD store found on a disk.
#[derive(Clone, Debug)]
pub struct BcdStore {
    /// Partition number.
    pub partition: u32,
    /// "FAT" or "NTFS".
    pub file_system: &'static str,
    /// Path inside the partition.
    pub path: String,
    /// The store's bytes.
    pub bytes: Vec<u8>,
    /// Its logs found beside it (file name, bytes).
    pub logs: Vec<(String, Vec<u8>)>,
}

/// Reads one file of a partition: `Ok(None)` when it is not there.
type ReadOne<'a> = &'a dyn Fn(&str) -> Result<Option<Vec<u8>>>;

fn is_esp(p: &Partition) -> bool {
    p.type_id.eq_ignore_ascii_case(ESP_TYPE)
}

/// The BCD store of `partitions` on `disk`: the EFI system partitions
/// first, then every NTFS partition. `Ok(None)` when none holds one.
pub fn find(disk: &Disk, partitions: &[Partition]) -> Result<Option<BcdStore>> {
    let mut order: Vec<&Partition> = partitions.iter().filter(|p| is_esp(p)).collect();
    order.extend(partitions.iter().filter(|p| !is_esp(p)));
    for p in order {
        let fs = filesystem_of(disk, p);
        let (file_system, path, read): (_, _, ReadOne<'_>) = match fs {
            FileSystem::Fat => ("FAT", ESP_BCD, &|f: &str| {
                fat::read_file(disk, p, f, BCD_MAX)
            }),
            FileSystem::Ntfs => ("NTFS", NTFS_BCD, &|f: &str| {
                read_ntfs_file(disk, p, f, BCD_MAX)
            }),
            _ => continue,
        };
        let Some(bytes) = read(path)? else {
            continue;
        };
        let mut logs = Vec::new();
        for ext in LOG_EXTS {
            let lp = format!("{path}.{ext}");
            if let Some(b) = read(&lp)? {
                logs.push((format!("BCD.{ext}"), b));
            }
        }
        return Ok(Some(BcdStore {
            partition: p.number,
            file_system,
            path: path.replace('/', r"\"),
            bytes,
            logs,
        }));
    }
    Ok(None)
}
