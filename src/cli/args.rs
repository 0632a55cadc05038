// SPDX-License-Identifier: GPL-2.0-or-later
//! Command-line definition (clap derive). Only parsing lives here.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::cli::exit::EXIT_CODES_HELP;

/// Inspect and repair the registry of a detached Windows system disk.
///
/// SOURCE is a whole disk (block device or raw image, GPT or MBR), one NTFS
/// partition (device or image), a SYSTEM hive file (its .LOG1/.LOG2 are
/// found beside it), or the root of a mounted Windows volume (or its config
/// directory). Disks and volumes are read without mounting anything.
#[derive(Debug, Parser)]
#[command(name = "ntrescue", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// `--partition N` before the subcommand, as earlier versions took it
    /// (hidden: it is an option of the commands that open a source).
    #[arg(long = "partition", id = "partition_before", hide = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub partition: Option<u32>,
    /// Forensic mode: never write anything (edits are refused unless --dry-run; restore is refused).
    #[arg(long, global = true, env = "NTRESCUE_READ_ONLY", value_parser = clap::builder::BoolishValueParser::new())]
    pub read_only: bool,
    /// Print one line of JSON: outcome, exit code, codes, command, source,
    /// backup bundle, verdict (instead of the text or the full document).
    #[arg(long, global = true)]
    pub summary: bool,
    /// Also write the full JSON document to FILE (atomically: a new file
    /// renamed over FILE), whatever is printed.
    #[arg(short = 'o', long = "result-file", global = true, value_name = "FILE")]
    pub result_file: Option<PathBuf>,
    /// Include large detail in the JSON document (inspect: every key and
    /// value the log replay of a dirty hive changes, `after_replay.tree_changes`;
    /// it needs the whole hive, so it implies --verify).
    #[arg(long, global = true)]
    pub detail: bool,
    /// Colour in the text output.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

/// When to colour the text output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// When printing to a terminal and NO_COLOR is unset or empty.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The option of every command that opens a source.
#[derive(Debug, Args)]
pub struct PartitionArg {
    /// On a disk with several Windows partitions, the one to use (1-based, as the OS numbers them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub partition: Option<u32>,
}

/// Options shared by every command that writes.
#[derive(Debug, Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub part: PartitionArg,
    /// Print the plan (set, value, old -> new), verify it in memory, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the edited SYSTEM hive to this new file instead of in place (hive-file sources).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Where to create the backup bundle [default: ./ntrescue-backups].
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Proceed on a dirty hive whose transaction logs are missing; what they
    /// held is lost either way, and the hive is written clean.
    #[arg(long)]
    pub allow_dirty_without_logs: bool,
    /// Print one JSON document (schema ntrescue/v1) instead of text.
    #[arg(long)]
    pub json: bool,
    /// If another run holds the lock on the target, wait up to this many
    /// seconds for it instead of refusing at once.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
}

/// Arguments clap builds only when the command line reaches them
/// ([`clap::Command::defer`]): a run builds the top level and its own
/// subcommand, not the argument lists of every other command (most of the
/// start-up time of a short read command otherwise).
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T> std::ops::Deref for Deferred<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Deferred)
    }
    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Deferred)
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
    fn update_from_arg_matches_mut(&mut self, m: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

impl<T: Subcommand> Subcommand for Deferred<T> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        later(cmd, T::augment_subcommands, subcommands_later::<T>)
    }
    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        later(
            cmd,
            T::augment_subcommands_for_update,
            subcommands_for_update_later::<T>,
        )
    }
    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

impl<T: Args> Args for Deferred<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
    fn augment_args(cmd: clap::Command) -> clap::Command {
        later(cmd, T::augment_args, args_later::<T>)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        later(cmd, T::augment_args_for_update, args_for_update_later::<T>)
    }
}

thread_local! {
    /// Set while [`full_command`] builds the tree on this thread: nothing is
    /// deferred. Per thread: a tree built on another thread at the same
    /// time (tests run in parallel) must not see it switched off midway.
    static EAGER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The whole command tree with every argument list built, as the
/// completion scripts, the man page and the definition's own checks need
/// it (a deferred list is built only when parsing reaches its command).
pub fn full_command() -> clap::Command {
    use clap::CommandFactory;
    EAGER.set(true);
    let cmd = Cli::command();
    EAGER.set(false);
    cmd
}

/// `now` applied to `cmd` at once while [`full_command`] runs, else
/// `deferred` when parsing reaches `cmd`.
fn later(
    cmd: clap::Command,
    now: fn(clap::Command) -> clap::Command,
    deferred: fn(clap::Command) -> clap::Command,
) -> clap::Command {
    if EAGER.get() {
        now(cmd)
    } else {
        cmd.defer(deferred)
    }
}

/// Applies `f` to a command whose own description is already set (by the
/// variant that holds the deferred part): the description of the type
/// `f` comes from must not replace it, as it does not when built at once
/// (the variant's attributes are applied after its fields').
fn keeping_about(cmd: clap::Command, f: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = f(cmd);
    let cmd = match about {
        Some(a) => cmd.about(a),
        None => cmd.about(None),
    };
    match long_about {
        Some(a) => cmd.long_about(a),
        None => cmd.long_about(None),
    }
}

fn subcommands_later<T: Subcommand>(cmd: clap::Command) -> clap::Command {
    keeping_about(cmd, T::augment_subcommands)
}

fn subcommands_for_update_later<T: Subcommand>(cmd: clap::Command) -> clap::Command {
    keeping_about(cmd, T::augment_subcommands_for_update)
}

fn args_later<T: Args>(cmd: clap::Command) -> clap::Command {
    keeping_about(cmd, T::augment_args)
}

fn args_for_update_later<T: Args>(cmd: clap::Command) -> clap::Command {
    keeping_about(cmd, T::augment_args_for_update)
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report hive facts and the RDP/NLA state of every control set (read-only).
    #[command(
        after_help = "Examples:\n  ntrescue inspect /dev/nvme1n1\n  ntrescue inspect disk.img --json --detail -o inspect.json\n  ntrescue inspect /mnt/win/Windows/System32/config/SYSTEM --summary"
    )]
    Inspect(Deferred<InspectArgs>),
    /// Every cause of "cannot RDP" the hives show, each with its fix (read-only).
    #[command(
        after_help = "Examples:\n  ntrescue diagnose /dev/nvme1n1\n  ntrescue diagnose /dev/sdc --json -o diagnose.json"
    )]
    Diagnose(Deferred<DiagnoseArgs>),
    /// List disks and partitions and which hold Windows (read-only).
    #[command(
        after_help = "Examples:\n  ntrescue locate\n  ntrescue locate /dev/nvme1n1 disk.img --json"
    )]
    Locate(Deferred<LocateArgs>),
    /// Turn Network Level Authentication off (0/0/0) or back on (1/1/1) in every control set.
    #[command(
        after_help = "Examples:\n  ntrescue nla disable /dev/nvme1n1 --dry-run\n  ntrescue nla disable /dev/nvme1n1 --include-policy --backup-dir /root/bk --summary\n  ntrescue nla enable /dev/nvme1n1"
    )]
    Nla {
        #[command(subcommand)]
        action: Deferred<NlaAction>,
    },
    /// Remote Desktop fixes.
    #[command(
        after_help = "Examples:\n  ntrescue rdp enable /dev/nvme1n1\n  ntrescue rdp repair /dev/nvme1n1 --dry-run\n  ntrescue rdp port /dev/nvme1n1 --set 3390"
    )]
    Rdp {
        #[command(subcommand)]
        action: Deferred<RdpAction>,
    },
    /// Set a service's start type in every control set (e.g. disable a driver that crashes the boot).
    #[command(
        after_help = "Examples:\n  ntrescue service /dev/nvme1n1 TermService --start manual --dry-run\n  ntrescue service /dev/sdc BadDriver --start disabled --json"
    )]
    Service(Deferred<ServiceArgs>),
    /// Read a key or a value (read-only).
    #[command(
        after_help = "Examples:\n  ntrescue get /dev/nvme1n1 'SYSTEM\\CurrentControlSet\\Control\\Terminal Server' fDenyTSConnections\n  ntrescue get SYSTEM 'SYSTEM\\Select' --json"
    )]
    Get(Deferred<GetArgs>),
    /// Set (or create) a value.
    #[command(
        after_help = "Examples:\n  ntrescue set /dev/nvme1n1 'SYSTEM\\CurrentControlSet\\Control\\Terminal Server' fDenyTSConnections --type dword --data 0 --dry-run\n  ntrescue set SYSTEM 'SYSTEM\\Setup' CmdLine --type sz --data 'cmd.exe' --all-control-sets"
    )]
    Set(Deferred<SetArgs>),
    /// Delete a value.
    #[command(
        after_help = "Examples:\n  ntrescue delete-value /dev/nvme1n1 'SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services' fDenyTSConnections --dry-run"
    )]
    DeleteValue(Deferred<DeleteValueArgs>),
    /// Local accounts: list them, or get one back in (enable, unlock, expiry, password, add-to-group).
    #[command(
        after_help = "Examples:\n  ntrescue account list /dev/nvme1n1\n  ntrescue account enable /dev/nvme1n1 Administrator"
    )]
    Account {
        #[command(subcommand)]
        action: Deferred<AccountAction>,
    },
    /// RDP logon rights in SECURITY (Policy\Accounts\<SID>\ActSysAc).
    #[command(after_help = "Examples:\n  ntrescue rights grant-rdp /dev/nvme1n1 S-1-5-32-555")]
    Rights {
        #[command(subcommand)]
        action: Deferred<RightsAction>,
    },
    /// Put a backup bundle back byte-for-byte.
    #[command(
        after_help = "Examples:\n  ntrescue restore ntrescue-backups/20261201T180000Z-nla-disable\n  ntrescue restore /root/bk/20261201T180000Z-nla-disable --json"
    )]
    Restore(Deferred<RestoreArgs>),
    /// Backup bundles: list them, or pack one into a tar file.
    #[command(
        after_help = "Examples:\n  ntrescue backups list\n  ntrescue backups pack ntrescue-backups/20261201T180000Z-1a2b3c4d --tar bundle.tar"
    )]
    Backups {
        #[command(subcommand)]
        action: Deferred<BackupsAction>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  ntrescue completions bash > /etc/bash_completion.d/ntrescue\n  ntrescue completions zsh > ~/.zfunc/_ntrescue"
    )]
    Completions(Deferred<CompletionsArgs>),
    /// Print the man page (roff).
    #[command(
        hide = true,
        after_help = "Examples:\n  ntrescue man | gzip > /usr/share/man/man1/ntrescue.1.gz\n  ntrescue man | man -l -"
    )]
    Man,
}

/// The arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Disk, volume, hive file or mounted Windows tree.
    pub source: PathBuf,
    /// Also hash the whole source (device or image) for evidence records
    /// (implies --verify).
    #[arg(long)]
    pub hash_source: bool,
    /// Digests of the hives, their logs and (with --hash-source) the
    /// source; implies --verify (the hives are read whole). Without it,
    /// SHA-256 of what is read whole.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "ALG,...")]
    pub hash: Vec<HashArg>,
    /// Read the hives whole: sha256 of hives and logs, both readers
    /// cross-checking every value, the full structure walk (forensics).
    /// Without it only the pages the report needs are read.
    #[arg(long)]
    pub verify: bool,
    /// Print one JSON document (schema ntrescue/v1) instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub part: PartitionArg,
}

/// The arguments of `diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Disk, volume, hive file or mounted Windows tree.
    pub source: PathBuf,
    /// How the hives are read.
    #[command(flatten)]
    pub read: DiagnoseRead,
    /// Print one JSON document (schema ntrescue/v1) instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub part: PartitionArg,
}

/// The arguments of `locate`.
#[derive(Debug, Args)]
pub struct LocateArgs {
    /// Disks or images to look at [default: this machine's block devices, except the one holding /].
    pub paths: Vec<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `service`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Disk, volume, hive file or mounted Windows tree.
    pub source: PathBuf,
    /// Service (or driver) key name under Services.
    #[arg(value_parser = service_name)]
    pub name: String,
    /// New start type.
    #[arg(long, value_enum)]
    pub start: StartType,
    #[command(flatten)]
    pub edit: EditArgs,
}

/// The arguments of `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Disk, volume, hive file or mounted Windows tree.
    pub source: PathBuf,
    /// Key path starting with SYSTEM\ or SOFTWARE\ (CurrentControlSet is the set Select\Default boots, else Select\Current).
    pub path: String,
    /// Value name (all values and subkeys when omitted).
    pub value: Option<String>,
    /// Expand CurrentControlSet to every control set.
    #[arg(long)]
    pub all_control_sets: bool,
    /// Read the hive whole: its sha256, and every value read by both
    /// readers (forensics). Without it only the pages of the keys the
    /// path resolves to are read.
    #[arg(long)]
    pub verify: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub part: PartitionArg,
}

/// The arguments of `set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Disk, volume, hive file or mounted Windows tree.
    pub source: PathBuf,
    /// Key path starting with SYSTEM\ or SOFTWARE\ (the key must exist).
    pub path: String,
    /// Value name.
    pub value: String,
    /// Value type.
    #[arg(long = "type", value_enum)]
    pub ty: ValueType,
    /// Data: a number (decimal or 0x-hex), a string, hex bytes for binary;
    /// repeat for each multi-sz item.
    #[arg(long, required = true, allow_hyphen_values = true)]
    pub data: Vec<String>,
    /// Apply to CurrentControlSet in every control set.
    #[arg(long)]
    pub all_control_sets: bool,
    #[command(flatten)]
    pub edit: EditArgs,
}

/// The arguments of `delete-value`.
#[derive(Debug, Args)]
pub struct DeleteValueArgs {
    /// Disk, volume, hive file or mounted Windows tree.
    pub source: PathBuf,
    /// Key path starting with SYSTEM\ or SOFTWARE\.
    pub path: String,
    /// Value name.
    pub value: String,
    /// Apply to CurrentControlSet in every control set.
    #[arg(long)]
    pub all_control_sets: bool,
    #[command(flatten)]
    pub edit: EditArgs,
}

/// The arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The bundle directory (holds manifest.json).
    pub backup: PathBuf,
    /// Restore even if the target no longer matches the state recorded after the write.
    #[arg(long)]
    pub force: bool,
    /// Where to restore to when the target moved since the bundle was made: the disk
    /// or volume under its new device path (matched by volume serial, MFT record and
    /// data runs), or the hive file's new path, or the new root of the mounted tree
    /// (the hive must hold the bundle's before or after state, or a mix of its writes).
    #[arg(long, value_name = "SOURCE")]
    pub target: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `backups` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupsAction {
    /// Every bundle under a backup directory: time, command, source, target identity, hives, state.
    #[command(
        after_help = "Examples:\n  ntrescue backups list\n  ntrescue backups list /var/lib/rescue --json"
    )]
    List {
        /// The backup directory [default: ./ntrescue-backups].
        dir: Option<PathBuf>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Pack a bundle into one tar file (for upload), after checking its hashes.
    #[command(
        after_help = "Examples:\n  ntrescue backups pack ntrescue-backups/20261201T180000Z-1a2b3c4d\n  ntrescue backups pack ntrescue-backups/20261201T180000Z-1a2b3c4d --tar /tmp/bundle.tar --json"
    )]
    Pack {
        /// The bundle directory (holds manifest.json).
        backup: PathBuf,
        /// The tar file to create [default: BUNDLE.tar beside the bundle].
        #[arg(long = "tar", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `rdp` subcommands.
#[derive(Debug, Subcommand)]
pub enum RdpAction {
    /// Allow RDP connections: fDenyTSConnections = 0 in every control set, TermService not disabled.
    #[command(
        after_help = "Examples:\n  ntrescue rdp enable /dev/nvme1n1 --dry-run\n  ntrescue rdp enable /dev/nvme1n1 --include-policy --summary"
    )]
    Enable {
        /// Disk, volume, hive file or mounted Windows tree.
        source: PathBuf,
        /// Also remove a Group Policy fDenyTSConnections that denies RDP.
        #[arg(long)]
        include_policy: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Apply the low-risk fix of every blocker `diagnose` finds in SYSTEM and SOFTWARE, in one edit.
    #[command(
        after_help = "Examples:\n  ntrescue rdp repair /dev/nvme1n1 --dry-run --json\n  ntrescue rdp repair /dev/nvme1n1 --include-policy --firewall-profiles-off --summary -o repair.json"
    )]
    Repair {
        /// Disk, volume, hive file or mounted Windows tree.
        source: PathBuf,
        /// Also remove Group Policy values in SOFTWARE that deny RDP or limit it.
        #[arg(long)]
        include_policy: bool,
        /// Also turn off the firewall profiles that drop the RDP port.
        #[arg(long)]
        firewall_profiles_off: bool,
        /// Also set EnableDHCP=1 on interfaces with a static address.
        #[arg(long)]
        dhcp: bool,
        /// Also put PortNumber back to 3389.
        #[arg(long)]
        reset_port: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Set the RDP listener port (PortNumber) in every control set.
    #[command(
        after_help = "Examples:\n  ntrescue rdp port /dev/nvme1n1 --set 3390\n  ntrescue rdp port /dev/nvme1n1 --reset --dry-run"
    )]
    Port {
        /// Disk, volume, hive file or mounted Windows tree.
        source: PathBuf,
        /// New TCP port (1-65535).
        #[arg(
            long,
            value_name = "PORT",
            conflicts_with = "reset",
            required_unless_present = "reset"
        )]
        set: Option<std::num::NonZeroU16>,
        /// Back to the default, 3389.
        #[arg(long)]
        reset: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
}

/// `account` subcommands. SOURCE is a disk, volume, mounted tree, config
/// directory, or the SAM (or SYSTEM, SECURITY) file with the others beside it.
#[derive(Debug, Subcommand)]
pub enum AccountAction {
    /// Every local account, its flags, groups and logon rights, and whether it may log on over RDP (read-only).
    #[command(
        after_help = "Examples:\n  ntrescue account list /dev/nvme1n1\n  ntrescue account list /mnt/win/Windows/System32/config --json"
    )]
    List {
        /// Disk, volume, mounted Windows tree, config directory or SAM file.
        source: PathBuf,
        /// Read SYSTEM whole and hash it, as SAM and SECURITY are (without
        /// it SYSTEM, only consulted, is read on demand).
        #[arg(long)]
        verify: bool,
        /// Print one JSON document (schema ntrescue/v1) instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        part: PartitionArg,
    },
    /// Enable a disabled account (clears ACB 0x0001 in its F value).
    #[command(
        after_help = "Examples:\n  ntrescue account enable /dev/nvme1n1 Administrator --dry-run"
    )]
    Enable {
        /// Disk, volume, mounted Windows tree, config directory or SAM file.
        source: PathBuf,
        /// Account name.
        name: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Unlock a locked-out account (clears ACB 0x0400 and the bad-password count).
    #[command(after_help = "Examples:\n  ntrescue account unlock /dev/nvme1n1 admin")]
    Unlock {
        /// Disk, volume, mounted Windows tree, config directory or SAM file.
        source: PathBuf,
        /// Account name.
        name: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Set a new password (prompted twice on a terminal), or only fix its expiry.
    #[command(
        after_help = "Examples:\n  ntrescue account password /dev/nvme1n1 admin\n  ntrescue account password /dev/nvme1n1 admin --password-file /root/pw\n  ntrescue account password /dev/nvme1n1 admin --never-expires"
    )]
    Password {
        /// Disk, volume, mounted Windows tree, config directory or SAM file.
        source: PathBuf,
        /// Account name.
        name: String,
        /// Only set "password never expires" (ACB 0x0200); no new password.
        #[arg(long, conflicts_with_all = ["reset_expiry", "password_file", "password_stdin"])]
        never_expires: bool,
        /// Only set PasswordLastSet to now (the password is no longer expired); no new password.
        #[arg(long, conflicts_with_all = ["password_file", "password_stdin"])]
        reset_expiry: bool,
        /// Read the new password from the first line of this file.
        #[arg(long, value_name = "FILE", conflicts_with = "password_stdin")]
        password_file: Option<PathBuf>,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Make an account never expire (AccountExpires in its F value = never; rdp-causes.md row 22).
    #[command(
        after_help = "Examples:\n  ntrescue account expiry /dev/nvme1n1 admin --never --dry-run\n  ntrescue account expiry /mnt/win/Windows/System32/config alice --never --json"
    )]
    Expiry {
        /// Disk, volume, mounted Windows tree, config directory or SAM file.
        source: PathBuf,
        /// Account name.
        name: String,
        /// The account never expires (AccountExpires = 0x7FFFFFFFFFFFFFFF, as Windows writes "never").
        #[arg(long, required = true)]
        never: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Add an account to a local group (default Remote Desktop Users): the alias C value and the reverse map under Aliases\Members.
    #[command(
        after_help = "Examples:\n  ntrescue account add-to-group /dev/nvme1n1 admin --dry-run\n  ntrescue account add-to-group /dev/nvme1n1 admin Administrators\n  ntrescue account add-to-group /dev/nvme1n1 admin 0x22B"
    )]
    AddToGroup {
        /// Disk, volume, mounted Windows tree, config directory or SAM file.
        source: PathBuf,
        /// Account name.
        name: String,
        /// Local group: its name, SID, or RID (decimal, 0x hex, or the 8 hex digits of its key).
        #[arg(default_value = "Remote Desktop Users")]
        group: String,
        #[command(flatten)]
        edit: EditArgs,
    },
}

/// `rights` subcommands.
#[derive(Debug, Subcommand)]
pub enum RightsAction {
    /// Grant SeRemoteInteractiveLogonRight (set 0x400; a SID without a Policy\Accounts key gets one).
    #[command(
        after_help = "Examples:\n  ntrescue rights grant-rdp /dev/nvme1n1 S-1-5-32-555 --dry-run\n  ntrescue rights grant-rdp /dev/nvme1n1 Administrators"
    )]
    GrantRdp {
        /// Disk, volume, mounted Windows tree, config directory or SAM/SECURITY file.
        source: PathBuf,
        /// A SID (S-1-5-32-555) or a local account, group or well-known name.
        #[arg(value_parser = sid_or_name)]
        who: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Remove SeDenyRemoteInteractiveLogonRight (clear 0x800) from a SID.
    #[command(after_help = "Examples:\n  ntrescue rights remove-deny /dev/nvme1n1 S-1-5-32-544")]
    RemoveDeny {
        /// Disk, volume, mounted Windows tree, config directory or SAM/SECURITY file.
        source: PathBuf,
        /// A SID or a local account, group or well-known name.
        #[arg(value_parser = sid_or_name)]
        who: String,
        #[command(flatten)]
        edit: EditArgs,
    },
}

/// `nla` subcommands.
#[derive(Debug, Subcommand)]
pub enum NlaAction {
    /// Turn NLA off: SecurityLayer, UserAuthentication, fAllowSecProtocolNegotiation = 0
    /// in every control set (missing values are created).
    #[command(
        after_help = "Examples:\n  ntrescue nla disable /dev/nvme1n1 --dry-run\n  ntrescue nla disable /dev/nvme1n1 --include-policy --backup-dir /root/bk --summary"
    )]
    Disable(NlaArgs),
    /// Turn NLA back on: the values recorded by the last `nla disable`, else
    /// SecurityLayer, UserAuthentication, fAllowSecProtocolNegotiation = 1.
    #[command(
        after_help = "Examples:\n  ntrescue nla enable /dev/nvme1n1\n  ntrescue nla enable /dev/nvme1n1 --dry-run --json"
    )]
    Enable(NlaArgs),
}

impl NlaAction {
    /// The subcommand's name.
    pub fn name(&self) -> &'static str {
        match self {
            NlaAction::Disable(_) => "disable",
            NlaAction::Enable(_) => "enable",
        }
    }

    /// Its arguments.
    pub fn args(&self) -> &NlaArgs {
        match self {
            NlaAction::Disable(a) | NlaAction::Enable(a) => a,
        }
    }
}

/// The arguments of `nla disable` and `nla enable`.
#[derive(Debug, Args)]
pub struct NlaArgs {
    /// Disk, volume, hive file or mounted Windows tree.
    pub source: PathBuf,
    /// Also remove Group Policy values in SOFTWARE that would override the fix.
    #[arg(long)]
    pub include_policy: bool,
    #[command(flatten)]
    pub edit: EditArgs,
}

/// A service key name: not empty, one key (no backslash).
fn service_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a service name cannot be empty".into());
    }
    if s.contains('\\') {
        return Err(format!(
            "'{s}' is not one key name: a service name has no backslash"
        ));
    }
    Ok(s.to_string())
}

/// A SID (`S-1-...`, which must then be well formed) or a name.
fn sid_or_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a SID or name cannot be empty".into());
    }
    let looks_like_sid = s.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("S-"));
    if looks_like_sid && crate::format::sam::Sid::parse_str(s).is_none() {
        return Err(format!(
            "'{s}' is not a valid SID (S-1-<authority>-<sub-authority>..., decimal numbers, e.g. S-1-5-32-555)"
        ));
    }
    Ok(s.to_string())
}

/// Service start types.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StartType {
    /// 0: loaded by the boot loader.
    Boot,
    /// 1: loaded during kernel initialisation.
    System,
    /// 2: started automatically.
    Automatic,
    /// 3: started on demand.
    Manual,
    /// 4: never started.
    Disabled,
}

impl StartType {
    /// The `Start` DWORD.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// Value types for `set`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ValueType {
    /// REG_DWORD
    Dword,
    /// REG_QWORD
    Qword,
    /// REG_SZ
    Sz,
    /// REG_EXPAND_SZ
    ExpandSz,
    /// REG_MULTI_SZ
    MultiSz,
    /// REG_BINARY
    Binary,
}

/// How `diagnose` reads the hives.
#[derive(Debug, Clone, clap::Args)]
pub struct DiagnoseRead {
    /// Read the hives whole and cross-check every value with a second
    /// reader; without it only the pages the checks need are read.
    #[arg(long)]
    pub verify: bool,
    /// Digests of the hives and logs read (listed in `hives[].files`);
    /// implies --verify (the hives are read whole).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "ALG,...")]
    pub hash: Vec<HashArg>,
}

/// A digest `--hash` computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HashArg {
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256 (always computed for every file read whole).
    Sha256,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let example = format!("ntrescue{name}");
            if !help.starts_with("Examples:\n") || !help.contains(&example) {
                out.push(name.clone());
            }
            walk(sub, &name, out);
        }
    }

    fn paths(cmd: &clap::Command, path: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut p = path.to_vec();
            p.push(sub.get_name().to_string());
            out.push(p.clone());
            paths(sub, &p, out);
        }
    }

    /// The deferred argument lists give every command the help (and so
    /// the arguments, descriptions and examples) the tree built at once
    /// gives it: parsing `--help` and `-h` through both trees renders the same.
    #[test]
    fn deferred_arguments_parse_as_the_whole_tree() {
        let mut all = vec![Vec::new()];
        paths(&full_command(), &[], &mut all);
        assert!(all.len() > 30, "{}", all.len());
        for path in all {
            for flag in ["--help", "-h"] {
                let mut argv = vec!["ntrescue".to_string()];
                argv.extend(path.iter().cloned());
                argv.push(flag.into());
                let lazy = Cli::try_parse_from(&argv).unwrap_err().render().to_string();
                let whole = full_command()
                    .try_get_matches_from(&argv)
                    .unwrap_err()
                    .render()
                    .to_string();
                assert_eq!(lazy, whole, "{argv:?}");
            }
        }
    }

    #[test]
    fn every_subcommand_has_examples_of_itself() {
        let cmd = full_command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "", &mut missing);
        assert!(missing.is_empty(), "no examples in --help of: {missing:?}");
    }

    /// `--partition` belongs to the commands that open a source (and is
    /// still taken before the subcommand); the others reject it.
    #[test]
    fn partition_only_where_a_source_is_opened() {
        let ok = |args: &[&str]| {
            let mut v = vec!["ntrescue"];
            v.extend(args);
            Cli::try_parse_from(v).map(|_| ()).map_err(|e| e.kind())
        };
        for args in [
            &["inspect", "x", "--partition", "2"][..],
            &["diagnose", "x", "--partition", "2"],
            &["get", "x", "SYSTEM\\Select", "--partition", "2"],
            &["nla", "disable", "x", "--partition", "2"],
            &["rdp", "repair", "x", "--partition", "2"],
            &["service", "x", "S", "--start", "manual", "--partition", "2"],
            &["account", "list", "x", "--partition", "2"],
            &[
                "rights",
                "grant-rdp",
                "x",
                "S-1-5-32-555",
                "--partition",
                "2",
            ],
            &["--partition", "2", "inspect", "x"],
        ] {
            assert_eq!(ok(args), Ok(()), "{args:?}");
        }
        let unknown = Err(clap::error::ErrorKind::UnknownArgument);
        for args in [
            &["backups", "list", "--partition", "2"][..],
            &["restore", "b", "--partition", "2"],
            &["locate", "--partition", "2"],
            &["completions", "bash", "--partition", "2"],
        ] {
            assert_eq!(ok(args), unknown, "{args:?}");
        }
        let help = full_command().render_help().to_string();
        assert!(!help.contains("--partition"), "{help}");
    }

    #[test]
    fn nla_takes_subcommands_and_operator_values_are_checked() {
        let parse = |args: &[&str]| {
            let mut v = vec!["ntrescue"];
            v.extend(args);
            Cli::try_parse_from(v)
        };
        let cli = parse(&["nla", "disable", "x", "--dry-run", "--include-policy"]).unwrap();
        match cli.command {
            Command::Nla {
                action: Deferred(NlaAction::Disable(a)),
            } => assert!(a.edit.dry_run && a.include_policy && a.source == Path::new("x")),
            c => panic!("{c:?}"),
        }
        assert!(matches!(
            parse(&["nla", "enable", "x"]).unwrap().command,
            Command::Nla {
                action: Deferred(NlaAction::Enable(_))
            }
        ));
        let kind = |args: &[&str]| parse(args).map(|_| ()).map_err(|e| e.kind());
        let invalid = Err(clap::error::ErrorKind::ValueValidation);
        assert_eq!(
            kind(&["nla", "toggle", "x"]),
            Err(clap::error::ErrorKind::InvalidSubcommand)
        );
        assert_eq!(kind(&["service", "x", "", "--start", "manual"]), invalid);
        assert_eq!(
            kind(&["service", "x", "a\\b", "--start", "manual"]),
            invalid
        );
        assert_eq!(kind(&["rights", "grant-rdp", "x", "S-1-5-x"]), invalid);
        assert_eq!(kind(&["rights", "remove-deny", "x", "s-1"]), invalid);
        assert_eq!(kind(&["rights", "grant-rdp", "x", "S-1-5-32-555"]), Ok(()));
        assert_eq!(
            kind(&["rights", "grant-rdp", "x", "Administrators"]),
            Ok(())
        );
    }

    #[test]
    fn partition_zero_and_the_port_name_are_usage() {
        let e = Cli::try_parse_from(["ntrescue", "--partition", "0", "inspect", "x"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        let e = Cli::try_parse_from(["ntrescue", "inspect", "x", "--partition", "0"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        let help = full_command()
            .find_subcommand_mut("rdp")
            .unwrap()
            .find_subcommand_mut("port")
            .unwrap()
            .render_help()
            .to_string();
        assert!(help.contains("--set <PORT>"), "{help}");
    }
}
