// SPDX-License-Identifier: GPL-2.0-or-later
//! Transaction logs (`.LOG`, `.LOG1`, `.LOG2`) and in-memory recovery of a
//! dirty primary hive, following the rules Windows applies at load time.
//!
//! Sources:
//! - regf specification (msuhanov/regf, `Windows registry file format
//!   specification.md`): "Format of transaction log files" (old format:
//!   base block, dirty vector, dirty pages; new format: base block, log
//!   entries and their notes 1-11), "Dirty state of a hive", "Multiple
//!   transaction log files";
//! - yarp (msuhanov/yarp) `yarp/RegistryFile.py` (`NewLogFile`, `LogEntry`,
//!   `OldLogFile`, `DirtyVector`, `PrimaryFile.apply_new_log_file(s)`,
//!   `apply_old_log_file`, `save_recovered_hive`), `yarp/Registry.py`
//!   (`recover_auto`) and `yarp/RegistryHelpers.py` (log discovery), used as
//!   the reference behaviour;
//! - `shared/docs/hive-write-safety.md` §3.3, §3.4 and §6 step 6.
//!
//! # What [`recover`] does
//!
//! - A **clean** primary (seq1 == seq2, checksum good) is returned unchanged:
//!   Windows ignores the logs of a clean hive.
//! - A primary whose base block is **unusable** (not `regf`, too short, bad
//!   checksum) is refused. Windows would rebuild the base block from the log
//!   with the latest entries; that means trusting a 512-byte copy for fields
//!   the logs do not carry, so ntrescue does not guess.
//! - A **dirty** primary with a valid base block gets the logs replayed over
//!   an in-memory copy:
//!   - only logs whose own base block is valid (`regf`, seq1 == seq2,
//!     checksum good, a log file type) are used;
//!   - the new format (`HvLE` entries, Windows 8.1 and later) is preferred,
//!     `.LOG1`/`.LOG2` before `.LOG`, as yarp's `recover_auto` does;
//!   - new-format logs are ordered by their base sequence number (with
//!     wrap-around, see below); the first log applied is the earliest whose
//!     base sequence is at least the primary's secondary sequence number;
//!     every entry must carry the next sequence number and pass all checks,
//!     and replay stops at the first one that does not (entries before it
//!     stay applied); the next log is used only if its base sequence is
//!     last + 1;
//!   - each page goes to file offset 4096 + its offset, the image grows to
//!     the entry's hive-bins size, and only flag bit 0 is taken from the
//!     entry;
//!   - an old-format (`DIRT`) log is used only if its last-written timestamp
//!     equals the primary's; its dirty 512-byte pages are applied as a whole.
//! - After a replay the in-memory base block gets seq1 = seq2 = the last
//!   applied sequence number, the new hive-bins size, file type 0 and a fresh
//!   checksum, like yarp's `save_recovered_hive`. The writer later raises the
//!   sequence number to [`SequencesSeen::next_clean`]: 1 + the highest seen.
//! - Every hive bin is then checked. Windows would replace an invalid bin by
//!   an empty dummy bin (dropping its cells); ntrescue refuses instead, since
//!   writing such a hive back would make that loss permanent.
//!
//! Every offset and size read from a log is checked before use; malformed
//! logs are reported, never trusted, and never cause a panic.
//!
//! # Sequence numbers and wrap-around
//!
//! Sequence numbers are 32-bit and wrap from 0xFFFFFFFF to 0. What the
//! sources say, and what ntrescue does where they are silent:
//!
//! - Entries follow as N, N + 1, ... and a second log continues at last + 1;
//!   both are taken modulo 2^32 (yarp: `c_uint32(last + 1)`), so a run may
//!   pass from 0xFFFFFFFF to 0.
//! - Logs are ordered "by base sequence, allowing for wrap-around"
//!   (hive-write-safety.md §6 step 6; yarp `is_starting_log`): `a` comes
//!   before `b` when `b - a` (mod 2^32) is 1..=0x7FFFFFFF. This order is
//!   only defined when no two logs start at the same number and all start
//!   within 0x7FFFFFFF of the earliest; otherwise (a tie between two logs
//!   that both hold entries, two starts 2^31 apart, or three spread around
//!   the circle) recovery is **refused** rather than guessing which log
//!   Windows takes first. A log without entries that ties with one holding
//!   them adds nothing and goes second.
//! - A log is eligible when its base sequence is "equal to or greater than"
//!   the primary's secondary sequence number (spec note 5). Nothing says
//!   whether Windows compares these two with wrap-around (yarp compares
//!   plain integers). When the plain and the wrap-around comparison
//!   disagree, recovery is **refused**.
//! - A hive written clean gets 1 + the highest number seen (§5.5, §6 step 8)
//!   so that every entry left in a log is older. Near the wrap no number is
//!   above all of them both as a plain integer and in wrap-around order, so
//!   the writer is **refused** there ([`SequencesSeen::next_clean`]).

use crate::error::{Error, Result};
use crate::format::regf::base_block::{
    self, BaseBlock, BASE_BLOCK_SIZE, FILE_TYPE_LOG_NEW, FILE_TYPE_LOG_OLD, FILE_TYPE_PRIMARY,
    HEADER_SIZE, MAJOR_VERSION, MINOR_VERSIONS, OFF_FILE_TYPE, OFF_FLAGS,
};
use crate::format::regf::marvin32::{marvin32, LOG_ENTRY_SEED};

mod order;
mod parse;
mod replay;
pub mod write;

pub use order::{sequences_seen, SequencesSeen};
pub use replay::{check_hive_bins, recover, recover_overlay, Overlay};

/// Size of the base-block copy at the start of a log (spec: "only the first
/// Clustering factor * 512 bytes of a base block are written there"; the
/// clustering factor is 1).
pub const LOG_BASE_BLOCK_SIZE: usize = HEADER_SIZE;
/// Signature of a new-format log entry.
pub const ENTRY_SIGNATURE: &[u8; 4] = b"HvLE";
/// Signature of an old-format dirty vector.
pub const DIRTY_VECTOR_SIGNATURE: &[u8; 4] = b"DIRT";
/// File type of a very old log (same layout as type 1; yarp
/// `FILE_TYPE_LOG_VERYOLD`).
pub const FILE_TYPE_LOG_VERY_OLD: u32 = 2;

/// Log entries and dirty pages are aligned to 512-byte sectors.
const SECTOR: usize = 512;
/// Hive bins (and hive-bins sizes) are multiples of 4096 bytes.
const HBIN_ALIGNMENT: u32 = 4096;
/// The stable part of a hive is addressed by cell indexes below 2^31 (bit 31
/// selects volatile storage), so no real hive-bins size reaches 2 GiB. The cap
/// also keeps a crafted log from making us allocate gigabytes.
const MAX_HIVE_BINS_SIZE: u32 = 0x8000_0000 - HBIN_ALIGNMENT;
/// Size of a log entry header: signature, size, flags, sequence number,
/// hive-bins size, dirty page count, Hash-1, Hash-2.
const ENTRY_HEADER_SIZE: usize = 40;
/// Size of one dirty page reference (offset, size).
const PAGE_REF_SIZE: usize = 8;
/// Hash-2 covers the first 32 bytes of the entry header.
const HASH2_COVERED: usize = 32;
/// The only base-block flag a log entry carries (spec note 11).
const ENTRY_FLAG_MASK: u32 = 0x1;
/// Header of a hive bin: `hbin`, offset, size, ...
const HBIN_HEADER_SIZE: usize = 32;

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

/// Which transaction-log file a name stands for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogSlot {
    /// `<hive>.LOG1`, first file of the dual-logging scheme.
    Log1,
    /// `<hive>.LOG2`, second file of the dual-logging scheme.
    Log2,
    /// `<hive>.LOG`, the single-logging scheme (often an empty leftover on
    /// Windows Vista and later).
    Log,
}

impl LogSlot {
    /// The three slots, in the order Windows and yarp prefer them.
    pub const ALL: [LogSlot; 3] = [LogSlot::Log1, LogSlot::Log2, LogSlot::Log];

    /// The extension, upper case and without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            LogSlot::Log1 => "LOG1",
            LogSlot::Log2 => "LOG2",
            LogSlot::Log => "LOG",
        }
    }

    /// The slot a file name fills, judged by its extension only (any case).
    pub fn of_name(name: &str) -> Option<LogSlot> {
        let (_, ext) = name.rsplit_once('.')?;
        LogSlot::ALL
            .into_iter()
            .find(|s| ext.eq_ignore_ascii_case(s.extension()))
    }
}

/// The log files found next to a hive (names as listed in the directory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFileNames {
    /// `.LOG`, if present.
    pub log: Option<String>,
    /// `.LOG1`, if present.
    pub log1: Option<String>,
    /// `.LOG2`, if present.
    pub log2: Option<String>,
}

impl LogFileNames {
    /// The names found, with their slots, in the order LOG1, LOG2, LOG.
    pub fn iter(&self) -> impl Iterator<Item = (LogSlot, &str)> {
        [
            (LogSlot::Log1, &self.log1),
            (LogSlot::Log2, &self.log2),
            (LogSlot::Log, &self.log),
        ]
        .into_iter()
        .filter_map(|(slot, name)| name.as_deref().map(|n| (slot, n)))
    }
}

/// Picks the `.LOG`, `.LOG1` and `.LOG2` files of `hive_name` from a
/// directory listing. Pure: no I/O.
///
/// Windows names these files case-insensitively, but an offline copy may sit
/// on a case-sensitive file system. Like yarp (`RegistryHelpers.py`), exact
/// spellings are tried first: the extension in upper then lower case, each
/// with the hive name as given, in lower case and in upper case (so
/// `SYSTEM.LOG1`, `SYSTEM.log1`, `system.LOG1`, `system.log1`, ...). If none is
/// listed, any case-insensitive match is taken (the first in sorted order, so
/// the choice does not depend on listing order).
pub fn find_log_files<S: AsRef<str>>(listing: &[S], hive_name: &str) -> LogFileNames {
    let find = |slot: LogSlot| -> Option<String> {
        let ext_upper = slot.extension();
        let ext_lower = ext_upper.to_ascii_lowercase();
        let names = [
            hive_name.to_string(),
            hive_name.to_lowercase(),
            hive_name.to_uppercase(),
        ];
        for ext in [ext_upper, ext_lower.as_str()] {
            for name in &names {
                let want = format!("{name}.{ext}");
                if let Some(hit) = listing.iter().find(|e| e.as_ref() == want) {
                    return Some(hit.as_ref().to_string());
                }
            }
        }
        let want = format!("{hive_name}.{ext_upper}").to_lowercase();
        listing
            .iter()
            .map(|e| e.as_ref())
            .filter(|e| e.to_lowercase() == want)
            .min()
            .map(str::to_string)
    };
    LogFileNames {
        log: find(LogSlot::Log),
        log1: find(LogSlot::Log1),
        log2: find(LogSlot::Log2),
    }
}

// ---------------------------------------------------------------------------
// Public report types
// ---------------------------------------------------------------------------

/// One log file handed to [`recover`].
#[derive(Clone, Debug)]
pub struct LogInput<'a> {
    /// File name (used in reports and to tell `.LOG1`/`.LOG2`/`.LOG` apart).
    pub name: String,
    /// The whole file.
    pub bytes: &'a [u8],
}

/// Transaction log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Windows 8.1 / Server 2012 R2 and later: `HvLE` log entries (type 6).
    New,
    /// Windows XP to 8: a `DIRT` dirty vector and dirty pages (type 1 or 2).
    Old,
}

/// One replayed log entry (new format), or one replayed old-format log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct AppliedEntry {
    /// Name of the log it came from.
    pub log: String,
    /// Format of that log.
    pub format: LogFormat,
    /// Sequence number of the entry (old format: of the log's base block).
    pub sequence: u32,
    /// Byte offset of the entry in the log (old format: of the dirty vector).
    pub log_offset: u64,
    /// Number of dirty pages written.
    pub pages: u32,
    /// Number of bytes written.
    pub bytes: u64,
    /// Hive-bins size after this entry.
    pub hive_bins_size: u32,
}

/// What was found in one log file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct LogSummary {
    /// File name.
    pub name: String,
    /// File length in bytes.
    pub len: u64,
    /// `.LOG1`, `.LOG2` or `.LOG`, judged by the name.
    pub slot: Option<LogSlot>,
    /// Format, from the file type in its base block (if it has one).
    pub format: Option<LogFormat>,
    /// Sequence number of its base block, if the base block is valid.
    pub base_sequence: Option<u32>,
    /// New format: the valid entries with consecutive sequence numbers from
    /// the start of the log, as `(sequence, byte offset)`. These are the only
    /// entries Windows could replay from this file.
    pub entries: Vec<(u32, u64)>,
    /// New format: other valid entries found further on (remnants of
    /// earlier use of the file), as `(sequence, byte offset)`.
    pub remnants: Vec<(u32, u64)>,
    /// Whether the log can take part in recovery (valid base block, format
    /// understood, structure sound).
    pub usable: bool,
    /// Why it is unusable, or what it holds.
    pub note: String,
}

/// Result of [`recover`].
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The hive as Windows would load it: the primary bytes after replay,
    /// with the base block rewritten as described in the module docs. When
    /// nothing was replayed these are the primary bytes unchanged (a dirty
    /// primary then still has its dirty base block).
    pub hive: Vec<u8>,
    /// Whether the primary was dirty (so that Windows would try to recover).
    pub primary_dirty: bool,
    /// Entries replayed, in order.
    pub applied: Vec<AppliedEntry>,
    /// Why replay ended early or did not happen, for a dirty primary; `None`
    /// when it ran to the natural end of the logs (or was not needed). A
    /// log whose entries end at a bad one keeps its reason here whether the
    /// next log then carries the sequence on or cannot follow.
    pub stopped: Option<String>,
    /// Every log handed in, in input order.
    pub logs: Vec<LogSummary>,
    /// Sequence number of the last replayed entry.
    pub last_sequence: Option<u32>,
    /// The sequence numbers in the primary, in every valid log base block
    /// and in every valid log entry (see [`sequences_seen`]).
    pub sequences_seen: SequencesSeen,
}

impl Recovery {
    /// Whether any log data was replayed.
    pub fn replayed(&self) -> bool {
        !self.applied.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Parsing a log
// ---------------------------------------------------------------------------

/// Whether sequence number `a` comes before `b`, allowing for wrap-around
/// (yarp `apply_new_log_files`, `is_starting_log`).
fn seq_precedes(a: u32, b: u32) -> bool {
    let d = b.wrapping_sub(a);
    d != 0 && d <= 0x7FFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::order::*;
    use super::parse::*;
    use super::replay::*;
    use super::*;
    use crate::format::regf::base_block::{
        checksum, OFF_CHECKSUM, OFF_CLUSTERING, OFF_FILE_FORMAT, OFF_HIVE_BINS_SIZE, OFF_MAJOR,
        OFF_MINOR, OFF_ROOT_CELL, OFF_SEQ1, OFF_SEQ2, OFF_TIMESTAMP, SIGNATURE,
    };
    use crate::util::bytes::put_u32;

    const PAGE: usize = 4096;

    /// A base block with the given sequence numbers and hive-bins size.
    fn base_block(seq1: u32, seq2: u32, hbins: u32, file_type: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(SIGNATURE);
        put_u32(&mut b, OFF_SEQ1, seq1);
        put_u32(&mut b, OFF_SEQ2, seq2);
        b[OFF_TIMESTAMP..OFF_TIMESTAMP + 8]
            .copy_from_slice(&0x01D2_9627_F1C8_A860u64.to_le_bytes());
        put_u32(&mut b, OFF_MAJOR, 1);
        put_u32(&mut b, OFF_MINOR, 5);
        put_u32(&mut b, OFF_FILE_TYPE, file_type);
        put_u32(&mut b, OFF_FILE_FORMAT, 1);
        put_u32(&mut b, OFF_ROOT_CELL, 0x20);
        put_u32(&mut b, OFF_HIVE_BINS_SIZE, hbins);
        put_u32(&mut b, OFF_CLUSTERING, 1);
        put_u32(&mut b, OFF_FLAGS, 0x2);
        let c = checksum(&b[..HEADER_SIZE]);
        put_u32(&mut b, OFF_CHECKSUM, c);
        b
    }

    /// A 4096-byte hive bin at hive-bins offset `off`, holding one free cell
    /// whose first data byte is `marker`.
    fn bin(off: u32, marker: u8) -> Vec<u8> {
        let mut b = vec![0u8; PAGE];
        b[..4].copy_from_slice(b"hbin");
        put_u32(&mut b, 4, off);
        put_u32(&mut b, 8, PAGE as u32);
        put_u32(&mut b, 32, (PAGE - 32) as u32);
        b[36] = marker;
        b
    }

    /// A dirty (or clean) primary with `bins` bins, markers 0.
    fn primary(seq1: u32, seq2: u32, bins: u32) -> Vec<u8> {
        let mut p = base_block(seq1, seq2, bins * PAGE as u32, 0, BASE_BLOCK_SIZE);
        for i in 0..bins {
            p.extend(bin(i * PAGE as u32, 0));
        }
        p
    }

    /// Marker byte of bin `i` in a hive image.
    fn marker(hive: &[u8], i: usize) -> u8 {
        hive[BASE_BLOCK_SIZE + i * PAGE + 36]
    }

    struct Spec {
        seq: u32,
        hbins: u32,
        flags: u32,
        /// (hive-bins offset, bytes)
        pages: Vec<(u32, Vec<u8>)>,
    }

    /// Recomputes Hash-1 then Hash-2 of the entry at the start of `e`.
    fn rehash(e: &mut [u8]) {
        let size = le32(e, 4) as usize;
        let h1 = marvin32(LOG_ENTRY_SEED, &e[ENTRY_HEADER_SIZE..size]);
        e[24..32].copy_from_slice(&h1.to_le_bytes());
        let h2 = marvin32(LOG_ENTRY_SEED, &e[..32]);
        e[32..40].copy_from_slice(&h2.to_le_bytes());
    }

    fn entry(s: &Spec) -> Vec<u8> {
        let mut e = vec![0u8; ENTRY_HEADER_SIZE];
        e[..4].copy_from_slice(ENTRY_SIGNATURE);
        put_u32(&mut e, 8, s.flags);
        put_u32(&mut e, 12, s.seq);
        put_u32(&mut e, 16, s.hbins);
        put_u32(&mut e, 20, s.pages.len() as u32);
        for (off, data) in &s.pages {
            e.extend(off.to_le_bytes());
            e.extend((data.len() as u32).to_le_bytes());
        }
        for (_, data) in &s.pages {
            e.extend(data);
        }
        e.resize(e.len().div_ceil(SECTOR) * SECTOR, 0);
        let size = e.len() as u32;
        put_u32(&mut e, 4, size);
        rehash(&mut e);
        e
    }

    /// A new-format log: base block (type 6, seq = `base_seq`), then entries.
    fn log(base_seq: u32, entries: &[Spec]) -> Vec<u8> {
        let mut l = base_block(base_seq, base_seq, PAGE as u32, FILE_TYPE_LOG_NEW, SECTOR);
        for s in entries {
            l.extend(entry(s));
        }
        l
    }

    /// An entry rewriting bin `i` (of a hive with `bins` bins) with `marker`.
    fn spec(seq: u32, bins: u32, i: u32, marker: u8) -> Spec {
        Spec {
            seq,
            hbins: bins * PAGE as u32,
            flags: 0,
            pages: vec![(i * PAGE as u32, bin(i * PAGE as u32, marker))],
        }
    }

    fn inputs<'a>(logs: &'a [(&str, Vec<u8>)]) -> Vec<LogInput<'a>> {
        logs.iter()
            .map(|(n, b)| LogInput {
                name: n.to_string(),
                bytes: b,
            })
            .collect()
    }

    fn applied(r: &Recovery) -> Vec<(String, u32)> {
        r.applied
            .iter()
            .map(|a| (a.log.clone(), a.sequence))
            .collect()
    }

    #[test]
    fn log_files_are_found_in_any_case_preferring_yarps_spellings() {
        let listing = [
            "SYSTEM",
            "system.log1",
            "SYSTEM.LOG2",
            "SYSTEM.log",
            "SAM.LOG1",
        ];
        let found = find_log_files(&listing, "SYSTEM");
        assert_eq!(found.log1.as_deref(), Some("system.log1"));
        assert_eq!(found.log2.as_deref(), Some("SYSTEM.LOG2"));
        assert_eq!(found.log.as_deref(), Some("SYSTEM.log"));

        // An exact spelling wins over another case variant of the same name.
        let listing = ["System.Log1", "SYSTEM.LOG1"];
        assert_eq!(
            find_log_files(&listing, "SYSTEM").log1.as_deref(),
            Some("SYSTEM.LOG1")
        );
        // Mixed case is still found when nothing else is there.
        let listing = ["Software", "SoftWare.Log2"];
        let found = find_log_files(&listing, "SOFTWARE");
        assert_eq!(found.log2.as_deref(), Some("SoftWare.Log2"));
        assert_eq!((found.log.as_deref(), found.log1.as_deref()), (None, None));
        assert_eq!(found.iter().count(), 1);

        assert_eq!(LogSlot::of_name("x.Log1"), Some(LogSlot::Log1));
        assert_eq!(LogSlot::of_name("SYSTEM.LOG"), Some(LogSlot::Log));
        assert_eq!(LogSlot::of_name("SYSTEM.sav"), None);
    }

    #[test]
    fn clean_primary_is_returned_unchanged() {
        let p = primary(7, 7, 2);
        let logs = [("H.LOG1", log(7, &[spec(7, 2, 1, 0xAA)]))];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert!(!r.primary_dirty && !r.replayed() && r.stopped.is_none());
        assert_eq!(r.hive, p);
        // The log's entries are still reported and counted.
        assert_eq!(r.logs[0].entries, [(7, 512)]);
        assert_eq!(r.sequences_seen.highest, 7);
    }

    /// Prove that the log with the earlier entries is replayed first, even
    /// when it is LOG2, and that the base block is rewritten as yarp does.
    #[test]
    fn logs_are_replayed_in_sequence_order() {
        let p = primary(11, 10, 2);
        let logs = [
            ("H.LOG1", log(12, &[spec(12, 2, 0, 3), spec(13, 2, 1, 4)])),
            ("H.LOG2", log(10, &[spec(10, 2, 0, 1), spec(11, 2, 1, 2)])),
        ];
        let r = recover(&p, &inputs(&logs)).unwrap();
        let want: Vec<(String, u32)> = [
            ("H.LOG2", 10),
            ("H.LOG2", 11),
            ("H.LOG1", 12),
            ("H.LOG1", 13),
        ]
        .iter()
        .map(|&(n, s)| (n.to_string(), s))
        .collect();
        assert_eq!(applied(&r), want);
        assert_eq!((r.stopped.clone(), r.last_sequence), (None, Some(13)));
        assert_eq!((marker(&r.hive, 0), marker(&r.hive, 1)), (3, 4));
        let bb = BaseBlock::parse(&r.hive).unwrap();
        assert_eq!((bb.seq1, bb.seq2, bb.file_type), (13, 13, 0));
        assert!(bb.checksum_valid());
        // Nothing else in the base block changed.
        assert_eq!(r.hive[12..OFF_CHECKSUM], p[12..OFF_CHECKSUM]);
        assert_eq!(
            r.hive[HEADER_SIZE..BASE_BLOCK_SIZE],
            p[HEADER_SIZE..BASE_BLOCK_SIZE]
        );
    }

    #[test]
    fn replay_grows_the_hive_and_restores_flag_bit_0_only() {
        let p = primary(3, 2, 1); // flags 0x2
        let mut grow = spec(2, 2, 1, 9);
        grow.flags = 0xFFFF_FFFF;
        let logs = [("H.LOG1", log(2, &[grow]))];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert_eq!(r.hive.len(), BASE_BLOCK_SIZE + 2 * PAGE);
        assert_eq!(marker(&r.hive, 1), 9);
        let bb = BaseBlock::parse(&r.hive).unwrap();
        assert_eq!((bb.hive_bins_size, bb.flags), (2 * PAGE as u32, 0x3));
        assert_eq!(r.applied[0].hive_bins_size, 2 * PAGE as u32);
        assert_eq!((r.applied[0].pages, r.applied[0].bytes), (1, PAGE as u64));
    }

    /// One good entry, then a damaged one, then a good one that can no longer
    /// follow: replay keeps the first and reports the second.
    fn stops_with(damage: impl Fn(&mut [u8]), reason: &str) {
        let p = primary(3, 2, 2);
        let mut l = log(2, &[spec(2, 2, 0, 1), spec(3, 2, 1, 2), spec(4, 2, 0, 3)]);
        let second = SECTOR + entry(&spec(2, 2, 0, 1)).len();
        damage(&mut l[second..]);
        let logs = [("H.LOG1", l)];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert_eq!(applied(&r), [("H.LOG1".to_string(), 2)], "{reason}");
        let stopped = r.stopped.unwrap();
        assert!(stopped.contains(reason), "{stopped}");
        assert!(stopped.contains(&format!("{second:#x}")), "{stopped}");
        assert_eq!((marker(&r.hive, 0), marker(&r.hive, 1)), (1, 0));
        assert_eq!(BaseBlock::parse(&r.hive).unwrap().seq1, 2);
    }

    #[test]
    fn replay_stops_at_the_first_bad_entry() {
        stops_with(|e| e[100] ^= 1, "Hash-1 mismatch");
        stops_with(|e| e[13] ^= 1, "Hash-2 mismatch");
        stops_with(
            |e| {
                put_u32(e, 16, 0x1800);
                rehash(e)
            },
            "hive bins data size 0x1800",
        );
        stops_with(
            |e| {
                put_u32(e, 20, 0);
                rehash(e)
            },
            "dirty page count 0",
        );
        stops_with(
            |e| {
                put_u32(e, ENTRY_HEADER_SIZE, 0x2000);
                rehash(e)
            },
            "outside the hive bins data",
        );
        stops_with(
            |e| {
                put_u32(e, 12, 5);
                rehash(e)
            },
            "has sequence number 5, 3 was expected",
        );
    }

    #[test]
    fn second_log_must_continue_at_last_plus_one() {
        let p = primary(3, 2, 2);
        let logs = [
            ("H.LOG1", log(2, &[spec(2, 2, 0, 1)])),
            ("H.LOG2", log(4, &[spec(4, 2, 1, 2)])),
        ];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert_eq!(applied(&r), [("H.LOG1".to_string(), 2)]);
        assert!(r.stopped.unwrap().contains("entries 3..3 are missing"));
        assert_eq!(r.sequences_seen.highest, 4);
    }

    /// NewDirtyHive2's case: LOG1 starts below the primary's secondary
    /// sequence number, so only LOG2 applies.
    #[test]
    fn log_older_than_the_primary_is_not_eligible() {
        let p = primary(4, 3, 2);
        let logs = [
            ("H.LOG1", log(2, &[spec(2, 2, 0, 1)])),
            ("H.LOG2", log(3, &[spec(3, 2, 1, 2), spec(4, 2, 0, 3)])),
        ];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert_eq!(
            applied(&r),
            [("H.LOG2".to_string(), 3), ("H.LOG2".to_string(), 4)]
        );
        assert!(r.stopped.is_none());

        // Nothing eligible at all: the primary is what Windows loads.
        let p = primary(6, 5, 2);
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert!(!r.replayed() && r.hive == p);
        assert!(r.stopped.unwrap().contains("secondary sequence number 5"));
    }

    #[test]
    fn logs_with_a_bad_base_block_are_skipped() {
        let p = primary(3, 2, 2);
        let mut bad_sum = log(2, &[spec(2, 2, 0, 1)]);
        bad_sum[OFF_CHECKSUM] ^= 1;
        let mut torn = log(2, &[spec(2, 2, 0, 1)]);
        put_u32(&mut torn, OFF_SEQ2, 1);
        let c = checksum(&torn[..HEADER_SIZE]);
        put_u32(&mut torn, OFF_CHECKSUM, c);
        let logs = [("H.LOG1", bad_sum), ("H.LOG2", torn), ("H.LOG", vec![])];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert!(!r.replayed());
        assert!(r.logs.iter().all(|l| !l.usable));
        assert!(r.logs[0].note.contains("checksum mismatch"));
        assert!(r.logs[1].note.contains("sequence numbers differ (2/1)"));
        assert!(r.logs[2].note.contains("empty file"));
        assert!(r.stopped.unwrap().contains("no transaction log is usable"));
    }

    #[test]
    fn unusable_primary_base_block_is_refused() {
        let logs = [("H.LOG1", log(2, &[spec(2, 2, 0, 1)]))];
        let mut p = primary(3, 2, 2);
        p[OFF_CHECKSUM] ^= 1;
        let e = recover(&p, &inputs(&logs)).unwrap_err();
        assert!(
            matches!(&e, Error::Refused(m) if m.contains("checksum")),
            "{e}"
        );
        p[..4].copy_from_slice(b"CREG");
        assert!(matches!(
            recover(&p, &inputs(&logs)),
            Err(Error::Refused(_))
        ));
        assert!(matches!(recover(&p[..100], &[]), Err(Error::Refused(_))));
    }

    #[test]
    fn growth_no_log_could_fill_is_refused_without_allocating() {
        let p = primary(3, 2, 2);
        let mut huge = spec(2, 2, 0, 1);
        huge.hbins = MAX_HIVE_BINS_SIZE;
        let logs = [("H.LOG1", log(2, &[huge]))];
        let e = recover(&p, &inputs(&logs)).unwrap_err();
        assert!(
            matches!(&e, Error::Refused(m) if m.contains("could fill")),
            "{e}"
        );
    }

    #[test]
    fn invalid_bin_after_replay_is_refused() {
        let p = primary(3, 2, 2);
        let mut broken = bin(PAGE as u32, 1);
        put_u32(&mut broken, 4, 0); // offset field no longer matches
        let logs = [(
            "H.LOG1",
            log(
                2,
                &[Spec {
                    seq: 2,
                    hbins: 2 * PAGE as u32,
                    flags: 0,
                    pages: vec![(PAGE as u32, broken)],
                }],
            ),
        )];
        let e = recover(&p, &inputs(&logs)).unwrap_err();
        assert!(
            matches!(&e, Error::Refused(m) if m.contains("byte offset 0x2000") && m.contains("offset field 0x0")),
            "{e}"
        );
    }

    /// Old format: a `DIRT` bitmap with bits for the pages of bin 1.
    fn old_log(seq: u32, timestamp_delta: u64) -> Vec<u8> {
        let hbins = 2 * PAGE as u32;
        let mut l = base_block(seq, seq, hbins, FILE_TYPE_LOG_OLD, SECTOR);
        let ts = 0x01D2_9627_F1C8_A860u64 + timestamp_delta;
        l[OFF_TIMESTAMP..OFF_TIMESTAMP + 8].copy_from_slice(&ts.to_le_bytes());
        let c = checksum(&l[..HEADER_SIZE]);
        put_u32(&mut l, OFF_CHECKSUM, c);
        l.extend(DIRTY_VECTOR_SIGNATURE);
        l.extend([0x00, 0xFF]); // 16 bits: pages 8..16 = bin 1
        l.resize(2 * SECTOR, 0);
        l.extend(bin(PAGE as u32, 7));
        l
    }

    #[test]
    fn old_format_log_applies_when_timestamps_match() {
        let p = primary(5, 4, 2);
        let logs = [("H.LOG1", old_log(5, 0)), ("H.LOG2", vec![])];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert_eq!(applied(&r), [("H.LOG1".to_string(), 5)]);
        assert_eq!(
            (r.applied[0].pages, r.applied[0].format),
            (8, LogFormat::Old)
        );
        assert_eq!((marker(&r.hive, 0), marker(&r.hive, 1)), (0, 7));
        let bb = BaseBlock::parse(&r.hive).unwrap();
        assert_eq!((bb.seq1, bb.seq2), (5, 5));
        assert!(bb.checksum_valid());

        let logs = [("H.LOG1", old_log(5, 1))];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert!(!r.replayed());
        assert!(r.stopped.unwrap().contains("timestamp"));

        // A log cut inside its dirty pages is not used at all.
        let mut cut = old_log(5, 0);
        cut.truncate(cut.len() - 1);
        let logs = [("H.LOG1", cut)];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert!(!r.replayed() && r.logs[0].note.contains("8 dirty pages need"));
    }

    #[test]
    fn seq_precedes_allows_for_wrap_around() {
        assert!(seq_precedes(1, 2) && !seq_precedes(2, 1) && !seq_precedes(2, 2));
        assert!(seq_precedes(u32::MAX, 0) && seq_precedes(u32::MAX, 1));
        assert!(seq_precedes(0, 0x7FFF_FFFF) && !seq_precedes(0x7FFF_FFFF, 0));
        // Exactly 2^31 apart: neither comes first.
        assert!(!seq_precedes(0, 0x8000_0000) && !seq_precedes(0x8000_0000, 0));
    }

    fn refused(r: Result<Recovery>, want: &str) {
        match r {
            Err(Error::Refused(m)) => assert!(m.contains(want), "{m}"),
            Err(e) => panic!("expected a refusal naming {want:?}, got {e}"),
            Ok(r) => panic!(
                "expected a refusal naming {want:?}, got {:?} applied, stopped {:?}",
                applied(&r),
                r.stopped
            ),
        }
    }

    /// Primary 0xFFFFFFFF/0xFFFFFFFE; LOG1 holds entry 0xFFFFFFFF, LOG2 (given
    /// first) entries 0 and 1. In wrap-around order LOG1 comes first, is
    /// eligible whichever way 0xFFFFFFFF is compared with 0xFFFFFFFE, and
    /// LOG2 continues at 0xFFFFFFFF + 1 = 0: all three entries apply and the
    /// image ends at sequence 1. Writing it clean is refused: no number is
    /// above 0xFFFFFFFF, 0 and 1 both as a plain integer and in wrap order.
    #[test]
    fn replay_runs_across_the_wrap_but_a_clean_write_is_refused() {
        let p = primary(u32::MAX, u32::MAX - 1, 2);
        let logs = [
            ("H.LOG2", log(0, &[spec(0, 2, 1, 2), spec(1, 2, 0, 3)])),
            ("H.LOG1", log(u32::MAX, &[spec(u32::MAX, 2, 0, 1)])),
        ];
        let r = recover(&p, &inputs(&logs)).unwrap();
        let want: Vec<(String, u32)> = [("H.LOG1", u32::MAX), ("H.LOG2", 0), ("H.LOG2", 1)]
            .iter()
            .map(|&(n, s)| (n.to_string(), s))
            .collect();
        assert_eq!(applied(&r), want);
        assert_eq!((r.stopped.clone(), r.last_sequence), (None, Some(1)));
        assert_eq!((marker(&r.hive, 0), marker(&r.hive, 1)), (3, 2));
        let bb = BaseBlock::parse(&r.hive).unwrap();
        assert_eq!((bb.seq1, bb.seq2), (1, 1));
        assert_eq!(
            r.sequences_seen,
            SequencesSeen {
                lowest: 0,
                highest: u32::MAX
            }
        );
        let e = r.sequences_seen.next_clean().unwrap_err();
        assert!(
            matches!(&e, Error::Refused(m) if m.contains("0xffffffff: one more wraps")),
            "{e}"
        );
    }

    /// Whether a log starts "at or after" the primary's secondary sequence
    /// number depends on the comparison once the numbers wrap: refused.
    #[test]
    fn eligibility_that_depends_on_the_wrap_is_refused() {
        // Secondary 0 after the wrap; LOG1 starts at 0xFFFFFFFE, before it in
        // wrap order but above it as a plain integer (yarp would replay it).
        let p = primary(1, 0, 2);
        let logs = [
            (
                "H.LOG1",
                log(
                    u32::MAX - 1,
                    &[spec(u32::MAX - 1, 2, 0, 1), spec(u32::MAX, 2, 0, 2)],
                ),
            ),
            ("H.LOG2", log(0, &[spec(0, 2, 1, 3), spec(1, 2, 0, 4)])),
        ];
        refused(
            recover(&p, &inputs(&logs)),
            "H.LOG1 starts at sequence number 0xfffffffe",
        );
        // Secondary 0xFFFFFFFE; the only log starts at 0, after it in wrap
        // order but below it as a plain integer.
        let p = primary(u32::MAX, u32::MAX - 1, 2);
        let logs = [("H.LOG2", log(0, &[spec(0, 2, 1, 3)]))];
        refused(
            recover(&p, &inputs(&logs)),
            "secondary sequence number is 0xfffffffe",
        );
        // Far from the wrap both comparisons agree: a log below the
        // secondary sequence number is simply not eligible, one at it is.
        let p = primary(0x8000_0001, 0x8000_0000, 2);
        let logs = [("H.LOG1", log(5, &[spec(5, 2, 0, 1)]))];
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert!(!r.replayed() && r.stopped.unwrap().contains("no log holds entries"));
        let logs = [("H.LOG1", log(0x8000_0000, &[spec(0x8000_0000, 2, 0, 1)]))];
        assert_eq!(
            recover(&p, &inputs(&logs)).unwrap().last_sequence,
            Some(0x8000_0000)
        );
    }

    /// Logs whose order is not defined by wrap-around order are refused:
    /// starts exactly 2^31 apart, equal starts, and three starts spread round
    /// the circle (each before the next, the last before the first).
    #[test]
    fn log_order_the_wrap_leaves_undefined_is_refused() {
        let p = primary(3, 2, 2);
        let apart = [
            ("H.LOG1", log(2, &[spec(2, 2, 0, 1)])),
            ("H.LOG2", log(0x8000_0002, &[spec(0x8000_0002, 2, 0, 2)])),
        ];
        refused(recover(&p, &inputs(&apart)), "too far apart");
        let tie = [
            ("H.LOG1", log(2, &[spec(2, 2, 0, 1)])),
            ("H.LOG2", log(2, &[spec(2, 2, 0, 2), spec(3, 2, 0, 3)])),
        ];
        refused(
            recover(&p, &inputs(&tie)),
            "H.LOG1 and H.LOG2 both start at sequence number 2",
        );
        // A tie with a log that holds no entries (reset, not yet written)
        // is no ambiguity: the entries are replayed, whichever is given first.
        for empty_first in [true, false] {
            let mut tie = vec![
                ("H.LOG1", log(2, &[])),
                ("H.LOG2", log(2, &[spec(2, 2, 0, 2), spec(3, 2, 0, 3)])),
            ];
            if !empty_first {
                tie.reverse();
            }
            let r = recover(&p, &inputs(&tie)).unwrap();
            assert_eq!(r.last_sequence, Some(3), "empty first: {empty_first}");
            assert_eq!(r.stopped, None);
        }
        let circle = [
            ("H.LOG", log(2, &[spec(2, 2, 0, 1)])),
            ("H.A", log(0x6000_0000, &[spec(0x6000_0000, 2, 0, 2)])),
            ("H.B", log(0xC000_0000, &[spec(0xC000_0000, 2, 0, 3)])),
        ];
        refused(recover(&p, &inputs(&circle)), "too far apart");
    }

    /// 1 + the highest sequence number seen, only when it is above every
    /// number seen as a plain integer and in wrap-around order.
    #[test]
    fn next_clean_sequence_is_above_everything_seen_or_refused() {
        let next = |lowest, highest| SequencesSeen { lowest, highest }.next_clean();
        assert_eq!(next(1621, 2130).unwrap(), 2131);
        assert_eq!(next(7, 7).unwrap(), 8);
        assert_eq!(next(u32::MAX - 1, u32::MAX - 1).unwrap(), u32::MAX);
        assert_eq!(next(1, 0x7FFF_FFFF).unwrap(), 0x8000_0000);
        for (lowest, highest, why) in [
            (0, 0x7FFF_FFFF, "run from 0x0 to 0x7fffffff"),
            (5, 0xFFFF_FFF0, "run from 0x5 to 0xfffffff0"),
            (u32::MAX, u32::MAX, "0xffffffff: one more wraps"),
            (0, u32::MAX, "0xffffffff: one more wraps"),
        ] {
            let e = next(lowest, highest).unwrap_err();
            assert!(matches!(&e, Error::Refused(m) if m.contains(why)), "{e}");
        }
        // The span counts every number seen: the primary's, each log base
        // block's and each entry's.
        let p = primary(6, 6, 2);
        let logs = [("H.LOG1", log(0xF000_0000, &[]))];
        let seen = sequences_seen(&p, &inputs(&logs)).unwrap();
        assert_eq!((seen.lowest, seen.highest), (6, 0xF000_0000));
        assert!(seen.next_clean().is_err());
    }

    /// Prove that the highest sequence number counts entries anywhere in a
    /// log, including valid ones after a damaged entry.
    #[test]
    fn max_sequence_seen_includes_remnant_entries() {
        let p = primary(3, 3, 2);
        let mut l = log(2, &[spec(2, 2, 0, 1), spec(3, 2, 0, 1), spec(9, 2, 0, 1)]);
        let second = SECTOR + entry(&spec(2, 2, 0, 1)).len();
        l[second + 100] ^= 1;
        let logs = [("H.LOG1", l)];
        assert_eq!(sequences_seen(&p, &inputs(&logs)).unwrap().highest, 9);
        let r = recover(&p, &inputs(&logs)).unwrap();
        assert_eq!(r.logs[0].entries.len(), 1);
        assert_eq!(
            r.logs[0].remnants.iter().map(|e| e.0).collect::<Vec<_>>(),
            [9]
        );
        assert_eq!(sequences_seen(&p, &[]).unwrap().highest, 3);
    }

    /// Truncate and corrupt a valid log set in many ways, including header
    /// fields at their extremes with hashes recomputed so the values are
    /// trusted as far as the checks allow: recovery must return, never panic.
    #[test]
    fn malformed_logs_never_panic() {
        let p = primary(3, 2, 2);
        let good = log(2, &[spec(2, 2, 0, 1), spec(3, 2, 1, 2)]);
        let old = old_log(3, 0);
        let run = |l1: &[u8], l2: &[u8]| {
            let logs = [
                LogInput {
                    name: "H.LOG1".into(),
                    bytes: l1,
                },
                LogInput {
                    name: "H.LOG2".into(),
                    bytes: l2,
                },
            ];
            let _ = recover(&p, &logs);
            let _ = sequences_seen(&p, &logs);
        };
        for cut in (0..good.len()).step_by(37) {
            run(&good[..cut], &old[..cut.min(old.len())]);
        }
        let mut state = 0x1234_5678u32;
        for _ in 0..2000 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let mut l = good.clone();
            let i = (state >> 8) as usize % l.len();
            l[i] = (state >> 24) as u8;
            let mut o = old.clone();
            let j = (state >> 4) as usize % o.len();
            o[j] = (state >> 16) as u8;
            run(&l, &o);
        }
        let fields = [4usize, 16, 20, ENTRY_HEADER_SIZE, ENTRY_HEADER_SIZE + 4];
        for field in fields {
            for v in [
                0,
                1,
                0x1000,
                0x7FFF_F000,
                0x8000_0000,
                u32::MAX - 511,
                u32::MAX,
            ] {
                let mut l = good.clone();
                put_u32(&mut l[SECTOR..], field, v);
                let size = le32(&l[SECTOR..], 4) as usize;
                if (ENTRY_HEADER_SIZE..=l.len() - SECTOR).contains(&size) {
                    rehash(&mut l[SECTOR..]);
                }
                run(&l, &[]);
            }
        }
        // Old format: a hive-bins size whose bitmap runs past the file.
        let mut o = old.clone();
        put_u32(&mut o, OFF_HIVE_BINS_SIZE, 0x7FFF_F000);
        let c = checksum(&o[..HEADER_SIZE]);
        put_u32(&mut o, OFF_CHECKSUM, c);
        run(&o, &[]);
    }
}
