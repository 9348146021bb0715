//! Everything a command that talks to OCI needs: the resolved config (with the CLI's warnings
//! printed), a credentials provider for `--auth`, the signing client and the service endpoint;
//! and the mapping of library errors to what the CLI prints.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use ociauth::client::{Client, ClientOptions};
use ociauth::config::{self, ConfigError, ConfigOptions, ResolvedConfig};
use ociauth::env::{Clock, Env, ProcessEnv, SystemClock};
use ociauth::keys::KeyError;
use ociauth::providers::api_key::{ApiKeyConfig, ApiKeyProvider};
use ociauth::providers::instance_principal::{InstancePrincipalOptions, InstancePrincipalProvider};
use ociauth::providers::oke_workload_identity::{
    OkeWorkloadIdentityOptions, OkeWorkloadIdentityProvider,
};
use ociauth::providers::resource_principal::{ResourcePrincipalOptions, ResourcePrincipalProvider};
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
    /// The region the principal credentials name (instance metadata, `OCI_RESOURCE_PRINCIPAL_REGION`),
    /// used when neither `--region` nor the profile gives one.
    provider_region: OnceLock<String>,
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
    let resolved = match config::resolve(&opts, env) {
        Ok(r) => r,
        // As the CLI: instance, resource and OKE principals need no config file or profile.
        Err(
            e @ (ConfigError::NotFound { .. }
            | ConfigError::ProfileNotFound { .. }
            | ConfigError::InvalidKeyFilePath { .. }),
        ) if is_principal(auth) => {
            tracing::debug!("--auth {}: no usable config ({e}); using none", auth.name());
            config_without_file(&opts, env)
        }
        Err(e) => return Err(config_error(e)),
    };
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

/// The auth methods whose credentials come from the environment (instance metadata, platform
/// variables, a Kubernetes service account) rather than the config file.
pub fn is_principal(auth: AuthMethod) -> bool {
    matches!(
        auth,
        AuthMethod::InstancePrincipal
            | AuthMethod::ResourcePrincipal
            | AuthMethod::OkeWorkloadIdentity
    )
}

/// The config of a principal method when the file or the profile is missing (the CLI's
/// `build_empty_config`): an empty profile plus `--region`/`OCI_CLI_REGION` (else `OCI_REGION`)
/// and `--endpoint`/`OCI_CLI_ENDPOINT`.
fn config_without_file(opts: &ConfigOptions, env: &dyn Env) -> ResolvedConfig {
    use ociauth::config::{Origin, Profile};
    let set = |v: Option<String>| v.filter(|s| !s.is_empty());
    let name = set(opts.profile.clone())
        .or_else(|| env.var("OCI_CLI_PROFILE"))
        .unwrap_or_else(|| "DEFAULT".to_string());
    let mut profile = Profile::new(name.clone());
    if let Some(r) = set(opts.region.clone()) {
        profile.set("region", r, Origin::Flag("--region"));
    } else if let Some(r) = set(env.var("OCI_CLI_REGION")) {
        profile.set("region", r, Origin::Env("OCI_CLI_REGION"));
    } else if let Some(r) = set(env.var("OCI_REGION")) {
        profile.set("region", r, Origin::Env("OCI_REGION"));
    }
    if let Some(e) = set(opts.endpoint.clone()) {
        profile.set("endpoint", e, Origin::Flag("--endpoint"));
    } else if let Some(e) = set(env.var("OCI_CLI_ENDPOINT")) {
        profile.set("endpoint", e, Origin::Env("OCI_CLI_ENDPOINT"));
    }
    ResolvedConfig {
        config_path: None,
        profile_name: name,
        profile,
        warnings: Vec::new(),
    }
}

/// `OCIAUTH_OKE_PROXYMUX_PORT` **[I]**: the OKE proxymux port instead of the SDKs' fixed 12250
/// (for a local emulator whose proxymux listens elsewhere). Not an `oci` CLI variable.
pub const OKE_PROXYMUX_PORT_VAR: &str = "OCIAUTH_OKE_PROXYMUX_PORT";

/// The instance, resource or OKE principal provider, wrapped in the caching provider (refresh
/// ahead of expiry, single flight, renewed after a 401). Nothing is fetched here.
///
/// - `instance_principal`: `OCI_METADATA_BASE_URL` (default the link-local metadata service),
///   `--federation-endpoint`/`OCI_CLI_FEDERATION_ENDPOINT` (default `https://auth.<region>…/v1/x509`),
///   `--cert-bundle` trusted for the federation endpoint.
/// - `resource_principal`: the `OCI_RESOURCE_PRINCIPAL_*` variables (2.2, 1.1, 3.0). Under 1.1 the
///   instance principal beneath it takes the same settings as above **[I]** (the CLI passes no
///   federation endpoint there).
/// - `oke_workload_identity`: `KUBERNETES_SERVICE_HOST`, `OCI_KUBERNETES_SERVICE_ACCOUNT_*`,
///   `OCI_RESOURCE_PRINCIPAL_REGION`, and [`OKE_PROXYMUX_PORT_VAR`].
fn principal_provider(
    g: &GlobalArgs,
    auth: AuthMethod,
) -> Result<Arc<dyn CredentialsProvider>, CliError> {
    let env: Arc<dyn Env> = Arc::new(ProcessEnv);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ca_bundle = g
        .cert_bundle
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| ociauth::env::expand_user(p, env.as_ref()));
    let ip = InstancePrincipalOptions {
        federation_endpoint: g.federation_endpoint.clone(),
        ca_bundle: ca_bundle.clone(),
        ..InstancePrincipalOptions::default()
    };
    tracing::debug!("auth: {}", auth.name());
    let provider: Arc<dyn CredentialsProvider> = match auth {
        AuthMethod::InstancePrincipal => Arc::new(
            InstancePrincipalProvider::new(ip, env, clock)
                .map_err(CliError::fatal)?
                .cached(),
        ),
        AuthMethod::ResourcePrincipal => {
            let opts = ResourcePrincipalOptions {
                instance_principal: ip,
                ca_bundle,
                ..ResourcePrincipalOptions::default()
            };
            Arc::new(
                ResourcePrincipalProvider::from_env(opts, env, clock)
                    .map_err(CliError::fatal)?
                    .cached(),
            )
        }
        _ => {
            let mut opts = OkeWorkloadIdentityOptions::default();
            if let Some(v) = env
                .var(OKE_PROXYMUX_PORT_VAR)
                .filter(|v| !v.trim().is_empty())
            {
                opts.proxymux_port = v.trim().parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                    CliError::fatal(format!(
                        "{OKE_PROXYMUX_PORT_VAR}={v:?} is not a port number (1-65535); unset it \
                         to use the proxymux's port 12250"
                    ))
                })?;
            }
            Arc::new(
                OkeWorkloadIdentityProvider::from_env(opts, env, clock)
                    .map_err(CliError::fatal)?
                    .cached(),
            )
        }
    };
    Ok(provider)
}

/// The credentials provider for `--auth` (or `OCI_CLI_AUTH`). Every auth method goes through
/// here; `api_key`, `security_token` and the principals exist so far, the others answer "not yet supported".
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
        auth if is_principal(auth) => principal_provider(g, auth),
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
        ) && !is_principal(auth)
        {
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
            provider_region: OnceLock::new(),
        })
    }

    /// [`Ctx::endpoint`], after asking the principal credentials for their region when neither
    /// `--endpoint`, `--region` nor the profile gives one (the SDK clients use the signer's
    /// region then). The credentials fetched here are cached for the request that follows.
    pub async fn service_endpoint(&self, service: Service) -> Result<String, CliError> {
        if self.endpoint_override.is_none()
            && self.resolved.profile.get("region").is_none()
            && self.provider_region.get().is_none()
            && is_principal(self.auth)
        {
            let creds = self
                .client
                .provider()
                .credentials()
                .await
                .map_err(|e| lib_error(e, None))?;
            if let Some(r) = creds.region().filter(|r| !r.is_empty()) {
                let _ = self.provider_region.set(r.to_string());
            }
        }
        self.endpoint(service)
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
        if self.resolved.profile.get("region").is_none()
            && let Some(region) = self.provider_region.get()
        {
            let region = regions::resolve_region(region, &ProcessEnv).map_err(|e| {
                CliError::fatal(format!(
                    "{e} (region given by the {} credentials; pass --region to choose another)",
                    self.auth.name()
                ))
            })?;
            return Ok(regions::endpoint_with_override(service, &region, None));
        }
        let region = self.resolved.profile.get("region").ok_or_else(|| {
            if is_principal(self.auth) {
                let from = match self.auth {
                    AuthMethod::InstancePrincipal => "the instance metadata service gave none",
                    _ => "OCI_RESOURCE_PRINCIPAL_REGION is not set",
                };
                return CliError::fatal(format!(
                    "no region for --auth {}: {from}; pass --region (or OCI_CLI_REGION), or \
                     --endpoint",
                    self.auth.name()
                ));
            }
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
