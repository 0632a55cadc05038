// SPDX-License-Identifier: GPL-2.0-or-later
//! `rdp enable` and `rdp port`.

use crate::error::{Code, Result, Warning};
use crate::hive::name::HiveName;
use crate::storage::source::Located;
use crate::write::engine;
use crate::write::outcome::EditReport;
use crate::write::plan::{EditOptions, Op, Unit};
use std::num::NonZeroU16;

use crate::recipes::paths::{RDP_TCP_PATH, TS_PATH};
use crate::recipes::policy::{policy_units, with_policy};
use crate::recipes::{control_sets, dword_in_every_set, needs, SERVICE_DISABLED};

/// Start type of the RDP service that ntrescue restores when it is disabled
/// (3 = manual, the Windows Server default).
pub const TERMSERVICE_START_DEFAULT: u32 = 3;

/// `rdp enable`: `fDenyTSConnections = 0` in every control set, the
/// TermService start type set back to manual if it is disabled, and with
/// `include_policy` the policy `fDenyTSConnections` removed if it denies.
pub fn rdp_enable(
    located: &Located,
    include_policy: bool,
    opts: &EditOptions,
) -> Result<EditReport> {
    engine::run(located, "rdp enable", needs(include_policy), opts, &|v| {
        let system = v.system.expect("SYSTEM is loaded");
        let mut units = Vec::new();
        for set in control_sets(system)? {
            let mut ops = vec![Op::dword(
                HiveName::System,
                format!(r"{set}\{TS_PATH}"),
                "fDenyTSConnections",
                0,
                true,
            )];
            let svc = format!(r"{set}\Services\TermService");
            let key = system.key(&svc);
            if system.value(&key, &svc, "Start").dword() == Some(SERVICE_DISABLED) {
                ops.push(Op::dword(
                    HiveName::System,
                    svc,
                    "Start",
                    TERMSERVICE_START_DEFAULT,
                    false,
                ));
            }
            units.push(Unit { label: set, ops });
        }
        let policy = policy_units(v, &["fDenyTSConnections"], &|_, cur| cur != 0);
        with_policy(v, include_policy, &mut units, policy);
        Ok(units)
    })
}

/// The RDP listener's default TCP port.
pub const RDP_DEFAULT_PORT: NonZeroU16 = match NonZeroU16::new(3389) {
    Some(p) => p,
    None => unreachable!(),
};

/// `rdp port`: RDP-Tcp `PortNumber` in every control set. Port 0 is not a
/// port a listener can bind, so the type rules it out.
pub fn rdp_port(located: &Located, port: NonZeroU16, opts: &EditOptions) -> Result<EditReport> {
    let mut report = engine::run(located, "rdp port", needs(false), opts, &|v| {
        dword_in_every_set(v, RDP_TCP_PATH, "PortNumber", u32::from(port.get()))
    })?;
    if port != RDP_DEFAULT_PORT {
        report.warnings.push(Warning::new(
            Code::FirewallPort,
            format!("the Windows Firewall must allow TCP {port} for RDP to be reachable on it"),
        ));
    }
    Ok(report)
}
