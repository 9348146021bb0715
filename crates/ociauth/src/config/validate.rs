//! `oci.config.validate_config` for API-key auth, and the CLI's "Config Errors" table
//! (`oci_cli.formatting.render_config_errors`, a `terminaltables.AsciiTable`).

use std::fmt;

use super::{ConfigError, ResolvedConfig};

/// What is wrong with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Problem {
    Missing,
    Malformed,
}

impl Problem {
    /// `missing` / `malformed`, as the SDK reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Malformed => "malformed",
        }
    }
}

/// One row of the CLI's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub key: &'static str,
    pub problem: Problem,
}

impl KeyProblem {
    /// The CLI's hint for this key and problem (`""` where it has none).
    pub fn hint(&self) -> &'static str {
        match (self.key, self.problem) {
            ("tenancy", Problem::Missing) => {
                "log into the console and find this OCID at the bottom of any page"
            }
            ("tenancy" | "user", Problem::Malformed) => "this must be an OCID",
            ("user", Problem::Missing) => {
                "log into the console and go to the user's settings page to find their OCID"
            }
            ("fingerprint", _) => {
                "openssl rsa -pubout -outform DER -in <path to your private key> | openssl md5 -c"
            }
            ("region", Problem::Missing) => "for example, us-phoenix-1",
            ("key_file", Problem::Missing) => {
                "the full path and filename of the private PEM key file"
            }
            _ => "",
        }
    }
}

/// `InvalidConfig`: the keys that are missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    /// The config file's path (or the config-free label).
    pub config_file: String,
    pub profile: String,
    /// Missing keys first (in the order user, tenancy, fingerprint, key_file, region), then
    /// malformed ones (tenancy, user, fingerprint). \[I\] The SDK iterates a Python `set`, whose
    /// order changes from run to run; we fix one.
    pub problems: Vec<KeyProblem>,
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self
            .problems
            .iter()
            .map(|p| format!("{} {}", p.key, p.problem.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        write!(
            f,
            "The config file at {} is invalid (profile [{}]): {keys}; set these keys in the profile or through OCI_CLI_* environment variables",
            self.config_file, self.profile
        )
    }
}

impl std::error::Error for InvalidConfig {}

impl InvalidConfig {
    /// The CLI's table, exactly (`terminaltables.AsciiTable` titled "Config Errors"), without a
    /// trailing newline.
    pub fn table(&self) -> String {
        let rows: Vec<[&str; 3]> = std::iter::once(["Key", "Error", "Hint"])
            .chain(
                self.problems
                    .iter()
                    .map(|p| [p.key, p.problem.as_str(), p.hint()]),
            )
            .collect();
        let mut widths = [0usize; 3];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let outer: Vec<usize> = widths.iter().map(|w| w + 2).collect();
        let border = |title: Option<&str>| -> String {
            let mut s = String::from("+");
            s.push_str(&titled_border(&outer, title));
            s.push('+');
            s
        };
        let row_line = |row: &[&str; 3]| -> String {
            let mut s = String::from("|");
            for (cell, w) in row.iter().zip(widths) {
                s.push(' ');
                s.push_str(cell);
                s.push_str(&" ".repeat(w - cell.chars().count()));
                s.push_str(" |");
            }
            s
        };
        let mut lines = vec![
            border(Some("Config Errors")),
            row_line(&rows[0]),
            border(None),
        ];
        lines.extend(rows[1..].iter().map(row_line));
        lines.push(border(None));
        lines.join("\n")
    }

    /// What the CLI prints (to stderr) before exiting 1.
    pub fn cli_message(&self) -> String {
        format!(
            "ERROR: The config file at {} is invalid:\n\n{}",
            self.config_file,
            self.table()
        )
    }
}

/// The part of a border between the corner characters, with `title` laid over it from the left
/// as terminaltables does: the title may run over column separators; it is dropped if longer
/// than the whole border.
fn titled_border(outer: &[usize], title: Option<&str>) -> String {
    let plain: Vec<String> = outer.iter().map(|w| "-".repeat(*w)).collect();
    let plain = plain.join("+");
    let Some(title) = title else {
        return plain;
    };
    let len = title.chars().count();
    if len > plain.chars().count() {
        return plain;
    }
    // Overlaying the title on the plain border gives the same result as terminaltables' loop.
    let mut s = title.to_string();
    s.extend(plain.chars().skip(len));
    s
}

/// The SDK's OCID pattern for `tenancy` and `user`:
/// `^([0-9a-zA-Z-_]+[.:])([0-9a-zA-Z-_]*[.:]){3,}([0-9a-zA-Z-_]+)$`, i.e. at least four `.`/`:`
/// separators, a non-empty first and last part, and only `[0-9A-Za-z_-]` in between. As with
/// Python's `$`, one trailing `\n` is allowed.
pub fn is_ocid(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let is_sep = |c: char| c == '.' || c == ':';
    if !s.chars().all(|c| is_word(c) || is_sep(c)) {
        return false;
    }
    let parts: Vec<&str> = s.split(is_sep).collect();
    parts.len() >= 5 && !parts[0].is_empty() && !parts[parts.len() - 1].is_empty()
}

/// The SDK's fingerprint pattern `^([0-9a-f]{2}:){15}[0-9a-f]{2}$` (lower-case hex only; one
/// trailing `\n` allowed, as with Python's `$`).
pub fn is_fingerprint(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let b = s.as_bytes();
    b.len() == 47
        && b.iter().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                *c == b':'
            } else {
                matches!(c, b'0'..=b'9' | b'a'..=b'f')
            }
        })
}

/// `oci.config.validate_config` as the CLI runs it for API-key auth.
///
/// Required: `user`, `tenancy`, `fingerprint`, `key_file` (or `key_content`) and `region`
/// (not required when `endpoint_given`, as the CLI does for `--endpoint`). A key is missing only
/// when absent; an empty value is present (and then malformed for the patterned keys).
/// `OCI_REGION` has already been applied by [`super::resolve`].
pub fn validate_api_key(
    resolved: &ResolvedConfig,
    endpoint_given: bool,
) -> Result<(), ConfigError> {
    let p = &resolved.profile;
    let mut problems = Vec::new();
    for key in ["user", "tenancy", "fingerprint", "key_file", "region"] {
        if key == "region" && endpoint_given {
            continue;
        }
        let present = p.get(key).is_some() || (key == "key_file" && p.get("key_content").is_some());
        if !present {
            problems.push(KeyProblem {
                key,
                problem: Problem::Missing,
            });
        }
    }
    type Check = (&'static str, fn(&str) -> bool);
    let checks: [Check; 3] = [
        ("tenancy", is_ocid),
        ("user", is_ocid),
        ("fingerprint", is_fingerprint),
    ];
    for (key, ok) in checks {
        if let Some(v) = p.get(key)
            && !ok(v)
        {
            problems.push(KeyProblem {
                key,
                problem: Problem::Malformed,
            });
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Invalid(InvalidConfig {
        config_file: resolved.config_label(),
        profile: resolved.profile_name.clone(),
        problems,
    }))
}
