// SPDX-License-Identifier: GPL-2.0-or-later
//! The `diagnose` report: every cause of "cannot RDP" the hives show, each
//! with the key and value it was read from and the fix (docs/diagnose.md
//! lists the codes; docs/json-schema.md the fields).

use serde::Serialize;

use crate::hive::name::HiveName;
use crate::report::{SourceInfo, Tool, WindowsInfo};

/// How much a finding matters for RDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// RDP cannot work until it is fixed.
    Blocker,
    /// RDP may fail, or the setting is risky.
    Warning,
    /// Worth knowing; not a fault.
    Info,
}

impl Severity {
    /// "blocker" / "warning" / "info".
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocker => "blocker",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Risk of a fix (rdp-causes.md, "fix (risk)").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// Restores what Windows ships; applied by `rdp repair`.
    Low,
    /// May undo something intended; `rdp repair` only with its flag.
    Medium,
    /// Lowers security or breaks compliance; never automatic.
    High,
}

/// One value operation a fix makes (what `rdp repair` hands to the edit
/// engine).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RepairOp {
    /// Hive.
    pub hive: HiveName,
    /// Key path inside the hive (a concrete `ControlSetNNN`).
    pub key: String,
    /// Value name.
    pub value: String,
    /// What to do.
    pub action: RepairAction,
}

/// What a [`RepairOp`] does to its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "data", rename_all = "kebab-case")]
pub enum RepairAction {
    /// Set a REG_DWORD (created when missing).
    Dword(u32),
    /// Set a REG_SZ (the value must exist).
    String(String),
    /// Delete the value.
    Delete,
}

/// How a finding is fixed.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Fix {
    /// The exact ntrescue command line that repairs it, when there is one.
    pub command: Option<String>,
    /// Manual steps where no safe offline fix exists (or in addition).
    pub manual: Option<String>,
    /// Risk of the fix.
    pub risk: Risk,
    /// How `rdp repair` treats it: "applied" (low-risk fix of a blocker),
    /// the flag that enables it ("--include-policy", "--firewall-profiles-off",
    /// "--dhcp", "--reset-port"), or null when `rdp repair` leaves it alone.
    pub rdp_repair: Option<&'static str>,
    /// The value operations of the fix (empty for manual fixes).
    pub ops: Vec<RepairOp>,
}

/// One cause found.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// Stable kebab-case code (docs/diagnose.md).
    pub code: &'static str,
    /// Row of rdp-causes.md this checks.
    pub row: u8,
    /// Blocker, warning or info.
    pub severity: Severity,
    /// The hive read ("SYSTEM", "SOFTWARE", "SAM", "SECURITY", or "BCD" for
    /// the boot configuration store of row 29).
    pub hive: &'static str,
    /// Full key path inside the hive.
    pub key: String,
    /// Value name; null for a key-level finding.
    pub value: Option<String>,
    /// The data found (null when the value or key is absent).
    pub found: serde_json::Value,
    /// What a healthy machine holds.
    pub healthy: String,
    /// The key's last-write time (ISO-8601 UTC to 100 ns), when the key
    /// exists.
    pub last_write: Option<String>,
    /// The same as the raw FILETIME, a hex string (`0x` and 16 digits).
    #[serde(with = "crate::util::hex64::option")]
    #[schemars(with = "Option<crate::util::hex64::Hex64>")]
    pub last_write_filetime: Option<u64>,
    /// The control set, for SYSTEM keys inside one.
    pub control_set: Option<String>,
    /// One line: what this does to RDP.
    pub explanation: String,
    /// The fix.
    pub fix: Fix,
}

/// A key a rule read, with its last-write time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct KeyTime {
    /// "SYSTEM", "SOFTWARE"...
    pub hive: &'static str,
    /// Key path inside the hive.
    pub key: String,
    /// Its last-write time.
    pub last_written: crate::util::time::Stamp,
}

/// Rows that could not be checked, and why.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct NotChecked {
    /// Rows of rdp-causes.md.
    pub rows: Vec<u8>,
    /// Why.
    pub reason: String,
}

/// A hive `diagnose` wanted, and what became of it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct HiveStatus {
    /// "SYSTEM", "SOFTWARE", "SAM", "SECURITY".
    pub name: &'static str,
    /// Where it was read from.
    pub path: Option<String>,
    /// "read", "missing" or "unreadable".
    pub state: &'static str,
    /// "stored" or "after-replay" (a dirty hive with its logs replayed).
    pub view: Option<&'static str>,
    /// Why it is missing or unreadable, or what the replay did.
    pub note: Option<String>,
    /// The primary file, then its logs, with their digests, when the hive
    /// was read whole (`--verify`, `--hash`); empty when read on demand.
    pub files: Vec<crate::report::FileInfo>,
}

/// Overall verdict.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DiagnoseVerdict {
    /// "fail" (a blocker), "may-fail" (warnings only) or "ok".
    pub rdp: &'static str,
    /// Number of blockers.
    pub blockers: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Number of info findings.
    pub infos: usize,
    /// Codes of the blockers, in report order.
    pub blocker_codes: Vec<&'static str>,
}

impl DiagnoseVerdict {
    /// The verdict of `findings`.
    pub fn of(findings: &[Finding]) -> Self {
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        let blockers = count(Severity::Blocker);
        let warnings = count(Severity::Warning);
        let mut blocker_codes: Vec<&'static str> = Vec::new();
        for f in findings.iter().filter(|f| f.severity == Severity::Blocker) {
            if !blocker_codes.contains(&f.code) {
                blocker_codes.push(f.code);
            }
        }
        DiagnoseVerdict {
            rdp: if blockers > 0 {
                "fail"
            } else if warnings > 0 {
                "may-fail"
            } else {
                "ok"
            },
            blockers,
            warnings,
            infos: count(Severity::Info),
            blocker_codes,
        }
    }

    /// "RDP will fail: 3 blockers" and the like.
    pub fn headline(&self) -> String {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        match self.rdp {
            "fail" => format!("RDP will fail: {}", plural(self.blockers, "blocker")),
            "may-fail" => format!(
                "RDP may fail: no blocker, {}",
                plural(self.warnings, "warning")
            ),
            _ => "RDP should work: no blocker or warning found in the hives".to_string(),
        }
    }
}

/// What `diagnose` prints.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DiagnoseReport {
    /// Schema tag.
    pub schema: &'static str,
    /// Tool.
    pub tool: Tool,
    /// "diagnose".
    pub command: &'static str,
    /// The verdict (first, so that a reader of the first bytes has it).
    pub verdict: DiagnoseVerdict,
    /// What was opened.
    pub source: SourceInfo,
    /// The hives read.
    pub hives: Vec<HiveStatus>,
    /// Windows version (from SOFTWARE), when readable.
    pub windows: Option<WindowsInfo>,
    /// Every `ControlSetNNN` checked.
    pub control_sets: Vec<String>,
    /// The set that boots (`Select\Default`, else `Current`).
    pub boot_control_set: Option<String>,
    /// Findings: blockers first, then warnings, then info.
    pub findings: Vec<Finding>,
    /// Rows not checked, and why.
    pub not_checked: Vec<NotChecked>,
    /// Every existing key of SYSTEM and SOFTWARE the rules read (services,
    /// listener, policy, LSA, firewall...), each once, with its last-write
    /// time, sorted by hive and path.
    pub keys_read: Vec<KeyTime>,
    /// Things the operator should know.
    pub warnings: Vec<crate::error::Warning>,
}
