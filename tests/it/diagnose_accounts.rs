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
