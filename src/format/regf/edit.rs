// SPDX-License-Identifier: GPL-2.0-or-later
//! A hive editor: cell allocation and value edits on an in-memory image.
//!
//! Sources: regf specification, "Cell", "Key node", "Key value", "Value
//! list" (commit 88e878de); hive-write-safety.md §2.3-2.6 and §5.2-5.3
//! (allocation rules checked against ReactOS `HvAllocateCell`, chntpw
//! `alloc_block` and hivex `allocate_page`).
//!
//! Rules kept here:
//! - cells are multiples of 8 bytes and never cross an hbin; a free cell is
//!   split only when the remainder is a whole cell (≥ 8 bytes), otherwise it
//!   is taken whole; no zero-size cell is ever written;
//! - a free cell in the key's own bin is preferred (locality, as chntpw);
//! - when nothing fits, one hbin is appended (size = 4096-multiple covering
//!   the cell), holding the new cell and one free cell for the rest, and the
//!   hive-bins size grows with it;
//! - a value list that is full moves to a new cell; the old one is freed
//!   last; the nk's value count and its largest name / data sizes are kept
//!   right (name size counted in UTF-16 bytes, as Windows does);
//! - freed cells are not merged with neighbours (the loader does not need it).

use crate::error::{Error, Result};
use crate::format::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE, OFF_HIVE_BINS_SIZE};
use crate::format::regf::cell::{
    walk_bins, HiveView, CELL_ALIGN, HBIN_ALIGN, HBIN_HEADER_SIZE, HBIN_SIGNATURE, NO_CELL,
};
use crate::format::regf::key::{
    Key, Value, BIG_DATA_THRESHOLD, NK_COMP_NAME, NK_FLAGS, NK_NAME, NK_NAME_LEN, NK_SUBKEY_COUNT,
    NK_SUBKEY_LIST, NK_TIMESTAMP, NK_VALUE_COUNT, NK_VALUE_LIST, VK_COMP_NAME, VK_DATA_INLINE,
    VK_DATA_OFFSET, VK_DATA_SIZE, VK_FLAGS, VK_NAME, VK_NAME_LEN, VK_TYPE,
};
use crate::util::buf::Buf;
use crate::util::bytes::{i32_at, put_u16, put_u32, u16_at, u32_at};

/// nk field: largest value-name length (UTF-16 bytes).
const NK_MAX_VALUE_NAME: usize = 60;
/// nk field: largest value-data size.
const NK_MAX_VALUE_DATA: usize = 64;

fn align(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

/// What a value edit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditKind {
    /// Existing value overwritten.
    Changed,
    /// New value created.
    Created,
    /// Value removed.
    Deleted,
}

/// A hive image being edited.
pub struct HiveEdit {
    bytes: Buf,
    bins_end: usize,
    appended_bins: u32,
}

impl HiveEdit {
    /// Takes a whole hive file image; its bins must pass the structural walk.
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        let bb = BaseBlock::parse(&bytes)?;
        walk_bins(&bytes, bb.hive_bins_size)?;
        Ok(Self::walked(bytes.into(), &bb))
    }

    /// Takes an image without walking its bins: the caller runs
    /// `full_check` on exactly these bytes (the edit engine, beside an
    /// in-place edit) and keeps the result only if it passes. The editor's
    /// reads are bounds-checked either way.
    pub(crate) fn unwalked(bytes: Buf) -> Result<Self> {
        let bb = BaseBlock::parse(&bytes)?;
        Ok(Self::walked(bytes, &bb))
    }

    fn walked(bytes: Buf, bb: &BaseBlock) -> Self {
        HiveEdit {
            bins_end: BASE_BLOCK_SIZE + bb.hive_bins_size as usize,
            bytes,
            appended_bins: 0,
        }
    }

    /// The image.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Gives the image back.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes.into_vec()
    }

    /// Gives the image back in its own buffer (no copy).
    pub fn into_buf(self) -> Buf {
        self.bytes
    }

    /// Current hive-bins data size.
    pub fn hive_bins_size(&self) -> u32 {
        (self.bins_end - BASE_BLOCK_SIZE) as u32
    }

    /// Bins appended by this editor.
    pub fn appended_bins(&self) -> u32 {
        self.appended_bins
    }

    fn view(&self) -> Result<HiveView<'_>> {
        HiveView::new(&self.bytes)
    }

    fn abs(rel: u32) -> usize {
        BASE_BLOCK_SIZE + rel as usize
    }

    /// End (absolute) of the bin starting at `pos`. Every step of a walk
    /// over the bins moves forward (the size is a non-zero multiple of
    /// 4096) and stays inside the hive bins, even on an image whose bins
    /// were not walked first ([`HiveEdit::unwalked`]).
    fn bin_end(&self, pos: usize) -> Result<usize> {
        let size = u32_at(&self.bytes, 0, pos + 8, "hbin size")? as usize;
        match pos.checked_add(size) {
            Some(end) if size != 0 && size.is_multiple_of(HBIN_ALIGN) && end <= self.bins_end => {
                Ok(end)
            }
            _ => Err(Error::Invalid {
                what: "hbin size",
                offset: pos as u64 + 8,
                detail: format!("{size:#x} is not a multiple of 4096 inside the hive bins"),
            }),
        }
    }

    /// Start (absolute) of the bin holding absolute offset `abs`.
    fn bin_of(&self, abs: usize) -> Result<(usize, usize)> {
        let mut pos = BASE_BLOCK_SIZE;
        while pos < self.bins_end {
            let end = self.bin_end(pos)?;
            if abs < end {
                return Ok((pos, end));
            }
            pos = end;
        }
        Err(Error::Invalid {
            what: "cell offset",
            offset: abs as u64,
            detail: "outside every hive bin".into(),
        })
    }

    /// First free cell of at least `need` bytes in `[start, end)` (a bin).
    fn find_free_in(
        &self,
        start: usize,
        end: usize,
        need: usize,
    ) -> Result<Option<(usize, usize)>> {
        let mut c = start + HBIN_HEADER_SIZE;
        while c < end {
            let raw = i32_at(&self.bytes, 0, c, "cell size")?;
            let len = raw.unsigned_abs() as usize;
            if len == 0
                || !len.is_multiple_of(CELL_ALIGN)
                || c.checked_add(len).is_none_or(|e| e > end)
            {
                return Err(Error::Invalid {
                    what: "cell size",
                    offset: c as u64,
                    detail: format!(
                        "size {raw} is zero, not a multiple of 8, or crosses the bin end {end:#x}"
                    ),
                });
            }
            if raw > 0 && len >= need {
                return Ok(Some((c, len)));
            }
            c += len;
        }
        Ok(None)
    }

    /// Allocates a cell with `data_len` bytes of data (size field excluded),
    /// preferring the bin of `near` (an absolute offset). Returns the cell's
    /// relative offset; its data is zeroed.
    pub fn alloc(&mut self, data_len: usize, near: Option<usize>) -> Result<u32> {
        let need = align(4 + data_len, CELL_ALIGN).max(CELL_ALIGN);
        let mut found = None;
        if let Some(n) = near {
            let (s, e) = self.bin_of(n)?;
            found = self.find_free_in(s, e, need)?;
        }
        if found.is_none() {
            let mut pos = BASE_BLOCK_SIZE;
            while pos < self.bins_end && found.is_none() {
                let end = self.bin_end(pos)?;
                found = self.find_free_in(pos, end, need)?;
                pos = end;
            }
        }
        let (at, len) = match found {
            Some(f) => f,
            None => return self.append_bin(need),
        };
        let rest = len - need;
        if rest >= CELL_ALIGN {
            put_u32(&mut self.bytes, at, (need as i32).wrapping_neg() as u32);
            put_u32(&mut self.bytes, at + need, rest as u32);
        } else {
            put_u32(&mut self.bytes, at, (len as i32).wrapping_neg() as u32);
        }
        let cell_len = if rest >= CELL_ALIGN { need } else { len };
        self.bytes[at + 4..at + cell_len].fill(0);
        Ok((at - BASE_BLOCK_SIZE) as u32)
    }

    fn append_bin(&mut self, need: usize) -> Result<u32> {
        let size = align(HBIN_HEADER_SIZE + need, HBIN_ALIGN);
        let start = self.bins_end;
        let rel = (start - BASE_BLOCK_SIZE) as u32;
        let new_end = start + size;
        if u32::try_from(new_end - BASE_BLOCK_SIZE).is_err() {
            return Err(Error::Unsupported {
                what: "hive size",
                offset: start as u64,
                detail: "the hive cannot grow past 4 GiB".into(),
            });
        }
        if self.bytes.len() < new_end {
            self.bytes.resize(new_end, 0);
        }
        let bin = &mut self.bytes[start..new_end];
        bin.fill(0);
        bin[..4].copy_from_slice(HBIN_SIGNATURE);
        put_u32(bin, 4, rel);
        put_u32(bin, 8, size as u32);
        let cell = HBIN_HEADER_SIZE;
        put_u32(bin, cell, (need as i32).wrapping_neg() as u32);
        let rest = size - HBIN_HEADER_SIZE - need;
        if rest > 0 {
            put_u32(bin, cell + need, rest as u32);
        }
        self.bins_end = new_end;
        self.appended_bins += 1;
        let bins = self.hive_bins_size();
        put_u32(&mut self.bytes, OFF_HIVE_BINS_SIZE, bins);
        Ok(rel + HBIN_HEADER_SIZE as u32)
    }

    /// Marks an allocated cell free (no merge).
    pub fn free(&mut self, rel: u32) -> Result<()> {
        let at = Self::abs(rel);
        let raw = i32_at(&self.bytes, 0, at, "cell size")?;
        if raw >= 0 {
            return Err(Error::Invalid {
                what: "cell",
                offset: at as u64,
                detail: "freeing a cell that is not allocated".into(),
            });
        }
        put_u32(&mut self.bytes, at, raw.unsigned_abs());
        Ok(())
    }

    /// Data bytes of the allocated cell at `rel` (checked like every cell
    /// read: aligned, allocated, inside the hive bins).
    fn cell_capacity(&self, rel: u32) -> Result<usize> {
        Ok(self.view()?.cell(rel, "cell")?.data.len())
    }

    /// Frees a value's data cell(s) (one cell, or a big-data record with its
    /// segment list and segments); inline data has none.
    fn free_data(&mut self, vk_abs: usize) -> Result<()> {
        let size = u32_at(&self.bytes, 0, vk_abs + 4 + VK_DATA_SIZE, "value data size")?;
        if size & VK_DATA_INLINE != 0 || size == 0 {
            return Ok(());
        }
        let off = u32_at(
            &self.bytes,
            0,
            vk_abs + 4 + VK_DATA_OFFSET,
            "value data offset",
        )?;
        if off == NO_CELL {
            return Ok(());
        }
        let data_abs = Self::abs(off) + 4;
        if self.view()?.big_data_records()
            && size > BIG_DATA_THRESHOLD
            && self.bytes.get(data_abs..data_abs + 2) == Some(b"db")
        {
            let segs = u16_at(&self.bytes, 0, data_abs + 2, "big data segments")? as usize;
            let list = u32_at(&self.bytes, 0, data_abs + 4, "big data list")?;
            for i in 0..segs {
                let seg = u32_at(
                    &self.bytes,
                    0,
                    Self::abs(list) + 4 + i * 4,
                    "big data segment",
                )?;
                self.free(seg)?;
            }
            self.free(list)?;
        }
        self.free(off)
    }

    /// Writes `data` of type `ty` into the vk at absolute cell offset
    /// `vk_abs`, reusing the old data cell when it is big enough.
    fn store_data(&mut self, vk_abs: usize, ty: u32, data: &[u8]) -> Result<()> {
        if data.len() > BIG_DATA_THRESHOLD as usize {
            return Err(Error::Unsupported {
                what: "value data",
                offset: vk_abs as u64,
                detail: format!(
                    "{} bytes need a big-data record (over {BIG_DATA_THRESHOLD} bytes); not supported",
                    data.len()
                ),
            });
        }
        let fields = vk_abs + 4;
        if data.len() <= 4 {
            self.free_data(vk_abs)?;
            let mut inline = [0u8; 4];
            inline[..data.len()].copy_from_slice(data);
            // Empty data is stored inline with length 0 (size 0x80000000,
            // offset 0): the form Windows itself writes (measured on the
            // Windows 7 corpus hive: 53 of 53 empty values).
            put_u32(
                &mut self.bytes,
                fields + VK_DATA_SIZE,
                VK_DATA_INLINE | data.len() as u32,
            );
            self.bytes[fields + VK_DATA_OFFSET..fields + VK_DATA_OFFSET + 4]
                .copy_from_slice(&inline);
        } else {
            let size = u32_at(&self.bytes, 0, fields + VK_DATA_SIZE, "value data size")?;
            let off = u32_at(&self.bytes, 0, fields + VK_DATA_OFFSET, "value data offset")?;
            let reusable = size & VK_DATA_INLINE == 0
                && size != 0
                && size <= BIG_DATA_THRESHOLD
                && off != NO_CELL
                && self.cell_capacity(off)? >= data.len();
            let cell = if reusable {
                off
            } else {
                let c = self.alloc(data.len(), Some(vk_abs))?;
                self.free_data(vk_abs)?;
                c
            };
            let at = Self::abs(cell) + 4;
            let cap = self.cell_capacity(cell)?;
            self.bytes[at..at + cap].fill(0);
            self.bytes[at..at + data.len()].copy_from_slice(data);
            put_u32(&mut self.bytes, fields + VK_DATA_SIZE, data.len() as u32);
            put_u32(&mut self.bytes, fields + VK_DATA_OFFSET, cell);
        }
        put_u32(&mut self.bytes, fields + VK_TYPE, ty);
        Ok(())
    }

    fn bump_max(&mut self, nk_abs: usize, field: usize, v: u32) -> Result<()> {
        let at = nk_abs + 4 + field;
        let old = u32_at(&self.bytes, 0, at, "key node field")?;
        if v > old {
            put_u32(&mut self.bytes, at, v);
        }
        Ok(())
    }

    /// Sets value `name` of the key at relative offset `key_rel` to `data`
    /// of type `ty`, creating the value when it does not exist.
    pub fn set_value(
        &mut self,
        key_rel: u32,
        name: &str,
        ty: u32,
        data: &[u8],
    ) -> Result<EditKind> {
        let (existing, count, list, nk_abs) = {
            let view = self.view()?;
            let key = Key::at(view, key_rel)?;
            let existing = only_value(&key, &key.values()?, name)?.map(|(_, v)| v);
            let count = key.value_count()?;
            let list = if count == 0 {
                NO_CELL
            } else {
                key.value_list()?.map_or(NO_CELL, |l| l.0)
            };
            (existing, count, list, Self::abs(key_rel))
        };
        if let Some(vk) = existing {
            self.store_data(Self::abs(vk), ty, data)?;
            self.bump_max(nk_abs, NK_MAX_VALUE_DATA, data.len() as u32)?;
            return Ok(EditKind::Changed);
        }
        // New vk: Latin-1 names are stored compressed, others as UTF-16LE.
        let latin1 = name.chars().all(|c| (c as u32) < 0x100);
        let raw_name: Vec<u8> = if latin1 {
            name.chars().map(|c| c as u8).collect()
        } else {
            name.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
        };
        let name_len = u16::try_from(raw_name.len()).map_err(|_| Error::Unsupported {
            what: "value name",
            offset: nk_abs as u64,
            detail: "longer than 65535 bytes".into(),
        })?;
        let vk_rel = self.alloc(VK_NAME + raw_name.len(), Some(nk_abs))?;
        let vk_abs = Self::abs(vk_rel);
        {
            let f = vk_abs + 4;
            self.bytes[f..f + 2].copy_from_slice(b"vk");
            put_u16(&mut self.bytes, f + VK_NAME_LEN, name_len);
            put_u32(&mut self.bytes, f + VK_DATA_SIZE, VK_DATA_INLINE);
            put_u16(
                &mut self.bytes,
                f + VK_FLAGS,
                if latin1 { VK_COMP_NAME } else { 0 },
            );
            self.bytes[f + VK_NAME..f + VK_NAME + raw_name.len()].copy_from_slice(&raw_name);
        }
        self.store_data(vk_abs, ty, data)?;
        // Value list: append in place when a slot is free, else move it.
        let capacity = if list == NO_CELL {
            0
        } else {
            self.cell_capacity(list)? / 4
        };
        if (count as usize) < capacity {
            put_u32(
                &mut self.bytes,
                Self::abs(list) + 4 + count as usize * 4,
                vk_rel,
            );
        } else {
            let new_list = self.alloc(4 * (count as usize + 1), Some(nk_abs))?;
            let to = Self::abs(new_list) + 4;
            if list != NO_CELL {
                let from = Self::abs(list) + 4;
                self.bytes.copy_within(from..from + count as usize * 4, to);
            }
            put_u32(&mut self.bytes, to + count as usize * 4, vk_rel);
            put_u32(&mut self.bytes, nk_abs + 4 + NK_VALUE_LIST, new_list);
            if list != NO_CELL {
                self.free(list)?;
            }
        }
        put_u32(&mut self.bytes, nk_abs + 4 + NK_VALUE_COUNT, count + 1);
        let utf16_len = name.encode_utf16().count() as u32 * 2;
        self.bump_max(nk_abs, NK_MAX_VALUE_NAME, utf16_len)?;
        self.bump_max(nk_abs, NK_MAX_VALUE_DATA, data.len() as u32)?;
        Ok(EditKind::Created)
    }

    /// Deletes value `name` of the key at `key_rel`. Returns whether it existed.
    pub fn delete_value(&mut self, key_rel: u32, name: &str) -> Result<bool> {
        let (index, vk, count, list, nk_abs) = {
            let view = self.view()?;
            let key = Key::at(view, key_rel)?;
            let values = key.values()?;
            let Some((i, vk)) = only_value(&key, &values, name)? else {
                return Ok(false);
            };
            let list = key.value_list()?.map_or(NO_CELL, |l| l.0);
            (i, vk, values.len(), list, Self::abs(key_rel))
        };
        let base = Self::abs(list) + 4;
        self.bytes
            .copy_within(base + (index + 1) * 4..base + count * 4, base + index * 4);
        put_u32(&mut self.bytes, base + (count - 1) * 4, 0);
        put_u32(
            &mut self.bytes,
            nk_abs + 4 + NK_VALUE_COUNT,
            (count - 1) as u32,
        );
        if count == 1 {
            put_u32(&mut self.bytes, nk_abs + 4 + NK_VALUE_LIST, NO_CELL);
            self.free(list)?;
        }
        self.free_data(Self::abs(vk))?;
        self.free(vk)?;
        Ok(true)
    }
}

/// The one value of `key` (its `values`) named `name` (as Windows compares names), with
/// its index in the value list; an error when two values carry that name
/// (a damaged or hostile hive: which one an edit would change, and which
/// one a reader would then find, is not defined).
fn only_value(key: &Key<'_>, values: &[Value<'_>], name: &str) -> Result<Option<(usize, u32)>> {
    let mut hit = None;
    for (i, v) in values.iter().enumerate() {
        if v.name_is(name)? {
            if hit.is_some() {
                return Err(Error::Invalid {
                    what: "value list",
                    offset: key.abs(),
                    detail: format!(
                        "two values of this key are named '{name}': an edit of one is ambiguous"
                    ),
                });
            }
            hit = Some((i, v.offset()));
        }
    }
    Ok(hit)
}

// Key creation. Sources: regf specification "Key node", "Subkeys list",
// "Index root", "Key security" (commit 88e878de); hive-write-safety.md.

/// nk: parent key node.
const NK_PARENT: usize = 16;
/// nk: volatile subkey list (none in a hive file).
const NK_VOLATILE_LIST: usize = 32;
/// nk: key security (sk) cell.
const NK_SECURITY: usize = 44;
/// nk: class name cell.
const NK_CLASS: usize = 48;
/// nk: largest subkey name, UTF-16 bytes, in the low 16 bits (the high
/// bits hold flags on Windows 10).
const NK_MAX_SUBKEY_NAME: usize = 52;
/// sk: reference count.
const SK_REFERENCES: usize = 12;
/// Longest key name Windows accepts (characters).
const MAX_KEY_NAME: usize = 255;
/// Hives from format 1.5 on use `lh` leaves; older ones `lf`.
const LH_MIN_MINOR: u32 = 5;

/// The `lh` hash of a key name: for each UTF-16 unit upper-cased on its
/// own (one unit for one, as Windows' upcase table does: `ß` stays `ß`,
/// never `SS`), hash = hash * 37 + unit (wrapping).
pub fn lh_hash(name: &str) -> u32 {
    super::key::name_key(name)
        .into_iter()
        .fold(0u32, |h, u| h.wrapping_mul(37).wrapping_add(u32::from(u)))
}

/// The `lf` hint of a key name: its first four characters (Latin-1),
/// zero-padded.
fn lf_hint(name: &str) -> u32 {
    let mut b = [0u8; 4];
    for (i, c) in name.chars().take(4).enumerate() {
        b[i] = u8::try_from(c as u32).unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

/// The sort key Windows orders subkeys by: the name's UTF-16 units, each
/// upper-cased on its own (the fold lookups compare names by).
fn sort_key(name: &str) -> Vec<u16> {
    super::key::name_key(name)
}

/// One leaf of a parent's subkey index: its cell, signature, elements.
struct Leaf {
    rel: u32,
    sig: [u8; 2],
    keys: Vec<(u32, Vec<u16>)>,
}

impl HiveEdit {
    fn leaf(&self, rel: u32) -> Result<Leaf> {
        let view = self.view()?;
        let cell = view.cell(rel, "subkey list")?;
        let base = cell.abs_of(0);
        let n = u16_at(cell.data, base, 2, "subkey list count")? as usize;
        let sig = [cell.data[0], cell.data[1]];
        let stride = match &sig {
            b"li" => 4,
            b"lf" | b"lh" => 8,
            other => {
                return Err(Error::BadSignature {
                    what: "subkey list",
                    offset: base,
                    expected: "li/lf/lh",
                    found: other.to_vec(),
                })
            }
        };
        let mut keys = Vec::with_capacity(n);
        for i in 0..n {
            let child = u32_at(cell.data, base, 4 + i * stride, "subkey list element")?;
            keys.push((child, sort_key(&Key::at(view, child)?.name()?)));
        }
        Ok(Leaf { rel, sig, keys })
    }

    /// Writes `keys` as a new leaf of type `sig`; returns its offset.
    fn write_leaf(&mut self, sig: [u8; 2], keys: &[(u32, Vec<u16>)], near: usize) -> Result<u32> {
        let stride = if &sig == b"li" { 4 } else { 8 };
        let count = u16::try_from(keys.len()).map_err(|_| Error::Unsupported {
            what: "subkey list",
            offset: near as u64,
            detail: "more than 65535 subkeys in one list".into(),
        })?;
        let rel = self.alloc(4 + stride * keys.len(), Some(near))?;
        let at = Self::abs(rel) + 4;
        self.bytes[at..at + 2].copy_from_slice(&sig);
        put_u16(&mut self.bytes, at + 2, count);
        for (i, (child, _)) in keys.iter().enumerate() {
            let e = at + 4 + i * stride;
            put_u32(&mut self.bytes, e, *child);
            if stride == 8 {
                let name = Key::at(self.view()?, *child)?.name()?;
                let h = if &sig == b"lh" {
                    lh_hash(&name)
                } else {
                    lf_hint(&name)
                };
                put_u32(&mut self.bytes, e + 4, h);
            }
        }
        Ok(rel)
    }

    /// Inserts `child` into the parent's subkey index in sorted position,
    /// replacing the leaf it lands in (and freeing the old one); returns
    /// the new list offset to store in the parent.
    fn insert_subkey(&mut self, list: u32, count: u32, child: u32, nk_abs: usize) -> Result<u32> {
        let name = sort_key(&Key::at(self.view()?, child)?.name()?);
        if count == 0 || list == NO_CELL {
            let minor = BaseBlock::parse(&self.bytes)?.minor;
            let sig = if minor >= LH_MIN_MINOR {
                *b"lh"
            } else {
                *b"lf"
            };
            return self.write_leaf(sig, &[(child, name)], nk_abs);
        }
        let head = self.view()?.cell(list, "subkey list")?;
        if head.data.get(..2) == Some(b"ri") {
            let base = head.abs_of(0);
            let n = u16_at(head.data, base, 2, "index root count")? as usize;
            let mut leaves = Vec::with_capacity(n);
            for i in 0..n {
                leaves.push(u32_at(head.data, base, 4 + 4 * i, "index root element")?);
            }
            // The first leaf whose last key sorts after the new one, else
            // the last leaf.
            let mut pick = n.saturating_sub(1);
            for (i, l) in leaves.iter().enumerate() {
                let leaf = self.leaf(*l)?;
                if leaf.keys.last().is_some_and(|k| k.1 > name) {
                    pick = i;
                    break;
                }
            }
            let leaf = self.leaf(leaves[pick])?;
            let new_leaf = self.replace_leaf(leaf, child, name, nk_abs)?;
            put_u32(
                &mut self.bytes,
                Self::abs(list) + 4 + 4 + 4 * pick,
                new_leaf,
            );
            return Ok(list);
        }
        let leaf = self.leaf(list)?;
        self.replace_leaf(leaf, child, name, nk_abs)
    }

    fn replace_leaf(
        &mut self,
        mut leaf: Leaf,
        child: u32,
        name: Vec<u16>,
        near: usize,
    ) -> Result<u32> {
        let pos = leaf.keys.partition_point(|k| k.1 < name);
        leaf.keys.insert(pos, (child, name));
        let new = self.write_leaf(leaf.sig, &leaf.keys, near)?;
        self.free(leaf.rel)?;
        Ok(new)
    }

    /// Creates subkey `name` under the key at `parent_rel`: a new nk (name
    /// stored as Latin-1 when it can be, sharing the parent's security
    /// descriptor, whose reference count grows), inserted into the parent's
    /// subkey index in Windows' sort order with `lh` hashes / `lf` hints;
    /// the parent's subkey count and largest-subkey-name field follow.
    /// Returns the new key's offset. An existing name is refused.
    pub fn create_key(&mut self, parent_rel: u32, name: &str) -> Result<u32> {
        let nk_abs = Self::abs(parent_rel);
        let bad = |detail: String| Error::Unsupported {
            what: "key name",
            offset: nk_abs as u64,
            detail,
        };
        if name.is_empty() || name.contains('\\') || name.chars().count() > MAX_KEY_NAME {
            return Err(bad(format!(
                "{name:?}: empty, holds a backslash or is over 255 characters"
            )));
        }
        let (count, list, sk, stamp) = {
            let view = self.view()?;
            let parent = Key::at(view, parent_rel)?;
            if parent.subkey(name)?.is_some() {
                return Err(bad(format!("{name:?} already exists")));
            }
            let f = |o| u32_at(&self.bytes, 0, nk_abs + 4 + o, "key node field");
            (
                f(NK_SUBKEY_COUNT)?,
                f(NK_SUBKEY_LIST)?,
                f(NK_SECURITY)?,
                parent.timestamp()?,
            )
        };
        let sk_cell = self.view()?.cell(sk, "key security")?;
        if sk_cell.data.get(..2) != Some(b"sk") {
            return Err(Error::BadSignature {
                what: "key security",
                offset: sk_cell.abs_of(0),
                expected: "sk",
                found: sk_cell.data.get(..2).unwrap_or_default().to_vec(),
            });
        }
        let refs_at = sk_cell.abs + 4 + SK_REFERENCES;
        let refs = u32_at(&self.bytes, 0, refs_at, "sk reference count")?;
        let latin1 = name.chars().all(|c| (c as u32) < 0x100);
        let raw: Vec<u8> = if latin1 {
            name.chars().map(|c| c as u8).collect()
        } else {
            name.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
        };
        let rel = self.alloc(NK_NAME + raw.len(), Some(nk_abs))?;
        let at = Self::abs(rel) + 4;
        self.bytes[at..at + 2].copy_from_slice(b"nk");
        put_u16(
            &mut self.bytes,
            at + NK_FLAGS,
            if latin1 { NK_COMP_NAME } else { 0 },
        );
        self.bytes[at + NK_TIMESTAMP..at + NK_TIMESTAMP + 8].copy_from_slice(&stamp.to_le_bytes());
        put_u32(&mut self.bytes, at + NK_PARENT, parent_rel);
        for o in [NK_SUBKEY_LIST, NK_VOLATILE_LIST, NK_VALUE_LIST, NK_CLASS] {
            put_u32(&mut self.bytes, at + o, NO_CELL);
        }
        put_u32(&mut self.bytes, at + NK_SECURITY, sk);
        put_u16(&mut self.bytes, at + NK_NAME_LEN, raw.len() as u16);
        self.bytes[at + NK_NAME..at + NK_NAME + raw.len()].copy_from_slice(&raw);
        put_u32(
            &mut self.bytes,
            refs_at,
            refs.checked_add(1)
                .ok_or_else(|| bad("the security descriptor's reference count is full".into()))?,
        );
        let new_list = self.insert_subkey(list, count, rel, nk_abs)?;
        put_u32(&mut self.bytes, nk_abs + 4 + NK_SUBKEY_LIST, new_list);
        put_u32(&mut self.bytes, nk_abs + 4 + NK_SUBKEY_COUNT, count + 1);
        let max_at = nk_abs + 4 + NK_MAX_SUBKEY_NAME;
        let max = u32_at(&self.bytes, 0, max_at, "key node field")?;
        let utf16 = name.encode_utf16().count() as u32 * 2;
        if utf16 > max & 0xFFFF {
            put_u32(&mut self.bytes, max_at, (max & 0xFFFF_0000) | utf16);
        }
        Ok(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::regf::key::reg_type;
    use crate::hive::check::full_check;

    use crate::testing::{key_rel, testhive};

    /// An hbin size of 0 (or one running past the bins) in an image whose
    /// bins were not walked: every loop over the bins stops with an error
    /// at the field, where it used to spin for ever.
    #[test]
    fn a_zero_hbin_size_stops_every_bin_loop() {
        for bad in [0u32, 0x1000_0000, 100] {
            let mut h = testhive();
            let second =
                BASE_BLOCK_SIZE + u32_at(&h, 0, BASE_BLOCK_SIZE + 8, "x").unwrap() as usize;
            put_u32(&mut h, second + 8, bad);
            let mut e = HiveEdit::unwalked(h.into()).unwrap();
            let err = e.alloc(16000, None).unwrap_err().to_string();
            assert!(
                err.contains("hbin size") && err.contains(&format!("{:#x}", second + 8)),
                "{err}"
            );
            let err = e.alloc(16000, Some(second + 64)).unwrap_err().to_string();
            assert!(err.contains("hbin size"), "{err}");
        }
    }

    /// A value whose data offset names something that is not an allocated
    /// cell: editing it is an error, never a slice past the image.
    #[test]
    fn a_data_offset_to_a_non_cell_is_an_error() {
        let h = testhive();
        let k = key_rel(&h, "data-test");
        let view = HiveView::new(&h).unwrap();
        let v = Key::at(view, k)
            .unwrap()
            .values()
            .unwrap()
            .into_iter()
            .find(|v| {
                v.raw_data_size().unwrap() & VK_DATA_INLINE == 0 && v.raw_data_size().unwrap() > 8
            })
            .unwrap();
        let name = v.name().unwrap();
        let field = v.abs_of(VK_DATA_OFFSET) as usize;
        for target in [0x7fff_fff8u32, 2, 0x1c] {
            let mut bad = h.clone();
            put_u32(&mut bad, field, target);
            let mut e = HiveEdit::new(bad).unwrap();
            assert!(e.set_value(k, &name, reg_type::BINARY, &[1; 64]).is_err());
        }
    }

    fn read(bytes: &[u8], path: &str, name: &str) -> Option<(u32, Vec<u8>)> {
        let view = HiveView::new(bytes).unwrap();
        let k = Key::root(view).unwrap().subpath(path).unwrap().unwrap();
        k.value(name)
            .unwrap()
            .map(|v| (v.data_type().unwrap(), v.data().unwrap()))
    }

    fn nt_read(bytes: &[u8], path: &str, name: &str) -> Option<Vec<u8>> {
        let h = nt_hive::Hive::without_validation(bytes).unwrap();
        let k = h.root_key_node().unwrap().subpath(path)?.unwrap();
        Some(k.value(name)?.unwrap().data().unwrap().into_vec().unwrap())
    }

    /// Create, change (inline → cell → bigger cell → inline) and delete,
    /// checked after every step by both readers and the full walk.
    #[test]
    fn value_lifecycle_keeps_the_hive_valid() {
        let mut e = HiveEdit::new(testhive()).unwrap();
        let k = key_rel(e.bytes(), "data-test");
        let before = full_check(e.bytes()).unwrap();
        let steps: Vec<(u32, Vec<u8>)> = vec![
            (reg_type::DWORD, 7u32.to_le_bytes().to_vec()),
            (
                reg_type::SZ,
                "hello world, a longer string"
                    .encode_utf16()
                    .flat_map(|u| u.to_le_bytes())
                    .collect(),
            ),
            (reg_type::BINARY, vec![0xAB; 3000]),
            (reg_type::QWORD, 5u64.to_le_bytes().to_vec()),
            (reg_type::SZ, Vec::new()),
        ];
        for (i, (ty, data)) in steps.iter().enumerate() {
            let kind = e.set_value(k, "NewValue", *ty, data).unwrap();
            assert_eq!(
                kind,
                if i == 0 {
                    EditKind::Created
                } else {
                    EditKind::Changed
                }
            );
            assert_eq!(
                read(e.bytes(), "data-test", "newvalue"),
                Some((*ty, data.clone())),
                "step {i}"
            );
            assert_eq!(
                nt_read(e.bytes(), "data-test", "NewValue").as_deref(),
                Some(&data[..]),
                "step {i}"
            );
            let s = full_check(e.bytes()).unwrap();
            assert_eq!((s.keys, s.values), (before.keys, before.values + 1));
        }
        assert!(e.delete_value(k, "NEWVALUE").unwrap());
        assert_eq!(read(e.bytes(), "data-test", "NewValue"), None);
        let s = full_check(e.bytes()).unwrap();
        assert_eq!((s.keys, s.values), (before.keys, before.values));
        assert!(!e.delete_value(k, "NewValue").unwrap());
    }

    /// Filling a key until the list must move and the free space runs out
    /// appends bins; the hive-bins size follows; names in UTF-16 work.
    #[test]
    fn growth_appends_bins_and_moves_the_value_list() {
        let mut e = HiveEdit::new(testhive()).unwrap();
        let size0 = e.hive_bins_size();
        let k = key_rel(e.bytes(), "data-test");
        let list_of = |bytes: &[u8]| {
            let view = HiveView::new(bytes).unwrap();
            Key::at(view, k).unwrap().value_list().unwrap().unwrap().0
        };
        let list0 = list_of(e.bytes());
        for i in 0..400 {
            e.set_value(
                k,
                &format!("Wert-ü-Ω-{i}"),
                reg_type::BINARY,
                &vec![i as u8; 900],
            )
            .unwrap();
        }
        assert!(e.appended_bins() > 0);
        assert!(e.hive_bins_size() > size0);
        // The list moved and its old cell was freed.
        assert_ne!(list_of(e.bytes()), list0);
        assert!(i32_at(e.bytes(), 0, HiveEdit::abs(list0), "x").unwrap() > 0);
        let bb = BaseBlock::parse(e.bytes()).unwrap();
        assert_eq!(bb.hive_bins_size, e.hive_bins_size());
        full_check(e.bytes()).unwrap();
        assert_eq!(
            read(e.bytes(), "data-test", "wert-Ü-Ω-399").unwrap().1,
            vec![143u8; 900]
        );
        assert_eq!(
            nt_read(e.bytes(), "data-test", "Wert-ü-Ω-0").unwrap(),
            vec![0u8; 900]
        );
    }

    /// Every free cell as (absolute offset, size).
    fn free_cells(bytes: &[u8], bins_size: u32) -> Vec<(usize, usize)> {
        let end = BASE_BLOCK_SIZE + bins_size as usize;
        let mut out = Vec::new();
        let mut bin = BASE_BLOCK_SIZE;
        while bin < end {
            let size = u32_at(bytes, 0, bin + 8, "x").unwrap() as usize;
            let mut c = bin + HBIN_HEADER_SIZE;
            while c < bin + size {
                let raw = i32_at(bytes, 0, c, "x").unwrap();
                if raw > 0 {
                    out.push((c, raw as usize));
                }
                c += raw.unsigned_abs() as usize;
            }
            bin += size;
        }
        out
    }

    /// A cell never straddles a bin boundary: with a free cell ending one
    /// bin and another starting the next, a request that only their sum
    /// could hold appends a new bin; the bins stay tiled.
    #[test]
    fn cells_never_straddle_a_bin_boundary() {
        let mut e = HiveEdit::new(testhive()).unwrap();
        // Bin A: allocated cell, then a 1024-byte free cell at its end.
        e.append_bin(HBIN_ALIGN - HBIN_HEADER_SIZE - 1024).unwrap();
        // Bin B: a 3000-byte cell at its start, freed, then the rest free.
        let b_first = e.append_bin(3000).unwrap();
        e.free(b_first).unwrap();
        let b_start = HiveEdit::abs(b_first) - HBIN_HEADER_SIZE;
        let cells = free_cells(e.bytes(), e.hive_bins_size());
        assert!(cells.contains(&(b_start - 1024, 1024)), "A ends free");
        assert!(
            cells.contains(&(b_start + HBIN_HEADER_SIZE, 3000)),
            "B starts free"
        );
        let largest = cells.iter().map(|c| c.1).max().unwrap();
        let need = 1024 + 3000;
        assert!(largest < need, "only the two cells together would fit");
        let bins = e.appended_bins();
        let end = BASE_BLOCK_SIZE + e.hive_bins_size() as usize;
        let rel = e.alloc(need - 4, None).unwrap();
        assert_eq!(e.appended_bins(), bins + 1);
        assert_eq!(HiveEdit::abs(rel), end + HBIN_HEADER_SIZE, "in the new bin");
        walk_bins(e.bytes(), e.hive_bins_size()).unwrap();
        full_check(e.bytes()).unwrap();
    }

    /// Exact fit takes the whole cell; a request 8 bytes smaller splits off
    /// an 8-byte free cell (the minimum); the bins stay tiled.
    #[test]
    fn split_rules() {
        let mut e = HiveEdit::new(testhive()).unwrap();
        let cells = free_cells(e.bytes(), e.hive_bins_size());
        let &(at, len) = cells.iter().find(|c| c.1 >= 32).expect("a free cell");
        let rel = e.alloc(len - 4, Some(at)).unwrap();
        assert_eq!(BASE_BLOCK_SIZE + rel as usize, at);
        assert_eq!(i32_at(e.bytes(), 0, at, "x").unwrap(), -(len as i32));
        walk_bins(e.bytes(), e.hive_bins_size()).unwrap();

        let mut e = HiveEdit::new(testhive()).unwrap();
        let rel = e.alloc(len - 4 - 8, Some(at)).unwrap();
        assert_eq!(BASE_BLOCK_SIZE + rel as usize, at);
        assert_eq!(i32_at(e.bytes(), 0, at, "x").unwrap(), -(len as i32 - 8));
        assert_eq!(i32_at(e.bytes(), 0, at + len - 8, "x").unwrap(), 8);
        walk_bins(e.bytes(), e.hive_bins_size()).unwrap();
    }

    /// Every leaf of a key's subkey index as (signature, element offsets,
    /// stored hashes).
    fn leaves(bytes: &[u8], key: u32) -> Vec<(String, Vec<(u32, u32)>)> {
        let view = HiveView::new(bytes).unwrap();
        let list = u32_at(bytes, 0, HiveEdit::abs(key) + 4 + NK_SUBKEY_LIST, "x").unwrap();
        let cell = view.cell(list, "x").unwrap();
        let read = |c: crate::format::regf::cell::Cell<'_>| {
            let n = u16_at(c.data, 0, 2, "x").unwrap() as usize;
            let sig = String::from_utf8_lossy(&c.data[..2]).into_owned();
            let stride = if sig == "li" { 4 } else { 8 };
            let els = (0..n)
                .map(|i| {
                    let e = 4 + i * stride;
                    let h = if stride == 8 {
                        u32_at(c.data, 0, e + 4, "x").unwrap()
                    } else {
                        0
                    };
                    (u32_at(c.data, 0, e, "x").unwrap(), h)
                })
                .collect();
            (sig, els)
        };
        if &cell.data[..2] == b"ri" {
            let n = u16_at(cell.data, 0, 2, "x").unwrap() as usize;
            (0..n)
                .map(|i| {
                    read(
                        view.cell(u32_at(cell.data, 0, 4 + 4 * i, "x").unwrap(), "x")
                            .unwrap(),
                    )
                })
                .collect()
        } else {
            vec![read(cell)]
        }
    }

    /// A value name stored as UTF-16 of odd length (one byte, flags 0) is
    /// read as the empty name by every path (`name`, `name_is`, nt-hive);
    /// beside the real default value it makes two values named "", and
    /// the editor refuses to set or delete "" there (ambiguous) instead of
    /// changing one and leaving the other for a reader to find.
    #[test]
    fn two_values_of_one_name_are_refused_by_the_editor() {
        use crate::fixtures::build::{build, Data, KeySpec};
        use crate::fixtures::{system, SystemVariant};
        let mut spec = system(SystemVariant::Modern);
        spec.root.subkeys.push(
            KeySpec::new("Twins")
                .value("", Data::Dword(1))
                .value("Q", Data::Dword(2)),
        );
        let mut bytes = build(&spec);
        let key = key_rel(&bytes, "Twins");
        // Make "Q" a one-byte UTF-16 name: flags 0 (not Latin-1).
        let q = {
            let view = HiveView::new(&bytes).unwrap();
            let k = Key::at(view, key).unwrap();
            let q = k.value("Q").unwrap().unwrap();
            q.abs_of(0) as usize
        };
        put_u16(&mut bytes, q + VK_FLAGS, 0);
        let view = HiveView::new(&bytes).unwrap();
        let k = Key::at(view, key).unwrap();
        let names: Vec<String> = k
            .values()
            .unwrap()
            .iter()
            .map(|v| v.name().unwrap())
            .collect();
        assert_eq!(names, ["", ""]);
        assert!(k.values().unwrap().iter().all(|v| v.name_is("").unwrap()));
        let nt = nt_hive::Hive::without_validation(&bytes[..]).unwrap();
        let nk = nt
            .root_key_node()
            .unwrap()
            .subkey("Twins")
            .unwrap()
            .unwrap();
        let nt_names: Vec<String> = nk
            .values()
            .unwrap()
            .unwrap()
            .map(|v| v.unwrap().name().unwrap().to_string_lossy())
            .collect();
        assert_eq!(nt_names, names, "nt-hive reads the same names");
        let mut e = HiveEdit::new(bytes.clone()).unwrap();
        for r in [
            e.delete_value(key, "").map(|_| ()),
            e.set_value(key, "", crate::format::regf::key::reg_type::DWORD, &[0; 4])
                .map(|_| ()),
        ] {
            let err = r.unwrap_err().to_string();
            assert!(err.contains("two values of this key are named ''"), "{err}");
        }
        assert_eq!(e.bytes(), &bytes[..], "nothing changed");
        // Another name of the key is still edited.
        assert!(!e.delete_value(key, "Q").unwrap());
    }

    /// Hash and order fold one UTF-16 unit to one, as Windows' upcase table
    /// does: `ß` (whose Unicode upper case is two letters, `SS`) stays
    /// itself, so `Straße` and `STRASSE` are two names with two hashes.
    #[test]
    fn names_fold_one_unit_for_one() {
        assert_eq!(lh_hash("ß"), 0xDF);
        assert_eq!(lh_hash("a"), u32::from(b'A'));
        assert_eq!(lh_hash("ab"), u32::from(b'A') * 37 + u32::from(b'B'));
        assert_ne!(lh_hash("Straße"), lh_hash("STRASSE"));
        assert_eq!(lh_hash("Straße"), lh_hash("STRAßE"));
        assert_eq!(sort_key("Straße").len(), "Straße".encode_utf16().count());
        assert!(sort_key("STRASSE") < sort_key("Straße"));
        assert_eq!(sort_key("é"), sort_key("É"));
    }

    /// A key created among the 512 siblings of `subkey-test`, and one in a
    /// key without subkeys: the whole hive passes both readers' walks with
    /// one key more; nt-hive (which binary-searches) finds each; every
    /// list is in Windows' order and every stored lh hash / lf hint —
    /// Windows' own and ours — matches the name; the parent's counts and
    /// the security descriptor's reference count follow.
    #[test]
    fn created_keys_are_sorted_hashed_and_counted() {
        let mut e = HiveEdit::new(testhive()).unwrap();
        let before = full_check(e.bytes()).unwrap();
        let parent = key_rel(e.bytes(), "subkey-test");
        let sk = u32_at(e.bytes(), 0, HiveEdit::abs(parent) + 4 + NK_SECURITY, "x").unwrap();
        let refs = |b: &[u8]| u32_at(b, 0, HiveEdit::abs(sk) + 4 + SK_REFERENCES, "x").unwrap();
        let refs0 = refs(e.bytes());
        let names = ["key250b", "AAA-first", "zzz-last", "Ünïcödé-Ω"];
        for n in names {
            e.create_key(parent, n).unwrap();
        }
        let empty = key_rel(e.bytes(), "data-test");
        e.create_key(empty, "child").unwrap();
        assert!(
            e.create_key(parent, "KEY250B").is_err(),
            "duplicates are refused"
        );
        let bytes = e.bytes().to_vec();
        let after = full_check(&bytes).unwrap();
        assert_eq!(after.keys, before.keys + names.len() as u64 + 1);
        let nt = nt_hive::Hive::without_validation(&bytes[..]).unwrap();
        let root = nt.root_key_node().unwrap();
        for n in names {
            let path = format!("subkey-test\\{n}");
            assert!(root.subpath(&path).unwrap().is_ok(), "nt-hive finds {n}");
        }
        assert!(root.subpath("data-test\\child").unwrap().is_ok());
        for key in [parent, empty] {
            let view = HiveView::new(&bytes).unwrap();
            let mut all = Vec::new();
            for (sig, els) in leaves(&bytes, key) {
                for (child, hash) in els {
                    let name = Key::at(view, child).unwrap().name().unwrap();
                    match sig.as_str() {
                        "lh" => assert_eq!(hash, lh_hash(&name), "{name}"),
                        "lf" => assert_eq!(hash, lf_hint(&name), "{name}"),
                        _ => {}
                    }
                    all.push(sort_key(&name));
                }
            }
            assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted");
        }
        let count = u32_at(&bytes, 0, HiveEdit::abs(parent) + 4 + NK_SUBKEY_COUNT, "x").unwrap();
        assert_eq!(count, 512 + names.len() as u32);
        assert_eq!(
            refs(&bytes),
            refs0
                + names.len() as u32
                + u32::from(
                    u32_at(&bytes, 0, HiveEdit::abs(empty) + 4 + NK_SECURITY, "x").unwrap() == sk
                )
        );
        let max = u32_at(
            &bytes,
            0,
            HiveEdit::abs(parent) + 4 + NK_MAX_SUBKEY_NAME,
            "x",
        )
        .unwrap();
        assert!(max & 0xFFFF >= 2 * "AAA-first".len() as u32);
        peers_read_created_keys(bytes, &names);
    }

    /// hivex and regipy (independent readers; peer tools the CI installs)
    /// list the created keys.
    fn peers_read_created_keys(mut bytes: Vec<u8>, names: &[&str]) {
        let bins = BaseBlock::parse(&bytes).unwrap().hive_bins_size;
        crate::format::regf::base_block::set_clean(&mut bytes[..BASE_BLOCK_SIZE], 7, bins);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hive");
        std::fs::write(&path, &bytes).unwrap();
        let run = |cmd: &str, args: &[&str]| -> String {
            let out = std::process::Command::new(cmd)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{cmd} (a peer tool the CI installs): {e}"));
            assert!(
                out.status.success(),
                "{cmd}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let p = path.to_str().unwrap();
        run("hivexml", &[p]);
        let script = dir.path().join("ls");
        std::fs::write(&script, "cd \\subkey-test\nls\n").unwrap();
        let hivex = run("hivexsh", &["-f", script.to_str().unwrap(), p]);
        let regipy = run(
            "python3",
            &[
                "-c",
                "import sys; from regipy.registry import RegistryHive as R; \
                 [print(k.name) for k in R(sys.argv[1]).get_key('\\\\subkey-test').iter_subkeys()]",
                p,
            ],
        );
        for n in names {
            assert!(hivex.lines().any(|l| l == *n), "hivex lists {n}");
            assert!(regipy.lines().any(|l| l == *n), "regipy lists {n}");
        }
    }
}
