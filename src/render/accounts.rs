// SPDX-License-Identifier: GPL-2.0-or-later
//! `account list` for a terminal.

use std::fmt::Write;

use super::Style;
use crate::report::accounts::AccountsReport;

fn or_never(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("never")
}

/// The machine-wide lines: SID, account policy, the NTLM settings.
fn machine(o: &mut String, m: &crate::hive::accounts::AccountsModel) {
    let _ = writeln!(
        o,
        "Machine SID {}; lockout after {} bad passwords; max password age {}; LimitBlankPasswordUse {}",
        m.machine_sid.as_deref().unwrap_or("(unknown)"),
        m.policy.lockout_threshold,
        m.policy
            .max_password_age_days
            .map_or("never".into(), |d| format!("{d} days")),
        m.policy
            .limit_blank_password_use
            .map_or("(absent: 1)".into(), |v| v.to_string())
    );
    let ntlm: Vec<String> = [
        ("LmCompatibilityLevel", m.policy.lm_compatibility_level),
        (
            "RestrictReceivingNTLMTraffic",
            m.policy.restrict_receiving_ntlm_traffic,
        ),
        ("NtlmMinServerSec", m.policy.ntlm_min_server_sec),
    ]
    .iter()
    .filter_map(|(n, v)| v.map(|v| format!("{n} {v:#x}")))
    .collect();
    if !ntlm.is_empty() {
        let _ = writeln!(o, "NTLM: {}", ntlm.join("; "));
    }
}

/// Renders the account list: one block per account, its RDP answer first;
/// then the SIDs holding logon rights and the notes.
pub fn accounts(r: &AccountsReport, st: Style) -> String {
    let mut o = String::new();
    let m = &r.model;
    let files: Vec<String> = r
        .hives
        .iter()
        .map(|h| format!("{} ({})", h.file.path, h.view))
        .collect();
    let _ = writeln!(o, "{} {}", st.bold("account list"), files.join(", "));
    if m.domain_controller {
        let _ = writeln!(
            o,
            "{}",
            st.warn("Domain controller: accounts live in Active Directory; no local SAM account may log on")
        );
    }
    machine(&mut o, m);
    for a in &m.accounts {
        let verdict = if a.rdp.may_log_on {
            st.good("may log on over RDP: yes")
        } else {
            st.bad("may log on over RDP: no")
        };
        let full = if a.full_name.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", super::escape(&a.full_name))
        };
        let _ = writeln!(
            o,
            "\n{}{full} (RID {})  {verdict}",
            st.bold(&super::escape(&a.name)),
            a.rid
        );
        for b in &a.rdp.because {
            let _ = writeln!(o, "    because {b}");
        }
        for c in &a.rdp.caveats {
            let _ = writeln!(o, "    {} {c}", st.warn("but"));
        }
        let mut flags = Vec::new();
        for (on, name) in [
            (a.disabled, "disabled"),
            (a.locked, "locked"),
            (a.password_never_expires, "password never expires"),
            (a.password_not_required, "password not required"),
            (a.password_blank, "blank password"),
        ] {
            if on {
                flags.push(name);
            }
        }
        let _ = writeln!(
            o,
            "  flags {:#06x} [{}]; hash {}; bad passwords {}; logons {}",
            a.acb,
            flags.join(", "),
            a.hash_format.map_or("(none)", |f| match f {
                crate::format::sam::HashFormat::Rc4 => "RC4 era",
                crate::format::sam::HashFormat::Aes => "AES era",
            }),
            a.bad_password_count,
            a.logon_count
        );
        let _ = writeln!(
            o,
            "  last logon {}; password set {}; expires {}",
            or_never(&a.last_logon),
            a.password_last_set
                .as_deref()
                .unwrap_or("never (must change)"),
            or_never(&a.account_expires)
        );
        if !a.groups.is_empty() {
            let _ = writeln!(o, "  groups: {}", a.groups.join(", "));
        }
        if let Some(ms) = &a.microsoft_account {
            let _ = writeln!(o, "  linked to the Microsoft account {ms}");
        }
    }
    rights(&mut o, r, st);
    for n in &m.notes {
        let _ = writeln!(o, "{} {n}", st.warn("note:"));
    }
    o
}

/// The SIDs holding logon rights.
fn rights(o: &mut String, r: &AccountsReport, st: Style) {
    if r.model.rights_known {
        let _ = writeln!(
            o,
            "\n{}",
            st.bold("Logon rights (SECURITY Policy\\Accounts):")
        );
        for h in &r.model.rights {
            let _ = writeln!(
                o,
                "  {:#06x}  {} ({})  {}",
                h.bits,
                h.name.as_deref().unwrap_or("?"),
                h.sid,
                h.rights.join(", ")
            );
        }
    }
}
