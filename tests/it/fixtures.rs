// SPDX-License-Identifier: GPL-2.0-or-later
//! The generated fixtures in `hive-fixtures/`: regenerating them gives the
//! committed bytes, and two independent readers (hivex's export and regipy)
//! read every key and value exactly as the committed JSON description says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ntrescue::fixtures::build::{build, Data, HiveSpec, KeySpec};
use ntrescue::fixtures::{empty_log, software, system, SystemVariant};
use serde_json::Value;

use crate::util::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures")
}

fn committed() -> Vec<(String, HiveSpec)> {
    let mut v: Vec<(String, HiveSpec)> = SystemVariant::COMMITTED
        .iter()
        .map(|v| (v.stem().to_string(), system(*v)))
        .collect();
    v.push(("software".into(), software()));
    v
}

/// Regenerating gives identical bytes, and the JSON descriptions are the
/// specs the code builds from.
#[test]
fn regenerating_gives_identical_files() {
    for (stem, spec) in committed() {
        let hive = std::fs::read(dir().join(format!("{stem}.hive"))).unwrap();
        assert!(
            build(&spec) == hive,
            "{stem}.hive differs from what the builder makes: run hive-fixtures/generate.sh"
        );
        let json: HiveSpec =
            serde_json::from_slice(&std::fs::read(dir().join(format!("{stem}.json"))).unwrap())
                .unwrap();
        assert_eq!(json, spec, "{stem}.json");
    }
    let cfg = dir().join("demo-tree/Windows/System32/config");
    let modern = build(&system(SystemVariant::Modern));
    assert!(std::fs::read(cfg.join("SYSTEM")).unwrap() == modern);
    assert!(std::fs::read(cfg.join("SYSTEM.LOG1")).unwrap() == empty_log(&modern));
    assert!(std::fs::read(cfg.join("SOFTWARE")).unwrap() == build(&software()));
}

/// Flattens a description: key path (upper case) -> value name (upper) -> data.
fn flatten(k: &KeySpec, path: String, out: &mut BTreeMap<String, BTreeMap<String, Data>>) {
    let vals = out.entry(path.to_uppercase()).or_default();
    for v in &k.values {
        vals.insert(v.name.to_uppercase(), v.data.clone());
    }
    for s in &k.subkeys {
        let child = if path.is_empty() {
            s.name.clone()
        } else {
            format!("{path}\\{}", s.name)
        };
        flatten(s, child, out);
    }
}

fn hivex_form(d: &Data) -> String {
    match d {
        Data::Dword(v) => format!("dword:{v:08x}"),
        other => {
            let bytes = other
                .bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(",");
            format!("hex({:x}):{bytes}", other.type_code())
        }
    }
}

fn regipy_form(d: &Data) -> Value {
    match d {
        Data::Dword(v) => Value::from(*v),
        Data::Qword(v) => Value::from(*v),
        Data::Sz(s) | Data::ExpandSz(s) | Data::Binary(s) | Data::None(s) => Value::from(s.clone()),
        Data::MultiSz(items) => Value::from(items.clone()),
    }
}

fn regipy_json(hive: &Path) -> BTreeMap<String, BTreeMap<String, Value>> {
    let script = r#"
import sys, json
from regipy.registry import RegistryHive
h = RegistryHive(sys.argv[1])
out = {}
for e in h.recurse_subkeys(as_json=False):
    vals = out.setdefault(e.path.strip('\\').upper(), {})
    for v in e.values or []:
        val = v.value
        if isinstance(val, bytes):
            val = val.hex()
        vals[(v.name or '').upper()] = val
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(hive)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "regipy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// hivex and regipy read every committed fixture exactly as described; the
/// full-walk checkers accept them.
#[test]
fn peers_read_every_fixture_as_described() {
    for (stem, spec) in committed() {
        let hive = dir().join(format!("{stem}.hive"));
        let mut want = BTreeMap::new();
        flatten(&spec.root, String::new(), &mut want);

        let hx = hivex_tree(&hive);
        let want_hx: Tree = want
            .iter()
            .map(|(k, vs)| {
                (
                    k.clone(),
                    vs.iter().map(|(n, d)| (n.clone(), hivex_form(d))).collect(),
                )
            })
            .collect();
        assert_same_tree(&hx, &want_hx, &format!("{stem}: hivex"));

        let rp = regipy_json(&hive);
        for (k, vs) in &want {
            let got = rp
                .get(k)
                .unwrap_or_else(|| panic!("{stem}: regipy misses key {k}"));
            let want_rp: BTreeMap<String, Value> = vs
                .iter()
                .map(|(n, d)| (n.clone(), regipy_form(d)))
                .collect();
            assert_eq!(got, &want_rp, "{stem}: regipy {k}");
        }
        assert_eq!(rp.len(), want.len(), "{stem}: regipy key count");
        peer("hivexml", &[hive.to_str().unwrap()]);
        peer("regfexport", &[hive.to_str().unwrap()]);
    }
}

/// Inspect reads each variant as designed (Select, control sets, values).
#[test]
fn inspect_reads_each_variant() {
    let d = dir();
    let j = |stem: &str| run_in(&d, &["inspect", &format!("{stem}.hive"), "--json"]).json();
    let r = j("system-modern");
    assert_eq!(r["verdict"]["nla"], "required");
    assert_eq!(r["computer_name"], "DEMO-SRV01");
    let r = j("system-current2");
    assert_eq!(r["select"]["boot_control_set"], "ControlSet002");
    let r = j("system-cs003");
    assert_eq!(r["control_sets"].as_array().unwrap().len(), 3);
    assert_eq!(r["control_sets"][2]["roles"][0], "last-known-good");
    let r = j("system-missing-values");
    assert_eq!(r["control_sets"][0]["values"][1]["state"], "missing");
    assert_eq!(r["verdict"]["nla"], "off");
    let r = j("system-no-rdp-tcp");
    assert_eq!(r["control_sets"][0]["rdp_tcp"]["state"], "missing");
    // The demo tree: SOFTWARE is found and its policy flagged.
    let r = run_in(&d, &["inspect", "demo-tree", "--json"]).json();
    assert_eq!(r["source"]["kind"], "mounted-tree");
    assert_eq!(r["verdict"]["policy_overrides"], true);
    assert_eq!(r["software"]["windows"]["current_build"], "20348");
    assert_eq!(r["system"]["logs"].as_array().unwrap().len(), 2);
}

/// `--include-policy` on the demo tree: the SYSTEM values are set and the
/// overriding SOFTWARE policy value is removed; without it, a warning.
#[test]
fn include_policy_on_the_demo_tree() {
    let t = tmp();
    let src = dir().join("demo-tree/Windows/System32/config");
    let cfg = t.path().join("config");
    std::fs::create_dir(&cfg).unwrap();
    for f in [
        "SYSTEM",
        "SYSTEM.LOG1",
        "SYSTEM.LOG2",
        "SOFTWARE",
        "SOFTWARE.LOG1",
        "SOFTWARE.LOG2",
    ] {
        copy_to(&src.join(f), &cfg, f);
    }
    let r = run_in(
        t.path(),
        &["nla", "disable", "config", "--backup-dir", "bk", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = r.json();
    // The demo's policy sets only UserAuthentication 1: with SecurityLayer
    // 0 NLA is off whatever it says (inspect's rule), so the fix does not
    // warn, and inspect agrees that NLA is effectively off.
    assert!(
        !rep["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("--include-policy")),
        "{rep:#}"
    );
    let i = run_in(t.path(), &["inspect", "config", "--json"]).json();
    assert_eq!(i["verdict"]["effective_nla"], "off");
    let r = run_in(
        t.path(),
        &[
            "nla",
            "disable",
            "config",
            "--backup-dir",
            "bk",
            "--include-policy",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = r.json();
    assert_eq!(rep["changes"][0]["hive"], "SOFTWARE");
    assert_eq!(rep["changes"][0]["action"], "delete");
    let sw = cfg.join("SOFTWARE");
    let policy = r"\Policies\Microsoft\Windows NT\Terminal Services";
    assert_eq!(hivex_dword(&sw, policy, "UserAuthentication"), None);
    assert_eq!(
        hivex_dword(&sw, policy, "fDenyTSConnections"),
        Some(0),
        "agreeing policy values stay"
    );
    let i = run_in(t.path(), &["inspect", "config", "--json"]).json();
    assert_eq!(i["verdict"]["effective_nla"], "off");
    // Restore puts both hives back.
    let bundle = rep["backup"].as_str().unwrap();
    let r = run_in(t.path(), &["restore", bundle, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(hivex_dword(&sw, policy, "UserAuthentication"), Some(1));
}

/// The demo disk image (built by hive-fixtures/make-demo-disk.sh): a GPT
/// disk whose NTFS partition holds exactly the demo tree's hives and logs.
#[test]
fn demo_disk_holds_the_demo_tree() {
    let t = tmp();
    let img = t.path().join("demo-disk.img");
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(dir().join("demo-disk.img.gz"))
        .output()
        .expect("gzip");
    assert!(out.status.success());
    std::fs::write(&img, out.stdout).unwrap();
    let r = run_in(
        t.path(),
        &["inspect", img.to_str().unwrap(), "--verify", "--json"],
    )
    .json();
    assert_eq!(r["source"]["kind"], "disk");
    assert_eq!(r["disk"]["table"], "gpt");
    assert_eq!(r["disk"]["partition"]["start"], 1 << 20);
    let cfg = dir().join("demo-tree/Windows/System32/config");
    assert_eq!(
        r["system"]["file"]["sha256"],
        sha256_file(&cfg.join("SYSTEM"))
    );
    assert_eq!(
        r["system"]["logs"][0]["sha256"],
        sha256_file(&cfg.join("SYSTEM.LOG1"))
    );
    assert_eq!(
        r["software"]["hive"]["file"]["sha256"],
        sha256_file(&cfg.join("SOFTWARE"))
    );
    let p = run_in(
        t.path(),
        &[
            "nla",
            "disable",
            "--dry-run",
            img.to_str().unwrap(),
            "--json",
        ],
    )
    .json();
    assert_eq!(p["outcome"], "dry-run");
    assert_eq!(p["changes"].as_array().unwrap().len(), 6);
}

/// The >= 30 MB benchmark hive (generated on demand, not committed): both
/// peers walk it without error, and every RDP value inspect reports there is
/// what hivex reads.
#[test]
fn large_benchmark_hive_is_read_by_peers() {
    let t = tmp();
    let hive = t.path().join("system-large.hive");
    std::fs::write(&hive, build(&system(SystemVariant::Large))).unwrap();
    let len = std::fs::metadata(&hive).unwrap().len();
    assert!(len >= 30_000_000, "{len} bytes");
    let h = hive.to_str().unwrap();
    peer("hivexml", &[h]);
    peer("regfexport", &[h]);
    let r = run_in(t.path(), &["inspect", h, "--json"]).json();
    let sets = r["control_sets"].as_array().unwrap();
    assert!(sets.len() >= 2, "{r}");
    let mut checked = 0;
    for cs in sets {
        let name = cs["name"].as_str().unwrap();
        for v in cs["values"].as_array().unwrap() {
            let (Some(n), Some(d)) = (v["name"].as_str(), v["data"].as_u64()) else {
                continue;
            };
            let key = if n == "fDenyTSConnections" {
                format!(r"\{name}\Control\Terminal Server")
            } else {
                format!(r"\{name}\Control\Terminal Server\WinStations\RDP-Tcp")
            };
            assert_eq!(hivex_dword(&hive, &key, n), Some(d as u32), "{name} {n}");
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} values compared");
}
