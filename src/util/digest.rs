// SPDX-License-Identifier: GPL-2.0-or-later
//! SHA-256 helpers (the `sha2` crate uses the CPU's SHA extensions when
//! present), and a read-and-hash pipeline.

use std::io::Read;
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Chunk size of the read-and-hash pipeline.
const CHUNK: usize = 1 << 20;

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
    let sha = std::thread::scope(|s| -> Result<String> {
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
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
