// SPDX-License-Identifier: GPL-2.0-or-later
//! `diagnose` and `rdp repair` on real corpus hives: the findings of the
//! clean hives pinned (checked by hand against the values), then one case
//! per row of rdp-causes.md: the value broken with hivexregedit, the
//! finding asserted (code, hive, key, value, fix), the fix command run as
//! printed, `diagnose` clean for that row again and hivex reading the fixed
//! value.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::*;

pub(crate) const W7: &str = "system/win7sp1-x86__regipy__SYSTEM";
pub(crate) const W10: &str = "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";
pub(crate) const XP: &str = "system/winxpsp3-x86__bitcurator__SYSTEM";
pub(crate) const MINIMAL: &str = "system/win10-10240-minimal__qthivex__SYSTEM";
pub(crate) const TS: &str = r"Control\Terminal Server";
pub(crate) const RDP: &str = r"Control\Terminal Server\WinStations\RDP-Tcp";
pub(crate) const POLICY: &str = r"Policies\Microsoft\Windows NT\Terminal Services";

/// A config directory holding a copy of corpus SYSTEM `rel` (with its
/// logs) and, optionally, a copy of the generated SOFTWARE fixture (the
/// corpus has no SOFTWARE hive).
pub(crate) fn config(rel: &str, software: bool) -> (tempfile::TempDir, PathBuf) {
    let t = tmp();
    let sys = copy_to(&corpus_file(rel), t.path(), "SYSTEM");
    for l in ["LOG1", "LOG2"] {
        let p = corpus().join(format!("{rel}.{l}"));
        if p.exists() {
            copy_to(&p, t.path(), &format!("SYSTEM.{l}"));
        }
    }
    if software {
        let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/software.hive");
        copy_to(&f, t.path(), "SOFTWARE");
    }
    (t, sys)
}

/// `diagnose SYSTEM --json` in `dir`.
pub(crate) fn diagnose(dir: &Path) -> Value {
    ok(run_in(dir, &["diagnose", "SYSTEM", "--json"]))
}

pub(crate) fn with_code<'a>(r: &'a Value, code: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

pub(crate) fn codes(r: &Value, severity: &str) -> Vec<String> {
    let mut c: Vec<String> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect();
    c.sort();
    c.dedup();
    c
}

/// Merges `.reg` lines under `[HKEY_LOCAL_MACHINE\<prefix>\<key>]` (the
/// key and its missing parents created) into
/// `hive` with hivexregedit (an independent writer).
pub(crate) fn merge(hive: &Path, prefix: &str, key: &str, lines: &[&str]) {
    // hivexregedit creates a key only under an existing parent: every
    // ancestor gets its own (empty) section first.
    let mut text = "Windows Registry Editor Version 5.00\r\n".to_string();
    let parts: Vec<&str> = key.split('\\').collect();
    for i in 1..=parts.len() {
        text.push_str(&format!(
            "\r\n[HKEY_LOCAL_MACHINE\\{prefix}\\{}]\r\n",
            parts[..i].join("\\")
        ));
    }
    for l in lines {
        text.push_str(l);
        text.push_str("\r\n");
    }
    let reg = hive.with_extension("reg");
    std::fs::write(&reg, text).unwrap();
    sh(
        "hivexregedit",
        &[
            "--merge",
            "--prefix",
            &format!("HKEY_LOCAL_MACHINE\\{prefix}"),
            hive.to_str().unwrap(),
            reg.to_str().unwrap(),
        ],
    );
}

/// Runs a fix command line as diagnose printed it (`ntrescue ...`).
pub(crate) fn run_fix(dir: &Path, cmd: &str) {
    let line = cmd
        .strip_prefix("ntrescue ")
        .unwrap_or_else(|| panic!("not an ntrescue command: {cmd}"));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' {line}", bin()))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `hivexget HIVE KEY VALUE` as text.
pub(crate) fn hivex_text(hive: &Path, key: &str, value: &str) -> String {
    peer("hivexget", &[hive.to_str().unwrap(), key, value])
        .trim()
        .to_string()
}

/// One broken value and what diagnose must say about it.
pub(crate) struct Case {
    /// Key under the hive root (control set included).
    pub key: &'static str,
    /// `.reg` lines.
    pub lines: &'static [&'static str],
    pub code: &'static str,
    pub severity: &'static str,
    pub hive: &'static str,
    pub value: Option<&'static str>,
    /// Expected fix command after "ntrescue " with SOURCE for the source
    /// (`None`: a manual fix).
    pub fix: Option<&'static str>,
    /// The value hivex must read after the fix.
    pub fixed: Option<&'static str>,
}

pub(crate) fn check_case(base: &str, software: bool, c: &Case) {
    let (t, sys) = config(base, software);
    let hive_file = if c.hive == "SOFTWARE" {
        t.path().join("SOFTWARE")
    } else {
        sys.clone()
    };
    merge(&hive_file, c.hive, c.key, c.lines);
    let r = diagnose(t.path());
    let f = with_code(&r, c.code);
    let f = f
        .iter()
        .find(|f| f["key"] == c.key)
        .unwrap_or_else(|| panic!("{}: no finding on {}: {:#}", c.code, c.key, r["findings"]));
    assert_eq!(f["severity"], c.severity, "{}", c.code);
    assert_eq!(f["hive"], c.hive, "{}", c.code);
    assert_eq!(f["value"].as_str(), c.value, "{}", c.code);
    assert!(f.get("last_write").is_some(), "{}: {f:#}", c.code);
    assert!(!f["explanation"].as_str().unwrap().is_empty());
    let want = c
        .fix
        .map(|x| format!("ntrescue {}", x.replace("SOURCE", "SYSTEM")));
    assert_eq!(f["fix"]["command"].as_str(), want.as_deref(), "{}", c.code);
    let Some(cmd) = want else {
        assert!(f["fix"]["manual"].is_string(), "{}", c.code);
        return;
    };
    run_fix(t.path(), &cmd);
    let after = diagnose(t.path());
    assert!(
        with_code(&after, c.code).iter().all(|g| g["key"] != c.key),
        "{} still reported after `{cmd}`",
        c.code
    );
    if let (Some(v), Some(fixed)) = (c.value, c.fixed) {
        assert_eq!(
            hivex_text(&hive_file, &format!(r"\{}", c.key), v),
            fixed,
            "{}",
            c.code
        );
    }
}

/// The clean corpus hives, each finding checked by hand once.
#[test]
fn clean_corpus_hives_give_only_real_blockers() {
    // Windows 7 SP1: RDP on (fDenyTSConnections 0, rule RemoteDesktop-In-TCP
    // active for 3389), TermService manual; two interfaces with static
    // addresses (10.3.58.5 and 192.168.1.123) in both sets; NLA off (0/1).
    // Every profile is on and that rule is scoped Domain|Private; the
    // Public one (RemoteDesktop-In-TCP_1) is inactive: RDP is dropped on a
    // network Windows puts in the Public profile (a warning per set).
    let (t, _) = config(W7, false);
    let r = diagnose(t.path());
    assert_eq!(r["verdict"]["rdp"], "may-fail");
    assert_eq!(codes(&r, "blocker"), Vec::<String>::new());
    assert_eq!(codes(&r, "warning"), ["firewall-rule-scope", "static-ip"]);
    assert_eq!(with_code(&r, "static-ip").len(), 4);
    let scope = with_code(&r, "firewall-rule-scope");
    assert_eq!(scope.len(), 2);
    assert!(scope.iter().all(|f| f["value"] == "RemoteDesktop-In-TCP_1"
        && f["explanation"]
            .as_str()
            .unwrap()
            .contains("the Public profile")));
    assert_eq!(codes(&r, "info"), ["nla-off"]);
    assert_eq!(
        r["control_sets"],
        serde_json::json!(["ControlSet001", "ControlSet002"])
    );
    assert_eq!(r["boot_control_set"], "ControlSet001");
    // Windows 10 1709 client (dirty, replayed from its logs): RDP off as
    // clients ship it: fDenyTSConnections 1 and the RDP rule Active=FALSE.
    let (t, _) = config(W10, false);
    let r = diagnose(t.path());
    assert_eq!(r["verdict"]["rdp"], "fail");
    assert_eq!(
        codes(&r, "blocker"),
        ["firewall-rule-inactive", "rdp-denied"]
    );
    assert_eq!(r["hives"][0]["view"], "after-replay");
    let rule = with_code(&r, "firewall-rule-inactive")[0];
    assert_eq!(rule["value"], "RemoteDesktop-UserMode-In-TCP");
    assert!(rule["found"].as_str().unwrap().contains("|Active=FALSE|"));
    assert_eq!(with_code(&r, "pending-file-renames").len(), 1);
    // Windows XP SP3: RDP denied; the SP2 firewall's Standard profile is on
    // and opens only VNC ports (5900, 5800, 3600), not 3389.
    let (t, _) = config(XP, false);
    let r = diagnose(t.path());
    assert_eq!(codes(&r, "blocker"), ["firewall-no-rdp-rule", "rdp-denied"]);
    let fw = with_code(&r, "firewall-no-rdp-rule");
    assert!(fw[0]["key"]
        .as_str()
        .unwrap()
        .ends_with(r"StandardProfile\GloballyOpenPorts\List"));
    assert_eq!(codes(&r, "info"), ["firewall-profile-on"]);
    // The minimal Windows 10 hive has no listener and no TermService.
    let (t, _) = config(MINIMAL, false);
    let r = diagnose(t.path());
    assert_eq!(
        codes(&r, "blocker"),
        ["listener-missing", "rdp-denied", "termservice-missing"]
    );
    // The rows it cannot answer are named.
    let rows: Vec<u64> = r["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| {
            n["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
        })
        .collect();
    for row in [2, 7, 17, 18, 19, 20, 21, 22, 29, 31] {
        assert!(rows.contains(&row), "row {row} not listed as not checked");
    }
}

/// The account findings of the clean corpus SAM and SECURITY hives (beside
/// the Windows 7 SYSTEM), each checked by hand against `account list` and
/// the hives: Windows 10 and 11 ship the built-in Administrator disabled
/// and their one user with a blank password (refused over the network), so
/// no local account may log on — a real blocker; the domain member has the
/// same local accounts, but Domain Admins in its local Administrators may
/// log on: no blocker there. Guest, DefaultAccount and WDAGUtilityAccount
/// (shipped disabled) are not reported.
#[test]
fn clean_corpus_accounts_give_only_real_blockers() {
    /// (code, found, severity) of each finding of rows 17–23.
    type Pinned = &'static [(&'static str, &'static str, &'static str)];
    let pinned: [(&str, Pinned); 3] = [
        (
            "accounts/win10__rathbunvm",
            &[
                ("account-blank-password", "Administrator", "warning"),
                ("account-blank-password", "AndrewRathbun", "warning"),
                ("account-disabled", "Administrator", "warning"),
                ("no-account-may-rdp", "null", "blocker"),
            ],
        ),
        (
            "accounts/win11__goldpaper",
            &[
                ("account-blank-password", "Administrator", "warning"),
                ("account-blank-password", "AndrewRathbun", "warning"),
                ("account-disabled", "Administrator", "warning"),
                ("no-account-may-rdp", "null", "blocker"),
            ],
        ),
        (
            "accounts/win10-domain__belkasoftctf",
            &[
                ("account-blank-password", "Administrator", "warning"),
                ("account-blank-password", "User", "warning"),
                ("account-disabled", "Administrator", "warning"),
                (
                    "domain-accounts-may-rdp",
                    "[\"S-1-5-21-3064058907-2826536974-2889819764-512\"]",
                    "info",
                ),
            ],
        ),
    ];
    for (acc, want) in pinned {
        let (_t, d) = super::diagnose_accounts::accounts_config(acc);
        let r = diagnose(&d);
        let mut got: Vec<(String, String, String)> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| (17..=23).contains(&f["row"].as_u64().unwrap()))
            .map(|f| {
                let found = match &f["found"] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                (
                    f["code"].as_str().unwrap().to_string(),
                    found,
                    f["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want, "{acc}");
        assert!(r["not_checked"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n["rows"].as_array().unwrap().contains(&Value::from(17))));
    }
}

#[test]
fn system_rows_are_found_fixed_and_read_back() {
    let cases = [
        Case {
            key: r"ControlSet001\Control\Terminal Server",
            lines: &["\"fDenyTSConnections\"=dword:00000001"],
            code: "rdp-denied",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("fDenyTSConnections"),
            fix: Some("rdp enable SOURCE"),
            fixed: Some("0"),
        },
        Case {
            key: r"ControlSet002\Control\Terminal Server",
            lines: &["\"TSEnabled\"=dword:00000000"],
            code: "ts-disabled",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("TSEnabled"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet002\Control\Terminal Server' TSEnabled --type dword --data 1",
            ),
            fixed: Some("1"),
        },
        Case {
            key: r"ControlSet001\Control\Terminal Server",
            lines: &["\"TSServerDrainMode\"=dword:00000001"],
            code: "ts-drain-mode",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("TSServerDrainMode"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\Terminal Server' TSServerDrainMode --type dword --data 0",
            ),
            fixed: Some("0"),
        },
        Case {
            key: r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp",
            lines: &["\"fEnableWinStation\"=dword:00000000"],
            code: "listener-disabled",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("fEnableWinStation"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp' fEnableWinStation --type dword --data 1",
            ),
            fixed: Some("1"),
        },
        Case {
            key: r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp",
            lines: &["\"fLogonDisabled\"=dword:00000001"],
            code: "listener-logon-disabled",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("fLogonDisabled"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp' fLogonDisabled --type dword --data 0",
            ),
            fixed: Some("0"),
        },
        Case {
            key: r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp",
            lines: &["\"PortNumber\"=dword:00000d3e"],
            code: "port-nondefault",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("PortNumber"),
            fix: Some("rdp port SOURCE --reset"),
            fixed: Some("3389"),
        },
        Case {
            key: r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp",
            lines: &["\"MinEncryptionLevel\"=dword:00000004"],
            code: "encryption-level-high",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("MinEncryptionLevel"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp' MinEncryptionLevel --type dword --data 2",
            ),
            fixed: Some("2"),
        },
        Case {
            key: r"ControlSet001\Control\Lsa\FIPSAlgorithmPolicy",
            lines: &["\"Enabled\"=dword:00000001"],
            code: "fips-enabled",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("Enabled"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\Lsa\FIPSAlgorithmPolicy' Enabled --type dword --data 0",
            ),
            fixed: Some("0"),
        },
        Case {
            key: r"ControlSet001\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server",
            lines: &["\"Enabled\"=dword:00000000"],
            code: "tls12-server-disabled",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("Enabled"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server' Enabled --type dword --data 1",
            ),
            fixed: Some("1"),
        },
        Case {
            key: r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp",
            lines: &["\"MaxInstanceCount\"=dword:00000000"],
            code: "max-instances-limited",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("MaxInstanceCount"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp' MaxInstanceCount --type dword --data 4294967295",
            ),
            fixed: Some("-1"), /* hivexget prints DWORDs signed */
        },
        Case {
            key: r"ControlSet001\Services\TermService",
            lines: &["\"Start\"=dword:00000004"],
            code: "termservice-disabled",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("Start"),
            fix: Some("service SOURCE TermService --start manual"),
            fixed: Some("3"),
        },
        Case {
            key: r"ControlSet001\Services\TermService\Parameters",
            lines: &["\"ServiceDll\"=str(2):\"%SystemRoot%\\\\System32\\\\rdpwrap.dll\""],
            code: "termservice-dll-replaced",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("ServiceDll"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"ControlSet001\Services\RpcSs",
            lines: &["\"Start\"=dword:00000004"],
            code: "dependency-disabled",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("Start"),
            fix: Some("service SOURCE RpcSs --start automatic"),
            fixed: Some("2"),
        },
        Case {
            key: r"ControlSet002\Services\SessionEnv",
            lines: &["\"Start\"=dword:00000004"],
            code: "dependency-disabled",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("Start"),
            fix: Some("service SOURCE SessionEnv --start manual"),
            fixed: Some("3"),
        },
        Case {
            key: r"ControlSet001\Services\Dhcp",
            lines: &["\"Start\"=dword:00000004"],
            code: "network-service-disabled",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("Start"),
            fix: Some("service SOURCE Dhcp --start automatic"),
            fixed: Some("2"),
        },
        Case {
            key: r"ControlSet001\Services\SharedAccess\Parameters\FirewallPolicy\PublicProfile",
            lines: &["\"DoNotAllowExceptions\"=dword:00000001"],
            code: "firewall-no-exceptions",
            severity: "blocker",
            hive: "SYSTEM",
            value: Some("DoNotAllowExceptions"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Services\SharedAccess\Parameters\FirewallPolicy\PublicProfile' DoNotAllowExceptions --type dword --data 0",
            ),
            fixed: Some("0"),
        },
        Case {
            key: r"ControlSet001\Control\Lsa",
            lines: &["\"LimitBlankPasswordUse\"=dword:00000000"],
            code: "blank-passwords-allowed",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("LimitBlankPasswordUse"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\Lsa' LimitBlankPasswordUse --type dword --data 1",
            ),
            fixed: Some("1"),
        },
        Case {
            key: r"ControlSet001\Control\Lsa\MSV1_0",
            lines: &["\"RestrictReceivingNTLMTraffic\"=dword:00000002"],
            code: "ntlm-incoming-denied",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("RestrictReceivingNTLMTraffic"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"ControlSet001\Control\Lsa",
            lines: &["\"disabledomaincreds\"=dword:00000001"],
            code: "domain-creds-disabled",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("disabledomaincreds"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Control\Lsa' disabledomaincreds --type dword --data 0",
            ),
            fixed: Some("0"),
        },
        Case {
            key: r"ControlSet001\Control\Lsa",
            lines: &["\"DisableRestrictedAdmin\"=dword:00000000"],
            code: "restricted-admin-enabled",
            severity: "info",
            hive: "SYSTEM",
            value: Some("DisableRestrictedAdmin"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"ControlSet001\Control\Terminal Server\RCM\Licensing Core",
            lines: &["\"LicensingMode\"=dword:00000004"],
            code: "licensing-no-server",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("LicensingMode"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"ControlSet001\Services\NTDS\Parameters",
            lines: &["\"DSA Database file\"=str(1):\"C:\\\\Windows\\\\NTDS\\\\ntds.dit\""],
            code: "domain-controller",
            severity: "info",
            hive: "SYSTEM",
            value: Some("DSA Database file"),
            fix: None,
            fixed: None,
        },
        Case {
            key: "Setup",
            lines: &["\"SystemSetupInProgress\"=dword:00000001"],
            code: "setup-in-progress",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("SystemSetupInProgress"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"ControlSet001\Control\TimeZoneInformation",
            lines: &["\"RealTimeIsUniversal\"=dword:00000001"],
            code: "rtc-universal",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("RealTimeIsUniversal"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"ControlSet001\Services\Tcpip\Parameters\Interfaces\{698E50A9-4F58-4D86-B61D-F42E58DCACF6}",
            lines: &[],
            code: "static-ip",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("EnableDHCP"),
            fix: Some(
                r"set SOURCE 'SYSTEM\ControlSet001\Services\Tcpip\Parameters\Interfaces\{698E50A9-4F58-4D86-B61D-F42E58DCACF6}' EnableDHCP --type dword --data 1",
            ),
            fixed: Some("1"),
        },
    ];
    for c in &cases {
        check_case(W7, false, c);
    }
}

#[test]
fn software_rows_are_found_fixed_and_read_back() {
    let cases = [
        Case {
            key: POLICY,
            lines: &["\"fDenyTSConnections\"=dword:00000001"],
            code: "rdp-denied-by-policy",
            severity: "blocker",
            hive: "SOFTWARE",
            value: Some("fDenyTSConnections"),
            fix: Some("rdp enable SOURCE --include-policy"),
            fixed: None,
        },
        Case {
            key: r"Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters",
            lines: &["\"AllowEncryptionOracle\"=dword:00000000"],
            code: "credssp-force-updated-clients",
            severity: "warning",
            hive: "SOFTWARE",
            value: Some("AllowEncryptionOracle"),
            fix: Some(
                r"set SOURCE 'SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters' AllowEncryptionOracle --type dword --data 1",
            ),
            fixed: Some("1"),
        },
        Case {
            key: POLICY,
            lines: &["\"MaxInstanceCount\"=dword:00000002"],
            code: "max-instances-policy",
            severity: "warning",
            hive: "SOFTWARE",
            value: Some("MaxInstanceCount"),
            fix: Some(
                r"delete-value SOURCE 'SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services' MaxInstanceCount",
            ),
            fixed: None,
        },
        Case {
            key: r"Policies\Microsoft\WindowsFirewall\PublicProfile",
            lines: &["\"AllowLocalPolicyMerge\"=dword:00000000"],
            code: "firewall-policy-no-local-rules",
            severity: "warning",
            hive: "SOFTWARE",
            value: Some("AllowLocalPolicyMerge"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"Microsoft\Windows NT\CurrentVersion\Winlogon",
            lines: &["\"Shell\"=str(1):\"cmd.exe /c evil.bat\""],
            code: "winlogon-shell-replaced",
            severity: "warning",
            hive: "SOFTWARE",
            value: Some("Shell"),
            fix: None,
            fixed: None,
        },
        // A second program after userinit.exe (a known persistence point).
        Case {
            key: r"Microsoft\Windows NT\CurrentVersion\Winlogon",
            lines: &["\"Userinit\"=str(1):\"C:\\\\Windows\\\\system32\\\\userinit.exe,C:\\\\x\\\\evil.exe,\""],
            code: "winlogon-userinit-replaced",
            severity: "warning",
            hive: "SOFTWARE",
            value: Some("Userinit"),
            fix: None,
            fixed: None,
        },
    ];
    for c in &cases {
        check_case(W7, true, c);
    }
    // The policy value is gone after `rdp enable --include-policy`.
    let (t, _) = config(W7, true);
    let sw = t.path().join("SOFTWARE");
    merge(
        &sw,
        "SOFTWARE",
        POLICY,
        &["\"fDenyTSConnections\"=dword:00000001"],
    );
    run_fix(t.path(), "ntrescue rdp enable SYSTEM --include-policy");
    assert_eq!(
        hivex_dword(&sw, &format!(r"\{POLICY}"), "fDenyTSConnections"),
        None
    );
}

/// Row 10: a pinned certificate that is in no machine store is a blocker;
/// the fix deletes the pin.
#[test]
fn dangling_certificate_pin_is_removed() {
    let c = Case {
        key: r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp",
        lines: &["\"SSLCertificateSHA1Hash\"=hex:0a,1b,2c,3d,4e,5f,60,71,82,93,a4,b5,c6,d7,e8,f9,00,11,22,33"],
        code: "certificate-pin-dangling",
        severity: "blocker",
        hive: "SYSTEM",
        value: Some("SSLCertificateSHA1Hash"),
        fix: Some(r"delete-value SOURCE 'SYSTEM\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp' SSLCertificateSHA1Hash"),
        fixed: None,
    };
    check_case(W7, true, &c);
    // With a store key for the certificate it is not dangling; a `Blob`
    // that is no certificate is a warning (valid ones: diagnose_rows).
    let (t, sys) = config(W7, true);
    merge(&sys, "SYSTEM", c.key, c.lines);
    merge(
        &t.path().join("SOFTWARE"),
        "SOFTWARE",
        r"Microsoft\SystemCertificates\MY\Certificates\0A1B2C3D4E5F60718293A4B5C6D7E8F900112233",
        &["\"Blob\"=hex:00"],
    );
    let r = diagnose(t.path());
    assert!(with_code(&r, "certificate-pin-dangling").is_empty());
    let f = with_code(&r, "certificate-unreadable");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    assert_eq!(f[0]["severity"], "warning");
    assert!(f[0]["explanation"].as_str().unwrap().contains("Blob"));
}

/// Row 5 cross-check: the port moved while the firewall rule still allows
/// 3389 is a blocker on the rule, fixed by `rdp port --reset`.
#[test]
fn port_changed_but_rule_still_on_3389() {
    let (t, sys) = config(W7, false);
    merge(
        &sys,
        "SYSTEM",
        &format!(r"ControlSet001\{RDP}"),
        &["\"PortNumber\"=dword:00000d3e"],
    );
    let r = diagnose(t.path());
    let m = with_code(&r, "firewall-port-mismatch");
    assert_eq!(m.len(), 1, "{:#}", r["findings"]);
    assert_eq!(m[0]["severity"], "blocker");
    assert_eq!(m[0]["control_set"], "ControlSet001");
    assert_eq!(m[0]["fix"]["command"], "ntrescue rdp port SYSTEM --reset");
    assert_eq!(m[0]["fix"]["rdp_repair"], "--reset-port");
    // rdp repair leaves an intended port alone without --reset-port...
    let rep = ok(run_in(t.path(), &["rdp", "repair", "SYSTEM", "--json"]));
    assert_eq!(rep["outcome"], "nothing-to-do");
    // ...and resets it with the flag.
    let rep = ok(run_in(
        t.path(),
        &["rdp", "repair", "SYSTEM", "--reset-port", "--json"],
    ));
    assert_eq!(rep["outcome"], "written");
    assert_eq!(
        hivex_dword(&sys, &format!(r"\ControlSet001\{RDP}"), "PortNumber"),
        Some(3389)
    );
    assert!(with_code(&diagnose(t.path()), "firewall-port-mismatch").is_empty());
}

/// `rdp repair` fixes every low-risk blocker in one backed-up edit; the
/// next diagnose has no blocker; hivex reads the fixed values.
#[test]
fn rdp_repair_fixes_every_low_risk_blocker_in_one_run() {
    let (t, sys) = config(W10, false);
    // Break more on top of what the client hive ships, with ntrescue's own
    // `set` (the hive is dirty: its logs are replayed first, not dropped).
    for (key, value, data) in [
        (
            r"SYSTEM\ControlSet001\Services\TermService".to_string(),
            "Start",
            "4",
        ),
        (
            format!(r"SYSTEM\ControlSet001\{RDP}"),
            "fEnableWinStation",
            "0",
        ),
    ] {
        ok(run_in(
            t.path(),
            &[
                "set", "SYSTEM", &key, value, "--type", "dword", "--data", data, "--json",
            ],
        ));
    }
    let before = diagnose(t.path());
    assert_eq!(
        codes(&before, "blocker"),
        [
            "firewall-rule-inactive",
            "listener-disabled",
            "rdp-denied",
            "termservice-disabled"
        ]
    );
    let dry = ok(run_in(
        t.path(),
        &["rdp", "repair", "SYSTEM", "--dry-run", "--json"],
    ));
    assert_eq!(dry["outcome"], "dry-run");
    assert_eq!(dry["changes"].as_array().unwrap().len(), 4);
    let rep = ok(run_in(t.path(), &["rdp", "repair", "SYSTEM", "--json"]));
    assert_eq!(rep["outcome"], "written", "{rep:#}");
    assert!(rep["backup"].is_string());
    let after = diagnose(t.path());
    assert_eq!(after["verdict"]["blockers"], 0, "{:#}", after["findings"]);
    let k = r"\ControlSet001";
    assert_eq!(
        hivex_dword(&sys, &format!(r"{k}\{TS}"), "fDenyTSConnections"),
        Some(0)
    );
    assert_eq!(
        hivex_dword(&sys, &format!(r"{k}\Services\TermService"), "Start"),
        Some(3)
    );
    assert_eq!(
        hivex_dword(&sys, &format!(r"{k}\{RDP}"), "fEnableWinStation"),
        Some(1)
    );
    let rule = hivex_text(
        &sys,
        &format!(r"{k}\Services\SharedAccess\Parameters\FirewallPolicy\FirewallRules"),
        "RemoteDesktop-UserMode-In-TCP",
    );
    assert!(
        rule.contains("|Active=TRUE|") && rule.contains("|LPort=3389|"),
        "{rule}"
    );
    // A second run has nothing to do.
    let again = ok(run_in(t.path(), &["rdp", "repair", "SYSTEM", "--json"]));
    assert_eq!(again["outcome"], "nothing-to-do");
}

/// `nla enable` restores what the last `nla disable` recorded (SecurityLayer
/// 2 stays 2), and without a bundle writes the version's defaults.
#[test]
fn nla_enable_restores_the_values_before_disable() {
    let (t, sys) = config(W10, false);
    let k = format!(r"\ControlSet001\{RDP}");
    assert_eq!(hivex_dword(&sys, &k, "SecurityLayer"), Some(2));
    ok(run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]));
    assert_eq!(hivex_dword(&sys, &k, "SecurityLayer"), Some(0));
    let r = ok(run_in(t.path(), &["nla", "enable", "SYSTEM", "--json"]));
    assert!(
        r["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("recorded before the last `nla disable`")),
        "{r:#}"
    );
    for (v, want) in [
        ("SecurityLayer", 2),
        ("UserAuthentication", 1),
        ("fAllowSecProtocolNegotiation", 1),
    ] {
        assert_eq!(hivex_dword(&sys, &k, v), Some(want), "{v}");
    }
    // Without the bundle: Windows Server 2022 defaults from SOFTWARE (2/1/1).
    let (t, sys) = config(W7, true);
    let k = format!(r"\ControlSet001\{RDP}");
    ok(run_in(
        t.path(),
        &[
            "nla",
            "enable",
            "SYSTEM",
            "--json",
            "--backup-dir",
            "elsewhere",
        ],
    ));
    assert_eq!(hivex_dword(&sys, &k, "SecurityLayer"), Some(2));
    assert_eq!(hivex_dword(&sys, &k, "UserAuthentication"), Some(1));
}

/// `inspect` and `diagnose` agree: a disabled TermService is "RDP will
/// fail" in both.
#[test]
fn inspect_verdict_comes_from_the_diagnose_rules() {
    let (t, sys) = config(W7, false);
    let i = ok(run_in(t.path(), &["inspect", "SYSTEM", "--json"]));
    assert_eq!(i["verdict"]["rdp_enabled"], true);
    merge(
        &sys,
        "SYSTEM",
        r"ControlSet001\Services\TermService",
        &["\"Start\"=dword:00000004"],
    );
    let i = ok(run_in(t.path(), &["inspect", "SYSTEM", "--json"]));
    let d = diagnose(t.path());
    assert_eq!(i["verdict"]["rdp_enabled"], false);
    assert_eq!(i["verdict"]["blockers"], d["verdict"]["blocker_codes"]);
    let text = run_in(t.path(), &["inspect", "SYSTEM"]).stdout;
    assert!(text.contains("RDP will fail: 1 blocker"), "{text}");
    // diagnose's text: the verdict on the first line, then one line per
    // finding, blockers first, each ending in its fix.
    let text = run_in(t.path(), &["diagnose", "SYSTEM"]).stdout;
    assert!(text.starts_with("RDP will fail: 1 blocker"), "{text}");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            ["BLOCKER", "WARNING", "INFO"]
                .iter()
                .any(|s| l.starts_with(s))
        })
        .collect();
    assert_eq!(
        lines.len(),
        d["findings"].as_array().unwrap().len(),
        "{text}"
    );
    let rank = |l: &str| {
        ["BLOCKER", "WARNING", "INFO"]
            .iter()
            .position(|s| l.starts_with(s))
    };
    assert!(lines.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{text}");
    assert!(
        lines[0].contains("termservice-disabled")
            && lines[0].ends_with("fix: ntrescue service SYSTEM TermService --start manual"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.contains("  fix: ")), "{text}");
}

/// `inspect --json` and `diagnose --json` of `src` (in `dir`), and their
/// text, after checking that they agree: inspect's `verdict.diagnose` is
/// diagnose's `verdict` (the same rdp verdict and counts), its blocker
/// count is the number of blocker findings diagnose lists, its blocker
/// codes and rows not checked are diagnose's, and its text carries
/// diagnose's headline. The same with `--verify` (the hives read whole).
fn inspect_and_diagnose(dir: &Path, src: &str) -> (Value, Value, String) {
    let i = ok(run_in(dir, &["inspect", src, "--json"]));
    let d = ok(run_in(dir, &["diagnose", src, "--json"]));
    let (iv, dv) = (&i["verdict"], &d["verdict"]);
    assert_eq!(iv["diagnose"], *dv, "{src}: {:#}", d["findings"]);
    let findings = d["findings"].as_array().unwrap();
    let blockers = findings
        .iter()
        .filter(|f| f["severity"] == "blocker")
        .count();
    assert_eq!(iv["diagnose"]["blockers"], blockers, "{src}");
    let mut distinct: Vec<&Value> = Vec::new();
    for f in findings.iter().filter(|f| f["severity"] == "blocker") {
        if !distinct.contains(&&f["code"]) {
            distinct.push(&f["code"]);
        }
    }
    assert_eq!(
        iv["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        distinct
    );
    assert_eq!(iv["not_checked"], d["not_checked"], "{src}");
    if blockers > 0 {
        assert_eq!(iv["rdp_enabled"], false, "{src}");
    }
    let it = run_in(dir, &["inspect", src]).stdout;
    let head = run_in(dir, &["diagnose", src]).stdout;
    let head = head.lines().next().unwrap();
    let line = it.lines().find(|l| l.starts_with("Verdict:")).unwrap();
    assert!(
        line.contains(&format!("| {head}")),
        "{src}: {line} / {head}"
    );
    let iw = ok(run_in(dir, &["inspect", src, "--verify", "--json"]));
    let dw = ok(run_in(dir, &["diagnose", src, "--verify", "--json"]));
    assert_eq!(iw["verdict"]["diagnose"], dw["verdict"], "{src} --verify");
    assert_eq!(dw["verdict"], *dv, "{src}: --verify changes nothing");
    (i, d, it)
}

/// `inspect` and `diagnose` agree on every kind of source, each time from
/// the same inputs: a config directory whose SAM leaves no account that
/// may log on over RDP (the only blocker left after `rdp repair`, which
/// inspect without SAM called "RDP allowed"); a disk whose BCD store boots
/// Safe Mode (row 29, another partition); the demo disk, where one code
/// stands for several blocker findings (the count is of findings, in
/// both); and healthy sources with no blocker.
#[test]
fn inspect_and_diagnose_agree_on_every_source() {
    // W10 SYSTEM with a real Windows 10 SAM and SECURITY (with logs).
    let (t, _) = config(W10, false);
    let d = t.path();
    for f in ["SAM", "SAM.LOG1", "SAM.LOG2", "SECURITY", "SECURITY.LOG1"] {
        copy_to(
            &corpus_file(&format!("accounts/win10__rathbunvm/{f}")),
            d,
            f,
        );
    }
    let rep = ok(run_in(d, &["rdp", "repair", "SYSTEM", "--json"]));
    assert_eq!(rep["outcome"], "written", "{rep:#}");
    let (i, r, text) = inspect_and_diagnose(d, "SYSTEM");
    assert_eq!(codes(&r, "blocker"), ["no-account-may-rdp"]);
    assert_eq!(with_code(&r, "no-account-may-rdp")[0]["hive"], "SAM");
    assert_eq!(
        i["verdict"]["blockers"],
        serde_json::json!(["no-account-may-rdp"])
    );
    assert_eq!(i["verdict"]["rdp_enabled"], false);
    assert!(
        text.contains("RDP will fail: 1 blocker (no-account-may-rdp;"),
        "{text}"
    );
    // SAM and SECURITY were read: only the BCD store and SOFTWARE's rows
    // are not checked, and no hive is listed as not read.
    assert_eq!(i["verdict"]["hives_not_read"], serde_json::json!([]));
    let rows: Vec<u64> = i["verdict"]["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| {
            n["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_u64().unwrap())
        })
        .collect();
    assert!(rows.contains(&29) && !rows.contains(&19), "{rows:?}");
    // Without SAM the account rows are not checked, in both, saying why.
    std::fs::remove_file(d.join("SAM")).unwrap();
    let (i, r, text) = inspect_and_diagnose(d, "SYSTEM");
    assert_eq!(r["verdict"]["blockers"], 0, "{:#}", r["findings"]);
    assert_eq!(i["verdict"]["hives_not_read"][0]["name"], "SAM");
    assert_eq!(i["verdict"]["hives_not_read"][0]["state"], "missing");
    assert!(text.contains("not checked (rows 17, 18, 19"), "{text}");

    // A disk whose BCD store boots Safe Mode with networking.
    let t = tmp();
    disk_with_bcd(t.path(), &bcd_store(Some(1)));
    let (i, r, text) = inspect_and_diagnose(t.path(), "disk.img");
    assert_eq!(with_code(&r, "safe-mode-boot")[0]["severity"], "blocker");
    assert!(
        i["verdict"]["blockers"]
            .as_array()
            .unwrap()
            .contains(&"safe-mode-boot".into()),
        "{:#}",
        i["verdict"]
    );
    assert!(text.contains("safe-mode-boot"), "{text}");
    // The same disk without the element.
    let t = tmp();
    disk_with_bcd(t.path(), &bcd_store(None));
    let (i, _, _) = inspect_and_diagnose(t.path(), "disk.img");
    assert!(!i["verdict"]["blockers"]
        .as_array()
        .unwrap()
        .contains(&"safe-mode-boot".into()));

    // The demo disk: more blocker findings than codes.
    let t = tmp();
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/demo-disk.img.gz");
    let o = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    assert!(o.status.success());
    std::fs::write(t.path().join("demo.img"), o.stdout).unwrap();
    let (i, _, text) = inspect_and_diagnose(t.path(), "demo.img");
    let n = i["verdict"]["diagnose"]["blockers"].as_u64().unwrap();
    let codes_n = i["verdict"]["blockers"].as_array().unwrap().len() as u64;
    assert!(n > codes_n && codes_n > 0, "{:#}", i["verdict"]);
    assert!(
        text.contains(&format!("RDP will fail: {n} blockers")),
        "{text}"
    );

    // Healthy: the demo disk after `rdp repair --firewall-profiles-off`
    // (its firewall has no RDP rule to enable), and a clean Windows 7
    // SYSTEM: no blocker in either, and inspect allows RDP.
    let rep = ok(run_in(
        t.path(),
        &[
            "rdp",
            "repair",
            "demo.img",
            "--firewall-profiles-off",
            "--json",
        ],
    ));
    assert_eq!(rep["outcome"], "written", "{rep:#}");
    let (w7, _) = config(W7, false);
    for (dir, src) in [(t.path(), "demo.img"), (w7.path(), "SYSTEM")] {
        let (i, r, text) = inspect_and_diagnose(dir, src);
        assert_eq!(r["verdict"]["blockers"], 0, "{src}: {:#}", r["findings"]);
        assert_eq!(i["verdict"]["blockers"], serde_json::json!([]));
        assert_eq!(i["verdict"]["rdp_enabled"], true, "{src}");
        assert!(!text.contains("will fail"), "{src}: {text}");
    }
}

/// On a raw GPT disk image, SAM and SECURITY are found beside SYSTEM in the
/// same NTFS volume (the dirty SECURITY replayed from its log), and the
/// findings are those of the hive file.
#[test]
fn disk_image_reads_all_four_hives() {
    let t = tmp();
    let img = t.path().join("disk.img");
    let acc = "accounts/win10__rathbunvm";
    let hive = |name: &str| format!("{name}={}", corpus_file(&format!("{acc}/{name}")).display());
    make_windows_disk(
        &["--hive", &hive("SAM"), "--hive", &hive("SECURITY")],
        &corpus_file(W10),
        &img,
    );
    let r = ok(run_in(t.path(), &["diagnose", "disk.img", "--json"]));
    let state = |i: usize| {
        (
            r["hives"][i]["name"].clone(),
            r["hives"][i]["state"].clone(),
        )
    };
    assert_eq!(state(0), ("SYSTEM".into(), "read".into()));
    assert_eq!(r["hives"][0]["view"], "after-replay");
    // make-windows-disk puts a placeholder SOFTWARE ("regf" and zeros).
    assert_eq!(state(1), ("SOFTWARE".into(), "unreadable".into()));
    assert_eq!(state(2), ("SAM".into(), "read".into()));
    assert_eq!(state(3), ("SECURITY".into(), "read".into()));
    assert_eq!(r["hives"][3]["view"], "after-replay", "{:#}", r["hives"]);
    // This SAM's Administrator is disabled and its one user has a blank
    // password, which Windows refuses over the network: no account can log
    // on over RDP (a real finding of the account model).
    assert_eq!(
        codes(&r, "blocker"),
        ["firewall-rule-inactive", "no-account-may-rdp", "rdp-denied"]
    );
    let fix = with_code(&r, "rdp-denied")[0]["fix"]["command"]
        .as_str()
        .unwrap();
    assert_eq!(fix, "ntrescue rdp enable disk.img");
}

/// Rows 17–23 from the account model: with a real Windows 10 SAM and
/// SECURITY beside SYSTEM, the disabled built-in Administrator (a member of
/// Administrators) is reported with `account enable` as its fix; running
/// that fix clears the finding, and the account then reads enabled in
/// `account list`. Without SAM the rows are listed as not checked.
#[test]
fn account_rows_come_from_the_account_model() {
    let (t, _) = config("system/win7sp1-x86__regipy__SYSTEM", false);
    let d = t.path();
    let r = diagnose(d);
    let nc = r["not_checked"].as_array().unwrap();
    assert!(
        nc.iter()
            .any(|n| n["rows"].as_array().unwrap().contains(&Value::from(19))),
        "{r}"
    );
    for f in ["SAM", "SECURITY"] {
        copy_to(
            &corpus_file(&format!("accounts/win10__rathbunvm/{f}")),
            d,
            f,
        );
    }
    let r = diagnose(d);
    let dis = with_code(&r, "account-disabled");
    let admin = dis
        .iter()
        .find(|f| f["found"] == "Administrator")
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(admin["row"], 19);
    assert_eq!(admin["hive"], "SAM");
    assert_eq!(admin["value"], "F");
    let cmd = admin["fix"]["command"].as_str().unwrap();
    assert_eq!(cmd, "ntrescue account enable SYSTEM Administrator");
    run_fix(d, cmd);
    let r = diagnose(d);
    assert!(
        !with_code(&r, "account-disabled")
            .iter()
            .any(|f| f["found"] == "Administrator"),
        "{r}"
    );
    let l = ok(run_in(d, &["account", "list", "SYSTEM", "--json"]));
    let admin = l["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rid"] == 500)
        .unwrap_or_else(|| panic!("{l}"));
    assert_eq!(admin["disabled"], false);
    // hivex reads the account-control word of F (u16 at 0x38): the
    // disabled bit 0x0001 is clear.
    let (_, f) = hivex_raw(&d.join("SAM"), r"SAM\Domains\Account\Users\000001F4", "F").unwrap();
    assert_eq!(u16::from_le_bytes([f[0x38], f[0x39]]) & 0x0001, 0);
}

/// A BCD store as Windows lays it out: the boot manager names the default
/// loader; the loader's SafeBoot element (25000080) when `safeboot`.
fn bcd_store(safeboot: Option<u8>) -> Vec<u8> {
    use ntrescue::fixtures::build::{build, Data, HiveSpec, KeySpec};
    let loader = "{b2721d73-1db4-4c62-bf78-c548a880142d}";
    let element = |id: &str, data: Data| KeySpec::new(id).value("Element", data);
    let mut elements = KeySpec::new("Elements")
        .key(element("12000004", Data::Sz("Windows Server".into())))
        .key(element(
            "22000002",
            Data::Sz(r"\Windows\system32\winload.efi".into()),
        ));
    if let Some(mode) = safeboot {
        elements = elements.key(element(
            "25000080",
            Data::Binary(format!("{mode:02x}00000000000000")),
        ));
    }
    let objects = KeySpec::new("Objects")
        .key(
            KeySpec::new("{9dea862c-5cdd-4e70-acc1-f32b344d4795}")
                .key(KeySpec::new("Elements").key(element("23000003", Data::Sz(loader.into())))),
        )
        .key(KeySpec::new(loader).key(elements));
    build(&HiveSpec {
        file_name: r"\Device\HarddiskVolume1\EFI\Microsoft\Boot\BCD".into(),
        sequence: 7,
        timestamp: 0x01d9_0000_0000_0000,
        root: KeySpec::new("NewStoreRoot").key(objects),
    })
}

/// A GPT disk (ESP, MSR, Windows, Recovery) whose EFI system partition is
/// a real FAT volume (mkfs.vfat, mtools) holding `EFI\Microsoft\Boot\BCD`.
fn disk_with_bcd(dir: &Path, bcd: &[u8]) -> PathBuf {
    use std::io::{Seek, SeekFrom, Write};
    let img = dir.join("disk.img");
    make_windows_disk(&["--extra-parts"], &corpus_file(W10), &img);
    let esp = dir.join("esp.img");
    let store = dir.join("BCD");
    std::fs::write(&store, bcd).unwrap();
    // make-windows-disk's ESP: 100 MiB at 1 MiB.
    sh(
        "mkfs.vfat",
        &["-F", "32", "-C", esp.to_str().unwrap(), "102400"],
    );
    let e = esp.to_str().unwrap();
    sh(
        "mmd",
        &["-i", e, "::EFI", "::EFI/Microsoft", "::EFI/Microsoft/Boot"],
    );
    sh(
        "mcopy",
        &["-i", e, store.to_str().unwrap(), "::EFI/Microsoft/Boot/BCD"],
    );
    let mut out = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    out.seek(SeekFrom::Start(1 << 20)).unwrap();
    out.write_all(&std::fs::read(&esp).unwrap()).unwrap();
    img
}

/// Row 29: the BCD store on the EFI system partition (FAT, read through
/// the read-only FAT reader) says the default loader boots to Safe Mode
/// with networking: a blocker with the bcdedit step. Without the element,
/// no finding; and row 29 is checked, not listed as not checked. A hive
/// file source says why it cannot check it.
#[test]
fn safe_mode_in_the_bcd_store_of_the_esp() {
    let t = tmp();
    disk_with_bcd(t.path(), &bcd_store(Some(1)));
    let before = sha256_file(&t.path().join("disk.img"));
    let r = ok(run_in(t.path(), &["diagnose", "disk.img", "--json"]));
    let f = &with_code(&r, "safe-mode-boot")[0];
    assert_eq!(f["severity"], "blocker");
    assert_eq!(
        (f["hive"].as_str(), f["row"].as_u64()),
        (Some("BCD"), Some(29))
    );
    assert_eq!(
        f["key"],
        r"Objects\{b2721d73-1db4-4c62-bf78-c548a880142d}\Elements\25000080"
    );
    assert_eq!(f["found"], "0100000000000000");
    let why = f["explanation"].as_str().unwrap();
    assert!(
        why.contains("with networking") && why.contains("Windows Server"),
        "{why}"
    );
    assert!(f["fix"]["manual"]
        .as_str()
        .unwrap()
        .contains("/deletevalue {b2721d73-1db4-4c62-bf78-c548a880142d} safeboot"));
    let rows29 = |r: &Value| {
        r["not_checked"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["rows"].as_array().unwrap().contains(&29.into()))
            .count()
    };
    assert_eq!(rows29(&r), 0, "{:#}", r["not_checked"]);
    // Read-only: the disk is unchanged.
    assert_eq!(sha256_file(&t.path().join("disk.img")), before);

    let t2 = tmp();
    disk_with_bcd(t2.path(), &bcd_store(None));
    let r = ok(run_in(t2.path(), &["diagnose", "disk.img", "--json"]));
    assert!(with_code(&r, "safe-mode-boot").is_empty());
    assert_eq!(rows29(&r), 0);

    let h = copy_to(&corpus_file(W10), t2.path(), "SYSTEM");
    let r = ok(run_in(
        t2.path(),
        &["diagnose", h.to_str().unwrap(), "--json"],
    ));
    assert_eq!(rows29(&r), 1);
}

/// Row 29 on an MBR disk: the BCD store is `Boot\BCD` on the NTFS "System
/// Reserved" partition before the Windows one (written there through a
/// loop device and an ntfs-3g mount); Safe Mode (minimal) is found, the
/// disk is unchanged.
#[test]
fn safe_mode_in_the_bcd_store_of_an_mbr_system_partition() {
    use crate::util::{Loop, Mount};
    require_tool("losetup");
    let t = tmp();
    let img = t.path().join("disk.img");
    make_windows_disk(&["--mbr", "--extra-parts"], &corpus_file(W10), &img);
    {
        let lo = Loop::attach(&img, &[]).with_partitions();
        let mut m = Mount::new(Path::new(&lo.part(1)), &t.path().join("mnt"));
        std::fs::create_dir_all(m.dir.join("Boot")).unwrap();
        std::fs::write(m.dir.join("Boot/BCD"), bcd_store(Some(0))).unwrap();
        m.unmount();
    }
    let before = sha256_file(&img);
    let r = ok(run_in(t.path(), &["diagnose", "disk.img", "--json"]));
    let f = with_code(&r, "safe-mode-boot");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    assert_eq!(f[0]["hive"], "BCD");
    assert_eq!(f[0]["found"], "0000000000000000");
    assert!(
        f[0]["explanation"].as_str().unwrap().contains("minimal"),
        "{:#}",
        f[0]
    );
    assert_eq!(sha256_file(&img), before);
}

/// An unreadable SAM beside SYSTEM is a warning of `inspect` as of
/// `diagnose` (the same text), besides the rows it leaves unchecked.
#[test]
fn an_unreadable_sam_is_a_warning_of_inspect_and_diagnose() {
    let t = tmp();
    let dir = t.path().join("config");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        dir.join("SYSTEM"),
    )
    .unwrap();
    let sam = std::fs::read(corpus_file("accounts/win10__rathbunvm/SAM")).unwrap();
    std::fs::write(dir.join("SAM"), &sam[..8192]).unwrap();
    let src = dir.join("SYSTEM");
    let src = src.to_str().unwrap();
    let i = ok(run_in(t.path(), &["inspect", src, "--json"]));
    let d = ok(run_in(t.path(), &["diagnose", src, "--json"]));
    let sam_warnings = |doc: &Value| -> Vec<String> {
        doc["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.to_string())
            .filter(|w| w.contains("SAM") && w.contains("truncated"))
            .collect()
    };
    assert_eq!(sam_warnings(&i).len(), 1, "{}", i["warnings"]);
    assert_eq!(sam_warnings(&i), sam_warnings(&d));
    assert_eq!(i["verdict"]["hives_not_read"][0]["state"], "unreadable");
}
