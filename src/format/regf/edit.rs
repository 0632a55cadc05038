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
    names_equal, Key, BIG_DATA_THRESHOLD, NK_VALUE_COUNT, NK_VALUE_LIST, VK_COMP_NAME,
    VK_DATA_INLINE, VK_DATA_OFFSET, VK_DATA_SIZE, VK_FLAGS, VK_NAME, VK_NAME_LEN, VK_TYPE,
};
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
    bytes: Vec<u8>,
    bins_end: usize,
    appended_bins: u32,
}

impl HiveEdit {
    /// Takes a whole hive file image; its bins must pass the structural walk.
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        let bb = BaseBlock::parse(&bytes)?;
        walk_bins(&bytes, bb.hive_bins_size)?;
        Ok(Self::walked(bytes, &bb))
    }

    /// Takes an image without walking its bins: the caller runs
    /// `full_check` on exactly these bytes (the edit engine, beside an
    /// in-place edit) and keeps the result only if it passes. The editor's
    /// reads are bounds-checked either way.
    pub(crate) fn unwalked(bytes: Vec<u8>) -> Result<Self> {
        let bb = BaseBlock::parse(&bytes)?;
        Ok(Self::walked(bytes, &bb))
    }

    fn walked(bytes: Vec<u8>, bb: &BaseBlock) -> Self {
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
            Some(end) if size != 0 && size % HBIN_ALIGN == 0 && end <= self.bins_end => Ok(end),
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
            if len == 0 || len % CELL_ALIGN != 0 || c.checked_add(len).is_none_or(|e| e > end) {
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
            let existing = key.value(name)?.map(|v| v.offset());
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
            let mut hit = None;
            for (i, v) in values.iter().enumerate() {
                if names_equal(&v.name()?, name) {
                    hit = Some((i, v.offset()));
                    break;
                }
            }
            let Some((i, vk)) = hit else { return Ok(false) };
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
            let mut e = HiveEdit::unwalked(h).unwrap();
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
}
