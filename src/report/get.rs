// SPDX-License-Identifier: GPL-2.0-or-later
//! The `get` report.

use crate::hive::name::HiveName;
use crate::hive::reader::KeyState;
use crate::hive::reader::NamedValue;
use crate::report::FileInfo;
use crate::report::SourceInfo;
use crate::report::Tool;
use crate::report::View;
use serde::Serialize;

/// One key read.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct GetEntry {
    /// Control set the path resolved through, if any.
    pub control_set: Option<String>,
    /// For a `CurrentControlSet` path: the `Select` value that named the
    /// set (`Select\Default`, or `Select\Current` when Default is absent).
    pub resolved_from: Option<&'static str>,
    /// Key path inside the hive.
    pub key: String,
    /// Key state.
    pub state: KeyState,
    /// Values (all of them, or the one asked for).
    pub values: Vec<NamedValue>,
    /// Subkey names (when no value was asked for).
    pub subkeys: Vec<String>,
}

/// What `get` prints.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct GetReport {
    /// Schema tag.
    pub schema: &'static str,
    /// Tool.
    pub tool: Tool,
    /// "get".
    pub command: &'static str,
    /// Source.
    pub source: SourceInfo,
    /// The hive read.
    pub hive: HiveName,
    /// Its file.
    pub file: FileInfo,
    /// Which image was read: "stored" (the primary file as it is: a clean
    /// hive, or a dirty one whose logs hold nothing to replay) or
    /// "after-replay" (a dirty hive with its logs replayed in memory, as
    /// Windows will load it; offsets then refer to that image).
    pub view: View,
    /// Keys read.
    pub entries: Vec<GetEntry>,
    /// Notes.
    pub warnings: Vec<crate::error::Warning>,
}
