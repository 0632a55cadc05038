// SPDX-License-Identifier: GPL-2.0-or-later
//! The command line: clap definitions, operator input turned into library
//! values, dispatch, printing and exit codes.

pub mod args;
pub mod exit;
pub mod extra;
pub mod run;
pub mod schema;
