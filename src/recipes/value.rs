// SPDX-License-Identifier: GPL-2.0-or-later
//! `set` / `delete-value` on an operator path.

use crate::error::Result;
use crate::hive::name::HiveName;
use crate::hive::path::RegPath;
use crate::storage::source::Located;
use crate::write::engine;
use crate::write::outcome::EditReport;
use crate::write::plan::{Action, EditOptions, Needs, Op, Unit};

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
        Action::CreateKey => "create-key",
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
