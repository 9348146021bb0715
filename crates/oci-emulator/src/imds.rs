//! The instance metadata service (IMDS) of the emulated compute instances (spec
//! oci-principals-wif.md §2.1–2.2).
//!
//! Paths, relative to a base:
//!
//! | Path | Answer |
//! |---|---|
//! | `instance/` (or `instance`) | JSON document of the instance |
//! | `instance/<field>` | one top-level field of that document: strings as `text/plain`, the rest as JSON (`id`, `region`, `canonicalRegionName`, `regionInfo`, `displayName`, …) |
//! | `identity/cert.pem` | the leaf certificate (PEM) |
//! | `identity/key.pem` | its private key (unencrypted PKCS#1 PEM) |
//! | `identity/intermediate.pem` | the one intermediate certificate (PEM) |
//!
//! Bases: `/opc/v2` answers for the *current* instance (see [`crate::principals`]);
//! `/imds/<instance name or OCID>/opc/v2` for a given one (IMDS is per host in reality; a path
//! prefix lets one emulator play several hosts: `OCI_METADATA_BASE_URL=http://127.0.0.1:PORT/imds/web-1/opc/v2`).
//!
//! Rules, as the real service:
//! - v2 requests must carry `Authorization: Bearer Oracle`; otherwise **401** (status not
//!   documented by Oracle; 401 chosen [I]).
//! - requests carrying `Forwarded`, `X-Forwarded-For` or `X-Forwarded-Host` are refused with
//!   **403** (refusal documented, status chosen [I]).
//! - `/opc/v1/…` and `/openstack/…` are **404** unless the instance has v1 enabled
//!   (`add-instance --imds-v1`); v1 needs no `Authorization` header.
//! - `instance/region` is the lower-case short code (`iad`) unless the instance was given another
//!   text (`add-instance --region-text us-ashburn-1`), since both forms occur in real regions.
//!
//! Errors are OCI-shaped JSON (`{"code","message"}`) — the SDKs only look at the status.

use axum::Router;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::principals::{Instance, Principals, PrincipalsError, region_codes};
use crate::server::{ApiError, AppState, json_response};

/// Which IMDS version a path is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

pub(crate) fn routes(_app: &AppState) -> Router<AppState> {
    Router::new()
        .route("/opc/v2/{*rest}", any(v2_current))
        .route("/opc/v1/{*rest}", any(v1_current))
        .route("/opc/v2", any(v2_current_root))
        .route("/opc/v1", any(v1_current_root))
        .route("/imds/{instance}/opc/v2/{*rest}", any(v2_named))
        .route("/imds/{instance}/opc/v1/{*rest}", any(v1_named))
        .route("/openstack/{*rest}", any(openstack))
}

async fn v2_current(
    State(app): State<AppState>,
    UrlPath(rest): UrlPath<String>,
    req: Request,
) -> Response {
    serve(app, None, Version::V2, rest, req).await
}
async fn v1_current(
    State(app): State<AppState>,
    UrlPath(rest): UrlPath<String>,
    req: Request,
) -> Response {
    serve(app, None, Version::V1, rest, req).await
}
async fn v2_current_root(State(app): State<AppState>, req: Request) -> Response {
    serve(app, None, Version::V2, String::new(), req).await
}
async fn v1_current_root(State(app): State<AppState>, req: Request) -> Response {
    serve(app, None, Version::V1, String::new(), req).await
}
async fn v2_named(
    State(app): State<AppState>,
    UrlPath((instance, rest)): UrlPath<(String, String)>,
    req: Request,
) -> Response {
    serve(app, Some(instance), Version::V2, rest, req).await
}
async fn v1_named(
    State(app): State<AppState>,
    UrlPath((instance, rest)): UrlPath<(String, String)>,
    req: Request,
) -> Response {
    serve(app, Some(instance), Version::V1, rest, req).await
}

async fn openstack() -> Response {
    not_found("The OpenStack metadata paths are disabled on this instance.")
}

fn not_found(message: &str) -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", message).into_response()
}

/// The header names whose presence makes IMDS refuse a request.
pub const FORWARDING_HEADERS: &[&str] = &["forwarded", "x-forwarded-for", "x-forwarded-host"];

/// `Authorization: Bearer Oracle` (scheme in any case, token exact).
fn has_bearer_oracle(headers: &HeaderMap) -> bool {
    headers.get_all(header::AUTHORIZATION).iter().any(|v| {
        v.to_str().ok().is_some_and(|s| {
            let mut it = s.trim().splitn(2, ' ');
            matches!(
                (it.next(), it.next()),
                (Some(scheme), Some(token)) if scheme.eq_ignore_ascii_case("bearer") && token.trim() == "Oracle"
            )
        })
    })
}

async fn serve(
    app: AppState,
    instance: Option<String>,
    version: Version,
    rest: String,
    req: Request,
) -> Response {
    if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The instance metadata service answers GET only.",
        )
        .into_response();
    }
    if let Some(h) = FORWARDING_HEADERS
        .iter()
        .find(|h| req.headers().contains_key(**h))
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("Requests carrying a {h} header are refused by the instance metadata service."),
        )
        .into_response();
    }
    if version == Version::V2 && !has_bearer_oracle(req.headers()) {
        let mut resp = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "NotAuthenticated",
            "Instance metadata service v2 requires the header 'Authorization: Bearer Oracle'.",
        )
        .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let principals = app.principals.clone();
    let joined =
        tokio::task::spawn_blocking(move || answer(&principals, instance, version, &rest)).await;
    match joined {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => ApiError::internal(e).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

fn text(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        body,
    )
        .into_response()
}

fn answer(
    p: &Principals,
    instance: Option<String>,
    version: Version,
    rest: &str,
) -> Result<Response, PrincipalsError> {
    let inst = match instance {
        Some(name) => match p.instance(&name) {
            Some(i) => i,
            None => {
                return Ok(not_found(&format!(
                    "No instance {name:?} in this emulator."
                )));
            }
        },
        None => p.current_instance()?,
    };
    if version == Version::V1 && !inst.imds_v1 {
        return Ok(not_found(
            "The legacy /opc/v1 endpoints are disabled on this instance; use /opc/v2.",
        ));
    }
    let rest = rest.trim_start_matches('/');
    match rest {
        "identity/cert.pem" => Ok(text(p.identity(&inst)?.cert_pem)),
        "identity/key.pem" => Ok(text(p.identity(&inst)?.key_pem.to_string())),
        "identity/intermediate.pem" => Ok(text(p.identity(&inst)?.intermediate_pem)),
        "instance" | "instance/" => Ok(json_response(StatusCode::OK, &document(p, &inst))),
        _ => {
            let Some(field) = rest.strip_prefix("instance/") else {
                return Ok(not_found("No such metadata path."));
            };
            let doc = document(p, &inst);
            let mut v = &doc;
            for part in field.trim_end_matches('/').split('/') {
                match v.get(part) {
                    Some(x) => v = x,
                    None => return Ok(not_found("No such metadata path.")),
                }
            }
            Ok(match v {
                Value::String(s) => text(s.clone()),
                other => json_response(StatusCode::OK, other),
            })
        }
    }
}

/// The `regionInfo` object of an instance's region.
pub fn region_info(region: &str) -> Value {
    let short = region_codes(region)
        .map(|(_, s)| s.to_ascii_uppercase())
        .unwrap_or_default();
    let info = ociauth::regions::builtin_region(region);
    json!({
        "realmKey": info.as_ref().map(|r| r.realm_key.clone()).unwrap_or_else(|| "oc1".into()),
        "realmDomainComponent": info.as_ref().map(|r| r.domain.clone()).unwrap_or_else(|| "oraclecloud.com".into()),
        "regionKey": short,
        "regionIdentifier": region,
    })
}

/// The text `/instance/region` serves.
pub fn region_text(inst: &Instance) -> String {
    inst.region_text.clone().unwrap_or_else(|| {
        region_codes(&inst.region)
            .map(|(_, s)| s)
            .unwrap_or_else(|| inst.region.clone())
    })
}

/// The JSON document at `/instance/` (field set per spec §2.1, values made up where OCI's are
/// not known).
pub fn document(p: &Principals, inst: &Instance) -> Value {
    let short = region_codes(&inst.region)
        .map(|(_, s)| s)
        .unwrap_or_default();
    json!({
        "availabilityDomain": inst.availability_domain,
        "faultDomain": inst.fault_domain,
        "compartmentId": inst.compartment_id,
        "displayName": inst.display_name,
        "hostname": inst.name,
        "id": inst.id,
        "image": format!("ocid1.image.oc1.{short}.aaaaaaaaemulatorimage"),
        "metadata": {},
        "region": region_text(inst),
        "canonicalRegionName": inst.region,
        "ociAdName": format!("{short}-ad-1"),
        "regionInfo": region_info(&inst.region),
        "shape": inst.shape,
        "state": "Running",
        "timeCreated": inst.time_created,
        "tenantId": p.state().tenancy_id(),
        "agentConfig": {"monitoringDisabled": false, "managementDisabled": false, "allPluginsDisabled": false},
        "definedTags": {},
        "freeformTags": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_oracle() {
        let mut h = HeaderMap::new();
        assert!(!has_bearer_oracle(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer Oracle"),
        );
        assert!(has_bearer_oracle(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer Oracle"),
        );
        assert!(has_bearer_oracle(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer oracle"),
        );
        assert!(!has_bearer_oracle(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Oracle"),
        );
        assert!(!has_bearer_oracle(&h));
    }

    #[test]
    fn region_info_shape() {
        assert_eq!(
            region_info("us-ashburn-1"),
            json!({"realmKey":"oc1","realmDomainComponent":"oraclecloud.com","regionKey":"IAD","regionIdentifier":"us-ashburn-1"})
        );
    }
}
