// SPDX-License-Identifier: GPL-2.0-or-later
//! Step 1 of an edit: load each hive the command needs and take it as
//! Windows would load it (a dirty hive reconciled from its logs, or
//! refused); the full structure check that every edited hive must pass.

use std::path::Path;

use crate::error::{Code, Error, Result, Warning};
use crate::format::regf::base_block::BaseBlock;
use crate::format::regf::log::{LogFormat, SequencesSeen};
use crate::hive::check::{full_check, CheckStats};
use crate::hive::name::HiveName;
use crate::hive::reader::Reader;
use crate::hive::reconcile::reconcile;
use crate::storage::source::{HivePaths, LoadedHive, Located};
use crate::write::plan::EditOptions;
use crate::write::plan::Needs;

/// A hive ready to edit.
pub(crate) struct Prepared {
    pub(crate) name: HiveName,
    pub(crate) files: LoadedHive,
    /// The image the edit starts from (the primary as Windows loads it).
    pub(crate) replayed: Option<Vec<u8>>,
    pub(crate) bb: BaseBlock,
    pub(crate) seen: SequencesSeen,
    /// Read only for warnings (SOFTWARE without `--include-policy`).
    pub(crate) warnings_only: bool,
    /// The dirty primary was reconciled from an old-format (dirty-vector)
    /// log, which is matched to the primary by its last-written timestamp:
    /// the write gives the hive a later one (as Windows 7 does when it
    /// reconciles), so that the log the replay needed stops applying once
    /// the write's own log does.
    pub(crate) old_format_replay: bool,
}

impl Prepared {
    /// The image the edit starts from: the replayed image of a dirty hive,
    /// else the primary file's bytes (not copied).
    pub(crate) fn base(&self) -> &[u8] {
        self.replayed
            .as_deref()
            .unwrap_or(&self.files.primary.bytes)
    }
}

pub(crate) fn prepare(
    name: HiveName,
    files: LoadedHive,
    opts: &EditOptions,
    warnings: &mut Vec<Warning>,
    warnings_only: bool,
) -> Result<Prepared> {
    let path = files.primary.path.clone();
    let bb = BaseBlock::parse(&files.primary.bytes).map_err(|e| e.in_file(&path))?;
    bb.validate_primary().map_err(|e| e.in_file(&path))?;
    let hive = name.as_str();
    // Refuses a primary whose base block is unusable.
    let rec = reconcile(&files)?;
    let old_format_replay = rec
        .replay
        .as_ref()
        .is_some_and(|r| r.applied.iter().any(|a| a.format == LogFormat::Old));
    let base = match (rec.image, &rec.replay) {
        (Some(image), Some(r)) => {
            let first = r.applied.first().map_or(0, |a| a.sequence);
            let last = r.last_sequence.unwrap_or(first);
            let logs: Vec<&str> = {
                let mut l: Vec<&str> = r.applied.iter().map(|a| a.log.as_str()).collect();
                l.dedup();
                l
            };
            let then = if warnings_only {
                "and read; it is not edited"
            } else {
                "then edited; the hive is written reconciled and clean"
            };
            warnings.push(Warning::new(Code::LogsReplayed, format!(
                "{hive} was dirty (sequence numbers {} and {} differ): replayed {} log entries ({first}..{last}) \
                 from {} in memory exactly as Windows would, {then}",
                bb.seq1,
                bb.seq2,
                r.applied.len(),
                logs.join(", ")
            )));
            if let Some(why) = &r.stopped {
                warnings.push(Warning::new(
                    Code::ReplayStoppedEarly,
                    format!("{hive}: log replay stopped early, as Windows' would: {why}"),
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
                return Err(Error::refused(crate::error::Code::DirtyHive, format!(
                    "{hive} is dirty (sequence numbers {} and {} differ) and {logs}: whatever Windows had not \
                     yet written to it is lost. Boot the VM once and shut it down cleanly, or load and unload \
                     the hive on a Windows helper; or accept that loss with --allow-dirty-without-logs",
                    bb.seq1, bb.seq2
                ))
                .in_file(&path));
            }
            warnings.push(Warning::new(Code::DirtyWithoutLogsAccepted, format!(
                "{hive} is dirty (sequence numbers {} and {} differ) and nothing could be replayed ({why}): \
                 proceeding as asked (--allow-dirty-without-logs); whatever lived only in the missing logs is \
                 lost, and the hive is written clean",
                bb.seq1, bb.seq2
            )));
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
        old_format_replay,
        files,
    })
}

/// The full structure check before an edit; a failure refuses the edit.
pub(crate) fn structure_check(image: &[u8], path: &Path) -> Result<CheckStats> {
    full_check(image).map_err(|e| {
        Error::Refused(format!(
            "the hive failed the structure check, nothing will be written: {e}"
        ))
        .in_file(path)
    })
}

/// The report line for a passed structure check.
pub(crate) fn check_line(name: HiveName, st: &CheckStats) -> String {
    format!(
        "{}: full structure check: {} bins, {} keys, {} values, both readers agree",
        name.as_str(),
        st.bins,
        st.keys,
        st.values
    )
}

/// Loads and prepares the hives `needs` names. SOFTWARE read only for
/// Group Policy warnings does not stop a SYSTEM fix when it is damaged (a
/// warning says why), and is never walked whole. The full structure check
/// of a hive runs later, once it is known to be edited
/// ([`crate::write::apply::plan_hives`]), beside the backup copies.
pub(crate) fn load_hives(
    located: &Located,
    needs: Needs,
    opts: &EditOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Prepared>> {
    let mut prepared: Vec<Prepared> = Vec::new();
    let mut load = |name: HiveName,
                    paths: &HivePaths,
                    warnings: &mut Vec<Warning>,
                    warnings_only: bool|
     -> Result<()> {
        let files = LoadedHive::read(paths)?;
        prepared.push(prepare(name, files, opts, warnings, warnings_only)?);
        Ok(())
    };
    if needs.system {
        load(HiveName::System, &located.system, warnings, false)?;
    }
    if needs.software {
        match &located.software {
            Some(p) if needs.software_required => load(HiveName::Software, p, warnings, false)?,
            Some(p) => {
                if let Err(e) = load(HiveName::Software, p, warnings, true) {
                    warnings.push(Warning::new(
                        Code::SoftwareUnreadable,
                        format!("SOFTWARE hive ignored: {e}"),
                    ));
                }
            }
            None if needs.software_required => {
                return Err(Error::NotFound("no SOFTWARE hive beside SYSTEM".into()));
            }
            None => {}
        }
    }
    Ok(prepared)
}

/// Loads and prepares exactly the hives named, each with its paths; a
/// hive marked `warnings_only` is read (a damaged one is a warning) but
/// never edited.
pub(crate) fn load_named(
    hives: &[(HiveName, HivePaths, bool)],
    opts: &EditOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Prepared>> {
    let mut prepared = Vec::new();
    for (name, paths, warnings_only) in hives {
        let loaded = LoadedHive::read(paths)
            .and_then(|files| prepare(*name, files, opts, warnings, *warnings_only));
        match loaded {
            Ok(p) => prepared.push(p),
            Err(e) if *warnings_only => {
                warnings.push(Warning::new(
                    if *name == HiveName::Software {
                        Code::SoftwareUnreadable
                    } else {
                        Code::HiveUnreadable
                    },
                    format!("{} ignored: {e}", name.as_str()),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(prepared)
}

/// The report lines for hives read only for warnings.
pub(crate) fn warnings_only_lines(prepared: &[Prepared]) -> Vec<String> {
    prepared
        .iter()
        .filter(|p| p.warnings_only)
        .map(|p| {
            let why = match p.name {
                HiveName::Software => "for Group Policy warnings",
                _ => "for reading",
            };
            format!(
                "{}: read {why} only (checked in full only if it is edited)",
                p.name.as_str()
            )
        })
        .collect()
}

/// Both readers over each prepared hive, as Windows would load it.
pub(crate) fn readers(prepared: &[Prepared]) -> Result<Vec<(HiveName, Reader<'_>)>> {
    prepared
        .iter()
        .map(|p| {
            Ok((
                p.name,
                Reader::new(p.base()).map_err(|e| e.in_file(&p.files.primary.path))?,
            ))
        })
        .collect()
}

/// With nothing to change but refusals, says which refused hives fail the
/// full structure check (the refusals may come from the damage).
pub(crate) fn damage_warnings(prepared: &[Prepared], warnings: &mut Vec<Warning>) {
    for p in prepared.iter().filter(|p| !p.warnings_only) {
        if let Err(e) = full_check(p.base()) {
            warnings.push(Warning::new(
                Code::StructureCheckFailed,
                format!(
                    "{}: the hive fails the full structure check: {e}",
                    p.name.as_str()
                ),
            ));
        }
    }
}
