// SPDX-License-Identifier: GPL-2.0-or-later
//! The Windows registry hive file format (regf): one module per on-disk
//! structure.

pub mod base_block;
pub mod cell;
pub mod diff;
pub mod edit;
pub mod key;
pub mod log;
pub mod marvin32;
