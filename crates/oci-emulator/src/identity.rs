//! Identity (`/20160918`): the region list, users, their API keys, the tenancy.

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::server::{ApiError, AppState, guard, json_response};
use crate::state::{User, rfc3339};
use crate::verify::{BodyMode, SigningPolicy};

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

/// `GET /20160918/regions`: `[{"key": "IAD", "name": "us-ashburn-1"}, …]`, the SDK's built-in
/// regions ([`ociauth::regions::all_regions`], in its order) of the realm the emulator's region
/// belongs to, as OCI lists the regions of its own realm (all realms if the emulator's region is
/// not a built-in one). Any caller that authenticates may list them, with an API key or an `ST$`
/// token (`oci session validate` calls this).
async fn list_regions(State(app): State<AppState>) -> Response {
    let realm = ociauth::regions::builtin_region(&app.store.region()).map(|r| r.realm_key);
    let list: Vec<Value> = ociauth::regions::all_regions()
        .iter()
        .filter(|r| realm.as_ref().is_none_or(|k| &r.realm_key == k))
        .map(|r| json!({ "key": r.key, "name": r.name }))
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
