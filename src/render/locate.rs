// SPDX-License-Identifier: GPL-2.0-or-later
//! `locate` for a terminal.

use std::fmt::Write;

use super::{escape, Style};
use crate::storage::disk::FileSystem;

/// Renders `locate`.
pub fn locate(r: &crate::report::locate::LocateReport, st: Style) -> String {
    let mut o = String::new();
    if r.disks.is_empty() {
        let _ = writeln!(
            o,
            "no block devices found (give disks or images as arguments)"
        );
    }
    for d in &r.disks {
        let table = d.table.map_or("unknown", |t| t.label());
        let _ = writeln!(
            o,
            "{} {} bytes, {table} table, {}-byte sectors",
            st.bold(&d.path),
            d.size,
            d.sector_size
        );
        let ids = device_ids(&d.device);
        if !ids.is_empty() {
            let _ = writeln!(o, "  {}", escape(&ids));
        }
        if !d.mounted.is_empty() {
            let _ = writeln!(o, "  {} {}", st.warn("mounted:"), d.mounted.join(", "));
        }
        for n in &d.notes {
            let _ = writeln!(o, "  {} {}", st.warn("note:"), escape(n));
        }
        for p in &d.partitions {
            let s = &p.summary;
            let vol = s
                .volume
                .as_ref()
                .map(|v| {
                    format!(
                        " NTFS {} serial {:016X} label {}{}",
                        v.version,
                        v.serial,
                        escape(v.label.as_deref().unwrap_or("-")),
                        if v.dirty { " DIRTY" } else { "" }
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {:>2}: {:>14} bytes at {:#x}  {} [{}]{vol}",
                s.partition.number,
                s.partition.length,
                s.partition.start,
                s.partition.type_name,
                s.filesystem
            );
            if let Some(dev) = &p.device {
                let _ = writeln!(o, "      device {}", escape(dev));
            }
            if let Some(w) = &p.windows {
                let product = [&w.product_name, &w.display_version, &w.current_build]
                    .iter()
                    .filter_map(|x| x.as_deref())
                    .collect::<Vec<_>>()
                    .join(" ");
                let _ = writeln!(
                    o,
                    "      {} {} {}{}{}{}",
                    st.good("Windows:"),
                    escape(w.computer_name.as_deref().unwrap_or("(no computer name)")),
                    escape(&product),
                    w.nla.map(|n| format!(", {}", n.text())).unwrap_or_default(),
                    if w.system_dirty {
                        ", SYSTEM hive dirty"
                    } else {
                        ""
                    },
                    if w.hibernation.is_some() {
                        ", HIBERNATED"
                    } else {
                        ""
                    }
                );
                if let Some(e) = &w.error {
                    let _ = writeln!(o, "      {} {}", st.bad("error:"), escape(e));
                }
            }
            if s.filesystem == FileSystem::Bitlocker {
                let _ = writeln!(
                    o,
                    "      {}",
                    st.warn(
                        "BitLocker: unlock it first (e.g. dislocker) and give the unlocked volume"
                    )
                );
            }
            if let Some(e) = &s.error {
                let _ = writeln!(o, "      {} {}", st.bad("error:"), escape(e));
            }
        }
    }
    o
}

/// "model M, serial S, EBS volume vol-…, SCSI H:C:T:L, Azure LUN N", the
/// facts the kernel shows.
fn device_ids(f: &crate::storage::sysfs::DeviceFacts) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &f.model {
        parts.push(format!("model {m}"));
    }
    if let Some(s) = &f.serial {
        parts.push(format!("serial {s}"));
    }
    if let Some(v) = &f.ebs_volume_id {
        parts.push(format!("EBS volume {v}"));
    }
    if let Some(a) = &f.scsi_address {
        parts.push(format!("SCSI {a}"));
    }
    if let Some(l) = f.azure_lun {
        parts.push(format!("Azure LUN {l}"));
    }
    parts.join(", ")
}
