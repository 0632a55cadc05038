// SPDX-License-Identifier: GPL-2.0-or-later
//! Operator input: registry paths and typed data (`--type`/`--data`). The
//! input is text; its first line is the path, the other lines are data
//! items, tried with every type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntrescue::hive::path::{encode, DataType, RegPath};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or_default();
    let _ = RegPath::parse(path);
    let items: Vec<String> = lines.map(String::from).collect();
    for ty in [
        DataType::Dword,
        DataType::Qword,
        DataType::Sz,
        DataType::ExpandSz,
        DataType::MultiSz,
        DataType::Binary,
    ] {
        if let Ok(bytes) = encode(ty, &items) {
            // Encoded data is never larger than a small multiple of the text.
            assert!(bytes.len() <= 4 * text.len() + 16);
        }
    }
});
