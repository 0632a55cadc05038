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
        # regipy names the unnamed (default) value '(default)'.
        name = '' if v.name in (None, '(default)') else v.name
        out[path][name.upper()] = f"{v.value_type}:{v.value!r}"
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

/// `set` under `key` of the hive file `SYSTEM` in `d`; returns the report.
fn set_in(d: &Path, key: &str, v: &str, ty: &str, data: &[&str]) -> serde_json::Value {
    let mut args = vec!["set", "SYSTEM", key, v, "--type", ty, "--json"];
    for x in data {
        args.push("--data");
        args.push(x);
    }
    ok(run_in(d, &args))
}

/// The three readers' views of one hive.
fn three_trees(h: &Path) -> [Tree; 3] {
    [hivex_tree(h), regipy_tree(h), nthive_tree(h)]
}

/// The key (other than the root and `skip`) with the fewest values, all
/// named: the battery deletes every one of them.
fn key_to_empty(t: &Tree, skip: &str) -> Option<(String, Vec<String>)> {
    t.iter()
        .filter(|(k, vs)| !k.is_empty() && *k != skip && !vs.is_empty() && !vs.contains_key(""))
        .min_by_key(|(_, vs)| vs.len())
        .map(|(k, vs)| (k.clone(), vs.keys().cloned().collect()))
}

/// Every kind of edit on the hive file `d/SYSTEM`, under `key` (a path
/// below the root, e.g. `Select`) whose existing REG_DWORD `existing` is
/// changed in place: values created in free space (qword, expand-sz, sz,
/// multi-sz, binary), one deleted, a key's only value deleted, and enough
/// data to append hive bins. All three readers must see exactly those
/// differences and the planned data; hivexml and regfexport must accept
/// the result.
fn edit_battery(d: &Path, key: &str, existing: &str) {
    let h = d.join("SYSTEM");
    let before = three_trees(&h);
    let path = format!(r"SYSTEM\{key}");
    let up = key.to_uppercase();
    let mut want = vec![(up.clone(), existing.to_uppercase())];

    let rep = set_in(d, &path, existing, "dword", &["0x7ee7"]);
    assert_eq!(rep["changes"][0]["action"], "change", "{rep}");
    assert!(rep["changes"][0]["file_offset"].is_u64(), "in-place change");
    let created: [(&str, &str, &[&str]); 5] = [
        ("NtrQword", "qword", &["0x1122334455667788"]),
        (
            "NtrExpand",
            "expand-sz",
            &[r"%SystemRoot%\system32\ntr.dll"],
        ),
        ("NtrString", "sz", &["Grüße, world"]),
        ("NtrMulti", "multi-sz", &["one", "two"]),
        ("NtrBinary", "binary", &["ab"; 1]),
    ];
    for (name, ty, data) in created {
        let data: Vec<String> = if ty == "binary" {
            vec!["ab".repeat(3000)]
        } else {
            data.iter().map(|x| x.to_string()).collect()
        };
        let data: Vec<&str> = data.iter().map(String::as_str).collect();
        let rep = set_in(d, &path, name, ty, &data);
        assert_eq!(rep["changes"][0]["action"], "create", "{rep}");
        want.push((up.clone(), name.to_uppercase()));
    }
    let del = |k: &str, v: &str| {
        ok(run_in(
            d,
            &[
                "delete-value",
                "SYSTEM",
                &format!(r"SYSTEM\{k}"),
                v,
                "--json",
            ],
        ))
    };
    // Created then deleted: no difference left.
    set_in(d, &path, "NtrGone", "sz", &["short-lived"]);
    del(key, "NtrGone");
    // A key's values deleted down to the last one (on nt-hive's testhive
    // that key holds big-data values).
    let (lone_key, lone_values) = key_to_empty(&before[2], &up).expect("a key with values");
    for name in lone_values {
        assert_eq!(del(&lone_key, &name)["changes"][0]["action"], "delete");
        want.push((lone_key.clone(), name));
    }

    let mut appended = 0;
    for i in 0..400 {
        let name = format!("NtrFiller{i:03}");
        let rep = set_in(d, &path, &name, "binary", &[&"5a".repeat(16_000)]);
        want.push((up.clone(), name.to_uppercase()));
        appended += rep["hives"][0]["appended_bins"].as_u64().unwrap();
        if appended > 0 {
            break;
        }
    }
    assert!(appended > 0, "enough data to append hive bins");

    let after = three_trees(&h);
    want.sort();
    for (i, reader) in ["hivex", "regipy", "nt-hive"].iter().enumerate() {
        assert_eq!(changed(&before[i], &after[i]), want, "{reader}");
        assert!(
            after[i][&lone_key].is_empty(),
            "{reader}: key kept, no values"
        );
        assert!(!after[i][&up].contains_key("NTRGONE"), "{reader}");
    }
    // The data each reader sees, in its own notation.
    let [hx, rg, nt] = &after;
    let v = |t: &Tree, n: &str| t[&up][n].clone();
    assert_eq!(v(hx, "NTRQWORD"), "hex(b):88,77,66,55,44,33,22,11");
    assert_eq!(v(nt, "NTRQWORD"), "Some(RegQWord):8877665544332211");
    assert!(v(rg, "NTRQWORD").contains(&0x1122_3344_5566_7788u64.to_string()));
    let utf16 = |s: &str| -> String {
        let b: Vec<u8> = s
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        hex(&b)
    };
    let expand = r"%SystemRoot%\system32\ntr.dll";
    assert_eq!(
        v(nt, "NTREXPAND"),
        format!("Some(RegExpandSZ):{}", utf16(expand))
    );
    assert!(v(hx, "NTREXPAND").starts_with("hex(2):25,00,53,00"));
    assert!(
        v(rg, "NTREXPAND").contains("REG_EXPAND_SZ"),
        "{}",
        v(rg, "NTREXPAND")
    );
    assert!(v(rg, "NTREXPAND").contains(&expand.replace('\\', r"\\")));
    let commas = |h: String| {
        h.as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        v(hx, "NTRSTRING"),
        format!("hex(1):{}", commas(utf16("Grüße, world")))
    );
    assert!(
        v(rg, "NTRMULTI").contains("'one', 'two'"),
        "{}",
        v(rg, "NTRMULTI")
    );
    assert!(v(hx, &existing.to_uppercase()).contains("00007ee7"));
    peer("hivexml", &[h.to_str().unwrap()]);
    peer("regfexport", &[h.to_str().unwrap()]);
    let (s1, s2, sum) = base_block(&h);
    assert!(s1 == s2 && sum);
}

#[test]
fn every_edit_kind_on_nt_hive_testhive() {
    let t = tmp();
    copy_to(
        &corpus_file("other/special/nt-hive__testhive"),
        t.path(),
        "SYSTEM",
    );
    edit_battery(t.path(), "data-test", "dword");
}

#[test]
fn every_edit_kind_on_windows_xp_system() {
    let t = tmp();
    copy_to(
        &corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        t.path(),
        "SYSTEM",
    );
    edit_battery(t.path(), "Select", "Failed");
}

#[test]
fn every_edit_kind_on_windows_10_minimal_system() {
    let t = tmp();
    copy_to(
        &corpus_file("system/win10-10240-minimal__qthivex__SYSTEM"),
        t.path(),
        "SYSTEM",
    );
    edit_battery(t.path(), "Select", "Failed");
}

#[test]
fn every_edit_kind_on_the_generated_fixture() {
    let t = tmp();
    copy_to(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/system-modern.hive"),
        t.path(),
        "SYSTEM",
    );
    edit_battery(t.path(), "Select", "Failed");
}

/// Data over 16,344 bytes needs a big-data record: refused, nothing
/// written. Exactly 16,344 bytes fit one cell. A value that holds big data
/// (nt-hive's testhive, and a hive written by Windows) can be replaced by
/// small data or deleted; the readers agree and the full walks pass.
#[test]
fn big_data_is_refused_when_new_and_freed_when_replaced_or_deleted() {
    let t = tmp();
    let d = t.path();
    let h = copy_to(&corpus_file("other/special/nt-hive__testhive"), d, "SYSTEM");
    let before = three_trees(&h);
    let sha = sha256_file(&h);
    let r = run_in(
        d,
        &[
            "set",
            "SYSTEM",
            r"SYSTEM\data-test",
            "NtrBig",
            "--type",
            "binary",
            "--data",
            &"00".repeat(16_345),
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("big-data"), "{}", r.stderr);
    assert_eq!(sha256_file(&h), sha, "nothing written");
    set_in(
        d,
        r"SYSTEM\data-test",
        "NtrBig",
        "binary",
        &[&"11".repeat(16_344)],
    );
    // C holds 16,345 bytes in a big-data record.
    let rep = set_in(d, r"SYSTEM\big-data-test", "C", "dword", &["1"]);
    assert_eq!(rep["changes"][0]["old_type"], "REG_BINARY", "{rep}");
    let after = three_trees(&h);
    let want = vec![
        ("BIG-DATA-TEST".to_string(), "C".to_string()),
        ("DATA-TEST".to_string(), "NTRBIG".to_string()),
    ];
    for (i, reader) in ["hivex", "regipy", "nt-hive"].iter().enumerate() {
        assert_eq!(changed(&before[i], &after[i]), want, "{reader}");
    }
    assert_eq!(after[0]["BIG-DATA-TEST"]["C"], "dword:00000001");
    assert_eq!(
        after[2]["DATA-TEST"]["NTRBIG"].len(),
        "Some(RegBinary):".len() + 32_688
    );
    peer("hivexml", &[h.to_str().unwrap()]);
    peer("regfexport", &[h.to_str().unwrap()]);

    // Big data written by Windows: the default value replaced, `v` deleted.
    let h = copy_to(&corpus_file("other/special/yarp__BigDataHive"), d, "SYSTEM");
    let before = three_trees(&h);
    set_in(d, r"SYSTEM\key_with_bigdata", "", "dword", &["5"]);
    ok(run_in(
        d,
        &[
            "delete-value",
            "SYSTEM",
            r"SYSTEM\key_with_bigdata",
            "v",
            "--json",
        ],
    ));
    let after = three_trees(&h);
    let k = "KEY_WITH_BIGDATA".to_string();
    let want = vec![(k.clone(), String::new()), (k.clone(), "V".to_string())];
    for (i, reader) in ["hivex", "regipy", "nt-hive"].iter().enumerate() {
        assert_eq!(changed(&before[i], &after[i]), want, "{reader}");
        assert_eq!(after[i][&k].len(), 1, "{reader}");
    }
    assert_eq!(after[0][&k][""], "dword:00000005");
    peer("hivexml", &[h.to_str().unwrap()]);
    peer("regfexport", &[h.to_str().unwrap()]);
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
    // Port 0 is not a port: a usage error, nothing written.
    let sha = sha256_file(&h);
    let r = run_in(d, &["rdp", "port", "SYSTEM", "--set", "0", "--json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(sha256_file(&h), sha);
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

/// SYSTEM with RDP denied in both sets and TermService disabled in
/// ControlSet001 only, beside a SOFTWARE whose policy also denies RDP.
fn rdp_denied_everywhere(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use ntrescue::fixtures::build::{build, Data, KeySpec};
    use ntrescue::fixtures::{software, system, SystemVariant};
    fn put(k: &mut KeySpec, name: &str, data: u32) {
        let v = k.values.iter_mut().find(|v| v.name == name).unwrap();
        v.data = Data::Dword(data);
    }
    let mut spec = system(SystemVariant::Modern);
    for cs in ["ControlSet001", "ControlSet002"] {
        let ts = spec
            .root
            .find_mut(&format!(r"{cs}\Control\Terminal Server"));
        put(ts.unwrap(), "fDenyTSConnections", 1);
    }
    let svc = spec.root.find_mut(r"ControlSet001\Services\TermService");
    put(svc.unwrap(), "Start", 4);
    let mut sw = software();
    let policy = sw
        .root
        .find_mut(r"Policies\Microsoft\Windows NT\Terminal Services");
    put(policy.unwrap(), "fDenyTSConnections", 1);
    let (h, s) = (dir.join("SYSTEM"), dir.join("SOFTWARE"));
    std::fs::write(&h, build(&spec)).unwrap();
    std::fs::write(&s, build(&sw)).unwrap();
    (h, s)
}

/// `rdp enable` allows connections in every set and turns a disabled
/// TermService back to manual (3), only where it is disabled; a denying
/// Group Policy is named in a warning and left alone unless
/// `--include-policy`, which removes just that policy value. Reruns write
/// nothing; hivex sees exactly those changes.
#[test]
fn rdp_enable_restores_the_service_and_removes_a_denying_policy() {
    let t = tmp();
    let d = t.path();
    let (h, sw) = rdp_denied_everywhere(d);
    let (before_h, before_sw) = (hivex_tree(&h), hivex_tree(&sw));
    let sw_sha = sha256_file(&sw);
    let rep = ok(run_in(d, &["rdp", "enable", "SYSTEM", "--json"]));
    assert_eq!(rep["outcome"], "written");
    assert!(
        rep["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("--include-policy")),
        "{rep}"
    );
    assert_eq!(sha256_file(&sw), sw_sha, "policy left alone");
    let ts = |cs: &str| {
        (
            format!(r"{cs}\CONTROL\TERMINAL SERVER"),
            "FDENYTSCONNECTIONS".into(),
        )
    };
    let want = vec![
        ts("CONTROLSET001"),
        (r"CONTROLSET001\SERVICES\TERMSERVICE".into(), "START".into()),
        ts("CONTROLSET002"),
    ];
    let after_h = hivex_tree(&h);
    assert_eq!(changed(&before_h, &after_h), want);
    assert_eq!(
        hivex_dword(&h, r"\ControlSet001\Services\TermService", "Start"),
        Some(3)
    );
    for cs in ["ControlSet001", "ControlSet002"] {
        let key = format!(r"\{cs}\Control\Terminal Server");
        assert_eq!(hivex_dword(&h, &key, "fDenyTSConnections"), Some(0));
    }

    let rep = ok(run_in(
        d,
        &["rdp", "enable", "SYSTEM", "--include-policy", "--json"],
    ));
    assert_eq!(rep["outcome"], "written");
    let changes = rep["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{rep}");
    assert_eq!(changes[0]["hive"], "SOFTWARE");
    assert_eq!(changes[0]["action"], "delete");
    assert_eq!(hivex_tree(&h), after_h, "SYSTEM already fixed");
    let policy = r"POLICIES\MICROSOFT\WINDOWS NT\TERMINAL SERVICES".to_string();
    assert_eq!(
        changed(&before_sw, &hivex_tree(&sw)),
        vec![(policy, "FDENYTSCONNECTIONS".to_string())]
    );

    let shas = (sha256_file(&h), sha256_file(&sw));
    let rep = ok(run_in(
        d,
        &["rdp", "enable", "SYSTEM", "--include-policy", "--json"],
    ));
    assert_eq!(rep["outcome"], "nothing-to-do");
    assert_eq!((sha256_file(&h), sha256_file(&sw)), shas);
}

/// A SYSTEM hive whose `Select` says Current=1, Default=2, with the two
/// control sets told apart by TermService's Start (3 in 001, 2 in 002).
fn current_differs_from_default(dir: &Path) -> std::path::PathBuf {
    use ntrescue::fixtures::build::{build, Data};
    use ntrescue::fixtures::{system, SystemVariant};
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
