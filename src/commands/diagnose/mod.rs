// SPDX-License-Identifier: GPL-2.0-or-later
//! `diagnose`: every cause of "cannot RDP" the hives show (rdp-causes.md),
//! in every control set, each with its fix. Read-only, like `inspect`.
//!
//! One module per group of rows; each adds [`Finding`]s. The same rules
//! give `inspect` its verdict and `rdp repair` its plan, so the three never
//! disagree.

pub mod accounts;
pub mod bcd;
pub mod boot;
pub mod forensic;
pub mod hives;
pub mod lsa;
pub mod network;
pub mod probe;
pub mod protocol;
pub mod service;

use crate::commands::input::ReadMode;
use crate::error::{Code, Error, Result, Warning};
use crate::hive::path::current_control_set;
use crate::hive::reader::Reader;
use crate::report::diagnose::{DiagnoseReport, DiagnoseVerdict, Finding, HiveStatus, NotChecked};
use crate::report::{SourceInfo, WindowsInfo, SCHEMA, TOOL};
use crate::storage::lazy::ReadStats;
use crate::storage::source::Located;
use crate::util::digest::HashAlg;

pub use probe::Hives;
use probe::{Ctx, KeyRead};

/// What the rules found.
pub struct Diagnosis {
    /// Findings, blockers first.
    pub findings: Vec<Finding>,
    /// Rows not checked.
    pub not_checked: Vec<NotChecked>,
    /// Every control set.
    pub sets: Vec<String>,
    /// The set that boots.
    pub boot: Option<String>,
    /// Every existing key the rules read, with its last-write time.
    pub keys_read: Vec<crate::report::diagnose::KeyTime>,
}

/// Rows that need SOFTWARE (wholly or for their policy part).
const SOFTWARE_ROWS: [u8; 9] = [2, 6, 7, 9, 10, 11, 16, 27, 31];

/// The Windows build: SOFTWARE `CurrentBuild`; without it, the first build
/// of Windows 8 when SYSTEM's markers say Windows 8 or later
/// (`hive::release`), and a listener without a `SecurityLayer` value means a
/// release before Vista (XP/2003).
fn build_of(h: &Hives<'_>, boot: Option<&str>) -> Option<u32> {
    if let Some(sw) = h.software {
        let k = KeyRead::new(
            sw,
            "SOFTWARE",
            r"Microsoft\Windows NT\CurrentVersion".into(),
        );
        if let Some(b) = k.string("CurrentBuild").and_then(|s| s.trim().parse().ok()) {
            return Some(b);
        }
    }
    if crate::hive::release::from_system(h.system)
        == Some(crate::hive::release::Release::Win8OrLater)
    {
        return Some(probe::BUILD_WIN8);
    }
    let set = boot?;
    let rdp = KeyRead::new(
        h.system,
        "SYSTEM",
        format!(r"{set}\{}", crate::recipes::paths::RDP_TCP_PATH),
    );
    (rdp.exists()
        && matches!(
            rdp.value("SecurityLayer"),
            crate::hive::reader::ValueState::Missing
        ))
    .then_some(2600)
}

/// What every rule reads: the hives, their control sets, the boot set and
/// the Windows build.
fn context<'a>(hives: Hives<'a>, source: &str) -> Result<Ctx<'a>> {
    let sets: Vec<String> = hives
        .system
        .control_sets()?
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    if sets.is_empty() {
        return Err(Error::NotFound(
            "no ControlSetNNN key at the root: not a SYSTEM hive".into(),
        ));
    }
    let boot = current_control_set(hives.system).ok().map(|(s, _)| s);
    Ok(Ctx {
        build: build_of(&hives, boot.as_deref()),
        hives,
        source: source.to_string(),
        sets,
        boot,
        reads: Default::default(),
    })
}

/// The forensic section of `inspect` over `hives` (read-only).
pub fn forensic_section(
    hives: Hives<'_>,
    source: &str,
) -> Result<crate::report::forensic::ForensicReport> {
    Ok(forensic::report(&context(hives, source)?))
}

/// Runs every rule over `hives`; `source` is what fix commands name.
pub fn diagnose_hives(hives: Hives<'_>, source: &str) -> Result<Diagnosis> {
    let ctx = context(hives, source)?;
    let (sets, boot) = (ctx.sets.clone(), ctx.boot.clone());
    let mut findings = Vec::new();
    let mut not_checked = Vec::new();
    service::check(&ctx, &mut findings);
    protocol::check(&ctx, &mut findings);
    network::check(&ctx, &mut findings);
    lsa::check(&ctx, &mut findings);
    boot::check(&ctx, &mut findings);
    forensic::check(&ctx, &mut findings);
    findings.extend(accounts::findings(&ctx, &mut not_checked));
    // Blockers first, then warnings, then info; the boot set first within each.
    findings.sort_by_key(|f| (f.severity, f.control_set.as_ref() != boot.as_ref()));
    Ok(Diagnosis {
        keys_read: ctx.keys_read(),
        findings,
        not_checked,
        sets,
        boot,
    })
}

/// SAM and SECURITY, found beside SYSTEM and read (each with its logs
/// replayed in memory) in the mode of the run; loaded once, read by the
/// account rules only as far as they look.
pub struct AccountHives {
    /// The SAM hive, or why it was not read.
    pub sam: hives::LoadedView,
    /// The SECURITY hive, or why it was not read.
    pub security: hives::LoadedView,
    /// Where they could not be looked for, and why.
    pub warnings: Vec<Warning>,
}

impl AccountHives {
    /// Finds SAM and SECURITY beside the SYSTEM hive of `located` and reads
    /// them in `mode` (the files read whole listed with the digests `algs`).
    pub fn load(located: &Located, mode: ReadMode, algs: &[HashAlg]) -> Self {
        const NAMES: [&str; 2] = ["SAM", "SECURITY"];
        let mut warnings = Vec::new();
        let found = match hives::beside_system_all(located, &NAMES) {
            Ok(p) => p,
            Err(e) => {
                for name in NAMES {
                    warnings.push(Warning::new(Code::HiveUnreadable, format!("{name}: {e}")));
                }
                vec![None, None]
            }
        };
        let mut found = found.into_iter();
        let mut one = |name: &'static str| {
            let mut v = hives::load(name, found.next().flatten().as_ref(), mode);
            v.hash_files(algs);
            v
        };
        let sam = one(NAMES[0]);
        let security = one(NAMES[1]);
        AccountHives {
            sam,
            security,
            warnings,
        }
    }

    /// Neither hive (a report built from SYSTEM and SOFTWARE alone).
    pub fn none() -> Self {
        let missing = |name| hives::load(name, None, ReadMode::OnDemand);
        AccountHives {
            sam: missing("SAM"),
            security: missing("SECURITY"),
            warnings: Vec::new(),
        }
    }

    /// What was read of both.
    pub fn stats(&self) -> ReadStats {
        self.sam.stats() + self.security.stats()
    }

    /// The status of each hive not read (missing or unreadable).
    pub fn not_read(&self) -> Vec<HiveStatus> {
        [&self.sam, &self.security]
            .into_iter()
            .filter(|h| h.status.state != "read")
            .map(|h| h.status.clone())
            .collect()
    }
}

/// The rules' inputs of one run: SYSTEM and SOFTWARE as Windows loads them,
/// SAM and SECURITY, and the source (for the BCD store of row 29).
pub struct RuleInputs<'a> {
    /// SYSTEM (after replay).
    pub system: &'a Reader<'a>,
    /// SOFTWARE (after replay), or why it was not read.
    pub software: std::result::Result<&'a Reader<'a>, String>,
    /// SAM and SECURITY.
    pub accounts: &'a AccountHives,
    /// The source, for the BCD store; `None` when there is none to read.
    pub located: Option<&'a Located>,
    /// What fix commands name.
    pub source: &'a str,
}

/// The one evaluation of the rules that `diagnose` reports and `inspect`
/// takes its verdict from: every rule over the four hives, row 29 from the
/// BCD store, and the rows a hive that was not read leaves not checked.
/// [`DiagnoseVerdict::of`] over its findings is the verdict of both.
pub fn evaluate(inputs: &RuleInputs<'_>) -> Result<Diagnosis> {
    let (sam, security) = (
        reader(&inputs.accounts.sam),
        reader(&inputs.accounts.security),
    );
    let hives_in = Hives {
        system: inputs.system,
        software: inputs.software.as_ref().ok().copied(),
        sam: sam.as_ref(),
        security: security.as_ref(),
    };
    let mut d = diagnose_hives(hives_in, inputs.source)?;
    match inputs.located {
        Some(located) => add_bcd(located, &mut d),
        None => d.not_checked.push(NotChecked {
            rows: vec![29],
            reason: "no disk was given: the BCD store was not read".into(),
        }),
    }
    if let Err(why) = &inputs.software {
        d.not_checked.insert(
            0,
            NotChecked {
                rows: SOFTWARE_ROWS.to_vec(),
                reason: format!(
                    "SOFTWARE was not read ({why}): its Group Policy copies, CredSSP, the certificate store, the Windows release (TLS), the RD Session Host role (licensing) and Winlogon are not checked"
                ),
            },
        );
    }
    Ok(d)
}

/// Reads the hives of `located` (read-only) and diagnoses them.
pub fn diagnose(located: &Located) -> Result<DiagnoseReport> {
    Ok(diagnose_with(located, ReadMode::OnDemand)?.0)
}

/// [`diagnose`] reading the hives in `mode`, with what was read of them.
pub fn diagnose_with(located: &Located, mode: ReadMode) -> Result<(DiagnoseReport, ReadStats)> {
    diagnose_hashed(located, mode, &[HashAlg::Sha256])
}

/// [`diagnose_with`], each hive and log read whole listed with its digests
/// `algs` (the very bytes the findings come from).
pub fn diagnose_hashed(
    located: &Located,
    mode: ReadMode,
    algs: &[HashAlg],
) -> Result<(DiagnoseReport, ReadStats)> {
    let source = located.input.display().to_string();
    let load = |name: &'static str, paths: Option<&crate::storage::source::HivePaths>| {
        let mut v = hives::load(name, paths, mode);
        v.hash_files(algs);
        v
    };
    let system = load("SYSTEM", Some(&located.system));
    let Some(sys_reader) = system.reader() else {
        return Err(Error::Invalid {
            what: "SYSTEM hive",
            offset: 0,
            detail: system.status.note.clone().unwrap_or_default(),
        });
    };
    let software = load("SOFTWARE", located.software.as_ref());
    let accounts = AccountHives::load(located, mode, algs);
    let mut warnings = accounts.warnings.clone();
    let path = system.path().map(|p| p.to_path_buf()).unwrap_or_default();
    let sys_reader = sys_reader.map_err(|e| e.in_file(&path))?;
    let sw = reader(&software);
    let windows = sw.as_ref().map(windows_info);
    let d = evaluate(&RuleInputs {
        system: &sys_reader,
        software: sw.as_ref().ok_or_else(|| {
            software
                .status
                .note
                .clone()
                .unwrap_or_else(|| software.status.state.to_string())
        }),
        accounts: &accounts,
        located: Some(located),
        source: &source,
    })
    .map_err(|e| e.in_file(&path))?;
    warnings.extend(
        [&system, &software, &accounts.sam, &accounts.security]
            .into_iter()
            .filter_map(status_warning),
    );
    let stats = system.stats() + software.stats() + accounts.stats();
    let report = DiagnoseReport {
        schema: SCHEMA,
        tool: TOOL,
        command: "diagnose",
        source: SourceInfo {
            kind: located.kind,
            path: source,
        },
        hives: [system, software, accounts.sam, accounts.security]
            .into_iter()
            .map(|h| h.status)
            .collect(),
        windows,
        control_sets: d.sets,
        boot_control_set: d.boot,
        verdict: DiagnoseVerdict::of(&d.findings),
        findings: d.findings,
        not_checked: d.not_checked,
        keys_read: d.keys_read,
        warnings,
    };
    Ok((report, stats))
}

/// Row 29: the BCD store, on another partition of the disk.
fn add_bcd(located: &Located, d: &mut Diagnosis) {
    match bcd::check(located) {
        Ok(f) => {
            d.findings.extend(f);
            let boot = d.boot.clone();
            d.findings
                .sort_by_key(|f| (f.severity, f.control_set.as_ref() != boot.as_ref()));
        }
        Err(nc) => d.not_checked.push(nc),
    }
}

/// A warning for a hive read after its logs were replayed, or unreadable.
pub fn status_warning(h: &hives::LoadedView) -> Option<Warning> {
    let unreadable = h.status.state == "unreadable";
    if h.status.view != Some("after-replay") && !unreadable {
        return None;
    }
    let code = if unreadable {
        Code::HiveUnreadable
    } else {
        Code::LogsReplayed
    };
    Some(Warning::new(
        code,
        format!(
            "{}: {}",
            h.status.name,
            h.status.note.as_deref().unwrap_or(h.status.state)
        ),
    ))
}

fn reader(v: &hives::LoadedView) -> Option<Reader<'_>> {
    v.reader().and_then(|r| r.ok())
}

/// Windows version facts from SOFTWARE.
fn windows_info(sw: &Reader<'_>) -> WindowsInfo {
    let k = KeyRead::new(
        sw,
        "SOFTWARE",
        r"Microsoft\Windows NT\CurrentVersion".into(),
    );
    WindowsInfo {
        product_name: k.string("ProductName"),
        display_version: k.string("DisplayVersion").or_else(|| k.string("ReleaseId")),
        current_build: k.string("CurrentBuild"),
        installation_type: k.string("InstallationType"),
    }
}
