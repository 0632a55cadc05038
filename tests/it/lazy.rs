// SPDX-License-Identifier: GPL-2.0-or-later
//! Reading on demand: the default read path reads only the pages the report
//! needs, and reports the same values as the whole-file path (`--verify`).

use std::path::{Path, PathBuf};
use std::process::Command;

use ntrescue::commands::input::ReadMode;
use ntrescue::commands::inspect::inspect_with;
use ntrescue::storage::source::locate;
use serde_json::Value;

use crate::util::*;

/// The report without what only the whole-file path computes: the
/// primaries' sha256, the structure walk and the whole-tree comparison.
fn values_only(report: &impl serde::Serialize) -> Value {
    let mut v = serde_json::to_value(report).unwrap();
    let mut hives = vec!["/system".to_string()];
    if !v["software"].is_null() {
        hives.push("/software/hive".into());
    }
    for h in hives {
        let h = v.pointer_mut(&h).unwrap();
        h["file"]["sha256"] = Value::Null;
        h["structure"] = Value::Null;
    }
    if !v["after_replay"].is_null() {
        v["after_replay"]["tree_changes"] = Value::Null;
    }
    v
}

/// Inspects `source` both ways; returns the bytes read on demand and the
/// primary's size read whole, after checking that the reports agree.
fn both_ways(source: &Path) -> (ntrescue::storage::lazy::ReadStats, u64) {
    let located = locate(source).unwrap();
    let (lazy, stats) = inspect_with(&located, ReadMode::OnDemand).unwrap();
    let (whole, whole_stats) = inspect_with(&located, ReadMode::Whole).unwrap();
    assert!(lazy.system.file.sha256.is_none() && lazy.system.structure.is_none());
    assert!(whole.system.file.sha256.is_some());
    assert!(whole.system.structure.as_ref().unwrap().ok);
    assert_eq!(
        values_only(&lazy),
        values_only(&whole),
        "{}",
        source.display()
    );
    (stats, whole_stats.bytes)
}

#[test]
fn inspect_of_a_fragmented_image_reads_a_bounded_set_of_pages() {
    let t = tmp();
    let hive = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let zero = t.path().join("zero-log");
    std::fs::write(&zero, vec![0u8; 64 << 10]).unwrap();
    let img = t.path().join("frag.img");
    let z = zero.to_str().unwrap();
    let tool = corpus().join("../tools/make-windows-disk");
    let o = Command::new(&tool)
        .args(["--fragment", "--log1", z, "--log2", z])
        .arg(&hive)
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (stats, whole) = both_ways(&img);
    let size = std::fs::metadata(&hive).unwrap().len();
    assert!(whole >= size, "the whole path reads every byte");
    // Two zeroed 64 KiB logs are read whole; of the 11.8 MB primary only
    // the base block and the bins of the cells on the reported paths.
    assert!(stats.bytes <= 1 << 20, "read {stats:?} of {size} bytes");
    assert!(stats.pages >= 2 && stats.reads <= stats.pages, "{stats:?}");
    // The binary reports the same with and without --verify.
    let i = img.to_str().unwrap();
    let a = ok(run_in(t.path(), &["inspect", i, "--json"]));
    let b = ok(run_in(t.path(), &["inspect", i, "--verify", "--json"]));
    assert_eq!(a["system"]["file"]["sha256"], Value::Null);
    assert_eq!(b["system"]["file"]["sha256"], sha256_file(&hive));
    assert_eq!(a["control_sets"], b["control_sets"]);
    assert_eq!(a["verdict"], b["verdict"]);
}

#[test]
fn dirty_hive_on_demand_equals_the_whole_file_path() {
    let t = tmp();
    let name = "win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";
    let dir = t.path();
    let sys: PathBuf = copy_to(&corpus_file(&format!("system/{name}")), dir, "SYSTEM");
    for ext in ["LOG1", "LOG2"] {
        copy_to(
            &corpus_file(&format!("system/{name}.{ext}")),
            dir,
            &format!("SYSTEM.{ext}"),
        );
    }
    let (stats, whole) = both_ways(&sys);
    let logs: u64 = 3_163_136 + 3_211_264;
    // The logs are read whole; of the primary far less than all of it.
    assert!(stats.bytes < logs + whole / 4, "{stats:?}");
    let r = inspect_with(&locate(&sys).unwrap(), ReadMode::OnDemand)
        .unwrap()
        .0;
    let a = r.after_replay.as_ref().unwrap();
    assert!(a.replayed && !a.replay.applied.is_empty());
}

#[test]
fn clean_hive_on_demand_equals_the_whole_file_path() {
    for rel in [
        "system/win7sp1-x86__regipy__SYSTEM",
        "system/winxpsp3-x86__bitcurator__SYSTEM",
        "system/win10-10240-minimal__qthivex__SYSTEM",
    ] {
        let (stats, whole) = both_ways(&corpus_file(rel));
        assert!(stats.bytes < whole, "{rel}: {stats:?}");
    }
}
