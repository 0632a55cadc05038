// SPDX-License-Identifier: GPL-2.0-or-later
//! Accounts: `account list` against chntpw and regipy on the real SAM
//! hives; enable/unlock/expiry edits checked by hivex (only the planned
//! values change); a new password decrypted back by impacket's
//! secretsdump in both hash eras; the password never leaks; logon rights.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{
    changed, copy_to, corpus_file, hivex_patch, hivex_raw, hivex_tree, ok, peer, require_tool,
    run_in, sha256_file, tmp,
};

const AES_DIRS: [&str; 3] = [
    "accounts/win10__rathbunvm",
    "accounts/win11__goldpaper",
    "accounts/win10-domain__belkasoftctf",
];
const XP_SAM: &str = "other/real/winxpsp3__bitcurator__SAM";
const XP_SYSTEM: &str = "system/winxpsp3-x86__bitcurator__SYSTEM";
const USERS: &str = r"SAM\Domains\Account\Users";

/// A directory holding copies of `files` (corpus path, name).
fn dir_with(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let t = tmp();
    let d = t.path().join("config");
    std::fs::create_dir(&d).unwrap();
    for (src, name) in files {
        copy_to(&corpus_file(src), &d, name);
    }
    (t, d)
}

/// The copies of an AES-era corpus directory (hives and logs).
fn aes_dir(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let src = corpus_file(rel);
    let names: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let files: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("{rel}/{n}"), n.clone()))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    dir_with(&refs)
}

fn list(source: &Path) -> serde_json::Value {
    ok(run_in(
        Path::new("."),
        &["account", "list", source.to_str().unwrap(), "--json"],
    ))
}

fn account<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed"))
}

/// chntpw -l rows: (rid, name, admin, lock column).
fn chntpw_rows(sam: &Path) -> Vec<(u32, String, bool, String)> {
    let out = peer("chntpw", &["-l", sam.to_str().unwrap()]);
    out.lines()
        .filter(|l| l.starts_with("| ") && !l.contains("RID -"))
        .map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                u32::from_str_radix(c[1], 16).unwrap(),
                c[2].to_string(),
                c[3] == "ADMIN",
                c[4].to_string(),
            )
        })
        .collect()
}

/// regipy's SAM plugin: rid -> (account_flags, failed_login_count, login_count).
fn regipy_sam(sam: &Path) -> Vec<(u32, u64, u64, u64)> {
    let script = r#"
import sys
from regipy.registry import RegistryHive
from regipy.plugins.sam.samparse import SAMParsePlugin
p = SAMParsePlugin(RegistryHive(sys.argv[1]), as_json=True)
p.run()
for e in p.entries:
    print(e["rid"], e["account_flags"], e["failed_login_count"], e["login_count"])
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(sam)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "regipy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let n: Vec<u64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            (n[0] as u32, n[1], n[2], n[3])
        })
        .collect()
}

/// `account list` and two independent readers agree on every account:
/// names, RIDs, Administrators membership, disabled/locked and blank
/// (chntpw), flags and counters (regipy).
#[test]
fn list_matches_chntpw_and_regipy() {
    require_tool("chntpw");
    let sams: Vec<PathBuf> = AES_DIRS
        .iter()
        .map(|d| corpus_file(&format!("{d}/SAM")))
        .chain([corpus_file(XP_SAM)])
        .collect();
    for sam in sams {
        let r = list(&sam);
        let accounts = r["accounts"].as_array().unwrap();
        let rows = chntpw_rows(&sam);
        assert_eq!(rows.len(), accounts.len(), "{}", sam.display());
        for (rid, name, admin, lock) in rows {
            let a = account(&r, &name);
            assert_eq!(a["rid"], rid, "{name}");
            let groups: Vec<&str> = a["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap())
                .collect();
            assert_eq!(groups.contains(&"Administrators"), admin, "{name}");
            // chntpw also calls an account locked when its bad-password
            // count reaches the lockout threshold, even a threshold of 0
            // (which means "never lock out"): compare with its rule.
            let bad = a["bad_password_count"].as_u64().unwrap();
            let threshold = r["policy"]["lockout_threshold"].as_u64().unwrap();
            let dis = a["disabled"] == true || a["locked"] == true || (bad > 0 && bad >= threshold);
            assert_eq!(lock == "dis/lock", dis, "{name}: chntpw says {lock:?}");
            if lock == "*BLANK*" {
                assert_eq!(a["password_blank"], true, "{name}");
            }
        }
        for (rid, flags, bad, logons) in regipy_sam(&sam) {
            let a = accounts.iter().find(|a| a["rid"] == rid).unwrap();
            assert_eq!(a["acb"], flags, "rid {rid}");
            assert_eq!(a["bad_password_count"], bad, "rid {rid}");
            assert_eq!(a["logon_count"], logons, "rid {rid}");
        }
    }
}

/// Logon rights as SECURITY holds them (Administrators 0x407, Remote
/// Desktop Users 0x400), read after replaying SECURITY's log; the answer
/// per account names its reasons.
#[test]
fn rights_and_rdp_answers_on_the_corpus() {
    for d in AES_DIRS {
        let r = list(&corpus_file(d));
        let bits = |sid: &str| {
            r["rights"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["sid"] == sid)
                .map(|h| h["bits"].as_u64().unwrap())
        };
        assert_eq!(bits("S-1-5-32-544"), Some(0x407), "{d}");
        assert_eq!(bits("S-1-5-32-555"), Some(0x400), "{d}");
        let admin = account(&r, "Administrator");
        assert_eq!(admin["rdp"]["may_log_on"], false);
        assert!(admin["rdp"]["because"][0]
            .as_str()
            .unwrap()
            .contains("row 19"));
        let guest = account(&r, "Guest");
        let why = guest["rdp"]["because"].to_string();
        assert!(why.contains("row 17") && why.contains("row 18"), "{why}");
    }
}

fn edit(args: &[&str], dir: &Path) -> serde_json::Value {
    let bk = dir.parent().unwrap().join("bk");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", "--backup-dir", bk.to_str().unwrap()]);
    ok(run_in(Path::new("."), &all))
}

/// enable and unlock change only the account's F (hivex reads the rest
/// unchanged); chntpw and regipy see the new flags and counters.
#[test]
fn enable_and_unlock_change_only_f() {
    let (_t, d) = aes_dir("accounts/win10-domain__belkasoftctf");
    let sam = d.join("SAM");
    let before = hivex_tree(&sam);
    let s = d.to_str().unwrap();
    let r = edit(&["account", "unlock", s, "Administrator"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    let r = edit(&["account", "enable", s, "Administrator"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    let after = hivex_tree(&sam);
    assert_eq!(
        changed(&before, &after),
        [(format!(r"{USERS}\000001F4").to_uppercase(), "F".to_string())]
    );
    let rows = chntpw_rows(&sam);
    let admin = rows.iter().find(|r| r.0 == 500).unwrap();
    assert_eq!(admin.3, "", "chntpw still sees it disabled or locked");
    let reg = regipy_sam(&sam);
    let a = reg.iter().find(|r| r.0 == 500).unwrap();
    assert_eq!((a.1 & 1, a.2), (0, 0), "regipy: enabled, no bad passwords");
    // A rerun has nothing to do; an unknown name is refused.
    let r = edit(&["account", "enable", s, "Administrator"], &d);
    assert_eq!(r["outcome"], "nothing-to-do");
    let r = run_in(
        Path::new("."),
        &["account", "enable", s, "nobody", "--dry-run"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    // --reset-expiry / --never-expires: one F each.
    let r = edit(&["account", "password", s, "User", "--reset-expiry"], &d);
    assert_eq!(r["changes"][0]["value"], "F");
    let r = edit(
        &[
            "account",
            "password",
            s,
            "WDAGUtilityAccount",
            "--never-expires",
        ],
        &d,
    );
    assert_eq!(r["outcome"], "written");
    let l = list(&d);
    assert_eq!(
        account(&l, "WDAGUtilityAccount")["password_never_expires"],
        true
    );
}

/// 2021-01-01T00:00:00Z as a FILETIME.
const FT_2021: u64 = 132_539_328_000_000_000;

/// `account expiry --never` writes AccountExpires (user F 0x20) =
/// 0x7FFFFFFFFFFFFFFF and nothing else: hivex reads the 8 new bytes, every
/// other byte of F and every other value and key unchanged; a dry run
/// writes nothing; a rerun has nothing to do; `--never` is required.
#[test]
fn account_expiry_never_changes_only_account_expires() {
    let (_t, d) = aes_dir("accounts/win11__goldpaper");
    let sam = d.join("SAM");
    let key = format!(r"{USERS}\000001F8");
    hivex_patch(&sam, &key, "F", 0x20, &FT_2021.to_le_bytes());
    let l = list(&d);
    let wdag = account(&l, "WDAGUtilityAccount");
    assert_eq!(wdag["account_expires"], "2021-01-01T00:00:00Z");
    assert!(
        wdag["rdp"]["because"].to_string().contains("row 22"),
        "{wdag}"
    );
    let s = d.to_str().unwrap();
    let sum = sha256_file(&sam);
    let r = edit(
        &[
            "account",
            "expiry",
            s,
            "WDAGUtilityAccount",
            "--never",
            "--dry-run",
        ],
        &d,
    );
    assert_eq!(r["outcome"], "dry-run", "{r}");
    assert_eq!(sha256_file(&sam), sum, "a dry run wrote");
    let (ty, f0) = hivex_raw(&sam, &key, "F").unwrap();
    let before = hivex_tree(&sam);
    let r = edit(
        &["account", "expiry", s, "WDAGUtilityAccount", "--never"],
        &d,
    );
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(r["command"], "account expiry --never");
    assert_eq!(r["changes"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["changes"][0]["value"], "F");
    assert_eq!(r["changes"][0]["hive"], "SAM");
    let (ty1, f1) = hivex_raw(&sam, &key, "F").unwrap();
    assert_eq!(ty1, ty);
    assert_eq!(f1.len(), f0.len());
    assert_eq!(f1[0x20..0x28], 0x7FFF_FFFF_FFFF_FFFFu64.to_le_bytes());
    assert_eq!(&f1[..0x20], &f0[..0x20]);
    assert_eq!(&f1[0x28..], &f0[0x28..]);
    assert_eq!(
        changed(&before, &hivex_tree(&sam)),
        [(key.to_uppercase(), "F".to_string())]
    );
    let l = list(&d);
    let wdag = account(&l, "WDAGUtilityAccount");
    assert!(wdag["account_expires"].is_null(), "{wdag}");
    assert!(!wdag["rdp"]["because"].to_string().contains("row 22"));
    let r = edit(
        &["account", "expiry", s, "WDAGUtilityAccount", "--never"],
        &d,
    );
    assert_eq!(r["outcome"], "nothing-to-do");
    let r = run_in(
        Path::new("."),
        &["account", "expiry", s, "WDAGUtilityAccount"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let h = run_in(Path::new("."), &["account", "expiry", "--help"]);
    assert!(h.stdout.contains("ntrescue account expiry"), "{}", h.stdout);
}

/// secretsdump's `user:rid:lm:nt` lines.
fn secretsdump(system: &Path, sam: &Path) -> Vec<String> {
    require_tool("secretsdump.py");
    let out = peer(
        "secretsdump.py",
        &[
            "-system",
            system.to_str().unwrap(),
            "-sam",
            sam.to_str().unwrap(),
            "LOCAL",
        ],
    );
    out.lines()
        .filter(|l| l.ends_with(":::"))
        .map(String::from)
        .collect()
}

/// impacket's NT hash of a password (MD4 of UTF-16LE).
fn impacket_nthash(pw: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys; from impacket.ntlm import compute_nthash; print(compute_nthash(sys.argv[1]).hex())",
            pw,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "impacket: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `account password` with the password on standard input.
fn set_password(dir: &Path, name: &str, pw: &str, extra: &[&str]) -> (i32, String, String) {
    let bk = dir.parent().unwrap().join("bk");
    let mut c = Command::new(crate::util::bin());
    c.args([
        "account",
        "password",
        dir.to_str().unwrap(),
        name,
        "--password-stdin",
    ])
    .args(["--backup-dir", bk.to_str().unwrap()])
    .args(extra)
    .env("NO_COLOR", "1")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    writeln!(child.stdin.take().unwrap(), "{pw}").unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// No file under `root` holds `needle` (as text or UTF-16LE).
fn assert_absent_under(root: &Path, needle: &str) {
    let utf16: Vec<u8> = needle
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let b = std::fs::read(&p).unwrap();
        for n in [needle.as_bytes(), &utf16[..]] {
            assert!(
                !b.windows(n.len()).any(|w| w == n),
                "{} holds the secret",
                p.display()
            );
        }
    }
}

/// The real same-machine XP pair (RC4 era): secretsdump decrypts the new
/// NT hash to MD4 of the new password and finds no LM hash; only the
/// account's V and F change; the password and its hash appear nowhere in
/// the output, the JSON or the bundle; a blank account is refused.
#[test]
fn password_rc4_era_round_trips_through_secretsdump() {
    let (t, d) = dir_with(&[(XP_SAM, "SAM"), (XP_SYSTEM, "SYSTEM")]);
    let (sam, system) = (d.join("SAM"), d.join("SYSTEM"));
    let before = hivex_tree(&sam);
    let dump0 = secretsdump(&system, &sam);
    let pw = "N3w-Rescue-Pass!";
    let (code, out, err) = set_password(&d, "Administrator", pw, &["--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let hash = impacket_nthash(pw);
    let dump = secretsdump(&system, &sam);
    let admin = dump
        .iter()
        .find(|l| l.starts_with("Administrator:500:"))
        .unwrap();
    assert_eq!(
        admin,
        &format!("Administrator:500:aad3b435b51404eeaad3b435b51404ee:{hash}:::")
    );
    for l in dump0.iter().filter(|l| !l.starts_with("Administrator:")) {
        assert!(dump.contains(l), "{l} changed");
    }
    let key = format!(r"{USERS}\000001F4").to_uppercase();
    assert_eq!(
        changed(&before, &hivex_tree(&sam)),
        [(key.clone(), "F".into()), (key, "V".into())]
    );
    for s in [&out, &err] {
        assert!(!s.contains(pw) && !s.contains(&hash));
    }
    assert!(out.contains("redacted"), "{out}");
    assert!(
        err.contains("DPAPI") || out.contains("DPAPI"),
        "the loss of DPAPI secrets is said"
    );
    assert_absent_under(&t.path().join("bk"), pw);
    assert_absent_under(&t.path().join("bk"), &hash);
    // Pat's password is blank: the blob has no room for a hash.
    let (code, out, err) = set_password(&d, "Pat", pw, &["--dry-run"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("blank password"), "{err}");
}

/// A consistent AES-era SYSTEM/SAM pair, made with impacket's primitives:
/// the SAM of `acc` (one of [`AES_DIRS`]) whose Key0 is re-sealed under the XP
/// SYSTEM's boot key with a fresh hashed boot key, and whose
/// WDAGUtilityAccount NT hash is re-encrypted (its own salt) to MD4(`old`).
/// Returns the directory.
fn aes_pair(acc: &str, old: &str) -> (tempfile::TempDir, PathBuf) {
    let sam = format!("{acc}/SAM");
    let (t, d) = dir_with(&[(&sam, "SAM"), (XP_SYSTEM, "SYSTEM")]);
    let (sam, system) = (d.join("SAM"), d.join("SYSTEM"));
    let read = r#"
import sys, hivex
h = hivex.Hivex(sys.argv[1])
def node(p):
    n = h.root()
    for part in p.split("\\"):
        n = h.node_get_child(n, part)
    return n
def val(n, name):
    return [h.value_value(v)[1] for v in h.node_values(n) if h.value_key(v) == name][0]
print(val(node(r"SAM\Domains\Account"), "F").hex())
print(val(node(r"SAM\Domains\Account\Users\000001F8"), "V").hex())
"#;
    let fv = Command::new("/usr/bin/python3")
        .args(["-c", read])
        .arg(&sam)
        .output()
        .unwrap();
    assert!(
        fv.status.success(),
        "hivex: {}",
        String::from_utf8_lossy(&fv.stderr)
    );
    let fv = String::from_utf8_lossy(&fv.stdout).into_owned();
    let rekey = r#"
import sys, struct
from impacket.examples.secretsdump import LocalOperations, CryptoCommon
from impacket.ntlm import compute_nthash
from Cryptodome.Cipher import DES
F = bytearray.fromhex(sys.argv[2]); V = bytearray.fromhex(sys.argv[3])
boot = LocalOperations(sys.argv[1]).getBootKey()
hbk = bytes(range(0x40, 0x50)); salt = bytes(range(0x10))
k0 = 0x68
assert struct.unpack("<L", F[k0:k0+4])[0] == 2
F[k0+0x10:k0+0x20] = salt
F[k0+0x20:k0+0x40] = CryptoCommon.encryptAES(boot, hbk, salt)
off, ln = struct.unpack("<LL", V[0xa8:0xb0]); off += 0xcc
assert ln == 0x38
k1, k2 = CryptoCommon().deriveKey(0x1F8)
h = compute_nthash(sys.argv[4])
obf = DES.new(k1, DES.MODE_ECB).encrypt(h[:8]) + DES.new(k2, DES.MODE_ECB).encrypt(h[8:])
V[off+0x18:off+0x38] = CryptoCommon.encryptAES(hbk, obf, bytes(V[off+8:off+0x18]))
print(F.hex()); print(V.hex())
"#;
    let lines: Vec<&str> = fv.lines().collect();
    let new = Command::new("python3")
        .args(["-c", rekey])
        .arg(&system)
        .args([lines[0], lines[1], old])
        .output()
        .unwrap();
    assert!(
        new.status.success(),
        "impacket: {}",
        String::from_utf8_lossy(&new.stderr)
    );
    let new = String::from_utf8_lossy(&new.stdout).into_owned();
    let nl: Vec<&str> = new.lines().collect();
    let write = r#"
import sys, hivex
h = hivex.Hivex(sys.argv[1], write=True)
def node(p):
    n = h.root()
    for part in p.split("\\"):
        n = h.node_get_child(n, part)
    return n
def put(p, name, hexdata):
    n = node(p)
    vals = [{"key": h.value_key(v), "t": h.value_type(v)[0], "value": h.value_value(v)[1]} for v in h.node_values(n)]
    for v in vals:
        if v["key"] == name:
            v["value"] = bytes.fromhex(hexdata)
    h.node_set_values(n, vals)
put(r"SAM\Domains\Account", "F", sys.argv[2])
put(r"SAM\Domains\Account\Users\000001F8", "V", sys.argv[3])
h.commit(sys.argv[1])
"#;
    let w = Command::new("/usr/bin/python3")
        .args(["-c", write])
        .arg(&sam)
        .args([nl[0], nl[1]])
        .output()
        .unwrap();
    assert!(
        w.status.success(),
        "hivex: {}",
        String::from_utf8_lossy(&w.stderr)
    );
    (t, d)
}

/// AES era, on each real AES-era SAM of the corpus: on a consistent pair
/// secretsdump reads the old hash, then the new one after `account
/// password`, in the same format and length; the unmodified SAM with this
/// SYSTEM (two machines) is refused; a blank AES-era account is refused.
#[test]
fn password_aes_era_round_trips_and_mismatched_pair_is_refused() {
    for (i, real) in AES_DIRS.iter().enumerate() {
        aes_round_trip(
            real,
            &format!("Old-Pass-{i}"),
            &format!("Brand-New-Aes-{i}9"),
        );
    }
}

fn aes_round_trip(real: &str, old: &str, pw: &str) {
    let (t, d) = aes_pair(real, old);
    let (sam, system) = (d.join("SAM"), d.join("SYSTEM"));
    let line = |dump: &[String]| {
        dump.iter()
            .find(|l| l.starts_with("WDAGUtilityAccount:504:"))
            .cloned()
            .unwrap()
    };
    assert!(
        line(&secretsdump(&system, &sam)).contains(&impacket_nthash(old)),
        "{real}"
    );
    let before = hivex_tree(&sam);
    let (code, out, err) = set_password(&d, "WDAGUtilityAccount", pw, &["--json"]);
    assert_eq!(code, 0, "{real}: {out}\n{err}");
    let hash = impacket_nthash(pw);
    assert!(
        line(&secretsdump(&system, &sam)).ends_with(&format!(":{hash}:::")),
        "{real}"
    );
    let key = format!(r"{USERS}\000001F8").to_uppercase();
    let after = hivex_tree(&sam);
    assert_eq!(
        changed(&before, &after),
        [(key.clone(), "F".into()), (key.clone(), "V".into())],
        "{real}"
    );
    // Same length: the V value's size is unchanged in the AES era (no LM).
    assert_eq!(before[&key]["V"].len(), after[&key]["V"].len());
    assert!(!out.contains(pw) && !err.contains(pw) && !out.contains(&hash));
    assert_absent_under(&t.path().join("bk"), pw);
    assert_absent_under(&t.path().join("bk"), &hash);
    // The account at RID 1001 has a blank AES-era hash on all three.
    let blank = account_name(&sam, "000003E9");
    let (code, _, err) = set_password(&d, &blank, pw, &["--dry-run"]);
    assert_eq!(code, 3, "{real}");
    assert!(err.contains("blank password"), "{real}: {err}");

    let (_t2, d2) = dir_with(&[(&format!("{real}/SAM"), "SAM"), (XP_SYSTEM, "SYSTEM")]);
    let (code, _, err) = set_password(&d2, "WDAGUtilityAccount", pw, &["--dry-run"]);
    assert_eq!(code, 3, "{real}: {err}");
    assert!(err.contains("not from the same machine"), "{real}: {err}");
}

/// The user name in `V` of SAM user `rid` (hex, as its key is named), read
/// with hivex.
fn account_name(sam: &Path, rid: &str) -> String {
    let (_, v) = hivex_raw(sam, &format!(r"{USERS}\{rid}"), "V").unwrap();
    let u = |at: usize| u32::from_le_bytes(v[at..at + 4].try_into().unwrap()) as usize;
    let (off, len) = (0xcc + u(0x0c), u(0x10));
    let units: Vec<u16> = v[off..off + len]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).unwrap()
}

/// hivex's ActSysAc of a SID (python-hivex; the primary file as stored).
fn hivex_rights(security: &Path, sid: &str) -> Option<u32> {
    let script = r#"
import sys, hivex
h = hivex.Hivex(sys.argv[1])
n = h.root()
for part in ["Policy", "Accounts", sys.argv[2], "ActSysAc"]:
    n = h.node_get_child(n, part)
    if n is None:
        sys.exit(0)
v = h.node_get_value(n, "")
print(int.from_bytes(h.value_value(v)[1][:4], "little"))
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(security)
        .arg(sid)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hivex: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// grant-rdp sets 0x400 and remove-deny clears 0x800 where the SID's key
/// exists, read back by hivex and by `account list`; an unknown name is
/// refused; reruns have nothing to do (a SID without a key:
/// accounts_groups.rs).
#[test]
fn rights_grant_and_remove_round_trip() {
    require_tool("hivexget");
    let (_t, d) = aes_dir("accounts/win10__rathbunvm");
    let s = d.to_str().unwrap();
    let sec = d.join("SECURITY");
    let r = edit(&["rights", "grant-rdp", s, "Backup Operators"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(hivex_rights(&sec, "S-1-5-32-551"), Some(0x407));
    let r = edit(&["rights", "grant-rdp", s, "S-1-5-32-551"], &d);
    assert_eq!(r["outcome"], "nothing-to-do");
    // A deny on Users (0x3 | 0x800, written by hivex): the member
    // AndrewRathbun is denied; remove-deny takes it away.
    let reg = d.parent().unwrap().join("deny.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\r\n\r\n\
         [HKEY_LOCAL_MACHINE\\SECURITY\\Policy\\Accounts\\S-1-5-32-545\\ActSysAc]\r\n\
         @=hex(0):03,08,00,00\r\n",
    )
    .unwrap();
    peer(
        "hivexregedit",
        &[
            "--merge",
            "--prefix",
            r"HKEY_LOCAL_MACHINE\SECURITY",
            sec.to_str().unwrap(),
            reg.to_str().unwrap(),
        ],
    );
    assert_eq!(hivex_rights(&sec, "S-1-5-32-545"), Some(0x803));
    let why = account(&list(&d), "AndrewRathbun")["rdp"]["because"].to_string();
    assert!(why.contains("SeDenyRemoteInteractiveLogonRight"), "{why}");
    let r = edit(&["rights", "remove-deny", s, "Users"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(hivex_rights(&sec, "S-1-5-32-545"), Some(0x3));
    let r = edit(&["rights", "remove-deny", s, "Users"], &d);
    assert_eq!(r["outcome"], "nothing-to-do");
    // A name that is no SID, account or group is refused.
    let r = run_in(
        Path::new("."),
        &["rights", "grant-rdp", s, "nobody-here", "--dry-run"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("neither a SID"), "{}", r.stderr);
}

/// A domain controller (SYSTEM `Services\NTDS\Parameters` names the
/// directory database, added here by hivex): `account list` says so and
/// answers "no" for every SAM account; account edits are refused.
#[test]
fn domain_controller_is_detected_and_refused() {
    let (_t, d) = dir_with(&[(XP_SAM, "SAM"), (XP_SYSTEM, "SYSTEM")]);
    let reg = d.parent().unwrap().join("ntds.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\r\n\r\n\
         [HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\NTDS]\r\n\r\n\
         [HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\NTDS\\Parameters]\r\n\
         \"DSA Database file\"=\"C:\\\\Windows\\\\NTDS\\\\ntds.dit\"\r\n",
    )
    .unwrap();
    peer(
        "hivexregedit",
        &[
            "--merge",
            "--prefix",
            r"HKEY_LOCAL_MACHINE\SYSTEM",
            d.join("SYSTEM").to_str().unwrap(),
            reg.to_str().unwrap(),
        ],
    );
    let r = list(&d);
    assert_eq!(r["domain_controller"], true);
    for a in r["accounts"].as_array().unwrap() {
        assert_eq!(a["rdp"]["may_log_on"], false);
        assert!(a["rdp"]["because"][0].as_str().unwrap().contains("row 28"));
    }
    let s = d.to_str().unwrap();
    let r = run_in(
        Path::new("."),
        &["account", "enable", s, "Guest", "--dry-run"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("domain controller"), "{}", r.stderr);
    // A new password is refused there too; the SAM is left as it was.
    let sam = sha256_file(&d.join("SAM"));
    let (code, _, err) = set_password(&d, "Administrator", "Dc-Pass-1", &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("domain controller"), "{err}");
    assert_eq!(sha256_file(&d.join("SAM")), sam);
}

/// `account password` for a name SAM does not hold (a domain account, or a
/// typo) is refused, naming it; nothing is written.
#[test]
fn password_for_an_unknown_account_is_refused() {
    let (_t, d) = dir_with(&[(XP_SAM, "SAM"), (XP_SYSTEM, "SYSTEM")]);
    let sam = sha256_file(&d.join("SAM"));
    let (code, _, err) = set_password(&d, "CORP\\alice", "Any-Pass-1", &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("alice"), "{err}");
    assert_eq!(sha256_file(&d.join("SAM")), sam);
}

/// `--reset-expiry`, `--never-expires` and the rights edits, read back by
/// hivex in lock-step: each changes exactly its one value (every other key
/// and value of the hive equal before and after), and the changed bytes
/// are the planned ones.
#[test]
fn expiry_and_rights_edits_read_back_lock_step() {
    let (_t, d) = aes_dir("accounts/win10-domain__belkasoftctf");
    let (sam, sec) = (d.join("SAM"), d.join("SECURITY"));
    let s = d.to_str().unwrap();
    // A deny on Users (0x803), written by hivex (which leaves this dirty
    // SECURITY without logs clean).
    let act = |sid: &str| format!(r"Policy\Accounts\{sid}\ActSysAc");
    crate::diagnose::merge(
        &sec,
        "SECURITY",
        &act("S-1-5-32-545"),
        &["@=hex(0):03,08,00,00"],
    );
    let now = || {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        unix * 10_000_000 + 116_444_736_000_000_000
    };
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    // --reset-expiry: PasswordLastSet (0x18) = now, nothing else.
    let user = format!(r"{USERS}\000003E9");
    let f0 = hivex_raw(&sam, &user, "F").unwrap().1;
    let before = hivex_tree(&sam);
    let t0 = now();
    let r = edit(&["account", "password", s, "User", "--reset-expiry"], &d);
    let t1 = now();
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(
        changed(&before, &hivex_tree(&sam)),
        [(user.to_uppercase(), "F".to_string())]
    );
    let f1 = hivex_raw(&sam, &user, "F").unwrap().1;
    let set = u64_at(&f1, 0x18);
    assert!(set + 20_000_000 >= t0 && set <= t1 + 20_000_000, "{set}");
    assert_eq!((&f1[..0x18], &f1[0x20..]), (&f0[..0x18], &f0[0x20..]));
    // --never-expires: ACB 0x0200 set, nothing else.
    let wdag = format!(r"{USERS}\000001F8");
    let f0 = hivex_raw(&sam, &wdag, "F").unwrap().1;
    let before = hivex_tree(&sam);
    let r = edit(
        &[
            "account",
            "password",
            s,
            "WDAGUtilityAccount",
            "--never-expires",
        ],
        &d,
    );
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(
        changed(&before, &hivex_tree(&sam)),
        [(wdag.to_uppercase(), "F".to_string())]
    );
    let f1 = hivex_raw(&sam, &wdag, "F").unwrap().1;
    let acb = |f: &[u8]| u16::from_le_bytes([f[0x38], f[0x39]]);
    assert_eq!(acb(&f1), acb(&f0) | 0x0200);
    assert_eq!((&f1[..0x38], &f1[0x3A..]), (&f0[..0x38], &f0[0x3A..]));
    // rights grant-rdp: Backup Operators 0x7 -> 0x407, nothing else.
    let bits = |sid: &str| {
        let d = hivex_raw(&sec, &act(sid), "").unwrap().1;
        u32::from_le_bytes(d[..4].try_into().unwrap())
    };
    assert_eq!(bits("S-1-5-32-551"), 0x7);
    let before = hivex_tree(&sec);
    let r = edit(&["rights", "grant-rdp", s, "S-1-5-32-551"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(
        changed(&before, &hivex_tree(&sec)),
        [(act("S-1-5-32-551").to_uppercase(), String::new())]
    );
    assert_eq!(bits("S-1-5-32-551"), 0x407);
    // rights remove-deny: the deny on Users (0x803) -> 0x3.
    assert_eq!(bits("S-1-5-32-545"), 0x803);
    let before = hivex_tree(&sec);
    let r = edit(&["rights", "remove-deny", s, "S-1-5-32-545"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(
        changed(&before, &hivex_tree(&sec)),
        [(act("S-1-5-32-545").to_uppercase(), String::new())]
    );
    assert_eq!(bits("S-1-5-32-545"), 0x3);
}

/// A local account linked to a Microsoft account (`InternetUserName`,
/// added by hivexregedit) gets no offline password: refused, nothing
/// written. `--password-file` sets one that secretsdump decrypts, and the
/// password appears in no output.
#[test]
fn microsoft_account_refused_and_password_file_works() {
    let (t, d) = dir_with(&[(XP_SAM, "SAM"), (XP_SYSTEM, "SYSTEM")]);
    let (sam, system) = (d.join("SAM"), d.join("SYSTEM"));
    let pw = "From-A-File-7";
    let file = t.path().join("pw.txt");
    std::fs::write(&file, format!("{pw}\n")).unwrap();
    let bk = t.path().join("bk");
    let r = run_in(
        Path::new("."),
        &[
            "account",
            "password",
            d.to_str().unwrap(),
            "Administrator",
            "--password-file",
            file.to_str().unwrap(),
            "--json",
            "--backup-dir",
            bk.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains(pw) && !r.stderr.contains(pw));
    let hash = impacket_nthash(pw);
    assert!(
        secretsdump(&system, &sam)
            .iter()
            .any(|l| l.starts_with("Administrator:500:") && l.ends_with(&format!(":{hash}:::"))),
        "secretsdump does not read the new hash"
    );
    // Linked to a Microsoft account: refused before anything is written.
    crate::diagnose::merge(
        &sam,
        "SAM",
        &format!(r"{USERS}\000001F4"),
        &["\"InternetUserName\"=\"pat@example.com\""],
    );
    let sum = sha256_file(&sam);
    let (code, out, err) = set_password(&d, "Administrator", "Other-Pass-8", &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("Microsoft account pat@example.com"), "{err}");
    assert_eq!(sha256_file(&sam), sum);
}

/// A password given as an extra argument of `account password` is a
/// usage error whose message (text and JSON) never shows it, long or
/// short; the message still names the problem.
#[test]
fn password_argument_is_not_echoed_in_usage_errors() {
    for secret in ["Hunter2-Secret", "pw1", "it's"] {
        let r = run_in(
            Path::new("."),
            &["account", "password", "/nonexistent", "admin", secret],
        );
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(!r.stderr.contains(secret), "{}", r.stderr);
        assert!(r.stderr.contains("unexpected argument"), "{}", r.stderr);
        assert!(r.stderr.contains("<redacted>"), "{}", r.stderr);
        let r = run_in(
            Path::new("."),
            &[
                "account",
                "password",
                "/nonexistent",
                "admin",
                secret,
                "--json",
            ],
        );
        assert_eq!(r.code, 2);
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("unexpected argument"), "{}", r.stdout);
    }
    // Other commands keep clap's message as it is.
    let r = run_in(
        Path::new("."),
        &["account", "unlock", "/x", "admin", "extra-word"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("extra-word"), "{}", r.stderr);
}

/// Runs `account password DIR NAME` on a pseudo-terminal (python's `pty`),
/// answering each prompt with the next of `answers` once the prompt has
/// appeared; returns the exit code and everything the terminal showed.
fn password_on_a_terminal(dir: &Path, name: &str, answers: &[&str]) -> (i32, String) {
    let driver = r#"
import os, pty, sys
bin, d, name, bk = sys.argv[1:5]
answers = sys.argv[5:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["NO_COLOR"] = "1"
    os.execv(bin, [bin, "account", "password", d, name, "--backup-dir", bk])
seen = b""
prompts = [b"New password: ", b"Again: "]
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    # Answer each prompt once it has shown, never ahead of it (echo is
    # off only from the prompt on).
    asked = sum(seen.count(p) for p in prompts)
    while answers and asked > len(sys.argv[5:]) - len(answers):
        os.write(fd, answers.pop(0).encode() + b"\n")
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let bk = dir.parent().unwrap().join("bk");
    let out = Command::new("python3")
        .args(["-c", driver, crate::util::bin()])
        .arg(dir)
        .arg(name)
        .arg(&bk)
        .args(answers)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The password prompt on a terminal: asked twice with echo off (the
/// terminal never shows it), two different entries refused with nothing
/// written, two equal ones set it (secretsdump reads the new hash); without
/// a terminal and without --password-file / --password-stdin it is
/// refused, and so is an empty password.
#[test]
fn password_prompt_on_a_terminal() {
    let (_t, d) = aes_pair(AES_DIRS[0], "Old-Pass-0");
    let (sam, system) = (d.join("SAM"), d.join("SYSTEM"));
    let original = sha256_file(&sam);
    let (code, shown) =
        password_on_a_terminal(&d, "WDAGUtilityAccount", &["One-Pass-1", "Other-Pass-2"]);
    assert_eq!(code, 3, "{shown}");
    assert!(shown.contains("the two passwords differ"), "{shown}");
    assert!(
        !shown.contains("One-Pass-1") && !shown.contains("Other-Pass-2"),
        "{shown}"
    );
    assert_eq!(sha256_file(&sam), original, "nothing written");

    let pw = "Typed-Pass-7";
    let (code, shown) = password_on_a_terminal(&d, "WDAGUtilityAccount", &[pw, pw]);
    assert_eq!(code, 0, "{shown}");
    assert_eq!(shown.matches("New password: ").count(), 1, "{shown}");
    assert_eq!(shown.matches("Again: ").count(), 1, "{shown}");
    assert!(
        !shown.contains(pw),
        "the terminal showed the password: {shown}"
    );
    let dump = secretsdump(&system, &sam);
    let line = dump
        .iter()
        .find(|l| l.starts_with("WDAGUtilityAccount:504:"))
        .unwrap();
    assert!(
        line.ends_with(&format!(":{}:::", impacket_nthash(pw))),
        "{line}"
    );

    // No terminal, no password option: refused before anything is read.
    let now = sha256_file(&sam);
    let out = Command::new(crate::util::bin())
        .args([
            "account",
            "password",
            d.to_str().unwrap(),
            "WDAGUtilityAccount",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no terminal to prompt on"));
    let (code, _, err) = set_password(&d, "WDAGUtilityAccount", "", &[]);
    assert_eq!(code, 3);
    assert!(err.contains("empty password"), "{err}");
    assert_eq!(sha256_file(&sam), now);
}

/// Row 24 in the account model: the NTLM settings of SYSTEM's current
/// control set are in `account list`'s policy, and incoming NTLM denied
/// (RestrictReceivingNTLMTraffic 2, written by hivexregedit) is a caveat of
/// every account's RDP answer, as `diagnose` reports it
/// (`ntlm-incoming-denied`).
#[test]
fn ntlm_restrictions_are_caveats_of_every_account() {
    let (_t, d) = dir_with(&[(XP_SAM, "SAM"), (XP_SYSTEM, "SYSTEM")]);
    let r = list(&d);
    assert!(r["policy"]["restrict_receiving_ntlm_traffic"].is_null());
    let row24 = |r: &serde_json::Value| {
        r["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| {
                a["rdp"]["caveats"].as_array().unwrap().iter().any(|c| {
                    c.as_str()
                        .unwrap()
                        .starts_with("row 24: incoming NTLM is denied")
                })
            })
            .count()
    };
    assert_eq!(row24(&r), 0);
    super::diagnose::merge(
        &d.join("SYSTEM"),
        "SYSTEM",
        r"ControlSet001\Control\Lsa\MSV1_0",
        &[
            "\"RestrictReceivingNTLMTraffic\"=dword:00000002",
            "\"NtlmMinServerSec\"=dword:20080000",
        ],
    );
    let r = list(&d);
    assert_eq!(r["policy"]["restrict_receiving_ntlm_traffic"], 2);
    assert_eq!(r["policy"]["ntlm_min_server_sec"], 0x2008_0000u32);
    let n = r["accounts"].as_array().unwrap().len();
    assert!(n > 0);
    assert_eq!(row24(&r), n, "{r:#}");
    let text = run_in(Path::new("."), &["account", "list", d.to_str().unwrap()]).stdout;
    assert!(
        text.contains("RestrictReceivingNTLMTraffic 0x2; NtlmMinServerSec 0x20080000"),
        "{text}"
    );
    assert!(
        text.contains("but row 24: incoming NTLM is denied"),
        "{text}"
    );
    let diag = ok(run_in(
        Path::new("."),
        &["diagnose", d.to_str().unwrap(), "--json"],
    ));
    assert!(diag["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "ntlm-incoming-denied"));
}
