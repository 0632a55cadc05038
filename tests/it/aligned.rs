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
    let zero = zero_log(dir);
    let img = dir.join(name);
    let z = zero.to_str().unwrap();
    make_windows_disk(
        &["--size", "64M", "--log1", z, "--log2", z],
        &corpus_file(HIVE),
        &img,
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

/// The reports without the backup's time-stamped name (top level and `end`).
fn without_backup(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("backup");
        if let Some(end) = o.get_mut("end").and_then(Value::as_object_mut) {
            end.remove("backup");
        }
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

/// Data syscalls that move a file's bytes: each one on the source must be
/// a positioned read or write made by the device path.
const DATA_CALLS: &str = "read,readv,pread64,preadv,preadv2,write,writev,pwrite64,pwritev,\
                          pwritev2,mmap,sendfile,copy_file_range,splice";

/// A data syscall on the source: its name, offset and length (`None`
/// for a call that is not `pread64`/`pwrite64`).
type Traced = (String, Option<u64>, Option<u64>);

/// Runs ntrescue under strace (one trace file per thread, fd paths shown)
/// with the checker at 4096 bytes and its request log on. Returns each
/// data syscall made on `target` (name, offset, length; offset and length
/// are `None` for calls that are not `pread64`/`pwrite64`) and the log.
fn traced(dir: &Path, target: &Path, args: &[&str]) -> (Vec<Traced>, Vec<(String, u64, u64)>) {
    let traces = dir.join("trace");
    let log = dir.join("strict.log");
    let _ = std::fs::remove_file(&log);
    let out = Command::new("strace")
        .args(["-ff", "-qq", "-y", "-s", "0", "-e"])
        .arg(format!("trace={DATA_CALLS}"))
        .arg("-o")
        .arg(&traces)
        .arg(bin())
        .args(args)
        .current_dir(dir)
        .env("NTRESCUE_STRICT_IO", "4096")
        .env("NTRESCUE_STRICT_IO_LOG", &log)
        .env_remove("NTRESCUE_FAULT")
        .env("NO_COLOR", "1")
        .output()
        .expect("run strace");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let real = target.canonicalize().unwrap();
    let tag = format!("<{}>", real.display());
    // One file per thread, `trace.PID`: the main thread's (the lowest id)
    // first, so the first call listed is the first the process made.
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let pid = p
                .file_name()?
                .to_str()?
                .strip_prefix("trace.")?
                .parse()
                .ok()?;
            Some((pid, p))
        })
        .collect();
    files.sort();
    let mut calls = Vec::new();
    for (_, p) in files {
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            if !line.contains(&tag) {
                continue;
            }
            let call = line.split('(').next().unwrap().to_string();
            // `pread64(3</path>, ""..., LENGTH, OFFSET) = N`
            let (args, _) = line.rsplit_once(") = ").unwrap_or((line, ""));
            let mut tail = args.rsplitn(3, ", ");
            let off = tail.next().and_then(|s| s.trim().parse().ok());
            let len = tail.next().and_then(|s| s.trim().parse().ok());
            let positioned = call == "pread64" || call == "pwrite64";
            calls.push((call, off.filter(|_| positioned), len.filter(|_| positioned)));
        }
        std::fs::remove_file(&p).unwrap();
    }
    let logged = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    (calls, logged)
}

/// Every read of the source that the kernel sees — from the very first
/// one, which tells what the source is (evidence or virtual-disk
/// container, blank disk, disk or hive), to the hash of the whole image —
/// is a `pread64` of whole 4096-byte units at a 4096-byte offset that went
/// through the device path's checker: the checker's log holds each one.
/// A probe with a plain `read` of 16 or 512 bytes, or a positioned read
/// made beside the device, fails here.
#[test]
fn every_read_of_the_source_goes_through_the_device() {
    require_tool("strace");
    let t = tmp();
    let img = gpt_disk(t.path(), "disk.img");
    let i = img.to_str().unwrap();
    for args in [
        vec!["inspect", i, "--json", "--hash-source"],
        vec!["locate", i, "--json"],
        vec!["get", i, r"SYSTEM\Select", "--json"],
    ] {
        let (calls, logged) = traced(t.path(), &img, &args);
        assert!(!calls.is_empty(), "{args:?}: no read of the image traced");
        let mut left = logged.clone();
        for (call, off, len) in &calls {
            let (Some(off), Some(len)) = (off, len) else {
                panic!("{args:?}: {call} on the image, outside the device path");
            };
            assert!(
                off % 4096 == 0 && len % 4096 == 0 && *len > 0,
                "{args:?}: {call} of {len} bytes at {off}"
            );
            let op = if call == "pread64" { "r" } else { "w" };
            let at = left
                .iter()
                .position(|(o, a, l)| o == op && a == off && l == len)
                .unwrap_or_else(|| {
                    panic!("{args:?}: {call} of {len} bytes at {off} did not pass the checker")
                });
            left.swap_remove(at);
        }
        // The first read is the probe of the source's first sectors.
        assert_eq!(calls[0].1, Some(0), "{args:?}: {calls:?}");
    }
}
