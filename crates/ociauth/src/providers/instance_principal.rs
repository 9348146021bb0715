//! Instance principals: an OCI compute instance signs as itself (spec §2).
//!
//! Each fetch:
//! 1. reads the region once from the instance metadata service (IMDS v2, every request with
//!    `Authorization: Bearer Oracle`): `GET {base}/instance/region`, short code (`phx`) or
//!    identifier (`eu-frankfurt-1`), resolved with [`regions::resolve_region`];
//! 2. makes a **fresh** RSA-2048 session key;
//! 3. reads `/identity/cert.pem`, `/identity/key.pem` and `/identity/intermediate.pem`, checks
//!    that the key belongs to the certificate (a rotation between the reads is retried) and takes
//!    the tenancy from the first subject attribute starting with `opc-tenant:` (or
//!    `opc-identity:`, as the Python SDK also accepts); a refreshed certificate naming another
//!    tenancy is refused;
//! 4. `POST {federation endpoint}` (default `https://auth.{region}.{domain}/v1/x509`) with
//!    `{"certificate", "publicKey", "intermediateCertificates", ["purpose"],
//!    ["fingerprintAlgorithm": "SHA256"]}`, signed with the leaf key over
//!    `date (request-target) content-length content-type x-content-sha256` (no `host`) and keyId
//!    `<tenancy>/fed-x509-sha256/<sha256 of the leaf DER, lower-case hex pairs>` (the Go and Java
//!    form, our default) or `<tenancy>/fed-x509/<SHA-1, upper-case>` (the Python form);
//! 5. answers `ST$<token>` with the session key, expiring at the token's `exp`.
//!
//! The base URL is `OCI_METADATA_BASE_URL` (trimmed; blank means unset) or
//! `http://169.254.169.254/opc/v2`. The IPv6 fallback and the v1 fallback are not implemented
//! **[I]** (spec §2.2 recommendation).
//!
//! **Retries** (spec §2.7): metadata reads get [`RetryPolicy::IMDS`] (8 attempts / 180 s, on
//! 404, 429, 5xx and lost connections), the federation call [`RetryPolicy::FEDERATION`]
//! (3 attempts / 100 s, on 5xx, 429 and lost connections), both with full jitter.
//!
//! **Not on an instance [I].** Until the metadata service has answered once, a connection that
//! cannot be made (refused, unreachable, or no answer within the 2 s connect timeout) is not
//! retried: the error ([`PrincipalErrorKind::NotOnInstance`]) says at once that this is not an
//! OCI instance, instead of the Python SDK's three minutes of retries. Once it has answered, lost
//! connections are retried like any transient failure.
//!
//! Wrap the provider in [`CachingProvider`] ([`InstancePrincipalProvider::cached`]): it refreshes
//! `min(5 min, half the lifetime)` before `exp` (spec §1.4 recommends `exp − 300 s`; the half
//! lifetime only matters for tokens shorter than 10 minutes, which would otherwise be refreshed
//! on every call), single flight, and drops the token when a service answers 401.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::cache::CachingProvider;
use crate::credentials::{BoxFuture, Credentials, CredentialsProvider};
use crate::env::{Clock, Env};
use crate::keys::PrivateKey;
use crate::regions::{self, Region, Service};
use crate::signer::SignOptions;

use super::principal::{
    self, HttpSettings, PrincipalError, PrincipalErrorKind, Retrier, RetryOn, RetryPolicy,
    SessionToken, Target,
};

/// The provider's name in credentials and errors.
pub const SOURCE: &str = "instance_principal";
/// The variable that points at another metadata service (Python and Go SDKs).
pub const OCI_METADATA_BASE_URL: &str = "OCI_METADATA_BASE_URL";
/// The IPv4 IMDS v2 base.
pub const DEFAULT_METADATA_BASE_URL: &str = "http://169.254.169.254/opc/v2";
/// The `Authorization` header every IMDS v2 request carries.
pub const METADATA_AUTHORIZATION: &str = "Bearer Oracle";
/// The federation path on the Auth service.
pub const FEDERATION_PATH: &str = "/v1/x509";

/// The subject attribute prefixes that carry the tenancy OCID, in the order they are tried on
/// each attribute.
const TENANCY_PREFIXES: [&str; 2] = ["opc-tenant:", "opc-identity:"];

/// How the leaf certificate is named in the federation keyId.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FingerprintAlgorithm {
    /// `<tenancy>/fed-x509-sha256/<sha256, lower-case>`, body `"fingerprintAlgorithm":"SHA256"`
    /// (Go, Java).
    #[default]
    Sha256,
    /// `<tenancy>/fed-x509/<SHA-1, upper-case>` (Python).
    Sha1,
}

impl FingerprintAlgorithm {
    /// The federation keyId for a leaf certificate.
    pub fn key_id(self, tenancy: &str, leaf_der: &[u8]) -> String {
        match self {
            FingerprintAlgorithm::Sha256 => {
                format!("{tenancy}/fed-x509-sha256/{}", fingerprint_sha256(leaf_der))
            }
            FingerprintAlgorithm::Sha1 => {
                format!("{tenancy}/fed-x509/{}", fingerprint_sha1(leaf_der))
            }
        }
    }
}

fn hex_pairs(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-256 of a certificate's DER as lower-case hex pairs joined by `:`.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    hex_pairs(&Sha256::digest(der), false)
}

/// SHA-1 of a certificate's DER as upper-case hex pairs joined by `:` (Python's keyId form).
pub fn fingerprint_sha1(der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    hex_pairs(d.as_ref(), true)
}

/// The tenancy OCID in a certificate's subject: the text after `opc-tenant:` (or
/// `opc-identity:`) in the first subject attribute, of any type, that starts with one.
pub fn tenancy_from_certificate(der: &[u8]) -> Result<String, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("the certificate cannot be parsed ({e})"))?;
    tenancy_of(&cert)
}

fn tenancy_of(cert: &X509Certificate<'_>) -> Result<String, String> {
    for attr in cert.subject().iter_attributes() {
        let Ok(value) = attr.as_str() else { continue };
        for prefix in TENANCY_PREFIXES {
            if let Some(t) = value.strip_prefix(prefix) {
                return Ok(t.to_string());
            }
        }
    }
    Err(format!(
        "the certificate's subject ({}) has no opc-tenant: attribute naming the tenancy",
        cert.subject()
    ))
}

/// Settings; `Default` is what the Python SDK does, with the SHA-256 keyId.
#[derive(Debug, Clone)]
pub struct InstancePrincipalOptions {
    /// The metadata base URL (with `/opc/v2`); `None`: `OCI_METADATA_BASE_URL`, else
    /// [`DEFAULT_METADATA_BASE_URL`].
    pub metadata_base_url: Option<String>,
    /// The full federation URL (`--federation-endpoint` / `OCI_CLI_FEDERATION_ENDPOINT`, read by
    /// the caller); `None`: `https://auth.{region}.{domain}/v1/x509`.
    pub federation_endpoint: Option<String>,
    pub fingerprint_algorithm: FingerprintAlgorithm,
    /// The token purpose (`--auth-purpose`), sent as `purpose`. With a purpose, a change of
    /// tenancy in the certificate is not checked (as in the SDKs).
    pub purpose: Option<String>,
    /// CA certificates (PEM) trusted for the federation endpoint besides the system roots.
    pub ca_bundle: Option<PathBuf>,
    /// Connect timeout for the metadata service (default 2 s **[I]**: it is link-local, and
    /// off an instance the connection never completes).
    pub imds_connect_timeout: Duration,
    /// Whole-request timeout for the metadata service (default 10 s **[I]**).
    pub imds_timeout: Duration,
    /// Connect and whole-request timeouts for the federation call (SDK: 10 s, 60 s).
    pub federation_connect_timeout: Duration,
    pub federation_timeout: Duration,
    pub imds_retry: RetryPolicy,
    pub federation_retry: RetryPolicy,
}

impl Default for InstancePrincipalOptions {
    fn default() -> Self {
        Self {
            metadata_base_url: None,
            federation_endpoint: None,
            fingerprint_algorithm: FingerprintAlgorithm::default(),
            purpose: None,
            ca_bundle: None,
            imds_connect_timeout: Duration::from_secs(2),
            imds_timeout: Duration::from_secs(10),
            federation_connect_timeout: Duration::from_secs(10),
            federation_timeout: Duration::from_secs(60),
            imds_retry: RetryPolicy::IMDS,
            federation_retry: RetryPolicy::FEDERATION,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    region: Option<Region>,
    /// The tenancy of the first certificate; later certificates must agree.
    tenancy: Option<String>,
}

/// The instance's identity as read from the metadata service.
struct Identity {
    leaf_der: Vec<u8>,
    leaf_key: PrivateKey,
    intermediates: Vec<Vec<u8>>,
    tenancy: String,
}

/// Fetches instance-principal tokens. Each [`fetch`](Self::fetch) gets a new token; use
/// [`cached`](Self::cached) for refresh ahead of expiry.
pub struct InstancePrincipalProvider {
    env: Arc<dyn Env>,
    clock: Arc<dyn Clock>,
    metadata_base: String,
    federation_override: Option<String>,
    fingerprint_algorithm: FingerprintAlgorithm,
    purpose: Option<String>,
    imds: reqwest::Client,
    auth: reqwest::Client,
    imds_retry: RetryPolicy,
    federation_retry: RetryPolicy,
    imds_answered: AtomicBool,
    state: Mutex<State>,
}

impl std::fmt::Debug for InstancePrincipalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("InstancePrincipalProvider")
            .field("metadata_base", &self.metadata_base)
            .field("federation_endpoint", &self.federation_override)
            .field("fingerprint_algorithm", &self.fingerprint_algorithm)
            .field("region", &st.region.as_ref().map(|r| r.id.clone()))
            .field("tenancy", &st.tenancy)
            .finish_non_exhaustive()
    }
}

impl InstancePrincipalProvider {
    /// Check the settings and build the HTTP clients. No network I/O happens here.
    pub fn new(
        opts: InstancePrincipalOptions,
        env: Arc<dyn Env>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PrincipalError> {
        let (base, from_env) = match opts.metadata_base_url.as_deref().map(str::trim) {
            Some(b) if !b.is_empty() => (b.to_string(), false),
            _ => match env.var(OCI_METADATA_BASE_URL).map(|v| v.trim().to_string()) {
                Some(v) if !v.is_empty() => (v, true),
                _ => (DEFAULT_METADATA_BASE_URL.to_string(), false),
            },
        };
        let base = base.trim_end_matches('/').to_string();
        Target::parse(
            SOURCE,
            "metadata service",
            &format!("{base}/instance/region"),
        )
        .map_err(|e| {
            if from_env {
                PrincipalError::invalid_var(
                    SOURCE,
                    OCI_METADATA_BASE_URL,
                    format!("{OCI_METADATA_BASE_URL}: {}", e.message()),
                )
            } else {
                e
            }
        })?;
        let federation_override = match opts.federation_endpoint.as_deref().map(str::trim) {
            Some(f) if !f.is_empty() => {
                Target::parse(SOURCE, "federation endpoint", f)?;
                Some(f.to_string())
            }
            _ => None,
        };
        let imds = principal::http_client(
            SOURCE,
            &HttpSettings {
                connect_timeout: opts.imds_connect_timeout,
                timeout: opts.imds_timeout,
                no_proxy: true,
                ..HttpSettings::default()
            },
        )?;
        let auth = principal::http_client(
            SOURCE,
            &HttpSettings {
                connect_timeout: opts.federation_connect_timeout,
                timeout: opts.federation_timeout,
                extra_ca: opts.ca_bundle.as_deref(),
                ..HttpSettings::default()
            },
        )?;
        Ok(Self {
            env,
            clock,
            metadata_base: base,
            federation_override,
            fingerprint_algorithm: opts.fingerprint_algorithm,
            purpose: opts.purpose.filter(|p| !p.trim().is_empty()),
            imds,
            auth,
            imds_retry: opts.imds_retry,
            federation_retry: opts.federation_retry,
            imds_answered: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        })
    }

    /// Wrap in a [`CachingProvider`] (refresh ahead of expiry, single flight, invalidate on 401).
    pub fn cached(self) -> CachingProvider<Self> {
        let clock = Arc::clone(&self.clock);
        CachingProvider::new(self, clock)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The metadata base URL in use (no trailing `/`).
    pub fn metadata_base_url(&self) -> &str {
        &self.metadata_base
    }

    /// The region, once read from the metadata service.
    pub fn region(&self) -> Option<Region> {
        self.lock().region.clone()
    }

    /// The tenancy of the instance certificate, once read.
    pub fn tenancy(&self) -> Option<String> {
        self.lock().tenancy.clone()
    }

    /// The federation URL for `region`: the override, else `https://auth.{region}.{domain}/v1/x509`.
    pub fn federation_endpoint(&self, region: &Region) -> String {
        match &self.federation_override {
            Some(f) => f.clone(),
            None => format!(
                "{}{FEDERATION_PATH}",
                regions::endpoint(Service::Auth, region)
            ),
        }
    }

    /// One `GET {base}{path}`. The error says whether the budget should retry it.
    async fn imds_once(&self, path: &str) -> Result<String, (PrincipalError, bool)> {
        let url = format!("{}{path}", self.metadata_base);
        let sent = self
            .imds
            .get(&url)
            .header("authorization", METADATA_AUTHORIZATION)
            .header("user-agent", principal::user_agent())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let cause = principal::transport_cause(&e);
                if !self.imds_answered.load(Ordering::Relaxed) && (e.is_connect() || e.is_timeout())
                {
                    return Err((
                        PrincipalError::new(
                            SOURCE,
                            PrincipalErrorKind::NotOnInstance,
                            format!(
                                "not on an OCI instance: the instance metadata service at {} is \
                                 unreachable ({cause}); instance principals work only on OCI \
                                 compute instances (set {OCI_METADATA_BASE_URL} to use a metadata \
                                 service at another address)",
                                self.metadata_base
                            ),
                        ),
                        false,
                    ));
                }
                return Err((
                    PrincipalError::new(
                        SOURCE,
                        PrincipalErrorKind::Transport,
                        format!("GET {url} (instance metadata) got no answer: {cause}"),
                    ),
                    true,
                ));
            }
        };
        self.imds_answered.store(true, Ordering::Relaxed);
        let status = resp.status().as_u16();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Err((
                    PrincipalError::new(
                        SOURCE,
                        PrincipalErrorKind::Transport,
                        format!(
                            "GET {url} (instance metadata): reading the answer failed: {}",
                            principal::transport_cause(&e)
                        ),
                    ),
                    true,
                ));
            }
        };
        if !(200..300).contains(&status) {
            let reply = principal::Reply {
                status,
                headers: Default::default(),
                body,
            };
            let hint = if status == 401 || status == 403 {
                " (the metadata service requires 'Authorization: Bearer Oracle'; a proxy or \
                 X-Forwarded-* header in between is refused)"
            } else {
                ""
            };
            let e = principal::service_error(
                SOURCE,
                "the instance metadata request",
                &format!("GET {url}"),
                &reply,
            );
            let transient = e.is_transient() || status == 404;
            let e = e.append(hint).with_transient(transient);
            return Err((e, RetryOn::Imds.status_is_retryable(status, None)));
        }
        String::from_utf8(body.to_vec()).map_err(|_| {
            (
                PrincipalError::invalid_response(
                    SOURCE,
                    format!("GET {url} (instance metadata) answered with text that is not UTF-8"),
                ),
                false,
            )
        })
    }

    /// `GET {base}{path}` within the metadata retry budget.
    async fn imds_get(&self, path: &str) -> Result<String, PrincipalError> {
        let mut retrier = Retrier::new(&self.imds_retry);
        loop {
            match self.imds_once(path).await {
                Ok(text) => return Ok(text),
                Err((e, true)) => retrier.retry(e).await?,
                Err((e, false)) => return Err(retrier.fail(e)),
            }
        }
    }

    /// The instance's region: read once from `/instance/region`, then remembered.
    pub async fn fetch_region(&self) -> Result<Region, PrincipalError> {
        if let Some(r) = self.region() {
            return Ok(r);
        }
        let text = self.imds_get("/instance/region").await?;
        let name = text.trim().to_lowercase();
        let region = regions::resolve_region(&name, self.env.as_ref()).map_err(|e| {
            PrincipalError::invalid(
                SOURCE,
                format!(
                    "the instance metadata service gave the region {name:?}, which cannot be \
                     used: {e}"
                ),
            )
        })?;
        self.lock().region = Some(region.clone());
        Ok(region)
    }

    /// The instance OCID from `/instance/id`, lower-cased (as the Python SDK does for the
    /// resource-principal token path).
    pub async fn instance_id(&self) -> Result<String, PrincipalError> {
        let id = self.imds_get("/instance/id").await?;
        let id = id.trim().to_lowercase();
        if id.is_empty() {
            return Err(PrincipalError::invalid_response(
                SOURCE,
                format!(
                    "GET {}/instance/id answered with an empty instance id",
                    self.metadata_base
                ),
            ));
        }
        Ok(id)
    }

    /// Leaf certificate, its key and the intermediate, consistent with each other. A key that
    /// does not belong to the certificate (rotated between the two reads) is read again.
    async fn fetch_identity(&self) -> Result<Identity, PrincipalError> {
        let mut retrier = Retrier::new(&self.imds_retry);
        loop {
            let attempt = async {
                let cert = self.imds_once("/identity/cert.pem").await?;
                let key = zeroize::Zeroizing::new(self.imds_once("/identity/key.pem").await?);
                let inter = self.imds_once("/identity/intermediate.pem").await?;
                self.check_identity(&cert, &key, &inter)
            };
            match attempt.await {
                Ok(id) => return Ok(id),
                Err((e, true)) => retrier.retry(e).await?,
                Err((e, false)) => return Err(retrier.fail(e)),
            }
        }
    }

    fn check_identity(
        &self,
        cert_pem: &str,
        key_pem: &str,
        inter_pem: &str,
    ) -> Result<Identity, (PrincipalError, bool)> {
        let base = &self.metadata_base;
        let bad = |what: &str, why: String| {
            (
                PrincipalError::invalid_response(
                    SOURCE,
                    format!("{base}/identity/{what} from the instance metadata service {why}"),
                ),
                false,
            )
        };
        let leaf_der = principal::pem_certificates(cert_pem)
            .into_iter()
            .next()
            .ok_or_else(|| bad("cert.pem", "is not a PEM certificate".into()))?;
        let (_, leaf) = X509Certificate::from_der(&leaf_der)
            .map_err(|e| bad("cert.pem", format!("cannot be parsed ({e})")))?;
        let tenancy =
            tenancy_of(&leaf).map_err(|why| bad("cert.pem", format!("is unusable: {why}")))?;
        let leaf_key = PrivateKey::from_pem(key_pem.as_bytes(), None)
            .map_err(|e| bad("key.pem", format!("is not a usable private key: {e}")))?;
        let modulus = |b: &[u8]| -> Vec<u8> {
            let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[i..].to_vec()
        };
        let cert_modulus = match leaf.public_key().parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => modulus(rsa.modulus),
            _ => return Err(bad("cert.pem", "does not hold an RSA public key".into())),
        };
        let key_modulus = leaf_key
            .public_components()
            .map(|(n, _)| modulus(&n))
            .map_err(|e| bad("key.pem", e.to_string()))?;
        if cert_modulus != key_modulus {
            // Most likely rotated between the two reads: read both again.
            return Err((
                PrincipalError::invalid_response(
                    SOURCE,
                    format!(
                        "{base}/identity/key.pem does not belong to the certificate in \
                         {base}/identity/cert.pem"
                    ),
                ),
                true,
            ));
        }
        let intermediates = principal::pem_certificates(inter_pem);
        if intermediates.is_empty() {
            return Err(bad("intermediate.pem", "is not a PEM certificate".into()));
        }
        for der in &intermediates {
            X509Certificate::from_der(der)
                .map_err(|e| bad("intermediate.pem", format!("cannot be parsed ({e})")))?;
        }
        Ok(Identity {
            leaf_der,
            leaf_key,
            intermediates,
            tenancy,
        })
    }

    /// Read the identity, check the tenancy, and exchange it for a token with a new session key.
    pub async fn fetch(&self) -> Result<Credentials, PrincipalError> {
        let region = self.fetch_region().await?;
        let session_key = principal::new_session_key(SOURCE).await?;
        let id = self.fetch_identity().await?;
        if self.purpose.is_none() {
            let mut st = self.lock();
            match &st.tenancy {
                Some(previous) if previous != &id.tenancy => {
                    return Err(PrincipalError::new(
                        SOURCE,
                        PrincipalErrorKind::TenancyChanged,
                        format!(
                            "the refreshed instance certificate names the tenancy {}, but this \
                             provider started with {previous}; refusing to switch tenancies \
                             (restart the program to use the new tenancy)",
                            id.tenancy
                        ),
                    ));
                }
                Some(_) => {}
                None => st.tenancy = Some(id.tenancy.clone()),
            }
        } else {
            self.lock().tenancy = Some(id.tenancy.clone());
        }
        let url = self.federation_endpoint(&region);
        let token = self.federate(&url, &id, &session_key).await?;
        Ok(
            Credentials::security_token(&token.token, session_key, SOURCE)
                .with_expiry(token.expires_at)
                .with_region(region.id.as_str())
                .with_tenancy(id.tenancy.as_str()),
        )
    }

    /// The federation request body, keys in the SDKs' order.
    fn federation_body(&self, id: &Identity, session_key: &PrivateKey) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let mut body = serde_json::Map::new();
        body.insert("certificate".into(), b64(&id.leaf_der).into());
        body.insert(
            "publicKey".into(),
            principal::sanitized_public_key(session_key).into(),
        );
        body.insert(
            "intermediateCertificates".into(),
            id.intermediates
                .iter()
                .map(|d| b64(d))
                .collect::<Vec<_>>()
                .into(),
        );
        if let Some(p) = &self.purpose {
            body.insert("purpose".into(), p.clone().into());
        }
        if self.fingerprint_algorithm == FingerprintAlgorithm::Sha256 {
            body.insert("fingerprintAlgorithm".into(), "SHA256".into());
        }
        crate::client::python_json_dumps(&serde_json::Value::Object(body)).into_bytes()
    }

    async fn federate(
        &self,
        url: &str,
        id: &Identity,
        session_key: &PrivateKey,
    ) -> Result<SessionToken, PrincipalError> {
        let what = "the federation request";
        let endpoint = format!("POST {url}");
        let target = Target::parse(SOURCE, "federation endpoint", url)?;
        let body = self.federation_body(id, session_key);
        let signing = Credentials::new(
            self.fingerprint_algorithm.key_id(&id.tenancy, &id.leaf_der),
            id.leaf_key.clone(),
            SOURCE,
        );
        let opts = SignOptions {
            include_host: false,
            ..SignOptions::default()
        };
        let mut retrier = Retrier::new(&self.federation_retry);
        loop {
            let req = principal::signed_request(
                reqwest::Method::POST,
                &target,
                Some(&body),
                &[],
                &opts,
                &signing,
                self.clock.now(),
            )
            .map_err(|e| PrincipalError::invalid(SOURCE, format!("could not sign {what}: {e}")))?;
            let reply = match principal::send(&self.auth, req).await {
                Ok(r) => r,
                Err(e) => {
                    let (err, retry) = principal::no_answer(
                        SOURCE,
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
            if !(200..300).contains(&reply.status) {
                let err = principal::service_error(SOURCE, what, &endpoint, &reply);
                if RetryOn::Federation.status_is_retryable(reply.status, None) {
                    retrier.retry(err).await?;
                    continue;
                }
                return Err(retrier.fail(err));
            }
            let obj = principal::json_object(SOURCE, what, &endpoint, &reply.body)?;
            let token = principal::json_string(SOURCE, what, &endpoint, &obj, "token")?;
            let source = format!("the token from {endpoint}");
            let token = SessionToken::parse(SOURCE, &source, &token)?;
            token.check_not_expired(SOURCE, &source, self.clock.now())?;
            return Ok(token);
        }
    }
}

impl CredentialsProvider for InstancePrincipalProvider {
    fn credentials(&self) -> BoxFuture<'_, crate::Result<Credentials>> {
        Box::pin(async move { self.fetch().await.map_err(Into::into) })
    }

    fn name(&self) -> &'static str {
        SOURCE
    }
}

/// An instance-principal provider with refresh ahead of expiry: `new(opts, env, clock).cached()`.
pub fn instance_principal(
    opts: InstancePrincipalOptions,
    env: Arc<dyn Env>,
    clock: Arc<dyn Clock>,
) -> Result<CachingProvider<InstancePrincipalProvider>, PrincipalError> {
    Ok(InstancePrincipalProvider::new(opts, env, clock)?.cached())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_key_ids() {
        let der = b"not really a certificate";
        let sha256 = fingerprint_sha256(der);
        assert_eq!(sha256.len(), 32 * 3 - 1);
        assert_eq!(sha256, sha256.to_lowercase());
        let sha1 = fingerprint_sha1(der);
        assert_eq!(sha1.len(), 20 * 3 - 1);
        assert_eq!(sha1, sha1.to_uppercase());
        // SHA-1("abc") is a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d.
        assert_eq!(
            fingerprint_sha1(b"abc"),
            "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D"
        );
        assert_eq!(
            FingerprintAlgorithm::Sha1.key_id("ocid1.tenancy.oc1..t", b"abc"),
            "ocid1.tenancy.oc1..t/fed-x509/A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D"
        );
        assert!(
            FingerprintAlgorithm::Sha256
                .key_id("t", b"abc")
                .starts_with("t/fed-x509-sha256/ba:78:16:bf:")
        );
    }
}
