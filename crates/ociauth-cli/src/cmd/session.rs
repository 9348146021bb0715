//! `ociauth session …`: session tokens (UPSTs), with the official `oci session` commands,
//! options, files, messages, streams and exit codes (spec oci-signing-config-session.md §4, §6.2,
//! §7 items 8-10). The work is done by `ociauth::session`; this module asks, prints and exits.
//!
//! | Command | What it does |
//! |---|---|
//! | `authenticate` | browser login (a local callback receives the token), or `--no-browser`: GenerateUpst signed with existing credentials |
//! | `refresh` | `POST {auth}/v1/authentication/refresh` signed with the token; rewrites the token file |
//! | `validate [--local]` | the token's expiry (`--local`), or a signed `GET /20160918/regions` |
//! | `export` / `import` | a flat zip archive of the profile and its files |
//! | `terminate` | removes the profile and `~/.oci/sessions/<profile>` (nothing is revoked) |
//!
//! And `--auth security_token` (or `OCI_CLI_AUTH=security_token`) on every command:
//! [`token_provider`].
//!
//! Differences from the official CLI, on purpose **\[I\]**:
//! - `authenticate --port N` (default 8181) and `--timeout` (default 5 min; `300`, `90s`, `5m`,
//!   `1h`). The callback listens on loopback only (`127.0.0.1` and `[::1]`), not on every
//!   interface. OCI's login service redirects only to `http://localhost:8181`, so another port is
//!   for the emulator (or a login service that allows it).
//! - `--endpoint URL` (or `OCI_CLI_ENDPOINT`) replaces the login and auth base URL: the browser
//!   opens `URL/v1/oauth2/authorize?…` and `refresh` posts to `URL/v1/authentication/refresh`
//!   (the official `refresh` ignores `--endpoint`). With `/v1` already at the end of `URL` it is
//!   not added twice. This is how both reach the emulator over plain http.
//! - The browser is opened with `$BROWSER` (entries separated by `:`; `%s` in an entry stands for
//!   the URL, else the URL is the last argument), then `xdg-open` (only when `DISPLAY` or
//!   `WAYLAND_DISPLAY` is set, so a headless machine never starts a text browser) or `open` on
//!   macOS. A command that exits 0, or is still running after 2 s, counts as opened. Not opening
//!   a browser is not an error: the URL is always printed, so the login works over SSH.
//! - While waiting, stderr shows a spinner and the time left when it is a terminal, else one
//!   plain line. A timeout is one `ERROR:` line, exit 1.
//! - The profile name and (`--use-passphrase`) the passphrase are asked for before the login,
//!   not after it, so a missing answer fails at once; without a terminal the profile name must be
//!   given (`--profile-name`; `DEFAULT` when the config file does not exist yet) and the
//!   passphrase comes from `OCI_CLI_PASSPHRASE` (never written to the config then). The config
//!   checked for "exists" is the one written to (`--config-location`), not always
//!   `~/.oci/config`.
//! - `authenticate --no-browser` without `--region` writes the region of the profile whose
//!   credentials sign the GenerateUpst call (the official CLI prompts).
//! - The session files are written atomically (0600, directory 0700) and the profile replaces
//!   its section in place; every other line of the config file is kept.
//! - Nothing is ever asked when stdin is not a terminal: an existing export archive, an import
//!   name collision, an encrypted key, an expired session each end with one `ERROR:` line that
//!   names the option or command that fixes it, exit 1.
//! - A session profile that inherits `user` from `[DEFAULT]`, used without `--auth`
//!   ([`session_profile_trap`]), signs with its session token after a one-line warning, where
//!   the official CLI silently signs an API-key request that the service refuses.
//! - `import` and `terminate` use `~/.oci/sessions` as the official CLI does (whatever
//!   `--token-location` the session was created with).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use ociauth::client::OciRequest;
use ociauth::config::{self, ConfigOptions, Origin, ResolvedConfig};
use ociauth::env::{Env, ProcessEnv, expand_user};
use ociauth::keys::{KeyError, PublicKey};
use ociauth::providers::session_token::SessionTokenProvider;
use ociauth::regions::{self, Region, Service};
use ociauth::session::{self, CallbackServer, NewSession, SessionError, SessionKey, msg};
use ociauth::{CredentialsProvider, Error, PrivateKey};
use zeroize::Zeroizing;

use crate::context::{Ctx, config_error, lib_error};
use crate::errors::CliError;
use crate::globals::{AuthMethod, GlobalArgs};
use crate::prompt;
use crate::util::{Color, stdin_is_terminal, styled_for_stderr};

/// `--timeout` default.
const DEFAULT_TIMEOUT: &str = "5m";
/// How long a browser command may run before it counts as "opened".
const BROWSER_START_WAIT: Duration = Duration::from_secs(2);
/// `prompt_for_passphrase`'s answer for "no passphrase".
const NO_PASSPHRASE: &str = "N/A";

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Creates a CLI session using a browser based login flow (--no-browser: from existing
    /// credentials). --region is required (or OCI_CLI_REGION).
    ///
    /// With --endpoint URL (or OCI_CLI_ENDPOINT) the login page is URL/v1/oauth2/authorize and
    /// --no-browser calls URL/v1/token/upst/actions/GenerateUpst (e.g. an oci-emulator).
    Authenticate(AuthenticateArgs),
    /// Refreshes a CLI session (--endpoint replaces the auth service base URL).
    Refresh,
    /// Tests whether a CLI session is still valid.
    Validate(ValidateArgs),
    /// Exports a CLI session (the active profile) into a zip that can be imported.
    Export(ExportArgs),
    /// Imports a CLI session from an archive.
    Import(ImportArgs),
    /// Terminates a CLI session by removing the entry from the config and removing all
    /// referenced resources (e.g. keys). Nothing is revoked server-side.
    Terminate,
    /// Exchanges a workload identity token (GitHub Actions, OIDC, a file…) for a session token
    /// at an identity domain and writes it as a session profile.
    Exchange(Box<crate::cmd::exchange::ExchangeArgs>),
}

#[derive(Debug, Args)]
pub struct AuthenticateArgs {
    /// Name of the profile you are creating.
    #[arg(long)]
    pub profile_name: Option<String>,
    /// Path to the config for the new session [default: ~/.oci/config].
    #[arg(long, value_name = "PATH")]
    pub config_location: Option<String>,
    /// Directory where the token and the private/public key are stored [default: ~/.oci/sessions].
    #[arg(long, value_name = "DIR")]
    pub token_location: Option<String>,
    /// Name of the tenancy.
    #[arg(long)]
    pub tenancy_name: Option<String>,
    /// Name of the IdP (Identity Provider).
    #[arg(long)]
    pub identity_provider_name: Option<String>,
    /// Provide a passphrase to be used to encrypt the private key from the generated key pair
    /// (without a terminal: OCI_CLI_PASSPHRASE).
    #[arg(long)]
    pub use_passphrase: bool,
    /// Triggers user authentication without requiring interactive browser login (GenerateUpst
    /// with the credentials of --profile / --auth).
    #[arg(long)]
    pub no_browser: bool,
    /// Full path of the public key PEM file that corresponds to the RSA key pair used for signing
    /// requests (--no-browser only).
    #[arg(long, value_name = "PATH")]
    pub public_key_file_path: Option<String>,
    /// User session expiration in minutes, from 5 to 60 (--no-browser only).
    #[arg(long, default_value_t = session::DEFAULT_SESSION_MINUTES, value_name = "MINUTES")]
    pub session_expiration_in_minutes: u32,
    /// Local port the login page redirects the browser to (http://localhost:PORT).
    #[arg(long, default_value_t = session::DEFAULT_CALLBACK_PORT)]
    pub port: u16,
    /// How long to wait for the browser login: seconds, or a number with s, m or h.
    #[arg(long, default_value = DEFAULT_TIMEOUT, value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,
    /// Print the login URL but do not try to open a browser.
    #[arg(long)]
    pub no_open: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Only perform local validation of session by checking expiry time.
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The name of the export file to create, including the path, minus the .zip extension.
    #[arg(long, value_name = "PATH")]
    pub output_file: String,
    /// If the output zip already exists, overwrite it without a confirmation prompt.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The session archive to import.
    #[arg(long, value_name = "PATH")]
    pub session_archive: String,
    /// If the profile being imported already exists, overwrite it without a confirmation prompt.
    #[arg(long)]
    pub force: bool,
}

/// `300`, `300s`, `5m`, `1h` (at least one second).
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a duration: use seconds (300) or 90s, 5m, 1h"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    }
    .ok_or_else(|| format!("'{s}' is not a duration: use seconds (300) or 90s, 5m, 1h"))?;
    if secs == 0 {
        return Err("the timeout must be at least 1 second".to_string());
    }
    Ok(Duration::from_secs(secs))
}

pub fn run(g: &GlobalArgs, cmd: SessionCommand) -> Result<(), CliError> {
    match cmd {
        SessionCommand::Authenticate(a) => crate::runtime()?.block_on(authenticate(g, a)),
        SessionCommand::Refresh => crate::runtime()?.block_on(refresh(g)),
        SessionCommand::Validate(a) => {
            // The local offset can only be read while the process has one thread.
            let offset = session::local_offset(SystemTime::now());
            crate::runtime()?.block_on(validate(g, a, offset))
        }
        SessionCommand::Export(a) => export(g, a),
        SessionCommand::Import(a) => import(g, a),
        SessionCommand::Terminate => terminate(g),
        SessionCommand::Exchange(a) => crate::cmd::exchange::run(g, *a),
    }
}

// =============================================================================================
// Errors
// =============================================================================================

/// What the CLI prints for a session error: the official CLI's texts unchanged (with `ERROR: `
/// where it has one), the library's own messages as `ERROR:` lines.
pub fn session_error(e: SessionError) -> CliError {
    match e {
        SessionError::Config(c) => match c {
            config::ConfigError::InvalidProfileName { message, .. } => CliError::usage(message),
            other => config_error(other),
        },
        SessionError::Client(e) => lib_error(e, None),
        SessionError::KeyFile { path, source } => lib_error(Error::KeyFile { path, source }, None),
        // Printed by the official CLI without "ERROR:".
        e @ (SessionError::ArchiveNoConfig(_)
        | SessionError::ArchiveMissing(_)
        | SessionError::SessionNoLongerValid
        | SessionError::Expired { .. }) => {
            eprintln!("{e}");
            CliError::Exit(1)
        }
        other => {
            let text = other.to_string();
            CliError::Fatal(text.strip_prefix("ERROR: ").unwrap_or(&text).to_string())
        }
    }
}

/// A library error from building a provider: its `ERROR: …` text as the CLI prints it.
fn provider_error(e: Error) -> CliError {
    match e {
        Error::Credentials { message, .. } => CliError::Fatal(
            message
                .strip_prefix("ERROR: ")
                .unwrap_or(&message)
                .to_string(),
        ),
        other => lib_error(other, None),
    }
}

// =============================================================================================
// Small helpers
// =============================================================================================

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// `--region`, else `OCI_CLI_REGION`.
fn region_option(g: &GlobalArgs) -> Option<String> {
    nonempty(g.region.clone()).or_else(|| nonempty(std::env::var("OCI_CLI_REGION").ok()))
}

/// `--endpoint`, else `OCI_CLI_ENDPOINT`, without trailing `/`.
fn endpoint_option(g: &GlobalArgs) -> Option<String> {
    nonempty(g.endpoint.clone())
        .or_else(|| nonempty(std::env::var("OCI_CLI_ENDPOINT").ok()))
        .map(|e| e.trim_end_matches('/').to_string())
}

/// `--auth` or `OCI_CLI_AUTH` was given (as opposed to the `api_key` default).
fn auth_explicit(g: &GlobalArgs) -> bool {
    g.auth.is_some() || nonempty(std::env::var("OCI_CLI_AUTH").ok()).is_some()
}

/// The global options with `--auth security_token`.
fn with_token_auth(g: &GlobalArgs) -> GlobalArgs {
    let mut g = g.clone();
    g.auth = Some(AuthMethod::SecurityToken.name().to_string());
    g
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn home_path(rel: &str, env: &dyn Env) -> Result<PathBuf, CliError> {
    env.home_dir().map(|h| h.join(rel)).ok_or_else(|| {
        CliError::fatal(format!(
            "cannot find the home directory for ~/{rel}; set HOME or pass the path explicitly"
        ))
    })
}

/// `click.prompt(text)`: one line from stdin (asked on stderr).
fn ask_line(question: &str) -> Result<String, CliError> {
    loop {
        eprint!("{question}: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::fatal(format!("cannot read the answer from stdin: {e}")))?;
        if n == 0 {
            eprintln!();
            return Err(CliError::Aborted);
        }
        let answer = line.trim_end_matches(['\r', '\n']).trim().to_string();
        if !answer.is_empty() {
            return Ok(answer);
        }
    }
}

/// `click.confirm(question, default=True)`: `[Y/n]`, on stderr.
fn confirm_default_yes(question: &str) -> Result<bool, CliError> {
    loop {
        eprint!("{question} [Y/n]: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::fatal(format!("cannot read the answer from stdin: {e}")))?;
        if n == 0 {
            eprintln!();
            return Err(CliError::Aborted);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "" | "y" | "yes" => return Ok(true),
            "n" | "no" => return Ok(false),
            _ => eprintln!("Error: invalid input"),
        }
    }
}

/// The config file and profile name of the global options, as the official session commands
/// take them (`--config-file`/`OCI_CLI_CONFIG_FILE`/`~/.oci/config`; `--profile`/
/// `OCI_CLI_PROFILE`/the rc file's `default_profile`/`DEFAULT`), without reading the profile.
fn config_location(g: &GlobalArgs, env: &dyn Env) -> Result<(PathBuf, String), CliError> {
    let opts = config_options(g);
    let location = nonempty(g.config_file.clone())
        .or_else(|| nonempty(env.var("OCI_CLI_CONFIG_FILE")))
        .unwrap_or_else(|| config::DEFAULT_LOCATION.to_string());
    let path = config::config_path_with_fallback(&location, env);
    let profile = match nonempty(g.profile.clone()).or_else(|| nonempty(env.var("OCI_CLI_PROFILE")))
    {
        Some(p) => p,
        None => config::rc_default_profile(&opts, env)
            .map_err(config_error)?
            .unwrap_or_else(|| config::DEFAULT_PROFILE.to_string()),
    };
    Ok((path, profile))
}

fn config_options(g: &GlobalArgs) -> ConfigOptions {
    ConfigOptions {
        config_file: g.config_file.as_ref().map(PathBuf::from),
        profile: g.profile.clone(),
        region: g.region.clone(),
        endpoint: g.endpoint.clone(),
        cli_rc_file: g.cli_rc_file.as_ref().map(PathBuf::from),
    }
}

/// The resolved config (no API-key validation); `print_warnings`: the permission warnings.
fn resolve(g: &GlobalArgs, print_warnings: bool) -> Result<ResolvedConfig, CliError> {
    if print_warnings {
        return crate::context::resolve_config(g, AuthMethod::SecurityToken, &ProcessEnv);
    }
    config::resolve(&config_options(g), &ProcessEnv).map_err(config_error)
}

/// The HTTP client for the refresh call (with `--cert-bundle`'s CA added).
fn refresh_http_client(g: &GlobalArgs) -> Result<reqwest::Client, CliError> {
    let Some(bundle) = &g.cert_bundle else {
        return session::default_http_client().map_err(session_error);
    };
    let pem = std::fs::read(bundle).map_err(|e| {
        CliError::fatal(format!(
            "could not read the CA bundle {bundle} (--cert-bundle): {e}"
        ))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        CliError::fatal(format!(
            "the CA bundle {bundle} (--cert-bundle) is not a PEM certificate file: {e}"
        ))
    })?;
    reqwest::Client::builder()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .retry(reqwest::retry::never())
        .tls_certs_merge(certs)
        .build()
        .map_err(|e| CliError::fatal(format!("could not set up the HTTP client: {e}")))
}

// =============================================================================================
// authenticate (§4.1-4.3)
// =============================================================================================

/// Everything a browser login needs, decided before the browser opens.
struct BrowserLogin {
    region: Region,
    tenancy_name: Option<String>,
    idp_name: Option<String>,
    /// `--endpoint`: the login base instead of `https://login.{region}.{domain}`.
    endpoint: Option<String>,
    port: u16,
    timeout: Duration,
    open_browser: bool,
    target: Target,
}

/// Where a new session goes.
struct Target {
    profile: String,
    config_path: PathBuf,
    token_dir: PathBuf,
    passphrase: Option<Zeroizing<String>>,
    store_passphrase: bool,
}

async fn authenticate(g: &GlobalArgs, a: AuthenticateArgs) -> Result<(), CliError> {
    let env = ProcessEnv;
    if a.no_browser {
        // The first check of the official CLI, with its texts on stdout.
        if let Err(e) = session::check_session_minutes(a.session_expiration_in_minutes) {
            println!("{e}");
            return Err(CliError::Exit(1));
        }
    }
    if let Some(p) = &a.profile_name {
        config::validate_profile_name(p).map_err(|e| session_error(e.into()))?;
    }
    let config_path = match &a.config_location {
        Some(c) => expand_user(c, &env),
        None => home_path(".oci/config", &env)?,
    };
    let token_dir = match &a.token_location {
        Some(t) => expand_user(t, &env),
        None => home_path(session::DEFAULT_TOKEN_DIR, &env)?,
    };

    if a.no_browser {
        let profile = choose_profile_name(a.profile_name.as_deref(), &config_path)?;
        let (passphrase, store_passphrase) = session_passphrase(a.use_passphrase)?;
        let target = Target {
            profile,
            config_path,
            token_dir,
            passphrase,
            store_passphrase,
        };
        return no_browser(g, &a, target).await;
    }

    let region = browser_region(g)?;
    let profile = choose_profile_name(a.profile_name.as_deref(), &config_path)?;
    let (passphrase, store_passphrase) = session_passphrase(a.use_passphrase)?;
    let login = BrowserLogin {
        region,
        tenancy_name: a.tenancy_name.clone(),
        idp_name: a.identity_provider_name.clone(),
        endpoint: endpoint_option(g),
        port: a.port,
        timeout: a.timeout,
        open_browser: !a.no_open,
        target: Target {
            profile,
            config_path,
            token_dir,
            passphrase,
            store_passphrase,
        },
    };
    browser_login(&login).await
}

/// The region of a browser login: `--region`/`OCI_CLI_REGION` (asked for on a terminal), which
/// must be a region the CLI knows; short codes become identifiers (`fra` → `eu-frankfurt-1`).
fn browser_region(g: &GlobalArgs) -> Result<Region, CliError> {
    let input = match region_option(g) {
        Some(r) => r,
        None if stdin_is_terminal() => ask_line("Enter a region (e.g. us-ashburn-1 or fra)")?,
        None => {
            return Err(CliError::fatal(
                "no region for the login: pass --region (e.g. --region us-ashburn-1) or set OCI_CLI_REGION",
            ));
        }
    };
    match regions::resolve_region_detailed(&input, &ProcessEnv) {
        Ok((region, source)) if source.is_known() => Ok(region),
        _ => {
            let list: Vec<String> = regions::all_regions()
                .iter()
                .map(|r| format!("'{}'", r.name))
                .collect();
            println!(
                "Error: {input} is not a valid region. Valid regions are \n[{}]",
                list.join(", ")
            );
            Err(CliError::Exit(1))
        }
    }
}

/// `--profile-name`, else `DEFAULT` when the config file does not exist yet, else asked for
/// (a terminal is needed).
fn choose_profile_name(given: Option<&str>, config_path: &Path) -> Result<String, CliError> {
    if let Some(p) = given {
        return Ok(p.to_string());
    }
    if !config_path.exists() {
        return Ok(config::DEFAULT_PROFILE.to_string());
    }
    if !stdin_is_terminal() {
        return Err(CliError::fatal(format!(
            "pass --profile-name: {} exists, and stdin is not a terminal, so ociauth cannot ask for the name of the profile to create",
            config_path.display()
        )));
    }
    loop {
        let name = ask_line("Enter the name of the profile you would like to create")?;
        if let Err(config::ConfigError::InvalidProfileName { message, .. }) =
            config::validate_profile_name(&name)
        {
            eprintln!("Error: {message}");
            continue;
        }
        if let Ok(file) = config::ConfigFile::load(config_path) {
            let mut sections: Vec<String> =
                file.section_names().map(str::to_ascii_uppercase).collect();
            sections.push(config::DEFAULT_PROFILE.to_string());
            let upper = name.to_ascii_uppercase();
            if sections.contains(&upper) {
                eprintln!(
                    "Profile {upper} already exists in config. Cannot specify a profile that conflicts with any existing profile(s): {}",
                    sections.join(", ")
                );
            }
        }
        return Ok(name);
    }
}

/// `--use-passphrase`: the passphrase (typed twice on a terminal, `N/A` for none; else
/// `OCI_CLI_PASSPHRASE`) and whether to write it into the profile.
fn session_passphrase(use_passphrase: bool) -> Result<(Option<Zeroizing<String>>, bool), CliError> {
    if !use_passphrase {
        return Ok((None, false));
    }
    if stdin_is_terminal() {
        let p = Zeroizing::new(prompt::secret_confirmed(&format!(
            "Enter a passphrase for your private key (\"{NO_PASSPHRASE}\" for no passphrase): "
        ))?);
        if p.as_str() == NO_PASSPHRASE || p.is_empty() {
            return Ok((None, false));
        }
        if !p.is_ascii() {
            return Err(CliError::usage(
                "the passphrase must be ASCII (the OCI SDKs encode it as ASCII)",
            ));
        }
        let store = prompt::confirm(
            "Do you want to write your passphrase to the config file? (If not, you will need to enter it when prompted each time you run an oci command)",
        )?;
        return Ok((Some(p), store));
    }
    match nonempty(std::env::var("OCI_CLI_PASSPHRASE").ok()) {
        Some(p) => Ok((Some(Zeroizing::new(p)), false)),
        None => Err(CliError::fatal(
            "--use-passphrase needs a passphrase: run on a terminal to type it, or set OCI_CLI_PASSPHRASE",
        )),
    }
}

/// The browser flow: bind the callback, make a key, print (and open) the login URL, wait for the
/// token, write the session.
async fn browser_login(l: &BrowserLogin) -> Result<(), CliError> {
    let server = match CallbackServer::bind(l.port) {
        Ok(s) => s,
        Err(SessionError::PortInUse { port, detail }) => {
            return Err(CliError::fatal(format!(
                "Could not complete bootstrap process because port {port} is already in use. The login page redirects the browser to http://localhost:{port}: stop the program listening there, or pass --port with a free port ({detail})"
            )));
        }
        Err(e) => return Err(session_error(e)),
    };
    let key = PrivateKey::generate()
        .map_err(|e| CliError::fatal(format!("could not generate the session key pair: {e}")))?;
    let public = PublicKey::from(&key);
    let authorize = match &l.endpoint {
        Some(e) => format!(
            "{}/oauth2/authorize",
            regions::endpoint_with_override(Service::Login, &l.region, Some(e))
                .trim_end_matches('/')
        ),
        None => session::login_authorize_endpoint(&l.region),
    };
    let url = session::login_url_at(
        &authorize,
        &public,
        &session::new_nonce(),
        l.tenancy_name.as_deref(),
        l.idp_name.as_deref(),
        server.port(),
    )
    .map_err(session_error)?;

    if l.open_browser && open_browser(&url) {
        println!("{}", msg::SWITCH_TO_BROWSER);
        println!("{}", msg::ALSO_OPEN_URL);
    } else {
        println!("{}", msg::OPEN_URL);
    }
    println!("{url}");
    let _ = std::io::stdout().flush();

    let token = wait_for_token(server, l.timeout)
        .await
        .map_err(session_error)?;
    println!("{}", msg::BROWSER_COMPLETED);
    write_session(&l.target, &token, SessionKey::Private(&key), &l.region.id)
}

/// Wait for the callback, with a spinner on a terminal.
async fn wait_for_token(server: CallbackServer, timeout: Duration) -> Result<String, SessionError> {
    let redirect = server.redirect_uri();
    if !std::io::stderr().is_terminal() {
        eprintln!(
            "Waiting up to {} s for the browser login to reach {redirect} ...",
            timeout.as_secs()
        );
        return server.wait(timeout).await;
    }
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let start = Instant::now();
    let wait = server.wait(timeout);
    tokio::pin!(wait);
    let mut tick = tokio::time::interval(Duration::from_millis(120));
    let mut frame = 0usize;
    let result = loop {
        tokio::select! {
            r = &mut wait => break r,
            _ = tick.tick() => {
                let left = timeout.saturating_sub(start.elapsed()).as_secs();
                eprint!(
                    "\r\x1b[2K{} Waiting for the browser login at {redirect} ({}:{:02} left, Ctrl-C to cancel)",
                    FRAMES[frame % FRAMES.len()],
                    left / 60,
                    left % 60
                );
                let _ = std::io::stderr().flush();
                frame += 1;
            }
        }
    };
    eprint!("\r\x1b[2K");
    let _ = std::io::stderr().flush();
    result
}

/// The commands that may open a browser, in order: `$BROWSER` entries, then the system opener.
fn browser_commands(url: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let Some(b) = nonempty(std::env::var("BROWSER").ok()) {
        for entry in b.split(':').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.contains("%s") {
                out.push(
                    entry
                        .split_whitespace()
                        .map(|w| w.replace("%s", url))
                        .collect(),
                );
            } else {
                out.push(vec![entry.to_string(), url.to_string()]);
            }
        }
    }
    if cfg!(target_os = "macos") {
        out.push(vec!["open".to_string(), url.to_string()]);
    } else if nonempty(std::env::var("DISPLAY").ok()).is_some()
        || nonempty(std::env::var("WAYLAND_DISPLAY").ok()).is_some()
    {
        out.push(vec!["xdg-open".to_string(), url.to_string()]);
    }
    out
}

/// Try each browser command; `true` once one exits 0 or keeps running for
/// [`BROWSER_START_WAIT`] (a browser started in the foreground).
fn open_browser(url: &str) -> bool {
    for argv in browser_commands(url) {
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let spawned = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(mut child) = spawned else {
            tracing::debug!(%program, "browser command could not be started");
            continue;
        };
        let deadline = Instant::now() + BROWSER_START_WAIT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return true,
                Ok(Some(status)) => {
                    tracing::debug!(%program, %status, "browser command failed");
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => {
                    // Still running: a browser in the foreground. Reap it when it ends.
                    std::thread::spawn(move || {
                        let _ = child.wait();
                    });
                    return true;
                }
                Err(_) => break,
            }
        }
    }
    false
}

/// Write the session files and the profile, then print what the official CLI prints.
fn write_session(
    t: &Target,
    token: &str,
    key: SessionKey<'_>,
    region: &str,
) -> Result<(), CliError> {
    let info = session::token_info(token).map_err(|e| session_error(SessionError::BadToken(e)))?;
    let tenancy = info
        .tenancy
        .ok_or_else(|| session_error(SessionError::MissingClaim("tenant")))?;
    if info.user.is_none() {
        return Err(session_error(SessionError::MissingClaim("sub")));
    }
    session::persist_session(&NewSession {
        config_path: &t.config_path,
        token_dir: &t.token_dir,
        profile: &t.profile,
        token,
        key,
        passphrase: t.passphrase.as_deref().map(|p| p.as_str()),
        store_passphrase: t.store_passphrase,
        region,
        tenancy: &tenancy,
    })
    .map_err(session_error)?;
    let config = t.config_path.display().to_string();
    println!("{}", msg::config_written(&config));
    println!("{}", msg::try_out("oci", &config, &t.profile, false));
    Ok(())
}

/// `--no-browser` (§4.2): GenerateUpst signed with the credentials of the global options.
async fn no_browser(g: &GlobalArgs, a: &AuthenticateArgs, target: Target) -> Result<(), CliError> {
    let ctx = Ctx::new(g)?;
    let region = match region_option(g)
        .or_else(|| ctx.resolved.profile.get("region").map(str::to_string))
    {
        Some(r) => r,
        None if stdin_is_terminal() => ask_line("Enter a region (e.g. us-ashburn-1 or fra)")?,
        None => {
            return Err(CliError::fatal(format!(
                "no region for the session: pass --region (e.g. --region us-ashburn-1), set OCI_CLI_REGION, or add region to profile [{}] of {}",
                ctx.resolved.profile_name,
                ctx.resolved.config_label()
            )));
        }
    };
    let generated;
    let given_public;
    let (public, key) = match &a.public_key_file_path {
        Some(p) => {
            let path = expand_user(p, &ProcessEnv);
            match std::fs::read(&path)
                .ok()
                .and_then(|pem| PublicKey::from_pem(&pem).ok())
            {
                Some(k) => given_public = k,
                None => {
                    println!("Could not load public key from public-key-file-path provided");
                    return Err(CliError::Exit(1));
                }
            }
            (&given_public, SessionKey::PublicOnly(&given_public))
        }
        None => {
            let k = PrivateKey::generate().map_err(|e| {
                CliError::fatal(format!("could not generate the session key pair: {e}"))
            })?;
            generated = (PublicKey::from(&k), k);
            (&generated.0, SessionKey::Private(&generated.1))
        }
    };
    let auth_base = ctx.endpoint(Service::Auth)?;
    let token = match session::generate_upst(
        &ctx.client,
        &auth_base,
        public,
        a.session_expiration_in_minutes,
    )
    .await
    {
        Ok(t) => t,
        Err(SessionError::Client(e)) => return Err(ctx.error(e).await),
        Err(e) => return Err(session_error(e)),
    };
    write_session(&target, &token, key, &region)
}

// =============================================================================================
// refresh (§4.4)
// =============================================================================================

async fn refresh(g: &GlobalArgs) -> Result<(), CliError> {
    let env = ProcessEnv;
    let resolved = resolve(g, true)?;
    let endpoint = resolved.profile.get("endpoint").map(str::to_string);
    let plan = match session::RefreshPlan::from_profile(
        &resolved.profile,
        &env,
        None,
        endpoint.as_deref(),
    ) {
        Err(SessionError::KeyFile {
            source: KeyError::PassphraseRequired,
            ..
        }) if stdin_is_terminal() => {
            let pass = Zeroizing::new(prompt::secret("Private key passphrase:")?);
            session::RefreshPlan::from_profile(
                &resolved.profile,
                &env,
                Some(pass.as_str()),
                endpoint.as_deref(),
            )
        }
        other => other,
    };
    let plan = match plan {
        Ok(p) => p,
        // The official CLI prints this one on stdout.
        Err(e @ SessionError::RefreshTokenFileMissing(_)) => {
            println!("{e}");
            return Err(CliError::Exit(1));
        }
        Err(e) => return Err(session_error(e)),
    };
    eprintln!("{}", msg::attempting_refresh(&plan.url));
    let http = refresh_http_client(g)?;
    match plan.run(&http, SystemTime::now()).await {
        Ok(_) => {
            eprintln!("{}", msg::REFRESHED);
            Ok(())
        }
        // "ERROR: Failed to refresh sesison. Error: <body>", on stdout as in the official CLI.
        Err(e @ SessionError::RefreshFailed { .. }) => {
            println!("{e}");
            Err(CliError::Exit(1))
        }
        Err(e) => Err(session_error(e)),
    }
}

// =============================================================================================
// validate (§4.5)
// =============================================================================================

async fn validate(
    g: &GlobalArgs,
    a: ValidateArgs,
    offset: time::UtcOffset,
) -> Result<(), CliError> {
    let env = ProcessEnv;
    // The command always uses the session token.
    let g = with_token_auth(g);
    if a.local {
        let resolved = resolve(&g, true)?;
        return match session::validate_profile_local(&resolved.profile, &env, SystemTime::now()) {
            Ok(exp) => {
                eprintln!("{}", msg::valid_until(exp, offset));
                Ok(())
            }
            Err(e) => Err(session_error(e)),
        };
    }
    // The official checks first, then the client (which checks the expiry as every command).
    let resolved = resolve(&g, false)?;
    let token_file = resolved
        .profile
        .get("security_token_file")
        .filter(|v| !v.is_empty())
        .map(|v| expand_user(v, &env))
        .ok_or_else(|| {
            session_error(SessionError::ValidateNoTokenFileKey(
                resolved.profile_name.clone(),
            ))
        })?;
    if !token_file.exists() {
        return Err(session_error(SessionError::ValidateTokenFileMissing(
            token_file,
        )));
    }
    let ctx = Ctx::new(&g)?;
    let url = format!("{}/regions", ctx.endpoint(Service::Identity)?);
    match ctx.client.send(OciRequest::get(url)).await {
        Ok(_) => {}
        Err(Error::Service(s)) if s.status == 401 => {
            eprintln!("{}", msg::SESSION_INVALID_BY_SERVICE);
            return Err(CliError::Exit(1));
        }
        Err(e) => return Err(ctx.error(e).await),
    }
    let token = session::read_token_file(&token_file).map_err(session_error)?;
    let exp = session::token_info(&token)
        .ok()
        .and_then(|i| i.expires_at)
        .ok_or_else(|| session_error(SessionError::NoExpiry))?;
    eprintln!("{}", msg::valid_until(exp, offset));
    Ok(())
}

// =============================================================================================
// export / import (§4.6)
// =============================================================================================

fn export(g: &GlobalArgs, a: ExportArgs) -> Result<(), CliError> {
    let env = ProcessEnv;
    let (config_path, profile) = config_location(g, &env)?;
    // The official order: the profile must be a token profile, then the overwrite question.
    let file = config::ConfigFile::load(&config_path).map_err(config_error)?;
    let p = file.profile(&profile).ok_or_else(|| {
        config_error(config::ConfigError::ProfileNotFound {
            profile: profile.clone(),
            path: config_path.clone(),
            available: std::iter::once(config::DEFAULT_PROFILE)
                .chain(file.section_names())
                .map(str::to_string)
                .collect(),
        })
    })?;
    if p.get("security_token_file").is_none() {
        return Err(session_error(SessionError::ExportNotTokenProfile));
    }
    let output = PathBuf::from(&a.output_file);
    let zip = PathBuf::from(format!("{}.zip", a.output_file));
    let mut force = a.force;
    if zip.exists() && !force {
        if !stdin_is_terminal() {
            return Err(CliError::fatal(format!(
                "{} already exists; pass --force to overwrite it (stdin is not a terminal, so ociauth cannot ask)",
                zip.display()
            )));
        }
        if !prompt::confirm(&format!(
            "File {} already exists, do you want to overwrite it?",
            zip.display()
        ))? {
            eprintln!("{}", msg::EXPORT_CANCELED);
            return Ok(());
        }
        force = true;
    }
    let config_text = config_path.display().to_string();
    eprintln!("{}", msg::exporting(&profile, &config_text));
    let written = session::export_archive(&config_path, &profile, &output, force, &env)
        .map_err(session_error)?;
    let shown = session::abspath(&written).unwrap_or(written);
    eprintln!("{}", msg::export_written(&shown.display().to_string()));
    Ok(())
}

fn import(g: &GlobalArgs, a: ImportArgs) -> Result<(), CliError> {
    let env = ProcessEnv;
    let archive = PathBuf::from(&a.session_archive);
    if !archive.exists() {
        return Err(session_error(SessionError::ArchiveMissing(archive)));
    }
    let (config_path, _) = config_location(g, &env)?;
    let token_dir = home_path(session::DEFAULT_TOKEN_DIR, &env)?;
    let mut opts = session::ImportOptions {
        force: a.force,
        rename: None,
    };
    loop {
        match session::import_archive(&archive, &config_path, &token_dir, &opts) {
            Ok(imported) => {
                let config = config_path.display().to_string();
                eprintln!("{}", msg::imported(&imported.profile, &config));
                println!("{}", msg::try_out("oci", &config, &imported.profile, true));
                return Ok(());
            }
            Err(SessionError::ProfileExists(name)) if stdin_is_terminal() => {
                let new = ask_line(&format!(
                    "Config already contains a profile with the same name as the archived profile: {name}. Provide an alternative name for the imported profile"
                ))?;
                if let Err(config::ConfigError::InvalidProfileName { message, .. }) =
                    config::validate_profile_name(&new)
                {
                    return Err(CliError::usage(message));
                }
                opts.rename = Some(new);
            }
            Err(e) => return Err(session_error(e)),
        }
    }
}

// =============================================================================================
// terminate (§4.7)
// =============================================================================================

fn terminate(g: &GlobalArgs) -> Result<(), CliError> {
    let env = ProcessEnv;
    let (config_path, profile) = config_location(g, &env)?;
    let token_dir = home_path(session::DEFAULT_TOKEN_DIR, &env)?;
    session::terminate(&config_path, &profile, &token_dir).map_err(session_error)?;
    eprintln!(
        "{}",
        msg::terminated(&profile, &config_path.display().to_string())
    );
    Ok(())
}

// =============================================================================================
// --auth security_token on every command (§4.8)
// =============================================================================================

/// The §4.8 trap: a session profile (it has `security_token_file`) without a `user` of its own
/// inherits `user` from `[DEFAULT]`; with `--auth` left at its `api_key` default the official CLI
/// then signs an API-key request with that user and the session's key, which the service
/// refuses. ociauth warns (one line on stderr) and signs with the session token instead: the
/// returned options carry `--auth security_token`. An explicit `--auth api_key` (or
/// `OCI_CLI_AUTH=api_key`) is obeyed.
pub fn session_profile_trap(
    g: &GlobalArgs,
    auth: AuthMethod,
    resolved: &ResolvedConfig,
) -> Option<GlobalArgs> {
    if auth != AuthMethod::ApiKey || auth_explicit(g) {
        return None;
    }
    let p = &resolved.profile;
    p.get("security_token_file").filter(|v| !v.is_empty())?;
    if !matches!(
        p.origin("user"),
        Some(Origin::File {
            inherited: true,
            ..
        })
    ) {
        return None;
    }
    eprintln!(
        "{}",
        styled_for_stderr(
            &format!(
                "WARNING: Profile {} is a session profile (it has security_token_file) that inherits 'user' from [DEFAULT], so ociauth uses its session token instead of an API key; pass --auth security_token to say so and hide this warning",
                p.name()
            ),
            Color::Yellow
        )
    );
    Some(with_token_auth(g))
}

/// The provider of `--auth security_token`: the profile's token and key
/// (`SessionTokenProvider::from_profile`, so a refresh by another process is picked up at the
/// next request). An encrypted key without `pass_phrase` is asked for on a terminal. An expired
/// token is handled as the official CLI does on a terminal (offer to log in again); without a
/// terminal it is one `ERROR:` line naming the command that starts a new session, exit 1.
pub fn token_provider(
    g: &GlobalArgs,
    resolved: &ResolvedConfig,
) -> Result<Arc<dyn CredentialsProvider>, CliError> {
    let env = ProcessEnv;
    let provider = match SessionTokenProvider::from_profile(&resolved.profile, &env) {
        Err(Error::KeyFile {
            source: KeyError::PassphraseRequired,
            ..
        }) if stdin_is_terminal() => {
            let pass = Zeroizing::new(prompt::secret("Private key passphrase:")?);
            let mut profile = resolved.profile.clone();
            profile.set("pass_phrase", pass.as_str(), Origin::Program);
            SessionTokenProvider::from_profile(&profile, &env)
        }
        other => other,
    }
    .map_err(provider_error)?;
    check_not_expired(g, resolved, provider.token_file())?;
    Ok(Arc::new(provider))
}

/// The official CLI's local expiry check (`int(now) > exp`) before any request.
fn check_not_expired(
    g: &GlobalArgs,
    resolved: &ResolvedConfig,
    token_file: &Path,
) -> Result<(), CliError> {
    let token = session::read_token_file(token_file).map_err(session_error)?;
    let Some(exp) = session::token_info(&token).ok().and_then(|i| i.expires_at) else {
        return Ok(());
    };
    if secs(SystemTime::now()) <= secs(exp) {
        return Ok(());
    }
    let relogin = relogin_plan(g, resolved, token_file);
    if !stdin_is_terminal() {
        return Err(CliError::fatal(format!(
            "This CLI session has expired, so it cannot currently be used to run commands; start a new one with `{}`",
            relogin.command
        )));
    }
    println!("ERROR: This CLI session has expired, so it cannot currently be used to run commands");
    if !confirm_default_yes("Do you want to re-authenticate your CLI session profile?")? {
        return Err(CliError::Exit(1));
    }
    let Some(login) = relogin.login else {
        return Err(CliError::fatal(format!(
            "cannot log in again from here (the profile has no usable region); run `{}`",
            relogin.command
        )));
    };
    // This runs inside the command's runtime: log in on a runtime of its own.
    let result = std::thread::scope(|s| {
        s.spawn(|| crate::runtime().and_then(|rt| rt.block_on(browser_login(&login))))
            .join()
            .unwrap_or_else(|_| Err(CliError::fatal("the login failed unexpectedly")))
    });
    result?;
    println!(
        "Successfully re-authenticated your CLI session profile {}",
        resolved.profile_name
    );
    println!("You can now re-run your command to use your re-authenticated profile");
    Err(CliError::Exit(0))
}

struct Relogin {
    /// `ociauth session authenticate …` for this profile, for messages.
    command: String,
    /// The login to run (when the region is known).
    login: Option<BrowserLogin>,
}

/// How to log in again into the same profile, config file and session directory.
fn relogin_plan(g: &GlobalArgs, resolved: &ResolvedConfig, token_file: &Path) -> Relogin {
    let env = ProcessEnv;
    let profile = resolved.profile_name.clone();
    let default_config = env.home_dir().map(|h| h.join(".oci/config"));
    let default_tokens = session::default_token_dir(&env);
    // `<token dir>/<profile>/token` as `authenticate` writes it.
    let token_dir = token_file
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == profile.as_str()))
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let region = resolved
        .profile
        .get("region")
        .and_then(|r| regions::resolve_region_detailed(r, &env).ok())
        .filter(|(_, s)| s.is_known())
        .map(|(r, _)| r);
    let endpoint = endpoint_option(g);

    let mut command = String::from("ociauth session authenticate");
    match &region {
        Some(r) => command.push_str(&format!(" --region {}", r.id)),
        None => command.push_str(" --region REGION"),
    }
    command.push_str(&format!(" --profile-name {profile}"));
    if let Some(c) = &resolved.config_path
        && Some(c) != default_config.as_ref()
    {
        command.push_str(&format!(" --config-location {}", c.display()));
    }
    if let Some(t) = &token_dir
        && Some(t) != default_tokens.as_ref()
    {
        command.push_str(&format!(" --token-location {}", t.display()));
    }
    if let Some(e) = &endpoint {
        command.push_str(&format!(" --endpoint {e}"));
    }
    let login = match (region, &resolved.config_path) {
        (Some(region), Some(config_path)) => Some(BrowserLogin {
            region,
            tenancy_name: None,
            idp_name: None,
            endpoint,
            port: session::DEFAULT_CALLBACK_PORT,
            timeout: parse_timeout(DEFAULT_TIMEOUT).unwrap_or(Duration::from_secs(300)),
            open_browser: true,
            target: Target {
                profile,
                config_path: config_path.clone(),
                token_dir: token_dir
                    .or(default_tokens)
                    .unwrap_or_else(|| PathBuf::from(session::DEFAULT_TOKEN_DIR)),
                passphrase: None,
                store_passphrase: false,
            },
        }),
        _ => None,
    };
    Relogin { command, login }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_timeout("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("5x").is_err());
        assert!(parse_timeout("").is_err());
        assert!(parse_timeout("m").is_err());
    }
}
