// SPDX-License-Identifier: GPL-2.0-or-later
//! The four hives `diagnose` reads, each with its logs replayed in memory
//! as `inspect` does; SAM and SECURITY are found beside SYSTEM (in the same
//! config directory, or the same NTFS volume). A missing or unreadable hive
//! is a status with the reason, never an error.

use std::path::Path;

use crate::error::Result;
use crate::format::regf::base_block::BaseBlock;
use crate::format::regf::log::find_log_files;
use crate::hive::reconcile::{reconcile, Reconciled};
use crate::report::diagnose::HiveStatus;
use crate::storage::disk::CONFIG_DIR;
use crate::storage::ntfs::Volume;
use crate::storage::source::{find_ci, find_logs, FileRef, HivePaths, LoadedHive, Located};

/// A hive as Windows would load it, or why it is not there.
pub struct LoadedView {
    /// Its status for the report.
    pub status: HiveStatus,
    files: Option<LoadedHive>,
    rec: Option<Reconciled>,
}

impl LoadedView {
    /// The bytes Windows loads (the replayed image of a dirty hive), when
    /// the hive was read.
    pub fn bytes(&self) -> Option<&[u8]> {
        let files = self.files.as_ref()?;
        Some(match &self.rec {
            Some(r) => r.bytes(files),
            None => &files.primary.bytes,
        })
    }

    /// The path of the primary file.
    pub fn path(&self) -> Option<&Path> {
        self.files.as_ref().map(|f| f.primary.path.as_path())
    }

    fn missing(name: &'static str, why: String) -> Self {
        LoadedView {
            status: HiveStatus {
                name,
                path: None,
                state: "missing",
                view: None,
                note: Some(why),
            },
            files: None,
            rec: None,
        }
    }
}

/// Reads the hive at `paths` and replays its logs; any failure becomes the
/// status (an unreadable base block, a failed replay: read as stored).
pub fn load(name: &'static str, paths: Option<&HivePaths>) -> LoadedView {
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
        },
        files: None,
        rec: None,
    };
    let files = match LoadedHive::read(paths) {
        Ok(f) => f,
        Err(e) => return unreadable(e.to_string()),
    };
    if let Err(e) = BaseBlock::parse(&files.primary.bytes) {
        return unreadable(e.in_file(&files.primary.path).to_string());
    }
    let (rec, view, note) = match reconcile(&files) {
        Ok(r) => {
            let (view, note) = match (&r.image, &r.replay) {
                (Some(_), Some(info)) => (
                    "after-replay",
                    Some(format!(
                        "dirty: read after replaying {} log entries, as Windows will load it",
                        info.applied.len()
                    )),
                ),
                (None, Some(_)) => (
                    "stored",
                    Some(if files.logs.is_empty() {
                        "dirty and no logs beside it: read as stored".to_string()
                    } else {
                        "dirty and its logs hold nothing to replay: read as stored".to_string()
                    }),
                ),
                _ => ("stored", None),
            };
            (Some(r), view, note)
        }
        Err(e) => (
            None,
            "stored",
            Some(format!("its logs cannot be replayed ({e}): read as stored")),
        ),
    };
    if let Err(e) = crate::hive::reader::Reader::new(match &rec {
        Some(r) => r.bytes(&files),
        None => &files.primary.bytes,
    }) {
        return unreadable(e.in_file(&files.primary.path).to_string());
    }
    LoadedView {
        status: HiveStatus {
            name,
            path: Some(path),
            state: "read",
            view: Some(view),
            note,
        },
        files: Some(files),
        rec,
    }
}

/// Where hive `name` (SAM, SECURITY) lives beside the SYSTEM hive of
/// `located`: in the same directory for files and trees, in the same
/// volume's config directory for raw disks. `Ok(None)` when it is absent.
pub fn beside_system(located: &Located, name: &str) -> Result<Option<HivePaths>> {
    match &located.system.primary {
        FileRef::Path(p) => {
            let is_system = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("SYSTEM"));
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
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
        }
        FileRef::Ntfs {
            disk,
            partition,
            serial,
            ..
        } => {
            let file = std::fs::File::open(disk)
                .map_err(|e| crate::Error::io(format!("opening {}", disk.display()), e))?;
            let mut vol = Volume::open(file, partition.start, partition.length)?;
            let listing = vol.list(CONFIG_DIR)?;
            let Some(real) = listing.iter().find(|n| n.eq_ignore_ascii_case(name)) else {
                return Ok(None);
            };
            let mut at = |file: &str| -> Result<Option<FileRef>> {
                let path = format!(r"{CONFIG_DIR}\{file}");
                Ok(match vol.find(&path)? {
                    Some(rec) => Some(FileRef::Ntfs {
                        disk: disk.clone(),
                        partition: partition.clone(),
                        serial: *serial,
                        loc: Box::new(vol.locate(rec, &path)?),
                    }),
                    None => None,
                })
            };
            let Some(primary) = at(real)? else {
                return Ok(None);
            };
            let mut logs = Vec::new();
            for (_, log) in find_log_files(&listing, real).iter() {
                if let Some(l) = at(log)? {
                    logs.push(l);
                }
            }
            Ok(Some(HivePaths { primary, logs }))
        }
    }
}
