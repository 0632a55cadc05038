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
/// and re-verified with `verify`; the source is not touched. The new file
/// is removed if it does not verify.
pub(crate) fn write_output(
    access: &WriteAccess,
    located: &Located,
    prepared: &[Prepared],
    planned: &[PlannedHive],
    out: &Path,
    verify: &dyn Fn(&[u8]) -> Result<()>,
) -> Result<()> {
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
    let checked = std::fs::read(out)
        .map_err(|e| Error::io(format!("reading back {}", out.display()), e))
        .and_then(|back| {
            if back != *new {
                return Err(Error::Invalid {
                    what: "read-back",
                    offset: 0,
                    detail: "the new file does not read back as written".into(),
                });
            }
            verify(&back)
        });
    if let Err(e) = checked {
        // Never leave an unverified hive behind.
        let _ = std::fs::remove_file(out);
        return Err(e.in_file(out));
    }
    Ok(())
}
