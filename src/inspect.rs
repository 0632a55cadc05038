// SPDX-License-Identifier: GPL-2.0-or-later
//! `inspect`: the read-only report. Everything here takes shared references
//! to bytes already read from read-only handles; nothing in this module can
//! reach a write path.

use crate::error::Result;
use crate::rdp::{
    NamedValue, Reader, ValueState, NLA_VALUES, POLICY_PATH, POLICY_VALUES, RDP_TCP_EXTRA,
    RDP_TCP_PATH, TS_PATH,
};
use crate::reconcile::reconcile;
use crate::regf::base_block::BaseBlock;
use crate::regf::cell::walk_bins;
use crate::report::*;
use crate::source::{LoadedHive, Located};

/// Order of the values in a control-set report.
pub const SET_VALUES: [&str; 6] = [
    "fDenyTSConnections",
    NLA_VALUES[0],
    NLA_VALUES[1],
    NLA_VALUES[2],
    RDP_TCP_EXTRA[0],
    RDP_TCP_EXTRA[1],
];

/// File facts, base block and structure check of a loaded hive.
pub fn hive_report(h: &LoadedHive) -> Result<(HiveReport, BaseBlock)> {
    let bb = BaseBlock::parse(&h.primary.bytes).map_err(|e| e.in_file(&h.primary.path))?;
    let structure = match walk_bins(&h.primary.bytes, bb.hive_bins_size) {
        Ok(s) => StructureInfo {
            ok: true,
            bins: s.bins,
            used_cells: s.used_cells,
            free_cells: s.free_cells,
            free_bytes: s.free_bytes,
            error: None,
        },
        Err(e) => StructureInfo {
            ok: false,
            error: Some(e.to_string()),
            ..Default::default()
        },
    };
    Ok((
        HiveReport {
            file: FileInfo::from(&h.primary),
            logs: h.logs.iter().map(FileInfo::from).collect(),
            base_block: BaseBlockInfo::from(&bb),
            structure,
            max_sequence_seen: None,
        },
        bb,
    ))
}

/// NLA verdict and RDP-enabled flag from a set of named values (control set
/// values, possibly overlaid with policy values).
///
/// NLA is off when `UserAuthentication` is 0 or absent (Windows' default) or
/// when `SecurityLayer` is 0 (the RDP security layer cannot carry NLA); it is
/// required when `UserAuthentication` is non-zero and `SecurityLayer` is not
/// 0. An unreadable or non-DWORD value makes the verdict unknown.
pub fn verdict_of(values: &[NamedValue]) -> (Nla, Option<bool>) {
    let get = |n: &str| values.iter().find(|v| v.name == n).map(|v| &v.state);
    let nla_states: Vec<_> = NLA_VALUES.iter().filter_map(|n| get(n)).collect();
    let unreadable = nla_states.iter().any(|s| {
        matches!(s, ValueState::Unreadable { .. })
            || (matches!(s, ValueState::Present { .. }) && s.dword().is_none())
    });
    let sl = get("SecurityLayer").and_then(ValueState::dword);
    let ua_state = get("UserAuthentication");
    let ua = ua_state.and_then(ValueState::dword);
    let nla = if unreadable {
        Nla::Unknown
    } else if sl == Some(0) || ua == Some(0) || matches!(ua_state, Some(ValueState::Missing)) {
        Nla::Off
    } else if ua.is_some() {
        Nla::Required
    } else {
        Nla::Unknown
    };
    let rdp = get("fDenyTSConnections")
        .and_then(ValueState::dword)
        .map(|d| d == 0);
    (nla, rdp)
}

fn select_info(r: &Reader<'_>) -> SelectInfo {
    let (key, values) = r.values("Select", &["Current", "Default", "Failed", "LastKnownGood"]);
    let get = |n: &str| {
        values
            .iter()
            .find(|v| v.name == n)
            .and_then(|v| v.state.dword())
    };
    let boot = get("Default")
        .filter(|&d| d != 0)
        .or(get("Current").filter(|&c| c != 0));
    SelectInfo {
        key,
        boot_control_set: boot.map(|n| format!("ControlSet{n:03}")),
        values,
    }
}

/// Reads every control set's RDP state.
pub fn control_sets(r: &Reader<'_>, select: &SelectInfo) -> Result<Vec<ControlSetReport>> {
    let role_of = |n: u32| -> Vec<&'static str> {
        [
            ("Current", "current"),
            ("Default", "default"),
            ("LastKnownGood", "last-known-good"),
            ("Failed", "failed"),
        ]
        .iter()
        .filter(|(v, _)| {
            select
                .values
                .iter()
                .any(|x| x.name == *v && x.state.dword() == Some(n))
        })
        .map(|(_, role)| *role)
        .collect()
    };
    let mut out = Vec::new();
    for (number, name) in r.control_sets()? {
        let ts_path = format!(r"{name}\{TS_PATH}");
        let rdp_path = format!(r"{name}\{RDP_TCP_PATH}");
        let (ts_state, mut values) = r.values(&ts_path, &SET_VALUES[..1]);
        let (rdp_state, rdp_values) = r.values(&rdp_path, &SET_VALUES[1..]);
        values.extend(rdp_values);
        let (nla, rdp_enabled) = verdict_of(&values);
        out.push(ControlSetReport {
            roles: role_of(number),
            name,
            number,
            terminal_server: ts_state,
            rdp_tcp: rdp_state,
            values,
            nla,
            rdp_enabled,
        });
    }
    Ok(out)
}

fn string_value(r: &Reader<'_>, path: &str, name: &str) -> Option<String> {
    let key = r.key(path);
    match r.value(&key, path, name) {
        ValueState::Present { data, .. } => Some(match data {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }),
        _ => None,
    }
}

fn software_report(h: &LoadedHive, warnings: &mut Vec<String>) -> Result<SoftwareReport> {
    let (mut hive, _) = hive_report(h)?;
    let rec = match reconcile(h) {
        Ok(r) => Some(r),
        Err(e) => {
            warnings.push(format!("SOFTWARE: cannot replay its logs: {e}"));
            None
        }
    };
    hive.max_sequence_seen = rec.as_ref().map(|r| r.max_sequence_seen);
    let bytes = rec.as_ref().map_or(&h.primary.bytes[..], |r| r.bytes(h));
    let r = Reader::new(bytes).map_err(|e| e.in_file(&h.primary.path))?;
    let cv = r"Microsoft\Windows NT\CurrentVersion";
    let windows = WindowsInfo {
        product_name: string_value(&r, cv, "ProductName"),
        display_version: string_value(&r, cv, "DisplayVersion")
            .or_else(|| string_value(&r, cv, "ReleaseId")),
        current_build: string_value(&r, cv, "CurrentBuild"),
        installation_type: string_value(&r, cv, "InstallationType"),
    };
    let (policy_key, policy_values) = r.values(POLICY_PATH, &POLICY_VALUES);
    let overrides = policy_values
        .iter()
        .filter(|v| matches!(v.state, ValueState::Present { .. }))
        .map(|v| v.name.clone())
        .collect();
    Ok(SoftwareReport {
        hive,
        windows,
        policy_key,
        policy_values,
        overrides,
    })
}

/// Reported values whose data differ between the stored and replayed views.
fn replay_changes(stored: &[ControlSetReport], after: &[ControlSetReport]) -> Vec<ReplayChange> {
    let mut out = Vec::new();
    for a in after {
        let s = stored.iter().find(|s| s.name == a.name);
        for v in &a.values {
            let before = s
                .and_then(|s| s.value(&v.name))
                .map_or(ValueState::Missing, |x| x.state.clone());
            let same = match (&before, &v.state) {
                (
                    ValueState::Present {
                        type_code: t1,
                        data: d1,
                        ..
                    },
                    ValueState::Present {
                        type_code: t2,
                        data: d2,
                        ..
                    },
                ) => t1 == t2 && d1 == d2,
                (x, y) => x == y,
            };
            if !same {
                out.push(ReplayChange {
                    control_set: a.name.clone(),
                    value: v.name.clone(),
                    stored: before,
                    after: v.state.clone(),
                });
            }
        }
    }
    out
}

/// Builds the inspect report for already-loaded hives.
pub fn inspect_loaded(
    source: SourceInfo,
    system: &LoadedHive,
    software: Option<&LoadedHive>,
) -> Result<InspectReport> {
    let path = &system.primary.path;
    let (hive, bb) = hive_report(system)?;
    let r = Reader::new(&system.primary.bytes).map_err(|e| e.in_file(path))?;
    let select = select_info(&r);
    let stored_sets = control_sets(&r, &select).map_err(|e| e.in_file(path))?;
    let mut warnings = Vec::new();
    let mut hive = hive;
    let rec = match reconcile(system) {
        Ok(rec) => Some(rec),
        Err(e) => {
            warnings.push(format!("cannot replay the transaction logs: {e}"));
            None
        }
    };
    hive.max_sequence_seen = rec.as_ref().map(|r| r.max_sequence_seen);
    let after_replay = match &rec {
        Some(rec) => match (&rec.replay, &rec.image) {
            (Some(info), Some(image)) => {
                let ra = Reader::new(image).map_err(|e| e.in_file(path))?;
                let sel = select_info(&ra);
                let sets_after = control_sets(&ra, &sel).map_err(|e| e.in_file(path))?;
                let changed_values = replay_changes(&stored_sets, &sets_after);
                Some(AfterReplay {
                    replayed: true,
                    replay: info.clone(),
                    select: sel,
                    control_sets: sets_after,
                    changed_values,
                })
            }
            (Some(info), None) => Some(AfterReplay {
                replayed: false,
                replay: info.clone(),
                select: select.clone(),
                control_sets: stored_sets.clone(),
                changed_values: Vec::new(),
            }),
            _ => None,
        },
        None => None,
    };
    // The verdict describes what Windows will load.
    let (sets, verdict_source) = match &after_replay {
        Some(a) if a.replayed => (a.control_sets.clone(), "after-replay"),
        _ => (stored_sets.clone(), "stored"),
    };
    let select = match &after_replay {
        Some(a) if a.replayed => a.select.clone(),
        _ => select,
    };
    if bb.is_dirty() {
        let why = if bb.checksum_valid() {
            format!("sequence numbers {} and {} differ", bb.seq1, bb.seq2)
        } else {
            "its base-block checksum is wrong".to_string()
        };
        warnings.push(match after_replay.as_ref().map(|a| (a.replayed, a.replay.applied.len())) {
            Some((true, n)) => format!(
                "SYSTEM is dirty ({why}): Windows replays {n} log entries when it loads it; the verdict describes \
                 the hive after that replay (after_replay), control_sets shows it as stored"
            ),
            _ if system.logs.is_empty() => format!(
                "SYSTEM is dirty ({why}) and no transaction logs were found beside it: values are shown as stored; \
                 changes Windows had not yet written are lost"
            ),
            _ => format!(
                "SYSTEM is dirty ({why}) and its logs hold nothing Windows would replay: values are shown as stored"
            ),
        });
    }
    if !hive.structure.ok {
        warnings.push(format!(
            "structure check failed: {}",
            hive.structure.error.as_deref().unwrap_or("")
        ));
    }
    let boot = select.boot_control_set.clone();
    let boot_set = boot
        .as_deref()
        .and_then(|b| sets.iter().find(|s| s.name.eq_ignore_ascii_case(b)));
    match (&boot, boot_set) {
        (None, _) => warnings.push(
            "Select has no usable Default/Current value: cannot tell which control set boots"
                .into(),
        ),
        (Some(b), None) => warnings.push(format!("Select names {b}, which does not exist")),
        _ => {}
    }
    if sets.is_empty() {
        warnings.push("no ControlSetNNN key: this is not a SYSTEM hive".into());
    }
    for s in &sets {
        if let crate::rdp::KeyState::Missing { missing } = &s.rdp_tcp {
            warnings.push(format!(
                "{}: no RDP-Tcp listener key ('{missing}' missing)",
                s.name
            ));
        }
    }
    let computer_name = boot_set.and_then(|s| {
        string_value(
            &r,
            &format!(r"{}\Control\ComputerName\ComputerName", s.name),
            "ComputerName",
        )
    });
    let software = match software {
        // SOFTWARE is optional: a damaged one is reported, not fatal.
        Some(h) => match software_report(h, &mut warnings) {
            Ok(r) => Some(r),
            Err(e) => {
                warnings.push(format!("SOFTWARE hive ignored: {e}"));
                None
            }
        },
        None => None,
    };
    let boot_nla = boot_set.map_or(Nla::Unknown, |s| s.nla);
    let (effective_nla, rdp_enabled, policy_overrides) = match (boot_set, &software) {
        (Some(set), Some(sw)) if !sw.overrides.is_empty() => {
            let mut vals = set.values.clone();
            for p in sw
                .policy_values
                .iter()
                .filter(|p| matches!(p.state, ValueState::Present { .. }))
            {
                if let Some(v) = vals.iter_mut().find(|v| v.name == p.name) {
                    v.state = p.state.clone();
                }
            }
            let (n, rdp) = verdict_of(&vals);
            warnings.push(format!(
                "Group Policy in SOFTWARE\\{POLICY_PATH} sets {}: it overrides the SYSTEM values",
                sw.overrides.join(", ")
            ));
            (n, rdp, true)
        }
        (Some(set), _) => (set.nla, set.rdp_enabled, false),
        (None, _) => (Nla::Unknown, None, false),
    };
    Ok(InspectReport {
        schema: SCHEMA,
        tool: TOOL,
        command: "inspect",
        source,
        source_sha256: None,
        disk: None,
        system: hive,
        verdict: Verdict {
            nla: Nla::combine(sets.iter().map(|s| s.nla)),
            boot_set_nla: boot_nla,
            effective_nla,
            rdp_enabled,
            policy_overrides,
        },
        select,
        computer_name,
        control_sets: stored_sets,
        after_replay,
        verdict_source,
        software,
        warnings,
    })
}

/// Reads the hives of `located` (read-only) and reports.
pub fn inspect(located: &Located) -> Result<InspectReport> {
    let system = LoadedHive::read(&located.system)?;
    let software = match &located.software {
        Some(p) => Some(LoadedHive::read(p)?),
        None => None,
    };
    let source = SourceInfo {
        kind: located.kind,
        path: located.input.display().to_string(),
    };
    let mut report = inspect_loaded(source, &system, software.as_ref())?;
    if let Some(w) = &located.windows {
        let mounted = crate::disk::os::mounts_of(&located.input);
        if w.volume.dirty {
            report.warnings.push(
                "the NTFS volume is marked dirty: a write would be refused until chkdsk repairs it"
                    .into(),
            );
        }
        if let Some(sig) = &w.hibernation {
            report.warnings.push(format!("hiberfil.sys holds an active hibernation image ('{sig}'): a write would be refused"));
        }
        if !mounted.is_empty() {
            report.warnings.push(format!(
                "the disk is mounted ({}): a write would be refused",
                mounted.join(", ")
            ));
        }
        report.disk = Some(DiskFacts {
            windows: w.clone(),
            mounted,
        });
    }
    Ok(report)
}
