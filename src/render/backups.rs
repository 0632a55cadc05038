// SPDX-License-Identifier: GPL-2.0-or-later
//! `backups list` and `backups pack` for a terminal.

use std::fmt::Write;

use super::{escape, Style};
use crate::commands::backups::{BackupsReport, PackOutput, TargetIdentity};
use crate::write::backup::{BundleState, TargetNow};

fn target(t: &TargetIdentity) -> String {
    match t {
        TargetIdentity::File { path } => path.clone(),
        TargetIdentity::Ntfs {
            device,
            partition,
            volume_serial,
            path,
            mft_record,
        } => format!(
            "{device} partition {partition} (NTFS serial {}): {path}, MFT record {mft_record}",
            crate::util::hex64::format(*volume_serial)
        ),
    }
}

/// Renders `backups list`.
pub fn backups(r: &BackupsReport, st: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} {} ({} bundle{})",
        st.bold("backups in"),
        escape(&r.root),
        r.bundles.len(),
        if r.bundles.len() == 1 { "" } else { "s" }
    );
    for b in &r.bundles {
        let state = match b.state {
            BundleState::Complete => st.good("complete"),
            BundleState::Incomplete => st.warn("incomplete (no manifest; not restorable)"),
            BundleState::Unreadable => st.bad("unreadable"),
        };
        let _ = writeln!(o, "{} {state}", st.bold(&escape(&b.path)));
        if let Some(now) = b.target_now {
            let write = b.write_state.map_or("not recorded", |w| w.as_str());
            let target = match now {
                TargetNow::Before => st.good("before (as before the write)"),
                TargetNow::After => st.good("after (as the write left it)"),
                TargetNow::Mix => st.warn("a mix of before and the recorded writes (restore it)"),
                TargetNow::Other => st.bad("changed since (neither before nor after)"),
                TargetNow::Unreachable => st.warn("unreachable"),
            };
            let _ = writeln!(o, "  write {write}; target holds {target}");
            if let Some(n) = &b.target_note {
                let _ = writeln!(o, "  {}", escape(n));
            }
        }
        if let (Some(c), Some(cmd), Some(src)) = (&b.created, &b.command, &b.source) {
            let _ = writeln!(o, "  {c}  {}  source {}", escape(cmd), escape(src));
        }
        for h in &b.hives {
            let _ = writeln!(
                o,
                "  {}: before {} after {}",
                h.name.as_str(),
                h.before_sha256,
                h.expected_after_sha256
            );
            for f in &h.files {
                let _ = writeln!(
                    o,
                    "    {:<4} {} -> {}",
                    f.role.as_str(),
                    escape(&f.backup_name),
                    escape(&target(&f.target))
                );
            }
        }
        if let Some(e) = &b.error {
            let _ = writeln!(o, "  {} {}", st.bad("error:"), escape(e));
        }
    }
    o
}

/// Renders `backups pack`.
pub fn pack(r: &PackOutput, st: Style) -> String {
    let mut o = String::new();
    let p = &r.report;
    let _ = writeln!(
        o,
        "{} {} -> {} ({} bytes, {} entries, sha256 {})",
        st.bold("packed"),
        escape(&p.backup),
        escape(&p.file),
        p.size,
        p.entries.len(),
        p.sha256
    );
    o
}
