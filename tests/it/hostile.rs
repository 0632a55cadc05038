// SPDX-License-Identifier: GPL-2.0-or-later
//! Hostile and damaged input, through the real binary: each case of
//! docs/reliability.md made from the exact input (built here from the
//! generated fixtures and the corpus, never committed). No command may
//! panic (util::finish fails the test on "panicked"), abort, hang, allocate
//! beyond a small multiple of its input, or write outside the hive.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

pub(crate) const MODERN: &str = "hive-fixtures/system-modern.hive";
const RDP: &str = r"SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp";
const TS: &str = r"SYSTEM\CurrentControlSet\Control\Terminal Server";
/// Address-space limit for runs that must not allocate by a hostile size
/// field (KiB, `ulimit -v`): far above what a 32 KiB hive needs, far below
/// what the old code asked for.
const SMALL_AS_KIB: u64 = 1 << 20;

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// Runs ntrescue under `ulimit -v kib` with a deadline; the process is
/// killed and the test fails when it runs past `secs`.
pub(crate) fn run_limited(cwd: &Path, args: &[&str], kib: u64, secs: u64) -> Run {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run ntrescue");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ntrescue {args:?} ran past {secs} s (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("memory allocation"),
        "ntrescue {args:?} crashed:\n{}",
        r.stderr
    );
    assert!(
        (0..=6).contains(&r.code),
        "ntrescue {args:?}: exit {} is not a documented code\n{}",
        r.code,
        r.stderr
    );
    r
}

/// The absolute offset of value `name`'s vk cell data, from `get --json`.
fn value_offset(d: &Path, hive: &str, key: &str, name: &str) -> usize {
    let g = ok(run_in(d, &["get", hive, key, name, "--json"]));
    g["entries"][0]["values"][0]["offset"]
        .as_u64()
        .unwrap_or_else(|| panic!("{g}")) as usize
}

fn patch(p: &Path, at: usize, bytes: &[u8]) {
    let mut d = std::fs::read(p).unwrap();
    d[at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(p, d).unwrap();
}

/// A zeroed size field of the `SecurityLayer` value cell: every command
/// reports it (unreadable, or an error naming the file and the offset),
/// none crashes, `--json` always prints a document.
#[test]
fn damaged_value_cell_is_reported_by_every_command() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&fixture(MODERN), d, "SYSTEM");
    let vk = value_offset(d, "SYSTEM", RDP, "SecurityLayer");
    // The cell's size field sits just before its data.
    patch(&hive, vk - 4, &[0; 4]);
    let before = sha256_file(&hive);
    let at = format!("{:#x}", vk - 4);

    let r = run_limited(d, &["inspect", "SYSTEM", "--json"], SMALL_AS_KIB, 20);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    let cs = &j["control_sets"][0];
    let sl = cs["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "SecurityLayer")
        .unwrap();
    assert_eq!(sl["state"], "unreadable", "{sl}");
    assert!(sl["error"].as_str().unwrap().contains(&at), "{sl}");
    let human = run_limited(d, &["inspect", "SYSTEM"], SMALL_AS_KIB, 20);
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("UNREADABLE"), "{}", human.stdout);

    for json in [false, true] {
        let mut args = vec!["get", "SYSTEM", RDP];
        if json {
            args.push("--json");
        }
        let r = run_limited(d, &args, SMALL_AS_KIB, 20);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("SYSTEM: ") && r.stderr.contains(&at),
            "{}",
            r.stderr
        );
        if json {
            assert_eq!(r.json()["error"]["exit_code"], 1);
        }
    }
    for extra in [&["--dry-run"][..], &["--backup-dir", "bk"][..]] {
        let mut args = vec!["nla", "disable", "SYSTEM", "--json"];
        args.extend_from_slice(extra);
        let r = run_limited(d, &args, SMALL_AS_KIB, 20);
        assert_eq!(r.code, 3, "{extra:?}: {}{}", r.stdout, r.stderr);
        r.json();
        assert!(
            !d.join("bk").exists() || std::fs::read_dir(d.join("bk")).unwrap().next().is_none()
        );
    }
    // Every other fix, dry run and real: refused, an error or nothing to
    // do, never a crash, a JSON document either way, nothing written.
    let fixes: [&[&str]; 6] = [
        &["rdp", "enable", "SYSTEM"],
        &["rdp", "port", "SYSTEM", "--reset"],
        &["service", "SYSTEM", "TermService", "--start", "automatic"],
        &[
            "set",
            "SYSTEM",
            RDP,
            "SecurityLayer",
            "--type",
            "dword",
            "--data",
            "0",
        ],
        &["delete-value", "SYSTEM", RDP, "SecurityLayer"],
        &[
            "set",
            "SYSTEM",
            TS,
            "fDenyTSConnections",
            "--type",
            "dword",
            "--data",
            "0",
        ],
    ];
    for fix in fixes {
        for extra in [&["--dry-run"][..], &["--backup-dir", "bk"][..]] {
            let mut args = fix.to_vec();
            args.push("--json");
            args.extend_from_slice(extra);
            let r = run_limited(d, &args, SMALL_AS_KIB, 20);
            // 0 only when the fix has nothing to change (rdp enable: the
            // damage is elsewhere and its values are already set).
            let j = r.json();
            assert!(matches!(r.code, 0 | 1 | 3), "{args:?}: {j}");
            if r.code == 0 {
                assert_eq!(j["outcome"], "nothing-to-do", "{args:?}: {j}");
            }
        }
    }
    assert_eq!(sha256_file(&hive), before, "nothing written");
}

/// Binary data with a multi-byte character: an error, before anything
/// is opened.
#[test]
fn binary_data_with_a_multibyte_character_is_an_error() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&fixture(MODERN), d, "SYSTEM");
    let before = sha256_file(&hive);
    for json in [false, true] {
        let mut args = vec![
            "set", "SYSTEM", TS, "X", "--type", "binary", "--data", "aé0",
        ];
        if json {
            args.push("--json");
        }
        let r = run_limited(d, &args, SMALL_AS_KIB, 20);
        // Operator input: a usage error.
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("is not hex"), "{}", r.stderr);
        if json {
            assert_eq!(r.json()["error"]["kind"], "usage");
        }
    }
    assert_eq!(sha256_file(&hive), before);
}

/// The subkey-count field of a key node, by path below the root.
fn subkey_count_field(d: &Path, key: &str) -> usize {
    let g = ok(run_in(d, &["get", "SYSTEM", key, "--json"]));
    let nk = g["entries"][0]["state"]["offset"].as_u64().unwrap() as usize;
    nk + 20
}

/// A key claiming 2^32-1 subkeys: the edit path's structure check fails
/// with the offset, without allocating for the claim, and leaves no
/// unfinished backup bundle.
#[test]
fn a_huge_subkey_count_is_refused_without_allocating_for_it() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&fixture(MODERN), d, "SYSTEM");
    let at = subkey_count_field(d, r"SYSTEM\ControlSet001\Services");
    patch(&hive, at, &u32::MAX.to_le_bytes());
    let before = sha256_file(&hive);
    // inspect reads along the RDP paths only: it finishes, whole.
    let r = run_limited(d, &["inspect", "SYSTEM", "--json"], SMALL_AS_KIB, 20);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json();
    let services = r"SYSTEM\ControlSet001\Services";
    let g = run_limited(d, &["get", "SYSTEM", services], SMALL_AS_KIB, 20);
    assert_eq!(g.code, 1, "{}", g.stderr);
    assert!(g.stderr.contains(&format!("{at:#x}")), "{}", g.stderr);
    for extra in [&["--dry-run"][..], &[][..]] {
        let mut args = vec!["nla", "disable", "SYSTEM", "--json", "--backup-dir", "bk"];
        args.extend_from_slice(extra);
        let r = run_limited(d, &args, SMALL_AS_KIB, 20);
        assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
        let msg = format!("{}{}", r.stdout, r.stderr);
        let at = format!("{at:#x}");
        assert!(msg.contains("subkey count") && msg.contains(&at), "{msg}");
        let bk = d.join("bk");
        assert!(
            !bk.exists() || std::fs::read_dir(&bk).unwrap().next().is_none(),
            "an unfinished bundle was left"
        );
    }
    assert_eq!(sha256_file(&hive), before);
}

/// A subkey list naming its own key (every element): a cycle that made
/// the walks exponential. It is a structure error, found at once.
#[test]
fn a_key_listing_itself_is_a_structure_error_not_a_hang() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&fixture(MODERN), d, "SYSTEM");
    let g = ok(run_in(
        d,
        &["get", "SYSTEM", r"SYSTEM\ControlSet001\Control", "--json"],
    ));
    let nk = g["entries"][0]["state"]["offset"].as_u64().unwrap() as usize;
    let mut bytes = std::fs::read(&hive).unwrap();
    // Relative offset of the key's own cell (its size field).
    let self_rel = (nk - 4 - 4096) as u32;
    let list_rel = u32::from_le_bytes(bytes[nk + 28..nk + 32].try_into().unwrap()) as usize;
    let list = 4096 + list_rel + 4;
    assert!(
        matches!(&bytes[list..list + 2], b"lf" | b"lh" | b"li"),
        "a direct list"
    );
    let n = u16::from_le_bytes([bytes[list + 2], bytes[list + 3]]) as usize;
    assert!(n >= 2, "Control has several subkeys");
    let stride = if &bytes[list..list + 2] == b"li" {
        4
    } else {
        8
    };
    for i in 0..n {
        let e = list + 4 + i * stride;
        bytes[e..e + 4].copy_from_slice(&self_rel.to_le_bytes());
    }
    std::fs::write(&hive, &bytes).unwrap();
    // The keys below Control are unreadable, not missing.
    let r = run_limited(d, &["inspect", "SYSTEM", "--json"], SMALL_AS_KIB, 20);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ts = &r.json()["control_sets"][0]["terminal_server"];
    assert_eq!(ts["state"], "unreadable", "{ts}");
    assert!(
        ts["error"].as_str().unwrap().contains("listed twice"),
        "{ts}"
    );
    let dry = ["nla", "disable", "SYSTEM", "--dry-run"];
    let r = run_limited(d, &dry, SMALL_AS_KIB, 20);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    // An edit elsewhere runs the full tree check, which finds the
    // repetition in linear time.
    let svc = r"SYSTEM\ControlSet002\Services";
    let set = [
        "set",
        "SYSTEM",
        svc,
        "X",
        "--type",
        "dword",
        "--data",
        "1",
        "--dry-run",
    ];
    let r = run_limited(d, &set, SMALL_AS_KIB, 20);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("twice"), "{}", r.stderr);
}

/// A FIFO is refused before it is opened (opening it would block for
/// ever); so is a character device.
#[test]
fn a_fifo_or_a_character_device_is_refused_at_once() {
    let t = tmp();
    let d = t.path();
    sh("mkfifo", &[d.join("pipe").to_str().unwrap()]);
    for src in [d.join("pipe"), PathBuf::from("/dev/zero")] {
        for json in [false, true] {
            let mut args = vec!["inspect", src.to_str().unwrap()];
            if json {
                args.push("--json");
            }
            let r = run_limited(d, &args, SMALL_AS_KIB, 10);
            assert_eq!(r.code, 3, "{}", r.stderr);
            assert!(
                r.stderr.contains("FIFO") || r.stderr.contains("character device"),
                "{}",
                r.stderr
            );
            if json {
                assert_eq!(r.json()["error"]["exit_code"], 3);
            }
        }
        // `locate` given such a path says why, and ends.
        let r = run_limited(
            d,
            &["locate", src.to_str().unwrap(), "--json"],
            SMALL_AS_KIB,
            10,
        );
        assert_eq!(r.code, 5, "{}", r.stderr);
        let notes = r.json()["disks"][0]["notes"].to_string();
        assert!(
            notes.contains("FIFO") || notes.contains("character device"),
            "{notes}"
        );
    }
}

/// A 1 TiB sparse file is not read into memory: zeros are an empty disk
/// (after its first MiB), and a `regf` one is larger than any hive.
#[test]
fn a_terabyte_sparse_file_is_refused_without_reading_it() {
    let t = tmp();
    let d = t.path();
    let zeros = d.join("zeros");
    std::fs::File::create(&zeros)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let r = run_limited(d, &["inspect", "zeros"], SMALL_AS_KIB, 20);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("all zeros"), "{}", r.stderr);
    let big = d.join("SYSTEM");
    {
        let mut f = std::fs::File::create(&big).unwrap();
        f.write_all(&std::fs::read(fixture(MODERN)).unwrap()[..4096])
            .unwrap();
        f.set_len(1 << 40).unwrap();
    }
    let r = run_limited(d, &["inspect", "SYSTEM", "--json"], SMALL_AS_KIB, 20);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("larger than any registry hive"),
        "{}",
        r.stderr
    );
    assert_eq!(r.json()["error"]["exit_code"], 3);
}

/// Errors and reports to a closed or full stream: no panic, the exit code
/// of the failure.
#[test]
fn printing_to_a_full_or_closed_stream_is_not_a_panic() {
    let t = tmp();
    let d = t.path();
    copy_to(&fixture(MODERN), d, "SYSTEM");
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let run = |args: &[&str], out: Stdio, err: Stdio| {
        let o = Command::new(bin())
            .args(args)
            .current_dir(d)
            .stdout(out)
            .stderr(err)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    // The error to a full stderr.
    let (code, _) = run(&["inspect", "/nonexistent"], Stdio::piped(), full().into());
    assert_eq!(code, 1);
    // --json: the error document still goes to stdout.
    let (code, out) = run(
        &["inspect", "/nonexistent", "--json"],
        Stdio::piped(),
        full().into(),
    );
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"]["exit_code"], 1);
    // Closed stderr.
    let (code, _) = run(&["inspect", "/nonexistent"], Stdio::piped(), Stdio::null());
    assert_eq!(code, 1);
    // A report to a full stdout is an I/O error (exit 1), its message to a
    // full stderr: still no panic.
    let (code, _) = run(&["inspect", "SYSTEM"], full().into(), full().into());
    assert_eq!(code, 1);
    let (code, _) = run(
        &["get", "SYSTEM", RDP, "--json"],
        full().into(),
        Stdio::piped(),
    );
    assert_eq!(code, 1);
}

/// A tmpfs of 16 KiB, unmounted on drop.
struct SmallFs(PathBuf);

impl SmallFs {
    fn new(dir: &Path) -> SmallFs {
        std::fs::create_dir_all(dir).unwrap();
        sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                "size=16k",
                "tmpfs",
                dir.to_str().unwrap(),
            ],
        );
        SmallFs(dir.to_path_buf())
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `--output` onto a file system that fills up part-way: an I/O error
/// naming the file, no partial file left, the source untouched.
#[test]
fn output_onto_a_full_file_system_leaves_no_partial_file() {
    let t = tmp();
    let d = t.path();
    let hive = copy_to(&fixture(MODERN), d, "SYSTEM");
    let before = sha256_file(&hive);
    let fs = SmallFs::new(&d.join("small"));
    let out = fs.0.join("SYSTEM.new");
    let r = run_limited(
        d,
        &[
            "nla",
            "disable",
            "SYSTEM",
            "--output",
            out.to_str().unwrap(),
            "--json",
        ],
        SMALL_AS_KIB,
        20,
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("SYSTEM.new") && r.stderr.contains("partial file was removed"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "a partial file was left");
    assert_eq!(r.json()["error"]["exit_code"], 1);
    assert_eq!(sha256_file(&hive), before);
}

/// Human output escapes control characters read from a hive: a value
/// holding a terminal title sequence, a bell and a colour code is shown,
/// never replayed. JSON keeps the exact string.
#[test]
fn control_characters_in_hive_strings_are_escaped_in_human_output() {
    let t = tmp();
    let d = t.path();
    copy_to(&fixture(MODERN), d, "SYSTEM");
    let evil = "\u{1b}]0;title\u{7}\u{1b}[31m";
    let cn = r"SYSTEM\ControlSet001\Control\ComputerName\ComputerName";
    for (key, name) in [(TS, "Evil\u{1b}[2J"), (cn, "ComputerName")] {
        ok(run_in(
            d,
            &[
                "set",
                "SYSTEM",
                key,
                name,
                "--type",
                "sz",
                "--data",
                evil,
                "--backup-dir",
                "bk",
                "--json",
            ],
        ));
    }
    let g = run_in(d, &["get", "SYSTEM", TS]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    let i = run_in(d, &["inspect", "SYSTEM"]);
    assert_eq!(i.code, 0, "{}", i.stderr);
    for (what, text) in [("get", &g.stdout), ("inspect", &i.stdout)] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{what} printed a control character:\n{text:?}"
        );
    }
    assert!(
        g.stdout.contains(r"\x1b]0;title\x07\x1b[31m"),
        "{}",
        g.stdout
    );
    assert!(g.stdout.contains(r"Evil\x1b[2J"), "{}", g.stdout);
    assert!(
        i.stdout.contains(r"\x1b]0;title\x07\x1b[31m"),
        "{}",
        i.stdout
    );
    let j = ok(run_in(d, &["get", "SYSTEM", TS, "Evil\u{1b}[2J", "--json"]));
    assert_eq!(j["entries"][0]["values"][0]["data"], evil);
}

/// A raw volume whose SYSTEM ends in a sparse run (the zeroed slack past
/// the hive bins), with logs whose replay grows the bins into it: the plan
/// refuses before anything is written, in the dry run as in the real run;
/// the image is unchanged and no bundle is left.
#[test]
fn replay_into_a_sparse_tail_on_a_raw_volume_is_refused_in_the_plan() {
    let t = tmp();
    let d = t.path();
    let src = corpus_file("system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B");
    let log = |e: &str| PathBuf::from(format!("{}.{e}", src.display()));
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
            "-c",
            "4096",
            "-L",
            "Windows",
            vol.to_str().unwrap(),
        ],
    );
    {
        let m = Mount::new(&vol, &d.join("mnt"));
        let cfg = m.dir.join("Windows/System32/config");
        std::fs::create_dir_all(&cfg).unwrap();
        // --sparse=always: the zero clusters of the slack become a hole.
        sh(
            "cp",
            &[
                "--sparse=always",
                src.to_str().unwrap(),
                cfg.join("SYSTEM").to_str().unwrap(),
            ],
        );
        for e in ["LOG1", "LOG2"] {
            sh(
                "cp",
                &[
                    log(e).to_str().unwrap(),
                    cfg.join(format!("SYSTEM.{e}")).to_str().unwrap(),
                ],
            );
        }
    }
    let v = vol.to_str().unwrap();
    let i = ok(run_in(d, &["inspect", v, "--json"]));
    assert_eq!(i["disk"]["system"]["sparse"], true, "the copy is sparse");
    let before = sha256_file(&vol);
    for extra in [&["--dry-run"][..], &[][..]] {
        let mut args = vec!["nla", "disable", v, "--json", "--backup-dir", "bk"];
        args.extend_from_slice(extra);
        let r = run_in(d, &args);
        assert_eq!(r.code, 3, "{extra:?}: {}{}", r.stdout, r.stderr);
        let msg = format!("{}{}", r.stdout, r.stderr);
        assert!(msg.contains("no allocated clusters"), "{msg}");
        let bk = d.join("bk");
        assert!(!bk.exists() || std::fs::read_dir(&bk).unwrap().next().is_none());
        assert_eq!(sha256_file(&vol), before, "{extra:?}: nothing written");
    }
}
