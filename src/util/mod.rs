// SPDX-License-Identifier: GPL-2.0-or-later
//! Small helpers every layer uses: bounds-checked bytes, digests, time
//! formatting, and the panic guard around third-party parsers.

pub mod buf;
pub mod bytes;
pub mod cellset;
pub mod digest;
pub mod guard;
pub mod hex64;
pub mod time;
