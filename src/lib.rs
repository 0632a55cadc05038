// SPDX-License-Identifier: GPL-2.0-or-later
//! ntrescue: inspect and repair the RDP/NLA registry state of a detached
//! Windows system disk.
//!
//! The folders are layers; a module imports only from its own layer or the
//! ones listed below it (checked by `scripts/check-layout`, run in CI):
//!
//! | layer       | owns |
//! |-------------|------|
//! | `cli`       | argument parsing, operator input, exit codes, printing |
//! | `render`    | the human renderer (JSON is serde of the models) |
//! | `commands`  | read-only assemblers of reports: inspect, get, locate |
//! | `recipes`   | what each fix changes (RDP key paths and value names) |
//! | `write`     | the write protocol, one step per file |
//! | `report`    | serde models shared by commands and renderers |
//! | `hive`      | the hive as Windows loads it, read by two readers |
//! | `storage`   | where a hive's bytes live: OS, disks, volumes, files |
//! | `format`    | pure on-disk formats: bytes in, values out |
//! | `util`, `error` | bytes, digests, time, panic guard; the error type |
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod error;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod format;
pub mod hive;
pub mod recipes;
pub mod render;
pub mod report;
pub mod storage;
pub mod util;
pub mod write;

pub use error::{Error, ErrorClass, Result};

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
        let view = crate::format::regf::cell::HiveView::new(bytes).unwrap();
        crate::format::regf::key::Key::root(view)
            .unwrap()
            .subpath(path)
            .unwrap()
            .unwrap()
            .offset()
    }
}
