// SPDX-License-Identifier: GPL-2.0-or-later
//! NTFS lookup on a small image: the input is a whole disk or volume image
//! (written to a file, as the tool reads devices and images through file
//! handles). The partition table, the NTFS volume, the path lookup of
//! `Windows\System32\config\SYSTEM` and its logs, and the read of the
//! hive through its data runs. Every extent handed out must lie inside its
//! partition.
#![no_main]

#[path = "common/scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;
use ntrescue::storage::disk::{find_windows, read_file, Disk};

fuzz_target!(|data: &[u8]| {
    let scratch = scratch::Scratch::new("ntfs", data);
    if let Ok(disk) = Disk::open(scratch.path()) {
        let _ = ntrescue::storage::disk::scan(&disk);
        if let Ok(w) = find_windows(&disk, None) {
            let p = &w.partition;
            let end = p.start + p.length;
            for loc in std::iter::once(&w.system).chain(&w.system_logs) {
                for e in &loc.extents {
                    assert!(
                        e.device_offset >= p.start && e.device_offset + e.length <= end,
                        "extent {e:?} outside partition {}..{end}",
                        p.start
                    );
                }
                let _ = read_file(&disk, loc);
            }
        }
    }
});
