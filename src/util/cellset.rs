// SPDX-License-Identifier: GPL-2.0-or-later
//! A set of hive cell offsets, for the tree walks that must reach each cell
//! once: one bit per 8-byte slot (cells are 8-byte aligned), so a walk of a
//! hive with a million cells costs a bit test per cell instead of a hash
//! and a probe. The first `FEW` (16) offsets are kept in a short list (a
//! lookup that reads two or three subkey lists should not zero a bitmap
//! as long as the offset it meets). Offsets that are not aligned, or lie
//! beyond `BITMAP_LIMIT` (256 MiB), go to a hash set, so a hostile offset never
//! sizes the bitmap; the walks insert only cells already bounds-checked
//! against the hive, so in practice the bitmap is 1/64 of the hive's size.

use std::collections::HashSet;

/// Offsets below this are kept in the bitmap (at most 4 MiB of it).
const BITMAP_LIMIT: u32 = 1 << 28;
/// Cell alignment (hive-write-safety.md 3: cell sizes are multiples of 8).
const SLOT: u32 = 8;
/// Offsets kept in the short list before the bitmap is made.
const FEW: usize = 16;

/// A set of hive-relative cell offsets.
#[derive(Default, Debug)]
pub struct CellSet {
    few: Vec<u32>,
    /// The short list was full and moved into the bitmap.
    spilled: bool,
    bits: Vec<u64>,
    other: HashSet<u32>,
}

impl CellSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `rel`: true if it was not in the set.
    pub fn insert(&mut self, rel: u32) -> bool {
        if !rel.is_multiple_of(SLOT) || rel >= BITMAP_LIMIT {
            return self.other.insert(rel);
        }
        if !self.spilled {
            if self.few.contains(&rel) {
                return false;
            }
            if self.few.len() < FEW {
                self.few.push(rel);
                return true;
            }
            // The list is full: from now on the bitmap holds them all.
            self.spilled = true;
            for r in std::mem::take(&mut self.few) {
                self.set(r);
            }
        }
        self.set(rel)
    }

    /// Sets the bit of aligned `rel`: true if it was clear.
    fn set(&mut self, rel: u32) -> bool {
        let slot = (rel / SLOT) as usize;
        let (word, bit) = (slot / 64, slot % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let mask = 1u64 << bit;
        let fresh = self.bits[word] & mask == 0;
        self.bits[word] |= mask;
        fresh
    }

    /// Whether `rel` is in the set.
    pub fn contains(&self, rel: u32) -> bool {
        if !rel.is_multiple_of(SLOT) || rel >= BITMAP_LIMIT {
            return self.other.contains(&rel);
        }
        if !self.spilled {
            return self.few.contains(&rel);
        }
        let slot = (rel / SLOT) as usize;
        self.bits
            .get(slot / 64)
            .is_some_and(|w| w & (1u64 << (slot % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The set agrees with a `HashSet` on aligned, unaligned and huge
    /// offsets, and an offset past the bitmap does not grow it.
    #[test]
    fn agrees_with_a_hash_set() {
        let mut s = CellSet::new();
        let mut h = HashSet::new();
        let probes = [
            0,
            8,
            0x20,
            4,
            0x1000,
            0x1008,
            BITMAP_LIMIT - 8,
            BITMAP_LIMIT,
            u32::MAX,
            u32::MAX - 7,
            0x20,
            4,
            u32::MAX,
        ];
        for p in probes {
            assert_eq!(s.insert(p), h.insert(p), "{p:#x}");
        }
        for p in probes.iter().chain(&[16, 5, 0x2000]) {
            assert_eq!(s.contains(*p), h.contains(p), "{p:#x}");
        }
        let mut t = CellSet::new();
        t.insert(u32::MAX - 7);
        assert!(t.bits.is_empty());
        // Past the short list, into the bitmap: still the same answers.
        let mut big = CellSet::new();
        let mut hs = HashSet::new();
        for i in 0..200u32 {
            let rel = (i * 7919 % 1000) * 8;
            assert_eq!(big.insert(rel), hs.insert(rel), "{rel:#x}");
        }
        assert!(!big.bits.is_empty());
        for rel in (0..9000u32).step_by(4) {
            assert_eq!(big.contains(rel), hs.contains(&rel), "{rel:#x}");
        }
        // A few offsets never make a bitmap, however large they are.
        let mut small = CellSet::new();
        small.insert(BITMAP_LIMIT - 8);
        small.insert(8);
        assert!(small.bits.is_empty() && small.contains(8) && !small.contains(16));
    }
}
