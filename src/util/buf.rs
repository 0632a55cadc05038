// SPDX-License-Identifier: GPL-2.0-or-later
//! The buffer a whole hive is read into, and the one its edit is planned
//! in: a growable byte buffer that the rest of the program sees only as
//! `&[u8]` / `&mut [u8]`.
//!
//! On Linux a buffer of [`HUGE`] bytes or more is an anonymous mapping,
//! aligned to [`HUGE_PAGE`], that the kernel is asked to back with
//! transparent huge pages (`madvise(MADV_HUGEPAGE)`): a 12 MB SYSTEM then
//! costs a handful of page faults instead of ~3,000, each a few
//! microseconds on a virtual machine (docs/performance.md). The kernel may
//! decline (huge pages off, none free): the buffer works the same, with
//! small pages. The allocator's own memory is left with small pages (huge
//! pages everywhere made a fix's peak RSS exceed its bound). Smaller
//! buffers, other systems and a failed mapping use a `Vec<u8>`.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// From this many bytes of capacity on, a buffer is a mapping (Linux).
pub const HUGE: usize = 4 << 20;
/// The transparent huge page size a mapping is aligned to (2 MiB on
/// x86-64, and on arm64 with 4 KiB pages).
pub const HUGE_PAGE: usize = 2 << 20;

/// A growable byte buffer (see the module docs).
pub struct Buf {
    store: Store,
}

enum Store {
    Heap(Vec<u8>),
    /// `len` bytes at `off` in `map`, room for `cap`.
    #[cfg(target_os = "linux")]
    Map {
        map: memmap2::MmapMut,
        off: usize,
        len: usize,
        cap: usize,
    },
}

impl Buf {
    /// An empty buffer with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        #[cfg(target_os = "linux")]
        if cap >= HUGE {
            if let Some(store) = Self::mapped(cap) {
                return Buf { store };
            }
        }
        Buf {
            store: Store::Heap(Vec::with_capacity(cap)),
        }
    }

    /// A mapping with room for `cap` bytes from a huge-page boundary, or
    /// `None` when the system refuses one (the caller uses the heap).
    #[cfg(target_os = "linux")]
    fn mapped(cap: usize) -> Option<Store> {
        let map = memmap2::MmapOptions::new()
            .len(cap.checked_add(HUGE_PAGE)?)
            .map_anon()
            .ok()?;
        let at = map.as_ptr() as usize;
        let off = at.checked_next_multiple_of(HUGE_PAGE)? - at;
        // Advice only: refused where the kernel has no huge pages.
        let _ = map.advise_range(memmap2::Advice::HugePage, off, cap);
        Some(Store::Map {
            map,
            off,
            len: 0,
            cap,
        })
    }

    /// A copy of `data`.
    pub fn copy_of(data: &[u8]) -> Self {
        let mut b = Self::with_capacity(data.len());
        b.extend_from_slice(data);
        b
    }

    /// Bytes it can hold without moving.
    pub fn capacity(&self) -> usize {
        match &self.store {
            Store::Heap(v) => v.capacity(),
            #[cfg(target_os = "linux")]
            Store::Map { cap, .. } => *cap,
        }
    }

    /// Makes room for `need` bytes in all, moving the contents when the
    /// buffer is full (to twice its capacity at least).
    fn reserve_total(&mut self, need: usize) {
        match &mut self.store {
            Store::Heap(v) => v.reserve(need.saturating_sub(v.len())),
            #[cfg(target_os = "linux")]
            Store::Map { cap, .. } => {
                let cap = *cap;
                if need > cap {
                    let mut bigger = Self::with_capacity(need.max(cap.saturating_mul(2)));
                    bigger.extend_from_slice(self);
                    *self = bigger;
                }
            }
        }
    }

    /// Appends `data`.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let len = self.len();
        self.reserve_total(len.saturating_add(data.len()));
        match &mut self.store {
            Store::Heap(v) => v.extend_from_slice(data),
            #[cfg(target_os = "linux")]
            Store::Map { map, off, len, .. } => {
                let at = *off + *len;
                map[at..at + data.len()].copy_from_slice(data);
                *len += data.len();
            }
        }
    }

    /// Shortens it to `new_len` bytes, or lengthens it with `value`.
    pub fn resize(&mut self, new_len: usize, value: u8) {
        let len = self.len();
        if new_len > len {
            self.reserve_total(new_len);
        }
        match &mut self.store {
            Store::Heap(v) => v.resize(new_len, value),
            #[cfg(target_os = "linux")]
            Store::Map { map, off, len, .. } => {
                if new_len > *len {
                    map[*off + *len..*off + new_len].fill(value);
                }
                *len = new_len;
            }
        }
    }

    /// Shortens it to `new_len` bytes (nothing if it is not longer).
    pub fn truncate(&mut self, new_len: usize) {
        if new_len < self.len() {
            self.resize(new_len, 0);
        }
    }

    /// Whether it is a huge-page mapping (else heap memory).
    pub fn is_mapped(&self) -> bool {
        match &self.store {
            Store::Heap(_) => false,
            #[cfg(target_os = "linux")]
            Store::Map { .. } => true,
        }
    }

    /// Its bytes as a `Vec` (a copy, unless it is heap memory already).
    pub fn into_vec(self) -> Vec<u8> {
        match self.store {
            Store::Heap(v) => v,
            #[cfg(target_os = "linux")]
            Store::Map { .. } => self.to_vec(),
        }
    }
}

impl Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.store {
            Store::Heap(v) => v,
            #[cfg(target_os = "linux")]
            Store::Map { map, off, len, .. } => &map[*off..*off + *len],
        }
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.store {
            Store::Heap(v) => v,
            #[cfg(target_os = "linux")]
            Store::Map { map, off, len, .. } => &mut map[*off..*off + *len],
        }
    }
}

impl Clone for Buf {
    fn clone(&self) -> Self {
        Self::copy_of(self)
    }
}

impl fmt::Debug for Buf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Buf({} bytes)", self.len())
    }
}

impl PartialEq for Buf {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl Eq for Buf {}

impl PartialEq<Vec<u8>> for Buf {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self[..] == other[..]
    }
}

impl From<Vec<u8>> for Buf {
    fn from(v: Vec<u8>) -> Self {
        Buf {
            store: Store::Heap(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn small_buffers_are_heap_and_large_ones_mapped_on_linux() {
        assert!(!Buf::with_capacity(HUGE - 1).is_mapped());
        assert_eq!(
            Buf::with_capacity(HUGE).is_mapped(),
            cfg!(target_os = "linux")
        );
    }

    #[test]
    fn a_mapping_starts_on_a_huge_page_and_behaves_as_a_vec() {
        for cap in [100, HUGE, HUGE + 12_345] {
            let mut b = Buf::with_capacity(cap);
            let mut v: Vec<u8> = Vec::new();
            if b.is_mapped() {
                assert_eq!(b.as_ptr() as usize % HUGE_PAGE, 0);
            }
            assert!(b.capacity() >= cap);
            // Appending in pieces, past the capacity (it moves, keeping its bytes).
            for piece in [pattern(7), pattern(cap), pattern(cap / 2 + 3)] {
                b.extend_from_slice(&piece);
                v.extend_from_slice(&piece);
                assert_eq!(b, v);
            }
            b[5] = 0xEE;
            v[5] = 0xEE;
            // Shrink, then grow again: the regrown bytes are the fill value,
            // never what was there before.
            b.truncate(10);
            v.truncate(10);
            b.resize(cap + 50, 0);
            v.resize(cap + 50, 0);
            assert_eq!(b, v);
            b.resize(3, 9);
            v.resize(3, 9);
            assert_eq!(b.clone(), v);
            assert_eq!(b.clone().into_vec(), v);
            assert_eq!(Buf::copy_of(&v), v);
        }
        assert_eq!(Buf::from(Vec::new()).len(), 0);
        assert_eq!(Buf::from(vec![1u8, 2]), vec![1u8, 2]);
        assert_eq!(format!("{:?}", Buf::from(vec![1u8, 2])), "Buf(2 bytes)");
    }
}
