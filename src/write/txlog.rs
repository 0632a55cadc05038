// SPDX-License-Identifier: GPL-2.0-or-later
//! Windows' own transaction protocol around an in-place write, so that
//! Windows' own recovery makes the write atomic.
//!
//! Before the first byte of the primary changes, the hive pages the write
//! changes go into one of the hive's transaction logs as a log entry (the
//! format the hive's logs already use; for never-used logs the old
//! dirty-vector format, which every Windows reads) and are flushed. Then the primary's base
//! block is marked in flight (dirty: for a fresh log seq1 = S + 1, seq2 = S,
//! so that only a log starting at S is eligible; when appending to the log
//! the replay already ends in, seq1 = S and seq2 as it was), the body is
//! written, and the base block completed (seq1 = seq2 = S). Whatever moment
//! the process is killed or the power goes:
//!
//! - before the in-flight mark, the primary is as it was: a clean one makes
//!   every loader ignore the logs (the original), a dirty one replays its
//!   logs as before (the original) or, when the new entry continues its
//!   chain, on into the new entry (the intended hive);
//! - from the mark to the completed base block, the primary is dirty and the
//!   new entry is the first (or the next) one its replay applies: every page
//!   the body write touches is in it, so the result is the intended hive
//!   however much of the body was written;
//! - after it, the primary is clean and loaded as it is: the intended hive.
//!
//! `plan` builds the log content for each candidate way of doing this
//! (append to the log whose chain the primary's replay ends in; or a fresh
//! log in each slot) and checks every intermediate state with our own
//! replay (the spec's recovery rules, checked against Windows' own recovered
//! hives in the corpus; not against a booting Windows), keeping the first candidate
//! for which every state loads as the original or the intended hive. A hive
//! with no log that can hold the entry gets no plan: the caller creates a
//! log beside a hive on a file system, and refuses on a raw volume (a file
//! inside a raw NTFS volume cannot grow).

use crate::error::{Error, Result};
use crate::format::regf::base_block::{
    self, BaseBlock, BASE_BLOCK_SIZE, HEADER_SIZE, OFF_CHECKSUM, OFF_SEQ1, OFF_SEQ2,
};
use crate::format::regf::log::write::{dirty_pages, log_base_block, new_entry, old_log};
use crate::format::regf::log::{
    check_hive_bins, recover, recover_overlay, LogFormat, LogInput, LogSlot, LogSummary, Overlay,
};
use crate::util::bytes::{put_u32, same};
use std::collections::BTreeMap;
use std::ops::Bound;

/// One log file as the planner sees it.
pub(crate) struct LogFile<'a> {
    /// File name (`SYSTEM.LOG1`).
    pub(crate) name: String,
    /// Its bytes now (empty for a log about to be created).
    pub(crate) bytes: &'a [u8],
    /// How many bytes its store can hold without growing the file; `None`
    /// when it can grow (a file system can, a file inside a raw NTFS volume
    /// cannot: its room is what its data runs hold up to the valid length).
    pub(crate) room: Option<u64>,
}

/// Bytes to write into one log, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogWrite {
    /// Offset in the log file.
    pub(crate) at: u64,
    /// The bytes.
    pub(crate) bytes: Vec<u8>,
}

/// How one hive is written under the transaction protocol.
#[derive(Clone, Debug)]
pub(crate) struct TxPlan {
    /// Index of the log (in the list given to [`plan`]) that gets the entry.
    pub(crate) log: usize,
    /// The log's length after the writes (larger than now when it grows).
    pub(crate) log_len: u64,
    /// The writes into that log, in order (a fresh log: the entry, then its
    /// base block last).
    pub(crate) writes: Vec<LogWrite>,
    /// The in-flight base block: the first 512 bytes of the primary while
    /// its body is written.
    pub(crate) inflight: Vec<u8>,
    /// For the report: what was done ("HvLE entry 2131 appended to
    /// SYSTEM.LOG2").
    pub(crate) summary: String,
}

impl TxPlan {
    /// The log's content after the writes, from its content before.
    pub(crate) fn apply(&self, before: &[u8]) -> Vec<u8> {
        let mut out = before.to_vec();
        if (out.len() as u64) < self.log_len {
            out.resize(self.log_len as usize, 0);
        }
        for w in &self.writes {
            let a = w.at as usize;
            out[a..a + w.bytes.len()].copy_from_slice(&w.bytes);
        }
        out
    }
}

/// The log format a hive's next entry must use: the one its logs already
/// use (a valid log first, else any log whose base block says its type).
/// For logs that were never used, the old format: it is what every Windows
/// reads, while Windows 7 and earlier cannot replay the new one, and the
/// hive's version cannot tell them apart (Windows XP and 7 write regf 1.5
/// hives too).
fn format_for(logs: &[LogSummary]) -> LogFormat {
    logs.iter()
        .filter(|l| l.usable)
        .find_map(|l| l.format)
        .or_else(|| logs.iter().find_map(|l| l.format))
        .unwrap_or(LogFormat::Old)
}

/// The first 512 bytes of `new`'s base block marked in flight: seq1 = S,
/// seq2 = `seq2`, checksum recomputed.
fn inflight_block(new: &[u8], seq: u32, seq2: u32) -> Vec<u8> {
    let mut b = new[..HEADER_SIZE].to_vec();
    put_u32(&mut b, OFF_SEQ1, seq);
    put_u32(&mut b, OFF_SEQ2, seq2);
    let sum = base_block::checksum(&b);
    put_u32(&mut b, OFF_CHECKSUM, sum);
    b
}

/// The logs as the replay takes them, `overlay` standing in for the log it
/// names.
fn log_inputs<'a>(
    logs: &'a [LogFile<'_>],
    overlay: Option<(usize, &'a [u8])>,
) -> Vec<LogInput<'a>> {
    logs.iter()
        .enumerate()
        .map(|(i, l)| LogInput {
            name: l.name.clone(),
            bytes: match overlay {
                Some((k, b)) if k == i => b,
                _ => l.bytes,
            },
        })
        .collect()
}

/// What a primary and its logs load as: the replayed image's hive (base
/// block and hive bins, without slack), or why they cannot be loaded.
fn loads_as(
    primary: &[u8],
    logs: &[LogFile<'_>],
    overlay: Option<(usize, &[u8])>,
) -> Result<Vec<u8>> {
    let inputs = log_inputs(logs, overlay);
    let mut hive = recover(primary, &inputs)?.hive;
    let end = loaded_len(&hive)?;
    // Trimmed in place: no second copy of the hive.
    hive.truncate(end);
    Ok(hive)
}

/// A hive a state may load as, with whether its hive bins pass the check
/// the replay makes after applying entries.
struct Expected<'a> {
    image: &'a [u8],
    bins_valid: bool,
}

impl<'a> Expected<'a> {
    fn new(image: &'a [u8]) -> Self {
        let bins_valid = BaseBlock::parse(image)
            .and_then(|bb| check_hive_bins(image, bb.hive_bins_size))
            .is_ok();
        Expected { image, bins_valid }
    }
}

/// Byte ranges already settled, `start -> end`, disjoint.
type Covered = BTreeMap<usize, usize>;

/// Calls `gap` on each part of `start..end` that `covered` does not hold,
/// in order, then adds `start..end` to it. `false` as soon as a `gap`
/// returns `false`.
fn cover(
    covered: &mut Covered,
    start: usize,
    end: usize,
    mut gap: impl FnMut(usize, usize) -> bool,
) -> bool {
    if start >= end {
        return true;
    }
    // The ranges that overlap or touch `start..end`, in order.
    let mut touching: Vec<(usize, usize)> = covered
        .range(..=start)
        .next_back()
        .map(|(&a, &b)| (a, b))
        .filter(|&(_, b)| b >= start)
        .into_iter()
        .collect();
    touching.extend(
        covered
            .range((Bound::Excluded(start), Bound::Included(end)))
            .map(|(&a, &b)| (a, b)),
    );
    let mut at = start;
    for &(a, b) in &touching {
        if a > at && !gap(at, a) {
            return false;
        }
        at = at.max(b);
    }
    if at < end && !gap(at, end) {
        return false;
    }
    let mut lo = start;
    let mut hi = end;
    for &(a, b) in &touching {
        covered.remove(&a);
        lo = lo.min(a);
        hi = hi.max(b);
    }
    covered.insert(lo, hi);
    true
}

/// Whether the full replay of a state is sure to load as exactly `x`,
/// from the overlay replay of it: `head` is the recovered base block the
/// overlay replay returns, `image` the state's primary (its bytes past the
/// base block; the replay zero-fills past its end) and `overlay` the log
/// writes, a later one winning. The loaded hive is compared with `x`
/// outside the writes and inside them, without building it. The full
/// replay also checks the hive bins when it applied entries (`applied`):
/// equal to `x`, they pass exactly when `x`'s do. `false` when not proven
/// (the caller then replays in full, for the outcome and its message).
fn replays_to(head: &[u8], overlay: &Overlay, image: &[u8], applied: bool, x: &Expected) -> bool {
    let x = if applied && !x.bins_valid {
        return false;
    } else {
        x.image
    };
    let Ok(bb) = BaseBlock::parse(head) else {
        return false;
    };
    let Some(bins_end) = BASE_BLOCK_SIZE.checked_add(bb.hive_bins_size as usize) else {
        return false;
    };
    let end = bins_end.min(overlay.len);
    let h = head.len();
    if x.len() != end || h > end || !x.get(..h).is_some_and(|xh| same(xh, head)) {
        return false;
    }
    let mut covered = Covered::new();
    for (at, bytes) in overlay.writes.iter().rev() {
        let Some(stop) = at.checked_add(bytes.len()) else {
            return false;
        };
        let (s, e) = ((*at).max(h), stop.min(end));
        let agrees = cover(&mut covered, s, e, |a, b| {
            match (bytes.get(a - at..b - at), x.get(a..b)) {
                (Some(w), Some(xw)) => same(w, xw),
                (w, xw) => w == xw,
            }
        });
        if !agrees {
            return false;
        }
    }
    // What no write covers: the primary's bytes, zeros past its end.
    cover(&mut covered, h, end, |a, b| {
        let kept = image.get(a..b.min(image.len())).unwrap_or_default();
        let zeros = a + kept.len();
        // The same bytes in memory (`x` cut from the image itself) are equal.
        x.get(a..zeros)
            .is_some_and(|xs| xs.as_ptr() == kept.as_ptr() || same(xs, kept))
            && x.get(zeros..b).is_some_and(|z| z.iter().all(|&c| c == 0))
    })
}

/// The length of the hive as loaded: the base block and its hive bins
/// (what follows is slack to every loader).
fn loaded_len(image: &[u8]) -> Result<usize> {
    let bb = BaseBlock::parse(image)?;
    Ok((BASE_BLOCK_SIZE + bb.hive_bins_size as usize).min(image.len()))
}

/// `original` with its first 512 bytes replaced by `head`.
fn with_head(image: &[u8], head: &[u8]) -> Vec<u8> {
    let mut p = image.to_vec();
    p[..head.len()].copy_from_slice(head);
    p
}

/// Checks every state a kill can leave for `cand`: `Ok(())`, or the first
/// state that would load as neither the original nor the intended hive.
///
/// Each state is replayed as an overlay (its base block and the log
/// writes, no copy of the primary) and proven to load as exactly the
/// intended (or original) hive by comparison ([`replays_to`]); a state not
/// proven so is replayed in full, which gives its outcome and message.
fn check_states(
    cand: &TxPlan,
    original: &[u8],
    loaded_original: &[u8],
    new: &[u8],
    logs: &[LogFile<'_>],
) -> std::result::Result<(), String> {
    // Slices, not copies: each state below costs one loaded image at a time.
    let intended = &new[..loaded_len(new).map_err(|e| e.to_string())?];
    let orig = &loaded_original[..loaded_len(loaded_original).map_err(|e| e.to_string())?];
    let (intended_x, orig_x) = (Expected::new(intended), Expected::new(orig));
    let log_before = logs[cand.log].bytes;
    // The log after each of its writes, in order.
    let mut steps = Vec::new();
    let mut cur = log_before.to_vec();
    if (cur.len() as u64) < cand.log_len {
        cur.resize(cand.log_len as usize, 0);
    }
    for w in &cand.writes {
        let a = w.at as usize;
        cur[a..a + w.bytes.len()].copy_from_slice(&w.bytes);
        steps.push(cur.clone());
    }
    let full = steps.last().cloned().unwrap_or(cur);
    let judge = |what: &str, got: Result<Vec<u8>>, allow_original: bool| match got {
        Ok(img) if img == intended => Ok(()),
        Ok(img) if allow_original && img == orig => Ok(()),
        Ok(_) => Err(format!(
            "{what} would load as neither the original nor the edited hive"
        )),
        Err(e) => Err(format!("{what} would not load: {e}")),
    };
    // One state: the primary `image` with the base block `head`, and the
    // log `log` in the candidate's slot.
    let state = |what: &str, head: &[u8], image: &[u8], log: &[u8], allow_original: bool| {
        let inputs = log_inputs(logs, Some((cand.log, log)));
        if let Ok((rec, overlay)) = recover_overlay(head, image.len(), &inputs) {
            let applied = rec.last_sequence.is_some();
            let proven = |x: &Expected| replays_to(&rec.hive, &overlay, image, applied, x);
            if proven(&intended_x) || (allow_original && proven(&orig_x)) {
                return Ok(());
            }
        }
        let primary = with_head(image, head);
        judge(
            what,
            loads_as(&primary, logs, Some((cand.log, log))),
            allow_original,
        )
    };
    let head_of = |image: &[u8]| image[..image.len().min(BASE_BLOCK_SIZE)].to_vec();
    let original_head = head_of(original);
    for (i, log) in steps.iter().enumerate() {
        state(
            &format!("a stop after log write {} of {}", i + 1, steps.len()),
            &original_head,
            original,
            log,
            true,
        )?;
    }
    state(
        "a stop after the in-flight mark",
        &with_head(&original_head, &cand.inflight),
        original,
        &full,
        false,
    )?;
    let new_head = head_of(new);
    state(
        "a stop after the body write",
        &with_head(&new_head, &cand.inflight),
        new,
        &full,
        false,
    )?;
    state("the finished write", &new_head, new, &full, false)
}

/// The pages of the entry: every page the write changes, and at least one
/// (an entry without pages is invalid; a stopped run may have written the
/// whole body already, leaving only the base block to finish).
fn entry_pages(original: &[u8], new: &[u8], hive_bins_size: u32) -> Vec<usize> {
    let mut pages = dirty_pages(original, new, hive_bins_size);
    if pages.is_empty() {
        pages.push(0);
    }
    pages
}

/// A fresh log in `slot`: the entry (or old-format dirty pages) first, its
/// base block last.
fn fresh(
    format: LogFormat,
    log: usize,
    logs: &[LogFile<'_>],
    original: &[u8],
    new: &[u8],
    seq: u32,
) -> Result<Option<TxPlan>> {
    let nb = BaseBlock::parse(new)?;
    let base = log_base_block(new, format, seq, nb.hive_bins_size)?;
    let content = match format {
        LogFormat::New => {
            let pages = entry_pages(original, new, nb.hive_bins_size);
            let mut c = base.clone();
            c.extend(new_entry(new, &pages, seq, nb.hive_bins_size, nb.flags)?);
            c
        }
        LogFormat::Old => old_log(&base, original, new, nb.hive_bins_size)?,
    };
    let l = &logs[log];
    let need = content.len() as u64;
    if l.room.is_some_and(|r| need > r) {
        return Ok(None);
    }
    let log_len = need.max(l.bytes.len() as u64);
    let writes = vec![
        LogWrite {
            at: base.len() as u64,
            bytes: content[base.len()..].to_vec(),
        },
        LogWrite { at: 0, bytes: base },
    ];
    let what = match format {
        LogFormat::New => format!("HvLE entry {seq} written to {}", l.name),
        LogFormat::Old => format!("dirty-vector log {seq} written to {}", l.name),
    };
    Ok(Some(TxPlan {
        log,
        log_len,
        writes,
        // seq2 = S: only a log starting at S or later (this one) is
        // eligible for the replay, never a stale or empty one before it.
        inflight: inflight_block(new, seq.wrapping_add(1), seq),
        summary: what,
    }))
}

/// The new entry appended after the last entry the primary's replay
/// applies, when it continues that chain (a dirty hive with new-format logs).
fn append(
    log: usize,
    logs: &[LogFile<'_>],
    summaries: &[LogSummary],
    original: &[u8],
    new: &[u8],
    seq: u32,
) -> Result<Option<TxPlan>> {
    let ob = BaseBlock::parse(original)?;
    let nb = BaseBlock::parse(new)?;
    let Some(s) = summaries.iter().find(|s| s.name == logs[log].name) else {
        return Ok(None);
    };
    let Some(&(last, last_at)) = s.entries.last() else {
        return Ok(None);
    };
    if !ob.is_dirty() || last.wrapping_add(1) != seq || s.format != Some(LogFormat::New) {
        return Ok(None);
    }
    // The end of that entry: its size field.
    let at = last_at as usize;
    let size = logs[log]
        .bytes
        .get(at + 4..at + 8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .unwrap_or(0);
    let pages = entry_pages(original, new, nb.hive_bins_size);
    let entry = new_entry(new, &pages, seq, nb.hive_bins_size, nb.flags)?;
    let end = (at + size) as u64;
    let l = &logs[log];
    let need = end + entry.len() as u64;
    if l.room.is_some_and(|r| need > r) {
        return Ok(None);
    }
    Ok(Some(TxPlan {
        log,
        log_len: need.max(l.bytes.len() as u64),
        writes: vec![LogWrite {
            at: end,
            bytes: entry,
        }],
        inflight: inflight_block(new, seq, ob.seq2),
        summary: format!("HvLE entry {seq} appended to {}", l.name),
    }))
}

/// Plans the transaction for writing `new` over `original`, whose logs are
/// `logs` and which loads as `loaded_original`. `Ok(None)` when no log can
/// hold the entry (no log, or none with room that cannot grow); an error
/// names the state that would fail when no candidate keeps every state
/// loadable as the original or the intended hive.
pub(crate) fn plan(
    original: &[u8],
    loaded_original: &[u8],
    new: &[u8],
    logs: &[LogFile<'_>],
) -> Result<Option<TxPlan>> {
    let nb = BaseBlock::parse(new)?;
    let seq = nb.seq1;
    let inputs: Vec<LogInput<'_>> = logs
        .iter()
        .map(|l| LogInput {
            name: l.name.clone(),
            bytes: l.bytes,
        })
        .collect();
    // The logs' summaries, from a replay without a copy of the primary;
    // one that applied entries is redone in full, for the same outcome
    // (the full replay checks the hive bins after it).
    let (rec, _) = recover_overlay(original, original.len(), &inputs)?;
    let summaries = if rec.replayed() {
        recover(original, &inputs)?.logs
    } else {
        rec.logs
    };
    let format = format_for(&summaries);
    // Fresh logs: the dual-logging slots first, the one with the older (or
    // no) valid base block first, as Windows alternates between them.
    let mut order: Vec<usize> = (0..logs.len()).collect();
    order.sort_by_key(|&i| {
        let slot = LogSlot::of_name(&logs[i].name).map_or(3, |s| s as u8);
        let base = summaries
            .iter()
            .find(|s| s.name == logs[i].name)
            .and_then(|s| s.base_sequence);
        (
            slot == LogSlot::Log as u8,
            base.is_some(),
            base.unwrap_or(0),
        )
    });
    // Candidates in order of preference (an entry appended to a chain
    // first), each made only when the ones before it failed their check:
    // making one compares the whole hive.
    let appends = (0..logs.len())
        .filter(|_| format == LogFormat::New)
        .map(|i| append(i, logs, &summaries, original, new, seq));
    let cands = appends.chain(
        order
            .into_iter()
            .map(|i| fresh(format, i, logs, original, new, seq)),
    );
    let mut why = Vec::new();
    for made in cands {
        let Some(c) = made? else { continue };
        match check_states(&c, original, loaded_original, new, logs) {
            Ok(()) => return Ok(Some(c)),
            Err(e) => why.push(format!("{}: {e}", c.summary)),
        }
    }
    if why.is_empty() {
        return Ok(None);
    }
    Err(Error::Refused(format!(
        "no way to write this hive through its transaction logs keeps every moment of the write \
         loadable as the original or the edited hive ({}); nothing written",
        why.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::regf::log::LogFormat;

    fn system_b() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let c = |n: &str| crate::testing::corpus(&format!("system/{n}"));
        (
            c("win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B"),
            c("win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B.LOG1"),
            c("win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B.LOG2"),
        )
    }

    /// The replayed image of a dirty hive, edited by one byte in a value's
    /// data page and written clean at 1 + the highest sequence number.
    fn edited(loaded: &[u8], seq: u32) -> Vec<u8> {
        let mut new = loaded.to_vec();
        let at = BASE_BLOCK_SIZE + 0x2000 + 100;
        new[at] ^= 0x5A;
        let bins = BaseBlock::parse(&new).unwrap().hive_bins_size;
        base_block::set_clean(&mut new[..BASE_BLOCK_SIZE], seq, bins);
        new
    }

    /// A dirty hive whose replay ends in LOG2 gets the entry appended there;
    /// every state a kill can leave loads as the original or the edit.
    #[test]
    fn dirty_new_format_hive_appends_to_the_chain() {
        let (p, l1, l2) = system_b();
        let logs = [
            LogFile {
                name: "SYSTEM.LOG1".into(),
                bytes: &l1,
                room: None,
            },
            LogFile {
                name: "SYSTEM.LOG2".into(),
                bytes: &l2,
                room: None,
            },
        ];
        let inputs: Vec<LogInput> = logs
            .iter()
            .map(|l| LogInput {
                name: l.name.clone(),
                bytes: l.bytes,
            })
            .collect();
        let loaded = recover(&p, &inputs).unwrap().hive;
        let new = edited(&loaded, 2131);
        let plan = plan(&p, &loaded, &new, &logs).unwrap().unwrap();
        assert_eq!(plan.log, 1, "{}", plan.summary);
        assert!(plan.summary.contains("appended"), "{}", plan.summary);
        // Once the log holds the entry, the unmodified dirty primary already
        // loads as the edit (the chain continues into it).
        let log2 = plan.apply(&l2);
        let after = loads_as(&p, &logs, Some((1, &log2))).unwrap();
        assert_eq!(after, new[..loaded_len(&new).unwrap()].to_vec());
        // The entry holds every page the replay and the edit change: it does
        // not fit logs that cannot grow (a raw volume), and no fresh log can
        // stand in for the ones the replay needs.
        let fixed = [
            LogFile {
                name: "SYSTEM.LOG1".into(),
                bytes: &l1,
                room: Some(l1.len() as u64),
            },
            LogFile {
                name: "SYSTEM.LOG2".into(),
                bytes: &l2,
                room: Some(l2.len() as u64),
            },
        ];
        assert!(super::plan(&p, &loaded, &new, &fixed).is_err());
    }

    /// The overlay comparison says "loads as exactly X" when, and only
    /// when, the full replay loads as X: on the dirty SYSTEM_B set as it
    /// is, with the plan's entry appended, with a log cut short (a state
    /// that loads as neither hive), and on the edited hive itself.
    #[test]
    fn overlay_comparison_agrees_with_the_full_replay() {
        let (p, l1, l2) = system_b();
        let logs = [
            LogFile {
                name: "SYSTEM.LOG1".into(),
                bytes: &l1,
                room: None,
            },
            LogFile {
                name: "SYSTEM.LOG2".into(),
                bytes: &l2,
                room: None,
            },
        ];
        let loaded = loads_as(&p, &logs, None).unwrap();
        let new = edited(&loaded, 2131);
        let plan = plan(&p, &loaded, &new, &logs).unwrap().unwrap();
        let appended = plan.apply(&l2);
        let cut = l2[..l2.len() / 2].to_vec();
        // The pages of the dirty replay, and bytes inside and outside them.
        let inputs = log_inputs(&logs, None);
        let (_, ov) = recover_overlay(&p[..BASE_BLOCK_SIZE], p.len(), &inputs).unwrap();
        let written = ov.writes.last().unwrap().0 + 10;
        let untouched = (BASE_BLOCK_SIZE..loaded.len())
            .step_by(512)
            .find(|&o| {
                !ov.writes
                    .iter()
                    .any(|(a, b)| (*a..a + b.len()).contains(&o))
            })
            .unwrap();
        let flip = |at: usize| {
            let mut x = loaded.clone();
            x[at] ^= 1;
            x
        };
        let intended = new[..loaded_len(&new).unwrap()].to_vec();
        let candidates = [
            loaded.clone(),
            intended,
            flip(written),
            flip(untouched),
            flip(100),
            loaded[..loaded.len() - 4096].to_vec(),
        ];
        let states: [(&[u8], Option<&[u8]>); 5] = [
            (&p, None),
            (&p, Some(&appended)),
            (&p, Some(&cut)),
            (&new, Some(&appended)),
            (&new, Some(&cut)),
        ];
        let mut neither = 0;
        for (primary, log2) in states {
            let over = log2.map(|b| (1, b));
            let full = loads_as(primary, &logs, over).ok();
            // Every state here loads (the cut log only stops the replay early).
            assert!(full.is_some());
            let inputs = log_inputs(&logs, over);
            let (rec, ov) =
                recover_overlay(&primary[..BASE_BLOCK_SIZE], primary.len(), &inputs).unwrap();
            let applied = rec.last_sequence.is_some();
            let mut matched = false;
            for x in &candidates {
                let proven = replays_to(&rec.hive, &ov, primary, applied, &Expected::new(x));
                assert_eq!(proven, full.as_deref() == Some(x.as_slice()));
                matched |= proven;
            }
            neither += usize::from(!matched);
        }
        // The dirty primary with the cut log: the replay stops early and
        // loads as neither hive (nor as any other candidate).
        assert_eq!(neither, 1);
        // An X whose hive bins are invalid is never proven (the full replay
        // would refuse it after applying entries).
        let mut bad = loaded.clone();
        bad[BASE_BLOCK_SIZE] = b'x';
        assert!(!Expected::new(&bad).bins_valid);
    }

    /// Later overlay writes win over earlier ones on the same bytes.
    #[test]
    fn later_overlay_writes_win() {
        let h = crate::testing::corpus("system/win10-10240-minimal__qthivex__SYSTEM");
        let end = loaded_len(&h).unwrap();
        let at = BASE_BLOCK_SIZE + 0x1000 + 40;
        let overlay = Overlay {
            len: h.len(),
            writes: vec![(at, vec![1; 100]), (at + 50, vec![2; 100])],
        };
        let mut later = h[..end].to_vec();
        later[at..at + 100].fill(1);
        later[at + 50..at + 150].fill(2);
        let mut earlier = h[..end].to_vec();
        earlier[at + 50..at + 150].fill(2);
        earlier[at..at + 100].fill(1);
        let head = &h[..BASE_BLOCK_SIZE];
        assert!(replays_to(
            head,
            &overlay,
            &h,
            false,
            &Expected::new(&later)
        ));
        assert!(!replays_to(
            head,
            &overlay,
            &h,
            false,
            &Expected::new(&earlier)
        ));
        assert!(!replays_to(
            head,
            &overlay,
            &h,
            false,
            &Expected::new(&h[..end])
        ));
        // Without writes the image compares as it is.
        let none = Overlay {
            len: h.len(),
            writes: Vec::new(),
        };
        assert!(replays_to(
            head,
            &none,
            &h,
            false,
            &Expected::new(&h[..end])
        ));
    }

    /// A clean hive gets a fresh entry in a log; a log that cannot grow and
    /// has no room gives no plan.
    #[test]
    fn clean_hive_fresh_log_and_no_room() {
        let h = crate::testing::corpus("system/win10-10240-minimal__qthivex__SYSTEM");
        let bb = BaseBlock::parse(&h).unwrap();
        let new = edited(&h, bb.seq1 + 1);
        let empty: Vec<u8> = Vec::new();
        let growable = [LogFile {
            name: "SYSTEM.LOG1".into(),
            bytes: &empty,
            room: None,
        }];
        let plan = plan(&h, &h, &new, &growable).unwrap().unwrap();
        assert!(plan.summary.contains("written to SYSTEM.LOG1"));
        let fixed = [LogFile {
            name: "SYSTEM.LOG1".into(),
            bytes: &empty,
            room: Some(0),
        }];
        assert!(super::plan(&h, &h, &new, &fixed).unwrap().is_none());
        // A never-used log gets the format every Windows reads.
        assert_eq!(format_for(&[]), LogFormat::Old);
        assert!(plan.summary.contains("dirty-vector"), "{}", plan.summary);
    }
}
