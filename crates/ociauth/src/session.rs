//! Session tokens (UPST, "user principal session token"): the building blocks of the
//! `ociauth session …` commands (spec oci-signing-config-session.md §4, §6, §7 items 8-10).
//!
//! - [`login_url`]: the browser login URL of `oci session authenticate`, byte for byte.
//! - [`CallbackServer`]: the local page the login service redirects the browser to; it relays
//!   the token from the URL fragment and hands it back ([`CallbackServer::wait`]).
//! - [`generate_upst`]: the `--no-browser` path (`GenerateUpst`, signed with existing credentials).
//! - [`persist_session`]: the session directory (`oci_api_key.pem`, `oci_api_key_public.pem`,
//!   `token`) and the config profile, as the CLI writes them.
//! - [`request_refresh`] / [`refresh_token_file`]: `POST {auth}/v1/authentication/refresh`, signed
//!   with `ST$<token>`; the file variant takes an advisory lock so that concurrent refreshers
//!   (processes or tasks) leave exactly one valid token on disk.
//! - [`validate_local`], [`export_archive`], [`import_archive`], [`terminate`].
//!
//! Messages the official CLI prints are reproduced exactly ([`msg`] and the `Display` of
//! [`SessionError`]), so the `ociauth` CLI can print them unchanged.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zeroize::Zeroizing;

use crate::client::{Client, OciRequest, python_json_dumps};
use crate::config::{self, ConfigFile, Profile};
use crate::env::{Env, expand_user};
use crate::error::Error;
use crate::fsutil;
use crate::jwt::{self, JwtError, RsaJwk};
use crate::keys::{KeyError, OCI_API_KEY_LABEL, PrivateKey, PublicKey};
use crate::regions::{self, Region, Service};
use crate::signer::{self, SignOptions};

/// The port the login service redirects to (`http://localhost:8181`); fixed in the official CLI.
pub const DEFAULT_CALLBACK_PORT: u16 = 8181;
/// `--session-expiration-in-minutes` bounds and default (`OCI_CLI_UPST_TOKEN_MIN_TTL`/`MAX_TTL`).
pub const MIN_SESSION_MINUTES: u32 = 5;
pub const MAX_SESSION_MINUTES: u32 = 60;
pub const DEFAULT_SESSION_MINUTES: u32 = 60;
/// Files of a session directory `<token-location>/<profile>/`.
pub const PRIVATE_KEY_FILE: &str = "oci_api_key.pem";
pub const PUBLIC_KEY_FILE: &str = "oci_api_key_public.pem";
pub const TOKEN_FILE: &str = "token";
/// The advisory lock next to a token file: `<token file>.lock`. It is never deleted (deleting a
/// lock file while another process waits on it would let two refreshers run at once).
pub const LOCK_SUFFIX: &str = ".lock";
/// `key_file` written when only a public key was given (`--public-key-file-path`), as the CLI does.
pub const MISSING_PRIVATE_KEY_PATH: &str = "Update_private_key_path";
/// The default `--token-location`, under the home directory.
pub const DEFAULT_TOKEN_DIR: &str = ".oci/sessions";
/// The login page's `client_id`.
const LOGIN_CLIENT_ID: &str = "iaas_console";
/// The body of an error response is cut to this many bytes in messages.
const MAX_BODY_IN_MESSAGE: usize = 2000;

/// `~/.oci/sessions`.
pub fn default_token_dir(env: &dyn Env) -> Option<PathBuf> {
    env.home_dir().map(|h| h.join(DEFAULT_TOKEN_DIR))
}

/// The lines the official CLI prints around the session commands (exact text).
pub mod msg {
    use std::time::SystemTime;

    pub const SWITCH_TO_BROWSER: &str =
        "    Please switch to newly opened browser window to log in!";
    pub const ALSO_OPEN_URL: &str =
        "    You can also open the following URL in a web browser window to continue:";
    pub const OPEN_URL: &str = "    Open the following URL in a web browser window to continue:";
    pub const BROWSER_COMPLETED: &str = "    Completed browser authentication process!";
    /// What the relay page shows once the token has been handed over.
    pub const AUTHORIZATION_COMPLETED: &str = "Authorization completed! Please close this window and return to your terminal to finish the bootstrap process.";
    pub const REFRESHED: &str = "Successfully refreshed token";
    pub const SESSION_EXPIRED: &str = "Session has expired";
    pub const SESSION_INVALID_BY_SERVICE: &str = "Session was deemed invalid by service";
    pub const EXPORT_CANCELED: &str = "Export canceled.";

    pub fn attempting_refresh(url: &str) -> String {
        format!("Attempting to refresh token from {url}")
    }
    pub fn config_written(config: &str) -> String {
        format!("Config written to: {config}")
    }
    /// The hint after `authenticate` (`imported`: after `import`), with the program name
    /// (`oci` in the official CLI) and its surrounding blank lines.
    pub fn try_out(program: &str, config: &str, profile: &str, imported: bool) -> String {
        let what = if imported {
            "newly imported"
        } else {
            "newly created"
        };
        format!(
            "\n    Try out your {what} session credentials with the following example command:\n\n    {program} iam region list --config-file {config} --profile {profile} --auth security_token\n"
        )
    }
    /// `Session is valid until YYYY-MM-DD HH:MM:SS`, in the given offset (the CLI prints local
    /// time; see [`super::local_offset`]).
    pub fn valid_until(exp: SystemTime, offset: time::UtcOffset) -> String {
        let t = time::OffsetDateTime::from(exp).to_offset(offset);
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        let text = t.format(&fmt).unwrap_or_else(|_| "?".to_string());
        format!("Session is valid until {text}")
    }
    pub fn exporting(profile: &str, config: &str) -> String {
        format!("Exporting profile: {profile} from config file: {config}")
    }
    pub fn export_written(archive: &str) -> String {
        format!("Export file written to: {archive}")
    }
    pub fn imported(profile: &str, config: &str) -> String {
        format!("Imported profile {profile} written to: {config}")
    }
    pub fn terminated(profile: &str, config: &str) -> String {
        format!("Successfully removed profile: {profile} from config: {config}")
    }
}

/// The local UTC offset at `t` (for [`msg::valid_until`]); UTC when it cannot be determined.
///
/// On Unix the `time` crate can only read the local offset while the process has a single
/// thread, so a CLI should call this before starting a multi-threaded runtime.
pub fn local_offset(t: SystemTime) -> time::UtcOffset {
    time::UtcOffset::local_offset_at(time::OffsetDateTime::from(t)).unwrap_or(time::UtcOffset::UTC)
}

/// Why a session operation failed. Variants that mirror a message of the official CLI display
/// exactly that message; the others name the file or value and the fix. No variant ever holds a
/// token, a key or a passphrase.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    // --- refresh (§4.4) ---
    #[error("ERROR: Cannot refresh a profile that does not have a value for 'security_token_file'")]
    RefreshNoTokenFileKey,
    #[error("ERROR: Cannot refresh token, 'security_token_file' does not exist: {}", .0.display())]
    RefreshTokenFileMissing(PathBuf),
    /// The refresh endpoint answered 401: the session is over.
    #[error(
        "Your session is no longer valid and cannot be refreshed. Please use 'oci session authenticate' to create a new session."
    )]
    SessionNoLongerValid,
    /// Any other non-200 answer of the refresh endpoint (the typo is the CLI's).
    #[error("ERROR: Failed to refresh sesison. Error: {body}")]
    RefreshFailed { status: u16, body: String },
    #[error(
        "the refresh endpoint {url} answered 200 without a \"token\" string in its JSON body; check the endpoint (--endpoint) points at the OCI auth service"
    )]
    RefreshNoToken { url: String },
    #[error("the profile has no '{0}'; add it (authenticate again to recreate the profile)")]
    MissingProfileKey(&'static str),
    #[error(
        "no region to refresh the session with: the profile has no 'region'; add one (or pass an endpoint)"
    )]
    NoRegion,

    // --- validate (§4.5) ---
    #[error("ERROR: No security_token_file was found in config for profile: {0}")]
    ValidateNoTokenFileKey(String),
    #[error("ERROR: 'security_token_file' not found: {}", .0.display())]
    ValidateTokenFileMissing(PathBuf),
    #[error("Session has expired")]
    Expired { exp: SystemTime },
    #[error(
        "the session token has no \"exp\" claim, so its expiry cannot be checked; authenticate again"
    )]
    NoExpiry,

    // --- the token itself ---
    #[error("{} does not hold a session token ({source}); authenticate again", path.display())]
    BadTokenFile { path: PathBuf, source: JwtError },
    #[error("the session token is not a JWT ({0})")]
    BadToken(JwtError),

    // --- authenticate (§4.1, §4.2) ---
    #[error("Session expiration cannot be longer than 60 minutes")]
    MinutesTooLong(u32),
    #[error("Session expiration cannot be shorter than 5 minutes")]
    MinutesTooShort(u32),
    #[error(
        "port {port} is already in use ({detail}); the login page redirects the browser to http://localhost:{port}, so stop the program listening there and try again"
    )]
    PortInUse { port: u16, detail: String },
    #[error("no login arrived at http://localhost:{port} within {} s; open the login URL in a browser, sign in, and try again", waited.as_secs())]
    CallbackTimeout { port: u16, waited: Duration },
    #[error("the GenerateUpst response has no \"token\" string ({0}); check the endpoint")]
    NoTokenInResponse(String),
    #[error("the session token has no \"{0}\" claim; it is not a user session token")]
    MissingClaim(&'static str),

    // --- export / import (§4.6) ---
    #[error(
        "ERROR: Specified profile is not a valid token profile. Please specify valid token profile with --profile"
    )]
    ExportNotTokenProfile,
    /// The archive exists and `force` was not given (the CLI asks; a caller may ask and retry).
    #[error("File {} already exists; pass --force to overwrite it", .0.display())]
    ArchiveExists(PathBuf),
    #[error("File {} does not exist.", .0.display())]
    ArchiveMissing(PathBuf),
    #[error("Session archive {} is invalid. Did not contain file 'config'.", .0.display())]
    ArchiveNoConfig(PathBuf),
    #[error("session archive {}: {detail}", archive.display())]
    ArchiveInvalid { archive: PathBuf, detail: String },
    #[error("ERROR: The archived config does not contain valid profiles.")]
    ArchiveNoProfiles,
    #[error(
        "ERROR: Cannot import non token based profile (profile must contain value for security_token_file)."
    )]
    ImportNotTokenProfile,
    /// A name collision without `force` (the CLI prompts for another name).
    #[error(
        "Config already contains a profile with the same name as the archived profile: {0}. Pass --force to replace it, or import it under another name"
    )]
    ProfileExists(String),
    #[error(
        "ERROR: Invalid value {value:?} for '{key}' in session-archive: archived files are referenced by a plain file name; refusing to read or write outside {}", dir.display()
    )]
    UnsafeArchivePath {
        key: String,
        value: String,
        dir: PathBuf,
    },
    #[error(
        "the files for '{key}' and '{other}' have the same name {name:?}; a flat session archive cannot hold both"
    )]
    DuplicateArchiveName {
        key: String,
        other: String,
        name: String,
    },

    // --- terminate (§4.7) ---
    #[error(
        "ERROR: Cannot terminate a profile that does not have a value for 'security_token_file'"
    )]
    TerminateNoTokenFileKey,
    #[error("ERROR: Cannot terminate DEFAULT profile")]
    TerminateDefault,
    #[error("ERROR: Profile does not exist")]
    ProfileDoesNotExist,

    // --- plumbing ---
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{}: {source}", path.display())]
    KeyFile { path: PathBuf, source: KeyError },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Region(#[from] regions::RegionError),
    /// No answer (connect, DNS, TLS, timeout); worth retrying.
    #[error("{0}")]
    Transport(String),
    #[error(transparent)]
    Client(#[from] Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl SessionError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SessionError::Io {
            context: context.into(),
            source,
        }
    }

    /// Retrying later may succeed (network trouble, throttling, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            SessionError::Transport(_) => true,
            SessionError::RefreshFailed { status, .. } => *status == 429 || *status >= 500,
            SessionError::Client(e) => e.is_transient(),
            _ => false,
        }
    }
}

type Result<T, E = SessionError> = std::result::Result<T, E>;

// =============================================================================================
// Browser login URL (§4.1)
// =============================================================================================

/// The JWK the login page receives: Python `json.dumps` of
/// `{"kty": "RSA", "n": …, "e": …, "kid": "Ignored"}` (separators `", "` and `": "`, this order;
/// `n`, `e` base64url without padding).
pub fn login_jwk_json(public_key: &PublicKey) -> Result<String> {
    let jwk =
        RsaJwk::from_public_key(public_key, Some("Ignored")).map_err(SessionError::BadToken)?;
    let mut m = Map::new();
    m.insert("kty".into(), Value::from("RSA"));
    m.insert("n".into(), Value::from(jwk.n));
    m.insert("e".into(), Value::from(jwk.e));
    m.insert("kid".into(), Value::from("Ignored"));
    Ok(python_json_dumps(&Value::Object(m)))
}

/// Python `urllib.parse.quote_plus(s, safe='')`: UTF-8 bytes, `A-Za-z0-9_.-~` kept, space as
/// `+`, everything else `%XX` (upper-case hex).
fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The authorize endpoint of the region's login service:
/// `https://login.{region}.{domain}/v1/oauth2/authorize`.
pub fn login_authorize_endpoint(region: &Region) -> String {
    format!(
        "{}{}/oauth2/authorize",
        regions::endpoint(Service::Login, region),
        Service::Login.base_path()
    )
}

/// The browser login URL of `oci session authenticate` (§4.1 step 5), byte for byte:
/// `https://login.{region}.{domain}/v1/oauth2/authorize?action=login&client_id=iaas_console&response_type=token+id_token&nonce=<nonce>&scope=openid&public_key=<b64>&redirect_uri=http%3A%2F%2Flocalhost%3A<port>[&tenant=…][&provider=…]`.
///
/// `public_key` is [`login_jwk_json`] base64url-encoded **with** padding. The region must be one
/// the CLI accepts (a known region; the CLI refuses others); `nonce` is a fresh uuid4.
pub fn login_url(
    region: &Region,
    public_key: &PublicKey,
    nonce: &str,
    tenancy_name: Option<&str>,
    idp_name: Option<&str>,
    redirect_port: u16,
) -> Result<String> {
    login_url_at(
        &login_authorize_endpoint(region),
        public_key,
        nonce,
        tenancy_name,
        idp_name,
        redirect_port,
    )
}

/// [`login_url`] against another authorize endpoint (an emulator's login page).
pub fn login_url_at(
    authorize_endpoint: &str,
    public_key: &PublicKey,
    nonce: &str,
    tenancy_name: Option<&str>,
    idp_name: Option<&str>,
    redirect_port: u16,
) -> Result<String> {
    use base64::Engine as _;
    let jwk = login_jwk_json(public_key)?;
    let b64 = base64::engine::general_purpose::URL_SAFE.encode(jwk.as_bytes());
    let redirect = format!("http://localhost:{redirect_port}");
    let mut params: Vec<(&str, &str)> = vec![
        ("action", "login"),
        ("client_id", LOGIN_CLIENT_ID),
        ("response_type", "token id_token"),
        ("nonce", nonce),
        ("scope", "openid"),
        ("public_key", &b64),
        ("redirect_uri", &redirect),
    ];
    if let Some(t) = tenancy_name.filter(|t| !t.is_empty()) {
        params.push(("tenant", t));
    }
    if let Some(p) = idp_name.filter(|p| !p.is_empty()) {
        params.push(("provider", p));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect();
    Ok(format!("{authorize_endpoint}?{}", query.join("&")))
}

/// A fresh nonce for [`login_url`] (a uuid4, as the CLI uses).
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().to_string()
}

// =============================================================================================
// Callback server (§4.1 step 7)
// =============================================================================================

/// The page served at `/`: it takes the URL fragment (`#security_token=…&…`), which never reaches
/// a server, and hands it to `/token?…` with a request of its own.
const RELAY_PAGE: &str = concat!(
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ociauth login</title></head>\n",
    "<body><p id=\"status\">Completing the login…</p>\n<script>\n",
    "(function () {\n",
    "  var fragment = window.location.hash;\n",
    "  if (fragment.charAt(0) === '#') { fragment = fragment.slice(1); }\n",
    "  var req = new XMLHttpRequest();\n",
    "  req.onload = function () {\n",
    "    document.getElementById('status').textContent = 'Authorization completed! Please close this window and return to your terminal to finish the bootstrap process.';\n",
    "  };\n",
    "  req.open('GET', '/token?' + fragment);\n",
    "  req.send();\n",
    "})();\n",
    "</script></body></html>\n"
);

/// Longest request head the callback server reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How long one connection may take to send its request.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The local HTTP server the login service redirects the browser to.
///
/// Bind it **before** opening the browser (so a busy port fails fast, as in the CLI), then call
/// [`CallbackServer::wait`]. `GET /` serves a relay page whose script sends the URL fragment to
/// `GET /token?<fragment>`; the first request whose query has a non-empty `security_token`
/// completes the wait with that value. Every other path answers 200 with an empty body.
///
/// Deliberate differences from the official CLI, which binds all interfaces (`('', 8181)`):
/// - it listens on loopback only: `127.0.0.1`, plus `[::1]` when available (browsers may resolve
///   `localhost` to either), so nothing on the network can reach it or inject a token;
/// - it answers only requests whose `Host` is `localhost`, `127.0.0.1` or `[::1]` (with the
///   port), which stops a web page from using DNS rebinding to plant a token of its own.
#[derive(Debug)]
pub struct CallbackServer {
    v4: std::net::TcpListener,
    v6: Option<std::net::TcpListener>,
    port: u16,
}

impl CallbackServer {
    /// Bind `127.0.0.1:port` (0: any free port) and, on the same port, `[::1]` if possible.
    /// A port in use is [`SessionError::PortInUse`].
    pub fn bind(port: u16) -> Result<Self> {
        // With port 0 the IPv6 side may find the IPv4 side's port taken: try a few ports.
        let tries = if port == 0 { 5 } else { 1 };
        let mut last = None;
        for _ in 0..tries {
            match Self::bind_once(port) {
                Err(e @ SessionError::PortInUse { .. }) if port == 0 => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or(SessionError::PortInUse {
            port,
            detail: "no free port".into(),
        }))
    }

    fn bind_once(port: u16) -> Result<Self> {
        let in_use = |port: u16, e: std::io::Error| SessionError::PortInUse {
            port,
            detail: e.to_string(),
        };
        let v4 =
            std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).map_err(|e| {
                match e.kind() {
                    std::io::ErrorKind::AddrInUse => in_use(port, e),
                    _ => SessionError::io(format!("could not listen on 127.0.0.1:{port}"), e),
                }
            })?;
        let port = v4
            .local_addr()
            .map_err(|e| SessionError::io("could not read the listening address", e))?
            .port();
        // [::1] too, unless the machine has no IPv6 loopback. If another program holds
        // [::1]:port, a browser resolving localhost to ::1 would load *its* page, which could
        // read the token from the URL fragment: refuse, as for a busy IPv4 port.
        let v6 = match std::net::TcpListener::bind(SocketAddr::from((
            std::net::Ipv6Addr::LOCALHOST,
            port,
        ))) {
            Ok(l) => Some(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return Err(in_use(port, e)),
            Err(_) => None,
        };
        for l in std::iter::once(&v4).chain(v6.as_ref()) {
            l.set_nonblocking(true)
                .map_err(|e| SessionError::io("could not set up the listening socket", e))?;
        }
        Ok(Self { v4, v6, port })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://localhost:<port>`, the `redirect_uri` of the login URL.
    pub fn redirect_uri(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// Serve until a token arrives (returned, trimmed) or `timeout` passes
    /// ([`SessionError::CallbackTimeout`]). Connections are served concurrently; each gets
    /// [`REQUEST_READ_TIMEOUT`] to send its request.
    pub async fn wait(self, timeout: Duration) -> Result<String> {
        let port = self.port;
        let setup = |e| SessionError::io("could not set up the callback server", e);
        let v4 = tokio::net::TcpListener::from_std(self.v4).map_err(setup)?;
        let v6 = match self.v6 {
            Some(l) => Some(tokio::net::TcpListener::from_std(l).map_err(setup)?),
            None => None,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
        let accept_loop = async {
            loop {
                let accepted = match &v6 {
                    Some(v6) => tokio::select! {
                        r = v4.accept() => r,
                        r = v6.accept() => r,
                    },
                    None => v4.accept().await,
                };
                match accepted {
                    Ok((stream, _)) => {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let _ = tokio::time::timeout(
                                REQUEST_READ_TIMEOUT,
                                serve_callback(stream, port, tx),
                            )
                            .await;
                        });
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "callback server: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        };
        let got = tokio::time::timeout(timeout, async {
            tokio::select! {
                t = rx.recv() => t,
                () = accept_loop => None,
            }
        })
        .await;
        match got {
            Ok(Some(token)) => Ok(token),
            _ => Err(SessionError::CallbackTimeout {
                port,
                waited: timeout,
            }),
        }
    }
}

/// Whether a `Host` header names this machine's loopback on our port.
fn host_is_loopback(host: &str, port: u16) -> bool {
    let Some((name, p)) = host.rsplit_once(':') else {
        return false;
    };
    p == port.to_string()
        && matches!(
            name.to_ascii_lowercase().as_str(),
            "localhost" | "127.0.0.1" | "[::1]"
        )
}

async fn serve_callback(
    mut stream: tokio::net::TcpStream,
    port: u16,
    tx: tokio::sync::mpsc::Sender<String>,
) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > MAX_REQUEST_HEAD {
            let _ = respond(&mut stream, "431 Request Header Fields Too Large", "", "").await;
            return;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let host = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_string());
    if !host.as_deref().is_some_and(|h| host_is_loopback(h, port)) {
        let _ = respond(&mut stream, "400 Bad Request", "", "").await;
        return;
    }
    if method != "GET" {
        let _ = respond(&mut stream, "501 Not Implemented", "", "").await;
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/" {
        let _ = respond(
            &mut stream,
            "200 OK",
            "text/html; charset=utf-8",
            RELAY_PAGE,
        )
        .await;
        return;
    }
    let token = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, v)| k == "security_token" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string());
    let _ = respond(&mut stream, "200 OK", "", "").await;
    if let Some(token) = token {
        let _ = tx.try_send(token);
    }
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.0 {status}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    if !content_type.is_empty() {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

// =============================================================================================
// The token (§6)
// =============================================================================================

/// What a client needs from a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// `sub`: the user OCID.
    pub user: Option<String>,
    /// `tenant`: the tenancy OCID.
    pub tenancy: Option<String>,
    pub issued_at: Option<SystemTime>,
    pub expires_at: Option<SystemTime>,
    /// The end of the refresh window (`sess_exp`).
    pub session_expires_at: Option<SystemTime>,
}

fn epoch(secs: i64) -> Option<SystemTime> {
    u64::try_from(secs)
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
}

/// Decode a token (trimmed) without verifying it, as every OCI client does.
pub fn token_info(token: &str) -> Result<TokenInfo, JwtError> {
    let jwt = jwt::decode_unverified(token.trim())?;
    Ok(TokenInfo {
        user: jwt.sub().map(str::to_string),
        tenancy: jwt.claim_str("tenant").map(str::to_string),
        issued_at: jwt.iat().and_then(epoch),
        expires_at: jwt.exp().and_then(epoch),
        session_expires_at: jwt.sess_exp(),
    })
}

/// Read a token file, trimmed (the CLI reads it raw; a trailing newline would break the
/// `Authorization` header, so we trim, spec §4.8 [I]). A missing file is an `Io` error of kind
/// `NotFound`.
pub fn read_token_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SessionError::io(
            format!(
                "could not read the session token file {} (security_token_file)",
                path.display()
            ),
            e,
        )
    })?;
    Ok(text.trim().to_string())
}

/// `oci session validate --local`: the token's `exp` if it has not passed at `now` (expired iff
/// `now > exp`, whole seconds, as PySDK's `SecurityTokenContainer.valid()`), else
/// [`SessionError::Expired`] ("Session has expired").
pub fn validate_local(token: &str, now: SystemTime) -> Result<SystemTime> {
    let jwt = jwt::decode_unverified(token.trim()).map_err(SessionError::BadToken)?;
    let exp = jwt.exp().ok_or(SessionError::NoExpiry)?;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let exp_time = epoch(exp).unwrap_or(UNIX_EPOCH);
    if now_secs > exp {
        return Err(SessionError::Expired { exp: exp_time });
    }
    Ok(exp_time)
}

/// `oci session validate --local` for a profile (§4.5): the token file must be configured
/// ([`SessionError::ValidateNoTokenFileKey`]) and exist ([`SessionError::ValidateTokenFileMissing`]);
/// then [`validate_local`]. Returns the token's `exp`.
pub fn validate_profile_local(
    profile: &Profile,
    env: &dyn Env,
    now: SystemTime,
) -> Result<SystemTime> {
    let path = profile
        .get("security_token_file")
        .filter(|v| !v.is_empty())
        .map(|v| expand_user(v, env))
        .ok_or_else(|| SessionError::ValidateNoTokenFileKey(profile.name().to_string()))?;
    if !path.exists() {
        return Err(SessionError::ValidateTokenFileMissing(path));
    }
    validate_local(&read_token_file(&path)?, now)
}

// =============================================================================================
// Refresh (§4.4)
// =============================================================================================

/// `https://auth.{region}.{domain}/v1/authentication/refresh`, or `{endpoint}/v1/authentication/refresh`
/// with an endpoint override (the `/v1` base path is added unless the override ends with it).
pub fn refresh_url(region: &Region, endpoint_override: Option<&str>) -> String {
    format!(
        "{}/authentication/refresh",
        regions::endpoint_with_override(Service::Auth, region, endpoint_override)
    )
}

/// [`refresh_url`] when the region may be unknown: with an override the region is not needed.
pub fn auth_refresh_url(
    region: Option<&Region>,
    endpoint_override: Option<&str>,
) -> Option<String> {
    match (region, endpoint_override) {
        (Some(r), o) => Some(refresh_url(r, o)),
        (None, Some(o)) => {
            let base = Service::Auth.base_path();
            let o = o.trim_end_matches('/');
            let o = o.strip_suffix(base).unwrap_or(o);
            Some(format!("{o}{base}/authentication/refresh"))
        }
        (None, None) => None,
    }
}

/// A plain HTTP client for the refresh call (rustls, no redirects, 10 s connect / 60 s read
/// timeouts). Pass your own to [`request_refresh`] for a private CA.
pub fn default_http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .retry(reqwest::retry::never())
        .build()
        .map_err(|e| SessionError::Transport(format!("could not set up the HTTP client: {e}")))
}

/// One refresh call: `POST <url>` with body `{"currentToken": "<token>"}` (Python `json.dumps`),
/// signed with key id `ST$<token>` over `date (request-target) host content-length content-type
/// x-content-sha256`, as `oci session refresh` sends it (no `opc-*` headers). Returns the new
/// token (trimmed).
///
/// 401 is [`SessionError::SessionNoLongerValid`]; another non-200 status is
/// [`SessionError::RefreshFailed`] with the body; 200 without `token` is
/// [`SessionError::RefreshNoToken`]; no answer is [`SessionError::Transport`].
pub async fn request_refresh(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    key: &PrivateKey,
    now: SystemTime,
) -> Result<String> {
    let token = token.trim();
    let parsed = url::Url::parse(url)
        .map_err(|e| SessionError::Transport(format!("invalid refresh URL {url:?}: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| SessionError::Transport(format!("invalid refresh URL {url:?}: no host")))?;
    let authority = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let target = &parsed[url::Position::BeforePath..url::Position::AfterQuery];
    let mut body_obj = Map::new();
    body_obj.insert("currentToken".into(), Value::from(token));
    let body = python_json_dumps(&Value::Object(body_obj));
    let user_agent = format!("ociauth/{}", crate::client::VERSION);
    let given: [(&str, &str); 3] = [
        ("user-agent", &user_agent),
        ("accept", "*/*"),
        ("content-type", "application/json"),
    ];
    let signed = signer::sign(
        &signer::Request {
            method: "POST",
            target,
            host: &authority,
            headers: &given,
            body: signer::Body::Bytes(body.as_bytes()),
        },
        &SignOptions::default(),
        &format!("ST${token}"),
        key,
        now,
    )
    .map_err(|e| SessionError::Client(Error::Sign(e)))?;
    let mut req = http.post(parsed.clone());
    for (k, v) in given {
        req = req.header(k, v);
    }
    for (k, v) in signed.iter() {
        if k == "host" || k == "content-type" {
            continue; // reqwest sets Host from the URL; content-type is already set
        }
        req = req.header(k, v);
    }
    let resp = req.body(body).send().await.map_err(|e| {
        SessionError::Transport(format!("could not reach {url}: {}", error_chain(&e)))
    })?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| {
        SessionError::Transport(format!("reading the answer of {url}: {}", error_chain(&e)))
    })?;
    match status {
        200 => {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            match v.get("token").and_then(Value::as_str).map(str::trim) {
                Some(t) if !t.is_empty() => Ok(t.to_string()),
                _ => Err(SessionError::RefreshNoToken {
                    url: url.to_string(),
                }),
            }
        }
        401 => Err(SessionError::SessionNoLongerValid),
        _ => {
            let mut body = String::from_utf8_lossy(&bytes).into_owned();
            if body.len() > MAX_BODY_IN_MESSAGE {
                let cut = (0..=MAX_BODY_IN_MESSAGE)
                    .rev()
                    .find(|i| body.is_char_boundary(*i))
                    .unwrap_or(0);
                body.truncate(cut);
                body.push('…');
            }
            Err(SessionError::RefreshFailed { status, body })
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// `<token file>.lock`.
pub fn lock_path(token_file: &Path) -> PathBuf {
    let mut name = token_file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| TOKEN_FILE.into());
    name.push(LOCK_SUFFIX);
    token_file.with_file_name(name)
}

/// An exclusive advisory lock (`flock`) on `<token file>.lock`, released on drop.
#[derive(Debug)]
pub struct TokenFileLock {
    file: std::fs::File,
}

impl TokenFileLock {
    /// Wait for the lock (in a blocking thread, so the runtime keeps running).
    pub async fn acquire(token_file: &Path) -> Result<Self> {
        let path = lock_path(token_file);
        tokio::task::spawn_blocking(move || Self::acquire_blocking(&path))
            .await
            .map_err(|e| {
                SessionError::io(
                    "waiting for the session token lock",
                    std::io::Error::other(e.to_string()),
                )
            })?
    }

    fn acquire_blocking(path: &Path) -> Result<Self> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let ctx = || format!("could not lock {}", path.display());
        let file = opts.open(path).map_err(|e| SessionError::io(ctx(), e))?;
        file.lock().map_err(|e| SessionError::io(ctx(), e))?;
        Ok(Self { file })
    }
}

impl Drop for TokenFileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// What [`refresh_token_file`] did.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshOutcome {
    /// The token now in the file.
    pub token: String,
    /// Another process (or task) had already replaced the token seen by the caller; no request
    /// was sent.
    pub refreshed_elsewhere: bool,
}

impl std::fmt::Debug for RefreshOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshOutcome")
            .field("token", &crate::redact::short(&self.token))
            .field("refreshed_elsewhere", &self.refreshed_elsewhere)
            .finish()
    }
}

/// Refresh the token in `token_file` under its lock ([`TokenFileLock`]):
/// 1. take the lock (waiting for another refresher to finish);
/// 2. re-read the file; if `seen` is given and the file no longer holds that token, someone else
///    refreshed meanwhile: return theirs without a request;
/// 3. otherwise [`request_refresh`] with the file's token and write the new one atomically
///    (temp file + rename, 0600, no trailing newline), then release the lock.
///
/// A reader never sees a torn file, and two refreshers leave one valid token.
pub async fn refresh_token_file(
    http: &reqwest::Client,
    url: &str,
    token_file: &Path,
    key: &PrivateKey,
    seen: Option<&str>,
    now: SystemTime,
) -> Result<RefreshOutcome> {
    if !token_file.exists() {
        return Err(SessionError::RefreshTokenFileMissing(
            token_file.to_path_buf(),
        ));
    }
    let _lock = TokenFileLock::acquire(token_file).await?;
    let current = read_token_file(token_file)?;
    if let Some(seen) = seen
        && seen.trim() != current
        && !current.is_empty()
    {
        return Ok(RefreshOutcome {
            token: current,
            refreshed_elsewhere: true,
        });
    }
    let new = request_refresh(http, url, &current, key, now).await?;
    write_token_file(token_file, &new)?;
    Ok(RefreshOutcome {
        token: new,
        refreshed_elsewhere: false,
    })
}

/// Write a token file atomically, 0600, without a trailing newline.
pub fn write_token_file(path: &Path, token: &str) -> Result<()> {
    fsutil::write_private_atomic(path, token.trim().as_bytes()).map_err(|e| {
        SessionError::io(
            format!("could not write the session token file {}", path.display()),
            e,
        )
    })
}

/// Load a private key file, naming the file in errors.
pub fn load_key_file(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey> {
    let pem = Zeroizing::new(std::fs::read(path).map_err(|e| {
        SessionError::io(
            format!(
                "could not read the private key file {} (key_file); check the path and its permissions",
                path.display()
            ),
            e,
        )
    })?);
    let pass = passphrase.filter(|p| !p.is_empty()).map(str::as_bytes);
    PrivateKey::from_pem(&pem, pass).map_err(|source| SessionError::KeyFile {
        path: path.to_path_buf(),
        source,
    })
}

/// `oci session refresh` for a profile, prepared: the token file checked, the key loaded, the
/// URL known ([`RefreshPlan::url`] is what the CLI prints in "Attempting to refresh token from …").
#[derive(Debug)]
pub struct RefreshPlan {
    pub token_file: PathBuf,
    pub key: PrivateKey,
    pub url: String,
}

impl RefreshPlan {
    /// From a profile (DEFAULT merged in): `security_token_file` (`~` expanded), `key_file`
    /// with `passphrase` or else the profile's `pass_phrase`, and `region` (or
    /// `endpoint_override`). Errors as in §4.4: [`SessionError::RefreshNoTokenFileKey`],
    /// [`SessionError::RefreshTokenFileMissing`]; a key that needs a passphrase is
    /// `KeyFile { source: KeyError::PassphraseRequired }` (prompt, then call again).
    pub fn from_profile(
        profile: &Profile,
        env: &dyn Env,
        passphrase: Option<&str>,
        endpoint_override: Option<&str>,
    ) -> Result<Self> {
        let token_file = profile
            .get("security_token_file")
            .filter(|v| !v.is_empty())
            .map(|v| expand_user(v, env))
            .ok_or(SessionError::RefreshNoTokenFileKey)?;
        if !token_file.exists() {
            return Err(SessionError::RefreshTokenFileMissing(token_file));
        }
        let key_file = profile
            .get("key_file")
            .filter(|v| !v.is_empty())
            .map(|v| expand_user(v, env))
            .ok_or(SessionError::MissingProfileKey("key_file"))?;
        let key = load_key_file(&key_file, passphrase.or(profile.get("pass_phrase")))?;
        let region = match profile.get("region").filter(|r| !r.is_empty()) {
            Some(r) => Some(regions::resolve_region(r, env)?),
            None => None,
        };
        let url =
            auth_refresh_url(region.as_ref(), endpoint_override).ok_or(SessionError::NoRegion)?;
        Ok(Self {
            token_file,
            key,
            url,
        })
    }

    /// Send the refresh and rewrite the token file (under its lock). Returns the new token.
    pub async fn run(&self, http: &reqwest::Client, now: SystemTime) -> Result<String> {
        refresh_token_file(http, &self.url, &self.token_file, &self.key, None, now)
            .await
            .map(|o| o.token)
    }
}

// =============================================================================================
// --no-browser: GenerateUpst (§4.2)
// =============================================================================================

/// Check `--session-expiration-in-minutes` as the CLI does (longer than 60 first, then shorter
/// than 5).
pub fn check_session_minutes(minutes: u32) -> Result<()> {
    if minutes > MAX_SESSION_MINUTES {
        return Err(SessionError::MinutesTooLong(minutes));
    }
    if minutes < MIN_SESSION_MINUTES {
        return Err(SessionError::MinutesTooShort(minutes));
    }
    Ok(())
}

/// `POST {auth_base}/token/upst/actions/GenerateUpst` with
/// `{"publicKey": "<SPKI PEM>", "sessionExpirationInMinutes": "<minutes>"}` (the minutes as a
/// JSON string, as the CLI sends them), signed by `client`'s provider. `auth_base` is the auth
/// endpoint with its base path, e.g. `regions::endpoint_with_override(Service::Auth, &region,
/// endpoint)`. Returns the token.
pub async fn generate_upst(
    client: &Client,
    auth_base: &str,
    public_key: &PublicKey,
    minutes: u32,
) -> Result<String> {
    check_session_minutes(minutes)?;
    let mut body = Map::new();
    body.insert("publicKey".into(), Value::from(public_key.to_pem()));
    body.insert(
        "sessionExpirationInMinutes".into(),
        Value::from(minutes.to_string()),
    );
    let url = format!(
        "{}/token/upst/actions/GenerateUpst",
        auth_base.trim_end_matches('/')
    );
    let resp = client
        .send(OciRequest::new("POST", url).json(&Value::Object(body)))
        .await?;
    let v = resp.json()?;
    v.get("token")
        .and_then(Value::as_str)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SessionError::NoTokenInResponse(format!("status {}", resp.status)))
}

// =============================================================================================
// Persisting a session (§4.3, §2.8)
// =============================================================================================

/// The key of a new session.
#[derive(Debug, Clone, Copy)]
pub enum SessionKey<'a> {
    /// A key pair made for the session: both halves are written.
    Private(&'a PrivateKey),
    /// Only the public half is known (`--no-browser --public-key-file-path`): only
    /// `oci_api_key_public.pem` is written and `key_file=Update_private_key_path`, as the CLI does.
    PublicOnly(&'a PublicKey),
}

impl SessionKey<'_> {
    fn public_pem(&self) -> String {
        match self {
            SessionKey::Private(k) => k.public_key_pem(),
            SessionKey::PublicOnly(p) => p.to_pem(),
        }
    }
    fn fingerprint(&self) -> String {
        match self {
            SessionKey::Private(k) => k.fingerprint().to_string(),
            SessionKey::PublicOnly(p) => p.fingerprint(),
        }
    }
}

/// What [`persist_session`] writes.
#[derive(Clone, Copy)]
pub struct NewSession<'a> {
    /// The config file to add the profile to (`--config-location`, default `~/.oci/config`).
    pub config_path: &'a Path,
    /// `--token-location` (default [`default_token_dir`]).
    pub token_dir: &'a Path,
    pub profile: &'a str,
    pub token: &'a str,
    pub key: SessionKey<'a>,
    /// Encrypt the private key with this passphrase (`--use-passphrase`).
    pub passphrase: Option<&'a str>,
    /// Also write `pass_phrase=` into the profile (the CLI asks; default no).
    pub store_passphrase: bool,
    /// The region as it goes into the profile (the browser flow writes the full name, the
    /// `--no-browser` flow the region as given).
    pub region: &'a str,
    /// The tenancy OCID (the token's `tenant` claim).
    pub tenancy: &'a str,
}

impl std::fmt::Debug for NewSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("config_path", &self.config_path)
            .field("token_dir", &self.token_dir)
            .field("profile", &self.profile)
            .field("token", &crate::redact::short(self.token))
            .field("key", &self.key.fingerprint())
            .field("passphrase", &self.passphrase.map(|_| "<set>"))
            .field("store_passphrase", &self.store_passphrase)
            .field("region", &self.region)
            .field("tenancy", &self.tenancy)
            .finish()
    }
}

/// Where [`persist_session`] wrote things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedSession {
    /// `<token_dir>/<profile>`, absolute.
    pub dir: PathBuf,
    /// The private key (absent for [`SessionKey::PublicOnly`]).
    pub key_file: Option<PathBuf>,
    pub public_key_file: PathBuf,
    pub token_file: PathBuf,
    pub fingerprint: String,
}

/// `path` made absolute against the current directory and normalised lexically (Python
/// `os.path.abspath`: `.` and `..` removed, symlinks not resolved).
pub fn abspath(path: &Path) -> Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| SessionError::io("could not read the current directory", e))?
            .join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}

/// Set a directory we own to 0700.
fn make_dir_private(dir: &Path) -> Result<()> {
    fsutil::create_private_dir(dir)
        .map_err(|e| SessionError::io(format!("could not create {}", dir.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            SessionError::io(
                format!("could not set the permissions of {}", dir.display()),
                e,
            )
        })?;
    }
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    fsutil::write_private_atomic(path, data)
        .map_err(|e| SessionError::io(format!("could not write {}", path.display()), e))
}

/// The private key file as the CLI writes it: PKCS#8 PEM (encrypted with a passphrase) followed
/// directly by `OCI_API_KEY`, no trailing newline.
pub fn private_key_file_text(
    key: &PrivateKey,
    passphrase: Option<&str>,
) -> Result<Zeroizing<String>> {
    let pem = key.to_pkcs8_pem(passphrase.filter(|p| !p.is_empty()).map(str::as_bytes))?;
    let mut text = Zeroizing::new(String::with_capacity(pem.len() + OCI_API_KEY_LABEL.len()));
    text.push_str(&pem);
    text.push_str(OCI_API_KEY_LABEL);
    Ok(text)
}

/// Write a new session as `oci session authenticate` does (§4.3): the directory
/// `<token_dir>/<profile>` (0700), then `oci_api_key_public.pem`, `oci_api_key.pem`, `token`
/// (each 0600, written atomically; the key and token without trailing newline), then the profile
/// in `config_path`, replacing a section of that name, with the CLI's keys in its order:
/// `fingerprint, key_file, tenancy, region, [pass_phrase], security_token_file` (no `user`).
///
/// Unlike the CLI, the rest of the config file is kept byte for byte (`config::upsert_profile`).
/// The profile name must be valid (`[A-Za-z0-9._-@]+`, not `.`/`..`), so the directory is
/// always directly under `token_dir`.
pub fn persist_session(s: &NewSession<'_>) -> Result<PersistedSession> {
    config::validate_profile_name(s.profile)?;
    let token_dir = abspath(s.token_dir)?;
    if !token_dir.exists() {
        fsutil::create_private_dir(&token_dir).map_err(|e| {
            SessionError::io(format!("could not create {}", token_dir.display()), e)
        })?;
    }
    let dir = token_dir.join(s.profile);
    make_dir_private(&dir)?;
    let public_key_file = dir.join(PUBLIC_KEY_FILE);
    write_private(&public_key_file, s.key.public_pem().as_bytes())?;
    let key_file = match s.key {
        SessionKey::Private(k) => {
            let path = dir.join(PRIVATE_KEY_FILE);
            write_private(&path, private_key_file_text(k, s.passphrase)?.as_bytes())?;
            Some(path)
        }
        SessionKey::PublicOnly(_) => None,
    };
    let token_file = dir.join(TOKEN_FILE);
    write_token_file(&token_file, s.token)?;

    let fingerprint = s.key.fingerprint();
    let key_file_value = key_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| MISSING_PRIVATE_KEY_PATH.to_string());
    let token_file_value = token_file.display().to_string();
    let mut entries: Vec<(&str, &str)> = vec![
        ("fingerprint", &fingerprint),
        ("key_file", &key_file_value),
        ("tenancy", s.tenancy),
        ("region", s.region),
    ];
    if s.store_passphrase
        && let Some(p) = s.passphrase.filter(|p| !p.is_empty())
    {
        entries.push(("pass_phrase", p));
    }
    entries.push(("security_token_file", &token_file_value));
    config::upsert_profile(s.config_path, s.profile, &entries)?;
    Ok(PersistedSession {
        dir,
        key_file,
        public_key_file,
        token_file,
        fingerprint,
    })
}

// =============================================================================================
// Export / import (§4.6)
// =============================================================================================

/// Keys whose values name files that travel in a session archive (the CLI's rule).
fn is_file_key(key: &str) -> bool {
    key.ends_with("_file") || key.ends_with("_token")
}

/// Python `os.path.basename`: the text after the last `/`.
fn basename(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

/// configparser's `write` of one section: `[name]`, `key = value` lines (continuation lines
/// indented with a tab), then a blank line.
fn configparser_section(name: &str, entries: &[(String, String)]) -> String {
    let mut out = format!("[{name}]\n");
    for (k, v) in entries {
        out.push_str(&format!("{k} = {}\n", v.replace('\n', "\n\t")));
    }
    out.push('\n');
    out
}

/// `oci session export` (§4.6): write `<output>.zip`, a flat archive holding `config` (one
/// section `[profile]`, every key of the profile including those inherited from DEFAULT, as
/// configparser writes them, `*_file`/`*_token` values replaced by their base names) and each
/// file those keys name (`~` expanded). Returns the archive path.
///
/// The profile must have `security_token_file` ([`SessionError::ExportNotTokenProfile`]); an
/// existing archive is replaced only with `force` ([`SessionError::ArchiveExists`]). The archive
/// (which holds the private key) is written atomically with mode 0600.
pub fn export_archive(
    config_path: &Path,
    profile_name: &str,
    output: &Path,
    force: bool,
    env: &dyn Env,
) -> Result<PathBuf> {
    let file = ConfigFile::load(config_path)?;
    let profile = file.profile(profile_name).ok_or_else(|| {
        SessionError::Config(config::ConfigError::ProfileNotFound {
            profile: profile_name.to_string(),
            path: config_path.to_path_buf(),
            available: std::iter::once("DEFAULT")
                .chain(file.section_names())
                .map(str::to_string)
                .collect(),
        })
    })?;
    if profile.get("security_token_file").is_none() {
        return Err(SessionError::ExportNotTokenProfile);
    }
    let mut zip_name = output.as_os_str().to_os_string();
    zip_name.push(".zip");
    let zip_path = PathBuf::from(zip_name);
    if zip_path.exists() && !force {
        return Err(SessionError::ArchiveExists(zip_path));
    }

    let mut entries: Vec<(String, String)> = Vec::new();
    let mut files: Vec<(String, String, PathBuf)> = Vec::new(); // (key, name, source)
    for (k, v) in profile.iter() {
        if is_file_key(k) {
            let name = basename(v).to_string();
            if name.is_empty() || name == "config" {
                return Err(SessionError::UnsafeArchivePath {
                    key: k.to_string(),
                    value: v.to_string(),
                    dir: config_path.to_path_buf(),
                });
            }
            if let Some((other, _, _)) = files.iter().find(|(_, n, _)| *n == name) {
                return Err(SessionError::DuplicateArchiveName {
                    key: k.to_string(),
                    other: other.clone(),
                    name,
                });
            }
            files.push((k.to_string(), name.clone(), expand_user(v, env)));
            entries.push((k.to_string(), name));
        } else {
            entries.push((k.to_string(), v.to_string()));
        }
    }

    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zw = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o600);
        let zerr = |e: zip::result::ZipError| {
            SessionError::io(
                format!("could not build the archive {}", zip_path.display()),
                std::io::Error::other(e.to_string()),
            )
        };
        let werr = |e: std::io::Error| {
            SessionError::io(
                format!("could not build the archive {}", zip_path.display()),
                e,
            )
        };
        zw.start_file("config", opts).map_err(zerr)?;
        zw.write_all(configparser_section(profile_name, &entries).as_bytes())
            .map_err(werr)?;
        for (key, name, source) in &files {
            let data = Zeroizing::new(std::fs::read(source).map_err(|e| {
                SessionError::io(
                    format!(
                        "could not read {} ('{key}' of profile {profile_name})",
                        source.display()
                    ),
                    e,
                )
            })?);
            zw.start_file(name.as_str(), opts).map_err(zerr)?;
            zw.write_all(&data).map_err(werr)?;
        }
        zw.finish().map_err(zerr)?;
    }
    let bytes = Zeroizing::new(buf.into_inner());
    write_private(&zip_path, &bytes)?;
    Ok(zip_path)
}

/// How [`import_archive`] treats an existing profile of the same name.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Replace an existing profile of that name (`--force`).
    pub force: bool,
    /// Import under this name instead of the archived one (the CLI prompts for it on a
    /// collision).
    pub rename: Option<String>,
}

/// What [`import_archive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedSession {
    pub profile: String,
    /// `<token_dir>/<profile>`, absolute.
    pub dir: PathBuf,
}

/// A file name from a session archive's config that is safe to join to a directory.
fn plain_file_name(value: &str) -> bool {
    !value.is_empty()
        && value != "."
        && value != ".."
        && !value.contains(['/', '\\', '\0'])
        && value != "config"
}

/// `oci session import` (§4.6): read `config` from the archive, take its **last** section, check
/// the name and that it has `security_token_file`, copy every file named by a `*_file`/`*_token`
/// key into `<token_dir>/<profile>/` (0600, directory 0700) and write the profile with absolute
/// paths and only `fingerprint, key_file, tenancy, region, pass_phrase, security_token_file`
/// (`user` is dropped; keys the archive lacks are left out).
///
/// Only the archive members the config names are read: nothing is extracted by member name, and
/// a config value that is not a plain file name ([`SessionError::UnsafeArchivePath`]) is
/// refused, so no file is ever written outside `<token_dir>/<profile>/`.
pub fn import_archive(
    archive: &Path,
    config_path: &Path,
    token_dir: &Path,
    opts: &ImportOptions,
) -> Result<ImportedSession> {
    if !archive.exists() {
        return Err(SessionError::ArchiveMissing(archive.to_path_buf()));
    }
    let invalid = |detail: String| SessionError::ArchiveInvalid {
        archive: archive.to_path_buf(),
        detail,
    };
    let f = std::fs::File::open(archive)
        .map_err(|e| SessionError::io(format!("could not read {}", archive.display()), e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(f))
        .map_err(|e| invalid(format!("not a zip archive ({e})")))?;
    let mut read_member = |name: &str| -> Result<Option<Zeroizing<Vec<u8>>>> {
        let mut m = match zip.by_name(name) {
            Ok(m) => m,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(invalid(format!("cannot read '{name}' ({e})"))),
        };
        if m.is_dir() {
            return Ok(None);
        }
        let mut data = Zeroizing::new(Vec::new());
        m.read_to_end(&mut data)
            .map_err(|e| invalid(format!("cannot read '{name}' ({e})")))?;
        Ok(Some(data))
    };
    let config_bytes = read_member("config")?
        .ok_or_else(|| SessionError::ArchiveNoConfig(archive.to_path_buf()))?;
    let config_text = std::str::from_utf8(&config_bytes)
        .map_err(|_| invalid("its config is not valid UTF-8".to_string()))?;
    let archived = ConfigFile::parse(config_text, &archive.join("config"))?;
    let archived_name = archived
        .section_names()
        .last()
        .unwrap_or("DEFAULT")
        .to_string();
    config::validate_profile_name(&archived_name)?;
    let profile = archived
        .profile(&archived_name)
        .ok_or(SessionError::ArchiveNoProfiles)?;
    if profile.get("security_token_file").is_none() {
        return Err(SessionError::ImportNotTokenProfile);
    }
    let name = match opts.rename.as_deref() {
        Some(n) => {
            config::validate_profile_name(n)?;
            n.to_string()
        }
        None => archived_name,
    };
    // configparser lists DEFAULT among the profiles of any file, even a missing one.
    let exists = name == config::DEFAULT_PROFILE
        || match ConfigFile::load(config_path) {
            Ok(c) => c.section_names().any(|s| s == name),
            Err(config::ConfigError::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
    if exists && !opts.force {
        return Err(SessionError::ProfileExists(name));
    }

    let token_dir = abspath(token_dir)?;
    let dir = token_dir.join(&name);
    // Check every value before writing anything.
    let mut files: Vec<(String, String)> = Vec::new();
    for (k, v) in profile.iter() {
        if is_file_key(k) {
            if !plain_file_name(v) {
                return Err(SessionError::UnsafeArchivePath {
                    key: k.to_string(),
                    value: v.to_string(),
                    dir: dir.clone(),
                });
            }
            files.push((k.to_string(), v.to_string()));
        }
    }
    let mut contents = Vec::new();
    for (k, v) in &files {
        let data = read_member(v)?
            .ok_or_else(|| invalid(format!("it does not contain the file '{v}' named by '{k}'")))?;
        contents.push((v.clone(), data));
    }
    if !token_dir.exists() {
        fsutil::create_private_dir(&token_dir).map_err(|e| {
            SessionError::io(format!("could not create {}", token_dir.display()), e)
        })?;
    }
    make_dir_private(&dir)?;
    for (v, data) in &contents {
        write_private(&dir.join(v), data)?;
    }

    let path_of = |key: &str| {
        profile
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| dir.join(v).display().to_string())
    };
    let key_file = path_of("key_file");
    let token_file = path_of("security_token_file");
    let mut entries: Vec<(&str, String)> = Vec::new();
    let plain = |k: &str| profile.get(k).filter(|v| !v.is_empty()).map(str::to_string);
    if let Some(v) = plain("fingerprint") {
        entries.push(("fingerprint", v));
    }
    if let Some(v) = key_file {
        entries.push(("key_file", v));
    }
    if let Some(v) = plain("tenancy") {
        entries.push(("tenancy", v));
    }
    if let Some(v) = plain("region") {
        entries.push(("region", v));
    }
    if let Some(v) = plain("pass_phrase") {
        entries.push(("pass_phrase", v));
    }
    if let Some(v) = token_file {
        entries.push(("security_token_file", v));
    }
    config::upsert_profile(config_path, &name, &entries)?;
    Ok(ImportedSession { profile: name, dir })
}

// =============================================================================================
// Terminate (§4.7)
// =============================================================================================

/// What [`terminate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    /// The session directory that was deleted, if there was one.
    pub removed_dir: Option<PathBuf>,
}

/// `oci session terminate` (§4.7): checks in the CLI's order (the profile has
/// `security_token_file`; it is not `DEFAULT`; it is a section of the file), removes the section
/// and deletes `<token_dir>/<profile>` (the CLI always uses the default `~/.oci/sessions`, whatever
/// `--token-location` was; pass that). Nothing is revoked server-side.
///
/// **[I]** The directory is deleted only when the profile name is a valid one (see
/// `config::validate_profile_name`): a hand-written section name such as `..` never makes
/// us delete outside `token_dir`.
pub fn terminate(config_path: &Path, profile_name: &str, token_dir: &Path) -> Result<Terminated> {
    let file = ConfigFile::load(config_path)?;
    let has_token = file
        .profile(profile_name)
        .is_some_and(|p| p.get("security_token_file").is_some_and(|v| !v.is_empty()));
    if !has_token {
        if file.profile(profile_name).is_none() {
            return Err(SessionError::ProfileDoesNotExist);
        }
        return Err(SessionError::TerminateNoTokenFileKey);
    }
    if profile_name == "DEFAULT" {
        return Err(SessionError::TerminateDefault);
    }
    if !file.section_names().any(|s| s == profile_name) {
        return Err(SessionError::ProfileDoesNotExist);
    }
    config::remove_profile(config_path, profile_name)?;
    let mut removed_dir = None;
    if config::validate_profile_name(profile_name).is_ok() {
        let dir = token_dir.join(profile_name);
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| SessionError::io(format!("could not delete {}", dir.display()), e))?;
            removed_dir = Some(dir);
        }
    }
    Ok(Terminated { removed_dir })
}
