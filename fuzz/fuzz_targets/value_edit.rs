// SPDX-License-Identifier: GPL-2.0-or-later
//! The value editor: parse a hive, run a sequence of set / create / delete
//! operations chosen by the input, then the full structure check (our walk
//! and nt-hive's must agree) and the lock-step compare with the original,
//! which must hold exactly the planned changes, read by both readers.
//!
//! Layout: byte 0 = number of operations (at most 8), then 4 bytes per
//! operation (kind, key index, name index, data seed), then the hive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntrescue::format::nthive::NtHive;
use ntrescue::format::regf::cell::HiveView;
use ntrescue::format::regf::edit::HiveEdit;
use ntrescue::format::regf::key::{reg_type, Key};
use ntrescue::hive::check::{full_check, resolve_exact, semantic_compare, Expect};

/// Value names an operation picks from (index past the key's own values).
const NAMES: [&str; 4] = ["fuzzValue", "SecurityLayer", "Ümlaut-Ω", ""];

/// Paths of the first `max` keys of the tree, breadth first, that the
/// lock-step compare resolves to exactly one key ([`resolve_exact`]): a
/// path through names that differ only in case is refused as ambiguous
/// (right, but not what this target checks), and so is a path that names a
/// key already listed (an empty name reads as its parent). Keys whose paths
/// print alike otherwise (a name holding a backslash) stay targets: the
/// compare matches keys by cell, so an edit of one cannot pass for the
/// other.
fn key_paths(bytes: &[u8], max: usize) -> Vec<String> {
    let Ok(root) = HiveView::new(bytes).and_then(Key::root) else {
        return Vec::new();
    };
    let mut all: Vec<String> = vec![String::new()];
    let mut queue = std::collections::VecDeque::from([(root, String::new())]);
    while let Some((k, path)) = queue.pop_front() {
        if all.len() > 4 * max {
            break;
        }
        let Ok(subs) = k.subkeys() else { continue };
        for s in subs {
            let Ok(name) = s.name() else { continue };
            let p = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}\\{name}")
            };
            all.push(p.clone());
            queue.push_back((s, p));
        }
    }
    // One path per key: a key with an empty name prints as its parent's
    // path plus a backslash, which every path lookup reads as the parent
    // itself (empty parts are skipped), so two strings would name one key.
    let mut out: Vec<String> = Vec::new();
    let mut cells: Vec<u32> = Vec::new();
    for p in all {
        if out.len() >= max || out.iter().any(|o| o.eq_ignore_ascii_case(&p)) {
            continue;
        }
        if let Ok(k) = resolve_exact(root, &p) {
            if !cells.contains(&k.offset()) {
                cells.push(k.offset());
                out.push(p);
            }
        }
    }
    out
}

fn data_of(kind: u8, seed: u8) -> (u32, Vec<u8>) {
    match kind % 4 {
        0 => (reg_type::DWORD, u32::from(seed).to_le_bytes().to_vec()),
        1 => (
            reg_type::SZ,
            "ab".repeat(seed as usize)
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes())
                .chain([0, 0])
                .collect(),
        ),
        2 => (reg_type::BINARY, vec![seed; seed as usize * 40]),
        _ => (reg_type::QWORD, u64::from(seed).to_le_bytes().to_vec()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n % 9) as usize;
    if rest.len() < n * 4 {
        return;
    }
    let (ops, hive) = rest.split_at(n * 4);
    if full_check(hive).is_err() {
        return;
    }
    let keys = key_paths(hive, 64);
    if keys.is_empty() {
        return;
    }
    let Ok(mut edit) = HiveEdit::new(hive.to_vec()) else {
        return;
    };
    let mut expects: Vec<Expect> = Vec::new();
    for op in ops.chunks_exact(4) {
        let key = &keys[op[1] as usize % keys.len()];
        let rel = {
            let Ok(view) = HiveView::new(edit.bytes()) else {
                return;
            };
            match Key::root(view).and_then(|r| r.subpath(key)) {
                Ok(Ok(k)) => k.offset(),
                _ => return,
            }
        };
        let name = NAMES[op[2] as usize % NAMES.len()];
        let done = if op[0] & 0x80 != 0 {
            edit.delete_value(rel, name).map(|_| None)
        } else {
            let (ty, d) = data_of(op[0], op[3]);
            edit.set_value(rel, name, ty, &d).map(|_| Some((ty, d)))
        };
        // An edit the editor refuses leaves nothing to check.
        let Ok(after) = done else { return };
        expects.retain(|e| !(e.key == *key && e.value.eq_ignore_ascii_case(name)));
        expects.push(Expect {
            key: key.clone(),
            value: name.to_string(),
            after,
            new_key: false,
        });
    }
    let new = edit.into_bytes();
    if let Err(e) = full_check(&new) {
        panic!("an edit of a hive that passed the check fails it: {e}");
    }
    if let Err(e) = semantic_compare(hive, &new, &expects) {
        panic!("the edited hive does not hold exactly the planned changes: {e}");
    }
    let nt = NtHive::open(&new).expect("nt-hive opens the edited hive");
    for e in &expects {
        // nt-hive binary-searches subkey lists, as Windows does: in a list
        // out of order it misses a key our linear scan finds (the readers
        // then report the key unreadable, never a value). Only keys it
        // finds are compared.
        if nt.key_exists(&e.key) != Ok(true) {
            continue;
        }
        let got = nt
            .value(&e.key, &e.value)
            .expect("nt-hive reads the edited value");
        match (&e.after, got) {
            (None, None) => {}
            (Some((ty, d)), Some((nty, nd))) => {
                assert!(nty.is_none_or(|t| t == *ty), "{}\\{}: type", e.key, e.value);
                assert!(nd.is_none_or(|x| x == *d), "{}\\{}: data", e.key, e.value);
            }
            (want, got) => panic!(
                "{}\\{}: nt-hive reads {got:?}, planned {want:?}",
                e.key, e.value
            ),
        }
    }
});
