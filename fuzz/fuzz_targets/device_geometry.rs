// SPDX-License-Identifier: GPL-2.0-or-later
//! Device geometry from content, as for a device the OS says nothing about
//! (a Windows `\\.\PhysicalDriveN`): the sector size and length taken from
//! the first sectors (GPT header, NTFS boot sector, MBR), then the
//! partition table read through a sector-aligned [`Device`] of that
//! geometry over the input, with every request checked for alignment as a
//! raw device handle would ([`StrictIo`]). The geometry must be a usable
//! sector size; every partition must lie inside the length; no read the
//! device issues may be unaligned.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use ntrescue::format::partition::parse;
use ntrescue::storage::device::{
    content_geometry, valid_sector, BlockIo, Device, StrictIo, GEOMETRY_HEAD,
};

/// The input as a disk.
struct Mem(Vec<u8>);

impl BlockIo for Mem {
    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        let at = usize::try_from(at).unwrap_or(usize::MAX).min(self.0.len());
        let n = buf.len().min(self.0.len() - at);
        buf[..n].copy_from_slice(&self.0[at..at + n]);
        Ok(n)
    }

    fn write_at(&self, _: &[u8], _: u64) -> std::io::Result<usize> {
        panic!("a write to a disk opened for reading");
    }

    fn sync(&self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let head = &data[..data.len().min(GEOMETRY_HEAD)];
    let Some(g) = content_geometry(head) else {
        return;
    };
    assert!(valid_sector(g.sector), "{g:?}: not a sector size");
    // The OS said nothing: the content's length, or (none told) the input's.
    let len = g.len.unwrap_or(data.len() as u64);
    let Ok(strict) = StrictIo::new(Mem(data.to_vec()), g.sector) else {
        panic!("{g:?}: a valid sector size refused");
    };
    let dev = Device::new(Arc::new(strict), g.sector, Some(len)).expect("device");
    let mut read = |off: u64, n: usize| -> ntrescue::Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        match dev.read_exact_at(&mut buf, off) {
            Ok(()) => Ok(buf),
            Err(e) => {
                assert!(!e.to_string().contains("unaligned"), "{g:?}: {e}");
                Err(ntrescue::Error::Invalid {
                    what: "read",
                    offset: off,
                    detail: e.to_string(),
                })
            }
        }
    };
    if let Ok(t) = parse(&mut read, len, g.sector, g.sector_known) {
        for p in &t.partitions {
            assert!(
                p.start.checked_add(p.length).is_some_and(|e| e <= len),
                "{g:?}: {p:?} past the device's {len} bytes"
            );
            // The partition's first sector, through the same device.
            let _ = read(p.start, 512);
        }
    }
});
