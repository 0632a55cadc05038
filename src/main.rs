// SPDX-License-Identifier: GPL-2.0-or-later
//! The `ntrescue` binary: parses arguments, runs the command (which prints
//! its report), exits with its code.

use std::process::ExitCode;

use clap::Parser;
use ntrescue::cli::args::Cli;

fn main() -> ExitCode {
    let exit = ntrescue::cli::run::run(Cli::parse());
    ExitCode::from(exit.code())
}
