// SPDX-License-Identifier: GPL-2.0-or-later
//! Runs one parsed command line: operator input turned into library values,
//! the library called, its report printed (JSON or human), the exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::cli::args::{
    AccountAction, BackupsAction, Cli, ColorWhen, Command, CompletionsArgs, Deferred,
    DeleteValueArgs, DiagnoseArgs, DiagnoseRead, EditArgs, GetArgs, HashArg, InspectArgs,
    LocateArgs, NlaAction, PartitionArg, RdpAction, RestoreArgs, RightsAction, ServiceArgs,
    SetArgs, ValueType,
};
use crate::cli::exit::Exit;
use crate::error::Error;
use crate::error::{Code, Warning};
use crate::hive::path::{encode, DataType, RegPath};
use crate::recipes;
use crate::render::{self, Style};
use crate::report::envelope::{
    DocOutcome, Document, ErrorInfo, ErrorReport, Issue, Severity, Summary,
};
use crate::storage::access::WriteAccess;
use crate::storage::source::{locate_with, Located};
use crate::util::digest::HashAlg;
use crate::write::backup::RestoreOutput;
use crate::write::outcome::EditReport;
use crate::write::outcome::Outcome;
use crate::write::plan::Action;
use crate::write::plan::EditOptions;

/// How the result is printed: `--json`, `--summary`, `-o FILE`,
/// `--detail`, `--color`.
#[derive(Clone, Debug)]
pub(crate) struct Output {
    json: bool,
    summary: bool,
    result_file: Option<std::path::PathBuf>,
    detail: bool,
    color: ColorWhen,
}

impl Output {
    fn style(&self) -> Style {
        self.style_for(std::io::stdout().is_terminal())
    }

    /// Styling for what goes to stderr (warnings in human mode).
    fn err_style(&self) -> Style {
        self.style_for(std::io::stderr().is_terminal())
    }

    fn style_for(&self, terminal: bool) -> Style {
        Style {
            color: match self.color {
                ColorWhen::Always => true,
                ColorWhen::Never => false,
                ColorWhen::Auto => terminal && color_allowed(),
            },
        }
    }

    /// Whether stdout carries JSON (the document or the summary line).
    fn machine(&self) -> bool {
        self.json || self.summary
    }
}

fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Writes `text` to stderr. A stderr that is closed or full (`2>&-`,
/// `2>/dev/full`) loses the text: nothing useful can be done about it, and
/// `eprint!` would panic instead.
fn print_err(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
}

/// A report as pretty JSON; a report that cannot be serialised is an error,
/// not a panic.
fn to_json<T: serde::Serialize>(report: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(report)
        .map(|t| t + "\n")
        .map_err(|e| Error::io("serialising the report", std::io::Error::other(e)))
}

/// The final line of text output, on stderr (stdout stays the report
/// alone): what a log reader greps for.
fn status_line(outcome: DocOutcome, exit: u8) -> String {
    format!("ntrescue: RESULT={} exit={exit}\n", outcome.as_str())
}

/// Writes `text` to `path` atomically: a new file beside it, flushed,
/// renamed over it.
fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "result.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let ctx = |what: &str| format!("{what} {}", tmp.display());
    let result = std::fs::File::create(&tmp)
        .map_err(|e| Error::io(ctx("creating"), e))
        .and_then(|mut f| {
            f.write_all(text.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(ctx("writing"), e))
        })
        .and_then(|_| {
            std::fs::rename(&tmp, path).map_err(|e| {
                Error::io(
                    format!("renaming {} to {}", tmp.display(), path.display()),
                    e,
                )
            })
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The issues of a report: `extra` (refusals) first, then each warning
/// that does not just repeat one of them.
fn issues(extra: Vec<Issue>, warnings: &[Warning]) -> Vec<Issue> {
    let mut out = extra;
    for w in warnings {
        if !out.iter().any(|i| w.message.ends_with(&i.message)) {
            out.push(Issue::warning(w));
        }
    }
    out
}

/// Prints a finished document: the JSON document (`--json`), one summary
/// line (`--summary`), or the text `human` renders with the warnings on
/// stderr and the status line last; and with `-o FILE` the document to
/// FILE too.
///
/// A result file that cannot be written does not change what the run did
/// (a fix stays written, its bundle named): the document printed gains an
/// error issue `result-file-unwritable`, the message goes to stderr, and
/// the exit code stays the run's (docs/json-schema.md, Result file).
fn publish<T: serde::Serialize>(
    out: &Output,
    doc: &mut Document<T>,
    warnings: &[Warning],
    human: impl FnOnce(&Document<T>, Style) -> String,
) -> Result<(), Error> {
    let exit = doc.exit_code;
    let file_error = write_result_file(out, doc);
    let text = if out.summary {
        serde_json::to_string(&Summary::of(doc))
            .map(|t| t + "\n")
            .map_err(|e| Error::io("serialising the summary", std::io::Error::other(e)))?
    } else if out.json {
        to_json(doc)?
    } else {
        let t = human(doc, out.style());
        print(&t).map_err(|e| Error::io("writing output", e))?;
        print_err(&render::warnings(warnings, out.err_style()));
        if let Some(m) = &file_error {
            print_err(&format!("ntrescue: error: {}\n", render::escape(m)));
        }
        print_err(&status_line(doc.outcome, exit));
        return Ok(());
    };
    if let Some(m) = &file_error {
        print_err(&format!("ntrescue: error: {}\n", render::escape(m)));
    }
    print(&text).map_err(|e| Error::io("writing output", e))
}

/// Writes the document to `-o FILE`, if given. When it cannot be, the
/// document gets the error issue `result-file-unwritable` (outcome and
/// exit code unchanged) and its message is returned.
fn write_result_file<T: serde::Serialize>(out: &Output, doc: &mut Document<T>) -> Option<String> {
    let file = out.result_file.as_ref()?;
    let e = to_json(doc)
        .and_then(|t| write_atomically(file, &t))
        .err()?;
    let message = format!(
        "the result file {} could not be written ({e}); this document is the run's result",
        file.display()
    );
    doc.push_issue(Issue {
        severity: Severity::Error,
        code: Code::ResultFileUnwritable,
        message: message.clone(),
    });
    Some(message)
}

/// Prints `report` (a read-only command's) under the document head and
/// returns `exit`.
fn emit<T: serde::Serialize>(
    out: &Output,
    head: (DocOutcome, Exit),
    report: T,
    warnings: &[Warning],
    human: impl FnOnce(&T, Style) -> String,
) -> Result<Exit, Error> {
    emit_bundle(out, head, (report, None), warnings, human)
}

/// [`emit`] of a report that names a backup bundle (`restore`, `backups
/// pack`): the bundle goes into `end` too.
fn emit_bundle<T: serde::Serialize>(
    out: &Output,
    (outcome, exit): (DocOutcome, Exit),
    (report, backup): (T, Option<String>),
    warnings: &[Warning],
    human: impl FnOnce(&T, Style) -> String,
) -> Result<Exit, Error> {
    let mut doc = Document::new(outcome, exit.code(), issues(Vec::new(), warnings), report)
        .with_backup(backup);
    publish(out, &mut doc, warnings, |d, st| human(&d.report, st))?;
    Ok(exit)
}

/// What a read-only command that found what it looked for reports.
const REPORTED: (DocOutcome, Exit) = (DocOutcome::Reported, Exit::Success);

fn edit_options(e: &EditArgs, write: Option<WriteAccess>) -> EditOptions {
    EditOptions {
        dry_run: e.dry_run,
        output: e.output.clone(),
        backup_root: e.backup_dir.clone(),
        allow_dirty_without_logs: e.allow_dirty_without_logs,
        write,
        wait: e.wait.map(std::time::Duration::from_secs),
    }
}

/// The document head of an edit: its outcome and exit code. A partial
/// edit exits 0: what was written is verified and backed up, and exit 3
/// promises that nothing was written; `outcome: partial` and the
/// `refusals` say what was left alone.
fn edit_head(outcome: Outcome) -> (DocOutcome, Exit) {
    match outcome {
        Outcome::NothingToDo => (DocOutcome::NothingToDo, Exit::Success),
        Outcome::DryRun => (DocOutcome::DryRun, Exit::Success),
        Outcome::Written => (DocOutcome::Written, Exit::Success),
        Outcome::Partial => (DocOutcome::Partial, Exit::Success),
        Outcome::Refused => (DocOutcome::Refused, Exit::Refused),
    }
}

fn edited(out: &Output, report: Result<EditReport, Error>) -> Result<Exit, Error> {
    let report = report?;
    let (outcome, exit) = edit_head(report.outcome);
    let refusals = report
        .refusals
        .iter()
        .map(|r| Issue {
            severity: Severity::Refusal,
            code: r.code,
            message: r.reason.clone(),
        })
        .collect();
    let mut doc = Document::new(
        outcome,
        exit.code(),
        issues(refusals, &report.warnings),
        &report,
    )
    .with_backup(report.backup.clone());
    publish(out, &mut doc, &report.warnings, |_, st| {
        render::fix(&report, st)
    })?;
    Ok(exit)
}

fn data_type(t: ValueType) -> DataType {
    match t {
        ValueType::Dword => DataType::Dword,
        ValueType::Qword => DataType::Qword,
        ValueType::Sz => DataType::Sz,
        ValueType::ExpandSz => DataType::ExpandSz,
        ValueType::MultiSz => DataType::MultiSz,
        ValueType::Binary => DataType::Binary,
    }
}

/// The digests `--hash` names (SHA-256 alone when it is not given).
fn hash_algs(args: &[HashArg]) -> Vec<HashAlg> {
    let mut algs: Vec<HashAlg> = args
        .iter()
        .map(|a| match a {
            HashArg::Md5 => HashAlg::Md5,
            HashArg::Sha1 => HashAlg::Sha1,
            HashArg::Sha256 => HashAlg::Sha256,
        })
        .collect();
    if algs.is_empty() {
        algs.push(HashAlg::Sha256);
    }
    algs.sort();
    algs.dedup();
    algs
}

/// The digests of the whole source, with progress on stderr when it is a
/// terminal (also under `--json`: the document goes to stdout). A
/// directory cannot be hashed: that is said in the report, not fatal.
fn hash_whole_source(
    report: &mut crate::report::InspectReport,
    source: &Path,
    algs: &[HashAlg],
) -> Result<(), Error> {
    if source.is_dir() {
        let why = format!(
            "--hash-source: {} is a directory (a mounted tree), which cannot be hashed as one \
             image; hash the device or image it is mounted from",
            source.display()
        );
        report
            .warnings
            .push(Warning::new(Code::SourceNotHashable, why.clone()));
        report.source_hash_error = Some(why);
        return Ok(());
    }
    let show = std::io::stderr().is_terminal();
    let mut last = 0u64;
    let (hashes, length) =
        crate::storage::source::hash_source_with(source, algs, &mut |done, total| {
            if show && (done - last >= 64 << 20 || done == total) {
                last = done;
                print_err(&format!(
                    "\rhashing {}: {:>3}% ",
                    render::escape(&source.display().to_string()),
                    done.saturating_mul(100) / total.max(1)
                ));
            }
        })?;
    if show {
        print_err("\n");
    }
    report.source_sha256 = hashes.sha256.clone();
    report.source_hashes = Some(hashes);
    // A length the OS did not give (taken from the partition table or a
    // boot sector) is said beside the hash.
    report.warnings.extend(length);
    Ok(())
}

/// `inspect`, with the requested digests of the hives and logs and the
/// optional hash of the whole source. Hashing reads the hives whole, as
/// `--verify` does.
fn inspect(
    out: &Output,
    located: &Located,
    source: &Path,
    (hash_source, verify, hash): (bool, bool, &[HashArg]),
) -> Result<Exit, Error> {
    let algs = hash_algs(hash);
    let whole = verify || hash_source || out.detail || !hash.is_empty();
    let mode = crate::commands::input::ReadMode::of(whole);
    let mut report = crate::commands::inspect::inspect_hashed(located, mode, &algs)?;
    if hash_source {
        hash_whole_source(&mut report, source, &algs)?;
    }
    // The replay's tree changes can run to megabytes: only on request
    // (--detail, which reads the hive whole to make them). Without it they
    // are left out, made or not, and the document says so.
    let mut omitted = Vec::new();
    if !out.detail {
        if let Some(a) = report.after_replay.as_mut() {
            let made = a.tree_changes.take().is_some();
            if made || a.replayed {
                omitted.push("after_replay.tree_changes".to_string());
            }
        }
    }
    let warnings = report.warnings.clone();
    let mut doc = Document::new(
        DocOutcome::Reported,
        Exit::Success.code(),
        issues(Vec::new(), &warnings),
        report,
    );
    doc.omitted = omitted;
    publish(out, &mut doc, &warnings, |d, st| {
        render::inspect(&d.report, st)
    })?;
    Ok(Exit::Success)
}

/// `diagnose`, reading the hives whole with `--verify` or `--hash`.
fn diagnose(out: &Output, located: &Located, read: &DiagnoseRead) -> Result<Exit, Error> {
    let mode = crate::commands::input::ReadMode::of(read.verify || !read.hash.is_empty());
    let algs = hash_algs(&read.hash);
    let report = crate::commands::diagnose::diagnose_hashed(located, mode, &algs)?.0;
    let warnings = report.warnings.clone();
    emit(out, REPORTED, report, &warnings, render::diagnose)
}

fn locate(out: &Output, paths: &[std::path::PathBuf]) -> Result<Exit, Error> {
    let report = crate::commands::locate::locate(paths);
    let found = report
        .disks
        .iter()
        .any(|d| d.partitions.iter().any(|p| p.windows.is_some()));
    if !found {
        // A disk the OS would not let us read, or an evidence image, is not
        // "nothing found".
        if let Some(e) = crate::commands::locate::failure(&report) {
            return Err(e);
        }
    }
    let head = if found {
        REPORTED
    } else {
        (DocOutcome::NotFound, Exit::NotFound)
    };
    emit(out, head, report, &[], render::locate)
}

/// `nla disable|enable`.
fn nla(
    action: &NlaAction,
    located: &Located,
    include_policy: bool,
    opts: &EditOptions,
) -> Result<EditReport, Error> {
    let mode = match action {
        NlaAction::Disable(_) => recipes::NlaMode::Disable,
        NlaAction::Enable(_) => recipes::NlaMode::Enable,
    };
    recipes::nla_full(located, mode, include_policy, opts)
}

/// `get`: a key or value, read-only.
fn get(
    located: &Located,
    path: &RegPath,
    value: Option<&str>,
    (all_control_sets, verify): (bool, bool),
    out: &Output,
) -> Result<Exit, Error> {
    let mode = crate::commands::input::ReadMode::of(verify);
    let report = crate::commands::get::get(located, path, value, all_control_sets, mode)?;
    let warnings = report.warnings.clone();
    emit(out, REPORTED, report, &warnings, render::get)
}

/// Prints what [`crate::cli::extra`] rendered.
fn shown(text: String) -> Result<Exit, Error> {
    print(&text).map_err(|e| Error::io("writing output", e))?;
    Ok(Exit::Success)
}

/// `restore`: only with a write permission.
fn restore(
    out: &Output,
    backup: &Path,
    force: bool,
    target: Option<&Path>,
    write: Option<WriteAccess>,
) -> Result<Exit, Error> {
    let access = write.ok_or_else(|| WriteAccess::refused("`restore`"))?;
    let report = crate::write::backup::restore_to(&access, backup, force, target)?;
    emit_bundle(
        out,
        (DocOutcome::Restored, Exit::Success),
        (
            RestoreOutput::new(&report, backup),
            Some(report.backup.clone()),
        ),
        &[],
        |r, st| render::restore(r.report, st),
    )
}

/// `backups list [DIR]` and `backups pack BUNDLE [--tar FILE]`; packing
/// writes a file, so it needs the write permission (refused in read-only
/// mode).
fn backups(out: &Output, action: BackupsAction, write: Option<WriteAccess>) -> Result<Exit, Error> {
    match action {
        BackupsAction::List { dir, .. } => {
            let report = crate::commands::backups::list(dir.as_deref())?;
            emit(out, REPORTED, report, &[], render::backups)
        }
        BackupsAction::Pack { backup, output, .. } => {
            let access = write.ok_or_else(|| WriteAccess::refused("`backups pack`"))?;
            let report = crate::commands::backups::pack(&access, &backup, output.as_deref())?;
            let bundle = Some(report.report.backup.clone());
            emit_bundle(out, REPORTED, (report, bundle), &[], render::backups_pack)
        }
    }
}

/// The value `set` and `delete-value` change, as given.
struct ValueTarget<'a> {
    source: &'a Path,
    path: &'a str,
    value: &'a str,
    all_control_sets: bool,
}

/// `set` (with `data`) and `delete-value` (without): the path is checked
/// first, then the data, then the source is opened.
fn edit_value(
    locate: &dyn Fn(&Path) -> Result<Located, Error>,
    t: ValueTarget<'_>,
    data: Option<(ValueType, &[String])>,
    out: &Output,
    opts: &EditOptions,
) -> Result<Exit, Error> {
    let path = reg_path(t.path)?;
    let action = match data {
        Some((ty, data)) => {
            let dt = data_type(ty);
            Action::Set {
                ty: dt.code(),
                data: encode(dt, data).map_err(|e| usage("--data", &data.join(" "), e))?,
            }
        }
        None => Action::Delete,
    };
    let located = locate(t.source)?;
    let r = recipes::set_value(&located, &path, t.value, action, t.all_control_sets, opts);
    edited(out, r)
}

/// Operator input the library rejected, as a usage error naming the
/// option and the value given (no byte offsets: it is not data on disk).
fn usage(what: &str, given: &str, e: Error) -> Error {
    let why = match e {
        Error::Invalid { detail, .. } => detail,
        e => e.to_string(),
    };
    Error::Usage(format!("invalid {what} '{given}': {why}"))
}

/// A registry path given on the command line.
fn reg_path(given: &str) -> Result<RegPath, Error> {
    RegPath::parse(given).map_err(|e| usage("registry path", given, e))
}

/// `rdp enable` and `rdp port`.
fn rdp(
    out: &Output,
    action: RdpAction,
    locate: &dyn Fn(&Path) -> Result<Located, Error>,
    opts: &dyn Fn(&EditArgs) -> EditOptions,
) -> Result<Exit, Error> {
    match action {
        RdpAction::Enable {
            source,
            include_policy,
            edit: e,
        } => edited(
            out,
            recipes::rdp_enable(&locate(&source)?, include_policy, &opts(&e)),
        ),
        RdpAction::Repair {
            source,
            include_policy,
            firewall_profiles_off,
            dhcp,
            reset_port,
            edit: e,
        } => {
            let flags = recipes::RepairFlags {
                include_policy,
                firewall_profiles_off,
                dhcp,
                reset_port,
            };
            let located = locate(&source)?;
            let src = located.input.display().to_string();
            let rules = |v: &crate::write::plan::Views<'_>| {
                let hives = crate::commands::diagnose::Hives {
                    system: v.system.expect("SYSTEM is loaded"),
                    software: v.software,
                    sam: None,
                    security: None,
                };
                Ok(crate::commands::diagnose::diagnose_hives(hives, &src)?.findings)
            };
            edited(out, recipes::rdp_repair(&located, flags, &opts(&e), &rules))
        }
        RdpAction::Port {
            source,
            set,
            edit: e,
            ..
        } => {
            let port = set.unwrap_or(recipes::RDP_DEFAULT_PORT);
            edited(out, recipes::rdp_port(&locate(&source)?, port, &opts(&e)))
        }
    }
}

/// The new password: from `--password-file`, `--password-stdin`, or a
/// terminal prompt (twice, echo off). It is never an argument, and never
/// printed.
fn read_password(file: Option<&Path>, stdin: bool) -> Result<String, Error> {
    let first_line =
        |text: String| -> String { text.lines().next().unwrap_or_default().to_string() };
    let pw = if let Some(f) = file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            // A path that names no file is the operator's input, not I/O.
            if e.kind() == std::io::ErrorKind::NotFound || f.is_dir() {
                let why = if f.is_dir() {
                    "a directory"
                } else {
                    "no such file"
                };
                Error::Usage(format!("--password-file '{}': {why}", f.display()))
            } else {
                Error::io(format!("reading {}", f.display()), e)
            }
        })?;
        first_line(text)
    } else if stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Error::io("reading the password from standard input", e))?;
        first_line(line)
    } else if std::io::stdin().is_terminal() {
        let a = prompt("New password: ")?;
        let b = prompt("Again: ")?;
        if a != b {
            return Err(Error::refused(
                Code::InputRefused,
                "the two passwords differ; nothing written",
            ));
        }
        a
    } else {
        return Err(Error::refused(
            Code::InputRefused,
            "no terminal to prompt on: give --password-file FILE or --password-stdin",
        ));
    };
    if pw.is_empty() {
        return Err(Error::refused(
                Code::InputRefused,
            "an empty password is refused over the network (LimitBlankPasswordUse); choose a real one",
        ));
    }
    Ok(pw)
}

/// One line read from the terminal with echo off (`stty`). Echo goes off
/// before the prompt shows, so nothing typed after the prompt is echoed;
/// a terminal whose echo cannot be turned off is refused.
fn prompt(text: &str) -> Result<String, Error> {
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    if !stty("-echo").is_ok_and(|s| s.success()) {
        return Err(Error::refused(
            Code::InputRefused,
            "cannot turn the terminal's echo off (stty): give --password-file FILE or --password-stdin",
        ));
    }
    eprint!("{text}");
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    let _ = stty("echo");
    eprintln!();
    read.map_err(|e| Error::io("reading the password", e))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn account_hives(
    source: &Path,
    part: Option<u32>,
) -> Result<crate::commands::accounts::AccountHives, Error> {
    crate::commands::accounts::locate_accounts(source, part)
}

fn edit_hives(h: &crate::commands::accounts::AccountHives) -> recipes::EditHives<'_> {
    recipes::EditHives {
        located: &h.located,
        sam: &h.sam,
        security: h.security.as_ref(),
        system: h.system.as_ref(),
    }
}

/// `account list|enable|unlock|expiry|password|add-to-group`.
fn account(
    out: &Output,
    action: AccountAction,
    part: Option<u32>,
    opts: &dyn Fn(&EditArgs) -> EditOptions,
) -> Result<Exit, Error> {
    use recipes::AccountEdit;
    let (source, name, edit, e) = match action {
        AccountAction::List { source, verify, .. } => {
            let mode = crate::commands::input::ReadMode::of(verify);
            let report = crate::commands::accounts::list(&account_hives(&source, part)?, mode)?;
            let warnings = report.warnings.clone();
            return emit(out, REPORTED, report, &warnings, render::accounts);
        }
        AccountAction::AddToGroup {
            source,
            name,
            group,
            edit,
        } => {
            let h = account_hives(&source, part)?;
            return edited(
                out,
                recipes::add_to_group(&edit_hives(&h), &name, &group, &opts(&edit)),
            );
        }
        AccountAction::Enable { source, name, edit } => (source, name, AccountEdit::Enable, edit),
        AccountAction::Unlock { source, name, edit } => (source, name, AccountEdit::Unlock, edit),
        AccountAction::Expiry {
            source, name, edit, ..
        } => (source, name, AccountEdit::AccountNeverExpires, edit),
        AccountAction::Password {
            source,
            name,
            never_expires,
            reset_expiry,
            password_file,
            password_stdin,
            edit,
        } => {
            let what = if never_expires {
                AccountEdit::NeverExpires
            } else if reset_expiry {
                AccountEdit::ResetExpiry
            } else {
                AccountEdit::Password(read_password(password_file.as_deref(), password_stdin)?)
            };
            (source, name, what, edit)
        }
    };
    let h = account_hives(&source, part)?;
    edited(
        out,
        recipes::account_edit(&edit_hives(&h), &name, &edit, &opts(&e)),
    )
}

/// `rights grant-rdp|remove-deny`.
fn rights(
    out: &Output,
    action: RightsAction,
    part: Option<u32>,
    opts: &dyn Fn(&EditArgs) -> EditOptions,
) -> Result<Exit, Error> {
    let (source, who, what, e) = match action {
        RightsAction::GrantRdp { source, who, edit } => {
            (source, who, recipes::RightsEdit::GrantRdp, edit)
        }
        RightsAction::RemoveDeny { source, who, edit } => {
            (source, who, recipes::RightsEdit::RemoveDeny, edit)
        }
    };
    let h = account_hives(&source, part)?;
    let gpo = crate::commands::accounts::gpo_rights_warning(&h);
    edited(
        out,
        recipes::rights_edit(&edit_hives(&h), &who, what, gpo, &opts(&e)),
    )
}

/// Runs `cli.command`; errors become the exit code they are classed as.
fn dispatch(cli: Cli, out: &Output) -> Result<Exit, Error> {
    let part = partition(&cli)?;
    let locate = |p: &Path| locate_with(p, part);
    // The only place a write permission is made: never in read-only mode.
    let write = (!cli.read_only).then(WriteAccess::grant);
    let opts = |e: &EditArgs| edit_options(e, write);
    match cli.command {
        Command::Inspect(Deferred(InspectArgs {
            source,
            hash_source,
            verify,
            hash: h,
            ..
        })) => inspect(out, &locate(&source)?, &source, (hash_source, verify, &h)),
        Command::Locate(Deferred(LocateArgs { paths, .. })) => self::locate(out, &paths),
        Command::Diagnose(Deferred(DiagnoseArgs { source, read, .. })) => {
            diagnose(out, &locate(&source)?, &read)
        }
        Command::Nla { action } => {
            let a = action.args();
            let located = locate(&a.source)?;
            edited(
                out,
                nla(&action, &located, a.include_policy, &opts(&a.edit)),
            )
        }
        Command::Rdp { action } => rdp(out, action.0, &locate, &opts),
        Command::Service(Deferred(ServiceArgs {
            source,
            name,
            start,
            edit: e,
        })) => {
            let r = recipes::service_start(&locate(&source)?, &name, start.code(), &opts(&e));
            edited(out, r)
        }
        Command::Get(Deferred(GetArgs {
            source,
            path,
            value,
            all_control_sets,
            verify,
            ..
        })) => {
            let path = reg_path(&path)?;
            get(
                &locate(&source)?,
                &path,
                value.as_deref(),
                (all_control_sets, verify),
                out,
            )
        }
        Command::Set(Deferred(SetArgs {
            source,
            path,
            value,
            ty,
            data,
            all_control_sets,
            edit: e,
        })) => {
            let target = ValueTarget {
                source: &source,
                path: &path,
                value: &value,
                all_control_sets,
            };
            edit_value(&locate, target, Some((ty, &data)), out, &opts(&e))
        }
        Command::DeleteValue(Deferred(DeleteValueArgs {
            source,
            path,
            value,
            all_control_sets,
            edit: e,
        })) => {
            let target = ValueTarget {
                source: &source,
                path: &path,
                value: &value,
                all_control_sets,
            };
            edit_value(&locate, target, None, out, &opts(&e))
        }
        Command::Restore(Deferred(RestoreArgs {
            backup,
            force,
            target,
            ..
        })) => restore(out, &backup, force, target.as_deref(), write),
        Command::Backups { action } => backups(out, action.0, write),
        Command::Completions(Deferred(CompletionsArgs { shell })) => {
            shown(crate::cli::extra::completions(shell))
        }
        Command::Man => shown(crate::cli::extra::man()?),
        Command::Account { action } => account(out, action.0, part, &opts),
        Command::Rights { action } => rights(out, action.0, part, &opts),
    }
}

/// `--partition` of a command that opens a source: `None` for the others.
fn partition_arg(cmd: &Command) -> Option<&PartitionArg> {
    match cmd {
        Command::Inspect(Deferred(InspectArgs { part, .. }))
        | Command::Diagnose(Deferred(DiagnoseArgs { part, .. }))
        | Command::Get(Deferred(GetArgs { part, .. }))
        | Command::Account {
            action: Deferred(AccountAction::List { part, .. }),
        } => Some(part),
        _ => edit_args(cmd).map(|e| &e.part),
    }
}

/// The shared options of a command that edits a source (every fix), or
/// `None` for the read-only commands.
fn edit_args(cmd: &Command) -> Option<&EditArgs> {
    match cmd {
        Command::Account {
            action:
                Deferred(
                    AccountAction::Enable { edit, .. }
                    | AccountAction::Unlock { edit, .. }
                    | AccountAction::Expiry { edit, .. }
                    | AccountAction::Password { edit, .. }
                    | AccountAction::AddToGroup { edit, .. },
                ),
        }
        | Command::Rights {
            action:
                Deferred(RightsAction::GrantRdp { edit, .. } | RightsAction::RemoveDeny { edit, .. }),
        }
        | Command::Service(Deferred(ServiceArgs { edit, .. }))
        | Command::Set(Deferred(SetArgs { edit, .. }))
        | Command::DeleteValue(Deferred(DeleteValueArgs { edit, .. }))
        | Command::Rdp {
            action:
                Deferred(
                    RdpAction::Enable { edit, .. }
                    | RdpAction::Port { edit, .. }
                    | RdpAction::Repair { edit, .. },
                ),
        } => Some(edit),
        Command::Nla { action } => Some(&action.args().edit),
        Command::Inspect(_)
        | Command::Diagnose(_)
        | Command::Get(_)
        | Command::Locate(_)
        | Command::Restore(_)
        | Command::Account {
            action: Deferred(AccountAction::List { .. }),
        }
        | Command::Backups { .. }
        | Command::Completions(_)
        | Command::Man => None,
    }
}

/// The partition asked for: the command's `--partition`, or the same
/// option given before the subcommand (as earlier versions took it). A
/// command that opens no source takes none; two different numbers are a
/// usage error.
fn partition(cli: &Cli) -> Result<Option<u32>, Error> {
    match (partition_arg(&cli.command), cli.partition) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(Error::Usage(
            "--partition is an option of the commands that open a source (inspect, diagnose, get, \
             the fixes, account, rights), not of this one"
                .into(),
        )),
        (Some(a), before) => match (a.partition, before) {
            (Some(x), Some(y)) if x != y => Err(Error::Usage(format!(
                "--partition given twice with different numbers ({y} and {x})"
            ))),
            (x, y) => Ok(x.or(y)),
        },
    }
}

fn wants_json(cli: &Cli) -> bool {
    match &cli.command {
        Command::Inspect(Deferred(InspectArgs { json, .. }))
        | Command::Diagnose(Deferred(DiagnoseArgs { json, .. }))
        | Command::Locate(Deferred(LocateArgs { json, .. }))
        | Command::Get(Deferred(GetArgs { json, .. }))
        | Command::Restore(Deferred(RestoreArgs { json, .. }))
        | Command::Backups {
            action: Deferred(BackupsAction::List { json, .. } | BackupsAction::Pack { json, .. }),
        }
        | Command::Account {
            action: Deferred(AccountAction::List { json, .. }),
        } => *json,
        cmd => edit_args(cmd).is_some_and(|e| e.json),
    }
}

/// The command's name ("nla", "rdp enable") and the source path given,
/// for the document of a run that failed.
fn command_and_source(cli: &Cli) -> (String, Option<String>) {
    let p = |s: &std::path::PathBuf| Some(s.display().to_string());
    match &cli.command {
        Command::Inspect(Deferred(InspectArgs { source, .. })) => ("inspect".into(), p(source)),
        Command::Diagnose(Deferred(DiagnoseArgs { source, .. })) => ("diagnose".into(), p(source)),
        Command::Locate(Deferred(LocateArgs { .. })) => ("locate".into(), None),
        Command::Get(Deferred(GetArgs { source, .. })) => ("get".into(), p(source)),
        Command::Restore(Deferred(RestoreArgs { backup, .. })) => ("restore".into(), p(backup)),
        Command::Nla { action } => (format!("nla {}", action.name()), p(&action.args().source)),
        Command::Service(Deferred(ServiceArgs { source, .. })) => ("service".into(), p(source)),
        Command::Set(Deferred(SetArgs { source, .. })) => ("set".into(), p(source)),
        Command::DeleteValue(Deferred(DeleteValueArgs { source, .. })) => {
            ("delete-value".into(), p(source))
        }
        Command::Rdp { action } => match &action.0 {
            RdpAction::Enable { source, .. } => ("rdp enable".into(), p(source)),
            RdpAction::Repair { source, .. } => ("rdp repair".into(), p(source)),
            RdpAction::Port { source, .. } => ("rdp port".into(), p(source)),
        },
        Command::Account { action } => match &action.0 {
            AccountAction::List { source, .. } => ("account list".into(), p(source)),
            AccountAction::Enable { source, .. } => ("account enable".into(), p(source)),
            AccountAction::Unlock { source, .. } => ("account unlock".into(), p(source)),
            AccountAction::Expiry { source, .. } => ("account expiry".into(), p(source)),
            AccountAction::Password { source, .. } => ("account password".into(), p(source)),
            AccountAction::AddToGroup { source, .. } => ("account add-to-group".into(), p(source)),
        },
        Command::Rights { action } => match &action.0 {
            RightsAction::GrantRdp { source, .. } => ("rights grant-rdp".into(), p(source)),
            RightsAction::RemoveDeny { source, .. } => ("rights remove-deny".into(), p(source)),
        },
        Command::Backups { action } => match &action.0 {
            BackupsAction::List { dir, .. } => ("backups list".into(), dir.as_ref().and_then(p)),
            BackupsAction::Pack { backup, .. } => ("backups pack".into(), p(backup)),
        },
        Command::Completions(Deferred(CompletionsArgs { .. })) => ("completions".into(), None),
        Command::Man => ("man".into(), None),
    }
}

/// The document outcome of a failed run.
fn error_outcome(exit: Exit) -> DocOutcome {
    match exit {
        Exit::Refused => DocOutcome::Refused,
        Exit::NotFound => DocOutcome::NotFound,
        Exit::RolledBack => DocOutcome::RolledBack,
        Exit::RollbackFailed => DocOutcome::RollbackFailed,
        Exit::Success | Exit::Error | Exit::Usage => DocOutcome::Error,
    }
}

/// Reports a failed run: the error document (printed under `--json` or
/// `--summary`, written with `-o FILE`), the message on stderr, the status
/// line in text mode.
fn report_error(
    out: &Output,
    (command, source): (&str, Option<String>),
    exit: Exit,
    (code, message): (Code, &str),
    backup: Option<&Path>,
) {
    let severity = if exit == Exit::Refused {
        Severity::Refusal
    } else {
        Severity::Error
    };
    let info = ErrorInfo {
        kind: exit.name(),
        exit_code: exit.code(),
        code,
        message: message.to_string(),
    };
    let issue = Issue {
        severity,
        code,
        message: message.to_string(),
    };
    let mut report = ErrorReport::new(command, source, info);
    report.backup = backup.map(|b| b.display().to_string());
    let bundle = report.backup.clone();
    let mut doc =
        Document::new(error_outcome(exit), exit.code(), vec![issue], report).with_backup(bundle);
    if let Some(m) = write_result_file(out, &mut doc) {
        print_err(&format!("ntrescue: error: {}\n", render::escape(&m)));
    }
    if out.summary {
        let line = serde_json::to_string(&Summary::of(&doc)).unwrap_or_default();
        let _ = print(&(line + "\n"));
    } else if out.json {
        let _ = to_json(&doc).and_then(|t| print(&t).map_err(|e| Error::io("writing output", e)));
    }
    print_err(&format!("ntrescue: error: {}\n", render::escape(message)));
    if !out.machine() {
        print_err(&status_line(error_outcome(exit), exit.code()));
    }
}

/// Runs the command line: prints its report (or its error, as a JSON
/// document too under `--json`) and returns the exit code.
pub fn run(cli: Cli) -> Exit {
    crate::report::run_info();
    let out = Output {
        json: wants_json(&cli),
        summary: cli.summary,
        result_file: cli.result_file.clone(),
        detail: cli.detail,
        color: cli.color,
    };
    let (command, source) = command_and_source(&cli);
    match dispatch(cli, &out) {
        Ok(code) => code,
        Err(err) => {
            let exit = Exit::of(err.class());
            report_error(
                &out,
                (&command, source),
                exit,
                (err.code(), &err.to_string()),
                err.backup(),
            );
            exit
        }
    }
}

/// Parses `args` (the program name first) and runs them. A command line
/// clap rejects is a usage error (exit 2), reported like any other error:
/// as a JSON document too when `--json` or `--summary` was given.
pub fn run_args(args: Vec<std::ffi::OsString>) -> Exit {
    use clap::Parser;
    let e = match Cli::try_parse_from(&args) {
        Ok(cli) => return run(cli),
        Err(e) => e,
    };
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return Exit::Success;
    }
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let has = |f: &str| text.iter().skip(1).any(|a| a == f);
    let result_file = text
        .iter()
        .position(|a| a == "-o" || a == "--result-file")
        .and_then(|i| text.get(i + 1))
        .map(std::path::PathBuf::from)
        .or_else(|| {
            text.iter()
                .find_map(|a| a.strip_prefix("--result-file="))
                .map(std::path::PathBuf::from)
        });
    let out = Output {
        json: has("--json"),
        summary: has("--summary"),
        result_file,
        detail: false,
        color: ColorWhen::Never,
    };
    let rendered = e.render().to_string();
    // `account password` never shows an argument back: a password given
    // as an extra argument would be echoed by clap's message.
    let secret = subcommand_of(&text).starts_with("account password");
    let rendered = if secret {
        // The JSON document's `run.command_line` too.
        let start = text
            .iter()
            .position(|a| a == "password")
            .map_or(1, |i| i + 1);
        crate::report::set_run_args(
            text.iter()
                .enumerate()
                .map(|(i, a)| {
                    let name = a.starts_with('-') && a.len() > 1 && !a.contains('=');
                    if i < start || name {
                        a.into()
                    } else {
                        "<redacted>".into()
                    }
                })
                .collect(),
        );
        redact_args(&rendered, &text)
    } else {
        rendered
    };
    // clap's first paragraph ("error: ..." and the lines under it).
    let message = rendered
        .trim_start()
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string();
    if out.machine() || out.result_file.is_some() {
        report_error(
            &out,
            (&subcommand_of(&text), None),
            Exit::Usage,
            (Code::Usage, &message),
            None,
        );
        if !out.machine() {
            return Exit::Usage;
        }
    } else {
        if secret {
            eprint!("{rendered}");
        } else {
            let _ = e.print();
        }
        print_err(&status_line(DocOutcome::Error, Exit::Usage.code()));
    }
    Exit::Usage
}

/// `text` with every argument value of the command line `args` after the
/// subcommand words replaced by `<redacted>`: inside quotes wherever it
/// appears (clap quotes the values it names), and bare when it is long
/// enough not to be a piece of clap's own words. Option names are kept.
fn redact_args(text: &str, args: &[String]) -> String {
    let start = args
        .iter()
        .position(|a| a == "password")
        .map_or(1, |i| i + 1);
    let mut values: Vec<&str> = Vec::new();
    for a in args.iter().skip(start) {
        if let Some((_, v)) = a.split_once('=').filter(|_| a.starts_with('-')) {
            values.push(v);
        } else if !a.starts_with('-') || a.len() == 1 {
            values.push(a);
        }
    }
    values.retain(|v| !v.is_empty());
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    // Quoted segments holding a value.
    let mut out = String::new();
    let mut parts = text.split('\'');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        out.push('\'');
        // Odd pieces are inside quotes.
        if i % 2 == 0 && values.iter().any(|v| part.contains(v)) {
            out.push_str("<redacted>");
        } else {
            out.push_str(part);
        }
    }
    for v in values
        .iter()
        .filter(|v| v.chars().count() >= 4 || v.contains('\''))
    {
        out = out.replace(*v, "<redacted>");
    }
    out
}

/// Whether option `flag` (`--name` or `-x`) of `cmd` takes a value.
fn takes_value(cmd: &clap::Command, flag: &str) -> bool {
    cmd.get_arguments().any(|arg| {
        let named = match flag.strip_prefix("--") {
            Some(long) => arg.get_long() == Some(long),
            None => flag
                .strip_prefix('-')
                .and_then(|s| s.chars().next())
                .is_some_and(|c| arg.get_short() == Some(c)),
        };
        named && arg.get_action().takes_values()
    })
}

/// The subcommand words at the start of a command line clap rejected
/// ("rdp port"), as far as they name subcommands.
fn subcommand_of(args: &[String]) -> String {
    let mut cmd = crate::cli::args::full_command();
    let mut words = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a.starts_with('-') {
            // Skip an option's separate value (`--partition 0`, `-o FILE`).
            if !a.contains('=') && takes_value(&cmd, a) {
                it.next();
            }
            continue;
        }
        match cmd.find_subcommand(a) {
            Some(sub) => {
                words.push(a.clone());
                cmd = sub.clone();
            }
            None => {
                // A first positional with fixed values names the action
                // (`nla disable`), as in a successful run's `command`.
                let action = cmd
                    .get_positionals()
                    .next()
                    .is_some_and(|p| p.get_possible_values().iter().any(|v| v.matches(a, false)));
                if action {
                    words.push(a.clone());
                }
                break;
            }
        }
    }
    words.join(" ")
}
