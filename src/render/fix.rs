// SPDX-License-Identifier: GPL-2.0-or-later
//! An edit report (every fix command) for a terminal.

use std::fmt::Write;

use super::{escape, Style};
use crate::write::outcome::{ChangeKind, EditReport, Outcome};

fn data_text(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(serde_json::Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

/// Renders an edit report (every fix command; warnings: [`super::warnings`]).
pub fn fix(r: &EditReport, st: Style) -> String {
    let mut o = String::new();
    let files = r
        .hives
        .iter()
        .map(|h| h.file.path.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(o, "{} {files}", st.bold(&r.command));
    if !r.changes.is_empty() {
        let head = match r.outcome {
            Outcome::Written | Outcome::Partial => "Changed:",
            _ => "Plan (dry run, nothing written):",
        };
        let _ = writeln!(o, "{}", st.bold(head));
        for c in &r.changes {
            let new = match c.action {
                ChangeKind::Delete => "(deleted)".to_string(),
                _ => data_text(&c.new),
            };
            let how = match c.action {
                ChangeKind::Change => String::new(),
                ChangeKind::Create => " [created]".into(),
                ChangeKind::Delete => " [deleted]".into(),
                ChangeKind::CreateKey => format!(" [key {} created]", escape(&c.key)),
            };
            let at = c
                .file_offset
                .map(|o| format!("   (file offset {o:#x})"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {:<8} {:<14} {:<30} {} -> {new}{how}{at}",
                c.hive.as_str(),
                escape(&c.control_set),
                escape(&c.value),
                data_text(&c.old)
            );
        }
    }
    if !r.already_set.is_empty() {
        let _ = writeln!(o, "Already set: {}", escape(&r.already_set.join(", ")));
    }
    for x in &r.refusals {
        let _ = writeln!(
            o,
            "{} {}: {}",
            st.warn("Left unchanged:"),
            escape(&x.control_set),
            escape(&x.reason)
        );
    }
    outcome(&mut o, r, st);
    for c in &r.checks {
        let _ = writeln!(o, "  check: {}", escape(c));
    }
    o
}

/// How the edit ended: nothing to do, refused, or what was (or would be)
/// written.
fn outcome(o: &mut String, r: &EditReport, st: Style) {
    match r.outcome {
        Outcome::NothingToDo => {
            let _ = writeln!(
                o,
                "{}",
                st.good("Nothing to do: every value already has the wanted data. Nothing written, no backup made.")
            );
        }
        Outcome::Refused => {
            let _ = writeln!(
                o,
                "{}",
                st.bad("Refused: nothing could be changed. Nothing written.")
            );
        }
        Outcome::DryRun | Outcome::Written | Outcome::Partial => {
            if let Some(b) = &r.backup {
                let _ = writeln!(o, "{} {b}", st.bold("Backup:"));
            }
            for h in &r.hives {
                let (Some(s), Some(sha)) = (h.sequence_after, &h.planned_sha256) else {
                    continue;
                };
                let seq = format!(
                    "sequence {}/{} -> {s}/{s}",
                    h.sequence_before[0], h.sequence_before[1]
                );
                match (&h.write, &h.target) {
                    (Some(w), Some(t)) => {
                        let _ = writeln!(
                            o,
                            "{} {}: {} bytes in {} ranges to {t}; {seq}; sha256 {}",
                            st.good("Written and verified:"),
                            h.name.as_str(),
                            w.bytes,
                            w.ranges,
                            w.after_sha256
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            o,
                            "Would write {}: {seq}, result sha256 {sha}",
                            h.name.as_str()
                        );
                    }
                }
                if h.appended_bins > 0 {
                    let _ = writeln!(o, "  ({} hive bin(s) appended)", h.appended_bins);
                }
            }
        }
    }
}
