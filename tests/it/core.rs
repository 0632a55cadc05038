// SPDX-License-Identifier: GPL-2.0-or-later
//! Core: inspect and the NLA fix on hive files, against the real corpus,
//! cross-checked with hivex and regipy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

const RDP: &str = r"Control\Terminal Server\WinStations\RDP-Tcp";
const NLA: [&str; 3] = [
    "SecurityLayer",
    "UserAuthentication",
    "fAllowSecProtocolNegotiation",
];

/// SYSTEM hives (not logs) listed in the manifest.
fn system_rows() -> Vec<HashMap<String, String>> {
    manifest()
        .into_iter()
        .filter(|r| r["path"].starts_with("system/") && r["kind"] == "regf-hive")
        .collect()
}

/// `inspect --verify --json` (hashes, structure walk, both readers), after
/// checking that the default on-demand read reports the same values.
fn inspect_json(path: &Path) -> Value {
    let run = |extra: &[&str]| {
        let mut args = vec!["inspect", "--json", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let r = run_in(path.parent().unwrap(), &args);
        assert_eq!(r.code, 0, "inspect {}: {}", path.display(), r.stderr);
        r.json()
    };
    let (lazy, whole) = (run(&[]), run(&["--verify"]));
    for k in [
        "select",
        "control_sets",
        "verdict",
        "verdict_source",
        "computer_name",
    ] {
        // The reasons may name different damage: the whole-file path scans
        // every sibling, the on-demand one reads only the hinted candidates
        // (and so may read a key past a damaged sibling, as Windows does).
        if k == "computer_name" && whole[k].is_null() {
            continue;
        }
        // Likewise the diagnose rules may warn about different damage
        // (on the malformed XP hive 13 warnings on demand, 22 read whole,
        // as `diagnose` and `diagnose --verify` say): the blockers agree.
        let counted = |v: &Value| {
            let mut v = without_errors(v);
            if let Some(d) = v.get_mut("diagnose").and_then(Value::as_object_mut) {
                d.remove("warnings");
                d.remove("infos");
            }
            v
        };
        assert_eq!(
            counted(&lazy[k]),
            counted(&whole[k]),
            "{k} of {}",
            path.display()
        );
    }
    whole
}

/// `v` without its `error`, `reason` and `nla_reason` texts.
fn without_errors(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !["error", "reason", "nla_reason"].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_errors(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_errors).collect()),
        other => other.clone(),
    }
}

fn set<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["control_sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in report"))
}

fn value<'a>(set: &'a Value, name: &str) -> &'a Value {
    set["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap()
}

/// Parses the manifest's `rdp_values`:
/// `ControlSet001:{SecurityLayer=1,...}; ControlSet002:<no RDP-Tcp key: ...>`.
/// A control set's expected values, or why there are none.
type Expected = Result<Vec<(String, String)>, String>;

fn manifest_rdp(s: &str) -> Vec<(String, Expected)> {
    s.split("; ")
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (set, rest) = part.split_once(':').unwrap();
            let parsed =
                if let Some(body) = rest.strip_prefix('{').and_then(|b| b.strip_suffix('}')) {
                    Ok(body
                        .split(',')
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap();
                            (k.to_string(), v.to_string())
                        })
                        .collect())
                } else {
                    Err(rest.to_string())
                };
            (set.to_string(), parsed)
        })
        .collect()
}

/// A report's `select` values as the manifest writes them: "k=v,..." sorted.
fn select_text(select: &Value) -> String {
    let mut v: Vec<String> = select["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{}={}", v["name"].as_str().unwrap(), v["data"]))
        .collect();
    v.sort();
    v.join(",")
}

/// The manifest's `after_log_replay` ("[applied ...; seq now A/B; Select
/// k=v,...] ControlSetNNN:{k=v,...}"), when it has one, against inspect's
/// after-replay view: final sequence numbers, Select and the RDP values.
fn after_replay_matches(rep: &Value, text: &str, ctx: &str) {
    let Some(rest) = text.strip_prefix('[') else {
        assert!(rep["after_replay"].is_null() || text.is_empty(), "{ctx}");
        return;
    };
    let (head, sets) = rest.split_once("] ").unwrap();
    let a = &rep["after_replay"];
    assert_eq!(a["replayed"], true, "{ctx}");
    let seq = head
        .split("; ")
        .find_map(|p| p.strip_prefix("seq now "))
        .unwrap();
    let last = a["replay"]["last_sequence"].to_string();
    assert_eq!(seq, format!("{last}/{last}"), "{ctx}");
    let select = head
        .split("; ")
        .find_map(|p| p.strip_prefix("Select "))
        .unwrap();
    assert_eq!(select_text(&a["select"]), select, "{ctx}");
    for (set_name, expect) in manifest_rdp(sets) {
        let s = a["control_sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == set_name.as_str())
            .unwrap_or_else(|| panic!("{ctx}: {set_name} after replay"));
        for (k, v) in expect.unwrap() {
            assert_eq!(value(s, &k)["data"].to_string(), v, "{ctx} {set_name} {k}");
        }
    }
}

/// Every SYSTEM hive of the corpus: inspect reports exactly what
/// MANIFEST.tsv (computed by independent Python readers) says.
#[test]
fn inspect_matches_manifest_for_every_corpus_system_hive() {
    let rows = system_rows();
    assert!(rows.len() >= 5, "expected the corpus SYSTEM hives");
    for row in rows {
        let path = corpus_file(&row["path"]);
        let rep = inspect_json(&path);
        let ctx = &row["path"];
        let bb = &rep["system"]["base_block"];
        assert_eq!(bb["sequence1"].to_string(), row["seq_primary"], "{ctx}");
        assert_eq!(bb["sequence2"].to_string(), row["seq_secondary"], "{ctx}");
        assert_eq!(bb["dirty"], row["dirty"] == "DIRTY", "{ctx}");
        assert_eq!(bb["checksum_valid"], row["checksum_ok"] == "yes", "{ctx}");
        assert_eq!(rep["system"]["file"]["sha256"], row["sha256"], "{ctx}");
        assert_eq!(
            rep["system"]["file"]["size"].to_string(),
            row["size"],
            "{ctx}"
        );
        assert_eq!(bb["version"], row["regf_version"].as_str(), "{ctx}");
        assert_eq!(row["regf_type"], "primary", "{ctx}");
        assert_eq!(bb["file_type"], 0, "{ctx}");
        if let Some(n) = row["notes"]
            .split(' ')
            .find_map(|w| w.strip_prefix("hbins_size="))
        {
            assert_eq!(bb["hive_bins_size"].to_string(), n, "{ctx}");
        }
        after_replay_matches(&rep, &row["after_log_replay"], ctx);
        let sets: Vec<&str> = rep["control_sets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(sets.join(","), row["control_sets"], "{ctx}");
        assert_eq!(select_text(&rep["select"]), row["select"], "{ctx}");
        for (set_name, expect) in manifest_rdp(&row["rdp_values"]) {
            let s = set(&rep, &set_name);
            match expect {
                Ok(values) => {
                    assert_eq!(s["rdp_tcp"]["state"], "present", "{ctx} {set_name}");
                    for (k, v) in values {
                        let got = value(s, &k);
                        if v == "<absent>" {
                            assert_eq!(got["state"], "missing", "{ctx} {set_name} {k}");
                        } else {
                            assert_eq!(got["state"], "present", "{ctx} {set_name} {k}");
                            assert_eq!(got["data"].to_string(), v, "{ctx} {set_name} {k}");
                        }
                    }
                }
                Err(why) if why.contains("missing") => {
                    assert_eq!(s["rdp_tcp"]["state"], "missing", "{ctx} {set_name}: {why}");
                }
                Err(why) => {
                    assert_eq!(
                        s["rdp_tcp"]["state"], "unreadable",
                        "{ctx} {set_name}: {why}"
                    );
                }
            }
        }
    }
}

/// The corrupt XP hive: damaged keys are reported unreadable, never absent.
#[test]
fn corruption_is_unreadable_not_absent() {
    let row = manifest()
        .into_iter()
        .find(|r| r["path"].starts_with("other/malformed/"))
        .unwrap();
    let rep = inspect_json(&corpus_file(&row["path"]));
    for (set_name, expect) in manifest_rdp(&row["rdp_values"]) {
        assert!(expect.is_err());
        let s = set(&rep, &set_name);
        assert_eq!(s["rdp_tcp"]["state"], "unreadable", "{set_name}");
        assert_eq!(s["nla"], "unknown");
        for v in s["values"].as_array().unwrap() {
            assert_eq!(v["state"], "unreadable", "{set_name} {}", v["name"]);
        }
    }
    assert_eq!(rep["system"]["structure"]["ok"], false);
    // And no fix is attempted on it.
    let t = tmp();
    let h = copy_to(&corpus_file(&row["path"]), t.path(), "SYSTEM");
    let before = sha256_file(&h);
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("structure check"), "{}", r.stderr);
    assert_eq!(sha256_file(&h), before);
}

fn clean_with_nla_values() -> Vec<PathBuf> {
    system_rows()
        .into_iter()
        .filter(|r| {
            r["dirty"] == "clean"
                && r["rdp_values"].contains("SecurityLayer=")
                && !r["rdp_values"].contains("<absent>")
        })
        .map(|r| corpus_file(&r["path"]))
        .collect()
}

/// `nla disable` on a copy of each clean corpus hive: hivex and regipy read
/// 0/0/0 in every control set; only the 4-byte data fields and the base
/// block differ; the base block is clean with a valid checksum.
#[test]
fn disable_on_clean_corpus_hives_is_minimal_and_peers_agree() {
    let hives = clean_with_nla_values();
    assert!(!hives.is_empty());
    for src in hives {
        let t = tmp();
        let h = copy_to(&src, t.path(), "SYSTEM");
        let r = run_in(
            t.path(),
            &["nla", "disable", "SYSTEM", "--json", "--backup-dir", "bk"],
        );
        assert_eq!(r.code, 0, "{}: {}", src.display(), r.stderr);
        let rep = r.json();
        assert_eq!(rep["outcome"], "written");
        let sets: Vec<String> = inspect_json(&src)["control_sets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        let mut reqs = Vec::new();
        for s in &sets {
            let key = format!(r"\{s}\{RDP}");
            for v in NLA {
                assert_eq!(hivex_dword(&h, &key, v), Some(0), "hivex {s} {v}");
                reqs.push((key.clone(), v));
            }
        }
        let reqs_ref: Vec<(&str, &str)> = reqs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for line in regipy_dwords(&h, &reqs_ref) {
            assert!(line.ends_with("|0"), "regipy: {line}");
        }
        // Byte diff: only the header (0..512) and the planned 4-byte fields.
        let a = std::fs::read(&src).unwrap();
        let b = std::fs::read(&h).unwrap();
        assert_eq!(a.len(), b.len());
        let allowed: Vec<(usize, usize)> = rep["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let o = c["file_offset"].as_u64().unwrap() as usize;
                (o, o + 4)
            })
            .collect();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if x != y {
                assert!(
                    i < 512 || allowed.iter().any(|&(s, e)| s <= i && i < e),
                    "byte {i:#x} changed"
                );
            }
        }
        let (s1, s2, ok) = base_block(&h);
        let (o1, _, _) = base_block(&src);
        assert!(
            s1 == s2 && ok && s1 == o1 + 1,
            "base block {s1}/{s2} checksum {ok}"
        );
        // hivexml walks the whole hive.
        peer("hivexml", &[h.to_str().unwrap()]);
    }
}

/// Dirty hives with nothing to replay (no logs) are refused by default and
/// left byte-identical. (Dirty hives with logs are replayed: tests/it/dirty.rs.)
#[test]
fn dirty_hives_are_refused_and_untouched() {
    let rows: Vec<_> = system_rows()
        .into_iter()
        .filter(|r| r["dirty"] == "DIRTY" && !r["notes"].contains("logs sit beside it"))
        .collect();
    assert!(!rows.is_empty());
    for row in rows {
        let t = tmp();
        let src = corpus_file(&row["path"]);
        let h = copy_to(&src, t.path(), "SYSTEM");
        for ext in ["LOG1", "LOG2"] {
            let log = src.with_file_name(format!(
                "{}.{ext}",
                src.file_name().unwrap().to_str().unwrap()
            ));
            if log.exists() {
                copy_to(&log, t.path(), &format!("SYSTEM.{ext}"));
            }
        }
        let before: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| sha256_file(&e.unwrap().path()))
            .collect();
        let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
        assert_eq!(r.code, 3, "{}: {}", row["path"], r.stderr);
        assert!(r.stderr.contains("dirty"), "{}", r.stderr);
        assert_eq!(r.json()["error"]["kind"], "refused");
        let after: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| sha256_file(&e.unwrap().path()))
            .collect();
        assert_eq!(before, after);
        assert!(
            !t.path().join("ntrescue-backups").exists(),
            "no backup for a refusal"
        );
        let _ = h;
    }
}

/// A hive without the RDP-Tcp key is refused (keys are never invented);
/// nothing is written.
#[test]
fn missing_rdp_tcp_key_is_refused_without_writing() {
    let t = tmp();
    let h = copy_to(
        &corpus_file("system/win10-10240-minimal__qthivex__SYSTEM"),
        t.path(),
        "SYSTEM",
    );
    let before = sha256_file(&h);
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    let rep = r.json();
    assert_eq!(rep["outcome"], "refused");
    assert!(rep["refusals"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("missing"));
    assert_eq!(sha256_file(&h), before);
    assert!(!t.path().join("ntrescue-backups").exists());
}

/// Windows XP's RDP-Tcp has none of the three values: `nla disable`
/// creates all three in both control sets; hivex, regipy, hivexml and
/// regfexport read the result.
#[test]
fn xp_values_are_created_in_both_control_sets() {
    let t = tmp();
    let h = copy_to(
        &corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        t.path(),
        "SYSTEM",
    );
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = r.json();
    assert_eq!(rep["changes"].as_array().unwrap().len(), 6);
    assert!(rep["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["action"] == "create"));
    let mut reqs = Vec::new();
    for set in ["ControlSet001", "ControlSet002"] {
        let key = format!(r"\{set}\{RDP}");
        for v in NLA {
            assert_eq!(hivex_dword(&h, &key, v), Some(0), "{set} {v}");
        }
        reqs.push(key);
    }
    let pairs: Vec<(&str, &str)> = reqs
        .iter()
        .flat_map(|k| NLA.map(|v| (k.as_str(), v)))
        .collect();
    for line in regipy_dwords(&h, &pairs) {
        assert!(line.ends_with("|0"), "regipy: {line}");
    }
    peer("hivexml", &[h.to_str().unwrap()]);
    peer("regfexport", &[h.to_str().unwrap()]);
    // Idempotent: a rerun writes nothing.
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
    assert_eq!(r.json()["outcome"], "nothing-to-do");
}

/// Malformed, special and non-regf inputs: a clear error or a correct read,
/// never a panic, never a write.
#[test]
fn malformed_special_and_non_regf_never_panic_or_write() {
    let mut files = Vec::new();
    for dir in ["other/malformed", "other/special", "other/not-regf"] {
        for e in std::fs::read_dir(corpus().join(dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    assert!(files.len() > 20);
    for src in files {
        let t = tmp();
        let h = copy_to(&src, t.path(), "SYSTEM");
        let before = sha256_file(&h);
        let r = run_in(t.path(), &["inspect", "SYSTEM"]);
        assert!(
            matches!(r.code, 0 | 1 | 3 | 5),
            "{}: exit {}",
            src.display(),
            r.code
        );
        if r.code == 5 {
            assert!(r.stderr.contains("not a SYSTEM hive"), "{}", r.stderr);
        }
        if r.code != 0 {
            assert!(
                r.stderr.contains("SYSTEM"),
                "error names the file: {}",
                r.stderr
            );
        }
        let r = run_in(t.path(), &["nla", "disable", "SYSTEM"]);
        assert!(
            matches!(r.code, 0 | 1 | 3 | 5),
            "{}: exit {}",
            src.display(),
            r.code
        );
        assert_eq!(sha256_file(&h), before, "{} was modified", src.display());
    }
    // A non-regf file names the offset of the bad signature.
    let r = run_in(
        Path::new("/"),
        &[
            "inspect",
            corpus_file("other/not-regf/win9x__dfwinreg__SYSTEM.DAT")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("byte offset 0x0"), "{}", r.stderr);
}

/// Read-only proof: inspect works on a 0444 hive in a 0555 directory and
/// leaves it byte-identical.
#[test]
fn inspect_reads_a_read_only_hive_without_changing_it() {
    use std::os::unix::fs::PermissionsExt;
    let t = tmp();
    let dir = t.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let h = copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        &dir,
        "SYSTEM",
    );
    let before = sha256_file(&h);
    let mtime = std::fs::metadata(&h).unwrap().modified().unwrap();
    std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let r = run_in(t.path(), &["inspect", "ro/SYSTEM", "--json"]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["verdict"]["nla"], "off");
    assert_eq!(sha256_file(&h), before);
    assert_eq!(std::fs::metadata(&h).unwrap().modified().unwrap(), mtime);
}

/// Idempotence and restore: a second disable writes nothing (hash and mtime
/// unchanged); restore returns the original sha256; a second restore is a
/// no-op; a target changed after the write is refused unless --force.
#[test]
fn idempotent_rerun_and_restore_round_trip() {
    let src = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let t = tmp();
    let h = copy_to(&src, t.path(), "SYSTEM");
    let original = sha256_file(&h);
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bundle = r.json()["backup"].as_str().unwrap().to_string();
    let after = sha256_file(&h);
    let mtime = std::fs::metadata(&h).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 0);
    let rep = r.json();
    assert_eq!(rep["outcome"], "nothing-to-do");
    // Nothing written, but the bundle holding the original is named.
    assert_eq!(rep["backup"], bundle.as_str());
    assert_eq!(sha256_file(&h), after);
    assert_eq!(std::fs::metadata(&h).unwrap().modified().unwrap(), mtime);
    assert_eq!(
        std::fs::read_dir(t.path().join("ntrescue-backups"))
            .unwrap()
            .count(),
        1
    );

    let manifest: Value = serde_json::from_slice(
        &std::fs::read(t.path().join(&bundle).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["schema"], "ntrescue-backup/v1");
    assert_eq!(manifest["hives"][0]["name"], "SYSTEM");
    assert_eq!(manifest["hives"][0]["before_sha256"], original);
    assert_eq!(manifest["hives"][0]["expected_after_sha256"], after);
    assert_eq!(manifest["changes"].as_array().unwrap().len(), 4);

    let r = run_in(t.path(), &["restore", &bundle]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sha256_file(&h), original);
    let r = run_in(t.path(), &["restore", &bundle, "--json"]);
    assert_eq!(r.code, 0);
    let rep = r.json();
    assert_eq!(rep["files"][0]["action"], "unchanged");
    // The common header every document has (docs/json-schema.md).
    assert_eq!(rep["schema"], "ntrescue/v1");
    assert_eq!(rep["tool"]["name"], "ntrescue");
    assert_eq!(rep["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(rep["command"], "restore");
    assert_eq!(rep["backup"], bundle.as_str());
    assert_eq!(rep["forced"], false);
    assert!(rep["operation"].as_str().unwrap().contains("nla disable"));

    // Changed after the write: refused, then forced.
    let r = run_in(t.path(), &["nla", "enable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let enabled = sha256_file(&h);
    let r = run_in(t.path(), &["restore", &bundle]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(sha256_file(&h), enabled);
    let r = run_in(t.path(), &["restore", &bundle, "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sha256_file(&h), original);
}

/// Forensic mode (`--read-only` or `NTRESCUE_READ_ONLY=1`): every command
/// that would write is refused (exit 3) with nothing written and no backup
/// bundle made; dry runs, inspect and get work; a rerun with nothing to do
/// still reports so; restore is refused too.
#[test]
fn read_only_mode_cannot_write() {
    let t = tmp();
    let d = t.path();
    let h = copy_to(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/system-modern.hive"),
        d,
        "SYSTEM",
    );
    let original = sha256_file(&h);
    let ro = [("NTRESCUE_READ_ONLY", "1")];
    let refused = |r: Run| {
        assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("read-only mode"), "{}", r.stderr);
        assert_eq!(sha256_file(&h), original);
        assert!(!d.join("ntrescue-backups").exists(), "no bundle");
    };
    refused(run_in(d, &["--read-only", "nla", "disable", "SYSTEM"]));
    refused(run_in(d, &["nla", "disable", "SYSTEM", "--read-only"]));
    refused(run_env(d, &["rdp", "port", "SYSTEM", "--set", "3390"], &ro));
    refused(run_env(
        d,
        &[
            "set",
            "SYSTEM",
            r"SYSTEM\Select",
            "X",
            "--type",
            "dword",
            "--data",
            "1",
        ],
        &ro,
    ));
    refused(run_env(
        d,
        &["delete-value", "SYSTEM", r"SYSTEM\Select", "Failed"],
        &ro,
    ));
    refused(run_env(
        d,
        &["nla", "disable", "SYSTEM", "--output", "new.hive"],
        &ro,
    ));
    assert!(!d.join("new.hive").exists());
    let plan = run_env(d, &["nla", "disable", "SYSTEM", "--dry-run", "--json"], &ro);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(plan.json()["outcome"], "dry-run");
    let i = run_env(d, &["inspect", "SYSTEM", "--json"], &ro);
    assert_eq!(i.code, 0, "{}", i.stderr);
    let g = run_env(d, &["get", "SYSTEM", r"SYSTEM\Select", "--json"], &ro);
    assert_eq!(g.code, 0, "{}", g.stderr);
    // "0" and "false" leave writing allowed.
    let r = run_env(
        d,
        &["nla", "disable", "SYSTEM", "--json"],
        &[("NTRESCUE_READ_ONLY", "0")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bundle = r.json()["backup"].as_str().unwrap().to_string();
    let fixed = sha256_file(&h);
    assert_ne!(fixed, original);
    let again = run_env(d, &["nla", "disable", "SYSTEM", "--json"], &ro);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["outcome"], "nothing-to-do");
    let r = run_in(d, &["--read-only", "restore", &bundle]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(sha256_file(&h), fixed);
}

/// A failure injected between backup and verification rolls the file back to
/// its original bytes and exits 4 (test-only hook, debug builds).
#[test]
fn injected_failures_roll_back() {
    let src = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    for point in ["after-backup", "after-body", "corrupt-after-write"] {
        let t = tmp();
        let h = copy_to(&src, t.path(), "SYSTEM");
        let original = sha256_file(&h);
        let r = run_env(
            t.path(),
            &["nla", "disable", "SYSTEM", "--json"],
            &[("NTRESCUE_FAULT", point)],
        );
        assert_eq!(r.code, 4, "{point}: {}", r.stderr);
        assert_eq!(r.json()["error"]["kind"], "rolled-back");
        assert_eq!(sha256_file(&h), original, "{point}: not rolled back");
        // The backup exists and holds the original.
        let bundle = std::fs::read_dir(t.path().join("ntrescue-backups"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(sha256_file(&bundle.join("SYSTEM/SYSTEM")), original);
    }
}

/// A target that no longer holds the bytes that were read (compared while
/// the backup is written) is refused before any byte is written, and the
/// unfinished bundle is removed (test-only hook, debug builds).
#[test]
fn a_target_changed_since_it_was_read_is_refused_without_a_bundle() {
    let src = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let t = tmp();
    let h = copy_to(&src, t.path(), "SYSTEM");
    let original = sha256_file(&h);
    let r = run_env(
        t.path(),
        &["nla", "disable", "SYSTEM", "--json"],
        &[("NTRESCUE_FAULT", "target-changed")],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.json()["error"]["code"], "target-changed", "{}", r.stdout);
    assert_eq!(sha256_file(&h), original);
    let left: Vec<_> = std::fs::read_dir(t.path().join("ntrescue-backups"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "an unfinished bundle was left: {left:?}");
    // Without the hook the same run writes.
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Dry run and --output: nothing written in place.
#[test]
fn dry_run_and_output_leave_the_source_alone() {
    let src = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let t = tmp();
    let h = copy_to(&src, t.path(), "SYSTEM");
    let original = sha256_file(&h);
    let r = run_in(
        t.path(),
        &["nla", "disable", "SYSTEM", "--dry-run", "--json"],
    );
    assert_eq!(r.code, 0);
    let rep = r.json();
    assert_eq!(rep["outcome"], "dry-run");
    assert_eq!(rep["changes"].as_array().unwrap().len(), 4);
    assert_eq!(rep["changes"][0]["old"], 1);
    assert_eq!(sha256_file(&h), original);
    assert!(!t.path().join("ntrescue-backups").exists());

    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--output", "OUT"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sha256_file(&h), original);
    let out = t.path().join("OUT");
    for s in ["ControlSet001", "ControlSet002"] {
        for v in NLA {
            assert_eq!(hivex_dword(&out, &format!(r"\{s}\{RDP}"), v), Some(0));
        }
    }
    // --output never overwrites.
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--output", "OUT"]);
    assert_eq!(r.code, 1);
}

/// Exit codes and usage errors are as documented.
#[test]
fn usage_errors_and_not_found() {
    let t = tmp();
    assert_eq!(run_in(t.path(), &["frobnicate"]).code, 2);
    assert_eq!(run_in(t.path(), &["inspect"]).code, 2);
    std::fs::create_dir_all(t.path().join("Windows/System32/config")).unwrap();
    let r = run_in(t.path(), &["inspect", ".", "--json"]);
    assert_eq!(r.code, 5);
    assert_eq!(r.json()["error"]["kind"], "not-found");
    let help = run_in(t.path(), &["--help"]);
    assert!(help.stdout.contains("Exit codes"));
}

/// A dirty hive with no logs: refused by default, fixed with the explicit
/// opt-in, and then written clean with a higher sequence number.
#[test]
fn dirty_without_logs_needs_the_opt_in() {
    let src = corpus_file("system/win10-1903-x64-dirty-nologs__regipy__SYSTEM_WIN_10_1709");
    let t = tmp();
    let h = copy_to(&src, t.path(), "SYSTEM");
    let before = sha256_file(&h);
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("--allow-dirty-without-logs"),
        "{}",
        r.stderr
    );
    assert_eq!(sha256_file(&h), before);
    let r = run_in(
        t.path(),
        &[
            "nla",
            "disable",
            "SYSTEM",
            "--allow-dirty-without-logs",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.json()["warnings"][0].as_str().unwrap().contains("lost"));
    let (s1, s2, ok) = base_block(&h);
    assert!(s1 == s2 && s1 == 4318 && ok);
    let key = r"\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
    for v in NLA {
        assert_eq!(hivex_dword(&h, key, v), Some(0));
    }
    for line in regipy_dwords(&h, &NLA.map(|v| (key, v))) {
        assert!(line.ends_with("|0"), "{line}");
    }
}

/// Valid regf hives that are not SYSTEM hives (user, SAM, SECURITY, BCD,
/// SOFTWARE-like): inspect finds nothing (exit 5), in both output modes; a
/// file that is not regf at all stays an error (exit 1).
#[test]
fn non_system_hives_are_not_found() {
    let rows: Vec<_> = manifest()
        .into_iter()
        .filter(|r| {
            (r["path"].starts_with("other/real/")
                || r["path"].starts_with("other/dirty-with-logs/"))
                && r["kind"] == "regf-hive"
        })
        .collect();
    assert!(rows.len() >= 6, "expected the corpus user/SAM/... hives");
    for row in rows {
        let src = corpus_file(&row["path"]);
        let ctx = &row["path"];
        let r = run_in(Path::new("/"), &["inspect", src.to_str().unwrap()]);
        assert_eq!(r.code, 5, "{ctx}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("not a SYSTEM hive"),
            "{ctx}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(src.to_str().unwrap()),
            "{ctx}: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{ctx}: {}", r.stdout);
        let r = run_in(
            Path::new("/"),
            &["inspect", "--json", src.to_str().unwrap()],
        );
        assert_eq!(r.code, 5, "{ctx}");
        let doc = r.json();
        assert_eq!(doc["error"]["kind"], "not-found", "{ctx}");
        assert_eq!(doc["error"]["exit_code"], 5, "{ctx}");
    }
    // A SOFTWARE-like fixture, too.
    let sw = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/software.hive");
    let r = run_in(Path::new("/"), &["inspect", sw.to_str().unwrap()]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    let r = run_in(
        Path::new("/"),
        &[
            "inspect",
            corpus_file("other/not-regf/win9x__dfwinreg__SYSTEM.DAT")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
}

/// Human mode: warnings go to stderr, the report to stdout; with --json
/// they stay inside the one document on stdout.
#[test]
fn human_warnings_go_to_stderr() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/system-no-rdp-tcp.hive");
    let r = run_in(Path::new("/"), &["inspect", fixture.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Verdict:"), "{}", r.stdout);
    assert!(!r.stdout.contains("warning:"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("warning: ControlSet001: no RDP-Tcp listener key"),
        "{}",
        r.stderr
    );
    let r = run_in(
        Path::new("/"),
        &["inspect", "--json", fixture.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(r.json()["warnings"][0]
        .as_str()
        .unwrap()
        .contains("no RDP-Tcp listener key"));
    // The same for an edit command's warnings.
    let t = tmp();
    copy_to(
        &corpus_file("system/win10-1903-x64-dirty-nologs__regipy__SYSTEM_WIN_10_1709"),
        t.path(),
        "SYSTEM",
    );
    let r = run_in(
        t.path(),
        &[
            "nla",
            "disable",
            "SYSTEM",
            "--allow-dirty-without-logs",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("warning:"), "{}", r.stdout);
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("lost"),
        "{}",
        r.stderr
    );
}

/// A control set without RDP-Tcp has no listener: NLA unknown and RDP
/// unknown, never "NLA off, RDP enabled".
#[test]
fn missing_listener_is_unknown_not_off() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/system-no-rdp-tcp.hive");
    let rep = inspect_json(&fixture);
    for s in rep["control_sets"].as_array().unwrap() {
        assert_eq!(s["rdp_tcp"]["state"], "missing");
        assert_eq!(s["nla"], "unknown", "{}", s["name"]);
        assert!(s["rdp_enabled"].is_null(), "{}", s["name"]);
        assert!(s["nla_reason"]
            .as_str()
            .unwrap()
            .contains("no RDP-Tcp listener"));
    }
    let v = &rep["verdict"];
    assert_eq!(v["nla"], "unknown");
    assert_eq!(v["boot_set_nla"], "unknown");
    assert_eq!(v["effective_nla"], "unknown");
    // No listener: by the diagnose rules RDP cannot work.
    assert_eq!(v["rdp_enabled"], false);
    assert!(v["blockers"]
        .as_array()
        .unwrap()
        .contains(&"listener-missing".into()));
    let r = run_in(Path::new("/"), &["inspect", fixture.to_str().unwrap()]);
    assert!(
        r.stdout.contains("unknown (no RDP-Tcp listener"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("NLA off"), "{}", r.stdout);
}

/// Every ControlSetNNN key at the root of a hive, per hivex (`hivexsh ls`).
fn hivex_control_sets(h: &Path) -> Vec<String> {
    require_tool("hivexsh");
    let out = std::process::Command::new("hivexsh")
        .arg(h)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"ls\n")?;
            c.wait_with_output()
        })
        .expect("hivexsh");
    assert!(out.status.success(), "hivexsh {}", h.display());
    let mut sets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("controlset"))
        .map(String::from)
        .collect();
    sets.sort();
    sets
}

/// `nla enable` on the clean Windows 7 hive: 1/1/1 in both control sets,
/// read back by hivex.
#[test]
fn nla_enable_on_win7_sets_one_in_both_control_sets() {
    let t = tmp();
    let h = copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        t.path(),
        "SYSTEM",
    );
    let r = run_in(t.path(), &["nla", "enable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["outcome"], "written");
    assert_eq!(hivex_control_sets(&h), ["ControlSet001", "ControlSet002"]);
    for s in ["ControlSet001", "ControlSet002"] {
        for v in NLA {
            assert_eq!(
                hivex_dword(&h, &format!(r"\{s}\{RDP}"), v),
                Some(1),
                "{s} {v}"
            );
        }
    }
    assert_eq!(inspect_json(&h)["verdict"]["nla"], "required");
}

/// `nla disable` on the three-set and Current=2 fixtures: 0/0/0 in every
/// control set (ControlSet003 included), read back by hivex.
#[test]
fn nla_disable_covers_every_control_set() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures");
    for (stem, sets) in [
        (
            "system-cs003",
            &["ControlSet001", "ControlSet002", "ControlSet003"][..],
        ),
        ("system-current2", &["ControlSet001", "ControlSet002"][..]),
    ] {
        let t = tmp();
        let h = copy_to(&fixtures.join(format!("{stem}.hive")), t.path(), "SYSTEM");
        assert_eq!(hivex_control_sets(&h), sets, "{stem}");
        for s in sets {
            for v in NLA {
                assert_ne!(
                    hivex_dword(&h, &format!(r"\{s}\{RDP}"), v),
                    Some(0),
                    "{stem} {s} {v} before"
                );
            }
        }
        let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
        assert_eq!(r.code, 0, "{stem}: {}", r.stderr);
        assert_eq!(r.json()["outcome"], "written", "{stem}");
        for s in sets {
            for v in NLA {
                assert_eq!(
                    hivex_dword(&h, &format!(r"\{s}\{RDP}"), v),
                    Some(0),
                    "{stem} {s} {v}"
                );
            }
        }
        assert_eq!(inspect_json(&h)["verdict"]["nla"], "off", "{stem}");
    }
}

/// A partial fix: ControlSet002 has no RDP-Tcp key, ControlSet001 has. The
/// fix writes 001, leaves 002 alone as a whole, exits 0 with `refusals`
/// naming 002 (what a runbook checks, README); hivex sees 0/0/0 in 001 only.
#[test]
fn a_set_without_the_listener_key_is_left_alone_and_reported() {
    use ntrescue::fixtures::build::build;
    use ntrescue::fixtures::{system, SystemVariant};
    let t = tmp();
    let mut spec = system(SystemVariant::Modern);
    let ws = spec
        .root
        .find_mut(r"ControlSet002\Control\Terminal Server\WinStations")
        .unwrap();
    ws.subkeys.retain(|k| k.name != "RDP-Tcp");
    let h = t.path().join("SYSTEM");
    std::fs::write(&h, build(&spec)).unwrap();
    let before = hivex_tree(&h);
    let r = run_in(t.path(), &["nla", "disable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = r.json();
    // Written, with a unit left alone: its own outcome, exit 0.
    assert_eq!(rep["outcome"], "partial");
    assert_eq!(rep["codes"], serde_json::json!(["key-missing"]), "{rep}");
    let refusals = rep["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 1, "{rep}");
    assert_eq!(refusals[0]["code"], "key-missing", "{rep}");
    assert_eq!(refusals[0]["control_set"], "ControlSet002");
    assert!(refusals[0]["reason"].as_str().unwrap().contains("RDP-Tcp"));
    let rdp = r"CONTROLSET001\CONTROL\TERMINAL SERVER\WINSTATIONS\RDP-TCP";
    let mut want: Vec<(String, String)> = [
        "SECURITYLAYER",
        "USERAUTHENTICATION",
        "FALLOWSECPROTOCOLNEGOTIATION",
    ]
    .iter()
    .map(|v| (rdp.to_string(), v.to_string()))
    .collect();
    want.sort();
    assert_eq!(changed(&before, &hivex_tree(&h)), want);
}

/// A hive whose RDP values read fine but whose last bin is broken: the
/// in-place plan is made beside the structure check, and the failed check
/// refuses it (exit 3), with nothing written and no backup bundle.
#[test]
fn a_broken_bin_elsewhere_refuses_the_fix() {
    let t = tmp();
    let h = copy_to(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/system-modern.hive"),
        t.path(),
        "SYSTEM",
    );
    let mut b = std::fs::read(&h).unwrap();
    let last_bin = b.len() - 4096;
    assert_eq!(&b[last_bin..last_bin + 4], b"hbin");
    b[last_bin..last_bin + 4].copy_from_slice(b"xxxx");
    std::fs::write(&h, &b).unwrap();
    let before = sha256_file(&h);
    let plan = run_in(
        t.path(),
        &["nla", "disable", "SYSTEM", "--dry-run", "--json"],
    );
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    let r = run_in(
        t.path(),
        &["nla", "disable", "SYSTEM", "--backup-dir", "bk"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("structure check"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{last_bin:#x}")), "{}", r.stderr);
    assert_eq!(sha256_file(&h), before);
    assert!(!t.path().join("bk").exists(), "no bundle left behind");
}
