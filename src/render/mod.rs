// SPDX-License-Identifier: GPL-2.0-or-later
//! Human renderer for the report model (the JSON renderer is serde).

use std::fmt::Write;

use crate::hive::reader::KeyState;
use crate::report::Nla;

mod accounts;
mod backups;
mod diagnose;
mod fix;
mod get;
mod inspect;
mod locate;
mod restore;

/// Renders `backups list`.
pub fn backups(r: &crate::commands::backups::BackupsReport, st: Style) -> String {
    finish(&backups::backups(r, st), st)
}

/// Renders `backups pack`.
pub fn backups_pack(r: &crate::commands::backups::PackOutput, st: Style) -> String {
    finish(&backups::pack(r, st), st)
}

/// Renders an edit report (every fix command; warnings: [`warnings`]).
pub fn fix(r: &crate::write::outcome::EditReport, st: Style) -> String {
    finish(&fix::fix(r, st), st)
}

/// Renders a `get` report (warnings: [`warnings`]).
pub fn get(r: &crate::report::get::GetReport, st: Style) -> String {
    finish(&get::get(r, st), st)
}

/// Renders an `inspect` report.
pub fn inspect(r: &crate::report::InspectReport, st: Style) -> String {
    finish(&inspect::inspect(r, st), st)
}

/// Renders a `locate` report.
pub fn locate(r: &crate::report::locate::LocateReport, st: Style) -> String {
    finish(&locate::locate(r, st), st)
}

/// Renders an `account list` report.
pub fn accounts(r: &crate::report::accounts::AccountsReport, st: Style) -> String {
    finish(&accounts::accounts(r, st), st)
}

/// Renders a `diagnose` report.
pub fn diagnose(r: &crate::report::diagnose::DiagnoseReport, st: Style) -> String {
    finish(&diagnose::diagnose(r, st), st)
}

/// Renders a `restore` report.
pub fn restore(r: &crate::write::backup::RestoreReport, st: Style) -> String {
    finish(&restore::restore(r, st), st)
}

/// The colour codes [`Style`] emits: the only escape sequences human output
/// may hold.
const SGR_CODES: [&str; 5] = ["1", "31", "32", "33", "0"];

/// Whether `c` is a control character: C0 (U+0000-U+001F), DEL (U+007F)
/// or C1 (U+0080-U+009F). A terminal acts on these instead of showing them.
fn is_control(c: char) -> bool {
    c.is_control()
}

/// Appends the visible form of control character `c`: `\xNN` for C0 and
/// DEL, `\u{NN}` for C1.
fn push_escaped(o: &mut String, c: char) {
    let n = c as u32;
    if n < 0x80 {
        let _ = write!(o, "\\x{n:02x}");
    } else {
        let _ = write!(o, "\\u{{{n:x}}}");
    }
}

/// `s` with every control character (line breaks included) shown as an
/// escape (`\x1b`, `\x0a`, `\u{9b}`): text read from a hive or a disk can
/// hold anything, and is printed for a terminal that would otherwise act
/// on it (set its title, move the cursor, recolour, hide text).
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if is_control(c) {
            push_escaped(&mut o, c);
        } else {
            o.push(c);
        }
    }
    o
}

/// The last step of every human rendering: escapes every control character
/// except the line breaks the renderer writes and, when colour is on, the
/// colour codes [`Style`] writes. Data is escaped where it is formatted
/// ([`escape`]); this pass guarantees that nothing else reaches the
/// terminal even if a renderer forgot to.
pub fn finish(text: &str, st: Style) -> String {
    let mut o = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' && st.color {
            if let Some(sgr) = SGR_CODES
                .iter()
                .map(|code| format!("\x1b[{code}m"))
                .find(|sgr| rest.starts_with(sgr.as_str()))
            {
                o.push_str(&sgr);
                rest = &rest[sgr.len()..];
                continue;
            }
        }
        if c != '\n' && is_control(c) {
            push_escaped(&mut o, c);
        } else {
            o.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    o
}

/// Terminal styling: colour only when asked for (TTY and no `NO_COLOR`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Emit ANSI colours.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Bold.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    /// Red.
    pub fn bad(&self, s: &str) -> String {
        self.paint("31", s)
    }
    /// Green.
    pub fn good(&self, s: &str) -> String {
        self.paint("32", s)
    }
    /// Yellow.
    pub fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
    /// Colours a verdict.
    pub fn nla(&self, n: Nla) -> String {
        match n {
            Nla::Required => self.warn(n.text()),
            Nla::Off => self.good(n.text()),
            _ => self.bad(n.text()),
        }
    }
}

/// "last written 2024-01-02T03:04:05.1234567Z" for a present key.
fn key_time(k: &KeyState) -> Option<String> {
    match k {
        KeyState::Present { last_written, .. } => Some(format!(
            "last written {}",
            last_written.text().as_deref().unwrap_or("(not recorded)")
        )),
        _ => None,
    }
}

fn key_note(k: &KeyState) -> Option<String> {
    match k {
        KeyState::Present { .. } => None,
        KeyState::Missing { missing } => Some(format!("key missing ('{}')", escape(missing))),
        KeyState::Unreadable { error } => Some(format!("UNREADABLE: {}", escape(error))),
    }
}

/// Renders warnings, one `warning:` line each. In human mode they go to
/// stderr (the report body goes to stdout); JSON keeps them in the document.
pub fn warnings(ws: &[crate::error::Warning], st: Style) -> String {
    let mut o = String::new();
    for w in ws {
        let _ = writeln!(o, "{} {}", st.warn("warning:"), escape(&w.message));
    }
    finish(&o, st)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = "\u{1b}]0;title\u{7}\u{1b}[31mred\r\nfake line\u{9b}2J";

    #[test]
    fn escape_shows_every_control_character() {
        assert_eq!(
            escape(EVIL),
            r"\x1b]0;title\x07\x1b[31mred\x0d\x0afake line\u{9b}2J"
        );
        assert_eq!(escape("Ünïcode ok \\ tab"), "Ünïcode ok \\ tab");
    }

    /// The final pass keeps line breaks, and with colour on only the codes
    /// `Style` writes; anything else a renderer let through is escaped.
    #[test]
    fn finish_lets_only_its_own_colour_codes_through() {
        let st = Style { color: true };
        let text = format!("{}\n{EVIL}\n", st.bad("bad"));
        let out = finish(&text, st);
        assert!(out.starts_with("\x1b[31mbad\x1b[0m\n"), "{out:?}");
        let rest = &out["\x1b[31mbad\x1b[0m\n".len()..];
        // The hostile `\e[31m` is a colour code too, but every other
        // control character around it is shown.
        assert!(rest.contains(r"\x1b]0;title\x07"), "{rest:?}");
        // A line break in data that reached the final pass stays a line
        // break (data is escaped where it is formatted); a CR does not.
        assert!(rest.contains("\\x0d\nfake line"), "{rest:?}");
        let plain = finish(&text, Style { color: false });
        assert!(
            !plain.chars().any(|c| c.is_control() && c != '\n'),
            "{plain:?}"
        );
        // Warnings are escaped too.
        let w = warnings(
            &[crate::error::Warning::new(
                crate::error::Code::Warning,
                EVIL,
            )],
            Style { color: false },
        );
        assert!(
            !w.trim_end().contains('\n') && !w.contains('\u{1b}'),
            "{w:?}"
        );
    }
}
