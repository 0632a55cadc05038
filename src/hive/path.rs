// SPDX-License-Identifier: GPL-2.0-or-later
//! Registry paths and typed data as the operator writes them.
//!
//! A path names the hive first: `SYSTEM\CurrentControlSet\Services\TermService`
//! or `SOFTWARE\Policies\...` (an `HKLM\` / `HKEY_LOCAL_MACHINE\` prefix is
//! accepted). An offline SYSTEM hive has no `CurrentControlSet`: it is
//! resolved through `Select\Default` — the set the boot loader boots, as
//! `inspect` reports it — falling back to `Select\Current` only when
//! `Default` is absent or 0, or expanded to every `ControlSetNNN` when asked.

use crate::error::{Error, Result};
use crate::format::regf::key::reg_type;
use crate::hive::name::HiveName;
use crate::hive::reader::{Reader, ValueState};

/// A parsed operator path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegPath {
    /// The hive.
    pub hive: HiveName,
    /// Path inside the hive, backslash-separated, may start with
    /// `CurrentControlSet`.
    pub rest: String,
}

fn bad(detail: String) -> Error {
    Error::Invalid {
        what: "registry path",
        offset: 0,
        detail,
    }
}

impl RegPath {
    /// Parses `SYSTEM\...` / `SOFTWARE\...` (forward slashes accepted too).
    pub fn parse(s: &str) -> Result<Self> {
        let norm = s.replace('/', "\\");
        let mut parts: Vec<&str> = norm.split('\\').filter(|p| !p.is_empty()).collect();
        if parts.first().is_some_and(|p| {
            p.eq_ignore_ascii_case("HKLM") || p.eq_ignore_ascii_case("HKEY_LOCAL_MACHINE")
        }) {
            parts.remove(0);
        }
        let hive = match parts.first().map(|p| p.to_ascii_uppercase()) {
            Some(h) if h == "SYSTEM" => HiveName::System,
            Some(h) if h == "SOFTWARE" => HiveName::Software,
            _ => return Err(bad(format!("'{s}' must start with SYSTEM\\ or SOFTWARE\\"))),
        };
        Ok(RegPath {
            hive,
            rest: parts[1..].join("\\"),
        })
    }

    fn uses_ccs(&self) -> bool {
        self.rest
            .split('\\')
            .next()
            .is_some_and(|p| p.eq_ignore_ascii_case("CurrentControlSet"))
    }

    /// Whether the path goes through `CurrentControlSet` of SYSTEM.
    pub fn uses_current_control_set(&self) -> bool {
        self.hive == HiveName::System && self.uses_ccs()
    }

    /// Concrete key paths: `CurrentControlSet` becomes the set Windows
    /// boots ([`current_control_set`]), or every control set with `all`.
    /// Returns (label, path) pairs; the label is the control set or "".
    pub fn resolve(&self, system: Option<&Reader<'_>>, all: bool) -> Result<Vec<(String, String)>> {
        if self.hive != HiveName::System || !self.uses_ccs() {
            if all && self.hive == HiveName::System {
                return Err(bad(
                    "--all-control-sets needs a path under CurrentControlSet".into(),
                ));
            }
            return Ok(vec![(String::new(), self.rest.clone())]);
        }
        let r = system.ok_or_else(|| Error::NotFound("no SYSTEM hive".into()))?;
        let tail: String = self
            .rest
            .split_once('\\')
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        let join = |set: &str| {
            if tail.is_empty() {
                set.to_string()
            } else {
                format!("{set}\\{tail}")
            }
        };
        if all {
            return Ok(r
                .control_sets()?
                .into_iter()
                .map(|(_, n)| (n.clone(), join(&n)))
                .collect());
        }
        let (set, _) = current_control_set(r)?;
        Ok(vec![(set.clone(), join(&set))])
    }
}

/// The control set `CurrentControlSet` stands for in an offline SYSTEM
/// hive, and the `Select` value that named it: `Select\Default` (the set
/// the boot loader boots), or `Select\Current` when `Default` is absent or
/// 0. An unreadable `Default` is refused rather than guessed around.
pub fn current_control_set(r: &Reader<'_>) -> Result<(String, &'static str)> {
    let key = r.key("Select");
    let default = r.value(&key, "Select", "Default");
    if let ValueState::Unreadable { error } = &default {
        return Err(Error::Refused(format!(
            "Select\\Default cannot be read ({error}): cannot tell which control set \
             CurrentControlSet is; name the ControlSetNNN key or use --all-control-sets"
        )));
    }
    let (pick, from) = match default.dword().filter(|&n| n != 0) {
        Some(n) => (n, r"Select\Default"),
        None => (
            r.value(&key, "Select", "Current")
                .dword()
                .filter(|&n| n != 0)
                .ok_or_else(|| {
                    Error::NotFound(
                        "Select has no usable Default/Current value to resolve CurrentControlSet"
                            .into(),
                    )
                })?,
            r"Select\Current",
        ),
    };
    let set = r
        .control_sets()?
        .into_iter()
        .find(|(n, _)| *n == pick)
        .map(|(_, name)| name)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "{from} names ControlSet{pick:03}, which does not exist"
            ))
        })?;
    Ok((set, from))
}

/// Value types accepted by `set`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
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

impl DataType {
    /// The registry type code.
    pub fn code(self) -> u32 {
        match self {
            DataType::Dword => reg_type::DWORD,
            DataType::Qword => reg_type::QWORD,
            DataType::Sz => reg_type::SZ,
            DataType::ExpandSz => reg_type::EXPAND_SZ,
            DataType::MultiSz => reg_type::MULTI_SZ,
            DataType::Binary => reg_type::BINARY,
        }
    }
}

fn parse_uint(s: &str) -> Option<u64> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

/// Encodes operator data: numbers in decimal or 0x-hex; strings as
/// UTF-16LE with a terminating NUL (as Windows stores them); multi-sz from
/// several items; binary from hex digits (spaces, commas, colons ignored).
pub fn encode(ty: DataType, items: &[String]) -> Result<Vec<u8>> {
    let one = || -> Result<&str> {
        match items {
            [x] => Ok(x.as_str()),
            _ => Err(bad(format!("{ty:?} takes exactly one --data"))),
        }
    };
    let num_err = |s: &str| bad(format!("'{s}' is not a number (decimal or 0x-hex)"));
    Ok(match ty {
        DataType::Dword => {
            let s = one()?;
            let v = parse_uint(s)
                .filter(|&v| v <= u64::from(u32::MAX))
                .ok_or_else(|| num_err(s))?;
            (v as u32).to_le_bytes().to_vec()
        }
        DataType::Qword => {
            let s = one()?;
            parse_uint(s)
                .ok_or_else(|| num_err(s))?
                .to_le_bytes()
                .to_vec()
        }
        DataType::Sz | DataType::ExpandSz => utf16z(one()?),
        DataType::MultiSz => {
            let mut out: Vec<u8> = items.iter().flat_map(|i| utf16z(i)).collect();
            out.extend_from_slice(&[0, 0]);
            out
        }
        DataType::Binary => {
            let s = one()?;
            // Digits are taken as characters, never by byte index: any
            // non-hex character (multi-byte ones included) is an error.
            let digits: Vec<u8> = s
                .chars()
                .filter(|c| !matches!(c, ' ' | ',' | ':' | '-'))
                .map(|c| c.to_digit(16).map(|d| d as u8))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("'{s}' is not hex")))?;
            if !digits.len().is_multiple_of(2) {
                return Err(bad(format!("'{s}' has an odd number of hex digits")));
            }
            digits.chunks_exact(2).map(|p| p[0] << 4 | p[1]).collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binary data with a multi-byte character is an error, not a panic
    /// on a byte index inside the character.
    #[test]
    fn binary_data_with_multibyte_characters_is_an_error() {
        for bad in ["aé0", "é", "0é", "00 ff é1", "ffffé"] {
            let e = encode(DataType::Binary, &[bad.to_string()]).unwrap_err();
            assert!(e.to_string().contains("is not hex"), "{bad}: {e}");
        }
        assert_eq!(
            encode(DataType::Binary, &["0A:ff-10 2b".to_string()]).unwrap(),
            vec![0x0a, 0xff, 0x10, 0x2b]
        );
        assert!(encode(DataType::Binary, &["abc".to_string()]).is_err());
    }

    #[test]
    fn parses_paths() {
        let p = RegPath::parse(r"HKLM\system\CurrentControlSet\Services\TermService").unwrap();
        assert_eq!(p.hive, HiveName::System);
        assert_eq!(p.rest, r"CurrentControlSet\Services\TermService");
        assert!(p.uses_ccs());
        assert_eq!(
            RegPath::parse("SOFTWARE/Policies").unwrap().hive,
            HiveName::Software
        );
        assert!(RegPath::parse(r"SAM\Domains").is_err());
    }

    /// The Modern fixture with `Select` set to the given Current/Default.
    fn select_hive(current: u32, default: u32) -> Vec<u8> {
        use crate::fixtures::build::{build, Data};
        use crate::fixtures::{system, SystemVariant};
        let mut spec = system(SystemVariant::Modern);
        let sel = spec.root.find_mut("Select").unwrap();
        for v in &mut sel.values {
            match v.name.as_str() {
                "Current" => v.data = Data::Dword(current),
                "Default" => v.data = Data::Dword(default),
                _ => {}
            }
        }
        build(&spec)
    }

    #[test]
    fn current_control_set_is_select_default_then_current() {
        let p = RegPath::parse(r"SYSTEM\CurrentControlSet\Control").unwrap();
        let hive = select_hive(1, 2);
        let r = Reader::new(&hive).unwrap();
        assert_eq!(
            current_control_set(&r).unwrap(),
            ("ControlSet002".to_string(), r"Select\Default")
        );
        assert_eq!(
            p.resolve(Some(&r), false).unwrap(),
            [(
                "ControlSet002".to_string(),
                r"ControlSet002\Control".to_string()
            )]
        );
        assert_eq!(p.resolve(Some(&r), true).unwrap().len(), 2);
        // Default 0: Current is used.
        let hive = select_hive(2, 0);
        let r = Reader::new(&hive).unwrap();
        assert_eq!(
            current_control_set(&r).unwrap(),
            ("ControlSet002".to_string(), r"Select\Current")
        );
        // Default names a set that does not exist: not found, no fallback.
        let hive = select_hive(1, 7);
        let r = Reader::new(&hive).unwrap();
        let e = current_control_set(&r).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::NotFound);
        assert!(e.to_string().contains("ControlSet007"), "{e}");
    }

    #[test]
    fn encodes_data() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            encode(DataType::Dword, &s(&["0x10"])).unwrap(),
            vec![16, 0, 0, 0]
        );
        assert!(encode(DataType::Dword, &s(&["4294967296"])).is_err());
        assert_eq!(
            encode(DataType::Sz, &s(&["A"])).unwrap(),
            vec![b'A', 0, 0, 0]
        );
        assert_eq!(
            encode(DataType::MultiSz, &s(&["a", "b"])).unwrap(),
            vec![b'a', 0, 0, 0, b'b', 0, 0, 0, 0, 0]
        );
        assert_eq!(
            encode(DataType::Binary, &s(&["de ad:BE,ef"])).unwrap(),
            vec![0xde, 0xad, 0xbe, 0xef]
        );
        assert!(encode(DataType::Binary, &s(&["abc"])).is_err());
        assert!(encode(DataType::Dword, &s(&["1", "2"])).is_err());
    }
}
