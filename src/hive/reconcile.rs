// SPDX-License-Identifier: GPL-2.0-or-later
//! The hive as Windows will load it.
//!
//! A clean primary is what Windows loads; its logs are ignored (only their
//! sequence numbers matter, for the next write). A dirty primary is replayed
//! from its logs in memory exactly as Windows does it ([`crate::format::regf::log`]).
//! Nothing here writes.

use serde::Serialize;

use crate::error::Result;
use crate::format::regf::base_block::BaseBlock;
use crate::format::regf::base_block::BASE_BLOCK_SIZE;
use crate::format::regf::cell::HiveBytes;
use crate::format::regf::log::{self, AppliedEntry, LogInput, LogSummary, SequencesSeen};
use crate::storage::lazy::Overlaid;
use crate::storage::source::{LazyHive, LoadedHive};

/// What the replay did, for reports.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ReplayInfo {
    /// Entries applied, in order.
    pub applied: Vec<AppliedEntry>,
    /// Why replay stopped early (Windows stops at the same place), if it did.
    pub stopped: Option<String>,
    /// What each log holds.
    pub logs: Vec<LogSummary>,
    /// Sequence number of the last applied entry.
    pub last_sequence: Option<u32>,
    /// Hive-bins size after replay.
    pub hive_bins_size: u32,
}

/// A hive reconciled with its logs.
pub struct Reconciled {
    /// The image after replay, when log data was applied (`None`: the
    /// primary file's bytes are what Windows loads).
    pub image: Option<Vec<u8>>,
    /// Replay details for a dirty hive (`None` for a clean one).
    pub replay: Option<ReplayInfo>,
    /// Sequence numbers in the primary, in every valid log base block and in
    /// every valid log entry (a write goes one above the highest).
    pub sequences_seen: SequencesSeen,
}

impl Reconciled {
    /// The bytes Windows will load.
    pub fn bytes<'a>(&'a self, hive: &'a LoadedHive) -> &'a [u8] {
        self.image.as_deref().unwrap_or(&hive.primary.bytes)
    }
}

/// The logs of `h` as recovery input, each named by its own file name
/// (`SYSTEM.LOG1`) whether it was read from a file system or from inside a
/// raw volume, so that replay reports read the same for every source.
pub fn log_inputs(h: &LoadedHive) -> Vec<LogInput<'_>> {
    h.logs
        .iter()
        .map(|l| LogInput {
            name: l.name.clone(),
            bytes: &l.bytes,
        })
        .collect()
}

/// Reconciles `h`. A primary whose base block is unusable is refused
/// (Windows would rebuild it from a log; ntrescue does not guess).
pub fn reconcile(h: &LoadedHive) -> Result<Reconciled> {
    let path = &h.primary.path;
    let bytes = &h.primary.bytes;
    let bb = BaseBlock::parse(bytes).map_err(|e| e.in_file(path))?;
    let inputs = log_inputs(h);
    if !bb.is_dirty() {
        return Ok(Reconciled {
            image: None,
            replay: None,
            sequences_seen: log::sequences_seen(bytes, &inputs).map_err(|e| e.in_file(path))?,
        });
    }
    let rec = log::recover(bytes, &inputs).map_err(|e| e.in_file(path))?;
    let after = BaseBlock::parse(&rec.hive).map_err(|e| e.in_file(path))?;
    let replayed = rec.replayed();
    Ok(Reconciled {
        replay: Some(ReplayInfo {
            applied: rec.applied,
            stopped: rec.stopped,
            logs: rec.logs,
            last_sequence: rec.last_sequence,
            hive_bins_size: after.hive_bins_size,
        }),
        image: replayed.then_some(rec.hive),
        sequences_seen: rec.sequences_seen,
    })
}

/// A hive read on demand, reconciled with its logs: for a dirty hive the
/// replayed pages laid over the lazy primary.
pub struct LazyReconciled {
    /// The as-loaded view when log data was applied (`None`: the primary's
    /// own pages are what Windows loads).
    pub image: Option<Overlaid>,
    /// Replay details for a dirty hive (`None` for a clean one).
    pub replay: Option<ReplayInfo>,
    /// As in [`Reconciled`]; `None` for a clean primary, whose logs are
    /// not read.
    pub sequences_seen: Option<SequencesSeen>,
}

impl LazyReconciled {
    /// The bytes Windows will load, read on demand.
    pub fn bytes<'a>(&'a self, hive: &'a LazyHive) -> &'a dyn HiveBytes {
        match &self.image {
            Some(o) => o,
            None => &*hive.image,
        }
    }
}

/// [`reconcile`] for a hive read on demand: only the base block of the
/// primary is read here (and the primary pages a log writes partly over);
/// the logs are replayed as an overlay ([`log::recover_overlay`]).
pub fn reconcile_lazy(h: &LazyHive) -> Result<LazyReconciled> {
    let path = &h.path;
    let head = h
        .image
        .range(0, BASE_BLOCK_SIZE.min(h.image.len()))
        .map_err(|e| e.in_file(path))?;
    let bb = BaseBlock::parse(head).map_err(|e| e.in_file(path))?;
    let inputs: Vec<LogInput<'_>> = h
        .logs
        .iter()
        .filter_map(crate::storage::source::LogFile::read)
        .map(|l| LogInput {
            name: l.name.clone(),
            bytes: &l.bytes,
        })
        .collect();
    if !bb.is_dirty() {
        // The logs of a clean primary are not read (see `LogFile`): their
        // sequence numbers are not known.
        let all_read = inputs.len() == h.logs.len();
        let seen = match all_read {
            true => Some(log::sequences_seen(head, &inputs).map_err(|e| e.in_file(path))?),
            false => None,
        };
        return Ok(LazyReconciled {
            image: None,
            replay: None,
            sequences_seen: seen,
        });
    }
    let (rec, overlay) =
        log::recover_overlay(head, h.image.len(), &inputs).map_err(|e| e.in_file(path))?;
    let after = BaseBlock::parse(&rec.hive).map_err(|e| e.in_file(path))?;
    let image = if rec.replayed() {
        Some(Overlaid::new(h.image.clone(), &rec.hive, &overlay).map_err(|e| e.in_file(path))?)
    } else {
        None
    };
    Ok(LazyReconciled {
        replay: Some(ReplayInfo {
            applied: rec.applied,
            stopped: rec.stopped,
            logs: rec.logs,
            last_sequence: rec.last_sequence,
            hive_bins_size: after.hive_bins_size,
        }),
        image,
        sequences_seen: Some(rec.sequences_seen),
    })
}
