// SPDX-License-Identifier: GPL-2.0-or-later
//! The intent record of a backup bundle: what an in-place write is about to
//! put where, saved before the first target byte changes, and the state of
//! that write (in progress, finished, rolled back).
//!
//! With it, `restore` can tell a target that a stopped write of ours left
//! between its two states (every byte that differs from the original was
//! put there by one of the recorded writes, or is a zero the file grew by)
//! from a target someone else changed since, and restores the first without
//! `--force`.
//!
//! Bundle layout: beside each saved file `NAME`, `NAME.writes` holds the
//! bytes of every recorded write in order; the manifest lists each write's
//! offset and length and the SHA-256 of that file.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hive::name::HiveName;
use crate::util::bytes::diff_ranges;
use crate::util::digest::sha256_hex;

/// Suffix of the file holding a saved file's recorded write bytes.
pub const WRITES_SUFFIX: &str = ".writes";

/// Where an in-place write stands, as its bundle records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WriteState {
    /// The bundle is complete and the write may have started: the target
    /// holds the original, the result, or a mix of the recorded writes.
    InProgress,
    /// The write was read back and verified.
    Finished,
    /// The write failed and was put back and verified.
    RolledBack,
}

impl WriteState {
    /// The kebab-case name used in the manifest and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteState::InProgress => "in-progress",
            WriteState::Finished => "finished",
            WriteState::RolledBack => "rolled-back",
        }
    }
}

/// One write the run makes (or may make, on its rollback path) to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WriteRange {
    /// Offset in the target file.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
}

/// The recorded writes of one saved file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordedWrites {
    /// File inside the bundle holding the bytes of `ranges`, in order.
    pub file: String,
    /// SHA-256 of that file.
    pub sha256: String,
    /// The writes.
    pub ranges: Vec<WriteRange>,
    /// The file's length after the write (it may grow, by zeros first).
    pub length_after: u64,
}

/// The writes a fix plans for one file of one hive.
#[derive(Clone, Debug)]
pub struct PlannedFileWrites<'a> {
    /// The hive.
    pub hive: HiveName,
    /// "" for the primary file, else the log's file name.
    pub file: String,
    /// (offset, bytes) of every write, in order.
    pub writes: Vec<(u64, &'a [u8])>,
    /// The file's length after the write.
    pub length_after: u64,
    /// Where the file is, for a log the write creates (the bundle has no
    /// copy of it to take the place from).
    pub created: Option<crate::storage::target::TargetInfo>,
}

/// The writes that turn `before` into `after`: the differing ranges of
/// their common length, then whatever `after` adds past `before`'s end.
pub fn image_writes<'a>(before: &[u8], after: &'a [u8]) -> Vec<(u64, &'a [u8])> {
    let common = before.len().min(after.len());
    image_writes_from(
        &diff_ranges(&before[..common], &after[..common]),
        common,
        after,
    )
}

/// [`image_writes`] from the differing ranges of the common length
/// (`diff`, as [`diff_ranges`] gives them) already computed.
pub fn image_writes_from<'a>(
    diff: &[std::ops::Range<usize>],
    common: usize,
    after: &'a [u8],
) -> Vec<(u64, &'a [u8])> {
    let mut out: Vec<(u64, &[u8])> = diff
        .iter()
        .map(|r| (r.start as u64, &after[r.clone()]))
        .collect();
    if after.len() > common {
        out.push((common as u64, &after[common..]));
    }
    out
}

/// Writes `writes` (offset, bytes) for the saved file `backup_name` into
/// the bundle `dir` and returns its record. The caller flushes the
/// directory.
pub fn save(
    dir: &Path,
    backup_name: &str,
    writes: &[(u64, &[u8])],
    length_after: u64,
    write_synced: impl Fn(&Path, &[u8]) -> Result<()>,
) -> Result<RecordedWrites> {
    let mut bytes = Vec::new();
    let mut ranges = Vec::with_capacity(writes.len());
    for (offset, data) in writes {
        bytes.extend_from_slice(data);
        ranges.push(WriteRange {
            offset: *offset,
            length: data.len() as u64,
        });
    }
    let file = format!("{backup_name}{WRITES_SUFFIX}");
    write_synced(&dir.join(&file), &bytes)?;
    Ok(RecordedWrites {
        file,
        sha256: sha256_hex(&bytes),
        ranges,
        length_after,
    })
}

/// [`save`] of `writes` after the writes `earlier` recorded (a restore
/// run again after a stopped one: both may have left bytes in the target),
/// under a name of its own (`<backup_name>.<tag>`).
pub fn save_after(
    dir: &Path,
    name: &str,
    earlier: Option<&RecordedWrites>,
    writes: &[(u64, &[u8])],
    length_after: u64,
    write_synced: impl Fn(&Path, &[u8]) -> Result<()>,
) -> Result<RecordedWrites> {
    let Some(rec) = earlier else {
        return save(dir, name, writes, length_after, write_synced);
    };
    let bytes = load_bytes(dir, rec)?;
    let mut all: Vec<(u64, &[u8])> = Vec::with_capacity(rec.ranges.len() + writes.len());
    let mut from = 0usize;
    for r in &rec.ranges {
        let len = usize::try_from(r.length).map_err(|_| Error::Invalid {
            what: "recorded write",
            offset: r.offset,
            detail: "longer than this platform can hold".into(),
        })?;
        all.push((r.offset, &bytes[from..from + len]));
        from += len;
    }
    all.extend_from_slice(writes);
    save(
        dir,
        name,
        &all,
        length_after.max(rec.length_after),
        write_synced,
    )
}

/// Reads the recorded write bytes, checked against the manifest's hash.
fn load_bytes(dir: &Path, rec: &RecordedWrites) -> Result<Vec<u8>> {
    let p = dir.join(&rec.file);
    let bytes = fs::read(&p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
    let total = rec
        .ranges
        .iter()
        .try_fold(0u64, |acc, r| acc.checked_add(r.length));
    if sha256_hex(&bytes) != rec.sha256 || total != Some(bytes.len() as u64) {
        return Err(Error::Refused(format!(
            "{} does not match its manifest hash: the bundle is damaged",
            p.display()
        )));
    }
    Ok(bytes)
}

/// Whether `current` is a mix of `original` and the recorded writes (of
/// every record in `recs`: the fix's, and a stopped restore's): every byte
/// that differs from the original holds what one of the writes put there,
/// or (past the original's end, up to the longest length after a write) a
/// zero the file grew by.
pub fn only_recorded(
    dir: &Path,
    original: &[u8],
    current: &[u8],
    recs: &[&RecordedWrites],
) -> Result<bool> {
    let max_len = recs
        .iter()
        .fold(original.len() as u64, |m, r| m.max(r.length_after));
    if recs.is_empty() || current.len() as u64 > max_len || current.len() < original.len() {
        return Ok(false);
    }
    // Which bytes of `current` some state could have put there: first the
    // original (or a zero the file grew by), then each write over its
    // range. One pass over the file and one over the writes' bytes.
    let mut ours: Vec<bool> = current
        .iter()
        .enumerate()
        .map(|(p, &now)| original.get(p).map_or(now == 0, |&was| was == now))
        .collect();
    for rec in recs {
        mark_recorded(dir, rec, current, &mut ours)?;
    }
    Ok(ours.into_iter().all(|b| b))
}

/// Sets `ours[p]` for every byte of `current` that one of `rec`'s writes
/// put there.
fn mark_recorded(
    dir: &Path,
    rec: &RecordedWrites,
    current: &[u8],
    ours: &mut [bool],
) -> Result<()> {
    let bytes = load_bytes(dir, rec)?;
    let mut from = 0usize;
    for r in &rec.ranges {
        let (Ok(start), Ok(len)) = (usize::try_from(r.offset), usize::try_from(r.length)) else {
            return Ok(());
        };
        let data = &bytes[from..from + len];
        from += len;
        let end = start.saturating_add(len).min(current.len());
        for p in start.min(end)..end {
            if current[p] == data[p - start] {
                ours[p] = true;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(dir: &Path, writes: &[(u64, &[u8])], after: u64) -> RecordedWrites {
        save(dir, "f", writes, after, |p, b| {
            fs::write(p, b).map_err(|e| Error::io(String::from("test"), e))
        })
        .unwrap()
    }

    #[test]
    fn a_mix_of_recorded_writes_is_ours_and_anything_else_is_not() {
        let t = tempfile::tempdir().unwrap();
        let original = vec![1u8; 64];
        let rec = saved(
            t.path(),
            &[(8, &[7, 7, 7, 7]), (10, &[9, 9]), (64, &[5])],
            72,
        );
        let mut cur = original.clone();
        assert!(only_recorded(t.path(), &original, &cur, &[&rec]).unwrap());
        // Half of one write, the overlapping later write over the rest.
        cur[8] = 7;
        cur[11] = 9;
        assert!(only_recorded(t.path(), &original, &cur, &[&rec]).unwrap());
        // Growth: zeros, then the byte the write put past the old end.
        cur.extend_from_slice(&[5, 0, 0]);
        assert!(only_recorded(t.path(), &original, &cur, &[&rec]).unwrap());
        // A byte no write put there.
        let mut foreign = cur.clone();
        foreign[30] = 2;
        assert!(!only_recorded(t.path(), &original, &foreign, &[&rec]).unwrap());
        // A non-zero byte past the end that no write put there.
        let mut grown = cur.clone();
        grown[66] = 3;
        assert!(!only_recorded(t.path(), &original, &grown, &[&rec]).unwrap());
        // Longer than the write makes it, or shorter than the original.
        assert!(!only_recorded(t.path(), &original, &[1u8; 80], &[&rec]).unwrap());
        assert!(!only_recorded(t.path(), &original, &[1u8; 63], &[&rec]).unwrap());
    }

    #[test]
    fn a_damaged_record_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let rec = saved(t.path(), &[(0, &[1, 2])], 2);
        fs::write(t.path().join(&rec.file), [1u8, 3]).unwrap();
        assert!(only_recorded(t.path(), &[0, 0], &[1, 3], &[&rec]).is_err());
    }
}
