// SPDX-License-Identifier: GPL-2.0-or-later
//! Shared helpers: run the binary, find the corpus, call peer tools.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The `ntrescue` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ntrescue")
}

/// `../shared/corpus` (or `$NTRESCUE_CORPUS`).
pub fn corpus() -> PathBuf {
    std::env::var_os("NTRESCUE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// A file of the corpus; panics with a clear message when absent.
pub fn corpus_file(rel: &str) -> PathBuf {
    let p = corpus().join(rel);
    assert!(
        p.exists(),
        "corpus file {} is missing (is ../shared beside the repo?)",
        p.display()
    );
    p
}

/// `../shared/tools/make-windows-disk ARGS SYSTEM IMG` (the shared disk
/// builder), asserted to succeed.
pub fn make_windows_disk<S: AsRef<std::ffi::OsStr>>(args: &[S], system: &Path, img: &Path) {
    let tool = corpus().join("../tools/make-windows-disk");
    let o = Command::new(&tool)
        .args(args)
        .arg(system)
        .arg(img)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "make-windows-disk: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A zeroed 64 KiB file in `dir`, for make-windows-disk's `--log1` and
/// `--log2`: the logs Windows keeps allocated beside a hive, room for a
/// write's log entry inside the raw volume.
pub fn zero_log(dir: &Path) -> PathBuf {
    let p = dir.join("zero-log");
    std::fs::write(&p, vec![0u8; 64 << 10]).unwrap();
    p
}

/// Result of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

fn finish(out: Output) -> Run {
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked"),
        "ntrescue panicked:\n{}",
        r.stderr
    );
    r
}

/// Runs ntrescue with `args` in `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Run {
    run_env(cwd, args, &[])
}

/// Runs ntrescue with extra environment variables.
pub fn run_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(cwd)
        .env_remove("NTRESCUE_FAULT")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    finish(c.output().expect("run ntrescue"))
}

/// The JSON report of a run that must succeed.
pub fn ok(r: Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.json()
}

/// SHA-256 of a file.
pub fn sha256_file(p: &Path) -> String {
    let data = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    hex(&Sha256::digest(&data))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Fails the test when a peer tool is not installed (never a silent skip).
pub fn require_tool(name: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "peer tool `{name}` is not installed: run .ci/run (or install it) before the tests"
    );
}

/// Runs a peer command; returns stdout, panics with stderr on failure.
pub fn peer(cmd: &str, args: &[&str]) -> String {
    require_tool(cmd);
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `hivexget HIVE KEY VALUE` as a number.
pub fn hivex_dword(hive: &Path, key: &str, value: &str) -> Option<u32> {
    require_tool("hivexget");
    let out = Command::new("hivexget")
        .arg(hive)
        .arg(key)
        .arg(value)
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Reads DWORDs with regipy (an independent Python reader): returns one
/// line "key|value|data" per request, data "absent" when missing.
pub fn regipy_dwords(hive: &Path, reqs: &[(&str, &str)]) -> Vec<String> {
    let script = r#"
import sys, json
from regipy.registry import RegistryHive
h = RegistryHive(sys.argv[1])
for key, name in json.loads(sys.argv[2]):
    try:
        k = h.get_key(key)
        v = k.get_value(name)
        print(f"{key}|{name}|{'absent' if v is None else v}")
    except Exception as e:
        print(f"{key}|{name}|absent")
"#;
    let reqs_json = serde_json::to_string(reqs).unwrap();
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(hive)
        .arg(&reqs_json)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "regipy failed (pip install regipy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// A fresh temporary directory.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Copies `src` into `dir` as `name` (writable).
pub fn copy_to(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let dest = dir.join(name);
    std::fs::copy(src, &dest).unwrap();
    let mut perm = std::fs::metadata(&dest).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&dest, perm).unwrap();
    dest
}

/// Rows of `../shared/corpus/MANIFEST.tsv` as maps.
pub fn manifest() -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(corpus_file("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .map(|l| {
            head.iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Independent base-block check: (seq1, seq2, checksum valid) computed here.
pub fn base_block(p: &Path) -> (u32, u32, bool) {
    let d = std::fs::read(p).unwrap();
    let w = |o: usize| u32::from_le_bytes(d[o..o + 4].try_into().unwrap());
    let mut x = 0u32;
    for o in (0..508).step_by(4) {
        x ^= w(o);
    }
    let x = match x {
        0 => 1,
        0xFFFF_FFFF => 0xFFFF_FFFE,
        v => v,
    };
    (w(4), w(8), x == w(508))
}

pub type Tree = BTreeMap<String, BTreeMap<String, String>>;

/// hivex's view: key path (upper case) -> value name (upper case) -> data line.
pub fn hivex_tree(hive: &Path) -> Tree {
    let text = peer("hivexregedit", &["--export", hive.to_str().unwrap(), "\\"]);
    let mut t = Tree::new();
    let mut cur = String::new();
    for line in text.lines() {
        if let Some(k) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            cur = k.trim_start_matches('\\').to_uppercase();
            t.entry(cur.clone()).or_default();
        } else if let Some((name, data)) = line.split_once('=') {
            let name = if name == "@" {
                String::new()
            } else {
                // .reg quoting escapes backslashes and quotes.
                name.trim_matches('"')
                    .replace(r"\\", r"\")
                    .replace(r#"\""#, "\"")
            };
            t.entry(cur.clone())
                .or_default()
                .insert(name.to_uppercase(), data.to_string());
        }
    }
    t
}

/// Differences between two trees as (key, value) pairs.
pub fn changed(a: &Tree, b: &Tree) -> Vec<(String, String)> {
    let mut out = Vec::new();
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "keys added or removed"
    );
    for (k, va) in a {
        let vb = &b[k];
        for n in va.keys().chain(vb.keys()) {
            if va.get(n) != vb.get(n) && !out.contains(&(k.clone(), n.clone())) {
                out.push((k.clone(), n.clone()));
            }
        }
    }
    out.sort();
    out
}

/// Asserts two trees are equal, printing only the differing entries.
pub fn assert_same_tree<V: PartialEq + std::fmt::Debug>(
    got: &BTreeMap<String, BTreeMap<String, V>>,
    want: &BTreeMap<String, BTreeMap<String, V>>,
    ctx: &str,
) {
    let mut diffs = Vec::new();
    for k in got.keys().chain(want.keys()) {
        match (got.get(k), want.get(k)) {
            (Some(g), Some(w)) => {
                for n in g.keys().chain(w.keys()) {
                    if g.get(n) != w.get(n) {
                        diffs.push(format!("{k}\\{n}: got {:?}, want {:?}", g.get(n), w.get(n)));
                    }
                }
            }
            (g, w) => diffs.push(format!(
                "key {k}: in got {}, in want {}",
                g.is_some(),
                w.is_some()
            )),
        }
    }
    diffs.sort();
    diffs.dedup();
    let shown = diffs.len().min(10);
    assert!(
        diffs.is_empty(),
        "{ctx}: {} differences, first {shown}:\n{}",
        diffs.len(),
        diffs[..shown].join("\n")
    );
}

/// Runs a peer command that prints nothing useful; panics with its stderr on failure.
pub fn sh(cmd: &str, args: &[&str]) {
    require_tool(cmd);
    let o = Command::new(cmd).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A bare NTFS volume image holding `files` (path inside, source), copied
/// without holes (as Windows writes hives), plus `extra` written inside.
/// Windows keeps every hive's .LOG1/.LOG2 allocated: a SYSTEM or SOFTWARE
/// hive given without them gets two never-used (zeroed) 64 KiB logs, room
/// for a write's transaction entry inside the raw volume.
pub fn volume(
    dir: &Path,
    name: &str,
    mb: u64,
    cluster: u32,
    hidden: u64,
    files: &[(&str, PathBuf)],
    extra: &[(&str, Vec<u8>)],
) -> PathBuf {
    volume_with(dir, name, mb, cluster, hidden, files, extra, true)
}

/// [`volume`] holding exactly `files` and `extra` (no logs added).
pub fn volume_exact(
    dir: &Path,
    name: &str,
    mb: u64,
    cluster: u32,
    hidden: u64,
    files: &[(&str, PathBuf)],
    extra: &[(&str, Vec<u8>)],
) -> PathBuf {
    volume_with(dir, name, mb, cluster, hidden, files, extra, false)
}

#[allow(clippy::too_many_arguments)]
fn volume_with(
    dir: &Path,
    name: &str,
    mb: u64,
    cluster: u32,
    hidden: u64,
    files: &[(&str, PathBuf)],
    extra: &[(&str, Vec<u8>)],
    add_logs: bool,
) -> PathBuf {
    let img = dir.join(name);
    std::fs::File::create(&img)
        .unwrap()
        .set_len(mb << 20)
        .unwrap();
    let c = cluster.to_string();
    let p = hidden.to_string();
    sh(
        "mkntfs",
        &[
            "-F",
            "-Q",
            "-q",
            "-c",
            &c,
            "-s",
            "512",
            "-p",
            &p,
            "-H",
            "255",
            "-S",
            "63",
            "-L",
            "Windows",
            img.to_str().unwrap(),
        ],
    );
    let mut m = Mount::new(&img, &dir.join(format!("{name}.mnt")));
    let mut files: Vec<(&str, PathBuf)> = files.to_vec();
    let zero_log = dir.join(format!("{name}.zero-log"));
    std::fs::write(&zero_log, vec![0u8; 64 << 10]).unwrap();
    let mut logs = Vec::new();
    for (inside, _) in &files {
        let is_hive = inside.ends_with("config/SYSTEM") || inside.ends_with("config/SOFTWARE");
        let has_logs = files
            .iter()
            .any(|(o, _)| o.eq_ignore_ascii_case(&format!("{inside}.LOG1")));
        let given = extra
            .iter()
            .any(|(o, _)| o.eq_ignore_ascii_case(&format!("{inside}.LOG1")));
        if add_logs && is_hive && !has_logs && !given {
            logs.push(format!("{inside}.LOG1"));
            logs.push(format!("{inside}.LOG2"));
        }
    }
    for l in &logs {
        files.push((l.as_str(), zero_log.clone()));
    }
    for (inside, src) in &files {
        let dest = m.dir.join(inside);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        sh(
            "cp",
            &[
                "--sparse=never",
                src.to_str().unwrap(),
                dest.to_str().unwrap(),
            ],
        );
    }
    for (inside, data) in extra {
        std::fs::write(m.dir.join(inside), data).unwrap();
    }
    m.unmount();
    img
}

/// Extracts `path` from partition at sector `start` with sleuthkit.
pub fn icat(img: &Path, start: u64, path: &str, out: &Path) {
    require_tool("icat");
    let s = start.to_string();
    let inode = peer("ifind", &["-o", &s, "-n", path, img.to_str().unwrap()]);
    let o = Command::new("icat")
        .args(["-o", &s, img.to_str().unwrap(), inode.trim()])
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(out, o.stdout).unwrap();
}

/// An ntfs-3g mount of an NTFS image file, unmounted (and waited for) on drop.
pub struct Mount {
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Mount {
    pub fn new(image: &Path, dir: &Path) -> Mount {
        Mount::with_options(image, dir, "")
    }

    pub fn unmount(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("umount").arg(&self.dir).status();
            let _ = c.wait();
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        self.unmount();
    }
}

/// A loop device attached with `losetup -f --show ARGS IMAGE`, optionally
/// with its partitions added (`partx -a`); partitions removed and the
/// device detached on drop, whatever the test did.
pub struct Loop {
    pub dev: String,
    partitions: bool,
}

impl Loop {
    pub fn attach(image: &Path, args: &[&str]) -> Loop {
        let mut a = vec!["-f", "--show"];
        a.extend_from_slice(args);
        a.push(image.to_str().unwrap());
        let dev = peer("losetup", &a).trim().to_string();
        assert!(dev.starts_with("/dev/loop"), "losetup printed {dev:?}");
        Loop {
            dev,
            partitions: false,
        }
    }

    /// Adds the partitions (`/dev/loopNpM`) and waits for partition 1's node.
    pub fn with_partitions(mut self) -> Loop {
        self.partitions = true;
        peer("partx", &["-a", &self.dev]);
        let p1 = self.part(1);
        let start = Instant::now();
        while !Path::new(&p1).exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{p1} did not appear"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self
    }

    /// The device node of partition `n`.
    pub fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.dev)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if self.partitions {
            let _ = Command::new("partx").args(["-d", &self.dev]).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

impl Mount {
    /// Like [`Mount::new`], with extra ntfs-3g options (e.g. `compression`).
    pub fn with_options(image: &Path, dir: &Path, opts: &str) -> Mount {
        require_tool("ntfs-3g");
        std::fs::create_dir_all(dir).unwrap();
        // no_detach: the daemon stays our child, so we can wait for it to
        // flush after umount (a file-backed fuse umount returns early).
        let o = if opts.is_empty() {
            "no_detach".to_string()
        } else {
            format!("no_detach,{opts}")
        };
        let child = Command::new("ntfs-3g")
            .args(["-o", &o])
            .arg(image)
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ntfs-3g");
        let m = Mount {
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        let start = Instant::now();
        let target = std::fs::canonicalize(dir).unwrap();
        while !std::fs::read_to_string("/proc/self/mounts")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(1) == Some(target.to_str().unwrap()))
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ntfs-3g did not mount {}",
                image.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        m
    }
}

/// Removes every `ntfs_times` field (a file read from a raw NTFS volume has
/// them; the same file read through a mount or as a file has none).
pub fn strip_ntfs_times(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            o.remove("ntfs_times");
            o.values_mut().for_each(strip_ntfs_times);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_ntfs_times),
        _ => {}
    }
}

/// python-hivex (an independent reader): the type and raw data of value
/// `value` ("" = the default value) of `key` (no leading backslash);
/// `None` when the key or value is missing.
pub fn hivex_raw(hive: &Path, key: &str, value: &str) -> Option<(u32, Vec<u8>)> {
    let script = r#"
import sys, hivex
h = hivex.Hivex(sys.argv[1])
n = h.root()
for part in sys.argv[2].split("\\"):
    n = h.node_get_child(n, part)
    if n is None:
        sys.exit(0)
v = h.node_get_value(n, sys.argv[3])
if v is None:
    sys.exit(0)
t, d = h.value_value(v)
print(t, d.hex())
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(hive)
        .arg(key)
        .arg(value)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hivex: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s.trim();
    if line.is_empty() {
        return None;
    }
    let (t, d) = line.split_once(' ').unwrap_or((line, ""));
    let data = (0..d.len() / 2)
        .map(|i| u8::from_str_radix(&d[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    Some((t.parse().unwrap(), data))
}

/// python-hivex (an independent writer): overwrites `bytes` at `at` in the
/// data of value `value` of `key`, keeping its type and every other value.
pub fn hivex_patch(hive: &Path, key: &str, value: &str, at: usize, bytes: &[u8]) {
    let script = r#"
import sys, hivex
h = hivex.Hivex(sys.argv[1], write=True)
n = h.root()
for part in sys.argv[2].split("\\"):
    n = h.node_get_child(n, part)
at = int(sys.argv[4]); new = bytes.fromhex(sys.argv[5])
vals = []
for v in h.node_values(n):
    d = h.value_value(v)[1]
    if h.value_key(v) == sys.argv[3]:
        assert at + len(new) <= len(d)
        d = d[:at] + new + d[at + len(new):]
    vals.append({"key": h.value_key(v), "t": h.value_type(v)[0], "value": d})
h.node_set_values(n, vals)
h.commit(sys.argv[1])
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(hive)
        .arg(key)
        .arg(value)
        .arg(at.to_string())
        .arg(hex(bytes))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hivex: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
