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
