// SPDX-License-Identifier: GPL-2.0-or-later
//! A machine certificate as the registry stores it:
//! SOFTWARE `Microsoft\SystemCertificates\<store>\Certificates\<SHA-1>`
//! `Blob`, and the validity period of the X.509 certificate inside.
//!
//! The `Blob` is a serialized store element (what CryptoAPI's
//! `CertSerializeCertificateStoreElement` writes): a run of property
//! records, each `PropertyID` (u32 LE), a reserved u32 (1), `Length` (u32
//! LE) and `Length` bytes of value ([MS-GPEF] "Certificate blob" property
//! format). The encoded certificate is property `CERT_CERT_PROP_ID` (32,
//! wincrypt.h); the private key's location is `CERT_KEY_PROV_INFO_PROP_ID`
//! (2).
//!
//! The certificate is DER (X.690) `Certificate ::= SEQUENCE {
//! tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER,
//! signature AlgorithmIdentifier, issuer Name, validity SEQUENCE {
//! notBefore Time, notAfter Time }, ... }, ... }` (RFC 5280 §4.1); only the
//! way to `validity` is read, every length checked against its parent.

use crate::error::{Error, Result};
use crate::util::bytes::{slice, u32_at};

/// `CERT_KEY_PROV_INFO_PROP_ID` (wincrypt.h): where the private key lives.
pub const PROP_KEY_PROV_INFO: u32 = 2;
/// `CERT_CERT_PROP_ID` (wincrypt.h): the DER-encoded certificate.
pub const PROP_CERT: u32 = 32;
/// Bytes of a property record header: id, reserved, length.
const RECORD_HEADER: usize = 12;

/// DER tag of a SEQUENCE (X.690 §8.9, constructed).
const TAG_SEQUENCE: u8 = 0x30;
/// DER tag of the explicit `[0]` version of a TBSCertificate.
const TAG_VERSION: u8 = 0xA0;
/// DER tag of an INTEGER.
const TAG_INTEGER: u8 = 0x02;
/// DER tag of UTCTime (YYMMDDHHMMSSZ, RFC 5280 §4.1.2.5.1).
const TAG_UTC_TIME: u8 = 0x17;
/// DER tag of GeneralizedTime (YYYYMMDDHHMMSSZ, RFC 5280 §4.1.2.5.2).
const TAG_GENERALIZED_TIME: u8 = 0x18;

/// One property record of a serialized store element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// `PropertyID`.
    pub id: u32,
    /// Offset of the value inside the blob.
    pub offset: usize,
    /// Length of the value.
    pub len: usize,
}

/// The property records of a `Blob` value.
pub fn properties(blob: &[u8]) -> Result<Vec<Property>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < blob.len() {
        let id = u32_at(blob, 0, pos, "certificate property id")?;
        let len = u32_at(blob, 0, pos + 8, "certificate property length")? as usize;
        let offset = pos
            .checked_add(RECORD_HEADER)
            .ok_or_else(|| invalid("certificate property", pos, "offset overflows".into()))?;
        slice(blob, 0, offset, len, "certificate property value")?;
        out.push(Property { id, offset, len });
        pos = offset + len;
    }
    Ok(out)
}

/// What a `Blob` holds: the certificate's validity and whether a private
/// key location is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCert {
    /// The validity period.
    pub validity: Validity,
    /// `CERT_KEY_PROV_INFO_PROP_ID` present.
    pub has_key_info: bool,
}

/// Reads a `Blob` value: its certificate property and the validity of the
/// certificate in it.
pub fn stored_cert(blob: &[u8]) -> Result<StoredCert> {
    let props = properties(blob)?;
    let cert = props.iter().find(|p| p.id == PROP_CERT).ok_or_else(|| {
        invalid(
            "certificate blob",
            0,
            "no certificate property (id 32)".into(),
        )
    })?;
    let der = &blob[cert.offset..cert.offset + cert.len];
    let validity = validity(der).map_err(|e| shift(e, cert.offset))?;
    Ok(StoredCert {
        validity,
        has_key_info: props.iter().any(|p| p.id == PROP_KEY_PROV_INFO),
    })
}

/// A point in time read from a certificate, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertTime {
    /// Seconds since the Unix epoch.
    pub unix: i64,
}

impl CertTime {
    /// ISO-8601 text (`2026-12-01T21:00:00Z`).
    pub fn iso(&self) -> String {
        let days = self.unix.div_euclid(86_400);
        let t = self.unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            t / 3600,
            (t % 3600) / 60,
            t % 60
        )
    }
}

/// `notBefore` and `notAfter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Not valid before.
    pub not_before: CertTime,
    /// Not valid after.
    pub not_after: CertTime,
}

/// The validity period of the DER certificate `der`.
pub fn validity(der: &[u8]) -> Result<Validity> {
    let cert = Tlv::read(der, 0, "certificate")?.expect(TAG_SEQUENCE)?;
    let tbs = Tlv::read(der, cert.start, "tbsCertificate")?.expect(TAG_SEQUENCE)?;
    let mut pos = tbs.start;
    let first = Tlv::read(der, pos, "tbsCertificate field")?;
    if first.tag == TAG_VERSION {
        pos = first.end;
    }
    let serial = Tlv::read(der, pos, "serialNumber")?.expect(TAG_INTEGER)?;
    let sig = Tlv::read(der, serial.end, "signature")?.expect(TAG_SEQUENCE)?;
    let issuer = Tlv::read(der, sig.end, "issuer")?.expect(TAG_SEQUENCE)?;
    let val = Tlv::read(der, issuer.end, "validity")?.expect(TAG_SEQUENCE)?;
    if val.end > tbs.end || tbs.end > cert.end {
        return Err(invalid("validity", val.hdr, "outside its parent".into()));
    }
    let nb = Tlv::read(der, val.start, "notBefore")?;
    let na = Tlv::read(der, nb.end, "notAfter")?;
    if na.end > val.end {
        return Err(invalid("notAfter", na.hdr, "outside validity".into()));
    }
    Ok(Validity {
        not_before: time(der, &nb)?,
        not_after: time(der, &na)?,
    })
}

/// One DER tag-length-value: `hdr` the tag's offset, `start..end` the
/// content.
#[derive(Debug, Clone, Copy)]
struct Tlv {
    tag: u8,
    hdr: usize,
    start: usize,
    end: usize,
}

impl Tlv {
    fn read(der: &[u8], at: usize, what: &'static str) -> Result<Tlv> {
        let tag = *der
            .get(at)
            .ok_or_else(|| invalid(what, at, "truncated".into()))?;
        let l0 = *der
            .get(at + 1)
            .ok_or_else(|| invalid(what, at, "truncated length".into()))?;
        let (len, start) = if l0 < 0x80 {
            (usize::from(l0), at + 2)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 {
                return Err(invalid(
                    what,
                    at + 1,
                    format!("length form {l0:#04x} (indefinite or over 4 bytes)"),
                ));
            }
            let bytes = slice(der, 0, at + 2, n, what)?;
            let len = bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
            (len, at + 2 + n)
        };
        let end = start
            .checked_add(len)
            .filter(|&e| e <= der.len())
            .ok_or_else(|| {
                invalid(
                    what,
                    at,
                    format!("length {len} runs past the end ({} bytes)", der.len()),
                )
            })?;
        Ok(Tlv {
            tag,
            hdr: at,
            start,
            end,
        })
    }

    fn expect(self, tag: u8) -> Result<Tlv> {
        if self.tag != tag {
            return Err(invalid(
                "DER tag",
                self.hdr,
                format!("{:#04x} where {tag:#04x} belongs", self.tag),
            ));
        }
        Ok(self)
    }
}

/// A UTCTime or GeneralizedTime in its RFC 5280 form (UTC, seconds, `Z`).
fn time(der: &[u8], t: &Tlv) -> Result<CertTime> {
    let text = &der[t.start..t.end];
    let bad = |why: &str| invalid("certificate time", t.hdr, why.to_string());
    let (year, rest) = match (t.tag, text.len()) {
        (TAG_UTC_TIME, 13) => {
            let yy = digits(&text[..2]).ok_or_else(|| bad("not digits"))?;
            // RFC 5280 §4.1.2.5.1: YY below 50 is 20YY, else 19YY.
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (TAG_GENERALIZED_TIME, 15) => (
            digits(&text[..4]).ok_or_else(|| bad("not digits"))?,
            &text[4..],
        ),
        _ => {
            return Err(bad(
                "neither UTCTime (13 bytes) nor GeneralizedTime (15 bytes)",
            ))
        }
    };
    if rest.last() != Some(&b'Z') {
        return Err(bad("not in UTC (no Z)"));
    }
    let f: Vec<i64> = rest[..10]
        .chunks(2)
        .map(digits)
        .collect::<Option<_>>()
        .ok_or_else(|| bad("not digits"))?;
    let (mo, d, h, mi, s) = (f[0], f[1], f[2], f[3], f[4]);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad("a field out of range"));
    }
    let days = days_from_civil(year, mo, d);
    Ok(CertTime {
        unix: days * 86_400 + h * 3600 + mi * 60 + s,
    })
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |a, c| {
        c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// civil calendar algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn invalid(what: &'static str, offset: usize, detail: String) -> Error {
    Error::Invalid {
        what,
        offset: offset as u64,
        detail,
    }
}

/// An error of the certificate at `base` inside the blob, with its offset
/// made relative to the blob.
fn shift(e: Error, base: usize) -> Error {
    match e {
        Error::Invalid {
            what,
            offset,
            detail,
        } => Error::Invalid {
            what,
            offset: offset + base as u64,
            detail,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER TLV.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    /// The shape of a certificate as far as validity (what the reader
    /// walks), with `nb`/`na` as encoded times.
    fn cert(nb: &[u8], na: &[u8], version: bool) -> Vec<u8> {
        let mut tbs = Vec::new();
        if version {
            tbs.extend(tlv(TAG_VERSION, &tlv(TAG_INTEGER, &[2])));
        }
        tbs.extend(tlv(TAG_INTEGER, &[0x01, 0x23]));
        tbs.extend(tlv(TAG_SEQUENCE, &tlv(0x06, &[0x2a, 0x86, 0x48])));
        tbs.extend(tlv(TAG_SEQUENCE, &[0u8; 200]));
        let mut v = nb.to_vec();
        v.extend_from_slice(na);
        tbs.extend(tlv(TAG_SEQUENCE, &v));
        tbs.extend(tlv(TAG_SEQUENCE, &[]));
        tlv(TAG_SEQUENCE, &tlv(TAG_SEQUENCE, &tbs))
    }

    fn blob(props: &[(u32, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (id, v) in props {
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            b.extend_from_slice(v);
        }
        b
    }

    #[test]
    fn reads_both_time_forms() {
        let c = cert(
            &tlv(TAG_UTC_TIME, b"491231235959Z"),
            &tlv(TAG_GENERALIZED_TIME, b"20500101000000Z"),
            true,
        );
        let v = validity(&c).unwrap();
        assert_eq!(v.not_before.iso(), "2049-12-31T23:59:59Z");
        assert_eq!(v.not_after.iso(), "2050-01-01T00:00:00Z");
        assert_eq!(v.not_after.unix - v.not_before.unix, 1);
        let c = cert(
            &tlv(TAG_UTC_TIME, b"700101000000Z"),
            &tlv(TAG_UTC_TIME, b"000229120000Z"),
            false,
        );
        let v = validity(&c).unwrap();
        assert_eq!(v.not_before.unix, 0);
        assert_eq!(v.not_after.iso(), "2000-02-29T12:00:00Z");
    }

    #[test]
    fn blob_records_are_walked() {
        let c = cert(
            &tlv(TAG_UTC_TIME, b"200101000000Z"),
            &tlv(TAG_UTC_TIME, b"210101000000Z"),
            true,
        );
        let b = blob(&[(11, b"name"), (PROP_CERT, &c)]);
        let s = stored_cert(&b).unwrap();
        assert_eq!(s.validity.not_after.iso(), "2021-01-01T00:00:00Z");
        assert!(!s.has_key_info);
        let b = blob(&[(PROP_KEY_PROV_INFO, &[0; 8]), (PROP_CERT, &c)]);
        assert!(stored_cert(&b).unwrap().has_key_info);
    }

    #[test]
    fn hostile_blobs_are_errors_with_offsets() {
        let c = cert(
            &tlv(TAG_UTC_TIME, b"200101000000Z"),
            &tlv(TAG_UTC_TIME, b"210101000000Z"),
            true,
        );
        let good = blob(&[(3, &[7; 20]), (PROP_CERT, &c)]);
        // Every truncation and every single-byte corruption: an error or a
        // value, never a panic.
        for n in 0..good.len() {
            let _ = stored_cert(&good[..n]);
            for x in [0x00, 0x7f, 0x80, 0x84, 0x85, 0xff] {
                let mut b = good.clone();
                b[n] = x;
                let _ = stored_cert(&b);
            }
        }
        // A record length past the end names the record's value offset.
        let mut b = good.clone();
        b[8..12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let e = stored_cert(&b).unwrap_err().to_string();
        assert!(e.contains("0xc"), "{e}");
        // No certificate property.
        assert!(stored_cert(&blob(&[(3, &[1])])).is_err());
        // A time that is not a time, reported inside the blob.
        let bad = cert(
            &tlv(TAG_UTC_TIME, b"20010100000xZ"),
            &tlv(TAG_UTC_TIME, b"210101000000Z"),
            true,
        );
        let e = stored_cert(&blob(&[(PROP_CERT, &bad)])).unwrap_err();
        assert!(
            matches!(e, Error::Invalid { offset, .. } if offset > 12),
            "{e}"
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 11_016, 18_321, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
