// SPDX-License-Identifier: GPL-2.0-or-later
//! SAM password-hash protection: the boot key (SYSTEM), the hashed boot key
//! (SAM account domain `F`, Key0) and the per-user NT/LM hash encryption,
//! in both eras.
//!
//! Sources: rdp-causes.md "SAM layout"; [MS-SAMR] 2.2.11.1.1-2.2.11.1.4
//! (DES-ECB with two keys derived from the RID); the boot-key permutation
//! and the Key0/hash key-derivation constants as documented by creddump
//! and impacket `secretsdump.py` (`SAMHashes`, `LSASecrets`), checked here
//! against the real same-machine Windows XP pair of the corpus (RC4 era).
//! All ciphers and digests are RustCrypto crates (md4, md-5, des, rc4, aes,
//! cbc); nothing cryptographic is hand-rolled.

use aes::Aes128;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use des::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::Des;
use md4::Md4;
use md5::{Digest, Md5};
use rc4::{consts::U16, Rc4, StreamCipher};

use crate::error::{Error, Result};
use crate::format::sam::{HashBlob, HashFormat, HASH_REV_AES, HASH_REV_RC4};
use crate::util::bytes::{slice, u32_at};

/// The four `Control\Lsa` subkeys whose class names hold the boot key, in
/// order.
pub const BOOT_KEY_PARTS: [&str; 4] = ["JD", "Skew1", "GBG", "Data"];
/// The fixed permutation applied to the class-name bytes.
pub const BOOT_KEY_PERMUTATION: [usize; 16] =
    [8, 5, 4, 2, 11, 9, 13, 3, 0, 6, 1, 12, 14, 10, 15, 7];
/// Key0 (RC4 era) key-derivation constant.
pub const QWERTY: &[u8] = b"!@#$%^&*()qwertyUIOPAzxcvbnmQQQQQQQQQQQQ)(*@&%\0";
/// Key0 (RC4 era) key-derivation constant.
pub const DIGITS: &[u8] = b"0123456789012345678901234567890123456789\0";
/// Per-user NT-hash key constant.
pub const NTPASSWORD: &[u8] = b"NTPASSWORD\0";
/// Per-user LM-hash key constant.
pub const LMPASSWORD: &[u8] = b"LMPASSWORD\0";

/// Key0, RC4 era: revision, length, salt, key, checksum.
const KEY0_RC4_SALT: usize = 8;
const KEY0_RC4_KEY: usize = 0x18;
const KEY0_RC4_END: usize = 0x38;
/// Key0, AES era: revision, length, check length, data length, salt, data.
const KEY0_AES_DATA_LEN: usize = 0x0C;
const KEY0_AES_SALT: usize = 0x10;
const KEY0_AES_DATA: usize = 0x20;
/// One AES block.
const BLOCK: usize = 16;

fn invalid(what: &'static str, offset: u64, detail: String) -> Error {
    Error::Invalid {
        what,
        offset,
        detail,
    }
}

/// The boot key from the four class names (each 8 hex digits).
pub fn boot_key(classes: &[String; 4]) -> Result<[u8; 16]> {
    let joined: String = classes.concat();
    if joined.len() != 32 || !joined.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "boot key",
            0,
            format!(
                "the Lsa class names {:?} are not four 8-digit hex strings",
                classes
            ),
        ));
    }
    let mut scrambled = [0u8; 16];
    for (i, b) in scrambled.iter_mut().enumerate() {
        *b = u8::from_str_radix(&joined[2 * i..2 * i + 2], 16).expect("hex checked");
    }
    let mut key = [0u8; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = scrambled[BOOT_KEY_PERMUTATION[i]];
    }
    Ok(key)
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn rc4(key: &[u8; 16], data: &mut [u8]) {
    let mut c = Rc4::<U16>::new(key.into());
    c.apply_keystream(data);
}

fn aes_cbc_decrypt(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    let mut d = cbc::Decryptor::<Aes128>::new(key.into(), iv.into());
    for block in data.chunks_exact_mut(BLOCK) {
        d.decrypt_block_mut(block.into());
    }
}

fn aes_cbc_encrypt(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    let mut e = cbc::Encryptor::<Aes128>::new(key.into(), iv.into());
    for block in data.chunks_exact_mut(BLOCK) {
        e.encrypt_block_mut(block.into());
    }
}

/// Whether `b` ends in one full block of PKCS#7 padding (16 × 0x10).
fn full_padding_block(b: &[u8]) -> bool {
    b.len() >= BLOCK && b[b.len() - BLOCK..].iter().all(|&x| x as usize == BLOCK)
}

/// The hashed boot key (the password-encryption key) from Key0, verified
/// against `boot_key` wherever the format allows: the RC4-era MD5 checksum,
/// the AES-era padding block. A mismatch means the SYSTEM and SAM hives do
/// not belong to the same machine (or a syskey startup password is used).
pub fn hashed_boot_key(key0: &[u8], base: u64, boot_key: &[u8; 16]) -> Result<[u8; 16]> {
    let rev = u32_at(key0, base, 0, "Key0 revision")?;
    let mismatch = |how: &str| {
        Error::Refused(format!(
            "the SAM's password-encryption key (Key0 at byte offset {base:#x}) does not decrypt with this \
             SYSTEM's boot key ({how}): the SYSTEM and SAM hives are not from the same machine, or a syskey \
             startup password is in use"
        ))
    };
    match rev {
        r if r == u32::from(HASH_REV_RC4) => {
            let salt = slice(key0, base, KEY0_RC4_SALT, 16, "Key0 salt")?;
            let mut data = slice(
                key0,
                base,
                KEY0_RC4_KEY,
                KEY0_RC4_END - KEY0_RC4_KEY,
                "Key0 key",
            )?
            .to_vec();
            rc4(&md5(&[salt, QWERTY, boot_key, DIGITS]), &mut data);
            let (hbk, sum) = data.split_at(16);
            if md5(&[hbk, DIGITS, hbk, QWERTY]) != sum {
                return Err(mismatch("RC4-era checksum differs"));
            }
            Ok(hbk.try_into().expect("16 bytes"))
        }
        r if r == u32::from(HASH_REV_AES) => {
            let len = u32_at(key0, base, KEY0_AES_DATA_LEN, "Key0 data length")? as usize;
            if len < 2 * BLOCK || !len.is_multiple_of(BLOCK) {
                return Err(invalid(
                    "Key0 data length",
                    base + KEY0_AES_DATA_LEN as u64,
                    format!("{len:#x} (expected a multiple of 16, at least 0x20)"),
                ));
            }
            let salt: [u8; 16] = slice(key0, base, KEY0_AES_SALT, 16, "Key0 salt")?
                .try_into()
                .expect("16 bytes");
            let mut data = slice(key0, base, KEY0_AES_DATA, len, "Key0 data")?.to_vec();
            aes_cbc_decrypt(boot_key, &salt, &mut data);
            if !full_padding_block(&data) {
                return Err(mismatch("AES-era padding is wrong"));
            }
            Ok(data[..16].try_into().expect("16 bytes"))
        }
        other => Err(invalid(
            "Key0 revision",
            base,
            format!("{other} (known: 1 = RC4, 2 = AES)"),
        )),
    }
}

/// Expands 7 key bytes to a DES key ([MS-SAMR] 2.2.11.1.2; parity bits
/// are ignored by DES).
fn des_key(s: [u8; 7]) -> [u8; 8] {
    let k = [
        s[0] >> 1,
        ((s[0] & 0x01) << 6) | (s[1] >> 2),
        ((s[1] & 0x03) << 5) | (s[2] >> 3),
        ((s[2] & 0x07) << 4) | (s[3] >> 4),
        ((s[3] & 0x0F) << 3) | (s[4] >> 5),
        ((s[4] & 0x1F) << 2) | (s[5] >> 6),
        ((s[5] & 0x3F) << 1) | (s[6] >> 7),
        s[6] & 0x7F,
    ];
    k.map(|b| b << 1)
}

/// The two DES ciphers of a RID ([MS-SAMR] 2.2.11.1.3).
fn rid_ciphers(rid: u32) -> (Des, Des) {
    let r = rid.to_le_bytes();
    let k1 = des_key([r[0], r[1], r[2], r[3], r[0], r[1], r[2]]);
    let k2 = des_key([r[3], r[0], r[1], r[2], r[3], r[0], r[1]]);
    (
        Des::new_from_slice(&k1).expect("8-byte key"),
        Des::new_from_slice(&k2).expect("8-byte key"),
    )
}

fn rid_des(rid: u32, data: &[u8; 16], encrypt: bool) -> [u8; 16] {
    let (c1, c2) = rid_ciphers(rid);
    let mut out = *data;
    let (a, b) = out.split_at_mut(8);
    if encrypt {
        c1.encrypt_block(a.into());
        c2.encrypt_block(b.into());
    } else {
        c1.decrypt_block(a.into());
        c2.decrypt_block(b.into());
    }
    out
}

/// MD4 of the UTF-16LE password: the NT hash.
pub fn nt_hash(password: &str) -> [u8; 16] {
    let utf16: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    Md4::digest(&utf16).into()
}

/// Decrypts a user's hash blob (`constant` = [`NTPASSWORD`] or
/// [`LMPASSWORD`]); `None` for a blob without a hash.
pub fn decrypt_hash(
    blob: &HashBlob,
    rid: u32,
    hbk: &[u8; 16],
    constant: &[u8],
    base: u64,
) -> Result<Option<[u8; 16]>> {
    let obfuscated: [u8; 16] = match blob {
        HashBlob::Empty | HashBlob::Blank(_) => return Ok(None),
        HashBlob::Rc4 { data } => {
            let mut d = *data;
            rc4(&md5(&[hbk, &rid.to_le_bytes(), constant]), &mut d);
            d
        }
        HashBlob::Aes { salt, data } => {
            let mut d = *data;
            aes_cbc_decrypt(hbk, salt, &mut d);
            if !full_padding_block(&d) {
                return Err(invalid(
                    "hash blob",
                    base,
                    "the AES-era hash does not decrypt with the SAM's key (bad padding)".into(),
                ));
            }
            d[..16].try_into().expect("16 bytes")
        }
    };
    Ok(Some(rid_des(rid, &obfuscated, false)))
}

/// Encrypts `hash` into a blob of the same format, salt and length as
/// `like` (which must hold a hash: blank blobs are shorter). Returns the
/// blob bytes (header included), keeping `like`'s PekID header bytes.
pub fn encrypt_hash_like(
    like_bytes: &[u8],
    like: &HashBlob,
    rid: u32,
    hbk: &[u8; 16],
    constant: &[u8],
    hash: &[u8; 16],
) -> Option<Vec<u8>> {
    let obfuscated = rid_des(rid, hash, true);
    let mut out = like_bytes.to_vec();
    match like {
        HashBlob::Rc4 { .. } => {
            let mut d = obfuscated;
            rc4(&md5(&[hbk, &rid.to_le_bytes(), constant]), &mut d);
            out[4..20].copy_from_slice(&d);
        }
        HashBlob::Aes { salt, .. } => {
            let mut d = [BLOCK as u8; 32];
            d[..16].copy_from_slice(&obfuscated);
            aes_cbc_encrypt(hbk, salt, &mut d);
            out[crate::format::sam::AES_DATA_AT..].copy_from_slice(&d);
        }
        HashBlob::Empty | HashBlob::Blank(_) => return None,
    }
    Some(out)
}

/// The header-only blob Windows stores for an account without this hash
/// (the LM hash since Vista): 4 bytes (RC4 era) or 0x18 bytes with the
/// salt kept and a zero data offset (AES era).
pub fn header_only(like_bytes: &[u8], format: HashFormat) -> Vec<u8> {
    match format {
        HashFormat::Rc4 => like_bytes[..4.min(like_bytes.len())].to_vec(),
        HashFormat::Aes => {
            let mut out =
                like_bytes[..crate::format::sam::AES_BLANK_LEN.min(like_bytes.len())].to_vec();
            if out.len() >= 8 {
                out[4..8].fill(0);
            }
            out
        }
    }
}

/// Encrypts a hashed boot key into an AES-era Key0 under `boot_key` with
/// `salt` (test fixtures: a consistent SYSTEM/SAM pair).
#[cfg(any(test, feature = "fixtures"))]
pub fn seal_key0_aes(
    key0_like: &[u8],
    boot_key: &[u8; 16],
    salt: &[u8; 16],
    hbk: &[u8; 16],
) -> Vec<u8> {
    let mut out = key0_like.to_vec();
    let mut d = [BLOCK as u8; 32];
    d[..16].copy_from_slice(hbk);
    aes_cbc_encrypt(boot_key, salt, &mut d);
    out[KEY0_AES_SALT..KEY0_AES_SALT + 16].copy_from_slice(salt);
    out[KEY0_AES_DATA..KEY0_AES_DATA + 32].copy_from_slice(&d);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::sam::{AES_HASH_LEN, RC4_HASH_LEN};

    #[test]
    fn nt_hash_is_md4_of_utf16le() {
        // MD4("") and MD4(UTF-16LE "password"): the published NT hashes.
        assert_eq!(
            crate::util::bytes::hex(&nt_hash("")),
            "31d6cfe0d16ae931b73c59d7e0c089c0"
        );
        assert_eq!(
            crate::util::bytes::hex(&nt_hash("password")),
            "8846f7eaee8fb117ad06bdd830b7586c"
        );
    }

    #[test]
    fn boot_key_permutation_and_bad_classes() {
        let classes = [
            "00112233".to_string(),
            "44556677".into(),
            "8899aabb".into(),
            "ccddeeff".into(),
        ];
        let k = boot_key(&classes).unwrap();
        // scrambled[i] = 0x11 * i; key[i] = scrambled[perm[i]].
        for (i, b) in k.iter().enumerate() {
            assert_eq!(*b as usize, 0x11 * BOOT_KEY_PERMUTATION[i]);
        }
        let mut bad = classes.clone();
        bad[2] = "zz".into();
        assert!(boot_key(&bad).is_err());
    }

    /// Encrypt then decrypt gives the hash back in both eras; a different
    /// RID or key does not.
    #[test]
    fn hash_round_trip_both_eras() {
        let hbk = [7u8; 16];
        let hash = nt_hash("Correct horse 42!");
        let mut rc4_blob = vec![0u8; RC4_HASH_LEN];
        rc4_blob[2] = 1;
        let mut aes_blob = vec![0u8; AES_HASH_LEN];
        aes_blob[2] = 2;
        aes_blob[4] = 0x10;
        aes_blob[8..24].copy_from_slice(&[9u8; 16]);
        for bytes in [rc4_blob, aes_blob] {
            let like = HashBlob::parse(&bytes, 0).unwrap();
            let new = encrypt_hash_like(&bytes, &like, 1001, &hbk, NTPASSWORD, &hash).unwrap();
            assert_eq!(new.len(), bytes.len());
            assert_eq!(new[..4], bytes[..4]);
            let blob = HashBlob::parse(&new, 0).unwrap();
            assert_eq!(
                decrypt_hash(&blob, 1001, &hbk, NTPASSWORD, 0).unwrap(),
                Some(hash)
            );
            let other = decrypt_hash(&blob, 1002, &hbk, NTPASSWORD, 0);
            assert_ne!(other.ok().flatten(), Some(hash));
        }
    }

    #[test]
    fn aes_key0_round_trip_and_mismatch() {
        let mut key0 = vec![0u8; 0x70];
        key0[0] = 2;
        key0[KEY0_AES_DATA_LEN] = 0x20;
        let boot = [3u8; 16];
        let hbk = [0x5Au8; 16];
        let sealed = seal_key0_aes(&key0, &boot, &[1u8; 16], &hbk);
        assert_eq!(hashed_boot_key(&sealed, 0x1000, &boot).unwrap(), hbk);
        let e = hashed_boot_key(&sealed, 0x1000, &[4u8; 16]).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Refused);
        assert!(e.to_string().contains("not from the same machine"), "{e}");
    }
}
