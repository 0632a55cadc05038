// SPDX-License-Identifier: GPL-2.0-or-later
//! The JSON Schema of every document ntrescue prints, generated from the
//! report types (schemars). `docs/schema/<name>.json` holds them; a test
//! regenerates them and fails when the committed files differ, so they
//! cannot go stale (`NTRESCUE_WRITE_SCHEMA=1 cargo test --test it schema`
//! rewrites them after a deliberate change).

use schemars::schema::RootSchema;
use schemars::schema_for;

use crate::report::envelope::{Document, ErrorReport, Summary};

/// Every document, by the name of its schema file (without `.json`), and
/// the commands that print it.
pub const DOCUMENTS: [(&str, &str); 11] = [
    ("inspect", "inspect"),
    ("diagnose", "diagnose"),
    ("locate", "locate"),
    ("get", "get"),
    ("account-list", "account list"),
    (
        "edit",
        "nla, rdp enable|repair|port, service, set, delete-value, account enable|unlock|expiry|password|add-to-group, rights",
    ),
    ("restore", "restore"),
    ("backups-list", "backups list"),
    ("backups-pack", "backups pack"),
    ("error", "any command that fails (usage errors included)"),
    ("summary", "any command with --summary"),
];

/// The schema named `name` (one of [`DOCUMENTS`]).
pub fn schema(name: &str) -> Option<RootSchema> {
    use crate::report;
    Some(match name {
        "inspect" => schema_for!(Document<report::InspectReport>),
        "diagnose" => schema_for!(Document<report::diagnose::DiagnoseReport>),
        "locate" => schema_for!(Document<report::locate::LocateReport>),
        "get" => schema_for!(Document<report::get::GetReport>),
        "account-list" => schema_for!(Document<report::accounts::AccountsReport>),
        "edit" => schema_for!(Document<crate::write::outcome::EditReport>),
        "restore" => schema_for!(Document<crate::write::backup::RestoreOutput<'static>>),
        "backups-list" => schema_for!(Document<crate::commands::backups::BackupsReport>),
        "backups-pack" => schema_for!(Document<crate::commands::backups::PackOutput>),
        "error" => schema_for!(Document<ErrorReport>),
        "summary" => schema_for!(Summary),
        _ => return None,
    })
}

/// The schema as committed: pretty JSON with a final newline.
pub fn schema_text(name: &str) -> Option<String> {
    let s = schema(name)?;
    serde_json::to_string_pretty(&s).ok().map(|t| t + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_has_a_schema_with_the_head_required() {
        for (name, _) in DOCUMENTS {
            let text = schema_text(name).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let required = v["required"].as_array().unwrap();
            assert!(required.iter().any(|r| r == "outcome"), "{name}");
            assert!(required.iter().any(|r| r == "exit_code"), "{name}");
        }
        assert!(schema("nope").is_none());
    }
}
