// SPDX-License-Identifier: GPL-2.0-or-later
//! `get`: read any key or value (read-only, both readers).

use crate::error::{Code, Error, Result, Warning};
use crate::format::regf::base_block::BaseBlock;
use crate::hive::name::HiveName;
use crate::hive::path::{current_control_set, RegPath};
use crate::hive::reader::{KeyLookup, NamedValue, Reader};
use crate::hive::reconcile::{reconcile, Reconciled};
use crate::report::get::GetEntry;
use crate::report::get::GetReport;
use crate::report::View;
use crate::report::{FileInfo, SourceInfo, SCHEMA, TOOL};
use crate::storage::source::{LoadedHive, Located};

/// The hive as Windows will load it: the replayed image of a dirty hive,
/// else the primary file. Notes what was read in `warnings`.
fn loaded_view(
    name: HiveName,
    h: &LoadedHive,
    warnings: &mut Vec<Warning>,
) -> Result<(Option<Reconciled>, View)> {
    let bb = BaseBlock::parse(&h.primary.bytes).map_err(|e| e.in_file(&h.primary.path))?;
    let rec = match reconcile(h) {
        Ok(r) => r,
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
            return Ok((None, View::Stored));
        }
    };
    let view = match (&rec.replay, &rec.image) {
        (Some(info), Some(_)) => {
            warnings.push(Warning::new(Code::LogsReplayed, format!(
                "{} is dirty: shown after replaying {} log entries (to sequence {}), as Windows will load it",
                name.as_str(),
                info.applied.len(),
                info.last_sequence.unwrap_or(bb.seq1)
            )));
            View::AfterReplay
        }
        (Some(_), None) => {
            warnings.push(Warning::new(
                Code::DirtyNothingToReplay,
                format!(
                    "{} is dirty and {}: shown as stored in the primary file",
                    name.as_str(),
                    if h.logs.is_empty() {
                        "no transaction logs were found beside it"
                    } else {
                        "its logs hold nothing Windows would replay"
                    }
                ),
            ));
            View::Stored
        }
        _ => View::Stored,
    };
    Ok((Some(rec), view))
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

/// Reads `path` (and `value`, if given) from the hives of `located`, as
/// Windows will load them (dirty hives after log replay).
pub fn get(located: &Located, path: &RegPath, value: Option<&str>, all: bool) -> Result<GetReport> {
    let system = LoadedHive::read(&located.system)?;
    let software = match (&located.software, path.hive) {
        (Some(p), HiveName::Software) => Some(LoadedHive::read(p)?),
        (None, HiveName::Software) => {
            return Err(Error::NotFound("no SOFTWARE hive beside SYSTEM".into()))
        }
        _ => None,
    };
    let mut warnings = Vec::new();
    // SYSTEM is replayed only when it is read: for a SYSTEM path, or to
    // resolve CurrentControlSet.
    let (sys_rec, sys_view) = if software.is_none() || path.uses_current_control_set() {
        loaded_view(HiveName::System, &system, &mut warnings)?
    } else {
        (None, View::Stored)
    };
    let sys_bytes = sys_rec
        .as_ref()
        .map_or(&system.primary.bytes[..], |r| r.bytes(&system));
    let sys_reader = Reader::new(sys_bytes).map_err(|e| e.in_file(&system.primary.path))?;
    let sw_view = match &software {
        Some(sw) => Some(loaded_view(HiveName::Software, sw, &mut warnings)?),
        None => None,
    };
    let target = software.as_ref().unwrap_or(&system);
    let (reader, view) = match (&software, &sw_view) {
        (Some(sw), Some((rec, view))) => {
            let bytes = rec.as_ref().map_or(&sw.primary.bytes[..], |r| r.bytes(sw));
            (
                Reader::new(bytes).map_err(|e| e.in_file(&sw.primary.path))?,
                *view,
            )
        }
        _ => (
            Reader::new(sys_bytes).map_err(|e| e.in_file(&system.primary.path))?,
            sys_view,
        ),
    };
    let resolved_from = if path.uses_current_control_set() && !all {
        Some(
            current_control_set(&sys_reader)
                .map_err(|e| e.in_file(&system.primary.path))?
                .1,
        )
    } else {
        None
    };
    let mut entries = Vec::new();
    let resolved = path
        .resolve(Some(&sys_reader), all)
        .map_err(|e| e.in_file(&system.primary.path))?;
    for (set, key_path) in resolved {
        let key = reader.key(&key_path);
        let (values, subkeys) = read_key(&reader, &key, &key_path, value)
            .map_err(|e| e.in_file(&target.primary.path))?;
        entries.push(GetEntry {
            control_set: (!set.is_empty()).then_some(set),
            resolved_from,
            key: key_path,
            state: key.state(),
            values,
            subkeys,
        });
    }
    Ok(GetReport {
        schema: SCHEMA,
        tool: TOOL,
        command: "get",
        source: SourceInfo {
            kind: located.kind,
            path: located.input.display().to_string(),
        },
        hive: path.hive,
        file: FileInfo::from(&target.primary),
        view,
        entries,
        warnings,
    })
}
