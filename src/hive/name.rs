// SPDX-License-Identifier: GPL-2.0-or-later
//! The hives ntrescue reads and edits, by name.

use serde::{Deserialize, Serialize};

/// Which hive an operation targets.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HiveName {
    /// `Windows\System32\config\SYSTEM`.
    System,
    /// `Windows\System32\config\SOFTWARE`.
    Software,
    /// `Windows\System32\config\SAM`.
    Sam,
    /// `Windows\System32\config\SECURITY`.
    Security,
}

impl HiveName {
    /// "SYSTEM" / "SOFTWARE" / "SAM" / "SECURITY".
    pub fn as_str(self) -> &'static str {
        match self {
            HiveName::System => "SYSTEM",
            HiveName::Software => "SOFTWARE",
            HiveName::Sam => "SAM",
            HiveName::Security => "SECURITY",
        }
    }
}
