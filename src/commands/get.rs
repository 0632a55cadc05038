// SPDX-License-Identifier: GPL-2.0-or-later
//! `get`: read any key or value (read-only, both readers).

use crate::commands::input::ReadMode;
use crate::error::{Code, Error, Result, Warning};
use crate::format::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE};
use crate::format::regf::cell::HiveBytes;
use crate::hive::name::HiveName;
use crate::hive::path::{current_control_set, RegPath};
use crate::hive::reader::{KeyLookup, NamedValue, Reader};
use crate::hive::reconcile::{reconcile, reconcile_lazy, LazyReconciled, Reconciled, ReplayInfo};
use crate::report::get::GetEntry;
use crate::report::get::GetReport;
use crate::report::View;
use crate::report::{FileInfo, SourceInfo, SCHEMA, TOOL};
use crate::storage::source::{LazyHive, LoadedHive, Located};

/// Which view of hive `name` a command reads, with the warning that says
/// so: `bb` its stored base block, `rec` what reconciling it gave, `parts`
/// its replay details and whether log data was applied.
fn view_of<R>(
    name: HiveName,
    bb: &BaseBlock,
    rec: &Result<R>,
    parts: impl for<'r> Fn(&'r R) -> (Option<&'r ReplayInfo>, bool),
    has_logs: bool,
    warnings: &mut Vec<Warning>,
) -> View {
    let (replay, applied) = match rec {
        Ok(r) => parts(r),
        Err(e) => {
            if bb.is_dirty() {
                warnings.push(Warning::new(
                    Code::LogsNotReplayed,
                    format!(
                        "{} is dirty and its logs cannot be replayed ({e}): shown as stored in the primary \
                         file, which is not what Windows will load",
                        name.as_str()
                    ),
                ));
            }
            return View::Stored;
        }
    };
    match (replay, applied) {
        (Some(info), true) => {
            warnings.push(Warning::new(Code::LogsReplayed, format!(
                "{} is dirty: shown after replaying {} log entries (to sequence {}), as Windows will load it",
                name.as_str(),
                info.applied.len(),
                info.last_sequence.unwrap_or(bb.seq1)
            )));
            View::AfterReplay
        }
        (Some(_), false) => {
            warnings.push(Warning::new(
                Code::DirtyNothingToReplay,
                format!(
                    "{} is dirty and {}: shown as stored in the primary file",
                    name.as_str(),
                    if has_logs {
                        "its logs hold nothing Windows would replay"
                    } else {
                        "no transaction logs were found beside it"
                    }
                ),
            ));
            View::Stored
        }
        _ => View::Stored,
    }
}

/// A hive read whole as Windows will load it: the replayed image of a
/// dirty hive, else the primary file. Notes what was read in `warnings`.
fn loaded_view(
    name: HiveName,
    h: &LoadedHive,
    warnings: &mut Vec<Warning>,
) -> Result<(Option<Reconciled>, View)> {
    let bb = BaseBlock::parse(&h.primary.bytes).map_err(|e| e.in_file(&h.primary.path))?;
    let rec = reconcile(h);
    let view = view_of(
        name,
        &bb,
        &rec,
        |r| (r.replay.as_ref(), r.image.is_some()),
        !h.logs.is_empty(),
        warnings,
    );
    Ok((rec.ok(), view))
}

/// [`loaded_view`] for a hive read on demand.
fn lazy_view(
    name: HiveName,
    h: &LazyHive,
    warnings: &mut Vec<Warning>,
) -> Result<(Option<LazyReconciled>, View)> {
    let head = h
        .image
        .range(0, BASE_BLOCK_SIZE.min(h.image.len()))
        .map_err(|e| e.in_file(&h.path))?;
    let bb = BaseBlock::parse(head).map_err(|e| e.in_file(&h.path))?;
    let rec = reconcile_lazy(h);
    let view = view_of(
        name,
        &bb,
        &rec,
        |r| (r.replay.as_ref(), r.image.is_some()),
        !h.logs.is_empty(),
        warnings,
    );
    Ok((rec.ok(), view))
}

/// The named value of a found key, or all its values and subkey names.
fn read_key(
    reader: &Reader<'_>,
    key: &KeyLookup<'_>,
    key_path: &str,
    value: Option<&str>,
) -> Result<(Vec<NamedValue>, Vec<String>)> {
    Ok(match (key, value) {
        (KeyLookup::Found(_), Some(v)) => (
            vec![NamedValue {
                name: v.to_string(),
                state: reader.value(key, key_path, v),
            }],
            Vec::new(),
        ),
        (KeyLookup::Found(k), None) => {
            let names: Vec<String> = k
                .values()?
                .iter()
                .map(|v| v.name())
                .collect::<Result<_>>()?;
            let vals = names
                .iter()
                .map(|n| NamedValue {
                    name: n.clone(),
                    state: reader.value(key, key_path, n),
                })
                .collect();
            let subs = k
                .subkeys()?
                .iter()
                .map(|s| s.name())
                .collect::<Result<_>>()?;
            (vals, subs)
        }
        _ => (Vec::new(), Vec::new()),
    })
}

/// The entries the asked path resolves to: `reader` reads the hive it names,
/// `sys` SYSTEM (for CurrentControlSet); paths are for messages.
fn entries(
    (sys, sys_path): (&Reader<'_>, &std::path::Path),
    (reader, target_path): (&Reader<'_>, &std::path::Path),
    &Ask { path, value, all }: &Ask<'_>,
) -> Result<Vec<GetEntry>> {
    let resolved_from = if path.uses_current_control_set() && !all {
        Some(current_control_set(sys).map_err(|e| e.in_file(sys_path))?.1)
    } else {
        None
    };
    let mut entries = Vec::new();
    let resolved = path
        .resolve(Some(sys), all)
        .map_err(|e| e.in_file(sys_path))?;
    for (set, key_path) in resolved {
        let key = reader.key(&key_path);
        let (values, subkeys) =
            read_key(reader, &key, &key_path, value).map_err(|e| e.in_file(target_path))?;
        entries.push(GetEntry {
            control_set: (!set.is_empty()).then_some(set),
            resolved_from,
            key: key_path,
            state: key.state(),
            values,
            subkeys,
        });
    }
    Ok(entries)
}

/// What a read gives: the facts of the hive read, its view, the entries.
type Read = (FileInfo, View, Vec<GetEntry>);

/// What `get` asks: the path, the value, and whether CurrentControlSet
/// expands to every control set.
struct Ask<'a> {
    path: &'a RegPath,
    value: Option<&'a str>,
    all: bool,
}

impl Ask<'_> {
    /// Whether the path names SOFTWARE.
    fn software(&self) -> bool {
        self.path.hive == HiveName::Software
    }

    /// SYSTEM is replayed only when it is read: for a SYSTEM path, or to
    /// resolve CurrentControlSet.
    fn reads_system(&self) -> bool {
        !self.software() || self.path.uses_current_control_set()
    }
}

/// `get` over hives read whole (both readers, hashed).
fn read_whole(located: &Located, ask: &Ask<'_>, warnings: &mut Vec<Warning>) -> Result<Read> {
    let system = LoadedHive::read(&located.system)?;
    let software = match (&located.software, ask.software()) {
        (Some(p), true) => Some(LoadedHive::read(p)?),
        _ => None,
    };
    let (sys_rec, sys_view) = if ask.reads_system() {
        loaded_view(HiveName::System, &system, warnings)?
    } else {
        (None, View::Stored)
    };
    let sys_bytes = sys_rec
        .as_ref()
        .map_or(&system.primary.bytes[..], |r| r.bytes(&system));
    let sys = Reader::new(sys_bytes).map_err(|e| e.in_file(&system.primary.path))?;
    let sw = match &software {
        Some(h) => Some((h, loaded_view(HiveName::Software, h, warnings)?)),
        None => None,
    };
    let (target, reader, view) = match &sw {
        Some((h, (rec, view))) => {
            let bytes = rec.as_ref().map_or(&h.primary.bytes[..], |r| r.bytes(h));
            let r = Reader::new(bytes).map_err(|e| e.in_file(&h.primary.path))?;
            (*h, r, *view)
        }
        None => {
            let r = Reader::new(sys_bytes).map_err(|e| e.in_file(&system.primary.path))?;
            (&system, r, sys_view)
        }
    };
    let entries = entries(
        (&sys, &system.primary.path),
        (&reader, &target.primary.path),
        ask,
    )?;
    Ok((FileInfo::from(&target.primary), view, entries))
}

/// `get` over hives read on demand (the pages of the keys it resolves).
fn read_on_demand(located: &Located, ask: &Ask<'_>, warnings: &mut Vec<Warning>) -> Result<Read> {
    let system = LazyHive::open(&located.system)?;
    let software = match (&located.software, ask.software()) {
        (Some(p), true) => Some(LazyHive::open(p)?),
        _ => None,
    };
    let (sys_rec, sys_view) = if ask.reads_system() {
        lazy_view(HiveName::System, &system, warnings)?
    } else {
        (None, View::Stored)
    };
    let sys_bytes = sys_rec
        .as_ref()
        .map_or(&*system.image as &dyn HiveBytes, |r| r.bytes(&system));
    let sys = Reader::paged(sys_bytes).map_err(|e| e.in_file(&system.path))?;
    let sw = match &software {
        Some(h) => Some((h, lazy_view(HiveName::Software, h, warnings)?)),
        None => None,
    };
    let (target, reader, view) = match &sw {
        Some((h, (rec, view))) => {
            let bytes = rec
                .as_ref()
                .map_or(&*h.image as &dyn HiveBytes, |r| r.bytes(h));
            let r = Reader::paged(bytes).map_err(|e| e.in_file(&h.path))?;
            (*h, r, *view)
        }
        None => {
            let r = Reader::paged(sys_bytes).map_err(|e| e.in_file(&system.path))?;
            (&system, r, sys_view)
        }
    };
    let entries = entries((&sys, &system.path), (&reader, &target.path), ask)?;
    Ok((FileInfo::from(target), view, entries))
}

/// Reads `path` (and `value`, if given) from the hives of `located`, as
/// Windows will load them (dirty hives after log replay): on demand, only
/// the pages of the keys it resolves, or whole (`ReadMode::Whole`,
/// `--verify`: hashed, and every value read by both readers).
pub fn get(
    located: &Located,
    path: &RegPath,
    value: Option<&str>,
    all: bool,
    mode: ReadMode,
) -> Result<GetReport> {
    let ask = Ask { path, value, all };
    if ask.software() && located.software.is_none() {
        return Err(Error::NotFound("no SOFTWARE hive beside SYSTEM".into()));
    }
    let mut warnings = Vec::new();
    let (file, view, entries) = match mode {
        ReadMode::Whole => read_whole(located, &ask, &mut warnings)?,
        ReadMode::OnDemand => read_on_demand(located, &ask, &mut warnings)?,
    };
    Ok(GetReport {
        schema: SCHEMA,
        tool: TOOL,
        command: "get",
        source: SourceInfo {
            kind: located.kind,
            path: located.input.display().to_string(),
        },
        hive: path.hive,
        file,
        view,
        entries,
        warnings,
    })
}
