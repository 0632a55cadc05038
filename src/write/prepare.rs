// SPDX-License-Identifier: GPL-2.0-or-later
//! Step 1 of an edit: load each hive the command needs and take it as
//! Windows would load it (a dirty hive reconciled from its logs, or
//! refused); the full structure check that every edited hive must pass.
//! A hive the command edits is read whole (`Prepared`: the backup, the
//! hash and the structure check need every byte); a hive it only consults
//! (SOFTWARE for Group Policy warnings, SYSTEM for the boot key) is read
//! on demand (`Consulted`), as `inspect` reads.

use std::path::Path;

use crate::error::{Code, Error, Result, Warning};
use crate::format::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE};
use crate::format::regf::cell::HiveBytes;
use crate::format::regf::log::{LogFormat, SequencesSeen};
use crate::hive::check::{full_check, CheckStats};
use crate::hive::name::HiveName;
use crate::hive::reader::Reader;
use crate::hive::reconcile::{reconcile, reconcile_lazy, LazyReconciled, ReplayInfo};
use crate::storage::source::{HivePaths, LazyHive, LoadedHive, Located};
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
) -> Result<Prepared> {
    let path = files.primary.path.clone();
    let bb = BaseBlock::parse(&files.primary.bytes).map_err(|e| e.in_file(&path))?;
    bb.validate_primary().map_err(|e| e.in_file(&path))?;
    // Refuses a primary whose base block is unusable.
    let rec = reconcile(&files)?;
    let old_format_replay = rec
        .replay
        .as_ref()
        .is_some_and(|r| r.applied.iter().any(|a| a.format == LogFormat::Old));
    let replayed = rec.image.is_some();
    as_loaded(
        name,
        &bb,
        rec.replay.as_ref(),
        replayed,
        files.logs.is_empty(),
        false,
        opts,
        warnings,
    )
    .map_err(|e| e.in_file(&path))?;
    Ok(Prepared {
        name,
        replayed: rec.image,
        seen: rec.sequences_seen,
        bb,
        old_format_replay,
        files,
    })
}

/// What loading a hive as Windows would says: the warnings for a dirty
/// hive replayed from its logs, or the refusal of a dirty hive with
/// nothing to replay (unless `--allow-dirty-without-logs`). `replayed`:
/// log data was applied; `consulted`: the hive is only read.
#[allow(clippy::too_many_arguments)]
fn as_loaded(
    name: HiveName,
    bb: &BaseBlock,
    replay: Option<&ReplayInfo>,
    replayed: bool,
    no_logs: bool,
    consulted: bool,
    opts: &EditOptions,
    warnings: &mut Vec<Warning>,
) -> Result<()> {
    let hive = name.as_str();
    let Some(r) = replay else {
        return Ok(());
    };
    if replayed {
        let first = r.applied.first().map_or(0, |a| a.sequence);
        let last = r.last_sequence.unwrap_or(first);
        let logs: Vec<&str> = {
            let mut l: Vec<&str> = r.applied.iter().map(|a| a.log.as_str()).collect();
            l.dedup();
            l
        };
        let then = if consulted {
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
        return Ok(());
    }
    // Dirty, and nothing Windows would replay.
    let why = r
        .stopped
        .clone()
        .unwrap_or_else(|| "no usable log entries".into());
    let opt_in = bb.checksum_valid() && opts.allow_dirty_without_logs;
    if !opt_in {
        let logs = if no_logs {
            "no transaction logs were found beside it".to_string()
        } else {
            format!("its transaction logs hold nothing Windows would replay ({why})")
        };
        return Err(Error::refused(crate::error::Code::DirtyHive, format!(
            "{hive} is dirty (sequence numbers {} and {} differ) and {logs}: whatever Windows had not \
             yet written to it is lost. Boot the VM once and shut it down cleanly, or load and unload \
             the hive on a Windows helper; or accept that loss with --allow-dirty-without-logs",
            bb.seq1, bb.seq2
        )));
    }
    warnings.push(Warning::new(Code::DirtyWithoutLogsAccepted, format!(
        "{hive} is dirty (sequence numbers {} and {} differ) and nothing could be replayed ({why}): \
         proceeding as asked (--allow-dirty-without-logs); whatever lived only in the missing logs is \
         lost, and the hive is written clean",
        bb.seq1, bb.seq2
    )));
    Ok(())
}

/// A hive a command reads but does not edit: its primary read on demand
/// (the pages the lookups touch), its logs whole and replayed in memory as
/// an overlay, exactly as `inspect` reads. Never hashed or walked whole:
/// its report entry has no SHA-256.
pub(crate) struct Consulted {
    pub(crate) name: HiveName,
    pub(crate) hive: LazyHive,
    pub(crate) rec: LazyReconciled,
    pub(crate) bb: BaseBlock,
}

impl Consulted {
    /// Opens `paths` on demand and reconciles the hive with its logs; a
    /// dirty hive with nothing to replay is refused as [`prepare`] refuses
    /// it (the callers turn that into a warning).
    fn open(
        name: HiveName,
        paths: &HivePaths,
        opts: &EditOptions,
        warnings: &mut Vec<Warning>,
    ) -> Result<Self> {
        let hive = LazyHive::open(paths)?;
        let path = hive.path.clone();
        let head = hive
            .image
            .range(0, BASE_BLOCK_SIZE.min(hive.image.len()))
            .map_err(|e| e.in_file(&path))?;
        let bb = BaseBlock::parse(head).map_err(|e| e.in_file(&path))?;
        bb.validate_primary().map_err(|e| e.in_file(&path))?;
        let rec = reconcile_lazy(&hive)?;
        let replayed = rec.image.is_some();
        as_loaded(
            name,
            &bb,
            rec.replay.as_ref(),
            replayed,
            hive.logs.is_empty(),
            true,
            opts,
            warnings,
        )
        .map_err(|e| e.in_file(&path))?;
        // A hive no reader can open is ignored here (with a warning), not
        // a stop of the whole command later.
        Reader::paged(rec.bytes(&hive)).map_err(|e| e.in_file(&path))?;
        Ok(Consulted {
            name,
            hive,
            rec,
            bb,
        })
    }

    /// Our navigator over the hive as Windows loads it, read on demand.
    fn reader(&self) -> Result<Reader<'_>> {
        Reader::paged(self.rec.bytes(&self.hive)).map_err(|e| e.in_file(&self.hive.path))
    }
}

/// The hives an edit reads: those it may edit, read whole, and those it
/// only consults, read on demand.
pub(crate) struct Loaded {
    pub(crate) prepared: Vec<Prepared>,
    pub(crate) consulted: Vec<Consulted>,
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

/// Loads the hives `needs` names. SOFTWARE read only for Group Policy
/// warnings is consulted on demand and does not stop a SYSTEM fix when it
/// is damaged (a warning says why). The full structure check of a hive
/// runs later, once it is known to be edited
/// ([`crate::write::apply::plan_hives`]), beside the backup copies.
pub(crate) fn load_hives(
    located: &Located,
    needs: Needs,
    opts: &EditOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Loaded> {
    let mut hives = Vec::new();
    if needs.system {
        hives.push((HiveName::System, located.system.clone(), false));
    }
    if needs.software {
        match &located.software {
            Some(p) => hives.push((HiveName::Software, p.clone(), !needs.software_required)),
            None if needs.software_required => {
                return Err(Error::NotFound("no SOFTWARE hive beside SYSTEM".into()));
            }
            None => {}
        }
    }
    load_named(&hives, opts, warnings)
}

/// Loads exactly the hives named, each with its paths: those marked
/// `consulted` on demand (a damaged one is a warning), the others whole.
pub(crate) fn load_named(
    hives: &[(HiveName, HivePaths, bool)],
    opts: &EditOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Loaded> {
    let mut loaded = Loaded {
        prepared: Vec::new(),
        consulted: Vec::new(),
    };
    for (name, paths, consulted) in hives {
        if !consulted {
            let files = LoadedHive::read(paths)?;
            loaded.prepared.push(prepare(*name, files, opts, warnings)?);
            continue;
        }
        match Consulted::open(*name, paths, opts, warnings) {
            Ok(c) => loaded.consulted.push(c),
            Err(e) => warnings.push(Warning::new(
                if *name == HiveName::Software {
                    Code::SoftwareUnreadable
                } else {
                    Code::HiveUnreadable
                },
                format!("{} ignored: {e}", name.as_str()),
            )),
        }
    }
    Ok(loaded)
}

/// The report lines for hives read only for warnings.
pub(crate) fn consulted_lines(consulted: &[Consulted]) -> Vec<String> {
    consulted
        .iter()
        .map(|c| {
            let why = match c.name {
                HiveName::Software => "for Group Policy warnings",
                _ => "for reading",
            };
            format!(
                "{}: read {why} only, on demand (checked in full only if it is edited)",
                c.name.as_str()
            )
        })
        .collect()
}

/// A reader over each hive, as Windows would load it: both readers over
/// a prepared hive, our navigator on demand over a consulted one.
pub(crate) fn readers(loaded: &Loaded) -> Result<Vec<(HiveName, Reader<'_>)>> {
    let mut out = Vec::new();
    for p in &loaded.prepared {
        out.push((
            p.name,
            Reader::new(p.base()).map_err(|e| e.in_file(&p.files.primary.path))?,
        ));
    }
    for c in &loaded.consulted {
        out.push((c.name, c.reader()?));
    }
    Ok(out)
}

/// With nothing to change but refusals, says which refused hives fail the
/// full structure check (the refusals may come from the damage).
pub(crate) fn damage_warnings(prepared: &[Prepared], warnings: &mut Vec<Warning>) {
    for p in prepared {
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
