// SPDX-License-Identifier: GPL-2.0-or-later
//! `inspect` for a terminal.

use std::fmt::Write;

use super::{escape, key_note, Style};
use crate::format::regf::diff::TreeDiff;
use crate::format::regf::diff::ValueChange;
use crate::hive::reader::{KeyState, ValueState};
use crate::recipes::paths::{POLICY_PATH, RDP_TCP_PATH, TS_PATH};
use crate::report::{ControlSetReport, InspectReport};

/// Renders `inspect` for a terminal (warnings: [`super::warnings`]).
pub fn inspect(r: &InspectReport, st: Style) -> String {
    let mut o = String::new();
    disk(&mut o, r, st);
    hive(&mut o, r, st);
    windows(&mut o, r, st);
    let _ = writeln!(o);
    table(&mut o, r, st);
    policy(&mut o, r, st);
    key_times(&mut o, r, st);
    forensic(&mut o, r, st);
    replay(&mut o, r, st);
    verdict(&mut o, r, st);
    o
}

/// The last-write time of every key the report read.
fn key_times(o: &mut String, r: &InspectReport, st: Style) {
    let _ = writeln!(o, "\n{}", st.bold("Key last-write times (UTC):"));
    let mut row = |name: &str, k: &KeyState| {
        if let KeyState::Present { last_written, .. } = k {
            let t = last_written
                .text()
                .unwrap_or_else(|| "(not recorded)".into());
            let _ = writeln!(o, "  {t:<29} {}", escape(name));
        }
    };
    row(r"SYSTEM\Select", &r.select.key);
    for s in &r.control_sets {
        row(&format!(r"SYSTEM\{}\{TS_PATH}", s.name), &s.terminal_server);
        row(&format!(r"SYSTEM\{}\{RDP_TCP_PATH}", s.name), &s.rdp_tcp);
    }
    if let Some(sw) = &r.software {
        row(&format!(r"SOFTWARE\{POLICY_PATH}"), &sw.policy_key);
    }
}

/// The forensic section: present keys with the values found, then flags.
fn forensic(o: &mut String, r: &InspectReport, st: Style) {
    let Some(f) = &r.forensic else { return };
    let _ = writeln!(o, "\n{}", st.bold("Forensic (read-only):"));
    for k in &f.keys {
        let KeyState::Present { last_written, .. } = &k.state else {
            if let KeyState::Unreadable { error } = &k.state {
                let _ = writeln!(
                    o,
                    "  {}\\{}: {}",
                    k.hive,
                    escape(&k.key),
                    st.bad(&escape(error))
                );
            }
            continue;
        };
        let vals: Vec<String> = k
            .values
            .iter()
            .filter(|v| !matches!(v.state, ValueState::Missing))
            .map(|v| format!("{}={}", v.name, escape(&v.state.display())))
            .collect();
        let _ = writeln!(
            o,
            "  {}\\{} (last written {})\n    {}",
            k.hive,
            escape(&k.key),
            last_written.text().as_deref().unwrap_or("(not recorded)"),
            if vals.is_empty() {
                "(none of the values looked for)".to_string()
            } else {
                vals.join(" ")
            }
        );
    }
    for w in &f.flags {
        let _ = writeln!(
            o,
            "  {} {}: {}",
            st.warn("FLAG"),
            w.code,
            escape(&w.explanation)
        );
    }
}

/// The values of each control set's row, in table order.
const NAMES: [&str; 6] = [
    "fDenyTSConnections",
    "SecurityLayer",
    "UserAuthentication",
    "fAllowSecProtocolNegotiation",
    "PortNumber",
    "MinEncryptionLevel",
];
/// Their column headings.
const SHORT: [&str; 6] = [
    "fDenyTS",
    "SecLayer",
    "UserAuth",
    "fAllowSecNeg",
    "Port",
    "MinEnc",
];

/// The disk and volume a raw source was read from; the source hash.
fn disk(o: &mut String, r: &InspectReport, st: Style) {
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
            escape(w.volume.label.as_deref().unwrap_or("(none)")),
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
    match (&r.source_hashes, &r.source_sha256) {
        (Some(h), _) => {
            let _ = writeln!(o, "{} {}", st.bold("Source:"), digests(h));
        }
        (None, Some(sha)) => {
            let _ = writeln!(o, "{} sha256 {sha}", st.bold("Source:"));
        }
        _ => {}
    }
    if let Some(e) = &r.source_hash_error {
        let _ = writeln!(o, "{} {}", st.bold("Source:"), st.warn(&escape(e)));
    }
}

/// "md5 ... sha1 ... sha256 ..." of the digests present.
fn digests(h: &crate::util::digest::Hashes) -> String {
    [("md5", &h.md5), ("sha1", &h.sha1), ("sha256", &h.sha256)]
        .iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| format!("{n} {v}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A hive file's NTFS times, one attribute per line, indented by `indent`.
fn ntfs_times(o: &mut String, indent: &str, t: &crate::storage::ntfs::FileTimes) {
    let sets = [
        ("$STANDARD_INFORMATION", &t.standard_information),
        ("$FILE_NAME", &t.file_name),
    ];
    for (attr, set) in sets {
        if let Some(s) = set {
            let text = |x: &crate::util::time::Stamp| x.text().unwrap_or_else(|| "0".into());
            let _ = writeln!(
                o,
                "  {indent}NTFS {attr}: created {} modified {} mft-changed {} accessed {}",
                text(&s.created),
                text(&s.modified),
                text(&s.mft_changed),
                text(&s.accessed)
            );
        }
    }
}

/// "md5 ..., sha1 ..., sha256 ..." of a file (MD5 and SHA-1 when asked for).
/// A file read on demand has none: "sha256 not computed (--verify)".
fn file_digests(f: &crate::report::FileInfo) -> String {
    if f.sha256.is_none() && f.md5.is_none() && f.sha1.is_none() {
        return "sha256 not computed (--verify)".into();
    }
    digests(&crate::util::digest::Hashes {
        md5: f.md5.clone(),
        sha1: f.sha1.clone(),
        sha256: f.sha256.clone(),
    })
}

/// The SYSTEM hive file, its logs and base block.
fn hive(o: &mut String, r: &InspectReport, st: Style) {
    let h = &r.system;
    let bb = &h.base_block;
    let _ = writeln!(o, "{} {}", st.bold("SYSTEM hive:"), h.file.path);
    let _ = writeln!(o, "  size {} bytes, {}", h.file.size, file_digests(&h.file));
    if let Some(t) = &h.file.ntfs_times {
        ntfs_times(o, "", t);
    }
    for l in &h.logs {
        let _ = writeln!(
            o,
            "  log  {} ({} bytes, {})",
            l.path,
            l.size,
            file_digests(l)
        );
        if let Some(t) = &l.ntfs_times {
            ntfs_times(o, "  ", t);
        }
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
        match &h.structure {
            Some(s) if s.ok => format!("ok ({} bins, {} cells)", s.bins, s.used_cells),
            Some(_) => st.bad("FAILED"),
            None => "not walked (--verify)".into(),
        }
    );
}

/// Windows version, computer name, Select.
fn windows(o: &mut String, r: &InspectReport, st: Style) {
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
            let _ = writeln!(o, "{} {}", st.bold("Windows:"), escape(&product));
        }
    }
    if let Some(c) = &r.computer_name {
        let _ = writeln!(o, "{} {}", st.bold("Computer name:"), escape(c));
    }
    let sel = r
        .select
        .values
        .iter()
        .map(|v| format!("{}={}", v.name, escape(&v.state.display())))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(
        o,
        "{} {sel} -> boots {}",
        st.bold("Select:"),
        r.select.boot_control_set.as_deref().unwrap_or("(unknown)")
    );
}

/// One row per control set.
fn table(o: &mut String, r: &InspectReport, st: Style) {
    let _ = write!(o, "{:<15}", "control set");
    for s in SHORT {
        let _ = write!(o, " {s:>12}");
    }
    let _ = writeln!(o, "  verdict");
    for s in &r.control_sets {
        set_row(o, s, st);
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
}

/// One control set's row, with its key and value problems below it.
fn set_row(o: &mut String, s: &ControlSetReport, st: Style) {
    let label = if s.roles.is_empty() {
        s.name.clone()
    } else {
        format!("{}*", s.name)
    };
    let _ = write!(o, "{label:<15}");
    for n in NAMES {
        let cell = s
            .value(n)
            .map(|v| escape(&v.state.display()))
            .unwrap_or_default();
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
        .map(|r| format!(" ({})", escape(r)))
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
            let _ = writeln!(o, "{:<15} {}: {}", "", v.name, st.bad(&escape(error)));
        }
    }
}

/// Group Policy values that override SYSTEM.
fn policy(o: &mut String, r: &InspectReport, st: Style) {
    if let Some(sw) = &r.software {
        if !sw.overrides.is_empty() {
            let vals = sw
                .policy_values
                .iter()
                .filter(|v| matches!(v.state, ValueState::Present { .. }))
                .map(|v| format!("{}={}", v.name, escape(&v.state.display())))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(o, "{} {vals} (overrides SYSTEM)", st.bold("Group Policy:"));
        }
    }
}

/// What Windows loads after replaying a dirty hive's logs.
fn replay(o: &mut String, r: &InspectReport, st: Style) {
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
                let cells: Vec<String> = NAMES
                    .iter()
                    .map(|n| {
                        s.value(n)
                            .map(|v| escape(&v.state.display()))
                            .unwrap_or_default()
                    })
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
                    escape(&c.stored.display()),
                    escape(&c.after.display())
                );
            }
            if let Some(t) = &a.tree_changes {
                tree_changes(o, t);
            }
        } else {
            let _ = writeln!(
                o,
                "\n{} nothing Windows would replay",
                st.bold("Log replay:")
            );
        }
        if let Some(why) = &info.stopped {
            let _ = writeln!(o, "  replay stops: {}", escape(why));
        }
    }
}

/// The keys and values the replay changes over the whole tree (the first
/// few; `--json` lists every one).
fn tree_changes(o: &mut String, t: &TreeDiff) {
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
            "(Default)".to_string()
        } else {
            escape(&v.value)
        };
        let what = match v.change {
            ValueChange::Added => "added",
            ValueChange::Removed => "removed",
            ValueChange::Changed => "changed",
        };
        let _ = writeln!(o, "    {what:<8} {}\\{name}", escape(&v.key));
    }
    if t.values.len() > SHOWN {
        let _ = writeln!(
            o,
            "    ... {} more (--json lists every one)",
            t.values.len() - SHOWN
        );
    }
}

/// The verdict line.
fn verdict(o: &mut String, r: &InspectReport, st: Style) {
    let v = &r.verdict;
    // The headline `diagnose` prints, from the same verdict.
    let rdp = match &v.diagnose {
        Some(d) if d.rdp == "fail" => st.bad(&format!(
            "{} ({}; `ntrescue diagnose` explains)",
            d.headline(),
            v.blockers.join(", ")
        )),
        Some(d) if d.rdp == "may-fail" => {
            st.warn(&format!("{} (`ntrescue diagnose` explains)", d.headline()))
        }
        Some(d) => st.good(&d.headline()),
        None => format!(
            "RDP {} (the diagnose rules could not run)",
            match v.rdp_enabled {
                Some(true) => "allowed",
                Some(false) => "DENIED (fDenyTSConnections=1)",
                None => "unknown",
            }
        ),
    };
    let _ = writeln!(
        o,
        "\n{} all sets: {} | boot set: {} | effective: {} | {}",
        st.bold("Verdict:"),
        st.nla(v.nla),
        st.nla(v.boot_set_nla),
        st.nla(v.effective_nla),
        rdp
    );
    super::diagnose::not_checked(o, "  ", &v.not_checked, &v.hives_not_read);
}
