// SPDX-License-Identifier: GPL-2.0-or-later
//! The runbook contract: a dry run meets every refusal the write would,
//! one JSON document per run (usage errors included) with outcome, exit
//! code and codes first, `--summary`, `-o FILE`, `--detail`, the status
//! line, hex volume serials (old manifests still read), and the JSON
//! Schemas in docs/schema/ (current, and the real output of every command
//! valid against them by python's jsonschema).

use std::path::{Path, PathBuf};

use crate::util::*;

const WIN7: &str = "system/win7sp1-x86__regipy__SYSTEM";
const DIRTY: &str = "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";
const SYS: &str = r"Windows/System32/config/SYSTEM";

/// A bare NTFS volume image holding the Windows 7 SYSTEM hive.
fn win7_volume(d: &Path, name: &str, extra: &[(&str, Vec<u8>)]) -> PathBuf {
    volume(d, name, 48, 4096, 0, &[(SYS, corpus_file(WIN7))], extra)
}

fn codes(doc: &serde_json::Value) -> Vec<String> {
    doc["codes"]
        .as_array()
        .unwrap_or_else(|| panic!("no codes: {doc}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// `nla disable IMG --dry-run` must exit 3 with `code`, like the real
/// write, and leave the image and the backup directory untouched.
fn dry_run_refused(d: &Path, img: &Path, code: &str) {
    let before = sha256_file(img);
    let args = [
        "nla",
        "disable",
        img.to_str().unwrap(),
        "--dry-run",
        "--json",
        "--backup-dir",
        "bk",
    ];
    let r = run_in(d, &args);
    assert_eq!(r.code, 3, "{code}: {}\n{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["outcome"], "refused", "{doc}");
    assert_eq!(doc["exit_code"], 3);
    assert!(codes(&doc).contains(&code.to_string()), "{code}: {doc}");
    assert_eq!(doc["error"]["code"], code);
    assert_eq!(sha256_file(img), before, "{code}: image changed");
    assert!(
        !d.join("bk").exists(),
        "{code}: a backup directory appeared"
    );
    // The real write meets the same refusal.
    let r = run_in(
        d,
        &args
            .iter()
            .filter(|a| **a != "--dry-run")
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 3, "{code}: {}", r.stderr);
    assert_eq!(r.json()["error"]["code"], code);
    assert_eq!(sha256_file(img), before, "{code}: image changed");
}

#[test]
fn dry_run_meets_the_refusals_of_the_write() {
    require_tool("mkntfs");
    let t = tmp();
    let d = t.path();
    // A clean volume: the dry run passes every pre-write check.
    let v = win7_volume(d, "ok.img", &[]);
    let before = sha256_file(&v);
    let r = run_in(
        d,
        &[
            "nla",
            "disable",
            v.to_str().unwrap(),
            "--dry-run",
            "--json",
            "--backup-dir",
            "bk",
        ],
    );
    let doc = ok(r);
    assert_eq!(doc["outcome"], "dry-run");
    let checks = doc["checks"].to_string();
    assert!(checks.contains("pre-write checks passed"), "{checks}");
    assert_eq!(sha256_file(&v), before);
    assert!(!d.join("bk").exists());

    // An active hibernation image.
    let mut hib = b"HIBR".to_vec();
    hib.resize(64 << 10, 0);
    let h = win7_volume(d, "hib.img", &[("hiberfil.sys", hib)]);
    dry_run_refused(d, &h, "hibernated");

    // Mounted with ntfs-3g.
    let _m = Mount::new(&v, &d.join("live"));
    dry_run_refused(d, &v, "mounted");
}

#[test]
fn usage_errors_are_json_documents_with_exit_2() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&corpus_file(WIN7), d, "SYSTEM");
    let h = hive.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["nla", "disable", "--json"], "nla disable"),
        (vec!["nla", "sideways", h, "--json"], "nla"),
        (vec!["--partition", "0", "inspect", h, "--json"], "inspect"),
        (
            vec![
                "set", h, r"NOPE\x", "v", "--type", "dword", "--data", "1", "--json",
            ],
            "set",
        ),
        (
            vec![
                "set",
                h,
                r"SYSTEM\Select",
                "v",
                "--type",
                "dword",
                "--data",
                "zz",
                "--json",
            ],
            "set",
        ),
        (vec!["get", h, r"HKCU\x", "--json"], "get"),
    ];
    for (args, command) in cases {
        let r = run_in(d, &args);
        assert_eq!(r.code, 2, "{args:?}: {}\n{}", r.stdout, r.stderr);
        let doc = r.json();
        assert_eq!(doc["outcome"], "error", "{args:?}");
        assert_eq!(doc["exit_code"], 2, "{args:?}");
        assert_eq!(codes(&doc), ["usage"], "{args:?}");
        assert_eq!(doc["command"], command, "{args:?}");
        let msg = doc["error"]["message"].as_str().unwrap();
        assert!(
            !msg.is_empty() && !msg.contains("byte offset"),
            "{args:?}: {msg}"
        );
    }
    // The hive was never touched, and a summary is one line.
    let r = run_in(d, &["nla", "disable", "--summary"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert_eq!(r.json()["outcome"], "error");
    // Text mode: clap's message and the status line on stderr.
    let r = run_in(d, &["nla", "disable"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(
        r.stderr.lines().last(),
        Some("ntrescue: RESULT=error exit=2")
    );
}

#[test]
fn summary_result_file_detail_and_status_line() {
    let t = tmp();
    let d = t.path();
    let src = copy_to(&corpus_file(DIRTY), d, "SYSTEM");
    for log in ["LOG1", "LOG2"] {
        copy_to(
            &corpus_file(&format!("{DIRTY}.{log}")),
            d,
            &format!("SYSTEM.{log}"),
        );
    }
    let s = src.to_str().unwrap();
    // The whole-tree comparison of a replay needs the hive read whole.
    let full = ok(run_in(d, &["inspect", s, "--json", "--detail", "--verify"]));
    assert!(
        full["after_replay"]["tree_changes"].is_object(),
        "--detail keeps it"
    );
    assert_eq!(full["omitted"], serde_json::json!([]));
    let r = run_in(d, &["inspect", s, "--json", "--verify", "-o", "doc.json"]);
    let small = ok(r);
    assert!(small["after_replay"]["tree_changes"].is_null());
    assert_eq!(
        small["omitted"],
        serde_json::json!(["after_replay.tree_changes"])
    );
    // The verdict comes before any large part of the document.
    let text = run_in(d, &["inspect", s, "--json"]).stdout;
    let at = text.find("\"verdict\"").unwrap();
    assert!(at < 400 && text.find("\"outcome\"").unwrap() < at, "{at}");
    // Small without the tree changes (megabytes): the report, the forensic
    // section and the verdict with the rows the rules could not check.
    assert!(text.len() < 26_000, "{} bytes", text.len());
    // -o writes the document that --json prints.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("doc.json")).unwrap()).unwrap();
    assert_eq!(written, small);
    // --summary: one line, the head and the verdict.
    let r = run_in(d, &["inspect", s, "--summary"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    let sum = r.json();
    assert_eq!(sum["outcome"], "reported");
    assert_eq!(sum["verdict"], small["verdict"]);
    // Text: the report on stdout, the status line last on stderr.
    let r = run_in(d, &["inspect", s]);
    assert_eq!(
        r.stderr.lines().last(),
        Some("ntrescue: RESULT=reported exit=0")
    );
    // An edit: the bundle path in the summary.
    let r = run_in(d, &["nla", "disable", s, "--summary", "--backup-dir", "bk"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sum = r.json();
    assert_eq!(sum["outcome"], "written");
    assert!(sum["backup"].as_str().unwrap().starts_with("bk/"), "{sum}");
    let r = run_in(d, &["nla", "disable", s, "--backup-dir", "bk"]);
    assert_eq!(
        r.stderr.lines().last(),
        Some("ntrescue: RESULT=nothing-to-do exit=0")
    );
}

/// Replaces every `volume_serial` hex string in `v` by the JSON number
/// it stands for (the form manifests had before).
fn serials_to_numbers(v: &mut serde_json::Value) -> usize {
    let mut n = 0;
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "volume_serial" {
                    let s = x.as_str().expect("a hex string");
                    assert!(s.len() == 18 && s.starts_with("0x"), "{s}");
                    *x = u64::from_str_radix(&s[2..], 16).unwrap().into();
                    n += 1;
                } else {
                    n += serials_to_numbers(x);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| n += serials_to_numbers(x)),
        _ => {}
    }
    n
}

#[test]
fn volume_serials_are_hex_strings_and_old_manifests_restore() {
    require_tool("mkntfs");
    let t = tmp();
    let d = t.path();
    let v = win7_volume(d, "v.img", &[]);
    let original = sha256_file(&v);
    let img = v.to_str().unwrap();
    let rep = ok(run_in(d, &["inspect", img, "--json"]));
    let serial = rep["disk"]["volume"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        serial.len() == 18
            && serial.starts_with("0x")
            && u64::from_str_radix(&serial[2..], 16).is_ok(),
        "{serial}"
    );
    let rep = ok(run_in(
        d,
        &["nla", "disable", img, "--json", "--backup-dir", "bk"],
    ));
    let bundle = d.join(rep["backup"].as_str().unwrap());
    let path = bundle.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        m.to_string().contains(&serial),
        "the manifest holds the hex serial"
    );
    // A manifest as older versions wrote it: the serial a number.
    assert!(serials_to_numbers(&mut m) > 0);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let r = ok(run_in(d, &["restore", bundle.to_str().unwrap(), "--json"]));
    assert_eq!(r["outcome"], "restored");
    assert_eq!(sha256_file(&v), original);
}

/// Every schema file in docs/schema/ is what the report types generate
/// (set NTRESCUE_WRITE_SCHEMA=1 to rewrite them).
#[test]
fn schema_files_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
    let write = std::env::var_os("NTRESCUE_WRITE_SCHEMA").is_some();
    let mut listed = Vec::new();
    for (name, _) in ntrescue::cli::schema::DOCUMENTS {
        let want = ntrescue::cli::schema::schema_text(name).unwrap();
        let path = dir.join(format!("{name}.json"));
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale: NTRESCUE_WRITE_SCHEMA=1 cargo test --test it schema_files",
            path.display()
        );
        listed.push(format!("{name}.json"));
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    listed.sort();
    assert_eq!(
        present, listed,
        "docs/schema/ holds exactly the documents' schemas"
    );
}

/// Validates each `(schema name, document)` with python's jsonschema
/// (Draft 7, as schemars writes), one process for all.
fn validate(docs: &[(&str, String)]) {
    let t = tmp();
    let mut args = vec![];
    for (i, (name, doc)) in docs.iter().enumerate() {
        let p = t.path().join(format!("{i}.json"));
        std::fs::write(&p, doc).unwrap();
        args.push(format!("{name}={}", p.display()));
    }
    let script = r#"
import json, sys, jsonschema
root = sys.argv[1]
bad = 0
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    schema = json.load(open(f"{root}/{name}.json"))
    doc = json.load(open(path))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
    for e in errors:
        print(f"{name} ({path}): {e.message} at {list(e.absolute_path)}")
    bad += len(errors)
    print(f"{name}: ok" if not errors else f"{name}: {len(errors)} errors")
sys.exit(1 if bad else 0)
"#;
    let schema_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&schema_dir)
        .args(&args)
        .output()
        .expect("python3 (with the jsonschema module) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.ends_with(": ok")).count(),
        docs.len(),
        "{text}"
    );
}

#[test]
fn every_command_output_validates_against_its_schema() {
    require_tool("mkntfs");
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&corpus_file(WIN7), d, "SYSTEM");
    let h = hive.to_str().unwrap();
    let dirty = copy_to(&corpus_file(DIRTY), d, "SYSTEM_B");
    for log in ["LOG1", "LOG2"] {
        copy_to(
            &corpus_file(&format!("{DIRTY}.{log}")),
            d,
            &format!("SYSTEM_B.{log}"),
        );
    }
    let v = win7_volume(d, "v.img", &[]);
    let img = v.to_str().unwrap();
    let sam = corpus_file("accounts/win10__rathbunvm/SAM");
    let mut docs: Vec<(&str, String)> = Vec::new();
    let mut add = |name: &'static str, args: &[&str], code: i32| {
        let r = run_in(d, args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        docs.push((name, r.stdout));
    };
    add("inspect", &["inspect", h, "--json"], 0);
    add(
        "inspect",
        &["inspect", dirty.to_str().unwrap(), "--json", "--detail"],
        0,
    );
    add("inspect", &["inspect", img, "--json", "--hash-source"], 0);
    add("diagnose", &["diagnose", h, "--json"], 0);
    add("diagnose", &["diagnose", img, "--json"], 0);
    add("locate", &["locate", img, "--json"], 0);
    add("locate", &["locate", h, "--json"], 5);
    add("get", &["get", h, r"SYSTEM\Select", "--json"], 0);
    add(
        "get",
        &[
            "get",
            h,
            r"SYSTEM\CurrentControlSet\Control\Terminal Server",
            "fDenyTSConnections",
            "--json",
            "--all-control-sets",
        ],
        0,
    );
    add(
        "account-list",
        &["account", "list", sam.to_str().unwrap(), "--json"],
        0,
    );
    add(
        "edit",
        &[
            "nla",
            "disable",
            h,
            "--dry-run",
            "--json",
            "--backup-dir",
            "bk",
        ],
        0,
    );
    add(
        "edit",
        &[
            "rdp",
            "port",
            img,
            "--set",
            "3390",
            "--json",
            "--backup-dir",
            "bk",
        ],
        0,
    );
    add(
        "edit",
        &[
            "rdp",
            "port",
            img,
            "--set",
            "3390",
            "--json",
            "--backup-dir",
            "bk",
        ],
        0,
    );
    add(
        "edit",
        &[
            "service",
            h,
            "NoSuchService",
            "--start",
            "disabled",
            "--json",
            "--backup-dir",
            "bk",
        ],
        3,
    );
    add("error", &["inspect", "/nonexistent/x", "--json"], 1);
    add("error", &["nla", "--json"], 2);
    add("summary", &["inspect", h, "--summary"], 0);
    add("summary", &["nla", "--summary"], 2);
    // Every other edit command: the value edits, the other rdp and nla
    // fixes, the account and rights edits (the XP SAM with its SYSTEM, the
    // Windows 10 SAM and SECURITY).
    let key = r"SYSTEM\CurrentControlSet\Control\Terminal Server";
    let bk = ["--json", "--backup-dir", "bk"];
    let edits: Vec<Vec<&str>> = vec![
        vec![
            "set",
            h,
            key,
            "fDenyTSConnections",
            "--type",
            "dword",
            "--data",
            "1",
        ],
        vec!["delete-value", h, key, "fDenyTSConnections", "--dry-run"],
        vec!["rdp", "enable", h],
        vec!["rdp", "repair", h, "--firewall-profiles-off"],
        vec!["nla", "enable", h],
    ];
    for e in &edits {
        add("edit", &[&e[..], &bk].concat(), 0);
    }
    let xp = d.join("xp");
    std::fs::create_dir(&xp).unwrap();
    copy_to(
        &corpus_file("other/real/winxpsp3__bitcurator__SAM"),
        &xp,
        "SAM",
    );
    copy_to(
        &corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        &xp,
        "SYSTEM",
    );
    std::fs::write(d.join("pw"), "N3w-Rescue-Pass!\n").unwrap();
    let x = xp.to_str().unwrap();
    let acc = accounts_dir(d);
    let a = acc.to_str().unwrap();
    let accounts: Vec<Vec<&str>> = vec![
        vec!["account", "enable", x, "Administrator"],
        vec!["account", "unlock", x, "Administrator"],
        vec![
            "account",
            "password",
            x,
            "Administrator",
            "--password-file",
            "pw",
        ],
        vec!["account", "password", x, "Administrator", "--never-expires"],
        vec!["account", "add-to-group", x, "Administrator"],
        vec!["rights", "grant-rdp", a, "S-1-5-32-544"],
        vec!["rights", "remove-deny", a, "S-1-5-32-544"],
        vec!["account", "expiry", x, "Administrator", "--never"],
    ];
    for e in &accounts {
        add("edit", &[&e[..], &bk].concat(), 0);
    }
    let written = serde_json::from_str::<serde_json::Value>(&docs[11].1).unwrap();
    let bundle = d.join(written["backup"].as_str().expect("a bundle"));
    let r = run_in(d, &["restore", bundle.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    docs.push(("restore", r.stdout));
    let r = run_in(d, &["backups", "list", "bk", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["outcome"], "reported");
    docs.push(("backups-list", r.stdout));
    let tar = d.join("b.tar");
    let r = run_in(
        d,
        &[
            "backups",
            "pack",
            bundle.to_str().unwrap(),
            "--tar",
            tar.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    docs.push(("backups-pack", r.stdout));
    // Every document says what it was given.
    let given = |name: &str| -> Vec<serde_json::Value> {
        docs.iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, text)| {
                serde_json::from_str::<serde_json::Value>(text).unwrap()["source"].clone()
            })
            .collect()
    };
    let b = bundle.to_str().unwrap();
    // ...and `end` names the bundle of the documents that have one.
    for (name, text) in &docs {
        let v = serde_json::from_str::<serde_json::Value>(text).unwrap();
        if *name != "summary" {
            assert_eq!(v["end"]["backup"], v["backup"], "{name}: {text}");
            assert_eq!(v["end"]["outcome"], v["outcome"], "{name}");
        }
    }
    assert_eq!(given("restore"), [serde_json::json!({ "path": b })]);
    assert_eq!(given("backups-pack"), [serde_json::json!({ "path": b })]);
    assert_eq!(given("backups-list"), [serde_json::json!({ "path": "bk" })]);
    assert_eq!(
        given("locate"),
        [
            serde_json::json!({ "paths": [img] }),
            serde_json::json!({ "paths": [h] })
        ]
    );
    validate(&docs);
}

/// Operator input the command line carries is a usage error (exit 2, a
/// JSON document under --json): a malformed SID, an empty or multi-key
/// service name, a --password-file that does not exist, --partition with
/// a hive file or a directory. Nothing is written.
#[test]
fn operator_input_errors_are_usage_errors() {
    let t = tmp();
    let d = t.path();
    let h = copy_to(&corpus_file(WIN7), d, "SYSTEM");
    let s = h.to_str().unwrap();
    let dir = d.to_str().unwrap();
    let acc = accounts_dir(d);
    let a = acc.to_str().unwrap();
    let before = sha256_file(&h);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["rights", "grant-rdp", a, "S-1-5-x"], "not a valid SID"),
        (
            vec!["rights", "remove-deny", a, "s-1-5-32-x"],
            "not a valid SID",
        ),
        (
            vec![
                "account",
                "password",
                a,
                "Administrator",
                "--password-file",
                "nope",
            ],
            "--password-file 'nope': no such file",
        ),
        (
            vec!["service", s, "", "--start", "disabled"],
            "cannot be empty",
        ),
        (
            vec!["service", s, r"A\B", "--start", "disabled"],
            "no backslash",
        ),
        (vec!["nla", "disable", s, "--partition", "1"], "a hive file"),
        (vec!["inspect", s, "--partition", "1"], "a hive file"),
        (
            vec!["account", "list", a, "--partition", "2"],
            "has no partitions",
        ),
        (vec!["inspect", dir, "--partition", "1"], "a directory"),
    ];
    for (args, says) in cases {
        let r = run_in(d, &[&args[..], &["--json"][..]].concat());
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        let doc = r.json();
        assert_eq!(doc["outcome"], "error", "{doc}");
        assert_eq!(doc["error"]["code"], "usage", "{doc}");
        let msg = doc["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{args:?}: {msg}");
        assert!(!msg.contains("byte offset"), "{msg}");
    }
    assert_eq!(sha256_file(&h), before);
    assert!(!d.join("ntrescue-backups").exists());
}

/// Specific refusal codes: a raw-volume hive whose logs have no room for
/// the transaction (`unwritable-file`, the dry run and the write alike),
/// and an account name the SAM does not hold (`unknown-account`).
#[test]
fn refusals_carry_their_specific_code() {
    require_tool("mkntfs");
    let t = tmp();
    let d = t.path();
    // No logs at all, then logs too small to take the entry.
    let none = volume_exact(
        d,
        "nolog.img",
        48,
        4096,
        0,
        &[(SYS, corpus_file(WIN7))],
        &[],
    );
    dry_run_refused(d, &none, "unwritable-file");
    let tiny = volume_exact(
        d,
        "tiny.img",
        48,
        4096,
        0,
        &[(SYS, corpus_file(WIN7))],
        &[
            ("Windows/System32/config/SYSTEM.LOG1", vec![0; 512]),
            ("Windows/System32/config/SYSTEM.LOG2", vec![0; 512]),
        ],
    );
    dry_run_refused(d, &tiny, "unwritable-file");
    let acc = accounts_dir(d);
    for args in [
        ["account", "enable", acc.to_str().unwrap(), "nobody"],
        ["rights", "grant-rdp", acc.to_str().unwrap(), "nobody"],
    ] {
        let r = run_in(d, &[&args[..], &["--dry-run", "--json"][..]].concat());
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr);
        assert_eq!(r.json()["error"]["code"], "unknown-account", "{}", r.stdout);
    }
}

/// Runs ntrescue as user `nobody` (setpriv, util-linux); the tests run as
/// root, as the tool does on a rescue host.
fn as_nobody(cwd: &Path, args: &[&str]) -> Run {
    require_tool("setpriv");
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()])
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv");
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r
}

/// Access the OS denies is `permission-denied` ("run as root"), exit 1:
/// never "nothing found" in locate, never "read-only" in a fix, and the
/// dry run meets it where the write does.
#[test]
fn permission_denied_is_its_own_error() {
    use std::os::unix::fs::PermissionsExt;
    let t = tmp();
    let d = t.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hive = copy_to(&corpus_file(WIN7), d, "SYSTEM");
    let h = hive.to_str().unwrap();
    let before = sha256_file(&hive);
    let denied = |r: Run, what: &str| {
        assert_eq!(r.code, 1, "{what}: {}\n{}", r.stdout, r.stderr);
        let doc = r.json();
        assert_eq!(codes(&doc), ["permission-denied"], "{what}: {doc}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .ends_with("run as root"),
            "{what}"
        );
    };
    let bk = d.join("bk");
    let bk = bk.to_str().unwrap();
    // Readable by anyone: the fix (and its dry run) cannot write.
    std::fs::set_permissions(&hive, std::fs::Permissions::from_mode(0o644)).unwrap();
    for dry in [true, false] {
        let mut args = vec!["nla", "disable", h, "--json", "--backup-dir", bk];
        if dry {
            args.push("--dry-run");
        }
        denied(
            as_nobody(Path::new("/"), &args),
            &format!("nla disable (dry run: {dry})"),
        );
    }
    // Readable by root only: inspect and locate cannot read it.
    std::fs::set_permissions(&hive, std::fs::Permissions::from_mode(0o600)).unwrap();
    denied(
        as_nobody(Path::new("/"), &["inspect", h, "--json"]),
        "inspect",
    );
    denied(
        as_nobody(Path::new("/"), &["locate", h, "--json"]),
        "locate",
    );
    assert_eq!(sha256_file(&hive), before);
    assert!(!d.join("bk").exists());
}

/// The codes docs/json-schema.md lists with severity `warning`.
fn documented_warning_codes() -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-schema.md"))
            .unwrap();
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            match cells.as_slice() {
                ["", code, "warning", ..] => Some(code.trim_matches('`').to_string()),
                _ => None,
            }
        })
        .collect()
}

/// Every warning of `doc` (from `what`): a specific, documented code, and
/// the report's `warnings` strings are the warning issues' messages.
fn check_warnings(
    what: &str,
    doc: &serde_json::Value,
    documented: &[String],
    seen: &mut Vec<String>,
) {
    let issues = doc["issues"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no issues: {doc}"));
    for i in issues.iter().filter(|i| i["severity"] == "warning") {
        let code = i["code"].as_str().unwrap().to_string();
        assert_ne!(
            code, "warning",
            "{what}: a warning with the generic code: {i}"
        );
        assert!(
            documented.contains(&code),
            "{what}: warning code {code} is not in docs/json-schema.md"
        );
        if !seen.contains(&code) {
            seen.push(code);
        }
    }
    if let Some(ws) = doc["warnings"].as_array() {
        for w in ws {
            let w = w.as_str().expect("warnings stay strings");
            assert!(
                issues
                    .iter()
                    .any(|i| w.ends_with(i["message"].as_str().unwrap())),
                "{what}: warning {w:?} is not among the issues"
            );
        }
    }
}

/// No warning produced on the fixtures, real corpus hives (clean, dirty
/// with and without logs, accounts) and the demo disk carries the generic
/// `warning` code; every code is documented.
#[test]
fn every_warning_has_a_specific_documented_code() {
    require_tool("mkntfs");
    let t = tmp();
    let d = t.path();
    let documented = documented_warning_codes();
    assert!(documented.len() > 20, "{documented:?}");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<PathBuf> = Vec::new();
    let mut add_hive = |name: &str, src: &Path, logs: &[&str]| {
        let dir = d.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let hive = copy_to(src, &dir, "SYSTEM");
        for l in logs {
            let log = PathBuf::from(format!("{}.{l}", src.display()));
            copy_to(&log, &dir, &format!("SYSTEM.{l}"));
        }
        sources.push(hive);
    };
    add_hive("win7", &corpus_file(WIN7), &[]);
    add_hive("dirty", &corpus_file(DIRTY), &["LOG1", "LOG2"]);
    add_hive(
        "nologs",
        &corpus_file("system/win10-1903-x64-dirty-nologs__regipy__SYSTEM_WIN_10_1709"),
        &[],
    );
    add_hive(
        "xp",
        &corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        &[],
    );
    for f in [
        "system-cs003",
        "system-current2",
        "system-missing-values",
        "system-modern",
        "system-no-rdp-tcp",
    ] {
        add_hive(f, &repo.join(format!("hive-fixtures/{f}.hive")), &[]);
    }
    sh(
        "cp",
        &[
            "-r",
            repo.join("hive-fixtures/demo-tree").to_str().unwrap(),
            d.join("tree").to_str().unwrap(),
        ],
    );
    sources.push(d.join("tree"));
    let gz = repo.join("hive-fixtures/demo-disk.img.gz");
    let o = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&gz)
        .output()
        .unwrap();
    std::fs::write(d.join("demo.img"), o.stdout).unwrap();
    sources.push(d.join("demo.img"));
    let mut hib = b"HIBR".to_vec();
    hib.resize(64 << 10, 0);
    sources.push(win7_volume(d, "hib.img", &[("hiberfil.sys", hib)]));

    let mut seen = Vec::new();
    let mut runs = 0;
    for src in &sources {
        let s = src.to_str().unwrap();
        let dry = |cmd: &[&str]| {
            let mut v: Vec<String> = cmd
                .iter()
                .map(|c| if *c == "SRC" { s } else { c }.to_string())
                .collect();
            v.extend(["--dry-run", "--json", "--backup-dir", "bk"].map(String::from));
            v
        };
        let mut commands: Vec<Vec<String>> = vec![
            vec![
                "inspect".into(),
                s.into(),
                "--json".into(),
                "--detail".into(),
            ],
            vec!["diagnose".into(), s.into(), "--json".into()],
            vec![
                "get".into(),
                s.into(),
                r"SYSTEM\Select".into(),
                "--json".into(),
            ],
            vec![
                "get".into(),
                s.into(),
                r"SYSTEM\CurrentControlSet\Control\Terminal Server".into(),
                "--json".into(),
                "--all-control-sets".into(),
            ],
        ];
        for cmd in [
            &["nla", "disable", "SRC"][..],
            &["nla", "enable", "SRC"],
            &["rdp", "enable", "SRC"],
            &["rdp", "repair", "SRC"],
        ] {
            commands.push(dry(cmd));
        }
        let mut port = dry(&["rdp", "port", "SRC"]);
        port.extend(["--set", "3390"].map(String::from));
        commands.push(port);
        let mut ro = dry(&["nla", "disable", "SRC"]);
        ro.insert(0, "--read-only".into());
        commands.push(ro);
        for args in &commands {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = run_in(d, &args);
            let doc = r.json();
            check_warnings(&format!("{args:?}"), &doc, &documented, &mut seen);
            runs += 1;
        }
    }
    for acc in [
        "accounts/win10__rathbunvm/SAM",
        "accounts/win11__goldpaper/SAM",
        "accounts/win10-domain__belkasoftctf/SAM",
    ] {
        let dir = d.join(acc.replace('/', "_"));
        std::fs::create_dir_all(&dir).unwrap();
        let src = corpus_file(acc);
        for f in std::fs::read_dir(src.parent().unwrap()).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
        let sam = dir.join("SAM");
        let sam = sam.to_str().unwrap();
        for args in [
            vec!["account", "list", sam, "--json"],
            vec![
                "account",
                "enable",
                sam,
                "Administrator",
                "--dry-run",
                "--json",
                "--backup-dir",
                "bk",
            ],
            vec![
                "rights",
                "grant-rdp",
                sam,
                "S-1-5-32-555",
                "--dry-run",
                "--json",
                "--backup-dir",
                "bk",
            ],
        ] {
            let doc = run_in(d, &args).json();
            check_warnings(&format!("{args:?}"), &doc, &documented, &mut seen);
            runs += 1;
        }
    }
    assert!(runs > 100, "{runs}");
    // What these inputs are known to raise, each with its own code.
    for want in [
        "logs-replayed",
        "dirty-nothing-to-replay",
        "hibernation-active",
        "firewall-port",
        "checks-skipped",
        "values-from-defaults",
        "gpo-template-not-read",
        "domain-policy-reapplies",
    ] {
        assert!(
            seen.iter().any(|c| c == want),
            "{want} not seen; seen {seen:?}"
        );
    }
}

/// `--dry-run` in read-only mode cannot open a write handle: the report
/// lists exactly the checks it did not run, with the refusal codes each
/// can give, under the `checks-skipped` code; outside read-only mode the
/// list is empty.
#[test]
fn a_read_only_dry_run_lists_the_checks_it_skipped() {
    require_tool("mkntfs");
    let t = tmp();
    let d = t.path();
    let mut hib = b"HIBR".to_vec();
    hib.resize(64 << 10, 0);
    let img = win7_volume(d, "hib.img", &[("hiberfil.sys", hib)]);
    let before = sha256_file(&img);
    let args = [
        "nla",
        "disable",
        img.to_str().unwrap(),
        "--dry-run",
        "--json",
        "--backup-dir",
        "bk",
    ];
    let doc = ok(run_env(d, &args, &[("NTRESCUE_READ_ONLY", "1")]));
    assert_eq!(doc["outcome"], "dry-run");
    assert!(codes(&doc).contains(&"checks-skipped".to_string()), "{doc}");
    let skipped = doc["checks_skipped"].as_array().unwrap();
    let names: Vec<&str> = skipped
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "backup-directory",
            "hibernation",
            "mounted-or-held-open",
            "volume-clean",
            "target-writable",
            "file-writable-in-place",
            "target-unchanged",
            "write-permitted"
        ]
    );
    for c in skipped {
        assert!(!c["codes"].as_array().unwrap().is_empty(), "{c}");
        assert!(!c["what"].as_str().unwrap().is_empty(), "{c}");
    }
    // The check that would refuse this image is among those skipped, with
    // the code the write meets.
    assert!(skipped.iter().any(|c| c["codes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "hibernated")));
    let w = doc["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "checks-skipped")
        .unwrap();
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("backup-directory, hibernation"),
        "{w}"
    );
    // The same flag given on the command line.
    let mut flagged = vec!["--read-only"];
    flagged.extend(args);
    assert_eq!(
        ok(run_in(d, &flagged))["checks_skipped"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    // Not read-only: the checks run (and refuse), nothing is skipped.
    let r = run_in(d, &args);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(r.json()["error"]["code"], "hibernated");
    let clean = win7_volume(d, "ok.img", &[]);
    let mut args = args;
    args[2] = clean.to_str().unwrap();
    let doc = ok(run_in(d, &args));
    assert_eq!(doc["checks_skipped"], serde_json::json!([]));
    assert!(!codes(&doc).contains(&"checks-skipped".to_string()));
    assert_eq!(sha256_file(&img), before);
    assert!(!d.join("bk").exists());
}

/// Every integer in `v` is exactly representable as a double (at most
/// 2^53), so jq and JavaScript read it unchanged; returns how many
/// numbers were checked.
fn no_integer_above_2_53(v: &serde_json::Value, path: &str) -> usize {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                assert!(u <= 1 << 53, "{path} = {u} is above 2^53");
            }
            1
        }
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| no_integer_above_2_53(x, &format!("{path}[{i}]")))
            .sum(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, x)| no_integer_above_2_53(x, &format!("{path}.{k}")))
            .sum(),
        _ => 0,
    }
}

/// FILETIMEs (key times, NTFS file times, the base block's) are hex
/// strings: no number in the documents is above 2^53, and every FILETIME
/// goes through jq and python's json exactly, its digits and its UTC text
/// agreeing (python computes the date from the hex on its own).
#[test]
fn filetimes_survive_jq_and_python_exactly() {
    require_tool("mkntfs");
    require_tool("jq");
    let t = tmp();
    let d = t.path();
    let v = win7_volume(d, "v.img", &[]);
    let img = v.to_str().unwrap();
    for args in [
        vec!["inspect", img, "--json", "--verify"],
        vec!["diagnose", img, "--json"],
        vec!["get", img, r"SYSTEM\Select", "--json"],
    ] {
        let r = run_in(d, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let doc = r.json();
        assert!(no_integer_above_2_53(&doc, "") > 10);
        // jq reads and writes the document unchanged.
        let p = d.join("doc.json");
        std::fs::write(&p, &r.stdout).unwrap();
        let jq = peer("jq", &["-c", ".", p.to_str().unwrap()]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&jq).unwrap(),
            doc,
            "{args:?}"
        );
        let times = peer(
            "jq",
            &[
                "-r",
                r#"[.. | objects | (.filetime?, .last_written_filetime?, .last_write_filetime?) | strings] | .[]"#,
                p.to_str().unwrap(),
            ],
        );
        let times: Vec<&str> = times.lines().collect();
        assert!(!times.is_empty(), "{args:?}: no FILETIME found");
        for ft in &times {
            let n = u64::from_str_radix(ft.strip_prefix("0x").unwrap(), 16).unwrap();
            assert!(n == 0 || n > 1 << 53, "{ft}");
        }
        // Python: every Stamp's hex gives its UTC text, to the microsecond.
        let script = r#"
import json, sys, datetime
doc = json.load(open(sys.argv[1]))
n = 0
def walk(v):
    global n
    if isinstance(v, dict):
        if isinstance(v.get("filetime"), str) and v.get("utc"):
            ft = int(v["filetime"], 16)
            t = datetime.datetime(1601, 1, 1) + datetime.timedelta(microseconds=ft // 10)
            want = t.strftime("%Y-%m-%dT%H:%M:%S.%f")
            assert v["utc"].startswith(want), (v, want)
            assert json.loads(json.dumps(v))["filetime"] == v["filetime"]
            n += 1
        for x in v.values(): walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
walk(doc)
print(n)
"#;
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(n > 0, "{args:?}: no Stamp checked");
    }
}

/// The Windows 10 SAM and SECURITY hives with their logs (copies) in
/// `d/config`.
fn accounts_dir(d: &Path) -> PathBuf {
    let dir = d.join("config");
    std::fs::create_dir_all(&dir).unwrap();
    let src = corpus_file("accounts/win10__rathbunvm");
    for e in std::fs::read_dir(&src).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        copy_to(&src.join(&name), &dir, &name);
    }
    dir
}

/// Account and rights edits take the target lock on the hive they edit,
/// as every fix does: with another process holding it, the dry run and
/// the write are refused (`locked`, exit 3) and nothing changes.
#[test]
fn account_and_rights_edits_take_the_target_lock() {
    let t = tmp();
    let d = t.path();
    let dir = accounts_dir(d);
    let s = dir.to_str().unwrap();
    for (hive, args) in [
        ("SAM", ["account", "enable", s, "Administrator"]),
        ("SECURITY", ["rights", "grant-rdp", s, "S-1-5-32-544"]),
    ] {
        let file = dir.join(hive);
        let before = sha256_file(&file);
        let holder = std::fs::File::open(&file).unwrap();
        holder.try_lock().unwrap();
        for dry in [true, false] {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--json", "--backup-dir", "bk"]);
            if dry {
                all.push("--dry-run");
            }
            let r = run_in(d, &all);
            assert_eq!(r.code, 3, "{all:?}: {}{}", r.stdout, r.stderr);
            let doc = r.json();
            assert_eq!(doc["outcome"], "refused", "{doc}");
            assert_eq!(doc["error"]["code"], "locked", "{doc}");
            assert!(r.stderr.contains("holds the lock"), "{}", r.stderr);
            assert_eq!(sha256_file(&file), before);
            assert!(!d.join("bk").exists());
        }
        drop(holder);
        // A child another test forks in this process may still hold a copy
        // of the descriptor until it execs: wait for the lock to go.
        let r = run_in(
            d,
            &[&args[..], &["--json", "--dry-run", "--wait", "30"]].concat(),
        );
        assert_eq!(r.code, 0, "{args:?} once the lock is free: {}", r.stderr);
    }
}

/// A write that failed verification names its bundle: the exit-4 and
/// exit-6 documents, the `--summary` line and the document's `end` carry
/// `backup`, a directory that holds the original.
#[test]
fn failed_writes_name_their_bundle() {
    for (fault, exit, outcome) in [
        ("corrupt-after-write", 4, "rolled-back"),
        ("corrupt-after-write,rollback-fails", 6, "rollback-failed"),
    ] {
        let t = tmp();
        let d = t.path();
        let h = copy_to(&corpus_file(WIN7), d, "SYSTEM");
        let original = sha256_file(&h);
        let env = [("NTRESCUE_FAULT", fault)];
        let r = run_env(d, &["nla", "disable", "SYSTEM", "--json"], &env);
        assert_eq!(r.code, exit, "{fault}: {}", r.stderr);
        let doc = r.json();
        assert_eq!(doc["outcome"], outcome, "{doc}");
        let bundle = doc["backup"].as_str().unwrap_or_else(|| panic!("{doc}"));
        assert_eq!(doc["end"]["backup"], bundle);
        assert_eq!(doc["end"]["exit_code"], exit);
        assert_eq!(sha256_file(&d.join(bundle).join("SYSTEM/SYSTEM")), original);
        if exit == 4 {
            assert_eq!(sha256_file(&h), original, "rolled back");
        }
        // Again from the original (a failed rollback leaves the file as it was).
        copy_to(&corpus_file(WIN7), d, "SYSTEM");
        let r = run_env(d, &["nla", "disable", "SYSTEM", "--summary"], &env);
        assert_eq!(r.code, exit, "{}", r.stderr);
        let sum = r.json();
        assert_eq!(sum["outcome"], outcome);
        let second = sum["backup"].as_str().unwrap_or_else(|| panic!("{sum}"));
        assert!(d.join(second).join("manifest.json").is_file(), "{sum}");
    }
}

/// `-o FILE` that cannot be written after a fix: the fix stands, the
/// document printed says so (outcome, bundle) with the error issue
/// `result-file-unwritable`, and the exit code is the fix's.
#[test]
fn an_unwritable_result_file_keeps_the_result() {
    let t = tmp();
    let d = t.path();
    let h = copy_to(&corpus_file(WIN7), d, "SYSTEM");
    let key = r"\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
    assert_eq!(hivex_dword(&h, key, "SecurityLayer"), Some(1));
    let r = run_in(
        d,
        &[
            "nla",
            "disable",
            "SYSTEM",
            "--json",
            "-o",
            "no/such/dir/r.json",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["outcome"], "written", "{doc}");
    assert!(doc["backup"].is_string(), "{doc}");
    assert!(
        codes(&doc).contains(&"result-file-unwritable".to_string()),
        "{doc}"
    );
    let issue = doc["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "result-file-unwritable")
        .unwrap();
    assert_eq!(issue["severity"], "error");
    assert!(r.stderr.contains("no/such/dir/r.json"), "{}", r.stderr);
    assert_eq!(hivex_dword(&h, key, "SecurityLayer"), Some(0));
    // Summary and text: the same result, the error said.
    let r = run_in(
        d,
        &["nla", "enable", "SYSTEM", "--summary", "-o", "no/r.json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sum = r.json();
    assert_eq!(sum["outcome"], "written");
    assert!(sum["backup"].is_string(), "{sum}");
    assert!(sum["codes"].to_string().contains("result-file-unwritable"));
    let r = run_in(d, &["nla", "disable", "SYSTEM", "-o", "no/r.json"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("could not be written"), "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().last(),
        Some("ntrescue: RESULT=written exit=0")
    );
}

/// The last 4 KB of a document (what Azure Run Command keeps) hold how
/// the run ended: `end` repeats outcome and exit code, whatever the size.
#[test]
fn the_last_4k_of_a_document_hold_the_outcome() {
    let t = tmp();
    let d = t.path();
    copy_to(&corpus_file(DIRTY), d, "SYSTEM");
    for log in ["LOG1", "LOG2"] {
        copy_to(
            &corpus_file(&format!("{DIRTY}.{log}")),
            d,
            &format!("SYSTEM.{log}"),
        );
    }
    let tail_end = |text: &str| -> serde_json::Value {
        let tail = &text[text.len().saturating_sub(4096)..];
        let at = tail.rfind("\"end\": ").unwrap_or_else(|| panic!("{tail}"));
        let rest = tail[at + 7..].trim_end();
        let obj = rest.strip_suffix('}').unwrap_or_else(|| panic!("{rest}"));
        serde_json::from_str(obj).unwrap()
    };
    let r = run_in(d, &["inspect", "SYSTEM", "--json", "--detail"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.len() > 1 << 20, "{} bytes", r.stdout.len());
    let end = tail_end(&r.stdout);
    assert_eq!(end["outcome"], "reported");
    assert_eq!(end["exit_code"], 0);
    let r = run_in(d, &["nla", "disable", "SYSTEM", "--json"]);
    let end = tail_end(&r.stdout);
    assert_eq!(end["outcome"], "written", "{end}");
    assert_eq!(end["backup"], r.json()["backup"]);
    let r = run_in(d, &["nla", "--json"]);
    let end = tail_end(&r.stdout);
    assert_eq!(
        (end["outcome"].as_str(), end["exit_code"].as_u64()),
        (Some("error"), Some(2))
    );
}
