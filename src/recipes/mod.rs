// SPDX-License-Identifier: GPL-2.0-or-later
//! Rescue recipes: what each fix changes, expressed as units of value
//! operations for [`crate::write::engine`].

use std::num::NonZeroU16;

use crate::error::Result;
use crate::hive::name::HiveName;
use crate::hive::path::RegPath;
use crate::hive::reader::{Reader, NLA_VALUES, POLICY_PATH, RDP_TCP_PATH, TS_PATH};
use crate::storage::source::Located;
use crate::write::engine::{self};
use crate::write::outcome::EditReport;
use crate::write::plan::Action;
use crate::write::plan::EditOptions;
use crate::write::plan::Needs;
use crate::write::plan::Op;
use crate::write::plan::Unit;
use crate::write::plan::Views;

pub use crate::write::outcome::Outcome;

/// Direction of the NLA fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NlaMode {
    /// 0/0/0: Microsoft's documented workaround to turn NLA off.
    Disable,
    /// 1/1/1: the documented values to turn it back on.
    Enable,
}

impl NlaMode {
    /// The DWORD written to all three values.
    pub fn value(self) -> u32 {
        match self {
            NlaMode::Disable => 0,
            NlaMode::Enable => 1,
        }
    }

    /// "nla disable" / "nla enable".
    pub fn command(self) -> &'static str {
        match self {
            NlaMode::Disable => "nla disable",
            NlaMode::Enable => "nla enable",
        }
    }
}

/// Every `ControlSetNNN` of SYSTEM, or a not-found error when there is none
/// (the file is not a SYSTEM hive).
pub fn control_sets(r: &Reader<'_>) -> Result<Vec<String>> {
    let sets: Vec<String> = r.control_sets()?.into_iter().map(|(_, n)| n).collect();
    if sets.is_empty() {
        return Err(crate::Error::NotFound(
            "the hive has no ControlSetNNN key: it is not a SYSTEM hive".into(),
        ));
    }
    Ok(sets)
}

/// The NLA recipe: in every control set, SecurityLayer,
/// UserAuthentication and fAllowSecProtocolNegotiation under RDP-Tcp set to
/// 0 (disable) or 1 (enable). Values are changed in place; a set missing one
/// is refused as a whole unless `create` allows creating it.
pub fn nla_units(views: &Views<'_>, mode: NlaMode, create: bool) -> Result<Vec<Unit>> {
    let system = views.system.expect("SYSTEM is loaded");
    Ok(control_sets(system)?
        .into_iter()
        .map(|set| Unit {
            ops: NLA_VALUES
                .iter()
                .map(|v| {
                    Op::dword(
                        HiveName::System,
                        format!(r"{set}\{RDP_TCP_PATH}"),
                        v,
                        mode.value(),
                        create,
                    )
                })
                .collect(),
            label: set,
        })
        .collect())
}

/// Runs `nla disable|enable` on `located`.
pub fn nla(located: &Located, mode: NlaMode, opts: &EditOptions) -> Result<EditReport> {
    let needs = Needs {
        system: true,
        software: false,
        software_required: false,
    };
    engine::run(located, mode.command(), needs, opts, &|v| {
        nla_units(v, mode, false)
    })
}

/// Units that remove Group Policy values in SOFTWARE that contradict
/// `want` (they would override the SYSTEM values just set). Values that
/// agree are left alone.
fn policy_units(
    views: &Views<'_>,
    names: &[&str],
    contradicts: &dyn Fn(&str, u32) -> bool,
) -> Vec<Unit> {
    let Some(sw) = views.software else {
        return Vec::new();
    };
    let key = sw.key(POLICY_PATH);
    let ops: Vec<Op> = names
        .iter()
        .filter(|n| {
            let state = sw.value(&key, POLICY_PATH, n);
            match state.dword() {
                Some(v) => contradicts(n, v),
                // A policy value that is not a DWORD is odd; remove it too.
                None => matches!(state, crate::hive::reader::ValueState::Present { .. }),
            }
        })
        .map(|n| Op {
            hive: HiveName::Software,
            key: POLICY_PATH.into(),
            value: n.to_string(),
            action: Action::Delete,
            create: false,
        })
        .collect();
    if ops.is_empty() {
        Vec::new()
    } else {
        vec![Unit {
            label: "policy".into(),
            ops,
        }]
    }
}

/// Needs of a recipe that may touch SOFTWARE (read when present, so the
/// operator can be warned about overriding policies).
fn needs(include_policy: bool) -> Needs {
    Needs {
        system: true,
        software: true,
        software_required: include_policy,
    }
}

/// Adds the policy units, or only a warning naming them without
/// `--include-policy`.
fn with_policy(views: &Views<'_>, include: bool, units: &mut Vec<Unit>, policy: Vec<Unit>) {
    if include {
        units.extend(policy);
        return;
    }
    for u in policy {
        let names: Vec<&str> = u.ops.iter().map(|o| o.value.as_str()).collect();
        views.notes.borrow_mut().push(format!(
            "Group Policy in SOFTWARE\\{POLICY_PATH} sets {} and will override this fix; \
             re-run with --include-policy to remove those values",
            names.join(", ")
        ));
    }
}

/// `nla disable|enable` with value creation, optionally removing the Group
/// Policy values that would override it (`include_policy`).
pub fn nla_full(
    located: &Located,
    mode: NlaMode,
    include_policy: bool,
    opts: &EditOptions,
) -> Result<EditReport> {
    engine::run(located, mode.command(), needs(include_policy), opts, &|v| {
        let mut units = nla_units(v, mode, true)?;
        let want = mode.value();
        let policy = policy_units(v, &NLA_VALUES, &|_, cur| (cur != 0) != (want != 0));
        with_policy(v, include_policy, &mut units, policy);
        Ok(units)
    })
}

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

/// One unit per control set, each setting REG_DWORD `value` to `data`
/// under `ControlSetNNN\{key}` (created if missing; the key must exist).
fn dword_in_every_set(views: &Views<'_>, key: &str, value: &str, data: u32) -> Result<Vec<Unit>> {
    let system = views.system.expect("SYSTEM is loaded");
    Ok(control_sets(system)?
        .into_iter()
        .map(|set| Unit {
            ops: vec![Op::dword(
                HiveName::System,
                format!(r"{set}\{key}"),
                value,
                data,
                true,
            )],
            label: set,
        })
        .collect())
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
        report.warnings.push(format!(
            "the Windows Firewall must allow TCP {port} for RDP to be reachable on it"
        ));
    }
    Ok(report)
}

/// Service start types (`Services\<name>\Start`).
pub const SERVICE_DISABLED: u32 = 4;

/// `service NAME --start TYPE`: `Services\NAME\Start` in every control set.
/// A set without the service key is refused for that set.
pub fn service_start(
    located: &Located,
    name: &str,
    start: u32,
    opts: &EditOptions,
) -> Result<EditReport> {
    let command = format!("service {name}");
    let key = format!(r"Services\{name}");
    engine::run(located, &command, needs(false), opts, &|v| {
        dword_in_every_set(v, &key, "Start", start)
    })
}

/// `set` / `delete-value` on an operator path.
pub fn set_value(
    located: &Located,
    path: &RegPath,
    value: &str,
    action: Action,
    all_control_sets: bool,
    opts: &EditOptions,
) -> Result<EditReport> {
    let command = match action {
        Action::Set { .. } => "set",
        Action::Delete => "delete-value",
    };
    let n = Needs {
        system: true,
        software: path.hive == HiveName::Software,
        software_required: path.hive == HiveName::Software,
    };
    engine::run(located, command, n, opts, &|v| {
        Ok(path
            .resolve(v.system, all_control_sets)?
            .into_iter()
            .map(|(label, key)| Unit {
                label: if label.is_empty() {
                    path.hive.as_str().to_string()
                } else {
                    label
                },
                ops: vec![Op {
                    hive: path.hive,
                    key,
                    value: value.to_string(),
                    action: action.clone(),
                    create: true,
                }],
            })
            .collect())
    })
}
