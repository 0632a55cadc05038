// SPDX-License-Identifier: GPL-2.0-or-later
//! Rows 1–4 and 11–14 of rdp-causes.md: RDP denied (locally or by Group
//! Policy), the server and its listener, session limits, TermService and
//! the services it and the network need.

use crate::hive::reader::ValueState;
use crate::recipes::paths::{POLICY_PATH, RDP_TCP_PATH, TS_PATH};
use crate::report::diagnose::{Finding, Risk, Severity};

use super::probe::{
    applied_if, fix, manual, op_delete, op_dword, unreadable_value, Ctx, KeyRead, New,
};

/// `Services\<name>\Start` value for a disabled service.
const DISABLED: u32 = 4;
/// MaxInstanceCount meaning "no limit" (rdp-causes.md row 11).
pub const UNLIMITED: u32 = 0xFFFF_FFFF;

/// Services RDP needs besides TermService, with the start type Windows
/// ships and whether RDP cannot work without them (rdp-causes.md rows 13,
/// 14; start types read from the corpus hives).
const NEEDED: [(&str, u32, bool, u8); 11] = [
    ("RpcSs", 2, true, 13),
    ("RpcEptMapper", 2, true, 13),
    ("DcomLaunch", 2, true, 13),
    ("TermDD", 1, true, 13),
    ("UmRdpService", 3, false, 13),
    ("SessionEnv", 3, false, 13),
    ("rdpbus", 3, false, 13),
    ("RDPDR", 3, false, 13),
    ("Dhcp", 2, true, 14),
    ("nsi", 2, true, 14),
    ("Tcpip", 0, true, 14),
];

/// Runs the checks of this group.
pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let policy = ctx.software(POLICY_PATH);
    if let Some(p) = &policy {
        policy_checks(ctx, p, out);
    }
    let policy_deny = policy.as_ref().and_then(|p| p.dword("fDenyTSConnections"));
    for set in &ctx.sets {
        let ts = ctx.in_set(set, TS_PATH);
        deny(ctx, &ts, policy_deny, out);
        server(ctx, &ts, out);
        let rdp = ctx.in_set(set, RDP_TCP_PATH);
        listener(ctx, &ts, &rdp, out);
        termservice(ctx, set, out);
        services(ctx, set, out);
    }
}

/// Row 2 and the policy copy of row 11.
fn policy_checks(ctx: &Ctx<'_>, p: &KeyRead<'_>, out: &mut Vec<Finding>) {
    out.extend(unreadable_value(p, "fDenyTSConnections", 2));
    if p.dword("fDenyTSConnections").is_some_and(|d| d != 0) {
        let mut f = fix(
            ctx.command(&["rdp", "enable", "SOURCE", "--include-policy"]),
            Risk::Medium,
            Some("--include-policy"),
            vec![op_delete(p, "fDenyTSConnections")],
        );
        f.manual = Some(
            "a domain GPO re-applies it at the next policy refresh: change the GPO too".into(),
        );
        out.push(
            p.finding(New {
                code: "rdp-denied-by-policy",
                row: 2,
                severity: Severity::Blocker,
                value: Some("fDenyTSConnections"),
                healthy: "absent",
                explanation:
                    "Group Policy denies Remote Desktop connections; it wins over the SYSTEM value"
                        .into(),
                fix: f,
            }),
        );
    }
    if let Some(n) = p.dword("MaxInstanceCount").filter(|&n| n != UNLIMITED) {
        let sev = if n == 0 {
            Severity::Blocker
        } else {
            Severity::Warning
        };
        out.push(p.finding(New {
            code: "max-instances-policy",
            row: 11,
            severity: sev,
            value: Some("MaxInstanceCount"),
            healthy: "absent",
            explanation: format!("Group Policy limits RDP to {n} connection(s)"),
            fix: fix(
                ctx.delete_value(p, "MaxInstanceCount"),
                Risk::Medium,
                Some("--include-policy"),
                vec![op_delete(p, "MaxInstanceCount")],
            ),
        }));
    }
}

/// Row 1: fDenyTSConnections in a control set.
fn deny(ctx: &Ctx<'_>, ts: &KeyRead<'_>, policy: Option<u32>, out: &mut Vec<Finding>) {
    if !ts.exists() {
        return; // reported by `server`
    }
    out.extend(unreadable_value(ts, "fDenyTSConnections", 1));
    let v = ts.value("fDenyTSConnections");
    let denied = match &v {
        ValueState::Missing => true,
        s => s.dword().is_some_and(|d| d != 0),
    };
    if !denied {
        return;
    }
    let (sev, why) = match policy {
        Some(0) => (
            Severity::Info,
            "RDP is denied here, but Group Policy sets fDenyTSConnections 0, which wins"
                .to_string(),
        ),
        _ => (
            Severity::Blocker,
            if matches!(v, ValueState::Missing) {
                "fDenyTSConnections is absent, which Windows reads as 1: Remote Desktop connections are denied".to_string()
            } else {
                "Remote Desktop connections are denied (client installs ship 1)".to_string()
            },
        ),
    };
    out.push(ts.finding(New {
        code: "rdp-denied",
        row: 1,
        severity: sev,
        value: Some("fDenyTSConnections"),
        healthy: "0",
        explanation: why,
        fix: fix(
            ctx.command(&["rdp", "enable", "SOURCE"]),
            Risk::Low,
            applied_if(sev),
            vec![op_dword(ts, "fDenyTSConnections", 0)],
        ),
    }));
}

/// Row 3: the Terminal Server key, TSEnabled and drain mode.
fn server(ctx: &Ctx<'_>, ts: &KeyRead<'_>, out: &mut Vec<Finding>) {
    if !ts.exists() {
        out.push(ts.finding(New {
            code: "terminal-server-missing",
            row: 3,
            severity: Severity::Blocker,
            value: None,
            healthy: "present",
            explanation: match ts.unreadable() {
                Some(e) => format!("the Terminal Server key cannot be read: {e}"),
                None => "the Terminal Server key is missing: Remote Desktop is not installed in this set".into(),
            },
            fix: manual("restore the key from a healthy machine of the same version (ntrescue does not create keys)", Risk::High),
        }));
        return;
    }
    for (value, bad, healthy, why) in [
        (
            "TSEnabled",
            0u32,
            "1 or absent",
            "the Remote Desktop server is turned off",
        ),
        (
            "TSServerDrainMode",
            1,
            "0 or absent",
            "the server is in drain mode: new logons are refused",
        ),
    ] {
        out.extend(unreadable_value(ts, value, 3));
        let hit = match ts.dword(value) {
            Some(d) if value == "TSEnabled" => d == bad,
            Some(d) => d != 0,
            None => false,
        };
        if hit {
            let want = if value == "TSEnabled" { 1 } else { 0 };
            out.push(ts.finding(New {
                code: if value == "TSEnabled" {
                    "ts-disabled"
                } else {
                    "ts-drain-mode"
                },
                row: 3,
                severity: Severity::Blocker,
                value: Some(value),
                healthy,
                explanation: why.into(),
                fix: fix(
                    ctx.set_dword(ts, value, want),
                    Risk::Low,
                    Some("applied"),
                    vec![op_dword(ts, value, want)],
                ),
            }));
        }
    }
}

/// Row 4 (listener present and enabled) and row 11 (session limit).
fn listener(ctx: &Ctx<'_>, ts: &KeyRead<'_>, rdp: &KeyRead<'_>, out: &mut Vec<Finding>) {
    if !ts.exists() {
        return;
    }
    if !rdp.exists() {
        out.push(rdp.finding(New {
            code: "listener-missing",
            row: 4,
            severity: Severity::Blocker,
            value: None,
            healthy: "present",
            explanation: match rdp.unreadable() {
                Some(e) => format!("the RDP-Tcp listener key cannot be read: {e}"),
                None => "there is no RDP-Tcp listener: nothing accepts RDP connections".into(),
            },
            fix: manual("restore the RDP-Tcp key from a healthy machine of the same version (ntrescue does not create keys)", Risk::High),
        }));
        return;
    }
    for (value, code, want, why) in [
        (
            "fEnableWinStation",
            "listener-disabled",
            1u32,
            "the RDP-Tcp listener is disabled",
        ),
        (
            "fLogonDisabled",
            "listener-logon-disabled",
            0,
            "logons through the RDP-Tcp listener are disabled",
        ),
    ] {
        out.extend(unreadable_value(rdp, value, 4));
        if rdp.dword(value).is_some_and(|d| d != want) {
            out.push(rdp.finding(New {
                code,
                row: 4,
                severity: Severity::Blocker,
                value: Some(value),
                healthy: if want == 1 { "1" } else { "0" },
                explanation: why.into(),
                fix: fix(
                    ctx.set_dword(rdp, value, want),
                    Risk::Low,
                    Some("applied"),
                    vec![op_dword(rdp, value, want)],
                ),
            }));
        }
    }
    out.extend(unreadable_value(rdp, "MaxInstanceCount", 11));
    if let Some(n) = rdp.dword("MaxInstanceCount").filter(|&n| n != UNLIMITED) {
        let sev = if n == 0 {
            Severity::Blocker
        } else {
            Severity::Warning
        };
        out.push(rdp.finding(New {
            code: "max-instances-limited",
            row: 11,
            severity: sev,
            value: Some("MaxInstanceCount"),
            healthy: "4294967295 (0xFFFFFFFF, no limit)",
            explanation: format!("the listener accepts at most {n} connection(s)"),
            fix: fix(
                ctx.set_dword(rdp, "MaxInstanceCount", UNLIMITED),
                Risk::Low,
                applied_if(sev),
                vec![op_dword(rdp, "MaxInstanceCount", UNLIMITED)],
            ),
        }));
    }
}

/// Row 12: TermService's start type, account and DLL.
fn termservice(ctx: &Ctx<'_>, set: &str, out: &mut Vec<Finding>) {
    let svc = ctx.in_set(set, r"Services\TermService");
    if !svc.exists() {
        out.push(svc.finding(New {
            code: "termservice-missing",
            row: 12,
            severity: Severity::Blocker,
            value: None,
            healthy: "present",
            explanation:
                "the Remote Desktop Services service (TermService) is not registered".into(),
            fix: manual(
                "restore the TermService key from a healthy machine of the same version",
                Risk::High,
            ),
        }));
        return;
    }
    out.extend(unreadable_value(&svc, "Start", 12));
    if svc.dword("Start") == Some(DISABLED) {
        out.push(svc.finding(New {
            code: "termservice-disabled",
            row: 12,
            severity: Severity::Blocker,
            value: Some("Start"),
            healthy: "3 (manual)",
            explanation: "the Remote Desktop Services service is disabled".into(),
            fix: fix(
                ctx.command(&["service", "SOURCE", "TermService", "--start", "manual"]),
                Risk::Low,
                Some("applied"),
                vec![op_dword(&svc, "Start", 3)],
            ),
        }));
    }
    let modern = ctx.build.is_none_or(|b| b >= super::probe::BUILD_VISTA);
    if let Some(acct) = svc.string("ObjectName") {
        if modern && !acct.eq_ignore_ascii_case(r"NT Authority\NetworkService") {
            out.push(svc.finding(New {
                code: "termservice-account",
                row: 12,
                severity: Severity::Warning,
                value: Some("ObjectName"),
                healthy: r"NT Authority\NetworkService",
                explanation: format!("TermService runs as '{acct}', not NetworkService: it may fail to start"),
                fix: manual(r"set ObjectName back to NT Authority\NetworkService once the change is understood", Risk::Medium),
            }));
        }
    }
    let params = ctx.in_set(set, r"Services\TermService\Parameters");
    if let Some(dll) = params.string("ServiceDll") {
        let name = dll.rsplit('\\').next().unwrap_or(&dll);
        if !name.eq_ignore_ascii_case("termsrv.dll") {
            out.push(params.finding(New {
                code: "termservice-dll-replaced",
                row: 12,
                severity: Severity::Warning,
                value: Some("ServiceDll"),
                healthy: r"%SystemRoot%\System32\termsrv.dll",
                explanation: format!(
                    "TermService loads '{dll}' instead of termsrv.dll (an RDP wrapper?)"
                ),
                fix: manual(
                    "report only: find out what installed it before changing it",
                    Risk::Medium,
                ),
            }));
        }
    }
}

/// Rows 13 and 14: disabled services RDP or the network needs, and
/// TermService's own `DependOnService` list.
fn services(ctx: &Ctx<'_>, set: &str, out: &mut Vec<Finding>) {
    let svc = ctx.in_set(set, r"Services\TermService");
    let deps: Vec<String> = match svc.value("DependOnService") {
        ValueState::Present {
            data: serde_json::Value::Array(a),
            ..
        } => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let mut names: Vec<(String, u32, bool, u8)> = NEEDED
        .iter()
        .map(|(n, start, blocks, row)| (n.to_string(), *start, *blocks, *row))
        .collect();
    for d in &deps {
        match names.iter_mut().find(|(n, ..)| n.eq_ignore_ascii_case(d)) {
            Some(e) => e.2 = true,
            None => names.push((d.clone(), 3, true, 13)),
        }
    }
    let old = ctx.build.is_some_and(|b| b < super::probe::BUILD_VISTA);
    for (name, start, blocks, row) in names {
        let key = ctx.in_set(set, &format!(r"Services\{name}"));
        out.extend(unreadable_value(&key, "Start", row));
        if key.dword("Start") != Some(DISABLED) {
            continue;
        }
        // Windows XP loads Tcpip as a system driver (1), later ones at boot (0).
        let start = if name == "Tcpip" && old { 1 } else { start };
        let sev = if blocks {
            Severity::Blocker
        } else {
            Severity::Warning
        };
        let why = if row == 14 {
            format!("{name} is disabled: the machine has no working network")
        } else if blocks {
            format!("{name} is disabled and Remote Desktop Services needs it")
        } else {
            format!("{name} is disabled: RDP sessions lose redirection or configuration")
        };
        out.push(key.finding(New {
            code: if row == 14 {
                "network-service-disabled"
            } else {
                "dependency-disabled"
            },
            row,
            severity: sev,
            value: Some("Start"),
            healthy: START_NAMES[start as usize],
            explanation: why,
            fix: fix(
                ctx.command(&[
                    "service",
                    "SOURCE",
                    &name,
                    "--start",
                    START_ARGS[start as usize],
                ]),
                Risk::Low,
                applied_if(sev),
                vec![op_dword(&key, "Start", start)],
            ),
        }));
    }
}

/// Start types as `healthy` text.
const START_NAMES: [&str; 4] = ["0 (boot)", "1 (system)", "2 (automatic)", "3 (manual)"];
/// Start types as `service --start` arguments.
const START_ARGS: [&str; 4] = ["boot", "system", "automatic", "manual"];
