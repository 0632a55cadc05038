// SPDX-License-Identifier: GPL-2.0-or-later
//! `diagnose` rows 17–23 (logon rights and accounts) on copies of the real
//! Windows 10/11 and domain-member SAM and SECURITY hives beside a corpus
//! SYSTEM: each cause made with an independent writer (hivexregedit,
//! python-hivex), the finding asserted (code, hive, key, value, fix), the
//! printed fix run, the finding gone and hivex reading the fixed value.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diagnose::{config, diagnose, merge, run_fix, with_code, W7};
use crate::util::*;

const WIN10: &str = "accounts/win10__rathbunvm";
/// AndrewRathbun of the Windows 10 SAM (RID 1001, in Administrators).
const WIN10_USER_SID: &str = "S-1-5-21-2290304894-658537038-505560459-1001";
const ADMINS: &str = "S-1-5-32-544";
const RDU: &str = "S-1-5-32-555";

/// A config directory: the Windows 7 SYSTEM the account tests pair the
/// account hives with, and copies of SAM and SECURITY (with their logs)
/// of corpus directory `acc`.
pub(crate) fn accounts_config(acc: &str) -> (tempfile::TempDir, PathBuf) {
    let (t, _) = config(W7, false);
    for e in std::fs::read_dir(corpus_file(acc)).unwrap() {
        let e = e.unwrap();
        copy_to(&e.path(), t.path(), &e.file_name().to_string_lossy());
    }
    let d = t.path().to_path_buf();
    (t, d)
}

/// The findings with `code` about account `name`.
pub(crate) fn about<'a>(r: &'a Value, code: &str, name: &str) -> Vec<&'a Value> {
    with_code(r, code)
        .into_iter()
        .filter(|f| f["found"] == name)
        .collect()
}

/// `Policy\Accounts\<sid>\ActSysAc`.
fn act(sid: &str) -> String {
    format!(r"Policy\Accounts\{sid}\ActSysAc")
}

/// Writes `bits` as the ActSysAc of `sid` with hivexregedit (the key made
/// when missing).
fn set_rights(dir: &Path, sid: &str, bits: u32) {
    let b = bits.to_le_bytes();
    let line = format!(
        "@=hex(0):{:02x},{:02x},{:02x},{:02x}",
        b[0], b[1], b[2], b[3]
    );
    merge(&dir.join("SECURITY"), "SECURITY", &act(sid), &[&line]);
}

/// hivex's ActSysAc of `sid`.
fn rights_of(dir: &Path, sid: &str) -> Option<u32> {
    let (_, d) = hivex_raw(&dir.join("SECURITY"), &act(sid), "")?;
    Some(u32::from_le_bytes(d[..4].try_into().unwrap()))
}

/// The one finding of `code` about `name`, asserted on hive, key, value and
/// fix command (`SOURCE` = SYSTEM); returned for more checks.
fn one<'a>(
    r: &'a Value,
    code: &str,
    name: &str,
    hive: &str,
    key: &str,
    value: Option<&str>,
    fix: Option<&str>,
) -> &'a Value {
    let f = about(r, code, name);
    assert_eq!(f.len(), 1, "{code} {name}: {:#}", r["findings"]);
    let f = f[0];
    assert_eq!(f["hive"], hive, "{code}");
    assert_eq!(f["key"], key, "{code}");
    assert_eq!(f["value"].as_str(), value, "{code}");
    let want = fix.map(|x| format!("ntrescue {}", x.replace("SOURCE", "SYSTEM")));
    assert_eq!(f["fix"]["command"].as_str(), want.as_deref(), "{code}");
    assert!(!f["explanation"].as_str().unwrap().is_empty());
    f
}

/// Row 17, deny: SeDenyRemoteInteractiveLogonRight on Administrators (a
/// group of AndrewRathbun's token) and then on AndrewRathbun's own SID.
/// Each is reported on that SID's `ActSysAc` with `rights remove-deny` of
/// that SID (grant-rdp would leave the deny), which clears 0x800 only.
#[test]
fn row17_deny_points_at_the_denying_sid() {
    let (_t, d) = accounts_config(WIN10);
    set_rights(&d, ADMINS, 0xC07);
    let r = diagnose(&d);
    let fix = format!("rights remove-deny SOURCE {ADMINS}");
    let f = one(
        &r,
        "account-rdp-right",
        "AndrewRathbun",
        "SECURITY",
        &act(ADMINS),
        Some(""),
        Some(&fix),
    );
    assert_eq!(f["severity"], "warning");
    assert!(f["last_write"].is_string(), "{f:#}");
    let why = f["explanation"].as_str().unwrap();
    assert!(
        why.contains("Administrators") && why.contains("0x0c07"),
        "{why}"
    );
    run_fix(&d, &format!("ntrescue {}", fix.replace("SOURCE", "SYSTEM")));
    assert!(about(&diagnose(&d), "account-rdp-right", "AndrewRathbun").is_empty());
    assert_eq!(rights_of(&d, ADMINS), Some(0x407));

    // The account's own SID (a key made by hivexregedit).
    set_rights(&d, WIN10_USER_SID, 0x800);
    let r = diagnose(&d);
    let fix = format!("rights remove-deny SOURCE {WIN10_USER_SID}");
    one(
        &r,
        "account-rdp-right",
        "AndrewRathbun",
        "SECURITY",
        &act(WIN10_USER_SID),
        Some(""),
        Some(&fix),
    );
    run_fix(&d, &format!("ntrescue {}", fix.replace("SOURCE", "SYSTEM")));
    assert!(about(&diagnose(&d), "account-rdp-right", "AndrewRathbun").is_empty());
    assert_eq!(rights_of(&d, WIN10_USER_SID), Some(0));
    assert_eq!(rights_of(&d, ADMINS), Some(0x407));
}

/// Row 17, no grant: Administrators without 0x400 (0x007). The finding is
/// on Administrators' `ActSysAc` with `rights grant-rdp` of it, which sets
/// 0x400 back (0x407, as Windows ships it).
#[test]
fn row17_missing_right_points_at_the_group() {
    let (_t, d) = accounts_config(WIN10);
    set_rights(&d, ADMINS, 0x007);
    let r = diagnose(&d);
    let fix = format!("rights grant-rdp SOURCE {ADMINS}");
    let f = one(
        &r,
        "account-rdp-right",
        "AndrewRathbun",
        "SECURITY",
        &act(ADMINS),
        Some(""),
        Some(&fix),
    );
    assert!(
        f["explanation"].as_str().unwrap().contains("0x0007"),
        "{f:#}"
    );
    run_fix(&d, &format!("ntrescue {}", fix.replace("SOURCE", "SYSTEM")));
    assert!(about(&diagnose(&d), "account-rdp-right", "AndrewRathbun").is_empty());
    assert_eq!(rights_of(&d, ADMINS), Some(0x407));
    assert_eq!(rights_of(&d, RDU), Some(0x400));
}

/// Makes WDAGUtilityAccount of a copied SAM an enabled account whose
/// password never expires (ACB 0x0210, written by python-hivex): it could
/// log on, but it is in neither Administrators nor Remote Desktop Users.
pub(crate) fn enable_wdag(dir: &Path) {
    let key = r"SAM\Domains\Account\Users\000001F8";
    hivex_patch(&dir.join("SAM"), key, "F", 0x38, &0x0210u16.to_le_bytes());
}

/// The member SIDs of an alias `C` value, as hivex reads it.
fn alias_members(dir: &Path, alias: &str) -> Vec<String> {
    let (_, c) = hivex_raw(&dir.join("SAM"), alias, "C").unwrap();
    let u32_at = |i: usize| u32::from_le_bytes(c[i..i + 4].try_into().unwrap()) as usize;
    let (off, count) = (0x34 + u32_at(0x28), u32_at(0x30));
    let mut at = off;
    let mut out = Vec::new();
    for _ in 0..count {
        let n = c[at + 1] as usize;
        let auth = c[at + 2..at + 8]
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b));
        let mut s = format!("S-{}-{auth}", c[at]);
        for i in 0..n {
            s.push_str(&format!("-{}", u32_at(at + 8 + 4 * i)));
        }
        out.push(s);
        at += 8 + 4 * n;
    }
    out
}

const RDU_KEY: &str = r"SAM\Domains\Builtin\Aliases\0000022B";
const WIN10_WDAG_SID: &str = "S-1-5-21-2290304894-658537038-505560459-504";

/// Row 18: an enabled account that could log on but is in neither group is
/// reported (a warning here, where no local account may log on) on the
/// alias `C` of Remote Desktop Users with `account add-to-group`; after
/// the fix hivex reads its SID in `C`, the finding and the
/// `no-account-may-rdp` blocker are gone. The built-in accounts Windows
/// ships disabled are not reported.
#[test]
fn row18_not_a_member_is_reported_and_fixed() {
    let (_t, d) = accounts_config(WIN10);
    let r = diagnose(&d);
    assert!(with_code(&r, "account-not-rdp-user").is_empty(), "{r:#}");
    enable_wdag(&d);
    let r = diagnose(&d);
    let fix = "account add-to-group SOURCE WDAGUtilityAccount 'Remote Desktop Users'";
    let f = one(
        &r,
        "account-not-rdp-user",
        "WDAGUtilityAccount",
        "SAM",
        RDU_KEY,
        Some("C"),
        Some(fix),
    );
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["row"], 18);
    assert_eq!(with_code(&r, "account-not-rdp-user").len(), 1, "{r:#}");
    // Remote Desktop Users holds the grant: no row-17 finding beside it.
    assert!(about(&r, "account-rdp-right", "WDAGUtilityAccount").is_empty());
    assert_eq!(with_code(&r, "no-account-may-rdp").len(), 1);
    assert!(!alias_members(&d, RDU_KEY).contains(&WIN10_WDAG_SID.to_string()));
    run_fix(&d, &format!("ntrescue {}", fix.replace("SOURCE", "SYSTEM")));
    let r = diagnose(&d);
    assert!(with_code(&r, "account-not-rdp-user").is_empty(), "{r:#}");
    assert!(with_code(&r, "no-account-may-rdp").is_empty(), "{r:#}");
    assert_eq!(alias_members(&d, RDU_KEY), [WIN10_WDAG_SID]);
}

const USERS: &str = r"SAM\Domains\Account\Users";

/// hivex's user `F` of RID key `rid` (8 hex digits).
fn user_f(dir: &Path, rid: &str) -> Vec<u8> {
    hivex_raw(&dir.join("SAM"), &format!(r"{USERS}\{rid}"), "F")
        .unwrap()
        .1
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Now as a FILETIME.
fn now_filetime() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    unix * 10_000_000 + 116_444_736_000_000_000
}

/// Rows 20–23 on the Windows 10 accounts, each cause written with
/// python-hivex: the lock bit 0x0400 and 3 bad passwords on Administrator
/// (row 20, `account unlock`); "password never expires" cleared on
/// AndrewRathbun, whose PasswordLastSet is 0 (row 21, `--reset-expiry`);
/// an AccountExpires in 2021 (row 22, `account expiry --never`); and
/// AndrewRathbun's blank password (row 23: a manual fix, the offline one
/// refused by design). Each fix is run as printed and hivex reads the
/// fixed bytes.
#[test]
fn rows_20_to_23_are_found_fixed_and_read_back() {
    let (_t, d) = accounts_config(WIN10);
    let sam = d.join("SAM");
    let (admin, user) = ("000001F4", "000003E9");
    let admin_key = format!(r"{USERS}\{admin}");
    let user_key = format!(r"{USERS}\{user}");
    // Row 20.
    let acb = u16_at(&user_f(&d, admin), 0x38);
    hivex_patch(&sam, &admin_key, "F", 0x38, &(acb | 0x0400).to_le_bytes());
    hivex_patch(&sam, &admin_key, "F", 0x40, &3u16.to_le_bytes());
    // The last bad password is from 2022, long before the lockout
    // duration: Windows unlocks it at the next logon (info).
    let r = diagnose(&d);
    let f = one(
        &r,
        "account-lock-expired",
        "Administrator",
        "SAM",
        &admin_key,
        Some("F"),
        Some("account unlock SOURCE Administrator"),
    );
    assert_eq!(f["severity"], "info");
    assert!(about(&r, "account-locked", "Administrator").is_empty());
    // A bad password now: locked out.
    hivex_patch(&sam, &admin_key, "F", 0x28, &now_filetime().to_le_bytes());
    let r = diagnose(&d);
    let fix = "account unlock SOURCE Administrator";
    let f = one(
        &r,
        "account-locked",
        "Administrator",
        "SAM",
        &admin_key,
        Some("F"),
        Some(fix),
    );
    assert_eq!(
        (f["row"].as_u64(), f["severity"].as_str()),
        (Some(20), Some("warning"))
    );
    run_fix(&d, &format!("ntrescue {}", fix.replace("SOURCE", "SYSTEM")));
    let r = diagnose(&d);
    assert!(about(&r, "account-locked", "Administrator").is_empty());
    assert!(about(&r, "account-lock-expired", "Administrator").is_empty());
    let f = user_f(&d, admin);
    assert_eq!((u16_at(&f, 0x38), u16_at(&f, 0x40)), (acb, 0));

    // Row 21: PasswordLastSet is 0 ("must change") once 0x0200 is cleared.
    let acb = u16_at(&user_f(&d, user), 0x38);
    assert_eq!(u64_at(&user_f(&d, user), 0x18), 0);
    hivex_patch(&sam, &user_key, "F", 0x38, &(acb & !0x0200).to_le_bytes());
    let r = diagnose(&d);
    let fix = "account password SOURCE AndrewRathbun --reset-expiry";
    one(
        &r,
        "account-password-expired",
        "AndrewRathbun",
        "SAM",
        &user_key,
        Some("F"),
        Some(fix),
    );
    let t0 = now_filetime();
    run_fix(&d, &format!("ntrescue {}", fix.replace("SOURCE", "SYSTEM")));
    let t1 = now_filetime();
    assert!(about(&diagnose(&d), "account-password-expired", "AndrewRathbun").is_empty());
    let set = u64_at(&user_f(&d, user), 0x18);
    assert!(set >= t0 - 20_000_000 && set <= t1 + 20_000_000, "{set}");

    // Row 22.
    hivex_patch(
        &sam,
        &user_key,
        "F",
        0x20,
        &132_539_328_000_000_000u64.to_le_bytes(),
    );
    let r = diagnose(&d);
    let fix = "account expiry SOURCE AndrewRathbun --never";
    let f = one(
        &r,
        "account-expired",
        "AndrewRathbun",
        "SAM",
        &user_key,
        Some("F"),
        Some(fix),
    );
    assert_eq!(f["fix"]["risk"], "low");
    run_fix(&d, &format!("ntrescue {}", fix.replace("SOURCE", "SYSTEM")));
    assert!(about(&diagnose(&d), "account-expired", "AndrewRathbun").is_empty());
    assert_eq!(u64_at(&user_f(&d, user), 0x20), 0x7FFF_FFFF_FFFF_FFFF);

    // Row 23: reported with the documented manual fix; the offline
    // password is refused (the blank blob has no room for a hash).
    let r = diagnose(&d);
    let f = one(
        &r,
        "account-blank-password",
        "AndrewRathbun",
        "SAM",
        &user_key,
        Some("V"),
        None,
    );
    let manual = f["fix"]["manual"].as_str().unwrap();
    assert!(
        manual.contains("net user AndrewRathbun *")
            && manual.contains("never lower LimitBlankPasswordUse"),
        "{manual}"
    );
    let out = std::process::Command::new(bin())
        .args([
            "account",
            "password",
            "SYSTEM",
            "AndrewRathbun",
            "--password-stdin",
            "--dry-run",
        ])
        .current_dir(&d)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            writeln!(c.stdin.take().unwrap(), "Some-Pass-1")?;
            c.wait_with_output()
        })
        .unwrap();
    // Refused, nothing written (with this SYSTEM of another machine the
    // boot-key check refuses first; the blank-blob refusal on a matching
    // pair is tested in accounts.rs).
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// python-hivex: appends `data` to user `V` of `key` and points the
/// header entry at `entry` (offset, length) at it.
fn v_append(sam: &Path, key: &str, entry: usize, data: &[u8]) {
    let script = r#"
import sys, hivex, struct
h = hivex.Hivex(sys.argv[1], write=True)
n = h.root()
for part in sys.argv[2].split("\\"):
    n = h.node_get_child(n, part)
entry = int(sys.argv[3]); data = bytes.fromhex(sys.argv[4])
vals = []
for v in h.node_values(n):
    d = h.value_value(v)[1]
    if h.value_key(v) == "V":
        d = bytearray(d)
        d[entry:entry + 8] = struct.pack("<LL", len(d) - 0xCC, len(data))
        d = bytes(d) + data
    vals.append({"key": h.value_key(v), "t": h.value_type(v)[0], "value": d})
h.node_set_values(n, vals)
h.commit(sys.argv[1])
"#;
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(sam)
        .arg(key)
        .arg(entry.to_string())
        .arg(hex(data))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Row 22's restrictions, which the model keeps as caveats: logon hours
/// (one day blocked) and a workstations list written into AndrewRathbun's
/// `V` by python-hivex are warnings on `V` with a manual fix.
#[test]
fn row22_logon_hours_and_workstations_are_reported() {
    let (_t, d) = accounts_config(WIN10);
    let sam = d.join("SAM");
    let key = format!(r"{USERS}\000003E9");
    let mut hours = vec![0xFFu8; 21];
    hours[0] = 0;
    v_append(&sam, &key, 0x84, &hours);
    let ws: Vec<u8> = "JUMPHOST"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    v_append(&sam, &key, 0x78, &ws);
    let r = diagnose(&d);
    for code in ["account-logon-hours", "account-workstations-restricted"] {
        let f = one(&r, code, "AndrewRathbun", "SAM", &key, Some("V"), None);
        assert_eq!(
            (f["row"].as_u64(), f["severity"].as_str()),
            (Some(22), Some("warning"))
        );
        assert!(f["fix"]["manual"]
            .as_str()
            .unwrap()
            .contains("net user AndrewRathbun"));
    }
    let ws = about(&r, "account-workstations-restricted", "AndrewRathbun")[0];
    assert!(
        ws["explanation"].as_str().unwrap().contains("JUMPHOST"),
        "{ws:#}"
    );
    // The clean hive has neither.
    let (_t2, d2) = accounts_config(WIN10);
    let r = diagnose(&d2);
    assert!(with_code(&r, "account-logon-hours").is_empty());
    assert!(with_code(&r, "account-workstations-restricted").is_empty());
}

/// The real domain member's SAM: its local Administrators holds Domain
/// Admins of its domain (…-512, read by hivex from the alias `C`), and
/// Administrators hold the RDP right: no `no-account-may-rdp` blocker,
/// an info naming the domain members instead.
#[test]
fn domain_member_corpus_names_domain_accounts_not_a_blocker() {
    let (_t, d) = accounts_config("accounts/win10-domain__belkasoftctf");
    let admins = r"SAM\Domains\Builtin\Aliases\00000220";
    let da = "S-1-5-21-3064058907-2826536974-2889819764-512";
    assert!(alias_members(&d, admins).contains(&da.to_string()));
    let r = diagnose(&d);
    assert!(
        with_code(&r, "no-account-may-rdp").is_empty(),
        "{:#}",
        r["findings"]
    );
    let f = with_code(&r, "domain-accounts-may-rdp");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    let f = f[0];
    assert_eq!(f["severity"], "info");
    assert_eq!(
        (f["hive"].as_str(), f["key"].as_str(), f["value"].as_str()),
        (Some("SAM"), Some(admins), Some("C"))
    );
    assert_eq!(f["found"], serde_json::json!([da]));
    assert!(
        f["explanation"].as_str().unwrap().contains("Domain Admins"),
        "{f:#}"
    );
    let l = ok(run_in(&d, &["account", "list", "SYSTEM", "--json"]));
    assert!(l["notes"].to_string().contains(da), "{}", l["notes"]);
}

/// Row 28 with a SAM beside it: on a domain controller (SYSTEM's `NTDS`
/// parameters name the database) the SAM holds only the Directory Services
/// Restore Mode accounts, so a deny that makes a local account finding on
/// a member server gives none there: one `domain-controller` info, no
/// account finding, no `no-account-may-rdp` blocker.
#[test]
fn a_domain_controller_gets_no_local_account_findings() {
    let (_t, d) = accounts_config(WIN10);
    set_rights(&d, ADMINS, 0xC07);
    let member = diagnose(&d);
    assert_eq!(
        about(&member, "account-rdp-right", "AndrewRathbun").len(),
        1
    );
    merge(
        &d.join("SYSTEM"),
        "SYSTEM",
        r"ControlSet001\Services\NTDS\Parameters",
        &["\"DSA Database file\"=str(1):\"C:\\\\Windows\\\\NTDS\\\\ntds.dit\""],
    );
    let r = diagnose(&d);
    let dc = with_code(&r, "domain-controller");
    assert_eq!(dc.len(), 1, "{:#}", r["findings"]);
    assert_eq!(dc[0]["severity"], "info");
    assert!(dc[0]["explanation"]
        .as_str()
        .unwrap()
        .contains("Directory Services Restore Mode"));
    let accounts: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .filter(|c| c.starts_with("account-") || *c == "no-account-may-rdp")
        .collect();
    assert!(accounts.is_empty(), "{accounts:?}");
}
