// SPDX-License-Identifier: GPL-2.0-or-later
//! Log parse and replay: one input holds a primary, a `.LOG1` and a
//! `.LOG2`. Layout: two little-endian u32 lengths (primary, LOG1; each cut
//! to what is left), then the three files back to back (LOG2 is the rest).
//! The replayed image then goes through the full structure check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntrescue::format::regf::log::{recover, sequences_seen, LogInput};

fn split(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let len = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let (a, b) = (len(0)?, len(4)?);
    let rest = &data[8..];
    let a = a.min(rest.len());
    let (primary, rest) = rest.split_at(a);
    let b = b.min(rest.len());
    let (log1, log2) = rest.split_at(b);
    Some((primary, log1, log2))
}

fuzz_target!(|data: &[u8]| {
    let Some((primary, log1, log2)) = split(data) else {
        return;
    };
    let logs = [
        LogInput {
            name: "SYSTEM.LOG1".into(),
            bytes: log1,
        },
        LogInput {
            name: "SYSTEM.LOG2".into(),
            bytes: log2,
        },
    ];
    let _ = sequences_seen(primary, &logs);
    if let Ok(r) = recover(primary, &logs) {
        // Replay never makes the image larger than its inputs together.
        assert!(r.hive.len() <= primary.len() + log1.len() + log2.len());
        let _ = ntrescue::hive::check::full_check(&r.hive);
    }
});
