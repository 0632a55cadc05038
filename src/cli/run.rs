// SPDX-License-Identifier: GPL-2.0-or-later
//! Runs one parsed command line: operator input turned into library values,
//! the library called, its report printed (JSON or human), the exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::cli::args::{
    AccountAction, Cli, Command, EditArgs, HashArg, NlaAction, RdpAction, RightsAction, ValueType,
};
use crate::cli::exit::Exit;
use crate::error::Error;
use crate::hive::path::{encode, DataType, RegPath};
use crate::recipes;
use crate::render::{self, Style};
use crate::report::{RunInfo, SCHEMA, TOOL};
use crate::storage::access::WriteAccess;
use crate::storage::source::{locate_with, Located};
use crate::util::digest::HashAlg;
use crate::write::backup::RestoreOutput;
use crate::write::outcome::EditReport;
use crate::write::outcome::Outcome;
use crate::write::plan::Action;
use crate::write::plan::EditOptions;

fn style() -> Style {
    Style {
        color: std::io::stdout().is_terminal() && color_allowed(),
    }
}

/// Styling for what goes to stderr (warnings in human mode).
fn err_style() -> Style {
    Style {
        color: std::io::stderr().is_terminal() && color_allowed(),
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

/// This run's metadata, captured once when [`run`] starts.
static RUN: std::sync::OnceLock<RunInfo> = std::sync::OnceLock::new();

fn run_info() -> &'static RunInfo {
    RUN.get_or_init(|| RunInfo::capture(std::env::args_os()))
}

/// A JSON document: the report's fields, then `run`.
#[derive(serde::Serialize)]
struct Document<'a, T> {
    #[serde(flatten)]
    report: &'a T,
    run: &'static RunInfo,
}

/// A report as pretty JSON, with the run metadata; a report that cannot be
/// serialised is an error, not a panic.
fn to_json<T: serde::Serialize>(report: &T) -> Result<String, Error> {
    let doc = Document {
        report,
        run: run_info(),
    };
    serde_json::to_string_pretty(&doc)
        .map(|t| t + "\n")
        .map_err(|e| Error::io("serialising the report", std::io::Error::other(e)))
}

/// Prints `report` as JSON (its warnings inside the document), or as the
/// text `human` renders on stdout with `warnings` on stderr.
fn emit<T: serde::Serialize>(
    as_json: bool,
    report: &T,
    warnings: &[String],
    human: impl FnOnce() -> String,
) -> Result<(), Error> {
    if as_json {
        return print(&to_json(report)?).map_err(|e| Error::io("writing output", e));
    }
    print(&human()).map_err(|e| Error::io("writing output", e))?;
    print_err(&render::warnings(warnings, err_style()));
    Ok(())
}

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

fn edited(e: &EditArgs, report: Result<EditReport, Error>) -> Result<Exit, Error> {
    let report = report?;
    emit(e.json, &report, &report.warnings, || {
        render::fix(&report, style())
    })?;
    Ok(match report.outcome {
        Outcome::Refused => Exit::Refused,
        _ => Exit::Success,
    })
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
        report.warnings.push(why.clone());
        report.source_hash_error = Some(why);
        return Ok(());
    }
    let show = std::io::stderr().is_terminal();
    let mut last = 0u64;
    let hashes = crate::storage::source::hash_source_with(source, algs, &mut |done, total| {
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
    Ok(())
}

/// `inspect`, with the requested digests of the hives and logs and the
/// optional hash of the whole source.
fn inspect(
    located: &Located,
    source: &Path,
    hash_source: bool,
    hash: &[HashArg],
    json: bool,
) -> Result<Exit, Error> {
    let algs = hash_algs(hash);
    let mut report = crate::commands::inspect::inspect_hashed(located, &algs)?;
    if hash_source {
        hash_whole_source(&mut report, source, &algs)?;
    }
    emit(json, &report, &report.warnings, || {
        render::inspect(&report, style())
    })?;
    Ok(Exit::Success)
}

fn locate(paths: &[std::path::PathBuf], json: bool) -> Result<Exit, Error> {
    let report = crate::commands::locate::locate(paths);
    emit(json, &report, &[], || render::locate(&report, style()))?;
    let found = report
        .disks
        .iter()
        .any(|d| d.partitions.iter().any(|p| p.windows.is_some()));
    Ok(if found { Exit::Success } else { Exit::NotFound })
}

/// `nla disable|enable`.
fn nla(
    action: NlaAction,
    located: &Located,
    include_policy: bool,
    opts: &EditOptions,
) -> Result<EditReport, Error> {
    let mode = match action {
        NlaAction::Disable => recipes::NlaMode::Disable,
        NlaAction::Enable => recipes::NlaMode::Enable,
    };
    recipes::nla_full(located, mode, include_policy, opts)
}

/// `get`: a key or value, read-only.
fn get(
    located: &Located,
    path: &RegPath,
    value: Option<&str>,
    all_control_sets: bool,
    json: bool,
) -> Result<Exit, Error> {
    let report = crate::commands::get::get(located, path, value, all_control_sets)?;
    emit(json, &report, &report.warnings, || {
        render::get(&report, style())
    })?;
    Ok(Exit::Success)
}

/// `restore`: only with a write permission.
fn restore(
    backup: &Path,
    force: bool,
    json: bool,
    write: Option<WriteAccess>,
) -> Result<Exit, Error> {
    let access = write.ok_or_else(|| WriteAccess::refused("`restore`"))?;
    let report = crate::write::backup::restore(&access, backup, force)?;
    emit(json, &RestoreOutput::new(&report), &[], || {
        render::restore(&report, style())
    })?;
    Ok(Exit::Success)
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
    e: &EditArgs,
    opts: &EditOptions,
) -> Result<Exit, Error> {
    let path = RegPath::parse(t.path)?;
    let action = match data {
        Some((ty, data)) => {
            let dt = data_type(ty);
            Action::Set {
                ty: dt.code(),
                data: encode(dt, data)?,
            }
        }
        None => Action::Delete,
    };
    let located = locate(t.source)?;
    let r = recipes::set_value(&located, &path, t.value, action, t.all_control_sets, opts);
    edited(e, r)
}

/// `rdp enable` and `rdp port`.
fn rdp(
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
            &e,
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
            edited(&e, recipes::rdp_repair(&located, flags, &opts(&e), &rules))
        }
        RdpAction::Port {
            source,
            set,
            edit: e,
            ..
        } => {
            let port = set.unwrap_or(recipes::RDP_DEFAULT_PORT);
            edited(&e, recipes::rdp_port(&locate(&source)?, port, &opts(&e)))
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
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::io(format!("reading {}", f.display()), e))?;
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
            return Err(Error::Refused(
                "the two passwords differ; nothing written".into(),
            ));
        }
        a
    } else {
        return Err(Error::Refused(
            "no terminal to prompt on: give --password-file FILE or --password-stdin".into(),
        ));
    };
    if pw.is_empty() {
        return Err(Error::Refused(
            "an empty password is refused over the network (LimitBlankPasswordUse); choose a real one".into(),
        ));
    }
    Ok(pw)
}

/// One line read from the terminal with echo off (`stty`).
fn prompt(text: &str) -> Result<String, Error> {
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    eprint!("{text}");
    let _ = stty("-echo");
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

/// `account list|enable|unlock|password`.
fn account(
    action: AccountAction,
    part: Option<u32>,
    opts: &dyn Fn(&EditArgs) -> EditOptions,
) -> Result<Exit, Error> {
    use recipes::AccountEdit;
    let (source, name, edit, e) = match action {
        AccountAction::List { source, json } => {
            let report = crate::commands::accounts::list(&account_hives(&source, part)?)?;
            emit(json, &report, &report.warnings, || {
                render::accounts(&report, style())
            })?;
            return Ok(Exit::Success);
        }
        AccountAction::Enable { source, name, edit } => (source, name, AccountEdit::Enable, edit),
        AccountAction::Unlock { source, name, edit } => (source, name, AccountEdit::Unlock, edit),
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
        &e,
        recipes::account_edit(&edit_hives(&h), &name, &edit, &opts(&e)),
    )
}

/// `rights grant-rdp|remove-deny`.
fn rights(
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
        &e,
        recipes::rights_edit(&edit_hives(&h), &who, what, gpo, &opts(&e)),
    )
}

/// Runs `cli.command`; errors become the exit code they are classed as.
fn dispatch(cli: Cli) -> Result<Exit, Error> {
    let part = cli.partition;
    let locate = |p: &Path| locate_with(p, part);
    // The only place a write permission is made: never in read-only mode.
    let write = (!cli.read_only).then(WriteAccess::grant);
    let opts = |e: &EditArgs| edit_options(e, write);
    match cli.command {
        Command::Inspect {
            source,
            hash_source,
            hash,
            json,
        } => inspect(&locate(&source)?, &source, hash_source, &hash, json),
        Command::Locate { paths, json } => self::locate(&paths, json),
        Command::Diagnose { source, json } => {
            let report = crate::commands::diagnose::diagnose(&locate(&source)?)?;
            emit(json, &report, &report.warnings, || {
                render::diagnose(&report, style())
            })?;
            Ok(Exit::Success)
        }
        Command::Nla {
            action,
            source,
            include_policy,
            edit: e,
        } => edited(
            &e,
            nla(action, &locate(&source)?, include_policy, &opts(&e)),
        ),
        Command::Rdp { action } => rdp(action, &locate, &opts),
        Command::Service {
            source,
            name,
            start,
            edit: e,
        } => {
            let r = recipes::service_start(&locate(&source)?, &name, start.code(), &opts(&e));
            edited(&e, r)
        }
        Command::Get {
            source,
            path,
            value,
            all_control_sets,
            json,
        } => {
            let path = RegPath::parse(&path)?;
            get(
                &locate(&source)?,
                &path,
                value.as_deref(),
                all_control_sets,
                json,
            )
        }
        Command::Set {
            source,
            path,
            value,
            ty,
            data,
            all_control_sets,
            edit: e,
        } => {
            let target = ValueTarget {
                source: &source,
                path: &path,
                value: &value,
                all_control_sets,
            };
            edit_value(&locate, target, Some((ty, &data)), &e, &opts(&e))
        }
        Command::DeleteValue {
            source,
            path,
            value,
            all_control_sets,
            edit: e,
        } => {
            let target = ValueTarget {
                source: &source,
                path: &path,
                value: &value,
                all_control_sets,
            };
            edit_value(&locate, target, None, &e, &opts(&e))
        }
        Command::Restore {
            backup,
            force,
            json,
        } => restore(&backup, force, json, write),
        Command::Account { action } => account(action, part, &opts),
        Command::Rights { action } => rights(action, part, &opts),
    }
}

fn wants_json(cli: &Cli) -> bool {
    match &cli.command {
        Command::Inspect { json, .. }
        | Command::Diagnose { json, .. }
        | Command::Locate { json, .. }
        | Command::Get { json, .. }
        | Command::Restore { json, .. }
        | Command::Account {
            action: AccountAction::List { json, .. },
        } => *json,
        Command::Account {
            action:
                AccountAction::Enable { edit, .. }
                | AccountAction::Unlock { edit, .. }
                | AccountAction::Password { edit, .. },
        }
        | Command::Rights {
            action: RightsAction::GrantRdp { edit, .. } | RightsAction::RemoveDeny { edit, .. },
        } => edit.json,
        Command::Nla { edit, .. }
        | Command::Service { edit, .. }
        | Command::Set { edit, .. }
        | Command::DeleteValue { edit, .. }
        | Command::Rdp {
            action:
                RdpAction::Enable { edit, .. }
                | RdpAction::Port { edit, .. }
                | RdpAction::Repair { edit, .. },
        } => edit.json,
    }
}

/// Runs the command line: prints its report (or its error, as a JSON
/// document too under `--json`) and returns the exit code.
pub fn run(cli: Cli) -> Exit {
    run_info();
    let as_json = wants_json(&cli);
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            let exit = Exit::of(err.class());
            if as_json {
                let doc = serde_json::json!({
                    "schema": SCHEMA,
                    "tool": TOOL,
                    "error": { "kind": exit.name(), "exit_code": exit.code(), "message": err.to_string() },
                    "run": run_info(),
                });
                let _ = print(&(doc.to_string() + "\n"));
            }
            print_err(&format!(
                "ntrescue: error: {}\n",
                render::escape(&err.to_string())
            ));
            exit
        }
    }
}
