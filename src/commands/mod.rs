// SPDX-License-Identifier: GPL-2.0-or-later
//! The read-only commands: each assembles one report.

pub mod accounts;
pub mod backups;
pub mod diagnose;
pub mod get;
pub mod input;
pub mod inspect;
pub mod locate;
