// SPDX-License-Identifier: GPL-2.0-or-later
//! Independent checks of a hive image: our structural walk, a full walk
//! through `nt-hive`, and the before/after comparison a write must pass.

use std::ops::Range;

use crate::backup::Change;
use crate::commit::diff_ranges;
use crate::error::{Error, Result};
use crate::rdp::Reader;
use crate::regf::base_block::{BaseBlock, HEADER_SIZE};
use crate::regf::cell::{walk_bins, HiveView};
use crate::regf::key::{walk_tree, Key, MAX_DEPTH};

/// Totals of a full check.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckStats {
    /// Hive bins.
    pub bins: u32,
    /// Keys walked.
    pub keys: u64,
    /// Values read.
    pub values: u64,
}

fn nt_walk(
    key: &nt_hive::KeyNode<&[u8]>,
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
    key.name()?;
    if let Some(vals) = key.values() {
        for v in vals? {
            let v = v?;
            v.name()?;
            v.data()?.into_vec()?;
            *values += 1;
        }
    }
    if let Some(subs) = key.subkeys() {
        for k in subs? {
            nt_walk(&k?, depth + 1, keys, values)?;
        }
    }
    Ok(())
}

/// Full structural check: bins and cells, every key and value through our
/// navigator, and every key and value again through `nt-hive`; the two
/// walks must count the same keys and values.
pub fn full_check(bytes: &[u8]) -> Result<CheckStats> {
    let bb = BaseBlock::parse(bytes)?;
    let bins = walk_bins(bytes, bb.hive_bins_size)?;
    let view = HiveView::new(bytes)?;
    let ours = walk_tree(Key::root(view)?)?;
    let (mut keys, mut values) = (0, 0);
    crate::guard::contain("nt-hive walk", || -> Result<()> {
        let hive = nt_hive::Hive::without_validation(bytes)?;
        nt_walk(&hive.root_key_node()?, 0, &mut keys, &mut values)
    })
    .map_err(|e| Error::Invalid {
        what: "hive tree",
        offset: 0,
        detail: e,
    })??;
    if (keys, values) != (ours.keys, ours.values) {
        return Err(Error::Invalid {
            what: "hive tree",
            offset: 0,
            detail: format!(
                "readers disagree: our walk finds {} keys/{} values, nt-hive {keys}/{values}",
                ours.keys, ours.values
            ),
        });
    }
    Ok(CheckStats {
        bins: bins.bins,
        keys,
        values,
    })
}

fn key_values(bytes: &[u8], path: &str) -> Result<Vec<(String, u32, Vec<u8>)>> {
    let view = HiveView::new(bytes)?;
    let key = Key::root(view)?
        .subpath(path)?
        .map_err(|m| Error::Invalid {
            what: "key",
            offset: 0,
            detail: format!("{path}: '{m}' missing"),
        })?;
    key.values()?
        .into_iter()
        .map(|v| Ok((v.name()?, v.data_type()?, v.data()?)))
        .collect()
}

/// Checks that `new` is `original` with exactly `changes` applied:
/// - `nt-hive` opens it strictly (clean base block, valid checksum);
/// - only the base block header and the changed 4-byte fields differ;
/// - both readers read every changed value as its new DWORD;
/// - every other value of each touched key is unchanged;
/// - the full structural check passes with the same key and value counts
///   as `original_stats`.
///
/// Returns the list of checks passed, for the report.
pub fn verify_edit(
    original: &[u8],
    new: &[u8],
    changes: &[Change],
    original_stats: &CheckStats,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    crate::guard::contain("nt-hive", || nt_hive::Hive::new(new).map(|_| ())).map_err(|e| {
        Error::Invalid {
            what: "hive",
            offset: 0,
            detail: e,
        }
    })??;
    let bb = BaseBlock::parse(new)?;
    if bb.is_dirty() {
        return Err(Error::Invalid {
            what: "base block",
            offset: 0,
            detail: "written hive is not clean".into(),
        });
    }
    done.push(format!(
        "nt-hive opens the hive strictly (sequence {}/{}, checksum valid)",
        bb.seq1, bb.seq2
    ));

    let allowed: Vec<Range<usize>> = std::iter::once(0..HEADER_SIZE)
        .chain(
            changes
                .iter()
                .map(|c| c.file_offset as usize..c.file_offset as usize + 4),
        )
        .collect();
    if original.len() != new.len() {
        return Err(Error::Invalid {
            what: "hive size",
            offset: original.len() as u64,
            detail: "an in-place edit changed the file size".into(),
        });
    }
    for r in diff_ranges(original, new) {
        if !allowed.iter().any(|a| a.start <= r.start && r.end <= a.end) {
            return Err(Error::Invalid {
                what: "edit",
                offset: r.start as u64,
                detail: format!(
                    "bytes {:#x}..{:#x} changed outside the planned fields",
                    r.start, r.end
                ),
            });
        }
    }
    done.push("only the base block and the planned 4-byte value fields differ".into());

    let reader = Reader::new(new)?;
    for c in changes {
        let key = reader.key(&c.key);
        let got = reader.value(&key, &c.key, &c.value);
        if got.dword() != Some(c.new) {
            return Err(Error::Invalid {
                what: "written value",
                offset: c.file_offset,
                detail: format!("{}\\{} reads {:?}, planned {}", c.key, c.value, got, c.new),
            });
        }
    }
    done.push(format!(
        "both readers read all {} changed values back",
        changes.len()
    ));

    let mut keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
    keys.dedup();
    for k in keys {
        let before = key_values(original, k)?;
        let after = key_values(new, k)?;
        let changed = |n: &str| changes.iter().any(|c| c.key == k && c.value == n);
        let same = before.len() == after.len()
            && before
                .iter()
                .zip(&after)
                .all(|(b, a)| b.0 == a.0 && (changed(&b.0) || b == a));
        if !same {
            return Err(Error::Invalid {
                what: "key values",
                offset: 0,
                detail: format!("{k}: a value that was not planned changed"),
            });
        }
    }
    done.push("every other value of each touched key is unchanged".into());

    let stats = full_check(new)?;
    if &stats != original_stats {
        return Err(Error::Invalid {
            what: "hive tree",
            offset: 0,
            detail: format!("structure changed: {original_stats:?} before, {stats:?} after"),
        });
    }
    done.push(format!(
        "full walk by both readers: {} bins, {} keys, {} values, as before",
        stats.bins, stats.keys, stats.values
    ));
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::put_u32;
    use crate::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE};

    fn corpus(rel: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus")
            .join(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Prove our navigator and nt-hive walk the same tree: nt-hive's own
    /// test hive (big data, every value type, a key with many subkeys).
    #[test]
    fn both_readers_walk_the_same_tree() {
        let h = corpus("other/special/nt-hive__testhive");
        let s = full_check(&h).unwrap();
        assert!(s.keys > 500 && s.values > 10, "{s:?}");
        let view = HiveView::new(&h).unwrap();
        let root = Key::root(view).unwrap();
        let k = root
            .subkey("DATA-TEST")
            .unwrap()
            .expect("case-insensitive lookup");
        assert_eq!(k.name().unwrap(), "data-test");
        let dword = k.value("dword").unwrap().unwrap();
        assert_eq!(dword.inline_dword().unwrap(), Some(42));
        let big = k
            .values()
            .unwrap()
            .into_iter()
            .find(|v| v.data().unwrap().len() > 16344);
        assert!(big.is_some(), "big data value read through the db record");
    }

    /// A damaged bin header, a zero-size cell and a broken nk signature are
    /// each reported with the offset of the damage.
    #[test]
    fn damage_is_located() {
        let h = corpus("other/special/nt-hive__testhive");
        let bb = BaseBlock::parse(&h).unwrap();

        let mut bad_bin = h.clone();
        bad_bin[BASE_BLOCK_SIZE + 4096..BASE_BLOCK_SIZE + 4100].copy_from_slice(b"XXXX");
        let e = full_check(&bad_bin).unwrap_err().to_string();
        assert!(e.contains(&format!("{:#x}", BASE_BLOCK_SIZE + 4096)), "{e}");

        let mut zero = h.clone();
        put_u32(&mut zero, BASE_BLOCK_SIZE + 32, 0);
        let e = full_check(&zero).unwrap_err().to_string();
        assert!(e.contains(&format!("{:#x}", BASE_BLOCK_SIZE + 32)), "{e}");

        let mut bad_root = h.clone();
        let root = BASE_BLOCK_SIZE + bb.root_cell as usize + 4;
        bad_root[root..root + 2].copy_from_slice(b"zz");
        let e = full_check(&bad_root).unwrap_err().to_string();
        assert!(e.contains(&format!("{root:#x}")), "{e}");
    }
}
