// SPDX-License-Identifier: GPL-2.0-or-later
//! The `ntrescue` binary: parses arguments, runs the command (which prints
//! its report), exits with its code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

/// The shipped static (musl) build allocates through mimalloc (its 2.x
/// series, without transparent huge pages, without collection at exit:
/// Cargo.toml, .cargo/config.toml): musl's own allocator hands memory back
/// to the kernel eagerly, and `inspect` ran twice as long as the glibc
/// build (1,019 page faults against 567). ripgrep's musl build swaps its
/// allocator for the same reason. Huge pages for all of the allocator's
/// memory would make `inspect` faster still but a fix's peak RSS larger
/// than its bound (docs/performance.md); only a whole hive and its plan
/// get them (src/util/buf.rs).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let exit = ntrescue::cli::run::run_args(std::env::args_os().collect());
    ExitCode::from(exit.code())
}
