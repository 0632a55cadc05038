// SPDX-License-Identifier: GPL-2.0-or-later
//! Human renderer for the report model (the JSON renderer is serde).

use std::fmt::Write;

use crate::hive::reader::KeyState;
use crate::report::Nla;

mod accounts;
mod diagnose;
mod fix;
mod get;
mod inspect;
mod locate;
mod restore;

pub use accounts::accounts;
pub use diagnose::diagnose;
pub use fix::fix;
pub use get::get;
pub use inspect::inspect;
pub use locate::locate;
pub use restore::restore;

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

fn key_note(k: &KeyState) -> Option<String> {
    match k {
        KeyState::Present { .. } => None,
        KeyState::Missing { missing } => Some(format!("key missing ('{missing}')")),
        KeyState::Unreadable { error } => Some(format!("UNREADABLE: {error}")),
    }
}

/// Renders warnings, one `warning:` line each. In human mode they go to
/// stderr (the report body goes to stdout); JSON keeps them in the document.
pub fn warnings(ws: &[String], st: Style) -> String {
    let mut o = String::new();
    for w in ws {
        let _ = writeln!(o, "{} {w}", st.warn("warning:"));
    }
    o
}
