// SPDX-License-Identifier: GPL-2.0-or-later
//! Step 2 of an edit, the plan: what a recipe asks for (units of value
//! operations over the hives it reads) resolved against both readers. A
//! unit where any operation cannot be done is left alone as a whole.

use crate::error::{Code, Warning};
use std::path::PathBuf;

use crate::format::regf::key::{reg_type, Value, BIG_DATA_THRESHOLD, VK_DATA_OFFSET};
use crate::hive::check::{upper, Expect};
use crate::hive::name::HiveName;
use crate::hive::reader::{data_json, KeyLookup, Reader, ValueState};
use crate::storage::access::WriteAccess;
use crate::write::outcome::{Change, ChangeKind, Refusal};

/// What to do to a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Give it this type and data.
    Set {
        /// Registry type.
        ty: u32,
        /// Raw data.
        data: Vec<u8>,
    },
    /// Remove it.
    Delete,
    /// Create the key [`Op::key`] (`value` is unused). Its parent must
    /// exist or be created by an earlier operation of the same unit; an
    /// existing key is left as it is. Values of a key created this way are
    /// set by later operations of the unit (with `create`).
    CreateKey,
}

/// One value operation.
#[derive(Clone, Debug)]
pub struct Op {
    /// Hive.
    pub hive: HiveName,
    /// Key path from the hive root.
    pub key: String,
    /// Value name ("" = default value).
    pub value: String,
    /// What to do.
    pub action: Action,
    /// Whether a missing value may be created.
    pub create: bool,
}

impl Op {
    /// Creates `key` (see [`Action::CreateKey`]).
    pub fn create_key(hive: HiveName, key: impl Into<String>) -> Op {
        Op {
            hive,
            key: key.into(),
            value: String::new(),
            action: Action::CreateKey,
            create: true,
        }
    }

    /// A REG_DWORD set.
    pub fn dword(hive: HiveName, key: impl Into<String>, value: &str, v: u32, create: bool) -> Op {
        Op {
            hive,
            key: key.into(),
            value: value.into(),
            action: Action::Set {
                ty: reg_type::DWORD,
                data: v.to_le_bytes().to_vec(),
            },
            create,
        }
    }
}

/// Operations applied together or not at all.
#[derive(Clone, Debug)]
pub struct Unit {
    /// Label for reports ("ControlSet001", "policy").
    pub label: String,
    /// Its operations.
    pub ops: Vec<Op>,
}

/// The hives a recipe reads, as Windows would load them.
pub struct Views<'a> {
    /// SYSTEM.
    pub system: Option<&'a Reader<'a>>,
    /// SOFTWARE, when present and asked for.
    pub software: Option<&'a Reader<'a>>,
    /// SAM, when asked for.
    pub sam: Option<&'a Reader<'a>>,
    /// SECURITY, when asked for.
    pub security: Option<&'a Reader<'a>>,
    /// Warnings a recipe wants the operator to read.
    pub notes: std::cell::RefCell<Vec<Warning>>,
    /// `(key, value)` pairs whose data must not appear in the report or
    /// the bundle's manifest (password-hash blobs): shown as their size.
    pub redact: std::cell::RefCell<Vec<(String, String)>>,
}

impl<'a> Views<'a> {
    /// The views over `readers` (at most one per hive).
    pub fn over(readers: &'a [(HiveName, Reader<'a>)]) -> Views<'a> {
        let find = |h: HiveName| readers.iter().find(|(n, _)| *n == h).map(|(_, r)| r);
        Views {
            system: find(HiveName::System),
            software: find(HiveName::Software),
            sam: find(HiveName::Sam),
            security: find(HiveName::Security),
            notes: Default::default(),
            redact: Default::default(),
        }
    }

    /// The reader of a hive.
    pub fn get(&self, h: HiveName) -> Option<&'a Reader<'a>> {
        match h {
            HiveName::System => self.system,
            HiveName::Software => self.software,
            HiveName::Sam => self.sam,
            HiveName::Security => self.security,
        }
    }
}

/// Which hives a command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// SYSTEM must exist.
    pub system: bool,
    /// SOFTWARE must exist (true) or is optional (false, read when present).
    pub software_required: bool,
    /// Load SOFTWARE at all.
    pub software: bool,
}

/// One resolved operation.
pub(crate) struct Resolved {
    pub(crate) op: Op,
    pub(crate) change: Change,
    pub(crate) expect: Expect,
}

/// Every unit of a recipe, resolved.
#[derive(Default)]
pub(crate) struct Resolution {
    /// The operations to apply (units that can be done whole).
    pub(crate) resolved: Vec<Resolved>,
    /// `Unit\Value` names already as wanted.
    pub(crate) already: Vec<String>,
    /// Units left alone.
    pub(crate) refusals: Vec<Refusal>,
}

/// Resolves every unit; a refused unit is also a warning.
pub(crate) fn resolve_all(
    views: &Views<'_>,
    units: &[Unit],
    warnings: &mut Vec<Warning>,
) -> Resolution {
    let mut res = Resolution::default();
    for u in units {
        match resolve_unit(views, u, &mut res.already) {
            Ok(r) => res
                .resolved
                .extend(r.into_iter().map(|r| redacted(views, r))),
            Err(refusal) => {
                warnings.push(Warning::new(
                    Code::UnitLeftUnchanged,
                    format!(
                        "{}: left unchanged: {}",
                        refusal.control_set, refusal.reason
                    ),
                ));
                res.refusals.push(refusal);
            }
        }
    }
    res
}

/// Replaces the data of a value the recipe asked to redact by its size.
fn redacted(views: &Views<'_>, mut r: Resolved) -> Resolved {
    let hide = views
        .redact
        .borrow()
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(&r.op.key) && v.eq_ignore_ascii_case(&r.op.value));
    if hide {
        let size = |d: &Option<serde_json::Value>| {
            d.as_ref().map(|d| {
                let n = d.as_str().map_or(0, |s| s.len() / 2);
                serde_json::Value::from(format!("(redacted: {n} bytes)"))
            })
        };
        r.change.old = size(&r.change.old);
        r.change.new = size(&r.change.new);
    }
    r
}

fn value_data(state: &ValueState) -> Option<(u32, serde_json::Value)> {
    match state {
        ValueState::Present {
            type_code, data, ..
        } => Some((*type_code, data.clone())),
        _ => None,
    }
}

/// What one operation found: the key, the value's state and record, and
/// the name the value has in the hive (its own spelling).
struct Found<'a> {
    old: Option<(u32, serde_json::Value)>,
    vk: Option<Value<'a>>,
    name: String,
}

/// Looks the key and value of `op` up with both readers; `Err(reason)`
/// when the unit must be left alone.
fn look_up<'a>(
    views: &Views<'a>,
    op: &Op,
    planned: &[String],
) -> std::result::Result<Found<'a>, (Code, String)> {
    let Some(r) = views.get(op.hive) else {
        return Err((
            Code::HiveMissing,
            format!("the {} hive was not found", op.hive.as_str()),
        ));
    };
    let key = match r.key(&op.key) {
        KeyLookup::Found(k) => k,
        // A key an earlier operation of the unit creates holds no values.
        KeyLookup::Missing(_) if planned.contains(&upper(&op.key)) => {
            return Ok(Found {
                old: None,
                vk: None,
                name: op.value.clone(),
            })
        }
        KeyLookup::Missing(m) => {
            return Err((
                Code::KeyMissing,
                format!(
                    "key {}\\{} is missing ('{m}'); ntrescue does not create keys",
                    op.hive.as_str(),
                    op.key
                ),
            ))
        }
        KeyLookup::Unreadable(e) => {
            return Err((
                Code::KeyUnreadable,
                format!("key {} is unreadable: {e}", op.key),
            ))
        }
    };
    let state = r.value(&KeyLookup::Found(key), &op.key, &op.value);
    if let ValueState::Unreadable { error } = &state {
        return Err((
            Code::ValueUnreadable,
            format!("value {} is unreadable: {error}", op.value),
        ));
    }
    // A value that holds big data may be replaced by smaller data or
    // deleted: the writer frees its record, segment list and segments.
    let vk = key.value(&op.value).ok().flatten();
    let name = vk
        .as_ref()
        .and_then(|v| v.name().ok())
        .unwrap_or_else(|| op.value.clone());
    Ok(Found {
        old: value_data(&state),
        vk,
        name,
    })
}

/// A set: `Ok(None)` when the value already holds `ty`/`data`.
fn resolve_set(
    unit: &Unit,
    op: &Op,
    f: Found<'_>,
    ty: u32,
    data: &[u8],
) -> std::result::Result<Option<Resolved>, (Code, String)> {
    if data.len() > BIG_DATA_THRESHOLD as usize {
        return Err((
            Code::BigData,
            format!(
                "{} bytes of data need big-data storage; not supported",
                data.len()
            ),
        ));
    }
    let new_json = data_json(ty, data);
    if let Some((oty, _)) = &f.old {
        let same =
            f.vk.as_ref()
                .and_then(|v| v.data().ok())
                .is_some_and(|d| d == *data)
                && *oty == ty;
        if same {
            return Ok(None);
        }
    } else if !op.create {
        return Err((
            Code::ValueMissing,
            format!(
                "value {} is missing and this command does not create values",
                op.value
            ),
        ));
    }
    let inline_both = ty == reg_type::DWORD
        && data.len() == 4
        && f.vk
            .as_ref()
            .and_then(|v| v.inline_dword().ok().flatten())
            .is_some();
    Ok(Some(Resolved {
        change: Change {
            hive: op.hive,
            control_set: unit.label.clone(),
            key: op.key.clone(),
            value: f.name,
            action: if f.old.is_some() {
                ChangeKind::Change
            } else {
                ChangeKind::Create
            },
            old_type: f.old.as_ref().map(|(t, _)| reg_type::name(*t)),
            old: f.old.map(|(_, d)| d),
            new_type: Some(reg_type::name(ty)),
            new: Some(new_json),
            file_offset: if inline_both {
                f.vk.map(|v| v.abs_of(VK_DATA_OFFSET))
            } else {
                None
            },
        },
        expect: Expect {
            key: op.key.clone(),
            value: op.value.clone(),
            after: Some((ty, data.to_vec())),
            new_key: false,
        },
        op: op.clone(),
    }))
}

/// A delete: `None` when the value is already absent.
fn resolve_delete(unit: &Unit, op: &Op, f: Found<'_>) -> Option<Resolved> {
    let (oty, odata) = f.old?;
    Some(Resolved {
        change: Change {
            hive: op.hive,
            control_set: unit.label.clone(),
            key: op.key.clone(),
            value: f.name,
            action: ChangeKind::Delete,
            old_type: Some(reg_type::name(oty)),
            old: Some(odata),
            new_type: None,
            new: None,
            file_offset: None,
        },
        expect: Expect {
            key: op.key.clone(),
            value: op.value.clone(),
            after: None,
            new_key: false,
        },
        op: op.clone(),
    })
}

/// A key creation: `Ok(None)` when the key exists; refused when its
/// parent neither exists nor is created earlier in the unit.
fn resolve_create_key(
    views: &Views<'_>,
    unit: &Unit,
    op: &Op,
    planned: &[String],
) -> std::result::Result<Option<Resolved>, (Code, String)> {
    let Some(r) = views.get(op.hive) else {
        return Err((
            Code::HiveMissing,
            format!("the {} hive was not found", op.hive.as_str()),
        ));
    };
    let path = op.key.trim_matches('\\');
    let (parent, name) = path.rsplit_once('\\').unwrap_or(("", path));
    if name.is_empty() {
        return Err((Code::KeyMissing, format!("{path}: empty key name")));
    }
    match r.key(path) {
        KeyLookup::Found(_) => return Ok(None),
        KeyLookup::Unreadable(e) => {
            return Err((
                Code::KeyUnreadable,
                format!("key {path} is unreadable: {e}"),
            ))
        }
        KeyLookup::Missing(_) => {}
    }
    let parent_ok = parent.is_empty()
        || planned.contains(&upper(parent))
        || matches!(r.key(parent), KeyLookup::Found(_));
    if !parent_ok {
        return Err((
            Code::KeyMissing,
            format!(
                "key {}\\{parent} is missing: {name} cannot be created under it",
                op.hive.as_str()
            ),
        ));
    }
    Ok(Some(Resolved {
        change: Change {
            hive: op.hive,
            control_set: unit.label.clone(),
            key: path.to_string(),
            value: String::new(),
            action: ChangeKind::CreateKey,
            old_type: None,
            old: None,
            new_type: None,
            new: None,
            file_offset: None,
        },
        expect: Expect {
            key: path.to_string(),
            value: String::new(),
            after: None,
            new_key: true,
        },
        op: Op {
            key: path.to_string(),
            ..op.clone()
        },
    }))
}

/// Resolves a unit; `Err(refusal)` when any operation cannot be done.
/// Values already as wanted are added to `already` (only when the whole
/// unit resolves).
fn resolve_unit(
    views: &Views<'_>,
    unit: &Unit,
    already: &mut Vec<String>,
) -> std::result::Result<Vec<Resolved>, Refusal> {
    let refuse = |op: &Op, (code, reason): (Code, String)| Refusal {
        code,
        control_set: unit.label.clone(),
        value: Some(op.value.clone()),
        reason,
    };
    let mut out = Vec::new();
    let mut done = Vec::new();
    // Keys created by the unit's earlier operations (upper case).
    let mut planned: Vec<String> = Vec::new();
    for op in &unit.ops {
        if op.action == Action::CreateKey {
            match resolve_create_key(views, unit, op, &planned).map_err(|r| refuse(op, r))? {
                Some(r) => {
                    planned.push(upper(&op.key));
                    out.push(r);
                }
                None => done.push(format!(r"{}\{}", unit.label, op.key)),
            }
            continue;
        }
        let found = look_up(views, op, &planned).map_err(|r| refuse(op, r))?;
        let label = format!(r"{}\{}", unit.label, found.name);
        let resolved = match &op.action {
            Action::Set { ty, data } => {
                resolve_set(unit, op, found, *ty, data).map_err(|r| refuse(op, r))?
            }
            Action::Delete => resolve_delete(unit, op, found),
            Action::CreateKey => None,
        };
        match resolved {
            Some(r) => out.push(r),
            None => done.push(label),
        }
    }
    already.extend(done);
    Ok(out)
}

/// Options shared by every edit command.
#[derive(Clone, Debug, Default)]
pub struct EditOptions {
    /// Plan only.
    pub dry_run: bool,
    /// Write the edited SYSTEM hive to this new file instead of in place.
    pub output: Option<PathBuf>,
    /// Backup bundle root (default `./ntrescue-backups`).
    pub backup_root: Option<PathBuf>,
    /// Proceed on a dirty hive with no logs beside it (see README).
    pub allow_dirty_without_logs: bool,
    /// Permission to write; `None` (read-only mode, and the default) allows
    /// only dry runs.
    pub write: Option<WriteAccess>,
    /// How long to wait for another run's lock on the target (`None`:
    /// refuse at once).
    pub wait: Option<std::time::Duration>,
}
