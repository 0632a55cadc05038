// SPDX-License-Identifier: GPL-2.0-or-later
//! SHA-256 helpers (the `sha2` crate uses the CPU's SHA extensions when
//! present), a read-and-hash pipeline, and the MD5 / SHA-1 / SHA-256 set
//! `--hash` asks for (RustCrypto `md-5`, `sha1`, `sha2`).

use std::io::Read;
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::util::buf::Buf;

/// Chunk size of the read-and-hash pipeline.
const CHUNK: usize = 256 << 10;
/// Buffers in the read-and-hash pipeline: enough that the reading thread
/// can run ahead, so that the hashing thread, the slower of the two, seldom
/// waits for a chunk (with two buffers of 1 MiB it was idle about a third
/// of a 12 MB read, by `perf`).
const BUFFERS: usize = 6;
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
pub fn read_hashed(mut src: impl Read, len: u64, what: &str) -> Result<(Buf, String)> {
    let len = usize::try_from(len).map_err(|_| Error::Unsupported {
        what: "file size",
        offset: 0,
        detail: format!("{what} is too large for this platform"),
    })?;
    let (buf, sha) = if len <= INLINE_HASH {
        // Small (a log): a second thread would cost more than the hash.
        let mut buf = vec![0u8; len];
        src.read_exact(&mut buf)
            .map_err(|e| Error::io(format!("reading {what}"), e))?;
        let sha = sha256_hex(&buf);
        (Buf::from(buf), sha)
    } else {
        // Never zero-filled first: each page of the result is first touched
        // by the copy of its chunk, so faulting the pages in overlaps the
        // hash of the chunk before (a zero-filled 12 MB buffer cost ~6 ms
        // before the first byte was read; docs/performance.md). A buffer
        // this large is a huge-page mapping on Linux (util::buf).
        let mut buf = Buf::with_capacity(len);
        let (n, sha) = read_hashing(&mut src, len, CHUNK, |c| buf.extend_from_slice(c))
            .map_err(|e| Error::io(format!("reading {what} at byte offset {:#x}", buf.len()), e))?;
        if n < len {
            return Err(Error::io(
                format!("reading {what} at byte offset {n:#x}"),
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        (buf, sha)
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

/// Reads `src` up to `limit` bytes or its end, `chunk` bytes at a time,
/// into a few buffers that take turns: each chunk goes to `each` on this
/// thread, then to a second thread that hashes it while the next ones are
/// read. Returns how many bytes were read and their SHA-256 (lower-case
/// hex). A failed read stops it; `each` has seen every byte read before.
pub fn read_hashing(
    src: &mut impl Read,
    limit: usize,
    chunk: usize,
    mut each: impl FnMut(&[u8]),
) -> std::io::Result<(usize, String)> {
    std::thread::scope(|s| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for buf in full_rx {
                h.update(&buf);
                // The reader may have stopped on an error: nobody to return to.
                let _ = empty_tx.send(buf);
            }
            crate::util::bytes::hex(&h.finalize())
        });
        let size = chunk.min(limit).max(1);
        let mut spare = vec![vec![0u8; size]; BUFFERS];
        let mut total = 0usize;
        let read = (|| -> std::io::Result<()> {
            while total < limit {
                let mut buf = match spare.pop() {
                    Some(b) => b,
                    None => empty_rx
                        .recv()
                        .map_err(|_| std::io::Error::other("the hash thread stopped"))?,
                };
                let want = size.min(limit - total);
                buf.resize(want, 0);
                let n = crate::util::bytes::read_full(src, &mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                buf.truncate(n);
                each(&buf);
                total += n;
                full_tx
                    .send(buf)
                    .map_err(|_| std::io::Error::other("the hash thread stopped"))?;
                if n < want {
                    return Ok(());
                }
            }
            Ok(())
        })();
        drop(full_tx);
        let sha = hasher.join().expect("hash thread");
        read?;
        Ok((total, sha))
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
        // Both paths: hashed inline (a log) and on the second thread.
        for len in [3 * CHUNK + 17, INLINE_HASH + CHUNK / 2 + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let (b, h) = read_hashed(&data[..], data.len() as u64, "x").unwrap();
            assert_eq!(b, data);
            assert_eq!(h, sha256_hex(&data));
            assert!(read_hashed(&data[..], data.len() as u64 + 1, "x").is_err());
            assert!(read_hashed(&data[..], data.len() as u64 - 1, "x").is_err());
        }
    }

    /// A reader that hands out at most `step` bytes per call and fails
    /// once `fail_at` bytes have been read.
    struct Trickle<'a> {
        data: &'a [u8],
        at: usize,
        step: usize,
        fail_at: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at >= self.fail_at {
                return Err(std::io::Error::other("bad sector"));
            }
            let n = buf
                .len()
                .min(self.step)
                .min(self.data.len() - self.at)
                .min(self.fail_at - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn read_hashing_sees_every_byte_in_order_up_to_the_limit() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let trickle = |fail_at| Trickle {
            data: &data,
            at: 0,
            step: 999,
            fail_at,
        };
        // Short reads fill each chunk; the limit stops it mid-chunk.
        let mut seen = Vec::new();
        let (n, h) = read_hashing(&mut trickle(usize::MAX), 70_001, 4096, |c| {
            assert!(c.len() <= 4096);
            seen.extend_from_slice(c)
        })
        .unwrap();
        assert_eq!(
            (n, &seen[..], h),
            (70_001, &data[..70_001], sha256_hex(&data[..70_001]))
        );
        // Its end before the limit: what there is.
        seen.clear();
        let (n, h) = read_hashing(&mut trickle(usize::MAX), usize::MAX, 4096, |c| {
            seen.extend_from_slice(c)
        })
        .unwrap();
        assert_eq!(
            (n, &seen[..], h),
            (data.len(), &data[..], sha256_hex(&data))
        );
        // A failed read is an error; the chunks before it were seen.
        seen.clear();
        let e = read_hashing(&mut trickle(50_000), usize::MAX, 4096, |c| {
            seen.extend_from_slice(c)
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "bad sector");
        assert_eq!(&seen[..], &data[..seen.len()]);
        assert!(seen.len() <= 50_000 && seen.len() > 40_000);
        // Through read_hashed: the error names the offset of the chunk.
        let big: Vec<u8> = (0..INLINE_HASH + CHUNK + 5)
            .map(|i| (i % 13) as u8)
            .collect();
        let mut t = Trickle {
            data: &big,
            at: 0,
            step: 1 << 16,
            fail_at: INLINE_HASH + 3,
        };
        let e = read_hashed(&mut t, big.len() as u64, "SYSTEM")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("SYSTEM at byte offset {INLINE_HASH:#x}")),
            "{e}"
        );
    }
}
