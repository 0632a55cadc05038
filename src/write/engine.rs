// SPDX-License-Identifier: GPL-2.0-or-later
//! The edit engine every fix goes through.
//!
//! A *recipe* looks at the hives (as Windows would load them) and returns
//! *units* of operations, e.g. one unit per control set. The engine:
//! 1. loads the hives and prepares each one: a dirty hive is refused (or,
//!    with the explicit opt-in and no logs present, taken as it is); every
//!    hive passes the full structure check by both readers;
//! 2. resolves every operation against both readers; a unit where any
//!    operation cannot be done (key missing, value unreadable, creation not
//!    allowed...) is left alone as a whole and reported;
//! 3. applies the rest with [`HiveEdit`], rewrites the base block clean with
//!    seq = 1 + the highest sequence number seen, and verifies the result in
//!    memory: strict re-parse by nt-hive, a lock-step walk of the whole tree
//!    against the original (only the planned values differ), the full
//!    structure check, and — for pure in-place changes — a byte diff limited
//!    to the changed 4-byte fields and the base block;
//! 4. unless `--dry-run`: writes the backup bundle (all hives and logs), then
//!    each hive through [`crate::write::commit::write_verified`]; if a later hive
//!    fails, the ones already written are rolled back too.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::regf::base_block::{self, BaseBlock, BASE_BLOCK_SIZE};
use crate::format::regf::edit::HiveEdit;
use crate::format::regf::key::{reg_type, BIG_DATA_THRESHOLD, VK_DATA_OFFSET};
use crate::format::regf::log::SequencesSeen;
use crate::hive::check::{full_check, verify_edit, verify_written, CheckStats, Expect};
use crate::hive::reader::{data_json, KeyLookup, Reader, ValueState};
use crate::hive::reconcile::reconcile;
use crate::report::{FileInfo, SourceInfo, Tool, SCHEMA, TOOL};
use crate::storage::access::WriteAccess;
use crate::storage::source::{HivePaths, LoadedHive, Located, SourceKind};
use crate::storage::target::open_store;
use crate::util::digest::sha256_hex;
use crate::write::backup::{self, HiveBackup};
use crate::write::commit::{write_verified_hashed, HiveStore, WriteStats};

/// Which hive an operation targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HiveName {
    /// `Windows\System32\config\SYSTEM`.
    System,
    /// `Windows\System32\config\SOFTWARE`.
    Software,
}

impl HiveName {
    /// "SYSTEM" / "SOFTWARE".
    pub fn as_str(self) -> &'static str {
        match self {
            HiveName::System => "SYSTEM",
            HiveName::Software => "SOFTWARE",
        }
    }
}

/// What to do to a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Give it this type and data.
    Set {
        /// Registry type.
        ty: u32,
        /// Raw data.
        data: Vec<u8>,
    },
    /// Remove it.
    Delete,
}

/// One value operation.
#[derive(Clone, Debug)]
pub struct Op {
    /// Hive.
    pub hive: HiveName,
    /// Key path from the hive root.
    pub key: String,
    /// Value name ("" = default value).
    pub value: String,
    /// What to do.
    pub action: Action,
    /// Whether a missing value may be created.
    pub create: bool,
}

impl Op {
    /// A REG_DWORD set.
    pub fn dword(hive: HiveName, key: impl Into<String>, value: &str, v: u32, create: bool) -> Op {
        Op {
            hive,
            key: key.into(),
            value: value.into(),
            action: Action::Set {
                ty: reg_type::DWORD,
                data: v.to_le_bytes().to_vec(),
            },
            create,
        }
    }
}

/// Operations applied together or not at all.
#[derive(Clone, Debug)]
pub struct Unit {
    /// Label for reports ("ControlSet001", "policy").
    pub label: String,
    /// Its operations.
    pub ops: Vec<Op>,
}

/// How a value changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// An existing value gets new data.
    Change,
    /// A missing value is created.
    Create,
    /// A value is removed.
    Delete,
}

/// One value change, as planned, reported and recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize)]
pub struct Refusal {
    /// Unit label.
    pub control_set: String,
    /// Value concerned, if one.
    pub value: Option<String>,
    /// Why.
    pub reason: String,
}

/// How an edit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
}

/// Options shared by every edit command.
#[derive(Clone, Debug, Default)]
pub struct EditOptions {
    /// Plan only.
    pub dry_run: bool,
    /// Write the edited SYSTEM hive to this new file instead of in place.
    pub output: Option<PathBuf>,
    /// Backup bundle root (default `./ntrescue-backups`).
    pub backup_root: Option<PathBuf>,
    /// Proceed on a dirty hive with no logs beside it (see README).
    pub allow_dirty_without_logs: bool,
    /// Permission to write; `None` (read-only mode, and the default) allows
    /// only dry runs.
    pub write: Option<WriteAccess>,
}

/// Per-hive part of the report.
#[derive(Clone, Debug, Serialize)]
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
#[derive(Clone, Debug, Serialize)]
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
    /// How it ended.
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
    /// Things the operator should know.
    pub warnings: Vec<String>,
}

/// The hives a recipe reads, as Windows would load them.
pub struct Views<'a> {
    /// SYSTEM.
    pub system: Option<&'a Reader<'a>>,
    /// SOFTWARE, when present and asked for.
    pub software: Option<&'a Reader<'a>>,
    /// Warnings a recipe wants the operator to read.
    pub notes: std::cell::RefCell<Vec<String>>,
}

impl<'a> Views<'a> {
    /// The reader of a hive.
    pub fn get(&self, h: HiveName) -> Option<&'a Reader<'a>> {
        match h {
            HiveName::System => self.system,
            HiveName::Software => self.software,
        }
    }
}

/// Which hives a command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// SYSTEM must exist.
    pub system: bool,
    /// SOFTWARE must exist (true) or is optional (false, read when present).
    pub software_required: bool,
    /// Load SOFTWARE at all.
    pub software: bool,
}

impl Prepared {
    /// The image the edit starts from: the replayed image of a dirty hive,
    /// else the primary file's bytes (not copied).
    fn base(&self) -> &[u8] {
        self.replayed
            .as_deref()
            .unwrap_or(&self.files.primary.bytes)
    }
}

/// A hive ready to edit.
struct Prepared {
    name: HiveName,
    files: LoadedHive,
    /// The image the edit starts from (the primary as Windows loads it).
    replayed: Option<Vec<u8>>,
    bb: BaseBlock,
    seen: SequencesSeen,
    /// Read only for warnings (SOFTWARE without `--include-policy`).
    warnings_only: bool,
}

fn prepare(
    name: HiveName,
    files: LoadedHive,
    opts: &EditOptions,
    warnings: &mut Vec<String>,
    warnings_only: bool,
) -> Result<Prepared> {
    let path = files.primary.path.clone();
    let bb = BaseBlock::parse(&files.primary.bytes).map_err(|e| e.in_file(&path))?;
    bb.validate_primary().map_err(|e| e.in_file(&path))?;
    let hive = name.as_str();
    // Refuses a primary whose base block is unusable.
    let rec = reconcile(&files)?;
    let base = match (rec.image, &rec.replay) {
        (Some(image), Some(r)) => {
            let first = r.applied.first().map_or(0, |a| a.sequence);
            let last = r.last_sequence.unwrap_or(first);
            let logs: Vec<&str> = {
                let mut l: Vec<&str> = r.applied.iter().map(|a| a.log.as_str()).collect();
                l.dedup();
                l
            };
            warnings.push(format!(
                "{hive} was dirty (sequence numbers {} and {} differ): replayed {} log entries ({first}..{last}) \
                 from {} in memory exactly as Windows would, then edited; the hive is written reconciled and clean, \
                 the logs are left untouched",
                bb.seq1,
                bb.seq2,
                r.applied.len(),
                logs.join(", ")
            ));
            if let Some(why) = &r.stopped {
                warnings.push(format!(
                    "{hive}: log replay stopped early, as Windows' would: {why}"
                ));
            }
            Some(image)
        }
        (_, Some(r)) => {
            // Dirty, and nothing Windows would replay.
            let why = r
                .stopped
                .clone()
                .unwrap_or_else(|| "no usable log entries".into());
            let opt_in = bb.checksum_valid() && opts.allow_dirty_without_logs;
            if !opt_in {
                let logs = if files.logs.is_empty() {
                    "no transaction logs were found beside it".to_string()
                } else {
                    format!("its transaction logs hold nothing Windows would replay ({why})")
                };
                return Err(Error::Refused(format!(
                    "{hive} is dirty (sequence numbers {} and {} differ) and {logs}: whatever Windows had not \
                     yet written to it is lost. Boot the VM once and shut it down cleanly, or load and unload \
                     the hive on a Windows helper; or accept that loss with --allow-dirty-without-logs",
                    bb.seq1, bb.seq2
                ))
                .in_file(&path));
            }
            warnings.push(format!(
                "{hive} is dirty (sequence numbers {} and {} differ) and nothing could be replayed ({why}): \
                 proceeding as asked (--allow-dirty-without-logs); whatever lived only in the missing logs is \
                 lost, and the hive is written clean",
                bb.seq1, bb.seq2
            ));
            None
        }
        (_, None) => None,
    };

    Ok(Prepared {
        name,
        replayed: base,
        seen: rec.sequences_seen,
        bb,
        warnings_only,
        files,
    })
}

/// The full structure check before an edit; a failure refuses the edit.
fn structure_check(image: &[u8], path: &Path) -> Result<CheckStats> {
    full_check(image).map_err(|e| {
        Error::Refused(format!(
            "the hive failed the structure check, nothing will be written: {e}"
        ))
        .in_file(path)
    })
}

/// The report line for a passed structure check.
fn check_line(name: HiveName, st: &CheckStats) -> String {
    format!(
        "{}: full structure check: {} bins, {} keys, {} values, both readers agree",
        name.as_str(),
        st.bins,
        st.keys,
        st.values
    )
}

/// One resolved operation.
struct Resolved {
    op: Op,
    change: Change,
    expect: Expect,
}

fn value_data(state: &ValueState) -> Option<(u32, serde_json::Value)> {
    match state {
        ValueState::Present {
            type_code, data, ..
        } => Some((*type_code, data.clone())),
        _ => None,
    }
}

/// Resolves a unit; `Err(refusal)` when any operation cannot be done.
fn resolve_unit(
    views: &Views<'_>,
    unit: &Unit,
    already: &mut Vec<String>,
) -> std::result::Result<Vec<Resolved>, Refusal> {
    let refuse = |value: Option<&str>, reason: String| Refusal {
        control_set: unit.label.clone(),
        value: value.map(String::from),
        reason,
    };
    let mut out = Vec::new();
    let mut done = Vec::new();
    for op in &unit.ops {
        let Some(r) = views.get(op.hive) else {
            return Err(refuse(
                Some(&op.value),
                format!("the {} hive was not found", op.hive.as_str()),
            ));
        };
        let key = match r.key(&op.key) {
            KeyLookup::Found(k) => k,
            KeyLookup::Missing(m) => {
                return Err(refuse(
                    Some(&op.value),
                    format!(
                        "key {}\\{} is missing ('{m}'); ntrescue does not create keys",
                        op.hive.as_str(),
                        op.key
                    ),
                ))
            }
            KeyLookup::Unreadable(e) => {
                return Err(refuse(
                    Some(&op.value),
                    format!("key {} is unreadable: {e}", op.key),
                ))
            }
        };
        let state = r.value(&KeyLookup::Found(key), &op.key, &op.value);
        if let ValueState::Unreadable { error } = &state {
            return Err(refuse(
                Some(&op.value),
                format!("value {} is unreadable: {error}", op.value),
            ));
        }
        let old = value_data(&state);
        // A value that holds big data may be replaced by smaller data or
        // deleted: the writer frees its record, segment list and segments.
        let vk = key.value(&op.value).ok().flatten();
        let name = vk
            .as_ref()
            .and_then(|v| v.name().ok())
            .unwrap_or_else(|| op.value.clone());
        let label = format!(r"{}\{}", unit.label, name);
        match &op.action {
            Action::Set { ty, data } => {
                if data.len() > BIG_DATA_THRESHOLD as usize {
                    return Err(refuse(
                        Some(&op.value),
                        format!(
                            "{} bytes of data need big-data storage; not supported",
                            data.len()
                        ),
                    ));
                }
                let new_json = data_json(*ty, data);
                if let Some((oty, _)) = &old {
                    let same = vk
                        .as_ref()
                        .and_then(|v| v.data().ok())
                        .is_some_and(|d| d == *data)
                        && *oty == *ty;
                    if same {
                        done.push(label);
                        continue;
                    }
                } else if !op.create {
                    return Err(refuse(
                        Some(&op.value),
                        format!(
                            "value {} is missing and this command does not create values",
                            op.value
                        ),
                    ));
                }
                let inline_both = *ty == reg_type::DWORD
                    && data.len() == 4
                    && vk
                        .as_ref()
                        .and_then(|v| v.inline_dword().ok().flatten())
                        .is_some();
                out.push(Resolved {
                    change: Change {
                        hive: op.hive,
                        control_set: unit.label.clone(),
                        key: op.key.clone(),
                        value: name,
                        action: if old.is_some() {
                            ChangeKind::Change
                        } else {
                            ChangeKind::Create
                        },
                        old_type: old.as_ref().map(|(t, _)| reg_type::name(*t)),
                        old: old.map(|(_, d)| d),
                        new_type: Some(reg_type::name(*ty)),
                        new: Some(new_json),
                        file_offset: if inline_both {
                            vk.map(|v| v.abs_of(VK_DATA_OFFSET))
                        } else {
                            None
                        },
                    },
                    expect: Expect {
                        key: op.key.clone(),
                        value: op.value.clone(),
                        after: Some((*ty, data.clone())),
                    },
                    op: op.clone(),
                });
            }
            Action::Delete => {
                let Some((oty, odata)) = old else {
                    done.push(label);
                    continue;
                };
                out.push(Resolved {
                    change: Change {
                        hive: op.hive,
                        control_set: unit.label.clone(),
                        key: op.key.clone(),
                        value: name,
                        action: ChangeKind::Delete,
                        old_type: Some(reg_type::name(oty)),
                        old: Some(odata),
                        new_type: None,
                        new: None,
                        file_offset: None,
                    },
                    expect: Expect {
                        key: op.key.clone(),
                        value: op.value.clone(),
                        after: None,
                    },
                    op: op.clone(),
                });
            }
        }
    }
    already.extend(done);
    Ok(out)
}

/// Applies the resolved operations of one hive; returns the new image, the
/// number of hive bins appended and the sequence number it is written with
/// (refused when none is safe, see [`SequencesSeen::next_clean`]).
fn apply(p: &Prepared, ops: &[&Resolved]) -> Result<(Vec<u8>, u32, u32)> {
    let seq = p.seen.next_clean()?;
    // `plan_hives` runs the full structure check on exactly these bytes
    // and keeps the edit only if it passes.
    let mut edit = HiveEdit::unwalked(p.base().to_vec())?;
    for r in ops {
        let key_rel = {
            let view = crate::format::regf::cell::HiveView::new(edit.bytes())?;
            crate::format::regf::key::Key::root(view)?
                .subpath(&r.op.key)?
                .map_err(|m| Error::Invalid {
                    what: "key",
                    offset: 0,
                    detail: format!("{} vanished during the edit ('{m}')", r.op.key),
                })?
                .offset()
        };
        match &r.op.action {
            Action::Set { ty, data } => {
                edit.set_value(key_rel, &r.op.value, *ty, data)?;
            }
            Action::Delete => {
                edit.delete_value(key_rel, &r.op.value)?;
            }
        }
    }
    let appended = edit.appended_bins();
    let bins = edit.hive_bins_size();
    let mut new = edit.into_bytes();
    // Keep any slack the file had past the bins (never shrink the file).
    if new.len() < p.base().len() {
        new.extend_from_slice(&p.base()[new.len()..]);
    }
    let file = &p.files.primary.bytes;
    if new.len() < file.len() {
        new.extend_from_slice(&file[new.len()..]);
    }
    // The last-written timestamp stays as it is: Windows 8.1+ no longer
    // updates it, the first bin keeps a copy of it, and old-format logs are
    // matched to the primary by it (hive-write-safety.md 2.1, 5.5).
    base_block::set_clean(&mut new[..BASE_BLOCK_SIZE], seq, bins);
    Ok((new, appended, seq))
}

fn write_new_file(_: &WriteAccess, out: &Path, data: &[u8]) -> Result<()> {
    let mut f =
        File::create_new(out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("writing {}", out.display()), e))
}

/// Plans and verifies each touched hive in memory: the new bytes per
/// hive (index into `prepared`), with the report's per-hive fields and
/// `checks` filled in. A raw-volume file that would have to grow is refused.
fn plan_hives(
    prepared: &[Prepared],
    resolved: &[Resolved],
    hives: &mut [HiveOutcome],
    checks: &mut Vec<String>,
) -> Result<Vec<(usize, Vec<u8>)>> {
    let mut planned: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        let mine: Vec<&Resolved> = resolved.iter().filter(|r| r.op.hive == p.name).collect();
        if mine.is_empty() {
            continue;
        }
        let path = &p.files.primary.path;
        let expects: Vec<Expect> = mine.iter().map(|r| r.expect.clone()).collect();
        let inplace: Option<Vec<u64>> = mine.iter().map(|r| r.change.file_offset).collect();
        // Edit, then verify the planned bytes while they are hashed on
        // another core (the hash goes into the manifest and the report).
        let plan = |base_stats: Option<&CheckStats>| -> Result<_> {
            let (new, appended, seq) = apply(p, &mine).map_err(|e| e.in_file(path))?;
            let (done, sha) = std::thread::scope(|s| {
                let hasher = s.spawn(|| sha256_hex(&new));
                let done = verify_edit(p.base(), &new, &expects, inplace.as_deref(), base_stats);
                (done, hasher.join().expect("hash thread"))
            });
            let done = done.map_err(|e| {
                Error::Refused(format!(
                    "the planned hive failed verification in memory, nothing written: {e}"
                ))
                .in_file(path)
            })?;
            Ok((new, appended, seq, done, sha))
        };
        // An in-place plan is verified without the original's walk, so the
        // structure check runs beside it; its edit is kept only if the check
        // passes. Any other plan needs the check's counts first.
        let (stats, planned_one) = if inplace.is_some() {
            std::thread::scope(|s| {
                let check = s.spawn(|| structure_check(p.base(), path));
                let one = plan(None);
                (check.join().expect("structure check thread"), one)
            })
        } else {
            let stats = structure_check(p.base(), path)?;
            let one = plan(Some(&stats));
            (Ok(stats), one)
        };
        let stats = stats?;
        checks.push(check_line(p.name, &stats));
        let (new, appended, seq, done, sha) = planned_one?;
        checks.extend(
            done.into_iter()
                .map(|c| format!("{}: in memory: {c}", p.name.as_str())),
        );
        let h = &mut hives[i];
        h.sequence_after = Some(seq);
        h.appended_bins = appended;
        h.planned_sha256 = Some(sha);
        planned.push((i, new));
    }
    // A file inside a raw NTFS volume cannot grow (ntrescue never changes
    // NTFS metadata): refuse a plan that needs more than the file holds now,
    // before any write (an unfinished backup bundle is removed), and in a
    // dry run too.
    for (i, new) in &planned {
        let p = &prepared[*i];
        if let crate::storage::target::TargetInfo::Ntfs { size, path, .. } =
            p.files.primary.origin.target()
        {
            if new.len() as u64 > size {
                let why = if p.replayed.is_some() {
                    "after replaying its transaction logs the hive"
                } else {
                    "with the new values the hive"
                };
                return Err(Error::Refused(format!(
                    "{path}: {why} needs {:#x} bytes but the file on the raw NTFS volume holds {size:#x}; \
                     ntrescue never grows a file behind NTFS's back: mount the volume (ntfs-3g) and run on the mounted path",
                    new.len()
                )));
            }
        }
    }
    Ok(planned)
}

/// `--output`: the one edited SYSTEM hive written to a new file, read back
/// and re-verified with `verify`; the source is not touched. The new file
/// is removed if it does not verify.
fn write_output(
    access: &WriteAccess,
    located: &Located,
    prepared: &[Prepared],
    planned: &[(usize, Vec<u8>)],
    out: &Path,
    verify: &dyn Fn(&[u8]) -> Result<()>,
) -> Result<()> {
    if located.kind != SourceKind::HiveFile
        || planned.len() != 1
        || prepared[planned[0].0].name != HiveName::System
    {
        return Err(Error::Refused(
            "--output writes one edited SYSTEM hive file; it is for hive-file sources and SYSTEM-only edits".into(),
        ));
    }
    let new = &planned[0].1;
    write_new_file(access, out, new)?;
    let checked = std::fs::read(out)
        .map_err(|e| Error::io(format!("reading back {}", out.display()), e))
        .and_then(|back| {
            if back != *new {
                return Err(Error::Invalid {
                    what: "read-back",
                    offset: 0,
                    detail: "the new file does not read back as written".into(),
                });
            }
            verify(&back)
        });
    if let Err(e) = checked {
        // Never leave an unverified hive behind.
        let _ = std::fs::remove_file(out);
        return Err(e.in_file(out));
    }
    Ok(())
}

/// Runs `recipe` on `located`.
pub fn run(
    located: &Located,
    command: &str,
    needs: Needs,
    opts: &EditOptions,
    recipe: &dyn Fn(&Views<'_>) -> Result<Vec<Unit>>,
) -> Result<EditReport> {
    let mut warnings = Vec::new();
    let mut prepared: Vec<Prepared> = Vec::new();
    // The full structure check of a hive runs once it is known to be
    // edited (`plan_hives`), beside the backup copies being written.
    let mut load = |name: HiveName,
                    paths: &HivePaths,
                    warnings: &mut Vec<String>,
                    warnings_only: bool|
     -> Result<()> {
        let files = LoadedHive::read(paths)?;
        prepared.push(prepare(name, files, opts, warnings, warnings_only)?);
        Ok(())
    };
    if needs.system {
        load(HiveName::System, &located.system, &mut warnings, false)?;
    }
    if needs.software {
        match &located.software {
            Some(p) if needs.software_required => {
                load(HiveName::Software, p, &mut warnings, false)?
            }
            // Read only for warnings: a damaged SOFTWARE does not stop a
            // SYSTEM fix, and a large one is not walked whole for nothing.
            Some(p) => {
                if let Err(e) = load(HiveName::Software, p, &mut warnings, true) {
                    warnings.push(format!("SOFTWARE hive ignored: {e}"));
                }
            }
            None if needs.software_required => {
                return Err(Error::NotFound("no SOFTWARE hive beside SYSTEM".into()));
            }
            None => {}
        }
    }
    let mut checks: Vec<String> = prepared
        .iter()
        .filter(|p| p.warnings_only)
        .map(|p| {
            format!(
                "{}: read for Group Policy warnings only (checked in full only if it is edited)",
                p.name.as_str()
            )
        })
        .collect();
    let readers: Vec<(HiveName, Reader<'_>)> = prepared
        .iter()
        .map(|p| {
            Ok((
                p.name,
                Reader::new(p.base()).map_err(|e| e.in_file(&p.files.primary.path))?,
            ))
        })
        .collect::<Result<_>>()?;
    let find = |h: HiveName| readers.iter().find(|(n, _)| *n == h).map(|(_, r)| r);
    let views = Views {
        system: find(HiveName::System),
        software: find(HiveName::Software),
        notes: Default::default(),
    };
    let units = recipe(&views)?;
    warnings.extend(views.notes.take());
    let mut resolved = Vec::new();
    let mut already = Vec::new();
    let mut refusals = Vec::new();
    for u in &units {
        match resolve_unit(&views, u, &mut already) {
            Ok(r) => resolved.extend(r),
            Err(refusal) => {
                warnings.push(format!(
                    "{}: left unchanged: {}",
                    refusal.control_set, refusal.reason
                ));
                refusals.push(refusal);
            }
        }
    }
    let mut report = EditReport {
        schema: SCHEMA,
        tool: TOOL,
        command: command.to_string(),
        source: SourceInfo {
            kind: located.kind,
            path: located.input.display().to_string(),
        },
        dry_run: opts.dry_run,
        outcome: Outcome::Refused,
        changes: resolved.iter().map(|r| r.change.clone()).collect(),
        already_set: already,
        refusals,
        hives: prepared
            .iter()
            .map(|p| HiveOutcome {
                name: p.name,
                file: FileInfo::from(&p.files.primary),
                sequence_before: [p.bb.seq1, p.bb.seq2],
                sequence_after: None,
                appended_bins: 0,
                planned_sha256: None,
                target: None,
                write: None,
            })
            .collect(),
        backup: None,
        checks: Vec::new(),
        warnings,
    };
    if resolved.is_empty() {
        report.outcome = if report.refusals.is_empty() {
            Outcome::NothingToDo
        } else {
            // Say whether the refusals come from a damaged hive.
            for p in prepared.iter().filter(|p| !p.warnings_only) {
                if let Err(e) = full_check(p.base()) {
                    report.warnings.push(format!(
                        "{}: the hive fails the full structure check: {e}",
                        p.name.as_str()
                    ));
                }
            }
            Outcome::Refused
        };
        report.checks = checks;
        return Ok(report);
    }

    // After a write, the bytes read back must hash to the plan (checked by
    // write_verified), which was fully verified in memory; they are then
    // re-parsed strictly and the planned values re-read.
    let verify_for = |i: usize| {
        let name = prepared[i].name;
        let expects: Vec<Expect> = resolved
            .iter()
            .filter(|r| r.op.hive == name)
            .map(|r| r.expect.clone())
            .collect();
        move |back: &[u8]| verify_written(back, &expects)
    };
    let in_place = !opts.dry_run && opts.output.is_none();
    let access = match (&opts.write, in_place) {
        (Some(a), true) => a,
        _ => {
            // Dry run, --output, or read-only: the plan is made and verified
            // in memory first.
            let planned = plan_hives(&prepared, &resolved, &mut report.hives, &mut checks)?;
            report.checks = checks;
            if opts.dry_run {
                report.outcome = Outcome::DryRun;
                return Ok(report);
            }
            let Some(access) = opts.write.as_ref() else {
                return Err(WriteAccess::refused(&format!("`{command}`")));
            };
            let out = opts.output.as_ref().expect("--output: the only other case");
            write_output(
                access,
                located,
                &prepared,
                &planned,
                out,
                &verify_for(planned[0].0),
            )?;
            let (i, new) = &planned[0];
            let h = &mut report.hives[*i];
            h.target = Some(out.display().to_string());
            h.write = Some(WriteStats {
                ranges: 1,
                bytes: new.len() as u64,
                after_sha256: h.planned_sha256.clone().unwrap_or_default(),
            });
            report
                .checks
                .push("read back from the new file: same sha256, re-verified".into());
            report.outcome = Outcome::Written;
            return Ok(report);
        }
    };

    // In place. Preflight first: backup location, each target writable and
    // unchanged since it was read.
    let touched: Vec<usize> = (0..prepared.len())
        .filter(|&i| resolved.iter().any(|r| r.op.hive == prepared[i].name))
        .collect();
    let explicit_root = opts.backup_root.is_some();
    let root = opts
        .backup_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(backup::DEFAULT_ROOT));
    let mut stores: Vec<Box<dyn HiveStore>> = Vec::new();
    for &i in &touched {
        let p = &prepared[i];
        let path = &p.files.primary.path;
        // A mounted Windows tree, or a hive file given by its path inside
        // one: the default bundle location must not be on that volume.
        let on_windows_volume = located.kind == SourceKind::MountedTree
            || (located.kind == SourceKind::HiveFile
                && crate::storage::source::in_windows_config(path));
        if on_windows_volume && !explicit_root {
            let probe = if root.exists() {
                root.clone()
            } else {
                PathBuf::from(".")
            };
            if crate::storage::os::same_filesystem(&probe, path) {
                return Err(Error::Refused(format!(
                    "the default backup directory {} is on the volume being repaired; give --backup-dir on another disk",
                    root.display()
                )));
            }
        }
        if on_windows_volume {
            if let Some(sig) = crate::storage::source::hibernation_beside(path) {
                return Err(Error::Refused(format!(
                    "hiberfil.sys beside {} holds an active hibernation image ('{sig}'): Windows would resume \
                     from it and discard the edit. Boot Windows and shut it down fully (no Fast Startup), or \
                     remove the image first",
                    path.display()
                )));
            }
        }
        // Preflight checks and the write handle (raw volumes: not mounted,
        // not dirty, not hibernated, file writable in place).
        let mut store = open_store(access, &p.files.primary.origin.target())?;
        if store.differs_from(&p.files.primary.bytes)?.is_some() {
            return Err(Error::Refused(format!(
                "{} changed while ntrescue was planning; nothing written",
                path.display()
            )));
        }
        stores.push(store);
    }
    // The backup copies are written and flushed on the second core while
    // the plan is made and verified in memory; the bundle is completed (its
    // manifest written) only once the plan has passed, and removed if it
    // does not. Either way nothing has touched the target yet.
    let to_save: Vec<(HiveName, &LoadedHive)> = touched
        .iter()
        .map(|&i| (prepared[i].name, &prepared[i].files))
        .collect();
    let (planned, copies) = std::thread::scope(|s| {
        let copier = s.spawn(|| backup::write_copies(access, &root, &to_save));
        let planned = plan_hives(&prepared, &resolved, &mut report.hives, &mut checks);
        (planned, copier.join().expect("backup thread"))
    });
    let planned = match planned {
        Ok(p) => p,
        Err(e) => {
            if let Ok(c) = copies {
                c.discard();
            }
            return Err(e);
        }
    };
    let copies = copies?;
    report.checks = checks;
    let mut manifest = backup::new_manifest(command, &located.input.display().to_string());
    manifest.changes = report.changes.clone();
    let saved: Vec<HiveBackup> = planned
        .iter()
        .map(|(i, _)| HiveBackup {
            name: prepared[*i].name,
            files: Vec::new(),
            before_sha256: prepared[*i].files.primary.sha256.clone(),
            expected_after_sha256: report.hives[*i].planned_sha256.clone().unwrap_or_default(),
        })
        .collect();
    let dir = copies.finish(&mut manifest, saved)?;
    report.backup = Some(dir.display().to_string());

    let mut written: Vec<usize> = Vec::new();
    for (k, (i, new)) in planned.iter().enumerate() {
        let p = &prepared[*i];
        let verify = verify_for(*i);
        let planned_sha = report.hives[*i].planned_sha256.clone().unwrap_or_default();
        match write_verified_hashed(
            stores[k].as_mut(),
            &p.files.primary.bytes,
            new,
            &planned_sha,
            &verify,
            &dir,
        ) {
            Ok(stats) => {
                let h = &mut report.hives[*i];
                h.target = Some(stores[k].describe());
                h.write = Some(stats);
                written.push(k);
            }
            Err(e) => {
                // Undo the hives already written, newest first.
                let mut notes = Vec::new();
                for &w in written.iter().rev() {
                    let (wi, wnew) = &planned[w];
                    let orig = &prepared[*wi].files.primary.bytes;
                    match crate::write::commit::undo(stores[w].as_mut(), wnew, orig) {
                        Ok(()) => notes.push(format!(
                            "{} was written, then put back and verified",
                            prepared[*wi].name.as_str()
                        )),
                        Err(e2) => {
                            return Err(Error::RollbackFailed(format!(
                                "{e}; restoring {} failed too ({e2}): run `ntrescue restore --force {}`",
                                prepared[*wi].name.as_str(),
                                dir.display()
                            )))
                        }
                    }
                }
                return Err(match e {
                    Error::RollbackFailed(m) => Error::RollbackFailed(m),
                    // Something was written and is now undone: the fix as a
                    // whole was rolled back, whatever stopped the later hive.
                    other if !notes.is_empty() => Error::RolledBack(format!(
                        "{}; {}",
                        match other {
                            Error::RolledBack(m) => m,
                            o => o.to_string(),
                        },
                        notes.join(", ")
                    )),
                    other => other,
                });
            }
        }
    }
    report
        .checks
        .push("read back from disk: sha256 equals the plan; re-verified by both readers".into());
    report.outcome = Outcome::Written;
    Ok(report)
}
