// SPDX-License-Identifier: GPL-2.0-or-later
//! Reading a written file back from the storage rather than from the OS
//! page cache, where the OS allows it.
//!
//! After a write, the bytes in the page cache are the bytes just written:
//! comparing them with the plan proves little about what the disk holds.
//! So the read-back opens the file or device again with the cache bypassed
//! ([`crate::storage::os::open_direct`]: Linux `O_DIRECT`, Windows
//! `FILE_FLAG_NO_BUFFERING`) and reads whole aligned units through a
//! [`Device`]. Where a file system refuses such reads (tmpfs, a FUSE mount
//! such as ntfs-3g on kernels that refuse it: `EINVAL`; an OS without the
//! flag), the read goes through the page cache after the `fsync` instead,
//! and [`ReadPath::Cached`] says why. The SHA-256 reported for the written
//! file is computed from the bytes read back, never copied from the plan.

use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::storage::device::Device;
use crate::storage::os;

/// How a file was read back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum ReadPath {
    /// From the storage, bypassing the OS page cache.
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
            ReadPath::Direct => "from the storage, bypassing the OS page cache".into(),
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
    /// SHA-256 of the bytes read back.
    pub sha256: String,
    /// How they were read.
    pub path: ReadPath,
}

/// Chunk size of [`compare_hashing`].
const CHUNK: usize = 1 << 20;

/// Reads `src` to its end, comparing it with `want` and hashing every byte
/// read: the first differing offset (as
/// [`crate::storage::store::first_difference`]) and the SHA-256 of what was
/// read. Reads on after a difference, so the hash is of the whole file.
pub fn compare_hashing(mut src: impl Read, want: &[u8]) -> std::io::Result<(Option<u64>, String)> {
    let mut buf = vec![0u8; CHUNK.min(want.len().max(4096))];
    let mut hasher = Sha256::new();
    let mut pos = 0usize;
    let mut differs = None;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let got = &buf[..n];
        hasher.update(got);
        if differs.is_none() {
            let expect = want.get(pos..).unwrap_or_default();
            let common = n.min(expect.len());
            if got[..common] != expect[..common] {
                let i = got.iter().zip(expect).position(|(a, b)| a != b);
                differs = Some((pos + i.unwrap_or(0)) as u64);
            } else if common < n {
                differs = Some(want.len() as u64);
            }
        }
        pos = pos.saturating_add(n);
    }
    if differs.is_none() && pos < want.len() {
        differs = Some(pos as u64);
    }
    Ok((differs, crate::util::bytes::hex(&hasher.finalize())))
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

/// The bytes of `path` (a regular file, `len` bytes long) through a handle
/// that bypasses the page cache, as a reader.
fn direct_reader(path: &Path, len: u64) -> std::io::Result<DirectFile> {
    let file = os::open_direct(path)?;
    let dev = Device::from_file(Arc::new(file), os::DIRECT_ALIGN, Some(len))?;
    Ok(DirectFile { dev, len })
}

/// A regular file opened with [`os::open_direct`], read in aligned units.
struct DirectFile {
    dev: Device,
    len: u64,
}

impl DirectFile {
    fn compare(&self, want: &[u8]) -> std::io::Result<(Option<u64>, String)> {
        compare_hashing(
            DeviceReader {
                dev: &self.dev,
                pos: 0,
                len: self.len,
            },
            want,
        )
    }
}

/// The first `len` bytes of a device, in order.
struct DeviceReader<'a> {
    dev: &'a Device,
    pos: u64,
    len: u64,
}

impl Read for DeviceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = usize::try_from(left).map_or(buf.len(), |l| buf.len().min(l));
        if want == 0 {
            return Ok(0);
        }
        let n = self.dev.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads the regular file `path` back and compares it with `want`:
/// directly from the storage where the file system allows, else through
/// the page cache (saying why).
pub fn file(path: &Path, want: &[u8]) -> Result<ReadBack> {
    let ctx = || format!("reading back {}", path.display());
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(ctx(), e))?
        .len();
    let direct = direct_reader(path, len).and_then(|d| d.compare(want));
    let (found, path_used) = match direct {
        Ok(found) => (found, ReadPath::Direct),
        Err(e) if refuses_direct(&e) => {
            let why = format!("the file system refused a direct read: {e}");
            let f = std::fs::File::open(path).map_err(|e| Error::io(ctx(), e))?;
            let found = compare_hashing(f, want).map_err(|e| Error::io(ctx(), e))?;
            (found, ReadPath::Cached { why })
        }
        Err(e) => return Err(Error::io(ctx(), e)),
    };
    Ok(ReadBack {
        differs_at: found.0,
        sha256: found.1,
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
        let (d, h) = compare_hashing(&want[..], &want).unwrap();
        assert_eq!(d, None);
        assert_eq!(h, crate::util::digest::sha256_hex(&want));
        let mut got = want.clone();
        got[CHUNK + 5] ^= 1;
        let (d, h) = compare_hashing(&got[..], &want).unwrap();
        assert_eq!(d, Some(CHUNK as u64 + 5));
        assert_eq!(h, crate::util::digest::sha256_hex(&got));
        let (d, _) = compare_hashing(&want[..10], &want).unwrap();
        assert_eq!(d, Some(10));
        let mut long = want.clone();
        long.push(9);
        let (d, h) = compare_hashing(&long[..], &want).unwrap();
        assert_eq!(d, Some(want.len() as u64));
        assert_eq!(h, crate::util::digest::sha256_hex(&long));
    }

    /// On a file system with direct reads (the test directory's, ext4 or
    /// xfs in CI) the file is read around the page cache and hashed from
    /// what was read; a changed byte is found at its offset.
    #[test]
    fn a_file_reads_back_directly_where_the_file_system_allows() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let p = dir.path().join("hive");
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let rb = file(&p, &data).unwrap();
        assert_eq!(rb.differs_at, None);
        assert_eq!(rb.sha256, crate::util::digest::sha256_hex(&data));
        if cfg!(target_os = "linux") {
            assert_eq!(
                rb.path,
                ReadPath::Direct,
                "the crate's directory refuses O_DIRECT"
            );
        }
        let mut other = data.clone();
        other[12_345] ^= 0x80;
        let rb = file(&p, &other).unwrap();
        assert_eq!(rb.differs_at, Some(12_345));
        assert_eq!(rb.sha256, crate::util::digest::sha256_hex(&data));
    }
}
