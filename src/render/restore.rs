// SPDX-License-Identifier: GPL-2.0-or-later
//! A restore report for a terminal.

use std::fmt::Write;

use super::Style;

/// Renders a restore report.
pub fn restore(r: &crate::write::backup::RestoreReport, st: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} {} (made for: {})",
        st.bold("restore"),
        r.backup,
        r.operation
    );
    for f in &r.files {
        let _ = writeln!(
            o,
            "  {:<10} {} (sha256 {})",
            f.action.as_str(),
            f.path,
            f.sha256
        );
    }
    if r.forced {
        let _ = writeln!(
            o,
            "{}",
            st.warn("--force: files that had changed since the write were overwritten")
        );
    }
    o
}
