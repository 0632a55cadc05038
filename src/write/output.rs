// SPDX-License-Identifier: GPL-2.0-or-later
//! `--output`: the edited hive written to a new file instead of in place.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::hive::name::HiveName;
use crate::storage::access::WriteAccess;
use crate::storage::source::{Located, SourceKind};
use crate::write::apply::PlannedHive;
use crate::write::outcome::WriteStats;
use crate::write::prepare::Prepared;

/// Creates `out` (never over an existing file) holding `data`, flushed to
/// the device. A write that fails part-way (a full file system, a quota,
/// a file-size limit) leaves no file behind: the partial file is removed
/// and the error names it.
fn write_new_file(_: &WriteAccess, out: &Path, data: &[u8]) -> Result<()> {
    let mut f =
        File::create_new(out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let written = f.write_all(data).and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = written {
        let removed = match std::fs::remove_file(out) {
            Ok(()) => "the partial file was removed".to_string(),
            Err(r) => format!("removing the partial file failed too: {r}"),
        };
        return Err(Error::io(
            format!("writing {} ({removed})", out.display()),
            e,
        ));
    }
    Ok(())
}

/// `--output`: the one edited SYSTEM hive written to a new file, read back
/// (bypassing the page cache where the file system allows) and re-verified
/// with `verify`; the source is not touched. The new file is removed if it
/// does not verify. The statistics come from what was read back.
pub(crate) fn write_output(
    access: &WriteAccess,
    located: &Located,
    prepared: &[Prepared],
    planned: &[PlannedHive],
    out: &Path,
    verify: &dyn Fn(&[u8]) -> Result<()>,
) -> Result<WriteStats> {
    if located.kind != SourceKind::HiveFile
        || planned.len() != 1
        || prepared[planned[0].index].name != HiveName::System
    {
        return Err(Error::refused(crate::error::Code::Unsupported,
            "--output writes one edited SYSTEM hive file; it is for hive-file sources and SYSTEM-only edits",
        ));
    }
    let new = &planned[0].new;
    write_new_file(access, out, new)?;
    // Every byte of the new file was written.
    let whole = 0..new.len() as u64;
    let all = std::slice::from_ref(&whole);
    let checked = crate::storage::readback::file(out, new, all).and_then(|back| {
        if let Some(offset) = back.differs_at {
            return Err(Error::Invalid {
                what: "read-back",
                offset,
                detail: format!(
                    "the new file does not read back as written ({})",
                    back.path.describe()
                ),
            });
        }
        verify(new)?;
        let bytes = std::fs::metadata(out)
            .map_err(|e| Error::io(format!("reading back {}", out.display()), e))?
            .len();
        Ok(WriteStats {
            ranges: 1,
            bytes,
            after_sha256: back.sha256,
            read_back: Some(back.path),
        })
    });
    match checked {
        Ok(stats) => Ok(stats),
        Err(e) => {
            // Never leave an unverified hive behind.
            let _ = std::fs::remove_file(out);
            Err(e.in_file(out))
        }
    }
}
