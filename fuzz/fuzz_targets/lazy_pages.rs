// SPDX-License-Identifier: GPL-2.0-or-later
//! A hive read on demand through the lazy page cache against the same
//! bytes read whole. The on-demand reader must give the same answers as
//! the whole-file reader, or an error: never another answer, never a
//! panic.
//!
//! Layout: byte 0 = how many pages to touch first (at most 15), then one
//! byte per page (which page, modulo the page count: the cache then holds
//! scattered pages, so later reads fetch runs around them), then a
//! little-endian u16 that cuts up to 4095 bytes off the end of the hive
//! (bit 15 clear) or adds that many zero bytes (bit 15 set), so the file
//! ends at an odd place inside a page; then the hive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntrescue::format::regf::cell::{HiveBytes, HiveView};
use ntrescue::format::regf::key::{walk_tree, Key};
use ntrescue::hive::reader::{KeyState, Reader, ValueState};
use ntrescue::recipes::paths::{NLA_VALUES, RDP_TCP_EXTRA, RDP_TCP_PATH, TS_PATH};
use ntrescue::storage::lazy::{LazyImage, MemPages, PAGE};

fn layout(data: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (&n, rest) = data.split_first()?;
    let n = usize::from(n % 16);
    let touch = rest.get(..n)?.to_vec();
    let tail = u16::from_le_bytes(rest.get(n..n + 2)?.try_into().ok()?);
    let mut hive = rest.get(n + 2..)?.to_vec();
    let by = usize::from(tail & 0x0fff);
    if tail & 0x8000 == 0 {
        hive.truncate(hive.len().saturating_sub(by));
    } else {
        hive.resize(hive.len() + by, 0);
    }
    Some((touch, hive))
}

/// Both answers when neither reader failed: they must be the same. The
/// on-demand reader looks a key up by the subkey list's hash hints, as
/// Windows does, so a damaged hint may hide from it a key the whole-file
/// scan finds: "missing" on demand against "present" whole is allowed;
/// never the other way, and never another value.
fn same_key(path: &str, whole: &KeyState, paged: &KeyState) {
    match (whole, paged) {
        (KeyState::Unreadable { .. }, _) | (_, KeyState::Unreadable { .. }) => {}
        (KeyState::Present { .. }, KeyState::Missing { .. }) => {}
        // Both say the key is missing; a damaged hint may hide an ancestor
        // from the on-demand lookup, so it may name an earlier component.
        (KeyState::Missing { .. }, KeyState::Missing { .. }) => {}
        (w, p) => assert_eq!(w, p, "{path}: whole {w:?}, on demand {p:?}"),
    }
}

fn same_value(path: &str, name: &str, whole: &ValueState, paged: &ValueState) {
    match (whole, paged) {
        (ValueState::Unreadable { .. }, _) | (_, ValueState::Unreadable { .. }) => {}
        (w, p) => assert_eq!(w, p, "{path}\\{name}: whole {w:?}, on demand {p:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((touch, hive)) = layout(data) else {
        return;
    };
    let lazy = LazyImage::new(
        Box::new(MemPages(hive.clone().into())),
        hive.len(),
        "fuzz".into(),
    );
    let pages = hive.len().div_ceil(PAGE);
    for t in &touch {
        if pages > 0 {
            let p = usize::from(*t) % pages;
            let page = lazy.page(p).expect("a page inside the file");
            assert_eq!(page, &hive[p * PAGE..hive.len().min((p + 1) * PAGE)]);
        }
    }
    // Any range the file holds reads back as the bytes themselves.
    if hive.len() > 1 {
        let a = usize::from(touch.first().copied().unwrap_or(0)) * 97 % hive.len();
        let n = (hive.len() - a).min(3 * PAGE + 5);
        assert_eq!(
            lazy.range(a, n).expect("a range inside the file"),
            &hive[a..a + n]
        );
    }
    assert!(lazy.range(hive.len(), 1).is_err(), "a range past the end");

    let whole_view = HiveView::new(&hive);
    let paged_view = HiveView::paged(&lazy);
    let (Ok(wv), Ok(pv)) = (whole_view, paged_view) else {
        return;
    };
    // The whole tree: the same counts, or an error on demand.
    let w = Key::root(wv).and_then(walk_tree);
    let p = Key::root(pv).and_then(walk_tree);
    match (&w, &p) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "tree walks differ"),
        (Err(e), Ok(b)) => panic!("the whole file fails ({e}) but on demand walks {b:?}"),
        _ => {}
    }
    let (Ok(whole), Ok(paged)) = (Reader::new(&hive), Reader::paged(&lazy)) else {
        return;
    };
    let mut paths: Vec<(String, Vec<&str>)> = vec![
        ("Select".into(), vec!["Current", "Default"]),
        (String::new(), vec![""]),
    ];
    if let Ok(sets) = whole.control_sets() {
        let mut rdp: Vec<&str> = NLA_VALUES.to_vec();
        rdp.extend_from_slice(&RDP_TCP_EXTRA);
        for (_, set) in sets.iter().take(2) {
            paths.push((format!("{set}\\{TS_PATH}"), vec!["fDenyTSConnections"]));
            paths.push((format!("{set}\\{RDP_TCP_PATH}"), rdp.clone()));
        }
    }
    for (path, names) in &paths {
        let (wk, wvals) = whole.values(path, names);
        let (pk, pvals) = paged.values(path, names);
        same_key(path, &wk, &pk);
        if matches!(pk, KeyState::Present { .. }) && matches!(wk, KeyState::Present { .. }) {
            for (a, b) in wvals.iter().zip(&pvals) {
                same_value(path, &a.name, &a.state, &b.state);
            }
        }
    }
});
