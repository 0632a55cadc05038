// SPDX-License-Identifier: GPL-2.0-or-later
//! What a rescue host needs beside the rules: `--hash-source` through the
//! aligned device path, `diagnose --hash` against coreutils, and `locate`
//! leaving out the disk of the running Windows.

use std::path::{Path, PathBuf};

use super::diagnose::{config, W10};
use crate::util::*;

/// A GPT disk image holding the Windows 7 corpus SYSTEM hive, with 512
/// bytes after the last 4 KiB boundary (a length no 4 KiB read covers
/// exactly).
fn odd_disk(dir: &Path) -> PathBuf {
    let img = dir.join("disk.img");
    make_windows_disk(
        &["--size", "64M"],
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        &img,
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&img).unwrap();
    std::io::Write::write_all(&mut f, &[0x5a; 512]).unwrap();
    img
}

fn sum(tool: &str, p: &Path) -> String {
    peer(tool, &[p.to_str().unwrap()])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `--hash-source` reads the source through the one aligned device path:
/// with the checker that refuses any unaligned offset, length or buffer
/// (at 512 and 4096 bytes) it hashes the whole image, odd tail included,
/// to what md5sum and sha256sum say.
#[test]
fn hash_source_reads_through_the_aligned_device() {
    let t = tmp();
    let img = odd_disk(t.path());
    let (md5, sha256) = (sum("md5sum", &img), sum("sha256sum", &img));
    let i = img.to_str().unwrap();
    let args = [
        "inspect",
        i,
        "--hash-source",
        "--hash",
        "md5,sha256",
        "--json",
    ];
    for strict in [None, Some("512"), Some("4096")] {
        let r = match strict {
            Some(s) => run_env(t.path(), &args, &[("NTRESCUE_STRICT_IO", s)]),
            None => run_in(t.path(), &args),
        };
        let r = ok(r);
        assert_eq!(r["source_hashes"]["sha256"], sha256.as_str(), "{strict:?}");
        assert_eq!(r["source_hashes"]["md5"], md5.as_str(), "{strict:?}");
    }
    // The checker is under the hash: a device aligning less than it checks
    // is refused.
    let r = run_env(t.path(), &args, &[("NTRESCUE_STRICT_IO", "4096:512")]);
    assert_ne!(r.code, 0, "{}", r.stdout);
}

/// `diagnose --hash md5,sha1,sha256` lists each hive and log it read with
/// the digests coreutils computes; without it nothing is read whole.
#[test]
fn diagnose_hashes_the_hives_and_logs_it_reads() {
    let (t, _) = config(W10, true);
    let d = t.path();
    let r = ok(run_in(
        d,
        &["diagnose", "SYSTEM", "--hash", "md5,sha1,sha256", "--json"],
    ));
    let hives = r["hives"].as_array().unwrap();
    let system = &hives[0];
    assert_eq!(system["name"], "SYSTEM");
    let files = system["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{system:#}");
    let software = hives.iter().find(|h| h["name"] == "SOFTWARE").unwrap();
    let sw_files = software["files"].as_array().unwrap();
    assert_eq!(sw_files.len(), 1);
    for f in files.iter().chain(sw_files) {
        let p = Path::new(f["path"].as_str().unwrap());
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            d.join(p)
        };
        assert_eq!(f["md5"], sum("md5sum", &p), "{}", p.display());
        assert_eq!(f["sha1"], sum("sha1sum", &p), "{}", p.display());
        assert_eq!(f["sha256"], sum("sha256sum", &p), "{}", p.display());
    }
    let sam = hives.iter().find(|h| h["name"] == "SAM").unwrap();
    assert_eq!(sam["state"], "missing");
    assert_eq!(sam["files"], serde_json::json!([]));
    // Findings do not depend on how the hives were read.
    let plain = ok(run_in(d, &["diagnose", "SYSTEM", "--json"]));
    assert_eq!(plain["findings"], r["findings"]);
    assert_eq!(plain["hives"][0]["files"], serde_json::json!([]));
    let bad = run_in(d, &["diagnose", "SYSTEM", "--hash", "crc32"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

/// `locate` marks the disk holding the running Windows' system volume
/// (found by its NTFS serial) as `host` and does not look into it.
#[test]
fn locate_skips_the_host_system_disk() {
    use ntrescue::commands::locate::locate_with_host;
    use ntrescue::storage::sysfs::Roots;
    let t = tmp();
    let img = odd_disk(t.path());
    let paths = [img.clone()];
    let r = serde_json::to_value(locate_with_host(&paths, &Roots::default(), None)).unwrap();
    let disk = &r["disks"][0];
    assert_eq!(disk["host"], false);
    let part = disk["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| !p["windows"].is_null())
        .expect("a Windows partition");
    // In JSON a hex string: 0x and 16 digits.
    let text = part["volume"]["serial"].as_str().unwrap();
    let serial = u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap();
    let r = serde_json::to_value(locate_with_host(
        &paths,
        &Roots::default(),
        Some(serial.wrapping_add(1)),
    ))
    .unwrap();
    assert_eq!(r["disks"][0]["host"], false);
    assert!(!r["disks"][0]["partitions"].as_array().unwrap().is_empty());
    let r =
        serde_json::to_value(locate_with_host(&paths, &Roots::default(), Some(serial))).unwrap();
    let disk = &r["disks"][0];
    assert_eq!(disk["host"], true);
    assert_eq!(disk["partitions"], serde_json::json!([]));
    assert!(disk["notes"][0]
        .as_str()
        .unwrap()
        .contains("running Windows"));
}
