// SPDX-License-Identifier: GPL-2.0-or-later
//! Rescue recipes: what each fix changes, expressed as units of value
//! operations for [`crate::write::engine`].

mod accounts;
mod nla;
pub mod paths;
mod policy;
mod rdp;
mod repair;
mod service;
mod value;

pub use accounts::{account_edit, add_to_group, rights_edit, AccountEdit, EditHives, RightsEdit};
pub use nla::{nla, nla_full, nla_units, NlaMode};
pub use rdp::{rdp_enable, rdp_port, RDP_DEFAULT_PORT, TERMSERVICE_START_DEFAULT};
pub use repair::{rdp_repair, repair_units, RepairFlags, Rules};
pub use service::{service_start, SERVICE_DISABLED};
pub use value::set_value;

use crate::error::Result;
use crate::hive::name::HiveName;
use crate::hive::reader::Reader;
use crate::write::plan::{Needs, Op, Unit, Views};

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

/// Needs of a recipe that may touch SOFTWARE (read when present, so the
/// operator can be warned about overriding policies).
pub(crate) fn needs(include_policy: bool) -> Needs {
    Needs {
        system: true,
        software: true,
        software_required: include_policy,
    }
}

/// One unit per control set, each setting REG_DWORD `value` to `data`
/// under `ControlSetNNN\{key}` (created if missing; the key must exist).
pub(crate) fn dword_in_every_set(
    views: &Views<'_>,
    key: &str,
    value: &str,
    data: u32,
) -> Result<Vec<Unit>> {
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
