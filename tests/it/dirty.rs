// SPDX-License-Identifier: GPL-2.0-or-later
//! Dirty hives through the real binary: replay exactly as Windows does,
//! then edit and write a reconciled, clean hive; logs untouched; refusals
//! where nothing can be replayed.

use std::path::{Path, PathBuf};

use ntrescue::regf::log::{recover, LogInput};

use crate::util::*;

const RDP: &str = r"\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
const NLA: [&str; 3] = [
    "SecurityLayer",
    "UserAuthentication",
    "fAllowSecProtocolNegotiation",
];

/// Copies `rel` (and its .LOG1/.LOG2) into `dir` as `name` / `name.LOGn`.
fn copy_set(rel: &str, dir: &Path, name: &str) -> PathBuf {
    let src = corpus_file(rel);
    let h = copy_to(&src, dir, name);
    for ext in ["LOG1", "LOG2"] {
        let log = src.with_file_name(format!(
            "{}.{ext}",
            src.file_name().unwrap().to_str().unwrap()
        ));
        if log.exists() {
            copy_to(&log, dir, &format!("{name}.{ext}"));
        }
    }
    h
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
    for (l, sha) in logs.iter().zip(&log_sha) {
        assert_eq!(&sha256_file(l), sha, "{} changed", l.display());
    }
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

/// Old-format (DIRT) logs: yarp's OldDirtyHive matches Windows 7's recovery.
#[test]
fn old_format_log_set_matches_windows_recovery() {
    let t = tmp();
    let d = t.path();
    let h = copy_set("other/yarp-logsets/OldDirtyHive/OldDirtyHive", d, "HIVE");
    let windows = corpus_file("other/yarp-logsets/OldDirtyHive/RecoveredHive_Windows7");
    let r = run_in(
        d,
        &[
            "set",
            "HIVE",
            "SYSTEM",
            "NtrescueMark",
            "--type",
            "sz",
            "--data",
            "x",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        changed(&hivex_tree(&windows), &hivex_tree(&h)),
        vec![(String::new(), "NTRESCUEMARK".to_string())]
    );
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
