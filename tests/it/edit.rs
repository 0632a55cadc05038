// SPDX-License-Identifier: GPL-2.0-or-later
//! General edits (`set`, `delete-value`, recipes): every result is read back
//! by three independent readers (nt-hive in-process, hivex's
//! `hivexregedit --export`, regipy) and must differ from the original in
//! exactly the planned values; the full-walk tools (hivexml, regfexport)
//! must accept it.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// regipy's view, same shape.
fn regipy_tree(hive: &Path) -> Tree {
    let script = r#"
import sys, json
from regipy.registry import RegistryHive
h = RegistryHive(sys.argv[1])
out = {}
for e in h.recurse_subkeys(as_json=False):
    path = e.path.strip('\\').upper()
    out.setdefault(path, {})
    for v in e.values or []:
        out[path][(v.name or '').upper()] = f"{v.value_type}:{v.value!r}"
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

/// nt-hive's view (in-process, independent of ntrescue's navigator).
fn nthive_tree(hive: &Path) -> Tree {
    fn walk(k: &nt_hive::KeyNode<&[u8]>, path: String, t: &mut Tree) {
        let vals = t.entry(path.to_uppercase()).or_default();
        if let Some(vs) = k.values() {
            for v in vs.unwrap() {
                let v = v.unwrap();
                let data = v.data().unwrap().into_vec().unwrap();
                vals.insert(
                    v.name().unwrap().to_string().to_uppercase(),
                    format!("{:?}:{}", v.data_type().ok(), hex(&data)),
                );
            }
        }
        if let Some(subs) = k.subkeys() {
            for s in subs.unwrap() {
                let s = s.unwrap();
                let name = s.name().unwrap().to_string();
                let child = if path.is_empty() {
                    name
                } else {
                    format!("{path}\\{name}")
                };
                walk(&s, child, t);
            }
        }
    }
    let bytes = std::fs::read(hive).unwrap();
    let h = nt_hive::Hive::new(&bytes[..]).expect("nt-hive opens the edited hive strictly");
    let mut t = Tree::new();
    walk(&h.root_key_node().unwrap(), String::new(), &mut t);
    t
}

fn ok(r: Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.json()
}

/// Change in place, create in free space, create strings / multi-strings /
/// binary, delete, and create enough to append hive bins: all three readers
/// see exactly the planned differences and nothing else.
#[test]
fn general_edits_are_exact_for_three_readers() {
    let t = tmp();
    let h = copy_to(
        &corpus_file("other/special/nt-hive__testhive"),
        t.path(),
        "SYSTEM",
    );
    let before = (hivex_tree(&h), regipy_tree(&h), nthive_tree(&h));
    let d = t.path();
    let set = |v: &str, ty: &str, data: &[&str]| {
        let mut args = vec![
            "set",
            "SYSTEM",
            r"SYSTEM\data-test",
            v,
            "--type",
            ty,
            "--json",
        ];
        for x in data {
            args.push("--data");
            args.push(x);
        }
        ok(run_in(d, &args))
    };
    let rep = set("dword", "dword", &["7"]);
    assert_eq!(rep["changes"][0]["action"], "change");
    assert!(rep["changes"][0]["file_offset"].is_u64(), "in-place change");
    let rep = set("NewDword", "dword", &["0x2a"]);
    assert_eq!(rep["changes"][0]["action"], "create");
    set("NewString", "sz", &["Grüße, world"]);
    set("NewMulti", "multi-sz", &["one", "two"]);
    set("NewBinary", "binary", &[&"ab".repeat(3000)]);
    ok(run_in(
        d,
        &[
            "delete-value",
            "SYSTEM",
            r"SYSTEM\data-test",
            "qword",
            "--json",
        ],
    ));
    let mut appended = 0;
    for i in 0..60 {
        let rep = set(&format!("Filler{i:02}"), "binary", &[&"5a".repeat(1000)]);
        appended += rep["hives"][0]["appended_bins"].as_u64().unwrap();
    }
    assert!(appended > 0, "enough data to append hive bins");

    let after = (hivex_tree(&h), regipy_tree(&h), nthive_tree(&h));
    let mut want: Vec<(String, String)> = [
        "DWORD",
        "NEWDWORD",
        "NEWSTRING",
        "NEWMULTI",
        "NEWBINARY",
        "QWORD",
    ]
    .iter()
    .map(|v| ("DATA-TEST".to_string(), v.to_string()))
    .chain((0..60).map(|i| ("DATA-TEST".to_string(), format!("FILLER{i:02}"))))
    .collect();
    want.sort();
    assert_eq!(changed(&before.0, &after.0), want, "hivex");
    assert_eq!(changed(&before.1, &after.1), want, "regipy");
    assert_eq!(changed(&before.2, &after.2), want, "nt-hive");
    assert!(
        after.0["DATA-TEST"]["NEWDWORD"].contains("2a"),
        "{}",
        after.0["DATA-TEST"]["NEWDWORD"]
    );
    assert!(!after.2["DATA-TEST"].contains_key("QWORD"));
    peer("hivexml", &[h.to_str().unwrap()]);
    peer("regfexport", &[h.to_str().unwrap()]);
    let (s1, s2, sum) = base_block(&h);
    assert!(s1 == s2 && sum);
}

/// The rescue recipes on the XP hive: exactly the values they name change
/// (hivex's whole-hive export compared before and after), reruns write
/// nothing, and set/get round-trip through CurrentControlSet.
#[test]
fn recipes_change_exactly_what_they_name() {
    let t = tmp();
    let h = copy_to(
        &corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        t.path(),
        "SYSTEM",
    );
    let d = t.path();
    let before = hivex_tree(&h);
    ok(run_in(d, &["rdp", "enable", "SYSTEM", "--json"]));
    ok(run_in(
        d,
        &["rdp", "port", "SYSTEM", "--set", "3390", "--json"],
    ));
    ok(run_in(
        d,
        &["service", "SYSTEM", "Tcpip", "--start", "manual", "--json"],
    ));
    let after = hivex_tree(&h);
    let mut want = Vec::new();
    for cs in ["CONTROLSET001", "CONTROLSET002"] {
        want.push((
            format!(r"{cs}\CONTROL\TERMINAL SERVER"),
            "FDENYTSCONNECTIONS".to_string(),
        ));
        want.push((
            format!(r"{cs}\CONTROL\TERMINAL SERVER\WINSTATIONS\RDP-TCP"),
            "PORTNUMBER".to_string(),
        ));
        want.push((format!(r"{cs}\SERVICES\TCPIP"), "START".to_string()));
    }
    want.sort();
    assert_eq!(changed(&before, &after), want);
    assert_eq!(
        hivex_dword(
            &h,
            r"\ControlSet002\Control\Terminal Server\WinStations\RDP-Tcp",
            "PortNumber"
        ),
        Some(3390)
    );
    assert_eq!(
        hivex_dword(&h, r"\ControlSet001\Services\Tcpip", "Start"),
        Some(3)
    );

    // Reruns are idempotent.
    for args in [
        vec!["rdp", "enable", "SYSTEM", "--json"],
        vec!["rdp", "port", "SYSTEM", "--set", "3390", "--json"],
        vec!["service", "SYSTEM", "Tcpip", "--start", "manual", "--json"],
    ] {
        let sha = sha256_file(&h);
        assert_eq!(ok(run_in(d, &args))["outcome"], "nothing-to-do", "{args:?}");
        assert_eq!(sha256_file(&h), sha);
    }
    ok(run_in(d, &["rdp", "port", "SYSTEM", "--reset", "--json"]));
    assert_eq!(
        hivex_dword(
            &h,
            r"\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp",
            "PortNumber"
        ),
        Some(3389)
    );

    // A service missing from every set is refused, nothing written.
    let sha = sha256_file(&h);
    let r = run_in(
        d,
        &[
            "service",
            "SYSTEM",
            "NoSuchDriver",
            "--start",
            "disabled",
            "--json",
        ],
    );
    assert_eq!(r.code, 3);
    assert_eq!(sha256_file(&h), sha);

    // get through CurrentControlSet (Select\Current = 1) and for every set.
    let g = ok(run_in(
        d,
        &[
            "get",
            "SYSTEM",
            r"SYSTEM\CurrentControlSet\Services\Tcpip",
            "Start",
            "--json",
        ],
    ));
    assert_eq!(g["entries"][0]["control_set"], "ControlSet001");
    assert_eq!(g["entries"][0]["values"][0]["data"], 3);
    let g = ok(run_in(
        d,
        &[
            "get",
            "SYSTEM",
            r"SYSTEM\CurrentControlSet\Services\Tcpip",
            "--all-control-sets",
            "--json",
        ],
    ));
    assert_eq!(g["entries"].as_array().unwrap().len(), 2);
    assert!(g["entries"][1]["subkeys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "Parameters"));
}

/// `--include-policy` with a SOFTWARE hive that has no policy key: nothing
/// to remove there, and SYSTEM is still fixed.
#[test]
fn include_policy_without_a_policy_key_fixes_system_only() {
    let t = tmp();
    let d = t.path();
    copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        d,
        "SYSTEM",
    );
    let sw = copy_to(
        &corpus_file("other/special/nt-hive__testhive"),
        d,
        "SOFTWARE",
    );
    let sw_sha = sha256_file(&sw);
    let rep = ok(run_in(
        d,
        &["nla", "disable", "SYSTEM", "--include-policy", "--json"],
    ));
    assert_eq!(rep["outcome"], "written");
    assert!(rep["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["hive"] == "SYSTEM"));
    assert_eq!(sha256_file(&sw), sw_sha);
}

/// A SYSTEM hive whose `Select` says Current=1, Default=2, with the two
/// control sets told apart by TermService's Start (3 in 001, 2 in 002).
fn current_differs_from_default(dir: &Path) -> std::path::PathBuf {
    use ntrescue::fixtures::{system, SystemVariant};
    use ntrescue::regf::build::{build, Data};
    let mut spec = system(SystemVariant::Modern);
    for v in &mut spec.root.find_mut("Select").unwrap().values {
        match v.name.as_str() {
            "Current" => v.data = Data::Dword(1),
            "Default" => v.data = Data::Dword(2),
            _ => {}
        }
    }
    let ts = spec
        .root
        .find_mut(r"ControlSet002\Services\TermService")
        .unwrap();
    for v in &mut ts.values {
        if v.name == "Start" {
            v.data = Data::Dword(2);
        }
    }
    let h = dir.join("SYSTEM");
    std::fs::write(&h, build(&spec)).unwrap();
    h
}

/// `CurrentControlSet` is the set that boots (`Select\Default`), not
/// `Select\Current`, for `get`, `set --dry-run` and `set`; the output says
/// which set it resolved; `--all-control-sets` covers both.
#[test]
fn current_control_set_resolves_through_select_default() {
    let t = tmp();
    let d = t.path();
    let h = current_differs_from_default(d);
    let key = r"\ControlSet001\Services\TermService";
    assert_eq!(hivex_dword(&h, key, "Start"), Some(3), "fixture");
    assert_eq!(
        hivex_dword(&h, r"\ControlSet002\Services\TermService", "Start"),
        Some(2),
        "fixture"
    );
    let i = ok(run_in(d, &["inspect", "SYSTEM", "--json"]));
    assert_eq!(i["select"]["boot_control_set"], "ControlSet002");

    let ccs = r"SYSTEM\CurrentControlSet\Services\TermService";
    let g = ok(run_in(d, &["get", "SYSTEM", ccs, "Start", "--json"]));
    assert_eq!(g["entries"][0]["control_set"], "ControlSet002");
    assert_eq!(g["entries"][0]["resolved_from"], r"Select\Default");
    assert_eq!(
        g["entries"][0]["key"],
        r"ControlSet002\Services\TermService"
    );
    assert_eq!(g["entries"][0]["values"][0]["data"], 2);
    let human = run_in(d, &["get", "SYSTEM", ccs, "Start"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human
            .stdout
            .contains(r"(CurrentControlSet = ControlSet002, from Select\Default)"),
        "{}",
        human.stdout
    );

    let before = sha256_file(&h);
    let set = |extra: &[&str]| {
        let mut a = vec![
            "set", "SYSTEM", ccs, "Start", "--type", "dword", "--data", "4", "--json",
        ];
        a.extend_from_slice(extra);
        ok(run_in(d, &a))
    };
    let plan = set(&["--dry-run"]);
    assert_eq!(plan["outcome"], "dry-run");
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan}");
    assert_eq!(changes[0]["control_set"], "ControlSet002");
    assert_eq!(changes[0]["key"], r"ControlSet002\Services\TermService");
    assert_eq!(changes[0]["old"], 2);
    assert_eq!(sha256_file(&h), before);

    let done = set(&["--backup-dir", "bk"]);
    assert_eq!(done["outcome"], "written");
    assert_eq!(hivex_dword(&h, key, "Start"), Some(3));
    assert_eq!(
        hivex_dword(&h, r"\ControlSet002\Services\TermService", "Start"),
        Some(4)
    );

    let all = set(&["--all-control-sets", "--backup-dir", "bk"]);
    let sets: Vec<&str> = all["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["control_set"].as_str().unwrap())
        .collect();
    assert_eq!(sets, ["ControlSet001"], "ControlSet002 already holds 4");
    assert_eq!(all["already_set"][0], r"ControlSet002\Start");
    for s in ["ControlSet001", "ControlSet002"] {
        assert_eq!(
            hivex_dword(&h, &format!(r"\{s}\Services\TermService"), "Start"),
            Some(4),
            "{s}"
        );
    }
    let g = ok(run_in(
        d,
        &[
            "get",
            "SYSTEM",
            ccs,
            "Start",
            "--all-control-sets",
            "--json",
        ],
    ));
    assert_eq!(g["entries"].as_array().unwrap().len(), 2);
    assert!(g["entries"][0]["resolved_from"].is_null());
}

/// `get` on a dirty hive reads what Windows will load: the image after
/// replaying its logs, and says so.
#[test]
fn get_reads_a_dirty_hive_after_log_replay() {
    let t = tmp();
    let d = t.path();
    let name = "win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";
    for ext in ["", ".LOG1", ".LOG2"] {
        copy_to(
            &corpus_file(&format!("system/{name}{ext}")),
            d,
            &format!("SYSTEM{ext}"),
        );
    }
    let before = sha256_file(&d.join("SYSTEM"));
    let key = r"SYSTEM\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
    let g = ok(run_in(
        d,
        &["get", "SYSTEM", key, "SecurityLayer", "--json"],
    ));
    assert_eq!(g["view"], "after-replay");
    let v = &g["entries"][0]["values"][0];
    assert_eq!(v["state"], "present", "{g}");
    assert_eq!(v["data"], 2);
    // Same offset and data as inspect's after-replay view.
    let i = ok(run_in(d, &["inspect", "SYSTEM", "--json"]));
    assert_eq!(i["verdict_source"], "after-replay");
    let after = i["after_replay"]["control_sets"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "SecurityLayer")
        .unwrap()
        .clone();
    assert_eq!(v["offset"], after["offset"]);
    assert_eq!(v["data"], after["data"]);
    assert!(
        g["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("after replaying")),
        "{g}"
    );
    // Human mode says it too (stdout), the warning goes to stderr.
    let r = run_in(d, &["get", "SYSTEM", key, "SecurityLayer"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("after log replay"), "{}", r.stdout);
    assert!(r.stderr.contains("warning:"), "{}", r.stderr);
    assert!(!r.stdout.contains("warning:"), "{}", r.stdout);
    // A clean hive is read as stored.
    let g = ok(run_in(
        d,
        &[
            "get",
            corpus_file("system/win7sp1-x86__regipy__SYSTEM")
                .to_str()
                .unwrap(),
            r"SYSTEM\Select",
            "--json",
        ],
    ));
    assert_eq!(g["view"], "stored");
    assert_eq!(sha256_file(&d.join("SYSTEM")), before, "get is read-only");
}
