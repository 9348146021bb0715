//! Workload identity federation against the emulator's identity domain: the exchange as the spec
//! describes it, every subject-token source, the message for each rejection, renewal under
//! concurrency, and saving the result as a session profile.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use oci_emulator::identity_domain::NewTrust;
use oci_emulator::{EmulatorConfig, RunningEmulator, TokenLifetimes};
use ociauth::client::{Client, ClientOptions};
use ociauth::config::{ConfigFile, Profile};
use ociauth::credentials::CredentialsProvider;
use ociauth::env::{ManualClock, MapEnv};
use ociauth::jwt::{self, RsaJwk};
use ociauth::keys::PrivateKey;
use ociauth::providers::api_key::ApiKeyProvider;
use ociauth::providers::workload_identity_federation::{
    ClientAuth, RequestedToken, SessionProfileOptions, TokenExchangeConfig, WifProfile,
    WorkloadIdentityFederationProvider, write_session_profile,
};
use ociauth::subject_token::{
    ClientAuthMethod, CommandSource, EnvSource, FileSource, GithubActionsSource,
    OidcClientCredentials, OidcClientCredentialsSource, Secret, StaticSource, SubjectToken,
    SubjectTokenSource,
};
use serde_json::{Value, json};

const ISSUER: &str = "https://token.actions.example.test";
const AUD: &str = "https://cloud.oracle.com";
const CLIENT_ID: &str = "wif-app";
const CLIENT_SECRET: &str = "s3cr3t-wif-client";
const SUB: &str = "repo:org/repo:ref:refs/heads/main";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A stand-in IdP: one RSA key, its JWKS served over HTTP.
struct Idp {
    key: PrivateKey,
    jwks_url: String,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

impl Idp {
    async fn start() -> Idp {
        let key = PrivateKey::generate().unwrap();
        let mut jwk = RsaJwk::from_private_key(&key, Some("k1"))
            .unwrap()
            .to_json();
        jwk["alg"] = json!("RS256");
        let set = json!({ "keys": [jwk] });
        let base = serve(axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let set = set.clone();
                async move { axum::Json(set) }
            }),
        ))
        .await;
        Idp {
            key,
            jwks_url: format!("{base}/jwks"),
        }
    }

    fn token(&self, claims: Value) -> String {
        let mut c =
            json!({"iss": ISSUER, "aud": AUD, "sub": SUB, "iat": now() - 5, "exp": now() + 3600});
        for (k, v) in claims.as_object().unwrap() {
            c[k] = v.clone();
        }
        jwt::sign_rs256(&json!({"kid": "k1"}), &c, &self.key).unwrap()
    }
}

struct Env {
    _dir: tempfile::TempDir,
    emu: RunningEmulator,
    idp: Idp,
    log: Arc<Mutex<Vec<String>>>,
}

fn trust(idp: &Idp) -> NewTrust {
    NewTrust {
        name: "gh".into(),
        issuer: ISSUER.into(),
        jwks_url: Some(idp.jwks_url.clone()),
        audiences: vec![AUD.into()],
        oauth_clients: vec![CLIENT_ID.into()],
        impersonation: vec![("sub eq repo:org/repo:*".into(), "emulator-user".into())],
        active: true,
        ..NewTrust::default()
    }
}

async fn start(lifetimes: TokenLifetimes) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let emu = oci_emulator::start(
        EmulatorConfig::new(dir.path())
            .token_lifetimes(lifetimes)
            .log(Arc::new(move |line: &str| {
                l2.lock().unwrap().push(line.to_string())
            })),
    )
    .await
    .unwrap();
    let idp = Idp::start().await;
    emu.identity_domain()
        .add_oauth_app("ci", Some(CLIENT_ID), Some(CLIENT_SECRET))
        .unwrap();
    emu.identity_domain().add_trust(trust(&idp)).unwrap();
    Env {
        _dir: dir,
        emu,
        idp,
        log,
    }
}

impl Env {
    fn config(&self) -> TokenExchangeConfig {
        let mut c = TokenExchangeConfig::new(
            self.emu.base_url(),
            ClientAuth::ClientSecret {
                client_id: CLIENT_ID.into(),
                client_secret: Secret::new(CLIENT_SECRET),
            },
        );
        c.region = Some("us-ashburn-1".into());
        c
    }

    fn provider(
        &self,
        source: impl SubjectTokenSource + 'static,
    ) -> WorkloadIdentityFederationProvider {
        WorkloadIdentityFederationProvider::new(self.config(), Arc::new(source)).unwrap()
    }

    fn token_posts(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("POST /oauth2/v1/token"))
            .count()
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn namespace(&self, provider: Arc<dyn CredentialsProvider>) -> ociauth::Result<String> {
        let client = Client::new(
            provider,
            ClientOptions {
                no_retry: true,
                ..ClientOptions::default()
            },
        )
        .unwrap();
        ociauth::object_storage::get_namespace(&client, &self.emu.base_url(), None).await
    }

    fn user_id(&self) -> String {
        self.emu
            .state()
            .users()
            .into_iter()
            .find(|u| u.name == "emulator-user")
            .unwrap()
            .id
    }
}

fn static_source(token: String) -> StaticSource {
    StaticSource(SubjectToken::new(token))
}

#[tokio::test]
async fn exchange_from_a_file_reread_every_time_and_use_the_upst() {
    let env = start(TokenLifetimes::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{}\n", env.idp.token(json!({})))).unwrap();
    let provider = env.provider(FileSource::new(&path));
    let t1 = provider.exchange().await.unwrap();
    assert_eq!(t1.kind(), "UPST");
    assert_eq!(t1.subject(), Some(env.user_id().as_str()));
    assert_eq!(t1.tenancy(), Some(env.emu.state().tenancy_id().as_str()));
    assert_eq!(
        t1.claims().claim_str("source_authn_prin"),
        Some(SUB),
        "the first file content"
    );
    // The file changes: the next exchange reads it again, and uses a new key.
    std::fs::write(
        &path,
        env.idp
            .token(json!({"sub": "repo:org/repo:environment:prod"})),
    )
    .unwrap();
    let t2 = provider.exchange().await.unwrap();
    assert_eq!(
        t2.claims().claim_str("source_authn_prin"),
        Some("repo:org/repo:environment:prod")
    );
    assert_ne!(
        t1.private_key().fingerprint(),
        t2.private_key().fingerprint()
    );
    assert_eq!(t1.private_key().bits(), 2048);

    let creds = provider.credentials().await.unwrap();
    assert!(creds.key_id().starts_with("ST$eyJ"));
    assert_eq!(creds.region(), Some("us-ashburn-1"));
    assert_eq!(
        creds.expires_at(),
        creds
            .token()
            .and_then(|t| jwt::decode_unverified(t).ok())
            .and_then(|j| j.exp())
            .map(|e| UNIX_EPOCH + Duration::from_secs(e as u64))
    );
    let ns = env.namespace(Arc::new(provider.caching())).await.unwrap();
    assert_eq!(ns, env.emu.state().namespace());

    // An empty file is an error that names it.
    std::fs::write(&path, "\n").unwrap();
    let e = env
        .provider(FileSource::new(&path))
        .exchange()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "workload_identity_federation: the subject token file {} is empty: it must hold the JWT from your identity provider",
            path.display()
        )
    );
}

/// What a stand-in server saw: headers (or the query) and the body (or the bearer).
type Recorded = (Vec<(String, String)>, String);

/// A recording stand-in for the domain: checks the request the provider sends byte for byte.
#[tokio::test]
async fn the_request_is_exactly_what_the_spec_describes() {
    let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let s2 = seen.clone();
    let signer = PrivateKey::generate().unwrap();
    let base = serve(axum::Router::new().route(
        "/oauth2/v1/token",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = s2.clone();
            let signer = signer.clone();
            async move {
                let h = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                    .collect();
                seen.lock().unwrap().push((h, body));
                let t = jwt::sign_rs256(
                    &Value::Null,
                    &json!({"sub": "ocid1.user.oc1..u", "tenant": "ocid1.tenancy.oc1..t", "iat": now(), "exp": now() + 3600}),
                    &signer,
                )
                .unwrap();
                axum::Json(json!({ "token": t }))
            }
        }),
    ))
    .await;
    let idp = Idp::start().await;
    let subject = idp.token(json!({}));
    // A trailing slash on the domain URL is dropped.
    let mut cfg = TokenExchangeConfig::new(
        format!("{base}/"),
        ClientAuth::ClientSecret {
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
        },
    );
    cfg.requested = RequestedToken::Rpst {
        resource_type: "ref_github".into(),
        rpst_exp: Some(600),
    };
    let p = WorkloadIdentityFederationProvider::new(cfg, Arc::new(static_source(subject.clone())))
        .unwrap();
    assert_eq!(p.token_url(), format!("{base}/oauth2/v1/token"));
    let t = p.exchange().await.unwrap();
    assert_eq!(t.kind(), "RPST");
    let (headers, body) = seen.lock().unwrap()[0].clone();
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(
        header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(header("authorization"), Some(format!("Basic {basic}")));
    let public_key =
        base64::engine::general_purpose::STANDARD.encode(t.private_key().public_key_der());
    assert!(public_key.starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC"));
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    assert_eq!(
        body,
        format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &requested_token_type=urn%3Aoci%3Atoken-type%3Aoci-rpst\
             &subject_token={subject}&subject_token_type=jwt&public_key={}\
             &res_type=ref_github&rpst_exp=600",
            enc(&public_key)
        )
    );
}

#[tokio::test]
async fn every_rejection_says_which_side_to_fix() {
    let env = start(TokenLifetimes::default()).await;
    let good = env.idp.token(json!({}));
    let with_secret = |id: &str, secret: &str| {
        let mut c = env.config();
        c.client_auth = ClientAuth::ClientSecret {
            client_id: id.into(),
            client_secret: Secret::new(secret),
        };
        c
    };
    let run = |cfg: TokenExchangeConfig, token: String| async move {
        WorkloadIdentityFederationProvider::new(cfg, Arc::new(static_source(token)))
            .unwrap()
            .exchange()
            .await
            .unwrap_err()
            .to_string()
    };
    let p = "workload_identity_federation: ";
    let cases: Vec<(TokenExchangeConfig, String, String)> = vec![
        (
            with_secret(CLIENT_ID, "wrong-secret"),
            good.clone(),
            format!(
                "{p}the identity domain rejected the OAuth client \"wif-app\" (wrong client secret for OAuth client \"wif-app\"): check --client-id and the client secret"
            ),
        ),
        (
            env.config(),
            env.idp.token(json!({"iss": "https://gitlab.example"})),
            format!(
                "{p}no active identity propagation trust for issuer https://gitlab.example: create one in the domain (no identity propagation trust for issuer \"https://gitlab.example\" in this domain)"
            ),
        ),
        (
            env.config(),
            env.idp.token(json!({"aud": "sts.amazonaws.com"})),
            format!(
                "{p}the subject token's audience sts.amazonaws.com is not accepted by the trust for issuer {ISSUER} (the subject token's audience (aud) \"sts.amazonaws.com\" is not allowed by the identity propagation trust \"gh\" (allowed: https://cloud.oracle.com)): request the token for an audience the trust allows, or add sts.amazonaws.com to the trust"
            ),
        ),
        (
            env.config(),
            {
                let other = PrivateKey::generate().unwrap();
                let c = json!({"iss": ISSUER, "aud": AUD, "sub": SUB, "iat": now(), "exp": now() + 600});
                jwt::sign_rs256(&json!({"kid": "k1"}), &c, &other).unwrap()
            },
            format!(
                "{p}the subject token's signature does not verify (the subject token's signature does not verify with the keys of the identity propagation trust \"gh\" (tampered, or signed by another key)): the token was altered, or the trust for issuer {ISSUER} holds another key"
            ),
        ),
        (
            env.config(),
            {
                let c = json!({"iss": ISSUER, "aud": AUD, "sub": SUB, "iat": now(), "exp": now() + 600});
                jwt::sign_rs256(&json!({"kid": "rotated"}), &c, &env.idp.key).unwrap()
            },
            format!(
                "{p}the identity domain cannot find the key that signed the subject token (the subject token's key id \"rotated\" is not in the JWKS of issuer \"{ISSUER}\" ({})): check the trust's JWKS URL or certificate for issuer {ISSUER}",
                env.idp.jwks_url
            ),
        ),
        (
            env.config(),
            env.idp
                .token(json!({"sub": "repo:someone/else:ref:refs/heads/main"})),
            format!(
                "{p}no impersonation rule of the trust for issuer {ISSUER} matches the subject token (sub repo:someone/else:ref:refs/heads/main) (no impersonation rule of the identity propagation trust \"gh\" matches the subject token (subject sub=\"repo:someone/else:ref:refs/heads/main\")): add a rule for it in the domain"
            ),
        ),
        (
            env.config(),
            {
                let h = jwt::b64url_encode(br#"{"alg":"none"}"#);
                let c = jwt::b64url_encode(
                    json!({"iss": ISSUER, "exp": now() + 60})
                        .to_string()
                        .as_bytes(),
                );
                format!("{h}.{c}.")
            },
            format!(
                "{p}the identity domain does not accept the subject token's signing algorithm (the subject token is unsigned (alg none); only asymmetric signatures (RS256, RS384, RS512) are accepted): the identity provider must sign with RS256"
            ),
        ),
        (
            with_secret("stranger", "x"),
            good.clone(),
            format!(
                "{p}the identity domain rejected the OAuth client \"stranger\" (unknown OAuth client id \"stranger\"): check --client-id and the client secret"
            ),
        ),
    ];
    for (cfg, token, want) in cases {
        let got = run(cfg, token).await;
        assert_eq!(got, want);
        assert!(
            !got.contains(CLIENT_SECRET) && !got.contains("wrong-secret") && !got.contains(&good)
        );
    }

    // A client the trust does not list.
    env.emu
        .identity_domain()
        .add_oauth_app("other", Some("other-app"), Some("other-secret"))
        .unwrap();
    assert_eq!(
        run(with_secret("other-app", "other-secret"), good.clone()).await,
        format!(
            "{p}the OAuth client \"other-app\" may not use the identity propagation trust for issuer {ISSUER} (OAuth client \"other-app\" is not allowed to use the identity propagation trust \"gh\" (not in its oauthClients)): add the client to the trust's OAuth clients"
        )
    );
    // An inactive trust.
    env.emu
        .identity_domain()
        .set_trust_active("gh", false)
        .unwrap();
    assert_eq!(
        run(env.config(), good.clone()).await,
        format!(
            "{p}the identity propagation trust for issuer {ISSUER} is inactive (the identity propagation trust \"gh\" for issuer \"{ISSUER}\" is inactive): activate it in the domain"
        )
    );
    // A domain URL with no token endpoint.
    let mut cfg = env.config();
    cfg.domain_url = format!("{}/wrong", env.emu.base_url());
    let got = run(cfg, good.clone()).await;
    assert_eq!(
        got,
        format!(
            "{p}{}/wrong/oauth2/v1/token answered like an OCI service, not an identity domain token endpoint (HTTP 401 NotAuthenticated): check the identity domain URL, e.g. https://idcs-0123….identity.oraclecloud.com",
            env.emu.base_url()
        )
    );

    // Local checks send nothing.
    let before = env.token_posts();
    let expired = env
        .idp
        .token(json!({"iat": now() - 700, "exp": now() - 100}));
    let got = run(env.config(), expired).await;
    assert!(
        got.starts_with(&format!(
            "{p}the subject token from the given token expired at "
        )),
        "{got}"
    );
    assert!(
        got.ends_with(" s ago): get a fresh token from your identity provider"),
        "{got}"
    );
    assert_eq!(
        run(env.config(), "opaque-access-token".into()).await,
        format!(
            "{p}the subject token from the given token is not a JWT (not a JWT: expected three dot-separated parts (header.payload.signature), found 1): it must hold the raw token (header.payload.signature) from your identity provider"
        )
    );
    assert_eq!(env.token_posts(), before);
    assert!(!env.log_text().contains(CLIENT_SECRET));
}

#[tokio::test]
async fn secrets_stay_out_of_debug() {
    let env = start(TokenLifetimes::default()).await;
    let subject = env.idp.token(json!({}));
    let p = env.provider(static_source(subject.clone()));
    let t = p.exchange().await.unwrap();
    let cached = p.caching();
    let _ = cached.credentials().await.unwrap();
    for text in [
        format!("{p:?}", p = cached),
        format!("{t:?}"),
        format!("{:?}", env.config()),
        format!("{:?}", SubjectToken::new(subject.clone())),
    ] {
        assert!(!text.contains(CLIENT_SECRET), "{text}");
        assert!(!text.contains(&subject), "{text}");
        assert!(!text.contains(t.token()), "{text}");
    }
}

#[tokio::test]
async fn env_and_command_sources() {
    let env = start(TokenLifetimes::default()).await;
    let token = env.idp.token(json!({}));
    let vars = Arc::new(MapEnv::new().with("CI_ID_TOKEN", token.clone()));
    let t = env
        .provider(EnvSource::new("CI_ID_TOKEN", vars.clone()))
        .exchange()
        .await
        .unwrap();
    assert_eq!(t.kind(), "UPST");
    let e = env
        .provider(EnvSource::new("UNSET_VAR", vars))
        .exchange()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "workload_identity_federation: the environment variable UNSET_VAR (the subject token) is not set"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.json");
    std::fs::write(
        &file,
        json!({"access_token": token, "expires_in": 300}).to_string(),
    )
    .unwrap();
    let cmd = CommandSource::from_command_line(&format!("cat '{}'", file.display())).unwrap();
    assert_eq!(env.provider(cmd).exchange().await.unwrap().kind(), "UPST");
    let failing = CommandSource::new(
        "sh",
        vec!["-c".into(), "echo no token today >&2; exit 3".into()],
    );
    let e = env.provider(failing).exchange().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "workload_identity_federation: the subject token command sh failed (exit status: 3): no token today"
    );
}

#[tokio::test]
async fn github_actions_source_against_a_runner_stand_in() {
    let env = start(TokenLifetimes::default()).await;
    let minted = env.idp.token(json!({}));
    let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let s2 = seen.clone();
    let m2 = minted.clone();
    let base = serve(axum::Router::new().route(
        "/_apis/idtoken",
        axum::routing::get(
            move |headers: axum::http::HeaderMap,
                  axum::extract::RawQuery(q): axum::extract::RawQuery| {
                let (seen, minted) = (s2.clone(), m2.clone());
                async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_string());
                    seen.lock().unwrap().push((
                        vec![("query".into(), q.unwrap_or_default())],
                        auth.clone().unwrap_or_default(),
                    ));
                    if auth.as_deref() != Some("Bearer runner-request-token") {
                        return (axum::http::StatusCode::UNAUTHORIZED, "bad bearer")
                            .into_response();
                    }
                    axum::Json(json!({"count": 1, "value": minted})).into_response()
                }
            },
        ),
    ))
    .await;
    use axum::response::IntoResponse as _;
    let vars = |token: &str| {
        Arc::new(
            MapEnv::new()
                .with(
                    "ACTIONS_ID_TOKEN_REQUEST_URL",
                    format!("{base}/_apis/idtoken?api-version=2.0"),
                )
                .with("ACTIONS_ID_TOKEN_REQUEST_TOKEN", token),
        )
    };
    let gh = GithubActionsSource::new(Some(AUD.into()), vars("runner-request-token")).unwrap();
    assert_eq!(
        gh.describe(),
        "GitHub Actions OIDC token (audience https://cloud.oracle.com)"
    );
    let t = env.provider(gh).exchange().await.unwrap();
    assert_eq!(t.subject(), Some(env.user_id().as_str()));
    assert_eq!(
        seen.lock().unwrap()[0].0[0].1,
        "api-version=2.0&audience=https%3A%2F%2Fcloud.oracle.com"
    );

    let bad = GithubActionsSource::new(None, vars("stale")).unwrap();
    let e = env.provider(bad).exchange().await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "workload_identity_federation: the GitHub Actions OIDC endpoint {base}/_apis/idtoken answered HTTP 401 (bad bearer): check `permissions: id-token: write`"
        )
    );
    assert!(!e.contains("stale"));
    let missing = GithubActionsSource::new(None, Arc::new(MapEnv::new())).unwrap();
    let e = env.provider(missing).exchange().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "workload_identity_federation: ACTIONS_ID_TOKEN_REQUEST_URL is not set: this is not a GitHub Actions job, or the job lacks `permissions: id-token: write`"
    );
}

#[tokio::test]
async fn oidc_client_credentials_source_with_the_domain_as_idp() {
    // The emulator's own client-credentials tokens, trusted by a second trust.
    let env = start(TokenLifetimes::default()).await;
    let d = env.emu.identity_domain();
    d.add_oauth_app("machine", Some("machine"), Some("machine-secret"))
        .unwrap();
    d.add_trust(NewTrust {
        name: "self".into(),
        issuer: "https://identity.oraclecloud.com/".into(),
        jwks_url: Some(format!("{}/admin/v1/SigningCert/jwk", env.emu.base_url())),
        audiences: vec!["urn:oci:wif".into()],
        impersonation: vec![("client_id eq machine".into(), "emulator-user".into())],
        ..trust(&env.idp)
    })
    .unwrap();
    for auth in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
        let source = OidcClientCredentialsSource::new(OidcClientCredentials {
            token_url: format!("{}/oauth2/v1/token", env.emu.base_url()),
            client_id: "machine".into(),
            client_secret: Secret::new("machine-secret"),
            scope: Some("oci".into()),
            resource: Some("urn:oci:wif".into()),
            audience: None,
            auth,
        })
        .unwrap();
        let t = env.provider(source).exchange().await.unwrap();
        assert_eq!(t.claims().claim_str("source_authn_prin"), Some("machine"));
    }
    let wrong = OidcClientCredentialsSource::new(OidcClientCredentials {
        token_url: format!("{}/oauth2/v1/token", env.emu.base_url()),
        client_id: "machine".into(),
        client_secret: Secret::new("nope"),
        scope: None,
        resource: None,
        audience: None,
        auth: ClientAuthMethod::Basic,
    })
    .unwrap();
    let e = env.provider(wrong).exchange().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "workload_identity_federation: the identity provider at {}/oauth2/v1/token rejected the client \"machine\" (invalid_client: wrong client secret for OAuth client \"machine\"): check the IdP client id and secret",
            env.emu.base_url()
        )
    );
}

#[tokio::test]
async fn rpst_and_signed_client_authentication() {
    let env = start(TokenLifetimes::default()).await;
    env.emu
        .identity_domain()
        .add_trust(NewTrust {
            name: "res".into(),
            issuer: "https://k8s.example".into(),
            subject_type: Some("Resource".into()),
            impersonating_resource: Some("k8sworkload".into()),
            claim_propagations: vec!["ext_sub".into()],
            impersonation: vec![],
            ..trust(&env.idp)
        })
        .unwrap();
    let mut cfg = env.config();
    cfg.requested = RequestedToken::Rpst {
        resource_type: "k8sworkload".into(),
        rpst_exp: Some(900),
    };
    let subject = env
        .idp
        .token(json!({"iss": "https://k8s.example", "sub": "system:serviceaccount:ns:app"}));
    let p = WorkloadIdentityFederationProvider::new(cfg, Arc::new(static_source(subject.clone())))
        .unwrap();
    let t = p.exchange().await.unwrap();
    assert_eq!(t.claims().claim_str("ptype"), Some("resource"));
    assert_eq!(
        t.claims().claim_str("ext_sub"),
        Some("system:serviceaccount:ns:app")
    );
    assert_eq!(t.claims().exp().unwrap() - t.claims().iat().unwrap(), 900);
    assert_eq!(
        env.namespace(Arc::new(p)).await.unwrap(),
        env.emu.state().namespace()
    );

    // Signed with the emulator user's API key instead of a client secret.
    let profile =
        ociauth::config::load_profile(&env.emu.config_path(), "DEFAULT", &MapEnv::new()).unwrap();
    let api = ApiKeyProvider::new(
        ociauth::providers::api_key::ApiKeyConfig::from_profile(&profile, &MapEnv::new()).unwrap(),
    )
    .unwrap();
    let mut cfg = env.config();
    cfg.client_auth = ClientAuth::Signed(Arc::new(api));
    let p = WorkloadIdentityFederationProvider::new(
        cfg,
        Arc::new(static_source(env.idp.token(json!({})))),
    )
    .unwrap();
    let t = p.exchange().await.unwrap();
    assert_eq!(t.kind(), "UPST");
    assert!(
        env.log_text()
            .contains("POST /oauth2/v1/token 200 key=\"ocid1.tenancy")
    );
}

/// N tasks use the provider while the emulator's UPSTs live 4 s: every request succeeds (no
/// expired token is ever used) and each renewal is exactly one exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_under_concurrency_never_serves_an_expired_token() {
    let env = Arc::new(
        start(TokenLifetimes {
            federation: Duration::from_secs(4),
            ..TokenLifetimes::default()
        })
        .await,
    );
    let p = Arc::new(
        env.provider(static_source(env.idp.token(json!({}))))
            .caching(),
    );
    let client = Client::new(
        p.clone(),
        ClientOptions {
            no_retry: true,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let tokens: Arc<Mutex<HashSet<String>>> = Arc::default();
    let ok = Arc::new(AtomicU32::new(0));
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (p, client, tokens, ok, env) = (
            p.clone(),
            client.clone(),
            tokens.clone(),
            ok.clone(),
            env.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while std::time::Instant::now() < end {
                let c = p.credentials().await.unwrap();
                assert!(c.expires_at().unwrap() > SystemTime::now());
                tokens
                    .lock()
                    .unwrap()
                    .insert(c.token().unwrap().to_string());
                let ns = ociauth::object_storage::get_namespace(&client, &env.emu.base_url(), None)
                    .await
                    .unwrap();
                assert_eq!(ns, env.emu.state().namespace());
                ok.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let distinct = tokens.lock().unwrap().len();
    assert!(
        distinct >= 4,
        "only {distinct} tokens in 10 s of 4 s tokens"
    );
    assert_eq!(p.inner().exchange_count() as usize, distinct);
    assert_eq!(env.token_posts(), distinct);
    assert!(!env.log_text().contains(" 401 "), "{}", env.log_text());
    assert!(ok.load(Ordering::Relaxed) > 100);
}

#[tokio::test]
async fn a_failed_renewal_keeps_the_current_token_until_it_expires() {
    let env = start(TokenLifetimes::default()).await;
    let clock = ManualClock::new(SystemTime::now());
    let p = env
        .provider(static_source(env.idp.token(json!({"exp": now() + 7200}))))
        .with_clock(Arc::new(clock.clone()))
        .caching();
    let first = p.credentials().await.unwrap();
    env.emu
        .identity_domain()
        .set_trust_active("gh", false)
        .unwrap();
    // Inside the refresh window (less than 5 minutes left): renewal fails, the token stays.
    clock.advance(Duration::from_secs(3600 - 120));
    let again = p.credentials().await.unwrap();
    assert_eq!(again.key_id(), first.key_id());
    assert_eq!(p.inner().exchange_count(), 2);
    // Past its expiry the error comes through.
    clock.advance(Duration::from_secs(200));
    let e = p.credentials().await.unwrap_err();
    assert!(e.to_string().contains("is inactive"), "{e}");
}

#[tokio::test]
async fn save_as_a_session_profile() {
    let env = start(TokenLifetimes::default()).await;
    let t = env
        .provider(static_source(env.idp.token(json!({}))))
        .exchange()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oci/config");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        "[DEFAULT]\nregion=eu-frankfurt-1\n\n[wif]\nuser=old\n",
    )
    .unwrap();
    let files = write_session_profile(
        &t,
        &SessionProfileOptions {
            config_file: config.clone(),
            profile: "wif".into(),
            session_dir: None,
            region: "us-ashburn-1".into(),
            tenancy: None,
        },
    )
    .unwrap();
    let sessions = dir.path().join("oci/sessions/wif");
    assert_eq!(files.token_file, sessions.join("token"));
    assert_eq!(
        std::fs::read_to_string(&files.token_file).unwrap(),
        t.token()
    );
    let key = std::fs::read_to_string(&files.key_file).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(key.ends_with("-----END PRIVATE KEY-----\nOCI_API_KEY"));
    assert_eq!(
        PrivateKey::from_pem(key.as_bytes(), None)
            .unwrap()
            .fingerprint(),
        t.private_key().fingerprint()
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for f in [
        &files.token_file,
        &files.key_file,
        &files.public_key_file,
        &config,
    ] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    assert_eq!(mode(&sessions), 0o700);
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        format!(
            "[DEFAULT]\nregion=eu-frankfurt-1\n\n[wif]\nfingerprint={}\nkey_file={}\ntenancy={}\nregion=us-ashburn-1\nsecurity_token_file={}\n",
            t.private_key().fingerprint(),
            files.key_file.display(),
            env.emu.state().tenancy_id(),
            files.token_file.display()
        )
    );
}

#[tokio::test]
async fn profile_keys_for_on_demand_exchange() {
    let env = start(TokenLifetimes::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("jwt");
    std::fs::write(&token_file, env.idp.token(json!({}))).unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{CLIENT_SECRET}\n")).unwrap();
    let text = format!(
        "[DEFAULT]\nregion=us-ashburn-1\n\n[wif]\ntoken_exchange_domain_url={}\ntoken_exchange_client_id={CLIENT_ID}\ntoken_exchange_client_secret={CLIENT_SECRET}\ntoken_exchange_requested_token_type=urn:oci:token-type:oci-upst\nworkload_identity_token_path={}\n\n[secretfile]\ntoken_exchange_domain_url=x\ntoken_exchange_client_id=a\ntoken_exchange_client_secret_file={}\nworkload_identity_token_env=TOKEN\n\n[two]\ntoken_exchange_domain_url=x\ntoken_exchange_client_id=a\ntoken_exchange_client_secret=b\nworkload_identity_token_path=/t\nworkload_identity_token_env=TOKEN\n\n[rpst]\ntoken_exchange_domain_url=x\ntoken_exchange_auth=InstancePrincipal\ntoken_exchange_requested_token_type=rpst\nworkload_identity_token_source=github_actions\n",
        env.emu.base_url(),
        token_file.display(),
        secret_file.display()
    );
    let file = ConfigFile::parse(&text, std::path::Path::new("/cfg")).unwrap();
    let prof = |n: &str| -> Profile { file.profile(n).unwrap() };
    let vars = MapEnv::new();

    let wif = WifProfile::from_profile(&prof("wif"), &vars).unwrap();
    assert!(WifProfile::is_wif_profile(&prof("wif")));
    assert!(!WifProfile::is_wif_profile(&prof("DEFAULT")));
    assert_eq!(wif.region.as_deref(), Some("us-ashburn-1"));
    // The profile's Debug hides the secret.
    assert!(!format!("{:?} {wif:?}", prof("wif")).contains(CLIENT_SECRET));
    let p = wif.provider(Arc::new(vars.clone()), None).unwrap();
    assert_eq!(
        env.namespace(Arc::new(p.caching())).await.unwrap(),
        env.emu.state().namespace()
    );

    let s = WifProfile::from_profile(&prof("secretfile"), &vars).unwrap();
    let ociauth::providers::workload_identity_federation::ProfileClientAuth::ClientSecret {
        client_secret,
        ..
    } = &s.client_auth
    else {
        panic!("{s:?}");
    };
    assert_eq!(client_secret.expose(), CLIENT_SECRET);

    let e = WifProfile::from_profile(&prof("two"), &vars).unwrap_err();
    assert_eq!(
        e.to_string(),
        "workload_identity_federation: profile [two]: more than one subject token source (workload_identity_token_path, workload_identity_token_env): keep one"
    );
    let e = WifProfile::from_profile(&prof("rpst"), &vars).unwrap_err();
    assert_eq!(
        e.to_string(),
        "workload_identity_federation: profile [rpst]: token_exchange_resource_type is required for an RPST"
    );
    let e = WifProfile::from_profile(&prof("DEFAULT"), &vars).unwrap_err();
    assert_eq!(
        e.to_string(),
        "workload_identity_federation: profile [DEFAULT]: token_exchange_domain_url is missing: set it to the identity domain URL"
    );
}
