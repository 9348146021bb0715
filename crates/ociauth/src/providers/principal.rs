//! Plumbing shared by the principal providers ([`super::instance_principal`],
//! [`super::resource_principal`], [`super::oke_workload_identity`]): their typed error, bounded
//! and jittered retries, and the few HTTP calls they make (unsigned, signed with the federation
//! signer's header list, or signed with a session token).
//!
//! These calls do not go through [`crate::client::Client`]: the federation call signs without
//! `host`, the metadata service must be reached without a proxy and with a short connect
//! timeout, and every call has its own retry budget (spec §2.7).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::credentials::{Credentials, CredentialsProvider};
use crate::error::Error;
use crate::jwt;
use crate::keys::PrivateKey;
use crate::signer::{self, SignOptions};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What went wrong, for callers that branch on it (an auto-detection chain skips providers that
/// are [not configured](PrincipalErrorKind::NotConfigured) and stops at any other error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrincipalErrorKind {
    /// The variable that selects this method is not set ([`PrincipalError::variable`] names it).
    NotConfigured,
    /// The instance metadata service cannot be reached: this is not an OCI instance.
    NotOnInstance,
    /// Configured, but a setting is missing, invalid or unreadable (a file, a PEM, a region).
    Invalid,
    /// A metadata or token service answered with a non-success status.
    Service,
    /// No answer: connection refused or reset, DNS, TLS, timeout.
    Transport,
    /// A success answer that is not what the protocol returns (malformed JSON or token).
    InvalidResponse,
    /// A refreshed instance certificate names another tenancy than the first one did.
    TenancyChanged,
    /// A token handed over by the platform (a file or a variable) has expired.
    Expired,
}

/// Why a principal provider could not produce credentials. The message names the variable, file
/// or URL involved and what to do; it never contains a token, a private key or a passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalError {
    provider: &'static str,
    kind: PrincipalErrorKind,
    message: String,
    status: Option<u16>,
    variable: Option<String>,
    transient: bool,
}

impl std::fmt::Display for PrincipalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.provider, self.message)
    }
}

impl std::error::Error for PrincipalError {}

impl PrincipalError {
    pub(crate) fn new(provider: &'static str, kind: PrincipalErrorKind, message: String) -> Self {
        let transient = matches!(kind, PrincipalErrorKind::Transport);
        Self {
            provider,
            kind,
            message,
            status: None,
            variable: None,
            transient,
        }
    }

    /// `variable` is not set, and it is the one that selects this method.
    pub(crate) fn not_configured(provider: &'static str, variable: &str, message: String) -> Self {
        let mut e = Self::new(provider, PrincipalErrorKind::NotConfigured, message);
        e.variable = Some(variable.to_string());
        e
    }

    pub(crate) fn invalid(provider: &'static str, message: String) -> Self {
        Self::new(provider, PrincipalErrorKind::Invalid, message)
    }

    /// A setting is wrong or missing; `variable` names it.
    pub(crate) fn invalid_var(provider: &'static str, variable: &str, message: String) -> Self {
        let mut e = Self::invalid(provider, message);
        e.variable = Some(variable.to_string());
        e
    }

    pub(crate) fn invalid_response(provider: &'static str, message: String) -> Self {
        Self::new(provider, PrincipalErrorKind::InvalidResponse, message)
    }

    pub(crate) fn with_transient(mut self, transient: bool) -> Self {
        self.transient = transient;
        self
    }

    pub(crate) fn append(mut self, more: &str) -> Self {
        self.message.push_str(more);
        self
    }

    fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }

    /// The provider that failed (`instance_principal`, `resource_principal`,
    /// `oke_workload_identity`).
    pub fn provider(&self) -> &'static str {
        self.provider
    }
    pub fn kind(&self) -> PrincipalErrorKind {
        self.kind
    }
    /// The message without the provider prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The HTTP status, for [`PrincipalErrorKind::Service`].
    pub fn status(&self) -> Option<u16> {
        self.status
    }
    /// The environment variable at fault, when one is.
    pub fn variable(&self) -> Option<&str> {
        self.variable.as_deref()
    }
    /// This method is not set up here (selecting variable unset, or no metadata service): an
    /// auto-detection chain may try the next method. Any other error means "configured but
    /// broken" and must be reported, never skipped.
    pub fn is_not_configured(&self) -> bool {
        matches!(
            self.kind,
            PrincipalErrorKind::NotConfigured | PrincipalErrorKind::NotOnInstance
        )
    }
    /// Retrying later may succeed: network trouble, 5xx, 429, or a platform file not yet renewed.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

impl From<PrincipalError> for Error {
    fn from(e: PrincipalError) -> Self {
        Error::Credentials {
            provider: e.provider,
            message: e.message,
            transient: e.transient,
        }
    }
}

/// An error from another provider this one builds on (the instance principal under resource
/// principal 1.1, the leaf under 3.0), with its message kept whole.
pub(crate) fn upstream(provider: &'static str, what: &str, e: &Error) -> PrincipalError {
    PrincipalError::new(
        provider,
        if e.is_transient() {
            PrincipalErrorKind::Transport
        } else {
            PrincipalErrorKind::Invalid
        },
        format!("{what}: {e}"),
    )
    .with_transient(e.is_transient())
}

/// An error from a provider this one builds on, re-labelled as this provider's with `what`
/// in front; kind, status and transience are kept.
pub(crate) fn wrap(provider: &'static str, what: &str, e: PrincipalError) -> PrincipalError {
    let message = format!("{what}: {e}");
    PrincipalError {
        provider,
        message,
        ..e
    }
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

/// A bounded retry budget with exponential backoff and full jitter: the wait before retry `n`
/// (1-based) is `random(0, min(base_backoff * 2^(n-1), max_backoff))`, and no retry starts once
/// waiting for it would pass `max_elapsed` since the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (at least 1).
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub max_elapsed: Duration,
}

impl RetryPolicy {
    /// The Python SDK's metadata-service budget: 8 attempts, 180 s in all, 1 s doubling up to
    /// 30 s (spec §2.7).
    pub const IMDS: Self = Self {
        max_attempts: 8,
        base_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        max_elapsed: Duration::from_secs(180),
    };
    /// The Python SDK's federation-client budget: 3 attempts, 100 s in all (spec §2.7).
    pub const FEDERATION: Self = Self {
        max_attempts: 3,
        base_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        max_elapsed: Duration::from_secs(100),
    };
    /// The SDK's `DEFAULT_RETRY_STRATEGY`, which its resource-principal and OKE signers use:
    /// 8 attempts, 600 s in all.
    pub const SERVICE: Self = Self {
        max_attempts: 8,
        base_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        max_elapsed: Duration::from_secs(600),
    };
    /// One attempt, no retry.
    pub const NONE: Self = Self {
        max_attempts: 1,
        base_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        max_elapsed: Duration::ZERO,
    };

    /// The same budget with every wait scaled to `base` (tests: milliseconds instead of seconds).
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_backoff = base;
        self.max_backoff = max;
        self
    }

    /// The jittered wait before retry `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        exp.min(self.max_backoff).mul_f64(random_fraction())
    }
}

/// A uniformly random number in [0, 1).
pub(crate) fn random_fraction() -> f64 {
    let mut b = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// A retry budget being spent: call [`Retrier::retry`] after each retryable failure.
#[derive(Debug)]
pub(crate) struct Retrier {
    policy: RetryPolicy,
    start: Instant,
    attempts: u32,
}

impl Retrier {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        Self {
            policy: *policy,
            start: Instant::now(),
            attempts: 1,
        }
    }

    /// After attempt n failed with the retryable `e`: wait and return `Ok` when the budget
    /// allows another attempt, else return `e` saying how many attempts were made.
    pub(crate) async fn retry(&mut self, e: PrincipalError) -> Result<(), PrincipalError> {
        if self.attempts >= self.policy.max_attempts.max(1) {
            return Err(self.fail(e));
        }
        let wait = self.policy.backoff(self.attempts);
        if self.start.elapsed() + wait > self.policy.max_elapsed {
            return Err(self.fail(e));
        }
        tracing::debug!(provider = e.provider, error = %e, attempt = self.attempts, ?wait, "retrying");
        tokio::time::sleep(wait).await;
        self.attempts += 1;
        Ok(())
    }

    /// A final error: says how many attempts were made when there was more than one.
    pub(crate) fn fail(&self, e: PrincipalError) -> PrincipalError {
        gave_up(e, self.attempts)
    }
}

fn gave_up(e: PrincipalError, attempts: u32) -> PrincipalError {
    if attempts > 1 {
        let msg = format!("{} (gave up after {attempts} attempts)", e.message);
        e.with_message(msg)
    } else {
        e
    }
}

/// Which answers a call retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryOn {
    /// Instance metadata: 404 (not ready yet), 429, 5xx except 501.
    Imds,
    /// `/v1/x509`: 429 **[I]** (the SDKs retry only 5xx; throttling is worth a bounded retry),
    /// 5xx except 501.
    Federation,
    /// Service calls (`DEFAULT_RETRY_STRATEGY`): 409 `IncorrectState`/`LockConflict`, 429, 5xx
    /// except 501.
    Service,
}

impl RetryOn {
    pub(crate) fn status_is_retryable(self, status: u16, code: Option<&str>) -> bool {
        match (self, status) {
            (_, 501) => false,
            (_, s) if s >= 500 => true,
            (_, 429) => true,
            (RetryOn::Imds, 404) => true,
            (RetryOn::Service, 409) => matches!(code, Some("IncorrectState" | "LockConflict")),
            _ => false,
        }
    }
}

/// A status worth retrying later, for [`PrincipalError::is_transient`].
pub(crate) fn status_is_transient(status: u16) -> bool {
    status == 429 || (status >= 500 && status != 501)
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// This crate's `user-agent` for its own token calls.
pub(crate) fn user_agent() -> String {
    format!(
        "ociauth/{} (rust; {}-{})",
        crate::client::VERSION,
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// How an HTTP client for token calls is built.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpSettings<'a> {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Never use a proxy (the metadata service is link-local).
    pub no_proxy: bool,
    /// Trust these CA certificates in addition to the system roots.
    pub extra_ca: Option<&'a Path>,
    /// Trust only these CA certificates (the Kubernetes cluster CA).
    pub only_ca: Option<&'a Path>,
}

pub(crate) fn http_client(
    provider: &'static str,
    s: &HttpSettings<'_>,
) -> Result<reqwest::Client, PrincipalError> {
    let mut b = reqwest::Client::builder()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(s.connect_timeout)
        .timeout(s.timeout)
        .retry(reqwest::retry::never());
    if s.no_proxy {
        b = b.no_proxy();
    }
    if let Some(path) = s.extra_ca {
        b = b.tls_certs_merge(read_ca(provider, path)?);
    }
    if let Some(path) = s.only_ca {
        b = b.tls_certs_only(read_ca(provider, path)?);
    }
    b.build().map_err(|e| {
        PrincipalError::invalid(
            provider,
            format!("could not set up the HTTP client: {}", error_chain(&e)),
        )
    })
}

fn read_ca(
    provider: &'static str,
    path: &Path,
) -> Result<Vec<reqwest::Certificate>, PrincipalError> {
    let pem = std::fs::read(path).map_err(|e| {
        PrincipalError::invalid(
            provider,
            format!(
                "could not read the CA certificate file {}: {e}",
                path.display()
            ),
        )
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        PrincipalError::invalid(
            provider,
            format!("the CA certificate file {} is not PEM: {e}", path.display()),
        )
    })?;
    if certs.is_empty() {
        return Err(PrincipalError::invalid(
            provider,
            format!(
                "the CA certificate file {} holds no '-----BEGIN CERTIFICATE-----' block",
                path.display()
            ),
        ));
    }
    Ok(certs)
}

/// A response, body read in full.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The OCI error JSON's `code`, if any.
    pub(crate) fn error_code(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("code")?
            .as_str()
            .map(str::to_string)
    }

    /// `"<status> <code>: <message> (opc-request-id: …)"` for an error answer. A body that is
    /// not OCI error JSON is shown cut short, unless it looks like it carries a token.
    pub(crate) fn describe_error(&self) -> String {
        let json: Option<serde_json::Value> = serde_json::from_slice(&self.body).ok();
        let field = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let mut out = self.status.to_string();
        match (field("code"), field("message")) {
            (Some(c), Some(m)) => out.push_str(&format!(" {c}: {m}")),
            (Some(c), None) => out.push_str(&format!(" {c}")),
            (None, Some(m)) => out.push_str(&format!(": {m}")),
            (None, None) => {
                let text = String::from_utf8_lossy(&self.body);
                let text = text.trim();
                if !text.is_empty() && !text.contains("eyJ") {
                    let cut: String = text.chars().take(200).collect();
                    out.push_str(&format!(": {cut}"));
                }
            }
        }
        if let Some(id) = self.header("opc-request-id") {
            out.push_str(&format!(" (opc-request-id: {id})"));
        }
        out
    }
}

/// Why a request got no answer, e.g. `connection refused`.
pub(crate) fn transport_cause(e: &reqwest::Error) -> String {
    let mut io_kind = None;
    let mut innermost = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        innermost = err.to_string();
        cur = err.source();
    }
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".into(),
        Some(std::io::ErrorKind::ConnectionReset) => "connection reset by the server".into(),
        Some(std::io::ErrorKind::TimedOut) => "connection timed out".into(),
        _ if e.is_timeout() => format!("timed out ({innermost})"),
        _ => innermost,
    }
}

/// A request that got no answer, and whether to retry it: a server certificate that is not
/// trusted is final (retrying cannot help, and `tls_hint` says what to do); anything else
/// (refused, reset, timed out) is transient.
pub(crate) fn no_answer(
    provider: &'static str,
    what: &str,
    endpoint: &str,
    e: &reqwest::Error,
    tls_hint: &str,
) -> (PrincipalError, bool) {
    let cause = transport_cause(e);
    let untrusted = cause.contains("certificate") || cause.contains("UnknownIssuer");
    if untrusted {
        let err = PrincipalError::new(
            provider,
            PrincipalErrorKind::Transport,
            format!("{what} ({endpoint}) failed: the server's certificate is not trusted ({cause}){tls_hint}"),
        )
        .with_transient(false);
        (err, false)
    } else {
        let err = PrincipalError::new(
            provider,
            PrincipalErrorKind::Transport,
            format!("{what} ({endpoint}) got no answer: {cause}"),
        );
        (err, true)
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Send a request and read the whole body.
pub(crate) async fn send(
    http: &reqwest::Client,
    req: reqwest::Request,
) -> Result<Reply, reqwest::Error> {
    let resp = http.execute(req).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A parsed request URL: what is signed and what is sent agree because both come from it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub url: url::Url,
    /// `host[:port]`, as reqwest sends it in `Host`.
    pub authority: String,
    /// Path and query.
    pub target: String,
}

impl Target {
    pub(crate) fn parse(
        provider: &'static str,
        what: &str,
        raw: &str,
    ) -> Result<Self, PrincipalError> {
        let bad = |why: &str| {
            PrincipalError::invalid(provider, format!("invalid {what} URL {raw:?}: {why}"))
        };
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("expected an http:// or https:// URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("user names or passwords in the URL are not supported"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        let authority = url[url::Position::BeforeHost..url::Position::AfterPort].to_string();
        let target = url[url::Position::BeforePath..url::Position::AfterQuery].to_string();
        Ok(Self {
            url,
            authority,
            target,
        })
    }
}

/// Build a signed request. `body` is JSON for POST (signed with the body headers); `opts`
/// chooses whether `host` is signed (not for `/v1/x509`).
pub(crate) fn signed_request(
    method: reqwest::Method,
    target: &Target,
    body: Option<&[u8]>,
    extra: &[(&str, &str)],
    opts: &SignOptions<'_>,
    creds: &Credentials,
    now: SystemTime,
) -> Result<reqwest::Request, Error> {
    let mut headers: Vec<(String, String)> = vec![
        ("user-agent".into(), user_agent()),
        ("accept".into(), "application/json".into()),
    ];
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    for (k, v) in extra {
        headers.push((k.to_ascii_lowercase(), (*v).to_string()));
    }
    let signed = {
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        signer::sign(
            &signer::Request {
                method: method.as_str(),
                target: &target.target,
                host: &target.authority,
                headers: &refs,
                body: signer::Body::Bytes(body.unwrap_or(&[])),
            },
            opts,
            creds.key_id(),
            creds.private_key(),
            now,
        )?
    };
    let mut map = HeaderMap::new();
    let mut put = |k: &str, v: &str| -> Result<(), Error> {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| Error::InvalidRequest(format!("invalid header name {k:?}")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| Error::InvalidRequest(format!("header {k:?} cannot be sent")))?;
        map.insert(name, value);
        Ok(())
    };
    for (k, v) in &headers {
        put(k, v)?;
    }
    for (k, v) in signed.iter() {
        put(k, v)?;
    }
    if let Some(b) = body
        && signed.content_length.is_none()
    {
        put("content-length", &b.len().to_string())?;
    }
    let mut req = reqwest::Request::new(method, target.url.clone());
    *req.headers_mut() = map;
    if let Some(b) = body {
        *req.body_mut() = Some(reqwest::Body::from(b.to_vec()));
    }
    Ok(req)
}

/// Context for session-token-signed calls to OCI services (the RPT and RPST endpoints).
#[derive(Debug, Clone)]
pub(crate) struct ServiceCaller {
    pub provider: &'static str,
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
    pub clock: std::sync::Arc<dyn crate::env::Clock>,
}

impl ServiceCaller {
    /// `method url` signed with `signer_creds`' credentials, retried per [`RetryOn::Service`]
    /// within the budget. On a 401 the signing provider is invalidated and, if it then yields
    /// different credentials, the call is made once more (spec §1.6). `what` names the call in
    /// errors ("the resource principal token request").
    pub(crate) async fn call(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        body: Option<&[u8]>,
        signer_creds: &dyn CredentialsProvider,
    ) -> Result<Reply, PrincipalError> {
        let provider = self.provider;
        let target = Target::parse(provider, what, url)?;
        let endpoint = format!("{} {}", method.as_str(), url);
        let mut creds = signer_creds.credentials().await.map_err(|e| {
            upstream(
                provider,
                &format!("{what} needs credentials to sign it"),
                &e,
            )
        })?;
        let mut reauthenticated = false;
        let mut retrier = Retrier::new(&self.retry);
        loop {
            let req = signed_request(
                method.clone(),
                &target,
                body,
                &[("opc-request-id", &crate::client::new_request_id())],
                &SignOptions::default(),
                &creds,
                self.clock.now(),
            )
            .map_err(|e| {
                PrincipalError::invalid(provider, format!("could not sign {what}: {e}"))
            })?;
            let r = match send(&self.http, req).await {
                Ok(r) => r,
                Err(e) => {
                    let (err, retry) = no_answer(
                        provider,
                        what,
                        &endpoint,
                        &e,
                        " (pass the certificate of the CA that issued it as the CA bundle)",
                    );
                    if retry {
                        retrier.retry(err).await?;
                        continue;
                    }
                    return Err(retrier.fail(err));
                }
            };
            if (200..300).contains(&r.status) {
                return Ok(r);
            }
            let err = service_error(provider, what, &endpoint, &r);
            if r.status == 401 && !reauthenticated {
                reauthenticated = true;
                signer_creds.invalidate();
                if let Ok(fresh) = signer_creds.credentials().await
                    && (fresh.key_id() != creds.key_id()
                        || fresh.private_key() != creds.private_key())
                {
                    tracing::debug!(provider, "401: retrying once with renewed credentials");
                    creds = fresh;
                    continue;
                }
            }
            let code = r.error_code();
            if RetryOn::Service.status_is_retryable(r.status, code.as_deref()) {
                retrier.retry(err).await?;
                continue;
            }
            return Err(retrier.fail(err));
        }
    }
}

/// A non-success answer from a token or metadata service.
pub(crate) fn service_error(
    provider: &'static str,
    what: &str,
    endpoint: &str,
    r: &Reply,
) -> PrincipalError {
    let mut e = PrincipalError::new(
        provider,
        PrincipalErrorKind::Service,
        format!("{what} ({endpoint}) failed: {}", r.describe_error()),
    )
    .with_transient(status_is_transient(r.status));
    e.status = Some(r.status);
    e
}

/// Parse a success body as a JSON object.
pub(crate) fn json_object(
    provider: &'static str,
    what: &str,
    endpoint: &str,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, PrincipalError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) | Err(_) => Err(PrincipalError::invalid_response(
            provider,
            format!(
                "{what} ({endpoint}) answered with a body that is not a JSON object ({} bytes)",
                body.len()
            ),
        )),
    }
}

/// A string member of a success body.
pub(crate) fn json_string(
    provider: &'static str,
    what: &str,
    endpoint: &str,
    obj: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<String, PrincipalError> {
    match obj.get(field) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(PrincipalError::invalid_response(
            provider,
            format!("{what} ({endpoint}) answered without a \"{field}\" string"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens and keys
// ---------------------------------------------------------------------------------------------

/// A session token's decoded claims and expiry. `source` names where it came from in errors
/// ("the token from POST https://…/v1/x509", "OCI_RESOURCE_PRINCIPAL_RPST").
#[derive(Debug, Clone)]
pub(crate) struct SessionToken {
    pub token: String,
    pub jwt: jwt::Jwt,
    pub expires_at: SystemTime,
}

impl SessionToken {
    pub(crate) fn parse(
        provider: &'static str,
        source: &str,
        token: &str,
    ) -> Result<Self, PrincipalError> {
        let token = token.trim();
        let bad =
            |why: String| PrincipalError::invalid_response(provider, format!("{source}: {why}"));
        let jwt = jwt::decode_unverified(token).map_err(|e| bad(e.to_string()))?;
        let exp = match jwt.claim("exp") {
            None => return Err(bad("the token has no \"exp\" claim".into())),
            Some(_) => jwt
                .exp()
                .ok_or_else(|| bad("the token's \"exp\" claim is not a number".into()))?,
        };
        let expires_at = u64::try_from(exp)
            .ok()
            .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)))
            .ok_or_else(|| bad(format!("the token's \"exp\" claim {exp} is out of range")))?;
        Ok(Self {
            token: token.to_string(),
            jwt,
            expires_at,
        })
    }

    /// A string claim (`res_tenant`, `res_compartment`).
    pub(crate) fn claim(&self, name: &str) -> Option<String> {
        self.jwt
            .claim_str(name)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Error when the token has already expired at `now` (a token service should never hand out
    /// one; it means the local clock is far ahead, and caching it would refresh on every call).
    pub(crate) fn check_not_expired(
        &self,
        provider: &'static str,
        source: &str,
        now: SystemTime,
    ) -> Result<(), PrincipalError> {
        if self.expires_at <= now {
            return Err(PrincipalError::new(
                provider,
                PrincipalErrorKind::Expired,
                format!(
                    "{source}: the token expired at {} (now {}); check the system clock",
                    httpdate::fmt_http_date(self.expires_at),
                    httpdate::fmt_http_date(now)
                ),
            ));
        }
        Ok(())
    }
}

/// A fresh RSA-2048 session key, made off the async threads (key generation takes a while).
pub(crate) async fn new_session_key(provider: &'static str) -> Result<PrivateKey, PrincipalError> {
    let made = tokio::task::spawn_blocking(PrivateKey::generate).await;
    match made {
        Ok(Ok(k)) => Ok(k),
        Ok(Err(e)) => Err(PrincipalError::invalid(
            provider,
            format!("could not generate a session key: {e}"),
        )),
        Err(e) => Err(PrincipalError::invalid(
            provider,
            format!("could not generate a session key: {e}"),
        )),
    }
}

/// The "sanitized PEM" of a public key the token services take: PEM armour and newlines
/// removed, which is exactly base64 of the SubjectPublicKeyInfo DER (spec §1.3).
pub(crate) fn sanitized_public_key(key: &PrivateKey) -> String {
    B64.encode(key.public_key_der())
}

/// The DER of every `CERTIFICATE` block in a PEM text, in order.
pub(crate) fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = text;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(end) = after.find(END) else { break };
        let b64: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = B64.decode(b64.as_bytes()) {
            out.push(der);
        }
        rest = &after[end + END.len()..];
    }
    out
}

/// Whether `value` is taken as a file path (value-or-path variables: spec §3.2).
pub(crate) fn is_absolute_path(value: &str) -> bool {
    Path::new(value).is_absolute()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        assert!(RetryOn::Imds.status_is_retryable(404, None));
        assert!(!RetryOn::Federation.status_is_retryable(404, None));
        assert!(RetryOn::Federation.status_is_retryable(503, None));
        assert!(!RetryOn::Federation.status_is_retryable(501, None));
        assert!(RetryOn::Federation.status_is_retryable(429, None));
        assert!(!RetryOn::Federation.status_is_retryable(401, None));
        assert!(RetryOn::Service.status_is_retryable(409, Some("IncorrectState")));
        assert!(!RetryOn::Service.status_is_retryable(409, Some("Conflict")));
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let p = RetryPolicy::IMDS;
        for retry in 1..10 {
            let cap = Duration::from_secs(1u64 << (retry - 1).min(5)).min(Duration::from_secs(30));
            let w = p.backoff(retry);
            assert!(w <= cap, "{retry}: {w:?} > {cap:?}");
        }
        assert_eq!(RetryPolicy::NONE.backoff(1), Duration::ZERO);
    }

    #[test]
    fn pem_blocks_are_split() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nBAUG\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(text), vec![vec![1, 2, 3], vec![4, 5, 6]]);
        assert!(pem_certificates("nothing").is_empty());
    }

    #[test]
    fn error_messages_are_prefixed_and_convert() {
        let e = PrincipalError::not_configured(
            "resource_principal",
            "OCI_RESOURCE_PRINCIPAL_VERSION",
            "OCI_RESOURCE_PRINCIPAL_VERSION is not defined".into(),
        );
        assert_eq!(
            e.to_string(),
            "resource_principal: OCI_RESOURCE_PRINCIPAL_VERSION is not defined"
        );
        assert!(e.is_not_configured());
        assert!(!e.is_transient());
        let err: Error = e.into();
        assert_eq!(
            err.to_string(),
            "resource_principal: OCI_RESOURCE_PRINCIPAL_VERSION is not defined"
        );
    }
}
