// SPDX-License-Identifier: GPL-2.0-or-later
//! `get`: read any key or value (read-only, both readers).

use serde::Serialize;

use crate::engine::HiveName;
use crate::error::{Error, Result};
use crate::rdp::{KeyLookup, KeyState, NamedValue, Reader};
use crate::regf::base_block::BaseBlock;
use crate::regpath::RegPath;
use crate::report::{FileInfo, SourceInfo, Tool, SCHEMA, TOOL};
use crate::source::{LoadedHive, Located};

/// One key read.
#[derive(Clone, Debug, Serialize)]
pub struct GetEntry {
    /// Control set the path resolved through, if any.
    pub control_set: Option<String>,
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
    /// Keys read.
    pub entries: Vec<GetEntry>,
    /// Notes.
    pub warnings: Vec<String>,
}

/// Reads `path` (and `value`, if given) from the hives of `located`.
pub fn get(located: &Located, path: &RegPath, value: Option<&str>, all: bool) -> Result<GetReport> {
    let system = LoadedHive::read(&located.system)?;
    let software = match (&located.software, path.hive) {
        (Some(p), HiveName::Software) => Some(LoadedHive::read(p)?),
        (None, HiveName::Software) => {
            return Err(Error::NotFound("no SOFTWARE hive beside SYSTEM".into()))
        }
        _ => None,
    };
    let sys_reader =
        Reader::new(&system.primary.bytes).map_err(|e| e.in_file(&system.primary.path))?;
    let target = software.as_ref().unwrap_or(&system);
    let reader = match &software {
        Some(sw) => Reader::new(&sw.primary.bytes).map_err(|e| e.in_file(&sw.primary.path))?,
        None => Reader::new(&system.primary.bytes)?,
    };
    let mut warnings = Vec::new();
    let bb = BaseBlock::parse(&target.primary.bytes)?;
    if bb.is_dirty() {
        warnings.push(format!(
            "{} is dirty: shown as stored in the primary file; Windows replays its transaction logs when it loads it",
            path.hive.as_str()
        ));
    }
    let mut entries = Vec::new();
    for (set, key_path) in path.resolve(Some(&sys_reader), all)? {
        let key = reader.key(&key_path);
        let (values, subkeys) = match (&key, value) {
            (KeyLookup::Found(_), Some(v)) => (
                vec![NamedValue {
                    name: v.to_string(),
                    state: reader.value(&key, &key_path, v),
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
                        state: reader.value(&key, &key_path, n),
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
        };
        entries.push(GetEntry {
            control_set: (!set.is_empty()).then_some(set),
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
        entries,
        warnings,
    })
}
