// SPDX-License-Identifier: GPL-2.0-or-later
//! `account list`: the local accounts, their groups and logon rights, and
//! whether each may log on over RDP (read-only; dirty hives are read after
//! their logs are replayed in memory, as Windows will load them).

use std::path::Path;

use crate::commands::input::ReadMode;
use crate::error::{Code, Error, Result, Warning};
use crate::format::regf::cell::HiveBytes;
use crate::format::regf::cell::HiveView;
use crate::format::regf::key::Key;
use crate::hive::accounts::{read_model, AccountsModel};
use crate::hive::reader::Reader;
use crate::hive::reconcile::{reconcile, reconcile_lazy, LazyReconciled};
use crate::report::accounts::{AccountsReport, HiveRead};
use crate::report::{FileInfo, SourceInfo, SCHEMA, TOOL};
use crate::storage::disk::{volume_file, Disk};
use crate::storage::source::{
    find_ci, locate_with, sibling_hive, FileRef, HivePaths, LazyHive, LoadedFile, LoadedHive,
    Located, SourceKind,
};

/// The hives of an installation that the account commands read.
#[derive(Clone, Debug)]
pub struct AccountHives {
    /// Where the source was found (write targets, backup placement).
    pub located: Located,
    /// SAM (required).
    pub sam: HivePaths,
    /// SECURITY, when present.
    pub security: Option<HivePaths>,
    /// SYSTEM, when present.
    pub system: Option<HivePaths>,
}

/// Finds SAM, SECURITY and SYSTEM for `input`: a disk, volume or mounted
/// tree; a `config` directory; or one of the hive files (the others are
/// looked for beside it).
pub fn locate_accounts(input: &Path, partition: Option<u32>) -> Result<AccountHives> {
    // A directory holding SAM but no SYSTEM: take its SAM as the source.
    let input = if input.is_dir() && find_ci(input, "SYSTEM")?.is_none() {
        match find_ci(input, "SAM")? {
            Some(sam) => sam,
            None => input.to_path_buf(),
        }
    } else {
        input.to_path_buf()
    };
    let located = locate_with(&input, partition)?;
    let given = match located.kind {
        SourceKind::HiveFile => hive_kind(&located.system.primary)?,
        _ => "SYSTEM",
    };
    let sibling = |n: &str| sibling_hive(&located, n);
    let (sam, security, system) = match given {
        "SAM" => (
            Some(located.system.clone()),
            sibling("SECURITY")?,
            sibling("SYSTEM")?,
        ),
        "SECURITY" => (
            sibling("SAM")?,
            Some(located.system.clone()),
            sibling("SYSTEM")?,
        ),
        _ => (
            sibling("SAM")?,
            sibling("SECURITY")?,
            Some(located.system.clone()),
        ),
    };
    let sam = sam.ok_or_else(|| {
        Error::NotFound(format!(
            "no SAM hive found for {} (looked beside {})",
            input.display(),
            located.system.primary.display().display()
        ))
    })?;
    Ok(AccountHives {
        located,
        sam,
        security,
        system,
    })
}

/// Which hive a file is, by its root's subkeys (`SAM`; `Policy` for
/// SECURITY; anything else is taken as SYSTEM), whatever its file name.
fn hive_kind(f: &FileRef) -> Result<&'static str> {
    let file = LoadedFile::read(f)?;
    let view = HiveView::new(&file.bytes).map_err(|e| e.in_file(&file.path))?;
    let root = Key::root(view).map_err(|e| e.in_file(&file.path))?;
    Ok(if root.subkey("SAM")?.is_some() {
        "SAM"
    } else if root.subkey("Policy")?.is_some() {
        "SECURITY"
    } else {
        "SYSTEM"
    })
}

/// A hive loaded as Windows will load it.
pub struct LoadedView {
    /// The files.
    pub hive: LoadedHive,
    /// The replayed image of a dirty hive.
    pub image: Option<Vec<u8>>,
    /// "stored" / "after-replay".
    pub view: &'static str,
}

impl LoadedView {
    /// The bytes Windows will load.
    pub fn bytes(&self) -> &[u8] {
        self.image.as_deref().unwrap_or(&self.hive.primary.bytes)
    }

    /// The report line.
    pub fn read(&self, name: &'static str) -> HiveRead {
        HiveRead {
            name,
            file: FileInfo::from(&self.hive.primary),
            view: self.view,
        }
    }
}

/// The view a hive is read in, with the warning that says so, from what
/// reconciling it gave: whether log data was applied and replay details
/// (`Ok`), or why it failed.
fn replay_view(
    name: &str,
    rec: std::result::Result<(bool, Option<usize>), String>,
    warnings: &mut Vec<Warning>,
) -> &'static str {
    match rec {
        Ok((true, Some(applied))) => {
            warnings.push(Warning::new(
                Code::LogsReplayed,
                format!(
                    "{name} is dirty: read after replaying {applied} log entries in memory, as Windows will load it"
                ),
            ));
            "after-replay"
        }
        Ok((false, Some(_))) => {
            warnings.push(Warning::new(
                Code::DirtyNothingToReplay,
                format!("{name} is dirty and its logs hold nothing to replay: read as stored"),
            ));
            "stored"
        }
        Ok(_) => "stored",
        Err(e) => {
            warnings.push(Warning::new(
                Code::LogsNotReplayed,
                format!("{name}: logs not replayed ({e}): read as stored"),
            ));
            "stored"
        }
    }
}

/// Loads a hive and replays its logs in memory when it is dirty; a dirty
/// hive whose logs cannot be replayed is read as stored, with a warning.
pub fn load_view(name: &str, paths: &HivePaths, warnings: &mut Vec<Warning>) -> Result<LoadedView> {
    let hive = LoadedHive::read(paths)?;
    let (image, seen) = match reconcile(&hive) {
        Ok(rec) => {
            let seen = (rec.image.is_some(), rec.replay.map(|i| i.applied.len()));
            (rec.image, Ok(seen))
        }
        Err(e) => (None, Err(e.to_string())),
    };
    let view = replay_view(name, seen, warnings);
    Ok(LoadedView { hive, image, view })
}

/// A hive only consulted (SYSTEM: the boot key, LSA settings), read on
/// demand: the pages of the keys the model reads, its logs replayed over
/// them when it is dirty.
pub struct LazyView {
    hive: LazyHive,
    rec: Option<LazyReconciled>,
    view: &'static str,
}

impl LazyView {
    /// Opens the hive at `paths` (nothing of the primary is read but its
    /// base block).
    fn open(name: &str, paths: &HivePaths, warnings: &mut Vec<Warning>) -> Result<LazyView> {
        let hive = LazyHive::open(paths)?;
        let (rec, seen) = match reconcile_lazy(&hive) {
            Ok(rec) => {
                let seen = (
                    rec.image.is_some(),
                    rec.replay.as_ref().map(|i| i.applied.len()),
                );
                (Some(rec), Ok(seen))
            }
            Err(e) => (None, Err(e.to_string())),
        };
        let view = replay_view(name, seen, warnings);
        Ok(LazyView { hive, rec, view })
    }

    /// A reader of what Windows loads.
    fn reader(&self) -> Result<Reader<'_>> {
        let bytes = self
            .rec
            .as_ref()
            .map_or(&*self.hive.image as &dyn HiveBytes, |r| r.bytes(&self.hive));
        Reader::paged(bytes).map_err(|e| e.in_file(&self.hive.path))
    }

    /// The report line (the primary was not hashed).
    fn read(&self, name: &'static str) -> HiveRead {
        HiveRead {
            name,
            file: FileInfo::from(&self.hive),
            view: self.view,
        }
    }
}

/// The model and the hives it was read from (SECURITY and SYSTEM optional;
/// a damaged optional hive is a warning, not an error).
pub fn load_model(
    h: &AccountHives,
    mode: ReadMode,
    warnings: &mut Vec<Warning>,
) -> Result<(AccountsModel, Vec<HiveRead>)> {
    let sam = load_view("SAM", &h.sam, warnings)?;
    let optional = |name: &'static str, p: &Option<HivePaths>, w: &mut Vec<Warning>| match p {
        Some(p) => match load_view(name, p, w) {
            Ok(v) => Some(v),
            Err(e) => {
                w.push(Warning::new(
                    Code::HiveUnreadable,
                    format!("{name} ignored: {e}"),
                ));
                None
            }
        },
        None => None,
    };
    let security = optional("SECURITY", &h.security, warnings);
    // SYSTEM is only consulted: read on demand unless asked whole.
    let (system, system_whole) = match mode {
        ReadMode::Whole => (None, optional("SYSTEM", &h.system, warnings)),
        ReadMode::OnDemand => {
            let lazy =
                h.system
                    .as_ref()
                    .and_then(|p| match LazyView::open("SYSTEM", p, warnings) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            warnings.push(Warning::new(
                                Code::HiveUnreadable,
                                format!("SYSTEM ignored: {e}"),
                            ));
                            None
                        }
                    });
            (lazy, None)
        }
    };
    let sam_r = Reader::new(sam.bytes()).map_err(|e| e.in_file(&sam.hive.primary.path))?;
    let sec_r = reader(&security, warnings);
    let sys_r = match &system {
        Some(v) => v
            .reader()
            .map_err(|e| warnings.push(Warning::new(Code::HiveUnreadable, e.to_string())))
            .ok(),
        None => reader(&system_whole, warnings),
    };
    let model = read_model(&sam_r, sec_r.as_ref(), sys_r.as_ref())
        .map_err(|e| e.in_file(&sam.hive.primary.path))?;
    let mut reads = vec![sam.read("SAM")];
    reads.extend(security.as_ref().map(|v| v.read("SECURITY")));
    reads.extend(system.as_ref().map(|v| v.read("SYSTEM")));
    reads.extend(system_whole.as_ref().map(|v| v.read("SYSTEM")));
    Ok((model, reads))
}

fn reader<'a>(v: &'a Option<LoadedView>, w: &mut Vec<Warning>) -> Option<Reader<'a>> {
    let v = v.as_ref()?;
    Reader::new(v.bytes())
        .map_err(|e| {
            w.push(Warning::new(
                Code::HiveUnreadable,
                format!("{}: {e}", v.hive.primary.path.display()),
            ))
        })
        .ok()
}

/// `account list`.
pub fn list(h: &AccountHives, mode: ReadMode) -> Result<AccountsReport> {
    let mut warnings = Vec::new();
    let (model, hives) = load_model(h, mode, &mut warnings)?;
    Ok(AccountsReport {
        schema: SCHEMA,
        tool: TOOL,
        command: "account list",
        source: SourceInfo {
            kind: h.located.kind,
            path: h.located.input.display().to_string(),
        },
        hives,
        model,
        warnings,
    })
}

/// The local Group Policy security template, relative to the volume root.
pub const GPT_TMPL: [&str; 8] = [
    "Windows",
    "System32",
    "GroupPolicy",
    "Machine",
    "Microsoft",
    "Windows NT",
    "SecEdit",
    "GptTmpl.inf",
];

/// Text of a template file: UTF-16LE with a byte-order mark, else bytes.
fn template_text(b: &[u8]) -> String {
    if b.starts_with(&[0xFF, 0xFE]) {
        let u: Vec<u16> = b[2..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&u)
    } else {
        String::from_utf8_lossy(b).into_owned()
    }
}

/// The RDP logon-right lines of a security template.
pub fn template_rdp_lines(b: &[u8]) -> Vec<String> {
    template_text(b)
        .lines()
        .map(str::trim)
        .filter(|l| {
            let k = l.split('=').next().unwrap_or_default().trim();
            k.eq_ignore_ascii_case("SeRemoteInteractiveLogonRight")
                || k.eq_ignore_ascii_case("SeDenyRemoteInteractiveLogonRight")
        })
        .map(String::from)
        .collect()
}

/// The local Group Policy template's bytes: from the mounted tree, or
/// through the NTFS reader from the Windows volume of a disk or partition.
/// `Ok(None)` when there is none; `Err(why)` when it could not be read.
fn gpt_template(h: &AccountHives) -> std::result::Result<Option<(String, Vec<u8>)>, String> {
    match (&h.located.kind, &h.located.system.primary) {
        (SourceKind::MountedTree, _) => {
            let mut p = h.located.input.clone();
            for part in GPT_TMPL {
                match find_ci(&p, part).map_err(|e| e.to_string())? {
                    Some(next) => p = next,
                    None => return Ok(None),
                }
            }
            let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(Some((p.display().to_string(), bytes)))
        }
        (
            SourceKind::Disk | SourceKind::Volume,
            FileRef::Ntfs {
                disk, partition, ..
            },
        ) => {
            let path = GPT_TMPL.join("\\");
            let d = Disk::open(disk).map_err(|e| e.to_string())?;
            let bytes = volume_file(&d, partition, &path).map_err(|e| e.to_string())?;
            Ok(bytes.map(|b| {
                (
                    format!("{}:p{}:\\{path}", disk.display(), partition.number),
                    b,
                )
            }))
        }
        _ => Err("only a mounted tree, a disk or a partition holds it".into()),
    }
}

/// A warning when the local Group Policy template sets the RDP logon
/// rights (it would re-apply them over an offline change), read on a
/// mounted tree and, through the NTFS reader, on a disk or partition; when
/// it cannot be read (a hive file given alone), a note that it was not.
pub fn gpo_rights_warning(h: &AccountHives) -> Option<Warning> {
    let (path, bytes) = match gpt_template(h) {
        Ok(found) => found?,
        Err(why) => {
            return Some(Warning::new(
                Code::GpoTemplateNotRead,
                format!(
                    "the local Group Policy template (Windows\\System32\\GroupPolicy\\Machine\\Microsoft\\\
                     Windows NT\\SecEdit\\GptTmpl.inf) was not read ({why}): if it sets the RDP logon \
                     rights, Windows re-applies them"
                ),
            ))
        }
    };
    let lines = template_rdp_lines(&bytes);
    (!lines.is_empty()).then(|| {
        Warning::new(
            Code::GpoTemplateSetsRights,
            format!(
                "the local Group Policy template {path} sets {}: Windows re-applies it at the next policy refresh",
                lines.join("; ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_lines_in_utf16_and_ascii() {
        let text = "[Privilege Rights]\r\nSeDenyRemoteInteractiveLogonRight = *S-1-5-32-546\r\nSeShutdownPrivilege = *S-1-5-32-544\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        for b in [utf16, text.as_bytes().to_vec()] {
            assert_eq!(
                template_rdp_lines(&b),
                ["SeDenyRemoteInteractiveLogonRight = *S-1-5-32-546"]
            );
        }
    }
}
