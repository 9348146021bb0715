//! Everything a command that talks to OCI needs: the resolved config (with the CLI's warnings
//! printed), a credentials provider for `--auth`, the signing client and the service endpoint;
//! and the mapping of library errors to what the CLI prints.

use std::path::PathBuf;
use std::sync::Arc;

use ociauth::client::{Client, ClientOptions};
use ociauth::config::{self, ConfigError, ConfigOptions, ResolvedConfig};
use ociauth::env::{Env, ProcessEnv};
use ociauth::keys::KeyError;
use ociauth::providers::api_key::{ApiKeyConfig, ApiKeyProvider};
use ociauth::regions::{self, Service};
use ociauth::{CredentialsProvider, Error};

use crate::errors::CliError;
use crate::globals::{AuthMethod, GlobalArgs};
use crate::output::OutputOptions;
use crate::util::{Color, stdin_is_terminal, styled_for_stderr};

/// A command's connection to OCI.
pub struct Ctx {
    pub client: Client,
    pub resolved: ResolvedConfig,
    pub auth: AuthMethod,
    pub out: OutputOptions,
    pub request_id: String,
    endpoint_override: Option<String>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("profile", &self.resolved.profile_name)
            .field("auth", &self.auth)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// Resolve the config as the official CLI does (file, profile, `OCI_CLI_*` overrides, region and
/// endpoint), print its warnings, and validate it for the auth method.
pub fn resolve_config(
    g: &GlobalArgs,
    auth: AuthMethod,
    env: &dyn Env,
) -> Result<ResolvedConfig, CliError> {
    let opts = ConfigOptions {
        config_file: g.config_file.as_ref().map(PathBuf::from),
        profile: g.profile.clone(),
        region: g.region.clone(),
        endpoint: g.endpoint.clone(),
        cli_rc_file: g.cli_rc_file.as_ref().map(PathBuf::from),
    };
    let resolved = config::resolve(&opts, env).map_err(config_error)?;
    for w in &resolved.warnings {
        eprintln!("{}", permission_warning_styled(w));
    }
    if auth == AuthMethod::ApiKey {
        if let Some(w) = config::label_warning(&resolved, env) {
            eprintln!("{}", styled_for_stderr(&w, Color::Yellow));
        }
        let endpoint_given = resolved.profile.get("endpoint").is_some();
        config::validate_api_key(&resolved, endpoint_given).map_err(config_error)?;
    }
    Ok(resolved)
}

/// The CLI's permission warning with its first and third lines red on a terminal.
fn permission_warning_styled(w: &str) -> String {
    w.split('\n')
        .enumerate()
        .map(|(i, line)| {
            if (i == 0 || i == 2) && !line.is_empty() {
                styled_for_stderr(line, Color::Red)
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The credentials provider for `--auth` (or `OCI_CLI_AUTH`). Every auth method goes through
/// here; `api_key` and `security_token` exist so far, the others answer "not yet supported".
pub fn build_provider(
    g: &GlobalArgs,
    resolved: &ResolvedConfig,
) -> Result<Arc<dyn CredentialsProvider>, CliError> {
    let env = &ProcessEnv;
    match g.auth_method()? {
        AuthMethod::ApiKey => {
            let mut cfg = ApiKeyConfig::from_profile(&resolved.profile, env)
                .map_err(|e| lib_error(e, None))?;
            let provider = match ApiKeyProvider::new(cfg.clone()) {
                Err(Error::KeyFile {
                    source: KeyError::PassphraseRequired,
                    path,
                }) if stdin_is_terminal() => {
                    // As the CLI: ask for the passphrase when a terminal can answer.
                    let _ = path;
                    let pass = crate::prompt::secret("Private key passphrase:")?;
                    cfg.pass_phrase = Some(pass);
                    ApiKeyProvider::new(cfg).map_err(|e| lib_error(e, None))?
                }
                other => other.map_err(|e| lib_error(e, None))?,
            };
            if let Some(w) = provider.fingerprint_warning() {
                tracing::debug!("{w}");
            }
            Ok(Arc::new(provider))
        }
        AuthMethod::SecurityToken => crate::cmd::session::token_provider(g, resolved),
        AuthMethod::WorkloadIdentityFederation => crate::cmd::exchange::wif_provider(g, resolved),
        other => Err(CliError::fatal(format!(
            "--auth {} is not yet supported by ociauth; use --auth api_key (the default)",
            other.name()
        ))),
    }
}

impl Ctx {
    /// Resolve the config, build the provider and the client.
    pub fn new(g: &GlobalArgs) -> Result<Ctx, CliError> {
        let auth = g.auth_method()?;
        if !matches!(
            auth,
            AuthMethod::ApiKey | AuthMethod::SecurityToken | AuthMethod::WorkloadIdentityFederation
        ) {
            // Refuse before reading any file: the other methods do not exist yet.
            return Err(CliError::fatal(format!(
                "--auth {} is not yet supported by ociauth; use --auth api_key (the default)",
                auth.name()
            )));
        }
        let env = ProcessEnv;
        let resolved = resolve_config(g, auth, &env)?;
        // A session profile inheriting `user` from [DEFAULT] signs with its token (spec §4.8).
        let trap = crate::cmd::session::session_profile_trap(g, auth, &resolved);
        let g = trap.as_ref().unwrap_or(g);
        let auth = g.auth_method()?;
        let provider = build_provider(g, &resolved)?;
        let request_id = g.request_id();
        let opts = ClientOptions {
            ca_bundle: g.cert_bundle.as_ref().map(PathBuf::from),
            no_retry: g.no_retry,
            request_id: Some(request_id.clone()),
            ..ClientOptions::default()
        };
        let client = Client::new(provider, opts).map_err(|e| lib_error(e, None))?;
        Ok(Ctx {
            client,
            endpoint_override: resolved.profile.get("endpoint").map(str::to_string),
            resolved,
            auth,
            out: g.output_options(),
            request_id,
        })
    }

    /// The base URL of a service: `--endpoint` as given (plus the base path), else the region's.
    pub fn endpoint(&self, service: Service) -> Result<String, CliError> {
        if let Some(url) = &self.endpoint_override {
            let base = service.base_path();
            if base.is_empty() || url.ends_with(base) || url.ends_with(&format!("{base}/")) {
                return Ok(url.clone());
            }
            return Ok(format!("{url}{base}"));
        }
        let region = self.resolved.profile.get("region").ok_or_else(|| {
            CliError::fatal(format!(
                "no region: set region in profile [{}] of {}, or pass --region (or OCI_CLI_REGION)",
                self.resolved.profile_name,
                self.resolved.config_label()
            ))
        })?;
        let region = regions::resolve_region(region, &ProcessEnv).map_err(|e| {
            CliError::fatal(format!("{e} (region set by {})", self.origin("region")))
        })?;
        Ok(regions::endpoint_with_override(service, &region, None))
    }

    /// Where a profile value came from, for messages: `--region`, `OCI_CLI_REGION`, or
    /// `line 5 of /path/config`.
    pub fn origin(&self, key: &str) -> String {
        use ociauth::config::Origin;
        match self.resolved.profile.origin(key) {
            Some(Origin::Flag(f)) => f.to_string(),
            Some(Origin::Env(v)) => v.to_string(),
            Some(Origin::File { line, .. }) => {
                format!("{key} at line {line} of {}", self.resolved.config_label())
            }
            _ => format!(
                "{key} of profile [{}] in {}",
                self.resolved.profile_name,
                self.resolved.config_label()
            ),
        }
    }

    /// Map a library error for this command; on a 401 also print the CLI's hints.
    pub async fn error(&self, e: Error) -> CliError {
        if let Error::Service(s) = &e
            && s.status == 401
        {
            self.warn_401().await;
        }
        lib_error(e, Some(&self.request_id))
    }

    /// The CLI's 401 hints: a session token in the profile that is not used, and clock skew
    /// (HEAD the service endpoint and compare its `Date` with ours).
    async fn warn_401(&self) {
        if self.resolved.profile.get("security_token_file").is_some()
            && self.auth != AuthMethod::SecurityToken
        {
            eprintln!(
                "{}",
                styled_for_stderr(
                    "WARNING: The active profile contains a value for 'security_token_file' which is not being used. To authenticate using the token, specify --auth security_token",
                    Color::Red
                )
            );
        }
        if let Ok(endpoint) = self.endpoint(Service::ObjectStorage)
            && let Some(w) = crate::clock_skew::check(&endpoint).await
        {
            eprintln!("{}", styled_for_stderr(&w, Color::Red));
        }
    }
}

/// What the CLI prints for a config error: the SDK's message (the validation table for an
/// invalid profile).
pub fn config_error(e: ConfigError) -> CliError {
    match e {
        ConfigError::Invalid(inv) => {
            let msg = inv.cli_message();
            CliError::Fatal(msg.strip_prefix("ERROR: ").unwrap_or(&msg).to_string())
        }
        other => CliError::fatal(other),
    }
}

/// Map any library error to the CLI's output: service errors as `ServiceError:` JSON, the rest
/// as one `ERROR:` line.
pub fn lib_error(e: Error, request_id: Option<&str>) -> CliError {
    match e {
        Error::Service(s) => CliError::Service(Box::new(crate::errors::ServiceReport::from_error(
            &s, request_id,
        ))),
        Error::Config(c) => config_error(c),
        Error::KeyFile {
            path,
            source: KeyError::PassphraseRequired,
        } => CliError::fatal(format!(
            "the private key {} is encrypted and needs a passphrase: set pass_phrase in the profile or OCI_CLI_PASSPHRASE (stdin is not a terminal, so ociauth cannot prompt for it)",
            path.display()
        )),
        Error::KeyFile {
            path,
            source: KeyError::WrongPassphrase,
        } => CliError::fatal(format!(
            "the passphrase for the private key {} is wrong: correct pass_phrase in the profile or OCI_CLI_PASSPHRASE",
            path.display()
        )),
        Error::KeyFile { path, source } => CliError::fatal(format!(
            "cannot use the private key {}: {source}",
            path.display()
        )),
        Error::Transport(msg) => CliError::fatal(format!(
            "{msg} (check --endpoint/--region and that the service is reachable)"
        )),
        other => CliError::fatal(other),
    }
}
