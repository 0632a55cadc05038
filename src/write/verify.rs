// SPDX-License-Identifier: GPL-2.0-or-later
//! Verification of a planned hive before it is written, and of the bytes
//! read back after: strict re-open by nt-hive, the byte diff of an in-place
//! plan, the lock-step compare and the full structure check.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::format::nthive::open_strict;
use crate::format::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE, HEADER_SIZE};
use crate::format::regf::cell::{HiveView, HBIN_OFF_TIMESTAMP};
use crate::format::regf::key::Key;
use crate::hive::check::{
    check_planned_values, full_check, read_values, resolve_exact, semantic_compare, upper,
    CheckStats, Expect,
};
use crate::hive::reader::{KeyLookup, Reader, ValueState};
use crate::util::bytes::diff_ranges;

/// [`check_planned_values`] for every key named in `expects` only.
fn check_touched_keys(base: &[u8], new: &[u8], expects: &[Expect]) -> Result<()> {
    let (vb, va) = (HiveView::new(base)?, HiveView::new(new)?);
    let mut keys: Vec<&str> = expects
        .iter()
        .filter(|e| !e.new_key)
        .map(|e| e.key.as_str())
        .collect();
    keys.sort_by_key(|k| upper(k));
    keys.dedup_by_key(|k| upper(k));
    for k in keys {
        // The same key by cell in both (an in-place plan moves no cell).
        let kb = resolve_exact(Key::root(vb)?, k)?;
        let ka = Key::at(va, kb.offset())?;
        let exps: Vec<&Expect> = expects
            .iter()
            .filter(|e| upper(&e.key) == upper(k))
            .collect();
        check_planned_values(k, &read_values(&kb)?, &read_values(&ka)?, &exps)?;
    }
    Ok(())
}

/// Re-check of bytes read back after a write whose SHA-256 already matched
/// the fully verified plan: nt-hive opens them strictly (clean base block,
/// valid checksum) and both readers read every planned value as planned.
pub fn verify_written(back: &[u8], expects: &[Expect]) -> Result<()> {
    open_strict(back)?;
    let r = Reader::new(back)?;
    for e in expects {
        let key = r.key(&e.key);
        if e.new_key {
            if !matches!(key, KeyLookup::Found(_)) {
                return Err(Error::Invalid {
                    what: "written key",
                    offset: 0,
                    detail: format!("{} was planned to be created and is not there", e.key),
                });
            }
            continue;
        }
        let state = r.value(&key, &e.key, &e.value);
        let got = match (&state, &key) {
            (ValueState::Present { .. }, KeyLookup::Found(k)) => {
                let v = k.value(&e.value)?;
                v.map(|v| Ok::<_, Error>((v.data_type()?, v.data()?)))
                    .transpose()?
            }
            (ValueState::Unreadable { error }, _) => {
                return Err(Error::Invalid {
                    what: "written value",
                    offset: 0,
                    detail: format!("{}\\{}: {error}", e.key, e.value),
                })
            }
            _ => None,
        };
        if got != e.after {
            return Err(Error::Invalid {
                what: "written value",
                offset: 0,
                detail: format!("{}\\{} does not read back as planned", e.key, e.value),
            });
        }
    }
    Ok(())
}

/// The report line of a passed lock-step compare.
fn compare_line(values: u64, new_keys: u64) -> String {
    match new_keys {
        0 => format!(
            "a lock-step walk of the whole tree finds exactly the {values} planned value changes"
        ),
        n => format!(
            "a lock-step walk of the whole tree finds exactly the {values} planned value changes and \
             the {n} planned new key{}",
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// An in-place edit changes only the base block, the first bin's copy of
/// its timestamp (a write over an old-format replay moves both) and the
/// planned 4-byte fields at `offsets`; `diff` as in [`verify_edit`].
fn only_planned_fields(
    base: &[u8],
    new: &[u8],
    offsets: &[u64],
    diff: Option<&[Range<usize>]>,
) -> Result<()> {
    if base.len() != new.len() {
        return Err(Error::Invalid {
            what: "hive size",
            offset: base.len() as u64,
            detail: "an in-place edit changed the file size".into(),
        });
    }
    let stamp = BASE_BLOCK_SIZE + HBIN_OFF_TIMESTAMP;
    let allowed: Vec<Range<usize>> = [0..HEADER_SIZE, stamp..stamp + 8]
        .into_iter()
        .chain(offsets.iter().map(|&o| o as usize..o as usize + 4))
        .collect();
    let computed;
    let ranges = match diff {
        Some(d) => d,
        None => {
            computed = diff_ranges(base, new);
            &computed
        }
    };
    for r in ranges.iter().cloned() {
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
    Ok(())
}

/// Verifies that `new` is `base` with exactly `expects` applied:
/// - `nt-hive` opens it strictly (clean base block, valid checksum);
/// - for in-place edits (`inplace` = the changed 4-byte fields), only the
///   base block header and those fields differ, byte for byte (`diff`: the
///   byte ranges where `new` differs from `base`, when the caller has
///   computed them from these same bytes; else computed here);
/// - a lock-step walk of both trees finds only the planned differences;
/// - the full structural check passes, with both readers agreeing, and the
///   same number of keys as before (`base_stats`, the original's check; an
///   in-place edit does not need it and may pass `None`, so its check can
///   run beside this one).
///
/// Returns the list of checks passed, for the report.
pub fn verify_edit(
    base: &[u8],
    new: &[u8],
    expects: &[Expect],
    inplace: Option<&[u64]>,
    diff: Option<&[Range<usize>]>,
    base_stats: Option<&CheckStats>,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    open_strict(new)?;
    let bb = BaseBlock::parse(new)?;
    if bb.is_dirty() {
        return Err(Error::Invalid {
            what: "base block",
            offset: 0,
            detail: "the planned hive is not clean".into(),
        });
    }
    done.push(format!(
        "nt-hive opens the hive strictly (sequence {}/{}, checksum valid)",
        bb.seq1, bb.seq2
    ));
    if let Some(offsets) = inplace {
        only_planned_fields(base, new, offsets, diff)?;
        done.push("only the base block and the planned 4-byte value fields differ".into());
        // The tree is therefore the original's, byte for byte, but for those
        // fields: check each touched key's values and re-read the planned
        // values with both readers; no whole-tree walk is needed.
        check_touched_keys(base, new, expects)?;
        verify_written(new, expects)?;
        done.push(format!(
            "every other value of each touched key is unchanged; both readers read all {} planned values",
            expects.len()
        ));
        return Ok(done);
    }
    // The lock-step comparison (our navigator only) runs on a second core
    // while the full check (our walk, then nt-hive's) runs on this one.
    let (compared, stats) = std::thread::scope(|sc| {
        let cmp = sc.spawn(|| semantic_compare(base, new, expects));
        let stats = full_check(new);
        (cmp.join().expect("comparison thread"), stats)
    });
    compared?;
    let new_keys = expects.iter().filter(|e| e.new_key).count() as u64;
    done.push(compare_line(expects.len() as u64 - new_keys, new_keys));
    let stats = stats?;
    let base_stats = base_stats.ok_or_else(|| Error::Invalid {
        what: "edit verification",
        offset: 0,
        detail:
            "a rewritten hive is compared with the original's structure check, which is missing"
                .into(),
    })?;
    if stats.keys != base_stats.keys + new_keys {
        return Err(Error::Invalid {
            what: "hive tree",
            offset: 0,
            detail: format!(
                "{} keys before, {} after ({new_keys} planned to be created)",
                base_stats.keys, stats.keys
            ),
        });
    }
    done.push(format!(
        "full walk by both readers: {} bins, {} keys, {} values",
        stats.bins, stats.keys, stats.values
    ));
    Ok(done)
}
