// SPDX-License-Identifier: GPL-2.0-or-later
//! Backup bundles: byte-for-byte copies of a hive and its logs plus a
//! schema-versioned `manifest.json`, written and flushed before the first
//! byte of the target changes; and `restore`, which puts them back.
//!
//! Layout: `<root>/<UTC time>-<short id>/` holding the files under their
//! original names and `manifest.json` (written last: a bundle without a
//! manifest is incomplete and is never restored).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};
use crate::hive::name::HiveName;
use crate::report::{Tool, SCHEMA, TOOL};
use crate::storage::access::WriteAccess;
use crate::storage::disk::{scan, Disk};
use crate::storage::source::LoadedHive;
use crate::storage::target::{read_current, TargetInfo};
use crate::util::digest::sha256_hex;
use crate::util::time::{now_compact, now_iso};
use crate::write::intent::{self, PlannedFileWrites, RecordedWrites, WriteState};
use crate::write::outcome::Change;
use crate::write::restore::{self, FileBack};

/// Schema tag of `manifest.json`.
pub const MANIFEST_SCHEMA: &str = "ntrescue-backup/v1";
/// Name of the manifest inside a bundle.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Default bundle root, relative to the working directory.
pub const DEFAULT_ROOT: &str = "ntrescue-backups";

/// What a saved file is to its hive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileRole {
    /// The primary hive file.
    Hive,
    /// A transaction log.
    Log,
}

impl FileRole {
    /// "hive" / "log".
    pub fn as_str(self) -> &'static str {
        match self {
            FileRole::Hive => "hive",
            FileRole::Log => "log",
        }
    }
}

/// A file saved in the bundle.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SavedFile {
    /// The hive file or one of its logs.
    pub role: FileRole,
    /// Where it came from (for messages).
    pub original_path: String,
    /// Where it lives, to write it back to exactly the same place.
    pub target: TargetInfo,
    /// File name inside the bundle.
    pub backup_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the saved bytes.
    pub sha256: String,
    /// SHA-256 the file has after the write, for a log the write changes
    /// (its transaction entry); absent when the write leaves it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_after_sha256: Option<String>,
    /// The writes an in-place fix makes to this file (the intent record:
    /// [`crate::write::intent`]); absent when it writes nothing here, and
    /// in bundles of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<RecordedWrites>,
    /// The fix created this log (the hive had none beside it): its
    /// before-state is "absent", and `restore` removes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    /// The writes a `restore` of this bundle makes to this file, recorded
    /// before its first byte changes, so that a stopped restore is told
    /// apart from someone else's change as a stopped fix is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_writes: Option<RecordedWrites>,
}

impl SavedFile {
    /// Every recorded write to this file: the fix's, then a restore's.
    pub fn records(&self) -> Vec<&RecordedWrites> {
        self.writes.iter().chain(&self.restore_writes).collect()
    }
}

/// One edited hive in a bundle.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HiveBackup {
    /// SYSTEM / SOFTWARE.
    pub name: HiveName,
    /// Saved files: the hive first, then its logs.
    pub files: Vec<SavedFile>,
    /// SHA-256 of the hive before the write.
    pub before_sha256: String,
    /// SHA-256 the hive has after the write.
    pub expected_after_sha256: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The edited hives.
    pub hives: Vec<HiveBackup>,
    /// Planned changes.
    pub changes: Vec<Change>,
    /// Where the write stands: `in-progress` from before the first target
    /// byte changes, `finished` after the read-back, `rolled-back`. Absent
    /// in bundles of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<WriteState>,
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

/// Whether the file at `path` holds exactly `want`, compared a chunk at a
/// time (no second copy of a large hive in memory).
fn reads_back_as(path: &Path, want: &[u8]) -> std::io::Result<bool> {
    use std::io::Read;
    let mut f = File::open(path)?;
    if f.metadata()?.len() != want.len() as u64 {
        return Ok(false);
    }
    let mut buf = vec![0u8; (1 << 20).min(want.len().max(1))];
    for chunk in want.chunks(buf.len()) {
        let got = &mut buf[..chunk.len()];
        f.read_exact(got)?;
        if !crate::util::bytes::same(got, chunk) {
            return Ok(false);
        }
    }
    Ok(f.read(&mut [0u8; 1])? == 0)
}

/// A bundle whose copies are written and verified but whose manifest is
/// not yet: not restorable until [`Copies::finish`] writes it. Made before
/// the plan is final so the copies are flushed while the plan is checked.
#[derive(Debug)]
pub struct Copies {
    root: PathBuf,
    root_created: bool,
    dir: PathBuf,
    files: Vec<(HiveName, Vec<SavedFile>)>,
}

/// Writes every hive of `hives` with its logs into a new bundle directory
/// under `root`: each file written, flushed and read back against the bytes
/// whose SHA-256 the manifest will record.
pub fn write_copies(
    _: &WriteAccess,
    root: &Path,
    hives: &[(HiveName, &LoadedHive)],
) -> Result<Copies> {
    let root_created = !root.exists();
    fs::create_dir_all(root).map_err(io(format!("creating {}", root.display())))?;
    let seed: String = hives
        .iter()
        .map(|(_, h)| h.primary.sha256.as_str())
        .collect();
    let id = &sha256_hex(format!("{seed}{}{}", now_iso(), std::process::id()).as_bytes())[..8];
    let dir = root.join(format!("{}-{id}", now_compact()));
    fs::create_dir(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let mut copies = Copies {
        root: root.to_path_buf(),
        root_created,
        dir,
        files: Vec::new(),
    };
    match copies.write(hives) {
        Ok(()) => Ok(copies),
        Err(e) => {
            copies.discard();
            Err(e)
        }
    }
}

impl Copies {
    fn write(&mut self, hives: &[(HiveName, &LoadedHive)]) -> Result<()> {
        let dir = &self.dir;
        for (name, loaded) in hives {
            let sub = name.as_str();
            fs::create_dir(dir.join(sub))
                .map_err(io(format!("creating {}/{sub}", dir.display())))?;
            let mut saved = Vec::new();
            for (role, f) in std::iter::once((FileRole::Hive, &loaded.primary))
                .chain(loaded.logs.iter().map(|l| (FileRole::Log, l)))
            {
                let name = if f.name.is_empty() {
                    role.as_str().to_string()
                } else {
                    f.name.clone()
                };
                let rel = format!("{sub}/{name}");
                let dest = dir.join(&rel);
                write_synced(&dest, &f.bytes)?;
                // Byte equality with the bytes whose SHA-256 the manifest records.
                let same = reads_back_as(&dest, &f.bytes)
                    .map_err(io(format!("reading back {}", dest.display())))?;
                if !same {
                    return Err(Error::Invalid {
                        what: "backup copy",
                        offset: 0,
                        detail: format!("{} does not read back as written", dest.display()),
                    });
                }
                saved.push(SavedFile {
                    role,
                    original_path: f.path.display().to_string(),
                    target: f.origin.target(),
                    backup_name: rel,
                    size: f.bytes.len() as u64,
                    sha256: f.sha256.clone(),
                    expected_after_sha256: None,
                    writes: None,
                    created: false,
                    restore_writes: None,
                });
            }
            sync_dir(&dir.join(sub))?;
            self.files.push((*name, saved));
        }
        Ok(())
    }

    /// Writes `manifest` (its `hives` filled in from `hives` and the saved
    /// files, its state `in-progress`), flushed last: the bundle is complete.
    /// Returns its directory. `logs_after` names the logs the write changes
    /// (hive, file name, their SHA-256 after the write); `writes` is the
    /// intent record: every write the fix may make to each file (hive, file
    /// name, (offset, bytes), the file's length after).
    pub fn finish(
        self,
        manifest: &mut Manifest,
        hives: Vec<HiveBackup>,
        logs_after: &[(HiveName, String, String)],
        writes: &[PlannedFileWrites<'_>],
    ) -> Result<PathBuf> {
        match self.fill(manifest, hives, logs_after, writes) {
            Ok(()) => {}
            Err(e) => {
                self.discard();
                return Err(e);
            }
        }
        manifest.state = Some(WriteState::InProgress);
        let done = store_manifest(&self.dir, manifest).and_then(|()| sync_dir(&self.root));
        match done {
            Ok(()) => Ok(self.dir),
            Err(e) => {
                // Nothing has touched the target yet: a bundle without its
                // manifest could not be restored from, so it goes.
                self.discard();
                Err(e)
            }
        }
    }

    fn fill(
        &self,
        manifest: &mut Manifest,
        hives: Vec<HiveBackup>,
        logs_after: &[(HiveName, String, String)],
        writes: &[PlannedFileWrites<'_>],
    ) -> Result<()> {
        manifest.hives.clear();
        for mut hb in hives {
            let Some((_, files)) = self.files.iter().find(|(n, _)| *n == hb.name) else {
                return Err(Error::Invalid {
                    what: "backup bundle",
                    offset: 0,
                    detail: format!("no copy of {} was written", hb.name.as_str()),
                });
            };
            hb.files = files.clone();
            for f in &mut hb.files {
                let name = f.backup_name.rsplit('/').next().unwrap_or_default();
                f.expected_after_sha256 = logs_after
                    .iter()
                    .find(|(h, n, _)| *h == hb.name && n == name)
                    .map(|(_, _, sha)| sha.clone());
                let file_name = if f.role == FileRole::Hive { "" } else { name };
                if let Some(w) = writes
                    .iter()
                    .find(|w| w.hive == hb.name && w.file == file_name)
                {
                    f.writes = Some(intent::save(
                        &self.dir,
                        &f.backup_name,
                        &w.writes,
                        w.length_after,
                        write_synced,
                    )?);
                }
            }
            // A log the write creates: saved as an empty file (its
            // before-state is "absent"), with its writes.
            for w in writes.iter().filter(|w| w.hive == hb.name) {
                let Some(target) = &w.created else { continue };
                let rel = format!("{}/{}", hb.name.as_str(), w.file);
                write_synced(&self.dir.join(&rel), &[])?;
                let empty = sha256_hex(&[]);
                hb.files.push(SavedFile {
                    role: FileRole::Log,
                    original_path: target.describe(),
                    target: target.clone(),
                    backup_name: rel.clone(),
                    size: 0,
                    sha256: empty.clone(),
                    // Emptied again once every hive of the fix is written.
                    expected_after_sha256: Some(empty),
                    writes: Some(intent::save(
                        &self.dir,
                        &rel,
                        &w.writes,
                        w.length_after,
                        write_synced,
                    )?),
                    created: true,
                    restore_writes: None,
                });
            }
            manifest.hives.push(hb);
        }
        let subs: Vec<PathBuf> = manifest
            .hives
            .iter()
            .map(|h| self.dir.join(h.name.as_str()))
            .collect();
        subs.iter().try_for_each(|d| sync_dir(d))
    }

    /// Removes the unfinished bundle (the plan was refused after the copies
    /// were made), and the bundle root if this run created it and it is
    /// empty. Best effort: a leftover has no manifest and is not restorable.
    pub fn discard(self) {
        let _ = fs::remove_dir_all(&self.dir);
        if self.root_created {
            let _ = fs::remove_dir(&self.root);
        }
    }
}

/// A fresh manifest with the common fields filled in.
pub fn new_manifest(operation: &str, source: &str) -> Manifest {
    Manifest {
        schema: MANIFEST_SCHEMA.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created: now_iso(),
        operation: operation.into(),
        source: source.into(),
        hives: Vec::new(),
        changes: Vec::new(),
        state: None,
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

/// Records `state` in the bundle's manifest.
pub fn mark(dir: &Path, state: WriteState) -> Result<()> {
    let mut m = load(dir)?;
    m.state = Some(state);
    store_manifest(dir, &m)
}

/// Writes `m` as the bundle's manifest: beside it first, flushed, then
/// renamed into place and the directory flushed, so that a stop leaves no
/// manifest, the previous one, or the new one, never a torn one.
fn store_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let json = serde_json::to_vec_pretty(m).expect("manifest serialises");
    let tmp = dir.join(format!("{MANIFEST_NAME}.new"));
    let _ = fs::remove_file(&tmp);
    write_synced(&tmp, &json)?;
    let dest = dir.join(MANIFEST_NAME);
    fs::rename(&tmp, &dest).map_err(io(format!("replacing {}", dest.display())))?;
    sync_dir(dir)
}

/// What `restore` did to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RestoreAction {
    /// Written back from the bundle.
    Restored,
    /// Already equal to the backup: not written.
    Unchanged,
}

impl RestoreAction {
    /// "restored" / "unchanged".
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreAction::Restored => "restored",
            RestoreAction::Unchanged => "unchanged",
        }
    }
}

/// What happened to one file during restore.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RestoredFile {
    /// Target path.
    pub path: String,
    /// Restored, or unchanged (already equal to the backup).
    pub action: RestoreAction,
    /// SHA-256 of the file now (of nothing for a log the fix had created,
    /// which restore removes).
    pub sha256: String,
    /// For a hive's primary that was written: how (through the transaction
    /// protocol, or directly and why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub how: Option<String>,
}

/// What `restore` did.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
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

/// Puts the bundle in `dir` back byte-for-byte. A target may hold the
/// original, the state recorded after the write, or any mix of the two that
/// a stopped write left (every changed byte put there by a recorded write:
/// [`intent::only_recorded`]). Refuses (nothing written) when it holds
/// anything else, unless `force`.
pub fn restore(access: &WriteAccess, dir: &Path, force: bool) -> Result<RestoreReport> {
    restore_to(access, dir, force, None)
}

/// [`restore()`], to `target` instead of the recorded device when given: a
/// disk renamed since the bundle was made (see [`retarget`]).
pub fn restore_to(
    access: &WriteAccess,
    dir: &Path,
    force: bool,
    target: Option<&Path>,
) -> Result<RestoreReport> {
    let mut m = load(dir)?;
    if let Some(t) = target {
        let files = m
            .hives
            .iter()
            .flat_map(|h| h.files.iter())
            .all(|f| matches!(f.target, TargetInfo::File { .. }));
        if files {
            retarget_files(&mut m, dir, t)?;
        } else {
            retarget(&mut m, t)?;
        }
    }
    // One writer at a time: each hive file (or the disk holding its raw
    // volume) is locked as a fix locks it, from before the checks until
    // every file is written back.
    let lock_paths: Vec<PathBuf> = m
        .hives
        .iter()
        .filter_map(|h| h.files.first())
        .map(|f| match &f.target {
            TargetInfo::File { path } => PathBuf::from(path),
            TargetInfo::Ntfs { device, .. } => PathBuf::from(device),
        })
        .collect();
    if target.is_none() {
        refuse_gone(&lock_paths)?;
    }
    let refs: Vec<&Path> = lock_paths.iter().map(PathBuf::as_path).collect();
    let _lock = crate::storage::lock::lock(&refs, None)?;
    // 1. Every saved file must be intact; decide for every file before
    //    writing anything.
    let (hives, forced) = check_targets(dir, &m, force)?;
    // 2. One hive at a time: planned and checked in memory, its own writes
    //    recorded in the manifest, then written and read back.
    let mut files = Vec::new();
    for (hi, mut back) in hives.into_iter().enumerate() {
        let untouched: Vec<bool> = back.iter().map(|f| f.done()).collect();
        if untouched.iter().all(|&u| u) {
            files.extend(
                back.iter()
                    .map(|f| restored_file(f, RestoreAction::Unchanged, None)),
            );
            continue;
        }
        let plan = restore::plan(&back);
        let own = plan.own_writes(&back);
        if !own.is_empty() {
            // Into the manifest as stored (a --target retarget stays out).
            let mut stored = load(dir)?;
            let tag = format!("restore-{}-{}", now_compact(), std::process::id());
            for (fi, writes, len) in own {
                let f = &mut stored.hives[hi].files[fi];
                let name = format!("{}.{tag}", f.backup_name);
                let earlier = f.restore_writes.as_ref();
                f.restore_writes = Some(intent::save_after(
                    dir,
                    &name,
                    earlier,
                    &writes,
                    len,
                    write_synced,
                )?);
            }
            sync_dir(&dir.join(stored.hives[hi].name.as_str()))?;
            store_manifest(dir, &stored)?;
        }
        restore::write(access, &mut back, &plan, dir)?;
        let how = plan.describe();
        for (i, (f, was)) in back.iter().zip(untouched).enumerate() {
            let action = if was {
                RestoreAction::Unchanged
            } else {
                RestoreAction::Restored
            };
            files.push(restored_file(f, action, (i == 0).then(|| how.clone())));
        }
    }
    Ok(RestoreReport {
        backup: dir.display().to_string(),
        operation: m.operation,
        files,
        forced,
    })
}

/// Checks every saved file against its hash and every target against the
/// states the bundle recorded (refused unless `force`: then the second
/// value says it was needed); the files of each hive, primary first.
fn check_targets(dir: &Path, m: &Manifest, force: bool) -> Result<(Vec<Vec<FileBack>>, bool)> {
    let mut hives = Vec::new();
    let mut forced = false;
    for h in &m.hives {
        let mut back = Vec::new();
        for f in &h.files {
            let p = dir.join(&f.backup_name);
            let bytes = fs::read(&p).map_err(io(format!("reading {}", p.display())))?;
            if sha256_hex(&bytes) != f.sha256 || bytes.len() as u64 != f.size {
                return Err(Error::Refused(format!(
                    "backup file {} does not match its manifest hash: the bundle is damaged",
                    p.display()
                )));
            }
            let current = current_of(f)?;
            let now = current.as_deref().unwrap_or_default();
            let cur_sha = sha256_hex(now);
            if cur_sha != f.sha256 {
                let expected_now = expected_after(h, f);
                let ours = cur_sha == expected_now
                    || (!f.records().is_empty()
                        && intent::only_recorded(dir, &bytes, now, &f.records())?);
                if !ours {
                    if !force {
                        return Err(Error::refused(crate::error::Code::TargetChanged, format!(
                            "{} changed since ntrescue wrote it (sha256 {cur_sha}, expected {expected_now}); \
                             it holds bytes that neither the original nor ntrescue's recorded writes put there, \
                             so restoring would discard someone else's changes. Re-run with --force to restore anyway",
                            f.target.describe()
                        )));
                    }
                    forced = true;
                }
            }
            back.push(FileBack {
                target: f.target.clone(),
                backup_name: f.backup_name.clone(),
                created: f.created,
                current,
                want: bytes,
            });
        }
        hives.push(back);
    }
    Ok((hives, forced))
}

/// What a saved file's target holds now: `None` for a log the fix
/// created that is gone (its before-state).
fn current_of(f: &SavedFile) -> Result<Option<Vec<u8>>> {
    if let (true, TargetInfo::File { path }) = (f.created, &f.target) {
        if !Path::new(path).exists() {
            return Ok(None);
        }
    }
    read_current(&f.target).map(Some)
}

/// The report line of one file.
fn restored_file(f: &FileBack, action: RestoreAction, how: Option<String>) -> RestoredFile {
    RestoredFile {
        path: f.target.describe(),
        action,
        sha256: sha256_hex(&f.want),
        how,
    }
}

/// The SHA-256 a saved file's target has after the write: the hive's
/// recorded after-state, a log's own (or, for a log the write leaves
/// alone, its before-state).
fn expected_after(h: &HiveBackup, f: &SavedFile) -> String {
    if f.role == FileRole::Hive {
        h.expected_after_sha256.clone()
    } else {
        f.expected_after_sha256
            .clone()
            .unwrap_or_else(|| f.sha256.clone())
    }
}

/// What a bundle's target holds now, compared with what the bundle
/// recorded (`backups list`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TargetNow {
    /// Every file as before the write (nothing of it is there, or it was
    /// restored or rolled back).
    Before,
    /// Every file as the write left it.
    After,
    /// A mix: some files (or bytes) before, the others put there by the
    /// bundle's recorded writes (a stopped write; `restore` puts it back).
    Mix,
    /// Something neither the original nor the recorded writes hold:
    /// changed since (restore refuses without `--force`).
    Other,
    /// The target could not be read (the device is gone or renamed, the
    /// file moved, no permission).
    Unreachable,
}

/// What the target of the bundle `dir` (manifest `m`) holds now, and why
/// when it is `other` or `unreachable`. Reads each saved file's target
/// (the file alone, through its recorded data runs on a raw volume, never
/// the whole disk) and compares its SHA-256 with the recorded states; a
/// file that matches neither is checked byte by byte against the recorded
/// writes, as `restore` does.
pub fn target_now(dir: &Path, m: &Manifest) -> (TargetNow, Option<String>) {
    let (mut all_before, mut all_after) = (true, true);
    for h in &m.hives {
        for f in &h.files {
            let current = match current_of(f) {
                Ok(c) => c.unwrap_or_default(),
                Err(e) => return (TargetNow::Unreachable, Some(e.to_string())),
            };
            let sha = sha256_hex(&current);
            let (before, after) = (sha == f.sha256, sha == expected_after(h, f));
            if !before && !after {
                let saved = fs::read(dir.join(&f.backup_name)).ok();
                let mixed = match (f.records().is_empty(), saved) {
                    (false, Some(b)) => {
                        intent::only_recorded(dir, &b, &current, &f.records()).unwrap_or(false)
                    }
                    _ => false,
                };
                if !mixed {
                    return (
                        TargetNow::Other,
                        Some(format!(
                            "{} (sha256 {sha}) holds neither the bundle's before nor its after state, \
                             nor a mix of its recorded writes",
                            f.target.describe()
                        )),
                    );
                }
            }
            all_before &= before;
            all_after &= after;
        }
    }
    let now = match (all_before, all_after) {
        (true, _) => TargetNow::Before,
        (false, true) => TargetNow::After,
        (false, false) => TargetNow::Mix,
    };
    (now, None)
}

/// What `restore` prints: the common header plus the restore report.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RestoreOutput<'a> {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Tool name and version.
    pub tool: Tool,
    /// "restore".
    pub command: &'static str,
    /// The bundle directory given.
    pub source: crate::report::envelope::GivenSource,
    /// `backup`, `operation`, `files`, `forced`.
    #[serde(flatten)]
    pub report: &'a RestoreReport,
}

impl<'a> RestoreOutput<'a> {
    /// Wraps `report` of restoring the bundle `given`.
    pub fn new(report: &'a RestoreReport, given: &Path) -> Self {
        RestoreOutput {
            schema: SCHEMA,
            tool: TOOL,
            command: "restore",
            source: crate::report::envelope::GivenSource::of(given),
            report,
        }
    }
}

/// A recorded target that does not exist now (a disk reattached under
/// another name, a file moved) is refused, naming `--target`.
fn refuse_gone(recorded: &[PathBuf]) -> Result<()> {
    match recorded.iter().find(|p| !p.exists()) {
        Some(gone) => Err(Error::refused(
            Code::TargetChanged,
            format!(
                "{} (recorded in the bundle) does not exist now: if the disk was reattached or \
                 the file moved under another name, give its new path with --target SOURCE \
                 (`ntrescue locate` lists the disks); nothing written",
                gone.display()
            ),
        )),
        None => Ok(()),
    }
}

/// Points every raw-volume target of `m` at `source`, a disk or volume
/// that has been renamed since the bundle was made (a reattach gave it
/// another device path). The volume is matched by its NTFS serial and
/// length, and [`read_current`] then requires each file's MFT record, size
/// and data runs to be the recorded ones; anything else is refused.
pub fn retarget(m: &mut Manifest, source: &Path) -> Result<()> {
    let disk = Disk::open(source)?;
    let (_, parts) = scan(&disk).map_err(|e| {
        Error::refused(
            Code::TargetChanged,
            format!(
                "{e}: not the disk the bundle was made from; `ntrescue locate` lists the disks"
            ),
        )
    })?;
    let new_device = source.display().to_string();
    for f in m.hives.iter_mut().flat_map(|h| h.files.iter_mut()) {
        let TargetInfo::Ntfs {
            device,
            partition,
            partition_offset,
            partition_length,
            volume_serial,
            extents,
            ..
        } = &mut f.target
        else {
            return Err(Error::Refused(format!(
                "--target applies to bundles made from a disk or volume read raw; {} was a file \
                 ({}): restore without --target, from the same path",
                f.backup_name, f.original_path
            )));
        };
        let found = parts.iter().find(|p| {
            p.volume
                .as_ref()
                .is_some_and(|v| v.serial == *volume_serial)
                && p.partition.length == *partition_length
        });
        let Some(p) = found else {
            return Err(Error::refused(Code::TargetChanged, format!(
                "{new_device} holds no NTFS volume with serial {volume_serial:016X} and length {partition_length} \
                 (the volume the bundle was made from): not the same disk; `ntrescue locate` lists what it holds"
            )));
        };
        for e in extents.iter_mut() {
            let rel = e
                .device_offset
                .checked_sub(*partition_offset)
                .and_then(|r| r.checked_add(p.partition.start));
            e.device_offset = rel.ok_or_else(|| Error::Invalid {
                what: "backup manifest",
                offset: e.device_offset,
                detail: format!(
                    "{}: a data run lies outside its recorded volume",
                    f.backup_name
                ),
            })?;
        }
        *device = new_device.clone();
        *partition = p.partition.number;
        *partition_offset = p.partition.start;
    }
    Ok(())
}

/// Points every file target of `m` (a bundle made from a hive file, a
/// config directory or a mounted tree) at `target`: the hive file's new
/// path (a bundle of one hive; its logs are the files beside it named as
/// before, with the hive's new name in front), or the new root of the
/// mounted tree (or its config directory). The hive at the new place must
/// be the one the bundle was made from: its SHA-256 the recorded before or
/// after state, or a mix of the before state and the recorded writes;
/// anything else is refused, `--force` or not.
pub fn retarget_files(m: &mut Manifest, dir: &Path, target: &Path) -> Result<()> {
    let tree = target.is_dir();
    if !tree && m.hives.len() != 1 {
        return Err(Error::refused(
            crate::error::Code::TargetChanged,
            format!(
                "the bundle holds {} hives: give --target the root of the mounted Windows tree (or its \
                 config directory), not one file",
                m.hives.len()
            ),
        ));
    }
    let source = PathBuf::from(&m.source);
    for h in m.hives.iter_mut() {
        let Some(primary) = h.files.iter().find(|f| f.role == FileRole::Hive) else {
            continue;
        };
        let old = PathBuf::from(file_path(primary)?);
        let new = if tree {
            in_tree(target, &source, &old)?
        } else {
            target.to_path_buf()
        };
        let (old_name, new_name) = (file_name(&old), file_name(&new));
        for f in h.files.iter_mut() {
            let path = if f.role == FileRole::Hive {
                new.clone()
            } else {
                let was = file_name(Path::new(file_path(f)?));
                let name = match was.get(..old_name.len()) {
                    Some(head) if head.eq_ignore_ascii_case(&old_name) => {
                        format!("{new_name}{}", &was[old_name.len()..])
                    }
                    _ => was,
                };
                new.with_file_name(name)
            };
            f.target = TargetInfo::File {
                path: path.display().to_string(),
            };
        }
        let primary = h.files.iter().find(|f| f.role == FileRole::Hive);
        if let Some(f) = primary {
            hive_identity(dir, h, f)?;
        }
    }
    Ok(())
}

/// The path of a file target.
fn file_path(f: &SavedFile) -> Result<&str> {
    match &f.target {
        TargetInfo::File { path } => Ok(path),
        TargetInfo::Ntfs { .. } => Err(Error::Refused(format!(
            "{}: a bundle mixing raw-volume and file targets cannot be restored to a new place",
            f.backup_name
        ))),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where the hive recorded at `old` lives in the tree now rooted at
/// `root`: `old` below the recorded `source` directory, else its path from
/// the `Windows` directory on, else its name in `root` (a config
/// directory); the first that exists.
fn in_tree(root: &Path, source: &Path, old: &Path) -> Result<PathBuf> {
    let mut tries = Vec::new();
    if let Ok(rel) = old.strip_prefix(source) {
        if !rel.as_os_str().is_empty() {
            tries.push(root.join(rel));
        }
    }
    let parts: Vec<_> = old.components().collect();
    if let Some(i) = parts
        .iter()
        .rposition(|c| c.as_os_str().eq_ignore_ascii_case("windows"))
    {
        tries.push(root.join(parts[i..].iter().collect::<PathBuf>()));
    }
    tries.push(root.join(file_name(old)));
    tries.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        Error::refused(
            crate::error::Code::TargetChanged,
            format!(
                "{} holds no {} where the bundle's hive was ({}): not the tree the bundle was made from",
                root.display(),
                file_name(old),
                old.display()
            ),
        )
    })
}

/// Refuses unless the hive file `f` targets now is the one the bundle was
/// made from: the recorded before or after state, or a mix of the before
/// state and the recorded writes.
fn hive_identity(dir: &Path, h: &HiveBackup, f: &SavedFile) -> Result<()> {
    let current = read_current(&f.target)?;
    let sha = sha256_hex(&current);
    if sha == f.sha256 || sha == h.expected_after_sha256 {
        return Ok(());
    }
    if !f.records().is_empty() {
        let p = dir.join(&f.backup_name);
        let saved = fs::read(&p).map_err(io(format!("reading {}", p.display())))?;
        if intent::only_recorded(dir, &saved, &current, &f.records())? {
            return Ok(());
        }
    }
    Err(Error::refused(
        crate::error::Code::TargetChanged,
        format!(
            "{} (sha256 {sha}) is not the {} hive the bundle was made from: it holds neither its before \
             state ({}) nor its after state ({}) nor a mix of the recorded writes; nothing restored",
            f.target.describe(),
            h.name.as_str(),
            f.sha256,
            h.expected_after_sha256
        ),
    ))
}

/// The state of a bundle found under a backup root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BundleState {
    /// The manifest reads: the bundle can be restored from.
    Complete,
    /// No manifest: a run stopped before its bundle was finished (nothing
    /// was written to the target by that run); never restored from.
    Incomplete,
    /// The manifest does not read (damaged, or a newer schema).
    Unreadable,
}

/// One directory under a backup root.
#[derive(Debug)]
pub struct Bundle {
    /// Its directory.
    pub dir: PathBuf,
    /// Complete, incomplete or unreadable.
    pub state: BundleState,
    /// The manifest, when it reads.
    pub manifest: Option<Manifest>,
    /// Why it does not read.
    pub error: Option<String>,
}

/// Every bundle directory under `root`, oldest first (their names start
/// with the UTC time they were made).
pub fn bundles(root: &Path) -> Result<Vec<Bundle>> {
    let entries = fs::read_dir(root).map_err(io(format!("reading {}", root.display())))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs
        .into_iter()
        .map(|dir| {
            if !dir.join(MANIFEST_NAME).exists() {
                return Bundle {
                    dir,
                    state: BundleState::Incomplete,
                    manifest: None,
                    error: None,
                };
            }
            match load(&dir) {
                Ok(m) => Bundle {
                    dir,
                    state: BundleState::Complete,
                    manifest: Some(m),
                    error: None,
                },
                Err(e) => Bundle {
                    dir,
                    state: BundleState::Unreadable,
                    manifest: None,
                    error: Some(e.to_string()),
                },
            }
        })
        .collect())
}

/// The newest bundle under `root` made by a write that left `name` as it
/// is now (`sha256`, the hive file's current hash): the bundle holding
/// the hive as it was before that write. `None` when there is none (or
/// no root).
pub fn bundle_holding(root: &Path, name: HiveName, sha256: &str) -> Option<PathBuf> {
    let found = bundles(root).ok()?;
    found
        .into_iter()
        .rev()
        .filter_map(|b| Some((b.dir, b.manifest?)))
        .find(|(_, m)| {
            m.hives
                .iter()
                .any(|h| h.name == name && h.expected_after_sha256 == sha256)
        })
        .map(|(dir, _)| dir)
}

/// What `backups pack` wrote.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PackReport {
    /// The bundle directory.
    pub backup: String,
    /// The tar file written.
    pub file: String,
    /// Its size, bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// Paths inside the archive, in order (the manifest first).
    pub entries: Vec<String>,
}

/// Packs the bundle in `dir` into one ustar/GNU tar file at `out` (a new
/// file: an existing one is refused), for upload. Every saved file is
/// checked against its manifest hash first: a damaged bundle is not
/// packed. Entries are `<bundle name>/manifest.json` then the saved files,
/// so `tar -xf` recreates the bundle directory.
pub fn pack(_: &WriteAccess, dir: &Path, out: &Path) -> Result<PackReport> {
    let m = load(dir)?;
    let base = dir
        .canonicalize()
        .map_err(io(format!("resolving {}", dir.display())))?;
    let top = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let mut names = vec![MANIFEST_NAME.to_string()];
    for f in m.hives.iter().flat_map(|h| h.files.iter()) {
        let p = dir.join(&f.backup_name);
        let bytes = fs::read(&p).map_err(io(format!("reading {}", p.display())))?;
        if sha256_hex(&bytes) != f.sha256 || bytes.len() as u64 != f.size {
            return Err(Error::Refused(format!(
                "backup file {} does not match its manifest hash: the bundle is damaged; not packed",
                p.display()
            )));
        }
        names.push(f.backup_name.clone());
    }
    let file = File::create_new(out).map_err(io(format!("creating {}", out.display())))?;
    let mut tar = tar::Builder::new(file);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut entries = Vec::new();
    for n in &names {
        let inside = format!("{top}/{n}");
        tar.append_path_with_name(dir.join(n), &inside)
            .map_err(io(format!("adding {} to {}", inside, out.display())))?;
        entries.push(inside);
    }
    let f = tar
        .into_inner()
        .map_err(io(format!("finishing {}", out.display())))?;
    f.sync_all()
        .map_err(io(format!("flushing {}", out.display())))?;
    drop(f);
    let bytes = fs::read(out).map_err(io(format!("reading back {}", out.display())))?;
    Ok(PackReport {
        backup: dir.display().to_string(),
        file: out.display().to_string(),
        size: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
        entries,
    })
}
