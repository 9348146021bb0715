//! Every way a request can fail verification yields the same 401 (exact body, JSON, request id);
//! the reason reaches only the log. And the accepted variants: GoSDK parameter order, x-date,
//! the clock window edges.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use common::*;
use ociauth::env::ManualClock;
use ociauth::keys::PrivateKey;

fn last_log(h: &Harness) -> String {
    h.log_lines().last().cloned().unwrap_or_default()
}

/// Replace one header's value in a signed header list.
fn replace(headers: &mut [(String, String)], name: &str, value: &str) {
    let h = headers.iter_mut().find(|(k, _)| k == name).unwrap();
    h.1 = value.to_string();
}

#[tokio::test]
async fn no_and_malformed_authorization() {
    let h = harness().await;
    assert_401(h.send_raw("GET", "/n", &[], vec![]).await).await;
    assert!(
        last_log(&h).contains("reason=\"no Authorization header\""),
        "{}",
        last_log(&h)
    );

    let mut signed = h.signed_headers(&Req::new("GET", "/n"));
    let auth = signed
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1
        .clone();
    for bad in [
        "Bearer abc".to_string(),
        "Signature".to_string(),
        auth.replace("headers=", "hdrs="),
        auth.replace("keyId=", "kid="),
        auth.replace("signature=\"", "signature=\"!!"),
        auth.replace("rsa-sha256", "hmac-sha256"),
        auth.replace("version=\"1\"", "version=\"2\""),
        format!("{auth},keyId=\"again\""),
        auth.replace("\",version", ",version"),
    ] {
        replace(&mut signed, "authorization", &bad);
        assert_401(h.send_raw("GET", "/n", &signed, vec![]).await).await;
        assert!(last_log(&h).contains(" reason="), "{}", last_log(&h));
    }
}

#[tokio::test]
async fn wrong_key_and_unknown_key_ids() {
    let h = harness().await;
    // Signed with another private key under the registered key id.
    let mut r = Req::new("GET", "/n");
    r.key = Some(PrivateKey::generate().unwrap());
    assert_401(h.send(r).await).await;
    assert!(
        last_log(&h).contains("signature does not verify"),
        "{}",
        last_log(&h)
    );

    let (tenancy, rest) = h.key_id.split_once('/').unwrap();
    let (user, _fp) = rest.split_once('/').unwrap();
    let unknown = "no API key registered under this tenancy/user/fingerprint";
    let shape = "keyId is not tenancy/user/fingerprint";
    for (key_id, reason) in [
        (
            format!("{tenancy}/{user}/00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"),
            unknown,
        ),
        (
            format!(
                "ocid1.tenancy.oc1..aaaaaaaaother/{user}/{}",
                h.key.fingerprint()
            ),
            unknown,
        ),
        (
            format!(
                "{tenancy}/ocid1.user.oc1..aaaaaaaaother/{}",
                h.key.fingerprint()
            ),
            unknown,
        ),
        (format!("{tenancy}/{user}"), shape),
        (format!("{}/extra", h.key_id), shape),
        (String::new(), shape),
    ] {
        let mut r = Req::new("GET", "/n");
        r.key_id = Some(key_id.clone());
        assert_401(h.send(r).await).await;
        assert!(last_log(&h).contains(reason), "{key_id}: {}", last_log(&h));
    }
}

#[tokio::test]
async fn foreign_session_tokens_are_refused_and_cut_in_the_log() {
    let h = harness().await;
    let mut r = Req::new("GET", "/n");
    r.key_id = Some("ST$eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl".to_string());
    assert_401(h.send(r).await).await;
    let line = last_log(&h);
    assert!(line.contains("key=\"ST$eyJhbGci…\""), "{line}");
    assert!(!line.contains("eyJzdWIi"), "{line}");
    assert!(
        line.contains("token not issued by this emulator or tampered"),
        "{line}"
    );
}

#[tokio::test]
async fn a_token_verifier_plugs_in() {
    #[derive(Debug)]
    struct Fixed(ociauth::keys::PublicKey);
    impl oci_emulator::TokenVerifier for Fixed {
        fn verify(
            &self,
            token: &str,
            _now: SystemTime,
        ) -> Result<oci_emulator::VerifiedToken, String> {
            if token != "good.token.sig" {
                return Err("unknown token".into());
            }
            Ok(oci_emulator::VerifiedToken {
                public_key: self.0.clone(),
                principal: oci_emulator::Principal {
                    tenancy_id: "t".into(),
                    principal_id: "u".into(),
                    method: oci_emulator::verify::AuthMethod::SessionToken {
                        kind: "user".into(),
                    },
                },
                required_headers: vec![],
            })
        }
    }
    let h = harness().await;
    let session_key = PrivateKey::generate().unwrap();
    h.emu
        .set_token_verifier(Some(Arc::new(Fixed((&session_key).into()))));
    let mut r = Req::new("GET", "/n");
    r.key_id = Some("ST$good.token.sig".into());
    r.key = Some(session_key.clone());
    assert_eq!(h.send(r).await.status().as_u16(), 200);
    // Signed with the API key instead of the session key: 401.
    let mut r = Req::new("GET", "/n");
    r.key_id = Some("ST$good.token.sig".into());
    assert_401(h.send(r).await).await;
    let mut r = Req::new("GET", "/n");
    r.key_id = Some("ST$bad.token.sig".into());
    r.key = Some(session_key);
    assert_401(h.send(r).await).await;
    assert!(last_log(&h).contains("session token rejected: unknown token"));
}

#[tokio::test]
async fn tampered_path_query_host_and_headers() {
    let h = harness().await;
    let ns = h.namespace();
    let c = h.emu.state().compartment_id();
    h.create_bucket("b").await;
    h.create_bucket("c").await;

    // Path: signed for one bucket, sent to another.
    let signed = h.signed_headers(&Req::new("GET", format!("/n/{ns}/b/b/o")));
    assert_401(
        h.send_raw("GET", &format!("/n/{ns}/b/c/o"), &signed, vec![])
            .await,
    )
    .await;
    // Path encoding is part of the signature: %20 vs %2520 differ, and so does a decoded form.
    let signed = h.signed_headers(&Req::new("GET", format!("/n/{ns}/b/b/o/a%20b")));
    assert_401(
        h.send_raw("GET", &format!("/n/{ns}/b/b/o/a%2520b"), &signed, vec![])
            .await,
    )
    .await;
    // Query.
    let signed = h.signed_headers(&Req::new(
        "GET",
        format!("/n/{ns}/b?compartmentId={c}&limit=1"),
    ));
    assert_401(
        h.send_raw(
            "GET",
            &format!("/n/{ns}/b?compartmentId={c}&limit=2"),
            &signed,
            vec![],
        )
        .await,
    )
    .await;
    assert_401(
        h.send_raw(
            "GET",
            &format!("/n/{ns}/b?limit=1&compartmentId={c}"),
            &signed,
            vec![],
        )
        .await,
    )
    .await;
    // The same signature on the exact target works.
    let resp = h
        .send_raw(
            "GET",
            &format!("/n/{ns}/b?compartmentId={c}&limit=1"),
            &signed,
            vec![],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    // Method.
    let signed = h.signed_headers(&Req::new("GET", format!("/n/{ns}/b/b/o/x")));
    assert_401(
        h.send_raw("DELETE", &format!("/n/{ns}/b/b/o/x"), &signed, vec![])
            .await,
    )
    .await;

    // Host: signed for another host than the one the request carries.
    let mut r = Req::new("GET", "/n");
    r.signed_host = Some("objectstorage.us-ashburn-1.oraclecloud.com".into());
    assert_401(h.send(r).await).await;
    let mut signed = h.signed_headers(&Req::new("GET", "/n"));
    signed.push(("host".into(), "evil.example:1".into()));
    assert_401(h.send_raw("GET", "/n", &signed, vec![]).await).await;

    // A signed header changed after signing.
    let mut signed = h.signed_headers(&Req::new("GET", "/n"));
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(1));
    replace(&mut signed, "date", &date);
    assert_401(h.send_raw("GET", "/n", &signed, vec![]).await).await;
    // A signed header dropped.
    let signed: Vec<_> = h
        .signed_headers(&Req::new("GET", "/n"))
        .into_iter()
        .filter(|(k, _)| k != "date")
        .collect();
    assert_401(h.send_raw("GET", "/n", &signed, vec![]).await).await;
    assert!(
        last_log(&h).contains("\\\"date\\\" is absent"),
        "{}",
        last_log(&h)
    );
}

#[tokio::test]
async fn tampered_body() {
    let h = harness().await;
    let ns = h.namespace();
    let c = h.emu.state().compartment_id();
    // Same length, different bytes: the signature (over the headers) holds, the hash does not.
    let body = format!(r#"{{"name": "aa", "compartmentId": "{c}"}}"#);
    let other = format!(r#"{{"name": "bb", "compartmentId": "{c}"}}"#);
    let signed = h.signed_headers(&Req::new("POST", format!("/n/{ns}/b")).body(body.clone()));
    assert_401(
        h.send_raw("POST", &format!("/n/{ns}/b"), &signed, other.into_bytes())
            .await,
    )
    .await;
    assert!(
        last_log(&h).contains("x-content-sha256 does not match the body"),
        "{}",
        last_log(&h)
    );
    let resp = h
        .send_raw("POST", &format!("/n/{ns}/b"), &signed, body.into_bytes())
        .await;
    assert_eq!(resp.status().as_u16(), 200);

    // PutObject that signed its body: streamed, rejected at the end, nothing stored.
    let signed = h.signed_headers(
        &Req::new("PUT", format!("/n/{ns}/b/aa/o/obj"))
            .header("content-type", "application/octet-stream")
            .body(b"hello".to_vec()),
    );
    assert_401(
        h.send_raw(
            "PUT",
            &format!("/n/{ns}/b/aa/o/obj"),
            &signed,
            b"jello".to_vec(),
        )
        .await,
    )
    .await;
    let resp = h.send(Req::new("GET", format!("/n/{ns}/b/aa/o/obj"))).await;
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(
        std::fs::read_dir(h.emu.state_dir().join("objects"))
            .unwrap()
            .count(),
        0
    );
    let resp = h
        .send_raw(
            "PUT",
            &format!("/n/{ns}/b/aa/o/obj"),
            &signed,
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn minimum_header_sets() {
    let h = harness().await;
    let ns = h.namespace();
    let c = h.emu.state().compartment_id();
    // POST without body headers: 401 (only PutObject/UploadPart are exempt).
    let body = format!(r#"{{"name": "x", "compartmentId": "{c}"}}"#);
    let r = Req::new("POST", format!("/n/{ns}/b"))
        .header("content-type", "application/json")
        .body(body)
        .no_body_signing();
    assert_401(h.send(r).await).await;
    assert!(
        last_log(&h).contains("lack required \\\"content-length\\\""),
        "{}",
        last_log(&h)
    );

    // A valid signature over a list without host / (request-target) / date.
    let now = httpdate::fmt_http_date(SystemTime::now());
    let host = h.host();
    for (list, lines) in [
        (
            "date (request-target)",
            format!("date: {now}\n(request-target): get /n"),
        ),
        ("date host", format!("date: {now}\nhost: {host}")),
        (
            "(request-target) host",
            format!("(request-target): get /n\nhost: {host}"),
        ),
    ] {
        let sig = base64::engine::general_purpose::STANDARD
            .encode(h.key.sign_sha256(lines.as_bytes()).unwrap());
        let auth = format!(
            "Signature algorithm=\"rsa-sha256\",headers=\"{list}\",keyId=\"{}\",signature=\"{sig}\",version=\"1\"",
            h.key_id
        );
        let headers = vec![
            ("date".to_string(), now.clone()),
            ("authorization".to_string(), auth),
        ];
        assert_401(h.send_raw("GET", "/n", &headers, vec![]).await).await;
        assert!(
            last_log(&h).contains("lack required"),
            "{list}: {}",
            last_log(&h)
        );
    }
}

#[tokio::test]
async fn accepted_variants() {
    let h = harness().await;
    // GoSDK parameter order.
    let mut signed = h.signed_headers(&Req::new("GET", "/n"));
    let auth = signed
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1
        .clone();
    let p = ociauth::signer::parse_authorization(&auth).unwrap();
    let go = format!(
        "Signature version=\"1\",headers=\"{}\",keyId=\"{}\",algorithm=\"rsa-sha256\",signature=\"{}\"",
        p.headers.join(" "),
        p.key_id,
        p.signature
    );
    replace(&mut signed, "authorization", &go);
    assert_eq!(
        h.send_raw("GET", "/n", &signed, vec![])
            .await
            .status()
            .as_u16(),
        200
    );
    // Without algorithm and version.
    let bare = format!(
        "Signature headers=\"{}\",keyId=\"{}\",signature=\"{}\"",
        p.headers.join(" "),
        p.key_id,
        p.signature
    );
    replace(&mut signed, "authorization", &bare);
    assert_eq!(
        h.send_raw("GET", "/n", &signed, vec![])
            .await
            .status()
            .as_u16(),
        200
    );

    // x-date in place of date.
    let now = httpdate::fmt_http_date(SystemTime::now());
    let lines = format!(
        "x-date: {now}\n(request-target): get /n\nhost: {}",
        h.host()
    );
    let sig = base64::engine::general_purpose::STANDARD
        .encode(h.key.sign_sha256(lines.as_bytes()).unwrap());
    let auth = format!(
        "Signature algorithm=\"rsa-sha256\",headers=\"x-date (request-target) host\",keyId=\"{}\",signature=\"{sig}\",version=\"1\"",
        h.key_id
    );
    let headers = vec![
        ("x-date".to_string(), now),
        ("authorization".to_string(), auth),
    ];
    assert_eq!(
        h.send_raw("GET", "/n", &headers, vec![])
            .await
            .status()
            .as_u16(),
        200
    );

    // Extra signed headers beyond the minimum are fine.
    let lines_now = httpdate::fmt_http_date(SystemTime::now());
    let lines = format!(
        "date: {lines_now}\n(request-target): get /n\nhost: {}\nopc-client-request-id: ABC",
        h.host()
    );
    let sig = base64::engine::general_purpose::STANDARD
        .encode(h.key.sign_sha256(lines.as_bytes()).unwrap());
    let auth = format!(
        "Signature algorithm=\"rsa-sha256\",headers=\"date (request-target) host opc-client-request-id\",keyId=\"{}\",signature=\"{sig}\",version=\"1\"",
        h.key_id
    );
    let headers = vec![
        ("date".to_string(), lines_now),
        ("opc-client-request-id".to_string(), "ABC".to_string()),
        ("authorization".to_string(), auth),
    ];
    let resp = h.send_raw("GET", "/n", &headers, vec![]).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["opc-client-request-id"], "ABC");
}

#[tokio::test]
async fn date_window_with_injected_clock() {
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let t0 = clock.now_for_test();
    let c2 = clock.clone();
    let h = harness_with(tempfile::tempdir().unwrap(), move |c| c.clock(Arc::new(c2))).await;
    let at = |offset: i64| {
        let mut r = Req::new("GET", "/n");
        r.now = if offset >= 0 {
            t0 + Duration::from_secs(offset as u64)
        } else {
            t0 - Duration::from_secs((-offset) as u64)
        };
        r
    };
    assert_eq!(h.send(at(300)).await.status().as_u16(), 200);
    assert_eq!(h.send(at(-300)).await.status().as_u16(), 200);
    assert_401(h.send(at(301)).await).await;
    assert!(
        last_log(&h).contains("is 301 s away from the server clock (allowed: 300 s)"),
        "{}",
        last_log(&h)
    );
    assert_401(h.send(at(-301)).await).await;
    // Moving the server clock moves the window.
    clock.advance(Duration::from_secs(400));
    assert_eq!(h.send(at(301)).await.status().as_u16(), 200);
    assert_401(h.send(at(0)).await).await;
    // The Date response header comes from the emulator clock (the CLI's skew probe reads it).
    let resp = h.send_raw("HEAD", "/", &[], vec![]).await;
    assert_eq!(
        resp.headers()["date"].to_str().unwrap(),
        httpdate::fmt_http_date(t0 + Duration::from_secs(400))
    );
    // A forged, stale Date against the real clock.
    let h2 = harness().await;
    let mut r = Req::new("GET", "/n");
    r.now = SystemTime::now() - Duration::from_secs(301);
    assert_401(h2.send(r).await).await;
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
