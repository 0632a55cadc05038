// SPDX-License-Identifier: GPL-2.0-or-later
//! `service NAME --start TYPE`.

use crate::error::Result;
use crate::recipes::{dword_in_every_set, needs};
use crate::storage::source::Located;
use crate::write::engine;
use crate::write::outcome::EditReport;
use crate::write::plan::EditOptions;

/// Service start types (`Services\<name>\Start`).
pub const SERVICE_DISABLED: u32 = 4;

/// `service NAME --start TYPE`: `Services\NAME\Start` in every control set.
/// A set without the service key is refused for that set.
pub fn service_start(
    located: &Located,
    name: &str,
    start: u32,
    opts: &EditOptions,
) -> Result<EditReport> {
    let command = format!("service {name}");
    let key = format!(r"Services\{name}");
    engine::run(located, &command, needs(false), opts, &|v| {
        dword_in_every_set(v, &key, "Start", start)
    })
}
