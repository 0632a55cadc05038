// SPDX-License-Identifier: GPL-2.0-or-later
//! Process exit codes: a stable, documented contract for runbooks.

use crate::error::ErrorClass;

/// Every exit code ntrescue uses. The numbers never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success, including "nothing to do".
    Success = 0,
    /// Any other error: unreadable or malformed input, I/O failure.
    Error = 1,
    /// Bad command line.
    Usage = 2,
    /// Refused for safety (dirty hive, unsupported layout, target changed,
    /// read-only target...). Nothing was written.
    Refused = 3,
    /// A write failed verification; the original bytes were restored and
    /// verified.
    RolledBack = 4,
    /// No SYSTEM hive / Windows installation found in the source, or the
    /// hive given is not a SYSTEM hive (no `ControlSetNNN` key).
    NotFound = 5,
    /// A write failed verification AND the rollback failed: restore from the
    /// backup bundle named in the message.
    RollbackFailed = 6,
}

impl Exit {
    /// The code for an error class.
    pub fn of(class: ErrorClass) -> Exit {
        match class {
            ErrorClass::Other => Exit::Error,
            ErrorClass::Refused => Exit::Refused,
            ErrorClass::NotFound => Exit::NotFound,
            ErrorClass::RolledBack => Exit::RolledBack,
            ErrorClass::RollbackFailed => Exit::RollbackFailed,
            ErrorClass::Usage => Exit::Usage,
        }
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Stable name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Error => "error",
            Exit::Usage => "usage",
            Exit::Refused => "refused",
            Exit::RolledBack => "rolled-back",
            Exit::NotFound => "not-found",
            Exit::RollbackFailed => "rollback-failed",
        }
    }
}

/// Text for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (including \"nothing to do\")
  1  error: unreadable or malformed input, I/O failure
  2  usage error
  3  refused for safety (dirty hive, unsupported, target changed, read-only); nothing written
  4  verification failed; original bytes restored and verified
  5  nothing found (no SYSTEM hive / not a SYSTEM hive / no Windows installation)
  6  verification failed AND rollback failed: restore from the backup bundle";
