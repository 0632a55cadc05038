// SPDX-License-Identifier: GPL-2.0-or-later
//! Whole-tree difference between two images of one hive (as stored and
//! after log replay): every key added or removed and every value added,
//! removed or changed (type or data). Key and value names compare
//! case-insensitively, as the registry does.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::format::regf::cell::HiveView;
use crate::format::regf::key::{Key, Visited, MAX_DEPTH};

/// How a value differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ValueChange {
    /// Only in the second image.
    Added,
    /// Only in the first image.
    Removed,
    /// In both, with another type or other data.
    Changed,
}

/// One value that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ValueDiff {
    /// Key path below the root (names as the image that has it spells them).
    pub key: String,
    /// Value name ("" = the default value).
    pub value: String,
    /// What differs.
    pub change: ValueChange,
    /// Type before (absent when added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_type: Option<u32>,
    /// Type after (absent when removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_type: Option<u32>,
}

/// Everything that differs between two trees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TreeDiff {
    /// Keys only in the second image.
    pub keys_added: Vec<String>,
    /// Keys only in the first image.
    pub keys_removed: Vec<String>,
    /// Values that differ, in key then value order (keys added or removed
    /// bring their values along).
    pub values: Vec<ValueDiff>,
}

impl TreeDiff {
    /// Whether the two trees hold the same keys and values.
    pub fn is_empty(&self) -> bool {
        self.keys_added.is_empty() && self.keys_removed.is_empty() && self.values.is_empty()
    }
}

/// Upper-cased key path -> (spelling, upper-cased value name -> (spelling, type, data)).
type Flat = BTreeMap<String, (String, BTreeMap<String, (String, u32, Vec<u8>)>)>;

fn flatten(bytes: &[u8]) -> Result<Flat> {
    let mut out = Flat::new();
    let root = Key::root(HiveView::new(bytes)?)?;
    let mut stack = vec![(root, String::new(), 0usize)];
    let mut seen = Visited::default();
    while let Some((k, path, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(crate::error::Error::Invalid {
                what: "key nesting",
                offset: k.abs(),
                detail: format!("deeper than {MAX_DEPTH} levels (a cycle?)"),
            });
        }
        seen.key(&k)?;
        seen.value_list(&k)?;
        let mut values = BTreeMap::new();
        for v in k.values()? {
            seen.value(&v)?;
            let name = v.name()?;
            values.insert(name.to_uppercase(), (name, v.data_type()?, v.data()?));
        }
        for sub in k.subkeys_seen(&mut seen.lists)? {
            let name = sub.name()?;
            let p = if path.is_empty() {
                name
            } else {
                format!("{path}\\{name}")
            };
            stack.push((sub, p, depth + 1));
        }
        out.insert(path.to_uppercase(), (path, values));
    }
    Ok(out)
}

/// The difference from the tree of `before` to the tree of `after`.
pub fn diff_trees(before: &[u8], after: &[u8]) -> Result<TreeDiff> {
    let (a, b) = (flatten(before)?, flatten(after)?);
    let mut d = TreeDiff::default();
    let empty = (String::new(), BTreeMap::new());
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (ka, kb) = (a.get(k), b.get(k));
        let path = ka.or(kb).map(|x| x.0.clone()).unwrap_or_default();
        match (ka, kb) {
            (None, Some(_)) => d.keys_added.push(path.clone()),
            (Some(_), None) => d.keys_removed.push(path.clone()),
            _ => {}
        }
        let (va, vb) = (&ka.unwrap_or(&empty).1, &kb.unwrap_or(&empty).1);
        let mut names: Vec<&String> = va.keys().chain(vb.keys()).collect();
        names.sort();
        names.dedup();
        for n in names {
            let (x, y) = (va.get(n), vb.get(n));
            let change = match (x, y) {
                (None, Some(_)) => ValueChange::Added,
                (Some(_), None) => ValueChange::Removed,
                (Some(x), Some(y)) if (x.1, &x.2) != (y.1, &y.2) => ValueChange::Changed,
                _ => continue,
            };
            d.values.push(ValueDiff {
                key: path.clone(),
                value: x.or(y).map(|v| v.0.clone()).unwrap_or_default(),
                change,
                before_type: x.map(|v| v.1),
                after_type: y.map(|v| v.1),
            });
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::regf::edit::HiveEdit;
    use crate::format::regf::key::reg_type;

    use crate::testing::{key_rel, testhive};

    /// Same image: nothing. A value changed, one added, one deleted: each
    /// reported once, by path and kind, whatever the case of the names.
    #[test]
    fn finds_each_changed_value() {
        let h = testhive();
        assert!(diff_trees(&h, &h).unwrap().is_empty());
        let mut e = HiveEdit::new(h.clone()).unwrap();
        let k = key_rel(e.bytes(), "data-test");
        e.set_value(k, "DWORD", reg_type::DWORD, &9u32.to_le_bytes())
            .unwrap();
        e.set_value(k, "Brand-New", reg_type::SZ, b"x\0").unwrap();
        assert!(e.delete_value(k, "qword").unwrap());
        let d = diff_trees(&h, e.bytes()).unwrap();
        let got: Vec<(&str, &str, ValueChange)> = d
            .values
            .iter()
            .map(|v| (v.key.as_str(), v.value.as_str(), v.change))
            .collect();
        assert_eq!(
            got,
            [
                ("data-test", "Brand-New", ValueChange::Added),
                ("data-test", "dword", ValueChange::Changed),
                ("data-test", "qword", ValueChange::Removed),
            ]
        );
        assert!(d.keys_added.is_empty() && d.keys_removed.is_empty());
        assert_eq!(d.values[1].before_type, Some(reg_type::DWORD));
    }
}
