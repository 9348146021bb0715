//! The emulator's token authority: issues every `ST$` security token (user session tokens from
//! login, refresh, GenerateUpst and token exchange; instance, resource-principal and OKE
//! tokens) as RS256 JWTs signed with the emulator's own key, each bound to the caller's public
//! key through a `jwk` claim, and verifies them on every `ST$` request (proof of possession: the
//! request must be signed with the bound key).
//!
//! The `jwk` claim is a JSON *string* holding the RSA public JWK, as the spec recommends
//! (oci-signing-config-session.md §6.1) — no client reads it, the emulator needs it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ociauth::env::Clock;
use ociauth::jwt::{self, RsaJwk};
use ociauth::keys::{PrivateKey, PublicKey};
use serde_json::{Map, Value, json};

use crate::state::{State, StateError};
use crate::verify::{AuthMethod, Principal, TokenVerifier, VerifiedToken};

/// Token lifetimes. Tests shorten them to watch tokens expire.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    /// A user session token (UPST) from login, refresh or GenerateUpst (OCI: 60 min).
    pub session: Duration,
    /// The absolute end of a login session (`sess_exp`; OCI: 24 h).
    pub session_max: Duration,
    /// Instance-principal, resource-principal and OKE tokens (OCI: 20 min [I]).
    pub principal: Duration,
    /// A UPST from workload identity federation (OCI: at most 60 min).
    pub federation: Duration,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            session: Duration::from_secs(3600),
            session_max: Duration::from_secs(24 * 3600),
            principal: Duration::from_secs(20 * 60),
            federation: Duration::from_secs(3600),
        }
    }
}

/// The file name (under `DIR/keys/`) of the key the emulator signs its tokens with.
const SIGNING_KEY_NAME: &str = "token-signing";

/// Issues and verifies the emulator's security tokens.
#[derive(Clone)]
pub struct TokenAuthority {
    key: PrivateKey,
    public: PublicKey,
    kid: String,
    clock: Arc<dyn Clock>,
    pub lifetimes: TokenLifetimes,
}

impl std::fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthority")
            .field("kid", &self.kid)
            .field("lifetimes", &self.lifetimes)
            .finish_non_exhaustive()
    }
}

/// What a token says, beyond its binding key.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `ptype`: `user`, `instance`, `resource`, `workload`...
    pub ptype: String,
    /// `sub`: the user OCID, or the instance/resource OCID.
    pub subject: String,
    /// `tenant`: the tenancy OCID.
    pub tenancy: String,
    pub lifetime: Duration,
    /// `sess_exp` (user sessions): the token's `exp` never goes past it.
    pub session_end: Option<SystemTime>,
    /// Extra claims (`opc-instance`, `res_type`, ...).
    pub extra: Map<String, Value>,
}

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TokenAuthority {
    /// Load the signing key from `DIR/keys/token-signing.pem`, creating it on first start.
    pub fn open(state: &State, clock: Arc<dyn Clock>) -> Result<Self, StateError> {
        let path = state
            .dir()
            .join("keys")
            .join(format!("{SIGNING_KEY_NAME}.pem"));
        let key = match std::fs::read(&path) {
            Ok(pem) => PrivateKey::from_pem(&pem, None)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = PrivateKey::generate()?;
                state.write_private_key(SIGNING_KEY_NAME, &key)?;
                key
            }
            Err(source) => return Err(StateError::Io { path, source }),
        };
        Ok(Self::with_key(key, clock))
    }

    /// An authority with a given key (tests).
    pub fn with_key(key: PrivateKey, clock: Arc<dyn Clock>) -> Self {
        let public = PublicKey::from(&key);
        let kid = format!("emulator-{}", &key.fingerprint().replace(':', "")[..16]);
        Self {
            key,
            public,
            kid,
            clock,
            lifetimes: TokenLifetimes::default(),
        }
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Issue a token bound to `bound_key`.
    pub fn issue(&self, req: &TokenRequest, bound_key: &PublicKey) -> Result<String, String> {
        let now = self.clock.now();
        let mut exp = now + req.lifetime;
        if let Some(end) = req.session_end {
            exp = exp.min(end);
        }
        let jwk = RsaJwk::from_public_key(bound_key, Some("bound"))
            .map_err(|e| format!("cannot encode the bound key: {e}"))?;
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(req.subject));
        claims.insert("tenant".into(), json!(req.tenancy));
        claims.insert("ptype".into(), json!(req.ptype));
        claims.insert("iss".into(), json!("authService.oracle.com"));
        claims.insert("aud".into(), json!("oci"));
        claims.insert("iat".into(), json!(epoch(now)));
        claims.insert("exp".into(), json!(epoch(exp)));
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("jwk".into(), json!(jwk.to_json().to_string()));
        if let Some(end) = req.session_end {
            let text = jwt::format_sess_exp(end).map_err(|e| e.to_string())?;
            claims.insert("sess_exp".into(), json!(text));
        }
        for (k, v) in &req.extra {
            claims.insert(k.clone(), v.clone());
        }
        jwt::sign_rs256(&json!({"kid": self.kid}), &Value::Object(claims), &self.key)
            .map_err(|e| format!("cannot sign the token: {e}"))
    }

    /// Verify a token's signature (this emulator issued it) and expiry, and return its claims
    /// and bound key. `Err` is a reason for the log; it never contains the token.
    pub fn check(&self, token: &str, now: SystemTime) -> Result<(jwt::Jwt, PublicKey), String> {
        let jwt = jwt::verify_rs256(token, &self.public)
            .map_err(|e| format!("token not issued by this emulator or tampered ({e})"))?;
        let exp = jwt.exp().ok_or("token has no exp")?;
        if epoch(now) > exp {
            return Err(format!("token expired {} s ago", epoch(now) - exp));
        }
        let jwk_text = jwt.claim_str("jwk").ok_or("token has no bound jwk")?;
        let jwk_value: Value =
            serde_json::from_str(jwk_text).map_err(|_| "token's jwk claim is not JSON")?;
        let key = RsaJwk::from_json(&jwk_value)
            .and_then(|j| j.public_key())
            .map_err(|e| format!("token's jwk claim is not an RSA key ({e})"))?;
        Ok((jwt, key))
    }
}

impl TokenVerifier for TokenAuthority {
    fn verify(&self, token: &str, now: SystemTime) -> Result<VerifiedToken, String> {
        let (jwt, public_key) = self.check(token, now)?;
        let kind = jwt.claim_str("ptype").unwrap_or("user").to_string();
        Ok(VerifiedToken {
            public_key,
            principal: Principal {
                tenancy_id: jwt.claim_str("tenant").unwrap_or_default().to_string(),
                principal_id: jwt.sub().unwrap_or_default().to_string(),
                method: AuthMethod::SessionToken { kind },
            },
            required_headers: Vec::new(),
        })
    }
}
