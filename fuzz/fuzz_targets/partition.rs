// SPDX-License-Identifier: GPL-2.0-or-later
//! Partition tables (MBR, GPT with both headers, 512- and 4096-byte
//! sectors) of a disk image held in the input; reads past its end fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntrescue::format::partition::parse;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    for (sector, exact) in [(512, false), (4096, false), (512, true), (4096, true)] {
        let mut read = |off: u64, n: usize| -> ntrescue::Result<Vec<u8>> {
            let start = usize::try_from(off).ok().filter(|&s| s <= data.len());
            match start.and_then(|s| data.get(s..s.checked_add(n)?)) {
                Some(b) => Ok(b.to_vec()),
                None => Err(ntrescue::Error::Invalid {
                    what: "read",
                    offset: off,
                    detail: "past the end".into(),
                }),
            }
        };
        if let Ok(t) = parse(&mut read, len, sector, exact) {
            for p in &t.partitions {
                assert!(
                    p.start.checked_add(p.length).is_some_and(|e| e <= len),
                    "{p:?}"
                );
            }
        }
    }
});
