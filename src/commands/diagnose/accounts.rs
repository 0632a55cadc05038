// SPDX-License-Identifier: GPL-2.0-or-later
//! Rows 17–22 and the password half of row 23 of rdp-causes.md come from
//! the account model (SECURITY logon rights, SAM accounts). This is where
//! its findings join the others: one more source of [`Finding`]s.

use crate::report::diagnose::{Finding, NotChecked};

use super::probe::Ctx;

/// Rows the account model answers.
pub const ROWS: [u8; 7] = [17, 18, 19, 20, 21, 22, 23];

/// Findings about logon rights and accounts. The account model is not part
/// of this build yet: its rows are listed as not checked, with the state
/// of the SAM and SECURITY hives it needs.
pub fn findings(ctx: &Ctx<'_>, not_checked: &mut Vec<NotChecked>) -> Vec<Finding> {
    let hives = match (ctx.hives.sam.is_some(), ctx.hives.security.is_some()) {
        (true, true) => "SAM and SECURITY were read",
        (true, false) => "SAM was read, SECURITY was not",
        (false, true) => "SECURITY was read, SAM was not",
        (false, false) => "neither SAM nor SECURITY was read",
    };
    not_checked.push(NotChecked {
        rows: ROWS.to_vec(),
        reason: format!(
            "logon rights and accounts (and blank passwords) come from the account model, which diagnose does not include yet ({hives}); LimitBlankPasswordUse of row 23 is checked"
        ),
    });
    Vec::new()
}
