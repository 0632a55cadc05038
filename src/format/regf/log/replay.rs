// SPDX-License-Identifier: GPL-2.0-or-later
//! Replaying the chosen logs over an in-memory copy of a dirty primary,
//! exactly as Windows does at load time.

use super::order::*;
use super::parse::*;
use super::*;

/// Reads the primary's base block, refusing a file that is not a usable hive.
pub(super) fn primary_base_block(primary: &[u8]) -> Result<BaseBlock> {
    BaseBlock::parse(primary).map_err(|e| {
        Error::Refused(format!(
            "the primary file has no usable base block ({e}); Windows would try to rebuild it \
             from a transaction log, ntrescue does not guess"
        ))
    })
}

/// The log writes of a replay that does not hold the primary's bins: what
/// they would make of the image, page by page, without the pages they leave.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    /// Length of the image after replay (the primary grows, never shrinks).
    pub len: usize,
    /// `(absolute file offset, bytes)` in the order Windows writes them: a
    /// later write over the same bytes wins.
    pub writes: Vec<(usize, Vec<u8>)>,
}

/// The in-memory image being recovered.
pub(super) struct Replay {
    /// The whole image; in overlay mode only its base block.
    pub(super) hive: Vec<u8>,
    /// Overlay mode: the writes are recorded here, not applied to `hive`.
    pub(super) overlay: Option<Overlay>,
    /// Length of the primary plus all logs: the most a replay can fill.
    pub(super) fill_limit: usize,
    pub(super) applied: Vec<AppliedEntry>,
    pub(super) last_sequence: Option<u32>,
    pub(super) hive_bins_size: u32,
    pub(super) flags: u32,
}

impl Replay {
    /// Makes room for `hive_bins_size` bytes of hive bins (spec note 9: the
    /// primary grows with the entry's hive-bins size).
    ///
    /// Growth beyond the primary plus every log byte cannot be filled with
    /// hive bins, so the bin check after replay would refuse the result
    /// anyway; refusing here keeps a crafted size from costing gigabytes.
    pub(super) fn grow(&mut self, hive_bins_size: u32, log: &str, sequence: u32) -> Result<()> {
        let needed = BASE_BLOCK_SIZE + hive_bins_size as usize;
        let len = self.overlay.as_ref().map_or(self.hive.len(), |o| o.len);
        if len < needed {
            if needed > self.fill_limit {
                return Err(Error::Refused(format!(
                    "entry {sequence} in {log} grows the hive to {needed:#x} bytes, more than the \
                     primary and all logs together could fill ({:#x} bytes): the result could not \
                     hold valid hive bins",
                    self.fill_limit
                )));
            }
            match &mut self.overlay {
                Some(o) => o.len = needed,
                None => self.hive.resize(needed, 0),
            }
        }
        Ok(())
    }

    /// Copies `len` bytes from `log[source..]` to hive-bins offset `target`.
    pub(super) fn write(
        &mut self,
        log: &[u8],
        source: usize,
        target: usize,
        len: usize,
    ) -> Result<()> {
        let src = source.checked_add(len).and_then(|end| log.get(source..end));
        let dst_start = BASE_BLOCK_SIZE + target;
        if let Some(o) = &mut self.overlay {
            return match (src, dst_start.checked_add(len)) {
                (Some(src), Some(end)) if end <= o.len => {
                    o.writes.push((dst_start, src.to_vec()));
                    Ok(())
                }
                _ => Err(Error::Invalid {
                    what: "dirty page",
                    offset: source as u64,
                    detail: format!("{len:#x} bytes do not fit at hive offset {dst_start:#x}"),
                }),
            };
        }
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

    pub(super) fn apply_entry(&mut self, log: &ParsedLog, e: &Entry) -> Result<()> {
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
    pub(super) fn replay_new(
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
    pub(super) fn replay_old(&mut self, log: &ParsedLog) -> Result<()> {
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
    pub(super) fn finish_base_block(&mut self) {
        let Some(seq) = self.last_sequence else {
            return;
        };
        let block = &mut self.hive[..BASE_BLOCK_SIZE];
        crate::util::bytes::put_u32(block, OFF_FLAGS, self.flags);
        crate::util::bytes::put_u32(block, OFF_FILE_TYPE, FILE_TYPE_PRIMARY);
        base_block::set_clean(block, seq, self.hive_bins_size);
    }

    /// Checks that hive bins follow each other from 4096 to 4096 + hive-bins
    /// size ([`check_hive_bins`]).
    pub(super) fn check_hive_bins(&self) -> Result<()> {
        check_hive_bins(&self.hive, self.hive_bins_size)
    }
}

/// Checks that the hive bins of `hive` follow each other from 4096 to
/// 4096 plus `hive_bins_size`, each with its signature, its own offset and
/// a size that is a multiple of 4096 (the checks the NT loader makes after
/// a replay; spec note 10 and "Hive bin").
pub fn check_hive_bins(hive: &[u8], hive_bins_size: u32) -> Result<()> {
    let end = hive_bins_size as usize;
    let bins = hive
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
                if size == 0 || !size.is_multiple_of(HBIN_ALIGNMENT as usize) || size > end - off {
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
    Ok(recover_with(primary, primary.len(), false, logs)?.0)
}

/// [`recover`] for a primary that is not in memory: `base_block` is its
/// first 4096 bytes and `primary_len` its length. The log writes come back
/// as an [`Overlay`] to lay over the primary's pages (the recovery's `hive`
/// holds only the recovered base block). The check of every hive bin after
/// replay needs every bin header, so it is not made here; cells read
/// through the overlay are bounds-checked one by one.
pub fn recover_overlay(
    base_block: &[u8],
    primary_len: usize,
    logs: &[LogInput],
) -> Result<(Recovery, Overlay)> {
    let head = base_block.get(..BASE_BLOCK_SIZE).unwrap_or(base_block);
    let (rec, overlay) = recover_with(head, primary_len, true, logs)?;
    Ok((rec, overlay.unwrap_or_default()))
}

fn recover_with(
    primary: &[u8],
    primary_len: usize,
    sparse: bool,
    logs: &[LogInput],
) -> Result<(Recovery, Option<Overlay>)> {
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
    let overlay = sparse.then_some(Overlay {
        writes: Vec::new(),
        len: primary_len,
    });
    if !base.is_dirty() {
        recovery.hive = primary.to_vec();
        return Ok((recovery, overlay));
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
        overlay,
        fill_limit: logs
            .iter()
            .fold(primary_len, |n, l| n.saturating_add(l.bytes.len())),
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

    recovery.stopped = stopped;
    replay.finish(recovery, primary)
}

impl Replay {
    /// Hands the replayed image (or overlay) and what was applied to
    /// `recovery`; `primary` is the image when nothing was applied.
    fn finish(
        mut self,
        mut recovery: Recovery,
        primary: &[u8],
    ) -> Result<(Recovery, Option<Overlay>)> {
        if self.last_sequence.is_some() {
            self.finish_base_block();
            if self.overlay.is_none() {
                self.check_hive_bins()?;
            }
            recovery.hive = self.hive;
        } else {
            recovery.hive = primary.to_vec();
        }
        recovery.applied = self.applied;
        recovery.last_sequence = self.last_sequence;
        Ok((recovery, self.overlay))
    }
}

pub(super) fn no_usable_log(logs: &[ParsedLog]) -> String {
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
