// SPDX-License-Identifier: GPL-2.0-or-later
//! ntrescue: inspect and repair the RDP/NLA registry state of a detached
//! Windows system disk.
#![forbid(unsafe_code)]

pub mod bytes;
pub mod error;
pub mod regf;

pub use error::{Error, ErrorClass, Result};
pub mod access;
pub mod backup;
pub mod commit;
pub mod digest;
pub mod disk;
pub mod engine;
pub mod exit;
pub mod extent_store;
pub mod fix;
pub mod fixtures;
pub mod get;
pub mod guard;
pub mod inspect;
pub mod locate;
pub mod rdp;
pub mod reconcile;
pub mod regpath;
pub mod render;
pub mod report;
pub mod source;
pub mod target;
pub mod timefmt;
pub mod verify;

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// A file of `../shared/corpus` (the third-party corpus beside the repo).
    pub fn corpus(rel: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus")
            .join(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// nt-hive's own test hive.
    pub fn testhive() -> Vec<u8> {
        corpus("other/special/nt-hive__testhive")
    }

    /// Relative offset of the key at `path` below the root of `bytes`.
    pub fn key_rel(bytes: &[u8], path: &str) -> u32 {
        let view = crate::regf::cell::HiveView::new(bytes).unwrap();
        crate::regf::key::Key::root(view)
            .unwrap()
            .subpath(path)
            .unwrap()
            .unwrap()
            .offset()
    }
}
