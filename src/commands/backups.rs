// SPDX-License-Identifier: GPL-2.0-or-later
//! `backups list` and `backups pack`: the bundles a backup root holds, and
//! one bundle as a single tar file. Listing is read-only.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::hive::name::HiveName;
use crate::report::envelope::GivenSource;
use crate::report::{Tool, SCHEMA, TOOL};
use crate::storage::target::TargetInfo;
use crate::write::backup::{self, BundleState, FileRole, PackReport, TargetNow};
use crate::write::intent::WriteState;

/// Where one saved file lives on the target, as recorded.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetIdentity {
    /// A regular file.
    File {
        /// Its path.
        path: String,
    },
    /// A file inside a raw NTFS volume.
    Ntfs {
        /// The disk, partition or image path when the bundle was made.
        device: String,
        /// Partition number (1-based).
        partition: u32,
        /// NTFS volume serial number, `0x` and 16 hex digits (a JSON
        /// number would lose its low bits above 2^53).
        #[serde(with = "crate::util::hex64")]
        #[schemars(with = "crate::util::hex64::Hex64")]
        volume_serial: u64,
        /// Path inside the volume.
        path: String,
        /// MFT record number.
        mft_record: u64,
    },
}

impl From<&TargetInfo> for TargetIdentity {
    fn from(t: &TargetInfo) -> Self {
        match t {
            TargetInfo::File { path } => TargetIdentity::File { path: path.clone() },
            TargetInfo::Ntfs {
                device,
                partition,
                volume_serial,
                path,
                mft_record,
                ..
            } => TargetIdentity::Ntfs {
                device: device.clone(),
                partition: *partition,
                volume_serial: *volume_serial,
                path: path.clone(),
                mft_record: *mft_record,
            },
        }
    }
}

/// One saved file.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BundleFile {
    /// "hive" or "log".
    pub role: FileRole,
    /// Its name inside the bundle.
    pub backup_name: String,
    /// Size, bytes.
    pub size: u64,
    /// Where it is restored to.
    pub target: TargetIdentity,
}

/// One hive of a bundle.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BundleHive {
    /// SYSTEM, SOFTWARE, SAM, SECURITY.
    pub name: HiveName,
    /// SHA-256 before the write (what restore puts back).
    pub before_sha256: String,
    /// SHA-256 the write left.
    pub expected_after_sha256: String,
    /// The hive file and its logs.
    pub files: Vec<BundleFile>,
}

/// One bundle directory.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BundleEntry {
    /// Its directory (what `restore` and `backups pack` take).
    pub path: String,
    /// complete (restorable), incomplete (no manifest) or unreadable.
    pub state: BundleState,
    /// Where its write stands, from the intent record in the manifest:
    /// in-progress (the write may have started and not finished),
    /// finished, rolled-back; null without a manifest or for bundles of
    /// older versions, which did not record it.
    pub write_state: Option<WriteState>,
    /// What its target holds now: before, after, mix (of before and the
    /// recorded writes), other, or unreachable; null without a manifest.
    pub target_now: Option<TargetNow>,
    /// Why the target is `other` or `unreachable`.
    pub target_note: Option<String>,
    /// When it was made (UTC).
    pub created: Option<String>,
    /// The command that made it ("nla disable").
    pub command: Option<String>,
    /// The source the operator gave.
    pub source: Option<String>,
    /// ntrescue version that made it.
    pub tool_version: Option<String>,
    /// The saved hives.
    pub hives: Vec<BundleHive>,
    /// Why the manifest does not read.
    pub error: Option<String>,
}

/// What `backups list` prints.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BackupsReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Tool name and version.
    pub tool: Tool,
    /// "backups list".
    pub command: &'static str,
    /// The directory given; null when none was (the default is listed).
    pub source: Option<GivenSource>,
    /// The backup directory looked at.
    pub root: String,
    /// Its bundles, oldest first.
    pub bundles: Vec<BundleEntry>,
}

fn entry(b: backup::Bundle) -> BundleEntry {
    let mut e = BundleEntry {
        path: b.dir.display().to_string(),
        state: b.state,
        write_state: None,
        target_now: None,
        target_note: None,
        created: None,
        command: None,
        source: None,
        tool_version: None,
        hives: Vec::new(),
        error: b.error,
    };
    if let Some(m) = b.manifest {
        let (now, note) = backup::target_now(&b.dir, &m);
        e.write_state = m.state;
        e.target_now = Some(now);
        e.target_note = note;
        e.hives = m
            .hives
            .iter()
            .map(|h| BundleHive {
                name: h.name,
                before_sha256: h.before_sha256.clone(),
                expected_after_sha256: h.expected_after_sha256.clone(),
                files: h
                    .files
                    .iter()
                    .map(|f| BundleFile {
                        role: f.role,
                        backup_name: f.backup_name.clone(),
                        size: f.size,
                        target: TargetIdentity::from(&f.target),
                    })
                    .collect(),
            })
            .collect();
        e.created = Some(m.created);
        e.command = Some(m.operation);
        e.source = Some(m.source);
        e.tool_version = Some(m.tool_version);
    }
    e
}

/// The bundles under `root` ([`backup::DEFAULT_ROOT`] when `None`).
pub fn list(given: Option<&Path>) -> Result<BackupsReport> {
    let root = given.map_or_else(|| PathBuf::from(backup::DEFAULT_ROOT), Path::to_path_buf);
    let bundles = backup::bundles(&root)?.into_iter().map(entry).collect();
    Ok(BackupsReport {
        schema: SCHEMA,
        tool: TOOL,
        command: "backups list",
        source: given.map(GivenSource::of),
        root: root.display().to_string(),
        bundles,
    })
}

/// What `backups pack` prints.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PackOutput {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Tool name and version.
    pub tool: Tool,
    /// "backups pack".
    pub command: &'static str,
    /// The bundle directory given.
    pub source: GivenSource,
    /// `backup`, `file`, `size`, `sha256`, `entries`.
    #[serde(flatten)]
    pub report: PackReport,
}

/// The default tar file for a bundle: `<bundle>.tar` beside it.
pub fn default_pack_file(bundle: &Path) -> PathBuf {
    let trimmed: PathBuf = bundle.components().collect();
    let mut name = trimmed
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "bundle".into());
    name.push(".tar");
    trimmed.with_file_name(name)
}

/// Packs `bundle` into `out` (or [`default_pack_file`]).
pub fn pack(
    access: &crate::storage::access::WriteAccess,
    bundle: &Path,
    out: Option<&Path>,
) -> Result<PackOutput> {
    let out = out.map_or_else(|| default_pack_file(bundle), Path::to_path_buf);
    Ok(PackOutput {
        schema: SCHEMA,
        tool: TOOL,
        command: "backups pack",
        source: GivenSource::of(bundle),
        report: backup::pack(access, bundle, &out)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_file_sits_beside_the_bundle() {
        assert_eq!(
            default_pack_file(Path::new("b/20260101T000000Z-ab12cd34/")),
            PathBuf::from("b/20260101T000000Z-ab12cd34.tar")
        );
    }

    #[test]
    fn bundles_without_or_with_a_broken_manifest_are_listed_as_such() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("20260101T000000Z-aaaaaaaa")).unwrap();
        let bad = t.path().join("20260102T000000Z-bbbbbbbb");
        std::fs::create_dir(&bad).unwrap();
        std::fs::write(bad.join(backup::MANIFEST_NAME), b"{not json").unwrap();
        let r = list(Some(t.path())).unwrap();
        let states: Vec<BundleState> = r.bundles.iter().map(|b| b.state).collect();
        assert_eq!(states, [BundleState::Incomplete, BundleState::Unreadable]);
        assert!(r.bundles[1].error.as_deref().unwrap().contains("manifest"));
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        assert!(list(Some(&t.path().join("none"))).is_err());
    }
}
