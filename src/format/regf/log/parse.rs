// SPDX-License-Identifier: GPL-2.0-or-later
//! Parsing one log file: its base block, and its new-format (`HvLE`)
//! entries or old-format dirty vector, every offset checked.

use super::*;

/// One dirty page of a new-format entry.
#[derive(Clone, Debug)]
pub(super) struct PageRef {
    /// Offset relative to the start of the hive bins data.
    pub(super) target: usize,
    /// Length in bytes.
    pub(super) len: usize,
    /// Absolute offset of the page bytes in the log.
    pub(super) source: usize,
}

/// A new-format log entry that passed every check except the sequence rule.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub(super) offset: usize,
    pub(super) size: usize,
    pub(super) flags: u32,
    pub(super) sequence: u32,
    pub(super) hive_bins_size: u32,
    pub(super) pages: Vec<PageRef>,
}

/// Outcome of reading a log entry at some offset.
pub(super) enum EntryRead {
    /// No entry starts here (no signature, or end of file): the normal end.
    End,
    /// An `HvLE` signature with something wrong.
    Bad(String),
    /// A valid entry.
    Good(Entry),
}

pub(super) fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub(super) fn le64(b: &[u8], off: usize) -> u64 {
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
pub(super) fn read_entry(log: &[u8], pos: usize) -> EntryRead {
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

    if size == 0 || !size.is_multiple_of(SECTOR) {
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
        || !hive_bins_size.is_multiple_of(HBIN_ALIGNMENT)
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
pub(super) enum ChainEnd {
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
pub(super) struct DirtyVector {
    /// Hive-bins size from the log's base block (the bitmap covers it).
    pub(super) hive_bins_size: u32,
    /// Absolute offsets in the log of the bitmap bytes.
    pub(super) bitmap: std::ops::Range<usize>,
    /// Absolute offset of the first dirty page.
    pub(super) pages_start: usize,
    /// Number of dirty pages (bits set).
    pub(super) pages: usize,
}

/// Everything [`recover`] needs to know about one log.
pub(super) struct ParsedLog<'a> {
    pub(super) name: String,
    pub(super) bytes: &'a [u8],
    pub(super) slot: Option<LogSlot>,
    pub(super) format: Option<LogFormat>,
    /// The base block, only when valid.
    pub(super) base: Option<BaseBlock>,
    /// Why the log cannot be used.
    pub(super) problem: Option<String>,
    pub(super) chain: Vec<Entry>,
    pub(super) chain_end: Option<ChainEnd>,
    pub(super) remnants: Vec<(u32, u64)>,
    pub(super) dirty_vector: Option<DirtyVector>,
}

impl ParsedLog<'_> {
    pub(super) fn usable(&self) -> bool {
        self.problem.is_none() && self.base.is_some()
    }

    pub(super) fn base_sequence(&self) -> Option<u32> {
        self.base.as_ref().map(|b| b.seq1)
    }

    /// The sequence numbers of the valid base block and of every valid entry.
    pub(super) fn sequences(&self) -> impl Iterator<Item = u32> + '_ {
        let entries = self.chain.iter().map(|e| e.sequence);
        let remnants = self.remnants.iter().map(|&(s, _)| s);
        self.base_sequence()
            .into_iter()
            .chain(entries)
            .chain(remnants)
    }

    pub(super) fn summary(&self) -> LogSummary {
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

    pub(super) fn note(&self) -> String {
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
pub(super) fn check_log_base_block(
    bytes: &[u8],
) -> std::result::Result<(BaseBlock, LogFormat), String> {
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
pub(super) fn read_dirty_vector(
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
pub(super) fn scan_entries(bytes: &[u8], mut pos: usize) -> Vec<(u32, u64)> {
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

pub(super) fn parse_log<'a>(input: &LogInput<'a>) -> ParsedLog<'a> {
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
