// SPDX-License-Identifier: GPL-2.0-or-later
//! More `diagnose` rows and fixes on copies of real corpus hives: `nla
//! enable` without SOFTWARE (the release read from SYSTEM), then rows whose
//! finding had no test of its own, then `rdp repair`'s flags.

use std::path::Path;

use super::diagnose::{
    check_case, config, diagnose, hivex_text, merge, with_code, Case, RDP, W10, W7,
};
use crate::util::*;

/// Deletes `key` (and everything below it) from `hive` with hivexregedit.
fn delete_key(hive: &Path, prefix: &str, key: &str) {
    let reg = hive.with_extension("reg");
    std::fs::write(
        &reg,
        format!("Windows Registry Editor Version 5.00\r\n\r\n[-HKEY_LOCAL_MACHINE\\{prefix}\\{key}]\r\n"),
    )
    .unwrap();
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

/// The warning of an `nla enable` report that says where its values come
/// from.
fn defaults_warning(r: &serde_json::Value) -> String {
    r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.contains("no bundle of an earlier `nla disable`"))
        .unwrap_or_else(|| panic!("no defaults warning: {r:#}"))
        .to_string()
}

/// `nla enable` takes the values of the `nla disable` bundle of *this*
/// hive, not of the newest bundle in the backup root: on two raw NTFS
/// volumes holding Windows 7 hives made SecurityLayer 2 and 1 (Windows 7's
/// default is 1), each disabled in turn into one root — after which both
/// hives hold the same bytes —, `enable` of the first restores its 2,
/// matched by volume serial and MFT record before any match by content;
/// and a copy of a disabled hive file at another path is matched by its
/// bytes (hive identity).
#[test]
fn nla_enable_matches_its_own_bundle_by_volume_and_by_hive() {
    const SYS: &str = "Windows/System32/config/SYSTEM";
    let t = tmp();
    let hive = |name: &str, layer: u32| {
        let p = copy_to(&corpus_file(W7), t.path(), name);
        merge(
            &p,
            "SYSTEM",
            &format!(r"ControlSet001\{RDP}"),
            &[&format!("\"SecurityLayer\"=dword:{layer:08x}")],
        );
        p
    };
    let two = hive("two.hive", 2);
    let one = hive("one.hive", 1);
    let a = volume(t.path(), "a.img", 48, 4096, 0, &[(SYS, two.clone())], &[]);
    let b = volume(t.path(), "b.img", 48, 4096, 0, &[(SYS, one)], &[]);
    // mkntfs seeds its serial from the clock: two volumes made in one
    // second share it, so the second gets its own.
    sh(
        "ntfslabel",
        &["--new-serial=0123456789abcdef", b.to_str().unwrap()],
    );
    let serial = |img: &Path| {
        ok(run_in(
            t.path(),
            &["inspect", img.to_str().unwrap(), "--json"],
        ))["disk"]["volume"]["serial"]
            .clone()
    };
    assert_ne!(
        serial(&a),
        serial(&b),
        "mkntfs gives each volume its own serial"
    );
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--backup-dir", "bk", "--json"]);
        ok(run_in(t.path(), &a))
    };
    run(&["nla", "disable", a.to_str().unwrap()]);
    run(&["nla", "disable", b.to_str().unwrap()]);
    let r = run(&["nla", "enable", a.to_str().unwrap()]);
    let restored = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"] == "SecurityLayer" && c["control_set"] == "ControlSet001")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(restored["new"], 2, "{r:#}");
    let r = run(&["nla", "enable", b.to_str().unwrap()]);
    assert!(
        r.to_string()
            .contains("recorded before the last `nla disable`"),
        "{r:#}"
    );

    // A hive file disabled, then copied elsewhere: matched by its bytes.
    // Its own backup root: every disable above leaves these very bytes
    // (0/0/0 over the same hive), so in "bk" three bundles match by
    // content and, made in one second, none is the newest.
    let own = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--backup-dir", "bk2", "--json"]);
        ok(run_in(t.path(), &a))
    };
    own(&["nla", "disable", two.to_str().unwrap()]);
    let moved = t.path().join("moved");
    std::fs::create_dir(&moved).unwrap();
    let copy = copy_to(&two, &moved, "SYSTEM");
    own(&["nla", "enable", copy.to_str().unwrap()]);
    assert_eq!(
        hivex_dword(&copy, &format!(r"\ControlSet001\{RDP}"), "SecurityLayer"),
        Some(2)
    );
}

/// `nla enable` without SOFTWARE and without a bundle of an earlier
/// `nla disable`: the release comes from SYSTEM's markers. Windows 10 1709
/// (DriverDatabase) gets SecurityLayer 2, Windows 7 gets 1, and a SYSTEM
/// that tells nothing (no `Select`, so no boot set to look in) gets the
/// stronger 2, the warning saying the version was unknown.
#[test]
fn nla_enable_without_software_reads_the_release_from_system() {
    let k = format!(r"\ControlSet001\{RDP}");
    let (t, sys) = config(W10, false);
    let json = ["--json", "--backup-dir"];
    let run = |args: &[&str], dir: &str| {
        let mut a = args.to_vec();
        a.extend_from_slice(&json);
        a.push(dir);
        ok(run_in(t.path(), &a))
    };
    run(&["nla", "disable", "SYSTEM"], "disable-bundles");
    assert_eq!(hivex_dword(&sys, &k, "SecurityLayer"), Some(0));
    let r = run(&["nla", "enable", "SYSTEM"], "enable-bundles");
    let w = defaults_warning(&r);
    assert!(
        w.contains("Windows 8 / Server 2012 or later, read from SYSTEM")
            && w.contains("SecurityLayer 2"),
        "{w}"
    );
    for (v, want) in [
        ("SecurityLayer", 2),
        ("UserAuthentication", 1),
        ("fAllowSecProtocolNegotiation", 1),
    ] {
        assert_eq!(hivex_dword(&sys, &k, v), Some(want), "{v}");
    }

    // Windows 7: 1 (Negotiate), its own default.
    let (t, sys) = config(W7, false);
    merge(
        &sys,
        "SYSTEM",
        &format!(r"ControlSet001\{RDP}"),
        &["\"SecurityLayer\"=dword:00000000"],
    );
    let r = ok(run_in(t.path(), &["nla", "enable", "SYSTEM", "--json"]));
    let w = defaults_warning(&r);
    assert!(
        w.contains("a release before Windows 8, read from SYSTEM") && w.contains("SecurityLayer 1"),
        "{w}"
    );
    assert_eq!(hivex_dword(&sys, &k, "SecurityLayer"), Some(1));
    assert_eq!(hivex_dword(&sys, &k, "UserAuthentication"), Some(1));

    // Nothing tells the release: the stronger value, said so.
    let (t, sys) = config(W7, false);
    merge(
        &sys,
        "SYSTEM",
        &format!(r"ControlSet001\{RDP}"),
        &["\"SecurityLayer\"=dword:00000000"],
    );
    delete_key(&sys, "SYSTEM", "Select");
    let r = ok(run_in(t.path(), &["nla", "enable", "SYSTEM", "--json"]));
    let w = defaults_warning(&r);
    assert!(
        w.contains("unknown Windows version") && w.contains("SecurityLayer 2"),
        "{w}"
    );
    assert_eq!(hivex_dword(&sys, &k, "SecurityLayer"), Some(2));
}

/// Rows 24 and 26, report only: NTLMv2 only, NTLMv2 session security
/// required of NTLM clients, remote SAM calls restricted (each on the
/// Windows 7 hive, which holds none of them set so).
#[test]
fn ntlm_and_remote_sam_rows_are_reported() {
    for c in [
        Case {
            key: r"ControlSet001\Control\Lsa",
            lines: &["\"LmCompatibilityLevel\"=dword:00000005"],
            code: "ntlmv2-only",
            severity: "info",
            hive: "SYSTEM",
            value: Some("LmCompatibilityLevel"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"ControlSet001\Control\Lsa\MSV1_0",
            lines: &["\"NtlmMinServerSec\"=dword:20080000"],
            code: "ntlm-min-server-sec",
            severity: "info",
            hive: "SYSTEM",
            value: Some("NtlmMinServerSec"),
            fix: None,
            fixed: None,
        },
        Case {
            key: r"ControlSet001\Control\Lsa",
            lines: &["\"RestrictRemoteSAM\"=\"O:BAG:BAD:(A;;RC;;;BA)\""],
            code: "remote-sam-restricted",
            severity: "info",
            hive: "SYSTEM",
            value: Some("RestrictRemoteSAM"),
            fix: None,
            fixed: None,
        },
    ] {
        check_case(W7, false, &c);
    }
    // The Windows default 0x20000000 (128-bit) is not reported.
    let (t, _) = config(W7, false);
    assert!(with_code(&diagnose(t.path()), "ntlm-min-server-sec").is_empty());
}

/// Rows 13 and 14 beyond the listed services: a name TermService's own
/// `DependOnService` adds (a blocker, with Windows' manual start) and one it
/// makes needed (SessionEnv, otherwise a warning), nsi and Tcpip disabled;
/// each fixed by its printed command and read back by hivex. Row 1's Group
/// Policy cross-check: a local denial that a policy 0 overrides is info,
/// not a blocker.
#[test]
fn dependencies_network_services_and_the_policy_override() {
    let (t, sys) = config(W7, false);
    merge(
        &sys,
        "SYSTEM",
        r"ControlSet001\Services\TermService",
        // REG_MULTI_SZ "RPCSS", "SessionEnv", "CustomDep".
        &[&format!(
            "\"DependOnService\"=hex(7):{}",
            "RPCSS\0SessionEnv\0CustomDep\0\0"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(",")
        )],
    );
    for svc in ["SessionEnv", "CustomDep", "nsi", "Tcpip"] {
        merge(
            &sys,
            "SYSTEM",
            &format!(r"ControlSet001\Services\{svc}"),
            &["\"Start\"=dword:00000004"],
        );
    }
    let r = diagnose(t.path());
    for (svc, code, start, fixed) in [
        ("SessionEnv", "dependency-disabled", "manual", 3),
        ("CustomDep", "dependency-disabled", "manual", 3),
        ("nsi", "network-service-disabled", "automatic", 2),
        ("Tcpip", "network-service-disabled", "boot", 0),
    ] {
        let key = format!(r"ControlSet001\Services\{svc}");
        let f = with_code(&r, code);
        let f = f
            .iter()
            .find(|f| f["key"] == key.as_str())
            .unwrap_or_else(|| panic!("{svc}: {:#}", r["findings"]));
        assert_eq!(f["severity"], "blocker", "{svc}");
        assert_eq!(f["value"], "Start");
        let cmd = format!("ntrescue service SYSTEM {svc} --start {start}");
        assert_eq!(f["fix"]["command"], cmd.as_str());
        super::diagnose::run_fix(t.path(), &cmd);
        assert_eq!(hivex_dword(&sys, &format!(r"\{key}"), "Start"), Some(fixed));
    }
    let after = diagnose(t.path());
    assert!(with_code(&after, "dependency-disabled").is_empty());
    assert!(with_code(&after, "network-service-disabled").is_empty());

    // fDenyTSConnections 1 in SYSTEM: a blocker; with the generated
    // SOFTWARE beside it, whose policy copy holds 0 (hivex reads it), info.
    let denied = |software: bool| {
        let (t, sys) = config(W7, software);
        merge(
            &sys,
            "SYSTEM",
            r"ControlSet001\Control\Terminal Server",
            &["\"fDenyTSConnections\"=dword:00000001"],
        );
        if software {
            let policy = format!(r"\{POLICY}");
            assert_eq!(
                hivex_dword(&t.path().join("SOFTWARE"), &policy, "fDenyTSConnections"),
                Some(0)
            );
        }
        let r = diagnose(t.path());
        assert!(with_code(&r, "rdp-denied-by-policy").is_empty());
        with_code(&r, "rdp-denied")
            .iter()
            .find(|f| f["key"] == r"ControlSet001\Control\Terminal Server")
            .map(|f| f["severity"].as_str().unwrap().to_string())
    };
    assert_eq!(denied(false).as_deref(), Some("blocker"));
    assert_eq!(denied(true).as_deref(), Some("info"));
}

/// Row 27 weighs the licensing mode by the RD Session Host role SOFTWARE
/// records: a warning with the role installed (`InstallState` 1) or when
/// SOFTWARE is missing, info without it (the generated SOFTWARE has no
/// Server Manager key, as client editions have none); a license server
/// makes it go.
#[test]
fn licensing_is_weighed_by_the_session_host_role() {
    let licensing = r"ControlSet001\Control\Terminal Server\RCM\Licensing Core";
    let role = r"Microsoft\ServerManager\ServicingStorage\ServerComponentCache\RDS-RD-Server";
    let severity = |r: &serde_json::Value| {
        let f = with_code(r, "licensing-no-server");
        assert_eq!(f.len(), 1, "{:#}", r["findings"]);
        assert_eq!(f[0]["key"], licensing);
        f[0]["severity"].as_str().unwrap().to_string()
    };
    let (t, sys) = config(W7, true);
    merge(
        &sys,
        "SYSTEM",
        licensing,
        &["\"LicensingMode\"=dword:00000002"],
    );
    let r = diagnose(t.path());
    assert_eq!(severity(&r), "info");
    assert!(with_code(&r, "licensing-no-server")[0]["explanation"]
        .as_str()
        .unwrap()
        .contains("role is not installed"));
    merge(
        &t.path().join("SOFTWARE"),
        "SOFTWARE",
        role,
        &["\"InstallState\"=dword:00000001"],
    );
    assert_eq!(severity(&diagnose(t.path())), "warning");
    std::fs::remove_file(t.path().join("SOFTWARE")).unwrap();
    let r = diagnose(t.path());
    assert_eq!(severity(&r), "warning");
    assert!(r["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["rows"].as_array().unwrap().contains(&27.into())));
    merge(
        &sys,
        "SYSTEM",
        r"ControlSet001\Services\TermService\Parameters\LicenseServers",
        &["\"SpecifiedLicenseServers\"=hex(7):6c,00,73,00,00,00,00,00"],
    );
    assert!(with_code(&diagnose(t.path()), "licensing-no-server").is_empty());
}

/// Row 6 on the Windows 7 hive (no SOFTWARE, so no policy): NLA made
/// required, made off, and an undefined SecurityLayer; each finding's code,
/// hive, key, value and fix, the printed fix run, the finding gone for that
/// key, and hivex reading what the fix wrote (Windows 7's own SecurityLayer
/// 1, read from SYSTEM, for `nla enable`).
#[test]
fn nla_rows_are_found_fixed_and_read_back() {
    const RDP1: &str = r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
    for c in [
        Case {
            key: RDP1,
            lines: &["\"UserAuthentication\"=dword:00000001"],
            code: "nla-required",
            severity: "info",
            hive: "SYSTEM",
            value: Some("UserAuthentication"),
            fix: Some("nla disable SOURCE"),
            fixed: Some("0"),
        },
        Case {
            key: RDP1,
            lines: &[
                "\"SecurityLayer\"=dword:00000000",
                "\"UserAuthentication\"=dword:00000001",
            ],
            code: "nla-off",
            severity: "info",
            hive: "SYSTEM",
            value: Some("UserAuthentication"),
            fix: Some("nla enable SOURCE"),
            fixed: Some("1"),
        },
        Case {
            key: RDP1,
            lines: &["\"SecurityLayer\"=dword:00000003"],
            code: "security-layer-invalid",
            severity: "warning",
            hive: "SYSTEM",
            value: Some("SecurityLayer"),
            fix: Some("nla enable SOURCE"),
            fixed: Some("1"),
        },
    ] {
        check_case(W7, false, &c);
    }
    // What each fix wrote beside the value the finding names.
    let (t, sys) = config(W7, false);
    let k = format!(r"\{RDP1}");
    merge(
        &sys,
        "SYSTEM",
        RDP1,
        &["\"UserAuthentication\"=dword:00000001"],
    );
    ok(run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]));
    for v in [
        "SecurityLayer",
        "UserAuthentication",
        "fAllowSecProtocolNegotiation",
    ] {
        assert_eq!(hivex_dword(&sys, &k, v), Some(0), "{v}");
    }
    let (t, sys) = config(W7, false);
    merge(&sys, "SYSTEM", RDP1, &["\"SecurityLayer\"=dword:00000000"]);
    ok(run_in(t.path(), &["nla", "enable", "SYSTEM", "--json"]));
    for v in [
        "SecurityLayer",
        "UserAuthentication",
        "fAllowSecProtocolNegotiation",
    ] {
        assert_eq!(hivex_dword(&sys, &k, v), Some(1), "{v}");
    }
    let r = diagnose(t.path());
    assert!(with_code(&r, "nla-off").iter().all(|f| f["key"] != RDP1));
    assert_eq!(
        with_code(&r, "nla-required")
            .iter()
            .filter(|f| f["key"] == RDP1)
            .count(),
        1
    );
}

const FW1: &str = r"ControlSet001\Services\SharedAccess\Parameters\FirewallPolicy";
const POLICY: &str = r"Policies\Microsoft\Windows NT\Terminal Services";

/// `rdp repair --dry-run` / real run with `flags`, as JSON.
fn repair(dir: &Path, flags: &[&str], dry: bool) -> serde_json::Value {
    let mut a = vec!["rdp", "repair", "SYSTEM", "--json"];
    a.extend_from_slice(flags);
    if dry {
        a.push("--dry-run");
    }
    ok(run_in(dir, &a))
}

/// (hive, key, value) of each planned or written change.
fn changes(r: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["hive"].as_str().unwrap().to_string(),
                c["key"].as_str().unwrap().to_string(),
                c["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn ch(hive: &str, key: &str, value: &str) -> (String, String, String) {
    (hive.into(), key.into(), value.into())
}

/// `rdp repair` on every other low-risk blocker at once (the server off and
/// draining, logons refused on the listener, a session limit of 0, a
/// dangling certificate pin, TLS 1.2 off for the server, a dependency and a
/// network service disabled), broken with hivex in a copy of the clean
/// Windows 7 hive: one run repairs them all (one bundle), a second
/// `diagnose` has no blocker, hivex reads every repaired value and a rerun
/// has nothing to do.
#[test]
fn rdp_repair_fixes_every_other_low_risk_blocker_in_one_run() {
    const TS1: &str = r"ControlSet001\Control\Terminal Server";
    const RDP1: &str = r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
    const TLS12: &str =
        r"ControlSet001\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server";
    let (t, sys) = config(W7, true);
    for (key, lines) in [
        (
            TS1,
            &["\"TSEnabled\"=dword:00000000", "\"TSServerDrainMode\"=dword:00000001"][..],
        ),
        (
            RDP1,
            &[
                "\"fLogonDisabled\"=dword:00000001",
                "\"MaxInstanceCount\"=dword:00000000",
                "\"SSLCertificateSHA1Hash\"=hex:0a,1b,2c,3d,4e,5f,60,71,82,93,a4,b5,c6,d7,e8,f9,00,11,22,33",
            ][..],
        ),
        (TLS12, &["\"Enabled\"=dword:00000000"][..]),
        (r"ControlSet001\Services\RpcSs", &["\"Start\"=dword:00000004"][..]),
        (r"ControlSet001\Services\Dhcp", &["\"Start\"=dword:00000004"][..]),
    ] {
        merge(&sys, "SYSTEM", key, lines);
    }
    let before = diagnose(t.path());
    assert_eq!(
        super::diagnose::codes(&before, "blocker"),
        [
            "certificate-pin-dangling",
            "dependency-disabled",
            "listener-logon-disabled",
            "max-instances-limited",
            "network-service-disabled",
            "tls12-server-disabled",
            "ts-disabled",
            "ts-drain-mode",
        ],
        "{:#}",
        before["findings"]
    );
    let dry = repair(t.path(), &[], true);
    assert_eq!(dry["outcome"], "dry-run");
    let mut want = vec![
        ch("SYSTEM", r"ControlSet001\Services\Dhcp", "Start"),
        ch("SYSTEM", r"ControlSet001\Services\RpcSs", "Start"),
        ch("SYSTEM", TS1, "TSEnabled"),
        ch("SYSTEM", TS1, "TSServerDrainMode"),
        ch("SYSTEM", RDP1, "MaxInstanceCount"),
        ch("SYSTEM", RDP1, "SSLCertificateSHA1Hash"),
        ch("SYSTEM", RDP1, "fLogonDisabled"),
        ch("SYSTEM", TLS12, "Enabled"),
    ];
    want.sort();
    assert_eq!(changes(&dry), want);
    let rep = repair(t.path(), &[], false);
    assert_eq!(rep["outcome"], "written", "{rep:#}");
    assert_eq!(changes(&rep), want);
    assert!(rep["backup"].is_string());
    let after = diagnose(t.path());
    assert_eq!(after["verdict"]["blockers"], 0, "{:#}", after["findings"]);
    let read = |key: &str, value: &str| hivex_dword(&sys, &format!(r"\{key}"), value);
    assert_eq!(read(TS1, "TSEnabled"), Some(1));
    assert_eq!(read(TS1, "TSServerDrainMode"), Some(0));
    assert_eq!(read(RDP1, "fLogonDisabled"), Some(0));
    // hivexget prints a DWORD as a signed number: read its bytes.
    let max = hivex_raw(&sys, RDP1, "MaxInstanceCount").unwrap();
    assert_eq!(max, (4, 0xFFFF_FFFFu32.to_le_bytes().to_vec()));
    assert_eq!(read(TLS12, "Enabled"), Some(1));
    assert_eq!(read(r"ControlSet001\Services\RpcSs", "Start"), Some(2));
    assert_eq!(read(r"ControlSet001\Services\Dhcp", "Start"), Some(2));
    let pin = std::process::Command::new("hivexget")
        .args([
            sys.to_str().unwrap(),
            &format!(r"\{RDP1}"),
            "SSLCertificateSHA1Hash",
        ])
        .output()
        .unwrap();
    assert!(!pin.status.success(), "the dangling pin is still there");
    assert_eq!(repair(t.path(), &[], false)["outcome"], "nothing-to-do");
}

/// `rdp repair --include-policy`: the Group Policy denial and session limit
/// in SOFTWARE and a disabled TermService in SYSTEM repaired in one run:
/// one bundle holding both hives, both verified; without the flag only the
/// SYSTEM fix is planned. hivex reads both hives afterwards.
#[test]
fn repair_include_policy_touches_system_and_software_in_one_bundle() {
    let (t, sys) = config(W7, true);
    let sw = t.path().join("SOFTWARE");
    merge(
        &sw,
        "SOFTWARE",
        POLICY,
        &[
            "\"fDenyTSConnections\"=dword:00000001",
            "\"MaxInstanceCount\"=dword:00000000",
        ],
    );
    merge(
        &sys,
        "SYSTEM",
        r"ControlSet001\Services\TermService",
        &["\"Start\"=dword:00000004"],
    );
    let before = diagnose(t.path());
    for code in [
        "rdp-denied-by-policy",
        "max-instances-policy",
        "termservice-disabled",
    ] {
        assert_eq!(
            with_code(&before, code).len(),
            1,
            "{code}: {:#}",
            before["findings"]
        );
    }
    let svc = r"ControlSet001\Services\TermService";
    let dry = repair(t.path(), &[], true);
    assert_eq!(dry["outcome"], "dry-run");
    assert_eq!(changes(&dry), [ch("SYSTEM", svc, "Start")]);
    let dry = repair(t.path(), &["--include-policy"], true);
    let want = [
        ch("SOFTWARE", POLICY, "MaxInstanceCount"),
        ch("SOFTWARE", POLICY, "fDenyTSConnections"),
        ch("SYSTEM", svc, "Start"),
    ];
    assert_eq!(changes(&dry), want);
    assert_eq!(
        hivex_dword(&sw, &format!(r"\{POLICY}"), "fDenyTSConnections"),
        Some(1)
    );
    let rep = repair(t.path(), &["--include-policy"], false);
    assert_eq!(rep["outcome"], "written", "{rep:#}");
    assert_eq!(changes(&rep), want);
    // One bundle, holding both hives.
    let bundle = t.path().join(rep["backup"].as_str().unwrap());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let mut hives: Vec<&str> = m["hives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    hives.sort();
    assert_eq!(hives, ["SOFTWARE", "SYSTEM"]);
    let bundles = std::fs::read_dir(t.path().join("ntrescue-backups"))
        .unwrap()
        .count();
    assert_eq!(bundles, 1);
    // Both hives read back by hivex; diagnose clean for those rows.
    for v in ["fDenyTSConnections", "MaxInstanceCount"] {
        assert_eq!(hivex_dword(&sw, &format!(r"\{POLICY}"), v), None, "{v}");
    }
    assert_eq!(hivex_dword(&sys, &format!(r"\{svc}"), "Start"), Some(3));
    let after = diagnose(t.path());
    for code in [
        "rdp-denied-by-policy",
        "max-instances-policy",
        "termservice-disabled",
    ] {
        assert!(with_code(&after, code).is_empty(), "{code}");
    }
    assert_eq!(after["verdict"]["blockers"], 0, "{:#}", after["findings"]);
}

/// `rdp repair --firewall-profiles-off`: an enabled profile dropping every
/// exception and an inactive Remote Desktop rule. Without the flag only the
/// rule is planned; with it, DoNotAllowExceptions 0 and every profile's
/// EnableFirewall 0 too. hivex reads them; diagnose has no row 16 finding
/// left in that set.
#[test]
fn repair_firewall_profiles_off() {
    let (t, sys) = config(W7, false);
    let rule = hivex_text(
        &sys,
        &format!(r"\{FW1}\FirewallRules"),
        "RemoteDesktop-In-TCP",
    );
    let broken = rule.replace("|Active=TRUE|", "|Active=FALSE|");
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\FirewallRules"),
        &[&format!("\"RemoteDesktop-In-TCP\"=\"{broken}\"")],
    );
    merge(
        &sys,
        "SYSTEM",
        &format!(r"{FW1}\PublicProfile"),
        &["\"DoNotAllowExceptions\"=dword:00000001"],
    );
    let r = diagnose(t.path());
    let set1 = |code: &str| {
        with_code(&r, code)
            .iter()
            .filter(|f| f["control_set"] == "ControlSet001")
            .count()
    };
    assert_eq!(set1("firewall-no-exceptions"), 1);
    assert_eq!(set1("firewall-rule-inactive"), 1);
    assert_eq!(set1("firewall-profile-on"), 3);
    let rules = format!(r"{FW1}\FirewallRules");
    // The inactive rule opening all three profiles is the one activated.
    let fixed = with_code(&r, "firewall-rule-inactive")[0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fixed, "RemoteDesktop-UserMode-In-TCP");
    let dry = repair(t.path(), &[], true);
    assert_eq!(changes(&dry), [ch("SYSTEM", &rules, &fixed)]);
    let dry = repair(t.path(), &["--firewall-profiles-off"], true);
    assert_eq!(dry["outcome"], "dry-run");
    let mut want = vec![
        ch(
            "SYSTEM",
            &format!(r"{FW1}\PublicProfile"),
            "DoNotAllowExceptions",
        ),
        ch("SYSTEM", &rules, &fixed),
    ];
    for p in ["DomainProfile", "StandardProfile", "PublicProfile"] {
        want.push(ch("SYSTEM", &format!(r"{FW1}\{p}"), "EnableFirewall"));
    }
    want.sort();
    assert_eq!(changes(&dry), want);
    let rep = repair(t.path(), &["--firewall-profiles-off"], false);
    assert_eq!(rep["outcome"], "written", "{rep:#}");
    assert_eq!(changes(&rep), want);
    for p in ["DomainProfile", "StandardProfile", "PublicProfile"] {
        assert_eq!(
            hivex_dword(&sys, &format!(r"\{FW1}\{p}"), "EnableFirewall"),
            Some(0),
            "{p}"
        );
    }
    assert_eq!(
        hivex_dword(
            &sys,
            &format!(r"\{FW1}\PublicProfile"),
            "DoNotAllowExceptions"
        ),
        Some(0)
    );
    let active = hivex_text(&sys, &format!(r"\{FW1}\FirewallRules"), &fixed);
    assert!(active.contains("|Active=TRUE|"), "{active}");
    let after = diagnose(t.path());
    assert!(
        after["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["row"] != 16 || f["control_set"] != "ControlSet001"),
        "{:#}",
        after["findings"]
    );
}

/// `rdp repair --dhcp`: the Windows 7 hive's two static interfaces, in both
/// control sets, get EnableDHCP 1; without the flag nothing is planned.
#[test]
fn repair_dhcp() {
    let (t, sys) = config(W7, false);
    let r = diagnose(t.path());
    let mut keys: Vec<String> = with_code(&r, "static-ip")
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 4);
    let dry = repair(t.path(), &[], true);
    assert_eq!(dry["outcome"], "nothing-to-do", "{dry:#}");
    let want: Vec<_> = keys.iter().map(|k| ch("SYSTEM", k, "EnableDHCP")).collect();
    let dry = repair(t.path(), &["--dhcp"], true);
    assert_eq!(changes(&dry), want);
    let rep = repair(t.path(), &["--dhcp"], false);
    assert_eq!(rep["outcome"], "written", "{rep:#}");
    for k in &keys {
        assert_eq!(
            hivex_dword(&sys, &format!(r"\{k}"), "EnableDHCP"),
            Some(1),
            "{k}"
        );
    }
    assert!(with_code(&diagnose(t.path()), "static-ip").is_empty());
}

/// Findings that had no test of their own, each on a copy of the Windows 7
/// hive broken with hivexregedit: the Terminal Server key missing in one
/// set, CredSSP set to Vulnerable, a certificate pin without SOFTWARE to
/// check it, TermService under another account, Group Policy dropping every
/// exception in a profile.
#[test]
fn remaining_rows_are_found() {
    // Row 3: the whole key gone from ControlSet002.
    let (t, sys) = config(W7, false);
    delete_key(&sys, "SYSTEM", r"ControlSet002\Control\Terminal Server");
    let r = diagnose(t.path());
    let f = with_code(&r, "terminal-server-missing");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    assert_eq!(f[0]["severity"], "blocker");
    assert_eq!(f[0]["hive"], "SYSTEM");
    assert_eq!(f[0]["key"], r"ControlSet002\Control\Terminal Server");
    assert!(f[0]["value"].is_null());
    assert_eq!(f[0]["control_set"], "ControlSet002");
    assert!(f[0]["fix"]["command"].is_null() && f[0]["fix"]["manual"].is_string());

    check_case(
        W7,
        true,
        &Case {
            key: r"Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters",
            lines: &["\"AllowEncryptionOracle\"=dword:00000002"],
            code: "credssp-vulnerable",
            severity: "warning",
            hive: "SOFTWARE",
            value: Some("AllowEncryptionOracle"),
            fix: Some(
                r"set SOURCE 'SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters' AllowEncryptionOracle --type dword --data 1",
            ),
            fixed: Some("1"),
        },
    );
    for (software, c) in [
        (
            false,
            Case {
                key: r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp",
                lines: &["\"SSLCertificateSHA1Hash\"=hex:0a,1b,2c,3d,4e,5f,60,71,82,93,a4,b5,c6,d7,e8,f9,00,11,22,33"],
                code: "certificate-pin-unverified",
                severity: "warning",
                hive: "SYSTEM",
                value: Some("SSLCertificateSHA1Hash"),
                fix: None,
                fixed: None,
            },
        ),
        (
            false,
            Case {
                key: r"ControlSet001\Services\TermService",
                lines: &["\"ObjectName\"=\"LocalSystem\""],
                code: "termservice-account",
                severity: "warning",
                hive: "SYSTEM",
                value: Some("ObjectName"),
                fix: None,
                fixed: None,
            },
        ),
        (
            true,
            Case {
                key: r"Policies\Microsoft\WindowsFirewall\PublicProfile",
                lines: &["\"DoNotAllowExceptions\"=dword:00000001"],
                code: "firewall-policy-no-exceptions",
                severity: "blocker",
                hive: "SOFTWARE",
                value: Some("DoNotAllowExceptions"),
                fix: None,
                fixed: None,
            },
        ),
    ] {
        check_case(W7, software, &c);
    }
    // The clean hive has none of them.
    let (t, _) = config(W7, true);
    let r = diagnose(t.path());
    for code in [
        "terminal-server-missing",
        "credssp-vulnerable",
        "certificate-pin-unverified",
        "termservice-account",
        "firewall-policy-no-exceptions",
    ] {
        assert!(with_code(&r, code).is_empty(), "{code}");
    }
}
