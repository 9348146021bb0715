//! Workload identity federation in the CLI (spec oci-principals-wif.md §5): an external JWT
//! (GitHub Actions, GitLab, Kubernetes, any OIDC issuer) exchanged at an IAM identity domain for
//! an OCI session token (UPST).
//!
//! - `ociauth session exchange` ([`run`]): one exchange, saved as an ordinary session profile
//!   that `oci --auth security_token`, the SDKs and Terraform (`auth = "SecurityToken"`) read
//!   unchanged.
//! - `--auth workload_identity_federation` (or `OCI_CLI_AUTH`) with a WIF profile
//!   ([`wif_provider`]): every command exchanges on demand, but only when the token cached in
//!   `~/.oci/sessions/<profile>/` is due for renewal ([`WifSession`]), so a CI job of many
//!   commands makes one exchange an hour, not one per command.
//!
//! Choices **\[I\]** (the official CLI has no token exchange):
//! - The OAuth client secret never goes on the command line (other local users can read it in
//!   the process list): `--client-secret-file FILE`, else the environment variable
//!   [`CLIENT_SECRET_ENV`] (`OCI_CLIENT_SECRET`), e.g. a CI secret mapped into the job's
//!   environment. The same holds for the IdP secret of `--oidc-token-endpoint`
//!   (`--oidc-client-secret-file`).
//! - `session exchange` writes what `ociauth session authenticate` writes: the directory
//!   `<token location>/<profile>` (0700) with `oci_api_key_public.pem`, `oci_api_key.pem` and
//!   `token` (each 0600, atomically, the token without a newline), and the profile `fingerprint,
//!   key_file, tenancy, region, security_token_file` (its section replaced, every other line of
//!   the file kept). The config file is `--config-location`, else `--config-file`, else
//!   `OCI_CLI_CONFIG_FILE`, else `~/.oci/config`: the file the following commands read. The
//!   profile name is `--profile-name`, or `DEFAULT` when that file does not exist yet. Every
//!   `session exchange` makes a new key pair, as `authenticate` does.
//! - The region (`--region` or `OCI_CLI_REGION`) is required and written as its full name.
//! - `--github-actions` asks for the audience `https://cloud.oracle.com` unless `--audience`
//!   says otherwise (the convention of OCI trusts for GitHub).
//! - The on-demand cache renews a token once 80 % of its lifetime (`exp - iat`) has passed
//!   ([`renew_at`]), the rule `ociauth exec` uses too. Renewals keep the key on disk (only the
//!   token file changes, atomically), so a reader never pairs a key with a token it does not
//!   belong to; a cached token whose `jwk` claim names another key is not used. Exchanges of
//!   concurrent processes are serialised by an advisory lock on `<dir>/token.lock`; whoever comes
//!   second uses the token the first one wrote.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use clap::{ArgGroup, Args};
use ociauth::config::ResolvedConfig;
use ociauth::env::{Env, ProcessEnv, SystemClock, expand_user};
use ociauth::jwt::{self, RsaJwk};
use ociauth::providers::instance_principal::{InstancePrincipalOptions, instance_principal};
use ociauth::providers::workload_identity_federation::{
    ClientAuth, ProfileClientAuth, TokenExchangeConfig, WifProfile,
    WorkloadIdentityFederationProvider,
};
use ociauth::session::{self, NewSession, SessionError, SessionKey, TokenFileLock, TokenInfo, msg};
use ociauth::subject_token::{
    self, ClientAuthMethod, CommandSource, EnvSource, FileSource, GITHUB_DEFAULT_AUDIENCE,
    GithubActionsSource, OidcClientCredentials, OidcClientCredentialsSource, Secret,
    SubjectTokenSource,
};
use ociauth::{Credentials, CredentialsProvider, Error, PrivateKey, fsutil};
use zeroize::Zeroizing;

use crate::context::lib_error;
use crate::errors::CliError;
use crate::globals::GlobalArgs;

/// The environment variable `session exchange` reads the OAuth client secret from when
/// `--client-secret-file` is not given.
pub const CLIENT_SECRET_ENV: &str = "OCI_CLIENT_SECRET";

/// The provider name of the on-demand exchange (messages, `Credentials::source`).
const PROVIDER: &str = subject_token::PROVIDER;

/// `ociauth session exchange`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("subject")
        .required(true)
        .multiple(false)
        .args(["subject_token_file", "subject_token_env", "subject_token_command", "github_actions", "oidc_token_endpoint"])
))]
pub struct ExchangeArgs {
    /// The identity domain URL, e.g. https://idcs-0123….identity.oraclecloud.com
    #[arg(long, value_name = "URL")]
    pub domain_url: String,
    /// The client id of the domain's confidential OAuth app.
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// File holding the OAuth app's client secret [default: the OCI_CLIENT_SECRET environment
    /// variable].
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Subject token: a file holding the JWT.
    #[arg(long, value_name = "FILE")]
    pub subject_token_file: Option<PathBuf>,
    /// Subject token: an environment variable holding the JWT.
    #[arg(long, value_name = "VAR")]
    pub subject_token_env: Option<String>,
    /// Subject token: a command that prints the JWT (or JSON with id_token, access_token, token
    /// or value); run without a shell, quotes honoured.
    #[arg(long, value_name = "COMMAND")]
    pub subject_token_command: Option<String>,
    /// Subject token: the GitHub Actions OIDC token of this job (needs `permissions: id-token:
    /// write`).
    #[arg(long)]
    pub github_actions: bool,
    /// The audience to ask the GitHub Actions or OIDC issuer for [GitHub default:
    /// https://cloud.oracle.com].
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// Subject token: an access token from this OAuth token endpoint by the client-credentials
    /// grant (Entra ID, Okta, Keycloak…).
    #[arg(long, value_name = "URL", requires_all = ["oidc_client_id", "oidc_client_secret_file"])]
    pub oidc_token_endpoint: Option<String>,
    /// The client id at the OIDC issuer.
    #[arg(long, value_name = "ID", requires = "oidc_token_endpoint")]
    pub oidc_client_id: Option<String>,
    /// File holding the client secret at the OIDC issuer.
    #[arg(long, value_name = "FILE", requires = "oidc_token_endpoint")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// `scope` of the client-credentials grant (e.g. api://<app>/.default).
    #[arg(long, value_name = "SCOPE", requires = "oidc_token_endpoint")]
    pub oidc_scope: Option<String>,
    /// `resource` of the client-credentials grant (the token's audience for many issuers).
    #[arg(long, value_name = "RESOURCE", requires = "oidc_token_endpoint")]
    pub oidc_resource: Option<String>,
    /// Name of the profile to write [default: DEFAULT when the config file does not exist].
    #[arg(long, value_name = "NAME")]
    pub profile_name: Option<String>,
    /// The config file to write the profile to [default: --config-file, OCI_CLI_CONFIG_FILE,
    /// ~/.oci/config].
    #[arg(long, value_name = "PATH")]
    pub config_location: Option<String>,
    /// Directory for the token and keys [default: ~/.oci/sessions].
    #[arg(long, value_name = "DIR")]
    pub token_location: Option<String>,
    /// The tenancy OCID to write [default: the token's tenant claim].
    #[arg(long, value_name = "OCID")]
    pub tenancy: Option<String>,
}

/// A session-file error as a library error (the message kept, `Client` errors unwrapped).
pub fn session_lib_error(e: SessionError) -> Error {
    match e {
        SessionError::Client(e) => e,
        SessionError::KeyFile { path, source } => Error::KeyFile { path, source },
        SessionError::Io { context, source } => Error::Io { context, source },
        other => Error::Credentials {
            provider: PROVIDER,
            transient: other.is_transient(),
            message: other.to_string(),
        },
    }
}

/// A session-file error as the CLI prints it: one `ERROR:` line.
pub fn session_cli_error(e: SessionError) -> CliError {
    match e {
        SessionError::Client(e) => lib_error(e, None),
        other => {
            let text = other.to_string();
            CliError::fatal(text.strip_prefix("ERROR: ").unwrap_or(&text))
        }
    }
}

fn home_error() -> CliError {
    CliError::fatal("cannot find the home directory: set HOME")
}

/// Read a secret file (trimmed); errors name the option.
fn read_secret_file(path: &Path, option: &str) -> Result<Secret, CliError> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            CliError::fatal(format!("cannot read {option} {}: {e}", path.display()))
        })?);
    let s = text.trim();
    if s.is_empty() {
        return Err(CliError::fatal(format!(
            "{option} {} is empty: it must hold the secret",
            path.display()
        )));
    }
    Ok(Secret::new(s))
}

/// The OAuth client secret: `--client-secret-file`, else `OCI_CLIENT_SECRET`.
fn client_secret(a: &ExchangeArgs, env: &dyn Env) -> Result<Secret, CliError> {
    if let Some(p) = &a.client_secret_file {
        return read_secret_file(p, "--client-secret-file");
    }
    match env.var(CLIENT_SECRET_ENV) {
        Some(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
        _ => Err(CliError::fatal(format!(
            "no OAuth client secret: give --client-secret-file FILE or set {CLIENT_SECRET_ENV} (never on the command line)"
        ))),
    }
}

/// The subject token source chosen on the command line.
fn subject_source(a: &ExchangeArgs) -> Result<Arc<dyn SubjectTokenSource>, CliError> {
    let env: Arc<dyn Env> = Arc::new(ProcessEnv);
    if a.audience.is_some() && !a.github_actions && a.oidc_token_endpoint.is_none() {
        return Err(CliError::usage(
            "--audience applies only to --github-actions and --oidc-token-endpoint",
        ));
    }
    if let Some(p) = &a.subject_token_file {
        return Ok(Arc::new(FileSource::new(p.clone())));
    }
    if let Some(v) = &a.subject_token_env {
        return Ok(Arc::new(EnvSource::new(v.clone(), env)));
    }
    if let Some(c) = &a.subject_token_command {
        return Ok(Arc::new(
            CommandSource::from_command_line(c).map_err(|e| lib_error(e, None))?,
        ));
    }
    if a.github_actions {
        let audience = a
            .audience
            .clone()
            .unwrap_or_else(|| GITHUB_DEFAULT_AUDIENCE.to_string());
        return Ok(Arc::new(
            GithubActionsSource::new(Some(audience), env).map_err(|e| lib_error(e, None))?,
        ));
    }
    match (
        &a.oidc_token_endpoint,
        &a.oidc_client_id,
        &a.oidc_client_secret_file,
    ) {
        (Some(url), Some(id), Some(secret_file)) => {
            let client_secret = read_secret_file(secret_file, "--oidc-client-secret-file")?;
            Ok(Arc::new(
                OidcClientCredentialsSource::new(OidcClientCredentials {
                    token_url: url.clone(),
                    client_id: id.clone(),
                    client_secret,
                    scope: a.oidc_scope.clone(),
                    resource: a.oidc_resource.clone(),
                    audience: a.audience.clone(),
                    auth: ClientAuthMethod::Basic,
                })
                .map_err(|e| lib_error(e, None))?,
            ))
        }
        _ => Err(CliError::usage(
            "give one subject token source: --subject-token-file, --subject-token-env, --subject-token-command, --github-actions or --oidc-token-endpoint",
        )),
    }
}

/// The config file `session exchange` writes to (see the module documentation).
fn target_config(g: &GlobalArgs, a: &ExchangeArgs, env: &dyn Env) -> Result<PathBuf, CliError> {
    if let Some(c) = a
        .config_location
        .as_deref()
        .or(g.config_file.as_deref())
        .filter(|c| !c.is_empty())
    {
        return session::abspath(&expand_user(c, env)).map_err(session_cli_error);
    }
    if let Some(c) = env.var("OCI_CLI_CONFIG_FILE").filter(|c| !c.is_empty()) {
        return session::abspath(&expand_user(&c, env)).map_err(session_cli_error);
    }
    env.home_dir()
        .map(|h| h.join(".oci").join("config"))
        .ok_or_else(home_error)
}

/// `ociauth session exchange`: exchange once and save the result as a session profile.
pub fn run(g: &GlobalArgs, a: ExchangeArgs) -> Result<(), CliError> {
    let env = ProcessEnv;
    let region_text = g
        .region
        .clone()
        .or_else(|| env.var("OCI_CLI_REGION"))
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            CliError::fatal(
                "a region is needed for the session profile: give --region (or set OCI_CLI_REGION)",
            )
        })?;
    let region = ociauth::regions::resolve_region(region_text.trim(), &env)
        .map_err(|e| CliError::fatal(format!("{e} (--region)")))?;
    let config_path = target_config(g, &a, &env)?;
    let profile = match &a.profile_name {
        Some(p) => p.clone(),
        None if !config_path.exists() => "DEFAULT".to_string(),
        None => {
            return Err(CliError::fatal(format!(
                "{} exists: name the profile to write with --profile-name",
                config_path.display()
            )));
        }
    };
    ociauth::config::validate_profile_name(&profile)
        .map_err(|e| CliError::usage(format!("--profile-name: {e}")))?;
    let token_dir = match a.token_location.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => session::abspath(&expand_user(t, &env)).map_err(session_cli_error)?,
        None => session::default_token_dir(&env).ok_or_else(home_error)?,
    };
    let secret = client_secret(&a, &env)?;
    let source = subject_source(&a)?;
    let mut cfg = TokenExchangeConfig::new(
        a.domain_url.clone(),
        ClientAuth::ClientSecret {
            client_id: a.client_id.clone(),
            client_secret: secret,
        },
    );
    cfg.region = Some(region.id.clone());
    cfg.tenancy = a.tenancy.clone();
    apply_globals(&mut cfg, g);
    let provider =
        WorkloadIdentityFederationProvider::new(cfg, source).map_err(|e| lib_error(e, None))?;
    let token = crate::runtime()?
        .block_on(provider.exchange())
        .map_err(|e| lib_error(e, None))?;
    let tenancy = a
        .tenancy
        .clone()
        .or_else(|| token.tenancy().map(str::to_string))
        .ok_or_else(|| {
            CliError::fatal(
                "the exchanged token has no tenant claim: give the tenancy OCID with --tenancy",
            )
        })?;
    session::persist_session(&NewSession {
        config_path: &config_path,
        token_dir: &token_dir,
        profile: &profile,
        token: token.token(),
        key: SessionKey::Private(token.private_key()),
        passphrase: None,
        store_passphrase: false,
        region: &region.id,
        tenancy: &tenancy,
    })
    .map_err(session_cli_error)?;
    let config = config_path.display().to_string();
    println!("{}", msg::config_written(&config));
    println!("{}", msg::try_out("oci", &config, &profile, false));
    Ok(())
}

/// `--cert-bundle` and `--no-retry` for the exchange.
fn apply_globals(cfg: &mut TokenExchangeConfig, g: &GlobalArgs) {
    if let Some(b) = &g.cert_bundle {
        cfg.ca_bundle = Some(PathBuf::from(b));
    }
    if g.no_retry {
        cfg.max_attempts = 1;
    }
}

// =============================================================================================
// Renewal timing and the files of a session
// =============================================================================================

/// When a token is due for renewal: once 80 % of its lifetime (`exp - iat`) has passed; without
/// `iat`, one minute before `exp` (or at `iat`..`exp` midpoint for shorter tokens). `None`: the
/// token never expires.
pub fn renew_at(info: &TokenInfo) -> Option<SystemTime> {
    let exp = info.expires_at?;
    match info.issued_at.filter(|iat| *iat < exp) {
        Some(iat) => {
            let life = exp.duration_since(iat).unwrap_or_default();
            Some(iat + life * 4 / 5)
        }
        None => Some(exp.checked_sub(Duration::from_secs(60)).unwrap_or(exp)),
    }
}

/// Expired as the CLI counts it: `int(now) > exp`.
pub fn is_expired(info: &TokenInfo, now: SystemTime) -> bool {
    let secs = |t: SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    info.expires_at.is_some_and(|exp| secs(now) > secs(exp))
}

/// A session token and the key it is bound to, as read from (or just written to) disk.
#[derive(Clone)]
pub struct SessionState {
    pub token: Arc<Zeroizing<String>>,
    pub key: PrivateKey,
    pub info: TokenInfo,
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState")
            .field("token", &ociauth::redact::short(&self.token))
            .field("key", &self.key.fingerprint())
            .field("info", &self.info)
            .finish()
    }
}

impl SessionState {
    /// Valid at `now` and not yet due for renewal.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        !is_expired(&self.info, now) && renew_at(&self.info).is_none_or(|t| now < t)
    }

    fn credentials(&self, region: Option<&str>) -> Credentials {
        let mut c = Credentials::security_token(&self.token, self.key.clone(), PROVIDER);
        if let Some(exp) = self.info.expires_at {
            c = c.with_expiry(exp);
        }
        if let Some(r) = region {
            c = c.with_region(r);
        }
        if let Some(t) = &self.info.tenancy {
            c = c.with_tenancy(t.as_str());
        }
        c
    }
}

/// Whether `token` may belong to `key`: false only when the token is not a JWT, or its `jwk`
/// claim (the public key it is bound to, a JSON string or object) names another key. A token
/// without a readable `jwk` is given the benefit of the doubt.
pub fn token_matches_key(token: &str, key: &PrivateKey) -> bool {
    let Ok(jwt) = jwt::decode_unverified(token) else {
        return false;
    };
    let jwk = match jwt.claim("jwk") {
        Some(serde_json::Value::String(s)) => serde_json::from_str(s).ok(),
        Some(v) => Some(v.clone()),
        None => None,
    };
    match jwk.map(|j| RsaJwk::from_json(&j).and_then(|j| j.public_key())) {
        Some(Ok(public)) => public.fingerprint() == key.fingerprint(),
        _ => true,
    }
}

/// Read a session directory's token and (unencrypted) key; `None` when either is missing,
/// unreadable, or they do not belong together.
pub fn read_session(token_file: &Path, key_file: &Path) -> Option<SessionState> {
    let token = Zeroizing::new(session::read_token_file(token_file).ok()?);
    let info = session::token_info(&token).ok()?;
    let key = session::load_key_file(key_file, None).ok()?;
    if !token_matches_key(&token, &key) {
        return None;
    }
    Some(SessionState {
        token: Arc::new(token),
        key,
        info,
    })
}

// =============================================================================================
// On-demand exchange: a WIF profile and its cache in ~/.oci/sessions/<profile>
// =============================================================================================

/// A WIF profile with its token cache `~/.oci/sessions/<profile>/{token, oci_api_key.pem,
/// oci_api_key_public.pem}` (the layout of a session profile, so the same files can serve
/// `--auth security_token`).
pub struct WifSession {
    pub profile: String,
    pub dir: PathBuf,
    pub token_file: PathBuf,
    pub key_file: PathBuf,
    public_key_file: PathBuf,
    /// The profile's region (of the credentials).
    pub region: Option<String>,
    provider: WorkloadIdentityFederationProvider,
}

impl std::fmt::Debug for WifSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WifSession")
            .field("profile", &self.profile)
            .field("dir", &self.dir)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl WifSession {
    /// From the resolved profile (its `token_exchange_*` and `workload_identity_*` keys).
    /// `token_exchange_auth=InstancePrincipal` signs the exchange with this instance's
    /// principal (`--federation-endpoint`, `--cert-bundle` apply).
    pub fn new(g: &GlobalArgs, resolved: &ResolvedConfig) -> Result<Self, CliError> {
        let env = ProcessEnv;
        let wif =
            WifProfile::from_profile(&resolved.profile, &env).map_err(|e| lib_error(e, None))?;
        let signer: Option<Arc<dyn CredentialsProvider>> = match wif.client_auth {
            ProfileClientAuth::InstancePrincipal => Some(Arc::new(
                instance_principal(
                    InstancePrincipalOptions {
                        federation_endpoint: g.federation_endpoint.clone(),
                        ca_bundle: g.cert_bundle.as_ref().map(PathBuf::from),
                        ..InstancePrincipalOptions::default()
                    },
                    Arc::new(ProcessEnv),
                    Arc::new(SystemClock),
                )
                .map_err(|e| {
                    CliError::fatal(format!(
                        "token_exchange_auth=InstancePrincipal of profile [{}]: {e}",
                        resolved.profile_name
                    ))
                })?,
            )),
            ProfileClientAuth::ClientSecret { .. } => None,
        };
        let mut cfg = wif
            .exchange_config(signer)
            .map_err(|e| lib_error(e, None))?;
        apply_globals(&mut cfg, g);
        let source = wif
            .subject
            .build(Arc::new(ProcessEnv))
            .map_err(|e| lib_error(e, None))?;
        let provider =
            WorkloadIdentityFederationProvider::new(cfg, source).map_err(|e| lib_error(e, None))?;
        let profile = resolved.profile_name.clone();
        ociauth::config::validate_profile_name(&profile).map_err(|e| {
            CliError::fatal(format!(
                "the profile name cannot name a session directory: {e}"
            ))
        })?;
        let dir = session::default_token_dir(&env)
            .ok_or_else(home_error)?
            .join(&profile);
        Ok(Self {
            profile,
            token_file: dir.join(session::TOKEN_FILE),
            key_file: dir.join(session::PRIVATE_KEY_FILE),
            public_key_file: dir.join(session::PUBLIC_KEY_FILE),
            dir,
            region: wif.region,
            provider,
        })
    }

    /// The cached token and key, if they belong together (fresh or not).
    pub fn read(&self) -> Option<SessionState> {
        read_session(&self.token_file, &self.key_file)
    }

    /// The cached session if it is fresh, else a new exchange.
    pub async fn ensure_fresh(&self) -> Result<SessionState, Error> {
        match self.read() {
            Some(s) if s.is_fresh(SystemTime::now()) => Ok(s),
            _ => self.renew(None).await,
        }
    }

    /// Exchange now and write the token (under the directory's lock), unless another process
    /// wrote a fresh token meanwhile (other than `rejected`, a token the service refused).
    /// The key on disk is kept (a new one is made only when there is none).
    pub async fn renew(&self, rejected: Option<&str>) -> Result<SessionState, Error> {
        fsutil::create_private_dir(&self.dir)
            .map_err(|e| Error::io(format!("could not create {}", self.dir.display()), e))?;
        let _lock = TokenFileLock::acquire(&self.token_file)
            .await
            .map_err(session_lib_error)?;
        if let Some(s) = self.read()
            && s.is_fresh(SystemTime::now())
            && rejected.is_none_or(|r| r != s.token.as_str())
        {
            tracing::debug!(profile = %self.profile, "another process renewed the token");
            return Ok(s);
        }
        let key = match session::load_key_file(&self.key_file, None) {
            Ok(k) => k,
            Err(_) => {
                let key = PrivateKey::generate()?;
                let write = |path: &Path, data: &[u8]| {
                    fsutil::write_private_atomic(path, data)
                        .map_err(|e| Error::io(format!("could not write {}", path.display()), e))
                };
                write(&self.public_key_file, key.public_key_pem().as_bytes())?;
                let text = session::private_key_file_text(&key, None).map_err(session_lib_error)?;
                write(&self.key_file, text.as_bytes())?;
                key
            }
        };
        let t = self.provider.exchange_with_key(key.clone()).await?;
        session::write_token_file(&self.token_file, t.token()).map_err(session_lib_error)?;
        let info = session::token_info(t.token()).map_err(|e| Error::Credentials {
            provider: PROVIDER,
            message: format!("the exchanged token cannot be read: {e}"),
            transient: false,
        })?;
        tracing::debug!(profile = %self.profile, "exchanged a new token");
        Ok(SessionState {
            token: Arc::new(Zeroizing::new(t.token().to_string())),
            key,
            info,
        })
    }
}

/// `--auth workload_identity_federation`: credentials from the profile's token cache, renewed
/// by exchange when due. While a renewal fails, a cached token that has not expired is used
/// (with a warning in `--debug`).
#[derive(Debug)]
pub struct WifProvider {
    session: WifSession,
    current: Mutex<Option<SessionState>>,
    rejected: Mutex<Option<String>>,
    gate: tokio::sync::Mutex<()>,
}

impl WifProvider {
    pub fn new(session: WifSession) -> Self {
        Self {
            session,
            current: Mutex::new(None),
            rejected: Mutex::new(None),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<SessionState> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn fetch(&self) -> Result<Credentials, Error> {
        let now = SystemTime::now();
        if let Some(s) = self.current().filter(|s| s.is_fresh(now)) {
            return Ok(s.credentials(self.session.region.as_deref()));
        }
        let _single = self.gate.lock().await;
        if let Some(s) = self.current().filter(|s| s.is_fresh(now)) {
            return Ok(s.credentials(self.session.region.as_deref()));
        }
        let rejected = self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let result = match rejected.as_deref() {
            None => self.session.ensure_fresh().await,
            Some(r) => self.session.renew(Some(r)).await,
        };
        let state = match result {
            Ok(s) => s,
            Err(e) => {
                let usable = self
                    .current()
                    .or_else(|| self.session.read())
                    .filter(|s| !is_expired(&s.info, SystemTime::now()))
                    .filter(|s| rejected.as_deref() != Some(s.token.as_str()));
                match usable {
                    Some(s) => {
                        tracing::warn!(error = %e, "token exchange failed; using the cached token until it expires");
                        s
                    }
                    None => return Err(e),
                }
            }
        };
        let creds = state.credentials(self.session.region.as_deref());
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(state);
        Ok(creds)
    }
}

impl CredentialsProvider for WifProvider {
    fn credentials(&self) -> ociauth::credentials::BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(self.fetch())
    }
    fn invalidate(&self) {
        if let Some(s) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            *self.rejected.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(s.token.as_str().to_string());
        }
    }
    fn name(&self) -> &'static str {
        PROVIDER
    }
}

/// The provider of `--auth workload_identity_federation`.
pub fn wif_provider(
    g: &GlobalArgs,
    resolved: &ResolvedConfig,
) -> Result<Arc<dyn CredentialsProvider>, CliError> {
    if !WifProfile::is_wif_profile(&resolved.profile) {
        return Err(CliError::fatal(format!(
            "profile [{}] of {} is not a workload identity federation profile: --auth workload_identity_federation needs token_exchange_domain_url, token_exchange_client_id, token_exchange_client_secret (or _file) and a subject token source such as workload_identity_token_path",
            resolved.profile_name,
            resolved.config_label()
        )));
    }
    Ok(Arc::new(WifProvider::new(WifSession::new(g, resolved)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn info(iat: Option<u64>, exp: Option<u64>) -> TokenInfo {
        TokenInfo {
            user: None,
            tenancy: None,
            issued_at: iat.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            expires_at: exp.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            session_expires_at: None,
        }
    }

    #[test]
    fn renewal_at_eighty_percent() {
        let at = |s: u64| Some(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(renew_at(&info(Some(1000), Some(4600))), at(3880));
        assert_eq!(renew_at(&info(Some(1000), Some(1005))), at(1004));
        assert_eq!(renew_at(&info(None, Some(4600))), at(4540));
        assert_eq!(renew_at(&info(Some(5000), Some(4600))), at(4540));
        assert_eq!(renew_at(&info(Some(1), None)), None);
    }

    #[test]
    fn expiry_in_whole_seconds() {
        let i = info(Some(0), Some(100));
        assert!(!is_expired(&i, UNIX_EPOCH + Duration::from_millis(100_999)));
        assert!(is_expired(&i, UNIX_EPOCH + Duration::from_secs(101)));
    }

    #[test]
    fn jwk_binding() {
        let key = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        let jwk = RsaJwk::from_private_key(&key, Some("k")).unwrap().to_json();
        let signer = PrivateKey::generate().unwrap();
        let token = |claims: serde_json::Value| {
            jwt::sign_rs256(&serde_json::json!({}), &claims, &signer).unwrap()
        };
        let as_string = token(serde_json::json!({"exp": 5, "jwk": jwk.to_string()}));
        assert!(token_matches_key(&as_string, &key));
        assert!(!token_matches_key(&as_string, &other));
        let as_object = token(serde_json::json!({"exp": 5, "jwk": jwk}));
        assert!(token_matches_key(&as_object, &key));
        let without = token(serde_json::json!({"exp": 5}));
        assert!(token_matches_key(&without, &other));
        let unreadable = token(serde_json::json!({"exp": 5, "jwk": "{not json"}));
        assert!(token_matches_key(&unreadable, &other));
        assert!(!token_matches_key("not a token", &key));
    }
}
