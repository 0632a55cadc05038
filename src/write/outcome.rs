// SPDX-License-Identifier: GPL-2.0-or-later
//! What an edit reports: the planned changes, the units left alone, each
//! hive's before/after, how it ended. `EditReport` is the JSON document of
//! every fix command (docs/json-schema.md) and the manifest's change list.

use serde::{Deserialize, Serialize};

use crate::error::Code;
use crate::hive::name::HiveName;
use crate::report::{FileInfo, SourceInfo, Tool};

/// How a value changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// An existing value gets new data.
    Change,
    /// A missing value is created.
    Create,
    /// A value is removed.
    Delete,
    /// A missing key is created (`key`; `value` is empty).
    CreateKey,
}

/// One value change, as planned, reported and recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Change {
    /// Hive.
    pub hive: HiveName,
    /// Unit label (usually the control set).
    pub control_set: String,
    /// Key path inside the hive.
    pub key: String,
    /// Value name.
    pub value: String,
    /// Change, create or delete.
    pub action: ChangeKind,
    /// Old type name, when the value existed.
    pub old_type: Option<String>,
    /// Old data (number for DWORD/QWORD, string, list, or hex).
    pub old: Option<serde_json::Value>,
    /// New type name, unless deleted.
    pub new_type: Option<String>,
    /// New data.
    pub new: Option<serde_json::Value>,
    /// Absolute file offset of the 4 data bytes, for in-place inline changes.
    pub file_offset: Option<u64>,
}

/// A unit left alone, and why.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Refusal {
    /// Why, for machines (docs/json-schema.md, Codes).
    pub code: Code,
    /// Unit label.
    pub control_set: String,
    /// Value concerned, if one.
    pub value: Option<String>,
    /// Why.
    pub reason: String,
}

/// How an edit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything already as wanted: nothing written, no backup.
    NothingToDo,
    /// `--dry-run`: planned and verified in memory, nothing written.
    DryRun,
    /// Written and verified.
    Written,
    /// Nothing could be changed (see `refusals`); nothing written.
    Refused,
    /// Written and verified, but some units were left alone (see
    /// `refusals`).
    Partial,
}

/// Per-hive part of the report.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct HiveOutcome {
    /// SYSTEM / SOFTWARE.
    pub name: HiveName,
    /// The file before.
    pub file: FileInfo,
    /// Base-block sequence numbers before.
    pub sequence_before: [u32; 2],
    /// Sequence number written to both fields.
    pub sequence_after: Option<u32>,
    /// Hive bins appended by the edit.
    pub appended_bins: u32,
    /// SHA-256 of the planned result.
    pub planned_sha256: Option<String>,
    /// The file written.
    pub target: Option<String>,
    /// What the write did.
    pub write: Option<WriteStats>,
}

/// What an edit command prints.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct EditReport {
    /// Schema tag.
    pub schema: &'static str,
    /// Tool.
    pub tool: Tool,
    /// The command ("nla disable", "set"...).
    pub command: String,
    /// Source.
    pub source: SourceInfo,
    /// `--dry-run` given.
    pub dry_run: bool,
    /// How it ended (printed first, by the document around the report).
    #[serde(skip)]
    pub outcome: Outcome,
    /// Planned or applied changes.
    pub changes: Vec<Change>,
    /// `Unit\Value` names already as wanted.
    pub already_set: Vec<String>,
    /// Units left alone.
    pub refusals: Vec<Refusal>,
    /// Hives involved.
    pub hives: Vec<HiveOutcome>,
    /// Backup bundle directory.
    pub backup: Option<String>,
    /// Checks passed.
    pub checks: Vec<String>,
    /// A dry run in read-only mode: the pre-write checks that need a write
    /// handle and were not run (empty otherwise).
    pub checks_skipped: Vec<SkippedCheck>,
    /// Things the operator should know.
    pub warnings: Vec<crate::error::Warning>,
}

/// A pre-write check a dry run did not run (read-only mode: it needs the
/// target or the backup directory opened for writing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SkippedCheck {
    /// Stable kebab-case name of the check.
    pub check: &'static str,
    /// The refusal codes the check can give.
    pub codes: Vec<Code>,
    /// What it checks.
    pub what: &'static str,
}

impl SkippedCheck {
    /// Every check an in-place write runs before its first byte that needs
    /// a write handle, in the order the write runs them (docs/json-schema.md).
    pub fn read_only_dry_run() -> Vec<SkippedCheck> {
        let c = |check, codes: &[Code], what| SkippedCheck {
            check,
            codes: codes.to_vec(),
            what,
        };
        vec![
            c(
                "backup-directory",
                &[Code::BackupOnTarget, Code::BackupUnwritable],
                "the backup directory is not on the volume being repaired and a file can be created in it",
            ),
            c(
                "hibernation",
                &[Code::Hibernated],
                "no active hibernation image beside the hive (mounted trees and hive files in a Windows tree)",
            ),
            c(
                "mounted-or-held-open",
                &[Code::Mounted, Code::MountStateUnknown, Code::Busy],
                "the device (or a loop device over the image) is not mounted and nothing holds it open exclusively",
            ),
            c(
                "volume-clean",
                &[Code::DirtyVolume, Code::Hibernated],
                "the NTFS volume is not marked dirty and holds no active hibernation image",
            ),
            c(
                "target-writable",
                &[Code::ReadOnlyTarget, Code::PermissionDenied],
                "the device, image or file opens for writing",
            ),
            c(
                "file-writable-in-place",
                &[Code::UnwritableFile],
                "the hive and log files can be written in place (not resident, compressed, sparse, with holes, or growing)",
            ),
            c(
                "target-unchanged",
                &[Code::TargetChanged],
                "the hive and log still hold the bytes that were read and planned from",
            ),
            c(
                "write-permitted",
                &[Code::ReadOnlyMode],
                "writes are allowed: the write itself is refused in read-only mode",
            ),
        ]
    }
}

/// What a verified write did.
#[derive(Clone, Debug, Default, serde::Serialize, schemars::JsonSchema)]
pub struct WriteStats {
    /// Byte ranges written.
    pub ranges: usize,
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of the file after the write, computed from the bytes read
    /// back (which compared equal to the plan byte for byte).
    pub after_sha256: String,
    /// How the file was read back: `direct` (the bytes written from the
    /// storage, bypassing the OS page cache; the rest of the file through
    /// it) or `cached` with the reason the OS or file system gave; null for
    /// a write that was not read back this way.
    pub read_back: Option<crate::storage::readback::ReadPath>,
}
