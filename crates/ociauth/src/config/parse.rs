//! An INI reader with the semantics of Python's `configparser.ConfigParser(interpolation=None)`
//! (CPython 3.11, the parser under `oci.config.from_file` and the `oci` CLI).
//!
//! What it reproduces, line by line:
//! - Lines end at `\n`, `\r\n` or a lone `\r` (Python's universal newlines).
//! - "Whitespace" is Python's `str.isspace()`: Rust's `char::is_whitespace` plus U+001C..U+001F.
//! - A line whose stripped text starts with `#` or `;` is a comment. There are no inline comments.
//! - A non-blank line indented deeper than the line that started the current entry continues that
//!   entry's value (joined with `\n`). Blank lines after an entry are part of its value; comment
//!   lines are not, and neither resets the indentation. The joined value has trailing whitespace
//!   (so trailing blank lines) removed.
//! - A section header is `[` + at least one character + `]`, where the name runs to the **last** `]`
//!   of the stripped line (`[A] x ] y` is the section `A] x `); what follows that `]` is ignored.
//! - An entry is split at the first `=` or `:`; the key is stripped and lower-cased, the value is
//!   stripped. An empty key is a parsing error that is still recorded (so a second `=x` in the same
//!   section is a duplicate option, exactly as in Python).
//! - `MissingSectionHeaderError`, `DuplicateSectionError` and `DuplicateOptionError` stop reading at
//!   once; lines without a delimiter are collected and reported together at the end
//!   (`ParsingError`), after any of the former.
//! - The default section (`DEFAULT` for config files) may appear several times; its keys are
//!   inherited by every other section. The CLI rc file is read without a default section.
//!
//! One deliberate difference: a UTF-8 byte order mark at the start of the file is skipped. Python
//! reads it as the character U+FEFF, which is not whitespace, so such a file fails with
//! `MissingSectionHeaderError` in the SDK; editors on Windows write it, and ignoring it is harmless.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{ConfigError, ParseProblem, ParseProblemKind};

/// Python's `str.isspace()`.
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` without arguments.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

pub(crate) fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(py_isspace)
}

/// One physical line: its text without the line ending, and the exact bytes including it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PhysLine<'a> {
    pub content: &'a str,
    pub raw: &'a str,
}

/// Split as Python's text-mode file iteration does (`\n`, `\r\n`, lone `\r`).
pub(crate) fn split_lines(text: &str) -> Vec<PhysLine<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(PhysLine {
                    content: &text[start..i],
                    raw: &text[start..i + 1],
                });
                i += 1;
                start = i;
            }
            b'\r' => {
                let end = if bytes.get(i + 1) == Some(&b'\n') {
                    i + 2
                } else {
                    i + 1
                };
                out.push(PhysLine {
                    content: &text[start..i],
                    raw: &text[start..end],
                });
                i = end;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        out.push(PhysLine {
            content: &text[start..],
            raw: &text[start..],
        });
    }
    out
}

/// The section name of a header line (already stripped), or `None` if it is not a header.
pub(crate) fn section_header(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    (close > 0).then(|| &rest[..close])
}

/// `key`, `value` of an entry line (already stripped), split at the first `=` or `:`.
fn split_entry(stripped: &str) -> Option<(&str, &str)> {
    let at = stripped.find(['=', ':'])?;
    Some((py_rstrip(&stripped[..at]), py_strip(&stripped[at + 1..])))
}

/// What a physical line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineKind {
    Blank,
    Comment,
    /// A section header (index into [`Parsed::sections`]; the default section is `None`).
    Header(Option<usize>),
    Entry,
    Continuation,
    Bad,
}

/// One `key = value` of a section, with the 1-based line where the key is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    pub name: String,
    pub entries: Vec<Entry>,
}

/// The result of reading one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Entries of the default section (empty when the dialect has none).
    pub defaults: Vec<Entry>,
    /// Ordinary sections in the order they first appear.
    pub sections: Vec<Section>,
    /// One entry per physical line.
    pub kinds: Vec<LineKind>,
}

struct Building {
    key: String,
    pieces: Vec<String>,
    line: usize,
}

/// Which section an entry goes into: the default section or `sections[i]`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Default,
    Named(usize),
}

/// Parse `text` (BOM already removed) as configparser would, naming `path` in errors.
pub(crate) fn parse(
    text: &str,
    path: &Path,
    default_section: Option<&str>,
) -> Result<Parsed, ConfigError> {
    let lines = split_lines(text);
    let mut defaults: Vec<Building> = Vec::new();
    let mut sections: Vec<(String, Vec<Building>)> = Vec::new();
    let mut kinds = Vec::with_capacity(lines.len());
    let mut seen_sections: HashSet<String> = HashSet::new();
    let mut seen_options: HashSet<(String, String)> = HashSet::new();
    let mut problems: Vec<ParseProblem> = Vec::new();

    let mut cur: Option<Target> = None;
    let mut cur_name = String::new();
    // The entry that continuation lines extend: (section, index within it).
    let mut opt: Option<(Target, usize)> = None;
    let mut indent_level = 0usize;

    let path_buf = || PathBuf::from(path);

    for (idx, line) in lines.iter().enumerate() {
        let lineno = idx + 1;
        let stripped = py_strip(line.content);
        let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
        if is_comment || stripped.is_empty() {
            if !is_comment
                && cur.is_some()
                && let Some((t, i)) = opt
            {
                let list = match t {
                    Target::Default => &mut defaults,
                    Target::Named(s) => &mut sections[s].1,
                };
                list[i].pieces.push(String::new());
            }
            kinds.push(if is_comment {
                LineKind::Comment
            } else {
                LineKind::Blank
            });
            continue;
        }
        let indent = line.content.chars().take_while(|c| py_isspace(*c)).count();
        if cur.is_some()
            && indent > indent_level
            && let Some((t, i)) = opt
        {
            let list = match t {
                Target::Default => &mut defaults,
                Target::Named(s) => &mut sections[s].1,
            };
            list[i].pieces.push(stripped.to_string());
            kinds.push(LineKind::Continuation);
            continue;
        }
        indent_level = indent;
        if let Some(name) = section_header(stripped) {
            if let Some(pos) = sections.iter().position(|(n, _)| n == name) {
                if seen_sections.contains(name) {
                    return Err(ConfigError::DuplicateSection {
                        path: path_buf(),
                        line: lineno,
                        section: name.to_string(),
                    });
                }
                seen_sections.insert(name.to_string());
                cur = Some(Target::Named(pos));
                kinds.push(LineKind::Header(Some(pos)));
            } else if Some(name) == default_section {
                cur = Some(Target::Default);
                kinds.push(LineKind::Header(None));
            } else {
                sections.push((name.to_string(), Vec::new()));
                seen_sections.insert(name.to_string());
                cur = Some(Target::Named(sections.len() - 1));
                kinds.push(LineKind::Header(Some(sections.len() - 1)));
            }
            cur_name = name.to_string();
            opt = None;
            continue;
        }
        let Some(target) = cur else {
            return Err(ConfigError::MissingSectionHeader {
                path: path_buf(),
                line: lineno,
            });
        };
        let Some((key, value)) = split_entry(stripped) else {
            // Python keeps the previous entry open here: deeper-indented lines that follow still
            // continue it.
            problems.push(ParseProblem {
                line: lineno,
                kind: ParseProblemKind::NoDelimiter,
            });
            kinds.push(LineKind::Bad);
            continue;
        };
        if key.is_empty() {
            problems.push(ParseProblem {
                line: lineno,
                kind: ParseProblemKind::EmptyKey,
            });
        }
        let key = key.to_lowercase();
        if !seen_options.insert((cur_name.clone(), key.clone())) {
            return Err(ConfigError::DuplicateOption {
                path: path_buf(),
                line: lineno,
                section: cur_name,
                key,
            });
        }
        let list = match target {
            Target::Default => &mut defaults,
            Target::Named(s) => &mut sections[s].1,
        };
        let empty_key = key.is_empty();
        list.push(Building {
            key,
            pieces: vec![value.to_string()],
            line: lineno,
        });
        opt = (!empty_key).then_some((target, list.len() - 1));
        kinds.push(if empty_key {
            LineKind::Bad
        } else {
            LineKind::Entry
        });
    }

    if !problems.is_empty() {
        return Err(ConfigError::Parsing {
            path: path_buf(),
            problems,
        });
    }
    let finish = |list: Vec<Building>| -> Vec<Entry> {
        list.into_iter()
            .map(|b| Entry {
                value: py_rstrip(&b.pieces.join("\n")).to_string(),
                key: b.key,
                line: b.line,
            })
            .collect()
    };
    Ok(Parsed {
        defaults: finish(defaults),
        sections: sections
            .into_iter()
            .map(|(name, list)| Section {
                name,
                entries: finish(list),
            })
            .collect(),
        kinds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Parsed {
        parse(text, Path::new("t"), Some("DEFAULT")).unwrap()
    }

    #[test]
    fn lines_split_like_python() {
        let l = split_lines("a\r\nb\rc\nd");
        let raws: Vec<_> = l.iter().map(|l| l.raw).collect();
        let contents: Vec<_> = l.iter().map(|l| l.content).collect();
        assert_eq!(raws, ["a\r\n", "b\r", "c\n", "d"]);
        assert_eq!(contents, ["a", "b", "c", "d"]);
        assert!(split_lines("").is_empty());
    }

    #[test]
    fn headers() {
        assert_eq!(section_header("[A]"), Some("A"));
        assert_eq!(section_header("[A] x ] y"), Some("A] x "));
        assert_eq!(section_header("[]"), None);
        assert_eq!(section_header("[]]"), Some("]"));
        assert_eq!(section_header("A]"), None);
    }

    #[test]
    fn values_and_continuations() {
        let r = p("[A]\nk = \n  a\n\n  b\n\n[B]\nx=1\n  # c\n  y\n");
        assert_eq!(r.sections[0].entries[0].value, "\na\n\nb");
        assert_eq!(r.sections[1].entries[0].value, "1\ny");
        assert_eq!(
            r.kinds,
            [
                LineKind::Header(Some(0)),
                LineKind::Entry,
                LineKind::Continuation,
                LineKind::Blank,
                LineKind::Continuation,
                LineKind::Blank,
                LineKind::Header(Some(1)),
                LineKind::Entry,
                LineKind::Comment,
                LineKind::Continuation,
            ]
        );
    }
}
