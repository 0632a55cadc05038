// SPDX-License-Identifier: GPL-2.0-or-later
//! `nla disable|enable`.

use crate::error::Result;
use crate::hive::name::HiveName;
use crate::recipes::paths::{NLA_VALUES, RDP_TCP_PATH};
use crate::recipes::policy::{policy_units, with_policy};
use crate::recipes::{control_sets, needs};
use crate::storage::source::Located;
use crate::write::engine;
use crate::write::outcome::EditReport;
use crate::write::plan::{EditOptions, Needs, Op, Unit, Views};

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
