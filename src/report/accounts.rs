// SPDX-License-Identifier: GPL-2.0-or-later
//! The `account list` report: the account model with the files it was read
//! from.

use serde::Serialize;

use crate::hive::accounts::AccountsModel;
use crate::report::{FileInfo, SourceInfo, Tool};

/// One hive read for the report.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct HiveRead {
    /// "SAM", "SECURITY", "SYSTEM".
    pub name: &'static str,
    /// The primary file.
    pub file: FileInfo,
    /// "stored" or "after-replay" (a dirty hive with its logs replayed in
    /// memory, as Windows will load it).
    pub view: &'static str,
}

/// What `account list` prints.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AccountsReport {
    /// Schema tag.
    pub schema: &'static str,
    /// Tool.
    pub tool: Tool,
    /// "account list".
    pub command: &'static str,
    /// Source.
    pub source: SourceInfo,
    /// The hives read.
    pub hives: Vec<HiveRead>,
    /// The accounts, groups, rights and per-account RDP answers.
    #[serde(flatten)]
    pub model: AccountsModel,
    /// Notes for the operator.
    pub warnings: Vec<crate::error::Warning>,
}
