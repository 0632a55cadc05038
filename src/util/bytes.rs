// SPDX-License-Identifier: GPL-2.0-or-later
//! Bounds-checked little-endian reads and writes on byte slices.
//!
//! Every offset that comes from disk goes through these helpers, so a bad
//! offset becomes an [`Error::Truncated`](crate::Error::Truncated) carrying the absolute position
//! instead of a panic. `base` is the absolute offset of `buf[0]` in the file,
//! used only for error messages.

use std::ops::Range;

use crate::error::{truncated, Result};

/// Returns `buf[off..off + len]`, or an error naming `what` and the absolute
/// offset `base + off`.
pub fn slice<'a>(
    buf: &'a [u8],
    base: u64,
    off: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8]> {
    off.checked_add(len)
        .and_then(|end| buf.get(off..end))
        .ok_or_else(|| truncated(what, base + off as u64, len as u64, base + buf.len() as u64))
}

/// Reads a little-endian `u16` at `off`.
pub fn u16_at(buf: &[u8], base: u64, off: usize, what: &'static str) -> Result<u16> {
    let b = slice(buf, base, off, 2, what)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

/// Reads a little-endian `u32` at `off`.
pub fn u32_at(buf: &[u8], base: u64, off: usize, what: &'static str) -> Result<u32> {
    let b = slice(buf, base, off, 4, what)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `i32` at `off`.
pub fn i32_at(buf: &[u8], base: u64, off: usize, what: &'static str) -> Result<i32> {
    u32_at(buf, base, off, what).map(|v| v as i32)
}

/// Reads a little-endian `u64` at `off`.
pub fn u64_at(buf: &[u8], base: u64, off: usize, what: &'static str) -> Result<u64> {
    let b = slice(buf, base, off, 8, what)?;
    Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// Writes a little-endian `u32` at `off`; panics if out of range (callers
/// write only into buffers whose layout they already validated).
pub fn put_u32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian `u16` at `off` (same contract as [`put_u32`]).
pub fn put_u16(buf: &mut [u8], off: usize, v: u16) {
    buf[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian `u64` at `off` (same contract as [`put_u32`]).
pub fn put_u64(buf: &mut [u8], off: usize, v: u64) {
    buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Lower-case hex of a byte slice.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Whether `a` and `b` hold the same bytes, compared 64 bytes at a time as
/// 64-bit words (code the compiler vectorises). Slice `==` calls `memcmp`,
/// which in the static musl build goes byte by byte: comparing whole hives
/// that way took 37 % of a fix's time (docs/performance.md).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    const BLOCK: usize = 64;
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        u64::from_ne_bytes(w)
    };
    let (blocks_a, blocks_b) = (a.chunks_exact(BLOCK), b.chunks_exact(BLOCK));
    let (tail_a, tail_b) = (blocks_a.remainder(), blocks_b.remainder());
    blocks_a.zip(blocks_b).all(|(x, y)| {
        x.chunks_exact(8)
            .zip(y.chunks_exact(8))
            .fold(0u64, |d, (p, q)| d | (word(p) ^ word(q)))
            == 0
    }) && tail_a.iter().zip(tail_b).all(|(p, q)| p == q)
}

/// Where `got`, read from offset `pos` of a file, first differs from
/// `want` (the file as it should be): the differing offset, `want`'s
/// length when `got` runs past its end, `None` when they agree. A block
/// compare first ([`same`]); the offset is looked for only on a mismatch.
pub fn chunk_mismatch(want: &[u8], pos: usize, got: &[u8]) -> Option<u64> {
    let expect = &want[pos.min(want.len())..pos.saturating_add(got.len()).min(want.len())];
    let head = &got[..expect.len()];
    if !same(head, expect) {
        let i = head.iter().zip(expect).position(|(a, b)| a != b);
        return Some((pos + i.unwrap_or(0)) as u64);
    }
    (expect.len() < got.len()).then_some(want.len() as u64)
}

/// Reads from `src` until `buf` is full or `src` ends (reads that were
/// interrupted are retried): how many bytes it holds.
pub fn read_full(src: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Byte ranges where `a` and `b` differ (same length), adjacent bytes merged.
pub fn diff_ranges(a: &[u8], b: &[u8]) -> Vec<Range<usize>> {
    debug_assert_eq!(a.len(), b.len());
    let mut out: Vec<Range<usize>> = Vec::new();
    // Compare 4 KiB pages first: cheap on multi-MB hives where few bytes change.
    for (page, (pa, pb)) in a.chunks(4096).zip(b.chunks(4096)).enumerate() {
        if same(pa, pb) {
            continue;
        }
        let base = page * 4096;
        for (i, (x, y)) in pa.iter().zip(pb).enumerate() {
            if x != y {
                let at = base + i;
                match out.last_mut() {
                    Some(r) if r.end == at => r.end = at + 1,
                    _ => out.push(at..at + 1),
                }
            }
        }
    }
    out
}

/// Changed byte ranges closer than this are written as one: a write
/// rewrites whole logical sectors (512 bytes at least), so the bytes
/// between two changes in one sector are written anyway (with the value
/// they already have), and a sector is read-modified-written once, not once
/// per changed field. The plan's checks and the commit use the same spans.
pub const WRITE_GAP: usize = 512;

/// Sorted ranges with those overlapping, touching or closer than `gap`
/// bytes joined.
pub fn join_ranges(ranges: Vec<Range<usize>>, gap: usize) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunk_mismatch_finds_the_offset_or_the_end_of_what_was_wanted() {
        use super::chunk_mismatch;
        let want = b"abcdefgh";
        assert_eq!(chunk_mismatch(want, 2, b"cde"), None);
        assert_eq!(chunk_mismatch(want, 2, b"cXe"), Some(3));
        // Past the end of `want`: its length, unless a byte differs first.
        assert_eq!(chunk_mismatch(want, 6, b"ghij"), Some(8));
        assert_eq!(chunk_mismatch(want, 6, b"Xhij"), Some(6));
        assert_eq!(chunk_mismatch(want, 8, b"z"), Some(8));
    }

    /// `same` agrees with slice equality for every length around its block
    /// size and a difference at every position, in the blocks and the tail.
    #[test]
    fn same_is_slice_equality() {
        for len in [0usize, 1, 7, 8, 63, 64, 65, 127, 128, 200, 4096] {
            let a: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            assert!(same(&a, &a.clone()), "{len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!same(&a, &b), "{len} {at}");
            }
            assert!(!same(&a, &a[..len.saturating_sub(1)]) || len == 0);
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same(&a, &longer));
        }
    }

    use super::*;

    #[test]
    fn join_ranges_joins_within_the_gap() {
        let r = vec![0..4, 4..6, 10..12, 500..501, 1100..1101];
        assert_eq!(
            join_ranges(r.clone(), 0),
            vec![0..6, 10..12, 500..501, 1100..1101]
        );
        // 500 is within 512 bytes of 12; 1100 is not within 512 of 501.
        assert_eq!(join_ranges(r, WRITE_GAP), vec![0..501, 1100..1101]);
        assert_eq!(join_ranges(vec![0..10, 2..4], 0), vec![0..10]);
    }

    #[test]
    fn reads_are_bounds_checked_with_absolute_offsets() {
        let buf = [1u8, 0, 0, 0, 2];
        assert_eq!(u32_at(&buf, 0, 0, "x").unwrap(), 1);
        let e = u32_at(&buf, 0x1000, 2, "cell header").unwrap_err();
        assert!(e.to_string().contains("0x1002"), "{e}");
        // Overflowing offsets do not panic.
        assert!(slice(&buf, 0, usize::MAX, 2, "x").is_err());
    }
}
