//! Instance principals (IMDS + X.509 federation), resource principals (1.1, 2.1.x, 2.2, 3.0),
//! the OKE proxymux and fault injection, driven over HTTP with `ociauth::signer`.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Harness, NOT_AUTHENTICATED, NOT_FOUND, Req, harness, harness_with};
use oci_emulator::certs::{self, Attr, CertInfo, CertSpec, Issuer, Kind};
use oci_emulator::principals::{NewCluster, NewInstance, NewResource};
use oci_emulator::{EmulatorConfig, Fault};
use ociauth::env::ManualClock;
use ociauth::jwt;
use ociauth::keys::{PrivateKey, PublicKey};
use ociauth::signer::{self, Body, Request, SignOptions};
use serde_json::{Value, json};

const BEARER: (&str, &str) = ("Authorization", "Bearer Oracle");

/// GET an IMDS path with the given headers; returns (status, content-type, body).
async fn imds(h: &Harness, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut b = h.http.get(format!("{}{path}", h.emu.base_url()));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let r = b.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

async fn imds_ok(h: &Harness, path: &str) -> String {
    let (s, _, body) = imds(h, path, &[BEARER]).await;
    assert_eq!(s, 200, "{path}: {body}");
    body
}

/// The sanitized PEM the SDKs post: armour and newlines removed.
fn sanitize(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn tenancy(h: &Harness) -> String {
    h.emu.state().tenancy_id()
}

/// What to post to /v1/x509, and how to sign it. Every part can be bent.
struct Fed {
    cert_pem: String,
    intermediates: Vec<String>,
    signing_key: PrivateKey,
    key_id: String,
    session: PrivateKey,
    extra: Vec<(&'static str, Value)>,
    headers_to_sign_host: bool,
    omit_body_headers: bool,
}

impl Fed {
    /// The identity the metadata service serves for `base` (e.g. `/opc/v2`), keyed the
    /// Python way (SHA-1, upper case).
    async fn from_imds(h: &Harness, base: &str) -> Fed {
        let cert_pem = imds_ok(h, &format!("{base}/identity/cert.pem")).await;
        let key_pem = imds_ok(h, &format!("{base}/identity/key.pem")).await;
        let int_pem = imds_ok(h, &format!("{base}/identity/intermediate.pem")).await;
        let der = certs::pem_decode(&cert_pem, "CERTIFICATE").unwrap();
        let info = CertInfo::parse(&der).unwrap();
        let tenant = info.subject_field("opc-tenant:").unwrap().to_string();
        Fed {
            key_id: format!("{tenant}/fed-x509/{}", certs::fingerprint(&der, false)),
            cert_pem,
            intermediates: vec![sanitize(&int_pem)],
            signing_key: PrivateKey::from_pem(key_pem.as_bytes(), None).unwrap(),
            session: PrivateKey::generate().unwrap(),
            extra: Vec::new(),
            headers_to_sign_host: false,
            omit_body_headers: false,
        }
    }

    fn cert_der(&self) -> Vec<u8> {
        certs::pem_decode(&self.cert_pem, "CERTIFICATE").unwrap()
    }

    fn body(&self) -> Vec<u8> {
        let mut body = serde_json::Map::new();
        body.insert("certificate".into(), json!(sanitize(&self.cert_pem)));
        body.insert(
            "publicKey".into(),
            json!(sanitize(&self.session.public_key_pem())),
        );
        body.insert("intermediateCertificates".into(), json!(self.intermediates));
        for (k, v) in &self.extra {
            body.insert((*k).to_string(), v.clone());
        }
        serde_json::to_vec(&Value::Object(body)).unwrap()
    }

    async fn post(&self, h: &Harness) -> reqwest::Response {
        let body = self.body();
        let host = h.host();
        let req = Request {
            method: "POST",
            target: "/v1/x509",
            host: &host,
            headers: &[],
            body: Body::Bytes(&body),
        };
        let opts = SignOptions {
            sign_body: !self.omit_body_headers,
            include_host: self.headers_to_sign_host,
            extra_headers: &[],
        };
        let s = signer::sign(
            &req,
            &opts,
            &self.key_id,
            &self.signing_key,
            SystemTime::now(),
        )
        .unwrap();
        let mut headers: Vec<(String, String)> = s
            .iter()
            .filter(|(k, _)| *k != "host")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if self.omit_body_headers {
            headers.push(("content-type".into(), "application/json".into()));
        }
        h.send_raw("POST", "/v1/x509", &headers, body).await
    }

    /// Post, require 200, return the token.
    async fn token(&self, h: &Harness) -> String {
        let r = self.post(h).await;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{body}\n{:#?}", h.log_lines());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
        v["token"].as_str().unwrap().to_string()
    }
}

async fn json_of(r: reqwest::Response) -> Value {
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn expect_401(r: reqwest::Response) {
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.text().await.unwrap(), NOT_AUTHENTICATED);
}

fn last_log(h: &Harness, needle: &str) -> String {
    h.log_lines()
        .into_iter()
        .rev()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no log line with {needle:?}: {:#?}", h.log_lines()))
}

/// GET /n signed with `ST$<token>` and `key`.
async fn namespace_with(h: &Harness, token: &str, key: &PrivateKey) -> reqwest::Response {
    let mut r = Req::new("GET", "/n");
    r.key_id = Some(format!("ST${token}"));
    r.key = Some(key.clone());
    h.send(r).await
}

#[tokio::test]
async fn imds_paths_headers_and_instances() {
    let h = harness().await;
    // No Authorization: 401 (and the implicit instance is not even created yet).
    let (s, ct, body) = imds(&h, "/opc/v2/instance/id", &[]).await;
    assert_eq!(s, 401);
    assert_eq!(ct, "application/json");
    assert_eq!(
        body,
        r#"{"code":"NotAuthenticated","message":"Instance metadata service v2 requires the header 'Authorization: Bearer Oracle'."}"#
    );
    assert_eq!(
        imds(
            &h,
            "/opc/v2/instance/id",
            &[("Authorization", "Bearer oracle")]
        )
        .await
        .0,
        401
    );
    assert_eq!(
        imds(&h, "/opc/v2/instance/id", &[("Authorization", "Oracle")])
            .await
            .0,
        401
    );
    // Forwarding headers: refused even with the bearer.
    for fwd in ["Forwarded", "X-Forwarded-For", "X-Forwarded-Host"] {
        let (s, _, body) = imds(&h, "/opc/v2/instance/id", &[BEARER, (fwd, "for=10.0.0.1")]).await;
        assert_eq!(s, 403, "{fwd}");
        assert_eq!(
            body,
            format!(
                r#"{{"code":"Forbidden","message":"Requests carrying a {} header are refused by the instance metadata service."}}"#,
                fwd.to_ascii_lowercase()
            )
        );
    }

    // The current instance is made on first use.
    let (s, ct, id) = imds(&h, "/opc/v2/instance/id", &[BEARER]).await;
    assert_eq!((s, ct.as_str()), (200, "text/plain"));
    let inst = h.emu.principals().current_instance().unwrap();
    assert_eq!(inst.name, "emulator-instance");
    assert_eq!(id, inst.id);
    assert!(id.starts_with("ocid1.instance.oc1.iad.aaaaaaaa"), "{id}");
    assert_eq!(imds_ok(&h, "/opc/v2/instance/region").await, "iad");
    assert_eq!(
        imds_ok(&h, "/opc/v2/instance/canonicalRegionName").await,
        "us-ashburn-1"
    );
    assert_eq!(
        imds_ok(&h, "/opc/v2/instance/regionInfo").await,
        r#"{"realmKey":"oc1","realmDomainComponent":"oraclecloud.com","regionKey":"IAD","regionIdentifier":"us-ashburn-1"}"#
    );
    for path in ["/opc/v2/instance/", "/opc/v2/instance"] {
        let doc: Value = serde_json::from_str(&imds_ok(&h, path).await).unwrap();
        assert_eq!(doc["id"], inst.id.as_str());
        assert_eq!(
            doc["compartmentId"],
            h.emu.state().compartment_id().as_str()
        );
        assert_eq!(doc["tenantId"], tenancy(&h).as_str());
        assert_eq!(doc["region"], "iad");
        assert_eq!(doc["canonicalRegionName"], "us-ashburn-1");
        assert_eq!(doc["displayName"], "emulator-instance");
    }
    assert_eq!(
        imds_ok(&h, "/opc/v2/instance/displayName").await,
        "emulator-instance"
    );
    assert_eq!(imds(&h, "/opc/v2/instance/nope", &[BEARER]).await.0, 404);
    assert_eq!(imds(&h, "/opc/v2/nope", &[BEARER]).await.0, 404);

    // Certificates: the leaf chains to the intermediate, the key is the leaf's (PKCS#1).
    let cert = imds_ok(&h, "/opc/v2/identity/cert.pem").await;
    let key = imds_ok(&h, "/opc/v2/identity/key.pem").await;
    let int = imds_ok(&h, "/opc/v2/identity/intermediate.pem").await;
    assert!(
        key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "{key}"
    );
    assert_eq!(int.matches("-----BEGIN CERTIFICATE-----").count(), 1);
    let leaf = CertInfo::parse(&certs::pem_decode(&cert, "CERTIFICATE").unwrap()).unwrap();
    let int = CertInfo::parse(&certs::pem_decode(&int, "CERTIFICATE").unwrap()).unwrap();
    assert_eq!(
        leaf.subject_values,
        [
            inst.id.clone(),
            "opc-certtype:instance".to_string(),
            format!("opc-instance:{}", inst.id),
            format!("opc-compartment:{}", inst.compartment_id),
            format!("opc-tenant:{}", tenancy(&h)),
        ]
    );
    assert!(leaf.issued_by(&int));
    assert!(int.is_ca && !leaf.is_ca);
    let key = PrivateKey::from_pem(key.as_bytes(), None).unwrap();
    assert_eq!(key.public_key_der(), leaf.spki_der.as_slice());
    // Stable across requests; the CA files are private.
    assert_eq!(imds_ok(&h, "/opc/v2/identity/cert.pem").await, cert);
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(h.emu.state_dir().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("pki/intermediate.pem"), 0o600);
    assert_eq!(mode("pki/root-ca.pem"), 0o600);
    assert_eq!(mode("instances/emulator-instance/identity.pem"), 0o600);

    // v1 and OpenStack paths: off by default.
    assert_eq!(imds(&h, "/opc/v1/instance/id", &[BEARER]).await.0, 404);
    assert_eq!(
        imds(&h, "/openstack/latest/meta_data.json", &[]).await.0,
        404
    );

    // A second instance by path prefix, with the long region text and v1.
    let p = h.emu.principals();
    let web = p
        .add_instance(NewInstance {
            name: Some("web-2".into()),
            region: Some("phx".into()),
            region_text: Some("us-phoenix-1".into()),
            imds_v1: true,
        })
        .unwrap();
    assert!(web.id.starts_with("ocid1.instance.oc1.phx."), "{}", web.id);
    assert_eq!(imds_ok(&h, "/imds/web-2/opc/v2/instance/id").await, web.id);
    assert_eq!(
        imds_ok(&h, "/imds/web-2/opc/v2/instance/region").await,
        "us-phoenix-1"
    );
    assert_eq!(
        imds_ok(&h, &format!("/imds/{}/opc/v2/instance/regionInfo", web.id)).await,
        r#"{"realmKey":"oc1","realmDomainComponent":"oraclecloud.com","regionKey":"PHX","regionIdentifier":"us-phoenix-1"}"#
    );
    let (s, _, body) = imds(&h, "/imds/web-2/opc/v1/instance/id", &[]).await;
    assert_eq!((s, body.as_str()), (200, web.id.as_str()));
    assert_eq!(imds(&h, "/imds/web-2/opc/v2/instance/id", &[]).await.0, 401);
    assert_eq!(
        imds(&h, "/imds/ghost/opc/v2/instance/id", &[BEARER])
            .await
            .0,
        404
    );
    // The default stays the first instance until changed.
    assert_eq!(imds_ok(&h, "/opc/v2/instance/id").await, inst.id);
    p.set_current_instance("web-2").unwrap();
    assert_eq!(imds_ok(&h, "/opc/v2/instance/id").await, web.id);
    // Over the admin API too.
    let r = h
        .http
        .put(format!(
            "{}/_emulator/instances/emulator-instance/current",
            h.emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(imds_ok(&h, "/opc/v2/instance/id").await, inst.id);
    let line = last_log(&h, "GET /opc/v2/instance/id 200");
    assert!(line.contains("key=-"), "{line}");
}

#[tokio::test]
async fn federation_issues_a_bound_instance_token() {
    let h = harness().await;
    let fed = Fed::from_imds(&h, "/opc/v2").await;
    let inst = h.emu.principals().current_instance().unwrap();
    let token = fed.token(&h).await;
    let t = jwt::verify_rs256(&token, h.emu.tokens().public_key()).unwrap();
    let c = t.claims();
    assert_eq!(c["ptype"], "instance");
    assert_eq!(c["sub"], inst.id.as_str());
    assert_eq!(c["tenant"], tenancy(&h).as_str());
    assert_eq!(c["opc-instance"], inst.id.as_str());
    assert_eq!(c["opc-compartment"], inst.compartment_id.as_str());
    assert_eq!(c["opc-tenant"], tenancy(&h).as_str());
    assert_eq!(c["opc-certtype"], "instance");
    assert_eq!(c["ttype"], "x509");
    assert_eq!(c["aud"], "opc.oracle.com");
    assert_eq!(t.exp().unwrap() - t.iat().unwrap(), 20 * 60);
    let jwk: Value = serde_json::from_str(t.claim_str("jwk").unwrap()).unwrap();
    let bound = jwt::RsaJwk::from_json(&jwk).unwrap().public_key().unwrap();
    assert_eq!(bound.spki_der(), fed.session.public_key_der());
    let line = last_log(&h, "POST /v1/x509 200");
    assert!(line.contains(&format!("key=\"{}\"", fed.key_id)), "{line}");

    // The token works with the session key, and with no other key.
    let r = namespace_with(&h, &token, &fed.session).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), format!("\"{}\"", h.namespace()));
    let other = PrivateKey::generate().unwrap();
    expect_401(namespace_with(&h, &token, &other).await).await;
    // Nor with the leaf key.
    expect_401(namespace_with(&h, &token, &fed.signing_key).await).await;

    // The SHA-256 form (Go, Java), fingerprint in lower case, with fingerprintAlgorithm.
    let mut go = Fed::from_imds(&h, "/opc/v2").await;
    go.key_id = format!(
        "{}/fed-x509-sha256/{}",
        tenancy(&h),
        certs::fingerprint(&go.cert_der(), true).to_ascii_lowercase()
    );
    go.extra = vec![("fingerprintAlgorithm", json!("SHA256"))];
    let t2 = go.token(&h).await;
    assert_eq!(
        namespace_with(&h, &t2, &go.session).await.status().as_u16(),
        200
    );
    // SHA-1 in lower case and purpose DEFAULT (Java) are fine too.
    let mut java = Fed::from_imds(&h, "/opc/v2").await;
    java.key_id = format!(
        "{}/fed-x509/{}",
        tenancy(&h),
        certs::fingerprint(&java.cert_der(), false).to_ascii_lowercase()
    );
    java.extra = vec![("purpose", json!("DEFAULT"))];
    java.token(&h).await;
}

#[tokio::test]
async fn federation_rejections() {
    let h = harness().await;
    let good = Fed::from_imds(&h, "/opc/v2").await;
    let t = tenancy(&h);

    // Signed with another key than the leaf's.
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.signing_key = PrivateKey::generate().unwrap();
    expect_401(f.post(&h).await).await;
    assert!(last_log(&h, "POST /v1/x509 401").contains("signature does not verify"));

    // A self-signed certificate with the instance's subject (not from the emulator's CA).
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    let inst = h.emu.principals().current_instance().unwrap();
    let fake_key = PrivateKey::generate().unwrap();
    let subject = [
        Attr::Cn(inst.id.clone()),
        Attr::Ou("opc-certtype:instance".into()),
        Attr::Ou(format!("opc-instance:{}", inst.id)),
        Attr::Ou(format!("opc-compartment:{}", inst.compartment_id)),
        Attr::Ou(format!("opc-tenant:{t}")),
    ];
    let now = SystemTime::now();
    let fake = certs::build(
        &CertSpec {
            subject: &subject,
            spki_der: fake_key.public_key_der(),
            not_before: now - Duration::from_secs(60),
            not_after: now + Duration::from_secs(3600),
            kind: Kind::Leaf,
        },
        None,
        &fake_key,
    )
    .unwrap();
    f.cert_pem = certs::cert_pem(&fake);
    f.key_id = format!("{t}/fed-x509/{}", certs::fingerprint(&fake, false));
    f.signing_key = fake_key.clone();
    expect_401(f.post(&h).await).await;
    assert!(
        last_log(&h, "POST /v1/x509 401").contains("does not chain to the emulator's root CA"),
        "{:#?}",
        h.log_lines()
    );

    // A certificate from the real intermediate for an instance the emulator does not know.
    let pki = h.emu.principals().pki().unwrap();
    let ghost = "ocid1.instance.oc1.iad.aaaaaaaaghost";
    let subject = [
        Attr::Cn(ghost.into()),
        Attr::Ou("opc-certtype:instance".into()),
        Attr::Ou(format!("opc-instance:{ghost}")),
        Attr::Ou(format!("opc-compartment:{}", inst.compartment_id)),
        Attr::Ou(format!("opc-tenant:{t}")),
    ];
    let ghost_cert = certs::build(
        &CertSpec {
            subject: &subject,
            spki_der: fake_key.public_key_der(),
            not_before: now - Duration::from_secs(60),
            not_after: now + Duration::from_secs(3600),
            kind: Kind::Leaf,
        },
        Some(Issuer {
            name_der: &pki.intermediate.cert.subject_der,
            spki_der: &pki.intermediate.cert.spki_der,
            key: &pki.intermediate.key,
        }),
        &fake_key,
    )
    .unwrap();
    f.cert_pem = certs::cert_pem(&ghost_cert);
    f.key_id = format!("{t}/fed-x509/{}", certs::fingerprint(&ghost_cert, false));
    expect_401(f.post(&h).await).await;
    assert!(last_log(&h, "POST /v1/x509 401").contains(&format!("unknown instance {ghost}")));

    // Tenancy in the key id differs from the certificate's.
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.key_id = f.key_id.replace(&t, "ocid1.tenancy.oc1..aaaaaaaaother");
    expect_401(f.post(&h).await).await;
    assert!(
        last_log(&h, "POST /v1/x509 401").contains("differs from the certificate's opc-tenant")
    );

    // Fingerprint of another certificate.
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.key_id = format!("{t}/fed-x509/{}", certs::fingerprint(&fake, false));
    expect_401(f.post(&h).await).await;
    assert!(last_log(&h, "POST /v1/x509 401").contains("is not the posted certificate's"));

    // fingerprintAlgorithm SHA256 with the SHA-1 key id form.
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.extra = vec![("fingerprintAlgorithm", json!("SHA256"))];
    expect_401(f.post(&h).await).await;

    // An API-key-shaped key id is not accepted here.
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.key_id = h.key_id.clone();
    f.signing_key = h.key.clone();
    expect_401(f.post(&h).await).await;

    // Missing signed body headers, missing Authorization, tampered body.
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.omit_body_headers = true;
    expect_401(f.post(&h).await).await;
    assert!(last_log(&h, "POST /v1/x509 401").contains("lack required \\\"content-length\\\""));
    let r = h
        .send_raw(
            "POST",
            "/v1/x509",
            &[("content-type".into(), "application/json".into())],
            good.body(),
        )
        .await;
    expect_401(r).await;
    assert!(last_log(&h, "POST /v1/x509 401").contains("no Authorization header"));

    // Signing host as well is fine (a superset of the required headers).
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.headers_to_sign_host = true;
    f.token(&h).await;

    // No intermediate.
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.intermediates.clear();
    expect_401(f.post(&h).await).await;
    assert!(last_log(&h, "POST /v1/x509 401").contains("no intermediateCertificates posted"));

    // Malformed input: 400s.
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.extra = vec![("purpose", json!("SERVICE_PRINCIPAL"))];
    let r = f.post(&h).await;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"InvalidParameter","message":"Unsupported purpose \"SERVICE_PRINCIPAL\"; this emulator issues instance-principal tokens only (purpose DEFAULT)."}"#
    );
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.extra = vec![("certificate", Value::Null)];
    let r = f.post(&h).await;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"MissingParameter","message":"The required parameter 'certificate' is missing."}"#
    );
    let mut f = Fed::from_imds(&h, "/opc/v2").await;
    f.extra = vec![("publicKey", json!("bm90IGEga2V5"))];
    assert_eq!(f.post(&h).await.status().as_u16(), 400);

    // The good request still works after all that.
    good.token(&h).await;
}

#[tokio::test]
async fn rotation_and_tenancy_change() {
    let h = harness().await;
    let before = Fed::from_imds(&h, "/opc/v2").await;
    let inst = h.emu.principals().current_instance().unwrap();
    // Over the admin API.
    let r = h
        .http
        .post(format!(
            "{}/_emulator/instances/{}/rotate-cert",
            h.emu.base_url(),
            inst.name
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = json_of(r).await;
    let after = Fed::from_imds(&h, "/opc/v2").await;
    assert_ne!(after.cert_pem, before.cert_pem);
    assert_eq!(v["certificate"], after.cert_pem.as_str());
    assert_eq!(
        v["sha1Fingerprint"],
        certs::fingerprint(&after.cert_der(), false).as_str()
    );
    assert_ne!(after.signing_key, before.signing_key);
    after.token(&h).await;
    // The previous leaf is still a valid certificate of the CA until it expires.
    before.token(&h).await;

    // The certificate names another tenancy (the SDKs must notice); federation refuses it.
    let id = h
        .emu
        .principals()
        .rotate_cert(&inst.name, Some("ocid1.tenancy.oc1..aaaaaaaaother"))
        .unwrap();
    assert_eq!(
        id.leaf.subject_field("opc-tenant:"),
        Some("ocid1.tenancy.oc1..aaaaaaaaother")
    );
    let f = Fed::from_imds(&h, "/opc/v2").await;
    assert!(
        f.key_id
            .starts_with("ocid1.tenancy.oc1..aaaaaaaaother/fed-x509/")
    );
    expect_401(f.post(&h).await).await;
    assert!(last_log(&h, "POST /v1/x509 401").contains("is not this emulator's tenancy"));
    // And back.
    h.emu
        .principals()
        .rotate_cert(&inst.name, Some(""))
        .unwrap();
    Fed::from_imds(&h, "/opc/v2").await.token(&h).await;
    let r = h
        .http
        .post(format!(
            "{}/_emulator/instances/ghost/rotate-cert",
            h.emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn tokens_expire_and_certificates_renew() {
    let clock = ManualClock::new(SystemTime::now());
    let c2 = clock.clone();
    let h = harness_with(tempfile::tempdir().unwrap(), move |c| c.clock(Arc::new(c2))).await;
    let fed = Fed::from_imds(&h, "/opc/v2").await;
    let token = fed.token(&h).await;
    let mut r = Req::new("GET", "/n");
    r.key_id = Some(format!("ST${token}"));
    r.key = Some(fed.session.clone());
    r.now = clock.now_for_test();
    assert_eq!(h.send(r).await.status().as_u16(), 200);
    clock.advance(Duration::from_secs(21 * 60));
    let mut r = Req::new("GET", "/n");
    r.key_id = Some(format!("ST${token}"));
    r.key = Some(fed.session.clone());
    r.now = clock.now_for_test();
    expect_401(h.send(r).await).await;
    assert!(last_log(&h, "GET /n 401").contains("expired"));
    // After the leaf's lifetime the metadata service serves a new one.
    clock.advance(Duration::from_secs(31 * 24 * 3600));
    let cert = imds_ok(&h, "/opc/v2/identity/cert.pem").await;
    assert_ne!(cert, fed.cert_pem);
    let info = CertInfo::parse(&certs::pem_decode(&cert, "CERTIFICATE").unwrap()).unwrap();
    assert!(info.valid_at(clock.now_for_test()));
}

trait NowForTest {
    fn now_for_test(&self) -> SystemTime;
}
impl NowForTest for ManualClock {
    fn now_for_test(&self) -> SystemTime {
        use ociauth::env::Clock as _;
        self.now()
    }
}

#[tokio::test]
async fn rp22_minted_files_work() {
    let h = harness().await;
    let p = h.emu.principals();
    let res = p
        .add_resource(NewResource {
            name: Some("fn-1".into()),
            ..NewResource::default()
        })
        .unwrap();
    assert!(
        res.id.starts_with("ocid1.fnfunc.oc1.iad.aaaaaaaa"),
        "{}",
        res.id
    );
    let files = h.emu.mint_rp22("fn-1", None).unwrap();
    let dir = h.emu.state_dir().join("resources/fn-1/rp22");
    assert_eq!(files.rpst_path, dir.join("rpst"));
    assert_eq!(files.key_path, dir.join("private.pem"));
    assert_eq!(files.region, "us-ashburn-1");
    assert_eq!(
        files.exports(),
        format!(
            "export OCI_RESOURCE_PRINCIPAL_VERSION='2.2'\nexport OCI_RESOURCE_PRINCIPAL_RPST='{}'\nexport OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM='{}'\nexport OCI_RESOURCE_PRINCIPAL_REGION='us-ashburn-1'\n",
            dir.join("rpst").display(),
            dir.join("private.pem").display()
        )
    );
    for f in [&files.rpst_path, &files.key_path] {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let token = std::fs::read_to_string(&files.rpst_path).unwrap();
    let key = PrivateKey::from_pem(&std::fs::read(&files.key_path).unwrap(), None).unwrap();
    let t = jwt::verify_rs256(&token, h.emu.tokens().public_key()).unwrap();
    let c = t.claims();
    assert_eq!(c["ptype"], "resource");
    assert_eq!(c["sub"], res.id.as_str());
    assert_eq!(c["res_id"], res.id.as_str());
    assert_eq!(c["res_type"], "fnfunc");
    assert_eq!(c["res_tenant"], tenancy(&h).as_str());
    assert_eq!(c["res_compartment"], res.compartment_id.as_str());
    assert_eq!(c["ttype"], "res");
    assert!(c.get("opc-instance").is_none());
    let r = namespace_with(&h, &token, &key).await;
    assert_eq!(r.status().as_u16(), 200);
    expect_401(namespace_with(&h, &token, &PrivateKey::generate().unwrap()).await).await;
    assert!(matches!(
        h.emu.mint_rp22("nope", None),
        Err(oci_emulator::PrincipalsError::Unknown { .. })
    ));
}

/// GET `target` signed with `key_id`/`key`, returning status and JSON body.
async fn get_signed(h: &Harness, target: &str, key_id: &str, key: &PrivateKey) -> (u16, Value) {
    let mut r = Req::new("GET", target);
    r.key_id = Some(key_id.to_string());
    r.key = Some(key.clone());
    let resp = h.send(r).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post_rpst(
    h: &Harness,
    rpt: &Value,
    session: &PrivateKey,
    key_id: &str,
    key: &PrivateKey,
) -> reqwest::Response {
    let body = json!({
        "resourcePrincipalToken": rpt["resourcePrincipalToken"],
        "servicePrincipalSessionToken": rpt["servicePrincipalSessionToken"],
        "sessionPublicKey": sanitize(&session.public_key_pem()),
    });
    let mut r = Req::new("POST", "/v1/resourcePrincipalSessionToken").body(body.to_string());
    r.key_id = Some(key_id.to_string());
    r.key = Some(key.clone());
    h.send(r).await
}

#[tokio::test]
async fn rp11_through_the_host_instance() {
    let h = harness().await;
    let p = h.emu.principals();
    let inst = p.current_instance().unwrap();
    let db = p
        .add_resource(NewResource {
            name: Some("db-1".into()),
            resource_type: Some("autonomousdatabase".into()),
            instance: Some(inst.name.clone()),
            ..NewResource::default()
        })
        .unwrap();
    let fed = Fed::from_imds(&h, "/opc/v2").await;
    let ip = format!("ST${}", fed.token(&h).await);
    let (s, rpt) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalToken/{}", inst.id),
        &ip,
        &fed.session,
    )
    .await;
    assert_eq!(s, 200, "{rpt}");
    assert_eq!(
        rpt.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["resourcePrincipalToken", "servicePrincipalSessionToken"]
    );
    // The opaque tokens are no ST$ tokens.
    let opaque = rpt["resourcePrincipalToken"].as_str().unwrap();
    expect_401(namespace_with(&h, opaque, &fed.session).await).await;
    // By resource OCID too.
    let (s, _) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalToken/{}", db.id),
        &ip,
        &fed.session,
    )
    .await;
    assert_eq!(s, 200);

    let session = PrivateKey::generate().unwrap();
    let r = post_rpst(&h, &rpt, &session, &ip, &fed.session).await;
    assert_eq!(r.status().as_u16(), 200);
    let rpst = json_of(r).await["token"].as_str().unwrap().to_string();
    let t = jwt::verify_rs256(&rpst, h.emu.tokens().public_key()).unwrap();
    assert_eq!(t.claims()["res_id"], db.id.as_str());
    assert_eq!(t.claims()["res_type"], "autonomousdatabase");
    assert_eq!(t.claims()["opc-instance"], inst.id.as_str());
    assert_eq!(
        namespace_with(&h, &rpst, &session).await.status().as_u16(),
        200
    );

    // Another instance hosts nothing: 404; its token cannot redeem this SPST: 401.
    p.add_instance(NewInstance {
        name: Some("other".into()),
        ..NewInstance::default()
    })
    .unwrap();
    let other = Fed::from_imds(&h, "/imds/other/opc/v2").await;
    let other_ip = format!("ST${}", other.token(&h).await);
    let other_id = p.instance("other").unwrap().id;
    let (s, body) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalToken/{other_id}"),
        &other_ip,
        &other.session,
    )
    .await;
    assert_eq!((s, body.to_string()), (404, NOT_FOUND.to_string()));
    let (s, _) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalToken/{}", db.id),
        &other_ip,
        &other.session,
    )
    .await;
    assert_eq!(s, 404);
    expect_401(post_rpst(&h, &rpt, &session, &other_ip, &other.session).await).await;
    assert!(last_log(&h, "POST /v1/resourcePrincipalSessionToken 401").contains("another caller"));
    // A tampered RPT.
    let mut bad = rpt.clone();
    bad["resourcePrincipalToken"] = json!(format!("{opaque}x"));
    expect_401(post_rpst(&h, &bad, &session, &ip, &fed.session).await).await;
    // API-key callers get nothing.
    let (s, _) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalToken/{}", inst.id),
        &h.key_id.clone(),
        &h.key.clone(),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn rp21_with_the_resource_key_and_rp30_parents() {
    let h = harness().await;
    let p = h.emu.principals();
    let grand = p
        .add_resource(NewResource {
            name: Some("grand".into()),
            resource_type: Some("autonomousdatabase".into()),
            ..NewResource::default()
        })
        .unwrap();
    let parent = p
        .add_resource(NewResource {
            name: Some("parent".into()),
            parent: Some("grand".into()),
            ..NewResource::default()
        })
        .unwrap();
    let child = p
        .add_resource(NewResource {
            name: Some("child".into()),
            parent: Some("parent".into()),
            ..NewResource::default()
        })
        .unwrap();
    let key = p.resource_key(&child).unwrap();
    let t = tenancy(&h);
    for (path, kid) in [
        (
            "resourcePrincipalTokenV2",
            format!("resource/v2.1/{}", child.id),
        ),
        (
            "resourcePrincipalTokenV2",
            format!("resource/v2.1.1/{t}/{}", child.id),
        ),
        (
            "resourcePrincipalTokenV212",
            format!("resource/v2.1.2/{t}/{}", child.id),
        ),
    ] {
        let (s, rpt) = get_signed(&h, &format!("/20180711/{path}/{}", child.id), &kid, &key).await;
        assert_eq!(s, 200, "{kid}: {rpt}");
        // RP 2.1 posts the resource's own key as the session key.
        let r = post_rpst(&h, &rpt, &key, &kid, &key).await;
        assert_eq!(r.status().as_u16(), 200, "{kid}");
        let rpst = json_of(r).await["token"].as_str().unwrap().to_string();
        assert_eq!(namespace_with(&h, &rpst, &key).await.status().as_u16(), 200);
    }
    // Wrong key, wrong tenancy, someone else's id.
    let other_key = PrivateKey::generate().unwrap();
    let kid = format!("resource/v2.1/{}", child.id);
    let (s, _) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalTokenV2/{}", child.id),
        &kid,
        &other_key,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalTokenV2/{}", child.id),
        &format!("resource/v2.1.1/ocid1.tenancy.oc1..x/{}", child.id),
        &key,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalTokenV2/{}", parent.id),
        &kid,
        &key,
    )
    .await;
    assert_eq!(s, 404);
    // A resource key id is no use elsewhere.
    let (s, _) = get_signed(&h, "/n", &kid, &key).await;
    assert_eq!(s, 401);

    // RP 3.0: the child's RPST fetches its parent's RPT, which points at the grandparent.
    let leaf = h.emu.mint_rp22("child", None).unwrap();
    let leaf_token = format!("ST${}", std::fs::read_to_string(&leaf.rpst_path).unwrap());
    let leaf_key = PrivateKey::from_pem(&std::fs::read(&leaf.key_path).unwrap(), None).unwrap();
    let mut r = Req::new(
        "GET",
        format!("/20180711/resourcePrincipalTokenForParent/{}", parent.id),
    );
    r.key_id = Some(leaf_token.clone());
    r.key = Some(leaf_key.clone());
    let resp = h.send(r).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["opc-parent-rpt-url"].to_str().unwrap(),
        format!(
            "{}/20180711/resourcePrincipalTokenForParent/{}",
            h.emu.base_url(),
            grand.id
        )
    );
    let rpt: Value = json_of(resp).await;
    let r = post_rpst(&h, &rpt, &leaf_key, &leaf_token, &leaf_key).await;
    assert_eq!(r.status().as_u16(), 200);
    let parent_rpst = json_of(r).await["token"].as_str().unwrap().to_string();
    let pt = jwt::decode_unverified(&parent_rpst).unwrap();
    assert_eq!(pt.sub(), Some(parent.id.as_str()));
    // The root path answers for "my parent" (the Python SDK's form), without a header here.
    let parent_token = format!("ST${parent_rpst}");
    let (s, _) = get_signed(&h, "/", &parent_token, &leaf_key).await;
    assert_eq!(s, 200);
    // Not the child's grandparent by id.
    let (s, _) = get_signed(
        &h,
        &format!("/20180711/resourcePrincipalTokenForParent/{}", grand.id),
        &leaf_token,
        &leaf_key,
    )
    .await;
    assert_eq!(s, 404);
    // The grandparent has no parent: GET / is 404 for it.
    let gp = h.emu.mint_rp22("grand", None).unwrap();
    let (s, _) = get_signed(
        &h,
        "/",
        &format!("ST${}", std::fs::read_to_string(&gp.rpst_path).unwrap()),
        &PrivateKey::from_pem(&std::fs::read(&gp.key_path).unwrap(), None).unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    // HEAD / stays the unauthenticated clock probe.
    let r = h.http.head(h.emu.base_url()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// A reqwest client that trusts the cluster CA.
fn oke_client(ca: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn oke_proxymux_envelope_and_basic_clusters() {
    let h = harness_with(tempfile::tempdir().unwrap(), |c: EmulatorConfig| {
        c.oke_port(0)
    })
    .await;
    let oke = h.emu.oke().unwrap();
    assert_eq!(oke.ca_path(), h.emu.state_dir().join("oke/ca.pem"));
    let client = oke_client(oke.ca_path());
    let url = format!("{}/resourcePrincipalSessionTokens", oke.base_url());
    let p = h.emu.principals();
    let cluster = p
        .add_cluster(NewCluster {
            name: Some("prod".into()),
            basic: false,
        })
        .unwrap();
    let sa =
        oci_emulator::oke::mint_sa_token(p, "prod", "apps", "builder", Duration::from_secs(600))
            .unwrap();
    let pod = PrivateKey::generate().unwrap();
    let post = |token: String, pod_key: String| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .post(url)
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .header("opc-request-id", "a/b/c")
                .body(json!({ "podKey": pod_key }).to_string())
                .send()
                .await
                .unwrap()
        }
    };
    for pod_key in [sanitize(&pod.public_key_pem()), pod.public_key_pem()] {
        let r = post(sa.clone(), pod_key).await;
        assert_eq!(r.status().as_u16(), 200);
        let body = r.text().await.unwrap();
        assert!(body.starts_with('"') && body.ends_with('"'), "{body}");
        let inner = String::from_utf8(B64.decode(&body[1..body.len() - 1]).unwrap()).unwrap();
        assert!(inner.starts_with(r#"{"token": "ST$"#), "{inner}");
        let v: Value = serde_json::from_str(&inner).unwrap();
        let rpst = &v["token"].as_str().unwrap()[3..];
        let t = jwt::verify_rs256(rpst, h.emu.tokens().public_key()).unwrap();
        assert_eq!(t.claims()["ptype"], "workload");
        assert_eq!(t.claims()["cluster_id"], cluster.id.as_str());
        assert_eq!(t.claims()["namespace"], "apps");
        assert_eq!(t.claims()["service_account"], "builder");
        assert_eq!(t.sub().unwrap(), format!("{}/apps/builder", cluster.id));
        assert_eq!(namespace_with(&h, rpst, &pod).await.status().as_u16(), 200);
    }
    let line = last_log(&h, "POST /resourcePrincipalSessionTokens 200");
    assert!(line.contains("opc-request-id="), "{line}");

    // Refusals: no bearer, a token signed by another key, an expired one; bad podKey.
    let r = client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let claims = jwt::decode_unverified(&sa).unwrap().claims().clone();
    let forged = jwt::sign_rs256(
        &Value::Null,
        &Value::Object(claims.clone()),
        &PrivateKey::generate().unwrap(),
    )
    .unwrap();
    assert_eq!(
        post(forged, sanitize(&pod.public_key_pem()))
            .await
            .status()
            .as_u16(),
        401
    );
    let mut old = claims.clone();
    old.insert("exp".into(), json!(1_000_000_000));
    let expired = jwt::sign_rs256(
        &Value::Null,
        &Value::Object(old),
        &p.cluster_key(&cluster).unwrap(),
    )
    .unwrap();
    assert_eq!(
        post(expired, sanitize(&pod.public_key_pem()))
            .await
            .status()
            .as_u16(),
        401
    );
    assert!(last_log(&h, "POST /resourcePrincipalSessionTokens 401").contains("expired"));
    let r = post(sa.clone(), "bm90IGEga2V5".into()).await;
    assert_eq!(r.status().as_u16(), 400);

    // A basic cluster: 403.
    p.add_cluster(NewCluster {
        name: Some("cheap".into()),
        basic: true,
    })
    .unwrap();
    let basic_sa =
        oci_emulator::oke::mint_sa_token(p, "cheap", "default", "default", Duration::from_secs(60))
            .unwrap();
    let r = post(basic_sa.clone(), sanitize(&pod.public_key_pem())).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"Forbidden","message":"Workload identity is available on enhanced clusters only."}"#
    );
    p.set_cluster_enhanced("cheap", true).unwrap();
    assert_eq!(
        post(basic_sa, sanitize(&pod.public_key_pem()))
            .await
            .status()
            .as_u16(),
        200
    );
    h.emu.shutdown().await;
}

#[tokio::test]
async fn faults_inject_errors_delays_and_garbage() {
    let h = harness().await;
    let fed = Fed::from_imds(&h, "/opc/v2").await;

    // Federation 5xx twice, then success.
    h.emu
        .inject_fault(Fault::status("/v1/x509", 503).times(2))
        .unwrap();
    for _ in 0..2 {
        let r = fed.post(&h).await;
        assert_eq!(r.status().as_u16(), 503);
        assert!(r.headers().contains_key("opc-request-id"));
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"code":"ServiceUnavailable","message":"Injected fault: HTTP 503 from the oci-emulator fault injector."}"#
        );
    }
    fed.token(&h).await;
    assert!(h.emu.faults().list().is_empty());

    // 429 with Retry-After, on IMDS, only for GET.
    h.emu
        .inject_fault(
            Fault::status("/opc/v2/identity/", 429)
                .retry_after(3)
                .method("GET"),
        )
        .unwrap();
    let r = h
        .http
        .get(format!("{}/opc/v2/identity/cert.pem", h.emu.base_url()))
        .header("Authorization", "Bearer Oracle")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(imds_ok(&h, "/opc/v2/identity/cert.pem").await, fed.cert_pem);

    // A malformed token answer.
    h.emu
        .inject_fault(Fault::body("/v1/x509", 200, r#"{"token":"not-a-jwt"}"#))
        .unwrap();
    let r = fed.post(&h).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"token":"not-a-jwt"}"#);
    h.emu.inject_fault(Fault::malformed("/v1/x509")).unwrap();
    let r = fed.post(&h).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.text().await.unwrap(),
        oci_emulator::faults::MALFORMED_BODY
    );

    // A slow answer: delayed, then served by the service.
    h.emu
        .inject_fault(Fault::delay("/opc/v2/instance/region", 300))
        .unwrap();
    let start = std::time::Instant::now();
    assert_eq!(imds_ok(&h, "/opc/v2/instance/region").await, "iad");
    assert!(start.elapsed() >= Duration::from_millis(300));

    // The admin API over HTTP: add two, list, clear.
    let admin = format!("{}/_emulator/faults", h.emu.base_url());
    let r = h
        .http
        .post(&admin)
        .body(
            json!([
                {"pathPrefix": "/n", "status": 500, "count": 0},
                {"pathPrefix": "/v1/x509", "status": 502, "delayMs": 1}
            ])
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let ids = json_of(r).await["ids"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 2);
    for _ in 0..3 {
        assert_eq!(h.send(Req::new("GET", "/n")).await.status().as_u16(), 500);
    }
    let listed: Value = json_of(h.http.get(&admin).send().await.unwrap()).await;
    assert_eq!(listed["faults"][0]["pathPrefix"], "/n");
    assert_eq!(listed["faults"][0]["hits"], 3);
    assert_eq!(listed["faults"][0]["remaining"], Value::Null);
    assert_eq!(listed["faults"][1]["remaining"], 1);
    let r = h.http.delete(&admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(h.send(Req::new("GET", "/n")).await.status().as_u16(), 200);
    // Bad faults are 400s.
    let r = h
        .http
        .post(&admin)
        .body(r#"{"pathPrefix":"n","status":503}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"InvalidParameter","message":"fault [0]: pathPrefix \"n\" must start with '/'"}"#
    );
    let r = h
        .http
        .post(&admin)
        .body(r#"{"pathPrefix":"/n","stauts":503}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn subcommands_manage_principals() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_oci-emulator");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .arg("--state")
            .arg(dir.path())
            .env_remove("OCI_EMULATOR_STATE")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, id, err) = run(&["add-instance", "--name", "web", "--region", "fra"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(id.starts_with("ocid1.instance.oc1.fra.aaaaaaaa"), "{id}");
    let (code, _, err) = run(&["add-instance", "--name", "web"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "oci-emulator: instance \"web\" already exists; choose another --name\n"
    );
    let (code, _, err) = run(&["add-instance", "--name", "Bad Name"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid instance name \"Bad Name\""), "{err}");
    let (code, fp, err) = run(&["rotate-cert", "--instance", "web"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(fp.trim().len(), 59, "{fp}");
    let (code, _, err) = run(&["rotate-cert", "--instance", "nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no instance named \"nope\""), "{err}");
    let (code, rid, err) = run(&[
        "add-resource",
        "--name",
        "adb",
        "--type",
        "autonomousdatabase",
        "--instance",
        "web",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        rid.starts_with("ocid1.autonomousdatabase.oc1.iad."),
        "{rid}"
    );
    let out_dir = dir.path().join("fn-files");
    let (code, exports, err) = run(&[
        "mint-rpst",
        "--resource",
        "adb",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let canon = out_dir.canonicalize().unwrap();
    assert_eq!(
        exports,
        format!(
            "export OCI_RESOURCE_PRINCIPAL_VERSION='2.2'\nexport OCI_RESOURCE_PRINCIPAL_RPST='{}/rpst'\nexport OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM='{}/private.pem'\nexport OCI_RESOURCE_PRINCIPAL_REGION='us-ashburn-1'\n",
            canon.display(),
            canon.display()
        )
    );
    let (code, cid, err) = run(&["add-oke-cluster", "--name", "k8s", "--basic"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(cid.starts_with("ocid1.cluster.oc1.iad."), "{cid}");
    let token_file = dir.path().join("sa-token");
    let (code, printed, err) = run(&[
        "mint-sa-token",
        "--cluster",
        "k8s",
        "--namespace",
        "ns1",
        "--out",
        token_file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(printed.trim(), token_file.to_str().unwrap());
    let token = std::fs::read_to_string(&token_file).unwrap();
    let t = jwt::decode_unverified(&token).unwrap();
    assert_eq!(t.sub(), Some("system:serviceaccount:ns1:default"));
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (code, listing, _) = run(&["principals"]);
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(v["instances"][0]["name"], "web");
    assert_eq!(v["instances"][0]["region"], "eu-frankfurt-1");
    assert_eq!(v["resources"][0]["instance"], "web");
    assert_eq!(v["okeClusters"][0]["enhanced"], false);
    let (code, env, _) = run(&["env", "--port", "8123"]);
    assert_eq!(code, Some(0));
    assert!(
        env.contains("export OCI_METADATA_BASE_URL='http://127.0.0.1:8123/opc/v2'\n"),
        "{env}"
    );
    assert!(
        env.contains("export OCI_CLI_FEDERATION_ENDPOINT='http://127.0.0.1:8123/v1/x509'\n"),
        "{env}"
    );

    // A server over that state sees what the subcommands made (and the token verifies).
    let emu = oci_emulator::start(EmulatorConfig::new(dir.path()).log(Arc::new(|_: &str| {})))
        .await
        .unwrap();
    let c = emu.principals().cluster("k8s").unwrap();
    let key = emu.principals().cluster_key(&c).unwrap();
    assert!(jwt::verify_rs256(&token, &PublicKey::from(&key)).is_ok());
    let rpst = std::fs::read_to_string(canon.join("rpst")).unwrap();
    assert!(jwt::verify_rs256(&rpst, emu.tokens().public_key()).is_ok());
    emu.shutdown().await;
}
