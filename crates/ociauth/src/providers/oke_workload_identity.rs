//! OKE workload identity: a Kubernetes pod on an enhanced OKE cluster exchanges its service
//! account token for a resource principal session token at the cluster's proxymux (spec §4).
//!
//! Each fetch reads the service-account token again (default
//! `/var/run/secrets/kubernetes.io/serviceaccount/token`; the kubelet rotates it), checks that it
//! is a JWT whose `exp` has not passed, makes a **fresh** session key, and sends
//!
//! ```text
//! POST https://$KUBERNETES_SERVICE_HOST:12250/resourcePrincipalSessionTokens
//! Authorization: Bearer <service account token>
//! Content-Type: application/json
//! opc-request-id: <32 hex>/<32 hex>/<32 hex>
//!
//! {"podKey": "<base64 SubjectPublicKeyInfo DER of the session key>"}
//! ```
//!
//! over TLS trusting only the cluster CA (`OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH`, default
//! the service account's `ca.crt`, read again on each fetch). The answer is a JSON string
//! literal holding base64 of `{"token": "ST$<RPST>"}`; the quotes are optional here (Go needs
//! them, Python ignores them). A 403 means the cluster is a basic cluster.
//!
//! The region is `OCI_RESOURCE_PRINCIPAL_REGION` (short codes resolved; optional, as in Python),
//! the tenancy the RPST's `res_tenant`. The call is retried like the SDK's
//! `DEFAULT_RETRY_STRATEGY` ([`RetryPolicy::SERVICE`]); a 403 is not retried.
//!
//! Wrap in [`CachingProvider`] ([`OkeWorkloadIdentityProvider::cached`]). It refreshes
//! `min(5 min, half the lifetime)` before `exp`; the spec's recommendation for OKE, the earlier
//! of `exp − 300 s` and the half-life, would need a lifetime-dependent window the cache does
//! not offer **[I]**.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::cache::CachingProvider;
use crate::credentials::{BoxFuture, Credentials, CredentialsProvider};
use crate::env::{Clock, Env};
use crate::jwt;
use crate::regions::{self, Region};

use super::principal::{
    self, HttpSettings, PrincipalError, PrincipalErrorKind, Retrier, RetryOn, RetryPolicy,
    SessionToken,
};

/// The provider's name in credentials and errors.
pub const SOURCE: &str = "oke_workload_identity";
/// The proxymux host.
pub const KUBERNETES_SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";
/// The cluster CA bundle path.
pub const OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH: &str =
    "OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH";
/// The service-account token path (the CLI's variable; the SDK takes it as an argument).
pub const OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH: &str =
    "OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH";
/// A literal service-account token (the CLI's variable).
pub const OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_STRING: &str =
    "OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_STRING";
/// The region variable shared with resource principals.
pub const OCI_RESOURCE_PRINCIPAL_REGION: &str = "OCI_RESOURCE_PRINCIPAL_REGION";
pub const DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/token";
pub const DEFAULT_SERVICE_ACCOUNT_CERT_PATH: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
/// The proxymux port, fixed in both SDKs.
pub const PROXYMUX_PORT: u16 = 12250;
pub const PROXYMUX_PATH: &str = "/resourcePrincipalSessionTokens";

/// Settings. `None` fields fall back to the environment, then to the defaults.
#[derive(Clone)]
pub struct OkeWorkloadIdentityOptions {
    /// Service-account token file; else `OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH`, else
    /// [`DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH`].
    pub service_account_token_path: Option<PathBuf>,
    /// A literal service-account token (wins over any path); else
    /// `OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_STRING`.
    pub service_account_token: Option<String>,
    /// Cluster CA bundle; else `OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH`, else
    /// [`DEFAULT_SERVICE_ACCOUNT_CERT_PATH`].
    pub ca_cert_path: Option<PathBuf>,
    /// The proxymux port (fixed at 12250 in the SDKs; tests change it).
    pub proxymux_port: u16,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for OkeWorkloadIdentityOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OkeWorkloadIdentityOptions")
            .field(
                "service_account_token_path",
                &self.service_account_token_path,
            )
            .field(
                "service_account_token",
                &self.service_account_token.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_cert_path", &self.ca_cert_path)
            .field("proxymux_port", &self.proxymux_port)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Default for OkeWorkloadIdentityOptions {
    fn default() -> Self {
        Self {
            service_account_token_path: None,
            service_account_token: None,
            ca_cert_path: None,
            proxymux_port: PROXYMUX_PORT,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::SERVICE,
        }
    }
}

/// Where the service-account token comes from.
enum SaToken {
    File(PathBuf),
    Literal(Zeroizing<String>),
}

impl std::fmt::Debug for SaToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaToken::File(p) => f.debug_tuple("File").field(p).finish(),
            SaToken::Literal(_) => f.write_str("Literal(<redacted>)"),
        }
    }
}

/// Exchanges the pod's service-account token for an RPST at the proxymux.
#[derive(Debug)]
pub struct OkeWorkloadIdentityProvider {
    endpoint: String,
    sa_token: SaToken,
    ca_cert_path: PathBuf,
    region: Option<Region>,
    connect_timeout: Duration,
    timeout: Duration,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

fn var(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl OkeWorkloadIdentityProvider {
    /// Read the settings. `KUBERNETES_SERVICE_HOST` unset is
    /// [`PrincipalErrorKind::NotConfigured`] (not in a Kubernetes pod). No I/O happens here.
    pub fn from_env(
        opts: OkeWorkloadIdentityOptions,
        env: Arc<dyn Env>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PrincipalError> {
        let env = env.as_ref();
        let host = var(env, KUBERNETES_SERVICE_HOST).ok_or_else(|| {
            PrincipalError::not_configured(
                SOURCE,
                KUBERNETES_SERVICE_HOST,
                format!(
                    "{KUBERNETES_SERVICE_HOST} is not set: this is not a Kubernetes pod (OKE \
                     workload identity runs in pods of an enhanced OKE cluster)"
                ),
            )
        })?;
        // An IPv6 address goes in brackets.
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host
        };
        let endpoint = format!("https://{host}:{}{PROXYMUX_PATH}", opts.proxymux_port);
        principal::Target::parse(SOURCE, "proxymux", &endpoint).map_err(|e| {
            PrincipalError::invalid_var(SOURCE, KUBERNETES_SERVICE_HOST, e.message().to_string())
        })?;
        let sa_token = match opts
            .service_account_token
            .filter(|t| !t.trim().is_empty())
            .or_else(|| var(env, OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_STRING))
        {
            Some(t) => SaToken::Literal(Zeroizing::new(t.trim().to_string())),
            None => SaToken::File(
                opts.service_account_token_path
                    .or_else(|| {
                        var(env, OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH).map(PathBuf::from)
                    })
                    .map(|p| crate::env::expand_user(&p.to_string_lossy(), env))
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_SERVICE_ACCOUNT_TOKEN_PATH)),
            ),
        };
        let ca_cert_path = opts
            .ca_cert_path
            .or_else(|| var(env, OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SERVICE_ACCOUNT_CERT_PATH));
        let region = match var(env, OCI_RESOURCE_PRINCIPAL_REGION) {
            None => None,
            Some(r) => Some(regions::resolve_region(&r, env).map_err(|e| {
                PrincipalError::invalid_var(
                    SOURCE,
                    OCI_RESOURCE_PRINCIPAL_REGION,
                    format!("{OCI_RESOURCE_PRINCIPAL_REGION}: {e}"),
                )
            })?),
        };
        Ok(Self {
            endpoint,
            sa_token,
            ca_cert_path,
            region,
            connect_timeout: opts.connect_timeout,
            timeout: opts.timeout,
            retry: opts.retry,
            clock,
        })
    }

    /// Wrap in a [`CachingProvider`] (refresh ahead of expiry, single flight, invalidate on 401).
    pub fn cached(self) -> CachingProvider<Self> {
        let clock = Arc::clone(&self.clock);
        CachingProvider::new(self, clock)
    }

    /// `https://<host>:12250/resourcePrincipalSessionTokens`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The service-account token, read again and checked (a JWT with an `exp` in the future).
    fn service_account_token(&self) -> Result<Zeroizing<String>, PrincipalError> {
        let (text, origin) = match &self.sa_token {
            SaToken::Literal(t) => (t.clone(), "the supplied service account token".to_string()),
            SaToken::File(p) => {
                let raw = std::fs::read_to_string(p).map_err(|e| {
                    PrincipalError::invalid(
                        SOURCE,
                        format!(
                            "could not read the service account token {}: {e} (set \
                             {OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH} if it is elsewhere)",
                            p.display()
                        ),
                    )
                })?;
                (
                    Zeroizing::new(raw.trim().to_string()),
                    format!("the service account token at {}", p.display()),
                )
            }
        };
        let jwt = jwt::decode_unverified(&text)
            .map_err(|e| PrincipalError::invalid(SOURCE, format!("{origin}: {e}")))?;
        let exp = match jwt.claim("exp") {
            None => {
                return Err(PrincipalError::invalid(
                    SOURCE,
                    format!("{origin} has no 'exp' claim"),
                ));
            }
            Some(_) => jwt.exp().ok_or_else(|| {
                PrincipalError::invalid(
                    SOURCE,
                    format!("{origin}: its 'exp' claim is not a number"),
                )
            })?,
        };
        let now = self
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if now >= exp {
            return Err(PrincipalError::new(
                SOURCE,
                PrincipalErrorKind::Expired,
                format!("{origin} has expired (exp {exp}, now {now})"),
            )
            .with_transient(matches!(self.sa_token, SaToken::File(_))));
        }
        Ok(text)
    }

    /// Exchange the service-account token for an RPST with a new session key.
    pub async fn fetch(&self) -> Result<Credentials, PrincipalError> {
        let sa = self.service_account_token()?;
        let http = principal::http_client(
            SOURCE,
            &HttpSettings {
                connect_timeout: self.connect_timeout,
                timeout: self.timeout,
                only_ca: Some(&self.ca_cert_path),
                ..HttpSettings::default()
            },
        )
        .map_err(|e| {
            e.append(&format!(
                " (set {OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH} if the cluster CA is elsewhere)"
            ))
        })?;
        let session_key = principal::new_session_key(SOURCE).await?;
        let body = crate::client::python_json_dumps(&serde_json::json!({
            "podKey": principal::sanitized_public_key(&session_key)
        }));
        let what = "the proxymux token request";
        let tls_hint = format!(
            " (the proxymux certificate must be issued by the cluster CA in {}; set \
             {OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH} if the CA is elsewhere)",
            self.ca_cert_path.display()
        );
        let endpoint = format!("POST {}", self.endpoint);
        let mut retrier = Retrier::new(&self.retry);
        let reply = loop {
            let request_id = format!(
                "{}/{}/{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            let sent = http
                .post(&self.endpoint)
                .header("authorization", format!("Bearer {}", sa.as_str()))
                .header("content-type", "application/json")
                .header("opc-request-id", request_id)
                .header("user-agent", principal::user_agent())
                .body(body.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let (err, retry) = principal::no_answer(SOURCE, what, &endpoint, &e, &tls_hint);
                    if retry {
                        retrier.retry(err).await?;
                        continue;
                    }
                    return Err(retrier.fail(err));
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    retrier
                        .retry(PrincipalError::new(
                            SOURCE,
                            PrincipalErrorKind::Transport,
                            format!(
                                "{what} ({endpoint}): reading the answer failed: {}",
                                principal::transport_cause(&e)
                            ),
                        ))
                        .await?;
                    continue;
                }
            };
            let reply = principal::Reply {
                status,
                headers,
                body,
            };
            if status == 200 {
                break reply;
            }
            let mut err = principal::service_error(SOURCE, what, &endpoint, &reply);
            if status == 403 {
                err = err.append(
                    "; the cluster is not an enhanced cluster: OKE workload identity needs an \
                     enhanced cluster (please ensure the cluster type is enhanced)",
                );
                return Err(retrier.fail(err));
            }
            if RetryOn::Service.status_is_retryable(status, reply.error_code().as_deref()) {
                retrier.retry(err).await?;
                continue;
            }
            return Err(retrier.fail(err));
        };
        let token = decode_envelope(&reply.body).map_err(|why| {
            PrincipalError::invalid_response(SOURCE, format!("{what} ({endpoint}): {why}"))
        })?;
        let source = format!("the token from {endpoint}");
        let token = SessionToken::parse(SOURCE, &source, &token)?;
        token.check_not_expired(SOURCE, &source, self.clock.now())?;
        let mut c = Credentials::security_token(&token.token, session_key, SOURCE)
            .with_expiry(token.expires_at);
        if let Some(r) = &self.region {
            c = c.with_region(r.id.as_str());
        }
        if let Some(t) = token.claim("res_tenant") {
            c = c.with_tenancy(t);
        }
        Ok(c)
    }
}

/// The RPST in a proxymux answer: a JSON string literal (quotes optional) holding base64 of
/// `{"token": "ST$<RPST>"}`. Errors never contain the token.
pub fn decode_envelope(body: &[u8]) -> Result<Zeroizing<String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8 text".to_string())?;
    let text = text.trim();
    let inner: String = if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .map_err(|_| "the answer is not a JSON string literal".to_string())?
    } else {
        text.to_string()
    };
    let b64: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = Zeroizing::new(
        engine
            .decode(b64.as_bytes())
            .map_err(|_| "the answer is not base64 of a JSON object".to_string())?,
    );
    let obj: serde_json::Value = serde_json::from_slice(&decoded)
        .map_err(|_| "the decoded answer is not JSON".to_string())?;
    let token = obj
        .get("token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| "the decoded answer has no \"token\" string".to_string())?;
    let token = token.trim();
    Ok(Zeroizing::new(
        token.strip_prefix("ST$").unwrap_or(token).to_string(),
    ))
}

impl CredentialsProvider for OkeWorkloadIdentityProvider {
    fn credentials(&self) -> BoxFuture<'_, crate::Result<Credentials>> {
        Box::pin(async move { self.fetch().await.map_err(Into::into) })
    }

    fn name(&self) -> &'static str {
        SOURCE
    }
}

/// An OKE workload-identity provider with refresh ahead of expiry.
pub fn oke_workload_identity(
    opts: OkeWorkloadIdentityOptions,
    env: Arc<dyn Env>,
    clock: Arc<dyn Clock>,
) -> Result<CachingProvider<OkeWorkloadIdentityProvider>, PrincipalError> {
    Ok(OkeWorkloadIdentityProvider::from_env(opts, env, clock)?.cached())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_decode_with_or_without_quotes() {
        let inner = base64::engine::general_purpose::STANDARD
            .encode(br#"{"token": "ST$eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}"#);
        let quoted = format!("\"{inner}\"");
        assert_eq!(
            decode_envelope(quoted.as_bytes()).unwrap().as_str(),
            "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
        );
        assert_eq!(
            decode_envelope(inner.as_bytes()).unwrap().as_str(),
            "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
        );
        let escaped = quoted.replace('/', "\\/");
        assert!(decode_envelope(escaped.as_bytes()).is_ok());
        assert_eq!(
            decode_envelope(b"\"!!!\"").unwrap_err(),
            "the answer is not base64 of a JSON object"
        );
        let no_token = base64::engine::general_purpose::STANDARD.encode(br#"{"tok": 1}"#);
        assert_eq!(
            decode_envelope(no_token.as_bytes()).unwrap_err(),
            "the decoded answer has no \"token\" string"
        );
    }
}
