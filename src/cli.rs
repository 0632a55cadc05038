// SPDX-License-Identifier: GPL-2.0-or-later
//! Command-line definition (clap derive). Only parsing lives here.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use ntrescue::exit::EXIT_CODES_HELP;

/// Inspect and repair the RDP/NLA registry state of a detached Windows disk.
///
/// SOURCE is a SYSTEM hive file (its .LOG1/.LOG2 are found beside it) or the
/// root of a mounted Windows volume (or its config directory).
#[derive(Debug, Parser)]
#[command(name = "ntrescue", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report hive facts and the RDP/NLA state of every control set (read-only).
    Inspect {
        /// Hive file or mounted Windows tree.
        source: PathBuf,
        /// Print one JSON document (schema ntrescue/v1) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Turn Network Level Authentication off (0/0/0) or back on (1/1/1) in every control set.
    Nla {
        /// disable: SecurityLayer, UserAuthentication, fAllowSecProtocolNegotiation = 0;
        /// enable: = 1.
        action: NlaAction,
        /// Hive file or mounted Windows tree.
        source: PathBuf,
        /// Print the plan (set, value, old -> new) and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write the edited hive to this new file instead of in place (hive-file sources).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Where to create the backup bundle [default: ./ntrescue-backups].
        #[arg(long, value_name = "DIR")]
        backup_dir: Option<PathBuf>,
        /// Proceed on a dirty hive whose transaction logs are missing; what
        /// they held is lost either way, and the hive is written clean.
        #[arg(long)]
        allow_dirty_without_logs: bool,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put a backup bundle back byte-for-byte.
    Restore {
        /// The bundle directory (holds manifest.json).
        backup: PathBuf,
        /// Restore even if the target no longer matches the state recorded after the write.
        #[arg(long)]
        force: bool,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// NLA direction.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NlaAction {
    /// SecurityLayer=0, UserAuthentication=0, fAllowSecProtocolNegotiation=0.
    Disable,
    /// SecurityLayer=1, UserAuthentication=1, fAllowSecProtocolNegotiation=1.
    Enable,
}
