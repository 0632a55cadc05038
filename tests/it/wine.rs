// SPDX-License-Identifier: GPL-2.0-or-later
//! The Windows binary (`scripts/windows-exe`) under Wine, against the Linux
//! binary on identical copies of the same inputs: a hive file, a mounted
//! Windows tree reached through a drive letter, a mounted tree with SOFTWARE
//! (Group Policy and forensic values) given by its `Z:\...` path, and a raw
//! GPT disk image.
//! Every command's JSON must be equal once the fields that legitimately
//! differ are normalised ([`normalise`]: paths, the time-stamped backup
//! name, the run facts), and the files must end byte for byte the same.
//!
//! Debian's Wine 8 has no `bcryptprimitives.dll`, which Rust's standard
//! library needs (`ProcessPrng`): a stand-in built from
//! `tests/wine/bcryptprimitives.c` with mingw lies beside the `.exe` for
//! these runs only. The Wine prefix is made once under the target
//! directory (`target/wine/prefix`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::*;

const HIVE: &str = "system/win7sp1-x86__regipy__SYSTEM";
const RDP: &str = r"SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp";
/// The drive letter mapped to the mounted-tree test's Windows copy.
const LETTER: &str = "x:";

/// The Windows binary and its Wine prefix, set up once per test run.
struct Wine {
    exe: PathBuf,
    prefix: PathBuf,
}

fn wine_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wine")
}

fn wine() -> &'static Wine {
    static WINE: OnceLock<Wine> = OnceLock::new();
    WINE.get_or_init(|| {
        require_tool("wine");
        require_tool("x86_64-w64-mingw32-gcc");
        let root = wine_root();
        let bin = root.join("bin");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let o = Command::new(manifest.join("scripts/windows-exe"))
            .arg(&bin)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "scripts/windows-exe: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let exe = bin.join("ntrescue.exe");
        let sums = std::fs::read_to_string(bin.join("ntrescue.exe.sha256")).unwrap();
        assert_eq!(sums, format!("{}  ntrescue.exe\n", sha256_file(&exe)));
        // The shipped build: the stripped dist profile, no debug sections.
        let heads = peer("x86_64-w64-mingw32-objdump", &["-h", exe.to_str().unwrap()]);
        assert!(heads.contains(".text"), "{heads}");
        assert!(!heads.contains(".debug_"), "ntrescue.exe has debug info");
        sh(
            "x86_64-w64-mingw32-gcc",
            &[
                "-shared",
                "-O2",
                "-o",
                bin.join("bcryptprimitives.dll").to_str().unwrap(),
                manifest
                    .join("tests/wine/bcryptprimitives.c")
                    .to_str()
                    .unwrap(),
                "-ladvapi32",
            ],
        );
        let prefix = root.join("prefix");
        if !prefix.join("system.reg").exists() {
            let o = Command::new("wine")
                .arg("wineboot")
                .arg("-i")
                .env("WINEPREFIX", &prefix)
                .env("WINEDEBUG", "-all")
                .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "wineboot: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Wine { exe, prefix }
    })
}

/// Runs the Windows binary under Wine with `args`, in `cwd`.
fn run_win(cwd: &Path, args: &[&str]) -> Run {
    let w = wine();
    let out = Command::new("wine")
        .arg(&w.exe)
        .args(args)
        .current_dir(cwd)
        .env("WINEPREFIX", &w.prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env("NO_COLOR", "1")
        .env_remove("NTRESCUE_FAULT")
        .output()
        .expect("run wine");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked"),
        "ntrescue.exe panicked:\n{}",
        r.stderr
    );
    r
}

/// `p` as Wine's `Z:` drive (the Unix root) shows it, with backslashes.
fn z(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// Maps drive letter [`LETTER`] to `dir` in the Wine prefix.
fn map_letter(dir: &Path) {
    let link = wine().prefix.join("dosdevices").join(LETTER);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(dir, &link).unwrap();
}

/// The fields that legitimately differ between the two runs, made equal:
/// in every string, each of `dirs` (the Linux directory and the Windows
/// spellings of the same place) becomes `<dir>`, and the path that follows
/// it (up to a space, colon, comma, quote or bracket) has its backslashes
/// turned into slashes and its case folded (Windows paths are
/// case-insensitive and Wine keeps the case given); shell quotes around such
/// a path (the Windows binary quotes a path with backslashes in the
/// commands it suggests) and a `\\?\` prefix are dropped, and a fix's
/// `command` is compared without its shell quotes. `backup` (its
/// name holds the time of the run) becomes `<backup>` (and a bundle's
/// name anywhere `<bundle>`), and `run` (the
/// start time, command line and host of each run) becomes `<run>`.
fn normalise(v: &Value, dirs: &[String]) -> Value {
    match v {
        Value::String(s) => Value::String(normalise_str(s, dirs)),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalise(x, dirs)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let x = match k.as_str() {
                        "backup" if x.is_string() => Value::String("<backup>".into()),
                        "run" if x.is_object() => Value::String("<run>".into()),
                        // A fix's command line is quoted for the platform's
                        // shell: '…' for a POSIX shell, "…" for cmd.exe, and
                        // only where that shell needs it (a backslash does
                        // for a POSIX shell, not for cmd.exe): compared
                        // without the quotes.
                        "command" if x.is_string() => {
                            let c = x.as_str().unwrap_or_default().replace(['"', '\''], "");
                            Value::String(normalise_str(&c, dirs))
                        }
                        _ => normalise(x, dirs),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// Marks where a directory of `dirs` stood, before the paths are rewritten.
const MARK: char = '\u{1}';

fn normalise_str(s: &str, dirs: &[String]) -> String {
    let mut s = s.to_string();
    for d in dirs {
        s = s.replace(d.as_str(), &MARK.to_string());
    }
    let s = s.replace(&format!(r"\\?\{MARK}"), &MARK.to_string());
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find(MARK) {
        let before = &rest[..i];
        let after = &rest[i + MARK.len_utf8()..];
        let quoted = before.ends_with('\'');
        out.push_str(before.strip_suffix('\'').unwrap_or(before));
        out.push_str("<dir>");
        let end = after
            .find(|c: char| c.is_whitespace() || ":,()'\";".contains(c) || c == MARK)
            .unwrap_or(after.len());
        let run = after[..end].replace('\\', "/").to_lowercase();
        out.push_str(run.strip_prefix('/').unwrap_or(&run));
        let tail = &after[end..];
        rest = if quoted {
            tail.strip_prefix('\'').unwrap_or(tail)
        } else {
            tail
        };
    }
    out.push_str(rest);
    bundle_names(&out)
}

/// A bundle's directory name (`YYYYMMDDTHHMMSSZ-` and 8 hex digits: the
/// time of the run) becomes `<bundle>`, and the separator before it `/`.
fn bundle_names(s: &str) -> String {
    let b = s.as_bytes();
    let is_name = |i: usize| {
        let Some(n) = b.get(i..i + 25) else {
            return false;
        };
        n[..8].iter().all(u8::is_ascii_digit)
            && n[8] == b'T'
            && n[9..15].iter().all(u8::is_ascii_digit)
            && &n[15..17] == b"Z-"
            && n[17..].iter().all(u8::is_ascii_hexdigit)
            && !b.get(i + 25).is_some_and(u8::is_ascii_alphanumeric)
    };
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && is_name(i) {
            if out.ends_with('\\') {
                out.pop();
                out.push('/');
            }
            out.push_str("<bundle>");
            i += 25;
        } else {
            let c = s[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

/// One side of a comparison: a directory, the binary that runs there, and
/// how that binary spells the directory.
struct Side {
    dir: PathBuf,
    windows: bool,
    /// The directory as this side's command lines give it.
    given: String,
}

impl Side {
    fn new(t: &Path, name: &str, windows: bool) -> Side {
        let dir = t.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let given = if windows {
            z(&dir)
        } else {
            dir.display().to_string()
        };
        Side {
            dir,
            windows,
            given,
        }
    }

    /// `rel` inside the directory, as this side's command lines give it.
    fn path(&self, rel: &str) -> String {
        if self.windows {
            format!(r"{}\{}", self.given, rel.replace('/', "\\"))
        } else {
            format!("{}/{rel}", self.given)
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        if self.windows {
            run_win(&self.dir, args)
        } else {
            run_in(&self.dir, args)
        }
    }

    /// The JSON of a run that must succeed.
    fn json(&self, args: &[&str]) -> Value {
        let r = self.run(args);
        assert_eq!(
            r.code,
            0,
            "{} {args:?}:\n{}\n{}",
            if self.windows {
                "ntrescue.exe"
            } else {
                "ntrescue"
            },
            r.stdout,
            r.stderr
        );
        r.json()
    }
}

/// Runs the same command on both sides (`args` builds each side's
/// arguments) and asserts the normalised JSON is equal; returns both.
fn same(
    lin: &Side,
    win: &Side,
    dirs: &[String],
    args: impl Fn(&Side) -> Vec<String>,
) -> (Value, Value) {
    let (la, wa) = (args(lin), args(win));
    let l = lin.json(&la.iter().map(String::as_str).collect::<Vec<_>>());
    let w = win.json(&wa.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        normalise(&l, dirs),
        normalise(&w, dirs),
        "Linux {la:?} and Windows {wa:?} disagree"
    );
    (l, w)
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The read-only commands, then `nla disable` (dry run, then for real) and
/// `restore`, on `source` (a path relative to each side's directory, or
/// each side's own spelling from `src`); `files` are compared byte for
/// byte between the sides after each write and with the originals after
/// the restore.
fn suite(lin: &Side, win: &Side, dirs: &[String], src: &dyn Fn(&Side) -> String, files: &[&str]) {
    let sums =
        |s: &Side| -> Vec<String> { files.iter().map(|f| sha256_file(&s.dir.join(f))).collect() };
    let before = sums(lin);
    assert_eq!(before, sums(win), "the two copies differ before the run");
    let (ins, _) = same(lin, win, dirs, |s| v(&["inspect", &src(s), "--json"]));
    assert_eq!(ins["command"], "inspect");
    same(lin, win, dirs, |s| {
        v(&["get", &src(s), r"SYSTEM\Select", "--json"])
    });
    let (got, _) = same(lin, win, dirs, |s| {
        v(&[
            "get",
            &src(s),
            &RDP.to_lowercase(),
            "SecurityLayer",
            "--json",
        ])
    });
    assert!(got.to_string().contains("SecurityLayer"), "{got}");
    same(lin, win, dirs, |s| v(&["diagnose", &src(s), "--json"]));
    let (dry, _) = same(lin, win, dirs, |s| {
        v(&[
            "nla",
            "disable",
            &src(s),
            "--backup-dir",
            "bk",
            "--dry-run",
            "--json",
        ])
    });
    assert_eq!(dry["outcome"], "dry-run");
    assert_eq!(sums(lin), before, "--dry-run wrote nothing");
    assert_eq!(sums(win), before, "--dry-run wrote nothing under Wine");
    let (lf, wf) = same(lin, win, dirs, |s| {
        v(&["nla", "disable", &src(s), "--backup-dir", "bk", "--json"])
    });
    assert_eq!(lf["outcome"], "written");
    let after = sums(lin);
    assert_ne!(after, before);
    assert_eq!(sums(win), after, "both binaries wrote the same bytes");
    let (again, _) = same(lin, win, dirs, |s| v(&["inspect", &src(s), "--json"]));
    assert_ne!(normalise(&again, dirs), normalise(&ins, dirs));
    let backup = |s: &Side| {
        let b = if s.windows { &wf } else { &lf };
        b["backup"].as_str().unwrap().to_string()
    };
    same(lin, win, dirs, |s| v(&["restore", &backup(s), "--json"]));
    assert_eq!(sums(lin), before, "restore gives back the originals");
    assert_eq!(
        sums(win),
        before,
        "restore gives back the originals under Wine"
    );
}

/// A writable copy of corpus file `rel` at `dir/name`.
fn writable_copy(rel: &str, dir: &Path, name: &str) -> PathBuf {
    let p = copy_to(&corpus_file(rel), dir, name);
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&p, perm).unwrap();
    p
}

/// A hive file given by an absolute `Z:\...` path with backslashes.
#[test]
fn hive_file_under_wine_matches_linux() {
    let t = tmp();
    let (lin, win) = (
        Side::new(t.path(), "l", false),
        Side::new(t.path(), "w", true),
    );
    for s in [&lin, &win] {
        writable_copy(HIVE, &s.dir, "SYSTEM");
    }
    let dirs = vec![lin.given.clone(), win.given.clone()];
    suite(&lin, &win, &dirs, &|s| s.path("SYSTEM"), &["SYSTEM"]);
}

/// A mounted Windows tree whose root is a drive letter (`X:\`, as a
/// rescue VM shows the attached disk), its directories in other case than
/// Windows writes them; `get` also through `X:\WINDOWS\SYSTEM32\CONFIG`
/// spelled in yet another case.
#[test]
fn mounted_tree_on_a_drive_letter_matches_linux() {
    let t = tmp();
    let (lin, mut win) = (
        Side::new(t.path(), "l", false),
        Side::new(t.path(), "w", true),
    );
    for s in [&lin, &win] {
        let cfg = s.dir.join("windows/system32/Config");
        std::fs::create_dir_all(&cfg).unwrap();
        writable_copy(HIVE, &cfg, "SYSTEM");
    }
    map_letter(&win.dir);
    win.given = format!(r"{}\", LETTER.to_uppercase());
    let dirs = vec![
        lin.given.clone(),
        format!(r"{}\", LETTER.to_uppercase()),
        format!(r"{}\", LETTER),
        LETTER.to_uppercase(),
        LETTER.to_string(),
    ];
    let root = |s: &Side| {
        if s.windows {
            format!(r"{LETTER}\")
        } else {
            s.given.clone()
        }
    };
    suite(
        &lin,
        &win,
        &dirs,
        &root,
        &["windows/system32/Config/SYSTEM"],
    );
    // The config directory, named in another case than on disk.
    let cfg = |s: &Side| {
        if s.windows {
            r"X:\WINDOWS\SYSTEM32\CONFIG".to_string()
        } else {
            s.path("windows/system32/Config")
        }
    };
    same(&lin, &win, &dirs, |s| {
        v(&["get", &cfg(s), RDP, "UserAuthentication", "--json"])
    });
}

/// A SOFTWARE hive with the Terminal Services policy key (the fixture's,
/// plus `Shadow` = 2: full control without consent) and a Sticky Keys
/// debugger (`Image File Execution Options\sethc.exe\Debugger`): the
/// policy and forensic values have something to report.
fn software_hive() -> Vec<u8> {
    use ntrescue::fixtures::build::{build, Data, KeySpec};
    let mut sw = ntrescue::fixtures::software();
    sw.root
        .find_mut(r"Policies\Microsoft\Windows NT\Terminal Services")
        .unwrap()
        .values
        .push(ntrescue::fixtures::build::ValueSpec {
            name: "Shadow".into(),
            data: Data::Dword(2),
        });
    sw.root
        .find_mut(r"Microsoft\Windows NT\CurrentVersion")
        .unwrap()
        .subkeys
        .push(
            KeySpec::new("Image File Execution Options").key(
                KeySpec::new("sethc.exe")
                    .value("Debugger", Data::Sz(r"C:\Windows\System32\cmd.exe".into())),
            ),
        );
    build(&sw)
}

/// A mounted Windows tree given by its `Z:\...` path (Wine's view of the
/// Unix root, as a mounted volume's folder looks on Windows), holding
/// SYSTEM and a SOFTWARE with Group Policy and forensic values: the policy
/// override, the flags and a `get` in SOFTWARE (through the config
/// directory named in another case) agree with Linux, and so does the
/// whole suite.
#[test]
fn mounted_tree_by_z_path_with_software_matches_linux() {
    let t = tmp();
    let (lin, win) = (
        Side::new(t.path(), "l", false),
        Side::new(t.path(), "w", true),
    );
    let sw = software_hive();
    for s in [&lin, &win] {
        let cfg = s.dir.join("tree/Windows/System32/config");
        std::fs::create_dir_all(&cfg).unwrap();
        writable_copy(HIVE, &cfg, "SYSTEM");
        std::fs::write(cfg.join("SOFTWARE"), &sw).unwrap();
    }
    let dirs = vec![lin.given.clone(), win.given.clone()];
    let tree = |s: &Side| s.path("tree");
    let (ins, _) = same(&lin, &win, &dirs, |s| v(&["inspect", &tree(s), "--json"]));
    assert_eq!(ins["software"]["policy_key"]["state"], "present", "{ins}");
    let flags = ins["forensic"]["flags"].to_string();
    assert!(
        flags.contains("sethc.exe") && flags.contains("Shadow"),
        "{flags}"
    );
    let cfg = |s: &Side| {
        if s.windows {
            s.path(r"TREE\WINDOWS\SYSTEM32\CONFIG")
        } else {
            s.path("tree/Windows/System32/config")
        }
    };
    let (got, _) = same(&lin, &win, &dirs, |s| {
        v(&[
            "get",
            &cfg(s),
            r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options\sethc.exe",
            "Debugger",
            "--json",
        ])
    });
    assert!(got.to_string().contains("cmd.exe"), "{got}");
    suite(
        &lin,
        &win,
        &dirs,
        &tree,
        &[
            "tree/Windows/System32/config/SYSTEM",
            "tree/Windows/System32/config/SOFTWARE",
        ],
    );
}

/// A raw GPT disk image (the shared `make-windows-disk`), read and written
/// without mounting, given by its `Z:\...` path.
#[test]
fn raw_disk_image_under_wine_matches_linux() {
    let t = tmp();
    let (lin, win) = (
        Side::new(t.path(), "l", false),
        Side::new(t.path(), "w", true),
    );
    let img = make_disk(t.path());
    for s in [&lin, &win] {
        std::fs::copy(&img, s.dir.join("disk.img")).unwrap();
    }
    let dirs = vec![lin.given.clone(), win.given.clone()];
    suite(&lin, &win, &dirs, &|s| s.path("disk.img"), &["disk.img"]);
}

/// A GPT disk image with [`HIVE`] as `SYSTEM` and two zeroed 64 KiB logs
/// (room for a write's log entry inside the raw volume).
fn make_disk(dir: &Path) -> PathBuf {
    let zero = zero_log(dir);
    let img = dir.join("disk.img");
    let z = zero.to_str().unwrap();
    make_windows_disk(
        &["--size", "64M", "--log1", z, "--log2", z],
        &corpus_file(HIVE),
        &img,
    );
    img
}

/// The normalisation touches only paths and the backup name: a changed
/// value elsewhere still shows.
#[test]
fn normalising_keeps_everything_but_paths() {
    let dirs = vec!["/tmp/a".to_string(), r"Z:\tmp\b".to_string()];
    let l = serde_json::json!({"p": "/tmp/a/SYSTEM", "backup": "bk/1", "n": 1, "k": r"A\B",
        "m": "ntrescue set /tmp/a/SYSTEM:p1:\\X 'K' V", "x": "at /tmp/a/S: bad"});
    let w = serde_json::json!({"p": r"Z:\tmp\b\system", "backup": r"bk\2", "n": 1, "k": r"A\B",
        "m": r"ntrescue set '\\?\Z:\tmp\b\SYSTEM':p1:\X 'K' V", "x": r"at Z:\tmp\b\s: bad"});
    assert_eq!(normalise(&l, &dirs), normalise(&w, &dirs));
    let w2 = serde_json::json!({"p": r"Z:\tmp\b\system", "backup": r"bk\2", "n": 2, "k": r"A\B"});
    assert_ne!(normalise(&l, &dirs), normalise(&w2, &dirs));
    let w3 = serde_json::json!({"p": r"Z:\tmp\b\system", "backup": r"bk\2", "n": 1, "k": r"a\b"});
    assert_ne!(normalise(&l, &dirs), normalise(&w3, &dirs));
    // A fix command: the same arguments quoted for either shell are equal,
    // other arguments are not.
    let c = |s: &str| serde_json::json!({ "command": s });
    let posix = c(r"ntrescue set /tmp/a/SYSTEM 'SYSTEM\K' V --data 'a|b'");
    let cmd = c(r#"ntrescue set Z:\tmp\b\SYSTEM SYSTEM\K V --data "a|b""#);
    assert_eq!(normalise(&posix, &dirs), normalise(&cmd, &dirs));
    let other = c(r#"ntrescue set Z:\tmp\b\SYSTEM SYSTEM\K V --data "a|c""#);
    assert_ne!(normalise(&posix, &dirs), normalise(&other, &dirs));
    // A bundle's name, as each binary spells its path.
    let l = serde_json::json!({"source": {"path": "bk/20261202T081634Z-74ccf18b"}});
    let w = serde_json::json!({"source": {"path": r"bk\20261202T081634Z-86701479"}});
    assert_eq!(normalise(&l, &dirs), normalise(&w, &dirs));
    let w = serde_json::json!({"source": {"path": r"bk\20261202T081634Z-86701479x"}});
    assert_ne!(normalise(&l, &dirs), normalise(&w, &dirs));
}
