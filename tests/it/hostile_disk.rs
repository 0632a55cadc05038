// SPDX-License-Identifier: GPL-2.0-or-later
//! Hostile and damaged disks and files, through the real binary: a FAT
//! directory whose cluster chain loops, an NTFS directory index entry of
//! length 0 (the `ntfs` crate panicked on it), a sparse file starting with
//! `regf`. Each input is built here from real tools (mkfs.vfat, mtools,
//! mkntfs, ntfs-3g, make-windows-disk) and corpus hives; no command may
//! panic, hang (the child is killed past its deadline and the test fails),
//! or use memory beyond its input.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::hostile::run_limited;
use crate::util::*;

/// Address-space limit for runs on the disks below (KiB): far above what
/// reading a 32 KiB store or a small hive needs.
const AS_KIB: u64 = 2 << 20;

/// Little-endian fields of a FAT32 boot sector (Microsoft FAT
/// specification, fatgen103, "Boot Sector and BPB").
fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

/// A FAT32 EFI system partition image (512-byte clusters: a directory
/// cluster holds 16 entries) with `EFI\Microsoft\Boot` holding 40 small
/// files and then `BCD`, so the directory spans three clusters and `BCD`
/// is not in the first. Returns the image and the first cluster of the
/// `Boot` directory.
fn esp_with_full_boot_dir(dir: &Path) -> (PathBuf, u64) {
    let esp = dir.join("esp.img");
    sh(
        "mkfs.vfat",
        &[
            "-F",
            "32",
            "-s",
            "1",
            "-S",
            "512",
            "-C",
            esp.to_str().unwrap(),
            "102400",
        ],
    );
    let e = esp.to_str().unwrap();
    sh(
        "mmd",
        &["-i", e, "::EFI", "::EFI/Microsoft", "::EFI/Microsoft/Boot"],
    );
    let filler = dir.join("F.DAT");
    std::fs::write(&filler, b"x").unwrap();
    for i in 0..40 {
        sh(
            "mcopy",
            &[
                "-i",
                e,
                filler.to_str().unwrap(),
                &format!("::EFI/Microsoft/Boot/F{i:02}.DAT"),
            ],
        );
    }
    let bcd = corpus_file("other/real/regipy__BCD");
    sh(
        "mcopy",
        &["-i", e, bcd.to_str().unwrap(), "::EFI/Microsoft/Boot/BCD"],
    );
    // mshowfat prints the directory's clusters: "::/EFI/Microsoft/Boot <5> <21> <38>".
    let chain = peer("mshowfat", &["-i", e, "::EFI/Microsoft/Boot"]);
    let first: u64 = chain
        .split('<')
        .nth(1)
        .and_then(|s| s.split(['>', '-']).next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("mshowfat: {chain}"));
    let clusters = chain.matches('<').count();
    assert!(clusters >= 2, "the Boot directory spans clusters: {chain}");
    (esp, first)
}

/// Points the FAT entry of `cluster` at itself in every FAT copy.
fn loop_cluster(esp: &Path, cluster: u64) {
    let mut img = std::fs::read(esp).unwrap();
    let bps = le(&img, 11, 2);
    let reserved = le(&img, 14, 2);
    let fats = le(&img, 16, 1);
    let fat_sectors = le(&img, 36, 4);
    for k in 0..fats {
        let at = ((reserved + k * fat_sectors) * bps + cluster * 4) as usize;
        let old = le(&img, at, 4) as u32;
        // FAT32 entries are 28 bits; the top 4 are kept.
        let new = (old & 0xF000_0000) | cluster as u32;
        img[at..at + 4].copy_from_slice(&new.to_le_bytes());
    }
    std::fs::write(esp, img).unwrap();
}

/// A GPT disk from make-windows-disk (ESP of 100 MiB at 1 MiB, MSR,
/// Windows, Recovery) with `esp` written over its EFI system partition.
fn disk_with_esp(dir: &Path, esp: &Path) -> PathBuf {
    use std::io::{Seek, SeekFrom, Write};
    let img = dir.join("disk.img");
    make_windows_disk(
        &["--extra-parts"],
        &crate::hostile::fixture(crate::hostile::MODERN),
        &img,
    );
    let mut out = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    out.seek(SeekFrom::Start(1 << 20)).unwrap();
    out.write_all(&std::fs::read(esp).unwrap()).unwrap();
    img
}

/// A directory of the EFI system partition whose cluster chain loops (the
/// first cluster of `EFI\Microsoft\Boot`, full of entries, names itself
/// as next): the FAT library would read it for ever looking for `BCD`.
/// `diagnose` on the disk finishes within seconds and lists row 29 as not
/// checked, naming the FAT volume, the loop and a byte offset inside the
/// partition; the other rows are still checked.
#[test]
fn a_looping_fat_directory_chain_is_not_a_hang() {
    let t = tmp();
    let d = t.path();
    let (esp, first) = esp_with_full_boot_dir(d);
    // The undamaged volume: the store is found (row 29 checked).
    let good = disk_with_esp(d, &esp);
    let r = run_limited(d, &["diagnose", "disk.img", "--json"], AS_KIB, 60);
    let rows29 = |r: &serde_json::Value| -> Vec<String> {
        r["not_checked"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["rows"].as_array().unwrap().contains(&29.into()))
            .map(|n| n["reason"].as_str().unwrap().to_string())
            .collect()
    };
    let j = r.json();
    assert!(rows29(&j).is_empty(), "{:#}", j["not_checked"]);
    std::fs::remove_file(&good).unwrap();

    loop_cluster(&esp, first);
    disk_with_esp(d, &esp);
    let start = std::time::Instant::now();
    let r = run_limited(d, &["diagnose", "disk.img", "--json"], AS_KIB, 60);
    let took = start.elapsed();
    let j = r.json();
    let why = rows29(&j);
    assert_eq!(why.len(), 1, "{:#}", j["not_checked"]);
    let why = &why[0];
    assert!(
        why.contains("could not be read")
            && why.contains("FAT volume at byte offset 0x100000")
            && why.contains("cluster chain loops"),
        "{why}"
    );
    // The offset named lies inside the partition (1 MiB .. 101 MiB).
    let at = why
        .split("byte offset 0x")
        .filter_map(|s| {
            u64::from_str_radix(s.split(|c: char| !c.is_ascii_hexdigit()).next()?, 16).ok()
        })
        .find(|&o| o > 1 << 20)
        .unwrap_or_else(|| panic!("no offset inside the partition: {why}"));
    assert!(at < 101 << 20, "{why}");
    // The rest of the report is there: the SYSTEM rows were checked.
    assert!(j["findings"].is_array(), "{j:#}");
    assert!(took.as_secs() < 30, "took {took:?}");
}

/// MFT record size and the byte offset of record `n` of the NTFS volume in
/// `img` (a fresh volume: the MFT's first records are contiguous).
fn mft_record(img: &[u8], n: u64) -> (usize, usize) {
    let bps = le(img, 0x0B, 2);
    let cluster = bps * le(img, 0x0D, 1);
    let mft = le(img, 0x30, 8) * cluster;
    let per = img[0x40] as i8;
    let size = if per < 0 {
        1u64 << (-per)
    } else {
        per as u64 * cluster
    };
    let at = (mft + n * size) as usize;
    assert_eq!(&img[at..at + 4], b"FILE", "MFT record {n}");
    (at, size as usize)
}

/// Byte offset of the first index entry of the `$INDEX_ROOT` attribute
/// (type 0x90) in the MFT record at `rec` (NTFS attribute record: type at
/// 0, length at 4, non-resident flag at 8, resident value offset at 0x14;
/// the index root's node header follows its 16-byte header, the entries
/// offset first).
fn first_index_entry(img: &[u8], rec: usize) -> usize {
    let mut at = rec + le(img, rec + 0x14, 2) as usize;
    loop {
        let ty = le(img, at, 4);
        assert_ne!(ty, 0xFFFF_FFFF, "no $INDEX_ROOT in the record");
        if ty == 0x90 {
            assert_eq!(img[at + 8], 0, "$INDEX_ROOT is resident");
            let value = at + le(img, at + 0x14, 2) as usize;
            let node = value + 16;
            return node + le(img, node, 4) as usize;
        }
        at += le(img, at + 4, 4) as usize;
    }
}

/// The case the `ntfs_lookup` fuzz target found: an index entry of length
/// 0 in the directory index of `Windows\System32\config` made the `ntfs`
/// crate (0.4.0) panic ("range start index 8 out of range for slice of
/// length 0"). On such a volume, `inspect` (human and JSON) finds no
/// readable Windows (exit 5) and says why: the partition could not be
/// read, the NTFS reader failed on damaged data looking up SYSTEM, at the
/// volume's byte offset; with `--partition 1` the error itself (exit 1);
/// `locate` lists the partition with that error. Never a panic.
#[test]
fn an_ntfs_index_entry_of_length_zero_is_an_error_not_a_panic() {
    let t = tmp();
    let d = t.path();
    let vol = volume(
        d,
        "vol.img",
        16,
        4096,
        0,
        &[(
            "Windows/System32/config/SYSTEM",
            crate::hostile::fixture(crate::hostile::MODERN),
        )],
        &[],
    );
    let v = vol.to_str().unwrap();
    ok(run_in(d, &["inspect", v, "--json"]));
    let inode: u64 = peer("ifind", &["-n", "Windows/System32/config", v])
        .trim()
        .parse()
        .unwrap();
    let mut img = std::fs::read(&vol).unwrap();
    let (rec, size) = mft_record(&img, inode);
    let entry = first_index_entry(&img, rec);
    // The entry length (offset 8 of the index entry header) must not sit
    // where the update sequence puts its number (the last 2 bytes of each
    // 512-byte block of the record).
    let field = entry + 8 - rec;
    assert!(field < size && field % 512 < 510, "field at {field:#x}");
    assert_ne!(le(&img, entry + 8, 2), 0);
    img[entry + 8..entry + 10].copy_from_slice(&0u16.to_le_bytes());
    std::fs::write(&vol, &img).unwrap();

    let needle = |msg: &str| {
        msg.contains("the NTFS reader failed on damaged data")
            && (msg.contains(r"looking up Windows\System32\config")
                || msg.contains(r"listing Windows\System32\config"))
            && msg.contains("in the NTFS volume at byte offset 0x0")
    };
    for args in [&["inspect", v][..], &["inspect", v, "--json"][..]] {
        let r = run_limited(d, args, AS_KIB, 30);
        assert_eq!(r.code, 5, "{args:?}: {}{}", r.stdout, r.stderr);
        let msg = if args.contains(&"--json") {
            let j = r.json();
            assert_eq!(j["error"]["exit_code"], 5, "{j:#}");
            j["error"]["message"].as_str().unwrap().to_string()
        } else {
            r.stderr.clone()
        };
        assert!(
            msg.contains("vol.img")
                && msg.contains("partition 1 could not be read")
                && needle(&msg),
            "{args:?}: {msg}"
        );
    }
    let r = run_limited(d, &["inspect", v, "--partition", "1", "--json"], AS_KIB, 30);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(msg.contains("vol.img") && needle(msg), "{msg}");
    let r = run_limited(d, &["locate", v, "--json"], AS_KIB, 30);
    let j = r.json();
    fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    strings(&j, &mut all);
    assert!(all.iter().any(|s| needle(s)), "{j:#}");
}

/// Runs ntrescue under `/usr/bin/time -v` with a deadline: the run and its
/// peak resident set size in KiB.
fn run_timed(cwd: &Path, args: &[&str], secs: u64) -> (Run, u64) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    require_tool("/usr/bin/time");
    let mut child = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ntrescue {args:?} ran past {secs} s (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time:\n{stderr}"));
    assert!(
        !stderr.contains("panicked") && !stderr.contains("memory allocation"),
        "ntrescue {args:?} crashed:\n{stderr}"
    );
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    };
    assert!(
        (0..=6).contains(&r.code),
        "ntrescue {args:?}: exit {}",
        r.code
    );
    (r, rss)
}

/// A 3 GiB sparse file holding a real SYSTEM hive at its start (under the
/// 4 GiB cap on any registry file, so the old code read all of it): every
/// way of reading it (inspect on demand, get, a fix's dry run, which reads
/// whole) refuses it at once, exit 3, naming the size its base block
/// declares, with a peak RSS far below the file's size. The same hive with
/// 1 MiB of slack after its bins still reads.
#[test]
fn a_sparse_regf_file_is_refused_by_its_base_block_size() {
    let t = tmp();
    let d = t.path();
    let hive = std::fs::read(crate::hostile::fixture(crate::hostile::MODERN)).unwrap();
    let sys = d.join("SYSTEM");
    {
        let f = std::fs::File::create(&sys).unwrap();
        std::io::Write::write_all(&mut &f, &hive).unwrap();
        f.set_len(3 << 30).unwrap();
    }
    let limit_kib = 256 << 10;
    for args in [
        &["inspect", "SYSTEM", "--json"][..],
        &[
            "get",
            "SYSTEM",
            r"SYSTEM\CurrentControlSet\Control\Terminal Server",
            "fDenyTSConnections",
            "--json",
        ][..],
        &["nla", "disable", "SYSTEM", "--dry-run", "--json"][..],
    ] {
        let (r, rss) = run_timed(d, args, 60);
        assert_eq!(r.code, 3, "{args:?}: {}{}", r.stdout, r.stderr);
        let j = r.json();
        let msg = j["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            msg.contains("its base block declares") && msg.contains("refused without reading it"),
            "{args:?}: {j:#}"
        );
        assert!(rss < limit_kib, "{args:?}: peak RSS {rss} KiB");
    }
    // Slack after the bins (as real hives have, up to hundreds of KiB).
    let mut slack = hive.clone();
    slack.resize(hive.len() + (1 << 20), 0);
    std::fs::write(&sys, &slack).unwrap();
    let (r, _) = run_timed(d, &["inspect", "SYSTEM", "--json"], 60);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// The `INDX` record at `at` of `img` with its update sequence undone (the
/// real last two bytes of each 512-byte block put back), and the offset
/// and entry count of its update sequence array.
fn unfixed_indx(img: &[u8], at: usize) -> (Vec<u8>, usize, usize) {
    let mut rec = img[at..at + 4096].to_vec();
    let (uo, uc) = (le(&rec, 4, 2) as usize, le(&rec, 6, 2) as usize);
    for i in 1..uc {
        let end = i * 512 - 2;
        let saved = [rec[uo + 2 * i], rec[uo + 2 * i + 1]];
        rec[end..end + 2].copy_from_slice(&saved);
    }
    (rec, uo, uc)
}

/// The update sequence applied again: each block's last two bytes saved in
/// the array and replaced by the sequence number.
fn refixed_indx(mut rec: Vec<u8>, uo: usize, uc: usize) -> Vec<u8> {
    let usn = [rec[uo], rec[uo + 1]];
    for i in 1..uc {
        let end = i * 512 - 2;
        let real = [rec[end], rec[end + 1]];
        rec[uo + 2 * i..uo + 2 * i + 2].copy_from_slice(&real);
        rec[end..end + 2].copy_from_slice(&usn);
    }
    rec
}

/// The names in an unfixed `INDX` record (index entries from the node
/// header at 0x18: length at 8, flags at 12 with bit 2 for the last
/// entry; the key is a `$FILE_NAME` whose name length is at 0x40 and name
/// at 0x42), and the offset of its last entry.
fn indx_names(rec: &[u8]) -> (Vec<String>, usize) {
    let mut at = 0x18 + le(rec, 0x18, 4) as usize;
    let mut names = Vec::new();
    loop {
        let (len, flags) = (le(rec, at + 8, 2) as usize, le(rec, at + 12, 4));
        if flags & 2 != 0 {
            return (names, at);
        }
        let key = at + 16;
        let n = rec[key + 0x40] as usize;
        let units: Vec<u16> = (0..n)
            .map(|i| le(rec, key + 0x42 + 2 * i, 2) as u16)
            .collect();
        names.push(String::from_utf16_lossy(&units));
        assert!(len >= 16, "entry length {len}");
        at += len;
    }
}

/// The case the `ntfs_lookup` fuzz target found as a hang: a directory
/// index whose B-tree walk never ends (a node listing itself as a child).
/// Built here on a mkntfs volume: `Windows\System32\config` holds enough
/// files for its index to have `INDX` nodes, and the node holding SYSTEM
/// gets a child pointer to itself on its last entry, so that a lookup of
/// any name sorting after SYSTEM (the logs beside it) walks that node again
/// and again. `inspect` ends in seconds (the NTFS reader's read budget):
/// SYSTEM itself is found, and looking for its logs is an error (exit 1)
/// naming the image, the volume offset and the loop; never a hang.
#[test]
fn a_directory_index_node_listing_itself_is_an_error_not_a_hang() {
    let t = tmp();
    let d = t.path();
    let fillers: Vec<(String, Vec<u8>)> = (0..80)
        .map(|i| {
            (
                format!("Windows/System32/config/A-filler-file-{i:03}.dat"),
                vec![b'x'; 16],
            )
        })
        .collect();
    let extra: Vec<(&str, Vec<u8>)> = fillers
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let vol = volume_exact(
        d,
        "vol.img",
        16,
        4096,
        0,
        &[(
            "Windows/System32/config/SYSTEM",
            crate::hostile::fixture(crate::hostile::MODERN),
        )],
        &extra,
    );
    let v = vol.to_str().unwrap();
    ok(run_in(d, &["inspect", v, "--json"]));
    let mut img = std::fs::read(&vol).unwrap();
    let node = (0..img.len() - 4096)
        .step_by(4096)
        .filter(|&at| &img[at..at + 4] == b"INDX")
        .find(|&at| {
            let (rec, _, _) = unfixed_indx(&img, at);
            indx_names(&rec).0.iter().any(|n| n == "SYSTEM")
        })
        .expect("an INDX node holding SYSTEM");
    let (mut rec, uo, uc) = unfixed_indx(&img, node);
    let (names, last) = indx_names(&rec);
    assert_eq!(
        names.last().map(String::as_str),
        Some("SYSTEM"),
        "{names:?}"
    );
    // The last entry (16 bytes, no child) becomes 24 bytes with a child:
    // this node's own VCN.
    assert_eq!(le(&rec, last + 8, 2), 16);
    let vcn = rec[0x10..0x18].to_vec();
    rec[last + 8..last + 10].copy_from_slice(&24u16.to_le_bytes());
    rec[last + 12] |= 1;
    rec[last + 16..last + 24].copy_from_slice(&vcn);
    let used = le(&rec, 0x1C, 4) + 8;
    assert!(used <= le(&rec, 0x20, 4), "room in the node");
    rec[0x1C..0x20].copy_from_slice(&(used as u32).to_le_bytes());
    rec[0x24] |= 1;
    let rec = refixed_indx(rec, uo, uc);
    img[node..node + 4096].copy_from_slice(&rec);
    std::fs::write(&vol, &img).unwrap();

    for args in [&["inspect", v][..], &["inspect", v, "--json"][..]] {
        let start = std::time::Instant::now();
        let r = run_limited(d, args, AS_KIB, 60);
        assert!(start.elapsed().as_secs() < 30, "{args:?}: a hang");
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            all.contains("a loop in damaged index or attribute structures")
                && all.contains("at volume byte 0x")
                && all.contains("vol.img")
                && !all.contains("Custom {"),
            "{args:?}: {all}"
        );
    }
}
