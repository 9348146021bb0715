//! Identity (`/20160918`): the region list, users, their API keys, the tenancy.
//!
//! TODO(regions): the region list is a static copy of the oc1 realm (spec §5.2) until
//! `ociauth::regions` lands in main; then build it from there.

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::server::{ApiError, AppState, guard, json_response};
use crate::state::{User, rfc3339};
use crate::verify::{BodyMode, SigningPolicy};

/// The oc1 regions (identifier, upper-case key), spec §5.2.
pub const OC1_REGIONS: &[(&str, &str)] = &[
    ("af-casablanca-1", "LEJ"),
    ("af-johannesburg-1", "JNB"),
    ("ap-batam-1", "HSG"),
    ("ap-chuncheon-1", "YNY"),
    ("ap-delhi-1", "ONM"),
    ("ap-hyderabad-1", "HYD"),
    ("ap-kulai-2", "JBP"),
    ("ap-melbourne-1", "MEL"),
    ("ap-mumbai-1", "BOM"),
    ("ap-osaka-1", "KIX"),
    ("ap-seoul-1", "ICN"),
    ("ap-singapore-1", "SIN"),
    ("ap-singapore-2", "XSP"),
    ("ap-sydney-1", "SYD"),
    ("ap-tokyo-1", "NRT"),
    ("ca-montreal-1", "YUL"),
    ("ca-toronto-1", "YYZ"),
    ("eu-amsterdam-1", "AMS"),
    ("eu-frankfurt-1", "FRA"),
    ("eu-madrid-1", "MAD"),
    ("eu-madrid-3", "ORF"),
    ("eu-marseille-1", "MRS"),
    ("eu-milan-1", "LIN"),
    ("eu-paris-1", "CDG"),
    ("eu-stockholm-1", "ARN"),
    ("eu-turin-1", "NRQ"),
    ("eu-zurich-1", "ZRH"),
    ("il-jerusalem-1", "MTZ"),
    ("me-abudhabi-1", "AUH"),
    ("me-dubai-1", "DXB"),
    ("me-jeddah-1", "JED"),
    ("me-riyadh-1", "RUH"),
    ("mx-monterrey-1", "MTY"),
    ("mx-queretaro-1", "QRO"),
    ("sa-bogota-1", "BOG"),
    ("sa-santiago-1", "SCL"),
    ("sa-saopaulo-1", "GRU"),
    ("sa-valparaiso-1", "VAP"),
    ("sa-vinhedo-1", "VCP"),
    ("uk-cardiff-1", "CWL"),
    ("uk-london-1", "LHR"),
    ("us-ashburn-1", "IAD"),
    ("us-chicago-1", "ORD"),
    ("us-phoenix-1", "PHX"),
    ("us-saltlake-2", "AGA"),
    ("us-sanjose-1", "SJC"),
];

pub(crate) fn routes(app: &AppState) -> Router<AppState> {
    let standard = || guard(app, SigningPolicy::STANDARD, BodyMode::Buffer);
    Router::new()
        .route(
            "/20160918/regions",
            get(list_regions).route_layer(standard()),
        )
        .route(
            "/20160918/users/{id}",
            get(get_user).route_layer(standard()),
        )
        .route(
            "/20160918/users/{id}/apiKeys",
            get(list_api_keys).route_layer(standard()),
        )
        .route(
            "/20160918/users/{id}/apiKeys/",
            get(list_api_keys).route_layer(standard()),
        )
        .route(
            "/20160918/tenancies/{id}",
            get(get_tenancy).route_layer(standard()),
        )
}

/// `GET /20160918/regions`: `[{"key": "IAD", "name": "us-ashburn-1"}, …]`.
async fn list_regions() -> Response {
    let list: Vec<Value> = OC1_REGIONS
        .iter()
        .map(|(name, key)| json!({ "key": key, "name": name }))
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}

fn user_json(u: &User, tenancy: &str) -> Value {
    json!({
        "id": u.id,
        "compartmentId": tenancy,
        "name": u.name,
        "description": u.description,
        "email": null,
        "emailVerified": false,
        "identityProviderId": null,
        "externalIdentifier": null,
        "timeCreated": rfc3339(u.time_created),
        "lifecycleState": "ACTIVE",
        "inactiveStatus": null,
        "freeformTags": {},
        "definedTags": {},
        "capabilities": {
            "canUseConsolePassword": true,
            "canUseApiKeys": true,
            "canUseAuthTokens": true,
            "canUseSmtpCredentials": true,
            "canUseDbCredentials": true,
            "canUseCustomerSecretKeys": true,
            "canUseOAuth2ClientCredentials": true
        },
        "isMfaActivated": false,
        "lastSuccessfulLoginTime": null,
        "previousSuccessfulLoginTime": null
    })
}

/// `GET /20160918/users/{id}`.
async fn get_user(
    State(app): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let v = app.store.read(|d| {
        d.users
            .iter()
            .find(|u| u.id == id)
            .map(|u| user_json(u, &d.tenancy.id))
    });
    let v = v.ok_or_else(ApiError::not_found)?;
    let mut resp = json_response(StatusCode::OK, &v);
    if let Ok(e) = axum::http::HeaderValue::from_str(&crate::state::ids::etag()) {
        resp.headers_mut().insert("etag", e);
    }
    Ok(resp)
}

/// `GET /20160918/users/{id}/apiKeys`.
async fn list_api_keys(
    State(app): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let v = app.store.read(|d| {
        let u = d.users.iter().find(|u| u.id == id)?;
        let keys: Vec<Value> = u
            .api_keys
            .iter()
            .map(|k| {
                json!({
                    "keyId": format!("{}/{}/{}", d.tenancy.id, u.id, k.fingerprint),
                    "keyValue": k.key_value,
                    "fingerprint": k.fingerprint,
                    "userId": u.id,
                    "timeCreated": rfc3339(k.time_created),
                    "lifecycleState": "ACTIVE",
                    "inactiveStatus": null
                })
            })
            .collect();
        Some(Value::Array(keys))
    });
    let v = v.ok_or_else(ApiError::not_found)?;
    Ok(json_response(StatusCode::OK, &v))
}

/// `GET /20160918/tenancies/{id}`.
async fn get_tenancy(
    State(app): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let v = app.store.read(|d| {
        (d.tenancy.id == id).then(|| {
            json!({
                "id": d.tenancy.id,
                "name": d.tenancy.name,
                "description": "emulator tenancy",
                "homeRegionKey": "IAD",
                "upiIdcsCompatibilityLayerEndpoint": null,
                "freeformTags": {},
                "definedTags": {}
            })
        })
    });
    let v = v.ok_or_else(ApiError::not_found)?;
    Ok(json_response(StatusCode::OK, &v))
}
