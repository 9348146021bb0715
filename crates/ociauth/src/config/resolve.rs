//! How the `oci` CLI 3.95.1 arrives at a config (`cli_root.cli`, `cli_util.build_config`,
//! `cli_util.is_config_valid_from_env`, `cli_root.eager_load_cli_rc_file`).

use std::path::{Path, PathBuf};

use super::{
    ConfigError, ConfigFile, DEFAULT_LOCATION, DEFAULT_PROFILE, FALLBACK_LOCATION, Origin, Profile,
    load_profile,
};
use crate::env::{self, Env};
use crate::fsutil;

/// `--cli-rc-file` default.
pub const CLI_RC_DEFAULT_LOCATION: &str = "~/.oci/oci_cli_rc";
/// Tried last for the rc file.
pub const CLI_RC_FALLBACK_LOCATION: &str = "~/.oci/cli-defaults";

/// `OCI_CLI_*` variables that override config keys after the file is read, in the CLI's order.
const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("OCI_CLI_USER", "user"),
    ("OCI_CLI_FINGERPRINT", "fingerprint"),
    ("OCI_CLI_KEY_FILE", "key_file"),
    ("OCI_CLI_KEY_CONTENT", "key_content"),
    ("OCI_CLI_TENANCY", "tenancy"),
    ("OCI_CLI_PASSPHRASE", "pass_phrase"),
    ("OCI_CLI_DELEGATION_TOKEN_FILE", "delegation_token_file"),
    ("OCI_CLI_SECURITY_TOKEN_FILE", "security_token_file"),
];

/// The CLI's global options that shape the config; `None` means "not given on the command line".
/// Environment fallbacks (`OCI_CLI_CONFIG_FILE`, `OCI_CLI_PROFILE`, `OCI_CLI_REGION`,
/// `OCI_CLI_ENDPOINT`, `OCI_CLI_RC_FILE`) are applied by [`resolve`], not by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigOptions {
    /// `--config-file` (default `~/.oci/config`).
    pub config_file: Option<PathBuf>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--endpoint`.
    pub endpoint: Option<String>,
    /// `--cli-rc-file` / `--defaults-file` (default `~/.oci/oci_cli_rc`).
    pub cli_rc_file: Option<PathBuf>,
}

/// The config a command runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedConfig {
    /// The file read; `None` in config-free mode (all of `OCI_CLI_USER`, `_TENANCY`,
    /// `_FINGERPRINT`, a region and `_KEY_FILE` or `_KEY_CONTENT` set).
    pub config_path: Option<PathBuf>,
    pub profile_name: String,
    /// The profile after the `OCI_CLI_*`, region and endpoint overrides. `endpoint` is present
    /// only when `--endpoint`/`OCI_CLI_ENDPOINT` was given (the CLI drops one from the file).
    pub profile: Profile,
    /// Permission warnings, each the CLI's exact stderr text; print each with `eprintln!`.
    pub warnings: Vec<String>,
}

impl ResolvedConfig {
    /// How messages name the config: its path, or the environment in config-free mode.
    pub fn config_label(&self) -> String {
        match &self.config_path {
            Some(p) => p.display().to_string(),
            None => "(none: configured by OCI_CLI_* environment variables)".to_string(),
        }
    }
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Python `os.path.expandvars` (POSIX): `$name` and `${name}` with `name` in `[A-Za-z0-9_]`;
/// unknown variables are left as written.
fn expand_vars(s: &str, env: &dyn Env) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after.find(|c: char| !is_word(c)).unwrap_or(after.len());
            (&after[..end], end)
        };
        if len == 0 {
            // Not a variable reference: keep the `$`.
            out.push('$');
            rest = after;
            continue;
        }
        match env.var(name).filter(|_| !name.is_empty()) {
            Some(v) => out.push_str(&v),
            None => {
                out.push('$');
                out.push_str(&after[..len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// `~` then `$VAR` expansion, as the CLI does for rc-file paths.
fn expand_rc(p: &str, env: &dyn Env) -> PathBuf {
    PathBuf::from(expand_vars(&path_str(&env::expand_user(p, env)), env))
}

/// The rc file the CLI reads: `--cli-rc-file` (default `~/.oci/oci_cli_rc`) if it exists, then
/// `OCI_CLI_RC_FILE`, then `~/.oci/oci_cli_rc`, then `~/.oci/cli-defaults`; `None` if none exists.
pub fn rc_file_path(opts: &ConfigOptions, env: &dyn Env) -> Option<PathBuf> {
    let given = opts
        .cli_rc_file
        .as_deref()
        .map(path_str)
        .unwrap_or_else(|| CLI_RC_DEFAULT_LOCATION.to_string());
    let mut candidates = vec![expand_rc(&given, env)];
    if let Some(v) = env.var("OCI_CLI_RC_FILE") {
        candidates.push(expand_rc(&v, env));
    }
    candidates.push(expand_rc(CLI_RC_DEFAULT_LOCATION, env));
    candidates.push(expand_rc(CLI_RC_FALLBACK_LOCATION, env));
    candidates.into_iter().find(|p| p.exists())
}

/// `default_profile` from the `[OCI_CLI_SETTINGS]` section of the rc file, if any.
///
/// The rc file is parsed with the config parser, `[DEFAULT]` being an ordinary section there. A
/// file that exists but cannot be read as a file (a directory) is ignored, as the CLI does.
pub fn rc_default_profile(
    opts: &ConfigOptions,
    env: &dyn Env,
) -> Result<Option<String>, ConfigError> {
    let Some(path) = rc_file_path(opts, env) else {
        return Ok(None);
    };
    let rc = match ConfigFile::load_rc(&path) {
        Ok(rc) => rc,
        Err(ConfigError::NotFound { .. } | ConfigError::Unreadable { .. }) => return Ok(None),
        Err(e) => {
            return Err(ConfigError::RcFile {
                path,
                source: Box::new(e),
            });
        }
    };
    Ok(rc
        .profile("OCI_CLI_SETTINGS")
        .and_then(|s| s.get("default_profile").map(str::to_string)))
}

/// The SDK's `_get_config_path_with_fallback`: a location other than the literal
/// `~/.oci/config` is used as given (after `~` expansion); otherwise `~/.oci/config` if it is a
/// file, else `OCI_CONFIG_FILE` if set and non-empty, else `~/.oraclebmc/config` if it is a file,
/// else `~/.oci/config` (which then fails as not found).
pub fn config_path_with_fallback(file_location: &str, env: &dyn Env) -> PathBuf {
    let expanded = env::expand_user(file_location, env);
    if file_location != DEFAULT_LOCATION || expanded.is_file() {
        return expanded;
    }
    if let Some(v) = nonempty(env.var("OCI_CONFIG_FILE").as_deref()) {
        return env::expand_user(v, env);
    }
    let fallback = env::expand_user(FALLBACK_LOCATION, env);
    if fallback.is_file() {
        return fallback;
    }
    expanded
}

/// The CLI's permission warning for `path` (exact text, without the colours; ends with one `\n`
/// so that `eprintln!` reproduces the CLI's blank line).
pub fn permission_warning(path: &Path) -> String {
    let p = path.display();
    format!(
        "WARNING: Permissions on {p} are too open. \n\
         To fix this please try executing the following command: \n\
         oci setup repair-file-permissions --file {p} \n\
         Alternatively to hide this warning, you may set the environment variable, OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING: \n\
         export OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING=True\n"
    )
}

fn check_permissions(path: &Path, env: &dyn Env, warnings: &mut Vec<String>) {
    if env
        .var("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING")
        .as_deref()
        == Some("True")
    {
        return;
    }
    if fsutil::permissions_too_open(path) {
        let w = permission_warning(path);
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
}

/// The CLI's label warning for API-key auth (call it only when `--auth` is unset or `api_key`):
/// `Some(text)` when the key file, with trailing whitespace removed, does not end with
/// `OCI_API_KEY`, unless `SUPPRESS_LABEL_WARNING` is `true` (any case).
///
/// The path shown is `key_file` with `~` expanded (the CLI shows an `OCI_CLI_KEY_FILE` value
/// unexpanded). An unreadable key file gives no warning; loading the key reports it.
pub fn label_warning(resolved: &ResolvedConfig, env: &dyn Env) -> Option<String> {
    if env
        .var("SUPPRESS_LABEL_WARNING")
        .is_some_and(|v| v.to_lowercase() == "true")
    {
        return None;
    }
    let key_file = nonempty(resolved.profile.get("key_file"))?;
    let path = env::expand_user(key_file, env);
    let content = std::fs::read(&path).ok()?;
    let text = String::from_utf8_lossy(&content);
    if super::parse::py_rstrip(&text).ends_with("OCI_API_KEY") {
        return None;
    }
    Some(format!(
        "Warning: To increase security of your API key located at {}, append an extra line with 'OCI_API_KEY' at the end. For more information, refer to https://docs.oracle.com/iaas/Content/API/Concepts/apisigningkey.htm. To suppress the warning, set the env variable SUPPRESS_LABEL_WARNING=True",
        path.display()
    ))
}

/// `is_config_valid_from_env`: every required key comes from the environment (presence counts,
/// even empty), so no file is read.
fn config_free(env: &dyn Env, region_given: bool) -> bool {
    let has = |v: &str| env.var(v).is_some();
    has("OCI_CLI_USER")
        && has("OCI_CLI_TENANCY")
        && has("OCI_CLI_FINGERPRINT")
        && (has("OCI_CLI_REGION") || region_given)
        && (has("OCI_CLI_KEY_FILE") || has("OCI_CLI_KEY_CONTENT"))
}

/// An option's value, or its environment variable when the option is absent or empty
/// (click's `read_values_from_env`), or `None` when both are empty.
fn option_or_env(
    flag: Option<&str>,
    flag_name: &'static str,
    var: &'static str,
    env: &dyn Env,
) -> Option<(String, Origin)> {
    if let Some(v) = nonempty(flag) {
        return Some((v.to_string(), Origin::Flag(flag_name)));
    }
    let v = env.var(var)?;
    (!v.is_empty()).then_some((v, Origin::Env(var)))
}

/// Resolve the config as `oci` does for a command.
///
/// 1. Profile: `--profile`, else `OCI_CLI_PROFILE` (even empty), else `default_profile` from the
///    rc file, else `DEFAULT`. The rc file is read only when needed (the CLI always reads it and
///    fails on a broken one even when `--profile` is given).
/// 2. Config-free mode when `OCI_CLI_USER`, `OCI_CLI_TENANCY`, `OCI_CLI_FINGERPRINT`, a region
///    (`OCI_CLI_REGION` set, or a non-empty `--region`) and `OCI_CLI_KEY_FILE` or
///    `OCI_CLI_KEY_CONTENT` are set: no file is read.
/// 3. Otherwise the file is `--config-file` unless absent, empty or the literal `~/.oci/config`,
///    then `OCI_CLI_CONFIG_FILE` (when set), else `~/.oci/config` with the SDK's fallbacks (an
///    empty `--config-file` counts as absent; the CLI would look for a file named ""); it is
///    loaded with [`load_profile`] (so `key_file` is checked before the overrides, as in the CLI).
/// 4. The `OCI_CLI_*` key variables override (set, even empty, wins); then a non-empty
///    `--region`/`OCI_CLI_REGION` sets `region`; `--endpoint`/`OCI_CLI_ENDPOINT` sets `endpoint`,
///    otherwise an `endpoint` from the file is dropped.
/// 5. `region` still missing: a non-empty `OCI_REGION` (the SDK applies it during validation).
/// 6. Permission warnings (`mode & 0o177`, unless `OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING` is
///    exactly `True`) for the config file, `key_file` and `security_token_file` (`~` expanded;
///    missing files are skipped). The CLI checks the token file only for `--auth
///    security_token` and uses `lstat`, so it also warns on any symlink; we follow symlinks.
///
/// Not done here (the CLI's job): the CLI's own `additional_user_agent`, `--debug` forcing
/// `log_requests`, and falling back to an empty config for instance/resource principals when
/// the profile or key file is missing.
pub fn resolve(opts: &ConfigOptions, env: &dyn Env) -> Result<ResolvedConfig, ConfigError> {
    let profile_name = match &opts.profile {
        Some(p) => p.clone(),
        None => match env.var("OCI_CLI_PROFILE") {
            Some(p) => p,
            None => rc_default_profile(opts, env)?.unwrap_or_else(|| DEFAULT_PROFILE.to_string()),
        },
    };
    let region = option_or_env(opts.region.as_deref(), "--region", "OCI_CLI_REGION", env);
    let endpoint = option_or_env(
        opts.endpoint.as_deref(),
        "--endpoint",
        "OCI_CLI_ENDPOINT",
        env,
    );
    let mut warnings = Vec::new();

    let (config_path, mut profile) = if config_free(env, nonempty(opts.region.as_deref()).is_some())
    {
        (None, Profile::new(profile_name.clone()))
    } else {
        let given = opts
            .config_file
            .as_deref()
            .map(path_str)
            .filter(|s| !s.is_empty() && s != DEFAULT_LOCATION);
        let location = match (given, env.var("OCI_CLI_CONFIG_FILE")) {
            (Some(g), _) => g,
            (None, Some(v)) => v,
            (None, None) => DEFAULT_LOCATION.to_string(),
        };
        let path = config_path_with_fallback(&location, env);
        let profile = load_profile(&path, &profile_name, env)?;
        check_permissions(&path, env, &mut warnings);
        (Some(path), profile)
    };

    for (var, key) in ENV_OVERRIDES {
        if let Some(v) = env.var(var) {
            profile.set(key, v, Origin::Env(var));
        }
    }
    if let Some((v, origin)) = region {
        profile.set("region", v, origin);
    }
    match endpoint {
        Some((v, origin)) => profile.set("endpoint", v, origin),
        None => {
            profile.remove("endpoint");
        }
    }
    if profile.get("region").is_none()
        && let Some(v) = nonempty(env.var("OCI_REGION").as_deref())
    {
        profile.set("region", v, Origin::Env("OCI_REGION"));
    }
    for key in ["key_file", "security_token_file"] {
        if let Some(p) = profile.path(key, env) {
            check_permissions(&p, env, &mut warnings);
        }
    }

    Ok(ResolvedConfig {
        config_path,
        profile_name,
        profile,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn expandvars_like_python() {
        let env = MapEnv::new().with("A", "x").with("HOME", "/h");
        assert_eq!(
            expand_vars("$A/${A}/$B/${B}/$/${", &env),
            "x/x/$B/${B}/$/${"
        );
        assert_eq!(expand_vars("a$A_b", &env), "a$A_b");
        assert_eq!(expand_vars("${}", &env), "${}");
    }
}
