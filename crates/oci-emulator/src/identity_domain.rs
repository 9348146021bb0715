//! An IAM identity domain: the OAuth token endpoint of workload identity federation
//! (spec oci-principals-wif.md §5), its OAuth apps and its Identity Propagation Trusts.
//!
//! # Where it is served
//! The emulator plays **one** identity domain, served at the root of the emulator's base URL:
//! the *domain URL* is the base URL itself (`http://127.0.0.1:PORT`), so the token endpoint is
//! `<base>/oauth2/v1/token`, exactly what the SDKs append to a domain URL. This is the only
//! layout the Go SDK and Terraform accept (their `DomainUrl` must be scheme and host with no
//! path, §5.8); no other emulator route starts with `/oauth2` or `/admin`.
//!
//! | route | what |
//! |---|---|
//! | `POST /oauth2/v1/token` | `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (UPST or RPST) and `grant_type=client_credentials` (an access token for the domain's own OAuth apps) |
//! | `GET /admin/v1/SigningCert/jwk` | the JWKS of the domain's own access tokens (IDCS's path) |
//!
//! # Client authentication (§5.2)
//! HTTP Basic (`client_id:client_secret`), the two as form fields, or the request signed like an
//! OCI API call (API key or `ST$` token of this tenancy, verified by [`crate::verify`]). **[I]** A
//! signed request stands for "authorized by IAM policy": it is accepted for every trust, without
//! the trust's `oauthClients` check.
//!
//! # Validation of a token exchange (§5.5), in this order, each failure with its own message
//! 1. client authentication → `401 invalid_client`;
//! 2. form parameters (`requested_token_type`, `subject_token_type` = `jwt` or
//!    `urn:ietf:params:oauth:token-type:jwt`, `subject_token`, `public_key` = base64 DER SPKI of
//!    an RSA key, `res_type`/`rpst_exp` for RPST) → `400 invalid_request`;
//! 3. the subject token: a JWT, `typ` absent, `JWT` or `at+jwt`, an asymmetric `alg` (RS256/384/512;
//!    `none` and `HS*` refused) → `400 invalid_grant`;
//! 4. an **active** JWT trust whose `issuer` equals `iss` → `invalid_grant` (unknown issuer,
//!    inactive trust named separately);
//! 5. Basic/form clients must be listed in the trust's `oauthClients` → `400 unauthorized_client`;
//! 6. the signature, with the trust's JWKS (fetched over HTTP, cached for 5 minutes, fetched again
//!    when the token's `kid` is not in the cached set) or its `publicCertificate` (an X.509
//!    certificate or a public key PEM) → `invalid_grant` (kid unknown, tampered, JWKS unreachable);
//! 7. `exp` (required), `nbf`, `iat` with `clockSkewSeconds` of leeway (default
//!    [`DEFAULT_CLOCK_SKEW`]) → `invalid_grant`;
//! 8. the client claim (`clientClaimName`, default `aud`) against `clientClaimValues` (a claim
//!    that is an array matches when any element does), then `claimValidations` (exact match,
//!    **[I]**) → `invalid_grant`;
//! 9. the subject: `subjectClaimName` (default `sub`) mapped to a user — by the impersonation
//!    rules (first match wins) when `allowImpersonation`, otherwise the user whose name
//!    (`subjectMappingAttribute` `userName`, the default) or OCID equals it → `invalid_grant`;
//! 10. the token: a UPST (`ptype` `user`) or, for a `subjectType: Resource` trust, an RPST
//!     (`ptype` `resource`), issued by [`crate::tokens::TokenAuthority`] bound to `public_key`.
//!
//! Errors are RFC 6749 §5.2 JSON: `{"error": …, "error_description": …}`. The description never
//! contains the subject token or the client secret.
//!
//! # Lifetimes (§5.6)
//! UPST: `min(60 min, TokenLifetimes::federation, the subject token's remaining lifetime)`, with
//! `sess_exp` = `exp` (it cannot be refreshed). RPST: `rpst_exp` (unit [`RpstExpUnit`], seconds
//! by default) or `TokenLifetimes::principal` (20 min) when absent; more than 12 h is refused.
//!
//! # State
//! The domain lives in `DIR/identity-domain.json` (0600), separate from `state.json`;
//! `oci-emulator add-oauth-app`, `add-trust`, `list-trusts` and `set-trust` edit it, and a running
//! server reloads it when it changed on disk. Client secrets are stored as SHA-256 digests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ociauth::env::Clock;
use ociauth::fsutil;
use ociauth::jwt::{self, Alg, Jwt, JwtError, RsaJwk};
use ociauth::keys::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::server::AppState;
use crate::state::{State as Store, StateError, ids, to_millis};
use crate::tokens::TokenRequest;
use crate::verify::{AuthNote, RequestHead, SigningPolicy};

/// File name of the domain inside the state directory.
pub const DOMAIN_FILE: &str = "identity-domain.json";
/// Version of the file layout.
pub const DOMAIN_VERSION: u32 = 1;
/// `grant_type` of a token exchange.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `requested_token_type` for a user principal session token.
pub const TOKEN_TYPE_UPST: &str = "urn:oci:token-type:oci-upst";
/// `requested_token_type` for a resource principal session token.
pub const TOKEN_TYPE_RPST: &str = "urn:oci:token-type:oci-rpst";
/// Leeway on `exp`/`nbf`/`iat` when a trust sets no `clockSkewSeconds` **[I]**.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// The longest UPST (§5.6).
pub const MAX_UPST_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest RPST (§5.6: 12 h).
pub const MAX_RPST_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// `iss` of the domain's own access tokens (IDCS's value).
pub const DOMAIN_ISSUER: &str = "https://identity.oraclecloud.com/";
/// Path of the JWKS of the domain's own access tokens.
pub const DOMAIN_JWKS_PATH: &str = "/admin/v1/SigningCert/jwk";
/// How long a fetched JWKS is used before it is fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(300);
/// Lifetime of a client-credentials access token.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
const SIGNING_KEY_NAME: &str = "identity-domain-signing";

/// Why the domain could not be loaded or changed (for the subcommands and `start`).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{}: not a valid identity domain file ({source}); move it away to start with an empty domain", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: identity domain version {found} is not supported (this emulator writes {DOMAIN_VERSION})", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("an OAuth app with client id {0:?} already exists; choose another --client-id")]
    DuplicateClient(String),
    #[error(
        "a trust named {0:?} already exists; choose another --name or change it with set-trust"
    )]
    DuplicateTrustName(String),
    #[error("a trust for issuer {0:?} already exists (issuers are unique in a domain)")]
    DuplicateIssuer(String),
    #[error("no trust named {0:?}; list them with `oci-emulator list-trusts`")]
    UnknownTrust(String),
    #[error("invalid trust: {0}")]
    InvalidTrust(String),
    #[error(
        "invalid impersonation rule {rule:?}: {why} (expected `<claim> eq <value>` or `<claim> co <value>`, e.g. `sub eq repo:org/repo:*`)"
    )]
    InvalidRule { rule: String, why: String },
    #[error("no emulator user {0:?} (by name or OCID); create one with `oci-emulator add-user`")]
    UnknownUser(String),
}

/// The unit of the `rpst_exp` form field, which OCI documents inconsistently (§5.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpstExpUnit {
    /// The A-Team README's reading (max 43200).
    #[default]
    Seconds,
    /// The Java SDK's reading.
    Minutes,
}

/// The persisted domain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainData {
    pub version: u32,
    /// `domain_id` claim of issued tokens.
    pub domain_ocid: String,
    #[serde(default)]
    pub rpst_exp_unit: RpstExpUnit,
    #[serde(default)]
    pub apps: Vec<OAuthApp>,
    #[serde(default)]
    pub trusts: Vec<Trust>,
}

/// A confidential OAuth app (client credentials). Only a digest of the secret is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthApp {
    pub name: String,
    pub client_id: String,
    /// Lower-case hex SHA-256 of the secret.
    pub client_secret_sha256: String,
    pub time_created: u64,
}

/// One impersonation rule: when `rule` matches the subject token, the UPST is for user `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImpersonationRule {
    pub rule: String,
    /// The user's OCID.
    pub value: String,
}

/// An exact-match claim requirement (`claimValidations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimValidation {
    pub name: String,
    pub value: String,
}

/// An Identity Propagation Trust (§5.7), with the SCIM attribute names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trust {
    pub id: String,
    pub ocid: String,
    pub name: String,
    /// Only `JWT` trusts exist here.
    #[serde(rename = "type")]
    pub trust_type: String,
    pub issuer: String,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_certificate: Option<String>,
    #[serde(default)]
    pub oauth_clients: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_claim_name: Option<String>,
    #[serde(default)]
    pub client_claim_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_claim_name: Option<String>,
    /// `User` (UPST) or `Resource` (RPST).
    #[serde(default = "default_subject_type")]
    pub subject_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_mapping_attribute: Option<String>,
    #[serde(default)]
    pub allow_impersonation: bool,
    #[serde(default)]
    pub impersonation_service_users: Vec<ImpersonationRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonating_resource: Option<String>,
    #[serde(default)]
    pub claim_propagations: Vec<String>,
    #[serde(default)]
    pub claim_validations: Vec<ClaimValidation>,
    pub time_created: u64,
}

fn default_subject_type() -> String {
    "User".to_string()
}

/// What `add-trust` (or a test) asks for; see [`IdentityDomain::add_trust`]. As in SCIM,
/// `active` defaults to `false`: set it, or the trust refuses every exchange.
#[derive(Debug, Clone, Default)]
pub struct NewTrust {
    pub name: String,
    pub issuer: String,
    pub jwks_url: Option<String>,
    /// PEM: a certificate or a public key.
    pub public_certificate: Option<String>,
    /// Allowed values of the client claim (`aud` unless `client_claim_name` says otherwise).
    pub audiences: Vec<String>,
    pub client_claim_name: Option<String>,
    /// OAuth client ids allowed to use the trust.
    pub oauth_clients: Vec<String>,
    /// `(rule, user name or OCID)`, evaluated in order.
    pub impersonation: Vec<(String, String)>,
    pub subject_claim_name: Option<String>,
    /// `User` (default) or `Resource`.
    pub subject_type: Option<String>,
    pub impersonating_resource: Option<String>,
    pub claim_propagations: Vec<String>,
    pub claim_validations: Vec<(String, String)>,
    pub clock_skew_seconds: Option<u64>,
    pub active: bool,
}

/// A client id and secret, as `add-oauth-app` prints them. `Debug` hides the secret.
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Impersonation rules
// ---------------------------------------------------------------------------------------------

/// A parsed rule: `<claim> eq <value>` (with `*` wildcards) or `<claim> co <value>` (substring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub claim: String,
    pub op: RuleOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOp {
    Eq,
    Co,
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

impl Rule {
    /// Parse `sub eq repo:org/repo:*`, `"username" eq kafka*`, `groups co "network-admin"`.
    /// The operator is case-insensitive; claim and value may be quoted with `'` or `"`.
    pub fn parse(text: &str) -> Result<Rule, DomainError> {
        let bad = |why: &str| DomainError::InvalidRule {
            rule: text.to_string(),
            why: why.to_string(),
        };
        let t = text.trim();
        let (claim, rest) = if let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let end = t[1..].find(q).ok_or_else(|| bad("unterminated quote"))? + 1;
            (&t[1..end], t[end + 1..].trim_start())
        } else {
            let end = t
                .find(char::is_whitespace)
                .ok_or_else(|| bad("no operator"))?;
            (&t[..end], t[end..].trim_start())
        };
        if claim.is_empty() {
            return Err(bad("empty claim name"));
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let op = match rest[..end].to_ascii_lowercase().as_str() {
            "eq" => RuleOp::Eq,
            "co" => RuleOp::Co,
            "" => return Err(bad("no operator")),
            other => return Err(bad(&format!("unknown operator {other:?}"))),
        };
        let value = unquote(&rest[end..]);
        if value.is_empty() {
            return Err(bad("empty value"));
        }
        Ok(Rule {
            claim: claim.to_string(),
            op,
            value: value.to_string(),
        })
    }

    /// Whether the claims satisfy the rule. A claim that is an array matches when any element
    /// does; numbers and booleans compare as their JSON text.
    pub fn matches(&self, claims: &Map<String, Value>) -> bool {
        let test = |s: &str| match self.op {
            RuleOp::Eq => wildcard_match(&self.value, s),
            RuleOp::Co => s.contains(self.value.as_str()),
        };
        match claims.get(&self.claim) {
            None | Some(Value::Null) => false,
            Some(Value::Array(items)) => items
                .iter()
                .any(|v| scalar_text(v).is_some_and(|s| test(&s))),
            Some(v) => scalar_text(v).is_some_and(|s| test(&s)),
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `*` matches any run of characters (also none); everything else literally.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Persistent store
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

struct Stored {
    data: DomainData,
    stamp: Option<Stamp>,
}

fn load(path: &Path) -> Result<DomainData, DomainError> {
    let bytes = std::fs::read(path).map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let data: DomainData =
        serde_json::from_slice(&bytes).map_err(|source| DomainError::Corrupt {
            path: path.to_path_buf(),
            source,
        })?;
    if data.version != DOMAIN_VERSION {
        return Err(DomainError::Version {
            path: path.to_path_buf(),
            found: data.version,
        });
    }
    Ok(data)
}

fn save(path: &Path, data: &DomainData) -> Result<(), DomainError> {
    let mut bytes = serde_json::to_vec_pretty(data).map_err(|source| DomainError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    fsutil::write_private_atomic(path, &bytes).map_err(|source| {
        DomainError::State(StateError::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time comparison of two equal-length digests.
fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Cached JWKS of one URL.
struct CachedJwks {
    keys: Vec<(String, PublicKey)>,
    fetched: Instant,
}

/// The identity domain: its persisted apps and trusts, its signing key and the JWKS cache.
pub struct IdentityDomain {
    path: PathBuf,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    stored: Mutex<Stored>,
    signing_key: PrivateKey,
    signing_kid: String,
    jwks: tokio::sync::Mutex<HashMap<String, CachedJwks>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for IdentityDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityDomain")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl IdentityDomain {
    /// Open `DIR/identity-domain.json` (created empty on first use) and the domain's signing key
    /// `DIR/keys/identity-domain-signing.pem`.
    pub fn open(store: Arc<Store>, clock: Arc<dyn Clock>) -> Result<Self, DomainError> {
        let path = store.dir().join(DOMAIN_FILE);
        let data = if path.exists() {
            load(&path)?
        } else {
            let data = DomainData {
                version: DOMAIN_VERSION,
                domain_ocid: ids::ocid("domain", ""),
                rpst_exp_unit: RpstExpUnit::default(),
                apps: Vec::new(),
                trusts: Vec::new(),
            };
            save(&path, &data)?;
            data
        };
        let key_path = store.key_path(SIGNING_KEY_NAME);
        let signing_key = match std::fs::read(&key_path) {
            Ok(pem) => PrivateKey::from_pem(&pem, None).map_err(StateError::from)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = PrivateKey::generate().map_err(StateError::from)?;
                store.write_private_key(SIGNING_KEY_NAME, &key)?;
                key
            }
            Err(source) => {
                return Err(StateError::Io {
                    path: key_path,
                    source,
                }
                .into());
            }
        };
        let signing_kid = format!(
            "domain-{}",
            &signing_key.fingerprint().replace(':', "")[..16]
        );
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Ok(Self {
            path: path.clone(),
            store,
            clock,
            stored: Mutex::new(Stored {
                stamp: stamp_of(&path),
                data,
            }),
            signing_key,
            signing_kid,
            jwks: tokio::sync::Mutex::new(HashMap::new()),
            http,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Stored> {
        self.stored.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reload the file when another process (a subcommand) changed it.
    pub fn reload_if_changed(&self) -> Result<bool, DomainError> {
        let mut st = self.lock();
        let now = stamp_of(&self.path);
        if now.is_none() || now == st.stamp {
            return Ok(false);
        }
        st.data = load(&self.path)?;
        st.stamp = now;
        Ok(true)
    }

    fn reload_logged(&self) {
        if let Err(e) = self.reload_if_changed() {
            tracing::warn!("cannot reload the identity domain: {e}");
        }
    }

    /// Change the domain and save it; nothing changes when `f` fails.
    fn update<R>(
        &self,
        f: impl FnOnce(&mut DomainData) -> Result<R, DomainError>,
    ) -> Result<R, DomainError> {
        self.reload_if_changed()?;
        let mut st = self.lock();
        let mut data = st.data.clone();
        let out = f(&mut data)?;
        save(&self.path, &data)?;
        st.data = data;
        st.stamp = stamp_of(&self.path);
        Ok(out)
    }

    /// A copy of the domain (re-read when changed on disk).
    pub fn snapshot(&self) -> DomainData {
        self.reload_logged();
        self.lock().data.clone()
    }

    /// The file the domain is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All trusts.
    pub fn trusts(&self) -> Vec<Trust> {
        self.snapshot().trusts
    }

    /// Register a confidential OAuth app. Missing id or secret are generated.
    pub fn add_oauth_app(
        &self,
        name: &str,
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> Result<ClientCredentials, DomainError> {
        let client_id = client_id
            .map(str::to_string)
            .unwrap_or_else(|| ids::base32(32));
        let client_secret = client_secret
            .map(str::to_string)
            .unwrap_or_else(|| format!("idcscs-{}", uuid::Uuid::new_v4()));
        let now = to_millis(self.clock.now());
        let digest = sha256_hex(&client_secret);
        self.update(|d| {
            if d.apps.iter().any(|a| a.client_id == client_id) {
                return Err(DomainError::DuplicateClient(client_id.clone()));
            }
            d.apps.push(OAuthApp {
                name: name.to_string(),
                client_id: client_id.clone(),
                client_secret_sha256: digest,
                time_created: now,
            });
            Ok(())
        })?;
        Ok(ClientCredentials {
            client_id,
            client_secret,
        })
    }

    /// The OCID of an emulator user given by name or OCID.
    fn user_ocid(&self, user: &str) -> Result<String, DomainError> {
        let _ = self.store.reload_if_changed();
        self.store
            .users()
            .into_iter()
            .find(|u| u.id == user || u.name == user)
            .map(|u| u.id)
            .ok_or_else(|| DomainError::UnknownUser(user.to_string()))
    }

    /// Create a trust; returns it. Rules are checked and users resolved to OCIDs now.
    pub fn add_trust(&self, t: NewTrust) -> Result<Trust, DomainError> {
        let invalid = |m: &str| Err(DomainError::InvalidTrust(m.to_string()));
        if t.name.trim().is_empty() {
            return invalid("the name is empty");
        }
        if t.issuer.trim().is_empty() {
            return invalid("the issuer is empty");
        }
        match (&t.jwks_url, &t.public_certificate) {
            (None, None) => {
                return invalid(
                    "give the issuer's keys: a JWKS URL (--jwks-url) or a public certificate (--public-cert-file)",
                );
            }
            (Some(_), Some(_)) => {
                return invalid("give either a JWKS URL or a public certificate, not both");
            }
            (None, Some(pem)) => {
                parse_certificate_or_key(pem.as_bytes())
                    .map_err(|e| DomainError::InvalidTrust(format!("public certificate: {e}")))?;
            }
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return invalid("the JWKS URL must start with http:// or https://");
                }
            }
        }
        let subject_type = t.subject_type.clone().unwrap_or_else(default_subject_type);
        match subject_type.as_str() {
            "User" => {}
            "Resource" => {
                if t.impersonating_resource
                    .as_deref()
                    .is_none_or(str::is_empty)
                {
                    return invalid(
                        "a Resource trust needs the resource type (--resource-type, e.g. ref_github)",
                    );
                }
            }
            other => {
                return Err(DomainError::InvalidTrust(format!(
                    "subject type {other:?} is not supported here (User or Resource)"
                )));
            }
        }
        if t.claim_propagations.len() > 3 {
            return invalid("at most 3 claim propagations");
        }
        if let Some(p) = t.claim_propagations.iter().find(|p| !p.starts_with("ext_")) {
            return Err(DomainError::InvalidTrust(format!(
                "claim propagation {p:?} must carry the ext_ prefix (ext_<claim>)"
            )));
        }
        let mut rules = Vec::new();
        for (rule, user) in &t.impersonation {
            Rule::parse(rule)?;
            rules.push(ImpersonationRule {
                rule: rule.trim().to_string(),
                value: self.user_ocid(user.trim())?,
            });
        }
        let now = to_millis(self.clock.now());
        let trust = Trust {
            id: uuid::Uuid::new_v4().simple().to_string(),
            ocid: ids::ocid("identitypropagationtrust", ""),
            name: t.name.trim().to_string(),
            trust_type: "JWT".to_string(),
            issuer: t.issuer.trim().to_string(),
            active: t.active,
            public_key_endpoint: t.jwks_url.clone(),
            public_certificate: t.public_certificate.clone(),
            oauth_clients: t.oauth_clients.clone(),
            client_claim_name: if t.audiences.is_empty() {
                t.client_claim_name.clone()
            } else {
                Some(t.client_claim_name.clone().unwrap_or_else(|| "aud".into()))
            },
            client_claim_values: t.audiences.clone(),
            subject_claim_name: t.subject_claim_name.clone(),
            subject_type,
            subject_mapping_attribute: Some("userName".into()),
            allow_impersonation: !rules.is_empty(),
            impersonation_service_users: rules,
            clock_skew_seconds: t.clock_skew_seconds,
            impersonating_resource: t.impersonating_resource.clone(),
            claim_propagations: t.claim_propagations.clone(),
            claim_validations: t
                .claim_validations
                .iter()
                .map(|(name, value)| ClaimValidation {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            time_created: now,
        };
        let out = trust.clone();
        self.update(move |d| {
            if d.trusts.iter().any(|x| x.name == trust.name) {
                return Err(DomainError::DuplicateTrustName(trust.name.clone()));
            }
            if d.trusts.iter().any(|x| x.issuer == trust.issuer) {
                return Err(DomainError::DuplicateIssuer(trust.issuer.clone()));
            }
            d.trusts.push(trust);
            Ok(())
        })?;
        Ok(out)
    }

    /// Activate or deactivate a trust (by name or id).
    pub fn set_trust_active(&self, name: &str, active: bool) -> Result<Trust, DomainError> {
        self.update(|d| {
            let t = d
                .trusts
                .iter_mut()
                .find(|t| t.name == name || t.id == name)
                .ok_or_else(|| DomainError::UnknownTrust(name.to_string()))?;
            t.active = active;
            Ok(t.clone())
        })
    }

    /// Choose how `rpst_exp` is read.
    pub fn set_rpst_exp_unit(&self, unit: RpstExpUnit) -> Result<(), DomainError> {
        self.update(|d| {
            d.rpst_exp_unit = unit;
            Ok(())
        })
    }

    /// The JWKS of the domain's own access tokens.
    pub fn jwks(&self) -> Value {
        let mut jwk = RsaJwk::from_private_key(&self.signing_key, Some(&self.signing_kid))
            .map(|j| j.to_json())
            .unwrap_or(Value::Null);
        if let Value::Object(m) = &mut jwk {
            m.insert("alg".into(), json!("RS256"));
            m.insert("use".into(), json!("sig"));
        }
        json!({ "keys": [jwk] })
    }

    /// Keys of `url`, from the cache unless stale or `force`.
    async fn fetch_jwks(&self, url: &str, force: bool) -> Result<Vec<(String, PublicKey)>, String> {
        let mut cache = self.jwks.lock().await;
        if !force
            && let Some(c) = cache.get(url)
            && c.fetched.elapsed() < JWKS_TTL
        {
            return Ok(c.keys.clone());
        }
        let resp = self
            .http
            .get(url)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("cannot fetch the JWKS from {url}: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!(
                "cannot fetch the JWKS from {url}: HTTP {}",
                status.as_u16()
            ));
        }
        let text = resp
            .text()
            .await
            .map_err(|e| format!("cannot read the JWKS from {url}: {e}"))?;
        let keys =
            jwt::parse_jwks(&text).map_err(|e| format!("the JWKS at {url} is invalid: {e}"))?;
        cache.insert(
            url.to_string(),
            CachedJwks {
                keys: keys.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(keys)
    }
}

/// The RSA public key of a PEM certificate (`CERTIFICATE`) or public key (`PUBLIC KEY`).
pub fn parse_certificate_or_key(pem: &[u8]) -> Result<PublicKey, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not UTF-8 text".to_string())?;
    if text.contains("-----BEGIN PUBLIC KEY-----") {
        return PublicKey::from_pem(pem).map_err(|e| e.to_string());
    }
    let begin = "-----BEGIN CERTIFICATE-----";
    let start = text
        .find(begin)
        .ok_or("expected a -----BEGIN CERTIFICATE----- or -----BEGIN PUBLIC KEY----- PEM")?
        + begin.len();
    let end = text[start..]
        .find("-----END CERTIFICATE-----")
        .ok_or("the certificate PEM has no END line")?
        + start;
    let b64: String = text[start..end].split_whitespace().collect();
    let der = B64
        .decode(b64.as_bytes())
        .map_err(|_| "the certificate PEM is not base64")?;
    let spki = certificate_spki(&der).ok_or("not an X.509 certificate (DER)")?;
    PublicKey::from_spki_der(spki).map_err(|e| e.to_string())
}

/// One DER TLV: `(tag, whole TLV, content, rest)`.
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn der_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    let whole = input.get(..end)?;
    Some((tag, whole, &whole[hdr..], &input[end..]))
}

/// The SubjectPublicKeyInfo of an X.509 certificate (DER).
fn certificate_spki(der: &[u8]) -> Option<&[u8]> {
    let (tag, _, cert, _) = der_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _, tbs, _) = der_tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = tbs;
    // [0] version (optional), serialNumber, signature, issuer, validity, subject.
    let (tag, _, _, r) = der_tlv(rest)?;
    if tag == 0xa0 {
        rest = r;
        let (_, _, _, r) = der_tlv(rest)?;
        rest = r;
    } else {
        rest = r;
    }
    for _ in 0..4 {
        let (_, _, _, r) = der_tlv(rest)?;
        rest = r;
    }
    let (tag, whole, _, _) = der_tlv(rest)?;
    (tag == 0x30).then_some(whole)
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

pub(crate) fn routes(_app: &AppState) -> Router<AppState> {
    Router::new()
        .route("/oauth2/v1/token", post(token_endpoint))
        .route(DOMAIN_JWKS_PATH, get(domain_jwks))
}

async fn domain_jwks(State(app): State<AppState>) -> Response {
    crate::server::json_response(StatusCode::OK, &app.domain.jwks())
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// The client (id, or the redacted key id of a signed request), for the log.
    pub client: Option<String>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            client: None,
        }
    }
    fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }
    fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
}

fn oauth_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = crate::server::json_response(status, body);
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = oauth_json(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"identity-domain\""),
            );
        }
        resp.extensions_mut().insert(AuthNote {
            key_id: self.client,
            reason: Some(format!("{}: {}", self.error, self.description)),
        });
        resp
    }
}

/// The parsed form; every parameter at most once (RFC 6749 §3.2).
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &[u8]) -> Result<Form, OAuthError> {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter {k:?} is given more than once"
                )));
            }
        }
        Ok(Form(map))
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("the required parameter {name:?} is missing"))
        })
    }
}

/// Who authenticated the request.
#[derive(Debug, Clone)]
enum Client {
    /// An OAuth app by its client id.
    App(String),
    /// A request signed with an OCI credential (redacted key id).
    Signed(String),
}

impl Client {
    fn label(&self) -> String {
        match self {
            Client::App(id) => id.clone(),
            Client::Signed(k) => k.clone(),
        }
    }
}

fn authenticate_client(
    app: &AppState,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
    form: &Form,
) -> Result<Client, OAuthError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default().trim().to_string());
    let check_secret = |id: &str, secret: &str| -> Result<Client, OAuthError> {
        let data = app.domain.snapshot();
        let Some(client) = data.apps.iter().find(|a| a.client_id == id) else {
            return Err(OAuthError::invalid_client(format!(
                "unknown OAuth client id {id:?}"
            )));
        };
        if !digest_eq(&client.client_secret_sha256, &sha256_hex(secret)) {
            return Err(OAuthError::invalid_client(format!(
                "wrong client secret for OAuth client {id:?}"
            )));
        }
        Ok(Client::App(id.to_string()))
    };
    let result = match auth.as_deref() {
        Some(a) if a.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("basic ")) => {
            let decoded = B64
                .decode(a.get(6..).unwrap_or_default().trim().as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OAuthError::invalid_client(
                        "the Basic credentials are not base64 of client_id:client_secret",
                    )
                })?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                OAuthError::invalid_client(
                    "the Basic credentials have no ':' between client id and secret",
                )
            })?;
            check_secret(id, secret)
        }
        Some(a)
            if a.get(..10)
                .is_some_and(|p| p.eq_ignore_ascii_case("signature ")) =>
        {
            let head = RequestHead {
                method: "POST",
                target,
                headers,
            };
            let verified = app
                .verifier
                .verify_head(&head, &SigningPolicy::STANDARD)
                .map_err(|r| {
                    let mut e = OAuthError::invalid_client(format!(
                        "the request signature was not accepted: {}",
                        r.reason
                    ));
                    e.client = r.key_id;
                    e
                })?;
            if let Some(d) = &verified.body
                && let Err(why) = d.check(&Sha256::digest(body), body.len() as u64)
            {
                let mut e = OAuthError::invalid_client(format!(
                    "the request signature was not accepted: {why}"
                ));
                e.client = Some(verified.key_id);
                return Err(e);
            }
            if verified.principal.tenancy_id != app.store.tenancy_id() {
                return Err(OAuthError::invalid_client(
                    "the request is signed by a principal of another tenancy",
                ));
            }
            Ok(Client::Signed(verified.key_id))
        }
        Some(_) => Err(OAuthError::invalid_client(
            "unsupported Authorization scheme: use Basic client credentials or an OCI request signature",
        )),
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => check_secret(id, secret),
            _ => Err(OAuthError::invalid_client(
                "client authentication is required: send Authorization: Basic base64(client_id:client_secret), \
                 client_id and client_secret in the form, or sign the request with an OCI credential",
            )),
        },
    };
    result.map_err(|mut e| {
        if e.client.is_none() {
            e.client = form.get("client_id").map(str::to_string);
        }
        e
    })
}

async fn token_endpoint(
    State(app): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    match handle_token(&app, &target, &headers, &body).await {
        Ok((client, value)) => {
            let mut resp = oauth_json(StatusCode::OK, &value);
            resp.extensions_mut().insert(AuthNote {
                key_id: Some(client.label()),
                reason: None,
            });
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn handle_token(
    app: &AppState,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Client, Value), OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(format!(
            "the body must be application/x-www-form-urlencoded (got content-type {ct:?})"
        )));
    }
    let form = Form::parse(body)?;
    let client = authenticate_client(app, target, headers, body, &form)?;
    let label = client.label();
    let with_client = |mut e: OAuthError| {
        e.client = Some(label.clone());
        e
    };
    let grant = form.require("grant_type").map_err(with_client)?;
    let value = match grant {
        GRANT_TOKEN_EXCHANGE => token_exchange(app, &client, &form).await,
        "client_credentials" => client_credentials(app, &client, &form),
        other => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "grant_type {other:?} is not supported (use {GRANT_TOKEN_EXCHANGE} or client_credentials)"
            ),
        )),
    }
    .map_err(with_client)?;
    Ok((client, value))
}

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `grant_type=client_credentials` for the domain's own apps: a JWT access token.
fn client_credentials(app: &AppState, client: &Client, form: &Form) -> Result<Value, OAuthError> {
    let Client::App(client_id) = client else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "client_credentials needs an OAuth client (Basic or form credentials), not a signed request",
        ));
    };
    let scope = form.get("scope").unwrap_or("urn:opc:idm:__myscopes__");
    let aud = form
        .get("resource")
        .or_else(|| form.get("audience"))
        .unwrap_or(DOMAIN_ISSUER);
    let now = app.clock.now();
    let claims = json!({
        "iss": DOMAIN_ISSUER,
        "sub": client_id,
        "client_id": client_id,
        "aud": aud,
        "scope": scope,
        "iat": epoch(now),
        "exp": epoch(now + ACCESS_TOKEN_LIFETIME),
        "jti": uuid::Uuid::new_v4().to_string(),
        "domain_id": app.domain.snapshot().domain_ocid,
    });
    let token = jwt::sign_rs256(
        &json!({"kid": app.domain.signing_kid}),
        &claims,
        &app.domain.signing_key,
    )
    .map_err(|e| {
        tracing::error!("cannot sign an access token: {e}");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "cannot sign the token",
        )
    })?;
    Ok(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME.as_secs(),
        "scope": scope,
    }))
}

/// Which token a token exchange asks for.
enum Requested {
    Upst,
    Rpst { res_type: String, exp: Option<u64> },
}

fn describe_aud(v: Option<&Value>) -> String {
    match v {
        None => "none".to_string(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

async fn token_exchange(app: &AppState, client: &Client, form: &Form) -> Result<Value, OAuthError> {
    // 2. Parameters.
    let requested = match form.require("requested_token_type")? {
        TOKEN_TYPE_UPST => Requested::Upst,
        TOKEN_TYPE_RPST => {
            let res_type = form
                .get("res_type")
                .ok_or_else(|| {
                    OAuthError::invalid_request(
                        "res_type is required when requesting an RPST (urn:oci:token-type:oci-rpst)",
                    )
                })?
                .to_string();
            let exp = match form.get("rpst_exp") {
                None => None,
                Some(v) => Some(v.parse::<u64>().map_err(|_| {
                    OAuthError::invalid_request(format!(
                        "rpst_exp {v:?} is not a positive whole number"
                    ))
                })?),
            };
            Requested::Rpst { res_type, exp }
        }
        other => {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type {other:?} is not supported (use {TOKEN_TYPE_UPST} or {TOKEN_TYPE_RPST})"
            )));
        }
    };
    let stt = form.require("subject_token_type")?;
    if stt != "jwt" && stt != "urn:ietf:params:oauth:token-type:jwt" {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type {stt:?} is not supported here (use jwt)"
        )));
    }
    let subject = form.require("subject_token")?.trim();
    let public_key_text = form.require("public_key")?;
    let public_key = B64
        .decode(public_key_text.trim().as_bytes())
        .ok()
        .and_then(|der| PublicKey::from_spki_der(&der).ok())
        .ok_or_else(|| {
            OAuthError::invalid_request(
                "public_key is not the base64 DER SubjectPublicKeyInfo of an RSA public key",
            )
        })?;

    // 3. The subject token's form.
    let unverified = jwt::decode_unverified(subject)
        .map_err(|e| OAuthError::invalid_grant(format!("the subject token is not a JWT: {e}")))?;
    match unverified.alg() {
        None => return Err(OAuthError::invalid_grant("the subject token has no alg")),
        Some(alg) if alg.eq_ignore_ascii_case("none") => {
            return Err(OAuthError::invalid_grant(
                "the subject token is unsigned (alg none); only asymmetric signatures (RS256, RS384, RS512) are accepted",
            ));
        }
        Some(alg) if alg.starts_with("HS") => {
            return Err(OAuthError::invalid_grant(format!(
                "the subject token uses the symmetric algorithm {alg}; only asymmetric signatures (RS256, RS384, RS512) are accepted"
            )));
        }
        Some(alg) => {
            Alg::from_name(alg).map_err(|_| {
                OAuthError::invalid_grant(format!(
                    "the subject token's algorithm {alg:?} is not supported (RS256, RS384, RS512)"
                ))
            })?;
        }
    }
    if let Some(typ) = unverified.header().get("typ") {
        let ok = typ.as_str().is_some_and(|t| {
            let t = t.strip_prefix("application/").unwrap_or(t);
            t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("at+jwt")
        });
        if !ok {
            return Err(OAuthError::invalid_grant(format!(
                "the subject token's typ {typ} is not JWT or at+jwt"
            )));
        }
    }

    // 4. The trust.
    let issuer = unverified
        .claim_str("iss")
        .ok_or_else(|| OAuthError::invalid_grant("the subject token has no iss claim"))?
        .to_string();
    let domain = app.domain.snapshot();
    let trust = domain
        .trusts
        .iter()
        .find(|t| t.issuer == issuer && t.trust_type == "JWT")
        .ok_or_else(|| {
            OAuthError::invalid_grant(format!(
                "no identity propagation trust for issuer {issuer:?} in this domain"
            ))
        })?
        .clone();
    if !trust.active {
        return Err(OAuthError::invalid_grant(format!(
            "the identity propagation trust {:?} for issuer {issuer:?} is inactive",
            trust.name
        )));
    }

    // 5. The client may use the trust.
    if let Client::App(id) = client
        && !trust.oauth_clients.iter().any(|c| c == id)
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!(
                "OAuth client {id:?} is not allowed to use the identity propagation trust {:?} (not in its oauthClients)",
                trust.name
            ),
        ));
    }

    // 6. Signature.
    let verified = verify_subject(app, &trust, subject).await?;

    // 7. Times.
    let leeway = trust
        .clock_skew_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_CLOCK_SKEW);
    let now = app.clock.now();
    verified.validate_time(now, leeway).map_err(|e| {
        OAuthError::invalid_grant(match e {
            JwtError::Expired { exp, now, .. } => format!(
                "the subject token expired {} s ago (exp {exp}, allowed clock skew {} s)",
                now - exp,
                leeway.as_secs()
            ),
            JwtError::MissingExp => "the subject token has no exp claim".to_string(),
            JwtError::NotYetValid { nbf, now, .. } => format!(
                "the subject token is not valid yet (nbf is {} s in the future)",
                nbf - now
            ),
            JwtError::IssuedInFuture { iat, now, .. } => format!(
                "the subject token was issued in the future (iat is {} s ahead)",
                iat - now
            ),
            other => format!("the subject token's time claims are invalid: {other}"),
        })
    })?;

    // 8. Client claim and claim validations.
    let claims = verified.claims();
    if let Some(name) = &trust.client_claim_name
        && !trust.client_claim_values.is_empty()
    {
        let got = claims.get(name);
        let allowed = |s: &str| trust.client_claim_values.iter().any(|v| v == s);
        let ok = match got {
            Some(Value::String(s)) => allowed(s),
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str().is_some_and(allowed)),
            _ => false,
        };
        if !ok {
            let what = if name == "aud" {
                "audience"
            } else {
                "client claim"
            };
            return Err(OAuthError::invalid_grant(format!(
                "the subject token's {what} ({name}) {} is not allowed by the identity propagation trust {:?} (allowed: {})",
                describe_aud(got),
                trust.name,
                trust.client_claim_values.join(", ")
            )));
        }
    }
    for cv in &trust.claim_validations {
        let ok = match claims.get(&cv.name) {
            Some(Value::String(s)) => *s == cv.value,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(cv.value.as_str())),
            Some(Value::Bool(b)) => b.to_string() == cv.value,
            Some(Value::Number(n)) => n.to_string() == cv.value,
            _ => false,
        };
        if !ok {
            return Err(OAuthError::invalid_grant(format!(
                "the subject token's claim {:?} does not have the value the trust {:?} requires",
                cv.name, trust.name
            )));
        }
    }

    // 9. The subject.
    let subject_claim = trust.subject_claim_name.as_deref().unwrap_or("sub");
    let subject_value = match claims.get(subject_claim) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(OAuthError::invalid_grant(format!(
                "the subject token has no {subject_claim:?} claim (the trust's subject claim)"
            )));
        }
    };
    let tenancy = app.store.tenancy_id();
    let subject_exp = verified.exp().unwrap_or(epoch(now));
    let remaining =
        Duration::from_secs(u64::try_from(subject_exp - epoch(now)).unwrap_or(0).max(1));
    let lifetimes = app.tokens.lifetimes;

    let mut extra = Map::new();
    extra.insert("source_authn_prin".into(), json!(subject_value));
    extra.insert("domain_id".into(), json!(domain.domain_ocid));
    extra.insert("trust_id".into(), json!(trust.ocid));

    let (request, kind) = match requested {
        Requested::Upst => {
            if trust.subject_type == "Resource" {
                return Err(OAuthError::invalid_grant(format!(
                    "the identity propagation trust {:?} issues resource principal tokens (subjectType Resource): request {TOKEN_TYPE_RPST} with res_type {:?}",
                    trust.name,
                    trust.impersonating_resource.as_deref().unwrap_or_default()
                )));
            }
            let user = if trust.allow_impersonation {
                let mut found = None;
                for r in &trust.impersonation_service_users {
                    let rule = Rule::parse(&r.rule).map_err(|e| {
                        OAuthError::invalid_grant(format!(
                            "the trust {:?} has a bad rule: {e}",
                            trust.name
                        ))
                    })?;
                    if rule.matches(claims) {
                        found = Some(r.value.clone());
                        break;
                    }
                }
                found.ok_or_else(|| {
                    OAuthError::invalid_grant(format!(
                        "no impersonation rule of the identity propagation trust {:?} matches the subject token (subject {subject_claim}={subject_value:?})",
                        trust.name
                    ))
                })?
            } else {
                app.store
                    .users()
                    .into_iter()
                    .find(|u| u.name == subject_value || u.id == subject_value)
                    .map(|u| u.id)
                    .ok_or_else(|| {
                        OAuthError::invalid_grant(format!(
                            "no user whose userName is the subject token's {subject_claim} {subject_value:?}"
                        ))
                    })?
            };
            if !app.store.users().iter().any(|u| u.id == user) {
                return Err(OAuthError::invalid_grant(format!(
                    "the user {user} that the trust {:?} maps to no longer exists",
                    trust.name
                )));
            }
            extra.insert("ttype".into(), json!("upst"));
            let lifetime = MAX_UPST_LIFETIME.min(lifetimes.federation).min(remaining);
            (
                TokenRequest {
                    ptype: "user".into(),
                    subject: user,
                    tenancy,
                    lifetime,
                    session_end: Some(now + lifetime),
                    extra,
                },
                "upst",
            )
        }
        Requested::Rpst { res_type, exp } => {
            if trust.subject_type != "Resource" {
                return Err(OAuthError::invalid_grant(format!(
                    "the identity propagation trust {:?} maps to users (subjectType {}): request {TOKEN_TYPE_UPST}",
                    trust.name, trust.subject_type
                )));
            }
            let want = trust.impersonating_resource.as_deref().unwrap_or_default();
            if res_type != want {
                return Err(OAuthError::invalid_request(format!(
                    "res_type {res_type:?} does not match the trust {:?} (impersonatingResource {want:?})",
                    trust.name
                )));
            }
            let lifetime = match exp {
                None => lifetimes.principal,
                Some(n) => {
                    let secs = match domain.rpst_exp_unit {
                        RpstExpUnit::Seconds => n,
                        RpstExpUnit::Minutes => n.saturating_mul(60),
                    };
                    let d = Duration::from_secs(secs);
                    if d > MAX_RPST_LIFETIME || secs == 0 {
                        return Err(OAuthError::invalid_request(format!(
                            "rpst_exp {n} is out of range (1 s to 12 h; unit: {:?})",
                            domain.rpst_exp_unit
                        )));
                    }
                    d
                }
            };
            extra.insert("ttype".into(), json!("res"));
            extra.insert("res_type".into(), json!(res_type));
            extra.insert("res_id".into(), json!(trust.ocid));
            extra.insert("res_tenant".into(), json!(tenancy));
            extra.insert("principal_type".into(), json!("identityfederateddomainapp"));
            for p in &trust.claim_propagations {
                let claim = p.strip_prefix("ext_").unwrap_or(p);
                if let Some(v) = claims.get(claim) {
                    extra.insert(p.clone(), v.clone());
                }
            }
            (
                TokenRequest {
                    ptype: "resource".into(),
                    subject: trust.ocid.clone(),
                    tenancy,
                    lifetime,
                    session_end: None,
                    extra,
                },
                "rpst",
            )
        }
    };
    let token = app.tokens.issue(&request, &public_key).map_err(|e| {
        tracing::error!("cannot issue a {kind}: {e}");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("cannot issue the {kind}"),
        )
    })?;
    Ok(json!({ "token": token }))
}

/// Step 6: the subject token's signature with the trust's keys.
async fn verify_subject(app: &AppState, trust: &Trust, token: &str) -> Result<Jwt, OAuthError> {
    let tampered = || {
        OAuthError::invalid_grant(format!(
            "the subject token's signature does not verify with the keys of the identity propagation trust {:?} (tampered, or signed by another key)",
            trust.name
        ))
    };
    if let Some(url) = &trust.public_key_endpoint {
        let keys = app
            .domain
            .fetch_jwks(url, false)
            .await
            .map_err(OAuthError::invalid_grant)?;
        match jwt::verify_with_keys(token, &keys) {
            Ok(j) => Ok(j),
            Err(JwtError::UnknownKid(_)) | Err(JwtError::NoKeys) => {
                // Maybe the issuer rotated its keys: fetch again once.
                let keys = app
                    .domain
                    .fetch_jwks(url, true)
                    .await
                    .map_err(OAuthError::invalid_grant)?;
                jwt::verify_with_keys(token, &keys).map_err(|e| match e {
                    JwtError::UnknownKid(kid) => OAuthError::invalid_grant(format!(
                        "the subject token's key id {kid:?} is not in the JWKS of issuer {:?} ({url})",
                        trust.issuer
                    )),
                    JwtError::NoKeys => OAuthError::invalid_grant(format!(
                        "the JWKS of issuer {:?} ({url}) holds no RSA signing key",
                        trust.issuer
                    )),
                    _ => tampered(),
                })
            }
            Err(JwtError::BadSignature) => Err(tampered()),
            Err(e) => Err(OAuthError::invalid_grant(format!(
                "the subject token cannot be verified: {e}"
            ))),
        }
    } else if let Some(pem) = &trust.public_certificate {
        let key = parse_certificate_or_key(pem.as_bytes()).map_err(|e| {
            OAuthError::invalid_grant(format!(
                "the public certificate of the trust {:?} is unusable: {e}",
                trust.name
            ))
        })?;
        jwt::verify_rs256(token, &key).map_err(|e| match e {
            JwtError::BadSignature => tampered(),
            e => OAuthError::invalid_grant(format!("the subject token cannot be verified: {e}")),
        })
    } else {
        Err(OAuthError::invalid_grant(format!(
            "the identity propagation trust {:?} has neither a JWKS URL nor a public certificate",
            trust.name
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Subcommands
// ---------------------------------------------------------------------------------------------

/// The `oci-emulator` subcommands that manage the domain (the binary delegates to these).
pub mod cli {
    use std::path::PathBuf;
    use std::sync::Arc;

    use ociauth::env::SystemClock;

    use super::{IdentityDomain, NewTrust, RpstExpUnit};
    use crate::state::State;

    fn open(state: &std::path::Path) -> Result<IdentityDomain, String> {
        let (store, _) = State::open(state, Arc::new(SystemClock)).map_err(|e| e.to_string())?;
        IdentityDomain::open(Arc::new(store), Arc::new(SystemClock)).map_err(|e| e.to_string())
    }

    /// `add-oauth-app`: a confidential app with client credentials.
    #[derive(Debug, clap::Args)]
    pub struct AddOAuthApp {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        pub state: PathBuf,
        /// Display name of the app.
        #[arg(long)]
        pub name: String,
        /// Client id (default: generated).
        #[arg(long)]
        pub client_id: Option<String>,
        /// Client secret (default: generated). Prefer --client-secret-file or the generated one:
        /// a command line is visible to other local users.
        #[arg(long, conflicts_with = "client_secret_file")]
        pub client_secret: Option<String>,
        /// File holding the client secret (surrounding whitespace is trimmed).
        #[arg(long)]
        pub client_secret_file: Option<PathBuf>,
    }

    /// Prints `client_id=…` and `client_secret=…` lines.
    pub fn add_oauth_app(a: AddOAuthApp) -> Result<String, String> {
        let d = open(&a.state)?;
        let secret = match &a.client_secret_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("{}: {e}", p.display()))?
                    .trim()
                    .to_string(),
            ),
            None => a.client_secret.clone(),
        };
        let c = d
            .add_oauth_app(&a.name, a.client_id.as_deref(), secret.as_deref())
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "client_id={}\nclient_secret={}\n",
            c.client_id, c.client_secret
        ))
    }

    /// `add-trust`: an Identity Propagation Trust for a JWT issuer.
    #[derive(Debug, clap::Args)]
    pub struct AddTrust {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        pub state: PathBuf,
        #[arg(long)]
        pub name: String,
        /// The `iss` of the tokens to accept, exactly.
        #[arg(long)]
        pub issuer: String,
        /// The issuer's JWKS URL.
        #[arg(long, required_unless_present = "public_cert_file")]
        pub jwks_url: Option<String>,
        /// PEM file with the issuer's certificate or public key (instead of a JWKS URL).
        #[arg(long, conflicts_with = "jwks_url")]
        pub public_cert_file: Option<PathBuf>,
        /// An allowed audience (repeatable); none: the audience is not checked.
        #[arg(long = "audience")]
        pub audiences: Vec<String>,
        /// The claim checked against --audience values (default aud; Entra ID: appid).
        #[arg(long)]
        pub client_claim: Option<String>,
        /// An OAuth client id allowed to use the trust (repeatable).
        #[arg(long = "client-id")]
        pub client_ids: Vec<String>,
        /// `RULE => USER`: when RULE matches, the token is for USER (name or OCID). Repeatable;
        /// the first match wins. RULE is `<claim> eq <value>` (`*` wildcards) or
        /// `<claim> co <value>`, e.g. `sub eq repo:org/repo:* => ci-user`.
        #[arg(long = "impersonate")]
        pub impersonate: Vec<String>,
        /// The claim naming the subject (default sub).
        #[arg(long)]
        pub subject_claim: Option<String>,
        /// User (UPST, default) or Resource (RPST).
        #[arg(long)]
        pub subject_type: Option<String>,
        /// For Resource trusts: the res_type clients must send (e.g. ref_github).
        #[arg(long)]
        pub resource_type: Option<String>,
        /// A claim copied into RPSTs, ext_-prefixed (e.g. ext_repository). At most 3.
        #[arg(long = "propagate-claim")]
        pub propagate: Vec<String>,
        /// `NAME=VALUE`: a claim that must have this exact value (repeatable).
        #[arg(long = "require-claim")]
        pub require_claim: Vec<String>,
        /// Leeway on exp/nbf/iat in seconds (default 60).
        #[arg(long)]
        pub clock_skew: Option<u64>,
        /// Create the trust inactive.
        #[arg(long)]
        pub inactive: bool,
    }

    /// Split `RULE => USER` at the last `=>`.
    pub fn split_impersonation(s: &str) -> Result<(String, String), String> {
        let (rule, user) = s.rsplit_once("=>").ok_or_else(|| {
            format!("--impersonate {s:?}: expected `RULE => USER`, e.g. `sub eq repo:org/repo:* => ci-user`")
        })?;
        Ok((rule.trim().to_string(), user.trim().to_string()))
    }

    /// Prints the new trust as JSON.
    pub fn add_trust(a: AddTrust) -> Result<String, String> {
        let d = open(&a.state)?;
        let public_certificate = match &a.public_cert_file {
            Some(p) => {
                Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?)
            }
            None => None,
        };
        let impersonation = a
            .impersonate
            .iter()
            .map(|s| split_impersonation(s))
            .collect::<Result<Vec<_>, _>>()?;
        let claim_validations = a
            .require_claim
            .iter()
            .map(|s| {
                s.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                    .ok_or_else(|| format!("--require-claim {s:?}: expected NAME=VALUE"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let t = d
            .add_trust(NewTrust {
                name: a.name,
                issuer: a.issuer,
                jwks_url: a.jwks_url,
                public_certificate,
                audiences: a.audiences,
                client_claim_name: a.client_claim,
                oauth_clients: a.client_ids,
                impersonation,
                subject_claim_name: a.subject_claim,
                subject_type: a.subject_type,
                impersonating_resource: a.resource_type,
                claim_propagations: a.propagate,
                claim_validations,
                clock_skew_seconds: a.clock_skew,
                active: !a.inactive,
            })
            .map_err(|e| e.to_string())?;
        serde_json::to_string_pretty(&t)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string())
    }

    /// `list-trusts`.
    #[derive(Debug, clap::Args)]
    pub struct ListTrusts {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        pub state: PathBuf,
    }

    /// Prints all trusts as a JSON array.
    pub fn list_trusts(a: ListTrusts) -> Result<String, String> {
        let d = open(&a.state)?;
        serde_json::to_string_pretty(&d.trusts())
            .map(|s| s + "\n")
            .map_err(|e| e.to_string())
    }

    /// `set-trust`: change a trust or the domain's settings.
    #[derive(Debug, clap::Args)]
    pub struct SetTrust {
        #[arg(long, env = "OCI_EMULATOR_STATE")]
        pub state: PathBuf,
        /// The trust's name (or id).
        #[arg(long)]
        pub name: String,
        /// Activate (true) or deactivate (false) the trust.
        #[arg(long)]
        pub active: Option<bool>,
        /// How this domain reads rpst_exp: seconds or minutes (applies to every trust).
        #[arg(long, value_parser = ["seconds", "minutes"])]
        pub rpst_exp_unit: Option<String>,
    }

    /// Prints the changed trust as JSON.
    pub fn set_trust(a: SetTrust) -> Result<String, String> {
        let d = open(&a.state)?;
        if let Some(u) = &a.rpst_exp_unit {
            let unit = if u == "minutes" {
                RpstExpUnit::Minutes
            } else {
                RpstExpUnit::Seconds
            };
            d.set_rpst_exp_unit(unit).map_err(|e| e.to_string())?;
        }
        let t = match a.active {
            Some(active) => d
                .set_trust_active(&a.name, active)
                .map_err(|e| e.to_string())?,
            None => d
                .trusts()
                .into_iter()
                .find(|t| t.name == a.name || t.id == a.name)
                .ok_or_else(|| super::DomainError::UnknownTrust(a.name.clone()).to_string())?,
        };
        serde_json::to_string_pretty(&t)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn rules_parse_and_match() {
        let c = claims(
            json!({"sub": "repo:org/repo:ref:refs/heads/main", "groups": ["ci", "network-admin"], "username": "kafka-1", "n": 5}),
        );
        let m = |r: &str| Rule::parse(r).unwrap().matches(&c);
        assert!(m("sub eq *"));
        assert!(m("sub eq repo:org/repo:ref:refs/heads/main"));
        assert!(m("sub eq 'repo:org/repo:*'"));
        assert!(m("sub EQ repo:*:ref:*"));
        assert!(!m("sub eq repo:org/other:*"));
        assert!(m("groups co \"network-admin\""));
        assert!(m("groups co network"));
        assert!(!m("groups eq network"));
        assert!(m("\"username\" eq kafka*"));
        assert!(m("n eq 5"));
        assert!(!m("missing eq *"));
        assert!(!m("sub co *"), "co has no wildcard");
        for bad in ["sub", "sub xx a", "sub eq", "'sub eq a", " eq a"] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*c", "abc"));
        assert!(wildcard_match("a*c", "ac"));
        assert!(!wildcard_match("a*c", "a"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxc"));
        assert!(!wildcard_match("abc", "abcd"));
        assert!(!wildcard_match("ab*ba", "aba"));
    }

    #[test]
    fn impersonation_split() {
        assert_eq!(
            cli::split_impersonation("sub eq a=>b => ci-user").unwrap(),
            ("sub eq a=>b".to_string(), "ci-user".to_string())
        );
        assert!(cli::split_impersonation("sub eq a").is_err());
    }
}
