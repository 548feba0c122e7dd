//! Timestamps as Go formats them: `time.Format(time.RFC3339)` for `lastmodified`/`created_at`
//! (seconds, `Z` for UTC) and `time.MarshalText` (RFC 3339 with trimmed nanoseconds) for YAML
//! timestamp values. The MAC's AAD is the reformatted `lastmodified`, so parsing must accept what
//! Go's `time.Parse(RFC3339)` accepts and formatting must give back Go's bytes.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Parses an RFC 3339 timestamp (`2024-01-01T00:00:00Z`, fractions and offsets allowed).
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Go's `t.Format(time.RFC3339)`: seconds precision, `Z` when the offset is zero.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    let (date, time, off) = (t.date(), t.time(), t.offset());
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    push_offset(&mut s, off);
    s
}

/// Go's `time.MarshalText`: RFC 3339 with nanoseconds, trailing zeros trimmed.
pub fn format_rfc3339_nano(t: OffsetDateTime) -> String {
    let mut s = format_rfc3339(t);
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        let frac = frac.trim_end_matches('0');
        // Insert the fraction before the offset.
        let off_len = if s.ends_with('Z') { 1 } else { 6 };
        let at = s.len() - off_len;
        s.insert_str(at, &format!(".{frac}"));
    }
    s
}

fn push_offset(s: &mut String, off: UtcOffset) {
    if off.is_utc() {
        s.push('Z');
    } else {
        let secs = off.whole_seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
    }
}

/// The current time in UTC, to the second, as sops stamps `lastmodified`.
pub fn now_utc() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reformats_like_go() {
        for (input, rfc, nano) in [
            ("2026-11-23T22:54:57Z", "2026-11-23T22:54:57Z", "2026-11-23T22:54:57Z"),
            ("2026-11-23T22:54:57.000Z", "2026-11-23T22:54:57Z", "2026-11-23T22:54:57Z"),
            ("2026-11-23T22:54:57+00:00", "2026-11-23T22:54:57Z", "2026-11-23T22:54:57Z"),
            ("2026-11-23T22:54:57+01:00", "2026-11-23T22:54:57+01:00", "2026-11-23T22:54:57+01:00"),
            ("2001-12-14T21:59:43.10-05:00", "2001-12-14T21:59:43-05:00", "2001-12-14T21:59:43.1-05:00"),
        ] {
            let t = parse_rfc3339(input).unwrap();
            assert_eq!(format_rfc3339(t), rfc);
            assert_eq!(format_rfc3339_nano(t), nano);
        }
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
