// SPDX-License-Identifier: GPL-2.0-or-later
//! Hive bins (`hbin`) and cells: bounds-checked access to one cell, and a
//! full structural walk of every bin.
//!
//! Sources: regf specification, "Hive bin" and "Cell" (lines 210-236 at
//! commit 88e878de); hive-write-safety.md §2.2-2.3 (what the NT loader
//! checks: signature, size % 4096, offset field equal to the real position;
//! cells tile a bin exactly; never a zero-size cell).

use crate::error::{Error, Result};
use crate::format::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE};
use crate::util::bytes::{i32_at, slice, u32_at};

/// Size of an hbin header.
pub const HBIN_HEADER_SIZE: usize = 32;
/// `hbin` signature.
pub const HBIN_SIGNATURE: &[u8; 4] = b"hbin";
/// Offset in an hbin header of its timestamp (FILETIME): meaningful in the
/// first bin only, a backup of the base block's last-written timestamp
/// (spec: "Hive bin", lines 224-225).
pub const HBIN_OFF_TIMESTAMP: usize = 0x14;
/// Bins are multiples of this size (spec: "Hive bin").
pub const HBIN_ALIGN: usize = 4096;
/// Cells are multiples of 8 bytes, size field included.
pub const CELL_ALIGN: usize = 8;
/// "No cell" marker in offset fields.
pub const NO_CELL: u32 = u32::MAX;
/// First regf minor version with big-data (`db`) records (spec: "Big data",
/// hive version 1.4+).
pub const BIG_DATA_MIN_MINOR: u32 = 4;

/// End offset of the hive bins data, checked against the data length.
fn bins_end(bytes: &[u8], hive_bins_size: u32) -> Result<usize> {
    bins_end_in(bytes.len(), hive_bins_size)
}

/// End offset of the hive bins data in a file of `len` bytes.
fn bins_end_in(len: usize, hive_bins_size: u32) -> Result<usize> {
    match BASE_BLOCK_SIZE.checked_add(hive_bins_size as usize) {
        Some(end) if end <= len => Ok(end),
        _ => Err(Error::Truncated {
            what: "hive bins data",
            offset: BASE_BLOCK_SIZE as u64,
            needed: hive_bins_size as u64,
            len: len as u64,
        }),
    }
}

/// A hive's bytes addressed by file offset and fetched on demand (a page
/// cache over a file or a raw volume): the navigator asks only for the
/// ranges it reads, so a lookup touches only the pages its cells live in.
pub trait HiveBytes {
    /// Length of the whole file in bytes.
    fn len(&self) -> usize;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `len` bytes at file offset `offset`; an error names the offset when
    /// the range runs past the end or cannot be read.
    fn range(&self, offset: usize, len: usize) -> Result<&[u8]>;
    /// A hint that the bytes at the file offsets `offsets` (sorted or not)
    /// are read next: a source read on demand reads the pages holding them
    /// that it has not read, each run of consecutive pages in one read.
    /// Nothing else is read; an error is left to the read that needs the
    /// bytes. A file in memory ignores it.
    fn prefetch(&self, offsets: &mut dyn Iterator<Item = usize>) {
        let _ = offsets;
    }
}

/// Where a view's bytes come from.
#[derive(Clone, Copy)]
enum Bytes<'a> {
    /// The whole file, in memory.
    Whole(&'a [u8]),
    /// Fetched on demand.
    Paged(&'a dyn HiveBytes),
}

/// A read-only view of a primary hive's bytes with a validated base block.
#[derive(Clone, Copy)]
pub struct HiveView<'a> {
    bytes: Bytes<'a>,
    len: usize,
    bins_end: usize,
    root: u32,
    big_data_records: bool,
    /// When set, the allocated cells the bin walk found: a reference to
    /// any other offset (inside another cell) is an error.
    starts: Option<&'a CellStarts>,
}

/// The allocated cells of a hive as its bins tile them, one bit per 8-byte
/// slot of the hive bins data (the cell alignment): what a reference must
/// point at. A record inside a free cell would be overwritten when the
/// editor allocates from it; one inside another allocated cell would change
/// with it.
#[derive(Clone, Debug, Default)]
pub struct CellStarts {
    bits: Vec<u64>,
}

impl CellStarts {
    fn slot(abs: usize) -> Option<usize> {
        abs.checked_sub(BASE_BLOCK_SIZE)
            .filter(|r| r.is_multiple_of(CELL_ALIGN))
            .map(|r| r / CELL_ALIGN)
    }

    fn insert(&mut self, abs: usize) {
        if let Some(i) = Self::slot(abs) {
            if self.bits.len() <= i / 64 {
                self.bits.resize(i / 64 + 1, 0);
            }
            self.bits[i / 64] |= 1 << (i % 64);
        }
    }

    /// Whether an allocated cell starts at absolute offset `abs`.
    pub fn contains(&self, abs: usize) -> bool {
        Self::slot(abs)
            .and_then(|i| self.bits.get(i / 64).map(|w| w & (1 << (i % 64)) != 0))
            .unwrap_or(false)
    }
}

/// One allocated cell.
#[derive(Clone, Copy, Debug)]
pub struct Cell<'a> {
    /// Offset relative to the start of the hive bins data (what records store).
    pub rel: u32,
    /// Absolute file offset of the cell's size field.
    pub abs: usize,
    /// The cell's data, after the 4-byte size field.
    pub data: &'a [u8],
}

impl Cell<'_> {
    /// Absolute file offset of byte `off` of the cell data.
    pub fn abs_of(&self, off: usize) -> u64 {
        (self.abs + 4 + off) as u64
    }
}

impl<'a> HiveView<'a> {
    /// Wraps a whole primary hive file. Checks the signature, that the
    /// version and type are ones we understand, and that the declared bins
    /// fit in the data.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        Self::with(Bytes::Whole(bytes), bytes.len(), bytes)
    }

    /// [`HiveView::new`] over bytes fetched on demand: only the base block
    /// is read here, and each cell when it is asked for.
    pub fn paged(src: &'a dyn HiveBytes) -> Result<Self> {
        let head = src.range(0, BASE_BLOCK_SIZE.min(src.len()))?;
        Self::with(Bytes::Paged(src), src.len(), head)
    }

    fn with(bytes: Bytes<'a>, len: usize, head: &[u8]) -> Result<Self> {
        let bb = BaseBlock::parse(head)?;
        bb.validate_primary()?;
        let bins_end = bins_end_in(len, bb.hive_bins_size)?;
        Ok(HiveView {
            bytes,
            len,
            bins_end,
            root: bb.root_cell,
            big_data_records: bb.minor >= BIG_DATA_MIN_MINOR,
            starts: None,
        })
    }

    /// This view, refusing any cell reference that is not one of `starts`
    /// (the allocated cells of [`walk_bins`]): the full check's view.
    pub fn with_cell_starts(self, starts: &'a CellStarts) -> Self {
        HiveView {
            starts: Some(starts),
            ..self
        }
    }

    /// `len` bytes at file offset `at`, bounds-checked.
    fn read(&self, at: usize, len: usize, what: &'static str) -> Result<&'a [u8]> {
        match self.bytes {
            Bytes::Whole(b) => slice(b, 0, at, len, what),
            Bytes::Paged(src) => src.range(at, len),
        }
    }

    /// Whether data over 16,344 bytes is stored as a big-data (`db`) record
    /// (format 1.4 and later); older hives keep it in one cell.
    pub fn big_data_records(&self) -> bool {
        self.big_data_records
    }

    /// Length of the whole file in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file is empty (never, for a view that opened).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole file, when it is in memory (`None` for a paged view).
    pub fn whole(&self) -> Option<&'a [u8]> {
        match self.bytes {
            Bytes::Whole(b) => Some(b),
            Bytes::Paged(_) => None,
        }
    }

    /// Root cell offset from the base block.
    pub fn root_cell(&self) -> u32 {
        self.root
    }

    /// Returns the allocated cell at relative offset `rel`.
    /// Reads ahead, on demand, the pages holding the cells at `rels` (see
    /// [`HiveBytes::prefetch`]): a value list's records, in a few reads
    /// instead of one per page. Offsets outside the hive bins are skipped.
    pub fn prefetch(&self, rels: impl Iterator<Item = u32>) {
        if let Bytes::Paged(b) = self.bytes {
            let end = self.bins_end;
            b.prefetch(
                &mut rels
                    .filter_map(|r| (r as usize).checked_add(BASE_BLOCK_SIZE))
                    .filter(|&abs| abs < end),
            );
        }
    }

    pub fn cell(&self, rel: u32, what: &'static str) -> Result<Cell<'a>> {
        let abs = (rel as usize)
            .checked_add(BASE_BLOCK_SIZE)
            .filter(|_| rel != NO_CELL)
            .ok_or_else(|| Error::Invalid {
                what,
                offset: rel as u64,
                detail: "cell offset is the 'none' marker or overflows".into(),
            })?;
        if abs % CELL_ALIGN != 0 || abs + 4 > self.bins_end {
            return Err(Error::Invalid {
                what,
                offset: abs as u64,
                detail: format!(
                    "cell offset {rel:#x} is misaligned or outside the hive bins (end {:#x})",
                    self.bins_end
                ),
            });
        }
        let size = i32_at(self.read(abs, 4, "cell size")?, abs as u64, 0, "cell size")?;
        if size >= 0 {
            let detail = if size == 0 {
                format!("{what} points at a cell with size 0 (not a cell)")
            } else {
                format!("{what} points at a free cell (size {size})")
            };
            return Err(Error::Invalid {
                what,
                offset: abs as u64,
                detail,
            });
        }
        let len = size.unsigned_abs() as usize;
        if len < CELL_ALIGN || !len.is_multiple_of(CELL_ALIGN) || abs + len > self.bins_end {
            return Err(Error::Invalid {
                what: "cell size",
                offset: abs as u64,
                detail: format!("size {len:#x} is not a multiple of 8 or runs past the hive bins"),
            });
        }
        if self.starts.is_some_and(|m| !m.contains(abs)) {
            return Err(Error::Invalid {
                what,
                offset: abs as u64,
                detail: format!(
                    "cell offset {rel:#x} is not a cell of its bin: it lies inside another cell"
                ),
            });
        }
        Ok(Cell {
            rel,
            abs,
            data: self.read(abs + 4, len - 4, what)?,
        })
    }
}

/// Counts from a structural walk of every bin and cell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinStats {
    /// Number of hive bins.
    pub bins: u32,
    /// Allocated cells.
    pub used_cells: u64,
    /// Free cells.
    pub free_cells: u64,
    /// Bytes in free cells.
    pub free_bytes: u64,
}

/// Walks every hbin and cell in `bytes[4096 .. 4096 + hive_bins_size]` and
/// checks the invariants the NT loader relies on: `hbin` signature, offset
/// field equal to the bin's position, size a non-zero multiple of 4096,
/// cells tiling each bin exactly with 8-aligned, non-zero sizes.
pub fn walk_bins(bytes: &[u8], hive_bins_size: u32) -> Result<BinStats> {
    Ok(walk_bins_with_starts(bytes, hive_bins_size)?.0)
}

/// [`walk_bins`], with the allocated cells it found.
pub fn walk_bins_with_starts(bytes: &[u8], hive_bins_size: u32) -> Result<(BinStats, CellStarts)> {
    let end = bins_end(bytes, hive_bins_size)?;
    let mut stats = BinStats::default();
    let mut starts = CellStarts::default();
    let mut pos = BASE_BLOCK_SIZE;
    while pos < end {
        let hdr = slice(bytes, 0, pos, HBIN_HEADER_SIZE, "hive bin header")?;
        if &hdr[..4] != HBIN_SIGNATURE {
            return Err(Error::BadSignature {
                what: "hive bin",
                offset: pos as u64,
                expected: "hbin",
                found: hdr[..4].to_vec(),
            });
        }
        let rel = u32_at(hdr, 0, 4, "hbin offset")? as usize;
        if rel != pos - BASE_BLOCK_SIZE {
            return Err(Error::Invalid {
                what: "hbin offset field",
                offset: pos as u64 + 4,
                detail: format!("says {rel:#x}, bin is at {:#x}", pos - BASE_BLOCK_SIZE),
            });
        }
        let size = u32_at(hdr, 0, 8, "hbin size")? as usize;
        if size == 0 || !size.is_multiple_of(HBIN_ALIGN) || pos + size > end {
            return Err(Error::Invalid {
                what: "hbin size",
                offset: pos as u64 + 8,
                detail: format!("{size:#x} is not a multiple of 4096 inside the hive bins"),
            });
        }
        let bin_end = pos + size;
        let mut c = pos + HBIN_HEADER_SIZE;
        while c < bin_end {
            let raw = i32_at(bytes, 0, c, "cell size")?;
            let len = raw.unsigned_abs() as usize;
            if len == 0 || !len.is_multiple_of(CELL_ALIGN) || c + len > bin_end {
                return Err(Error::Invalid {
                    what: "cell size",
                    offset: c as u64,
                    detail: format!(
                        "size {raw} is zero, not a multiple of 8, or crosses the bin end {bin_end:#x}"
                    ),
                });
            }
            if raw < 0 {
                stats.used_cells += 1;
                starts.insert(c);
            } else {
                stats.free_cells += 1;
                stats.free_bytes += len as u64;
            }
            c += len;
        }
        stats.bins += 1;
        pos = bin_end;
    }
    Ok((stats, starts))
}
