// SPDX-License-Identifier: GPL-2.0-or-later
//! The library's one error type.
//!
//! Every variant that comes from bytes on disk carries the absolute byte
//! offset (shown in hex) where the data is wrong; [`Error::in_file`] adds the
//! file name, so a message reads like
//! `SYSTEM: invalid cell size 0x3 at byte offset 0x1020 (not a multiple of 8)`.
//! [`Error::class`] maps each variant to one documented process exit code.

use std::path::{Path, PathBuf};

/// Result type used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an error is; decides the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Input data is malformed, unsupported, or an I/O call failed.
    Other,
    /// The operation was refused for safety; nothing was written.
    Refused,
    /// No SYSTEM hive (or no Windows installation) was found in the source.
    NotFound,
    /// A write failed verification and the original bytes were restored.
    RolledBack,
    /// A write failed and restoring the original bytes failed too.
    RollbackFailed,
}

/// Everything that can go wrong in ntrescue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (usually names the file).
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// An error raised while processing a named file.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file the error is about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<Error>,
    },

    /// The file does not start with the `regf` signature.
    #[error(
        "not a registry hive: expected signature \"regf\" at byte offset 0x0, found {found:02x?}"
    )]
    NotRegf {
        /// The first bytes actually found.
        found: Vec<u8>,
    },

    /// The data ends before a structure that must be there.
    #[error("truncated: {what} needs {needed:#x} bytes at byte offset {offset:#x}, but the data ends at {len:#x}")]
    Truncated {
        /// Name of the structure.
        what: &'static str,
        /// Absolute byte offset of the structure.
        offset: u64,
        /// Bytes the structure needs.
        needed: u64,
        /// Length of the data.
        len: u64,
    },

    /// A structure has a wrong signature.
    #[error("invalid {what} signature at byte offset {offset:#x}: expected {expected:?}, found {found:02x?}")]
    BadSignature {
        /// Name of the structure.
        what: &'static str,
        /// Absolute byte offset of the signature.
        offset: u64,
        /// The expected signature.
        expected: &'static str,
        /// The bytes found.
        found: Vec<u8>,
    },

    /// A field holds a value the format does not allow.
    #[error("invalid {what} at byte offset {offset:#x}: {detail}")]
    Invalid {
        /// Name of the field or structure.
        what: &'static str,
        /// Absolute byte offset of the field.
        offset: u64,
        /// Why it is invalid.
        detail: String,
    },

    /// Valid data that this tool does not handle (exit code "refused").
    #[error("unsupported {what} at byte offset {offset:#x}: {detail}")]
    Unsupported {
        /// What is unsupported.
        what: &'static str,
        /// Absolute byte offset.
        offset: u64,
        /// Details.
        detail: String,
    },

    /// The independent reader (nt-hive) rejected the data.
    #[error("nt-hive: {0}")]
    NtHive(#[from] nt_hive::NtHiveError),

    /// The NTFS reader (ntfs crate) rejected the data.
    #[error("ntfs: {0}")]
    Ntfs(String),

    /// The operation was refused for safety. Nothing was written.
    #[error("refused: {0}")]
    Refused(String),

    /// The source holds no SYSTEM hive.
    #[error("nothing found: {0}")]
    NotFound(String),

    /// A write did not verify; the original bytes were restored and verified.
    #[error("verification failed, original restored: {0}")]
    RolledBack(String),

    /// A write did not verify and the rollback failed too.
    #[error("verification failed AND rollback failed: {0}")]
    RollbackFailed(String),
}

impl Error {
    /// Attaches the name of the file the error is about.
    pub fn in_file(self, path: impl AsRef<Path>) -> Self {
        match self {
            // Already located, or not about file contents.
            e @ (Error::InFile { .. } | Error::Io { .. }) => e,
            e => Error::InFile {
                path: path.as_ref().to_path_buf(),
                source: Box::new(e),
            },
        }
    }

    /// Builds an [`Error::Io`] with a context line.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Which exit-code class this error belongs to.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InFile { source, .. } => source.class(),
            Error::Refused(_) | Error::Unsupported { .. } => ErrorClass::Refused,
            Error::NotFound(_) => ErrorClass::NotFound,
            Error::RolledBack(_) => ErrorClass::RolledBack,
            Error::RollbackFailed(_) => ErrorClass::RollbackFailed,
            _ => ErrorClass::Other,
        }
    }
}

/// Shorthand for [`Error::Truncated`] when `needed` bytes at `offset` do not
/// fit in `len`.
pub(crate) fn truncated(what: &'static str, offset: u64, needed: u64, len: u64) -> Error {
    Error::Truncated {
        what,
        offset,
        needed,
        len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_file_names_the_file_and_keeps_the_class() {
        let e = Error::Refused("dirty".into()).in_file("/x/SYSTEM");
        assert_eq!(e.class(), ErrorClass::Refused);
        assert_eq!(e.to_string(), "/x/SYSTEM: refused: dirty");
        // Locating twice keeps the first (innermost) file name.
        let e = e.in_file("/other");
        assert!(e.to_string().starts_with("/x/SYSTEM:"));
    }

    #[test]
    fn offsets_are_printed_in_hex() {
        let e = truncated("hive bin", 0x1000, 0x20, 0x1010);
        assert!(e.to_string().contains("byte offset 0x1000"), "{e}");
    }
}
