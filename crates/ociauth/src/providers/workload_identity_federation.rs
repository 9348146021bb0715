//! Workload identity federation: exchange an external JWT for an OCI session token at an IAM
//! identity domain (spec oci-principals-wif.md §5).
//!
//! ```text
//! POST <domain URL>/oauth2/v1/token
//! Content-Type: application/x-www-form-urlencoded
//! Authorization: Basic base64(client_id:client_secret)      (or an OCI request signature)
//!
//! grant_type=urn:ietf:params:oauth:grant-type:token-exchange
//! &requested_token_type=urn:oci:token-type:oci-upst          (or …:oci-rpst &res_type=…[&rpst_exp=…])
//! &subject_token=<JWT>&subject_token_type=jwt
//! &public_key=<base64 DER SubjectPublicKeyInfo of a fresh RSA-2048 key>
//! → 200 {"token": "<UPST or RPST>"}
//! ```
//!
//! - Every exchange generates a new RSA-2048 key (as the Python SDK does) and reads a fresh
//!   subject token from its [`SubjectTokenSource`]; the subject token's `exp` is checked
//!   locally before anything is sent.
//! - Client authentication: [`ClientAuth::ClientSecret`] (HTTP Basic with the id and secret
//!   as given, byte-compatible with the Python and Go SDKs) or [`ClientAuth::Signed`] (the
//!   request is signed like an OCI API call with another credential, e.g. an instance
//!   principal, as Go and Java do without client credentials).
//! - Transport errors, 429 and 5xx are retried (3 attempts, 1 s then 2 s apart, as the Go SDK
//!   does); 4xx answers are not.
//! - Errors say which side to fix: the OAuth client (`invalid_client`), the trust in the domain
//!   (unknown issuer, inactive, audience, signing keys, impersonation rules), or the token source
//!   (expired, not a JWT). Neither token nor the client secret appears in an error or in `Debug`.
//!
//! Use [`WorkloadIdentityFederationProvider::caching`] for long-running work: the
//! [`CachingProvider`] renews the token ahead of its expiry (single flight) and keeps serving the
//! current one while it is valid if a renewal fails.
//!
//! [`write_session_profile`] saves an exchanged token as an ordinary session profile
//! (`security_token_file` + `key_file`) that the official CLI, SDKs and Terraform read with
//! `--auth security_token`; [`WifProfile`] reads the profile keys for on-demand exchange
//! (Terraform's names, plus this crate's subject-token sources).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::cache::CachingProvider;
use crate::client::{Client, ClientOptions, OciRequest, RequestBody};
use crate::config::Profile;
use crate::credentials::{BoxFuture, Credentials, CredentialsProvider};
use crate::env::{Clock, Env, SystemClock};
use crate::error::{Error, Result};
use crate::jwt::{self, Jwt};
use crate::keys::{OCI_API_KEY_LABEL, PrivateKey};
use crate::subject_token::{
    self, ClientAuthMethod, CommandSource, EnvSource, FileSource, GithubActionsSource,
    OidcClientCredentials, OidcClientCredentialsSource, PROVIDER, Secret, SubjectToken,
    SubjectTokenSource, body_excerpt, error, oauth_error, url_for_messages,
};

/// `grant_type` of the exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `requested_token_type` for a user principal session token.
pub const TOKEN_TYPE_UPST: &str = "urn:oci:token-type:oci-upst";
/// `requested_token_type` for a resource principal session token.
pub const TOKEN_TYPE_RPST: &str = "urn:oci:token-type:oci-rpst";
/// The path appended to the domain URL.
pub const TOKEN_PATH: &str = "/oauth2/v1/token";
/// Attempts per exchange (Go SDK: 3).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// How the client authenticates to the identity domain.
#[derive(Clone)]
pub enum ClientAuth {
    /// A confidential OAuth app's id and secret (HTTP Basic).
    ClientSecret {
        client_id: String,
        client_secret: Secret,
    },
    /// Sign the request with another credential (instance principal, API key…). Authorization
    /// is then by IAM policy, not by the trust's OAuth client list.
    Signed(Arc<dyn CredentialsProvider>),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::ClientSecret { client_id, .. } => f
                .debug_struct("ClientSecret")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
            ClientAuth::Signed(p) => f.debug_tuple("Signed").field(&p.name()).finish(),
        }
    }
}

/// Which token to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedToken {
    /// A user principal session token (the default; the only kind the Python SDK asks for).
    Upst,
    /// A resource principal session token.
    Rpst {
        /// `res_type`: must equal the trust's `impersonatingResource` (e.g. `ref_github`).
        resource_type: String,
        /// `rpst_exp`, sent as given. **[I]** OCI's documents disagree on the unit (seconds per
        /// the A-Team README, minutes per the Java SDK); the domain decides.
        rpst_exp: Option<u64>,
    },
}

impl RequestedToken {
    pub fn token_type(&self) -> &'static str {
        match self {
            RequestedToken::Upst => TOKEN_TYPE_UPST,
            RequestedToken::Rpst { .. } => TOKEN_TYPE_RPST,
        }
    }
    fn short(&self) -> &'static str {
        match self {
            RequestedToken::Upst => "UPST",
            RequestedToken::Rpst { .. } => "RPST",
        }
    }
}

/// Everything an exchange needs besides the subject token.
#[derive(Debug, Clone)]
pub struct TokenExchangeConfig {
    /// The identity domain URL, `https://idcs-<id>.identity.oraclecloud.com[:443]`; a trailing
    /// `/` is dropped and `/oauth2/v1/token` appended. A value without a scheme is taken as a
    /// domain id (`https://<id>.identity.oraclecloud.com`, the Python SDK's deprecated form).
    pub domain_url: String,
    pub client_auth: ClientAuth,
    pub requested: RequestedToken,
    /// `subject_token_type` (default `jwt`).
    pub subject_token_type: String,
    /// Region of the resulting credentials (the token does not say).
    pub region: Option<String>,
    /// Tenancy OCID; default: the token's `tenant` claim.
    pub tenancy: Option<String>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    pub max_attempts: u32,
    /// Extra CA certificates (PEM) for the domain's TLS.
    pub ca_bundle: Option<PathBuf>,
}

impl TokenExchangeConfig {
    /// A UPST exchange with client credentials and the defaults.
    pub fn new(domain_url: impl Into<String>, client_auth: ClientAuth) -> Self {
        Self {
            domain_url: domain_url.into(),
            client_auth,
            requested: RequestedToken::Upst,
            subject_token_type: "jwt".to_string(),
            region: None,
            tenancy: None,
            timeout: subject_token::DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            ca_bundle: None,
        }
    }

    /// `<domain URL>/oauth2/v1/token`.
    pub fn token_url(&self) -> Result<String> {
        token_url(&self.domain_url)
    }
}

/// The token endpoint for a domain URL (see [`TokenExchangeConfig::domain_url`]).
pub fn token_url(domain_url: &str) -> Result<String> {
    let d = domain_url.trim();
    if d.is_empty() {
        return Err(error(
            "the identity domain URL is empty: give the domain's URL, e.g. https://idcs-0123….identity.oraclecloud.com",
            false,
        ));
    }
    let lower = d.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        Ok(format!("{}{TOKEN_PATH}", d.trim_end_matches('/')))
    } else if d.contains('/') || d.contains(':') {
        Err(error(
            format!(
                "the identity domain URL {d:?} has no http:// or https:// scheme: give e.g. https://idcs-0123….identity.oraclecloud.com"
            ),
            false,
        ))
    } else {
        Ok(format!("https://{d}.identity.oraclecloud.com{TOKEN_PATH}"))
    }
}

/// The result of one exchange: the session token and the key it is bound to.
/// `Debug` shows the token's subject, tenancy and expiry only.
#[derive(Clone)]
pub struct ExchangedToken {
    token: Arc<Zeroizing<String>>,
    key: PrivateKey,
    claims: Jwt,
    kind: &'static str,
}

impl std::fmt::Debug for ExchangedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangedToken")
            .field("kind", &self.kind)
            .field("sub", &self.claims.sub())
            .field("tenant", &self.tenancy())
            .field("exp", &self.claims.exp())
            .field("key", &self.key.fingerprint())
            .finish()
    }
}

fn epoch_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

impl ExchangedToken {
    /// The session token (without `ST$`).
    pub fn token(&self) -> &str {
        &self.token
    }
    /// The private key the token is bound to.
    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }
    /// The token's claims (unverified).
    pub fn claims(&self) -> &Jwt {
        &self.claims
    }
    /// `UPST` or `RPST`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }
    /// `exp`.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.claims.exp().map(epoch_time)
    }
    /// `iat`.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.claims.iat().map(epoch_time)
    }
    /// `tenant` (or `res_tenant`).
    pub fn tenancy(&self) -> Option<&str> {
        self.claims
            .claim_str("tenant")
            .or_else(|| self.claims.claim_str("res_tenant"))
    }
    /// `sub`: the user OCID of a UPST.
    pub fn subject(&self) -> Option<&str> {
        self.claims.sub()
    }
    /// Signing credentials: key id `ST$<token>`, expiry, region and tenancy.
    pub fn to_credentials(&self, region: Option<&str>, tenancy: Option<&str>) -> Credentials {
        let mut c = Credentials::security_token(&self.token, self.key.clone(), PROVIDER);
        if let Some(exp) = self.expires_at() {
            c = c.with_expiry(exp);
        }
        if let Some(r) = region {
            c = c.with_region(r);
        }
        if let Some(t) = tenancy.or(self.tenancy()) {
            c = c.with_tenancy(t);
        }
        c
    }
}

/// Exchanges an external JWT for an OCI session token on every `credentials()` call; wrap it
/// with [`Self::caching`] to exchange only when the token nears its expiry.
pub struct WorkloadIdentityFederationProvider {
    cfg: TokenExchangeConfig,
    url: String,
    source: Arc<dyn SubjectTokenSource>,
    http: reqwest::Client,
    signed_client: Option<Client>,
    clock: Arc<dyn Clock>,
    exchanges: AtomicU64,
}

impl std::fmt::Debug for WorkloadIdentityFederationProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadIdentityFederationProvider")
            .field("token_url", &self.url)
            .field("client_auth", &self.cfg.client_auth)
            .field("requested", &self.cfg.requested)
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

/// The subject token's `exp`, checked before anything is sent.
fn check_subject(
    token: &SubjectToken,
    source: &dyn SubjectTokenSource,
    now: SystemTime,
) -> Result<Jwt> {
    let jwt = token.decode().map_err(|e| {
        error(
            format!(
                "the subject token from {} is not a JWT ({e}): it must hold the raw token (header.payload.signature) from your identity provider",
                source.describe()
            ),
            false,
        )
    })?;
    if let Some(exp) = jwt.exp() {
        let now_s = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if exp <= now_s {
            let when = jwt::format_sess_exp(epoch_time(exp)).unwrap_or_else(|_| exp.to_string());
            return Err(error(
                format!(
                    "the subject token from {} expired at {when} ({} s ago): get a fresh token from your identity provider",
                    source.describe(),
                    now_s - exp
                ),
                false,
            ));
        }
    }
    Ok(jwt)
}

fn describe_claim(jwt: Option<&Jwt>, name: &str) -> String {
    match jwt.and_then(|j| j.claim(name)) {
        None => "(none)".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

impl WorkloadIdentityFederationProvider {
    /// Check the configuration and build the provider.
    pub fn new(cfg: TokenExchangeConfig, source: Arc<dyn SubjectTokenSource>) -> Result<Self> {
        let url = cfg.token_url()?;
        if let ClientAuth::ClientSecret {
            client_id,
            client_secret,
        } = &cfg.client_auth
        {
            if client_id.is_empty() {
                return Err(error(
                    "the OAuth client id is empty: give the client id of the domain's confidential app (--client-id / token_exchange_client_id)",
                    false,
                ));
            }
            if client_secret.is_empty() {
                return Err(error(
                    "the OAuth client secret is empty: give the secret of the domain's confidential app",
                    false,
                ));
            }
        }
        if let RequestedToken::Rpst { resource_type, .. } = &cfg.requested
            && resource_type.trim().is_empty()
        {
            return Err(error(
                "an RPST needs the resource type (res_type, e.g. ref_github): it must equal the trust's impersonating resource",
                false,
            ));
        }
        let http = subject_token::http_client(cfg.timeout, cfg.ca_bundle.as_deref())?;
        let signed_client = match &cfg.client_auth {
            ClientAuth::Signed(p) => Some(Client::new(
                p.clone(),
                ClientOptions {
                    max_attempts: cfg.max_attempts.max(1),
                    read_timeout: cfg.timeout,
                    ca_bundle: cfg.ca_bundle.clone(),
                    ..ClientOptions::default()
                },
            )?),
            ClientAuth::ClientSecret { .. } => None,
        };
        Ok(Self {
            cfg,
            url,
            source,
            http,
            signed_client,
            clock: Arc::new(SystemClock),
            exchanges: AtomicU64::new(0),
        })
    }

    /// Use another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &str {
        &self.url
    }

    pub fn config(&self) -> &TokenExchangeConfig {
        &self.cfg
    }

    /// How many exchanges were sent (successful or not).
    pub fn exchange_count(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// Wrap in a [`CachingProvider`] with this provider's clock.
    pub fn caching(self) -> CachingProvider<Self> {
        let clock = self.clock.clone();
        CachingProvider::new(self, clock)
    }

    fn client_id(&self) -> Option<&str> {
        match &self.cfg.client_auth {
            ClientAuth::ClientSecret { client_id, .. } => Some(client_id),
            ClientAuth::Signed(_) => None,
        }
    }

    /// One exchange: a fresh key and subject token, one request (with retries on transient
    /// failures).
    pub async fn exchange(&self) -> Result<ExchangedToken> {
        self.exchange_inner(None).await
    }

    /// One exchange whose token is bound to `key` instead of a fresh one. For renewals of a
    /// token kept on disk: with the key file unchanged, a reader that loads the key and the
    /// token file separately (the official CLI, the Go SDK under Terraform) can never pair a new
    /// key with an old token.
    pub async fn exchange_with_key(&self, key: PrivateKey) -> Result<ExchangedToken> {
        self.exchange_inner(Some(key)).await
    }

    async fn exchange_inner(&self, key: Option<PrivateKey>) -> Result<ExchangedToken> {
        let subject = self.source.token().await?;
        let subject_claims = check_subject(&subject, self.source.as_ref(), self.clock.now())?;
        let key = match key {
            Some(k) => k,
            None => PrivateKey::generate()?,
        };
        let body = self.form(&subject, &key);
        let (status, resp_body) = self.post(&body).await?;
        if !(200..300).contains(&status) {
            return Err(self.describe_failure(status, &resp_body, Some(&subject_claims)));
        }
        let v: serde_json::Value = serde_json::from_slice(&resp_body).map_err(|_| {
            error(
                format!(
                    "the identity domain at {} answered HTTP {status} without JSON",
                    self.url
                ),
                false,
            )
        })?;
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                error(
                    format!(
                        "the identity domain at {} answered without a \"token\"",
                        self.url
                    ),
                    false,
                )
            })?;
        let claims = jwt::decode_unverified(&token).map_err(|e| {
            error(
                format!(
                    "the identity domain at {} returned a token that is not a JWT ({e})",
                    self.url
                ),
                false,
            )
        })?;
        if claims.exp().is_none() {
            return Err(error(
                format!(
                    "the identity domain at {} returned a token without exp",
                    self.url
                ),
                false,
            ));
        }
        tracing::debug!(
            url = %self.url,
            kind = self.cfg.requested.short(),
            sub = claims.sub().unwrap_or_default(),
            exp = claims.exp().unwrap_or_default(),
            "token exchange succeeded"
        );
        Ok(ExchangedToken {
            token: Arc::new(Zeroizing::new(token)),
            key,
            claims,
            kind: self.cfg.requested.short(),
        })
    }

    /// The exchange's form body (built apart: the serializer is not `Send`).
    fn form(&self, subject: &SubjectToken, key: &PrivateKey) -> Zeroizing<String> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", GRANT_TYPE);
        form.append_pair("requested_token_type", self.cfg.requested.token_type());
        form.append_pair("subject_token", subject.as_str());
        form.append_pair("subject_token_type", &self.cfg.subject_token_type);
        form.append_pair("public_key", &B64.encode(key.public_key_der()));
        if let RequestedToken::Rpst {
            resource_type,
            rpst_exp,
        } = &self.cfg.requested
        {
            form.append_pair("res_type", resource_type);
            if let Some(e) = rpst_exp {
                form.append_pair("rpst_exp", &e.to_string());
            }
        }
        Zeroizing::new(form.finish())
    }

    /// Send the form; returns status and body. Transport errors, 429 and 5xx are retried.
    async fn post(&self, body: &str) -> Result<(u16, Vec<u8>)> {
        if let Some(client) = &self.signed_client {
            self.exchanges.fetch_add(1, Ordering::Relaxed);
            let req = OciRequest::new("POST", self.url.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(RequestBody::Bytes(bytes::Bytes::from(body.to_string())));
            let resp = client.send_raw(req).await.map_err(|e| match e {
                Error::Transport(m) => {
                    error(format!("the token exchange request failed: {m}"), true)
                }
                other => other,
            })?;
            return Ok((resp.status, resp.body.to_vec()));
        }
        let ClientAuth::ClientSecret {
            client_id,
            client_secret,
        } = &self.cfg.client_auth
        else {
            return Err(error("no client authentication configured", false));
        };
        let basic =
            Zeroizing::new(B64.encode(
                Zeroizing::new(format!("{client_id}:{}", client_secret.expose())).as_bytes(),
            ));
        let attempts = self.cfg.max_attempts.max(1);
        let mut last_err = None;
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 2).min(4))).await;
            }
            self.exchanges.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .post(&self.url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .header("authorization", format!("Basic {}", basic.as_str()))
                .body(body.to_string())
                .send()
                .await;
            match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes().await {
                        Ok(b) => {
                            if (status == 429 || status >= 500) && attempt < attempts {
                                tracing::debug!(status, attempt, "token exchange: retrying");
                                last_err = Some(self.describe_failure(status, &b, None));
                                continue;
                            }
                            return Ok((status, b.to_vec()));
                        }
                        Err(e) => {
                            last_err = Some(subject_token::transport_error(
                                "the token exchange",
                                &self.url,
                                &e,
                            ))
                        }
                    }
                }
                Err(e) => {
                    last_err = Some(subject_token::transport_error(
                        "the token exchange",
                        &self.url,
                        &e,
                    ))
                }
            }
        }
        Err(last_err.unwrap_or_else(|| error("the token exchange was not attempted", true)))
    }

    /// A message that says which side to fix.
    fn describe_failure(&self, status: u16, body: &[u8], subject: Option<&Jwt>) -> Error {
        let url = url_for_messages(&self.url);
        let iss = describe_claim(subject, "iss");
        let aud = describe_claim(subject, "aud");
        let transient = status == 429 || status >= 500;
        let Some((code, desc)) = oauth_error(body) else {
            let oci_code = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string));
            let msg = match status {
                _ if oci_code.is_some() && (400..500).contains(&status) => format!(
                    "{url} answered like an OCI service, not an identity domain token endpoint (HTTP {status} {}): check the identity domain URL, e.g. https://idcs-0123….identity.oraclecloud.com",
                    oci_code.unwrap_or_default()
                ),
                404 | 405 => format!(
                    "there is no token endpoint at {url} (HTTP {status}): check the identity domain URL, e.g. https://idcs-0123….identity.oraclecloud.com"
                ),
                401 | 403 => format!(
                    "the identity domain at {url} refused the request (HTTP {status}: {}): check the client credentials",
                    body_excerpt(body)
                ),
                _ => format!(
                    "the token exchange at {url} failed with HTTP {status}: {}",
                    body_excerpt(body)
                ),
            };
            return error(msg, transient);
        };
        let d = desc.to_ascii_lowercase();
        let msg = match code.as_str() {
            "invalid_client" => match self.client_id() {
                Some(id) => format!(
                    "the identity domain rejected the OAuth client {id:?} ({desc}): check --client-id and the client secret"
                ),
                None => format!(
                    "the identity domain rejected the signed token exchange request ({desc}): check the credential that signs it"
                ),
            },
            "unauthorized_client" => format!(
                "the OAuth client {:?} may not use the identity propagation trust for issuer {iss} ({desc}): add the client to the trust's OAuth clients",
                self.client_id().unwrap_or("(signed request)")
            ),
            "invalid_grant" if d.contains("inactive") => format!(
                "the identity propagation trust for issuer {iss} is inactive ({desc}): activate it in the domain"
            ),
            "invalid_grant"
                if d.contains("no identity propagation trust")
                    || d.contains("untrusted issuer") =>
            {
                format!(
                    "no active identity propagation trust for issuer {iss}: create one in the domain ({desc})"
                )
            }
            "invalid_grant" if d.contains("audience") => format!(
                "the subject token's audience {aud} is not accepted by the trust for issuer {iss} ({desc}): request the token for an audience the trust allows, or add {aud} to the trust"
            ),
            "invalid_grant" if d.contains("expired") => format!(
                "the identity domain says the subject token has expired ({desc}): get a fresh token from your identity provider, and check this machine's clock"
            ),
            "invalid_grant" if d.contains("not valid yet") || d.contains("in the future") => {
                format!(
                    "the identity domain says the subject token is not valid yet ({desc}): check the clocks of this machine and of your identity provider"
                )
            }
            "invalid_grant"
                if d.contains("algorithm") || d.contains("alg ") || d.contains("unsigned") =>
            {
                format!(
                    "the identity domain does not accept the subject token's signing algorithm ({desc}): the identity provider must sign with RS256"
                )
            }
            "invalid_grant" if d.contains("key id") || d.contains("jwks") => format!(
                "the identity domain cannot find the key that signed the subject token ({desc}): check the trust's JWKS URL or certificate for issuer {iss}"
            ),
            "invalid_grant" if d.contains("signature") => format!(
                "the subject token's signature does not verify ({desc}): the token was altered, or the trust for issuer {iss} holds another key"
            ),
            "invalid_grant" if d.contains("impersonation rule") => format!(
                "no impersonation rule of the trust for issuer {iss} matches the subject token (sub {}) ({desc}): add a rule for it in the domain",
                describe_claim(subject, "sub")
            ),
            "invalid_grant" => format!(
                "the identity domain refused the subject token from {}: {desc}",
                self.source.describe()
            ),
            "invalid_request" if d.contains("res_type") => format!(
                "the identity domain refused the resource type ({desc}): it must equal the trust's impersonating resource"
            ),
            "invalid_request" => {
                format!("the identity domain refused the token exchange request: {desc}")
            }
            "unsupported_grant_type" => format!(
                "the endpoint {url} does not support token exchange ({desc}): check the identity domain URL"
            ),
            _ => format!("the token exchange at {url} failed: HTTP {status} {code}: {desc}"),
        };
        error(msg, transient)
    }
}

impl CredentialsProvider for WorkloadIdentityFederationProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(async move {
            let t = self.exchange().await?;
            Ok(t.to_credentials(self.cfg.region.as_deref(), self.cfg.tenancy.as_deref()))
        })
    }
    fn name(&self) -> &'static str {
        PROVIDER
    }
}

// ---------------------------------------------------------------------------------------------
// Saving an exchanged token as a session profile
// ---------------------------------------------------------------------------------------------

/// Where [`write_session_profile`] writes.
#[derive(Debug, Clone)]
pub struct SessionProfileOptions {
    /// The config file to add the profile to (created if missing).
    pub config_file: PathBuf,
    /// The profile (section) name.
    pub profile: String,
    /// Directory for the token and keys; default `<config dir>/sessions/<profile>`, as
    /// `oci session authenticate` uses.
    pub session_dir: Option<PathBuf>,
    /// `region` of the profile (required: the CLI needs it).
    pub region: String,
    /// `tenancy`; default the token's `tenant` claim.
    pub tenancy: Option<String>,
}

/// The files [`write_session_profile`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProfileFiles {
    pub config_file: PathBuf,
    pub token_file: PathBuf,
    pub key_file: PathBuf,
    pub public_key_file: PathBuf,
}

/// Save `token` as a session profile that the official CLI, SDKs and Terraform use unchanged
/// (`oci --auth security_token --profile <name>`):
///
/// ```text
/// <session dir>/token                    the token, no trailing newline        0600
/// <session dir>/oci_api_key.pem          PKCS#8 private key + OCI_API_KEY line 0600
/// <session dir>/oci_api_key_public.pem   the public key                        0600
/// [<profile>]  fingerprint, key_file, tenancy, region, security_token_file  (the section is replaced)
/// ```
/// Directories created are 0700; every file is written atomically.
pub fn write_session_profile(
    token: &ExchangedToken,
    opts: &SessionProfileOptions,
) -> Result<SessionProfileFiles> {
    crate::config::validate_profile_name(&opts.profile)?;
    if opts.region.trim().is_empty() {
        return Err(error(
            "a region is needed to write a session profile (--region)",
            false,
        ));
    }
    let tenancy = opts
        .tenancy
        .clone()
        .or_else(|| token.tenancy().map(str::to_string))
        .ok_or_else(|| {
            error(
                "the token has no tenant claim: give the tenancy OCID (--tenancy)",
                false,
            )
        })?;
    let config_dir = match opts.config_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = opts
        .session_dir
        .clone()
        .unwrap_or_else(|| config_dir.join("sessions").join(&opts.profile));
    crate::fsutil::create_private_dir(&dir)
        .map_err(|e| Error::io(format!("could not create {}", dir.display()), e))?;
    let dir = std::path::absolute(&dir)
        .map_err(|e| Error::io(format!("could not resolve {}", dir.display()), e))?;
    let write = |path: &Path, data: &[u8]| {
        crate::fsutil::write_private_atomic(path, data)
            .map_err(|e| Error::io(format!("could not write {}", path.display()), e))
    };
    let token_file = dir.join("token");
    let key_file = dir.join("oci_api_key.pem");
    let public_key_file = dir.join("oci_api_key_public.pem");
    let pem = token.private_key().to_pkcs8_pem(None)?;
    let mut key_text = Zeroizing::new(String::with_capacity(pem.len() + 16));
    key_text.push_str(&pem);
    key_text.push_str(OCI_API_KEY_LABEL);
    write(&key_file, key_text.as_bytes())?;
    write(
        &public_key_file,
        token.private_key().public_key_pem().as_bytes(),
    )?;
    write(&token_file, token.token().as_bytes())?;
    let entries = [
        ("fingerprint", token.private_key().fingerprint().to_string()),
        ("key_file", key_file.display().to_string()),
        ("tenancy", tenancy),
        ("region", opts.region.trim().to_string()),
        ("security_token_file", token_file.display().to_string()),
    ];
    crate::config::upsert_profile(&opts.config_file, &opts.profile, &entries)?;
    Ok(SessionProfileFiles {
        config_file: opts.config_file.clone(),
        token_file,
        key_file,
        public_key_file,
    })
}

// ---------------------------------------------------------------------------------------------
// Profile keys for on-demand exchange
// ---------------------------------------------------------------------------------------------

/// Where the subject token of a [`WifProfile`] comes from.
#[derive(Debug, Clone)]
pub enum SubjectTokenSpec {
    /// `workload_identity_token_path` (Terraform).
    File(PathBuf),
    /// `workload_identity_token_env`: a variable name.
    Env(String),
    /// `workload_identity_token_command`: a command line (no shell; quotes honoured).
    Command(String),
    /// `workload_identity_token_source=github_actions` (+ `workload_identity_token_audience`).
    GithubActions { audience: Option<String> },
    /// `workload_identity_token_endpoint` + `workload_identity_client_id` /
    /// `_client_secret[_file]` / `_scope` / `_resource` / `workload_identity_token_audience`.
    OidcClientCredentials(OidcClientCredentials),
}

impl SubjectTokenSpec {
    /// The source.
    pub fn build(&self, env: Arc<dyn Env>) -> Result<Arc<dyn SubjectTokenSource>> {
        Ok(match self {
            SubjectTokenSpec::File(p) => Arc::new(FileSource::new(p.clone())),
            SubjectTokenSpec::Env(name) => Arc::new(EnvSource::new(name.clone(), env)),
            SubjectTokenSpec::Command(line) => Arc::new(CommandSource::from_command_line(line)?),
            SubjectTokenSpec::GithubActions { audience } => {
                Arc::new(GithubActionsSource::new(audience.clone(), env)?)
            }
            SubjectTokenSpec::OidcClientCredentials(c) => {
                Arc::new(OidcClientCredentialsSource::new(c.clone())?)
            }
        })
    }
}

/// `token_exchange_auth`.
#[derive(Debug, Clone)]
pub enum ProfileClientAuth {
    /// `OAuthClientCredentials` (default): `token_exchange_client_id` and
    /// `token_exchange_client_secret` (or this crate's `token_exchange_client_secret_file`).
    ClientSecret {
        client_id: String,
        client_secret: Secret,
    },
    /// `InstancePrincipal`: the caller supplies the signing provider to [`WifProfile::provider`].
    InstancePrincipal,
}

/// A config profile for on-demand token exchange. Keys (Terraform's names first):
///
/// | key | meaning |
/// |---|---|
/// | `token_exchange_domain_url` | the identity domain URL (required; marks the profile as WIF) |
/// | `token_exchange_auth` | `OAuthClientCredentials` (default) or `InstancePrincipal` |
/// | `token_exchange_client_id`, `token_exchange_client_secret` | the OAuth client |
/// | `token_exchange_client_secret_file` | a file holding the secret, instead (this crate) |
/// | `token_exchange_requested_token_type` | `urn:oci:token-type:oci-upst` (default) or `…-rpst` (`upst`/`rpst` accepted) |
/// | `token_exchange_subject_token_type` | default `jwt` |
/// | `token_exchange_resource_type`, `token_exchange_rpst_exp` | RPST `res_type` and `rpst_exp` |
/// | `workload_identity_token_path` | file holding the JWT, re-read on every exchange |
/// | `workload_identity_token_env`, `workload_identity_token_command` | other sources (this crate) |
/// | `workload_identity_token_source` | `github_actions`, or `oidc_client_credentials` with `workload_identity_token_endpoint`, `workload_identity_client_id`, `workload_identity_client_secret[_file]`, `workload_identity_scope`, `workload_identity_resource` |
/// | `workload_identity_token_audience` | audience for GitHub Actions / the OIDC grant |
/// | `region`, `tenancy` | of the resulting credentials |
#[derive(Debug, Clone)]
pub struct WifProfile {
    pub domain_url: String,
    pub client_auth: ProfileClientAuth,
    pub requested: RequestedToken,
    pub subject_token_type: String,
    pub subject: SubjectTokenSpec,
    pub region: Option<String>,
    pub tenancy: Option<String>,
}

fn profile_error(profile: &Profile, message: String) -> Error {
    error(format!("profile [{}]: {message}", profile.name()), false)
}

fn read_secret_file(profile: &Profile, key: &str, path: &Path) -> Result<Secret> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| profile_error(profile, format!("{key} {}: {e}", path.display())))?,
    );
    let s = text.trim();
    if s.is_empty() {
        return Err(profile_error(
            profile,
            format!("{key} {} is empty", path.display()),
        ));
    }
    Ok(Secret::new(s))
}

impl WifProfile {
    /// Whether the profile asks for token exchange (`token_exchange_domain_url` is set).
    pub fn is_wif_profile(profile: &Profile) -> bool {
        profile
            .get("token_exchange_domain_url")
            .is_some_and(|v| !v.trim().is_empty())
    }

    /// Read the keys of the table above.
    pub fn from_profile(profile: &Profile, env: &dyn Env) -> Result<Self> {
        let get = |k: &str| profile.get(k).map(str::trim).filter(|v| !v.is_empty());
        let domain_url = get("token_exchange_domain_url")
            .ok_or_else(|| {
                profile_error(
                    profile,
                    "token_exchange_domain_url is missing: set it to the identity domain URL"
                        .into(),
                )
            })?
            .to_string();
        let client_auth = match get("token_exchange_auth") {
            None => None,
            Some(a) if a.eq_ignore_ascii_case("OAuthClientCredentials") => None,
            Some(a) if a.eq_ignore_ascii_case("InstancePrincipal") => {
                Some(ProfileClientAuth::InstancePrincipal)
            }
            Some(a) => {
                return Err(profile_error(
                    profile,
                    format!(
                        "token_exchange_auth {a:?} is not supported: use OAuthClientCredentials or InstancePrincipal"
                    ),
                ));
            }
        };
        let client_auth = match client_auth {
            Some(c) => c,
            None => {
                let client_id = get("token_exchange_client_id")
                    .ok_or_else(|| {
                        profile_error(profile, "token_exchange_client_id is missing".into())
                    })?
                    .to_string();
                let client_secret = match (
                    get("token_exchange_client_secret"),
                    profile.path("token_exchange_client_secret_file", env),
                ) {
                    (Some(s), _) => Secret::new(s),
                    (None, Some(p)) => {
                        read_secret_file(profile, "token_exchange_client_secret_file", &p)?
                    }
                    (None, None) => {
                        return Err(profile_error(
                            profile,
                            "token_exchange_client_secret (or token_exchange_client_secret_file) is missing".into(),
                        ));
                    }
                };
                ProfileClientAuth::ClientSecret {
                    client_id,
                    client_secret,
                }
            }
        };
        let requested = match get("token_exchange_requested_token_type") {
            None => RequestedToken::Upst,
            Some(t) if t == TOKEN_TYPE_UPST || t.eq_ignore_ascii_case("upst") => {
                RequestedToken::Upst
            }
            Some(t) if t == TOKEN_TYPE_RPST || t.eq_ignore_ascii_case("rpst") => {
                let resource_type = get("token_exchange_resource_type")
                    .ok_or_else(|| {
                        profile_error(
                            profile,
                            "token_exchange_resource_type is required for an RPST".into(),
                        )
                    })?
                    .to_string();
                let rpst_exp = match get("token_exchange_rpst_exp") {
                    None => None,
                    Some(v) => Some(v.parse::<u64>().map_err(|_| {
                        profile_error(
                            profile,
                            format!("token_exchange_rpst_exp {v:?} is not a whole number"),
                        )
                    })?),
                };
                RequestedToken::Rpst {
                    resource_type,
                    rpst_exp,
                }
            }
            Some(t) => {
                return Err(profile_error(
                    profile,
                    format!(
                        "token_exchange_requested_token_type {t:?} is not {TOKEN_TYPE_UPST} or {TOKEN_TYPE_RPST}"
                    ),
                ));
            }
        };
        let audience = get("workload_identity_token_audience").map(str::to_string);
        let mut specs = Vec::new();
        if let Some(p) = profile.path("workload_identity_token_path", env) {
            specs.push(("workload_identity_token_path", SubjectTokenSpec::File(p)));
        }
        if let Some(v) = get("workload_identity_token_env") {
            specs.push((
                "workload_identity_token_env",
                SubjectTokenSpec::Env(v.to_string()),
            ));
        }
        if let Some(v) = get("workload_identity_token_command") {
            specs.push((
                "workload_identity_token_command",
                SubjectTokenSpec::Command(v.to_string()),
            ));
        }
        match get("workload_identity_token_source") {
            None | Some("file") | Some("env") | Some("command") => {}
            Some(s) if s.eq_ignore_ascii_case("github_actions") => specs.push((
                "workload_identity_token_source",
                SubjectTokenSpec::GithubActions {
                    audience: audience.clone(),
                },
            )),
            Some(s) if s.eq_ignore_ascii_case("oidc_client_credentials") => {
                let need = |k: &str| {
                    get(k).map(str::to_string).ok_or_else(|| {
                        profile_error(
                            profile,
                            format!("{k} is needed for oidc_client_credentials"),
                        )
                    })
                };
                let client_secret = match (
                    get("workload_identity_client_secret"),
                    profile.path("workload_identity_client_secret_file", env),
                ) {
                    (Some(s), _) => Secret::new(s),
                    (None, Some(p)) => {
                        read_secret_file(profile, "workload_identity_client_secret_file", &p)?
                    }
                    (None, None) => {
                        return Err(profile_error(
                            profile,
                            "workload_identity_client_secret (or _file) is needed for oidc_client_credentials".into(),
                        ));
                    }
                };
                specs.push((
                    "workload_identity_token_source",
                    SubjectTokenSpec::OidcClientCredentials(OidcClientCredentials {
                        token_url: need("workload_identity_token_endpoint")?,
                        client_id: need("workload_identity_client_id")?,
                        client_secret,
                        scope: get("workload_identity_scope").map(str::to_string),
                        resource: get("workload_identity_resource").map(str::to_string),
                        audience: audience.clone(),
                        auth: ClientAuthMethod::Basic,
                    }),
                ));
            }
            Some(s) => {
                return Err(profile_error(
                    profile,
                    format!(
                        "workload_identity_token_source {s:?} is not one of github_actions, oidc_client_credentials"
                    ),
                ));
            }
        }
        let subject = match specs.len() {
            1 => specs.remove(0).1,
            0 => {
                return Err(profile_error(
                    profile,
                    "no subject token source: set workload_identity_token_path (or workload_identity_token_env, workload_identity_token_command, workload_identity_token_source)".into(),
                ));
            }
            _ => {
                let keys: Vec<&str> = specs.iter().map(|(k, _)| *k).collect();
                return Err(profile_error(
                    profile,
                    format!(
                        "more than one subject token source ({}): keep one",
                        keys.join(", ")
                    ),
                ));
            }
        };
        Ok(Self {
            domain_url,
            client_auth,
            requested,
            subject_token_type: get("token_exchange_subject_token_type")
                .unwrap_or("jwt")
                .to_string(),
            subject,
            region: get("region").map(str::to_string),
            tenancy: get("tenancy").map(str::to_string),
        })
    }

    /// The exchange configuration. `signer` signs the exchange for
    /// [`ProfileClientAuth::InstancePrincipal`] (ignored otherwise).
    pub fn exchange_config(
        &self,
        signer: Option<Arc<dyn CredentialsProvider>>,
    ) -> Result<TokenExchangeConfig> {
        let client_auth = match &self.client_auth {
            ProfileClientAuth::ClientSecret {
                client_id,
                client_secret,
            } => ClientAuth::ClientSecret {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
            },
            ProfileClientAuth::InstancePrincipal => ClientAuth::Signed(signer.ok_or_else(|| {
                error(
                    "token_exchange_auth=InstancePrincipal needs an instance principal to sign the exchange",
                    false,
                )
            })?),
        };
        let mut cfg = TokenExchangeConfig::new(self.domain_url.clone(), client_auth);
        cfg.requested = self.requested.clone();
        cfg.subject_token_type = self.subject_token_type.clone();
        cfg.region = self.region.clone();
        cfg.tenancy = self.tenancy.clone();
        Ok(cfg)
    }

    /// The provider (not cached: wrap it with [`WorkloadIdentityFederationProvider::caching`]).
    pub fn provider(
        &self,
        env: Arc<dyn Env>,
        signer: Option<Arc<dyn CredentialsProvider>>,
    ) -> Result<WorkloadIdentityFederationProvider> {
        let cfg = self.exchange_config(signer)?;
        let source = self.subject.build(env)?;
        WorkloadIdentityFederationProvider::new(cfg, source)
    }
}
