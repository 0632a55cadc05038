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
    assert!(text.len() < 24_000, "{} bytes", text.len());
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
    let written = serde_json::from_str::<serde_json::Value>(&docs[11].1).unwrap();
    let bundle = d.join(written["backup"].as_str().expect("a bundle"));
    let r = run_in(d, &["restore", bundle.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    docs.push(("restore", r.stdout));
    validate(&docs);
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
