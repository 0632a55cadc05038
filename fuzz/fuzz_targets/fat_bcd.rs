// SPDX-License-Identifier: GPL-2.0-or-later
//! The BCD store on an EFI system partition: the input is a FAT volume
//! image (written to a file, as the tool reads disks through file
//! handles), seen as one EFI system partition covering the whole image.
//! The lookup of `EFI\Microsoft\Boot\BCD` and its logs through the
//! read-only FAT reader, then the store's parse, replay and the row-29
//! reads, exactly as `diagnose` runs them. A panic, a hang (a cluster
//! chain that loops) or a runaway allocation is a finding.
#![no_main]

#[path = "common/scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use ntrescue::commands::diagnose::bcd::findings;
use ntrescue::format::partition::Partition;
use ntrescue::storage::bcd::{find, BCD_MAX, ESP_TYPE};
use ntrescue::storage::disk::Disk;

fuzz_target!(|data: &[u8]| {
    let scratch = scratch::Scratch::new("fat", data);
    let Ok(disk) = Disk::open(scratch.path()) else {
        return;
    };
    let esp = Partition {
        number: 1,
        start: 0,
        length: disk.size(),
        type_id: ESP_TYPE.into(),
        type_name: "EFI system partition",
        name: "EFI system partition".into(),
    };
    if let Ok(Some(store)) = find(&disk, &[esp]) {
        assert!(store.bytes.len() as u64 <= BCD_MAX, "store past the limit");
        for (_, log) in &store.logs {
            assert!(log.len() as u64 <= BCD_MAX, "log past the limit");
        }
        let _ = findings(&store);
    }
});
