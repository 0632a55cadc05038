// SPDX-License-Identifier: GPL-2.0-or-later
//! A diagnose report for a terminal: the verdict first, then one line per
//! finding (blockers first) ending in its fix, with the explanation, the
//! key's last-write time and any manual steps indented under it.

use std::fmt::Write;

use crate::report::diagnose::{DiagnoseReport, Finding, HiveStatus, NotChecked, Severity};

use super::Style;

fn found_text(f: &Finding) -> String {
    match &f.found {
        serde_json::Value::Null => "(absent)".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn tag(s: Severity, st: Style) -> String {
    let t = format!("{:<7}", s.as_str().to_uppercase());
    match s {
        Severity::Blocker => st.bad(&t),
        Severity::Warning => st.warn(&t),
        Severity::Info => t,
    }
}

/// Renders a diagnose report.
pub fn diagnose(r: &DiagnoseReport, st: Style) -> String {
    let mut o = String::new();
    let head = r.verdict.headline();
    let head = match r.verdict.rdp {
        "fail" => st.bad(&head),
        "may-fail" => st.warn(&head),
        _ => st.good(&head),
    };
    let _ = writeln!(o, "{}", st.bold(&head));
    let _ = writeln!(
        o,
        "{} blocker(s), {} warning(s), {} info; control sets {} (boots {})",
        r.verdict.blockers,
        r.verdict.warnings,
        r.verdict.infos,
        r.control_sets.join(", "),
        r.boot_control_set.as_deref().unwrap_or("unknown")
    );
    for f in &r.findings {
        let at = match &f.value {
            Some(v) => format!(r"{}\{}\{v}", f.hive, f.key),
            None => format!(r"{}\{}", f.hive, f.key),
        };
        // The finding's one line, its fix included; the details under it.
        let fix = match &f.fix.command {
            Some(c) => format!("fix: {c}"),
            None => "fix: manual, see below".to_string(),
        };
        let _ = writeln!(
            o,
            "{} {:<30} {} = {} (healthy: {})  {fix}",
            tag(f.severity, st),
            f.code,
            at,
            found_text(f),
            f.healthy
        );
        let _ = writeln!(o, "        {}", f.explanation);
        if let Some(t) = &f.last_write {
            let _ = writeln!(o, "        key last written {t}");
        }
        if let Some(m) = &f.fix.manual {
            let _ = writeln!(
                o,
                "        {}: {m}",
                if f.fix.command.is_some() {
                    "note"
                } else {
                    "manual"
                }
            );
        }
    }
    services_read(&mut o, r);
    not_checked(&mut o, "", &r.not_checked, &r.hives);
    o
}

/// The rows not checked and the hives not read, one line each (`diagnose`,
/// and `inspect` under its verdict), each line after `indent`.
pub(super) fn not_checked(o: &mut String, indent: &str, rows: &[NotChecked], hives: &[HiveStatus]) {
    for n in rows {
        let rows: Vec<String> = n.rows.iter().map(u8::to_string).collect();
        let _ = writeln!(
            o,
            "{indent}not checked (rows {}): {}",
            rows.join(", "),
            super::escape(&n.reason)
        );
    }
    for h in hives.iter().filter(|h| h.state != "read") {
        let _ = writeln!(
            o,
            "{indent}{}: {}{}",
            h.name,
            h.state,
            h.note
                .as_deref()
                .map(|n| format!(" ({})", super::escape(n)))
                .unwrap_or_default()
        );
    }
}

/// The boot set's service keys the rules read, with their last-write times
/// (`keys_read` in the JSON has every key).
fn services_read(o: &mut String, r: &DiagnoseReport) {
    let Some(boot) = &r.boot_control_set else {
        return;
    };
    let prefix = format!(r"{boot}\Services\");
    let services: Vec<_> = r
        .keys_read
        .iter()
        .filter(|k| k.hive == "SYSTEM")
        .filter(|k| {
            k.key
                .get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
                && !k.key[prefix.len()..].contains('\\')
        })
        .collect();
    if services.is_empty() {
        return;
    }
    let _ = writeln!(o, "services read in {boot} (last written, UTC):");
    for k in services {
        let _ = writeln!(
            o,
            "  {:<29} {}",
            k.last_written
                .text()
                .unwrap_or_else(|| "(not recorded)".into()),
            super::escape(&k.key[prefix.len()..])
        );
    }
}
