//! Fault injection and the emulator's admin API, for tests of retries, circuit breakers and
//! error handling ("federation 5xx twice then success", "429 with Retry-After", "slow answers",
//! "malformed token").
//!
//! A [`Fault`] matches requests by path prefix (and optionally method). While it has uses left,
//! a matching request is delayed by `delayMs`, then — when `status` is set or `malformed` is
//! true — answered by the injector instead of the service: `status` (default 200 when only
//! `malformed`), `Retry-After` when given, and `body` (default: an OCI error JSON for the status;
//! with `malformed`: text that is not JSON). Without `status`/`malformed` the request goes on to
//! the service after the delay. Faults are tried in the order they were added; the first match
//! with uses left takes the request. The admin paths and `/health` are never faulted.
//!
//! Admin API (loopback clients only; anyone else gets 403):
//!
//! | Request | Effect |
//! |---|---|
//! | `POST /_emulator/faults` with a fault object or an array of them | add; `201 {"ids":[…]}` |
//! | `GET /_emulator/faults` | the active faults with their remaining uses and hits |
//! | `DELETE /_emulator/faults` | remove all |
//! | `POST /_emulator/instances/{name}/rotate-cert` (body `{"certTenant":…}` optional) | new leaf certificate and key |
//! | `PUT /_emulator/instances/{name}/current` | make it the instance `/opc/v2` answers for |
//!
//! Fault JSON: `{"pathPrefix":"/v1/x509","method":"POST","status":503,"count":2,"delayMs":0,
//! "retryAfter":1,"body":"…","contentType":"…","malformed":false}`; `count` defaults to 1, and 0
//! means "until removed".

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path as UrlPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::server::{ApiError, AppState, json_response};

/// Prefix of the admin API.
pub const ADMIN_PREFIX: &str = "/_emulator/";

/// The body a `malformed` fault sends.
pub const MALFORMED_BODY: &str = "<<oci-emulator: injected malformed response>>";

fn one() -> u32 {
    1
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// Requests whose path starts with this (e.g. `/v1/x509`, `/opc/v2/identity/`).
    pub path_prefix: String,
    /// Only requests with this method (any case); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Answer with this status instead of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How many requests it affects; 0: until removed.
    #[serde(default = "one")]
    pub count: u32,
    /// Wait this long first.
    #[serde(default)]
    pub delay_ms: u64,
    /// `Retry-After` (seconds) on the injected answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Body of the injected answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Content type of the injected answer (default `application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Answer with a body that is not JSON (status 200 unless `status` says otherwise).
    #[serde(default)]
    pub malformed: bool,
}

impl Fault {
    fn new(path_prefix: &str) -> Self {
        Fault {
            path_prefix: path_prefix.to_string(),
            method: None,
            status: None,
            count: 1,
            delay_ms: 0,
            retry_after: None,
            body: None,
            content_type: None,
            malformed: false,
        }
    }
    /// Answer `status` (with an OCI error body) once.
    pub fn status(path_prefix: &str, status: u16) -> Self {
        Fault {
            status: Some(status),
            ..Fault::new(path_prefix)
        }
    }
    /// Delay matching requests by `ms`, then let the service answer.
    pub fn delay(path_prefix: &str, ms: u64) -> Self {
        Fault {
            delay_ms: ms,
            ..Fault::new(path_prefix)
        }
    }
    /// Answer 200 with a body that is not JSON.
    pub fn malformed(path_prefix: &str) -> Self {
        Fault {
            malformed: true,
            ..Fault::new(path_prefix)
        }
    }
    /// Answer `status` with exactly `body` (JSON content type).
    pub fn body(path_prefix: &str, status: u16, body: &str) -> Self {
        Fault {
            status: Some(status),
            body: Some(body.to_string()),
            ..Fault::new(path_prefix)
        }
    }
    /// Affect `n` requests (0: until removed).
    pub fn times(mut self, n: u32) -> Self {
        self.count = n;
        self
    }
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_string());
        self
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    pub fn with_delay(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }

    fn validate(&self) -> Result<(), String> {
        if !self.path_prefix.starts_with('/') {
            return Err(format!(
                "pathPrefix {:?} must start with '/'",
                self.path_prefix
            ));
        }
        if let Some(s) = self.status
            && !(100..=599).contains(&s)
        {
            return Err(format!("status {s} is not an HTTP status (100-599)"));
        }
        if self.delay_ms > 600_000 {
            return Err("delayMs must be at most 600000".into());
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        path.starts_with(&self.path_prefix)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// A fault with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveFault {
    pub id: u64,
    #[serde(flatten)]
    pub fault: Fault,
    /// Uses left (`None`: unlimited).
    pub remaining: Option<u32>,
    /// Requests it has affected so far.
    pub hits: u32,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    active: Vec<ActiveFault>,
}

/// The fault table.
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<Inner>,
}

impl Faults {
    /// Add a fault; returns its id.
    pub fn add(&self, fault: Fault) -> Result<u64, String> {
        fault.validate()?;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.next_id += 1;
        let id = inner.next_id;
        let remaining = (fault.count > 0).then_some(fault.count);
        inner.active.push(ActiveFault {
            id,
            fault,
            remaining,
            hits: 0,
        });
        Ok(id)
    }

    /// Remove every fault.
    pub fn clear(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .active
            .clear();
    }

    /// The faults with uses left.
    pub fn list(&self) -> Vec<ActiveFault> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .active
            .clone()
    }

    /// Take one use of the first fault matching the request.
    fn take(&self, method: &str, path: &str) -> Option<Fault> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let idx = inner
            .active
            .iter()
            .position(|a| a.remaining != Some(0) && a.fault.matches(method, path))?;
        let a = &mut inner.active[idx];
        a.hits += 1;
        if let Some(r) = &mut a.remaining {
            *r -= 1;
        }
        let fault = a.fault.clone();
        inner.active.retain(|a| a.remaining != Some(0));
        Some(fault)
    }
}

fn error_code(status: u16) -> &'static str {
    match status {
        400 => "InvalidParameter",
        401 => "NotAuthenticated",
        404 => "NotAuthorizedOrNotFound",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "InjectedFault",
    }
}

fn injected_response(f: &Fault) -> Response {
    let status = f.status.unwrap_or(200);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if f.malformed {
        f.body.clone().unwrap_or_else(|| MALFORMED_BODY.to_string())
    } else {
        f.body.clone().unwrap_or_else(|| {
            json!({
                "code": error_code(status),
                "message": format!("Injected fault: HTTP {status} from the oci-emulator fault injector."),
            })
            .to_string()
        })
    };
    let ctype = f
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or(HeaderValue::from_static("application/json"));
    let mut resp = (code, [(header::CONTENT_TYPE, ctype)], body).into_response();
    if let Some(s) = f.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The middleware that applies faults (installed on every router of the emulator).
pub(crate) async fn inject(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with(ADMIN_PREFIX) || path == "/health" {
        return next.run(req).await;
    }
    let Some(f) = app.faults.take(req.method().as_str(), path) else {
        return next.run(req).await;
    };
    if f.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
    }
    if f.status.is_some() || f.malformed {
        injected_response(&f)
    } else {
        next.run(req).await
    }
}

/// Refuse admin requests that do not come from a loopback address.
async fn loopback_only(req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match peer {
        Some(ip) if ip.is_loopback() => next.run(req).await,
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The emulator's admin API answers loopback clients only.",
        )
        .into_response(),
    }
}

pub(crate) fn admin_routes(_app: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/_emulator/faults",
            post(add_faults).get(list_faults).delete(clear_faults),
        )
        .route("/_emulator/instances/{name}/rotate-cert", post(rotate_cert))
        .route("/_emulator/instances/{name}/current", put(set_current))
        .route_layer(axum::middleware::from_fn(loopback_only))
}

async fn add_faults(State(app): State<AppState>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::bad_request(format!("Body is not JSON: {e}")).into_response(),
    };
    let list: Vec<Value> = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut faults = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        match serde_json::from_value::<Fault>(item) {
            Ok(f) => match f.validate() {
                Ok(()) => faults.push(f),
                Err(e) => {
                    return ApiError::bad_request(format!("fault [{i}]: {e}")).into_response();
                }
            },
            Err(e) => {
                return ApiError::bad_request(format!("fault [{i}]: {e}")).into_response();
            }
        }
    }
    let mut ids = Vec::with_capacity(faults.len());
    for f in faults {
        match app.faults.add(f) {
            Ok(id) => ids.push(id),
            Err(e) => return ApiError::bad_request(e).into_response(),
        }
    }
    json_response(StatusCode::CREATED, &json!({ "ids": ids }))
}

async fn list_faults(State(app): State<AppState>) -> Response {
    json_response(StatusCode::OK, &json!({ "faults": app.faults.list() }))
}

async fn clear_faults(State(app): State<AppState>) -> StatusCode {
    app.faults.clear();
    StatusCode::NO_CONTENT
}

async fn rotate_cert(
    State(app): State<AppState>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Response {
    let cert_tenant = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v
                .get("certTenant")
                .and_then(|t| t.as_str())
                .map(str::to_string),
            Err(e) => {
                return ApiError::bad_request(format!("Body is not JSON: {e}")).into_response();
            }
        }
    };
    let p = app.principals.clone();
    let out =
        tokio::task::spawn_blocking(move || p.rotate_cert(&name, cert_tenant.as_deref())).await;
    match out {
        Ok(Ok(id)) => json_response(
            StatusCode::OK,
            &json!({
                "certificate": id.cert_pem,
                "sha1Fingerprint": crate::certs::fingerprint(&id.leaf.der, false),
            }),
        ),
        Ok(Err(crate::principals::PrincipalsError::Unknown { .. })) => {
            ApiError::not_found().into_response()
        }
        Ok(Err(e)) => ApiError::internal(e).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

async fn set_current(State(app): State<AppState>, UrlPath(name): UrlPath<String>) -> Response {
    match app.principals.set_current_instance(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(crate::principals::PrincipalsError::Unknown { .. }) => {
            ApiError::not_found().into_response()
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_and_matching() {
        let f = Faults::default();
        f.add(Fault::status("/v1/x509", 503).times(2)).unwrap();
        f.add(Fault::delay("/v1", 5).times(0)).unwrap();
        assert_eq!(f.take("POST", "/n").map(|x| x.status), None);
        assert_eq!(f.take("POST", "/v1/x509").and_then(|x| x.status), Some(503));
        assert_eq!(f.take("post", "/v1/x509").and_then(|x| x.status), Some(503));
        // The 503 is used up; the unlimited delay takes over.
        let next = f.take("POST", "/v1/x509").unwrap();
        assert_eq!((next.status, next.delay_ms), (None, 5));
        assert_eq!(f.list().len(), 1);
        assert!(f.add(Fault::status("v1", 503)).is_err());
        assert!(f.add(Fault::status("/v1", 700)).is_err());
        f.clear();
        assert!(f.list().is_empty());
    }

    #[test]
    fn json_form() {
        let f: Fault = serde_json::from_str(
            r#"{"pathPrefix":"/v1/x509","status":429,"retryAfter":1,"count":2}"#,
        )
        .unwrap();
        assert_eq!(f, Fault::status("/v1/x509", 429).retry_after(1).times(2));
        assert!(serde_json::from_str::<Fault>(r#"{"pathPrefix":"/","bogus":1}"#).is_err());
    }
}
