// SPDX-License-Identifier: GPL-2.0-or-later
//! The library's one error type.
//!
//! Every variant that comes from bytes on disk carries the absolute byte
//! offset (shown in hex) where the data is wrong; [`Error::in_file`] adds the
//! file name, so a message reads like
//! `SYSTEM: invalid cell size 0x3 at byte offset 0x1020 (not a multiple of 8)`.
//! [`Error::class`] maps each variant to one documented process exit code.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    /// The operator's input (a registry path, `--data`, an option value)
    /// is malformed: a usage error.
    Usage,
}

/// The stable, closed list of machine-readable reasons carried by every
/// error, refusal and warning in a JSON document (`code`). Names never
/// change meaning; new ones are only added (docs/json-schema.md lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // Errors (exit 1, 2, 4, 5, 6).
    /// An I/O call failed.
    Io,
    /// The OS denied access to a device or file: run as root.
    PermissionDenied,
    /// Input data (hive, log, partition table, NTFS) is malformed.
    Malformed,
    /// The command line or an operator value (`--data`, a registry path,
    /// `--partition`) is malformed.
    Usage,
    /// No SYSTEM hive or Windows installation in the source.
    NotFound,
    /// A write failed verification; the original bytes were restored.
    RolledBack,
    /// A write failed verification and the rollback failed too.
    RollbackFailed,
    /// `-o FILE` could not be written; the document printed is the
    /// result (outcome and exit code are the run's).
    ResultFileUnwritable,
    // Refusals (exit 3): nothing was written.
    /// Refused for a reason without a more specific code.
    Refused,
    /// Valid data that ntrescue does not handle.
    Unsupported,
    /// The device, a partition of it or a loop device over the image is mounted.
    Mounted,
    /// Whether the device is mounted cannot be told.
    MountStateUnknown,
    /// Something holds the device open exclusively.
    Busy,
    /// An active hibernation image (or Fast Startup) on the volume.
    Hibernated,
    /// The NTFS volume is marked dirty.
    DirtyVolume,
    /// The volume is encrypted (BitLocker).
    Bitlocker,
    /// The device, image or file is read-only.
    ReadOnlyTarget,
    /// `--read-only` / `NTRESCUE_READ_ONLY`: nothing may be written.
    ReadOnlyMode,
    /// The hive file cannot be written in place (resident, compressed,
    /// encrypted, sparse or with holes, or it would have to grow).
    UnwritableFile,
    /// Another run holds the lock on the target.
    Locked,
    /// The target changed since it was read (or is not the recorded one).
    TargetChanged,
    /// The default backup directory is on the volume being repaired.
    BackupOnTarget,
    /// The backup directory cannot be created or written.
    BackupUnwritable,
    /// A dirty hive whose logs cannot be replayed safely.
    DirtyHive,
    /// The operator declined or gave unusable interactive input.
    InputRefused,
    /// Several partitions hold Windows: `--partition N` must choose one.
    PartitionAmbiguous,
    /// The account (or, for `rights`, the account, group or well-known
    /// name) given is not in the SAM.
    UnknownAccount,
    // Units left alone by an edit (in `refusals`).
    /// A hive the edit needs was not found.
    HiveMissing,
    /// A key the edit needs is missing (ntrescue does not create it).
    KeyMissing,
    /// A key cannot be read.
    KeyUnreadable,
    /// A value cannot be read.
    ValueUnreadable,
    /// A value is missing and the command does not create values.
    ValueMissing,
    /// The data needs big-data storage, which is not supported.
    BigData,
    // Warnings: something the operator should know; the run went on.
    /// A warning without a more specific code (none is produced today; kept
    /// so that documents of earlier versions stay valid).
    Warning,
    /// A dirty hive was read after replaying its transaction logs in
    /// memory, as Windows will load it.
    LogsReplayed,
    /// A log replay stopped early, where Windows' would.
    ReplayStoppedEarly,
    /// A dirty hive's logs could not be replayed: it is shown as stored.
    LogsNotReplayed,
    /// A dirty hive whose logs hold nothing to replay (or that has none):
    /// shown as stored.
    DirtyNothingToReplay,
    /// A dirty hive without usable logs written anyway, as asked
    /// (`--allow-dirty-without-logs`).
    DirtyWithoutLogsAccepted,
    /// The whole tree as stored could not be compared with the tree after
    /// replay (`after_replay.tree_changes` is null).
    TreeCompareFailed,
    /// Group Policy values in SOFTWARE override the SYSTEM values (or the fix).
    PolicyOverridesLocal,
    /// Group Policy values in SOFTWARE cannot be read.
    PolicyUnreadable,
    /// `Select` has no usable `Default`/`Current`: the boot set is unknown.
    SelectUnusable,
    /// `Select` names a control set that does not exist.
    SelectMissingSet,
    /// A control set has no `RDP-Tcp` listener key.
    ListenerMissing,
    /// The forensic section could not be read.
    ForensicUnreadable,
    /// The `diagnose` rules could not run (inspect's `blockers` is empty).
    DiagnoseFailed,
    /// The SOFTWARE hive could not be read and was left out.
    SoftwareUnreadable,
    /// A hive other than SYSTEM and SOFTWARE (SAM, SECURITY, or SYSTEM
    /// beside SAM) could not be read or found and was left out.
    HiveUnreadable,
    /// A hive fails the full structure check.
    StructureCheckFailed,
    /// `hiberfil.sys` holds an active hibernation image: a write would be
    /// refused (`hibernated`).
    HibernationActive,
    /// The NTFS volume is marked dirty: a write would be refused
    /// (`dirty-volume`).
    VolumeDirty,
    /// The disk is mounted: a write would be refused (`mounted`).
    VolumeMounted,
    /// `--hash-source` was given a directory, which cannot be hashed.
    SourceNotHashable,
    /// `--hash-source` hashed a device whose length the OS did not give:
    /// the length hashed is what its partition table or boot sector says.
    SourceLengthInferred,
    /// A unit of an edit was left unchanged (its refusal is in `refusals`).
    UnitLeftUnchanged,
    /// An earlier run stopped before its write finished; this run wrote the
    /// hive clean.
    UnfinishedWriteCompleted,
    /// The write is done and verified, but its bundle could not be marked
    /// finished (it still reads in-progress and restores the same).
    BundleFinishNotRecorded,
    /// A dry run in read-only mode: the checks that open the target for
    /// writing were not run (`checks_skipped` lists them).
    ChecksSkipped,
    /// A non-default RDP port: the firewall must allow it.
    FirewallPort,
    /// `nla enable` writes the values recorded by an earlier `nla disable`.
    ValuesFromBundle,
    /// `nla enable` found no earlier bundle: the Windows defaults are written.
    ValuesFromDefaults,
    /// A new password loses the secrets protected by the old one (DPAPI, EFS).
    SecretsLost,
    /// The local Group Policy template could not be read (not a mounted
    /// tree): it may re-apply the RDP logon rights.
    GpoTemplateNotRead,
    /// The local Group Policy template sets the RDP logon rights.
    GpoTemplateSetsRights,
    /// A domain Group Policy may re-apply the logon right changed.
    DomainPolicyReapplies,
    /// The SID holds no logon rights: there is no deny to remove.
    NoLogonRights,
    /// The SID had no account key in SECURITY: one is created.
    AccountKeyCreated,
}

/// A warning: its machine-readable code and the message for humans. In a
/// report's `warnings` list it is the message alone (a string, as it
/// always was); the document's `issues` carry the code beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Why, for machines.
    pub code: Code,
    /// What, for the operator.
    pub message: String,
}

impl Warning {
    /// A warning with its code.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.message)
    }
}

impl schemars::JsonSchema for Warning {
    fn schema_name() -> String {
        String::schema_name()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        String::json_schema(gen)
    }

    fn is_referenceable() -> bool {
        false
    }
}

impl Code {
    /// The kebab-case name, as in JSON.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
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

    /// A refusal with its specific reason code. Nothing was written.
    #[error("refused: {message}")]
    Blocked {
        /// Why, for machines.
        code: Code,
        /// Why, for the operator.
        message: String,
    },

    /// Malformed operator input (exit code "usage").
    #[error("{0}")]
    Usage(String),

    /// The OS denied access to a device or file.
    #[error("{context}: permission denied: run as root")]
    PermissionDenied {
        /// What was being done (names the file).
        context: String,
    },

    /// The source holds no SYSTEM hive.
    #[error("nothing found: {0}")]
    NotFound(String),

    /// A write did not verify; the original bytes were restored and verified.
    #[error("verification failed, original restored: {0}")]
    RolledBack(String),

    /// A write did not verify and the rollback failed too.
    #[error("verification failed AND rollback failed: {0}")]
    RollbackFailed(String),

    /// An error of a fix met after its backup bundle was made: the
    /// bundle's directory travels with it into the result document.
    #[error("{source}")]
    WithBackup {
        /// The backup bundle directory.
        bundle: PathBuf,
        /// The error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Attaches the name of the file the error is about.
    pub fn in_file(self, path: impl AsRef<Path>) -> Self {
        match self {
            // Already located, or not about file contents.
            e @ (Error::InFile { .. }
            | Error::Io { .. }
            | Error::PermissionDenied { .. }
            | Error::WithBackup { .. }) => e,
            e => Error::InFile {
                path: path.as_ref().to_path_buf(),
                source: Box::new(e),
            },
        }
    }

    /// Builds an [`Error::Io`] with a context line; an access the OS
    /// denies is [`Error::PermissionDenied`].
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            return Error::PermissionDenied {
                context: context.into(),
            };
        }
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Attaches the backup bundle the failed fix had made.
    pub fn with_backup(self, bundle: impl AsRef<Path>) -> Self {
        match self {
            e @ Error::WithBackup { .. } => e,
            e => Error::WithBackup {
                bundle: bundle.as_ref().to_path_buf(),
                source: Box::new(e),
            },
        }
    }

    /// The backup bundle a failed fix had made, if any.
    pub fn backup(&self) -> Option<&Path> {
        match self {
            Error::WithBackup { bundle, .. } => Some(bundle),
            Error::InFile { source, .. } => source.backup(),
            _ => None,
        }
    }

    /// A refusal with its reason code.
    pub fn refused(code: Code, message: impl Into<String>) -> Self {
        Error::Blocked {
            code,
            message: message.into(),
        }
    }

    /// The machine-readable reason.
    pub fn code(&self) -> Code {
        match self {
            Error::InFile { source, .. } | Error::WithBackup { source, .. } => source.code(),
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                Code::PermissionDenied
            }
            Error::Io { .. } => Code::Io,
            Error::PermissionDenied { .. } => Code::PermissionDenied,
            Error::NotRegf { .. }
            | Error::Truncated { .. }
            | Error::BadSignature { .. }
            | Error::Invalid { .. }
            | Error::NtHive(_)
            | Error::Ntfs(_) => Code::Malformed,
            Error::Unsupported { .. } => Code::Unsupported,
            Error::Refused(_) => Code::Refused,
            Error::Blocked { code, .. } => *code,
            Error::Usage(_) => Code::Usage,
            Error::NotFound(_) => Code::NotFound,
            Error::RolledBack(_) => Code::RolledBack,
            Error::RollbackFailed(_) => Code::RollbackFailed,
        }
    }

    /// Which exit-code class this error belongs to.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InFile { source, .. } | Error::WithBackup { source, .. } => source.class(),
            Error::Refused(_) | Error::Blocked { .. } | Error::Unsupported { .. } => {
                ErrorClass::Refused
            }
            Error::Usage(_) => ErrorClass::Usage,
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
    fn codes_follow_the_variant_and_keep_through_in_file() {
        let e = Error::refused(Code::Mounted, "mounted").in_file("/dev/x");
        assert_eq!(e.code(), Code::Mounted);
        assert_eq!(e.class(), ErrorClass::Refused);
        assert_eq!(e.code().as_str(), "mounted");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = Error::io("opening /dev/sdz", denied);
        assert_eq!(e.code(), Code::PermissionDenied);
        assert_eq!(
            e.to_string(),
            "opening /dev/sdz: permission denied: run as root"
        );
        assert_eq!(Error::Usage("bad".into()).class(), ErrorClass::Usage);
        assert_eq!(truncated("x", 0, 1, 0).code(), Code::Malformed);
    }

    #[test]
    fn the_backup_bundle_travels_with_the_error() {
        let e = Error::RolledBack("x".into()).with_backup("/bk/b1");
        assert_eq!(e.class(), ErrorClass::RolledBack);
        assert_eq!(e.code(), Code::RolledBack);
        assert_eq!(e.to_string(), "verification failed, original restored: x");
        let e = e.in_file("/x/SYSTEM").with_backup("/bk/b2");
        assert_eq!(e.backup(), Some(Path::new("/bk/b1")));
        assert_eq!(Error::Refused("r".into()).backup(), None);
    }

    #[test]
    fn a_warning_is_its_message_in_a_report() {
        let w = Warning::new(Code::LogsReplayed, "SYSTEM is dirty");
        assert_eq!(serde_json::to_string(&w).unwrap(), r#""SYSTEM is dirty""#);
        assert_eq!(w.code.as_str(), "logs-replayed");
        assert_eq!(w.to_string(), "SYSTEM is dirty");
    }

    #[test]
    fn offsets_are_printed_in_hex() {
        let e = truncated("hive bin", 0x1000, 0x20, 0x1010);
        assert!(e.to_string().contains("byte offset 0x1000"), "{e}");
    }
}
