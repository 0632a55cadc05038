// SPDX-License-Identifier: GPL-2.0-or-later
//! Writes the generated fixtures into a directory (default `hive-fixtures`):
//! `cargo run --example gen_fixtures -- [DIR] [--large]`.
//! See `hive-fixtures/README.md`.

use std::path::{Path, PathBuf};

use ntrescue::fixtures::build::{build, HiveSpec};
use ntrescue::fixtures::{empty_log, software, system, SystemVariant};

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create directory");
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("{} ({} bytes)", path.display(), bytes.len());
}

fn hive_and_description(dir: &Path, stem: &str, spec: &HiveSpec) -> Vec<u8> {
    let bytes = build(spec);
    write(&dir.join(format!("{stem}.hive")), &bytes);
    let json = serde_json::to_string_pretty(spec).expect("serialise") + "\n";
    write(&dir.join(format!("{stem}.json")), json.as_bytes());
    bytes
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let large = args.iter().any(|a| a == "--large");
    let dir = PathBuf::from(
        args.iter()
            .find(|a| !a.starts_with("--"))
            .map_or("hive-fixtures", |s| s.as_str()),
    );
    if large {
        write(
            &dir.join("system-large.hive"),
            &build(&system(SystemVariant::Large)),
        );
        return;
    }
    let mut modern = Vec::new();
    for v in SystemVariant::COMMITTED {
        let b = hive_and_description(&dir, v.stem(), &system(v));
        if v == SystemVariant::Modern {
            modern = b;
        }
    }
    let sw = hive_and_description(&dir, "software", &software());
    // A mounted-style Windows tree for the README's demo.
    let cfg = dir.join("demo-tree/Windows/System32/config");
    write(&cfg.join("SYSTEM"), &modern);
    write(&cfg.join("SYSTEM.LOG1"), &empty_log(&modern));
    write(&cfg.join("SYSTEM.LOG2"), &empty_log(&modern));
    write(&cfg.join("SOFTWARE"), &sw);
    write(&cfg.join("SOFTWARE.LOG1"), &empty_log(&sw));
    write(&cfg.join("SOFTWARE.LOG2"), &empty_log(&sw));
}
