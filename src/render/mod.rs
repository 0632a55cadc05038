// SPDX-License-Identifier: GPL-2.0-or-later
//! Human renderer for the report model (the JSON renderer is serde).

use std::fmt::Write;

use crate::format::regf::diff::ValueChange;
use crate::hive::reader::{KeyState, ValueState};
use crate::report::{InspectReport, Nla};

/// Terminal styling: colour only when asked for (TTY and no `NO_COLOR`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Emit ANSI colours.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Bold.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    /// Red.
    pub fn bad(&self, s: &str) -> String {
        self.paint("31", s)
    }
    /// Green.
    pub fn good(&self, s: &str) -> String {
        self.paint("32", s)
    }
    /// Yellow.
    pub fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
    /// Colours a verdict.
    pub fn nla(&self, n: Nla) -> String {
        match n {
            Nla::Required => self.warn(n.text()),
            Nla::Off => self.good(n.text()),
            _ => self.bad(n.text()),
        }
    }
}

fn key_note(k: &KeyState) -> Option<String> {
    match k {
        KeyState::Present { .. } => None,
        KeyState::Missing { missing } => Some(format!("key missing ('{missing}')")),
        KeyState::Unreadable { error } => Some(format!("UNREADABLE: {error}")),
    }
}

/// Renders warnings, one `warning:` line each. In human mode they go to
/// stderr (the report body goes to stdout); JSON keeps them in the document.
pub fn warnings(ws: &[String], st: Style) -> String {
    let mut o = String::new();
    for w in ws {
        let _ = writeln!(o, "{} {w}", st.warn("warning:"));
    }
    o
}

/// Renders `inspect` for a terminal (warnings: [`warnings`]).
pub fn inspect(r: &InspectReport, st: Style) -> String {
    let mut o = String::new();
    if let Some(d) = &r.disk {
        let w = &d.windows;
        let _ = writeln!(
            o,
            "{} {} ({} table) partition {} at byte {:#x}, {} bytes; NTFS {} serial {:016X} label {}{}",
            st.bold("Disk:"),
            w.disk.display(),
            w.table.label(),
            w.partition.number,
            w.partition.start,
            w.partition.length,
            w.volume.version,
            w.volume.serial,
            w.volume.label.as_deref().unwrap_or("(none)"),
            if w.volume.dirty { st.bad(" DIRTY") } else { String::new() }
        );
        let _ = writeln!(
            o,
            "  SYSTEM: MFT record {}, {} data run{}{}",
            w.system.mft_record,
            w.system.extents.len(),
            if w.system.extents.len() == 1 { "" } else { "s" },
            if w.hibernation.is_some() {
                st.bad("; hiberfil.sys holds an active image")
            } else {
                String::new()
            }
        );
    }
    if let Some(sha) = &r.source_sha256 {
        let _ = writeln!(o, "{} sha256 {sha}", st.bold("Source:"));
    }
    let h = &r.system;
    let bb = &h.base_block;
    let _ = writeln!(o, "{} {}", st.bold("SYSTEM hive:"), h.file.path);
    let _ = writeln!(o, "  size {} bytes, sha256 {}", h.file.size, h.file.sha256);
    for l in &h.logs {
        let _ = writeln!(
            o,
            "  log  {} ({} bytes, sha256 {})",
            l.path, l.size, l.sha256
        );
    }
    let state = if bb.dirty {
        st.bad("DIRTY")
    } else {
        st.good("clean")
    };
    let _ = writeln!(
        o,
        "  regf {} | sequence {}/{} | {} | checksum {} | last written {}",
        bb.version,
        bb.sequence1,
        bb.sequence2,
        state,
        if bb.checksum_valid { "ok" } else { "BAD" },
        bb.last_written.as_deref().unwrap_or("(not recorded)")
    );
    let _ = writeln!(
        o,
        "  hive bins {:#x} bytes | structure {}",
        bb.hive_bins_size,
        if h.structure.ok {
            format!(
                "ok ({} bins, {} cells)",
                h.structure.bins, h.structure.used_cells
            )
        } else {
            st.bad("FAILED")
        }
    );
    if let Some(sw) = &r.software {
        let w = &sw.windows;
        let product = [
            &w.product_name,
            &w.display_version,
            &w.current_build.as_ref().map(|b| format!("build {b}")),
        ]
        .iter()
        .filter_map(|x| x.as_deref())
        .collect::<Vec<_>>()
        .join(" ");
        if !product.is_empty() {
            let _ = writeln!(o, "{} {product}", st.bold("Windows:"));
        }
    }
    if let Some(c) = &r.computer_name {
        let _ = writeln!(o, "{} {c}", st.bold("Computer name:"));
    }
    let sel = r
        .select
        .values
        .iter()
        .map(|v| format!("{}={}", v.name, v.state.display()))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(
        o,
        "{} {sel} -> boots {}",
        st.bold("Select:"),
        r.select.boot_control_set.as_deref().unwrap_or("(unknown)")
    );
    let _ = writeln!(o);
    let names = [
        "fDenyTSConnections",
        "SecurityLayer",
        "UserAuthentication",
        "fAllowSecProtocolNegotiation",
        "PortNumber",
        "MinEncryptionLevel",
    ];
    let _ = write!(o, "{:<15}", "control set");
    let short = [
        "fDenyTS",
        "SecLayer",
        "UserAuth",
        "fAllowSecNeg",
        "Port",
        "MinEnc",
    ];
    for s in short {
        let _ = write!(o, " {s:>12}");
    }
    let _ = writeln!(o, "  verdict");
    for s in &r.control_sets {
        let label = if s.roles.is_empty() {
            s.name.clone()
        } else {
            format!("{}*", s.name)
        };
        let _ = write!(o, "{label:<15}");
        for n in names {
            let cell = s.value(n).map(|v| v.state.display()).unwrap_or_default();
            let _ = write!(o, " {cell:>12}");
        }
        let rdp = match s.rdp_enabled {
            Some(true) => "RDP on",
            Some(false) => "RDP denied",
            None => "RDP ?",
        };
        let reason = s
            .nla_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let _ = writeln!(o, "  {}{reason}, {rdp}", st.nla(s.nla));
        for note in [key_note(&s.terminal_server), key_note(&s.rdp_tcp)]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(o, "{:<15} {}", "", st.warn(&note));
        }
        let key_errors: Vec<&String> = [&s.terminal_server, &s.rdp_tcp]
            .into_iter()
            .filter_map(|k| match k {
                KeyState::Unreadable { error } => Some(error),
                _ => None,
            })
            .collect();
        for v in &s.values {
            if let ValueState::Unreadable { error } = &v.state {
                if key_errors.contains(&error) {
                    continue;
                }
                let _ = writeln!(o, "{:<15} {}: {}", "", v.name, st.bad(error));
            }
        }
    }
    let _ = writeln!(
        o,
        "  (* = named by Select: {})",
        r.control_sets
            .iter()
            .filter(|s| !s.roles.is_empty())
            .map(|s| format!("{} {}", s.name, s.roles.join("/")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(sw) = &r.software {
        if !sw.overrides.is_empty() {
            let vals = sw
                .policy_values
                .iter()
                .filter(|v| matches!(v.state, ValueState::Present { .. }))
                .map(|v| format!("{}={}", v.name, v.state.display()))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(o, "{} {vals} (overrides SYSTEM)", st.bold("Group Policy:"));
        }
    }
    if let Some(a) = &r.after_replay {
        let info = &a.replay;
        if a.replayed {
            let first = info.applied.first().map_or(0, |x| x.sequence);
            let _ = writeln!(
                o,
                "\n{} {} entries ({first}..{}) from {}; hive bins {:#x}",
                st.bold("After log replay (what Windows loads):"),
                info.applied.len(),
                info.last_sequence.unwrap_or(first),
                {
                    let mut l: Vec<&str> = info.applied.iter().map(|x| x.log.as_str()).collect();
                    l.dedup();
                    l.join(", ")
                },
                info.hive_bins_size
            );
            for s in &a.control_sets {
                let cells: Vec<String> = names
                    .iter()
                    .map(|n| s.value(n).map(|v| v.state.display()).unwrap_or_default())
                    .collect();
                let _ = writeln!(o, "  {:<15} {}  {}", s.name, cells.join(" "), st.nla(s.nla));
            }
            if a.changed_values.is_empty() {
                let _ = writeln!(o, "  the replay changes none of the values above");
            }
            for c in &a.changed_values {
                let _ = writeln!(
                    o,
                    "  replay changes {} {}: {} -> {}",
                    c.control_set,
                    c.value,
                    c.stored.display(),
                    c.after.display()
                );
            }
            if let Some(t) = &a.tree_changes {
                let _ = writeln!(
                    o,
                    "  over the whole tree the replay adds {} keys, removes {}, and adds, removes or changes {} values",
                    t.keys_added.len(),
                    t.keys_removed.len(),
                    t.values.len()
                );
                const SHOWN: usize = 10;
                for v in t.values.iter().take(SHOWN) {
                    let name = if v.value.is_empty() {
                        "(Default)"
                    } else {
                        &v.value
                    };
                    let what = match v.change {
                        ValueChange::Added => "added",
                        ValueChange::Removed => "removed",
                        ValueChange::Changed => "changed",
                    };
                    let _ = writeln!(o, "    {what:<8} {}\\{name}", v.key);
                }
                if t.values.len() > SHOWN {
                    let _ = writeln!(
                        o,
                        "    ... {} more (--json lists every one)",
                        t.values.len() - SHOWN
                    );
                }
            }
        } else {
            let _ = writeln!(
                o,
                "\n{} nothing Windows would replay",
                st.bold("Log replay:")
            );
        }
        if let Some(why) = &info.stopped {
            let _ = writeln!(o, "  replay stops: {why}");
        }
    }
    let v = &r.verdict;
    let _ = writeln!(
        o,
        "\n{} all sets: {} | boot set: {} | effective: {} | RDP {}",
        st.bold("Verdict:"),
        st.nla(v.nla),
        st.nla(v.boot_set_nla),
        st.nla(v.effective_nla),
        match v.rdp_enabled {
            Some(true) => "allowed",
            Some(false) => "DENIED (fDenyTSConnections=1)",
            None => "unknown",
        }
    );
    o
}

fn data_text(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(serde_json::Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

/// Renders an edit report (every fix command; warnings: [`warnings`]).
pub fn fix(r: &crate::write::outcome::EditReport, st: Style) -> String {
    use crate::write::outcome::ChangeKind;
    use crate::write::outcome::Outcome;
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
            Outcome::Written => "Changed:",
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
            };
            let at = c
                .file_offset
                .map(|o| format!("   (file offset {o:#x})"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {:<8} {:<14} {:<30} {} -> {new}{how}{at}",
                c.hive.as_str(),
                c.control_set,
                c.value,
                data_text(&c.old)
            );
        }
    }
    if !r.already_set.is_empty() {
        let _ = writeln!(o, "Already set: {}", r.already_set.join(", "));
    }
    for x in &r.refusals {
        let _ = writeln!(
            o,
            "{} {}: {}",
            st.warn("Left unchanged:"),
            x.control_set,
            x.reason
        );
    }
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
        Outcome::DryRun | Outcome::Written => {
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
    for c in &r.checks {
        let _ = writeln!(o, "  check: {c}");
    }
    o
}

/// Renders a restore report.
pub fn restore(r: &crate::write::backup::RestoreReport, st: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} {} (made for: {})",
        st.bold("restore"),
        r.backup,
        r.operation
    );
    for f in &r.files {
        let _ = writeln!(o, "  {:<10} {} (sha256 {})", f.action, f.path, f.sha256);
    }
    if r.forced {
        let _ = writeln!(
            o,
            "{}",
            st.warn("--force: files that had changed since the write were overwritten")
        );
    }
    o
}

/// Longest value text `get` prints on a terminal line; `--json` has it all.
const VALUE_TEXT_MAX: usize = 200;

/// `text`, cut to [`VALUE_TEXT_MAX`] characters with a note of its length.
fn shorten(text: &str) -> String {
    let n = text.chars().count();
    if n <= VALUE_TEXT_MAX {
        return text.to_string();
    }
    let head: String = text.chars().take(VALUE_TEXT_MAX).collect();
    format!("{head}... ({n} characters; --json has all of it)")
}

/// Renders a `get` report (warnings: [`warnings`]).
pub fn get(r: &crate::commands::get::GetReport, st: Style) -> String {
    let mut o = String::new();
    if r.view == crate::commands::get::VIEW_AFTER_REPLAY {
        let _ = writeln!(
            o,
            "{}",
            st.bold("(view: after log replay, as Windows will load the hive)")
        );
    }
    for e in &r.entries {
        let via = match (&e.control_set, &e.resolved_from) {
            (Some(set), Some(from)) => format!("   (CurrentControlSet = {set}, from {from})"),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "{}{via}",
            st.bold(&format!("{}\\{}", r.hive.as_str(), e.key))
        );
        if let Some(n) = key_note(&e.state) {
            let _ = writeln!(o, "  {}", st.warn(&n));
        }
        for v in &e.values {
            let ty = match &v.state {
                ValueState::Present { type_name, .. } => type_name.as_str(),
                _ => "",
            };
            let name = if v.name.is_empty() {
                "(Default)"
            } else {
                &v.name
            };
            let _ = writeln!(o, "  {name:<32} {ty:<14} {}", shorten(&v.state.display()));
            if let ValueState::Unreadable { error } = &v.state {
                let _ = writeln!(o, "    {}", st.bad(error));
            }
        }
        for s in &e.subkeys {
            let _ = writeln!(o, "  [{s}]");
        }
    }
    o
}

/// Renders `locate`.
pub fn locate(r: &crate::commands::locate::LocateReport, st: Style) -> String {
    let mut o = String::new();
    if r.disks.is_empty() {
        let _ = writeln!(
            o,
            "no block devices found (give disks or images as arguments)"
        );
    }
    for d in &r.disks {
        let table = d.table.map_or("unknown", |t| t.label());
        let _ = writeln!(
            o,
            "{} {} bytes, {table} table, {}-byte sectors",
            st.bold(&d.path),
            d.size,
            d.sector_size
        );
        if !d.mounted.is_empty() {
            let _ = writeln!(o, "  {} {}", st.warn("mounted:"), d.mounted.join(", "));
        }
        for n in &d.notes {
            let _ = writeln!(o, "  {} {n}", st.warn("note:"));
        }
        for p in &d.partitions {
            let s = &p.summary;
            let vol = s
                .volume
                .as_ref()
                .map(|v| {
                    format!(
                        " NTFS {} serial {:016X} label {}{}",
                        v.version,
                        v.serial,
                        v.label.as_deref().unwrap_or("-"),
                        if v.dirty { " DIRTY" } else { "" }
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {:>2}: {:>14} bytes at {:#x}  {} [{}]{vol}",
                s.partition.number,
                s.partition.length,
                s.partition.start,
                s.partition.type_name,
                s.filesystem
            );
            if let Some(w) = &p.windows {
                let product = [&w.product_name, &w.display_version, &w.current_build]
                    .iter()
                    .filter_map(|x| x.as_deref())
                    .collect::<Vec<_>>()
                    .join(" ");
                let _ = writeln!(
                    o,
                    "      {} {} {}{}{}{}",
                    st.good("Windows:"),
                    w.computer_name.as_deref().unwrap_or("(no computer name)"),
                    product,
                    w.nla.map(|n| format!(", {}", n.text())).unwrap_or_default(),
                    if w.system_dirty {
                        ", SYSTEM hive dirty"
                    } else {
                        ""
                    },
                    if w.hibernation.is_some() {
                        ", HIBERNATED"
                    } else {
                        ""
                    }
                );
                if let Some(e) = &w.error {
                    let _ = writeln!(o, "      {} {e}", st.bad("error:"));
                }
            }
            if s.filesystem == "bitlocker" {
                let _ = writeln!(
                    o,
                    "      {}",
                    st.warn(
                        "BitLocker: unlock it first (e.g. dislocker) and give the unlocked volume"
                    )
                );
            }
            if let Some(e) = &s.error {
                let _ = writeln!(o, "      {} {e}", st.bad("error:"));
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short value text is printed whole; long text is cut at the limit
    /// and says how long it was.
    #[test]
    fn long_value_text_is_shortened() {
        assert_eq!(shorten("0x2a"), "0x2a");
        let exact = "a".repeat(VALUE_TEXT_MAX);
        assert_eq!(shorten(&exact), exact);
        let long = "é".repeat(VALUE_TEXT_MAX + 50);
        let s = shorten(&long);
        assert!(s.starts_with(&"é".repeat(VALUE_TEXT_MAX)));
        assert!(
            s.ends_with("... (250 characters; --json has all of it)"),
            "{s}"
        );
    }
}
