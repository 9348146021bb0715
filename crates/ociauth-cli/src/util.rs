//! Small helpers: Python-style timestamps, terminal checks, stderr colours.

use std::io::IsTerminal as _;

use time::{OffsetDateTime, UtcOffset};

/// Python `datetime.isoformat()` of an aware datetime: `2026-11-28T17:06:18.388779+00:00`
/// (the fraction is left out when the microseconds are zero).
pub fn py_isoformat(t: OffsetDateTime) -> String {
    let micros = t.microsecond();
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if micros != 0 {
        s.push_str(&format!(".{micros:06}"));
    }
    let off = t.offset();
    let secs = off.whole_seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    s.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
    if !abs.is_multiple_of(60) {
        s.push_str(&format!(":{:02}", abs % 60));
    }
    s
}

/// How the Python SDK + CLI show a `datetime` field of a service response: parsed with
/// `dateutil` (fraction cut to microseconds, `Z` = UTC, no zone = UTC) and printed with
/// `isoformat`. A value that does not parse is shown unchanged.
pub fn sdk_datetime(s: &str) -> String {
    parse_rfc3339ish(s)
        .map(py_isoformat)
        .unwrap_or_else(|| s.to_string())
}

fn parse_rfc3339ish(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut micros = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            return None;
        }
        let frac = &s[start..end];
        let six: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        micros = six.parse().ok()?;
        i = end;
    }
    let offset = match &s[i..] {
        "" | "Z" | "z" => UtcOffset::UTC,
        rest => {
            let sign: i32 = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i32 = digits[..2].parse().ok()?;
            let om: i32 = digits[2..].parse().ok()?;
            UtcOffset::from_whole_seconds(sign * (oh * 3600 + om * 60)).ok()?
        }
    };
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?)
        .ok()?;
    let t = time::Time::from_hms_micro(
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(sec).ok()?,
        micros,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_offset(offset))
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// `click.style(text, fg=...)` as `click.echo` shows it on stderr: coloured only on a terminal.
pub fn styled_for_stderr(text: &str, color: Color) -> String {
    if std::io::stderr().is_terminal() {
        let code = match color {
            Color::Red => 31,
            Color::Yellow => 33,
        };
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    } else {
        text.to_string()
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Color {
    Red,
    Yellow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_like_dateutil() {
        // Expected values from Python `dateutil.parser.parse(s).isoformat()` (+ UTC for naive).
        assert_eq!(
            sdk_datetime("2026-11-28T17:06:18.388Z"),
            "2026-11-28T17:06:18.388000+00:00"
        );
        assert_eq!(
            sdk_datetime("2026-11-28T17:06:18.123456789Z"),
            "2026-11-28T17:06:18.123456+00:00"
        );
        assert_eq!(
            sdk_datetime("2026-11-28T17:06:18+02:00"),
            "2026-11-28T17:06:18+02:00"
        );
        assert_eq!(
            sdk_datetime("2026-11-28T17:06:18"),
            "2026-11-28T17:06:18+00:00"
        );
        assert_eq!(
            sdk_datetime("2026-11-28T17:06:18.000Z"),
            "2026-11-28T17:06:18+00:00"
        );
        assert_eq!(sdk_datetime("garbage"), "garbage");
    }
}
