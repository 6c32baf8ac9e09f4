//! Python's `json.dumps(indent=4)` output, and a small ordered JSON tree.
//!
//! MSAL Python writes its cache with `json.dumps(self._cache, indent=4)`:
//! insertion order, a newline and four spaces per level, `": "` between a
//! key and its value, and `ensure_ascii` escaping (every character outside
//! space..`~` as a lower-case `\uXXXX`, astral characters as surrogate
//! pairs). Values that arrive in another layout are re-formatted through
//! [`Json`], which keeps strings in that escaped form so that nothing (not
//! even a lone surrogate, which Python keeps) is lost on the way.

use std::fmt::Write as _;

use super::scan::{Kind, Scanner, python_escapes_as_u};

/// A JSON value with objects in insertion order and strings already
/// escaped as Python writes them (without the quotes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// A number as Python writes it.
    Num(String),
    /// A string, escaped as Python writes it.
    Str(String),
    Arr(Vec<Json>),
    /// Members with escaped keys; no key appears twice.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// A string value from plain text.
    pub(crate) fn str(s: &str) -> Self {
        let mut out = String::with_capacity(s.len());
        escape_into(&mut out, s);
        Json::Str(out)
    }

    /// Sets `key` (plain text) to `value`: in place if present, else appended
    /// (Python's `dict(old, **new)`). No-op on non-objects.
    pub(crate) fn set(&mut self, key: &str, value: Json) {
        if let Json::Obj(members) = self {
            let mut k = String::new();
            escape_into(&mut k, key);
            match members.iter_mut().find(|(mk, _)| *mk == k) {
                Some((_, v)) => *v = value,
                None => members.push((k, value)),
            }
        }
    }

    /// Python's text for this value at nesting `level`.
    pub(crate) fn write(&self, out: &mut String, level: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(members) if members.is_empty() => out.push_str("{}"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline_indent(out, level + 1);
                    item.write(out, level + 1);
                }
                newline_indent(out, level);
                out.push(']');
            }
            Json::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline_indent(out, level + 1);
                    out.push('"');
                    out.push_str(k);
                    out.push_str("\": ");
                    v.write(out, level + 1);
                }
                newline_indent(out, level);
                out.push('}');
            }
        }
    }

    /// Parses JSON text that the scanner has already validated, the way
    /// Python's `json.loads` reads it: for a repeated key the last value
    /// wins, at the first key's position. `None` if the text is not valid.
    pub(crate) fn parse(text: &str) -> Option<Json> {
        let mut sc = Scanner::new(text);
        sc.ws(super::scan::Ws::None);
        let v = parse_at(text, &mut sc)?;
        sc.at_end().then_some(v)
    }
}

/// Writes a newline and `4 * level` spaces.
#[inline]
pub(crate) fn newline_indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("    ");
    }
}

fn parse_at(text: &str, sc: &mut Scanner<'_>) -> Option<Json> {
    use super::scan::Ws;
    let b = sc.peek()?;
    match b {
        b'{' => {
            sc.pos += 1;
            let mut members: Vec<(String, Json)> = Vec::new();
            let mut index: Option<std::collections::HashMap<String, usize>> = None;
            sc.ws(Ws::None);
            if sc.eat(b'}') {
                return Some(Json::Obj(members));
            }
            loop {
                let k = sc.string().ok()?;
                let key = reescape(text.get(k.start..k.end)?);
                sc.ws(Ws::None);
                if !sc.eat(b':') {
                    return None;
                }
                sc.ws(Ws::None);
                let v = parse_at(text, sc)?;
                // Small objects search linearly; big ones (hostile input) get a map.
                if index.is_none() && members.len() > 32 {
                    index = Some(
                        members
                            .iter()
                            .enumerate()
                            .map(|(i, (k, _))| (k.clone(), i))
                            .collect(),
                    );
                }
                let found = match &index {
                    Some(map) => map.get(&key).copied(),
                    None => members.iter().position(|(mk, _)| *mk == key),
                };
                match found {
                    Some(i) => members[i].1 = v,
                    None => {
                        if let Some(map) = &mut index {
                            map.insert(key.clone(), members.len());
                        }
                        members.push((key, v));
                    }
                }
                sc.ws(Ws::None);
                if sc.eat(b',') {
                    sc.ws(Ws::None);
                } else if sc.eat(b'}') {
                    return Some(Json::Obj(members));
                } else {
                    return None;
                }
            }
        }
        b'[' => {
            sc.pos += 1;
            let mut items = Vec::new();
            sc.ws(Ws::None);
            if sc.eat(b']') {
                return Some(Json::Arr(items));
            }
            loop {
                items.push(parse_at(text, sc)?);
                sc.ws(Ws::None);
                if sc.eat(b',') {
                    sc.ws(Ws::None);
                } else if sc.eat(b']') {
                    return Some(Json::Arr(items));
                } else {
                    return None;
                }
            }
        }
        _ => {
            let v = sc.value(0).ok()?;
            let raw = text.get(v.start..v.end)?;
            Some(match v.kind {
                Kind::Str { .. } => Json::Str(reescape(raw)),
                Kind::Num => Json::Num(python_number(raw)),
                Kind::Bool => Json::Bool(raw == "true"),
                Kind::Null => Json::Null,
                Kind::Obj | Kind::Arr => return None,
            })
        }
    }
}

/// Appends `s` escaped as Python's `ensure_ascii` does (no quotes).
pub(crate) fn escape_into(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        push_char(out, c);
    }
}

fn push_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        ' '..='~' => out.push(c),
        _ => {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", u);
            }
        }
    }
}

fn push_unit(out: &mut String, unit: u32) {
    match char::from_u32(unit) {
        Some(c)
            if !python_escapes_as_u(unit) || matches!(unit, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) =>
        {
            push_char(out, c)
        }
        _ => {
            let _ = write!(out, "\\u{:04x}", unit);
        }
    }
}

/// Turns the text of a valid JSON string (between the quotes) into Python's
/// escaped form for the same characters.
pub(crate) fn reescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            push_char(&mut out, c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16) {
                    // Each UTF-16 unit maps to itself, so surrogate pairs and
                    // lone surrogates come out as Python writes them.
                    Ok(unit) => push_unit(&mut out, unit),
                    Err(_) => out.push_str("\\ufffd"),
                }
            }
            Some('b') => out.push_str("\\b"),
            Some('f') => out.push_str("\\f"),
            Some('n') => out.push_str("\\n"),
            Some('r') => out.push_str("\\r"),
            Some('t') => out.push_str("\\t"),
            Some(other) => push_char(&mut out, other),
            None => {}
        }
    }
    out
}

/// Decodes the text of a valid JSON string (between the quotes) into plain
/// text. A lone surrogate becomes U+FFFD (only lookups see this value; the
/// document keeps the original).
pub(crate) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut pending_high: Option<u32> = None;
    let flush = |out: &mut String, high: &mut Option<u32>| {
        if high.take().is_some() {
            out.push('\u{fffd}');
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut out, &mut pending_high);
            out.push(c);
            continue;
        }
        let decoded = match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let unit = u32::from_str_radix(&hex, 16).unwrap_or(0xfffd);
                if (0xd800..0xdc00).contains(&unit) {
                    flush(&mut out, &mut pending_high);
                    pending_high = Some(unit);
                    continue;
                }
                if (0xdc00..0xe000).contains(&unit) {
                    match pending_high.take() {
                        Some(high) => {
                            char::from_u32(0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00))
                        }
                        None => None,
                    }
                    .unwrap_or('\u{fffd}')
                } else {
                    char::from_u32(unit).unwrap_or('\u{fffd}')
                }
            }
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some(other) => other,
            None => break,
        };
        flush(&mut out, &mut pending_high);
        out.push(decoded);
    }
    flush(&mut out, &mut pending_high);
    out
}

/// A JSON number as Python writes it back after `json.loads`: integers keep
/// their digits (`-0` becomes `0`), other numbers become floats in `repr`
/// form (`1.0`, `1e+16`, `Infinity`).
pub(crate) fn python_number(raw: &str) -> String {
    if !raw.contains(['.', 'e', 'E']) {
        return if raw == "-0" {
            "0".to_owned()
        } else {
            raw.to_owned()
        };
    }
    let Ok(f) = raw.parse::<f64>() else {
        return raw.to_owned();
    };
    python_float_repr(f)
}

/// Python's `repr(float)`: shortest round-trip digits; fixed notation for
/// decimal exponents -4..16, scientific with a signed, two-digit exponent
/// otherwise.
pub(crate) fn python_float_repr(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{:e}", f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str, level: usize) -> String {
        let mut out = String::new();
        Json::parse(text).unwrap().write(&mut out, level);
        out
    }

    #[test]
    fn writes_python_layout() {
        assert_eq!(fmt("{}", 0), "{}");
        assert_eq!(fmt(" [ ] ", 0), "[]");
        assert_eq!(
            fmt(r#"{"a":1,"b":[true,null,{"c":"d"}],"e":{}}"#, 0),
            "{\n    \"a\": 1,\n    \"b\": [\n        true,\n        null,\n        {\n            \"c\": \"d\"\n        }\n    ],\n    \"e\": {}\n}"
        );
        assert_eq!(
            fmt(r#"{"a":"b"}"#, 2),
            "{\n            \"a\": \"b\"\n        }"
        );
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_value() {
        assert_eq!(
            Json::parse(r#"{"a":1,"b":2,"a":3}"#).unwrap(),
            Json::Obj(vec![
                ("a".into(), Json::Num("3".into())),
                ("b".into(), Json::Num("2".into()))
            ])
        );
    }

    #[test]
    fn strings_escape_like_ensure_ascii() {
        assert_eq!(reescape(r"caf\u00E9 \/ \u0041 \u000A"), r"caf\u00e9 / A \n");
        assert_eq!(
            reescape("caf\u{e9} \u{1F600} \u{7f} \"q\""),
            r#"caf\u00e9 \ud83d\ude00 \u007f \"q\""#
        );
        assert_eq!(reescape(r"\ud800 lone"), r"\ud800 lone");
        let mut s = String::new();
        escape_into(&mut s, "tab\there \u{1} \\");
        assert_eq!(s, r"tab\there \u0001 \\");
    }

    #[test]
    fn unescape_decodes() {
        assert_eq!(
            unescape(r"a\nb\u00e9\ud83d\ude00\/"),
            "a\nb\u{e9}\u{1F600}/"
        );
        assert_eq!(unescape(r"\ud800x"), "\u{fffd}x");
        assert_eq!(unescape(r"\udc00"), "\u{fffd}");
    }

    #[test]
    fn numbers_as_python_writes_them() {
        for (raw, py) in [
            ("12", "12"),
            ("-0", "0"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            ("1.0", "1.0"),
            ("1.50", "1.5"),
            ("1e3", "1000.0"),
            ("1E16", "1e+16"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("-2.5e-7", "-2.5e-07"),
            ("123456789.125", "123456789.125"),
            ("1e400", "Infinity"),
            ("-0.0", "-0.0"),
            ("1234567890123456789.0", "1.2345678901234568e+18"),
        ] {
            assert_eq!(python_number(raw), py, "{raw}");
        }
    }
}
