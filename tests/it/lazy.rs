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
/// primaries' sha256, the structure walk and the whole-tree comparison;
/// and beside a clean primary (whose logs are read only by the whole-file
/// path) the logs' sha256 and the sequence numbers seen in them.
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
        if h["base_block"]["dirty"] == false {
            for l in h["logs"].as_array_mut().unwrap() {
                l["sha256"] = Value::Null;
            }
            h["max_sequence_seen"] = Value::Null;
        }
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
    // The logs are read (and hashed) on demand only beside a dirty primary.
    let dirty = lazy.system.base_block.dirty;
    for l in &lazy.system.logs {
        assert_eq!(l.sha256.is_some(), dirty, "{}: {l:?}", source.display());
    }
    assert_eq!(
        lazy.system.max_sequence_seen.is_some(),
        dirty || lazy.system.logs.is_empty()
    );
    assert!(whole.system.logs.iter().all(|l| l.sha256.is_some()));
    assert!(whole.system.max_sequence_seen.is_some());
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
    let zero = zero_log(t.path());
    let img = t.path().join("frag.img");
    let z = zero.to_str().unwrap();
    make_windows_disk(&["--fragment", "--log1", z, "--log2", z], &hive, &img);
    let (stats, whole) = both_ways(&img);
    let size = std::fs::metadata(&hive).unwrap().len();
    assert!(whole >= size, "the whole path reads every byte");
    // The primary is clean: its two 64 KiB logs are not read; of the
    // 11.8 MB primary only the base block and the bins of the cells on the
    // reported paths.
    assert!(stats.bytes <= 1 << 20, "read {stats:?} of {size} bytes");
    assert!(stats.pages >= 2 && stats.reads <= stats.pages, "{stats:?}");
    // Everything the binary reads from the image, as the kernel sees it:
    // the partition table, the NTFS metadata that locates the hives, the
    // hive pages and the logs, each byte once.
    let r = image_reads(t.path(), &img, &["inspect", "--json"]);
    assert!(r.bytes <= 1 << 20 && r.reads >= r.preads, "{r:?}");
    assert_eq!(
        r.distinct, r.preads,
        "a positioned read was repeated: {r:?}"
    );
    // The binary reports the same with and without --verify.
    let i = img.to_str().unwrap();
    let a = ok(run_in(t.path(), &["inspect", i, "--json"]));
    let b = ok(run_in(t.path(), &["inspect", i, "--verify", "--json"]));
    assert_eq!(a["system"]["file"]["sha256"], Value::Null);
    assert_eq!(b["system"]["file"]["sha256"], sha256_file(&hive));
    assert_eq!(a["control_sets"], b["control_sets"]);
    assert_eq!(a["verdict"], b["verdict"]);
}

/// `args` with `image` in place of `IMAGE`, or after them.
fn with_image(args: &[&str], image: &Path) -> Vec<String> {
    let img = image.to_str().unwrap().to_string();
    let mut v: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == "IMAGE" {
                img.clone()
            } else {
                a.to_string()
            }
        })
        .collect();
    if !args.contains(&"IMAGE") {
        v.push(img);
    }
    v
}

/// What a run read from an image, as strace saw it.
#[derive(Debug)]
struct ImageReads {
    /// Bytes read (`read` and `pread64`, through any descriptor).
    bytes: u64,
    /// Calls that read something.
    reads: u64,
    /// Of which positioned reads.
    preads: u64,
    /// Distinct (offset, length) positioned reads.
    distinct: u64,
}

/// Runs the binary with `args` and `image` under strace: what it read from
/// `image` (given in place of an `IMAGE` argument, else after the others).
fn image_reads(dir: &Path, image: &Path, args: &[&str]) -> ImageReads {
    require_tool("strace");
    let log = dir.join("strace.log");
    let o = Command::new("strace")
        .args(["-f", "-qq", "-y", "-e", "trace=read,pread64", "-o"])
        .arg(&log)
        .arg(bin())
        .args(with_image(args, image))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&log).unwrap();
    let want = format!("<{}>", std::fs::canonicalize(image).unwrap().display());
    let (mut bytes, mut reads, mut preads) = (0u64, 0u64, 0u64);
    let mut seen = std::collections::HashSet::new();
    // A call another thread interrupted is split in two lines: the file is
    // on the first ("<unfinished ...>"), the result on the second.
    let mut pending: std::collections::HashMap<String, (bool, String)> = Default::default();
    for line in text.lines() {
        let pid = line.split_whitespace().next().unwrap_or("").to_string();
        let (ours, call) = if line.contains("<unfinished ...>") {
            pending.insert(pid, (line.contains(&want), line.to_string()));
            continue;
        } else if line.contains(" resumed>") {
            match pending.remove(&pid) {
                Some((ours, first)) => (ours, format!("{first}{line}")),
                None => continue,
            }
        } else {
            (line.contains(&want), line.to_string())
        };
        let Some(n) = call
            .rsplit(" = ")
            .next()
            .and_then(|r| r.trim().parse::<u64>().ok())
        else {
            continue;
        };
        if ours && n > 0 {
            bytes += n;
            reads += 1;
            if call.contains("pread64(") {
                preads += 1;
                // pread64(fd, buf, count, offset): the last two arguments.
                let args = call.rsplit_once(')').map_or("", |(a, _)| a);
                let key: Vec<&str> = args.rsplit(", ").take(2).collect();
                seen.insert(key.join(","));
            }
        }
    }
    ImageReads {
        bytes,
        reads,
        preads,
        distinct: seen.len() as u64,
    }
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

/// A fix reads the hive it edits whole, and SOFTWARE, read only for the
/// Group Policy warning, on demand: on a disk whose SOFTWARE is 11.8 MB the
/// `nla disable` reads under 2 MiB from the image in all, and reports
/// SOFTWARE unhashed and consulted.
#[test]
fn a_fix_reads_the_software_it_only_consults_on_demand() {
    let t = tmp();
    let big = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let system = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/system-modern.hive");
    let img = t.path().join("disk.img");
    let software = format!("SOFTWARE={}", big.display());
    // Allocated logs, as Windows keeps them: room for the fix's entry.
    let zero = zero_log(t.path());
    let z = zero.to_str().unwrap();
    make_windows_disk(
        &["--hive", &software, "--log1", z, "--log2", z],
        &system,
        &img,
    );
    let i = img.to_str().unwrap();
    let r = image_reads(
        t.path(),
        &img,
        &["nla", "disable", "--backup-dir", "bk", "--json"],
    );
    assert!(r.bytes <= 2 << 20, "the fix read {r:?}");
    // The same fix again (nothing to do now) says how SOFTWARE was read.
    let doc = ok(run_in(
        t.path(),
        &["nla", "disable", i, "--backup-dir", "bk", "--json"],
    ));
    let hives = doc["hives"].as_array().unwrap();
    let sw = hives
        .iter()
        .find(|h| h["name"] == "SOFTWARE")
        .expect("SOFTWARE reported");
    assert_eq!(sw["file"]["sha256"], Value::Null, "{sw}");
    assert_eq!(sw["file"]["size"], std::fs::metadata(&big).unwrap().len());
    let sys = hives.iter().find(|h| h["name"] == "SYSTEM").unwrap();
    assert!(sys["file"]["sha256"].is_string(), "{sys}");
    let checks = doc["checks"].to_string();
    assert!(
        checks.contains("SOFTWARE: read for Group Policy warnings only, on demand"),
        "{checks}"
    );
}

/// A damaged SOFTWARE beside SYSTEM, consulted only for the Group Policy
/// warning, is a warning, never a stop of the fix and never silence: one
/// whose base block is broken is ignored (saying so), one whose root cell
/// offset points past the hive leaves the policy values unreadable (saying
/// so).
#[test]
fn a_damaged_consulted_software_is_a_warning() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures");
    let good = std::fs::read(fixtures.join("software.hive")).unwrap();
    let mut bad_root = good.clone();
    // The root cell offset (base block 0x24) pointed past the hive, with
    // the base block's checksum (XOR of its first 127 words) made right.
    bad_root[0x24..0x28].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    let sum = bad_root[..0x1FC]
        .chunks_exact(4)
        .fold(0u32, |a, w| a ^ u32::from_le_bytes(w.try_into().unwrap()));
    let sum = match sum {
        0 => 1,
        u32::MAX => u32::MAX - 1,
        s => s,
    };
    bad_root[0x1FC..0x200].copy_from_slice(&sum.to_le_bytes());
    let mut bad_block = good.clone();
    bad_block[0..4].copy_from_slice(b"junk");
    for (what, software, code, says) in [
        ("root", bad_root, "policy-unreadable", "could not be read"),
        (
            "base block",
            bad_block,
            "software-unreadable",
            "SOFTWARE ignored",
        ),
    ] {
        let t = tmp();
        copy_to(&fixtures.join("system-modern.hive"), t.path(), "SYSTEM");
        std::fs::write(t.path().join("SOFTWARE"), &software).unwrap();
        let r = run_in(
            t.path(),
            &["nla", "disable", "SYSTEM", "--backup-dir", "bk", "--json"],
        );
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        let doc = r.json();
        assert_eq!(doc["outcome"], "written", "{what}: {doc}");
        let warnings = doc["warnings"].to_string();
        assert!(warnings.contains(says), "{what}: {warnings}");
        let issues = doc["issues"].to_string();
        assert!(issues.contains(code), "{what}: {issues}");
    }
}

/// A disk image in `dir` holding the Windows 7 SYSTEM and the Windows 10
/// SAM and SECURITY of the corpus (`make-windows-disk`).
fn account_disk(dir: &Path) -> PathBuf {
    let acc = "accounts/win10__rathbunvm";
    let img = dir.join("disk.img");
    let mut args = Vec::new();
    for h in ["SAM", "SECURITY"] {
        args.push("--hive".to_string());
        args.push(format!(
            "{h}={}",
            corpus_file(&format!("{acc}/{h}")).display()
        ));
    }
    make_windows_disk(
        &args,
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        &img,
    );
    img
}

/// On a disk holding SYSTEM, SAM and SECURITY (real hives, with logs),
/// `inspect` reads the account hives for its verdict as `diagnose` does:
/// on demand, through the disk that located Windows, so that no positioned
/// read is repeated, and not more than a few pages beyond what `diagnose`
/// reads in all.
#[test]
fn inspect_reads_the_account_hives_on_demand_as_diagnose_does() {
    let t = tmp();
    let img = account_disk(t.path());
    let i = image_reads(t.path(), &img, &["inspect", "--json"]);
    let d = image_reads(t.path(), &img, &["diagnose", "--json"]);
    for r in [&i, &d] {
        assert_eq!(
            r.distinct, r.preads,
            "a positioned read was repeated: {r:?}"
        );
    }
    // The same hives, read the same way: inspect's own sections (the
    // computer name, the per-set table) add a few pages the rules do not
    // read, nothing more.
    assert!(
        i.bytes <= d.bytes + (16 << 10),
        "inspect {i:?}, diagnose {d:?}"
    );
    // SAM and SECURITY were read: their rows are checked.
    let doc = ok(run_in(
        t.path(),
        &["inspect", img.to_str().unwrap(), "--json"],
    ));
    assert_eq!(doc["verdict"]["hives_not_read"], serde_json::json!([]));
    let rows = doc["verdict"]["not_checked"].to_string();
    assert!(!rows.contains("SAM"), "{rows}");
}

/// `get` and `account list` read on demand what they report (SYSTEM is
/// 11.8 MB here; a few hundred KiB of it are read), the same values as
/// `--verify`, which reads SYSTEM whole and hashes it.
#[test]
fn get_and_account_list_read_on_demand_and_verify_reads_whole() {
    let t = tmp();
    let img = account_disk(t.path());
    let system = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let size = std::fs::metadata(&system).unwrap().len();
    let rdp = r"SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp";
    let get = ["get", "--json", "IMAGE", rdp, "SecurityLayer"];
    let cases: [(&[&str], &[&str]); 2] = [
        (
            &get,
            &["get", "--verify", "--json", "IMAGE", rdp, "SecurityLayer"],
        ),
        (
            &["account", "list", "--json"],
            &["account", "list", "--verify", "--json"],
        ),
    ];
    for (lazy, whole) in cases {
        let l = image_reads(t.path(), &img, lazy);
        let w = image_reads(t.path(), &img, whole);
        assert!(l.bytes < size / 8, "{lazy:?} read {l:?}");
        assert!(w.bytes > size, "{whole:?} read {w:?}");
        let run = |args: &[&str]| {
            let args = with_image(args, &img);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(run_in(t.path(), &args))
        };
        let (a, b) = (run(lazy), run(whole));
        if lazy[0] == "get" {
            assert_eq!(a["entries"], b["entries"]);
            assert_eq!(a["file"]["sha256"], serde_json::Value::Null);
            assert!(b["file"]["sha256"].is_string());
        } else {
            assert_eq!(a["model"], b["model"]);
            let sys = |d: &serde_json::Value| {
                d["hives"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|h| h["name"] == "SYSTEM")
                    .unwrap()["file"]["sha256"]
                    .clone()
            };
            assert_eq!(sys(&a), serde_json::Value::Null);
            assert!(sys(&b).is_string());
        }
    }
}
