//! Request verification exactly as OCI does it (spec oci-signing-config-session.md §1.9):
//!
//! 1. an `Authorization: Signature …` header must be present;
//! 2. its parameters are parsed in any order ([`ociauth::signer::parse_authorization`]);
//! 3. the signed header list must hold the minimum set: `(request-target)`, `host` and `date`
//!    (or `x-date`); on POST/PUT/PATCH also `content-length content-type x-content-sha256`,
//!    except on operations whose [`SigningPolicy`] makes body signing optional (PutObject,
//!    UploadPart);
//! 4. the signing string is rebuilt from the raw request target as received and the received
//!    header values ([`ociauth::signer::signing_string`]), so client and server share one
//!    definition;
//! 5. a signed `x-content-sha256` must match the body and a signed `content-length` its length;
//! 6. the signed date must be within the allowed skew (300 s) of the emulator's clock;
//! 7. the key id resolves to a public key: `tenancy/user/fingerprint` against the registered API
//!    keys, `ST$<token>` through the pluggable [`TokenVerifier`];
//! 8. the RSA PKCS#1 v1.5 SHA-256 signature must verify.
//!
//! Every failure is the same 401 [`NOT_AUTHENTICATED_BODY`]; the reason goes only to the request
//! log (through [`AuthNote`]), never to the client.
//!
//! The axum side is [`authenticate`], a `route_layer` middleware that each service module applies
//! with the policy of its routes.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt as _;
use ociauth::env::Clock;
use ociauth::keys::PublicKey;
use ociauth::signer::{parse_authorization, signing_string};
use sha2::{Digest as _, Sha256};

/// The body of every 401, byte for byte.
pub const NOT_AUTHENTICATED_BODY: &str = r#"{"code":"NotAuthenticated","message":"The required information to complete authentication was not provided or was incorrect."}"#;

/// Default allowed distance between the request `Date` and the emulator clock (OCI: 5 minutes).
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);

/// What an operation demands of the signature beyond the generic rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningPolicy {
    /// POST/PUT/PATCH may be signed with the generic header list (no body headers). When the
    /// client does sign the body headers they are still verified. (§1.2: PutObject, UploadPart.)
    pub body_signing_optional: bool,
    /// `host` must be signed (false only for the X.509 federation endpoint, §1.2).
    pub require_host: bool,
    /// Further headers that must be signed.
    pub extra_required: &'static [&'static str],
}

impl SigningPolicy {
    /// The rule for almost every operation.
    pub const STANDARD: SigningPolicy = SigningPolicy {
        body_signing_optional: false,
        require_host: true,
        extra_required: &[],
    };
    /// Object Storage PutObject and UploadPart: the SDKs sign them without body headers.
    pub const BODY_SIGNING_OPTIONAL: SigningPolicy = SigningPolicy {
        body_signing_optional: true,
        require_host: true,
        extra_required: &[],
    };
}

/// How the request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// An API key: `tenancy/user/fingerprint`.
    ApiKey { fingerprint: String },
    /// A session token (`ST$…`); `kind` is what the token verifier calls it (e.g. `user`,
    /// `instance`, `resource`).
    SessionToken { kind: String },
    /// An X.509 certificate (the federation endpoint's `<tenancy>/fed-x509/<fingerprint>`).
    Certificate { fingerprint: String },
    /// A resource's own key (RP 2.1.x `resource/v2.1…/<id>` key ids).
    ResourceKey { key_id: String },
}

/// The authenticated caller, inserted into the request extensions for handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenancy_id: String,
    /// The user OCID, or the subject of a token (instance, resource, workload…).
    pub principal_id: String,
    pub method: AuthMethod,
}

/// What a [`TokenVerifier`] returns for a valid token.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The key the request must be signed with (the token's bound `jwk`).
    pub public_key: PublicKey,
    pub principal: Principal,
    /// Headers that must additionally be signed with this token (e.g. `opc-obo-token`).
    pub required_headers: Vec<String>,
}

/// Validates `ST$` session tokens. The session-token, instance-, resource-principal and OKE
/// modules plug in here; without a verifier every `ST$` request is a 401.
pub trait TokenVerifier: Send + Sync + std::fmt::Debug {
    /// Check `token` (the part after `ST$`) at time `now`. `Err` carries the reason for the log
    /// (never shown to the client; it must not contain the token).
    fn verify(&self, token: &str, now: SystemTime) -> Result<VerifiedToken, String>;
}

/// A key that a route's own [`KeyResolver`] found for a key id (RP 2.1 `resource/v2.1/…` key ids,
/// the X.509 federation endpoint's `<tenancy>/fed-x509/<fingerprint>`).
#[derive(Debug, Clone)]
pub struct ResolvedKey {
    pub public_key: PublicKey,
    pub principal: Principal,
    /// Headers that must additionally be signed.
    pub required_headers: Vec<String>,
}

/// A route-specific key lookup, consulted before the API-key and `ST$` rules: `None` when it
/// does not recognise the key id (the generic rules apply), `Some(Err(reason))` to reject (the
/// reason goes to the log only).
pub type KeyResolver = KeyResolverFn<'static>;
/// [`KeyResolver`] that may borrow from its caller (for one request).
pub type KeyResolverFn<'a> =
    dyn Fn(&str, SystemTime) -> Option<Result<ResolvedKey, String>> + Send + Sync + 'a;

/// Looks up registered API keys.
pub trait KeyStore: Send + Sync {
    fn api_key(&self, tenancy: &str, user: &str, fingerprint: &str) -> Option<PublicKey>;
}

impl KeyStore for crate::state::State {
    fn api_key(&self, tenancy: &str, user: &str, fingerprint: &str) -> Option<PublicKey> {
        crate::state::State::api_key(self, tenancy, user, fingerprint)
    }
}

/// Why a request was rejected (for the log only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    /// The key id, already redacted (`ST$` tokens cut short), when it could be parsed.
    pub key_id: Option<String>,
}

impl Rejection {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            key_id: None,
        }
    }
}

/// Attached to every response of an authenticated route, for the request log.
#[derive(Debug, Clone, Default)]
pub struct AuthNote {
    /// Redacted key id.
    pub key_id: Option<String>,
    /// Why authentication failed (401 only).
    pub reason: Option<String>,
}

/// The 401 response: exact body, JSON content type; the log reason rides in [`AuthNote`].
pub fn unauthenticated(rejection: Rejection) -> Response {
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        NOT_AUTHENTICATED_BODY,
    )
        .into_response();
    resp.extensions_mut().insert(AuthNote {
        key_id: rejection.key_id,
        reason: Some(rejection.reason),
    });
    resp
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        unauthenticated(self)
    }
}

/// The body digest the client signed, to be compared with what arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDigest {
    /// Signed `x-content-sha256` (base64 SHA-256).
    pub sha256_b64: String,
    /// Signed `content-length`, when listed.
    pub content_length: Option<u64>,
}

impl BodyDigest {
    /// Compare with the received body's hash and length.
    pub fn check(&self, sha256: &[u8], len: u64) -> Result<(), String> {
        if let Some(cl) = self.content_length
            && cl != len
        {
            return Err(format!(
                "signed content-length {cl} differs from the body length {len}"
            ));
        }
        if B64.encode(sha256) != self.sha256_b64 {
            return Err("signed x-content-sha256 does not match the body".to_string());
        }
        Ok(())
    }
}

/// A request whose headers passed verification.
#[derive(Debug, Clone)]
pub struct Verified {
    pub principal: Principal,
    /// Redacted key id for the log.
    pub key_id: String,
    /// Set when the body headers were signed: the body must still be checked.
    pub body: Option<BodyDigest>,
}

/// The parts of a request that verification reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// Path and query exactly as received on the request line.
    pub target: &'a str,
    pub headers: &'a HeaderMap,
}

/// Verifies signatures against registered keys and the emulator clock.
pub struct Verifier {
    keys: Arc<dyn KeyStore>,
    tokens: RwLock<Option<Arc<dyn TokenVerifier>>>,
    clock: Arc<dyn Clock>,
    max_skew: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("max_skew", &self.max_skew)
            .finish_non_exhaustive()
    }
}

/// The received value of a header: all values joined by `, `, surrounding whitespace trimmed.
/// `None` when absent or not visible ASCII.
fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let v = v.to_str().ok()?.trim();
        match &mut out {
            None => out = Some(v.to_string()),
            Some(s) => {
                s.push_str(", ");
                s.push_str(v);
            }
        }
    }
    out
}

impl Verifier {
    pub fn new(
        keys: Arc<dyn KeyStore>,
        tokens: Option<Arc<dyn TokenVerifier>>,
        clock: Arc<dyn Clock>,
        max_skew: Duration,
    ) -> Self {
        Self {
            keys,
            tokens: RwLock::new(tokens),
            clock,
            max_skew,
        }
    }

    /// Install (or remove) the `ST$` token verifier.
    pub fn set_token_verifier(&self, v: Option<Arc<dyn TokenVerifier>>) {
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = v;
    }

    fn token_verifier(&self) -> Option<Arc<dyn TokenVerifier>> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Steps 1–4 and 6–8 of §1.9 (everything but reading the body).
    pub fn verify_head(
        &self,
        req: &RequestHead<'_>,
        policy: &SigningPolicy,
    ) -> Result<Verified, Rejection> {
        self.verify_head_with(req, policy, None)
    }

    /// [`Self::verify_head`] with a route-specific key lookup tried first.
    pub fn verify_head_with(
        &self,
        req: &RequestHead<'_>,
        policy: &SigningPolicy,
        resolver: Option<&KeyResolverFn<'_>>,
    ) -> Result<Verified, Rejection> {
        // 1. Authorization present, Signature scheme.
        let auth = match req.headers.get(header::AUTHORIZATION) {
            None => return Err(Rejection::new("no Authorization header")),
            Some(v) => v
                .to_str()
                .map_err(|_| Rejection::new("Authorization header is not visible ASCII"))?,
        };
        // 2. Parameters in any order.
        let params = parse_authorization(auth)
            .map_err(|e| Rejection::new(format!("cannot parse Authorization: {e}")))?;
        let key_id = ociauth::redact::key_id(&params.key_id);
        let reject = |reason: String| Rejection {
            reason,
            key_id: Some(key_id.clone()),
        };
        if let Some(alg) = &params.algorithm
            && alg != "rsa-sha256"
        {
            return Err(reject(format!(
                "algorithm {alg:?} is not supported (only rsa-sha256)"
            )));
        }
        if let Some(v) = &params.version
            && v != "1"
        {
            return Err(reject(format!(
                "signature version {v:?} is not supported (only 1)"
            )));
        }
        let method = req.method.to_ascii_lowercase();
        let body_method = match method.as_str() {
            "get" | "head" | "delete" => false,
            "post" | "put" | "patch" => true,
            _ => return Err(reject(format!("method {} cannot be signed", req.method))),
        };

        // 3. Minimum header set.
        let signed = |name: &str| params.headers.iter().any(|h| h == name);
        let mut required: Vec<&str> = vec!["(request-target)"];
        if policy.require_host {
            required.push("host");
        }
        if body_method && !policy.body_signing_optional {
            required.extend(["content-length", "content-type", "x-content-sha256"]);
        }
        required.extend(policy.extra_required.iter().copied());
        if let Some(missing) = required.iter().find(|h| !signed(h)) {
            return Err(reject(format!(
                "signed headers {:?} lack required {missing:?}",
                params.headers.join(" ")
            )));
        }
        let date_header = if signed("date") {
            "date"
        } else if signed("x-date") {
            "x-date"
        } else {
            return Err(reject(format!(
                "signed headers {:?} lack required \"date\" (or \"x-date\")",
                params.headers.join(" ")
            )));
        };

        // 4. Rebuild the signing string from what was received.
        let mut values: Vec<(String, String)> = Vec::with_capacity(params.headers.len());
        for name in &params.headers {
            if name == "(request-target)" {
                continue;
            }
            match header_value(req.headers, name) {
                Some(v) => values.push((name.clone(), v)),
                None => {
                    return Err(reject(format!(
                        "signed header {name:?} is absent from the request (or not ASCII)"
                    )));
                }
            }
        }
        let lookup = |name: &str| {
            values
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let signing = signing_string(&params.headers, req.method, req.target, lookup)
            .map_err(|e| reject(format!("cannot rebuild the signing string: {e}")))?;

        // 6. Clock skew.
        let date_value = lookup(date_header).unwrap_or_default();
        let date = httpdate::parse_http_date(date_value).map_err(|_| {
            reject(format!(
                "{date_header} {date_value:?} is not an HTTP date (IMF-fixdate)"
            ))
        })?;
        let now = self.clock.now();
        let skew = now
            .duration_since(date)
            .or_else(|_| date.duration_since(now))
            .unwrap_or_default();
        if skew > self.max_skew {
            return Err(reject(format!(
                "{date_header} {date_value:?} is {} s away from the server clock (allowed: {} s)",
                skew.as_secs(),
                self.max_skew.as_secs()
            )));
        }

        // 5 (headers part). What the body must hash to.
        let body = if signed("x-content-sha256") {
            let sha = lookup("x-content-sha256").unwrap_or_default().to_string();
            let content_length =
                if signed("content-length") {
                    let v = lookup("content-length").unwrap_or_default();
                    Some(v.parse::<u64>().map_err(|_| {
                        reject(format!("signed content-length {v:?} is not a number"))
                    })?)
                } else {
                    None
                };
            Some(BodyDigest {
                sha256_b64: sha,
                content_length,
            })
        } else {
            None
        };

        // 7. Resolve the key.
        let custom = resolver.and_then(|r| r(&params.key_id, now));
        let (public_key, principal, token_headers) = if let Some(found) = custom {
            let k = found.map_err(|why| reject(format!("key id rejected: {why}")))?;
            (k.public_key, k.principal, k.required_headers)
        } else if let Some(token) = params.key_id.strip_prefix("ST$") {
            let Some(tv) = self.token_verifier() else {
                return Err(reject(
                    "session tokens (ST$ key ids) are not enabled in this emulator".into(),
                ));
            };
            let t = tv
                .verify(token, now)
                .map_err(|why| reject(format!("session token rejected: {why}")))?;
            (t.public_key, t.principal, t.required_headers)
        } else {
            let parts: Vec<&str> = params.key_id.split('/').collect();
            let [tenancy, user, fingerprint] = parts[..] else {
                return Err(reject(
                    "keyId is not tenancy/user/fingerprint (3 parts separated by '/')".into(),
                ));
            };
            let Some(k) = self.keys.api_key(tenancy, user, fingerprint) else {
                return Err(reject(
                    "no API key registered under this tenancy/user/fingerprint".into(),
                ));
            };
            let principal = Principal {
                tenancy_id: tenancy.to_string(),
                principal_id: user.to_string(),
                method: AuthMethod::ApiKey {
                    fingerprint: fingerprint.to_string(),
                },
            };
            (k, principal, Vec::new())
        };
        if let Some(missing) = token_headers.iter().find(|h| !signed(h)) {
            return Err(reject(format!(
                "this token requires the signed header {missing:?}"
            )));
        }

        // 8. Signature.
        let sig = B64
            .decode(params.signature.as_bytes())
            .map_err(|_| reject("signature is not base64".into()))?;
        if !public_key.verify_sha256(signing.as_bytes(), &sig) {
            return Err(reject(
                "signature does not verify (signing string or key differ)".into(),
            ));
        }
        Ok(Verified {
            principal,
            key_id,
            body,
        })
    }
}

/// How [`authenticate`] hands the body to the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// Read the body (at most `max_buffered_body` bytes), check a signed digest, then call the
    /// handler, which gets the bytes as the request body.
    Buffer,
    /// Pass the body through as a stream that hashes as it goes and fails at its end when the
    /// signed digest differs (see [`BodyError`]); it also stops after `max_stream_body` bytes.
    /// The handler must not commit anything before the stream ended without error.
    Stream,
}

/// Failure of a streamed body (the error inside the handler's body stream).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The signed digest or length does not match: answer 401.
    #[error("body rejected: {0}")]
    Unauthenticated(String),
    #[error("request body exceeds {0} bytes")]
    TooLarge(u64),
    #[error("cannot read the request body: {0}")]
    Read(String),
}

impl BodyError {
    /// Recover a [`BodyError`] from the error of a body stream made by [`authenticate`].
    pub fn from_axum(e: axum::Error) -> BodyError {
        // axum wraps a stream's error once per body layer: unwrap until it is ours.
        let mut inner = e.into_inner();
        loop {
            inner = match inner.downcast::<BodyError>() {
                Ok(b) => return *b,
                Err(other) => match other.downcast::<axum::Error>() {
                    Ok(ax) => ax.into_inner(),
                    Err(other) => return BodyError::Read(other.to_string()),
                },
            };
        }
    }
}

/// Middleware state: the app plus the policy of the routes it guards.
#[derive(Clone)]
pub(crate) struct Authn {
    pub app: crate::server::AppState,
    pub policy: SigningPolicy,
    pub body: BodyMode,
    /// Route-specific key lookup (see [`KeyResolver`]).
    pub resolver: Option<Arc<KeyResolver>>,
}

/// Guard a route: verify the signature, check the body digest, insert the [`Principal`] into
/// the request extensions, and note the key id on the response for the log.
pub(crate) async fn authenticate(State(a): State<Authn>, req: Request, next: Next) -> Response {
    let target = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| req.uri().clone());
    let target = target.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let head = RequestHead {
        method: req.method().as_str(),
        target,
        headers: req.headers(),
    };
    let verified = match a
        .app
        .verifier
        .verify_head_with(&head, &a.policy, a.resolver.as_deref())
    {
        Ok(v) => v,
        Err(r) => return unauthenticated(r),
    };
    let key_id = verified.key_id.clone();
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(verified.principal.clone());
    let body = match a.body {
        BodyMode::Buffer => {
            let limit = a.app.limits.max_buffered_body;
            let bytes = match collect_capped(body, limit).await {
                Ok(b) => b,
                Err(BodyError::TooLarge(n)) => {
                    return with_note(
                        crate::server::ApiError::too_large(n).into_response(),
                        &key_id,
                    );
                }
                Err(e) => {
                    return with_note(
                        crate::server::ApiError::bad_request(e.to_string()).into_response(),
                        &key_id,
                    );
                }
            };
            if let Some(d) = &verified.body
                && let Err(reason) = d.check(&Sha256::digest(&bytes), bytes.len() as u64)
            {
                return unauthenticated(Rejection {
                    reason,
                    key_id: Some(key_id),
                });
            }
            Body::from(bytes)
        }
        BodyMode::Stream => {
            checked_stream(body, verified.body.clone(), a.app.limits.max_stream_body)
        }
    };
    let resp = next.run(Request::from_parts(parts, body)).await;
    with_note(resp, &key_id)
}

fn with_note(mut resp: Response, key_id: &str) -> Response {
    let note = resp.extensions_mut().get_mut::<AuthNote>();
    match note {
        Some(n) => {
            if n.key_id.is_none() {
                n.key_id = Some(key_id.to_string());
            }
        }
        None => {
            resp.extensions_mut().insert(AuthNote {
                key_id: Some(key_id.to_string()),
                reason: None,
            });
        }
    }
    resp
}

/// Read a whole body, failing once it exceeds `limit` bytes.
pub async fn collect_capped(body: Body, limit: u64) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Pass a body through, hashing it when a digest was signed; the stream's last item is an error
/// when the digest or length differ, or as soon as it grows past `limit`.
fn checked_stream(body: Body, expect: Option<BodyDigest>, limit: u64) -> Body {
    struct St {
        inner: axum::body::BodyDataStream,
        hasher: Option<Sha256>,
        expect: Option<BodyDigest>,
        len: u64,
        done: bool,
    }
    let st = St {
        inner: body.into_data_stream(),
        hasher: expect.as_ref().map(|_| Sha256::new()),
        expect,
        len: 0,
        done: false,
    };
    let stream = futures_util::stream::unfold(st, move |mut st| async move {
        if st.done {
            return None;
        }
        match st.inner.next().await {
            Some(Ok(chunk)) => {
                st.len += chunk.len() as u64;
                if st.len > limit {
                    st.done = true;
                    return Some((Err(BodyError::TooLarge(limit)), st));
                }
                if let Some(h) = &mut st.hasher {
                    h.update(&chunk);
                }
                Some((Ok::<Bytes, BodyError>(chunk), st))
            }
            Some(Err(e)) => {
                st.done = true;
                Some((Err(BodyError::Read(e.to_string())), st))
            }
            None => {
                st.done = true;
                let (Some(h), Some(d)) = (st.hasher.take(), st.expect.take()) else {
                    return None;
                };
                match d.check(&h.finalize(), st.len) {
                    Ok(()) => None,
                    Err(reason) => Some((Err(BodyError::Unauthenticated(reason)), st)),
                }
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_check() {
        let d = BodyDigest {
            sha256_b64: ociauth::signer::EMPTY_BODY_SHA256.to_string(),
            content_length: Some(0),
        };
        assert_eq!(d.check(&Sha256::digest(b""), 0), Ok(()));
        assert!(d.check(&Sha256::digest(b"x"), 0).is_err());
        assert!(d.check(&Sha256::digest(b""), 1).is_err());
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static(" one "));
        h.append("x-a", HeaderValue::from_static("two"));
        assert_eq!(header_value(&h, "x-a").as_deref(), Some("one, two"));
        assert_eq!(header_value(&h, "x-b"), None);
    }
}
