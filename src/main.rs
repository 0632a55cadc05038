// SPDX-License-Identifier: GPL-2.0-or-later
//! The `ntrescue` binary: parses arguments, calls the library, prints.

mod cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use ntrescue::exit::Exit;
use ntrescue::render::Style;
use ntrescue::report::{SCHEMA, TOOL};

use cli::{Cli, Command};

fn style() -> Style {
    Style {
        color: std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    print(&(serde_json::to_string_pretty(v)? + "\n"))
}

/// Prints `report` as JSON or as the text `human` renders.
fn emit<T: serde::Serialize>(
    as_json: bool,
    report: &T,
    human: impl FnOnce() -> String,
) -> Result<(), ntrescue::Error> {
    let r = if as_json {
        json(report)
    } else {
        print(&human())
    };
    r.map_err(|e| ntrescue::Error::io("writing output", std::io::Error::other(e)))
}

fn run(cli: Cli) -> Result<Exit, ntrescue::Error> {
    match cli.command {
        Command::Inspect {
            source,
            json: as_json,
        } => {
            let located = ntrescue::source::locate(&source)?;
            let report = ntrescue::inspect::inspect(&located)?;
            if as_json {
                json(&report)
                    .map_err(|e| ntrescue::Error::io("writing output", std::io::Error::other(e)))?;
            } else {
                print(&ntrescue::render::inspect(&report, style()))
                    .map_err(|e| ntrescue::Error::io("writing output", std::io::Error::other(e)))?;
            }
            Ok(Exit::Success)
        }
        Command::Nla {
            action,
            source,
            dry_run,
            output,
            backup_dir,
            allow_dirty_without_logs,
            json: as_json,
        } => {
            let located = ntrescue::source::locate(&source)?;
            let mode = match action {
                cli::NlaAction::Disable => ntrescue::fix::NlaMode::Disable,
                cli::NlaAction::Enable => ntrescue::fix::NlaMode::Enable,
            };
            let opts = ntrescue::engine::EditOptions {
                dry_run,
                output,
                backup_root: backup_dir,
                allow_dirty_without_logs,
            };
            let report = ntrescue::fix::nla(&located, mode, &opts)?;
            emit(as_json, &report, || ntrescue::render::fix(&report, style()))?;
            Ok(match report.outcome {
                ntrescue::fix::Outcome::Refused => Exit::Refused,
                _ => Exit::Success,
            })
        }
        Command::Restore {
            backup,
            force,
            json: as_json,
        } => {
            let report = ntrescue::backup::restore(&backup, force)?;
            emit(as_json, &report, || {
                ntrescue::render::restore(&report, style())
            })?;
            Ok(Exit::Success)
        }
    }
}

fn wants_json(cli: &Cli) -> bool {
    match &cli.command {
        Command::Inspect { json, .. }
        | Command::Nla { json, .. }
        | Command::Restore { json, .. } => *json,
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
                let _ = json(&serde_json::json!({
                    "schema": SCHEMA,
                    "tool": TOOL,
                    "error": { "kind": exit.name(), "exit_code": exit.code(), "message": err.to_string() },
                }));
            }
            eprintln!("ntrescue: error: {err}");
            exit
        }
    };
    ExitCode::from(exit.code())
}
