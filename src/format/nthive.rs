// SPDX-License-Identifier: GPL-2.0-or-later
//! The only door to the `nt-hive` crate, ntrescue's second, independent
//! reader. nt-hive is fed damaged hives on purpose and some damage makes it
//! panic (an overflow on a zero-size cell): every call into it runs inside
//! [`contain`], so a broken hive is reported, never a crash.

use crate::error::{Error, Result};
use crate::format::regf::cell::BIG_DATA_MIN_MINOR;
use crate::format::regf::key::{BIG_DATA_THRESHOLD, MAX_DEPTH, VK_DATA_INLINE};
use crate::util::guard::contain;

/// A value as nt-hive reads it: its type (`None` when nt-hive does not know
/// the type code) and data (`None` for a form nt-hive cannot read, see
/// [`NtHive::value`]).
pub type NtValue = (Option<u32>, Option<Vec<u8>>);

/// nt-hive over one hive image, opened without validating the base block.
pub struct NtHive<'a> {
    hive: nt_hive::Hive<&'a [u8]>,
    len: usize,
}

/// Opens `bytes` strictly, as a loader would (clean base block, valid
/// checksum): `Ok(())` or why not.
pub fn open_strict(bytes: &[u8]) -> Result<()> {
    contain("nt-hive", || nt_hive::Hive::new(bytes).map(|_| ())).map_err(|e| {
        Error::Invalid {
            what: "hive",
            offset: 0,
            detail: e,
        }
    })??;
    Ok(())
}

/// The data of `v`. Hives before format 1.4 keep data over 16,344 bytes in
/// one cell, while nt-hive always expects a big-data (`db`) record there.
/// Our navigator reads both forms; for those values it is the only reader
/// (`Ok(None)` here).
///
/// Data longer than the whole hive (`hive_len` bytes) cannot be stored in
/// it: it is an error before nt-hive allocates for it.
fn data(v: &nt_hive::KeyValue<&[u8]>, minor: u32, hive_len: usize) -> Result<Option<Vec<u8>>> {
    let size = v.data_size() & !VK_DATA_INLINE;
    if minor < BIG_DATA_MIN_MINOR && size > BIG_DATA_THRESHOLD {
        return Ok(None);
    }
    if size as usize > hive_len {
        return Err(Error::Invalid {
            what: "value data size",
            offset: 0,
            detail: format!("nt-hive: {size} bytes of data cannot fit in a {hive_len}-byte hive"),
        });
    }
    Ok(Some(v.data()?.into_vec()?))
}

/// Smallest key node cell: the 4-byte size field and the fixed part of an
/// `nk` record (regf specification, "Key node": the name starts at 0x4C).
const NK_MIN_CELL: u64 = 4 + 0x4C;
/// Smallest value cell: the size field and the fixed part of a `vk`
/// record (regf specification, "Key value": the name starts at 0x14).
const VK_MIN_CELL: u64 = 4 + 0x14;

/// A walk's counts and their ceilings. nt-hive does not tell cell offsets,
/// so a key reached twice cannot be named; instead no walk may visit more
/// keys or values than the hive has room for. A subkey list naming one key
/// many times (or a key naming itself) then fails after a number of steps
/// linear in the hive's size instead of running for exponential time.
struct Budget {
    keys: u64,
    values: u64,
    max_keys: u64,
    max_values: u64,
    hive_len: usize,
}

impl Budget {
    fn new(len: usize) -> Self {
        Budget {
            keys: 0,
            values: 0,
            max_keys: len as u64 / NK_MIN_CELL,
            max_values: len as u64 / VK_MIN_CELL,
            hive_len: len,
        }
    }

    fn over(what: &str, max: u64) -> Error {
        Error::Invalid {
            what: "hive tree",
            offset: 0,
            detail: format!(
                "nt-hive walk reaches more than {max} {what}, more than the hive has room for \
                 (a key or list reached twice)"
            ),
        }
    }

    fn key(&mut self) -> Result<()> {
        self.keys += 1;
        if self.keys > self.max_keys {
            return Err(Budget::over("keys", self.max_keys));
        }
        Ok(())
    }

    fn value(&mut self) -> Result<()> {
        self.values += 1;
        if self.values > self.max_values {
            return Err(Budget::over("values", self.max_values));
        }
        Ok(())
    }
}

fn walk(
    key: &nt_hive::KeyNode<&[u8]>,
    minor: u32,
    depth: usize,
    budget: &mut Budget,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Invalid {
            what: "key nesting",
            offset: 0,
            detail: format!("nt-hive walk deeper than {MAX_DEPTH} levels"),
        });
    }
    budget.key()?;
    if let Some(vals) = key.values() {
        for v in vals? {
            let v = v?;
            v.name()?;
            data(&v, minor, budget.hive_len)?;
            budget.value()?;
        }
    }
    if let Some(subs) = key.subkeys() {
        for k in subs? {
            walk(&k?, minor, depth + 1, budget)?;
        }
    }
    Ok(())
}

/// Walks the whole tree of `bytes` with nt-hive, reading every key name,
/// value name and value data: (keys, values). The outer `Err` is a
/// contained panic.
pub fn walk_counts(bytes: &[u8]) -> std::result::Result<Result<(u64, u64)>, String> {
    let mut budget = Budget::new(bytes.len());
    contain("nt-hive walk", || -> Result<()> {
        let hive = nt_hive::Hive::without_validation(bytes)?;
        walk(&hive.root_key_node()?, hive.minor_version(), 0, &mut budget)
    })
    .map(|r| r.map(|()| (budget.keys, budget.values)))
}

impl<'a> NtHive<'a> {
    /// Opens `bytes` (a primary image, possibly dirty: the header is not
    /// required to be clean here).
    pub fn open(bytes: &'a [u8]) -> Result<Self> {
        let hive =
            contain("nt-hive", || nt_hive::Hive::without_validation(bytes)).map_err(|e| {
                Error::Invalid {
                    what: "hive",
                    offset: 0,
                    detail: e,
                }
            })??;
        Ok(NtHive {
            hive,
            len: bytes.len(),
        })
    }

    /// Whether the key at `path` (backslash-separated, from the root)
    /// exists, by nt-hive's sorted lookup.
    pub fn key_exists(&self, path: &str) -> std::result::Result<bool, String> {
        contain("nt-hive", || -> std::result::Result<bool, String> {
            let root = self.hive.root_key_node().map_err(|e| e.to_string())?;
            if path.is_empty() {
                return Ok(true);
            }
            match root.subpath(path) {
                None => Ok(false),
                Some(r) => r.map(|_| true).map_err(|e| e.to_string()),
            }
        })
        .and_then(|r| r)
    }

    /// Value `name` of the key at `path`: `None` when the key or the value
    /// does not exist.
    pub fn value(&self, path: &str, name: &str) -> std::result::Result<Option<NtValue>, String> {
        contain("nt-hive", || self.value_inner(path, name)).and_then(|r| r)
    }

    fn value_inner(&self, path: &str, name: &str) -> std::result::Result<Option<NtValue>, String> {
        let root = self.hive.root_key_node().map_err(|e| e.to_string())?;
        let key = if path.is_empty() {
            root
        } else {
            match root.subpath(path) {
                None => return Ok(None),
                Some(k) => k.map_err(|e| e.to_string())?,
            }
        };
        let Some(v) = key.value(name) else {
            return Ok(None);
        };
        let v = v.map_err(|e| e.to_string())?;
        let name_ok = v.name().map(|n| n == *name).map_err(|e| e.to_string())?;
        if !name_ok {
            return Err("nt-hive returned a value with another name".into());
        }
        let ty = v.data_type().ok().map(|t| t as u32);
        let data = data(&v, self.hive.minor_version(), self.len).map_err(|e| e.to_string())?;
        Ok(Some((ty, data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk's ceilings follow the hive's size: a tiny hive has room
    /// for a handful of keys, and the next one is an error.
    #[test]
    fn the_walk_budget_is_bounded_by_the_hive_size() {
        let mut b = Budget::new(800);
        for _ in 0..10 {
            b.key().unwrap();
        }
        let e = b.key().unwrap_err().to_string();
        assert!(e.contains("more than 10 keys"), "{e}");
        let mut b = Budget::new(240);
        for _ in 0..10 {
            b.value().unwrap();
        }
        assert!(b.value().is_err());
        // A real hive walks within its budget.
        let h = crate::testing::testhive();
        let (keys, values) = walk_counts(&h).unwrap().unwrap();
        assert!(keys > 500 && values > 10);
    }
}
