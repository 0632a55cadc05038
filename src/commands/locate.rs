// SPDX-License-Identifier: GPL-2.0-or-later
//! `locate`: which disks and partitions hold Windows, with the facts an
//! operator checks before a repair. Read-only.

use std::path::{Path, PathBuf};

use crate::report::locate::DiskReport;
use crate::report::locate::LocateReport;
use crate::report::locate::PartitionReport;
use crate::report::locate::WindowsFacts;
use crate::report::{SCHEMA, TOOL};
use crate::storage::disk::{scan, Disk};
use crate::storage::os;
use crate::storage::sysfs::{device_facts, partition_device, Roots};

fn windows_facts(path: &Path, number: u32) -> WindowsFacts {
    let mut f = WindowsFacts::default();
    let located = match crate::storage::source::locate_disk(path, Some(number)) {
        Ok(l) => l,
        Err(e) => {
            f.error = Some(e.to_string());
            return f;
        }
    };
    f.hibernation = located.windows.as_ref().and_then(|w| w.hibernation.clone());
    match crate::commands::inspect::inspect(&located) {
        Ok(r) => {
            f.computer_name = r.computer_name;
            f.nla = Some(r.verdict.effective_nla);
            f.system_dirty = r.system.base_block.dirty;
            if let Some(sw) = r.software {
                f.product_name = sw.windows.product_name;
                f.display_version = sw.windows.display_version;
                f.current_build = sw.windows.current_build;
            }
        }
        Err(e) => f.error = Some(e.to_string()),
    }
    f
}

/// The refusal of an E01 (EWF) or AFF evidence image at `path`, with the
/// command that exposes it raw (the same as `inspect`'s); `None` for
/// anything else, or when it cannot be read.
fn evidence_refusal(path: &Path) -> Option<crate::error::Error> {
    crate::storage::disk::SourceHead::open(path)
        .ok()?
        .evidence_refusal()
}

/// Why a `locate` that found no Windows is an error rather than "nothing
/// found": a disk the OS would not let us read (run as root), or an
/// evidence image given by its path (refused as `inspect` refuses it,
/// with the command that exposes it raw).
pub fn failure(report: &LocateReport) -> Option<crate::error::Error> {
    for d in &report.disks {
        if let Err(e) = crate::storage::disk::open_source(Path::new(&d.path)) {
            if e.code() == crate::error::Code::PermissionDenied {
                return Some(e);
            }
        }
    }
    report
        .disks
        .iter()
        .find_map(|d| evidence_refusal(Path::new(&d.path)))
}

/// Whether the partitions hold the host's system volume.
fn is_host(parts: &[crate::storage::disk::PartitionSummary], host: Option<u64>) -> bool {
    let serials: Vec<u64> = parts
        .iter()
        .filter_map(|p| p.volume.as_ref().map(|v| v.serial))
        .collect();
    crate::storage::host::is_host_disk(&serials, host)
}

/// Looks at `paths`, or at this machine's block devices when empty.
pub fn locate(paths: &[PathBuf]) -> LocateReport {
    locate_in(paths, &Roots::default())
}

/// [`locate`] with the kernel's device views read below `roots`.
pub fn locate_in(paths: &[PathBuf], roots: &Roots) -> LocateReport {
    locate_with_host(paths, roots, crate::storage::host::host_system_serial())
}

/// [`locate_in`] with the NTFS serial of the running Windows' system volume
/// (`host`): the disk holding it is marked `host` and not looked into.
pub fn locate_with_host(paths: &[PathBuf], roots: &Roots, host: Option<u64>) -> LocateReport {
    let targets = if paths.is_empty() {
        os::block_devices()
    } else {
        paths.to_vec()
    };
    let mut disks = Vec::new();
    for path in targets {
        let mut d = DiskReport {
            path: path.display().to_string(),
            size: 0,
            device: device_facts(roots, &path),
            table: None,
            sector_size: 512,
            logical_sector_size: 512,
            mounted: os::mounts_of(&path),
            host: false,
            partitions: Vec::new(),
            notes: Vec::new(),
        };
        // An E01/AFF evidence image is refused as inspect refuses it,
        // naming the command that exposes it raw.
        if let Some(e) = evidence_refusal(&path) {
            d.notes.push(e.to_string());
            disks.push(d);
            continue;
        }
        match Disk::open(&path).and_then(|disk| {
            d.size = disk.size();
            d.sector_size = disk.sector_size;
            d.logical_sector_size = disk.sector_size;
            scan(&disk)
        }) {
            Ok((table, parts)) if is_host(&parts, host) => {
                d.table = Some(table.kind);
                d.host = true;
                d.notes.push(
                    "the system disk of the running Windows: not a rescue candidate, not read further"
                        .into(),
                );
            }
            Ok((table, parts)) => {
                d.table = Some(table.kind);
                d.sector_size = table.sector_size;
                d.notes = table.warnings;
                d.partitions = parts
                    .into_iter()
                    .map(|s| PartitionReport {
                        device: partition_device(roots, &path, s.partition.number)
                            .map(|p| p.display().to_string()),
                        windows: s
                            .has_windows
                            .then(|| windows_facts(&path, s.partition.number)),
                        summary: s,
                    })
                    .collect();
            }
            Err(e) => match crate::storage::disk::SourceHead::open(&path)
                .ok()
                .and_then(|h| h.container())
            {
                Some(what) => d.notes.push(format!(
                    "{what}, not a raw image: convert it (qemu-img convert -O raw) or attach it \
                     read-only (qemu-nbd --read-only) and give the result"
                )),
                None => d.notes.push(e.to_string()),
            },
        }
        disks.push(d);
    }
    LocateReport {
        schema: SCHEMA,
        tool: TOOL,
        command: "locate",
        source: crate::report::envelope::GivenPaths {
            paths: paths.iter().map(|p| p.display().to_string()).collect(),
        },
        disks,
    }
}
