// SPDX-License-Identifier: GPL-2.0-or-later
//! Crash consistency: the process is killed (SIGKILL, injected by strace
//! from outside) at every write-ish system call of a fix, and the files it
//! leaves are loaded as Windows would — the primary with its logs replayed
//! when it is dirty. Every state must load as exactly the original hive or
//! exactly the intended one, never a mix; a rerun must then end with the
//! intended hive and a clean primary, and `restore` without --force must
//! put back the original files from the bundle the killed run left. The
//! states are loaded by our replay and by other people's
//! (`peer_replay.py`: python-registry, regipy).

use std::path::{Path, PathBuf};
use std::process::Command;

use ntrescue::format::regf::base_block::{
    BaseBlock, BASE_BLOCK_SIZE, OFF_CHECKSUM, OFF_SEQ1, OFF_SEQ2,
};
use ntrescue::format::regf::log::{recover, LogInput};

use crate::util::*;

/// The syscalls through which a fix changes a file or makes it durable.
const WRITE_SYSCALLS: [&str; 5] = ["write", "pwrite64", "fsync", "fdatasync", "ftruncate"];

/// What `dir/SYSTEM` and its logs load as: the hive bins after a replay of
/// the logs when the primary is dirty, with the base block.
fn loads_as(dir: &Path) -> Vec<u8> {
    let primary = std::fs::read(dir.join("SYSTEM")).unwrap();
    let logs: Vec<(String, Vec<u8>)> = ["SYSTEM.LOG1", "SYSTEM.LOG2"]
        .iter()
        .filter_map(|n| std::fs::read(dir.join(n)).ok().map(|b| (n.to_string(), b)))
        .collect();
    let inputs: Vec<LogInput> = logs
        .iter()
        .map(|(n, b)| LogInput {
            name: n.clone(),
            bytes: b,
        })
        .collect();
    let rec = recover(&primary, &inputs).expect("the files load");
    let bb = BaseBlock::parse(&rec.hive).unwrap();
    let mut image = rec.hive[..BASE_BLOCK_SIZE + bb.hive_bins_size as usize].to_vec();
    // The sequence numbers (and so the checksum) are bookkeeping: a rerun
    // writes one above every number seen, the killed run's log included.
    for at in [OFF_SEQ1, OFF_SEQ2, OFF_CHECKSUM] {
        image[at..at + 4].fill(0);
    }
    image
}

/// What `dir/SYSTEM` and its logs load as by other people's replayers
/// (python-registry for new-format logs, regipy for old ones:
/// `peer_replay.py`), as a digest of the root offset, bins size and bins.
fn peer_loads_as(dir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/peer_replay.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(dir)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "peer replay of {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The peer replayers load yarp's dirty hives as Windows itself recovered
/// them: the new-format set exactly (bins, root, size); the old-format set
/// but for the bytes Windows 7 changed on its own after recovering
/// (logs::old_dirty_hive_matches_what_windows_7_recovered names them).
#[test]
fn peer_replayers_load_as_windows_did() {
    let t = tmp();
    for (set, hive, windows) in [
        ("NewDirtyHive1", "NewDirtyHive", "RecoveredHive_Windows10"),
        ("OldDirtyHive", "OldDirtyHive", "RecoveredHive_Windows7"),
    ] {
        let src = corpus_file(&format!("other/yarp-logsets/{set}/{hive}"));
        let d = t.path().join(set);
        std::fs::create_dir(&d).unwrap();
        copy_to(&src, &d, "SYSTEM");
        for e in ["LOG1", "LOG2"] {
            copy_to(
                &PathBuf::from(format!("{}.{e}", src.display())),
                &d,
                &format!("SYSTEM.{e}"),
            );
        }
        let w = t.path().join(format!("{set}-windows"));
        std::fs::create_dir(&w).unwrap();
        let win = corpus_file(&format!("other/yarp-logsets/{set}/{windows}"));
        copy_to(&win, &w, "SYSTEM");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/peer_replay.py");
        let out = d.join("loaded");
        let st = Command::new("python3")
            .arg(&script)
            .arg(&d)
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success(), "{set}");
        let (ours, theirs) = (std::fs::read(&out).unwrap(), std::fs::read(&win).unwrap());
        let primary = std::fs::read(&src).unwrap();
        assert_ne!(
            ours[BASE_BLOCK_SIZE..],
            primary[BASE_BLOCK_SIZE..],
            "{set}: nothing replayed"
        );
        if set == "NewDirtyHive1" {
            assert_eq!(peer_loads_as(&d), peer_loads_as(&w), "{set}");
        } else {
            let differing: Vec<usize> = (BASE_BLOCK_SIZE..ours.len())
                .filter(|&i| ours[i] != theirs[i])
                .collect();
            assert!(
                differing
                    .iter()
                    .all(|&i| (0x1014..0x101c).contains(&i) || (0x6bdc8..0x6bdcc).contains(&i)),
                "{set}: {differing:x?}"
            );
        }
    }
}

/// A working copy of a hive set: `SYSTEM` and its logs (zeroed 64 KiB logs,
/// as Windows keeps them allocated, when the corpus hive has none).
fn set_up(dir: &Path, hive: &str) {
    let src = corpus_file(hive);
    copy_to(&src, dir, "SYSTEM");
    for e in ["LOG1", "LOG2"] {
        let l = PathBuf::from(format!("{}.{e}", src.display()));
        if l.exists() {
            copy_to(&l, dir, &format!("SYSTEM.{e}"));
        } else {
            std::fs::write(dir.join(format!("SYSTEM.{e}")), vec![0u8; 64 << 10]).unwrap();
        }
    }
}

/// Runs `args` under strace, killed at the `n`th call of `syscall`;
/// true when the kill happened (the process did not finish).
fn killed_at(dir: &Path, args: &[&str], syscall: &str, n: usize) -> bool {
    let inject = format!("inject={syscall}:signal=KILL:when={n}");
    let out = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            &format!("trace={syscall}"),
            "-e",
            &inject,
        ])
        .arg(bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run strace");
    match out.status.code() {
        Some(0) => false,
        // strace reports the tracee's death by SIGKILL as 128 + 9.
        Some(137) | None => true,
        Some(c) => panic!(
            "{syscall}#{n}: exit {c}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A copy of the files directly in `from` (the bundle directory `bk` too,
/// recursively) in the new directory `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The files of a hive set in `dir`, by name.
fn hive_set(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["SYSTEM", "SYSTEM.LOG1", "SYSTEM.LOG2"]
        .iter()
        .filter_map(|n| std::fs::read(dir.join(n)).ok().map(|b| (n.to_string(), b)))
        .collect()
}

/// What a fix is run on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `SYSTEM` and its logs as files.
    HiveFile,
    /// A raw GPT disk image (`disk.img`), written through the volume.
    GptImage,
    /// An NTFS volume image mounted with ntfs-3g (`mnt`).
    Mounted,
}

impl Kind {
    /// The source argument.
    fn arg(self) -> &'static str {
        match self {
            Kind::HiveFile => "SYSTEM",
            Kind::GptImage => "disk.img",
            Kind::Mounted => "mnt",
        }
    }
}

/// Where `SYSTEM` lives inside the images.
const CONFIG: &str = "Windows/System32/config";

/// The image every kill point of an image kind starts from (built once).
fn template(kind: Kind, dir: &Path, hive: &str) -> Option<PathBuf> {
    let src = corpus_file(hive);
    let logs: Vec<(String, PathBuf)> = ["LOG1", "LOG2"]
        .iter()
        .map(|e| {
            (
                e.to_string(),
                PathBuf::from(format!("{}.{e}", src.display())),
            )
        })
        .filter(|(_, p)| p.exists())
        .collect();
    match kind {
        Kind::HiveFile => None,
        Kind::Mounted => {
            let mut files = vec![(format!("{CONFIG}/SYSTEM"), src.clone())];
            files.extend(
                logs.iter()
                    .map(|(e, p)| (format!("{CONFIG}/SYSTEM.{e}"), p.clone())),
            );
            let files: Vec<(&str, PathBuf)> =
                files.iter().map(|(i, p)| (i.as_str(), p.clone())).collect();
            Some(volume(dir, "vol.img", 64, 4096, 0, &files, &[]))
        }
        Kind::GptImage => {
            let img = dir.join("disk.img");
            let mut a = vec!["--size".to_string(), "64M".to_string()];
            if logs.is_empty() {
                let zero = zero_log(dir);
                for opt in ["--log1", "--log2"] {
                    a.push(opt.into());
                    a.push(zero.display().to_string());
                }
            }
            make_windows_disk(&a, &src, &img);
            Some(img)
        }
    }
}

/// A fresh target in `d`.
fn set_up_kind(d: &Path, kind: Kind, hive: &str, template: Option<&Path>) {
    match (kind, template) {
        (Kind::HiveFile, _) => set_up(d, hive),
        (Kind::GptImage, Some(t)) => sh(
            "cp",
            &[
                "--sparse=always",
                t.to_str().unwrap(),
                d.join("disk.img").to_str().unwrap(),
            ],
        ),
        (Kind::Mounted, Some(t)) => sh(
            "cp",
            &[
                "--sparse=always",
                t.to_str().unwrap(),
                d.join("vol.img").to_str().unwrap(),
            ],
        ),
        _ => unreachable!("an image kind without its template"),
    }
}

/// Runs `f` with the target of `d` ready: mounted for [`Kind::Mounted`]
/// (and unmounted, its daemon flushed, afterwards).
fn with_target<R>(d: &Path, kind: Kind, f: impl FnOnce() -> R) -> R {
    if kind != Kind::Mounted {
        return f();
    }
    let mut m = Mount::new(&d.join("vol.img"), &d.join("mnt"));
    let r = f();
    m.unmount();
    r
}

/// A directory holding the target's `SYSTEM` and logs as files: `d`
/// itself for hive files, else a fresh extraction with sleuthkit.
fn view(d: &Path, kind: Kind) -> PathBuf {
    let (img, start) = match kind {
        Kind::HiveFile => return d.to_path_buf(),
        Kind::GptImage => (d.join("disk.img"), 2048),
        Kind::Mounted => (d.join("vol.img"), 0),
    };
    let v = d.join("view");
    let _ = std::fs::remove_dir_all(&v);
    std::fs::create_dir(&v).unwrap();
    for n in ["SYSTEM", "SYSTEM.LOG1", "SYSTEM.LOG2"] {
        icat(&img, start, &format!("{CONFIG}/{n}"), &v.join(n));
    }
    v
}

/// After a kill in `dir`: the bundle the run completed (if it got that
/// far) restores without --force to exactly the files of `orig`; without a
/// bundle, nothing of the target was touched.
fn restores_without_force(dir: &Path, kind: Kind, orig: &[(String, Vec<u8>)], what: &str) {
    let bundles: Vec<PathBuf> = std::fs::read_dir(dir.join("bk"))
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.join("manifest.json").exists())
                .collect()
        })
        .unwrap_or_default();
    if let [bundle] = &bundles[..] {
        let r = with_target(dir, kind, || {
            run_in(dir, &["restore", bundle.to_str().unwrap(), "--json"])
        });
        assert_eq!(r.code, 0, "{what}: restore: {}{}", r.stdout, r.stderr);
        let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(rep["forced"], false, "{what}");
    } else {
        assert!(bundles.is_empty(), "{what}: {} bundles", bundles.len());
    }
    assert!(
        hive_set(&view(dir, kind)) == orig,
        "{what}: the files are not the original ones"
    );
}

/// One state of the target as every loader sees it.
#[derive(PartialEq)]
struct Loaded {
    ours: Vec<u8>,
    peer: String,
    files: Vec<(String, Vec<u8>)>,
}

fn load(d: &Path, kind: Kind) -> Loaded {
    let v = view(d, kind);
    Loaded {
        ours: loads_as(&v),
        peer: peer_loads_as(&v),
        files: hive_set(&v),
    }
}

/// Kills a fix (`cmd` on the target of `kind`) at every `stride`th call
/// of each write-ish syscall (every call with `NTRESCUE_CRASH_FULL=1`:
/// `scripts/crash-full`) and checks each state: it loads, by our replay and
/// by the peers', as the original or the intended hive; `restore` without
/// --force from the bundle puts back the original files; a rerun ends with
/// the intended hive and a clean primary.
fn every_kill_point(kind: Kind, hive: &str, cmd: &[&str], stride: usize) {
    let stride = if std::env::var_os("NTRESCUE_CRASH_FULL").is_some() {
        1
    } else {
        stride
    };
    require_tool("strace");
    let t = tmp();
    let template = template(kind, t.path(), hive);
    let template = template.as_deref();
    // The source goes where `cmd` says "@", else after it.
    let mut args: Vec<&str> = cmd
        .iter()
        .map(|&a| if a == "@" { kind.arg() } else { a })
        .collect();
    if !cmd.contains(&"@") {
        args.push(kind.arg());
    }
    args.extend(["--backup-dir", "bk", "--json"]);
    let args = &args[..];
    let what = format!("{hive} ({kind:?})");
    // The original as loaded, and the intended result of an uninterrupted run.
    let orig_dir = t.path().join("orig");
    std::fs::create_dir(&orig_dir).unwrap();
    set_up_kind(&orig_dir, kind, hive, template);
    let original = load(&orig_dir, kind);
    let want_dir = t.path().join("want");
    std::fs::create_dir(&want_dir).unwrap();
    set_up_kind(&want_dir, kind, hive, template);
    ok(with_target(&want_dir, kind, || run_in(&want_dir, args)));
    let intended = load(&want_dir, kind);
    assert!(
        original.ours != intended.ours,
        "{what}: the fix changes nothing"
    );
    assert_ne!(
        original.peer, intended.peer,
        "{what}: the peer sees no change"
    );
    let mut points = 0;
    // Kill points whose files are neither the original nor the result (the
    // cases restore must recognise as a stopped write of ours).
    let mut between = 0;
    for syscall in WRITE_SYSCALLS {
        for n in (1..).step_by(stride) {
            let at = format!("{what}: killed at {syscall} #{n}");
            let d = t.path().join(format!("{syscall}-{n}"));
            std::fs::create_dir(&d).unwrap();
            set_up_kind(&d, kind, hive, template);
            if !with_target(&d, kind, || killed_at(&d, args, syscall, n)) {
                std::fs::remove_dir_all(&d).unwrap();
                break;
            }
            points += 1;
            let now = load(&d, kind);
            assert!(
                now.ours == original.ours || now.ours == intended.ours,
                "{at}: the files load as neither the original nor the intended hive"
            );
            // Other people's replayers load it as the same one of the two.
            assert!(
                (now.ours == original.ours && now.peer == original.peer)
                    || (now.ours == intended.ours && now.peer == intended.peer),
                "{at}: the peer replayers load it differently"
            );
            if now.files != original.files && now.files != intended.files {
                between += 1;
            }
            // `restore` on this state; the rerun on a copy of it.
            let again = t.path().join(format!("{syscall}-{n}-rerun"));
            copy_dir(&d, &again);
            restores_without_force(&d, kind, &original.files, &at);
            std::fs::remove_dir_all(&d).unwrap();
            let d = again;
            // A rerun ends with the intended hive, written clean (it finishes
            // a write of its own that was stopped).
            let r = with_target(&d, kind, || run_in(&d, args));
            assert_eq!(r.code, 0, "{at}: rerun: {}", r.stderr);
            let after = load(&d, kind);
            assert!(
                after.ours == intended.ours,
                "{at}: the rerun does not load as the intended hive"
            );
            assert_eq!(after.peer, intended.peer, "{at}: rerun, by the peers");
            let (s1, s2, clean) = base_block(&view(&d, kind).join("SYSTEM"));
            assert!(
                s1 == s2 && clean,
                "{at}: the rerun leaves the primary dirty ({s1}/{s2})"
            );
            std::fs::remove_dir_all(&d).unwrap();
        }
    }
    assert!(points > 10 / stride, "{what}: only {points} kill points");
    assert!(
        between > 0,
        "{what}: no kill point left a file between its states"
    );
}

/// The in-place NLA fix of a Windows 7 hive (new dirty-vector log).
#[test]
fn kill_at_every_write_of_an_in_place_fix() {
    every_kill_point(Kind::HiveFile, WIN7, &["nla", "disable"], 1);
}

/// A dirty Windows 10 hive rewritten reconciled (the entry appended to the
/// log its replay ends in).
#[test]
fn kill_at_every_write_of_a_dirty_hive_rewrite() {
    // Hundreds of body writes: every 25th in the default run.
    every_kill_point(Kind::HiveFile, SYSTEM_B, &["nla", "disable"], 25);
}

/// A dirty Windows 7 hive whose one old-format log the replay needs
/// (yarp's OldDirtyHive): the write's dirty-vector log goes into the other
/// slot under a later timestamp.
#[test]
fn kill_at_every_write_of_an_old_format_dirty_rewrite() {
    let set = [
        "set",
        "@",
        "SYSTEM",
        "NtrescueMark",
        "--type",
        "dword",
        "--data",
        "5",
    ];
    every_kill_point(Kind::HiveFile, OLD_DIRTY, &set, 1);
}

/// Value creation in the Windows XP hive (cells allocated, value lists
/// moved).
#[test]
fn kill_at_every_write_of_value_creation() {
    every_kill_point(Kind::HiveFile, XP, &["nla", "disable"], 1);
}

/// The same fixes on a raw GPT disk image, written through the volume's
/// data runs (the dirty rewrite is refused there: its entry does not fit
/// the logs' clusters). Every 3rd call in the default run.
#[test]
fn kill_at_every_write_on_a_raw_gpt_image() {
    every_kill_point(Kind::GptImage, WIN7, &["nla", "disable"], 3);
    every_kill_point(Kind::GptImage, XP, &["nla", "disable"], 3);
}

/// The same fixes through an ntfs-3g mount of the volume (the daemon keeps
/// running when ntrescue is killed; the state is read after unmounting).
#[test]
fn kill_at_every_write_through_an_ntfs3g_mount() {
    every_kill_point(Kind::Mounted, WIN7, &["nla", "disable"], 3);
    every_kill_point(Kind::Mounted, OLD_DIRTY, &SET_MARK, 4);
}

/// The dirty SYSTEM_B rewrite through an ntfs-3g mount: every 50th call in
/// the default run.
#[test]
fn kill_at_every_write_of_a_dirty_hive_rewrite_through_a_mount() {
    every_kill_point(Kind::Mounted, SYSTEM_B, &["nla", "disable"], 50);
}

/// Kills `restore` (after a finished fix of `hive` as a hive file) at
/// every `stride`th call of each write-ish syscall (every call with
/// `NTRESCUE_CRASH_FULL=1`): each state loads, by our replay and by the
/// peers', as the fixed hive or the original; a second `restore` (no
/// --force) then puts back the original files byte for byte.
fn every_restore_kill_point(hive: &str, stride: usize) {
    let stride = if std::env::var_os("NTRESCUE_CRASH_FULL").is_some() {
        1
    } else {
        stride
    };
    require_tool("strace");
    let t = tmp();
    // A fixed copy with its bundle (the bundle names its own directory's
    // files, so each kill point gets a fix of its own).
    let fixed_copy = |d: &Path| -> String {
        std::fs::create_dir(d).unwrap();
        set_up(d, hive);
        ok(run_in(
            d,
            &["nla", "disable", "SYSTEM", "--backup-dir", "bk", "--json"],
        ));
        let name = std::fs::read_dir(d.join("bk"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .next()
            .unwrap();
        format!("bk/{name}")
    };
    let orig_dir = t.path().join("orig");
    std::fs::create_dir(&orig_dir).unwrap();
    set_up(&orig_dir, hive);
    let original = load(&orig_dir, Kind::HiveFile);
    let want_dir = t.path().join("fixed");
    fixed_copy(&want_dir);
    let fixed = load(&want_dir, Kind::HiveFile);
    let what = format!("restore of {hive}");
    let (mut points, mut between) = (0, 0);
    // The first calls (the bundle's record, the log entry of step 1) every
    // one, then every `stride`th.
    let calls = (1..=12).chain((12 + stride..).step_by(stride));
    for syscall in WRITE_SYSCALLS {
        for n in calls.clone() {
            let at = format!("{what}: killed at {syscall} #{n}");
            let d = t.path().join(format!("{syscall}-{n}"));
            let bundle = fixed_copy(&d);
            let args = ["restore", bundle.as_str(), "--json"];
            if !killed_at(&d, &args, syscall, n) {
                std::fs::remove_dir_all(&d).unwrap();
                break;
            }
            points += 1;
            let now = load(&d, Kind::HiveFile);
            assert!(
                (now.ours == original.ours && now.peer == original.peer)
                    || (now.ours == fixed.ours && now.peer == fixed.peer),
                "{at}: the files load as neither the fixed nor the original hive (or the peers differ)"
            );
            if now.files != original.files && now.files != fixed.files {
                between += 1;
            }
            let r = run_in(&d, &args);
            assert_eq!(r.code, 0, "{at}: second restore: {}{}", r.stdout, r.stderr);
            let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(rep["forced"], false, "{at}");
            assert!(
                hive_set(&d) == original.files,
                "{at}: the second restore does not give the original files"
            );
            std::fs::remove_dir_all(&d).unwrap();
        }
    }
    assert!(points > 10 / stride, "{what}: only {points} kill points");
    assert!(
        between > 0,
        "{what}: no kill point left a file between its states"
    );
}

/// `restore` after the Windows 7 in-place fix (a clean original), after the
/// XP value creation, and after the dirty SYSTEM_B rewrite (a dirty original: its own base block goes
/// back over a body that already holds what its logs replay).
#[test]
fn kill_at_every_write_of_a_restore() {
    every_restore_kill_point(WIN7, 1);
    every_restore_kill_point(XP, 2);
}

/// `restore` after the dirty SYSTEM_B rewrite: hundreds of body writes
/// (every page the original's replay writes), every 50th in the default
/// run after the first twelve. (Found by the full run: a kill inside the
/// log entry of a log the fix had not written left a restore that asked
/// for --force.)
#[test]
fn kill_at_every_write_of_a_dirty_hive_restore() {
    every_restore_kill_point(SYSTEM_B, 50);
}

const WIN7: &str = "system/win7sp1-x86__regipy__SYSTEM";
const XP: &str = "system/winxpsp3-x86__bitcurator__SYSTEM";
const OLD_DIRTY: &str = "other/yarp-logsets/OldDirtyHive/OldDirtyHive";
/// A value created at the root of a hive that is not SYSTEM (`@`: the source).
const SET_MARK: [&str; 8] = [
    "set",
    "@",
    "SYSTEM",
    "NtrescueMark",
    "--type",
    "dword",
    "--data",
    "5",
];
const SYSTEM_B: &str = "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";

/// Runs `args` under strace with EIO injected into the `n`th call of
/// `syscall`: None when the process made fewer calls, else its exit code
/// and whether the failed call wrote to standard output or error.
fn eio_at(dir: &Path, args: &[&str], syscall: &str, n: usize) -> Option<(i32, bool)> {
    let trace = dir.join("strace.out");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .args([
            "-e",
            &format!("trace={syscall}"),
            "-e",
            &format!("inject={syscall}:error=EIO:when={n}"),
        ])
        .arg(bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run strace");
    let log = std::fs::read_to_string(&trace).unwrap();
    std::fs::remove_file(&trace).unwrap();
    let injected = log.lines().find(|l| l.contains("(INJECTED)"))?;
    let console = [format!("{syscall}(1,"), format!("{syscall}(2,")]
        .iter()
        .any(|c| injected.contains(c.as_str()));
    Some((out.status.code().expect("not killed"), console))
}

/// An I/O error at any write-ish call of a fix: the run either fails with
/// the files exactly as they were (the write rolled back, exit 4, or never
/// started, exit 1), or — only when the error hit the console output
/// after the write was done — the files are exactly the intended ones.
#[test]
fn eio_at_every_write_leaves_the_original_or_the_intended_files() {
    require_tool("strace");
    let hive = "system/win7sp1-x86__regipy__SYSTEM";
    let args = ["nla", "disable", "SYSTEM", "--backup-dir", "bk", "--json"];
    let t = tmp();
    let orig_dir = t.path().join("orig");
    std::fs::create_dir(&orig_dir).unwrap();
    set_up(&orig_dir, hive);
    let want_dir = t.path().join("want");
    std::fs::create_dir(&want_dir).unwrap();
    set_up(&want_dir, hive);
    ok(run_in(&want_dir, &args));
    let (original, intended) = (hive_set(&orig_dir), hive_set(&want_dir));
    let mut rolled_back = 0;
    for syscall in WRITE_SYSCALLS {
        for n in 1.. {
            let d = t.path().join(format!("eio-{syscall}-{n}"));
            std::fs::create_dir(&d).unwrap();
            set_up(&d, hive);
            let Some((code, console)) = eio_at(&d, &args, syscall, n) else {
                std::fs::remove_dir_all(&d).unwrap();
                break;
            };
            let files = hive_set(&d);
            let what = format!("EIO at {syscall} #{n}: exit {code}");
            match code {
                0 => assert!(files == intended, "{what}: not the intended files"),
                4 => {
                    rolled_back += 1;
                    assert!(files == original, "{what}: not the original files");
                }
                1 if files == original => {}
                1 => assert!(console && files == intended, "{what}: a mix of states"),
                c => panic!("{what}: unexpected exit code {c}"),
            }
            std::fs::remove_dir_all(&d).unwrap();
        }
    }
    assert!(rolled_back > 3, "only {rolled_back} rolled-back writes");
}

/// Two runs on one target at once: one writes, the other is refused (exit
/// 3, naming the lock) or waits for it with --wait; never both writing,
/// never advice to restore with --force.
#[test]
fn concurrent_runs_are_serialised() {
    let t = tmp();
    let d = t.path();
    set_up(d, "system/win7sp1-x86__regipy__SYSTEM");
    for round in 0..6 {
        let (a, b) = if round % 2 == 0 {
            (["nla", "disable"], ["nla", "enable"])
        } else {
            (["nla", "enable"], ["nla", "disable"])
        };
        let spawn = |cmd: [&str; 2]| {
            Command::new(bin())
                .args(cmd)
                .args(["SYSTEM", "--backup-dir", "bk", "--json"])
                .current_dir(d)
                .env("NO_COLOR", "1")
                .output()
                .unwrap()
        };
        let (ra, rb) = std::thread::scope(|s| {
            let ha = s.spawn(|| spawn(a));
            let hb = s.spawn(|| spawn(b));
            (ha.join().unwrap(), hb.join().unwrap())
        });
        for r in [&ra, &rb] {
            let code = r.status.code().unwrap();
            let err = String::from_utf8_lossy(&r.stderr);
            assert!(code == 0 || code == 3, "round {round}: exit {code}: {err}");
            if code == 3 {
                assert!(err.contains("holds the lock"), "round {round}: {err}");
            }
            assert!(!err.contains("--force"), "round {round}: {err}");
        }
        // The files load as one of the two runs' results, whole.
        let (s1, s2, ok) = base_block(&d.join("SYSTEM"));
        assert!(s1 == s2 && ok, "round {round}: {s1}/{s2}");
    }
    // --wait serialises instead of refusing.
    let (ra, rb) = std::thread::scope(|s| {
        let run = |cmd: &'static str| {
            let d = d.to_path_buf();
            move || {
                Command::new(bin())
                    .args(["nla", cmd, "SYSTEM", "--backup-dir", "bk", "--wait", "60"])
                    .current_dir(d)
                    .output()
                    .unwrap()
            }
        };
        let ha = s.spawn(run("disable"));
        let hb = s.spawn(run("enable"));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_eq!(
        ra.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ra.stderr)
    );
    assert_eq!(
        rb.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rb.stderr)
    );
}
