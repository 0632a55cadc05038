// SPDX-License-Identifier: GPL-2.0-or-later
//! UTC date formatting for FILETIMEs and the clock, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// 100-ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// Converts days since 1970-01-01 to (year, month, day) in the proleptic
/// Gregorian calendar (the well-known "civil from days" algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn format_unix(secs: i64, sep_date_time: char, compact: bool) -> String {
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    let (h, mi, s) = (t / 3600, (t % 3600) / 60, t % 60);
    if compact {
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}{sep_date_time}{h:02}:{mi:02}:{s:02}Z")
    }
}

/// ISO-8601 UTC text of a FILETIME, or `None` for 0 (Windows 8.1+ leaves
/// the hive timestamp at 0).
pub fn filetime_iso(ft: u64) -> Option<String> {
    if ft == 0 {
        return None;
    }
    let secs = (ft as i128 - FILETIME_UNIX_EPOCH as i128) / 10_000_000;
    Some(format_unix(secs as i64, 'T', false))
}

/// ISO-8601 UTC text of a FILETIME to its full 100-ns precision
/// (`2012-04-07T13:05:14.1234567Z`), or `None` for 0 (never set).
pub fn filetime_iso_precise(ft: u64) -> Option<String> {
    if ft == 0 {
        return None;
    }
    let since_unix = i128::from(ft) - i128::from(FILETIME_UNIX_EPOCH);
    let secs = since_unix.div_euclid(10_000_000) as i64;
    let frac = since_unix.rem_euclid(10_000_000);
    let text = format_unix(secs, 'T', false);
    Some(format!("{}.{frac:07}Z", text.trim_end_matches('Z')))
}

/// A FILETIME as a report shows it: `{"utc": "...", "filetime": "0x..."}`,
/// the UTC text to 100 ns (null when the FILETIME is 0) and the raw value
/// as a hex string ([`crate::util::hex64`]: it is above 2^53).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp(pub u64);

impl Stamp {
    /// The UTC text (`None` for 0).
    pub fn text(&self) -> Option<String> {
        filetime_iso_precise(self.0)
    }
}

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Stamp", 2)?;
        st.serialize_field("utc", &self.text())?;
        st.serialize_field("filetime", &crate::util::hex64::format(self.0))?;
        st.end()
    }
}

/// The JSON form of a [`Stamp`], for its schema.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct StampJson {
    /// UTC text to 100 ns (`YYYY-MM-DDTHH:MM:SS.fffffffZ`); null when the
    /// FILETIME is 0.
    utc: Option<String>,
    /// The raw FILETIME (100 ns intervals since 1601-01-01 UTC), as `0x`
    /// and 16 hex digits.
    filetime: crate::util::hex64::Hex64,
}

impl schemars::JsonSchema for Stamp {
    fn schema_name() -> String {
        "Stamp".into()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        StampJson::json_schema(gen)
    }
}

/// Seconds since the Unix epoch now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// ISO-8601 UTC text of the current time.
pub fn now_iso() -> String {
    format_unix(now_unix(), 'T', false)
}

/// Compact UTC text of the current time for directory names (`20261124T021500Z`).
pub fn now_compact() -> String {
    format_unix(now_unix(), 'T', true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_unix(0, 'T', false), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(951_782_400, 'T', false), "2000-02-29T00:00:00Z");
        // 2012-04-07T13:05:14Z, the win7 corpus hive's timestamp.
        assert_eq!(
            filetime_iso(129_782_775_140_000_000).as_deref(),
            Some("2012-04-07T13:05:14Z")
        );
        assert_eq!(filetime_iso(0), None);
        assert_eq!(
            filetime_iso_precise(129_782_775_141_234_567).as_deref(),
            Some("2012-04-07T13:05:14.1234567Z")
        );
        // Before 1970 the fraction still counts forward from the second.
        assert_eq!(
            filetime_iso_precise(FILETIME_UNIX_EPOCH - 1).as_deref(),
            Some("1969-12-31T23:59:59.9999999Z")
        );
        assert_eq!(filetime_iso_precise(0), None);
        let j = serde_json::to_value(Stamp(129_782_775_141_234_567)).unwrap();
        assert_eq!(j["utc"], "2012-04-07T13:05:14.1234567Z");
        assert_eq!(j["filetime"], "0x01cd14bf1241f787");
        assert_eq!(
            crate::util::hex64::parse(j["filetime"].as_str().unwrap()),
            Some(129_782_775_141_234_567)
        );
        assert!(serde_json::to_value(Stamp(0)).unwrap()["utc"].is_null());
    }
}
