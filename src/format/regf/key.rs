// SPDX-License-Identifier: GPL-2.0-or-later
//! Key nodes (`nk`), values (`vk`), value lists and subkey lists
//! (`li`/`lf`/`lh`/`ri`), read with their cell offsets so an editor can patch
//! them.
//!
//! Sources: regf specification, "Key node", "Key value", "Subkeys list",
//! "Index root", "Value list", "Big data" (lines 250-599 at commit 88e878de);
//! hive-write-safety.md §2.4-2.7.
//!
//! Subkey lookups scan the list linearly rather than binary-searching it, so
//! a list that is not sorted the way Windows sorts it still finds the key: a
//! key that exists is never reported missing because of the list order.

use crate::error::{Error, Result};
use crate::format::regf::cell::{Cell, HiveView};
use crate::util::bytes::{slice, u16_at, u32_at};
use crate::util::cellset::CellSet;

/// nk flag: name is stored as Latin-1 (`KEY_COMP_NAME`).
pub const NK_COMP_NAME: u16 = 0x0020;
/// vk flag: name is stored as Latin-1 (`VALUE_COMP_NAME`).
pub const VK_COMP_NAME: u16 = 0x0001;
/// Bit 31 of a vk data size: data sits in the data-offset field.
pub const VK_DATA_INLINE: u32 = 0x8000_0000;
/// Largest data stored in one cell; bigger data uses a `db` record (spec:
/// "Big data", hive version 1.4+).
pub const BIG_DATA_THRESHOLD: u32 = 16344;
/// Deepest key nesting accepted when walking a tree (Windows limits key
/// depth to 512).
pub const MAX_DEPTH: usize = 512;

// nk field offsets within the cell data (spec "Key node").
pub(crate) const NK_FLAGS: usize = 2;
pub(crate) const NK_TIMESTAMP: usize = 4;
pub(crate) const NK_SUBKEY_COUNT: usize = 20;
pub(crate) const NK_SUBKEY_LIST: usize = 28;
pub(crate) const NK_VALUE_COUNT: usize = 36;
pub(crate) const NK_VALUE_LIST: usize = 40;
pub(crate) const NK_NAME_LEN: usize = 72;
pub(crate) const NK_NAME: usize = 76;
// vk field offsets within the cell data (spec "Key value").
pub(crate) const VK_NAME_LEN: usize = 2;
pub(crate) const VK_DATA_SIZE: usize = 4;
/// Offset of the vk data-offset field, which holds inline data.
pub const VK_DATA_OFFSET: usize = 8;
pub(crate) const VK_TYPE: usize = 12;
pub(crate) const VK_FLAGS: usize = 16;
pub(crate) const VK_NAME: usize = 20;

/// Registry value types (spec "Data types").
pub mod reg_type {
    /// REG_NONE
    pub const NONE: u32 = 0;
    /// REG_SZ
    pub const SZ: u32 = 1;
    /// REG_EXPAND_SZ
    pub const EXPAND_SZ: u32 = 2;
    /// REG_BINARY
    pub const BINARY: u32 = 3;
    /// REG_DWORD
    pub const DWORD: u32 = 4;
    /// REG_DWORD_BIG_ENDIAN
    pub const DWORD_BIG_ENDIAN: u32 = 5;
    /// REG_LINK
    pub const LINK: u32 = 6;
    /// REG_MULTI_SZ
    pub const MULTI_SZ: u32 = 7;
    /// REG_QWORD
    pub const QWORD: u32 = 11;

    /// Name of a type, as regedit shows it.
    pub fn name(ty: u32) -> String {
        match ty {
            NONE => "REG_NONE".into(),
            SZ => "REG_SZ".into(),
            EXPAND_SZ => "REG_EXPAND_SZ".into(),
            BINARY => "REG_BINARY".into(),
            DWORD => "REG_DWORD".into(),
            DWORD_BIG_ENDIAN => "REG_DWORD_BIG_ENDIAN".into(),
            LINK => "REG_LINK".into(),
            MULTI_SZ => "REG_MULTI_SZ".into(),
            8 => "REG_RESOURCE_LIST".into(),
            9 => "REG_FULL_RESOURCE_DESCRIPTOR".into(),
            10 => "REG_RESOURCE_REQUIREMENTS_LIST".into(),
            QWORD => "REG_QWORD".into(),
            other => format!("type {other:#x}"),
        }
    }
}

/// A key node.
#[derive(Clone, Copy)]
pub struct Key<'a> {
    view: HiveView<'a>,
    cell: Cell<'a>,
}

/// What [`Key::values_until_error`] read: each value with its name, and the
/// list position of the first that could not be read.
pub type ValuesRead<'a> = (Vec<(Value<'a>, String)>, Option<usize>);

/// A value record.
#[derive(Clone, Copy)]
pub struct Value<'a> {
    view: HiveView<'a>,
    cell: Cell<'a>,
}

fn decode_name(raw: &[u8], latin1: bool) -> String {
    if latin1 {
        raw.iter().map(|&b| b as char).collect()
    } else {
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    }
}

/// Case-insensitive name comparison as the registry does it: equal UTF-16
/// code unit by code unit after upper-casing each unit on its own (as
/// `RtlUpcaseUnicodeChar` does): a unit whose upper case is not one BMP
/// character stays as it is ("ß" is not "SS"), and a surrogate, half of a
/// character outside the BMP, is never folded (U+10410 and U+10438 are two
/// names).
pub fn names_equal(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        // Only a-z fold within ASCII (a non-ASCII unit such as U+0131 may
        // fold to an ASCII one, so both sides must be ASCII here).
        return a.eq_ignore_ascii_case(b);
    }
    // Upper-casing keeps the number of UTF-16 units.
    a.encode_utf16().count() == b.encode_utf16().count()
        && a.encode_utf16()
            .map(upcase_unit)
            .eq(b.encode_utf16().map(upcase_unit))
}

/// One UTF-16 unit upper-cased on its own, as [`names_equal`] folds it.
fn upcase_unit(u: u16) -> u16 {
    let Some(c) = char::from_u32(u32::from(u)) else {
        return u;
    };
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(x), None) => u16::try_from(u32::from(x)).unwrap_or(u),
        _ => u,
    }
}

/// The form [`names_equal`] compares, for indexing names:
/// `names_equal(a, b)` exactly when `name_key(a) == name_key(b)`.
pub fn name_key(name: &str) -> Vec<u16> {
    name.encode_utf16().map(upcase_unit).collect()
}

/// Whether a stored name (`raw`, Latin-1 when `latin1`, else UTF-16LE) is
/// `name` as [`names_equal`] compares them, without decoding it when the
/// lengths or the ASCII bytes already tell.
fn stored_name_is(raw: &[u8], latin1: bool, name: &str) -> bool {
    if latin1 {
        if name.is_ascii() && raw.is_ascii() {
            return raw.eq_ignore_ascii_case(name.as_bytes());
        }
        // One UTF-16 unit per stored byte.
        if raw.len() != name.encode_utf16().count() {
            return false;
        }
    } else if raw.len() / 2 != name.encode_utf16().count() {
        // An odd trailing byte is no unit: the name is what
        // `decode_name` (and Windows, counting NameLength / 2 units)
        // reads.
        return false;
    }
    names_equal(&decode_name(raw, latin1), name)
}

impl<'a> Key<'a> {
    /// The root key named by the base block.
    pub fn root(view: HiveView<'a>) -> Result<Self> {
        Key::at(view, view.root_cell())
    }

    /// The key node at relative cell offset `rel`.
    pub fn at(view: HiveView<'a>, rel: u32) -> Result<Self> {
        let cell = view.cell(rel, "key node")?;
        let sig = slice(cell.data, cell.abs_of(0), 0, NK_NAME, "key node")?;
        if &sig[..2] != b"nk" {
            return Err(Error::BadSignature {
                what: "key node",
                offset: cell.abs_of(0),
                expected: "nk",
                found: sig[..2].to_vec(),
            });
        }
        Ok(Key { view, cell })
    }

    fn u32(&self, off: usize) -> Result<u32> {
        u32_at(self.cell.data, self.cell.abs_of(0), off, "key node field")
    }

    /// Relative offset of this key's cell.
    pub fn offset(&self) -> u32 {
        self.cell.rel
    }

    /// Absolute file offset of the cell data.
    pub fn abs(&self) -> u64 {
        self.cell.abs_of(0)
    }

    /// Last-write FILETIME.
    pub fn timestamp(&self) -> Result<u64> {
        crate::util::bytes::u64_at(
            self.cell.data,
            self.cell.abs_of(0),
            NK_TIMESTAMP,
            "key node",
        )
    }

    /// The key's name.
    pub fn name(&self) -> Result<String> {
        let flags = u16_at(self.cell.data, self.abs(), NK_FLAGS, "key node flags")?;
        Ok(decode_name(self.raw_name()?, flags & NK_COMP_NAME != 0))
    }

    /// Whether the key is called `name` (compared as [`names_equal`] does).
    pub fn name_is(&self, name: &str) -> Result<bool> {
        let flags = u16_at(self.cell.data, self.abs(), NK_FLAGS, "key node flags")?;
        Ok(stored_name_is(
            self.raw_name()?,
            flags & NK_COMP_NAME != 0,
            name,
        ))
    }

    /// The stored name bytes (bounds checked, not decoded).
    pub fn raw_name(&self) -> Result<&'a [u8]> {
        let len = u16_at(self.cell.data, self.abs(), NK_NAME_LEN, "key name length")? as usize;
        slice(self.cell.data, self.abs(), NK_NAME, len, "key name")
    }

    /// Number of values, as stored in the nk.
    pub fn value_count(&self) -> Result<u32> {
        self.u32(NK_VALUE_COUNT)
    }

    /// All subkeys, in list order.
    pub fn subkeys(&self) -> Result<Vec<Key<'a>>> {
        self.subkeys_seen(&mut CellSet::new())
    }

    /// [`Key::subkeys`], adding every list cell read to `lists`: a list
    /// already in it (reached twice, from this key or from another) is a
    /// structure error at that list's offset. What is collected is bounded
    /// by the hive's bytes, never by the stored count: a list cell is read
    /// at most once, and the count only has to match at the end.
    pub fn subkeys_seen(&self, lists: &mut CellSet) -> Result<Vec<Key<'a>>> {
        let count = self.u32(NK_SUBKEY_COUNT)?;
        let list = self.u32(NK_SUBKEY_LIST)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        // A list element is 4 bytes at least: no hive holds more subkeys
        // than a quarter of its bytes, whatever the count field says.
        let cap = (count as usize).min(self.view.len() / 4);
        let mut out = Vec::with_capacity(cap);
        self.collect_list(list, &mut out, true, count, lists)?;
        // A key listed twice (or as its own subkey) is a structure error:
        // lookups would otherwise report keys missing that the damage hid.
        let mut sorted: Vec<u32> = out.iter().map(Key::offset).collect();
        sorted.push(self.offset());
        sorted.sort_unstable();
        let unique = sorted.windows(2).all(|w| w[0] != w[1]);
        // Only on damage: which entry, in list order, repeats one before it.
        let mut children = std::collections::HashSet::new();
        if !unique {
            children.insert(self.offset());
        }
        for k in out.iter().filter(|_| !unique) {
            if !children.insert(k.offset()) {
                return Err(Error::Invalid {
                    what: "subkey list",
                    offset: k.abs(),
                    detail: format!(
                        "key node listed twice under the key at {:#x} (or as its own subkey)",
                        self.abs()
                    ),
                });
            }
        }
        if out.len() != count as usize {
            return Err(Error::Invalid {
                what: "subkey count",
                offset: self.abs() + NK_SUBKEY_COUNT as u64,
                detail: format!("key says {count} subkeys, its lists hold {}", out.len()),
            });
        }
        Ok(out)
    }

    fn collect_list(
        &self,
        rel: u32,
        out: &mut Vec<Key<'a>>,
        allow_ri: bool,
        count: u32,
        lists: &mut CellSet,
    ) -> Result<()> {
        let cell = self.view.cell(rel, "subkey list")?;
        let base = cell.abs_of(0);
        if !lists.insert(rel) {
            return Err(Error::Invalid {
                what: "subkey list",
                offset: base,
                detail:
                    "reached twice (a list shared by two keys, or listed twice in an index root)"
                        .into(),
            });
        }
        let hdr = slice(cell.data, base, 0, 4, "subkey list header")?;
        let n = u16_at(hdr, base, 2, "subkey list count")? as usize;
        let (stride, nested) = match &hdr[..2] {
            b"li" => (4, false),
            b"lf" | b"lh" => (8, false),
            b"ri" if allow_ri => (4, true),
            other => {
                return Err(Error::BadSignature {
                    what: "subkey list",
                    offset: base,
                    expected: if allow_ri { "li/lf/lh/ri" } else { "li/lf/lh" },
                    found: other.to_vec(),
                })
            }
        };
        for i in 0..n {
            let off = 4 + i * stride;
            let child = u32_at(cell.data, base, off, "subkey list element")?;
            if nested {
                self.collect_list(child, out, false, count, lists)?;
            } else {
                if out.len() >= count as usize {
                    return Err(Error::Invalid {
                        what: "subkey count",
                        offset: self.abs() + NK_SUBKEY_COUNT as u64,
                        detail: format!("key says {count} subkeys, its lists hold more"),
                    });
                }
                out.push(Key::at(self.view, child)?);
            }
        }
        Ok(())
    }

    /// The subkey called `name` (case-insensitive), if any. A hive in
    /// memory is scanned in full (every list element read and checked); a
    /// hive read on demand is searched by the lists' hints.
    pub fn subkey(&self, name: &str) -> Result<Option<Key<'a>>> {
        if self.view.whole().is_none() {
            let list = self.u32(NK_SUBKEY_LIST)?;
            if self.u32(NK_SUBKEY_COUNT)? == 0 {
                return Ok(None);
            }
            return self.find_by_hint(list, name, true, &mut Default::default());
        }
        // Every subkey is compared: two of one name (which Windows never
        // writes) make the lookup an error, not the first of them, which
        // a lookup by hash hint (Windows', and the on-demand reader's) may
        // not pick.
        let mut found: Option<Key<'a>> = None;
        for k in self.subkeys()? {
            if k.name_is(name)? {
                if let Some(first) = &found {
                    return Err(Error::Invalid {
                        what: "subkey list",
                        offset: self.abs(),
                        detail: format!(
                            "two subkeys of the key at {:#x} are named {name:?} (key nodes at {:#x} and {:#x})",
                            self.abs(),
                            first.abs(),
                            k.abs()
                        ),
                    });
                }
                found = Some(k);
            }
        }
        Ok(found)
    }

    /// Looks `name` up in the subkey list at `rel` reading only the key
    /// nodes that can match: in a hash leaf (`lh`) those whose stored hash
    /// equals the name's, as Windows does (ReactOS `CmpFindSubKeyByHash`);
    /// in a fast leaf (`lf`) those whose 4-character hint matches. A plain
    /// list (`li`), or a name that is not ASCII (whose upper case this tool
    /// cannot promise to fold as Windows does), reads every element. Each
    /// list cell is read at most once (`seen`).
    fn find_by_hint(
        &self,
        rel: u32,
        name: &str,
        allow_ri: bool,
        seen: &mut CellSet,
    ) -> Result<Option<Key<'a>>> {
        let cell = self.view.cell(rel, "subkey list")?;
        let base = cell.abs_of(0);
        if !seen.insert(rel) {
            return Err(Error::Invalid {
                what: "subkey list",
                offset: base,
                detail: "reached twice in an index root".into(),
            });
        }
        let hdr = slice(cell.data, base, 0, 4, "subkey list header")?;
        let n = u16_at(hdr, base, 2, "subkey list count")? as usize;
        let kind = [hdr[0], hdr[1]];
        let (stride, nested) = match &kind {
            b"li" => (4, false),
            b"lf" | b"lh" => (8, false),
            b"ri" if allow_ri => (4, true),
            other => {
                return Err(Error::BadSignature {
                    what: "subkey list",
                    offset: base,
                    expected: if allow_ri { "li/lf/lh/ri" } else { "li/lf/lh" },
                    found: other.to_vec(),
                })
            }
        };
        let upper: Vec<u8> = name.bytes().map(|b| b.to_ascii_uppercase()).collect();
        // Hash leaf (regf specification, "Hash leaf"): hash = hash * 37 +
        // upper-cased character, over the whole name.
        let hash = upper
            .iter()
            .fold(0u32, |h, &c| h.wrapping_mul(37).wrapping_add(u32::from(c)));
        // Fast leaf ("Fast leaf"): the first 4 characters, zero-padded.
        let mut hint = [0u8; 4];
        for (d, s) in hint.iter_mut().zip(&upper) {
            *d = *s;
        }
        for i in 0..n {
            let off = 4 + i * stride;
            let child = u32_at(cell.data, base, off, "subkey list element")?;
            if nested {
                if let Some(k) = self.find_by_hint(child, name, false, seen)? {
                    return Ok(Some(k));
                }
                continue;
            }
            if name.is_ascii() && stride == 8 {
                let h = slice(cell.data, base, off + 4, 4, "subkey list hint")?;
                let skip = match &kind {
                    b"lh" => u32::from_le_bytes([h[0], h[1], h[2], h[3]]) != hash,
                    _ => !h.eq_ignore_ascii_case(&hint),
                };
                if skip {
                    continue;
                }
            }
            if child == self.offset() {
                return Err(Error::Invalid {
                    what: "subkey list",
                    offset: base + off as u64,
                    detail: format!(
                        "key node listed twice under the key at {:#x} (as its own subkey)",
                        self.abs()
                    ),
                });
            }
            let k = Key::at(self.view, child)?;
            if k.name_is(name)? {
                return Ok(Some(k));
            }
            if name.is_ascii() && stride == 8 {
                // A hint that matched a key of another name: a collision or
                // damage; the full scan (every element, every check) decides.
                return self
                    .subkeys()?
                    .into_iter()
                    .try_fold(None, |found, k| Ok(found.or(k.name_is(name)?.then_some(k))));
            }
        }
        Ok(None)
    }

    /// Relative offset and capacity (slots) of the value list cell, if any.
    pub fn value_list(&self) -> Result<Option<(u32, u32)>> {
        let count = self.value_count()?;
        if count == 0 {
            return Ok(None);
        }
        let rel = self.u32(NK_VALUE_LIST)?;
        let cell = self.view.cell(rel, "value list")?;
        Ok(Some((rel, (cell.data.len() / 4) as u32)))
    }

    /// All values, in list order.
    pub fn values(&self) -> Result<Vec<Value<'a>>> {
        let count = self.value_count()? as usize;
        if count == 0 {
            return Ok(Vec::new());
        }
        let rel = self.u32(NK_VALUE_LIST)?;
        let list = self.view.cell(rel, "value list")?;
        let base = list.abs_of(0);
        if count.checked_mul(4).is_none_or(|n| n > list.data.len()) {
            return Err(Error::Invalid {
                what: "value count",
                offset: self.abs() + NK_VALUE_COUNT as u64,
                detail: format!(
                    "{count} values do not fit the {}-byte value list at {base:#x}",
                    list.data.len()
                ),
            });
        }
        // Read on demand, the records' pages come in runs, not one by one.
        self.view.prefetch(
            list.data[..count * 4]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        (0..count)
            .map(|i| {
                Value::at(
                    self.view,
                    u32_at(list.data, base, i * 4, "value list element")?,
                )
            })
            .collect()
    }

    /// The values in list order up to the first that cannot be read (its
    /// record or its name), with that one's list position: what a scan by
    /// name ([`Key::value`]) reads before it would stop with an error.
    pub fn values_until_error(&self) -> Result<ValuesRead<'a>> {
        let count = self.value_count()? as usize;
        if count == 0 {
            return Ok((Vec::new(), None));
        }
        let rel = self.u32(NK_VALUE_LIST)?;
        let list = self.view.cell(rel, "value list")?;
        let base = list.abs_of(0);
        if count.checked_mul(4).is_none_or(|n| n > list.data.len()) {
            return self.values().map(|_| (Vec::new(), None));
        }
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let v = u32_at(list.data, base, i * 4, "value list element")
                .and_then(|rel| Value::at(self.view, rel))
                .and_then(|v| Ok((v, v.name()?)));
            match v {
                Ok(v) => out.push(v),
                Err(_) => return Ok((out, Some(i))),
            }
        }
        Ok((out, None))
    }

    /// The value called `name` (case-insensitive; "" is the default value).
    pub fn value(&self, name: &str) -> Result<Option<Value<'a>>> {
        let count = self.value_count()? as usize;
        if count == 0 {
            return Ok(None);
        }
        let rel = self.u32(NK_VALUE_LIST)?;
        let list = self.view.cell(rel, "value list")?;
        let base = list.abs_of(0);
        if count.checked_mul(4).is_none_or(|n| n > list.data.len()) {
            // The same error `values` gives.
            return self.values().map(|_| None);
        }
        // Element by element, stopping at the match: no list of every value.
        for i in 0..count {
            let v = Value::at(
                self.view,
                u32_at(list.data, base, i * 4, "value list element")?,
            )?;
            if v.name_is(name)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Follows a backslash-separated path of subkeys. Returns `Ok(Err(name))`
    /// with the first missing component when the path does not exist.
    pub fn subpath(&self, path: &str) -> Result<std::result::Result<Key<'a>, String>> {
        let mut k = *self;
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            match k.subkey(part)? {
                Some(next) => k = next,
                None => return Ok(Err(part.to_string())),
            }
        }
        Ok(Ok(k))
    }
}

impl<'a> Value<'a> {
    /// The value record at relative cell offset `rel`.
    pub fn at(view: HiveView<'a>, rel: u32) -> Result<Self> {
        let cell = view.cell(rel, "value")?;
        let sig = slice(cell.data, cell.abs_of(0), 0, VK_NAME, "value")?;
        if &sig[..2] != b"vk" {
            return Err(Error::BadSignature {
                what: "value",
                offset: cell.abs_of(0),
                expected: "vk",
                found: sig[..2].to_vec(),
            });
        }
        Ok(Value { view, cell })
    }

    fn u32(&self, off: usize) -> Result<u32> {
        u32_at(self.cell.data, self.cell.abs_of(0), off, "value field")
    }

    /// Relative offset of the vk cell.
    pub fn offset(&self) -> u32 {
        self.cell.rel
    }

    /// Absolute file offset of field `off` of the vk record.
    pub fn abs_of(&self, off: usize) -> u64 {
        self.cell.abs_of(off)
    }

    /// The value's name ("" for the default value).
    pub fn name(&self) -> Result<String> {
        let flags = u16_at(self.cell.data, self.abs_of(0), VK_FLAGS, "value flags")?;
        Ok(decode_name(self.raw_name()?, flags & VK_COMP_NAME != 0))
    }

    /// Whether the value is called `name` (compared as [`names_equal`] does).
    pub fn name_is(&self, name: &str) -> Result<bool> {
        let flags = u16_at(self.cell.data, self.abs_of(0), VK_FLAGS, "value flags")?;
        Ok(stored_name_is(
            self.raw_name()?,
            flags & VK_COMP_NAME != 0,
            name,
        ))
    }

    /// The stored name bytes (bounds checked, not decoded).
    pub fn raw_name(&self) -> Result<&'a [u8]> {
        let len = u16_at(
            self.cell.data,
            self.abs_of(0),
            VK_NAME_LEN,
            "value name length",
        )?;
        slice(
            self.cell.data,
            self.abs_of(0),
            VK_NAME,
            len as usize,
            "value name",
        )
    }

    /// The value's type.
    pub fn data_type(&self) -> Result<u32> {
        self.u32(VK_TYPE)
    }

    /// Raw data-size field (bit 31 = inline).
    pub fn raw_data_size(&self) -> Result<u32> {
        self.u32(VK_DATA_SIZE)
    }

    /// The value's data bytes (inline, one cell, or big data).
    pub fn data(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.data_pieces(&mut |p| out.extend_from_slice(p))?;
        Ok(out)
    }

    /// [`Value::data`] without a copy when the data lies in one piece
    /// (inline or one cell, as all but big-data values do): a rule store's
    /// hundreds of values are read without an allocation each.
    pub fn data_ref(&self) -> Result<std::borrow::Cow<'a, [u8]>> {
        use std::borrow::Cow;
        let mut out: Option<Cow<'a, [u8]>> = None;
        self.data_pieces(&mut |p| {
            out = Some(match out.take() {
                None => Cow::Borrowed(p),
                Some(prev) => {
                    let mut v = prev.into_owned();
                    v.extend_from_slice(p);
                    Cow::Owned(v)
                }
            })
        })?;
        Ok(out.unwrap_or(Cow::Borrowed(&[])))
    }

    /// Checks that the value's data is where its fields say (every bound
    /// [`Value::data`] checks) without copying it; returns its length.
    pub fn check_data(&self) -> Result<usize> {
        let mut n = 0;
        self.data_pieces(&mut |p| n += p.len())?;
        Ok(n)
    }

    /// Hands the data to `f` in order, one slice per cell it lives in.
    fn data_pieces(&self, f: &mut dyn FnMut(&'a [u8])) -> Result<()> {
        let raw = self.raw_data_size()?;
        let size = raw & !VK_DATA_INLINE;
        if raw & VK_DATA_INLINE != 0 {
            if size > 4 {
                return Err(Error::Invalid {
                    what: "inline value data size",
                    offset: self.abs_of(VK_DATA_SIZE),
                    detail: format!("{size} bytes cannot be stored inline (max 4)"),
                });
            }
            f(slice(
                self.cell.data,
                self.abs_of(0),
                VK_DATA_OFFSET,
                size as usize,
                "value",
            )?);
            return Ok(());
        }
        if size == 0 {
            return Ok(());
        }
        let cell = self.view.cell(self.u32(VK_DATA_OFFSET)?, "value data")?;
        if self.view.big_data_records()
            && size > BIG_DATA_THRESHOLD
            && cell.data.get(..2) == Some(b"db")
        {
            return self.big_data(cell, size, f);
        }
        f(slice(
            cell.data,
            cell.abs_of(0),
            0,
            size as usize,
            "value data",
        )?);
        Ok(())
    }

    fn big_data(&self, db: Cell<'a>, size: u32, f: &mut dyn FnMut(&'a [u8])) -> Result<()> {
        let base = db.abs_of(0);
        if size as usize > self.view.len() {
            return Err(Error::Invalid {
                what: "big data",
                offset: self.abs_of(VK_DATA_SIZE),
                detail: format!(
                    "{size} bytes of data cannot fit in a {}-byte hive",
                    self.view.len()
                ),
            });
        }
        let segments = u16_at(db.data, base, 2, "big data segment count")? as usize;
        let mut seen = std::collections::HashSet::new();
        let list = self
            .view
            .cell(u32_at(db.data, base, 4, "big data list")?, "big data list")?;
        let mut got = 0usize;
        for i in 0..segments {
            let seg_rel = u32_at(list.data, list.abs_of(0), i * 4, "big data segment")?;
            let seg = self.view.cell(seg_rel, "big data segment")?;
            if !seen.insert(seg_rel) {
                return Err(Error::Invalid {
                    what: "big data segment",
                    offset: seg.abs_of(0),
                    detail: "listed twice in one big-data record".into(),
                });
            }
            let want = (size as usize - got).min(BIG_DATA_THRESHOLD as usize);
            f(slice(seg.data, seg.abs_of(0), 0, want, "big data segment")?);
            got += want;
            if got == size as usize {
                break;
            }
        }
        if got != size as usize {
            return Err(Error::Invalid {
                what: "big data",
                offset: base,
                detail: format!("{segments} segments hold {got} of {size} bytes"),
            });
        }
        Ok(())
    }

    /// Reads an inline REG_DWORD: `Some(v)` when the value is type 4 with
    /// data size exactly 0x80000004 (how Windows stores every DWORD).
    pub fn inline_dword(&self) -> Result<Option<u32>> {
        if self.data_type()? == reg_type::DWORD && self.raw_data_size()? == VK_DATA_INLINE | 4 {
            Ok(Some(self.u32(VK_DATA_OFFSET)?))
        } else {
            Ok(None)
        }
    }
}

/// Totals from a full tree walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Keys visited (root included).
    pub keys: u64,
    /// Values whose data was read.
    pub values: u64,
}

/// Walks every key and value below `root`, reading every name and every
/// value's data. Fails on the first structural error, with its offset. A
/// key, subkey list or value list reached twice is a structure error (a
/// cycle, or a list naming one key many times, would otherwise cost time
/// exponential in the hive's size); the walk is linear in the hive's bytes.
pub fn walk_tree(root: Key<'_>) -> Result<TreeStats> {
    let mut stats = TreeStats::default();
    let mut seen = Visited::default();
    let mut stack = vec![(root, 0usize)];
    while let Some((k, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::Invalid {
                what: "key nesting",
                offset: k.abs(),
                detail: format!("deeper than {MAX_DEPTH} levels (a cycle?)"),
            });
        }
        seen.key(&k)?;
        // Names decode whatever their bytes are; reading them checks their
        // bounds. Data is checked where it lives, not copied.
        k.raw_name()?;
        stats.keys += 1;
        seen.value_list(&k)?;
        for v in k.values()? {
            seen.value(&v)?;
            v.raw_name()?;
            v.check_data()?;
            stats.values += 1;
        }
        for sub in k.subkeys_seen(&mut seen.lists)? {
            stack.push((sub, depth + 1));
        }
    }
    Ok(stats)
}

/// Cells already reached by a tree walk: each key, subkey list and value
/// list may be reached once.
#[derive(Default)]
pub struct Visited {
    keys: CellSet,
    /// Subkey list cells (for [`Key::subkeys_seen`]).
    pub lists: CellSet,
    value_lists: CellSet,
    values: CellSet,
}

impl Visited {
    /// Records key `k`; an error naming its offset if it was reached before.
    pub fn key(&mut self, k: &Key<'_>) -> Result<()> {
        if self.keys.insert(k.offset()) {
            return Ok(());
        }
        Err(Error::Invalid {
            what: "key node",
            offset: k.abs(),
            detail: "reached twice in the tree (a cycle, or listed under two parents)".into(),
        })
    }

    /// Records value record `v`; an error naming its offset if it was
    /// reached before (listed twice, or under two keys).
    pub fn value(&mut self, v: &Value<'_>) -> Result<()> {
        if self.values.insert(v.offset()) {
            return Ok(());
        }
        Err(Error::Invalid {
            what: "value",
            offset: v.abs_of(0),
            detail: "reached twice (listed twice, or under two keys)".into(),
        })
    }

    /// Records the value list of `k`, if it has one; an error naming the
    /// list's offset if another key (or this one) reached it before.
    pub fn value_list(&mut self, k: &Key<'_>) -> Result<()> {
        let Some((rel, _)) = k.value_list()? else {
            return Ok(());
        };
        if self.value_lists.insert(rel) {
            return Ok(());
        }
        Err(Error::Invalid {
            what: "value list",
            offset: (rel as u64)
                .saturating_add(crate::format::regf::base_block::BASE_BLOCK_SIZE as u64 + 4),
            detail: "shared by two keys".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name_key` folds exactly as `names_equal` compares.
    #[test]
    fn name_keys_are_equal_exactly_when_names_are() {
        let names = [
            "",
            "a",
            "A",
            "SecurityLayer",
            "SECURITYLAYER",
            "securitylayer",
            "ß",
            "SS",
            "ss",
            "\u{131}",
            "i",
            "I",
            "\u{130}",
            "é",
            "É",
            "\u{10410}",
            "\u{10438}",
            "Ⅻ",
            "ⅻ",
            "\u{1C4}",
            "\u{1C5}",
            "\u{1C6}",
            "K",
            "\u{212A}",
            "k",
            "µ",
            "Μ",
            "\u{3BC}",
        ];
        for a in names {
            for b in names {
                assert_eq!(name_key(a) == name_key(b), names_equal(a, b), "{a:?} {b:?}");
            }
        }
    }

    /// A stored name is compared without decoding when the lengths or the
    /// ASCII bytes tell, and exactly as `names_equal` otherwise.
    #[test]
    fn stored_names_compare_as_decoded_names_do() {
        let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        for (raw, latin1, name, want) in [
            (b"Services".to_vec(), true, "SERVICES", true),
            (b"Services".to_vec(), true, "Service", false),
            (vec![0xE4], true, "\u{c4}", true),
            (vec![0xE4], true, "A", false),
            (utf16("\u{131}"), false, "I", true),
            (utf16("\u{131}"), false, "II", false),
            (utf16("Stra\u{df}e"), false, "STRASSE", false),
            (utf16("\u{10410}"), false, "\u{10438}", false),
            (utf16("Tcpip"), false, "TCPIP", true),
        ] {
            assert_eq!(stored_name_is(&raw, latin1, name), want, "{raw:?} {name}");
            assert_eq!(
                names_equal(&decode_name(&raw, latin1), name),
                want,
                "{name}"
            );
        }
    }
    use crate::format::regf::base_block::BASE_BLOCK_SIZE;
    use crate::testing::{key_rel, testhive};
    use crate::util::bytes::put_u32;

    /// Absolute offset of the data of the cell at `rel`.
    fn data_at(rel: u32) -> usize {
        BASE_BLOCK_SIZE + rel as usize + 4
    }

    /// A subkey count of 2^32-1 fails with the field's offset, without
    /// reserving room for the claim (that would abort the process).
    #[test]
    fn a_huge_subkey_count_is_an_error_not_an_allocation() {
        let mut h = testhive();
        let k = key_rel(&h, "subkey-test");
        let field = data_at(k) + NK_SUBKEY_COUNT;
        put_u32(&mut h, field, u32::MAX);
        let view = HiveView::new(&h).unwrap();
        let e = Key::at(view, k)
            .unwrap()
            .subkeys()
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("subkey count") && e.contains(&format!("{field:#x}")),
            "{e}"
        );
        let e = walk_tree(Key::root(view).unwrap()).unwrap_err().to_string();
        assert!(e.contains(&format!("{field:#x}")), "{e}");
    }

    /// The first key below the root whose subkey list is a direct one
    /// (li/lf/lh) with at least two elements: (key rel, list data offset,
    /// element stride, element count).
    fn direct_list(h: &[u8]) -> (u32, usize, usize, usize) {
        let view = HiveView::new(h).unwrap();
        let mut stack = vec![Key::root(view).unwrap()];
        while let Some(k) = stack.pop() {
            let list = u32_at(k.cell.data, 0, NK_SUBKEY_LIST, "x").unwrap();
            if let Ok(c) = view.cell(list, "x") {
                let n = u16::from_le_bytes([c.data[2], c.data[3]]) as usize;
                let stride = match &c.data[..2] {
                    b"li" => 4,
                    b"lf" | b"lh" => 8,
                    _ => 0,
                };
                if stride != 0 && n >= 2 {
                    return (k.offset(), c.abs + 4, stride, n);
                }
            }
            stack.extend(k.subkeys().unwrap());
        }
        panic!("no direct subkey list");
    }

    /// A key whose list names the key itself (every element): each walk
    /// stops at the repetition with its offset, at once, where it used to
    /// run for 2^512 steps.
    /// Two subkeys of one name (case twins, which Windows never writes):
    /// the whole-file lookup is an error naming both, never the first of
    /// them; a name held once is still found.
    #[test]
    fn two_subkeys_of_one_name_make_the_lookup_an_error() {
        use crate::fixtures::build::{build, HiveSpec, KeySpec};
        let h = build(&HiveSpec {
            file_name: "twins".into(),
            sequence: 3,
            timestamp: 0x01d9_0000_0000_0000,
            root: KeySpec::new("ROOT")
                .key(KeySpec::new("Twin"))
                .key(KeySpec::new("TWIN"))
                .key(KeySpec::new("Other")),
        });
        let root = Key::root(HiveView::new(&h).unwrap()).unwrap();
        let Err(e) = root.subkey("twin") else {
            panic!("a name held twice was looked up");
        };
        let e = e.to_string();
        assert!(e.contains("two subkeys"), "{e}");
        assert!(root.subkey("other").unwrap().is_some());
        assert!(root.subkey("none").unwrap().is_none());
    }

    #[test]
    fn a_key_listing_itself_is_found_at_once() {
        let mut h = testhive();
        let (k, list, stride, n) = direct_list(&h);
        for i in 0..n {
            put_u32(&mut h, list + 4 + i * stride, k);
        }
        let view = HiveView::new(&h).unwrap();
        let e = Key::at(view, k)
            .unwrap()
            .subkeys()
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
        let start = std::time::Instant::now();
        let e = walk_tree(Key::root(view).unwrap()).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        let e = crate::hive::check::full_check(&h).unwrap_err().to_string();
        assert!(e.contains("twice") || e.contains("room for"), "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    /// One key listed under two parents: reached twice by the tree walk.
    #[test]
    fn a_key_under_two_parents_is_reached_twice() {
        let mut h = testhive();
        let (_, list, stride, _) = direct_list(&h);
        // The second element of the list now names the root's first
        // child, which the root also lists.
        let view = HiveView::new(&h).unwrap();
        let first = Key::root(view).unwrap().subkeys().unwrap()[0].offset();
        put_u32(&mut h, list + 4 + stride, first);
        let view = HiveView::new(&h).unwrap();
        let e = walk_tree(Key::root(view).unwrap()).unwrap_err().to_string();
        assert!(
            e.contains("reached twice") || e.contains("listed twice"),
            "{e}"
        );
    }

    /// `data_ref` reads what `data` reads: borrowed from the hive for
    /// inline and one-cell data, a copy for big data (its segments joined).
    #[test]
    fn data_ref_is_data_borrowed_unless_big() {
        use std::borrow::Cow;
        let h = testhive();
        let view = HiveView::new(&h).unwrap();
        let (mut borrowed, mut owned) = (0, 0);
        for k in Key::root(view).unwrap().subkeys().unwrap() {
            for v in k.values().unwrap() {
                let (copy, seen) = (v.data().unwrap(), v.data_ref().unwrap());
                assert_eq!(copy, &*seen);
                let big = v.raw_data_size().unwrap() & !VK_DATA_INLINE > BIG_DATA_THRESHOLD;
                match seen {
                    Cow::Borrowed(_) if !big => borrowed += 1,
                    Cow::Owned(_) if big => owned += 1,
                    other => panic!(
                        "{} bytes read {}",
                        copy.len(),
                        if matches!(other, Cow::Borrowed(_)) {
                            "borrowed"
                        } else {
                            "as a copy"
                        }
                    ),
                }
            }
        }
        assert!(borrowed > 3 && owned > 0, "{borrowed} {owned}");
    }

    /// A big-data record listing one segment many times cannot make a
    /// value larger than the hive: an error with the offset.
    #[test]
    fn repeated_big_data_segments_are_an_error() {
        let mut h = testhive();
        let (vk, list) = {
            let view = HiveView::new(&h).unwrap();
            let k = Key::at(view, key_rel(&h, "big-data-test")).unwrap();
            let v = k
                .values()
                .unwrap()
                .into_iter()
                .find(|v| v.raw_data_size().unwrap() > BIG_DATA_THRESHOLD)
                .unwrap();
            let db = view.cell(v.u32(VK_DATA_OFFSET).unwrap(), "x").unwrap();
            (v.offset(), data_at(u32_at(db.data, 0, 4, "x").unwrap()))
        };
        let seg0 = u32_at(&h, 0, list, "x").unwrap();
        put_u32(&mut h, list + 4, seg0);
        let size_at = {
            let view = HiveView::new(&h).unwrap();
            let v = Value::at(view, vk).unwrap();
            let e = v.data().unwrap_err().to_string();
            assert!(e.contains("listed twice"), "{e}");
            v.abs_of(VK_DATA_SIZE) as usize
        };
        // A size larger than the hive is refused before any segment is read.
        put_u32(&mut h, size_at, 0x7000_0000);
        let view = HiveView::new(&h).unwrap();
        let e = Value::at(view, vk).unwrap().data().unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
    }
}
