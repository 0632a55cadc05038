// SPDX-License-Identifier: GPL-2.0-or-later
//! Marvin32, the seeded 64-bit hash Windows uses to protect new-format
//! (`HvLE`) transaction log entries.
//!
//! Sources:
//! - regf specification, "New format" / "Log entries", notes 1-3
//!   (msuhanov/regf, `Windows registry file format specification.md`):
//!   Hash-1 covers the entry from its first page reference to its end,
//!   Hash-2 covers the first 32 bytes of the entry header, both with the seed
//!   bytes `82 EF 4D 88 7A 4E 55 C5`;
//! - the Marvin32 algorithm as published by Microsoft (SymCrypt) and
//!   re-implemented in yarp `RegistryFile.py` (`Marvin32`): two 32-bit lanes
//!   seeded from the low and high halves of the seed, one mixing block per
//!   little-endian dword, a final dword holding the 0-3 tail bytes followed by
//!   a 0x80 marker, and one more block of zero.
//!
//! The result packs the lanes as `hi << 32 | lo`, which is the order in which
//! Windows stores the hash in a log entry (checked against every entry of the
//! real logs in the test corpus).

/// Seed used for both hashes of a log entry (regf spec: bytes
/// `82 EF 4D 88 7A 4E 55 C5`; yarp `MARVIN32_SEED`).
pub const LOG_ENTRY_SEED: u64 = 0x82EF_4D88_7A4E_55C5;

/// One Marvin32 mixing block.
fn mix(lo: &mut u32, hi: &mut u32, value: u32) {
    *lo = lo.wrapping_add(value);
    *hi ^= *lo;
    *lo = lo.rotate_left(20).wrapping_add(*hi);
    *hi = hi.rotate_left(9) ^ *lo;
    *lo = lo.rotate_left(27).wrapping_add(*hi);
    *hi = hi.rotate_left(19);
}

/// Marvin32 of `data` with `seed`, as a 64-bit value (`hi << 32 | lo`).
pub fn marvin32(seed: u64, data: &[u8]) -> u64 {
    let mut lo = seed as u32;
    let mut hi = (seed >> 32) as u32;

    let mut words = data.chunks_exact(4);
    for w in &mut words {
        mix(
            &mut lo,
            &mut hi,
            u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
        );
    }

    // The 0-3 remaining bytes, little-endian, followed by the 0x80 marker.
    let tail = words.remainder();
    let mut last = 0x80u32;
    for &b in tail.iter().rev() {
        last = (last << 8) | u32::from(b);
    }
    mix(&mut lo, &mut hi, last);
    mix(&mut lo, &mut hi, 0);

    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prove the implementation against the published Marvin32 test vectors
    /// (seed 0x004FB61A001BDBCC; the set shipped with the .NET runtime's and
    /// SymCrypt's Marvin tests). The vectors cover every tail length 0-3 and
    /// inputs longer than one block.
    #[test]
    fn known_vectors() {
        const SEED: u64 = 0x004F_B61A_001B_DBCC;
        let cases: &[(&[u8], u64)] = &[
            (b"", 0x30ED_35C1_00CD_3C7D),
            (&[0xAF], 0x48E7_3FC7_7D75_DDC1),
            (&[0xE7, 0x0F], 0xB5F6_E1FC_485D_BFF8),
            (&[0x37, 0xF4, 0x95], 0xF0B0_7C78_9B8C_F7E8),
            (&[0x86, 0x42, 0xDC, 0x59], 0x7008_F2E8_7E9C_F556),
            (&[0x15, 0x3F, 0xB7, 0x98, 0x26], 0xE6C0_8C6D_A2AF_A997),
            (&[0x09, 0x32, 0xE6, 0x24, 0x6C, 0x47], 0x6F04_BF1A_5EA2_4060),
            (
                &[0xAB, 0x42, 0x7E, 0xA8, 0xD1, 0x0F, 0xC7],
                0xE118_47E4_F067_8C41,
            ),
        ];
        for &(data, want) in cases {
            assert_eq!(marvin32(SEED, data), want, "input {data:02x?}");
        }
    }

    /// Prove the log-entry seed on a header written by Windows 10: the first
    /// 40 bytes of the entry at 0x200 in yarp's `NewDirtyHive1/NewDirtyHive.LOG2`.
    /// Hash-2 (bytes 32..40) is the hash of bytes 0..32, which include Hash-1.
    #[test]
    fn log_entry_seed_matches_a_real_entry_header() {
        let header: [u8; 40] = [
            0x48, 0x76, 0x4c, 0x45, 0x00, 0x1e, 0x00, 0x00, // HvLE, size 0x1e00
            0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, // flags 0, seq 3
            0x00, 0x50, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // hbins 0x5000, 1 page
            0x5d, 0x1e, 0x70, 0x07, 0x17, 0xa8, 0x46, 0x47, // Hash-1
            0x67, 0x72, 0x87, 0xf6, 0xaf, 0xdc, 0x37, 0xe6, // Hash-2
        ];
        let stored = u64::from_le_bytes(header[32..40].try_into().unwrap());
        assert_eq!(marvin32(LOG_ENTRY_SEED, &header[..32]), stored);
    }
}
