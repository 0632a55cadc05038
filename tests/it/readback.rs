// SPDX-License-Identifier: GPL-2.0-or-later
//! The post-write read-back comes from the storage, not the page cache:
//! the written file (or the raw device) is opened again with `O_DIRECT`
//! where the file system allows and every byte written is read through
//! that handle (an strace log of the real binary shows both), the report
//! says how it was read, and the `after_sha256` is the file's own hash on
//! disk, taken independently here.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// Whether the file system holding `dir` accepts `O_DIRECT` opens (tmpfs
/// does not), asked of Python's `os.open`, not of ntrescue.
fn direct_ok(dir: &Path) -> bool {
    let probe = dir.join(".direct-probe");
    std::fs::write(&probe, vec![0u8; 4096]).unwrap();
    let ok = Command::new("python3")
        .args([
            "-c",
            "import os,sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT))",
            probe.to_str().unwrap(),
        ])
        .status()
        .unwrap()
        .success();
    std::fs::remove_file(&probe).unwrap();
    ok
}

/// The lines of an strace log that open `name` with O_DIRECT.
fn direct_opens(log: &str, name: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("openat(") && l.contains(name) && l.contains("O_DIRECT"))
        .count()
}

/// A byte range of a file, `(start, end)`.
type Span = (u64, u64);

/// From an strace log (`-f`, openat/close/lseek/write/pwrite64/pread64),
/// the byte ranges written to the file `name` (as opened: relative to the
/// working directory, or absolute under it) and those read from it through
/// an O_DIRECT handle.
fn written_and_direct_reads(log: &str, cwd: &Path, name: &str) -> (Vec<Span>, Vec<Span>) {
    use std::collections::HashMap;
    let full = cwd.join(name);
    let mut pending: HashMap<String, String> = HashMap::new();
    // fd -> (is the target, direct, position)
    let mut fds: HashMap<i64, (bool, bool, u64)> = HashMap::new();
    let (mut written, mut direct) = (Vec::new(), Vec::new());
    let num = |s: &str| s.trim().parse::<i64>().ok();
    for raw in log.lines() {
        let (pid, rest) = raw.split_once(' ').unwrap_or(("", raw));
        let rest = rest.trim_start();
        let line = if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid.to_string(), head.to_string());
            continue;
        } else if let Some((_, tail)) = rest.split_once(" resumed>") {
            format!("{}{tail}", pending.remove(pid).unwrap_or_default())
        } else {
            rest.to_string()
        };
        let Some((call, result)) = line.rsplit_once(" = ") else {
            continue;
        };
        let call = call.trim_end().trim_end_matches(')');
        let Some(ret) = num(result.split_whitespace().next().unwrap_or("")) else {
            continue;
        };
        let (fname, args) = call.split_once('(').unwrap_or(("", ""));
        let parts: Vec<&str> = args.split(", ").collect();
        let fd = num(parts.first().copied().unwrap_or(""));
        match fname {
            "openat" if ret >= 0 => {
                let path = args.split('"').nth(1).unwrap_or("");
                let target = path == name || Path::new(path) == full;
                fds.insert(ret, (target, args.contains("O_DIRECT"), 0));
            }
            "close" => {
                if let Some(fd) = fd {
                    fds.remove(&fd);
                }
            }
            "lseek" => {
                if let Some(f) = fd.and_then(|fd| fds.get_mut(&fd)) {
                    f.2 = ret as u64;
                }
            }
            "write" | "pwrite64" | "pread64" if ret > 0 => {
                let Some(f) = fd.and_then(|fd| fds.get_mut(&fd)) else {
                    continue;
                };
                let at = if fname == "write" {
                    let at = f.2;
                    f.2 += ret as u64;
                    at
                } else {
                    num(parts.last().unwrap()).unwrap() as u64
                };
                if f.0 && fname != "pread64" {
                    written.push((at, at + ret as u64));
                } else if f.0 && f.1 {
                    direct.push((at, at + ret as u64));
                }
            }
            _ => {}
        }
    }
    (written, direct)
}

/// Every written byte lies in a range read through the O_DIRECT handle,
/// and those reads are far less than the whole file.
fn assert_written_read_directly(log: &str, cwd: &Path, name: &str, file_len: u64) {
    let (written, direct) = written_and_direct_reads(log, cwd, name);
    assert!(!written.is_empty(), "no write to {name} in the log:\n{log}");
    for (a, b) in &written {
        assert!(
            direct.iter().any(|(c, d)| c <= a && b <= d),
            "bytes {a:#x}..{b:#x} of {name} were written but not read back directly: {direct:x?}"
        );
    }
    let read: u64 = direct.iter().map(|(a, b)| b - a).sum();
    assert!(
        read < file_len / 4,
        "{read} bytes read directly, of {file_len}"
    );
}

fn strace_fix(cwd: &Path, target: &str) -> (serde_json::Value, String) {
    require_tool("strace");
    let log = cwd.join("strace.log");
    let o = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,close,lseek,write,pwrite64,pread64",
            "-o",
        ])
        .arg(&log)
        .arg(bin())
        .args(["nla", "disable", target, "--backup-dir", "bk", "--json"])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (doc, std::fs::read_to_string(&log).unwrap())
}

fn system_write(doc: &serde_json::Value) -> &serde_json::Value {
    let h = doc["hives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "SYSTEM")
        .expect("SYSTEM in hives");
    &h["write"]
}

/// A hive file: read back through an O_DIRECT handle (the strace log shows
/// the open), reported as `direct`, and the reported hash is the file's.
#[test]
fn a_hive_file_is_read_back_around_the_page_cache() {
    let t = tmp();
    let hive = copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        t.path(),
        "SYSTEM",
    );
    let (doc, log) = strace_fix(t.path(), "SYSTEM");
    let w = system_write(&doc);
    assert_eq!(w["after_sha256"], sha256_file(&hive));
    if direct_ok(t.path()) {
        assert_eq!(w["read_back"]["mode"], "direct", "{w}");
        assert!(
            direct_opens(&log, "SYSTEM") >= 1,
            "no O_DIRECT open:\n{log}"
        );
        let len = std::fs::metadata(&hive).unwrap().len();
        assert_written_read_directly(&log, t.path(), "SYSTEM", len);
    } else {
        assert_eq!(w["read_back"]["mode"], "cached", "{w}");
        assert!(w["read_back"]["why"].as_str().unwrap().contains("refused"));
    }
    let checks = doc["checks"].to_string();
    assert!(checks.contains("read back"), "{checks}");
}

/// A raw NTFS volume image: the image is opened again with O_DIRECT for the
/// read-back, and the file extracted by sleuthkit hashes to what was
/// reported.
#[test]
fn a_raw_volume_is_read_back_around_the_page_cache() {
    let t = tmp();
    let src = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let vol = volume(
        t.path(),
        "vol.img",
        48,
        4096,
        0,
        &[("Windows/System32/config/SYSTEM", src)],
        &[],
    );
    let (doc, log) = strace_fix(t.path(), "vol.img");
    let w = system_write(&doc);
    let out = t.path().join("extracted");
    icat(&vol, 0, "Windows/System32/config/SYSTEM", &out);
    assert_eq!(w["after_sha256"], sha256_file(&out));
    if direct_ok(t.path()) {
        assert_eq!(w["read_back"]["mode"], "direct", "{w}");
        assert!(
            direct_opens(&log, "vol.img") >= 1,
            "no O_DIRECT open:\n{log}"
        );
        let len = std::fs::metadata(&out).unwrap().len();
        assert_written_read_directly(&log, t.path(), "vol.img", len);
    } else {
        assert_eq!(w["read_back"]["mode"], "cached", "{w}");
    }
}

/// Through an ntfs-3g (FUSE) mount the kernel may refuse O_DIRECT: either
/// way the report says how the file was read, with the reason when cached.
#[test]
fn a_mounted_tree_says_how_it_was_read_back() {
    let t = tmp();
    let src = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let vol = volume(
        t.path(),
        "vol.img",
        48,
        4096,
        0,
        &[("Windows/System32/config/SYSTEM", src)],
        &[],
    );
    let mnt = t.path().join("mnt");
    let _m = Mount::new(&vol, &mnt);
    let (doc, _) = strace_fix(t.path(), "mnt");
    let w = system_write(&doc);
    assert_eq!(
        w["after_sha256"],
        sha256_file(&mnt.join("Windows/System32/config/SYSTEM"))
    );
    let direct = direct_ok(&mnt.join("Windows/System32/config"));
    match w["read_back"]["mode"].as_str() {
        Some("direct") => assert!(
            direct,
            "direct read-back where python could not open O_DIRECT"
        ),
        Some("cached") => {
            assert!(!direct, "cached read-back where O_DIRECT opens work: {w}");
            assert!(!w["read_back"]["why"].as_str().unwrap().is_empty());
        }
        other => panic!("read_back mode {other:?}: {w}"),
    }
}

/// `--output`: the statistics come from the new file as read back.
#[test]
fn output_statistics_come_from_the_written_file() {
    let t = tmp();
    copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        t.path(),
        "SYSTEM",
    );
    let r = run_in(
        t.path(),
        &["nla", "disable", "SYSTEM", "--output", "new.hive", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    let w = system_write(&doc);
    let out = t.path().join("new.hive");
    assert_eq!(w["after_sha256"], sha256_file(&out));
    assert_eq!(w["bytes"], std::fs::metadata(&out).unwrap().len());
    assert!(w["read_back"]["mode"].is_string(), "{w}");
}
