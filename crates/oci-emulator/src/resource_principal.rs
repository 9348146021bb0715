//! Resource principals (spec oci-principals-wif.md §3): the resource principal token (RPT)
//! services and the resource principal session token (RPST) endpoint, plus minting of RP 2.2
//! token files.
//!
//! | Flavour | RPT request (signed with) | then |
//! |---|---|---|
//! | 1.1 | `GET /20180711/resourcePrincipalToken/{id}` (`ST$` instance-principal token of the resource's host instance; `{id}` is the instance OCID, or the resource OCID) | RPST |
//! | 2.1 / 2.1.1 | `GET /20180711/resourcePrincipalTokenV2/{id}` (`resource/v2.1/<id>` or `resource/v2.1.1/<tenancy>/<id>`, the resource's own key) | RPST |
//! | 2.1.2 | `GET /20180711/resourcePrincipalTokenV212/{id}` (`resource/v2.1.2/<tenancy>/<id>`; `security-context` header accepted) | RPST |
//! | 3.0 | `GET /20180711/resourcePrincipalTokenForParent/{parent OCID}`, or `GET /` for "my parent" (`ST$` RPST of a child of that parent); answers `opc-parent-rpt-url` (the first form, for the grandparent) when the parent has a parent itself | RPST for the parent |
//!
//! RP 3.0 and the Python SDK 2.189.0: its `BaseClient` refuses an endpoint with a path, so
//! `OCI_RESOURCE_PRINCIPAL_RPT_URL_FOR_PARENT_RESOURCE` must be `http://127.0.0.1:PORT` there
//! (answered by `GET /`), and a second nesting level (whose URL has a path) cannot be followed
//! by that SDK.
//! | 2.2 | none: [`mint_rp22`] / `oci-emulator mint-rpst` writes the RPST and its private key to files | — |
//!
//! Every RPT request answers `{"resourcePrincipalToken","servicePrincipalSessionToken"}`: two
//! opaque tokens (JWTs signed with the emulator's internal key, valid 10 minutes, unusable as
//! `ST$` tokens). `POST /v1/resourcePrincipalSessionToken`
//! `{"resourcePrincipalToken","servicePrincipalSessionToken","sessionPublicKey"}`, signed by the
//! same caller, returns `{"token": <RPST>}` bound to `sessionPublicKey`. The RPST carries the
//! claims of spec §3.6: `ptype: resource`, `sub`/`res_id`, `res_type`, `res_tenant`,
//! `res_compartment`, `res_tag`, `ttype: res`, `opc-tenant`, `opc-compartment` and, for 1.1,
//! `opc-instance`.
//!
//! Refusals: a caller that is not the resource's host instance / the resource itself / a child
//! of the parent gets 404 `NotAuthorizedOrNotFound`; bad or expired RPT/SPST, or an SPST fetched
//! by another caller, 401 `NotAuthenticated`; malformed bodies 400.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ociauth::jwt;
use ociauth::keys::{PrivateKey, PublicKey};
use serde_json::{Map, Value, json};

use crate::certs;
use crate::principals::{Instance, Principals, PrincipalsError, Resource};
use crate::server::{ApiError, AppState, guard_with, json_response};
use crate::tokens::{TokenAuthority, TokenRequest};
use crate::verify::{
    AuthMethod, BodyMode, KeyResolver, Principal, Rejection, ResolvedKey, SigningPolicy,
    unauthenticated,
};

/// Lifetime of the intermediate RPT and SPST.
pub const RPT_LIFETIME: Duration = Duration::from_secs(600);
/// Response header naming the next parent's RPT URL (RP 3.0).
pub const PARENT_RPT_HEADER: &str = "opc-parent-rpt-url";

pub(crate) fn routes(app: &AppState) -> Router<AppState> {
    let resolver = resource_key_resolver(app.principals.clone());
    let g = || {
        guard_with(
            app,
            SigningPolicy::STANDARD,
            BodyMode::Buffer,
            resolver.clone(),
        )
    };
    Router::new()
        .route(
            "/20180711/resourcePrincipalToken/{id}",
            get(rpt_v11).route_layer(g()),
        )
        .route(
            "/20180711/resourcePrincipalTokenV2/{id}",
            get(rpt_v21).route_layer(g()),
        )
        .route(
            "/20180711/resourcePrincipalTokenV212/{id}",
            get(rpt_v21).route_layer(g()),
        )
        .route(
            "/20180711/resourcePrincipalTokenForParent/{id}",
            get(rpt_parent).route_layer(g()),
        )
        // The Python SDK (2.189.0) refuses an RPT URL with a path for the parent of an RP 3.0
        // chain: it requests `GET /` of that URL's host, so the root answers for the caller's
        // parent too.
        .route("/", get(rpt_parent_root).route_layer(g()))
        .route(
            "/v1/resourcePrincipalSessionToken",
            post(rpst).route_layer(g()),
        )
}

/// Accepts `resource/v2.1/<id>`, `resource/v2.1.1/<tenancy>/<id>` and
/// `resource/v2.1.2/<tenancy>/<id>`, with the resource's registered key.
pub fn resource_key_resolver(p: Arc<Principals>) -> Arc<KeyResolver> {
    Arc::new(move |key_id: &str, _now: SystemTime| {
        let rest = key_id.strip_prefix("resource/")?;
        let Some((version, rest)) = rest.split_once('/') else {
            return Some(Err("resource key id has no version".into()));
        };
        let tenancy = p.state().tenancy_id();
        let id = match version {
            "v2.1" => rest,
            "v2.1.1" | "v2.1.2" => match rest.split_once('/') {
                Some((t, id)) if t == tenancy => id,
                Some((t, _)) => {
                    return Some(Err(format!(
                        "resource key id names tenancy {t}, not this emulator's"
                    )));
                }
                None => return Some(Err(format!("{version} key id lacks the tenancy"))),
            },
            other => {
                return Some(Err(format!(
                    "resource key id version {other:?} is not v2.1, v2.1.1 or v2.1.2"
                )));
            }
        };
        let Some(res) = p.resource(id).filter(|r| r.id == id) else {
            return Some(Err(format!("no resource {id}")));
        };
        let key = match PublicKey::from_pem(res.public_key.as_bytes()) {
            Ok(k) => k,
            Err(e) => return Some(Err(format!("stored key of {id} does not parse: {e}"))),
        };
        Some(Ok(ResolvedKey {
            public_key: key,
            principal: Principal {
                tenancy_id: tenancy,
                principal_id: res.id.clone(),
                method: AuthMethod::ResourceKey {
                    key_id: key_id.to_string(),
                },
            },
            required_headers: Vec::new(),
        }))
    })
}

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn session_kind(p: &Principal) -> Option<&str> {
    match &p.method {
        AuthMethod::SessionToken { kind } => Some(kind.as_str()),
        _ => None,
    }
}

/// The RPT + SPST answer for `res`, fetched by `caller`.
fn rpt_answer(
    app: &AppState,
    res: &Resource,
    caller: &Principal,
    flavour: &str,
    host: Option<&Instance>,
) -> Result<Response, ApiError> {
    let key = app.principals.internal_key().map_err(ApiError::internal)?;
    let now = app.clock.now();
    let exp = now + RPT_LIFETIME;
    let mut rpt = json!({
        "ttype": "rpt",
        "res_id": res.id,
        "flavour": flavour,
        "iat": epoch(now),
        "exp": epoch(exp),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let (Some(h), Some(o)) = (host, rpt.as_object_mut()) {
        o.insert("host_instance".into(), json!(h.id));
    }
    let spst = json!({
        "ttype": "spst",
        "sub": caller.principal_id,
        "res_id": res.id,
        "iat": epoch(now),
        "exp": epoch(exp),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let rpt = jwt::sign_rs256(&Value::Null, &rpt, &key).map_err(ApiError::internal)?;
    let spst = jwt::sign_rs256(&Value::Null, &spst, &key).map_err(ApiError::internal)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"resourcePrincipalToken": rpt, "servicePrincipalSessionToken": spst}),
    ))
}

async fn rpt_v11(
    State(app): State<AppState>,
    Extension(caller): Extension<Principal>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    if session_kind(&caller) != Some("instance") {
        return ApiError::not_found().into_response();
    }
    let Some(inst) = app
        .principals
        .instance(&caller.principal_id)
        .filter(|i| i.id == caller.principal_id)
    else {
        return ApiError::not_found().into_response();
    };
    let hosted = |r: &Resource| r.instance.as_deref() == Some(inst.name.as_str());
    let resources = app.principals.resources();
    let res = resources
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(&id) && hosted(r))
        .or_else(|| {
            inst.id
                .eq_ignore_ascii_case(&id)
                .then(|| resources.iter().find(|r| hosted(r)))
                .flatten()
        });
    match res {
        Some(r) => rpt_answer(&app, r, &caller, "1.1", Some(&inst))
            .unwrap_or_else(IntoResponse::into_response),
        None => ApiError::not_found().into_response(),
    }
}

async fn rpt_v21(
    State(app): State<AppState>,
    Extension(caller): Extension<Principal>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    if !matches!(caller.method, AuthMethod::ResourceKey { .. }) || caller.principal_id != id {
        return ApiError::not_found().into_response();
    }
    match app.principals.resource(&id).filter(|r| r.id == id) {
        Some(r) => {
            rpt_answer(&app, &r, &caller, "2.1", None).unwrap_or_else(IntoResponse::into_response)
        }
        None => ApiError::not_found().into_response(),
    }
}

async fn rpt_parent(
    State(app): State<AppState>,
    Extension(caller): Extension<Principal>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    parent_answer(&app, &caller, Some(&id), &headers)
}

async fn rpt_parent_root(
    State(app): State<AppState>,
    Extension(caller): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    parent_answer(&app, &caller, None, &headers)
}

/// RPT of the caller's parent; `id` (when given) must name that parent.
fn parent_answer(
    app: &AppState,
    caller: &Principal,
    id: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    if session_kind(caller) != Some("resource") {
        return ApiError::not_found().into_response();
    }
    let Some(child) = app.principals.resource(&caller.principal_id) else {
        return ApiError::not_found().into_response();
    };
    let parent = match id {
        Some(id) => app.principals.resource(id).filter(|r| r.id == id),
        None => child
            .parent
            .as_deref()
            .and_then(|p| app.principals.resource(p)),
    };
    let Some(parent) = parent else {
        return ApiError::not_found().into_response();
    };
    if child.parent.as_deref() != Some(parent.name.as_str()) {
        return ApiError::not_found().into_response();
    }
    let mut resp = match rpt_answer(app, &parent, caller, "3.0", None) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Some(gp) = parent
        .parent
        .as_deref()
        .and_then(|g| app.principals.resource(g))
    {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let url = format!(
            "http://{host}/20180711/resourcePrincipalTokenForParent/{}",
            gp.id
        );
        if let Ok(v) = HeaderValue::from_str(&url) {
            resp.headers_mut().insert(PARENT_RPT_HEADER, v);
        }
    }
    resp
}

/// Verify one of the emulator's opaque tokens.
fn check_opaque(
    key: &PrivateKey,
    token: &str,
    ttype: &str,
    now: SystemTime,
) -> Result<jwt::Jwt, String> {
    let public = PublicKey::from(key);
    let t = jwt::verify_rs256(token, &public)
        .map_err(|e| format!("{ttype} not issued by this emulator ({e})"))?;
    if t.claim_str("ttype") != Some(ttype) {
        return Err(format!("token is not an {ttype}"));
    }
    match t.exp() {
        Some(exp) if exp >= epoch(now) => Ok(t),
        Some(exp) => Err(format!("{ttype} expired {} s ago", epoch(now) - exp)),
        None => Err(format!("{ttype} has no exp")),
    }
}

async fn rpst(
    State(app): State<AppState>,
    Extension(caller): Extension<Principal>,
    body: Bytes,
) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::bad_request(format!("The request body is not valid JSON: {e}"))
                .into_response();
        }
    };
    let field = |name: &'static str| -> Result<String, ApiError> {
        match v.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            None | Some(Value::Null) => Err(ApiError::missing(name)),
            Some(_) => Err(ApiError::bad_request(format!("'{name}' must be a string."))),
        }
    };
    let (rpt, spst, pk) = match (
        field("resourcePrincipalToken"),
        field("servicePrincipalSessionToken"),
        field("sessionPublicKey"),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e.into_response(),
    };
    let Some(session_key) =
        certs::decode_posted(&pk).and_then(|d| PublicKey::from_spki_der(&d).ok())
    else {
        return ApiError::bad_request(
            "'sessionPublicKey' must be an RSA public key (base64 DER SubjectPublicKeyInfo).",
        )
        .into_response();
    };
    let key = match app.principals.internal_key() {
        Ok(k) => k,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let now = app.clock.now();
    let reject = |reason: String| {
        unauthenticated(Rejection {
            reason,
            key_id: None,
        })
    };
    let rpt = match check_opaque(&key, &rpt, "rpt", now) {
        Ok(t) => t,
        Err(why) => return reject(why),
    };
    let spst = match check_opaque(&key, &spst, "spst", now) {
        Ok(t) => t,
        Err(why) => return reject(why),
    };
    if spst.sub() != Some(caller.principal_id.as_str()) {
        return reject("the service principal session token was fetched by another caller".into());
    }
    if spst.claim_str("res_id") != rpt.claim_str("res_id") {
        return reject("the RPT and the SPST name different resources".into());
    }
    let res_id = rpt.claim_str("res_id").unwrap_or_default();
    let Some(res) = app.principals.resource(res_id).filter(|r| r.id == res_id) else {
        return reject(format!("the RPT names an unknown resource {res_id}"));
    };
    let host = rpt
        .claim_str("host_instance")
        .and_then(|h| app.principals.instance(h));
    let request = rpst_request(
        &app.principals,
        &res,
        host.as_ref(),
        app.tokens.lifetimes.principal,
    );
    match app.tokens.issue(&request, &session_key) {
        Ok(token) => json_response(StatusCode::OK, &json!({ "token": token })),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// What an RPST for `res` says (spec §3.6); `host` is the instance of an RP 1.1 resource.
pub fn rpst_request(
    p: &Principals,
    res: &Resource,
    host: Option<&Instance>,
    lifetime: Duration,
) -> TokenRequest {
    let tenancy = p.state().tenancy_id();
    let mut extra = Map::new();
    extra.insert("res_type".into(), json!(res.resource_type));
    extra.insert("res_id".into(), json!(res.id));
    extra.insert("res_tenant".into(), json!(tenancy));
    extra.insert("res_compartment".into(), json!(res.compartment_id));
    extra.insert("res_tag".into(), json!(""));
    extra.insert("ttype".into(), json!("res"));
    extra.insert("opc-tenant".into(), json!(tenancy));
    match host {
        Some(h) => {
            extra.insert("opc-compartment".into(), json!(h.compartment_id));
            extra.insert("opc-instance".into(), json!(h.id));
        }
        None => {
            extra.insert("opc-compartment".into(), json!(res.compartment_id));
        }
    }
    TokenRequest {
        ptype: "resource".to_string(),
        subject: res.id.clone(),
        tenancy,
        lifetime,
        session_end: None,
        extra,
    }
}

/// The files of an RP 2.2 environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rp22Files {
    /// File holding the RPST.
    pub rpst_path: PathBuf,
    /// File holding the private key (PKCS#8 PEM, unencrypted).
    pub key_path: PathBuf,
    /// `OCI_RESOURCE_PRINCIPAL_REGION` (region identifier).
    pub region: String,
    pub resource_id: String,
}

/// POSIX shell quoting: `'…'`, with `'` as `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Rp22Files {
    /// The variables the SDKs read, as `(name, value)` pairs.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("OCI_RESOURCE_PRINCIPAL_VERSION".into(), "2.2".into()),
            (
                "OCI_RESOURCE_PRINCIPAL_RPST".into(),
                self.rpst_path.to_string_lossy().into_owned(),
            ),
            (
                "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM".into(),
                self.key_path.to_string_lossy().into_owned(),
            ),
            ("OCI_RESOURCE_PRINCIPAL_REGION".into(), self.region.clone()),
        ]
    }
    /// `export NAME=value` lines.
    pub fn exports(&self) -> String {
        self.env()
            .into_iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(&v)))
            .collect()
    }
}

/// Mint an RPST for `resource` bound to a fresh key, and write both where an RP 2.2 platform
/// would inject them: `out_dir/rpst` and `out_dir/private.pem` (default
/// `DIR/resources/<name>/rp22/`), mode 0600. `lifetime` defaults to `lifetimes.principal`.
pub fn mint_rp22(
    p: &Principals,
    tokens: &TokenAuthority,
    resource: &str,
    out_dir: Option<&Path>,
    lifetime: Option<Duration>,
) -> Result<Rp22Files, PrincipalsError> {
    let res = p
        .resource(resource)
        .ok_or_else(|| PrincipalsError::Unknown {
            kind: "resource",
            name: resource.to_string(),
        })?;
    let dir = match out_dir {
        Some(d) => d.to_path_buf(),
        None => p
            .state()
            .dir()
            .join("resources")
            .join(&res.name)
            .join("rp22"),
    };
    let key = PrivateKey::generate()?;
    let request = rpst_request(
        p,
        &res,
        None,
        lifetime.unwrap_or(tokens.lifetimes.principal),
    );
    let token = tokens
        .issue(&request, &PublicKey::from(&key))
        .map_err(PrincipalsError::Token)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PrincipalsError::Io { path, source }
    };
    ociauth::fsutil::create_private_dir(&dir).map_err(io(&dir))?;
    let dir = dir.canonicalize().map_err(io(&dir))?;
    let rpst_path = dir.join("rpst");
    let key_path = dir.join("private.pem");
    let pem = key.to_pkcs8_pem(None)?;
    ociauth::fsutil::write_private_atomic(&key_path, pem.as_bytes()).map_err(io(&key_path))?;
    ociauth::fsutil::write_private_atomic(&rpst_path, token.as_bytes()).map_err(io(&rpst_path))?;
    Ok(Rp22Files {
        rpst_path,
        key_path,
        region: res.region.clone(),
        resource_id: res.id,
    })
}
