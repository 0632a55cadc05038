// SPDX-License-Identifier: GPL-2.0-or-later
//! Rows 30–32 of rdp-causes.md: pending updates or setup, a replaced shell
//! or userinit, the hardware clock read as UTC. (Row 29, Safe Mode in the
//! BCD store, is listed as not checked.)

use crate::hive::reader::ValueState;
use crate::report::diagnose::{Finding, Risk, Severity};

use super::probe::{manual, Ctx, New};

/// Winlogon key in SOFTWARE (rdp-causes.md row 31).
const WINLOGON_PATH: &str = r"Microsoft\Windows NT\CurrentVersion\Winlogon";

/// Runs the checks of this group.
pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let setup = ctx.system("Setup");
    if setup.dword("SystemSetupInProgress").is_some_and(|d| d != 0) {
        out.push(setup.finding(New {
            code: "setup-in-progress",
            row: 30,
            severity: Severity::Warning,
            value: Some("SystemSetupInProgress"),
            healthy: "0",
            explanation: "Windows setup has not finished: services, RDP included, may not start normally".into(),
            fix: manual("report only: let setup finish (boot with a console), or find out why it stopped", Risk::High),
        }));
    }
    for set in &ctx.sets {
        let sm = ctx.in_set(set, r"Control\Session Manager");
        let pending = match sm.value("PendingFileRenameOperations") {
            ValueState::Present {
                data: serde_json::Value::Array(a),
                ..
            } => a.len(),
            ValueState::Present { .. } => 1,
            _ => 0,
        };
        if pending > 0 {
            out.push(sm.finding(New {
                code: "pending-file-renames",
                row: 30,
                severity: Severity::Info,
                value: Some("PendingFileRenameOperations"),
                healthy: "absent",
                explanation: format!("{pending} file operation entries wait for the next boot (an update in progress): the first boot may take long or restart"),
                fix: manual("report only: give the first boot time", Risk::Medium),
            }));
        }
        let tz = ctx.in_set(set, r"Control\TimeZoneInformation");
        if tz.dword("RealTimeIsUniversal").is_some_and(|d| d != 0) {
            out.push(tz.finding(New {
                code: "rtc-universal",
                row: 32,
                severity: Severity::Warning,
                value: Some("RealTimeIsUniversal"),
                healthy: "absent (hardware clock in local time)",
                explanation: "Windows reads the hardware clock as UTC: on a host that keeps local time the clock is off by the zone's offset and Kerberos/NLA may fail".into(),
                fix: manual("report only: match it to the hypervisor's clock setting", Risk::Medium),
            }));
        }
    }
    winlogon(ctx, out);
}

/// Row 31: Shell and Userinit.
fn winlogon(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(k) = ctx.software(WINLOGON_PATH) else {
        return;
    };
    if let Some(shell) = k.string("Shell") {
        if !shell.trim().eq_ignore_ascii_case("explorer.exe") {
            out.push(k.finding(New {
                code: "winlogon-shell-replaced",
                row: 31,
                severity: Severity::Warning,
                value: Some("Shell"),
                healthy: "explorer.exe",
                explanation: format!(
                    "the logon shell is '{shell}': a session may connect and then log off at once"
                ),
                fix: manual(
                    "report only: find out what replaced it (kiosk or malware) before changing it",
                    Risk::Medium,
                ),
            }));
        }
    }
    if let Some(ui) = k.string("Userinit") {
        let l = ui.trim().to_ascii_lowercase();
        if !(l.ends_with("userinit.exe,") || l.ends_with("userinit.exe"))
            || l.matches(".exe").count() > 1
        {
            out.push(k.finding(New {
                code: "winlogon-userinit-replaced",
                row: 31,
                severity: Severity::Warning,
                value: Some("Userinit"),
                healthy: r"C:\Windows\system32\userinit.exe,",
                explanation: format!(
                    "Userinit is '{ui}': logons may end at once or run something else"
                ),
                fix: manual(
                    "report only: find out what changed it before restoring it",
                    Risk::Medium,
                ),
            }));
        }
    }
}
