// SPDX-License-Identifier: GPL-2.0-or-later
//! Integration tests. Tests that need the shared corpus read it from
//! `$NTRESCUE_CORPUS` (default `/work/shared/corpus`) and are skipped, with a
//! message, when that directory does not exist.

mod logs;
