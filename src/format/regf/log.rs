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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Windows 8.1 / Server 2012 R2 and later: `HvLE` log entries (type 6).
    New,
    /// Windows XP to 8: a `DIRT` dirty vector and dirty pages (type 1 or 2).
    Old,
}

/// One replayed log entry (new format), or one replayed old-format log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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

/// One dirty page of a new-format entry.
#[derive(Clone, Debug)]
struct PageRef {
    /// Offset relative to the start of the hive bins data.
    target: usize,
    /// Length in bytes.
    len: usize,
    /// Absolute offset of the page bytes in the log.
    source: usize,
}

/// A new-format log entry that passed every check except the sequence rule.
#[derive(Clone, Debug)]
struct Entry {
    offset: usize,
    size: usize,
    flags: u32,
    sequence: u32,
    hive_bins_size: u32,
    pages: Vec<PageRef>,
}

/// Outcome of reading a log entry at some offset.
enum EntryRead {
    /// No entry starts here (no signature, or end of file): the normal end.
    End,
    /// An `HvLE` signature with something wrong.
    Bad(String),
    /// A valid entry.
    Good(Entry),
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes([
        b[off],
        b[off + 1],
        b[off + 2],
        b[off + 3],
        b[off + 4],
        b[off + 5],
        b[off + 6],
        b[off + 7],
    ])
}

/// Reads and checks the entry at `pos` (spec "Log entries" and its notes;
/// yarp `LogEntry`). The header is checked first with Hash-2, then the
/// fields, then the body with Hash-1, then every page reference.
fn read_entry(log: &[u8], pos: usize) -> EntryRead {
    let Some(rest) = log.get(pos..) else {
        return EntryRead::End;
    };
    if rest.len() < ENTRY_SIGNATURE.len() || &rest[..4] != ENTRY_SIGNATURE {
        return EntryRead::End;
    }
    if rest.len() < ENTRY_HEADER_SIZE {
        return EntryRead::Bad(format!(
            "header truncated: {:#x} bytes left in the log, {ENTRY_HEADER_SIZE} needed",
            rest.len()
        ));
    }
    let header = &rest[..ENTRY_HEADER_SIZE];
    if marvin32(LOG_ENTRY_SEED, &header[..HASH2_COVERED]) != le64(header, 32) {
        return EntryRead::Bad("Hash-2 mismatch (entry header is damaged)".into());
    }
    let size = le32(header, 4) as usize;
    let flags = le32(header, 8);
    let sequence = le32(header, 12);
    let hive_bins_size = le32(header, 16);
    let count = le32(header, 20) as usize;
    let hash1 = le64(header, 24);

    if size == 0 || size % SECTOR != 0 {
        return EntryRead::Bad(format!(
            "entry size {size:#x} is not a non-zero multiple of {SECTOR}"
        ));
    }
    if size > rest.len() {
        return EntryRead::Bad(format!(
            "entry size {size:#x} runs past the end of the log ({:#x} bytes left)",
            rest.len()
        ));
    }
    if hive_bins_size == 0
        || hive_bins_size % HBIN_ALIGNMENT != 0
        || hive_bins_size > MAX_HIVE_BINS_SIZE
    {
        return EntryRead::Bad(format!(
            "hive bins data size {hive_bins_size:#x} is not a non-zero multiple of 4096 below 2 GiB"
        ));
    }
    let refs_end = count
        .checked_mul(PAGE_REF_SIZE)
        .and_then(|n| n.checked_add(ENTRY_HEADER_SIZE));
    let refs_end = match refs_end {
        Some(end) if count > 0 && end <= size => end,
        _ => {
            return EntryRead::Bad(format!(
                "dirty page count {count} does not fit an entry of {size:#x} bytes"
            ))
        }
    };
    let entry = &rest[..size];
    if marvin32(LOG_ENTRY_SEED, &entry[ENTRY_HEADER_SIZE..]) != hash1 {
        return EntryRead::Bad("Hash-1 mismatch (entry body is damaged)".into());
    }

    let mut pages = Vec::with_capacity(count);
    let mut data = refs_end;
    for i in 0..count {
        let r = ENTRY_HEADER_SIZE + i * PAGE_REF_SIZE;
        let target = le32(entry, r);
        let len = le32(entry, r + 4);
        if u64::from(target) + u64::from(len) > u64::from(hive_bins_size) {
            return EntryRead::Bad(format!(
                "dirty page {i} ({target:#x}, {len:#x} bytes) lies outside the hive bins data ({hive_bins_size:#x} bytes)"
            ));
        }
        let (target, len) = (target as usize, len as usize);
        let end = match data.checked_add(len) {
            Some(end) if end <= size => end,
            _ => {
                return EntryRead::Bad(format!(
                    "dirty page {i} ({len:#x} bytes) runs past the end of the entry"
                ))
            }
        };
        pages.push(PageRef {
            target,
            len,
            source: pos + data,
        });
        data = end;
    }
    EntryRead::Good(Entry {
        offset: pos,
        size,
        flags,
        sequence,
        hive_bins_size,
        pages,
    })
}

/// How the run of consecutive entries at the start of a new-format log ends.
#[derive(Clone, Debug)]
enum ChainEnd {
    /// No further entry: the normal end.
    End { offset: usize },
    /// A valid entry with an older sequence number: left over from earlier
    /// use of the file, also a normal end.
    Stale { offset: usize, sequence: u32 },
    /// A valid entry with a sequence number further on: entries are missing.
    Gap {
        offset: usize,
        sequence: u32,
        expected: u32,
    },
    /// An entry that fails a check.
    Bad { offset: usize, reason: String },
}

/// Dirty vector of an old-format log.
#[derive(Clone, Debug)]
struct DirtyVector {
    /// Hive-bins size from the log's base block (the bitmap covers it).
    hive_bins_size: u32,
    /// Absolute offsets in the log of the bitmap bytes.
    bitmap: std::ops::Range<usize>,
    /// Absolute offset of the first dirty page.
    pages_start: usize,
    /// Number of dirty pages (bits set).
    pages: usize,
}

/// Everything [`recover`] needs to know about one log.
struct ParsedLog<'a> {
    name: String,
    bytes: &'a [u8],
    slot: Option<LogSlot>,
    format: Option<LogFormat>,
    /// The base block, only when valid.
    base: Option<BaseBlock>,
    /// Why the log cannot be used.
    problem: Option<String>,
    chain: Vec<Entry>,
    chain_end: Option<ChainEnd>,
    remnants: Vec<(u32, u64)>,
    dirty_vector: Option<DirtyVector>,
}

impl ParsedLog<'_> {
    fn usable(&self) -> bool {
        self.problem.is_none() && self.base.is_some()
    }

    fn base_sequence(&self) -> Option<u32> {
        self.base.as_ref().map(|b| b.seq1)
    }

    /// The sequence numbers of the valid base block and of every valid entry.
    fn sequences(&self) -> impl Iterator<Item = u32> + '_ {
        let entries = self.chain.iter().map(|e| e.sequence);
        let remnants = self.remnants.iter().map(|&(s, _)| s);
        self.base_sequence()
            .into_iter()
            .chain(entries)
            .chain(remnants)
    }

    fn summary(&self) -> LogSummary {
        LogSummary {
            name: self.name.clone(),
            len: self.bytes.len() as u64,
            slot: self.slot,
            format: self.format,
            base_sequence: self.base_sequence(),
            entries: self
                .chain
                .iter()
                .map(|e| (e.sequence, e.offset as u64))
                .collect(),
            remnants: self.remnants.clone(),
            usable: self.usable(),
            note: self.note(),
        }
    }

    fn note(&self) -> String {
        if let Some(p) = &self.problem {
            let found = if self.remnants.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} valid log entries found in it, not usable without a valid base block)",
                    self.remnants.len()
                )
            };
            return format!("not usable: {p}{found}");
        }
        if let Some(dv) = &self.dirty_vector {
            return format!(
                "old format: {} dirty pages of 512 bytes over hive bins data of {:#x} bytes",
                dv.pages, dv.hive_bins_size
            );
        }
        let run = match (self.chain.first(), self.chain.last()) {
            (Some(a), Some(b)) => format!("entries {}..{}", a.sequence, b.sequence),
            _ => "no valid entry at the start".to_string(),
        };
        let end = match &self.chain_end {
            Some(ChainEnd::End { offset }) => format!("end of entries at byte offset {offset:#x}"),
            Some(ChainEnd::Stale { offset, sequence }) => format!(
                "then an older entry {sequence} at byte offset {offset:#x} (left over, normal)"
            ),
            Some(ChainEnd::Gap {
                offset,
                sequence,
                expected,
            }) => format!(
                "then entry {sequence} at byte offset {offset:#x} where {expected} was expected"
            ),
            Some(ChainEnd::Bad { offset, reason }) => {
                format!("then a bad entry at byte offset {offset:#x}: {reason}")
            }
            None => String::new(),
        };
        format!("new format: {run}; {end}")
    }
}

/// Checks that a log's base block is a complete, valid copy (spec: "A
/// transaction log file is considered to be valid when it has an expected base
/// block ..., and its primary sequence number is equal to its secondary
/// sequence number"; yarp `NewLogFile`/`OldLogFile` and `BaseBlock`).
fn check_log_base_block(bytes: &[u8]) -> std::result::Result<(BaseBlock, LogFormat), String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    let base = BaseBlock::parse(bytes).map_err(|e| e.to_string())?;
    let format = match base.file_type {
        FILE_TYPE_LOG_NEW => LogFormat::New,
        FILE_TYPE_LOG_OLD | FILE_TYPE_LOG_VERY_OLD => LogFormat::Old,
        t => {
            return Err(format!(
                "file type {t} is not a transaction log (1, 2 or 6)"
            ))
        }
    };
    if !base.checksum_valid() {
        return Err(format!(
            "base block checksum mismatch at byte offset 0x1fc (stored {:#010x}, computed {:#010x})",
            base.checksum, base.computed_checksum
        ));
    }
    if !base.sequences_match() {
        return Err(format!(
            "base block sequence numbers differ ({}/{}): the log was not completely written",
            base.seq1, base.seq2
        ));
    }
    if base.major != MAJOR_VERSION || !(1..=*MINOR_VERSIONS.end()).contains(&base.minor) {
        return Err(format!("unsupported version {}.{}", base.major, base.minor));
    }
    if base.file_format != 1 || base.clustering != 1 {
        return Err(format!(
            "unsupported file format {} / clustering factor {}",
            base.file_format, base.clustering
        ));
    }
    if base.hive_bins_size == 0
        || base.hive_bins_size % HBIN_ALIGNMENT != 0
        || base.hive_bins_size > MAX_HIVE_BINS_SIZE
    {
        return Err(format!(
            "hive bins data size {:#x} in the base block is not a non-zero multiple of 4096",
            base.hive_bins_size
        ));
    }
    Ok((base, format))
}

/// Reads the dirty vector of an old-format log (spec "Dirty vector", "Dirty
/// pages"; yarp `DirtyVector`, `OldLogFile.get_dirty_pages_starting_offset`).
fn read_dirty_vector(
    bytes: &[u8],
    hive_bins_size: u32,
) -> std::result::Result<DirtyVector, String> {
    let sig_end = LOG_BASE_BLOCK_SIZE + DIRTY_VECTOR_SIGNATURE.len();
    match bytes.get(LOG_BASE_BLOCK_SIZE..sig_end) {
        Some(sig) if sig == DIRTY_VECTOR_SIGNATURE => {}
        Some(sig) => {
            return Err(format!(
                "invalid dirty vector signature at byte offset 0x200: expected \"DIRT\", found {sig:02x?}"
            ))
        }
        None => return Err("file ends before the dirty vector".into()),
    }
    // One bit per 512-byte page, so hive_bins_size / 4096 bytes.
    let bitmap_len = (hive_bins_size / HBIN_ALIGNMENT) as usize;
    let bitmap = sig_end..sig_end + bitmap_len;
    let Some(bits) = bytes.get(bitmap.clone()) else {
        return Err(format!(
            "dirty vector bitmap ({bitmap_len:#x} bytes at byte offset {sig_end:#x}) runs past the end of the log"
        ));
    };
    let pages = bits.iter().map(|b| b.count_ones() as usize).sum::<usize>();
    let pages_start = bitmap.end.div_ceil(SECTOR) * SECTOR;
    let needed = pages * SECTOR;
    if bytes.len() < pages_start + needed {
        return Err(format!(
            "{pages} dirty pages need {needed:#x} bytes from byte offset {pages_start:#x}, but the log ends at {:#x}",
            bytes.len()
        ));
    }
    Ok(DirtyVector {
        hive_bins_size,
        bitmap,
        pages_start,
        pages,
    })
}

/// Finds the valid entries in `bytes` from `pos` on, stepping one sector at
/// a time over anything that is not a valid entry (yarp
/// `remnant_log_entries`).
fn scan_entries(bytes: &[u8], mut pos: usize) -> Vec<(u32, u64)> {
    let mut found = Vec::new();
    while pos < bytes.len() {
        match read_entry(bytes, pos) {
            EntryRead::Good(e) => {
                found.push((e.sequence, pos as u64));
                pos += e.size;
            }
            EntryRead::End | EntryRead::Bad(_) => pos += SECTOR,
        }
    }
    found
}

fn parse_log<'a>(input: &LogInput<'a>) -> ParsedLog<'a> {
    let bytes = input.bytes;
    let mut log = ParsedLog {
        name: input.name.clone(),
        bytes,
        slot: LogSlot::of_name(&input.name),
        format: None,
        base: None,
        problem: None,
        chain: Vec::new(),
        chain_end: None,
        remnants: Vec::new(),
        dirty_vector: None,
    };
    let (base, format) = match check_log_base_block(bytes) {
        Ok(ok) => ok,
        Err(problem) => {
            log.format = BaseBlock::parse(bytes)
                .ok()
                .and_then(|b| match b.file_type {
                    FILE_TYPE_LOG_NEW => Some(LogFormat::New),
                    FILE_TYPE_LOG_OLD | FILE_TYPE_LOG_VERY_OLD => Some(LogFormat::Old),
                    _ => None,
                });
            log.problem = Some(problem);
            // Entries in a log with a broken base block are never replayed,
            // but they still count towards the highest sequence seen.
            if log.format != Some(LogFormat::Old) {
                log.remnants = scan_entries(bytes, LOG_BASE_BLOCK_SIZE);
            }
            return log;
        }
    };
    log.format = Some(format);
    match format {
        LogFormat::New => {
            // The run of entries N, N+1, ... from the second sector, where N
            // is the base block's sequence number (yarp `log_entries`).
            let mut pos = LOG_BASE_BLOCK_SIZE;
            let mut expected = base.seq1;
            let end = loop {
                match read_entry(bytes, pos) {
                    EntryRead::End => break ChainEnd::End { offset: pos },
                    EntryRead::Bad(reason) => {
                        break ChainEnd::Bad {
                            offset: pos,
                            reason,
                        }
                    }
                    EntryRead::Good(e) if e.sequence == expected => {
                        pos += e.size;
                        expected = expected.wrapping_add(1);
                        log.chain.push(e);
                    }
                    EntryRead::Good(e) if seq_precedes(e.sequence, expected) => {
                        break ChainEnd::Stale {
                            offset: pos,
                            sequence: e.sequence,
                        }
                    }
                    EntryRead::Good(e) => {
                        break ChainEnd::Gap {
                            offset: pos,
                            sequence: e.sequence,
                            expected,
                        }
                    }
                }
            };
            log.remnants = scan_entries(bytes, pos);
            log.chain_end = Some(end);
        }
        LogFormat::Old => match read_dirty_vector(bytes, base.hive_bins_size) {
            Ok(dv) => log.dirty_vector = Some(dv),
            Err(problem) => log.problem = Some(problem),
        },
    }
    log.base = Some(base);
    log
}

/// Whether sequence number `a` comes before `b`, allowing for wrap-around
/// (yarp `apply_new_log_files`, `is_starting_log`).
fn seq_precedes(a: u32, b: u32) -> bool {
    let d = b.wrapping_sub(a);
    d != 0 && d <= 0x7FFF_FFFF
}

fn base_list(logs: &[&ParsedLog]) -> String {
    let starts: Vec<String> = logs
        .iter()
        .map(|l| format!("{} starts at {:#x}", l.name, l.base_sequence().unwrap_or(0)))
        .collect();
    starts.join(", ")
}

/// Sorts usable logs by base sequence number in wrap-around order, or
/// refuses when that order is not defined (module docs, "Sequence numbers
/// and wrap-around"): the earliest start must have every other one less
/// than 2^31 after it, and no two logs holding entries may start at the
/// same number.
fn order_by_sequence(logs: &mut [&ParsedLog]) -> Result<()> {
    let starts: Vec<u32> = logs.iter().filter_map(|l| l.base_sequence()).collect();
    let earliest = starts
        .iter()
        .copied()
        .find(|&m| starts.iter().all(|&s| s.wrapping_sub(m) <= 0x7FFF_FFFF));
    let Some(earliest) = earliest else {
        return Err(Error::Refused(format!(
            "the transaction logs start at sequence numbers too far apart to be ordered across \
             the wrap past 0xffffffff ({}); which one Windows replays first is not known, \
             ntrescue does not guess",
            base_list(logs)
        )));
    };
    // Among logs that start at the same number, one without entries adds
    // nothing (a log Windows reset but has not written to yet): the one
    // holding entries goes first. Two that both hold entries are refused.
    logs.sort_by_key(|l| {
        (
            l.base_sequence().unwrap_or(0).wrapping_sub(earliest),
            l.chain.is_empty(),
        )
    });
    if let Some(w) = logs.windows(2).find(|w| {
        w[0].base_sequence() == w[1].base_sequence()
            && !w[0].chain.is_empty()
            && !w[1].chain.is_empty()
    }) {
        return Err(Error::Refused(format!(
            "{} and {} both start at sequence number {}: which one holds the earlier entries is \
             not known, ntrescue does not guess",
            w[0].name,
            w[1].name,
            w[0].base_sequence().unwrap_or(0)
        )));
    }
    Ok(())
}

/// Whether `log` starts at or after the primary's secondary sequence number
/// (spec note 5). Refuses when that depends on whether the numbers are
/// compared as plain integers or with wrap-around (module docs).
fn at_or_after(log: &ParsedLog, secondary: u32) -> Result<bool> {
    let Some(start) = log.base_sequence() else {
        return Ok(false);
    };
    let plain = start >= secondary;
    let wrapped = start == secondary || seq_precedes(secondary, start);
    if plain != wrapped {
        return Err(Error::Refused(format!(
            "{} starts at sequence number {start:#x} and the primary's secondary sequence number is \
             {secondary:#x}: whether Windows replays it depends on how it compares numbers across \
             the wrap past 0xffffffff, which is not known; ntrescue does not guess",
            log.name
        )));
    }
    Ok(plain)
}

// ---------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------

/// Reads the primary's base block, refusing a file that is not a usable hive.
fn primary_base_block(primary: &[u8]) -> Result<BaseBlock> {
    BaseBlock::parse(primary).map_err(|e| {
        Error::Refused(format!(
            "the primary file has no usable base block ({e}); Windows would try to rebuild it \
             from a transaction log, ntrescue does not guess"
        ))
    })
}

/// The lowest and the highest sequence number (as plain 32-bit integers)
/// found in the primary's base block (both fields), in any valid log base
/// block, or in any valid log entry, wherever it sits in a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequencesSeen {
    /// Lowest number seen.
    pub lowest: u32,
    /// Highest number seen (what reports call "max sequence seen").
    pub highest: u32,
}

impl SequencesSeen {
    /// The sequence number a writer puts in both fields of a hive it writes
    /// clean: 1 + the highest number seen, so that no entry left in a log
    /// can ever be taken for a newer one (hive-write-safety.md §5.5, §6 step
    /// 8).
    ///
    /// That guarantee needs the new number to be above every number seen
    /// however Windows compares them: as plain integers (as yarp checks a
    /// log's eligibility) and in wrap-around order (as logs are ordered).
    /// It is only then returned. The spec says nothing about sequence
    /// numbers that wrap past 0xFFFFFFFF, so when the highest is 0xFFFFFFFF
    /// (one more wraps to 0) or the numbers seen span 2^31 - 1 or more (they
    /// straddle the wrap, or a log holds a stray entry), this refuses
    /// instead of picking a number: Windows itself can reconcile such a hive.
    pub fn next_clean(&self) -> Result<u32> {
        let advice = "ntrescue will not pick one: boot the VM once and shut it down cleanly, or \
                      load and unload the hive on a Windows helper, so that Windows reconciles it";
        let Some(next) = self.highest.checked_add(1) else {
            return Err(Error::Refused(format!(
                "the highest sequence number in the hive and its logs is {:#x}: one more wraps to \
                 0, and the spec does not say how Windows compares a wrapped number with the \
                 entries left in the logs; {advice}",
                self.highest
            )));
        };
        if !seq_precedes(self.lowest, next) {
            return Err(Error::Refused(format!(
                "the sequence numbers in the hive and its logs run from {:#x} to {:#x}: so far \
                 apart that they wrap past 0xffffffff, and no new number is above all of them both \
                 as a plain number and in wrap-around order; {advice}",
                self.lowest, self.highest
            )));
        }
        Ok(next)
    }
}

/// The sequence numbers of `primary` and `logs` (see [`SequencesSeen`]).
/// Works on clean and dirty hives; the primary only needs a `regf`
/// signature.
pub fn sequences_seen(primary: &[u8], logs: &[LogInput]) -> Result<SequencesSeen> {
    let base = BaseBlock::parse(primary)?;
    let parsed: Vec<ParsedLog> = logs.iter().map(parse_log).collect();
    Ok(seen(&base, &parsed))
}

fn seen(base: &BaseBlock, logs: &[ParsedLog]) -> SequencesSeen {
    let all = logs.iter().flat_map(ParsedLog::sequences);
    all.fold(
        SequencesSeen {
            lowest: base.seq1.min(base.seq2),
            highest: base.seq1.max(base.seq2),
        },
        |s, n| SequencesSeen {
            lowest: s.lowest.min(n),
            highest: s.highest.max(n),
        },
    )
}

/// The in-memory image being recovered.
struct Replay {
    hive: Vec<u8>,
    /// Length of the primary plus all logs: the most a replay can fill.
    fill_limit: usize,
    applied: Vec<AppliedEntry>,
    last_sequence: Option<u32>,
    hive_bins_size: u32,
    flags: u32,
}

impl Replay {
    /// Makes room for `hive_bins_size` bytes of hive bins (spec note 9: the
    /// primary grows with the entry's hive-bins size).
    ///
    /// Growth beyond the primary plus every log byte cannot be filled with
    /// hive bins, so the bin check after replay would refuse the result
    /// anyway; refusing here keeps a crafted size from costing gigabytes.
    fn grow(&mut self, hive_bins_size: u32, log: &str, sequence: u32) -> Result<()> {
        let needed = BASE_BLOCK_SIZE + hive_bins_size as usize;
        if self.hive.len() < needed {
            if needed > self.fill_limit {
                return Err(Error::Refused(format!(
                    "entry {sequence} in {log} grows the hive to {needed:#x} bytes, more than the \
                     primary and all logs together could fill ({:#x} bytes): the result could not \
                     hold valid hive bins",
                    self.fill_limit
                )));
            }
            self.hive.resize(needed, 0);
        }
        Ok(())
    }

    /// Copies `len` bytes from `log[source..]` to hive-bins offset `target`.
    fn write(&mut self, log: &[u8], source: usize, target: usize, len: usize) -> Result<()> {
        let src = source.checked_add(len).and_then(|end| log.get(source..end));
        let dst_start = BASE_BLOCK_SIZE + target;
        let dst = dst_start
            .checked_add(len)
            .and_then(|end| self.hive.get_mut(dst_start..end));
        match (src, dst) {
            (Some(src), Some(dst)) => {
                dst.copy_from_slice(src);
                Ok(())
            }
            // Unreachable after the checks in `read_entry` /
            // `read_dirty_vector`; kept so that a mistake there cannot panic.
            _ => Err(Error::Invalid {
                what: "dirty page",
                offset: source as u64,
                detail: format!("{len:#x} bytes do not fit at hive offset {dst_start:#x}"),
            }),
        }
    }

    fn apply_entry(&mut self, log: &ParsedLog, e: &Entry) -> Result<()> {
        self.grow(e.hive_bins_size, &log.name, e.sequence)?;
        let mut bytes = 0u64;
        for p in &e.pages {
            self.write(log.bytes, p.source, p.target, p.len)?;
            bytes += p.len as u64;
        }
        self.flags = (self.flags & !ENTRY_FLAG_MASK) | (e.flags & ENTRY_FLAG_MASK);
        self.hive_bins_size = e.hive_bins_size;
        self.last_sequence = Some(e.sequence);
        self.applied.push(AppliedEntry {
            log: log.name.clone(),
            format: LogFormat::New,
            sequence: e.sequence,
            log_offset: e.offset as u64,
            pages: e.pages.len() as u32,
            bytes,
            hive_bins_size: e.hive_bins_size,
        });
        Ok(())
    }

    /// Replays new-format logs; returns why replay stopped early, if it did.
    fn replay_new(
        &mut self,
        mut logs: Vec<&ParsedLog>,
        primary: &BaseBlock,
    ) -> Result<Option<String>> {
        // Earlier entries first (spec "Multiple transaction log files", new
        // format); either file may hold them.
        order_by_sequence(&mut logs)?;
        // The first log must not start before the primary's secondary
        // sequence number (spec notes 5 and 7; yarp `NotEligibleException`).
        let mut first = None;
        for (i, l) in logs.iter().enumerate() {
            if at_or_after(l, primary.seq2)? {
                first = Some(i);
                break;
            }
        }
        let Some(first) = first else {
            let seqs: Vec<String> = logs
                .iter()
                .map(|l| format!("{} starts at {}", l.name, l.base_sequence().unwrap_or(0)))
                .collect();
            return Ok(Some(format!(
                "no log holds entries at or after the primary's secondary sequence number {} ({}); \
                 Windows loads the primary as it is",
                primary.seq2,
                seqs.join(", ")
            )));
        };

        let mut stopped = None;
        for log in &logs[first..] {
            let base_seq = log.base_sequence().unwrap_or(0);
            if let Some(last) = self.last_sequence {
                let next = last.wrapping_add(1);
                if base_seq != next {
                    if seq_precedes(next, base_seq) {
                        let gap = format!(
                            "{} starts at sequence {base_seq} but the last applied entry is {last}: \
                             entries {next}..{} are missing, so {} is not replayed",
                            log.name,
                            base_seq.wrapping_sub(1),
                            log.name
                        );
                        // What ended the previous log stays in the report.
                        stopped = Some(match stopped.take() {
                            Some(earlier) => format!("{earlier}; then {gap}"),
                            None => gap,
                        });
                    }
                    // Otherwise its entries are older ones, already applied.
                    break;
                }
            }
            for e in &log.chain {
                self.apply_entry(log, e)?;
            }
            let this = match &log.chain_end {
                Some(ChainEnd::Bad { offset, reason }) => Some(format!(
                    "entry {} in {} at byte offset {offset:#x}: {reason}",
                    base_seq.wrapping_add(log.chain.len() as u32),
                    log.name
                )),
                Some(ChainEnd::Gap {
                    offset,
                    sequence,
                    expected,
                }) => Some(format!(
                    "entry at byte offset {offset:#x} in {} has sequence number {sequence}, \
                     {expected} was expected",
                    log.name
                )),
                _ => None,
            };
            // Keep what stopped an earlier log in the report even when this
            // one carries the sequence on.
            stopped = match (stopped.take(), this) {
                (Some(a), Some(b)) => Some(format!("{a}; then {b}")),
                (Some(a), None) => Some(format!(
                    "{a}; {} continued the sequence and was replayed to its end",
                    log.name
                )),
                (None, b) => b,
            };
            if log.chain.is_empty() {
                // Nothing from the first log: the next one cannot follow on.
                stopped.get_or_insert_with(|| format!("{} holds no valid entry", log.name));
                break;
            }
        }
        Ok(stopped)
    }

    /// Replays one old-format log whose timestamp matches the primary's.
    fn replay_old(&mut self, log: &ParsedLog) -> Result<()> {
        let (Some(base), Some(dv)) = (&log.base, &log.dirty_vector) else {
            return Ok(());
        };
        self.grow(dv.hive_bins_size, &log.name, base.seq1)?;
        let bits = &log.bytes[dv.bitmap.clone()];
        let mut k = 0usize;
        for (byte_index, &byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    let page = byte_index * 8 + bit;
                    self.write(
                        log.bytes,
                        dv.pages_start + k * SECTOR,
                        page * SECTOR,
                        SECTOR,
                    )?;
                    k += 1;
                }
            }
        }
        self.flags = (self.flags & !ENTRY_FLAG_MASK) | (base.flags & ENTRY_FLAG_MASK);
        self.hive_bins_size = dv.hive_bins_size;
        self.last_sequence = Some(base.seq1);
        self.applied.push(AppliedEntry {
            log: log.name.clone(),
            format: LogFormat::Old,
            sequence: base.seq1,
            log_offset: LOG_BASE_BLOCK_SIZE as u64,
            pages: k as u32,
            bytes: (k * SECTOR) as u64,
            hive_bins_size: dv.hive_bins_size,
        });
        Ok(())
    }

    /// Writes the recovered base block (yarp `save_recovered_hive`): seq1 =
    /// seq2 = last applied, new hive-bins size, flag bit 0 from the logs,
    /// file type 0, checksum recomputed last.
    fn finish_base_block(&mut self) {
        let Some(seq) = self.last_sequence else {
            return;
        };
        let block = &mut self.hive[..BASE_BLOCK_SIZE];
        crate::util::bytes::put_u32(block, OFF_FLAGS, self.flags);
        crate::util::bytes::put_u32(block, OFF_FILE_TYPE, FILE_TYPE_PRIMARY);
        base_block::set_clean(block, seq, self.hive_bins_size);
    }

    /// Checks that hive bins follow each other from 4096 to 4096 + hive-bins
    /// size, each with its signature, its own offset and a size that is a
    /// multiple of 4096 (the checks the NT loader makes; spec note 10 and
    /// "Hive bin").
    fn check_hive_bins(&self) -> Result<()> {
        let end = self.hive_bins_size as usize;
        let bins = self
            .hive
            .get(BASE_BLOCK_SIZE..BASE_BLOCK_SIZE + end)
            .unwrap_or_default();
        let mut off = 0usize;
        while off < end {
            let abs = (BASE_BLOCK_SIZE + off) as u64;
            let problem = match bins.get(off..off + HBIN_HEADER_SIZE) {
                None => Some("header runs past the hive bins data".to_string()),
                Some(h) if &h[..4] != b"hbin" => Some(format!("signature {:02x?}", &h[..4])),
                Some(h) if le32(h, 4) as usize != off => {
                    Some(format!("offset field {:#x}, expected {off:#x}", le32(h, 4)))
                }
                Some(h) => {
                    let size = le32(h, 8) as usize;
                    if size == 0 || size % HBIN_ALIGNMENT as usize != 0 || size > end - off {
                        Some(format!(
                            "size {size:#x} (must be a multiple of 4096 within the {end:#x} bytes of hive bins data)"
                        ))
                    } else {
                        off += size;
                        None
                    }
                }
            };
            if let Some(problem) = problem {
                return Err(Error::Refused(format!(
                    "after log replay the hive bin at byte offset {abs:#x} is invalid ({problem}); \
                     Windows would replace it with an empty bin and lose the keys in it, \
                     so ntrescue will not edit this hive"
                )));
            }
        }
        Ok(())
    }
}

/// Replays the transaction logs over a dirty primary, in memory, as Windows
/// does at load time. See the module documentation for the rules.
///
/// Returns the recovered image and a report. A clean primary comes back
/// unchanged. Errors: [`Error::Refused`] when the primary's base block is
/// unusable (not `regf`, too short, wrong checksum) or when a hive bin is
/// invalid after replay; [`Error::Unsupported`]/[`Error::Invalid`] for a
/// primary base block this tool does not handle (version, file type, format,
/// clustering factor, hive-bins size).
pub fn recover(primary: &[u8], logs: &[LogInput]) -> Result<Recovery> {
    let base = primary_base_block(primary)?;
    let parsed: Vec<ParsedLog> = logs.iter().map(parse_log).collect();
    let mut recovery = Recovery {
        hive: Vec::new(),
        primary_dirty: base.is_dirty(),
        applied: Vec::new(),
        stopped: None,
        logs: parsed.iter().map(ParsedLog::summary).collect(),
        last_sequence: None,
        sequences_seen: seen(&base, &parsed),
    };
    if !base.is_dirty() {
        recovery.hive = primary.to_vec();
        return Ok(recovery);
    }
    if !base.checksum_valid() {
        return Err(Error::Refused(format!(
            "the primary's base block checksum is wrong (stored {:#010x}, computed {:#010x} at \
             byte offset 0x1fc); Windows would rebuild the base block from the newest transaction \
             log, ntrescue does not guess",
            base.checksum, base.computed_checksum
        )));
    }
    base.validate_primary()?;

    let mut replay = Replay {
        hive: primary.to_vec(),
        fill_limit: logs
            .iter()
            .fold(primary.len(), |n, l| n.saturating_add(l.bytes.len())),
        applied: Vec::new(),
        last_sequence: None,
        hive_bins_size: base.hive_bins_size,
        flags: base.flags,
    };

    // New format first: .LOG1/.LOG2, else .LOG or any other name (yarp
    // `recover_auto` prefers the dual-logging scheme).
    let usable_new = |dual: bool| -> Vec<&ParsedLog> {
        parsed
            .iter()
            .filter(|l| l.usable() && l.format == Some(LogFormat::New))
            .filter(|l| matches!(l.slot, Some(LogSlot::Log1 | LogSlot::Log2)) == dual)
            .collect()
    };
    let mut new_logs = usable_new(true);
    if new_logs.is_empty() {
        new_logs = usable_new(false);
    }
    let stopped = if !new_logs.is_empty() {
        replay.replay_new(new_logs, &base)?
    } else {
        // Old format: the log must describe the primary's state (equal
        // last-written timestamps, spec "Old format", note 3); LOG1 first.
        let mut old: Vec<&ParsedLog> = parsed
            .iter()
            .filter(|l| l.usable() && l.format == Some(LogFormat::Old))
            .collect();
        old.sort_by_key(|l| l.slot.map_or(3, |s| s as u8));
        match old.iter().find(|l| {
            l.base
                .as_ref()
                .is_some_and(|b| b.timestamp == base.timestamp)
        }) {
            Some(log) => {
                replay.replay_old(log)?;
                None
            }
            None if old.is_empty() => Some(no_usable_log(&parsed)),
            None => Some(format!(
                "no old-format log has the primary's last-written timestamp {:#x}",
                base.timestamp
            )),
        }
    };

    if replay.last_sequence.is_some() {
        replay.finish_base_block();
        replay.check_hive_bins()?;
        recovery.hive = replay.hive;
    } else {
        recovery.hive = primary.to_vec();
    }
    recovery.applied = replay.applied;
    recovery.last_sequence = replay.last_sequence;
    recovery.stopped = stopped;
    Ok(recovery)
}

fn no_usable_log(logs: &[ParsedLog]) -> String {
    if logs.is_empty() {
        return "the primary is dirty and no transaction log was supplied".into();
    }
    let why: Vec<String> = logs
        .iter()
        .map(|l| format!("{}: {}", l.name, l.note()))
        .collect();
    format!(
        "the primary is dirty but no transaction log is usable ({})",
        why.join("; ")
    )
}

#[cfg(test)]
mod tests {
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
