// SPDX-License-Identifier: GPL-2.0-or-later
//! The only door to the `nt-hive` crate, ntrescue's second, independent
//! reader. nt-hive is fed damaged hives on purpose and some damage makes it
//! panic (an overflow on a zero-size cell): every call into it runs inside
//! [`contain`], so a broken hive is reported, never a crash.

use crate::error::{Error, Result};
use crate::format::regf::cell::BIG_DATA_MIN_MINOR;
use crate::format::regf::key::{BIG_DATA_THRESHOLD, MAX_DEPTH};
use crate::util::guard::contain;

/// A value as nt-hive reads it: its type (`None` when nt-hive does not know
/// the type code) and data (`None` for a form nt-hive cannot read, see
/// [`NtHive::value`]).
pub type NtValue = (Option<u32>, Option<Vec<u8>>);

/// nt-hive over one hive image, opened without validating the base block.
pub struct NtHive<'a> {
    hive: nt_hive::Hive<&'a [u8]>,
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
fn data(
    v: &nt_hive::KeyValue<&[u8]>,
    minor: u32,
) -> std::result::Result<Option<Vec<u8>>, nt_hive::NtHiveError> {
    if minor < BIG_DATA_MIN_MINOR && v.data_size() & 0x7FFF_FFFF > BIG_DATA_THRESHOLD {
        return Ok(None);
    }
    v.data()?.into_vec().map(Some)
}

fn walk(
    key: &nt_hive::KeyNode<&[u8]>,
    minor: u32,
    depth: usize,
    keys: &mut u64,
    values: &mut u64,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Invalid {
            what: "key nesting",
            offset: 0,
            detail: format!("nt-hive walk deeper than {MAX_DEPTH} levels"),
        });
    }
    *keys += 1;
    if let Some(vals) = key.values() {
        for v in vals? {
            let v = v?;
            v.name()?;
            data(&v, minor)?;
            *values += 1;
        }
    }
    if let Some(subs) = key.subkeys() {
        for k in subs? {
            walk(&k?, minor, depth + 1, keys, values)?;
        }
    }
    Ok(())
}

/// Walks the whole tree of `bytes` with nt-hive, reading every key name,
/// value name and value data: (keys, values). The outer `Err` is a
/// contained panic.
pub fn walk_counts(bytes: &[u8]) -> std::result::Result<Result<(u64, u64)>, String> {
    let (mut keys, mut values) = (0, 0);
    contain("nt-hive walk", || -> Result<()> {
        let hive = nt_hive::Hive::without_validation(bytes)?;
        walk(
            &hive.root_key_node()?,
            hive.minor_version(),
            0,
            &mut keys,
            &mut values,
        )
    })
    .map(|r| r.map(|()| (keys, values)))
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
        Ok(NtHive { hive })
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
        let data = data(&v, self.hive.minor_version()).map_err(|e| e.to_string())?;
        Ok(Some((ty, data)))
    }
}
