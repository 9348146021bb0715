//! `~/.oci/config`: reading it exactly as the official Python SDK and `oci` CLI do, resolving the
//! profile the way the CLI does, validating it for API-key auth, and editing it.
//!
//! - [`ConfigFile`] reads a file with Python `configparser` semantics (see `parse.rs` for every
//!   rule); [`ConfigFile::profile`] merges `[DEFAULT]` into a section.
//! - [`from_file`] is `oci.config.from_file`: path fallbacks, `log_requests`, the `key_content`
//!   ban and the `key_file` existence check, with the SDK's messages.
//! - [`resolve`] is the CLI's `build_config`: `--config-file`/`OCI_CLI_CONFIG_FILE`, the profile
//!   from `--profile`/`OCI_CLI_PROFILE`/the rc file, config-free mode, the `OCI_CLI_*` overrides,
//!   `--region`, `--endpoint`, `OCI_REGION`, and the permission warnings.
//! - [`validate_api_key`] is `oci.config.validate_config` with the CLI's error table.
//! - [`upsert_profile`] / [`remove_profile`] edit one section and keep every other byte.

mod parse;
mod resolve;
mod validate;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::env::{self, Env};

pub use resolve::{
    ConfigOptions, ResolvedConfig, config_path_with_fallback, label_warning, permission_warning,
    rc_default_profile, rc_file_path, resolve,
};
pub use validate::{InvalidConfig, KeyProblem, Problem, is_fingerprint, is_ocid, validate_api_key};
pub use write::{remove_profile, upsert_profile, validate_profile_name};

/// The SDK's default `file_location`. Only this literal triggers the `OCI_CONFIG_FILE` and
/// `~/.oraclebmc/config` fallbacks.
pub const DEFAULT_LOCATION: &str = "~/.oci/config";
/// Tried when [`DEFAULT_LOCATION`] is missing and `OCI_CONFIG_FILE` is unset.
pub const FALLBACK_LOCATION: &str = "~/.oraclebmc/config";
/// The profile used when nothing else names one; always present in a parsed file.
pub const DEFAULT_PROFILE: &str = "DEFAULT";

const SDKCONFIG_HELP: &str = "For more info about config file and how to get required information, see https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm";

/// Keys whose values are secrets: never shown by `Debug`.
const SECRET_KEYS: &[&str] = &[
    "pass_phrase",
    "key_content",
    "token_exchange_client_secret",
    "workload_identity_client_secret",
];

/// Why a line could not be read (collected into [`ConfigError::Parsing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseProblem {
    /// 1-based line number.
    pub line: usize,
    pub kind: ParseProblemKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseProblemKind {
    /// Neither `=` nor `:` on a line that is not a header, a comment or a continuation.
    NoDelimiter,
    /// `= value` with nothing before the delimiter.
    EmptyKey,
}

fn fmt_problems(problems: &[ParseProblem]) -> String {
    problems
        .iter()
        .map(|p| {
            format!(
                "line {}: {}",
                p.line,
                match p.kind {
                    ParseProblemKind::NoDelimiter => "no '=' or ':' between key and value",
                    ParseProblemKind::EmptyKey => "nothing before the '='",
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Python's `repr()` of a string, for the common cases: single quotes unless the text has a `'`
/// and no `"`; backslash, the quote, `\n`, `\r`, `\t` and other ASCII controls escaped.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn fmt_line(line: &Option<usize>) -> String {
    line.map(|n| format!(" at line {n}")).unwrap_or_default()
}

/// Everything that can go wrong reading, resolving, validating or writing a config file.
///
/// The name of the Python exception each variant corresponds to is given by
/// [`ConfigError::python_exception`]. Messages never contain a passphrase or key content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `ConfigFileNotFound` (the SDK's text).
    #[error(
        "Could not find config file at {}, please follow the instructions in the link to setup the config file https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm",
        path.display()
    )]
    NotFound { path: PathBuf },

    /// The file exists but cannot be read (the SDK reports `ConfigFileNotFound`).
    #[error("cannot read config file {}: {source}; make it a readable regular file", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not UTF-8 (Python: `UnicodeDecodeError`).
    #[error("config file {} is not valid UTF-8 (line {line}); save it as UTF-8", path.display())]
    NotUtf8 { path: PathBuf, line: usize },

    /// Python: `MissingSectionHeaderError`.
    #[error(
        "config file {} line {line}: File contains no section headers; start the file with a section header such as [DEFAULT] before the first key",
        path.display()
    )]
    MissingSectionHeader { path: PathBuf, line: usize },

    /// Python: `DuplicateSectionError`.
    #[error(
        "config file {} line {line}: section '{section}' already exists; merge the two [{section}] sections or rename one",
        path.display()
    )]
    DuplicateSection {
        path: PathBuf,
        line: usize,
        section: String,
    },

    /// Python: `DuplicateOptionError`.
    #[error(
        "config file {} line {line}: option '{key}' in section '{section}' already exists; keep only one '{key}' in [{section}]",
        path.display()
    )]
    DuplicateOption {
        path: PathBuf,
        line: usize,
        section: String,
        key: String,
    },

    /// Python: `ParsingError` (all bad lines of the file).
    #[error(
        "config file {} contains parsing errors ({}); write entries as key=value, indent a line to continue the previous value, or start it with '#' to make it a comment",
        path.display(), fmt_problems(problems)
    )]
    Parsing {
        path: PathBuf,
        problems: Vec<ParseProblem>,
    },

    /// `ProfileNotFound` (the SDK's text, then the profiles the file has).
    #[error(
        "Profile '{profile}' not found in config file {} {SDKCONFIG_HELP} (profiles in this file: {}; names are case-sensitive)",
        path.display(), available.join(", ")
    )]
    ProfileNotFound {
        profile: String,
        path: PathBuf,
        available: Vec<String>,
    },

    /// `log_requests` is not one of 1/yes/true/on/0/no/false/off (Python: `ValueError`).
    #[error(
        "config file {}: {} is not a valid alias for True/False (log_requests{}); use true or false",
        path.display(), py_repr(value), fmt_line(line)
    )]
    InvalidBool {
        path: PathBuf,
        value: String,
        line: Option<usize>,
    },

    /// `key_content` in a file (Python: `ValueError`, the SDK's text first).
    #[error(
        "'key_content' cannot be specified in a config file for security reasons. To use this key you must add it to the config programmatically. {SDKCONFIG_HELP} (remove key_content from {}{} and use key_file, or set OCI_CLI_KEY_CONTENT)",
        path.display(), fmt_line(line)
    )]
    KeyContentInFile { path: PathBuf, line: Option<usize> },

    /// `InvalidKeyFilePath` (the SDK's text).
    ///
    /// `line` is the line where the profile's `key_file` is written (possibly in `[DEFAULT]`). The
    /// SDK instead searches the text for the value after the profile's header, so where the value
    /// is inherited from `[DEFAULT]` it names another line or none; ours always names the key.
    #[error(
        "Config file {} is invalid: the key_file's value '{}'{} must be a valid file path. {SDKCONFIG_HELP}",
        path.display(), key_file.display(), fmt_line(line)
    )]
    InvalidKeyFilePath {
        path: PathBuf,
        key_file: PathBuf,
        line: Option<usize>,
    },

    /// The CLI's rc file (`oci_cli_rc`) cannot be read.
    #[error("CLI rc file {}: {source}", path.display())]
    RcFile {
        path: PathBuf,
        #[source]
        source: Box<ConfigError>,
    },

    /// `InvalidConfig` from [`validate_api_key`]; [`InvalidConfig::cli_message`] renders the table.
    #[error(transparent)]
    Invalid(InvalidConfig),

    /// A profile name the CLI would refuse (`^[A-Za-z0-9._\-@]+$`, not `.` or `..`).
    #[error("{message}")]
    InvalidProfileName { name: String, message: String },

    /// A key or value that cannot be written so that it reads back unchanged.
    #[error("cannot write '{key}' to profile [{profile}]: {reason}")]
    InvalidEntry {
        profile: String,
        key: String,
        reason: &'static str,
    },

    /// Writing the file failed.
    #[error("cannot write config file {}: {source}; check the directory exists and is writable", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    /// The Python exception class the SDK/CLI raises for the same problem (for parity tests and
    /// for users comparing outputs); `None` for errors of the writer, which Python has no twin of.
    pub fn python_exception(&self) -> Option<&'static str> {
        Some(match self {
            ConfigError::NotFound { .. } | ConfigError::Unreadable { .. } => "ConfigFileNotFound",
            ConfigError::NotUtf8 { .. } => "UnicodeDecodeError",
            ConfigError::MissingSectionHeader { .. } => "MissingSectionHeaderError",
            ConfigError::DuplicateSection { .. } => "DuplicateSectionError",
            ConfigError::DuplicateOption { .. } => "DuplicateOptionError",
            ConfigError::Parsing { .. } => "ParsingError",
            ConfigError::ProfileNotFound { .. } => "ProfileNotFound",
            ConfigError::InvalidBool { .. } | ConfigError::KeyContentInFile { .. } => "ValueError",
            ConfigError::InvalidKeyFilePath { .. } => "InvalidKeyFilePath",
            ConfigError::Invalid(_) => "InvalidConfig",
            ConfigError::RcFile { source, .. } => return source.python_exception(),
            ConfigError::InvalidProfileName { .. }
            | ConfigError::InvalidEntry { .. }
            | ConfigError::Write { .. } => return None,
        })
    }
}

/// Where a profile value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written in the file at this 1-based line; `inherited` when it comes from `[DEFAULT]`.
    File { line: usize, inherited: bool },
    /// Set from this environment variable (`OCI_CLI_USER`, `OCI_REGION`, ...).
    Env(&'static str),
    /// Set from this command-line option (`--region`, `--endpoint`).
    Flag(&'static str),
    /// Set by the program.
    Program,
}

/// One key of a profile.
#[derive(Clone, PartialEq, Eq)]
pub struct ProfileEntry {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// A profile: the keys of one section with `[DEFAULT]` merged in (configparser order: the
/// section's own keys, then inherited ones), after any overrides.
///
/// The SDK's defaults (`log_requests=False`, `additional_user_agent=""`, `pass_phrase=None`) are
/// not stored as entries; [`Profile::log_requests`] and [`Profile::additional_user_agent`] apply
/// them. `Debug` hides `pass_phrase` and `key_content`.
#[derive(Clone, PartialEq, Eq)]
pub struct Profile {
    name: String,
    entries: Vec<ProfileEntry>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for e in &self.entries {
            if SECRET_KEYS.contains(&e.key.as_str()) {
                m.entry(&e.key, &"<redacted>");
            } else {
                m.entry(&e.key, &e.value);
            }
        }
        m.finish()?;
        write!(f, " (profile {:?})", self.name)
    }
}

impl fmt::Debug for ProfileEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: &dyn fmt::Debug = if SECRET_KEYS.contains(&self.key.as_str()) {
            &"<redacted>"
        } else {
            &self.value
        };
        f.debug_struct("ProfileEntry")
            .field("key", &self.key)
            .field("value", value)
            .field("origin", &self.origin)
            .finish()
    }
}

impl Profile {
    /// An empty profile (config-free mode, tests).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            entries: Vec::new(),
        }
    }

    /// A profile holding these pairs (origin [`Origin::Program`]); keys are lower-cased.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(name: &str, pairs: &[(K, V)]) -> Self {
        let mut p = Self::new(name);
        for (k, v) in pairs {
            p.set(k.as_ref(), v.as_ref(), Origin::Program);
        }
        p
    }

    /// The profile (section) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key` (lower-case), as written (no `~` expansion, quotes kept).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    pub fn entry(&self, key: &str) -> Option<&ProfileEntry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Where `key` came from.
    pub fn origin(&self, key: &str) -> Option<Origin> {
        self.entry(key).map(|e| e.origin)
    }

    /// The line of the file where `key` is written, if it comes from the file.
    pub fn line(&self, key: &str) -> Option<usize> {
        match self.origin(key)? {
            Origin::File { line, .. } => Some(line),
            _ => None,
        }
    }

    /// All keys and values in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
    }

    pub fn entries(&self) -> &[ProfileEntry] {
        &self.entries
    }

    /// Set `key` (lower-cased) to `value`, replacing any earlier value in place.
    pub fn set(&mut self, key: &str, value: impl Into<String>, origin: Origin) {
        let key = key.to_lowercase();
        let value = value.into();
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => {
                e.value = value;
                e.origin = origin;
            }
            None => self.entries.push(ProfileEntry { key, value, origin }),
        }
    }

    /// Remove `key`; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.key != key);
        before != self.entries.len()
    }

    /// `log_requests` through the SDK's `_as_bool`; absent or invalid is `false` ([`from_file`]
    /// rejects invalid values).
    pub fn log_requests(&self) -> bool {
        self.get("log_requests").and_then(as_bool).unwrap_or(false)
    }

    /// `additional_user_agent`, default `""`.
    pub fn additional_user_agent(&self) -> &str {
        self.get("additional_user_agent").unwrap_or("")
    }

    /// A path-valued key (`key_file`, `security_token_file`, ...) with `~` expanded.
    pub fn path(&self, key: &str, env: &dyn Env) -> Option<PathBuf> {
        self.get(key).map(|v| env::expand_user(v, env))
    }
}

/// The SDK's `_as_bool`: `1/yes/true/on` and `0/no/false/off`, case-insensitive.
pub fn as_bool(value: &str) -> Option<bool> {
    match value.to_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// A parsed config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    path: PathBuf,
    parsed: parse::Parsed,
    default_section: bool,
}

/// Decode file bytes: UTF-8, with a leading byte order mark skipped (see `parse.rs`).
fn decode<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, ConfigError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| ConfigError::NotUtf8 {
        path: path.to_path_buf(),
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ConfigError::NotFound {
            path: path.to_path_buf(),
        },
        _ => ConfigError::Unreadable {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

impl ConfigFile {
    /// Parse config-file text (`[DEFAULT]` is the default section); `path` only names the file in
    /// errors. A leading BOM (U+FEFF) is skipped.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
        Self::parse_dialect(text.strip_prefix('\u{feff}').unwrap_or(text), path, true)
    }

    /// Parse the CLI rc file: like [`ConfigFile::parse`] but `[DEFAULT]` is an ordinary section
    /// (the CLI reads it with `default_section=None`).
    pub fn parse_rc(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
        Self::parse_dialect(text.strip_prefix('\u{feff}').unwrap_or(text), path, false)
    }

    fn parse_dialect(text: &str, path: &Path, default: bool) -> Result<ConfigFile, ConfigError> {
        let parsed = parse::parse(text, path, default.then_some(DEFAULT_PROFILE))?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            parsed,
            default_section: default,
        })
    }

    /// Read and parse a config file. A missing file is [`ConfigError::NotFound`].
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let bytes = read_file(path)?;
        Self::parse(decode(&bytes, path)?, path)
    }

    /// Read and parse a CLI rc file.
    pub fn load_rc(path: &Path) -> Result<ConfigFile, ConfigError> {
        let bytes = read_file(path)?;
        Self::parse_rc(decode(&bytes, path)?, path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of the sections other than `[DEFAULT]`, in file order.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.parsed.sections.iter().map(|s| s.name.as_str())
    }

    /// Whether `profile(name)` would find something (`DEFAULT` always exists in a config file).
    pub fn has_profile(&self, name: &str) -> bool {
        (self.default_section && name == DEFAULT_PROFILE) || self.section_names().any(|s| s == name)
    }

    /// The profile `name` with `[DEFAULT]` merged in; `DEFAULT` itself always exists.
    pub fn profile(&self, name: &str) -> Option<Profile> {
        let defaults = |p: &mut Profile| {
            for e in &self.parsed.defaults {
                if p.entry(&e.key).is_none() {
                    p.entries.push(ProfileEntry {
                        key: e.key.clone(),
                        value: e.value.clone(),
                        origin: Origin::File {
                            line: e.line,
                            inherited: name != DEFAULT_PROFILE,
                        },
                    });
                }
            }
        };
        let mut p = Profile::new(name);
        if let Some(section) = self.parsed.sections.iter().find(|s| s.name == name) {
            for e in &section.entries {
                p.entries.push(ProfileEntry {
                    key: e.key.clone(),
                    value: e.value.clone(),
                    origin: Origin::File {
                        line: e.line,
                        inherited: false,
                    },
                });
            }
        } else if !(self.default_section && name == DEFAULT_PROFILE) {
            return None;
        }
        defaults(&mut p);
        Some(p)
    }

    pub(crate) fn kinds(&self) -> &[parse::LineKind] {
        &self.parsed.kinds
    }

    pub(crate) fn section_name_at(&self, index: Option<usize>) -> &str {
        match index {
            Some(i) => self.parsed.sections[i].name.as_str(),
            None => DEFAULT_PROFILE,
        }
    }
}

/// `oci.config.from_file(file_location, profile_name)`.
///
/// `file_location` is the path as the user wrote it: `~` is expanded, and only the literal
/// [`DEFAULT_LOCATION`] falls back to `OCI_CONFIG_FILE` and `~/.oraclebmc/config`
/// ([`config_path_with_fallback`]). Then, in the SDK's order: the profile must exist (`DEFAULT`
/// always does), `log_requests` must be a boolean alias, `key_content` must not be in the file,
/// and `key_file`, if present, must name an existing file after `~` expansion.
pub fn from_file(
    file_location: &str,
    profile_name: &str,
    env: &dyn Env,
) -> Result<Profile, ConfigError> {
    let path = config_path_with_fallback(file_location, env);
    load_profile(&path, profile_name, env)
}

/// [`from_file`] for an already resolved path.
pub fn load_profile(
    path: &Path,
    profile_name: &str,
    env: &dyn Env,
) -> Result<Profile, ConfigError> {
    let file = ConfigFile::load(path)?;
    let profile = file
        .profile(profile_name)
        .ok_or_else(|| ConfigError::ProfileNotFound {
            profile: profile_name.to_string(),
            path: path.to_path_buf(),
            available: std::iter::once(DEFAULT_PROFILE)
                .chain(file.section_names())
                .map(str::to_string)
                .collect(),
        })?;
    if let Some(v) = profile.get("log_requests")
        && as_bool(v).is_none()
    {
        return Err(ConfigError::InvalidBool {
            path: path.to_path_buf(),
            value: v.to_string(),
            line: profile.line("log_requests"),
        });
    }
    if profile.get("key_content").is_some() {
        return Err(ConfigError::KeyContentInFile {
            path: path.to_path_buf(),
            line: profile.line("key_content"),
        });
    }
    if let Some(key_file) = profile.path("key_file", env)
        && !key_file.is_file()
    {
        return Err(ConfigError::InvalidKeyFilePath {
            path: path.to_path_buf(),
            key_file,
            line: profile.line("key_file"),
        });
    }
    Ok(profile)
}
