// SPDX-License-Identifier: GPL-2.0-or-later
//! Property test: random sequences of value edits (set, create, delete;
//! every common type; Latin-1 and UTF-16 names; data from 0 bytes to a
//! full 16 KiB cell) on real hives, from a fixed-seed generator so a
//! failure replays. After each sequence the edited hive must pass our full
//! structure check and the lock-step compare with the original, and three
//! independent readers must agree with the plan: nt-hive (in process),
//! hivex (Win::Hivex, and `hivexregedit --export` over the whole tree:
//! exactly the planned values differ) and regipy.

use std::path::{Path, PathBuf};
use std::process::Command;

use ntrescue::format::nthive::NtHive;
use ntrescue::format::regf::base_block::{self, BaseBlock, BASE_BLOCK_SIZE};
use ntrescue::format::regf::cell::HiveView;
use ntrescue::format::regf::edit::HiveEdit;
use ntrescue::format::regf::key::{reg_type, Key};
use ntrescue::hive::check::{full_check, semantic_compare, Expect};

use crate::util::*;

/// splitmix64: a small, fixed generator (the seed names the case).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Names a created value may get: ASCII, Latin-1 (stored compressed) and
/// UTF-16 (stored wide).
const NEW_NAMES: [&str; 5] = ["PropValue", "prop-second", "Wert-Üß", "名前-Ω", "x"];

/// Paths of up to `max` keys below the root, breadth first.
fn keys(bytes: &[u8], max: usize) -> Vec<String> {
    let root = Key::root(HiveView::new(bytes).unwrap()).unwrap();
    let mut out = Vec::new();
    let mut queue = std::collections::VecDeque::from([(root, String::new())]);
    while let Some((k, path)) = queue.pop_front() {
        for s in k.subkeys().unwrap() {
            if out.len() >= max {
                return out;
            }
            let name = s.name().unwrap();
            // Names the peers' path syntax cannot carry are left alone.
            if name.contains(['\\', '/', '\0']) || name.chars().any(char::is_control) {
                continue;
            }
            let p = if path.is_empty() {
                name
            } else {
                format!("{path}\\{name}")
            };
            out.push(p.clone());
            queue.push_back((s, p));
        }
    }
    out
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Random typed data: (type, bytes).
fn data(r: &mut Rng) -> (u32, Vec<u8>) {
    // 1 to `max` letters.
    let word = |r: &mut Rng, max: usize| -> String {
        let n = 1 + r.below(max);
        (0..n).map(|_| (b'a' + r.below(26) as u8) as char).collect()
    };
    match r.below(6) {
        0 => (reg_type::DWORD, (r.next() as u32).to_le_bytes().to_vec()),
        1 => (reg_type::QWORD, r.next().to_le_bytes().to_vec()),
        2 => (reg_type::SZ, utf16z(&word(r, 300))),
        3 => (
            reg_type::EXPAND_SZ,
            utf16z(&format!("%SystemRoot%\\{}", word(r, 40))),
        ),
        4 => {
            let n = [1, 3, 5, 100, 3000, 16344][r.below(6)];
            (reg_type::BINARY, (0..n).map(|_| r.next() as u8).collect())
        }
        _ => {
            let mut d: Vec<u8> = (0..1 + r.below(4))
                .flat_map(|_| utf16z(&word(r, 20)))
                .collect();
            d.extend_from_slice(&[0, 0]);
            (reg_type::MULTI_SZ, d)
        }
    }
}

/// One random sequence on `hive`: the edited bytes and the plan.
fn edit_sequence(hive: &[u8], r: &mut Rng) -> (Vec<u8>, Vec<Expect>) {
    let paths = keys(hive, 300);
    let mut edit = HiveEdit::new(hive.to_vec()).unwrap();
    let mut expects: Vec<Expect> = Vec::new();
    for _ in 0..1 + r.below(12) {
        let key = paths[r.below(paths.len())].clone();
        let (rel, existing) = {
            let k = Key::root(HiveView::new(edit.bytes()).unwrap())
                .unwrap()
                .subpath(&key)
                .unwrap()
                .unwrap();
            let names: Vec<String> = k
                .values()
                .unwrap()
                .iter()
                .map(|v| v.name().unwrap())
                .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
                .collect();
            (k.offset(), names)
        };
        let name = if !existing.is_empty() && r.below(2) == 0 {
            existing[r.below(existing.len())].clone()
        } else {
            NEW_NAMES[r.below(NEW_NAMES.len())].to_string()
        };
        let after = if r.below(10) < 3 {
            edit.delete_value(rel, &name).unwrap();
            None
        } else {
            let (ty, d) = data(r);
            edit.set_value(rel, &name, ty, &d)
                .unwrap_or_else(|e| panic!("{key}\\{name}: {e}"));
            Some((ty, d))
        };
        expects.retain(|e| !(e.key == key && e.value.to_uppercase() == name.to_uppercase()));
        expects.push(Expect {
            key,
            value: name,
            after,
            new_key: false,
        });
    }
    let bins = edit.hive_bins_size();
    let mut new = edit.into_bytes();
    if new.len() < hive.len() {
        new.extend_from_slice(&hive[new.len()..]);
    }
    let seq = BaseBlock::parse(hive).unwrap().seq1.wrapping_add(1);
    base_block::set_clean(&mut new[..BASE_BLOCK_SIZE], seq, bins);
    (new, expects)
}

/// (type, data hex) of each requested value as Win::Hivex reads it, or
/// "absent".
fn hivex_values(hive: &Path, reqs: &[(String, String)]) -> Vec<String> {
    let script = r#"
use strict; use Win::Hivex; use JSON::PP;
my $h = Win::Hivex->open($ARGV[0]);
for my $r (@{decode_json($ARGV[1])}) {
    my ($key, $name) = @$r;
    my $line = "absent";
    eval {
        my $node = $h->root();
        for my $part (grep { length } split /\\/, $key) {
            $node = $h->node_get_child($node, $part) or die "no key";
        }
        my $v = $h->node_get_value($node, $name);
        if ($v) { my ($t, $d) = $h->value_value($v); $line = "$t " . unpack("H*", $d); }
    };
    print "$line\n";
}
"#;
    let out = Command::new("perl")
        .args(["-e", script])
        .arg(hive)
        .arg(serde_json::to_string(reqs).unwrap())
        .output()
        .expect("perl");
    assert!(
        out.status.success(),
        "Win::Hivex: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// Each requested value as regipy decodes it: "TYPE text", or "absent".
fn regipy_values(hive: &Path, reqs: &[(String, String)]) -> Vec<String> {
    let script = r#"
import sys, json
from regipy.registry import RegistryHive
h = RegistryHive(sys.argv[1])
def spellings(name):
    # regipy decodes a compressed (Latin-1) name as UTF-8, lossily.
    out = {name.lower()}
    try:
        out.add(name.encode("latin-1").decode("utf-8", "replace").lower())
    except UnicodeEncodeError:
        pass
    return out
for key, name in json.loads(sys.argv[2]):
    line = "absent"
    try:
        k = h.get_key("\\" + key)
        for v in k.iter_values(trim_values=False):
            if v.name.lower() in spellings(name):
                x = v.value
                if isinstance(x, list):
                    x = "|".join(x)
                elif isinstance(x, bytes):
                    x = x.hex()
                line = f"{v.value_type} {x}"
                break
    except Exception as e:
        line = f"error {e}"
    print(line)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(hive)
        .arg(serde_json::to_string(reqs).unwrap())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "regipy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// What regipy prints for planned data.
fn regipy_text(ty: u32, d: &[u8]) -> String {
    let text = |d: &[u8]| {
        let u: Vec<u16> = d
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&u)
    };
    match ty {
        reg_type::DWORD => format!("REG_DWORD {}", u32::from_le_bytes(d.try_into().unwrap())),
        reg_type::QWORD => format!("REG_QWORD {}", u64::from_le_bytes(d.try_into().unwrap())),
        reg_type::SZ => format!("REG_SZ {}", text(d).trim_end_matches('\0')),
        reg_type::EXPAND_SZ => format!("REG_EXPAND_SZ {}", text(d).trim_end_matches('\0')),
        reg_type::MULTI_SZ => {
            let t = text(d);
            let parts: Vec<&str> = t.split('\0').filter(|s| !s.is_empty()).collect();
            format!("REG_MULTI_SZ {}", parts.join("|"))
        }
        _ => format!("REG_BINARY {}", hex(d)),
    }
}

/// The (type, data) of a value before the edits, by our reader.
fn before_value(hive: &[u8], key: &str, name: &str) -> Option<(u32, Vec<u8>)> {
    let k = Key::root(HiveView::new(hive).unwrap())
        .unwrap()
        .subpath(key)
        .unwrap()
        .unwrap();
    k.value(name)
        .unwrap()
        .map(|v| (v.data_type().unwrap(), v.data().unwrap()))
}

/// A name compared across readers: ASCII upper-cased, every other
/// character as `?` (hivexregedit prints compressed names as Latin-1
/// bytes, which arrive here as replacement characters).
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_ascii_uppercase()
            } else {
                '?'
            }
        })
        .collect()
}

fn check_sequence(dir: &Path, name: &str, hive: &[u8], seed: u64) {
    let ctx = format!("{name} seed {seed}");
    let (new, expects) = edit_sequence(hive, &mut Rng(seed));
    full_check(&new).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    semantic_compare(hive, &new, &expects).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let nt = NtHive::open(&new).unwrap();
    let before_path = dir.join(format!("{name}.before"));
    let after_path = dir.join(format!("{name}.{seed}"));
    std::fs::write(&before_path, hive).unwrap();
    std::fs::write(&after_path, &new).unwrap();
    let reqs: Vec<(String, String)> = expects
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let hx = hivex_values(&after_path, &reqs);
    let rg = regipy_values(&after_path, &reqs);
    let mut differ = Vec::new();
    for (i, e) in expects.iter().enumerate() {
        let what = format!("{ctx}: {}\\{}", e.key, e.value);
        let got = nt.value(&e.key, &e.value).unwrap();
        match &e.after {
            None => {
                assert!(got.is_none(), "{what}: nt-hive still reads it");
                assert_eq!(hx[i], "absent", "{what}: hivex");
                assert_eq!(rg[i], "absent", "{what}: regipy");
            }
            Some((ty, d)) => {
                let (nty, nd) = got.unwrap_or_else(|| panic!("{what}: nt-hive misses it"));
                assert!(
                    nty.is_none_or(|t| t == *ty) && nd.is_none_or(|x| x == *d),
                    "{what}: nt-hive"
                );
                assert_eq!(hx[i], format!("{ty} {}", hex(d)), "{what}: hivex");
                assert_eq!(rg[i], regipy_text(*ty, d), "{what}: regipy");
            }
        }
        if before_value(hive, &e.key, &e.value) != e.after {
            differ.push((ascii(&e.key), ascii(&e.value)));
        }
    }
    // hivex over the whole tree: exactly the planned values differ.
    differ.sort();
    differ.dedup();
    let mut changed: Vec<(String, String)> =
        changed(&hivex_tree(&before_path), &hivex_tree(&after_path))
            .iter()
            .map(|(k, v)| (ascii(k), ascii(v)))
            .collect();
    changed.sort();
    assert_eq!(changed, differ, "{ctx}: hivexregedit --export differences");
}

/// Real hives of every kind the editor meets: generated SYSTEM and
/// SOFTWARE, nt-hive's test hive (big data, many subkeys), a Windows 7
/// user hive, a Windows XP SAM (regf 1.3) and a big-data hive.
#[test]
fn random_edit_sequences_keep_the_peers_agreeing_with_the_plan() {
    require_tool("hivexregedit");
    let t = tmp();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("hive-fixtures");
    let hives: Vec<(&str, PathBuf)> = vec![
        ("system-modern", fixtures.join("system-modern.hive")),
        ("software", fixtures.join("software.hive")),
        ("testhive", corpus_file("other/special/nt-hive__testhive")),
        (
            "ntuser7",
            corpus_file("other/real/win7__regipy__NTUSER.DAT"),
        ),
        (
            "sam-xp",
            corpus_file("other/real/winxpsp3__bitcurator__SAM"),
        ),
        ("bigdata", corpus_file("other/special/yarp__BigDataHive")),
    ];
    for (name, path) in hives {
        let hive = std::fs::read(&path).unwrap();
        for seed in 1..=3u64 {
            check_sequence(t.path(), name, &hive, seed * 7919 + name.len() as u64);
        }
    }
}
