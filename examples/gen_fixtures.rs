// SPDX-License-Identifier: GPL-2.0-or-later
//! Writes the generated fixtures into a directory (default `hive-fixtures`):
//! `cargo run --example gen_fixtures -- [DIR] [--large]`.
//! See `hive-fixtures/README.md`.

use std::path::{Path, PathBuf};

use ntrescue::fixtures::build::{build, Data, HiveSpec, KeySpec};
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
    if args.iter().any(|a| a == "--large-software") {
        write(&dir.join("software-large.hive"), &build(&large_software()));
        write(
            &dir.join("system.hive"),
            &build(&system(SystemVariant::Modern)),
        );
        return;
    }
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

/// The SOFTWARE fixture grown past 60 MB with class registrations under
/// `Classes\CLSID` (24,000 keys, each with a server path and a 2 KiB
/// binary value), for the benchmark of `diagnose` on a four-hive disk.
fn large_software() -> HiveSpec {
    let mut spec = software();
    let mut clsid = KeySpec::new("CLSID");
    for i in 0..24_000u32 {
        let guid = format!(
            "{{{:08X}-{:04X}-4{:03X}-8{:03X}-{:012X}}}",
            i.wrapping_mul(2_654_435_761),
            i & 0xffff,
            i % 0xfff,
            (i / 7) % 0xfff,
            u64::from(i) * 0x9E37_79B9
        );
        let blob: String = (0..2048u32)
            .map(|b| format!("{:02x}", (b ^ i) as u8))
            .collect();
        let server = KeySpec::new("InprocServer32")
            .value(
                "",
                Data::ExpandSz(format!("%SystemRoot%\\System32\\synthetic{i}.dll")),
            )
            .value("ThreadingModel", Data::Sz("Both".into()));
        clsid = clsid.key(
            KeySpec::new(&guid)
                .value("", Data::Sz(format!("Synthetic class {i}")))
                .value("AppData", Data::Binary(blob))
                .key(server),
        );
    }
    spec.root = spec.root.key(KeySpec::new("Classes").key(clsid));
    spec
}
