// SPDX-License-Identifier: GPL-2.0-or-later
//! Step 3 of an edit: the new bytes of each touched hive, made in memory
//! and verified there before anything is written.

use crate::error::{Code, Error, Result};
use crate::format::regf::base_block::{self, BaseBlock, BASE_BLOCK_SIZE};
use crate::format::regf::cell::{HiveView, HBIN_OFF_TIMESTAMP, HBIN_SIGNATURE};
use crate::format::regf::edit::HiveEdit;
use crate::format::regf::key::Key;
use crate::format::regf::log::LogSlot;
use crate::hive::check::{CheckStats, Expect};
use crate::storage::source::{FileRef, LoadedFile};
use crate::storage::target::TargetInfo;
use crate::util::buf::Buf;
use crate::util::bytes::{diff_ranges, join_ranges, put_u64, WRITE_GAP};
use crate::util::digest::sha256_hex;
use crate::write::outcome::HiveOutcome;
use crate::write::plan::{Action, Resolved};
use crate::write::prepare::{check_line, structure_check, Prepared};
use crate::write::txlog::{self, LogFile, TxPlan};
use crate::write::verify::verify_edit;
use std::path::PathBuf;

/// Which log a transaction goes into.
#[derive(Clone, Debug)]
pub(crate) enum LogRef {
    /// One of the hive's logs (index into its loaded logs).
    Existing(usize),
    /// A log created beside a hive on a file system that has none.
    Create(PathBuf),
}

/// The transaction of one hive's in-place write.
#[derive(Clone, Debug)]
pub(crate) struct TxChoice {
    /// The log content and the in-flight base block.
    pub(crate) plan: TxPlan,
    /// Which log.
    pub(crate) log: LogRef,
}

/// One touched hive's planned bytes.
pub(crate) struct PlannedHive {
    /// Index in the prepared list.
    pub(crate) index: usize,
    /// The verified new image.
    pub(crate) new: Buf,
    /// Where `new` differs from the primary file as read, over their
    /// common length ([`diff_ranges`]): computed once, for the raw-volume
    /// check, the intent record and the commit (the in-memory verification
    /// computes its own).
    pub(crate) diff: Vec<std::ops::Range<usize>>,
    /// Its transaction (absent for `--output`, which writes a new file).
    pub(crate) tx: Option<TxChoice>,
}

/// The planned hives.
pub(crate) type Planned = Vec<PlannedHive>;

/// How many bytes a log can take without growing: `None` on a file system
/// (it can grow); inside a raw NTFS volume, what its data runs hold from
/// the start up to its valid data length (0 when it cannot be written in
/// place at all).
fn log_room(f: &LoadedFile) -> Option<u64> {
    match &f.origin {
        FileRef::Path(_) => None,
        FileRef::Ntfs { loc, .. } => {
            if loc.unwritable_reason().is_some() {
                return Some(0);
            }
            let mut covered = 0u64;
            for e in &loc.extents {
                if e.file_offset != covered {
                    break;
                }
                covered += e.length;
            }
            Some(covered.min(loc.valid_length).min(loc.size))
        }
    }
}

/// The transaction for writing `new` over `p`'s primary: through one of its
/// logs, or a log created beside a hive on a file system in a slot it lacks
/// (emptied again once the write is done). A raw volume whose logs cannot
/// hold the entry is refused: its files cannot grow.
fn transaction(p: &Prepared, new: &[u8]) -> Result<TxChoice> {
    let path = &p.files.primary.path;
    let mut logs: Vec<LogFile<'_>> = p
        .files
        .logs
        .iter()
        .map(|l| LogFile {
            name: l.name.clone(),
            bytes: &l.bytes,
            room: log_room(l),
        })
        .collect();
    // On a file system, a dual-logging slot the hive lacks can be created
    // (a hive with a lone LOG1 whose entries a dirty replay needs gets its
    // entry in a new LOG2). Not beside a hive whose only log is `.LOG`: that
    // is the single-log scheme of Windows XP and Server 2003, which never
    // read a `.LOG1`.
    let slot_of = |s: LogSlot| {
        p.files
            .logs
            .iter()
            .any(|l| LogSlot::of_name(&l.name) == Some(s))
    };
    let single_log = slot_of(LogSlot::Log) && !slot_of(LogSlot::Log1) && !slot_of(LogSlot::Log2);
    let missing = [LogSlot::Log1, LogSlot::Log2]
        .into_iter()
        .find(|slot| !single_log && !slot_of(*slot));
    let created = match (&p.files.primary.origin, missing) {
        (FileRef::Path(primary), Some(slot)) => {
            let name = format!("{}.{}", p.files.primary.name, slot.extension());
            logs.push(LogFile {
                name: name.clone(),
                bytes: &[],
                room: None,
            });
            Some(primary.with_file_name(name))
        }
        _ => None,
    };
    let plan = match txlog::plan(&p.files.primary.bytes, p.base(), new, &logs) {
        // On a raw volume a log that is too small cannot grow to take the
        // entry; the mounted path can.
        Err(Error::Refused(why)) if matches!(p.files.primary.origin, FileRef::Ntfs { .. }) => {
            return Err(Error::refused(
                Code::UnwritableFile,
                format!(
                    "{why}. On a raw NTFS volume no log can grow to take a fresh entry \
                     (ntrescue never grows a file behind NTFS's back): mount the volume (ntfs-3g) and \
                     run on the mounted path"
                ),
            )
            .in_file(path))
        }
        r => r.map_err(|e| e.in_file(path))?,
    };
    let Some(plan) = plan else {
        let (code, why) = match &p.files.primary.origin {
            FileRef::Ntfs { .. } => (
                Code::UnwritableFile,
                "no transaction log of it on the raw NTFS volume has room for the write \
                 (ntrescue never grows a file behind NTFS's back): mount the volume (ntfs-3g) and run on \
                 the mounted path",
            ),
            FileRef::Path(_) => (Code::Refused, "no log can hold the transaction"),
        };
        return Err(
            Error::refused(code, format!("{}: {why}; nothing written", p.name.as_str()))
                .in_file(path),
        );
    };
    let log = match created {
        Some(path) if plan.log == p.files.logs.len() => LogRef::Create(path),
        _ => LogRef::Existing(plan.log),
    };
    Ok(TxChoice { plan, log })
}

/// Applies the resolved operations of one hive; returns the new image, the
/// number of hive bins appended and the sequence number it is written with
/// (refused when none is safe, see [`SequencesSeen::next_clean`]).
fn apply(p: &Prepared, ops: &[&Resolved]) -> Result<(Buf, u32, u32)> {
    let seq = p.seen.next_clean()?;
    // `plan_hives` runs the full structure check on exactly these bytes
    // and keeps the edit only if it passes.
    let mut edit = HiveEdit::unwalked(Buf::copy_of(p.base()))?;
    for r in ops {
        let key_rel = |edit: &HiveEdit, path: &str| -> Result<u32> {
            let view = HiveView::new(edit.bytes())?;
            Ok(Key::root(view)?
                .subpath(path)?
                .map_err(|m| Error::Invalid {
                    what: "key",
                    offset: 0,
                    detail: format!("{path} vanished during the edit ('{m}')"),
                })?
                .offset())
        };
        match &r.op.action {
            Action::Set { ty, data } => {
                let k = key_rel(&edit, &r.op.key)?;
                edit.set_value(k, &r.op.value, *ty, data)?;
            }
            Action::Delete => {
                let k = key_rel(&edit, &r.op.key)?;
                edit.delete_value(k, &r.op.value)?;
            }
            Action::CreateKey => {
                // Resolved with its parent and name (plan::resolve_create_key).
                let (parent, name) = r.op.key.rsplit_once('\\').unwrap_or(("", &r.op.key));
                let k = key_rel(&edit, parent)?;
                edit.create_key(k, name)?;
            }
        }
    }
    let appended = edit.appended_bins();
    let bins = edit.hive_bins_size();
    let mut new = edit.into_buf();
    // Keep any slack the file had past the bins (never shrink the file).
    if new.len() < p.base().len() {
        new.extend_from_slice(&p.base()[new.len()..]);
    }
    let file = &p.files.primary.bytes;
    if new.len() < file.len() {
        new.extend_from_slice(&file[new.len()..]);
    }
    // The last-written timestamp stays as it is (Windows 8.1+ no longer
    // updates it; hive-write-safety.md 2.1, 5.5), except when an edit
    // changes a hive reconciled from an old-format log: such a log applies
    // to a primary with its own timestamp, so the write's log and the
    // in-flight primary get a later one (one tick later, in the base block
    // and in the first bin's copy, as Windows 7 writes both when it
    // reconciles) and the log the replay needed, which would turn a half
    // written body into neither hive, no longer applies once the primary is
    // marked. A write that only makes the reconciled hive clean (a rerun
    // finishing a stopped write) keeps it: every state then replays to the
    // same bins, whichever log applies.
    // Compared only when it matters (12 MB of memory traffic otherwise).
    let bins_changed = |new: &[u8]| -> Result<bool> {
        let was = BaseBlock::parse(p.base())?.hive_bins_size;
        let end = BASE_BLOCK_SIZE + bins as usize;
        Ok(was != bins || new.get(BASE_BLOCK_SIZE..end) != p.base().get(BASE_BLOCK_SIZE..end))
    };
    if p.old_format_replay && bins_changed(&new)? {
        later_timestamp(&mut new)?;
    }
    base_block::set_clean(&mut new[..BASE_BLOCK_SIZE], seq, bins);
    Ok((new, appended, seq))
}

/// Sets the last-written timestamp of `image` one tick (100 ns) later, in
/// the base block and in the first hive bin's copy of it.
fn later_timestamp(image: &mut [u8]) -> Result<()> {
    let bb = BaseBlock::parse(image)?;
    let stamp = bb.timestamp.checked_add(1).ok_or_else(|| Error::Invalid {
        what: "base block",
        offset: base_block::OFF_TIMESTAMP as u64,
        detail: "the last-written timestamp is at its maximum".into(),
    })?;
    put_u64(image, base_block::OFF_TIMESTAMP, stamp);
    let bin = BASE_BLOCK_SIZE;
    if image.get(bin..bin + 4) == Some(HBIN_SIGNATURE.as_slice()) {
        put_u64(image, bin + HBIN_OFF_TIMESTAMP, stamp);
    }
    Ok(())
}

/// A hive's structure check started on its own thread before the plan
/// (see [`plan_hives`]).
pub(crate) type EarlyCheck<'scope> = std::thread::ScopedJoinHandle<'scope, Result<CheckStats>>;

/// Plans and verifies each touched hive in memory: the new bytes per
/// hive (index into `prepared`), with the report's per-hive fields and
/// `checks` filled in. A raw-volume file that would have to grow is refused.
/// `early[i]`, where present, is the structure check of `prepared[i]`
/// already running (joined here); any other is run here.
pub(crate) fn plan_hives(
    prepared: &[Prepared],
    resolved: &[Resolved],
    finish: &[usize],
    hives: &mut [HiveOutcome],
    checks: &mut Vec<String>,
    with_tx: bool,
    early: &mut [Option<EarlyCheck<'_>>],
) -> Result<Planned> {
    let mut planned: Planned = Vec::new();
    let mut txs = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        let mine: Vec<&Resolved> = resolved.iter().filter(|r| r.op.hive == p.name).collect();
        if mine.is_empty() && !finish.contains(&i) {
            continue;
        }
        let path = &p.files.primary.path;
        let expects: Vec<Expect> = mine.iter().map(|r| r.expect.clone()).collect();
        let inplace: Option<Vec<u64>> = mine.iter().map(|r| r.change.file_offset).collect();
        // Edit, then verify the planned bytes while they are hashed on
        // another core (the hash goes into the manifest and the report).
        let file = &p.files.primary.bytes;
        let plan = |base_stats: Option<&CheckStats>| -> Result<_> {
            let (new, appended, seq) = apply(p, &mine).map_err(|e| e.in_file(path))?;
            let (done, sha, diff, tx) = std::thread::scope(|s| {
                let hasher = s.spawn(|| sha256_hex(&new));
                // Where the plan differs from the primary file, computed once:
                // the write uses it, and so does the in-place check when the
                // edit starts from the file itself (not a replayed image).
                let common = file.len().min(new.len());
                let diff = diff_ranges(&file[..common], &new[..common]);
                let own = (p.replayed.is_none() && file.len() == new.len()).then_some(&diff[..]);
                let done = verify_edit(
                    p.base(),
                    &new,
                    &expects,
                    inplace.as_deref(),
                    own,
                    base_stats,
                );
                // The transaction, planned while the hash (and the structure
                // check) still run; its outcome is used after the checks that
                // come before it (refuse_raw_limits).
                let tx = (with_tx && done.is_ok()).then(|| transaction(p, &new));
                (done, hasher.join().expect("hash thread"), diff, tx)
            });
            let done = done.map_err(|e| {
                Error::Refused(format!(
                    "the planned hive failed verification in memory, nothing written: {e}"
                ))
                .in_file(path)
            })?;
            Ok((new, appended, seq, done, sha, diff, tx))
        };
        // An in-place plan is verified without the original's walk, so the
        // structure check runs beside it; its edit is kept only if the check
        // passes. Any other plan needs the check's counts first.
        let started = early.get_mut(i).and_then(Option::take);
        let join = |h: EarlyCheck<'_>| h.join().expect("structure check thread");
        let (stats, planned_one) = match (started, inplace.is_some()) {
            (Some(check), true) => {
                let one = plan(None);
                (join(check), one)
            }
            (None, true) => std::thread::scope(|s| {
                let check = s.spawn(|| structure_check(p.base(), path));
                let one = plan(None);
                (join(check), one)
            }),
            (started, false) => {
                let stats = started.map_or_else(|| structure_check(p.base(), path), join)?;
                let one = plan(Some(&stats));
                (Ok(stats), one)
            }
        };
        let stats = stats?;
        checks.push(check_line(p.name, &stats));
        let (new, appended, seq, done, sha, diff, tx) = planned_one?;
        txs.push(tx);
        checks.extend(
            done.into_iter()
                .map(|c| format!("{}: in memory: {c}", p.name.as_str())),
        );
        let h = &mut hives[i];
        h.sequence_after = Some(seq);
        h.appended_bins = appended;
        h.planned_sha256 = Some(sha);
        planned.push(PlannedHive {
            index: i,
            new,
            diff,
            tx: None,
        });
    }
    refuse_raw_limits(prepared, &planned)?;
    attach_transactions(prepared, &mut planned, txs, checks)?;
    Ok(planned)
}

/// Gives each planned hive its transaction, planned beside its hash
/// (`None` where none was asked for), with its report line; the first
/// that failed is the error.
fn attach_transactions(
    prepared: &[Prepared],
    planned: &mut Planned,
    txs: Vec<Option<Result<TxChoice>>>,
    checks: &mut Vec<String>,
) -> Result<()> {
    for (ph, tx) in planned.iter_mut().zip(txs) {
        let Some(tx) = tx else { continue };
        let tx = tx?;
        checks.push(format!(
            "{}: transaction: {} ({} bytes), then the base block in flight, the body, the \
             completed base block; every stop in between loads as the original or the edited hive \
             (checked by replaying each state)",
            prepared[ph.index].name.as_str(),
            tx.plan.summary,
            tx.plan.writes.iter().map(|w| w.bytes.len()).sum::<usize>()
        ));
        ph.tx = Some(tx);
    }
    Ok(())
}

/// A file inside a raw NTFS volume cannot grow (ntrescue never changes
/// NTFS metadata) and can be written only where its data runs have
/// clusters: a plan that needs more is refused before any write (an
/// unfinished backup bundle is removed), and in a dry run too.
fn refuse_raw_limits(prepared: &[Prepared], planned: &Planned) -> Result<()> {
    for PlannedHive {
        index: i,
        new,
        diff,
        ..
    } in planned
    {
        let p = &prepared[*i];
        if let TargetInfo::Ntfs {
            size,
            path,
            extents,
            ..
        } = p.files.primary.origin.target()
        {
            if new.len() as u64 > size {
                let why = if p.replayed.is_some() {
                    "after replaying its transaction logs the hive"
                } else {
                    "with the new values the hive"
                };
                return Err(Error::refused(crate::error::Code::UnwritableFile, format!(
                    "{path}: {why} needs {:#x} bytes but the file on the raw NTFS volume holds {size:#x}; \
                     ntrescue never grows a file behind NTFS's back: mount the volume (ntfs-3g) and run on the mounted path",
                    new.len()
                )));
            }
            refuse_unmapped(
                &changed_spans_from(diff, p.files.primary.bytes.len(), new.len()),
                &extents,
                &path,
                p.replayed.is_some(),
            )?;
        }
    }
    Ok(())
}

/// [`changed_spans`] from the differing ranges of the common length
/// (`diff`) of an `old_len`-byte file and its `new_len`-byte plan.
pub(crate) fn changed_spans_from(
    diff: &[std::ops::Range<usize>],
    old_len: usize,
    new_len: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut all = diff.to_vec();
    if new_len > old_len {
        all.push(old_len..new_len);
    }
    join_ranges(all, WRITE_GAP)
}

/// The ranges where `new` differs from `old` (bytes past the end of `old`
/// count as changed), ranges closer than [`WRITE_GAP`] joined, as the
/// commit joins them.
#[cfg(test)]
pub(crate) fn changed_spans(old: &[u8], new: &[u8]) -> Vec<std::ops::Range<usize>> {
    /// Equal chunks are skipped whole; only a differing chunk is scanned.
    const CHUNK: usize = 4096;
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for (c, chunk) in new.chunks(CHUNK).enumerate() {
        let at = c * CHUNK;
        if old.get(at..at + chunk.len()) == Some(chunk) {
            continue;
        }
        for (j, b) in chunk.iter().enumerate() {
            let i = at + j;
            if old.get(i) == Some(b) {
                continue;
            }
            match out.last_mut() {
                Some(last) if i <= last.end.saturating_add(WRITE_GAP) => last.end = i + 1,
                _ => out.push(i..i + 1),
            }
        }
    }
    out
}

/// A file inside a raw NTFS volume can be written in place only where its
/// data runs map it to clusters: a byte the plan changes in a sparse hole,
/// or past the valid data length, is refused here, before any byte is
/// written (and in a dry run too), not half-way through the write.
fn refuse_unmapped(
    spans: &[std::ops::Range<usize>],
    extents: &[crate::storage::extent::Extent],
    path: &str,
    replayed: bool,
) -> Result<()> {
    for span in spans.iter().cloned() {
        let len = (span.end - span.start) as u64;
        if let Err(e) = crate::storage::extent::map(extents, span.start as u64, len) {
            let why = if replayed {
                "after replaying its transaction logs the hive changes"
            } else {
                "the new values change"
            };
            return Err(Error::refused(
                crate::error::Code::UnwritableFile,
                format!(
                "{path}: {why} bytes {:#x}..{:#x}, which have no allocated clusters on the raw \
                 NTFS volume ({e}); nothing written: mount the volume (ntfs-3g) and run on the \
                 mounted path",
                span.start, span.end
            ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::extent::Extent;

    /// The spans made from a difference computed once are the spans
    /// computed from the bytes, with growth past the old end.
    #[test]
    fn spans_from_a_precomputed_difference_match() {
        let old: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        for (edits, grow) in [
            (vec![], 0usize),
            (vec![10usize, 500, 2000, 9000, 9600], 0),
            (vec![0, 4095, 4096, 19_999], 3),
            (vec![5000], 700),
        ] {
            let mut new = old.clone();
            for e in &edits {
                new[*e] ^= 0x55;
            }
            new.extend(std::iter::repeat_n(7u8, grow));
            let common = old.len().min(new.len());
            let diff = diff_ranges(&old[..common], &new[..common]);
            assert_eq!(
                changed_spans_from(&diff, old.len(), new.len()),
                changed_spans(&old, &new),
                "{edits:?} +{grow}"
            );
        }
    }

    #[test]
    fn changed_spans_join_changes_within_a_sector() {
        let old = vec![0u8; 4096];
        let mut new = old.clone();
        new[10] = 1;
        new[500] = 1;
        new[2000] = 1;
        new.extend_from_slice(&[0, 0]);
        assert_eq!(
            changed_spans(&old, &new),
            vec![10..501, 2000..2001, 4096..4098]
        );
        assert!(changed_spans(&old, &old).is_empty());
    }

    /// A change that lands in a hole is refused with its range; one that
    /// lands on clusters passes.
    #[test]
    fn changes_in_a_hole_are_refused() {
        let ext = |f: u64, l: u64, d: u64| Extent {
            file_offset: f,
            length: l,
            device_offset: d,
        };
        // Clusters for 0..8192, a hole from 8192 to 16384.
        let extents = [ext(0, 8192, 1 << 20)];
        let old = vec![0u8; 16384];
        let mut ok = old.clone();
        ok[100] = 7;
        refuse_unmapped(&changed_spans(&old, &ok), &extents, "SYSTEM", true).unwrap();
        let mut bad = old.clone();
        bad[100] = 7;
        bad[9000] = 7;
        let e = refuse_unmapped(&changed_spans(&old, &bad), &extents, "SYSTEM", true).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Refused);
        assert!(e.to_string().contains("0x2328..0x2329"), "{e}");
        assert!(e.to_string().contains("replaying"), "{e}");
    }
}
