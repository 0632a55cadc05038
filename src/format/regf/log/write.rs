// SPDX-License-Identifier: GPL-2.0-or-later
//! Making transaction-log content, the inverse of the log parser: a log
//! base block, a new-format (`HvLE`) entry, and a whole old-format (`DIRT`)
//! log. Pure: bytes in, bytes out. What these bytes are for, and in which
//! order they reach the disk, is the write protocol's business
//! (`write::txlog`).
//!
//! Layouts (regf specification, "Format of transaction log files"):
//! - log base block: the first 512 bytes of the primary's base block with
//!   file type 6 (new format) or 1 (old format), seq1 = seq2 = the sequence
//!   number of the first entry, checksum recomputed (spec notes 1-2);
//! - `HvLE` entry, 512-byte aligned: signature, size, flags, sequence number,
//!   hive-bins size, dirty page count, Hash-1, Hash-2 (40 bytes); then
//!   (offset, size) per dirty page, offsets relative to the hive bins; then
//!   the pages. Hash-1 is Marvin32 of everything after the 40-byte header up
//!   to the entry's end, Hash-2 of the first 32 header bytes (spec notes
//!   3-4, seed [`LOG_ENTRY_SEED`]);
//! - old format: log base block, `DIRT`, one bit per 512-byte page of the
//!   hive bins (hive-bins size / 4096 bytes), then the dirty 512-byte pages
//!   packed in order from the next sector boundary.

use super::*;

/// Dirty pages of a new-format entry are whole 4096-byte pages of the hive
/// bins (Windows logs its hive pages; the parser accepts any size).
pub const ENTRY_PAGE: usize = 4096;

/// A log base block: the first 512 bytes of `hive_base_block` (the primary's
/// base block the log describes) as a log of `format` starting at
/// `sequence`, for hive bins of `hive_bins_size` bytes.
pub fn log_base_block(
    hive_base_block: &[u8],
    format: LogFormat,
    sequence: u32,
    hive_bins_size: u32,
) -> Result<Vec<u8>> {
    let src = hive_base_block.get(..LOG_BASE_BLOCK_SIZE).ok_or_else(|| {
        crate::error::truncated(
            "base block",
            0,
            LOG_BASE_BLOCK_SIZE as u64,
            hive_base_block.len() as u64,
        )
    })?;
    let mut b = src.to_vec();
    let file_type = match format {
        LogFormat::New => FILE_TYPE_LOG_NEW,
        LogFormat::Old => FILE_TYPE_LOG_OLD,
    };
    crate::util::bytes::put_u32(&mut b, OFF_FILE_TYPE, file_type);
    base_block::set_clean(&mut b, sequence, hive_bins_size);
    Ok(b)
}

/// The 4096-byte pages of the hive bins where `new` differs from `old`
/// (both whole hive images, base block first), as page offsets relative to
/// the hive bins, ascending. Bytes past the end of `old` count as differing
/// (a grown hive), bytes past `4096 + hive_bins_size` of `new` are ignored.
pub fn dirty_pages(old: &[u8], new: &[u8], hive_bins_size: u32) -> Vec<usize> {
    let bins = hive_bins_size as usize;
    (0..bins.div_ceil(ENTRY_PAGE))
        .map(|i| i * ENTRY_PAGE)
        .filter(|&p| {
            let a = BASE_BLOCK_SIZE + p;
            let b = (a + ENTRY_PAGE).min(BASE_BLOCK_SIZE + bins);
            match (old.get(a..b), new.get(a..b)) {
                (Some(x), Some(y)) => x != y,
                _ => true,
            }
        })
        .collect()
}

/// A new-format entry carrying `pages` (offsets relative to the hive bins,
/// each a whole [`ENTRY_PAGE`] read from `image`, a whole hive image) with
/// `sequence`, the hive-bins size after it and the base-block `flags`.
pub fn new_entry(
    image: &[u8],
    pages: &[usize],
    sequence: u32,
    hive_bins_size: u32,
    flags: u32,
) -> Result<Vec<u8>> {
    let count = u32::try_from(pages.len()).map_err(|_| Error::Unsupported {
        what: "log entry",
        offset: 0,
        detail: format!("{} dirty pages", pages.len()),
    })?;
    let refs = ENTRY_HEADER_SIZE + pages.len() * PAGE_REF_SIZE;
    let body = pages.len() * ENTRY_PAGE;
    let size = (refs + body).div_ceil(SECTOR) * SECTOR;
    let size32 = u32::try_from(size).map_err(|_| Error::Unsupported {
        what: "log entry",
        offset: 0,
        detail: format!("{size:#x} bytes"),
    })?;
    let mut e = vec![0u8; size];
    e[..4].copy_from_slice(ENTRY_SIGNATURE);
    let put = crate::util::bytes::put_u32;
    put(&mut e, 4, size32);
    put(&mut e, 8, flags & ENTRY_FLAG_MASK);
    put(&mut e, 12, sequence);
    put(&mut e, 16, hive_bins_size);
    put(&mut e, 20, count);
    let mut data = refs;
    for (i, &p) in pages.iter().enumerate() {
        let src = BASE_BLOCK_SIZE + p;
        let page = image.get(src..src + ENTRY_PAGE).ok_or_else(|| {
            crate::error::truncated(
                "hive page",
                src as u64,
                ENTRY_PAGE as u64,
                image.len() as u64,
            )
        })?;
        if p % ENTRY_PAGE != 0 || p + ENTRY_PAGE > hive_bins_size as usize {
            return Err(Error::Invalid {
                what: "log entry page",
                offset: src as u64,
                detail: format!("page {p:#x} is not a whole page inside the hive bins"),
            });
        }
        let r = ENTRY_HEADER_SIZE + i * PAGE_REF_SIZE;
        put(&mut e, r, p as u32);
        put(&mut e, r + 4, ENTRY_PAGE as u32);
        e[data..data + ENTRY_PAGE].copy_from_slice(page);
        data += ENTRY_PAGE;
    }
    let hash1 = marvin32(LOG_ENTRY_SEED, &e[ENTRY_HEADER_SIZE..]);
    e[24..32].copy_from_slice(&hash1.to_le_bytes());
    let hash2 = marvin32(LOG_ENTRY_SEED, &e[..HASH2_COVERED]);
    e[32..40].copy_from_slice(&hash2.to_le_bytes());
    Ok(e)
}

/// A whole old-format log: `base` (a [`log_base_block`] of the old format)
/// then the dirty vector of every 512-byte page of the hive bins where
/// `new` differs from `old`, and those pages of `new`.
pub fn old_log(base: &[u8], old: &[u8], new: &[u8], hive_bins_size: u32) -> Result<Vec<u8>> {
    let bins = hive_bins_size as usize;
    let sectors = bins / SECTOR;
    let bitmap_len = bins / HBIN_ALIGNMENT as usize;
    let mut bitmap = vec![0u8; bitmap_len];
    let mut pages = Vec::new();
    // Runs of sectors that did not change are skipped with one compare.
    const RUN: usize = 64;
    for first in (0..sectors).step_by(RUN) {
        let end = (first + RUN).min(sectors);
        let (a, e) = (
            BASE_BLOCK_SIZE + first * SECTOR,
            BASE_BLOCK_SIZE + end * SECTOR,
        );
        if let (Some(o), Some(n)) = (old.get(a..e), new.get(a..e)) {
            if crate::util::bytes::same(o, n) {
                continue;
            }
        }
        for s in first..end {
            let a = BASE_BLOCK_SIZE + s * SECTOR;
            let page = new.get(a..a + SECTOR).ok_or_else(|| {
                crate::error::truncated("hive sector", a as u64, SECTOR as u64, new.len() as u64)
            })?;
            if !old
                .get(a..a + SECTOR)
                .is_some_and(|o| crate::util::bytes::same(o, page))
            {
                bitmap[s / 8] |= 1 << (s % 8);
                pages.extend_from_slice(page);
            }
        }
    }
    let mut log = base.get(..LOG_BASE_BLOCK_SIZE).unwrap_or(base).to_vec();
    log.resize(LOG_BASE_BLOCK_SIZE, 0);
    log.extend_from_slice(DIRTY_VECTOR_SIGNATURE);
    log.extend_from_slice(&bitmap);
    log.resize(log.len().div_ceil(SECTOR) * SECTOR, 0);
    log.extend_from_slice(&pages);
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hive image: base block, then `bins` bytes of one hive bin.
    fn hive(seq1: u32, seq2: u32, bins: usize, fill: u8) -> Vec<u8> {
        let mut h = vec![0u8; BASE_BLOCK_SIZE + bins];
        h[..4].copy_from_slice(b"regf");
        let put = crate::util::bytes::put_u32;
        put(&mut h, 20, 1);
        put(&mut h, 24, 5);
        put(&mut h, 32, 1);
        put(&mut h, 36, 0x20);
        put(&mut h, 44, 1);
        base_block::set_clean(&mut h[..BASE_BLOCK_SIZE], seq1, bins as u32);
        put(&mut h, 8, seq2);
        let sum = base_block::checksum(&h[..HEADER_SIZE]);
        put(&mut h, OFF_CHECKSUM_AT, sum);
        let b = &mut h[BASE_BLOCK_SIZE..];
        b[..4].copy_from_slice(b"hbin");
        put(b, 8, bins as u32);
        for x in &mut b[32..] {
            *x = fill;
        }
        h
    }

    const OFF_CHECKSUM_AT: usize = base_block::OFF_CHECKSUM;
    const OFF_SEQ2: usize = base_block::OFF_SEQ2;

    /// `old`'s body under `new`'s base block marked in flight (seq2 = `seq2`).
    fn inflight(old: &[u8], new: &[u8], seq2: u32) -> Vec<u8> {
        let mut p = old.to_vec();
        p[..BASE_BLOCK_SIZE].copy_from_slice(&new[..BASE_BLOCK_SIZE]);
        crate::util::bytes::put_u32(&mut p, OFF_SEQ2, seq2);
        let sum = base_block::checksum(&p[..HEADER_SIZE]);
        crate::util::bytes::put_u32(&mut p, OFF_CHECKSUM_AT, sum);
        p
    }

    /// Recovers `primary` with `log` as its LOG1.
    fn replay(primary: &[u8], log: &[u8]) -> Recovery {
        recover(
            primary,
            &[LogInput {
                name: "H.LOG1".into(),
                bytes: log,
            }],
        )
        .unwrap()
    }

    /// A new-format log made here replays, with our own replay, to exactly
    /// the new image, including growth of the hive bins.
    #[test]
    fn new_format_entry_replays_to_the_new_image() {
        let old = hive(7, 6, 0x2000, 0xAA);
        let mut new = hive(9, 9, 0x3000, 0xAA);
        new[BASE_BLOCK_SIZE + 0x1234] = 0x55;
        // The in-flight primary: old body, base block of the new one with
        // seq1 = 9, seq2 = 8.
        let inflight = inflight(&old, &new, 8);
        let pages = dirty_pages(&old, &new, 0x3000);
        // The bin header (its size) and the changed and new pages.
        assert_eq!(pages, vec![0, 0x1000, 0x2000]);
        let mut log = log_base_block(&new, LogFormat::New, 9, 0x3000).unwrap();
        log.extend(new_entry(&new, &pages, 9, 0x3000, 0).unwrap());
        let rec = replay(&inflight, &log);
        assert_eq!(rec.last_sequence, Some(9));
        assert_eq!(rec.hive[..BASE_BLOCK_SIZE + 0x3000], new[..]);
        // A damaged entry is not replayed.
        let n = log.len();
        log[n - 1] ^= 1;
        let rec = replay(&inflight, &log);
        assert_eq!(rec.last_sequence, None);
    }

    /// An old-format log made here replays to the new image.
    #[test]
    fn old_format_log_replays_to_the_new_image() {
        let old = hive(4, 4, 0x2000, 0x11);
        let mut new = hive(5, 5, 0x2000, 0x11);
        new[BASE_BLOCK_SIZE + 0x1800] = 0x22;
        new[BASE_BLOCK_SIZE + 0x40] = 0x33;
        let inflight = inflight(&old, &new, 4);
        let base = log_base_block(&new, LogFormat::Old, 5, 0x2000).unwrap();
        let log = old_log(&base, &old, &new, 0x2000).unwrap();
        let rec = replay(&inflight, &log);
        assert_eq!(rec.last_sequence, Some(5));
        assert_eq!(rec.hive[..BASE_BLOCK_SIZE + 0x2000], new[..]);
    }
}
