// SPDX-License-Identifier: GPL-2.0-or-later
//! The four hives `diagnose` reads, each with its logs replayed in memory
//! as `inspect` does; SAM and SECURITY are found beside SYSTEM (in the same
//! config directory, or the same NTFS volume). A missing or unreadable hive
//! is a status with the reason, never an error.

use std::path::Path;

use crate::commands::input::ReadMode;
use crate::error::Result;
use crate::format::regf::base_block::BaseBlock;
use crate::hive::reader::Reader;
use crate::hive::reconcile::{reconcile, reconcile_lazy, LazyReconciled, Reconciled, ReplayInfo};
use crate::report::diagnose::HiveStatus;
use crate::report::FileInfo;
use crate::storage::lazy::ReadStats;
use crate::storage::source::{
    find_ci, find_logs, FileRef, HivePaths, LazyHive, LoadedHive, Located,
};
use crate::util::digest::HashAlg;

/// The files of a hive that was read, and its reconciliation.
enum Held {
    /// Read whole (`--verify`): both readers.
    Whole(LoadedHive, Option<Reconciled>),
    /// Read on demand.
    OnDemand(LazyHive, Option<LazyReconciled>),
}

/// A hive as Windows would load it, or why it is not there.
pub struct LoadedView {
    /// Its status for the report.
    pub status: HiveStatus,
    held: Option<Held>,
}

impl LoadedView {
    /// A reader of what Windows loads (the replayed image of a dirty hive),
    /// when the hive was read.
    pub fn reader(&self) -> Option<Result<Reader<'_>>> {
        Some(match self.held.as_ref()? {
            Held::Whole(files, rec) => Reader::new(match rec {
                Some(r) => r.bytes(files),
                None => &files.primary.bytes,
            }),
            Held::OnDemand(files, rec) => Reader::paged(match rec {
                Some(r) => r.bytes(files),
                None => &*files.image,
            }),
        })
    }

    /// The path of the primary file.
    pub fn path(&self) -> Option<&Path> {
        self.held.as_ref().map(|h| match h {
            Held::Whole(f, _) => f.primary.path.as_path(),
            Held::OnDemand(f, _) => f.path.as_path(),
        })
    }

    /// What was read of the hive and its logs.
    pub fn stats(&self) -> ReadStats {
        match &self.held {
            Some(Held::Whole(f, _)) => f.stats(),
            Some(Held::OnDemand(f, _)) => f.stats(),
            None => ReadStats::default(),
        }
    }

    fn missing(name: &'static str, why: String) -> Self {
        LoadedView {
            status: HiveStatus {
                name,
                path: None,
                state: "missing",
                view: None,
                note: Some(why),
                files: Vec::new(),
            },
            held: None,
        }
    }

    /// Fills [`HiveStatus::files`] with the primary and its logs and their
    /// digests `algs` (SHA-256 always), for a hive read whole.
    pub fn hash_files(&mut self, algs: &[HashAlg]) {
        if let Some(Held::Whole(f, _)) = &self.held {
            self.status.files = std::iter::once(&f.primary)
                .chain(&f.logs)
                .map(|l| FileInfo::hashed(l, algs))
                .collect();
        }
    }
}

/// The view and note of a hive after reconciling: `replayed` when log
/// data was applied, `replay` for a dirty hive, `Err` when replay failed.
fn view_of(
    reconciled: std::result::Result<(bool, Option<&ReplayInfo>), String>,
    no_logs: bool,
) -> (&'static str, Option<String>) {
    match reconciled {
        Ok((true, Some(info))) => (
            "after-replay",
            Some(format!(
                "dirty: read after replaying {} log entries, as Windows will load it",
                info.applied.len()
            )),
        ),
        Ok((_, Some(_))) => (
            "stored",
            Some(if no_logs {
                "dirty and no logs beside it: read as stored".to_string()
            } else {
                "dirty and its logs hold nothing to replay: read as stored".to_string()
            }),
        ),
        Ok(_) => ("stored", None),
        Err(e) => (
            "stored",
            Some(format!("its logs cannot be replayed ({e}): read as stored")),
        ),
    }
}

/// Reads the hive at `paths` (whole or on demand, by `mode`) and replays
/// its logs; any failure becomes the status (an unreadable base block, a
/// failed replay: read as stored).
pub fn load(name: &'static str, paths: Option<&HivePaths>, mode: ReadMode) -> LoadedView {
    let Some(paths) = paths else {
        return LoadedView::missing(name, format!("no {name} hive beside SYSTEM"));
    };
    let path = paths.primary.display().display().to_string();
    let unreadable = |e: String| LoadedView {
        status: HiveStatus {
            name,
            path: Some(path.clone()),
            state: "unreadable",
            view: None,
            note: Some(e),
            files: Vec::new(),
        },
        held: None,
    };
    let (held, (view, note)) = match mode {
        ReadMode::Whole => {
            let files = match LoadedHive::read(paths) {
                Ok(f) => f,
                Err(e) => return unreadable(e.to_string()),
            };
            if let Err(e) = BaseBlock::parse(&files.primary.bytes) {
                return unreadable(e.in_file(&files.primary.path).to_string());
            }
            let rec = reconcile(&files).map_err(|e| e.to_string());
            let vn = view_of(
                rec.as_ref()
                    .map(|r| (r.image.is_some(), r.replay.as_ref()))
                    .map_err(Clone::clone),
                files.logs.is_empty(),
            );
            (Held::Whole(files, rec.ok()), vn)
        }
        ReadMode::OnDemand => {
            let files = match LazyHive::open(paths) {
                Ok(f) => f,
                Err(e) => return unreadable(e.to_string()),
            };
            let rec = reconcile_lazy(&files).map_err(|e| e.to_string());
            let vn = view_of(
                rec.as_ref()
                    .map(|r| (r.image.is_some(), r.replay.as_ref()))
                    .map_err(Clone::clone),
                files.logs.is_empty(),
            );
            (Held::OnDemand(files, rec.ok()), vn)
        }
    };
    let mut v = LoadedView {
        status: HiveStatus {
            name,
            path: Some(path.clone()),
            state: "read",
            view: Some(view),
            note,
            files: Vec::new(),
        },
        held: Some(held),
    };
    if let Some(Err(e)) = v.reader() {
        let e = e.in_file(v.path().unwrap_or(Path::new(&path))).to_string();
        v = unreadable(e);
    }
    v
}

/// Where hive `name` (SAM, SECURITY) lives beside the SYSTEM hive of
/// `located`: in the same directory for files and trees, in the same
/// volume's config directory for raw disks. `Ok(None)` when it is absent.
pub fn beside_system(located: &Located, name: &str) -> Result<Option<HivePaths>> {
    Ok(beside_system_all(located, &[name])?.pop().flatten())
}

/// [`beside_system`] for each of `names`; on a raw disk the volume is
/// opened once, through the disk opened to locate Windows (its metadata is
/// not read again).
pub fn beside_system_all(located: &Located, names: &[&str]) -> Result<Vec<Option<HivePaths>>> {
    match &located.system.primary {
        FileRef::Path(p) => {
            let is_system = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("SYSTEM"));
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            names
                .iter()
                .map(|name| {
                    if !is_system {
                        return Ok(None);
                    }
                    let Some(hive) = find_ci(dir, name)?.filter(|h| h.is_file()) else {
                        return Ok(None);
                    };
                    let logs = find_logs(&hive)?.into_iter().map(FileRef::Path).collect();
                    Ok(Some(HivePaths {
                        primary: FileRef::Path(hive),
                        logs,
                    }))
                })
                .collect()
        }
        FileRef::Ntfs { .. } => crate::storage::source::sibling_hives(located, names),
    }
}
