// SPDX-License-Identifier: GPL-2.0-or-later
//! `restore` of one hive through Windows' own transaction protocol, so that
//! a stop at any moment of the restore leaves files that load as exactly
//! what the target held before the restore, or exactly the bundle's
//! original (hive-write-safety.md §5; the same protocol as a fix,
//! [`crate::write::txlog`]).
//!
//! Putting the bundle's bytes back in place file by file would leave, when
//! stopped half way, a clean base block over a body half fixed and half
//! original. Instead, for a hive whose primary differs from the bundle's:
//!
//! 1. **The original as Windows loads it, written clean through a log.**
//!    The bundle's primary and logs replayed in memory (for a clean
//!    original: the original itself), marked clean with a sequence number
//!    above every number in the target and the bundle (so that no entry
//!    left in the other log can continue its chain), is written as a fix
//!    writes: its pages as an entry in one of the target's logs, the
//!    primary marked in flight, the body, the completed base block. Every
//!    state a stop can leave is replayed in memory first and must load as
//!    what the target loads as now, or as the original.
//! 2. **The logs** get the bundle's bytes back (a log the fix created is
//!    removed): the primary is clean, so no loader reads them.
//! 3. **The primary's own bytes**: the original's base block first, then
//!    the body ranges that differ, then its length. For a clean original
//!    this only changes the sequence numbers back (the body is the same);
//!    for a dirty original, its base block makes the loader replay the
//!    original logs (now back in place) over a body that already holds
//!    every page they write, so every moment loads as the original; each
//!    body range left to write lies inside the pages the replay overwrites
//!    (checked in memory before anything is written).
//!
//! When no such plan passes the checks (the target's logs cannot take the
//! entry, or the files load as no hive), the files are put back directly,
//! primary first, and the report says so and why.
//!
//! Before the first byte changes, every write of steps 1 and 3 is recorded
//! in the bundle's manifest (`restore_writes`), so that a stopped restore
//! is recognised as ours, as a stopped fix is.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::format::regf::base_block::{self, BaseBlock, BASE_BLOCK_SIZE};
use crate::format::regf::log::{recover, recover_overlay, sequences_seen, LogInput};
use crate::storage::access::WriteAccess;
use crate::storage::target::{open_store, TargetInfo};
use crate::util::bytes::{diff_ranges, join_ranges, same, WRITE_GAP};
use crate::util::digest::sha256_hex;
use crate::write::commit::{write_verified, write_verified_hashed, LogTarget};
use crate::write::intent::image_writes;
use crate::write::txlog::{self, LogFile, TxPlan};

/// One file of a hive being restored.
pub(crate) struct FileBack {
    /// Where it is.
    pub(crate) target: TargetInfo,
    /// Its name in the bundle (`SYSTEM/SYSTEM.LOG1`).
    pub(crate) backup_name: String,
    /// A log the fix created: absent before it.
    pub(crate) created: bool,
    /// The target's bytes now; `None` for a log the fix created that is
    /// gone again.
    pub(crate) current: Option<Vec<u8>>,
    /// The bundle's copy.
    pub(crate) want: Vec<u8>,
}

impl FileBack {
    fn now(&self) -> &[u8] {
        self.current.as_deref().unwrap_or(&[])
    }

    fn name(&self) -> &str {
        self.backup_name.rsplit('/').next().unwrap_or_default()
    }

    /// Whether the file already holds the bundle's bytes (a created log:
    /// is absent).
    pub(crate) fn done(&self) -> bool {
        if self.created {
            self.current.is_none()
        } else {
            self.current.as_deref().is_some_and(|c| same(c, &self.want))
        }
    }
}

/// Step 1: the original as loaded, written clean through a log.
pub(crate) struct Step1 {
    /// The primary's bytes after it.
    pub(crate) image: Vec<u8>,
    /// Its transaction.
    pub(crate) tx: TxPlan,
}

/// Writes to one file: its index among the hive's files (the primary is
/// 0), (offset, bytes) in order, and its length after them.
pub(crate) type OwnWrites<'a> = (usize, Vec<(u64, &'a [u8])>, u64);

/// How one hive's files go back.
pub(crate) enum HivePlan {
    /// Through the protocol: step 1 when the primary differs (index of the
    /// log in the hive's files, counting the primary as 0).
    Protocol { step1: Option<(Step1, usize)> },
    /// Directly, file by file, primary first: why the protocol could not
    /// be used.
    Direct(String),
}

impl HivePlan {
    /// For the report.
    pub(crate) fn describe(&self) -> String {
        match self {
            HivePlan::Protocol { step1: None } => {
                "the primary already held the original; the logs put back".into()
            }
            HivePlan::Protocol {
                step1: Some((s, _)),
            } => format!(
                "through the transaction protocol: the original as Windows loads it written clean ({}), \
                 then the logs, then the original's own base block, body and length; every stop loads \
                 as the hive before the restore or the original",
                s.tx.summary
            ),
            HivePlan::Direct(why) => format!(
                "written back directly, not through a transaction log ({why}): a stop during the \
                 restore can leave a hive that loads as neither state; re-run restore"
            ),
        }
    }

    /// Every write to the target the plan makes that does not put back an
    /// original byte: per file (index into the hive's files), (offset,
    /// bytes) and the length after.
    pub(crate) fn own_writes<'a>(&'a self, files: &'a [FileBack]) -> Vec<OwnWrites<'a>> {
        let HivePlan::Protocol {
            step1: Some((s, log)),
        } = self
        else {
            return Vec::new();
        };
        let mut primary = image_writes(files[0].now(), &s.image);
        primary.push((0, &s.tx.inflight));
        let log_writes = s.tx.writes.iter().map(|w| (w.at, &w.bytes[..])).collect();
        vec![
            (0, primary, s.image.len() as u64),
            (*log, log_writes, s.tx.log_len),
        ]
    }
}

/// How many bytes a log can take without growing: `None` for a file on a
/// file system; inside a raw NTFS volume, what its data runs hold from the
/// start, at most its size.
fn room(t: &TargetInfo) -> Option<u64> {
    match t {
        TargetInfo::File { .. } => None,
        TargetInfo::Ntfs { size, extents, .. } => {
            let mut covered = 0u64;
            for e in extents {
                if e.file_offset != covered {
                    break;
                }
                covered = covered.saturating_add(e.length);
            }
            Some(covered.min(*size))
        }
    }
}

/// The loaded image of `primary` with `logs`, trimmed to its base block and
/// hive bins (what follows is slack to every loader).
fn loads_as(primary: &[u8], logs: &[LogInput<'_>]) -> Result<Vec<u8>> {
    let mut hive = recover(primary, logs)?.hive;
    let bb = BaseBlock::parse(&hive)?;
    let end = (BASE_BLOCK_SIZE + bb.hive_bins_size as usize).min(hive.len());
    hive.truncate(end);
    Ok(hive)
}

/// Plans the restore of one hive (`files[0]` its primary, then its logs).
pub(crate) fn plan(files: &[FileBack]) -> HivePlan {
    match plan_protocol(files) {
        Ok(p) => p,
        Err(why) => HivePlan::Direct(why),
    }
}

fn plan_protocol(files: &[FileBack]) -> std::result::Result<HivePlan, String> {
    let (p, logs) = files.split_first().ok_or("no primary in the bundle")?;
    let orig = &p.want[..];
    let cur = p.now();
    if cur == orig {
        // The logs alone: the primary already holds the original. A
        // clean original ignores its logs; a dirty one replays them, and
        // putting them back only stops a stopped fix's entry from applying.
        return Ok(HivePlan::Protocol { step1: None });
    }
    let o_logs: Vec<LogInput<'_>> = logs
        .iter()
        .filter(|l| !l.created)
        .map(|l| LogInput {
            name: l.name().to_string(),
            bytes: &l.want,
        })
        .collect();
    let present: Vec<&FileBack> = logs.iter().filter(|l| l.current.is_some()).collect();
    let c_logs: Vec<LogInput<'_>> = present
        .iter()
        .map(|l| LogInput {
            name: l.name().to_string(),
            bytes: l.now(),
        })
        .collect();
    fn err(what: &'static str) -> impl Fn(Error) -> String {
        move |e| format!("{what}: {e}")
    }
    let loaded_o = recover(orig, &o_logs)
        .map_err(err("the bundle's original does not load"))?
        .hive;
    let loaded_c = recover(cur, &c_logs)
        .map_err(err("the target's files do not load as a hive now"))?
        .hive;
    // Above every sequence number in the target and in the bundle.
    let (a, b) = (
        sequences_seen(cur, &c_logs).map_err(err("the target's sequence numbers"))?,
        sequences_seen(orig, &o_logs).map_err(err("the original's sequence numbers"))?,
    );
    let seen = crate::format::regf::log::SequencesSeen {
        lowest: a.lowest.min(b.lowest),
        highest: a.highest.max(b.highest),
    };
    let seq = seen.next_clean().map_err(|e| e.to_string())?;
    let bins = BaseBlock::parse(&loaded_o)
        .map_err(|e| e.to_string())?
        .hive_bins_size;
    let mut image = loaded_o.clone();
    base_block::set_clean(&mut image[..BASE_BLOCK_SIZE], seq, bins);
    // Never shorter than the file is now: past the bins is slack.
    if image.len() < cur.len() {
        image.extend_from_slice(&cur[image.len()..]);
    }
    let log_files: Vec<LogFile<'_>> = present
        .iter()
        .map(|l| LogFile {
            name: l.name().to_string(),
            bytes: l.now(),
            room: room(&l.target),
        })
        .collect();
    let tx = txlog::plan(cur, &loaded_c, &image, &log_files)
        .map_err(|e| e.to_string())?
        .ok_or("no log of the hive can hold the transaction")?;
    step3_is_safe(orig, &image, &o_logs).map_err(|e| e.to_string())?;
    // The chosen log's index among the hive's files (primary = 0).
    let name = &log_files[tx.log].name;
    let log = 1 + logs
        .iter()
        .position(|l| l.name() == name)
        .ok_or("the transaction log is not among the hive's files")?;
    Ok(HivePlan::Protocol {
        step1: Some((Step1 { image, tx }, log)),
    })
}

/// Step 3 turns `image` (clean, loading as the original) into `orig`: its
/// base block first, then the differing body ranges, then its length.
/// Every state in between must load, with the original logs, as the
/// original: the base block over the image's body, and the full body
/// before the cut; and each body range must lie inside the pages the
/// original's replay writes, so that any mix of the two bodies loads alike.
fn step3_is_safe(orig: &[u8], image: &[u8], o_logs: &[LogInput<'_>]) -> Result<()> {
    let want = loads_as(orig, o_logs)?;
    let refuse = |what: &str| {
        Err(Error::Refused(format!(
            "a stop after {what} while the original's own bytes are put back would not load as the \
             original"
        )))
    };
    let head = BASE_BLOCK_SIZE.min(orig.len());
    let mut state = image.to_vec();
    state[..head].copy_from_slice(&orig[..head]);
    if !same(&loads_as(&state, o_logs)?, &want) {
        return refuse("its base block");
    }
    let common = orig.len().min(image.len());
    let body: Vec<Range<usize>> = diff_ranges(&orig[..common], &image[..common])
        .into_iter()
        .filter_map(|r| (r.end > head).then(|| r.start.max(head)..r.end))
        .collect();
    if !body.is_empty() {
        let (_, overlay) = recover_overlay(&orig[..head], image.len(), o_logs)?;
        let covered: Vec<Range<usize>> = overlay
            .writes
            .iter()
            .map(|(at, b)| *at..at.saturating_add(b.len()))
            .collect();
        let inside = |r: &Range<usize>| {
            // Walk the range through the covered pieces.
            let mut at = r.start;
            while at < r.end {
                match covered.iter().find(|c| c.start <= at && at < c.end) {
                    Some(c) => at = c.end,
                    None => return false,
                }
            }
            true
        };
        if !body.iter().all(inside) {
            return refuse("part of its body");
        }
    }
    if image.len() > orig.len() {
        state[..common].copy_from_slice(&orig[..common]);
        if !same(&loads_as(&state, o_logs)?, &want) {
            return refuse("its body, before its length");
        }
    }
    Ok(())
}

/// Writes the plan: step 1 (rolled back on failure), the logs, step 3;
/// each file read back. `backup` names the bundle in messages.
pub(crate) fn write(
    access: &WriteAccess,
    files: &mut [FileBack],
    plan: &HivePlan,
    backup: &std::path::Path,
) -> Result<()> {
    let step1 = match plan {
        HivePlan::Direct(_) => {
            for f in files.iter_mut() {
                put_back(access, f, backup)?;
            }
            return Ok(());
        }
        HivePlan::Protocol { step1 } => step1,
    };
    let mut primary_now: Option<Vec<u8>> = None;
    if let Some((s, log)) = step1 {
        let (p, rest) = files.split_first_mut().expect("a primary");
        let l = &mut rest[log - 1];
        let before = l.now().to_vec();
        let mut store = open_store(access, &p.target)?;
        let mut target = LogTarget {
            plan: s.tx.clone(),
            before: &before,
            store: open_store(access, &l.target)?,
            created: false,
        };
        write_verified_hashed(
            store.as_mut(),
            p.now(),
            &s.image,
            &sha256_hex(&s.image),
            &|_| Ok(()),
            backup,
            Some(&mut target),
        )?;
        l.current = Some(s.tx.apply(&before));
        primary_now = Some(s.image.clone());
    }
    for f in files.iter_mut().skip(1) {
        put_back(access, f, backup)?;
    }
    if let Some(image) = primary_now {
        let p = &mut files[0];
        original_bytes(access, &p.target, &image, &p.want)?;
        p.current = Some(p.want.clone());
    }
    Ok(())
}

/// Step 3 on the primary: base block, body, length, read back.
fn original_bytes(access: &WriteAccess, t: &TargetInfo, image: &[u8], orig: &[u8]) -> Result<()> {
    let mut store = open_store(access, t)?;
    let head = BASE_BLOCK_SIZE.min(orig.len());
    store.write_at(0, &orig[..head])?;
    store.sync()?;
    let common = orig.len().min(image.len());
    // Ranges less than a sector apart written as one (the bytes between
    // are the same in both).
    let body = diff_ranges(&orig[..common], &image[..common])
        .into_iter()
        .filter(|r| r.end > head)
        .map(|r| r.start.max(head)..r.end)
        .collect();
    let mut written: Vec<std::ops::Range<u64>> = Vec::new();
    written.push(0..head as u64);
    for r in join_ranges(body, WRITE_GAP) {
        written.push(r.start as u64..r.end as u64);
        store.write_at(r.start as u64, &orig[r])?;
    }
    store.sync()?;
    if image.len() > orig.len() {
        store.set_len(orig.len() as u64)?;
        store.sync()?;
    }
    let back = store.read_back(orig, &written)?;
    if let Some(at) = back.differs_at {
        return Err(Error::RollbackFailed(format!(
            "{} does not read back as the backup after restore (from byte {at:#x} on)",
            store.describe()
        )));
    }
    Ok(())
}

/// One file put back directly: written and read back; a created log removed.
fn put_back(access: &WriteAccess, f: &mut FileBack, backup: &std::path::Path) -> Result<()> {
    if f.done() {
        return Ok(());
    }
    if f.created {
        if let TargetInfo::File { path } = &f.target {
            std::fs::remove_file(path).map_err(|e| Error::io(format!("removing {path}"), e))?;
            f.current = None;
            return Ok(());
        }
    }
    let mut store = open_store(access, &f.target)?;
    let (now, want) = (f.now(), &f.want[..]);
    if now.len() <= want.len() {
        write_verified(store.as_mut(), now, want, &|_| Ok(()), backup)?;
    } else {
        // Longer now (the fix grew it): rewrite it whole, then cut it.
        store.write_at(0, want)?;
        store.set_len(want.len() as u64)?;
        store.sync()?;
        if store.differs_from(want)?.is_some() {
            return Err(Error::RollbackFailed(format!(
                "{} does not read back as the backup after restore",
                store.describe()
            )));
        }
    }
    f.current = Some(f.want.clone());
    Ok(())
}
