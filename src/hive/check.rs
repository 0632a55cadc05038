// SPDX-License-Identifier: GPL-2.0-or-later
//! Independent checks of a hive image: our structural walk, a full walk
//! through `nt-hive`, and the before/after comparison a write must pass.

use crate::error::{Error, Result};
use crate::format::nthive::walk_counts;
use crate::format::regf::base_block::BaseBlock;
use crate::format::regf::cell::{walk_bins_with_starts, HiveView};
use crate::format::regf::key::{walk_tree, Key, Visited, MAX_DEPTH};

/// Totals of a full check.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct CheckStats {
    /// Hive bins.
    pub bins: u32,
    /// Keys walked.
    pub keys: u64,
    /// Values read.
    pub values: u64,
}

/// Full structural check: bins and cells, every key and value through our
/// navigator, and every key and value again through `nt-hive`; the two
/// walks must count the same keys and values.
pub fn full_check(bytes: &[u8]) -> Result<CheckStats> {
    let bb = BaseBlock::parse(bytes)?;
    // The two readers are independent: nt-hive walks on the second core
    // while the bins and our navigator's walk run here.
    let (ours, theirs) = std::thread::scope(|s| {
        let nt = s.spawn(|| walk_counts(bytes));
        // Every cell the tree reaches must be an allocated cell the bins
        // tile: a record inside a free cell (which the editor would
        // allocate over) or inside another cell fails here.
        let ours = walk_bins_with_starts(bytes, bb.hive_bins_size).and_then(|(bins, starts)| {
            let view = HiveView::new(bytes)?.with_cell_starts(&starts);
            Ok((bins, walk_tree(Key::root(view)?)?))
        });
        (ours, nt.join().expect("nt-hive walk thread"))
    });
    let (bins, ours) = ours?;
    let (keys, values) = theirs.map_err(|e| Error::Invalid {
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

/// What a value must be after an edit: `Some((type, data))`, or `None`
/// for deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Key path from the hive root.
    pub key: String,
    /// Value name.
    pub value: String,
    /// Type and data after the edit; `None` = deleted.
    pub after: Option<(u32, Vec<u8>)>,
    /// The edit creates the key `key` itself (`value` and `after` are
    /// unused): absent before, present after, holding exactly the values
    /// other expectations plan for it and only subkeys also planned.
    pub new_key: bool,
}

pub(crate) type Vals = Vec<(String, u32, Vec<u8>)>;

pub(crate) fn read_values(k: &Key<'_>) -> Result<Vals> {
    k.values()?
        .into_iter()
        .map(|v| Ok((v.name()?, v.data_type()?, v.data()?)))
        .collect()
}

/// `s` folded as Windows compares names (each UTF-16 unit upper-cased on
/// its own, [`crate::format::regf::key::names_equal`]): `ß` and `SS` stay
/// two names.
pub(crate) fn upper(s: &str) -> String {
    String::from_utf16_lossy(&crate::format::regf::key::name_key(s))
}

/// Checks one touched key: its values after the edit (`a`) must be its
/// values before (`b`) with the planned changes applied, nothing else.
pub(crate) fn check_planned_values(path: &str, b: &Vals, a: &Vals, exps: &[&Expect]) -> Result<()> {
    let mut want: Vals = b.clone();
    for e in exps.iter().filter(|e| !e.new_key) {
        let pos = want
            .iter()
            .position(|(n, _, _)| upper(n) == upper(&e.value));
        match (&e.after, pos) {
            (Some((t, d)), Some(i)) => {
                want[i].1 = *t;
                want[i].2 = d.clone();
            }
            (Some((t, d)), None) => want.push((e.value.clone(), *t, d.clone())),
            (None, Some(i)) => {
                want.remove(i);
            }
            (None, None) => {}
        }
    }
    let key = |v: &(String, u32, Vec<u8>)| (upper(&v.0), v.1, v.2.clone());
    let mut w: Vec<_> = want.iter().map(key).collect();
    let mut g: Vec<_> = a.iter().map(key).collect();
    w.sort();
    g.sort();
    if w != g {
        return Err(Error::Invalid {
            what: "edited hive",
            offset: 0,
            detail: format!("key '{path}': values differ from the plan"),
        });
    }
    Ok(())
}

type Touched<'e> = std::collections::HashMap<String, Vec<&'e Expect>>;

/// A key the edit creates, and every key below it: its values must be
/// exactly the planned ones (none before) and its subkeys planned too.
/// Returns how many keys the subtree holds.
fn check_created(
    path: &str,
    key: &Key<'_>,
    touched: &Touched<'_>,
    created: &[String],
    seen: &mut Visited,
    depth: usize,
) -> Result<u64> {
    let mismatch = |detail: &str| Error::Invalid {
        what: "edited hive",
        offset: key.abs(),
        detail: format!("key '{path}': {detail}"),
    };
    if depth > MAX_DEPTH {
        return Err(mismatch("nested too deep"));
    }
    seen.key(key)?;
    let exps = touched.get(&upper(path)).cloned().unwrap_or_default();
    check_planned_values(path, &Vec::new(), &read_values(key)?, &exps)?;
    let mut n = 1;
    for c in key.subkeys_seen(&mut seen.lists)? {
        let child = format!("{path}\\{}", c.name()?);
        if !created.contains(&upper(&child)) {
            return Err(mismatch(&format!("subkey '{child}' was not planned")));
        }
        n += check_created(&child, &c, touched, created, seen, depth + 1)?;
    }
    Ok(n)
}

/// Whether two key names are one name to Windows: equal UTF-16 code unit
/// by code unit after upper-casing each unit on its own (as
/// `RtlUpcaseUnicodeChar` does: a surrogate, half of a character outside
/// the BMP, is never folded, so U+10410 and U+10438 are two names).
fn windows_names_equal(a: &str, b: &str) -> bool {
    crate::format::regf::key::names_equal(a, b)
}

/// The key `path` (backslash-separated from the root; empty components
/// are skipped, as every lookup does) names below `root`, by a full scan of
/// each subkey list, names compared as Windows compares them
/// ([`crate::format::regf::key::names_equal`]). A component matching no subkey is an error;
/// one matching more than one (names that differ only in case, which
/// Windows treats as one name) makes the path ambiguous: an error naming the
/// parent's offset, since an edit there cannot be told apart from an edit
/// of the other key.
pub fn resolve_exact<'a>(root: Key<'a>, path: &str) -> Result<Key<'a>> {
    let mut k = root;
    let mut walked = String::new();
    for part in path.split('\\').filter(|p| !p.is_empty()) {
        let mut found = None;
        let mut count = 0usize;
        for sub in k.subkeys()? {
            if sub.name_is(part)? {
                count += 1;
                found.get_or_insert(sub);
            }
        }
        if !walked.is_empty() {
            walked.push('\\');
        }
        walked.push_str(part);
        match (found, count) {
            (Some(next), 1) => k = next,
            (None, _) => {
                return Err(Error::Invalid {
                    what: "key path",
                    offset: k.abs(),
                    detail: format!("'{walked}' is not in the hive"),
                })
            }
            (Some(_), n) => {
                return Err(Error::Invalid {
                    what: "key path",
                    offset: k.abs(),
                    detail: format!(
                        "'{walked}' names {n} keys (names that differ only in case): an edit \
                         there cannot be verified against the other"
                    ),
                })
            }
        }
    }
    Ok(k)
}

/// Walks `before` and `after` in lock step and requires them to hold the
/// same keys (same names, same order) and the same values (names, types,
/// data, order), except for the values named in `expects`, which must have
/// their expected content (created ones appear, deleted ones are gone),
/// and the keys `expects` plan to create, which must appear (only they)
/// with exactly their planned values.
/// Existing keys are matched by cell: each expectation's path is resolved
/// in `before` once ([`resolve_exact`], an ambiguous path is an error), and
/// the walk compares that key, by its cell offset, against the plan and
/// every other key against itself. Keys whose paths print alike (an
/// empty name, case twins) are therefore told apart.
pub fn semantic_compare(before: &[u8], after: &[u8], expects: &[Expect]) -> Result<()> {
    let vb = HiveView::new(before)?;
    let va = HiveView::new(after)?;
    let plan = PlannedKeys::of(vb, expects)?;
    let mut found_created = 0u64;
    let mut stack = vec![(String::new(), Key::root(vb)?, Key::root(va)?, 0usize)];
    let mismatch = |path: &str, at: u64, detail: String| Error::Invalid {
        what: "edited hive",
        offset: at,
        detail: format!("key '{path}': {detail}"),
    };
    let (mut seen_b, mut seen_a) = (Visited::default(), Visited::default());
    while let Some((path, kb, ka, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(mismatch(&path, ka.abs(), "nested too deep".into()));
        }
        // Each key and list once: a repeated one is a structure error, not
        // a walk of exponential length.
        for (k, seen) in [(&kb, &mut seen_b), (&ka, &mut seen_a)] {
            seen.key(k)?;
            seen.value_list(k)?;
            for v in k.values()? {
                seen.value(&v)?;
            }
        }
        if kb.name()? != ka.name()? {
            return Err(mismatch(&path, ka.abs(), "key name changed".into()));
        }
        let (b, a) = (read_values(&kb)?, read_values(&ka)?);
        match plan.by_cell.get(&kb.offset()) {
            None => {
                if b != a {
                    return Err(mismatch(
                        &path,
                        ka.abs(),
                        "values changed that were not planned".into(),
                    ));
                }
            }
            Some(exps) => check_planned_values(&path, &b, &a, exps)?,
        }
        let sb = kb.subkeys_seen(&mut seen_b.lists)?;
        let mut sa = Vec::new();
        for c in ka.subkeys_seen(&mut seen_a.lists)? {
            let name = c.name()?;
            let child = child_path(&path, &name);
            if !plan.created.contains(&upper(&child)) {
                sa.push(c);
                continue;
            }
            if sb
                .iter()
                .any(|b| b.name().is_ok_and(|n| windows_names_equal(&n, &name)))
            {
                return Err(mismatch(
                    &path,
                    ka.abs(),
                    format!("'{name}' existed before"),
                ));
            }
            found_created += check_created(
                &child,
                &c,
                &plan.in_created,
                &plan.created,
                &mut seen_a,
                depth + 1,
            )?;
        }
        if sb.len() != sa.len() {
            return Err(mismatch(&path, ka.abs(), "subkeys added or removed".into()));
        }
        for (cb, ca) in sb.into_iter().zip(sa) {
            let child = child_path(&path, &cb.name()?);
            stack.push((child, cb, ca, depth + 1));
        }
    }
    if found_created != plan.created.len() as u64 {
        return Err(Error::Invalid {
            what: "edited hive",
            offset: 0,
            detail: format!(
                "{} keys were planned to be created, {found_created} found",
                plan.created.len()
            ),
        });
    }
    Ok(())
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}\\{name}")
    }
}

/// The expectations of an edit, split: value expectations of existing keys
/// by the cell of their key in the original; the keys created (upper-case
/// paths) and the value expectations inside them, by path.
struct PlannedKeys<'e> {
    by_cell: std::collections::HashMap<u32, Vec<&'e Expect>>,
    created: Vec<String>,
    in_created: Touched<'e>,
}

impl<'e> PlannedKeys<'e> {
    fn of(vb: HiveView<'_>, expects: &'e [Expect]) -> Result<Self> {
        let created: Vec<String> = expects
            .iter()
            .filter(|e| e.new_key)
            .map(|e| upper(e.key.trim_matches('\\')))
            .collect();
        let mut by_cell: std::collections::HashMap<u32, Vec<&Expect>> = Default::default();
        let mut in_created = Touched::new();
        for e in expects.iter().filter(|e| !e.new_key) {
            let path = upper(e.key.trim_matches('\\'));
            if created.contains(&path) {
                in_created.entry(path).or_default().push(e);
            } else {
                let k = resolve_exact(Key::root(vb)?, &e.key)?;
                by_cell.entry(k.offset()).or_default().push(e);
            }
        }
        Ok(PlannedKeys {
            by_cell,
            created,
            in_created,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE};
    use crate::util::bytes::put_u32;
    use crate::write::verify::verify_edit;

    use crate::testing::corpus;

    /// A value list entry pointing inside another allocated cell (here the
    /// data of a binary value, holding a copy of a real vk cell): both
    /// readers walk it happily, so without the bins' cell map the hive
    /// would pass, and an edit of either cell would change the other. The
    /// full check refuses it, naming the offset; the untouched hive passes.
    #[test]
    fn a_cell_inside_another_cell_fails_the_full_check() {
        use crate::fixtures::build::{build, Data, KeySpec};
        use crate::fixtures::{system, SystemVariant};
        use crate::format::regf::key::{walk_tree, NK_VALUE_LIST, VK_DATA_OFFSET};
        use crate::util::bytes::{i32_at, u32_at};
        let mut spec = system(SystemVariant::Modern);
        spec.root.subkeys.push(
            KeySpec::new("Overlap")
                .value("blob", Data::Binary("00".repeat(256)))
                .value("x", Data::Dword(7)),
        );
        let mut bytes = build(&spec);
        full_check(&bytes).unwrap();
        let bb = BASE_BLOCK_SIZE;
        let (list_abs, x_rel, inner_abs, cell) = {
            let view = HiveView::new(&bytes).unwrap();
            let k = Key::root(view).unwrap().subkey("Overlap").unwrap().unwrap();
            let x = k.value("x").unwrap().unwrap();
            let blob = k.value("blob").unwrap().unwrap();
            let x_abs = x.offset() as usize + bb;
            let len = i32_at(&bytes, 0, x_abs, "x").unwrap().unsigned_abs() as usize;
            let cell = bytes[x_abs..x_abs + len].to_vec();
            let data_rel = u32_at(&bytes, 0, blob.abs_of(VK_DATA_OFFSET) as usize, "blob").unwrap();
            // 16 bytes into the blob's cell: 8-aligned, inside its data.
            let inner_abs = data_rel as usize + bb + 16;
            let list_rel = u32_at(&bytes, 0, k.abs() as usize + NK_VALUE_LIST, "list").unwrap();
            (list_rel as usize + bb + 4, x.offset(), inner_abs, cell)
        };
        bytes[inner_abs..inner_abs + cell.len()].copy_from_slice(&cell);
        let entry = (0..2)
            .map(|i| list_abs + 4 * i)
            .find(|&e| u32_at(&bytes, 0, e, "entry").unwrap() == x_rel)
            .unwrap();
        put_u32(&mut bytes, entry, (inner_abs - bb) as u32);
        // Both readers still walk it.
        walk_tree(Key::root(HiveView::new(&bytes).unwrap()).unwrap()).unwrap();
        let e = full_check(&bytes).unwrap_err().to_string();
        assert!(
            e.contains("inside another cell") && e.contains(&format!("{inner_abs:#x}")),
            "{e}"
        );
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

    /// Found by fuzzing (value_edit): a key with an empty name directly
    /// below the root printed as the root's path (""), so an edit of the
    /// root's values was refused. Keys are now matched by cell: the root
    /// edit verifies, and the same change made to the empty-named key
    /// instead fails.
    #[test]
    fn an_empty_key_name_below_the_root_is_told_apart_from_the_root() {
        use crate::format::regf::edit::HiveEdit;
        use crate::format::regf::key::{reg_type, NK_NAME_LEN};
        let mut h = corpus("other/real/regipy__SECURITY");
        let first = Key::root(HiveView::new(&h).unwrap())
            .unwrap()
            .subkeys()
            .unwrap()[0];
        let (first_abs, first_rel) = (first.abs(), first.offset());
        h[first_abs as usize + NK_NAME_LEN..][..2].copy_from_slice(&0u16.to_le_bytes());
        full_check(&h).unwrap();
        let exp = |key: &str| Expect {
            key: key.into(),
            value: "v".into(),
            after: Some((reg_type::DWORD, vec![7, 0, 0, 0])),
            new_key: false,
        };
        let edit = |rel: u32| {
            let mut e = HiveEdit::new(h.clone()).unwrap();
            e.set_value(rel, "v", reg_type::DWORD, &[7, 0, 0, 0])
                .unwrap();
            e.into_bytes()
        };
        let root = Key::root(HiveView::new(&h).unwrap()).unwrap().offset();
        semantic_compare(&h, &edit(root), &[exp("")]).unwrap();
        let e = semantic_compare(&h, &edit(first_rel), &[exp("")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("differ from the plan") || e.contains("not planned"),
            "{e}"
        );
        let policy = crate::testing::key_rel(&h, "Policy");
        semantic_compare(&h, &edit(policy), &[exp("Policy")]).unwrap();
    }

    /// Sibling keys whose names differ only in case ("Twin", "TWIN"): an
    /// edit of a path through them is refused as ambiguous (nothing can
    /// verify which was meant); an edit elsewhere is compared exactly, and
    /// a stray change to either twin fails it.
    #[test]
    fn case_twins_make_only_their_own_paths_ambiguous() {
        use crate::fixtures::build::{build, Data, HiveSpec, KeySpec};
        use crate::format::regf::edit::HiveEdit;
        use crate::format::regf::key::reg_type;
        let v1 = |k: KeySpec| k.value("v", Data::Dword(1));
        let h = build(&HiveSpec {
            file_name: "twins".into(),
            sequence: 3,
            timestamp: 0x01d9_0000_0000_0000,
            root: v1(KeySpec::new("ROOT"))
                .key(v1(KeySpec::new("Twin")).key(v1(KeySpec::new("Below"))))
                .key(v1(KeySpec::new("TWIN")))
                .key(v1(KeySpec::new("Other"))),
        });
        full_check(&h).unwrap();
        let view = HiveView::new(&h).unwrap();
        let root = Key::root(view).unwrap();
        let by_name = |n: &str| {
            root.subkeys()
                .unwrap()
                .into_iter()
                .find(|k| k.name().unwrap() == n)
                .unwrap()
                .offset()
        };
        let exp = |key: &str| Expect {
            key: key.into(),
            value: "v".into(),
            after: Some((reg_type::DWORD, vec![7, 0, 0, 0])),
            new_key: false,
        };
        let edit = |rels: &[u32]| {
            let mut e = HiveEdit::new(h.clone()).unwrap();
            for &rel in rels {
                e.set_value(rel, "v", reg_type::DWORD, &[7, 0, 0, 0])
                    .unwrap();
            }
            e.into_bytes()
        };
        let other = by_name("Other");
        semantic_compare(&h, &edit(&[other]), &[exp("other")]).unwrap();
        for stray in [by_name("Twin"), by_name("TWIN")] {
            let e = semantic_compare(&h, &edit(&[other, stray]), &[exp("Other")])
                .unwrap_err()
                .to_string();
            assert!(e.contains("not planned"), "{e}");
        }
        for path in ["Twin", "twin", r"TWIN\Below"] {
            let e = semantic_compare(&h, &edit(&[by_name("Twin")]), &[exp(path)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("names 2 keys"), "{path}: {e}");
        }
        assert!(resolve_exact(root, "Other").is_ok());
        assert!(windows_names_equal("Twin", "tWIN") && windows_names_equal("ä", "Ä"));
        assert!(!windows_names_equal("\u{10410}", "\u{10438}"));
        let Err(e) = resolve_exact(root, r"Other\Nope") else {
            panic!("a missing key resolves");
        };
        let e = e.to_string();
        assert!(e.contains(r"'Other\Nope' is not in the hive"), "{e}");
    }

    /// Created keys: the lock-step compare accepts exactly the planned new
    /// keys with exactly their planned values; an unplanned key, a planned
    /// key that is missing, or an unplanned value in a new key fails, and
    /// `verify_edit` counts the new keys.
    #[test]
    fn created_keys_must_be_exactly_the_planned_ones() {
        use crate::format::regf::base_block::set_clean;
        use crate::format::regf::edit::HiveEdit;
        use crate::format::regf::key::reg_type;
        let base = corpus("other/real/regipy__SECURITY");
        let stats = full_check(&base).unwrap();
        let rel = |h: &[u8], p: &str| crate::testing::key_rel(h, p);
        let make = |extra_key: bool, extra_value: bool| {
            let mut e = HiveEdit::new(base.clone()).unwrap();
            let a = e.create_key(rel(&base, "Policy"), "NewKey").unwrap();
            let b = e.create_key(a, "Child").unwrap();
            e.set_value(b, "", reg_type::NONE, &[1, 2, 3, 4, 5])
                .unwrap();
            if extra_key {
                e.create_key(a, "Stray").unwrap();
            }
            if extra_value {
                e.set_value(a, "v", reg_type::DWORD, &[0; 4]).unwrap();
            }
            let mut n = e.into_bytes();
            let bins = BaseBlock::parse(&n).unwrap().hive_bins_size;
            set_clean(&mut n[..BASE_BLOCK_SIZE], 99, bins);
            n
        };
        let key = |k: &str| Expect {
            key: k.into(),
            value: String::new(),
            after: None,
            new_key: true,
        };
        let expects = vec![
            key(r"Policy\NewKey"),
            key(r"Policy\NewKey\Child"),
            Expect {
                key: r"Policy\NewKey\Child".into(),
                value: String::new(),
                after: Some((reg_type::NONE, vec![1, 2, 3, 4, 5])),
                new_key: false,
            },
        ];
        let good = make(false, false);
        semantic_compare(&base, &good, &expects).unwrap();
        let done = verify_edit(&base, &good, &expects, None, None, Some(&stats)).unwrap();
        assert!(
            done.iter().any(|d| d.contains("2 planned new keys")),
            "{done:?}"
        );
        let e = semantic_compare(&base, &make(true, false), &expects).unwrap_err();
        assert!(e.to_string().contains("Stray"), "{e}");
        let e = semantic_compare(&base, &make(false, true), &expects).unwrap_err();
        assert!(e.to_string().contains("differ from the plan"), "{e}");
        let e = semantic_compare(&base, &good, &expects[..1]).unwrap_err();
        assert!(e.to_string().contains("Child"), "{e}");
        let more = [expects.clone(), vec![key(r"Policy\Other")]].concat();
        let e = semantic_compare(&base, &good, &more).unwrap_err();
        assert!(e.to_string().contains("3 keys were planned"), "{e}");
        // Without the expectations the new keys are an unplanned change.
        assert!(semantic_compare(&base, &good, &[]).is_err());
    }

    /// The in-place fast path of `verify_edit` still fails on a stray byte
    /// outside the planned fields, and on a wrong value inside one.
    #[test]
    fn in_place_verification_catches_stray_and_wrong_bytes() {
        let base = corpus("other/special/nt-hive__testhive");
        let view = HiveView::new(&base).unwrap();
        let vk = Key::root(view)
            .unwrap()
            .subpath("data-test")
            .unwrap()
            .unwrap()
            .value("dword")
            .unwrap()
            .unwrap();
        let at = vk.abs_of(crate::format::regf::key::VK_DATA_OFFSET) as usize;
        let stats = full_check(&base).unwrap();
        let expects = [Expect {
            key: "data-test".into(),
            value: "dword".into(),
            after: Some((
                crate::format::regf::key::reg_type::DWORD,
                7u32.to_le_bytes().to_vec(),
            )),
            new_key: false,
        }];
        let plan = |v: u32| {
            let mut n = base.clone();
            n[at..at + 4].copy_from_slice(&v.to_le_bytes());
            let bins = BaseBlock::parse(&n).unwrap().hive_bins_size;
            crate::format::regf::base_block::set_clean(&mut n[..4096], 99, bins);
            n
        };
        let good = plan(7);
        verify_edit(
            &base,
            &good,
            &expects,
            Some(&[at as u64]),
            None,
            Some(&stats),
        )
        .unwrap();
        let wrong = plan(8);
        assert!(verify_edit(
            &base,
            &wrong,
            &expects,
            Some(&[at as u64]),
            None,
            Some(&stats)
        )
        .is_err());
        let mut stray = good.clone();
        stray[at + 64] ^= 1;
        let e = verify_edit(
            &base,
            &stray,
            &expects,
            Some(&[at as u64]),
            None,
            Some(&stats),
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside the planned fields"), "{e}");
    }
}
