//! The login and auth services: where user session tokens (UPSTs) come from (spec
//! oci-signing-config-session.md §4.1, §4.2, §4.4, §6).
//!
//! | Route | Who calls it | Authentication |
//! |---|---|---|
//! | `GET /v1/oauth2/authorize?action=login&…&public_key=…&redirect_uri=…` | the browser opened by `oci session authenticate` | none: it serves an HTML login page |
//! | `POST /v1/oauth2/authorize` | that page's form | the user name and password of an emulator user |
//! | `POST /v1/authentication/refresh` | `oci session refresh` | signed with `ST$<the token being refreshed>` |
//! | `POST /v1/token/upst/actions/GenerateUpst` | `oci session authenticate --no-browser` | an API key (or a user's `ST$` token) |
//!
//! OCI serves these on two hosts, `login.{region}.{domain}` and `auth.{region}.{domain}`; the
//! emulator serves them on its one base URL next to Object Storage and Identity (the paths do
//! not collide).
//!
//! Every token is issued by the [`TokenAuthority`](crate::tokens::TokenAuthority): an RS256 JWT
//! with `sub` (the user OCID), `tenant`, `ptype: "user"`, `iat`, `exp`, `sess_exp` and the
//! session's public key in the `jwk` claim, so the verifier accepts an `ST$` request only when
//! it is signed with that key. Lifetimes come from
//! [`TokenLifetimes`](crate::tokens::TokenLifetimes): `session` (default 60 min) for each token,
//! `session_max` (default 24 h) from login to `sess_exp`.
//!
//! Choices where OCI's behaviour is not observable (**\[I\]**):
//! - **redirect_uri.** OCI redirects only to the redirect URI registered for the client. The
//!   emulator accepts any `http`/`https` URI on a loopback host — `localhost`, `127.0.0.1` or
//!   `[::1]`, any port, any path, no user info, no fragment — since that is where the CLI's
//!   local callback listens (`http://localhost:8181`). Anything else is a 400 page, so the
//!   login page cannot be used to send tokens to another machine.
//! - **Success.** `302 Location: <redirect_uri>#security_token=<UPST>`: the token travels in the
//!   fragment, which the browser keeps to itself; the CLI's callback page relays it (§4.1 step 7).
//! - **tenant.** When the authorize request names a tenancy (`--tenancy-name`), it must be the
//!   emulator's tenancy name or OCID (any case); otherwise a 400 page says which one exists.
//! - **Login failures** show the page again with status 401 and one message for both an unknown
//!   user and a wrong password; nothing is issued. There is no lockout or rate limit (a local
//!   test tool). Unknown users cost the same password hashing as known ones.
//! - **Refresh** (§4.4): the request must be signed with `ST$<token>` where `<token>` equals the
//!   body's `currentToken`; that token must be this emulator's, a user token (`ptype: "user"`)
//!   with a `sess_exp`, still valid (`now <= exp`, checked by the verifier) and `now < sess_exp`.
//!   The new token has a new `iat`, `exp` and `jti`, the same `sub`, `tenant`, `sess_exp`, bound
//!   key and other claims, and `exp <= sess_exp`. Anything else is the standard 401
//!   NotAuthenticated. A body that is not JSON or lacks `currentToken` is a 400.
//! - **GenerateUpst** (§4.2): `sessionExpirationInMinutes` is a JSON string or integer from 5 to
//!   60 (60 when absent); the token lives that long, or `TokenLifetimes::session` when that is
//!   shorter (so a test can make every token expire quickly). `sess_exp` is `session_max` from
//!   now. Only users may call it (an API key or a user's `ST$` token); other principals get 404
//!   NotAuthorizedOrNotFound.
//! - **Passwords** are stored as salted PBKDF2-HMAC-SHA256 hashes ([`PasswordHash`]).

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ociauth::jwt::{self, RsaJwk};
use ociauth::keys::PublicKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::server::{ApiError, AppState, guard, json_response};
use crate::tokens::TokenRequest;
use crate::verify::{
    AuthMethod, AuthNote, BodyMode, Principal, Rejection, SigningPolicy, collect_capped,
    unauthenticated,
};

/// The login page and its form target.
pub const AUTHORIZE_PATH: &str = "/v1/oauth2/authorize";
/// `oci session refresh`.
pub const REFRESH_PATH: &str = "/v1/authentication/refresh";
/// `oci session authenticate --no-browser`.
pub const GENERATE_UPST_PATH: &str = "/v1/token/upst/actions/GenerateUpst";

/// Largest login form or query the login service reads.
const MAX_FORM_BYTES: u64 = 64 * 1024;
/// `sessionExpirationInMinutes` bounds (CLI: `OCI_CLI_UPST_TOKEN_MIN_TTL`/`MAX_TTL`).
const MIN_UPST_MINUTES: u64 = 5;
const MAX_UPST_MINUTES: u64 = 60;

pub(crate) fn routes(app: &AppState) -> Router<AppState> {
    let standard = || guard(app, SigningPolicy::STANDARD, BodyMode::Buffer);
    Router::new()
        .route(AUTHORIZE_PATH, get(login_page).post(login_submit))
        .route(REFRESH_PATH, post(refresh).route_layer(standard()))
        .route(
            GENERATE_UPST_PATH,
            post(generate_upst).route_layer(standard()),
        )
}

// ---------------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------------

/// The one algorithm [`PasswordHash`] writes.
pub const PASSWORD_ALGORITHM: &str = "pbkdf2-hmac-sha256";
/// PBKDF2 iterations for new hashes. Each record stores its own count, so this can grow.
/// (Modest for a local test tool, where every login and test start pays for it.)
pub const PASSWORD_ITERATIONS: u32 = 100_000;
/// Longest accepted password, in bytes.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A console password as stored in `state.json`: PBKDF2-HMAC-SHA256 over a random 16-byte salt,
/// 32-byte output, both base64. `Debug` shows neither salt nor hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordHash {
    pub algorithm: String,
    pub iterations: u32,
    pub salt: String,
    pub hash: String,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHash")
            .field("algorithm", &self.algorithm)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why a password cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty; choose a non-empty password")]
    Empty,
    #[error("the password is longer than {MAX_PASSWORD_LEN} bytes; choose a shorter one")]
    TooLong,
    #[error(
        "the password contains a control character (a line break?); use printable characters only"
    )]
    ControlCharacter,
    #[error("cannot get random bytes for the password salt")]
    Random,
}

fn pbkdf2_alg() -> aws_lc_rs::pbkdf2::Algorithm {
    aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256
}

/// Check what [`PasswordHash::new`] and the CLI accept as a password.
pub fn check_password_text(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordError::ControlCharacter);
    }
    Ok(())
}

impl PasswordHash {
    /// Hash `password` with a fresh random salt.
    pub fn new(password: &str) -> Result<Self, PasswordError> {
        check_password_text(password)?;
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError::Random)?;
        let iterations = NonZeroU32::new(PASSWORD_ITERATIONS).ok_or(PasswordError::Random)?;
        let mut out = [0u8; 32];
        aws_lc_rs::pbkdf2::derive(
            pbkdf2_alg(),
            iterations,
            &salt,
            password.as_bytes(),
            &mut out,
        );
        Ok(Self {
            algorithm: PASSWORD_ALGORITHM.to_string(),
            iterations: iterations.get(),
            salt: B64.encode(salt),
            hash: B64.encode(out),
        })
    }

    /// Whether `password` matches (constant time in the hash comparison). A record this build
    /// cannot read never matches.
    pub fn verify(&self, password: &str) -> bool {
        if self.algorithm != PASSWORD_ALGORITHM || password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        let (Some(iterations), Ok(salt), Ok(hash)) = (
            NonZeroU32::new(self.iterations),
            B64.decode(&self.salt),
            B64.decode(&self.hash),
        ) else {
            return false;
        };
        if hash.is_empty() || hash.len() > 64 {
            return false;
        }
        aws_lc_rs::pbkdf2::verify(pbkdf2_alg(), iterations, &salt, password.as_bytes(), &hash)
            .is_ok()
    }
}

/// A random password for a new user: 20 characters of base64url (120 bits).
pub fn generate_password() -> Result<String, PasswordError> {
    let mut bytes = [0u8; 15];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PasswordError::Random)?;
    Ok(jwt::b64url_encode(&bytes))
}

/// Hash work for an unknown user name, so that it takes as long as a wrong password.
fn burn_password_time(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<PasswordHash>> = std::sync::OnceLock::new();
    if let Some(h) = DUMMY.get_or_init(|| PasswordHash::new("dummy-password").ok()) {
        let _ = h.verify(password);
    }
}

// ---------------------------------------------------------------------------------------------
// Login page
// ---------------------------------------------------------------------------------------------

/// `&`, `<`, `>`, `"` and `'` as HTML entities.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A login request whose `public_key` and `redirect_uri` are usable.
struct LoginRequest {
    /// Everything the authorize URL carried (the form's hidden fields).
    params: Vec<(String, String)>,
    session_key: PublicKey,
    redirect_uri: String,
}

/// Check the authorize parameters; `Err` is the message for the 400 page.
fn parse_login_request(
    mut params: Vec<(String, String)>,
    tenancy: (&str, &str),
) -> Result<LoginRequest, String> {
    // Credentials come only from the visible fields, never from the URL.
    params.retain(|(k, _)| k != "username" && k != "password");
    let start_hint = "Start the login with `oci session authenticate`, or open the URL it prints \
                      with its https://login.… prefix replaced by this emulator's base URL.";
    let public_key = match param(&params, "public_key") {
        None | Some("") => {
            return Err(format!(
                "The request has no public_key parameter (the session's public key, a \
                 base64url-encoded RSA JWK). {start_hint}"
            ));
        }
        Some(p) => p,
    };
    let session_key = jwt::b64url_decode(public_key.trim())
        .ok_or_else(|| "The public_key parameter is not base64url.".to_string())
        .and_then(|bytes| {
            serde_json::from_slice::<Value>(&bytes)
                .map_err(|_| "The public_key parameter does not decode to JSON.".to_string())
        })
        .and_then(|v| {
            RsaJwk::from_json(&v)
                .and_then(|j| j.public_key())
                .map_err(|e| format!("The public_key parameter is not an RSA public key: {e}."))
        })?;

    let redirect_uri = match param(&params, "redirect_uri") {
        None | Some("") => {
            return Err(format!(
                "The request has no redirect_uri parameter (where to send the token, e.g. \
                 http://localhost:8181). {start_hint}"
            ));
        }
        Some(r) => r.to_string(),
    };
    check_redirect_uri(&redirect_uri)?;

    if let Some(t) = param(&params, "tenant").filter(|t| !t.is_empty()) {
        let (name, id) = tenancy;
        if !t.eq_ignore_ascii_case(name) && !t.eq_ignore_ascii_case(id) {
            return Err(format!(
                "Unknown tenancy \u{201c}{t}\u{201d}: this emulator has one tenancy, \
                 \u{201c}{name}\u{201d}. Omit --tenancy-name or pass that name."
            ));
        }
    }
    Ok(LoginRequest {
        params,
        session_key,
        redirect_uri,
    })
}

/// Only loopback callbacks: see the module documentation.
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let not_allowed = |why: &str| {
        format!(
            "The redirect_uri \u{201c}{uri}\u{201d} is not allowed: {why}. This emulator sends \
             tokens only to a local callback: http://localhost:PORT, http://127.0.0.1:PORT or \
             http://[::1]:PORT (any port and path)."
        )
    };
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(not_allowed("it contains spaces or non-ASCII characters"));
    }
    let url = url::Url::parse(uri).map_err(|e| not_allowed(&format!("it is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(not_allowed("its scheme is not http or https"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    };
    if !loopback {
        return Err(not_allowed("its host is not a loopback address"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(not_allowed("it carries user information"));
    }
    if url.fragment().is_some() {
        return Err(not_allowed(
            "it has a fragment (the token is sent in the fragment)",
        ));
    }
    Ok(())
}

const PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f4;color:#1a1a1a}\
main{max-width:26rem;margin:3rem auto;padding:2rem;background:#fff;border:1px solid #ccc;border-radius:6px}\
h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600;margin:1rem 0 .3rem}\
input[type=text],input[type=password]{box-sizing:border-box;width:100%;padding:.5rem;font-size:1rem;border:1px solid #767676;border-radius:4px}\
button{margin-top:1.2rem;padding:.6rem 1.4rem;font-size:1rem;background:#0b57a4;color:#fff;border:0;border-radius:4px;cursor:pointer}\
button:focus,input:focus{outline:3px solid #f0a500;outline-offset:1px}\
.error{padding:.7rem;background:#fdecea;border:1px solid #b3261e;color:#7a1410;border-radius:4px}\
.note{font-size:.85rem;color:#555}";

/// What the login page shows.
struct Page<'a> {
    status: StatusCode,
    tenancy_name: &'a str,
    /// The hidden fields; `None`: no form (the request itself is unusable).
    form: Option<&'a [(String, String)]>,
    username: &'a str,
    error: Option<&'a str>,
}

fn render(p: &Page<'_>) -> Response {
    let mut html = String::with_capacity(4096);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str("<title>Sign in - OCI emulator</title>\n<style>");
    html.push_str(PAGE_STYLE);
    html.push_str("</style>\n</head>\n<body>\n<main>\n<h1>Sign in to the OCI emulator</h1>\n");
    html.push_str(&format!(
        "<p>Tenancy: <strong>{}</strong></p>\n",
        html_escape(p.tenancy_name)
    ));
    if let Some(e) = p.error {
        html.push_str(&format!(
            "<p id=\"error\" class=\"error\" role=\"alert\">{}</p>\n",
            html_escape(e)
        ));
    }
    if let Some(hidden) = p.form {
        let invalid = if p.error.is_some() {
            " aria-invalid=\"true\" aria-describedby=\"error\""
        } else {
            ""
        };
        html.push_str(&format!(
            "<form method=\"post\" action=\"{AUTHORIZE_PATH}\">\n"
        ));
        for (k, v) in hidden {
            html.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                html_escape(k),
                html_escape(v)
            ));
        }
        html.push_str(&format!(
            "<label for=\"username\">User name</label>\n\
             <input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" \
             autocapitalize=\"none\" spellcheck=\"false\" required autofocus value=\"{}\"{invalid}>\n\
             <label for=\"password\">Password</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\" required{invalid}>\n\
             <button id=\"submit\" type=\"submit\">Sign in</button>\n</form>\n",
            html_escape(p.username)
        ));
        html.push_str(
            "<p class=\"note\">The emulator's first user and its password are in the state \
             directory's <code>credentials.txt</code>. After sign-in your browser returns to the \
             command line's local callback with a session token.</p>\n",
        );
    }
    html.push_str("</main>\n</body>\n</html>\n");
    let mut resp = (p.status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    page_security_headers(h);
    resp
}

/// No caching, no framing, no referrer, nothing loaded from elsewhere.
fn page_security_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn tenancy_of(app: &AppState) -> (String, String) {
    app.store
        .read(|d| (d.tenancy.name.clone(), d.tenancy.id.clone()))
}

fn with_reason(mut resp: Response, reason: String) -> Response {
    resp.extensions_mut().insert(AuthNote {
        key_id: None,
        reason: Some(reason),
    });
    resp
}

/// `GET /v1/oauth2/authorize`: the login page (or a 400 page naming what is wrong).
async fn login_page(State(app): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let (tenancy_name, tenancy_id) = tenancy_of(&app);
    let query = query.unwrap_or_default();
    if query.len() as u64 > MAX_FORM_BYTES {
        return render(&Page {
            status: StatusCode::BAD_REQUEST,
            tenancy_name: &tenancy_name,
            form: None,
            username: "",
            error: Some("The request's query is too long."),
        });
    }
    match parse_login_request(parse_form(query.as_bytes()), (&tenancy_name, &tenancy_id)) {
        Ok(req) => render(&Page {
            status: StatusCode::OK,
            tenancy_name: &tenancy_name,
            form: Some(&req.params),
            username: "",
            error: None,
        }),
        Err(msg) => render(&Page {
            status: StatusCode::BAD_REQUEST,
            tenancy_name: &tenancy_name,
            form: None,
            username: "",
            error: Some(&msg),
        }),
    }
}

/// `POST /v1/oauth2/authorize`: check the credentials, issue the UPST, redirect to the callback.
async fn login_submit(State(app): State<AppState>, req: Request) -> Response {
    let (tenancy_name, tenancy_id) = tenancy_of(&app);
    let bad = |status: StatusCode, msg: &str| {
        render(&Page {
            status,
            tenancy_name: &tenancy_name,
            form: None,
            username: "",
            error: Some(msg),
        })
    };
    let body = match collect_capped(req.into_body(), MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return bad(
                StatusCode::BAD_REQUEST,
                &format!("Cannot read the form: {e}."),
            );
        }
    };
    let mut params = parse_form(&body);
    let take = |params: &mut Vec<(String, String)>, name: &str| -> String {
        let mut first = None;
        params.retain(|(k, v)| {
            if k == name {
                if first.is_none() {
                    first = Some(v.clone());
                }
                false
            } else {
                true
            }
        });
        first.unwrap_or_default()
    };
    let username = take(&mut params, "username");
    let password = zeroize::Zeroizing::new(take(&mut params, "password"));
    let login = match parse_login_request(params, (&tenancy_name, &tenancy_id)) {
        Ok(l) => l,
        Err(msg) => return bad(StatusCode::BAD_REQUEST, &msg),
    };

    // Users and passwords may have been changed by `oci-emulator set-password` meanwhile.
    if let Err(e) = app.store.reload_if_changed() {
        tracing::warn!("cannot reload the emulator state: {e}");
    }
    let user = app.store.read(|d| {
        d.users
            .iter()
            .find(|u| u.name == username)
            .map(|u| (u.id.clone(), u.password.clone()))
    });
    let user_id = match user {
        Some((id, Some(hash))) if hash.verify(&password) => id,
        other => {
            if other.is_none() {
                burn_password_time(&password);
            }
            let shown: String = username.chars().take(64).collect();
            let reason = match other {
                None => format!("console login: no user {shown:?}"),
                Some((_, None)) => format!("console login: user {shown:?} has no password"),
                Some(_) => format!("console login: wrong password for {shown:?}"),
            };
            let page = render(&Page {
                status: StatusCode::UNAUTHORIZED,
                tenancy_name: &tenancy_name,
                form: Some(&login.params),
                username: &username,
                error: Some("The user name or password is incorrect."),
            });
            return with_reason(page, reason);
        }
    };

    let now = app.clock.now();
    let lifetimes = app.tokens.lifetimes;
    let mut extra = Map::new();
    extra.insert("ttype".into(), json!("login"));
    let request = TokenRequest {
        ptype: "user".into(),
        subject: user_id,
        tenancy: tenancy_id.clone(),
        lifetime: lifetimes.session,
        session_end: Some(now + lifetimes.session_max),
        extra,
    };
    let token = match app.tokens.issue(&request, &login.session_key) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("cannot issue a session token: {e}");
            return bad(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The emulator could not issue a session token; see its log.",
            );
        }
    };
    let location = format!("{}#security_token={token}", login.redirect_uri);
    let Ok(location) = HeaderValue::from_str(&location) else {
        return bad(
            StatusCode::BAD_REQUEST,
            "The redirect_uri cannot be used in a Location header.",
        );
    };
    let mut resp = (StatusCode::FOUND, Body::empty()).into_response();
    resp.headers_mut().insert(header::LOCATION, location);
    page_security_headers(resp.headers_mut());
    resp
}

// ---------------------------------------------------------------------------------------------
// Refresh and GenerateUpst
// ---------------------------------------------------------------------------------------------

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn refused(reason: impl Into<String>) -> Response {
    unauthenticated(Rejection {
        reason: reason.into(),
        key_id: None,
    })
}

/// The token after `ST$` in the request's (already verified) `keyId`.
fn signing_token(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let params = ociauth::signer::parse_authorization(auth).ok()?;
    params.key_id.strip_prefix("ST$").map(str::to_string)
}

fn json_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
    }
}

/// Claims [`crate::tokens::TokenAuthority::issue`] writes itself; the rest carry over on refresh.
const ISSUER_CLAIMS: &[&str] = &[
    "sub", "tenant", "ptype", "iss", "aud", "iat", "exp", "jti", "jwk", "sess_exp",
];

/// `POST /v1/authentication/refresh` `{"currentToken": "<token>"}` → `{"token": "<new>"}`.
async fn refresh(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match json_body(&body) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let current = match fields.get("currentToken") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return ApiError::bad_request("currentToken must be a string (the session token).")
                .into_response();
        }
        None => return ApiError::missing("currentToken").into_response(),
    };
    let Some(signing) = signing_token(&headers) else {
        return refused("refresh must be signed with the session token (keyId ST$<token>)");
    };
    if signing != current {
        return refused("currentToken differs from the token that signed the refresh request");
    }
    let now = app.clock.now();
    // The verifier checked signature, expiry and possession; check again here because a
    // custom TokenVerifier may be installed, and read the claims.
    let (old, bound_key) = match app.tokens.check(&current, now) {
        Ok(x) => x,
        Err(why) => return refused(format!("cannot refresh: {why}")),
    };
    if old.claim_str("ptype") != Some("user") {
        return refused("cannot refresh: not a user session token");
    }
    let Some(sess_exp) = old.sess_exp() else {
        return refused("cannot refresh: the token has no sess_exp");
    };
    if epoch(now) >= epoch(sess_exp) {
        return refused(format!(
            "cannot refresh: the session ended {} s ago (sess_exp)",
            epoch(now) - epoch(sess_exp)
        ));
    }
    let extra: Map<String, Value> = old
        .claims()
        .iter()
        .filter(|(k, _)| !ISSUER_CLAIMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let request = TokenRequest {
        ptype: "user".into(),
        subject: old.sub().unwrap_or_default().to_string(),
        tenancy: old.claim_str("tenant").unwrap_or_default().to_string(),
        lifetime: app.tokens.lifetimes.session,
        session_end: Some(sess_exp),
        extra,
    };
    match app.tokens.issue(&request, &bound_key) {
        Ok(token) => json_response(StatusCode::OK, &json!({ "token": token })),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// `sessionExpirationInMinutes`: a string or an integer, 5 to 60.
fn upst_minutes(v: Option<&Value>) -> Result<u64, ApiError> {
    let bad = |shown: String| {
        ApiError::bad_request(format!(
            "sessionExpirationInMinutes must be a whole number of minutes from \
             {MIN_UPST_MINUTES} to {MAX_UPST_MINUTES} (a JSON string or integer); got {shown}."
        ))
    };
    let minutes = match v {
        None | Some(Value::Null) => return Ok(MAX_UPST_MINUTES),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad(n.to_string()))?,
        Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| bad(format!("{s:?}")))?,
        Some(other) => return Err(bad(other.to_string())),
    };
    if !(MIN_UPST_MINUTES..=MAX_UPST_MINUTES).contains(&minutes) {
        return Err(bad(minutes.to_string()));
    }
    Ok(minutes)
}

/// `POST /v1/token/upst/actions/GenerateUpst`
/// `{"publicKey": "<PEM>", "sessionExpirationInMinutes": "30"}` → `{"token": "<UPST>"}`.
async fn generate_upst(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = json_body(&body)?;
    let pem = match fields.get("publicKey") {
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(ApiError::bad_request(
                "publicKey must be a string: the session's public key as PEM.",
            ));
        }
        None => return Err(ApiError::missing("publicKey")),
    };
    let key = PublicKey::from_pem(pem.as_bytes()).map_err(|e| {
        ApiError::bad_request(format!(
            "publicKey is not a usable RSA public key ({e}); send a \
             -----BEGIN PUBLIC KEY----- PEM."
        ))
    })?;
    let minutes = upst_minutes(fields.get("sessionExpirationInMinutes"))?;

    let is_user = match &principal.method {
        AuthMethod::ApiKey { .. } => true,
        AuthMethod::SessionToken { kind } => kind == "user",
        // Instance certificates and resource keys are not users: no UPST for them.
        AuthMethod::Certificate { .. } | AuthMethod::ResourceKey { .. } => false,
    };
    let known = app.store.read(|d| {
        d.tenancy.id == principal.tenancy_id
            && d.users.iter().any(|u| u.id == principal.principal_id)
    });
    if !is_user || !known {
        return Err(ApiError::not_found());
    }
    let now = app.clock.now();
    let lifetimes = app.tokens.lifetimes;
    let request = TokenRequest {
        ptype: "user".into(),
        subject: principal.principal_id.clone(),
        tenancy: principal.tenancy_id.clone(),
        lifetime: Duration::from_secs(minutes * 60).min(lifetimes.session),
        session_end: Some(now + lifetimes.session_max),
        extra: Map::new(),
    };
    let token = app
        .tokens
        .issue(&request, &key)
        .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, &json!({ "token": token })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = PasswordHash::new("correct horse").unwrap();
        assert_eq!(h.algorithm, PASSWORD_ALGORITHM);
        assert_eq!(h.iterations, PASSWORD_ITERATIONS);
        assert!(h.verify("correct horse"));
        assert!(!h.verify("correct horsE"));
        assert!(!h.verify(""));
        // Fresh salt each time.
        let h2 = PasswordHash::new("correct horse").unwrap();
        assert_ne!(h.salt, h2.salt);
        assert_ne!(h.hash, h2.hash);
        // Debug shows neither.
        let dbg = format!("{h:?}");
        assert!(!dbg.contains(&h.hash) && !dbg.contains(&h.salt), "{dbg}");
        // Unreadable records never match.
        let mut bad = h.clone();
        bad.iterations = 0;
        assert!(!bad.verify("correct horse"));
        let mut bad = h.clone();
        bad.algorithm = "md5".into();
        assert!(!bad.verify("correct horse"));
        let mut bad = h;
        bad.hash = String::new();
        assert!(!bad.verify("correct horse"));
    }

    #[test]
    fn password_text_rules() {
        assert_eq!(PasswordHash::new("").unwrap_err(), PasswordError::Empty);
        assert_eq!(
            PasswordHash::new("a\nb").unwrap_err(),
            PasswordError::ControlCharacter
        );
        assert_eq!(
            PasswordHash::new(&"x".repeat(MAX_PASSWORD_LEN + 1)).unwrap_err(),
            PasswordError::TooLong
        );
        let p = generate_password().unwrap();
        assert_eq!(p.len(), 20);
        assert!(
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn redirect_uris() {
        for ok in [
            "http://localhost:8181",
            "http://localhost:8181/",
            "http://LOCALHOST:1/cb?x=1",
            "http://127.0.0.1:8181",
            "https://127.0.0.1",
            "http://[::1]:9000/x",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://example.com:8181", "not a loopback"),
            ("http://127.0.0.2:8181", "not a loopback"),
            ("http://localhost.example.com", "not a loopback"),
            ("http://user@localhost:8181", "user information"),
            ("http://localhost:8181/#x", "fragment"),
            ("ftp://localhost", "scheme"),
            ("localhost:8181", "scheme"),
            ("not a url", "spaces"),
            ("/relative", "not a URL"),
        ] {
            let e = check_redirect_uri(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn minutes() {
        assert_eq!(upst_minutes(Some(&json!("30"))).unwrap(), 30);
        assert_eq!(upst_minutes(Some(&json!(30))).unwrap(), 30);
        assert_eq!(upst_minutes(Some(&json!(5))).unwrap(), 5);
        assert_eq!(upst_minutes(Some(&json!("60"))).unwrap(), 60);
        assert_eq!(upst_minutes(None).unwrap(), 60);
        for bad in [
            json!(4),
            json!("61"),
            json!(-5),
            json!(30.5),
            json!("x"),
            json!(true),
        ] {
            let e = upst_minutes(Some(&bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.message.contains("from 5 to 60"), "{}", e.message);
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
