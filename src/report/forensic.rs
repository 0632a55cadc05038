// SPDX-License-Identifier: GPL-2.0-or-later
//! The forensic section of `inspect`: the RDP-related values an examiner
//! looks for beside NLA (the ones RegRipper's `termserv` plugin prints),
//! read-only, each key with its last-write time, and the unusual ones
//! flagged with the codes `diagnose` reports them under (docs/diagnose.md).

use serde::Serialize;

use crate::hive::reader::{KeyState, NamedValue};
use crate::report::diagnose::Finding;

/// One key read for the forensic section, with the values looked for.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ForensicKey {
    /// "SYSTEM" or "SOFTWARE".
    pub hive: &'static str,
    /// Key path inside the hive.
    pub key: String,
    /// The control set, for a SYSTEM key inside one.
    pub control_set: Option<String>,
    /// What the key is to an examiner, in a few words.
    pub about: &'static str,
    /// The key's state (with its last-write time when present).
    pub state: KeyState,
    /// The values looked for.
    pub values: Vec<NamedValue>,
}

/// The forensic section.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ForensicReport {
    /// Every key read, present or not, in a fixed order: per control set
    /// (Terminal Server, Remote Assistance, RDP-Tcp, Wds\rdpwd), then the
    /// SOFTWARE policy key and the Image File Execution Options keys.
    pub keys: Vec<ForensicKey>,
    /// The unusual values, as `diagnose` reports them (warnings).
    pub flags: Vec<Finding>,
}
