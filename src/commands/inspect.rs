// SPDX-License-Identifier: GPL-2.0-or-later
//! `inspect`: the read-only report. Everything here takes shared references
//! to bytes already read from read-only handles; nothing in this module can
//! reach a write path.

use crate::commands::diagnose::{AccountHives, RuleInputs};
use crate::commands::input::{HiveInput, ReadMode};
use crate::error::{Code, Error, Result, Warning};
use crate::format::regf::base_block::BaseBlock;
use crate::format::regf::diff::diff_trees;
use crate::hive::reader::{KeyState, NamedValue, Reader, ValueState};
use crate::hive::reconcile::{reconcile, reconcile_lazy};
use crate::recipes::paths::NLA_VALUES;
use crate::recipes::paths::POLICY_PATH;
use crate::recipes::paths::POLICY_VALUES;
use crate::recipes::paths::RDP_TCP_EXTRA;
use crate::recipes::paths::RDP_TCP_PATH;
use crate::recipes::paths::TS_PATH;
use crate::report::diagnose::{DiagnoseVerdict, NotChecked};
use crate::report::forensic::ForensicReport;
use crate::report::*;
use crate::storage::lazy::ReadStats;
use crate::storage::source::{LazyHive, LoadedHive, Located};
use crate::util::digest::HashAlg;

/// Order of the values in a control-set report.
pub const SET_VALUES: [&str; 6] = [
    "fDenyTSConnections",
    NLA_VALUES[0],
    NLA_VALUES[1],
    NLA_VALUES[2],
    RDP_TCP_EXTRA[0],
    RDP_TCP_EXTRA[1],
];

/// The verdict for one control set (or the boot set with Group Policy
/// values applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetVerdict {
    /// NLA verdict.
    pub nla: Nla,
    /// RDP connections allowed (`fDenyTSConnections == 0`); `None` if unknown.
    pub rdp_enabled: Option<bool>,
    /// Why `nla` is unknown, when it is.
    pub reason: Option<String>,
}

/// NLA verdict and RDP-enabled flag of a control set, from the state of its
/// `RDP-Tcp` key and its named values (possibly overlaid with policy values).
///
/// Without a readable `RDP-Tcp` key there is no listener to judge: NLA is
/// unknown ("no RDP-Tcp listener") and so is whether RDP is enabled — a
/// missing key is never read as "values absent, so NLA off".
///
/// Otherwise NLA is off when `UserAuthentication` is 0 or absent (Windows'
/// default) or when `SecurityLayer` is 0 (the RDP security layer cannot
/// carry NLA); it is required when `UserAuthentication` is non-zero and
/// `SecurityLayer` is not 0. An unreadable or non-DWORD value makes the
/// verdict unknown.
pub fn verdict_of(rdp_tcp: &KeyState, values: &[NamedValue]) -> SetVerdict {
    let unknown = |reason: String| SetVerdict {
        nla: Nla::Unknown,
        rdp_enabled: None,
        reason: Some(reason),
    };
    match rdp_tcp {
        KeyState::Present { .. } => {}
        KeyState::Missing { missing } => {
            return unknown(format!("no RDP-Tcp listener ('{missing}' missing)"))
        }
        KeyState::Unreadable { error } => {
            return unknown(format!("no RDP-Tcp listener (key unreadable: {error})"))
        }
    }
    let get = |n: &str| values.iter().find(|v| v.name == n).map(|v| &v.state);
    let rdp_enabled = get("fDenyTSConnections")
        .and_then(ValueState::dword)
        .map(|d| d == 0);
    let (nla, reason) = crate::report::nla::nla_of(get);
    SetVerdict {
        nla,
        rdp_enabled,
        reason,
    }
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
        let v = verdict_of(&rdp_state, &values);
        out.push(ControlSetReport {
            roles: role_of(number),
            name,
            number,
            terminal_server: ts_state,
            rdp_tcp: rdp_state,
            values,
            nla: v.nla,
            nla_reason: v.reason,
            rdp_enabled: v.rdp_enabled,
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

fn software_report(sw: &HiveInput<'_>, warnings: &mut Vec<Warning>) -> SoftwareReport {
    if let Some(e) = &sw.replay_error {
        warnings.push(Warning::new(
            Code::LogsNotReplayed,
            format!("SOFTWARE: cannot replay its logs: {e}"),
        ));
    }
    let r = sw.loaded();
    let cv = r"Microsoft\Windows NT\CurrentVersion";
    let windows = WindowsInfo {
        product_name: string_value(r, cv, "ProductName"),
        display_version: string_value(r, cv, "DisplayVersion")
            .or_else(|| string_value(r, cv, "ReleaseId")),
        current_build: string_value(r, cv, "CurrentBuild"),
        installation_type: string_value(r, cv, "InstallationType"),
    };
    let (policy_key, policy_values) = r.values(POLICY_PATH, &POLICY_VALUES);
    let overrides = policy_values
        .iter()
        .filter(|v| matches!(v.state, ValueState::Present { .. }))
        .map(|v| v.name.clone())
        .collect();
    // A damaged policy value may hold an override: it is reported, never
    // taken for "no policy".
    let unreadable = policy_values
        .iter()
        .filter(|v| matches!(v.state, ValueState::Unreadable { .. }))
        .map(|v| v.name.clone())
        .collect();
    SoftwareReport {
        hive: sw.hive.clone(),
        windows,
        policy_key,
        policy_values,
        overrides,
        unreadable,
    }
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

/// What Windows loads after replaying a dirty hive's logs (`None` for a
/// clean hive, or when the logs could not be read).
fn after_replay(
    sys: &HiveInput<'_>,
    select: &SelectInfo,
    stored_sets: &[ControlSetReport],
    warnings: &mut Vec<Warning>,
) -> Result<Option<AfterReplay>> {
    let Some(info) = &sys.replay else {
        return Ok(None);
    };
    let Some(ra) = &sys.replayed else {
        return Ok(Some(AfterReplay {
            replayed: false,
            replay: info.clone(),
            select: select.clone(),
            control_sets: stored_sets.to_vec(),
            changed_values: Vec::new(),
            tree_changes: None,
        }));
    };
    let sel = select_info(ra);
    let sets_after = control_sets(ra, &sel).map_err(|e| e.in_file(sys.path))?;
    let changed_values = replay_changes(stored_sets, &sets_after);
    // The whole-tree comparison needs both whole images (`--verify`).
    let tree_changes = sys
        .images
        .and_then(|(stored, image)| match diff_trees(stored, image) {
            Ok(d) => Some(d),
            Err(e) => {
                warnings.push(Warning::new(
                    Code::TreeCompareFailed,
                    format!(
                        "cannot compare the whole tree as stored with the tree after replay: {e}"
                    ),
                ));
                None
            }
        });
    Ok(Some(AfterReplay {
        replayed: true,
        replay: info.clone(),
        select: sel,
        control_sets: sets_after,
        changed_values,
        tree_changes,
    }))
}

/// The warning for a dirty SYSTEM hive: what the verdict describes.
/// A valid regf file, but no control set to report on (a user, SAM,
/// SOFTWARE... hive): nothing found (exit 5).
fn not_a_system_hive(path: &std::path::Path, select: &SelectInfo) -> Error {
    Error::NotFound(format!(
        "{}: no ControlSetNNN key at the root{}: not a SYSTEM hive",
        path.display(),
        match select.key {
            KeyState::Present { .. } => "",
            _ => " and no Select key",
        }
    ))
}

/// Warnings about the hive's own state: dirty (and what became of its
/// logs), a failed structure check.
fn state_warnings(
    sys: &HiveInput<'_>,
    after_replay: Option<&AfterReplay>,
    warnings: &mut Vec<Warning>,
) {
    if let Some(w) = dirty_warning(&sys.bb, after_replay, sys.has_logs) {
        warnings.push(w);
    }
    if let Some(s) = sys.hive.structure.as_ref().filter(|s| !s.ok) {
        let msg = format!(
            "structure check failed: {}",
            s.error.as_deref().unwrap_or("")
        );
        warnings.push(Warning::new(Code::StructureCheckFailed, msg));
    }
}

fn dirty_warning(
    bb: &BaseBlock,
    after_replay: Option<&AfterReplay>,
    has_logs: bool,
) -> Option<Warning> {
    if !bb.is_dirty() {
        return None;
    }
    let why = if bb.checksum_valid() {
        format!("sequence numbers {} and {} differ", bb.seq1, bb.seq2)
    } else {
        "its base-block checksum is wrong".to_string()
    };
    Some(match after_replay.as_ref().map(|a| (a.replayed, a.replay.applied.len())) {
        Some((true, n)) => Warning::new(Code::LogsReplayed, format!(
            "SYSTEM is dirty ({why}): Windows replays {n} log entries when it loads it; the verdict describes \
             the hive after that replay (after_replay), control_sets shows it as stored"
        )),
        _ if !has_logs => Warning::new(Code::DirtyNothingToReplay, format!(
            "SYSTEM is dirty ({why}) and no transaction logs were found beside it: values are shown as stored; \
             changes Windows had not yet written are lost"
        )),
        _ => Warning::new(Code::DirtyNothingToReplay, format!(
            "SYSTEM is dirty ({why}) and its logs hold nothing Windows would replay: values are shown as stored"
        )),
    })
}

/// The verdict of the boot set with Group Policy applied: (NLA, RDP
/// allowed, whether policy overrides SYSTEM). Present policy values win over
/// SYSTEM; unreadable ones may, so they make what they govern unknown.
fn effective(
    boot_set: Option<&ControlSetReport>,
    software: Option<&SoftwareReport>,
    warnings: &mut Vec<Warning>,
) -> (Nla, Option<bool>, bool) {
    match (boot_set, software) {
        (Some(set), Some(sw)) if !sw.overrides.is_empty() || !sw.unreadable.is_empty() => {
            // Present policy values win over SYSTEM; unreadable ones may, so
            // they make what they govern unknown.
            let vals = crate::report::nla::with_policy(&set.values, &sw.policy_values);
            let v = verdict_of(&set.rdp_tcp, &vals);
            if !sw.overrides.is_empty() {
                warnings.push(Warning::new(
                    Code::PolicyOverridesLocal,
                    format!(
                        "Group Policy in SOFTWARE\\{POLICY_PATH} sets {}: it overrides the SYSTEM values",
                        sw.overrides.join(", ")
                    ),
                ));
            }
            if !sw.unreadable.is_empty() {
                warnings.push(Warning::new(
                    Code::PolicyUnreadable,
                    format!(
                        "Group Policy value(s) {} in SOFTWARE\\{POLICY_PATH} cannot be read: \
                     what they govern is unknown (effective verdict {}, RDP {})",
                        sw.unreadable.join(", "),
                        v.nla.text(),
                        match v.rdp_enabled {
                            Some(true) => "allowed",
                            Some(false) => "denied",
                            None => "unknown",
                        }
                    ),
                ));
            }
            (v.nla, v.rdp_enabled, !sw.overrides.is_empty())
        }
        (Some(set), _) => (set.nla, set.rdp_enabled, false),
        (None, _) => (Nla::Unknown, None, false),
    }
}

/// The control set that boots (per Select), with warnings when Select
/// names none or a missing one, and for each set without an RDP-Tcp key.
fn boot_set<'a>(
    select: &SelectInfo,
    sets: &'a [ControlSetReport],
    warnings: &mut Vec<Warning>,
) -> Option<&'a ControlSetReport> {
    let boot = select.boot_control_set.clone();
    let boot_set = boot
        .as_deref()
        .and_then(|b| sets.iter().find(|s| s.name.eq_ignore_ascii_case(b)));
    match (&boot, boot_set) {
        (None, _) => warnings.push(Warning::new(
            Code::SelectUnusable,
            "Select has no usable Default/Current value: cannot tell which control set boots",
        )),
        (Some(b), None) => warnings.push(Warning::new(
            Code::SelectMissingSet,
            format!("Select names {b}, which does not exist"),
        )),
        _ => {}
    }
    for s in sets {
        if let crate::hive::reader::KeyState::Missing { missing } = &s.rdp_tcp {
            warnings.push(Warning::new(
                Code::ListenerMissing,
                format!("{}: no RDP-Tcp listener key ('{missing}' missing)", s.name),
            ));
        }
    }
    boot_set
}

/// What the rules read beside SYSTEM and SOFTWARE: SAM and SECURITY, and
/// the source (for the BCD store).
#[derive(Clone, Copy)]
pub struct Beside<'a> {
    /// SAM and SECURITY, loaded in the mode of the run.
    pub accounts: &'a AccountHives,
    /// The source; `None` for hives given without one (no BCD store).
    pub located: Option<&'a Located>,
}

/// What the diagnose rules say over the hives of this report.
struct Rules {
    verdict: Option<DiagnoseVerdict>,
    not_checked: Vec<NotChecked>,
    forensic: Option<ForensicReport>,
}

/// The verdict of the diagnose rules, from the one evaluation `diagnose`
/// makes over the same inputs (SYSTEM and SOFTWARE as Windows loads them,
/// SAM, SECURITY, the BCD store), so that `inspect` and `diagnose` cannot
/// disagree; and the forensic section over the same hives.
fn rules(
    system: &Reader<'_>,
    software: std::result::Result<&Reader<'_>, String>,
    beside: Beside<'_>,
    source: &str,
    warnings: &mut Vec<Warning>,
) -> Rules {
    let sam = beside.accounts.sam.reader().and_then(|r| r.ok());
    let security = beside.accounts.security.reader().and_then(|r| r.ok());
    let hives = crate::commands::diagnose::Hives {
        system,
        software: software.as_ref().ok().copied(),
        sam: sam.as_ref(),
        security: security.as_ref(),
    };
    let forensic = match crate::commands::diagnose::forensic_section(hives, source) {
        Ok(f) => Some(f),
        Err(e) => {
            warnings.push(Warning::new(
                Code::ForensicUnreadable,
                format!("the forensic section could not be read: {e}"),
            ));
            None
        }
    };
    let inputs = RuleInputs {
        system,
        software,
        accounts: beside.accounts,
        located: beside.located,
        source,
    };
    match crate::commands::diagnose::evaluate(&inputs) {
        Ok(d) => Rules {
            verdict: Some(DiagnoseVerdict::of(&d.findings)),
            not_checked: d.not_checked,
            forensic,
        },
        Err(e) => {
            warnings.push(Warning::new(
                Code::DiagnoseFailed,
                format!("the diagnose rules could not run: {e}"),
            ));
            Rules {
                verdict: None,
                not_checked: Vec::new(),
                forensic,
            }
        }
    }
}

/// Builds the inspect report for hives read whole, without SAM, SECURITY
/// or a BCD store (their rows not checked).
pub fn inspect_loaded(
    source: SourceInfo,
    system: &LoadedHive,
    software: Option<&LoadedHive>,
) -> Result<InspectReport> {
    let accounts = AccountHives::none();
    let beside = Beside {
        accounts: &accounts,
        located: None,
    };
    inspect_whole(source, system, software, beside)
}

/// Builds the inspect report for hives read whole (the `--verify` mode).
fn inspect_whole(
    source: SourceInfo,
    system: &LoadedHive,
    software: Option<&LoadedHive>,
    beside: Beside<'_>,
) -> Result<InspectReport> {
    let sys_rec = reconcile(system);
    let sys = HiveInput::whole(system, &sys_rec)?;
    let sw_rec = software.map(reconcile);
    let sw = software
        .zip(sw_rec.as_ref())
        .map(|(h, r)| HiveInput::whole(h, r));
    inspect_input(source, &sys, sw.as_ref(), beside)
}

/// The SOFTWARE hive, if it could be prepared: SOFTWARE is optional, a
/// damaged one is reported, not fatal.
fn usable_software<'b, 'a>(
    sw: Option<&'b Result<HiveInput<'a>>>,
    warnings: &mut Vec<Warning>,
) -> Option<&'b HiveInput<'a>> {
    sw.and_then(|h| match h {
        Ok(h) => Some(h),
        Err(e) => {
            warnings.push(Warning::new(
                Code::SoftwareUnreadable,
                format!("SOFTWARE hive ignored: {e}"),
            ));
            None
        }
    })
}

/// Builds the inspect report for prepared hives (whole or on demand). A
/// SOFTWARE hive that could not be prepared is reported as ignored.
pub fn inspect_input(
    source: SourceInfo,
    sys: &HiveInput<'_>,
    sw: Option<&Result<HiveInput<'_>>>,
    beside: Beside<'_>,
) -> Result<InspectReport> {
    let path = sys.path;
    let r = &sys.stored;
    let select = select_info(r);
    let stored_sets = control_sets(r, &select).map_err(|e| e.in_file(path))?;
    let mut warnings = Vec::new();
    if let Some(e) = &sys.replay_error {
        let msg = format!("cannot replay the transaction logs: {e}");
        warnings.push(Warning::new(Code::LogsNotReplayed, msg));
    }
    let after_replay = after_replay(sys, &select, &stored_sets, &mut warnings)?;
    // The verdict describes what Windows will load.
    let (sets, verdict_source) = match &after_replay {
        Some(a) if a.replayed => (a.control_sets.clone(), View::AfterReplay),
        _ => (stored_sets.clone(), View::Stored),
    };
    let select = match &after_replay {
        Some(a) if a.replayed => a.select.clone(),
        _ => select,
    };
    if sets.is_empty() {
        return Err(not_a_system_hive(path, &select));
    }
    state_warnings(sys, after_replay.as_ref(), &mut warnings);
    let boot_set = boot_set(&select, &sets, &mut warnings);
    let computer_name = boot_set.and_then(|s| {
        string_value(
            r,
            &format!(r"{}\Control\ComputerName\ComputerName", s.name),
            "ComputerName",
        )
    });
    // Why SOFTWARE is not given to the rules, in diagnose's words.
    let sw_why = match sw {
        None => Some("no SOFTWARE hive beside SYSTEM".to_string()),
        Some(Err(e)) => Some(e.to_string()),
        Some(Ok(_)) => None,
    };
    let sw = usable_software(sw, &mut warnings);
    let software = sw.map(|h| software_report(h, &mut warnings));
    let boot_nla = boot_set.map_or(Nla::Unknown, |s| s.nla);
    let (effective_nla, rdp_enabled, policy_overrides) =
        effective(boot_set, software.as_ref(), &mut warnings);
    let sw_rules = match sw {
        Some(h) => Ok(h.loaded()),
        None => Err(sw_why.unwrap_or_default()),
    };
    let rules = rules(sys.loaded(), sw_rules, beside, &source.path, &mut warnings);
    let forensic = rules.forensic;
    let blockers = rules
        .verdict
        .as_ref()
        .map(|v| v.blocker_codes.clone())
        .unwrap_or_default();
    let rdp_enabled = if blockers.is_empty() {
        rdp_enabled
    } else {
        Some(false)
    };
    Ok(InspectReport {
        schema: SCHEMA,
        tool: TOOL,
        command: "inspect",
        source,
        source_sha256: None,
        source_hashes: None,
        source_hash_error: None,
        disk: None,
        system: sys.hive.clone(),
        verdict: Verdict {
            nla: Nla::combine(sets.iter().map(|s| s.nla)),
            boot_set_nla: boot_nla,
            effective_nla,
            rdp_enabled,
            policy_overrides,
            blockers,
            diagnose: rules.verdict,
            not_checked: rules.not_checked,
            hives_not_read: beside.accounts.not_read(),
        },
        select,
        computer_name,
        control_sets: stored_sets,
        after_replay,
        verdict_source,
        software,
        forensic,
        warnings,
    })
}

/// Adds the digests `algs` to the file facts of `hive` (loaded as `h`).
fn add_hashes(hive: &mut HiveReport, h: &LoadedHive, algs: &[HashAlg]) {
    hive.file = FileInfo::hashed(&h.primary, algs);
    hive.logs = h.logs.iter().map(|l| FileInfo::hashed(l, algs)).collect();
}

/// Reads the hives of `located` (read-only) on demand and reports.
pub fn inspect(located: &Located) -> Result<InspectReport> {
    Ok(inspect_with(located, ReadMode::OnDemand)?.0)
}

/// Reads the hives of `located` (read-only) in `mode` and reports, with
/// what was read from the primaries and logs.
pub fn inspect_with(located: &Located, mode: ReadMode) -> Result<(InspectReport, ReadStats)> {
    inspect_with_hashes(located, mode, &[HashAlg::Sha256])
}

/// [`inspect`] in `mode`, with the digests `algs` of every hive and log
/// file read whole, over the very bytes the report describes.
pub fn inspect_hashed(
    located: &Located,
    mode: ReadMode,
    algs: &[HashAlg],
) -> Result<InspectReport> {
    Ok(inspect_with_hashes(located, mode, algs)?.0)
}

fn inspect_with_hashes(
    located: &Located,
    mode: ReadMode,
    algs: &[HashAlg],
) -> Result<(InspectReport, ReadStats)> {
    let source = SourceInfo {
        kind: located.kind,
        path: located.input.display().to_string(),
    };
    let system_path = located.system.primary.display();
    // SAM and SECURITY, read in the same mode, for the account rules.
    let accounts = AccountHives::load(located, mode, algs);
    let beside = Beside {
        accounts: &accounts,
        located: Some(located),
    };
    let (report, stats) = match mode {
        ReadMode::Whole => {
            let system = LoadedHive::read(&located.system)?;
            let software = match &located.software {
                Some(p) => Some(LoadedHive::read(p)?),
                None => None,
            };
            let stats = std::iter::once(&system)
                .chain(software.as_ref())
                .map(LoadedHive::stats)
                .fold(accounts.stats(), |a, b| a + b);
            let mut report = inspect_whole(source, &system, software.as_ref(), beside)?;
            add_hashes(&mut report.system, &system, algs);
            if let (Some(sw), Some(h)) = (report.software.as_mut(), software.as_ref()) {
                add_hashes(&mut sw.hive, h, algs);
            }
            (report, stats)
        }
        ReadMode::OnDemand => {
            let system = LazyHive::open(&located.system)?;
            let software = match &located.software {
                Some(p) => Some(LazyHive::open(p)?),
                None => None,
            };
            let sys_rec = reconcile_lazy(&system);
            let sw_rec = software.as_ref().map(|h| (h, reconcile_lazy(h)));
            let sys = HiveInput::on_demand(&system, &sys_rec)?;
            let sw = sw_rec.as_ref().map(|(h, r)| HiveInput::on_demand(h, r));
            let report = inspect_input(source, &sys, sw.as_ref(), beside)?;
            let stats = std::iter::once(&system)
                .chain(software.as_ref())
                .map(LazyHive::stats)
                .fold(accounts.stats(), |a, b| a + b);
            (report, stats)
        }
    };
    let mut report = report;
    report.warnings.extend(accounts.warnings.iter().cloned());
    // SAM and SECURITY as diagnose reports them: unreadable, or read after
    // their logs were replayed.
    report.warnings.extend(
        [&accounts.sam, &accounts.security]
            .into_iter()
            .filter_map(crate::commands::diagnose::status_warning),
    );
    if let Some(sig) = crate::storage::source::hibernation_beside(&system_path) {
        report.warnings.push(Warning::new(Code::HibernationActive, format!(
            "hiberfil.sys holds an active hibernation image ('{sig}'): Windows would resume from it; a write would be refused"
        )));
    }
    if let Some(w) = &located.windows {
        let mounted = crate::storage::os::mounts_of(&located.input);
        if w.volume.dirty {
            report.warnings.push(Warning::new(
                Code::VolumeDirty,
                "the NTFS volume is marked dirty: a write would be refused until chkdsk repairs it",
            ));
        }
        if let Some(sig) = &w.hibernation {
            report.warnings.push(Warning::new(
                Code::HibernationActive,
                format!("hiberfil.sys holds an active hibernation image ('{sig}'): a write would be refused"),
            ));
        }
        if !mounted.is_empty() {
            report.warnings.push(Warning::new(
                Code::VolumeMounted,
                format!(
                    "the disk is mounted ({}): a write would be refused",
                    mounted.join(", ")
                ),
            ));
        }
        report.disk = Some(DiskFacts {
            windows: w.clone(),
            mounted,
        });
    }
    Ok((report, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::build::build;
    use crate::fixtures::{software, system, SystemVariant};
    use crate::format::regf::key::reg_type;
    use crate::storage::source::{FileRef, LoadedFile};
    use std::path::PathBuf;

    const PRESENT: KeyState = KeyState::Present {
        offset: 0x1000,
        last_written: crate::util::time::Stamp(0),
    };

    fn dw(name: &str, v: u32) -> NamedValue {
        NamedValue {
            name: name.into(),
            state: ValueState::Present {
                type_name: "REG_DWORD".into(),
                type_code: reg_type::DWORD,
                data: serde_json::json!(v),
                offset: 0,
            },
        }
    }

    fn state(name: &str, state: ValueState) -> NamedValue {
        NamedValue {
            name: name.into(),
            state,
        }
    }

    /// fDenyTSConnections, then the three NLA values.
    fn set(deny: u32, nla: [u32; 3]) -> Vec<NamedValue> {
        let mut v = vec![dw("fDenyTSConnections", deny)];
        v.extend(NLA_VALUES.iter().zip(nla).map(|(n, d)| dw(n, d)));
        v
    }

    fn loaded(name: &str, bytes: Vec<u8>) -> LoadedHive {
        LoadedHive {
            primary: LoadedFile {
                path: PathBuf::from(name),
                name: name.into(),
                origin: FileRef::Path(PathBuf::from(name)),
                sha256: crate::util::digest::sha256_hex(&bytes),
                bytes: bytes.into(),
            },
            logs: Vec::new(),
        }
    }

    fn source() -> SourceInfo {
        SourceInfo {
            kind: crate::storage::source::SourceKind::HiveFile,
            path: "SYSTEM".into(),
        }
    }

    #[test]
    fn verdict_of_one_set() {
        let v = verdict_of(&PRESENT, &set(0, [0, 0, 0]));
        assert_eq!(
            (v.nla, v.rdp_enabled, v.reason),
            (Nla::Off, Some(true), None)
        );
        for nla in [[1, 1, 1], [2, 1, 1], [2, 2, 2]] {
            let v = verdict_of(&PRESENT, &set(0, nla));
            assert_eq!(
                (v.nla, v.rdp_enabled),
                (Nla::Required, Some(true)),
                "{nla:?}"
            );
        }
        // SecurityLayer 0 cannot carry NLA; UserAuthentication absent is off.
        assert_eq!(verdict_of(&PRESENT, &set(0, [0, 1, 1])).nla, Nla::Off);
        let mut v = set(0, [2, 0, 1]);
        v[2].state = ValueState::Missing;
        assert_eq!(verdict_of(&PRESENT, &v).nla, Nla::Off);
        // fDenyTSConnections 1: RDP disabled, NLA still judged.
        let v = verdict_of(&PRESENT, &set(1, [2, 1, 1]));
        assert_eq!((v.nla, v.rdp_enabled), (Nla::Required, Some(false)));
    }

    #[test]
    fn unreadable_or_odd_values_make_the_verdict_unknown() {
        let mut v = set(0, [2, 1, 1]);
        v[2] = state(
            "UserAuthentication",
            ValueState::Unreadable {
                error: "bad cell at byte offset 0x2040".into(),
            },
        );
        let r = verdict_of(&PRESENT, &v);
        assert_eq!(r.nla, Nla::Unknown);
        assert!(r.reason.unwrap().contains("UserAuthentication unreadable"));
        // A string where a DWORD belongs.
        let mut v = set(0, [0, 0, 0]);
        v[1] = state(
            "SecurityLayer",
            ValueState::Present {
                type_name: "REG_SZ".into(),
                type_code: reg_type::SZ,
                data: serde_json::json!("0"),
                offset: 0,
            },
        );
        assert_eq!(verdict_of(&PRESENT, &v).nla, Nla::Unknown);
        // fDenyTSConnections unreadable: RDP unknown.
        let mut v = set(0, [0, 0, 0]);
        v[0] = state(
            "fDenyTSConnections",
            ValueState::Unreadable { error: "x".into() },
        );
        assert_eq!(verdict_of(&PRESENT, &v).rdp_enabled, None);
    }

    #[test]
    fn missing_or_unreadable_listener_key_is_unknown_not_off() {
        // Values of a missing key read as missing: that is no listener, not
        // "UserAuthentication absent, so NLA off".
        let mut v = vec![dw("fDenyTSConnections", 0)];
        v.extend(NLA_VALUES.iter().map(|n| state(n, ValueState::Missing)));
        let missing = KeyState::Missing {
            missing: "RDP-Tcp".into(),
        };
        let r = verdict_of(&missing, &v);
        assert_eq!((r.nla, r.rdp_enabled), (Nla::Unknown, None));
        assert!(r.reason.unwrap().contains("no RDP-Tcp listener"));
        let unreadable = KeyState::Unreadable {
            error: "bad subkey list at byte offset 0x3000".into(),
        };
        let r = verdict_of(&unreadable, &set(0, [0, 0, 0]));
        assert_eq!((r.nla, r.rdp_enabled), (Nla::Unknown, None));
        assert!(r.reason.unwrap().contains("0x3000"));
    }

    #[test]
    fn combined_verdicts() {
        use Nla::*;
        assert_eq!(Nla::combine([Off, Off]), Off);
        assert_eq!(Nla::combine([Required, Required, Required]), Required);
        assert_eq!(Nla::combine([Off, Required]), Mixed);
        assert_eq!(Nla::combine([Required, Off, Off]), Mixed);
        assert_eq!(Nla::combine([Off, Unknown]), Unknown);
        assert_eq!(Nla::combine([Mixed, Unknown]), Unknown);
        assert_eq!(Nla::combine([Unknown, Off, Required]), Unknown);
        assert_eq!(Nla::combine([]), Unknown);
    }

    #[test]
    fn hive_without_rdp_tcp_reports_unknown() {
        let sys = loaded("SYSTEM", build(&system(SystemVariant::NoRdpTcp)));
        let r = inspect_loaded(source(), &sys, None).unwrap();
        assert_eq!(r.control_sets.len(), 2);
        for s in &r.control_sets {
            assert!(matches!(s.rdp_tcp, KeyState::Missing { .. }));
            assert_eq!((s.nla, s.rdp_enabled), (Nla::Unknown, None), "{}", s.name);
            assert!(s
                .nla_reason
                .as_deref()
                .unwrap()
                .contains("no RDP-Tcp listener"));
        }
        let v = &r.verdict;
        // No listener: NLA unknown, and by the diagnose rules RDP fails.
        assert_eq!(
            (v.nla, v.boot_set_nla, v.effective_nla, v.rdp_enabled),
            (Nla::Unknown, Nla::Unknown, Nla::Unknown, Some(false))
        );
        assert!(v.blockers.contains(&"listener-missing"), "{:?}", v.blockers);
        // Mixed across sets: one set off, one required.
        let mut spec = system(SystemVariant::Modern);
        let rdp = format!(r"ControlSet002\{RDP_TCP_PATH}");
        let k = spec.root.find_mut(&rdp).unwrap();
        for v in k
            .values
            .iter_mut()
            .filter(|v| NLA_VALUES.contains(&&*v.name))
        {
            v.data = crate::fixtures::build::Data::Dword(0);
        }
        let r = inspect_loaded(source(), &loaded("SYSTEM", build(&spec)), None).unwrap();
        assert_eq!(r.control_sets[0].nla, Nla::Required);
        assert_eq!(r.control_sets[1].nla, Nla::Off);
        assert_eq!(r.verdict.nla, Nla::Mixed);
        assert_eq!(r.verdict.boot_set_nla, Nla::Required);
    }

    /// Corrupts value `name` of the key at `path` (its inline data size is
    /// made impossible), so both readers fail on it.
    fn corrupt_value(hive: &mut [u8], path: &str, name: &str) {
        let r = Reader::new(hive).unwrap();
        let key = r.key(path);
        let ValueState::Present { offset, .. } = r.value(&key, path, name) else {
            panic!("{path}\\{name} not present");
        };
        let o = offset as usize;
        assert_eq!(&hive[o..o + 2], b"vk");
        hive[o + 4..o + 8].copy_from_slice(&0x8000_0010u32.to_le_bytes());
    }

    #[test]
    fn unreadable_policy_value_makes_the_effective_verdict_unknown() {
        let sys = loaded("SYSTEM", build(&system(SystemVariant::Modern)));
        let sw_clean = loaded("SOFTWARE", build(&software()));
        // Clean: the policy (UserAuthentication 1) is applied, certain.
        let r = inspect_loaded(source(), &sys, Some(&sw_clean)).unwrap();
        assert_eq!(r.verdict.effective_nla, Nla::Required);
        // fDenyTSConnections allows RDP, but the generated hives pin a
        // certificate that SOFTWARE's stores do not hold and have firewall
        // profiles on without rules: the diagnose rules' blockers decide.
        let blockers = ["certificate-pin-dangling", "firewall-no-rdp-rule"];
        assert_eq!(r.verdict.blockers, blockers);
        assert_eq!(r.verdict.rdp_enabled, Some(false));
        assert!(r.software.as_ref().unwrap().unreadable.is_empty());

        let mut bytes = build(&software());
        corrupt_value(&mut bytes, POLICY_PATH, "UserAuthentication");
        let sw = loaded("SOFTWARE", bytes);
        let r = inspect_loaded(source(), &sys, Some(&sw)).unwrap();
        let s = r.software.as_ref().unwrap();
        assert_eq!(s.unreadable, ["UserAuthentication"]);
        assert!(!s.overrides.contains(&"UserAuthentication".to_string()));
        assert_eq!(r.verdict.effective_nla, Nla::Unknown);
        // The SYSTEM verdicts are unaffected; fDenyTSConnections still reads.
        assert_eq!(r.verdict.boot_set_nla, Nla::Required);
        assert_eq!(r.verdict.blockers, blockers);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.message.contains("UserAuthentication")
                    && w.message.contains("cannot be read")),
            "{:?}",
            r.warnings
        );

        // An unreadable fDenyTSConnections policy makes RDP unknown.
        let mut bytes = build(&software());
        corrupt_value(&mut bytes, POLICY_PATH, "fDenyTSConnections");
        let sw = loaded("SOFTWARE", bytes);
        let r = inspect_loaded(source(), &sys, Some(&sw)).unwrap();
        // RDP would be unknown by fDenyTSConnections alone; the blockers
        // make it denied.
        assert_eq!(
            effective(r.control_sets.first(), r.software.as_ref(), &mut Vec::new()).1,
            None
        );
        assert_eq!(r.verdict.rdp_enabled, Some(false));
        assert_eq!(r.verdict.effective_nla, Nla::Required);
    }

    #[test]
    fn a_hive_without_control_sets_is_not_found() {
        let sw = loaded("SOFTWARE", build(&software()));
        let e = inspect_loaded(source(), &sw, None).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::NotFound);
        assert!(e.to_string().contains("not a SYSTEM hive"), "{e}");
    }
}
