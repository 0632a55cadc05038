// SPDX-License-Identifier: GPL-2.0-or-later
//! The one write protocol every fix goes through.
//!
//! Given the original bytes of a hive file and the planned new bytes (already
//! verified in memory by the caller), [`write_verified`]:
//! 1. with a transaction plan ([`crate::write::txlog`]): writes the log
//!    entry into the hive's transaction log and flushes it, reads the log
//!    back, then marks the primary's base block in flight (dirty, so that
//!    a loader replays the new entry) and flushes;
//! 2. writes only the byte ranges of the body that differ (growing the file
//!    first when the hive grew), flushes, then the completed base block
//!    (seq1 = seq2 = S, checksum last), flushes: Windows' own order, so a
//!    stop at any point loads, by the recovery rules our replay implements, as the original or
//!    the intended hive;
//! 3. reads the file back through a fresh handle (the bytes written from
//!    the storage, bypassing the OS page cache where the OS and file system
//!    allow; the whole file through the cache: [`HiveStore::read_back`])
//!    and requires it to equal the plan byte for byte (so it has the plan's
//!    SHA-256), then runs the caller's independent re-check;
//! 4. on any failure after the first byte was written, puts everything back
//!    in an order that keeps the same guarantee: the in-flight base block
//!    again, the original body, the original base block, then the log's
//!    original bytes; flushes, reads back and compares: [`Error::RolledBack`]
//!    when that succeeds, [`Error::RollbackFailed`] (naming the backup) when
//!    it does not.
//!
//! The caller must have written the backup bundle before calling this.
//! Storage is abstracted by [`HiveStore`], so a file on a mounted volume and
//! a file inside a raw NTFS volume use the same protocol.

use std::ops::Range;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::regf::base_block::{self, BASE_BLOCK_SIZE};
use crate::hive::name::HiveName;
use crate::storage::readback::ReadBack;
use crate::storage::store::HiveStore;
use crate::util::bytes::{diff_ranges, join_ranges, WRITE_GAP};
use crate::util::digest::sha256_hex;
use crate::write::outcome::WriteStats;
use crate::write::txlog::TxPlan;

/// Test-only fault injection (debug builds only): `NTRESCUE_FAULT` names
/// the points (comma-separated) where the write fails on purpose, to prove
/// the rollback (`rollback-fails`: and the rollback too).
pub fn fault(point: &str) -> bool {
    cfg!(debug_assertions)
        && std::env::var("NTRESCUE_FAULT").is_ok_and(|v| v.split(',').any(|p| p == point))
}

fn split_phases(ranges: &[Range<usize>]) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
    let mut body = Vec::new();
    let mut head = Vec::new();
    for r in ranges {
        if r.end <= BASE_BLOCK_SIZE {
            head.push(r.clone());
        } else if r.start >= BASE_BLOCK_SIZE {
            body.push(r.clone());
        } else {
            head.push(r.start..BASE_BLOCK_SIZE);
            body.push(BASE_BLOCK_SIZE..r.end);
        }
    }
    (body, head)
}

fn coalesce(ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    join_ranges(ranges, WRITE_GAP)
}

/// Sorted ranges with overlapping or touching ones merged.
fn coalesce_overlaps(ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    join_ranges(ranges, 0)
}

fn write_phases(
    store: &mut dyn HiveStore,
    src: &[u8],
    ranges: &[Range<usize>],
    inject: bool,
) -> Result<()> {
    let (body, head) = split_phases(ranges);
    let (body, head) = (coalesce(body), coalesce(head));
    for r in &body {
        store.write_at(r.start as u64, &src[r.clone()])?;
    }
    store.sync()?;
    if inject && fault("after-body") {
        return Err(Error::Invalid {
            what: "injected fault",
            offset: 0,
            detail: "NTRESCUE_FAULT=after-body".into(),
        });
    }
    for r in &head {
        store.write_at(r.start as u64, &src[r.clone()])?;
    }
    store.sync()
}

/// The transaction log of an in-place write: its plan, its bytes before,
/// and the store it is written through.
pub(crate) struct LogTarget<'a> {
    /// What goes into the log, and the in-flight base block.
    pub(crate) plan: TxPlan,
    /// The log's bytes as read (empty for a log the write creates).
    pub(crate) before: &'a [u8],
    /// Where it is written.
    pub(crate) store: Box<dyn HiveStore>,
    /// The write created this log (the hive had none): emptied again once
    /// every hive of the fix is written, so that no entry of it can ever be
    /// replayed over a hive later restored from the bundle.
    pub(crate) created: bool,
}

impl LogTarget<'_> {
    /// Writes the plan's log bytes, each write flushed before the next (a
    /// fresh log's base block goes last), and reads the log back.
    fn write(&mut self) -> Result<()> {
        if (self.before.len() as u64) < self.plan.log_len {
            self.store.set_len(self.plan.log_len)?;
        }
        for w in &self.plan.writes {
            self.store.write_at(w.at, &w.bytes)?;
            self.store.sync()?;
        }
        let want = self.plan.apply(self.before);
        let written: Vec<Range<u64>> = self
            .plan
            .writes
            .iter()
            .map(|w| w.at..w.at.saturating_add(w.bytes.len() as u64))
            .collect();
        let back = self.store.read_back(&want, &written)?;
        if let Some(offset) = back.differs_at {
            return Err(Error::Invalid {
                what: "log read-back",
                offset,
                detail: format!(
                    "{} does not read back as written ({}) from byte {offset:#x} on",
                    self.store.describe(),
                    back.path.describe()
                ),
            });
        }
        Ok(())
    }

    /// Puts the log's original bytes back (and its original length).
    fn put_back(&mut self) -> Result<bool> {
        let mut padded = self.before.to_vec();
        padded.resize(padded.len().max(self.plan.log_len as usize), 0);
        for w in &self.plan.writes {
            let (a, b) = (w.at as usize, w.at as usize + w.bytes.len());
            self.store.write_at(w.at, &padded[a..b])?;
        }
        self.store.sync()?;
        if (self.before.len() as u64) < self.plan.log_len {
            self.store.set_len(self.before.len() as u64)?;
            self.store.sync()?;
        }
        Ok(self.store.differs_from(self.before)?.is_none())
    }
}

fn injected(point: &'static str) -> Result<()> {
    if fault(point) {
        return Err(Error::Invalid {
            what: "injected fault",
            offset: 0,
            detail: format!("NTRESCUE_FAULT={point}"),
        });
    }
    Ok(())
}

/// An in-place write never shrinks a hive file.
fn refuse_shrink(original: &[u8], new: &[u8]) -> Result<()> {
    if new.len() < original.len() {
        return Err(Error::Unsupported {
            what: "in-place write",
            offset: new.len() as u64,
            detail: format!(
                "the hive file would shrink ({} -> {} bytes)",
                original.len(),
                new.len()
            ),
        });
    }
    Ok(())
}

/// Writes `new` over `original` in `store` and verifies it (see the module
/// docs). `verify` re-checks the bytes read back with an independent parser.
/// `backup` names the bundle holding the original, for error messages.
/// Without a log (restore, which puts a bundle's files back) the body and
/// base block are written in the same order, without the log entry.
pub fn write_verified(
    store: &mut dyn HiveStore,
    original: &[u8],
    new: &[u8],
    verify: &dyn Fn(&[u8]) -> Result<()>,
    backup: &Path,
) -> Result<WriteStats> {
    write_verified_hashed(store, original, new, &sha256_hex(new), verify, backup, None)
}

/// [`write_verified`] with the SHA-256 of `new` already computed, and the
/// transaction log when there is one.
pub(crate) fn write_verified_hashed(
    store: &mut dyn HiveStore,
    original: &[u8],
    new: &[u8],
    expected: &str,
    verify: &dyn Fn(&[u8]) -> Result<()>,
    backup: &Path,
    log: Option<&mut LogTarget<'_>>,
) -> Result<WriteStats> {
    write_verified_diffed(store, original, new, None, expected, verify, backup, log)
}

/// [`write_verified_hashed`] with the differing ranges of `original` and
/// `new` over their common length (`diff`, as [`diff_ranges`] gives them)
/// already computed by the plan, when it did.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_verified_diffed(
    store: &mut dyn HiveStore,
    original: &[u8],
    new: &[u8],
    diff: Option<&[Range<usize>]>,
    expected: &str,
    verify: &dyn Fn(&[u8]) -> Result<()>,
    backup: &Path,
    mut log: Option<&mut LogTarget<'_>>,
) -> Result<WriteStats> {
    refuse_shrink(original, new)?;
    // A longer result (a replayed hive that grew) is compared against the
    // original padded with the zeros the resize adds.
    let grows = new.len() > original.len();
    let base: std::borrow::Cow<'_, [u8]> = if grows {
        let mut p = original.to_vec();
        p.resize(new.len(), 0);
        p.into()
    } else {
        original.into()
    };
    let base = &base[..];
    let mut ranges = match diff {
        // Same length: the common length is all of it.
        Some(d) if !grows => d.to_vec(),
        _ => diff_ranges(base, new),
    };
    let inflight = log.as_ref().map(|l| l.plan.inflight.clone());
    if inflight.is_some() {
        // The completed base block rewrites the whole in-flight sector.
        ranges.insert(0, 0..base_block::HEADER_SIZE);
        ranges = coalesce_overlaps(ranges);
    }
    let mut state = Progress::default();
    let attempt = |store: &mut dyn HiveStore,
                   log: &mut Option<&mut LogTarget<'_>>,
                   state: &mut Progress|
     -> Result<ReadBack> {
        // Resize first: a store that cannot grow refuses before any byte is
        // written (raw volumes are refused earlier, in the plan). Zeros past
        // the hive bins are slack to every loader.
        if grows {
            store.set_len(new.len() as u64)?;
            state.primary = true;
        }
        // From here on a failure is rolled back and verified.
        state.primary = true;
        injected("after-backup")?;
        if let Some(l) = log.as_deref_mut() {
            state.log = true;
            l.write()?;
            injected("after-log")?;
        }
        if let Some(head) = &inflight {
            state.primary = true;
            state.marked = true;
            store.write_at(0, head)?;
            store.sync()?;
        }
        state.primary |= !ranges.is_empty();
        write_phases(store, new, &ranges, true)?;
        if fault("corrupt-after-write") {
            // Simulate the storage returning different bytes than written.
            let at = ranges.first().map_or(BASE_BLOCK_SIZE, |r| r.start);
            store.write_at(at as u64, &[new[at] ^ 0xFF])?;
            store.sync()?;
        }
        let written: Vec<Range<u64>> = ranges
            .iter()
            .map(|r| r.start as u64..r.end as u64)
            .collect();
        let back = read_back_as_planned(store, new, expected, &written)?;
        // What is stored is byte for byte `new`: re-parsing `new` re-parses it.
        verify(new)?;
        Ok(back)
    };
    match attempt(store, &mut log, &mut state) {
        Ok(back) => Ok(WriteStats {
            ranges: ranges.len(),
            bytes: ranges.iter().map(|r| r.len() as u64).sum(),
            after_sha256: back.sha256,
            read_back: Some(back.path),
        }),
        Err(cause) => {
            // The in-flight block goes back first only when it was written:
            // before that the log entry may be incomplete, and marking the
            // primary would make a stop load as neither state.
            let undo = Undo {
                base,
                len: original.len(),
                ranges: &ranges,
                inflight: inflight.as_deref().filter(|_| state.marked),
            };
            Err(rollback(store, log, &undo, state, cause, backup))
        }
    }
}

/// Byte equality of the stored file with the planned bytes, whose SHA-256
/// is `expected`, the `written` ranges read from the storage (not the page
/// cache) where the OS allows; the hash of what was read must be
/// `expected` too.
fn read_back_as_planned(
    store: &mut dyn HiveStore,
    new: &[u8],
    expected: &str,
    written: &[Range<u64>],
) -> Result<ReadBack> {
    let back = store.read_back(new, written)?;
    if let Some(offset) = back.differs_at {
        return Err(Error::Invalid {
            what: "read-back",
            offset,
            detail: format!(
                "the bytes read back ({}) differ from the {} planned bytes (sha256 {expected}) from byte \
                 {offset:#x} on",
                back.path.describe(),
                new.len()
            ),
        });
    }
    if back.sha256 != expected {
        return Err(Error::Invalid {
            what: "read-back",
            offset: 0,
            detail: format!(
                "the bytes read back hash to {}, the plan to {expected}",
                back.sha256
            ),
        });
    }
    Ok(back)
}

/// How far a write got: what a rollback must put back.
#[derive(Default, Clone, Copy)]
struct Progress {
    /// The log may have been written.
    log: bool,
    /// The primary may have been written.
    primary: bool,
    /// The in-flight base block may be on disk (only then does the log's
    /// entry stand for the primary; before it, the log may be incomplete).
    marked: bool,
}

/// What putting a primary back needs.
struct Undo<'a> {
    /// The original bytes, padded to the written length.
    base: &'a [u8],
    /// The original length.
    len: usize,
    /// The ranges that were written.
    ranges: &'a [Range<usize>],
    /// The in-flight base block, when the write had a log.
    inflight: Option<&'a [u8]>,
}

/// Puts the primary's original bytes back: the in-flight base block first
/// when the write had marked the primary (so that, with the complete log
/// entry, any stop still loads as the intended hive),
/// the original body, the original length, the original base block;
/// flushes, and reads back: true when it equals the original.
fn put_back(store: &mut dyn HiveStore, u: &Undo<'_>) -> Result<bool> {
    injected("rollback-fails")?;
    if let Some(head) = u.inflight {
        store.write_at(0, head)?;
        store.sync()?;
    }
    // Bytes past the original length go away with the truncation; only the
    // ranges inside it are written back.
    let inside: Vec<Range<usize>> = u
        .ranges
        .iter()
        .filter(|r| r.start < u.len)
        .map(|r| r.start..r.end.min(u.len))
        .collect();
    let (body, head) = split_phases(&inside);
    for r in coalesce(body) {
        store.write_at(r.start as u64, &u.base[r])?;
    }
    store.sync()?;
    if u.base.len() > u.len {
        store.set_len(u.len as u64)?;
        store.sync()?;
    }
    let mut head = coalesce(head);
    if u.inflight.is_some() {
        // The in-flight block covered the first sector: put all of it back.
        head.push(0..base_block::HEADER_SIZE);
        head = coalesce(head);
    }
    for r in head {
        store.write_at(r.start as u64, &u.base[r])?;
    }
    store.sync()?;
    Ok(store.differs_from(&u.base[..u.len])?.is_none())
}

/// Undoes a completed, verified write: `store` holds `written` and gets
/// `original` back (in the order of [`put_back`]), then the log its
/// original bytes. Used when a later hive of the same fix fails, so the
/// whole fix is undone.
pub(crate) fn undo(
    store: &mut dyn HiveStore,
    written: &[u8],
    original: &[u8],
    log: Option<&mut LogTarget<'_>>,
) -> Result<()> {
    // A write never shrinks the file, so `written` is at least as long.
    let mut base = original.to_vec();
    base.resize(written.len().max(original.len()), 0);
    let ranges = diff_ranges(&base[..written.len()], written);
    let inflight = log.as_ref().map(|l| l.plan.inflight.clone());
    let u = Undo {
        base: &base,
        len: original.len(),
        ranges: &ranges,
        inflight: inflight.as_deref(),
    };
    let primary_ok = put_back(store, &u)?;
    let log_ok = match log {
        Some(l) => l.put_back()?,
        None => true,
    };
    if primary_ok && log_ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            what: "undo",
            offset: 0,
            detail: format!(
                "{} still differs from its original bytes after writing them back",
                store.describe()
            ),
        })
    }
}

fn rollback(
    store: &mut dyn HiveStore,
    log: Option<&mut LogTarget<'_>>,
    u: &Undo<'_>,
    state: Progress,
    cause: Error,
    backup: &Path,
) -> Error {
    if !state.primary && !state.log {
        // Nothing was written: the cause stands as it is.
        return cause;
    }
    let what = store.describe();
    let primary = if state.primary {
        put_back(store, u)
    } else {
        Ok(true)
    };
    let log = match (log, state.log) {
        (Some(l), true) => l.put_back(),
        _ => Ok(true),
    };
    match (primary, log) {
        (Ok(true), Ok(true)) => Error::RolledBack(format!(
            "{what}: {cause}; the original bytes were written back and verified (sha256 {})",
            sha256_hex(&u.base[..u.len])
        )),
        (Ok(_), Ok(_)) => Error::RollbackFailed(format!(
            "{what}: {cause}; after writing the original bytes back the file or its log still \
             differs: restore it with `ntrescue restore {}`",
            backup.display()
        )),
        (Err(e), _) | (_, Err(e)) => Error::RollbackFailed(format!(
            "{what}: {cause}; rollback failed too ({e}): restore with `ntrescue restore {}`",
            backup.display()
        )),
    }
}

/// One hive's planned write: the plan and the store it goes through travel
/// together.
pub(crate) struct PlannedWrite<'a> {
    /// Index of the hive in the prepared list (and the report).
    pub(crate) index: usize,
    /// SYSTEM / SOFTWARE.
    pub(crate) name: HiveName,
    /// The file's bytes as read.
    pub(crate) original: &'a [u8],
    /// The verified plan.
    pub(crate) new: crate::util::buf::Buf,
    /// Where `new` differs from `original` over their common length, when
    /// the plan computed it.
    pub(crate) diff: Option<Vec<Range<usize>>>,
    /// SHA-256 of `new`.
    pub(crate) planned_sha256: String,
    /// Where it is written.
    pub(crate) store: Box<dyn HiveStore>,
    /// Its transaction log.
    pub(crate) log: Option<LogTarget<'a>>,
}

/// Writes every planned hive in turn through [`write_verified_hashed`],
/// re-checking each read-back with `verify`. When one fails, the hives
/// already written are put back (newest first) and verified:
/// [`Error::RolledBack`] naming them, or [`Error::RollbackFailed`] when one
/// cannot be put back. Returns each hive's write statistics, in order.
pub(crate) fn commit_all(
    writes: &mut [PlannedWrite<'_>],
    verify: &dyn Fn(usize, &[u8]) -> Result<()>,
    backup: &Path,
) -> Result<Vec<WriteStats>> {
    let mut stats = Vec::new();
    for k in 0..writes.len() {
        let w = &mut writes[k];
        let index = w.index;
        let check = |back: &[u8]| verify(index, back);
        match write_verified_diffed(
            w.store.as_mut(),
            w.original,
            &w.new,
            w.diff.as_deref(),
            &w.planned_sha256,
            &check,
            backup,
            w.log.as_mut(),
        ) {
            Ok(s) => stats.push(s),
            Err(e) => return Err(undo_written(&mut writes[..k], e, backup)),
        }
    }
    // Every primary is clean now: a log this write created holds nothing
    // any loader needs.
    for w in writes.iter_mut() {
        if let Some(l) = w.log.as_mut().filter(|l| l.created) {
            l.store.set_len(0)?;
            l.store.sync()?;
        }
    }
    Ok(stats)
}

/// After `failed`, puts back the hives in `written`, newest first.
fn undo_written(written: &mut [PlannedWrite<'_>], failed: Error, backup: &Path) -> Error {
    let mut notes = Vec::new();
    for w in written.iter_mut().rev() {
        match undo(w.store.as_mut(), &w.new, w.original, w.log.as_mut()) {
            Ok(()) => notes.push(format!(
                "{} was written, then put back and verified",
                w.name.as_str()
            )),
            Err(e2) => {
                return Error::RollbackFailed(format!(
                    "{failed}; restoring {} failed too ({e2}): run `ntrescue restore {}`",
                    w.name.as_str(),
                    backup.display()
                ))
            }
        }
    }
    match failed {
        Error::RollbackFailed(m) => Error::RollbackFailed(m),
        // Something was written and is now undone: the fix as a whole was
        // rolled back, whatever stopped the later hive.
        other if !notes.is_empty() => Error::RolledBack(format!(
            "{}; {}",
            match other {
                Error::RolledBack(m) => m,
                o => o.to_string(),
            },
            notes.join(", ")
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::readback::ReadPath;
    use crate::storage::store::first_difference;

    /// An in-memory store that can be told to corrupt what it returns.
    struct Mem {
        data: Vec<u8>,
        corrupt_reads: bool,
    }

    impl HiveStore for Mem {
        fn describe(&self) -> String {
            "mem".into()
        }
        fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
            self.data[offset as usize..offset as usize + data.len()].copy_from_slice(data);
            Ok(())
        }
        fn sync(&mut self) -> Result<()> {
            Ok(())
        }
        fn differs_from(&mut self, want: &[u8]) -> Result<Option<u64>> {
            let mut d = self.data.clone();
            if self.corrupt_reads && d != vec![0u8; d.len()] {
                d[5000] ^= 1;
            }
            Ok(first_difference(&d[..], want).unwrap())
        }
        fn read_back(&mut self, want: &[u8], _: &[Range<u64>]) -> Result<ReadBack> {
            let differs_at = self.differs_from(want)?;
            let mut d = self.data.clone();
            if self.corrupt_reads && d != vec![0u8; d.len()] {
                d[5000] ^= 1;
            }
            Ok(ReadBack {
                differs_at,
                sha256: crate::util::digest::sha256_hex(&d),
                path: ReadPath::Cached {
                    why: "memory".into(),
                },
            })
        }
    }

    #[test]
    fn diff_merges_adjacent_bytes() {
        let a = vec![0u8; 10000];
        let mut b = a.clone();
        b[10] = 1;
        b[11] = 1;
        b[9000] = 2;
        assert_eq!(diff_ranges(&a, &b), vec![10..12, 9000..9001]);
    }

    #[test]
    fn writes_body_then_header_and_verifies() {
        let orig = vec![0u8; 8192];
        let mut new = orig.clone();
        new[4] = 9;
        new[5000] = 7;
        let mut m = Mem {
            data: orig.clone(),
            corrupt_reads: false,
        };
        let st = write_verified(&mut m, &orig, &new, &|_| Ok(()), Path::new("b")).unwrap();
        assert_eq!((st.ranges, st.bytes), (2, 2));
        assert_eq!(m.data, new);
    }

    /// Prove the rollback: a store that reads back wrong bytes makes the
    /// write fail, and the original bytes are put back.
    #[test]
    fn mismatch_rolls_back() {
        let orig = vec![0u8; 8192];
        let mut new = orig.clone();
        new[4] = 9;
        let mut m = Mem {
            data: orig.clone(),
            corrupt_reads: true,
        };
        let e = write_verified(&mut m, &orig, &new, &|_| Ok(()), Path::new("b")).unwrap_err();
        assert!(matches!(e, Error::RolledBack(_)), "{e}");
        assert_eq!(m.data, orig);
    }

    impl Mem {
        fn grow_ok(&mut self, len: u64) {
            self.data.resize(len as usize, 0);
        }
    }

    /// A store that can resize: growth is written and rolled back by
    /// truncating to the original length.
    struct Growable(Mem);

    impl HiveStore for Growable {
        fn describe(&self) -> String {
            "growable".into()
        }
        fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
            self.0.write_at(offset, data)
        }
        fn sync(&mut self) -> Result<()> {
            Ok(())
        }
        fn differs_from(&mut self, want: &[u8]) -> Result<Option<u64>> {
            self.0.differs_from(want)
        }
        fn read_back(&mut self, want: &[u8], written: &[Range<u64>]) -> Result<ReadBack> {
            self.0.read_back(want, written)
        }
        fn set_len(&mut self, len: u64) -> Result<()> {
            self.0.grow_ok(len);
            Ok(())
        }
    }

    /// An 8 KiB file, its plan grown to 12 KiB (two bytes changed), and a
    /// resizable store holding the original.
    fn growth() -> (Vec<u8>, Vec<u8>, Growable) {
        let orig = vec![1u8; 8192];
        let mut new = orig.clone();
        new.resize(12288, 0);
        new[10000] = 5;
        new[4] = 2;
        let g = Growable(Mem {
            data: orig.clone(),
            corrupt_reads: false,
        });
        (orig, new, g)
    }

    #[test]
    fn growth_is_written_and_rolled_back() {
        let (orig, new, mut g) = growth();
        write_verified(&mut g, &orig, &new, &|_| Ok(()), Path::new("b")).unwrap();
        assert_eq!(g.0.data, new);
        let mut g = Growable(Mem {
            data: orig.clone(),
            corrupt_reads: false,
        });
        let bad = |_: &[u8]| Err(Error::Refused("recheck".into()));
        let e = write_verified(&mut g, &orig, &new, &bad, Path::new("b")).unwrap_err();
        assert!(matches!(e, Error::RolledBack(_)), "{e}");
        assert_eq!(g.0.data, orig);
        // A store that cannot resize refuses before writing anything.
        let mut m = Mem {
            data: orig.clone(),
            corrupt_reads: false,
        };
        let e = write_verified(&mut m, &orig, &new, &|_| Ok(()), Path::new("b")).unwrap_err();
        assert_eq!(e.code(), crate::error::Code::UnwritableFile, "{e}");
        assert_eq!(m.data, orig);
    }

    #[test]
    fn undo_puts_back_a_grown_file() {
        let (orig, new, mut g) = growth();
        write_verified(&mut g, &orig, &new, &|_| Ok(()), Path::new("b")).unwrap();
        assert_eq!(g.0.data, new);
        undo(&mut g, &new, &orig, None).unwrap();
        assert_eq!(g.0.data, orig);
        // A store that lies on read-back makes the undo fail loudly.
        let mut m = Mem {
            data: new[..8192].to_vec(),
            corrupt_reads: true,
        };
        assert!(undo(&mut m, &new[..8192], &orig, None).is_err());
    }

    #[test]
    fn ranges_within_a_sector_are_written_once() {
        assert_eq!(
            coalesce(vec![4..8, 8..12, 20..28, 508..512, 2000..2004]),
            vec![4..512, 2000..2004]
        );
    }

    #[test]
    fn failed_recheck_rolls_back() {
        let orig = vec![0u8; 8192];
        let mut new = orig.clone();
        new[6000] = 1;
        let mut m = Mem {
            data: orig.clone(),
            corrupt_reads: false,
        };
        let bad = |_: &[u8]| Err(Error::Refused("recheck".into()));
        let e = write_verified(&mut m, &orig, &new, &bad, Path::new("b")).unwrap_err();
        assert!(matches!(e, Error::RolledBack(_)));
        assert_eq!(m.data, orig);
    }
}
