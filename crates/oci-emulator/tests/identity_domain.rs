//! The identity domain's token endpoint (workload identity federation, spec §5): JWTs minted
//! here, a JWKS served by a tiny in-test server, every rejection with its own message, UPST and
//! RPST used against Object Storage, client-credentials, signed client authentication and the
//! subcommands that manage trusts.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use oci_emulator::identity_domain::{NewTrust, RpstExpUnit};
use ociauth::jwt::{self, RsaJwk};
use ociauth::keys::{PrivateKey, PublicKey};
use serde_json::{Value, json};

const ISSUER: &str = "https://token.actions.example.test";
const AUD: &str = "https://cloud.oracle.com";
const CLIENT_ID: &str = "wif-app";
const CLIENT_SECRET: &str = "wif-secret";
const SUB: &str = "repo:org/repo:ref:refs/heads/main";

/// A stand-in identity provider: signs tokens and serves its JWKS over HTTP.
struct Idp {
    keys: Arc<Mutex<Vec<(String, PrivateKey)>>>,
    url: String,
    fetches: Arc<Mutex<u32>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Idp {
    async fn start() -> Idp {
        let keys = Arc::new(Mutex::new(vec![(
            "idp-key-1".to_string(),
            PrivateKey::generate().unwrap(),
        )]));
        let fetches = Arc::new(Mutex::new(0u32));
        let (k2, f2) = (keys.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks",
            axum::routing::get(move || {
                let (keys, fetches) = (k2.clone(), f2.clone());
                async move {
                    *fetches.lock().unwrap() += 1;
                    let set: Vec<Value> = keys
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|(kid, k)| {
                            let mut j = RsaJwk::from_private_key(k, Some(kid)).unwrap().to_json();
                            j["alg"] = json!("RS256");
                            j["use"] = json!("sig");
                            j
                        })
                        .collect();
                    axum::Json(json!({ "keys": set }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Idp {
            keys,
            url,
            fetches,
            _task: task,
        }
    }

    fn key(&self, kid: &str) -> PrivateKey {
        self.keys
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == kid)
            .unwrap()
            .1
            .clone()
    }

    /// A token with the usual claims, `claims` merged over them.
    fn token_with(&self, kid: &str, header: Value, claims: Value) -> String {
        mint(&self.key(kid), kid, header, claims)
    }

    fn token(&self, claims: Value) -> String {
        self.token_with("idp-key-1", json!({}), claims)
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn mint(key: &PrivateKey, kid: &str, header: Value, claims: Value) -> String {
    let mut c = json!({
        "iss": ISSUER, "aud": AUD, "sub": SUB,
        "repository": "org/repo", "iat": now() - 10, "exp": now() + 7200,
    });
    for (k, v) in claims.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    let mut h = json!({ "kid": kid });
    for (k, v) in header.as_object().unwrap() {
        h[k] = v.clone();
    }
    jwt::sign_rs256(&h, &c, key).unwrap()
}

/// An unsigned or HMAC token (the algorithms that must be refused).
fn forge(alg: &str, claims: Value) -> String {
    let h = jwt::b64url_encode(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
    let mut c = json!({"iss": ISSUER, "aud": AUD, "sub": SUB, "iat": now(), "exp": now() + 600});
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    let p = jwt::b64url_encode(c.to_string().as_bytes());
    let sig = if alg == "none" { "" } else { "c2lnbmF0dXJl" };
    format!("{h}.{p}.{sig}")
}

/// `*` matches any run of digits.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            (0..=digits).any(|n| glob(tail, &rest[n..]))
        }
    }
}

struct Setup {
    h: Harness,
    idp: Idp,
    user_id: String,
}

fn base_trust(idp: &Idp) -> NewTrust {
    NewTrust {
        name: "gh".into(),
        issuer: ISSUER.into(),
        jwks_url: Some(idp.url.clone()),
        audiences: vec![AUD.into()],
        oauth_clients: vec![CLIENT_ID.into()],
        impersonation: vec![("sub eq repo:org/repo:*".into(), "emulator-user".into())],
        active: true,
        ..NewTrust::default()
    }
}

async fn setup_with(
    cfg: impl FnOnce(oci_emulator::EmulatorConfig) -> oci_emulator::EmulatorConfig,
    trust: impl FnOnce(&Idp) -> NewTrust,
) -> Setup {
    let h = harness_with(tempfile::tempdir().unwrap(), cfg).await;
    let idp = Idp::start().await;
    let d = h.emu.identity_domain();
    d.add_oauth_app("ci", Some(CLIENT_ID), Some(CLIENT_SECRET))
        .unwrap();
    d.add_trust(trust(&idp)).unwrap();
    let user_id = h
        .emu
        .state()
        .users()
        .into_iter()
        .find(|u| u.name == "emulator-user")
        .unwrap()
        .id;
    Setup { h, idp, user_id }
}

async fn setup() -> Setup {
    setup_with(|c| c, base_trust).await
}

fn exchange_form(subject: &str, key: &PrivateKey, extra: &[(&str, &str)]) -> String {
    let mut f = url::form_urlencoded::Serializer::new(String::new());
    f.append_pair(
        "grant_type",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    );
    f.append_pair("requested_token_type", "urn:oci:token-type:oci-upst");
    f.append_pair("subject_token", subject);
    f.append_pair("subject_token_type", "jwt");
    f.append_pair("public_key", &B64.encode(key.public_key_der()));
    for (k, v) in extra {
        f.append_pair(k, v);
    }
    f.finish()
}

impl Setup {
    fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.h.emu.base_url())
    }

    async fn post(&self, auth: Option<(&str, &str)>, body: String) -> reqwest::Response {
        let mut b = self
            .h
            .http
            .post(self.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = auth {
            b = b.header(
                "authorization",
                format!("Basic {}", B64.encode(format!("{id}:{secret}"))),
            );
        }
        b.send().await.unwrap()
    }

    async fn exchange(&self, subject: &str, key: &PrivateKey) -> reqwest::Response {
        self.post(
            Some((CLIENT_ID, CLIENT_SECRET)),
            exchange_form(subject, key, &[]),
        )
        .await
    }

    /// The token from a successful exchange.
    async fn upst(&self, subject: &str, key: &PrivateKey) -> String {
        let resp = self.exchange(subject, key).await;
        assert_eq!(resp.status(), 200);
        json(resp).await["token"].as_str().unwrap().to_string()
    }

    /// GetNamespace signed with `ST$<token>` and `key`.
    async fn namespace_with(&self, token: &str, key: &PrivateKey) -> reqwest::Response {
        let mut r = Req::new("GET", "/n");
        r.key = Some(key.clone());
        r.key_id = Some(format!("ST${token}"));
        self.h.send(r).await
    }
}

/// Status and exact OAuth error body.
async fn assert_oauth_error(resp: reqwest::Response, status: u16, error: &str, description: &str) {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(
        resp.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let body = resp.text().await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": error, "error_description": description}),
        "{body}"
    );
}

#[tokio::test]
async fn upst_is_bound_to_the_posted_key_and_opens_object_storage() {
    let s = setup().await;
    let key = PrivateKey::generate().unwrap();
    let subject = s.idp.token(json!({}));
    let resp = s.exchange(&subject, &key).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let body = json(resp).await;
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let token = body["token"].as_str().unwrap();
    let claims = jwt::decode_unverified(token).unwrap();
    let c = claims.claims();
    assert_eq!(c["sub"], json!(s.user_id));
    assert_eq!(c["tenant"], json!(s.h.emu.state().tenancy_id()));
    assert_eq!(c["ptype"], json!("user"));
    assert_eq!(c["ttype"], json!("upst"));
    assert_eq!(c["iss"], json!("authService.oracle.com"));
    assert_eq!(c["aud"], json!("oci"));
    assert_eq!(c["source_authn_prin"], json!(SUB));
    assert_eq!(
        c["domain_id"],
        json!(s.h.emu.identity_domain().snapshot().domain_ocid)
    );
    assert_eq!(claims.exp().unwrap() - claims.iat().unwrap(), 3600);
    assert_eq!(
        claims.sess_exp().unwrap(),
        UNIX_EPOCH + Duration::from_secs(claims.exp().unwrap() as u64)
    );
    let jwk: Value = serde_json::from_str(claims.claim_str("jwk").unwrap()).unwrap();
    assert_eq!(
        RsaJwk::from_json(&jwk)
            .unwrap()
            .public_key()
            .unwrap()
            .spki_der(),
        PublicKey::from(&key).spki_der()
    );

    // The token works with the key it is bound to, and only with it.
    let ok = s.namespace_with(token, &key).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), format!("\"{}\"", s.h.namespace()));
    let thief = PrivateKey::generate().unwrap();
    assert_401(s.namespace_with(token, &thief).await).await;

    // Neither token nor secret reaches the log.
    let log = s.h.log_lines().join("\n");
    assert!(
        log.contains("POST /oauth2/v1/token 200 key=\"wif-app\""),
        "{log}"
    );
    assert!(!log.contains(&subject) && !log.contains(token) && !log.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn typ_at_jwt_array_audience_and_form_credentials_are_accepted() {
    let s = setup().await;
    let key = PrivateKey::generate().unwrap();
    let subject = s.idp.token_with(
        "idp-key-1",
        json!({"typ": "at+jwt"}),
        json!({"aud": ["other", AUD]}),
    );
    let mut form = exchange_form(&subject, &key, &[]);
    form.push_str("&client_id=wif-app&client_secret=wif-secret");
    let resp = s.post(None, form).await;
    assert_eq!(resp.status(), 200);
    // The URN form of subject_token_type (Terraform's tests) works too.
    let form = exchange_form(&subject, &key, &[]).replace(
        "subject_token_type=jwt",
        "subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt",
    );
    let resp = s.post(Some((CLIENT_ID, CLIENT_SECRET)), form).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn every_rejection_has_its_own_message() {
    let s = setup().await;
    let key = PrivateKey::generate().unwrap();
    let good = s.idp.token(json!({}));

    // Client authentication.
    let r = s
        .post(Some((CLIENT_ID, "nope")), exchange_form(&good, &key, &[]))
        .await;
    assert_oauth_error(
        r,
        401,
        "invalid_client",
        "wrong client secret for OAuth client \"wif-app\"",
    )
    .await;
    let r = s
        .post(Some(("stranger", "x")), exchange_form(&good, &key, &[]))
        .await;
    assert_oauth_error(
        r,
        401,
        "invalid_client",
        "unknown OAuth client id \"stranger\"",
    )
    .await;
    let r = s.post(None, exchange_form(&good, &key, &[])).await;
    assert_oauth_error(r, 401, "invalid_client", "client authentication is required: send Authorization: Basic base64(client_id:client_secret), client_id and client_secret in the form, or sign the request with an OCI credential").await;

    // Parameters.
    let r = s
        .post(
            Some((CLIENT_ID, CLIENT_SECRET)),
            "grant_type=password&username=a".into(),
        )
        .await;
    assert_oauth_error(r, 400, "unsupported_grant_type", "grant_type \"password\" is not supported (use urn:ietf:params:oauth:grant-type:token-exchange or client_credentials)").await;
    let r = s
        .post(
            Some((CLIENT_ID, CLIENT_SECRET)),
            exchange_form(&good, &key, &[]).replace("public_key=", "public_key=AAAA"),
        )
        .await;
    assert_oauth_error(
        r,
        400,
        "invalid_request",
        "public_key is not the base64 DER SubjectPublicKeyInfo of an RSA public key",
    )
    .await;
    let r = s
        .post(
            Some((CLIENT_ID, CLIENT_SECRET)),
            exchange_form(&good, &key, &[])
                .replace("subject_token_type=jwt", "subject_token_type=saml"),
        )
        .await;
    assert_oauth_error(
        r,
        400,
        "invalid_request",
        "subject_token_type \"saml\" is not supported here (use jwt)",
    )
    .await;
    let r = s
        .post(
            Some((CLIENT_ID, CLIENT_SECRET)),
            exchange_form(&good, &key, &[("grant_type", "again")]),
        )
        .await;
    assert_oauth_error(
        r,
        400,
        "invalid_request",
        "the parameter \"grant_type\" is given more than once",
    )
    .await;

    // The subject token.
    let cases: Vec<(String, &str)> = vec![
        (
            s.idp.token(json!({"aud": "https://elsewhere.example"})),
            "the subject token's audience (aud) \"https://elsewhere.example\" is not allowed by the identity propagation trust \"gh\" (allowed: https://cloud.oracle.com)",
        ),
        (
            s.idp
                .token(json!({"iat": now() - 4000, "exp": now() - 120})),
            "the subject token expired 12* s ago (exp *, allowed clock skew 60 s)",
        ),
        (
            s.idp.token(json!({"nbf": now() + 600})),
            "the subject token is not valid yet (nbf is * s in the future)",
        ),
        (
            s.idp.token(json!({"iss": "https://unknown.example"})),
            "no identity propagation trust for issuer \"https://unknown.example\" in this domain",
        ),
        (
            {
                // Change a claim but keep the signature.
                let t = s.idp.token(json!({}));
                let parts: Vec<&str> = t.split('.').collect();
                let mut c: Value =
                    serde_json::from_slice(&jwt::b64url_decode(parts[1]).unwrap()).unwrap();
                c["sub"] = json!("repo:org/repo:ref:refs/heads/evil");
                format!(
                    "{}.{}.{}",
                    parts[0],
                    jwt::b64url_encode(c.to_string().as_bytes()),
                    parts[2]
                )
            },
            "the subject token's signature does not verify with the keys of the identity propagation trust \"gh\" (tampered, or signed by another key)",
        ),
        (
            mint(
                &PrivateKey::generate().unwrap(),
                "idp-key-9",
                json!({}),
                json!({}),
            ),
            "the subject token's key id \"idp-key-9\" is not in the JWKS of issuer \"https://token.actions.example.test\" (JWKS)",
        ),
        (
            forge("none", json!({})),
            "the subject token is unsigned (alg none); only asymmetric signatures (RS256, RS384, RS512) are accepted",
        ),
        (
            forge("HS256", json!({})),
            "the subject token uses the symmetric algorithm HS256; only asymmetric signatures (RS256, RS384, RS512) are accepted",
        ),
        (
            s.idp
                .token_with("idp-key-1", json!({"typ": "dpop+jwt"}), json!({})),
            "the subject token's typ \"dpop+jwt\" is not JWT or at+jwt",
        ),
        (
            s.idp
                .token(json!({"sub": "repo:other/repo:ref:refs/heads/main"})),
            "no impersonation rule of the identity propagation trust \"gh\" matches the subject token (subject sub=\"repo:other/repo:ref:refs/heads/main\")",
        ),
        (
            s.idp.token(json!({"exp": null})),
            "the subject token has no exp claim",
        ),
        (
            "not-a-jwt".to_string(),
            "the subject token is not a JWT: not a JWT: expected three dot-separated parts (header.payload.signature), found 1",
        ),
    ];
    let mut seen = std::collections::HashSet::new();
    for (subject, want) in cases {
        let resp = s.exchange(&subject, &key).await;
        assert_eq!(resp.status(), 400, "{want}");
        let body = json(resp).await;
        assert_eq!(body["error"], json!("invalid_grant"), "{want}");
        let got = body["error_description"].as_str().unwrap();
        let want = want.replace("(JWKS)", &format!("({})", s.idp.url));
        // `*` stands for the digits that depend on the clock; the rest is exact.
        assert!(glob(&want, got), "{got}\n  wanted {want}");
        assert!(seen.insert(got.to_string()), "duplicate message {got}");
    }

    // A client not listed in the trust.
    s.h.emu
        .identity_domain()
        .add_oauth_app("other", Some("other-app"), Some("s2"))
        .unwrap();
    let r = s
        .post(Some(("other-app", "s2")), exchange_form(&good, &key, &[]))
        .await;
    assert_oauth_error(r, 400, "unauthorized_client", "OAuth client \"other-app\" is not allowed to use the identity propagation trust \"gh\" (not in its oauthClients)").await;

    // An inactive trust.
    s.h.emu
        .identity_domain()
        .set_trust_active("gh", false)
        .unwrap();
    let r = s.exchange(&good, &key).await;
    assert_oauth_error(r, 400, "invalid_grant", "the identity propagation trust \"gh\" for issuer \"https://token.actions.example.test\" is inactive").await;
    s.h.emu
        .identity_domain()
        .set_trust_active("gh", true)
        .unwrap();
    assert_eq!(s.exchange(&good, &key).await.status(), 200);

    // The log says why, and holds no token or secret.
    let log = s.h.log_lines().join("\n");
    assert!(log.contains("POST /oauth2/v1/token 400 key=\"wif-app\" reason=\"invalid_grant: the subject token expired"), "{log}");
    assert!(!log.contains(&good) && !log.contains(CLIENT_SECRET) && !log.contains("nope"));
}

#[tokio::test]
async fn rotated_issuer_keys_are_fetched_again() {
    let s = setup().await;
    let key = PrivateKey::generate().unwrap();
    assert!(!s.upst(&s.idp.token(json!({})), &key).await.is_empty());
    assert_eq!(*s.idp.fetches.lock().unwrap(), 1);
    // Cached: no new fetch.
    s.upst(&s.idp.token(json!({})), &key).await;
    assert_eq!(*s.idp.fetches.lock().unwrap(), 1);
    // The IdP adds a key; a token with its kid makes the domain fetch the JWKS again.
    s.idp
        .keys
        .lock()
        .unwrap()
        .push(("idp-key-2".into(), PrivateKey::generate().unwrap()));
    let t2 = s.idp.token_with("idp-key-2", json!({}), json!({}));
    s.upst(&t2, &key).await;
    assert_eq!(*s.idp.fetches.lock().unwrap(), 2);
}

#[tokio::test]
async fn upst_lifetime_is_capped_by_the_federation_lifetime_and_the_subject_token() {
    let lifetimes = oci_emulator::TokenLifetimes {
        federation: Duration::from_secs(120),
        ..Default::default()
    };
    let s = setup_with(|c| c.token_lifetimes(lifetimes), base_trust).await;
    let key = PrivateKey::generate().unwrap();
    let t = s.upst(&s.idp.token(json!({})), &key).await;
    let c = jwt::decode_unverified(&t).unwrap();
    assert_eq!(c.exp().unwrap() - c.iat().unwrap(), 120);
    // A subject token with 50 s left gives a UPST that ends with it.
    let subject = s.idp.token(json!({"exp": now() + 50}));
    let t = s.upst(&subject, &key).await;
    let c = jwt::decode_unverified(&t).unwrap();
    let left = c.exp().unwrap() - c.iat().unwrap();
    assert!((49..=50).contains(&left), "{left}");
}

#[tokio::test]
async fn trust_without_impersonation_maps_the_subject_to_a_user_name() {
    let s = setup_with(
        |c| c,
        |idp| NewTrust {
            impersonation: vec![],
            subject_claim_name: Some("email".into()),
            ..base_trust(idp)
        },
    )
    .await;
    let key = PrivateKey::generate().unwrap();
    let t = s
        .upst(&s.idp.token(json!({"email": "emulator-user"})), &key)
        .await;
    assert_eq!(
        jwt::decode_unverified(&t).unwrap().sub().unwrap(),
        s.user_id
    );
    let r = s
        .exchange(&s.idp.token(json!({"email": "nobody"})), &key)
        .await;
    assert_oauth_error(
        r,
        400,
        "invalid_grant",
        "no user whose userName is the subject token's email \"nobody\"",
    )
    .await;
    let r = s.exchange(&s.idp.token(json!({})), &key).await;
    assert_oauth_error(
        r,
        400,
        "invalid_grant",
        "the subject token has no \"email\" claim (the trust's subject claim)",
    )
    .await;
}

#[tokio::test]
async fn first_matching_rule_wins() {
    let s = setup_with(
        |c| c,
        |idp| NewTrust {
            name: "unused".into(),
            issuer: "https://unused.example".into(),
            ..base_trust(idp)
        },
    )
    .await;
    let other = s.h.emu.state().add_user(Some("ci-user")).unwrap();
    s.h.emu
        .identity_domain()
        .add_trust(NewTrust {
            impersonation: vec![
                ("groups co \"network-admin\"".into(), "emulator-user".into()),
                ("sub eq *".into(), "ci-user".into()),
            ],
            ..base_trust(&s.idp)
        })
        .unwrap();
    let key = PrivateKey::generate().unwrap();
    let admin = s
        .upst(
            &s.idp.token(json!({"groups": ["ci", "network-admin"]})),
            &key,
        )
        .await;
    assert_eq!(
        jwt::decode_unverified(&admin).unwrap().sub().unwrap(),
        s.user_id
    );
    let anyone = s.upst(&s.idp.token(json!({"groups": ["ci"]})), &key).await;
    assert_eq!(
        jwt::decode_unverified(&anyone).unwrap().sub().unwrap(),
        other
    );
}

fn rpst_trust(idp: &Idp) -> NewTrust {
    NewTrust {
        name: "gh-rpst".into(),
        subject_type: Some("Resource".into()),
        impersonating_resource: Some("ref_github".into()),
        claim_propagations: vec!["ext_repository".into(), "ext_missing".into()],
        impersonation: vec![],
        ..base_trust(idp)
    }
}

#[tokio::test]
async fn rpst_carries_the_resource_type_and_propagated_claims() {
    let s = setup_with(|c| c, rpst_trust).await;
    let key = PrivateKey::generate().unwrap();
    let subject = s.idp.token(json!({}));
    let form = exchange_form(
        &subject,
        &key,
        &[("res_type", "ref_github"), ("rpst_exp", "600")],
    )
    .replace("oci-upst", "oci-rpst");
    let resp = s.post(Some((CLIENT_ID, CLIENT_SECRET)), form).await;
    assert_eq!(resp.status(), 200);
    let token = json(resp).await["token"].as_str().unwrap().to_string();
    let c = jwt::decode_unverified(&token).unwrap();
    assert_eq!(c.claim_str("ptype"), Some("resource"));
    assert_eq!(c.claim_str("ttype"), Some("res"));
    assert_eq!(c.claim_str("res_type"), Some("ref_github"));
    assert_eq!(c.claim_str("ext_repository"), Some("org/repo"));
    assert!(c.claim("ext_missing").is_none());
    assert_eq!(c.exp().unwrap() - c.iat().unwrap(), 600);
    assert_eq!(s.namespace_with(&token, &key).await.status(), 200);

    // Default lifetime: 20 minutes.
    let form = exchange_form(&subject, &key, &[("res_type", "ref_github")])
        .replace("oci-upst", "oci-rpst");
    let t = json(s.post(Some((CLIENT_ID, CLIENT_SECRET)), form).await).await;
    let c = jwt::decode_unverified(t["token"].as_str().unwrap()).unwrap();
    assert_eq!(c.exp().unwrap() - c.iat().unwrap(), 1200);

    // Minutes, when the domain reads rpst_exp so.
    s.h.emu
        .identity_domain()
        .set_rpst_exp_unit(RpstExpUnit::Minutes)
        .unwrap();
    let form = exchange_form(
        &subject,
        &key,
        &[("res_type", "ref_github"), ("rpst_exp", "30")],
    )
    .replace("oci-upst", "oci-rpst");
    let t = json(s.post(Some((CLIENT_ID, CLIENT_SECRET)), form).await).await;
    let c = jwt::decode_unverified(t["token"].as_str().unwrap()).unwrap();
    assert_eq!(c.exp().unwrap() - c.iat().unwrap(), 1800);

    // Rejections.
    let form = exchange_form(
        &subject,
        &key,
        &[("res_type", "ref_github"), ("rpst_exp", "721")],
    )
    .replace("oci-upst", "oci-rpst");
    let r = s.post(Some((CLIENT_ID, CLIENT_SECRET)), form).await;
    assert_oauth_error(
        r,
        400,
        "invalid_request",
        "rpst_exp 721 is out of range (1 s to 12 h; unit: Minutes)",
    )
    .await;
    let form = exchange_form(&subject, &key, &[("res_type", "k8sworkload")])
        .replace("oci-upst", "oci-rpst");
    let r = s.post(Some((CLIENT_ID, CLIENT_SECRET)), form).await;
    assert_oauth_error(r, 400, "invalid_request", "res_type \"k8sworkload\" does not match the trust \"gh-rpst\" (impersonatingResource \"ref_github\")").await;
    let form = exchange_form(&subject, &key, &[]).replace("oci-upst", "oci-rpst");
    let r = s.post(Some((CLIENT_ID, CLIENT_SECRET)), form).await;
    assert_oauth_error(
        r,
        400,
        "invalid_request",
        "res_type is required when requesting an RPST (urn:oci:token-type:oci-rpst)",
    )
    .await;
    let r = s.exchange(&subject, &key).await;
    assert_oauth_error(r, 400, "invalid_grant", "the identity propagation trust \"gh-rpst\" issues resource principal tokens (subjectType Resource): request urn:oci:token-type:oci-rpst with res_type \"ref_github\"").await;
}

#[tokio::test]
async fn trust_with_a_public_certificate_or_key() {
    let issuer_key = PrivateKey::generate().unwrap();
    let pem = issuer_key.to_pkcs8_pem(None).unwrap();
    let kp = rcgen::KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["k8s-issuer".to_string()])
        .unwrap()
        .self_signed(&kp)
        .unwrap()
        .pem();
    for (issuer, pem) in [
        ("https://k8s.example/cert", cert),
        ("https://k8s.example/key", issuer_key.public_key_pem()),
    ] {
        let s = setup_with(
            |c| c,
            |idp| NewTrust {
                issuer: issuer.into(),
                jwks_url: None,
                public_certificate: Some(pem.clone()),
                ..base_trust(idp)
            },
        )
        .await;
        let key = PrivateKey::generate().unwrap();
        let good = mint(&issuer_key, "any", json!({}), json!({"iss": issuer}));
        assert_eq!(s.exchange(&good, &key).await.status(), 200, "{issuer}");
        let bad = mint(
            &PrivateKey::generate().unwrap(),
            "any",
            json!({}),
            json!({"iss": issuer}),
        );
        let r = s.exchange(&bad, &key).await;
        assert_oauth_error(r, 400, "invalid_grant", "the subject token's signature does not verify with the keys of the identity propagation trust \"gh\" (tampered, or signed by another key)").await;
    }
}

#[tokio::test]
async fn client_credentials_tokens_verify_with_the_domain_jwks() {
    let s = setup().await;
    let resp = s
        .post(
            Some((CLIENT_ID, CLIENT_SECRET)),
            "grant_type=client_credentials&scope=urn%3Aopc%3Aidm%3A__myscopes__".into(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert_eq!(body["token_type"], json!("Bearer"));
    assert_eq!(body["expires_in"], json!(3600));
    let jwks =
        s.h.http
            .get(format!("{}/admin/v1/SigningCert/jwk", s.h.emu.base_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    let keys = jwt::parse_jwks(&jwks).unwrap();
    let t = jwt::verify_with_keys(body["access_token"].as_str().unwrap(), &keys).unwrap();
    assert_eq!(
        t.claim_str("iss"),
        Some("https://identity.oraclecloud.com/")
    );
    assert_eq!(t.claim_str("client_id"), Some(CLIENT_ID));
    assert_eq!(t.claim_str("scope"), Some("urn:opc:idm:__myscopes__"));
}

#[tokio::test]
async fn a_request_signed_with_an_oci_credential_needs_no_client_secret() {
    let s = setup().await;
    let key = PrivateKey::generate().unwrap();
    let form = exchange_form(&s.idp.token(json!({})), &key, &[]);
    let r = Req::new("POST", "/oauth2/v1/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone());
    let resp = s.h.send(r).await;
    assert_eq!(resp.status(), 200);
    let token = json(resp).await["token"].as_str().unwrap().to_string();
    assert_eq!(s.namespace_with(&token, &key).await.status(), 200);

    // A signature by an unknown key is a client failure.
    let mut r = Req::new("POST", "/oauth2/v1/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    r.key = Some(PrivateKey::generate().unwrap());
    let resp = s.h.send(r).await;
    assert_oauth_error(resp, 401, "invalid_client", "the request signature was not accepted: signature does not verify (signing string or key differ)").await;
}

fn run_cli(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oci-emulator"))
        .args(args)
        .env_remove("OCI_EMULATOR_STATE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn subcommands_manage_trusts_of_a_running_emulator() {
    let h = harness().await;
    let idp = Idp::start().await;
    let dir = h.emu.state_dir().to_str().unwrap().to_string();
    let (ok, out, err) = run_cli(&["add-oauth-app", "--state", &dir, "--name", "ci"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let id = lines[0].strip_prefix("client_id=").unwrap().to_string();
    let secret = lines[1].strip_prefix("client_secret=").unwrap().to_string();
    assert_eq!(id.len(), 32);

    let (ok, out, err) = run_cli(&[
        "add-trust",
        "--state",
        &dir,
        "--name",
        "gh",
        "--issuer",
        ISSUER,
        "--jwks-url",
        &idp.url,
        "--audience",
        AUD,
        "--client-id",
        &id,
        "--impersonate",
        "sub eq repo:org/* => emulator-user",
    ]);
    assert!(ok, "{err}");
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["active"], json!(true));
    assert_eq!(t["clientClaimName"], json!("aud"));
    assert_eq!(
        t["impersonationServiceUsers"][0]["rule"],
        json!("sub eq repo:org/*")
    );

    let (ok, _, err) = run_cli(&[
        "add-trust",
        "--state",
        &dir,
        "--name",
        "bad",
        "--issuer",
        "https://x",
        "--jwks-url",
        &idp.url,
        "--impersonate",
        "sub equals x => emulator-user",
    ]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "oci-emulator: invalid impersonation rule \"sub equals x\": unknown operator \"equals\" (expected `<claim> eq <value>` or `<claim> co <value>`, e.g. `sub eq repo:org/repo:*`)"
    );
    let (ok, _, err) = run_cli(&[
        "add-trust",
        "--state",
        &dir,
        "--name",
        "bad",
        "--issuer",
        "https://x",
        "--jwks-url",
        &idp.url,
        "--impersonate",
        "sub eq x => nobody",
    ]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "oci-emulator: no emulator user \"nobody\" (by name or OCID); create one with `oci-emulator add-user`"
    );

    // The running server sees the new app and trust.
    let s = Setup {
        h,
        idp,
        user_id: String::new(),
    };
    let key = PrivateKey::generate().unwrap();
    let subject = s.idp.token(json!({}));
    let form = exchange_form(&subject, &key, &[]);
    assert_eq!(
        s.post(Some((&id, &secret)), form.clone()).await.status(),
        200
    );

    let (ok, out, _) = run_cli(&["list-trusts", "--state", &dir]);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], json!("gh"));

    let (ok, out, err) = run_cli(&[
        "set-trust",
        "--state",
        &dir,
        "--name",
        "gh",
        "--active",
        "false",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["active"],
        json!(false)
    );
    let r = s.post(Some((&id, &secret)), form).await;
    assert_oauth_error(r, 400, "invalid_grant", "the identity propagation trust \"gh\" for issuer \"https://token.actions.example.test\" is inactive").await;
    let (ok, _, err) = run_cli(&[
        "set-trust",
        "--state",
        &dir,
        "--name",
        "nope",
        "--active",
        "true",
    ]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "oci-emulator: no trust named \"nope\"; list them with `oci-emulator list-trusts`"
    );

    // The stored file holds a digest of the secret, never the secret; it is private.
    let stored = std::fs::read_to_string(s.h.emu.state_dir().join("identity-domain.json")).unwrap();
    assert!(!stored.contains(&secret));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(s.h.emu.state_dir().join("identity-domain.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
