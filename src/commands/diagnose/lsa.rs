// SPDX-License-Identifier: GPL-2.0-or-later
//! The SYSTEM side of rows 23–28 of rdp-causes.md: blank passwords,
//! NTLM, domain credentials, RestrictedAdmin and remote SAM, licensing, the
//! domain-controller case.

use crate::hive::reader::ValueState;
use crate::recipes::paths::{POLICY_PATH, TS_PATH};
use crate::report::diagnose::{Finding, Risk, Severity};

use super::probe::{fix, manual, op_dword, Ctx, KeyRead, New};

/// `LmCompatibilityLevel` 5: refuse LM and NTLMv1 (rdp-causes.md row 24).
const LM_NTLMV2_ONLY: u32 = 5;
/// `RestrictReceivingNTLMTraffic` 2: deny all incoming NTLM.
const NTLM_DENY_ALL: u32 = 2;
/// `NtlmMinServerSec` bit: the server requires NTLMv2 session security
/// (NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY); 0x20000000, 128-bit
/// encryption, is what Windows 7 and later ship.
const NTLM_REQUIRE_V2_SESSION: u32 = 0x0008_0000;
/// Per-device and per-user licensing modes (rdp-causes.md row 27).
const LICENSING_MODES: [u32; 2] = [2, 4];

/// Runs the checks of this group.
pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for set in &ctx.sets {
        let lsa = ctx.in_set(set, r"Control\Lsa");
        if lsa.exists() {
            lsa_values(ctx, &lsa, out);
        }
        let msv = ctx.in_set(set, r"Control\Lsa\MSV1_0");
        if msv.dword("RestrictReceivingNTLMTraffic") == Some(NTLM_DENY_ALL) {
            out.push(msv.finding(New {
                code: "ntlm-incoming-denied",
                row: 24,
                severity: Severity::Warning,
                value: Some("RestrictReceivingNTLMTraffic"),
                healthy: "absent or 0",
                explanation: "incoming NTLM is denied: NLA with local accounts (or from outside the domain) fails".into(),
                fix: manual("report only: a security policy set this; change it deliberately", Risk::High),
            }));
        }
        if let Some(v) = msv
            .dword("NtlmMinServerSec")
            .filter(|v| v & NTLM_REQUIRE_V2_SESSION != 0)
        {
            out.push(msv.finding(New {
                code: "ntlm-min-server-sec",
                row: 24,
                severity: Severity::Info,
                value: Some("NtlmMinServerSec"),
                healthy: "536870912 (0x20000000, 128-bit encryption: the Windows 7 and later default) or absent",
                explanation: format!("NtlmMinServerSec 0x{v:08x} requires NTLMv2 session security: NTLM clients that cannot negotiate it (very old ones, or clients restricted by their own policy) are refused"),
                fix: manual("report only: a security policy set this; change it deliberately", Risk::High),
            }));
        }
        licensing(ctx, set, out);
        domain_controller(ctx, set, out);
    }
}

fn lsa_values(ctx: &Ctx<'_>, lsa: &KeyRead<'_>, out: &mut Vec<Finding>) {
    if lsa.dword("LimitBlankPasswordUse") == Some(0) {
        out.push(lsa.finding(New {
            code: "blank-passwords-allowed",
            row: 23,
            severity: Severity::Warning,
            value: Some("LimitBlankPasswordUse"),
            healthy: "1",
            explanation: "accounts with blank passwords may log on over the network: risky".into(),
            fix: fix(
                ctx.set_dword(lsa, "LimitBlankPasswordUse", 1),
                Risk::Medium,
                None,
                vec![op_dword(lsa, "LimitBlankPasswordUse", 1)],
            ),
        }));
    }
    if lsa.dword("LmCompatibilityLevel") == Some(LM_NTLMV2_ONLY) {
        out.push(lsa.finding(New {
            code: "ntlmv2-only",
            row: 24,
            severity: Severity::Info,
            value: Some("LmCompatibilityLevel"),
            healthy: "3 or absent (Windows default)",
            explanation: "only NTLMv2 is accepted: very old clients cannot authenticate".into(),
            fix: manual("report only", Risk::High),
        }));
    }
    if lsa.dword("disabledomaincreds").is_some_and(|d| d != 0) {
        out.push(lsa.finding(New {
            code: "domain-creds-disabled",
            row: 25,
            severity: Severity::Warning,
            value: Some("disabledomaincreds"),
            healthy: "0 or absent",
            explanation: "the machine does not store credentials for network authentication: domain logons over RDP may be refused".into(),
            fix: fix(ctx.set_dword(lsa, "disabledomaincreds", 0), Risk::Low, None, vec![op_dword(lsa, "disabledomaincreds", 0)]),
        }));
    }
    if lsa.dword("DisableRestrictedAdmin") == Some(0) {
        out.push(lsa.finding(New {
            code: "restricted-admin-enabled",
            row: 26,
            severity: Severity::Info,
            value: Some("DisableRestrictedAdmin"),
            healthy: "absent",
            explanation: "RestrictedAdmin mode is allowed (mstsc /restrictedAdmin logs on without sending credentials)".into(),
            fix: manual("report only", Risk::Medium),
        }));
    }
    if let ValueState::Present { .. } = lsa.value("RestrictRemoteSAM") {
        out.push(lsa.finding(New {
            code: "remote-sam-restricted",
            row: 26,
            severity: Severity::Info,
            value: Some("RestrictRemoteSAM"),
            healthy: "absent",
            explanation:
                "remote SAM calls are restricted to the principals in this descriptor".into(),
            fix: manual("report only", Risk::Medium),
        }));
    }
}

/// Where Server Manager records the state of the RD Session Host role
/// (SOFTWARE; rdp-causes.md row 27).
const SESSION_HOST_ROLE_PATH: &str =
    r"Microsoft\ServerManager\ServicingStorage\ServerComponentCache\RDS-RD-Server";
/// Its `InstallState` when the role is installed.
const ROLE_INSTALLED: u32 = 1;

/// Whether the RD Session Host role is installed: `Some(false)` when
/// SOFTWARE was read and does not record it installed (client editions
/// have no such key), `None` without SOFTWARE or when the key or its
/// `InstallState` cannot be read (never taken for "not installed").
fn session_host_role(ctx: &Ctx<'_>) -> Option<bool> {
    let k = ctx.software(SESSION_HOST_ROLE_PATH)?;
    if k.unreadable().is_some() || matches!(k.value("InstallState"), ValueState::Unreadable { .. })
    {
        return None;
    }
    Some(k.dword("InstallState") == Some(ROLE_INSTALLED))
}

/// Row 27: a licensing mode without a license server; a warning where the
/// RD Session Host role makes it bite.
fn licensing(ctx: &Ctx<'_>, set: &str, out: &mut Vec<Finding>) {
    let core = ctx.in_set(set, &format!(r"{TS_PATH}\RCM\Licensing Core"));
    let policy = ctx.software(POLICY_PATH);
    let mode = policy
        .as_ref()
        .and_then(|p| p.dword("LicensingMode"))
        .or_else(|| core.dword("LicensingMode"));
    let Some(mode) = mode.filter(|m| LICENSING_MODES.contains(m)) else {
        return;
    };
    let servers = ctx.in_set(set, r"Services\TermService\Parameters\LicenseServers");
    let has = |k: &KeyRead<'_>, v: &str| match k.value(v) {
        ValueState::Present { data, .. } => match data {
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::String(s) => !s.is_empty(),
            _ => false,
        },
        _ => false,
    };
    if has(&servers, "SpecifiedLicenseServers")
        || policy.as_ref().is_some_and(|p| has(p, "LicenseServers"))
    {
        return;
    }
    let grace = ctx
        .in_set(set, &format!(r"{TS_PATH}\RCM\GracePeriod"))
        .exists();
    let (severity, role) = match session_host_role(ctx) {
        Some(true) => (
            Severity::Warning,
            "the RD Session Host role is installed",
        ),
        // Without the role, Windows allows two admin sessions and never
        // asks for a licence: the mode is left over, not a cause.
        Some(false) => (
            Severity::Info,
            "the RD Session Host role is not installed, so the mode does not apply (two admin sessions need no licence)",
        ),
        None => (
            Severity::Warning,
            "whether the RD Session Host role is installed is unknown (SOFTWARE or its Server Manager key not read)",
        ),
    };
    out.push(core.finding(New {
        code: "licensing-no-server",
        row: 27,
        severity,
        value: Some("LicensingMode"),
        healthy: "a license server when the RD Session Host role is installed",
        explanation: format!(
            "licensing mode {} ({}) and no license server configured{}; {role}: with the role, once the grace period ends only admin sessions connect",
            mode,
            if mode == 2 { "per device" } else { "per user" },
            if grace { "; a GracePeriod key exists" } else { "" }
        ),
        fix: manual("connect with `mstsc /admin` (two admin sessions need no licence) and configure a license server; never touch GracePeriod (licence compliance)", Risk::High),
    }));
}

/// Row 28: a domain controller (no local SAM accounts for RDP).
fn domain_controller(ctx: &Ctx<'_>, set: &str, out: &mut Vec<Finding>) {
    let k = ctx.in_set(set, r"Services\NTDS\Parameters");
    if let ValueState::Present { .. } = k.value("DSA Database file") {
        let sam = if ctx.hives.sam.is_some() {
            "its SAM holds only the Directory Services Restore Mode accounts"
        } else {
            "SAM was not read"
        };
        out.push(k.finding(New {
            code: "domain-controller",
            row: 28,
            severity: Severity::Info,
            value: Some("DSA Database file"),
            healthy: "absent on member servers and clients",
            explanation: format!("this is a domain controller: only domain accounts (Domain Admins by default) may RDP; {sam}, so no local account fix applies"),
            fix: manual("use a domain account; logon rights come from the Default Domain Controllers Policy", Risk::High),
        }));
    }
}
