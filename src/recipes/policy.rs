// SPDX-License-Identifier: GPL-2.0-or-later
//! Group Policy copies in SOFTWARE that would override a SYSTEM fix.

use crate::error::{Code, Warning};
use crate::hive::name::HiveName;
use crate::recipes::paths::POLICY_PATH;
use crate::write::plan::{Action, Op, Unit, Views};

/// Units that remove Group Policy values in SOFTWARE that contradict
/// `want` (they would override the SYSTEM values just set). Values that
/// agree are left alone.
pub(crate) fn policy_units(
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

/// Adds the policy units, or only a warning naming them without
/// `--include-policy`.
pub(crate) fn with_policy(
    views: &Views<'_>,
    include: bool,
    units: &mut Vec<Unit>,
    policy: Vec<Unit>,
) {
    if include {
        units.extend(policy);
        return;
    }
    for u in policy {
        let names: Vec<&str> = u.ops.iter().map(|o| o.value.as_str()).collect();
        views.notes.borrow_mut().push(Warning::new(
            Code::PolicyOverridesLocal,
            format!(
                "Group Policy in SOFTWARE\\{POLICY_PATH} sets {} and will override this fix; \
                 re-run with --include-policy to remove those values",
                names.join(", ")
            ),
        ));
    }
}
