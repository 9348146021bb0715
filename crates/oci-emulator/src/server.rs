//! The HTTP server: shared application state, the router built from one module per service,
//! the envelope every response gets (`opc-request-id`, `Date` from the injected clock, one log
//! line per request), OCI-shaped error responses, and the unauthenticated probes.
//!
//! Adding a service (session tokens, IMDS, X.509 federation, resource principals, an identity
//! domain, an OKE proxy) means one module with a `routes(&AppState) -> Router<AppState>` function
//! merged in [`router`], guarding its routes with [`guard`] and the right [`SigningPolicy`], and,
//! for `ST$` tokens, a [`crate::verify::TokenVerifier`] installed on the [`Verifier`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, head};
use ociauth::env::Clock;

use crate::state::{State as Store, ids};
use crate::verify::{AuthNote, Authn, BodyMode, SigningPolicy, Verifier, authenticate};

/// Where request log lines go.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Body size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body read into memory (JSON APIs). Default 16 MiB.
    pub max_buffered_body: u64,
    /// Largest streamed body (PutObject). Default 1 GiB.
    pub max_stream_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_buffered_body: 16 << 20,
            max_stream_body: 1 << 30,
        }
    }
}

/// Everything handlers share.
pub struct App {
    pub store: Arc<Store>,
    pub verifier: Verifier,
    /// Issues and verifies the emulator's `ST$` tokens.
    pub tokens: Arc<crate::tokens::TokenAuthority>,
    /// The identity domain (token exchange, OAuth apps, trusts).
    pub domain: Arc<crate::identity_domain::IdentityDomain>,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    pub log: LogSink,
    /// Instances, resources and OKE clusters (instance/resource principals, workload identity).
    pub principals: Arc<crate::principals::Principals>,
    /// Injected faults (tests).
    pub faults: Arc<crate::faults::Faults>,
}

pub type AppState = Arc<App>;

/// An OCI error response: `{"code": …, "message": …}` with a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// OCI's generic 404 message (API errors table: NotAuthorizedOrNotFound).
pub const NOT_FOUND_MESSAGE: &str = "Authorization failed or requested resource not found.";

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 404 `NotAuthorizedOrNotFound` with OCI's message.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotAuthorizedOrNotFound",
            NOT_FOUND_MESSAGE,
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }
    pub fn missing(param: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("The required parameter '{param}' is missing."),
        )
    }
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body exceeds the emulator's limit of {limit} bytes."),
        )
    }
    pub fn internal(context: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Internal error in the emulator; see its log.",
        )
    }
}

impl From<crate::state::StateError> for ApiError {
    fn from(e: crate::state::StateError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        json_response(self.status, &body)
    }
}

/// A JSON response with `Content-Type: application/json`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// The boxed future of the signature-checking middleware.
type AuthFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;
/// The signature-checking middleware as a plain function pointer (nameable, cloneable).
type AuthFn = fn(State<Authn>, Request, Next) -> AuthFuture;
/// The layer [`guard`] returns.
pub(crate) type GuardLayer = axum::middleware::FromFnLayer<AuthFn, Authn, (State<Authn>, Request)>;

/// A middleware layer that verifies signatures with `policy` (apply with `route_layer`).
pub(crate) fn guard(app: &AppState, policy: SigningPolicy, body: BodyMode) -> GuardLayer {
    fn call(s: State<Authn>, r: Request, n: Next) -> AuthFuture {
        Box::pin(authenticate(s, r, n))
    }
    from_fn_with_state(
        Authn {
            app: app.clone(),
            policy,
            body,
            resolver: None,
        },
        call as AuthFn,
    )
}

/// [`guard`] with a route-specific key lookup tried before the generic rules.
pub(crate) fn guard_with(
    app: &AppState,
    policy: SigningPolicy,
    body: BodyMode,
    resolver: Arc<crate::verify::KeyResolver>,
) -> GuardLayer {
    fn call(s: State<Authn>, r: Request, n: Next) -> AuthFuture {
        Box::pin(authenticate(s, r, n))
    }
    from_fn_with_state(
        Authn {
            app: app.clone(),
            policy,
            body,
            resolver: Some(resolver),
        },
        call as AuthFn,
    )
}

/// The full router: every service module plus the probes and the envelope.
pub fn router(app: AppState) -> Router {
    let fallback_guard = guard(&app, SigningPolicy::STANDARD, BodyMode::Buffer);
    Router::new()
        .merge(crate::object_storage::routes(&app))
        .merge(crate::identity::routes(&app))
        .merge(crate::auth::routes(&app))
        .merge(crate::identity_domain::routes(&app))
        .merge(crate::imds::routes(&app))
        .merge(crate::federation::routes(&app))
        .merge(crate::resource_principal::routes(&app))
        .merge(crate::faults::admin_routes(&app))
        .route("/health", get(health))
        // The CLI's clock-skew probe after a 401: `HEAD <endpoint>`, unauthenticated.
        .route("/", head(date_probe))
        .route("/20160918", head(date_probe))
        // Unknown paths need a valid signature too, then answer 404 (as OCI does).
        .fallback(axum::handler::Handler::layer(not_found, fallback_guard))
        .layer(from_fn_with_state(app.clone(), crate::faults::inject))
        .layer(from_fn_with_state(app.clone(), envelope))
        .with_state(app)
}

/// A router for another listener (the OKE proxymux) with the same fault injection and envelope.
pub(crate) fn finish(router: Router<AppState>, app: AppState) -> Router {
    router
        .layer(from_fn_with_state(app.clone(), crate::faults::inject))
        .layer(from_fn_with_state(app.clone(), envelope))
        .with_state(app)
}

async fn health() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn date_probe() -> StatusCode {
    StatusCode::OK
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Every response: `opc-request-id`, the client's `opc-client-request-id` echoed, `Date` from the
/// emulator clock; then one log line.
async fn envelope(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client_id = req.headers().get("opc-client-request-id").cloned();
    let request_id = ids::request_id();
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("opc-request-id", v);
    }
    if let Some(c) = client_id {
        h.insert("opc-client-request-id", c);
    }
    if !h.contains_key(header::DATE)
        && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(app.clock.now()))
    {
        h.insert(header::DATE, v);
    }
    let note = resp
        .extensions()
        .get::<AuthNote>()
        .cloned()
        .unwrap_or_default();
    let mut line = format!(
        "{} {} {} key={}",
        method,
        path,
        resp.status().as_u16(),
        note.key_id
            .as_deref()
            .map(|k| format!("{k:?}"))
            .unwrap_or_else(|| "-".to_string())
    );
    if let Some(reason) = note.reason {
        line.push_str(&format!(" reason={reason:?}"));
    }
    line.push_str(&format!(" opc-request-id={request_id}"));
    (app.log)(&line);
    resp
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Connection info lets the admin API refuse non-loopback clients.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `http://addr`.
pub fn base_url(addr: &SocketAddr) -> String {
    format!("http://{addr}")
}
