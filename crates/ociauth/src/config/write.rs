//! Editing a config file one section at a time.
//!
//! Unlike the CLI (whose `remove_profile_from_config` rewrites the whole file through
//! configparser, turning `key=value` into `key = value` and dropping every comment), these
//! functions keep every line outside the edited section byte for byte.
//!
//! A section's lines are its header through its last entry or continuation line. Comment and
//! blank lines after that belong to whatever follows (usually a comment about the next
//! section) and are kept; comments inside the section go with it.

use std::path::{Path, PathBuf};

use super::parse::{LineKind, py_strip, split_lines};
use super::{ConfigError, ConfigFile};
use crate::fsutil;

/// The CLI's profile-name rule (`cli_setup.validate_profile_name`): non-empty,
/// `^[A-Za-z0-9._\-@]+$`, and not `.` or `..`. Errors carry the CLI's messages.
pub fn validate_profile_name(name: &str) -> Result<(), ConfigError> {
    let err = |message: String| ConfigError::InvalidProfileName {
        name: name.to_string(),
        message,
    };
    if name.is_empty() {
        return Err(err("Profile name must be a non-empty string.".to_string()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(err(format!(
            "Invalid profile name '{name}'. Profile names may only contain letters, numbers, '.', '_', '-', or '@'."
        )));
    }
    if name == "." || name == ".." {
        return Err(err(format!(
            "Invalid profile name '{name}': Profile name cannot be '.' or '..'."
        )));
    }
    Ok(())
}

/// Check that `key=value` reads back as exactly this key and value.
fn validate_entry(profile: &str, key: &str, value: &str) -> Result<(), ConfigError> {
    let err = |reason: &'static str| ConfigError::InvalidEntry {
        profile: profile.to_string(),
        key: key.to_string(),
        reason,
    };
    if key.is_empty() {
        return Err(err("the key is empty"));
    }
    if key.contains(['=', ':', '\n', '\r']) {
        return Err(err("keys cannot contain '=', ':' or line breaks"));
    }
    if py_strip(key) != key {
        return Err(err("keys cannot start or end with whitespace"));
    }
    if key.starts_with(['#', ';', '[']) {
        return Err(err("keys cannot start with '#', ';' or '['"));
    }
    if key.to_lowercase() != key {
        return Err(err("keys are read in lower case; write them in lower case"));
    }
    if value.contains(['\n', '\r']) {
        return Err(err("values cannot contain line breaks"));
    }
    if py_strip(value) != value {
        return Err(err(
            "values cannot start or end with whitespace (it would be lost when read)",
        ));
    }
    Ok(())
}

/// The file's text (empty if missing) and the path to write to (a symlink's target, so that a
/// linked config stays linked).
fn read_existing(path: &Path) -> Result<(String, PathBuf), ConfigError> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match std::fs::read(&target) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|e| ConfigError::NotUtf8 {
                path: path.to_path_buf(),
                line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count(),
            })?;
            Ok((text, target))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((String::new(), target)),
        Err(e) => Err(ConfigError::Unreadable {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// A file split into lines, with the (header, last entry or continuation) line indices of every
/// section named `name`.
struct Layout<'a> {
    /// The file starts with a byte order mark (not part of `raws`).
    bom: bool,
    raws: Vec<&'a str>,
    spans: Vec<(usize, usize)>,
    kinds: Vec<LineKind>,
}

fn layout<'a>(text: &'a str, path: &Path, name: &str) -> Result<Layout<'a>, ConfigError> {
    let body = text.strip_prefix('\u{feff}');
    let bom = body.is_some();
    let body = body.unwrap_or(text);
    let file = ConfigFile::parse(body, path)?;
    let kinds = file.kinds().to_vec();
    let raws: Vec<&str> = split_lines(body).into_iter().map(|l| l.raw).collect();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < kinds.len() {
        if let LineKind::Header(idx) = &kinds[i]
            && file.section_name_at(*idx) == name
        {
            let mut last = i;
            let mut j = i + 1;
            while j < kinds.len() && !matches!(kinds[j], LineKind::Header(_)) {
                if matches!(
                    kinds[j],
                    LineKind::Entry | LineKind::Continuation | LineKind::Bad
                ) {
                    last = j;
                }
                j += 1;
            }
            spans.push((i, last));
            i = j;
            continue;
        }
        i += 1;
    }
    Ok(Layout {
        bom,
        raws,
        spans,
        kinds,
    })
}

/// The line ending the file uses (that of its first line), `\n` for a new file.
fn eol_of(text: &str) -> &'static str {
    match split_lines(text).first().map(|l| &l.raw[l.content.len()..]) {
        Some("\r\n") => "\r\n",
        Some("\r") => "\r",
        _ => "\n",
    }
}

/// Remove the lines of `spans` from `raws`, with the blank lines after each; a section that ends
/// the file also takes the blank lines before it. With `replace_first`, the first span is
/// replaced by that text instead (the lines around it are kept).
fn cut(layout: &Layout<'_>, replace_first: Option<&str>) -> String {
    let n = layout.raws.len();
    let mut drop = vec![false; n];
    let mut insert_at: Option<usize> = None;
    for (k, &(start, last)) in layout.spans.iter().enumerate() {
        for d in drop.iter_mut().take(last + 1).skip(start) {
            *d = true;
        }
        if k == 0 && replace_first.is_some() {
            insert_at = Some(start);
            continue;
        }
        let mut end = last + 1;
        while end < n && layout.kinds[end] == LineKind::Blank {
            drop[end] = true;
            end += 1;
        }
        if end == n {
            let mut b = start;
            while b > 0 && layout.kinds[b - 1] == LineKind::Blank && !drop[b - 1] {
                drop[b - 1] = true;
                b -= 1;
            }
        }
    }
    let mut out = String::new();
    if layout.bom {
        out.push('\u{feff}');
    }
    for (i, raw) in layout.raws.iter().enumerate() {
        if Some(i) == insert_at
            && let Some(section) = replace_first
        {
            out.push_str(section);
        }
        if !drop[i] {
            out.push_str(raw);
        }
    }
    out
}

fn write(target: &Path, shown: &Path, text: &str) -> Result<(), ConfigError> {
    fsutil::write_private_atomic(target, text.as_bytes()).map_err(|e| ConfigError::Write {
        path: shown.to_path_buf(),
        source: e,
    })
}

/// Write the profile `name` with exactly `entries` (as `key=value`, in order), replacing the
/// section if it exists (in place; every `[DEFAULT]` block when `name` is `DEFAULT`), else
/// appending it after a blank line. Everything else in the file is kept byte for byte; new lines
/// use the file's line ending. The file (and missing directories, 0700) is created if needed and
/// written atomically with mode 0600; a symlinked file is written through the link.
///
/// The name must pass [`validate_profile_name`]; keys must be lower-case and values single-line
/// without surrounding whitespace, so that the file reads back to exactly these entries. A file
/// that does not parse is left alone (its error is returned): fix it first.
pub fn upsert_profile<K: AsRef<str>, V: AsRef<str>>(
    path: &Path,
    name: &str,
    entries: &[(K, V)],
) -> Result<(), ConfigError> {
    validate_profile_name(name)?;
    let mut seen = std::collections::HashSet::new();
    for (k, v) in entries {
        validate_entry(name, k.as_ref(), v.as_ref())?;
        if !seen.insert(k.as_ref()) {
            return Err(ConfigError::InvalidEntry {
                profile: name.to_string(),
                key: k.as_ref().to_string(),
                reason: "the key is given twice",
            });
        }
    }
    let (text, target) = read_existing(path)?;
    let eol = eol_of(&text);
    let mut section = format!("[{name}]{eol}");
    for (k, v) in entries {
        section.push_str(k.as_ref());
        section.push('=');
        section.push_str(v.as_ref());
        section.push_str(eol);
    }
    let layout = layout(&text, path, name)?;
    let out = if layout.spans.is_empty() {
        let mut out = text.clone();
        if let Some(last) = split_lines(&text).last() {
            if last.raw.len() == last.content.len() {
                out.push_str(eol);
            }
            if !py_strip(last.content).is_empty() {
                out.push_str(eol);
            }
        }
        out.push_str(&section);
        out
    } else {
        cut(&layout, Some(&section))
    };
    // Safety net: the result must read back with exactly these entries in the section.
    let reread = ConfigFile::parse(&out, path)?;
    let own: Vec<(String, String)> = reread
        .profile(name)
        .map(|p| {
            p.entries()
                .iter()
                .filter(|e| {
                    !matches!(
                        e.origin,
                        super::Origin::File {
                            inherited: true,
                            ..
                        }
                    )
                })
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    let want: Vec<(String, String)> = entries
        .iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    if own != want {
        return Err(ConfigError::InvalidEntry {
            profile: name.to_string(),
            key: want.first().map(|(k, _)| k.to_string()).unwrap_or_default(),
            reason: "the file would not read back with these entries; check the file around this section",
        });
    }
    write(&target, path, &out)
}

/// Remove the section `name` (every `[DEFAULT]` block for `DEFAULT`) and the blank lines after
/// it (before it, when it ends the file); comments after its last entry are kept. Returns
/// whether the section was there; a missing file is `Ok(false)` and is not created.
///
/// Unlike [`upsert_profile`], any existing name can be removed (no name validation).
pub fn remove_profile(path: &Path, name: &str) -> Result<bool, ConfigError> {
    let (text, target) = read_existing(path)?;
    if text.is_empty() {
        return Ok(false);
    }
    let layout = layout(&text, path, name)?;
    if layout.spans.is_empty() {
        return Ok(false);
    }
    write(&target, path, &cut(&layout, None))?;
    Ok(true)
}
