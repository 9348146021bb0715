//! JSON text exactly as Python's `json.dumps` writes it, and Python `repr`/`str` of JSON values.
//!
//! The official CLI prints `json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)`;
//! service errors use `indent=4, sort_keys=True` (ASCII-escaped); `raw-request` re-serializes
//! the request body with the default `json.dumps` (separators `", "` and `": "`, ASCII-escaped,
//! keys in their original order). serde_json differs in float formatting (`1e16` vs `1e+16`),
//! in key order and in ASCII escaping, so the text is written here by hand.
//!
//! Known difference: integers beyond the 64-bit range are parsed by serde_json as floats (Python
//! keeps them exact); OCI never sends such numbers.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use super::unicode_tables::NOT_PRINTABLE;

/// How to write JSON (the `json.dumps` arguments that matter).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// `indent=n`; `None` writes everything on one line.
    pub indent: Option<usize>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
}

impl Style {
    /// `json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)`: the CLI's output.
    pub const CLI: Style = Style {
        indent: Some(2),
        sort_keys: true,
        ensure_ascii: false,
    };
    /// `json.dumps(obj, indent=4, sort_keys=True)`: the CLI's `ServiceError:` details.
    pub const ERROR: Style = Style {
        indent: Some(4),
        sort_keys: true,
        ensure_ascii: true,
    };
    /// `json.dumps(obj)`: one line, `", "` and `": "` separators, ASCII only, original key order.
    pub const COMPACT: Style = Style {
        indent: None,
        sort_keys: false,
        ensure_ascii: true,
    };
}

/// `json.dumps(value, ...)` for the given style (no trailing newline).
pub fn dumps(value: &Value, style: Style) -> String {
    let mut out = String::new();
    write_value(&mut out, value, style, 0);
    out
}

fn newline_indent(out: &mut String, style: Style, level: usize) {
    if let Some(n) = style.indent {
        out.push('\n');
        for _ in 0..n * level {
            out.push(' ');
        }
    }
}

fn write_value(out: &mut String, value: &Value, style: Style, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => write_json_string(out, s, style.ensure_ascii),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(if style.indent.is_some() { "," } else { ", " });
                }
                newline_indent(out, style, level + 1);
                write_value(out, item, style, level + 1);
            }
            newline_indent(out, style, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in entries(map, style.sort_keys).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(if style.indent.is_some() { "," } else { ", " });
                }
                newline_indent(out, style, level + 1);
                write_json_string(out, k, style.ensure_ascii);
                out.push_str(": ");
                write_value(out, v, style, level + 1);
            }
            newline_indent(out, style, level);
            out.push('}');
        }
    }
}

/// Map entries, sorted by code point (UTF-8 byte order is code point order) when asked.
fn entries(map: &Map<String, Value>, sort: bool) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = map.iter().collect();
    if sort {
        v.sort_by(|a, b| a.0.cmp(b.0));
    }
    v
}

fn write_json_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && !(' '..='~').contains(&c) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number as Python prints it (`int` exactly, `float` with `repr`).
pub fn number_repr(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    float_repr(n.as_f64().unwrap_or(f64::NAN))
}

/// Python's `repr(float)`: the shortest round-trip digits, in positional notation when the
/// decimal exponent is in [-4, 16), else `d.ddde+XX`.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{x:e}");
    let (negative, rest) = match sci.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, sci.as_str()),
    };
    let (mantissa, exp) = rest.split_once('e').unwrap_or((rest, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // value = 0.DIGITS * 10^decpt
    let decpt = exp + 1;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let d = decpt as usize;
            if digits.len() <= d {
                out.push_str(&digits);
                for _ in digits.len()..d {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..d]);
                out.push('.');
                out.push_str(&digits[d..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

/// Python `str(value)` for a value decoded by `json.loads` (`None`, `True`, `{'a': 1}`, ...):
/// strings as they are, everything else as `repr`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python `repr(value)` for a value decoded by `json.loads`.
pub fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => out.push_str(&str_repr(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&str_repr(k));
                out.push_str(": ");
                write_repr(out, v);
            }
            out.push('}');
        }
    }
}

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Python `repr(str)`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            c if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_ascii() => out.push(c),
            c if in_ranges(NOT_PRINTABLE, c) => {
                let u = c as u32;
                let _ = if u <= 0xff {
                    write!(out, "\\x{u:02x}")
                } else if u <= 0xffff {
                    write!(out, "\\u{u:04x}")
                } else {
                    write!(out, "\\U{u:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

pub(crate) fn is_wide(c: char) -> bool {
    in_ranges(super::unicode_tables::WIDE, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_like_python() {
        // Expected values are Python 3.11 `repr(float)`.
        let cases = [
            (2.5, "2.5"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (-0.0, "-0.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e22, "1.2345678901234568e+22"),
            (123456789012345.6, "123456789012345.6"),
            (0.1, "0.1"),
            (1e300, "1e+300"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn dumps_cli_style() {
        let v: Value = serde_json::from_str(
            r#"{"data": {"b": [1, 2.5, {}], "a": "é\u0001\"", "c": [], "d": null, "e": 1e2}}"#,
        )
        .unwrap();
        assert_eq!(
            dumps(&v, Style::CLI),
            "{\n  \"data\": {\n    \"a\": \"é\\u0001\\\"\",\n    \"b\": [\n      1,\n      2.5,\n      {}\n    ],\n    \"c\": [],\n    \"d\": null,\n    \"e\": 100.0\n  }\n}"
        );
    }

    #[test]
    fn dumps_compact_ascii_keeps_order() {
        let v: Value = serde_json::from_str(r#"{"Z": "日\ud83d\ude00", "a": [1, true]}"#).unwrap();
        assert_eq!(
            dumps(&v, Style::COMPACT),
            r#"{"Z": "\u65e5\ud83d\ude00", "a": [1, true]}"#
        );
        assert_eq!(dumps(&json!("\u{7f}"), Style::COMPACT), r#""\u007f""#);
        assert_eq!(dumps(&json!("\u{7f}"), Style::CLI), "\"\u{7f}\"");
    }

    #[test]
    fn repr_like_python() {
        let v = json!({"a": "é", "b": [1, 2.5], "c": null, "d": true, "q": "it's", "w": "\u{a0}\u{2028}\u{1F600}"});
        assert_eq!(
            py_repr(&v),
            "{'a': 'é', 'b': [1, 2.5], 'c': None, 'd': True, 'q': \"it's\", 'w': '\\xa0\\u2028\u{1F600}'}"
        );
        assert_eq!(str_repr("a'b\"c\\"), "'a\\'b\"c\\\\'");
        assert_eq!(py_str(&json!("x")), "x");
    }
}
