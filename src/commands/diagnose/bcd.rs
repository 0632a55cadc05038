// SPDX-License-Identifier: GPL-2.0-or-later
//! Row 29 of rdp-causes.md: the machine boots to Safe Mode. The BCD store
//! (a registry hive on the EFI system partition, or on the BIOS system
//! partition) names the default loader in the boot manager object's
//! element 23000003; that loader's element 25000080 (SafeBoot) is present
//! when Safe Mode is on: 0 minimal, 1 network, 2 directory-services repair
//! (Microsoft's BCD element reference, `BcdOSLoaderInteger_SafeBoot`).

use crate::format::regf::log::{recover, LogInput};
use crate::hive::reader::{Reader, ValueState};
use crate::report::diagnose::{Finding, NotChecked, Risk, Severity};
use crate::storage::bcd::{self, BcdStore};
use crate::storage::source::Located;

use super::probe::{manual, KeyRead, New};

/// The Windows Boot Manager object.
const BOOTMGR: &str = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";
/// Boot manager element: the default loader object (`BcdBootMgrObject_DefaultObject`).
const DEFAULT_OBJECT: &str = "23000003";
/// Loader element: Safe Mode (`BcdOSLoaderInteger_SafeBoot`).
const SAFEBOOT: &str = "25000080";
/// Loader element: its description (`BcdLibraryString_Description`).
const DESCRIPTION: &str = "12000004";

fn not_checked(reason: String) -> NotChecked {
    NotChecked {
        rows: vec![29],
        reason,
    }
}

/// Row 29 for `located`: the findings, or why it was not checked.
pub fn check(located: &Located) -> Result<Vec<Finding>, NotChecked> {
    let Some(win) = &located.windows else {
        return Err(not_checked(
            "Safe Mode is set in the BCD store on the EFI system partition or the System \
             Reserved partition, which a hive file or mounted tree does not include: give \
             the whole disk to check it"
                .into(),
        ));
    };
    // The disk opened to locate Windows: its partition table and the first
    // sectors of its partitions are not read again.
    let store = located
        .open_disk(&win.disk)
        .and_then(|d| {
            let table = d.table()?;
            bcd::find(&d, &table.partitions)
        })
        .map_err(|e| not_checked(format!("the BCD store could not be read: {e}")))?;
    let Some(store) = store else {
        return Err(not_checked(format!(
            "no BCD store on {} (neither {} on an EFI system partition nor {} on an NTFS partition)",
            win.disk.display(),
            bcd::ESP_BCD,
            bcd::NTFS_BCD
        )));
    };
    findings(&store).map_err(not_checked)
}

/// The findings of one store, replayed with its logs when it is dirty.
pub fn findings(store: &BcdStore) -> Result<Vec<Finding>, String> {
    let where_ = format!(
        "BCD store {} on partition {} ({})",
        store.path, store.partition, store.file_system
    );
    let logs: Vec<LogInput> = store
        .logs
        .iter()
        .map(|(n, b)| LogInput {
            name: n.clone(),
            bytes: b,
        })
        .collect();
    let hive = recover(&store.bytes, &logs).map_err(|e| format!("{where_}: {e}"))?;
    let reader = Reader::new(&hive.hive).map_err(|e| format!("{where_}: {e}"))?;
    let mgr = KeyRead::new(
        &reader,
        "BCD",
        format!(r"Objects\{BOOTMGR}\Elements\{DEFAULT_OBJECT}"),
    );
    let Some(default) = mgr.string("Element") else {
        return Err(format!(
            "{where_}: the boot manager names no default loader ({}\\Element)",
            mgr.path
        ));
    };
    let default = default.trim_end_matches('\0').to_string();
    let desc = KeyRead::new(
        &reader,
        "BCD",
        format!(r"Objects\{default}\Elements\{DESCRIPTION}"),
    )
    .string("Element")
    .unwrap_or_else(|| default.clone());
    let safe = KeyRead::new(
        &reader,
        "BCD",
        format!(r"Objects\{default}\Elements\{SAFEBOOT}"),
    );
    let mode = match safe.value("Element") {
        ValueState::Missing => return Ok(Vec::new()),
        ValueState::Unreadable { error } => return Err(format!("{where_}: {error}")),
        ValueState::Present { data, .. } => safeboot_mode(&data),
    };
    Ok(vec![safe.finding(New {
        code: "safe-mode-boot",
        row: 29,
        severity: Severity::Blocker,
        value: Some("Element"),
        healthy: "absent (normal boot)",
        explanation: format!(
            "the default loader \"{desc}\" boots into Safe Mode ({mode}) ({where_}): Remote Desktop Services do not start in Safe Mode"
        ),
        fix: manual(
            &format!(
                "on a Windows rescue host with the partition as S: (mountvol S: /s for an EFI system partition): \
                 bcdedit /store S:\\{} /deletevalue {default} safeboot",
                store.path
            ),
            Risk::Low,
        ),
    })])
}

/// The Safe Mode name for the element's data (8 bytes, little-endian, as
/// hex in the report model).
fn safeboot_mode(data: &serde_json::Value) -> String {
    let first = data
        .as_str()
        .and_then(|h| h.get(..2))
        .and_then(|b| u8::from_str_radix(b, 16).ok());
    match first {
        Some(0) => "minimal".into(),
        Some(1) => "with networking".into(),
        Some(2) => "directory services repair".into(),
        _ => format!("value {data}"),
    }
}
