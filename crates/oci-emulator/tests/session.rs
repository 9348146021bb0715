//! User session tokens: the login page, refresh, GenerateUpst, token lifetimes, passwords.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use oci_emulator::{EmulatorConfig, TokenLifetimes, TokenRequest};
use ociauth::env::ManualClock;
use ociauth::jwt::{self, RsaJwk};
use ociauth::keys::{PrivateKey, PublicKey};
use serde_json::{Value, json};

const REDIRECT: &str = "http://localhost:8181";

/// `(user, password)` from `DIR/credentials.txt`.
fn credentials(h: &Harness) -> (String, String) {
    let text = std::fs::read_to_string(h.emu.state_dir().join("credentials.txt")).unwrap();
    (config_value(&text, "user"), config_value(&text, "password"))
}

fn user_id(h: &Harness) -> String {
    h.key_id.split('/').nth(1).unwrap().to_string()
}

/// The CLI's `public_key` parameter: the JWK as Python's `json.dumps` writes it, base64url with
/// padding (spec §4.1 step 4).
fn jwk_param(key: &PrivateKey) -> String {
    use base64::Engine as _;
    let jwk = RsaJwk::from_private_key(key, None).unwrap();
    let text = format!(
        r#"{{"kty": "RSA", "n": "{}", "e": "{}", "kid": "Ignored"}}"#,
        jwk.n, jwk.e
    );
    base64::engine::general_purpose::URL_SAFE.encode(text)
}

/// The authorize parameters in the CLI's order.
fn authorize_params(key: &PrivateKey, redirect: &str) -> Vec<(String, String)> {
    [
        ("action", "login".to_string()),
        ("client_id", "iaas_console".to_string()),
        ("response_type", "token id_token".to_string()),
        ("nonce", "00000000-0000-4000-8000-000000000000".to_string()),
        ("scope", "openid".to_string()),
        ("public_key", jwk_param(key)),
        ("redirect_uri", redirect.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn encode(params: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// A client that does not follow redirects (the callback is not listening).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get_page(base: &str, params: &[(String, String)]) -> reqwest::Response {
    browser()
        .get(format!("{base}/v1/oauth2/authorize?{}", encode(params)))
        .send()
        .await
        .unwrap()
}

async fn post_form(
    base: &str,
    params: &[(String, String)],
    user: &str,
    password: &str,
) -> reqwest::Response {
    let mut all = params.to_vec();
    all.push(("username".into(), user.into()));
    all.push(("password".into(), password.into()));
    browser()
        .post(format!("{base}/v1/oauth2/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&all))
        .send()
        .await
        .unwrap()
}

/// Log in as the first user with a fresh session key; returns the UPST and the key.
async fn login(h: &Harness) -> (String, PrivateKey) {
    let key = PrivateKey::generate().unwrap();
    let (user, password) = credentials(h);
    let resp = post_form(
        &h.emu.base_url(),
        &authorize_params(&key, REDIRECT),
        &user,
        &password,
    )
    .await;
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let token = location
        .strip_prefix(&format!("{REDIRECT}#security_token="))
        .unwrap_or_else(|| panic!("{location}"))
        .to_string();
    (token, key)
}

fn claims(token: &str) -> serde_json::Map<String, Value> {
    jwt::decode_unverified(token).unwrap().claims().clone()
}

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn sess_exp(token: &str) -> i64 {
    epoch(jwt::decode_unverified(token).unwrap().sess_exp().unwrap())
}

/// A request signed with `ST$token` and `key`, dated `now`.
fn with_token<'a>(mut r: Req<'a>, token: &str, key: &PrivateKey, now: SystemTime) -> Req<'a> {
    r.key_id = Some(format!("ST${token}"));
    r.key = Some(key.clone());
    r.now = now;
    r
}

async fn refresh(
    h: &Harness,
    signing: &str,
    key: &PrivateKey,
    current: &str,
    now: SystemTime,
) -> reqwest::Response {
    let body = format!(r#"{{"currentToken": "{current}"}}"#);
    let r = Req::new("POST", "/v1/authentication/refresh")
        .header("content-type", "application/json")
        .body(body);
    h.send(with_token(r, signing, key, now)).await
}

async fn generate_upst(h: &Harness, r: Req<'_>) -> reqwest::Response {
    h.send(r).await
}

fn upst_req<'a>(key: &PrivateKey, minutes: Value) -> Req<'a> {
    let body = json!({"publicKey": key.public_key_pem(), "sessionExpirationInMinutes": minutes});
    Req::new("POST", "/v1/token/upst/actions/GenerateUpst")
        .header("content-type", "application/json")
        .body(body.to_string())
}

fn last_log(h: &Harness) -> String {
    h.log_lines().last().cloned().unwrap_or_default()
}

fn manual_harness_cfg(
    clock: &ManualClock,
    lifetimes: TokenLifetimes,
) -> impl FnOnce(EmulatorConfig) -> EmulatorConfig {
    let clock = clock.clone();
    move |c| c.clock(Arc::new(clock)).token_lifetimes(lifetimes)
}

// ---------------------------------------------------------------------------------------------
// Login page
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn login_page_is_a_plain_accessible_form() {
    let h = harness().await;
    let key = PrivateKey::generate().unwrap();
    let params = authorize_params(&key, REDIRECT);
    let resp = get_page(&h.emu.base_url(), &params).await;
    assert_eq!(resp.status(), 200);
    let hd = resp.headers().clone();
    assert_eq!(hd["content-type"], "text/html; charset=utf-8");
    assert_eq!(hd["cache-control"], "no-store");
    assert!(
        hd["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(html.contains("<form method=\"post\" action=\"/v1/oauth2/authorize\">"));
    assert!(html.contains("<label for=\"username\">User name</label>"));
    assert!(html.contains("<input id=\"username\" name=\"username\" type=\"text\""));
    assert!(html.contains("<label for=\"password\">Password</label>"));
    assert!(html.contains("<input id=\"password\" name=\"password\" type=\"password\""));
    assert!(html.contains("<button id=\"submit\" type=\"submit\">Sign in</button>"));
    assert!(html.contains("Tenancy: <strong>emulator-tenancy</strong>"));
    // The query rides along in hidden fields, decoded (`+` is a space).
    for (k, v) in &params {
        let field = format!("<input type=\"hidden\" name=\"{k}\" value=\"{v}\">");
        assert!(html.contains(&field), "missing {field}");
    }
    assert!(html.contains("value=\"token id_token\""));
    // Nothing loaded from elsewhere, no script, no error shown.
    for banned in [
        "<script",
        "<link",
        "src=",
        "url(",
        "@import",
        "https://",
        "id=\"error\"",
    ] {
        assert!(!html.contains(banned), "{banned} in page");
    }
}

#[tokio::test]
async fn login_page_escapes_what_it_echoes() {
    let h = harness().await;
    let key = PrivateKey::generate().unwrap();
    let mut params = authorize_params(&key, REDIRECT);
    params[3].1 = "\"><script>alert(1)</script>".into();
    let html = get_page(&h.emu.base_url(), &params)
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>"));
    // Credentials in the URL are not carried into the form.
    params.push(("username".into(), "mallory".into()));
    params.push(("password".into(), "from-the-url".into()));
    let html = get_page(&h.emu.base_url(), &params)
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("mallory") && !html.contains("from-the-url"));
    assert!(
        html.contains("name=\"nonce\" value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\"")
    );
}

#[tokio::test]
async fn unusable_authorize_requests_get_a_400_page() {
    let h = harness().await;
    let base = h.emu.base_url();
    let key = PrivateKey::generate().unwrap();
    let (user, password) = credentials(&h);
    let good = authorize_params(&key, REDIRECT);
    let without = |name: &str| -> Vec<(String, String)> {
        good.iter().filter(|(k, _)| k != name).cloned().collect()
    };
    let replaced = |name: &str, value: &str| -> Vec<(String, String)> {
        good.iter()
            .map(|(k, v)| {
                if k == name {
                    (k.clone(), value.to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    };
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (
            without("public_key"),
            "The request has no public_key parameter",
        ),
        (
            replaced("public_key", "%%%"),
            "The public_key parameter is not base64url.",
        ),
        (
            replaced("public_key", "bm90IGpzb24"),
            "The public_key parameter does not decode to JSON.",
        ),
        (
            replaced("public_key", "eyJrdHkiOiAiRUMifQ"),
            r#"The public_key parameter is not an RSA public key: invalid JWK: "kty" is "EC"; only "RSA" keys are supported."#,
        ),
        (
            without("redirect_uri"),
            "The request has no redirect_uri parameter",
        ),
        (
            replaced("redirect_uri", "https://evil.example.com/cb"),
            "The redirect_uri \u{201c}https://evil.example.com/cb\u{201d} is not allowed: its host is not a loopback address.",
        ),
        (
            {
                let mut p = good.clone();
                p.push(("tenant".into(), "othertenancy".into()));
                p
            },
            "Unknown tenancy \u{201c}othertenancy\u{201d}: this emulator has one tenancy, \u{201c}emulator-tenancy\u{201d}.",
        ),
    ];
    for (params, message) in &cases {
        let esc = message.replace('"', "&quot;");
        let resp = get_page(&base, params).await;
        assert_eq!(resp.status(), 400, "{message}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("<p id=\"error\" class=\"error\" role=\"alert\">"));
        assert!(html.contains(&esc), "{message}\n{html}");
        assert!(!html.contains("<form"), "no form for an unusable request");
        // Posting it, even with the right password, issues nothing.
        let resp = post_form(&base, params, &user, &password).await;
        assert_eq!(resp.status(), 400, "{message}");
        assert!(resp.headers().get("location").is_none());
        assert!(resp.text().await.unwrap().contains(&esc));
    }
    // The tenant may be named by name or OCID, any case.
    let mut p = good.clone();
    p.push(("tenant".into(), "EMULATOR-tenancy".into()));
    assert_eq!(get_page(&base, &p).await.status(), 200);
    let mut p = good.clone();
    p.push(("tenant".into(), h.emu.state().tenancy_id()));
    assert_eq!(get_page(&base, &p).await.status(), 200);
    // Loopback callbacks on any port and path are fine.
    for r in [
        "http://127.0.0.1:9999/cb",
        "http://[::1]:8181",
        "http://localhost:1/",
    ] {
        assert_eq!(
            get_page(&base, &replaced("redirect_uri", r)).await.status(),
            200
        );
    }
}

#[tokio::test]
async fn wrong_password_shows_an_error_and_issues_nothing() {
    let h = harness().await;
    let base = h.emu.base_url();
    let key = PrivateKey::generate().unwrap();
    let params = authorize_params(&key, REDIRECT);
    let (user, password) = credentials(&h);
    for (u, p, reason) in [
        (
            user.as_str(),
            "wrong-password",
            "wrong password for \\\"emulator-user\\\"",
        ),
        ("nobody", password.as_str(), "no user \\\"nobody\\\""),
        ("", "", "no user \\\"\\\""),
    ] {
        let resp = post_form(&base, &params, u, p).await;
        assert_eq!(resp.status(), 401, "{u}");
        assert!(resp.headers().get("location").is_none());
        assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
        let html = resp.text().await.unwrap();
        assert!(html.contains(
            "<p id=\"error\" class=\"error\" role=\"alert\">The user name or password is incorrect.</p>"
        ));
        // The form again, with the user name kept, the password not, and the request intact.
        assert!(html.contains(&format!("id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus value=\"{u}\" aria-invalid=\"true\" aria-describedby=\"error\">")), "{html}");
        if !p.is_empty() {
            assert!(!html.contains(p));
        }
        assert!(html.contains(&format!(
            "<input type=\"hidden\" name=\"public_key\" value=\"{}\">",
            params[5].1
        )));
        assert!(!html.contains("security_token"));
        let log = last_log(&h);
        assert!(
            log.starts_with("POST /v1/oauth2/authorize 401 key=- reason=\"console login: "),
            "{log}"
        );
        assert!(log.contains(reason), "{log}");
        assert!(!log.contains(&password), "{log}");
    }
}

#[tokio::test]
async fn login_issues_a_bound_upst() {
    let h = harness().await;
    let before = epoch(SystemTime::now());
    let (token, key) = login(&h).await;
    let after = epoch(SystemTime::now());

    // Signed by the emulator (RS256, its key).
    let verified = jwt::verify_rs256(&token, h.emu.tokens().public_key()).unwrap();
    assert_eq!(verified.alg(), Some("RS256"));
    let c = claims(&token);
    assert_eq!(c["sub"], user_id(&h).as_str());
    assert_eq!(c["tenant"], h.emu.state().tenancy_id().as_str());
    assert_eq!(c["ptype"], "user");
    assert_eq!(c["ttype"], "login");
    let iat = c["iat"].as_i64().unwrap();
    assert!((before..=after).contains(&iat), "{iat}");
    assert_eq!(c["exp"].as_i64().unwrap(), iat + 3600);
    // sess_exp: Java date text, 24 h after login.
    let text = c["sess_exp"].as_str().unwrap();
    assert!(text.ends_with(" UTC"), "{text}");
    assert_eq!(sess_exp(&token), iat + 86400);
    // jwk: a JSON string holding the session key.
    let jwk: Value = serde_json::from_str(c["jwk"].as_str().unwrap()).unwrap();
    let bound = RsaJwk::from_json(&jwk).unwrap();
    let mine = RsaJwk::from_private_key(&key, None).unwrap();
    assert_eq!((bound.n, bound.e), (mine.n, mine.e));

    // Accepted with the session key, on Object Storage and on the region list (session validate).
    let now = SystemTime::now();
    let resp = h
        .send(with_token(Req::new("GET", "/n"), &token, &key, now))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), format!("\"{}\"", h.namespace()));
    let resp = h
        .send(with_token(
            Req::new("GET", "/20160918/regions"),
            &token,
            &key,
            now,
        ))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        json(resp)
            .await
            .as_array()
            .unwrap()
            .contains(&json!({"key": "IAD", "name": "us-ashburn-1"}))
    );
    // Not with another key.
    let other = PrivateKey::generate().unwrap();
    assert_401(
        h.send(with_token(Req::new("GET", "/n"), &token, &other, now))
            .await,
    )
    .await;
    assert!(last_log(&h).contains("signature does not verify"));
}

#[tokio::test]
async fn regions_are_the_sdk_list_of_the_realm() {
    let h = harness().await;
    let v = json(h.send(Req::new("GET", "/20160918/regions")).await).await;
    let expected: Vec<Value> = ociauth::regions::all_regions()
        .iter()
        .filter(|r| r.realm_key == "oc1")
        .map(|r| json!({"key": r.key, "name": r.name}))
        .collect();
    assert!(expected.len() > 40, "{}", expected.len());
    assert_eq!(v, Value::Array(expected));
    for item in v.as_array().unwrap() {
        assert_eq!(item.as_object().unwrap().len(), 2);
    }
}

// ---------------------------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_issues_a_new_token_with_the_same_session_and_key() {
    let clock = ManualClock::new(SystemTime::now());
    let h = harness_with(
        tempfile::tempdir().unwrap(),
        manual_harness_cfg(&clock, TokenLifetimes::default()),
    )
    .await;
    let (token, key) = login(&h).await;
    clock.advance(Duration::from_secs(600));
    let authority = h.emu.tokens().public_key();
    let now_t = {
        use ociauth::env::Clock as _;
        clock.now()
    };
    let resp = refresh(&h, &token, &key, &token, now_t).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v = json(resp).await;
    assert_eq!(v.as_object().unwrap().len(), 1);
    let new = v["token"].as_str().unwrap().to_string();
    assert_ne!(new, token);
    jwt::verify_rs256(&new, authority).unwrap();
    let (old_c, new_c) = (claims(&token), claims(&new));
    assert_eq!(new_c["iat"].as_i64().unwrap(), epoch(now_t));
    assert_eq!(new_c["exp"].as_i64().unwrap(), epoch(now_t) + 3600);
    assert_eq!(sess_exp(&new), sess_exp(&token));
    assert_eq!(new_c["sess_exp"], old_c["sess_exp"]);
    for same in ["jwk", "sub", "tenant", "ptype", "ttype"] {
        assert_eq!(new_c[same], old_c[same], "{same}");
    }
    assert_ne!(new_c["jti"], old_c["jti"]);
    // The new token works with the same key, and can be refreshed in turn.
    let resp = h
        .send(with_token(Req::new("GET", "/n"), &new, &key, now_t))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(refresh(&h, &new, &key, &new, now_t).await.status(), 200);
    // Refreshing does not revoke the old token (OCI keeps it valid until it expires).
    assert_eq!(
        h.send(with_token(Req::new("GET", "/n"), &token, &key, now_t))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn refresh_with_an_expired_token_is_401() {
    let clock = ManualClock::new(SystemTime::now());
    let h = harness_with(
        tempfile::tempdir().unwrap(),
        manual_harness_cfg(&clock, TokenLifetimes::default()),
    )
    .await;
    let (token, key) = login(&h).await;
    let exp = claims(&token)["exp"].as_i64().unwrap();
    // Still fine at exp itself (now <= exp) ...
    clock.set(UNIX_EPOCH + Duration::from_secs(exp as u64));
    let now = UNIX_EPOCH + Duration::from_secs(exp as u64);
    assert_eq!(refresh(&h, &token, &key, &token, now).await.status(), 200);
    // ... not a second later.
    let now = now + Duration::from_secs(1);
    clock.set(now);
    assert_401(refresh(&h, &token, &key, &token, now).await).await;
    assert!(
        last_log(&h).contains("token expired 1 s ago"),
        "{}",
        last_log(&h)
    );
}

#[tokio::test]
async fn refresh_past_sess_exp_is_401_and_exp_never_passes_it() {
    let clock = ManualClock::new(SystemTime::now());
    let lifetimes = TokenLifetimes {
        session: Duration::from_secs(3600),
        session_max: Duration::from_secs(5400),
        ..TokenLifetimes::default()
    };
    let h = harness_with(
        tempfile::tempdir().unwrap(),
        manual_harness_cfg(&clock, lifetimes),
    )
    .await;
    let (token, key) = login(&h).await;
    let iat = claims(&token)["iat"].as_i64().unwrap();
    let end = sess_exp(&token);
    assert_eq!(end, iat + 5400);

    // 50 minutes in: the refreshed token ends at sess_exp, not 60 minutes later.
    clock.advance(Duration::from_secs(3000));
    let now = {
        use ociauth::env::Clock as _;
        clock.now()
    };
    let resp = refresh(&h, &token, &key, &token, now).await;
    assert_eq!(resp.status(), 200);
    let new = json(resp).await["token"].as_str().unwrap().to_string();
    assert_eq!(claims(&new)["exp"].as_i64().unwrap(), end);
    assert_eq!(sess_exp(&new), end);

    // At sess_exp the token is still valid (now == exp) but the session is over.
    let at_end = UNIX_EPOCH + Duration::from_secs(end as u64);
    clock.set(at_end);
    let resp = h
        .send(with_token(Req::new("GET", "/n"), &new, &key, at_end))
        .await;
    assert_eq!(resp.status(), 200);
    assert_401(refresh(&h, &new, &key, &new, at_end).await).await;
    assert!(
        last_log(&h).contains("the session ended 0 s ago (sess_exp)"),
        "{}",
        last_log(&h)
    );
}

#[tokio::test]
async fn refresh_with_a_foreign_token_is_401() {
    let h = harness().await;
    let key = PrivateKey::generate().unwrap();
    let stranger = oci_emulator::TokenAuthority::with_key(
        PrivateKey::generate().unwrap(),
        Arc::new(ociauth::env::SystemClock),
    );
    let req = TokenRequest {
        ptype: "user".into(),
        subject: user_id(&h),
        tenancy: h.emu.state().tenancy_id(),
        lifetime: Duration::from_secs(3600),
        session_end: Some(SystemTime::now() + Duration::from_secs(86400)),
        extra: Default::default(),
    };
    let forged = stranger.issue(&req, &PublicKey::from(&key)).unwrap();
    assert_401(refresh(&h, &forged, &key, &forged, SystemTime::now()).await).await;
    assert!(last_log(&h).contains("not issued by this emulator"));
}

#[tokio::test]
async fn refresh_must_present_the_signing_token() {
    let h = harness().await;
    let (a, key_a) = login(&h).await;
    let (b, _key_b) = login(&h).await;
    let now = SystemTime::now();
    // Signed with A, asking for B.
    assert_401(refresh(&h, &a, &key_a, &b, now).await).await;
    assert!(
        last_log(&h).contains("currentToken differs from the token that signed"),
        "{}",
        last_log(&h)
    );
    // Signed with an API key.
    let body = format!(r#"{{"currentToken": "{a}"}}"#);
    let resp = h
        .send(
            Req::new("POST", "/v1/authentication/refresh")
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    assert_401(resp).await;
    assert!(last_log(&h).contains("must be signed with the session token"));
    // Unsigned.
    assert_401(
        h.send_raw(
            "POST",
            "/v1/authentication/refresh",
            &[],
            br#"{"currentToken": "x"}"#.to_vec(),
        )
        .await,
    )
    .await;
    // A token that is not a user session (no sess_exp, e.g. an instance principal's).
    let mut extra = serde_json::Map::new();
    extra.insert("opc-instance".into(), json!("ocid1.instance.oc1..x"));
    let inst = h
        .emu
        .tokens()
        .issue(
            &TokenRequest {
                ptype: "instance".into(),
                subject: "ocid1.instance.oc1..x".into(),
                tenancy: h.emu.state().tenancy_id(),
                lifetime: Duration::from_secs(600),
                session_end: None,
                extra,
            },
            &PublicKey::from(&key_a),
        )
        .unwrap();
    assert_401(refresh(&h, &inst, &key_a, &inst, now).await).await;
    assert!(last_log(&h).contains("not a user session token"));
    // Malformed bodies are 400s.
    for (body, code) in [
        ("not json", "InvalidParameter"),
        ("{}", "MissingParameter"),
        (r#"{"currentToken": 5}"#, "InvalidParameter"),
    ] {
        let r = Req::new("POST", "/v1/authentication/refresh")
            .header("content-type", "application/json")
            .body(body);
        let resp = h.send(with_token(r, &a, &key_a, now)).await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(json(resp).await["code"], code, "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// GenerateUpst
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn generate_upst_with_string_and_integer_minutes() {
    let h = harness().await;
    for minutes in [json!("30"), json!(30)] {
        let key = PrivateKey::generate().unwrap();
        let resp = generate_upst(&h, upst_req(&key, minutes.clone())).await;
        assert_eq!(resp.status(), 200, "{minutes}");
        let v = json(resp).await;
        assert_eq!(v.as_object().unwrap().len(), 1);
        let token = v["token"].as_str().unwrap().to_string();
        jwt::verify_rs256(&token, h.emu.tokens().public_key()).unwrap();
        let c = claims(&token);
        let iat = c["iat"].as_i64().unwrap();
        assert_eq!(c["exp"].as_i64().unwrap(), iat + 1800);
        assert_eq!(sess_exp(&token), iat + 86400);
        assert_eq!(c["sub"], user_id(&h).as_str());
        assert_eq!(c["tenant"], h.emu.state().tenancy_id().as_str());
        assert_eq!(c["ptype"], "user");
        // Bound to the key it was asked for.
        let now = SystemTime::now();
        let ok = h
            .send(with_token(Req::new("GET", "/n"), &token, &key, now))
            .await;
        assert_eq!(ok.status(), 200);
        assert_401(
            h.send(with_token(Req::new("GET", "/n"), &token, &h.key, now))
                .await,
        )
        .await;
        // And refreshable.
        assert_eq!(refresh(&h, &token, &key, &token, now).await.status(), 200);
    }
    // With a user's session token instead of an API key.
    let (token, session_key) = login(&h).await;
    let key = PrivateKey::generate().unwrap();
    let r = with_token(
        upst_req(&key, json!("5")),
        &token,
        &session_key,
        SystemTime::now(),
    );
    let resp = generate_upst(&h, r).await;
    assert_eq!(resp.status(), 200);
    let c = claims(json(resp).await["token"].as_str().unwrap());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    assert_eq!(c["sub"], user_id(&h).as_str());
}

#[tokio::test]
async fn generate_upst_rejects_bad_requests() {
    let h = harness().await;
    let key = PrivateKey::generate().unwrap();
    for minutes in [
        json!(4),
        json!("61"),
        json!(61),
        json!("4"),
        json!("thirty"),
        json!(0),
    ] {
        let resp = generate_upst(&h, upst_req(&key, minutes.clone())).await;
        assert_eq!(resp.status(), 400, "{minutes}");
        let v = json(resp).await;
        assert_eq!(v["code"], "InvalidParameter");
        let shown = match &minutes {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        let shown = if matches!(minutes, Value::String(ref s) if s.parse::<u64>().is_ok()) {
            minutes.as_str().unwrap().to_string()
        } else {
            shown
        };
        assert_eq!(
            v["message"],
            format!(
                "sessionExpirationInMinutes must be a whole number of minutes from 5 to 60 (a JSON string or integer); got {shown}."
            )
            .as_str()
        );
    }
    let send = |body: &'static str| {
        Req::new("POST", "/v1/token/upst/actions/GenerateUpst")
            .header("content-type", "application/json")
            .body(body)
    };
    let v = json(generate_upst(&h, send(r#"{"sessionExpirationInMinutes": "30"}"#)).await).await;
    assert_eq!(v["code"], "MissingParameter");
    assert_eq!(
        v["message"],
        "The required parameter 'publicKey' is missing."
    );
    let resp = generate_upst(&h, send(r#"{"publicKey": "not a pem"}"#)).await;
    assert_eq!(resp.status(), 400);
    assert!(
        json(resp).await["message"]
            .as_str()
            .unwrap()
            .starts_with("publicKey is not a usable RSA public key (")
    );
    // Unsigned: 401.
    assert_401(
        h.send_raw(
            "POST",
            "/v1/token/upst/actions/GenerateUpst",
            &[],
            b"{}".to_vec(),
        )
        .await,
    )
    .await;
    // An instance principal is not a user.
    let inst = h
        .emu
        .tokens()
        .issue(
            &TokenRequest {
                ptype: "instance".into(),
                subject: "ocid1.instance.oc1..x".into(),
                tenancy: h.emu.state().tenancy_id(),
                lifetime: Duration::from_secs(600),
                session_end: None,
                extra: Default::default(),
            },
            &PublicKey::from(&key),
        )
        .unwrap();
    let r = with_token(upst_req(&key, json!(30)), &inst, &key, SystemTime::now());
    let resp = generate_upst(&h, r).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Lifetimes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn short_lifetimes_from_the_config() {
    let lifetimes = TokenLifetimes {
        session: Duration::from_secs(1),
        session_max: Duration::from_secs(120),
        ..TokenLifetimes::default()
    };
    let h = harness_with(tempfile::tempdir().unwrap(), |c| {
        c.token_lifetimes(lifetimes)
    })
    .await;
    let (token, key) = login(&h).await;
    let c = claims(&token);
    let iat = c["iat"].as_i64().unwrap();
    assert_eq!(c["exp"].as_i64().unwrap(), iat + 1);
    assert_eq!(sess_exp(&token), iat + 120);
    // GenerateUpst: the configured lifetime caps the requested minutes.
    let other = PrivateKey::generate().unwrap();
    let v = json(generate_upst(&h, upst_req(&other, json!("60"))).await).await;
    let g = claims(v["token"].as_str().unwrap());
    assert_eq!(g["exp"].as_i64().unwrap() - g["iat"].as_i64().unwrap(), 1);
    assert_eq!(
        sess_exp(v["token"].as_str().unwrap()),
        g["iat"].as_i64().unwrap() + 120
    );
    // Real time: two seconds later the token is refused.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let now = SystemTime::now();
    assert_401(
        h.send(with_token(Req::new("GET", "/n"), &token, &key, now))
            .await,
    )
    .await;
    assert!(last_log(&h).contains("token expired"));
    assert_401(refresh(&h, &token, &key, &token, now).await).await;
}

// ---------------------------------------------------------------------------------------------
// Passwords and the binary
// ---------------------------------------------------------------------------------------------

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn first_user_gets_a_password_stored_only_as_a_hash() {
    let h = harness().await;
    let dir = h.emu.state_dir().to_path_buf();
    let cred = dir.join("credentials.txt");
    assert_eq!(mode(&cred), 0o600);
    let text = std::fs::read_to_string(&cred).unwrap();
    let (user, password) = credentials(&h);
    assert_eq!(user, "emulator-user");
    assert_eq!(password.len(), 20);
    assert!(text.starts_with("# Console login of the OCI emulator"));
    let state = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(!state.contains(&password));
    let v: Value = serde_json::from_str(&state).unwrap();
    let rec = &v["users"][0]["password"];
    assert_eq!(rec["algorithm"], "pbkdf2-hmac-sha256");
    assert_eq!(rec["iterations"], 100000);
    assert_eq!(rec.as_object().unwrap().len(), 4);

    // Restart: the password is kept, credentials.txt not rewritten.
    let h2 = {
        let Harness { dir: tmp, emu, .. } = h;
        emu.shutdown().await;
        harness_with(tmp, |c| c).await
    };
    assert_eq!(credentials(&h2).1, password);
    let (_t, _k) = login(&h2).await;
}

#[tokio::test]
async fn old_state_files_load_and_get_a_password() {
    let h = harness().await;
    let Harness { dir: tmp, emu, .. } = h;
    let dir = emu.state_dir().to_path_buf();
    emu.shutdown().await;
    // A state.json from before passwords: no "password" members, no credentials.txt.
    let path = dir.join("state.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for u in v["users"].as_array_mut().unwrap() {
        u.as_object_mut().unwrap().remove("password");
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    std::fs::remove_file(dir.join("credentials.txt")).unwrap();

    let h = harness_with(tmp, |c| c).await;
    let (_, password) = credentials(&h);
    assert_eq!(password.len(), 20);
    let (token, key) = login(&h).await;
    let resp = h
        .send(with_token(
            Req::new("GET", "/n"),
            &token,
            &key,
            SystemTime::now(),
        ))
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn passwords_set_by_the_binary_while_serving() {
    let h = harness().await;
    let base = h.emu.base_url();
    let bin = env!("CARGO_BIN_EXE_oci-emulator");
    let state = h.emu.state_dir().to_path_buf();
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .arg("--state")
            .arg(&state)
            .output()
            .unwrap()
    };

    let out = run(&[
        "add-user",
        "--name",
        "carol",
        "--password",
        "carol's secret",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let carol = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let key = PrivateKey::generate().unwrap();
    let params = authorize_params(&key, "http://127.0.0.1:8181/cb");
    let resp = post_form(&base, &params, "carol", "carol's secret").await;
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let token = loc
        .strip_prefix("http://127.0.0.1:8181/cb#security_token=")
        .unwrap();
    assert_eq!(claims(token)["sub"], carol.as_str());

    // set-password from a file (first line), by user name; the running server picks it up.
    let pw_file = state.join("carol.pw");
    std::fs::write(&pw_file, "new secret\n").unwrap();
    let out = run(&[
        "set-password",
        "--user",
        "carol",
        "--password-file",
        pw_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{carol}\n"));
    assert_eq!(
        post_form(&base, &params, "carol", "carol's secret")
            .await
            .status(),
        401
    );
    assert_eq!(
        post_form(&base, &params, "carol", "new secret")
            .await
            .status(),
        302
    );

    // Errors name the fix.
    let out = run(&["set-password", "--user", "nobody", "--password", "x"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "oci-emulator: no user nobody in the emulator state; create one with `oci-emulator add-user`\n"
    );
    let out = run(&["set-password", "--user", "carol"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "oci-emulator: give the new password with --password or --password-file\n"
    );
    let out = run(&["add-user", "--name", "dave", "--password", ""]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "oci-emulator: the password is empty; choose a non-empty password\n"
    );
    assert!(!h.emu.state().users().iter().any(|u| u.name == "dave"));
    let out = run(&["add-user", "--password", "a", "--password-file", "f"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn serve_prints_the_password_once_and_takes_token_ttls() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_oci-emulator");
    let start = || {
        std::process::Command::new(bin)
            .args([
                "serve",
                "--port",
                "0",
                "--session-token-ttl",
                "7",
                "--session-max-ttl",
                "99",
                "--state",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Drain stderr in a thread (the server logs every request there); hand over the lines.
    let banner_of = |child: &mut std::process::Child| -> Vec<String> {
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
            let done = line.contains("try: oci os ns get");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    };

    let mut child = start();
    let banner = banner_of(&mut child);
    let base = banner[0]
        .strip_prefix("oci-emulator listening on ")
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(dir.path().join("credentials.txt")).unwrap();
    let password = config_value(&text, "password");
    assert_eq!(
        banner[1],
        format!("  console login (first start): user emulator-user, password {password}")
    );
    assert_eq!(
        banner[2],
        format!(
            "  (kept in {}; change it with `oci-emulator set-password`)",
            dir.path()
                .canonicalize()
                .unwrap()
                .join("credentials.txt")
                .display()
        )
    );
    let key = PrivateKey::generate().unwrap();
    let resp = post_form(
        &base,
        &authorize_params(&key, REDIRECT),
        "emulator-user",
        &password,
    )
    .await;
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let c = claims(loc.split("#security_token=").nth(1).unwrap());
    let iat = c["iat"].as_i64().unwrap();
    assert_eq!(c["exp"].as_i64().unwrap(), iat + 7);
    let token = loc.split("#security_token=").nth(1).unwrap();
    assert_eq!(sess_exp(token), iat + 99);
    child.kill().unwrap();
    child.wait().unwrap();

    // Second start: no password printed.
    let mut child = start();
    let banner = banner_of(&mut child);
    assert!(
        !banner.iter().any(|l| l.contains("console login")),
        "{banner:?}"
    );
    assert!(!banner.join("\n").contains(&password));
    child.kill().unwrap();
    child.wait().unwrap();

    // TTLs must be positive.
    let out = std::process::Command::new(bin)
        .args(["serve", "--session-token-ttl", "0", "--state"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--session-token-ttl"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
