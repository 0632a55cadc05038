// SPDX-License-Identifier: GPL-2.0-or-later
//! The `ntrescue` binary: parses arguments, runs the command (which prints
//! its report), exits with its code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let exit = ntrescue::cli::run::run_args(std::env::args_os().collect());
    ExitCode::from(exit.code())
}
