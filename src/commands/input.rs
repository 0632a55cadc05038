// SPDX-License-Identifier: GPL-2.0-or-later
//! A hive prepared for a read command, in one of two modes:
//!
//! - on demand (the default): the primary is read page by page as the
//!   navigator resolves the keys a command reports ([`crate::storage::lazy`]);
//!   every cell read is bounds- and type-checked by our navigator; a dirty
//!   hive's logs are read whole and replayed as an overlay. No hash of the
//!   primary, no structure walk, no second reader: they need every byte.
//! - whole (`--verify`): the primary is read whole and hashed, both readers
//!   cross-check every key and value, every bin and cell is walked, and a
//!   dirty hive's stored and replayed trees are compared.
//!
//! Both give the same values for the same hive; the report says which
//! checks ran (a `null` sha256 and structure mean "not read whole").

use std::path::Path;

use crate::error::Result;
use crate::format::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE};
use crate::format::regf::cell::{walk_bins, HiveBytes};
use crate::hive::reader::Reader;
use crate::hive::reconcile::{LazyReconciled, Reconciled, ReplayInfo};
use crate::report::{BaseBlockInfo, FileInfo, HiveReport, StructureInfo};
use crate::storage::source::{LazyHive, LoadedHive};

/// How a read command reads its hives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// Only the pages the report needs.
    #[default]
    OnDemand,
    /// Every byte: hashes, both readers, the full structure walk.
    Whole,
}

impl ReadMode {
    /// [`ReadMode::Whole`] when `whole` (`--verify`, or a flag that hashes).
    pub fn of(whole: bool) -> Self {
        if whole {
            ReadMode::Whole
        } else {
            ReadMode::OnDemand
        }
    }
}

/// A hive ready for a report.
pub struct HiveInput<'a> {
    /// The primary's path, for messages.
    pub path: &'a Path,
    /// File facts, base block and (whole mode) structure.
    pub hive: HiveReport,
    /// The primary's base block as stored.
    pub bb: BaseBlock,
    /// The primary as stored.
    pub stored: Reader<'a>,
    /// What Windows loads, when log data is replayed over the primary.
    pub replayed: Option<Reader<'a>>,
    /// What the replay did (a dirty hive).
    pub replay: Option<ReplayInfo>,
    /// Why the logs could not be replayed, if so.
    pub replay_error: Option<String>,
    /// Whether logs were found beside the primary.
    pub has_logs: bool,
    /// Whole mode: the stored and replayed images, for the tree comparison.
    pub images: Option<(&'a [u8], &'a [u8])>,
}

impl<'a> HiveInput<'a> {
    /// The view Windows loads: after replay, or as stored.
    pub fn loaded(&self) -> &Reader<'a> {
        self.replayed.as_ref().unwrap_or(&self.stored)
    }

    /// A hive read whole, reconciled by [`crate::hive::reconcile::reconcile`].
    pub fn whole(h: &'a LoadedHive, rec: &'a Result<Reconciled>) -> Result<Self> {
        let path = h.primary.path.as_path();
        let bytes = &h.primary.bytes[..];
        let bb = BaseBlock::parse(bytes).map_err(|e| e.in_file(path))?;
        let mut hive = HiveReport {
            file: FileInfo::from(&h.primary),
            logs: h.logs.iter().map(FileInfo::from).collect(),
            base_block: BaseBlockInfo::from(&bb),
            structure: Some(structure(bytes, bb.hive_bins_size)),
            max_sequence_seen: None,
        };
        let stored = Reader::new(bytes).map_err(|e| e.in_file(path))?;
        let (mut replayed, mut replay, mut replay_error, mut images) = (None, None, None, None);
        match rec {
            Ok(r) => {
                hive.max_sequence_seen = Some(r.sequences_seen.highest);
                replay = r.replay.clone();
                if let Some(image) = &r.image {
                    replayed = Some(Reader::new(image).map_err(|e| e.in_file(path))?);
                    images = Some((bytes, &image[..]));
                }
            }
            Err(e) => replay_error = Some(e.to_string()),
        }
        Ok(HiveInput {
            path,
            hive,
            bb,
            stored,
            replayed,
            replay,
            replay_error,
            has_logs: !h.logs.is_empty(),
            images,
        })
    }

    /// A hive read on demand, reconciled by
    /// [`crate::hive::reconcile::reconcile_lazy`].
    pub fn on_demand(h: &'a LazyHive, rec: &'a Result<LazyReconciled>) -> Result<Self> {
        let path = h.path.as_path();
        let head = h
            .image
            .range(0, BASE_BLOCK_SIZE.min(h.image.len()))
            .map_err(|e| e.in_file(path))?;
        let bb = BaseBlock::parse(head).map_err(|e| e.in_file(path))?;
        let mut hive = HiveReport {
            file: FileInfo::from(h),
            logs: h.logs.iter().map(FileInfo::from).collect(),
            base_block: BaseBlockInfo::from(&bb),
            structure: None,
            max_sequence_seen: None,
        };
        let stored = Reader::paged(&*h.image).map_err(|e| e.in_file(path))?;
        let (mut replayed, mut replay, mut replay_error) = (None, None, None);
        match rec {
            Ok(r) => {
                hive.max_sequence_seen = r.sequences_seen.map(|s| s.highest);
                replay = r.replay.clone();
                if let Some(o) = &r.image {
                    replayed = Some(Reader::paged(o).map_err(|e| e.in_file(path))?);
                }
            }
            Err(e) => replay_error = Some(e.to_string()),
        }
        Ok(HiveInput {
            path,
            hive,
            bb,
            stored,
            replayed,
            replay,
            replay_error,
            has_logs: !h.logs.is_empty(),
            images: None,
        })
    }
}

/// The full structure walk of every bin and cell.
fn structure(bytes: &[u8], hive_bins_size: u32) -> StructureInfo {
    match walk_bins(bytes, hive_bins_size) {
        Ok(s) => StructureInfo {
            ok: true,
            bins: s.bins,
            used_cells: s.used_cells,
            free_cells: s.free_cells,
            free_bytes: s.free_bytes,
            error: None,
        },
        Err(e) => StructureInfo {
            ok: false,
            error: Some(e.to_string()),
            ..Default::default()
        },
    }
}
