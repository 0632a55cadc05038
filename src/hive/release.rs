// SPDX-License-Identifier: GPL-2.0-or-later
//! Which Windows release a SYSTEM hive comes from, when SOFTWARE (whose
//! `CurrentBuild` names the build) is not at hand.
//!
//! The markers, checked on every real SYSTEM hive of the corpus (Windows XP
//! SP3, 7 SP1, 10 1507/1709/1903): the root `DriverDatabase` key (the
//! driver store index Windows 8 moved into SYSTEM) and the
//! `Services\BasicDisplay` driver (the display driver Windows 8
//! introduced). Both are present on every Windows 10 hive, the minimal
//! one included, and absent from Windows XP and 7.

use crate::hive::path::current_control_set;
use crate::hive::reader::{KeyLookup, Reader};

/// What SYSTEM says of the release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Windows 8 / Server 2012 or later: a marker is present.
    Win8OrLater,
    /// Before Windows 8: no marker, and the keys that would hold them read.
    BeforeWin8,
}

/// The release of the SYSTEM hive `r`; `None` when it cannot tell (the
/// boot control set or its `Services` key cannot be read, or a marker
/// lookup fails).
pub fn from_system(r: &Reader<'_>) -> Option<Release> {
    let found = |path: &str| match r.key(path) {
        KeyLookup::Found(_) => Some(true),
        KeyLookup::Missing(_) => Some(false),
        KeyLookup::Unreadable(_) => None,
    };
    if found("DriverDatabase") == Some(true) {
        return Some(Release::Win8OrLater);
    }
    let (set, _) = current_control_set(r).ok()?;
    if found(&format!(r"{set}\Services\BasicDisplay")) == Some(true) {
        return Some(Release::Win8OrLater);
    }
    match (
        found("DriverDatabase")?,
        found(&format!(r"{set}\Services"))?,
        found(&format!(r"{set}\Services\BasicDisplay"))?,
    ) {
        (false, true, false) => Some(Release::BeforeWin8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every SYSTEM hive of the corpus (a `MANIFEST.tsv` row with control
    /// sets), against the Windows version the manifest names: Windows 10
    /// is Windows 8 or later, Windows 7 and XP are before; a hive the
    /// manifest cannot date must not be taken for Windows 8 or later
    /// without a marker (it is printed for the record).
    #[test]
    fn markers_match_every_corpus_system_hive() {
        let manifest = String::from_utf8(crate::testing::corpus("MANIFEST.tsv")).unwrap();
        let mut seen = 0;
        for line in manifest.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let (path, version, sets) = (cols[0], cols[7], cols.get(15).copied().unwrap_or(""));
            if sets.is_empty() {
                continue;
            }
            let bytes = crate::testing::corpus(path);
            let got = Reader::new(&bytes).ok().and_then(|r| from_system(&r));
            eprintln!("{path}: {version:?} -> {got:?}");
            let want = if version.starts_with("Windows 10") || version.starts_with("Windows 11") {
                Some(Release::Win8OrLater)
            } else if version.starts_with("Windows 7") || version.starts_with("Windows XP") {
                Some(Release::BeforeWin8)
            } else {
                None
            };
            match want {
                Some(Release::Win8OrLater) => assert_eq!(got, want, "{path}"),
                // A damaged old hive may not tell, but is never taken for a
                // newer release.
                Some(Release::BeforeWin8) if path.contains("malformed") => {
                    assert_ne!(got, Some(Release::Win8OrLater), "{path}")
                }
                Some(Release::BeforeWin8) => assert_eq!(got, want, "{path}"),
                None => {}
            }
            seen += 1;
        }
        assert!(seen >= 6, "only {seen} SYSTEM hives in the manifest");
    }
}
