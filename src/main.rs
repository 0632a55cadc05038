// SPDX-License-Identifier: GPL-2.0-or-later
//! The `ntrescue` binary: parses arguments, calls the library, prints.

mod cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use ntrescue::access::WriteAccess;
use ntrescue::engine::{Action, EditOptions, EditReport, Outcome};
use ntrescue::exit::Exit;
use ntrescue::fix;
use ntrescue::regpath::{encode, DataType, RegPath};
use ntrescue::render::{self, Style};
use ntrescue::report::{RestoreOutput, SCHEMA, TOOL};
use ntrescue::source::locate_with;
use ntrescue::Error;

use cli::{Cli, Command, EditArgs, RdpAction, ValueType};

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

/// Prints `report` as JSON (its warnings inside the document), or as the
/// text `human` renders on stdout with `warnings` on stderr.
fn emit<T: serde::Serialize>(
    as_json: bool,
    report: &T,
    warnings: &[String],
    human: impl FnOnce() -> String,
) -> Result<(), Error> {
    if as_json {
        let text = serde_json::to_string_pretty(report).expect("report serialises") + "\n";
        return print(&text).map_err(|e| Error::io("writing output", e));
    }
    print(&human()).map_err(|e| Error::io("writing output", e))?;
    eprint!("{}", render::warnings(warnings, err_style()));
    Ok(())
}

fn edit_options(e: &EditArgs, write: Option<WriteAccess>) -> EditOptions {
    EditOptions {
        dry_run: e.dry_run,
        output: e.output.clone(),
        backup_root: e.backup_dir.clone(),
        allow_dirty_without_logs: e.allow_dirty_without_logs,
        write,
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

fn run(cli: Cli) -> Result<Exit, Error> {
    let part = cli.partition;
    let locate = |p: &std::path::Path| locate_with(p, part);
    // The only place a write permission is made: never in read-only mode.
    let write = (!cli.read_only).then(WriteAccess::grant);
    let options = |e: &EditArgs| edit_options(e, write);
    match cli.command {
        Command::Inspect {
            source,
            hash_source,
            json,
        } => {
            let mut report = ntrescue::inspect::inspect(&locate(&source)?)?;
            if hash_source {
                let show = !json && std::io::stderr().is_terminal();
                let mut last = 0u64;
                let sha = ntrescue::digest::hash_source(&source, &mut |done, total| {
                    if show && (done - last >= 64 << 20 || done == total) {
                        last = done;
                        eprint!(
                            "\rhashing {}: {:>3}% ",
                            source.display(),
                            done * 100 / total.max(1)
                        );
                    }
                })?;
                if show {
                    eprintln!();
                }
                report.source_sha256 = Some(sha);
            }
            emit(json, &report, &report.warnings, || {
                render::inspect(&report, style())
            })?;
            Ok(Exit::Success)
        }
        Command::Locate { paths, json } => {
            let report = ntrescue::locate::locate(&paths);
            emit(json, &report, &[], || render::locate(&report, style()))?;
            Ok(
                if report
                    .disks
                    .iter()
                    .any(|d| d.partitions.iter().any(|p| p.windows.is_some()))
                {
                    Exit::Success
                } else {
                    Exit::NotFound
                },
            )
        }
        Command::Nla {
            action,
            source,
            include_policy,
            edit,
        } => {
            let mode = match action {
                cli::NlaAction::Disable => fix::NlaMode::Disable,
                cli::NlaAction::Enable => fix::NlaMode::Enable,
            };
            edited(
                &edit,
                fix::nla_full(&locate(&source)?, mode, include_policy, &options(&edit)),
            )
        }
        Command::Rdp {
            action:
                RdpAction::Enable {
                    source,
                    include_policy,
                    edit,
                },
        } => edited(
            &edit,
            fix::rdp_enable(&locate(&source)?, include_policy, &options(&edit)),
        ),
        Command::Rdp {
            action: RdpAction::Port {
                source, set, edit, ..
            },
        } => {
            let port = set.unwrap_or(fix::RDP_DEFAULT_PORT);
            edited(
                &edit,
                fix::rdp_port(&locate(&source)?, port, &options(&edit)),
            )
        }
        Command::Service {
            source,
            name,
            start,
            edit,
        } => edited(
            &edit,
            fix::service_start(&locate(&source)?, &name, start.code(), &options(&edit)),
        ),
        Command::Get {
            source,
            path,
            value,
            all_control_sets,
            json,
        } => {
            let path = RegPath::parse(&path)?;
            let report =
                ntrescue::get::get(&locate(&source)?, &path, value.as_deref(), all_control_sets)?;
            emit(json, &report, &report.warnings, || {
                render::get(&report, style())
            })?;
            Ok(Exit::Success)
        }
        Command::Set {
            source,
            path,
            value,
            ty,
            data,
            all_control_sets,
            edit,
        } => {
            let path = RegPath::parse(&path)?;
            let dt = data_type(ty);
            let action = Action::Set {
                ty: dt.code(),
                data: encode(dt, &data)?,
            };
            let r = fix::set_value(
                &locate(&source)?,
                &path,
                &value,
                action,
                all_control_sets,
                &options(&edit),
            );
            edited(&edit, r)
        }
        Command::DeleteValue {
            source,
            path,
            value,
            all_control_sets,
            edit,
        } => {
            let path = RegPath::parse(&path)?;
            let r = fix::set_value(
                &locate(&source)?,
                &path,
                &value,
                Action::Delete,
                all_control_sets,
                &options(&edit),
            );
            edited(&edit, r)
        }
        Command::Restore {
            backup,
            force,
            json,
        } => {
            let access = write.ok_or_else(|| WriteAccess::refused("`restore`"))?;
            let report = ntrescue::backup::restore(&access, &backup, force)?;
            emit(json, &RestoreOutput::new(&report), &[], || {
                render::restore(&report, style())
            })?;
            Ok(Exit::Success)
        }
    }
}

fn wants_json(cli: &Cli) -> bool {
    match &cli.command {
        Command::Inspect { json, .. }
        | Command::Locate { json, .. }
        | Command::Get { json, .. }
        | Command::Restore { json, .. } => *json,
        Command::Nla { edit, .. }
        | Command::Service { edit, .. }
        | Command::Set { edit, .. }
        | Command::DeleteValue { edit, .. }
        | Command::Rdp {
            action: RdpAction::Enable { edit, .. } | RdpAction::Port { edit, .. },
        } => edit.json,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let as_json = wants_json(&cli);
    let exit = match run(cli) {
        Ok(code) => code,
        Err(err) => {
            let exit = Exit::of(err.class());
            if as_json {
                let doc = serde_json::json!({
                    "schema": SCHEMA,
                    "tool": TOOL,
                    "error": { "kind": exit.name(), "exit_code": exit.code(), "message": err.to_string() },
                });
                let _ = print(&(doc.to_string() + "\n"));
            }
            eprintln!("ntrescue: error: {err}");
            exit
        }
    };
    ExitCode::from(exit.code())
}
