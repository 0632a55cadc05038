// SPDX-License-Identifier: GPL-2.0-or-later
//! Rescue recipes: what each fix changes, expressed as units of value
//! operations for [`crate::engine`].

use crate::engine::{self, EditOptions, EditReport, HiveName, Needs, Op, Unit, Views};
use crate::error::Result;
use crate::rdp::{Reader, NLA_VALUES, RDP_TCP_PATH};
use crate::source::Located;

pub use crate::engine::Outcome;

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
