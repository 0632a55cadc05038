// SPDX-License-Identifier: GPL-2.0-or-later
//! Every device read and write of the real binary is whole aligned sectors
//! (what a Windows `\\.\PhysicalDriveN` demands): the debug-build hook
//! `NTRESCUE_STRICT_IO` puts a checker that refuses any unaligned offset,
//! length or buffer under every device the binary opens, and `inspect`,
//! `nla disable` and `restore` on a GPT disk image still give the same
//! reports and the same bytes as without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::*;

const HIVE: &str = "system/win7sp1-x86__regipy__SYSTEM";

/// A GPT disk image holding [`HIVE`] as SYSTEM with two zeroed logs.
fn gpt_disk(dir: &Path, name: &str) -> PathBuf {
    let tool = corpus().join("../tools/make-windows-disk");
    let zero = dir.join("zero-log");
    std::fs::write(&zero, vec![0u8; 64 << 10]).unwrap();
    let img = dir.join(name);
    let z = zero.to_str().unwrap();
    let o = Command::new(&tool)
        .args(["--size", "64M", "--log1", z, "--log2", z])
        .arg(corpus_file(HIVE))
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "make-windows-disk: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    img
}

/// `args` on `img` in `dir`, the hook set to `strict` when given.
fn run_strict(dir: &Path, strict: Option<&str>, args: &[&str]) -> Run {
    match strict {
        Some(s) => run_env(dir, args, &[("NTRESCUE_STRICT_IO", s)]),
        None => run_in(dir, args),
    }
}

/// The reports without the backup's time-stamped name.
fn without_backup(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("backup");
    }
    v
}

/// inspect, nla disable, inspect, restore with the checker at 512 and at
/// 4096 bytes equal the same runs without it, report for report and byte
/// for byte.
#[test]
fn aligned_device_io_only() {
    let t = tmp();
    let img = gpt_disk(t.path(), "disk.img");
    let orig = sha256_file(&img);
    let mut results = Vec::new();
    for strict in [None, Some("512"), Some("4096")] {
        let d = t.path().join(strict.unwrap_or("plain"));
        std::fs::create_dir_all(&d).unwrap();
        let copy = d.join("disk.img");
        std::fs::copy(&img, &copy).unwrap();
        let c = copy.to_str().unwrap();
        let inspect = ok(run_strict(&d, strict, &["inspect", c, "--json"]));
        let fix = ok(run_strict(
            &d,
            strict,
            &["nla", "disable", c, "--backup-dir", "bk", "--json"],
        ));
        assert_eq!(fix["outcome"], "written", "{strict:?}");
        let after = ok(run_strict(&d, strict, &["inspect", c, "--json"]));
        let fixed = sha256_file(&copy);
        assert_ne!(fixed, orig);
        let backup = fix["backup"].as_str().unwrap();
        ok(run_strict(&d, strict, &["restore", backup, "--json"]));
        assert_eq!(sha256_file(&copy), orig, "{strict:?}: restore");
        // Without the run facts (start time, command line).
        let strip = |mut v: Value| {
            if let Some(o) = v.as_object_mut() {
                o.remove("run");
            }
            let s = v.to_string().replace(c, "<img>");
            serde_json::from_str::<Value>(&s).unwrap()
        };
        results.push((
            strip(inspect),
            strip(without_backup(fix)),
            strip(after),
            fixed,
        ));
    }
    assert_eq!(results[0], results[1], "512-byte checked run differs");
    assert_eq!(results[0], results[2], "4096-byte checked run differs");
}

/// The checker is under the real binary's device reads, and refuses a
/// device that aligns to less than it demands (512-byte requests checked
/// against 4096-byte sectors): the hook is live and the check can fail.
#[test]
fn the_alignment_checker_refuses_short_alignment() {
    let t = tmp();
    let img = gpt_disk(t.path(), "disk.img");
    let orig = sha256_file(&img);
    let i = img.to_str().unwrap();
    let r = run_strict(t.path(), Some("4096:512"), &["inspect", i, "--json"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("unaligned device read") || r.stderr.contains("unaligned device read"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    let r = run_strict(
        t.path(),
        Some("4096:512"),
        &["nla", "disable", i, "--backup-dir", "bk", "--json"],
    );
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(sha256_file(&img), orig, "nothing written");
}
