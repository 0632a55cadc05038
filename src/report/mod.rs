// SPDX-License-Identifier: GPL-2.0-or-later
//! The report model shared by the human and JSON renderers.
//!
//! The JSON form is this model serialised with serde; `docs/json-schema.md`
//! documents it field by field. Its top-level `schema` is
//! [`SCHEMA`]; fields are only ever added within a schema version.

pub mod diagnose;
pub mod envelope;
pub mod forensic;

use serde::Serialize;

pub mod accounts;
pub mod get;
pub mod locate;
pub mod nla;

use crate::format::regf::base_block::BaseBlock;
use crate::hive::reader::{KeyState, NamedValue};
use crate::storage::source::{LoadedFile, SourceKind};
use crate::util::time::filetime_iso;

/// Version tag of the JSON documents ntrescue prints.
pub const SCHEMA: &str = "ntrescue/v1";

/// Name and version of the tool.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Tool {
    /// "ntrescue".
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// The git commit the binary was built from (embedded by `build.rs`),
    /// "unknown" when it was built outside a git checkout.
    pub commit: &'static str,
}

/// This build's [`Tool`].
pub const TOOL: Tool = Tool {
    name: "ntrescue",
    version: env!("CARGO_PKG_VERSION"),
    commit: env!("NTRESCUE_GIT_COMMIT"),
};

/// Facts about one run, added to every JSON document as `run`, for
/// evidence records: when, how and where the tool ran.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RunInfo {
    /// UTC time the run started (ISO-8601, seconds).
    pub started_utc: String,
    /// The command line, one entry per argument (invalid UTF-8 replaced).
    pub command_line: Vec<String>,
    /// Tool version.
    pub version: &'static str,
    /// The commit the tool was built from ([`Tool::commit`]).
    pub commit: &'static str,
    /// Host name of the machine that ran it, null when unknown.
    pub host: Option<String>,
}

impl RunInfo {
    /// This run: now, with `args` as its command line.
    pub fn capture(args: impl IntoIterator<Item = std::ffi::OsString>) -> Self {
        RunInfo {
            started_utc: crate::util::time::now_iso(),
            command_line: args
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            version: TOOL.version,
            commit: TOOL.commit,
            host: host_name(),
        }
    }
}

/// This run's metadata, captured once, on first use (early in `run`).
static RUN: std::sync::OnceLock<RunInfo> = std::sync::OnceLock::new();

/// This run's metadata ([`RunInfo::capture`] of the process arguments).
pub fn run_info() -> &'static RunInfo {
    RUN.get_or_init(|| RunInfo::capture(std::env::args_os()))
}

/// Records this run's metadata with `args` as its command line (a usage
/// error's arguments with secrets taken out); no effect once captured.
pub fn set_run_args(args: Vec<std::ffi::OsString>) {
    let _ = RUN.set(RunInfo::capture(args));
}

/// The kernel's host name (Linux `/proc/sys/kernel/hostname`), else the
/// `HOSTNAME` (Unix shells) or `COMPUTERNAME` (Windows) variable.
pub fn host_name() -> Option<String> {
    let clean = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(clean)
        .or_else(|| std::env::var("HOSTNAME").ok().and_then(clean))
        .or_else(|| std::env::var("COMPUTERNAME").ok().and_then(clean))
}

/// Which image of a hive a report describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    /// The primary file as stored (a clean hive, or a dirty one with
    /// nothing Windows would replay).
    Stored,
    /// A dirty hive after its logs were replayed, as Windows will load it.
    AfterReplay,
}

/// What was opened.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SourceInfo {
    /// Kind of source.
    pub kind: SourceKind,
    /// The path given.
    pub path: String,
}

/// A file's identity.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct FileInfo {
    /// Path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex; null when the file was not read whole (a
    /// primary read on demand: `--verify` or `--hash` reads and hashes it).
    pub sha256: Option<String>,
    /// MD5, lower-case hex, when `--hash` asks for it (else null).
    pub md5: Option<String>,
    /// SHA-1, lower-case hex, when `--hash` asks for it (else null).
    pub sha1: Option<String>,
    /// The file's NTFS timestamps when it was read from a raw NTFS volume
    /// (null for a file read through the OS).
    pub ntfs_times: Option<crate::storage::ntfs::FileTimes>,
}

impl From<&LoadedFile> for FileInfo {
    fn from(f: &LoadedFile) -> Self {
        FileInfo {
            path: f.path.display().to_string(),
            size: f.bytes.len() as u64,
            sha256: Some(f.sha256.clone()),
            md5: None,
            sha1: None,
            ntfs_times: ntfs_times(&f.origin),
        }
    }
}

impl From<&crate::storage::source::LogFile> for FileInfo {
    /// A log beside a hive read on demand: hashed when it was read.
    fn from(l: &crate::storage::source::LogFile) -> Self {
        match l {
            crate::storage::source::LogFile::Read(f) => FileInfo::from(f),
            crate::storage::source::LogFile::Unread { path, origin, size } => FileInfo {
                path: path.display().to_string(),
                size: *size,
                sha256: None,
                md5: None,
                sha1: None,
                ntfs_times: ntfs_times(origin),
            },
        }
    }
}

impl From<&crate::storage::source::LazyHive> for FileInfo {
    /// A primary read on demand: not hashed.
    fn from(h: &crate::storage::source::LazyHive) -> Self {
        FileInfo {
            path: h.path.display().to_string(),
            size: h.size,
            sha256: None,
            md5: None,
            sha1: None,
            ntfs_times: ntfs_times(&h.origin),
        }
    }
}

/// The NTFS timestamps of a file read from a raw NTFS volume.
pub fn ntfs_times(r: &crate::storage::source::FileRef) -> Option<crate::storage::ntfs::FileTimes> {
    match r {
        crate::storage::source::FileRef::Ntfs { loc, .. } => Some(loc.times.clone()),
        crate::storage::source::FileRef::Path(_) => None,
    }
}

impl FileInfo {
    /// The facts of `f` with the MD5 / SHA-1 digests of `algs` (SHA-256 is
    /// always there: it was computed while the file was read).
    pub fn hashed(f: &LoadedFile, algs: &[crate::util::digest::HashAlg]) -> Self {
        use crate::util::digest::HashAlg;
        let extra: Vec<HashAlg> = algs
            .iter()
            .copied()
            .filter(|a| *a != HashAlg::Sha256)
            .collect();
        let h = crate::util::digest::hashes(&f.bytes, &extra);
        FileInfo {
            md5: h.md5,
            sha1: h.sha1,
            ..FileInfo::from(f)
        }
    }
}

/// Base block facts.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BaseBlockInfo {
    /// The file signature (`regf`).
    pub signature: &'static str,
    /// Primary sequence number.
    pub sequence1: u32,
    /// Secondary sequence number.
    pub sequence2: u32,
    /// Dirty: sequence numbers differ or checksum invalid.
    pub dirty: bool,
    /// Stored checksum equals the computed one.
    pub checksum_valid: bool,
    /// Stored checksum.
    pub checksum_stored: u32,
    /// Computed checksum.
    pub checksum_computed: u32,
    /// Last-written time (ISO-8601 UTC), null when the field is 0.
    pub last_written: Option<String>,
    /// Raw FILETIME, a hex string (`0x` and 16 digits).
    #[serde(with = "crate::util::hex64")]
    #[schemars(with = "crate::util::hex64::Hex64")]
    pub last_written_filetime: u64,
    /// "major.minor".
    pub version: String,
    /// What the minor version means.
    pub format: &'static str,
    /// File type field (0 = primary).
    pub file_type: u32,
    /// Hive bins data size.
    pub hive_bins_size: u32,
    /// Root cell offset (relative to 4096).
    pub root_cell_offset: u32,
    /// Flags field.
    pub flags: u32,
    /// File name embedded in the base block.
    pub embedded_file_name: String,
}

impl From<&BaseBlock> for BaseBlockInfo {
    fn from(b: &BaseBlock) -> Self {
        BaseBlockInfo {
            signature: "regf",
            sequence1: b.seq1,
            sequence2: b.seq2,
            dirty: b.is_dirty(),
            checksum_valid: b.checksum_valid(),
            checksum_stored: b.checksum,
            checksum_computed: b.computed_checksum,
            last_written: filetime_iso(b.timestamp),
            last_written_filetime: b.timestamp,
            version: format!("{}.{}", b.major, b.minor),
            format: b.format_name(),
            file_type: b.file_type,
            hive_bins_size: b.hive_bins_size,
            root_cell_offset: b.root_cell,
            flags: b.flags,
            embedded_file_name: b.file_name.clone(),
        }
    }
}

/// Result of the structural walk of bins and cells.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct StructureInfo {
    /// Whether every bin and cell checked out.
    pub ok: bool,
    /// Hive bins.
    pub bins: u32,
    /// Allocated cells.
    pub used_cells: u64,
    /// Free cells.
    pub free_cells: u64,
    /// Bytes in free cells.
    pub free_bytes: u64,
    /// The first error found, with its byte offset.
    pub error: Option<String>,
}

/// One hive file with its logs.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct HiveReport {
    /// The primary file.
    pub file: FileInfo,
    /// Transaction logs found beside it.
    pub logs: Vec<FileInfo>,
    /// Base block.
    pub base_block: BaseBlockInfo,
    /// Structure check of every bin and cell; null when the primary was
    /// read on demand (`--verify` walks it).
    pub structure: Option<StructureInfo>,
    /// Highest sequence number in the primary, any valid log base block or
    /// log entry (a write must go above it); null if the logs could not be
    /// read, or were not: beside a clean primary read on demand (Windows
    /// loads it without them; `--verify` reads them).
    pub max_sequence_seen: Option<u32>,
}

/// A reported value whose data the log replay changes.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ReplayChange {
    /// Control set.
    pub control_set: String,
    /// Value name.
    pub value: String,
    /// As stored in the primary file.
    pub stored: crate::hive::reader::ValueState,
    /// As Windows will load it.
    pub after: crate::hive::reader::ValueState,
}

/// A dirty hive as Windows will load it, after replaying its logs.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AfterReplay {
    /// Whether any log data was applied.
    pub replayed: bool,
    /// What was applied, why replay stopped, what each log holds.
    pub replay: crate::hive::reconcile::ReplayInfo,
    /// `Select` after replay.
    pub select: SelectInfo,
    /// Control sets after replay.
    pub control_sets: Vec<ControlSetReport>,
    /// Reported values the replay changes.
    pub changed_values: Vec<ReplayChange>,
    /// Every key and value the replay adds, removes or changes, over the
    /// whole tree (`None` when the stored tree cannot be walked).
    pub tree_changes: Option<crate::format::regf::diff::TreeDiff>,
}

/// NLA state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Nla {
    /// Network Level Authentication is required.
    Required,
    /// NLA is not required.
    Off,
    /// Control sets disagree.
    Mixed,
    /// Values unreadable or incomplete.
    Unknown,
}

impl Nla {
    /// Combines several verdicts: all equal → that one, else mixed
    /// (unknown wins over everything).
    pub fn combine(items: impl IntoIterator<Item = Nla>) -> Nla {
        let mut acc: Option<Nla> = None;
        for n in items {
            acc = Some(match (acc, n) {
                (_, Nla::Unknown) | (Some(Nla::Unknown), _) => Nla::Unknown,
                (None, n) => n,
                (Some(a), n) if a == n => a,
                _ => Nla::Mixed,
            });
        }
        acc.unwrap_or(Nla::Unknown)
    }

    /// Text for humans.
    pub fn text(self) -> &'static str {
        match self {
            Nla::Required => "NLA required",
            Nla::Off => "NLA off",
            Nla::Mixed => "mixed",
            Nla::Unknown => "unknown",
        }
    }
}

/// `SYSTEM\Select`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SelectInfo {
    /// State of the Select key.
    pub key: KeyState,
    /// Current, Default, Failed, LastKnownGood.
    pub values: Vec<NamedValue>,
    /// The control set Windows boots by default (`Default`, else `Current`).
    pub boot_control_set: Option<String>,
}

/// One control set.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ControlSetReport {
    /// `ControlSet001`...
    pub name: String,
    /// The number.
    pub number: u32,
    /// Which `Select` values name this set (current, default, last-known-good, failed).
    pub roles: Vec<&'static str>,
    /// `Control\Terminal Server`.
    pub terminal_server: KeyState,
    /// `Control\Terminal Server\WinStations\RDP-Tcp`.
    pub rdp_tcp: KeyState,
    /// fDenyTSConnections, SecurityLayer, UserAuthentication,
    /// fAllowSecProtocolNegotiation, PortNumber, MinEncryptionLevel.
    pub values: Vec<NamedValue>,
    /// NLA verdict for this set.
    pub nla: Nla,
    /// Why `nla` is unknown (e.g. "no RDP-Tcp listener ('RDP-Tcp' missing)");
    /// null otherwise.
    pub nla_reason: Option<String>,
    /// RDP connections allowed (fDenyTSConnections == 0); null if unknown,
    /// and always null without a readable RDP-Tcp listener key.
    pub rdp_enabled: Option<bool>,
}

impl ControlSetReport {
    /// The named value's state.
    pub fn value(&self, name: &str) -> Option<&NamedValue> {
        self.values.iter().find(|v| v.name == name)
    }
}

/// Windows version facts from SOFTWARE.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct WindowsInfo {
    /// ProductName.
    pub product_name: Option<String>,
    /// DisplayVersion (or ReleaseId).
    pub display_version: Option<String>,
    /// CurrentBuild.
    pub current_build: Option<String>,
    /// InstallationType ("Server", "Client").
    pub installation_type: Option<String>,
}

/// The SOFTWARE hive's relevant content.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SoftwareReport {
    /// File facts.
    pub hive: HiveReport,
    /// Windows version.
    pub windows: WindowsInfo,
    /// `Policies\Microsoft\Windows NT\Terminal Services`.
    pub policy_key: KeyState,
    /// Its values; present ones override the SYSTEM values.
    pub policy_values: Vec<NamedValue>,
    /// Names of values present in the policy key (they override SYSTEM).
    pub overrides: Vec<String>,
    /// Names of policy values that cannot be read (they may override
    /// SYSTEM: what they govern is unknown).
    pub unreadable: Vec<String>,
}

/// Overall verdict.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Verdict {
    /// Combined over every control set: required / off / mixed / unknown.
    pub nla: Nla,
    /// The boot control set's verdict.
    pub boot_set_nla: Nla,
    /// What Windows will enforce, Group Policy included.
    pub effective_nla: Nla,
    /// RDP allowed in the boot set, policy included; null if unknown.
    pub rdp_enabled: Option<bool>,
    /// Whether a Group Policy value overrides the SYSTEM values.
    pub policy_overrides: bool,
    /// Codes of the blockers the diagnose rules find (`ntrescue diagnose`
    /// explains each), each once, in report order: `diagnose.blocker_codes`.
    /// Any blocker makes `rdp_enabled` false.
    pub blockers: Vec<&'static str>,
    /// The verdict of the diagnose rules over the same hives (SYSTEM,
    /// SOFTWARE, SAM, SECURITY, the BCD store), from the same evaluation and
    /// counted by the same function: the very object `diagnose` prints as
    /// its `verdict`. Null when the rules could not run (`diagnose-failed`).
    pub diagnose: Option<crate::report::diagnose::DiagnoseVerdict>,
    /// Rows of rdp-causes.md the rules could not check, and why (a hive
    /// missing or unreadable, the BCD store of a source that is not a disk),
    /// as `diagnose` lists them.
    pub not_checked: Vec<crate::report::diagnose::NotChecked>,
    /// SAM and SECURITY when missing or unreadable (state and why); empty
    /// when both were read.
    pub hives_not_read: Vec<crate::report::diagnose::HiveStatus>,
}

/// What `inspect` prints.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct InspectReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Tool name and version.
    pub tool: Tool,
    /// "inspect".
    pub command: &'static str,
    /// Verdicts (first, so that a reader of the first bytes has them).
    pub verdict: Verdict,
    /// Which view the verdict describes: "stored" or "after-replay".
    pub verdict_source: View,
    /// What was opened.
    pub source: SourceInfo,
    /// SHA-256 of the whole source (`--hash-source`), for evidence records.
    pub source_sha256: Option<String>,
    /// Every digest of the whole source `--hash` asked for (`--hash-source`).
    pub source_hashes: Option<crate::util::digest::Hashes>,
    /// Why `--hash-source` hashed nothing (a directory source).
    pub source_hash_error: Option<String>,
    /// For disk and volume sources: partition, volume and file locations,
    /// and the safety facts (dirty volume, hibernation, mounts).
    pub disk: Option<DiskFacts>,
    /// SYSTEM hive facts.
    pub system: HiveReport,
    /// `Select`.
    pub select: SelectInfo,
    /// `ComputerName` of the boot control set.
    pub computer_name: Option<String>,
    /// Every control set, as stored in the primary file.
    pub control_sets: Vec<ControlSetReport>,
    /// For a dirty hive: the same after log replay (what Windows loads).
    pub after_replay: Option<AfterReplay>,
    /// SOFTWARE hive, when found.
    pub software: Option<SoftwareReport>,
    /// What an examiner looks for beside NLA (Remote Assistance, shadowing,
    /// the program a session starts, the logon-screen debugger hijack),
    /// read-only, with the unusual values flagged; null when the rules could
    /// not run.
    pub forensic: Option<forensic::ForensicReport>,
    /// Things the operator should know.
    pub warnings: Vec<crate::error::Warning>,
}

/// Disk facts in an inspect report.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DiskFacts {
    /// The Windows volume found.
    #[serde(flatten)]
    pub windows: crate::storage::disk::WindowsVolume,
    /// Mount points using the disk (a write would be refused).
    pub mounted: Vec<String>,
}
