// SPDX-License-Identifier: GPL-2.0-or-later
//! Rows 6–10 of rdp-causes.md: NLA and the security layer (with the Group
//! Policy copies applied, by the rule `inspect` uses), CredSSP, encryption
//! level and FIPS, TLS 1.2 for the server, the certificate pin.

use crate::commands::inspect::verdict_of;
use crate::hive::reader::{NamedValue, ValueState};
use crate::recipes::paths::{NLA_VALUES, POLICY_PATH, RDP_TCP_PATH};
use crate::report::diagnose::{Finding, Risk, Severity};
use crate::report::Nla;

use super::probe::{
    applied_if, fix, manual, op_delete, op_dword, unreadable_value, Ctx, KeyRead, New,
};

/// CredSSP policy key in SOFTWARE (rdp-causes.md row 7).
const CREDSSP_PATH: &str = r"Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters";
/// Schannel protocol keys in a control set (rdp-causes.md row 9).
const SCHANNEL_PATH: &str = r"Control\SecurityProviders\SCHANNEL\Protocols";
/// Machine certificate stores in SOFTWARE where a pinned RDP certificate
/// may live (`Certificates\<SHA-1 thumbprint>` below each).
const CERT_STORES: [&str; 2] = [
    r"Microsoft\SystemCertificates\MY\Certificates",
    r"Microsoft\SystemCertificates\Remote Desktop\Certificates",
];

/// Runs the checks of this group.
pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let policy = ctx.software(POLICY_PATH);
    credssp(ctx, out);
    for set in &ctx.sets {
        let rdp = ctx.in_set(set, RDP_TCP_PATH);
        if !rdp.exists() {
            continue; // reported as listener-missing
        }
        let layer = nla(ctx, &rdp, policy.as_ref(), out);
        encryption(ctx, set, &rdp, out);
        tls(ctx, set, layer, out);
        certificate(ctx, &rdp, out);
    }
}

/// The NLA values of `rdp` with the present policy values put over them
/// (what Windows enforces), as `inspect`'s effective verdict takes them.
pub fn effective_nla_values(rdp: &KeyRead<'_>, policy: Option<&KeyRead<'_>>) -> Vec<NamedValue> {
    NLA_VALUES
        .iter()
        .map(|n| {
            let local = rdp.value(n);
            let state = match policy.map(|p| p.value(n)) {
                Some(s @ (ValueState::Present { .. } | ValueState::Unreadable { .. })) => s,
                _ => local,
            };
            NamedValue {
                name: n.to_string(),
                state,
            }
        })
        .collect()
}

/// Row 6; returns the effective SecurityLayer.
fn nla(
    ctx: &Ctx<'_>,
    rdp: &KeyRead<'_>,
    policy: Option<&KeyRead<'_>>,
    out: &mut Vec<Finding>,
) -> Option<u32> {
    for n in NLA_VALUES {
        out.extend(unreadable_value(rdp, n, 6));
    }
    let values = effective_nla_values(rdp, policy);
    let v = verdict_of(&rdp.state(), &values);
    let layer = values[0].state.dword();
    let by_policy: Vec<&str> = NLA_VALUES
        .iter()
        .copied()
        .filter(|n| policy.is_some_and(|p| matches!(p.value(n), ValueState::Present { .. })))
        .collect();
    let flag: &[&str] = if by_policy.is_empty() {
        &[]
    } else {
        &["--include-policy"]
    };
    let healthy = if ctx.build.is_none_or(|b| b >= super::probe::BUILD_WIN8) {
        "UserAuthentication 1, SecurityLayer 2, fAllowSecProtocolNegotiation 1"
    } else {
        "UserAuthentication 0, SecurityLayer 1 (Windows 7 defaults)"
    };
    let policy_note = if by_policy.is_empty() {
        String::new()
    } else {
        format!(" (Group Policy sets {})", by_policy.join(", "))
    };
    if ctx.build.is_some_and(|b| b < super::probe::BUILD_VISTA) {
        return layer; // no NLA before Vista
    }
    match v.nla {
        Nla::Required => {
            let mut args = vec!["nla", "disable", "SOURCE"];
            args.extend_from_slice(flag);
            let mut f = fix(ctx.command(&args), Risk::Medium, None, Vec::new());
            f.manual = Some("only when the client cannot do NLA or gets 'The Local Security Authority cannot be contacted'; run `ntrescue nla enable` after the rescue".into());
            out.push(rdp.finding(New {
                code: "nla-required",
                row: 6,
                severity: Severity::Info,
                value: Some("UserAuthentication"),
                healthy,
                explanation: format!("Network Level Authentication is required{policy_note}: the client must support CredSSP and the account must be able to authenticate before the session starts"),
                fix: f,
            }));
        }
        Nla::Off => {
            let mut args = vec!["nla", "enable", "SOURCE"];
            args.extend_from_slice(flag);
            out.push(rdp.finding(New {
                code: "nla-off",
                row: 6,
                severity: Severity::Info,
                value: Some("UserAuthentication"),
                healthy,
                explanation: format!("Network Level Authentication is off{policy_note}: connections work without it, with weaker protection"),
                fix: fix(ctx.command(&args), Risk::Low, None, Vec::new()),
            }));
        }
        _ => {}
    }
    if let Some(l) = rdp.dword("SecurityLayer").filter(|&l| l > 2) {
        out.push(rdp.finding(New {
            code: "security-layer-invalid",
            row: 6,
            severity: Severity::Warning,
            value: Some("SecurityLayer"),
            healthy: "0, 1 or 2",
            explanation: format!("SecurityLayer {l} is not a value Windows defines"),
            fix: fix(
                ctx.command(&["nla", "enable", "SOURCE"]),
                Risk::Low,
                None,
                Vec::new(),
            ),
        }));
    }
    layer
}

/// Row 7: the CredSSP encryption oracle policy.
fn credssp(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(k) = ctx.software(CREDSSP_PATH) else {
        return;
    };
    out.extend(unreadable_value(&k, "AllowEncryptionOracle", 7));
    let (code, why) = match k.dword("AllowEncryptionOracle") {
        Some(0) => ("credssp-force-updated-clients", "only clients with the 2018 CredSSP update may connect: others get 'CredSSP encryption oracle remediation'"),
        Some(2) => ("credssp-vulnerable", "unpatched CredSSP clients are allowed (Vulnerable): risky"),
        _ => return,
    };
    let mut f = fix(
        ctx.set_dword(&k, "AllowEncryptionOracle", 1),
        Risk::Medium,
        None,
        vec![op_dword(&k, "AllowEncryptionOracle", 1)],
    );
    f.manual = Some("the real fix is patching the client; 1 (Mitigated) is enough, never 2".into());
    out.push(k.finding(New {
        code,
        row: 7,
        severity: Severity::Warning,
        value: Some("AllowEncryptionOracle"),
        healthy: "absent or 1",
        explanation: why.into(),
        fix: f,
    }));
}

/// Row 8: MinEncryptionLevel and FIPS mode.
fn encryption(ctx: &Ctx<'_>, set: &str, rdp: &KeyRead<'_>, out: &mut Vec<Finding>) {
    out.extend(unreadable_value(rdp, "MinEncryptionLevel", 8));
    if let Some(l) = rdp.dword("MinEncryptionLevel").filter(|&l| l >= 3) {
        out.push(rdp.finding(New {
            code: "encryption-level-high",
            row: 8,
            severity: Severity::Warning,
            value: Some("MinEncryptionLevel"),
            healthy: "2",
            explanation: format!(
                "MinEncryptionLevel {l} ({}) refuses clients that cannot match it",
                if l == 4 { "FIPS" } else { "high" }
            ),
            fix: fix(
                ctx.set_dword(rdp, "MinEncryptionLevel", 2),
                Risk::Medium,
                None,
                vec![op_dword(rdp, "MinEncryptionLevel", 2)],
            ),
        }));
    }
    let fips = ctx.in_set(set, r"Control\Lsa\FIPSAlgorithmPolicy");
    out.extend(unreadable_value(&fips, "Enabled", 8));
    if fips.dword("Enabled").is_some_and(|e| e != 0) {
        out.push(
            fips.finding(New {
                code: "fips-enabled",
                row: 8,
                severity: Severity::Warning,
                value: Some("Enabled"),
                healthy: "0",
                explanation:
                    "FIPS mode: only FIPS algorithms; older clients fail the encryption negotiation"
                        .into(),
                fix: fix(
                    ctx.set_dword(&fips, "Enabled", 0),
                    Risk::Medium,
                    None,
                    vec![op_dword(&fips, "Enabled", 0)],
                ),
            }),
        );
    }
}

/// Row 9: TLS 1.2 for the server. A blocker when the listener may use TLS
/// (effective SecurityLayer not 0).
fn tls(ctx: &Ctx<'_>, set: &str, layer: Option<u32>, out: &mut Vec<Finding>) {
    let k = ctx.in_set(set, &format!(r"{SCHANNEL_PATH}\TLS 1.2\Server"));
    if !k.exists() {
        return;
    }
    let sev = if layer == Some(0) {
        Severity::Warning
    } else {
        Severity::Blocker
    };
    for (value, bad, want) in [("Enabled", true, 1u32), ("DisabledByDefault", false, 0)] {
        out.extend(unreadable_value(&k, value, 9));
        let hit = match k.dword(value) {
            Some(0) => bad,
            Some(_) => !bad,
            None => false,
        };
        if hit {
            out.push(k.finding(New {
                code: "tls12-server-disabled",
                row: 9,
                severity: sev,
                value: Some(value),
                healthy: "key absent (OS defaults)",
                explanation: "TLS 1.2 is disabled for the server: TLS connections fail with 'An internal error has occurred' (Schannel 36871)".into(),
                fix: fix(ctx.set_dword(&k, value, want), Risk::Low, applied_if(sev), vec![op_dword(&k, value, want)]),
            }));
        }
    }
}

/// Row 10: a certificate pin whose certificate is not in the machine's stores.
fn certificate(ctx: &Ctx<'_>, rdp: &KeyRead<'_>, out: &mut Vec<Finding>) {
    const V: &str = "SSLCertificateSHA1Hash";
    out.extend(unreadable_value(rdp, V, 10));
    let ValueState::Present { data, .. } = rdp.value(V) else {
        return;
    };
    let thumb = data.as_str().unwrap_or_default().to_ascii_uppercase();
    let delete = || {
        fix(
            ctx.delete_value(rdp, V),
            Risk::Low,
            Some("applied"),
            vec![op_delete(rdp, V)],
        )
    };
    if ctx.hives.software.is_none() {
        out.push(rdp.finding(New {
            code: "certificate-pin-unverified",
            row: 10,
            severity: Severity::Warning,
            value: Some(V),
            healthy: "absent (self-signed certificate)",
            explanation: "a certificate is pinned, and without SOFTWARE its presence in the machine store cannot be checked".into(),
            fix: manual("check the certificate after boot (certlm.msc); delete the value to fall back to the self-signed one", Risk::Low),
        }));
        return;
    }
    let found = CERT_STORES.iter().any(|s| {
        ctx.software(&format!(r"{s}\{thumb}"))
            .is_some_and(|k| k.exists())
    });
    if found {
        out.push(rdp.finding(New {
            code: "certificate-pinned",
            row: 10,
            severity: Severity::Info,
            value: Some(V),
            healthy: "absent (self-signed certificate)",
            explanation: "a certificate from the machine store is pinned; its expiry is not checked offline".into(),
            fix: manual("if connections fail with an internal error, delete the value so Windows falls back to its self-signed certificate", Risk::Low),
        }));
        return;
    }
    let mut f = delete();
    f.manual = Some("Windows then uses its self-signed certificate".into());
    out.push(rdp.finding(New {
        code: "certificate-pin-dangling",
        row: 10,
        severity: Severity::Blocker,
        value: Some(V),
        healthy: "absent (self-signed certificate)",
        explanation: format!("the pinned certificate {thumb} is in neither the MY nor the Remote Desktop store: the TLS handshake fails"),
        fix: f,
    }));
}
