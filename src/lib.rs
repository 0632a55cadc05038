// SPDX-License-Identifier: GPL-2.0-or-later
//! ntrescue: inspect and repair the RDP/NLA registry state of a detached
//! Windows system disk.
#![forbid(unsafe_code)]

pub mod bytes;
pub mod error;
pub mod regf;

pub use error::{Error, ErrorClass, Result};
pub mod access;
pub mod backup;
pub mod commit;
pub mod digest;
pub mod disk;
pub mod engine;
pub mod exit;
pub mod extent_store;
pub mod fix;
pub mod fixtures;
pub mod get;
pub mod guard;
pub mod inspect;
pub mod locate;
pub mod rdp;
pub mod reconcile;
pub mod regpath;
pub mod render;
pub mod report;
pub mod source;
pub mod target;
pub mod timefmt;
pub mod verify;
