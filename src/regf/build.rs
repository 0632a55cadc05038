// SPDX-License-Identifier: GPL-2.0-or-later
//! A deterministic hive builder: turns a key/value description into a regf
//! file laid out the way Windows lays hives out. Used to generate the test
//! and demo fixtures in `hive-fixtures/` (real corpus hives are third-party
//! data and are not copied into the repository).
//!
//! Layout rules (regf specification; hive-write-safety.md §2): 4096-byte
//! bins (larger only for a cell that needs it), 8-byte-aligned cells that
//! never cross a bin, the rest of each bin one free cell; one shared `sk`
//! cell; `lh` subkey lists sorted by upper-cased name with the `lh` hash
//! (split under an `ri` above [`LH_MAX`] entries); `vk` cells of
//! align8(24 + name length) bytes, data of up to 4 bytes inline, value lists
//! sized exactly align8(4 + 4·n) as Windows does.

use serde::{Deserialize, Serialize};

use crate::bytes::{put_u16, put_u32, put_u64};
use crate::regf::base_block::{
    self, BASE_BLOCK_SIZE, OFF_CLUSTERING, OFF_FILE_FORMAT, OFF_FILE_NAME, OFF_MAJOR, OFF_MINOR,
    OFF_ROOT_CELL, OFF_TIMESTAMP, SIGNATURE,
};
use crate::regf::cell::{HBIN_ALIGN, HBIN_HEADER_SIZE, HBIN_SIGNATURE, NO_CELL};
use crate::regf::key::{reg_type, BIG_DATA_THRESHOLD};

/// Most entries in one `lh` list before the builder splits under an `ri`.
pub const LH_MAX: usize = 512;

/// Value data in a description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "kebab-case")]
pub enum Data {
    /// REG_NONE with raw bytes (hex in JSON).
    None(String),
    /// REG_SZ.
    Sz(String),
    /// REG_EXPAND_SZ.
    ExpandSz(String),
    /// REG_BINARY (hex in JSON).
    Binary(String),
    /// REG_DWORD.
    Dword(u32),
    /// REG_MULTI_SZ.
    MultiSz(Vec<String>),
    /// REG_QWORD.
    Qword(u64),
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| {
            u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex in a fixture description")
        })
        .collect()
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

impl Data {
    /// Registry type code.
    pub fn type_code(&self) -> u32 {
        match self {
            Data::None(_) => reg_type::NONE,
            Data::Sz(_) => reg_type::SZ,
            Data::ExpandSz(_) => reg_type::EXPAND_SZ,
            Data::Binary(_) => reg_type::BINARY,
            Data::Dword(_) => reg_type::DWORD,
            Data::MultiSz(_) => reg_type::MULTI_SZ,
            Data::Qword(_) => reg_type::QWORD,
        }
    }

    /// Raw bytes as stored (strings UTF-16LE with a terminating NUL).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Data::None(h) | Data::Binary(h) => unhex(h),
            Data::Sz(s) | Data::ExpandSz(s) => utf16z(s),
            Data::Dword(v) => v.to_le_bytes().to_vec(),
            Data::Qword(v) => v.to_le_bytes().to_vec(),
            Data::MultiSz(items) => {
                let mut b: Vec<u8> = items.iter().flat_map(|i| utf16z(i)).collect();
                b.extend_from_slice(&[0, 0]);
                b
            }
        }
    }
}

/// A value in a description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueSpec {
    /// Name ("" = default value).
    pub name: String,
    /// Data.
    #[serde(flatten)]
    pub data: Data,
}

/// A key in a description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    /// Name.
    pub name: String,
    /// Values, in list order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ValueSpec>,
    /// Subkeys (the builder sorts them as Windows does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subkeys: Vec<KeySpec>,
}

impl KeySpec {
    /// A key with a name.
    pub fn new(name: &str) -> Self {
        KeySpec {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Adds a value (builder style).
    pub fn value(mut self, name: &str, data: Data) -> Self {
        self.values.push(ValueSpec {
            name: name.into(),
            data,
        });
        self
    }

    /// Adds a subkey (builder style).
    pub fn key(mut self, k: KeySpec) -> Self {
        self.subkeys.push(k);
        self
    }

    /// The subkey at a backslash path, mutable (creating nothing).
    pub fn find_mut(&mut self, path: &str) -> Option<&mut KeySpec> {
        let mut k = self;
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            k = k
                .subkeys
                .iter_mut()
                .find(|s| s.name.eq_ignore_ascii_case(part))?;
        }
        Some(k)
    }
}

/// A whole hive description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HiveSpec {
    /// Name embedded in the base block (e.g. `\SystemRoot\System32\Config\SYSTEM`).
    pub file_name: String,
    /// Sequence number (both fields; the hive is clean).
    pub sequence: u32,
    /// Last-written FILETIME (also every key's timestamp).
    pub timestamp: u64,
    /// The root key.
    pub root: KeySpec,
}

/// Uppercase as the registry compares names (ASCII-only fixtures).
fn upper(s: &str) -> String {
    s.to_uppercase()
}

/// `lh` hash: for each upper-cased UTF-16 code unit, h = h·37 + unit.
fn lh_hash(name: &str) -> u32 {
    upper(name)
        .encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(37).wrapping_add(u32::from(c)))
}

struct Writer {
    bins: Vec<u8>,
    /// Start of the current bin (relative) and its end.
    bin_start: usize,
    bin_end: usize,
    /// Next free position (relative).
    pos: usize,
    timestamp: u64,
}

impl Writer {
    fn close_bin(&mut self) {
        if self.pos < self.bin_end {
            let rest = self.bin_end - self.pos;
            put_u32(&mut self.bins, self.pos, rest as u32);
            self.pos = self.bin_end;
        }
    }

    fn open_bin(&mut self, size: usize) {
        let start = self.bins.len();
        self.bins.resize(start + size, 0);
        self.bins[start..start + 4].copy_from_slice(HBIN_SIGNATURE);
        put_u32(&mut self.bins, start + 4, start as u32);
        put_u32(&mut self.bins, start + 8, size as u32);
        if start == 0 {
            put_u64(&mut self.bins, start + 20, self.timestamp);
        }
        self.bin_start = start;
        self.bin_end = start + size;
        self.pos = start + HBIN_HEADER_SIZE;
    }

    /// Allocates a cell holding `data_len` bytes; returns its relative offset.
    fn alloc(&mut self, data_len: usize) -> usize {
        let need = (4 + data_len).div_ceil(8) * 8;
        if self.pos + need > self.bin_end || self.bins.is_empty() {
            if !self.bins.is_empty() {
                self.close_bin();
            }
            let size = (HBIN_HEADER_SIZE + need).div_ceil(HBIN_ALIGN) * HBIN_ALIGN;
            self.open_bin(size);
        }
        let at = self.pos;
        put_u32(&mut self.bins, at, (need as i32).wrapping_neg() as u32);
        self.pos += need;
        let _ = self.bin_start;
        at
    }

    fn cell(&mut self, data: &[u8]) -> usize {
        let at = self.alloc(data.len());
        self.bins[at + 4..at + 4 + data.len()].copy_from_slice(data);
        at
    }

    fn data_mut(&mut self, cell: usize) -> &mut [u8] {
        &mut self.bins[cell + 4..]
    }
}

/// A minimal self-relative security descriptor: owner and group
/// BUILTIN\Administrators, a DACL granting Everyone read and
/// Administrators/SYSTEM full control (what `sk` cells of SYSTEM keys hold,
/// in shape).
fn security_descriptor() -> Vec<u8> {
    fn sid(auth: u8, subs: &[u32]) -> Vec<u8> {
        let mut s = vec![1, subs.len() as u8, 0, 0, 0, 0, 0, auth];
        for x in subs {
            s.extend_from_slice(&x.to_le_bytes());
        }
        s
    }
    fn ace(mask: u32, sid: &[u8]) -> Vec<u8> {
        let mut a = vec![0u8, 0x02]; // ACCESS_ALLOWED, CONTAINER_INHERIT
        a.extend_from_slice(&((8 + sid.len()) as u16).to_le_bytes());
        a.extend_from_slice(&mask.to_le_bytes());
        a.extend_from_slice(sid);
        a
    }
    let admins = sid(5, &[32, 544]);
    let system = sid(5, &[18]);
    let everyone = sid(1, &[0]);
    let aces = [
        ace(0x000F_003F, &admins),
        ace(0x000F_003F, &system),
        ace(0x0002_0019, &everyone),
    ]
    .concat();
    let mut acl = vec![2u8, 0];
    acl.extend_from_slice(&((8 + aces.len()) as u16).to_le_bytes());
    acl.extend_from_slice(&3u16.to_le_bytes());
    acl.extend_from_slice(&[0, 0]);
    acl.extend_from_slice(&aces);
    let owner_off = 20u32;
    let group_off = owner_off + admins.len() as u32;
    let dacl_off = group_off + admins.len() as u32;
    let mut sd = vec![1u8, 0];
    sd.extend_from_slice(&0x8004u16.to_le_bytes()); // SE_SELF_RELATIVE | SE_DACL_PRESENT
    for o in [owner_off, group_off, 0, dacl_off] {
        sd.extend_from_slice(&o.to_le_bytes());
    }
    sd.extend_from_slice(&admins);
    sd.extend_from_slice(&admins);
    sd.extend_from_slice(&acl);
    sd
}

struct Ctx {
    sk: usize,
    keys: u32,
}

/// Emits key `k` (and everything below it); returns its cell offset.
fn emit_key(w: &mut Writer, ctx: &mut Ctx, k: &KeySpec, parent: Option<usize>) -> usize {
    let name = k.name.as_bytes();
    let nk = w.alloc(76 + name.len());
    ctx.keys += 1;
    {
        let ts = w.timestamp;
        let d = w.data_mut(nk);
        d[..2].copy_from_slice(b"nk");
        put_u16(d, 2, if parent.is_none() { 0x2C } else { 0x20 });
        put_u64(d, 4, ts);
        put_u32(d, 16, parent.map_or(NO_CELL, |p| p as u32));
        put_u32(d, 28, NO_CELL);
        put_u32(d, 32, NO_CELL);
        put_u32(d, 40, NO_CELL);
        put_u32(d, 48, NO_CELL);
        put_u16(d, 72, name.len() as u16);
        d[76..76 + name.len()].copy_from_slice(name);
    }
    if parent.is_none() {
        // The shared security cell follows the root, as in Windows hives.
        let sd = security_descriptor();
        let mut skd = vec![0u8; 20 + sd.len()];
        skd[..2].copy_from_slice(b"sk");
        put_u32(&mut skd, 16, sd.len() as u32);
        skd[20..].copy_from_slice(&sd);
        ctx.sk = w.cell(&skd);
        let sk = ctx.sk as u32;
        let d = w.data_mut(ctx.sk);
        put_u32(d, 4, sk);
        put_u32(d, 8, sk);
    }
    put_u32(w.data_mut(nk), 44, ctx.sk as u32);

    // Values.
    let mut max_name = 0u32;
    let mut max_data = 0u32;
    let mut vks = Vec::new();
    for v in &k.values {
        let data = v.data.bytes();
        assert!(
            data.len() <= BIG_DATA_THRESHOLD as usize,
            "fixture values stay below big-data size"
        );
        let vname = v.name.as_bytes();
        let vk = w.alloc(20 + vname.len());
        let (size, off) = if data.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..data.len()].copy_from_slice(&data);
            (0x8000_0000 | data.len() as u32, u32::from_le_bytes(inline))
        } else {
            (data.len() as u32, w.cell(&data) as u32)
        };
        let d = w.data_mut(vk);
        d[..2].copy_from_slice(b"vk");
        put_u16(d, 2, vname.len() as u16);
        put_u32(d, 4, size);
        put_u32(d, 8, off);
        put_u32(d, 12, v.data.type_code());
        put_u16(d, 16, if vname.is_empty() { 0 } else { 1 });
        d[20..20 + vname.len()].copy_from_slice(vname);
        max_name = max_name.max(2 * v.name.encode_utf16().count() as u32);
        max_data = max_data.max(data.len() as u32);
        vks.push(vk as u32);
    }
    if !vks.is_empty() {
        let list: Vec<u8> = vks.iter().flat_map(|v| v.to_le_bytes()).collect();
        let l = w.cell(&list);
        let d = w.data_mut(nk);
        put_u32(d, 36, vks.len() as u32);
        put_u32(d, 40, l as u32);
        put_u32(d, 60, max_name);
        put_u32(d, 64, max_data);
    }

    // Subkeys, sorted by upper-cased name (character codes), as Windows.
    let mut subs: Vec<&KeySpec> = k.subkeys.iter().collect();
    subs.sort_by_key(|s| upper(&s.name).encode_utf16().collect::<Vec<u16>>());
    if !subs.is_empty() {
        let mut children = Vec::new();
        let mut max_sub = 0u32;
        for s in &subs {
            children.push((emit_key(w, ctx, s, Some(nk)) as u32, lh_hash(&s.name)));
            max_sub = max_sub.max(2 * s.name.encode_utf16().count() as u32);
        }
        let lh = |w: &mut Writer, items: &[(u32, u32)]| -> u32 {
            let mut b = b"lh".to_vec();
            b.extend_from_slice(&(items.len() as u16).to_le_bytes());
            for (off, hash) in items {
                b.extend_from_slice(&off.to_le_bytes());
                b.extend_from_slice(&hash.to_le_bytes());
            }
            w.cell(&b) as u32
        };
        let list = if children.len() <= LH_MAX {
            lh(w, &children)
        } else {
            let parts: Vec<u32> = children.chunks(LH_MAX).map(|c| lh(w, c)).collect();
            let mut b = b"ri".to_vec();
            b.extend_from_slice(&(parts.len() as u16).to_le_bytes());
            for p in parts {
                b.extend_from_slice(&p.to_le_bytes());
            }
            w.cell(&b) as u32
        };
        let d = w.data_mut(nk);
        put_u32(d, 20, children.len() as u32);
        put_u32(d, 28, list);
        put_u32(d, 52, max_sub);
    }
    nk
}

/// Builds the hive file described by `spec`. Same spec, same bytes.
pub fn build(spec: &HiveSpec) -> Vec<u8> {
    let mut w = Writer {
        bins: Vec::new(),
        bin_start: 0,
        bin_end: 0,
        pos: 0,
        timestamp: spec.timestamp,
    };
    let mut ctx = Ctx { sk: 0, keys: 0 };
    let root = emit_key(&mut w, &mut ctx, &spec.root, None);
    w.close_bin();
    // Reference count of the shared sk: every key uses it.
    put_u32(w.data_mut(ctx.sk), 12, ctx.keys);

    let mut out = vec![0u8; BASE_BLOCK_SIZE];
    out[..4].copy_from_slice(SIGNATURE);
    put_u64(&mut out, OFF_TIMESTAMP, spec.timestamp);
    put_u32(&mut out, OFF_MAJOR, 1);
    put_u32(&mut out, OFF_MINOR, 5);
    put_u32(&mut out, OFF_FILE_FORMAT, 1);
    put_u32(&mut out, OFF_ROOT_CELL, root as u32);
    put_u32(&mut out, OFF_CLUSTERING, 1);
    let name: Vec<u8> = spec
        .file_name
        .encode_utf16()
        .take(31)
        .flat_map(|u| u.to_le_bytes())
        .collect();
    out[OFF_FILE_NAME..OFF_FILE_NAME + name.len()].copy_from_slice(&name);
    base_block::set_clean(&mut out, spec.sequence, w.bins.len() as u32);
    out.extend_from_slice(&w.bins);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::full_check;

    fn sample() -> HiveSpec {
        let mut many = KeySpec::new("Many");
        for i in 0..1100 {
            many.subkeys.push(KeySpec::new(&format!("k{i:04}")));
        }
        HiveSpec {
            file_name: "TEST".into(),
            sequence: 7,
            timestamp: 132_000_000_000_000_000,
            root: KeySpec::new("ROOT")
                .key(
                    KeySpec::new("Data")
                        .value("d", Data::Dword(42))
                        .value("q", Data::Qword(1 << 40))
                        .value("s", Data::Sz("hello".into()))
                        .value("e", Data::ExpandSz("%SystemRoot%".into()))
                        .value("m", Data::MultiSz(vec!["a".into(), "b".into()]))
                        .value("b", Data::Binary("00ff".repeat(2000)))
                        .value("", Data::Sz("default".into()))
                        .value("empty", Data::Sz(String::new())),
                )
                .key(KeySpec::new("_under").key(KeySpec::new("[bracket")))
                .key(many),
        }
    }

    /// Both readers read the built hive back exactly, the structure check
    /// passes (bins tiled, counts agree), lists over LH_MAX go under an ri,
    /// and building is deterministic.
    #[test]
    fn builds_what_both_readers_read_back() {
        let spec = sample();
        let h = build(&spec);
        assert_eq!(build(&spec), h);
        let stats = full_check(&h).unwrap();
        assert_eq!(stats.keys, 1 + 1 + 2 + 1 + 1100);
        let hive = nt_hive::Hive::new(&h[..]).unwrap();
        let root = hive.root_key_node().unwrap();
        let data = root.subkey("data").unwrap().unwrap();
        for v in &spec.root.subkeys[0].values {
            let got = data.value(&v.name).unwrap().unwrap();
            assert_eq!(
                got.data().unwrap().into_vec().unwrap(),
                v.data.bytes(),
                "{}",
                v.name
            );
            assert_eq!(got.data_type().unwrap() as u32, v.data.type_code());
        }
        // Binary search (nt-hive) finds every subkey: the sort order is right.
        let many = root.subkey("Many").unwrap().unwrap();
        for i in (0..1100).step_by(97) {
            assert!(many.subkey(&format!("K{i:04}")).is_some());
        }
        assert!(root.subpath("_under\\[BRACKET").is_some());
    }

    #[test]
    fn lh_hash_matches_the_spec_example() {
        // h = 0; for "AB": h = 65; h = 65*37 + 66 = 2471.
        assert_eq!(lh_hash("ab"), 2471);
    }
}
