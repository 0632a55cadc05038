// SPDX-License-Identifier: GPL-2.0-or-later
//! Rows 17–22 and the password half of row 23 of rdp-causes.md, from the
//! account model (SECURITY logon rights, SAM accounts; `hive::accounts`,
//! the same model `account list` prints): one finding per reason an account
//! meant for remote logon (a member of Administrators or Remote Desktop
//! Users) cannot log on over RDP, with the `account`/`rights` command that
//! fixes it; `account-not-rdp-user` for an enabled account kept out only by
//! its groups; and a blocker when no enabled local account can.

use crate::format::lsa;
use crate::hive::accounts::{
    domain_rdp_members, holders, read_model, sid_name, Account, AccountsModel, ADMINISTRATORS,
    BUILTIN_ALIASES, RDU_RID, REMOTE_DESKTOP_USERS,
};
use crate::report::diagnose::{Finding, Fix, NotChecked, Risk, Severity};

use super::probe::{Ctx, KeyRead, New};

/// Rows the account model answers.
pub const ROWS: [u8; 7] = [17, 18, 19, 20, 21, 22, 23];

/// Built-in accounts Windows ships disabled on purpose: Guest (501),
/// DefaultAccount (503), WDAGUtilityAccount (504).
const SHIPPED_DISABLED: [u32; 3] = [501, 503, 504];

/// Groups whose members are meant to log on over RDP.
const RDP_GROUPS: [&str; 2] = ["Administrators", "Remote Desktop Users"];

/// The code, fix command and healthy value for the reason of `row`.
fn reason(row: u8) -> Option<(&'static str, &'static [&'static str], &'static str)> {
    Some(match row {
        17 => (
            "account-rdp-right",
            &["rights", "grant-rdp", "SOURCE", "SID"],
            "SeRemoteInteractiveLogonRight held (Administrators 0x407, Remote Desktop Users 0x400), no SeDenyRemoteInteractiveLogonRight",
        ),
        18 => (
            "account-not-rdp-user",
            &["account", "add-to-group", "SOURCE", "NAME", "Remote Desktop Users"],
            "a member of Administrators or Remote Desktop Users",
        ),
        19 => ("account-disabled", &["account", "enable", "SOURCE", "NAME"], "ACB 0x0001 clear"),
        20 => ("account-locked", &["account", "unlock", "SOURCE", "NAME"], "ACB 0x0400 clear, bad-password count 0"),
        21 => (
            "account-password-expired",
            &["account", "password", "SOURCE", "NAME", "--reset-expiry"],
            "PasswordLastSet within the maximum password age, or ACB 0x0200",
        ),
        22 => (
            "account-expired",
            &["account", "expiry", "SOURCE", "NAME", "--never"],
            "AccountExpires never, or in the future",
        ),
        23 => (
            "account-blank-password",
            &[],
            "a password set (blank passwords are refused over the network)",
        ),
        _ => return None,
    })
}

/// The row a model reason names ("row 19: ...").
fn row_of(because: &str) -> Option<u8> {
    because.strip_prefix("row ")?.get(..2)?.parse().ok()
}

/// The SECURITY key of a SID's logon rights.
fn act_sys_ac(sid: &str) -> String {
    format!(r"{}\{sid}\{}", lsa::ACCOUNTS_KEY, lsa::ACT_SYS_AC)
}

/// A SID with its name, for explanations.
fn named(m: &AccountsModel, sid: &str) -> String {
    match sid_name(m, sid) {
        Some(n) => format!("{n} ({sid})"),
        None => sid.to_string(),
    }
}

/// Row 17 for one account, on the SECURITY key whose bits decide it: one
/// finding per SID of its token that holds SeDenyRemoteInteractiveLogonRight
/// (fix: `rights remove-deny` of that SID), else one on the group that
/// should hold SeRemoteInteractiveLogonRight (Administrators when it is a
/// member, else Remote Desktop Users; fix: `rights grant-rdp` of it).
fn right_findings(ctx: &Ctx<'_>, m: &AccountsModel, a: &Account, because: &str) -> Vec<Finding> {
    let Some(sec) = ctx.hives.security else {
        return Vec::new();
    };
    let (code, _, healthy) = reason(17).expect("row 17 has a reason");
    let one = |sid: &str, explanation: String, args: &[&str]| {
        let k = KeyRead::new(sec, "SECURITY", act_sys_ac(sid));
        let mut f = k.finding(New {
            code,
            row: 17,
            severity: Severity::Warning,
            value: Some(""),
            healthy,
            explanation,
            fix: Fix {
                command: Some(ctx.command(args)),
                manual: None,
                risk: Risk::Medium,
                rdp_repair: None,
                ops: Vec::new(),
            },
        });
        f.found = serde_json::Value::String(a.name.clone());
        f
    };
    let denied = holders(m, a, lsa::DENY_REMOTE_INTERACTIVE);
    if !denied.is_empty() {
        return denied
            .iter()
            .map(|h| {
                one(
                    &h.sid,
                    format!(
                        "{}: {because}: {} holds it (ActSysAc 0x{:04x}) and is in its logon token; a deny wins over every grant",
                        a.name,
                        named(m, &h.sid),
                        h.bits
                    ),
                    &["rights", "remove-deny", "SOURCE", &h.sid],
                )
            })
            .collect();
    }
    let target = if a.groups.iter().any(|g| g == "Administrators") {
        ADMINISTRATORS
    } else {
        REMOTE_DESKTOP_USERS
    };
    let bits = m
        .rights
        .iter()
        .find(|r| r.sid == target)
        .map_or("no ActSysAc".to_string(), |r| {
            format!("ActSysAc 0x{:04x}", r.bits)
        });
    vec![one(
        target,
        format!(
            "{}: {because}: {} ({bits}) does not grant it",
            a.name,
            named(m, target)
        ),
        &["rights", "grant-rdp", "SOURCE", target],
    )]
}

/// The findings for one account.
fn account_findings(
    ctx: &Ctx<'_>,
    m: &AccountsModel,
    k: &KeyRead<'_>,
    a: &Account,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for because in &a.rdp.because {
        let Some(row) = row_of(because) else {
            continue;
        };
        if row == 17 {
            out.extend(right_findings(ctx, m, a, because));
            continue;
        }
        let Some((code, cmd, healthy)) = reason(row) else {
            continue;
        };
        let fix = if cmd.is_empty() {
            Fix {
                command: None,
                manual: Some(
                    "a blank account's hash blob has no room for a hash, so it cannot be set offline: set a password on the console (net user NAME *), or use another account; never lower LimitBlankPasswordUse"
                    .replace("NAME", &a.name),
                ),
                risk: Risk::Medium,
                rdp_repair: None,
                ops: Vec::new(),
            }
        } else {
            let args: Vec<&str> = cmd
                .iter()
                .map(|x| if *x == "NAME" { a.name.as_str() } else { x })
                .collect();
            Fix {
                command: Some(ctx.command(&args)),
                manual: None,
                risk: if row == 18 { Risk::Medium } else { Risk::Low },
                rdp_repair: None,
                ops: Vec::new(),
            }
        };
        let mut f = k.finding(New {
            code,
            row,
            severity: Severity::Warning,
            value: Some(if row == 23 { "V" } else { "F" }),
            healthy,
            explanation: format!("{}: {because}", a.name),
            fix,
        });
        f.found = serde_json::Value::String(a.name.clone());
        out.push(f);
    }
    out
}

/// Whether the only reasons `a` may not log on are its groups (row 18)
/// and the logon right it would get through them (row 17): an enabled
/// account that could otherwise log on over RDP.
fn only_not_authorized(a: &Account) -> bool {
    let rows: Vec<Option<u8>> = a.rdp.because.iter().map(|b| row_of(b)).collect();
    !a.disabled
        && !a.rdp.may_log_on
        && rows.contains(&Some(18))
        && rows.iter().all(|r| matches!(r, Some(17 | 18)))
}

/// Row 18 for an enabled account in neither Administrators nor Remote
/// Desktop Users: the alias `C` of Remote Desktop Users, fixed by
/// `account add-to-group`; row 17 beside it only when that would not be
/// enough (a deny in its token, or Remote Desktop Users without the grant).
fn not_member_findings(
    ctx: &Ctx<'_>,
    m: &AccountsModel,
    sam: &crate::hive::reader::Reader<'_>,
    a: &Account,
    severity: Severity,
) -> Vec<Finding> {
    let (code, _, healthy) = reason(18).expect("row 18 has a reason");
    let k = KeyRead::new(sam, "SAM", format!(r"{BUILTIN_ALIASES}\{RDU_RID:08X}"));
    let because = a
        .rdp
        .because
        .iter()
        .find(|b| row_of(b) == Some(18))
        .cloned()
        .unwrap_or_default();
    let mut f = k.finding(New {
        code,
        row: 18,
        severity,
        value: Some("C"),
        healthy,
        explanation: format!(
            "{}: {because}; enabled and otherwise able to log on: a member of Remote Desktop Users may",
            a.name
        ),
        fix: Fix {
            command: Some(ctx.command(&[
                "account",
                "add-to-group",
                "SOURCE",
                &a.name,
                "Remote Desktop Users",
            ])),
            manual: None,
            risk: Risk::Medium,
            rdp_repair: None,
            ops: Vec::new(),
        },
    });
    f.found = serde_json::Value::String(a.name.clone());
    let mut out = vec![f];
    if let Some(b) = a.rdp.because.iter().find(|b| row_of(b) == Some(17)) {
        let rdu_grants = m.rights.iter().any(|r| {
            r.sid == REMOTE_DESKTOP_USERS
                && r.bits & lsa::REMOTE_INTERACTIVE != 0
                && r.bits & lsa::DENY_REMOTE_INTERACTIVE == 0
        });
        if !rdu_grants || !holders(m, a, lsa::DENY_REMOTE_INTERACTIVE).is_empty() {
            out.extend(right_findings(ctx, m, a, b));
        }
    }
    out
}

/// What may still stop an account that is otherwise judged (the model's
/// caveats): logon hours and workstation restrictions (row 22, in `V`;
/// reported, no offline fix), and a lock bit whose lockout duration has
/// passed (row 20: Windows clears it at the next logon; info).
fn caveat_findings(
    ctx: &Ctx<'_>,
    sam: &crate::hive::reader::Reader<'_>,
    a: &Account,
) -> Vec<Finding> {
    let k = KeyRead::new(sam, "SAM", a.key.clone());
    let mut out = Vec::new();
    let mut push = |code, row, severity, value, healthy, explanation: String, fix: Fix| {
        let mut f = k.finding(New {
            code,
            row,
            severity,
            value: Some(value),
            healthy,
            explanation,
            fix,
        });
        f.found = serde_json::Value::String(a.name.clone());
        out.push(f);
    };
    let manual = |steps: String| Fix {
        command: None,
        manual: Some(steps),
        risk: Risk::Low,
        rdp_repair: None,
        ops: Vec::new(),
    };
    if a.logon_hours_restricted {
        push(
            "account-logon-hours",
            22,
            Severity::Warning,
            "V",
            "logon hours: all (none restricted)",
            format!(
                "{}: logon hours restrict it: outside them the logon is refused (\"account restriction: time of day\")",
                a.name
            ),
            manual(format!(
                "after a logon at an allowed hour, or with another administrator: net user {} /times:all",
                a.name
            )),
        );
    }
    if !a.workstations.is_empty() {
        push(
            "account-workstations-restricted",
            22,
            Severity::Warning,
            "V",
            "workstations: any (empty)",
            format!(
                "{}: may log on only from {} (over RDP the workstation is the client computer's name)",
                a.name, a.workstations
            ),
            manual(format!(
                "connect from one of those computers, or with another administrator: net user {} /workstations:*",
                a.name
            )),
        );
    }
    if a.locked && !a.rdp.because.iter().any(|b| row_of(b) == Some(20)) {
        push(
            "account-lock-expired",
            20,
            Severity::Info,
            "F",
            "ACB 0x0400 clear",
            format!(
                "{}: the lock bit is set but the lockout duration has passed: Windows unlocks it at the next logon",
                a.name
            ),
            Fix {
                command: Some(ctx.command(&["account", "unlock", "SOURCE", &a.name])),
                manual: None,
                risk: Risk::Low,
                rdp_repair: None,
                ops: Vec::new(),
            },
        );
    }
    out
}

/// The findings from a read model.
fn from_model(
    ctx: &Ctx<'_>,
    sam: &crate::hive::reader::Reader<'_>,
    m: &AccountsModel,
) -> Vec<Finding> {
    if m.domain_controller {
        // Row 28 (SYSTEM) says it: no local accounts to judge.
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut any = false;
    let mut not_members = Vec::new();
    for a in &m.accounts {
        if a.disabled && SHIPPED_DISABLED.contains(&a.rid) {
            continue;
        }
        any |= a.rdp.may_log_on;
        let meant = a.groups.iter().any(|g| RDP_GROUPS.contains(&g.as_str()));
        if meant && !a.rdp.may_log_on {
            let k = KeyRead::new(sam, "SAM", a.key.clone());
            out.extend(account_findings(ctx, m, &k, a));
        } else if !meant && only_not_authorized(a) {
            not_members.push(a);
        }
        if meant || only_not_authorized(a) {
            out.extend(caveat_findings(ctx, sam, a));
        }
    }
    // An enabled account kept out of RDP only by its groups: most likely on
    // purpose while another account may log on (info), the cheapest way
    // back in when none may (warning, beside the blocker).
    let severity = if any {
        Severity::Info
    } else {
        Severity::Warning
    };
    for a in not_members {
        out.extend(not_member_findings(ctx, m, sam, a, severity));
    }
    let domain = domain_rdp_members(m);
    if !any && !domain.is_empty() {
        // A domain member: domain accounts in the local groups may log on.
        out.push(domain_members_finding(ctx, sam, &domain));
    } else if !any {
        let k = KeyRead::new(sam, "SAM", r"SAM\Domains\Account\Users".into());
        out.push(k.finding(New {
            code: "no-account-may-rdp",
            row: 18,
            severity: Severity::Blocker,
            value: None,
            healthy: "at least one enabled account that may log on over RDP",
            explanation: "no local account may log on over RDP (each one's reasons are listed by `ntrescue account list`)".into(),
            fix: Fix {
                command: None,
                manual: Some(format!(
                    "see `{}` and fix one account (enable, unlock, password, rights)",
                    ctx.command(&["account", "list", "SOURCE"])
                )),
                risk: Risk::Low,
                rdp_repair: None,
                ops: Vec::new(),
            },
        }));
    }
    out
}

/// Row 18 on a domain member whose local accounts may not log on: the
/// domain accounts in the local groups holding the right may (info).
fn domain_members_finding(
    ctx: &Ctx<'_>,
    sam: &crate::hive::reader::Reader<'_>,
    domain: &[crate::hive::accounts::DomainMember],
) -> Finding {
    let k = KeyRead::new(sam, "SAM", domain[0].group_key.clone());
    let names: Vec<String> = domain
        .iter()
        .map(|d| {
            format!(
                "{} in {}",
                d.name
                    .as_ref()
                    .map_or(d.sid.clone(), |n| format!("{n} ({})", d.sid)),
                d.group
            )
        })
        .collect();
    let mut f = k.finding(New {
        code: "domain-accounts-may-rdp",
        row: 18,
        severity: Severity::Info,
        value: Some("C"),
        healthy: "at least one account that may log on over RDP",
        explanation: format!(
            "no local account may log on over RDP, but domain members of local groups holding SeRemoteInteractiveLogonRight may: {} (the domain decides whether they are enabled and their passwords; a logon needs a domain controller or cached credentials)",
            names.join(", ")
        ),
        fix: Fix {
            command: None,
            manual: Some(format!(
                "log on with one of those domain accounts; to have a local one too, see `{}`",
                ctx.command(&["account", "list", "SOURCE"])
            )),
            risk: Risk::Low,
            rdp_repair: None,
            ops: Vec::new(),
        },
    });
    f.found = serde_json::Value::from(domain.iter().map(|d| d.sid.clone()).collect::<Vec<_>>());
    f
}

/// Findings about logon rights and accounts.
pub fn findings(ctx: &Ctx<'_>, not_checked: &mut Vec<NotChecked>) -> Vec<Finding> {
    let Some(sam) = ctx.hives.sam else {
        not_checked.push(NotChecked {
            rows: ROWS.to_vec(),
            reason: "the SAM hive was not read: accounts cannot be judged (LimitBlankPasswordUse of row 23 is checked)".into(),
        });
        return Vec::new();
    };
    match read_model(sam, ctx.hives.security, Some(ctx.hives.system)) {
        Ok(m) => {
            if !m.rights_known {
                not_checked.push(NotChecked {
                    rows: vec![17],
                    reason: "the SECURITY hive was not read: logon rights are unknown".into(),
                });
            }
            from_model(ctx, sam, &m)
        }
        Err(e) => {
            not_checked.push(NotChecked {
                rows: ROWS.to_vec(),
                reason: format!("the account model could not be read: {e}"),
            });
            Vec::new()
        }
    }
}
