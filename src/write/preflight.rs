// SPDX-License-Identifier: GPL-2.0-or-later
//! Step 4 of an in-place edit, before any byte is written: where the backup
//! bundle goes, and each target opened for writing after its preflight
//! checks (mounted or held open, hibernated, dirty volume, read-only,
//! changed since it was read).

use std::path::PathBuf;

use crate::error::{Code, Error, Result};
use crate::storage::access::WriteAccess;
use crate::storage::source::{hibernation_beside, in_windows_config, Located, SourceKind};
use crate::storage::store::HiveStore;
use crate::storage::target::open_store;
use crate::write::backup;
use crate::write::prepare::Prepared;

/// A hive to be written, with the store it will be written through.
pub(crate) struct Target {
    /// Index of the hive in the prepared list.
    pub(crate) index: usize,
    /// Its write handle, opened after the preflight checks.
    pub(crate) store: Box<dyn HiveStore>,
}

/// The backup root: `--backup-dir`, or the default, which must not be on
/// the volume being repaired when that volume is a mounted Windows tree (or
/// a hive file given by its path inside one).
pub(crate) fn backup_root(
    located: &Located,
    explicit: Option<&PathBuf>,
    prepared: &[Prepared],
    touched: &[usize],
) -> Result<PathBuf> {
    let root = explicit
        .cloned()
        .unwrap_or_else(|| PathBuf::from(backup::DEFAULT_ROOT));
    if explicit.is_some() {
        return Ok(root);
    }
    for &i in touched {
        let path = &prepared[i].files.primary.path;
        if on_windows_volume(located, path) {
            let probe = if root.exists() {
                root.clone()
            } else {
                PathBuf::from(".")
            };
            if crate::storage::os::same_filesystem(&probe, path) {
                return Err(Error::refused(Code::BackupOnTarget, format!(
                    "the default backup directory {} is on the volume being repaired; give --backup-dir on another disk",
                    root.display()
                )));
            }
        }
    }
    Ok(root)
}

/// A mounted Windows tree, or a hive file given by its path inside one.
fn on_windows_volume(located: &Located, path: &std::path::Path) -> bool {
    located.kind == SourceKind::MountedTree
        || (located.kind == SourceKind::HiveFile && in_windows_config(path))
}

/// Opens each touched hive for writing, after its preflight checks. Its
/// contents are compared with what was read by [`unchanged`].
pub(crate) fn open_targets(
    access: &WriteAccess,
    located: &Located,
    prepared: &[Prepared],
    touched: &[usize],
) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for &i in touched {
        let p = &prepared[i];
        let path = &p.files.primary.path;
        if on_windows_volume(located, path) {
            if let Some(sig) = hibernation_beside(path) {
                return Err(Error::refused(Code::Hibernated, format!(
                    "hiberfil.sys beside {} holds an active hibernation image ('{sig}'): Windows would resume \
                     from it and discard the edit. Boot Windows and shut it down fully (no Fast Startup), or \
                     remove the image first",
                    path.display()
                )));
            }
        }
        // Preflight checks and the write handle (raw volumes: not mounted,
        // not dirty, not hibernated, file writable in place).
        let store = open_store(access, &p.files.primary.origin.target())?;
        targets.push(Target { index: i, store });
    }
    Ok(targets)
}

/// Each opened target must still hold the bytes that were read and planned
/// from (read again through its write handle): anything else is refused
/// before the first byte is written.
pub(crate) fn unchanged(targets: &mut [Target], prepared: &[Prepared]) -> Result<()> {
    for t in targets {
        let f = &prepared[t.index].files.primary;
        // Test-only hook (debug builds): the target reads as changed.
        let injected = crate::write::commit::fault("target-changed");
        if t.store.differs_from(&f.bytes)?.is_some() || injected {
            return Err(Error::refused(
                Code::TargetChanged,
                format!(
                    "{} changed while ntrescue was planning; nothing written",
                    f.path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Before anything is opened for writing (a dry run runs it too): the
/// backup root (or the nearest directory above it that exists, where it
/// would be created) must be a directory this run can create a file in. A
/// probe file is created and removed there; nothing else is written. An
/// access the OS denies stays `permission-denied` ("run as root").
pub(crate) fn check_backup_root(access: &WriteAccess, root: &std::path::Path) -> Result<()> {
    let mut dir = root.to_path_buf();
    while !dir.exists() {
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
            _ => {
                dir = PathBuf::from(".");
                break;
            }
        }
    }
    let unwritable = |why: String| {
        Error::refused(
            Code::BackupUnwritable,
            format!(
                "the backup directory {} cannot be created or written ({why}): give --backup-dir on a writable disk",
                root.display()
            ),
        )
    };
    if !dir.is_dir() {
        return Err(unwritable(format!("{} is not a directory", dir.display())));
    }
    let probe = dir.join(format!(".ntrescue-probe-{}", std::process::id()));
    match crate::storage::store::FileStore::create(access, &probe) {
        Ok(store) => {
            drop(store);
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.code() == Code::PermissionDenied => Err(e),
        Err(e) => Err(unwritable(e.to_string())),
    }
}
