// SPDX-License-Identifier: GPL-2.0-or-later
//! What every check reads through: the hives (both readers), the control
//! sets, the Windows build, and the builders of findings and fix commands.

use crate::hive::name::HiveName;
use crate::hive::reader::{KeyLookup, Reader, ValueState};
use crate::report::diagnose::{Finding, Fix, KeyTime, RepairAction, RepairOp, Risk, Severity};
use crate::util::time::{filetime_iso_precise, Stamp};

/// First build of Windows 8 / Server 2012: SecurityLayer 2 (TLS) is the
/// default from here on (rdp-causes.md row 6).
pub const BUILD_WIN8: u32 = 9200;
/// First build of Windows Vista / Server 2008: NetworkService account for
/// TermService, SecurityLayer and NLA values exist (rdp-causes.md row 12).
pub const BUILD_VISTA: u32 = 6000;

/// The hives a diagnosis reads, as Windows would load them.
#[derive(Clone, Copy)]
pub struct Hives<'a> {
    /// SYSTEM (always present: it is what the source was located by).
    pub system: &'a Reader<'a>,
    /// SOFTWARE.
    pub software: Option<&'a Reader<'a>>,
    /// SAM.
    pub sam: Option<&'a Reader<'a>>,
    /// SECURITY.
    pub security: Option<&'a Reader<'a>>,
}

/// Everything a check needs.
pub struct Ctx<'a> {
    /// The hives.
    pub hives: Hives<'a>,
    /// The source as the operator gave it (for fix command lines).
    pub source: String,
    /// Every `ControlSetNNN`.
    pub sets: Vec<String>,
    /// The set that boots.
    pub boot: Option<String>,
    /// Windows build: SOFTWARE `CurrentBuild`, else a guess from SYSTEM.
    pub build: Option<u32>,
    /// Every present key the checks read through [`Ctx::in_set`],
    /// [`Ctx::system`] and [`Ctx::software`], with its last-write time.
    pub reads: std::cell::RefCell<Vec<KeyTime>>,
}

/// A key read with both readers.
pub struct KeyRead<'a> {
    reader: &'a Reader<'a>,
    /// "SYSTEM", "SOFTWARE"...
    pub hive: &'static str,
    /// Path inside the hive.
    pub path: String,
    /// The control set, for a key inside one.
    pub set: Option<String>,
    lookup: KeyLookup<'a>,
    /// Last-write FILETIME of the key, when it exists.
    pub last_write: Option<u64>,
}

impl<'a> KeyRead<'a> {
    /// Reads `path` of `reader`.
    pub fn new(reader: &'a Reader<'a>, hive: &'static str, path: String) -> Self {
        let lookup = reader.key(&path);
        let last_write = match &lookup {
            KeyLookup::Found(k) => k.timestamp().ok(),
            _ => None,
        };
        KeyRead {
            reader,
            hive,
            path,
            set: None,
            lookup,
            last_write,
        }
    }

    /// The key's state for reports.
    pub fn state(&self) -> crate::hive::reader::KeyState {
        self.lookup.state()
    }

    /// Whether both readers find the key.
    pub fn exists(&self) -> bool {
        matches!(self.lookup, KeyLookup::Found(_))
    }

    /// Why the key cannot be read, if so.
    pub fn unreadable(&self) -> Option<&str> {
        match &self.lookup {
            KeyLookup::Unreadable(e) => Some(e),
            _ => None,
        }
    }

    /// A value's state.
    pub fn value(&self, name: &str) -> ValueState {
        self.reader.value(&self.lookup, &self.path, name)
    }

    /// A REG_DWORD value.
    pub fn dword(&self, name: &str) -> Option<u32> {
        self.value(name).dword()
    }

    /// A string value (REG_SZ / REG_EXPAND_SZ).
    pub fn string(&self, name: &str) -> Option<String> {
        match self.value(name) {
            ValueState::Present {
                data: serde_json::Value::String(s),
                type_code: 1 | 2,
                ..
            } => Some(s),
            _ => None,
        }
    }

    /// A REG_BINARY value's bytes (both readers agree on them).
    pub fn binary(&self, name: &str) -> Option<Vec<u8>> {
        match self.value(name) {
            ValueState::Present {
                data: serde_json::Value::String(s),
                type_code: crate::format::regf::key::reg_type::BINARY,
                ..
            } => unhex(&s),
            _ => None,
        }
    }

    /// Every value of the key that reads as present, with its type and its
    /// data as stored, handed to `f` as it is read (one pass over its list;
    /// see [`crate::hive::reader::Reader::each_value_data`]).
    pub fn each_value_data(&self, f: impl FnMut(&crate::format::regf::key::Value<'a>, u32, &[u8])) {
        self.reader.each_value_data(&self.lookup, &self.path, f)
    }

    /// Names of the key's values (our navigator; each is then read by both).
    pub fn value_names(&self) -> Vec<String> {
        match &self.lookup {
            KeyLookup::Found(k) => k
                .values()
                .map(|vs| vs.iter().filter_map(|v| v.name().ok()).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Names of the key's subkeys.
    pub fn subkey_names(&self) -> Vec<String> {
        match &self.lookup {
            KeyLookup::Found(k) => k
                .subkeys()
                .map(|ks| ks.iter().filter_map(|k| k.name().ok()).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The data found, for a finding: the value's data, null when absent,
    /// the error text when unreadable.
    pub fn found(&self, name: &str) -> serde_json::Value {
        match self.value(name) {
            ValueState::Present { data, .. } => data,
            ValueState::Missing => serde_json::Value::Null,
            ValueState::Unreadable { error } => {
                serde_json::Value::String(format!("unreadable: {error}"))
            }
        }
    }

    /// A finding about this key (value `None`) or one of its values.
    pub fn finding(&self, f: New) -> Finding {
        Finding {
            code: f.code,
            row: f.row,
            severity: f.severity,
            hive: self.hive,
            key: self.path.clone(),
            found: match f.value {
                Some(v) => self.found(v),
                None => serde_json::Value::Null,
            },
            value: f.value.map(str::to_string),
            healthy: f.healthy.to_string(),
            last_write: self.last_write.and_then(filetime_iso_precise),
            last_write_filetime: self.last_write,
            control_set: self.set.clone(),
            explanation: f.explanation,
            fix: f.fix,
        }
    }
}

/// The parts of a finding a check decides.
pub struct New<'v> {
    /// Code.
    pub code: &'static str,
    /// Row of rdp-causes.md.
    pub row: u8,
    /// Severity.
    pub severity: Severity,
    /// Value name, or `None` for the key.
    pub value: Option<&'v str>,
    /// What healthy machines hold.
    pub healthy: &'v str,
    /// One line.
    pub explanation: String,
    /// The fix.
    pub fix: Fix,
}

impl<'a> Ctx<'a> {
    /// Notes `k` in [`Ctx::reads`] when it exists.
    fn note(&self, k: KeyRead<'a>) -> KeyRead<'a> {
        if let Some(t) = k.last_write {
            self.reads.borrow_mut().push(KeyTime {
                hive: k.hive,
                key: k.path.clone(),
                last_written: Stamp(t),
            });
        }
        k
    }

    /// A SYSTEM key inside control set `set`.
    pub fn in_set(&self, set: &str, path: &str) -> KeyRead<'a> {
        let mut k = KeyRead::new(self.hives.system, "SYSTEM", format!(r"{set}\{path}"));
        k.set = Some(set.to_string());
        self.note(k)
    }

    /// A SYSTEM key outside the control sets.
    pub fn system(&self, path: &str) -> KeyRead<'a> {
        self.note(KeyRead::new(self.hives.system, "SYSTEM", path.to_string()))
    }

    /// A SOFTWARE key, when SOFTWARE was read.
    pub fn software(&self, path: &str) -> Option<KeyRead<'a>> {
        self.hives
            .software
            .map(|r| self.note(KeyRead::new(r, "SOFTWARE", path.to_string())))
    }

    /// The keys noted, each once, sorted by hive and path.
    pub fn keys_read(&self) -> Vec<KeyTime> {
        let mut v = self.reads.borrow().clone();
        v.sort_by(|a, b| (a.hive, &a.key).cmp(&(b.hive, &b.key)));
        v.dedup_by(|a, b| a.hive == b.hive && a.key == b.key);
        v
    }

    /// `ntrescue <args...>` with the source in place of `SOURCE`, each
    /// argument quoted for a POSIX shell when it needs it.
    pub fn command(&self, args: &[&str]) -> String {
        let mut out = vec!["ntrescue".to_string()];
        for a in args {
            out.push(quote(if *a == "SOURCE" { &self.source } else { a }));
        }
        out.join(" ")
    }

    /// `ntrescue set SOURCE 'HIVE\key' value --type dword --data N`.
    pub fn set_dword(&self, k: &KeyRead<'_>, value: &str, data: u32) -> String {
        let path = format!(r"{}\{}", k.hive, k.path);
        self.command(&[
            "set",
            "SOURCE",
            &path,
            value,
            "--type",
            "dword",
            "--data",
            &data.to_string(),
        ])
    }

    /// `ntrescue delete-value SOURCE 'HIVE\key' value`.
    pub fn delete_value(&self, k: &KeyRead<'_>, value: &str) -> String {
        let path = format!(r"{}\{}", k.hive, k.path);
        self.command(&["delete-value", "SOURCE", &path, value])
    }
}

/// Quotes `s` for the shell the operator pastes the fix into: cmd.exe on a
/// Windows build, a POSIX shell elsewhere.
pub fn quote(s: &str) -> String {
    if cfg!(windows) {
        quote_windows(s)
    } else {
        quote_posix(s)
    }
}

/// Quotes `s` for a POSIX shell when it holds anything but safe characters.
pub fn quote_posix(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Quotes `s` as one argument of a Windows command line: cmd.exe takes no
/// single quotes, and the program splits its line by the Microsoft C
/// runtime's rules (`CommandLineToArgvW`): inside double quotes a run of
/// backslashes is literal unless a quote follows it, where it is doubled
/// and the quote escaped as `\"`; a run before the closing quote is
/// doubled. cmd.exe's `&|<>^()` are literal inside the quotes.
pub fn quote_windows(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@\\".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    let mut out = String::from('"');
    let mut slashes = 0usize;
    for c in s.chars() {
        match c {
            '\\' => slashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', slashes * 2 + 1));
                out.push('"');
                slashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat_n('\\', slashes));
                out.push(c);
                slashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', slashes * 2));
    out.push('"');
    out
}

/// The bytes of lower-case hex text (what the report holds for binary data).
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A REG_DWORD repair op on a key of `k`'s hive.
pub fn op_dword(k: &KeyRead<'_>, value: &str, data: u32) -> RepairOp {
    RepairOp {
        hive: hive_name(k.hive),
        key: k.path.clone(),
        value: value.to_string(),
        action: RepairAction::Dword(data),
    }
}

/// A delete-value repair op.
pub fn op_delete(k: &KeyRead<'_>, value: &str) -> RepairOp {
    RepairOp {
        hive: hive_name(k.hive),
        key: k.path.clone(),
        value: value.to_string(),
        action: RepairAction::Delete,
    }
}

fn hive_name(h: &str) -> HiveName {
    if h == "SOFTWARE" {
        HiveName::Software
    } else {
        HiveName::System
    }
}

/// A fix by command. `rdp_repair` is "applied" for the low-risk fix of a
/// blocker, a flag name for the medium ones, `None` when repair skips it.
pub fn fix(
    command: String,
    risk: Risk,
    rdp_repair: Option<&'static str>,
    ops: Vec<RepairOp>,
) -> Fix {
    Fix {
        command: Some(command),
        manual: None,
        risk,
        rdp_repair,
        ops,
    }
}

/// A fix by hand only.
pub fn manual(steps: &str, risk: Risk) -> Fix {
    Fix {
        command: None,
        manual: Some(steps.to_string()),
        risk,
        rdp_repair: None,
        ops: Vec::new(),
    }
}

/// "applied" when a low-risk fix repairs a blocker.
pub fn applied_if(sev: Severity) -> Option<&'static str> {
    (sev == Severity::Blocker).then_some("applied")
}

/// A value a check needs that cannot be read: never taken for healthy.
pub fn unreadable_value(k: &KeyRead<'_>, value: &str, row: u8) -> Option<Finding> {
    match k.value(value) {
        ValueState::Unreadable { .. } => Some(k.finding(New {
            code: "value-unreadable",
            row,
            severity: Severity::Warning,
            value: Some(value),
            healthy: "readable",
            explanation: format!(
                "{}\\{}\\{value} cannot be read by both readers: what it governs is unknown",
                k.hive, k.path
            ),
            fix: manual(
                "repair the hive on a Windows machine, or restore it from a backup",
                Risk::Medium,
            ),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_arguments_are_quoted_for_each_shell() {
        let key = r"SYSTEM\ControlSet001\Control\Terminal Server";
        assert_eq!(quote_posix("SYSTEM"), "SYSTEM");
        assert_eq!(quote_posix(key), format!("'{key}'"));
        assert_eq!(quote_posix("it's"), r"'it'\''s'");
        assert_eq!(quote_posix(""), "''");
        assert_eq!(quote_windows("SYSTEM"), "SYSTEM");
        assert_eq!(
            quote_windows(r"D:\Windows\System32\config"),
            r"D:\Windows\System32\config"
        );
        assert_eq!(quote_windows(key), format!("\"{key}\""));
        assert_eq!(quote_windows(""), "\"\"");
        // A quote inside, backslashes before a quote and at the end.
        assert_eq!(quote_windows(r#"a "b""#), r#""a \"b\"""#);
        assert_eq!(quote_windows(r#"x\"y"#), r#""x\\\"y""#);
        assert_eq!(quote_windows(r"C:\my dir\"), r#""C:\my dir\\""#);
        assert_eq!(quote_windows("a&b|c"), "\"a&b|c\"");
        assert_eq!(
            quote(key),
            if cfg!(windows) {
                quote_windows(key)
            } else {
                quote_posix(key)
            }
        );
    }

    /// What `CommandLineToArgvW` makes of one quoted argument (the rules
    /// above, read back), so each quoting round-trips.
    fn argv_windows(q: &str) -> String {
        let mut out = String::new();
        let mut chars = q.chars().peekable();
        let mut quoted = false;
        let mut slashes = 0usize;
        while let Some(c) = chars.next() {
            match c {
                '\\' => slashes += 1,
                '"' => {
                    out.extend(std::iter::repeat_n('\\', slashes / 2));
                    if slashes % 2 == 1 {
                        out.push('"');
                    } else {
                        quoted = !quoted;
                    }
                    slashes = 0;
                }
                _ => {
                    out.extend(std::iter::repeat_n('\\', slashes));
                    slashes = 0;
                    assert!(quoted || c != ' ', "unquoted space in {q}");
                    out.push(c);
                }
            }
            let _ = chars.peek();
        }
        out.extend(std::iter::repeat_n('\\', slashes));
        out
    }

    #[test]
    fn windows_quoting_round_trips() {
        for s in [
            r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options\sethc.exe",
            r#"v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=3389|Name=@FirewallAPI.dll,-28775|"#,
            r#"tricky\"quote\\"#,
            r"E:\",
            "",
        ] {
            assert_eq!(argv_windows(&quote_windows(s)), s, "{s}");
        }
    }
}
