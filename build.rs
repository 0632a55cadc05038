// SPDX-License-Identifier: GPL-2.0-or-later
//! Embeds the git commit the binary is built from (`NTRESCUE_GIT_COMMIT`,
//! read by `report::TOOL`), so every report names the exact source that
//! produced it. Without git, or outside a checkout (a crate tarball), the
//! commit is "unknown".

use std::path::PathBuf;
use std::process::Command;

/// `git ARGS` in the crate directory, trimmed stdout; `None` on any failure.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// A commit id is 40 (SHA-1) or 64 (SHA-256) hex digits.
fn is_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"])
        .filter(|c| is_commit(c))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=NTRESCUE_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself (a branch switch), the branch's
    // ref file and packed-refs (a commit), wherever this checkout keeps them
    // (a worktree's HEAD is outside the crate directory).
    println!("cargo:rerun-if-changed=build.rs");
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(head_ref);
    }
    for name in watch {
        if let Some(p) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]) {
            if PathBuf::from(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
}
