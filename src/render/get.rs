// SPDX-License-Identifier: GPL-2.0-or-later
//! A `get` report for a terminal.

use std::fmt::Write;

use super::{escape, key_note, key_time, Style};
use crate::hive::reader::ValueState;
use crate::report::View;

/// Longest value text `get` prints on a terminal line; `--json` has it all.
const VALUE_TEXT_MAX: usize = 200;

/// `text`, cut to [`VALUE_TEXT_MAX`] characters with a note of its length.
fn shorten(text: &str) -> String {
    let n = text.chars().count();
    if n <= VALUE_TEXT_MAX {
        return text.to_string();
    }
    let head: String = text.chars().take(VALUE_TEXT_MAX).collect();
    format!("{head}... ({n} characters; --json has all of it)")
}

/// Renders a `get` report (warnings: [`super::warnings`]).
pub fn get(r: &crate::report::get::GetReport, st: Style) -> String {
    let mut o = String::new();
    if r.view == View::AfterReplay {
        let _ = writeln!(
            o,
            "{}",
            st.bold("(view: after log replay, as Windows will load the hive)")
        );
    }
    for e in &r.entries {
        let via = match (&e.control_set, &e.resolved_from) {
            (Some(set), Some(from)) => format!(
                "   (CurrentControlSet = {}, from {})",
                escape(set),
                escape(from)
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "{}{via}",
            st.bold(&format!("{}\\{}", r.hive.as_str(), escape(&e.key)))
        );
        if let Some(n) = key_note(&e.state) {
            let _ = writeln!(o, "  {}", st.warn(&n));
        }
        if let Some(t) = key_time(&e.state) {
            let _ = writeln!(o, "  ({t})");
        }
        for v in &e.values {
            let ty = match &v.state {
                ValueState::Present { type_name, .. } => type_name.as_str(),
                _ => "",
            };
            let name = if v.name.is_empty() {
                "(Default)".to_string()
            } else {
                escape(&v.name)
            };
            let text = escape(&shorten(&v.state.display()));
            let _ = writeln!(o, "  {name:<32} {ty:<14} {text}");
            if let ValueState::Unreadable { error } = &v.state {
                let _ = writeln!(o, "    {}", st.bad(&escape(error)));
            }
        }
        for s in &e.subkeys {
            let _ = writeln!(o, "  [{}]", escape(s));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short value text is printed whole; long text is cut at the limit
    /// and says how long it was.
    #[test]
    fn long_value_text_is_shortened() {
        assert_eq!(shorten("0x2a"), "0x2a");
        let exact = "a".repeat(VALUE_TEXT_MAX);
        assert_eq!(shorten(&exact), exact);
        let long = "é".repeat(VALUE_TEXT_MAX + 50);
        let s = shorten(&long);
        assert!(s.starts_with(&"é".repeat(VALUE_TEXT_MAX)));
        assert!(
            s.ends_with("... (250 characters; --json has all of it)"),
            "{s}"
        );
    }
}
