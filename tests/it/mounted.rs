// SPDX-License-Identifier: GPL-2.0-or-later
//! A mounted Windows tree: a real NTFS volume made with mkntfs, mounted with
//! ntfs-3g; inspect, disable and restore run through the mount, and the
//! result is checked from outside it (ntfscat + hivex, ntfsfix).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

fn make_volume(dir: &Path, hive: &Path) -> PathBuf {
    require_tool("mkntfs");
    let img = dir.join("vol.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(64 << 20).unwrap();
    peer(
        "mkntfs",
        &["-F", "-Q", "-q", "-L", "Windows", img.to_str().unwrap()],
    );
    let mut m = Mount::new(&img, &dir.join("mnt"));
    let cfg = m.dir.join("Windows/System32/config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::copy(hive, cfg.join("SYSTEM")).unwrap();
    m.unmount();
    img
}

fn ntfscat(img: &Path, path: &str, out: &Path) {
    require_tool("ntfscat");
    let o = Command::new("ntfscat").arg(img).arg(path).output().unwrap();
    assert!(
        o.status.success(),
        "ntfscat: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(out, o.stdout).unwrap();
}

#[test]
fn inspect_disable_restore_through_an_ntfs3g_mount() {
    let src = corpus_file("system/win7sp1-x86__regipy__SYSTEM");
    let t = tmp();
    let img = make_volume(t.path(), &src);
    let original = sha256_file(&src);
    let mnt = t.path().join("mnt");
    let bundle;
    {
        let _m = Mount::new(&img, &mnt);
        // Inspect through the mount reports what the hive file reports.
        let r = run_in(t.path(), &["inspect", "mnt", "--verify", "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let rep = r.json();
        assert_eq!(rep["source"]["kind"], "mounted-tree");
        assert_eq!(rep["system"]["file"]["sha256"], original);
        assert_eq!(rep["verdict"]["nla"], "off");

        // The default backup directory on the volume being repaired is refused.
        let r = run_in(&mnt, &["nla", "disable", "."]);
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(r.stderr.contains("backup"), "{}", r.stderr);
        // So is the hive file given by its path inside the mount.
        let cfg = mnt.join("Windows/System32/config");
        let r = run_in(&cfg, &["nla", "disable", "SYSTEM"]);
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(r.stderr.contains("backup directory"), "{}", r.stderr);
        assert!(!cfg.join("ntrescue-backups").exists());

        let r = run_in(
            t.path(),
            &["nla", "disable", "mnt", "--json", "--backup-dir", "bk"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        bundle = r.json()["backup"].as_str().unwrap().to_string();
        assert!(bundle.starts_with("bk/"));
    }
    // Check the edit from outside, after a full unmount.
    let out = t.path().join("extracted");
    ntfscat(&img, "/Windows/System32/config/SYSTEM", &out);
    for set in ["ControlSet001", "ControlSet002"] {
        for v in [
            "SecurityLayer",
            "UserAuthentication",
            "fAllowSecProtocolNegotiation",
        ] {
            let key = format!(r"\{set}\Control\Terminal Server\WinStations\RDP-Tcp");
            assert_eq!(hivex_dword(&out, &key, v), Some(0), "{set} {v}");
        }
    }
    peer("ntfsfix", &["-n", img.to_str().unwrap()]);
    {
        let _m = Mount::new(&img, &mnt);
        let r = run_in(t.path(), &["restore", &bundle]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    ntfscat(&img, "/Windows/System32/config/SYSTEM", &out);
    assert_eq!(sha256_file(&out), original);
}

/// The dirty Windows 10 hive with its logs through an ntfs-3g mount:
/// replayed, fixed, written clean; logs untouched.
#[test]
fn dirty_hive_through_a_mount() {
    let t = tmp();
    let src = corpus_file("system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B");
    let img = t.path().join("vol.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    peer(
        "mkntfs",
        &["-F", "-Q", "-q", "-L", "Windows", img.to_str().unwrap()],
    );
    let mnt = t.path().join("mnt");
    let _m = Mount::new(&img, &mnt);
    let cfg = mnt.join("Windows/System32/config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::copy(&src, cfg.join("SYSTEM")).unwrap();
    for e in ["LOG1", "LOG2"] {
        std::fs::copy(
            format!("{}.{e}", src.display()),
            cfg.join(format!("SYSTEM.{e}")),
        )
        .unwrap();
    }
    let logs = [
        sha256_file(&cfg.join("SYSTEM.LOG1")),
        sha256_file(&cfg.join("SYSTEM.LOG2")),
    ];
    let r = run_in(
        t.path(),
        &["nla", "disable", "mnt", "--backup-dir", "bk", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (s1, s2, ok) = base_block(&cfg.join("SYSTEM"));
    assert!(s1 == 2131 && s2 == 2131 && ok);
    // The transaction went into LOG2 (its chain continued); LOG1 untouched.
    assert_eq!(sha256_file(&cfg.join("SYSTEM.LOG1")), logs[0]);
    assert_ne!(sha256_file(&cfg.join("SYSTEM.LOG2")), logs[1]);
    let key = r"\ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
    assert_eq!(
        hivex_dword(&cfg.join("SYSTEM"), key, "UserAuthentication"),
        Some(0)
    );
}

/// A Windows tree whose root holds an active hibernation image (as a
/// Windows rescue host mounts a disk that used Fast Startup): inspect
/// warns; a fix through the tree or through the hive's own path is refused
/// with nothing written; once the image is inactive the fix goes through.
#[test]
fn active_hiberfil_in_a_tree_refuses_writes() {
    let t = tmp();
    let root = t.path().join("win");
    let cfg = root.join("Windows/System32/config");
    std::fs::create_dir_all(&cfg).unwrap();
    let h = copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        &cfg,
        "SYSTEM",
    );
    let mut image = b"HIBR".to_vec();
    image.resize(8192, 0x11);
    std::fs::write(root.join("hiberfil.sys"), &image).unwrap();
    let sha = sha256_file(&h);
    let i = run_in(t.path(), &["inspect", "win", "--json"]);
    assert_eq!(i.code, 0, "{}", i.stderr);
    assert!(
        i.json()["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("hiberfil.sys")),
        "{}",
        i.stdout
    );
    for src in ["win", "win/Windows/System32/config/SYSTEM"] {
        let r = run_in(
            t.path(),
            &["nla", "disable", src, "--backup-dir", "bk", "--json"],
        );
        assert_eq!(r.code, 3, "{src}: {}", r.stderr);
        assert!(r.stdout.contains("hibernation"), "{src}: {}", r.stdout);
        assert_eq!(sha256_file(&h), sha, "{src}");
        assert!(!t.path().join("bk").exists(), "{src}: no backup");
    }
    // Windows clears the header on a full boot: then the fix is written.
    image[..4].copy_from_slice(&[0; 4]);
    std::fs::write(root.join("hiberfil.sys"), &image).unwrap();
    let r = run_in(
        t.path(),
        &["nla", "disable", "win", "--backup-dir", "bk", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ne!(sha256_file(&h), sha);
}
