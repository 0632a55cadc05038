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
        Command::Nla { .. } | Command::Restore { .. } => todo!(),
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
