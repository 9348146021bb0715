//! `ST$` tokens issued by the emulator's token authority: proof of possession, expiry, forgery.

mod common;

use std::time::Duration;

use common::*;
use oci_emulator::TokenRequest;
use ociauth::keys::{PrivateKey, PublicKey};

fn user_token(h: &Harness, bound: &PrivateKey, lifetime: Duration) -> String {
    let req = TokenRequest {
        ptype: "user".into(),
        subject: config_value(
            &std::fs::read_to_string(h.emu.config_path()).unwrap(),
            "user",
        ),
        tenancy: h.emu.state().tenancy_id(),
        lifetime,
        session_end: None,
        extra: Default::default(),
    };
    h.emu.tokens().issue(&req, &PublicKey::from(bound)).unwrap()
}

#[tokio::test]
async fn token_signed_with_its_bound_key_is_accepted() {
    let h = harness().await;
    let session = PrivateKey::generate().unwrap();
    let token = user_token(&h, &session, Duration::from_secs(600));
    let mut r = Req::new("GET", "/n");
    r.key = Some(session.clone());
    r.key_id = Some(format!("ST${token}"));
    let resp = h.send(r).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), format!("\"{}\"", h.namespace()));
    // The log shows the token cut short, never whole.
    let log = h.log_lines().join("\n");
    assert!(!log.contains(&token), "{log}");
    assert!(log.contains("ST$eyJ"), "{log}");
}

#[tokio::test]
async fn token_used_with_another_key_is_rejected() {
    let h = harness().await;
    let session = PrivateKey::generate().unwrap();
    let thief = PrivateKey::generate().unwrap();
    let token = user_token(&h, &session, Duration::from_secs(600));
    let mut r = Req::new("GET", "/n");
    r.key = Some(thief);
    r.key_id = Some(format!("ST${token}"));
    assert_401(h.send(r).await).await;
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let h = harness().await;
    let session = PrivateKey::generate().unwrap();
    let token = user_token(&h, &session, Duration::from_secs(0));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut r = Req::new("GET", "/n");
    r.key = Some(session);
    r.key_id = Some(format!("ST${token}"));
    assert_401(h.send(r).await).await;
    assert!(h.log_lines().join("\n").contains("token expired"));
}

#[tokio::test]
async fn token_not_signed_by_the_emulator_is_rejected() {
    let h = harness().await;
    let session = PrivateKey::generate().unwrap();
    // Same claims, signed by a stranger's authority.
    let stranger = oci_emulator::TokenAuthority::with_key(
        PrivateKey::generate().unwrap(),
        std::sync::Arc::new(ociauth::env::SystemClock),
    );
    let req = TokenRequest {
        ptype: "user".into(),
        subject: "ocid1.user.oc1..x".into(),
        tenancy: h.emu.state().tenancy_id(),
        lifetime: Duration::from_secs(600),
        session_end: None,
        extra: Default::default(),
    };
    let forged = stranger.issue(&req, &PublicKey::from(&session)).unwrap();
    let mut r = Req::new("GET", "/n");
    r.key = Some(session);
    r.key_id = Some(format!("ST${forged}"));
    assert_401(h.send(r).await).await;
    assert!(
        h.log_lines()
            .join("\n")
            .contains("not issued by this emulator")
    );
}
