// SPDX-License-Identifier: GPL-2.0-or-later
//! Rows 6–10 of rdp-causes.md: NLA and the security layer (with the Group
//! Policy copies applied, by the rule `inspect` uses), CredSSP, encryption
//! level and FIPS, the TLS versions left for the server, the certificate
//! pin and the validity of the certificate it names.

use crate::commands::inspect::verdict_of;
use crate::format::cert::stored_cert;
use crate::hive::reader::{NamedValue, ValueState};
use crate::recipes::paths::{NLA_VALUES, POLICY_PATH, RDP_TCP_PATH};
use crate::report::diagnose::{Finding, Fix, Risk, Severity};
use crate::report::Nla;

use super::probe::{
    applied_if, fix, manual, op_delete, op_dword, unreadable_value, Ctx, KeyRead, New,
};

/// CredSSP policy key in SOFTWARE (rdp-causes.md row 7).
const CREDSSP_PATH: &str = r"Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters";
/// Schannel protocol keys in a control set (rdp-causes.md row 9).
const SCHANNEL_PATH: &str = r"Control\SecurityProviders\SCHANNEL\Protocols";
/// Installed servicing packages (`Package_for_KB<n>~...`) in SOFTWARE.
const CBS_PACKAGES: &str = r"Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages";
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

/// Row 9: TLS for the server. A blocker when the listener may use TLS
/// (effective SecurityLayer not 0).
fn tls(ctx: &Ctx<'_>, set: &str, layer: Option<u32>, out: &mut Vec<Finding>) {
    let k = ctx.in_set(set, &format!(r"{SCHANNEL_PATH}\TLS 1.2\Server"));
    // Vista / Server 2008 to Windows 7 / Server 2008 R2 (XP and 2003 have
    // no Schannel protocol settings the listener reads).
    let legacy = ctx
        .build
        .is_some_and(|b| (super::probe::BUILD_VISTA..super::probe::BUILD_WIN8).contains(&b));
    if layer != Some(0) && legacy {
        legacy_tls(ctx, set, out);
    }
    if !k.exists() {
        return;
    }
    let sev = if layer == Some(0) {
        Severity::Warning
    } else {
        Severity::Blocker
    };
    let older: Vec<&str> = ["TLS 1.0", "TLS 1.1"]
        .into_iter()
        .filter(|v| server_protocol(ctx, set, v).unwrap_or(true))
        .collect();
    let left = if older.is_empty() {
        "no TLS version is left for the server".to_string()
    } else {
        format!(
            "only {} remain{}, which current clients may refuse",
            older.join(" and "),
            if older.len() == 1 { "s" } else { "" }
        )
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
                explanation: format!("TLS 1.2 is disabled for the server ({left}): TLS connections fail with 'An internal error has occurred' (Schannel 36871)"),
                fix: fix(ctx.set_dword(&k, value, want), Risk::Low, applied_if(sev), vec![op_dword(&k, value, want)]),
            }));
        }
    }
}

/// Whether Schannel offers protocol `version` ("TLS 1.0") to servers, as
/// far as `Protocols\<version>\Server` says: `Some(false)` when `Enabled`
/// is 0 or `DisabledByDefault` is not 0 (RDP does not ask for a protocol by
/// name), `Some(true)` when enabled, `None` when the key or both values are
/// absent (the release's default).
fn server_protocol(ctx: &Ctx<'_>, set: &str, version: &str) -> Option<bool> {
    let k = ctx.in_set(set, &format!(r"{SCHANNEL_PATH}\{version}\Server"));
    if !k.exists() {
        return None;
    }
    match (k.dword("Enabled"), k.dword("DisabledByDefault")) {
        (Some(0), _) | (_, Some(1..)) => Some(false),
        (Some(_), _) | (None, Some(0)) => Some(true),
        (None, None) => None,
    }
}

/// Row 9 on Vista / Server 2008 to Windows 7 / Server 2008 R2 (the build is
/// known): their RDP stack speaks TLS 1.0 only, unless KB3080079 added TLS 1.1 and
/// 1.2 to it (Windows 7 / Server 2008 R2); and their Schannel leaves TLS
/// 1.1 and 1.2 off unless enabled.
fn legacy_tls(ctx: &Ctx<'_>, set: &str, out: &mut Vec<Finding>) {
    let k10 = ctx.in_set(set, &format!(r"{SCHANNEL_PATH}\TLS 1.0\Server"));
    let tls10 = server_protocol(ctx, set, "TLS 1.0");
    let newer = ["TLS 1.1", "TLS 1.2"]
        .into_iter()
        .any(|v| server_protocol(ctx, set, v) == Some(true));
    let kb = rdp_tls_update(ctx);
    if tls10 == Some(false) {
        if kb == Some(true) && newer {
            return; // RDP negotiates TLS 1.1/1.2 instead
        }
        let why = match kb {
            Some(true) => {
                "KB3080079 is installed but neither TLS 1.1 nor TLS 1.2 is enabled for the server"
                    .to_string()
            }
            Some(false) => "KB3080079 (TLS 1.1/1.2 for RDP) is not installed".to_string(),
            None => {
                "without SOFTWARE, whether KB3080079 (TLS 1.1/1.2 for RDP) is installed is unknown"
                    .to_string()
            }
        };
        let value = if k10.dword("Enabled") == Some(0) {
            "Enabled"
        } else {
            "DisabledByDefault"
        };
        let mut f = fix(
            ctx.command(&["nla", "disable", "SOURCE"]),
            Risk::Medium,
            None,
            Vec::new(),
        );
        f.manual = Some("RDP then uses its own security layer, without TLS; after boot install KB3080079 and enable TLS 1.2, then `ntrescue nla enable`. TLS 1.0 is not re-enabled".into());
        out.push(k10.finding(New {
            code: "tls10-server-disabled",
            row: 9,
            severity: Severity::Blocker,
            value: Some(value),
            healthy: "key absent (TLS 1.0 is what this release's RDP speaks)",
            explanation: format!("TLS 1.0 is disabled for the server on a release whose RDP stack speaks only TLS 1.0 ({why}): TLS connections fail"),
            fix: f,
        }));
        return;
    }
    if !newer && server_protocol(ctx, set, "TLS 1.2").is_none() {
        let k12 = ctx.in_set(set, &format!(r"{SCHANNEL_PATH}\TLS 1.2\Server"));
        out.push(k12.finding(New {
            code: "tls-legacy-only",
            row: 9,
            severity: Severity::Info,
            value: None,
            healthy: "key absent (OS defaults)",
            explanation: "this release offers servers only TLS 1.0 (TLS 1.1 and 1.2 are off by default before Windows 8 / Server 2012): a client that refuses TLS 1.0 cannot connect over TLS".into(),
            fix: manual("after boot, install KB3080079 and enable TLS 1.2 for the server; ntrescue does not turn protocols on offline", Risk::Medium),
        }));
    }
}

/// Whether SOFTWARE's servicing store records KB3080079 (TLS 1.1/1.2 for
/// the RDP stack of Windows 7 / Server 2008 R2); `None` without SOFTWARE.
fn rdp_tls_update(ctx: &Ctx<'_>) -> Option<bool> {
    let k = ctx.software(CBS_PACKAGES)?;
    Some(
        k.subkey_names()
            .iter()
            .any(|n| n.to_ascii_lowercase().starts_with("package_for_kb3080079")),
    )
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
    let stored = CERT_STORES.iter().find_map(|s| {
        ctx.software(&format!(r"{s}\{thumb}"))
            .filter(|k| k.exists())
    });
    if let Some(cert) = stored {
        out.push(pinned(rdp, &cert, &thumb, delete()));
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

/// Row 10 for a pin whose certificate is in a store: its `Blob` read for
/// the validity period, checked against the clock of this run (the machine
/// boots now).
fn pinned(rdp: &KeyRead<'_>, cert: &KeyRead<'_>, thumb: &str, delete: Fix) -> Finding {
    const V: &str = "SSLCertificateSHA1Hash";
    const HEALTHY: &str = "absent (self-signed certificate), or a certificate within its validity";
    let store = cert.path.rsplit('\\').nth(2).unwrap_or("MY");
    let parsed = cert
        .binary("Blob")
        .ok_or_else(|| {
            format!(
                "no readable REG_BINARY Blob value in {}\\{}",
                cert.hive, cert.path
            )
        })
        .and_then(|b| {
            stored_cert(&b).map_err(|e| format!("{}\\{}\\Blob: {e}", cert.hive, cert.path))
        });
    let v = match parsed {
        Err(why) => {
            let mut f = delete;
            f.rdp_repair = None;
            f.manual = Some("Windows then uses its self-signed certificate".into());
            return rdp.finding(New {
                code: "certificate-unreadable",
                row: 10,
                severity: Severity::Warning,
                value: Some(V),
                healthy: HEALTHY,
                explanation: format!("the pinned certificate {thumb} is in the {store} store but cannot be read ({why}): Windows may fail the TLS handshake"),
                fix: f,
            });
        }
        Ok(c) => c.validity,
    };
    let now = crate::util::time::now_unix();
    let (nb, na) = (v.not_before.iso(), v.not_after.iso());
    if v.not_after.unix < now {
        let mut f = delete;
        f.manual = Some("Windows then uses its self-signed certificate; install a renewed certificate and pin it after boot".into());
        return rdp.finding(New {
            code: "rdp-certificate-expired",
            row: 10,
            severity: Severity::Blocker,
            value: Some(V),
            healthy: HEALTHY,
            explanation: format!("the pinned certificate {thumb} ({store} store) expired at {na}: the TLS handshake fails ('An internal error has occurred', events 1057/36870)"),
            fix: f,
        });
    }
    if v.not_before.unix > now {
        let mut f = delete;
        f.rdp_repair = None;
        f.manual = Some("or check the machine's clock: the certificate becomes valid later".into());
        return rdp.finding(New {
            code: "certificate-not-yet-valid",
            row: 10,
            severity: Severity::Warning,
            value: Some(V),
            healthy: HEALTHY,
            explanation: format!("the pinned certificate {thumb} ({store} store) is valid only from {nb}: clients refuse it until then"),
            fix: f,
        });
    }
    rdp.finding(New {
        code: "certificate-pinned",
        row: 10,
        severity: Severity::Info,
        value: Some(V),
        healthy: HEALTHY,
        explanation: format!("the pinned certificate {thumb} ({store} store) is valid from {nb} to {na}"),
        fix: manual("if connections fail with an internal error, delete the value so Windows falls back to its self-signed certificate", Risk::Low),
    })
}
