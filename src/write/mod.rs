// SPDX-License-Identifier: GPL-2.0-or-later
//! The write protocol every fix goes through, one step per file.

pub mod backup;
pub mod commit;
pub mod engine;
