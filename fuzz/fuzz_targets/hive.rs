// SPDX-License-Identifier: GPL-2.0-or-later
//! A primary hive image: base block, the full structure check (bins, cells,
//! our walk and nt-hive's walk, which must agree), and both readers on the
//! keys and values `inspect` reads. Any panic outside the nt-hive guard,
//! abort, hang or runaway allocation is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntrescue::hive::check::full_check;
use ntrescue::hive::reader::Reader;
use ntrescue::recipes::paths::{NLA_VALUES, RDP_TCP_EXTRA, RDP_TCP_PATH, TS_PATH};

fuzz_target!(|data: &[u8]| {
    let _ = ntrescue::format::regf::base_block::BaseBlock::parse(data);
    let _ = full_check(data);
    let Ok(reader) = Reader::new(data) else {
        return;
    };
    let Ok(sets) = reader.control_sets() else {
        return;
    };
    // What `inspect` reads, for the first few control sets; and the
    // root's own values (a hive that is not SYSTEM).
    for (_, set) in sets.iter().take(4) {
        let _ = reader.values(&format!("{set}\\{TS_PATH}"), &["fDenyTSConnections"]);
        let mut names: Vec<&str> = NLA_VALUES.to_vec();
        names.extend_from_slice(&RDP_TCP_EXTRA);
        let _ = reader.values(&format!("{set}\\{RDP_TCP_PATH}"), &names);
    }
    let _ = reader.values("Select", &["Current", "Default"]);
    let _ = reader.values("", &[""]);
});
