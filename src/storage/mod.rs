// SPDX-License-Identifier: GPL-2.0-or-later
//! Where a hive's bytes live: the OS layer, raw disks and NTFS volumes,
//! source discovery (hive file, mounted tree, disk), loading and hashing,
//! and the write handles behind the preflight checks.

pub mod access;
pub mod bcd;
pub mod device;
pub mod disk;
pub mod extent;
pub mod fat;
pub mod host;
pub mod lazy;
pub mod lock;
pub mod ntfs;
pub mod os;
pub mod readback;
pub mod source;
pub mod store;
pub mod sysfs;
pub mod target;
