// SPDX-License-Identifier: GPL-2.0-or-later
//! `rdp repair`: the low-risk fix of every blocker the diagnose rules find
//! in SYSTEM and SOFTWARE, as one verified, backed-up edit; medium-risk
//! fixes only with their own flag.
//!
//! The rules live above this layer (`commands::diagnose`); the command line
//! hands them in as `rules`, run over the hives exactly as the edit engine
//! loads them.

use crate::error::Result;
use crate::format::regf::key::reg_type;
use crate::hive::path::{encode, DataType};
use crate::report::diagnose::{Finding, RepairAction, RepairOp};
use crate::storage::source::Located;
use crate::write::engine;
use crate::write::outcome::EditReport;
use crate::write::plan::{Action, EditOptions, Op, Unit, Views};

use super::needs;

/// The medium-risk fixes `rdp repair` applies only when asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepairFlags {
    /// `--include-policy`: remove Group Policy values that deny RDP.
    pub include_policy: bool,
    /// `--firewall-profiles-off`: turn off the firewall profiles that drop RDP.
    pub firewall_profiles_off: bool,
    /// `--dhcp`: EnableDHCP=1 on interfaces with a static address.
    pub dhcp: bool,
    /// `--reset-port`: PortNumber back to 3389.
    pub reset_port: bool,
}

impl RepairFlags {
    /// Whether a finding whose `rdp_repair` is `how` is applied.
    pub fn allows(&self, how: &str) -> bool {
        match how {
            "applied" => true,
            "--include-policy" => self.include_policy,
            "--firewall-profiles-off" => self.firewall_profiles_off,
            "--dhcp" => self.dhcp,
            "--reset-port" => self.reset_port,
            _ => false,
        }
    }
}

/// The diagnose rules over the hives of an edit.
pub type Rules<'r> = &'r dyn Fn(&Views<'_>) -> Result<Vec<Finding>>;

fn op(r: &RepairOp) -> Result<Op> {
    let (action, create) = match &r.action {
        RepairAction::Dword(d) => (
            Action::Set {
                ty: reg_type::DWORD,
                data: d.to_le_bytes().to_vec(),
            },
            true,
        ),
        RepairAction::String(s) => (
            Action::Set {
                ty: reg_type::SZ,
                data: encode(DataType::Sz, std::slice::from_ref(s))?,
            },
            false,
        ),
        RepairAction::Delete => (Action::Delete, false),
    };
    Ok(Op {
        hive: r.hive,
        key: r.key.clone(),
        value: r.value.clone(),
        action,
        create,
    })
}

/// One unit per applied finding (its ops together or not at all); an op
/// already planned by an earlier finding is not planned twice.
pub fn repair_units(findings: &[Finding], flags: RepairFlags) -> Result<Vec<Unit>> {
    let mut seen: Vec<&RepairOp> = Vec::new();
    let mut units = Vec::new();
    for f in findings {
        if !f.fix.rdp_repair.is_some_and(|h| flags.allows(h)) {
            continue;
        }
        let mut ops = Vec::new();
        for r in &f.fix.ops {
            if seen.iter().any(|s| {
                s.hive == r.hive
                    && s.key.eq_ignore_ascii_case(&r.key)
                    && s.value.eq_ignore_ascii_case(&r.value)
            }) {
                continue;
            }
            seen.push(r);
            ops.push(op(r)?);
        }
        if !ops.is_empty() {
            units.push(Unit {
                label: format!("{} {}", f.control_set.as_deref().unwrap_or(f.hive), f.code),
                ops,
            });
        }
    }
    Ok(units)
}

/// Runs `rdp repair` on `located`.
pub fn rdp_repair(
    located: &Located,
    flags: RepairFlags,
    opts: &EditOptions,
    rules: Rules<'_>,
) -> Result<EditReport> {
    engine::run(
        located,
        "rdp repair",
        needs(flags.include_policy),
        opts,
        &|v| {
            let findings = rules(v)?;
            repair_units(&findings, flags)
        },
    )
}
