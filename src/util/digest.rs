// SPDX-License-Identifier: GPL-2.0-or-later
//! SHA-256 helpers (the `sha2` crate uses the CPU's SHA extensions when
//! present), a read-and-hash pipeline, and the MD5 / SHA-1 / SHA-256 set
//! `--hash` asks for (RustCrypto `md-5`, `sha1`, `sha2`).

use std::io::Read;
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Chunk size of the read-and-hash pipeline.
const CHUNK: usize = 1 << 20;
/// Up to this size a read is hashed on the reading thread.
const INLINE_HASH: usize = 4 << 20;

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    crate::util::bytes::hex(&Sha256::digest(data))
}

/// Reads exactly `len` bytes from `src` and hashes them on a second thread
/// while the rest is still being read, so hashing costs almost no wall time.
/// `what` names the source in errors. Fails if `src` holds more or fewer
/// bytes than `len` (a file that changes while it is read).
pub fn read_hashed(mut src: impl Read, len: u64, what: &str) -> Result<(Vec<u8>, String)> {
    let len = usize::try_from(len).map_err(|_| Error::Unsupported {
        what: "file size",
        offset: 0,
        detail: format!("{what} is too large for this platform"),
    })?;
    let mut buf = vec![0u8; len];
    let sha = if len <= INLINE_HASH {
        // Small (a log): a second thread would cost more than the hash.
        src.read_exact(&mut buf)
            .map_err(|e| Error::io(format!("reading {what}"), e))?;
        sha256_hex(&buf)
    } else {
        hash_while_reading(&mut src, &mut buf, what)?
    };
    let mut probe = [0u8; 1];
    if src
        .read(&mut probe)
        .map_err(|e| Error::io(format!("reading {what}"), e))?
        != 0
    {
        return Err(Error::Refused(format!(
            "{what} grew while it was being read"
        )));
    }
    Ok((buf, sha))
}

/// Fills `buf` from `src`, hashing each chunk on a second thread while the
/// next one is read.
fn hash_while_reading(src: &mut impl Read, buf: &mut [u8], what: &str) -> Result<String> {
    std::thread::scope(|s| -> Result<String> {
        let (tx, rx) = mpsc::channel::<&[u8]>();
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for c in rx {
                h.update(c);
            }
            crate::util::bytes::hex(&h.finalize())
        });
        for (i, chunk) in buf.chunks_mut(CHUNK).enumerate() {
            src.read_exact(chunk).map_err(|e| {
                Error::io(format!("reading {what} at byte offset {:#x}", i * CHUNK), e)
            })?;
            let done: &[u8] = chunk;
            // The receiver only stops when we drop the sender.
            let _ = tx.send(done);
        }
        drop(tx);
        Ok(hasher.join().expect("hash thread"))
    })
}

/// A digest algorithm `--hash` can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HashAlg {
    /// MD5 (RFC 1321): broken for collisions, still asked for by evidence forms.
    Md5,
    /// SHA-1 (FIPS 180-4): likewise.
    Sha1,
    /// SHA-256 (FIPS 180-4).
    Sha256,
}

/// Lower-case hex digests of one input, each present when it was asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Hashes {
    /// MD5.
    pub md5: Option<String>,
    /// SHA-1.
    pub sha1: Option<String>,
    /// SHA-256.
    pub sha256: Option<String>,
}

/// Several digests over one stream, fed once.
pub struct MultiHasher {
    md5: Option<md5::Md5>,
    sha1: Option<sha1::Sha1>,
    sha256: Option<Sha256>,
}

impl MultiHasher {
    /// A hasher for each algorithm in `algs`.
    pub fn new(algs: &[HashAlg]) -> Self {
        MultiHasher {
            md5: algs.contains(&HashAlg::Md5).then(md5::Md5::new),
            sha1: algs.contains(&HashAlg::Sha1).then(sha1::Sha1::new),
            sha256: algs.contains(&HashAlg::Sha256).then(Sha256::new),
        }
    }

    /// Feeds `data` to every hasher.
    pub fn update(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
    }

    /// The digests.
    pub fn finish(self) -> Hashes {
        let hex = crate::util::bytes::hex;
        Hashes {
            md5: self.md5.map(|h| hex(&h.finalize())),
            sha1: self.sha1.map(|h| hex(&h.finalize())),
            sha256: self.sha256.map(|h| hex(&h.finalize())),
        }
    }
}

/// The digests in `algs` of `data`.
pub fn hashes(data: &[u8], algs: &[HashAlg]) -> Hashes {
    let mut h = MultiHasher::new(algs);
    h.update(data);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_sha1_sha256_known_answers() {
        // FIPS 180-4 and RFC 1321 test vectors for "abc".
        let all = [HashAlg::Md5, HashAlg::Sha1, HashAlg::Sha256];
        let h = hashes(b"abc", &all);
        assert_eq!(h.md5.as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
        assert_eq!(
            h.sha1.as_deref(),
            Some("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            h.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        // Only what was asked for; fed in pieces equals fed at once.
        let mut m = MultiHasher::new(&[HashAlg::Sha1]);
        m.update(b"a");
        m.update(b"bc");
        let p = m.finish();
        assert_eq!((p.md5, p.sha256), (None, None));
        assert_eq!(p.sha1, h.sha1);
    }

    #[test]
    fn empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn pipeline_equals_one_shot_and_checks_length() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7) as u8).collect();
        let (b, h) = read_hashed(&data[..], data.len() as u64, "x").unwrap();
        assert_eq!(b, data);
        assert_eq!(h, sha256_hex(&data));
        assert!(read_hashed(&data[..], data.len() as u64 + 1, "x").is_err());
        assert!(read_hashed(&data[..], data.len() as u64 - 1, "x").is_err());
    }
}
