// SPDX-License-Identifier: GPL-2.0-or-later
//! The write protocol every fix goes through, one step per file.

pub mod apply;
pub mod backup;
pub mod commit;
pub mod engine;
pub mod intent;
pub mod outcome;
pub mod output;
pub mod plan;
pub mod preflight;
pub mod prepare;
pub mod restore;
pub mod txlog;
pub mod verify;
