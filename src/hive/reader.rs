// SPDX-License-Identifier: GPL-2.0-or-later
//! Reads the RDP / NLA state out of a SYSTEM hive (and the Group Policy
//! copies out of a SOFTWARE hive).
//!
//! Every key and value is read twice, by two independent readers: our own
//! cell navigator ([`crate::format::regf::key`], which also yields the byte offsets
//! an edit needs and scans subkey lists linearly) and the `nt-hive` crate
//! (which binary-searches them, as Windows does). A value is reported
//! `present` or `missing` only when both agree; any error or disagreement is
//! reported `unreadable` with the reason. Corruption is never reported as
//! "absent".
//!
//! Where the values live (hive-write-safety.md §4): `ControlSetNNN\Control\
//! Terminal Server` (`fDenyTSConnections`) and `...\WinStations\RDP-Tcp`
//! (the rest). The offline file has no `CurrentControlSet`; `Select` says
//! which set is which.

use serde::Serialize;

use crate::format::nthive::NtHive;
use crate::format::regf::cell::{HiveBytes, HiveView};
use crate::format::regf::key::{name_key, names_equal, reg_type, Key};
use crate::util::time::Stamp;

/// State of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum KeyState {
    /// The key exists.
    Present {
        /// Absolute file offset of the key's nk cell data.
        offset: u64,
        /// The key's last-write time (its `nk` record's FILETIME, read by
        /// our navigator: nt-hive does not expose it).
        last_written: Stamp,
    },
    /// The key (or a parent) does not exist.
    Missing {
        /// The first path component that is missing.
        missing: String,
    },
    /// The key could not be read.
    Unreadable {
        /// Why.
        error: String,
    },
}

/// State of a value.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ValueState {
    /// The value exists and both readers agree on it.
    Present {
        /// Type name (`REG_DWORD`...).
        #[serde(rename = "type")]
        type_name: String,
        /// Numeric type.
        type_code: u32,
        /// The data: a number for DWORD/QWORD, a string for strings, hex otherwise.
        data: serde_json::Value,
        /// Absolute file offset of the vk cell data.
        offset: u64,
    },
    /// The value does not exist (both readers agree).
    Missing,
    /// The value, or its key, could not be read, or the readers disagree.
    Unreadable {
        /// Why.
        error: String,
    },
}

impl ValueState {
    /// The DWORD data, if the value is a present REG_DWORD.
    pub fn dword(&self) -> Option<u32> {
        match self {
            ValueState::Present {
                type_code: reg_type::DWORD,
                data,
                ..
            } => data.as_u64().map(|v| v as u32),
            _ => None,
        }
    }

    /// Short text for tables.
    pub fn display(&self) -> String {
        match self {
            ValueState::Present {
                data, type_code, ..
            } => match data {
                serde_json::Value::String(s) if *type_code != reg_type::BINARY => s.clone(),
                other => other.to_string(),
            },
            ValueState::Missing => "(absent)".into(),
            ValueState::Unreadable { .. } => "(UNREADABLE)".into(),
        }
    }
}

/// A value as both readers read it, its data as stored.
#[derive(Clone, Debug, PartialEq)]
pub enum RawValue {
    /// The value exists and both readers agree on it.
    Present {
        /// Numeric type.
        ty: u32,
        /// The data bytes.
        data: Vec<u8>,
        /// Absolute file offset of the vk cell data.
        offset: u64,
    },
    /// The value does not exist (both readers agree).
    Missing,
    /// The value could not be read, or the readers disagree: why.
    Unreadable(String),
}

/// A named value and its state.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NamedValue {
    /// Value name.
    pub name: String,
    /// Its state.
    #[serde(flatten)]
    pub state: ValueState,
}

/// REG_SZ data as a string: as `String::from_utf16_lossy`, decoded
/// straight into one string whose trailing NULs are cut off in place.
pub fn utf16_string(d: &[u8]) -> String {
    // The ASCII head (most strings are ASCII throughout) byte by byte,
    // the rest decoded.
    let ascii = d
        .chunks_exact(2)
        .take_while(|c| c[1] == 0 && c[0] < 0x80)
        .count();
    let head: Vec<u8> = d.chunks_exact(2).take(ascii).map(|c| c[0]).collect();
    let mut s = String::from_utf8(head).unwrap_or_default();
    s.reserve(d.len() / 2 - ascii);
    let units = d[ascii * 2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    s.extend(char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)));
    let kept = s.trim_end_matches('\0').len();
    s.truncate(kept);
    s
}

/// Renders value data for the report.
pub fn data_json(ty: u32, data: &[u8]) -> serde_json::Value {
    use serde_json::Value as J;
    match (ty, data.len()) {
        (reg_type::DWORD, 4) => J::from(u32::from_le_bytes(data.try_into().unwrap())),
        (reg_type::DWORD_BIG_ENDIAN, 4) => J::from(u32::from_be_bytes(data.try_into().unwrap())),
        (reg_type::QWORD, 8) => J::from(u64::from_le_bytes(data.try_into().unwrap())),
        (reg_type::SZ | reg_type::EXPAND_SZ, _) => J::from(utf16_string(data)),
        (reg_type::MULTI_SZ, _) => J::from(
            utf16_string(data)
                .split('\0')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>(),
        ),
        _ => J::from(crate::util::bytes::hex(data)),
    }
}

/// Both readers over one hive image; or, over a hive read on demand, our
/// validated navigator alone (nt-hive needs the whole file).
pub struct Reader<'a> {
    view: HiveView<'a>,
    nt: Option<NtHive<'a>>,
    /// The cells of keys our navigator has found, by the path they were found at (as
    /// written, components joined by one backslash): a lookup starts from
    /// the longest one that prefixes its path. Diagnose looks up dozens of
    /// paths under one control set; each would otherwise walk from the root.
    found: std::cell::RefCell<std::collections::HashMap<String, u32>>,
    /// Per key cell offset, of keys with many values: how often it was
    /// asked for a value by name, then its name index ([`ValueIndex`]).
    value_index: std::cell::RefCell<std::collections::HashMap<u32, IndexSlot>>,
}

/// Keys with at least this many values are indexed by name once they have
/// been asked for [`VALUE_INDEX_AFTER`] values by name (diagnose asks a
/// listener key with dozens of values for a few dozen of them; each lookup
/// would otherwise read every value record before its own). A key asked
/// once or twice, such as a store of hundreds of firewall rules read in
/// one pass, is scanned: indexing it costs more than the scans.
const VALUE_INDEX_MIN: u32 = 16;
/// See [`VALUE_INDEX_MIN`].
const VALUE_INDEX_AFTER: u8 = 2;

/// A key's lookups by name so far, or its index.
enum IndexSlot {
    Asked(u8),
    Built(std::rc::Rc<ValueIndex>),
}

/// A key's values by [`name_key`], first of each name, as far as a scan
/// by name reads: up to the first value that cannot be read
/// ([`Key::values_until_error`]). A name not found before that value is
/// looked up by a scan again, which ends in that value's error exactly as
/// it would have without the index.
/// Values are kept by cell offset (and read again when asked: the reader
/// stays covariant in its hive's lifetime).
struct ValueIndex {
    by_name: std::collections::HashMap<Vec<u16>, u32>,
    broken: bool,
}

/// Result of looking a key up with both readers.
pub enum KeyLookup<'a> {
    /// Found by both.
    Found(Key<'a>),
    /// Missing per both.
    Missing(String),
    /// Error or disagreement.
    Unreadable(String),
}

impl<'a> KeyLookup<'a> {
    /// The state to report.
    pub fn state(&self) -> KeyState {
        match self {
            KeyLookup::Found(k) => match k.timestamp() {
                Ok(t) => KeyState::Present {
                    offset: k.abs(),
                    last_written: Stamp(t),
                },
                Err(e) => KeyState::Unreadable {
                    error: e.to_string(),
                },
            },
            KeyLookup::Missing(m) => KeyState::Missing { missing: m.clone() },
            KeyLookup::Unreadable(e) => KeyState::Unreadable { error: e.clone() },
        }
    }
}

impl<'a> Reader<'a> {
    /// Opens both readers over `bytes` (a primary hive image, possibly
    /// dirty: the header is not required to be clean here).
    pub fn new(bytes: &'a [u8]) -> crate::Result<Self> {
        let view = HiveView::new(bytes)?;
        let nt = Some(NtHive::open(bytes)?);
        Ok(Reader {
            view,
            nt,
            found: Default::default(),
            value_index: Default::default(),
        })
    }

    /// Our navigator alone over a hive read on demand: every key and value
    /// is still read with each cell bounds- and type-checked, but not
    /// cross-checked by nt-hive (which reads the whole file; the
    /// whole-file mode does that).
    pub fn paged(src: &'a dyn HiveBytes) -> crate::Result<Self> {
        Ok(Reader {
            view: HiveView::paged(src)?,
            nt: None,
            found: Default::default(),
            value_index: Default::default(),
        })
    }

    /// Whether the second reader cross-checks every lookup.
    pub fn cross_checked(&self) -> bool {
        self.nt.is_some()
    }

    /// Our navigator's view.
    pub fn view(&self) -> HiveView<'a> {
        self.view
    }

    /// The root key (our navigator).
    pub fn root(&self) -> crate::Result<Key<'a>> {
        Key::root(self.view)
    }

    /// Looks up `path` (backslash-separated, from the root) with both readers.
    pub fn key(&self, path: &str) -> KeyLookup<'a> {
        // Our navigator first: nt-hive only ever sees cells we have already
        // validated, and runs inside a panic guard on top of that.
        let ours = match self.subpath(path) {
            Err(e) => return KeyLookup::Unreadable(e.to_string()),
            Ok(o) => o,
        };
        let Some(nt) = &self.nt else {
            return match ours {
                Ok(k) => KeyLookup::Found(k),
                Err(missing) => KeyLookup::Missing(missing),
            };
        };
        let theirs = nt.key_exists(path);
        match (ours, theirs) {
            (_, Err(e)) => KeyLookup::Unreadable(format!("nt-hive: {e}")),
            (Ok(k), Ok(true)) => KeyLookup::Found(k),
            (Err(missing), Ok(false)) => KeyLookup::Missing(missing),
            (Ok(k), Ok(false)) => KeyLookup::Unreadable(format!(
                "key found at byte offset {:#x} by a full scan, but not by nt-hive's sorted lookup \
                 (subkey list out of order?)",
                k.abs()
            )),
            (Err(missing), Ok(true)) => KeyLookup::Unreadable(format!(
                "nt-hive finds the key but a full scan misses '{missing}'"
            )),
        }
    }

    /// Our navigator's lookup of `path`, from the longest prefix of it
    /// found before: the key, or the first missing component.
    fn subpath(&self, path: &str) -> crate::Result<std::result::Result<Key<'a>, String>> {
        let parts: Vec<&str> = path.split('\\').filter(|p| !p.is_empty()).collect();
        let norm = parts.join("\\");
        // Byte end of each prefix of `norm` (one component more each).
        let ends: Vec<usize> = parts
            .iter()
            .scan(0usize, |at, p| {
                let end = if *at == 0 { p.len() } else { *at + 1 + p.len() };
                *at = end;
                Some(end)
            })
            .collect();
        let mut found = self.found.borrow_mut();
        let start = (0..parts.len())
            .rev()
            .find_map(|i| found.get(&norm[..ends[i]]).map(|rel| (i + 1, *rel)));
        let (from, mut k) = match start {
            Some((from, rel)) => (from, Key::at(self.view, rel)?),
            None => (0, self.root()?),
        };
        for i in from..parts.len() {
            match k.subkey(parts[i])? {
                Some(next) => {
                    k = next;
                    found.insert(norm[..ends[i]].to_string(), k.offset());
                }
                None => return Ok(Err(parts[i].to_string())),
            }
        }
        Ok(Ok(k))
    }

    /// Reads value `name` of the key at `path` (already looked up as `key`).
    pub fn value(&self, key: &KeyLookup<'a>, path: &str, name: &str) -> ValueState {
        let k = match key {
            KeyLookup::Found(k) => k,
            KeyLookup::Missing(_) => return ValueState::Missing,
            KeyLookup::Unreadable(e) => return ValueState::Unreadable { error: e.clone() },
        };
        self.read_value(self.find_value(k, name), path, name)
    }

    /// Value `name` of key `k`, as [`Key::value`] finds it, through the
    /// key's name index when it has many values.
    fn find_value(
        &self,
        k: &Key<'a>,
        name: &str,
    ) -> crate::Result<Option<crate::format::regf::key::Value<'a>>> {
        if k.value_count().is_ok_and(|n| n < VALUE_INDEX_MIN) {
            return k.value(name);
        }
        let asked = match self
            .value_index
            .borrow_mut()
            .entry(k.offset())
            .or_insert(IndexSlot::Asked(0))
        {
            IndexSlot::Built(i) => Ok(i.clone()),
            IndexSlot::Asked(n) => {
                *n = n.saturating_add(1);
                Err(*n)
            }
        };
        let index = match asked {
            Ok(i) => i,
            Err(n) if n <= VALUE_INDEX_AFTER => return k.value(name),
            Err(_) => {
                let Ok((values, broken)) = k.values_until_error() else {
                    return k.value(name);
                };
                let mut by_name = std::collections::HashMap::with_capacity(values.len());
                for (v, n) in values {
                    by_name.entry(name_key(&n)).or_insert(v.offset());
                }
                let i = std::rc::Rc::new(ValueIndex {
                    by_name,
                    broken: broken.is_some(),
                });
                self.value_index
                    .borrow_mut()
                    .insert(k.offset(), IndexSlot::Built(i.clone()));
                i
            }
        };
        match index.by_name.get(&name_key(name)) {
            Some(&rel) => crate::format::regf::key::Value::at(self.view, rel).map(Some),
            None if index.broken => k.value(name),
            None => Ok(None),
        }
    }

    /// Every value of the key at `path` (already looked up as `key`) that
    /// reads as present, in list order, handed to `f` with its record (its
    /// name decoded only by a caller that wants it), type and data, as it
    /// is read: one pass over the value list, and the data borrowed from
    /// the hive where it lies in one piece (a store of hundreds of firewall
    /// rules, read for the few that matter, costs no copy per value). A
    /// value whose name or data cannot be read, or (nt-hive loaded) that
    /// the readers disagree on, is left out; a list that cannot be read
    /// gives none.
    pub fn each_value_data(
        &self,
        key: &KeyLookup<'a>,
        path: &str,
        mut f: impl FnMut(&crate::format::regf::key::Value<'a>, u32, &[u8]),
    ) {
        let KeyLookup::Found(k) = key else {
            return;
        };
        for v in k.values().unwrap_or_default() {
            if self.nt.is_some() {
                let Ok(name) = v.name() else { continue };
                if let RawValue::Present { ty, data, .. } = self.read_raw(Ok(Some(v)), path, &name)
                {
                    f(&v, ty, &data);
                }
                continue;
            }
            if v.raw_name().is_err() {
                continue;
            }
            if let (Ok(ty), Ok(data)) = (v.data_type(), v.data_ref()) {
                f(&v, ty, &data);
            }
        }
    }

    /// The value `found` by our navigator (named `name`, in the key at
    /// `path`), checked against nt-hive's read when it is loaded.
    fn read_value(
        &self,
        found: crate::Result<Option<crate::format::regf::key::Value<'a>>>,
        path: &str,
        name: &str,
    ) -> ValueState {
        match self.read_raw(found, path, name) {
            RawValue::Present { ty, data, offset } => ValueState::Present {
                type_name: reg_type::name(ty),
                type_code: ty,
                data: data_json(ty, &data),
                offset,
            },
            RawValue::Missing => ValueState::Missing,
            RawValue::Unreadable(error) => ValueState::Unreadable { error },
        }
    }

    /// As [`Reader::read_value`], the data left as stored.
    fn read_raw(
        &self,
        found: crate::Result<Option<crate::format::regf::key::Value<'a>>>,
        path: &str,
        name: &str,
    ) -> RawValue {
        let ours = found.and_then(|v| match v {
            None => Ok(None),
            Some(v) => Ok(Some((v.data_type()?, v.data()?, v.abs_of(0)))),
        });
        // nt-hive only reads what our navigator has read without error
        // (and inside its panic guard on top of that).
        let ours = match ours {
            Err(e) => return RawValue::Unreadable(e.to_string()),
            Ok(o) => o,
        };
        let Some(nt) = &self.nt else {
            return match ours {
                None => RawValue::Missing,
                Some((ty, data, offset)) => RawValue::Present { ty, data, offset },
            };
        };
        match (ours, nt.value(path, name)) {
            (_, Err(e)) => RawValue::Unreadable(format!("nt-hive: {e}")),
            (None, Ok(None)) => RawValue::Missing,
            (Some((ty, data, offset)), Ok(Some((nty, ndata))))
                if nty.is_none_or(|t| t == ty) && ndata.as_ref().is_none_or(|d| *d == data) =>
            {
                RawValue::Present { ty, data, offset }
            }
            (ours, Ok(theirs)) => RawValue::Unreadable(format!(
                "readers disagree: ours {}, nt-hive {}",
                describe(&ours.map(|(t, d, _)| (Some(t), Some(d)))),
                describe(&theirs)
            )),
        }
    }

    /// Reads several values of one key.
    pub fn values(&self, path: &str, names: &[&str]) -> (KeyState, Vec<NamedValue>) {
        let key = self.key(path);
        let vals = names
            .iter()
            .map(|n| NamedValue {
                name: n.to_string(),
                state: self.value(&key, path, n),
            })
            .collect();
        (key.state(), vals)
    }

    /// Names of the root's `ControlSetNNN` subkeys with their numbers, sorted.
    pub fn control_sets(&self) -> crate::Result<Vec<(u32, String)>> {
        let mut sets = Vec::new();
        for k in self.root()?.subkeys()? {
            let name = k.name()?;
            let number = name
                .get(..10)
                .filter(|p| names_equal(p, "ControlSet"))
                .and_then(|_| name.get(10..))
                .filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<u32>().ok());
            if let Some(n) = number {
                sets.push((n, name));
            }
        }
        sets.sort();
        Ok(sets)
    }
}

fn describe(v: &Option<(Option<u32>, Option<Vec<u8>>)>) -> String {
    match v {
        None => "absent".into(),
        Some((t, d)) => format!(
            "{} {}",
            t.map_or("(unknown type)".into(), reg_type::name),
            d.as_deref()
                .map_or("(unread)".into(), crate::util::bytes::hex)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lookups that start from a cached prefix find exactly what a walk
    /// from the root finds: the key, or the same missing component; in
    /// any order, any case, with doubled or outer backslashes.
    #[test]
    fn cached_prefixes_find_what_the_root_walk_finds() {
        let bytes = crate::testing::corpus("system/win7sp1-x86__regipy__SYSTEM");
        let r = Reader::new(&bytes).unwrap();
        let rdp = r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
        let paths = [
            rdp,
            r"ControlSet001\Control",
            r"controlset001\CONTROL\terminal server",
            r"ControlSet001\Control\Terminal Server\WinStations",
            r"ControlSet001\Control\Nope\Deeper",
            r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp\Nope",
            r"\ControlSet001\\Control\Terminal Server\",
            r"ControlSet002\Control\Terminal Server",
            "Select",
            "",
            rdp,
        ];
        for p in paths {
            let want = Key::root(r.view()).unwrap().subpath(p).unwrap();
            let got = r.key(p);
            match (want, got) {
                (Ok(a), KeyLookup::Found(b)) => assert_eq!(a.offset(), b.offset(), "{p}"),
                (Err(a), KeyLookup::Missing(b)) => assert_eq!(a, b, "{p}"),
                (w, _) => panic!("{p}: want {:?}", w.map(|k| k.offset())),
            }
        }
    }

    /// Every value of a key read through its name index (built after a
    /// few lookups) is what a scan by name reads, in any case, for missing
    /// names too; and with a value record broken in the middle of the list,
    /// names before it are found and names after it give the scan's error.
    #[test]
    fn the_value_index_finds_what_a_scan_finds() {
        let rdp = r"ControlSet001\Control\Terminal Server\WinStations\RDP-Tcp";
        let mut bytes = crate::testing::corpus("system/win7sp1-x86__regipy__SYSTEM");
        let check = |bytes: &[u8]| {
            let r = Reader::new(bytes).unwrap();
            let key = r.key(rdp);
            let KeyLookup::Found(k) = &key else {
                panic!("no RDP-Tcp")
            };
            let (values, broken) = k.values_until_error().unwrap();
            assert!(values.len() as u32 >= VALUE_INDEX_MIN);
            let mut names: Vec<String> = values.iter().map(|(_, n)| n.clone()).collect();
            names.extend(["nope".to_string(), String::new()]);
            names.extend(names.clone().iter().map(|n| n.to_uppercase()));
            names.extend(names.clone().iter().map(|n| n.to_lowercase()));
            // Twice over, so that the second pass goes through the index.
            for n in names.iter().chain(names.iter()) {
                let scan = r.read_value(k.value(n), rdp, n);
                assert_eq!(r.value(&key, rdp, n), scan, "{n}");
            }
            assert!(matches!(
                r.value_index.borrow().get(&k.offset()),
                Some(IndexSlot::Built(_))
            ));
            let at: Vec<u64> = values.iter().map(|(v, _)| v.abs_of(0)).collect();
            (at, broken)
        };
        let (values, broken) = check(&bytes);
        assert_eq!(broken, None);
        // Break the signature of a value record in the middle of the list.
        let mid = values[values.len() / 2] as usize;
        bytes[mid..mid + 2].copy_from_slice(b"XX");
        let (before, broken) = check(&bytes);
        assert_eq!(broken, Some(values.len() / 2));
        assert_eq!(before.len(), values.len() / 2);
    }

    /// Strings decode as `String::from_utf16_lossy` with the trailing NULs
    /// cut: lone surrogates, odd lengths, embedded and trailing NULs.
    #[test]
    fn string_data_decodes_as_lossy_utf16() {
        let lossy = |d: &[u8]| -> String {
            let u: Vec<u16> = d
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&u)
                .trim_end_matches('\0')
                .to_string()
        };
        let le = |u: &[u16]| -> Vec<u8> { u.iter().flat_map(|c| c.to_le_bytes()).collect() };
        for d in [
            le(&[]),
            le(&[0, 0]),
            le(&[0x41, 0, 0x42, 0, 0]),
            le(&[0xD800, 0x41, 0]),
            le(&[0x41, 0xDC00]),
            le(&[0xD83D, 0xDE00, 0xE9, 0]),
            vec![0x41, 0, 0x42],
            // An ASCII head, then what is not ASCII.
            le(&[0x41, 0x42, 0xE9, 0x43, 0]),
            le(&[0x41, 0x141, 0x42, 0, 0x43]),
            le(&[0x7F, 0x80, 0x41]),
            vec![0x41, 0, 0xE9, 0, 0x42],
        ] {
            assert_eq!(
                data_json(reg_type::SZ, &d),
                serde_json::Value::from(lossy(&d))
            );
            let multi: Vec<String> = lossy(&d)
                .split('\0')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            assert_eq!(
                data_json(reg_type::MULTI_SZ, &d),
                serde_json::Value::from(multi)
            );
        }
    }
}
