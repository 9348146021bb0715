//! Compact JWS tokens (JWTs): the session tokens (UPST, RPST, instance-principal tokens) and the
//! external subject tokens of workload identity federation.
//!
//! - [`decode_unverified`] reads header and claims without checking the signature, as every OCI
//!   client does (PyJWT with `verify_signature: False`, Go `parseJwt`).
//! - [`sign_rs256`] mints tokens (the emulator's token service, test fixtures).
//! - [`verify_rs256`] and [`verify_with_keys`] check the signature (the emulator's validation of
//!   `ST$` tokens and of WIF subject tokens against a trust's JWKS). Only RS256, RS384 and RS512
//!   are accepted: `none`, HMAC (`HS*`, the key-confusion attack), EC and PSS are refused.
//!   Claims are not checked there; [`Jwt::validate_time`] checks `exp`/`nbf`/`iat`.
//! - [`RsaJwk`] and [`parse_jwks`]: RSA public keys as JWKs and JWK sets.
//! - [`format_sess_exp`] / [`parse_sess_exp`]: the `sess_exp` claim's Java date format.
//!
//! Segments are base64url; decoding accepts them with or without `=` padding (Go re-pads,
//! PyJWT tolerates both); encoding never pads. Token text never appears in an error or in
//! `Debug` (a token is a bearer credential).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use crate::keys::{KeyError, PrivateKey, PublicKey, RsaPkcs1Hash};

/// base64url, padding optional, non-zero trailing bits tolerated (as Go and Python decode).
const B64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// base64url without padding, for writing.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url with or without padding.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    B64URL_LENIENT.decode(text).ok()
}

/// A part of a compact JWS, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Header,
    Payload,
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a token could not be decoded, verified, validated or made. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a JWT: expected three dot-separated parts (header.payload.signature), found {0}")]
    NotThreeParts(usize),
    #[error("not a JWT: the {0} is not valid base64url")]
    BadBase64(Part),
    #[error("not a JWT: the {part} is not valid JSON ({detail})")]
    BadJson { part: Part, detail: String },
    #[error("not a JWT: the {part} is JSON but not an object (found {found})")]
    NotAnObject { part: Part, found: &'static str },
    #[error("the JWT header has no \"alg\" (a string); RS256, RS384 or RS512 is required")]
    MissingAlg,
    #[error("JWT algorithm {0:?} is not accepted; only RS256, RS384 and RS512 are")]
    UnsupportedAlg(String),
    #[error("the JWT signature does not verify with the key")]
    BadSignature,
    #[error("no key with kid {0:?} to verify the JWT (check the key set or the token's issuer)")]
    UnknownKid(String),
    #[error("no keys to verify the JWT (the key set is empty)")]
    NoKeys,
    #[error("the JWT has no \"exp\" claim")]
    MissingExp,
    #[error("the JWT claim {0:?} is not a number of seconds since the epoch")]
    BadTimeClaim(&'static str),
    #[error("the JWT has expired (exp {exp}, now {now}, leeway {leeway}s)")]
    Expired { exp: i64, now: i64, leeway: u64 },
    #[error("the JWT is not valid yet (nbf {nbf}, now {now}, leeway {leeway}s)")]
    NotYetValid { nbf: i64, now: i64, leeway: u64 },
    #[error("the JWT was issued in the future (iat {iat}, now {now}, leeway {leeway}s)")]
    IssuedInFuture { iat: i64, now: i64, leeway: u64 },
    #[error("invalid JWK: {0}")]
    Jwk(String),
    #[error("invalid JWK set: {0}")]
    Jwks(String),
    #[error("cannot sign a JWT: {0}")]
    Input(String),
    #[error("cannot sign a JWT: {0}")]
    Sign(KeyError),
    #[error(
        "invalid sess_exp date {0:?}: expected the format \"E, dd MMM yyyy HH:mm:ss z\" in UTC, like \"Sat, 29 Nov 2026 17:00:00 UTC\""
    )]
    BadDate(String),
    #[error("the time is out of range for a sess_exp date (1970 to 9999)")]
    DateOutOfRange,
}

/// A signature algorithm accepted by [`verify_rs256`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
}

impl Alg {
    /// From a header's `alg` (case-sensitive, as RFC 7515 says).
    pub fn from_name(name: &str) -> Result<Self, JwtError> {
        match name {
            "RS256" => Ok(Alg::RS256),
            "RS384" => Ok(Alg::RS384),
            "RS512" => Ok(Alg::RS512),
            other => Err(JwtError::UnsupportedAlg(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
        }
    }

    fn hash(self) -> RsaPkcs1Hash {
        match self {
            Alg::RS256 => RsaPkcs1Hash::Sha256,
            Alg::RS384 => RsaPkcs1Hash::Sha384,
            Alg::RS512 => RsaPkcs1Hash::Sha512,
        }
    }
}

/// A decoded token: its header and claims. `Debug` shows only a few non-secret fields.
#[derive(Clone, PartialEq)]
pub struct Jwt {
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("alg", &self.alg())
            .field("kid", &self.kid())
            .field("iss", &self.claim_str("iss"))
            .field("sub", &self.sub())
            .field("iat", &self.iat())
            .field("exp", &self.exp())
            .finish_non_exhaustive()
    }
}

impl Jwt {
    /// The JOSE header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// All claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The header's `alg`, if it is a string.
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// The header's `kid`, if it is a string.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// One claim.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// One claim, if it is a string.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// `sub`: for a UPST, the user OCID.
    pub fn sub(&self) -> Option<&str> {
        self.claim_str("sub")
    }

    /// `exp` in seconds since the epoch (a fractional value is rounded down); `None` when
    /// absent or not a number.
    pub fn exp(&self) -> Option<i64> {
        self.time_claim("exp").ok().flatten()
    }

    /// `iat` in seconds since the epoch.
    pub fn iat(&self) -> Option<i64> {
        self.time_claim("iat").ok().flatten()
    }

    /// `nbf` in seconds since the epoch.
    pub fn nbf(&self) -> Option<i64> {
        self.time_claim("nbf").ok().flatten()
    }

    /// `sess_exp`, the end of a session's refresh window: the Java date string the token
    /// service writes ([`parse_sess_exp`]) or, **[I]** as some tokens carry it, epoch seconds.
    pub fn sess_exp(&self) -> Option<SystemTime> {
        match self.claims.get("sess_exp")? {
            Value::String(s) => parse_sess_exp(s).ok(),
            Value::Number(_) => self
                .time_claim("sess_exp")
                .ok()
                .flatten()
                .and_then(epoch_to_system_time),
            _ => None,
        }
    }

    /// `Ok(None)` when absent; `Err` when present but not a number.
    fn time_claim(&self, name: &'static str) -> Result<Option<i64>, JwtError> {
        match self.claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.is_finite() && f.abs() < 1e17)
                        .map(|f| f.floor() as i64)
                })
                .map(Some)
                .ok_or(JwtError::BadTimeClaim(name)),
        }
    }

    /// Check the time claims at `now` with `leeway` of clock skew either way (a WIF trust's
    /// `clockSkewSeconds`).
    ///
    /// **[I]** (the spec names the claims, not the comparisons): `exp` is required and the
    /// token is expired once `now > exp + leeway`; when present, `nbf` must satisfy
    /// `nbf <= now + leeway` and `iat` must satisfy `iat <= now + leeway`. A time claim that is
    /// not a number is an error.
    pub fn validate_time(&self, now: SystemTime, leeway: Duration) -> Result<(), JwtError> {
        let now = system_time_to_epoch(now);
        let lw = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        let leeway = leeway.as_secs();
        let exp = self.time_claim("exp")?.ok_or(JwtError::MissingExp)?;
        if now > exp.saturating_add(lw) {
            return Err(JwtError::Expired { exp, now, leeway });
        }
        if let Some(nbf) = self.time_claim("nbf")?
            && nbf > now.saturating_add(lw)
        {
            return Err(JwtError::NotYetValid { nbf, now, leeway });
        }
        if let Some(iat) = self.time_claim("iat")?
            && iat > now.saturating_add(lw)
        {
            return Err(JwtError::IssuedInFuture { iat, now, leeway });
        }
        Ok(())
    }
}

fn system_time_to_epoch(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn epoch_to_system_time(secs: i64) -> Option<SystemTime> {
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The three segments of a compact JWS, decoded.
struct Parts<'a> {
    signing_input: &'a str,
    jwt: Jwt,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    let segments: Vec<&str> = token.split('.').collect();
    let [h, p, s] = segments[..] else {
        return Err(JwtError::NotThreeParts(segments.len()));
    };
    let header = decode_object(h, Part::Header)?;
    let claims = decode_object(p, Part::Payload)?;
    let signature = b64url_decode(s).ok_or(JwtError::BadBase64(Part::Signature))?;
    Ok(Parts {
        signing_input: &token[..h.len() + 1 + p.len()],
        jwt: Jwt { header, claims },
        signature,
    })
}

fn decode_object(segment: &str, part: Part) -> Result<Map<String, Value>, JwtError> {
    let bytes = b64url_decode(segment).ok_or(JwtError::BadBase64(part))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(JwtError::NotAnObject {
            part,
            found: json_kind(&other),
        }),
        Err(e) => Err(JwtError::BadJson {
            part,
            detail: e.to_string(),
        }),
    }
}

/// Header and claims of a token, without checking the signature (the signature segment must
/// still be base64url, as PyJWT requires). The caller trims surrounding whitespace.
pub fn decode_unverified(token: &str) -> Result<Jwt, JwtError> {
    split(token).map(|p| p.jwt)
}

/// A compact JWS signed with RS256. The header is `{"alg":"RS256","typ":"JWT"}` plus the
/// members of `header_extra` (an object such as `{"kid": "…"}`, or null), written compactly
/// with sorted keys (`{"alg":"RS256","kid":"…","typ":"JWT"}`, byte-identical to PyJWT's);
/// `header_extra` may override `typ` but not `alg`. `claims` must be an object; it is written
/// compactly in its own key order (as PyJWT does).
pub fn sign_rs256(
    header_extra: &Value,
    claims: &Value,
    key: &PrivateKey,
) -> Result<String, JwtError> {
    let mut header = Map::new();
    header.insert("alg".into(), Value::from("RS256"));
    header.insert("typ".into(), Value::from("JWT"));
    match header_extra {
        Value::Null => {}
        Value::Object(extra) => {
            for (k, v) in extra {
                if k == "alg" {
                    return Err(JwtError::Input(
                        "header_extra must not set \"alg\" (sign_rs256 always signs RS256)".into(),
                    ));
                }
                header.insert(k.clone(), v.clone());
            }
        }
        other => {
            return Err(JwtError::Input(format!(
                "header_extra must be a JSON object or null, not {}",
                json_kind(other)
            )));
        }
    }
    if !claims.is_object() {
        return Err(JwtError::Input(format!(
            "the claims must be a JSON object, not {}",
            json_kind(claims)
        )));
    }
    let encode_json = |v: &Value| -> Result<String, JwtError> {
        serde_json::to_vec(v)
            .map(|b| b64url_encode(&b))
            .map_err(|e| JwtError::Input(e.to_string()))
    };
    // Sorted keys, as PyJWT writes them and as OCI's own tokens look ({"alg","kid","typ"}).
    let mut sorted: Vec<(String, Value)> = header.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let header: Map<String, Value> = sorted.into_iter().collect();
    let mut out = encode_json(&Value::Object(header))?;
    out.push('.');
    out.push_str(&encode_json(claims)?);
    let signature = key.sign_sha256(out.as_bytes()).map_err(JwtError::Sign)?;
    out.push('.');
    out.push_str(&b64url_encode(&signature));
    Ok(out)
}

fn check_alg(jwt: &Jwt) -> Result<Alg, JwtError> {
    match jwt.header.get("alg") {
        Some(Value::String(name)) => Alg::from_name(name),
        _ => Err(JwtError::MissingAlg),
    }
}

/// Decode a token and verify its signature with `key`. The header's `alg` must be RS256,
/// RS384 or RS512 (anything else, `none` and `HS256` included, is refused before any
/// cryptography). Claims are not validated: see [`Jwt::validate_time`].
pub fn verify_rs256(token: &str, key: &PublicKey) -> Result<Jwt, JwtError> {
    let parts = split(token)?;
    let alg = check_alg(&parts.jwt)?;
    if key.verify(alg.hash(), parts.signing_input.as_bytes(), &parts.signature) {
        Ok(parts.jwt)
    } else {
        Err(JwtError::BadSignature)
    }
}

/// [`verify_rs256`] against a key set of `(kid, key)` pairs (as from [`parse_jwks`]).
///
/// With a `kid` in the header, only keys with that kid are tried ([`JwtError::UnknownKid`] if
/// there is none); without one, every key is tried.
pub fn verify_with_keys(token: &str, keys: &[(String, PublicKey)]) -> Result<Jwt, JwtError> {
    let parts = split(token)?;
    let alg = check_alg(&parts.jwt)?;
    if keys.is_empty() {
        return Err(JwtError::NoKeys);
    }
    let kid = parts.jwt.kid();
    let mut candidates = keys
        .iter()
        .filter(|(k, _)| kid.is_none_or(|kid| k == kid))
        .peekable();
    if candidates.peek().is_none() {
        return Err(JwtError::UnknownKid(kid.unwrap_or_default().to_string()));
    }
    let message = parts.signing_input.as_bytes();
    if candidates.any(|(_, key)| key.verify(alg.hash(), message, &parts.signature)) {
        Ok(parts.jwt)
    } else {
        Err(JwtError::BadSignature)
    }
}

/// An RSA public key as a JWK (RFC 7517/7518): `n` and `e` are the big-endian modulus and
/// exponent without leading zeros, base64url without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaJwk {
    pub n: String,
    pub e: String,
    pub kid: Option<String>,
}

impl RsaJwk {
    /// From big-endian modulus and exponent (leading zero bytes are dropped).
    pub fn from_components(n: &[u8], e: &[u8], kid: Option<&str>) -> Self {
        let strip = |b: &[u8]| -> Vec<u8> {
            let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[i..].to_vec()
        };
        Self {
            n: b64url_encode(&strip(n)),
            e: b64url_encode(&strip(e)),
            kid: kid.map(str::to_string),
        }
    }

    /// The public half of a private key.
    pub fn from_private_key(key: &PrivateKey, kid: Option<&str>) -> Result<Self, JwtError> {
        let (n, e) = key
            .public_components()
            .map_err(|e| JwtError::Jwk(e.to_string()))?;
        Ok(Self::from_components(&n, &e, kid))
    }

    /// From a public key (its SubjectPublicKeyInfo).
    pub fn from_public_key(key: &PublicKey, kid: Option<&str>) -> Result<Self, JwtError> {
        use pkcs1::der::Decode as _;
        let bad = |e: String| JwtError::Jwk(format!("cannot read the public key ({e})"));
        let spki = pkcs8::SubjectPublicKeyInfoRef::from_der(key.spki_der())
            .map_err(|e| bad(e.to_string()))?;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| bad("bit string".into()))?;
        let rsa = pkcs1::RsaPublicKey::<pkcs1::UintRef<'_>>::from_der(bits)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self::from_components(
            rsa.modulus.as_bytes(),
            rsa.public_exponent.as_bytes(),
            kid,
        ))
    }

    /// `{"kty":"RSA","n":…,"e":…}` plus `"kid"` when set, in that order. Callers add `alg`/`use`
    /// where a format wants them (the UPST `jwk` claim has `"alg":"RS256","use":"sig"`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("kty".into(), Value::from("RSA"));
        m.insert("n".into(), Value::from(self.n.clone()));
        m.insert("e".into(), Value::from(self.e.clone()));
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), Value::from(kid.clone()));
        }
        Value::Object(m)
    }

    /// From a JWK object: `kty` must be `RSA`; `n` and `e` base64url (padding optional); other
    /// members are ignored. The values are kept in unpadded form.
    pub fn from_json(jwk: &Value) -> Result<Self, JwtError> {
        let obj = jwk.as_object().ok_or_else(|| {
            JwtError::Jwk(format!("expected an object, found {}", json_kind(jwk)))
        })?;
        match obj.get("kty") {
            Some(Value::String(k)) if k == "RSA" => {}
            Some(Value::String(k)) => {
                return Err(JwtError::Jwk(format!(
                    "\"kty\" is {k:?}; only \"RSA\" keys are supported"
                )));
            }
            _ => return Err(JwtError::Jwk("missing \"kty\"".into())),
        }
        let component = |name: &str| -> Result<Vec<u8>, JwtError> {
            let text = obj
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| JwtError::Jwk(format!("missing \"{name}\" (a base64url string)")))?;
            b64url_decode(text)
                .filter(|b| b.iter().any(|&x| x != 0))
                .ok_or_else(|| JwtError::Jwk(format!("\"{name}\" is not a base64url integer")))
        };
        let (n, e) = (component("n")?, component("e")?);
        let kid = obj.get("kid").and_then(Value::as_str);
        Ok(Self::from_components(&n, &e, kid))
    }

    /// The key, for [`verify_rs256`].
    pub fn public_key(&self) -> Result<PublicKey, JwtError> {
        let n =
            b64url_decode(&self.n).ok_or_else(|| JwtError::Jwk("\"n\" is not base64url".into()))?;
        let e =
            b64url_decode(&self.e).ok_or_else(|| JwtError::Jwk("\"e\" is not base64url".into()))?;
        PublicKey::from_components(&n, &e).map_err(|e| JwtError::Jwk(e.to_string()))
    }
}

/// The signing keys of a JWK set (`{"keys": [...]}`, as served at an issuer's `jwks_uri`), as
/// `(kid, key)` pairs for [`verify_with_keys`]; a key without `kid` gets `""`.
///
/// Keys that cannot verify RS256/384/512 are skipped, since sets routinely mix them: `kty` other
/// than `RSA`, `"use": "enc"`, or an `alg` that is not `RS*`. A malformed RSA signing key is an
/// error naming its index.
pub fn parse_jwks(text: &str) -> Result<Vec<(String, PublicKey)>, JwtError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| JwtError::Jwks(format!("not valid JSON ({e})")))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| JwtError::Jwks("expected an object with a \"keys\" array".into()))?;
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let s = |name: &str| k.get(name).and_then(Value::as_str);
        if s("kty") != Some("RSA") || s("use") == Some("enc") {
            continue;
        }
        if s("alg").is_some_and(|alg| Alg::from_name(alg).is_err()) {
            continue;
        }
        let jwk = RsaJwk::from_json(k).map_err(|e| JwtError::Jwks(format!("key {i}: {e}")))?;
        let key = jwk
            .public_key()
            .map_err(|e| JwtError::Jwks(format!("key {i}: {e}")))?;
        out.push((jwk.kid.unwrap_or_default(), key));
    }
    Ok(out)
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// The `sess_exp` claim's text for `t`: Java's `E, dd MMM yyyy HH:mm:ss z` in UTC, e.g.
/// `Sun, 29 Nov 2026 17:00:00 UTC` (sub-seconds dropped). Years 0 to 9999.
pub fn format_sess_exp(t: SystemTime) -> Result<String, JwtError> {
    let dt = time::OffsetDateTime::from_unix_timestamp(system_time_to_epoch(t))
        .map_err(|_| JwtError::DateOutOfRange)?;
    if !(0..=9999).contains(&dt.year()) {
        return Err(JwtError::DateOutOfRange);
    }
    dt.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] UTC"
    ))
    .map_err(|_| JwtError::DateOutOfRange)
}

/// Parse a `sess_exp` text such as `Sat, 29 Nov 2026 17:00:00 UTC` (`GMT` is accepted too).
///
/// **[I]** The weekday must be an English abbreviation but is not checked against the date:
/// Java's default (lenient) parser ignores it, and the spec's own example above has one that
/// does not match (29 Nov 2026 is a Sunday).
pub fn parse_sess_exp(text: &str) -> Result<SystemTime, JwtError> {
    let bad = || JwtError::BadDate(text.to_string());
    let rest = WEEKDAYS
        .iter()
        .find_map(|d| text.strip_prefix(d).and_then(|r| r.strip_prefix(", ")))
        .ok_or_else(bad)?;
    let stem = rest
        .strip_suffix(" UTC")
        .or_else(|| rest.strip_suffix(" GMT"))
        .ok_or_else(bad)?;
    let dt = time::PrimitiveDateTime::parse(
        stem,
        time::macros::format_description!(
            "[day] [month repr:short] [year] [hour]:[minute]:[second]"
        ),
    )
    .map_err(|_| bad())?;
    epoch_to_system_time(dt.assume_utc().unix_timestamp()).ok_or_else(bad)
}
