//! X.509 federation, `POST /v1/x509` (spec oci-principals-wif.md §2.5–2.6, §2.11): an instance
//! trades its metadata-service certificate for an instance-principal security token bound to a
//! session key it chose.
//!
//! The request is signed *without* `host` (`date (request-target) content-length content-type
//! x-content-sha256`) with the leaf certificate's key, under the key id
//! `<tenancy>/fed-x509/<SHA-1 fingerprint>` (Python) or `<tenancy>/fed-x509-sha256/<SHA-256
//! fingerprint>` (Go, Java; they also post `"fingerprintAlgorithm":"SHA256"`). Fingerprints are
//! compared without regard to case. Body:
//! `{"certificate","publicKey","intermediateCertificates":[…],"purpose"?,"fingerprintAlgorithm"?}`,
//! certificates and key as base64 DER (PEM armour stripped; full PEM is accepted too).
//!
//! Checks, in order; any failure is the generic 401 `NotAuthenticated` with the reason in the log
//! only, except malformed input (400):
//! 1. the body is JSON with `certificate` and `publicKey` (400 `InvalidParameter` /
//!    `MissingParameter`), `purpose` absent or `DEFAULT` (400), `publicKey` an RSA
//!    SubjectPublicKeyInfo (400);
//! 2. the signature (as every OCI request, minus `host`): key id form, fingerprint of the posted
//!    leaf, `fingerprintAlgorithm` agreeing with the key id form, tenancy in the key id equal to
//!    the leaf's `opc-tenant:`, body digest, date skew, RSA signature with the leaf's key;
//! 3. the leaf chains to the emulator's root through a posted intermediate, and all of them are
//!    valid now;
//! 4. the leaf names a known instance (`opc-instance:`) of this tenancy (`opc-tenant:` is the
//!    emulator's tenancy; the instance's compartment matches `opc-compartment:`).
//!
//! The answer is `{"token": "<JWT>"}` from the [`crate::tokens::TokenAuthority`]: `ptype`
//! `instance`, `sub` the instance OCID, `tenant`, `opc-instance`, `opc-compartment`,
//! `opc-tenant`, `opc-certtype: instance`, `ttype: x509`, `aud: opc.oracle.com`, bound to the
//! posted session key, valid for `lifetimes.principal`.

use std::time::SystemTime;

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ociauth::keys::PublicKey;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::certs::{self, CertInfo};
use crate::server::{ApiError, AppState, json_response};
use crate::tokens::TokenRequest;
use crate::verify::{
    AuthMethod, AuthNote, BodyError, Principal, Rejection, RequestHead, ResolvedKey, SigningPolicy,
    collect_capped, unauthenticated,
};

/// Signature rule of the federation call: body headers required, `host` not.
pub const FEDERATION_POLICY: SigningPolicy = SigningPolicy {
    body_signing_optional: false,
    require_host: false,
    extra_required: &[],
};

pub(crate) fn routes(_app: &AppState) -> Router<AppState> {
    Router::new().route("/v1/x509", post(x509))
}

/// The parsed request body.
#[derive(Debug)]
struct FederationRequest {
    certificate: String,
    public_key: String,
    intermediates: Vec<String>,
    purpose: Option<String>,
    fingerprint_algorithm: Option<String>,
}

fn parse_body(bytes: &[u8]) -> Result<FederationRequest, ApiError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be a JSON object."))?;
    let string = |name: &str| -> Result<Option<String>, ApiError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(format!("'{name}' must be a string."))),
        }
    };
    let certificate = string("certificate")?.ok_or_else(|| ApiError::missing("certificate"))?;
    let public_key = string("publicKey")?.ok_or_else(|| ApiError::missing("publicKey"))?;
    let intermediates = match obj.get("intermediateCertificates") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request("'intermediateCertificates' must hold strings.")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "'intermediateCertificates' must be an array of strings.",
            ));
        }
    };
    Ok(FederationRequest {
        certificate,
        public_key,
        intermediates,
        purpose: string("purpose")?,
        fingerprint_algorithm: string("fingerprintAlgorithm")?,
    })
}

/// Split `<tenancy>/fed-x509/<fp>` or `<tenancy>/fed-x509-sha256/<fp>` into
/// `(tenancy, sha256?, fingerprint)`.
pub fn parse_key_id(key_id: &str) -> Option<(&str, bool, &str)> {
    let mut parts = key_id.splitn(3, '/');
    let (tenancy, form, fp) = (parts.next()?, parts.next()?, parts.next()?);
    let sha256 = match form {
        "fed-x509" => false,
        "fed-x509-sha256" => true,
        _ => return None,
    };
    (!tenancy.is_empty() && !fp.is_empty()).then_some((tenancy, sha256, fp))
}

fn reject(reason: impl Into<String>, key_id: Option<String>) -> Response {
    unauthenticated(Rejection {
        reason: reason.into(),
        key_id,
    })
}

async fn x509(State(app): State<AppState>, req: Request) -> Response {
    let target = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| req.uri().clone())
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let (parts, body) = req.into_parts();
    let bytes = match collect_capped(body, app.limits.max_buffered_body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(n)) => return ApiError::too_large(n).into_response(),
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    let fed = match parse_body(&bytes) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    match fed.purpose.as_deref() {
        None | Some("DEFAULT") => {}
        Some(other) => {
            return ApiError::bad_request(format!(
                "Unsupported purpose {other:?}; this emulator issues instance-principal tokens only (purpose DEFAULT)."
            ))
            .into_response();
        }
    }
    let session_key = match certs::decode_posted(&fed.public_key)
        .and_then(|der| PublicKey::from_spki_der(&der).ok())
    {
        Some(k) => k,
        None => {
            return ApiError::bad_request(
                "'publicKey' must be an RSA public key (base64 DER SubjectPublicKeyInfo).",
            )
            .into_response();
        }
    };
    let sha256_wanted = match fed.fingerprint_algorithm.as_deref() {
        None => None,
        Some(a) if a.eq_ignore_ascii_case("SHA256") => Some(true),
        Some(a) if a.eq_ignore_ascii_case("SHA1") => Some(false),
        Some(other) => {
            return ApiError::bad_request(format!(
                "Unsupported fingerprintAlgorithm {other:?}; use SHA256 or SHA1."
            ))
            .into_response();
        }
    };

    // The leaf: needed before the signature can be checked.
    let leaf = match certs::decode_posted(&fed.certificate).map(|d| CertInfo::parse(&d)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => return reject(format!("posted certificate: {e}"), None),
        None => return reject("posted certificate is not base64 DER", None),
    };
    let leaf_key = match leaf.public_key() {
        Ok(k) => k,
        Err(e) => return reject(format!("posted certificate's key: {e}"), None),
    };
    let cert_tenant = leaf.subject_field("opc-tenant:").map(str::to_string);
    let cert_instance = leaf.subject_field("opc-instance:").map(str::to_string);
    let sha1_fp = certs::fingerprint(&leaf.der, false);
    let sha256_fp = certs::fingerprint(&leaf.der, true);
    let resolver = |key_id: &str, _now: SystemTime| -> Option<Result<ResolvedKey, String>> {
        let Some((tenancy, sha256, fp)) = parse_key_id(key_id) else {
            return Some(Err(
                "keyId is not <tenancy>/fed-x509/<SHA-1> or <tenancy>/fed-x509-sha256/<SHA-256>"
                    .into(),
            ));
        };
        if let Some(want) = sha256_wanted
            && want != sha256
        {
            return Some(Err(format!(
                "fingerprintAlgorithm {} does not match the keyId form {}",
                fed.fingerprint_algorithm.as_deref().unwrap_or_default(),
                if sha256 {
                    "fed-x509-sha256"
                } else {
                    "fed-x509"
                }
            )));
        }
        let expected = if sha256 { &sha256_fp } else { &sha1_fp };
        if !fp.eq_ignore_ascii_case(expected) {
            return Some(Err(format!(
                "keyId fingerprint {fp} is not the posted certificate's ({expected})"
            )));
        }
        if cert_tenant.as_deref() != Some(tenancy) {
            return Some(Err(format!(
                "keyId tenancy {tenancy} differs from the certificate's opc-tenant {}",
                cert_tenant.as_deref().unwrap_or("(none)")
            )));
        }
        Some(Ok(ResolvedKey {
            public_key: leaf_key.clone(),
            principal: Principal {
                tenancy_id: tenancy.to_string(),
                principal_id: cert_instance.clone().unwrap_or_default(),
                method: AuthMethod::Certificate {
                    fingerprint: expected.clone(),
                },
            },
            required_headers: Vec::new(),
        }))
    };
    let head = RequestHead {
        method: parts.method.as_str(),
        target: &target,
        headers: &parts.headers,
    };
    let verified = match app
        .verifier
        .verify_head_with(&head, &FEDERATION_POLICY, Some(&resolver))
    {
        Ok(v) => v,
        Err(r) => return unauthenticated(r),
    };
    let key_id = verified.key_id.clone();
    let fail = |reason: String| reject(reason, Some(key_id.clone()));
    match &verified.body {
        Some(d) => {
            if let Err(reason) = d.check(&Sha256::digest(&bytes), bytes.len() as u64) {
                return fail(reason);
            }
        }
        None => return fail("x-content-sha256 was not signed".into()),
    }

    // The chain and the instance.
    let now = app.clock.now();
    let principals = app.principals.clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<Result<_, String>, String> {
        let pki = principals.pki().map_err(|e| e.to_string())?;
        Ok(check_chain(
            &principals,
            &pki,
            &leaf,
            &fed.intermediates,
            now,
        ))
    })
    .await;
    let instance = match checked {
        Ok(Ok(Ok(x))) => x,
        Ok(Ok(Err(why))) => return fail(why),
        Ok(Err(e)) => return ApiError::internal(e).into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let tenancy = app.store.tenancy_id();
    let mut extra = Map::new();
    extra.insert("aud".into(), json!("opc.oracle.com"));
    extra.insert("opc-certtype".into(), json!("instance"));
    extra.insert("opc-instance".into(), json!(instance.id));
    extra.insert("opc-compartment".into(), json!(instance.compartment_id));
    extra.insert("opc-tenant".into(), json!(tenancy));
    extra.insert("ttype".into(), json!("x509"));
    let request = TokenRequest {
        ptype: "instance".to_string(),
        subject: instance.id.clone(),
        tenancy,
        lifetime: app.tokens.lifetimes.principal,
        session_end: None,
        extra,
    };
    let token = match app.tokens.issue(&request, &session_key) {
        Ok(t) => t,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let mut resp = json_response(StatusCode::OK, &json!({ "token": token }));
    resp.extensions_mut().insert(AuthNote {
        key_id: Some(key_id),
        reason: None,
    });
    resp
}

/// Steps 3 and 4: chain, validity, known instance. Returns the instance.
fn check_chain(
    principals: &crate::principals::Principals,
    pki: &crate::principals::Pki,
    leaf: &CertInfo,
    intermediates: &[String],
    now: SystemTime,
) -> Result<crate::principals::Instance, String> {
    if leaf.is_ca {
        return Err("the posted leaf is a CA certificate".into());
    }
    if !leaf.valid_at(now) {
        return Err(
            "the posted leaf certificate is not valid now (expired or not yet valid)".into(),
        );
    }
    if intermediates.is_empty() {
        return Err("no intermediateCertificates posted".into());
    }
    let mut chained = false;
    for (i, text) in intermediates.iter().enumerate() {
        let Some(der) = certs::decode_posted(text) else {
            return Err(format!("intermediateCertificates[{i}] is not base64 DER"));
        };
        let int =
            CertInfo::parse(&der).map_err(|e| format!("intermediateCertificates[{i}]: {e}"))?;
        if leaf.issued_by(&int) && int.issued_by(&pki.root.cert) {
            if !int.valid_at(now) {
                return Err(format!("intermediateCertificates[{i}] is not valid now"));
            }
            chained = true;
            break;
        }
    }
    if !chained {
        return Err(
            "the posted leaf does not chain to the emulator's root CA through a posted intermediate"
                .into(),
        );
    }
    if !pki.root.cert.valid_at(now) {
        return Err("the emulator's root CA is not valid now".into());
    }
    if leaf.subject_field("opc-certtype:") != Some("instance") {
        return Err("the leaf certificate is not an instance certificate (opc-certtype)".into());
    }
    let tenancy = principals.state().tenancy_id();
    let cert_tenant = leaf.subject_field("opc-tenant:").unwrap_or("(none)");
    if cert_tenant != tenancy {
        return Err(format!(
            "the leaf's opc-tenant {cert_tenant} is not this emulator's tenancy"
        ));
    }
    let instance_id = leaf
        .subject_field("opc-instance:")
        .ok_or("the leaf names no instance (opc-instance)")?;
    let instance = principals
        .instance(instance_id)
        .ok_or_else(|| format!("the leaf names an unknown instance {instance_id}"))?;
    if leaf.subject_field("opc-compartment:") != Some(instance.compartment_id.as_str()) {
        return Err("the leaf's opc-compartment is not the instance's compartment".into());
    }
    Ok(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_forms() {
        assert_eq!(
            parse_key_id("ocid1.tenancy.oc1..x/fed-x509/AB:CD"),
            Some(("ocid1.tenancy.oc1..x", false, "AB:CD"))
        );
        assert_eq!(
            parse_key_id("t/fed-x509-sha256/ab:cd"),
            Some(("t", true, "ab:cd"))
        );
        assert_eq!(parse_key_id("t/u/f"), None);
        assert_eq!(parse_key_id("/fed-x509/f"), None);
        assert_eq!(parse_key_id("t/fed-x509/"), None);
    }
}
