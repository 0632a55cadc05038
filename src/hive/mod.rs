// SPDX-License-Identifier: GPL-2.0-or-later
//! The hive as Windows would load it (logs replayed), read by two
//! independent readers; the full structure check and the semantic compare;
//! registry paths and `CurrentControlSet`.

pub mod accounts;
pub mod check;
pub mod name;
pub mod path;
pub mod reader;
pub mod reconcile;
pub mod release;
