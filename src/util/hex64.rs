// SPDX-License-Identifier: GPL-2.0-or-later
//! 64-bit values that can exceed 2^53 (the NTFS volume serial, every raw
//! FILETIME) in JSON as hex strings, `"0x0123456789abcdef"`: a JSON number
//! above 2^53 loses its low bits in most readers (jq, JavaScript, Python's
//! float path). Reading accepts the string or, as manifests written before
//! this form hold, a plain number.
//!
//! Use as `#[serde(with = "crate::util::hex64")]` with
//! `#[schemars(with = "crate::util::hex64::Hex64")]`, or for an `Option<u64>`
//! `#[serde(with = "crate::util::hex64::option")]` with
//! `#[schemars(with = "Option<crate::util::hex64::Hex64>")]`.

use serde::{Deserialize, Deserializer, Serializer};

/// The JSON Schema of the string form: `0x` and 16 lower-case hex digits.
#[derive(schemars::JsonSchema)]
#[schemars(regex(pattern = r"^0x[0-9a-f]{16}$"))]
pub struct Hex64(#[allow(dead_code)] String);

/// `0x` and 16 lower-case hex digits.
pub fn format(v: u64) -> String {
    format!("{v:#018x}")
}

/// Parses `0x`-prefixed hex (any case, 1-16 digits).
pub fn parse(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Serialises `v` as its hex string.
pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*v))
}

/// Reads the hex string, or a JSON number (older manifests).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(t) => parse(&t).ok_or_else(|| {
            serde::de::Error::custom(format!("'{t}' is not a 0x-prefixed 64-bit hex number"))
        }),
    }
}

/// The same for an `Option<u64>`: null, or the hex string.
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises `v` as null or its hex string.
    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Reads null, the hex string or a JSON number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super")] u64);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct S {
        #[serde(with = "super")]
        v: u64,
    }

    #[test]
    fn written_as_hex_read_from_hex_or_a_number() {
        let big = 779_789_462_605_120_956u64;
        let text = serde_json::to_string(&S { v: big }).unwrap();
        assert_eq!(text, r#"{"v":"0x0ad25e627e2bc5bc"}"#);
        assert_eq!(serde_json::from_str::<S>(&text).unwrap().v, big);
        let old = format!(r#"{{"v":{big}}}"#);
        assert_eq!(serde_json::from_str::<S>(&old).unwrap().v, big);
        assert!(serde_json::from_str::<S>(r#"{"v":"12"}"#).is_err());
        assert!(serde_json::from_str::<S>(r#"{"v":"0x"}"#).is_err());
        assert!(serde_json::from_str::<S>(r#"{"v":"0x10000000000000000"}"#).is_err());
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct O {
        #[serde(with = "super::option")]
        v: Option<u64>,
    }

    #[test]
    fn an_option_is_null_or_hex() {
        let ft = 0x01d0_0000_0000_0001u64;
        let text = serde_json::to_string(&O { v: Some(ft) }).unwrap();
        assert_eq!(text, r#"{"v":"0x01d0000000000001"}"#);
        assert_eq!(serde_json::from_str::<O>(&text).unwrap().v, Some(ft));
        assert_eq!(
            serde_json::to_string(&O { v: None }).unwrap(),
            r#"{"v":null}"#
        );
        assert_eq!(serde_json::from_str::<O>(r#"{"v":null}"#).unwrap().v, None);
        assert_eq!(
            serde_json::from_str::<O>(&format!(r#"{{"v":{ft}}}"#))
                .unwrap()
                .v,
            Some(ft)
        );
    }
}
