//! Go's number spellings and number parsers, written once: `strconv.FormatFloat` in the forms
//! sops's output depends on, the float spellings of `encoding/json` and go-yaml v3, sops's
//! `ValToString`, and `strconv.ParseInt`/`ParseUint`/`ParseFloat`.
//!
//! The MAC covers the `'f'` spelling of every float (it is what gets encrypted), the stores'
//! bytes depend on the others, and go-yaml types a plain scalar with the parsers. So each rule
//! lives here, as [`crate::timefmt`] does for time, and is checked against one table of vectors
//! produced with the real sops (`testdata/go-numbers.tsv`; `tests/formats_cli.rs` rebuilds it
//! with sops and compares).
//!
//! Digits: Go's precision `-1` means the shortest decimal that reads back as the same float64.
//! Rust's `{:e}` prints exactly those digits, so every format is built from them.

use std::borrow::Cow;

use crate::tree::Value;

/// A finite float as its shortest round-trip digits and the decimal exponent of the first one:
/// `1.5e-7` is digits `15`, exponent `-7`; zero is digits `0`, exponent `0`.
struct Shortest {
    negative: bool,
    digits: String,
    exponent: i32,
}

impl Shortest {
    fn of(f: f64) -> Self {
        let sci = format!("{:e}", f.abs());
        let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
        Shortest {
            negative: f.is_sign_negative(),
            digits: mantissa.bytes().filter(u8::is_ascii_digit).map(char::from).collect(),
            exponent: exponent.parse().unwrap_or(0),
        }
    }

    fn sign(&self) -> &'static str {
        if self.negative {
            "-"
        } else {
            ""
        }
    }

    /// `%f`: all digits in place, no exponent (`1000000`, `0.00012`).
    fn fixed(&self) -> String {
        let mut out = String::from(self.sign());
        if self.exponent < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-self.exponent - 1) as usize));
            out.push_str(&self.digits);
        } else {
            let point = self.exponent as usize + 1;
            if self.digits.len() <= point {
                out.push_str(&self.digits);
                out.extend(std::iter::repeat_n('0', point - self.digits.len()));
            } else {
                out.push_str(&self.digits[..point]);
                out.push('.');
                out.push_str(&self.digits[point..]);
            }
        }
        out
    }

    /// `%e` / `%E`: one digit before the point, a signed exponent of two digits or more.
    fn scientific(&self, e: char) -> String {
        let (first, rest) = self.digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let sign = if self.exponent < 0 { '-' } else { '+' };
        format!("{}{first}{point}{rest}{e}{sign}{:02}", self.sign(), self.exponent.unsigned_abs())
    }

    /// `%g` with the shortest precision: `%e` when the exponent is below -4 or at least 6
    /// (Go fixes the switch-over at 6 digits when the precision is -1), `%f` otherwise.
    fn general(&self, e: char) -> String {
        if (-4..6).contains(&self.exponent) {
            self.fixed()
        } else {
            self.scientific(e)
        }
    }
}

/// Go's spellings of the values that have no digits (`strconv` writes these for every verb).
fn non_finite(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`: the text sops encrypts for a float, so the MAC and
/// every `ENC[...,type:float]` depend on it.
pub fn format_f(f: f64) -> String {
    match non_finite(f) {
        Some(s) => s.to_string(),
        None => Shortest::of(f).fixed(),
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_g(f: f64) -> String {
    match non_finite(f) {
        Some(s) => s.to_string(),
        None => Shortest::of(f).general('e'),
    }
}

/// `strconv.FormatFloat(f, 'G', -1, 64)`.
pub fn format_upper_g(f: f64) -> String {
    match non_finite(f) {
        Some(s) => s.to_string(),
        None => Shortest::of(f).general('E'),
    }
}

/// `encoding/json`'s float: `%f`, or `%e` below 1e-6 and from 1e21 on with a one-digit negative
/// exponent unpadded (`1e+21`, `1.5e-7`). `None` for NaN and infinities, which JSON cannot hold.
pub fn json_float(f: f64) -> Option<String> {
    if non_finite(f).is_some() {
        return None;
    }
    let abs = f.abs();
    let short = Shortest::of(f);
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = short.scientific('e');
        // Go's "clean up e-09 to e-9".
        Some(match s.rsplit_once("e-0") {
            Some((m, d)) if d.len() == 1 => format!("{m}e-{d}"),
            _ => s,
        })
    } else {
        Some(short.fixed())
    }
}

/// go-yaml v3's float: `%g`, with `.inf`, `-.inf` and `.nan`.
pub fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        Shortest::of(f).general('e')
    }
}

/// sops's `ValToString`: how a non-string value becomes text where only text fits (dotenv and
/// INI values, `exec-env` variables). Floats are `%G` with `.0` added when the spelling would
/// read as an integer; times are RFC 3339 to the second; null is Go's `<nil>`.
pub fn val_to_string(v: &Value) -> Cow<'_, [u8]> {
    match v {
        Value::Str(s) => Cow::Borrowed(s.as_bytes()),
        Value::Bytes(b) => Cow::Borrowed(b),
        Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        Value::Bool(b) => Cow::Borrowed(if *b { b"true" } else { b"false" }),
        Value::Null => Cow::Borrowed(b"<nil>"),
        Value::Time(t) => Cow::Owned(
            crate::timefmt::parse_rfc3339(t)
                .map(crate::timefmt::format_rfc3339)
                .unwrap_or_else(|| t.clone())
                .into_bytes(),
        ),
        Value::Float(f) => {
            let mut s = format_upper_g(*f);
            if f.is_finite() && !s.contains(['.', 'E']) {
                s.push_str(".0");
            }
            Cow::Owned(s.into_bytes())
        }
    }
}

/// `strconv.ParseInt(s, 0, 64)`: a sign, then a `0x`/`0o`/`0b` prefix or a leading `0` for
/// octal, underscores only between digits; `None` on a syntax or range error.
pub fn parse_int(s: &str) -> Option<i64> {
    signed(s, parse_uint)
}

/// `strconv.ParseInt(s, radix, 64)` with an explicit base: a sign, then digits only.
pub fn parse_int_radix(s: &str, radix: u32) -> Option<i64> {
    signed(s, |magnitude| parse_uint_radix(magnitude, radix))
}

fn signed(s: &str, magnitude: impl Fn(&str) -> Option<u64>) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = magnitude(rest)?;
    if negative {
        (u <= 1 << 63).then(|| (u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// `strconv.ParseUint(s, 0, 64)`: as [`parse_int`], without a sign.
pub fn parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let (radix, digits) = match b {
        [b'0', p, _, ..] if matches!(p | 0x20, b'b' | b'o' | b'x') => (
            match p | 0x20 {
                b'b' => 2,
                b'o' => 8,
                _ => 16,
            },
            &s[2..],
        ),
        // A lone `0` is octal with no digits after the prefix: zero.
        [b'0'] => return Some(0),
        [b'0', ..] => (8, &s[1..]),
        _ => (10, s),
    };
    if digits.contains('_') {
        underscore_ok(s).then(|| parse_uint_radix(&digits.replace('_', ""), radix))?
    } else {
        parse_uint_radix(digits, radix)
    }
}

/// `strconv.ParseUint(s, radix, 64)` with an explicit base: digits only.
pub fn parse_uint_radix(s: &str, radix: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.chars().try_fold(0u64, |n, c| {
        let d = c.to_digit(radix)?;
        n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))
    })
}

/// `strconv.ParseFloat(s, 64)` without an error: decimal spellings (underscores only between
/// digits), `inf`/`infinity` with an optional sign and `nan`, any case; `None` on a syntax error
/// or overflow. Go's hexadecimal mantissas (`0x1p-2`) are refused: go-yaml only parses floats
/// that match its decimal pattern and sops encrypts floats as `%f`, so no caller meets one.
pub fn parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (sign, body) = match b.first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    let body = body.as_bytes();
    let mut i = 0;
    let (mut digits, mut point, mut underscores) = (false, false, false);
    while let Some(&c) = body.get(i) {
        match c {
            b'0'..=b'9' => digits = true,
            b'_' => underscores = true,
            b'.' if !point => point = true,
            _ => break,
        }
        i += 1;
    }
    if !digits || (body.first() == Some(&b'0') && matches!(body.get(1), Some(b'x' | b'X'))) {
        return None;
    }
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(body.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !body.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while let Some(&c) = body.get(i) {
            match c {
                b'0'..=b'9' => {}
                b'_' => underscores = true,
                _ => break,
            }
            i += 1;
        }
    }
    if i != body.len() || (underscores && !underscore_ok(s)) {
        return None;
    }
    let f: f64 = if underscores { s.replace('_', "").parse().ok()? } else { s.parse().ok()? };
    // Go reports overflow as an error (the value would be ±Inf).
    f.is_finite().then_some(f)
}

/// Go's `underscoreOK`: underscores only between digits, or between a base prefix and a digit.
fn underscore_ok(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let (mut i, mut saw, mut hex) = (0, b'^', false);
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::yaml::resolve::{resolve_plain, Resolved};

    /// The vector table: a plain YAML scalar, then what the real sops 3.11 writes for it as YAML
    /// (`sops decrypt`), as JSON (`--output-type json`, `-` where JSON cannot hold the value)
    /// and as a dotenv value (`ValToString`).
    const VECTORS: &str = include_str!("../testdata/go-numbers.tsv");

    fn rows() -> impl Iterator<Item = [&'static str; 4]> {
        VECTORS.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "{l:?}");
            [f[0], f[1], f[2], f[3]]
        })
    }

    #[test]
    fn every_vector_is_spelled_as_sops_spells_it() {
        let mut floats = 0;
        for [literal, yaml, json, env] in rows() {
            let Resolved::Value(value) = resolve_plain(literal) else { panic!("{literal} is a uint64") };
            match &value {
                Value::Float(f) => {
                    floats += 1;
                    assert_eq!(yaml_float(*f), yaml, "yaml of {literal}");
                    assert_eq!(json_float(*f).as_deref().unwrap_or("-"), json, "json of {literal}");
                }
                Value::Int(i) => {
                    assert_eq!(i.to_string(), yaml, "yaml of {literal}");
                    assert_eq!(i.to_string(), json, "json of {literal}");
                }
                Value::Str(s) => {
                    assert_eq!(s, yaml, "{literal} reads as a string");
                    assert_eq!(format!("\"{s}\""), json, "json of {literal}");
                }
                other => panic!("{literal}: a vector of another type: {other:?}"),
            }
            assert_eq!(String::from_utf8_lossy(&val_to_string(&value)), env, "ValToString of {literal}");
        }
        assert!(floats >= 30, "the table lost its floats");
    }

    #[test]
    fn f_is_shortest_fixed_point() {
        for (f, s) in [
            (1.0, "1"),
            (-0.0, "-0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1000000000000000000000"),
            (1.5e-7, "0.00000015"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_f(f), s);
            if f.is_finite() {
                assert_eq!(parse_float(s).map(f64::to_bits), Some(f.to_bits()), "{s}");
            }
        }
        assert_eq!(format_g(1e6), "1e+06");
        assert_eq!(format_upper_g(1.5e-7), "1.5E-07");
    }

    #[test]
    fn parsers_follow_strconv() {
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("-0b101"), Some(-5));
        assert_eq!(parse_int("017"), Some(15));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("08"), None);
        assert_eq!(parse_int("1_000"), Some(1000));
        assert_eq!(parse_int("1__0"), None);
        assert_eq!(parse_int("0x_1F"), Some(31));
        assert_eq!(parse_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int("9223372036854775808"), None);
        assert_eq!(parse_uint("9223372036854775808"), Some(1 << 63));
        assert_eq!(parse_uint("+1"), None);
        assert_eq!(parse_int("-0b+1"), None);
        assert_eq!(parse_float(".01_0"), Some(0.01));
        assert_eq!(parse_float(".5e1_0"), Some(5e9));
        assert_eq!(parse_float("1_.5"), None);
        assert_eq!(parse_float("1e400"), None);
        assert_eq!(parse_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_float("+nan"), None);
        assert_eq!(parse_float("0x1p-2"), None);
        assert_eq!(parse_float("1."), Some(1.0));
        assert_eq!(parse_float("."), None);
        assert_eq!(parse_float("1e"), None);
    }
}
