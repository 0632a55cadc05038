// SPDX-License-Identifier: GPL-2.0-or-later
//! Integration tests: one binary, one module per area. They run the real
//! `ntrescue` binary against real hives (`../shared/corpus`), generated
//! fixtures and real NTFS images, and cross-check results with independent
//! tools (hivex, regipy, sleuthkit). A missing peer tool fails the test.

mod util;

mod accounts;
mod accounts_groups;
mod aligned;
mod contract;
mod core;
mod crash;
mod diagnose;
mod diagnose_accounts;
mod diagnose_cases;
mod diagnose_host;
mod diagnose_rows;
mod dirty;
mod disk;
mod dist;
mod edit;
mod edit_sequences;
mod fixtures;
mod forensic;
mod hostile;
mod hostile_disk;
mod lazy;
mod logs;
mod mounted;
mod readback;
mod wine;
