//! Instance principals against a small fake IMDS + Auth service that verifies the federation
//! request's signature, keyId, headers and body the way OCI does.

mod principals_fake;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use ociauth::client::{Client, ClientOptions};
use ociauth::env::{Clock, ManualClock, MapEnv};
use ociauth::keys::PublicKey;
use ociauth::object_storage;
use ociauth::providers::instance_principal::{
    self, FingerprintAlgorithm, InstancePrincipalOptions, InstancePrincipalProvider,
};
use ociauth::providers::principal::{PrincipalErrorKind, RetryPolicy};
use ociauth::regions;
use ociauth::{CredentialsProvider, Error};

use principals_fake::*;

fn opts(oci: &FakeOci) -> InstancePrincipalOptions {
    InstancePrincipalOptions {
        federation_endpoint: Some(oci.federation_url()),
        imds_retry: fast(RetryPolicy::IMDS),
        federation_retry: fast(RetryPolicy::FEDERATION),
        ..InstancePrincipalOptions::default()
    }
}

fn env_for(oci: &FakeOci) -> Arc<MapEnv> {
    Arc::new(MapEnv::new().with("OCI_METADATA_BASE_URL", oci.imds_base()))
}

async fn setup() -> (FakeOci, ManualClock) {
    let clock = ManualClock::new(t0());
    (FakeOci::start(clock.clone()).await, clock)
}

fn provider(
    oci: &FakeOci,
    clock: &ManualClock,
    o: InstancePrincipalOptions,
) -> InstancePrincipalProvider {
    InstancePrincipalProvider::new(o, env_for(oci), Arc::new(clock.clone())).unwrap()
}

#[tokio::test]
async fn federation_request_is_signed_and_shaped_like_the_sdks() {
    let (oci, clock) = setup().await;
    let p = provider(&oci, &clock, opts(&oci));
    let creds = p.fetch().await.unwrap();
    assert_eq!(oci.failures(), Vec::<String>::new());

    // Metadata reads, each with the v2 header.
    let reqs = oci.server.requests();
    let paths: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        paths,
        [
            "GET /opc/v2/instance/region",
            "GET /opc/v2/identity/cert.pem",
            "GET /opc/v2/identity/key.pem",
            "GET /opc/v2/identity/intermediate.pem",
            "POST /v1/x509",
        ]
    );
    for r in &reqs[..4] {
        assert_eq!(r.header("authorization"), Some("Bearer Oracle"));
    }

    // The federation request: body keys in the SDK order, SHA-256 keyId form, no host signed.
    let fed = &reqs[4];
    assert_eq!(fed.header("content-type"), Some("application/json"));
    let body = fed.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "certificate",
            "publicKey",
            "intermediateCertificates",
            "fingerprintAlgorithm"
        ]
    );
    let params = fed
        .verify_signature(&PublicKey::from(&oci.state.lock().unwrap().chain.leaf_key))
        .unwrap();
    assert_eq!(
        params.headers,
        [
            "date",
            "(request-target)",
            "content-length",
            "content-type",
            "x-content-sha256"
        ]
    );
    let leaf_der = oci.state.lock().unwrap().chain.leaf_der.clone();
    assert_eq!(
        params.key_id,
        format!(
            "{TENANCY}/fed-x509-sha256/{}",
            instance_principal::fingerprint_sha256(&leaf_der)
        )
    );
    // Python's json.dumps spacing.
    assert!(
        std::str::from_utf8(&fed.body)
            .unwrap()
            .starts_with("{\"certificate\": \"")
    );

    // The credentials: ST$<token>, the session key the token is bound to, exp, region, tenancy.
    let token = creds.token().unwrap();
    let session = token_session_key(token, clock.now()).unwrap();
    assert_eq!(session.spki_der(), creds.private_key().public_key_der());
    assert_eq!(
        spki_b64(body["publicKey"].as_str().unwrap()).spki_der(),
        session.spki_der()
    );
    assert_ne!(
        creds.private_key(),
        &oci.state.lock().unwrap().chain.leaf_key
    );
    assert_eq!(creds.expires_at(), Some(t0() + Duration::from_secs(1200)));
    assert_eq!(creds.region(), Some("us-phoenix-1"));
    assert_eq!(creds.tenancy(), Some(TENANCY));
    assert_eq!(creds.source(), "instance_principal");
    assert_eq!(p.tenancy().as_deref(), Some(TENANCY));

    // Secrets stay out of Debug.
    let dbg = format!("{creds:?} {p:?}");
    assert!(!dbg.contains(token), "{dbg}");
    assert!(!dbg.contains("PRIVATE KEY"), "{dbg}");
}

#[tokio::test]
async fn sha1_key_id_form_is_selectable() {
    let (oci, clock) = setup().await;
    let p = provider(
        &oci,
        &clock,
        InstancePrincipalOptions {
            fingerprint_algorithm: FingerprintAlgorithm::Sha1,
            ..opts(&oci)
        },
    );
    p.fetch().await.unwrap();
    assert_eq!(oci.failures(), Vec::<String>::new());
    let fed = oci.server.requests().pop().unwrap();
    let key_id = ociauth::signer::parse_authorization(fed.header("authorization").unwrap())
        .unwrap()
        .key_id;
    let fp = key_id
        .strip_prefix(&format!("{TENANCY}/fed-x509/"))
        .unwrap();
    assert_eq!(fp.len(), 59);
    assert_eq!(fp, fp.to_uppercase());
    let body = fed.json();
    assert_eq!(body.get("fingerprintAlgorithm"), None);
}

#[tokio::test]
async fn region_in_long_form_and_the_default_federation_endpoint() {
    let (oci, clock) = setup().await;
    oci.state.lock().unwrap().region = "eu-frankfurt-1".into();
    let p = provider(
        &oci,
        &clock,
        InstancePrincipalOptions {
            federation_endpoint: None,
            ..opts(&oci)
        },
    );
    let region = p.fetch_region().await.unwrap();
    assert_eq!(region.id, "eu-frankfurt-1");
    assert_eq!(
        p.federation_endpoint(&region),
        "https://auth.eu-frankfurt-1.oraclecloud.com/v1/x509"
    );
    let phx = regions::resolve_region("phx", &MapEnv::new()).unwrap();
    assert_eq!(
        p.federation_endpoint(&phx),
        "https://auth.us-phoenix-1.oraclecloud.com/v1/x509"
    );
}

#[tokio::test]
async fn every_refresh_uses_a_fresh_session_key() {
    let (oci, clock) = setup().await;
    let p = provider(&oci, &clock, opts(&oci));
    let a = p.fetch().await.unwrap();
    let b = p.fetch().await.unwrap();
    assert_ne!(a.private_key(), b.private_key());
    assert_ne!(a.key_id(), b.key_id());
    let bodies: Vec<String> = oci
        .server
        .requests()
        .iter()
        .filter(|r| r.path() == "/v1/x509")
        .map(|r| r.json()["publicKey"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_ne!(bodies[0], bodies[1]);
    // The region is read once.
    assert_eq!(oci.server.count("GET", "/opc/v2/instance/region"), 1);
    assert_eq!(oci.server.count("GET", "/opc/v2/identity/cert.pem"), 2);
}

#[tokio::test]
async fn metadata_errors_are_retried_within_the_budget() {
    let (oci, clock) = setup().await;
    oci.fault("/opc/v2/instance/region", Resp::text(500, "oops"));
    oci.fault("/opc/v2/identity/cert.pem", Resp::text(404, "not yet"));
    oci.fault("/opc/v2/identity/cert.pem", Resp::text(429, "slow down"));
    let p = provider(&oci, &clock, opts(&oci));
    p.fetch().await.unwrap();
    assert_eq!(oci.server.count("GET", "/opc/v2/instance/region"), 2);
    assert_eq!(oci.server.count("GET", "/opc/v2/identity/cert.pem"), 3);

    // 8 attempts, then a clear error.
    let (oci, clock) = setup().await;
    for _ in 0..8 {
        oci.fault("/opc/v2/instance/region", Resp::text(503, "down"));
    }
    let p = provider(&oci, &clock, opts(&oci));
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "instance_principal: the instance metadata request (GET {}/instance/region) failed: \
             503: down (gave up after 8 attempts)",
            oci.imds_base()
        )
    );
    assert!(e.is_transient());
    assert_eq!(oci.server.count("GET", "/opc/v2/instance/region"), 8);
}

#[tokio::test]
async fn a_key_rotated_between_reads_is_read_again() {
    let (oci, clock) = setup().await;
    oci.state.lock().unwrap().wrong_key_once = Some(cached_key(2));
    let p = provider(&oci, &clock, opts(&oci));
    p.fetch().await.unwrap();
    assert_eq!(oci.failures(), Vec::<String>::new());
    assert_eq!(oci.server.count("GET", "/opc/v2/identity/key.pem"), 2);
}

#[tokio::test]
async fn federation_5xx_and_429_are_retried_then_the_budget_ends() {
    let (oci, clock) = setup().await;
    oci.fault("/v1/x509", Resp::error(503, "ServiceUnavailable", "busy"));
    oci.fault("/v1/x509", Resp::error(429, "TooManyRequests", "slow down"));
    let p = provider(&oci, &clock, opts(&oci));
    p.fetch().await.unwrap();
    assert_eq!(oci.federation_calls(), 3);

    // Three attempts in all.
    let (oci, clock) = setup().await;
    for _ in 0..3 {
        oci.fault(
            "/v1/x509",
            Resp::error(500, "InternalError", "boom").with_header("opc-request-id", "req-1"),
        );
    }
    let p = provider(&oci, &clock, opts(&oci));
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "instance_principal: the federation request (POST {}) failed: 500 InternalError: \
             boom (opc-request-id: req-1) (gave up after 3 attempts)",
            oci.federation_url()
        )
    );
    assert!(e.is_transient());
    assert_eq!(e.kind(), PrincipalErrorKind::Service);
    assert_eq!(e.status(), Some(500));
    assert_eq!(oci.federation_calls(), 3);

    // A 4xx is not retried.
    let (oci, clock) = setup().await;
    oci.fault(
        "/v1/x509",
        Resp::error(401, "NotAuthenticated", "bad certificate"),
    );
    let p = provider(&oci, &clock, opts(&oci));
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "instance_principal: the federation request (POST {}) failed: 401 NotAuthenticated: \
             bad certificate",
            oci.federation_url()
        )
    );
    assert!(!e.is_transient());
    assert_eq!(oci.federation_calls(), 1);
}

#[tokio::test]
async fn metadata_service_down_fails_fast_with_a_clear_error() {
    let addr = closed_port().await;
    let base = format!("http://{addr}/opc/v2");
    let p = InstancePrincipalProvider::new(
        InstancePrincipalOptions::default(), // the real 180 s budget: it must not be spent
        Arc::new(MapEnv::new().with("OCI_METADATA_BASE_URL", format!("{base}/"))),
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(20), p.fetch())
        .await
        .expect("fetch hung instead of failing")
        .unwrap_err();
    assert_eq!(e.kind(), PrincipalErrorKind::NotOnInstance);
    assert!(e.is_not_configured());
    assert!(!e.is_transient());
    assert_eq!(
        e.to_string(),
        format!(
            "instance_principal: not on an OCI instance: the instance metadata service at {base} \
             is unreachable (connection refused); instance principals work only on OCI compute \
             instances (set OCI_METADATA_BASE_URL to use a metadata service at another address)"
        )
    );
    let err: Error = e.into();
    assert!(
        err.to_string()
            .starts_with("instance_principal: not on an OCI instance")
    );
}

#[tokio::test]
async fn malformed_tokens_and_bodies_are_refused() {
    let cases = [
        (
            Resp::json(200, json!({"token": "not-a-jwt"})),
            "the token from POST {url}: not a JWT: expected three dot-separated parts \
             (header.payload.signature), found 1",
        ),
        (
            Resp::json(200, json!({"jwt": "x"})),
            "the federation request (POST {url}) answered without a \"token\" string",
        ),
        (
            Resp::text(200, "<html>"),
            "the federation request (POST {url}) answered with a body that is not a JSON object \
             (6 bytes)",
        ),
        (
            Resp::json(200, json!({"token": jwt_without_exp()})),
            "the token from POST {url}: the token has no \"exp\" claim",
        ),
    ];
    for (resp, want) in cases {
        let (oci, clock) = setup().await;
        oci.fault("/v1/x509", resp);
        let p = provider(&oci, &clock, opts(&oci));
        let e = p.fetch().await.unwrap_err();
        let want = format!(
            "instance_principal: {}",
            want.replace("{url}", &oci.federation_url())
        );
        assert_eq!(e.to_string(), want);
        assert_eq!(e.kind(), PrincipalErrorKind::InvalidResponse);
        assert_eq!(oci.federation_calls(), 1, "{want}");
    }
}

fn jwt_without_exp() -> String {
    ociauth::jwt::sign_rs256(&serde_json::Value::Null, &json!({"sub": "x"}), &token_key()).unwrap()
}

#[tokio::test]
async fn an_already_expired_token_is_refused() {
    let (oci, clock) = setup().await;
    // The fake mints with the clock; the provider checks against a clock an hour ahead.
    let ahead = ManualClock::new(t0() + Duration::from_secs(3600));
    let p = InstancePrincipalProvider::new(opts(&oci), env_for(&oci), Arc::new(ahead)).unwrap();
    let e = p.fetch().await.unwrap_err();
    assert_eq!(e.kind(), PrincipalErrorKind::Expired);
    assert!(e.message().ends_with("; check the system clock"), "{e}");
    drop(clock);
}

#[tokio::test]
async fn a_changed_tenancy_is_refused() {
    let (oci, clock) = setup().await;
    let p = provider(&oci, &clock, opts(&oci));
    p.fetch().await.unwrap();
    oci.state.lock().unwrap().chain = chain(OTHER_TENANCY, cached_key(1));
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "instance_principal: the refreshed instance certificate names the tenancy \
             {OTHER_TENANCY}, but this provider started with {TENANCY}; refusing to switch \
             tenancies (restart the program to use the new tenancy)"
        )
    );
    assert_eq!(e.kind(), PrincipalErrorKind::TenancyChanged);
    assert_eq!(oci.federation_calls(), 1);

    // With a purpose the SDKs do not check the tenancy.
    let (oci, clock) = setup().await;
    let p = provider(
        &oci,
        &clock,
        InstancePrincipalOptions {
            purpose: Some("SERVICE_PRINCIPAL".into()),
            ..opts(&oci)
        },
    );
    p.fetch().await.unwrap();
    oci.state.lock().unwrap().chain = chain(OTHER_TENANCY, cached_key(1));
    let c = p.fetch().await.unwrap();
    assert_eq!(c.tenancy(), Some(OTHER_TENANCY));
    let purposes: Vec<_> = oci
        .server
        .requests()
        .iter()
        .filter(|r| r.path() == "/v1/x509")
        .map(|r| r.json()["purpose"].clone())
        .collect();
    assert_eq!(
        purposes,
        [json!("SERVICE_PRINCIPAL"), json!("SERVICE_PRINCIPAL")]
    );
}

#[tokio::test]
async fn a_certificate_without_a_tenancy_is_refused() {
    let (oci, clock) = setup().await;
    {
        let mut s = oci.state.lock().unwrap();
        let inter = s.chain.intermediate_pem.clone();
        s.chain.leaf_pem = inter; // a valid certificate whose subject has no opc-tenant:
    }
    let p = provider(&oci, &clock, opts(&oci));
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "instance_principal: {}/identity/cert.pem from the instance metadata service is \
             unusable: the certificate's subject (CN=PKISVC Identity Intermediate r2) has no \
             opc-tenant: attribute naming the tenancy",
            oci.imds_base()
        )
    );
}

#[tokio::test]
async fn twenty_concurrent_callers_share_one_federation_call_per_refresh() {
    let (oci, clock) = setup().await;
    oci.state.lock().unwrap().federation_delay = Duration::from_millis(200);
    let cached = Arc::new(provider(&oci, &clock, opts(&oci)).cached());
    for round in 1..=2 {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let c = Arc::clone(&cached);
                tokio::spawn(async move { c.credentials().await.unwrap() })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().key_id().to_string());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "round {round}: callers got different tokens");
        assert_eq!(oci.federation_calls(), round);
        // Into the refresh window (5 minutes before the 20-minute token expires).
        clock.advance(Duration::from_secs(16 * 60));
    }
}

#[tokio::test]
async fn tokens_are_renewed_across_several_short_lifetimes() {
    let (oci, clock) = setup().await;
    oci.state.lock().unwrap().lifetime = Duration::from_secs(120);
    let cached = provider(&oci, &clock, opts(&oci)).cached();
    let mut seen = Vec::new();
    for cycle in 1..=4 {
        let c = cached.credentials().await.unwrap();
        assert_eq!(oci.federation_calls(), cycle);
        assert!(c.expires_at().unwrap() > clock.now());
        // Still fresh half way to the refresh point: no new call.
        clock.advance(Duration::from_secs(30));
        assert_eq!(cached.credentials().await.unwrap().key_id(), c.key_id());
        assert_eq!(oci.federation_calls(), cycle);
        // Past half of the 120 s lifetime: the next call renews.
        clock.advance(Duration::from_secs(31));
        seen.push(c.key_id().to_string());
    }
    seen.dedup();
    assert_eq!(seen.len(), 4);
    assert_eq!(oci.failures(), Vec::<String>::new());
}

#[tokio::test]
async fn a_401_from_a_service_forces_one_refresh_and_retry() {
    let (oci, clock) = setup().await;
    let cached = Arc::new(provider(&oci, &clock, opts(&oci)).cached());
    let client = Client::new(
        cached.clone(),
        ClientOptions {
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            clock: Arc::new(clock.clone()),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        object_storage::get_namespace(&client, &oci.server.base(), None)
            .await
            .unwrap(),
        "fakenamespace"
    );
    assert_eq!(oci.federation_calls(), 1);
    // The service refuses the cached token once (e.g. revoked): the client invalidates, the
    // provider federates again, the request is retried once with the new token.
    oci.fault("/n", Resp::error(401, "NotAuthenticated", "token revoked"));
    assert_eq!(
        object_storage::get_namespace(&client, &oci.server.base(), None)
            .await
            .unwrap(),
        "fakenamespace"
    );
    assert_eq!(oci.federation_calls(), 2);
    let gets: Vec<String> = oci
        .server
        .requests()
        .iter()
        .filter(|r| r.path() == "/n")
        .map(|r| {
            ociauth::signer::parse_authorization(r.header("authorization").unwrap())
                .unwrap()
                .key_id
        })
        .collect();
    assert_eq!(gets.len(), 3);
    assert_eq!(gets[0], gets[1]);
    assert_ne!(gets[1], gets[2]);
}

#[test]
fn settings_are_checked_without_network() {
    let e = InstancePrincipalProvider::new(
        InstancePrincipalOptions::default(),
        Arc::new(MapEnv::new().with("OCI_METADATA_BASE_URL", "ftp://x/opc/v2")),
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "instance_principal: OCI_METADATA_BASE_URL: invalid metadata service URL \
         \"ftp://x/opc/v2/instance/region\": expected an http:// or https:// URL"
    );
    assert_eq!(e.variable(), Some("OCI_METADATA_BASE_URL"));
    // Blank means unset: the default base.
    let p = InstancePrincipalProvider::new(
        InstancePrincipalOptions::default(),
        Arc::new(MapEnv::new().with("OCI_METADATA_BASE_URL", "  ")),
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap();
    assert_eq!(p.metadata_base_url(), "http://169.254.169.254/opc/v2");
}
