//! Resource principals 2.2 (values and files), 1.1 (RPT then RPST through the instance
//! principal) and 3.0 (nested), against the fake OCI in `principals_fake`.

mod principals_fake;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use ociauth::env::{Clock, ManualClock, MapEnv};
use ociauth::jwt;
use ociauth::keys::PublicKey;
use ociauth::providers::instance_principal::InstancePrincipalOptions;
use ociauth::providers::principal::{PrincipalErrorKind, RetryPolicy};
use ociauth::providers::resource_principal::{ResourcePrincipalOptions, ResourcePrincipalProvider};
use ociauth::{CredentialsProvider, Error};

use principals_fake::*;

fn rp(
    env: MapEnv,
    clock: &ManualClock,
) -> Result<ResourcePrincipalProvider, ociauth::providers::principal::PrincipalError> {
    ResourcePrincipalProvider::from_env(
        ResourcePrincipalOptions::default(),
        Arc::new(env),
        Arc::new(clock.clone()),
    )
}

fn rpst(now: std::time::SystemTime, lifetime: Duration, n: u32) -> String {
    mint(
        json!({"sub": "ocid1.fnfunc.oc1..f", "res_tenant": RES_TENANCY,
               "res_compartment": "ocid1.compartment.oc1..c", "n": n}),
        now,
        lifetime,
        None,
    )
}

fn key_pem() -> String {
    cached_key(3).to_pkcs8_pem(None).unwrap().to_string()
}

#[test]
fn an_unset_version_means_not_configured() {
    let clock = ManualClock::new(t0());
    let e = rp(MapEnv::new(), &clock).unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: OCI_RESOURCE_PRINCIPAL_VERSION is not defined: resource principals \
         are not configured in this environment (OCI services that support them set it to 2.2, \
         1.1 or 3.0)"
    );
    assert_eq!(e.kind(), PrincipalErrorKind::NotConfigured);
    assert!(e.is_not_configured());
    assert_eq!(e.variable(), Some("OCI_RESOURCE_PRINCIPAL_VERSION"));

    let e = rp(
        MapEnv::new().with("OCI_RESOURCE_PRINCIPAL_VERSION", "2.1"),
        &clock,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: Unsupported OCI_RESOURCE_PRINCIPAL_VERSION: 2.1 (this library \
         supports 2.2, 1.1 and 3.0)"
    );
    assert_eq!(e.kind(), PrincipalErrorKind::Invalid);
    assert!(!e.is_not_configured());
}

#[test]
fn v22_missing_variables_are_named() {
    let clock = ManualClock::new(t0());
    let base = MapEnv::new().with("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2");
    let e = rp(base.clone(), &clock).unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: OCI_RESOURCE_PRINCIPAL_RPST is not set (OCI_RESOURCE_PRINCIPAL_VERSION \
         is 2.2: set it to the resource principal session token or to the absolute path of a \
         file holding it)"
    );
    assert_eq!(e.variable(), Some("OCI_RESOURCE_PRINCIPAL_RPST"));
    assert!(!e.is_not_configured());
    let e = rp(
        base.with(
            "OCI_RESOURCE_PRINCIPAL_RPST",
            rpst(t0(), Duration::from_secs(60), 1),
        ),
        &clock,
    )
    .unwrap_err();
    assert_eq!(e.variable(), Some("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"));
}

#[tokio::test]
async fn v22_values() {
    let clock = ManualClock::new(t0());
    let token = rpst(t0(), Duration::from_secs(1200), 1);
    let env = MapEnv::new()
        .with("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
        .with("OCI_RESOURCE_PRINCIPAL_RPST", token.clone())
        .with("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key_pem())
        .with("OCI_RESOURCE_PRINCIPAL_REGION", "iad");
    let p = rp(env, &clock).unwrap();
    assert_eq!(p.version(), "2.2");
    let c = p.fetch().await.unwrap();
    assert_eq!(c.key_id(), format!("ST${token}"));
    assert_eq!(c.private_key(), &cached_key(3));
    assert_eq!(c.region(), Some("us-ashburn-1"));
    assert_eq!(c.tenancy(), Some(RES_TENANCY));
    assert_eq!(c.expires_at(), Some(t0() + Duration::from_secs(1200)));
    assert_eq!(c.source(), "resource_principal");
    let dbg = format!("{p:?} {c:?}");
    assert!(!dbg.contains(&token), "{dbg}");
    assert!(!dbg.contains("PRIVATE KEY"), "{dbg}");

    // Literal values cannot be renewed: once expired, a clear error.
    clock.advance(Duration::from_secs(1200));
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: the session token in OCI_RESOURCE_PRINCIPAL_RPST expired at Thu, 01 \
         Jan 2026 00:20:00 GMT (now Thu, 01 Jan 2026 00:20:00 GMT); the platform must start the \
         program with a new one"
    );
    assert!(!e.is_transient());
}

#[test]
fn v22_malformed_values_are_refused_up_front() {
    let clock = ManualClock::new(t0());
    let env = MapEnv::new()
        .with("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
        .with("OCI_RESOURCE_PRINCIPAL_RPST", "garbage")
        .with("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key_pem());
    let e = rp(env.clone(), &clock).unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: the session token in OCI_RESOURCE_PRINCIPAL_RPST: not a JWT: expected \
         three dot-separated parts (header.payload.signature), found 1"
    );
    assert_eq!(e.variable(), Some("OCI_RESOURCE_PRINCIPAL_RPST"));
    let e = rp(
        env.with(
            "OCI_RESOURCE_PRINCIPAL_RPST",
            rpst(t0(), Duration::from_secs(60), 1),
        )
        .with("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", "not a key"),
        &clock,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: the private key in OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM: no PEM private \
         key found (expected a '-----BEGIN ... PRIVATE KEY-----' block)"
    );
    let e = rp(
        MapEnv::new()
            .with("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
            .with(
                "OCI_RESOURCE_PRINCIPAL_RPST",
                rpst(t0(), Duration::from_secs(60), 1),
            )
            .with("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key_pem())
            .with("OCI_RESOURCE_PRINCIPAL_REGION", "bad region"),
        &clock,
    )
    .unwrap_err();
    assert_eq!(e.variable(), Some("OCI_RESOURCE_PRINCIPAL_REGION"));
}

#[tokio::test]
async fn v22_files_are_read_again_and_follow_renewals() {
    let clock = ManualClock::new(t0());
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("rpst");
    let key = dir.path().join("key.pem");
    let pass = dir.path().join("pass");
    std::fs::write(
        &tok,
        format!("{}\n", rpst(t0(), Duration::from_secs(600), 1)),
    )
    .unwrap();
    std::fs::write(
        &key,
        cached_key(3)
            .to_pkcs8_pem(Some(b"s3cret"))
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    std::fs::write(&pass, "s3cret\n").unwrap();
    let env = MapEnv::new()
        .with("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
        .with("OCI_RESOURCE_PRINCIPAL_RPST", tok.to_str().unwrap())
        .with("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key.to_str().unwrap())
        .with(
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE",
            pass.to_str().unwrap(),
        );
    let cached = rp(env.clone(), &clock).unwrap().cached();
    let a = cached.credentials().await.unwrap();
    assert_eq!(a.private_key(), &cached_key(3));
    assert_eq!(
        jwt::decode_unverified(a.token().unwrap())
            .unwrap()
            .claim("n"),
        Some(&json!(1))
    );
    assert_eq!(a.region(), None);

    // The platform renews the token and rotates the key on disk.
    let renewed_at = t0() + Duration::from_secs(400);
    std::fs::write(&tok, rpst(renewed_at, Duration::from_secs(600), 2)).unwrap();
    std::fs::write(
        &key,
        cached_key(4)
            .to_pkcs8_pem(Some(b"s3cret"))
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    // Outside the refresh window the cached snapshot is served.
    clock.advance(Duration::from_secs(100));
    assert_eq!(cached.credentials().await.unwrap().key_id(), a.key_id());
    // Inside it (5 minutes before exp) the files are read again.
    clock.advance(Duration::from_secs(300));
    let b = cached.credentials().await.unwrap();
    assert_ne!(b.key_id(), a.key_id());
    assert_eq!(b.private_key(), &cached_key(4));
    // A 401 (invalidate) reads them again at once.
    std::fs::write(&tok, rpst(renewed_at, Duration::from_secs(600), 3)).unwrap();
    cached.invalidate();
    let c = cached.credentials().await.unwrap();
    assert_eq!(
        jwt::decode_unverified(c.token().unwrap())
            .unwrap()
            .claim("n"),
        Some(&json!(3))
    );

    // An expired token left on disk: transient (the platform may still renew it).
    clock.advance(Duration::from_secs(3600));
    let e = rp(env.clone(), &clock).unwrap().fetch().await.unwrap_err();
    assert_eq!(e.kind(), PrincipalErrorKind::Expired);
    assert!(e.is_transient());
    assert!(
        e.to_string().starts_with(&format!(
            "resource_principal: the session token in {} (OCI_RESOURCE_PRINCIPAL_RPST) expired at",
            tok.display()
        )),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("the platform has not renewed the file yet"),
        "{e}"
    );

    // A missing file names it.
    std::fs::remove_file(&tok).unwrap();
    let e = rp(env.clone(), &clock).unwrap().fetch().await.unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "resource_principal: could not read the resource principal session token file {} \
             (OCI_RESOURCE_PRINCIPAL_RPST): ",
            tok.display()
        )),
        "{e}"
    );

    // With a key path, the passphrase must be a path too.
    let e = rp(
        env.with("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", "s3cret"),
        &clock,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE must be the absolute \
         path of a file holding the passphrase, because OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM is a path"
    );
    assert!(!e.to_string().contains("s3cret"));
}

// ---------------------------------------------------------------------------------------------
// 1.1
// ---------------------------------------------------------------------------------------------

fn networked_opts(oci: &FakeOci) -> ResourcePrincipalOptions {
    ResourcePrincipalOptions {
        instance_principal: InstancePrincipalOptions {
            federation_endpoint: Some(oci.federation_url()),
            imds_retry: fast(RetryPolicy::IMDS),
            federation_retry: fast(RetryPolicy::FEDERATION),
            ..InstancePrincipalOptions::default()
        },
        retry: fast(RetryPolicy::SERVICE),
        ..ResourcePrincipalOptions::default()
    }
}

fn v11_env(oci: &FakeOci) -> MapEnv {
    MapEnv::new()
        .with("OCI_RESOURCE_PRINCIPAL_VERSION", "1.1")
        .with("OCI_METADATA_BASE_URL", oci.imds_base())
        .with("OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT", oci.server.base())
        .with(
            "OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT",
            format!("{}/", oci.server.base()),
        )
}

fn networked(oci: &FakeOci, env: MapEnv, clock: &ManualClock) -> ResourcePrincipalProvider {
    ResourcePrincipalProvider::from_env(networked_opts(oci), Arc::new(env), Arc::new(clock.clone()))
        .unwrap()
}

#[tokio::test]
async fn v11_gets_an_rpt_then_an_rpst_through_the_instance_principal() {
    let clock = ManualClock::new(t0());
    let oci = FakeOci::start(clock.clone()).await;
    let p = networked(&oci, v11_env(&oci), &clock);
    assert_eq!(p.version(), "1.1");
    let c = p.fetch().await.unwrap();
    assert_eq!(oci.failures(), Vec::<String>::new());

    let reqs = oci.server.requests();
    let lines: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    let want_rpt = format!(
        "GET /20180711/resourcePrincipalToken/{}",
        INSTANCE_ID.to_lowercase()
    );
    assert_eq!(
        lines,
        [
            "GET /opc/v2/instance/region",
            "GET /opc/v2/identity/cert.pem",
            "GET /opc/v2/identity/key.pem",
            "GET /opc/v2/identity/intermediate.pem",
            "POST /v1/x509",
            "GET /opc/v2/instance/id",
            want_rpt.as_str(),
            "POST /v1/resourcePrincipalSessionToken",
        ]
    );
    // Both calls are signed with the instance principal's token.
    let ip_token = {
        let fed_answer = &reqs[6];
        let auth =
            ociauth::signer::parse_authorization(fed_answer.header("authorization").unwrap())
                .unwrap();
        auth.key_id.strip_prefix("ST$").unwrap().to_string()
    };
    assert_eq!(
        jwt::decode_unverified(&ip_token)
            .unwrap()
            .claim_str("ptype"),
        Some("instance")
    );
    let post = &reqs[7];
    assert_eq!(
        ociauth::signer::parse_authorization(post.header("authorization").unwrap())
            .unwrap()
            .key_id,
        format!("ST${ip_token}")
    );
    let body = post.json();
    assert_eq!(
        body["resourcePrincipalToken"],
        json!(format!("rpt:{}", &want_rpt[4..]))
    );
    assert_eq!(body["servicePrincipalSessionToken"], json!("spst"));
    // The RPST is bound to a fresh session key, which the credentials sign with.
    let session = spki_b64(body["sessionPublicKey"].as_str().unwrap());
    assert_eq!(session.spki_der(), c.private_key().public_key_der());
    assert_eq!(
        token_session_key(c.token().unwrap(), clock.now())
            .unwrap()
            .spki_der(),
        session.spki_der()
    );
    assert_eq!(c.region(), Some("us-phoenix-1"));
    assert_eq!(c.tenancy(), Some(RES_TENANCY));
    assert_eq!(c.expires_at(), Some(t0() + Duration::from_secs(1200)));

    // A refresh makes a new session key but reuses the instance principal token.
    let d = p.fetch().await.unwrap();
    assert_ne!(d.private_key(), c.private_key());
    assert_eq!(oci.federation_calls(), 1);
}

#[tokio::test]
async fn v11_path_template_and_id_from_the_environment() {
    let clock = ManualClock::new(t0());
    let oci = FakeOci::start(clock.clone()).await;
    let env = v11_env(&oci)
        .with(
            "OCI_RESOURCE_PRINCIPAL_RPT_PATH",
            "/custom/resourcePrincipalToken/{id}/x",
        )
        .with("OCI_RESOURCE_PRINCIPAL_RPT_ID", "MyDb");
    networked(&oci, env, &clock).fetch().await.unwrap();
    assert_eq!(
        oci.server
            .count("GET", "/custom/resourcePrincipalToken/MyDb/x"),
        1
    );
    assert_eq!(oci.server.count("GET", "/opc/v2/instance/id"), 0);
}

#[tokio::test]
async fn v11_retries_and_renews_the_instance_principal_on_401() {
    let clock = ManualClock::new(t0());
    let oci = FakeOci::start(clock.clone()).await;
    let rpt_path = format!(
        "/20180711/resourcePrincipalToken/{}",
        INSTANCE_ID.to_lowercase()
    );
    oci.fault(&rpt_path, Resp::error(401, "NotAuthenticated", "stale"));
    oci.fault(
        "/v1/resourcePrincipalSessionToken",
        Resp::error(503, "Unavailable", "busy"),
    );
    oci.fault(
        "/v1/resourcePrincipalSessionToken",
        Resp::error(429, "TooManyRequests", "slow"),
    );
    let p = networked(&oci, v11_env(&oci), &clock);
    p.fetch().await.unwrap();
    assert_eq!(oci.failures(), Vec::<String>::new());
    assert_eq!(
        oci.federation_calls(),
        2,
        "the 401 renews the instance principal once"
    );
    assert_eq!(oci.server.count("GET", &rpt_path), 2);
    assert_eq!(
        oci.server
            .count("POST", "/v1/resourcePrincipalSessionToken"),
        3
    );

    // A 4xx other than 401 is final, and says which call failed.
    oci.fault(
        "/v1/resourcePrincipalSessionToken",
        Resp::error(400, "InvalidParameter", "bad rpt"),
    );
    let e = p.fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "resource_principal: the resource principal session token request (POST {}/v1/resourcePrincipalSessionToken) \
             failed: 400 InvalidParameter: bad rpt",
            oci.server.base()
        )
    );
    let err: Error = e.into();
    assert!(!err.is_transient());
}

#[test]
fn v11_requires_the_rpt_endpoint() {
    let clock = ManualClock::new(t0());
    let e = rp(
        MapEnv::new().with("OCI_RESOURCE_PRINCIPAL_VERSION", "1.1"),
        &clock,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT is not set \
         (OCI_RESOURCE_PRINCIPAL_VERSION is 1.1: set it to the base URL of the service that \
         issues this resource's resource principal tokens)"
    );
    assert_eq!(e.variable(), Some("OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT"));
}

#[tokio::test]
async fn v11_off_an_instance_says_so() {
    let clock = ManualClock::new(t0());
    let addr = closed_port().await;
    let env = MapEnv::new()
        .with("OCI_RESOURCE_PRINCIPAL_VERSION", "1.1")
        .with("OCI_METADATA_BASE_URL", format!("http://{addr}/opc/v2"))
        .with(
            "OCI_RESOURCE_PRINCIPAL_RPT_ENDPOINT",
            format!("http://{addr}"),
        );
    let e = rp(env, &clock).unwrap().fetch().await.unwrap_err();
    assert!(
        e.to_string().starts_with(
            "resource_principal: getting the instance principal token failed: instance_principal: \
             not on an OCI instance:"
        ),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3.0
// ---------------------------------------------------------------------------------------------

fn v30_env(oci: &FakeOci, clock: &ManualClock) -> MapEnv {
    MapEnv::new()
        .with("OCI_RESOURCE_PRINCIPAL_VERSION", "3.0")
        .with("OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE", "2.2")
        .with(
            "OCI_RESOURCE_PRINCIPAL_RPST_FOR_LEAF_RESOURCE",
            rpst(clock.now(), Duration::from_secs(1200), 0),
        )
        .with(
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_FOR_LEAF_RESOURCE",
            key_pem(),
        )
        .with("OCI_RESOURCE_PRINCIPAL_REGION_FOR_LEAF_RESOURCE", "fra")
        .with(
            "OCI_RESOURCE_PRINCIPAL_RPT_URL_FOR_PARENT_RESOURCE",
            format!("{}/parent/level0", oci.server.base()),
        )
        .with(
            "OCI_RESOURCE_PRINCIPAL_RPST_ENDPOINT_FOR_PARENT_RESOURCE",
            oci.server.base(),
        )
}

/// The leaf RPST's session key is `cached_key(3)`: the fake needs a token bound to it.
fn leaf_rpst(now: std::time::SystemTime) -> String {
    mint(
        json!({"sub": "ocid1.leaf.oc1..l", "res_tenant": RES_TENANCY}),
        now,
        Duration::from_secs(1200),
        Some(&PublicKey::from(&cached_key(3))),
    )
}

#[tokio::test]
async fn v30_follows_parent_levels_signed_by_the_level_below() {
    let clock = ManualClock::new(t0());
    let oci = FakeOci::start(clock.clone()).await;
    let base = oci.server.base();
    oci.state
        .lock()
        .unwrap()
        .parent_headers
        .insert("/parent/level0".into(), format!("{base}/parent/level1"));
    let leaf = leaf_rpst(clock.now());
    let env = v30_env(&oci, &clock).with(
        "OCI_RESOURCE_PRINCIPAL_RPST_FOR_LEAF_RESOURCE",
        leaf.clone(),
    );
    let p = networked(&oci, env, &clock);
    assert_eq!(p.version(), "3.0");
    let c = p.fetch().await.unwrap();
    assert_eq!(oci.failures(), Vec::<String>::new());

    let reqs = oci.server.requests();
    let lines: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        lines,
        [
            "GET /parent/level0",
            "POST /v1/resourcePrincipalSessionToken",
            "GET /parent/level1",
            "POST /v1/resourcePrincipalSessionToken",
        ]
    );
    let key_id = |i: usize| {
        ociauth::signer::parse_authorization(reqs[i].header("authorization").unwrap())
            .unwrap()
            .key_id
    };
    // Level 0 is signed by the leaf; level 1 by level 0's token.
    assert_eq!(key_id(0), format!("ST${leaf}"));
    assert_eq!(key_id(1), format!("ST${leaf}"));
    let level0 = jwt::decode_unverified(key_id(2).strip_prefix("ST$").unwrap()).unwrap();
    assert_eq!(level0.claim_str("rpt"), Some("rpt:/parent/level0"));
    assert_eq!(key_id(3), key_id(2));
    // Every level is bound to the leaf's key.
    for i in [1, 3] {
        let session = spki_b64(reqs[i].json()["sessionPublicKey"].as_str().unwrap());
        assert_eq!(session.spki_der(), cached_key(3).public_key_der());
    }
    assert_eq!(
        jwt::decode_unverified(c.token().unwrap())
            .unwrap()
            .claim_str("rpt"),
        Some("rpt:/parent/level1")
    );
    assert_eq!(c.private_key(), &cached_key(3));
    assert_eq!(c.region(), Some("eu-frankfurt-1"));
    assert_eq!(c.tenancy(), Some(RES_TENANCY));
}

#[tokio::test]
async fn v30_refuses_a_loop() {
    let clock = ManualClock::new(t0());
    let oci = FakeOci::start(clock.clone()).await;
    let base = oci.server.base();
    {
        let mut s = oci.state.lock().unwrap();
        s.parent_headers
            .insert("/parent/level0".into(), format!("{base}/parent/level1"));
        s.parent_headers
            .insert("/parent/level1".into(), format!("{base}/parent/level0"));
    }
    let env = v30_env(&oci, &clock).with(
        "OCI_RESOURCE_PRINCIPAL_RPST_FOR_LEAF_RESOURCE",
        leaf_rpst(clock.now()),
    );
    let e = networked(&oci, env, &clock).fetch().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "resource_principal: the nested resource principals went over the maximum of 10 parent \
             levels or loop: {base}/parent/level1 answered opc-parent-rpt-url: {base}/parent/level0"
        )
    );
    assert_eq!(oci.server.count("GET", "/parent/"), 2);
}

#[test]
fn v30_settings_are_checked() {
    let clock = ManualClock::new(t0());
    let base = MapEnv::new().with("OCI_RESOURCE_PRINCIPAL_VERSION", "3.0");
    let e = rp(base.clone(), &clock).unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE is not set \
         (OCI_RESOURCE_PRINCIPAL_VERSION is 3.0: set it to the leaf resource's version, 2.2 or 1.1)"
    );
    let e = rp(
        base.clone()
            .with("OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE", "2.1"),
        &clock,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: Unsupported OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE: 2.1 \
         (this library supports leaf versions 2.2 and 1.1)"
    );
    let leaf22 = base
        .with("OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE", "2.2")
        .with(
            "OCI_RESOURCE_PRINCIPAL_RPST_FOR_LEAF_RESOURCE",
            rpst(t0(), Duration::from_secs(60), 1),
        );
    let e = rp(leaf22.clone(), &clock).unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_FOR_LEAF_RESOURCE is not set \
         (OCI_RESOURCE_PRINCIPAL_VERSION_FOR_LEAF_RESOURCE is 2.2: set it to the PEM private key or \
         to the absolute path of a file holding it)"
    );
    let e = rp(
        leaf22.with(
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_FOR_LEAF_RESOURCE",
            key_pem(),
        ),
        &clock,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource_principal: OCI_RESOURCE_PRINCIPAL_RPT_URL_FOR_PARENT_RESOURCE is not set \
         (OCI_RESOURCE_PRINCIPAL_VERSION is 3.0: set it to the full URL of the parent resource's \
         resource principal token)"
    );
}
