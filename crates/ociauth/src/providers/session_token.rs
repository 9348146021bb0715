//! Session-token provider: a UPST from `security_token_file` and its bound key from `key_file`,
//! key id `ST$<token>` (spec oci-signing-config-session.md §4.8, §6).
//!
//! - The token is read **trimmed** (a trailing newline would break the header; we never write
//!   one). Credentials expire at the token's `exp`, carry the profile's region and the token's
//!   `tenant`.
//! - **Files are watched.** Every [`CredentialsProvider::credentials`] call stats both files
//!   (device, inode, length, modification time; no read, no parse); only when one changed are they
//!   read again. So a refresh or a new login by another process (`ociauth session refresh`,
//!   `oci session refresh`, `ociauth session authenticate`) is picked up at the next request.
//!   A token file that does not parse while a previous token is still valid (a reader racing
//!   the official CLI, which rewrites the file in place) keeps the previous token and is read
//!   again on the next call.
//! - **Without auto refresh** (the default, as the CLI): an expired token (`now > exp`, whole
//!   seconds) is an error naming the profile and the fix (`ociauth session refresh --profile P`
//!   while `sess_exp` allows, else `ociauth session authenticate --profile-name P`).
//! - **With [`SessionTokenProvider::auto_refresh`]**: once less than the refresh window is left
//!   (default `min(5 min, (exp - iat) / 2)`, as [`crate::cache::CachingProvider`]), the provider
//!   refreshes the token itself through `POST {auth}/v1/authentication/refresh`
//!   ([`session::refresh_token_file`]): one refresh at a time per provider (single flight: other
//!   callers wait and then use its result), one per token file across processes (advisory lock
//!   `<token file>.lock`; whoever comes second finds the file already replaced and uses it), the
//!   new token written atomically. Refresh stops when the session ends (`sess_exp` passed, or the
//!   token's `exp` already reaches `sess_exp`) or the service answers 401; the token is then
//!   used until it expires, after which the error says the session must be re-authenticated.
//!   A failed refresh (network, 5xx) while the token is still valid logs a warning and keeps
//!   the current token; the next call tries again (stale-while-valid).
//! - [`CredentialsProvider::invalidate`] (the client calls it on a 401) makes the next call
//!   re-read the files and, with auto refresh, refresh once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::cache::DEFAULT_MAX_REFRESH_WINDOW;
use crate::config::Profile;
use crate::credentials::{BoxFuture, Credentials, CredentialsProvider};
use crate::env::{Clock, Env, SystemClock, expand_user};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::regions::{self, Region};
use crate::session::{self, SessionError, TokenInfo};

/// The provider's name in messages (`Error::Credentials::provider`).
pub const PROVIDER_NAME: &str = "security_token";

/// Where a session's files are and what they belong to.
#[derive(Clone, Default)]
pub struct SessionTokenConfig {
    /// `security_token_file`, `~` already expanded.
    pub token_file: PathBuf,
    /// `key_file`, `~` already expanded.
    pub key_file: PathBuf,
    pub passphrase: Option<String>,
    /// The profile's region (for the credentials and the refresh endpoint).
    pub region: Option<Region>,
    /// The profile name, for messages (default `DEFAULT`).
    pub profile: Option<String>,
}

impl std::fmt::Debug for SessionTokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTokenConfig")
            .field("token_file", &self.token_file)
            .field("key_file", &self.key_file)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<set>"))
            .field("region", &self.region)
            .field("profile", &self.profile)
            .finish()
    }
}

/// Identity of a file's current content, cheap to take (one `stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
    ctime_ns: i128,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Ok(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.modified().ok(),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
    #[cfg(not(unix))]
    {
        Ok(Stamp {
            dev: 0,
            ino: 0,
            len: m.len(),
            mtime: m.modified().ok(),
            ctime_ns: 0,
        })
    }
}

/// One read of the two files.
#[derive(Clone)]
struct Loaded {
    token_stamp: Stamp,
    key_stamp: Stamp,
    creds: Credentials,
    info: TokenInfo,
    loaded_at: SystemTime,
}

impl Loaded {
    fn token(&self) -> &str {
        self.creds.token().unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    loaded: Option<Loaded>,
    /// The key last read, reused while its file is unchanged.
    key: Option<(Stamp, PrivateKey)>,
    /// A token the service refused to refresh (401), or whose refresh did not extend it: not
    /// refreshed again.
    no_refresh_for: Option<String>,
    /// `invalidate()` asked for a refresh at the next call.
    force_refresh: bool,
}

/// Signs with a session token; see the module documentation. Cheap to share behind an `Arc`.
pub struct SessionTokenProvider {
    token_file: PathBuf,
    key_file: PathBuf,
    passphrase: Option<Zeroizing<String>>,
    region: Option<Region>,
    profile: String,
    auto_refresh: bool,
    endpoint: Option<String>,
    window: Option<Duration>,
    clock: Arc<dyn Clock>,
    http: OnceLock<reqwest::Client>,
    state: Mutex<State>,
    /// Single flight for refreshes made by this provider.
    gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SessionTokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("SessionTokenProvider")
            .field("profile", &self.profile)
            .field("token_file", &self.token_file)
            .field("key_file", &self.key_file)
            .field("region", &self.region.as_ref().map(|r| &r.id))
            .field("auto_refresh", &self.auto_refresh)
            .field("endpoint", &self.endpoint)
            .field("cached", &st.loaded.as_ref().map(|l| &l.creds))
            .finish_non_exhaustive()
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Expired as the CLI counts it: `int(now) > exp`.
fn is_expired(info: &TokenInfo, now: SystemTime) -> bool {
    info.expires_at.is_some_and(|exp| secs(now) > secs(exp))
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{} s after the epoch", secs(t)))
}

/// The message when a session cannot be renewed any more.
pub fn session_over_message(profile: &str) -> String {
    format!(
        "the session for profile {profile} has expired and can no longer be refreshed; run `ociauth session authenticate --profile-name {profile}`"
    )
}

/// Why a refresh is not attempted.
enum NoRefresh {
    /// Neither a region nor an endpoint to send it to.
    NoEndpoint,
    /// The session is over (`sess_exp`), or the service refused this token.
    SessionOver,
}

impl SessionTokenProvider {
    /// Read both files once (so a missing file or a bad key fails here) and build the provider.
    /// Auto refresh is off; see [`SessionTokenProvider::auto_refresh`].
    pub fn new(cfg: SessionTokenConfig) -> Result<Self> {
        let p = Self {
            token_file: cfg.token_file,
            key_file: cfg.key_file,
            passphrase: cfg.passphrase.filter(|p| !p.is_empty()).map(Zeroizing::new),
            region: cfg.region,
            profile: cfg.profile.unwrap_or_else(|| "DEFAULT".to_string()),
            auto_refresh: false,
            endpoint: None,
            window: None,
            clock: Arc::new(SystemClock),
            http: OnceLock::new(),
            state: Mutex::new(State::default()),
            gate: tokio::sync::Mutex::new(()),
        };
        p.load()?;
        Ok(p)
    }

    /// From a config profile (DEFAULT merged in): `security_token_file` and `key_file` (`~`
    /// expanded), `pass_phrase`, `region` (resolved with `env`). The errors of a missing key or
    /// file are the CLI's (§4.8).
    pub fn from_profile(profile: &Profile, env: &dyn Env) -> Result<Self> {
        let cred_err = |message: String| Error::Credentials {
            provider: PROVIDER_NAME,
            message,
            transient: false,
        };
        let token_file = profile
            .get("security_token_file")
            .filter(|v| !v.is_empty())
            .map(|v| expand_user(v, env))
            .ok_or_else(|| {
                cred_err(
                    "ERROR: Config value for 'security_token_file' must be specified when using --auth security_token"
                        .to_string(),
                )
            })?;
        if !token_file.exists() {
            return Err(cred_err(format!(
                "ERROR: File specified by 'security_token_file' does not exist: {}",
                token_file.display()
            )));
        }
        let key_file = profile
            .get("key_file")
            .filter(|v| !v.is_empty())
            .map(|v| expand_user(v, env))
            .ok_or_else(|| {
                cred_err(format!(
                    "the profile {} has no key_file (the session's private key); authenticate again with `ociauth session authenticate --profile-name {}`",
                    profile.name(),
                    profile.name()
                ))
            })?;
        let region = match profile.get("region").filter(|r| !r.is_empty()) {
            Some(r) => Some(regions::resolve_region(r, env)?),
            None => None,
        };
        Self::new(SessionTokenConfig {
            token_file,
            key_file,
            passphrase: profile.get("pass_phrase").map(str::to_string),
            region,
            profile: Some(profile.name().to_string()),
        })
    }

    /// Refresh the token automatically before it expires (off by default, like the CLI).
    pub fn auto_refresh(mut self, on: bool) -> Self {
        self.auto_refresh = on;
        self
    }

    /// Send refreshes to `endpoint` (e.g. an emulator) instead of `https://auth.{region}.{domain}`;
    /// `/v1` is appended unless the URL already ends with it.
    pub fn refresh_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Refresh once less than `window` is left (default `min(5 min, (exp - iat) / 2)`).
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// The clock expiry is judged by (tests use [`crate::env::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The HTTP client for refresh calls (e.g. one trusting a private CA); default
    /// [`session::default_http_client`].
    pub fn http_client(self, client: reqwest::Client) -> Self {
        let _ = self.http.set(client);
        self
    }

    /// The profile name used in messages.
    pub fn profile_name(&self) -> &str {
        &self.profile
    }

    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// The refresh URL, when a region or an endpoint is known.
    pub fn refresh_url(&self) -> Option<String> {
        session::auth_refresh_url(self.region.as_ref(), self.endpoint.as_deref())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, message: String, transient: bool) -> Error {
        Error::Credentials {
            provider: PROVIDER_NAME,
            message,
            transient,
        }
    }

    fn missing_file_error(&self, path: &Path, what: &str, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            self.err(
                format!(
                    "the session {what} {} of profile {} does not exist; run `ociauth session authenticate --profile-name {}`",
                    path.display(),
                    self.profile,
                    self.profile
                ),
                false,
            )
        } else {
            Error::io(
                format!("could not read the session {what} {}", path.display()),
                e,
            )
        }
    }

    /// The current files: the cached read when neither file changed, else a fresh read.
    fn load(&self) -> Result<Loaded> {
        let token_stamp = stamp(&self.token_file)
            .map_err(|e| self.missing_file_error(&self.token_file, "token file", e))?;
        let key_stamp = stamp(&self.key_file)
            .map_err(|e| self.missing_file_error(&self.key_file, "key file", e))?;
        let (previous, cached_key) = {
            let st = self.lock();
            if let Some(l) = &st.loaded
                && l.token_stamp == token_stamp
                && l.key_stamp == key_stamp
            {
                return Ok(l.clone());
            }
            (
                st.loaded.clone(),
                st.key
                    .as_ref()
                    .filter(|(s, _)| *s == key_stamp)
                    .map(|(_, k)| k.clone()),
            )
        };
        let key = match cached_key {
            Some(k) => k,
            None => session::load_key_file(
                &self.key_file,
                self.passphrase.as_deref().map(|p| p.as_str()),
            )
            .map_err(|e| match e {
                SessionError::KeyFile { path, source } => Error::KeyFile { path, source },
                other => self.err(other.to_string(), false),
            })?,
        };
        let now = self.clock.now();
        let parsed = session::read_token_file(&self.token_file)
            .map_err(|e| match e {
                SessionError::Io { source, .. } => {
                    self.missing_file_error(&self.token_file, "token file", source)
                }
                other => self.err(other.to_string(), false),
            })
            .and_then(|token| match session::token_info(&token) {
                Ok(info) => Ok((token, info)),
                Err(e) => Err(self.err(
                    format!(
                        "{} (security_token_file of profile {}) does not hold a session token ({e}); run `ociauth session authenticate --profile-name {}`",
                        self.token_file.display(),
                        self.profile,
                        self.profile
                    ),
                    false,
                )),
            });
        let (token, info) = match parsed {
            Ok(v) => v,
            Err(e) => {
                // Probably caught a writer mid-way (the official CLI truncates, then writes):
                // keep the previous token while it is valid, and read again next time.
                if let Some(prev) = previous.filter(|p| !is_expired(&p.info, now)) {
                    tracing::warn!(
                        profile = %self.profile,
                        error = %e,
                        "the session token file could not be read; using the previous token"
                    );
                    return Ok(prev);
                }
                return Err(e);
            }
        };
        let mut creds = Credentials::security_token(&token, key.clone(), PROVIDER_NAME);
        if let Some(exp) = info.expires_at {
            creds = creds.with_expiry(exp);
        }
        if let Some(r) = &self.region {
            creds = creds.with_region(r.id.as_str());
        }
        if let Some(t) = &info.tenancy {
            creds = creds.with_tenancy(t.as_str());
        }
        let loaded = Loaded {
            token_stamp,
            key_stamp,
            creds,
            info,
            loaded_at: now,
        };
        let mut st = self.lock();
        st.key = Some((key_stamp, key));
        st.loaded = Some(loaded.clone());
        Ok(loaded)
    }

    fn needs_refresh(&self, l: &Loaded, now: SystemTime) -> bool {
        let Some(exp) = l.info.expires_at else {
            return false;
        };
        let window = self.window.unwrap_or_else(|| {
            let start = l.info.issued_at.unwrap_or(l.loaded_at);
            let lifetime = exp.duration_since(start).unwrap_or(Duration::ZERO);
            (lifetime / 2).min(DEFAULT_MAX_REFRESH_WINDOW)
        });
        now.checked_add(window).is_none_or(|t| t >= exp)
    }

    fn can_refresh(&self, l: &Loaded, now: SystemTime) -> std::result::Result<String, NoRefresh> {
        if self
            .lock()
            .no_refresh_for
            .as_deref()
            .is_some_and(|t| t == l.token())
        {
            return Err(NoRefresh::SessionOver);
        }
        if let Some(end) = l.info.session_expires_at {
            let exp_reaches_end = l.info.expires_at.is_some_and(|exp| exp >= end);
            if now >= end || exp_reaches_end {
                return Err(NoRefresh::SessionOver);
            }
        }
        self.refresh_url().ok_or(NoRefresh::NoEndpoint)
    }

    /// The error for an expired token.
    fn expired_error(&self, l: &Loaded, now: SystemTime, why: Option<NoRefresh>) -> Error {
        let p = &self.profile;
        let exp = l.info.expires_at.map(rfc3339).unwrap_or_default();
        let over = l.info.session_expires_at.is_some_and(|end| now >= end);
        let message = match why {
            Some(NoRefresh::SessionOver) => session_over_message(p),
            _ if over => session_over_message(p),
            Some(NoRefresh::NoEndpoint) => format!(
                "the session token for profile {p} expired at {exp} and cannot be refreshed automatically because the profile has no region; run `ociauth session refresh --profile {p}`, or `ociauth session authenticate --profile-name {p}` if the refresh is refused"
            ),
            None => format!(
                "the session token for profile {p} expired at {exp}; run `ociauth session refresh --profile {p}`, or `ociauth session authenticate --profile-name {p}` if the refresh is refused"
            ),
        };
        self.err(message, false)
    }

    fn http(&self) -> Result<&reqwest::Client> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let c = session::default_http_client().map_err(|e| self.err(e.to_string(), false))?;
        Ok(self.http.get_or_init(|| c))
    }

    async fn get(&self) -> Result<Credentials> {
        let l = self.load()?;
        let now = self.clock.now();
        if !self.auto_refresh {
            if is_expired(&l.info, now) {
                return Err(self.expired_error(&l, now, None));
            }
            return Ok(l.creds);
        }
        if !self.lock().force_refresh && !self.needs_refresh(&l, now) {
            return Ok(l.creds);
        }
        if let Err(why) = self.can_refresh(&l, now) {
            return self.valid_or(l, now, why);
        }

        let _single_flight = self.gate.lock().await;
        // Another task may have refreshed while we waited (the file changed: re-read).
        let l = self.load()?;
        let now = self.clock.now();
        let forced = std::mem::take(&mut self.lock().force_refresh);
        if !forced && !self.needs_refresh(&l, now) {
            return Ok(l.creds);
        }
        let url = match self.can_refresh(&l, now) {
            Ok(url) => url,
            Err(why) => return self.valid_or(l, now, why),
        };
        let http = self.http()?;
        tracing::debug!(profile = %self.profile, %url, "refreshing the session token");
        let result = session::refresh_token_file(
            http,
            &url,
            &self.token_file,
            l.creds.private_key(),
            Some(l.token()),
            now,
        )
        .await;
        match result {
            Ok(outcome) => {
                let fresh = self.load()?;
                if !outcome.refreshed_elsewhere
                    && fresh.info.expires_at.is_some()
                    && fresh.info.expires_at <= l.info.expires_at
                {
                    // The service could not extend it (end of session): do not ask again.
                    self.lock().no_refresh_for = Some(fresh.token().to_string());
                }
                let now = self.clock.now();
                if is_expired(&fresh.info, now) {
                    return Err(self.expired_error(&fresh, now, Some(NoRefresh::SessionOver)));
                }
                Ok(fresh.creds)
            }
            Err(SessionError::SessionNoLongerValid) => {
                self.lock().no_refresh_for = Some(l.token().to_string());
                self.valid_or(l, now, NoRefresh::SessionOver)
            }
            Err(e) => {
                if !is_expired(&l.info, now) {
                    tracing::warn!(
                        profile = %self.profile,
                        error = %e,
                        "refreshing the session token failed; using the current token until it expires"
                    );
                    return Ok(l.creds);
                }
                Err(self.err(
                    format!(
                        "the session token for profile {} expired and refreshing it failed: {e}",
                        self.profile
                    ),
                    e.is_transient(),
                ))
            }
        }
    }

    /// The current credentials while they are valid, else the error saying why they cannot be
    /// renewed.
    fn valid_or(&self, l: Loaded, now: SystemTime, why: NoRefresh) -> Result<Credentials> {
        if is_expired(&l.info, now) {
            Err(self.expired_error(&l, now, Some(why)))
        } else {
            Ok(l.creds)
        }
    }
}

impl CredentialsProvider for SessionTokenProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(self.get())
    }

    fn invalidate(&self) {
        let mut st = self.lock();
        st.loaded = None;
        if self.auto_refresh {
            st.force_refresh = true;
        }
    }

    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }
}
