// SPDX-License-Identifier: GPL-2.0-or-later
//! SHA-256 helpers (the `sha2` crate uses the CPU's SHA extensions when
//! present).

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    crate::bytes::hex(&Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_input() {
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
