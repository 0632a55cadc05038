// SPDX-License-Identifier: GPL-2.0-or-later
//! SAM records: a user's `F` (fixed) and `V` (variable) values, the account
//! domain's `F` and `V`, an alias's `C`, SIDs, and the password-hash blobs
//! stored in a user's `V`.
//!
//! Sources: rdp-causes.md "SAM layout" (checked against the real Windows
//! XP, 10 and 11 SAM hives of the corpus); Samba `ntsam.h` / chntpw `sam.h`
//! for the ACB bits; [MS-DTYP] 2.4.2.2 for the binary SID; [MS-SAMR]
//! 2.2.1.12 (`USER_ACCOUNT_CONTROL`) for the account-control flags.
//!
//! Everything here is bytes in, values out; every offset read from the
//! data is bounds-checked and an error names the byte offset (`base` is the
//! absolute file offset of the value's first byte, used in messages).

use crate::error::{Error, Result};
use crate::util::bytes::{slice, u16_at, u32_at, u64_at};

/// Account-control bits of a user's `F` at [`F_ACB`] (`ACB_*`, chntpw
/// `sam.h`; Samba `ntsam.h`).
pub mod acb {
    /// The account is disabled.
    pub const DISABLED: u16 = 0x0001;
    /// No password is required.
    pub const PASSWORD_NOT_REQUIRED: u16 = 0x0004;
    /// A normal user account.
    pub const NORMAL: u16 = 0x0010;
    /// The password never expires.
    pub const DONT_EXPIRE_PASSWORD: u16 = 0x0200;
    /// Locked out after too many bad passwords.
    pub const AUTO_LOCKED: u16 = 0x0400;
}

/// Size of a user's `F` value (XP to Windows 11).
pub const USER_F_LEN: usize = 0x50;
/// User `F`: last logon (FILETIME).
pub const F_LAST_LOGON: usize = 0x08;
/// User `F`: password last set (FILETIME; 0 = must change at next logon).
pub const F_PASSWORD_LAST_SET: usize = 0x18;
/// User `F`: account expires (FILETIME; 0 or 0x7FFF_FFFF_FFFF_FFFF = never).
pub const F_ACCOUNT_EXPIRES: usize = 0x20;
/// User `F`: last bad password (FILETIME).
pub const F_LAST_BAD_PASSWORD: usize = 0x28;
/// User `F`: RID (u32).
pub const F_RID: usize = 0x30;
/// User `F`: account-control bits (u16).
pub const F_ACB: usize = 0x38;
/// User `F`: bad-password count (u16).
pub const F_BAD_COUNT: usize = 0x40;
/// User `F`: logon count (u16).
pub const F_LOGON_COUNT: usize = 0x42;

/// FILETIME "never" for AccountExpires (the other form is 0).
pub const FILETIME_NEVER: u64 = 0x7FFF_FFFF_FFFF_FFFF;

/// User `V`: size of the header of 12-byte (offset, length, unknown)
/// entries; entry offsets are relative to its end.
pub const V_HEADER_LEN: usize = 0xCC;
/// User `V` entry: user name.
pub const V_NAME: usize = 0x0C;
/// User `V` entry: full name.
pub const V_FULL_NAME: usize = 0x18;
/// User `V` entry: comment.
pub const V_COMMENT: usize = 0x24;
/// User `V` entry: workstations the user may log on from.
pub const V_WORKSTATIONS: usize = 0x78;
/// User `V` entry: logon hours.
pub const V_LOGON_HOURS: usize = 0x84;
/// User `V` entry: LM hash blob.
pub const V_LM_HASH: usize = 0x9C;
/// User `V` entry: NT hash blob.
pub const V_NT_HASH: usize = 0xA8;

/// Account domain `F`: maximum password age (negative 100-ns interval).
pub const DF_MAX_PASSWORD_AGE: usize = 0x18;
/// Account domain `F`: lockout duration (negative 100-ns interval).
pub const DF_LOCKOUT_DURATION: usize = 0x30;
/// Account domain `F`: lockout threshold (u16; 0 = never lock out).
pub const DF_LOCKOUT_THRESHOLD: usize = 0x54;
/// Account domain `F`: the password-encryption key block (Key0).
pub const DF_KEY0: usize = 0x68;

/// Alias `C`: header size; entry offsets are relative to its end.
pub const C_HEADER_LEN: usize = 0x34;
/// Alias `C`: name offset / length (u32 each).
pub const C_NAME: usize = 0x10;
/// Alias `C`: members offset (u32).
pub const C_MEMBERS_OFFSET: usize = 0x28;
/// Alias `C`: members length in bytes (u32).
pub const C_MEMBERS_LEN: usize = 0x2C;
/// Alias `C`: member count (u32).
pub const C_MEMBER_COUNT: usize = 0x30;

/// Hash blob revision 1: RC4 era (XP .. Windows 10 1511).
pub const HASH_REV_RC4: u16 = 1;
/// Hash blob revision 2: AES era (Windows 10 1607 and later).
pub const HASH_REV_AES: u16 = 2;
/// RC4-era blob: PekID, revision, 16 encrypted bytes.
pub const RC4_HASH_LEN: usize = 0x14;
/// RC4-era blob without a hash (blank password).
pub const RC4_BLANK_LEN: usize = 4;
/// AES-era blob: PekID, revision, data offset, 16-byte salt, 32 bytes of
/// AES-CBC data (the 16-byte hash and one block of PKCS#7 padding).
pub const AES_HASH_LEN: usize = 0x38;
/// AES-era blob without a hash (blank password): the header and salt only.
pub const AES_BLANK_LEN: usize = 0x18;
/// AES-era blob: offset of the salt.
pub const AES_SALT_AT: usize = 8;
/// AES-era blob: offset of the encrypted data.
pub const AES_DATA_AT: usize = 0x18;

fn invalid(what: &'static str, offset: u64, detail: String) -> Error {
    Error::Invalid {
        what,
        offset,
        detail,
    }
}

/// A user's `F` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserF {
    /// Last logon FILETIME.
    pub last_logon: u64,
    /// Password last set FILETIME.
    pub password_last_set: u64,
    /// Account expiry FILETIME.
    pub account_expires: u64,
    /// Last bad password FILETIME.
    pub last_bad_password: u64,
    /// RID.
    pub rid: u32,
    /// Account-control bits ([`acb`]).
    pub acb: u16,
    /// Bad-password count.
    pub bad_count: u16,
    /// Logon count.
    pub logon_count: u16,
}

impl UserF {
    /// Parses a user `F` (at least [`USER_F_LEN`] bytes).
    pub fn parse(f: &[u8], base: u64) -> Result<UserF> {
        slice(f, base, 0, USER_F_LEN, "user F value")?;
        Ok(UserF {
            last_logon: u64_at(f, base, F_LAST_LOGON, "user F")?,
            password_last_set: u64_at(f, base, F_PASSWORD_LAST_SET, "user F")?,
            account_expires: u64_at(f, base, F_ACCOUNT_EXPIRES, "user F")?,
            last_bad_password: u64_at(f, base, F_LAST_BAD_PASSWORD, "user F")?,
            rid: u32_at(f, base, F_RID, "user F")?,
            acb: u16_at(f, base, F_ACB, "user F")?,
            bad_count: u16_at(f, base, F_BAD_COUNT, "user F")?,
            logon_count: u16_at(f, base, F_LOGON_COUNT, "user F")?,
        })
    }

    /// Whether the account never expires.
    pub fn never_expires(&self) -> bool {
        self.account_expires == 0 || self.account_expires == FILETIME_NEVER
    }
}

/// A copy of `f` with the u16 at `at` replaced (same size).
pub fn with_u16(f: &[u8], at: usize, v: u16) -> Result<Vec<u8>> {
    slice(f, 0, at, 2, "user F field")?;
    let mut out = f.to_vec();
    out[at..at + 2].copy_from_slice(&v.to_le_bytes());
    Ok(out)
}

/// A copy of `f` with the u64 at `at` replaced (same size).
pub fn with_u64(f: &[u8], at: usize, v: u64) -> Result<Vec<u8>> {
    slice(f, 0, at, 8, "user F field")?;
    let mut out = f.to_vec();
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
    Ok(out)
}

/// One (offset, length) entry of a `V` or `C` header, resolved to an
/// absolute range inside the value.
fn entry(
    v: &[u8],
    base: u64,
    header_len: usize,
    at: usize,
    what: &'static str,
) -> Result<std::ops::Range<usize>> {
    let off = u32_at(v, base, at, what)? as usize;
    let len = u32_at(v, base, at + 4, what)? as usize;
    let start = header_len
        .checked_add(off)
        .ok_or_else(|| invalid(what, base + at as u64, format!("offset {off:#x} overflows")))?;
    slice(v, base, start, len, what)?;
    Ok(start..start + len)
}

fn utf16(b: &[u8]) -> String {
    let u: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&u)
}

/// A user's `V` value: the fields ntrescue reports or edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserV {
    /// User name.
    pub name: String,
    /// Full name.
    pub full_name: String,
    /// Comment.
    pub comment: String,
    /// Workstations restriction (empty = any).
    pub workstations: String,
    /// Logon-hours bytes (empty = any time).
    pub logon_hours: Vec<u8>,
    /// Where the LM hash blob is in the value.
    pub lm: std::ops::Range<usize>,
    /// Where the NT hash blob is in the value.
    pub nt: std::ops::Range<usize>,
}

impl UserV {
    /// Parses a user `V`.
    pub fn parse(v: &[u8], base: u64) -> Result<UserV> {
        slice(v, base, 0, V_HEADER_LEN, "user V header")?;
        let text = |at| -> Result<String> {
            Ok(utf16(&v[entry(v, base, V_HEADER_LEN, at, "user V entry")?]))
        };
        Ok(UserV {
            name: text(V_NAME)?,
            full_name: text(V_FULL_NAME)?,
            comment: text(V_COMMENT)?,
            workstations: text(V_WORKSTATIONS)?,
            logon_hours: v[entry(v, base, V_HEADER_LEN, V_LOGON_HOURS, "user V entry")?].to_vec(),
            lm: entry(v, base, V_HEADER_LEN, V_LM_HASH, "user V LM hash")?,
            nt: entry(v, base, V_HEADER_LEN, V_NT_HASH, "user V NT hash")?,
        })
    }

    /// Whether logon hours restrict the account (any hour bit clear).
    pub fn hours_restricted(&self) -> bool {
        // 21 bytes = 168 hours of a week; all ones = any time.
        self.logon_hours.len() >= 21 && self.logon_hours[..21].iter().any(|&b| b != 0xFF)
    }
}

/// A copy of the user `V` `v` with the data of the entry at header offset
/// `at` replaced by `data` (any length): the data after it moves, and
/// every entry that starts at or after the old end is shifted with it.
pub fn replace_entry(v: &[u8], at: usize, data: &[u8]) -> Result<Vec<u8>> {
    let r = entry(v, 0, V_HEADER_LEN, at, "user V entry")?;
    let mut out = Vec::with_capacity(v.len() + data.len());
    out.extend_from_slice(&v[..r.start]);
    out.extend_from_slice(data);
    out.extend_from_slice(&v[r.end..]);
    let delta = data.len() as i64 - r.len() as i64;
    let old_end = (r.end - V_HEADER_LEN) as u32;
    let new_len = u32::try_from(data.len())
        .map_err(|_| invalid("user V entry", at as u64, "too long".into()))?;
    for e in (0..V_HEADER_LEN).step_by(12) {
        let off = u32_at(&out, 0, e, "user V entry")?;
        if e == at {
            out[e + 4..e + 8].copy_from_slice(&new_len.to_le_bytes());
        } else if off >= old_end && off != 0 {
            let moved = u32::try_from(i64::from(off) + delta)
                .map_err(|_| invalid("user V entry", e as u64, "offset underflows".into()))?;
            out[e..e + 4].copy_from_slice(&moved.to_le_bytes());
        }
    }
    Ok(out)
}

/// The hash era of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HashFormat {
    /// Revision 1: RC4 with an MD5-derived key (XP .. Windows 10 1511).
    Rc4,
    /// Revision 2: AES-128-CBC with a per-hash salt (Windows 10 1607+).
    Aes,
}

/// A password-hash blob from a user's `V`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashBlob {
    /// No bytes at all (what chntpw's blanking writes).
    Empty,
    /// A header without a hash: the password is blank.
    Blank(HashFormat),
    /// RC4 era: 16 encrypted bytes.
    Rc4 {
        /// The encrypted hash.
        data: [u8; 16],
    },
    /// AES era: salt and 32 encrypted bytes.
    Aes {
        /// The IV.
        salt: [u8; 16],
        /// The encrypted hash and its padding block.
        data: [u8; 32],
    },
}

impl HashBlob {
    /// Parses a hash blob.
    pub fn parse(b: &[u8], base: u64) -> Result<HashBlob> {
        if b.is_empty() {
            return Ok(HashBlob::Empty);
        }
        let rev = u16_at(b, base, 2, "hash blob revision")?;
        let bad = |exp: &str| {
            invalid(
                "hash blob",
                base,
                format!(
                    "revision {rev} blob of {:#x} bytes (expected {exp})",
                    b.len()
                ),
            )
        };
        match (rev, b.len()) {
            (HASH_REV_RC4, RC4_BLANK_LEN) => Ok(HashBlob::Blank(HashFormat::Rc4)),
            (HASH_REV_RC4, RC4_HASH_LEN) => Ok(HashBlob::Rc4 {
                data: b[4..20].try_into().expect("16 bytes"),
            }),
            (HASH_REV_RC4, _) => Err(bad("0x4 or 0x14")),
            (HASH_REV_AES, AES_BLANK_LEN) => Ok(HashBlob::Blank(HashFormat::Aes)),
            (HASH_REV_AES, AES_HASH_LEN) => {
                let at = u32_at(b, base, 4, "hash blob data offset")? as usize;
                if at != AES_DATA_AT - 8 && at != AES_DATA_AT {
                    // Windows writes 0x10: relative to the salt's start.
                    return Err(invalid(
                        "hash blob data offset",
                        base + 4,
                        format!("{at:#x} (expected 0x10)"),
                    ));
                }
                Ok(HashBlob::Aes {
                    salt: b[AES_SALT_AT..AES_SALT_AT + 16]
                        .try_into()
                        .expect("16 bytes"),
                    data: b[AES_DATA_AT..AES_HASH_LEN].try_into().expect("32 bytes"),
                })
            }
            (HASH_REV_AES, _) => Err(bad("0x18 or 0x38")),
            _ => Err(invalid(
                "hash blob revision",
                base + 2,
                format!("{rev} (known: 1 = RC4, 2 = AES)"),
            )),
        }
    }

    /// The hash era, if the blob has a header.
    pub fn format(&self) -> Option<HashFormat> {
        match self {
            HashBlob::Empty => None,
            HashBlob::Blank(f) => Some(*f),
            HashBlob::Rc4 { .. } => Some(HashFormat::Rc4),
            HashBlob::Aes { .. } => Some(HashFormat::Aes),
        }
    }

    /// Whether the blob holds no hash (blank password).
    pub fn is_blank(&self) -> bool {
        matches!(self, HashBlob::Empty | HashBlob::Blank(_))
    }
}

/// SID authority of NT (S-1-5).
pub const SID_AUTHORITY_NT: u64 = 5;
/// Maximum sub-authorities of a SID ([MS-DTYP] 2.4.2.2).
pub const SID_MAX_SUB_AUTHORITIES: usize = 15;

/// A security identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    /// Identifier authority (48 bits).
    pub authority: u64,
    /// Sub-authorities.
    pub subs: Vec<u32>,
}

impl Sid {
    /// Parses a binary SID at the start of `b`; returns it and its length.
    pub fn parse(b: &[u8], base: u64) -> Result<(Sid, usize)> {
        let head = slice(b, base, 0, 8, "SID")?;
        if head[0] != 1 {
            return Err(invalid(
                "SID revision",
                base,
                format!("{} (expected 1)", head[0]),
            ));
        }
        let n = head[1] as usize;
        if n > SID_MAX_SUB_AUTHORITIES {
            return Err(invalid(
                "SID sub-authority count",
                base + 1,
                format!("{n} (at most {SID_MAX_SUB_AUTHORITIES})"),
            ));
        }
        let authority = head[2..8]
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        let subs = (0..n)
            .map(|i| u32_at(b, base, 8 + 4 * i, "SID sub-authority"))
            .collect::<Result<Vec<u32>>>()?;
        Ok((Sid { authority, subs }, 8 + 4 * n))
    }

    /// Parses the text form `S-1-5-32-544`.
    pub fn parse_str(s: &str) -> Option<Sid> {
        let mut parts = s.split('-');
        if !parts.next()?.eq_ignore_ascii_case("S") || parts.next()? != "1" {
            return None;
        }
        let authority: u64 = parts.next()?.parse().ok().filter(|&a| a < 1 << 48)?;
        let subs: Vec<u32> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
        (subs.len() <= SID_MAX_SUB_AUTHORITIES).then_some(Sid { authority, subs })
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![1u8, self.subs.len() as u8];
        out.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for s in &self.subs {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// This SID with one more sub-authority (a domain SID plus a RID).
    pub fn child(&self, rid: u32) -> Sid {
        let mut subs = self.subs.clone();
        subs.push(rid);
        Sid {
            authority: self.authority,
            subs,
        }
    }

    /// The last sub-authority and the SID without it.
    pub fn split_rid(&self) -> Option<(Sid, u32)> {
        let (&rid, rest) = self.subs.split_last()?;
        Some((
            Sid {
                authority: self.authority,
                subs: rest.to_vec(),
            },
            rid,
        ))
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S-1-{}", self.authority)?;
        for s in &self.subs {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// The account domain's `F`: password and lockout policy, and Key0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainF {
    /// Maximum password age in 100-ns units (0 = never expires).
    pub max_password_age: u64,
    /// Lockout duration in 100-ns units.
    pub lockout_duration: u64,
    /// Bad passwords before lockout (0 = never).
    pub lockout_threshold: u16,
    /// The Key0 block (encrypted password-encryption key).
    pub key0: Vec<u8>,
    /// Absolute offset of Key0 (for messages).
    pub key0_offset: u64,
}

impl DomainF {
    /// Parses the account domain's `F`.
    pub fn parse(f: &[u8], base: u64) -> Result<DomainF> {
        // Stored as negative intervals (a relative NT time).
        let age = |at| u64_at(f, base, at, "domain F").map(|v| (v as i64).unsigned_abs());
        Ok(DomainF {
            max_password_age: age(DF_MAX_PASSWORD_AGE)?,
            lockout_duration: age(DF_LOCKOUT_DURATION)?,
            lockout_threshold: u16_at(f, base, DF_LOCKOUT_THRESHOLD, "domain F")?,
            key0: slice(f, base, DF_KEY0, 0, "domain F Key0").map(|_| f[DF_KEY0..].to_vec())?,
            key0_offset: base + DF_KEY0 as u64,
        })
    }
}

/// Length of a machine (account domain) SID: S-1-5-21-a-b-c.
const DOMAIN_SID_LEN: usize = 24;

/// The machine SID at the end of the account domain's `V`.
pub fn domain_sid(v: &[u8], base: u64) -> Result<Sid> {
    let at = v.len().checked_sub(DOMAIN_SID_LEN).ok_or_else(|| {
        invalid(
            "account domain V",
            base,
            format!("{} bytes, too short for a machine SID", v.len()),
        )
    })?;
    let (sid, _) = Sid::parse(&v[at..], base + at as u64)?;
    if sid.authority != SID_AUTHORITY_NT || sid.subs.len() != 4 || sid.subs[0] != 21 {
        return Err(invalid(
            "account domain V",
            base + at as u64,
            format!("{sid} is not a machine SID (S-1-5-21-a-b-c)"),
        ));
    }
    Ok(sid)
}

/// An alias's `C` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasC {
    /// Alias name ("Remote Desktop Users").
    pub name: String,
    /// Member SIDs, in stored (insertion) order.
    pub members: Vec<Sid>,
}

impl AliasC {
    /// Parses an alias `C`.
    pub fn parse(c: &[u8], base: u64) -> Result<AliasC> {
        slice(c, base, 0, C_HEADER_LEN, "alias C header")?;
        let name = utf16(&c[entry(c, base, C_HEADER_LEN, C_NAME, "alias C name")?]);
        let off = u32_at(c, base, C_MEMBERS_OFFSET, "alias C members")? as usize;
        let len = u32_at(c, base, C_MEMBERS_LEN, "alias C members")? as usize;
        let count = u32_at(c, base, C_MEMBER_COUNT, "alias C members")? as usize;
        let start = C_HEADER_LEN.checked_add(off).ok_or_else(|| {
            invalid(
                "alias C members",
                base + C_MEMBERS_OFFSET as u64,
                "overflow".into(),
            )
        })?;
        let area = slice(c, base, start, len, "alias C members")?;
        let mut members = Vec::new();
        let mut at = 0usize;
        for _ in 0..count {
            let rest = area.get(at..).unwrap_or_default();
            let (sid, n) = Sid::parse(rest, base + (start + at) as u64)?;
            members.push(sid);
            at += n;
        }
        Ok(AliasC { name, members })
    }
}

/// An alias's `C` with `sid` appended to its member list (count and
/// length follow). The member list must end the value, as in every alias
/// of the corpus hives (Windows XP to 11); any other layout is refused
/// rather than rearranged.
pub fn alias_c_with_member(c: &[u8], base: u64, sid: &Sid) -> Result<Vec<u8>> {
    AliasC::parse(c, base)?;
    let off = u32_at(c, base, C_MEMBERS_OFFSET, "alias C members")?;
    let len = u32_at(c, base, C_MEMBERS_LEN, "alias C members")?;
    let count = u32_at(c, base, C_MEMBER_COUNT, "alias C members")?;
    let end = (C_HEADER_LEN as u64) + u64::from(off) + u64::from(len);
    if end != c.len() as u64 {
        return Err(Error::Unsupported {
            what: "alias C members",
            offset: base + C_MEMBERS_OFFSET as u64,
            detail: format!(
                "the member list ends at {end:#x}, not at the end of the value ({:#x}); not changed",
                c.len()
            ),
        });
    }
    let bytes = sid.to_bytes();
    let grown = |v: u32, by: usize, what: &'static str, at: usize| {
        u32::try_from(by)
            .ok()
            .and_then(|b| v.checked_add(b))
            .ok_or_else(|| invalid(what, base + at as u64, "overflow".into()))
    };
    let mut out = c.to_vec();
    out.extend_from_slice(&bytes);
    let new_len = grown(len, bytes.len(), "alias C members length", C_MEMBERS_LEN)?;
    let new_count = grown(count, 1, "alias C member count", C_MEMBER_COUNT)?;
    out[C_MEMBERS_LEN..C_MEMBERS_LEN + 4].copy_from_slice(&new_len.to_le_bytes());
    out[C_MEMBER_COUNT..C_MEMBER_COUNT + 4].copy_from_slice(&new_count.to_le_bytes());
    Ok(out)
}

/// The alias RIDs of a reverse-map value (`Aliases\Members\<domain
/// SID>\<RID>` default value: packed u32 alias RIDs; Windows stores their
/// number as the value's type). `None` when the type does not count them.
pub fn reverse_map_rids(ty: u32, data: &[u8]) -> Option<Vec<u32>> {
    if !data.len().is_multiple_of(4) || data.len() / 4 != ty as usize {
        return None;
    }
    Some(
        data.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member appended to a real alias `C` (Remote Desktop Users, no
    /// members) parses back with the old header fields unchanged; a `C`
    /// whose member list is not last is refused.
    #[test]
    fn alias_c_grows_by_one_member() {
        let sam = crate::testing::corpus("accounts/win10__rathbunvm/SAM");
        let view = crate::format::regf::cell::HiveView::new(&sam).unwrap();
        let k = crate::format::regf::key::Key::root(view)
            .unwrap()
            .subpath(r"SAM\Domains\Builtin\Aliases\0000022B")
            .unwrap()
            .unwrap();
        let v = k.value("C").unwrap().unwrap();
        let c = v.data().unwrap();
        let before = AliasC::parse(&c, 0).unwrap();
        assert_eq!(before.name, "Remote Desktop Users");
        let sid = Sid::parse_str("S-1-5-21-2290304894-658537038-505560459-1001").unwrap();
        let out = alias_c_with_member(&c, 0, &sid).unwrap();
        assert_eq!(out.len(), c.len() + 28);
        assert_eq!(out[..C_MEMBERS_LEN], c[..C_MEMBERS_LEN]);
        let after = AliasC::parse(&out, 0).unwrap();
        assert_eq!(after.members, std::slice::from_ref(&sid));
        let twice = alias_c_with_member(&out, 0, &Sid::parse_str("S-1-5-4").unwrap()).unwrap();
        assert_eq!(AliasC::parse(&twice, 0).unwrap().members.len(), 2);
        let mut padded = c.clone();
        padded.push(0);
        let e = alias_c_with_member(&padded, 0x100, &sid).unwrap_err();
        assert!(e.to_string().contains("0x128"), "{e}");
        assert_eq!(reverse_map_rids(1, &[0x20, 2, 0, 0]), Some(vec![0x220]));
        assert_eq!(reverse_map_rids(2, &[0x20, 2, 0, 0]), None);
    }

    #[test]
    fn sid_text_and_binary_round_trip() {
        let s = Sid::parse_str("S-1-5-21-2290304894-658537038-505560459-1001").unwrap();
        let b = s.to_bytes();
        assert_eq!(b.len(), 28);
        let (back, n) = Sid::parse(&b, 0).unwrap();
        assert_eq!((back.clone(), n), (s.clone(), 28));
        assert_eq!(
            back.to_string(),
            "S-1-5-21-2290304894-658537038-505560459-1001"
        );
        assert_eq!(s.split_rid().unwrap().0.child(1001), s);
        assert!(Sid::parse_str("S-1-5-x").is_none());
        assert!(Sid::parse_str("X-1-5").is_none());
        // Hostile binary SIDs are errors with an offset, not panics.
        assert!(Sid::parse(&[1, 15, 0, 0, 0, 0, 0, 5], 0x100).is_err());
        let e = Sid::parse(&[2, 1, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0], 0x100).unwrap_err();
        assert!(e.to_string().contains("0x100"), "{e}");
    }

    #[test]
    fn hash_blobs_by_revision_and_length() {
        assert_eq!(HashBlob::parse(&[], 0).unwrap(), HashBlob::Empty);
        assert_eq!(
            HashBlob::parse(&[0, 0, 1, 0], 0).unwrap(),
            HashBlob::Blank(HashFormat::Rc4)
        );
        let mut aes = vec![0u8; AES_HASH_LEN];
        aes[2] = 2;
        aes[4] = 0x10;
        assert!(matches!(
            HashBlob::parse(&aes, 0).unwrap(),
            HashBlob::Aes { .. }
        ));
        assert_eq!(
            HashBlob::parse(&aes[..AES_BLANK_LEN], 0).unwrap(),
            HashBlob::Blank(HashFormat::Aes)
        );
        // Wrong lengths and revisions are refused with the offset.
        let e = HashBlob::parse(&aes[..0x20], 0x40).unwrap_err().to_string();
        assert!(e.contains("0x40"), "{e}");
        aes[2] = 3;
        assert!(HashBlob::parse(&aes, 0).is_err());
        assert!(HashBlob::parse(&[0, 0], 0).is_err());
    }

    /// Shrinking the LM entry moves the NT entry and the ones after it.
    #[test]
    fn replace_entry_shifts_later_entries() {
        let mut v = vec![0u8; V_HEADER_LEN];
        let mut put = |at: usize, off: u32, len: u32| {
            v[at..at + 4].copy_from_slice(&off.to_le_bytes());
            v[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
        };
        put(V_NAME, 0, 4);
        put(V_LM_HASH, 4, 0x14);
        put(V_NT_HASH, 0x18, 0x14);
        v.extend_from_slice(b"N\0a\0");
        v.extend(std::iter::repeat_n(0xAA, 0x14));
        v.extend(std::iter::repeat_n(0xBB, 0x14));
        let out = replace_entry(&v, V_LM_HASH, &[0, 0, 1, 0]).unwrap();
        assert_eq!(out.len(), v.len() - 0x10);
        let uv = UserV::parse(&out, 0).unwrap();
        assert_eq!(&out[uv.lm.clone()], &[0, 0, 1, 0]);
        assert_eq!(out[uv.nt.clone()], [0xBB; 0x14]);
        assert_eq!(uv.name, "Na");
    }

    #[test]
    fn hostile_v_and_c_are_errors() {
        let mut v = vec![0u8; V_HEADER_LEN];
        // Name entry pointing far past the end.
        v[V_NAME..V_NAME + 4].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
        v[V_NAME + 4..V_NAME + 8].copy_from_slice(&0x100u32.to_le_bytes());
        assert!(UserV::parse(&v, 0x2000).is_err());
        let mut c = vec![0u8; C_HEADER_LEN];
        c[C_MEMBER_COUNT] = 3;
        assert!(AliasC::parse(&c, 0).is_err());
        assert!(UserF::parse(&[0u8; 0x40], 0).is_err());
    }
}
