// SPDX-License-Identifier: GPL-2.0-or-later
//! Backup bundles: byte-for-byte copies of a hive and its logs plus a
//! schema-versioned `manifest.json`, written and flushed before the first
//! byte of the target changes; and `restore`, which puts them back.
//!
//! Layout: `<root>/<UTC time>-<short id>/` holding the files under their
//! original names and `manifest.json` (written last: a bundle without a
//! manifest is incomplete and is never restored).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::commit::{write_verified, FileStore, HiveStore};
use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::source::LoadedFile;
use crate::timefmt::{now_compact, now_iso};

/// Schema tag of `manifest.json`.
pub const MANIFEST_SCHEMA: &str = "ntrescue-backup/v1";
/// Name of the manifest inside a bundle.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Default bundle root, relative to the working directory.
pub const DEFAULT_ROOT: &str = "ntrescue-backups";

/// One planned value change, as recorded and reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Hive ("SYSTEM").
    pub hive: String,
    /// Control set name.
    pub control_set: String,
    /// Key path inside the hive.
    pub key: String,
    /// Value name.
    pub value: String,
    /// Absolute file offset of the 4 data bytes.
    pub file_offset: u64,
    /// Old DWORD.
    pub old: u32,
    /// New DWORD.
    pub new: u32,
}

/// A file saved in the bundle.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedFile {
    /// "hive" or "log".
    pub role: String,
    /// Where it came from (absolute path).
    pub original_path: String,
    /// File name inside the bundle.
    pub backup_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the saved bytes.
    pub sha256: String,
}

/// Where the edited hive lives, so restore writes back to exactly it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetInfo {
    /// A regular file (hive file or file on a mounted volume).
    File {
        /// Absolute path.
        path: String,
    },
}

/// `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// ntrescue version that wrote it.
    pub tool_version: String,
    /// When (UTC).
    pub created: String,
    /// The operation, e.g. "nla disable".
    pub operation: String,
    /// The source the operator gave.
    pub source: String,
    /// The edited file.
    pub target: TargetInfo,
    /// Saved files (the hive first).
    pub files: Vec<SavedFile>,
    /// Planned changes.
    pub changes: Vec<Change>,
    /// SHA-256 of the hive before the write.
    pub before_sha256: String,
    /// SHA-256 the hive has after the write.
    pub expected_after_sha256: String,
}

fn io(ctx: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(ctx, e)
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = File::create_new(path).map_err(io(format!("creating {}", path.display())))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(io(format!("writing {}", path.display())))
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Persist the directory entries themselves (POSIX); not possible on Windows.
    if cfg!(unix) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("flushing directory {}", dir.display())))?;
    }
    Ok(())
}

/// Creates a bundle under `root` holding `hive` and `logs`, with `manifest`
/// (its `files` are filled in here). Every file is written, flushed and read
/// back against its hash; the manifest is written last. Returns the bundle
/// directory.
pub fn create(
    root: &Path,
    manifest: &mut Manifest,
    hive: &LoadedFile,
    logs: &[LoadedFile],
) -> Result<PathBuf> {
    fs::create_dir_all(root).map_err(io(format!("creating {}", root.display())))?;
    let id =
        &sha256_hex(format!("{}{}{}", hive.sha256, now_iso(), std::process::id()).as_bytes())[..8];
    let dir = root.join(format!("{}-{id}", now_compact()));
    fs::create_dir(&dir).map_err(io(format!("creating {}", dir.display())))?;
    manifest.files.clear();
    for (role, f) in std::iter::once(("hive", hive)).chain(logs.iter().map(|l| ("log", l))) {
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| role.to_string());
        let dest = dir.join(&name);
        write_synced(&dest, &f.bytes)?;
        let back = fs::read(&dest).map_err(io(format!("reading back {}", dest.display())))?;
        if sha256_hex(&back) != f.sha256 {
            return Err(Error::Invalid {
                what: "backup copy",
                offset: 0,
                detail: format!("{} does not read back as written", dest.display()),
            });
        }
        manifest.files.push(SavedFile {
            role: role.into(),
            original_path: absolute(&f.path),
            backup_name: name,
            size: f.bytes.len() as u64,
            sha256: f.sha256.clone(),
        });
    }
    let json = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
    write_synced(&dir.join(MANIFEST_NAME), &json)?;
    sync_dir(&dir)?;
    sync_dir(root)?;
    Ok(dir)
}

/// Absolute form of a path (for the manifest), without resolving links.
pub fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// A fresh manifest with the common fields filled in.
pub fn new_manifest(operation: &str, source: &str, target: TargetInfo) -> Manifest {
    Manifest {
        schema: MANIFEST_SCHEMA.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created: now_iso(),
        operation: operation.into(),
        source: source.into(),
        target,
        files: Vec::new(),
        changes: Vec::new(),
        before_sha256: String::new(),
        expected_after_sha256: String::new(),
    }
}

/// Reads and checks a bundle's manifest.
pub fn load(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_NAME);
    let text = fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| Error::Invalid {
        what: "backup manifest",
        offset: e.column() as u64,
        detail: format!("{}: {e}", path.display()),
    })?;
    if m.schema != MANIFEST_SCHEMA {
        return Err(Error::Unsupported {
            what: "backup manifest schema",
            offset: 0,
            detail: format!("{} (this ntrescue reads {MANIFEST_SCHEMA})", m.schema),
        });
    }
    Ok(m)
}

/// What happened to one file during restore.
#[derive(Clone, Debug, Serialize)]
pub struct RestoredFile {
    /// Target path.
    pub path: String,
    /// "restored", "unchanged" (already equal to the backup).
    pub action: &'static str,
    /// SHA-256 of the file now.
    pub sha256: String,
}

/// What `restore` did.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreReport {
    /// Bundle directory.
    pub backup: String,
    /// Operation the bundle was made for.
    pub operation: String,
    /// Per file.
    pub files: Vec<RestoredFile>,
    /// Whether `--force` was needed and given.
    pub forced: bool,
}

/// Puts the bundle in `dir` back byte-for-byte. Refuses (nothing written)
/// when a target no longer holds the state recorded after the write, unless
/// `force`.
pub fn restore(dir: &Path, force: bool) -> Result<RestoreReport> {
    let m = load(dir)?;
    let TargetInfo::File { path: target } = &m.target;
    // 1. Every saved file must be intact.
    let mut saved = Vec::new();
    for f in &m.files {
        let p = dir.join(&f.backup_name);
        let bytes = fs::read(&p).map_err(io(format!("reading {}", p.display())))?;
        if sha256_hex(&bytes) != f.sha256 || bytes.len() as u64 != f.size {
            return Err(Error::Refused(format!(
                "backup file {} does not match its manifest hash: the bundle is damaged",
                p.display()
            )));
        }
        saved.push((f, bytes));
    }
    // 2. Decide for every file before writing anything.
    let mut plan = Vec::new();
    let mut forced = false;
    for (f, bytes) in &saved {
        let path = PathBuf::from(&f.original_path);
        let current = fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
        let cur_sha = sha256_hex(&current);
        if cur_sha == f.sha256 {
            plan.push((path, current, None));
            continue;
        }
        let expected_now = if f.role == "hive" && &f.original_path == target {
            m.expected_after_sha256.clone()
        } else {
            f.sha256.clone()
        };
        if cur_sha != expected_now {
            if !force {
                return Err(Error::Refused(format!(
                    "{} changed since ntrescue wrote it (sha256 {cur_sha}, expected {expected_now}); \
                     restoring would discard those changes. Re-run with --force to restore anyway",
                    path.display()
                )));
            }
            forced = true;
        }
        plan.push((path, current, Some(bytes)));
    }
    // 3. Write back, verified, one file at a time.
    let mut files = Vec::new();
    for (path, current, want) in plan {
        let Some(want) = want else {
            files.push(RestoredFile {
                path: path.display().to_string(),
                action: "unchanged",
                sha256: sha256_hex(&current),
            });
            continue;
        };
        let mut store = FileStore::open(&path)?;
        if current.len() == want.len() {
            write_verified(&mut store, &current, want, &|_| Ok(()), dir)?;
        } else {
            // Size differs (only with --force): rewrite whole, then check.
            store.write_at(0, want)?;
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io(format!("opening {}", path.display())))?;
            f.set_len(want.len() as u64)
                .map_err(io(format!("truncating {}", path.display())))?;
            store.sync()?;
            if store.read_back()? != *want {
                return Err(Error::RollbackFailed(format!(
                    "{} does not read back as the backup after restore",
                    path.display()
                )));
            }
        }
        files.push(RestoredFile {
            path: path.display().to_string(),
            action: "restored",
            sha256: sha256_hex(want),
        });
    }
    Ok(RestoreReport {
        backup: dir.display().to_string(),
        operation: m.operation,
        files,
        forced,
    })
}
