// SPDX-License-Identifier: GPL-2.0-or-later
//! Account rescue that creates keys: `account add-to-group` (the alias `C`
//! grows, the reverse map under `Aliases\Members` gains a key) and
//! `rights grant-rdp` for a SID without a `Policy\Accounts` key, on copies
//! of the real Windows 10/11 SAM and SECURITY hives. The new keys and
//! values are read back by hivex, regipy and nt-hive (through the library's
//! two-reader lookup); everything else is unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{copy_to, corpus_file, hivex_tree, ok, require_tool, run_in, tmp, Tree};

const AES_DIRS: [&str; 3] = [
    "accounts/win10__rathbunvm",
    "accounts/win11__goldpaper",
    "accounts/win10-domain__belkasoftctf",
];
const BUILTIN: &str = r"SAM\Domains\Builtin\Aliases";
const RDU_KEY: &str = r"SAM\Domains\Builtin\Aliases\0000022B";

/// Copies of a corpus directory's hives and logs, in `<tmp>/config`.
fn copy_dir(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tmp();
    let d = t.path().join("config");
    std::fs::create_dir(&d).unwrap();
    for e in std::fs::read_dir(corpus_file(rel)).unwrap() {
        let e = e.unwrap();
        copy_to(&e.path(), &d, &e.file_name().to_string_lossy());
    }
    (t, d)
}

fn edit(args: &[&str], dir: &Path) -> serde_json::Value {
    let bk = dir.parent().unwrap().join("bk");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", "--backup-dir", bk.to_str().unwrap()]);
    ok(run_in(Path::new("."), &all))
}

fn list(source: &Path) -> serde_json::Value {
    ok(run_in(
        Path::new("."),
        &["account", "list", source.to_str().unwrap(), "--json"],
    ))
}

fn account<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed"))
}

/// Keys only in `after`, and the (key, value) pairs that differ in keys
/// both hold.
fn tree_diff(before: &Tree, after: &Tree) -> (Vec<String>, Vec<(String, String)>) {
    assert!(
        before.keys().all(|k| after.contains_key(k)),
        "a key was removed"
    );
    let added: Vec<String> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let mut changed = Vec::new();
    for (k, b) in before {
        let a = &after[k];
        for n in b.keys().chain(a.keys()) {
            if b.get(n) != a.get(n) && !changed.contains(&(k.clone(), n.clone())) {
                changed.push((k.clone(), n.clone()));
            }
        }
    }
    changed.sort();
    (added, changed)
}

/// hivex (python-hivex): the type and data of the default value of `path`.
fn hivex_default(hive: &Path, path: &str) -> Option<(u32, Vec<u8>)> {
    let script = r#"
import sys, hivex
h = hivex.Hivex(sys.argv[1])
n = h.root()
for part in sys.argv[2].split("\\"):
    n = h.node_get_child(n, part)
    if n is None:
        sys.exit(0)
v = h.node_get_value(n, "")
t, d = h.value_value(v)
print(t, d.hex())
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(hive)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hivex: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s.trim();
    if line.is_empty() {
        return None;
    }
    let (t, d) = line.split_once(' ').unwrap_or((line, ""));
    Some((t.parse().ok()?, unhex(d)))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// regipy: the type name and data (hex) of the default value of `path`,
/// and the names of its subkeys.
fn regipy_key(hive: &Path, path: &str) -> (String, String, Vec<String>) {
    let script = r#"
import sys
from regipy.registry import RegistryHive
k = RegistryHive(sys.argv[1]).get_key("\\" + sys.argv[2])
vals = [v for v in k.iter_values() if v.name in ("", "(default)")]
d = vals[0].value if vals else None
print(vals[0].value_type if vals else "-")
print(d.hex() if isinstance(d, (bytes, bytearray)) else ("" if d is None else str(d)))
print(",".join(s.name for s in k.iter_subkeys()))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(hive)
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "regipy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut l = s.lines().map(String::from);
    let ty = l.next().unwrap_or_default();
    let data = l.next().unwrap_or_default();
    let subs = l
        .next()
        .unwrap_or_default()
        .split(',')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    (ty, data, subs)
}

/// The alias `C`'s member SIDs (text) as hivex reads the value: members at
/// 0x34 + offset (0x28), count at 0x30 (rdp-causes.md, SAM layout).
fn hivex_alias_members(sam: &Path, alias: &str) -> Vec<String> {
    let script = r#"
import sys, hivex, struct
h = hivex.Hivex(sys.argv[1])
n = h.root()
for part in sys.argv[2].split("\\"):
    n = h.node_get_child(n, part)
c = h.value_value(h.node_get_value(n, "C"))[1]
off, ln, cnt = struct.unpack_from("<III", c, 0x28)
at = 0x34 + off
for _ in range(cnt):
    k = c[at + 1]
    auth = int.from_bytes(c[at + 2:at + 8], "big")
    subs = struct.unpack_from("<%dI" % k, c, at + 8)
    print("S-1-%d-%s" % (auth, "-".join(map(str, subs))))
    at += 8 + 4 * k
assert at == 0x34 + off + ln == len(c), (at, off, ln, len(c))
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(sam)
        .arg(format!(r"{BUILTIN}\{alias}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hivex: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// nt-hive and our navigator (the library's two-reader lookup): the key
/// is found by both, and its default value read by both.
fn both_readers_default(hive: &Path, path: &str) -> (u32, Vec<u8>) {
    use ntrescue::hive::reader::{KeyLookup, Reader, ValueState};
    let bytes = std::fs::read(hive).unwrap();
    let r = Reader::new(&bytes).unwrap();
    let k = r.key(path);
    assert!(
        matches!(k, KeyLookup::Found(_)),
        "{path}: not found by both readers"
    );
    assert!(
        matches!(r.value(&k, path, ""), ValueState::Present { .. }),
        "{path}: default value not read by both readers"
    );
    let KeyLookup::Found(key) = k else {
        unreachable!()
    };
    let v = key.value("").unwrap().unwrap();
    (v.data_type().unwrap(), v.data().unwrap())
}

/// `account add-to-group` on all three real SAMs: WDAGUtilityAccount (a
/// member of no alias, so its reverse-map key is created) joins Remote
/// Desktop Users, then Administrators by RID. hivex reads the grown `C`
/// and the new key; regipy and nt-hive read the new key; only the alias
/// `C`, the machine-SID key's count and the new key differ; `account list`
/// shows the membership and, once the account is enabled with a password
/// that does not expire, "may log on over RDP: yes"; reruns do nothing.
#[test]
fn add_to_group_grows_the_alias_and_creates_the_reverse_map_key() {
    require_tool("hivexregedit");
    for dir in AES_DIRS {
        let (_t, d) = copy_dir(dir);
        let s = d.to_str().unwrap();
        let sam = d.join("SAM");
        let l = list(&d);
        let wdag = account(&l, "WDAGUtilityAccount");
        let sid = wdag["sid"].as_str().unwrap().to_string();
        assert!(!wdag["groups"].to_string().contains("Remote"), "{dir}");
        let machine = l["machine_sid"].as_str().unwrap().to_string();
        let dom_key = format!(r"{BUILTIN}\Members\{machine}");
        let rid_key = format!(r"{dom_key}\000001F8");
        let (dom_ty, dom_data) = hivex_default(&sam, &dom_key).unwrap();
        assert_eq!(hivex_default(&sam, &rid_key), None, "{dir}");
        let before = hivex_tree(&sam);
        let rdu_before = hivex_alias_members(&sam, "0000022B");

        let r = edit(&["account", "add-to-group", s, "WDAGUtilityAccount"], &d);
        assert_eq!(r["outcome"], "written", "{dir}: {r}");
        let kinds: Vec<&str> = r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "create-key").count(),
            1,
            "{r}"
        );

        // hivex: the alias C holds one more member, the new SID last.
        let rdu = hivex_alias_members(&sam, "0000022B");
        assert_eq!(rdu.len(), rdu_before.len() + 1, "{dir}");
        assert_eq!(rdu.last(), Some(&sid));
        // The reverse map, as the real hives store it: the RID key's
        // default value lists the alias RIDs (type = their number), the
        // domain key's type counts its RID keys.
        assert_eq!(
            hivex_default(&sam, &rid_key),
            Some((1, 0x22Bu32.to_le_bytes().to_vec()))
        );
        assert_eq!(hivex_default(&sam, &dom_key), Some((dom_ty + 1, dom_data)));
        let (rty, rdata, rsubs) = regipy_key(&sam, &rid_key);
        // Type 1 is REG_SZ to a generic reader: regipy decodes the RID
        // 0x22B as the UTF-16 string "\u{22b}".
        assert_eq!(rty, "REG_SZ", "{dir}");
        assert_eq!(rdata, "\u{22b}", "{dir}");
        assert!(rsubs.is_empty());
        let (_, _, dsubs) = regipy_key(&sam, &dom_key);
        assert!(dsubs.contains(&"000001F8".to_string()), "{dsubs:?}");
        let mut sorted = dsubs.clone();
        sorted.sort_by_key(|x| x.to_uppercase());
        assert_eq!(dsubs, sorted, "regipy lists the subkeys in order");
        assert_eq!(
            both_readers_default(&sam, &rid_key),
            (1, 0x22Bu32.to_le_bytes().to_vec())
        );
        let after = hivex_tree(&sam);
        let (added, changed) = tree_diff(&before, &after);
        assert_eq!(added, [rid_key.to_uppercase()], "{dir}");
        assert_eq!(
            changed,
            [
                (RDU_KEY.to_uppercase(), "C".to_string()),
                (dom_key.to_uppercase(), String::new())
            ],
            "{dir}"
        );

        // Idempotent; Administrators by RID adds a second alias RID.
        let r = edit(&["account", "add-to-group", s, "WDAGUtilityAccount"], &d);
        assert_eq!(r["outcome"], "nothing-to-do", "{r}");
        let r = edit(
            &["account", "add-to-group", s, "WDAGUtilityAccount", "0x220"],
            &d,
        );
        assert_eq!(r["outcome"], "written", "{r}");
        let mut both = 0x22Bu32.to_le_bytes().to_vec();
        both.extend(0x220u32.to_le_bytes());
        assert_eq!(hivex_default(&sam, &rid_key), Some((2, both)));
        assert_eq!(hivex_default(&sam, &dom_key).unwrap().0, dom_ty + 1);
        assert!(hivex_alias_members(&sam, "00000220").contains(&sid));

        // Enabled, password never expiring: it may now log on over RDP.
        edit(&["account", "enable", s, "WDAGUtilityAccount"], &d);
        edit(
            &[
                "account",
                "password",
                s,
                "WDAGUtilityAccount",
                "--never-expires",
            ],
            &d,
        );
        let l = list(&d);
        let a = account(&l, "WDAGUtilityAccount");
        let groups = a["groups"].to_string();
        assert!(
            groups.contains("Remote Desktop Users") && groups.contains("Administrators"),
            "{groups}"
        );
        assert_eq!(a["rdp"]["may_log_on"], true, "{dir}: {a}");
        let text = run_in(Path::new("."), &["account", "list", s]);
        assert!(
            text.stdout
                .contains("WDAGUtilityAccount (RID 504)  may log on over RDP: yes"),
            "{}",
            text.stdout
        );
    }
}

/// A machine-SID key missing under `Aliases\Members` (removed here with
/// hivexsh): both the domain key (type 1) and the RID key are created,
/// the one inside the other; an unknown group is refused; a dry run
/// writes nothing.
#[test]
fn add_to_group_creates_the_domain_key_too() {
    require_tool("hivexsh");
    let (_t, d) = copy_dir("accounts/win11__goldpaper");
    let s = d.to_str().unwrap();
    let sam = d.join("SAM");
    let machine = list(&d)["machine_sid"].as_str().unwrap().to_string();
    let dom_key = format!(r"{BUILTIN}\Members\{machine}");
    let script = d.parent().unwrap().join("del.hivexsh");
    std::fs::write(
        &script,
        format!("cd {}\ndel\ncommit\n", dom_key.replace('\\', "\\\\")),
    )
    .unwrap();
    let out = Command::new("hivexsh")
        .args(["-w", "-f", script.to_str().unwrap(), sam.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(hivex_default(&sam, &dom_key), None);
    let sha = crate::util::sha256_file(&sam);
    let r = edit(
        &[
            "account",
            "add-to-group",
            s,
            "WDAGUtilityAccount",
            "--dry-run",
        ],
        &d,
    );
    assert_eq!(r["outcome"], "dry-run", "{r}");
    assert_eq!(crate::util::sha256_file(&sam), sha, "a dry run wrote");
    let r = edit(&["account", "add-to-group", s, "WDAGUtilityAccount"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    assert_eq!(hivex_default(&sam, &dom_key), Some((1, Vec::new())));
    let rid_key = format!(r"{dom_key}\000001F8");
    assert_eq!(
        both_readers_default(&sam, &rid_key),
        (1, 0x22Bu32.to_le_bytes().to_vec())
    );
    let r = run_in(
        Path::new("."),
        &[
            "account",
            "add-to-group",
            s,
            "WDAGUtilityAccount",
            "No Such Group",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("not a local group"), "{}", r.stderr);
}

/// `rights grant-rdp` for a SID with no `Policy\Accounts` key: the key is
/// created with `Sid` (the binary SID), `SecDesc` (the descriptor every
/// other account key holds) and `ActSysAc` 0x400, read back by hivex,
/// regipy and both readers; `account list` names the holder; reruns and a
/// remove-deny on a SID without rights do nothing.
#[test]
fn grant_rdp_creates_the_account_key() {
    require_tool("hivexregedit");
    let (_t, d) = copy_dir("accounts/win10__rathbunvm");
    let s = d.to_str().unwrap();
    let sec = d.join("SECURITY");
    // First write: SECURITY is replayed from its log and written clean,
    // so the before-tree is taken after it.
    let r = edit(&["rights", "grant-rdp", s, "Backup Operators"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    let before = hivex_tree(&sec);
    let user = account(&list(&d), "AndrewRathbun")["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let key = format!(r"Policy\Accounts\{user}");
    assert_eq!(hivex_default(&sec, &key), None);
    let r = edit(&["rights", "grant-rdp", s, "AndrewRathbun"], &d);
    assert_eq!(r["outcome"], "written", "{r}");
    let after = hivex_tree(&sec);
    let (added, changed) = tree_diff(&before, &after);
    let mut want: Vec<String> = ["", r"\ActSysAc", r"\SecDesc", r"\Sid"]
        .iter()
        .map(|x| format!("{key}{x}").to_uppercase())
        .collect();
    want.sort();
    assert_eq!(added, want);
    assert!(changed.is_empty(), "{changed:?}");
    assert_eq!(hivex_default(&sec, &key), Some((3, Vec::new())));
    assert_eq!(
        hivex_default(&sec, &format!(r"{key}\ActSysAc")),
        Some((0, 0x400u32.to_le_bytes().to_vec()))
    );
    let sid_bin = hivex_default(&sec, &format!(r"{key}\Sid")).unwrap();
    assert_eq!(sid_bin.0, 0);
    assert_eq!(sid_bin.1.len(), 28);
    assert_eq!(&sid_bin.1[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
    assert_eq!(
        u32::from_le_bytes(sid_bin.1[24..28].try_into().unwrap()),
        1001
    );
    let theirs = hivex_default(&sec, r"Policy\Accounts\S-1-5-32-544\SecDesc").unwrap();
    assert_eq!(
        hivex_default(&sec, &format!(r"{key}\SecDesc")),
        Some(theirs)
    );
    let (_, data, subs) = regipy_key(&sec, &format!(r"{key}\ActSysAc"));
    assert_eq!(data, "00040000");
    assert!(subs.is_empty());
    let (_, _, subs) = regipy_key(&sec, &key);
    assert_eq!(subs, ["ActSysAc", "SecDesc", "Sid"]);
    assert_eq!(
        both_readers_default(&sec, &format!(r"{key}\ActSysAc")).1,
        0x400u32.to_le_bytes()
    );
    let l = list(&d);
    let holder = l["rights"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["sid"] == user.as_str())
        .unwrap_or_else(|| panic!("{user} holds no rights: {l}"));
    assert_eq!(holder["name"], "AndrewRathbun");
    assert_eq!(holder["bits"], 0x400);
    let r = edit(&["rights", "grant-rdp", s, &user], &d);
    assert_eq!(r["outcome"], "nothing-to-do", "{r}");
    let r = edit(&["rights", "remove-deny", s, "S-1-5-21-1-2-3-4000"], &d);
    assert_eq!(r["outcome"], "nothing-to-do", "{r}");
}

/// The local Group Policy template read through the NTFS reader on a raw
/// partition (an NTFS volume image made with mkntfs, the hives and a
/// UTF-16 GptTmpl.inf placed through ntfs-3g): the rights commands quote
/// its RDP lines. Without the file there is no warning about it.
#[test]
fn gpt_template_is_read_on_a_raw_volume() {
    require_tool("mkntfs");
    let t = tmp();
    let rathbun = corpus_file("accounts/win10__rathbunvm");
    let mut files = vec![
        (
            "Windows/System32/config/SYSTEM",
            corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        ),
        ("Windows/System32/config/SAM", rathbun.join("SAM")),
        ("Windows/System32/config/SECURITY", rathbun.join("SECURITY")),
        (
            "Windows/System32/config/SECURITY.LOG1",
            rathbun.join("SECURITY.LOG1"),
        ),
    ];
    let without = crate::util::volume(t.path(), "plain.img", 48, 4096, 0, &files, &[]);
    let line = "SeDenyRemoteInteractiveLogonRight = *S-1-5-32-546";
    let text = format!("[Unicode]\r\nUnicode=yes\r\n[Privilege Rights]\r\n{line}\r\n");
    let mut inf = vec![0xFF, 0xFE];
    inf.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let inf_file = t.path().join("GptTmpl.inf");
    std::fs::write(&inf_file, inf).unwrap();
    files.push((
        "Windows/System32/GroupPolicy/Machine/Microsoft/Windows NT/SecEdit/GptTmpl.inf",
        inf_file,
    ));
    let with = crate::util::volume(t.path(), "gpo.img", 48, 4096, 0, &files, &[]);
    for (img, want) in [(&with, true), (&without, false)] {
        let r = ok(run_in(
            Path::new("."),
            &[
                "rights",
                "remove-deny",
                img.to_str().unwrap(),
                "S-1-5-21-1-2-3-4000",
                "--dry-run",
                "--json",
            ],
        ));
        let w = r["warnings"].to_string();
        assert_eq!(w.contains(line), want, "{}: {w}", img.display());
        assert_eq!(w.contains("GptTmpl.inf"), want, "{w}");
    }
}

/// The same on a whole GPT disk image made with make-windows-disk (SAM and
/// SECURITY given as hives), the template placed through an ntfs-3g mount
/// of its partition: the warning quotes it.
#[test]
fn gpt_template_is_read_on_a_raw_disk() {
    use crate::util::{make_windows_disk, Loop, Mount};
    require_tool("losetup");
    let t = tmp();
    let d = t.path();
    let rathbun = corpus_file("accounts/win10__rathbunvm");
    let img = d.join("disk.img");
    let sam = format!("SAM={}", rathbun.join("SAM").display());
    let sec = format!("SECURITY={}", rathbun.join("SECURITY").display());
    make_windows_disk(
        &["--size", "64M", "--hive", &sam, "--hive", &sec],
        &corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        &img,
    );
    let line = "SeRemoteInteractiveLogonRight = *S-1-5-32-544";
    {
        let lo = Loop::attach(&img, &[]).with_partitions();
        let mut m = Mount::new(Path::new(&lo.part(1)), &d.join("mnt"));
        let dir = m
            .dir
            .join("Windows/System32/GroupPolicy/Machine/Microsoft/Windows NT/SecEdit");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("GptTmpl.inf"),
            format!("[Privilege Rights]\r\n{line}\r\n"),
        )
        .unwrap();
        m.unmount();
    }
    let r = ok(run_in(
        Path::new("."),
        &[
            "rights",
            "remove-deny",
            img.to_str().unwrap(),
            "S-1-5-21-1-2-3-4000",
            "--dry-run",
            "--json",
        ],
    ));
    let w = r["warnings"].to_string();
    assert!(w.contains(line) && w.contains(":p1:"), "{w}");
}
