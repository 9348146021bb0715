//! The spec's normative test vectors V1-V6 (oci-signing-config-session.md §1.10), byte for byte.

use std::time::SystemTime;

use ociauth::keys::PrivateKey;
use ociauth::signer::{self, Body, Request, SignOptions};

const KEY: &str = include_str!("data/doc_key_pkcs1.pem");
const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
const KEY_ID: &str = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";

fn key() -> PrivateKey {
    PrivateKey::from_pem(KEY.as_bytes(), None).expect("doc key loads")
}

fn sign(
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    opts: SignOptions<'_>,
    key_id: &str,
) -> signer::SignedHeaders {
    let mut h = vec![("date", DATE)];
    h.extend_from_slice(headers);
    let req = Request {
        method,
        target,
        host,
        headers: &h,
        body: Body::Bytes(body),
    };
    signer::sign(&req, &opts, key_id, &key(), SystemTime::UNIX_EPOCH).expect("signs")
}

fn sig_of(auth: &str) -> &str {
    let i = auth.find("signature=\"").unwrap() + 11;
    let rest = &auth[i..];
    &rest[..rest.find('"').unwrap()]
}

#[test]
fn fingerprint_of_doc_key() {
    assert_eq!(
        key().fingerprint(),
        "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7"
    );
}

#[test]
fn v1_get_docs_example() {
    let target = "/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
    let s = sign(
        "GET",
        "iaas.us-phoenix-1.oraclecloud.com",
        target,
        &[],
        b"",
        SignOptions::default(),
        KEY_ID,
    );
    assert_eq!(
        s.signing_string,
        format!(
            "date: {DATE}\n(request-target): get {target}\nhost: iaas.us-phoenix-1.oraclecloud.com"
        )
    );
    assert_eq!(
        s.authorization,
        format!(
            "Signature algorithm=\"rsa-sha256\",headers=\"date (request-target) host\",keyId=\"{KEY_ID}\",signature=\"GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=\",version=\"1\""
        )
    );
    assert_eq!(s.content_length, None);
    assert_eq!(s.x_content_sha256, None);
}

const V2_BODY: &str = "{\n    \"compartmentId\": \"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",\n    \"instanceId\": \"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",\n    \"volumeId\": \"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"\n}";

#[test]
fn v2_post_json_body() {
    assert_eq!(V2_BODY.len(), 316);
    let s = sign(
        "POST",
        "iaas.us-phoenix-1.oraclecloud.com",
        "/20160918/volumeAttachments",
        &[("content-type", "application/json")],
        V2_BODY.as_bytes(),
        SignOptions::default(),
        KEY_ID,
    );
    assert_eq!(
        s.x_content_sha256.as_deref(),
        Some("V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=")
    );
    assert_eq!(s.content_length.as_deref(), Some("316"));
    assert_eq!(
        s.content_type, None,
        "caller's content-type is kept, not re-added"
    );
    assert_eq!(
        s.signing_string,
        format!(
            "date: {DATE}\n(request-target): post /20160918/volumeAttachments\nhost: iaas.us-phoenix-1.oraclecloud.com\ncontent-length: 316\ncontent-type: application/json\nx-content-sha256: V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
        )
    );
    assert_eq!(
        s.authorization,
        format!(
            "Signature algorithm=\"rsa-sha256\",headers=\"date (request-target) host content-length content-type x-content-sha256\",keyId=\"{KEY_ID}\",signature=\"Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=\",version=\"1\""
        )
    );
}

#[test]
fn v3_post_empty_body() {
    let s = sign(
        "POST",
        "iaas.us-phoenix-1.oraclecloud.com",
        "/20160918/volumeAttachments",
        &[],
        b"",
        SignOptions::default(),
        KEY_ID,
    );
    assert_eq!(s.content_type.as_deref(), Some("application/json"));
    assert_eq!(s.content_length.as_deref(), Some("0"));
    assert_eq!(
        s.x_content_sha256.as_deref(),
        Some(signer::EMPTY_BODY_SHA256)
    );
    assert_eq!(
        sig_of(&s.authorization),
        "YebLSmHp/IJ1HYae00Udz4kBArPDldBPPK79keGO3HgvB4aWrtjkev0hp6hmR3LSb5/Fy3WaI9W+A6kJUlSweboGX/GEBgKnXdpoNpJl655tJDZAly0jfQ8ZaYeyBosqRGN10EUDyHUEYGAxbo/8NDVlsrWGcMMYRw16DcnE9xg="
    );
}

#[test]
fn v4_session_token_get_namespace() {
    let s = sign(
        "GET",
        "objectstorage.us-ashburn-1.oraclecloud.com",
        "/n",
        &[],
        b"",
        SignOptions::default(),
        "ST$TOKEN.abc.def",
    );
    assert_eq!(
        s.authorization,
        "Signature algorithm=\"rsa-sha256\",headers=\"date (request-target) host\",keyId=\"ST$TOKEN.abc.def\",signature=\"I7+1Fh1l7EjDnMdgl74A9UwGunZtkDb/7vrkv47TMRO2SGhqRFupWA2vLeo153IbnZyno006mvgFfwjiYMA4UJQqfpLGsu4rAojSX6Un0vLwXm8O47eM2lY5PneYp2QQ2Ur2VNqXuMYxWTfcJzq9AypQmtm0itn+5X4eQfv7QjY=\",version=\"1\""
    );
}

#[test]
fn v5_put_object_body_signing_off() {
    let opts = SignOptions {
        sign_body: false,
        ..SignOptions::default()
    };
    let s = sign(
        "PUT",
        "objectstorage.us-ashburn-1.oraclecloud.com",
        "/n/ns/b/bkt/o/obj%20name",
        &[
            ("content-type", "application/octet-stream"),
            ("content-length", "5"),
        ],
        b"hello",
        opts,
        KEY_ID,
    );
    assert_eq!(
        s.signing_string,
        format!(
            "date: {DATE}\n(request-target): put /n/ns/b/bkt/o/obj%20name\nhost: objectstorage.us-ashburn-1.oraclecloud.com"
        )
    );
    assert_eq!(s.x_content_sha256, None);
    assert!(
        s.authorization
            .contains("headers=\"date (request-target) host\"")
    );
    assert_eq!(
        sig_of(&s.authorization),
        "GFIVrYW8XvAaPZCqB4Ul5SEZQYwb/e2scwq5BUFDmgZnFifrUsvPYE7DEljpk3UwbpRv+fRKPX19Ue0KXL6rY+cx6FBTdT1lSNOmQf+MSic5LNMfe2mqrq+U/6h+SNlelZyYtklk4bHElIx11Is7doKcvyc54jqM5F7dz2eg4lI="
    );
}

#[test]
fn v6_delete_with_port() {
    let s = sign(
        "DELETE",
        "127.0.0.1:8765",
        "/n/ns/b/bkt/o/a.txt",
        &[],
        b"",
        SignOptions::default(),
        KEY_ID,
    );
    assert_eq!(
        s.signing_string,
        format!("date: {DATE}\n(request-target): delete /n/ns/b/bkt/o/a.txt\nhost: 127.0.0.1:8765")
    );
    assert_eq!(
        sig_of(&s.authorization),
        "oDCJAu0wQWB12bIg/Z/HZHV1CpDcSl6YNrvT4dfaSkmIwfnQgpMI670cmZAjGK8WDhksM141aXY5VVneqEc0M1m3kaSi9Bwa+nAqoncSSpQsW8y/UyTlXLL+gttlzWU6tubfYrJot+Dc4Qllx4UOpdZR38n/K3IQPo108pmf1/k="
    );
}

#[test]
fn unsupported_method_is_refused() {
    let req = Request {
        method: "OPTIONS",
        target: "/",
        host: "h",
        headers: &[],
        body: Body::Bytes(b""),
    };
    let e = signer::sign(
        &req,
        &SignOptions::default(),
        "k",
        &key(),
        SystemTime::UNIX_EPOCH,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Don't know how to sign request verb OPTIONS (OCI signs GET, HEAD, DELETE, PUT, POST, PATCH)"
    );
}

#[test]
fn authorization_round_trips_through_parser_in_any_order() {
    let s = sign("GET", "h", "/n", &[], b"", SignOptions::default(), KEY_ID);
    let p = signer::parse_authorization(&s.authorization).unwrap();
    assert_eq!(p.key_id, KEY_ID);
    assert_eq!(p.headers, vec!["date", "(request-target)", "host"]);
    let go = format!(
        "Signature version=\"1\",headers=\"date (request-target) host\",keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",signature=\"{}\"",
        p.signature
    );
    assert_eq!(signer::parse_authorization(&go).unwrap(), p);
    let pubkey = ociauth::keys::PublicKey::from(&key());
    let sig = base64_decode(&p.signature);
    assert!(pubkey.verify_sha256(s.signing_string.as_bytes(), &sig));
    assert!(!pubkey.verify_sha256(b"tampered", &sig));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
