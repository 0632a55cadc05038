// SPDX-License-Identifier: GPL-2.0-or-later
//! The edit engine every fix goes through: it only sequences the steps,
//! each of which lives in its own file.
//!
//! A *recipe* looks at the hives (as Windows would load them) and returns
//! *units* of operations, e.g. one unit per control set. The engine:
//! 1. loads the hives and prepares each one ([`crate::write::prepare`]): a
//!    dirty hive is reconciled from its logs or refused (or, with the
//!    explicit opt-in and no logs present, taken as it is);
//! 2. resolves every operation against both readers ([`crate::write::plan`]);
//!    a unit where any operation cannot be done (key missing, value
//!    unreadable, creation not allowed...) is left alone as a whole and
//!    reported;
//! 3. applies the rest ([`crate::write::apply`]), rewrites the base block clean with
//!    seq = 1 + the highest sequence number seen, and verifies the result in
//!    memory: strict re-parse by nt-hive, a lock-step walk of the whole tree
//!    against the original (only the planned values differ), the full
//!    structure check, and — for pure in-place changes — a byte diff limited
//!    to the changed 4-byte fields and the base block;
//! 4. unless `--dry-run`: writes the backup bundle (all hives and logs), then
//!    each hive through [`crate::write::commit::write_verified`]; if a later hive
//!    fails, the ones already written are rolled back too.

use std::path::{Path, PathBuf};

use crate::error::{Code, Error, Result, Warning};
use crate::hive::check::Expect;
use crate::hive::name::HiveName;
use crate::report::{FileInfo, SourceInfo, SCHEMA, TOOL};
use crate::storage::access::WriteAccess;
use crate::storage::lock::{lock, lock_path, TargetLock};
use crate::storage::source::{LoadedHive, Located};
use crate::storage::store::FileStore;
use crate::storage::target::open_store;
use crate::util::digest::sha256_hex;
use crate::write::apply::{plan_hives, EarlyCheck, LogRef, Planned, TxChoice};
use crate::write::backup::{self, HiveBackup};
use crate::write::commit::LogTarget;
use crate::write::commit::{commit_all, PlannedWrite};
use crate::write::intent::{image_writes_from, PlannedFileWrites, WriteState};
use crate::write::outcome::{EditReport, HiveOutcome, Outcome, SkippedCheck};
use crate::write::output::write_output;
use crate::write::plan::EditOptions;
use crate::write::plan::{resolve_all, Needs, Resolution, Resolved, Unit, Views};
use crate::write::preflight::{backup_root, check_backup_root, open_targets, unchanged, Target};
use crate::write::prepare::{
    consulted_lines, damage_warnings, load_hives, readers, structure_check, Consulted, Loaded,
    Prepared,
};
use crate::write::verify::verify_written;

/// Runs `recipe` on `located`: load and prepare, plan, then (unless a dry
/// run) write in place or to `--output`.
pub fn run(
    located: &Located,
    command: &str,
    needs: Needs,
    opts: &EditOptions,
    recipe: &dyn Fn(&Views<'_>) -> Result<Vec<Unit>>,
) -> Result<EditReport> {
    // One writer at a time, from before the hives are read until the
    // read-back (a dry run takes it too: it reports what the write would meet).
    let _lock = lock_targets(located, needs, opts)?;
    let mut warnings = Vec::new();
    let loaded = load_hives(located, needs, opts, &mut warnings)?;
    run_prepared(located, command, loaded, warnings, opts, recipe)
}

/// [`run`] on exactly the hives named (`(name, paths, read only)`): the
/// account recipes edit SAM or SECURITY and read SYSTEM for the boot key.
pub fn run_hives(
    located: &Located,
    command: &str,
    hives: &[(HiveName, crate::storage::source::HivePaths, bool)],
    opts: &EditOptions,
    recipe: &dyn Fn(&Views<'_>) -> Result<Vec<Unit>>,
) -> Result<EditReport> {
    // The same lock as [`run`], on the hives the command may write.
    let edited: Vec<&Path> = hives
        .iter()
        .filter(|(_, _, read_only)| !read_only)
        .map(|(_, paths, _)| lock_path(&paths.primary))
        .collect();
    let _lock = lock(&edited, opts.wait)?;
    let mut warnings = Vec::new();
    let loaded = crate::write::prepare::load_named(hives, opts, &mut warnings)?;
    run_prepared(located, command, loaded, warnings, opts, recipe)
}

fn run_prepared(
    located: &Located,
    command: &str,
    loaded: Loaded,
    mut warnings: Vec<Warning>,
    opts: &EditOptions,
    recipe: &dyn Fn(&Views<'_>) -> Result<Vec<Unit>>,
) -> Result<EditReport> {
    let checks = consulted_lines(&loaded.consulted);
    let readers = readers(&loaded)?;
    let views = Views::over(&readers);
    let units = recipe(&views)?;
    warnings.extend(views.notes.take());
    let Resolution {
        resolved,
        already,
        refusals,
    } = resolve_all(&views, &units, &mut warnings);
    let prepared = &loaded.prepared;
    // Only a hive read whole can be edited: a recipe that plans a change
    // to a consulted hive is a bug, refused before anything is written.
    if let Some(r) = resolved
        .iter()
        .find(|r| !prepared.iter().any(|p| p.name == r.op.hive))
    {
        return Err(Error::Unsupported {
            what: "edit",
            offset: 0,
            detail: format!(
                "{} was read only for warnings, yet a change to {}\\{} was planned",
                r.op.hive.as_str(),
                r.op.key,
                r.op.value
            ),
        });
    }
    let mut report = new_report(located, command, opts, &loaded, warnings);
    report.changes = resolved.iter().map(|r| r.change.clone()).collect();
    report.already_set = already;
    report.refusals = refusals;
    // A dirty hive that replays to exactly what an earlier run of ours
    // planned (a bundle's recorded after-state): that run was stopped
    // mid-write; finish it (written clean), never "nothing to do" over it.
    let finish = if resolved.is_empty() && report.refusals.is_empty() {
        unfinished_writes(prepared, opts)
    } else {
        Vec::new()
    };
    for (i, dir) in &finish {
        report.warnings.push(Warning::new(Code::UnfinishedWriteCompleted, format!(
            "{}: an earlier run (bundle {}) was stopped before its write finished; the hive already \
             loads as that run planned through its transaction log, and is now written clean",
            prepared[*i].name.as_str(),
            dir.display()
        )));
    }
    if resolved.is_empty() && finish.is_empty() {
        report.backup = earlier_bundle(prepared, opts);
        if let Some(dir) = &report.backup {
            report.checks.push(format!(
                "backup: an earlier run's bundle {dir} holds the hive as it was before that run wrote it"
            ));
        }
        report.outcome = if report.refusals.is_empty() {
            Outcome::NothingToDo
        } else {
            // Say whether the refusals come from a damaged hive.
            damage_warnings(prepared, &mut report.warnings);
            Outcome::Refused
        };
        let found = std::mem::take(&mut report.checks);
        report.checks = checks;
        report.checks.extend(found);
        return Ok(report);
    }
    let edit = Edit {
        located,
        command,
        opts,
        prepared,
        resolved: &resolved,
        finish: finish.iter().map(|(i, _)| *i).collect(),
    };
    match (&opts.write, !opts.dry_run && opts.output.is_none()) {
        (Some(access), true) => edit.in_place(access, report, checks),
        _ => edit.planned_only(report, checks),
    }
}

/// The dirty hives whose replayed image is exactly the after-state a
/// bundle in the backup root recorded for them: an earlier run's write that
/// was stopped after its transaction entry reached the log. Each with the
/// bundle's directory.
fn unfinished_writes(prepared: &[Prepared], opts: &EditOptions) -> Vec<(usize, PathBuf)> {
    let root = bundle_root(opts);
    prepared
        .iter()
        .enumerate()
        .filter(|(_, p)| p.replayed.is_some())
        .filter_map(|(i, p)| {
            backup::bundle_holding(&root, p.name, &sha256_hex(p.base())).map(|d| (i, d))
        })
        .collect()
}

/// The backup root bundles are looked for in: `--backup-dir`, else the
/// default.
fn bundle_root(opts: &EditOptions) -> PathBuf {
    opts.backup_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(backup::DEFAULT_ROOT))
}

/// A run that writes nothing names the bundle of the earlier run that left
/// a hive as it is now (the newest such bundle in the backup root): it
/// holds the original.
fn earlier_bundle(prepared: &[Prepared], opts: &EditOptions) -> Option<String> {
    let root = bundle_root(opts);
    prepared
        .iter()
        .find_map(|p| backup::bundle_holding(&root, p.name, &p.files.primary.sha256))
        .map(|d| d.display().to_string())
}

/// Locks the files the command may write: SYSTEM's, and SOFTWARE's when
/// the command reads it.
fn lock_targets(located: &Located, needs: Needs, opts: &EditOptions) -> Result<TargetLock> {
    let mut paths = vec![lock_path(&located.system.primary)];
    if needs.software {
        if let Some(sw) = &located.software {
            paths.push(lock_path(&sw.primary));
        }
    }
    lock(&paths, opts.wait)
}

/// The report before anything is planned: every hive as read, those the
/// command may edit first (their indexes are the prepared hives').
fn new_report(
    located: &Located,
    command: &str,
    opts: &EditOptions,
    loaded: &Loaded,
    warnings: Vec<Warning>,
) -> EditReport {
    let outcome = |name, file, bb: &crate::format::regf::base_block::BaseBlock| HiveOutcome {
        name,
        file,
        sequence_before: [bb.seq1, bb.seq2],
        sequence_after: None,
        appended_bins: 0,
        planned_sha256: None,
        target: None,
        write: None,
    };
    let consulted = |c: &Consulted| outcome(c.name, FileInfo::from(&c.hive), &c.bb);
    EditReport {
        schema: SCHEMA,
        tool: TOOL,
        command: command.to_string(),
        source: SourceInfo {
            kind: located.kind,
            path: located.input.display().to_string(),
        },
        dry_run: opts.dry_run,
        outcome: Outcome::Refused,
        changes: Vec::new(),
        already_set: Vec::new(),
        refusals: Vec::new(),
        hives: loaded
            .prepared
            .iter()
            .map(|p| outcome(p.name, FileInfo::from(&p.files.primary), &p.bb))
            .chain(loaded.consulted.iter().map(consulted))
            .collect(),
        backup: None,
        checks: Vec::new(),
        checks_skipped: Vec::new(),
        warnings,
    }
}

/// An edit with something to change.
struct Edit<'a> {
    located: &'a Located,
    command: &'a str,
    opts: &'a EditOptions,
    prepared: &'a [Prepared],
    resolved: &'a [Resolved],
    /// Hives rewritten clean with no change of their own (an earlier run's
    /// unfinished write).
    finish: Vec<usize>,
}

impl Edit<'_> {
    /// After a write, the bytes read back must hash to the plan (checked by
    /// the commit), which was fully verified in memory; they are then
    /// re-parsed strictly and the planned values re-read.
    fn verify_written(&self, i: usize, back: &[u8]) -> Result<()> {
        let name = self.prepared[i].name;
        let expects: Vec<Expect> = self
            .resolved
            .iter()
            .filter(|r| r.op.hive == name)
            .map(|r| r.expect.clone())
            .collect();
        verify_written(back, &expects)
    }

    /// Indices of the hives the plan changes.
    fn touched(&self) -> Vec<usize> {
        (0..self.prepared.len())
            .filter(|&i| {
                self.finish.contains(&i)
                    || self
                        .resolved
                        .iter()
                        .any(|r| r.op.hive == self.prepared[i].name)
            })
            .collect()
    }

    /// Dry run, `--output`, or read-only: the plan is made and verified in
    /// memory first; then nothing is written, or the new file is.
    fn planned_only(&self, mut report: EditReport, mut checks: Vec<String>) -> Result<EditReport> {
        // A dry run of an in-place write plans its transaction too (it is
        // refused where the write would be); `--output` writes a new file.
        let with_tx = self.opts.output.is_none();
        let planned = plan_hives(
            self.prepared,
            self.resolved,
            &self.finish,
            &mut report.hives,
            &mut checks,
            with_tx,
            &mut [],
        )?;
        report.checks = checks;
        if self.opts.dry_run {
            if !with_tx {
                report.outcome = Outcome::DryRun;
                return Ok(report);
            }
            // Every check the real write would run before its first byte,
            // so that a dry run is refused where the write would be.
            match self.opts.write.as_ref() {
                Some(access) => self.dry_run_checks(access, &planned, &mut report)?,
                None => {
                    report.checks_skipped = SkippedCheck::read_only_dry_run();
                    let names: Vec<&str> = report.checks_skipped.iter().map(|c| c.check).collect();
                    report.warnings.push(Warning::new(
                        Code::ChecksSkipped,
                        format!(
                            "read-only mode: the pre-write checks that open the target or the backup \
                             directory for writing were not run ({}; checks_skipped), and the write itself \
                             would be refused (--read-only)",
                            names.join(", ")
                        ),
                    ));
                }
            }
            report.outcome = Outcome::DryRun;
            return Ok(report);
        }
        let Some(access) = self.opts.write.as_ref() else {
            return Err(WriteAccess::refused(&format!("`{}`", self.command)));
        };
        let out = self
            .opts
            .output
            .as_ref()
            .expect("--output: the only other case");
        let i = planned[0].index;
        let stats = write_output(
            access,
            self.located,
            self.prepared,
            &planned,
            out,
            &|back: &[u8]| self.verify_written(i, back),
        )?;
        let h = &mut report.hives[i];
        h.target = Some(out.display().to_string());
        report.checks.push(format!(
            "read back from the new file ({}): byte-identical to the plan, sha256 of what was read {}; re-verified",
            stats
                .read_back
                .as_ref()
                .map_or_else(String::new, |p| p.describe()),
            stats.after_sha256
        ));
        h.write = Some(stats);
        report.outcome = written(&report);
        Ok(report)
    }

    /// The pre-write checks of [`Edit::in_place`], run by a dry run: the
    /// backup root (chosen and writable), each touched hive and each
    /// existing log it would write opened for writing after its preflight
    /// checks (then closed), unchanged since it was read. Nothing is
    /// written but a probe file in the backup directory, removed at once.
    fn dry_run_checks(
        &self,
        access: &WriteAccess,
        planned: &Planned,
        report: &mut EditReport,
    ) -> Result<()> {
        let (root, mut targets) = self.preflight(access)?;
        unchanged(&mut targets, self.prepared)?;
        for ph in planned.iter() {
            let Some(tx) = ph.tx.as_ref() else { continue };
            if let LogRef::Existing(k) = tx.log {
                let f = &self.prepared[ph.index].files.logs[k];
                let mut store = open_store(access, &f.origin.target())?;
                if store.differs_from(&f.bytes)?.is_some() {
                    return Err(crate::Error::refused(
                        crate::error::Code::TargetChanged,
                        format!(
                            "{} changed while ntrescue was planning; nothing written",
                            f.path.display()
                        ),
                    ));
                }
            }
        }
        drop(targets);
        report.checks.push(format!(
            "pre-write checks passed: backup directory {} writable; every target opened for writing \
             (not mounted or held open, not hibernated, volume clean, device writable) and unchanged; \
             nothing written",
            root.display()
        ));
        Ok(())
    }

    /// The checks both the write and the dry run make before anything is
    /// written: the backup directory chosen and writable, every touched
    /// hive's target opened for writing after its preflight checks. Returns
    /// the backup root and the open targets, whose contents the caller
    /// still compares with what was read ([`unchanged`]).
    fn preflight(&self, access: &WriteAccess) -> Result<(PathBuf, Vec<Target>)> {
        let touched = self.touched();
        let root = backup_root(
            self.located,
            self.opts.backup_root.as_ref(),
            self.prepared,
            &touched,
        )?;
        check_backup_root(access, &root)?;
        let targets = open_targets(access, self.located, self.prepared, &touched)?;
        Ok((root, targets))
    }

    /// In place: preflight, the backup bundle beside the plan, the commit.
    /// The structure check of each touched hive, the longest part of the
    /// plan, starts first, on its own thread: the preflight and the plan
    /// run beside it.
    fn in_place(
        &self,
        access: &WriteAccess,
        mut report: EditReport,
        mut checks: Vec<String>,
    ) -> Result<EditReport> {
        let (planned, dir, targets) = std::thread::scope(|s| -> Result<_> {
            let touched = self.touched();
            let mut early: Vec<Option<EarlyCheck<'_>>> = self
                .prepared
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    touched
                        .contains(&i)
                        .then(|| s.spawn(move || structure_check(p.base(), &p.files.primary.path)))
                })
                .collect();
            let (root, mut targets) = self.preflight(access)?;
            let (planned, dir) = self.plan_beside_backup(
                access,
                &root,
                &mut targets,
                &mut report,
                &mut checks,
                &mut early,
            )?;
            Ok((planned, dir, targets))
        })?;
        report.checks = checks;
        report.backup = Some(dir.display().to_string());
        // From here on the bundle exists: an error names it.
        let mut writes = pair(access, planned, targets, self.prepared, &report)
            .map_err(|e| e.with_backup(&dir))?;
        let stats = match commit_all(&mut writes, &|i, back| self.verify_written(i, back), &dir) {
            Ok(s) => s,
            Err(e) => {
                if matches!(e, Error::RolledBack(_)) {
                    // Best effort: a bundle left `in-progress` restores the same.
                    let _ = backup::mark(&dir, WriteState::RolledBack);
                }
                return Err(e.with_backup(&dir));
            }
        };
        if let Err(e) = backup::mark(&dir, WriteState::Finished) {
            // The write itself is done and verified: a bundle left
            // `in-progress` restores the same, so this is not a failure.
            report.warnings.push(Warning::new(
                Code::BundleFinishNotRecorded,
                format!(
                    "the backup manifest could not be marked finished ({e}); it still says in-progress"
                ),
            ));
        }
        for (w, st) in writes.iter().zip(stats) {
            let how = st.read_back.as_ref().map_or_else(
                || "read back".to_string(),
                |p| format!("read back {}", p.describe()),
            );
            report.checks.push(format!(
                "{}: {how}: byte-identical to the plan, sha256 of what was read {}; re-verified by both readers",
                w.store.describe(),
                st.after_sha256
            ));
            let h = &mut report.hives[w.index];
            h.target = Some(w.store.describe());
            h.write = Some(st);
        }
        report.outcome = written(&report);
        Ok(report)
    }

    /// The backup copies are written and flushed on the second core while
    /// the targets are compared with what was read and the plan is made and
    /// verified in memory; the bundle is completed (its manifest written)
    /// only once both have passed, and removed if either does not. Either
    /// way nothing has touched the target yet.
    fn plan_beside_backup(
        &self,
        access: &WriteAccess,
        root: &Path,
        targets: &mut [Target],
        report: &mut EditReport,
        checks: &mut Vec<String>,
        early: &mut [Option<EarlyCheck<'_>>],
    ) -> Result<(Planned, PathBuf)> {
        let to_save: Vec<(HiveName, &LoadedHive)> = self
            .touched()
            .iter()
            .map(|&i| (self.prepared[i].name, &self.prepared[i].files))
            .collect();
        // The copies are written (and flushed) while the targets are read
        // again and compared with what was read, and the plan is made: a
        // failure of either discards the unfinished bundle. Nothing is
        // written to a target before both are done.
        let (planned, copies) = std::thread::scope(|s| {
            let copier = s.spawn(|| backup::write_copies(access, root, &to_save));
            let planned = unchanged(targets, self.prepared).and_then(|()| {
                plan_hives(
                    self.prepared,
                    self.resolved,
                    &self.finish,
                    &mut report.hives,
                    checks,
                    true,
                    early,
                )
            });
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
        let mut manifest =
            backup::new_manifest(self.command, &self.located.input.display().to_string());
        manifest.changes = report.changes.clone();
        let saved: Vec<HiveBackup> = planned
            .iter()
            .map(|ph| HiveBackup {
                name: self.prepared[ph.index].name,
                files: Vec::new(),
                before_sha256: self.prepared[ph.index].files.primary.sha256.clone(),
                expected_after_sha256: report.hives[ph.index]
                    .planned_sha256
                    .clone()
                    .unwrap_or_default(),
            })
            .collect();
        // The logs the transactions write, and what they will hold.
        let logs_after: Vec<(HiveName, String, String)> = planned
            .iter()
            .filter_map(|ph| {
                let tx = ph.tx.as_ref()?;
                let LogRef::Existing(k) = tx.log else {
                    return None;
                };
                let f = &self.prepared[ph.index].files.logs[k];
                Some((
                    self.prepared[ph.index].name,
                    f.name.clone(),
                    sha256_hex(&tx.plan.apply(&f.bytes)),
                ))
            })
            .collect();
        let writes = self.intended_writes(&planned);
        let dir = copies.finish(&mut manifest, saved, &logs_after, &writes)?;
        Ok((planned, dir))
    }

    /// The intent record: every write the fix may make, to each primary
    /// (the differing ranges, the in-flight base block) and to the log that
    /// takes its transaction.
    fn intended_writes<'a>(&self, planned: &'a Planned) -> Vec<PlannedFileWrites<'a>> {
        let mut out = Vec::new();
        for ph in planned {
            let p = &self.prepared[ph.index];
            let common = p.files.primary.bytes.len().min(ph.new.len());
            let mut primary = image_writes_from(&ph.diff, common, &ph.new);
            let Some(tx) = &ph.tx else {
                continue;
            };
            primary.push((0, &tx.plan.inflight));
            out.push(PlannedFileWrites {
                hive: p.name,
                file: String::new(),
                writes: primary,
                length_after: ph.new.len() as u64,
                created: None,
            });
            let log_writes = || {
                tx.plan
                    .writes
                    .iter()
                    .map(|w| (w.at, &w.bytes[..]))
                    .collect()
            };
            match &tx.log {
                LogRef::Existing(k) => {
                    let f = &p.files.logs[*k];
                    out.push(PlannedFileWrites {
                        hive: p.name,
                        file: f.name.clone(),
                        writes: log_writes(),
                        length_after: tx.plan.log_len.max(f.bytes.len() as u64),
                        created: None,
                    });
                }
                LogRef::Create(path) => out.push(PlannedFileWrites {
                    hive: p.name,
                    file: crate::storage::source::FileRef::Path(path.clone()).name(),
                    writes: log_writes(),
                    length_after: tx.plan.log_len,
                    created: Some(crate::storage::source::FileRef::Path(path.clone()).target()),
                }),
            }
        }
        out
    }
}

/// A verified write: `Written`, or `Partial` when units were left alone.
fn written(report: &EditReport) -> Outcome {
    if report.refusals.is_empty() {
        Outcome::Written
    } else {
        Outcome::Partial
    }
}

/// Each planned hive with the store it is written through, matched by the
/// hive's index (never by position), and its transaction log opened for
/// writing (unchanged since it was read, or created).
fn pair<'p>(
    access: &WriteAccess,
    planned: Planned,
    mut targets: Vec<Target>,
    prepared: &'p [Prepared],
    report: &EditReport,
) -> Result<Vec<PlannedWrite<'p>>> {
    planned
        .into_iter()
        .map(|ph| {
            let i = ph.index;
            let k = targets.iter().position(|t| t.index == i).ok_or_else(|| {
                crate::Error::refused(
                    crate::error::Code::TargetChanged,
                    format!(
                        "{}: planned but not opened for writing; nothing written",
                        prepared[i].name.as_str()
                    ),
                )
            })?;
            let t = targets.swap_remove(k);
            let log = match ph.tx {
                Some(tx) => Some(open_log(access, &prepared[i], tx)?),
                None => None,
            };
            Ok(PlannedWrite {
                index: i,
                name: prepared[i].name,
                original: &prepared[i].files.primary.bytes,
                new: ph.new,
                diff: Some(ph.diff),
                planned_sha256: report.hives[i].planned_sha256.clone().unwrap_or_default(),
                store: t.store,
                log,
            })
        })
        .collect()
}

/// Opens the log a transaction goes into: an existing one after the same
/// preflight checks as its hive, required unchanged since it was read; or a
/// new one beside the hive.
fn open_log<'p>(access: &WriteAccess, p: &'p Prepared, tx: TxChoice) -> Result<LogTarget<'p>> {
    match tx.log {
        LogRef::Existing(k) => {
            let f = &p.files.logs[k];
            let mut store = open_store(access, &f.origin.target())?;
            if store.differs_from(&f.bytes)?.is_some() {
                return Err(crate::Error::refused(
                    crate::error::Code::TargetChanged,
                    format!(
                        "{} changed while ntrescue was planning; nothing written",
                        f.path.display()
                    ),
                ));
            }
            Ok(LogTarget {
                plan: tx.plan,
                before: &f.bytes,
                store,
                created: false,
            })
        }
        LogRef::Create(path) => Ok(LogTarget {
            plan: tx.plan,
            before: &[],
            store: Box::new(FileStore::create(access, &path)?),
            created: true,
        }),
    }
}
