// SPDX-License-Identifier: GPL-2.0-or-later
//! `nla disable|enable`: plan, verify in memory, back up, write in place
//! through [`crate::commit`], verify again.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backup::{self, Change, TargetInfo};
use crate::commit::{write_verified, FileStore, HiveStore, WriteStats};
use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::rdp::{KeyLookup, Reader, NLA_VALUES, RDP_TCP_PATH};
use crate::regf::base_block::{self, BaseBlock, BASE_BLOCK_SIZE, OFF_TIMESTAMP};
use crate::regf::key::VK_DATA_OFFSET;
use crate::report::{FileInfo, SourceInfo, Tool, SCHEMA, TOOL};
use crate::source::{LoadedFile, LoadedHive, Located, SourceKind};
use crate::verify::{full_check, verify_edit};

/// Direction of the NLA fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NlaMode {
    /// 0/0/0: Microsoft's documented workaround to turn NLA off.
    Disable,
    /// 1/1/1: the documented values to turn it back on.
    Enable,
}

impl NlaMode {
    /// The DWORD written to all three values.
    pub fn value(self) -> u32 {
        match self {
            NlaMode::Disable => 0,
            NlaMode::Enable => 1,
        }
    }

    /// "nla disable" / "nla enable".
    pub fn command(self) -> &'static str {
        match self {
            NlaMode::Disable => "nla disable",
            NlaMode::Enable => "nla enable",
        }
    }
}

/// Options of a fix.
#[derive(Clone, Debug, Default)]
pub struct FixOptions {
    /// Plan only.
    pub dry_run: bool,
    /// Write the edited hive to this new file instead of in place.
    pub output: Option<PathBuf>,
    /// Backup bundle root (default `./ntrescue-backups`).
    pub backup_root: Option<PathBuf>,
    /// Proceed on a dirty hive that has no transaction logs beside it
    /// (whatever the missing logs held is lost either way); the hive is then
    /// written clean. Never applies when logs are present or the base block
    /// checksum is bad.
    pub allow_dirty_without_logs: bool,
}

/// How a fix ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every value already had the wanted data: nothing written, no backup.
    NothingToDo,
    /// `--dry-run`: the plan was verified in memory, nothing written.
    DryRun,
    /// Written and verified.
    Written,
    /// Nothing could be changed (see `refusals`); nothing written.
    Refused,
}

/// A control set the fix leaves alone, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Refusal {
    /// Control set.
    pub control_set: String,
    /// Value concerned, if one.
    pub value: Option<String>,
    /// Why.
    pub reason: String,
}

/// What a fix prints.
#[derive(Clone, Debug, Serialize)]
pub struct FixReport {
    /// Schema tag.
    pub schema: &'static str,
    /// Tool.
    pub tool: Tool,
    /// "nla disable" / "nla enable".
    pub command: &'static str,
    /// Source.
    pub source: SourceInfo,
    /// The hive before.
    pub hive: FileInfo,
    /// `--dry-run` given.
    pub dry_run: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// Values changed (or planned).
    pub changes: Vec<Change>,
    /// Values that already had the wanted data ("ControlSet001\\SecurityLayer").
    pub already_set: Vec<String>,
    /// Control sets left alone.
    pub refusals: Vec<Refusal>,
    /// Base-block sequence numbers before.
    pub sequence_before: [u32; 2],
    /// Sequence number written (both fields), when planned.
    pub sequence_after: Option<u32>,
    /// SHA-256 of the planned result.
    pub planned_sha256: Option<String>,
    /// The file written.
    pub target: Option<String>,
    /// Backup bundle directory.
    pub backup: Option<String>,
    /// Bytes written, ranges, hash read back.
    pub write: Option<WriteStats>,
    /// Checks passed.
    pub checks: Vec<String>,
    /// Things the operator should know.
    pub warnings: Vec<String>,
}

/// The plan for one hive.
pub struct Plan {
    /// Changes.
    pub changes: Vec<Change>,
    /// Already compliant values.
    pub already_set: Vec<String>,
    /// Refused sets.
    pub refusals: Vec<Refusal>,
}

/// Plans setting `names` to `want` under `RDP-Tcp` in every control set.
/// A set where any value is missing, unreadable or not an inline REG_DWORD
/// is refused as a whole (never half-fixed).
pub fn plan_rdp_tcp(r: &Reader<'_>, names: &[&str], want: u32) -> Result<Plan> {
    let mut plan = Plan {
        changes: Vec::new(),
        already_set: Vec::new(),
        refusals: Vec::new(),
    };
    for (_, set) in r.control_sets()? {
        let path = format!(r"{set}\{RDP_TCP_PATH}");
        let refuse = |value: Option<&str>, reason: String| Refusal {
            control_set: set.clone(),
            value: value.map(String::from),
            reason,
        };
        let key = match r.key(&path) {
            KeyLookup::Found(k) => k,
            KeyLookup::Missing(m) => {
                plan.refusals.push(refuse(
                    None,
                    format!("RDP-Tcp key missing ('{m}'); ntrescue does not create keys"),
                ));
                continue;
            }
            KeyLookup::Unreadable(e) => {
                plan.refusals
                    .push(refuse(None, format!("RDP-Tcp key unreadable: {e}")));
                continue;
            }
        };
        let mut set_changes = Vec::new();
        let mut set_already = Vec::new();
        let mut refused = None;
        for &name in names {
            // Both readers must agree the value is there before we touch it.
            let state = r.value(&KeyLookup::Found(key), &path, name);
            let vk = match (key.value(name), &state) {
                (Ok(Some(vk)), crate::rdp::ValueState::Present { .. }) => vk,
                (_, crate::rdp::ValueState::Missing) => {
                    refused = Some(refuse(
                        Some(name),
                        format!("value {name} is missing; creating values is not supported yet"),
                    ));
                    break;
                }
                (_, crate::rdp::ValueState::Unreadable { error }) => {
                    refused = Some(refuse(
                        Some(name),
                        format!("value {name} is unreadable: {error}"),
                    ));
                    break;
                }
                (Err(e), _) => {
                    refused = Some(refuse(
                        Some(name),
                        format!("value {name} is unreadable: {e}"),
                    ));
                    break;
                }
                (Ok(None), _) => {
                    refused = Some(refuse(
                        Some(name),
                        format!("value {name}: readers disagree"),
                    ));
                    break;
                }
            };
            match vk.inline_dword()? {
                Some(old) if old == want => set_already.push(format!(r"{set}\{name}")),
                Some(old) => set_changes.push(Change {
                    hive: "SYSTEM".into(),
                    control_set: set.clone(),
                    key: path.clone(),
                    value: vk.name()?,
                    file_offset: vk.abs_of(VK_DATA_OFFSET),
                    old,
                    new: want,
                }),
                None => {
                    refused = Some(refuse(
                        Some(name),
                        format!(
                            "value {name} is {} with data size {:#x}, not an inline REG_DWORD; changing its type is not supported yet",
                            crate::regf::key::reg_type::name(vk.data_type()?),
                            vk.raw_data_size()?
                        ),
                    ));
                    break;
                }
            }
        }
        match refused {
            Some(r) => plan.refusals.push(r),
            None => {
                plan.changes.extend(set_changes);
                plan.already_set.extend(set_already);
            }
        }
    }
    Ok(plan)
}

/// Highest sequence number in the primary and in the base blocks of the
/// logs that parse as regf (garbage or empty logs are ignored).
pub fn max_sequence_seen(primary: &BaseBlock, logs: &[LoadedFile]) -> u32 {
    logs.iter()
        .filter_map(|l| BaseBlock::parse(&l.bytes).ok())
        .filter(|b| b.checksum_valid() && b.sequences_match())
        .map(|b| b.seq1)
        .chain([primary.seq1, primary.seq2])
        .max()
        .unwrap_or(0)
}

/// Applies `changes` to a copy of `original` and writes a clean base block:
/// seq1 = seq2 = `seq`, the timestamp set to now unless the hive keeps it at
/// 0 (Windows 8.1+ no longer updates it), checksum recomputed last.
pub fn apply(original: &[u8], changes: &[Change], seq: u32, hive_bins_size: u32) -> Vec<u8> {
    let mut new = original.to_vec();
    for c in changes {
        let at = c.file_offset as usize;
        new[at..at + 4].copy_from_slice(&c.new.to_le_bytes());
    }
    let header = &mut new[..BASE_BLOCK_SIZE];
    let ts = u64::from_le_bytes(header[OFF_TIMESTAMP..OFF_TIMESTAMP + 8].try_into().unwrap());
    if ts != 0 {
        let now = crate::timefmt::now_unix().max(0) as u64 * 10_000_000 + 116_444_736_000_000_000;
        crate::bytes::put_u64(header, OFF_TIMESTAMP, now);
    }
    base_block::set_clean(header, seq, hive_bins_size);
    new
}

#[cfg(unix)]
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_device(a: &Path, b: &Path) -> bool {
    // Compare drive prefixes (`D:`) on Windows.
    let root = |p: &Path| {
        std::path::absolute(p)
            .ok()
            .and_then(|p| p.components().next().map(|c| c.as_os_str().to_owned()))
    };
    root(a) == root(b)
}

/// Runs the NLA fix on `located`.
pub fn nla(located: &Located, mode: NlaMode, opts: &FixOptions) -> Result<FixReport> {
    let hive = LoadedHive::read(&located.system)?;
    let path = hive.primary.path.clone();
    let original = &hive.primary.bytes;
    let bb = BaseBlock::parse(original).map_err(|e| e.in_file(&path))?;
    bb.validate_primary().map_err(|e| e.in_file(&path))?;
    let mut report = FixReport {
        schema: SCHEMA,
        tool: TOOL,
        command: mode.command(),
        source: SourceInfo {
            kind: located.kind,
            path: located.input.display().to_string(),
        },
        hive: FileInfo::from(&hive.primary),
        dry_run: opts.dry_run,
        outcome: Outcome::Refused,
        changes: Vec::new(),
        already_set: Vec::new(),
        refusals: Vec::new(),
        sequence_before: [bb.seq1, bb.seq2],
        sequence_after: None,
        planned_sha256: None,
        target: None,
        backup: None,
        write: None,
        checks: Vec::new(),
        warnings: Vec::new(),
    };
    let opt_in = bb.is_dirty()
        && bb.checksum_valid()
        && hive.logs.is_empty()
        && opts.allow_dirty_without_logs;
    if opt_in {
        report.warnings.push(format!(
            "SYSTEM is dirty (sequence numbers {} and {} differ) and no transaction logs were found: \
             proceeding as asked (--allow-dirty-without-logs); changes that lived only in the missing logs are lost, \
             and the hive is written clean",
            bb.seq1, bb.seq2
        ));
    } else if bb.is_dirty() {
        let why = if bb.checksum_valid() {
            format!("its sequence numbers {} and {} differ", bb.seq1, bb.seq2)
        } else {
            "its base-block checksum is wrong".into()
        };
        return Err(Error::Refused(format!(
            "SYSTEM is dirty ({why}): Windows has changes for it in the transaction logs ({}) that it \
             replays at load time, and an edit would be lost or would corrupt the hive. Boot the VM \
             once and shut it down cleanly, or load and unload the hive on a Windows helper, then retry{}",
            if hive.logs.is_empty() { "none found beside it".to_string() } else {
                hive.logs.iter().map(|l| l.path.display().to_string()).collect::<Vec<_>>().join(", ")
            },
            if hive.logs.is_empty() && bb.checksum_valid() {
                " (or, if the logs are really gone, accept that loss with --allow-dirty-without-logs)"
            } else {
                ""
            }
        ))
        .in_file(&path));
    }
    let stats = full_check(original).map_err(|e| {
        Error::Refused(format!(
            "the hive failed the structure check, nothing will be written: {e}"
        ))
        .in_file(&path)
    })?;
    report.checks.push(format!(
        "structure check before planning: {} bins, {} keys, {} values, both readers agree",
        stats.bins, stats.keys, stats.values
    ));
    let reader = Reader::new(original).map_err(|e| e.in_file(&path))?;
    if reader
        .control_sets()
        .map_err(|e| e.in_file(&path))?
        .is_empty()
    {
        return Err(Error::NotFound(format!(
            "{} has no ControlSetNNN key: it is not a SYSTEM hive",
            path.display()
        )));
    }
    let names: Vec<&str> = NLA_VALUES.to_vec();
    let plan = plan_rdp_tcp(&reader, &names, mode.value()).map_err(|e| e.in_file(&path))?;
    report.changes = plan.changes;
    report.already_set = plan.already_set;
    report.refusals = plan.refusals;
    for r in &report.refusals {
        report
            .warnings
            .push(format!("{}: left unchanged: {}", r.control_set, r.reason));
    }
    if report.changes.is_empty() {
        report.outcome = if report.refusals.is_empty() {
            Outcome::NothingToDo
        } else {
            Outcome::Refused
        };
        return Ok(report);
    }

    let seq = max_sequence_seen(&bb, &hive.logs)
        .checked_add(1)
        .ok_or_else(|| Error::Refused("sequence number would overflow".into()).in_file(&path))?;
    let new = apply(original, &report.changes, seq, bb.hive_bins_size);
    let checks = verify_edit(original, &new, &report.changes, &stats).map_err(|e| {
        Error::Refused(format!(
            "the planned hive failed verification in memory, nothing written: {e}"
        ))
        .in_file(&path)
    })?;
    report
        .checks
        .extend(checks.into_iter().map(|c| format!("in memory: {c}")));
    report.sequence_after = Some(seq);
    report.planned_sha256 = Some(sha256_hex(&new));
    if opts.dry_run {
        report.outcome = Outcome::DryRun;
        return Ok(report);
    }

    let changes = report.changes.clone();
    let verify = |back: &[u8]| verify_edit(original, back, &changes, &stats).map(|_| ());

    if let Some(out) = &opts.output {
        write_new_file(out, &new)?;
        verify(
            &std::fs::read(out)
                .map_err(|e| Error::io(format!("reading back {}", out.display()), e))?,
        )
        .map_err(|e| e.in_file(out))?;
        report.target = Some(out.display().to_string());
        report.write = Some(WriteStats {
            ranges: 1,
            bytes: new.len() as u64,
            after_sha256: sha256_hex(&new),
        });
        report
            .checks
            .push("read back from the new file: same sha256, re-verified".into());
        report.outcome = Outcome::Written;
        return Ok(report);
    }

    // In place. Preflight: writable, unchanged since it was read.
    let explicit_root = opts.backup_root.is_some();
    let root = opts
        .backup_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(backup::DEFAULT_ROOT));
    if located.kind == SourceKind::MountedTree && !explicit_root {
        let probe = if root.exists() {
            root.clone()
        } else {
            PathBuf::from(".")
        };
        if same_device(&probe, &path) {
            return Err(Error::Refused(format!(
                "the default backup directory {} is on the volume being repaired; give --backup-dir on another disk",
                root.display()
            )));
        }
    }
    let mut store = FileStore::open(&path)?;
    if store.read_back()? != *original {
        return Err(Error::Refused(format!(
            "{} changed while ntrescue was planning; nothing written",
            path.display()
        )));
    }
    let mut manifest = backup::new_manifest(
        mode.command(),
        &located.input.display().to_string(),
        TargetInfo::File {
            path: backup::absolute(&path),
        },
    );
    manifest.changes = report.changes.clone();
    manifest.before_sha256 = hive.primary.sha256.clone();
    manifest.expected_after_sha256 = sha256_hex(&new);
    let dir = backup::create(&root, &mut manifest, &hive.primary, &hive.logs)?;
    report.backup = Some(dir.display().to_string());
    let stats = write_verified(&mut store, original, &new, &verify, &dir)?;
    report
        .checks
        .push("read back from disk: sha256 equals the plan; re-verified by both readers".into());
    report.target = Some(store.describe());
    report.write = Some(stats);
    report.outcome = Outcome::Written;
    Ok(report)
}

fn write_new_file(out: &Path, data: &[u8]) -> Result<()> {
    let mut f =
        File::create_new(out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("writing {}", out.display()), e))
}
