// SPDX-License-Identifier: GPL-2.0-or-later
//! Pure on-disk formats: bytes in, values out. No files, no policy.

pub mod cert;
pub mod evidence;
pub mod lsa;
pub mod nthive;
pub mod partition;
pub mod regf;
pub mod sam;
pub mod secrets;
