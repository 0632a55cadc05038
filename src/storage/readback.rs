// SPDX-License-Identifier: GPL-2.0-or-later
//! Reading a written file back from the storage rather than from the OS
//! page cache, where the OS allows it.
//!
//! After a write, the bytes in the page cache are the bytes just written:
//! comparing them with the plan proves little about what the disk holds.
//! So the ranges a write changed are read again through a second handle
//! that bypasses the cache ([`crate::storage::os::open_direct`]: Linux
//! `O_DIRECT`, Windows `FILE_FLAG_NO_BUFFERING`), in whole aligned units
//! through a [`Device`]; then the whole file is compared with the plan
//! through the cache (a fresh handle, and for a file inside a raw volume a
//! fresh lookup through NTFS), which finds any byte a write put in the
//! wrong place, and hashed on a second thread as it is read: the SHA-256
//! reported for the written file is of the bytes read back, never copied
//! from the plan. The bytes nobody wrote are the bytes the hive was read
//! from: reading them around the cache again would prove nothing more and
//! would cost a cold read of the whole hive. Where a file system refuses
//! direct reads (tmpfs, a FUSE mount such as ntfs-3g on kernels that refuse
//! it: `EINVAL`; an OS without the flag), everything goes through the page
//! cache after the `fsync` and [`ReadPath::Cached`] says why.

use std::io::{ErrorKind, Read};
use std::ops::Range;

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::storage::device::Device;
use crate::storage::os;

/// How a file was read back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum ReadPath {
    /// The bytes written were read from the storage, bypassing the OS page
    /// cache (the rest of the file, unchanged, through it).
    Direct,
    /// Through the OS page cache (after the flush), because the direct read
    /// was not possible.
    Cached {
        /// Why the page cache could not be bypassed.
        why: String,
    },
}

impl ReadPath {
    /// One line for the human report.
    pub fn describe(&self) -> String {
        match self {
            ReadPath::Direct => {
                "the bytes written from the storage, bypassing the OS page cache".into()
            }
            ReadPath::Cached { why } => format!("through the OS page cache ({why})"),
        }
    }
}

/// What reading a file back found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBack {
    /// The first byte offset where the file differs from what was wanted
    /// (the shorter length when only the lengths differ); `None` if equal.
    pub differs_at: Option<u64>,
    /// SHA-256 of the whole file as read back.
    pub sha256: String,
    /// How the written bytes were read.
    pub path: ReadPath,
}

/// Chunk size of [`compare_hashing`].
const CHUNK: usize = 256 << 10;

/// Reads `src` to its end, comparing it with `want` and hashing every byte
/// read on a second thread ([`crate::util::digest::read_hashing`]): the
/// first differing offset (the shorter length when only the lengths
/// differ; `None` if equal) and the SHA-256 of what was read. Reads on
/// after a difference, so the hash is of the whole file.
pub fn compare_hashing(mut src: impl Read, want: &[u8]) -> std::io::Result<(Option<u64>, String)> {
    let mut differs = None;
    let mut pos = 0usize;
    let size = CHUNK.min(want.len().max(4096));
    let (read, sha) = crate::util::digest::read_hashing(&mut src, usize::MAX, size, |got| {
        if differs.is_none() {
            differs = crate::util::bytes::chunk_mismatch(want, pos, got);
        }
        pos += got.len();
    })?;
    if differs.is_none() && read < want.len() {
        differs = Some(read as u64);
    }
    Ok((differs, sha))
}

/// The `written` byte ranges of a `len`-byte file, each widened to whole
/// `unit`s (a power of two), merged where they touch, clipped to `len`.
pub fn direct_units(written: &[Range<u64>], unit: u64, len: u64) -> Vec<Range<u64>> {
    let mut units: Vec<Range<u64>> = written
        .iter()
        .filter(|r| r.start < r.end && r.start < len)
        .map(|r| {
            let start = r.start - r.start % unit;
            let end = r.end.min(len);
            let end = end.checked_next_multiple_of(unit).unwrap_or(len).min(len);
            start..end
        })
        .collect();
    units.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(units.len());
    for u in units {
        match out.last_mut() {
            Some(last) if u.start <= last.end => last.end = last.end.max(u.end),
            _ => out.push(u),
        }
    }
    out
}

/// Reads each of `units` (ranges of the file, as [`direct_units`] makes
/// them) through `read` and compares it with `want`: the first differing
/// offset. Bytes of the file past the end of `want` differ at `want`'s end.
pub fn compare_units(
    units: &[Range<u64>],
    want: &[u8],
    mut read: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> std::io::Result<Option<u64>> {
    let mut buf = Vec::new();
    for u in units {
        let n = usize::try_from(u.end - u.start).map_err(|_| {
            std::io::Error::new(ErrorKind::InvalidInput, "read-back range too large")
        })?;
        buf.clear();
        buf.resize(n, 0);
        read(u.start, &mut buf)?;
        let from = usize::try_from(u.start)
            .unwrap_or(usize::MAX)
            .min(want.len());
        let expect = &want[from..(from + n).min(want.len())];
        if !crate::util::bytes::same(&buf[..expect.len()], expect) {
            let i = buf.iter().zip(expect).position(|(a, b)| a != b);
            return Ok(Some(u.start + i.unwrap_or(0) as u64));
        }
        if expect.len() < n {
            return Ok(Some(want.len() as u64));
        }
    }
    Ok(None)
}

/// The earlier of two differences.
pub fn first_of(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// Whether `e` means "this handle or file system cannot do direct reads"
/// (rather than a failing disk): the OS's invalid-argument error from open
/// or read (`EINVAL`; Windows `ERROR_INVALID_PARAMETER`), or no such flag
/// on this OS. The `Device`'s own invalid-input errors (an overflowing
/// offset) carry no OS code and are not a refusal.
fn refuses_direct(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::Unsupported
        || (e.raw_os_error().is_some() && e.kind() == ErrorKind::InvalidInput)
}

/// Reads the regular file `path` back and compares it with `want`: the
/// `written` ranges directly from the storage where the file system allows
/// (else through the page cache, saying why), then the whole file through
/// the page cache, hashed as it is read.
pub fn file(path: &Path, want: &[u8], written: &[Range<u64>]) -> Result<ReadBack> {
    let ctx = || format!("reading back {}", path.display());
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(ctx(), e))?
        .len();
    let direct = os::open_direct(path).and_then(|f| {
        let dev = Device::from_file(Arc::new(f), os::DIRECT_ALIGN, Some(len))?;
        let units = direct_units(written, u64::from(os::DIRECT_ALIGN), len);
        compare_units(&units, want, |at, buf| dev.read_exact_at(buf, at))
    });
    let (direct, path_used) = match direct {
        Ok(found) => (found, ReadPath::Direct),
        Err(e) if refuses_direct(&e) => (
            None,
            ReadPath::Cached {
                why: format!("the file system refused a direct read: {e}"),
            },
        ),
        Err(e) => return Err(Error::io(ctx(), e)),
    };
    let f = std::fs::File::open(path).map_err(|e| Error::io(ctx(), e))?;
    let (whole, sha256) = compare_hashing(f, want).map_err(|e| Error::io(ctx(), e))?;
    Ok(ReadBack {
        differs_at: first_of(direct, whole),
        sha256,
        path: path_used,
    })
}

/// Whether an I/O error from reading a direct handle means the handle
/// cannot do direct reads (so a cached read should be tried instead).
pub fn is_direct_refusal(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => refuses_direct(source),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_hashing_hashes_what_was_read() {
        let want: Vec<u8> = (0..3 * CHUNK as u32 + 7).map(|i| (i * 7) as u8).collect();
        let sha = crate::util::digest::sha256_hex;
        assert_eq!(
            compare_hashing(&want[..], &want).unwrap(),
            (None, sha(&want))
        );
        let mut got = want.clone();
        got[CHUNK + 5] ^= 1;
        assert_eq!(
            compare_hashing(&got[..], &want).unwrap(),
            (Some(CHUNK as u64 + 5), sha(&got))
        );
        assert_eq!(compare_hashing(&want[..10], &want).unwrap().0, Some(10));
        let mut long = want.clone();
        long.push(9);
        assert_eq!(
            compare_hashing(&long[..], &want).unwrap(),
            (Some(want.len() as u64), sha(&long))
        );
        assert_eq!(compare_hashing(&[][..], &[]).unwrap(), (None, sha(&[])));
    }

    #[test]
    fn written_ranges_become_whole_units() {
        let r = |a: u64, b: u64| a..b;
        assert_eq!(direct_units(&[], 4096, 100_000), vec![]);
        assert_eq!(direct_units(&[r(5, 6)], 4096, 100_000), vec![r(0, 4096)]);
        // Touching and overlapping units merge; the last is clipped.
        assert_eq!(
            direct_units(
                &[r(9000, 9001), r(4095, 4097), r(99_999, 100_000)],
                4096,
                100_000
            ),
            vec![r(0, 12_288), r(98_304, 100_000)]
        );
        // Past the end of the file, or empty: nothing to read.
        assert_eq!(
            direct_units(&[r(200_000, 200_001), r(7, 7)], 4096, 100_000),
            vec![]
        );
        assert_eq!(
            direct_units(&[r(0, u64::MAX)], 4096, u64::MAX),
            vec![r(0, u64::MAX)]
        );
    }

    #[test]
    fn units_compare_at_their_offsets() {
        let want: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = want.clone();
        let read = |f: &Vec<u8>| {
            let f = f.clone();
            move |at: u64, buf: &mut [u8]| {
                buf.copy_from_slice(&f[at as usize..at as usize + buf.len()]);
                Ok(())
            }
        };
        let units = direct_units(&[0..10, 9000..9100], 4096, 20_000);
        assert_eq!(compare_units(&units, &want, read(&file)).unwrap(), None);
        file[10_000] ^= 1;
        assert_eq!(
            compare_units(&units, &want, read(&file)).unwrap(),
            Some(10_000)
        );
        // Outside the units: not seen here (the whole-file compare finds it).
        assert_eq!(
            compare_units(&units[..1], &want, read(&file)).unwrap(),
            None
        );
        // The file is longer than `want`: it differs at `want`'s end.
        assert_eq!(
            compare_units(&units, &want[..9050], read(&want)).unwrap(),
            Some(9050)
        );
        assert_eq!(first_of(Some(5), Some(3)), Some(3));
        assert_eq!(first_of(None, Some(3)), Some(3));
        assert_eq!(first_of(None, None), None);
    }

    /// On a file system with direct reads (the test directory's, ext4 or
    /// xfs in CI) the written ranges are read around the page cache; a
    /// changed byte is found at its offset, inside a written range or not.
    #[test]
    fn a_file_reads_back_directly_where_the_file_system_allows() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let p = dir.path().join("hive");
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let written = [100..200, 12_000..12_400];
        let rb = file(&p, &data, &written).unwrap();
        assert_eq!(rb.differs_at, None);
        assert_eq!(rb.sha256, crate::util::digest::sha256_hex(&data));
        if cfg!(target_os = "linux") {
            assert_eq!(
                rb.path,
                ReadPath::Direct,
                "the crate's directory refuses O_DIRECT"
            );
        }
        for at in [150, 12_345, 19_999, 3] {
            let mut other = data.clone();
            other[at] ^= 0x80;
            assert_eq!(
                file(&p, &other, &written).unwrap().differs_at,
                Some(at as u64)
            );
        }
        assert_eq!(
            file(&p, &data[..15_000], &written).unwrap().differs_at,
            Some(15_000)
        );
        let mut longer = data.clone();
        longer.push(1);
        assert_eq!(file(&p, &longer, &[]).unwrap().differs_at, Some(20_000));
    }
}
