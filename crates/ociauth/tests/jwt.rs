//! JWT decoding, signing, verification, JWKs and the `sess_exp` date format
//! (spec oci-signing-config-session.md §6, oci-principals-wif.md §1.4 and §5.5).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use ociauth::jwt::{
    self, Alg, JwtError, Part, RsaJwk, decode_unverified, format_sess_exp, parse_jwks,
    parse_sess_exp, sign_rs256, verify_rs256, verify_with_keys,
};
use ociauth::keys::{PrivateKey, PublicKey};
use serde_json::{Value, json};

const DOC_KEY: &str = include_str!("data/doc_key_pkcs1.pem");

fn doc_key() -> PrivateKey {
    PrivateKey::from_pem(DOC_KEY.as_bytes(), None).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// RFC 7515 Appendix A.2: an RS256 JWS and its RSA public key.
const RFC7515_A2: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
const RFC7515_A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";

fn rfc_key() -> PublicKey {
    RsaJwk::from_json(&json!({"kty": "RSA", "n": RFC7515_A2_N, "e": "AQAB"}))
        .unwrap()
        .public_key()
        .unwrap()
}

/// The claims of the PyJWT vectors below.
fn upst_claims() -> Value {
    json!({
        "sub": "ocid1.user.oc1..aaaa",
        "tenant": "ocid1.tenancy.oc1..bbbb",
        "iat": 1764435600,
        "exp": 1764439200,
        "sess_exp": "Sat, 29 Nov 2026 17:00:00 UTC",
        "ptype": "user"
    })
}

/// `jwt.encode(upst_claims, doc_key, algorithm="RS256", headers={"kid": "k1"})`, PyJWT 2.15.1.
const PYJWT_KID: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJvY2lkMS51c2VyLm9jMS4uYWFhYSIsInRlbmFudCI6Im9jaWQxLnRlbmFuY3kub2MxLi5iYmJiIiwiaWF0IjoxNzY0NDM1NjAwLCJleHAiOjE3NjQ0MzkyMDAsInNlc3NfZXhwIjoiU2F0LCAyOSBOb3YgMjAyNiAxNzowMDowMCBVVEMiLCJwdHlwZSI6InVzZXIifQ.YaH_OzPVj5UJCJatXVBHZInvJix502mupqZ9VkzNUjbSlu8j4tIPe6cTR7hOZNCVvsKNtFqAkJAUBTyHjqKSDWtUAps4YfOqpIj0EV-Bp5NYIcQYJsnz3BplmtXS7Iq6Ze6Af7_Us_t3YPRakqdasJ3C2hLEbo5BcUy4tgv5NtQ";
/// The same without `headers`.
const PYJWT_NO_KID: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvY2lkMS51c2VyLm9jMS4uYWFhYSIsInRlbmFudCI6Im9jaWQxLnRlbmFuY3kub2MxLi5iYmJiIiwiaWF0IjoxNzY0NDM1NjAwLCJleHAiOjE3NjQ0MzkyMDAsInNlc3NfZXhwIjoiU2F0LCAyOSBOb3YgMjAyNiAxNzowMDowMCBVVEMiLCJwdHlwZSI6InVzZXIifQ.F-wMrraCmUlr3g40FB0bnRkBReCai9WeZ9nE61jusTIyOEw7IIkxmnriRFfgrRHYKMToN2z93V1r-RjXWD_TSXEFP_jzA9bUkTcUUQCoIVtTty3I4KiJHuk2P4y1YqH7bq5JIOxVCARIzQ3KBj14_KKEfjVCUIMSI7xoG_aj_uo";

#[test]
fn rfc7515_vector_verifies() {
    let jwt = verify_rs256(RFC7515_A2, &rfc_key()).unwrap();
    assert_eq!(jwt.header(), json!({"alg": "RS256"}).as_object().unwrap());
    assert_eq!(jwt.alg(), Some("RS256"));
    assert_eq!(jwt.kid(), None);
    assert_eq!(jwt.claim_str("iss"), Some("joe"));
    assert_eq!(jwt.exp(), Some(1300819380));
    assert_eq!(jwt.iat(), None);
    assert_eq!(jwt.claim("http://example.com/is_root"), Some(&json!(true)));
    assert_eq!(jwt, decode_unverified(RFC7515_A2).unwrap());
    // The key was not used to sign this one.
    let other = PublicKey::from(&doc_key());
    assert_eq!(
        verify_rs256(RFC7515_A2, &other).unwrap_err(),
        JwtError::BadSignature
    );
}

#[test]
fn signing_is_byte_identical_to_pyjwt() {
    let key = doc_key();
    assert_eq!(
        sign_rs256(&json!({"kid": "k1"}), &upst_claims(), &key).unwrap(),
        PYJWT_KID
    );
    assert_eq!(
        sign_rs256(&Value::Null, &upst_claims(), &key).unwrap(),
        PYJWT_NO_KID
    );
    let jwt = verify_rs256(PYJWT_KID, &PublicKey::from(&key)).unwrap();
    assert_eq!(
        serde_json::to_string(jwt.header()).unwrap(),
        r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#
    );
    assert_eq!(jwt.sub(), Some("ocid1.user.oc1..aaaa"));
    assert_eq!(jwt.claim_str("tenant"), Some("ocid1.tenancy.oc1..bbbb"));
    assert_eq!(jwt.iat(), Some(1764435600));
    assert_eq!(jwt.exp(), Some(1764439200));
    assert_eq!(jwt.sess_exp(), Some(at(1795971600)));
    assert_eq!(&Value::Object(jwt.claims().clone()), &upst_claims());
}

#[test]
fn round_trip_and_tampering() {
    let key = PrivateKey::generate().unwrap();
    let public = PublicKey::from(&key);
    let claims = json!({"sub": "me", "exp": 2000000000});
    let token = sign_rs256(&json!({"kid": "x", "typ": "at+jwt"}), &claims, &key).unwrap();
    let jwt = verify_rs256(&token, &public).unwrap();
    assert_eq!(
        serde_json::to_string(jwt.header()).unwrap(),
        r#"{"alg":"RS256","kid":"x","typ":"at+jwt"}"#
    );
    assert_eq!(jwt.sub(), Some("me"));

    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = b64(br#"{"sub":"admin","exp":2000000000}"#);
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        verify_rs256(&tampered, &public).unwrap_err(),
        JwtError::BadSignature
    );
    // ...while decoding without verification still reads it, as the clients do.
    assert_eq!(decode_unverified(&tampered).unwrap().sub(), Some("admin"));
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
    assert_eq!(
        verify_rs256(&bad_sig, &public).unwrap_err(),
        JwtError::BadSignature
    );
    let other = PublicKey::from(&PrivateKey::generate().unwrap());
    assert_eq!(
        verify_rs256(&token, &other).unwrap_err(),
        JwtError::BadSignature
    );
}

#[test]
fn only_rsa_pkcs1_algorithms_are_accepted() {
    let key = doc_key();
    let public = PublicKey::from(&key);
    let payload = b64(br#"{"sub":"admin"}"#);
    let forge =
        |header: &str, sig: &[u8]| format!("{}.{}.{}", b64(header.as_bytes()), payload, b64(sig));

    let none = forge(r#"{"alg":"none"}"#, b"");
    let err = verify_rs256(&none, &public).unwrap_err();
    assert_eq!(err, JwtError::UnsupportedAlg("none".into()));
    assert_eq!(
        err.to_string(),
        "JWT algorithm \"none\" is not accepted; only RS256, RS384 and RS512 are"
    );
    // HS256 "signed" with the public key as the HMAC secret (the key-confusion attack).
    let hs = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &[7u8; 32]);
    assert_eq!(
        verify_rs256(&hs, &public).unwrap_err(),
        JwtError::UnsupportedAlg("HS256".into())
    );
    for alg in ["ES256", "PS256", "rs256", "RS1", ""] {
        let t = forge(&format!(r#"{{"alg":"{alg}"}}"#), &[1u8; 128]);
        assert_eq!(
            verify_rs256(&t, &public).unwrap_err(),
            JwtError::UnsupportedAlg(alg.into()),
            "{alg}"
        );
        assert_eq!(
            verify_with_keys(&t, &[("k".into(), public.clone())]).unwrap_err(),
            JwtError::UnsupportedAlg(alg.into())
        );
    }
    for header in [r#"{"typ":"JWT"}"#, r#"{"alg":256}"#, r#"{"alg":null}"#] {
        let t = forge(header, &[1u8; 128]);
        let err = verify_rs256(&t, &public).unwrap_err();
        assert_eq!(err, JwtError::MissingAlg, "{header}");
        assert_eq!(
            err.to_string(),
            "the JWT header has no \"alg\" (a string); RS256, RS384 or RS512 is required"
        );
    }
    // decode_unverified reads any algorithm: it never trusts the content.
    assert_eq!(decode_unverified(&none).unwrap().alg(), Some("none"));
}

/// Sign `header.payload` with RS384/RS512 through aws-lc-rs directly.
fn sign_with(alg: Alg, key: &PrivateKey, claims: &str) -> String {
    use aws_lc_rs::rsa::KeyPair;
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512};
    let pair = KeyPair::from_pkcs8(&key.to_pkcs8_der().unwrap()).unwrap();
    let input = format!(
        "{}.{}",
        b64(format!(r#"{{"alg":"{}"}}"#, alg.name()).as_bytes()),
        b64(claims.as_bytes())
    );
    let enc = match alg {
        Alg::RS256 => &RSA_PKCS1_SHA256,
        Alg::RS384 => &RSA_PKCS1_SHA384,
        Alg::RS512 => &RSA_PKCS1_SHA512,
    };
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        enc,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

#[test]
fn rs384_and_rs512_verify() {
    let key = PrivateKey::generate().unwrap();
    let public = PublicKey::from(&key);
    for alg in [Alg::RS256, Alg::RS384, Alg::RS512] {
        let token = sign_with(alg, &key, r#"{"sub":"x"}"#);
        let jwt = verify_rs256(&token, &public).unwrap();
        assert_eq!(jwt.alg(), Some(alg.name()));
        // The same signature under another algorithm name fails.
        let parts: Vec<&str> = token.split('.').collect();
        let other = if alg == Alg::RS512 { "RS256" } else { "RS512" };
        let relabelled = format!(
            "{}.{}.{}",
            b64(format!(r#"{{"alg":"{other}"}}"#).as_bytes()),
            parts[1],
            parts[2]
        );
        assert_eq!(
            verify_rs256(&relabelled, &public).unwrap_err(),
            JwtError::BadSignature
        );
    }
}

#[test]
fn padding_is_optional() {
    let key = doc_key();
    let public = PublicKey::from(&key);
    // PYJWT_KID's segments are 51, 246 and 171 characters long: they lack 1, 2 and 1 "=".
    let parts: Vec<&str> = PYJWT_KID.split('.').collect();
    let pad = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
    let padded: Vec<String> = parts.iter().map(|p| pad(p)).collect();
    assert_eq!(
        padded
            .iter()
            .map(|p| p.matches('=').count())
            .collect::<Vec<_>>(),
        [1, 2, 1]
    );
    let padded_token = padded.join(".");
    assert_eq!(
        decode_unverified(&padded_token).unwrap(),
        decode_unverified(PYJWT_KID).unwrap()
    );
    // A token whose issuer signed the padded text verifies too (the signature covers the text).
    let input = format!("{}.{}", padded[0], padded[1]);
    let sig = URL_SAFE.encode(key.sign_sha256(input.as_bytes()).unwrap());
    assert!(sig.ends_with('='));
    let jwt = verify_rs256(&format!("{input}.{sig}"), &public).unwrap();
    assert_eq!(jwt.kid(), Some("k1"));
    // Padding in the middle, or too much of it, is not base64url.
    let broken = format!("{}.{}=.{}", parts[0], padded[1], parts[2]);
    assert_eq!(
        decode_unverified(&broken).unwrap_err(),
        JwtError::BadBase64(Part::Payload)
    );
}

#[test]
fn decode_errors_are_exact_and_hide_the_token() {
    let msg = |t: &str| decode_unverified(t).unwrap_err().to_string();
    assert_eq!(
        msg(""),
        "not a JWT: expected three dot-separated parts (header.payload.signature), found 1"
    );
    assert_eq!(
        msg("abc.def"),
        "not a JWT: expected three dot-separated parts (header.payload.signature), found 2"
    );
    assert_eq!(
        msg("a.b.c.d.e"),
        "not a JWT: expected three dot-separated parts (header.payload.signature), found 5"
    );
    assert_eq!(
        msg("e30!.e30.e30"),
        "not a JWT: the header is not valid base64url"
    );
    assert_eq!(
        msg("e30.e3+.e30"),
        "not a JWT: the payload is not valid base64url"
    );
    assert_eq!(
        msg("e30.e30.a/b"),
        "not a JWT: the signature is not valid base64url"
    );
    assert_eq!(
        msg("e30.bm90IGpzb24.e30"),
        "not a JWT: the payload is not valid JSON (expected ident at line 1 column 2)"
    );
    assert_eq!(
        msg("WzFd.e30.e30"),
        "not a JWT: the header is JSON but not an object (found an array)"
    );
    assert_eq!(
        decode_unverified("e30.IjEi.").unwrap_err(),
        JwtError::NotAnObject {
            part: Part::Payload,
            found: "a string"
        }
    );
    // An empty signature decodes (unsigned tokens are still readable).
    assert!(decode_unverified("e30.e30.").is_ok());

    // Neither errors nor Debug carry token text.
    let secret_sig = PYJWT_KID.rsplit('.').next().unwrap();
    let broken = format!("{PYJWT_KID}.extra");
    let e = decode_unverified(&broken).unwrap_err();
    assert!(!format!("{e} {e:?}").contains(secret_sig));
    let jwt = decode_unverified(PYJWT_KID).unwrap();
    let dbg = format!("{jwt:?}");
    assert_eq!(
        dbg,
        r#"Jwt { alg: Some("RS256"), kid: Some("k1"), iss: None, sub: Some("ocid1.user.oc1..aaaa"), iat: Some(1764435600), exp: Some(1764439200), .. }"#
    );
}

#[test]
fn signing_input_errors() {
    let key = doc_key();
    assert_eq!(
        sign_rs256(&json!({"alg": "none"}), &json!({}), &key)
            .unwrap_err()
            .to_string(),
        "cannot sign a JWT: header_extra must not set \"alg\" (sign_rs256 always signs RS256)"
    );
    assert_eq!(
        sign_rs256(&json!("kid"), &json!({}), &key)
            .unwrap_err()
            .to_string(),
        "cannot sign a JWT: header_extra must be a JSON object or null, not a string"
    );
    assert_eq!(
        sign_rs256(&Value::Null, &json!([1]), &key)
            .unwrap_err()
            .to_string(),
        "cannot sign a JWT: the claims must be a JSON object, not an array"
    );
}

#[test]
fn key_sets() {
    let k1 = PrivateKey::generate().unwrap();
    let k2 = doc_key();
    let set = vec![
        ("a".to_string(), PublicKey::from(&k1)),
        ("b".to_string(), PublicKey::from(&k2)),
    ];
    let claims = json!({"sub": "s"});
    let with_b = sign_rs256(&json!({"kid": "b"}), &claims, &k2).unwrap();
    assert_eq!(verify_with_keys(&with_b, &set).unwrap().kid(), Some("b"));
    let no_kid = sign_rs256(&Value::Null, &claims, &k2).unwrap();
    assert!(verify_with_keys(&no_kid, &set).is_ok());
    let wrong_kid = sign_rs256(&json!({"kid": "a"}), &claims, &k2).unwrap();
    assert_eq!(
        verify_with_keys(&wrong_kid, &set).unwrap_err(),
        JwtError::BadSignature
    );
    let unknown = sign_rs256(&json!({"kid": "c"}), &claims, &k2).unwrap();
    let err = verify_with_keys(&unknown, &set).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no key with kid \"c\" to verify the JWT (check the key set or the token's issuer)"
    );
    assert_eq!(
        verify_with_keys(&with_b, &[]).unwrap_err().to_string(),
        "no keys to verify the JWT (the key set is empty)"
    );
}

/// From spec §4.1: the browser flow's JWK of the documentation's test key.
const DOC_KEY_N: &str = "whRDRsN98hoocvdqQ42UIZdAt-qzyY_gr30gvPqtvIcQNetUBTVHdd8Lgk1HKtEHdqrAXv9oRcnNgwiSYNIdS-_PumeFDEexDnKX3VBPR395v4bPhVEeObgSXgytR0hRw_Gxyg-pL_BTxnyU6LXPtsYycKGIvtYaqdXyHpGsbMk";

#[test]
fn jwks_of_rsa_keys() {
    let key = doc_key();
    let jwk = RsaJwk::from_private_key(&key, Some("Ignored")).unwrap();
    assert_eq!(
        jwk.to_json().to_string(),
        format!(r#"{{"kty":"RSA","n":"{DOC_KEY_N}","e":"AQAB","kid":"Ignored"}}"#)
    );
    assert_eq!(
        RsaJwk::from_public_key(&PublicKey::from(&key), Some("Ignored")).unwrap(),
        jwk
    );
    assert_eq!(
        RsaJwk::from_private_key(&key, None)
            .unwrap()
            .to_json()
            .to_string(),
        format!(r#"{{"kty":"RSA","n":"{DOC_KEY_N}","e":"AQAB"}}"#)
    );
    // Padded values and extra members are accepted; the key is the same.
    assert_eq!(DOC_KEY_N.len() % 4, 3);
    let padded = json!({"kty": "RSA", "n": format!("{DOC_KEY_N}="), "e": "AQAB", "alg": "RS256", "use": "sig"});
    let parsed = RsaJwk::from_json(&padded).unwrap();
    assert_eq!(parsed.n, DOC_KEY_N);
    assert_eq!(parsed.kid, None);
    assert_eq!(
        parsed.public_key().unwrap().spki_der(),
        key.public_key_der()
    );
    // A leading zero byte in n is dropped.
    let n = URL_SAFE_NO_PAD.decode(DOC_KEY_N).unwrap();
    let mut zn = vec![0u8];
    zn.extend_from_slice(&n);
    assert_eq!(RsaJwk::from_components(&zn, &[1, 0, 1], None).n, DOC_KEY_N);

    let err = |v: Value| RsaJwk::from_json(&v).unwrap_err().to_string();
    assert_eq!(
        err(json!({"kty": "EC", "crv": "P-256"})),
        "invalid JWK: \"kty\" is \"EC\"; only \"RSA\" keys are supported"
    );
    assert_eq!(err(json!({"n": "AQAB"})), "invalid JWK: missing \"kty\"");
    assert_eq!(
        err(json!({"kty": "RSA", "e": "AQAB"})),
        "invalid JWK: missing \"n\" (a base64url string)"
    );
    assert_eq!(
        err(json!({"kty": "RSA", "n": "a+b/", "e": "AQAB"})),
        "invalid JWK: \"n\" is not a base64url integer"
    );
    assert_eq!(
        err(json!({"kty": "RSA", "n": format!("{DOC_KEY_N}=="), "e": "AQAB"})),
        "invalid JWK: \"n\" is not a base64url integer"
    );
    assert_eq!(
        err(json!({"kty": "RSA", "n": DOC_KEY_N, "e": "AAAA"})),
        "invalid JWK: \"e\" is not a base64url integer"
    );
    assert_eq!(
        err(json!([1])),
        "invalid JWK: expected an object, found an array"
    );
}

#[test]
fn jwk_sets() {
    let set = format!(
        r#"{{"keys":[
            {{"kty":"EC","crv":"P-256","x":"x","y":"y","kid":"ec"}},
            {{"kty":"RSA","use":"enc","n":"{DOC_KEY_N}","e":"AQAB","kid":"enc"}},
            {{"kty":"RSA","alg":"RSA-OAEP","n":"{DOC_KEY_N}","e":"AQAB","kid":"oaep"}},
            {{"kty":"RSA","use":"sig","alg":"RS256","n":"{DOC_KEY_N}","e":"AQAB","kid":"k1"}},
            {{"kty":"RSA","n":"{RFC7515_A2_N}","e":"AQAB"}}
        ]}}"#
    );
    let keys = parse_jwks(&set).unwrap();
    assert_eq!(
        keys.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["k1", ""]
    );
    assert!(verify_with_keys(PYJWT_KID, &keys).is_ok());
    assert!(verify_with_keys(RFC7515_A2, &keys).is_ok());

    let err = |t: &str| parse_jwks(t).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"keys":[{"kty":"RSA","e":"AQAB"}]}"#),
        "invalid JWK set: key 0: invalid JWK: missing \"n\" (a base64url string)"
    );
    assert_eq!(
        err(r#"[]"#),
        "invalid JWK set: expected an object with a \"keys\" array"
    );
    assert_eq!(
        err("{"),
        "invalid JWK set: not valid JSON (EOF while parsing an object at line 1 column 1)"
    );
}

#[test]
fn sess_exp_format() {
    let t = at(1795971600); // 2026-11-29 17:00:00 UTC, a Sunday
    assert_eq!(format_sess_exp(t).unwrap(), "Sun, 29 Nov 2026 17:00:00 UTC");
    assert_eq!(
        format_sess_exp(t + Duration::from_millis(999)).unwrap(),
        "Sun, 29 Nov 2026 17:00:00 UTC"
    );
    assert_eq!(
        format_sess_exp(at(0)).unwrap(),
        "Thu, 01 Jan 1970 00:00:00 UTC"
    );
    assert_eq!(
        format_sess_exp(at(1_000_000_000)).unwrap(),
        "Sun, 09 Sep 2001 01:46:40 UTC"
    );
    assert_eq!(
        format_sess_exp(at(253_402_300_800)).unwrap_err(),
        JwtError::DateOutOfRange
    );
    // The spec's example (its weekday does not match the date; Java ignores it, so do we).
    assert_eq!(parse_sess_exp("Sat, 29 Nov 2026 17:00:00 UTC").unwrap(), t);
    assert_eq!(parse_sess_exp("Sun, 29 Nov 2026 17:00:00 UTC").unwrap(), t);
    assert_eq!(parse_sess_exp("Sun, 29 Nov 2026 17:00:00 GMT").unwrap(), t);
    assert_eq!(
        parse_sess_exp(&format_sess_exp(at(1_000_000_000)).unwrap()).unwrap(),
        at(1_000_000_000)
    );
    for bad in [
        "2026-11-29T17:00:00Z",
        "Sun, 29 Nov 2026 17:00:00 PST",
        "Sun, 31 Nov 2026 17:00:00 UTC",
        "Sun, 29 nov 2026 17:00:00 UTC",
        "Sunday, 29 Nov 2026 17:00:00 UTC",
        "Sun, 29 Nov 2026 17:00 UTC",
        "",
    ] {
        assert_eq!(
            parse_sess_exp(bad).unwrap_err(),
            JwtError::BadDate(bad.into()),
            "{bad}"
        );
    }
    assert_eq!(
        parse_sess_exp("tomorrow").unwrap_err().to_string(),
        "invalid sess_exp date \"tomorrow\": expected the format \"E, dd MMM yyyy HH:mm:ss z\" in UTC, like \"Sat, 29 Nov 2026 17:00:00 UTC\""
    );
}

fn unsigned(claims: Value) -> jwt::Jwt {
    let t = format!(
        "{}.{}.",
        b64(br#"{"alg":"RS256"}"#),
        b64(claims.to_string().as_bytes())
    );
    decode_unverified(&t).unwrap()
}

#[test]
fn time_claims() {
    let jwt = unsigned(json!({"iat": 1000, "nbf": 1000, "exp": 2000}));
    let lw = Duration::from_secs(60);
    assert_eq!(jwt.validate_time(at(1500), lw), Ok(()));
    assert_eq!(jwt.validate_time(at(2060), lw), Ok(()));
    assert_eq!(jwt.validate_time(at(940), lw), Ok(()));
    let e = jwt.validate_time(at(2061), lw).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the JWT has expired (exp 2000, now 2061, leeway 60s)"
    );
    let e = jwt.validate_time(at(939), lw).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the JWT is not valid yet (nbf 1000, now 939, leeway 60s)"
    );
    let jwt = unsigned(json!({"iat": 1000, "exp": 2000}));
    assert_eq!(
        jwt.validate_time(at(900), Duration::ZERO).unwrap_err(),
        JwtError::IssuedInFuture {
            iat: 1000,
            now: 900,
            leeway: 0
        }
    );
    assert_eq!(
        unsigned(json!({"iat": 1000}))
            .validate_time(at(1000), lw)
            .unwrap_err()
            .to_string(),
        "the JWT has no \"exp\" claim"
    );
    let jwt = unsigned(json!({"exp": "2000"}));
    assert_eq!(jwt.exp(), None);
    assert_eq!(
        jwt.validate_time(at(1000), lw).unwrap_err().to_string(),
        "the JWT claim \"exp\" is not a number of seconds since the epoch"
    );
    // Fractional seconds round down; sess_exp may also be epoch seconds.
    let jwt = unsigned(json!({"exp": 1700000000.9, "iat": 1699996400, "sess_exp": 1700080000}));
    assert_eq!(jwt.exp(), Some(1700000000));
    assert_eq!(jwt.sess_exp(), Some(at(1700080000)));
    assert_eq!(unsigned(json!({"sess_exp": "soon"})).sess_exp(), None);
}
