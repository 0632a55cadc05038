// SPDX-License-Identifier: GPL-2.0-or-later
//! What a forensic examiner checks in a report: key last-write times
//! against regipy, NTFS file times against sleuthkit's istat, the run
//! metadata, MD5/SHA-1/SHA-256 against coreutils, evidence containers
//! refused with the command that exposes them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::*;

/// The clean SYSTEM hives of the corpus (regipy reads them as stored).
const CLEAN_SYSTEMS: [&str; 3] = [
    "system/win7sp1-x86__regipy__SYSTEM",
    "system/winxpsp3-x86__bitcurator__SYSTEM",
    "system/win10-10240-minimal__qthivex__SYSTEM",
];

/// regipy's last-modified FILETIME of each key path (`None`: no such key).
fn regipy_times(hive: &Path, keys: &[String]) -> BTreeMap<String, Option<u64>> {
    let script = r#"
import sys, json
from regipy.registry import RegistryHive
h = RegistryHive(sys.argv[1])
out = {}
for k in json.loads(sys.argv[2]):
    try:
        out[k] = h.get_key("\\" + k).header.last_modified
    except Exception:
        out[k] = None
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(hive)
        .arg(serde_json::to_string(keys).unwrap())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "regipy failed (pip install regipy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A raw FILETIME as the JSON carries it: `0x` and 16 hex digits.
fn filetime(v: &Value) -> Option<u64> {
    let hex = v.as_str()?.strip_prefix("0x")?;
    assert_eq!(hex.len(), 16, "{v}");
    u64::from_str_radix(hex, 16).ok()
}

/// (key path, FILETIME) of a present key state; checks the UTC text
/// against the FILETIME on the way.
fn present(path: &str, state: &Value) -> Option<(String, u64)> {
    if state["state"] != "present" {
        return None;
    }
    let t = &state["last_written"];
    let ft = filetime(&t["filetime"]).unwrap();
    let utc = t["utc"].as_str().unwrap();
    assert_eq!(utc.len(), "2012-04-07T13:05:14.1234567Z".len(), "{utc}");
    Some((path.to_string(), ft))
}

/// Every SYSTEM key time in an inspect, get and diagnose report of `hive`.
fn reported_times(d: &Path, hive: &Path) -> Vec<(String, u64, &'static str)> {
    let h = hive.to_str().unwrap();
    let mut out = Vec::new();
    let i = ok(run_in(d, &["inspect", h, "--json"]));
    let mut add = |p: &str, s: &Value, cmd: &'static str| {
        if let Some((p, t)) = present(p, s) {
            out.push((p, t, cmd));
        }
    };
    add("Select", &i["select"]["key"], "inspect");
    for s in i["control_sets"].as_array().unwrap() {
        let set = s["name"].as_str().unwrap();
        add(
            &format!(r"{set}\Control\Terminal Server"),
            &s["terminal_server"],
            "inspect",
        );
        add(
            &format!(r"{set}\Control\Terminal Server\WinStations\RDP-Tcp"),
            &s["rdp_tcp"],
            "inspect",
        );
    }
    for k in i["forensic"]["keys"].as_array().unwrap() {
        add(k["key"].as_str().unwrap(), &k["state"], "inspect");
    }
    for key in [
        r"SYSTEM\CurrentControlSet\Services",
        r"SYSTEM\CurrentControlSet\Services\TermService",
    ] {
        let g = ok(run_in(d, &["get", h, key, "--all-control-sets", "--json"]));
        for e in g["entries"].as_array().unwrap() {
            add(e["key"].as_str().unwrap(), &e["state"], "get");
        }
    }
    let dg = ok(run_in(d, &["diagnose", h, "--json"]));
    for k in dg["keys_read"].as_array().unwrap() {
        if k["hive"] == "SYSTEM" {
            let t = filetime(&k["last_written"]["filetime"]).unwrap();
            out.push((k["key"].as_str().unwrap().to_string(), t, "diagnose"));
        }
    }
    for f in dg["findings"].as_array().unwrap() {
        if f["hive"] == "SYSTEM" {
            if let Some(t) = filetime(&f["last_write_filetime"]) {
                out.push((f["key"].as_str().unwrap().to_string(), t, "diagnose"));
            }
        }
    }
    out
}

/// Every key time inspect, get and diagnose report equals regipy's
/// last-modified time of that key, on real Windows XP, 7 and 10 hives.
#[test]
fn key_times_equal_regipys() {
    let t = tmp();
    for rel in CLEAN_SYSTEMS {
        let hive = copy_to(&corpus_file(rel), t.path(), "SYSTEM");
        let ours = reported_times(t.path(), &hive);
        for cmd in ["inspect", "get", "diagnose"] {
            assert!(
                ours.iter().any(|(_, _, c)| *c == cmd),
                "{rel}: no key time from {cmd}"
            );
        }
        // The services diagnose reads are there with their times.
        assert!(
            ours.iter()
                .any(|(k, _, c)| *c == "diagnose" && k.contains(r"\Services\")),
            "{rel}: {ours:?}"
        );
        let keys: Vec<String> = ours.iter().map(|(k, _, _)| k.clone()).collect();
        let theirs = regipy_times(&hive, &keys);
        for (key, ft, cmd) in &ours {
            assert_eq!(
                theirs[key],
                Some(*ft),
                "{rel}: {cmd} reports {key} last written at {ft}"
            );
        }
    }
}

/// Gives every key (nk cell) of `hive` its own last-write FILETIME, one
/// second and 1234567 ticks apart, so that a key time reported from the
/// wrong key (its parent, the base block) shows. Walks the hive bins'
/// cells; the base block's checksum does not cover them.
fn distinct_key_times(hive: &mut [u8]) -> usize {
    let mut n = 0usize;
    let mut bin = 4096usize;
    while bin + 32 <= hive.len() && &hive[bin..bin + 4] == b"hbin" {
        let size = u32::from_le_bytes(hive[bin + 8..bin + 12].try_into().unwrap()) as usize;
        let mut cell = bin + 32;
        while cell + 4 <= bin + size {
            let raw = i32::from_le_bytes(hive[cell..cell + 4].try_into().unwrap());
            let len = raw.unsigned_abs() as usize;
            assert!(len >= 8, "cell at {cell:#x}");
            if raw < 0 && &hive[cell + 4..cell + 6] == b"nk" {
                n += 1;
                let ft = 0x01da_6bcf_fc87_a000u64 + n as u64 * (10_000_000 + 1_234_567);
                hive[cell + 8..cell + 16].copy_from_slice(&ft.to_le_bytes());
            }
            cell += len;
        }
        bin += size;
    }
    n
}

/// A SYSTEM and, beside it, a SOFTWARE with the Terminal Services policy
/// key and Image File Execution Options keys for logon-screen tools (a
/// `Debugger` on sethc.exe, in both views), every key with its own time.
fn system_and_software(d: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use ntrescue::fixtures::build::{build, Data, KeySpec};
    use ntrescue::fixtures::{software, system, SystemVariant};
    let ifeo = |debugger: &str| {
        KeySpec::new("Image File Execution Options")
            .key(KeySpec::new("sethc.exe").value("Debugger", Data::Sz(debugger.into())))
            .key(KeySpec::new("utilman.exe").value("GlobalFlag", Data::Dword(0)))
            .key(KeySpec::new("notepad.exe"))
    };
    let mut sw = software();
    let cv = sw
        .root
        .find_mut(r"Microsoft\Windows NT\CurrentVersion")
        .unwrap();
    cv.subkeys.push(ifeo(r"C:\Windows\System32\cmd.exe"));
    sw.root.subkeys.push(KeySpec::new("Wow6432Node").key(
        KeySpec::new("Microsoft").key(
            KeySpec::new("Windows NT").key(KeySpec::new("CurrentVersion").key(ifeo("cmd.exe"))),
        ),
    ));
    let mut bytes = build(&sw);
    assert!(distinct_key_times(&mut bytes) > 10);
    let (h, s) = (d.join("SYSTEM"), d.join("SOFTWARE"));
    std::fs::write(&h, build(&system(SystemVariant::Modern))).unwrap();
    std::fs::write(&s, bytes).unwrap();
    (h, s)
}

/// Every SOFTWARE key time in the inspect, get and diagnose reports of
/// `system` (SOFTWARE beside it), by key path inside SOFTWARE.
fn reported_software_times(d: &Path, system: &Path) -> Vec<(String, u64, &'static str)> {
    let h = system.to_str().unwrap();
    let mut out = Vec::new();
    let i = ok(run_in(d, &["inspect", h, "--json"]));
    let mut add = |p: &str, s: &Value, cmd: &'static str| {
        let p = p.strip_prefix(r"SOFTWARE\").unwrap_or(p);
        if let Some((p, t)) = present(p, s) {
            out.push((p, t, cmd));
        }
    };
    add(
        r"Policies\Microsoft\Windows NT\Terminal Services",
        &i["software"]["policy_key"],
        "inspect",
    );
    for k in i["forensic"]["keys"].as_array().unwrap() {
        if k["hive"] == "SOFTWARE" {
            add(k["key"].as_str().unwrap(), &k["state"], "inspect");
        }
    }
    for key in [
        r"SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options\sethc.exe",
        r"SOFTWARE\Wow6432Node\Microsoft\Windows NT\CurrentVersion\Image File Execution Options\utilman.exe",
    ] {
        let g = ok(run_in(d, &["get", h, key, "--json"]));
        for e in g["entries"].as_array().unwrap() {
            add(e["key"].as_str().unwrap(), &e["state"], "get");
        }
    }
    let dg = ok(run_in(d, &["diagnose", h, "--json"]));
    for k in dg["keys_read"].as_array().unwrap() {
        if k["hive"] == "SOFTWARE" {
            let t = filetime(&k["last_written"]["filetime"]).unwrap();
            out.push((k["key"].as_str().unwrap().to_string(), t, "diagnose"));
        }
    }
    for f in dg["findings"].as_array().unwrap() {
        if f["hive"] == "SOFTWARE" {
            if let Some(t) = filetime(&f["last_write_filetime"]) {
                out.push((f["key"].as_str().unwrap().to_string(), t, "diagnose"));
            }
        }
    }
    out
}

/// The SOFTWARE key times inspect, get and diagnose report — the Group
/// Policy key and the Image File Execution Options keys, native and
/// 32-bit — equal regipy's last-modified time of each key, every key
/// holding its own time.
#[test]
fn software_key_times_equal_regipys() {
    let t = tmp();
    let d = t.path();
    let (system, software) = system_and_software(d);
    let ours = reported_software_times(d, &system);
    let ifeo = r"Microsoft\Windows NT\CurrentVersion\Image File Execution Options\";
    for (cmd, key) in [
        (
            "inspect",
            r"Policies\Microsoft\Windows NT\Terminal Services".to_string(),
        ),
        ("inspect", format!("{ifeo}sethc.exe")),
        ("inspect", format!("{ifeo}utilman.exe")),
        ("inspect", format!(r"Wow6432Node\{ifeo}sethc.exe")),
        ("get", format!(r"Wow6432Node\{ifeo}utilman.exe")),
        ("get", format!("{ifeo}sethc.exe")),
        ("diagnose", format!("{ifeo}sethc.exe")),
    ] {
        assert!(
            ours.iter().any(|(k, _, c)| *c == cmd && *k == key),
            "{cmd} reports no time for {key}: {ours:?}"
        );
    }
    let keys: Vec<String> = ours.iter().map(|(k, _, _)| k.clone()).collect();
    let theirs = regipy_times(&software, &keys);
    let mut distinct: Vec<u64> = theirs.values().flatten().copied().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), theirs.len(), "{theirs:?}");
    for (key, ft, cmd) in &ours {
        assert_eq!(
            theirs[key],
            Some(*ft),
            "{cmd} reports SOFTWARE\\{key} last written at {ft}"
        );
    }
}

/// `istat -z UTC` times of inode `inode`: per attribute, the four
/// (created, modified, MFT-modified, accessed) texts.
fn istat_times(img: &Path, inode: &str) -> BTreeMap<String, Vec<String>> {
    let text = peer("istat", &["-z", "UTC", img.to_str().unwrap(), inode]);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut attr = String::new();
    for line in text.lines() {
        if let Some(a) = line.strip_suffix(" Attribute Values:") {
            attr = a.to_string();
        }
        let label = line.split(':').next().unwrap_or("");
        if ["Created", "File Modified", "MFT Modified", "Accessed"].contains(&label) {
            let t = line[label.len() + 1..].trim().trim_end_matches(" (UTC)");
            out.entry(attr.clone()).or_default().push(t.to_string());
        }
    }
    out
}

/// Our UTC text (`2026-12-01T18:44:28.3814401Z`) in istat's form
/// (`2026-12-01 18:44:28.381440100`: nanoseconds, from 100-ns FILETIMEs).
fn as_istat(utc: &str) -> String {
    format!("{}00", utc.replace('T', " ").trim_end_matches('Z'))
}

/// The NTFS times of the hive and its log read from a raw volume are
/// sleuthkit's: $STANDARD_INFORMATION and $FILE_NAME, all four each, to
/// 100 ns, and the MFT record numbers are istat's inodes.
#[test]
fn ntfs_times_equal_istats() {
    let t = tmp();
    let d = t.path();
    let sys = [(
        "Windows/System32/config/SYSTEM",
        corpus_file(CLEAN_SYSTEMS[0]),
    )];
    let img = volume(d, "v.img", 48, 4096, 0, &sys, &[]);
    let r = ok(run_in(d, &["inspect", img.to_str().unwrap(), "--json"]));
    let files = [
        (&r["system"]["file"], "/Windows/System32/config/SYSTEM"),
        (
            &r["system"]["logs"][0],
            "/Windows/System32/config/SYSTEM.LOG1",
        ),
    ];
    for (file, inside) in files {
        let inode = peer("ifind", &["-n", inside, img.to_str().unwrap()]);
        let inode = inode.trim();
        let times = &file["ntfs_times"];
        let theirs = istat_times(&img, inode);
        for (ours, attr) in [
            (&times["standard_information"], "$STANDARD_INFORMATION"),
            (&times["file_name"], "$FILE_NAME"),
        ] {
            let ours: Vec<String> = ["created", "modified", "mft_changed", "accessed"]
                .iter()
                .map(|k| as_istat(ours[k]["utc"].as_str().unwrap()))
                .collect();
            assert_eq!(ours, theirs[attr], "{inside} {attr}");
        }
        assert_eq!(
            times["file_name_of"],
            inside.rsplit('/').next().unwrap(),
            "{inside}"
        );
    }
    let rec = r["disk"]["system"]["mft_record"].as_u64().unwrap();
    let inode = peer("ifind", &["-n", files[0].1, img.to_str().unwrap()]);
    assert_eq!(rec.to_string(), inode.trim());
    // The same times in the disk facts, and in the human report.
    assert_eq!(
        r["disk"]["system"]["times"],
        r["system"]["file"]["ntfs_times"]
    );
    let human = run_in(d, &["inspect", img.to_str().unwrap()]);
    assert!(
        human
            .stdout
            .contains("NTFS $STANDARD_INFORMATION: created ")
            && human.stdout.contains("NTFS $FILE_NAME: created "),
        "{}",
        human.stdout
    );
    // A hive read through the OS has none.
    let file = copy_to(&corpus_file(CLEAN_SYSTEMS[0]), d, "SYSTEM");
    let r = ok(run_in(d, &["inspect", file.to_str().unwrap(), "--json"]));
    assert!(r["system"]["file"]["ntfs_times"].is_null());
}

/// The host name as the kernel (or the environment) has it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap()
}

/// Every JSON document, the error document too, carries the run facts:
/// start time, command line, version, the commit the binary was built from
/// (git's HEAD, since cargo rebuilds on a new commit), host name.
#[test]
fn every_json_document_carries_the_run_metadata() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&corpus_file(CLEAN_SYSTEMS[0]), d, "SYSTEM");
    let h = hive.to_str().unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let before = now_secs();
    let runs: Vec<Vec<&str>> = vec![
        vec!["inspect", h, "--json"],
        vec!["get", h, r"SYSTEM\Select", "--json"],
        vec!["diagnose", h, "--json"],
        vec!["locate", h, "--json"],
        vec!["nla", "disable", h, "--dry-run", "--json"],
        vec!["inspect", "/nonexistent/SYSTEM", "--json"],
    ];
    for args in runs {
        let r = run_in(d, &args);
        let doc = r.json();
        let run = &doc["run"];
        let mut line = vec![bin().to_string()];
        line.extend(args.iter().map(|a| a.to_string()));
        assert_eq!(run["command_line"], serde_json::json!(line), "{args:?}");
        assert_eq!(run["host"], host(), "{args:?}");
        assert_eq!(run["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(run["commit"], head, "{args:?}");
        assert_eq!(doc["tool"]["commit"], head, "{args:?}");
        let started = iso_secs(run["started_utc"].as_str().unwrap());
        assert!(
            started >= before && started <= now_secs(),
            "{args:?}: {}",
            run["started_utc"]
        );
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SSZ` (via `date`, an
/// independent parser).
fn iso_secs(s: &str) -> i64 {
    peer("date", &["-u", "-d", s, "+%s"])
        .trim()
        .parse()
        .unwrap()
}

/// `--hash md5,sha1,sha256` digests the hive, its logs and the source as
/// coreutils does; without `--hash` only SHA-256 is there.
#[test]
fn hashes_equal_coreutils() {
    let t = tmp();
    let d = t.path();
    let rel = "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";
    let hive = copy_to(&corpus_file(rel), d, "SYSTEM");
    for l in ["LOG1", "LOG2"] {
        copy_to(
            &corpus_file(&format!("{rel}.{l}")),
            d,
            &format!("SYSTEM.{l}"),
        );
    }
    let sum = |tool: &str, p: &str| -> String {
        peer(tool, &[p])
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let h = hive.to_str().unwrap();
    let r = ok(run_in(
        d,
        &[
            "inspect",
            h,
            "--hash",
            "md5,sha1,sha256",
            "--hash-source",
            "--json",
        ],
    ));
    let mut files = vec![r["system"]["file"].clone()];
    files.extend(r["system"]["logs"].as_array().unwrap().iter().cloned());
    assert_eq!(files.len(), 3);
    for f in &files {
        let p = f["path"].as_str().unwrap();
        assert_eq!(f["md5"], sum("md5sum", p), "{p}");
        assert_eq!(f["sha1"], sum("sha1sum", p), "{p}");
        assert_eq!(f["sha256"], sum("sha256sum", p), "{p}");
    }
    let s = &r["source_hashes"];
    assert_eq!(s["md5"], sum("md5sum", h));
    assert_eq!(s["sha1"], sum("sha1sum", h));
    assert_eq!(s["sha256"], sum("sha256sum", h));
    assert_eq!(r["source_sha256"], s["sha256"]);
    let human = run_in(d, &["inspect", h, "--hash", "sha1", "--hash-source"]);
    assert!(
        human
            .stdout
            .contains(&format!("Source: sha1 {}", sum("sha1sum", h))),
        "{}",
        human.stdout
    );
    // Default: SHA-256 only.
    let r = ok(run_in(d, &["inspect", h, "--hash-source", "--json"]));
    assert!(r["system"]["file"]["md5"].is_null() && r["system"]["file"]["sha1"].is_null());
    assert_eq!(r["source_hashes"]["sha256"], sum("sha256sum", h));
    assert!(r["source_hashes"]["md5"].is_null());
    let bad = run_in(d, &["inspect", h, "--hash", "crc32"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

/// `--hash-source` on a mounted tree (a directory) says so in the report
/// and the report is still whole.
#[test]
fn hash_source_on_a_directory_is_reported_not_fatal() {
    let t = tmp();
    let d = t.path();
    let cfg = d.join("win/Windows/System32/config");
    std::fs::create_dir_all(&cfg).unwrap();
    copy_to(&corpus_file(CLEAN_SYSTEMS[0]), &cfg, "SYSTEM");
    let root = d.join("win");
    let r = ok(run_in(
        d,
        &["inspect", root.to_str().unwrap(), "--hash-source", "--json"],
    ));
    assert!(r["source_hashes"].is_null() && r["source_sha256"].is_null());
    let e = r["source_hash_error"].as_str().unwrap();
    assert!(e.contains("is a directory"), "{e}");
    assert!(r["warnings"].as_array().unwrap().iter().any(|w| w == e));
    assert_eq!(r["verdict"]["nla"], "off");
}

/// Progress of `--hash-source` goes to stderr when it is a terminal, also
/// with `--json`; never into a pipe.
#[test]
fn hash_source_progress_only_on_a_terminal() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&corpus_file(CLEAN_SYSTEMS[0]), d, "SYSTEM");
    let h = hive.to_str().unwrap();
    let piped = run_in(d, &["inspect", h, "--hash-source", "--json"]);
    assert!(!piped.stderr.contains("hashing"), "{}", piped.stderr);
    // `script` gives the run a terminal; stdout goes to a file, so what the
    // terminal shows is stderr alone.
    let out = d.join("out.json");
    let cmd = format!(
        "{} inspect {h} --hash-source --json > {}",
        bin(),
        out.display()
    );
    let tty = peer("script", &["-qec", &cmd, "/dev/null"]);
    assert!(tty.contains("hashing") && tty.contains("100%"), "{tty}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(doc["source_sha256"], sha256_file(&hive));
}

/// E01 (EWF) and AFF images are refused (exit 3) with the command that
/// exposes them raw; headers crafted as libewf and afflib write them.
#[test]
fn evidence_containers_are_refused_with_the_command_to_expose_them() {
    let t = tmp();
    let d = t.path();
    // EWF: signature, fields start 0x01, segment number 1, fields end 0,
    // then a section descriptor ("header").
    let mut e01 = b"EVF\x09\x0d\x0a\xff\x00\x01\x01\x00\x00\x00".to_vec();
    e01.extend_from_slice(b"header\0");
    e01.resize(64 << 10, 0);
    // AFF: the file header, then the first segment header ("AFF\0").
    let mut aff = b"AFF10\r\n\x00AFF\x00".to_vec();
    aff.resize(64 << 10, 0);
    for (name, bytes, tool) in [("disk.E01", e01, "ewfmount"), ("disk.aff", aff, "affuse")] {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        let ps = p.to_str().unwrap();
        let mut refusals = Vec::new();
        for args in [
            vec!["inspect", ps],
            vec!["diagnose", ps, "--json"],
            vec!["locate", ps],
            vec!["locate", ps, "--json"],
        ] {
            let r = run_in(d, &args);
            assert_eq!(r.code, 3, "{name} {args:?}: {}{}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains(&format!("{tool} {ps} /mnt/")),
                "{name} {args:?}: {}",
                r.stderr
            );
            let line = r.stderr.lines().find(|l| l.contains(tool)).unwrap();
            refusals.push(line.to_string());
            if args.contains(&"--json") {
                let e = &r.json()["error"];
                assert_eq!(e["code"], "unsupported", "{name} {args:?}: {e}");
            }
        }
        // locate refuses it with inspect's very words.
        assert_eq!(refusals[2], refusals[0], "{name}");
        // Beside a disk that holds Windows, it is a note, in the same words.
        let demo = d.join("demo.img");
        let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/demo-disk.img.gz");
        let o = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
        std::fs::write(&demo, o.stdout).unwrap();
        let r = ok(run_in(d, &["locate", demo.to_str().unwrap(), ps, "--json"]));
        let note = r["disks"][1]["notes"][0].as_str().unwrap();
        assert!(
            refusals[0].contains(note) && note.contains(&format!("{tool} {ps} /mnt/")),
            "{name}: {note}"
        );
        assert!(r["disks"][1]["partitions"].as_array().unwrap().is_empty());
    }
}

/// The forensic section is in inspect's JSON and text, read-only: a hive
/// with nothing unusual has every key reported and no flag.
#[test]
fn forensic_section_reports_keys_with_times_and_no_flags_when_normal() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&corpus_file(CLEAN_SYSTEMS[0]), d, "SYSTEM");
    let before = sha256_file(&hive);
    let h = hive.to_str().unwrap();
    let r = ok(run_in(d, &["inspect", h, "--json"]));
    let f = &r["forensic"];
    assert_eq!(f["flags"], serde_json::json!([]));
    let keys = f["keys"].as_array().unwrap();
    // Two control sets, four keys each; no SOFTWARE beside it.
    assert_eq!(keys.len(), 8);
    let wds = keys
        .iter()
        .find(|k| k["key"] == r"ControlSet001\Control\Terminal Server\Wds\rdpwd")
        .unwrap();
    assert_eq!(wds["values"][0]["data"], "rdpclip");
    let human = run_in(d, &["inspect", h]);
    assert!(
        human.stdout.contains("Forensic (read-only):"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("StartupPrograms=rdpclip"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("Key last-write times (UTC):"));
    assert_eq!(sha256_file(&hive), before);
}
