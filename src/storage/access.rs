// SPDX-License-Identifier: GPL-2.0-or-later
//! Permission to write, as a value.
//!
//! Every function that can change a byte on disk — opening a target for
//! writing ([`crate::storage::target::open_store`], [`crate::storage::store::FileStore::open`],
//! [`crate::storage::os::open_for_write`]), creating a backup bundle, writing
//! `--output` — takes a [`WriteAccess`]. `inspect`, `locate` and `get` never
//! receive one, and with `--read-only` (or `NTRESCUE_READ_ONLY=1`) the
//! command line never makes one, so in that mode no code path can reach a
//! write: the compiler checks it, not a runtime flag.

use crate::error::Error;

/// Proof that this run may write. Only [`WriteAccess::grant`] makes one.
#[derive(Clone, Copy, Debug)]
pub struct WriteAccess {
    _sealed: (),
}

impl WriteAccess {
    /// Permission to write for a command that edits or restores.
    pub fn grant() -> WriteAccess {
        WriteAccess { _sealed: () }
    }

    /// The refusal for a command that would write in read-only mode.
    pub fn refused(what: &str) -> Error {
        Error::refused(crate::error::Code::ReadOnlyMode, format!(
            "read-only mode (--read-only or NTRESCUE_READ_ONLY): {what} would write; nothing was written \
             (--dry-run shows the plan without writing)"
        ))
    }
}
