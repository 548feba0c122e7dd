//! Scalar typing as go-yaml v3 does it when sops decodes a document into `interface{}`, and the
//! inverse: plain spellings that read back as the same typed value.
//!
//! sops hands every plain scalar to yaml.v3's `resolve`, so `yes`/`on` stay strings (YAML 1.2
//! booleans only), `0755` is octal, `08` is a float, integers beyond i64 become `uint64` (which
//! sops cannot walk) or floats, and unquoted timestamps in four layouts become `time.Time`.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::gofmt;
use crate::tree::Value;

/// What a scalar resolves to.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    Value(Value),
    /// An integer between i64::MAX and u64::MAX: go-yaml gives a `uint64`, which sops refuses.
    Uint,
}

/// Resolves a plain (unquoted, untagged) scalar.
pub fn resolve_plain(s: &str) -> Resolved {
    Resolved::Value(match s {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
        _ => {
            let first = s.as_bytes()[0];
            match first {
                // go-yaml hands these to ParseFloat as written, underscores and all.
                b'.' => match gofmt::parse_float(s) {
                    Some(f) => Value::Float(f),
                    None => Value::Str(s.to_string()),
                },
                b'+' | b'-' | b'0'..=b'9' => return resolve_number(s),
                _ => Value::Str(s.to_string()),
            }
        }
    })
}

/// Whether [`resolve_plain`] gives a string, without allocating in the common case (a value that
/// cannot be a number or a keyword).
pub fn resolves_to_str(s: &str) -> bool {
    match s.as_bytes().first() {
        None => false,
        Some(b'.' | b'+' | b'-' | b'0'..=b'9') => matches!(resolve_plain(s), Resolved::Value(Value::Str(_))),
        Some(_) => {
            !matches!(s, "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
        }
    }
}

fn resolve_number(s: &str) -> Resolved {
    if let Some(t) = parse_timestamp(s) {
        return Resolved::Value(Value::Time(t));
    }
    // go-yaml drops every underscore before it tries Go's parsers.
    let plain = s.replace('_', "");
    if let Some(i) = gofmt::parse_int(&plain) {
        return Resolved::Value(Value::Int(i));
    }
    if gofmt::parse_uint(&plain).is_some() {
        return Resolved::Uint;
    }
    if is_yaml_float(&plain) {
        if let Some(f) = gofmt::parse_float(&plain) {
            return Resolved::Value(Value::Float(f));
        }
    }
    // YAML 1.2's `0b`/`0o` forms, which go-yaml parses with an explicit base (so a sign may
    // follow the prefix: `0b+1` is 1, while `-0b+1` is a string).
    for (prefix, radix) in [("0b", 2), ("0o", 8)] {
        if let Some(digits) = plain.strip_prefix(prefix) {
            if let Some(i) = gofmt::parse_int_radix(digits, radix) {
                return Resolved::Value(Value::Int(i));
            }
            if gofmt::parse_uint_radix(digits, radix).is_some() {
                return Resolved::Uint;
            }
        } else if let Some(digits) = plain.strip_prefix('-').and_then(|p| p.strip_prefix(prefix)) {
            if let Some(i) = gofmt::parse_int_radix(&format!("-{digits}"), radix) {
                return Resolved::Value(Value::Int(i));
            }
        }
    }
    Resolved::Value(Value::Str(s.to_string()))
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
pub(crate) fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// go-yaml v3's `parseTimestamp`: `2006-1-2T15:4:5.999999999Z07:00` (also with `t`),
/// `2006-1-2 15:4:5.999999999` (UTC) and `2006-1-2`. Returns Go's `MarshalText` form.
pub fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(|c| c.is_ascii_digit()) || b[4] != b'-' {
        return None;
    }
    let mut p = Cursor { b, i: 5 };
    let year: i32 = s[..4].parse().ok()?;
    let month = p.num(2)?;
    p.lit(b'-')?;
    let day = p.num(2)?;
    let date = Date::from_calendar_date(year, Month::try_from(month as u8).ok()?, u8::try_from(day).ok()?).ok()?;
    if p.done() {
        return Some(crate::timefmt::format_rfc3339_nano(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()));
    }
    let with_zone = match b[p.i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    p.i += 1;
    let hour = p.num(2)?;
    p.lit(b':')?;
    let minute = p.num(2)?;
    p.lit(b':')?;
    let second = p.num(2)?;
    let mut nanos = 0u32;
    // Go's time.Parse takes a comma as well as a period before the fraction.
    if p.i < b.len() && matches!(b[p.i], b'.' | b',') && p.i + 1 < b.len() && b[p.i + 1].is_ascii_digit() {
        p.i += 1;
        let st = p.i;
        while p.i < b.len() && b[p.i].is_ascii_digit() {
            p.i += 1;
        }
        let frac = &s[st..p.i];
        let mut digits: String = frac.chars().take(9).collect();
        while digits.len() < 9 {
            digits.push('0');
        }
        nanos = digits.parse().ok()?;
    }
    let time =
        Time::from_hms_nano(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, u8::try_from(second).ok()?, nanos)
            .ok()?;
    let offset = if with_zone {
        if p.i >= b.len() {
            return None;
        }
        match b[p.i] {
            b'Z' => {
                p.i += 1;
                UtcOffset::UTC
            }
            b'+' | b'-' => {
                let neg = b[p.i] == b'-';
                p.i += 1;
                let h = p.fixed(2)?;
                p.lit(b':')?;
                let m = p.fixed(2)?;
                if h > 24 || m > 59 {
                    return None;
                }
                let (h, m) = (h as i8, m as i8);
                if neg {
                    UtcOffset::from_hms(-h, -m, 0).ok()?
                } else {
                    UtcOffset::from_hms(h, m, 0).ok()?
                }
            }
            _ => return None,
        }
    } else {
        UtcOffset::UTC
    };
    if !p.done() {
        return None;
    }
    let t: OffsetDateTime = PrimitiveDateTime::new(date, time).assume_offset(offset);
    Some(crate::timefmt::format_rfc3339_nano(t))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// One or up to `max` digits (Go's non-fixed numeric fields).
    fn num(&mut self, max: usize) -> Option<u32> {
        let st = self.i;
        while self.i < self.b.len() && self.i - st < max && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i == st {
            return None;
        }
        std::str::from_utf8(&self.b[st..self.i]).ok()?.parse().ok()
    }
    fn fixed(&mut self, n: usize) -> Option<u32> {
        if self.i + n > self.b.len() || !self.b[self.i..self.i + n].iter().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v = std::str::from_utf8(&self.b[self.i..self.i + n]).ok()?.parse().ok();
        self.i += n;
        v
    }
    fn lit(&mut self, c: u8) -> Option<()> {
        if self.i < self.b.len() && self.b[self.i] == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// A plain spelling that go-yaml reads back as this non-string value.
pub fn plain_text(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_text(*f),
        Value::Time(t) => match t.strip_suffix("T00:00:00Z") {
            Some(date) => date.to_string(),
            None => t.clone(),
        },
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A float that reads back as a float: go-yaml's spelling, with `.0` added where that spelling
/// would read as an integer (go-yaml writes `1.0` as `1`; kvsops keeps the type).
pub fn float_text(f: f64) -> String {
    let s = gofmt::yaml_float(f);
    if s.bytes().all(|c| c.is_ascii_digit() || c == b'-') {
        s + ".0"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        match resolve_plain(s) {
            Resolved::Value(v) => v,
            Resolved::Uint => panic!("uint for {s}"),
        }
    }

    #[test]
    fn resolves_like_go_yaml_v3() {
        assert_eq!(v("yes"), Value::Str("yes".into()));
        assert_eq!(v("on"), Value::Str("on".into()));
        assert_eq!(v("True"), Value::Bool(true));
        assert_eq!(v("~"), Value::Null);
        assert_eq!(v("42"), Value::Int(42));
        assert_eq!(v("-7"), Value::Int(-7));
        assert_eq!(v("+7"), Value::Int(7));
        assert_eq!(v("0x1F"), Value::Int(31));
        assert_eq!(v("0o17"), Value::Int(15));
        assert_eq!(v("0b101"), Value::Int(5));
        assert_eq!(v("0755"), Value::Int(493));
        assert_eq!(v("08"), Value::Float(8.0));
        assert_eq!(v("1_000"), Value::Int(1000));
        assert_eq!(v("1.0"), Value::Float(1.0));
        assert_eq!(v("1e10"), Value::Float(1e10));
        assert_eq!(v(".5"), Value::Float(0.5));
        assert_eq!(v("99999999999999999999"), Value::Float(1e20));
        assert_eq!(resolve_plain("18446744073709551615"), Resolved::Uint);
        assert_eq!(v("-9223372036854775808"), Value::Int(i64::MIN));
        assert!(matches!(v(".nan"), Value::Float(f) if f.is_nan()));
        assert_eq!(v("-.inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(v("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(v("3.11.0"), Value::Str("3.11.0".into()));
        assert_eq!(v("-"), Value::Str("-".into()));
        assert_eq!(v("2024-01-02"), Value::Time("2024-01-02T00:00:00Z".into()));
        assert_eq!(v("2024-1-2"), Value::Time("2024-01-02T00:00:00Z".into()));
        assert_eq!(v("2024-01-02T03:04:05Z"), Value::Time("2024-01-02T03:04:05Z".into()));
        assert_eq!(v("2024-01-02t03:04:05.120+01:00"), Value::Time("2024-01-02T03:04:05.12+01:00".into()));
        assert_eq!(v("2024-01-02 03:04:05"), Value::Time("2024-01-02T03:04:05Z".into()));
        assert_eq!(v("2024-01-02T03:04:05,5Z"), Value::Time("2024-01-02T03:04:05.5Z".into()));
        assert_eq!(v("0b+1"), Value::Int(1));
        assert_eq!(v("-0b+1"), Value::Str("-0b+1".into()));
        assert_eq!(v(".01_0"), Value::Float(0.01));
        assert_eq!(v("1__0"), Value::Int(10));
        assert_eq!(v("2024-01-02T03:04:05+00:00"), Value::Time("2024-01-02T03:04:05Z".into()));
        assert_eq!(v("2024-02-30"), Value::Str("2024-02-30".into()));
        assert_eq!(v("2001-12-14 21:59:43.10 -5"), Value::Str("2001-12-14 21:59:43.10 -5".into()));
    }

    #[test]
    fn resolves_to_str_agrees_with_resolve_plain() {
        let samples = [
            "",
            "~",
            "null",
            "NULL",
            "Null",
            "nul",
            "true",
            "TRUE",
            "tRUE",
            "false",
            "yes",
            "on",
            "-",
            "--",
            "-x",
            "+",
            "+1",
            "-7",
            "42",
            "0x1F",
            "08",
            "1e10",
            ".5",
            ".nan",
            ".inf",
            "-.inf",
            "+.INF",
            ".x",
            "1.2.3",
            "2024-01-02",
            "2024-02-30",
            "18446744073709551615",
            "ENC[AES256_GCM,data:x,type:str]",
            "<<",
            "é",
            "a b",
        ];
        for s in samples {
            let expected = matches!(resolve_plain(s), Resolved::Value(Value::Str(_)));
            assert_eq!(resolves_to_str(s), expected, "{s:?}");
        }
    }

    #[test]
    fn canonical_spellings_read_back_as_the_same_value() {
        for f in [1.0, 3.25, -0.25, 1e10, 6.02e23, 1.5e-7, 0.0001, 123456789.5, 1e16] {
            let t = float_text(f);
            assert_eq!(v(&t), Value::Float(f), "{t}");
        }
        assert_eq!(float_text(1.0), "1.0");
        assert_eq!(float_text(6.02e23), "6.02e+23");
        assert_eq!(float_text(1.5e-7), "1.5e-07");
        assert_eq!(plain_text(&Value::Time("2024-01-02T00:00:00Z".into())), "2024-01-02");
    }
}
