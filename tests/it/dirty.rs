// SPDX-License-Identifier: GPL-2.0-or-later
//! Dirty hives through the real binary: replay exactly as Windows does,
//! then edit and write a reconciled, clean hive; logs untouched; refusals
//! where nothing can be replayed.

use std::path::{Path, PathBuf};

use ntrescue::format::regf::base_block::{
    set_clean, FILE_TYPE_LOG_NEW, HEADER_SIZE, OFF_FILE_TYPE,
};
use ntrescue::format::regf::log::{recover, LogInput};
use ntrescue::util::bytes::put_u32;
use serde_json::Value;

use crate::util::*;

const RDP: &str = r"\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
const NLA: [&str; 3] = [
    "SecurityLayer",
    "UserAuthentication",
    "fAllowSecProtocolNegotiation",
];

/// `rel` and the .LOG1/.LOG2 beside it, as (name given to the copy, file):
/// `SYSTEM`, `SYSTEM.LOG1`, `SYSTEM.LOG2`.
fn set_members(rel: &str) -> Vec<(String, PathBuf)> {
    let src = corpus_file(rel);
    let mut out = vec![("SYSTEM".to_string(), src.clone())];
    for ext in ["LOG1", "LOG2"] {
        let log = PathBuf::from(format!("{}.{ext}", src.display()));
        if log.exists() {
            out.push((format!("SYSTEM.{ext}"), log));
        }
    }
    out
}

/// Copies `rel` (and its .LOG1/.LOG2) into `dir` as `name` / `name.LOGn`.
fn copy_set(rel: &str, dir: &Path, name: &str) -> PathBuf {
    for (n, src) in set_members(rel) {
        copy_to(&src, dir, &n.replacen("SYSTEM", name, 1));
    }
    dir.join(name)
}

fn replayed(h: &Path) -> Vec<u8> {
    let logs: Vec<(String, Vec<u8>)> = ["LOG1", "LOG2"]
        .iter()
        .map(|e| {
            let p = h.with_file_name(format!("{}.{e}", h.file_name().unwrap().to_str().unwrap()));
            (e.to_string(), std::fs::read(p).unwrap())
        })
        .collect();
    let inputs: Vec<LogInput> = logs
        .iter()
        .map(|(n, b)| LogInput {
            name: n.clone(),
            bytes: b,
        })
        .collect();
    recover(&std::fs::read(h).unwrap(), &inputs).unwrap().hive
}

/// Windows 10 1709 SYSTEM_B (dirty, logs 2107..2130): inspect shows both
/// views; `nla disable` replays, edits and writes a clean hive with
/// sequence numbers above every log entry; the logs are unchanged; hivex and
/// regipy read 0/0/0; the result differs from the replayed hive in exactly
/// the three values.
#[test]
fn dirty_system_b_is_replayed_then_fixed() {
    let t = tmp();
    let d = t.path();
    let h = copy_set(
        "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B",
        d,
        "SYSTEM",
    );
    let logs = [d.join("SYSTEM.LOG1"), d.join("SYSTEM.LOG2")];
    let log_sha: Vec<String> = logs.iter().map(|l| sha256_file(l)).collect();

    let rep = run_in(d, &["inspect", "SYSTEM", "--json"]).json();
    assert_eq!(rep["verdict_source"], "after-replay");
    assert_eq!(rep["system"]["max_sequence_seen"], 2130);
    let a = &rep["after_replay"];
    assert_eq!(a["replayed"], true);
    assert_eq!(a["replay"]["applied"].as_array().unwrap().len(), 24);
    assert_eq!(a["replay"]["last_sequence"], 2130);
    assert_eq!(a["replay"]["hive_bins_size"], 0xC02000);

    // The replayed image, computed independently of the CLI run.
    let reconciled = t.path().join("reconciled");
    std::fs::write(&reconciled, replayed(&h)).unwrap();
    let before = hivex_tree(&reconciled);

    let r = run_in(d, &["nla", "disable", "SYSTEM", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = r.json();
    assert_eq!(rep["hives"][0]["sequence_after"], 2131);
    assert!(rep["warnings"][0]
        .as_str()
        .unwrap()
        .contains("replayed 24 log entries"));
    let (s1, s2, ok) = base_block(&h);
    assert!(s1 == 2131 && s2 == 2131 && ok, "{s1}/{s2} {ok}");
    let bins = u32::from_le_bytes(std::fs::read(&h).unwrap()[40..44].try_into().unwrap());
    assert_eq!(bins, 0xC02000);
    // The transaction: LOG1 untouched, the new entry appended to LOG2,
    // whose chain the replay ends in.
    assert_eq!(sha256_file(&logs[0]), log_sha[0], "LOG1 changed");
    assert_ne!(sha256_file(&logs[1]), log_sha[1], "LOG2 unchanged");
    assert!(
        rep["checks"].as_array().unwrap().iter().any(|c| c
            .as_str()
            .unwrap()
            .contains("HvLE entry 2131 appended to SYSTEM.LOG2")),
        "{rep}"
    );
    for v in NLA {
        assert_eq!(hivex_dword(&h, RDP, v), Some(0));
    }
    for line in regipy_dwords(&h, &NLA.map(|v| (RDP, v))) {
        assert!(line.ends_with("|0"), "{line}");
    }
    let after = hivex_tree(&h);
    let key = RDP.trim_start_matches('\\').to_uppercase();
    let want: Vec<(String, String)> = [
        "FALLOWSECPROTOCOLNEGOTIATION",
        "SECURITYLAYER",
        "USERAUTHENTICATION",
    ]
    .iter()
    .map(|v| (key.clone(), v.to_string()))
    .collect();
    assert_eq!(changed(&before, &after), want);
    peer("hivexml", &[h.to_str().unwrap()]);
    peer("regfexport", &[h.to_str().unwrap()]);
    // Now clean: a rerun is a no-op, and restore brings back the dirty original.
    assert_eq!(
        run_in(d, &["nla", "disable", "SYSTEM", "--json"]).json()["outcome"],
        "nothing-to-do"
    );
}

/// yarp's NewDirtyHive1 (new format): a `set` replays it and writes the
/// result; its tree equals Windows' own recovered hive plus the one value.
#[test]
fn new_format_log_set_matches_windows_recovery_plus_the_edit() {
    let t = tmp();
    let d = t.path();
    let h = copy_set("other/yarp-logsets/NewDirtyHive1/NewDirtyHive", d, "HIVE");
    let windows = corpus_file("other/yarp-logsets/NewDirtyHive1/RecoveredHive_Windows10");
    let r = run_in(
        d,
        &[
            "set",
            "HIVE",
            "SYSTEM",
            "NtrescueMark",
            "--type",
            "dword",
            "--data",
            "5",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = hivex_tree(&h);
    let want = hivex_tree(&windows);
    assert_eq!(
        changed(&want, &got),
        vec![(String::new(), "NTRESCUEMARK".to_string())]
    );
    let (s1, s2, ok) = base_block(&h);
    assert!(
        s1 == s2 && ok && s1 == 6,
        "{s1}/{s2}: one above the last entry (5)"
    );
}

/// Old-format (DIRT) logs: yarp's OldDirtyHive, whose one log holds data
/// the replay needs. In place, the write's own dirty-vector log goes into
/// the other slot (the empty LOG2) under a last-written timestamp one tick
/// later, so that the needed LOG1 stops applying once the primary carries
/// it; LOG1 is left as it was. `--output` writes the same reconciled copy;
/// both equal Windows 7's own recovery plus the value.
#[test]
fn old_format_log_set_matches_windows_recovery() {
    let t = tmp();
    let d = t.path();
    copy_set("other/yarp-logsets/OldDirtyHive/OldDirtyHive", d, "HIVE");
    let windows = corpus_file("other/yarp-logsets/OldDirtyHive/RecoveredHive_Windows7");
    let args = [
        "set",
        "HIVE",
        "SYSTEM",
        "NtrescueMark",
        "--type",
        "sz",
        "--data",
        "x",
    ];
    let log1 = sha256_file(&d.join("HIVE.LOG1"));
    let stamp = |p: &Path| {
        let b = std::fs::read(p).unwrap();
        (
            u64::from_le_bytes(b[12..20].try_into().unwrap()),
            u64::from_le_bytes(b[4096 + 0x14..4096 + 0x1c].try_into().unwrap()),
        )
    };
    let (was, _) = stamp(&d.join("HIVE"));
    let mut out = args.to_vec();
    out.extend(["--output", "reconciled"]);
    let r = run_in(d, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run_in(d, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("dirty-vector log 6 written to HIVE.LOG2"),
        "{}",
        r.stdout
    );
    for f in ["HIVE", "reconciled"] {
        assert_eq!(
            changed(&hivex_tree(&windows), &hivex_tree(&d.join(f))),
            vec![(String::new(), "NTRESCUEMARK".to_string())],
            "{f}"
        );
        assert_eq!(base_block(&d.join(f)), (6, 6, true), "{f}");
        assert_eq!(stamp(&d.join(f)), (was + 1, was + 1), "{f}");
    }
    assert_eq!(sha256_file(&d.join("HIVE.LOG1")), log1, "LOG1 untouched");
    let log2 = std::fs::read(d.join("HIVE.LOG2")).unwrap();
    assert_eq!(log2[12..20], (was + 1).to_le_bytes(), "the write's log");
}

/// A hive file with no log gets `SYSTEM.LOG1` created for the write's
/// transaction: the bundle records it (an empty copy, `created`, its
/// writes), and `restore` removes it, also when a stopped fix left its
/// entry in it (here: the recorded writes put back by hand), without
/// --force.
#[test]
fn a_log_the_fix_creates_is_recorded_and_removed_by_restore() {
    let t = tmp();
    let d = t.path();
    let xp = corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM");
    copy_to(&xp, d, "SYSTEM");
    let original = sha256_file(&d.join("SYSTEM"));
    let r = ok(run_in(
        d,
        &["nla", "disable", "SYSTEM", "--backup-dir", "bk", "--json"],
    ));
    assert_eq!(r["outcome"], "written");
    assert_eq!(std::fs::metadata(d.join("SYSTEM.LOG1")).unwrap().len(), 0);
    let bundle = d.join(r["backup"].as_str().unwrap());
    let m: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let files = m["hives"][0]["files"].as_array().unwrap();
    let log = files
        .iter()
        .find(|f| f["backup_name"] == "SYSTEM/SYSTEM.LOG1")
        .expect("the created log is in the manifest");
    assert_eq!(log["created"], true);
    assert_eq!(log["size"], 0);
    // The fix's log entry, as a stopped fix leaves it.
    let rec = &log["writes"];
    let bytes = std::fs::read(bundle.join(rec["file"].as_str().unwrap())).unwrap();
    let mut content = vec![0u8; rec["length_after"].as_u64().unwrap() as usize];
    let mut from = 0;
    for w in rec["ranges"].as_array().unwrap() {
        let (at, len) = (
            w["offset"].as_u64().unwrap() as usize,
            w["length"].as_u64().unwrap() as usize,
        );
        content[at..at + len].copy_from_slice(&bytes[from..from + len]);
        from += len;
    }
    std::fs::write(d.join("SYSTEM.LOG1"), &content).unwrap();
    let list = ok(run_in(d, &["backups", "list", "bk", "--json"]));
    assert_eq!(list["bundles"][0]["target_now"], "mix", "{list}");
    let r = ok(run_in(d, &["restore", bundle.to_str().unwrap(), "--json"]));
    assert_eq!(r["forced"], false);
    assert!(
        !d.join("SYSTEM.LOG1").exists(),
        "the created log is removed"
    );
    assert_eq!(sha256_file(&d.join("SYSTEM")), original);
    // Restoring again finds everything as it was.
    let r = ok(run_in(d, &["restore", bundle.to_str().unwrap(), "--json"]));
    for f in r["files"].as_array().unwrap() {
        assert_eq!(f["action"], "unchanged", "{f}");
    }
}

/// A hive whose only log is `.LOG` (the single-log scheme of Windows XP
/// and Server 2003, which never read `.LOG1`) gets the write's log there,
/// and no `.LOG1` is created beside it.
#[test]
fn a_single_log_hive_gets_its_entry_in_its_own_log() {
    let t = tmp();
    let d = t.path();
    copy_to(
        &corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        d,
        "SYSTEM",
    );
    std::fs::write(d.join("SYSTEM.LOG"), vec![0u8; 64 << 10]).unwrap();
    let r = run_in(d, &["nla", "disable", "SYSTEM", "--backup-dir", "bk"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("written to SYSTEM.LOG "), "{}", r.stdout);
    assert!(!d.join("SYSTEM.LOG1").exists() && !d.join("SYSTEM.LOG2").exists());
}

/// Logs that hold nothing Windows would replay, or a primary whose base
/// block is broken: refused, nothing written (logs included).
#[test]
fn unreplayable_logs_and_bad_base_blocks_are_refused() {
    for set in [
        "BadLogHive1/BadLogHive",
        "BadLogHive2/BadLogHive",
        "BadLogHive3/BadLogHive",
        "BadBaseBlockHive/BadBaseBlockHive",
    ] {
        let t = tmp();
        let d = t.path();
        copy_set(&format!("other/yarp-logsets/{set}"), d, "HIVE");
        let before: Vec<String> = ["HIVE", "HIVE.LOG1", "HIVE.LOG2"]
            .iter()
            .map(|f| sha256_file(&d.join(f)))
            .collect();
        let r = run_in(
            d,
            &[
                "set", "HIVE", "SYSTEM", "Mark", "--type", "dword", "--data", "1",
            ],
        );
        assert_eq!(r.code, 3, "{set}: {}", r.stderr);
        let after: Vec<String> = ["HIVE", "HIVE.LOG1", "HIVE.LOG2"]
            .iter()
            .map(|f| sha256_file(&d.join(f)))
            .collect();
        assert_eq!(before, after, "{set}");
        // inspect reports (read-only), or names what is wrong and where;
        // these yarp hives have no control sets: not a SYSTEM hive (exit 5).
        let r = run_in(d, &["inspect", "HIVE", "--json"]);
        assert!(
            r.code == 0
                || (r.code == 3 && r.stderr.contains("byte offset"))
                || (r.code == 5 && r.stderr.contains("not a SYSTEM hive")),
            "{set}: {}",
            r.stderr
        );
    }
}

/// Dirty non-SYSTEM hives with logs (UsrClass.dat, NTUSER.DAT): replayed
/// and edited; the full walk by hivexml succeeds.
#[test]
fn dirty_user_hives_with_logs_replay_and_walk() {
    for rel in [
        "other/dirty-with-logs/regipy__UsrClass.dat",
        "other/dirty-with-logs/win10__regipy__transactions_NTUSER.DAT",
    ] {
        let t = tmp();
        let d = t.path();
        let h = copy_set(rel, d, "HIVE");
        let r = run_in(
            d,
            &[
                "set", "HIVE", "SYSTEM", "Mark", "--type", "dword", "--data", "1", "--json",
            ],
        );
        assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
        let (s1, s2, ok) = base_block(&h);
        assert!(s1 == s2 && ok, "{rel}");
        peer("hivexml", &[h.to_str().unwrap()]);
    }
}

/// Where SYSTEM sits in a Windows volume.
const CONFIG: &str = "Windows/System32/config";

/// How the binary is given a hive set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// The hive file, its logs beside it.
    File,
    /// A bare NTFS volume image, read raw.
    Raw,
    /// A copy of that volume mounted with ntfs-3g.
    Mount,
}

/// One way of giving the binary a hive set.
struct Source {
    way: Way,
    /// The source argument, relative to the test directory.
    arg: &'static str,
    /// How the binary names the SYSTEM file in its messages.
    hive: &'static str,
    /// Files a refused run must leave unchanged.
    watch: Vec<PathBuf>,
}

impl Source {
    /// `text` with this source's name for SYSTEM replaced, so that messages
    /// compare across sources.
    fn norm(&self, text: &str) -> String {
        text.replace(self.hive, "<SYSTEM>")
    }

    /// A JSON report without what names the source (and the run's command
    /// line, and the NTFS times only a raw volume has), its strings
    /// normalised.
    fn norm_json(&self, mut v: Value) -> Value {
        if let Some(o) = v.as_object_mut() {
            o.remove("source");
            o.remove("disk");
            o.remove("run");
        }
        // Row 29 (the BCD store) is looked for on a disk or volume only:
        // why it was not checked names the source.
        if let Some(nc) = v
            .pointer_mut("/verdict/not_checked")
            .and_then(Value::as_array_mut)
        {
            nc.retain(|n| n["rows"] != serde_json::json!([29]));
        }
        strip_ntfs_times(&mut v);
        let escaped = serde_json::to_string(self.hive).unwrap();
        let text = v
            .to_string()
            .replace(&escaped[1..escaped.len() - 1], "<SYSTEM>");
        serde_json::from_str(&text).unwrap()
    }

    fn hashes(&self) -> Vec<String> {
        self.watch.iter().map(|p| sha256_file(p)).collect()
    }
}

/// A corpus hive set three ways: copied into `file/` (a hive file with its
/// logs beside it), as `Windows\System32\config\SYSTEM` (+ `.LOG1`/`.LOG2`)
/// in a bare NTFS volume image read raw, and a copy of that volume mounted
/// with ntfs-3g (each way can be written to without the others seeing it).
struct ThreeWays {
    t: tempfile::TempDir,
    vol: PathBuf,
    mounted: PathBuf,
}

impl ThreeWays {
    fn new(rel: &str, mb: u64) -> ThreeWays {
        let t = tmp();
        let members = set_members(rel);
        let file = t.path().join("file");
        std::fs::create_dir(&file).unwrap();
        for (name, src) in &members {
            copy_to(src, &file, name);
        }
        let inside: Vec<String> = members
            .iter()
            .map(|(n, _)| format!("{CONFIG}/{n}"))
            .collect();
        let files: Vec<(&str, PathBuf)> = inside
            .iter()
            .zip(&members)
            .map(|(i, (_, src))| (i.as_str(), src.clone()))
            .collect();
        let vol = volume_exact(t.path(), "vol.img", mb, 4096, 0, &files, &[]);
        let mounted = t.path().join("mounted.img");
        std::fs::copy(&vol, &mounted).unwrap();
        ThreeWays { t, vol, mounted }
    }

    fn dir(&self) -> &Path {
        self.t.path()
    }

    /// Runs `f` on the hive file, the raw volume, then through the mount;
    /// returns the results in that order.
    fn each<T>(&self, f: impl Fn(&Source) -> T) -> Vec<T> {
        let d = self.dir();
        let in_dir = |dir: &Path| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            v
        };
        let mut out = vec![
            f(&Source {
                way: Way::File,
                arg: "file/SYSTEM",
                hive: "file/SYSTEM",
                watch: in_dir(&d.join("file")),
            }),
            f(&Source {
                way: Way::Raw,
                arg: "vol.img",
                hive: r"vol.img:p1:\Windows\System32\config\SYSTEM",
                watch: vec![self.vol.clone()],
            }),
        ];
        let _m = Mount::new(&self.mounted, &d.join("mnt"));
        out.push(f(&Source {
            way: Way::Mount,
            arg: "mnt",
            hive: "mnt/Windows/System32/config/SYSTEM",
            watch: in_dir(&d.join("mnt").join(CONFIG)),
        }));
        out
    }

    /// A copy of SYSTEM as `s` holds it now (raw: extracted with icat).
    fn system_now(&self, s: &Source) -> PathBuf {
        let d = self.dir();
        let out = d.join(format!("{:?}.SYSTEM", s.way));
        match s.way {
            Way::File => std::fs::copy(d.join("file/SYSTEM"), &out)
                .map(drop)
                .unwrap(),
            Way::Raw => icat(&self.vol, 0, &format!("/{CONFIG}/SYSTEM"), &out),
            Way::Mount => std::fs::copy(d.join("mnt").join(CONFIG).join("SYSTEM"), &out)
                .map(drop)
                .unwrap(),
        }
        out
    }
}

/// Asserts that every source gave what the hive file gave.
fn assert_alike<T: PartialEq + std::fmt::Debug>(results: &[T], what: &str) {
    for (way, r) in [Way::Raw, Way::Mount].iter().zip(&results[1..]) {
        assert_eq!(r, &results[0], "{what}: {way:?} differs from the hive file");
    }
}

/// `SYSTEM\key` (the root for "").
fn system_path(key: &str) -> String {
    if key.is_empty() {
        "SYSTEM".into()
    } else {
        format!(r"SYSTEM\{key}")
    }
}

/// SYSTEM_B with its logs on a raw volume and through a mount: inspect's
/// whole report (after-replay view, replay details per log and entry,
/// verdict, warnings) is the hive file's, with 24 entries replayed to 2130
/// as yarp replays them.
#[test]
fn inspect_after_replay_is_the_same_on_every_path() {
    let rel = "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";
    let w = ThreeWays::new(rel, 64);
    let d = w.dir();
    let results = w.each(|s| s.norm_json(ok(run_in(d, &["inspect", s.arg, "--json"]))));
    assert_alike(&results, rel);
    let a = &results[0]["after_replay"];
    assert_eq!(a["replayed"], true);
    assert_eq!(a["replay"]["applied"].as_array().unwrap().len(), 24);
    assert_eq!(a["replay"]["last_sequence"], 2130);
    assert_eq!(a["replay"]["applied"][0]["log"], "SYSTEM.LOG1");
}

/// yarp's log sets as `Windows\System32\config\SYSTEM` (+ logs) in an NTFS
/// volume, read raw and through an ntfs-3g mount, behave as the hive file:
/// `get` reads the after-replay view, and where Windows recovered the set
/// itself (NewDirtyHive1: Windows 10, new format; OldDirtyHive: Windows 7,
/// old format) every key the logs touch reads exactly as in Windows' file.
/// NewDirtyHive2 has no Windows result: only its LOG2 (3..5) applies, as
/// yarp's `test_dirty_new2` expects. These are not SYSTEM hives, so inspect
/// exits 5 everywhere. `set` replays, edits and writes the same bytes on
/// every path: clean at 1 + the last entry (Windows 10 wrote 6/6 too), with
/// Windows' tree plus the one value.
#[test]
fn yarp_log_sets_on_raw_volumes_and_mounts() {
    let new_keys: &[&str] = &["", "Key3", r"Key3\Key3_1", r"Key3\Key3_2", r"Key3\Key3_3"];
    let cases = [
        (
            "NewDirtyHive1/NewDirtyHive",
            Some("NewDirtyHive1/RecoveredHive_Windows10"),
            new_keys,
            "replaying 4 log entries (to sequence 5)",
        ),
        (
            "NewDirtyHive2/NewDirtyHive",
            None,
            new_keys,
            "replaying 3 log entries (to sequence 5)",
        ),
        (
            "OldDirtyHive/OldDirtyHive",
            Some("OldDirtyHive/RecoveredHive_Windows7"),
            // The root, and the keys the log removes a subkey from, changes
            // a value of and adds a subkey to.
            &[
                "",
                "key_with_many_subkeys",
                r"key_with_many_subkeys\4500",
                r"key_with_many_subkeys\5000",
            ],
            "replaying 1 log entries (to sequence 5)",
        ),
    ];
    for (set, windows, keys, replay) in cases {
        let w = ThreeWays::new(&format!("other/yarp-logsets/{set}"), 8);
        let d = w.dir();
        let results = w.each(|s| {
            let views: Vec<Value> = keys
                .iter()
                .map(|k| {
                    let g = ok(run_in(d, &["get", s.arg, &system_path(k), "--json"]));
                    assert_eq!(g["view"], "after-replay", "{set} {:?} {k}", s.way);
                    let warning = g["warnings"][0].as_str().unwrap_or_default();
                    assert!(warning.contains(replay), "{set} {:?}: {warning}", s.way);
                    g["entries"].clone()
                })
                .collect();
            let i = run_in(d, &["inspect", s.arg]);
            assert_eq!(i.code, 5, "{set} {:?}: {}", s.way, i.stderr);
            assert!(i.stderr.contains("not a SYSTEM hive"), "{}", i.stderr);
            let bk = format!("bk-{:?}", s.way);
            let args = [
                "set",
                s.arg,
                "SYSTEM",
                "NtrescueMark",
                "--type",
                "dword",
                "--data",
                "5",
                "--backup-dir",
                &bk,
                "--json",
            ];
            if set.starts_with("Old") && s.way == Way::Raw {
                // The replay needs the one old-format log, and the other
                // slot (an empty LOG2) has no clusters on the raw volume
                // to take the write's log: refused, with the mounted path.
                let before = s.hashes();
                let r = run_in(d, &args);
                assert_eq!(r.code, 3, "{set} {:?}: {}", s.way, r.stderr);
                assert!(r.stderr.contains("mount the volume"), "{}", r.stderr);
                assert_eq!(s.hashes(), before, "{set} {:?}: written", s.way);
                return (views, Value::Null, String::new());
            }
            let r = ok(run_in(d, &args));
            assert_eq!(r["outcome"], "written", "{set} {:?}", s.way);
            assert_eq!(r["hives"][0]["sequence_after"], 6, "{set} {:?}", s.way);
            let out = w.system_now(s);
            (views, r["changes"].clone(), sha256_file(&out))
        });
        if set.starts_with("Old") {
            assert_eq!(
                results[1].0, results[0].0,
                "{set}: the raw volume reads differently"
            );
            assert_eq!(
                results[2], results[0],
                "{set}: the mount differs from the hive file"
            );
        } else {
            assert_alike(&results, set);
        }
        let written = d.join("File.SYSTEM");
        assert_eq!(base_block(&written), (6, 6, true), "{set}");
        let Some(windows) = windows else { continue };
        let windows = corpus_file(&format!("other/yarp-logsets/{windows}"));
        let win = windows.to_str().unwrap();
        for (k, entries) in keys.iter().zip(&results[0].0) {
            let g = ok(run_in(d, &["get", win, &system_path(k), "--json"]));
            assert_eq!(
                &g["entries"], entries,
                "{set}: {k} differs from Windows' recovery"
            );
        }
        assert_eq!(
            changed(&hivex_tree(&windows), &hivex_tree(&written)),
            vec![(String::new(), "NTRESCUEMARK".to_string())],
            "{set}"
        );
    }
}

/// yarp's sets whose logs Windows could not use (BadLogHive1-3: no log
/// has a valid base block or dirty vector) or whose primary base block is
/// broken (BadBaseBlockHive), on a raw volume and through a mount: `set` is
/// refused (exit 3) with the message the hive file gets and nothing
/// written; `get` and inspect answer as for the hive file (the stored view,
/// with the same warning, where they can read it at all).
#[test]
fn unusable_yarp_log_sets_are_refused_alike_on_raw_volumes_and_mounts() {
    for set in [
        "BadLogHive1/BadLogHive",
        "BadLogHive2/BadLogHive",
        "BadLogHive3/BadLogHive",
        "BadBaseBlockHive/BadBaseBlockHive",
    ] {
        let w = ThreeWays::new(&format!("other/yarp-logsets/{set}"), 8);
        let d = w.dir();
        let results = w.each(|s| {
            let before = s.hashes();
            let r = run_in(
                d,
                &[
                    "set",
                    s.arg,
                    "SYSTEM",
                    "Mark",
                    "--type",
                    "dword",
                    "--data",
                    "1",
                    "--backup-dir",
                    "bk",
                ],
            );
            assert_eq!(r.code, 3, "{set} {:?}: {}", s.way, r.stderr);
            assert_eq!(s.hashes(), before, "{set} {:?}: written", s.way);
            let g = run_in(d, &["get", s.arg, "SYSTEM", "--json"]);
            let i = run_in(d, &["inspect", s.arg]);
            (
                s.norm(&r.stderr),
                g.code,
                s.norm_json(g.json()),
                i.code,
                s.norm(&i.stderr),
            )
        });
        assert_alike(&results, set);
        let (refusal, get_code, get, _, _) = &results[0];
        if set.starts_with("BadLog") {
            assert!(
                refusal.contains("no transaction log is usable"),
                "{refusal}"
            );
            assert_eq!((*get_code, &get["view"]), (0, &Value::from("stored")));
        }
    }
}

/// A dirty SYSTEM hive whose logs were not kept (4317/4316), on a raw volume
/// and through a mount: inspect reports what it reports for the hive file
/// (nothing replayed, values as stored); `nla disable` is refused by
/// default with nothing written, and with `--allow-dirty-without-logs`
/// writes the same bytes on every path: clean at 1 + the highest sequence
/// number (4318), the three values 0 and nothing else changed (hivex).
#[test]
fn dirty_hive_without_logs_on_a_raw_volume_and_a_mount() {
    let rel = "system/win10-1903-x64-dirty-nologs__regipy__SYSTEM_WIN_10_1709";
    let w = ThreeWays::new(rel, 48);
    let d = w.dir();
    let results = w.each(|s| {
        let mut rep = ok(run_in(d, &["inspect", s.arg, "--json"]));
        rep["system"]["file"]["path"] = Value::Null;
        let before = s.hashes();
        let r = run_in(
            d,
            &["nla", "disable", s.arg, "--backup-dir", "bk", "--json"],
        );
        assert_eq!(r.code, 3, "{:?}: {}", s.way, r.stderr);
        assert_eq!(s.hashes(), before, "{:?}: written", s.way);
        let refusal = s.norm(&r.stderr);
        let bk = format!("bk-{:?}", s.way);
        let args = [
            "nla",
            "disable",
            s.arg,
            "--allow-dirty-without-logs",
            "--backup-dir",
            &bk,
            "--json",
        ];
        if s.way == Way::Raw {
            // No log inside the raw volume to hold the transaction, and a
            // file there cannot grow: refused, nothing written.
            let r = run_in(d, &args);
            assert_eq!(r.code, 3, "{}", r.stderr);
            assert!(r.stderr.contains("mounted path"), "{}", r.stderr);
            assert_eq!(s.hashes(), before, "raw: written");
            return (s.norm_json(rep), refusal, None);
        }
        let done = ok(run_in(d, &args));
        assert_eq!(done["outcome"], "written", "{:?}", s.way);
        assert_eq!(done["hives"][0]["sequence_after"], 4318, "{:?}", s.way);
        (
            s.norm_json(rep),
            refusal,
            Some(sha256_file(&w.system_now(s))),
        )
    });
    let reports: Vec<_> = results.iter().map(|(r, f, _)| (r, f)).collect();
    assert_alike(&reports, rel);
    assert_eq!(results[0].2, results[2].2, "file and mount write the same");
    let (rep, refusal, _) = &results[0];
    assert_eq!(rep["verdict_source"], "stored");
    assert_eq!(rep["after_replay"]["replayed"], false);
    let stopped = rep["after_replay"]["replay"]["stopped"].as_str().unwrap();
    assert!(stopped.contains("no transaction log"), "{stopped}");
    assert!(refusal.contains("--allow-dirty-without-logs"), "{refusal}");
    let written = d.join("File.SYSTEM");
    assert_eq!(base_block(&written), (4318, 4318, true));
    let key = RDP.trim_start_matches('\\').to_uppercase();
    let mut want: Vec<(String, String)> = NLA
        .iter()
        .map(|v| (key.clone(), v.to_uppercase()))
        .collect();
    want.sort();
    assert_eq!(
        changed(&hivex_tree(&corpus_file(rel)), &hivex_tree(&written)),
        want
    );
}

/// A clean hive (Windows' recovered NewDirtyHive1, 6/6) beside a valid,
/// empty new-format LOG1 whose base block says 0xF0000000: 1 + the highest
/// (0xF0000001) is below 6 in wrap-around order, so no sequence number is
/// above both as a plain integer and with wrap-around, and `set` is refused
/// with nothing written. Without that log the same edit is written at 7.
#[test]
fn sequence_numbers_across_the_wrap_refuse_a_write() {
    let t = tmp();
    let d = t.path();
    let windows = corpus_file("other/yarp-logsets/NewDirtyHive1/RecoveredHive_Windows10");
    let h = copy_to(&windows, d, "HIVE");
    let mut log = std::fs::read(&h).unwrap()[..HEADER_SIZE].to_vec();
    put_u32(&mut log, OFF_FILE_TYPE, FILE_TYPE_LOG_NEW);
    let bins = u32::from_le_bytes(log[40..44].try_into().unwrap());
    set_clean(&mut log, 0xF000_0000, bins);
    std::fs::write(d.join("HIVE.LOG1"), &log).unwrap();
    let set = [
        "set", "HIVE", "SYSTEM", "Mark", "--type", "dword", "--data", "1", "--json",
    ];
    let before = sha256_file(&h);
    let r = run_in(d, &set);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("run from 0x6 to 0xf0000000"),
        "{}",
        r.stderr
    );
    assert_eq!(sha256_file(&h), before);
    std::fs::remove_file(d.join("HIVE.LOG1")).unwrap();
    assert_eq!(ok(run_in(d, &set))["hives"][0]["sequence_after"], 7);
}

/// `inspect` on SYSTEM_B lists every key and value the replay adds,
/// removes or changes over the whole tree: the same set hivex finds by
/// exporting the stored hive and the replayed image and comparing them.
#[test]
fn inspect_lists_every_change_the_replay_makes() {
    let t = tmp();
    let h = copy_set(
        "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B",
        t.path(),
        "SYSTEM",
    );
    let after = t.path().join("replayed");
    std::fs::write(&after, replayed(&h)).unwrap();
    let (a, b) = (hivex_tree(&h), hivex_tree(&after));
    let mut want_keys: Vec<String> = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    let mut want_values = Vec::new();
    let none = std::collections::BTreeMap::new();
    for k in a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (va, vb) = (a.get(k).unwrap_or(&none), b.get(k).unwrap_or(&none));
        for n in va
            .keys()
            .chain(vb.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            if va.get(n) != vb.get(n) {
                want_values.push((k.clone(), n.clone()));
            }
        }
    }
    // The tree changes are large: printed only with --detail, and made
    // only when the whole hive is read (--verify).
    let r = run_in(
        t.path(),
        &["inspect", "SYSTEM", "--verify", "--json", "--detail"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let tc = &r.json()["after_replay"]["tree_changes"];
    let mut got_keys: Vec<String> = tc["keys_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_uppercase())
        .collect();
    let mut got_values: Vec<(String, String)> = tc["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["key"].as_str().unwrap().to_uppercase(),
                v["value"].as_str().unwrap().to_uppercase(),
            )
        })
        .collect();
    for v in [&mut want_keys, &mut got_keys] {
        v.sort();
    }
    want_values.sort();
    got_values.sort();
    assert!(!want_values.is_empty(), "SYSTEM_B's replay changes values");
    assert_eq!(got_keys, want_keys, "keys added");
    assert!(tc["keys_removed"].as_array().unwrap().is_empty());
    assert_eq!(got_values.len(), want_values.len());
    assert_eq!(got_values, want_values, "values added, removed or changed");
}
