// SPDX-License-Identifier: GPL-2.0-or-later
//! Raw disks and NTFS volumes, no mount: real images built at test time
//! (mkntfs + ntfs-3g, and the shared `make-windows-disk` for fragmented
//! layouts), checked from outside with sleuthkit (`ifind`/`icat`), hivex,
//! `ntfsfix` and byte comparisons of the whole image.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::*;

const RDP: &str = r"\Control\Terminal Server\WinStations\RDP-Tcp";
const NLA: [&str; 3] = [
    "SecurityLayer",
    "UserAuthentication",
    "fAllowSecProtocolNegotiation",
];
const WIN7: &str = "system/win7sp1-x86__regipy__SYSTEM";
const WIN10: &str = "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";

/// Wraps a volume image into a disk image: GPT (or MBR) with the volume as
/// partition 1 at 1 MiB.
fn disk(dir: &Path, name: &str, vol: &Path, gpt: bool) -> PathBuf {
    let vlen = std::fs::metadata(vol).unwrap().len();
    let img = dir.join(name);
    std::fs::File::create(&img)
        .unwrap()
        .set_len(vlen + (2 << 20))
        .unwrap();
    let script = if gpt {
        format!(
            "label: gpt\nstart=2048, size={}, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n",
            vlen / 512
        )
    } else {
        format!(
            "label: dos\nstart=2048, size={}, type=7, bootable\n",
            vlen / 512
        )
    };
    require_tool("sfdisk");
    let mut c = Command::new("sfdisk")
        .args(["-q", img.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(c.wait().unwrap().success());
    let mut out = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    out.seek(SeekFrom::Start(1 << 20)).unwrap();
    std::io::copy(&mut std::fs::File::open(vol).unwrap(), &mut out).unwrap();
    img
}

/// The shared image builder (fragmented layouts, attribute lists).
fn shared_disk(dir: &Path, name: &str, args: &[&str], hive: &str) -> PathBuf {
    let img = dir.join(name);
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    // Windows keeps SYSTEM.LOG1/.LOG2 allocated: a corpus hive without logs
    // gets two never-used (zeroed) 64 KiB ones, room for a write's
    // transaction entry inside the raw volume.
    let src = corpus_file(hive);
    if !a.iter().any(|x| x == "--log1") && !Path::new(&format!("{}.LOG1", src.display())).exists() {
        let zero = zero_log(dir);
        for opt in ["--log1", "--log2"] {
            a.push(opt.into());
            a.push(zero.display().to_string());
        }
    }
    make_windows_disk(&a, &src, &img);
    img
}

/// `nla disable TARGET --backup-dir bk --json` run in `d`; must succeed.
fn disabled(d: &Path, target: &str) -> Value {
    ok(run_in(
        d,
        &["nla", "disable", target, "--backup-dir", "bk", "--json"],
    ))
}

/// `ntfsfix --no-action` on the volume at `offset` (through a read-only loop device).
fn ntfsfix_clean(img: &Path, offset: u64, len: u64) {
    let lo = peer(
        "losetup",
        &[
            "-f",
            "--show",
            "-r",
            "-o",
            &offset.to_string(),
            "--sizelimit",
            &len.to_string(),
            img.to_str().unwrap(),
        ],
    );
    let lo = lo.trim().to_string();
    let o = Command::new("ntfsfix").args(["-n", &lo]).output().unwrap();
    let _ = Command::new("losetup").args(["-d", &lo]).status();
    assert!(
        o.status.success(),
        "ntfsfix -n: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// Sectors (512 bytes) where two files differ.
fn changed_sectors(a: &Path, b: &Path) -> Vec<u64> {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert_eq!(x.len(), y.len());
    let mut s: Vec<u64> = x
        .chunks(512)
        .zip(y.chunks(512))
        .enumerate()
        .filter(|(_, (p, q))| p != q)
        .map(|(i, _)| i as u64)
        .collect();
    s.dedup();
    s
}

/// Sectors a write's transaction adds to those of the hive: the log's base
/// block and its entry (a dirty-vector log: its bitmap and the changed
/// sectors of the hive).
const LOG_SECTORS: usize = 12;

/// Fix a disk image in raw mode and check it from outside: inspect equals
/// the hive-file report; `icat` + hivex read 0/0/0 in every set; only a few
/// sectors of the image change (the hive's and its log's); ntfsfix finds the
/// volume clean; restore returns the original image byte for byte.
fn fix_and_check(t: &Path, img: &Path, hive_src: &Path, max_sectors: usize) {
    let max_sectors = max_sectors + LOG_SECTORS;
    let orig = sha256_file(img);
    let pristine = t.join("pristine.img");
    std::fs::copy(img, &pristine).unwrap();
    let raw = ok(run_in(
        t,
        &["inspect", img.to_str().unwrap(), "--verify", "--json"],
    ));
    let file = ok(run_in(
        t,
        &["inspect", hive_src.to_str().unwrap(), "--verify", "--json"],
    ));
    assert_eq!(
        raw["system"]["file"]["sha256"],
        file["system"]["file"]["sha256"]
    );
    assert_eq!(
        raw["control_sets"],
        file["control_sets"]
            .as_array()
            .map(|a| Value::from(a.clone()))
            .unwrap()
    );
    assert_eq!(raw["select"]["values"], file["select"]["values"]);
    let part = &raw["disk"]["partition"];
    let (start, len) = (
        part["start"].as_u64().unwrap(),
        part["length"].as_u64().unwrap(),
    );

    let rep = disabled(t, img.to_str().unwrap());
    assert_eq!(rep["outcome"], "written");
    let out = t.join("extracted");
    icat(img, start / 512, "/Windows/System32/config/SYSTEM", &out);
    let sets: Vec<String> = raw["control_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    for s in &sets {
        for v in NLA {
            assert_eq!(
                hivex_dword(&out, &format!(r"\{s}{RDP}"), v),
                Some(0),
                "{s} {v}"
            );
        }
    }
    let sectors = changed_sectors(&pristine, img);
    assert!(
        !sectors.is_empty() && sectors.len() <= max_sectors,
        "{} sectors changed: {sectors:?}",
        sectors.len()
    );
    ntfsfix_clean(img, start, len);
    ok(run_in(
        t,
        &["restore", rep["backup"].as_str().unwrap(), "--json"],
    ));
    assert_eq!(
        sha256_file(img),
        orig,
        "restore gives back the original image"
    );
}

#[test]
fn gpt_contiguous_volume_fix_verify_restore() {
    let t = tmp();
    let img = shared_disk(t.path(), "gpt.img", &[], WIN7);
    fix_and_check(t.path(), &img, &corpus_file(WIN7), 5);
}

#[test]
fn mbr_with_extra_partitions_and_fragmented_hive() {
    let t = tmp();
    let img = shared_disk(
        t.path(),
        "mbr.img",
        &["--mbr", "--extra-parts", "--fragment"],
        WIN7,
    );
    let r = ok(run_in(
        t.path(),
        &["inspect", img.to_str().unwrap(), "--json"],
    ));
    assert_eq!(
        r["disk"]["partition"]["number"], 2,
        "Windows is on the second partition"
    );
    assert!(
        r["disk"]["system"]["extents"].as_array().unwrap().len() > 1,
        "fragmented"
    );
    fix_and_check(t.path(), &img, &corpus_file(WIN7), 5);
}

/// The usual layout of a Windows system disk: EFI system partition (FAT),
/// MSR (no file system), Windows, and an NTFS Recovery partition after it.
/// Only the Windows partition holds the hive, so it is picked without
/// `--partition`; locate names every partition's file system.
#[test]
fn gpt_with_esp_msr_and_recovery_partitions() {
    let t = tmp();
    let img = shared_disk(t.path(), "gpt.img", &["--extra-parts"], WIN7);
    let i = img.to_str().unwrap();
    let l = ok(run_in(t.path(), &["locate", i, "--json"]));
    let parts = l["disks"][0]["partitions"].as_array().unwrap();
    let fs: Vec<(&str, bool)> = parts
        .iter()
        .map(|p| {
            (
                p["filesystem"].as_str().unwrap(),
                p["has_windows"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fs,
        [
            ("none", false),
            ("none", false),
            ("ntfs", true),
            ("ntfs", false)
        ],
        "ESP (left unformatted by the builder), MSR, Windows, Recovery: {l}"
    );
    let r = ok(run_in(t.path(), &["inspect", i, "--json"]));
    assert_eq!(
        r["disk"]["partition"]["number"], 3,
        "Windows after ESP and MSR"
    );
    fix_and_check(t.path(), &img, &corpus_file(WIN7), 5);
}

/// 4 KiB chunks force `$DATA` into extension records behind a non-resident
/// `$ATTRIBUTE_LIST`.
#[test]
fn heavily_fragmented_hive_with_attribute_list() {
    let t = tmp();
    let img = shared_disk(
        t.path(),
        "frag.img",
        &["--fragment", "--chunk", "4K", "--size", "160M"],
        WIN7,
    );
    let r = ok(run_in(
        t.path(),
        &["inspect", img.to_str().unwrap(), "--json"],
    ));
    assert!(r["disk"]["system"]["extents"].as_array().unwrap().len() > 500);
    fix_and_check(t.path(), &img, &corpus_file(WIN7), 5);
}

#[test]
fn cluster_size_64k_in_a_gpt_disk() {
    let t = tmp();
    let vol = volume(
        t.path(),
        "vol.img",
        96,
        65536,
        2048,
        &[(r"Windows/System32/config/SYSTEM", corpus_file(WIN7))],
        &[],
    );
    let img = disk(t.path(), "disk.img", &vol, true);
    let r = ok(run_in(
        t.path(),
        &["inspect", img.to_str().unwrap(), "--json"],
    ));
    assert_eq!(r["disk"]["volume"]["cluster_size"], 65536);
    fix_and_check(t.path(), &img, &corpus_file(WIN7), 5);
}

/// The dirty Windows 10 hive with its logs, on a bare NTFS volume: replayed
/// in memory and written back reconciled and clean through the data runs;
/// the logs on the volume are untouched.
#[test]
fn dirty_hive_on_a_raw_volume_is_replayed_and_fixed() {
    let t = tmp();
    let d = t.path();
    let src = corpus_file(WIN10);
    let log = |e: &str| PathBuf::from(format!("{}.{e}", src.display()));
    let vol = volume(
        d,
        "vol.img",
        64,
        4096,
        0,
        &[
            (r"Windows/System32/config/SYSTEM", src.clone()),
            (r"Windows/System32/config/SYSTEM.LOG1", log("LOG1")),
            (r"Windows/System32/config/SYSTEM.LOG2", log("LOG2")),
        ],
        &[],
    );
    let orig = sha256_file(&vol);
    let r = ok(run_in(d, &["inspect", vol.to_str().unwrap(), "--json"]));
    assert_eq!(r["source"]["kind"], "volume");
    assert_eq!(r["verdict_source"], "after-replay");
    // The reconciled hive differs from the stored one in hundreds of pages:
    // a transaction entry holding them fits neither log as allocated, and a
    // file inside a raw volume cannot grow. Refused (dry run too), nothing
    // written; the mounted path can.
    for extra in [&["--dry-run"][..], &[]] {
        let mut args = vec!["nla", "disable", vol.to_str().unwrap(), "--json"];
        args.extend(extra);
        let r = run_in(d, &args);
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(
            r.stderr.contains("original or the edited hive") || r.stderr.contains("mounted path"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(sha256_file(&vol), orig);
}

/// Recipes that create values, on a raw image (the Windows XP hive lacks the
/// NLA values): cells are allocated inside the file's existing size; reruns
/// write nothing.
/// Every recipe and the general editor on a raw image (XP hive: the NLA
/// values are created): icat's copy differs from the original in exactly
/// the named values (hivex's whole-hive export), hivexml/regfexport accept
/// it, and every rerun writes nothing.
#[test]
fn recipes_with_value_creation_on_a_raw_image() {
    let t = tmp();
    let d = t.path();
    let xp = corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM");
    let before = hivex_tree(&xp);
    let vol = volume(
        d,
        "vol.img",
        48,
        4096,
        2048,
        &[(r"Windows/System32/config/SYSTEM", xp)],
        &[],
    );
    let img = disk(d, "disk.img", &vol, false);
    let i = img.to_str().unwrap();
    let tcpip = r"SYSTEM\CurrentControlSet\Services\Tcpip";
    let edits: Vec<Vec<&str>> = vec![
        vec!["nla", "disable", i],
        vec!["rdp", "enable", i],
        vec!["rdp", "port", i, "--set", "3390"],
        vec!["service", i, "Tcpip", "--start", "manual"],
        vec![
            "set", i, tcpip, "NtrQword", "--type", "qword", "--data", "7",
        ],
        vec![
            "set",
            i,
            tcpip,
            "DisplayName",
            "--type",
            "sz",
            "--data",
            "TCP",
        ],
        vec!["delete-value", i, tcpip, "Group"],
    ];
    let mut first = Vec::new();
    for e in &edits {
        let args = [&e[..], &["--backup-dir", "bk", "--json"]].concat();
        let rep = ok(run_in(d, &args));
        assert_eq!(rep["outcome"], "written", "{e:?}");
        first.push(rep["changes"].as_array().unwrap().len());
    }
    assert_eq!(first, [6, 2, 2, 2, 1, 1, 1], "changes per edit");
    let out = d.join("SYSTEM.out");
    icat(&img, 2048, "/Windows/System32/config/SYSTEM", &out);
    let mut want = Vec::new();
    for s in ["CONTROLSET001", "CONTROLSET002"] {
        let rdp = format!(r"{s}\CONTROL\TERMINAL SERVER\WINSTATIONS\RDP-TCP");
        for v in NLA.iter().chain(&["PortNumber"]) {
            want.push((rdp.clone(), v.to_uppercase()));
        }
        want.push((
            format!(r"{s}\CONTROL\TERMINAL SERVER"),
            "FDENYTSCONNECTIONS".into(),
        ));
        want.push((format!(r"{s}\SERVICES\TCPIP"), "START".into()));
    }
    // CurrentControlSet is ControlSet001 on this hive.
    for v in ["NTRQWORD", "DISPLAYNAME", "GROUP"] {
        want.push((r"CONTROLSET001\SERVICES\TCPIP".into(), v.into()));
    }
    want.sort();
    let after = hivex_tree(&out);
    assert_eq!(changed(&before, &after), want);
    for s in ["ControlSet001", "ControlSet002"] {
        for v in NLA {
            assert_eq!(
                hivex_dword(&out, &format!(r"\{s}{RDP}"), v),
                Some(0),
                "{s} {v}"
            );
        }
        assert_eq!(
            hivex_dword(&out, &format!(r"\{s}{RDP}"), "PortNumber"),
            Some(3390)
        );
        assert_eq!(
            hivex_dword(&out, &format!(r"\{s}\Services\Tcpip"), "Start"),
            Some(3)
        );
    }
    let tcp = &after[r"CONTROLSET001\SERVICES\TCPIP"];
    assert_eq!(tcp["NTRQWORD"], "hex(b):07,00,00,00,00,00,00,00");
    assert_eq!(
        tcp["DISPLAYNAME"], "hex(1):54,00,43,00,50,00,00,00",
        "REG_SZ \"TCP\""
    );
    peer("hivexml", &[out.to_str().unwrap()]);
    peer("regfexport", &[out.to_str().unwrap()]);
    let sha = sha256_file(&img);
    for e in &edits {
        let args = [&e[..], &["--json"]].concat();
        assert_eq!(ok(run_in(d, &args))["outcome"], "nothing-to-do", "{e:?}");
    }
    assert_eq!(sha256_file(&img), sha, "reruns write nothing");
}

/// Each preflight refusal: exit 3, a message that says why, nothing written.
#[test]
fn preflight_refusals_write_nothing() {
    let t = tmp();
    let d = t.path();
    let sys = [(r"Windows/System32/config/SYSTEM", corpus_file(WIN7))];
    let refused = |img: &Path, want: &str| {
        let before = sha256_file(img);
        let r = run_in(
            d,
            &[
                "nla",
                "disable",
                img.to_str().unwrap(),
                "--backup-dir",
                "bk",
            ],
        );
        assert_eq!(r.code, 3, "{want}: {}", r.stderr);
        assert!(
            r.stderr.to_lowercase().contains(want),
            "{want}: {}",
            r.stderr
        );
        assert_eq!(sha256_file(img), before, "{want}: image changed");
    };

    // Hibernated (or Fast Startup): an active hiberfil.sys header.
    let mut hib = b"HIBR".to_vec();
    hib.resize(64 << 10, 0);
    let v = volume(d, "hib.img", 48, 4096, 0, &sys, &[("hiberfil.sys", hib)]);
    let r = ok(run_in(d, &["inspect", v.to_str().unwrap(), "--json"]));
    assert_eq!(r["disk"]["hibernation"], "HIBR");
    refused(&v, "hibernation");

    // Dirty NTFS volume: the $Volume dirty flag set.
    let dv = d.join("dirty.img");
    std::fs::copy(&v, &dv).unwrap();
    set_volume_dirty(&dv);
    let r = ok(run_in(d, &["inspect", dv.to_str().unwrap(), "--json"]));
    assert_eq!(r["disk"]["volume"]["dirty"], true);
    refused(&dv, "dirty");

    // Mounted: the volume image is mounted with ntfs-3g.
    let v = volume(d, "m.img", 48, 4096, 0, &sys, &[]);
    {
        let _m = Mount::new(&v, &d.join("live"));
        refused(&v, "mounted");
    }

    // BitLocker: the boot sector says -FVE-FS-.
    let b = d.join("bl.img");
    std::fs::copy(&v, &b).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&b).unwrap();
    f.seek(SeekFrom::Start(3)).unwrap();
    f.write_all(b"-FVE-FS-").unwrap();
    drop(f);
    let r = run_in(d, &["inspect", b.to_str().unwrap()]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("BitLocker"), "{}", r.stderr);
    refused_unchanged(d, b.to_str().unwrap(), &b, "bitlocker", &[]);

    // Read-only image: a read-only bind mount of its directory.
    let rodir = d.join("ro");
    std::fs::create_dir(&rodir).unwrap();
    std::fs::copy(&v, rodir.join("v.img")).unwrap();
    sh(
        "mount",
        &["--bind", rodir.to_str().unwrap(), rodir.to_str().unwrap()],
    );
    sh("mount", &["-o", "remount,bind,ro", rodir.to_str().unwrap()]);
    let img = rodir.join("v.img");
    let r1 = run_in(d, &["inspect", img.to_str().unwrap(), "--json"]);
    let before = sha256_file(&img);
    let r2 = run_in(
        d,
        &[
            "nla",
            "disable",
            img.to_str().unwrap(),
            "--backup-dir",
            "bk",
        ],
    );
    sh("umount", &[rodir.to_str().unwrap()]);
    assert_eq!(r1.code, 0, "inspect works read-only: {}", r1.stderr);
    assert_eq!(r2.code, 3, "{}", r2.stderr);
    assert!(r2.stderr.contains("read-only"), "{}", r2.stderr);
    assert_eq!(sha256_file(&img), before);

    // Truncated image: a clear error, no panic.
    let tr = d.join("trunc.img");
    std::fs::copy(&v, &tr).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tr)
        .unwrap()
        .set_len(3 << 20)
        .unwrap();
    let r = run_in(d, &["inspect", tr.to_str().unwrap()]);
    assert!(matches!(r.code, 1 | 3 | 5), "{}", r.stderr);
    assert!(r.stderr.contains("trunc.img"), "{}", r.stderr);
}

/// Sets the dirty flag of a bare NTFS volume image: MFT record 3 ($Volume),
/// attribute 0x70 ($VOLUME_INFORMATION), flags at value offset 0x0A.
fn set_volume_dirty(img: &Path) {
    let mut b = std::fs::read(img).unwrap();
    let u16at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let cluster = u16at(&b, 0x0B) * b[0x0D] as usize;
    let mft = u64::from_le_bytes(b[0x30..0x38].try_into().unwrap()) as usize * cluster;
    let rec = mft + 3 * 1024;
    assert_eq!(&b[rec..rec + 4], b"FILE");
    let mut a = rec + u16at(&b, rec + 0x14);
    loop {
        let ty = u32::from_le_bytes(b[a..a + 4].try_into().unwrap());
        assert_ne!(ty, 0xFFFF_FFFF, "no $VOLUME_INFORMATION");
        if ty == 0x70 {
            let flags = a + u16at(&b, a + 0x14) + 0x0A;
            assert!((flags - rec) % 512 < 510, "flags under a fix-up");
            b[flags] |= 1;
            break;
        }
        a += u32::from_le_bytes(b[a + 4..a + 8].try_into().unwrap()) as usize;
    }
    std::fs::write(img, b).unwrap();
}

/// Two partitions holding Windows: refused with the list unless
/// `--partition` names one.
#[test]
fn several_windows_partitions_need_partition() {
    let t = tmp();
    let d = t.path();
    let img = shared_disk(d, "two.img", &["--mbr", "--extra-parts"], WIN7);
    // Put a second Windows on partition 1 (the "System Reserved" volume) by
    // copying the hive tree into it with ntfs-3g through a loop device.
    let lo = peer(
        "losetup",
        &[
            "-f",
            "--show",
            "-o",
            "1048576",
            "--sizelimit",
            "52428800",
            img.to_str().unwrap(),
        ],
    );
    let lo = lo.trim().to_string();
    {
        let m = Mount::new(Path::new(&lo), &d.join("p1"));
        let cfg = m.dir.join("Windows/System32/config");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::copy(
            corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
            cfg.join("SYSTEM"),
        )
        .unwrap();
    }
    sh("losetup", &["-d", &lo]);
    let r = run_in(d, &["inspect", img.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("partition 1")
            && r.stderr.contains("partition 2")
            && r.stderr.contains("--partition"),
        "{}",
        r.stderr
    );
    let r = run_in(d, &["inspect", img.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 3);
    assert_eq!(
        r.json()["error"]["code"],
        "partition-ambiguous",
        "{}",
        r.stdout
    );
    let r = ok(run_in(
        d,
        &[
            "inspect",
            img.to_str().unwrap(),
            "--partition",
            "1",
            "--json",
        ],
    ));
    assert_eq!(r["computer_name"], "M57-PAT");
    let l = ok(run_in(d, &["locate", img.to_str().unwrap(), "--json"]));
    let parts = l["disks"][0]["partitions"].as_array().unwrap();
    assert_eq!(parts.iter().filter(|p| p["has_windows"] == true).count(), 2);
}

/// The corpus NTFS samples: a Windows-formatted volume with a config
/// directory but no hive is "nothing found"; a volume without Windows too;
/// single boot sectors give a clear error, never a panic.
#[test]
fn corpus_ntfs_samples() {
    let t = tmp();
    let d = t.path();
    let raw = d.join("dfvfs.raw");
    sh(
        "qemu-img",
        &[
            "convert",
            "-O",
            "raw",
            corpus_file("ntfs/dfvfs__windows_volume.qcow2")
                .to_str()
                .unwrap(),
            raw.to_str().unwrap(),
        ],
    );
    let r = run_in(d, &["inspect", raw.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(r.json()["error"]["kind"], "not-found");
    // The qcow2 file itself: named as a container, with how to convert it.
    let q = corpus_file("ntfs/dfvfs__windows_volume.qcow2");
    let r = run_in(d, &["inspect", q.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("qcow2") && r.stderr.contains("qemu-img convert"),
        "{}",
        r.stderr
    );
    let l = run_in(d, &["locate", q.to_str().unwrap(), "--json"]);
    assert_eq!(l.code, 5, "nothing found: {}", l.stderr);
    let l = l.json();
    assert!(
        l["disks"][0]["notes"][0]
            .as_str()
            .unwrap()
            .contains("qcow2"),
        "{l}"
    );
    let r = run_in(
        d,
        &[
            "inspect",
            corpus_file("ntfs/colinfinck-ntfs__testfs1")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    for e in std::fs::read_dir(corpus().join("ntfs/boot_sectors")).unwrap() {
        let p = e.unwrap().path();
        let r = run_in(d, &["inspect", p.to_str().unwrap()]);
        assert!(matches!(r.code, 1 | 3 | 5), "{}: {}", p.display(), r.stderr);
        assert!(
            r.stderr.contains(p.file_name().unwrap().to_str().unwrap())
                || r.stderr.contains("byte offset"),
            "{}",
            r.stderr
        );
    }
}

/// `nla disable` on `target`: exit 3, `want` in the message, and `watch`
/// (the image) unchanged byte for byte.
fn refused_unchanged(d: &Path, target: &str, watch: &Path, want: &str, extra: &[&str]) {
    let before = sha256_file(watch);
    let mut args = vec!["nla", "disable", target, "--backup-dir", "bk"];
    args.extend_from_slice(extra);
    let r = run_in(d, &args);
    assert_eq!(r.code, 3, "{target}: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.to_lowercase().contains(want),
        "{target}: expected {want:?} in: {}",
        r.stderr
    );
    assert_eq!(sha256_file(watch), before, "{target}: image changed");
}

/// A GPT disk image `d/disk.img` whose NTFS partition (48 MiB, 4 KiB
/// clusters, boot sector saying 2048 hidden sectors) holds the Windows 7
/// SYSTEM hive.
fn win7_gpt_disk(d: &Path) -> PathBuf {
    let vol = volume(
        d,
        "vol.img",
        48,
        4096,
        2048,
        &[(r"Windows/System32/config/SYSTEM", corpus_file(WIN7))],
        &[],
    );
    disk(d, "disk.img", &vol, true)
}

/// An image attached as a loop device whose *partition* is mounted (the
/// loop device itself is not): the image file, the loop device and the
/// partition device are all refused as mounted.
#[test]
fn image_with_a_mounted_loop_partition_is_refused() {
    let t = tmp();
    let d = t.path();
    let img = win7_gpt_disk(d);
    let lo = Loop::attach(&img, &[]).with_partitions();
    let p1 = lo.part(1);
    let m = Mount::new(Path::new(&p1), &d.join("mnt"));
    assert!(m.dir.join("Windows/System32/config/SYSTEM").exists());
    refused_unchanged(d, img.to_str().unwrap(), &img, "mounted", &[]);
    refused_unchanged(d, &lo.dev, &img, "mounted", &[]);
    refused_unchanged(d, &p1, &img, "mounted", &[]);
    let l = ok(run_in(d, &["locate", img.to_str().unwrap(), "--json"]));
    assert!(
        l["disks"][0]["mounted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str() == Some(m.dir.to_str().unwrap())),
        "{l}"
    );
}

/// A block device another process holds open with `O_EXCL` (as mkfs, a
/// RAID or a hypervisor would) is refused as busy; once released, the same
/// fix goes through.
#[test]
fn device_held_open_exclusively_is_refused() {
    let t = tmp();
    let d = t.path();
    let img = win7_gpt_disk(d);
    let lo = Loop::attach(&img, &[]);
    // The holder prints a line once it has the device, then waits for stdin.
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL); print('held', flush=True); sys.stdin.read()",
            &lo.dev,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");
    refused_unchanged(d, &lo.dev, &img, "busy", &[]);
    assert!(!d.join("bk").exists(), "no backup before the refusal");
    drop(holder.stdin.take());
    holder.wait().unwrap();
    let rep = disabled(d, &lo.dev);
    assert_eq!(rep["outcome"], "written");
}

/// Root opens read-only targets for writing anyway: a mode-0444 image or
/// hive file and a read-only loop device are refused before any write.
#[test]
fn read_only_targets_are_refused_even_for_root() {
    let t = tmp();
    let d = t.path();
    let vol = volume(
        d,
        "vol.img",
        48,
        4096,
        0,
        &[(r"Windows/System32/config/SYSTEM", corpus_file(WIN7))],
        &[],
    );
    let img = disk(d, "disk.img", &vol, true);
    let ro = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o444)).unwrap();
    };
    ro(&img);
    refused_unchanged(d, img.to_str().unwrap(), &img, "read-only", &[]);
    let hive = copy_to(&corpus_file(WIN7), d, "SYSTEM");
    ro(&hive);
    refused_unchanged(d, hive.to_str().unwrap(), &hive, "read-only", &[]);
    // The same volume, writable, through a read-only loop device.
    let lo = Loop::attach(&vol, &["-r"]);
    ok(run_in(d, &["inspect", &lo.dev, "--json"]));
    refused_unchanged(d, &lo.dev, &vol, "read-only", &[]);
}

/// SYSTEM and SOFTWARE edited in one run on a block device: both stores
/// share the one exclusive handle (a second O_EXCL open would be EBUSY).
#[test]
fn system_and_software_on_one_block_device() {
    let t = tmp();
    let d = t.path();
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures/demo-disk.img.gz");
    let img = d.join("demo.img");
    let o = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    assert!(o.status.success(), "gzip -dc {}", gz.display());
    std::fs::write(&img, o.stdout).unwrap();
    let lo = Loop::attach(&img, &[]);
    let dev = Path::new(&lo.dev);
    let r = run_in(
        d,
        &[
            "nla",
            "disable",
            "--include-policy",
            &lo.dev,
            "--backup-dir",
            "bk",
            "--json",
        ],
    );
    let rep = ok(r);
    assert_eq!(rep["outcome"], "written");
    let hives: Vec<&str> = rep["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hive"].as_str().unwrap())
        .collect();
    assert!(
        hives.contains(&"SYSTEM") && hives.contains(&"SOFTWARE"),
        "{hives:?}"
    );
    let sys = d.join("SYSTEM.out");
    let sw = d.join("SOFTWARE.out");
    icat(dev, 2048, "/Windows/System32/config/SYSTEM", &sys);
    icat(dev, 2048, "/Windows/System32/config/SOFTWARE", &sw);
    for s in ["ControlSet001", "ControlSet002"] {
        for v in NLA {
            assert_eq!(
                hivex_dword(&sys, &format!(r"\{s}{RDP}"), v),
                Some(0),
                "{s} {v}"
            );
        }
    }
    let pol = r"\Policies\Microsoft\Windows NT\Terminal Services";
    assert_eq!(
        hivex_dword(&sw, pol, "UserAuthentication"),
        None,
        "policy value removed"
    );
    assert_eq!(hivex_dword(&sw, pol, "fDenyTSConnections"), Some(0));
    // Restore puts both back, again through the block device.
    ok(run_in(
        d,
        &["restore", rep["backup"].as_str().unwrap(), "--json"],
    ));
    icat(dev, 2048, "/Windows/System32/config/SOFTWARE", &sw);
    assert_eq!(hivex_dword(&sw, pol, "UserAuthentication"), Some(1));
}

/// Empty SYSTEM.LOG1/LOG2 have resident `$DATA`: they are backed up, and
/// restore (which re-reads every target) works on the raw volume.
#[test]
fn resident_logs_are_read_for_backup_and_restore() {
    let t = tmp();
    let d = t.path();
    let vol = volume(
        d,
        "vol.img",
        48,
        4096,
        0,
        &[(r"Windows/System32/config/SYSTEM", corpus_file(WIN7))],
        &[
            (r"Windows/System32/config/SYSTEM.LOG1", Vec::new()),
            (r"Windows/System32/config/SYSTEM.LOG2", Vec::new()),
        ],
    );
    let orig = sha256_file(&vol);
    // The empty (resident) logs are read, and reported...
    let r = ok(run_in(d, &["inspect", vol.to_str().unwrap(), "--json"]));
    assert_eq!(r["system"]["logs"].as_array().unwrap().len(), 2, "{r}");
    // ...but cannot hold a transaction entry inside the raw volume (a file
    // there cannot grow): the fix is refused, in a dry run too, and the
    // mounted path named; nothing is written.
    for extra in [&["--dry-run"][..], &[]] {
        let mut args = vec!["nla", "disable", vol.to_str().unwrap(), "--json"];
        args.extend(extra);
        let r = run_in(d, &args);
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(r.stderr.contains("no transaction log"), "{}", r.stderr);
        assert!(r.stderr.contains("mounted path"), "{}", r.stderr);
    }
    assert_eq!(sha256_file(&vol), orig, "nothing written");
}

/// A hive NTFS-compressed by ntfs-3g: its clusters are not its bytes, so
/// the raw path refuses it by name instead of parsing compressed data.
#[test]
fn compressed_hive_is_refused_on_the_raw_path() {
    let t = tmp();
    let d = t.path();
    // An empty volume; the hive goes in through a compressing mount.
    let vol = volume(d, "vol.img", 48, 4096, 0, &[], &[]);
    {
        let m = Mount::with_options(&vol, &d.join("mnt"), "compression");
        let cfg = m.dir.join("Windows/System32/config");
        std::fs::create_dir_all(&cfg).unwrap();
        // FILE_ATTRIBUTE_COMPRESSED on the directory: new files in it are compressed.
        let script = "import os,sys\np=sys.argv[1]\na=int.from_bytes(os.getxattr(p,'system.ntfs_attrib_be'),'big')\nos.setxattr(p,'system.ntfs_attrib_be',(a|0x800).to_bytes(4,'big'))\n";
        peer("/usr/bin/python3", &["-c", script, cfg.to_str().unwrap()]);
        std::fs::copy(corpus_file(WIN7), cfg.join("SYSTEM")).unwrap();
        let a = peer(
            "/usr/bin/python3",
            &[
                "-c",
                "import os,sys\nprint(int.from_bytes(os.getxattr(sys.argv[1],'system.ntfs_attrib_be'),'big'))",
                cfg.join("SYSTEM").to_str().unwrap(),
            ],
        );
        assert!(
            a.trim().parse::<u32>().unwrap() & 0x800 != 0,
            "not compressed: {a}"
        );
    }
    let r = run_in(d, &["inspect", vol.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(r"Windows\System32\config\SYSTEM")
            && r.stderr.contains("NTFS-compressed")
            && r.stderr.contains("only through a mount"),
        "{}",
        r.stderr
    );
    refused_unchanged(d, vol.to_str().unwrap(), &vol, "compressed", &[]);
}

/// A disk with 4096-byte logical sectors: GPT made by sfdisk with
/// `sector-size: 4096`, NTFS with 4096-byte sectors. As an image file, and
/// through 4096-byte-sector loop devices (GPT and MBR, whose LBAs count
/// 4096-byte sectors), and the partition device reports its disk's sector
/// size.
#[test]
fn disks_with_4096_byte_sectors() {
    let t = tmp();
    let d = t.path();
    let hive = corpus_file(WIN7);
    let vol = d.join("vol.img");
    std::fs::File::create(&vol)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    sh(
        "mkntfs",
        &[
            "-F",
            "-Q",
            "-q",
            "-s",
            "4096",
            "-c",
            "4096",
            "-p",
            "256",
            "-H",
            "255",
            "-S",
            "63",
            "-L",
            "Windows",
            vol.to_str().unwrap(),
        ],
    );
    {
        let m = Mount::new(&vol, &d.join("mnt"));
        let cfg = m.dir.join("Windows/System32/config");
        std::fs::create_dir_all(&cfg).unwrap();
        sh(
            "cp",
            &[
                "--sparse=never",
                hive.to_str().unwrap(),
                cfg.join("SYSTEM").to_str().unwrap(),
            ],
        );
        for l in ["SYSTEM.LOG1", "SYSTEM.LOG2"] {
            std::fs::write(cfg.join(l), vec![0u8; 64 << 10]).unwrap();
        }
    }
    let make = |name: &str, label: &str| {
        let img = d.join(name);
        std::fs::File::create(&img)
            .unwrap()
            .set_len((64 << 20) + (2 << 20))
            .unwrap();
        let ty = if label == "gpt" {
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
        } else {
            "7"
        };
        let script = format!(
            "label: {label}\nsector-size: 4096\nstart=256, size={}, type={ty}\n",
            (64 << 20) / 4096
        );
        // sfdisk takes the sector size from the device (on a plain file it
        // recalculates the script for 512), so it runs on a 4096-byte loop device.
        require_tool("sfdisk");
        let lo = Loop::attach(&img, &["-b", "4096"]);
        let mut c = Command::new("sfdisk")
            .args(["-q", &lo.dev])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        // (It cannot make the kernel re-read a loop device without partscan:
        // a warning on stderr, not a failure.)
        assert!(
            o.status.success(),
            "sfdisk: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        drop(lo);
        let head = std::fs::read(&img).unwrap();
        if label == "gpt" {
            assert_eq!(
                &head[4096..4104],
                b"EFI PART",
                "GPT header at LBA 1 of 4096 bytes"
            );
        } else {
            assert_eq!(
                &head[446 + 8..446 + 12],
                &256u32.to_le_bytes(),
                "MBR start LBA"
            );
        }
        let mut out = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        out.seek(SeekFrom::Start(1 << 20)).unwrap();
        std::io::copy(&mut std::fs::File::open(&vol).unwrap(), &mut out).unwrap();
        img
    };
    let gpt = make("gpt4k.img", "gpt");
    let mbr = make("mbr4k.img", "dos");

    // GPT image file: the table says 4096; everything else as usual.
    let l = ok(run_in(d, &["locate", gpt.to_str().unwrap(), "--json"]));
    assert_eq!(l["disks"][0]["table"], "gpt");
    assert_eq!(l["disks"][0]["sector_size"], 4096, "{l}");
    assert_eq!(l["disks"][0]["logical_sector_size"], 512, "an image file");
    let r = ok(run_in(d, &["inspect", gpt.to_str().unwrap(), "--json"]));
    assert_eq!(r["disk"]["volume"]["sector_size"], 4096);
    assert_eq!(r["disk"]["partition"]["start"], 1 << 20);
    let keep = d.join("gpt4k.orig");
    std::fs::copy(&gpt, &keep).unwrap();
    fix_and_check(d, &gpt, &hive, 5);

    // Through a 4096-byte-sector loop device with its partition added.
    std::fs::copy(&keep, &gpt).unwrap();
    {
        let lo = Loop::attach(&gpt, &["-b", "4096"]).with_partitions();
        let l = ok(run_in(d, &["locate", &lo.dev, &lo.part(1), "--json"]));
        assert_eq!(l["disks"][0]["sector_size"], 4096, "{l}");
        assert_eq!(l["disks"][0]["logical_sector_size"], 4096, "{l}");
        assert_eq!(
            l["disks"][1]["logical_sector_size"], 4096,
            "a partition has its disk's sector size: {l}"
        );
        let rep = disabled(d, &lo.part(1));
        assert_eq!(rep["outcome"], "written");
        let out = d.join("p1.SYSTEM");
        icat(
            Path::new(&lo.part(1)),
            0,
            "/Windows/System32/config/SYSTEM",
            &out,
        );
        for v in NLA {
            assert_eq!(
                hivex_dword(&out, &format!(r"\ControlSet001{RDP}"), v),
                Some(0),
                "{v}"
            );
        }
    }

    // The MBR image *file* says nothing of its sector size: the volume is
    // found at 4096-byte LBAs, and the table says it used them.
    let m = mbr.to_str().unwrap();
    let l = ok(run_in(d, &["locate", m, "--json"]));
    assert_eq!(l["disks"][0]["table"], "mbr", "{l}");
    assert_eq!(l["disks"][0]["sector_size"], 4096, "{l}");
    assert_eq!(l["disks"][0]["logical_sector_size"], 512, "an image file");
    let r = ok(run_in(d, &["inspect", m, "--json"]));
    assert_eq!(r["disk"]["partition"]["start"], 1 << 20);
    assert_eq!(r["disk"]["partition"]["length"], 64 << 20);

    // MBR on a 4096-byte-sector device: LBA 256 is byte 1 MiB.
    let lo = Loop::attach(&mbr, &["-b", "4096"]);
    let l = ok(run_in(d, &["locate", &lo.dev, "--json"]));
    assert_eq!(l["disks"][0]["table"], "mbr", "{l}");
    assert_eq!(l["disks"][0]["sector_size"], 4096, "{l}");
    let r = ok(run_in(d, &["inspect", &lo.dev, "--json"]));
    assert_eq!(r["disk"]["partition"]["start"], 1 << 20);
    assert_eq!(r["disk"]["partition"]["length"], 64 << 20);
    let rep = disabled(d, &lo.dev);
    assert_eq!(rep["outcome"], "written");
    let out = d.join("mbr.SYSTEM");
    icat(
        Path::new(&lo.dev),
        2048,
        "/Windows/System32/config/SYSTEM",
        &out,
    );
    for s in ["ControlSet001", "ControlSet002"] {
        for v in NLA {
            assert_eq!(
                hivex_dword(&out, &format!(r"\{s}{RDP}"), v),
                Some(0),
                "{s} {v}"
            );
        }
    }
}

/// A file inside a raw NTFS volume never grows: an edit that needs a new
/// hive bin past the file's slack is refused before any backup or write,
/// in a dry run as well.
#[test]
fn growth_past_the_file_is_refused_on_a_raw_volume() {
    let t = tmp();
    let d = t.path();
    let xp = corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM");
    let vol = volume(
        d,
        "vol.img",
        48,
        4096,
        2048,
        &[(r"Windows/System32/config/SYSTEM", xp)],
        &[],
    );
    let img = disk(d, "disk.img", &vol, false);
    let i = img.to_str().unwrap();
    // 16,000 bytes of data need a 16 KiB cell, which no free cell of the XP
    // hive holds: the first value takes a new bin in the file's 16 KiB of
    // slack, the second would need the file to grow.
    let data = "ab".repeat(16_000);
    let set = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "set",
            i,
            r"SYSTEM\CurrentControlSet\Control\Terminal Server",
            name,
            "--type",
            "binary",
            "--data",
            &data,
            "--backup-dir",
            "bk",
            "--json",
        ];
        args.extend_from_slice(extra);
        run_in(d, &args)
    };
    let first = ok(set("Blob1", &[]));
    assert_eq!(first["hives"][0]["appended_bins"], 1, "{first}");
    std::fs::remove_dir_all(d.join("bk")).unwrap();
    let before = sha256_file(&img);
    for extra in [&["--dry-run"][..], &[][..]] {
        let r = set("Blob2", extra);
        assert_eq!(r.code, 3, "{extra:?}: {}{}", r.stdout, r.stderr);
        let msg = format!("{}{}", r.stdout, r.stderr);
        assert!(msg.contains("never grows a file"), "{msg}");
        assert!(!d.join("bk").exists(), "no backup for a refused plan");
        assert_eq!(sha256_file(&img), before);
    }
}
