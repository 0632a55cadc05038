// SPDX-License-Identifier: GPL-2.0-or-later
//! The regf base block: the first 4096 bytes of a primary hive file, and the
//! first sector (512 bytes) of a transaction log.
//!
//! Sources:
//! - regf specification, "Base block" (msuhanov/regf, `Windows registry file
//!   format specification.md`), lines 130-202 at commit 88e878de;
//! - `shared/docs/hive-write-safety.md` §2.1 (which fields a writer touches).
//!
//! A hive is *dirty* when its two sequence numbers differ or its checksum is
//! wrong (spec: "Dirty state"). Windows replays the transaction logs over a
//! dirty primary at load time, so nothing here ever makes a dirty hive look
//! clean: [`set_clean`] is only called by the write protocol on bytes that are
//! already reconciled.

use crate::error::{Error, Result};
use crate::util::bytes::{put_u32, slice, u32_at, u64_at};

/// Size of the base block in a primary file (spec: "Base block", 4096 bytes).
pub const BASE_BLOCK_SIZE: usize = 4096;
/// Size of the part covered by the checksum plus the checksum itself.
pub const HEADER_SIZE: usize = 512;
/// `regf` signature at offset 0.
pub const SIGNATURE: &[u8; 4] = b"regf";

/// Primary sequence number (incremented when a write starts).
pub const OFF_SEQ1: usize = 4;
/// Secondary sequence number (incremented when a write finishes).
pub const OFF_SEQ2: usize = 8;
/// Last written timestamp, FILETIME.
pub const OFF_TIMESTAMP: usize = 12;
/// Major version (1).
pub const OFF_MAJOR: usize = 20;
/// Minor version (3..=6).
pub const OFF_MINOR: usize = 24;
/// File type: 0 primary, 1 old-format log, 2 volatile, 6 new-format log.
pub const OFF_FILE_TYPE: usize = 28;
/// File format: 1 = direct memory load.
pub const OFF_FILE_FORMAT: usize = 32;
/// Root cell offset, relative to the start of the hive bins data.
pub const OFF_ROOT_CELL: usize = 36;
/// Hive bins data size (sum of all hbin sizes).
pub const OFF_HIVE_BINS_SIZE: usize = 40;
/// Clustering factor (1).
pub const OFF_CLUSTERING: usize = 44;
/// UTF-16LE file name, 64 bytes (debug only).
pub const OFF_FILE_NAME: usize = 48;
/// Length of the file-name field.
pub const FILE_NAME_LEN: usize = 64;
/// Flags; bit 0 = KTM locked, bit 1 = defragmented (Windows 10+).
pub const OFF_FLAGS: usize = 144;
/// XOR-32 checksum of bytes 0..508.
pub const OFF_CHECKSUM: usize = 508;

/// File type of a primary hive.
pub const FILE_TYPE_PRIMARY: u32 = 0;
/// File type of an old-format (`DIRT`) transaction log.
pub const FILE_TYPE_LOG_OLD: u32 = 1;
/// File type of a new-format (`HvLE`) transaction log.
pub const FILE_TYPE_LOG_NEW: u32 = 6;
/// Major version every known hive uses.
pub const MAJOR_VERSION: u32 = 1;
/// Minor versions Windows writes (spec: 3 = NT4, 4 = XP..., 5 = XP+ with
/// `lh` lists, 6 = Windows 10 differencing hive; 2 seen on beta builds).
pub const MINOR_VERSIONS: std::ops::RangeInclusive<u32> = 2..=6;

/// Parsed copy of the fields of a base block that ntrescue reports or checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseBlock {
    /// Primary sequence number.
    pub seq1: u32,
    /// Secondary sequence number.
    pub seq2: u32,
    /// Last-written FILETIME (0 on many Windows 8.1+ hives).
    pub timestamp: u64,
    /// Major format version.
    pub major: u32,
    /// Minor format version.
    pub minor: u32,
    /// File type (0 primary, 1/6 logs).
    pub file_type: u32,
    /// File format (1).
    pub file_format: u32,
    /// Root cell offset (relative to 4096).
    pub root_cell: u32,
    /// Hive bins data size.
    pub hive_bins_size: u32,
    /// Clustering factor.
    pub clustering: u32,
    /// Flags.
    pub flags: u32,
    /// Stored checksum.
    pub checksum: u32,
    /// Checksum computed over bytes 0..508.
    pub computed_checksum: u32,
    /// The embedded file name (lossy UTF-16 decode, NULs trimmed).
    pub file_name: String,
}

impl BaseBlock {
    /// Parses the first 512 bytes of `bytes`. Checks the signature only; the
    /// caller decides what to do with a dirty or odd header.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let head = slice(bytes, 0, 0, HEADER_SIZE, "base block")?;
        if &head[..4] != SIGNATURE {
            return Err(Error::NotRegf {
                found: head[..4].to_vec(),
            });
        }
        let r = |off| u32_at(head, 0, off, "base block");
        let name: Vec<u16> = head[OFF_FILE_NAME..OFF_FILE_NAME + FILE_NAME_LEN]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        Ok(BaseBlock {
            seq1: r(OFF_SEQ1)?,
            seq2: r(OFF_SEQ2)?,
            timestamp: u64_at(head, 0, OFF_TIMESTAMP, "base block")?,
            major: r(OFF_MAJOR)?,
            minor: r(OFF_MINOR)?,
            file_type: r(OFF_FILE_TYPE)?,
            file_format: r(OFF_FILE_FORMAT)?,
            root_cell: r(OFF_ROOT_CELL)?,
            hive_bins_size: r(OFF_HIVE_BINS_SIZE)?,
            clustering: r(OFF_CLUSTERING)?,
            flags: r(OFF_FLAGS)?,
            checksum: r(OFF_CHECKSUM)?,
            computed_checksum: checksum(head),
            file_name: String::from_utf16_lossy(&name),
        })
    }

    /// Whether the stored checksum matches the computed one.
    pub fn checksum_valid(&self) -> bool {
        self.checksum == self.computed_checksum
    }

    /// Whether the sequence numbers match.
    pub fn sequences_match(&self) -> bool {
        self.seq1 == self.seq2
    }

    /// Dirty per the spec: sequence numbers differ or the checksum is wrong.
    pub fn is_dirty(&self) -> bool {
        !self.sequences_match() || !self.checksum_valid()
    }

    /// Checks the fields a primary hive must have to be edited at all:
    /// version 1.x, primary type, direct-memory-load format, clustering 1.
    /// Returns an [`Error::Unsupported`] / [`Error::Invalid`] naming the field.
    pub fn validate_primary(&self) -> Result<()> {
        if self.major != MAJOR_VERSION || !MINOR_VERSIONS.contains(&self.minor) {
            return Err(Error::Unsupported {
                what: "regf version",
                offset: OFF_MAJOR as u64,
                detail: format!("{}.{} (supported: 1.2 to 1.6)", self.major, self.minor),
            });
        }
        if self.file_type != FILE_TYPE_PRIMARY {
            return Err(Error::Unsupported {
                what: "regf file type",
                offset: OFF_FILE_TYPE as u64,
                detail: format!(
                    "{} (expected 0, a primary hive file; 1 and 6 are transaction logs)",
                    self.file_type
                ),
            });
        }
        if self.file_format != 1 {
            return Err(Error::Unsupported {
                what: "regf file format",
                offset: OFF_FILE_FORMAT as u64,
                detail: format!("{} (expected 1)", self.file_format),
            });
        }
        if self.clustering != 1 {
            return Err(Error::Invalid {
                what: "clustering factor",
                offset: OFF_CLUSTERING as u64,
                detail: format!("{} (expected 1)", self.clustering),
            });
        }
        if self.hive_bins_size == 0 || !self.hive_bins_size.is_multiple_of(4096) {
            return Err(Error::Invalid {
                what: "hive bins data size",
                offset: OFF_HIVE_BINS_SIZE as u64,
                detail: format!(
                    "{:#x} is not a non-zero multiple of 4096",
                    self.hive_bins_size
                ),
            });
        }
        Ok(())
    }

    /// Human name of the regf minor version.
    pub fn format_name(&self) -> &'static str {
        match self.minor {
            3 => "Windows NT 4.0 (1.3)",
            4 => "Windows XP beta (1.4)",
            5 => "Windows XP and later (1.5)",
            6 => "Windows 10 differencing hive (1.6)",
            _ => "unknown",
        }
    }
}

/// XOR-32 of the 127 dwords in `header[0..508]`, with the spec's fix-ups:
/// a result of 0xFFFFFFFF becomes 0xFFFFFFFE and 0 becomes 1
/// (spec lines 195-201; hivex and chntpw omit these).
pub fn checksum(header: &[u8]) -> u32 {
    let x = header[..OFF_CHECKSUM].chunks_exact(4).fold(0u32, |acc, c| {
        acc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]])
    });
    match x {
        u32::MAX => u32::MAX - 1,
        0 => 1,
        x => x,
    }
}

/// Marks a *reconciled* base block clean: seq1 = seq2 = `seq`, sets the
/// hive-bins size, and recomputes the checksum last. Timestamp, GUIDs, file
/// name and flags stay as they are (hive-write-safety.md §5.5).
pub fn set_clean(block: &mut [u8], seq: u32, hive_bins_size: u32) {
    put_u32(block, OFF_SEQ1, seq);
    put_u32(block, OFF_SEQ2, seq);
    put_u32(block, OFF_HIVE_BINS_SIZE, hive_bins_size);
    let sum = checksum(&block[..HEADER_SIZE]);
    put_u32(block, OFF_CHECKSUM, sum);
}

/// Largest file a hive or one of its logs can be: a base block and hive
/// bins whose size is a 32-bit field (regf specification, "Base block",
/// offset 40). Nothing larger is read into memory, whatever the file
/// system says its size is (a sparse file can claim a terabyte).
pub const MAX_REGISTRY_FILE: u64 = BASE_BLOCK_SIZE as u64 + u32::MAX as u64;

/// Refuses a file too large to be a hive or a log before any of it is read.
pub fn check_registry_file_size(len: u64, what: &str) -> Result<()> {
    if len > MAX_REGISTRY_FILE {
        return Err(Error::Unsupported {
            what: "file size",
            offset: 0,
            detail: format!(
                "{what} is {len} bytes, larger than any registry hive or log can be \
                 ({MAX_REGISTRY_FILE} bytes)"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut b = vec![0u8; BASE_BLOCK_SIZE];
        b[..4].copy_from_slice(SIGNATURE);
        put_u32(&mut b, OFF_SEQ1, 7);
        put_u32(&mut b, OFF_SEQ2, 7);
        put_u32(&mut b, OFF_MAJOR, 1);
        put_u32(&mut b, OFF_MINOR, 5);
        put_u32(&mut b, OFF_FILE_FORMAT, 1);
        put_u32(&mut b, OFF_ROOT_CELL, 0x20);
        put_u32(&mut b, OFF_HIVE_BINS_SIZE, 0x1000);
        put_u32(&mut b, OFF_CLUSTERING, 1);
        let c = checksum(&b);
        put_u32(&mut b, OFF_CHECKSUM, c);
        b
    }

    #[test]
    fn parses_and_validates_a_clean_header() {
        let bb = BaseBlock::parse(&header()).unwrap();
        assert!(bb.checksum_valid() && !bb.is_dirty());
        bb.validate_primary().unwrap();
    }

    #[test]
    fn sequence_mismatch_or_bad_checksum_is_dirty() {
        let mut b = header();
        put_u32(&mut b, OFF_SEQ1, 8);
        let bb = BaseBlock::parse(&b).unwrap();
        assert!(bb.is_dirty() && !bb.checksum_valid());
        set_clean(&mut b, 9, 0x1000);
        let bb = BaseBlock::parse(&b).unwrap();
        assert!(!bb.is_dirty());
        assert_eq!((bb.seq1, bb.seq2), (9, 9));
    }

    /// Prove both fix-ups: an all-zero XOR must be stored as 1, an all-ones
    /// XOR as 0xFFFFFFFE.
    #[test]
    fn checksum_fixups() {
        let zero = vec![0u8; 512];
        assert_eq!(checksum(&zero), 1);
        let mut ones = vec![0u8; 512];
        ones[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(checksum(&ones), u32::MAX - 1);
    }

    #[test]
    fn rejects_non_regf_and_short_input() {
        assert!(matches!(
            BaseBlock::parse(b"CREG\0\0\0\0"),
            Err(Error::Truncated { .. })
        ));
        let mut b = header();
        b[..4].copy_from_slice(b"CREG");
        assert!(matches!(BaseBlock::parse(&b), Err(Error::NotRegf { .. })));
    }
}
