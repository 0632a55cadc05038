// SPDX-License-Identifier: GPL-2.0-or-later
//! What a rescue host and its orchestrator rely on: bundles that outlive
//! the run (a rerun names them, `backups list`, `backups pack`, restore to
//! a renamed disk), the operator hints, completions and the man page, and
//! the cloud engines in contrib/ (shellcheck, the SSM document's schema,
//! the helper script's detect -> fix -> verify on a loop device).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The demo disk (GPT, one NTFS partition holding Windows) at `dir/name`.
fn demo(dir: &Path, name: &str) -> PathBuf {
    let gz = repo().join("hive-fixtures/demo-disk.img.gz");
    let o = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    assert!(o.status.success(), "gzip -dc {}", gz.display());
    let img = dir.join(name);
    std::fs::write(&img, o.stdout).unwrap();
    img
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Fixes the demo disk in place; returns the edit report.
fn fix(dir: &Path, img: &Path) -> Value {
    let r = ok(run_in(dir, &["nla", "disable", s(img), "--json"]));
    assert_eq!(r["outcome"], "written", "{r}");
    r
}

#[test]
fn a_rerun_that_writes_nothing_names_the_bundle_holding_the_original() {
    let t = tmp();
    let d = t.path();
    let img = demo(d, "a.img");
    let first = fix(d, &img);
    let bundle = first["backup"].as_str().unwrap();
    let again = ok(run_in(d, &["nla", "disable", s(&img), "--json"]));
    assert_eq!(again["outcome"], "nothing-to-do");
    assert_eq!(again["backup"], bundle, "{again}");
    // Another backup root knows nothing of it.
    let elsewhere = ok(run_in(
        d,
        &["nla", "disable", s(&img), "--backup-dir", "other", "--json"],
    ));
    assert_eq!(elsewhere["backup"], Value::Null);
}

#[test]
fn restore_to_a_renamed_disk_and_never_a_panic_on_what_replaced_it() {
    let t = tmp();
    let d = t.path();
    let img = demo(d, "a.img");
    let original = sha256_file(&img);
    let bundle = fix(d, &img)["backup"].as_str().unwrap().to_string();
    assert_ne!(sha256_file(&img), original);
    // The disk comes back under another name; the old name now holds an
    // empty disk of the same size, then nothing at all.
    let renamed = d.join("renamed.img");
    std::fs::rename(&img, &renamed).unwrap();
    let size = std::fs::metadata(&renamed).unwrap().len();
    std::fs::File::create(&img).unwrap().set_len(size).unwrap();
    let r = run_in(d, &["restore", &bundle, "--json"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--target"), "{}", r.stderr);
    // Nothing at all under the old name: refused the same way, not an
    // I/O error.
    std::fs::remove_file(&img).unwrap();
    let r = run_in(d, &["restore", &bundle, "--json"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["error"]["code"], "target-changed");
    assert!(r.stderr.contains("--target"), "{}", r.stderr);
    std::fs::File::create(&img).unwrap().set_len(size).unwrap();
    // Another NTFS volume at the old path: refused (serial differs).
    let other = d.join("other.img");
    std::fs::File::create(&other)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    sh("mkntfs", &["-F", "-Q", "-q", s(&other)]);
    for wrong in [&img, &other] {
        let r = run_in(d, &["restore", &bundle, "--target", s(wrong), "--json"]);
        assert_eq!(r.code, 3, "{}: {}{}", wrong.display(), r.stdout, r.stderr);
        assert_eq!(r.json()["error"]["code"], "target-changed", "{}", r.stdout);
        assert!(r.stderr.contains("ntrescue locate"), "{}", r.stderr);
    }
    assert!(
        sha256_file(&renamed) != original,
        "nothing was restored yet"
    );
    let r = ok(run_in(
        d,
        &["restore", &bundle, "--target", s(&renamed), "--json"],
    ));
    assert!(
        r["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["action"] == "restored"
                && f["path"].as_str().unwrap().starts_with(s(&renamed)))
    );
    assert_eq!(
        sha256_file(&renamed),
        original,
        "byte-for-byte the original"
    );
}

#[test]
fn backups_are_listed_and_packed_into_one_tar_file() {
    let t = tmp();
    let d = t.path();
    let img = demo(d, "a.img");
    let bundle = fix(d, &img)["backup"].as_str().unwrap().to_string();
    std::fs::create_dir(d.join("ntrescue-backups/19700101T000000Z-unfinish")).unwrap();
    let l = ok(run_in(d, &["backups", "list", "--json"]));
    assert_eq!(l["command"], "backups list");
    let b = l["bundles"].as_array().unwrap();
    assert_eq!(b.len(), 2, "{l}");
    assert_eq!(b[0]["state"], "incomplete");
    assert_eq!(b[1]["path"], bundle.as_str());
    assert_eq!(b[1]["state"], "complete");
    assert_eq!(b[1]["command"], "nla disable");
    let hive = &b[1]["hives"][0];
    assert_eq!(hive["name"], "SYSTEM");
    let target = &hive["files"][0]["target"];
    assert_eq!(target["kind"], "ntfs");
    // The serial as everywhere else: `0x` and 16 hex digits.
    let serial = target["volume_serial"].as_str().unwrap();
    assert!(serial.len() == 18 && serial.starts_with("0x"), "{serial}");
    let inspect = ok(run_in(d, &["inspect", s(&img), "--json"]));
    assert_eq!(inspect["disk"]["volume"]["serial"], serial);
    // The write finished and the disk holds what it left.
    assert_eq!(b[1]["write_state"], "finished", "{l}");
    assert_eq!(b[1]["target_now"], "after", "{l}");
    assert_eq!(b[0]["target_now"], Value::Null);
    let human = run_in(d, &["backups", "list"]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains(&bundle) && human.stdout.contains("incomplete"));
    assert!(
        human.stdout.contains("write finished; target holds after"),
        "{}",
        human.stdout
    );

    let tar = d.join("b.tar");
    let p = ok(run_in(
        d,
        &["backups", "pack", &bundle, "--tar", s(&tar), "--json"],
    ));
    assert_eq!(p["sha256"], sha256_file(&tar));
    let listed = peer("tar", &["-tf", s(&tar)]);
    let name = Path::new(&bundle).file_name().unwrap().to_str().unwrap();
    let mut want: Vec<String> = vec![format!("{name}/manifest.json")];
    for f in hive["files"].as_array().unwrap() {
        want.push(format!("{name}/{}", f["backup_name"].as_str().unwrap()));
    }
    assert_eq!(listed.lines().collect::<Vec<_>>(), want);
    // Unpacked, it is the bundle again: restore works from it.
    let x = d.join("x");
    std::fs::create_dir(&x).unwrap();
    sh("tar", &["-xf", s(&tar), "-C", s(&x)]);
    for f in &want {
        let a = std::fs::read(x.join(f)).unwrap();
        let b = std::fs::read(d.join(&bundle).join(f.split_once('/').unwrap().1)).unwrap();
        assert!(a == b, "{f} differs after tar -x");
    }
    // An existing file is never overwritten; a damaged bundle is not packed.
    let again = run_in(d, &["backups", "pack", &bundle, "--tar", s(&tar)]);
    assert_ne!(again.code, 0);
    let saved = d.join(&bundle).join("SYSTEM/SYSTEM");
    let mut bytes = std::fs::read(&saved).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&saved, bytes).unwrap();
    let damaged = run_in(
        d,
        &["backups", "pack", &bundle, "--tar", s(&d.join("c.tar"))],
    );
    assert_eq!(damaged.code, 3, "{}", damaged.stderr);
    assert!(!d.join("c.tar").exists());
}

#[test]
fn operator_hints_for_an_empty_or_wrong_device() {
    let t = tmp();
    let d = t.path();
    let zeros = d.join("zeros.img");
    std::fs::File::create(&zeros)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let r = run_in(d, &["inspect", s(&zeros)]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("is the volume attached"), "{}", r.stderr);
    let img = demo(d, "a.img");
    let r = run_in(d, &["inspect", s(&img), "--partition", "2"]);
    assert_eq!(r.code, 5);
    assert!(
        r.stderr.contains("Windows is on partition 1"),
        "{}",
        r.stderr
    );
    // A loop device over a disk whose table is damaged: not the disk.
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[510] = 0;
    bytes[0x200..0x208].copy_from_slice(&[0; 8]);
    let broken = d.join("broken.img");
    std::fs::write(&broken, bytes).unwrap();
    let lo = Loop::attach(&broken, &[]);
    let r = run_in(d, &["inspect", &lo.dev]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("ntrescue locate"), "{}", r.stderr);
    // A device path that does not exist, or is no disk at all.
    for dev in ["/dev/ntrescue-no-such-disk", "/dev/null"] {
        let r = run_in(d, &["inspect", dev, "--json"]);
        assert_ne!(r.code, 0, "{dev}");
        assert!(r.stderr.contains("ntrescue locate"), "{dev}: {}", r.stderr);
    }
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let t = tmp();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = run_in(t.path(), &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("backups"), "{shell}");
    }
    let bad = run_in(t.path(), &["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
    let man = run_in(t.path(), &["man"]);
    assert_eq!(man.code, 0);
    assert!(man.stdout.starts_with(".ie") || man.stdout.starts_with(".TH"));
    let page = t.path().join("ntrescue.1");
    std::fs::write(&page, &man.stdout).unwrap();
    // groff renders it without a warning.
    require_tool("groff");
    let o = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z", s(&page)])
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(man.stdout.contains("COMMAND: restore") && man.stdout.contains("\\-\\-target"));
}

#[test]
fn contrib_scripts_pass_shellcheck() {
    require_tool("shellcheck");
    let files = [
        "contrib/ntrescue-flow.sh",
        "contrib/azure/ntrescue-repair.sh",
        "scripts/dist",
        "scripts/windows-exe",
    ];
    let o = Command::new("shellcheck")
        .args(files)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The problems AWS's own JSON Schema of SSM documents finds in `doc`
/// (YAML), one per line: the schema its document language service
/// validates with, fetched by `scripts/aws-ssm-schema` (`.ci/run` runs it).
fn aws_schema_problems(doc: &Path) -> String {
    let schema = repo().join("target/peers/aws-ssm-document-schema.json");
    assert!(
        schema.is_file(),
        "AWS's SSM document schema is missing: run scripts/aws-ssm-schema (.ci/run does)"
    );
    let o = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             doc = yaml.safe_load(open(sys.argv[2]))\n\
             for e in jsonschema.Draft7Validator(schema).iter_errors(doc):\n\
             \x20   print(list(e.path), e.message)",
            s(&schema),
            s(doc),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The SSM document is valid by AWS's own schema of SSM documents, which
/// refuses what it forbids (no schema version, an unknown action, a step
/// without a name).
#[test]
fn ssm_document_validates_against_aws_own_schema() {
    let doc = repo().join("contrib/aws/ntrescue-rdp.yaml");
    let problems = aws_schema_problems(&doc);
    assert!(problems.is_empty(), "{problems}");
    let text = std::fs::read_to_string(&doc).unwrap();
    let t = tmp();
    for (i, b) in [
        text.replacen("schemaVersion: '0.3'", "schemaVerzion: '0.3'", 1),
        text.replacen(
            "action: aws:changeInstanceState",
            "action: aws:rebootEverything",
            1,
        ),
        text.replacen("- name: stopInstance", "- nome: stopInstance", 1),
    ]
    .iter()
    .enumerate()
    {
        assert_ne!(b, &text, "mutation {i} changed nothing");
        let p = t.path().join(format!("bad{i}.yaml"));
        std::fs::write(&p, b).unwrap();
        assert!(!aws_schema_problems(&p).is_empty(), "mutation {i} passed");
    }
}

fn validate(doc: &Path) -> (bool, String) {
    let o = Command::new("python3")
        .arg(repo().join("contrib/aws/validate.py"))
        .arg(doc)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn ssm_document_follows_the_automation_schema_and_embeds_the_flow_script() {
    let doc = repo().join("contrib/aws/ntrescue-rdp.yaml");
    let (valid, why) = validate(&doc);
    assert!(valid, "{why}");
    let fresh = Command::new("python3")
        .args([s(&repo().join("contrib/aws/build.py")), "--check"])
        .output()
        .unwrap();
    assert!(
        fresh.status.success(),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    // Parsed independently: the steps of the flow, in order, and the
    // embedded script is the file shellcheck checks.
    let o = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            s(&doc),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schemaVersion"], "0.3");
    let steps = v["mainSteps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let order = [
        "stopInstance",
        "createBackupAmi",
        "detachRootVolume",
        "attachToHelper",
        "runNtrescue",
        "branchOnResult",
        "reattachToInstance",
        "startInstance",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|n| {
            names
                .iter()
                .position(|x| x == n)
                .unwrap_or_else(|| panic!("{n}"))
        })
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    let run = &steps[pos[4]];
    assert_eq!(run["action"], "aws:runCommand");
    assert_eq!(run["inputs"]["DocumentName"], "AWS-RunShellScript");
    let cmds = run["inputs"]["Parameters"]["commands"].as_array().unwrap();
    let script = std::fs::read_to_string(repo().join("contrib/ntrescue-flow.sh")).unwrap();
    // The flow script travels verbatim, as a quoted here-document.
    let last = cmds.last().unwrap().as_str().unwrap();
    let body = last
        .split_once("<<'NTRESCUE_FLOW_SH'\n")
        .and_then(|(_, rest)| rest.split_once("\nNTRESCUE_FLOW_SH\n"))
        .map(|(body, _)| format!("{body}\n"));
    assert_eq!(body.as_deref(), Some(script.as_str()), "{last}");
    ssm_step_runs_under_sh(cmds);

    // The validator rejects what the schema forbids.
    let text = std::fs::read_to_string(&doc).unwrap();
    let t = tmp();
    let broken = [
        text.replace("schemaVersion: '0.3'", "schemaVersion: '2.2'"),
        text.replace("Default: detachAfterError", "Default: noSuchStep"),
        text.replace(
            "action: aws:changeInstanceState",
            "action: aws:rebootEverything",
        ),
        text.replace(
            "'{{ findRootVolume.RootVolumeId }}'",
            "'{{ findRootVolume.Nope }}'",
        ),
        text.replace("      DesiredState: stopped", "      DesiredState: paused"),
    ];
    for (i, b) in broken.iter().enumerate() {
        assert_ne!(b, &text, "mutation {i} changed nothing");
        let p = t.path().join(format!("bad{i}.yaml"));
        std::fs::write(&p, b).unwrap();
        let (valid, _) = validate(&p);
        assert!(!valid, "mutation {i} passed the validator");
    }
}

/// The runNtrescue step as AWS-RunShellScript runs it: its commands joined
/// into one script, run by `sh` (dash on Debian and Ubuntu helpers). The
/// composed script passes `shellcheck -s sh` and `dash -n`, and runs the
/// flow under dash on the demo disk (the document's parameters filled in).
fn ssm_step_runs_under_sh(cmds: &[Value]) {
    require_tool("shellcheck");
    require_tool("dash");
    let lines: Vec<&str> = cmds.iter().map(|c| c.as_str().unwrap()).collect();
    let composed = lines.join("\n");
    assert!(composed.starts_with("export "), "{composed}");
    let t = tmp();
    let d = t.path();
    let file = d.join("_script.sh");
    std::fs::write(&file, &composed).unwrap();
    for (tool, args) in [("shellcheck", &["-s", "sh"][..]), ("dash", &["-n"][..])] {
        let o = Command::new(tool).args(args).arg(&file).output().unwrap();
        assert!(
            o.status.success(),
            "{tool}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The parameters as the automation fills them in; the binary and the
    // device come from the environment, which the flow prefers.
    let filled = composed
        .replace("{{ NtrescueS3Url }}", "https://example.invalid/ntrescue")
        .replace("{{ findRootVolume.RootVolumeId }}", "vol-0123456789abcdef0")
        .replace("{{ FixArguments }}", "--firewall-profiles-off")
        .replace("{{ BundleS3Uri }}", "");
    assert!(!filled.contains("{{"), "{filled}");
    std::fs::write(&file, &filled).unwrap();
    let img = demo(d, "demo.img");
    let o = Command::new("dash")
        .arg(&file)
        .current_dir(d)
        .env("NTRESCUE_BIN", bin())
        .env("DEVICE", &img)
        .env("WORK_DIR", d.join("work"))
        .env("BACKUP_DIR", d.join("bk"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("NTRESCUE_RESULT=fixed "), "{out}{err}");
    assert!(last.contains("blockers_after=0"), "{last}");
    let again = ok(run_in(d, &["diagnose", s(&img), "--json"]));
    assert_eq!(again["verdict"]["blockers"], 0);
}

/// The helper script's detect -> fix -> verify, as the SSM step and Azure
/// run it, on a loop device holding the demo disk; then a rerun finds
/// nothing to do.
#[test]
fn flow_script_detects_fixes_and_verifies_on_a_loop_device() {
    let t = tmp();
    let d = t.path();
    let img = demo(d, "demo.img");
    let lo = Loop::attach(&img, &[]);
    let flow = |extra: &[&str]| {
        let o = Command::new("bash")
            .arg(repo().join("contrib/ntrescue-flow.sh"))
            .arg(format!("DEVICE={}", lo.dev))
            .args(extra)
            .env("NTRESCUE_BIN", bin())
            .env("WORK_DIR", d.join("work"))
            .env("BACKUP_DIR", d.join("bk"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        (o.status.code(), out, err)
    };
    let (code, out, err) = flow(&[]);
    let last = out.lines().last().unwrap_or_default().to_string();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(last.starts_with("NTRESCUE_RESULT=fixed "), "{last}");
    assert!(last.contains("blockers_after=0"), "{last}");
    let detect: Value =
        serde_json::from_slice(&std::fs::read(d.join("work/detect.json")).unwrap()).unwrap();
    assert!(detect["verdict"]["blockers"].as_u64().unwrap() > 0);
    let verify: Value =
        serde_json::from_slice(&std::fs::read(d.join("work/verify.json")).unwrap()).unwrap();
    assert_eq!(verify["verdict"]["blockers"], 0);
    let bundle = last
        .split_whitespace()
        .find_map(|w| w.strip_prefix("bundle="))
        .unwrap()
        .to_string();
    assert!(Path::new(&bundle).join("manifest.json").is_file());
    // Independently: the fix is on the device (diagnose re-reads it).
    let again = ok(run_in(d, &["diagnose", &lo.dev, "--json"]));
    assert_eq!(again["verdict"]["blockers"], 0);
    let (code, out, _) = flow(&[]);
    assert_eq!(code, Some(0));
    assert!(out
        .lines()
        .last()
        .unwrap()
        .starts_with("NTRESCUE_RESULT=nothing-to-do"));
    let bad = flow(&["NOPE"]);
    assert_eq!(bad.0, Some(2));
}

/// `restore --target` with a bundle of a hive file: the file's new path,
/// matched by the hive's recorded before/after state; any other hive is
/// refused, `--force` or not.
#[test]
fn restore_a_hive_file_bundle_to_its_new_path() {
    let t = tmp();
    let d = t.path();
    std::fs::create_dir(d.join("a")).unwrap();
    let hive = copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        &d.join("a"),
        "SYSTEM",
    );
    let original = sha256_file(&hive);
    let r = ok(run_in(d, &["nla", "disable", s(&hive), "--json"]));
    assert_eq!(r["outcome"], "written", "{r}");
    let bundle = r["backup"].as_str().unwrap().to_string();
    // The file moves (another directory, another name).
    std::fs::create_dir(d.join("b")).unwrap();
    let moved = d.join("b/SYSTEM.moved");
    std::fs::rename(&hive, &moved).unwrap();
    // A different hive is not the bundle's: refused even with --force.
    std::fs::create_dir(d.join("c")).unwrap();
    let other = copy_to(
        &corpus_file("system/winxpsp3-x86__bitcurator__SYSTEM"),
        &d.join("c"),
        "SYSTEM",
    );
    let other_sha = sha256_file(&other);
    for force in [false, true] {
        let mut args = vec!["restore", &bundle, "--target", s(&other), "--json"];
        if force {
            args.push("--force");
        }
        let r = run_in(d, &args);
        assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
        let doc = r.json();
        assert_eq!(doc["error"]["code"], "target-changed", "{doc}");
        assert!(doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not the SYSTEM hive the bundle was made from"));
        assert_eq!(sha256_file(&other), other_sha);
    }
    let r = ok(run_in(
        d,
        &["restore", &bundle, "--target", s(&moved), "--json"],
    ));
    assert_eq!(r["outcome"], "restored");
    assert!(r["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["action"] == "restored" && f["path"] == s(&moved)));
    assert_eq!(sha256_file(&moved), original, "byte-for-byte the original");
}

/// `restore --target` with a bundle of a mounted tree: the tree's new
/// root; the hive and its logs are found at the same places below it.
#[test]
fn restore_a_tree_bundle_to_the_trees_new_root() {
    let t = tmp();
    let d = t.path();
    let src = repo().join("hive-fixtures/demo-tree");
    sh("cp", &["-r", s(&src), s(&d.join("tree1"))]);
    let config = "Windows/System32/config";
    let files = ["SYSTEM", "SYSTEM.LOG1", "SYSTEM.LOG2"];
    let before: Vec<String> = files
        .iter()
        .map(|f| sha256_file(&d.join("tree1").join(config).join(f)))
        .collect();
    let r = ok(run_in(
        d,
        &[
            "nla",
            "disable",
            s(&d.join("tree1")),
            "--json",
            "--backup-dir",
            "bk",
        ],
    ));
    assert_eq!(r["outcome"], "written", "{r}");
    let bundle = r["backup"].as_str().unwrap().to_string();
    std::fs::rename(d.join("tree1"), d.join("tree2")).unwrap();
    let r = run_in(d, &["restore", &bundle, "--json"]);
    assert_ne!(r.code, 0, "the old root is gone: {}", r.stdout);
    let r = ok(run_in(
        d,
        &[
            "restore",
            &bundle,
            "--target",
            s(&d.join("tree2")),
            "--json",
        ],
    ));
    assert_eq!(r["outcome"], "restored", "{r}");
    for (f, want) in files.iter().zip(&before) {
        assert_eq!(
            &sha256_file(&d.join("tree2").join(config).join(f)),
            want,
            "{f}"
        );
    }
    // A tree that holds another SYSTEM hive is refused.
    std::fs::create_dir_all(d.join("tree3").join(config)).unwrap();
    copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        &d.join("tree3").join(config),
        "SYSTEM",
    );
    let r = run_in(
        d,
        &[
            "restore",
            &bundle,
            "--target",
            s(&d.join("tree3")),
            "--json",
        ],
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["error"]["code"], "target-changed");
}

/// `backups list` says where each bundle's write stands and what its
/// target holds now: after, before (restored), a mix of before and the
/// recorded writes, something else, or nothing reachable.
#[test]
fn backups_list_tells_what_each_target_holds_now() {
    let t = tmp();
    let d = t.path();
    std::fs::create_dir(d.join("a")).unwrap();
    let hive = copy_to(
        &corpus_file("system/win7sp1-x86__regipy__SYSTEM"),
        &d.join("a"),
        "SYSTEM",
    );
    let r = ok(run_in(d, &["nla", "disable", s(&hive), "--json"]));
    let bundle = r["backup"].as_str().unwrap().to_string();
    let now = |want: &str| {
        let l = ok(run_in(d, &["backups", "list", "--json"]));
        let b = &l["bundles"][0];
        assert_eq!(b["path"], bundle.as_str());
        assert_eq!(b["write_state"], "finished", "{l}");
        assert_eq!(b["target_now"], want, "{l}");
        b["target_note"].clone()
    };
    assert_eq!(now("after"), Value::Null);
    let after = std::fs::read(&hive).unwrap();
    let saved = std::fs::read(d.join(&bundle).join("SYSTEM/SYSTEM")).unwrap();
    // A stopped write: the base block back as before, the rest as after.
    let mut mixed = after.clone();
    mixed[..4096].copy_from_slice(&saved[..4096]);
    assert!(mixed != after && mixed != saved);
    std::fs::write(&hive, &mixed).unwrap();
    now("mix");
    ok(run_in(d, &["restore", &bundle, "--json"]));
    now("before");
    // Someone else's change: a byte the write never touched.
    let mut other = saved.clone();
    let last = other.len() - 1;
    other[last] ^= 0xff;
    std::fs::write(&hive, &other).unwrap();
    let note = now("other");
    assert!(note.as_str().unwrap().contains("neither"), "{note}");
    std::fs::remove_file(&hive).unwrap();
    let note = now("unreachable");
    assert!(note.as_str().unwrap().contains(s(&hive)), "{note}");
}

/// The installed binary carries no debug info: the release profile (what
/// `cargo install --path .` builds) has none; `profiling` (the bench,
/// perf) inherits it with line tables; `dist` keeps line tables only for
/// scripts/dist to split them off into a `.debug` file before it strips
/// the binary it ships and packs into the .deb.
#[test]
fn release_binaries_carry_no_debug_info() {
    let o = Command::new("python3")
        .args([
            "-c",
            "import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],'rb'))))",
            s(&repo().join("Cargo.toml")),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cargo: Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &cargo["profile"];
    assert_eq!(p["release"]["debug"], false, "{p}");
    assert_eq!(p["release"]["strip"], "debuginfo", "{p}");
    assert_eq!(p["profiling"]["inherits"], "release");
    assert_eq!(p["profiling"]["debug"], 1);
    assert_eq!(p["dist"]["inherits"], "release");
    let assets = cargo["package"]["metadata"]["deb"]["assets"].to_string();
    assert!(assets.contains("\"dist/bin/ntrescue\""), "{assets}");
    let dist = std::fs::read_to_string(repo().join("scripts/dist")).unwrap();
    for step in [
        "objcopy --only-keep-debug \"$BIN\" \"$SHIP.debug\"",
        "objcopy --strip-all --add-gnu-debuglink=\"$SHIP.debug\" \"$BIN\" \"$SHIP\"",
        "cp \"$SHIP\" \"$OUT/bin/ntrescue\"",
    ] {
        assert!(dist.contains(step), "scripts/dist: {step}");
    }
    let bench = std::fs::read_to_string(repo().join("scripts/bench")).unwrap();
    // The shipped build (musl, dist) against the `cargo install` one.
    assert_eq!(p["dist"]["lto"], "fat");
    assert!(
        bench.contains("--profile dist --target") && bench.contains("target/profiling/ntrescue")
    );
}
