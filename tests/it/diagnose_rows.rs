// SPDX-License-Identifier: GPL-2.0-or-later
//! `diagnose` rows 9, 10 and 16 beyond the plain values: the certificate a
//! pin names (a real certificate made by openssl, stored as Windows stores
//! it), TLS versions on releases whose RDP stack needs TLS 1.0, and the MDM
//! (Intune) firewall store. Each on a copy of a real corpus hive broken with
//! hivexregedit.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha1::Digest;

use super::diagnose::{codes, config, diagnose, hivex_text, merge, run_fix, with_code, RDP, W7};
use crate::util::*;

const RDP1: &str = r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
const SCHANNEL1: &str = r"ControlSet001\Control\SecurityProviders\SCHANNEL\Protocols";
const FW1: &str = r"ControlSet001\Services\SharedAccess\Parameters\FirewallPolicy";
const CBS: &str = r"Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages";

/// A self-signed certificate valid from `start` to `end` (openssl's
/// `YYYYMMDDHHMMSSZ`), DER-encoded, made by `openssl ca` in `dir`.
fn certificate(dir: &Path, start: &str, end: &str) -> Vec<u8> {
    let d = dir.join(format!("ca-{start}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("serial"), "01\n").unwrap();
    std::fs::write(
        d.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(&d)
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "k.pem",
        "-subj",
        "/CN=rdp-host",
        "-out",
        "r.csr",
    ]);
    run(&[
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-selfsign",
        "-keyfile",
        "k.pem",
        "-in",
        "r.csr",
        "-startdate",
        start,
        "-enddate",
        end,
        "-notext",
        "-out",
        "c.pem",
    ]);
    run(&["x509", "-in", "c.pem", "-outform", "der", "-out", "c.der"]);
    std::fs::read(d.join("c.der")).unwrap()
}

/// The registry `Blob` of a certificate: property records (id, 1, length,
/// value): its SHA-1 (id 3) and the encoded certificate (id 32).
fn blob(der: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for (id, v) in [(3u32, sha1::Sha1::digest(der).to_vec()), (32, der.to_vec())] {
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&(v.len() as u32).to_le_bytes());
        b.extend_from_slice(&v);
    }
    b
}

fn reg_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A config directory with W7's SYSTEM and the SOFTWARE fixture, the RDP
/// listener pinned to a certificate from `start` to `end` stored in the MY
/// store; returns the directory and the thumbprint.
fn pinned(start: &str, end: &str) -> (tempfile::TempDir, String) {
    let (t, sys) = config(W7, true);
    let der = certificate(t.path(), start, end);
    let sha = sha1::Sha1::digest(&der);
    let thumb = hex(&sha).to_uppercase();
    merge(
        &sys,
        "SYSTEM",
        RDP1,
        &[&format!("\"SSLCertificateSHA1Hash\"=hex:{}", reg_hex(&sha))],
    );
    merge(
        &t.path().join("SOFTWARE"),
        "SOFTWARE",
        &format!(r"Microsoft\SystemCertificates\MY\Certificates\{thumb}"),
        &[&format!("\"Blob\"=hex:{}", reg_hex(&blob(&der)))],
    );
    (t, thumb)
}

fn row(r: &Value, row: u64) -> Vec<&Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["row"] == row)
        .collect()
}

/// Row 10: an expired pinned certificate is a blocker whose fix (delete the
/// pin) `rdp repair` applies; a valid one is only noted with its dates; a
/// not-yet-valid one is a warning.
#[test]
fn expired_pinned_certificate_is_a_blocker() {
    let (t, thumb) = pinned("20200101000000Z", "20210101000000Z");
    let r = diagnose(t.path());
    let f = with_code(&r, "rdp-certificate-expired");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    let f = f[0];
    assert_eq!(f["severity"], "blocker");
    assert_eq!(f["hive"], "SYSTEM");
    assert_eq!(f["key"], RDP1);
    assert_eq!(f["value"], "SSLCertificateSHA1Hash");
    assert_eq!(f["found"].as_str().unwrap().to_uppercase(), thumb);
    let why = f["explanation"].as_str().unwrap();
    assert!(
        why.contains("2021-01-01T00:00:00Z") && why.contains(&thumb),
        "{why}"
    );
    let cmd = format!(r"ntrescue delete-value SYSTEM 'SYSTEM\{RDP1}' SSLCertificateSHA1Hash");
    assert_eq!(f["fix"]["command"], cmd.as_str());
    assert_eq!(f["fix"]["rdp_repair"], "applied");
    assert!(with_code(&r, "certificate-pin-dangling").is_empty());
    assert!(with_code(&r, "certificate-pinned").is_empty());
    // `rdp repair` removes the pin; the next diagnose has nothing on row 10.
    let rep = ok(run_in(t.path(), &["rdp", "repair", "SYSTEM", "--json"]));
    assert_eq!(rep["outcome"], "written", "{rep:#}");
    let after = diagnose(t.path());
    assert!(row(&after, 10).is_empty(), "{:#?}", row(&after, 10));
    let sys = t.path().join("SYSTEM");
    let o = Command::new("hivexget")
        .args([
            sys.to_str().unwrap(),
            &format!(r"\{RDP1}"),
            "SSLCertificateSHA1Hash",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the pin is still there");
    // The printed fix does the same.
    let (t, _) = pinned("20200101000000Z", "20210101000000Z");
    run_fix(t.path(), &cmd);
    assert!(row(&diagnose(t.path()), 10).is_empty());

    // Valid until 2099 (a GeneralizedTime): noted, with both dates.
    let (t, _) = pinned("20200101000000Z", "20991231235959Z");
    let r = diagnose(t.path());
    let rows = row(&r, 10);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["code"], "certificate-pinned");
    assert_eq!(rows[0]["severity"], "info");
    let why = rows[0]["explanation"].as_str().unwrap();
    assert!(
        why.contains("2020-01-01T00:00:00Z") && why.contains("2099-12-31T23:59:59Z"),
        "{why}"
    );
    // Valid only from 2098: a warning, not repaired.
    let (t, _) = pinned("20980101000000Z", "20991231235959Z");
    let r = diagnose(t.path());
    let f = with_code(&r, "certificate-not-yet-valid");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    assert_eq!(f[0]["severity"], "warning");
    assert!(f[0]["fix"]["rdp_repair"].is_null());
}

/// A SOFTWARE copy whose `CurrentBuild` is `build`.
fn with_build(t: &Path, build: &str) {
    merge(
        &t.join("SOFTWARE"),
        "SOFTWARE",
        r"Microsoft\Windows NT\CurrentVersion",
        &[&format!("\"CurrentBuild\"=\"{build}\"")],
    );
}

/// Row 9 on Windows 7 / Server 2008 R2 (build 7601), whose RDP stack
/// speaks only TLS 1.0 unless KB3080079 is installed: TLS 1.0 disabled for
/// the server is a blocker, fixed by the RDP security layer (`nla disable`);
/// with the update and TLS 1.2 on it is fine. Without TLS 1.2 enabled the
/// release offers only TLS 1.0 (noted).
#[test]
fn tls_versions_on_a_release_that_needs_tls10() {
    let (t, sys) = config(W7, true);
    with_build(t.path(), "7601");
    let r = diagnose(t.path());
    let legacy = with_code(&r, "tls-legacy-only");
    assert!(!legacy.is_empty(), "{:#}", r["findings"]);
    assert_eq!(legacy[0]["severity"], "info");
    assert_eq!(legacy[0]["key"], format!(r"{SCHANNEL1}\TLS 1.2\Server"));
    assert!(with_code(&r, "tls10-server-disabled").is_empty());
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{SCHANNEL1}\TLS 1.0\Server"),
        &["\"Enabled\"=dword:00000000"],
    );
    let r = diagnose(t.path());
    let f: Vec<&Value> = with_code(&r, "tls10-server-disabled")
        .into_iter()
        .filter(|f| f["control_set"] == "ControlSet001")
        .collect();
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    assert_eq!(f[0]["severity"], "blocker");
    assert_eq!(f[0]["hive"], "SYSTEM");
    assert_eq!(f[0]["key"], format!(r"{SCHANNEL1}\TLS 1.0\Server"));
    assert_eq!(f[0]["value"], "Enabled");
    assert!(f[0]["explanation"].as_str().unwrap().contains("KB3080079"));
    assert_eq!(f[0]["fix"]["command"], "ntrescue nla disable SYSTEM");
    assert!(f[0]["fix"]["rdp_repair"].is_null());
    run_fix(t.path(), "ntrescue nla disable SYSTEM");
    assert_eq!(
        hivex_dword(&sys, &format!(r"\ControlSet001\{RDP}"), "SecurityLayer"),
        Some(0)
    );
    let after = diagnose(t.path());
    assert!(with_code(&after, "tls10-server-disabled")
        .iter()
        .all(|f| f["control_set"] != "ControlSet001"));

    // With KB3080079 installed and TLS 1.2 enabled, RDP negotiates TLS 1.2.
    let (t, sys) = config(W7, true);
    with_build(t.path(), "7601");
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{SCHANNEL1}\TLS 1.0\Server"),
        &["\"Enabled\"=dword:00000000"],
    );
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{SCHANNEL1}\TLS 1.2\Server"),
        &[
            "\"Enabled\"=dword:00000001",
            "\"DisabledByDefault\"=dword:00000000",
        ],
    );
    merge(
        &t.path().join("SOFTWARE"),
        "SOFTWARE",
        &format!(r"{CBS}\Package_for_KB3080079~31bf3856ad364e35~amd64~~6.1.1.0"),
        &["\"CurrentState\"=dword:00000070"],
    );
    let r = diagnose(t.path());
    let set1 = |code: &str| -> usize {
        with_code(&r, code)
            .iter()
            .filter(|f| f["control_set"] == "ControlSet001")
            .count()
    };
    assert_eq!(set1("tls10-server-disabled"), 0, "{:#}", r["findings"]);
    assert_eq!(set1("tls-legacy-only"), 0);
    assert_eq!(set1("tls12-server-disabled"), 0);
}

/// Row 9 on a current release: TLS 1.2 off says which versions are left.
#[test]
fn tls12_disabled_names_what_remains() {
    let (t, sys) = config(W7, true); // SOFTWARE: build 20348
    let key = format!(r"{SCHANNEL1}\TLS 1.2\Server");
    merge(&sys, "SYSTEM", &key, &["\"Enabled\"=dword:00000000"]);
    let r = diagnose(t.path());
    let f = with_code(&r, "tls12-server-disabled");
    assert_eq!(f.len(), 1);
    let why = f[0]["explanation"].as_str().unwrap();
    assert!(why.contains("only TLS 1.0 and TLS 1.1 remain"), "{why}");
    assert!(with_code(&r, "tls10-server-disabled").is_empty());
    for v in ["TLS 1.0", "TLS 1.1"] {
        merge(
            &sys,
            "SYSTEM",
            &format!(r"{SCHANNEL1}\{v}\Server"),
            &["\"Enabled\"=dword:00000000"],
        );
    }
    let r = diagnose(t.path());
    let why = with_code(&r, "tls12-server-disabled")[0]["explanation"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("no TLS version is left"), "{why}");
    assert_eq!(
        with_code(&r, "tls12-server-disabled")[0]["severity"],
        "blocker"
    );
}

/// The W7 RDP rule string with `Active=` set to `active`, as a `.reg` line.
fn rdp_rule_line(sys: &Path, active: bool) -> String {
    let rule = peer(
        "hivexget",
        &[
            sys.to_str().unwrap(),
            &format!(r"\{FW1}\FirewallRules"),
            "RemoteDesktop-In-TCP",
        ],
    )
    .trim()
    .to_string();
    let rule = if active {
        rule.replace("|Active=FALSE|", "|Active=TRUE|")
    } else {
        rule.replace("|Active=TRUE|", "|Active=FALSE|")
    };
    format!(
        "\"RemoteDesktop-In-TCP\"=\"{}\"",
        rule.replace('\\', r"\\").replace('"', "\\\"")
    )
}

fn in_set1<'a>(r: &'a Value, code: &str) -> Vec<&'a Value> {
    with_code(r, code)
        .into_iter()
        .filter(|f| f["control_set"] == "ControlSet001")
        .collect()
}

/// Row 16, the MDM (Intune) store: an MDM block rule for 3389, MDM policy
/// that ignores local rules, and MDM turning on a profile that is off
/// locally (Windows 7 corpus hive: firewall on, RDP rule active for 3389).
#[test]
fn mdm_firewall_policy_is_checked() {
    // A block rule beats the active local allow rule.
    let (t, sys) = config(W7, false);
    assert!(in_set1(&diagnose(t.path()), "firewall-mdm-block-rule").is_empty());
    let block = "v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=3389|Name=Block RDP|";
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\Mdm\FirewallRules"),
        &[&format!("\"MdmBlockRdp\"=\"{block}\"")],
    );
    let r = diagnose(t.path());
    let f = in_set1(&r, "firewall-mdm-block-rule");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    assert_eq!(f[0]["severity"], "blocker");
    assert_eq!(f[0]["hive"], "SYSTEM");
    assert_eq!(f[0]["key"], format!(r"{FW1}\Mdm\FirewallRules"));
    assert_eq!(f[0]["value"], "MdmBlockRdp");
    assert_eq!(f[0]["found"], block);
    assert!(f[0]["fix"]["command"].is_null() && f[0]["fix"]["manual"].is_string());

    // MDM ignores local rules and has no rule for 3389; an MDM allow rule
    // settles it.
    let (t, sys) = config(W7, false);
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\Mdm\DomainProfile"),
        &[
            "\"EnableFirewall\"=dword:00000001",
            "\"AllowLocalPolicyMerge\"=dword:00000000",
        ],
    );
    let r = diagnose(t.path());
    let f = in_set1(&r, "firewall-mdm-no-local-rules");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    assert_eq!(f[0]["severity"], "blocker");
    assert_eq!(f[0]["key"], format!(r"{FW1}\Mdm\DomainProfile"));
    assert_eq!(f[0]["value"], "AllowLocalPolicyMerge");
    assert_eq!(f[0]["found"], 0);
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\Mdm\FirewallRules"),
        &["\"MdmAllowRdp\"=\"v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=3389|Name=RDP|\""],
    );
    let r = diagnose(t.path());
    assert!(in_set1(&r, "firewall-mdm-no-local-rules").is_empty());
    assert!(in_set1(&r, "firewall-rule-inactive").is_empty());

    // Every local profile off and the RDP rule inactive: nothing to say...
    let (t, sys) = config(W7, false);
    for p in ["DomainProfile", "StandardProfile", "PublicProfile"] {
        merge(
            &sys,
            "SYSTEM",
            &format!(r"{FW1}\{p}"),
            &["\"EnableFirewall\"=dword:00000000"],
        );
    }
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\FirewallRules"),
        &[&rdp_rule_line(&sys, false)],
    );
    assert!(in_set1(&diagnose(t.path()), "firewall-rule-inactive").is_empty());
    // ...until MDM turns the Public profile on: the inactive rule is a
    // blocker again, and the MDM profile is the one to turn off.
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\Mdm\PublicProfile"),
        &["\"EnableFirewall\"=dword:00000001"],
    );
    let r = diagnose(t.path());
    let f = in_set1(&r, "firewall-rule-inactive");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    assert_eq!(f[0]["fix"]["rdp_repair"], "applied");
    let off: Vec<&str> = in_set1(&r, "firewall-profile-on")
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(off, [format!(r"{FW1}\Mdm\PublicProfile")]);
    // The printed fix makes the rule active; diagnose is clean on row 16.
    run_fix(t.path(), f[0]["fix"]["command"].as_str().unwrap());
    assert!(in_set1(&diagnose(t.path()), "firewall-rule-inactive").is_empty());
    // MDM's default inbound action "allow" (0) drops nothing.
    let (t, sys) = config(W7, false);
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\FirewallRules"),
        &[&rdp_rule_line(&sys, false)],
    );
    assert_eq!(
        in_set1(&diagnose(t.path()), "firewall-rule-inactive").len(),
        1
    );
    for p in ["DomainProfile", "StandardProfile", "PublicProfile"] {
        merge(
            &sys,
            "SYSTEM",
            &format!(r"{FW1}\Mdm\{p}"),
            &["\"DefaultInboundAction\"=dword:00000000"],
        );
    }
    assert!(in_set1(&diagnose(t.path()), "firewall-rule-inactive").is_empty());
}

/// The Group Policy firewall key of a profile in SOFTWARE.
const FW_GP: &str = r"Policies\Microsoft\WindowsFirewall";

fn fw_rule(sys: &Path, name: &str) -> String {
    hivex_text(sys, &format!(r"\{FW1}\FirewallRules"), name)
}

/// The local profiles of ControlSet001 turned off.
fn local_profiles_off(sys: &Path) {
    for p in ["DomainProfile", "StandardProfile", "PublicProfile"] {
        merge(
            sys,
            "SYSTEM",
            &format!(r"{FW1}\{p}"),
            &["\"EnableFirewall\"=dword:00000000"],
        );
    }
}

/// Row 16, Group Policy over the local firewall (Windows 7 corpus hive:
/// RemoteDesktop-In-TCP active for Domain|Private, RemoteDesktop-In-TCP_1
/// for Public inactive). Every local profile off, then Group Policy turns
/// the Public profile on: the inactive Public rule is a blocker whose fix
/// makes it active, and the policy key is named as what turns the profile
/// on. Group Policy turning the profiles off silences a broken rule.
#[test]
fn group_policy_turns_a_profile_on_over_the_local_setting() {
    let (t, sys) = config(W7, true);
    local_profiles_off(&sys);
    let r = diagnose(t.path());
    assert!(
        row(&r, 16)
            .iter()
            .all(|f| f["control_set"] != "ControlSet001"),
        "{:#?}",
        row(&r, 16)
    );
    let sw = t.path().join("SOFTWARE");
    merge(
        &sw,
        "SOFTWARE",
        &format!(r"{FW_GP}\PublicProfile"),
        &["\"EnableFirewall\"=dword:00000001"],
    );
    let r = diagnose(t.path());
    let f = in_set1(&r, "firewall-rule-inactive");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    let f = f[0];
    assert_eq!(f["severity"], "blocker");
    assert_eq!(f["hive"], "SYSTEM");
    assert_eq!(f["key"], format!(r"{FW1}\FirewallRules"));
    let name = f["value"].as_str().unwrap();
    // The rule chosen covers the Public profile (no scope, or Public).
    let found = f["found"].as_str().unwrap();
    assert_eq!(found, fw_rule(&sys, name));
    assert!(found.contains("|Active=FALSE|") && found.contains("|LPort=3389|"));
    assert!(
        !found.contains("|Profile=") || found.contains("|Profile=Public|"),
        "{found}"
    );
    assert!(f["explanation"]
        .as_str()
        .unwrap()
        .contains("Public by Group Policy"));
    let new = found.replace("|Active=FALSE|", "|Active=TRUE|");
    let cmd = format!(
        "ntrescue set SYSTEM 'SYSTEM\\{FW1}\\FirewallRules' {name} --type sz --data '{new}'"
    );
    assert_eq!(f["fix"]["command"], cmd.as_str());
    assert_eq!(f["fix"]["rdp_repair"], "applied");
    // The profile is on by Group Policy: its SOFTWARE key is named, and
    // turning it off there is not part of --firewall-profiles-off.
    let on = with_code(&r, "firewall-profile-on");
    assert_eq!(on.len(), 1, "{on:#?}");
    assert_eq!(on[0]["hive"], "SOFTWARE");
    assert_eq!(on[0]["key"], format!(r"{FW_GP}\PublicProfile"));
    assert!(on[0]["fix"]["rdp_repair"].is_null());
    run_fix(t.path(), &cmd);
    assert_eq!(fw_rule(&sys, name), new);
    let r = diagnose(t.path());
    assert!(
        row(&r, 16)
            .iter()
            .all(|f| f["control_set"] != "ControlSet001"),
        "{:#?}",
        row(&r, 16)
    );

    // The other way: the RDP rules broken with every local profile on is a
    // blocker; Group Policy turning the three profiles off (Vista and later
    // write the Private one as PrivateProfile) leaves nothing to drop.
    let (t, sys) = config(W7, true);
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\FirewallRules"),
        &[&rdp_rule_line(&sys, false)],
    );
    assert_eq!(
        in_set1(&diagnose(t.path()), "firewall-rule-inactive").len(),
        1
    );
    let sw = t.path().join("SOFTWARE");
    for p in ["DomainProfile", "PrivateProfile", "PublicProfile"] {
        merge(
            &sw,
            "SOFTWARE",
            &format!(r"{FW_GP}\{p}"),
            &["\"EnableFirewall\"=dword:00000000"],
        );
    }
    let r = diagnose(t.path());
    assert!(row(&r, 16).is_empty(), "{:#?}", row(&r, 16));
    // A Group Policy default inbound action "allow" drops nothing either.
    let (t, sys) = config(W7, true);
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\FirewallRules"),
        &[&rdp_rule_line(&sys, false)],
    );
    let sw = t.path().join("SOFTWARE");
    for p in ["DomainProfile", "PrivateProfile", "PublicProfile"] {
        merge(
            &sw,
            "SOFTWARE",
            &format!(r"{FW_GP}\{p}"),
            &["\"DefaultInboundAction\"=dword:00000000"],
        );
    }
    assert!(row(&diagnose(t.path()), 16).is_empty());
}

/// Row 16, a rule's `Profile=` scope: the clean Windows 7 hive allows 3389
/// in the Domain and Private profiles only while the Public profile is on
/// (its Public rule is inactive): a warning naming the Public profile, whose
/// fix makes that rule active. `rdp repair` leaves it (a warning).
#[test]
fn rule_scoped_to_other_profiles_is_a_warning_naming_the_profile() {
    let (t, sys) = config(W7, false);
    let r = diagnose(t.path());
    let f = in_set1(&r, "firewall-rule-scope");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    let f = f[0];
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["hive"], "SYSTEM");
    assert_eq!(f["key"], format!(r"{FW1}\FirewallRules"));
    let why = f["explanation"].as_str().unwrap();
    assert!(why.contains("the Public profile"), "{why}");
    assert!(!why.contains("Domain") && !why.contains("Private"), "{why}");
    let name = f["value"].as_str().unwrap();
    let found = fw_rule(&sys, name);
    assert_eq!(f["found"], found.as_str());
    assert!(found.contains("|Active=FALSE|"));
    assert!(!found.contains("|Profile=") || found.contains("|Profile=Public|"));
    let new = found.replace("|Active=FALSE|", "|Active=TRUE|");
    let cmd = format!(
        "ntrescue set SYSTEM 'SYSTEM\\{FW1}\\FirewallRules' {name} --type sz --data '{new}'"
    );
    assert_eq!(f["fix"]["command"], cmd.as_str());
    assert!(f["fix"]["rdp_repair"].is_null());
    assert!(codes(&r, "blocker").is_empty());
    run_fix(t.path(), &cmd);
    assert_eq!(fw_rule(&sys, name), new);
    assert!(in_set1(&diagnose(t.path()), "firewall-rule-scope").is_empty());
}

/// Row 16, block rules: an active inbound block rule for 3389 in the local
/// store (made from Windows' own RDP rule string: the same fields, Action
/// Block) is a blocker although the allow rule is active; its fix makes it
/// inactive. The same rule in the Group Policy store is a blocker on
/// SOFTWARE with a manual fix. A block rule for another port is nothing.
#[test]
fn block_rule_for_the_rdp_port_is_a_blocker() {
    let (t, sys) = config(W7, false);
    let allow = fw_rule(&sys, "RemoteDesktop-In-TCP");
    assert!(allow.contains("|Action=Allow|Active=TRUE|"), "{allow}");
    let block = allow.replace("|Action=Allow|", "|Action=Block|").replace(
        "|Name=@FirewallAPI.dll,-28753|",
        "|Name=Block Remote Desktop|",
    );
    let other = block.replace("|LPort=3389|", "|LPort=3390-3399|");
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\FirewallRules"),
        &[
            &format!("\"Block-RDP-In-TCP\"=\"{block}\""),
            &format!("\"Block-Other-In-TCP\"=\"{other}\""),
        ],
    );
    let r = diagnose(t.path());
    let f = in_set1(&r, "firewall-block-rule");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    let f = f[0];
    assert_eq!(f["severity"], "blocker");
    assert_eq!(f["hive"], "SYSTEM");
    assert_eq!(f["key"], format!(r"{FW1}\FirewallRules"));
    assert_eq!(f["value"], "Block-RDP-In-TCP");
    assert_eq!(f["found"], block.as_str());
    assert!(f["explanation"]
        .as_str()
        .unwrap()
        .contains("Domain, Private profiles"));
    let off = block.replace("|Active=TRUE|", "|Active=FALSE|");
    let cmd = format!(
        "ntrescue set SYSTEM 'SYSTEM\\{FW1}\\FirewallRules' Block-RDP-In-TCP --type sz --data '{off}'"
    );
    assert_eq!(f["fix"]["command"], cmd.as_str());
    assert!(f["fix"]["rdp_repair"].is_null());
    assert!(!in_set1(&r, "firewall-profile-on").is_empty());
    run_fix(t.path(), &cmd);
    assert_eq!(fw_rule(&sys, "Block-RDP-In-TCP"), off);
    let r = diagnose(t.path());
    assert!(in_set1(&r, "firewall-block-rule").is_empty());
    assert!(in_set1(&r, "firewall-profile-on").is_empty());

    // The same block rule deployed by Group Policy.
    let (t, _) = config(W7, true);
    let sw = t.path().join("SOFTWARE");
    merge(
        &sw,
        "SOFTWARE",
        &format!(r"{FW_GP}\FirewallRules"),
        &[&format!("\"Block-RDP-In-TCP\"=\"{block}\"")],
    );
    let r = diagnose(t.path());
    let f = with_code(&r, "firewall-block-rule");
    assert_eq!(f.len(), 1, "once, not per control set: {:#}", r["findings"]);
    assert_eq!(f[0]["hive"], "SOFTWARE");
    assert_eq!(f[0]["key"], format!(r"{FW_GP}\FirewallRules"));
    assert_eq!(f[0]["value"], "Block-RDP-In-TCP");
    assert!(f[0]["fix"]["command"].is_null() && f[0]["fix"]["manual"].is_string());
}
