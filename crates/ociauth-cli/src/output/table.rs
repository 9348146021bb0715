//! `--output table`: the official CLI's `print_table` on top of terminaltables' `AsciiTable`
//! (borders `+-|`, one space of padding, a rule under the heading row, an optional title laid
//! over the top border), reproduced character for character, including its width rules
//! (east-asian wide characters count 2, ANSI colour codes count 0).

use serde_json::Value;

use super::pyjson::{is_wide, py_str};

/// What `print_table` prints for `data` (with the trailing newline of Python's `print`).
pub fn print_table(data: &Value) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    match data {
        Value::String(s) => {
            rows.push(vec!["Column1".into()]);
            rows.push(vec![s.clone()]);
        }
        Value::Array(items) => {
            let Some(first) = items.first() else {
                return "Command returned empty list, no table to display.\n".into();
            };
            match first {
                Value::Object(_) => {
                    let headers = sorted_keys(items.iter());
                    for item in items {
                        rows.push(
                            headers
                                .iter()
                                .map(|k| item.get(k.as_str()).map(py_str).unwrap_or_default())
                                .collect(),
                        );
                    }
                    rows.insert(0, headers);
                }
                Value::Array(first_row) => {
                    rows.push(
                        (1..=first_row.len())
                            .map(|n| format!("Column{n}"))
                            .collect(),
                    );
                    for item in items {
                        match item {
                            Value::Array(cells) => rows.push(cells.iter().map(py_str).collect()),
                            other => rows.push(vec![py_str(other)]),
                        }
                    }
                }
                _ => {
                    rows.push(vec!["Column1".into()]);
                    for item in items {
                        rows.push(vec![py_str(item)]);
                    }
                }
            }
        }
        Value::Object(map) => {
            let mut headers: Vec<String> = map.keys().cloned().collect();
            headers.sort();
            let row = headers.iter().map(|k| py_str(&map[k.as_str()])).collect();
            rows.push(headers);
            rows.push(row);
        }
        other => {
            return format!(
                "Table format not supported for operation return type: {}\n",
                py_str(other)
            );
        }
    }
    let mut t = ascii_table(&rows, None);
    t.push('\n');
    t
}

/// The union of the keys of all objects, sorted (`build_table_headers`).
fn sorted_keys<'a>(items: impl Iterator<Item = &'a Value>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for item in items {
        if let Value::Object(m) = item {
            for k in m.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys.sort();
    keys
}

/// terminaltables' `visible_width`.
pub fn visible_width(s: &str) -> usize {
    let stripped;
    let s = if s.contains('\u{1b}') {
        stripped = strip_ansi_colors(s);
        stripped.as_str()
    } else {
        s
    };
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

/// Remove `\x1b[<digits and ;>m` sequences.
fn strip_ansi_colors(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("\u{1b}[") {
        let after = &rest[pos + 2..];
        let body_len = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if body_len > 0 && after[body_len..].starts_with('m') {
            out.push_str(&rest[..pos]);
            rest = &after[body_len + 1..];
        } else {
            out.push_str(&rest[..pos + 2]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Python's `str.splitlines()`.
pub fn splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\u{b}'
                | '\u{c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            lines.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some(&(_, '\n')) = iter.peek()
            {
                iter.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// `AsciiTable(rows, title).table` (no trailing newline).
pub fn ascii_table(rows: &[Vec<String>], title: Option<&str>) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    let mut heights = vec![0usize; rows.len()];
    for (j, row) in rows.iter().enumerate() {
        for (i, cell) in row.iter().enumerate() {
            if cell.is_empty() {
                continue;
            }
            heights[j] = heights[j].max(cell.matches('\n').count() + 1);
            for l in splitlines(cell) {
                widths[i] = widths[i].max(visible_width(l));
            }
        }
    }
    let outer: Vec<usize> = widths.iter().map(|w| w + 2).collect();
    let mut lines: Vec<String> = Vec::new();
    lines.push(border(&outer, title));
    for (j, row) in rows.iter().enumerate() {
        let cells: Vec<Vec<String>> = (0..ncols)
            .map(|i| {
                pad_cell(
                    row.get(i).map(String::as_str).unwrap_or(""),
                    widths[i],
                    heights[j],
                )
            })
            .collect();
        let nlines = cells.first().map(Vec::len).unwrap_or(0);
        if ncols == 0 {
            lines.push("||".into());
        }
        for k in 0..nlines {
            let mut line = String::from("|");
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    line.push('|');
                }
                match c.get(k) {
                    Some(s) => line.push_str(s),
                    None => line.push_str(&" ".repeat(widths[i] + 2)),
                }
            }
            line.push('|');
            lines.push(line);
        }
        if j + 1 == rows.len() {
            break;
        }
        if j == 0 {
            lines.push(border(&outer, None));
        }
    }
    lines.push(border(&outer, None));
    lines.join("\n")
}

/// `align_and_pad_cell` with left alignment, top alignment and padding (1, 1, 0, 0).
fn pad_cell(cell: &str, inner_width: usize, height: usize) -> Vec<String> {
    let mut lines: Vec<&str> = splitlines(cell);
    if lines.is_empty() {
        lines.push("");
    }
    if cell.ends_with('\n') {
        lines.push("");
    }
    while lines.len() < height {
        lines.push("");
    }
    lines
        .into_iter()
        .map(|l| {
            let pad = (inner_width + 1).saturating_sub(visible_width(l));
            format!(" {l}{}", " ".repeat(pad))
        })
        .collect()
}

/// `build_border` for the top/heading/bottom borders (`-` lines, `+` corners and intersections),
/// with the title laid over the top border when it fits.
fn border(outer: &[usize], title: Option<&str>) -> String {
    let dash = |n: usize| "-".repeat(n);
    let plain = || {
        let mut s = String::from("+");
        s.push_str(&outer.iter().map(|w| dash(*w)).collect::<Vec<_>>().join("+"));
        s.push('+');
        s
    };
    let Some(title) = title else {
        return plain();
    };
    if outer.is_empty() {
        return plain();
    }
    let mut length = visible_width(title);
    let total: usize = outer.iter().sum::<usize>() + outer.len() - 1;
    if length > total {
        return plain();
    }
    let mut parts: Vec<String> = Vec::new();
    if length == outer[0] {
        parts.push(title.to_string());
        parts.extend(outer[1..].iter().map(|w| dash(*w)));
        return format!("+{}+", parts.join("+"));
    }
    if length < outer[0] {
        parts.push(format!("{title}{}", dash(outer[0] - length)));
        parts.extend(outer[1..].iter().map(|w| dash(*w)));
        return format!("+{}+", parts.join("+"));
    }
    // A title wider than the first column runs over intersections and later columns.
    let mut out = String::from(title);
    let mut tail = String::new();
    for (i, w) in outer.iter().enumerate() {
        if i > 0 {
            // the intersection before column i
            if length < 1 {
                tail.push('+');
            } else {
                length -= 1;
            }
        }
        if length < 1 {
            tail.push_str(&dash(*w));
        } else if *w >= length {
            out.push_str(&dash(*w - length));
            length = 0;
        } else {
            length -= w;
        }
    }
    format!("+{out}{tail}+")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_table() {
        assert_eq!(
            print_table(&json!("mynamespace")),
            "+-------------+\n| Column1     |\n+-------------+\n| mynamespace |\n+-------------+\n"
        );
    }

    #[test]
    fn objects_table_with_wide_chars_and_repr() {
        let data = json!([
            {"name": "bucket-ü", "tags": {"a": "é", "b": [1, 2.5]}, "x": null},
            {"name": "日本", "tags": {}}
        ]);
        assert_eq!(
            print_table(&data),
            "+----------+---------------------------+------+\n\
             | name     | tags                      | x    |\n\
             +----------+---------------------------+------+\n\
             | bucket-ü | {'a': 'é', 'b': [1, 2.5]} | None |\n\
             | 日本     | {}                        |      |\n\
             +----------+---------------------------+------+\n"
        );
    }

    #[test]
    fn titled_table_like_config_errors() {
        let rows = vec![
            vec!["Key".to_string(), "Error".into(), "Hint".into()],
            vec!["fingerprint".to_string(), "missing".into(), "x".into()],
        ];
        assert_eq!(
            ascii_table(&rows, Some("Config Errors")),
            "+Config Errors+---------+------+\n\
             | Key         | Error   | Hint |\n\
             +-------------+---------+------+\n\
             | fingerprint | missing | x    |\n\
             +-------------+---------+------+"
        );
        // A title wider than the first column runs over the intersection.
        let rows = vec![vec!["a".to_string(), "bb".into()]];
        assert_eq!(
            ascii_table(&rows, Some("Title")),
            "+Title---+\n| a | bb |\n+---+----+"
        );
    }

    #[test]
    fn multiline_cells_and_empty_list() {
        assert_eq!(
            ascii_table(&[vec!["a\nbb".to_string(), "c".into()]], None),
            "+----+---+\n| a  | c |\n| bb |   |\n+----+---+"
        );
        assert_eq!(
            print_table(&json!([])),
            "Command returned empty list, no table to display.\n"
        );
        assert_eq!(splitlines("a\r\nb\rc\n"), vec!["a", "b", "c"]);
    }
}
