// SPDX-License-Identifier: GPL-2.0-or-later
//! `get`: read any key or value (read-only, both readers).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::regf::base_block::BaseBlock;
use crate::hive::name::HiveName;
use crate::hive::path::{current_control_set, RegPath};
use crate::hive::reader::{KeyLookup, KeyState, NamedValue, Reader};
use crate::hive::reconcile::{reconcile, Reconciled};
use crate::report::{FileInfo, SourceInfo, Tool, SCHEMA, TOOL};
use crate::storage::source::{LoadedHive, Located};

/// One key read.
#[derive(Clone, Debug, Serialize)]
pub struct GetEntry {
    /// Control set the path resolved through, if any.
    pub control_set: Option<String>,
    /// For a `CurrentControlSet` path: the `Select` value that named the
    /// set (`Select\Default`, or `Select\Current` when Default is absent).
    pub resolved_from: Option<&'static str>,
    /// Key path inside the hive.
    pub key: String,
    /// Key state.
    pub state: KeyState,
    /// Values (all of them, or the one asked for).
    pub values: Vec<NamedValue>,
    /// Subkey names (when no value was asked for).
    pub subkeys: Vec<String>,
}

/// What `get` prints.
#[derive(Clone, Debug, Serialize)]
pub struct GetReport {
    /// Schema tag.
    pub schema: &'static str,
    /// Tool.
    pub tool: Tool,
    /// "get".
    pub command: &'static str,
    /// Source.
    pub source: SourceInfo,
    /// The hive read.
    pub hive: HiveName,
    /// Its file.
    pub file: FileInfo,
    /// Which image was read: "stored" (the primary file as it is: a clean
    /// hive, or a dirty one whose logs hold nothing to replay) or
    /// "after-replay" (a dirty hive with its logs replayed in memory, as
    /// Windows will load it; offsets then refer to that image).
    pub view: &'static str,
    /// Keys read.
    pub entries: Vec<GetEntry>,
    /// Notes.
    pub warnings: Vec<String>,
}

/// [`GetReport::view`] of a primary read as stored.
pub const VIEW_STORED: &str = "stored";
/// [`GetReport::view`] of a dirty hive read after log replay.
pub const VIEW_AFTER_REPLAY: &str = "after-replay";

/// The hive as Windows will load it: the replayed image of a dirty hive,
/// else the primary file. Notes what was read in `warnings`.
fn loaded_view(
    name: HiveName,
    h: &LoadedHive,
    warnings: &mut Vec<String>,
) -> Result<(Option<Reconciled>, &'static str)> {
    let bb = BaseBlock::parse(&h.primary.bytes).map_err(|e| e.in_file(&h.primary.path))?;
    let rec = match reconcile(h) {
        Ok(r) => r,
        Err(e) => {
            if bb.is_dirty() {
                warnings.push(format!(
                    "{} is dirty and its logs cannot be replayed ({e}): shown as stored in the primary \
                     file, which is not what Windows will load",
                    name.as_str()
                ));
            }
            return Ok((None, VIEW_STORED));
        }
    };
    let view = match (&rec.replay, &rec.image) {
        (Some(info), Some(_)) => {
            warnings.push(format!(
                "{} is dirty: shown after replaying {} log entries (to sequence {}), as Windows will load it",
                name.as_str(),
                info.applied.len(),
                info.last_sequence.unwrap_or(bb.seq1)
            ));
            VIEW_AFTER_REPLAY
        }
        (Some(_), None) => {
            warnings.push(format!(
                "{} is dirty and {}: shown as stored in the primary file",
                name.as_str(),
                if h.logs.is_empty() {
                    "no transaction logs were found beside it"
                } else {
                    "its logs hold nothing Windows would replay"
                }
            ));
            VIEW_STORED
        }
        _ => VIEW_STORED,
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
        (None, VIEW_STORED)
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
        Some(current_control_set(&sys_reader)?.1)
    } else {
        None
    };
    let mut entries = Vec::new();
    for (set, key_path) in path.resolve(Some(&sys_reader), all)? {
        let key = reader.key(&key_path);
        let (values, subkeys) = read_key(&reader, &key, &key_path, value)?;
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
